//! The command line: `--help`, `--version`, usage errors (125, not clap's 2), and the program's stdio passed through
//! untouched while supervise's logs go to stderr or `--log-file`, never to stdout.

use std::process::Command;

use crate::support::{assert_own_failure, policy_file, run_with, sup, supervise, temp_dir, TIMEOUT};

#[test]
fn help_and_version_exit_0() {
    for flag in ["--help", "--version"] {
        let out = sup(&[flag]);
        assert_eq!(out.code, Some(0), "{flag}: {}", out.stderr);
        assert!(out.stdout.contains("supervise"), "{flag}: {}", out.stdout);
    }
    let help = sup(&["--help"]).stdout;
    for option in ["--policy", "--log-level", "--log-format", "--log-file"] {
        assert!(help.contains(option), "--help lists {option}: {help}");
    }
}

#[test]
fn usage_errors_exit_125_with_one_line() {
    for args in [
        ["--no-such-option", "--", "true"].as_slice(),
        &["--log-format", "xml", "--", "true"],
        &["--policy"],
        // A bare word is a valid RUST_LOG target filter, so the bad level has to be a bad directive.
        &["--log-level", "debug=loud", "--", "true"],
        &["--log-file", "/nonexistent/dir/log", "--", "true"],
    ] {
        let out = sup(args);
        assert_eq!(out.code, Some(125), "{args:?}: {}", out.stderr);
        assert_own_failure(&out, 125);
        assert!(out.stdout.is_empty(), "{args:?}: {}", out.stdout);
    }
}

/// `supervise ARGS… -- sh -c SCRIPT` with `stdin`, and extra environment.
fn sh(args: &[&str], script: &str, stdin: &[u8], env: &[(&str, &str)]) -> crate::support::Output {
    let mut cmd = Command::new(supervise());
    cmd.args(args).args(["--", "sh", "-c", script]).envs(env.iter().copied());
    run_with(cmd, stdin, TIMEOUT)
}

#[test]
fn stdin_and_stdout_pass_through_untouched_and_logs_stay_off_stdout() {
    let policy = policy_file("clock-emulate.json");
    let policy = policy.to_str().unwrap();
    let input = b"hello\nworld\n";
    for (args, env) in [
        (vec!["--log-level", "debug", "--policy", policy], vec![]),
        (vec!["--log-level", "trace"], vec![]),
        (vec!["--policy", policy], vec![("RUST_LOG", "debug")]),
        (vec!["--log-level", "debug", "--log-format", "json", "--policy", policy], vec![]),
    ] {
        let out = sh(&args, "cat; echo to-stderr >&2", input, &env);
        assert_eq!(out.code, Some(0), "{args:?}: {}", out.stderr);
        assert_eq!(out.stdout.as_bytes(), input, "{args:?}: only the program's output on stdout");
        assert!(out.stderr.contains("to-stderr"), "{args:?}: the program's stderr: {}", out.stderr);
        assert!(out.stderr.lines().count() > 1, "{args:?}: debug logs on stderr: {}", out.stderr);
    }
}

#[test]
fn large_stdin_passes_through_byte_for_byte() {
    let input: Vec<u8> = (0..256 * 1024).map(|i| b"abcdefghijklmnopqrstuvwxyz\n"[i % 27]).collect();
    let out = sh(&[], "cat", &input, &[]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.as_bytes() == input.as_slice(), "{} bytes back of {}", out.stdout.len(), input.len());
}

#[test]
fn log_file_takes_the_logs_in_json() {
    let dir = temp_dir();
    let log = dir.path().join("log.json");
    let policy = policy_file("clock-emulate.json");
    let out = sup(&[
        "--log-level",
        "info",
        "--log-format",
        "json",
        "--log-file",
        log.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
        "--",
        "true",
    ]);
    assert_eq!((out.code, out.stdout.as_str(), out.stderr.as_str()), (Some(0), "", ""));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.is_empty(), "the log file has the logs");
    for line in text.lines() {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("one JSON object per line: {e}: {line}"));
        assert!(value.get("level").is_some(), "{line}");
    }
}
