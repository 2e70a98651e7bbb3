//! [`TtyPrompter`]: questions on the controlling terminal (`/dev/tty`), never on the program's stdout.
//!
//! The terminal is in raw mode (no echo, no line buffering, no signal keys) only while a question is shown, and
//! its settings are restored after each answer and on drop, so every exit path leaves it as it was found.
//!
//! Writes never wait: the terminal is open with O_NONBLOCK, and each drawing (a question with the erasure of the
//! previous one, or a note) is one frame written as far as the terminal takes it now. A frame the terminal does not
//! take at all (its output is stopped with Ctrl-S or `tcflow(TCOOFF)`) is skipped; the rest of a frame taken in part
//! is finished, before anything else is written, on a later draw (the queue draws at least every 250 ms). So a
//! stopped terminal never holds up the prompt task, the other questions or the exit; a question nobody can see
//! times out, and its `onTimeout` applies.

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
    /// Lines of the question currently drawn (or being drawn: see `pending`).
    drawn: usize,
    /// The rest of a frame that the terminal took only in part; written before anything else.
    pending: Vec<u8>,
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
        Ok(TtyPrompter { tty, saved: None, drawn: 0, pending: Vec::new() })
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

    /// Writes as much of `bytes` as the terminal takes now, without waiting; returns how much that was.
    fn write_now(&self, bytes: &[u8]) -> io::Result<usize> {
        let mut out = self.tty.get_ref();
        let mut done = 0;
        while done < bytes.len() {
            match out.write(&bytes[done..]) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    /// Writes one frame without waiting: first the rest of an earlier frame, then this one. Returns false if the
    /// frame was skipped (the terminal takes nothing now); true if it was written, or begun and its rest is pending.
    fn emit(&mut self, frame: &str) -> io::Result<bool> {
        if !self.pending.is_empty() {
            let n = self.write_now(&self.pending)?;
            self.pending.drain(..n);
            if !self.pending.is_empty() {
                return Ok(false);
            }
        }
        let n = self.write_now(frame.as_bytes())?;
        if n == 0 && !frame.is_empty() {
            return Ok(false);
        }
        self.pending.extend_from_slice(&frame.as_bytes()[n..]);
        Ok(true)
    }

    /// What erases the drawn question: the cursor is on its last line (no newline after it), so go up to its first
    /// line, then clear to the end of the screen.
    fn erasure(&self) -> String {
        match self.drawn {
            0 => String::new(),
            1 => "\r\x1b[J".to_string(),
            lines => format!("\r\x1b[{}A\x1b[J", lines - 1),
        }
    }
}

impl Prompter for TtyPrompter {
    fn show(&mut self, q: &Question, remaining: Duration, waiting: usize) -> io::Result<()> {
        self.raw()?;
        let text = render(q, remaining, waiting);
        let frame = format!("{}{}", self.erasure(), text.replace('\n', "\r\n"));
        if self.emit(&frame)? {
            self.drawn = text.lines().count();
        }
        Ok(())
    }

    fn note(&mut self, line: &str) -> io::Result<()> {
        let frame = format!("{}supervise: {line}\r\n", self.erasure());
        self.restore();
        if self.emit(&frame)? {
            self.drawn = 0;
        }
        Ok(())
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
        // One try, without waiting: a stopped terminal keeps the question on its screen.
        let erasure = self.erasure();
        let _ = self.emit(&erasure);
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
