//! How the clock-set emulation reaches its target: [`Target`] reads target memory and verifies the notification
//! after each read, writes only while the notification is still pending, and copies the target's fds
//! (pidfd_getfd(2)). [`Fail`] tells an errno for the target from a notification that is gone.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use proto::Errno;

use crate::kernel::listener::{Listener, Notification};
use crate::kernel::memory::{Gone, TargetMemory};

/// How a step of the emulation can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fail {
    Errno(Errno),
    Gone,
}

impl From<Errno> for Fail {
    fn from(errno: Errno) -> Fail {
        Fail::Errno(errno)
    }
}

impl From<Gone> for Fail {
    fn from(_: Gone) -> Fail {
        Fail::Gone
    }
}

pub(super) type Step<T> = Result<T, Fail>;

/// One notification's view of its target: verified reads, guarded writes, its fds.
pub(super) struct Target<'a> {
    pub listener: &'a Listener,
    pub n: &'a Notification,
    pub syscall: &'a str,
    pub memory: TargetMemory,
}

impl Target<'_> {
    /// Reads `len` bytes and verifies the notification after the read. A vanished target is [`Fail::Gone`].
    pub fn read(&self, addr: u64, len: usize) -> Step<Vec<u8>> {
        match self.memory.read(addr, len) {
            Ok(bytes) => Ok(bytes.verify(self.listener, self.n.id)?),
            Err(errno) if i32::from(errno.get()) == libc::ESRCH => Err(Fail::Gone),
            Err(errno) => Err(errno.into()),
        }
    }

    /// A timespec or timeval: two signed fields of 8 (`wide`) or 4 bytes.
    pub fn pair(&self, addr: u64, wide: bool) -> Step<(i64, i64)> {
        let w = if wide { 8 } else { 4 };
        let bytes = self.read(addr, 2 * w)?;
        Ok((int(&bytes[..w]), int(&bytes[w..])))
    }

    /// Writes only while the notification is pending, so that a reused pid is not written to.
    pub fn write(&self, addr: u64, bytes: &[u8]) -> Step<()> {
        if !self.listener.id_valid(self.n.id) {
            return Err(Fail::Gone);
        }
        Ok(self.memory.write(addr, bytes)?)
    }

    /// A copy of the target's `fd` (pidfd_getfd(2)). EBADF (no such fd) becomes EINVAL, as the kernel answers for
    /// a clock id that names no clock.
    pub fn fetch_fd(&self, fd: RawFd) -> Step<OwnedFd> {
        /// `PIDFD_THREAD` (Linux 6.9): accept a thread id, not only a thread-group leader.
        const PIDFD_THREAD: libc::c_long = libc::O_EXCL as libc::c_long;
        let pid = libc::c_long::from(self.n.pid);
        // SAFETY: pidfd_open(2) takes a pid and flags, touches no memory and returns a new fd or -1.
        let mut rc = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, PIDFD_THREAD) };
        if rc < 0 && last_errno() == Errno::EINVAL {
            // SAFETY: as above, without PIDFD_THREAD for kernels before 6.9.
            rc = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        }
        let pidfd = owned(rc)?;
        // The pid may have been reused before pidfd_open: the pidfd is the target's only if it is still waiting.
        if !self.listener.id_valid(self.n.id) {
            return Err(Fail::Gone);
        }
        // SAFETY: pidfd_getfd(2) takes a pidfd, an fd number of that process and flags 0; it touches no memory and
        // returns a new close-on-exec fd or -1.
        let rc = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
        match owned(rc) {
            Err(Fail::Errno(errno)) if i32::from(errno.get()) == libc::EBADF => Err(Errno::EINVAL.into()),
            other => other,
        }
    }
}

/// The fd a syscall returned, or its errno (ESRCH: the target is gone).
fn owned(rc: libc::c_long) -> Step<OwnedFd> {
    if rc < 0 {
        let errno = last_errno();
        return Err(if i32::from(errno.get()) == libc::ESRCH { Fail::Gone } else { errno.into() });
    }
    // SAFETY: the syscall just returned this new fd, which nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(rc as RawFd) })
}

/// A little-endian signed integer of 4 or 8 bytes, sign-extended.
pub(super) fn int(bytes: &[u8]) -> i64 {
    match *bytes {
        [a, b, c, d] => i64::from(i32::from_le_bytes([a, b, c, d])),
        [a, b, c, d, e, f, g, h] => i64::from_le_bytes([a, b, c, d, e, f, g, h]),
        _ => unreachable!("integers here are 4 or 8 bytes"),
    }
}

pub(super) fn last_errno() -> Errno {
    let raw = std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EINVAL);
    Errno::new(i64::from(raw)).unwrap_or(Errno::EINVAL)
}

pub(super) fn nix_errno(e: nix::errno::Errno) -> Errno {
    Errno::new(i64::from(e as i32)).unwrap_or(Errno::EINVAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_little_endian_and_sign_extended() {
        assert_eq!(int(&[0xff; 4]), -1);
        assert_eq!(int(&[1, 0, 0, 0]), 1);
        assert_eq!(int(&[0, 0, 0, 0x80, 0, 0, 0, 0]), 0x8000_0000);
        assert_eq!(int(&[0xff; 8]), -1);
    }
}
