//! The launcher: fork, lower capabilities and set `NO_NEW_PRIVS` as planned ([`crate::caps`]), load the ready BPF
//! with `NEW_LISTENER`, hand the listener fd to the supervisor over a unix socket (`SCM_RIGHTS`), execve.
//!
//! After `seccomp()` loads the filter, every syscall the launcher makes goes through it. If the policy notifies
//! `sendmsg`, `close` or `write`, the launcher would wait for a supervisor that has not yet received the fd
//! (KERNEL-NOTES pitfall 1). So, as crun does, the launcher first creates a **helper** that shares its fd table
//! (`CLONE_FILES`) and is not filtered. Between the load and `execve` the launcher makes no syscall at all: it
//! publishes the listener fd number in a shared page and execs. `execve` gives it a private copy of the fd table
//! (where the close-on-exec listener is closed), while the helper keeps the shared table, listener included, and
//! sends it. Until the supervisor has it, the program's notified syscalls wait in the kernel.
//!
//! ```text
//! supervise (parent)          launcher (child)                 helper (CLONE_FILES | CLONE_PARENT)
//!   fork (signals blocked) ─▶ signal handlers back to default, capabilities, NO_NEW_PRIVS, not dumpable
//!                             clone ─────────────────────────▶ yield until the page says LOADED/FAILED
//!                             unblock signals
//!                             seccomp(NEW_LISTENER) → fd
//!                             page = LOADED(fd)                sendmsg(Hello, SCM_RIGHTS fd); close(fd)
//!                             execve (private fd table)        _exit
//!   recvmsg ◀──────────────────────────────────────────────── (the Hello and the fd)
//!                             on failure: page = errno; ud2 (no syscall needed to die)
//! ```
//!
//! Everything the child needs (paths, argv, envp, the BPF) is built before `fork`.
//!
//! **Async-signal-safety.** The caller may have other threads (supervise's log writer, a test harness), and after
//! `fork` only the forking thread exists in the child: a lock another thread held (malloc's, stdio's, std's) stays
//! locked forever there. So from `fork` to `execve` or `_exit`, the launcher and the helper follow fork(2) and
//! signal-safety(7): they only make raw system calls and async-signal-safe libc calls, store to the shared page's
//! atomics and read memory prepared before the fork. No allocation (no `Vec`, `String`, `format!`, `CString`), no
//! locks, no stdio, and no path that can panic. The hand-off message is sent with a raw `sendmsg` from stack buffers.
//!
//! **Signals.** The caller may have signal handlers (supervise forwards signals to the program). The fork happens
//! with every signal blocked, so none of them runs in the child; the launcher puts every handled signal back to
//! its default action (ignored ones stay ignored, as `execve` would keep them) before it unblocks signals, and the
//! helper is cloned while they are still blocked.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

use nix::errno::Errno as NixErrno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::mman::{mmap_anonymous, munmap, MapFlags, ProtFlags};
use nix::sys::signal::{kill, Signal};
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};
use proto::wire::{Hello, HELLO_LEN};
use thiserror::Error;

use crate::caps::{self, Privileges, Step};
use crate::filter::Bpf;

/// `seccomp(2)` filter flags a policy may ask for (OCI `flags`).
pub use crate::seccomp_abi::{SECCOMP_FILTER_FLAG_LOG, SECCOMP_FILTER_FLAG_SPEC_ALLOW};
use crate::seccomp_abi::{
    SECCOMP_FILTER_FLAG_NEW_LISTENER, SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, SECCOMP_SET_MODE_FILTER,
};

/// States of the shared page, written by the launcher and read by the helper and the parent.
const STATE_STARTING: u32 = 0;
const STATE_LOADED: u32 = 1;
const STATE_LOAD_FAILED: u32 = 2;
const STATE_SETUP_FAILED: u32 = 3;

/// The page shared (`MAP_SHARED`) by the parent, the launcher and the helper. Only atomics, so a write is a
/// plain store and needs no syscall.
#[repr(C)]
struct Shared {
    state: AtomicU32,
    listener_fd: AtomicI32,
    launcher_pid: AtomicI32,
    helper_pid: AtomicI32,
    load_errno: AtomicI32,
    exec_errno: AtomicI32,
    /// With `STATE_SETUP_FAILED`: the [`Step`] that failed (its code); its errno is in `load_errno`.
    setup_step: AtomicU32,
}

/// The program to run: resolved before fork, as `env` does.
#[derive(Debug, Clone)]
pub struct Program {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    display: String,
}

/// Why the program cannot be run; maps to the exit statuses 127 and 126.
#[derive(Debug, Error)]
pub enum ProgramError {
    #[error("{0}: command not found")]
    NotFound(String),
    #[error("{name}: {source}")]
    NotExecutable {
        name: String,
        #[source]
        source: io::Error,
    },
    #[error("{0}: argument contains a NUL byte")]
    Nul(String),
}

impl Program {
    /// Resolves `name` against `PATH` (when it has no `/`) and checks that it is an executable file.
    ///
    /// # Errors
    /// [`ProgramError::NotFound`] if no such file exists; [`ProgramError::NotExecutable`] if it exists but cannot be
    /// executed (a directory, or no execute permission).
    pub fn resolve(name: &OsStr, args: &[OsString]) -> Result<Program, ProgramError> {
        let display = name.to_string_lossy().into_owned();
        let path = find_executable(name).ok_or_else(|| ProgramError::NotFound(display.clone()))?;
        check_executable(&path).map_err(|source| ProgramError::NotExecutable { name: display.clone(), source })?;
        let cstr = |s: &OsStr| CString::new(s.as_bytes()).map_err(|_| ProgramError::Nul(display.clone()));
        let argv =
            std::iter::once(name).chain(args.iter().map(OsString::as_os_str)).map(cstr).collect::<Result<_, _>>()?;
        let envp = std::env::vars_os()
            .map(|(k, v)| {
                let mut kv = k.into_vec();
                kv.push(b'=');
                kv.extend(v.into_vec());
                CString::new(kv).map_err(|_| ProgramError::Nul(display.clone()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Program { path: cstr(path.as_os_str())?, argv, envp, display })
    }

    /// The name as the user gave it, for messages.
    pub fn display(&self) -> &str {
        &self.display
    }
}

fn find_executable(name: &OsStr) -> Option<PathBuf> {
    if name.as_bytes().contains(&b'/') {
        let path = PathBuf::from(name);
        return path.exists().then_some(path);
    }
    if name.is_empty() {
        return None;
    }
    let search = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let candidates: Vec<PathBuf> = std::env::split_paths(&search).map(|dir| dir.join(name)).collect();
    // Prefer an executable file, as execvp does; fall back to any existing file so the error says why.
    candidates.iter().find(|p| check_executable(p).is_ok()).or_else(|| candidates.iter().find(|p| p.is_file())).cloned()
}

fn check_executable(path: &Path) -> io::Result<()> {
    if path.is_dir() {
        return Err(io::Error::from_raw_os_error(libc::EISDIR));
    }
    nix::unistd::access(path, nix::unistd::AccessFlags::X_OK).map_err(io::Error::from)
}

/// Options for [`spawn`].
#[derive(Debug, Clone, Copy, Default)]
pub struct LaunchOptions {
    /// Ask the kernel for a listener fd (`SECCOMP_FILTER_FLAG_NEW_LISTENER`).
    pub listener: bool,
    /// Extra `seccomp(2)` flags from the policy (`SECCOMP_FILTER_FLAG_LOG`, `SPEC_ALLOW`).
    pub extra_flags: u32,
    /// Run the program as a job of its own on the controlling terminal, as a shell does: its own process group,
    /// made the terminal's foreground group before `execve`, with SIGTSTP, SIGTTIN and SIGTTOU at their default
    /// actions (see [`own_foreground`]). supervise's prompts take the terminal back while they ask.
    pub foreground: bool,
    /// What happens to the program if the process that called [`spawn`] dies.
    pub on_supervisor_exit: OnSupervisorExit,
    /// Capabilities to lower and whether to set `NO_NEW_PRIVS` (default: `NO_NEW_PRIVS` only), from
    /// [`caps::plan`].
    pub privileges: Privileges,
    /// Signals the caller handles that the program must start with ignored (bit N-1 for signal N): those that were
    /// ignored when the caller started (`nohup`, a shell's background job). Every other handled signal starts with
    /// its default action.
    pub ignored_signals: u64,
}

/// What happens to the program when the supervisor dies (`--on-supervisor-exit`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnSupervisorExit {
    /// The kernel's fail-closed behaviour: the listener closes, so every pending and later notified syscall fails
    /// with ENOSYS; the program keeps running.
    #[default]
    Enosys,
    /// The program is killed with SIGKILL (`PR_SET_PDEATHSIG`, set in the launcher before the filter is loaded).
    /// The death signal belongs to the program's own process: processes it forks later are not killed, and their
    /// notified syscalls fail with ENOSYS.
    Kill,
}

/// Why the launch failed before the program started.
#[derive(Debug, Error)]
pub enum LaunchError {
    #[error("cannot create the hand-off socket")]
    Socket(#[source] io::Error),
    #[error("cannot map the shared page")]
    Shared(#[source] io::Error),
    #[error("cannot fork")]
    Fork(#[source] io::Error),
    /// `seccomp()` failed in the launcher; EBUSY means a listener already exists on this filter chain.
    #[error("{}", load_message(*.0))]
    Load(NixErrno),
    /// Lowering capabilities or setting `NO_NEW_PRIVS` failed in the launcher.
    #[error("{}: {}", .0.describe(), .1.desc())]
    Setup(Step, NixErrno),
    #[error("the launcher died before handing over the listener")]
    LauncherDied,
    #[error("bad hand-off message from the launcher")]
    Handoff(#[source] io::Error),
}

fn load_message(errno: NixErrno) -> String {
    match errno {
        NixErrno::EBUSY => "cannot install the filter: this process already runs under a seccomp listener \
             (nested supervise, syd or a container runtime's agent); the kernel allows one listener per filter \
             chain (EBUSY)"
            .into(),
        NixErrno::EINVAL => "cannot install the filter: the kernel rejected it (EINVAL)".into(),
        NixErrno::EACCES => "cannot install the filter: NO_NEW_PRIVS is not set and CAP_SYS_ADMIN is missing".into(),
        other => format!("cannot install the filter: {}", other.desc()),
    }
}

/// A launched program, between the hand-off and its exit.
#[derive(Debug)]
pub struct Launched {
    /// Pid of the program (the launcher, which execs it).
    pub pid: Pid,
    /// The seccomp listener, if the filter has one.
    pub listener: Option<OwnedFd>,
    shared: SharedPage,
}

impl Launched {
    /// The errno of a failed `execve`, once the launcher has died. `None` if exec was not reached or succeeded.
    pub fn exec_error(&self) -> Option<io::Error> {
        match self.shared.get().exec_errno.load(Ordering::Acquire) {
            0 => None,
            errno => Some(io::Error::from_raw_os_error(errno)),
        }
    }
}

/// An anonymous `MAP_SHARED` page holding a [`Shared`], unmapped on drop (in the parent).
#[derive(Debug)]
struct SharedPage(NonNull<Shared>);

impl SharedPage {
    fn new() -> io::Result<SharedPage> {
        let len = std::num::NonZeroUsize::new(4096).expect("non-zero");
        // SAFETY: mmap(2) of a fresh anonymous region; no existing memory is affected.
        let ptr =
            unsafe { mmap_anonymous(None, len, ProtFlags::PROT_READ | ProtFlags::PROT_WRITE, MapFlags::MAP_SHARED) }
                .map_err(io::Error::from)?;
        // A fresh anonymous mapping is zero-filled, and all-zero is a valid `Shared` (atomics at 0).
        Ok(SharedPage(ptr.cast()))
    }

    fn get(&self) -> &Shared {
        // SAFETY: the pointer is a live, page-aligned mapping of at least size_of::<Shared>() bytes until drop, and
        // `Shared` only holds atomics, so shared access across processes is sound.
        unsafe { self.0.as_ref() }
    }
}

impl Drop for SharedPage {
    fn drop(&mut self) {
        // SAFETY: unmaps the region mapped in `new`; no reference from `get` outlives `self`.
        let _ = unsafe { munmap(self.0.cast(), 4096) };
    }
}

/// Forks the launcher, which loads `bpf` and execs `program`; returns once the listener fd (if any) has arrived.
///
/// # Errors
/// [`LaunchError::Load`] if the kernel refuses the filter (EBUSY: nested listener), other variants for failures of
/// the hand-off itself. A failed `execve` is not an error here: see [`Launched::exec_error`].
pub fn spawn(program: &Program, bpf: &Bpf, options: LaunchOptions) -> Result<Launched, LaunchError> {
    let (parent_sock, child_sock) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
        .map_err(|e| LaunchError::Socket(e.into()))?;
    let shared = SharedPage::new().map_err(LaunchError::Shared)?;
    let prog =
        libc::sock_fprog { len: u16::try_from(bpf.len()).unwrap_or(u16::MAX), filter: bpf.insns().as_ptr().cast_mut() };
    let mut flags = options.extra_flags & (SECCOMP_FILTER_FLAG_LOG | SECCOMP_FILTER_FLAG_SPEC_ALLOW);
    if options.listener {
        flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
    }
    let argv: Vec<*const libc::c_char> =
        program.argv.iter().map(|a| a.as_ptr()).chain(std::iter::once(std::ptr::null())).collect();
    let envp: Vec<*const libc::c_char> =
        program.envp.iter().map(|a| a.as_ptr()).chain(std::iter::once(std::ptr::null())).collect();
    // The death signal is tied to the thread that forks (this one), and checked against this pid after it is set.
    let death_signal = match options.on_supervisor_exit {
        OnSupervisorExit::Enosys => None,
        OnSupervisorExit::Kill => Some(nix::unistd::getpid()),
    };

    let setup = Setup { death_signal, privileges: options.privileges, ignored_signals: options.ignored_signals };

    // Every signal blocked across the fork: a handler of the caller must never run in the child (see the module
    // header). The parent's mask comes back right after.
    let blocked = SigMask::block_all();
    // SAFETY: fork(2). The caller may have other threads, so the child keeps to the async-signal-safety contract of
    // fork(2) and signal-safety(7) (see the module header): `launcher` and `helper_main` only make raw system calls
    // and async-signal-safe libc calls on memory prepared above, never allocate, lock or panic, and end in `execve`,
    // `_exit` or a fault.
    let forked = unsafe { fork() };
    match forked {
        Ok(ForkResult::Child) => {
            drop(parent_sock);
            if options.foreground {
                own_foreground();
            }
            let code = launcher(&shared, child_sock.as_raw_fd(), &prog, flags, &setup, &program.path, &argv, &envp);
            // SAFETY: _exit(2) is always safe; reached only when the filter was not loaded.
            unsafe { libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => {
            drop(blocked);
            drop(child_sock);
            receive(child, parent_sock, shared)
        }
        Err(e) => Err(LaunchError::Fork(e.into())),
    }
}

/// What the launcher sets up before it loads the filter.
struct Setup {
    /// The supervisor's pid when the program must die with it (`PR_SET_PDEATHSIG`).
    death_signal: Option<Pid>,
    privileges: Privileges,
    ignored_signals: u64,
}

/// The calling thread's signal mask with every signal blocked; the previous mask comes back on drop.
struct SigMask(libc::sigset_t);

impl SigMask {
    fn block_all() -> SigMask {
        // SAFETY: sigset_t is plain data, filled by sigfillset/pthread_sigmask before it is read.
        let (mut all, mut old): (libc::sigset_t, libc::sigset_t) = unsafe { (std::mem::zeroed(), std::mem::zeroed()) };
        // SAFETY: sigfillset(3) and pthread_sigmask(3) on valid, exclusive sigset_t values of this frame.
        unsafe {
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        }
        SigMask(old)
    }
}

impl Drop for SigMask {
    fn drop(&mut self) {
        // SAFETY: pthread_sigmask(3) restores the mask saved in `block_all`, a valid sigset_t.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, std::ptr::null_mut()) };
    }
}

/// The parent's side of the hand-off: wait for the helper's message, or notice that the launcher died.
fn receive(child: Pid, sock: OwnedFd, shared: SharedPage) -> Result<Launched, LaunchError> {
    let result = receive_hello(child, UnixStream::from(sock), &shared);
    let page = shared.get();
    let helper = Pid::from_raw(page.helper_pid.load(Ordering::Acquire));
    if result.is_err() {
        kill_launched(child);
        let _ = waitpid(child, None);
        if helper.as_raw() > 0 {
            kill_launched(helper);
        }
    }
    if helper.as_raw() > 0 {
        // The helper exits right after the hand-off; it is our child (CLONE_PARENT), so reap it here.
        let _ = waitpid(helper, None);
    }
    let listener = result?;
    Ok(Launched { pid: child, listener, shared })
}

fn receive_hello(child: Pid, sock: UnixStream, shared: &SharedPage) -> Result<Option<OwnedFd>, LaunchError> {
    loop {
        let mut fds = [PollFd::new(std::os::fd::AsFd::as_fd(&sock), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(100u8)) {
            Ok(0) => match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => continue,
                _ => return Err(launch_failure(shared)),
            },
            Ok(_) => break,
            Err(NixErrno::EINTR) => continue,
            Err(e) => return Err(LaunchError::Handoff(e.into())),
        }
    }
    let mut buf = [0u8; HELLO_LEN + 1];
    let (len, listener) = recv_hello(&sock, &mut buf)?;
    if len == 0 {
        // EOF without a message: the launcher and the helper are gone (or going) without a hand-off.
        let _ = waitpid(child, None);
        return Err(launch_failure(shared));
    }
    let hello = Hello::decode(&buf[..len]).map_err(|e| LaunchError::Handoff(io::Error::other(e)))?;
    if hello.has_listener != listener.is_some() {
        return Err(LaunchError::Handoff(io::Error::other("listener fd missing from the hand-off")));
    }
    Ok(listener)
}

/// Receives the hello and the listener fd (recvmsg(2) through `sendfd`). `sendfd` does not ask for
/// `MSG_CMSG_CLOEXEC`, so the fd is made close-on-exec at once: supervise starts no program between the two (the
/// launcher is already forked, and no other thread of supervise forks).
fn recv_hello(sock: &UnixStream, buf: &mut [u8]) -> Result<(usize, Option<OwnedFd>), LaunchError> {
    use sendfd::RecvWithFd;
    let mut fds: [RawFd; 1] = [-1];
    let (len, count) = sock.recv_with_fd(buf, &mut fds).map_err(LaunchError::Handoff)?;
    // SAFETY: SCM_RIGHTS installed this fd in our table (sendfd sized the control buffer for exactly one, so none
    // can be left unowned); we are its only owner.
    let listener = (count == 1).then(|| unsafe { OwnedFd::from_raw_fd(fds[0]) });
    if let Some(fd) = &listener {
        nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC))
            .map_err(|e| LaunchError::Handoff(e.into()))?;
    }
    Ok((len, listener))
}

/// Why the launcher ended before the hand-off, from the shared page.
fn launch_failure(shared: &SharedPage) -> LaunchError {
    let page = shared.get();
    let errno = || NixErrno::from_raw(page.load_errno.load(Ordering::Acquire));
    match page.state.load(Ordering::Acquire) {
        STATE_LOAD_FAILED => return LaunchError::Load(errno()),
        STATE_SETUP_FAILED => {
            if let Some(step) = Step::from_code(page.setup_step.load(Ordering::Acquire)) {
                return LaunchError::Setup(step, errno());
            }
        }
        _ => {}
    }
    LaunchError::LauncherDied
}

/// The launcher, in the forked child. Returns an exit code only if the filter could not be loaded.
#[allow(clippy::too_many_arguments)]
fn launcher(
    shared: &SharedPage,
    sock: RawFd,
    prog: &libc::sock_fprog,
    flags: u32,
    setup: &Setup,
    path: &CString,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
) -> i32 {
    let page = shared.get();
    // SAFETY: getpid(2) cannot fail.
    page.launcher_pid.store(unsafe { libc::getpid() }, Ordering::Release);
    default_signal_actions(setup.ignored_signals);
    if let Err((step, errno)) = caps::apply(&setup.privileges) {
        page.load_errno.store(errno as i32, Ordering::Release);
        page.setup_step.store(step.code(), Ordering::Release);
        page.state.store(STATE_SETUP_FAILED, Ordering::Release);
        return 125;
    }
    if let Err(code) = prepare(setup.death_signal) {
        return code;
    }
    // The helper: same fd table, no filter, and a child of supervise (CLONE_PARENT), which reaps it. It starts with
    // every signal still blocked, so that a signal to the process group cannot end it before the hand-off.
    // SAFETY: clone(2) without CLONE_VM and with a null stack behaves like fork: the child runs on a copy of this
    // process's memory (the launcher has a single thread), and keeps to the same async-signal-safe rules.
    let helper =
        unsafe { libc::syscall(libc::SYS_clone, libc::CLONE_FILES | libc::CLONE_PARENT | libc::SIGCHLD, 0, 0, 0, 0) };
    if helper == 0 {
        helper_main(page, sock);
    }
    if helper < 0 {
        return 125;
    }
    page.helper_pid.store(helper as i32, Ordering::Release);
    // The program starts with an empty signal mask, as before.
    // SAFETY: sigemptyset(3) and sigprocmask(2) on a stack sigset_t; this process has a single thread.
    unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    }

    let mut flags = flags;
    // SAFETY: seccomp(2) with a valid sock_fprog whose filter outlives the call; the kernel copies the program.
    let mut fd = unsafe { libc::syscall(libc::SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, prog as *const _) };
    if fd < 0 && NixErrno::last() == NixErrno::EINVAL && flags & SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV != 0 {
        // Kernels before 5.19 do not know WAIT_KILLABLE_RECV; nothing was loaded, so try again without it.
        flags &= !SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
        // SAFETY: as above.
        fd = unsafe { libc::syscall(libc::SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, prog as *const _) };
    }
    if fd < 0 {
        page.load_errno.store(NixErrno::last_raw(), Ordering::Release);
        page.state.store(STATE_LOAD_FAILED, Ordering::Release);
        return 125;
    }

    // From here on, no syscall but execve: the filter may notify or deny any of them. There is no need to wait for
    // the helper: execve gives this process a private copy of the fd table (without the close-on-exec listener),
    // while the helper keeps the shared one, listener included, until it has sent it. The program's notified
    // syscalls simply wait in the kernel until the supervisor has the fd.
    let listener = if flags & SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 { fd as i32 } else { -1 };
    page.listener_fd.store(listener, Ordering::Release);
    page.state.store(STATE_LOADED, Ordering::Release);
    // SAFETY: execve(2) with NUL-terminated strings and NULL-terminated arrays built before fork.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    page.exec_errno.store(NixErrno::last_raw(), Ordering::Release);
    die_without_syscall()
}

/// Every signal the caller handles goes back to its default action, or to ignored when it is in `ignored` (bit N-1
/// for signal N); ignored ones stay ignored (`execve` keeps them so, as it would for the caller's own program),
/// except SIGPIPE: std ignores it in Rust programs, and the program must start with the default, as with `Command`.
/// Signals are still blocked here (see `spawn`).
fn default_signal_actions(ignored: u64) {
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: sigaction(2) reads the current action into a zeroed stack struct (all-zero is a valid
        // `sigaction`), then sets SIG_DFL; both are async-signal-safe. Numbers the C library reserves fail with
        // EINVAL and are left alone.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) != 0 {
                continue;
            }
            let handled = old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN;
            if handled || sig == libc::SIGPIPE {
                let mut action: libc::sigaction = std::mem::zeroed();
                let ignore = handled && ignored & (1 << (sig - 1)) != 0;
                action.sa_sigaction = if ignore { libc::SIG_IGN } else { libc::SIG_DFL };
                libc::sigaction(sig, &action, std::ptr::null_mut());
            }
        }
    }
}

/// Process attributes, set before the filter exists. With `death_signal` (the supervisor's pid), the launcher, and
/// so the program, gets SIGKILL when the supervisor dies (`--on-supervisor-exit kill`).
fn prepare(death_signal: Option<Pid>) -> Result<(), i32> {
    // SAFETY: plain prctl(2)/getppid(2) calls on this process with valid arguments.
    unsafe {
        // Not dumpable until execve (which resets it), so that dying by a fault after a failed execve leaves
        // no core file behind. supervise itself is not dumpable either, and fork keeps that; this says it here too.
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
        if let Some(supervisor) = death_signal {
            // prctl(2): the signal comes when the parent thread exits; execve keeps it, unless it runs a
            // set-user-ID or file-capability program that changes the credentials (possible only without
            // NO_NEW_PRIVS). If the supervisor died before this call, we were already reparented and no signal
            // will come: stop here.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0
                || libc::getppid() != supervisor.as_raw()
            {
                return Err(125);
            }
        }
    }
    Ok(())
}

/// The helper: waits for the launcher's filter, sends the listener fd, closes it in the shared fd table.
fn helper_main(page: &Shared, sock: RawFd) -> ! {
    let state = loop {
        match page.state.load(Ordering::Acquire) {
            // Yield rather than sleep: a 20 µs nanosleep costs over a millisecond of timer slack here.
            // (sched_yield(2), a plain system call.)
            STATE_STARTING => std::thread::yield_now(),
            state => break state,
        }
    };
    if state == STATE_LOADED {
        let fd = page.listener_fd.load(Ordering::Acquire);
        let pid = page.launcher_pid.load(Ordering::Acquire);
        let hello = Hello { pid: u32::try_from(pid).unwrap_or(0), has_listener: fd >= 0 }.encode();
        let sent = send_hello(sock, &hello, fd);
        if fd >= 0 {
            // SAFETY: close(2) of the listener in the shared table: the launcher must not keep it across execve.
            unsafe { libc::close(fd) };
        }
        if !sent {
            // The parent sees EOF without a Hello and stops the launch.
            // SAFETY: _exit(2) is always safe.
            unsafe { libc::_exit(1) }
        }
    }
    // SAFETY: _exit(2) is always safe.
    unsafe { libc::_exit(0) }
}

/// Room for one `SCM_RIGHTS` control message carrying one fd.
// SAFETY: CMSG_SPACE (cmsg(3)) only computes a length.
const ONE_FD_SPACE: usize = unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as libc::c_uint) } as usize;

/// A control buffer on the stack, aligned for `cmsghdr`.
#[repr(C, align(8))]
struct OneFdControl([u8; ONE_FD_SPACE]);

/// Sends the Hello, with `listener` attached as `SCM_RIGHTS` when it is an fd, in one sendmsg(2) from stack
/// buffers: nothing here allocates (this runs in the forked helper). True if the whole message was sent.
fn send_hello(sock: RawFd, hello: &[u8; HELLO_LEN], listener: RawFd) -> bool {
    let mut control = OneFdControl([0; ONE_FD_SPACE]);
    let mut iov = libc::iovec { iov_base: hello.as_ptr().cast_mut().cast(), iov_len: HELLO_LEN };
    // SAFETY: an all-zero msghdr is valid (no name, no iovecs, no control); the pointers are set below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if listener >= 0 {
        msg.msg_control = control.0.as_mut_ptr().cast();
        msg.msg_controllen = ONE_FD_SPACE as _;
        // SAFETY: cmsg(3): msg_control points to ONE_FD_SPACE zeroed, aligned bytes, room for one header and one
        // int, so CMSG_FIRSTHDR returns a pointer to the start of `control` and CMSG_DATA one inside it.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as libc::c_uint) as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>(), listener);
        }
    }
    loop {
        // SAFETY: sendmsg(2) reads the iovec and control buffers set up above, which live until it returns.
        let sent = unsafe { libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) };
        if sent < 0 && NixErrno::last() == NixErrno::EINTR {
            continue;
        }
        return sent == HELLO_LEN as isize;
    }
}

/// In the forked launcher, with `LaunchOptions::foreground`: a process group of its own (`setpgid(0, 0)`), made
/// the foreground group of the controlling terminal (`tcsetpgrp` on `/dev/tty`, with SIGTTOU blocked, since the
/// new group is in the background until then), and SIGTSTP, SIGTTIN, SIGTTOU back to their default actions (a
/// shell resets them for its jobs; supervise may have inherited them ignored). If the terminal cannot be given to
/// the new group, the launcher goes back to supervise's group, as without the option. Only async-signal-safe calls
/// on memory prepared before the fork (a static path).
fn own_foreground() {
    // SAFETY: getpgrp(2), setpgid(2), open(2) of a static NUL-terminated path, tcsetpgrp(3) (TIOCSPGRP), close(2),
    // sigprocmask(2) and sigaction(2) on stack values: all async-signal-safe, on this single-threaded child.
    unsafe {
        let group = libc::getpgrp();
        if libc::setpgid(0, 0) != 0 {
            return;
        }
        let mut ttou: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut ttou);
        libc::sigaddset(&mut ttou, libc::SIGTTOU);
        libc::sigprocmask(libc::SIG_BLOCK, &ttou, &mut old);
        let tty = libc::open(c"/dev/tty".as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        if tty < 0 || libc::tcsetpgrp(tty, libc::getpid()) != 0 {
            libc::setpgid(0, group);
        } else {
            for sig in [libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU] {
                let default: libc::sigaction = std::mem::zeroed();
                libc::sigaction(sig, &default, std::ptr::null_mut());
            }
        }
        if tty >= 0 {
            libc::close(tty);
        }
        libc::sigprocmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
}

/// Ends the launcher without a syscall (the filter may deny `exit_group`): an illegal instruction is a fault, and
/// the kernel kills the process with SIGILL. The parent reads the reason from the shared page.
fn die_without_syscall() -> ! {
    loop {
        #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
        // SAFETY: ud2 raises #UD, which the kernel turns into a fatal SIGILL; no memory is touched.
        unsafe {
            std::arch::asm!("ud2", options(nomem, nostack))
        };
        #[cfg(target_arch = "aarch64")]
        // SAFETY: udf raises an undefined-instruction exception, fatal SIGILL; no memory is touched.
        unsafe {
            std::arch::asm!("udf #0", options(nomem, nostack))
        };
        std::hint::spin_loop();
    }
}

/// Sends SIGKILL to the launcher, for example when the supervisor cannot continue.
pub fn kill_launched(pid: Pid) {
    let _ = kill(pid, Signal::SIGKILL);
}
