//! The control socket of a running supervise (`supervise -- PROGRAM` and `serve`), and what `supervise ps` and
//! `supervise watch` read from it. Shared by those modes; core knows nothing of it (it only calls an
//! [`Observer`]).
//!
//! - [`Hub`]: what one supervise shows: who it is, its [`Target`]s (the program, or each container process), their
//!   decision [`counters`], the prompts waiting, and the [`stream`] of decisions (bounded, lock-free on the notify
//!   thread's side).
//! - [`Target`] is the [`Observer`] given to a notify loop: per decision one atomic add, and an [`protocol::Event`]
//!   built and handed on (`try_send`) only while someone watches. It never waits.
//! - [`server`]: the socket's accept loop, on tasks of the runtime, never on the notify thread. [`dir`]: where the
//!   sockets are. [`client`]: the other end, for `ps` and `watch`. [`protocol`]: the messages. [`procs`]: the
//!   processes of a target.
//!
//! [`start`] binds the socket and returns a [`Control`]; its accept loop is spawned by [`Control::serve`] inside the
//! runtime. Failing to set it up is a warning: supervise runs without it.

pub mod client;
pub mod counters;
pub mod dir;
pub mod procs;
pub mod protocol;
pub mod server;
pub mod stream;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tracing::{debug, warn};

use crate::core::observe::{Decided, Observer};
use crate::core::prompt::{Key, Prompter, Question, Status as PromptQueue};
use counters::Counters;
use protocol::{Container, Event, PromptStatus, Status, TargetStatus};
use stream::Stream;

/// supervise's mode, as `ps` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Run,
    Serve,
}

/// What one running supervise shows on its control socket.
pub struct Hub {
    mode: Mode,
    command: Vec<String>,
    policy: Option<String>,
    started: SystemTime,
    since: Instant,
    targets: Mutex<Vec<Arc<Target>>>,
    stream: Arc<Stream>,
    prompts: Arc<Mutex<PromptStatus>>,
}

impl Hub {
    /// The hub of this supervise: its mode, command line and policy file.
    pub fn new(mode: Mode, policy: Option<String>) -> Arc<Hub> {
        Arc::new(Hub {
            mode,
            command: std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect(),
            policy,
            started: SystemTime::now(),
            since: Instant::now(),
            targets: Mutex::new(Vec::new()),
            stream: Arc::new(Stream::default()),
            prompts: Arc::new(Mutex::new(PromptStatus::default())),
        })
    }

    /// Adds a target (`root`: its first process) and returns it: the observer for its notify loop. It is listed
    /// until [`Hub::remove`].
    pub fn add(&self, container: Option<Container>, root: u32) -> Arc<Target> {
        let target = Arc::new(Target { container, root, counters: Counters::default(), stream: self.stream.clone() });
        self.targets.lock().expect("not poisoned").push(target.clone());
        target
    }

    /// Stops listing `target` (its container is gone).
    pub fn remove(&self, target: &Arc<Target>) {
        self.targets.lock().expect("not poisoned").retain(|t| !Arc::ptr_eq(t, target));
    }

    /// The decision stream.
    pub fn stream(&self) -> &Arc<Stream> {
        &self.stream
    }

    /// Wraps the terminal's prompter so that `ps` sees the questions waiting.
    pub fn watch_prompts(&self, prompter: Box<dyn Prompter>) -> Box<dyn Prompter> {
        Box::new(Counted { inner: prompter, status: self.prompts.clone() })
    }

    /// The status `ps` shows. Reads /proc: call it off the runtime's thread (`spawn_blocking`).
    pub fn status(&self) -> Status {
        let targets = self.targets.lock().expect("not poisoned").clone();
        let own = std::process::id();
        let targets = targets
            .iter()
            .map(|t| {
                // Run mode: everything below supervise (a subreaper), supervise itself left out.
                let processes = match self.mode {
                    Mode::Run => procs::tree(own, false),
                    Mode::Serve => procs::tree(t.root, true),
                };
                TargetStatus {
                    container: t.container.clone(),
                    pid: t.root,
                    processes,
                    decisions: t.counters.snapshot(crate::kernel::syscalls::name_of),
                }
            })
            .collect();
        Status {
            pid: own,
            mode: match self.mode {
                Mode::Run => "run".into(),
                Mode::Serve => "serve".into(),
            },
            command: self.command.clone(),
            policy: self.policy.clone(),
            started: self.started.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs(),
            uptime_secs: self.since.elapsed().as_secs(),
            targets,
            prompts: self.prompts.lock().expect("not poisoned").clone(),
        }
    }
}

/// A supervised program or container process: the [`Observer`] of its notify loop.
pub struct Target {
    container: Option<Container>,
    root: u32,
    counters: Counters,
    stream: Arc<Stream>,
}

impl Observer for Target {
    fn decided(&self, d: &Decided<'_>) {
        let decision = counters::decision_index(d.decision);
        self.counters.add(d.arch, d.nr, decision);
        if !self.stream.watched() {
            return;
        }
        let errno = match d.decision {
            proto::Decision::Deny(errno) => Some(u64::from(errno.get())),
            proto::Decision::Prompt(spec) => Some(u64::from(spec.errno.get())),
            _ => None,
        };
        let emulator = match d.decision {
            proto::Decision::Emulate(emulator) => Some(emulator.name().to_string()),
            _ => None,
        };
        let paths = d.facts.paths.as_deref().unwrap_or_default();
        let path = |i: usize| paths.get(i).map(|p| crate::core::describe::show(p));
        let event = Event {
            time_ms: u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis())
                .unwrap_or(u64::MAX),
            container: self.container.as_ref().map(|c| c.id.clone()),
            pid: d.pid,
            exe: crate::core::notify::proc_exe(d.pid),
            syscall: d.syscall.to_string(),
            arch: d.arch.to_string(),
            args: d.args,
            path: path(0),
            path2: path(1),
            address: d.facts.address.as_ref().map(|a| a.describe(d.facts.socket_type)),
            rule: d.rule.map(|r| r as u64),
            decision: counters::DECISIONS[decision].to_string(),
            errno,
            emulator,
        };
        // Never waits: see `stream`.
        self.stream.publish(event);
    }
}

/// The container's identity from the OCI state: its id, and the pod, namespace and container name that CRI-O
/// (`io.kubernetes.pod.name`, …) or containerd (`io.kubernetes.cri.sandbox-name`, …) put in the annotations.
pub fn container(id: &str, annotations: &HashMap<String, String>) -> Container {
    let first = |keys: &[&str]| keys.iter().find_map(|k| annotations.get(*k)).filter(|v| !v.is_empty()).cloned();
    Container {
        id: id.to_string(),
        pod: first(&["io.kubernetes.pod.name", "io.kubernetes.cri.sandbox-name"]),
        namespace: first(&["io.kubernetes.pod.namespace", "io.kubernetes.cri.sandbox-namespace"]),
        name: first(&["io.kubernetes.container.name", "io.kubernetes.cri.container-name"]),
    }
}

/// A prompter that tells the hub which question is shown and how many wait.
struct Counted {
    inner: Box<dyn Prompter>,
    status: Arc<Mutex<PromptStatus>>,
}

impl Prompter for Counted {
    fn show(&mut self, question: &Question, remaining: Duration, status: &PromptQueue) -> std::io::Result<()> {
        let shown = format!("pid {} {} {}({})", question.pid, question.exe, question.syscall, question.args);
        *self.status.lock().expect("not poisoned") =
            PromptStatus { pending: status.waiting + 1, shown: Some(crate::core::prompt::render::clean(&shown)) };
        self.inner.show(question, remaining, status)
    }

    fn note(&mut self, line: &str) -> std::io::Result<()> {
        self.inner.note(line)
    }

    fn clear(&mut self) {
        *self.status.lock().expect("not poisoned") = PromptStatus::default();
        self.inner.clear();
    }

    fn next_key(&mut self) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<Key>> + Send + '_>> {
        self.inner.next_key()
    }
}

/// A bound control socket. Dropping it removes the socket.
pub struct Control {
    listener: Option<std::os::unix::net::UnixListener>,
    bound: dir::Bound,
    dir: std::path::PathBuf,
}

/// Binds this supervise's control socket (see [`dir`]). `None`, after a warning, when it cannot: supervise then
/// runs without one.
pub fn start() -> Option<Control> {
    let mut failures = Vec::new();
    for dir in dir::runtime_dirs() {
        let bound = dir::prepare(&dir).map_err(|e| e.to_string()).and_then(|()| {
            dir::bind(&dir)
                .map_err(|e| format!("cannot create {}: {e}", dir::socket_path(&dir, std::process::id()).display()))
        });
        match bound {
            Ok((listener, bound)) => {
                debug!(socket = %bound.path.display(), unusable = %failures.join("; "), "control socket");
                return Some(Control { listener: Some(listener), bound, dir });
            }
            Err(e) => failures.push(e),
        }
    }
    warn!("no control socket (supervise ps and watch will not see this run): {}", failures.join("; "));
    None
}

impl Control {
    /// The socket's path.
    pub fn path(&self) -> &std::path::Path {
        &self.bound.path
    }

    /// Serves the socket on tasks of the current runtime until the runtime ends (once; later calls do nothing).
    /// Stale sockets of the directory are removed first, on a blocking thread.
    pub fn serve(&mut self, hub: Arc<Hub>) {
        let Some(listener) = self.listener.take() else { return };
        let listener = match listener.set_nonblocking(true).and_then(|()| tokio::net::UnixListener::from_std(listener))
        {
            Ok(listener) => listener,
            Err(e) => return warn!(error = %e, "cannot serve the control socket"),
        };
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            let removed = dir::clean_stale(&dir);
            if removed > 0 {
                debug!(removed, "stale control sockets removed");
            }
        });
        tokio::spawn(server::run(listener, hub, server::Limits::default(), std::future::pending::<()>()));
    }
}
