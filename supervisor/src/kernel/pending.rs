//! One pending notification and the thread that made it: reads of its memory that are checked with
//! `NOTIF_ID_VALID` after the read, writes made only while the notification is still pending, and copies of its
//! fds (pidfd_getfd(2)). A vanished caller is [`Fail::Gone`], never an errno.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use proto::Errno;

use super::listener::{Listener, Notification};
use super::memory::TargetMemory;
use super::Fail;

/// A step for the caller: a value, or why not.
pub type Step<T> = Result<T, Fail>;

/// One notification's caller.
#[derive(Clone, Copy)]
pub struct Pending<'a> {
    pub listener: &'a Listener,
    pub n: &'a Notification,
    memory: TargetMemory,
}

impl<'a> Pending<'a> {
    pub fn new(listener: &'a Listener, n: &'a Notification) -> Pending<'a> {
        Pending { listener, n, memory: TargetMemory::new(n.pid) }
    }

    /// [`Fail::Gone`] unless the notification is still pending.
    pub fn check(&self) -> Step<()> {
        if self.listener.id_valid(self.n.id) {
            Ok(())
        } else {
            Err(Fail::Gone)
        }
    }

    /// Reads `len` bytes and verifies the notification after the read.
    pub fn read(&self, addr: u64, len: usize) -> Step<Vec<u8>> {
        match self.memory.read(addr, len) {
            Ok(bytes) => bytes.verify(self.listener, self.n.id),
            Err(errno) => Err(gone_if_esrch(errno)),
        }
    }

    /// Reads a NUL-terminated string of at most `max` bytes with its NUL (ENAMETOOLONG past that), verified.
    pub fn read_cstring(&self, addr: u64, max: usize) -> Step<Vec<u8>> {
        match self.memory.read_cstring(addr, max) {
            Ok(bytes) => bytes.verify(self.listener, self.n.id),
            Err(errno) => Err(gone_if_esrch(errno)),
        }
    }

    /// Writes only while the notification is pending, so that a reused pid is not written to.
    pub fn write(&self, addr: u64, bytes: &[u8]) -> Step<()> {
        self.check()?;
        self.memory.write(addr, bytes).map_err(gone_if_esrch)
    }

    /// A copy of the caller's `fd` (pidfd_getfd(2)), taken only while the notification is pending. EBADF: no such
    /// fd.
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
        // The pid may have been reused before pidfd_open: the pidfd is the caller's only if it is still waiting.
        self.check()?;
        // SAFETY: pidfd_getfd(2) takes a pidfd, an fd number of that process and flags 0; it touches no memory and
        // returns a new close-on-exec fd or -1.
        owned(unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) })
    }
}

/// ESRCH from a read or write means the caller is gone.
fn gone_if_esrch(errno: Errno) -> Fail {
    if i32::from(errno.get()) == libc::ESRCH {
        Fail::Gone
    } else {
        Fail::Errno(errno)
    }
}

/// The fd a syscall returned, or its errno (ESRCH: the caller is gone).
fn owned(rc: libc::c_long) -> Step<OwnedFd> {
    if rc < 0 {
        return Err(gone_if_esrch(last_errno()));
    }
    // SAFETY: the syscall just returned this new fd, which nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(rc as RawFd) })
}

/// errno of the last failed libc call on this thread.
pub fn last_errno() -> Errno {
    let raw = std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EINVAL);
    Errno::new(i64::from(raw)).unwrap_or(Errno::EINVAL)
}
