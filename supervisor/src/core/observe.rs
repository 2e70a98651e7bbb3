//! What core tells the layers above about each decision, without knowing who listens: the [`Observer`] trait and
//! the [`Decided`] it is given. The notify loop calls [`Observer::decided`] once per decision, on its own thread,
//! right where it logs the decision (`--log-level info`); an observer must return at once (count, or hand a copy
//! to a bounded channel) and never wait. `modes::control` implements it for `supervise ps` and `supervise watch`.

use proto::{Arch, Decision};

use crate::core::decide::Facts;

/// One decision, as the info log line has it: borrowed from the notify loop for the duration of the call.
#[derive(Debug, Clone, Copy)]
pub struct Decided<'a> {
    /// The calling thread (in supervise's pid namespace).
    pub pid: u32,
    pub arch: Arch,
    /// The syscall number, in `arch`'s numbering.
    pub nr: i32,
    /// The syscall's name (or `syscall_N`).
    pub syscall: &'a str,
    pub args: [u64; 6],
    pub decision: &'a Decision,
    /// Index of the deciding rule in the profile's `syscalls[]`, `None` when the notify default applied.
    pub rule: Option<usize>,
    /// The facts gathered for the decision (paths, address), when the rules needed them.
    pub facts: &'a Facts,
}

/// Receives every decision of a notify loop. Called on the notify thread: it must not block.
pub trait Observer: Send + Sync + 'static {
    fn decided(&self, decided: &Decided<'_>);
}
