//! The kernel layer: synchronous code that talks to the kernel, for one target or for supervise itself, and the
//! only place in supervise for raw ioctls and `unsafe` (the seccomp definitions and ioctls themselves are
//! `agent::seccomp_abi`'s, shared with the launcher and the benchmarks). It imports nothing from `core` or `modes`.
//!
//! - [`listener`]: the seccomp listener fd (RECV, SEND, ID_VALID, ADDFD, SET_FLAGS).
//! - [`memory`]: target memory; reads come back [`memory::Unverified`].
//! - [`exe`]: the target's executable as a file (device and inode), looked up in supervise's view; `exe` globs
//!   canonicalized.
//! - [`proc`]: the one reader of a target's `/proc` (exe, cmdline, status, cwd, fds, root, namespaces), and where a
//!   walk is in any procfs.
//! - [`view`]: the target's view (root, namespaces, cwd, credentials, `/proc/self`): resolving and acting as it;
//!   [`view::fs`] and [`view::at`] hold the `*at` syscall wrappers that the walk and the path handlers use.
//! - [`pending`]: one pending notification's caller: verified reads and writes of its memory, its fds.
//! - [`clock`]: the supervisor's own read-only clock_adjtime(2) and local time.
//! - [`process`]: supervise's own pids, groups, signals, signal mask and prctl settings; [`tty`]: its terminal.
//! - [`signals`]: supervise's signal handler and the pipe it writes to; [`reactor`]: registering an fd of ours
//!   with the runtime; [`socket`]: receiving fds over a unix socket of ours.
//! - [`net`]: a target's socket (through a copy of its fd): domain, type, peer; connect, bind and sendmsg on it.
//! - [`mounts`]: which filesystems can block. [`syscalls`]: (arch, nr) ↔ name.

pub mod clock;
pub mod exe;
pub mod listener;
pub mod memory;
pub mod mounts;
pub mod net;
pub mod pending;
pub mod proc;
pub mod process;
pub mod reactor;
pub mod signals;
pub mod socket;
pub mod syscalls;
pub mod tty;
pub mod view;

use proto::Errno;

/// Why a step for a target did not happen: the errno the kernel would give the target, or the notification is
/// gone (the target died or was interrupted, or its pid may have been reused), and then no reply is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fail {
    Errno(Errno),
    Gone,
}

impl From<Errno> for Fail {
    fn from(errno: Errno) -> Fail {
        Fail::Errno(errno)
    }
}
