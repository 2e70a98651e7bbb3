//! `supervise serve`: a long-running OCI seccomp agent. runc and crun connect to `--socket` (the profile's
//! `listenerPath`) once per container start or exec, and send one message: the ContainerProcessState JSON plus the
//! seccomp listener fd over `SCM_RIGHTS`. Each connection becomes its own task with its own notify loop, deciding
//! from the policy that `listenerMetadata` selects (or `--policy`).
//!
//! Main pieces: [`serve`] (the command: policies, socket, signals), [`accept_loop`] (one task per connection,
//! testable in-process with any shutdown future), [`Policies`] (the default policy and those of `--policy-dir`),
//! [`Dropped`] (why a connection was refused).
//!
//! Bad input never stops the agent: malformed JSON, a missing fd, an fd that is not a seccomp listener, an oversized
//! message or a silent client is logged and dropped. A dropped listener fd is closed, so that the container's
//! notified syscalls fail with ENOSYS (fail closed).

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::stat::{umask, Mode};
use proto::{Arch, Policy};
use serde::Deserialize;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{error, info, warn, Instrument};

use crate::core::decide::Decider;
use crate::core::notify::PolicyHandler;
use crate::core::observe::Observer;
use crate::core::prompt::Prompts;
use crate::kernel::listener::Listener;
use crate::kernel::socket::recv_chunk;
use crate::modes::control::{self, Hub};
use crate::modes::exit::{Failure, EXIT_FAILURE};
use crate::modes::policy_file::{this_machine, Machine, Source};

/// Largest ContainerProcessState message accepted.
pub const MAX_MESSAGE: usize = 1 << 20;
/// How long a client may take to send its message, unless [`READ_TIMEOUT_ENV`] says otherwise.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Environment variable that sets the read timeout in milliseconds (for tests and slow nodes).
pub const READ_TIMEOUT_ENV: &str = "SUPERVISE_SERVE_READ_TIMEOUT_MS";
/// Most fds a message may carry; runc and crun send one or two (`seccompFd`, `pidFd`). A client that sends more
/// is dropped at once, so that one connection cannot fill the agent's fd table before its read timeout.
pub const MAX_FDS: usize = 16;
/// Connections that may wait for their message at once; more are closed at once, so that silent clients cannot
/// use up the agent's fds.
pub const MAX_PENDING: usize = 128;

/// `supervise serve` options.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub socket: PathBuf,
    pub policy: PathBuf,
    pub policy_dir: Option<PathBuf>,
}

/// Limits of the accept loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long a client may take to send its message.
    pub read_timeout: Duration,
    /// Connections that may wait for their message at once.
    pub max_pending: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { read_timeout: READ_TIMEOUT, max_pending: MAX_PENDING }
    }
}

impl Limits {
    /// The defaults, with the read timeout from [`READ_TIMEOUT_ENV`] when it is set to a positive number.
    pub fn from_env() -> Limits {
        Limits::with_read_timeout(std::env::var(READ_TIMEOUT_ENV).ok().as_deref())
    }

    /// The defaults, with the read timeout in milliseconds from `ms` when it is a positive number.
    fn with_read_timeout(ms: Option<&str>) -> Limits {
        let read_timeout = ms
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|&ms| ms > 0)
            .map_or(READ_TIMEOUT, Duration::from_millis);
        Limits { read_timeout, ..Limits::default() }
    }
}

/// The OCI runtime-spec `ContainerProcessState`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerProcessState {
    #[serde(default)]
    pub oci_version: String,
    pub fds: Vec<String>,
    pub pid: i64,
    #[serde(default)]
    pub metadata: String,
    pub state: ContainerState,
}

/// The OCI runtime-spec `state` inside a [`ContainerProcessState`].
#[derive(Debug, Deserialize)]
pub struct ContainerState {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub pid: i64,
    #[serde(default)]
    pub bundle: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
}

/// Why a connection was dropped. Each is logged; the agent goes on serving.
#[derive(Debug, thiserror::Error)]
pub enum Dropped {
    #[error("the runtime sent nothing within {0:?}")]
    Silent(Duration),
    #[error("connection closed without a message")]
    Empty,
    #[error("connection closed in the middle of the message")]
    Truncated,
    #[error("message larger than {MAX_MESSAGE} bytes")]
    TooLarge,
    #[error("invalid ContainerProcessState: {0}")]
    Invalid(String),
    #[error("cannot read the message")]
    Io(#[source] std::io::Error),
    #[error("the message carries {0} fds (at most {MAX_FDS} accepted); all closed")]
    TooManyFds(usize),
    #[error("the message's control data was truncated (MSG_CTRUNC); the fds received are closed")]
    ControlTruncated,
    #[error("no seccompFd in fds {0:?}")]
    NoSeccompFd(Vec<String>),
    #[error("fds names seccompFd at index {index} but the message carries {received} fd(s)")]
    MissingFd { index: usize, received: usize },
    #[error("the seccompFd is not a seccomp listener ({0})")]
    NotListener(String),
    #[error("listenerMetadata {0:?} names no policy of --policy-dir (notified syscalls fail with ENOSYS)")]
    UnknownPolicy(String),
    #[error("{0} connections are already waiting for their message")]
    Busy(usize),
}

/// Policies by name: the default one and those of `--policy-dir`, loaded at start so that a bad file is an error
/// before anything is served.
pub struct Policies {
    default: Arc<Decider>,
    by_name: HashMap<String, Arc<Decider>>,
}

impl Policies {
    /// Loads `--policy` and every `*.json` of `--policy-dir`.
    ///
    /// # Errors
    /// A [`Failure`] naming the first invalid file. Path decisions are carried out in each container's own root
    /// and mount namespace (`crate::kernel::view`), so every policy that `supervise` runs is accepted.
    pub fn load(options: &ServeOptions, machine: &Machine) -> Result<Policies, Failure> {
        let load = |path: &Path| -> Result<Arc<Decider>, Failure> {
            let source = Source::open(Some(path)).map_err(|l| Failure::new(EXIT_FAILURE, l))?;
            let policy = source.load(machine).map_err(|lines| Failure { code: EXIT_FAILURE, lines })?;
            if let Some(warning) = crate::core::prompt::unanswerable(&policy) {
                // serve has no terminal: say it once, at start, rather than at every call.
                warn!(policy = %path.display(), "{warning}");
            }
            Ok(Arc::new(Decider::new(&policy)))
        };
        let default = load(&options.policy)?;
        let mut by_name = HashMap::new();
        if let Some(dir) = &options.policy_dir {
            let entries = std::fs::read_dir(dir)
                .map_err(|e| Failure::new(EXIT_FAILURE, format!("--policy-dir {}: {e}", dir.display())))?;
            let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            paths.sort();
            for path in paths.into_iter().filter(|p| p.extension().is_some_and(|e| e == "json") && p.is_file()) {
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                by_name.insert(name, load(&path)?);
            }
        }
        Ok(Policies { default, by_name })
    }

    /// A single policy for every container (tests and embedding).
    pub fn single(policy: &Policy) -> Policies {
        Policies { default: Arc::new(Decider::new(policy)), by_name: HashMap::new() }
    }

    /// Names of the `--policy-dir` policies, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.by_name.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// `listenerMetadata` names a file of `--policy-dir` (`name.json`, `name`, or `policy=name.json`); empty
    /// metadata means the default policy.
    fn choose(&self, metadata: &str) -> Option<&Arc<Decider>> {
        let name = metadata.trim();
        let name = name.strip_prefix("policy=").unwrap_or(name).trim();
        if name.is_empty() {
            return Some(&self.default);
        }
        self.by_name.get(name).or_else(|| self.by_name.get(&format!("{name}.json")))
    }
}

/// Runs the agent until SIGTERM or SIGINT; exits 0 then, after removing the socket.
///
/// # Errors
/// A [`Failure`] (125) if a policy is invalid, the socket cannot be created, or the signal handlers cannot be
/// installed.
pub fn serve(options: &ServeOptions) -> Result<i32, Failure> {
    let machine = Machine { native: Arch::native(), caps: u64::MAX, ..this_machine() };
    let policies = Arc::new(Policies::load(options, &machine)?);
    // A container's executables are found in its own root, which its runtime built (docs/security.md).
    crate::kernel::exe::trust_target_roots();
    raise_fd_limit();
    let mut control = control::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(EXIT_FAILURE, format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let signals = signal(SignalKind::terminate()).and_then(|t| Ok((t, signal(SignalKind::interrupt())?)));
        let (mut term, mut int) =
            signals.map_err(|e| Failure::new(EXIT_FAILURE, format!("cannot handle SIGTERM/SIGINT: {e}")))?;
        let listener = bind(&options.socket)?;
        let ours = std::fs::metadata(&options.socket).map(|m| (m.dev(), m.ino())).ok();
        // The control socket (`supervise ps`, `watch`): one target per container process.
        let hub = control.as_mut().map(|c| {
            let hub = Hub::new(control::Mode::Serve, Some(options.policy.display().to_string()));
            c.serve(hub.clone());
            hub
        });
        let limits = Limits::from_env();
        info!(
            socket = %options.socket.display(),
            policy = %options.policy.display(),
            policy_dir = options.policy_dir.as_ref().map(|dir| tracing::field::display(dir.display())),
            policies = %policies.names().join(","),
            read_timeout_ms = u64::try_from(limits.read_timeout.as_millis()).unwrap_or(u64::MAX),
            "serving"
        );
        let shutdown = async {
            tokio::select! {
                _ = term.recv() => info!(signal = "SIGTERM", "stopping"),
                _ = int.recv() => info!(signal = "SIGINT", "stopping"),
            }
        };
        accept_loop_with(listener, policies, limits, hub, shutdown).await;
        // Remove the socket only if it is still ours (not replaced by another agent meanwhile).
        if std::fs::metadata(&options.socket).map(|m| (m.dev(), m.ino())).ok() == ours {
            if let Err(e) = std::fs::remove_file(&options.socket) {
                warn!(socket = %options.socket.display(), error = %e, "cannot remove the socket");
            }
        }
        info!("stopped");
        Ok(0)
    })
}

/// A node agent serves many containers, each holding a listener fd: use the hard limit of open files.
fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
}

/// Accepts connections until `shutdown` completes; one task per connection. Containers still served at shutdown
/// lose their agent: their listener fds close and their notified syscalls fail with ENOSYS.
pub async fn accept_loop(
    listener: UnixListener,
    policies: Arc<Policies>,
    limits: Limits,
    shutdown: impl std::future::Future,
) {
    accept_loop_with(listener, policies, limits, None, shutdown).await;
}

/// [`accept_loop`], each container process listed in `hub` (the control socket) while it is served.
pub async fn accept_loop_with(
    listener: UnixListener,
    policies: Arc<Policies>,
    limits: Limits,
    hub: Option<Arc<Hub>>,
    shutdown: impl std::future::Future,
) {
    tokio::pin!(shutdown);
    let pending = Arc::new(Semaphore::new(limits.max_pending));
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                if let Err(e) = done {
                    if e.is_panic() {
                        error!(error = %e, "a connection task panicked; the agent goes on");
                    }
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let Ok(permit) = pending.clone().try_acquire_owned() else {
                        warn!(reason = %Dropped::Busy(limits.max_pending), "connection dropped");
                        continue;
                    };
                    let (policies, hub) = (policies.clone(), hub.clone());
                    tasks.spawn(async move { connection(stream, &policies, limits, hub, permit).await });
                }
                Err(e) => {
                    // EMFILE and the like: back off instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    if !tasks.is_empty() {
        info!(connections = tasks.len(), "shutting down: containers still served now get ENOSYS for notified syscalls");
    }
    tasks.shutdown().await;
}

/// One runtime connection: read the message, take the listener, serve it until the container is gone.
async fn connection(
    stream: UnixStream,
    policies: &Policies,
    limits: Limits,
    hub: Option<Arc<Hub>>,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let message = tokio::time::timeout(limits.read_timeout, read_message(&stream)).await;
    // The runtime does not wait for us, and nothing more is said on this connection.
    drop(stream);
    drop(permit);
    let (state, fds) = match message {
        Ok(Ok(message)) => message,
        Ok(Err(why)) => return warn!(reason = %why, "message from the runtime dropped"),
        Err(_) => return warn!(reason = %Dropped::Silent(limits.read_timeout), "message from the runtime dropped"),
    };
    let span = tracing::info_span!("container", id = %state.state.id, pid = state.pid, bundle = %state.state.bundle);
    async move {
        let (fd, decider) = match take_listener(&state, fds, policies) {
            Ok(taken) => taken,
            Err(why) => return warn!(reason = %why, metadata = %state.metadata, "message from the runtime dropped"),
        };
        info!(status = %state.state.status, metadata = %state.metadata, "container connected");
        let listener = Arc::new(Listener::new(fd));
        let container = control::container(&state.state.id, &state.state.annotations);
        let target = hub.as_ref().map(|hub| hub.add(Some(container), u32::try_from(state.pid).unwrap_or(0)));
        let observer = target.clone().map(|t| t as Arc<dyn Observer>);
        let handler = Arc::new(PolicyHandler { decider, prompts: Prompts::start(None), observer });
        match crate::core::notify::serve(listener, handler).await {
            Ok(()) => info!("container gone"),
            Err(e) => warn!(error = %e, "notify loop failed: listener closed"),
        }
        if let (Some(hub), Some(target)) = (&hub, &target) {
            hub.remove(target);
        }
    }
    .instrument(span)
    .await
}

/// Finds the seccomp listener among the received fds (by the index of `seccompFd` in `fds`), checks that it is
/// one, and chooses the policy. The other fds are closed.
///
/// # Errors
/// The [`Dropped`] reason.
pub fn take_listener(
    state: &ContainerProcessState,
    fds: Vec<OwnedFd>,
    policies: &Policies,
) -> Result<(OwnedFd, Arc<Decider>), Dropped> {
    let Some(index) = state.fds.iter().position(|name| name == "seccompFd") else {
        return Err(Dropped::NoSeccompFd(state.fds.clone()));
    };
    let received = fds.len();
    let Some(fd) = fds.into_iter().nth(index) else { return Err(Dropped::MissingFd { index, received }) };
    let kind = fd_kind(&fd);
    if kind != "anon_inode:seccomp notify" {
        return Err(Dropped::NotListener(kind));
    }
    let Some(decider) = policies.choose(&state.metadata) else {
        return Err(Dropped::UnknownPolicy(state.metadata.clone()));
    };
    Ok((fd, decider.clone()))
}

/// Reads one ContainerProcessState and its fds. runc keeps the connection open, so the message ends where the JSON
/// ends, not at EOF.
///
/// # Errors
/// The [`Dropped`] reason; the fds received so far are closed (they are owned from the moment they arrive).
pub async fn read_message(stream: &UnixStream) -> Result<(ContainerProcessState, Vec<OwnedFd>), Dropped> {
    let mut data = Vec::new();
    let mut fds = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        stream.readable().await.map_err(Dropped::Io)?;
        let received = stream.try_io(tokio::io::Interest::READABLE, || recv_chunk(stream.as_fd(), &mut chunk));
        let got = match received {
            Ok(got) => got,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(Dropped::Io(e)),
        };
        let n = got.bytes;
        fds.extend(got.fds);
        if got.truncated {
            return Err(Dropped::ControlTruncated);
        }
        if fds.len() > MAX_FDS {
            return Err(Dropped::TooManyFds(fds.len()));
        }
        if n == 0 {
            return Err(if data.is_empty() { Dropped::Empty } else { Dropped::Truncated });
        }
        data.extend_from_slice(&chunk[..n]);
        if data.len() > MAX_MESSAGE {
            return Err(Dropped::TooLarge);
        }
        match serde_json::from_slice::<ContainerProcessState>(&data) {
            Ok(state) => return Ok((state, fds)),
            Err(e) if e.is_eof() => continue,
            Err(e) => return Err(Dropped::Invalid(e.to_string())),
        }
    }
}

/// What an fd is, as `/proc/self/fd` says (`anon_inode:seccomp notify` for a listener, `pipe:[…]`, …).
fn fd_kind(fd: &OwnedFd) -> String {
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .map_or_else(|e| format!("unreadable: {e}"), |target| target.display().to_string())
}

/// Binds the socket with mode 0600 (inside a runtime), replacing a stale socket but never a live agent's socket or
/// a file that is not a socket.
///
/// # Errors
/// A [`Failure`] (125) naming `--socket` and the reason.
pub fn bind(path: &Path) -> Result<UnixListener, Failure> {
    let fail = |why: String| Failure::new(EXIT_FAILURE, format!("--socket {}: {why}", path.display()));
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(fail("exists and is not a socket; not replacing it".into()));
        }
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => return Err(fail("another agent is already listening there".into())),
            Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {
                std::fs::remove_file(path).map_err(|e| fail(format!("cannot remove the stale socket: {e}")))?;
            }
            Err(e) => return Err(fail(format!("cannot tell whether an agent is listening there: {e}"))),
        }
    }
    // umask(2) only changes this process's file mode mask, and cannot fail; restored right after bind, so the
    // socket is never reachable with a wider mode.
    let old = umask(Mode::from_bits_truncate(0o177));
    let listener = UnixListener::bind(path);
    umask(old);
    let listener = listener.map_err(|e| fail(e.to_string()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| fail(e.to_string()))?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::{AsFd, RawFd};
    use std::os::unix::net::UnixStream as StdStream;

    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    use proto::Action;

    use crate::kernel::socket::SCM_MAX_FD;

    const RUNC: &str = r#"{"ociVersion":"1.0.2","fds":["seccompFd"],"pid":42,"metadata":"","state":{"ociVersion":"1.0.2","id":"c1","status":"creating","pid":42,"bundle":"/b"}}"#;

    fn pair() -> (StdStream, UnixStream) {
        let (a, b) = StdStream::pair().unwrap();
        b.set_nonblocking(true).unwrap();
        (a, UnixStream::from_std(b).unwrap())
    }

    fn send_with(stream: &StdStream, data: &[u8], fds: &[RawFd]) {
        let iov = [std::io::IoSlice::new(data)];
        let cmsg = [ControlMessage::ScmRights(fds)];
        let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &cmsg };
        sendmsg::<()>(stream.as_raw_fd(), &iov, cmsgs, MsgFlags::empty(), None).unwrap();
    }

    /// `read_message` with a time limit, so that a regression fails instead of hanging.
    async fn read(server: &UnixStream) -> Result<(ContainerProcessState, Vec<OwnedFd>), Dropped> {
        tokio::time::timeout(Duration::from_secs(5), read_message(server)).await.expect("read_message hangs")
    }

    fn policies() -> Policies {
        let mut p = Policies::single(&Policy::new(Action::Allow, vec![]));
        let other = Arc::new(Decider::new(&Policy::new(Action::Allow, vec![])));
        p.by_name.insert("strict.json".into(), other);
        p
    }

    fn state(fds: &[&str], metadata: &str) -> ContainerProcessState {
        let json = RUNC.replace(r#"["seccompFd"]"#, &serde_json::to_string(fds).unwrap());
        let mut s: ContainerProcessState = serde_json::from_str(&json).unwrap();
        s.metadata = metadata.into();
        s
    }

    #[tokio::test]
    async fn a_compact_message_is_read_without_waiting_for_eof() {
        let (client, server) = pair();
        let (r, _w) = nix::unistd::pipe().unwrap();
        send_with(&client, RUNC.as_bytes(), &[r.as_raw_fd()]);
        let (state, fds) = read(&server).await.unwrap();
        assert_eq!((state.state.id.as_str(), state.pid, fds.len()), ("c1", 42, 1));
        drop(client);
    }

    #[tokio::test]
    async fn a_pretty_message_in_pieces_is_read() {
        let (mut client, server) = pair();
        let pretty = serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(RUNC).unwrap()).unwrap();
        let (head, tail) = pretty.split_at(pretty.len() / 2);
        let (head, tail) = (head.to_string(), tail.to_string());
        let writer = std::thread::spawn(move || {
            client.write_all(head.as_bytes()).unwrap();
            std::thread::sleep(Duration::from_millis(20));
            client.write_all(tail.as_bytes()).unwrap();
            client
        });
        let (state, _) = read(&server).await.unwrap();
        assert_eq!(state.state.bundle, "/b");
        drop(writer.join());
    }

    #[tokio::test]
    async fn bad_messages_are_refused_with_their_reason() {
        let cases: [(&[u8], bool, &str); 5] = [
            (b"", true, "without a message"),
            (br#"{"ociVersion": nope}"#, false, "invalid ContainerProcessState"),
            (br#"{"ociVersion":"1","fds":[]"#, true, "in the middle"),
            (br#"[1, 2, 3]"#, false, "invalid ContainerProcessState"),
            (b"\xff\xfe\x00garbage", false, "invalid ContainerProcessState"),
        ];
        for (data, close, want) in cases {
            let (mut client, server) = pair();
            client.write_all(data).unwrap();
            // runc keeps its end open: the verdict must not wait for EOF.
            let _open = if close {
                drop(client);
                None
            } else {
                Some(client)
            };
            let err = read(&server).await.unwrap_err().to_string();
            assert!(err.contains(want), "{data:?}: {err}");
        }
    }

    #[test]
    fn every_fd_of_a_message_is_owned_however_many_and_whatever_comes_with_them() {
        let (client, server) = StdStream::pair().unwrap();
        let (r, _w) = nix::unistd::pipe().unwrap();
        let fds = vec![r.as_raw_fd(); SCM_MAX_FD];
        let creds = nix::sys::socket::UnixCredentials::new();
        let (a, b) = fds.split_at(100);
        let cmsgs =
            [ControlMessage::ScmRights(a), ControlMessage::ScmCredentials(&creds), ControlMessage::ScmRights(b)];
        let iov = [std::io::IoSlice::new(b"{")];
        sendmsg::<()>(client.as_raw_fd(), &iov, &cmsgs, MsgFlags::empty(), None).unwrap();
        let mut buf = [0u8; 16];
        let got = recv_chunk(server.as_fd(), &mut buf).unwrap();
        assert_eq!((got.bytes, got.fds.len(), got.truncated), (1, SCM_MAX_FD, false));
        for fd in &got.fds {
            assert!(fd_kind(fd).starts_with("pipe:["), "{}", fd_kind(fd));
        }
    }

    #[tokio::test]
    async fn a_message_with_more_fds_than_runtimes_send_is_refused() {
        let (client, server) = pair();
        let (r, _w) = nix::unistd::pipe().unwrap();
        send_with(&client, RUNC.as_bytes(), &[r.as_raw_fd(); MAX_FDS + 1]);
        assert!(matches!(read(&server).await, Err(Dropped::TooManyFds(n)) if n == MAX_FDS + 1));
        let (client, server) = pair();
        send_with(&client, RUNC.as_bytes(), &[r.as_raw_fd(); MAX_FDS]);
        assert_eq!(read(&server).await.unwrap().1.len(), MAX_FDS);
    }

    #[tokio::test]
    async fn an_oversized_message_is_refused() {
        let (mut client, server) = pair();
        let writer = std::thread::spawn(move || {
            let _ = client.write_all(b"{\"metadata\":\"");
            let _ = client.write_all(&vec![b'a'; MAX_MESSAGE + 10]);
        });
        assert!(matches!(read(&server).await, Err(Dropped::TooLarge)));
        drop(server);
        writer.join().unwrap();
    }

    #[test]
    fn the_listener_is_found_by_its_name_and_checked() {
        let p = policies();
        let pipe = || nix::unistd::pipe().unwrap().0;
        let err = take_listener(&state(&["pidFd"], ""), vec![pipe()], &p).unwrap_err();
        assert!(matches!(err, Dropped::NoSeccompFd(_)), "{err}");
        let err = take_listener(&state(&["pidFd", "seccompFd"], ""), vec![pipe()], &p).unwrap_err();
        assert!(matches!(err, Dropped::MissingFd { index: 1, received: 1 }), "{err}");
        let err = take_listener(&state(&["seccompFd"], ""), vec![pipe()], &p).unwrap_err();
        assert!(err.to_string().contains("pipe:["), "{err}");
        let err = take_listener(&state(&["seccompFd"], ""), vec![], &p).unwrap_err();
        assert!(matches!(err, Dropped::MissingFd { index: 0, received: 0 }), "{err}");
    }

    #[test]
    fn metadata_chooses_a_policy_by_file_name() {
        let p = policies();
        let strict = p.by_name["strict.json"].clone();
        for (metadata, want) in
            [("strict.json", true), ("strict", true), ("policy=strict.json", true), (" strict ", true)]
        {
            assert!(Arc::ptr_eq(p.choose(metadata).unwrap(), &strict), "{metadata}");
            assert_eq!(Arc::ptr_eq(p.choose(metadata).unwrap(), &p.default), !want);
        }
        for metadata in ["", "  ", "policy="] {
            assert!(Arc::ptr_eq(p.choose(metadata).unwrap(), &p.default), "{metadata:?}");
        }
        for metadata in ["other", "../strict.json", "strict.json.json"] {
            assert!(p.choose(metadata).is_none(), "{metadata}");
        }
    }

    #[test]
    fn the_read_timeout_is_milliseconds_or_the_default() {
        assert_eq!(Limits::default().read_timeout, READ_TIMEOUT);
        assert_eq!(Limits::with_read_timeout(Some("250")).read_timeout, Duration::from_millis(250));
        for bad in [None, Some("0"), Some("x"), Some("-5"), Some("")] {
            assert_eq!(Limits::with_read_timeout(bad).read_timeout, READ_TIMEOUT, "{bad:?}");
        }
    }

    #[tokio::test]
    async fn the_socket_is_private_stale_ones_are_replaced_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.sock");
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists(), "a stale socket is left behind");
        let live = bind(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let err = bind(&path).unwrap_err();
        assert!(err.lines[0].ends_with("another agent is already listening there"), "{:?}", err.lines);
        drop(live);
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let err = bind(&file).unwrap_err();
        assert!(err.lines[0].contains("is not a socket"), "{:?}", err.lines);
        assert_eq!(std::fs::read(&file).unwrap(), b"x");
    }

    #[tokio::test]
    async fn the_accept_loop_survives_bad_clients_and_stops_on_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.sock");
        let listener = bind(&path).unwrap();
        let limits = Limits { read_timeout: Duration::from_millis(100), max_pending: 2 };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let agent =
            tokio::spawn(accept_loop(listener, Arc::new(policies()), limits, async move { drop(stopped.await) }));
        let path2 = path.clone();
        tokio::task::spawn_blocking(move || {
            let (r, _w) = nix::unistd::pipe().unwrap();
            let silent: Vec<StdStream> = (0..4).map(|_| StdStream::connect(&path2).unwrap()).collect();
            let mut junk = StdStream::connect(&path2).unwrap();
            junk.write_all(b"{{{").unwrap();
            let pipe = StdStream::connect(&path2).unwrap();
            send_with(&pipe, RUNC.as_bytes(), &[r.as_fd().as_raw_fd()]);
            std::thread::sleep(Duration::from_millis(300));
            drop(silent);
        })
        .await
        .unwrap();
        assert!(!agent.is_finished());
        StdStream::connect(&path).expect("still accepting");
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), agent).await.expect("stops").unwrap();
    }
}
