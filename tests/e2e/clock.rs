//! The `clock-set` emulation of policies/clock-emulate.json: `date -s` succeeds and prints the requested date, each
//! clock-setting syscall returns success after the kernel's own argument checks, reads return real data, and the host
//! clock never moves. Every run drops CAP_SYS_TIME first, so a bug can only give EPERM, never a changed clock.

use crate::support::{
    assert_clock_untouched, clock, now, policy_file, probe, probe_str, run, run_without_sys_time, sup_without_sys_time,
};

/// The requested date of the demo: 19 Apr 2012 22:00:00 UTC.
const APRIL_2012: &str = "1334872800";

#[test]
fn date_s_is_emulated_and_the_host_clock_is_untouched() {
    let before = clock();
    let policy = policy_file("clock-emulate.json");
    let out = sup_without_sys_time(&["--policy", policy.to_str().unwrap(), "--", "date", "-s", "19 APR 2012 22:00:00"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains("2012") && out.stdout.contains("22:00:00"),
        "prints the requested date: {}",
        out.stdout
    );
    assert_clock_untouched(before);
}

#[test]
fn without_supervise_the_same_call_fails_so_cap_sys_time_really_is_dropped() {
    // Setting the clock to the current second: even if the capability were not dropped, it would barely move.
    let out = run_without_sys_time(&probe(), &["clock_settime", &now().to_string()]);
    assert_eq!((out.code, out.stdout.trim()), (Some(1), "err EPERM 1"));
}

#[test]
fn each_clock_setting_syscall_succeeds_without_changing_the_clock() {
    let before = clock();
    let policy = policy_file("clock-emulate.json");
    let probe = probe_str();
    let under = |args: &[&str]| {
        let all = [&["--policy", policy.to_str().unwrap(), "--", probe.as_str()], args].concat();
        sup_without_sys_time(&all)
    };
    for args in [
        ["clock_settime", APRIL_2012].as_slice(),
        &["clock_settime", APRIL_2012, "999999999"],
        &["settimeofday", APRIL_2012],
    ] {
        let out = under(args);
        assert_eq!((out.code, out.stdout.trim()), (Some(0), "ok 0"), "{args:?}: {}", out.stderr);
    }
    assert_clock_untouched(before);
}

#[test]
fn emulated_clock_calls_validate_their_arguments_as_the_kernel_does() {
    let before = clock();
    let policy = policy_file("clock-emulate.json");
    let probe = probe_str();
    for (args, report) in [
        (["clock_settime-fault"].as_slice(), "err EFAULT 14"),
        (&["clock_settime", APRIL_2012, "1000000000"], "err EINVAL 22"),
        (&["clock_settime", APRIL_2012, "-1"], "err EINVAL 22"),
    ] {
        let all = [&["--policy", policy.to_str().unwrap(), "--", probe.as_str()], args].concat();
        let out = sup_without_sys_time(&all);
        assert_eq!(out.stdout.trim(), report, "{args:?}: {}", out.stderr);
    }
    assert_clock_untouched(before);
}

#[test]
fn a_read_only_adjtimex_still_returns_the_real_clock_state() {
    let plain = run(probe(), &["adjtimex-read"]);
    assert_eq!(plain.code, Some(0), "{}", plain.stdout);
    let policy = policy_file("clock-emulate.json");
    let out = sup_without_sys_time(&["--policy", policy.to_str().unwrap(), "--", &probe_str(), "adjtimex-read"]);
    assert_eq!((out.code, out.stdout.as_str()), (Some(0), plain.stdout.as_str()), "{}", out.stderr);
}
