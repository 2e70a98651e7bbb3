//! The live progress line of `supervise record` on a terminal: "N syscalls seen, M calls so far" on stderr.
//!
//! The program shares the terminal, so the line must never mix with its output. `record` sees every write of the
//! program *before* the kernel performs it: when the program is about to write to fd 0, 1 or 2, the handler erases
//! the line first ([`Screen::before`]). The line is drawn again only after the program has been quiet for a second,
//! and only if its last write ended a line (for `write` and `pwrite64` the last byte is read from the target; after
//! other write calls the line waits for the next `write` that ends with a newline), so that a prompt such as
//! `Password: ` is never overwritten. Output to a file or pipe never gets a progress line (it is shown only when
//! stderr is a terminal), and a program that writes to the terminal through another fd (`/dev/tty`) may see it.
//!
//! The line is written through a non-blocking descriptor of its own for the terminal: while the terminal's output
//! is stopped (Ctrl-S), a draw or an erase is skipped, never waited for, because the handler runs on the notify
//! thread, which must not block.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use proto::Arch;

use crate::kernel::listener::{Listener, Notification};
use crate::kernel::memory::TargetMemory;
use crate::kernel::syscalls;

/// How often the line is refreshed.
const TICK: Duration = Duration::from_millis(500);
/// How long the program must have been quiet on its terminal fds before the line is drawn again.
const QUIET: Duration = Duration::from_secs(1);

/// Write-like syscalls and the index of their destination fd argument.
const WRITES: &[(&str, usize)] = &[
    ("write", 0),
    ("writev", 0),
    ("pwrite64", 0),
    ("pwritev", 0),
    ("pwritev2", 0),
    ("sendfile", 0),
    ("splice", 2),
    ("tee", 1),
    ("copy_file_range", 2),
];

/// The terminal line shared by the progress thread and the notification handler.
#[derive(Debug)]
pub struct Screen {
    state: Mutex<State>,
    /// (arch, nr) of a write-like syscall → index of its fd argument, and whether it is `write(fd, buf, count)`
    /// shaped (`write`, `pwrite64`), so that its last byte can be read.
    writes: HashMap<(Arch, i32), (usize, bool)>,
    /// The terminal (stderr reopened with O_NONBLOCK); `None` draws nowhere (tests).
    terminal: Option<File>,
}

#[derive(Debug)]
struct State {
    shown: bool,
    last_write: Instant,
    /// The program's last terminal write ended a line (or there was none): the cursor is at column 0.
    line_start: bool,
}

impl Screen {
    /// The line on stderr, which the caller has found to be a terminal. `None` if it cannot be opened again.
    pub fn new(arches: &[Arch]) -> Option<Screen> {
        // A new open file description of the same terminal, so that O_NONBLOCK does not change the one that fd 2
        // shares with the shell and the program.
        let terminal = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
            .open("/proc/self/fd/2")
            .ok()?;
        Some(Screen::drawing_to(arches, Some(terminal)))
    }

    fn drawing_to(arches: &[Arch], terminal: Option<File>) -> Screen {
        let mut writes = HashMap::new();
        for &(name, fd_arg) in WRITES {
            for &arch in arches {
                if let Some(nr) = syscalls::number_of(name, arch) {
                    writes.insert((arch, nr), (fd_arg, matches!(name, "write" | "pwrite64")));
                }
            }
        }
        let state = State { shown: false, last_write: Instant::now(), line_start: true };
        Screen { state: Mutex::new(state), writes, terminal }
    }

    /// Writes `text` if the terminal takes all of it now; true if it did (or there is no terminal).
    fn put(&self, text: &str) -> bool {
        let Some(mut terminal) = self.terminal.as_ref() else { return true };
        matches!(terminal.write(text.as_bytes()), Ok(n) if n == text.len())
    }

    /// Called for every notification before it is answered: erases the line if the program is about to write to
    /// its stdin, stdout or stderr (which may be the terminal).
    pub fn before(&self, listener: &Listener, n: &Notification, arch: Arch) {
        let Some(&(fd_arg, plain)) = self.writes.get(&(arch, n.nr)) else { return };
        if n.args[fd_arg] > 2 {
            return;
        }
        let line_start = plain && {
            let (buf, count) = (n.args[1], n.args[2]);
            let last = count.checked_sub(1).and_then(|off| buf.checked_add(off));
            let byte = last.and_then(|at| TargetMemory::new(n.pid).read(at, 1).ok()?.verify(listener, n.id).ok());
            byte.is_some_and(|b| matches!(b.first(), Some(b'\n' | b'\r')))
        };
        if plain && n.args[2] == 0 {
            return; // Writes nothing.
        }
        self.program_writes(line_start);
    }

    /// The program is about to write to the terminal: erase the line and hold it back for a while.
    fn program_writes(&self, line_start: bool) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.shown && self.put("\r\x1b[K") {
            state.shown = false;
        }
        state.last_write = Instant::now();
        state.line_start = line_start;
    }

    fn draw(&self, text: &str) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.line_start && state.last_write.elapsed() >= QUIET && self.put(&format!("\r\x1b[K{text}")) {
            state.shown = true;
        }
    }

    fn erase(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.shown && self.put("\r\x1b[K") {
            state.shown = false;
        }
    }
}

/// The thread that refreshes the line.
pub struct Progress {
    stop: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Progress {
    /// Starts refreshing `screen` with the counts that `stats` gives: (distinct syscalls, calls).
    pub fn start(screen: Arc<Screen>, stats: impl Fn() -> (usize, usize) + Send + 'static) -> Progress {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(TICK) {
                let (distinct, calls) = stats();
                screen.draw(&format!("supervise record: {distinct} syscalls seen, {calls} calls so far"));
            }
            screen.erase();
        });
        Progress { stop, thread }
    }

    /// Stops and erases the line; nothing is printed after this returns.
    pub fn stop(self) {
        drop(self.stop);
        let _ = self.thread.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_waits_for_a_quiet_program_at_a_line_start() {
        let screen = Screen::drawing_to(Arch::native().runnable_on(), None);
        let write = syscalls::number_of("write", Arch::native()).unwrap();
        assert_eq!(screen.writes.get(&(Arch::native(), write)), Some(&(0, true)));
        screen.program_writes(false);
        screen.state.lock().unwrap().last_write -= QUIET;
        screen.draw("x");
        assert!(!screen.state.lock().unwrap().shown, "not in the middle of the program's line");
        screen.program_writes(true);
        screen.draw("x");
        assert!(!screen.state.lock().unwrap().shown, "not right after the program wrote");
        screen.state.lock().unwrap().last_write -= QUIET;
        screen.draw("x");
        assert!(screen.state.lock().unwrap().shown);
        screen.erase();
        assert!(!screen.state.lock().unwrap().shown);
    }
}
