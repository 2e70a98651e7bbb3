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
    (nr >= 0).then_some(nr)
}

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
    }
}
