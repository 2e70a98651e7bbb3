//! The client end of the control socket, for `supervise ps` and `supervise watch`: synchronous (no runtime), with a
//! time limit on every reply but the stream of a watch. [`running`] lists the supervisors of the directory and
//! removes the stale sockets it meets; [`Session`] speaks to one.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use crate::modes::control::dir::{self, Liveness};
use crate::modes::control::protocol::{line, Filter, Reply, Request, Status, MAX_LINE, VERSION};

/// How long a reply may take.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a supervise could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {path}")]
    Connect {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the control socket failed")]
    Io(#[from] io::Error),
    /// supervise's `error` line.
    #[error("{0}")]
    Refused(String),
    #[error("the connection closed")]
    Closed,
    #[error("unexpected reply: {0}")]
    Unexpected(String),
}

/// A running supervise found in the directory.
#[derive(Debug)]
pub struct Running {
    pub pid: u32,
    pub path: PathBuf,
    /// Connected already (found live).
    pub stream: Option<UnixStream>,
}

/// The supervisors whose sockets are in `dirs` (see [`dir::runtime_dirs`]), by pid; a directory that is not
/// [`dir::trusted`] is skipped. Stale sockets (their pid is gone, or nobody listens) are removed on the way; a socket
/// that cannot be judged (permissions) is listed without a connection.
pub fn running(dirs: &[PathBuf]) -> Vec<Running> {
    let own = std::process::id();
    let mut found = Vec::new();
    let sockets = dirs.iter().filter(|d| dir::trusted(d)).flat_map(|d| dir::sockets(d));
    for (pid, path) in sockets {
        if pid == own {
            continue;
        }
        match dir::liveness(pid, &path) {
            (Liveness::Dead | Liveness::Refused, _) => {
                let _ = std::fs::remove_file(&path);
            }
            (_, stream) => found.push(Running { pid, path, stream }),
        }
    }
    found
}

/// A connection that has said hello.
pub struct Session {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    /// supervise's pid, from its hello.
    pub pid: u32,
}

impl Session {
    /// Says hello on `running`'s connection (or a new one).
    ///
    /// # Errors
    /// A [`ClientError`]: cannot connect, refused (another uid), a version mismatch, a timeout.
    pub fn open(running: Running) -> Result<Session, ClientError> {
        let stream = match running.stream {
            Some(stream) => stream,
            None => dir::connect(&running.path)
                .map_err(|source| ClientError::Connect { path: running.path.clone(), source })?,
        };
        stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
        stream.set_write_timeout(Some(REPLY_TIMEOUT))?;
        let writer = stream.try_clone()?;
        let mut session = Session { reader: BufReader::new(stream), writer, pid: running.pid };
        session.send(&Request::Hello { version: VERSION })?;
        match session.receive()? {
            Reply::Hello { pid, .. } => {
                session.pid = pid;
                Ok(session)
            }
            other => Err(unexpected(other)),
        }
    }

    /// Asks for the status.
    ///
    /// # Errors
    /// A [`ClientError`].
    pub fn status(&mut self) -> Result<Status, ClientError> {
        self.send(&Request::Status)?;
        match self.receive()? {
            Reply::Status(status) => Ok(status),
            other => Err(unexpected(other)),
        }
    }

    /// Starts a watch; then [`Session::receive`] gives the decisions, without a time limit.
    ///
    /// # Errors
    /// A [`ClientError`].
    pub fn watch(&mut self, filter: Filter) -> Result<(), ClientError> {
        self.send(&Request::Watch(filter))?;
        match self.receive()? {
            Reply::Watching => {
                self.reader.get_ref().set_read_timeout(None)?;
                Ok(())
            }
            other => Err(unexpected(other)),
        }
    }

    /// The next message; an `error` line is a [`ClientError::Refused`], the end of the stream [`ClientError::Closed`].
    ///
    /// # Errors
    /// A [`ClientError`].
    pub fn receive(&mut self) -> Result<Reply, ClientError> {
        let mut buf = Vec::new();
        let limit = u64::try_from(MAX_LINE + 1).unwrap_or(u64::MAX);
        let n = (&mut self.reader).take(limit).read_until(b'\n', &mut buf)?;
        if n == 0 || buf.last() != Some(&b'\n') {
            return Err(ClientError::Closed);
        }
        match serde_json::from_slice::<Reply>(&buf) {
            Ok(Reply::Error { message }) => Err(ClientError::Refused(message)),
            Ok(reply) => Ok(reply),
            Err(e) => Err(ClientError::Unexpected(format!("{e}: {}", String::from_utf8_lossy(&buf).trim_end()))),
        }
    }

    fn send(&mut self, request: &Request) -> Result<(), ClientError> {
        self.writer.write_all(&line(request)).map_err(|e| match e.kind() {
            // A refusal is written before the close: read it rather than report the broken pipe.
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => match self.receive() {
                Err(refused @ ClientError::Refused(_)) => refused,
                _ => ClientError::Io(e),
            },
            _ => ClientError::Io(e),
        })
    }
}

/// An error with its sources, on one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

fn unexpected(reply: Reply) -> ClientError {
    ClientError::Unexpected(String::from_utf8_lossy(&line(&reply)).trim_end().to_string())
}
