//! Logging set-up: `tracing` to stderr or `--log-file`, as text or JSON, at `--log-level` (or `RUST_LOG`).
//! Logs never go to the program's stdout. Text logs are coloured only on a terminal, and never with `NO_COLOR`.
//!
//! Nothing that logs ever waits for the log: every line goes through a [`Background`] writer (a bounded queue and a
//! thread), which drops and counts lines it cannot keep up with, for example while the terminal's output is stopped
//! (Ctrl-S). supervise's own messages on stderr ([`eprint_line`]) take the same way, in order with the log lines.
//! [`flush_at_exit`] writes what is queued, but waits at most [`EXIT_WAIT`].

mod background;

use std::fs::OpenOptions;
use std::io;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

pub use background::Background;

/// Writes that may wait in a queue before lines are dropped.
const CAPACITY: usize = 1024;
/// The longest the exit waits for queued lines (a stopped terminal never takes them).
pub const EXIT_WAIT: Duration = Duration::from_millis(500);

/// supervise's stderr, behind its writer thread; set by [`init`].
static STDERR: OnceLock<Arc<Background>> = OnceLock::new();
/// The log's writer: [`STDERR`], or the one of `--log-file`.
static LOG: OnceLock<Arc<Background>> = OnceLock::new();

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global subscriber. `level` wins over `RUST_LOG`; the default is `warn`.
///
/// # Errors
/// A message if the level does not parse, the log file cannot be opened or the writer thread cannot start.
pub fn init(level: Option<&str>, format: LogFormat, file: Option<&Path>) -> Result<(), String> {
    let filter = match level {
        Some(level) => {
            // A bare word is read by tracing as a target name, so `--log-level loud` would silently log nothing.
            const LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];
            if !level.contains(['=', ',']) && !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
                return Err(format!(
                    "--log-level {level:?}: expected one of {} or a filter such as info,supervise=debug",
                    LEVELS.join(", ")
                ));
            }
            EnvFilter::try_new(level).map_err(|e| format!("--log-level {level:?}: {e}"))?
        }
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
    };
    let notice = match format {
        LogFormat::Text => text_notice,
        LogFormat::Json => json_notice,
    };
    let cannot = |e: io::Error| format!("cannot set up logging: {e}");
    // A copy of fd 2 (close-on-exec), so that the writer thread never holds std's stderr lock while it waits.
    let stderr = io::stderr().as_fd().try_clone_to_owned().map_err(cannot)?;
    let stderr = Arc::new(Background::start(Box::new(std::fs::File::from(stderr)), CAPACITY, notice).map_err(cannot)?);
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let result = match file {
        Some(path) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("--log-file {}: {e}", path.display()))?;
            let log = Arc::new(Background::start(Box::new(file), CAPACITY, notice).map_err(cannot)?);
            let _ = LOG.set(log.clone());
            let builder = builder.with_ansi(false).with_writer(Lines(log));
            match format {
                LogFormat::Text => builder.try_init(),
                LogFormat::Json => builder.json().try_init(),
            }
        }
        None => {
            let _ = LOG.set(stderr.clone());
            let builder = builder.with_ansi(colour()).with_writer(Lines(stderr.clone()));
            match format {
                LogFormat::Text => builder.try_init(),
                LogFormat::Json => builder.json().try_init(),
            }
        }
    };
    let _ = STDERR.set(stderr);
    result.map_err(|e| format!("cannot set up logging: {e}"))
}

/// Colour in the log only on a terminal: stderr is one and `NO_COLOR` is unset or empty (<https://no-color.org>).
/// Never in `--log-file`.
fn colour() -> bool {
    use std::io::IsTerminal;
    io::stderr().is_terminal() && !matches!(std::env::var_os("NO_COLOR"), Some(v) if !v.is_empty())
}

/// Writes `text` and a newline to stderr, after the log lines queued before it, without blocking for long: at most
/// [`EXIT_WAIT`] while the queue is full. Before [`init`], writes directly.
pub fn eprint_line(text: &str) {
    match STDERR.get() {
        Some(stderr) => stderr.send_within(format!("{text}\n").as_bytes(), EXIT_WAIT),
        None => eprintln!("{text}"),
    }
}

/// Writes out what is queued for stderr and the log, waiting at most [`EXIT_WAIT`] in all.
pub fn flush_at_exit() {
    let deadline = Instant::now() + EXIT_WAIT;
    for writer in [LOG.get(), STDERR.get()].into_iter().flatten() {
        writer.flush(deadline.saturating_duration_since(Instant::now()));
    }
}

/// The `MakeWriter` of the subscriber: each formatted event goes to the writer thread as one message.
struct Lines(Arc<Background>);

/// One event's writer.
pub struct Line<'a>(&'a Background);

impl io::Write for Line<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.send(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Lines {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Line<'a> {
        Line(&self.0)
    }
}

fn text_notice(n: u64) -> Vec<u8> {
    format!("supervise: {n} log lines dropped (the log could not keep up)\n").into_bytes()
}

fn json_notice(n: u64) -> Vec<u8> {
    let line = serde_json::json!({
        "level": "WARN",
        "fields": { "message": "log lines dropped (the log could not keep up)", "dropped": n },
    });
    format!("{line}\n").into_bytes()
}
