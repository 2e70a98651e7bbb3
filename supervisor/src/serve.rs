//! `supervise serve`: a long-running OCI seccomp agent. runc and crun connect to `--socket` (the profile's
//! `listenerPath`) once per container start or exec, and send one message: the ContainerProcessState JSON plus the
//! seccomp listener fd over `SCM_RIGHTS`. Each connection becomes its own task with its own notify loop, deciding
//! from the policy that `listenerMetadata` selects (or `--policy`).
//!
//! Bad input never stops the agent: malformed JSON, a missing fd, an fd that is not a seccomp listener, an oversized
//! message or a silent client is logged and dropped.

use std::collections::HashMap;
use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use proto::profile::Target;
use proto::{Arch, Policy};
use serde::Deserialize;
use tokio::net::{UnixListener, UnixStream};
use tracing::{info, warn, Instrument};

use crate::decide::Decider;
use crate::notify::PolicyHandler;
use crate::policy_file::{this_target, Source};
use crate::prompt::Prompts;
use crate::run::{Failure, EXIT_FAILURE};
use crate::seccomp::Listener;

/// Largest ContainerProcessState message accepted.
pub const MAX_MESSAGE: usize = 1 << 20;
/// How long a client may take to send its message.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// `supervise serve` options.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub socket: PathBuf,
    pub policy: PathBuf,
    pub policy_dir: Option<PathBuf>,
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
    /// A [`Failure`] naming the first invalid file.
    pub fn load(options: &ServeOptions, target: &Target) -> Result<Policies, Failure> {
        let load = |path: &Path| -> Result<Policy, Failure> {
            let source = Source::open(Some(path)).map_err(|l| Failure::new(EXIT_FAILURE, l))?;
            source.load(target).map_err(|lines| Failure { code: EXIT_FAILURE, lines })
        };
        let default = Arc::new(Decider::new(&load(&options.policy)?));
        let mut by_name = HashMap::new();
        if let Some(dir) = &options.policy_dir {
            let entries = std::fs::read_dir(dir)
                .map_err(|e| Failure::new(EXIT_FAILURE, format!("--policy-dir {}: {e}", dir.display())))?;
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "json") {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    by_name.insert(name, Arc::new(Decider::new(&load(&path)?)));
                }
            }
        }
        Ok(Policies { default, by_name })
    }

    /// `listenerMetadata` names a file of `--policy-dir` (`name.json`, `name`, or `policy=name.json`).
    fn choose(&self, metadata: &str) -> Option<&Arc<Decider>> {
        let name = metadata.trim().strip_prefix("policy=").unwrap_or(metadata.trim());
        if name.is_empty() {
            return Some(&self.default);
        }
        self.by_name.get(name).or_else(|| self.by_name.get(&format!("{name}.json")))
    }
}

/// Runs the agent until SIGTERM or SIGINT.
///
/// # Errors
/// A [`Failure`] (125) if a policy is invalid or the socket cannot be created.
pub fn serve(options: &ServeOptions) -> Result<i32, Failure> {
    let target = Target { native: Arch::native(), caps: u64::MAX, ..this_target() };
    let policies = Arc::new(Policies::load(options, &target)?);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(EXIT_FAILURE, format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let listener = bind(&options.socket)?;
        info!(socket = %options.socket.display(), "serving");
        let shutdown = async {
            use tokio::signal::unix::{signal, SignalKind};
            let (mut term, mut int) = match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
                (Ok(t), Ok(i)) => (t, i),
                _ => return,
            };
            tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        };
        run(listener, policies, shutdown).await;
        let _ = std::fs::remove_file(&options.socket);
        info!("stopped");
        Ok(0)
    })
}

/// Accepts connections until `shutdown` completes; one task per connection.
pub async fn run(listener: UnixListener, policies: Arc<Policies>, shutdown: impl std::future::Future) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let policies = policies.clone();
                    tokio::spawn(async move { connection(stream, &policies).await });
                }
                Err(e) => warn!(error = %e, "accept failed"),
            },
        }
    }
}

async fn connection(stream: UnixStream, policies: &Policies) {
    let (state, fds) = match tokio::time::timeout(READ_TIMEOUT, read_message(&stream)).await {
        Ok(Ok(message)) => message,
        Ok(Err(why)) => return warn!(reason = %why, "bad message from the runtime: dropped"),
        Err(_) => return warn!(timeout = ?READ_TIMEOUT, "the runtime sent nothing in time: dropped"),
    };
    let span = tracing::info_span!("container", id = %state.state.id, pid = state.pid, bundle = %state.state.bundle);
    async move {
        let Some(index) = state.fds.iter().position(|name| name == "seccompFd") else {
            return warn!(fds = ?state.fds, "no seccompFd in the message: dropped");
        };
        let Some(fd) = fds.into_iter().nth(index) else {
            return warn!("the message names a seccompFd but carries no such fd: dropped");
        };
        if !is_seccomp_listener(&fd) {
            return warn!("the fd is not a seccomp listener: dropped");
        }
        let Some(decider) = policies.choose(&state.metadata) else {
            return warn!(metadata = %state.metadata, "listenerMetadata names no policy of --policy-dir: dropped (notified syscalls fail with ENOSYS)");
        };
        info!(status = %state.state.status, "container connected");
        let listener = Arc::new(Listener::new(fd));
        let handler = Arc::new(PolicyHandler { decider: decider.clone(), prompts: Prompts::start(None) });
        match crate::notify::serve(listener, handler).await {
            Ok(()) => info!("container gone"),
            Err(e) => warn!(error = %e, "notify loop failed: listener closed"),
        }
    }
    .instrument(span)
    .await
}

/// Reads one ContainerProcessState and its fds. runc keeps the connection open, so the message ends where the JSON
/// ends, not at EOF.
async fn read_message(stream: &UnixStream) -> Result<(ContainerProcessState, Vec<OwnedFd>), String> {
    let mut data = Vec::new();
    let mut fds = Vec::new();
    loop {
        stream.readable().await.map_err(|e| e.to_string())?;
        let mut chunk = vec![0u8; 64 * 1024];
        let received = stream.try_io(tokio::io::Interest::READABLE, || recv_chunk(stream.as_raw_fd(), &mut chunk));
        let (n, new_fds) = match received {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e.to_string()),
        };
        fds.extend(new_fds);
        if n == 0 {
            return Err(if data.is_empty() {
                "connection closed without a message".into()
            } else {
                "truncated JSON".into()
            });
        }
        data.extend_from_slice(&chunk[..n]);
        if data.len() > MAX_MESSAGE {
            return Err(format!("message larger than {MAX_MESSAGE} bytes"));
        }
        match serde_json::from_slice::<ContainerProcessState>(&data) {
            Ok(state) => return Ok((state, fds)),
            Err(e) if e.is_eof() => continue,
            Err(e) => return Err(format!("invalid ContainerProcessState: {e}")),
        }
    }
}

fn recv_chunk(fd: RawFd, buf: &mut [u8]) -> std::io::Result<(usize, Vec<OwnedFd>)> {
    let mut iov = [IoSliceMut::new(buf)];
    let mut space = nix::cmsg_space!([RawFd; 8]);
    let msg = recvmsg::<()>(fd, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC | MsgFlags::MSG_DONTWAIT)?;
    let mut fds = Vec::new();
    for cmsg in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(received) = cmsg {
            // SAFETY: SCM_RIGHTS installed these fds in our table; we are their only owner.
            fds.extend(received.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
        }
    }
    Ok((msg.bytes, fds))
}

/// True if `fd` is a seccomp notify listener (`anon_inode:seccomp notify`).
fn is_seccomp_listener(fd: &OwnedFd) -> bool {
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .is_ok_and(|target| target.as_os_str() == "anon_inode:seccomp notify")
}

/// Binds the socket with mode 0600 (inside a runtime), replacing a stale socket but never a live agent's or a non-socket file.
pub fn bind(path: &Path) -> Result<UnixListener, Failure> {
    let fail = |why: String| Failure::new(EXIT_FAILURE, format!("--socket {}: {why}", path.display()));
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(fail("exists and is not a socket".into()));
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(fail("another agent is already listening there".into()));
        }
        std::fs::remove_file(path).map_err(|e| fail(format!("cannot remove the stale socket: {e}")))?;
    }
    // SAFETY: umask(2) only changes this process's file mode mask; restored right after bind.
    let old = unsafe { libc::umask(0o177) };
    let listener = UnixListener::bind(path);
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    let listener = listener.map_err(|e| fail(e.to_string()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| fail(e.to_string()))?;
    Ok(listener)
}
