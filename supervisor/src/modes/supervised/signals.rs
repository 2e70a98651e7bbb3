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
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::kernel::signals::{decode, read_end, RECORD};
pub use crate::kernel::signals::{forwarded, ignored_at_start, install, stop_self, Received};
use crate::kernel::{process, reactor, tty};

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
        let fd = reactor::register(read_end()?, Interest::READABLE)?;
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
                nix::unistd::read(fd.get_ref().as_fd(), &mut buf).map_err(|e| io::Error::from_raw_os_error(e as i32))
            });
            match read {
                Ok(Ok(n)) => self.pending.extend(decode(&buf[..n])),
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
        // getpgid fails (ESRCH) only for a pid that is gone, which then counts as another group.
        let (ours, group) = (process::own_pid(), process::own_group());
        Context {
            ours,
            program_in_our_group: process::group_of(program) == Some(group),
            session_leader: process::own_session() == Some(ours),
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
    tty::foreground(tty.as_fd())
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
