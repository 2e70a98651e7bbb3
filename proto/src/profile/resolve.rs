//! Resolution of a [`Profile`] into a [`Policy`] for one [`Target`]: actions with their errnos, architectures,
//! `includes`/`excludes`, argument conditions and `supervise` decisions. Every error is collected, with its place.
//!
//! The semantics follow moby (`profiles/seccomp/seccomp_linux.go`) and runc:
//! - A rule's `SCMP_ACT_ERRNO` without `errnoRet` fails with EPERM; `defaultErrnoRet` applies to the default action
//!   only. `SCMP_ACT_TRACE` without one passes EPERM (1) to the tracer, as runc does.
//! - `archMap`: the entry whose `architecture` is the native arch, with its `subArchitectures`. Listed arches the
//!   native kernel cannot run are dropped (a filter cannot cover them); the native arch is always first.
//! - `includes` holds when every listed condition holds (`arches` names the native arch, every cap is held, the
//!   kernel is at least `minKernel`); `excludes` removes the rule when any listed condition holds.

use serde_json::Value;

use super::error::{Here, PolicyError};
use super::model::{ArgSpec, Filter, Profile, SuperviseSpec, SyscallRule};
use super::names::{
    action_kind, arch_name, capability, case_hint, filter_errno, ActionKind, ACTIONS, CAPABILITIES, FILTER_FLAGS,
    OPERATORS,
};
use super::Target;
use crate::net::NetMatcher;
use crate::{Action, Arch, ArgCmp, CmpOp, Decision, Emulator, Errno, Matchers, OnTimeout, Policy, PromptSpec, Rule};

/// More `args` conditions than this in one rule is an error.
pub const MAX_ARGS_PER_RULE: usize = 64;
/// Seconds a prompt waits when `timeout` is not given.
pub const DEFAULT_PROMPT_TIMEOUT: u32 = 30;

pub(super) fn resolve(p: &Profile, target: &Target) -> Result<Policy, Vec<PolicyError>> {
    let mut errs = Vec::new();
    let top = Here::top();
    let default_action = default_action(p, &mut errs);
    let arches = arches(p, target, &mut errs);
    for (j, flag) in p.flags.iter().flatten().enumerate() {
        if !FILTER_FLAGS.contains(&flag.as_str()) {
            let message = format!("unknown flag {flag:?} (expected one of {})", FILTER_FLAGS.join(", "));
            errs.push(top.err(&format!("flags[{j}]"), message));
        }
    }
    let notify_default = p.supervise.as_ref().and_then(|s| decision(s, &top, &mut errs));
    let rules: Vec<Rule> = p.rules().enumerate().filter_map(|(i, r)| rule(i, r, target, &mut errs)).collect();
    match default_action {
        Some(default_action) if errs.is_empty() => Ok(Policy {
            default_action,
            arches,
            rules,
            notify_default: notify_default.unwrap_or(Decision::Deny(Errno::EPERM)),
            flags: p.flags.clone().unwrap_or_default(),
            listener_path: p.listener_path.clone(),
            listener_metadata: p.listener_metadata.clone(),
        }),
        _ => Err(errs),
    }
}

fn default_action(p: &Profile, errs: &mut Vec<PolicyError>) -> Option<Action> {
    let top = Here::top();
    let errno = errno_source(p.default_errno_ret.as_ref(), p.default_errno.as_deref(), "default", &top, errs);
    let Some(name) = p.default_action.as_deref() else {
        errs.push(top.err("defaultAction", "missing (every profile needs one, for example \"SCMP_ACT_ERRNO\")"));
        return None;
    };
    let action = action(name, errno, "defaultErrnoRet", &top, "defaultAction", errs)?;
    if action == Action::Notify {
        errs.push(
            top.err("defaultAction", "SCMP_ACT_NOTIFY cannot be the default action (libseccomp and runc refuse it)"),
        );
        return None;
    }
    Some(action)
}

/// The number given by `errnoRet` (or podman's name-only `errno`), validated as an errno-like value. `prefix` is
/// `"default"` for the profile's default, `""` for a rule.
fn errno_source(
    ret: Option<&Value>,
    name: Option<&str>,
    prefix: &str,
    here: &Here,
    errs: &mut Vec<PolicyError>,
) -> Option<u64> {
    let (ret_key, name_key) =
        if prefix.is_empty() { ("errnoRet", "errno") } else { ("defaultErrnoRet", "defaultErrno") };
    let from_ret = ret.and_then(|v| errno_number(v).map_err(|m| errs.push(here.err(ret_key, m))).ok());
    let from_name = name.and_then(|n| match Errno::parse(n) {
        Some(e) => Some(u64::from(e.get())),
        None => {
            errs.push(here.err(name_key, unknown_errno(n)));
            None
        }
    });
    if let (Some(r), Some(n), Some(written)) = (from_ret, from_name, name) {
        if r != n {
            errs.push(here.err(name_key, format!("{written:?} disagrees with {ret_key} {r}")));
        }
    }
    from_ret.or(from_name)
}

/// A number or errno name as a number: `13`, `"EACCES"`, `"13"`.
fn errno_number(v: &Value) -> Result<u64, String> {
    match v {
        Value::String(s) => match Errno::parse(s) {
            Some(e) => Ok(u64::from(e.get())),
            None if s.trim().parse::<i64>().is_ok() => Err(format!("{s} is out of range (1..=4095)")),
            None => Err(unknown_errno(s)),
        },
        other => uint(other),
    }
}

/// `unknown errno name "EACES" (did you mean "EACCES"?)`.
fn unknown_errno(name: &str) -> String {
    // Errno names are short and close to each other: one edit at most, two for long names.
    let limit = if name.len() >= 8 { 2 } else { 1 };
    let upper = name.trim().to_ascii_uppercase();
    let hint = Errno::names()
        .map(|known| (super::model::edit_distance(&upper, known), known))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map_or(String::new(), |(_, s)| format!(" (did you mean {s:?}?)"));
    format!("unknown errno name {name:?}{hint}")
}

/// A non-negative JSON integer.
fn uint(v: &Value) -> Result<u64, String> {
    match v {
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Ok(u),
            (None, Some(i)) => Err(format!("{i} is negative")),
            _ if n.as_f64().is_some_and(|f| f.fract() == 0.0) => Err(format!("{n} is out of range (0..={})", u64::MAX)),
            _ => Err(format!("{n} is not an integer")),
        },
        other => Err(format!("expected a number, found {}", kind(other))),
    }
}

fn kind(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// Parses an action name with its errno or trace data.
fn action(
    name: &str,
    data: Option<u64>,
    data_key: &str,
    here: &Here,
    field: &str,
    errs: &mut Vec<PolicyError>,
) -> Option<Action> {
    let Some(kind) = action_kind(name) else {
        errs.push(here.err(field, format!("unknown action {name:?}{}", case_hint(name, ACTIONS))));
        return None;
    };
    let result = match (kind, data) {
        (ActionKind::Plain(action), _) => Ok(action),
        (ActionKind::Errno, None) => Ok(Action::Errno(Errno::EPERM)),
        (ActionKind::Errno, Some(n)) => filter_errno(n).map(Action::Errno),
        (ActionKind::Trace, None) => Ok(Action::Trace(1)),
        (ActionKind::Trace, Some(n)) => u16::try_from(n)
            .map(Action::Trace)
            .map_err(|_| format!("{n} is out of range for SCMP_ACT_TRACE (0..=65535)")),
    };
    result.map_err(|m| errs.push(here.err(data_key, m))).ok()
}

fn arches(p: &Profile, target: &Target, errs: &mut Vec<PolicyError>) -> Vec<Arch> {
    let (top, native) = (Here::top(), target.native);
    let list = p.architectures.as_deref().unwrap_or_default();
    let map = p.arch_map.as_deref().unwrap_or_default();
    if !list.is_empty() && !map.is_empty() {
        errs.push(top.err("archMap", "both \"architectures\" and \"archMap\" are set; use one (Docker refuses both)"));
    }
    let mut listed: Vec<Arch> =
        list.iter().enumerate().filter_map(|(j, n)| arch_at(n, &format!("architectures[{j}]"), native, errs)).collect();
    let mut chosen = false;
    for (k, entry) in map.iter().enumerate() {
        let field = format!("archMap[{k}].architecture");
        let main = match entry.architecture.as_deref() {
            Some(name) => arch_at(name, &field, native, errs),
            None => {
                errs.push(top.err(&field, "missing"));
                None
            }
        };
        let subs: Vec<Arch> = (entry.sub_architectures.iter().flatten().enumerate())
            .filter_map(|(s, n)| arch_at(n, &format!("archMap[{k}].subArchitectures[{s}]"), native, errs))
            .collect();
        // moby takes the first entry for the native arch.
        if !chosen && main == Some(native) {
            chosen = true;
            listed.extend(subs);
        }
    }
    let mut arches = vec![native];
    for arch in listed {
        if native.runnable_on().contains(&arch) && !arches.contains(&arch) {
            arches.push(arch);
        }
    }
    arches
}

/// The arch an architecture name stands for here; `None` for foreign arches, and for unknown names (an error).
fn arch_at(name: &str, field: &str, native: Arch, errs: &mut Vec<PolicyError>) -> Option<Arch> {
    match arch_name(name) {
        Some(a) => a.on(native),
        None => {
            errs.push(Here::top().err(field, format!("unknown architecture {name:?}")));
            None
        }
    }
}

fn rule(i: usize, r: &SyscallRule, target: &Target, errs: &mut Vec<PolicyError>) -> Option<Rule> {
    let names: Vec<String> = r.syscall_names().into_iter().map(String::from).collect();
    let here = Here::rule(i, &names);
    let before = errs.len();
    if r.name.as_deref().is_some_and(|n| !n.is_empty()) && r.names.as_ref().is_some_and(|n| !n.is_empty()) {
        errs.push(here.err("name", "both \"name\" and \"names\" are set; use one (Docker refuses both)"));
    }
    if names.is_empty() {
        errs.push(here.err("names", "no syscall names (\"names\" is missing or empty)"));
    }
    for (j, name) in r.names.iter().flatten().enumerate() {
        if name.trim().is_empty() {
            errs.push(here.err(&format!("names[{j}]"), "empty syscall name"));
        }
    }
    let data = errno_source(r.errno_ret.as_ref(), r.errno.as_deref(), "", &here, errs);
    let action = match r.action.as_deref() {
        Some(name) => action(name, data, "errnoRet", &here, "", errs),
        None => {
            errs.push(here.err("", "missing \"action\" (for example \"SCMP_ACT_ALLOW\")"));
            None
        }
    };
    let args = args(r.args.as_deref().unwrap_or_default(), &here, errs);
    let decision = r.supervise.as_ref().and_then(|s| decision(s, &here, errs));
    let matchers = r.supervise.as_ref().map(|s| matchers(s, &here, errs)).unwrap_or_default();
    if !matchers.paths.is_empty() {
        // A matcher that can never see a path would never match: refuse it rather than let the rule be dead.
        for name in names.iter().filter(|n| !crate::paths::has_path_args(n)) {
            errs.push(here.err(
                "supervise.paths",
                format!("{name:?} has no path argument, so a \"paths\" matcher cannot decide it"),
            ));
        }
    }
    if !matchers.net.is_empty() {
        // As for paths: a matcher on a syscall without a socket address could never decide it.
        let key = if !matchers.net.addresses.is_empty() {
            "addresses"
        } else if !matchers.net.families.is_empty() {
            "families"
        } else {
            "socketTypes"
        };
        for name in names.iter().filter(|n| crate::net::address_arg(n).is_none()) {
            let known: Vec<&str> = crate::net::ADDRESS_SYSCALLS.iter().map(|(n, _)| *n).collect();
            errs.push(here.err(
                &format!("supervise.{key}"),
                format!(
                    "{name:?} has no socket address, so a {key:?} matcher cannot decide it (they apply to {})",
                    known.join(", ")
                ),
            ));
        }
    }
    if let (Some(_), Some(a)) = (&r.supervise, action) {
        if a != Action::Notify {
            let written = r.action.as_deref().unwrap_or_default();
            errs.push(here.err(
                "supervise",
                format!("only applies to SCMP_ACT_NOTIFY rules, and this rule's action is {written:?}"),
            ));
        }
    }
    let included = match &r.includes {
        Some(f) => conditions(f, "includes", target, &here, errs).all_hold(),
        None => true,
    };
    let excluded = r.excludes.as_ref().is_some_and(|f| conditions(f, "excludes", target, &here, errs).any_holds());
    if errs.len() > before || !included || excluded {
        return None;
    }
    Some(Rule { index: i, names, action: action?, args, decision, matchers })
}

fn args(specs: &[ArgSpec], here: &Here, errs: &mut Vec<PolicyError>) -> Vec<ArgCmp> {
    if specs.len() > MAX_ARGS_PER_RULE {
        errs.push(here.err("args", format!("{} conditions; at most {MAX_ARGS_PER_RULE} per rule", specs.len())));
    }
    let mut out = Vec::new();
    for (j, spec) in specs.iter().enumerate() {
        let mut number = |key: &str, v: Option<&Value>, max: u64| {
            let n = v.map_or(Ok(0), uint).and_then(|n| {
                if n <= max {
                    Ok(n)
                } else {
                    Err(format!("{n} is out of range; syscall arguments are numbered 0..={max}"))
                }
            });
            n.map_err(|m| errs.push(here.err(&format!("args[{j}].{key}"), m))).ok()
        };
        let index = number("index", spec.index.as_ref(), 5);
        let value = number("value", spec.value.as_ref(), u64::MAX);
        let value_two = number("valueTwo", spec.value_two.as_ref(), u64::MAX);
        let op = match spec.op.as_deref() {
            Some(name) => CmpOp::parse(name).or_else(|| {
                let hint = case_hint(name, OPERATORS.iter().map(|(n, _)| *n));
                errs.push(here.err(&format!("args[{j}].op"), format!("unknown operator {name:?}{hint}")));
                None
            }),
            None => {
                let known: Vec<&str> = OPERATORS.iter().map(|(n, _)| *n).collect();
                errs.push(here.err(&format!("args[{j}].op"), format!("missing (one of {})", known.join(", "))));
                None
            }
        };
        if let (Some(index), Some(value), Some(value_two), Some(op)) = (index, value, value_two, op) {
            out.push(ArgCmp { index: index as u8, op, value, value_two });
        }
    }
    out
}

/// Which conditions of an `includes` or `excludes` object hold; `None` for conditions it does not list.
struct Conditions {
    arch: Option<bool>,
    all_caps: Option<bool>,
    any_cap: Option<bool>,
    kernel: Option<bool>,
}

impl Conditions {
    fn all_hold(&self) -> bool {
        [self.arch, self.all_caps, self.kernel].iter().all(|c| c.unwrap_or(true))
    }

    fn any_holds(&self) -> bool {
        [self.arch, self.any_cap, self.kernel].iter().any(|c| c.unwrap_or(false))
    }
}

fn conditions(f: &Filter, key: &str, target: &Target, here: &Here, errs: &mut Vec<PolicyError>) -> Conditions {
    let arches = f.arches.as_deref().unwrap_or_default();
    let mut arch_hit = false;
    for (j, name) in arches.iter().enumerate() {
        match arch_name(name) {
            Some(a) => arch_hit |= a.on(target.native) == Some(target.native),
            None => errs.push(here.err(&format!("{key}.arches[{j}]"), format!("unknown architecture {name:?}"))),
        }
    }
    let caps = f.caps.as_deref().unwrap_or_default();
    let held: Vec<bool> = (caps.iter().enumerate())
        .map(|(j, name)| match capability(name) {
            Some(n) => target.caps & (1u64 << n) != 0,
            None => {
                let message = format!("unknown capability {name:?}{}", case_hint(name, CAPABILITIES));
                errs.push(here.err(&format!("{key}.caps[{j}]"), message));
                false
            }
        })
        .collect();
    let kernel = f.min_kernel.as_deref().and_then(|text| match min_kernel(text) {
        Ok(min) => min.map(|min| target.kernel >= min),
        Err(m) => {
            errs.push(here.err(&format!("{key}.minKernel"), m));
            None
        }
    });
    Conditions {
        arch: (!arches.is_empty()).then_some(arch_hit),
        all_caps: (!caps.is_empty()).then(|| held.iter().all(|h| *h)),
        any_cap: (!caps.is_empty()).then(|| held.iter().any(|h| *h)),
        kernel,
    }
}

/// `"4.8"` → `(4, 8)`, as moby parses it (two parts, each 0..=255, not `0.0`); `""` means no condition.
fn min_kernel(text: &str) -> Result<Option<(u32, u32)>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    let bad = || format!("invalid kernel version {text:?}, expected \"<major>.<minor>\" such as \"5.8\"");
    let (major, minor) = text.split_once('.').ok_or_else(bad)?;
    let part = |s: &str| s.parse::<u8>().ok().filter(|_| s.bytes().all(|b| b.is_ascii_digit()));
    match (part(major), part(minor)) {
        (Some(0), Some(0)) => Err(format!("invalid kernel version {text:?}: it cannot be 0.0")),
        (Some(a), Some(b)) => Ok(Some((u32::from(a), u32::from(b)))),
        _ => Err(bad()),
    }
}

/// The matchers of a `supervise` object: globs are checked here, so that a bad one is an error with its place.
fn matchers(s: &SuperviseSpec, here: &Here, errs: &mut Vec<PolicyError>) -> Matchers {
    let mut globs = |key: &str, list: &Option<Vec<String>>| -> Vec<String> {
        let list = list.clone().unwrap_or_default();
        for (j, glob) in list.iter().enumerate() {
            if !glob.starts_with('/') {
                errs.push(here.err(&format!("supervise.{key}[{j}]"), format!("{glob:?} is not an absolute path glob")));
            } else if let Err(e) = globset::Glob::new(glob) {
                errs.push(here.err(&format!("supervise.{key}[{j}]"), format!("invalid glob {glob:?}: {}", e.kind())));
            }
        }
        list
    };
    let paths = globs("paths", &s.paths);
    let exe = globs("exe", &s.exe);
    let mut ids = |key: &str, value: &Option<Value>| -> Vec<u32> {
        let Some(value) = value else { return Vec::new() };
        let items: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            one => vec![one],
        };
        items
            .into_iter()
            .filter_map(|v| match uint(v).map(u32::try_from) {
                Ok(Ok(id)) => Some(id),
                Ok(Err(_)) => {
                    errs.push(here.err(&format!("supervise.{key}"), format!("{v} is out of range for an id")));
                    None
                }
                Err(m) => {
                    errs.push(here.err(&format!("supervise.{key}"), m));
                    None
                }
            })
            .collect()
    };
    let uids = ids("uid", &s.uid);
    let gids = ids("gid", &s.gid);
    let list = |v: &Option<Vec<String>>| v.clone().unwrap_or_default();
    let net = NetMatcher::parse(&list(&s.addresses), &list(&s.families), &list(&s.socket_types)).unwrap_or_else(|e| {
        errs.extend(e.into_iter().map(|(key, message)| here.err(&format!("supervise.{key}"), message)));
        NetMatcher::default()
    });
    Matchers { paths, exe, uids, gids, net }
}

/// The decision of a `supervise` object. Keys that do not apply to its decision are validated and ignored.
fn decision(s: &SuperviseSpec, here: &Here, errs: &mut Vec<PolicyError>) -> Option<Decision> {
    let before = errs.len();
    let mut fail = |key: &str, message: String| errs.push(here.err(&format!("supervise.{key}"), message));
    let errno = match s.errno_ret.as_ref().map(errno_number) {
        None => Some(Errno::EPERM),
        Some(Ok(0)) => {
            fail("errnoRet", "0 is not an errno (1..=4095); use decision \"allow\" to let the syscall run".into());
            None
        }
        Some(Ok(n)) => i64::try_from(n).ok().and_then(Errno::new).or_else(|| {
            fail("errnoRet", format!("{n} is out of range (1..=4095)"));
            None
        }),
        Some(Err(m)) => {
            fail("errnoRet", m);
            None
        }
    };
    let emulator = s.emulate.as_deref().and_then(|name| match name {
        "clock-set" => Some(Emulator::ClockSet),
        other => {
            fail("emulate", format!("unknown emulator {other:?} (known: \"clock-set\")"));
            None
        }
    });
    let timeout_secs = match s.timeout.as_ref().map(uint) {
        None => Some(DEFAULT_PROMPT_TIMEOUT),
        Some(Ok(n)) if n >= 1 => u32::try_from(n).ok().or_else(|| {
            fail("timeout", format!("{n} seconds is out of range"));
            None
        }),
        Some(Ok(n)) => {
            fail("timeout", format!("{n} is not a positive number of seconds"));
            None
        }
        Some(Err(m)) => {
            fail("timeout", m);
            None
        }
    };
    let on_timeout = match s.on_timeout.as_deref() {
        None | Some("deny") => Some(OnTimeout::Deny),
        Some("allow") => Some(OnTimeout::Allow),
        Some(other) => {
            fail("onTimeout", format!("unknown value {other:?} (expected \"allow\" or \"deny\")"));
            None
        }
    };
    let decision = match s.decision.as_deref() {
        None => {
            fail("decision", "missing (one of \"allow\", \"deny\", \"emulate\", \"prompt\")".into());
            None
        }
        Some("allow") => Some(Decision::Allow),
        Some("deny") => errno.map(Decision::Deny),
        Some("emulate") => match (emulator, &s.emulate) {
            (Some(e), _) => Some(Decision::Emulate(e)),
            (None, Some(_)) => None,
            (None, None) => {
                fail("emulate", "missing: decision \"emulate\" needs a handler, for example \"clock-set\"".into());
                None
            }
        },
        Some("prompt") => match (timeout_secs, on_timeout, errno) {
            (Some(timeout_secs), Some(on_timeout), Some(errno)) => {
                Some(Decision::Prompt(PromptSpec { timeout_secs, on_timeout, errno }))
            }
            _ => None,
        },
        Some(other) => {
            let message =
                format!("unknown decision {other:?} (expected \"allow\", \"deny\", \"emulate\" or \"prompt\")");
            fail("decision", message);
            None
        }
    };
    if errs.len() > before {
        return None;
    }
    decision
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_versions_parse_as_moby_does() {
        for (text, want) in
            [("4.8", Ok(Some((4, 8)))), ("", Ok(None)), ("5.10", Ok(Some((5, 10)))), ("0.1", Ok(Some((0, 1))))]
        {
            assert_eq!(min_kernel(text), want, "{text}");
        }
        for bad in ["4", "4.8.1", "0.0", "a.b", "4.256", "-1.2", "+4.8", "4.", " 4.8"] {
            assert!(min_kernel(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_errno_names_get_a_suggestion() {
        assert_eq!(
            errno_number(&serde_json::json!("EACES")),
            Err("unknown errno name \"EACES\" (did you mean \"EACCES\"?)".into())
        );
        assert_eq!(errno_number(&serde_json::json!("eperm")), Ok(1), "names are matched in any case");
        assert_eq!(
            errno_number(&serde_json::json!("EPRM")),
            Err("unknown errno name \"EPRM\" (did you mean \"EPERM\"?)".into())
        );
        assert_eq!(unknown_errno("ENOTSUPP"), "unknown errno name \"ENOTSUPP\" (did you mean \"ENOTSUP\"?)");
        assert_eq!(unknown_errno("NOTHING"), "unknown errno name \"NOTHING\"");
    }

    #[test]
    fn numbers_are_unsigned_integers() {
        let cases = [
            (serde_json::json!(5), Ok(5)),
            (serde_json::json!(u64::MAX), Ok(u64::MAX)),
            (serde_json::json!(-1), Err("-1 is negative".to_string())),
            (serde_json::json!(1.5), Err("1.5 is not an integer".to_string())),
            (serde_json::json!("5"), Err("expected a number, found the string \"5\"".to_string())),
        ];
        for (v, want) in cases {
            assert_eq!(uint(&v), want, "{v}");
        }
        assert!(uint(&serde_json::json!(1e20)).unwrap_err().contains("out of range"));
        assert_eq!(errno_number(&serde_json::json!("EACCES")), Ok(13));
        assert_eq!(errno_number(&serde_json::json!("EFOO")), Err("unknown errno name \"EFOO\"".into()));
    }
}
