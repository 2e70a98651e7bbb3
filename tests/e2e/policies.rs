//! Loading profiles: the seed scenarios (a chmod blacklist, the old `name` format, arch aliases, minimal profiles),
//! every bad policy as one clear `supervise:` line with exit 125 and nothing started, and every shipped policy.

use std::os::unix::fs::PermissionsExt;

use crate::support::{
    assert_own_failure, mkdir_rule, policy_file, probe_mkdir, repo, sup, sup_policy, temp_dir, write_policy,
};

#[test]
fn a_chmod_blacklist_fails_chmod_and_leaves_the_mode_unchanged() {
    let dir = temp_dir();
    let file = dir.path().join("f");
    std::fs::write(&file, "x").unwrap();
    let before = std::fs::metadata(&file).unwrap().permissions().mode();
    let inline = write_policy(
        dir.path(),
        "p.json",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["chmod","fchmodat","fchmodat2"],"action":"SCMP_ACT_ERRNO"}]}"#,
    );
    // The shipped example denies chmod the same way (and deletions in user space).
    for policy in [inline, policy_file("deny-delete.json")] {
        let out = sup_policy(&policy, &["chmod", "400", file.to_str().unwrap()]);
        assert_ne!(out.code, Some(0), "{}", policy.display());
        assert!(out.stderr.contains("Operation not permitted"), "{}: {}", policy.display(), out.stderr);
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode(), before, "{}", policy.display());
    }
}

#[test]
fn the_shipped_deny_delete_example_fails_deletions_with_eacces() {
    let dir = temp_dir();
    let file = dir.path().join("f");
    std::fs::write(&file, "x").unwrap();
    let out = sup_policy(&policy_file("deny-delete.json"), &["rm", "-f", file.to_str().unwrap()]);
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains("Permission denied"), "{}", out.stderr);
    assert!(file.exists());
}

#[test]
fn the_old_singular_name_format_denies_mkdir() {
    let policy = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"name":"mkdir","action":"SCMP_ACT_ERRNO"},{"name":"mkdirat","action":"SCMP_ACT_ERRNO"}]}"#;
    let got = probe_mkdir(policy);
    assert_eq!((got.code, got.report.as_str(), got.created), (Some(1), "err EPERM 1", false), "{}", got.stderr);
    let dir = temp_dir();
    let p = write_policy(dir.path(), "p.json", policy);
    let target = dir.path().join("d");
    let out = sup_policy(&p, &["mkdir", target.to_str().unwrap()]);
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains("Operation not permitted"), "{}", out.stderr);
    assert!(!target.exists());
}

#[test]
fn architecture_aliases_and_arch_maps_load() {
    let dir = temp_dir();
    for arches in [
        r#""architectures":["amd64"]"#,
        r#""architectures":["x86_64","x86","x32"]"#,
        r#""architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"]"#,
        r#""archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X86","SCMP_ARCH_X32"]}]"#,
    ] {
        let p = write_policy(dir.path(), "p.json", &format!(r#"{{"defaultAction":"SCMP_ACT_ALLOW",{arches}}}"#));
        let out = sup_policy(&p, &["true"]);
        assert_eq!(out.code, Some(0), "{arches}: {}", out.stderr);
    }
}

#[test]
fn a_profile_with_only_a_log_default_runs_the_program() {
    let dir = temp_dir();
    let p = write_policy(dir.path(), "p.json", r#"{"defaultAction":"SCMP_ACT_LOG"}"#);
    let out = sup_policy(&p, &["sh", "-c", "echo logged"]);
    assert_eq!((out.code, out.stdout.as_str()), (Some(0), "logged\n"), "{}", out.stderr);
    let got = probe_mkdir(r#"{"defaultAction":"SCMP_ACT_LOG"}"#);
    assert_eq!((got.code, got.created), (Some(0), true), "{}", got.stderr);
}

/// A bad policy case: the file's text and what the error line must contain besides the file name.
struct Bad {
    what: &'static str,
    text: String,
    needles: &'static [&'static str],
}

fn bad(what: &'static str, text: &str, needles: &'static [&'static str]) -> Bad {
    Bad { what, text: text.to_string(), needles }
}

fn rule(body: &str) -> String {
    format!(r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{body}]}}"#)
}

#[test]
fn bad_policies_are_one_clear_line_exit_125_and_start_nothing() {
    let cases = [
        bad("syntax error", "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n  \"syscalls\": [}\n", &[]),
        bad(
            "unknown action",
            &rule(r#"{"names":["mkdir"],"action":"SCMP_ACT_FOO"}"#),
            &["SCMP_ACT_FOO", "syscalls[0]"],
        ),
        bad("unknown default action", r#"{"defaultAction":"SCMP_ACT_BOGUS"}"#, &["SCMP_ACT_BOGUS", "defaultAction"]),
        bad(
            "paths on a syscall without a path argument",
            &rule(
                r#"{"names":["getpid","mkdir"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"deny","paths":["/x/**"]}}"#,
            ),
            &["syscalls[0]", "supervise.paths", "\"getpid\" has no path argument"],
        ),
        bad("missing default action", r#"{"syscalls":[]}"#, &["defaultAction"]),
        bad(
            "errno out of range",
            &rule(r#"{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":4096}"#),
            &["4096", "syscalls[0]"],
        ),
        bad(
            "errno out of range in a decision",
            &rule(r#"{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"deny","errnoRet":4096}}"#),
            &["4096", "syscalls[0]"],
        ),
        bad(
            "unknown errno name",
            &rule(r#"{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":"EFOO"}"#),
            &["EFOO", "syscalls[0]"],
        ),
        bad(
            "negative errno",
            &rule(r#"{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":-1}"#),
            &["-1", "syscalls[0]"],
        ),
        bad("missing action", &rule(r#"{"names":["mkdir","rmdir"]}"#), &["syscalls[0]", "mkdir", "rmdir", "action"]),
        bad("missing action, old format", &rule(r#"{"name":"mkdir"}"#), &["syscalls[0]", "mkdir", "action"]),
        bad(
            "missing action in the second rule",
            &rule(r#"{"names":["rmdir"],"action":"SCMP_ACT_ALLOW"},{"names":["mkdir"]}"#),
            &["syscalls[1]", "mkdir", "action"],
        ),
        bad("unknown architecture", r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["z80"]}"#, &["z80"]),
        bad(
            "unknown comparison",
            &rule(
                r#"{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_FOO"}]}"#,
            ),
            &["SCMP_CMP_FOO", "syscalls[0]"],
        ),
        bad(
            "argument index out of range",
            &rule(r#"{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}"#),
            &["index", "syscalls[0]"],
        ),
        bad(
            "unknown decision",
            &rule(r#"{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"maybe"}}"#),
            &["maybe", "syscalls[0]"],
        ),
        bad(
            "unknown emulator",
            &rule(
                r#"{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"emulate","emulate":"nope"}}"#,
            ),
            &["nope", "syscalls[0]"],
        ),
        bad("empty file", "", &[]),
        bad("only whitespace", " \n\n", &[]),
        bad("not an object", "[]", &[]),
    ];
    for case in cases {
        let dir = temp_dir();
        let marker = dir.path().join("started");
        let p = write_policy(dir.path(), "p.json", &case.text);
        let out = sup_policy(&p, &["touch", marker.to_str().unwrap()]);
        let what = case.what;
        assert_eq!(out.code, Some(125), "{what}: {}", out.stderr);
        assert_own_failure(&out, 125);
        assert!(out.stderr.contains("p.json"), "{what}: names the file: {}", out.stderr);
        for needle in case.needles {
            assert!(out.stderr.contains(needle), "{what}: names {needle}: {}", out.stderr);
        }
        assert!(!marker.exists(), "{what}: the program never started");
    }
}

#[test]
fn a_json_syntax_error_names_file_line_and_column() {
    let dir = temp_dir();
    let marker = dir.path().join("started");
    let p = write_policy(dir.path(), "p.json", "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n  \"syscalls\": [}\n");
    let out = sup_policy(&p, &["touch", marker.to_str().unwrap()]);
    assert_own_failure(&out, 125);
    // FILE:LINE:COL, with the file as given on the command line.
    let place = format!("{}:3:", p.display());
    let at = out.stderr.find(&place).unwrap_or_else(|| panic!("{place}COL in {}", out.stderr));
    let column: String = out.stderr[at + place.len()..].chars().take_while(char::is_ascii_digit).collect();
    assert!(column.parse::<u32>().is_ok_and(|c| c > 0), "a column after {place}: {}", out.stderr);
    assert!(!marker.exists());
}

#[test]
fn a_directory_or_a_missing_file_as_the_policy_is_125() {
    let dir = temp_dir();
    let marker = dir.path().join("started");
    let missing = dir.path().join("missing.json");
    for path in [dir.path().to_path_buf(), missing] {
        let out = sup_policy(&path, &["touch", marker.to_str().unwrap()]);
        assert_own_failure(&out, 125);
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(out.stderr.contains(name), "names {name}: {}", out.stderr);
        assert!(!marker.exists(), "{}: the program never started", path.display());
    }
}

#[test]
fn a_rule_without_an_action_names_the_file_and_the_rule() {
    let dir = temp_dir();
    let marker = dir.path().join("started");
    let p = write_policy(dir.path(), "norule.json", &rule(r#"{"names":["mkdir"]}"#));
    let out = sup_policy(&p, &["touch", marker.to_str().unwrap()]);
    assert_own_failure(&out, 125);
    assert!(out.stderr.contains("norule.json") && out.stderr.contains("syscalls[0]"), "{}", out.stderr);
    assert!(!marker.exists());
}

#[test]
fn every_shipped_policy_checks_and_runs_a_program() {
    let dir = repo().join("policies");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let out = sup(&["check", path.to_str().unwrap()]);
        assert_eq!(out.code, Some(0), "check {}: {}{}", path.display(), out.stdout, out.stderr);
        let out = sup_policy(&path, &["sh", "-c", "echo ok"]);
        assert_eq!((out.code, out.stdout.as_str()), (Some(0), "ok\n"), "{}: {}", path.display(), out.stderr);
        count += 1;
    }
    assert!(count >= 5);
    // A policy that allows everything but notifies mkdir: the mkdir helper sees the decision.
    let got = probe_mkdir(&mkdir_rule("SCMP_ACT_NOTIFY", r#","supervise":{"decision":"allow"}"#));
    assert!(got.created, "{}", got.stderr);
}
