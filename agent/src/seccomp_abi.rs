//! The kernel's seccomp ABI, in one place for supervise's listener, this launcher and the benchmarks: the
//! `seccomp(2)` operations and filter flags, the user-notification structures and the `SECCOMP_IOCTL_NOTIF_*`
//! request numbers (libc's, typed as the structures' fields are; the sizes are checked against
//! `SECCOMP_GET_NOTIF_SIZES` in the tests), the responses, and one thin wrapper per ioctl (seccomp_unotify(2)).
//!
//! The wrappers neither allocate nor take locks, and return the kernel's errno unchanged: what an errno means is
//! the caller's business (ENOENT from RECV or SEND is normal: the target died or was interrupted).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// `seccomp(2)` operation: load a BPF filter.
pub const SECCOMP_SET_MODE_FILTER: u32 = libc::SECCOMP_SET_MODE_FILTER;
/// `seccomp(2)` operation: the sizes of the notification structures ([`SeccompNotifSizes`]).
pub const SECCOMP_GET_NOTIF_SIZES: u32 = libc::SECCOMP_GET_NOTIF_SIZES;

/// `seccomp(2)` filter flags a policy may ask for (OCI `flags`).
pub const SECCOMP_FILTER_FLAG_LOG: u32 = libc::SECCOMP_FILTER_FLAG_LOG as u32;
pub const SECCOMP_FILTER_FLAG_SPEC_ALLOW: u32 = libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW as u32;
/// Return a listener fd for the filter's `SECCOMP_RET_USER_NOTIF`.
pub const SECCOMP_FILTER_FLAG_NEW_LISTENER: u32 = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as u32;
/// A notified target waits killably once its notification was received (Linux 5.19+; EINVAL before).
pub const SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: u32 = libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV as u32;

/// `seccomp_notif_resp.flags`: let the kernel run the syscall.
pub const SECCOMP_USER_NOTIF_FLAG_CONTINUE: u32 = libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32;
/// `SECCOMP_IOCTL_NOTIF_SET_FLAGS`: wake the supervisor synchronously on the target's CPU (Linux 6.6+; not in
/// libc yet).
pub const SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: u64 = 1;
/// `seccomp_notif_addfd.flags`: install the fd and answer the notification with its number, atomically (5.14+).
pub const SECCOMP_ADDFD_FLAG_SEND: u32 = libc::SECCOMP_ADDFD_FLAG_SEND as u32;

/// `struct seccomp_data`.
pub type SeccompData = libc::seccomp_data;
/// `struct seccomp_notif`.
pub type SeccompNotif = libc::seccomp_notif;
/// `struct seccomp_notif_resp`.
pub type SeccompNotifResp = libc::seccomp_notif_resp;
/// `struct seccomp_notif_addfd`.
pub type SeccompNotifAddfd = libc::seccomp_notif_addfd;
/// `struct seccomp_notif_sizes`, the answer of `seccomp(SECCOMP_GET_NOTIF_SIZES)`.
pub type SeccompNotifSizes = libc::seccomp_notif_sizes;

/// The response that lets the kernel run the syscall of notification `id`.
pub fn resp_continue(id: u64) -> SeccompNotifResp {
    SeccompNotifResp { id, val: 0, error: 0, flags: SECCOMP_USER_NOTIF_FLAG_CONTINUE }
}

/// The response that fails the syscall with the positive `errno`: the one place where an errno is negated for the
/// kernel.
pub fn resp_error(id: u64, errno: i32) -> SeccompNotifResp {
    SeccompNotifResp { id, val: 0, error: -errno, flags: 0 }
}

/// The response that returns `val` without running the syscall.
pub fn resp_value(id: u64, val: i64) -> SeccompNotifResp {
    SeccompNotifResp { id, val, error: 0, flags: 0 }
}

/// `SECCOMP_IOCTL_NOTIF_RECV`, `_IOWR('!', 0, struct seccomp_notif)`.
pub const SECCOMP_IOCTL_NOTIF_RECV: libc::Ioctl = libc::SECCOMP_IOCTL_NOTIF_RECV;
/// `SECCOMP_IOCTL_NOTIF_SEND`, `_IOWR('!', 1, struct seccomp_notif_resp)`.
pub const SECCOMP_IOCTL_NOTIF_SEND: libc::Ioctl = libc::SECCOMP_IOCTL_NOTIF_SEND;
/// `SECCOMP_IOCTL_NOTIF_ID_VALID`, `_IOW('!', 2, __u64)`.
pub const SECCOMP_IOCTL_NOTIF_ID_VALID: libc::Ioctl = libc::SECCOMP_IOCTL_NOTIF_ID_VALID;
/// `SECCOMP_IOCTL_NOTIF_ADDFD`, `_IOW('!', 3, struct seccomp_notif_addfd)`.
pub const SECCOMP_IOCTL_NOTIF_ADDFD: libc::Ioctl = libc::SECCOMP_IOCTL_NOTIF_ADDFD;
/// `SECCOMP_IOCTL_NOTIF_SET_FLAGS`, `_IOW('!', 4, __u64)`. Unlike the others, the kernel takes its argument by
/// value, not through a pointer.
pub const SECCOMP_IOCTL_NOTIF_SET_FLAGS: libc::Ioctl = libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS;

/// The result of an ioctl: its non-negative return value, or the errno.
fn checked(rc: libc::c_int) -> io::Result<i32> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// `SECCOMP_IOCTL_NOTIF_RECV`: one notification. Blocks while none is pending.
///
/// # Errors
/// ENOENT when the target was interrupted or died after poll reported it, EINTR on a signal; EFAULT, EINVAL or
/// ENOTTY only on misuse (not a listener fd).
pub fn notif_recv(listener: BorrowedFd<'_>) -> io::Result<SeccompNotif> {
    // seccomp_unotify(2): the structure must be zeroed before RECV (the kernel returns EINVAL otherwise).
    let data = SeccompData { nr: 0, arch: 0, instruction_pointer: 0, args: [0; 6] };
    let mut notif = SeccompNotif { id: 0, pid: 0, flags: 0, data };
    // SAFETY: seccomp_unotify(2): SECCOMP_IOCTL_NOTIF_RECV on a listener fd writes one `struct seccomp_notif` into
    // the pointed-to buffer; `notif` is libc's zeroed repr(C) definition of it, living for the whole call.
    checked(unsafe { libc::ioctl(listener.as_raw_fd(), SECCOMP_IOCTL_NOTIF_RECV, &mut notif) })?;
    Ok(notif)
}

/// `SECCOMP_IOCTL_NOTIF_SEND`: answers a notification.
///
/// # Errors
/// ENOENT when the target died, its syscall was interrupted or the notification was answered and the target has
/// resumed; EINPROGRESS if it was not received yet, or was answered and the target has not resumed yet; EINVAL for
/// a malformed response.
pub fn notif_send(listener: BorrowedFd<'_>, resp: SeccompNotifResp) -> io::Result<()> {
    let mut resp = resp;
    // SAFETY: seccomp_unotify(2): SECCOMP_IOCTL_NOTIF_SEND reads one `struct seccomp_notif_resp` from the pointer
    // (the _IOWR encoding lets it write it back too); `resp` is libc's repr(C) definition, living for the call.
    checked(unsafe { libc::ioctl(listener.as_raw_fd(), SECCOMP_IOCTL_NOTIF_SEND, &mut resp) }).map(drop)
}

/// `SECCOMP_IOCTL_NOTIF_ID_VALID`: true if notification `id` is still pending (the target is alive and waiting).
/// Any error (ENOENT) means false.
pub fn notif_id_valid(listener: BorrowedFd<'_>, id: u64) -> bool {
    // SAFETY: seccomp_unotify(2): SECCOMP_IOCTL_NOTIF_ID_VALID reads one u64 (the cookie) from the pointer, which
    // points to `id` for the whole call.
    unsafe { libc::ioctl(listener.as_raw_fd(), SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0 }
}

/// `SECCOMP_IOCTL_NOTIF_ADDFD`: installs a duplicate of `addfd.srcfd` into the target; the fd number there.
///
/// # Errors
/// ENOENT if the target is gone or was interrupted, EINPROGRESS if the notification was not received yet, EBADF if
/// `srcfd` is not open, EMFILE if the target's fd table is full, EINVAL for bad flags.
pub fn notif_addfd(listener: BorrowedFd<'_>, addfd: &SeccompNotifAddfd) -> io::Result<i32> {
    // SAFETY: seccomp_unotify(2): SECCOMP_IOCTL_NOTIF_ADDFD reads one `struct seccomp_notif_addfd` (libc's repr(C)
    // definition, borrowed for the call) and returns the new fd number; it does not close `srcfd`.
    checked(unsafe { libc::ioctl(listener.as_raw_fd(), SECCOMP_IOCTL_NOTIF_ADDFD, addfd as *const SeccompNotifAddfd) })
}

/// `SECCOMP_IOCTL_NOTIF_SET_FLAGS` with `flags` (such as [`SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP`]).
///
/// # Errors
/// EINVAL or ENOTTY on kernels before 6.6; EINTR if a signal interrupts the wait for the filter's lock.
pub fn notif_set_flags(listener: BorrowedFd<'_>, flags: u64) -> io::Result<()> {
    // SAFETY: seccomp_unotify(2) and kernel/seccomp.c: SECCOMP_IOCTL_NOTIF_SET_FLAGS takes the flags as the ioctl
    // argument itself (by value, not a pointer), so no memory is read or written.
    checked(unsafe { libc::ioctl(listener.as_raw_fd(), SECCOMP_IOCTL_NOTIF_SET_FLAGS, flags) }).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_sizes_match_the_kernel() {
        let mut sizes = SeccompNotifSizes { seccomp_notif: 0, seccomp_notif_resp: 0, seccomp_data: 0 };
        // SAFETY: seccomp(2): SECCOMP_GET_NOTIF_SIZES with flags 0 writes one `struct seccomp_notif_sizes` into the
        // pointer, libc's repr(C) definition living for the call; it loads no filter.
        let rc = unsafe {
            libc::syscall(libc::SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &mut sizes as *mut SeccompNotifSizes)
        };
        assert_eq!(rc, 0, "seccomp(SECCOMP_GET_NOTIF_SIZES): {}", io::Error::last_os_error());
        assert_eq!(usize::from(sizes.seccomp_notif), size_of::<SeccompNotif>());
        assert_eq!(usize::from(sizes.seccomp_notif_resp), size_of::<SeccompNotifResp>());
        assert_eq!(usize::from(sizes.seccomp_data), size_of::<SeccompData>());
        assert_eq!(size_of::<SeccompNotifAddfd>(), 24);
    }

    #[test]
    fn request_numbers_are_the_kernels() {
        // From linux/seccomp.h, as built for x86_64 and aarch64.
        assert_eq!(SECCOMP_IOCTL_NOTIF_RECV, 0xc050_2100);
        assert_eq!(SECCOMP_IOCTL_NOTIF_SEND, 0xc018_2101);
        assert_eq!(SECCOMP_IOCTL_NOTIF_ID_VALID, 0x4008_2102);
        assert_eq!(SECCOMP_IOCTL_NOTIF_ADDFD, 0x4018_2103);
        assert_eq!(SECCOMP_IOCTL_NOTIF_SET_FLAGS, 0x4008_2104);
    }

    #[test]
    fn errnos_are_negated_in_the_response() {
        let fields = |r: SeccompNotifResp| (r.id, r.val, r.error, r.flags);
        assert_eq!(fields(resp_error(7, libc::EPERM)), (7, 0, -1, 0));
        assert_eq!(fields(resp_continue(7)), (7, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE));
        assert_eq!(fields(resp_value(7, -3)), (7, -3, 0, 0));
    }
}
