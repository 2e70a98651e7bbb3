//! The only module that touches the listener fd: `SECCOMP_IOCTL_NOTIF_RECV`, `SEND`, `ID_VALID`, `ADDFD` and
//! `SET_FLAGS` (seccomp_unotify(2)), wrapped as [`Listener`] methods over [`Notification`] and [`Reply`].

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use proto::Errno;

/// `struct seccomp_data`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct SeccompData {
    nr: i32,
    arch: u32,
    instruction_pointer: u64,
    args: [u64; 6],
}

/// `struct seccomp_notif`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct SeccompNotif {
    id: u64,
    pid: u32,
    flags: u32,
    data: SeccompData,
}

/// `struct seccomp_notif_resp`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct SeccompNotifResp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

/// `struct seccomp_notif_addfd`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct SeccompNotifAddfd {
    id: u64,
    flags: u32,
    srcfd: u32,
    newfd: u32,
    newfd_flags: u32,
}

const SECCOMP_IOC_MAGIC: u8 = b'!';
nix::ioctl_readwrite!(ioctl_recv, SECCOMP_IOC_MAGIC, 0, SeccompNotif);
nix::ioctl_readwrite!(ioctl_send, SECCOMP_IOC_MAGIC, 1, SeccompNotifResp);
nix::ioctl_write_ptr!(ioctl_id_valid, SECCOMP_IOC_MAGIC, 2, u64);
nix::ioctl_write_ptr!(ioctl_addfd, SECCOMP_IOC_MAGIC, 3, SeccompNotifAddfd);
nix::ioctl_write_ptr!(ioctl_set_flags, SECCOMP_IOC_MAGIC, 4, u64);

const SECCOMP_USER_NOTIF_FLAG_CONTINUE: u32 = 1;
const SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: u64 = 1;
const SECCOMP_ADDFD_FLAG_SEND: u32 = 1 << 1;

/// One notified syscall, as `SECCOMP_IOCTL_NOTIF_RECV` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notification {
    /// Cookie for ID_VALID and SEND.
    pub id: u64,
    /// Thread id of the target (in the supervisor's pid namespace).
    pub pid: u32,
    pub flags: u32,
    /// `AUDIT_ARCH_*` of the syscall.
    pub arch: u32,
    pub nr: i32,
    pub ip: u64,
    pub args: [u64; 6],
}

/// The answer to a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Let the kernel run the syscall (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`).
    Continue,
    /// Fail with this errno.
    Error(Errno),
    /// Succeed with this return value, without running the syscall.
    Value(i64),
}

impl Reply {
    /// The kernel response. The only place where an errno is negated.
    fn to_resp(self, id: u64) -> SeccompNotifResp {
        match self {
            Reply::Continue => SeccompNotifResp { id, val: 0, error: 0, flags: SECCOMP_USER_NOTIF_FLAG_CONTINUE },
            Reply::Error(errno) => SeccompNotifResp { id, val: 0, error: -i32::from(errno.get()), flags: 0 },
            Reply::Value(val) => SeccompNotifResp { id, val, error: 0, flags: 0 },
        }
    }
}

/// A seccomp user-notification listener fd.
#[derive(Debug)]
pub struct Listener {
    fd: OwnedFd,
}

impl Listener {
    pub fn new(fd: OwnedFd) -> Listener {
        Listener { fd }
    }

    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Receives one notification (`SECCOMP_IOCTL_NOTIF_RECV`). Blocks while none is pending.
    ///
    /// # Errors
    /// ENOENT when the target was interrupted or died after poll reported it, EINTR on a signal: both normal.
    pub fn recv(&self) -> io::Result<Notification> {
        // seccomp_unotify(2): the structure must be zeroed before RECV.
        let mut raw = SeccompNotif::default();
        // SAFETY: SECCOMP_IOCTL_NOTIF_RECV on a listener fd writes one `struct seccomp_notif` into `raw`, which is
        // a properly sized and aligned repr(C) mirror of it.
        unsafe { ioctl_recv(self.fd.as_raw_fd(), &mut raw) }.map_err(io::Error::from)?;
        Ok(Notification {
            id: raw.id,
            pid: raw.pid,
            flags: raw.flags,
            arch: raw.data.arch,
            nr: raw.data.nr,
            ip: raw.data.instruction_pointer,
            args: raw.data.args,
        })
    }

    /// Answers notification `id` (`SECCOMP_IOCTL_NOTIF_SEND`).
    ///
    /// # Errors
    /// ENOENT when the target died or its syscall was interrupted (normal); EINPROGRESS if already answered.
    pub fn respond(&self, id: u64, reply: Reply) -> io::Result<()> {
        let mut resp = reply.to_resp(id);
        // SAFETY: SECCOMP_IOCTL_NOTIF_SEND reads one `struct seccomp_notif_resp` from `resp` (repr(C) mirror).
        unsafe { ioctl_send(self.fd.as_raw_fd(), &mut resp) }.map(drop).map_err(io::Error::from)
    }

    /// True if notification `id` is still pending (`SECCOMP_IOCTL_NOTIF_ID_VALID`): the target is alive and still
    /// waiting, so memory read from its pid is its own.
    pub fn id_valid(&self, id: u64) -> bool {
        // SAFETY: SECCOMP_IOCTL_NOTIF_ID_VALID reads one u64 from the pointer.
        unsafe { ioctl_id_valid(self.fd.as_raw_fd(), &id) }.is_ok()
    }

    /// Asks the kernel to wake the supervisor synchronously on the target's CPU
    /// (`SECCOMP_IOCTL_NOTIF_SET_FLAGS` with `SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP`, Linux 6.6+).
    ///
    /// # Errors
    /// EINVAL or ENOTTY on older kernels.
    pub fn set_sync_wakeup(&self) -> io::Result<()> {
        // SAFETY: SECCOMP_IOCTL_NOTIF_SET_FLAGS reads one u64 of flags from the pointer.
        unsafe { ioctl_set_flags(self.fd.as_raw_fd(), &SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) }
            .map(drop)
            .map_err(io::Error::from)
    }

    /// Installs `src` into the target as a new fd (`SECCOMP_IOCTL_NOTIF_ADDFD`). With `send`, the syscall also
    /// returns that fd number atomically (`SECCOMP_ADDFD_FLAG_SEND`, Linux 5.14+), and no further reply is sent.
    ///
    /// # Errors
    /// ENOENT if the target is gone, EMFILE if its fd table is full, EINPROGRESS if already answered.
    pub fn add_fd(&self, id: u64, src: BorrowedFd<'_>, send: bool, cloexec: bool) -> io::Result<i32> {
        let addfd = SeccompNotifAddfd {
            id,
            flags: if send { SECCOMP_ADDFD_FLAG_SEND } else { 0 },
            srcfd: src.as_raw_fd() as u32,
            newfd: 0,
            newfd_flags: if cloexec { libc::O_CLOEXEC as u32 } else { 0 },
        };
        // SAFETY: SECCOMP_IOCTL_NOTIF_ADDFD reads one `struct seccomp_notif_addfd` (repr(C) mirror); `src` is a
        // valid open fd for the duration of the call.
        unsafe { ioctl_addfd(self.fd.as_raw_fd(), &addfd) }.map_err(io::Error::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_sizes_match_the_kernel() {
        #[repr(C)]
        #[derive(Default)]
        struct Sizes {
            notif: u16,
            resp: u16,
            data: u16,
        }
        let mut sizes = Sizes::default();
        // SAFETY: seccomp(2) SECCOMP_GET_NOTIF_SIZES writes a `struct seccomp_notif_sizes` (three u16).
        let rc = unsafe { libc::syscall(libc::SYS_seccomp, 3, 0, &mut sizes as *mut Sizes) };
        assert_eq!(rc, 0);
        assert_eq!(usize::from(sizes.notif), std::mem::size_of::<SeccompNotif>());
        assert_eq!(usize::from(sizes.resp), std::mem::size_of::<SeccompNotifResp>());
        assert_eq!(usize::from(sizes.data), std::mem::size_of::<SeccompData>());
    }

    #[test]
    fn errnos_are_negated_only_in_the_response() {
        let resp = Reply::Error(Errno::new(13).unwrap()).to_resp(7);
        assert_eq!((resp.id, resp.error, resp.val, resp.flags), (7, -13, 0, 0));
        assert_eq!(Reply::Continue.to_resp(1).flags, SECCOMP_USER_NOTIF_FLAG_CONTINUE);
        assert_eq!(Reply::Value(42).to_resp(1).val, 42);
    }
}
