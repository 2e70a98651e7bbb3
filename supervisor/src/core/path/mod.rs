//! Path syscalls allowed by a decision that rested on a path, performed by supervise as the target instead of
//! CONTINUE.
//!
//! CONTINUE would let the kernel read the path again from target memory, which another thread may have rewritten
//! since the check (KERNEL-NOTES pitfall 4). So the call acts on what was decided on: the parent directory that
//! [`crate::kernel::view::walk`] pinned while resolving the path as the target (its root, cwd, dirfds, credentials,
//! capabilities, `/proc/self`), and the last component, with the kernel's own `*at` call:
//! - the target's flags, mode and `RESOLVE_*` go to the kernel as they are (after the normalisation that
//!   `open`/`openat` apply, [`Op::decode`]); errors the kernel gives before it looks at the path are given first;
//! - the thread acts with the target's fsuid, fsgid, groups, effective capabilities and umask, so permissions,
//!   `protected_*` sysctls, default ACLs and owners are the kernel's;
//! - the last component is opened with `RESOLVE_NO_SYMLINKS` (a symlink swapped in after the walk fails instead of
//!   escaping), except a magic link in another process's `/proc/<pid>`, which the kernel follows and checks;
//! - an opened file comes back as [`Outcome::Fd`], which `notify` injects with `SECCOMP_IOCTL_NOTIF_ADDFD`: the
//!   lowest free fd of the target, its `RLIMIT_NOFILE`, `O_CLOEXEC` as asked.
//!
//! This module returns outcomes and never replies. Emulated: the families in [`EMULATED`]. Other path syscalls
//! are decided on the same resolution and carried out with CONTINUE: that is advisory (docs/security.md), and
//! `check` says so.

use std::os::fd::AsFd;

use proto::Errno;

use crate::core::Outcome;
use crate::kernel::mounts;
use crate::kernel::view::fs::set_status_flags;
use crate::kernel::view::walk::{
    openat2, stat_at, RESOLVE_CACHED, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS, RESOLVE_NO_XDEV,
};
use crate::kernel::view::{errno, Resolved, View};

mod act;
mod decode;

pub use decode::Op;

/// Syscalls this module performs itself.
pub const EMULATED: &[&str] = &[
    "open",
    "openat",
    "openat2",
    "creat",
    "mkdir",
    "mkdirat",
    "unlink",
    "unlinkat",
    "rmdir",
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "mknod",
    "mknodat",
    "chmod",
    "fchmodat",
    "fchmodat2",
    "chown",
    "lchown",
    "chown32",
    "lchown32",
    "fchownat",
    "truncate",
    "truncate64",
    "utime",
    "utimes",
    "futimesat",
    "utimensat",
    "utimensat_time64",
];

/// True if a path decision on `syscall` is carried out by emulation rather than CONTINUE.
pub fn is_emulated(syscall: &str) -> bool {
    EMULATED.contains(&syscall)
}

/// A path call that may wait (a FIFO, a device, a remote filesystem, a lease): to run on a thread of its own, where
/// it waits for no one else. [`Deferred::run`] gives its outcome.
pub struct Deferred {
    op: Op,
    view: View,
    resolved: Vec<Resolved>,
}

impl Deferred {
    /// Performs the call, as the target, on this thread (which must not be a runtime thread).
    pub fn run(self) -> Outcome {
        match run(&self.op, &self.view, &self.resolved, false) {
            Ok(result) => result.unwrap_or_else(Outcome::Error),
            Err(Later) => Outcome::Error(errno(libc::EAGAIN)),
        }
    }
}

/// Performs `op` on what the walk pinned, here on the notify thread when the call cannot wait on anyone (a regular
/// file, a directory or nothing, on a local filesystem); otherwise it is [`Deferred`] to a thread of its own, so
/// that a FIFO or a slow filesystem holds up nothing else, and never the exit. With `here` false (from a prompt's
/// task, whose runtime thread must not take the target's identity) it is always deferred.
pub fn perform(op: Op, view: View, resolved: Vec<Resolved>, here: bool) -> Result<Outcome, Box<Deferred>> {
    if op.open_flags() & libc::O_PATH as u64 != 0 {
        // ADDFD cannot inject an O_PATH file (the kernel's fget refuses them): the kernel opens it. An O_PATH fd
        // gives no access to the file's content, and every later path call through it (as a dirfd, or reopened
        // through /proc/self/fd) is resolved and decided on its real place again.
        return Ok(Outcome::Continue);
    }
    // truncate(2) waits for a lease to be broken (up to lease-break-time), and has no way not to: never here.
    let may_wait = matches!(op, Op::Truncate { .. });
    if here && !may_wait && mounts::all_local() {
        if let Ok(result) = run(&op, &view, &resolved, true) {
            return Ok(result.unwrap_or_else(Outcome::Error));
        }
    }
    Err(Box::new(Deferred { op, view, resolved }))
}

/// The call could block: run it on a thread of its own.
struct Later;

/// Takes the target's identity (and root) on this thread and acts. With `here` (the notify thread), an open that
/// could block is left for a thread: `Err(Later)`.
fn run(op: &Op, view: &View, resolved: &[Resolved], here: bool) -> Result<Result<Outcome, Errno>, Later> {
    let _as_target = match view.act() {
        Ok(assumed) => assumed,
        Err(errno) => return Ok(Err(errno)),
    };
    match *op {
        Op::Open { flags, mode, resolve } => match resolved.first() {
            Some(r) => open(r, flags, mode, resolve, here),
            None => Ok(Err(Errno::EFAULT)),
        },
        _ => Ok(act::act(op, resolved)),
    }
}

fn open(r: &Resolved, flags: u64, mode: u64, resolve: u64, here: bool) -> Result<Result<Outcome, Errno>, Later> {
    let is_path = flags & libc::O_PATH as u64 != 0;
    if here && !is_path && !cannot_block(r.kind) {
        return Err(Later);
    }
    // Ours on top of the target's: close-on-exec until ADDFD gives the target its own flag; no controlling terminal
    // for supervise (neither is kept in the file's flags). Here, O_NONBLOCK guards against a FIFO or a device
    // swapped in since the look: such a file goes to a thread after all.
    let guard = here && !is_path && flags & libc::O_NONBLOCK as u64 == 0;
    let mut ours = libc::O_CLOEXEC as u64;
    if !is_path {
        ours |= libc::O_NOCTTY as u64;
    }
    if guard {
        ours |= libc::O_NONBLOCK as u64;
    }
    let final_resolve = if r.magic {
        resolve & (RESOLVE_NO_XDEV | RESOLVE_CACHED)
    } else {
        RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | (resolve & (RESOLVE_NO_XDEV | RESOLVE_CACHED))
    };
    let fd = match openat2(r.parent.as_fd(), &r.last, flags | ours, mode, final_resolve) {
        Ok(fd) => fd,
        Err(e) if guard && matches!(i32::from(e.get()), libc::ENXIO | libc::EAGAIN) => {
            return Err(Later);
        }
        Err(e) => return Ok(Err(e)),
    };
    if guard {
        if !cannot_block(fd_kind(fd.as_fd())) {
            return Err(Later);
        }
        let wanted = flags as libc::c_int & !libc::O_NONBLOCK;
        // F_SETFL ignores the access mode and creation flags in `wanted`.
        if let Err(e) = set_status_flags(fd.as_fd(), wanted) {
            return Ok(Err(e));
        }
    }
    Ok(Ok(Outcome::Fd { fd, cloexec: flags & libc::O_CLOEXEC as u64 != 0 }))
}

/// The type (`S_IFMT` bits) of an open file.
fn fd_kind(fd: std::os::fd::BorrowedFd<'_>) -> Option<u32> {
    stat_at(fd, c"", libc::AT_EMPTY_PATH).ok().map(|st| st.st_mode & libc::S_IFMT)
}

/// Opening a regular file or a directory (or creating one where nothing is) returns at once on a local
/// filesystem; a FIFO, a device or a socket may wait.
fn cannot_block(kind: Option<u32>) -> bool {
    matches!(kind, None | Some(libc::S_IFREG | libc::S_IFDIR | libc::S_IFLNK))
}
