//! [`Background`]: a writer thread behind a bounded queue, so that the thread that logs never waits for the log.
//!
//! A log line is handed over with `try_send`; when the queue is full (the terminal's output is stopped with Ctrl-S,
//! a pipe nobody reads, a slow disk) the line is dropped and counted, and the writer says how many were dropped
//! before the next line it writes. The notify thread and the prompt task therefore never block on stderr or on
//! the log file. [`Background::flush`] waits for what is queued, but only until a deadline: the exit never hangs
//! on a stopped terminal either (the writer thread, possibly blocked in write(2), ends with the process).

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the writer reports dropped lines: the text of one line (with its newline) for `n` dropped lines.
pub type Notice = fn(n: u64) -> Vec<u8>;

enum Message {
    /// Bytes to write, and how many had been dropped when they were queued (so the report comes at the gap).
    Bytes(Vec<u8>, u64),
    Flush(SyncSender<()>),
}

/// The sending side; cheap to share.
pub struct Background {
    tx: SyncSender<Message>,
    dropped: Arc<AtomicU64>,
}

impl Background {
    /// Starts the writer thread for `sink`, with room for `capacity` queued writes.
    ///
    /// # Errors
    /// If the thread cannot be started.
    pub fn start(sink: Box<dyn Write + Send>, capacity: usize, notice: Notice) -> io::Result<Background> {
        let (tx, rx) = mpsc::sync_channel(capacity);
        let dropped = Arc::new(AtomicU64::new(0));
        let counted = dropped.clone();
        std::thread::Builder::new()
            .name("supervise-log".into())
            .spawn(move || write_all(rx, sink, &counted, notice))?;
        Ok(Background { tx, dropped })
    }

    /// Queues `bytes` without waiting; drops them (and counts them) if the queue is full.
    pub fn send(&self, bytes: &[u8]) {
        if let Err(TrySendError::Full(_)) = self.tx.try_send(Message::Bytes(bytes.to_vec(), self.dropped())) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Lines dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Queues `bytes`, waiting at most `timeout` for room; drops (and counts) them after that.
    pub fn send_within(&self, bytes: &[u8], timeout: Duration) {
        if !self.offer(Message::Bytes(bytes.to_vec(), self.dropped()), Instant::now() + timeout) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Waits until everything queued before this call is written and flushed, or until `timeout` has passed.
    /// True if it was written in time.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (ack, done) = mpsc::sync_channel(1);
        self.offer(Message::Flush(ack), deadline)
            && done.recv_timeout(deadline.saturating_duration_since(Instant::now())).is_ok()
    }

    /// Queues `message`, polling for room until `deadline`. False if it could not be queued.
    fn offer(&self, mut message: Message, deadline: Instant) -> bool {
        loop {
            match self.tx.try_send(message) {
                Ok(()) => return true,
                Err(TrySendError::Disconnected(_)) => return false,
                Err(TrySendError::Full(back)) => {
                    if Instant::now() >= deadline {
                        return false;
                    }
                    message = back;
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        }
    }
}

/// The writer thread: writes each message in order, with a report of the lines dropped where they were dropped
/// (before the first line queued after them, or at a flush).
fn write_all(rx: Receiver<Message>, mut sink: Box<dyn Write + Send>, dropped: &AtomicU64, notice: Notice) {
    let mut reported = 0;
    let mut report = |sink: &mut Box<dyn Write + Send>, lost: u64| {
        if lost > reported {
            let _ = sink.write_all(&notice(lost - reported));
            reported = lost;
        }
    };
    for message in rx {
        match message {
            Message::Bytes(bytes, lost) => {
                report(&mut sink, lost);
                let _ = sink.write_all(&bytes);
            }
            Message::Flush(ack) => {
                report(&mut sink, dropped.load(Ordering::Relaxed));
                let _ = sink.flush();
                let _ = ack.send(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A sink that blocks every write until the test opens the gate, and keeps what it was given.
    #[derive(Clone)]
    struct Gated {
        open: Arc<(Mutex<bool>, std::sync::Condvar)>,
        written: Arc<Mutex<Vec<u8>>>,
    }

    impl Write for Gated {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let (lock, cv) = &*self.open;
            let mut open = lock.lock().unwrap();
            while !*open {
                open = cv.wait(open).unwrap();
            }
            self.written.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn notice(n: u64) -> Vec<u8> {
        format!("dropped {n}\n").into_bytes()
    }

    #[test]
    fn a_blocked_sink_never_blocks_the_sender_and_dropped_lines_are_counted_then_reported() {
        let sink = Gated { open: Default::default(), written: Default::default() };
        let log = Background::start(Box::new(sink.clone()), 4, notice).unwrap();
        let start = Instant::now();
        for i in 0..100 {
            log.send(format!("line {i}\n").as_bytes());
        }
        assert!(start.elapsed() < Duration::from_secs(1), "sending waited for the sink");
        // One line is held by the blocked writer, 4 wait in the queue: the rest are dropped.
        assert!(log.dropped() >= 95 - 1, "dropped {}", log.dropped());
        let flushed = Instant::now();
        assert!(!log.flush(Duration::from_millis(100)), "nothing can be written while the sink blocks");
        assert!(flushed.elapsed() < Duration::from_secs(1), "flush keeps to its deadline");
        {
            let (lock, cv) = &*sink.open;
            *lock.lock().unwrap() = true;
            cv.notify_all();
        }
        assert!(log.flush(Duration::from_secs(5)), "the queue drains once the sink takes writes again");
        log.send(b"after\n");
        assert!(log.flush(Duration::from_secs(5)));
        let written = String::from_utf8(sink.written.lock().unwrap().clone()).unwrap();
        // The lines that were queued, then the report of those dropped after them, then the next line.
        let kept = (0..100 - log.dropped()).map(|i| format!("line {i}\n")).collect::<String>();
        assert_eq!(written, format!("{kept}dropped {}\nafter\n", log.dropped()));
    }
}
