//! supervise's signal handler: one handler (`SA_SIGINFO`) for every signal supervise passes on to the program,
//! which only writes the signal number, `si_code` and `si_pid` to a non-blocking pipe (write(2) is
//! async-signal-safe), and the decoding of what it wrote. The supervised run reads the pipe and decides
//! (`crate::modes::supervised::signals`, whose header tells which signals and why).
//!
//! A fault of supervise itself (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS with `si_code > 0`) is not
//! written: the handler puts the previous action back (std's stack-overflow report, or the default) and the fault
//! happens again.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::OnceLock;

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
pub const RECORD: usize = 12;

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

/// A duplicate of the pipe's read end, for the reader of the signals received.
///
/// # Errors
/// [`install`] was not called, or the fd cannot be duplicated.
pub fn read_end() -> io::Result<OwnedFd> {
    READ_END.get().ok_or_else(|| io::Error::other("signal handlers not installed"))?.try_clone()
}

/// Decodes whole records read from the pipe. Each record decoded counts as read: the next arrival of a standard
/// signal makes a new record.
pub fn decode(bytes: &[u8]) -> Vec<Received> {
    let word = |r: &[u8], i: usize| i32::from_ne_bytes([r[i], r[i + 1], r[i + 2], r[i + 3]]);
    bytes
        .chunks_exact(RECORD)
        .map(|r| {
            let received = Received { signal: word(r, 0), code: word(r, 4), pid: word(r, 8) };
            if let Some(pending) = PENDING.get(received.signal as usize) {
                pending.store(false, Ordering::Release);
            }
            received
        })
        .collect()
}
