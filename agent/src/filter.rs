//! Policy → BPF. A resolved [`Policy`] becomes a libseccomp context, which is exported as a ready BPF program
//! ([`Bpf`]). This runs in the parent before `fork`, so the launcher only has to hand finished bytes to
//! `seccomp(2)`. A policy that prompts gets the terminal [`guard`] in front of libseccomp's program.

pub mod eval;
pub mod guard;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
use nix::sys::memfd::{memfd_create, MFdFlags};
use proto::{Action, Arch, ArgCmp, CmpOp, Policy};
use thiserror::Error;

/// One BPF instruction, as `struct sock_filter`.
pub type Insn = libc::sock_filter;

/// A compiled filter program.
#[derive(Clone)]
pub struct Bpf {
    insns: Vec<Insn>,
}

impl std::fmt::Debug for Bpf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bpf({} instructions)", self.insns.len())
    }
}

impl Bpf {
    /// Wraps instructions, for example a hand-written program in a test.
    pub fn from_insns(insns: Vec<Insn>) -> Bpf {
        Bpf { insns }
    }

    pub fn insns(&self) -> &[Insn] {
        &self.insns
    }

    pub fn len(&self) -> usize {
        self.insns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }

    /// The program as `seccomp_export_bpf` writes it: native-endian `sock_filter` records of 8 bytes.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.insns.len() * 8);
        for insn in &self.insns {
            out.extend_from_slice(&insn.code.to_ne_bytes());
            out.extend_from_slice(&[insn.jt, insn.jf]);
            out.extend_from_slice(&insn.k.to_ne_bytes());
        }
        out
    }

    /// Parses `seccomp_export_bpf` output: native-endian `sock_filter` records of 8 bytes.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Bpf, FilterError> {
        if !bytes.len().is_multiple_of(8) || bytes.is_empty() || bytes.len() / 8 > usize::from(u16::MAX) {
            return Err(FilterError::Export(std::io::Error::other(format!("bad BPF length {}", bytes.len()))));
        }
        let insns = bytes
            .chunks_exact(8)
            .map(|c| Insn {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        Ok(Bpf { insns })
    }
}

/// The result of compiling a policy.
#[derive(Debug)]
pub struct Compiled {
    pub bpf: Bpf,
    /// True if some syscall can reach `SCMP_ACT_NOTIFY`, so the filter needs a listener.
    pub notifies: bool,
    /// Syscall names that this architecture does not know, with their rule index. They are skipped, as runc does.
    pub skipped: Vec<(usize, String)>,
}

/// Why a policy could not be compiled.
#[derive(Debug, Error)]
pub enum FilterError {
    #[error("libseccomp could not create a filter context")]
    Context(#[source] libseccomp::error::SeccompError),
    #[error("libseccomp does not support architecture {0}")]
    Arch(Arch, #[source] libseccomp::error::SeccompError),
    #[error("syscalls[{index}]: errno {errno} is above {LIBSECCOMP_MAX_ERRNO}, the largest libseccomp accepts")]
    ErrnoTooLarge { index: usize, errno: u16 },
    #[error("defaultErrnoRet {0} is above {LIBSECCOMP_MAX_ERRNO}, the largest errno libseccomp accepts")]
    DefaultErrnoTooLarge(u16),
    #[error("syscalls[{index}]: libseccomp rejected the rule for {name:?}")]
    Rule {
        index: usize,
        name: String,
        #[source]
        source: libseccomp::error::SeccompError,
    },
    #[error("could not export the BPF program")]
    Export(#[source] std::io::Error),
    #[error(
        "the filter is {}{insns} BPF instructions, {}{} over the kernel's limit of {MAX_INSNS}: the kernel would \
         refuse it (EINVAL); use fewer rules or argument conditions",
        if *.at_least { "at least " } else { "" },
        if *.at_least { "at least " } else { "" },
        insns - MAX_INSNS
    )]
    TooLarge {
        insns: usize,
        /// libseccomp's own count overflowed (it keeps it in 16 bits): `insns` is a lower bound (from its PFC
        /// form, or the distinct conditions of each syscall).
        at_least: bool,
    },
}

/// The kernel's limit on a seccomp filter's length (`BPF_MAXINSNS`).
pub const MAX_INSNS: usize = 4096;

/// Compiles a policy with libseccomp and exports the BPF program.
///
/// Arches other than those in the policy get `SCMP_ACT_KILL_PROCESS` (the bad-arch action). Rules whose action
/// equals the default action are skipped (the filter would be the same; libseccomp refuses them). A policy that
/// prompts starts with the terminal [`guard`].
///
/// # Errors
/// [`FilterError`] if libseccomp refuses the context, an arch or a rule, or the export fails.
pub fn compile(policy: &Policy) -> Result<Compiled, FilterError> {
    let (ctx, notifies, skipped, lower) = build(policy)?;
    let bytes = export(|file| ctx.export_bpf(file))?;
    let mut insns = guard::prefix(policy);
    // Said before anything is loaded: the kernel's own answer is a bare EINVAL. libseccomp 2.5 counts a program's
    // instructions in 16 bits and silently writes a truncated program past 65535, so a count below the lower bound
    // means it overflowed.
    let exported = insns.len() + bytes.len() / 8;
    // The PFC form does not overflow. Its tests and actions are about twice the instructions (Docker's default
    // profile: 2,766 and 1,383; libseccomp shares identical blocks); many times more means the count wrapped.
    let pfc = export(|file| ctx.export_pfc(file))?;
    let statements = String::from_utf8_lossy(&pfc)
        .lines()
        .filter(|l| l.trim_start().starts_with("if (") || l.trim_start().starts_with("action "))
        .count();
    let lower = if statements > 8 * exported { exported + 65536 } else { insns.len() + lower };
    if exported > MAX_INSNS || lower > MAX_INSNS {
        let at_least = exported < lower;
        return Err(FilterError::TooLarge { insns: exported.max(lower), at_least });
    }
    insns.extend_from_slice(Bpf::from_bytes(&bytes)?.insns());
    Ok(Compiled { bpf: Bpf::from_insns(insns), notifies, skipped })
}

/// libseccomp's human-readable form of the filter (PFC), for `check --bpf`, after a line about the [`guard`] when
/// the policy has one.
///
/// # Errors
/// As [`compile`].
pub fn pfc(policy: &Policy) -> Result<String, FilterError> {
    let (ctx, ..) = build(policy)?;
    let bytes = export(|file| ctx.export_pfc(file))?;
    Ok(guard::describe(policy).unwrap_or_default() + &String::from_utf8_lossy(&bytes))
}

/// The context, whether it notifies, the skipped names, and a lower bound on the program's length.
type Built = (ScmpFilterContext, bool, Vec<(usize, String)>, usize);

fn build(policy: &Policy) -> Result<Built, FilterError> {
    if let Action::Errno(e) = policy.default_action {
        if e.get() > LIBSECCOMP_MAX_ERRNO {
            return Err(FilterError::DefaultErrnoTooLarge(e.get()));
        }
    }
    let mut ctx = ScmpFilterContext::new(scmp_action(policy.default_action)).map_err(FilterError::Context)?;
    ctx.set_act_badarch(ScmpAction::KillProcess).map_err(FilterError::Context)?;
    // A binary tree of syscall numbers: Docker's default loads in about 0.3 ms instead of 1.2 ms for the linear
    // program, and arg-checked rules run faster. (libseccomp ≥ 2.5; older versions keep the linear layout.)
    let _ = ctx.set_ctl_optimize(2);
    let native = scmp_arch(Arch::native());
    for &arch in &policy.arches {
        let scmp = scmp_arch(arch);
        if scmp != native && scmp != ScmpArch::Native {
            ctx.add_arch(scmp).map_err(|e| FilterError::Arch(arch, e))?;
        }
    }
    if !policy.arches.contains(&Arch::native()) {
        ctx.remove_arch(native).map_err(|e| FilterError::Arch(Arch::native(), e))?;
    }

    let mut notifies = policy.default_action == Action::Notify;
    let mut skipped = Vec::new();
    // Each syscall with rules needs a jump, and each distinct condition (identical blocks may be shared between
    // syscalls, so counted once) at least one more. An unconditional rule makes libseccomp drop the syscall's
    // conditional ones.
    let mut conditions: HashMap<i32, HashSet<ArgCmp>> = HashMap::new();
    let mut unconditional: HashSet<i32> = HashSet::new();
    for rule in &policy.rules {
        if rule.action == policy.default_action {
            continue;
        }
        if let Action::Errno(e) = rule.action {
            if e.get() > LIBSECCOMP_MAX_ERRNO {
                return Err(FilterError::ErrnoTooLarge { index: rule.index, errno: e.get() });
            }
        }
        let action = scmp_action(rule.action);
        for name in &rule.names {
            let Ok(syscall) = ScmpSyscall::from_name(name) else {
                skipped.push((rule.index, name.clone()));
                continue;
            };
            let distinct = conditions.entry(i32::from(syscall)).or_default();
            for group in rule.condition_groups() {
                if group.is_empty() {
                    unconditional.insert(i32::from(syscall));
                }
                distinct.extend(group.iter().copied());
                let cmps: Vec<ScmpArgCompare> = group.iter().map(scmp_cmp).collect();
                ctx.add_rule_conditional(action, syscall, &cmps).map_err(|source| FilterError::Rule {
                    index: rule.index,
                    name: name.clone(),
                    source,
                })?;
            }
            notifies |= rule.action == Action::Notify;
        }
    }
    let distinct: HashSet<&ArgCmp> =
        conditions.iter().filter(|(nr, _)| !unconditional.contains(nr)).flat_map(|(_, c)| c).collect();
    let lower = conditions.len() + distinct.len();
    Ok((ctx, notifies, skipped, lower))
}

/// Runs a libseccomp export into a memfd and reads it back. (`seccomp_export_bpf_mem` needs libseccomp ≥ 2.6.)
fn export(write: impl FnOnce(&File) -> Result<(), libseccomp::error::SeccompError>) -> Result<Vec<u8>, FilterError> {
    let fd = memfd_create(c"supervise-bpf", MFdFlags::MFD_CLOEXEC).map_err(|e| FilterError::Export(e.into()))?;
    let mut file = File::from(fd);
    write(&file).map_err(|e| FilterError::Export(std::io::Error::other(e)))?;
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0)).and_then(|_| file.read_to_end(&mut bytes)).map_err(FilterError::Export)?;
    Ok(bytes)
}

/// The largest errno libseccomp 2.5 accepts in `SCMP_ACT_ERRNO` (it wants errno < MAX_ERRNO).
pub const LIBSECCOMP_MAX_ERRNO: u16 = 4094;

fn scmp_action(action: Action) -> ScmpAction {
    match action {
        Action::Allow => ScmpAction::Allow,
        Action::Errno(e) => ScmpAction::Errno(i32::from(e.get())),
        Action::KillThread => ScmpAction::KillThread,
        Action::KillProcess => ScmpAction::KillProcess,
        Action::Trap => ScmpAction::Trap,
        Action::Trace(data) => ScmpAction::Trace(data),
        Action::Log => ScmpAction::Log,
        Action::Notify => ScmpAction::Notify,
    }
}

fn scmp_cmp(cmp: &ArgCmp) -> ScmpArgCompare {
    let op = match cmp.op {
        CmpOp::Ne => ScmpCompareOp::NotEqual,
        CmpOp::Lt => ScmpCompareOp::Less,
        CmpOp::Le => ScmpCompareOp::LessOrEqual,
        CmpOp::Eq => ScmpCompareOp::Equal,
        CmpOp::Ge => ScmpCompareOp::GreaterEqual,
        CmpOp::Gt => ScmpCompareOp::Greater,
        CmpOp::MaskedEq => ScmpCompareOp::MaskedEqual(cmp.value),
    };
    let datum = if cmp.op == CmpOp::MaskedEq { cmp.value_two } else { cmp.value };
    ScmpArgCompare::new(u32::from(cmp.index), op, datum)
}

/// libseccomp's arch token for one of ours.
pub fn scmp_arch(arch: Arch) -> ScmpArch {
    match arch {
        Arch::X86_64 => ScmpArch::X8664,
        Arch::X86 => ScmpArch::X86,
        Arch::X32 => ScmpArch::X32,
        Arch::Aarch64 => ScmpArch::Aarch64,
        Arch::Arm => ScmpArch::Arm,
        Arch::Mips => ScmpArch::Mips,
        Arch::Mips64 => ScmpArch::Mips64,
        Arch::Mips64n32 => ScmpArch::Mips64N32,
        Arch::Mipsel => ScmpArch::Mipsel,
        Arch::Mipsel64 => ScmpArch::Mipsel64,
        Arch::Mipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::Ppc => ScmpArch::Ppc,
        Arch::Ppc64 => ScmpArch::Ppc64,
        Arch::Ppc64le => ScmpArch::Ppc64Le,
        Arch::S390 => ScmpArch::S390,
        Arch::S390x => ScmpArch::S390X,
        Arch::Parisc => ScmpArch::Parisc,
        Arch::Parisc64 => ScmpArch::Parisc64,
        Arch::Riscv64 => ScmpArch::Riscv64,
    }
}

#[cfg(test)]
mod too_large_tests {
    use super::*;

    #[test]
    fn the_message_says_by_how_much() {
        let exact = FilterError::TooLarge { insns: 4231, at_least: false };
        assert_eq!(
            exact.to_string(),
            "the filter is 4231 BPF instructions, 135 over the kernel's limit of 4096: the kernel would refuse it \
             (EINVAL); use fewer rules or argument conditions"
        );
        let bound = FilterError::TooLarge { insns: 65672, at_least: true };
        assert!(bound.to_string().starts_with("the filter is at least 65672 BPF instructions, at least 61576 over"));
    }

    #[test]
    fn a_policy_within_the_limit_compiles() {
        let policy = Policy::new(Action::Allow, vec![]);
        assert!(compile(&policy).is_ok());
    }
}
