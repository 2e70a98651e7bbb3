//! Taking the terminal from the program while a question is shown, and giving it back after the answer.
//!
//! [`Hold::take`], when a question is about to be drawn:
//! 1. If the terminal's foreground process group is one of the program's (the program runs as a job of its own,
//!    see `job`), supervise's group becomes the foreground: from then on, a process of the program that starts to
//!    read the terminal stops with SIGTTIN, as in a shell's background job, and, with TOSTOP (set below), one that
//!    writes stops with SIGTTOU.
//! 2. The terminal goes to raw mode (no echo, no line editing, no signal keys) with TOSTOP, and its pending input
//!    is flushed (TCIFLUSH): keys typed before the question appeared never answer it.
//! 3. Every process of the program is stopped (SIGSTOP) until [`Hold::resume`]: the caller draws the question and
//!    holds the terminal's output (TCOOFF) meanwhile, so nothing of the program can reach the screen in between.
//!    Those that could take keys or write on the question ([`procs::Proc::must_freeze`]: a thread already asleep
//!    in a read or write of the terminal; with the foreground taken, also those that job control does not hold:
//!    SIGTTIN/SIGTTOU ignored, the terminal open but not as their controlling terminal) stay stopped
//!    until the answer; the others go on at once (children before their parents, so that a parent
//!    waiting with WUNTRACED never sees them stopped). Every later frame of the question (its erasure included)
//!    is written the same way, between [`Hold::pause`] and [`Hold::resume`].
//!
//! [`Hold::release`] puts the settings back, gives the foreground back to the group it was taken from, and continues
//! what stopped meanwhile: the processes supervise stopped, and those of that group that job control stopped during
//! the question. A read that was interrupted starts again and gets the next line typed.
//!
//! Every terminal call here blocks SIGTTOU in the calling thread, so that supervise is never stopped by its own
//! terminal calls when it is not (or no longer) the foreground.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::sys::termios::{self, LocalFlags, SetArg, Termios};

use super::procs;
use crate::kernel::{self, proc, process};

static ASKING: AtomicBool = AtomicBool::new(false);

/// True while a question holds the terminal: the program's stops then belong to the question.
pub fn asking() -> bool {
    ASKING.load(Ordering::SeqCst)
}

/// Runs `f` with SIGTTOU blocked in this thread: a terminal call from a background process group then goes
/// through instead of stopping supervise (tty_check_change lets a process that blocks SIGTTOU through).
pub fn quiet<T>(f: impl FnOnce() -> T) -> T {
    process::with_blocked(Signal::SIGTTOU, f)
}

/// The terminal's foreground process group, if any.
pub fn foreground(tty: &File) -> Option<i32> {
    kernel::tty::foreground(tty.as_fd())
}

/// Makes `pgrp` the terminal's foreground process group.
pub fn set_foreground(tty: &File, pgrp: i32) -> io::Result<()> {
    quiet(|| kernel::tty::set_foreground(tty.as_fd(), pgrp))
}

/// supervise's process group.
pub fn own_group() -> i32 {
    process::own_group()
}

fn signal(pid: i32, sig: i32) {
    // A pid that is gone fails with ESRCH, which changes nothing.
    let _ = process::kill(pid, sig);
}

/// What a question took, to give back.
#[derive(Debug)]
pub struct Hold {
    /// The foreground group supervise took the terminal from.
    taken_from: Option<i32>,
    /// Processes of that group already stopped before the question (not ours to continue).
    stopped_before: Vec<i32>,
    /// Processes stopped with SIGSTOP until the answer.
    frozen: Vec<i32>,
    /// Processes stopped with SIGSTOP while a frame is written, parents before children.
    paused: Vec<i32>,
    /// Settings to put back.
    saved: Option<Termios>,
    /// The terminal's device number.
    device: Option<u64>,
    /// Bytes of input flushed when the question began.
    pub flushed: usize,
    /// Not given back yet.
    active: bool,
}

impl Hold {
    /// Takes the terminal for a question and pauses the program (see the module header); the caller draws, then
    /// calls [`Hold::resume`]. Never fails: what cannot be done is left as it was (for example, supervise and the
    /// program in one process group: no foreground to take).
    pub fn take(tty: &File) -> Hold {
        ASKING.store(true, Ordering::SeqCst);
        let mut hold = Hold {
            taken_from: None,
            stopped_before: Vec::new(),
            frozen: Vec::new(),
            paused: Vec::new(),
            saved: None,
            device: procs::own_terminal(),
            flushed: 0,
            active: true,
        };
        if let Some(fg) = foreground(tty).filter(|&fg| fg != own_group()) {
            let procs = procs::descendants(own_pid());
            if procs.iter().any(|p| p.pgid == fg) && set_foreground(tty, own_group()).is_ok() {
                hold.taken_from = Some(fg);
                hold.stopped_before = procs.iter().filter(|p| p.pgid == fg && p.stopped()).map(|p| p.pid).collect();
            }
        }
        if let Ok(saved) = quiet(|| termios::tcgetattr(tty)) {
            let mut raw = saved.clone();
            raw.local_flags.remove(LocalFlags::ICANON | LocalFlags::ECHO | LocalFlags::ISIG | LocalFlags::IEXTEN);
            raw.local_flags.insert(LocalFlags::TOSTOP);
            if quiet(|| termios::tcsetattr(tty, SetArg::TCSANOW, &raw)).is_ok() {
                hold.saved = Some(saved);
            }
        }
        hold.pause();
        hold.flushed = pending_input(tty);
        let _ = quiet(|| termios::tcflush(tty, termios::FlushArg::TCIFLUSH));
        hold
    }

    /// Stops every process of the program that runs, until none is left running (a process can fork until it
    /// stops), at most a few rounds. Those that job control does not hold are frozen until the answer, the others
    /// only until [`Hold::resume`].
    pub fn pause(&mut self) {
        for _ in 0..8 {
            let procs = procs::descendants(own_pid());
            let mut new = Vec::new();
            for p in &procs {
                if p.stopped() || p.gone() || self.frozen.contains(&p.pid) || self.paused.contains(&p.pid) {
                    continue;
                }
                // Looked at before the stop: a stopped thread no longer shows the read it was asleep in.
                let freeze = self.device.is_some_and(|device| p.must_freeze(device, self.taken_from.is_some()));
                signal(p.pid, libc::SIGSTOP);
                new.push(p.pid);
                if freeze {
                    self.frozen.push(p.pid);
                } else {
                    self.paused.push(p.pid);
                }
            }
            if new.is_empty() {
                return;
            }
            wait_stopped(&new);
        }
    }

    /// Continues what [`Hold::pause`] stopped for a frame only, children first.
    pub fn resume(&mut self) {
        for pid in self.paused.drain(..).rev() {
            signal(pid, libc::SIGCONT);
        }
    }

    /// Looks again for processes that job control does not hold (started or changed since the question began) and
    /// freezes them until the answer.
    pub fn recheck(&mut self) {
        let Some(device) = self.device else { return };
        let mut new = Vec::new();
        for p in procs::descendants(own_pid()) {
            if !self.frozen.contains(&p.pid) && p.must_freeze(device, self.taken_from.is_some()) {
                signal(p.pid, libc::SIGSTOP);
                new.push(p.pid);
            }
        }
        wait_stopped(&new);
        self.frozen.extend(new);
    }

    /// Gives the terminal back (see the module header).
    pub fn release(mut self, tty: &File) {
        self.give_back(tty);
    }

    fn give_back(&mut self, tty: &File) {
        if let Some(saved) = self.saved.take() {
            let _ = quiet(|| termios::tcsetattr(tty, SetArg::TCSANOW, &saved));
        }
        let mut cont: Vec<i32> = self.paused.drain(..).rev().collect();
        if let Some(group) = self.taken_from.take() {
            if foreground(tty) == Some(own_group()) {
                let _ = set_foreground(tty, group);
            }
            for p in procs::descendants(own_pid()).iter().filter(|p| p.pgid == group && p.stopped()) {
                if !self.stopped_before.contains(&p.pid) && !self.frozen.contains(&p.pid) && !cont.contains(&p.pid) {
                    cont.push(p.pid);
                }
            }
        }
        cont.extend(self.frozen.drain(..).rev());
        for pid in cont {
            signal(pid, libc::SIGCONT);
        }
        self.active = false;
        ASKING.store(false, Ordering::SeqCst);
    }
}

fn own_pid() -> i32 {
    process::own_pid()
}

impl Drop for Hold {
    fn drop(&mut self) {
        if self.active {
            if let Ok(tty) = File::open("/dev/tty") {
                self.give_back(&tty);
            }
        }
    }
}

/// Bytes waiting in the terminal's input (FIONREAD), counted in raw mode.
fn pending_input(tty: &File) -> usize {
    kernel::tty::pending_input(tty.as_fd())
}

/// Waits until every thread of `pids` is stopped (or gone, or asleep in the kernel where it cannot touch the
/// terminal: `D`, such as a notified syscall waiting for supervise), at most 200 ms.
fn wait_stopped(pids: &[i32]) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(200) {
        let running = pids.iter().any(|pid| {
            let Some(tasks) = proc::threads(*pid) else { return false };
            tasks.into_iter().any(|tid| {
                let state = proc::thread_file(*pid, tid, "stat")
                    .and_then(|s| s.rfind(')').and_then(|i| s[i + 1..].trim_start().chars().next()));
                matches!(state, Some('R' | 'S'))
            })
        });
        if !running {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
