//! Decision counters per syscall and decision, updated by the notify loop without a lock: a fixed table of
//! atomics indexed by (architecture slot, syscall number, decision) ([`Counters`]). One slot is the machine's own
//! architecture, one the first other architecture seen (i386 on x86_64); numbers beyond the table and further
//! architectures share an `other` row per decision.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use proto::{Arch, Decision};

use crate::modes::control::protocol::Count;

/// Syscall numbers counted one by one (every table has fewer than 1024 entries; x32's numbers carry a high bit
/// and land in `other`).
const NRS: usize = 1024;
/// The decisions counted, in table order.
pub const DECISIONS: [&str; 4] = ["allow", "deny", "emulate", "prompt"];

/// The index of a decision in [`DECISIONS`].
pub fn decision_index(decision: &Decision) -> usize {
    match decision {
        Decision::Allow => 0,
        Decision::Deny(_) => 1,
        Decision::Emulate(_) => 2,
        Decision::Prompt(_) => 3,
    }
}

/// The counters of one target.
pub struct Counters {
    native: Arch,
    /// The second architecture, set by its first decision.
    second: OnceLock<Arch>,
    /// `[slot][nr][decision]`, flattened.
    table: Box<[AtomicU64]>,
    other: [AtomicU64; DECISIONS.len()],
}

impl Default for Counters {
    fn default() -> Counters {
        Counters::new(Arch::native())
    }
}

impl Counters {
    pub fn new(native: Arch) -> Counters {
        Counters {
            native,
            second: OnceLock::new(),
            table: (0..2 * NRS * DECISIONS.len()).map(|_| AtomicU64::new(0)).collect(),
            other: Default::default(),
        }
    }

    /// Counts one decision: one relaxed atomic add, no lock, no allocation.
    pub fn add(&self, arch: Arch, nr: i32, decision: usize) {
        let slot = if arch == self.native {
            Some(0)
        } else if *self.second.get_or_init(|| arch) == arch {
            Some(1)
        } else {
            None
        };
        let counter = match (slot, usize::try_from(nr)) {
            (Some(slot), Ok(nr)) if nr < NRS => &self.table[(slot * NRS + nr) * DECISIONS.len() + decision],
            _ => &self.other[decision],
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Every counter that is not zero, named (`name_of` gives a syscall's name), sorted by syscall then decision.
    pub fn snapshot(&self, name_of: impl Fn(Arch, i32) -> Option<String>) -> Vec<Count> {
        let mut counts = Vec::new();
        let arches = [Some(self.native), self.second.get().copied()];
        for (slot, arch) in arches.iter().enumerate() {
            let Some(arch) = *arch else { continue };
            for nr in 0..NRS {
                for (d, decision) in DECISIONS.iter().enumerate() {
                    let count = self.table[(slot * NRS + nr) * DECISIONS.len() + d].load(Ordering::Relaxed);
                    if count > 0 {
                        let nr = i32::try_from(nr).unwrap_or(i32::MAX);
                        let syscall = name_of(arch, nr).unwrap_or_else(|| format!("syscall_{nr}"));
                        counts.push(Count { syscall, arch: arch.to_string(), decision: decision.to_string(), count });
                    }
                }
            }
        }
        for (d, decision) in DECISIONS.iter().enumerate() {
            let count = self.other[d].load(Ordering::Relaxed);
            if count > 0 {
                counts.push(Count {
                    syscall: "other".into(),
                    arch: "other".into(),
                    decision: decision.to_string(),
                    count,
                });
            }
        }
        counts.sort_by(|a, b| (&a.syscall, &a.arch, &a.decision).cmp(&(&b.syscall, &b.arch, &b.decision)));
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(_: Arch, nr: i32) -> Option<String> {
        (nr == 39).then(|| "getpid".to_string())
    }

    #[test]
    fn counts_land_per_syscall_arch_and_decision() {
        let c = Counters::new(Arch::X86_64);
        for _ in 0..3 {
            c.add(Arch::X86_64, 39, 0);
        }
        c.add(Arch::X86_64, 39, 1);
        c.add(Arch::X86, 20, 3);
        c.add(Arch::X32, 39 | 0x4000_0000, 1); // a third arch, and a number beyond the table
        c.add(Arch::X86_64, 5000, 1);
        c.add(Arch::X86_64, -1, 2);
        let got: Vec<(String, String, String, u64)> =
            c.snapshot(name).into_iter().map(|c| (c.syscall, c.arch, c.decision, c.count)).collect();
        let (x86_64, x86) = ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86");
        let want = [
            ("getpid", x86_64, "allow", 3),
            ("getpid", x86_64, "deny", 1),
            ("other", "other", "deny", 2),
            ("other", "other", "emulate", 1),
            ("syscall_20", x86, "prompt", 1),
        ];
        let want: Vec<_> = want.iter().map(|(s, a, d, n)| (s.to_string(), a.to_string(), d.to_string(), *n)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn counting_from_many_threads_loses_nothing() {
        let c = std::sync::Arc::new(Counters::new(Arch::X86_64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || (0..10_000).for_each(|_| c.add(Arch::X86_64, 39, 0)))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(c.snapshot(name)[0].count, 40_000);
    }
}
