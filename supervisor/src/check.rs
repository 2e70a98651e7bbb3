//! `supervise check FILE…`: validate policies without running anything. A valid file gets a short summary
//! (architectures, rule counts per action, notified syscalls) and exit 0; an invalid one gets every error with its
//! place and exit 1. Syscall names unknown on every architecture are warnings with a "did you mean" suggestion.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use proto::{Action, Arch, Policy};

use crate::policy_file::{this_target, Source};
use crate::run::Failure;
use crate::syscalls;

/// Exit status of `check` when some file is invalid.
pub const EXIT_INVALID: i32 = 1;

/// Checks each file and prints the report on stdout (errors on stderr).
///
/// # Errors
/// A [`Failure`] with status 1 when some file is invalid (its errors are already printed).
pub fn check(files: &[PathBuf]) -> Result<i32, Failure> {
    let known = known_syscalls();
    let mut invalid = 0;
    for file in files {
        let result = Source::open(Some(file)).map_err(|line| vec![line]).and_then(|source| {
            let profile = source.parse()?;
            let policy = source.load(&this_target())?;
            Ok((source, profile, policy))
        });
        match result {
            Ok((source, profile, policy)) => {
                let names: Vec<(usize, String)> = profile.rule_names().map(|(i, name)| (i, name.to_string())).collect();
                println!("{}", summary(&source.name, &policy));
                for warning in unknown_names(&names, &known) {
                    eprintln!("supervise: {}: warning: {warning}", source.name);
                }
            }
            Err(lines) => {
                invalid += 1;
                for line in lines {
                    eprintln!("supervise: {line}");
                }
            }
        }
    }
    if invalid > 0 {
        return Err(Failure {
            code: EXIT_INVALID,
            lines: vec![format!("{invalid} of {} policies invalid", files.len())],
        });
    }
    Ok(0)
}

/// The one-paragraph summary of a valid policy.
pub fn summary(name: &str, policy: &Policy) -> String {
    let arches: Vec<String> = policy.arches.iter().map(Arch::to_string).collect();
    let mut per_action: BTreeMap<&str, usize> = BTreeMap::new();
    let mut notified = BTreeSet::new();
    for rule in &policy.rules {
        *per_action.entry(rule.action.name()).or_default() += 1;
        if rule.action == Action::Notify {
            notified.extend(rule.names.iter().map(String::as_str));
        }
    }
    let counts: Vec<String> = per_action.iter().map(|(action, n)| format!("{action} {n}")).collect();
    let notified: Vec<&str> = notified.into_iter().collect();
    format!(
        "{name}: ok\n  default action: {}\n  architectures: {}\n  rules: {} ({})\n  notified syscalls: {}",
        policy.default_action.name(),
        arches.join(", "),
        policy.rules.len(),
        if counts.is_empty() { "none".into() } else { counts.join(", ") },
        if notified.is_empty() { "none".into() } else { notified.join(", ") },
    )
}

/// Every syscall name libseccomp knows on any architecture.
fn known_syscalls() -> BTreeSet<String> {
    let arches = [
        Arch::X86_64,
        Arch::X86,
        Arch::X32,
        Arch::Aarch64,
        Arch::Arm,
        Arch::Riscv64,
        Arch::Ppc64le,
        Arch::S390x,
        Arch::Mips64,
    ];
    let mut names = BTreeSet::new();
    for arch in arches {
        let base = if arch == Arch::X32 { proto::arch::X32_SYSCALL_BIT } else { 0 };
        let offsets = if arch == Arch::Mips64 { 5000 } else { 0 };
        for nr in 0..1100 {
            if let Some(name) = syscalls::name_of(arch, base + offsets + nr) {
                names.insert(name);
            }
        }
    }
    names
}

fn libseccomp_version() -> String {
    libseccomp::ScmpVersion::current().map_or_else(|_| "?".into(), |v| format!("{}.{}.{}", v.major, v.minor, v.micro))
}

/// Warnings for names unknown on every architecture, with the closest known name.
fn unknown_names(names: &[(usize, String)], known: &BTreeSet<String>) -> Vec<String> {
    names
        .iter()
        .filter(|(_, name)| !known.contains(name))
        .map(|(index, name)| {
            let best = known
                .iter()
                .map(|k| (strsim::levenshtein(name, k), k))
                .filter(|(d, _)| *d <= 2.max(name.len() / 4))
                .min();
            let unknown = format!(
                "syscalls[{index}]: {name:?} is unknown on every architecture (to libseccomp {})",
                libseccomp_version()
            );
            match best {
                Some((_, k)) => format!("{unknown}; did you mean {k:?}?"),
                None => format!("{unknown}; it is skipped"),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_get_a_suggestion() {
        let known = known_syscalls();
        assert!(known.contains("mkdir") && known.contains("socketcall") && known.contains("clock_settime64"));
        let warnings = unknown_names(&[(0, "mkdri".into()), (1, "mkdir".into()), (2, "zzzzzzzzzzzz".into())], &known);
        assert_eq!(warnings.len(), 2);
        assert!(warnings[0].contains("did you mean \"mkdir\"?"), "{}", warnings[0]);
        assert!(warnings[1].contains("unknown on every architecture"), "{}", warnings[1]);
    }
}
