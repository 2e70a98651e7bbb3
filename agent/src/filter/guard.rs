//! The terminal guard: when a policy asks the person at the terminal ([`Policy::prompts`]), the program must not be
//! able to answer for them. Three ioctls fail with EPERM, on every architecture of the filter, before any rule of
//! the profile is looked at:
//!
//! - `TIOCSTI` pushes a byte into the terminal's input, as if typed (the `y` of a question);
//! - `TIOCLINUX` (virtual consoles) has the selection and paste subcodes (`TIOCL_SETSEL`, `TIOCL_PASTESEL`); its
//!   subcode is in memory, out of BPF's reach, so the whole request is denied;
//! - `TCXONC` (`tcflow`) would let the program resume the terminal output that supervise holds while it asks.
//!
//! **Why a prefix, not libseccomp rules.** libseccomp keeps one action per syscall when a rule has no argument
//! condition: an unconditional rule for `ioctl` (the profile's `SCMP_ACT_ALLOW`, Docker's default among them)
//! removes every argument-conditioned rule of `ioctl`, whichever comes first, and without an error (see the
//! tests). So the guard is a
//! hand-written block of BPF put in front of libseccomp's program: it looks at the arch, the syscall number and the
//! low 32 bits of the request (the kernel's `cmd` is an `unsigned int`, so the upper half of the register is
//! ignored, as the kernel ignores it), returns `SECCOMP_RET_ERRNO | EPERM` on a match and falls through to the
//! profile's program otherwise. It wins over every action of the profile, a kill included (the call still fails).

use proto::{Arch, Policy};

use super::{scmp_arch, Insn};
use libseccomp::ScmpSyscall;

/// `offsetof(struct seccomp_data, nr)`, `arch`, and the low half of `args[1]` (the request), by the kernel's byte
/// order.
const NR: u32 = 0;
const ARCH: u32 = 4;
const REQUEST_LOW: u32 = if cfg!(target_endian = "little") { 24 } else { 28 };

const LD: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// What a guarded request gets.
pub const DENIED: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;

/// The requests the guard denies on `arch`: `TIOCSTI`, `TIOCLINUX`, `TCXONC` (asm/ioctls.h; MIPS and PowerPC have
/// their own numbers).
pub fn requests(arch: Arch) -> [u32; 3] {
    match arch {
        Arch::Mips | Arch::Mipsel | Arch::Mips64 | Arch::Mipsel64 | Arch::Mips64n32 | Arch::Mipsel64n32 => {
            [0x5472, 0x5483, 0x5406]
        }
        // TCXONC is _IO('t', 30), with PowerPC's _IOC_NONE (1 << 29).
        Arch::Ppc | Arch::Ppc64 | Arch::Ppc64le => [0x5412, 0x541C, 0x2000_741E],
        // PA-RISC: TCXONC is _IO('T', 6).
        Arch::Parisc | Arch::Parisc64 => [0x5412, 0x541C, 0x5406],
        _ => [0x5412, 0x541C, 0x540A],
    }
}

/// `AUDIT_ARCH_*`, as the kernel puts it in `seccomp_data.arch` (x32 calls come as x86-64, with the x32 bit in the
/// number).
pub fn audit_arch(arch: Arch) -> u32 {
    match arch {
        Arch::X86_64 | Arch::X32 => 0xC000_003E,
        Arch::X86 => 0x4000_0003,
        Arch::Aarch64 => 0xC000_00B7,
        Arch::Arm => 0x4000_0028,
        Arch::Mips => 0x0000_0008,
        Arch::Mipsel => 0x4000_0008,
        Arch::Mips64 => 0x8000_0008,
        Arch::Mipsel64 => 0xC000_0008,
        Arch::Mips64n32 => 0xA000_0008,
        Arch::Mipsel64n32 => 0xE000_0008,
        Arch::Ppc => 0x0000_0014,
        Arch::Ppc64 => 0x8000_0015,
        Arch::Ppc64le => 0xC000_0015,
        Arch::S390 => 0x0000_0016,
        Arch::S390x => 0x8000_0016,
        Arch::Parisc => 0x0000_000F,
        Arch::Parisc64 => 0x8000_000F,
        Arch::Riscv64 => 0xC000_00F3,
    }
}

/// The guard for `policy`, to put in front of libseccomp's program; empty if the policy never prompts.
///
/// One block per `AUDIT_ARCH` value of the policy's arches:
///
/// ```text
///     jeq #AUDIT_ARCH, 0, <next block>
///     ld  [nr]
///     jeq #ioctl_nr, <check>, 0        (one per arch sharing the value: x86-64 and x32)
///     ja  <profile>
/// check:
///     ld  [args[1] low half]
///     jeq #TIOCSTI, <deny>, 0          (and TIOCLINUX, TCXONC)
///     ja  <profile>
/// deny:
///     ret #SECCOMP_RET_ERRNO|EPERM
/// ```
///
/// The whole guard starts with `ld [arch]`; every conditional jump stays inside its block (a few instructions),
/// and `ja` takes 32-bit offsets.
pub fn prefix(policy: &Policy) -> Vec<Insn> {
    if !policy.prompts() {
        return Vec::new();
    }
    let mut blocks: Vec<(u32, Vec<u32>, [u32; 3])> = Vec::new();
    for &arch in &policy.arches {
        let Ok(nr) = ScmpSyscall::from_name_by_arch("ioctl", scmp_arch(arch)) else { continue };
        let token = audit_arch(arch);
        let nr = i32::from(nr) as u32;
        match blocks.iter_mut().find(|(t, ..)| *t == token) {
            Some((_, nrs, _)) if !nrs.contains(&nr) => nrs.push(nr),
            Some(_) => {}
            None => blocks.push((token, vec![nr], requests(arch))),
        }
    }
    let stmt = |code, k| Insn { code, jt: 0, jf: 0, k };
    let jeq = |k, jt: usize, jf: usize| Insn {
        code: JEQ,
        jt: u8::try_from(jt).expect("a short block"),
        jf: u8::try_from(jf).expect("a short block"),
        k,
    };
    let sizes: Vec<usize> = blocks.iter().map(|(_, nrs, reqs)| 6 + nrs.len() + reqs.len()).collect();
    let total = 1 + sizes.iter().sum::<usize>();
    let mut out = vec![stmt(LD, ARCH)];
    for ((token, nrs, reqs), size) in blocks.iter().zip(&sizes) {
        // Offsets count from the instruction after the jump; `end` is the first instruction of the profile.
        let end = |out: &Vec<Insn>| u32::try_from(total - out.len() - 1).expect("a short guard");
        out.push(jeq(*token, 0, size - 1));
        out.push(stmt(LD, NR));
        for (i, &nr) in nrs.iter().enumerate() {
            out.push(jeq(nr, nrs.len() - i, 0));
        }
        out.push(stmt(JA, end(&out)));
        out.push(stmt(LD, REQUEST_LOW));
        for (i, &request) in reqs.iter().enumerate() {
            out.push(jeq(request, reqs.len() - i, 0));
        }
        out.push(stmt(JA, end(&out)));
        out.push(stmt(RET, DENIED));
    }
    debug_assert_eq!(out.len(), total);
    out
}

/// The guard in words, for `check --bpf` (libseccomp's text shows only the profile's program).
pub fn describe(policy: &Policy) -> Option<String> {
    policy.prompts().then(|| {
        "# supervise: the policy prompts, so before the rules below, on every arch, ioctl(fd, TIOCSTI), \
         ioctl(fd, TIOCLINUX) and ioctl(fd, TCXONC) fail with EPERM (low 32 bits of the request)\n"
            .to_string()
    })
}

#[cfg(test)]
mod tests;
