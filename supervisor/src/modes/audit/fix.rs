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
