//! The only module that touches the listener fd: `SECCOMP_IOCTL_NOTIF_RECV`, `SEND`, `ID_VALID`, `ADDFD` and
//! `SET_FLAGS` (seccomp_unotify(2)), wrapped as [`Listener`] methods over [`Notification`] and [`Reply`].
//!
//! The kernel structures are mirrored here as `#[repr(C)]` types and checked against `SECCOMP_GET_NOTIF_SIZES`.
//! [`Reply`] carries positive errnos; they are negated in exactly one place, where the `seccomp_notif_resp` is
//! built. The kernel tests run the filter only in forked children ([`testing`]), never in the test runner.

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

/// `struct seccomp_notif_sizes`, the answer of `seccomp(SECCOMP_GET_NOTIF_SIZES)`.
#[cfg(test)]
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct SeccompNotifSizes {
    seccomp_notif: u16,
    seccomp_notif_resp: u16,
    seccomp_data: u16,
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

/// One notified syscall, as `SECCOMP_IOCTL_NOTIF_RECV` reports it (`struct seccomp_notif` and its
/// `struct seccomp_data`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notification {
    /// Cookie for ID_VALID, SEND and ADDFD.
    pub id: u64,
    /// Thread id of the target, in the supervisor's pid namespace (0 if it is not visible there).
    pub pid: u32,
    /// Always 0 so far.
    pub flags: u32,
    /// `AUDIT_ARCH_*` of the syscall (see `proto::Arch::from_audit`).
    pub arch: u32,
    /// Syscall number, in the numbering of `arch` (x32 numbers carry `__X32_SYSCALL_BIT`).
    pub nr: i32,
    /// Instruction pointer of the target at the syscall.
    pub ip: u64,
    /// The six syscall arguments, as the target passed them.
    pub args: [u64; 6],
}

/// The answer to a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Let the kernel run the syscall (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`). Not a security boundary for pointer
    /// arguments (KERNEL-NOTES 4).
    Continue,
    /// Fail with this errno; the target sees `-1` and `errno` set.
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

/// A seccomp user-notification listener fd (from `SECCOMP_FILTER_FLAG_NEW_LISTENER`).
#[derive(Debug)]
pub struct Listener {
    fd: OwnedFd,
}

impl Listener {
    /// Takes ownership of a listener fd. The fd should be close-on-exec; nothing here checks that it is a listener.
    pub fn new(fd: OwnedFd) -> Listener {
        Listener { fd }
    }

    /// The fd, to poll it (readable: a notification is pending; POLLHUP: every target is gone).
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Receives one notification (`SECCOMP_IOCTL_NOTIF_RECV`). Blocks while none is pending: poll first.
    ///
    /// # Errors
    /// ENOENT when the target was interrupted or died after poll reported it, EINTR on a signal: both are normal
    /// and the caller goes on. EFAULT/EINVAL/ENOTTY only on misuse (not a listener fd).
    pub fn recv(&self) -> io::Result<Notification> {
        // seccomp_unotify(2): the structure must be zeroed before RECV (the kernel returns EINVAL otherwise).
        let mut raw = SeccompNotif::default();
        // SAFETY: seccomp_unotify(2): SECCOMP_IOCTL_NOTIF_RECV on a listener fd writes one `struct seccomp_notif`
        // into the pointed-to buffer; `raw` is a zeroed, properly sized and aligned repr(C) mirror of it that lives
        // for the whole call.
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

    /// Answers notification `id` (`SECCOMP_IOCTL_NOTIF_SEND`). For [`Reply::Error`], the errno is negated here.
    ///
    /// # Errors
    /// ENOENT when the target died, its syscall was interrupted or `id` was already answered (normal);
    /// EINPROGRESS if `id` was not received yet; EINVAL for a malformed response.
    pub fn respond(&self, id: u64, reply: Reply) -> io::Result<()> {
        let mut resp = reply.to_resp(id);
        // SAFETY: seccomp_unotify(2): SECCOMP_IOCTL_NOTIF_SEND reads one `struct seccomp_notif_resp` from the
        // pointer (the _IOWR encoding lets it write it back too); `resp` is a repr(C) mirror living for the call.
        unsafe { ioctl_send(self.fd.as_raw_fd(), &mut resp) }.map(drop).map_err(io::Error::from)
    }

    /// True if notification `id` is still pending (`SECCOMP_IOCTL_NOTIF_ID_VALID`): the target is alive and still
    /// waiting, so memory read from its pid before this call was its own. Any error (ENOENT) means false.
    pub fn id_valid(&self, id: u64) -> bool {
        // SAFETY: seccomp_unotify(2): SECCOMP_IOCTL_NOTIF_ID_VALID reads one u64 (the cookie) from the pointer,
        // which points to `id` for the whole call.
        unsafe { ioctl_id_valid(self.fd.as_raw_fd(), &id) }.is_ok()
    }

    /// Asks the kernel to wake the supervisor synchronously on the target's CPU
    /// (`SECCOMP_IOCTL_NOTIF_SET_FLAGS` with `SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP`, Linux 6.6+). An optimisation:
    /// callers may ignore the error.
    ///
    /// # Errors
    /// EINVAL or ENOTTY on kernels before 6.6.
    pub fn set_sync_wakeup(&self) -> io::Result<()> {
        // SAFETY: seccomp_unotify(2): SECCOMP_IOCTL_NOTIF_SET_FLAGS reads one u64 of flags from the pointer, which
        // points to a constant.
        unsafe { ioctl_set_flags(self.fd.as_raw_fd(), &SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) }
            .map(drop)
            .map_err(io::Error::from)
    }

    /// Installs a duplicate of `src` into the target as its lowest free fd (`SECCOMP_IOCTL_NOTIF_ADDFD`) and
    /// returns that number. With `send`, the notified syscall also returns that number, atomically
    /// (`SECCOMP_ADDFD_FLAG_SEND`, Linux 5.14+): then no [`Listener::respond`] may follow. With `cloexec`, the new
    /// fd is close-on-exec in the target.
    ///
    /// # Errors
    /// ENOENT if the target is gone or was interrupted, EINPROGRESS if `id` was not received yet, EBADF if `src` is
    /// not open, EMFILE if the target's fd table is full, EINVAL for bad flags.
    pub fn add_fd(&self, id: u64, src: BorrowedFd<'_>, send: bool, cloexec: bool) -> io::Result<i32> {
        let addfd = SeccompNotifAddfd {
            id,
            flags: if send { SECCOMP_ADDFD_FLAG_SEND } else { 0 },
            srcfd: src.as_raw_fd() as u32,
            newfd: 0,
            newfd_flags: if cloexec { libc::O_CLOEXEC as u32 } else { 0 },
        };
        // SAFETY: seccomp_unotify(2): SECCOMP_IOCTL_NOTIF_ADDFD reads one `struct seccomp_notif_addfd` (repr(C)
        // mirror, alive for the call) and returns the new fd number; `src` is borrowed, so it stays open meanwhile.
        unsafe { ioctl_addfd(self.fd.as_raw_fd(), &addfd) }.map_err(io::Error::from)
    }
}

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::fd::AsFd;

    use super::testing::{Filter, Target, AUDIT_ARCH_X86_64};
    use super::*;

    #[test]
    fn struct_sizes_match_the_kernel() {
        let mut sizes = SeccompNotifSizes::default();
        // SAFETY: seccomp(2): SECCOMP_GET_NOTIF_SIZES (3) with flags 0 writes one `struct seccomp_notif_sizes`
        // (three u16) to the pointer, which points to `sizes` for the call.
        let rc = unsafe { libc::syscall(libc::SYS_seccomp, 3, 0, &mut sizes as *mut SeccompNotifSizes) };
        assert_eq!(rc, 0, "{}", io::Error::last_os_error());
        assert_eq!(usize::from(sizes.seccomp_notif), std::mem::size_of::<SeccompNotif>());
        assert_eq!(usize::from(sizes.seccomp_notif_resp), std::mem::size_of::<SeccompNotifResp>());
        assert_eq!(usize::from(sizes.seccomp_data), std::mem::size_of::<SeccompData>());
        assert_eq!(std::mem::size_of::<SeccompNotifAddfd>(), 24);
    }

    #[test]
    fn errnos_are_negated_only_in_the_response() {
        let resp = Reply::Error(Errno::EACCES).to_resp(7);
        assert_eq!((resp.id, resp.error, resp.val, resp.flags), (7, -13, 0, 0));
        let resp = Reply::Continue.to_resp(1);
        assert_eq!((resp.error, resp.val, resp.flags), (0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE));
        let resp = Reply::Value(-42).to_resp(1);
        assert_eq!((resp.error, resp.val, resp.flags), (0, -42, 0));
    }

    /// The child calls getppid four times: faked, denied, continued, and answered with an injected fd.
    fn getppid_child() -> i32 {
        // Read before the filter is loaded: the real answer, for the CONTINUE case.
        let real = Target::raw_syscall(libc::SYS_getppid, [0; 6]);
        let got = Target::raw_syscall(libc::SYS_getppid, [0; 6]);
        if got != 4242 {
            return 1;
        }
        let got = Target::raw_syscall(libc::SYS_getppid, [0; 6]);
        if got != -i64::from(libc::EACCES) {
            return 2;
        }
        let got = Target::raw_syscall(libc::SYS_getppid, [0; 6]);
        if got != real {
            return 3;
        }
        let fd = Target::raw_syscall(libc::SYS_getppid, [0; 6]);
        if fd < 0 {
            return 4;
        }
        let byte = b'!';
        if Target::raw_syscall(libc::SYS_write, [fd as u64, &byte as *const u8 as u64, 1, 0, 0, 0]) != 1 {
            return 5;
        }
        0
    }

    #[test]
    fn replies_reach_the_target() {
        let filter = Filter { x86_64: &[libc::SYS_getppid as i32], i386: &[], unprivileged: false };
        let target = Target::spawn(&filter, getppid_child);
        target.listener.set_sync_wakeup().expect("SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP on Linux 6.6+");
        let (mut pipe_r, pipe_w) = std::io::pipe().unwrap();
        let mut seen = 0;
        let code = target.serve(|listener, n| {
            assert_eq!(n.nr, libc::SYS_getppid as i32);
            assert_eq!(n.arch, AUDIT_ARCH_X86_64);
            assert_eq!(n.flags, 0);
            assert!(n.ip != 0);
            assert!(listener.id_valid(n.id), "pending before the reply");
            seen += 1;
            match seen {
                1 => listener.respond(n.id, Reply::Value(4242)).unwrap(),
                2 => listener.respond(n.id, Reply::Error(Errno::EACCES)).unwrap(),
                3 => listener.respond(n.id, Reply::Continue).unwrap(),
                _ => {
                    let fd = listener.add_fd(n.id, pipe_w.as_fd(), true, true).unwrap();
                    assert!(fd > 2, "a fresh fd in the target: {fd}");
                }
            }
            assert!(!listener.id_valid(n.id), "answered: no longer valid");
            let again = listener.respond(n.id, Reply::Value(0)).unwrap_err();
            assert_eq!(again.raw_os_error(), Some(libc::ENOENT));
        });
        assert_eq!(code, 0, "the child's check number {code} failed");
        assert_eq!(seen, 4);
        drop(pipe_w);
        let mut got = Vec::new();
        pipe_r.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"!", "the child wrote through the injected fd");
    }

    #[test]
    fn notifications_carry_pid_and_arguments() {
        fn child() -> i32 {
            let path = b"/nonexistent-supervise-test\0";
            let rc = Target::raw_syscall(libc::SYS_mkdirat, [libc::AT_FDCWD as u64, path.as_ptr() as u64, 0o700, 0, 0, 0]);
            if rc == -i64::from(libc::EROFS) {
                0
            } else {
                1
            }
        }
        let filter = Filter { x86_64: &[libc::SYS_mkdirat as i32], i386: &[], unprivileged: false };
        let target = Target::spawn(&filter, child);
        let pid = target.pid.as_raw() as u32;
        let mut stderr = std::io::stderr();
        let code = target.serve(|listener, n| {
            assert_eq!(n.pid, pid);
            assert_eq!(n.args[0] as i32, libc::AT_FDCWD);
            assert_eq!(n.args[2], 0o700);
            listener.respond(n.id, Reply::Error(Errno::new(i64::from(libc::EROFS)).unwrap())).unwrap();
        });
        let _ = stderr.flush();
        assert_eq!(code, 0);
    }
}
