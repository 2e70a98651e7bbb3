//! The tmux harness of the terminal tests: a session running one shell command in a real pseudo-terminal, keys sent
//! to it (send-keys) and its screen read back (capture-pane).
//!
//! Each session runs on a tmux server of its own (`-L`): tests run in parallel, and on a shared server one test's
//! last session ending stops the server while another test's `new-session` is connecting to it ("server exited
//! unexpectedly").

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::support::{run, Output};

/// A tmux session running one shell command, on a server of its own; the server is killed on drop.
pub struct Tmux {
    pub name: String,
}

impl Tmux {
    pub fn start(dir: &Path, command: &str) -> Tmux {
        Tmux::start_sized(dir, command, 200, 50)
    }

    /// A session `width` columns wide and `height` rows high.
    pub fn start_sized(dir: &Path, command: &str, width: u16, height: u16) -> Tmux {
        let wrapped = format!("cd {} && {command}; echo EXIT=$?; sleep 600", dir.display());
        let (w, h) = (width.to_string(), height.to_string());
        Tmux::new_session(&["-x", &w, "-y", &h, &wrapped])
    }

    /// `tmux new-session -d ARGS…` on a new server.
    pub fn new_session(args: &[&str]) -> Tmux {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!("supervise-e2e-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let t = Tmux { name };
        let out = t.tmux(&[&["-f", "/dev/null", "new-session", "-d", "-s", &t.name], args].concat());
        assert_eq!(out.code, Some(0), "tmux: {}", out.stderr);
        t
    }

    /// `tmux ARGS…` on this session's server.
    pub fn tmux(&self, args: &[&str]) -> Output {
        run("tmux", &[&["-L", self.name.as_str()], args].concat())
    }

    pub fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-J", "-t", &self.name]).stdout
    }

    /// Waits until the screen contains `text`; returns the screen.
    pub fn wait_for(&self, text: &str) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(start.elapsed() < Duration::from_secs(15), "{text:?} never appeared; screen:\n{screen}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The pane's main screen with its history, wrapped lines joined.
    pub fn history(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-J", "-S", "-", "-t", &self.name]).stdout
    }

    /// Sends `keys` as tmux key names (`y`, `Enter`, `C-c`).
    pub fn keys(&self, keys: &str) {
        self.send(&[keys]);
    }

    /// Sends several tmux key names (or, with `-l`, literal text), asserting that tmux took them.
    pub fn send(&self, keys: &[&str]) {
        let out = self.tmux(&[&["send-keys", "-t", &self.name], keys].concat());
        assert_eq!(out.code, Some(0), "tmux send-keys: {}", out.stderr);
    }
}

/// Output of a tmux pane's terminal stopped with `tcflow(TCOOFF)`, as Ctrl-S does with `ixon`; resumed (TCOON) on
/// drop, so that a failing test still lets everything that waits on the terminal go on.
pub struct Stopped {
    tty: String,
}

impl Stopped {
    pub fn output_of(t: &Tmux) -> Stopped {
        let tty = t.tmux(&["display-message", "-p", "-t", &t.name, "#{pane_tty}"]).stdout.trim().to_string();
        assert!(tty.starts_with("/dev/"), "the pane's terminal: {tty:?}");
        tcflow(&tty, "TCOOFF");
        Stopped { tty }
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        tcflow(&self.tty, "TCOON");
    }
}

fn tcflow(tty: &str, action: &str) {
    let script = format!(
        "import os, termios; fd = os.open({tty:?}, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK); termios.tcflow(fd, termios.{action})"
    );
    let out = run("python3", &["-c", &script]);
    assert_eq!(out.code, Some(0), "tcflow {action}: {}", out.stderr);
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["-L", &self.name, "kill-server"]).status();
    }
}
