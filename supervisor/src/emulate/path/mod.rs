//! Path syscalls allowed by a decision that rested on a path, performed by supervise as the target instead of
//! CONTINUE.
//!
//! CONTINUE would let the kernel read the path again from target memory, which another thread may have rewritten
//! since the check (KERNEL-NOTES pitfall 4). So the call acts on what was decided on: the parent directory that
//! [`crate::view::walk`] pinned while resolving the path as the target (its root, cwd, dirfds, credentials,
//! capabilities, `/proc/self`), and the last component, with the kernel's own `*at` call:
//! - the target's flags, mode and `RESOLVE_*` go to the kernel as they are (after the normalisation that
//!   `open`/`openat` apply, [`Op::decode`]); errors the kernel gives before it looks at the path are given first;
//! - the thread acts with the target's fsuid, fsgid, groups, effective capabilities and umask, so permissions,
//!   `protected_*` sysctls, default ACLs and owners are the kernel's;
//! - the last component is opened with `RESOLVE_NO_SYMLINKS` (a symlink swapped in after the walk fails instead of
//!   escaping), except a magic link in another process's `/proc/<pid>`, which the kernel follows and checks;
//! - an opened file is injected with `SECCOMP_IOCTL_NOTIF_ADDFD`: the lowest free fd of the target, its
//!   `RLIMIT_NOFILE`, `O_CLOEXEC` as asked.
//!
//! Emulated: `open`, `openat`, `openat2`, `creat`, `mkdir`, `mkdirat`, `unlink`, `unlinkat`, `rmdir`. Other path
//! syscalls are decided on the same resolution and carried out with CONTINUE: that is advisory (docs/security.md),
//! and `check` says so.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;

use proto::Errno;

use crate::emulate::mounts;
use crate::memory::TargetMemory;
use crate::notify::respond;
use crate::seccomp::{Listener, Notification, Reply};
use crate::view::walk::{openat2, RESOLVE_CACHED, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS, RESOLVE_NO_XDEV};
use crate::view::{errno, errno_of, last_errno, Resolved, View};

/// Syscalls this module performs itself.
pub const EMULATED: &[&str] =
    &["open", "openat", "openat2", "creat", "mkdir", "mkdirat", "unlink", "unlinkat", "rmdir"];

/// True if a path decision on `syscall` is carried out by emulation rather than CONTINUE.
pub fn is_emulated(syscall: &str) -> bool {
    EMULATED.contains(&syscall)
}

// Open flags (asm-generic/fcntl.h, x86).
const O_TMPFILE_BIT: u64 = 0o20000000;
const VALID_OPEN_FLAGS: u64 = 0o3
    | 0o100
    | 0o200
    | 0o400
    | 0o1000
    | 0o2000
    | 0o4000
    | 0o10000
    | 0o20000
    | 0o40000
    | 0o100000
    | 0o200000
    | 0o400000
    | 0o1000000
    | 0o2000000
    | 0o4000000
    | 0o10000000
    | O_TMPFILE_BIT;
const O_PATH_FLAGS: u64 = (libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_PATH | libc::O_CLOEXEC) as u64;
const VALID_RESOLVE_FLAGS: u64 = 0x3f;

/// What to do, decoded from the registers (and `openat2`'s `struct open_how`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `struct open_how` as the kernel builds it.
    Open {
        flags: u64,
        mode: u64,
        resolve: u64,
    },
    Mkdir {
        mode: u32,
    },
    Unlink {
        flags: i32,
    },
}

impl Op {
    /// Decodes and validates the call as the kernel does before it reads the path (open.c `build_open_how`,
    /// `build_open_flags`; `copy_struct_from_user` for openat2). `Ok(None)`: the target is gone.
    ///
    /// # Errors
    /// The kernel's errno for bad flags, modes or `struct open_how` (EINVAL, E2BIG, EFAULT, EAGAIN).
    pub fn decode(listener: &Listener, n: &Notification, syscall: &str) -> Result<Option<Op>, Errno> {
        let a = n.args;
        let op = match syscall {
            "open" => open_how(a[1], a[2]),
            "openat" => open_how(a[2], a[3]),
            "creat" => open_how((libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC) as u64, a[1]),
            "openat2" => {
                let Some((flags, mode, resolve)) = read_open_how(listener, n)? else { return Ok(None) };
                Op::Open { flags, mode, resolve }
            }
            "mkdir" => Op::Mkdir { mode: a[1] as u32 },
            "mkdirat" => Op::Mkdir { mode: a[2] as u32 },
            "unlink" => Op::Unlink { flags: 0 },
            "unlinkat" => {
                let flags = a[2] as i32;
                if flags & !libc::AT_REMOVEDIR != 0 {
                    return Err(Errno::EINVAL);
                }
                Op::Unlink { flags }
            }
            "rmdir" => Op::Unlink { flags: libc::AT_REMOVEDIR },
            _ => return Err(Errno::ENOSYS),
        };
        if let Op::Open { flags, mode, resolve } = op {
            check_open_flags(flags, mode, resolve)?;
        }
        Ok(Some(op))
    }

    /// True if the call may create a file, whose mode depends on the target's umask.
    pub fn creates(self) -> bool {
        match self {
            Op::Open { flags, .. } => flags & (libc::O_CREAT as u64 | O_TMPFILE_BIT) != 0,
            Op::Mkdir { .. } => true,
            Op::Unlink { .. } => false,
        }
    }

    /// The target's `RESOLVE_*` flags (openat2), which the walk honours too.
    pub fn resolve(self) -> u64 {
        match self {
            Op::Open { resolve, .. } => resolve,
            _ => 0,
        }
    }

    /// The open flags, for deciding whether the last component is followed.
    pub fn open_flags(self) -> u64 {
        match self {
            Op::Open { flags, .. } => flags,
            _ => 0,
        }
    }

    /// True for the open family: a `.` or `..` last component is stepped through.
    pub fn is_open(self) -> bool {
        matches!(self, Op::Open { .. })
    }
}

/// open.c `build_open_how` for `open`/`openat`: unknown bits are dropped, `O_PATH` keeps only its own flags, a mode
/// only with a creating flag.
fn open_how(flags: u64, mode: u64) -> Op {
    let mut flags = (flags as u32 as u64) & VALID_OPEN_FLAGS;
    if flags & libc::O_PATH as u64 != 0 {
        flags &= O_PATH_FLAGS;
    }
    let creates = flags & (libc::O_CREAT as u64 | O_TMPFILE_BIT) != 0;
    Op::Open { flags, mode: if creates { mode & 0o7777 } else { 0 }, resolve: 0 }
}

/// openat2's `struct open_how` (size in argument 3), as `copy_struct_from_user` takes it.
fn read_open_how(listener: &Listener, n: &Notification) -> Result<Option<(u64, u64, u64)>, Errno> {
    let size = n.args[3];
    if size < 24 {
        return Err(Errno::EINVAL);
    }
    if size > 4096 {
        return Err(errno(libc::E2BIG));
    }
    let raw = TargetMemory::new(n.pid).read(n.args[2], size as usize)?;
    let Ok(bytes) = raw.verify(listener, n.id) else { return Ok(None) };
    if bytes.len() < size as usize {
        return Err(Errno::EFAULT);
    }
    if bytes[24..].iter().any(|&b| b != 0) {
        return Err(errno(libc::E2BIG));
    }
    let word = |i: usize| u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    Ok(Some((word(0), word(1), word(2))))
}

/// open.c `build_open_flags`: the checks made before the path is read.
fn check_open_flags(flags: u64, mode: u64, resolve: u64) -> Result<(), Errno> {
    let flags = flags & !(libc::O_CLOEXEC as u64);
    if flags & !VALID_OPEN_FLAGS != 0 || resolve & !VALID_RESOLVE_FLAGS != 0 {
        return Err(Errno::EINVAL);
    }
    if resolve & 0x08 != 0 && resolve & 0x10 != 0 {
        return Err(Errno::EINVAL);
    }
    let creates = flags & (libc::O_CREAT as u64 | O_TMPFILE_BIT) != 0;
    if (creates && mode & !0o7777 != 0) || (!creates && mode != 0) {
        return Err(Errno::EINVAL);
    }
    let dir_creat = (libc::O_DIRECTORY | libc::O_CREAT) as u64;
    if flags & dir_creat == dir_creat {
        return Err(Errno::EINVAL);
    }
    if flags & O_TMPFILE_BIT != 0 && (flags & libc::O_DIRECTORY as u64 == 0 || flags & 3 == 0) {
        return Err(Errno::EINVAL);
    }
    if flags & libc::O_PATH as u64 != 0 && flags & !O_PATH_FLAGS != 0 {
        return Err(Errno::EINVAL);
    }
    if resolve & RESOLVE_CACHED != 0 && flags & (libc::O_TRUNC as u64 | libc::O_CREAT as u64 | O_TMPFILE_BIT) != 0 {
        return Err(errno(libc::EAGAIN));
    }
    Ok(())
}

/// The outcome of a performed call.
pub enum Done {
    Value(i64),
    /// An opened file, and whether the target asked for close-on-exec.
    Fd(OwnedFd, bool),
}

/// Performs `op` on what the walk pinned and answers the notification. When the call cannot wait on anyone (a
/// regular file, a directory or nothing, on a local filesystem) it runs here on the notify thread; otherwise on a
/// thread of its own, so that a FIFO or a slow filesystem holds up nothing else, and never the exit.
pub fn perform(listener: &Arc<Listener>, n: &Notification, op: Op, view: View, resolved: Resolved) {
    if op.open_flags() & libc::O_PATH as u64 != 0 {
        // ADDFD cannot inject an O_PATH file (the kernel's fget refuses them): the kernel opens it. An O_PATH fd
        // gives no access to the file's content, and every later path call through it (as a dirfd, or reopened
        // through /proc/self/fd) is resolved and decided on its real place again.
        return respond(listener, n, Reply::Continue);
    }
    if mounts::all_local() {
        if let Ok(result) = run(op, &view, &resolved, true) {
            return answer(listener, n, result);
        }
    }
    let (shared, n) = (listener.clone(), *n);
    let spawned = std::thread::Builder::new().name("path-call".into()).spawn(move || {
        let result = run(op, &view, &resolved, false).unwrap_or_else(|Later| Err(errno(libc::EAGAIN)));
        answer(&shared, &n, result);
    });
    if spawned.is_err() {
        respond(listener, &n, Reply::Error(errno(libc::EAGAIN)));
    }
}

/// The call could block: run it on a thread of its own.
struct Later;

/// Takes the target's identity on this thread and acts.
fn run(op: Op, view: &View, resolved: &Resolved, here: bool) -> Result<Result<Done, Errno>, Later> {
    let _as_target = match view.act() {
        Ok(assumed) => assumed,
        Err(errno) => return Ok(Err(errno)),
    };
    act(op, resolved, here)
}

/// Does the call. With `here` (the notify thread), an open that could block is left for a thread: `Err(Later)`.
fn act(op: Op, r: &Resolved, here: bool) -> Result<Result<Done, Errno>, Later> {
    let name = match CString::new(r.last.clone()) {
        Ok(name) => name,
        Err(_) => return Ok(Err(Errno::EINVAL)),
    };
    let parent = r.parent.as_raw_fd();
    Ok(match op {
        Op::Open { flags, mode, resolve } => return open(r, flags, mode, resolve, here),
        Op::Mkdir { mode } => {
            // SAFETY: mkdirat(2) with a valid dirfd and a NUL-terminated name.
            let rc = unsafe { libc::mkdirat(parent, name.as_ptr(), mode as libc::mode_t) };
            if rc < 0 {
                Err(last_errno())
            } else {
                Ok(Done::Value(0))
            }
        }
        Op::Unlink { flags } => {
            // SAFETY: unlinkat(2) with a valid dirfd and a NUL-terminated name.
            let rc = unsafe { libc::unlinkat(parent, name.as_ptr(), flags) };
            if rc < 0 {
                Err(last_errno())
            } else {
                Ok(Done::Value(0))
            }
        }
    })
}

fn open(r: &Resolved, flags: u64, mode: u64, resolve: u64, here: bool) -> Result<Result<Done, Errno>, Later> {
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
        // SAFETY: fcntl(2) F_SETFL on an fd we own; F_SETFL ignores the access mode and creation flags in `wanted`.
        if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, wanted) } != 0 {
            return Ok(Err(last_errno()));
        }
    }
    Ok(Ok(Done::Fd(fd, flags & libc::O_CLOEXEC as u64 != 0)))
}

fn fd_kind(fd: std::os::fd::BorrowedFd<'_>) -> Option<u32> {
    stat_kind(fd.as_raw_fd(), c"", libc::AT_EMPTY_PATH)
}

fn stat_kind(dir: i32, name: &std::ffi::CStr, flags: i32) -> Option<u32> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstatat(2) with a valid dirfd, a NUL-terminated name and a buffer it fills when it returns 0.
    let rc = unsafe { libc::fstatat(dir, name.as_ptr(), st.as_mut_ptr(), flags) };
    // SAFETY: fstatat returned 0, so it filled the buffer.
    (rc == 0).then(|| unsafe { st.assume_init() }.st_mode & libc::S_IFMT)
}

/// Opening a regular file or a directory (or creating one where nothing is) returns at once on a local
/// filesystem; a FIFO, a device or a socket may wait.
fn cannot_block(kind: Option<u32>) -> bool {
    matches!(kind, None | Some(libc::S_IFREG | libc::S_IFDIR | libc::S_IFLNK))
}

/// Sends the reply for a finished call. An fd is injected with ADDFD, then its number sent with a plain SEND:
/// measured at about 8 µs against 74 µs for ADDFD with `SECCOMP_ADDFD_FLAG_SEND`, which misses SYNC_WAKE_UP's
/// same-CPU wake-up. The target cannot be interrupted in between: the launcher loads the filter with
/// WAIT_KILLABLE_RECV (only a fatal signal ends the wait).
fn answer(listener: &Listener, n: &Notification, result: Result<Done, Errno>) {
    let reply = match result {
        Ok(Done::Value(v)) => Reply::Value(v),
        Ok(Done::Fd(fd, cloexec)) => match listener.add_fd(n.id, fd.as_fd(), false, cloexec) {
            Ok(newfd) => Reply::Value(i64::from(newfd)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return,
            Err(e) => Reply::Error(errno_of(&e)),
        },
        Err(errno) => Reply::Error(errno),
    };
    respond(listener, n, reply);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_flags_are_normalised_and_checked_as_the_kernel_does() {
        let o = |flags: i32| flags as u64;
        assert_eq!(open_how(0x4000_0000 | o(libc::O_RDONLY), 0o644), Op::Open { flags: 0, mode: 0, resolve: 0 });
        assert_eq!(
            open_how(o(libc::O_PATH | libc::O_RDWR | libc::O_NOFOLLOW), 0),
            Op::Open { flags: o(libc::O_PATH | libc::O_NOFOLLOW), mode: 0, resolve: 0 }
        );
        let ok = |flags: i32, mode: u64, resolve: u64| check_open_flags(flags as u64, mode, resolve);
        assert_eq!(ok(0x4000_0000, 0, 0), Err(Errno::EINVAL), "openat2 refuses unknown bits");
        assert_eq!(ok(0, 0o644, 0), Err(Errno::EINVAL), "a mode without O_CREAT");
        assert_eq!(ok(libc::O_CREAT, 0o10000, 0), Err(Errno::EINVAL), "a mode beyond 07777");
        assert_eq!(ok(libc::O_CREAT | libc::O_DIRECTORY, 0, 0), Err(Errno::EINVAL));
        assert_eq!(ok(libc::O_TMPFILE | libc::O_RDONLY, 0, 0), Err(Errno::EINVAL), "O_TMPFILE needs write");
        assert_eq!(ok(libc::O_PATH | libc::O_RDWR, 0, 0), Err(Errno::EINVAL));
        assert_eq!(ok(0, 0, 0x08 | 0x10), Err(Errno::EINVAL), "BENEATH and IN_ROOT");
        assert_eq!(ok(0, 0, 0x40), Err(Errno::EINVAL), "unknown RESOLVE_ bit");
        assert_eq!(ok(libc::O_TRUNC, 0, RESOLVE_CACHED), Err(errno(libc::EAGAIN)));
        assert_eq!(ok(libc::O_RDWR | libc::O_CREAT | libc::O_CLOEXEC, 0o600, 0x04), Ok(()));
    }
}
