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

/// Runs `supervise --log-level info ARGS… -- sh -c SCRIPT` with stderr on a pipe (not a terminal).
fn logged(args: &[&str], script: &str, env: &[(&str, &str)]) -> crate::support::Output {
    sh(&[&["--log-level", "info"], args].concat(), script, b"", env)
}

#[test]
fn logs_off_a_terminal_have_no_colour_codes() {
    let dir = temp_dir();
    let policy = policy_file("clock-emulate.json");
    let policy = policy.to_str().unwrap();
    let script = "date -s '19 APR 2012 22:00:00' >/dev/null";
    for env in [vec![], vec![("NO_COLOR", "1")], vec![("NO_COLOR", "")], vec![("TERM", "xterm-256color")]] {
        let out = logged(&["--policy", policy], script, &env);
        assert_eq!(out.code, Some(0), "{env:?}: {}", out.stderr);
        assert!(out.stderr.contains("notified syscall"), "{env:?}: the info log on stderr: {}", out.stderr);
        assert!(!out.stderr.contains("\x1b["), "{env:?}: no ANSI codes in a piped stderr: {:?}", out.stderr);
        let log = dir.path().join("log.txt");
        let out = logged(&["--policy", policy, "--log-file", log.to_str().unwrap()], script, &env);
        assert_eq!(out.code, Some(0), "{env:?}: {}", out.stderr);
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.contains("notified syscall"), "{env:?}: the info log in the file: {text}");
        assert!(!text.contains("\x1b["), "{env:?}: no ANSI codes in --log-file: {text:?}");
    }
}

/// The JSON log's schema: one object per line with `timestamp`, `level` and `fields` (`message` a string); for
/// "notified syscall", typed fields only: numbers, plain strings, absent when there is no value.
fn check_json_log_line(line: &str) -> serde_json::Value {
    use serde_json::Value;
    let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("one JSON object per line: {e}: {line}"));
    assert!(value["level"].is_string(), "level: {line}");
    let fields = value["fields"].as_object().unwrap_or_else(|| panic!("fields is an object: {line}"));
    assert!(fields["message"].is_string(), "message: {line}");
    for (key, field) in fields {
        // An IPv6 address reads `[::1] port 80 (TCP)`, as firewalls write it.
        if let (false, Value::String(text)) = (key == "address", field) {
            for debug in ["Some(", "None", "Emulate(", "Deny(", "Prompt(", "[", "{"] {
                assert!(!text.starts_with(debug), "{key} holds Rust debug text {text:?}: {line}");
            }
        }
    }
    if fields["message"] == "notified syscall" {
        let number = |key: &str| assert!(fields[key].is_u64(), "{key} is a number: {line}");
        let string = |key: &str| assert!(fields[key].is_string(), "{key} is a string: {line}");
        let optional = |key: &str, ok: fn(&Value) -> bool| {
            assert!(fields.get(key).is_none_or(ok), "{key} is absent or typed: {line}");
        };
        for key in ["pid", "arg0", "arg1", "arg2", "arg3", "arg4", "arg5"] {
            number(key);
        }
        for key in ["exe", "syscall", "arch", "decision"] {
            string(key);
        }
        optional("rule", Value::is_u64);
        optional("errno", Value::is_u64);
        optional("emulator", Value::is_string);
        optional("path", Value::is_string);
        optional("path2", Value::is_string);
        optional("address", Value::is_string);
        let decision = fields["decision"].as_str().unwrap();
        assert!(["allow", "deny", "emulate", "prompt"].contains(&decision), "decision {decision:?}: {line}");
        assert_eq!(fields.contains_key("errno"), ["deny", "prompt"].contains(&decision), "errno with deny: {line}");
        assert_eq!(fields.contains_key("emulator"), decision == "emulate", "emulator with emulate: {line}");
        let known = [
            "message", "pid", "exe", "syscall", "arch", "decision", "rule", "errno", "emulator", "path", "path2",
            "address",
        ];
        for key in fields.keys() {
            assert!(known.contains(&key.as_str()) || key.starts_with("arg"), "unexpected field {key}: {line}");
        }
    }
    value
}

#[test]
fn json_log_fields_are_typed() {
    let dir = temp_dir();
    let policy = crate::support::write_policy(
        dir.path(),
        "p.json",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["mkdir","mkdirat"],"action":"SCMP_ACT_NOTIFY",
             "supervise":{"decision":"deny","errnoRet":"EACCES","paths":["/**/denied"]}},
            {"names":["mkdir","mkdirat"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"allow"}},
            {"names":["clock_settime","settimeofday"],"action":"SCMP_ACT_NOTIFY",
             "supervise":{"decision":"emulate","emulate":"clock-set"}}]}"#,
    );
    let log = dir.path().join("log.json");
    let d = dir.path().to_str().unwrap();
    let script =
        format!("mkdir {d}/denied 2>/dev/null; mkdir {d}/made; date -s '19 APR 2012 22:00:00' >/dev/null; true");
    for target in ["stderr", "file"] {
        let mut args = vec!["--log-format", "json", "--policy", policy.to_str().unwrap()];
        if target == "file" {
            args.extend(["--log-file", log.to_str().unwrap()]);
        }
        let out = logged(&args, &script, &[]);
        assert_eq!(out.code, Some(0), "{target}: {}", out.stderr);
        let text = if target == "file" { std::fs::read_to_string(&log).unwrap() } else { out.stderr.clone() };
        // mkdir's complaint is silenced: the program shares stderr with the log, and its write
        // can land in the middle of a log line.
        let lines: Vec<_> = text.lines().filter(|l| l.starts_with('{')).map(check_json_log_line).collect();
        let notified: Vec<_> = lines.iter().filter(|v| v["fields"]["message"] == "notified syscall").collect();
        let find = |decision: &str| {
            notified
                .iter()
                .find(|v| v["fields"]["decision"] == decision)
                .unwrap_or_else(|| panic!("{target}: a {decision} line in {text}"))
        };
        let denied = &find("deny")["fields"];
        assert_eq!(denied["errno"], 13, "{target}: EACCES as a number: {denied}");
        assert_eq!(denied["rule"], 0, "{target}: the rule's index: {denied}");
        assert!(denied["path"].as_str().unwrap().ends_with("/denied"), "{target}: {denied}");
        assert_eq!(find("allow")["fields"]["rule"], 1, "{target}");
        let emulated = &find("emulate")["fields"];
        assert_eq!(emulated["emulator"], "clock-set", "{target}: {emulated}");
        assert_eq!(emulated["rule"], 2, "{target}: {emulated}");
    }
}

#[test]
fn help_and_manual_give_the_exit_statuses() {
    let help = sup(&["--help"]).stdout;
    assert!(help.contains("Exit status:"), "{help}");
    for status in ["125", "126", "127", "128+N", "the program's own status"] {
        assert!(help.contains(status), "--help gives {status}: {help}");
    }
    let record = sup(&["record", "--help"]).stdout;
    assert!(record.contains("Exit status:") && record.contains("127"), "{record}");
    let check = sup(&["check", "--help"]).stdout;
    assert!(check.contains("Exit status:"), "{check}");
    let out = sup(&["man"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let page = &out.stdout;
    let section = page.split(".SH \"EXIT STATUS\"").nth(1).unwrap_or_else(|| panic!("an EXIT STATUS section: {page}"));
    let section = section.split("\n.SH").next().unwrap();
    for status in ["125", "126", "127", "128+N"] {
        assert!(section.contains(status), "EXIT STATUS gives {status}: {section}");
    }
}

#[test]
fn manual_examples_keep_one_line_each() {
    let out = sup(&["man"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let examples = out.stdout.split(".SH \"EXAMPLES\"").nth(1).expect("an EXAMPLES section");
    assert!(examples.starts_with("\n.nf\n"), "examples are not filled: {examples}");
    let lines: Vec<&str> = examples.lines().collect();
    // Each example is a line of its own (roff escapes its dashes), not run together with the next.
    for example in [
        r"supervise \-\-policy policies/clock\-emulate.json \-\- date \-s '19 APR 2012 22:00:00'",
        r"supervise \-\- python3 \-c 'print(42)'",
        r"supervise check my\-profile.json",
    ] {
        assert!(lines.contains(&example), "{example:?} is a line of its own: {examples}");
    }
    // The same for a subcommand's page, written with --dir.
    let dir = temp_dir();
    let out = sup(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let record = std::fs::read_to_string(dir.path().join("supervise-record.1")).unwrap();
    assert!(record.contains("\n.SH \"EXAMPLES\"\n.nf\n"), "{record}");
    assert!(record.contains("\nsupervise record \\-\\-output ls.json \\-\\- ls /"), "{record}");
}

#[test]
fn man_dir_is_created_when_missing() {
    let dir = temp_dir();
    let target = dir.path().join("share/man/man1");
    let out = sup(&["man", "--dir", target.to_str().unwrap()]);
    assert_eq!((out.code, out.stderr.as_str()), (Some(0), ""));
    for page in ["supervise.1", "supervise-record.1", "supervise-check.1", "supervise-serve.1", "supervise-man.1"] {
        let text = std::fs::read_to_string(target.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.starts_with(".ie") || text.contains(".TH"), "{page} is a manual page: {text}");
    }
}

#[test]
fn a_bad_subcommand_option_points_at_that_subcommands_help() {
    for (args, hint) in [
        (["record", "--no-such-option", "-o", "x.json", "--", "true"].as_slice(), "(see supervise record --help)"),
        (&["check", "--format", "xml", "p.json"], "(see supervise check --help)"),
        (&["man", "--no-such-option"], "(see supervise man --help)"),
        (&["serve", "--socket"], "(see supervise serve --help)"),
        (&["--no-such-option", "--", "true"], "(see supervise --help)"),
    ] {
        let out = sup(args);
        assert_own_failure(&out, 125);
        assert!(out.stderr.trim_end().ends_with(hint), "{args:?}: {hint}: {}", out.stderr);
    }
}

#[test]
fn background_processes_are_waited_for_only_under_notify_rules() {
    use std::time::{Duration, Instant};
    // The README and --help say it: with notify rules, supervise answers the background process until it exits.
    let policy = policy_file("clock-emulate.json");
    let start = Instant::now();
    let out = sh(&["--policy", policy.to_str().unwrap()], "sleep 2 >/dev/null 2>&1 &", b"", &[]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(start.elapsed() >= Duration::from_millis(1900), "waited for sleep: {:?}", start.elapsed());
    // Without notify rules (the built-in policy), it exits with the program.
    let start = Instant::now();
    let out = sh(&[], "sleep 2 >/dev/null 2>&1 &", b"", &[]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(start.elapsed() < Duration::from_millis(1500), "exited with the program: {:?}", start.elapsed());
}
