//! Issue 4: interactive prompts, driven in a real pseudo-terminal with tmux (send-keys, capture-pane). Issue 16:
//! only the person answers ([`trust`]), a terminal shared with the program ([`shared`]), a stable screen
//! ([`screen`]), scopes and durations of "always" answers ([`scopes`]).

mod network;
mod scopes;
mod screen;
mod shared;
mod trust;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{run_with, supervise, temp_dir, write_policy, TIMEOUT};
use crate::tmux::{Stopped, Tmux};

pub(crate) fn prompt_policy(dir: &Path, extra_rules: &str, timeout: u32) -> String {
    let policy = format!(
        r#"{{ "defaultAction": "SCMP_ACT_ALLOW",
  "syscalls": [
    {extra_rules}
    {{ "names": ["unlink", "unlinkat"], "action": "SCMP_ACT_NOTIFY",
       "supervise": {{ "decision": "prompt", "timeout": {timeout}, "onTimeout": "deny", "errnoRet": "EACCES" }} }}
  ] }}"#
    );
    write_policy(dir, "prompt.json", &policy).display().to_string()
}

pub(crate) fn sup() -> String {
    supervise().display().to_string()
}

#[test]
fn the_question_names_the_call_and_y_allows_n_denies() {
    let dir = temp_dir();
    let root = dir.path();
    std::fs::write(root.join("a"), "").unwrap();
    std::fs::write(root.join("b"), "").unwrap();
    let policy = prompt_policy(root, "", 30);
    let t = Tmux::start(root, &format!("stty -g > stty.before; {} --policy {policy} -- sh -c 'rm a; rm b; echo app-done' > out.txt 2>&1; stty -g > stty.after", sup()));
    let screen = t.wait_for("wants unlinkat");
    assert!(screen.contains("/usr/bin/rm\n  rm a\n"), "exe and command line: {screen}");
    assert!(
        screen.contains(&format!("unlinkat(AT_FDCWD, \"{}/a\", 0)", root.canonicalize().unwrap().display())),
        "{screen}"
    );
    assert!(screen.contains("[y] allow once") && screen.contains("(30 s): deny"), "keys and deadline: {screen}");
    t.keys("y");
    t.wait_for("  rm b\n");
    t.keys("n");
    let screen = t.wait_for("EXIT=0");
    assert!(screen.contains("allowed once: pid") && screen.contains("denied once: pid"), "the notes stay: {screen}");
    let out = std::fs::read_to_string(root.join("out.txt")).unwrap();
    assert!(out.contains("app-done") && out.contains("Permission denied"), "{out}");
    assert!(!out.contains("wants unlinkat"), "the question never goes to the program's output");
    assert!(!root.join("a").exists() && root.join("b").exists());
    let before = std::fs::read_to_string(root.join("stty.before")).unwrap();
    assert_eq!(before, std::fs::read_to_string(root.join("stty.after")).unwrap(), "terminal settings restored");
}

#[test]
fn a_pending_question_never_delays_other_notifications() {
    let dir = temp_dir();
    let root = dir.path();
    std::fs::write(root.join("a"), "").unwrap();
    let extra =
        r#"{ "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY", "supervise": { "decision": "allow" } },"#;
    let policy = prompt_policy(root, extra, 30);
    let timer = "import os, time\nfor i in range(20):\n    t = time.monotonic(); os.mkdir('d%d' % i); print(int((time.monotonic() - t) * 1e6))";
    std::fs::write(root.join("timer.py"), timer).unwrap();
    let command = format!(
        "{} --policy {policy} -- sh -c 'rm a & sleep 1; python3 timer.py > times.txt; echo timed; wait' > out.txt 2>&1",
        sup()
    );
    let t = Tmux::start(root, &command);
    t.wait_for("wants unlinkat");
    let start = Instant::now();
    while !std::fs::read_to_string(root.join("out.txt")).unwrap_or_default().contains("timed") {
        assert!(start.elapsed() < Duration::from_secs(10), "mkdir waited behind the question");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(t.screen().contains("wants unlinkat"), "the question is still pending");
    let times: Vec<u64> =
        std::fs::read_to_string(root.join("times.txt")).unwrap().lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(times.len(), 20);
    assert!(times.iter().all(|&us| us < 100_000), "each notified mkdir completes within 100 ms: {times:?}");
    t.keys("y");
    t.wait_for("EXIT=0");
}

#[test]
fn identical_questions_merge_and_others_queue() {
    let dir = temp_dir();
    let root = dir.path();
    for f in ["x", "y"] {
        std::fs::write(root.join(f), "").unwrap();
    }
    let policy = prompt_policy(root, "", 30);
    // Two identical `rm x` and one `rm y`: one question for x (merged), one queued for y.
    let t = Tmux::start(
        root,
        &format!("{} --policy {policy} -- sh -c 'rm -f x & rm -f x & sleep 0.5; rm y & wait' > out.txt 2>&1", sup()),
    );
    let screen = t.wait_for("1 more waiting");
    assert!(screen.contains("/x\", 0)"), "the merged question comes first: {screen}");
    t.keys("y");
    let screen = t.wait_for("/y\", 0)");
    assert!(!screen.contains("more waiting"), "the second rm x was answered by the same key: {screen}");
    t.keys("n");
    t.wait_for("EXIT=0");
    assert!(!root.join("x").exists() && root.join("y").exists());
}

#[test]
fn always_answers_are_remembered_and_saved() {
    let dir = temp_dir();
    let root = dir.path();
    for f in ["a", "a2", "b", "c"] {
        std::fs::write(root.join(f), "").unwrap();
    }
    let policy = prompt_policy(root, "", 30);
    let saved = root.join("saved.json");
    let t = Tmux::start(
        root,
        &format!(
            "{} --policy {policy} --save-decisions {} -- sh -c 'rm a; rm a2; touch a; rm a; echo a-again=$?; rm b; rm c'",
            sup(),
            saved.display()
        ),
    );
    // `a` or `d`, then `Enter`: this exact path, always (saved).
    let always = |key: &str| {
        t.keys(key);
        t.wait_for("for what?");
        t.keys("Enter");
    };
    t.wait_for("/a\", 0)");
    always("a");
    t.wait_for("/a2\", 0)");
    always("a");
    t.wait_for("/b\", 0)");
    always("d");
    t.wait_for("/c\", 0)");
    t.keys("y");
    let screen = t.wait_for("EXIT=0");
    // The same executable, syscall and path again: answered by the "always" with no new question.
    assert!(screen.contains("a-again=0") && screen.matches("/a\", 0)").count() == 1, "{screen}");
    assert!(!root.join("a").exists() && root.join("b").exists() && !root.join("c").exists());
    // The saved file reuses the answers: a new `b` is denied without a question (and without a terminal).
    std::fs::write(root.join("a"), "").unwrap();
    let mut cmd = Command::new(supervise());
    cmd.current_dir(root).args(["--policy", saved.to_str().unwrap(), "--", "rm", "b"]);
    let out = run_with(cmd, b"", TIMEOUT);
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains("Permission denied"), "{}", out.stderr);
    assert!(root.join("b").exists());
}

#[test]
fn withdrawn_timed_out_and_ctrl_c() {
    let dir = temp_dir();
    let root = dir.path();
    for f in ["a", "b", "c"] {
        std::fs::write(root.join(f), "").unwrap();
    }
    let policy = prompt_policy(root, "", 2);
    // The first rm is killed while its question waits; the second times out (deny); the third gets Ctrl-C.
    let script = "rm a & p=$!; sleep 0.7; kill -9 $p; wait $p; rm b; echo b=$?; rm c; echo c=$?";
    let t = Tmux::start(
        root,
        &format!(
            "stty -g > stty.before; {} --policy {policy} -- sh -c '{script}' > out.txt 2>&1; stty -g > stty.after",
            sup()
        ),
    );
    // Notes are written on the program's screen, between questions: read them at the end.
    t.wait_for("/b\", 0)");
    t.wait_for("/c\", 0)");
    t.keys("C-c");
    let screen = t.wait_for("EXIT=0");
    let note =
        |what: &str, file: &str| screen.lines().any(|l| l.contains(what) && l.contains(&format!("/{file}\", 0)")));
    assert!(note("withdrawn", "a") && note("no answer in time, denied", "b"), "{screen}");
    assert!(screen.contains("Ctrl-C: denied this and every queued question"), "{screen}");
    let out = std::fs::read_to_string(root.join("out.txt")).unwrap();
    assert!(out.contains("b=1") && out.contains("c=1"), "{out}");
    assert!(root.join("a").exists() && root.join("b").exists() && root.join("c").exists());
    let before = std::fs::read_to_string(root.join("stty.before")).unwrap();
    assert_eq!(before, std::fs::read_to_string(root.join("stty.after")).unwrap(), "terminal settings restored");
}

#[test]
fn without_a_terminal_on_timeout_applies_at_once_with_a_warning() {
    let dir = temp_dir();
    let root = dir.path();
    std::fs::write(root.join("a"), "").unwrap();
    let policy = prompt_policy(root, "", 30);
    let mut cmd = Command::new("setsid");
    cmd.current_dir(root).args([sup().as_str(), "--policy", &policy, "--", "rm", "a"]);
    let start = Instant::now();
    let out = run_with(cmd, b"", TIMEOUT);
    assert!(start.elapsed() < Duration::from_secs(5), "no 30 s wait without a terminal");
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains("no terminal"), "warning in the log: {}", out.stderr);
    assert!(root.join("a").exists());
}

#[test]
fn y_lets_mkdir_succeed_and_n_fails_it_with_the_rules_errno() {
    let dir = temp_dir();
    let extra = r#"{ "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY",
       "supervise": { "decision": "prompt", "errnoRet": "EROFS" } },"#;
    let policy = prompt_policy(dir.path(), extra, 30);
    let t = Tmux::start(dir.path(), &format!("{} --policy {policy} -- sh -c 'mkdir yes; mkdir no' 2> err.txt", sup()));
    t.wait_for("wants mkdir");
    t.keys("y");
    t.wait_for("/no\"");
    t.keys("n");
    t.wait_for("EXIT=1");
    assert!(dir.path().join("yes").is_dir() && !dir.path().join("no").exists());
    let err = std::fs::read_to_string(dir.path().join("err.txt")).unwrap();
    assert!(err.contains("Read-only file system"), "the rule's errno: {err}");
}

#[test]
fn every_shipped_prompt_policy_asks() {
    for (name, command, expect) in [
        ("prompt-delete.json", "rm victim", "wants unlinkat"),
        ("prompt-write.json", "mkdir newdir", "wants mkdir"),
        (
            "prompt-connect.json",
            "python3 -c 'import socket; socket.socket(socket.AF_UNIX).connect(\"/nonexistent\")'",
            "wants connect",
        ),
    ] {
        let dir = temp_dir();
        std::fs::write(dir.path().join("victim"), "").unwrap();
        let policy = crate::support::policy_file(name);
        let t = Tmux::start(dir.path(), &format!("{} --policy {} -- {command}", sup(), policy.display()));
        t.wait_for(expect);
        t.keys("n");
        t.wait_for("EXIT=");
        assert!(dir.path().join("victim").exists(), "{name}");
        assert!(!dir.path().join("newdir").exists(), "{name}");
    }
}

#[test]
fn a_stopped_terminal_holds_up_neither_notifications_nor_the_exit() {
    let dir = temp_dir();
    let root = dir.path();
    std::fs::write(root.join("a"), "").unwrap();
    let extra =
        r#"{ "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY", "supervise": { "decision": "allow" } },"#;
    let policy = prompt_policy(root, extra, 2);
    let timer = "import os, time\nfor i in range(200):\n    t = time.monotonic(); os.mkdir('d%d' % i); print(int((time.monotonic() - t) * 1e6))";
    std::fs::write(root.join("timer.py"), timer).unwrap();
    // supervise logs every notification (info) to the terminal, and asks about `rm a` there; the program's own
    // output goes to files. The terminal's output is stopped before supervise starts.
    let script = "rm a 2> rm.err & sleep 0.5; python3 timer.py > times.txt; echo timed > timed.txt; wait";
    let command = format!(
        "while [ ! -e go ]; do sleep 0.02; done; {} --log-level info --policy {policy} -- sh -c '{script}' < /dev/null; \
         echo $? > status.txt",
        sup()
    );
    let t = Tmux::start(root, &command);
    let stopped = Stopped::output_of(&t);
    std::fs::write(root.join("go"), "").unwrap();
    let start = Instant::now();
    while !root.join("timed.txt").exists() {
        assert!(start.elapsed() < Duration::from_secs(20), "notified mkdirs are held up by the stopped terminal");
        std::thread::sleep(Duration::from_millis(50));
    }
    let times: Vec<u64> =
        std::fs::read_to_string(root.join("times.txt")).unwrap().lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(times.len(), 200);
    assert!(times.iter().all(|&us| us < 500_000), "each notified mkdir completes within 500 ms: {times:?}");
    // The question cannot be shown: its timeout (2 s) applies, then supervise exits without waiting for the
    // terminal.
    let timed = Instant::now();
    while !root.join("status.txt").exists() {
        assert!(timed.elapsed() < Duration::from_secs(8), "supervise does not exit while the terminal is stopped");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(std::fs::read_to_string(root.join("status.txt")).unwrap().trim(), "0");
    assert!(root.join("a").exists(), "onTimeout (deny) applied to the unanswered question");
    drop(stopped);
    t.wait_for("EXIT=0");
}

/// The answer is carried out on what the question showed: a thread of the program that rewrites the path after
/// the question appeared (from `a` to `b`) cannot turn a "y" for `a` into the deletion of `b`.
#[test]
fn an_allowed_answer_acts_on_the_path_shown_not_on_rewritten_memory() {
    let dir = temp_dir();
    let root = dir.path();
    std::fs::write(root.join("a"), "").unwrap();
    std::fs::write(root.join("b"), "keep").unwrap();
    let policy = prompt_policy(root, "", 30);
    let racer = r#"
import ctypes, os, threading, time
libc = ctypes.CDLL(None, use_errno=True)
path = ctypes.create_string_buffer(b"a")
def swap():
    time.sleep(1.0)
    path.value = b"b"
threading.Thread(target=swap, daemon=True).start()
rc = libc.unlink(path)
print("unlink", rc, ctypes.get_errno())
"#;
    std::fs::write(root.join("racer.py"), racer).unwrap();
    let t = Tmux::start(root, &format!("{} --policy {policy} -- python3 racer.py > out.txt 2>&1", sup()));
    let screen = t.wait_for("wants unlink");
    let shown = format!("\"{}/a\"", root.canonicalize().unwrap().display());
    assert!(screen.contains(&shown), "the question names a: {screen}");
    std::thread::sleep(Duration::from_millis(1500));
    t.keys("y");
    t.wait_for("EXIT=");
    let out = std::fs::read_to_string(root.join("out.txt")).unwrap();
    assert!(out.contains("unlink 0 0"), "{out}");
    assert!(!root.join("a").exists(), "the file shown was deleted");
    assert_eq!(std::fs::read_to_string(root.join("b")).unwrap(), "keep", "the rewritten path was not acted on");
}
