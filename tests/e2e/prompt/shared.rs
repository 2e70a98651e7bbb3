//! Issue 16, item 3: a terminal shared safely. While a question is shown the program cannot take its answer, and
//! afterwards the program has the terminal as before: a read it was blocked in gets the next line, the terminal's
//! signal keys reach it, and Ctrl-Z stops it as a job (supervise with it).

use super::{prompt_policy, sup};
use crate::support::temp_dir;
use crate::tmux::Tmux;

/// `sh -c "rm a & read -r x; echo got:$x"`: the shell is blocked reading the terminal when the question appears.
/// The `y` answers the question (not the read), and the line typed after the answer goes to the read.
#[test]
fn a_program_reading_the_terminal_neither_takes_the_answer_nor_loses_the_next_line() {
    let dir = temp_dir();
    let root = dir.path();
    std::fs::write(root.join("a"), "").unwrap();
    let policy = prompt_policy(root, "", 30);
    let t = Tmux::start(root, &format!("{} --policy {policy} -- sh -c 'rm a & read -r x; echo got:$x; wait'", sup()));
    t.wait_for("wants unlinkat");
    t.keys("y");
    t.wait_for("allowed once");
    t.keys("hello there");
    t.keys("Enter");
    let screen = t.wait_for("EXIT=0");
    assert!(screen.contains("got:hello there"), "{screen}");
    assert!(!root.join("a").exists(), "the y answered the question");
}

/// The program reads the terminal again and again (a line editor's loop) while questions come: each `y` goes to
/// its question, each line typed between questions to the program.
#[test]
fn questions_and_a_reading_program_take_turns() {
    let dir = temp_dir();
    let root = dir.path();
    for f in ["a", "b"] {
        std::fs::write(root.join(f), "").unwrap();
    }
    let policy = prompt_policy(root, "", 30);
    let script = "read -r one; echo one:$one; rm a; read -r two; echo two:$two; rm b; echo done";
    let t = Tmux::start(root, &format!("{} --policy {policy} -- sh -c '{script}'", sup()));
    t.keys("first");
    t.keys("Enter");
    t.wait_for("/a\", 0)");
    t.keys("y");
    t.wait_for("one:first");
    t.keys("second");
    t.keys("Enter");
    t.wait_for("/b\", 0)");
    t.keys("n");
    let screen = t.wait_for("EXIT=0");
    assert!(screen.contains("two:second") && screen.contains("done"), "{screen}");
    assert!(!root.join("a").exists() && root.join("b").exists());
}

/// With questions possible, the program is a job of its own (its own process group, the terminal's foreground):
/// Ctrl-C reaches it (and not supervise, which exits with its status), and afterwards the terminal is back with
/// the shell that started supervise (a `read` there works, here in a shell without job control of its own).
#[test]
fn ctrl_c_reaches_the_program_and_the_terminal_comes_back_after_it() {
    let dir = temp_dir();
    let root = dir.path();
    let policy = prompt_policy(root, "", 30);
    let check = "import os, time; g = os.getpgrp(); print('own group', g == os.getpid(), 'foreground', \
                 os.tcgetpgrp(0) == g, flush=True); time.sleep(30)";
    std::fs::write(root.join("job.py"), check).unwrap();
    let program = "python3 job.py";
    let t = Tmux::start(
        root,
        &format!("{} --policy {policy} -- {program}; echo status=$?; read -r after; echo after:$after", sup()),
    );
    t.wait_for("own group True foreground True");
    t.keys("C-c");
    t.wait_for("status=130");
    t.keys("back");
    t.keys("Enter");
    t.wait_for("after:back");
}

/// In an interactive shell, Ctrl-Z stops the program and supervise as one job (the shell says so), and `fg`
/// continues both, with the terminal the program's again.
#[test]
fn ctrl_z_stops_the_job_and_fg_continues_it() {
    let dir = temp_dir();
    let root = dir.path();
    let policy = prompt_policy(root, "", 30);
    let counter = "import sys, time\nfor i in range(30):\n    print('count', i, flush=True)\n    time.sleep(0.1)\n\
                   line = sys.stdin.readline()\nprint('read:' + line.strip())\n";
    std::fs::write(root.join("count.py"), counter).unwrap();
    let t = Tmux::start(root, "PS1='$ ' bash --norc --noprofile -i");
    t.wait_for("$ ");
    t.keys(&format!("{} --policy {policy} -- python3 count.py", sup()));
    t.keys("Enter");
    t.wait_for("count 3");
    t.keys("C-z");
    let screen = t.wait_for("Stopped");
    let last = |s: &str| s.lines().filter_map(|l| l.strip_prefix("count ")?.parse::<u32>().ok()).max();
    let stopped_at = last(&screen);
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert_eq!(last(&t.screen()), stopped_at, "the program is stopped too");
    t.keys("fg");
    t.keys("Enter");
    t.wait_for("count 29");
    t.keys("typed");
    t.keys("Enter");
    t.wait_for("read:typed");
}

/// In a pipeline (`supervise … | cat`), the other commands are the terminal's foreground job too: the program
/// stays in their process group (a reader such as `less` would otherwise stop), and questions are still asked.
#[test]
fn in_a_pipeline_the_program_stays_in_the_pipelines_group() {
    let dir = temp_dir();
    let root = dir.path();
    std::fs::write(root.join("a"), "").unwrap();
    let policy = prompt_policy(root, "", 30);
    let check = "import os; g = os.getpgrp(); print('own group', g == os.getpid(), flush=True); os.unlink('a')";
    std::fs::write(root.join("job.py"), check).unwrap();
    let t = Tmux::start(root, "PS1='$ ' bash --norc --noprofile -i");
    t.wait_for("$ ");
    t.keys(&format!("{} --policy {policy} -- python3 job.py | cat; echo status=$?", sup()));
    t.keys("Enter");
    t.wait_for("wants unlink");
    t.keys("y");
    let screen = t.wait_for("status=0");
    assert!(screen.contains("own group False"), "{screen}");
    assert!(!root.join("a").exists());
}
