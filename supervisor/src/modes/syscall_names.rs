//! Syscall names as libseccomp knows them, for messages about a name it does not: every known name, the closest
//! one to a misspelt name, and libseccomp's version. Used by `check`'s lints and `record --args`.

use std::collections::BTreeSet;

use proto::Arch;

use crate::kernel::syscalls;

/// Every syscall name that libseccomp knows on any architecture.
pub fn known_syscalls() -> BTreeSet<String> {
    const ARCHES: [(Arch, i32); 19] = [
        (Arch::X86_64, 0),
        (Arch::X86, 0),
        (Arch::X32, proto::arch::X32_SYSCALL_BIT),
        (Arch::Aarch64, 0),
        (Arch::Arm, 0),
        (Arch::Arm, 0x0f_0000),
        (Arch::Riscv64, 0),
        (Arch::Ppc64le, 0),
        (Arch::Ppc, 0),
        (Arch::S390x, 0),
        (Arch::S390, 0),
        (Arch::Mips, 4000),
        (Arch::Mips64, 5000),
        (Arch::Mips64n32, 6000),
        (Arch::Mipsel, 4000),
        (Arch::Mipsel64, 5000),
        (Arch::Mipsel64n32, 6000),
        (Arch::Parisc, 0),
        (Arch::Parisc64, 0),
    ];
    let mut names = BTreeSet::new();
    for (arch, base) in ARCHES {
        for nr in 0..1100 {
            if let Some(name) = syscalls::name_of(arch, base + nr) {
                names.insert(name);
            }
        }
    }
    names
}

/// The known name closest to `name` (edit distance at most 2, or a quarter of its length).
pub fn suggest(name: &str, known: &BTreeSet<String>) -> Option<String> {
    let limit = 2.max(name.len() / 4);
    known.iter().map(|k| (strsim::levenshtein(name, k), k)).filter(|(d, _)| *d <= limit).min().map(|(_, k)| k.clone())
}

/// libseccomp's version, for messages about names it does not know.
pub fn libseccomp_version() -> String {
    libseccomp::ScmpVersion::current().map_or_else(|_| "?".into(), |v| format!("{}.{}.{}", v.major, v.minor, v.micro))
}
