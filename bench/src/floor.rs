//! The reference programs that need raw seccomp: the **raw notify floor** (a forked target under a filter with a
//! listener, answered by a minimal loop over the seccomp ioctls in a thread of this process) and the **same filter
//! loaded raw** (a forked child loads a BPF program with plain `seccomp(2)` and execs the target).
//!
//! The child makes raw syscalls only between `fork` and `execve` (seccomp_unotify(2) for the listener, seccomp(2)
//! for the load, sendmsg(2) with `SCM_RIGHTS` for the hand-off), so that it is safe even if this process has other
//! threads. The answering loop is one of two shapes ([`Serve`]): a thread blocked in `SECCOMP_IOCTL_NOTIF_RECV`, or
//! what supervise's `AsyncFd` loop does (edge-triggered epoll, then `poll(0)` before each RECV).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::thread::JoinHandleExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use agent::filter::Bpf;
use agent::seccomp_abi::{
    self as abi, SeccompNotif, SeccompNotifAddfd, SECCOMP_ADDFD_FLAG_SEND, SECCOMP_FILTER_FLAG_NEW_LISTENER,
    SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, SECCOMP_SET_MODE_FILTER, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP,
};
use nix::sys::socket::{recvmsg, socketpair, AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType};

use crate::run::{read_all, Watchdog};

/// Exit codes of the child for failures before `execve`.
const EXIT_NO_NEW_PRIVS: i32 = 120;
const EXIT_LOAD: i32 = 121;
const EXIT_HANDOFF: i32 = 122;
const EXIT_EXEC: i32 = 123;

/// How the floor's supervisor waits for notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serve {
    /// A thread blocked in `SECCOMP_IOCTL_NOTIF_RECV`.
    Blocking,
    /// supervise's shape: edge-triggered epoll on the listener, then `poll(0)` before each RECV until it is empty.
    Epoll,
}

/// The floor's answer to every notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// `SECCOMP_USER_NOTIF_FLAG_CONTINUE`.
    Continue,
    /// Fail with this (positive) errno.
    Errno(i32),
    /// The least an emulation does: read 16 bytes of target memory (at its instruction pointer, always mapped),
    /// check `NOTIF_ID_VALID`, answer this value.
    ReadValue(i64),
    /// The least an emulated open does: read the path (`openat`'s second argument), check `NOTIF_ID_VALID`, open
    /// it here, inject the fd with `SECCOMP_IOCTL_NOTIF_ADDFD`. No policy check. `atomic`: with
    /// `SECCOMP_ADDFD_FLAG_SEND` (inject and answer in one ioctl); otherwise ADDFD, then SEND with the new fd as
    /// the value.
    OpenAddfd { atomic: bool },
}

/// The listener side of a floor run.
#[derive(Debug, Clone, Copy)]
pub struct ListenerOptions {
    pub serve: Serve,
    pub answer: Answer,
    /// Set `SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP` on the listener, as supervise does.
    pub sync_wakeup: bool,
    /// Answering threads (each its own loop on the same listener); at least 1.
    pub servers: usize,
}

/// One run of a target under a raw filter.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// `Some`: load the filter with `NEW_LISTENER | WAIT_KILLABLE_RECV` and answer it; `None`: a plain load.
    pub listener: Option<ListenerOptions>,
    /// Pin the target and the answering thread to this CPU.
    pub pin: Option<usize>,
}

/// What a run produced.
#[derive(Debug)]
pub struct Finished {
    pub stdout: String,
    /// Notifications answered.
    pub served: u64,
}

/// Forks a child that loads `bpf` (with a listener if asked), hands the listener over, and execs `argv`; answers
/// its notifications until it exits; returns its stdout.
///
/// # Errors
/// If the socketpair, pipe or fork fails, the child could not load the filter or exec, it timed out, or it exited
/// with a failure.
pub fn run(bpf: &Bpf, options: Options, argv: &[CString], timeout: Duration) -> io::Result<Finished> {
    install_wakeup_handler();
    let argv_ptrs: Vec<*const libc::c_char> =
        argv.iter().map(|a| a.as_ptr()).chain(std::iter::once(std::ptr::null())).collect();
    let envp: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.into_encoded_bytes();
            kv.push(b'=');
            kv.extend(v.into_encoded_bytes());
            CString::new(kv).ok()
        })
        .collect();
    let envp_ptrs: Vec<*const libc::c_char> =
        envp.iter().map(|a| a.as_ptr()).chain(std::iter::once(std::ptr::null())).collect();
    let prog = libc::sock_fprog {
        len: u16::try_from(bpf.len()).map_err(|_| io::Error::other("BPF program too long"))?,
        filter: bpf.insns().as_ptr().cast_mut(),
    };
    let flags = match options.listener {
        Some(_) => SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
        None => 0,
    };
    let cpuset = options.pin.map(cpu_set);
    let (parent_sock, child_sock) =
        socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC).map_err(io::Error::from)?;
    let (out_r, out_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)?;
    let plan = ChildPlan {
        prog: &prog,
        flags,
        sock: child_sock.as_raw_fd(),
        out: out_w.as_raw_fd(),
        cpuset: cpuset.as_ref(),
        argv: &argv_ptrs,
        envp: &envp_ptrs,
    };
    // SAFETY: fork(2). The child runs `child_main`, which makes raw syscalls only on memory prepared above (no
    // allocation, no locks) and leaves through execve(2) or _exit(2), so other threads of this process cannot
    // leave it deadlocked.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        child_main(&plan);
    }
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    drop(child_sock);
    drop(out_w);
    let watchdog = Watchdog::arm(pid, timeout);
    let server = match options.listener {
        Some(listen) => match receive_fd(&parent_sock) {
            Ok(listener) => Some(Server::start(listener, listen, options.pin)),
            Err(e) => {
                // SAFETY: kill(2) and waitpid(2) on our own child, which is not reaped yet.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::waitpid(pid, std::ptr::null_mut(), 0);
                }
                return Err(e);
            }
        },
        None => None,
    };
    let stdout = read_all(out_r);
    let mut status = 0;
    // SAFETY: waitpid(2) on our own child with a valid status pointer.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let timed_out = watchdog.disarm();
    let served = server.map_or(0, Server::stop);
    if timed_out {
        return Err(io::Error::new(io::ErrorKind::TimedOut, format!("the target ran longer than {timeout:?}")));
    }
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) != 0 || libc::WIFSIGNALED(status) {
        let why = match (libc::WIFEXITED(status), libc::WEXITSTATUS(status)) {
            (true, EXIT_NO_NEW_PRIVS) => "prctl(PR_SET_NO_NEW_PRIVS) failed".to_string(),
            (true, EXIT_LOAD) => "seccomp(SECCOMP_SET_MODE_FILTER) failed".to_string(),
            (true, EXIT_HANDOFF) => "the listener hand-off failed".to_string(),
            (true, EXIT_EXEC) => "execve failed".to_string(),
            (true, code) => format!("the target exited with {code}"),
            _ => format!("the target was killed by signal {}", libc::WTERMSIG(status)),
        };
        return Err(io::Error::other(why));
    }
    Ok(Finished { stdout, served })
}

/// Everything the child needs, prepared before `fork`.
struct ChildPlan<'a> {
    prog: &'a libc::sock_fprog,
    flags: libc::c_uint,
    sock: RawFd,
    out: RawFd,
    cpuset: Option<&'a libc::cpu_set_t>,
    argv: &'a [*const libc::c_char],
    envp: &'a [*const libc::c_char],
}

fn child_main(plan: &ChildPlan<'_>) -> ! {
    // SAFETY: raw syscalls on memory prepared before fork: sched_setaffinity(2) with a cpu_set_t, prctl(2),
    // seccomp(2) with a sock_fprog whose filter outlives the call (the kernel copies it), close(2)/dup2(2) of our
    // own fds, execve(2) with NUL-terminated strings in NULL-terminated arrays, and _exit(2).
    unsafe {
        if let Some(set) = plan.cpuset {
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set);
        }
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            libc::_exit(EXIT_NO_NEW_PRIVS);
        }
        let fd = libc::syscall(libc::SYS_seccomp, SECCOMP_SET_MODE_FILTER, plan.flags, plan.prog as *const _);
        if fd < 0 {
            libc::_exit(EXIT_LOAD);
        }
        if plan.flags & SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 {
            if send_fd(plan.sock, fd as RawFd) < 0 {
                libc::_exit(EXIT_HANDOFF);
            }
            libc::close(fd as RawFd);
        }
        libc::dup2(plan.out, 1);
        libc::execve(plan.argv[0], plan.argv.as_ptr(), plan.envp.as_ptr());
        libc::_exit(EXIT_EXEC)
    }
}

/// sendmsg(2) of one byte with `fd` as `SCM_RIGHTS`, on a stack buffer (no allocation: this runs after fork).
fn send_fd(sock: RawFd, fd: RawFd) -> isize {
    #[repr(C, align(8))]
    struct Space([u8; 64]);
    let mut space = Space([0; 64]);
    let mut byte = [1u8];
    let mut iov = libc::iovec { iov_base: byte.as_mut_ptr().cast(), iov_len: 1 };
    // SAFETY: msghdr is plain old data; all-zero is a valid empty message header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = space.0.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE/CMSG_LEN are pure size computations (cmsg(3)).
    let (cmsg_space, cmsg_len) = unsafe {
        (libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32), libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32))
    };
    msg.msg_controllen = cmsg_space as usize;
    // SAFETY: cmsg(3): the control buffer is 8-aligned and larger than CMSG_SPACE(sizeof(int)), so CMSG_FIRSTHDR
    // returns a valid header inside it and CMSG_DATA points at room for one int; sendmsg(2) reads `msg`, `iov`,
    // `byte` and `space`, which all live for the call.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = cmsg_len as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
        libc::sendmsg(sock, &msg, 0)
    }
}

/// Receives the listener from the child (`MSG_CMSG_CLOEXEC`); EOF without an fd means the child failed first.
fn receive_fd(sock: &OwnedFd) -> io::Result<OwnedFd> {
    let mut byte = [0u8; 1];
    let mut iov = [io::IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(sock.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
        .map_err(io::Error::from)?;
    for cmsg in msg.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            if let Some(&fd) = fds.first() {
                // SAFETY: SCM_RIGHTS installed this fd in our table; nothing else owns it.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    Err(io::Error::other("the child did not hand over a listener (seccomp load failed?)"))
}

fn cpu_set(cpu: usize) -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is a plain bitmask; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET(3) sets one bit of the mask; libc checks `cpu` against the mask's size.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    set
}

/// The floor's answering threads.
struct Server {
    handles: Vec<std::thread::JoinHandle<u64>>,
    stop: Arc<AtomicBool>,
}

impl Server {
    fn start(listener: OwnedFd, options: ListenerOptions, pin: Option<usize>) -> Server {
        if options.sync_wakeup {
            // Failure (kernels before 6.6) only leaves the default wake-up.
            let _ = abi::notif_set_flags(listener.as_fd(), SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let listener = Arc::new(listener);
        let handles = (0..options.servers.max(1))
            .map(|_| {
                let (flag, listener) = (stop.clone(), listener.clone());
                std::thread::spawn(move || {
                    if let Some(cpu) = pin {
                        let set = cpu_set(cpu);
                        // SAFETY: sched_setaffinity(2) on the calling thread (pid 0) with a valid cpu_set_t.
                        unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
                    }
                    match options.serve {
                        Serve::Blocking => serve_blocking(listener.as_fd(), options.answer, &flag),
                        Serve::Epoll => serve_epoll(listener.as_fd(), options.answer, &flag),
                    }
                })
            })
            .collect();
        Server { handles, stop }
    }

    /// Stops the threads, which normally ended at POLLHUP already (otherwise a signal interrupts a blocking RECV or
    /// epoll_wait with EINTR); returns their count.
    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.handles
            .into_iter()
            .map(|handle| {
                let thread = handle.as_pthread_t();
                while !handle.is_finished() {
                    // SAFETY: pthread_kill(3) on a thread that has not been joined yet (we hold its JoinHandle),
                    // with a signal whose handler is installed and does nothing.
                    unsafe { libc::pthread_kill(thread, libc::SIGUSR1) };
                    std::thread::sleep(Duration::from_millis(1));
                }
                handle.join().unwrap_or(0)
            })
            .sum()
    }
}

/// SIGUSR1 with a handler that does nothing and without `SA_RESTART`: it only makes a blocked RECV or epoll_wait
/// return EINTR.
fn install_wakeup_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    extern "C" fn nothing(_: libc::c_int) {}
    ONCE.call_once(|| {
        // SAFETY: sigaction(2) with a zeroed (then filled) struct sigaction whose handler is async-signal-safe (it
        // does nothing).
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = nothing as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGUSR1, &action, std::ptr::null_mut());
        }
    });
}

fn last_errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// One RECV; `Err(errno)` on failure.
fn recv(fd: BorrowedFd<'_>) -> Result<SeccompNotif, i32> {
    abi::notif_recv(fd).map_err(|e| e.raw_os_error().unwrap_or(0))
}

/// Answers one notification; ENOENT from SEND (the target died or was interrupted) is ignored, as in supervise.
fn answer(fd: BorrowedFd<'_>, n: &SeccompNotif, answer: Answer) {
    let resp = match answer {
        Answer::Continue => Reply::Continue,
        Answer::Errno(errno) => Reply::Error(errno),
        Answer::ReadValue(value) => {
            let mut buf = [0u8; 16];
            match read_target(n.pid, n.data.instruction_pointer, &mut buf) {
                Some(_) if abi::notif_id_valid(fd, n.id) => Reply::Value(value),
                Some(_) => return,
                None => Reply::Error(libc::EFAULT),
            }
        }
        Answer::OpenAddfd { atomic } => match open_for(fd, n, atomic) {
            Some(reply) => reply,
            None => return,
        },
    };
    let resp = match resp {
        Reply::Continue => abi::resp_continue(n.id),
        Reply::Error(errno) => abi::resp_error(n.id, errno),
        Reply::Value(val) => abi::resp_value(n.id, val),
    };
    let _ = abi::notif_send(fd, resp);
}

enum Reply {
    Continue,
    Error(i32),
    Value(i64),
}

/// process_vm_readv(2) of up to `buf.len()` bytes; the count read, `None` if nothing could be read.
fn read_target(pid: u32, addr: u64, buf: &mut [u8]) -> Option<usize> {
    let local = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    let remote = libc::iovec { iov_base: addr as *mut libc::c_void, iov_len: buf.len() };
    // SAFETY: process_vm_readv(2) writes at most `buf.len()` bytes into `buf` (the local iovec); the remote iovec
    // is only read by the kernel, in the target's address space.
    let n = unsafe { libc::process_vm_readv(pid as libc::pid_t, &local, 1, &remote, 1, 0) };
    (n > 0).then_some(n as usize)
}

/// The minimal emulated `openat`: `None` when the reply was sent with the fd (or the target is gone).
fn open_for(fd: BorrowedFd<'_>, n: &SeccompNotif, atomic: bool) -> Option<Reply> {
    let mut buf = [0u8; 512];
    let Some(len) = read_target(n.pid, n.data.args[1], &mut buf) else { return Some(Reply::Error(libc::EFAULT)) };
    let Some(end) = buf[..len].iter().position(|&b| b == 0) else { return Some(Reply::Continue) };
    if !abi::notif_id_valid(fd, n.id) {
        return None;
    }
    if n.data.args[0] as i32 != libc::AT_FDCWD && buf[0] != b'/' {
        // Relative to a dirfd of the target: not worth emulating in the floor.
        return Some(Reply::Continue);
    }
    let flags = n.data.args[2] as libc::c_int;
    // SAFETY: openat(2) of an absolute path or one relative to our cwd (which the floor's target shares), NUL-
    // terminated in `buf`, which lives for the call.
    let file = unsafe {
        libc::openat(
            libc::AT_FDCWD,
            buf[..=end].as_ptr().cast(),
            flags | libc::O_CLOEXEC,
            n.data.args[3] as libc::c_uint,
        )
    };
    if file < 0 {
        return Some(Reply::Error(last_errno()));
    }
    let addfd = SeccompNotifAddfd {
        id: n.id,
        flags: if atomic { SECCOMP_ADDFD_FLAG_SEND } else { 0 },
        srcfd: file as u32,
        newfd: 0,
        newfd_flags: (flags & libc::O_CLOEXEC) as u32,
    };
    // With SECCOMP_ADDFD_FLAG_SEND, ADDFD also answers the notification.
    let added = abi::notif_addfd(fd, &addfd);
    // SAFETY: close(2) of our copy of the fd, which nothing else owns.
    unsafe { libc::close(file) };
    match (atomic, added) {
        (true, _) => None,
        (false, Ok(added)) => Some(Reply::Value(i64::from(added))),
        (false, Err(e)) => Some(Reply::Error(e.raw_os_error().unwrap_or(0))),
    }
}

/// A thread blocked in RECV. When the last target exits, a blocked RECV returns ENOENT (measured on 6.18) and the
/// listener reports POLLHUP: that ends the loop without any signal.
fn serve_blocking(fd: BorrowedFd<'_>, reply: Answer, stop: &AtomicBool) -> u64 {
    let mut served = 0;
    loop {
        match recv(fd) {
            Ok(n) => {
                answer(fd, &n, reply);
                served += 1;
            }
            Err(libc::ENOENT) if hung_up(fd) => return served,
            Err(libc::EINTR | libc::ENOENT) if !stop.load(Ordering::SeqCst) => {}
            Err(_) => return served,
        }
    }
}

/// True if the listener reports POLLHUP: every filtered task is gone.
fn hung_up(fd: BorrowedFd<'_>) -> bool {
    let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: poll(2) on one pollfd that lives for the call, zero timeout.
    unsafe { libc::poll(&mut pfd, 1, 0) >= 0 && pfd.revents & libc::POLLHUP != 0 }
}

fn serve_epoll(fd: BorrowedFd<'_>, reply: Answer, stop: &AtomicBool) -> u64 {
    // SAFETY: epoll_create1(2) returns a new fd that we own from here on.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        return 0;
    }
    // SAFETY: `ep` was just returned by epoll_create1 and nothing else owns it.
    let ep = unsafe { OwnedFd::from_raw_fd(ep) };
    // What mio asks for a readable AsyncFd.
    let mut event = libc::epoll_event { events: (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLET) as u32, u64: 0 };
    // SAFETY: epoll_ctl(2) reads one epoll_event, which lives for the call; both fds are open.
    if unsafe { libc::epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_ADD, fd.as_raw_fd(), &mut event) } < 0 {
        return 0;
    }
    let mut served = 0;
    loop {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 4];
        // SAFETY: epoll_wait(2) writes at most 4 events into `events`, which lives for the call.
        let n = unsafe { libc::epoll_wait(ep.as_raw_fd(), events.as_mut_ptr(), 4, -1) };
        if n < 0 {
            if last_errno() == libc::EINTR && !stop.load(Ordering::SeqCst) {
                continue;
            }
            return served;
        }
        loop {
            let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            // SAFETY: poll(2) on one pollfd that lives for the call, zero timeout.
            let ready = unsafe { libc::poll(&mut pfd, 1, 0) };
            if ready < 0 {
                if stop.load(Ordering::SeqCst) {
                    return served;
                }
                break;
            }
            if pfd.revents & libc::POLLIN != 0 {
                match recv(fd) {
                    Ok(n) => {
                        answer(fd, &n, reply);
                        served += 1;
                    }
                    Err(libc::EINTR | libc::ENOENT) => {}
                    Err(_) => return served,
                }
            } else if pfd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
                return served;
            } else {
                break;
            }
        }
    }
}
