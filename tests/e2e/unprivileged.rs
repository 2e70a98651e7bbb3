//! Runs as uid 65534 (nobody, no capabilities): the clock demo, notify decisions and kernel actions work the same
//! for an unprivileged user. These tests need root to switch users and are skipped (with a message) otherwise.

use crate::support::{
    as_nobody, assert_clock_untouched, clock, mkdir_rule, needs_root, now, policy_file, probe, probe_mkdir_with,
    probe_str, supervise,
};

#[test]
fn date_s_is_emulated_for_an_unprivileged_user() {
    if !needs_root("the clock demo as nobody") {
        return;
    }
    let before = clock();
    let policy = policy_file("clock-emulate.json");
    let out =
        as_nobody(&supervise(), &["--policy", policy.to_str().unwrap(), "--", "date", "-s", "19 APR 2012 22:00:00"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("2012"), "{}", out.stdout);
    let out = as_nobody(
        &supervise(),
        &["--policy", policy.to_str().unwrap(), "--", &probe_str(), "clock_settime", "1334872800"],
    );
    assert_eq!((out.code, out.stdout.trim()), (Some(0), "ok 0"), "{}", out.stderr);
    assert_clock_untouched(before);
    // The control: nobody cannot set the clock without supervise.
    let plain = as_nobody(&probe(), &["clock_settime", &now().to_string()]);
    assert_eq!(plain.stdout.trim(), "err EPERM 1");
}

#[test]
fn notify_decisions_and_kernel_actions_work_for_an_unprivileged_user() {
    if !needs_root("decisions as nobody") {
        return;
    }
    let cases: &[(&str, &str, i32, &str, bool)] = &[
        ("SCMP_ACT_NOTIFY", r#","supervise":{"decision":"allow"}"#, 0, "ok 0", true),
        ("SCMP_ACT_NOTIFY", r#","supervise":{"decision":"deny","errnoRet":13}"#, 13, "err EACCES 13", false),
        ("SCMP_ACT_NOTIFY", "", 1, "err EPERM 1", false),
        ("SCMP_ACT_ERRNO", r#","errnoRet":"EROFS""#, 30, "err EROFS 30", false),
        ("SCMP_ACT_KILL_PROCESS", "", 159, "", false),
        ("SCMP_ACT_ALLOW", "", 0, "ok 0", true),
    ];
    for (action, extra, code, report, created) in cases {
        let got = probe_mkdir_with(&mkdir_rule(action, extra), as_nobody);
        assert_eq!(
            (got.code, got.report.as_str(), got.created),
            (Some(*code), *report, *created),
            "{action}{extra}: {}",
            got.stderr
        );
    }
}

#[test]
fn exit_statuses_pass_through_for_an_unprivileged_user() {
    if !needs_root("exit statuses as nobody") {
        return;
    }
    assert_eq!(as_nobody(&supervise(), &["--", "sh", "-c", "exit 7"]).code, Some(7));
    assert_eq!(as_nobody(&supervise(), &["--", "sh", "-c", "kill -TERM $$"]).code, Some(143));
    let out = as_nobody(&supervise(), &["--", "no-such-program-anywhere"]);
    crate::support::assert_own_failure(&out, 127);
}
