//! [`TtyPrompter`]: questions on the controlling terminal (`/dev/tty`), never on the program's stdout.
//!
//! The terminal is in raw mode (no echo, no line buffering, no signal keys) only while a question is shown, and
//! its settings are restored after each answer and on drop, so every exit path leaves it as it was found.

use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::pin::Pin;
use std::time::Duration;

use nix::sys::termios::{self, LocalFlags, SetArg, Termios};
use tokio::io::unix::AsyncFd;

use super::{Key, Prompter, Question};

/// The controlling terminal, opened for questions.
pub struct TtyPrompter {
    tty: AsyncFd<File>,
    /// Settings to restore; `Some` while in raw mode.
    saved: Option<Termios>,
    /// Lines of the question currently drawn.
    drawn: usize,
}

impl TtyPrompter {
    /// Opens `/dev/tty`. Must be called inside the runtime.
    ///
    /// # Errors
    /// ENXIO (or another error) when the process has no controlling terminal.
    pub fn open() -> io::Result<TtyPrompter> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY)
            .open("/dev/tty")?;
        // SAFETY: the File owns the fd, and the AsyncFd owns the File until drop, so the fd stays open and unchanged.
        let tty = unsafe { AsyncFd::register(file) }.map_err(io::Error::from)?;
        Ok(TtyPrompter { tty, saved: None, drawn: 0 })
    }

    fn raw(&mut self) -> io::Result<()> {
        if self.saved.is_none() {
            let saved = termios::tcgetattr(self.tty.get_ref())?;
            let mut raw = saved.clone();
            raw.local_flags.remove(LocalFlags::ICANON | LocalFlags::ECHO | LocalFlags::ISIG | LocalFlags::IEXTEN);
            termios::tcsetattr(self.tty.get_ref(), SetArg::TCSANOW, &raw)?;
            self.saved = Some(saved);
        }
        Ok(())
    }

    fn restore(&mut self) {
        if let Some(saved) = self.saved.take() {
            let _ = termios::tcsetattr(self.tty.get_ref(), SetArg::TCSANOW, &saved);
        }
    }

    fn write(&mut self, text: &str) -> io::Result<()> {
        let mut out = self.tty.get_ref();
        let mut bytes = text.as_bytes();
        while !bytes.is_empty() {
            match out.write(bytes) {
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(1)),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Erases the drawn question: the cursor is on its last line (no newline after it), so go up to its first
    /// line, then clear to the end of the screen.
    fn erase(&mut self) -> io::Result<()> {
        match std::mem::take(&mut self.drawn) {
            0 => Ok(()),
            1 => self.write("\r\x1b[J"),
            lines => self.write(&format!("\r\x1b[{}A\x1b[J", lines - 1)),
        }
    }
}

impl Prompter for TtyPrompter {
    fn show(&mut self, q: &Question, remaining: Duration, waiting: usize) -> io::Result<()> {
        self.raw()?;
        self.erase()?;
        let text = render(q, remaining, waiting);
        self.drawn = text.lines().count();
        self.write(&text.replace('\n', "\r\n"))
    }

    fn note(&mut self, line: &str) -> io::Result<()> {
        self.erase()?;
        self.restore();
        self.write(&format!("supervise: {line}\r\n"))
    }

    fn next_key(&mut self) -> Pin<Box<dyn Future<Output = Option<Key>> + Send + '_>> {
        Box::pin(async move {
            loop {
                let mut guard = self.tty.readable().await.ok()?;
                let mut byte = [0u8; 1];
                match guard.try_io(|tty| tty.get_ref().read(&mut byte)) {
                    Ok(Ok(0)) => return None,
                    Ok(Ok(_)) => {
                        return Some(match byte[0] {
                            3 => Key::CtrlC,
                            b => Key::Char(char::from(b)),
                        })
                    }
                    Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                    Ok(Err(_)) => return None,
                    Err(_would_block) => {}
                }
            }
        })
    }
}

impl Drop for TtyPrompter {
    fn drop(&mut self) {
        let _ = self.erase();
        self.restore();
    }
}

/// The text of a question: who, what, the countdown and the keys.
pub fn render(q: &Question, remaining: Duration, waiting: usize) -> String {
    let queued = if waiting > 0 { format!(" · {waiting} more waiting") } else { String::new() };
    format!(
        "supervise: pid {} {} ({})\n  wants {}({})\n  [y] allow once  [n] deny once  [a] always allow  [d] always deny  · {}s left{queued} ",
        q.pid,
        q.exe,
        q.cmdline,
        q.syscall,
        q.args,
        remaining.as_secs() + u64::from(remaining.subsec_nanos() > 0),
    )
}

/// A prompter for a terminal that is gone: every write fails, so the queue times questions out at once.
pub struct Closed;

impl Prompter for Closed {
    fn show(&mut self, _: &Question, _: Duration, _: usize) -> io::Result<()> {
        Err(io::Error::from(io::ErrorKind::NotConnected))
    }

    fn note(&mut self, _: &str) -> io::Result<()> {
        Ok(())
    }

    fn next_key(&mut self) -> Pin<Box<dyn Future<Output = Option<Key>> + Send + '_>> {
        Box::pin(async { None })
    }
}
