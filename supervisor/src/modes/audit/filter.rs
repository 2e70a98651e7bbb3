//! The audit variant of a policy: what could be refused notifies, what is allowed stays allowed in BPF.
//!
//! - The default action and every rule whose action refuses (ERRNO, KILL*, TRAP, TRACE) become NOTIFY; notify rules
//!   stay NOTIFY (their decisions are taken by the auditor from the real policy); allow and log rules stay.
//! - A syscall that has both allow (or log) rules and rules that may refuse or notify gets one unconditional NOTIFY
//!   rule instead of its rules: with conditions on both sides, which one libseccomp lets win is its own business,
//!   and turning one side into NOTIFY could change it. Notified, the call is decided by the real filter instead.
//! - Every arch the machine runs is covered: a call of an arch the policy does not list notifies (the real filter
//!   would kill the process).
//! - No `supervise` decisions, so no prompt and no terminal guard: the audited run refuses nothing.

use std::collections::BTreeSet;

use agent::filter::Insn;
use proto::arch::X32_SYSCALL_BIT;
use proto::{Action, Arch, Decision, Policy, Rule};

use crate::modes::verdict::{audit_arch, ret};

fn may_refuse(action: Action) -> bool {
    !matches!(action, Action::Allow | Action::Log)
}

/// The policy an audited program runs under.
pub fn audit_policy(policy: &Policy) -> Policy {
    let allowing: BTreeSet<&str> = names_of(policy, |a| !may_refuse(a));
    let refusing: BTreeSet<&str> = names_of(policy, may_refuse);
    let mixed: Vec<String> = allowing.intersection(&refusing).map(|s| s.to_string()).collect();
    let mut rules: Vec<Rule> = policy
        .rules
        .iter()
        .filter_map(|r| {
            let names: Vec<String> = r.names.iter().filter(|n| !mixed.contains(n)).cloned().collect();
            if names.is_empty() {
                return None;
            }
            let action = if may_refuse(r.action) { Action::Notify } else { r.action };
            Some(Rule { names, action, decision: None, matchers: Default::default(), ..r.clone() })
        })
        .collect();
    if !mixed.is_empty() {
        let index = policy.rules.len();
        rules.insert(0, Rule { names: mixed, ..Rule::new(index, &[], Action::Notify) });
    }
    let default_action = if may_refuse(policy.default_action) { Action::Notify } else { policy.default_action };
    Policy {
        default_action,
        arches: Arch::native().runnable_on().to_vec(),
        rules,
        notify_default: Decision::Allow,
        flags: vec![],
        listener_path: None,
        listener_metadata: None,
    }
}

/// Instructions in front of the audit filter that notify every call of an arch the policy does not list (libseccomp
/// has one default action for all arches, which may allow). Each block falls through to the next when its arch is
/// not the call's; libseccomp's program loads what it needs again.
pub fn arch_prefix(policy: &Policy) -> Vec<Insn> {
    const LD_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    const JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    const JSET: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
    const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    let insn = |code, jt, jf, k| Insn { code, jt, jf, k };
    let mut out = Vec::new();
    for &arch in Arch::native().runnable_on().iter().filter(|a| !policy.arches.contains(a)) {
        let Some(audit) = audit_arch(arch) else { continue };
        out.push(insn(LD_ABS, 0, 0, 4));
        match arch {
            // x32 and x86-64 share the audit arch; the number tells them apart.
            Arch::X32 | Arch::X86_64 => {
                out.push(insn(JEQ, 0, 3, audit));
                out.push(insn(LD_ABS, 0, 0, 0));
                let x32 = arch == Arch::X32;
                out.push(insn(JSET, u8::from(!x32), u8::from(x32), X32_SYSCALL_BIT as u32));
            }
            _ => out.push(insn(JEQ, 0, 1, audit)),
        }
        out.push(insn(RET, 0, 0, ret::USER_NOTIF));
    }
    out
}

fn names_of(policy: &Policy, pick: impl Fn(Action) -> bool) -> BTreeSet<&str> {
    policy.rules.iter().filter(|r| pick(r.action)).flat_map(|r| r.names.iter().map(String::as_str)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modes::verdict::ret_of;
    use agent::filter::eval::eval;
    use proto::{ArgCmp, CmpOp, Errno};

    fn nr(name: &str) -> i32 {
        crate::kernel::syscalls::number_of(name, Arch::native()).unwrap()
    }

    /// For each call: the audit filter allows what the real one allows, and notifies everything else.
    #[test]
    fn the_audit_filter_notifies_what_the_policy_refuses_and_nothing_else() {
        let cond = |index, name: &str, action, value| Rule {
            args: vec![ArgCmp { index: 0, op: CmpOp::Eq, value, value_two: 0 }],
            ..Rule::new(index, &[name], action)
        };
        let eacces = Action::Errno(Errno::new(13).unwrap());
        let policy = Policy {
            arches: vec![Arch::native()],
            ..Policy::new(
                Action::Errno(Errno::EPERM),
                vec![
                    Rule::new(0, &["read", "getpid"], Action::Allow),
                    cond(1, "socket", Action::Allow, 1),
                    cond(2, "getppid", Action::Allow, 1),
                    cond(3, "getppid", eacces, 2),
                    Rule::new(4, &["mkdir"], Action::KillProcess),
                    Rule::new(5, &["unlink"], Action::Notify),
                    Rule::new(6, &["getpid"], Action::Trap),
                ],
            )
        };
        let real = agent::filter::compile(&policy).unwrap().bpf;
        let audit = audit_policy(&policy);
        let audited = agent::filter::compile(&audit).unwrap().bpf;
        let arch = crate::modes::verdict::audit_arch(Arch::native()).unwrap();
        for name in ["read", "getpid", "socket", "getppid", "mkdir", "unlink", "write", "reboot"] {
            for arg in 0..4 {
                let args = [arg, 0, 0, 0, 0, 0];
                let r = eval(real.insns(), arch, nr(name), &args).unwrap();
                let a = eval(audited.insns(), arch, nr(name), &args).unwrap();
                // getpid and getppid have allow rules and refusing ones: notified, then decided by the real filter.
                if r == ret::ALLOW && !["getpid", "getppid"].contains(&name) {
                    assert_eq!(a, ret::ALLOW, "{name}({arg})");
                } else {
                    assert_eq!(a, ret_of(Action::Notify), "{name}({arg}): real {r:#x}");
                }
            }
        }
        assert!(!audit.prompts());
    }

    #[test]
    fn calls_of_unlisted_arches_notify() {
        let policy = Policy { arches: vec![Arch::native()], ..Policy::new(Action::Allow, vec![]) };
        let mut insns = arch_prefix(&policy);
        insns.extend_from_slice(agent::filter::compile(&audit_policy(&policy)).unwrap().bpf.insns());
        let native = audit_arch(Arch::native()).unwrap();
        assert_eq!(eval(&insns, native, nr("getpid"), &[0; 6]), Some(ret::ALLOW));
        for &other in Arch::native().runnable_on().iter().filter(|a| **a != Arch::native()) {
            let nr = if other == Arch::X32 { 39 | X32_SYSCALL_BIT } else { 20 };
            assert_eq!(eval(&insns, audit_arch(other).unwrap(), nr, &[0; 6]), Some(ret::USER_NOTIF), "{other}");
        }
        let all = Policy { arches: Arch::native().runnable_on().to_vec(), ..policy };
        assert!(arch_prefix(&all).is_empty());
    }
}
