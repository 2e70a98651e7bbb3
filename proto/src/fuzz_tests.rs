//! Property tests with hostile input: the policy parser and resolver
//! ([`crate::profile::parse`], [`crate::profile::Profile::resolve`]) and the wire format ([`crate::wire::Hello`])
//! never panic, and every error is one clean line with its place.
//!
//! The generators build profile-shaped JSON whose values are chosen to hurt: errnos 0, 4095, 4096, 2^64 and names,
//! negative and huge `index`/`value`, up to 70 `args` entries, unknown keys at every level, bad globs, odd kernel
//! versions, non-ASCII and control characters, and nesting deeper than serde_json's limit.
//!
//! CI (`./x test`, a release build) runs 4,000 cases per property, a debug build 1,000. The long run sets
//! `PROPTEST_CASES` (1,000,000 cases of every property took 570 s on a 2-CPU machine):
//!
//! ```text
//! PROPTEST_CASES=1000000 cargo test --release -p supervise-proto fuzz_tests
//! ```

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use crate::profile::{load, parse, Target, ACTIONS, CAPABILITIES, FILTER_FLAGS, MAX_ARGS_PER_RULE, OPERATORS};
use crate::wire::{Hello, HELLO_LEN, MAGIC, VERSION};
use crate::{Action, Arch, Policy};

/// Cases per property: `PROPTEST_CASES`, or 4,000 in an optimised build (CI runs `cargo test --release`) and 1,000
/// in a debug build, which is about ten times slower.
fn config() -> ProptestConfig {
    let default = if cfg!(debug_assertions) { 1000 } else { 4000 };
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

const TARGETS: [Target; 3] = [
    Target { native: Arch::X86_64, caps: Target::ALL_CAPS, kernel: (6, 18) },
    Target { native: Arch::X86_64, caps: 0, kernel: (3, 10) },
    Target { native: Arch::Aarch64, caps: 1 << 21, kernel: (5, 4) },
];

/// A string from `pool` most of the time, otherwise arbitrary text (including control characters).
fn word(pool: &'static [&'static str]) -> BoxedStrategy<String> {
    prop_oneof![
        6 => prop::sample::select(pool).prop_map(String::from),
        1 => "\\PC{0,12}",
        1 => "[\\x00-\\x1f\"\\\\/é∂🦀]{0,4}",
    ]
    .boxed()
}

fn words(pool: &'static [&'static str], max: usize) -> BoxedStrategy<Value> {
    prop_oneof![
        8 => prop::collection::vec(word(pool), 0..max).prop_map(|v| json!(v)),
        1 => hostile_number(),
    ]
    .boxed()
}

/// Numbers and would-be numbers that sit on every boundary the resolver checks.
fn hostile_number() -> BoxedStrategy<Value> {
    prop_oneof![
        4 => prop::sample::select(vec![
            json!(0), json!(1), json!(5), json!(6), json!(13), json!(448), json!(4094), json!(4095), json!(4096),
            json!(65535), json!(65536), json!(-1), json!(i64::MIN), json!(i64::MAX), json!(u64::MAX),
            json!(u32::MAX), json!(u64::from(u32::MAX) + 1), json!(1.5), json!(-0.0), json!(1e300), json!("EPERM"),
            json!("eacces"), json!("EFOO"), json!(""), json!("13"), json!("-1"), json!("4096"), json!(null),
            json!(true), json!([]), json!({}), json!([1, 2]),
        ]),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
    ]
    .boxed()
}

/// An object from optional entries, plus sometimes an unknown key.
fn object(entries: Vec<(&'static str, Option<Value>)>, unknown: Option<(String, Value)>) -> Value {
    let mut map: Map<String, Value> = entries.into_iter().filter_map(|(k, v)| Some((k.to_string(), v?))).collect();
    if let Some((key, value)) = unknown {
        map.insert(key, value);
    }
    Value::Object(map)
}

fn unknown_key() -> BoxedStrategy<Option<(String, Value)>> {
    prop::option::weighted(0.2, (word(&["bogus", "Names", "ACTION", "x-future", "", "supervise "]), hostile_number()))
        .boxed()
}

const SYSCALLS: &[&str] = &[
    "connect",
    "sendto",
    "mkdir",
    "mkdirat",
    "getppid",
    "clock_settime",
    "openat",
    "execve",
    "read",
    "write",
    "exit_group",
    "mkdri",
    "socket",
    "personality",
    "clone",
    "s390_pci_mmio_read",
    "arch_prctl",
    "",
    "MKDIR",
    "mkdir ",
];
const ARCHES: &[&str] = &[
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_ARM",
    "amd64",
    "x86_64",
    "i386",
    "arm64",
    "s390x",
    "SCMP_ARCH_Z80",
    "",
    "x86-64",
];
const KERNELS: &[&str] = &["", "4.8", "5.19", "6.18", "99.99", "4", "a.b", "4.8.1", "-1.0", "4294967296.0", " 4.8"];
const DECISIONS: &[&str] = &["allow", "deny", "emulate", "prompt", "", "ALLOW", "maybe"];
const ADDRESSES: &[&str] = &[
    "127.0.0.0/8",
    "::1",
    "[::1]:80-90",
    "*:443",
    "10.0.0.1/8",
    "1.2.3.4:9-1",
    "unix:/run/**",
    "unix:x",
    "abstract:",
    "abstract:a*",
    "localhost",
    "[::1",
    "",
    "::ffff:10.0.0.0/104",
    "0.0.0.0/0:0",
];
const FAMILIES: &[&str] = &["inet", "inet6", "unix", "ipv4", ""];
const SOCKET_TYPES: &[&str] = &["stream", "dgram", "raw", "seqpacket", "tcp"];
const GLOBS: &[&str] = &["/tmp/**", "/", "**", "relative", "[", "/a/{b", "", "/x/*/y", "\\", "/tmp/[!a]", "/**/x"];

fn any_of(pool: &'static [&'static str]) -> BoxedStrategy<Value> {
    word(pool).prop_map(Value::from).boxed()
}

fn actions() -> &'static [&'static str] {
    static ALL: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| ACTIONS.iter().copied().chain(["SCMP_ACT_KILL", "SCMP_ACT_MAYBE", "allow", ""]).collect())
}

fn operators() -> &'static [&'static str] {
    static ALL: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| OPERATORS.iter().map(|(n, _)| *n).chain(["SCMP_CMP_XX", "=="]).collect())
}

fn capabilities() -> &'static [&'static str] {
    static ALL: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| CAPABILITIES.iter().copied().chain(["CAP_FOO", "cap_sys_admin", "SYS_TIME"]).collect())
}

fn flags() -> &'static [&'static str] {
    static ALL: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| FILTER_FLAGS.iter().copied().chain(["SECCOMP_FILTER_FLAG_NOPE"]).collect())
}

fn arg() -> impl Strategy<Value = Value> {
    let ops = operators();
    (
        prop::option::weighted(0.9, hostile_number()),
        prop::option::weighted(0.9, hostile_number()),
        prop::option::weighted(0.3, hostile_number()),
        prop::option::weighted(0.9, any_of(ops)),
        unknown_key(),
    )
        .prop_map(|(index, value, value_two, op, unknown)| {
            object(vec![("index", index), ("value", value), ("valueTwo", value_two), ("op", op)], unknown)
        })
}

fn args() -> BoxedStrategy<Value> {
    prop_oneof![
        6 => prop::collection::vec(arg(), 0..4),
        1 => prop::collection::vec(arg(), 60..70),
    ]
    .prop_map(Value::from)
    .boxed()
}

fn filter() -> impl Strategy<Value = Value> {
    let caps = capabilities();
    (
        prop::option::weighted(0.5, words(ARCHES, 3)),
        prop::option::weighted(0.5, words(caps, 3)),
        prop::option::weighted(0.5, any_of(KERNELS)),
        unknown_key(),
    )
        .prop_map(|(arches, caps, min_kernel, unknown)| {
            object(vec![("arches", arches), ("caps", caps), ("minKernel", min_kernel)], unknown)
        })
}

fn ids() -> BoxedStrategy<Value> {
    prop_oneof![hostile_number(), prop::collection::vec(hostile_number(), 0..3).prop_map(Value::from)].boxed()
}

fn supervise_spec() -> impl Strategy<Value = Value> {
    (
        (
            prop::option::weighted(0.9, any_of(DECISIONS)),
            prop::option::weighted(0.4, hostile_number()),
            prop::option::weighted(0.3, any_of(&["clock-set", "", "x"])),
            prop::option::weighted(0.3, hostile_number()),
            prop::option::weighted(0.3, any_of(&["allow", "deny", "x"])),
        ),
        (
            prop::option::weighted(0.3, words(GLOBS, 3)),
            prop::option::weighted(0.2, words(GLOBS, 2)),
            prop::option::weighted(0.2, ids()),
            prop::option::weighted(0.2, ids()),
            unknown_key(),
        ),
        (
            prop::option::weighted(0.2, words(ADDRESSES, 3)),
            prop::option::weighted(0.1, words(FAMILIES, 2)),
            prop::option::weighted(0.1, words(SOCKET_TYPES, 2)),
        ),
    )
        .prop_map(
            |(
                (decision, errno_ret, emulate, timeout, on_timeout),
                (paths, exe, uid, gid, unknown),
                (addresses, families, socket_types),
            )| {
                object(
                    vec![
                        ("decision", decision),
                        ("errnoRet", errno_ret),
                        ("emulate", emulate),
                        ("timeout", timeout),
                        ("onTimeout", on_timeout),
                        ("paths", paths),
                        ("exe", exe),
                        ("uid", uid),
                        ("gid", gid),
                        ("addresses", addresses),
                        ("families", families),
                        ("socketTypes", socket_types),
                    ],
                    unknown,
                )
            },
        )
}

fn rule() -> impl Strategy<Value = Value> {
    let actions = actions();
    (
        (
            prop::option::weighted(0.9, words(SYSCALLS, 4)),
            prop::option::weighted(0.1, any_of(SYSCALLS)),
            prop::option::weighted(0.95, any_of(actions)),
            prop::option::weighted(0.3, hostile_number()),
            prop::option::weighted(0.1, any_of(&["EPERM", "ENOSYS", "EFOO", ""])),
        ),
        (
            prop::option::weighted(0.4, args()),
            prop::option::weighted(0.2, filter()),
            prop::option::weighted(0.2, filter()),
            prop::option::weighted(0.4, supervise_spec()),
            unknown_key(),
        ),
    )
        .prop_map(|((names, name, action, errno_ret, errno), (args, includes, excludes, supervise, unknown))| {
            object(
                vec![
                    ("names", names),
                    ("name", name),
                    ("action", action),
                    ("errnoRet", errno_ret),
                    ("errno", errno),
                    ("args", args),
                    ("includes", includes),
                    ("excludes", excludes),
                    ("supervise", supervise),
                ],
                unknown,
            )
        })
}

fn profile() -> impl Strategy<Value = Value> {
    let actions = actions();
    let flags = flags();
    let arch_map = prop::collection::vec(
        (prop::option::of(any_of(ARCHES)), prop::option::of(words(ARCHES, 3)))
            .prop_map(|(a, subs)| object(vec![("architecture", a), ("subArchitectures", subs)], None)),
        0..3,
    );
    (
        (
            prop::option::weighted(0.95, any_of(actions)),
            prop::option::weighted(0.3, hostile_number()),
            prop::option::weighted(0.1, any_of(&["ENOSYS", "EFOO"])),
            prop::option::weighted(0.5, words(ARCHES, 4)),
            prop::option::weighted(0.2, arch_map.prop_map(Value::from)),
        ),
        (
            prop::option::weighted(0.2, words(flags, 3)),
            prop::option::weighted(0.1, any_of(&["/run/s.sock", ""])),
            prop::option::weighted(0.2, supervise_spec()),
            prop::option::weighted(0.9, prop::collection::vec(rule(), 0..8).prop_map(Value::from)),
            unknown_key(),
        ),
    )
        .prop_map(
            |((default, errno_ret, errno, arches, arch_map), (flags, listener, supervise, syscalls, unknown))| {
                object(
                    vec![
                        ("defaultAction", default),
                        ("defaultErrnoRet", errno_ret),
                        ("defaultErrno", errno),
                        ("architectures", arches),
                        ("archMap", arch_map),
                        ("flags", flags),
                        ("listenerPath", listener),
                        ("supervise", supervise),
                        ("syscalls", syscalls),
                    ],
                    unknown,
                )
            },
        )
}

/// Every error line is one clean line that starts with the file name.
fn check_errors(text: &str, errors: &[crate::profile::PolicyError]) -> Result<(), TestCaseError> {
    prop_assert!(!errors.is_empty(), "an Err without errors for {}", text);
    for e in errors {
        let line = e.in_file("p.json");
        prop_assert!(line.starts_with("p.json:") && !line.contains('\n'), "not one line: {:?}", line);
        prop_assert!(!e.message().trim().is_empty(), "an empty message: {:?}", line);
    }
    Ok(())
}

/// What a resolved policy always satisfies.
fn check_policy(policy: &Policy, target: &Target, rules_in_text: usize) -> Result<(), TestCaseError> {
    prop_assert_eq!(policy.arches.first(), Some(&target.native));
    let distinct: std::collections::HashSet<_> = policy.arches.iter().collect();
    prop_assert_eq!(distinct.len(), policy.arches.len(), "duplicate arches: {:?}", policy.arches);
    for rule in &policy.rules {
        prop_assert!(rule.index < rules_in_text, "rule index {} of {}", rule.index, rules_in_text);
        prop_assert!(rule.args.len() <= MAX_ARGS_PER_RULE);
        prop_assert!(rule.args.iter().all(|a| a.index <= 5), "{:?}", rule.args);
        if rule.decision.is_some() {
            prop_assert_eq!(rule.action, Action::Notify, "a decision on a rule that never notifies");
        }
    }
    Ok(())
}

fn outcome(text: &str, target: &Target) -> Result<Policy, Vec<String>> {
    load(text, target).map_err(|errs| errs.iter().map(|e| e.in_file("p")).collect())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fuzz_profiles_never_panic_and_errors_are_clean(value in profile()) {
        let text = value.to_string();
        let rules_in_text = value.get("syscalls").and_then(Value::as_array).map_or(0, Vec::len);
        match parse(&text) {
            Err(errors) => check_errors(&text, &errors)?,
            Ok(profile) => {
                for target in &TARGETS {
                    match profile.resolve(target) {
                        Err(errors) => check_errors(&text, &errors)?,
                        Ok(policy) => check_policy(&policy, target, rules_in_text)?,
                    }
                }
                // The model writes back what it read: the same text means the same thing.
                let again = profile.to_json_pretty();
                let mut without_unknown = profile.clone();
                without_unknown.unknown.clear();
                without_unknown.duplicates.clear();
                prop_assert_eq!(parse(&again).map_err(|e| format!("{e:?}")), Ok(without_unknown));
                prop_assert_eq!(outcome(&text, &TARGETS[0]), outcome(&again, &TARGETS[0]));
            }
        }
    }

    #[test]
    fn fuzz_pretty_and_compact_json_mean_the_same(value in profile()) {
        let compact = value.to_string();
        let pretty = serde_json::to_string_pretty(&value).expect("a Value serializes");
        // Places differ (line:column), so compare successes and the number of errors.
        let (a, b) = (outcome(&compact, &TARGETS[1]), outcome(&pretty, &TARGETS[1]));
        prop_assert_eq!(a.as_ref().ok(), b.as_ref().ok());
        prop_assert_eq!(a.err().map(|e| e.len()), b.err().map(|e| e.len()));
    }

    #[test]
    fn fuzz_deep_nesting_is_an_error_not_a_crash(depth in 1usize..400, arrays in any::<bool>(), at in 0usize..3) {
        let (open, close) = if arrays { ("[", "]") } else { ("{\"a\":", "}") };
        let nested = format!("{}1{}", open.repeat(depth), close.repeat(depth));
        let text = match at {
            0 => format!(r#"{{"defaultAction":"SCMP_ACT_ALLOW","comment":{nested}}}"#),
            1 => format!(r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{{"names":["a"],"action":{nested}}}]}}"#),
            _ => format!(r#"{{"defaultAction":"SCMP_ACT_ALLOW","x":{nested}}}"#),
        };
        match parse(&text) {
            Err(errors) => check_errors(&text, &errors)?,
            Ok(profile) => {
                prop_assert!(depth < 128, "{} levels parsed", depth);
                let _ = profile.resolve(&TARGETS[0]);
            }
        }
    }

    #[test]
    fn fuzz_arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        if let Err(errors) = load(&text, &TARGETS[0]) {
            check_errors(&text, &errors)?;
        }
    }

    #[test]
    fn fuzz_hello_decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        let _ = Hello::decode(&bytes);
    }

    #[test]
    fn fuzz_hello_round_trips(pid in any::<u32>(), has_listener in any::<bool>()) {
        let hello = Hello { pid, has_listener };
        prop_assert_eq!(Hello::decode(&hello.encode()), Ok(hello));
    }

    #[test]
    fn fuzz_hello_decodes_only_canonical_messages(
        bytes in prop_oneof![
            prop::array::uniform12(any::<u8>()),
            (any::<u32>(), any::<u16>(), 0usize..12, any::<u8>()).prop_map(|(pid, flags, at, byte)| {
                // A valid header with arbitrary flags, and one byte changed somewhere.
                let mut b = [0u8; HELLO_LEN];
                b[..4].copy_from_slice(&MAGIC);
                b[4..6].copy_from_slice(&VERSION.to_le_bytes());
                b[6..8].copy_from_slice(&(flags % 3).to_le_bytes());
                b[8..].copy_from_slice(&pid.to_le_bytes());
                b[at] = byte;
                b
            }),
        ]
    ) {
        // Whatever decodes encodes back to the same bytes: no two encodings of one message.
        if let Ok(hello) = Hello::decode(&bytes) {
            prop_assert_eq!(hello.encode(), bytes);
        }
    }
}

/// Found by `fuzz_profiles_never_panic_and_errors_are_clean`: a syscall name with a newline split the error line,
/// and a terminal escape in a name reached the terminal as is.
#[test]
fn errors_with_control_characters_stay_one_line() {
    let text =
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["\n"]},{"names":["\u001b[2J"],"action":"X"}]}"#;
    let errors = load(text, &TARGETS[0]).unwrap_err();
    for e in &errors {
        let line = e.in_file("p.json");
        assert!(!line.contains('\n') && !line.contains('\u{1b}'), "{line:?}");
    }
    assert!(errors.iter().any(|e| e.in_file("p").contains(r"(\n)")), "{errors:?}");
    assert!(errors.iter().any(|e| e.in_file("p").contains(r"\u{1b}[2J")), "{errors:?}");
}
