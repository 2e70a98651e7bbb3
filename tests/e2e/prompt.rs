//! Issue 4: interactive prompts, driven in a real pseudo-terminal with tmux (send-keys, capture-pane).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{run, run_with, supervise, temp_dir, write_policy, TIMEOUT};

/// A tmux session running one shell command; killed on drop.
struct Tmux {
    name: String,
}

impl Tmux {
    fn start(dir: &Path, command: &str) -> Tmux {
        let name = format!("supervise-e2e-{}-{}", std::process::id(), rand_suffix());
        let wrapped = format!("cd {} && {command}; echo EXIT=$?; sleep 600", dir.display());
        let out = run("tmux", &["new-session", "-d", "-s", &name, "-x", "200", "-y", "50", &wrapped]);
        assert_eq!(out.code, Some(0), "tmux: {}", out.stderr);
        Tmux { name }
    }

    fn screen(&self) -> String {
        run("tmux", &["capture-pane", "-p", "-J", "-t", &self.name]).stdout
    }

    /// Waits until the screen contains `text`; returns the screen.
    fn wait_for(&self, text: &str) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(start.elapsed() < Duration::from_secs(15), "{text:?} never appeared; screen:\n{screen}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn keys(&self, keys: &str) {
        run("tmux", &["send-keys", "-t", &self.name, keys]);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["kill-session", "-t", &self.name]).status();
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos().into())
}

fn prompt_policy(dir: &Path, extra_rules: &str, timeout: u32) -> String {
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

fn sup() -> String {
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
    assert!(screen.contains("/usr/bin/rm (rm a)"), "exe and command line: {screen}");
    assert!(
        screen.contains(&format!("unlinkat(AT_FDCWD, \"{}/a\", 0)", root.canonicalize().unwrap().display())),
        "{screen}"
    );
    assert!(screen.contains("[y] allow once") && screen.contains("s left"), "keys and countdown: {screen}");
    t.keys("y");
    let screen = t.wait_for("(rm b)");
    assert!(screen.contains("allowed once"), "{screen}");
    t.keys("n");
    t.wait_for("EXIT=0");
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
    t.wait_for("(rm a)");
    t.keys("a");
    t.wait_for("(rm a2)");
    t.keys("a");
    // The same executable, syscall and path again: answered by the "always" with no new question.
    t.wait_for("a-again=0");
    t.wait_for("(rm b)");
    t.keys("d");
    t.wait_for("(rm c)");
    t.keys("y");
    t.wait_for("EXIT=0");
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
    let screen = t.wait_for("withdrawn");
    assert!(screen.contains("/a\", 0)"), "{screen}");
    t.wait_for("no answer in time");
    t.wait_for("(rm c)");
    t.keys("C-c");
    t.wait_for("EXIT=0");
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
