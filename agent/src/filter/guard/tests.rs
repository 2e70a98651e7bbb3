//! The guard run on a small classic-BPF interpreter, in front of libseccomp's own programs: what the kernel would
//! return for a call, whatever the profile says about `ioctl`.

use proto::{Action, ArgCmp, CmpOp, Decision, Errno, OnTimeout, Policy, PromptSpec, Rule};

use super::*;
use crate::filter::compile;

const TIOCSTI: u64 = 0x5412;
const TIOCLINUX: u64 = 0x541C;
const TCXONC: u64 = 0x540A;
const TCGETS: u64 = 0x5401;
const X32_BIT: i32 = 0x4000_0000;

/// What the kernel's classic-BPF interpreter returns for `seccomp_data` (nr, arch, args).
fn run(insns: &[Insn], nr: i32, arch: u32, args: [u64; 6]) -> u32 {
    crate::filter::eval::eval(insns, arch, nr, &args).expect("every instruction is modelled")
}

/// libseccomp's program alone, without the guard.
fn plain(policy: &Policy) -> Vec<Insn> {
    let (ctx, ..) = crate::filter::build(policy).unwrap();
    exported(&ctx)
}

fn exported(ctx: &libseccomp::ScmpFilterContext) -> Vec<Insn> {
    let bytes = crate::filter::export(|file| ctx.export_bpf(file)).unwrap();
    crate::filter::Bpf::from_bytes(&bytes).unwrap().insns().to_vec()
}

fn ioctl(arch: Arch) -> i32 {
    ScmpSyscall::from_name_by_arch("ioctl", scmp_arch(arch)).unwrap().into()
}

fn prompt() -> Option<Decision> {
    Some(Decision::Prompt(PromptSpec { timeout_secs: 30, on_timeout: OnTimeout::Deny, errno: Errno::EPERM }))
}

fn notify(index: usize, names: &[&str], decision: Option<Decision>) -> Rule {
    Rule { decision, ..Rule::new(index, names, Action::Notify) }
}

fn on_x86_64(default_action: Action, rules: Vec<Rule>) -> Policy {
    Policy { arches: vec![Arch::X86_64, Arch::X86, Arch::X32], ..Policy::new(default_action, rules) }
}

/// Profiles that say something else about `ioctl`, each with a prompt rule on `unlinkat`.
fn profiles() -> Vec<(&'static str, Policy)> {
    let unlink = notify(9, &["unlinkat"], prompt());
    let tcgets_only = ArgCmp { index: 1, op: CmpOp::Eq, value: TCGETS, value_two: 0 };
    vec![
        ("default allow", on_x86_64(Action::Allow, vec![unlink.clone()])),
        (
            "default errno, ioctl allowed without condition",
            on_x86_64(
                Action::Errno(Errno::EPERM),
                vec![Rule::new(0, &["ioctl", "unlinkat", "exit_group"], Action::Allow), unlink.clone()],
            ),
        ),
        ("ioctl notified and allowed", on_x86_64(Action::Allow, vec![notify(0, &["ioctl"], None), unlink.clone()])),
        (
            "ioctl allowed for TCGETS only",
            on_x86_64(
                Action::Errno(Errno::ENOSYS),
                vec![Rule { args: vec![tcgets_only], ..Rule::new(0, &["ioctl"], Action::Allow) }, unlink.clone()],
            ),
        ),
        ("ioctl logged", on_x86_64(Action::Allow, vec![Rule::new(0, &["ioctl"], Action::Log), unlink.clone()])),
        ("ioctl kills", on_x86_64(Action::Allow, vec![Rule::new(0, &["ioctl"], Action::KillProcess), unlink.clone()])),
        (
            "notify default prompts",
            Policy {
                notify_default: prompt().unwrap(),
                ..on_x86_64(Action::Allow, vec![notify(0, &["unlinkat"], None)])
            },
        ),
    ]
}

#[test]
fn terminal_injection_fails_with_eperm_whatever_the_profile_says_about_ioctl() {
    for (name, policy) in profiles() {
        assert!(policy.prompts(), "{name}");
        let bpf = compile(&policy).unwrap().bpf;
        let insns = bpf.insns();
        for (arch, nr) in
            [(Arch::X86_64, ioctl(Arch::X86_64)), (Arch::X86, ioctl(Arch::X86)), (Arch::X32, ioctl(Arch::X32))]
        {
            assert!(arch != Arch::X32 || nr & X32_BIT != 0, "x32 numbers carry the x32 bit: {nr:#x}");
            for request in [TIOCSTI, TIOCLINUX, TCXONC, TIOCSTI | 0xdead_0000_0000, TIOCSTI | 1 << 32] {
                let got = run(insns, nr, audit_arch(arch), [0, request, 0, 0, 0, 0]);
                assert_eq!(got, DENIED, "{name}: {arch} ioctl({request:#x}) gave {got:#x}");
            }
        }
    }
}

#[test]
fn everything_else_is_the_profiles_own_decision() {
    for (name, policy) in profiles() {
        let guarded = compile(&policy).unwrap().bpf;
        let plain = plain(&policy);
        assert_eq!(guarded.insns().len(), plain.len() + prefix(&policy).len(), "{name}");
        for arch in [Arch::X86_64, Arch::X86, Arch::X32] {
            for (nr, args) in [
                (ioctl(arch), [1, TCGETS, 0, 0, 0, 0]),
                (ioctl(arch), [0, 0x5413, 0, 0, 0, 0]),
                (ioctl(arch) + 1, [0, TIOCSTI, 0, 0, 0, 0]),
                (ScmpSyscall::from_name_by_arch("unlinkat", scmp_arch(arch)).unwrap().into(), [0; 6]),
                (ScmpSyscall::from_name_by_arch("write", scmp_arch(arch)).unwrap().into(), [1, TIOCSTI, 0, 0, 0, 0]),
            ] {
                let token = audit_arch(arch);
                assert_eq!(run(guarded.insns(), nr, token, args), run(&plain, nr, token, args), "{name}: {arch} {nr}");
            }
        }
        // An arch the policy does not list is the profile's business (libseccomp kills it).
        assert_eq!(run(guarded.insns(), 29, 0xC000_00B7, [0, TIOCSTI, 0, 0, 0, 0]), libc::SECCOMP_RET_KILL_PROCESS);
    }
}

#[test]
fn a_policy_that_never_prompts_has_no_guard() {
    let policy = on_x86_64(Action::Allow, vec![notify(0, &["unlinkat"], Some(Decision::Allow))]);
    assert!(!policy.prompts());
    assert!(prefix(&policy).is_empty());
    assert!(describe(&policy).is_none());
    let bpf = compile(&policy).unwrap().bpf;
    assert_eq!(run(bpf.insns(), ioctl(Arch::X86_64), audit_arch(Arch::X86_64), [0, TIOCSTI, 0, 0, 0, 0]), 0x7fff_0000);
}

/// Why the guard is a prefix: libseccomp keeps one action per syscall once a rule has no argument condition, so an
/// argument-conditioned ERRNO on `ioctl` vanishes next to the profile's unconditional ALLOW, added before or after.
#[test]
fn libseccomp_alone_drops_a_conditioned_errno_next_to_an_unconditional_allow() {
    use libseccomp::{ScmpAction, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext};
    let sti = ScmpArgCompare::new(1, ScmpCompareOp::MaskedEqual(0xffff_ffff), TIOCSTI);
    let nr = ioctl(Arch::X86_64);
    let syscall = ScmpSyscall::from(nr);
    for errno_first in [true, false] {
        let mut ctx = ScmpFilterContext::new(ScmpAction::Errno(libc::ENOSYS)).unwrap();
        let errno_rule = |ctx: &mut ScmpFilterContext| {
            // libseccomp 2.5 takes it without an error, and it is not in the program.
            let _ = ctx.add_rule_conditional(ScmpAction::Errno(libc::EPERM), syscall, &[sti]);
        };
        if errno_first {
            errno_rule(&mut ctx);
            ctx.add_rule(ScmpAction::Allow, syscall).unwrap();
        } else {
            ctx.add_rule(ScmpAction::Allow, syscall).unwrap();
            errno_rule(&mut ctx);
        }
        let insns = exported(&ctx);
        let got = run(&insns, nr, audit_arch(Arch::X86_64), [0, TIOCSTI, 0, 0, 0, 0]);
        assert_eq!(got, libc::SECCOMP_RET_ALLOW, "errno first: {errno_first}");
    }
}

#[test]
fn every_arch_has_its_own_numbers() {
    for arch in [Arch::Mips, Arch::Mipsel64n32] {
        assert_eq!(requests(arch)[0], 0x5472, "MIPS TIOCSTI");
    }
    assert_eq!(requests(Arch::Ppc64le)[2], 0x2000_741E, "PowerPC TCXONC");
    assert_eq!(requests(Arch::Aarch64), [TIOCSTI as u32, TIOCLINUX as u32, TCXONC as u32]);
    for arch in [Arch::X86_64, Arch::X86, Arch::Aarch64, Arch::Arm, Arch::Riscv64, Arch::S390x, Arch::Ppc64le] {
        assert_eq!(Arch::from_audit(audit_arch(arch), 1), Some(arch), "{arch}");
    }
    // A guard over every arch still keeps its jumps short.
    let all = [
        Arch::X86_64,
        Arch::X86,
        Arch::X32,
        Arch::Aarch64,
        Arch::Arm,
        Arch::Mips,
        Arch::Mips64,
        Arch::Mips64n32,
        Arch::Mipsel,
        Arch::Mipsel64,
        Arch::Mipsel64n32,
        Arch::Ppc,
        Arch::Ppc64,
        Arch::Ppc64le,
        Arch::S390,
        Arch::S390x,
        Arch::Parisc,
        Arch::Parisc64,
        Arch::Riscv64,
    ];
    let policy = Policy { arches: all.to_vec(), ..on_x86_64(Action::Allow, vec![notify(0, &["unlinkat"], prompt())]) };
    let guard = prefix(&policy);
    for arch in all {
        let nr = ioctl(arch);
        let got = run(
            &[guard.clone(), vec![Insn { code: RET, jt: 0, jf: 0, k: 0x7fff_0000 }]].concat(),
            nr,
            audit_arch(arch),
            [0, u64::from(requests(arch)[0]), 0, 0, 0, 0],
        );
        assert_eq!(got, DENIED, "{arch}");
    }
}
