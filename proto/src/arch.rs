//! [`Arch`]: the architectures a profile may name, with the `SCMP_ARCH_*` names and the common aliases
//! (`amd64`, `x86_64`, `i386`, `arm64`, …), and the kernel's `AUDIT_ARCH_*` values seen in `seccomp_data.arch`.

use std::fmt;

/// A seccomp architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arch {
    X86_64,
    X86,
    X32,
    Aarch64,
    Arm,
    Mips,
    Mips64,
    Mips64n32,
    Mipsel,
    Mipsel64,
    Mipsel64n32,
    Ppc,
    Ppc64,
    Ppc64le,
    S390,
    S390x,
    Parisc,
    Parisc64,
    Riscv64,
}

/// `__X32_SYSCALL_BIT`: x32 syscalls arrive with `AUDIT_ARCH_X86_64` and this bit set in the number.
pub const X32_SYSCALL_BIT: i32 = 0x4000_0000;

const TABLE: &[(Arch, &str, &[&str])] = &[
    (Arch::X86_64, "SCMP_ARCH_X86_64", &["x86_64", "amd64", "x86-64", "x64"]),
    (Arch::X86, "SCMP_ARCH_X86", &["x86", "i386", "i486", "i586", "i686", "386"]),
    (Arch::X32, "SCMP_ARCH_X32", &["x32"]),
    (Arch::Aarch64, "SCMP_ARCH_AARCH64", &["aarch64", "arm64"]),
    (Arch::Arm, "SCMP_ARCH_ARM", &["arm", "armhf", "armel", "armv7", "armv7l"]),
    (Arch::Mips, "SCMP_ARCH_MIPS", &["mips"]),
    (Arch::Mips64, "SCMP_ARCH_MIPS64", &["mips64"]),
    (Arch::Mips64n32, "SCMP_ARCH_MIPS64N32", &["mips64n32"]),
    (Arch::Mipsel, "SCMP_ARCH_MIPSEL", &["mipsel", "mipsle"]),
    (Arch::Mipsel64, "SCMP_ARCH_MIPSEL64", &["mipsel64", "mips64le"]),
    (Arch::Mipsel64n32, "SCMP_ARCH_MIPSEL64N32", &["mipsel64n32", "mips64n32le"]),
    (Arch::Ppc, "SCMP_ARCH_PPC", &["ppc"]),
    (Arch::Ppc64, "SCMP_ARCH_PPC64", &["ppc64"]),
    (Arch::Ppc64le, "SCMP_ARCH_PPC64LE", &["ppc64le"]),
    (Arch::S390, "SCMP_ARCH_S390", &["s390"]),
    (Arch::S390x, "SCMP_ARCH_S390X", &["s390x"]),
    (Arch::Parisc, "SCMP_ARCH_PARISC", &["parisc"]),
    (Arch::Parisc64, "SCMP_ARCH_PARISC64", &["parisc64"]),
    (Arch::Riscv64, "SCMP_ARCH_RISCV64", &["riscv64"]),
];

impl Arch {
    /// Parses a `SCMP_ARCH_*` name or a common alias, ignoring ASCII case.
    pub fn parse(name: &str) -> Option<Arch> {
        TABLE.iter().find_map(|(arch, scmp, aliases)| {
            let hit = scmp.eq_ignore_ascii_case(name) || aliases.iter().any(|a| a.eq_ignore_ascii_case(name));
            hit.then_some(*arch)
        })
    }

    /// The `SCMP_ARCH_*` name.
    pub fn scmp_name(self) -> &'static str {
        TABLE.iter().find(|(arch, ..)| *arch == self).map_or("SCMP_ARCH_UNKNOWN", |(_, scmp, _)| scmp)
    }

    /// The architecture this code was compiled for.
    pub fn native() -> Arch {
        if cfg!(target_arch = "x86_64") {
            Arch::X86_64
        } else if cfg!(target_arch = "x86") {
            Arch::X86
        } else if cfg!(target_arch = "aarch64") {
            Arch::Aarch64
        } else if cfg!(target_arch = "arm") {
            Arch::Arm
        } else if cfg!(target_arch = "riscv64") {
            Arch::Riscv64
        } else if cfg!(all(target_arch = "powerpc64", target_endian = "little")) {
            Arch::Ppc64le
        } else if cfg!(target_arch = "s390x") {
            Arch::S390x
        } else {
            Arch::X86_64
        }
    }

    /// Arches whose syscalls a process on `self` can make: itself and its compat ABIs.
    pub fn runnable_on(self) -> &'static [Arch] {
        match self {
            Arch::X86_64 => &[Arch::X86_64, Arch::X86, Arch::X32],
            Arch::Aarch64 => &[Arch::Aarch64, Arch::Arm],
            Arch::Ppc64 => &[Arch::Ppc64, Arch::Ppc],
            Arch::S390x => &[Arch::S390x, Arch::S390],
            Arch::Mips64 => &[Arch::Mips64, Arch::Mips64n32, Arch::Mips],
            Arch::Mipsel64 => &[Arch::Mipsel64, Arch::Mipsel64n32, Arch::Mipsel],
            Arch::Parisc64 => &[Arch::Parisc64, Arch::Parisc],
            Arch::X86 => &[Arch::X86],
            Arch::X32 => &[Arch::X32],
            Arch::Arm => &[Arch::Arm],
            Arch::Mips => &[Arch::Mips],
            Arch::Mips64n32 => &[Arch::Mips64n32],
            Arch::Mipsel => &[Arch::Mipsel],
            Arch::Mipsel64n32 => &[Arch::Mipsel64n32],
            Arch::Ppc => &[Arch::Ppc],
            Arch::Ppc64le => &[Arch::Ppc64le],
            Arch::S390 => &[Arch::S390],
            Arch::Parisc => &[Arch::Parisc],
            Arch::Riscv64 => &[Arch::Riscv64],
        }
    }

    /// The arch of a notification, from `seccomp_data.arch` (an `AUDIT_ARCH_*` value) and the syscall number.
    pub fn from_audit(audit_arch: u32, nr: i32) -> Option<Arch> {
        Some(match audit_arch {
            0xC000_003E if nr & X32_SYSCALL_BIT != 0 => Arch::X32,
            0xC000_003E => Arch::X86_64,
            0x4000_0003 => Arch::X86,
            0xC000_00B7 => Arch::Aarch64,
            0x4000_0028 => Arch::Arm,
            0xC000_00F3 => Arch::Riscv64,
            0xC000_0015 => Arch::Ppc64le,
            0x8000_0015 => Arch::Ppc64,
            0x0000_0014 => Arch::Ppc,
            0x8000_0016 => Arch::S390x,
            0x0000_0016 => Arch::S390,
            _ => return None,
        })
    }

    /// Width in bytes of the C `long` (and pointers) on this arch; x32 has 4-byte pointers but 8-byte `time_t`.
    pub fn long_bytes(self) -> usize {
        match self {
            Arch::X86 | Arch::Arm | Arch::Mips | Arch::Mipsel | Arch::Ppc | Arch::S390 | Arch::Parisc => 4,
            Arch::X32 | Arch::Mips64n32 | Arch::Mipsel64n32 => 4,
            _ => 8,
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.scmp_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_scmp_names_and_aliases() {
        for (name, arch) in [
            ("SCMP_ARCH_X86_64", Arch::X86_64),
            ("amd64", Arch::X86_64),
            ("x86_64", Arch::X86_64),
            ("i386", Arch::X86),
            ("x86", Arch::X86),
            ("SCMP_ARCH_X32", Arch::X32),
            ("arm64", Arch::Aarch64),
            ("aarch64", Arch::Aarch64),
            ("SCMP_ARCH_PPC64LE", Arch::Ppc64le),
        ] {
            assert_eq!(Arch::parse(name), Some(arch), "{name}");
        }
        assert_eq!(Arch::parse("SCMP_ARCH_Z80"), None);
    }

    #[test]
    fn every_arch_round_trips_through_its_scmp_name() {
        for (arch, scmp, _) in TABLE {
            assert_eq!(Arch::parse(scmp), Some(*arch));
            assert_eq!(arch.scmp_name(), *scmp);
        }
    }

    #[test]
    fn x32_is_told_apart_by_the_syscall_bit() {
        assert_eq!(Arch::from_audit(0xC000_003E, 39), Some(Arch::X86_64));
        assert_eq!(Arch::from_audit(0xC000_003E, 39 | X32_SYSCALL_BIT), Some(Arch::X32));
        assert_eq!(Arch::from_audit(0x4000_0003, 20), Some(Arch::X86));
    }
}
