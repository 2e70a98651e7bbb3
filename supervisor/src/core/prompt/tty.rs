//! [`TtyPrompter`]: questions on the controlling terminal (`/dev/tty`), never on the program's stdout.
//!
//! A question is drawn once, on the terminal's alternate screen, and nothing else reaches the terminal while it is
//! shown:
//! 1. supervise takes the terminal from the program (`hold`: foreground process group, processes that job control
//!    does not hold stopped, raw mode with TOSTOP, pending input flushed);
//! 2. it switches to the alternate screen (`ESC [ ? 1049 h`: the program's screen is kept aside, whole) and draws
//!    the question, every line cut or broken to the terminal's width (`render`);
//! 3. it holds the terminal's output (`tcflow(TCOOFF)`): from then on nothing written to the terminal shows, from
//!    any process, until the answer. The program cannot resume it (its filter denies `TCXONC`, see the agent's
//!    `filter::guard`). So the question has no live countdown: it says when the answer is due, and what then.
//!
//! After the answer (or the timeout, or a withdrawal): output resumes, the question is erased and the program's
//! screen comes back as it was (`ESC [ ? 1049 l`), a one-line note says what was decided, and the terminal goes back
//! to the program (`hold`), whose held output then follows. A terminal without an alternate screen gets the question
//! below the program's output, erased afterwards.
//!
//! Writes never wait: the terminal is open with O_NONBLOCK, and each drawing is one frame written as far as the
//! terminal takes it now. The rest of a frame taken in part (or not at all: its output was stopped by Ctrl-S or
//! `tcflow(TCOOFF)` before the question) is written before anything else, on a later call (the queue calls at
//! least every 250 ms). So a stopped terminal never holds up the prompt task, the other questions or the exit; a
//! question nobody can see times out, and its `onTimeout` applies. supervise holds the output only once its own
//! frame is complete, and resumes only what it held.
//!
//! Keys: one read of the terminal counts only if it holds exactly one key outside escape sequences (`keys`), so that
//! the terminal's own answers to queries a program can print, and pastes, never answer.

use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime};

use nix::sys::termios::{self, FlowArg};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use super::hold::{quiet, Hold};
use super::keys::Decoder;
use super::{render, Key, Prompter, Question, Status};
use crate::kernel;

/// Enters the alternate screen; the question starts on a new line (below the program's output where there is no
/// alternate screen).
const ENTER: &str = "\x1b[?1049h\r\n";
/// Leaves it (the program's screen and cursor come back).
const LEAVE: &str = "\x1b[?1049l";
/// How often a shown question looks for processes that job control does not hold.
const RECHECK: Duration = Duration::from_millis(250);

/// The controlling terminal, opened for questions.
pub struct TtyPrompter {
    tty: AsyncFd<File>,
    decoder: Decoder,
    shown: Option<Shown>,
    /// The rest of a frame that the terminal took only in part; written before anything else.
    pending: Vec<u8>,
    /// Notes that came while a question was shown, written after it.
    deferred: Vec<String>,
}

/// The question on the screen.
struct Shown {
    question: Question,
    /// The other questions waiting and the second step of an answer, as drawn.
    status: Status,
    /// The terminal's size (columns, rows) it was drawn for.
    size: (usize, usize),
    hold: Hold,
    /// Lines drawn.
    lines: usize,
    /// Bytes of the question's frame, and how many of them are still pending (at the end of `pending`).
    frame: usize,
    unwritten: usize,
    /// supervise stopped the terminal's output (TCOOFF) and must resume it.
    held: bool,
    checked: Instant,
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
        let tty = kernel::reactor::register(file, Interest::READABLE | Interest::WRITABLE)?;
        Ok(TtyPrompter { tty, decoder: Decoder::default(), shown: None, pending: Vec::new(), deferred: Vec::new() })
    }

    /// Writes as much of `bytes` as the terminal takes now, without waiting; returns how much that was.
    fn write_now(&self, bytes: &[u8]) -> io::Result<usize> {
        let mut out = self.tty.get_ref();
        let mut done = 0;
        quiet(|| {
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
        })
    }

    /// Queues `frame` after any pending bytes and writes what the terminal takes now.
    fn emit(&mut self, frame: &[u8]) -> io::Result<()> {
        self.pending.extend_from_slice(frame);
        let n = self.write_now(&self.pending)?;
        self.pending.drain(..n);
        Ok(())
    }

    fn size(&self) -> (usize, usize) {
        match kernel::tty::window_size(self.tty.get_ref().as_fd()) {
            Some((cols, rows)) => (usize::from(cols), usize::from(rows)),
            None => (80, 24),
        }
    }

    fn flow(&self, action: FlowArg) {
        let _ = quiet(|| termios::tcflow(self.tty.get_ref(), action));
    }

    fn begin(&mut self, q: &Question, remaining: Duration, status: &Status) -> io::Result<()> {
        let hold = Hold::take(self.tty.get_ref());
        self.decoder = Decoder::default();
        let text = self.text(q, remaining, status, hold.flushed);
        let frame = format!("{ENTER}{}", text.join("\r\n"));
        let written = self.emit(frame.as_bytes());
        let complete = self.pending.is_empty();
        if complete {
            self.flow(FlowArg::TCOOFF);
        }
        self.shown = Some(Shown {
            question: q.clone(),
            status: status.clone(),
            size: self.size(),
            hold,
            lines: text.len(),
            frame: frame.len(),
            unwritten: frame.len().min(self.pending.len()),
            held: complete,
            checked: Instant::now(),
        });
        self.shown.as_mut().expect("just set").hold.resume();
        written
    }

    fn text(&self, q: &Question, remaining: Duration, status: &Status, flushed: usize) -> Vec<String> {
        let (width, height) = self.size();
        let mut text = render::lines(q, width, height, SystemTime::now() + remaining, status);
        if flushed > 0 {
            let line = format!("  ({flushed} bytes typed before this question: ignored)");
            text.push(render::fit(&line, width.clamp(20, 1000) - 1));
        }
        text
    }

    /// True if the terminal takes output now (it is not stopped, and has room).
    fn writable(&self) -> bool {
        kernel::tty::writable_now(self.tty.get_ref().as_fd())
    }

    /// While the question is shown: finish its frame once the terminal takes output, hold the output once it is
    /// complete, draw it again if its status changed (the questions waiting, the second step of an answer) or the
    /// terminal's size did, and look for processes to hold. Every frame is written while the program is paused.
    fn keep(&mut self, remaining: Duration, status: &Status) -> io::Result<()> {
        let mut shown = self.shown.take().expect("a question is shown");
        let result = self.keep_shown(&mut shown, remaining, status);
        self.shown = Some(shown);
        result
    }

    fn keep_shown(&mut self, shown: &mut Shown, remaining: Duration, status: &Status) -> io::Result<()> {
        if !self.pending.is_empty() && self.writable() {
            shown.hold.pause();
            let result = self.emit(&[]);
            shown.unwritten = shown.unwritten.min(self.pending.len());
            if self.pending.is_empty() && !shown.held {
                shown.held = true;
                self.flow(FlowArg::TCOOFF);
            }
            shown.hold.resume();
            result?;
        }
        // A new size (SIGWINCH goes to supervise's group while it has the terminal) is read here, at the latest
        // 250 ms later.
        let size = self.size();
        if shown.held && (*status != shown.status || size != shown.size) {
            let text = self.text(&shown.question, remaining, status, shown.hold.flushed);
            let frame = format!("{}{}", erasure(shown.lines), text.join("\r\n"));
            shown.hold.pause();
            self.flow(FlowArg::TCOON);
            let result = self.emit(frame.as_bytes());
            if self.pending.is_empty() {
                self.flow(FlowArg::TCOOFF);
                shown.lines = text.len();
                shown.status = status.clone();
                shown.size = size;
            } else {
                // The terminal took it in part: leave the output running, the rest goes out later.
                shown.held = false;
            }
            shown.hold.resume();
            result?;
        }
        if shown.checked.elapsed() >= RECHECK {
            shown.checked = Instant::now();
            shown.hold.recheck();
        }
        Ok(())
    }

    /// Ends the question: output resumed, question erased, notes written, terminal given back; the frame is
    /// written while the program is paused.
    fn end(&mut self) {
        let Some(mut shown) = self.shown.take() else { return };
        shown.hold.pause();
        if shown.held {
            self.flow(FlowArg::TCOON);
        }
        let mut frame = String::new();
        if shown.unwritten == shown.frame {
            // Nothing of the question reached the screen: drop it rather than draw and erase it.
            let keep = self.pending.len() - shown.unwritten;
            self.pending.truncate(keep);
        } else {
            frame.push_str(&erasure(shown.lines));
            frame.push_str(LEAVE);
        }
        for line in self.deferred.drain(..) {
            frame.push_str(&format!("supervise: {line}\r\n"));
        }
        let _ = self.emit(frame.as_bytes());
        shown.hold.release(self.tty.get_ref());
    }
}

/// What erases a drawing of `lines` lines, the cursor being at the end of its last one.
fn erasure(lines: usize) -> String {
    match lines {
        0 | 1 => "\r\x1b[J".to_string(),
        lines => format!("\r\x1b[{}A\x1b[J", lines - 1),
    }
}

impl Prompter for TtyPrompter {
    fn show(&mut self, q: &Question, remaining: Duration, status: &Status) -> io::Result<()> {
        match &self.shown {
            Some(shown) if shown.question == *q => self.keep(remaining, status),
            Some(_) => {
                self.end();
                self.begin(q, remaining, status)
            }
            None => self.begin(q, remaining, status),
        }
    }

    fn note(&mut self, line: &str) -> io::Result<()> {
        if self.shown.is_some() {
            self.deferred.push(line.to_string());
            return Ok(());
        }
        self.emit(format!("supervise: {line}\r\n").as_bytes())
    }

    fn clear(&mut self) {
        self.end();
    }

    fn next_key(&mut self) -> Pin<Box<dyn Future<Output = Option<Key>> + Send + '_>> {
        Box::pin(async move {
            loop {
                let mut guard = self.tty.readable().await.ok()?;
                let mut bytes = [0u8; 64];
                match guard.try_io(|tty| tty.get_ref().read(&mut bytes)) {
                    Ok(Ok(0)) => return None,
                    Ok(Ok(n)) => {
                        if let Some(key) = self.decoder.read(&bytes[..n], Instant::now()) {
                            return Some(key);
                        }
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
        self.end();
    }
}

/// A prompter for a terminal that is gone: every write fails, so the queue times questions out at once.
pub struct Closed;

impl Prompter for Closed {
    fn show(&mut self, _: &Question, _: Duration, _: &Status) -> io::Result<()> {
        Err(io::Error::from(io::ErrorKind::NotConnected))
    }

    fn note(&mut self, _: &str) -> io::Result<()> {
        Ok(())
    }

    fn clear(&mut self) {}

    fn next_key(&mut self) -> Pin<Box<dyn Future<Output = Option<Key>> + Send + '_>> {
        Box::pin(async { None })
    }
}
