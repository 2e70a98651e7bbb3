//! Address rules (`addresses`, `families`, `socketTypes` in a `supervise` object): a policy that has them on a
//! notify rule is refused when it loads, by `check` and before any program is started, as long as they are not
//! enforced; never run with the matcher ignored.

use crate::support::*;

const LOOPBACK_ONLY: &str = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
    {"names":["connect"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"allow","addresses":["127.0.0.0/8"]}},
    {"names":["connect"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"deny"}}]}"#;

#[test]
fn address_rules_are_refused_at_load_while_not_enforced() {
    let dir = temp_dir();
    let policy = write_policy(dir.path(), "net.json", LOOPBACK_ONLY);
    let marker = dir.path().join("started");
    let out = sup_policy(&policy, &["touch", marker.to_str().unwrap()]);
    assert_own_failure(&out, 125);
    let line = out.stderr.trim_end();
    let place = format!("supervise: {}: syscalls[0] (connect): supervise: ", policy.display());
    assert!(line.starts_with(&place), "names the file and the rule: {line}");
    assert!(line.contains("address matchers (addresses, families, socketTypes) are not enforced"), "{line}");
    assert!(!marker.exists(), "nothing was started");
    let out = sup(&["check", policy.to_str().unwrap()]);
    assert_ne!(out.code, Some(0), "check refuses it: {}", out.stdout);
    assert!(out.stderr.contains("syscalls[0] (connect): supervise: address matchers"), "{}", out.stderr);
}
