//! Signals sent to supervise go to the program, as `docker kill -s`, tini and dumb-init pass them on: every signal
//! a process can catch, except SIGCHLD (supervise's own, for reaping).
//!
//! [`install`] sets one handler (`SA_SIGINFO`) for each of them before the launch. The handler only writes the
//! signal number, `si_code` and `si_pid` to a non-blocking pipe (write(2) is async-signal-safe); the supervised
//! run reads the pipe ([`Incoming`]) and [`decide`]s, so supervise itself never dies of a signal it could pass
//! on. Signals that were ignored when supervise started (`nohup`, a shell's background job) are handled and passed
//! on too, and the program starts with them ignored ([`ignored_at_start`]), as it would run plainly: then its own
//! disposition decides, as for a signal sent to it directly.
//!
//! What is not passed on, and why ([`decide`]):
//! - a signal the terminal already sent to the program: Ctrl-C, Ctrl-\, Ctrl-Z, a window size change, and the
//!   SIGHUP and SIGCONT of a session leader's exit come from the kernel (`si_code == SI_KERNEL`) to the whole
//!   foreground process group. While the program is in supervise's process group it got the same signal at the
//!   same moment, so passing it on would deliver it twice. If the program has a process group of its own
//!   (`setsid`, `setpgid`), it did not, and the signal is passed on. A hangup reaches only the session leader: when
//!   supervise is one, its SIGHUP and SIGCONT are passed on.
//! - a signal supervise sent itself (a SIGPIPE of its own write, `abort`).
//! - a fault of supervise itself (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS with `si_code > 0`): the handler
//!   puts the previous action back (std's stack-overflow report, or the default) and the fault happens again.
//!
//! Job control, as dumb-init does it: after passing on SIGTSTP, SIGTTIN or SIGTTOU to a program in its process group,
//! supervise stops itself with the same signal (default action), so that a shell sees the job stopped; SIGCONT
//! continues it and is passed on. A program in a group of its own is a job of its own: the signal is passed on, and
//! supervise follows the program's stops only where the prompts' job control does (`crate::core::prompt::job`).
//! SIGTTIN and SIGTTOU from the kernel mean that supervise's own process group touched the terminal from the
//! background: supervise stops without passing them on (the kernel sent them to the group), unless it is in the
//! foreground again by the time it reads them.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::OnceLock;

use tokio::io::unix::AsyncFd;

/// One signal received by supervise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    pub signal: i32,
    /// `si_code`: `SI_USER` (0) for kill(2), `SI_KERNEL` (0x80) for the terminal's signals, …
    pub code: i32,
    /// `si_pid`: the sender, for signals sent by a process.
    pub pid: i32,
}

/// Bytes of one [`Received`] in the pipe: three native-endian i32 (well below PIPE_BUF, so each write is atomic).
const RECORD: usize = 12;

/// The pipe's write end, for the handler; -1 until [`install`].
static WRITE_END: AtomicI32 = AtomicI32::new(-1);
/// The actions in place before [`install`], indexed by signal number: a fault goes back to them.
static PREVIOUS: OnceLock<Previous> = OnceLock::new();
/// The pipe's read end, kept for the supervised run.
static READ_END: OnceLock<OwnedFd> = OnceLock::new();
/// Signals ignored when supervise started (bit N-1 for signal N).
static IGNORED_AT_START: OnceLock<u64> = OnceLock::new();
/// For signals 1–31: a record is in the pipe and not read yet. A standard signal that arrives again meanwhile is
/// merged into it, as the kernel merges a pending standard signal (real-time signals queue, here too). Without
/// this, a thread that the terminal keeps sending SIGTTOU (a background write with `tostop`, restarted after each
/// handler) would fill the pipe.
static PENDING: [AtomicBool; 32] = [const { AtomicBool::new(false) }; 32];

struct Previous([libc::sigaction; 65]);

/// Signals that report a fault of the receiving thread when the kernel sends them (`si_code > 0`).
fn is_fault(signal: i32) -> bool {
    matches!(signal, libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE | libc::SIGTRAP | libc::SIGSYS)
}

/// Every signal supervise passes on: 1–31 but SIGKILL, SIGSTOP (no process can catch them) and SIGCHLD, and the
/// real-time signals the C library leaves to programs.
pub fn forwarded() -> impl Iterator<Item = i32> {
    (1..=31)
        .filter(|s| ![libc::SIGKILL, libc::SIGSTOP, libc::SIGCHLD].contains(s))
        .chain(libc::SIGRTMIN()..=libc::SIGRTMAX())
}

extern "C" fn on_signal(signal: libc::c_int, info: *mut libc::siginfo_t, _context: *mut libc::c_void) {
    // SAFETY: __errno_location(3) returns this thread's errno; saved and put back so the interrupted code sees its
    // own value.
    let errno = unsafe { *libc::__errno_location() };
    let (code, pid) = if info.is_null() {
        (0, 0)
    } else {
        // SAFETY: with SA_SIGINFO the kernel passes a valid siginfo_t (sigaction(2)); si_pid is read from the union
        // whatever the code, and only trusted by `decide` for codes that carry a sender.
        unsafe { ((*info).si_code, (*info).si_pid()) }
    };
    if is_fault(signal) && code > 0 {
        // A fault of supervise itself: not a signal to pass on. The previous action (std's stack-overflow handler,
        // or the default) takes it when the faulting instruction runs again.
        if let Some(previous) = PREVIOUS.get() {
            // SAFETY: sigaction(2) is async-signal-safe; the saved action was read from the kernel by `install`.
            unsafe { libc::sigaction(signal, &previous.0[signal as usize], std::ptr::null_mut()) };
        }
    } else {
        let pending = PENDING.get(signal as usize);
        if pending.is_some_and(|p| p.swap(true, Ordering::AcqRel)) {
            // SAFETY: as above.
            unsafe { *libc::__errno_location() = errno };
            return;
        }
        let mut record = [0u8; RECORD];
        for (i, value) in [signal, code, pid].into_iter().enumerate() {
            record[i * 4..i * 4 + 4].copy_from_slice(&value.to_ne_bytes());
        }
        // SAFETY: write(2) is async-signal-safe; the buffer is on this stack. The pipe is non-blocking: when it is
        // full, the signal is dropped rather than the thread stopped.
        let written = unsafe { libc::write(WRITE_END.load(Ordering::Relaxed), record.as_ptr().cast(), RECORD) };
        if written != RECORD as isize {
            if let Some(pending) = pending {
                pending.store(false, Ordering::Release);
            }
        }
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// Installs the handler for every [`forwarded`] signal that is not ignored now (once per process).
///
/// # Errors
/// The pipe cannot be created, or the kernel refuses an action.
pub fn install() -> io::Result<()> {
    if READ_END.get().is_some() {
        return Ok(());
    }
    let mut fds = [0; 2];
    // SAFETY: pipe2(2) writes two fds into the array; both are owned below.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 just created these fds; nothing else owns them. The write end lives as long as the process (the
    // handler may run at any time).
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    WRITE_END.store(write.as_raw_fd(), Ordering::Relaxed);
    std::mem::forget(write);
    let _ = READ_END.set(read);

    // SAFETY: all-zero is a valid sigaction (SIG_DFL, empty mask, no flags).
    let mut previous = Previous([unsafe { std::mem::zeroed() }; 65]);
    let mut ignored = 0u64;
    for signal in forwarded() {
        // SAFETY: sigaction(2) reading the current action into a valid struct.
        if unsafe { libc::sigaction(signal, std::ptr::null(), &mut previous.0[signal as usize]) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // std ignores SIGPIPE itself: whether it was ignored before cannot be told, and the program gets the default.
        if previous.0[signal as usize].sa_sigaction == libc::SIG_IGN && signal != libc::SIGPIPE {
            ignored |= 1 << (signal - 1);
        }
    }
    let _ = PREVIOUS.set(previous);
    let _ = IGNORED_AT_START.set(ignored);
    for signal in forwarded() {
        set_handler(signal)?;
    }
    Ok(())
}

/// The signals that were ignored when supervise started (bit N-1 for signal N), for the launcher: the program
/// starts with them ignored.
pub fn ignored_at_start() -> u64 {
    IGNORED_AT_START.get().copied().unwrap_or(0)
}

fn set_handler(signal: i32) -> io::Result<()> {
    // SAFETY: all-zero is a valid sigaction; the fields are set below.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = on_signal as *const () as usize;
    // SA_ONSTACK: a fault from a stack overflow is handled on std's alternate stack.
    action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART | libc::SA_ONSTACK;
    // SAFETY: sigaction(2) with a valid action whose handler only makes async-signal-safe calls.
    if unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Stops supervise with `signal`'s default action (SIGTSTP, SIGTTIN, SIGTTOU), then handles it again once
/// continued. As for any process, the kernel discards the stop in an orphaned process group.
pub fn stop_self(signal: i32) {
    // SAFETY: signal(2) to the default action, kill(2) of ourselves: the stop takes effect before kill returns
    // (the signal is delivered to this thread on the way back from the call).
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        libc::kill(libc::getpid(), signal);
    }
    if let Err(e) = set_handler(signal) {
        tracing::warn!(signal, error = %e, "cannot handle the signal again");
    }
}

/// The signals received since [`install`], read in the supervised run's runtime.
pub struct Incoming {
    fd: AsyncFd<OwnedFd>,
    pending: VecDeque<Received>,
}

impl Incoming {
    /// The reader of the pipe (needs a tokio runtime).
    ///
    /// # Errors
    /// [`install`] was not called, or the fd cannot be registered.
    pub fn new() -> io::Result<Incoming> {
        let read = READ_END.get().ok_or_else(|| io::Error::other("signal handlers not installed"))?.try_clone()?;
        // SAFETY: the OwnedFd (a duplicate of the pipe's read end) is owned by the AsyncFd until drop, so the fd
        // stays open and unchanged while registered.
        let fd =
            unsafe { AsyncFd::register_with_interest(read, tokio::io::Interest::READABLE) }.map_err(io::Error::from)?;
        Ok(Incoming { fd, pending: VecDeque::new() })
    }

    /// The next signal received.
    ///
    /// # Errors
    /// Reading the pipe failed.
    pub async fn next(&mut self) -> io::Result<Received> {
        loop {
            if let Some(received) = self.pending.pop_front() {
                return Ok(received);
            }
            let mut guard = self.fd.readable().await?;
            let mut buf = [0u8; RECORD * 64];
            let read = guard.try_io(|fd| {
                // SAFETY: read(2) into a stack buffer of exactly this length.
                let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match read {
                Ok(Ok(n)) => {
                    let word = |r: &[u8], i: usize| i32::from_ne_bytes([r[i], r[i + 1], r[i + 2], r[i + 3]]);
                    for r in buf[..n].chunks_exact(RECORD) {
                        let received = Received { signal: word(r, 0), code: word(r, 4), pid: word(r, 8) };
                        // Read: the next one of this signal makes a new record.
                        if let Some(pending) = PENDING.get(received.signal as usize) {
                            pending.store(false, Ordering::Release);
                        }
                        self.pending.push_back(received);
                    }
                }
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => {}
            }
        }
    }
}

/// What supervise knows when a signal arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    /// supervise's pid.
    pub ours: i32,
    /// The program is in supervise's process group (the terminal's signals reach both).
    pub program_in_our_group: bool,
    /// supervise leads its session (a hangup reaches only it).
    pub session_leader: bool,
    /// supervise's process group is in the background of its controlling terminal (false without one).
    pub background: bool,
}

impl Context {
    /// The context now, for the program `program`.
    pub fn now(program: i32) -> Context {
        // SAFETY: getpid(2), getpgrp(2), getpgid(2) and getsid(2) take plain integers; getpgid fails (ESRCH) only
        // for a pid that is gone, which then counts as another group.
        let (ours, group, program_group, session) =
            unsafe { (libc::getpid(), libc::getpgrp(), libc::getpgid(program), libc::getsid(0)) };
        Context {
            ours,
            program_in_our_group: program_group == group,
            session_leader: session == ours,
            background: foreground_group().is_some_and(|fg| fg != group),
        }
    }
}

/// The foreground process group of supervise's controlling terminal, if it has one.
fn foreground_group() -> Option<i32> {
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open("/dev/tty")
        .ok()?;
    // SAFETY: tcgetpgrp(3) on an fd that `tty` owns for the call.
    let group = unsafe { libc::tcgetpgrp(tty.as_raw_fd()) };
    (group > 0).then_some(group)
}

/// What to do with one received signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send it to the program.
    Forward,
    /// Send it to the program, then stop supervise with it (SIGTSTP, SIGTTIN, SIGTTOU).
    ForwardThenStop,
    /// Stop supervise with it, without sending it: the program already got it from the kernel.
    Stop,
    /// Nothing; the reason, for the debug log.
    Drop(&'static str),
}

/// Decides what to do with `received` (see the module header).
pub fn decide(received: Received, context: &Context) -> Verdict {
    let signal = received.signal;
    let stops = matches!(signal, libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU);
    if received.pid == context.ours && received.code <= 0 {
        return Verdict::Drop("sent by supervise itself");
    }
    if received.code == libc::SI_KERNEL {
        if matches!(signal, libc::SIGTTIN | libc::SIGTTOU) {
            // Sent because supervise's group touched the terminal from the background; once in the foreground
            // again (`fg`), a late copy is stale.
            return if context.background {
                Verdict::Stop
            } else {
                Verdict::Drop("supervise is in the foreground now")
            };
        }
        let hangup = context.session_leader && matches!(signal, libc::SIGHUP | libc::SIGCONT);
        if context.program_in_our_group && !hangup {
            return if stops {
                Verdict::Stop
            } else {
                Verdict::Drop("the terminal sent it to the program's process group too")
            };
        }
    }
    // A program in a group of its own is a job of its own (see prompt::job, which follows its stops).
    if stops && context.program_in_our_group {
        Verdict::ForwardThenStop
    } else {
        Verdict::Forward
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHARED: Context = Context { ours: 100, program_in_our_group: true, session_leader: false, background: true };
    const APART: Context = Context { ours: 100, program_in_our_group: false, session_leader: false, background: true };

    fn from_kill(signal: i32) -> Received {
        Received { signal, code: libc::SI_USER, pid: 42 }
    }

    fn from_terminal(signal: i32) -> Received {
        Received { signal, code: libc::SI_KERNEL, pid: 0 }
    }

    #[test]
    fn every_catchable_signal_but_sigchld_is_forwarded() {
        let all: Vec<i32> = forwarded().collect();
        for missing in [libc::SIGKILL, libc::SIGSTOP, libc::SIGCHLD] {
            assert!(!all.contains(&missing));
        }
        for present in [libc::SIGINT, libc::SIGQUIT, libc::SIGALRM, libc::SIGPROF, libc::SIGIO, libc::SIGPWR] {
            assert!(all.contains(&present));
        }
        assert_eq!(all.len(), 28 + (libc::SIGRTMAX() - libc::SIGRTMIN() + 1) as usize);
    }

    #[test]
    fn a_kill_is_forwarded_whoever_shares_the_group() {
        for context in [SHARED, APART] {
            for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGWINCH, libc::SIGCONT, libc::SIGRTMIN()] {
                assert_eq!(decide(from_kill(signal), &context), Verdict::Forward, "{signal}");
            }
        }
        for signal in [libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU] {
            assert_eq!(decide(from_kill(signal), &SHARED), Verdict::ForwardThenStop, "{signal}");
            assert_eq!(decide(from_kill(signal), &APART), Verdict::Forward, "{signal}: a job of its own");
        }
    }

    #[test]
    fn the_terminals_signals_are_not_delivered_twice() {
        for signal in [libc::SIGINT, libc::SIGQUIT, libc::SIGWINCH, libc::SIGHUP, libc::SIGCONT] {
            assert!(matches!(decide(from_terminal(signal), &SHARED), Verdict::Drop(_)), "{signal}");
            assert_eq!(decide(from_terminal(signal), &APART), Verdict::Forward, "{signal}");
        }
        assert_eq!(decide(from_terminal(libc::SIGTSTP), &SHARED), Verdict::Stop);
        assert_eq!(decide(from_terminal(libc::SIGTSTP), &APART), Verdict::Forward);
        for context in [SHARED, APART] {
            assert_eq!(decide(from_terminal(libc::SIGTTOU), &context), Verdict::Stop);
            assert_eq!(decide(from_terminal(libc::SIGTTIN), &context), Verdict::Stop);
            let foreground = Context { background: false, ..context };
            assert!(matches!(decide(from_terminal(libc::SIGTTOU), &foreground), Verdict::Drop(_)), "stale");
        }
    }

    #[test]
    fn a_hangup_reaches_only_the_session_leader_so_it_is_passed_on() {
        let leader = Context { session_leader: true, ..SHARED };
        assert_eq!(decide(from_terminal(libc::SIGHUP), &leader), Verdict::Forward);
        assert_eq!(decide(from_terminal(libc::SIGCONT), &leader), Verdict::Forward);
        assert!(matches!(decide(from_terminal(libc::SIGINT), &leader), Verdict::Drop(_)));
    }

    #[test]
    fn what_supervise_sends_itself_stays_here() {
        let own = Received { signal: libc::SIGPIPE, code: libc::SI_USER, pid: 100 };
        assert!(matches!(decide(own, &SHARED), Verdict::Drop(_)));
        let abort = Received { signal: libc::SIGABRT, code: libc::SI_TKILL, pid: 100 };
        assert!(matches!(decide(abort, &APART), Verdict::Drop(_)));
    }
}
