//! The pure policy evaluation: `decide(event) -> Decision`, table-tested without a kernel.
//!
//! A notification reaches user space because some `SCMP_ACT_NOTIFY` rule matched it in BPF (or the default action
//! is `SCMP_ACT_NOTIFY`). [`Decider`] finds that rule again: the first notify rule, in profile order, that names the
//! syscall on this arch and whose register conditions hold. Its `supervise` object is the decision; without one, or
//! when no rule can be identified, the policy's notify default applies (deny with EPERM unless the profile says
//! otherwise).

use std::sync::Arc;

use proto::{Action, Arch, Decision, Policy, Rule};

use crate::syscalls::SyscallMap;

/// What the kernel told us about one notified syscall, as far as deciding needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub arch: Arch,
    pub nr: i32,
    pub args: [u64; 6],
}

/// The outcome of [`Decider::decide`]: the decision and the rule it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict<'a> {
    pub decision: &'a Decision,
    /// Index in the profile's `syscalls[]`, or `None` when the default applied.
    pub rule: Option<usize>,
    /// The syscall's name on the event's arch, when known.
    pub syscall: Option<&'a Arc<str>>,
}

/// The notify rules of a policy, indexed by (arch, nr).
#[derive(Debug)]
pub struct Decider {
    rules: Vec<Rule>,
    by_syscall: SyscallMap<Vec<usize>>,
    default: Decision,
}

impl Decider {
    /// Indexes the policy's `SCMP_ACT_NOTIFY` rules for every arch of the policy.
    pub fn new(policy: &Policy) -> Decider {
        let rules: Vec<Rule> = policy.rules.iter().filter(|r| r.action == Action::Notify).cloned().collect();
        let mut by_syscall = SyscallMap::default();
        for (i, rule) in rules.iter().enumerate() {
            for name in &rule.names {
                by_syscall.insert_name(name, &policy.arches, vec![i], |list, new| list.extend_from_slice(new));
            }
        }
        Decider { rules, by_syscall, default: policy.notify_default.clone() }
    }

    /// True if some decision may ask the person at the terminal.
    pub fn prompts(&self) -> bool {
        let is_prompt = |d: &Decision| matches!(d, Decision::Prompt(_));
        is_prompt(&self.default) || self.rules.iter().any(|r| r.decision.as_ref().is_some_and(is_prompt))
    }

    /// Decides one event. Pure: no I/O, no target memory.
    pub fn decide(&self, event: &Event) -> Verdict<'_> {
        let Some((name, candidates)) = self.by_syscall.get(event.arch, event.nr) else {
            return Verdict { decision: &self.default, rule: None, syscall: None };
        };
        let matched = candidates.iter().map(|&i| &self.rules[i]).find(|rule| rule.matches_args(&event.args));
        match matched {
            Some(rule) => Verdict {
                decision: rule.decision.as_ref().unwrap_or(&self.default),
                rule: Some(rule.index),
                syscall: Some(name),
            },
            None => Verdict { decision: &self.default, rule: None, syscall: Some(name) },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::{ArgCmp, CmpOp, Emulator, Errno};

    fn rule(index: usize, names: &[&str], action: Action, args: Vec<ArgCmp>, decision: Option<Decision>) -> Rule {
        Rule { index, names: names.iter().map(|s| s.to_string()).collect(), action, args, decision }
    }

    fn policy(rules: Vec<Rule>) -> Policy {
        Policy {
            default_action: Action::Allow,
            arches: vec![Arch::X86_64, Arch::X86, Arch::X32],
            rules,
            notify_default: Decision::Deny(Errno::EPERM),
            flags: vec![],
            listener_path: None,
            listener_metadata: None,
        }
    }

    fn event(arch: Arch, nr: i32, args: [u64; 6]) -> Event {
        Event { arch, nr, args }
    }

    #[test]
    fn decisions_follow_the_first_matching_notify_rule() {
        let eacces = Errno::new(13).unwrap();
        let p = policy(vec![
            rule(0, &["mkdir"], Action::Errno(Errno::EPERM), vec![], None),
            rule(1, &["mkdirat"], Action::Notify, vec![], Some(Decision::Deny(eacces))),
            rule(
                2,
                &["clock_settime", "settimeofday"],
                Action::Notify,
                vec![],
                Some(Decision::Emulate(Emulator::ClockSet)),
            ),
            rule(3, &["getppid"], Action::Notify, vec![ArgCmp { index: 0, op: CmpOp::Eq, value: 1, value_two: 0 }], Some(Decision::Allow)),
            rule(4, &["getppid"], Action::Notify, vec![], Some(Decision::Deny(eacces))),
            rule(5, &["rmdir"], Action::Notify, vec![], None),
        ]);
        let d = Decider::new(&p);
        let table: &[(Event, Decision, Option<usize>)] = &[
            (event(Arch::X86_64, 258, [0; 6]), Decision::Deny(eacces), Some(1)),
            (event(Arch::X86_64, 227, [0; 6]), Decision::Emulate(Emulator::ClockSet), Some(2)),
            (event(Arch::X86, 264, [0; 6]), Decision::Emulate(Emulator::ClockSet), Some(2)),
            (event(Arch::X86_64, 164, [0; 6]), Decision::Emulate(Emulator::ClockSet), Some(2)),
            (event(Arch::X86_64, 110, [1, 0, 0, 0, 0, 0]), Decision::Allow, Some(3)),
            (event(Arch::X86_64, 110, [2, 0, 0, 0, 0, 0]), Decision::Deny(eacces), Some(4)),
            (event(Arch::X86_64, 84, [0; 6]), Decision::Deny(Errno::EPERM), Some(5)),
            // mkdir is decided in BPF; if it ever arrived, the default applies.
            (event(Arch::X86_64, 83, [0; 6]), Decision::Deny(Errno::EPERM), None),
            (event(Arch::X86_64, 9999, [0; 6]), Decision::Deny(Errno::EPERM), None),
        ];
        for (ev, want, rule) in table {
            let v = d.decide(ev);
            assert_eq!((v.decision, v.rule), (want, *rule), "{ev:?}");
        }
    }

    #[test]
    fn the_profile_default_applies_to_rules_without_a_decision() {
        let mut p = policy(vec![rule(0, &["rmdir"], Action::Notify, vec![], None)]);
        p.notify_default = Decision::Allow;
        assert_eq!(Decider::new(&p).decide(&event(Arch::X86_64, 84, [0; 6])).decision, &Decision::Allow);
    }
}
