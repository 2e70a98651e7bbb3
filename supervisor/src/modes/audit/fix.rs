//! `--audit-fix OUT`: the profile with the report's [`Change`] applied, as a loadable profile.
//!
//! One allow rule goes first in `syscalls[]` (of two unconditional rules for a syscall libseccomp keeps the first
//! added, and an unconditional rule beats every conditional one), then one allow rule per `--args` value; missing
//! architectures are added to `architectures` (or to the native entry of `archMap`). When the default action is
//! itself ALLOW, an allow rule would be dropped as equal to the default: the names are taken out of the rules that
//! refused them instead. The result is checked before it is written: loaded, compiled, and every reported call
//! run through the new filter.

use std::path::Path;

use proto::profile::{ArgSpec, Profile, SyscallRule};
use proto::{Action, Arch, ArgCmp, CmpOp};

use super::report::{Change, Report};
use crate::modes::exit::{Failure, EXIT_FAILURE};
use crate::modes::policy_file::{this_machine, Machine};
use crate::modes::verdict::{self, Decider as By};

/// The comment of the rules the fix adds.
pub const COMMENT: &str = "added by supervise --audit";

/// `profile` with `change` applied.
pub fn apply(profile: &Profile, report: &Report) -> Profile {
    let change = &report.change;
    let mut out = profile.clone();
    let mut rules = out.syscalls.take().unwrap_or_default();
    let mut added = Vec::new();
    if report.default_action == Action::Allow {
        strip(&mut rules, change, report);
    } else {
        if !change.allow.is_empty() {
            let mut rule = SyscallRule::new(change.allow.iter().cloned(), Action::Allow);
            rule.comment = Some(format!("{COMMENT}: {}", report.command));
            added.push(rule);
        }
        for ((name, index), values) in &change.values {
            for &value in values {
                let mut rule = SyscallRule::new([name.clone()], Action::Allow);
                let cmp = ArgCmp { index: *index, op: CmpOp::Eq, value, value_two: 0 };
                rule.args = Some(vec![ArgSpec { value_two: None, ..ArgSpec::from(cmp) }]);
                rule.comment = Some(format!("{COMMENT}: {name} argument {index} = {value}"));
                added.push(rule);
            }
        }
    }
    added.extend(rules);
    out.syscalls = Some(added);
    add_arches(&mut out, change);
    out
}

/// With an ALLOW default: takes the reported names out of the rules that refused them (a rule left without names
/// goes).
fn strip(rules: &mut Vec<SyscallRule>, change: &Change, report: &Report) {
    let refusing: Vec<usize> = report
        .entries
        .iter()
        .filter_map(|e| match e.key.by {
            By::Rule(i) => Some(i),
            _ => None,
        })
        .collect();
    let names: Vec<&String> = change.allow.iter().chain(change.values.keys().map(|(n, _)| n)).collect();
    let mut index = 0;
    rules.retain_mut(|rule| {
        let i = index;
        index += 1;
        if !refusing.contains(&i) {
            return true;
        }
        let kept: Vec<String> =
            rule.syscall_names().into_iter().filter(|n| !names.iter().any(|m| m == n)).map(String::from).collect();
        rule.name = None;
        let empty = kept.is_empty();
        rule.names = Some(kept);
        !empty
    });
}

fn add_arches(profile: &mut Profile, change: &Change) {
    if change.arches.is_empty() {
        return;
    }
    let scmp = |a: &Arch| a.scmp_name().to_string();
    if let Some(map) = profile.arch_map.as_mut() {
        if let Some(entry) =
            map.iter_mut().find(|e| e.architecture.as_deref().and_then(Arch::parse) == Some(Arch::native()))
        {
            let subs = entry.sub_architectures.get_or_insert_with(Vec::new);
            subs.extend(change.arches.iter().map(scmp));
            return;
        }
    }
    let list = profile.architectures.get_or_insert_with(Vec::new);
    if list.is_empty() {
        list.push(scmp(&Arch::native()));
    }
    list.extend(change.arches.iter().map(scmp));
}

/// Applies the change, checks that every reported call now passes, and writes the profile.
///
/// # Errors
/// The new profile does not load or compile (a bug: said so), or the file cannot be written (125).
pub fn write(path: &Path, profile: &Profile, report: &Report) -> Result<(), Failure> {
    let fixed = apply(profile, report);
    let text = fixed.to_json_pretty() + "\n";
    let machine = Machine { caps: report.caps, ..this_machine() };
    let fail = |why: String| Failure::new(EXIT_FAILURE, format!("--audit-fix {}: {why}", path.display()));
    let policy = proto::profile::load(&text, &machine)
        .map_err(|e| fail(format!("the fixed profile does not load: {}", e[0].in_file("fix"))))?;
    let all = proto::Policy { arches: Arch::native().runnable_on().to_vec(), ..policy.clone() };
    let bpf = agent::filter::compile(&all).map_err(|e| fail(format!("the fixed profile does not compile: {e}")))?.bpf;
    let mut still = Vec::new();
    for e in &report.entries {
        let named = !e.seen.name.starts_with("syscall_");
        let asked = matches!(e.key.would, super::report::Outcome::Asked(_));
        if !named || asked {
            continue;
        }
        let ex = verdict::explain(&policy, bpf.insns(), e.key.arch, e.key.nr, &e.seen.name, &e.seen.first_regs);
        if verdict::refuses(ex.ret) {
            still.push(format!("{} ({})", e.seen.name, verdict::ret_name(ex.ret)));
        }
    }
    std::fs::write(path, text).map_err(|e| fail(format!("cannot write: {e}")))?;
    let line = if still.is_empty() {
        format!("supervise audit: wrote {}: the profile with that change", path.display())
    } else {
        format!(
            "supervise audit: wrote {}, but these calls would still be refused under it: {}",
            path.display(),
            still.join(", ")
        )
    };
    crate::logging::eprint_line(&line);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modes::audit::report::{Entry, Outcome};
    use crate::modes::audit::{Key, Seen};
    use std::collections::BTreeSet;

    fn report(default_action: Action, change: Change, refused_by: Option<usize>) -> Report {
        let by = refused_by.map_or(By::Default, By::Rule);
        let key = Key { arch: Arch::native(), nr: 0, by, would: Outcome::Errno(1) };
        let seen = Seen { name: "mkdir".into(), ..Seen::default() };
        let entry = Entry { key, seen, rule: None, decided_by: String::new(), not_applying: vec![], unmet: vec![] };
        Report {
            policy: "p".into(),
            command: "app".into(),
            caps: 0,
            status: 0,
            entries: vec![entry],
            change,
            default_action,
        }
    }

    fn profile(json: &str) -> Profile {
        proto::profile::parse(json).unwrap()
    }

    #[test]
    fn the_allow_rule_goes_first_with_one_rule_per_argument_value() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],"syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#,
        );
        let mut change = Change { allow: BTreeSet::from(["mkdir".to_string()]), ..Change::default() };
        change.values.insert(("socket".into(), 0), BTreeSet::from([1, 2]));
        change.arches.insert(Arch::X86);
        let fixed = apply(&p, &report(Action::Errno(proto::Errno::EPERM), change, None));
        let rules: Vec<&SyscallRule> = fixed.rules().collect();
        assert_eq!(rules[0].syscall_names(), ["mkdir"]);
        assert!(rules[0].comment.as_deref().unwrap().starts_with(COMMENT));
        assert_eq!((rules[1].syscall_names(), rules[2].syscall_names()), (vec!["socket"], vec!["socket"]));
        assert_eq!(rules[3].syscall_names(), ["read"]);
        assert_eq!(fixed.architectures.as_deref(), Some(&["SCMP_ARCH_X86_64".to_string(), "SCMP_ARCH_X86".into()][..]));
        proto::profile::load(&fixed.to_json_pretty(), &this_machine()).expect("loads");
    }

    #[test]
    fn under_an_allow_default_the_names_leave_the_refusing_rules() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":[]}],"syscalls":[{"names":["mkdir","rmdir"],"action":"SCMP_ACT_ERRNO"},{"names":["mkdir"],"action":"SCMP_ACT_KILL"}]}"#,
        );
        let mut change = Change { allow: BTreeSet::from(["mkdir".to_string()]), ..Change::default() };
        change.arches.insert(Arch::X32);
        let fixed = apply(&p, &report(Action::Allow, change.clone(), Some(0)));
        let rules: Vec<&SyscallRule> = fixed.rules().collect();
        assert_eq!(rules.len(), 2, "{}", fixed.to_json_pretty());
        assert_eq!(rules[0].syscall_names(), ["rmdir"]);
        let subs = fixed.arch_map.as_ref().unwrap()[0].sub_architectures.clone().unwrap();
        if Arch::native() == Arch::X86_64 {
            assert_eq!(subs, ["SCMP_ARCH_X32"]);
        }
        let fixed = apply(&p, &report(Action::Allow, change, Some(1)));
        assert_eq!(fixed.rules().count(), 1, "the rule left without names goes: {}", fixed.to_json_pretty());
    }
}
