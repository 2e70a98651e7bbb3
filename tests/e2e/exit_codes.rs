//! Exit statuses, as the contract and shells have them: the program's own status, 128+N for signal N, and 125, 126,
//! 127 for supervise's own failures — including a policy that blocks execve (126, never a hang).

use crate::support::{assert_own_failure, policy_file, probe_str, sup, sup_policy, temp_dir, write_policy};

#[test]
fn the_programs_own_status_passes_through() {
    assert_eq!(sup(&["--", "sh", "-c", "exit 7"]).code, Some(7));
    assert_eq!(sup(&["--", "sh", "-c", "exit 0"]).code, Some(0));
    assert_eq!(sup(&["--", "false"]).code, Some(1));
    assert_eq!(sup(&["--", &probe_str(), "exit", "42"]).code, Some(42));
    // Under a policy with notify rules too.
    assert_eq!(sup_policy(&policy_file("clock-emulate.json"), &["sh", "-c", "exit 7"]).code, Some(7));
}

#[test]
fn death_by_signal_n_is_128_plus_n() {
    assert_eq!(sup(&["--", "sh", "-c", "kill -TERM $$"]).code, Some(143));
    assert_eq!(sup(&["--", "sh", "-c", "kill -KILL $$"]).code, Some(137));
    assert_eq!(sup(&["--", &probe_str(), "kill-self", "10"]).code, Some(138));
}

#[test]
fn a_missing_program_is_127_with_a_message() {
    let out = sup(&["--", "no-such-program-anywhere"]);
    assert_own_failure(&out, 127);
    assert!(out.stderr.contains("no-such-program-anywhere"), "{}", out.stderr);
    let out = sup(&["--", "/nonexistent/dir/prog"]);
    assert_own_failure(&out, 127);
}

#[test]
fn a_program_that_cannot_be_executed_is_126() {
    let dir = temp_dir();
    let script = dir.path().join("not-executable");
    std::fs::write(&script, "#!/bin/sh\n").unwrap();
    let out = sup(&["--", script.to_str().unwrap()]);
    assert_own_failure(&out, 126);
    assert!(out.stderr.contains("not-executable"), "{}", out.stderr);
    assert_own_failure(&sup(&["--", dir.path().to_str().unwrap()]), 126);
}

#[test]
fn a_policy_that_blocks_execve_is_126_with_a_clear_message() {
    let dir = temp_dir();
    let marker = dir.path().join("started");
    for policy in [
        r#"{"defaultAction":"SCMP_ACT_ERRNO"}"#,
        r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":13}"#,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["execve"],"action":"SCMP_ACT_ERRNO"}]}"#,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["execve"],"action":"SCMP_ACT_KILL"}]}"#,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["execve"],"action":"SCMP_ACT_KILL_PROCESS"}]}"#,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["execve"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"deny"}}]}"#,
    ] {
        let p = write_policy(dir.path(), "p.json", policy);
        let out = sup_policy(&p, &["touch", marker.to_str().unwrap()]);
        assert_own_failure(&out, 126);
        assert!(out.stderr.contains("execve"), "{policy}: {}", out.stderr);
        assert!(!marker.exists(), "{policy}: the program never ran");
    }
    // Blocked only for some arguments: the kernel decides, and the failure is still a clear 126.
    let p = write_policy(
        dir.path(),
        "p.json",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["execve"],"action":"SCMP_ACT_ERRNO","errnoRet":13,"args":[{"index":1,"value":0,"op":"SCMP_CMP_NE"}]}]}"#,
    );
    let out = sup_policy(&p, &["touch", marker.to_str().unwrap()]);
    assert_own_failure(&out, 126);
    assert!(out.stderr.contains("Permission denied"), "{}", out.stderr);
    assert!(!marker.exists());
}

#[test]
fn a_policy_that_notifies_the_launchers_own_syscalls_still_starts_the_program() {
    // The launcher's write/sendmsg/close/execve after the load must never be notified to itself (no deadlock).
    let dir = temp_dir();
    let p = write_policy(
        dir.path(),
        "p.json",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["write","sendmsg","close","execve","execveat"],
            "action":"SCMP_ACT_NOTIFY","supervise":{"decision":"allow"}}]}"#,
    );
    let out = sup_policy(&p, &["sh", "-c", "echo started"]);
    assert_eq!((out.code, out.stdout.as_str()), (Some(0), "started\n"), "{}", out.stderr);
}
