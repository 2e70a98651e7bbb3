//! Receiving fds over a unix socket of ours: one recvmsg(2) whose control messages are parsed by hand, so that
//! every fd the kernel installed is owned from the moment the call returns.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// Most fds one recvmsg(2) can deliver (`SCM_MAX_FD` in the kernel): a single message never carries more.
pub const SCM_MAX_FD: usize = 253;
/// `SCM_PIDFD` (Linux 6.5): a pidfd, delivered only with `SO_PASSPIDFD`, which we never set; owned all the same.
const SCM_PIDFD: libc::c_int = 4;
/// The control buffer, in 8-byte words (aligned for `cmsghdr`): SCM_MAX_FD fds with their header, plus 1 KiB for
/// the other control messages the kernel may add (credentials, a pidfd, a security label), so that it does not
/// have to truncate.
const CONTROL_WORDS: usize =
    (std::mem::size_of::<libc::cmsghdr>() + SCM_MAX_FD * std::mem::size_of::<libc::c_int>()).div_ceil(8) + 128;

/// What one recvmsg(2) brought.
pub struct Chunk {
    pub bytes: usize,
    /// Every fd the kernel installed, owned from the moment recvmsg returned.
    pub fds: Vec<OwnedFd>,
    /// `MSG_CTRUNC`: the kernel had more control data than room (the fds beyond the room were closed by it).
    pub truncated: bool,
}

/// One recvmsg(2) of a socket of ours without waiting, fds received close-on-exec. The control messages are parsed by hand: every
/// fd the kernel installed is owned (and so closed on every path) before anything can fail, whatever the number
/// of fds, the kind of control messages or a truncation.
pub fn recv_chunk(fd: BorrowedFd<'_>, buf: &mut [u8]) -> std::io::Result<Chunk> {
    let mut control = [0u64; CONTROL_WORDS];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // SAFETY: an all-zero msghdr is valid (no name, no iovecs, no control); the pointers are set below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: recvmsg(2) on a valid fd writes at most iov_len bytes into `buf` and msg_controllen bytes into `control`, both live
    // and exclusively borrowed for the call.
    let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC | libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut fds = Vec::new();
    // SAFETY: CMSG_FIRSTHDR/CMSG_NXTHDR (cmsg(3)) walk the control data the kernel wrote, within msg_controllen
    // (which recvmsg set to the length used); each header they return lies inside `control`.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !cmsg.is_null() {
        // SAFETY: `cmsg` points to a complete cmsghdr inside `control` (see above); read without assuming alignment.
        let header = unsafe { std::ptr::read_unaligned(cmsg) };
        let rights = header.cmsg_type == libc::SCM_RIGHTS || header.cmsg_type == SCM_PIDFD;
        if header.cmsg_level == libc::SOL_SOCKET && rights {
            // SAFETY: CMSG_DATA of a header inside `control`; the data runs to cmsg_len from the header's start.
            let data = unsafe { libc::CMSG_DATA(cmsg) };
            let header_len = data as usize - cmsg as usize;
            let count = (header.cmsg_len as usize).saturating_sub(header_len) / std::mem::size_of::<libc::c_int>();
            for i in 0..count {
                // SAFETY: the i-th int of this message's data, inside `control` (count comes from cmsg_len).
                let raw = unsafe { std::ptr::read_unaligned(data.cast::<libc::c_int>().add(i)) };
                // SAFETY: SCM_RIGHTS/SCM_PIDFD (unix(7)) installed this fd in our table just now; nothing else owns
                // it.
                fds.push(unsafe { OwnedFd::from_raw_fd(raw) });
            }
        }
        // SAFETY: as for CMSG_FIRSTHDR; returns null after the last header.
        cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
    }
    Ok(Chunk { bytes: n as usize, fds, truncated: msg.msg_flags & libc::MSG_CTRUNC != 0 })
}
