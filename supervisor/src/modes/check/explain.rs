//! `supervise check FILE --explain [SYSCALL [ARG...]]`: which rule decides a call, and with what action.
//!
//! The profile is resolved for the machine (or `--arch` and `--caps`), compiled as `supervise --policy` would,
//! and the call is run through the compiled filter ([`verdict::explain`]): the answer is the kernel's, and the rule
//! is the one behind that answer. A notify rule's `supervise` decision is shown with it (matchers on paths,
//! executables, uids or addresses are checked at run time: the notify rules after it may decide instead). Without
//! a syscall, the profile's rules are listed group by group: what it allows, refuses and notifies.

use std::collections::BTreeMap;

use proto::profile::Profile;
use proto::{Action, Arch, Decision, Policy, Rule};
use serde_json::{json, Value};

use crate::modes::capabilities;
use crate::modes::exit::{Failure, EXIT_FAILURE, EXIT_INVALID};
use crate::modes::policy_file::{this_machine, Machine, Source};
use crate::modes::verdict::{self, short_names, Decider as By};

use super::Format;

/// What to explain.
#[derive(Debug, Clone, Default)]
pub struct ExplainOptions {
    /// `SYSCALL [ARG...]`; empty: list the groups.
    pub call: Vec<String>,
    /// The call's architecture (default: the native one).
    pub arch: Option<String>,
    /// The capabilities the profile is resolved against (default: what a program started here would have).
    pub caps: Option<Vec<String>>,
}

/// Explains a call (or lists the groups) for each file.
///
/// # Errors
/// A bad option (125) or a policy that does not load (1).
pub fn explain(files: &[std::path::PathBuf], options: &ExplainOptions, format: Format) -> Result<i32, Failure> {
    let bad = |line: String| Failure::new(EXIT_FAILURE, line);
    let arch = match &options.arch {
        Some(a) => Arch::parse(a).ok_or_else(|| bad(format!("--arch {a:?}: unknown architecture")))?,
        None => Arch::native(),
    };
    let caps = match &options.caps {
        Some(c) if c.iter().all(|c| c.is_empty() || c.eq_ignore_ascii_case("none")) => 0,
        Some(c) => {
            capabilities::effective(c, &["ALL".into()], false).map_err(|e| bad(e.replace("--cap-add", "--caps")))?
        }
        None => this_machine().caps,
    };
    let machine = Machine { caps, ..this_machine() };
    let mut docs = Vec::new();
    for file in files {
        let source = Source::open(Some(file)).map_err(|l| Failure::new(EXIT_INVALID, l))?;
        let profile = source.parse().map_err(|lines| Failure { code: EXIT_INVALID, lines })?;
        let policy = source.load(&machine).map_err(|lines| Failure { code: EXIT_INVALID, lines })?;
        let doc = match options.call.split_first() {
            Some((name, args)) => one_call(&source.name, &profile, &policy, arch, name, args).map_err(bad)?,
            None => groups(&source.name, &profile, &policy),
        };
        docs.push(doc);
    }
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    for (text, json) in &docs {
        // A closed stdout (`… | head`) is not an error worth a report.
        let _ = match format {
            Format::Text => writeln!(stdout, "{}", text.trim_end()),
            Format::Json => writeln!(stdout, "{}", serde_json::to_string_pretty(json).unwrap_or_default()),
        };
    }
    Ok(0)
}

/// `123`, `0x7b`: a register value (a negative number is its two's complement, as `-1` in C).
fn register(text: &str) -> Option<u64> {
    let t = text.trim();
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).ok();
    }
    t.parse::<u64>().ok().or_else(|| t.parse::<i64>().ok().map(|v| v as u64))
}

fn one_call(
    file: &str,
    profile: &Profile,
    policy: &Policy,
    arch: Arch,
    name: &str,
    args: &[String],
) -> Result<(String, Value), String> {
    if args.len() > 6 {
        return Err("--explain: a syscall takes at most 6 arguments".into());
    }
    let mut regs = [0u64; 6];
    for (i, a) in args.iter().enumerate() {
        regs[i] = register(a).ok_or_else(|| format!("--explain: argument {i} {a:?} is not a number"))?;
    }
    let nr = crate::kernel::syscalls::number_of(name, arch).ok_or_else(|| {
        let known = crate::modes::syscall_names::known_syscalls();
        let hint = crate::modes::syscall_names::suggest(name, &known)
            .map_or(String::new(), |s| format!("; did you mean {s:?}?"));
        format!("--explain: {name:?} is not a syscall on {arch}{hint}")
    })?;
    let all = Policy { arches: Arch::native().runnable_on().to_vec(), ..policy.clone() };
    let compiled = agent::filter::compile(&all).map_err(|e| format!("{file}: {e}"))?;
    let e = verdict::explain(policy, compiled.bpf.insns(), arch, nr, name, &regs);
    let shown: Vec<String> = regs[..args.len()].iter().map(u64::to_string).collect();
    let rule = match e.by {
        By::Rule(i) => policy.rules.iter().find(|r| r.index == i),
        _ => None,
    };
    let written = |i: usize| profile.rules().nth(i);
    let mut text = format!("{file}: {name}({}) on {arch}: {}\n", shown.join(", "), verdict::ret_name(e.ret));
    let by = match (e.by, rule) {
        (By::Rule(i), Some(r)) => {
            let mut by = format!("syscalls[{i}] {} ({})", r.action.name(), short_names(&r.names, 8));
            if let Some(c) = written(i).and_then(|w| w.comment.clone()).filter(|c| !c.is_empty()) {
                by.push_str(&format!(", comment: {c}"));
            }
            by
        }
        (By::Rule(i), None) => format!("syscalls[{i}]"),
        (By::Default, _) => format!("defaultAction {}", policy.default_action.name()),
        (By::ArchNotListed, _) => format!("architecture {arch} is not in the profile: the filter kills the process"),
        (By::Guard, _) => "the terminal guard of a policy that prompts".into(),
    };
    text.push_str(&format!("  decided by {by}\n"));
    let decision =
        (e.ret & verdict::ret::ACTION_FULL == verdict::ret::USER_NOTIF).then(|| notify_decision(policy, rule));
    if let Some(d) = &decision {
        text.push_str(&format!("  supervise decides: {d}\n"));
    }
    let unmatched = verdict::unmatched(policy, name, &regs, e.by);
    for r in &unmatched {
        text.push_str(&format!(
            "  conditions not met: syscalls[{}] {} when {}\n",
            r.index,
            verdict::ret_name(verdict::ret_of(r.action)),
            verdict::conditions(r)
        ));
    }
    let skipped = verdict::skipped(profile, policy, name);
    for s in &skipped {
        let comment = s.comment.as_ref().map_or(String::new(), |c| format!(" ({c})"));
        text.push_str(&format!(
            "  not applying here: syscalls[{}] {} ({}): {}{comment}\n",
            s.index,
            s.action,
            short_names(&s.names, 4),
            s.why
        ));
    }
    let errno = (e.ret & verdict::ret::ACTION_FULL == verdict::ret::ERRNO).then_some(e.ret & 0xffff);
    let json = json!({
        "file": file,
        "syscall": name,
        "arch": arch.scmp_name(),
        "nr": nr,
        "args": regs,
        "action": verdict::ret_name(e.ret).split(' ').next().unwrap_or_default(),
        "ret": e.ret,
        "errno": errno,
        "decidedBy": by,
        "rule": match e.by { By::Rule(i) => Some(i), _ => None },
        "default": e.by == By::Default,
        "archNotListed": e.by == By::ArchNotListed,
        "supervise": decision,
        "conditionsNotMet": unmatched.iter().map(|r| json!({"rule": r.index, "when": verdict::conditions(r)})).collect::<Vec<_>>(),
        "notApplying": skipped.iter().map(|s| json!({"rule": s.index, "action": s.action, "why": s.why})).collect::<Vec<_>>(),
    });
    Ok((text, json))
}

/// A notify rule's decision in words, or the notify default's.
fn notify_decision(policy: &Policy, rule: Option<&Rule>) -> String {
    let decision = rule.and_then(|r| r.decision.as_ref()).unwrap_or(&policy.notify_default);
    let mut text = match decision {
        Decision::Allow => "allow".to_string(),
        Decision::Deny(e) => format!("deny ({})", verdict::errno_name(*e)),
        Decision::Emulate(em) => format!("emulate ({})", em.name()),
        Decision::Prompt(spec) => format!("prompt (without an answer: deny with {})", verdict::errno_name(spec.errno)),
    };
    if rule.is_some_and(|r| !r.matchers.is_empty()) {
        text.push_str(" when its matchers (paths, exe, uid, gid, addresses) hold; otherwise the next notify rule");
    }
    text
}

/// What the profile allows, refuses and notifies, group by group.
fn groups(file: &str, profile: &Profile, policy: &Policy) -> (String, Value) {
    let group = |a: Action| match a {
        Action::Allow | Action::Log => "allows",
        Action::Notify => "notifies",
        _ => "refuses",
    };
    let mut by_group: BTreeMap<&str, Vec<&Rule>> = BTreeMap::new();
    for r in &policy.rules {
        by_group.entry(group(r.action)).or_default().push(r);
    }
    let arches: Vec<String> = policy.arches.iter().map(Arch::to_string).collect();
    let mut text = format!(
        "{file}: default {} (for any other call), architectures {}\n",
        verdict::ret_name(verdict::ret_of(policy.default_action)),
        arches.join(", ")
    );
    let mut json_groups = serde_json::Map::new();
    for key in ["allows", "refuses", "notifies"] {
        let rules = by_group.get(key).cloned().unwrap_or_default();
        let names: usize = rules.iter().map(|r| r.names.len()).sum();
        text.push_str(&format!("  {key}: {names} names in {} rules\n", rules.len()));
        let mut list = Vec::new();
        for r in rules {
            let action = verdict::ret_name(verdict::ret_of(r.action));
            let when = if r.args.is_empty() { String::new() } else { format!(" when {}", verdict::conditions(r)) };
            let decision = if r.action == Action::Notify {
                format!(", supervise: {}", notify_decision(policy, Some(r)))
            } else {
                String::new()
            };
            text.push_str(&format!("    syscalls[{}] {action}{when}{decision}: {}\n", r.index, r.names.join(", ")));
            list.push(json!({"rule": r.index, "action": action, "names": r.names, "when": verdict::conditions(r)}));
        }
        json_groups.insert(key.to_string(), Value::Array(list));
    }
    let not_applying = profile.rules().count() - policy.rules.len();
    if not_applying > 0 {
        text.push_str(&format!("  {not_applying} more rules do not apply here (includes/excludes)\n"));
    }
    let json = json!({
        "file": file,
        "defaultAction": verdict::ret_name(verdict::ret_of(policy.default_action)),
        "architectures": arches,
        "groups": json_groups,
        "rulesNotApplying": not_applying,
    });
    (text, json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_parse_as_c_would_pass_them() {
        assert_eq!(register("12"), Some(12));
        assert_eq!(register("0x7e020000"), Some(0x7e02_0000));
        assert_eq!(register("-1"), Some(u64::MAX));
        assert_eq!(register("x"), None);
    }

    #[test]
    fn docker_calls_are_explained_with_their_rule() {
        let source = Source::open(None).unwrap();
        let profile = source.parse().unwrap();
        let policy = source.load(&Machine { caps: capabilities::docker_default(), ..this_machine() }).unwrap();
        let (text, json) = one_call("d", &profile, &policy, Arch::native(), "unshare", &["0x10000000".into()]).unwrap();
        assert_eq!(json["action"], "SCMP_ACT_ERRNO");
        assert_eq!(json["errno"], 1);
        assert!(text.contains("decided by defaultAction") && text.contains("includes caps CAP_SYS_ADMIN"), "{text}");
        let (_, json) = one_call("d", &profile, &policy, Arch::native(), "clone3", &[]).unwrap();
        assert_eq!((json["errno"].as_u64(), json["rule"].as_u64()), (Some(38), Some(20)));
        let (text, json) = one_call("d", &profile, &policy, Arch::native(), "socket", &["40".into()]).unwrap();
        assert_eq!(json["default"], true);
        assert!(text.contains("conditions not met: syscalls[2] SCMP_ACT_ALLOW when arg0 < 38"), "{text}");
        assert_eq!(json["conditionsNotMet"].as_array().map(Vec::len), Some(3));
        let (_, json) = one_call("d", &profile, &policy, Arch::native(), "socket", &["2".into()]).unwrap();
        assert_eq!((json["action"].as_str(), json["rule"].as_u64()), (Some("SCMP_ACT_ALLOW"), Some(2)));
        let (text, _) = groups("d", &profile, &policy);
        assert!(text.contains("allows: ") && text.contains("refuses: ") && text.contains("arg0 < 38"), "{text}");
    }
}
