//! The program as a job of its own on the terminal, so that supervise can take the terminal while it asks.
//!
//! When supervise asks questions at a terminal whose foreground process group is supervise's own (the usual case:
//! a shell started it in the foreground), the launcher puts the program in a new process group and makes that the
//! terminal's foreground group before `execve`, as a shell does with a job (`LaunchOptions::foreground`). The
//! terminal's signal keys (Ctrl-C, Ctrl-\, Ctrl-Z) and window size changes then reach the program's group, not
//! supervise. Everywhere else (no terminal, no prompts, supervise in the background, supervise in a pipeline whose
//! other commands share its group) the program stays in supervise's group, as before.
//!
//! With the program in a group of its own, supervise also does the shell's part ([`Job::watch`]):
//! - **Ctrl-Z.** When the program stops (SIGTSTP, SIGTTIN, SIGTTOU, SIGSTOP) while no question is shown, supervise
//!   stops itself with the same signal (SIGTSTP for SIGSTOP), so that the shell sees its job stopped and takes the
//!   terminal. Once continued (`fg`), supervise gives the terminal back to the program's group if it is supervise's
//!   now, and sends that group SIGCONT. In an orphaned process group the kernel discards the stop, as it would for
//!   the program run plainly: the program is continued at once.
//! - **A stop for touching the terminal** while supervise's group holds it (after `fg`, or between two questions)
//!   hands the terminal to the program's group and continues it.
//! - Stops during a question belong to it (see `hold`), and end with it.
//!
//! [`Job::finish`], at exit, makes supervise's group the foreground again if the terminal is still the program's
//! (or an empty group's), so that the shell or script that started supervise gets its terminal back.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use tokio::signal::unix::{signal, SignalKind};
use tracing::debug;

use super::hold::{asking, foreground, own_group, set_foreground};
use crate::kernel::process;

/// The terminal shared with a program that runs as a job of its own.
#[derive(Debug)]
pub struct Job {
    tty: File,
    /// The program's pid and process group; 0 until [`Job::started`], or if it shares supervise's group.
    program: AtomicI32,
}

impl Job {
    /// A job of its own for the program, if supervise has a controlling terminal whose foreground process group is
    /// supervise's now, shared only with its ancestors (a shell or script waiting for it). In a pipeline
    /// (`supervise … | less`) the other commands are the foreground job too: the program stays in their group.
    pub fn prepare() -> Option<Arc<Job>> {
        let tty = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
            .open("/dev/tty")
            .ok()?;
        let me = process::own_pid();
        if foreground(&tty) != Some(own_group()) || !super::procs::alone_in_group(me) {
            return None;
        }
        Some(Arc::new(Job { tty, program: AtomicI32::new(0) }))
    }

    /// Records the launched program (whose group the launcher made the foreground); if the launcher could not, the
    /// program stayed in supervise's group and there is nothing to do.
    pub fn started(&self, pid: Pid) {
        let pgid = process::group_of(pid.as_raw());
        if let Some(pgid) = pgid.filter(|&g| g == pid.as_raw() && g != own_group()) {
            self.program.store(pgid, Ordering::SeqCst);
        } else {
            debug!(pid = pid.as_raw(), "the program shares supervise's process group");
        }
    }

    fn program(&self) -> Option<i32> {
        Some(self.program.load(Ordering::SeqCst)).filter(|&p| p > 0)
    }

    /// Follows the program's stops (see the module header) until it has exited. Runs as a task of the session.
    pub async fn watch(self: Arc<Self>, app: Pid) {
        let Ok(mut sigchld) = signal(SignalKind::child()) else { return };
        loop {
            loop {
                match waitid(Id::Pid(app), WaitPidFlag::WSTOPPED | WaitPidFlag::WNOHANG) {
                    Ok(WaitStatus::Stopped(_, sig)) => self.stopped(sig as i32),
                    Ok(_) => break,
                    // ECHILD: reaped, the program is gone.
                    Err(_) => return,
                }
            }
            if sigchld.recv().await.is_none() {
                return;
            }
        }
    }

    fn stopped(&self, sig: i32) {
        let Some(program) = self.program() else { return };
        if asking() {
            return;
        }
        if foreground(&self.tty) == Some(own_group()) {
            debug!(signal = sig, "the program touched the terminal while supervise had it: giving it back");
        } else {
            let own = if sig == libc::SIGSTOP { libc::SIGTSTP } else { sig };
            debug!(signal = sig, "the program stopped: supervise stops too");
            process::stop_self(own);
        }
        if foreground(&self.tty) == Some(own_group()) {
            let _ = set_foreground(&self.tty, program);
        }
        let _ = process::kill(-program, libc::SIGCONT);
    }

    /// Gives the terminal back to supervise's group at exit, unless it belongs to someone else by now.
    pub fn finish(&self) {
        let Some(program) = self.program() else { return };
        let Some(fg) = foreground(&self.tty) else { return };
        // Signal 0 only checks that the group exists.
        let empty = process::kill(-fg, 0).is_err();
        if fg != own_group() && (fg == program || empty) {
            let _ = set_foreground(&self.tty, own_group());
        }
    }
}
