//! The audit report: each kind of call the profile would have refused, with the rule that would have decided it,
//! and the smallest change that lets the run through ([`Change`]), as text for people or one JSON document.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::Path;

use proto::profile::Profile;
use proto::{Action, Arch, Policy};
use serde_json::{json, Value};

use super::{Key, ReportFormat, Seen};
use crate::modes::capabilities;
use crate::modes::exit::{Failure, EXIT_FAILURE};
use crate::modes::shell_words::shell_words;
use crate::modes::verdict::{self, short_names, Decider as By, Skipped};
use crate::modes::watch::Watch;

/// What the profile would have done with a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// `SCMP_ACT_ERRNO` with this errno.
    Errno(u32),
    /// `SCMP_ACT_TRACE` with this value (ENOSYS without a tracer).
    Trace(u32),
    /// `SCMP_ACT_TRAP`: SIGSYS.
    Trap,
    /// `SCMP_ACT_KILL_*`, or the bad-arch action.
    Killed,
    /// A notify rule (or the notify default) would deny with this errno.
    Denied(u32),
    /// A notify rule would ask at the terminal (and deny with this errno without an answer).
    Asked(u32),
}

impl Outcome {
    /// The JSON `outcome` word.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Errno(_) => "errno",
            Outcome::Trace(_) => "trace",
            Outcome::Trap => "trap",
            Outcome::Killed => "kill",
            Outcome::Denied(_) => "deny",
            Outcome::Asked(_) => "ask",
        }
    }

    fn errno(self) -> Option<u32> {
        match self {
            Outcome::Errno(e) | Outcome::Denied(e) | Outcome::Asked(e) => Some(e),
            _ => None,
        }
    }

    /// `would fail with EPERM`, `would kill the process`, …
    fn text(self) -> String {
        let name = |e: u32| verdict::ret_name(verdict::ret::ERRNO | e).replace("SCMP_ACT_ERRNO (", "").replace(')', "");
        match self {
            Outcome::Errno(e) => format!("would fail with {}", name(e)),
            Outcome::Trace(_) => "would stop for a tracer (ENOSYS without one)".into(),
            Outcome::Trap => "would get SIGSYS".into(),
            Outcome::Killed => "would be killed".into(),
            Outcome::Denied(e) => format!("supervise would deny it with {}", name(e)),
            Outcome::Asked(e) => format!("supervise would ask (and deny it with {} without an answer)", name(e)),
        }
    }
}

/// The rule that would have decided, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleInfo {
    pub index: usize,
    pub names: Vec<String>,
    pub action: String,
    pub comment: Option<String>,
}

/// One kind of call that would have been refused.
#[derive(Debug, Clone)]
pub struct Entry {
    pub key: Key,
    pub seen: Seen,
    pub rule: Option<RuleInfo>,
    /// What decided, in words: `syscalls[3] SCMP_ACT_ERRNO (EACCES)`, `defaultAction SCMP_ACT_ERRNO (EPERM)`, …
    pub decided_by: String,
    /// Rules naming the syscall that `includes`/`excludes` leave out here.
    pub not_applying: Vec<Skipped>,
    /// Rules for the syscall whose conditions the first call did not meet: `(index, action, conditions)`.
    pub unmet: Vec<(usize, String, String)>,
}

/// The smallest change to the profile that lets the run through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    /// Syscalls to allow whatever their arguments.
    pub allow: BTreeSet<String>,
    /// `--args`: (syscall, argument index) → values to allow.
    pub values: BTreeMap<(String, u8), BTreeSet<u64>>,
    /// Architectures to add.
    pub arches: BTreeSet<Arch>,
    /// Syscalls libseccomp cannot name (a profile cannot allow them).
    pub unnamed: BTreeSet<String>,
    /// Syscalls that would be asked about: left to the question, not in the change.
    pub asked: BTreeSet<String>,
}

impl Change {
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.values.is_empty() && self.arches.is_empty()
    }
}

/// The whole report.
#[derive(Debug, Clone)]
pub struct Report {
    pub policy: String,
    pub command: String,
    pub caps: u64,
    pub status: i32,
    pub entries: Vec<Entry>,
    pub change: Change,
    /// The profile's default action, resolved (`SCMP_ACT_ALLOW` makes the fix take names out of refusing rules).
    pub default_action: Action,
}

impl Report {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: &str,
        profile: &Profile,
        policy: &Policy,
        argv: &[OsString],
        caps: u64,
        status: i32,
        found: BTreeMap<Key, Seen>,
        watches: &[Watch],
    ) -> Report {
        let written: Vec<_> = profile.rules().collect();
        let entries: Vec<Entry> = found
            .into_iter()
            .map(|(key, seen)| {
                let rule = match key.by {
                    By::Rule(i) => written.get(i).map(|r| RuleInfo {
                        index: i,
                        names: r.syscall_names().into_iter().map(String::from).collect(),
                        action: r.action.clone().unwrap_or_default(),
                        comment: r.comment.clone().filter(|c| !c.is_empty()),
                    }),
                    _ => None,
                };
                let action = |e: Option<u32>, what: &str| match e {
                    Some(e) => format!(
                        "{what} ({})",
                        verdict::ret_name(verdict::ret::ERRNO | e).replace("SCMP_ACT_ERRNO (", "").replace(')', "")
                    ),
                    None => what.to_string(),
                };
                let decided_by = match (&key.by, &rule) {
                    (By::Rule(_), Some(r)) => {
                        let how = match key.would {
                            Outcome::Denied(_) | Outcome::Asked(_) => {
                                format!("{} (supervise: {})", r.action, action(key.would.errno(), key.would.word()))
                            }
                            w => action(w.errno(), &r.action),
                        };
                        format!("syscalls[{}] {how}", r.index)
                    }
                    (By::Rule(i), None) => format!("syscalls[{i}]"),
                    (By::Default, _) => {
                        format!("defaultAction {}", action(key.would.errno(), policy.default_action.name()))
                    }
                    (By::ArchNotListed, _) => {
                        format!("architecture {} not in the profile (the filter kills the process)", key.arch)
                    }
                    (By::Guard, _) => "the terminal guard of a policy that prompts".into(),
                };
                let not_applying = verdict::skipped(profile, policy, &seen.name);
                let unmet = verdict::unmatched(policy, &seen.name, &seen.first_regs, key.by)
                    .into_iter()
                    .map(|r| (r.index, verdict::ret_name(verdict::ret_of(r.action)), verdict::conditions(r)))
                    .collect();
                Entry { key, seen, rule, decided_by, not_applying, unmet }
            })
            .collect();
        let change = change(&entries, policy, watches);
        Report {
            policy: name.to_string(),
            command: shell_words(argv),
            caps,
            status,
            entries,
            change,
            default_action: policy.default_action,
        }
    }

    /// Total calls that would have been refused.
    pub fn calls(&self) -> u64 {
        self.entries.iter().map(|e| e.seen.count).sum()
    }

    /// The report for people.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let push = |out: &mut String, line: String| {
            out.push_str(&line);
            out.push('\n');
        };
        if self.entries.is_empty() {
            push(&mut out, format!("supervise audit: {} would have refused nothing in this run", self.policy));
            return out;
        }
        push(
            &mut out,
            format!(
                "supervise audit: {} would have refused {} ({} {}); audit mode let them through",
                self.policy,
                plural(self.calls(), "call"),
                self.entries.len(),
                if self.entries.len() == 1 { "kind" } else { "kinds" }
            ),
        );
        for e in &self.entries {
            let arch = if e.key.arch == Arch::native() { String::new() } else { format!(" [{}]", e.key.arch) };
            let times = plural(e.seen.count, "call");
            push(&mut out, format!("  {}{arch}: {times}, {}", e.seen.name, e.key.would.text()));
            push(&mut out, format!("    rule: {}", e.decided_by));
            if let Some(r) = &e.rule {
                push(&mut out, format!("      names: {}", short_names(&r.names, 8)));
                if let Some(c) = &r.comment {
                    push(&mut out, format!("      comment: {c}"));
                }
            }
            if let Some(then) = e.seen.then {
                push(&mut out, format!("    with the arch listed, the rules would give {}", verdict::ret_name(then)));
            }
            for (index, action, when) in &e.unmet {
                push(
                    &mut out,
                    format!("    conditions not met by the first call: syscalls[{index}] {action} when {when}"),
                );
            }
            for s in &e.not_applying {
                let comment = s.comment.as_ref().map_or(String::new(), |c| format!(" ({c})"));
                let names = short_names(&s.names, 4);
                push(
                    &mut out,
                    format!("    not applying here: syscalls[{}] {} ({names}): {}{comment}", s.index, s.action, s.why),
                );
            }
            push(&mut out, format!("    first: {} {}({})", e.seen.first_exe, e.seen.name, e.seen.first_args));
            if e.seen.count > 1 {
                push(&mut out, format!("    last: {}", e.seen.last_exe));
            }
        }
        let c = &self.change;
        let mut allow: Vec<String> = c.allow.iter().cloned().collect();
        for ((name, index), values) in &c.values {
            let shown: Vec<String> = values.iter().map(u64::to_string).collect();
            allow.push(format!("{name} with argument {index} in {{{}}}", shown.join(", ")));
        }
        if c.is_empty() && !c.asked.is_empty() {
            push(
                &mut out,
                "supervise audit: nothing to change: the calls above are asked about (an answer lets them through)"
                    .into(),
            );
        } else if c.is_empty() {
            push(&mut out, "supervise audit: no change to the profile would help (see above)".into());
        } else {
            let mut what = Vec::new();
            if !allow.is_empty() {
                what.push(format!("allow {}", allow.join(", ")));
            }
            if !c.arches.is_empty() {
                let arches: Vec<&str> = c.arches.iter().map(|a| a.scmp_name()).collect();
                what.push(format!("add the architectures {}", arches.join(", ")));
            }
            push(&mut out, format!("supervise audit: to let this run through: {}", what.join("; ")));
        }
        if !c.asked.is_empty() {
            let asked: Vec<&str> = c.asked.iter().map(String::as_str).collect();
            push(&mut out, format!("supervise audit: left to the question (not in the change): {}", asked.join(", ")));
        }
        if !c.unnamed.is_empty() {
            let unnamed: Vec<&str> = c.unnamed.iter().map(String::as_str).collect();
            push(
                &mut out,
                format!("supervise audit: libseccomp cannot name (no profile can allow): {}", unnamed.join(", ")),
            );
        }
        out
    }

    /// The report as one JSON document.
    pub fn to_json(&self) -> Value {
        let entries: Vec<Value> = self
            .entries
            .iter()
            .map(|e| {
                json!({
                    "syscall": e.seen.name,
                    "arch": e.key.arch.scmp_name(),
                    "count": e.seen.count,
                    "outcome": e.key.would.word(),
                    "errno": e.key.would.errno(),
                    "errnoName": e.key.would.errno().and_then(|n| proto::Errno::new(i64::from(n))).and_then(proto::Errno::name),
                    "decidedBy": e.decided_by,
                    "rule": e.rule.as_ref().map(|r| r.index),
                    "ruleNames": e.rule.as_ref().map(|r| r.names.clone()),
                    "ruleAction": e.rule.as_ref().map(|r| r.action.clone()),
                    "ruleComment": e.rule.as_ref().and_then(|r| r.comment.clone()),
                    "default": e.key.by == By::Default,
                    "archNotListed": e.key.by == By::ArchNotListed,
                    "conditionsNotMet": e.unmet.iter().map(|(rule, action, when)| json!({
                        "rule": rule, "action": action, "when": when,
                    })).collect::<Vec<_>>(),
                    "notApplying": e.not_applying.iter().map(|s| json!({
                        "rule": s.index, "names": s.names, "action": s.action, "why": s.why, "comment": s.comment,
                    })).collect::<Vec<_>>(),
                    "firstExe": e.seen.first_exe,
                    "lastExe": e.seen.last_exe,
                    "firstArgs": e.seen.first_args,
                })
            })
            .collect();
        let c = &self.change;
        let values: Vec<Value> = c
            .values
            .iter()
            .map(|((name, index), values)| json!({ "syscall": name, "index": index, "values": values }))
            .collect();
        json!({
            "policy": self.policy,
            "command": self.command,
            "caps": capabilities::names(self.caps),
            "exitStatus": self.status,
            "calls": self.calls(),
            "refused": entries,
            "change": {
                "allow": c.allow,
                "allowArgs": values,
                "architectures": c.arches.iter().map(|a| a.scmp_name()).collect::<Vec<_>>(),
                "asked": c.asked,
                "cannotName": c.unnamed,
            },
        })
    }

    /// Writes the report to `path`, or to stderr.
    ///
    /// # Errors
    /// The file cannot be written (125).
    pub fn write(&self, path: Option<&Path>, format: ReportFormat) -> Result<(), Failure> {
        let text = match format {
            ReportFormat::Text => self.text(),
            ReportFormat::Json => serde_json::to_string_pretty(&self.to_json()).unwrap_or_default() + "\n",
        };
        match path {
            Some(path) => std::fs::write(path, text).map_err(|e| {
                Failure::new(EXIT_FAILURE, format!("cannot write the audit report {}: {e}", path.display()))
            }),
            None => {
                crate::logging::eprint_line(text.trim_end());
                Ok(())
            }
        }
    }
}

/// The smallest change: allow each syscall that would have been refused (with `args` conditions for `--args`
/// syscalls that only the default refused), add each arch that is missing; questions stay questions.
fn change(entries: &[Entry], policy: &Policy, watches: &[Watch]) -> Change {
    let mut c = Change::default();
    let mut by_rule: BTreeSet<&str> = BTreeSet::new();
    for e in entries {
        let name = e.seen.name.as_str();
        if e.key.by == By::ArchNotListed {
            c.arches.insert(e.key.arch);
            if !e.seen.then.is_some_and(verdict::refuses) {
                continue;
            }
        }
        if let Outcome::Asked(_) = e.key.would {
            c.asked.insert(name.to_string());
            continue;
        }
        if name.starts_with("syscall_") {
            c.unnamed.insert(name.to_string());
            continue;
        }
        if e.key.by != By::Default {
            by_rule.insert(name);
        }
        let watch = watches.iter().find(|w| w.name == name);
        match watch {
            Some(w) if !e.seen.values.is_empty() => {
                c.values.entry((name.to_string(), w.index)).or_default().extend(&e.seen.values);
            }
            _ => {
                c.allow.insert(name.to_string());
            }
        }
    }
    // Conditions only where the default refused: a rule that names the syscall could win over a conditional allow.
    let names_in_rules: BTreeSet<&str> =
        policy.rules.iter().flat_map(|r| r.names.iter().map(String::as_str)).filter(|n| by_rule.contains(n)).collect();
    let conditional = std::mem::take(&mut c.values);
    for ((name, index), values) in conditional {
        if c.allow.contains(&name) || names_in_rules.contains(name.as_str()) || by_rule.contains(name.as_str()) {
            c.allow.insert(name);
        } else {
            c.values.insert((name, index), values);
        }
    }
    c
}

/// `1 call`, `2 calls`.
fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, by: By, would: Outcome, values: &[u64], then: Option<u32>) -> Entry {
        let key = Key { arch: Arch::native(), nr: 0, by, would };
        let seen =
            Seen { name: name.into(), count: 1, values: values.iter().copied().collect(), then, ..Seen::default() };
        Entry { key, seen, rule: None, decided_by: String::new(), not_applying: vec![], unmet: vec![] }
    }

    #[test]
    fn the_change_allows_what_was_refused_with_args_only_where_the_default_refused() {
        let policy = Policy::new(
            Action::Errno(proto::Errno::EPERM),
            vec![proto::Rule::new(0, &["getpriority"], Action::Errno(proto::Errno::EPERM))],
        );
        let watches = [Watch::parse("socket").unwrap(), Watch::parse("getpriority").unwrap()];
        let other = Arch::native().runnable_on().iter().copied().find(|a| *a != Arch::native());
        let mut entries = vec![
            entry("socket", By::Default, Outcome::Errno(1), &[40, 38], None),
            entry("getpriority", By::Rule(0), Outcome::Errno(1), &[0], None),
            entry("unlink", By::Rule(3), Outcome::Asked(1), &[], None),
            entry("mkdir", By::Rule(4), Outcome::Denied(13), &[], None),
            entry("syscall_999", By::Default, Outcome::Errno(1), &[], None),
        ];
        if let Some(arch) = other {
            let mut e = entry("getpid", By::ArchNotListed, Outcome::Killed, &[], Some(verdict::ret::ALLOW));
            e.key.arch = arch;
            entries.push(e);
        }
        let c = change(&entries, &policy, &watches);
        assert_eq!(c.allow, ["getpriority", "mkdir"].map(String::from).into());
        assert_eq!(c.values, [(("socket".to_string(), 0), [38, 40].into())].into());
        assert_eq!(c.asked, ["unlink".to_string()].into());
        assert_eq!(c.unnamed, ["syscall_999".to_string()].into());
        assert_eq!(c.arches, other.into_iter().collect());
    }
}
