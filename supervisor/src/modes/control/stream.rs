//! The decision stream of `supervise watch`, in two hops so that the notify thread never shares a lock with the
//! control socket's tasks:
//!
//! 1. the notify thread hands each decision to a bounded channel with `try_send` (lock-free; [`Stream::publish`]),
//!    only while someone watches and reads ([`Stream::watched`]); when the channel is full, or every watcher's
//!    write has stalled for [`STALL`], the decision is only counted as missed, never waited for;
//! 2. one task ([`Stream::fan_out`]) encodes each decision once as its JSON line and broadcasts it to the watchers
//!    on a bounded `broadcast` channel; a watcher that falls behind loses the oldest lines and is told how many
//!    (`lagged`). Watchers write what has piled up in one write ([`Watcher::batch`]).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, mpsc};

use crate::modes::control::protocol::{line, Event, Filter, Reply};

/// Decisions that may wait between the hops, and lines kept for watchers that fall behind.
pub const EVENTS: usize = 1024;
/// The most a watcher writes at once.
pub const BATCH: usize = 64 * 1024;
/// A watcher whose write has waited this long no longer counts as reading ([`Watcher::set_ready`]).
pub const STALL: std::time::Duration = std::time::Duration::from_millis(10);

/// A decision encoded once for every watcher (or a `lagged` line, without an event).
#[derive(Debug)]
pub struct Encoded {
    pub event: Option<Event>,
    pub line: Vec<u8>,
}

/// The decision stream of one supervise.
pub struct Stream {
    tx: mpsc::Sender<Event>,
    rx: Mutex<Option<mpsc::Receiver<Event>>>,
    /// Decisions the first hop could not take (full).
    missed: AtomicU64,
    out: broadcast::Sender<Arc<Encoded>>,
    watchers: AtomicUsize,
    /// Watchers whose last write did not stall: only for them are decisions turned into events.
    ready: AtomicUsize,
}

impl Default for Stream {
    fn default() -> Stream {
        let (tx, rx) = mpsc::channel(EVENTS);
        let (out, _) = broadcast::channel(EVENTS);
        let (missed, watchers, ready) = (AtomicU64::new(0), AtomicUsize::new(0), AtomicUsize::new(0));
        Stream { tx, rx: Mutex::new(Some(rx)), missed, out, watchers, ready }
    }
}

impl Stream {
    /// True while someone watches and reads: only then is a decision turned into an [`Event`]. While every
    /// watcher's write is stalled (and while the first hop is full), decisions are only counted as missed, so that
    /// a watcher that does not read costs nothing.
    pub fn watched(&self) -> bool {
        if self.ready.load(Ordering::Relaxed) == 0 {
            if self.watchers.load(Ordering::Relaxed) > 0 {
                self.missed.fetch_add(1, Ordering::Relaxed);
            }
            return false;
        }
        if self.tx.capacity() == 0 {
            self.missed.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// How many watch.
    pub fn watchers(&self) -> usize {
        self.watchers.load(Ordering::Relaxed)
    }

    /// Hands a decision on without waiting (called on the notify thread).
    pub fn publish(&self, event: Event) {
        if self.tx.try_send(event).is_err() {
            self.missed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The second hop: encodes and broadcasts until the stream is dropped. Runs once (later calls return at once).
    pub async fn fan_out(self: Arc<Stream>) {
        let Some(mut rx) = self.rx.lock().expect("not poisoned").take() else { return };
        while let Some(event) = rx.recv().await {
            let missed = self.missed.swap(0, Ordering::Relaxed);
            if missed > 0 {
                let _ = self.out.send(Arc::new(Encoded { event: None, line: line(&Reply::Lagged { missed }) }));
            }
            let encoded = line(&Reply::Decision(event.clone()));
            let _ = self.out.send(Arc::new(Encoded { event: Some(event), line: encoded }));
        }
    }

    /// A watcher, counted until dropped.
    pub fn watch(self: &Arc<Stream>) -> Watcher {
        let rx = self.out.subscribe();
        self.watchers.fetch_add(1, Ordering::Relaxed);
        self.ready.fetch_add(1, Ordering::Relaxed);
        Watcher { rx, stream: self.clone(), ready: true }
    }
}

/// One watcher's receiver.
pub struct Watcher {
    rx: broadcast::Receiver<Arc<Encoded>>,
    stream: Arc<Stream>,
    ready: bool,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.set_ready(false);
        self.stream.watchers.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Watcher {
    /// True unless its last write stalled.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// Whether this watcher reads (its writes do not stall); see [`Stream::watched`].
    pub fn set_ready(&mut self, ready: bool) {
        if ready != self.ready {
            self.ready = ready;
            if ready {
                self.stream.ready.fetch_add(1, Ordering::Relaxed);
            } else {
                self.stream.ready.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    /// Waits for the next lines that pass `filter` and returns them with whatever else has piled up (at most about
    /// [`BATCH`] bytes), for one write. `None`: the stream has ended.
    pub async fn batch(&mut self, filter: &Filter) -> Option<Vec<u8>> {
        use broadcast::error::{RecvError, TryRecvError};
        let mut out = Vec::new();
        loop {
            // Wait while nothing is ready to write; then take only what is there.
            let received = if out.is_empty() {
                self.rx.recv().await
            } else {
                match self.rx.try_recv() {
                    Ok(item) => Ok(item),
                    Err(TryRecvError::Empty) => return Some(out),
                    Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
                    Err(TryRecvError::Closed) => Err(RecvError::Closed),
                }
            };
            match received {
                Ok(item) => {
                    if item.event.as_ref().is_none_or(|e| filter.matches(e)) {
                        out.extend_from_slice(&item.line);
                    }
                }
                Err(RecvError::Lagged(missed)) => out.extend(line(&Reply::Lagged { missed })),
                Err(RecvError::Closed) => return if out.is_empty() { None } else { Some(out) },
            }
            if out.len() >= BATCH {
                return Some(out);
            }
        }
    }
}
