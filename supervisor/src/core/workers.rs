//! Threads for calls that may wait (a blocking connect or send, a path call on a filesystem that may hang): each
//! call runs on a thread of its own, so that no call waits for another, and threads are kept for the next call
//! instead of being made for each one. A worker that has had nothing to do for [`IDLE`] ends.
//!
//! A new thread per call cost about 0.4 ms per notified loopback connect on a 2-vCPU VM (the spawn, its first
//! scheduling, and its first change of credentials); handing the call to a waiting worker is a channel send.

use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// How long an idle worker waits for another call before it ends.
const IDLE: Duration = Duration::from_secs(10);

/// The most workers at once: past it a call is refused (the caller answers EAGAIN), so that a program cannot make
/// supervise hold threads (and the memory of the calls they wait in) without bound, with many calls that wait at
/// once.
pub const MAX_WORKERS: usize = 512;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// The idle workers, each by its number and the sender of its queue.
struct Pool {
    idle: Mutex<Vec<(u64, Sender<Job>)>>,
    next: Mutex<u64>,
    /// Workers alive, idle or not.
    live: std::sync::atomic::AtomicUsize,
    /// The most workers alive at once.
    max: usize,
}

impl Pool {
    fn new(max: usize) -> Pool {
        Pool { idle: Mutex::new(Vec::new()), next: Mutex::new(0), live: Default::default(), max }
    }
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool::new(MAX_WORKERS))
}

/// Runs `job` on an idle worker, or on a new thread named `name` if none is idle.
///
/// # Errors
/// The job back if no thread can be started, or [`MAX_WORKERS`] are busy (the caller answers for it).
pub fn run(name: &str, job: impl FnOnce() + Send + 'static) -> Result<(), Box<dyn FnOnce() + Send>> {
    run_in(pool(), name, Box::new(job))
}

fn run_in(pool: &'static Pool, name: &str, mut job: Job) -> Result<(), Job> {
    loop {
        let worker = pool.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let Some((_, sender)) = worker else { break };
        // A worker that has just ended dropped its receiver: the job comes back and the next one is tried.
        match sender.send(job) {
            Ok(()) => return Ok(()),
            Err(returned) => job = returned.0,
        }
    }
    use std::sync::atomic::Ordering;
    if pool.live.fetch_add(1, Ordering::Relaxed) >= pool.max {
        pool.live.fetch_sub(1, Ordering::Relaxed);
        tracing::warn!(
            workers = pool.max,
            "every worker is busy with a call that waits: this call is refused (EAGAIN)"
        );
        return Err(job);
    }
    let id = {
        let mut next = pool.next.lock().unwrap_or_else(|e| e.into_inner());
        *next += 1;
        *next
    };
    let (sender, receiver) = channel::<Job>();
    let first = std::sync::Arc::new(Mutex::new(Some(job)));
    let taken = first.clone();
    let spawned = std::thread::Builder::new().name(name.into()).spawn(move || {
        let _alive = Alive(&pool.live);
        if let Some(job) = taken.lock().unwrap_or_else(|e| e.into_inner()).take() {
            job();
        }
        loop {
            pool.idle.lock().unwrap_or_else(|e| e.into_inner()).push((id, sender.clone()));
            match receiver.recv_timeout(IDLE) {
                Ok(job) => job(),
                Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => {
                    let mut idle = pool.idle.lock().unwrap_or_else(|e| e.into_inner());
                    match idle.iter().position(|(i, _)| *i == id) {
                        // Still idle: end (a job sent from now on comes back to its sender).
                        Some(at) => {
                            idle.swap_remove(at);
                            return;
                        }
                        // Taken off the idle list by a caller: its job is on the way.
                        None => {
                            drop(idle);
                            match receiver.recv() {
                                Ok(job) => job(),
                                Err(_) => return,
                            }
                        }
                    }
                }
            }
        }
    });
    match spawned {
        Ok(_) => Ok(()),
        Err(_) => {
            pool.live.fetch_sub(1, Ordering::Relaxed);
            Err(first.lock().unwrap_or_else(|e| e.into_inner()).take().expect("the job was not run"))
        }
    }
}

/// Counts a worker out of [`Pool::live`] when it ends, however it ends.
struct Alive(&'static std::sync::atomic::AtomicUsize);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn jobs_run_at_once_and_workers_are_reused() {
        let (done, finished) = mpsc::channel();
        for i in 0..20 {
            let done = done.clone();
            assert!(run("test-worker", move || done.send((i, std::thread::current().id())).unwrap()).is_ok());
            // Let the worker go idle, so that the next job reuses it.
            std::thread::sleep(Duration::from_millis(5));
        }
        let got: Vec<_> = (0..20).map(|_| finished.recv_timeout(Duration::from_secs(5)).unwrap()).collect();
        let threads: std::collections::BTreeSet<_> = got.iter().map(|(_, t)| format!("{t:?}")).collect();
        assert!(threads.len() < 20, "workers reused: {} threads for 20 jobs", threads.len());
    }

    #[test]
    fn past_max_workers_busy_a_job_is_refused() {
        let (release, wait) = mpsc::channel::<()>();
        let wait = std::sync::Arc::new(Mutex::new(wait));
        // A pool of its own: the shared one serves the other tests meanwhile.
        let pool: &'static Pool = Box::leak(Box::new(Pool::new(4)));
        let mut accepted = 0;
        for _ in 0..12 {
            let wait = wait.clone();
            let job = move || {
                let _ = wait.lock().unwrap().recv_timeout(Duration::from_secs(20));
            };
            if run_in(pool, "test-busy", Box::new(job)).is_err() {
                break;
            }
            accepted += 1;
        }
        assert_eq!(accepted, 4, "the fifth job waiting at once was refused");
        for _ in 0..accepted {
            let _ = release.send(());
        }
    }

    #[test]
    fn a_waiting_job_holds_up_no_other() {
        let (release, wait) = mpsc::channel::<()>();
        let (done, finished) = mpsc::channel();
        let waits = run("test-worker", move || {
            let _ = wait.recv_timeout(Duration::from_secs(10));
        });
        assert!(waits.is_ok());
        assert!(run("test-worker", move || done.send(()).unwrap()).is_ok());
        finished.recv_timeout(Duration::from_secs(5)).expect("the second job ran while the first waited");
        release.send(()).unwrap();
    }
}
