//! The only module of supervise that touches the listener fd: `SECCOMP_IOCTL_NOTIF_RECV`, `SEND`, `ID_VALID`,
//! `ADDFD` and `SET_FLAGS` (seccomp_unotify(2)), wrapped as [`Listener`] methods over [`Notification`] and
//! [`Reply`].
//!
//! The kernel's definitions and the ioctls themselves are `agent::seccomp_abi`'s, shared with the launcher and the
//! benchmarks. [`Reply`] carries positive errnos; they are negated in exactly one place, where the
//! `seccomp_notif_resp` is built (`agent::seccomp_abi::resp_error`). The kernel tests run the filter only in forked
//! children (the test-only `testing` module), never in the test runner.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use agent::seccomp_abi::{self as abi, SeccompNotifAddfd, SeccompNotifResp, SECCOMP_ADDFD_FLAG_SEND};
use proto::Errno;

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
    /// The kernel response; the errno is negated there.
    fn to_resp(self, id: u64) -> SeccompNotifResp {
        match self {
            Reply::Continue => abi::resp_continue(id),
            Reply::Error(errno) => abi::resp_error(id, i32::from(errno.get())),
            Reply::Value(val) => abi::resp_value(id, val),
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
        let raw = abi::notif_recv(self.fd.as_fd())?;
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
    /// ENOENT when the target died, its syscall was interrupted or `id` was answered and the target has resumed
    /// (normal); EINPROGRESS if `id` was not received yet, or was answered and the target has not resumed yet;
    /// EINVAL for a malformed response.
    pub fn respond(&self, id: u64, reply: Reply) -> io::Result<()> {
        abi::notif_send(self.fd.as_fd(), reply.to_resp(id))
    }

    /// True if notification `id` is still pending (`SECCOMP_IOCTL_NOTIF_ID_VALID`): the target is alive and still
    /// waiting, so memory read from its pid before this call was its own. Any error (ENOENT) means false.
    pub fn id_valid(&self, id: u64) -> bool {
        abi::notif_id_valid(self.fd.as_fd(), id)
    }

    /// Asks the kernel to wake the supervisor synchronously on the target's CPU
    /// (`SECCOMP_IOCTL_NOTIF_SET_FLAGS` with `SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP`, Linux 6.6+). An optimisation:
    /// callers may ignore the error.
    ///
    /// # Errors
    /// EINVAL or ENOTTY on kernels before 6.6; EINTR if a signal interrupts the wait for the filter's lock.
    pub fn set_sync_wakeup(&self) -> io::Result<()> {
        abi::notif_set_flags(self.fd.as_fd(), abi::SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP)
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
        // `src` is borrowed, so it stays open meanwhile.
        abi::notif_addfd(self.fd.as_fd(), &addfd)
    }
}

/// Kernel-test support: a forked child under a small filter, whose listener the test (the parent) serves.
///
/// Tests run on threads of one process, so between `fork` and `_exit` the child may not allocate or take locks:
/// it makes raw syscalls only, and so must the `body` it runs.
#[cfg(test)]
pub(crate) mod testing {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
    use std::time::{Duration, Instant};

    use nix::poll::{poll, PollFd, PollFlags};
    use nix::sys::signal::{kill, Signal};
    use nix::sys::socket::{recvmsg, socketpair, AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType};
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    use nix::unistd::{fork, ForkResult, Pid};

    use super::{Listener, Notification};

    pub(crate) const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
    pub(crate) const AUDIT_ARCH_I386: u32 = 0x4000_0003;
    const NOBODY: u64 = 65534;

    /// Which syscalls the child's filter notifies; everything else of these two arches is allowed, other arches
    /// kill the child.
    pub(crate) struct Filter<'a> {
        pub x86_64: &'a [i32],
        pub i386: &'a [i32],
        /// Drop to uid/gid 65534 before the load (when root), so that no capability (CAP_SYS_TIME) is left: a call
        /// that reaches the kernel fails with EPERM instead of acting on the host.
        pub unprivileged: bool,
    }

    impl Filter<'_> {
        /// The classic BPF: check the arch, then compare the number against each notified one.
        fn program(&self) -> Vec<libc::sock_filter> {
            const LD: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
            const JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
            const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
            // offsetof(struct seccomp_data, nr) and offsetof(struct seccomp_data, arch).
            const NR: u32 = 0;
            const ARCH: u32 = 4;
            let stmt = |code, k| libc::sock_filter { code, jt: 0, jf: 0, k };
            let jeq = |k, jf| libc::sock_filter { code: JEQ, jt: 0, jf, k };
            let mut prog = vec![stmt(LD, ARCH)];
            for (arch, nrs) in [(AUDIT_ARCH_X86_64, self.x86_64), (AUDIT_ARCH_I386, self.i386)] {
                let mut block = vec![stmt(LD, NR)];
                for &nr in nrs {
                    block.push(jeq(nr as u32, 1));
                    block.push(stmt(RET, libc::SECCOMP_RET_USER_NOTIF));
                }
                block.push(stmt(RET, libc::SECCOMP_RET_ALLOW));
                prog.push(jeq(arch, u8::try_from(block.len()).expect("a short filter")));
                prog.extend(block);
            }
            prog.push(stmt(RET, libc::SECCOMP_RET_KILL_PROCESS));
            prog
        }
    }

    /// A forked child running `body` under a filter; the parent holds its listener. Dropping it kills the child
    /// if it was not reaped.
    pub(crate) struct Target {
        pub listener: Listener,
        pub pid: Pid,
        reaped: bool,
    }

    impl Target {
        /// Forks a child that loads `filter` with `SECCOMP_FILTER_FLAG_NEW_LISTENER`, sends the listener fd back
        /// over a socketpair, runs `body` and exits with its result (100.. for a failed set-up, 101 on a panic).
        pub(crate) fn spawn(filter: &Filter<'_>, body: fn() -> i32) -> Target {
            let prog = filter.program();
            let fprog = libc::sock_fprog { len: prog.len() as u16, filter: prog.as_ptr().cast_mut() };
            let (parent_sock, child_sock) =
                socketpair(AddressFamily::Unix, SockType::Stream, None, SockFlag::SOCK_CLOEXEC).expect("socketpair");
            // SAFETY: fork(2) in a multi-threaded test process: the child only makes raw syscalls (no allocation,
            // no locks) in `child_main` and `body`, then leaves with _exit(2).
            match unsafe { fork() }.expect("fork") {
                ForkResult::Child => {
                    let code = child_main(&fprog, child_sock.as_raw_fd(), filter.unprivileged, body);
                    // SAFETY: _exit(2) ends the child at once, without the parent's atexit handlers or destructors.
                    unsafe { libc::_exit(code) }
                }
                ForkResult::Parent { child } => {
                    drop(child_sock);
                    Target { listener: Listener::new(receive_fd(&parent_sock, child)), pid: child, reaped: false }
                }
            }
        }

        /// Hands the listener over, for a test that serves it its own way; the child is still killed and reaped
        /// when this is dropped, unless [`Target::wait`] reaped it.
        pub(crate) fn take_listener(&mut self) -> Listener {
            let placeholder = std::fs::File::open("/dev/null").expect("/dev/null").into();
            std::mem::replace(&mut self.listener, Listener::new(placeholder))
        }

        /// Waits for the child's exit code (128 + signal if it was killed).
        pub(crate) fn wait(mut self) -> i32 {
            let status = waitpid(self.pid, None).expect("waitpid");
            self.reaped = true;
            match status {
                WaitStatus::Exited(_, code) => code,
                WaitStatus::Signaled(_, signal, _) => 128 + signal as i32,
                other => panic!("the filtered child: {other:?}"),
            }
        }

        /// Serves notifications with `handle` until the child exits; returns its exit code (128 + signal if it
        /// was killed). Gives up after 30 s.
        pub(crate) fn serve(mut self, mut handle: impl FnMut(&Listener, Notification)) -> i32 {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let mut fds = [PollFd::new(self.listener.as_fd(), PollFlags::POLLIN)];
                let ready = poll(&mut fds, 20u16).unwrap_or(0);
                if ready > 0 && fds[0].revents().is_some_and(|r| r.contains(PollFlags::POLLIN)) {
                    match self.listener.recv() {
                        Ok(n) => handle(&self.listener, n),
                        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::EINTR)) => {}
                        Err(e) => panic!("SECCOMP_IOCTL_NOTIF_RECV: {e}"),
                    }
                    continue;
                }
                match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)).expect("waitpid") {
                    WaitStatus::Exited(_, code) => {
                        self.reaped = true;
                        return code;
                    }
                    WaitStatus::Signaled(_, signal, _) => {
                        self.reaped = true;
                        return 128 + signal as i32;
                    }
                    _ => assert!(Instant::now() < deadline, "the filtered child did not finish"),
                }
            }
        }
    }

    impl Drop for Target {
        fn drop(&mut self) {
            if !self.reaped {
                let _ = kill(self.pid, Signal::SIGKILL);
                let _ = waitpid(self.pid, None);
            }
        }
    }

    /// The listener fd from the child, or a panic naming the child's set-up failure.
    fn receive_fd(sock: &OwnedFd, child: Pid) -> OwnedFd {
        let mut byte = [0u8; 1];
        let mut iov = [std::io::IoSliceMut::new(&mut byte)];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let msg = recvmsg::<()>(sock.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC);
        let fd = msg.ok().and_then(|msg| {
            msg.cmsgs().ok()?.find_map(|c| match c {
                ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
                _ => None,
            })
        });
        match fd {
            // SAFETY: SCM_RIGHTS (unix(7)) installed this fd in our table just now; nothing else owns it.
            Some(fd) => unsafe { OwnedFd::from_raw_fd(fd) },
            None => {
                let status = waitpid(child, None);
                panic!("the filtered child failed before sending its listener: {status:?}");
            }
        }
    }

    /// The child's side: no allocation from here on. Returns the exit code.
    fn child_main(fprog: &libc::sock_fprog, sock: RawFd, unprivileged: bool, body: fn() -> i32) -> i32 {
        // SAFETY: every call below is a raw syscall with integer arguments or pointers to live locals, as the
        // prctl(2), setresuid(2), seccomp(2) and sendmsg(2) man pages describe them; none allocates.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            if unprivileged && libc::geteuid() == 0 {
                let groups = libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>());
                let gids = libc::syscall(libc::SYS_setresgid, NOBODY, NOBODY, NOBODY);
                let uids = libc::syscall(libc::SYS_setresuid, NOBODY, NOBODY, NOBODY);
                if groups != 0 || gids != 0 || uids != 0 || libc::geteuid() == 0 {
                    return 100;
                }
            }
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return 102;
            }
            let flags = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
            let listener = libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, flags, fprog) as RawFd;
            if listener < 0 {
                return 103;
            }
            if send_fd(sock, listener) != 1 {
                return 104;
            }
            libc::close(listener);
            libc::close(sock);
        }
        std::panic::catch_unwind(body).unwrap_or(101)
    }

    /// sendmsg(2) with one SCM_RIGHTS fd, built on the stack.
    ///
    /// # Safety
    /// `sock` and `fd` are open fds.
    unsafe fn send_fd(sock: RawFd, fd: RawFd) -> isize {
        #[repr(C)]
        struct FdCmsg {
            hdr: libc::cmsghdr,
            fd: RawFd,
            pad: u32,
        }
        // SAFETY: cmsghdr and msghdr are plain C structs for which all-zero is a valid value.
        let (mut cmsg, mut msg): (FdCmsg, libc::msghdr) = unsafe { std::mem::zeroed() };
        cmsg.hdr.cmsg_len = std::mem::size_of::<libc::cmsghdr>() + std::mem::size_of::<RawFd>();
        cmsg.hdr.cmsg_level = libc::SOL_SOCKET;
        cmsg.hdr.cmsg_type = libc::SCM_RIGHTS;
        cmsg.fd = fd;
        let mut byte = 0u8;
        let mut iov = libc::iovec { iov_base: (&mut byte as *mut u8).cast(), iov_len: 1 };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = (&mut cmsg as *mut FdCmsg).cast();
        msg.msg_controllen = std::mem::size_of::<FdCmsg>();
        // SAFETY: sendmsg(2) reads the msghdr, its iovec and its control buffer, all live locals laid out as
        // unix(7) describes (CMSG_LEN(4) = 20, CMSG_SPACE(4) = 24 on x86_64).
        unsafe { libc::sendmsg(sock, &msg, 0) }
    }

    /// A raw x86_64 syscall (`syscall` instruction); returns the result or `-errno`.
    ///
    /// # Safety
    /// The syscall may read or write memory through its arguments and change the process: the caller upholds
    /// whatever its man page requires.
    pub(crate) unsafe fn syscall64(nr: i64, args: [u64; 6]) -> i64 {
        let ret: i64;
        // SAFETY: the x86_64 syscall ABI: number in rax, arguments in rdi, rsi, rdx, r10, r8, r9; the kernel
        // clobbers rcx and r11 and returns in rax. The caller vouches for the syscall itself.
        unsafe {
            std::arch::asm!(
                "syscall",
                inlateout("rax") nr => ret,
                in("rdi") args[0], in("rsi") args[1], in("rdx") args[2],
                in("r10") args[3], in("r8") args[4], in("r9") args[5],
                lateout("rcx") _, lateout("r11") _,
                options(nostack),
            );
        }
        ret
    }

    /// A raw i386 syscall through `int 0x80` from 64-bit code (AUDIT_ARCH_I386); returns the result or `-errno`.
    /// Pointers must lie below 4 GiB (map them with `MAP_32BIT`).
    ///
    /// # Safety
    /// As for [`syscall64`].
    pub(crate) unsafe fn syscall32(nr: u32, args: [u32; 3]) -> i32 {
        let ret: u64;
        // SAFETY: the i386 syscall ABI via int 0x80: number in eax, arguments in ebx, ecx, edx; result in eax.
        // rbx is reserved by LLVM, so the first argument travels in rdi and is swapped in and out around the
        // interrupt. The 64-bit entry zeroes r8-r11, declared clobbered. The caller vouches for the syscall.
        unsafe {
            std::arch::asm!(
                "xchg rdi, rbx",
                "int 0x80",
                "xchg rdi, rbx",
                inlateout("rax") u64::from(nr) => ret,
                inout("rdi") u64::from(args[0]) => _,
                in("rcx") u64::from(args[1]), in("rdx") u64::from(args[2]),
                out("r8") _, out("r9") _, out("r10") _, out("r11") _,
                options(nostack),
            );
        }
        ret as u32 as i32
    }
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::io::Read;
    use std::os::fd::AsFd;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::testing::{syscall64, Filter, Target, AUDIT_ARCH_X86_64};
    use super::*;

    #[test]
    fn errnos_are_negated_only_in_the_response() {
        let resp = Reply::Error(Errno::EACCES).to_resp(7);
        assert_eq!((resp.id, resp.error, resp.val, resp.flags), (7, -13, 0, 0));
        let resp = Reply::Continue.to_resp(1);
        assert_eq!((resp.error, resp.val, resp.flags), (0, 0, abi::SECCOMP_USER_NOTIF_FLAG_CONTINUE));
        let resp = Reply::Value(-42).to_resp(1);
        assert_eq!((resp.error, resp.val, resp.flags), (0, -42, 0));
    }

    /// The pid of the test process, set before the fork so that the child knows its real parent.
    static TEST_PROCESS: AtomicU32 = AtomicU32::new(0);

    fn getppid() -> i64 {
        // SAFETY: getppid(2) takes no arguments and touches no memory.
        unsafe { syscall64(libc::SYS_getppid, [0; 6]) }
    }

    /// The child calls getppid four times: faked, denied, continued (the real parent, the test process), and
    /// answered with an injected fd that it then writes to. Returns the number of the first failed check.
    fn getppid_child() -> i32 {
        if getppid() != 4242 {
            return 1;
        }
        if getppid() != -i64::from(libc::EACCES) {
            return 2;
        }
        if getppid() != i64::from(TEST_PROCESS.load(Ordering::Relaxed)) {
            return 3;
        }
        let fd = getppid();
        if fd < 3 {
            return 4;
        }
        let byte = b'!';
        // SAFETY: write(2) reads one byte from a live local.
        if unsafe { syscall64(libc::SYS_write, [fd as u64, &byte as *const u8 as u64, 1, 0, 0, 0]) } != 1 {
            return 5;
        }
        0
    }

    #[test]
    fn replies_reach_the_target() {
        TEST_PROCESS.store(std::process::id(), Ordering::Relaxed);
        let filter = Filter { x86_64: &[libc::SYS_getppid as i32], i386: &[], unprivileged: false };
        let target = Target::spawn(&filter, getppid_child);
        let pid = target.pid.as_raw() as u32;
        target.listener.set_sync_wakeup().expect("SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP on Linux 6.6+");
        let (pipe_r, pipe_w) = nix::unistd::pipe().unwrap();
        let mut seen = 0;
        let code = target.serve(|listener, n| {
            assert_eq!((n.pid, n.nr, n.arch, n.flags), (pid, libc::SYS_getppid as i32, AUDIT_ARCH_X86_64, 0));
            assert_ne!(n.ip, 0);
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
            // The target removes the answered notification when it wakes; until then the kernel says EINPROGRESS.
            assert!(matches!(again.raw_os_error(), Some(libc::ENOENT | libc::EINPROGRESS)), "a second answer: {again}");
        });
        assert_eq!(code, 0, "the child's check {code} failed");
        assert_eq!(seen, 4);
        drop(pipe_w);
        let mut got = Vec::new();
        File::from(pipe_r).read_to_end(&mut got).unwrap();
        assert_eq!(got, b"!", "the child wrote through the injected fd");
    }

    #[test]
    fn notifications_carry_the_arguments() {
        fn child() -> i32 {
            let path = b"/nonexistent-supervise-test\0";
            let args = [libc::AT_FDCWD as u64, path.as_ptr() as u64, 0o700, 0, 0, 0];
            // SAFETY: mkdirat(2) reads a NUL-terminated path from a static; the parent answers without running it.
            let rc = unsafe { syscall64(libc::SYS_mkdirat, args) };
            i32::from(rc != -i64::from(libc::EROFS))
        }
        let filter = Filter { x86_64: &[libc::SYS_mkdirat as i32], i386: &[], unprivileged: true };
        let target = Target::spawn(&filter, child);
        let code = target.serve(|listener, n| {
            assert_eq!((n.args[0] as i32, n.args[2]), (libc::AT_FDCWD, 0o700));
            listener.respond(n.id, Reply::Error(Errno::new(i64::from(libc::EROFS)).unwrap())).unwrap();
        });
        assert_eq!(code, 0);
    }
}
