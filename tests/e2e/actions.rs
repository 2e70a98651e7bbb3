//! Every seccomp action a profile can name, on `mkdir` through the `probe` helper: the kernel's own actions (decided
//! in BPF) and `SCMP_ACT_NOTIFY` with each supervisor decision. Also: a denial holds for the program's children and
//! through the i386 entry point.

use crate::support::{
    mkdir_rule, probe, probe_mkdir, probe_str, run, sup_policy, sup_probe, temp_dir, write_policy, Mkdir,
};

/// Checks one `probe mkdir` run against (status, report line, directory created).
fn expect(what: &str, got: &Mkdir, code: i32, report: &str, created: bool) {
    assert_eq!(
        (got.code, got.report.as_str(), got.created),
        (Some(code), report, created),
        "{what}: stderr: {}",
        got.stderr
    );
}

#[test]
fn kernel_actions_on_mkdir_do_what_docker_and_runc_do() {
    let cases: &[(&str, &str, i32, &str, bool)] = &[
        ("SCMP_ACT_ALLOW", "", 0, "ok 0", true),
        ("SCMP_ACT_LOG", "", 0, "ok 0", true),
        ("SCMP_ACT_ERRNO", "", 1, "err EPERM 1", false),
        ("SCMP_ACT_ERRNO", r#","errnoRet":13"#, 13, "err EACCES 13", false),
        ("SCMP_ACT_ERRNO", r#","errnoRet":"EACCES""#, 13, "err EACCES 13", false),
        ("SCMP_ACT_ERRNO", r#","errnoRet":"EROFS""#, 30, "err EROFS 30", false),
        // Killed by SIGSYS (31): 128 + 31, as a shell reports it.
        ("SCMP_ACT_KILL", "", 159, "", false),
        ("SCMP_ACT_KILL_THREAD", "", 159, "", false),
        ("SCMP_ACT_KILL_PROCESS", "", 159, "", false),
        ("SCMP_ACT_TRAP", "", 159, "", false),
        // No tracer attached: the kernel fails the syscall with ENOSYS.
        ("SCMP_ACT_TRACE", "", 38, "err ENOSYS 38", false),
    ];
    for (action, extra, code, report, created) in cases {
        let got = probe_mkdir(&mkdir_rule(action, extra));
        expect(&format!("{action}{extra}"), &got, *code, report, *created);
    }
}

#[test]
fn notify_decisions_allow_deny_and_the_default_deny() {
    let notify = |supervise: &str| mkdir_rule("SCMP_ACT_NOTIFY", supervise);
    let cases: &[(&str, i32, &str, bool)] = &[
        (r#","supervise":{"decision":"allow"}"#, 0, "ok 0", true),
        (r#","supervise":{"decision":"deny"}"#, 1, "err EPERM 1", false),
        (r#","supervise":{"decision":"deny","errnoRet":13}"#, 13, "err EACCES 13", false),
        (r#","supervise":{"decision":"deny","errnoRet":"EACCES"}"#, 13, "err EACCES 13", false),
        (r#","supervise":{"decision":"deny","errnoRet":"EROFS"}"#, 30, "err EROFS 30", false),
        // A notify rule without a `supervise` object: the documented default, deny with EPERM.
        ("", 1, "err EPERM 1", false),
    ];
    for (supervise, code, report, created) in cases {
        let got = probe_mkdir(&notify(supervise));
        expect(&format!("SCMP_ACT_NOTIFY{supervise}"), &got, *code, report, *created);
    }
}

#[test]
fn decisions_hold_for_every_child_of_the_program() {
    for (decision, report, made) in [("allow", "ok 0", 16), ("deny", "err EIO 5", 0)] {
        let dir = temp_dir();
        let supervise = format!(r#","supervise":{{"decision":"{decision}"}}"#);
        let p = write_policy(dir.path(), "p.json", &mkdir_rule("SCMP_ACT_NOTIFY", &supervise));
        let root = dir.path().join("r");
        std::fs::create_dir(&root).unwrap();
        let out = sup_probe(&p, &["fork-mkdir", "16", root.to_str().unwrap()]);
        assert!(out.stdout.ends_with(&format!("{report}\n")), "{decision}: {}{}", out.stdout, out.stderr);
        assert_eq!(std::fs::read_dir(&root).unwrap().count(), made, "{decision}: {}", out.stderr);
    }
}

#[test]
fn a_denial_cannot_be_bypassed_through_int_0x80() {
    let plain = run(probe(), &["x86-int80-getpid"]);
    if plain.code != Some(0) {
        eprintln!("skipped: this kernel has no ia32 entry (int 0x80 gave status {:?})", plain.code);
        return;
    }
    let dir = temp_dir();
    let rule = r#""syscalls":[{"names":["getpid"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]"#;
    // The profile lists the i386 arch: the rule applies there too.
    let all = write_policy(
        dir.path(),
        "all.json",
        &format!(r#"{{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],{rule}}}"#),
    );
    let out = sup_probe(&all, &["x86-int80-getpid"]);
    assert_eq!((out.code, out.stdout.trim()), (Some(13), "err EACCES 13"), "{}", out.stderr);
    // The profile lists no arch: only the native one is allowed, and the i386 entry must not get through.
    let native = write_policy(dir.path(), "native.json", &format!(r#"{{"defaultAction":"SCMP_ACT_ALLOW",{rule}}}"#));
    let out = sup_probe(&native, &["x86-int80-getpid"]);
    assert!(!out.stdout.starts_with("ok"), "int 0x80 bypassed the filter: {}{}", out.stdout, out.stderr);
    assert_ne!(out.code, Some(0));
    // The native entry is denied as the rule says.
    let out = sup_probe(&native, &["getpid"]);
    assert_eq!((out.code, out.stdout.trim()), (Some(13), "err EACCES 13"), "{}", out.stderr);
}

#[test]
fn calls_decided_in_bpf_leave_other_syscalls_alone() {
    // ERRNO on mkdir must not touch rmdir, unlink or open (a filter that over-matches breaks real programs).
    let dir = temp_dir();
    let p = write_policy(dir.path(), "p.json", &mkdir_rule("SCMP_ACT_ERRNO", r#","errnoRet":13"#));
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let probe = probe_str();
    for (args, report) in [
        (vec![probe.as_str(), "open", "/etc/hostname"], "ok"),
        (vec![probe.as_str(), "rmdir", sub.to_str().unwrap()], "ok 0"),
        (vec![probe.as_str(), "getppid"], "ok"),
    ] {
        let out = sup_policy(&p, &args);
        assert_eq!(out.code, Some(0), "{args:?}: {}", out.stderr);
        assert!(out.stdout.starts_with(report), "{args:?}: {}", out.stdout);
    }
    assert!(!sub.exists());
}
