//! Tests of the whole profile path: the real moby and podman profiles, every error with its message and place, the
//! meanings of the Docker fields and the `supervise` extension, and properties (no input panics).

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;
use crate::{Action, ArgCmp, CmpOp, Decision, Emulator, Errno, OnTimeout, PromptSpec};

const X86_ALL: Target = Target { native: Arch::X86_64, caps: Target::ALL_CAPS, kernel: (6, 18) };
const X86_NONE: Target = Target { native: Arch::X86_64, caps: 0, kernel: (6, 18) };

fn fixture(name: &str) -> String {
    let path = format!("{}/../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn load_ok(text: &str, target: &Target) -> Policy {
    load(text, target)
        .unwrap_or_else(|errs| panic!("{text}: {:?}", errs.iter().map(|e| e.in_file("p")).collect::<Vec<_>>()))
}

/// Every error of `text` as `p:…` lines.
fn errors(text: &str) -> Vec<String> {
    match load(text, &X86_ALL) {
        Ok(policy) => panic!("{text} loaded: {policy:?}"),
        Err(errs) => errs.iter().map(|e| e.in_file("p")).collect(),
    }
}

/// Syscall names with an unconditional or conditional allow rule.
fn allowed(policy: &Policy) -> BTreeSet<&str> {
    let rules = policy.rules.iter().filter(|r| r.action == Action::Allow);
    rules.flat_map(|r| r.names.iter().map(String::as_str)).collect()
}

#[test]
fn every_fixture_loads_with_and_without_capabilities() {
    let files =
        ["moby/default.json", "moby/default-old-format.json", "moby/conditional_include.json", "moby/example.json"];
    let files = files.iter().chain(&["podman/default.json", "podman/example.json"]);
    for file in files {
        let text = fixture(file);
        for target in [&X86_ALL, &X86_NONE, &Target { native: Arch::Aarch64, caps: 0, kernel: (4, 4) }] {
            let policy = load(&text, target).unwrap_or_else(|e| panic!("{file}: {e:?}"));
            assert_eq!(policy.arches[0], target.native, "{file}");
            assert!(!policy.rules.is_empty(), "{file}");
        }
        assert!(parse(&text).unwrap().unknown_keys().is_empty(), "{file}");
    }
}

#[test]
fn moby_default_means_what_it_means_to_docker() {
    let text = fixture("moby/default.json");
    let all = load_ok(&text, &X86_ALL);
    let none = load_ok(&text, &X86_NONE);
    assert_eq!(all.default_action, Action::Errno(Errno::EPERM));
    assert_eq!(all.arches, [Arch::X86_64, Arch::X86, Arch::X32]);
    assert_eq!(all.notify_default, Decision::Deny(Errno::EPERM));
    // CAP_SYS_ADMIN gates mount; CAP_SYS_TIME gates clock_settime.
    for name in ["mount", "umount2", "clock_settime", "reboot", "syslog"] {
        assert!(allowed(&all).contains(name), "{name} with all caps");
        assert!(!allowed(&none).contains(name), "{name} without caps");
    }
    // Arch-gated rules: arch_prctl is for amd64, s390_pci_mmio_read for s390 only.
    assert!(allowed(&none).contains("arch_prctl") && allowed(&none).contains("modify_ldt"));
    assert!(!allowed(&all).contains("s390_pci_mmio_read") && !allowed(&all).contains("riscv_flush_icache"));
    // clone3 fails with ENOSYS unless CAP_SYS_ADMIN is held (excludes.caps).
    let clone3 = |p: &Policy| p.rules.iter().find(|r| r.names == ["clone3"]).map(|r| r.action);
    assert_eq!(clone3(&none), Some(Action::Errno(Errno::ENOSYS)));
    assert_eq!(clone3(&all), None);
    // ptrace needs kernel 4.8 (includes.minKernel).
    assert!(allowed(&none).contains("ptrace"));
    let old_kernel = load_ok(&text, &Target { kernel: (4, 4), ..X86_NONE });
    assert!(!allowed(&old_kernel).contains("ptrace"));
    // The conditional socket rules keep their args (without `valueTwo`, which is 0 as in Go).
    let socket: Vec<ArgCmp> =
        none.rules.iter().filter(|r| r.names == ["socket"]).flat_map(|r| r.args.clone()).collect();
    let cmp = |op, value| ArgCmp { index: 0, op, value, value_two: 0 };
    assert_eq!(socket, [cmp(CmpOp::Lt, 38), cmp(CmpOp::Eq, 39), cmp(CmpOp::Gt, 40)]);
    // Rule indexes are positions in syscalls[].
    assert!(none.rules.windows(2).all(|w| w[0].index < w[1].index));
    assert_eq!(none.rules[0].index, 0);
}

#[test]
fn the_old_format_allows_what_the_new_one_allows() {
    let old = load_ok(&fixture("moby/default-old-format.json"), &X86_ALL);
    let new = load_ok(&fixture("moby/default.json"), &X86_ALL);
    assert_eq!(old.arches, new.arches);
    assert_eq!(old.default_action, new.default_action);
    let missing: Vec<&str> = allowed(&old).difference(&allowed(&new)).copied().collect();
    assert!(missing.is_empty(), "allowed by the old format only: {missing:?}");
    assert!(old.rules.iter().all(|r| r.names.len() == 1));
}

#[test]
fn podman_and_moby_examples_keep_their_details() {
    let podman = load_ok(&fixture("podman/default.json"), &X86_NONE);
    assert_eq!(podman.default_action, Action::Errno(Errno::ENOSYS));
    assert_eq!(podman.arches, [Arch::X86_64, Arch::X86, Arch::X32]);
    // 12345 is accepted by Docker; the kernel caps a filter's errno at 4095.
    let example = load_ok(&fixture("moby/example.json"), &X86_NONE);
    let syslog = example.rules.iter().find(|r| r.names == ["syslog"]).unwrap();
    assert_eq!(syslog.action, Action::Errno(Errno::new(4095).unwrap()));
    assert_eq!(example.arches, [Arch::X86_64]);
    let cond = fixture("moby/conditional_include.json");
    let names = |t: &Target| allowed(&load_ok(&cond, t)).into_iter().map(String::from).collect::<Vec<_>>();
    assert_eq!(names(&X86_NONE), ["chmod", "ptrace"]);
    assert_eq!(names(&X86_ALL), ["chmod", "syslog"]);
    let syslog_only = Target { caps: 1 << capability("CAP_SYSLOG").unwrap(), ..X86_NONE };
    assert_eq!(names(&syslog_only), ["chmod", "ptrace", "syslog"]);
}

#[test]
fn small_profiles_load() {
    let log = load_ok(r#"{"defaultAction":"SCMP_ACT_LOG"}"#, &X86_ALL);
    assert_eq!((log.default_action, log.rules.len(), log.arches.clone()), (Action::Log, 0, vec![Arch::X86_64]));
    let amd = load_ok(r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["amd64"]}"#, &X86_ALL);
    assert_eq!(amd.arches, [Arch::X86_64]);
    let foreign = load_ok(r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["arm64","SCMP_ARCH_X86"]}"#, &X86_ALL);
    assert_eq!(foreign.arches, [Arch::X86_64, Arch::X86]);
    let with_null = load_ok(r#"{"defaultAction":"SCMP_ACT_KILL","syscalls":null,"archMap":null}"#, &X86_ALL);
    assert_eq!(with_null.default_action, Action::KillThread);
}

#[test]
fn actions_and_their_errnos() {
    let cases = [
        (r#""defaultAction":"SCMP_ACT_ERRNO""#, Action::Errno(Errno::EPERM)),
        (r#""defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38"#, Action::Errno(Errno::ENOSYS)),
        (r#""defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":"EACCES""#, Action::Errno(Errno::EACCES)),
        (r#""defaultAction":"SCMP_ACT_ERRNO","defaultErrno":"ENOSYS""#, Action::Errno(Errno::ENOSYS)),
        (r#""defaultAction":"SCMP_ACT_TRACE""#, Action::Trace(1)),
        (r#""defaultAction":"SCMP_ACT_TRACE","defaultErrnoRet":0"#, Action::Trace(0)),
        (r#""defaultAction":"SCMP_ACT_KILL_PROCESS""#, Action::KillProcess),
        (r#""defaultAction":"SCMP_ACT_KILL_THREAD","defaultErrnoRet":5"#, Action::KillThread),
        (r#""defaultAction":"SCMP_ACT_TRAP""#, Action::Trap),
    ];
    for (fields, want) in cases {
        assert_eq!(load_ok(&format!("{{{fields}}}"), &X86_ALL).default_action, want, "{fields}");
    }
    // A rule's ERRNO without errnoRet is EPERM even when defaultErrnoRet is set (runc).
    let p = load_ok(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"syscalls":[
            {"names":["a"],"action":"SCMP_ACT_ERRNO"},{"names":["b"],"action":"SCMP_ACT_ERRNO","errnoRet":13},
            {"names":["c"],"action":"SCMP_ACT_TRACE","errnoRet":7},{"names":["d"],"action":"SCMP_ACT_ALLOW","errnoRet":9}]}"#,
        &X86_ALL,
    );
    let actions: Vec<Action> = p.rules.iter().map(|r| r.action).collect();
    assert_eq!(actions, [Action::Errno(Errno::EPERM), Action::Errno(Errno::EACCES), Action::Trace(7), Action::Allow]);
}

#[test]
fn arch_maps_and_filters_use_the_native_arch() {
    let text = r#"{"defaultAction":"SCMP_ACT_ALLOW","archMap":[
        {"architecture":"SCMP_ARCH_AARCH64","subArchitectures":["SCMP_ARCH_ARM"]},
        {"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X32"]}],"syscalls":[
        {"names":["a"],"action":"SCMP_ACT_LOG","includes":{"arches":["arm64"]}},
        {"names":["b"],"action":"SCMP_ACT_LOG","includes":{"arches":["x86","amd64"]}},
        {"names":["c"],"action":"SCMP_ACT_LOG","excludes":{"arches":["x86_64"]}},
        {"names":["d"],"action":"SCMP_ACT_LOG","excludes":{"minKernel":"6.1"}},
        {"names":["e"],"action":"SCMP_ACT_LOG","includes":{"caps":["CAP_SYS_ADMIN","CAP_BPF"]}},
        {"names":["f"],"action":"SCMP_ACT_LOG","excludes":{"caps":["CAP_SYS_ADMIN","CAP_BPF"]}}]}"#;
    let names = |t: &Target| load_ok(text, t).rules.iter().map(|r| r.names[0].clone()).collect::<Vec<_>>();
    assert_eq!(load_ok(text, &X86_ALL).arches, [Arch::X86_64, Arch::X32]);
    assert_eq!(names(&X86_ALL), ["b", "e"]);
    assert_eq!(names(&Target { caps: 1 << 39, kernel: (5, 4), ..X86_NONE }), ["b", "d"]);
    let arm = Target { native: Arch::Aarch64, caps: 0, kernel: (6, 1) };
    assert_eq!(load_ok(text, &arm).arches, [Arch::Aarch64, Arch::Arm]);
    assert_eq!(names(&arm), ["a", "c", "f"]);
}

#[test]
fn supervise_decisions() {
    let rule = |spec: &str| {
        let text = format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{{"names":["x"],"action":"SCMP_ACT_NOTIFY","supervise":{spec}}}]}}"#
        );
        load_ok(&text, &X86_ALL).rules[0].decision.clone()
    };
    let prompt = |timeout_secs, on_timeout, errno| Decision::Prompt(PromptSpec { timeout_secs, on_timeout, errno });
    let cases = [
        (r#"{"decision":"allow"}"#, Decision::Allow),
        (r#"{"decision":"deny"}"#, Decision::Deny(Errno::EPERM)),
        (r#"{"decision":"deny","errnoRet":13}"#, Decision::Deny(Errno::EACCES)),
        (r#"{"decision":"deny","errnoRet":"EACCES"}"#, Decision::Deny(Errno::EACCES)),
        (r#"{"decision":"emulate","emulate":"clock-set"}"#, Decision::Emulate(Emulator::ClockSet)),
        (r#"{"decision":"prompt"}"#, prompt(30, OnTimeout::Deny, Errno::EPERM)),
        (
            r#"{"decision":"prompt","timeout":5,"onTimeout":"allow","errnoRet":2}"#,
            prompt(5, OnTimeout::Allow, Errno::ENOENT),
        ),
        (r#"{"decision":"allow","timeout":5}"#, Decision::Allow),
    ];
    for (spec, want) in cases {
        assert_eq!(rule(spec), Some(want), "{spec}");
    }
    let p = load_ok(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","supervise":{"decision":"deny","errnoRet":"EACCES"},
            "syscalls":[{"names":["x"],"action":"SCMP_ACT_NOTIFY"}],
            "flags":["SECCOMP_FILTER_FLAG_LOG"],"listenerPath":"/run/a.sock","listenerMetadata":"m"}"#,
        &X86_ALL,
    );
    assert_eq!((p.notify_default, p.rules[0].decision.clone()), (Decision::Deny(Errno::EACCES), None));
    assert_eq!(p.flags, ["SECCOMP_FILTER_FLAG_LOG"]);
    assert_eq!((p.listener_path.as_deref(), p.listener_metadata.as_deref()), (Some("/run/a.sock"), Some("m")));
}

#[test]
fn every_error_names_its_place_and_value() {
    let r = |rule: &str| {
        format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{{"names":["ok"],"action":"SCMP_ACT_LOG"}},{rule}]}}"#
        )
    };
    let n = |spec: &str| r(&format!(r#"{{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY","supervise":{spec}}}"#));
    let cases: Vec<(String, &str)> = vec![
        ("".into(), "p: empty policy file, expected a JSON object"),
        (" \n\t".into(), "p: empty policy file, expected a JSON object"),
        ("[1]".into(), "p: expected a JSON object at the top level, found an array"),
        ("{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n  \"syscalls\" []\n}".into(), "p:3:14: expected `:`"),
        (r#"{"defaultAction": 5}"#.into(), "p:1:19: invalid type: integer `5`, expected a string"),
        (r#"{"syscalls": []}"#.into(), "p: defaultAction: missing (every profile needs one"),
        (r#"{"defaultAction":"SCMP_ACT_FOO"}"#.into(), "p: defaultAction: unknown action \"SCMP_ACT_FOO\""),
        (r#"{"defaultAction":"scmp_act_allow"}"#.into(), "did you mean \"SCMP_ACT_ALLOW\"?"),
        (r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#.into(), "p: defaultAction: SCMP_ACT_NOTIFY cannot be the default action"),
        (r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":0}"#.into(), "p: defaultErrnoRet: 0 is not an errno"),
        (r#"{"defaultAction":"SCMP_ACT_ALLOW","defaultErrnoRet":-1}"#.into(), "p: defaultErrnoRet: -1 is negative"),
        (r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["amd64","z80"]}"#.into(), "p: architectures[1]: unknown architecture \"z80\""),
        (r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["amd64"],"archMap":[{"architecture":"amd64"}]}"#.into(), "p: archMap: both"),
        (r#"{"defaultAction":"SCMP_ACT_ALLOW","archMap":[{"architecture":"z80"}]}"#.into(), "p: archMap[0].architecture: unknown architecture \"z80\""),
        (r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_FOO"]}"#.into(), "p: flags[0]: unknown flag \"SECCOMP_FILTER_FLAG_FOO\""),
        (r(r#"{"names":["mkdir","rmdir"],"action":"SCMP_ACT_FOO"}"#), "p: syscalls[1] (mkdir, rmdir): unknown action \"SCMP_ACT_FOO\""),
        (r(r#"{"names":["mkdir","rmdir"]}"#), "p: syscalls[1] (mkdir, rmdir): missing \"action\""),
        (r(r#"{"action":"SCMP_ACT_ALLOW"}"#), "p: syscalls[1]: names: no syscall names"),
        (r(r#"{"names":[],"action":"SCMP_ACT_ALLOW"}"#), "p: syscalls[1]: names: no syscall names"),
        (r(r#"{"names":["a"],"name":"b","action":"SCMP_ACT_ALLOW"}"#), "p: syscalls[1] (a, b): name: both"),
        (r(r#"{"names":["x"],"action":"SCMP_ACT_ERRNO","errnoRet":0}"#), "p: syscalls[1] (x): errnoRet: 0 is not an errno"),
        (r(r#"{"names":["x"],"action":"SCMP_ACT_ERRNO","errnoRet":70000}"#), "p: syscalls[1] (x): errnoRet: 70000 is out of range"),
        (r(r#"{"names":["x"],"action":"SCMP_ACT_ERRNO","errnoRet":"EFOO"}"#), "p: syscalls[1] (x): errnoRet: unknown errno name \"EFOO\""),
        (r(r#"{"names":["x"],"action":"SCMP_ACT_ERRNO","errnoRet":1.5}"#), "p: syscalls[1] (x): errnoRet: 1.5 is not an integer"),
        (r(r#"{"names":["x"],"action":"SCMP_ACT_ERRNO","errnoRet":1,"errno":"EACCES"}"#), "p: syscalls[1] (x): errno: \"EACCES\" disagrees with errnoRet 1"),
        (r(r#"{"names":["x"],"action":"SCMP_ACT_TRACE","errnoRet":65536}"#), "p: syscalls[1] (x): errnoRet: 65536 is out of range for SCMP_ACT_TRACE"),
        (r(r#"{"names":["x"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_FOO"}]}"#), "p: syscalls[1] (x): args[0].op: unknown operator \"SCMP_CMP_FOO\""),
        (r(r#"{"names":["x"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1}]}"#), "p: syscalls[1] (x): args[0].op: missing"),
        (r(r#"{"names":["x"],"action":"SCMP_ACT_ALLOW","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}"#), "p: syscalls[1] (x): args[0].index: 6 is out of range"),
        (r(r#"{"names":["x"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":-1,"op":"SCMP_CMP_EQ"}]}"#), "p: syscalls[1] (x): args[0].value: -1 is negative"),
        (r(r#"{"names":["x"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"valueTwo":"1","op":"SCMP_CMP_EQ"}]}"#), "p: syscalls[1] (x): args[0].valueTwo: expected a number, found the string \"1\""),
        (r(r#"{"names":["x"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["z80"]}}"#), "p: syscalls[1] (x): includes.arches[0]: unknown architecture \"z80\""),
        (r(r#"{"names":["x"],"action":"SCMP_ACT_ALLOW","excludes":{"caps":["CAP_FOO"]}}"#), "p: syscalls[1] (x): excludes.caps[0]: unknown capability \"CAP_FOO\""),
        (r(r#"{"names":["x"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"4"}}"#), "p: syscalls[1] (x): includes.minKernel: invalid kernel version \"4\""),
        (n(r#"{"decision":"allow","color":"red"}"#), "p: syscalls[1] (mkdir): supervise: unknown key \"color\""),
        (n(r#"{"decision":"emulate"}"#), "p: syscalls[1] (mkdir): supervise.emulate: missing"),
        (n(r#"{"decision":"emulate","emulate":"time-travel"}"#), "p: syscalls[1] (mkdir): supervise.emulate: unknown emulator \"time-travel\""),
        (n(r#"{"decision":"maybe"}"#), "p: syscalls[1] (mkdir): supervise.decision: unknown decision \"maybe\""),
        (n(r#"{}"#), "p: syscalls[1] (mkdir): supervise.decision: missing"),
        (n(r#"{"decision":"prompt","onTimeout":"ask"}"#), "p: syscalls[1] (mkdir): supervise.onTimeout: unknown value \"ask\""),
        (n(r#"{"decision":"prompt","timeout":0}"#), "p: syscalls[1] (mkdir): supervise.timeout: 0 is not a positive number"),
        (n(r#"{"decision":"deny","errnoRet":4096}"#), "p: syscalls[1] (mkdir): supervise.errnoRet: 4096 is out of range (1..=4095)"),
        (n(r#"{"decision":"deny","errnoRet":0}"#), "p: syscalls[1] (mkdir): supervise.errnoRet: 0 is not an errno"),
        (r(r#"{"names":["x"],"action":"SCMP_ACT_ALLOW","supervise":{"decision":"allow"}}"#), "p: syscalls[1] (x): supervise: only applies to SCMP_ACT_NOTIFY rules, and this rule's action is \"SCMP_ACT_ALLOW\""),
        (r#"{"defaultAction":"SCMP_ACT_ALLOW","supervise":{"decision":"nope"}}"#.into(), "p: supervise.decision: unknown decision \"nope\""),
        (format!("{}1{}", "[".repeat(200), "]".repeat(200)), "p:1:128: recursion limit exceeded"),
    ];
    for (text, want) in cases {
        let got = errors(&text);
        assert!(
            got.iter().any(|e| if want.starts_with("p:") { e.starts_with(want) } else { e.contains(want) }),
            "{text}\n  want {want}\n  got  {got:?}"
        );
    }
}

#[test]
fn all_errors_are_reported_not_just_the_first() {
    let text = r#"{"defaultAction":"SCMP_ACT_NOPE","architectures":["z80"],"syscalls":[
        {"names":["a"],"action":"SCMP_ACT_FOO"},{"names":["b"]},
        {"names":["c"],"action":"SCMP_ACT_ALLOW","args":[{"index":9,"value":-2,"op":"X"}]}]}"#;
    let errs = load(text, &X86_ALL).unwrap_err();
    let rules: Vec<Option<usize>> = errs.iter().map(PolicyError::rule_index).collect();
    assert_eq!(rules, [None, None, Some(0), Some(1), Some(2), Some(2), Some(2)], "{errs:?}");
    let syntax = parse("{\"a\": }").unwrap_err();
    assert_eq!(syntax[0].line_col(), Some((1, 7)));
    let strict = parse(r#"{"syscalls":[{"supervise":{"a":1,"b":2}}],"supervise":{"c":3}}"#).unwrap_err();
    assert_eq!(strict.len(), 3, "{strict:?}");
}

#[test]
fn unknown_keys_are_kept_for_check() {
    let p = parse(r#"{"defaultAction":"SCMP_ACT_ALLOW","futureKey":1,"syscalls":[{"names":["a"],"action":"SCMP_ACT_ALLOW","acton":2}]}"#).unwrap();
    let keys: Vec<String> = p.unknown_keys().iter().map(ToString::to_string).collect();
    assert_eq!(keys, ["unknown key \"futureKey\"", "syscalls[0]: unknown key \"acton\" (did you mean \"action\"?)"]);
    assert!(p.resolve(&X86_ALL).is_ok());
}

#[test]
fn records_round_trip_through_the_model() {
    let mut profile = Profile::new(Action::Errno(Errno::EPERM));
    let mut rule = SyscallRule::new(["mkdir"], Action::Notify);
    rule.supervise =
        Some(SuperviseSpec { decision: Some("deny".into()), errno_ret: Some(13.into()), ..Default::default() });
    profile.syscalls = Some(vec![SyscallRule::new(["read", "write"], Action::Allow), rule]);
    let policy = load_ok(&profile.to_json_pretty(), &X86_ALL);
    assert_eq!(policy.rules[1].decision, Some(Decision::Deny(Errno::EACCES)));
    assert_eq!(parse(&profile.to_json_pretty()).unwrap(), profile);
    let text = fixture("podman/default.json");
    let p = parse(&text).unwrap();
    assert_eq!(parse(&p.to_json_pretty()).unwrap(), p);
}

/// Profile-shaped JSON: known keys with plausible and implausible values.
fn profile_like() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{json, Value};
    let scalar = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        prop::sample::select(vec![
            "SCMP_ACT_ALLOW",
            "SCMP_ACT_ERRNO",
            "SCMP_ACT_NOTIFY",
            "SCMP_ACT_TRACE",
            "x",
            "",
            "EPERM",
            "4.8",
            "0.0",
            "amd64",
            "z80",
            "CAP_SYS_ADMIN",
            "SCMP_CMP_EQ",
            "allow",
            "prompt",
            "emulate",
            "clock-set",
            "deny",
        ])
        .prop_map(Value::from),
    ];
    let leaf = scalar.prop_recursive(3, 16, 4, |inner| prop::collection::vec(inner, 0..4).prop_map(Value::from));
    let keys = prop::sample::select(vec![
        "defaultAction",
        "defaultErrnoRet",
        "architectures",
        "archMap",
        "architecture",
        "subArchitectures",
        "syscalls",
        "names",
        "name",
        "action",
        "errnoRet",
        "errno",
        "args",
        "index",
        "value",
        "valueTwo",
        "op",
        "includes",
        "excludes",
        "arches",
        "caps",
        "minKernel",
        "supervise",
        "decision",
        "emulate",
        "timeout",
        "onTimeout",
        "flags",
        "other",
    ]);
    leaf.prop_recursive(4, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(keys.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
    .prop_map(|v| match v {
        Value::Object(_) => v,
        other => json!({ "defaultAction": "SCMP_ACT_ALLOW", "syscalls": [ { "names": ["a"], "action": other } ] }),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}") {
        let _ = load(&text, &X86_ALL);
    }

    #[test]
    fn arbitrary_profile_like_json_never_panics(value in profile_like()) {
        let text = value.to_string();
        for target in [&X86_ALL, &X86_NONE] {
            match load(&text, target) {
                Ok(policy) => prop_assert_eq!(policy.arches[0], target.native),
                Err(errs) => prop_assert!(!errs.is_empty()),
            }
        }
    }
}

#[test]
fn repeated_keys_in_any_case_mean_what_they_mean_to_docker() {
    // Go matches keys case-insensitively and the last one wins: KILL, not the weaker ALLOW.
    let text = r#"{"DEFAULTACTION":"SCMP_ACT_ALLOW","defaultaction":"SCMP_ACT_KILL"}"#;
    assert_eq!(load_ok(text, &X86_ALL).default_action, Action::KillThread);
    let p = parse(text).unwrap();
    let dups: Vec<String> = p.duplicate_keys().iter().map(ToString::to_string).collect();
    assert_eq!(
        dups,
        ["key \"defaultaction\" is written 2 times (\"DEFAULTACTION\", \"defaultaction\"); the last one wins"]
    );
    // The other order, and an exact repeat.
    let text = r#"{"defaultAction":"SCMP_ACT_KILL","DefaultAction":"SCMP_ACT_ALLOW","defaultAction":"SCMP_ACT_LOG"}"#;
    assert_eq!(load_ok(text, &X86_ALL).default_action, Action::Log);
    assert_eq!(parse(text).unwrap().duplicate_keys()[0].keys, ["defaultAction", "DefaultAction", "defaultAction"]);
    // Go's Unicode folding: the long s is an s, the Kelvin sign a k.
    let text = "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"\u{17f}yscalls\":[{\"names\":[\"mkdir\"],\"action\":\"SCMP_ACT_\u{212a}ILL\"}]}";
    assert!(load(text, &X86_ALL).is_err(), "values are not folded");
    let text = "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"\u{17f}yscalls\":[{\"names\":[\"mkdir\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":1,\"\u{212a}\":0}]}";
    let policy = load_ok(text, &X86_ALL);
    assert_eq!(policy.rules.len(), 1, "\u{17f}yscalls is syscalls to Go");
    // No duplicates: nothing to report.
    assert!(parse(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#).unwrap().duplicate_keys().is_empty());
}

#[test]
fn repeated_objects_and_arrays_merge_as_go_decodes_them() {
    // The second `syscalls` is decoded into the first: rule 0 keeps the action and errno the second one lacks.
    let text = r#"{"defaultAction":"SCMP_ACT_ALLOW",
        "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":38},{"names":["rmdir"],"action":"SCMP_ACT_ERRNO"}],
        "Syscalls":[{"names":["chdir"]}]}"#;
    let policy = load_ok(text, &X86_ALL);
    assert_eq!(policy.rules.len(), 1, "the length is the last one's");
    assert_eq!(policy.rules[0].names, ["chdir"]);
    assert_eq!(policy.rules[0].action, Action::Errno(Errno::new(38).unwrap()));
    let p = parse(text).unwrap();
    assert_eq!(p.duplicate_keys()[0].place, "");
    // Inside a rule: the place and rule index are kept, and the values merge as well.
    let text = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ALLOW"},
        {"names":["rmdir"],"action":"SCMP_ACT_ALLOW","Action":"SCMP_ACT_KILL"}]}"#;
    assert_eq!(load_ok(text, &X86_ALL).rules[1].action, Action::KillThread);
    let parsed = parse(text).unwrap();
    let dup = &parsed.duplicate_keys()[0];
    assert_eq!((dup.place.as_str(), dup.rule), ("syscalls[1]", Some(1)));
    assert_eq!(
        dup.to_string(),
        "syscalls[1]: key \"Action\" is written 2 times (\"action\", \"Action\"); the last one wins"
    );
    // `supervise` is ours: case-sensitive, so `Decision` stays an unknown key (an error), not a repeat.
    let text = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY",
        "supervise":{"decision":"allow","Decision":"deny"}}]}"#;
    assert!(errors(text).iter().any(|e| e.contains("unknown key \"Decision\"")), "{:?}", errors(text));
}

#[test]
fn address_matchers_load_on_socket_syscalls_only() {
    let rule = |names: &str, spec: &str| {
        format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{{"names":{names},"action":"SCMP_ACT_NOTIFY","supervise":{spec}}}]}}"#
        )
    };
    let p = load_ok(
        &rule(
            r#"["connect","sendto","sendmsg"]"#,
            r#"{"decision":"allow","addresses":["127.0.0.0/8","::1","[::1]:8000-8100","unix:/run/**","abstract:foo*"],
                "families":["inet","inet6","unix"],"socketTypes":["stream","dgram"],"exe":["/usr/bin/curl"]}"#,
        ),
        &X86_ALL,
    );
    let net = &p.rules[0].matchers.net;
    assert_eq!((net.addresses.len(), net.families.len(), net.socket_types.len()), (5, 3, 2));
    assert!(!p.rules[0].matchers.is_empty() && p.rules[0].matchers.exe == ["/usr/bin/curl"]);
    let lo = crate::net::Address::V4 { ip: std::net::Ipv4Addr::LOCALHOST, port: 80, mapped: false };
    assert!(net.matches(&lo, crate::net::SockType::Stream));
    assert!(!net.matches(&lo, crate::net::SockType::Raw));
    for names in [r#"["bind"]"#, r#"["accept","accept4"]"#, r#"["sendmmsg"]"#] {
        load_ok(&rule(names, r#"{"decision":"deny","socketTypes":["raw"]}"#), &X86_ALL);
    }
    let cases = [
        (
            rule(r#"["connect","listen"]"#, r#"{"decision":"allow","addresses":["127.0.0.1"]}"#),
            "p: syscalls[0] (connect, listen): supervise.addresses: \"listen\" has no socket address, so a \"addresses\" matcher cannot decide it (they apply to connect, bind, sendto, sendmsg, sendmmsg, accept, accept4)",
        ),
        (
            rule(r#"["openat"]"#, r#"{"decision":"allow","socketTypes":["stream"]}"#),
            "p: syscalls[0] (openat): supervise.socketTypes: \"openat\" has no socket address",
        ),
        (
            rule(r#"["connect"]"#, r#"{"decision":"allow","addresses":["127.0.0.1","localhost"]}"#),
            "p: syscalls[0] (connect): supervise.addresses[1]: \"localhost\" is not an address: host names are not resolved",
        ),
        (
            rule(r#"["connect"]"#, r#"{"decision":"allow","addresses":["10.1.0.0/8:443"]}"#),
            "p: syscalls[0] (connect): supervise.addresses[0]: \"10.1.0.0/8:443\": the range 10.1.0.0/8 has host bits set; did you mean 10.0.0.0/8?",
        ),
        (
            rule(r#"["connect"]"#, r#"{"decision":"allow","families":["ipv4"]}"#),
            "p: syscalls[0] (connect): supervise.families[0]: unknown family \"ipv4\" (did you mean \"inet\"?)",
        ),
        (
            rule(r#"["connect"]"#, r#"{"decision":"allow","socketTypes":["udp"]}"#),
            "p: syscalls[0] (connect): supervise.socketTypes[0]: unknown socket type \"udp\" (did you mean \"dgram\"?)",
        ),
        (
            rule(r#"["connect"]"#, r#"{"decision":"allow","addresses":["unix:/x"],"families":["inet"]}"#),
            "p: syscalls[0] (connect): supervise.families: no entry of \"addresses\" is of these families",
        ),
        (
            rule(r#"["connect"]"#, r#"{"decision":"allow","adresses":["127.0.0.1"]}"#),
            "p: syscalls[0] (connect): supervise: unknown key \"adresses\" (did you mean \"addresses\"?",
        ),
        (rule(r#"["connect"]"#, r#"{"decision":"allow","addresses":"127.0.0.1"}"#), "p:1:"),
    ];
    for (text, want) in cases {
        let got = errors(&text);
        assert!(got.iter().any(|e| e.starts_with(want)), "{text}\n  want {want}\n  got  {got:?}");
    }
    // One error per mistake: two bad entries, two errors, and nothing about the syscall.
    let got = errors(&rule(r#"["connect"]"#, r#"{"decision":"allow","addresses":["a.b","1.2.3.4:0-"]}"#));
    assert_eq!(got.len(), 2, "{got:?}");
}

#[test]
fn the_profiles_in_the_policy_format_doc_load() {
    let path = format!("{}/../docs/policy-format.md", env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let blocks: Vec<&str> = doc.split("```json").skip(1).filter_map(|b| b.split("```").next()).collect();
    let profiles: Vec<&str> = blocks.into_iter().filter(|b| b.contains("\"defaultAction\"")).collect();
    assert!(profiles.len() >= 3, "{profiles:?}");
    for text in profiles {
        let p = load_ok(text, &X86_ALL);
        assert!(!p.rules.is_empty(), "{text}");
    }
}
