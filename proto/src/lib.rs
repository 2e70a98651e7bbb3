//! `proto`: what supervise's processes agree on, with no I/O.
//!
//! - [`policy`]: the resolved policy ([`Policy`], [`Rule`], [`Action`], [`Decision`]) that the filter compiler and
//!   the supervisor both read.
//! - [`profile`]: the Docker/moby and OCI seccomp profile JSON model, its validation with precise error places,
//!   and its resolution into a [`Policy`] for one target (architecture, capabilities, kernel).
//! - [`arch`], [`errno`]: the [`Arch`] and [`Errno`] newtypes with their name tables.
//! - [`paths`]: which syscall arguments are paths and how the kernel resolves them.
//! - [`net`]: socket addresses decoded as the kernel reads them, their display, and the address matchers.
//! - [`wire`]: the messages that cross the launcher → supervisor socket.
#![forbid(unsafe_code)]

pub mod arch;
pub mod errno;
#[cfg(test)]
mod fuzz_tests;
pub mod net;
pub mod paths;
pub mod policy;
pub mod profile;
pub mod wire;

pub use arch::Arch;
pub use errno::Errno;
pub use policy::{Action, ArgCmp, CmpOp, Decision, Emulator, Matchers, OnTimeout, Policy, PromptSpec, Rule};
