//! Sockets of a target, through a copy of its fd ([`super::pending::Pending::fetch_fd`]): their domain, type and
//! peer, and `connect`/`bind`/`sendmsg` performed on them with a verified `sockaddr` and the bytes copied from the
//! target. The copy shares the target's open file description, so the target's socket is the one connected, bound
//! or sent on, in the target's network namespace.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::OnceLock;
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

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

/// `SO_PROTOCOL` of `fd` (`IPPROTO_UDP`, `IPPROTO_ICMP` for a ping socket, …).
///
/// # Errors
/// The errno of getsockopt(2): ENOTSOCK for a file that is not a socket.
pub fn protocol(fd: BorrowedFd<'_>) -> Result<i32, Errno> {
    int_option(fd, libc::SO_PROTOCOL)
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

/// The peer of `fd`, a socket of `domain`: getpeername(2), and for an IP socket still connecting (a TCP connect
/// under way, or deferred by `TCP_FASTOPEN_CONNECT` until the first send), where it connects to: getsockopt(2)
/// `SO_PEERNAME`, which names the destination from `SYN_SENT` on. The `sockaddr` bytes (at most 128).
///
/// # Errors
/// The kernel's errno: ENOTCONN (no peer), ENOTSOCK.
pub fn peer(fd: BorrowedFd<'_>, domain: u16) -> Result<Vec<u8>, Errno> {
    let mut storage = [0u8; 128];
    let mut len = storage.len() as libc::socklen_t;
    // SAFETY: getpeername(2) writes at most `len` bytes into `storage`, a live local buffer, and updates `len`.
    let rc = unsafe { libc::getpeername(fd.as_raw_fd(), storage.as_mut_ptr().cast(), &raw mut len) };
    if rc == 0 {
        return Ok(storage[..(len as usize).min(storage.len())].to_vec());
    }
    let errno = last_errno();
    // SO_PEERNAME wants the exact length of the address (EINVAL for more): fixed for IPv4 and IPv6.
    let Some(exact) = [(libc::AF_INET, 16), (libc::AF_INET6, 28)]
        .iter()
        .find(|(family, _)| *family as u16 == domain)
        .map(|&(_, len)| len)
        .filter(|_| i32::from(errno.get()) == libc::ENOTCONN)
    else {
        return Err(errno);
    };
    let mut len = exact as libc::socklen_t;
    // SAFETY: getsockopt(2) SO_PEERNAME writes at most `len` (≤ 128) bytes into `storage`, a live local buffer.
    let rc = unsafe {
        libc::getsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_PEERNAME, storage.as_mut_ptr().cast(), &raw mut len)
    };
    if rc < 0 {
        return Err(errno);
    }
    Ok(storage[..exact].to_vec())
}

/// Control data to send: bytes, or a length whose bytes cannot be read (the kernel then fails the call with its
/// own errno, ENOBUFS or EFAULT, before anything is sent).
#[derive(Debug)]
pub enum Control<'a> {
    Bytes(&'a [u8]),
    Unreadable(usize),
}

/// One message for [`sendmsg`].
#[derive(Debug)]
pub struct Outgoing<'a> {
    /// The destination `sockaddr`; empty: none (`msg_name` NULL).
    pub name: &'a [u8],
    /// The bytes to send.
    pub payload: &'a [u8],
    /// How many more bytes the caller asked to send that could not be read: the kernel meets a fault there, as it
    /// would in the target's memory (EFAULT, or the count sent before it).
    pub unreadable: usize,
    pub control: Control<'a>,
}

/// sendmsg(2) of one message on `fd` with `flags`. May block (a blocking socket without `MSG_DONTWAIT`): call it
/// where waiting holds up no one. Add `MSG_NOSIGNAL` to keep SIGPIPE from supervise.
///
/// # Errors
/// The kernel's errno, unchanged; ENOMEM if the page that stands for unreadable bytes cannot be mapped.
pub fn sendmsg(fd: BorrowedFd<'_>, out: &Outgoing<'_>, flags: i32) -> Result<usize, Errno> {
    let needs_fault = out.unreadable > 0 || matches!(out.control, Control::Unreadable(_));
    let fault = if needs_fault { fault_page()? } else { 0 };
    let mut iov = [libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; 2];
    let mut count = 0;
    if !out.payload.is_empty() {
        iov[count] = libc::iovec { iov_base: out.payload.as_ptr().cast_mut().cast(), iov_len: out.payload.len() };
        count += 1;
    }
    if out.unreadable > 0 {
        iov[count] = libc::iovec { iov_base: fault as *mut libc::c_void, iov_len: out.unreadable };
        count += 1;
    }
    // SAFETY: an all-zero msghdr is valid (no name, no iovecs, no control); the fields are set below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    if !out.name.is_empty() {
        msg.msg_name = out.name.as_ptr().cast_mut().cast();
        msg.msg_namelen = out.name.len() as libc::socklen_t;
    }
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = count as _;
    match out.control {
        Control::Bytes(bytes) if !bytes.is_empty() => {
            msg.msg_control = bytes.as_ptr().cast_mut().cast();
            msg.msg_controllen = bytes.len() as _;
        }
        Control::Bytes(_) => {}
        Control::Unreadable(len) => {
            msg.msg_control = fault as *mut libc::c_void;
            msg.msg_controllen = len as _;
        }
    }
    // SAFETY: sendmsg(2) only reads: the name, the iovecs and the control data, each a live slice of the given
    // length, or the PROT_NONE page of `fault_page`, where the kernel's copy faults (EFAULT) without touching memory.
    let rc = unsafe { libc::sendmsg(fd.as_raw_fd(), &raw const msg, flags) };
    if rc < 0 {
        Err(last_errno())
    } else {
        Ok(rc as usize)
    }
}

/// The address of a page of ours that no one can read (mmap(2) `PROT_NONE`, mapped once and never unmapped): where
/// the kernel's copy from "user memory" faults, as it would on the target's unreadable bytes.
///
/// # Errors
/// The errno of mmap(2) (ENOMEM).
fn fault_page() -> Result<usize, Errno> {
    static PAGE: OnceLock<Result<usize, Errno>> = OnceLock::new();
    *PAGE.get_or_init(|| {
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
        // SAFETY: mmap(2) of a new anonymous PROT_NONE page at an address of the kernel's choice; nothing of ours
        // is touched, and nothing ever dereferences it.
        let at = unsafe { libc::mmap(std::ptr::null_mut(), 4096, libc::PROT_NONE, flags, -1, 0) };
        if at == libc::MAP_FAILED {
            Err(last_errno())
        } else {
            Ok(at as usize)
        }
    })
}

/// tgkill(2): the SIGPIPE the kernel sends to the thread that wrote to a broken stream, sent to the target's thread
/// `tid` of process `tgid` when supervise made the write for it (with `MSG_NOSIGNAL`, so that it was not its own).
///
/// # Errors
/// The kernel's errno (ESRCH: the thread is gone).
pub fn sigpipe(tgid: i32, tid: i32) -> Result<(), Errno> {
    // SAFETY: tgkill(2) takes three plain integers and touches no memory of ours.
    let rc = unsafe { libc::syscall(libc::SYS_tgkill, tgid, tid, libc::SIGPIPE) };
    if rc < 0 {
        Err(last_errno())
    } else {
        Ok(())
    }
}

/// `SO_SNDTIMEO` of `fd`: how long a blocking send may wait (`None`: forever).
///
/// # Errors
/// The errno of getsockopt(2): ENOTSOCK for a file that is not a socket.
pub fn send_timeout(fd: BorrowedFd<'_>) -> Result<Option<Duration>, Errno> {
    let mut tv = libc::timeval { tv_sec: 0, tv_usec: 0 };
    let mut len = std::mem::size_of::<libc::timeval>() as libc::socklen_t;
    // SAFETY: getsockopt(2) writes at most `len` bytes into `tv`, a live local timeval, and updates `len`.
    let rc = unsafe {
        libc::getsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_SNDTIMEO, (&raw mut tv).cast(), &raw mut len)
    };
    if rc < 0 {
        return Err(last_errno());
    }
    let timeout = Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64);
    Ok((!timeout.is_zero()).then_some(timeout))
}

/// Waits at most `timeout` for `fd` to take more data (poll(2) `POLLOUT`); true if it says it can (or has an
/// error to report, which the next send returns).
///
/// # Errors
/// The errno of poll(2) (EINTR: a signal came first).
pub fn wait_writable(fd: BorrowedFd<'_>, timeout: Duration) -> Result<bool, Errno> {
    let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
    let millis = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
    match poll(&mut fds, PollTimeout::from(millis)) {
        Ok(0) => Ok(false),
        Ok(_) => Ok(true),
        Err(e) => Err(Errno::new(e as i64).unwrap_or(Errno::EINVAL)),
    }
}
