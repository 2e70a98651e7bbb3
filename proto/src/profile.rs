//! The Docker/moby and OCI runtime-spec seccomp profile JSON model, its validation, and its resolution into a
//! [`Policy`](crate::Policy) for one [`Target`].
//!
//! (Being written: see the module's API below.)

use crate::{Arch, Policy};

/// What a profile is resolved for: `includes`/`excludes` are evaluated against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The native architecture of the kernel and program.
    pub native: Arch,
    /// Capabilities the program starts with, as a bitset (bit N = capability number N, as in `CapEff`).
    pub caps: u64,
    /// Running kernel version (major, minor).
    pub kernel: (u32, u32),
}
