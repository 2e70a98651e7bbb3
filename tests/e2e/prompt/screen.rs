//! Issue 16, item 1: a screen that stays correct. The question is drawn once, fitted to the width, alone on the
//! screen; after the answer it is gone and the program's output, written meanwhile, follows in full and in order.

use std::time::Duration;

use super::{prompt_policy, sup};
use crate::support::temp_dir;
use crate::tmux::Tmux;

/// At 40, 80 and 200 columns, a program writes a line every 100 ms while it asks about a file with a long path:
/// the question is drawn once, no line of it is wider than the terminal, and afterwards every line the program
/// wrote is there once, in order, with the one note of the answer and nothing left of the question.
#[test]
fn output_written_during_a_question_is_neither_lost_nor_overwritten_at_40_80_and_200_columns() {
    for width in [40u16, 80, 200] {
        let dir = temp_dir();
        let root = dir.path();
        let deep = root.join("a-rather-long-directory-name-to-overflow-narrow-terminals");
        std::fs::create_dir(&deep).unwrap();
        std::fs::write(deep.join("target-file"), "").unwrap();
        let writer = r#"
import ctypes, os, sys, threading, time
def tick():
    for i in range(30):
        print("tick %02d" % i, flush=True)
        time.sleep(0.1)
t = threading.Thread(target=tick)
t.start()
time.sleep(0.35)
libc = ctypes.CDLL(None, use_errno=True)
rc = libc.unlink(sys.argv[1].encode())
t.join()
print("unlink", rc, "done")
"#;
        std::fs::write(root.join("writer.py"), writer).unwrap();
        let policy = prompt_policy(root, "", 30);
        let path = deep.join("target-file");
        let t = Tmux::start_sized(
            root,
            &format!("{} --policy {policy} -- python3 writer.py {}", sup(), path.display()),
            width,
            30,
        );
        let screen = t.wait_for("no answer by");
        // Lines as drawn (not joined): none reaches the last column, so none wrapped.
        let raw = t.tmux(&["capture-pane", "-p", "-t", &t.name]).stdout;
        for line in raw.lines() {
            assert!(line.chars().count() < usize::from(width), "{width} columns: {line:?} in\n{raw}");
        }
        assert_eq!(screen.matches("supervise asks").count(), 1, "drawn once: {screen}");
        assert!(!screen.contains("tick"), "the question is alone on the screen: {screen}");
        let joined: String = screen.lines().map(str::trim_start).collect();
        assert!(joined.contains("/target-file\")"), "the end of the path is shown: {screen}");
        std::thread::sleep(Duration::from_millis(1200));
        let later = t.screen();
        assert_eq!(later, screen, "{width} columns: nothing moved while the question was shown");
        t.keys("y");
        t.wait_for("unlink 0 done");
        t.wait_for("EXIT=0");
        let history = t.history();
        let ticks: Vec<&str> = history.lines().filter(|l| l.starts_with("tick ")).collect();
        let expected: Vec<String> = (0..30).map(|i| format!("tick {i:02}")).collect();
        assert_eq!(ticks, expected, "{width} columns: every line once, in order:\n{history}");
        assert_eq!(history.matches("allowed once").count(), 1, "{history}");
        assert!(!history.contains("supervise asks") && !history.contains("no answer by"), "erased: {history}");
        assert!(!path.exists());
    }
}

/// The terminal gets narrower while a question is shown (120 → 40 columns): the question is drawn again for the
/// new width, once, with no line of the old drawing left.
#[test]
fn the_question_is_drawn_again_for_a_new_terminal_size() {
    let dir = temp_dir();
    let root = dir.path();
    std::fs::write(root.join("a"), "").unwrap();
    let policy = prompt_policy(root, "", 30);
    let t = Tmux::start_sized(root, &format!("{} --policy {policy} -- rm a", sup()), 120, 30);
    let screen = t.wait_for("no answer by");
    assert!(screen.contains("[y] allow once"), "the wide keys at 120 columns: {screen}");
    let out = t.tmux(&["resize-window", "-t", &t.name, "-x", "40", "-y", "30"]);
    assert_eq!(out.code, Some(0), "tmux resize-window: {}", out.stderr);
    let screen = t.wait_for("y/n: once");
    let raw = t.tmux(&["capture-pane", "-p", "-t", &t.name]).stdout;
    assert!(raw.lines().all(|l| l.chars().count() < 40), "fitted to 40 columns:\n{raw}");
    assert_eq!(screen.matches("supervise asks").count(), 1, "drawn once: {screen}");
    assert!(!screen.contains("[y] allow once"), "nothing left of the wide drawing: {screen}");
    t.keys("n");
    t.wait_for("EXIT=1");
    assert!(root.join("a").exists());
}
