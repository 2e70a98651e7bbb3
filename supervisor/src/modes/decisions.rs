//! `supervise watch [PID]`: streams the decisions of a running supervise as they are taken, one line each (text like
//! the `--log-level info` lines, or `--format json`), filtered in supervise by `--syscall`, `--decision` and
//! `--pid`. Without PID, the only running supervise; with none or several, an error that lists them.
//!
//! The stream ends when that supervise ends (exit 0). A watcher that falls behind is told how many decisions it
//! missed, on stderr (in JSON, as a `lagged` line on stdout too); supervise never waits for it.

use std::io::Write;

use crate::modes::control::client::{error_chain, running, ClientError, Session};
use crate::modes::control::counters::DECISIONS;
use crate::modes::control::dir::runtime_dirs;
use crate::modes::control::protocol::{line, Filter, Format, Reply};
use crate::modes::exit::{Failure, EXIT_FAILURE};

/// Options of `supervise watch`.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// The supervise to watch (its pid); `None`: the only one running.
    pub supervisor: Option<u32>,
    pub format: Format,
    pub filter: Filter,
}

/// Streams decisions until the supervise ends; returns the exit status.
///
/// # Errors
/// A [`Failure`] (125): no such supervise, several and none chosen, a bad filter, or it refused the connection.
pub fn watch(options: &WatchOptions) -> Result<i32, Failure> {
    let fail = |line: String| Failure::new(EXIT_FAILURE, line);
    if let Some(bad) = options.filter.decisions.iter().find(|d| !DECISIONS.contains(&d.as_str())) {
        return Err(fail(format!("--decision {bad:?}: expected one of {}", DECISIONS.join(", "))));
    }
    let dirs = runtime_dirs();
    let dir = &dirs[0];
    let mut found = running(&dirs);
    let chosen = match options.supervisor {
        Some(pid) => found.into_iter().find(|r| r.pid == pid).ok_or_else(|| {
            fail(format!("no supervise with pid {pid} is running (control sockets: {})", dir.display()))
        })?,
        None if found.len() == 1 => found.remove(0),
        None if found.is_empty() => {
            return Err(fail(format!("no supervise is running (control sockets: {})", dir.display())))
        }
        None => {
            let pids: Vec<String> = found.iter().map(|r| r.pid.to_string()).collect();
            return Err(fail(format!(
                "{} supervisors are running (pids {}): say which, as in `supervise watch {}`",
                found.len(),
                pids.join(", "),
                pids[0]
            )));
        }
    };
    let pid = chosen.pid;
    let cannot = |e: ClientError| fail(format!("cannot watch supervise {pid}: {}", error_chain(&e)));
    let mut session = Session::open(chosen).map_err(cannot)?;
    session.watch(options.filter.clone()).map_err(cannot)?;
    // Straight to stderr, at once: a script may wait for it before it starts what it watches.
    let _ = writeln!(std::io::stderr(), "supervise: watching supervise {pid} (Ctrl-C to stop)");
    let json = options.format == Format::Json;
    let mut out = std::io::stdout().lock();
    loop {
        let text = match session.receive() {
            Ok(Reply::Decision(event)) if json => line(&Reply::Decision(event)),
            Ok(Reply::Decision(event)) => format!("{}\n", event.text()).into_bytes(),
            Ok(Reply::Lagged { missed }) => {
                crate::logging::eprint_line(&format!("supervise: {missed} decisions missed (watch fell behind)"));
                if !json {
                    continue;
                }
                line(&Reply::Lagged { missed })
            }
            Ok(_) => continue,
            Err(ClientError::Closed) => return Ok(0),
            Err(e) => return Err(cannot(e)),
        };
        match out.write_all(&text).and_then(|()| out.flush()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(0),
            Err(e) => return Err(fail(format!("cannot write to stdout: {e}"))),
        }
    }
}
