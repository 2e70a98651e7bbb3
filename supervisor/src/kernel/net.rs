//! Sockets of a target, through a copy of its fd ([`super::pending::Pending::fetch_fd`]): their domain and type, and
//! `connect`/`bind` performed on them with a verified `sockaddr`. The copy shares the target's open file
//! description, so the target's socket is the one connected or bound, in the target's network namespace.

use std::os::fd::{AsRawFd, BorrowedFd};

use proto::Errno;

use super::pending::last_errno;

/// `SO_DOMAIN` and `SO_TYPE` of `fd` (ENOTSOCK: not a socket).
///
/// # Errors
/// The errno of getsockopt(2): ENOTSOCK for a file that is not a socket.
pub fn domain_and_type(fd: BorrowedFd<'_>) -> Result<(u16, u32), Errno> {
    let domain = int_option(fd, libc::SO_DOMAIN)?;
    let ty = int_option(fd, libc::SO_TYPE)?;
    Ok((domain as u16, ty as u32))
}

fn int_option(fd: BorrowedFd<'_>, name: libc::c_int) -> Result<libc::c_int, Errno> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt(2) writes at most `len` bytes into `value`, a live local int, and updates `len`.
    let rc = unsafe { libc::getsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, name, (&raw mut value).cast(), &raw mut len) };
    if rc < 0 {
        return Err(last_errno());
    }
    Ok(value)
}

/// True if the open file description of `fd` is non-blocking (`O_NONBLOCK`).
pub fn is_nonblocking(fd: BorrowedFd<'_>) -> bool {
    // SAFETY: fcntl(2) F_GETFL on a valid fd touches no memory.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    flags >= 0 && flags & libc::O_NONBLOCK != 0
}

/// connect(2) on `fd` with the `sockaddr` bytes `addr`. May block (a blocking socket): call it where waiting holds
/// up no one.
///
/// # Errors
/// The kernel's errno, unchanged (EINPROGRESS for a non-blocking socket whose connection is under way).
pub fn connect(fd: BorrowedFd<'_>, addr: &[u8]) -> Result<(), Errno> {
    // SAFETY: connect(2) reads `addr.len()` bytes from a live slice.
    let rc = unsafe { libc::connect(fd.as_raw_fd(), addr.as_ptr().cast(), addr.len() as libc::socklen_t) };
    if rc < 0 {
        Err(last_errno())
    } else {
        Ok(())
    }
}

/// bind(2) on `fd` with the `sockaddr` bytes `addr`.
///
/// # Errors
/// The kernel's errno, unchanged.
pub fn bind(fd: BorrowedFd<'_>, addr: &[u8]) -> Result<(), Errno> {
    // SAFETY: bind(2) reads `addr.len()` bytes from a live slice.
    let rc = unsafe { libc::bind(fd.as_raw_fd(), addr.as_ptr().cast(), addr.len() as libc::socklen_t) };
    if rc < 0 {
        Err(last_errno())
    } else {
        Ok(())
    }
}
