//! The control socket's server: [`run`] accepts connections until its shutdown future completes, one task per
//! connection, at most [`Limits::max_clients`] at once. It runs on the runtime's tasks, never on a notify thread, and
//! nothing it does can hold up a notification: the decisions reach it through a bounded broadcast channel that
//! drops the oldest for a watcher that falls behind (told with `lagged`).
//!
//! Each connection: the peer's credentials (`SO_PEERCRED`) must be supervise's effective uid or root, else one
//! `error` line and the connection is closed; then a `hello` within [`Limits::idle`], then requests. A line longer
//! than [`MAX_LINE`], bad JSON, an unknown request, a second `hello` or silence for [`Limits::idle`] closes that
//! connection (with an `error` line), and only it. A client that does not read its replies for
//! [`Limits::write_timeout`] is dropped.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tracing::{debug, warn};

use crate::modes::control::counters::DECISIONS;
use crate::modes::control::protocol::{line, Filter, Reply, Request, MAX_LINE, VERSION};
use crate::modes::control::stream::STALL;
use crate::modes::control::Hub;

/// Clients served at once; more are closed with an error line.
pub const MAX_CLIENTS: usize = 64;

/// The server's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_clients: usize,
    /// The longest wait for the `hello` and between requests.
    pub idle: Duration,
    /// The longest a reply may wait for the client to read.
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_clients: MAX_CLIENTS, idle: Duration::from_secs(5), write_timeout: Duration::from_secs(2) }
    }
}

/// Accepts connections until `shutdown` completes.
pub async fn run(listener: UnixListener, hub: Arc<Hub>, limits: Limits, shutdown: impl Future) {
    tokio::pin!(shutdown);
    let permits = Arc::new(Semaphore::new(limits.max_clients));
    let fan_out = tokio::spawn(hub.stream().clone().fan_out());
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let Ok(permit) = permits.clone().try_acquire_owned() else {
                        // Never waits: a client that cannot take the line at once just sees the close.
                        let message = format!("too many clients ({} at most)", limits.max_clients);
                        let _ = stream.try_write(&line(&Reply::Error { message }));
                        continue;
                    };
                    tasks.spawn(connection(stream, hub.clone(), limits, permit));
                }
                Err(e) => {
                    warn!(error = %e, "control socket: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    tasks.shutdown().await;
    fan_out.abort();
}

/// Why a connection ends.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The client closed it, or the stream ended.
    Done,
    /// Bad input or a refusal: this line is sent, then the connection is closed.
    Error(String),
    /// The client does not read (or is gone): closed without a word.
    Stuck,
}

/// True if a peer with this uid may connect: supervise's own effective uid, or root.
pub fn allowed(peer_uid: u32, own_uid: u32) -> bool {
    peer_uid == own_uid || peer_uid == 0
}

async fn connection(stream: UnixStream, hub: Arc<Hub>, limits: Limits, _permit: OwnedSemaphorePermit) {
    let own = nix::unistd::geteuid().as_raw();
    let end = match stream.peer_cred() {
        Ok(cred) if allowed(cred.uid(), own) => None,
        Ok(cred) => {
            debug!(uid = cred.uid(), pid = cred.pid(), "control socket: connection refused");
            Some(End::Error(format!(
                "refused: uid {} may not use this control socket (only uid {own} and root)",
                cred.uid()
            )))
        }
        Err(e) => Some(End::Error(format!("refused: cannot read the peer's credentials: {e}"))),
    };
    let (read, mut write) = stream.into_split();
    let end = match end {
        Some(end) => end,
        None => session(&mut BufReader::with_capacity(4096, read), &mut write, &hub, limits).await,
    };
    if let End::Error(message) = end {
        let _ = send(&mut write, &Reply::Error { message }, limits).await;
    }
}

/// The hello, then requests until the end.
async fn session(
    reader: &mut BufReader<OwnedReadHalf>,
    write: &mut OwnedWriteHalf,
    hub: &Arc<Hub>,
    limits: Limits,
) -> End {
    match next_request(reader, limits).await {
        Ok(Request::Hello { version }) if version == VERSION => {}
        Ok(Request::Hello { version }) => {
            return End::Error(format!("unsupported protocol version {version}; this supervise speaks {VERSION}"))
        }
        Ok(_) => return End::Error("the first request must be hello".into()),
        Err(end) => return end,
    }
    let hello = Reply::Hello { version: VERSION, supervise: env!("CARGO_PKG_VERSION").into(), pid: std::process::id() };
    if let Err(end) = send(write, &hello, limits).await {
        return end;
    }
    loop {
        let reply = match next_request(reader, limits).await {
            Ok(Request::Hello { .. }) => return End::Error("hello was already said".into()),
            Ok(Request::Status) => {
                let hub = hub.clone();
                match tokio::task::spawn_blocking(move || hub.status()).await {
                    Ok(status) => Reply::Status(status),
                    Err(_) => return End::Error("cannot read the status".into()),
                }
            }
            Ok(Request::Watch(filter)) => return watch(reader, write, hub, filter, limits).await,
            Err(end) => return end,
        };
        if let Err(end) = send(write, &reply, limits).await {
            return end;
        }
    }
}

/// Streams the decisions that pass `filter` until the client closes the connection (anything it sends ends it).
async fn watch(
    reader: &mut BufReader<OwnedReadHalf>,
    write: &mut OwnedWriteHalf,
    hub: &Hub,
    filter: Filter,
    limits: Limits,
) -> End {
    if let Some(bad) = filter.decisions.iter().find(|d| !DECISIONS.contains(&d.as_str())) {
        return End::Error(format!("unknown decision {bad:?} (expected one of {})", DECISIONS.join(", ")));
    }
    let mut watcher = hub.stream().watch();
    if let Err(end) = send(write, &Reply::Watching, limits).await {
        return end;
    }
    loop {
        let lines = tokio::select! {
            lines = watcher.batch(&filter) => match lines {
                Some(lines) => lines,
                None => return End::Done,
            },
            // fill_buf is cancel-safe: nothing read is lost when the stream wins the race.
            input = reader.fill_buf() => return match input {
                Ok([]) | Err(_) => End::Done,
                Ok(_) => End::Error("nothing may be sent while watching".into()),
            },
        };
        // A write that stalls makes this watcher stop counting (decisions are no longer built for it alone) until
        // it completes; one that stalls for the write timeout ends the connection.
        let written = write.write_all(&lines);
        let (stall, deadline) = (tokio::time::sleep(STALL), tokio::time::sleep(limits.write_timeout));
        tokio::pin!(written, stall, deadline);
        loop {
            tokio::select! {
                result = &mut written => match result {
                    Ok(()) => break,
                    Err(_) => return End::Stuck,
                },
                () = &mut stall, if watcher.is_ready() => watcher.set_ready(false),
                () = &mut deadline => return End::Stuck,
            }
        }
        watcher.set_ready(true);
    }
}

/// Reads and parses the next request within [`Limits::idle`].
async fn next_request(reader: &mut BufReader<OwnedReadHalf>, limits: Limits) -> Result<Request, End> {
    let mut buf = Vec::new();
    let limit = u64::try_from(MAX_LINE + 1).unwrap_or(u64::MAX);
    let read = tokio::time::timeout(limits.idle, (&mut *reader).take(limit).read_until(b'\n', &mut buf)).await;
    match read {
        Err(_) => return Err(End::Error(format!("nothing received for {} s", limits.idle.as_secs()))),
        Ok(Err(_) | Ok(0)) => return Err(End::Done),
        Ok(Ok(_)) => {}
    }
    if buf.last() != Some(&b'\n') {
        return Err(if buf.len() > MAX_LINE {
            End::Error(format!("line longer than {MAX_LINE} bytes"))
        } else {
            End::Done
        });
    }
    serde_json::from_slice::<Request>(&buf).map_err(|e| End::Error(format!("bad request: {e}")))
}

/// Writes one reply within [`Limits::write_timeout`].
async fn send(write: &mut OwnedWriteHalf, reply: &Reply, limits: Limits) -> Result<(), End> {
    match tokio::time::timeout(limits.write_timeout, write.write_all(&line(reply))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) | Err(_) => Err(End::Stuck),
    }
}

#[cfg(test)]
mod tests;
