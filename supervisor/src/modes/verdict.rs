//! What a profile does with one call, and which of its rules says so: shared by `--audit` and `check --explain`.
//!
//! The answer comes from the compiled filter itself: [`eval`] (in the agent, beside the compiler) runs the BPF
//! program the kernel would get on the call's `seccomp_data` (a classic-BPF interpreter for the instructions
//! libseccomp and the terminal guard emit),
//! so libseccomp's own ordering of rules (an unconditional rule beats conditional ones, the first of two
//! unconditional rules wins, rules equal to the default are dropped) is the kernel's, not a model of it. The rule
//! is then found among the profile's rules for the syscall whose conditions hold and whose action is the one the
//! filter returned ([`explain`]); [`Explanation`] names it, with the rules that `includes`/`excludes` left out
//! here ([`Skipped`]), such as Docker's CAP_SYS_ADMIN rule.

use agent::filter::eval::eval;
use agent::filter::Insn;
use proto::arch::X32_SYSCALL_BIT;
use proto::profile::{Filter, Profile, SyscallRule};
use proto::{Action, Arch, Errno, Policy, Rule};

/// `SECCOMP_RET_*` action values (seccomp(2)).
pub mod ret {
    pub const KILL_PROCESS: u32 = 0x8000_0000;
    pub const KILL_THREAD: u32 = 0;
    pub const TRAP: u32 = 0x0003_0000;
    pub const ERRNO: u32 = 0x0005_0000;
    pub const USER_NOTIF: u32 = 0x7fc0_0000;
    pub const TRACE: u32 = 0x7ff0_0000;
    pub const LOG: u32 = 0x7ffc_0000;
    pub const ALLOW: u32 = 0x7fff_0000;
    /// The action part of a return value; the rest is its data (an errno, the tracer's value).
    pub const ACTION_FULL: u32 = 0xffff_0000;
}

/// The `AUDIT_ARCH_*` value of `seccomp_data.arch` for an arch (x32 shares x86-64's and sets a bit in the number).
pub fn audit_arch(arch: Arch) -> Option<u32> {
    Some(match arch {
        Arch::X86_64 | Arch::X32 => 0xC000_003E,
        Arch::X86 => 0x4000_0003,
        Arch::Aarch64 => 0xC000_00B7,
        Arch::Arm => 0x4000_0028,
        Arch::Riscv64 => 0xC000_00F3,
        Arch::Ppc64le => 0xC000_0015,
        Arch::Ppc64 => 0x8000_0015,
        Arch::Ppc => 0x0000_0014,
        Arch::S390x => 0x8000_0016,
        Arch::S390 => 0x0000_0016,
        _ => return None,
    })
}

/// The number as the kernel puts it in `seccomp_data.nr` (x32 numbers carry `__X32_SYSCALL_BIT`).
pub fn data_nr(arch: Arch, nr: i32) -> i32 {
    if arch == Arch::X32 {
        nr | X32_SYSCALL_BIT
    } else {
        nr
    }
}

/// The filter's return value for a kernel action.
pub fn ret_of(action: Action) -> u32 {
    match action {
        Action::Allow => ret::ALLOW,
        Action::Errno(e) => ret::ERRNO | u32::from(e.get()),
        Action::KillThread => ret::KILL_THREAD,
        Action::KillProcess => ret::KILL_PROCESS,
        Action::Trap => ret::TRAP,
        Action::Trace(data) => ret::TRACE | u32::from(data),
        Action::Log => ret::LOG,
        Action::Notify => ret::USER_NOTIF,
    }
}

/// A filter return value in words: `SCMP_ACT_ERRNO (EPERM)`, `SCMP_ACT_ALLOW`, …
pub fn ret_name(value: u32) -> String {
    let data = value & !ret::ACTION_FULL;
    match value & ret::ACTION_FULL {
        ret::ALLOW => "SCMP_ACT_ALLOW".into(),
        ret::LOG => "SCMP_ACT_LOG".into(),
        ret::USER_NOTIF => "SCMP_ACT_NOTIFY".into(),
        ret::ERRNO => match Errno::new(i64::from(data)) {
            Some(e) => format!("SCMP_ACT_ERRNO ({})", errno_name(e)),
            None => format!("SCMP_ACT_ERRNO ({data})"),
        },
        ret::TRACE => format!("SCMP_ACT_TRACE ({data})"),
        ret::TRAP => "SCMP_ACT_TRAP".into(),
        ret::KILL_PROCESS => "SCMP_ACT_KILL_PROCESS".into(),
        ret::KILL_THREAD => "SCMP_ACT_KILL_THREAD".into(),
        other => format!("{other:#x}"),
    }
}

/// `EPERM`, or the number when the errno has no name here.
pub fn errno_name(e: Errno) -> String {
    e.name().map_or_else(|| e.get().to_string(), String::from)
}

/// True if the kernel refuses the call with this return value (everything but allow, log and notify).
pub fn refuses(value: u32) -> bool {
    !matches!(value & ret::ACTION_FULL, ret::ALLOW | ret::LOG | ret::USER_NOTIF)
}

/// Who decided a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Decider {
    /// `syscalls[i]`.
    Rule(usize),
    /// `defaultAction`.
    Default,
    /// The call's architecture is not in the profile: the filter kills the process (the bad-arch action).
    ArchNotListed,
    /// Something in front of the profile's rules: the terminal guard of a policy that prompts.
    Guard,
}

/// What the filter does with one call, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// The filter's return value.
    pub ret: u32,
    pub by: Decider,
}

/// Explains one call: `bpf` is the compiled `policy` (over every arch the machine runs, or the policy's own:
/// a call of an arch the policy does not list is [`Decider::ArchNotListed`] either way).
pub fn explain(policy: &Policy, bpf: &[Insn], arch: Arch, nr: i32, name: &str, args: &[u64; 6]) -> Explanation {
    let value = audit_arch(arch).and_then(|a| eval(bpf, a, data_nr(arch, nr), args));
    let ret = value.unwrap_or(ret_of(policy.default_action));
    if !policy.arches.contains(&arch) {
        return Explanation { ret: ret::KILL_PROCESS, by: Decider::ArchNotListed };
    }
    Explanation { ret, by: attribute(policy, name, args, ret) }
}

/// The rule behind a return value: among the rules naming the syscall whose conditions hold, an unconditional one
/// first (libseccomp lets it win whatever the order), then in profile order, the first whose action is the one the
/// filter returned; else the default, when it is that action.
pub fn attribute(policy: &Policy, name: &str, args: &[u64; 6], ret: u32) -> Decider {
    let candidates: Vec<&Rule> = policy.rules.iter().filter(|r| r.names.iter().any(|n| n == name)).collect();
    let matching = |r: &&&Rule| ret_of(r.action) == ret && r.matches_args(args);
    let unconditional = candidates.iter().filter(|r| r.args.is_empty()).find(matching);
    if let Some(rule) = unconditional.or_else(|| candidates.iter().find(matching)) {
        return Decider::Rule(rule.index);
    }
    if ret_of(policy.default_action) == ret {
        Decider::Default
    } else {
        Decider::Guard
    }
}

/// A rule of the profile that names the syscall but does not apply on this machine, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub index: usize,
    pub names: Vec<String>,
    pub action: String,
    /// `includes caps CAP_SYS_ADMIN`, `excludes caps CAP_SYS_ADMIN`, …
    pub why: String,
    pub comment: Option<String>,
}

/// The rules of `profile` that name `name` and that `includes`/`excludes` leave out of `policy`.
pub fn skipped(profile: &Profile, policy: &Policy, name: &str) -> Vec<Skipped> {
    let applying: std::collections::BTreeSet<usize> = policy.rules.iter().map(|r| r.index).collect();
    profile
        .rules()
        .enumerate()
        .filter(|(i, r)| !applying.contains(i) && r.syscall_names().contains(&name))
        .map(|(index, r)| Skipped {
            index,
            names: r.syscall_names().into_iter().map(String::from).collect(),
            action: r.action.clone().unwrap_or_default(),
            why: filters(r),
            comment: r.comment.clone().filter(|c| !c.is_empty()),
        })
        .collect()
}

/// `includes caps CAP_SYS_ADMIN; excludes arches s390, s390x`.
fn filters(rule: &SyscallRule) -> String {
    let one = |word: &str, f: &Option<Filter>| -> Vec<String> {
        let Some(f) = f else { return vec![] };
        let mut out = Vec::new();
        for (key, list) in [("caps", &f.caps), ("arches", &f.arches)] {
            if let Some(list) = list.as_ref().filter(|l| !l.is_empty()) {
                out.push(format!("{word} {key} {}", list.join(", ")));
            }
        }
        if let Some(k) = &f.min_kernel {
            out.push(format!("{word} minKernel {k}"));
        }
        out
    };
    let mut parts = one("includes", &rule.includes);
    parts.extend(one("excludes", &rule.excludes));
    parts.join("; ")
}

/// `arg0 == 1 and arg1 & 0x7e020000 == 0`.
pub fn conditions(r: &Rule) -> String {
    use proto::CmpOp::*;
    let join = if r.condition_groups().len() > 1 { " or " } else { " and " };
    r.args
        .iter()
        .map(|c| {
            let op = match c.op {
                Ne => "!=",
                Lt => "<",
                Le => "<=",
                Eq => "==",
                Ge => ">=",
                Gt => ">",
                MaskedEq => return format!("arg{} & {:#x} == {:#x}", c.index, c.value, c.value_two),
            };
            format!("arg{} {op} {}", c.index, c.value)
        })
        .collect::<Vec<_>>()
        .join(join)
}

/// The rules for the syscall that apply here but whose `args` conditions do not hold for these registers (other than
/// the one that decided): where a call missed an allow, such as Docker's `socket` rules for AF_VSOCK.
pub fn unmatched<'a>(policy: &'a Policy, name: &str, args: &[u64; 6], by: Decider) -> Vec<&'a Rule> {
    policy
        .rules
        .iter()
        .filter(|r| by != Decider::Rule(r.index) && !r.args.is_empty() && r.names.iter().any(|n| n == name))
        .filter(|r| !r.matches_args(args))
        .collect()
}

/// A rule's names for people: up to `shown` of them, then `… N more`.
pub fn short_names(names: &[String], shown: usize) -> String {
    let mut out: Vec<&str> = names.iter().take(shown).map(String::as_str).collect();
    let more = names.len().saturating_sub(shown);
    let tail = format!("… {more} more");
    if more > 0 {
        out.push(&tail);
    }
    out.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::{ArgCmp, CmpOp};

    fn policy(default_action: Action, rules: Vec<Rule>) -> Policy {
        Policy { arches: vec![Arch::native()], ..Policy::new(default_action, rules) }
    }

    fn nr(name: &str) -> i32 {
        crate::kernel::syscalls::number_of(name, Arch::native()).unwrap()
    }

    fn explained(p: &Policy, name: &str, args: [u64; 6]) -> Explanation {
        let bpf = agent::filter::compile(p).unwrap().bpf;
        explain(p, bpf.insns(), Arch::native(), nr(name), name, &args)
    }

    #[test]
    fn the_filter_decides_and_the_rule_is_named() {
        let eacces = Errno::new(13).unwrap();
        let mut cond = Rule::new(1, &["socket"], Action::Allow);
        cond.args = vec![ArgCmp { index: 0, op: CmpOp::Eq, value: 1, value_two: 0 }];
        let p = policy(
            Action::Errno(Errno::EPERM),
            vec![
                Rule::new(0, &["read", "write"], Action::Allow),
                cond,
                Rule::new(2, &["mkdir"], Action::Errno(eacces)),
                Rule::new(3, &["reboot"], Action::KillProcess),
                // libseccomp keeps the unconditional rule whatever the order.
                {
                    let mut r = Rule::new(4, &["getpid"], Action::Allow);
                    r.args = vec![ArgCmp { index: 0, op: CmpOp::Eq, value: 0, value_two: 0 }];
                    r
                },
                Rule::new(5, &["getpid"], Action::Errno(eacces)),
            ],
        );
        let e = explained(&p, "read", [0; 6]);
        assert_eq!((ret_name(e.ret).as_str(), e.by), ("SCMP_ACT_ALLOW", Decider::Rule(0)));
        assert_eq!(explained(&p, "socket", [1, 0, 0, 0, 0, 0]).by, Decider::Rule(1));
        let e = explained(&p, "socket", [2, 0, 0, 0, 0, 0]);
        assert_eq!((ret_name(e.ret).as_str(), e.by), ("SCMP_ACT_ERRNO (EPERM)", Decider::Default));
        let e = explained(&p, "mkdir", [0; 6]);
        assert_eq!((ret_name(e.ret).as_str(), e.by), ("SCMP_ACT_ERRNO (EACCES)", Decider::Rule(2)));
        assert_eq!(explained(&p, "reboot", [0; 6]).by, Decider::Rule(3));
        assert_eq!(explained(&p, "getpid", [0; 6]).by, Decider::Rule(5));
        assert!(refuses(explained(&p, "getpid", [0; 6]).ret));
    }

    #[test]
    fn calls_of_an_arch_the_profile_does_not_list_are_named_so() {
        let p = policy(Action::Allow, vec![]);
        let all = Policy { arches: Arch::native().runnable_on().to_vec(), ..p.clone() };
        let bpf = agent::filter::compile(&all).unwrap().bpf;
        if let Some(&other) = Arch::native().runnable_on().iter().find(|a| **a != Arch::native()) {
            let e = explain(&p, bpf.insns(), other, 20, "x", &[0; 6]);
            assert_eq!(e.by, Decider::ArchNotListed);
        }
    }

    #[test]
    fn rules_left_out_by_includes_are_listed_with_why() {
        let source = crate::modes::policy_file::Source::open(None).unwrap();
        let profile = source.parse().unwrap();
        let machine = crate::modes::policy_file::Machine { caps: 0, ..crate::modes::policy_file::this_machine() };
        let policy = profile.resolve(&machine).unwrap();
        let s = skipped(&profile, &policy, "unshare");
        assert!(s.iter().any(|s| s.why == "includes caps CAP_SYS_ADMIN" && s.action == "SCMP_ACT_ALLOW"), "{s:?}");
        assert_eq!(short_names(&["a".into(), "b".into(), "c".into()], 2), "a, b, … 1 more");
    }
}
