//! Carrying out the families other than open on what the walk pinned: each is the kernel's own `*at` call on the
//! pinned parent and the last component, made by a thread that has taken the target's identity and root.
//!
//! A symlink in the last component that the call would follow was followed by the walk, so the call itself never
//! follows one (`AT_SYMLINK_NOFOLLOW`): a symlink swapped in since is acted on as a link (or refused), never
//! followed somewhere else. A magic link in another process's `/proc/<pid>` is the exception: the kernel follows it
//! and checks the target's right to it. An empty path (`AT_EMPTY_PATH`) names the pinned file itself.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd};

use proto::Errno;

use super::decode::Op;
use crate::core::Outcome;
use crate::kernel::view::walk::{openat2, Resolved, RESOLVE_NO_SYMLINKS};
use crate::kernel::view::{at, fs, root};

/// Does `op` (any family but open) on `paths`, the resolved path arguments in order.
pub(super) fn act(op: &Op, paths: &[Resolved]) -> Result<Outcome, Errno> {
    let first = paths.first().ok_or(Errno::EFAULT)?;
    let (dir, name) = (first.parent.as_fd(), name(first)?);
    let done = match op {
        Op::Mkdir { mode } => fs::mkdir_at(dir, &name, *mode),
        Op::Unlink { flags } => fs::unlink_at(dir, &name, *flags),
        Op::Rename { flags } => {
            let second = paths.get(1).ok_or(Errno::EFAULT)?;
            let to = self::name(second)?;
            at::rename_at2(dir, &name, second.parent.as_fd(), &to, *flags)
        }
        Op::Link => {
            let second = paths.get(1).ok_or(Errno::EFAULT)?;
            let to = self::name(second)?;
            let flags = match (first.last.is_empty(), first.magic) {
                (true, _) => libc::AT_EMPTY_PATH,
                (false, true) => libc::AT_SYMLINK_FOLLOW,
                (false, false) => 0,
            };
            at::link_at(dir, &name, second.parent.as_fd(), &to, flags)
        }
        Op::Symlink { text } => {
            let text = CString::new(text.clone()).map_err(|_| Errno::EINVAL)?;
            at::symlink_at(&text, dir, &name)
        }
        Op::Chmod { mode, .. } => at::chmod_at2(dir, &name, *mode, at_flags(first)),
        Op::Chown { uid, gid, .. } => at::chown_at(dir, &name, *uid, *gid, at_flags(first)),
        Op::Utimes { times, .. } => at::utimens_at(dir, &name, times.as_ref(), at_flags(first)),
        Op::Mknod { mode, dev } => at::mknod_at(dir, &name, *mode, *dev as u32),
        Op::Truncate { length } => return truncate(first, *length),
        Op::Nothing => return Ok(Outcome::Value(0)),
        Op::Open { .. } => return Err(Errno::ENOSYS),
    };
    if let Err(errno) = done {
        if matches!(op, Op::Link) && first.last.is_empty() && i32::from(errno.get()) == libc::ENOENT {
            tracing::warn!(
                "linkat(fd, \"\", AT_EMPTY_PATH) refused (ENOENT): without CAP_DAC_READ_SEARCH the kernel allows it \
                 only to the credentials the fd was opened with, which supervise cannot act with"
            );
        }
        return Err(errno);
    }
    Ok(Outcome::Value(0))
}

fn name(r: &Resolved) -> Result<CString, Errno> {
    CString::new(r.last.clone()).map_err(|_| Errno::EINVAL)
}

/// The flags of a call that would follow a symlink in the last component: the walk followed it already.
fn at_flags(r: &Resolved) -> i32 {
    if r.last.is_empty() {
        libc::AT_EMPTY_PATH
    } else if r.magic {
        0
    } else {
        libc::AT_SYMLINK_NOFOLLOW
    }
}

/// truncate(2) has no `*at` form: the pinned file is opened `O_PATH` and truncated through our own
/// `/proc/self/fd/N` (a magic link to it), from this thread's cwd, so that the kernel makes truncate's own checks
/// (write permission, append-only, a running executable, a directory) with the target's credentials.
fn truncate(r: &Resolved, length: i64) -> Result<Outcome, Errno> {
    let (flags, resolve) = if r.magic {
        (libc::O_PATH | libc::O_CLOEXEC, 0)
    } else {
        (libc::O_PATH | libc::O_CLOEXEC | libc::O_NOFOLLOW, RESOLVE_NO_SYMLINKS)
    };
    let file = openat2(r.parent.as_fd(), &r.last, flags as u64, 0, resolve)?;
    let fds = openat2(root(), b"proc/self/fd", (libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) as u64, 0, 0)?;
    let here = CString::new(file.as_raw_fd().to_string()).map_err(|_| Errno::EINVAL)?;
    // This thread has its own fs_struct, so changing its cwd changes no other thread's.
    at::truncate_in(fds.as_fd(), &here, length)?;
    Ok(Outcome::Value(0))
}
