//! Issue 3: the vertical slice — Docker/OCI profiles enforced in the kernel, decisions in the supervisor, the
//! clock-set emulation, exit statuses and error messages, as the contract writes them.

use std::path::Path;
use std::process::Command;

use crate::support::{
    as_nobody, assert_own_failure, fixture, now, policy_file, run, run_with, sup, sup_without_sys_time, supervise,
    temp_dir, write_policy, TIMEOUT,
};

/// A policy with one rule on `mkdir`/`mkdirat` and everything else allowed.
fn mkdir_rule(action: &str, extra: &str) -> String {
    format!(
        r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{{"names":["mkdir","mkdirat"],"action":"{action}"{extra}}}]}}"#
    )
}

/// Runs `mkdir DIR/d` under `policy`; returns (status, stderr, whether the directory exists).
fn mkdir_under(policy: &str) -> (Option<i32>, String, bool) {
    let dir = temp_dir();
    let p = write_policy(dir.path(), "p.json", policy);
    let target = dir.path().join("d");
    let out = sup(&["--policy", p.to_str().unwrap(), "--", "mkdir", target.to_str().unwrap()]);
    (out.code, out.stderr, target.exists())
}

#[test]
fn every_kernel_action_does_what_docker_says() {
    let cases: &[(&str, &str, Option<i32>, &str, bool)] = &[
        ("SCMP_ACT_ALLOW", "", Some(0), "", true),
        ("SCMP_ACT_LOG", "", Some(0), "", true),
        ("SCMP_ACT_ERRNO", "", Some(1), "Operation not permitted", false),
        ("SCMP_ACT_ERRNO", r#","errnoRet":13"#, Some(1), "Permission denied", false),
        ("SCMP_ACT_ERRNO", r#","errnoRet":"EACCES""#, Some(1), "Permission denied", false),
        ("SCMP_ACT_KILL", "", Some(159), "", false),
        ("SCMP_ACT_KILL_THREAD", "", Some(159), "", false),
        ("SCMP_ACT_KILL_PROCESS", "", Some(159), "", false),
        ("SCMP_ACT_TRAP", "", Some(159), "", false),
        ("SCMP_ACT_TRACE", "", Some(1), "Function not implemented", false),
    ];
    for (action, extra, code, message, created) in cases {
        let (got, stderr, exists) = mkdir_under(&mkdir_rule(action, extra));
        assert_eq!((got, exists), (*code, *created), "{action}{extra}: {stderr}");
        assert!(stderr.contains(message), "{action}{extra}: {stderr}");
    }
}

#[test]
fn notify_decisions_allow_deny_and_the_default() {
    let notify = |supervise: &str| mkdir_rule("SCMP_ACT_NOTIFY", supervise);
    let cases: &[(String, Option<i32>, &str, bool)] = &[
        (notify(r#","supervise":{"decision":"allow"}"#), Some(0), "", true),
        (notify(r#","supervise":{"decision":"deny"}"#), Some(1), "Operation not permitted", false),
        (notify(r#","supervise":{"decision":"deny","errnoRet":13}"#), Some(1), "Permission denied", false),
        (notify(r#","supervise":{"decision":"deny","errnoRet":"EROFS"}"#), Some(1), "Read-only file system", false),
        (notify(""), Some(1), "Operation not permitted", false),
    ];
    for (policy, code, message, created) in cases {
        let (got, stderr, exists) = mkdir_under(policy);
        assert_eq!((got, exists), (*code, *created), "{policy}: {stderr}");
        assert!(stderr.contains(message), "{policy}: {stderr}");
    }
}

#[test]
fn a_chmod_blacklist_leaves_the_mode_unchanged() {
    let dir = temp_dir();
    let file = dir.path().join("f");
    std::fs::write(&file, "x").unwrap();
    use std::os::unix::fs::PermissionsExt;
    let before = std::fs::metadata(&file).unwrap().permissions().mode();
    let policy = write_policy(
        dir.path(),
        "p.json",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["chmod","fchmodat","fchmodat2"],"action":"SCMP_ACT_ERRNO"}]}"#,
    );
    let out = sup(&["--policy", policy.to_str().unwrap(), "--", "chmod", "400", file.to_str().unwrap()]);
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains("Operation not permitted"), "{}", out.stderr);
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode(), before);
}

#[test]
fn old_formats_aliases_and_minimal_profiles_load() {
    let (code, stderr, created) = mkdir_under(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"mkdir","action":"SCMP_ACT_ERRNO"},{"name":"mkdirat","action":"SCMP_ACT_ERRNO"}]}"#,
    );
    assert_eq!((code, created), (Some(1), false), "old singular name: {stderr}");
    let (code, _, created) = mkdir_under(r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["amd64"]}"#);
    assert_eq!((code, created), (Some(0), true), "amd64 alias");
    let (code, _, created) = mkdir_under(r#"{"defaultAction":"SCMP_ACT_LOG"}"#);
    assert_eq!((code, created), (Some(0), true), "a profile with only SCMP_ACT_LOG runs the program");
}

#[test]
fn a_policy_that_blocks_execve_is_126_with_a_clear_message() {
    let dir = temp_dir();
    let marker = dir.path().join("started");
    for policy in [
        r#"{"defaultAction":"SCMP_ACT_ERRNO"}"#,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["execve"],"action":"SCMP_ACT_KILL"}]}"#,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["execve"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"deny"}}]}"#,
    ] {
        let p = write_policy(dir.path(), "p.json", policy);
        let out = sup(&["--policy", p.to_str().unwrap(), "--", "touch", marker.to_str().unwrap()]);
        assert_own_failure(&out, 126);
        assert!(out.stderr.contains("execve"), "{policy}: {}", out.stderr);
        assert!(!marker.exists(), "{policy}: the program never ran");
    }
    // Blocked only for some arguments: the kernel decides, and the failure is still reported as 126.
    let p = write_policy(
        dir.path(),
        "p.json",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["execve"],"action":"SCMP_ACT_ERRNO","errnoRet":13,"args":[{"index":1,"value":0,"op":"SCMP_CMP_NE"}]}]}"#,
    );
    let out = sup(&["--policy", p.to_str().unwrap(), "--", "touch", marker.to_str().unwrap()]);
    assert_own_failure(&out, 126);
    assert!(out.stderr.contains("Permission denied"), "{}", out.stderr);
}

#[test]
fn exit_statuses_pass_through() {
    assert_eq!(sup(&["--", "sh", "-c", "exit 7"]).code, Some(7));
    assert_eq!(sup(&["--", "sh", "-c", "kill -TERM $$"]).code, Some(143));
    let out = sup(&["--", "no-such-program-anywhere"]);
    assert_own_failure(&out, 127);
    assert!(out.stderr.contains("no-such-program-anywhere"), "{}", out.stderr);
    let dir = temp_dir();
    let script = dir.path().join("not-executable");
    std::fs::write(&script, "#!/bin/sh\n").unwrap();
    assert_own_failure(&sup(&["--", script.to_str().unwrap()]), 126);
    assert_own_failure(&sup(&["--", dir.path().to_str().unwrap()]), 126);
}

#[test]
fn bad_policies_are_one_clear_line_and_start_nothing() {
    let dir = temp_dir();
    let marker = dir.path().join("started");
    let cases: &[(&str, &str)] = &[
        ("{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n  \"syscalls\": [}\n", "p.json:3:"),
        (
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_FOO"}]}"#,
            "SCMP_ACT_FOO",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":"EFOO"}]}"#,
            "EFOO",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"deny","errnoRet":4096}}]}"#,
            "4096",
        ),
        (r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"]}]}"#, "syscalls[0] (mkdir)"),
        (r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["z80"]}"#, "z80"),
        ("", "empty"),
        ("[]", "object"),
    ];
    for (text, needle) in cases {
        let p = write_policy(dir.path(), "p.json", text);
        let out = sup(&["--policy", p.to_str().unwrap(), "--", "touch", marker.to_str().unwrap()]);
        assert_own_failure(&out, 125);
        assert!(out.stderr.contains("p.json"), "names the file: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{needle}: {}", out.stderr);
        assert!(!marker.exists(), "{text}: nothing started");
    }
    let missing_action = write_policy(
        dir.path(),
        "p.json",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","rmdir"]}]}"#,
    );
    let out = sup(&["--policy", missing_action.to_str().unwrap(), "--", "true"]);
    assert!(out.stderr.contains("syscalls[0] (mkdir, rmdir)") && out.stderr.contains("action"), "{}", out.stderr);
    for path in [dir.path().to_path_buf(), dir.path().join("missing.json")] {
        let out = sup(&["--policy", path.to_str().unwrap(), "--", "touch", marker.to_str().unwrap()]);
        assert_own_failure(&out, 125);
        assert!(!marker.exists());
    }
}

#[test]
fn options_help_version_and_usage_errors() {
    for flag in ["--help", "--version"] {
        let out = sup(&[flag]);
        assert_eq!(out.code, Some(0), "{flag}");
        assert!(!out.stdout.is_empty());
    }
    assert!(sup(&["--help"]).stdout.contains("Examples:"));
    let out = sup(&["--no-such-option", "--", "true"]);
    assert_own_failure(&out, 125);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert_own_failure(&sup(&["--log-format", "xml", "--", "true"]), 125);
}

#[test]
fn stdio_passes_through_and_logs_stay_off_stdout() {
    let mut cmd = Command::new(supervise());
    cmd.args([
        "--log-level",
        "debug",
        "--policy",
        policy_file("clock-emulate.json").to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "cat; echo err >&2",
    ]);
    let out = run_with(cmd, b"hello\nworld\n", TIMEOUT);
    assert_eq!(out.code, Some(0));
    assert_eq!(out.stdout, "hello\nworld\n", "only the program's output on stdout");
    assert!(out.stderr.contains("err") && out.stderr.contains("DEBUG"), "{}", out.stderr);
    let dir = temp_dir();
    let log = dir.path().join("log.json");
    let out = sup(&["--log-level", "info", "--log-format", "json", "--log-file", log.to_str().unwrap(), "--", "true"]);
    assert_eq!((out.code, out.stderr.as_str()), (Some(0), ""));
    let first = std::fs::read_to_string(&log).unwrap();
    let line: serde_json::Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    assert!(line.get("fields").is_some(), "{line}");
}

#[test]
fn the_docker_default_profile_runs_real_programs() {
    for policy in [Some(fixture("moby/default.json")), Some(policy_file("docker-default.json")), None] {
        let mut base: Vec<String> = Vec::new();
        if let Some(p) = &policy {
            base.extend(["--policy".to_string(), p.display().to_string()]);
        }
        base.push("--".into());
        for (cmd, want) in [
            (vec!["ls", "/"], "usr"),
            (vec!["sh", "-c", "echo hi | cat"], "hi"),
            (vec!["python3", "-c", "import json, os; print(json.dumps(sorted(os.listdir('/'))[:1]))"], "["),
        ] {
            let args: Vec<&str> = base.iter().map(String::as_str).chain(cmd.iter().copied()).collect();
            let out = sup(&args);
            assert_eq!(out.code, Some(0), "{args:?}: {}", out.stderr);
            assert!(out.stdout.contains(want), "{args:?}: {}", out.stdout);
        }
    }
}

#[test]
fn the_docker_default_profile_blocks_user_namespaces_for_unprivileged_users() {
    let plain = as_nobody(Path::new("/usr/bin/unshare"), &["-U", "true"]);
    if plain.code != Some(0) {
        eprintln!("skipped half: this host forbids unprivileged user namespaces ({})", plain.stderr.trim());
    }
    let out = as_nobody(&supervise(), &["--", "unshare", "-U", "true"]);
    assert_ne!(out.code, Some(0), "unshare -U must fail under Docker's default profile");
    assert!(out.stderr.contains("Operation not permitted"), "{}", out.stderr);
}

#[test]
fn date_s_is_emulated_and_the_host_clock_is_untouched() {
    let before = now();
    let policy = policy_file("clock-emulate.json");
    let out =
        sup_without_sys_time(&["--policy", policy.to_str().unwrap(), "--", "date", "-u", "-s", "19 APR 2012 22:00:00"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("2012") && out.stdout.contains("22:00:00"), "{}", out.stdout);
    let after = now();
    assert!((0..=5).contains(&(after - before)), "host clock moved: {before} -> {after}");
    // Without supervise, the same command fails: proof that CAP_SYS_TIME really is dropped in this test.
    let plain = run(
        "setpriv",
        &["--inh-caps=-sys_time", "--bounding-set=-sys_time", "date", "-u", "-s", "19 APR 2012 22:00:00"],
    );
    assert_ne!(plain.code, Some(0));
}

#[test]
fn date_s_is_emulated_for_an_unprivileged_user() {
    let before = now();
    let policy = policy_file("clock-emulate.json");
    let out = as_nobody(
        &supervise(),
        &["--policy", policy.to_str().unwrap(), "--", "date", "-u", "-s", "19 APR 2012 22:00:00"],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("2012"), "{}", out.stdout);
    assert!((0..=5).contains(&(now() - before)));
    // Other unprivileged runs: a notify decision and a kernel errno.
    let (code, _, created) = {
        let dir = temp_dir();
        let p =
            write_policy(dir.path(), "p.json", &mkdir_rule("SCMP_ACT_NOTIFY", r#","supervise":{"decision":"allow"}"#));
        let target = dir.path().join("d");
        let out = as_nobody(&supervise(), &["--policy", p.to_str().unwrap(), "--", "mkdir", target.to_str().unwrap()]);
        (out.code, out.stderr, target.exists())
    };
    assert_eq!((code, created), (Some(0), true));
}

#[test]
fn every_shipped_policy_loads() {
    let dir = crate::support::repo().join("policies");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let out = sup(&["check", path.to_str().unwrap()]);
        assert_eq!(out.code, Some(0), "{}: {}", path.display(), out.stderr);
        count += 1;
    }
    assert!(count >= 5);
}
