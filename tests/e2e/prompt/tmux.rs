//! The tmux harness of the prompt tests: a session running one shell command in a real pseudo-terminal, keys sent
//! to it (send-keys) and its screen read back (capture-pane).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::run;

/// A tmux session running one shell command; killed on drop.
pub struct Tmux {
    pub name: String,
}

impl Tmux {
    pub fn start(dir: &Path, command: &str) -> Tmux {
        Tmux::start_sized(dir, command, 200, 50)
    }

    /// A session `width` columns wide and `height` rows high.
    pub fn start_sized(dir: &Path, command: &str, width: u16, height: u16) -> Tmux {
        let name = format!("supervise-e2e-{}-{}", std::process::id(), rand_suffix());
        let wrapped = format!("cd {} && {command}; echo EXIT=$?; sleep 600", dir.display());
        let (w, h) = (width.to_string(), height.to_string());
        let out = run("tmux", &["new-session", "-d", "-s", &name, "-x", &w, "-y", &h, &wrapped]);
        assert_eq!(out.code, Some(0), "tmux: {}", out.stderr);
        Tmux { name }
    }

    pub fn screen(&self) -> String {
        run("tmux", &["capture-pane", "-p", "-J", "-t", &self.name]).stdout
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
        run("tmux", &["capture-pane", "-p", "-J", "-S", "-", "-t", &self.name]).stdout
    }

    /// Sends `keys` as tmux key names (`y`, `Enter`, `C-c`).
    pub fn keys(&self, keys: &str) {
        run("tmux", &["send-keys", "-t", &self.name, keys]);
    }
}

/// Output of a tmux pane's terminal stopped with `tcflow(TCOOFF)`, as Ctrl-S does with `ixon`; resumed (TCOON) on
/// drop, so that a failing test still lets everything that waits on the terminal go on.
pub struct Stopped {
    tty: String,
}

impl Stopped {
    pub fn output_of(t: &Tmux) -> Stopped {
        let tty = run("tmux", &["display-message", "-p", "-t", &t.name, "#{pane_tty}"]).stdout.trim().to_string();
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
        let _ = Command::new("tmux").args(["kill-session", "-t", &self.name]).status();
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos().into())
}
