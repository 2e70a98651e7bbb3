//! Syscall numbers ↔ names, per architecture, through libseccomp's tables. Built once per policy so that the hot
//! path does a hash lookup, not a table scan.

use std::collections::HashMap;
use std::sync::Arc;

use agent::filter::scmp_arch;
use libseccomp::ScmpSyscall;
use proto::Arch;

/// The name of syscall `nr` on `arch`, if libseccomp knows it.
pub fn name_of(arch: Arch, nr: i32) -> Option<String> {
    ScmpSyscall::from(nr).get_name_by_arch(scmp_arch(arch)).ok()
}

/// The number of `name` on `arch`, if it exists there (pseudo-numbers for absent syscalls are `None`).
pub fn number_of(name: &str, arch: Arch) -> Option<i32> {
    let nr = i32::from(ScmpSyscall::from_name_by_arch(name, scmp_arch(arch)).ok()?);
    if nr < 0 && arch == Arch::X86 {
        // libseccomp names i386's socket calls by socketcall(2) pseudo-numbers, and its filters match the direct
        // calls (Linux 4.3) too: those are the numbers notifications carry.
        return I386_SOCKET_CALLS.iter().find(|(n, _)| *n == name).map(|&(_, nr)| nr);
    }
    (nr >= 0).then_some(nr)
}

/// The direct socket syscalls of i386 (arch/x86/entry/syscalls/syscall_32.tbl).
const I386_SOCKET_CALLS: [(&str, i32); 17] = [
    ("recvmmsg", 337),
    ("sendmmsg", 345),
    ("socket", 359),
    ("socketpair", 360),
    ("bind", 361),
    ("connect", 362),
    ("listen", 363),
    ("accept4", 364),
    ("getsockopt", 365),
    ("setsockopt", 366),
    ("getsockname", 367),
    ("getpeername", 368),
    ("sendto", 369),
    ("sendmsg", 370),
    ("recvfrom", 371),
    ("recvmsg", 372),
    ("shutdown", 373),
];

/// A map from (arch, nr) to a value, with the syscall's name kept for logs.
#[derive(Debug, Default)]
pub struct SyscallMap<T> {
    entries: HashMap<(Arch, i32), (Arc<str>, T)>,
}

impl<T> SyscallMap<T> {
    pub fn get(&self, arch: Arch, nr: i32) -> Option<(&Arc<str>, &T)> {
        self.entries.get(&(arch, nr)).map(|(name, value)| (name, value))
    }

    /// Inserts `name` for every arch where it exists, merging values with `merge` when the key is already present.
    pub fn insert_name(&mut self, name: &str, arches: &[Arch], value: T, merge: impl Fn(&mut T, &T))
    where
        T: Clone,
    {
        for &arch in arches {
            let Some(nr) = number_of(name, arch) else { continue };
            match self.entries.get_mut(&(arch, nr)) {
                Some((_, existing)) => merge(existing, &value),
                None => {
                    self.entries.insert((arch, nr), (Arc::from(name), value.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_agree_across_arches() {
        assert_eq!(number_of("getppid", Arch::X86_64), Some(110));
        assert_eq!(number_of("getppid", Arch::X86), Some(64));
        assert_eq!(number_of("getppid", Arch::X32), Some(110 | 0x4000_0000));
        assert_eq!(name_of(Arch::X86_64, 110).as_deref(), Some("getppid"));
        assert_eq!(name_of(Arch::X86, 64).as_deref(), Some("getppid"));
        assert_eq!(number_of("stime", Arch::X86_64), None);
        assert_eq!(number_of("stime", Arch::X86), Some(25));
        assert_eq!(number_of("no_such_syscall", Arch::X86_64), None);
        // i386's direct socket calls, which libseccomp names by socketcall pseudo-numbers.
        for name in ["sendto", "sendmsg", "sendmmsg", "connect", "bind"] {
            let nr = number_of(name, Arch::X86).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(name_of(Arch::X86, nr).as_deref(), Some(name));
        }
        assert_eq!(number_of("accept", Arch::X86), None, "only through socketcall");
    }
}
