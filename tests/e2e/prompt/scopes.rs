//! Issue 16, item 2: scopes and durations. `a` (or `d`) opens a second step; a scope key ends it: `Enter` this path,
//! `u` this directory and below, `s` any path; `m`, `x`, `f`, `o` and `.` before it change the duration and the
//! directory. One answer for a directory covers `mkdir -p` and `rm -r`, a timed answer expires, and saved answers are
//! the scope's exact globs with a comment that says the same.

use std::process::Command;

use super::{prompt_policy, sup};
use crate::support::{run_with, supervise, temp_dir, TIMEOUT};
use crate::tmux::Tmux;

const MKDIR: &str = r#"{ "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY",
    "supervise": { "decision": "prompt", "timeout": 30, "onTimeout": "deny", "errnoRet": "EACCES" } },"#;
const RMDIR: &str = r#"{ "names": ["rmdir"], "action": "SCMP_ACT_NOTIFY",
    "supervise": { "decision": "prompt", "timeout": 30, "onTimeout": "deny", "errnoRet": "EACCES" } },"#;

/// Sends `a`, waits for the second step, then sends each of `keys` (waiting for the screen to show `after` the
/// key, when given): one key per read, as a person types.
fn always(t: &Tmux, first: &str, keys: &[(&str, Option<&str>)]) {
    t.keys(first);
    t.wait_for("for what?");
    for (key, after) in keys {
        t.keys(key);
        if let Some(after) = after {
            t.wait_for(after);
        }
    }
}

/// The notes supervise left on the program's screen.
fn notes(t: &Tmux) -> Vec<String> {
    t.history().lines().filter(|l| l.starts_with("supervise: ")).map(str::to_string).collect()
}

#[test]
fn mkdir_p_with_one_answer_for_the_directory_asks_nothing_more() {
    let dir = temp_dir();
    let root = dir.path();
    let real = root.canonicalize().unwrap().display().to_string();
    let policy = prompt_policy(root, MKDIR, 30);
    let t = Tmux::start(root, &format!("{} --policy {policy} -- sh -c 'mkdir -p x1/x2/x3; echo made=$?'", sup()));
    let screen = t.wait_for("wants mkdir");
    assert!(screen.contains(&format!("{real}/x1\"")), "{screen}");
    t.keys("a");
    let screen = t.wait_for("for what?");
    assert!(screen.contains("[Enter/a] this path (default)"), "the default scope is shown: {screen}");
    assert!(screen.contains(&format!("[u] under {real}/ and below")), "{screen}");
    assert!(screen.contains("until exit"), "{screen}");
    t.keys("u");
    let screen = t.wait_for("EXIT=0");
    assert!(screen.contains("made=0"), "{screen}");
    assert!(root.join("x1/x2/x3").is_dir());
    let notes = notes(&t);
    assert_eq!(notes.len(), 1, "one question for the three mkdirs: {notes:#?}");
    assert!(notes[0].contains(&format!("allowed under {real}/, until the program exits: pid")), "{notes:#?}");
}

#[test]
fn rm_r_with_one_answer_for_the_directory_asks_nothing_more() {
    let dir = temp_dir();
    let root = dir.path();
    let real = root.canonicalize().unwrap().display().to_string();
    std::fs::create_dir_all(root.join("build/sub")).unwrap();
    for f in ["build/f1", "build/f2", "build/f3", "build/f4", "build/f5", "build/sub/g", "other"] {
        std::fs::write(root.join(f), "").unwrap();
    }
    let policy = prompt_policy(root, RMDIR, 30);
    let t = Tmux::start(root, &format!("{} --policy {policy} -- sh -c 'rm -r build; echo rm=$?; rm other'", sup()));
    let screen = t.wait_for("wants unlinkat");
    assert!(screen.contains(&format!("{real}/build/")), "{screen}");
    // The first file may be in build/ or in build/sub/: `.` moves the directory up to build/ if needed.
    if screen.contains("/build/sub/") {
        always(&t, "a", &[(".", Some(&format!("[u] under {real}/build/ and below"))), ("u", None)]);
    } else {
        always(&t, "a", &[("u", None)]);
    }
    // Outside build/: asked again.
    t.wait_for(&format!("{real}/other\", 0)"));
    t.keys("n");
    let screen = t.wait_for("EXIT=");
    assert!(screen.contains("rm=0"), "{screen}");
    assert!(!root.join("build").exists(), "every file, the subdirectory and build/ itself");
    assert!(root.join("other").exists());
    let notes = notes(&t);
    assert_eq!(notes.len(), 2, "one answer for build/, one for other: {notes:#?}");
    assert!(notes[0].contains(&format!("allowed under {real}/build/, until the program exits")), "{notes:#?}");
    assert!(notes[1].contains("denied once"), "{notes:#?}");
}

/// `m` answers for 10 minutes; `SUPERVISE_TIMED_ANSWER=2` (seconds, for tests) makes that 2 seconds.
#[test]
fn a_timed_answer_expires() {
    let dir = temp_dir();
    let root = dir.path();
    let real = root.canonicalize().unwrap().display().to_string();
    for f in ["a", "b", "c"] {
        std::fs::write(root.join(f), "").unwrap();
    }
    let policy = prompt_policy(root, "", 30);
    let t = Tmux::start(
        root,
        &format!("SUPERVISE_TIMED_ANSWER=2 {} --policy {policy} -- sh -c 'rm a; rm b; sleep 3; rm c'", sup()),
    );
    t.wait_for("/a\", 0)");
    always(&t, "a", &[("m", Some("allow unlinkat, for 2 s, for what?")), ("u", None)]);
    // b within 2 s: no question; c after 3 s: asked again.
    t.wait_for("/c\", 0)");
    assert!(!root.join("b").exists(), "b was covered while the answer lasted");
    t.keys("n");
    t.wait_for("EXIT=");
    assert!(!root.join("a").exists() && root.join("c").exists());
    let notes = notes(&t);
    assert_eq!(notes.len(), 2, "{notes:#?}");
    assert!(notes[0].contains(&format!("allowed under {real}/, for 2 s: pid")), "{notes:#?}");
}

/// With `--save-decisions`, `f` (the default there) writes a rule whose `paths` are exactly the scope (the path
/// with glob characters escaped, the directory and `/**` below it, none for any path) and whose comment says so; a
/// run under the saved file answers the same without a terminal.
#[test]
fn saved_scopes_are_exact_globs_and_their_comments_match() {
    let dir = temp_dir();
    let root = dir.path();
    let real = root.canonicalize().unwrap().display().to_string();
    for d in ["d1", "e", "f/g", "f/h"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    for f in ["d1/x", "d1/y", "e/we[i]rd*", "e/weird", "e/other"] {
        std::fs::write(root.join(f), "").unwrap();
    }
    let policy = prompt_policy(root, RMDIR, 30);
    let saved = root.join("saved.json");
    let t = Tmux::start(
        root,
        &format!(
            "{} --policy {policy} --save-decisions {} -- sh -c 'rm d1/x; rm \"e/we[i]rd*\"; rmdir f/g'",
            sup(),
            saved.display()
        ),
    );
    t.wait_for("/d1/x\", 0)");
    always(&t, "a", &[("u", None)]);
    t.wait_for("/e/we[i]rd*\", 0)");
    t.keys("a");
    let screen = t.wait_for("for what?");
    assert!(screen.contains("allow unlinkat, always (saved), for what?"), "saved is the default: {screen}");
    t.keys("Enter");
    t.wait_for("wants rmdir");
    always(&t, "d", &[("s", None)]);
    t.wait_for("EXIT=");
    let text = std::fs::read_to_string(&saved).unwrap();
    let profile: serde_json::Value = serde_json::from_str(&text).unwrap();
    let rules = profile["syscalls"].as_array().unwrap();
    // Newest first.
    let (any, exact, under) = (&rules[0], &rules[1], &rules[2]);
    assert_eq!(under["supervise"]["paths"], serde_json::json!([format!("{real}/d1"), format!("{real}/d1/**")]));
    assert_eq!(
        under["comment"],
        format!(
            "saved answer: always allow unlinkat by /usr/bin/rm under {real}/d1/ (the directory and everything below \
             it)"
        )
    );
    assert_eq!(exact["supervise"]["paths"], serde_json::json!([format!("{real}/e/we\\[i\\]rd\\*")]));
    assert_eq!(
        exact["comment"],
        format!("saved answer: always allow unlinkat by /usr/bin/rm on {real}/e/we[i]rd* only")
    );
    assert!(any["supervise"].get("paths").is_none(), "{any}");
    assert_eq!(any["supervise"]["decision"], "deny");
    assert_eq!(any["comment"], "saved answer: always deny rmdir by /usr/bin/rmdir on any path");
    assert!(!root.join("d1/x").exists() && !root.join("e/we[i]rd*").exists() && root.join("f/g").exists());
    // Reused without a terminal (where the prompt rules would deny at once): allowed under d1/, the exact file
    // only, rmdir denied anywhere.
    for (args, ok) in [
        (&["rm", "d1/y"][..], true),
        (&["rm", "e/weird"][..], false),
        (&["rm", "e/other"][..], false),
        (&["rmdir", "f/h"][..], false),
    ] {
        let mut cmd = Command::new("setsid");
        cmd.current_dir(root).arg(supervise()).args(["--policy", saved.to_str().unwrap(), "--"]).args(args);
        let out = run_with(cmd, b"", TIMEOUT);
        assert_eq!(out.code == Some(0), ok, "{args:?}: {}", out.stderr);
    }
    assert!(!root.join("d1/y").exists() && root.join("e/weird").exists() && root.join("f/h").exists());
}

/// The same syscall by the same executable under one directory, arriving together: the question counts them, and
/// one answer for the directory settles them all.
#[test]
fn questions_alike_arriving_together_are_counted_and_answered_at_once() {
    let dir = temp_dir();
    let root = dir.path();
    let real = root.canonicalize().unwrap().display().to_string();
    std::fs::create_dir_all(root.join("g")).unwrap();
    std::fs::create_dir_all(root.join("k")).unwrap();
    for f in ["g/a", "g/b", "g/c", "k/h"] {
        std::fs::write(root.join(f), "").unwrap();
    }
    let policy = prompt_policy(root, "", 30);
    let t = Tmux::start(
        root,
        &format!("{} --policy {policy} -- sh -c 'rm g/a & rm g/b & rm g/c & sleep 0.5; rm k/h & wait'", sup()),
    );
    let screen = t.wait_for("3 more waiting");
    assert!(screen.contains(&format!("2 more like this: unlinkat under {real}/g/")), "{screen}");
    // k/h waits too, but is not alike.
    always(&t, "a", &[("o", Some("allow unlinkat, once, for what?")), ("u", None)]);
    t.wait_for(&format!("{real}/k/h\", 0)"));
    t.keys("n");
    t.wait_for("EXIT=");
    assert!(!root.join("g/a").exists() && !root.join("g/b").exists() && !root.join("g/c").exists());
    assert!(root.join("k/h").exists());
    let notes = notes(&t);
    assert_eq!(notes.len(), 2, "{notes:#?}");
    assert!(notes[0].contains(&format!("allowed under {real}/g/, once")), "{notes:#?}");
}
