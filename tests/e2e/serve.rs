//! Issue 6: `supervise serve`, the OCI seccomp agent, against real runc and crun containers built from
//! busybox-static; bad clients; signals and the socket; `--policy-dir`; the Kubernetes files in deploy/.
//!
//! Everything that could set the clock runs without CAP_SYS_TIME (setpriv), and containers lack it anyway. Each
//! test has its own agent, socket, bundles and runtime state directory, and deletes its containers.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::{now, repo, run_with, supervise, Output, TIMEOUT};

/// Notifies mkdir and the clock setters; everything else is allowed (runc refuses NOTIFY on `write` or as default).
const NOTIFIED: &[&str] = &["mkdir", "mkdirat", "clock_settime", "settimeofday", "clock_adjtime", "adjtimex"];

/// The agent's policy: mkdir by `/sbin/busybox` allowed, other mkdirs denied with EACCES, clock setters faked.
const POLICY: &str = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
  {"names":["mkdir","mkdirat"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"allow","exe":["/sbin/busybox"]}},
  {"names":["mkdir","mkdirat"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"deny","errnoRet":"EACCES"}},
  {"names":["clock_settime","settimeofday","clock_adjtime","adjtimex"],"action":"SCMP_ACT_NOTIFY",
   "supervise":{"decision":"emulate","emulate":"clock-set"}}]}"#;

/// The container's script for the main case.
const SCRIPT: &str = "mkdir /x; echo x=$?; /sbin/busybox mkdir /ok; echo ok=$?; \
                      date -u -s '2012-04-19 22:00:00'; echo date=$?";

const TAKE_CAP_SYS_TIME: [&str; 2] = ["--inh-caps=-sys_time", "--bounding-set=-sys_time"];

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A unique container id.
fn unique(tag: &str) -> String {
    format!("sv-{tag}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

fn require(tool: &str) {
    let found =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).any(|d| d.join(tool).exists())).unwrap_or(false);
    assert!(found, "{tool} is missing: install runc, crun and busybox-static (./x setup)");
}

/// A running `supervise serve`, stopped (SIGKILL) when dropped.
struct Agent {
    child: Child,
    dir: tempfile::TempDir,
    socket: PathBuf,
    log: PathBuf,
}

impl Agent {
    fn start(policy: &str, extra: &[&str]) -> Agent {
        let dir = tempfile::tempdir().expect("temp dir");
        let p = dir.path().join("policy.json");
        std::fs::write(&p, policy).expect("write policy");
        Agent::start_in(dir, &p, extra)
    }

    fn start_in(dir: tempfile::TempDir, policy: &Path, extra: &[&str]) -> Agent {
        let socket = dir.path().join("agent.sock");
        let log = dir.path().join("agent.log");
        let (child, _) = spawn_agent(&socket, policy, &log, extra);
        let agent = Agent { child, dir, socket, log };
        agent.wait_for(|| agent.socket.exists(), "the socket to appear");
        agent
    }

    fn path(&self) -> &str {
        self.socket.to_str().expect("utf-8")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    fn wait_for(&self, mut done: impl FnMut() -> bool, what: &str) {
        let start = Instant::now();
        while !done() {
            assert!(start.elapsed() < Duration::from_secs(10), "timed out waiting for {what}; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn wait_log(&self, needle: &str) {
        self.wait_log_after(0, needle);
    }

    /// Waits for `needle` in the log written after byte `offset`.
    fn wait_log_after(&self, offset: usize, needle: &str) {
        let fresh = || self.log().get(offset..).is_some_and(|l| l.contains(needle));
        self.wait_for(fresh, &format!("{needle:?} in the agent's log after byte {offset}"));
    }

    /// Sends `signal` and returns the exit status.
    fn stop(&mut self, signal: i32) -> Option<i32> {
        // SAFETY: kill(2) on our own child, which has not been reaped yet (so its pid is not reused).
        unsafe { libc::kill(self.child.id() as i32, signal) };
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            assert!(start.elapsed() < Duration::from_secs(10), "the agent ignored signal {signal}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `setpriv … supervise serve` with logs to `log` and a short read timeout.
fn spawn_agent(socket: &Path, policy: &Path, log: &Path, extra: &[&str]) -> (Child, PathBuf) {
    let stderr = log.with_extension("stderr");
    let mut cmd = Command::new("setpriv");
    cmd.args(TAKE_CAP_SYS_TIME).arg(supervise()).arg("serve").arg("--socket").arg(socket).arg("--policy").arg(policy);
    cmd.args(["--log-level", "info", "--log-file"]).arg(log).args(extra);
    cmd.env("SUPERVISE_SERVE_READ_TIMEOUT_MS", "300");
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(File::create(&stderr).expect("stderr file"));
    (cmd.spawn().expect("spawn supervise serve"), stderr)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Runtime {
    Runc,
    Crun,
}

/// An OCI bundle: a busybox-static rootfs and a config.json from `runc spec`, edited.
struct Bundle {
    dir: tempfile::TempDir,
}

impl Bundle {
    fn new(socket: &str, metadata: Option<&str>, script: &str) -> Bundle {
        Bundle::notifying(socket, metadata, NOTIFIED, script)
    }

    /// A bundle whose seccomp profile notifies `names`.
    fn notifying(socket: &str, metadata: Option<&str>, names: &[&str], script: &str) -> Bundle {
        require("busybox");
        let dir = tempfile::tempdir().expect("temp dir");
        let rootfs = dir.path().join("rootfs");
        for sub in ["bin", "sbin", "proc", "dev", "sys", "tmp"] {
            std::fs::create_dir_all(rootfs.join(sub)).expect("mkdir rootfs");
        }
        let busybox = which("busybox");
        std::fs::copy(&busybox, rootfs.join("bin/busybox")).expect("copy busybox");
        // A second name for the same binary, for the exe matcher.
        std::fs::hard_link(rootfs.join("bin/busybox"), rootfs.join("sbin/busybox")).expect("link busybox");
        for applet in ["sh", "mkdir", "date", "echo", "sleep", "cat", "ls", "test", "["] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).expect("symlink applet");
        }
        let out = run_with(
            {
                let mut c = Command::new("runc");
                c.args(["spec", "--bundle"]).arg(dir.path());
                c
            },
            b"",
            TIMEOUT,
        );
        assert_eq!(out.code, Some(0), "runc spec: {}", out.stderr);
        let config_path = dir.path().join("config.json");
        let mut config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&config_path).expect("read config.json")).expect("config.json");
        config["root"]["readonly"] = false.into();
        config["process"]["terminal"] = false.into();
        config["process"]["args"] = serde_json::json!(["sh", "-c", script]);
        let mut seccomp = serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": socket,
            "syscalls": [{ "names": names, "action": "SCMP_ACT_NOTIFY" }],
        });
        if let Some(metadata) = metadata {
            seccomp["listenerMetadata"] = metadata.into();
        }
        config["linux"]["seccomp"] = seccomp;
        std::fs::write(&config_path, serde_json::to_vec_pretty(&config).expect("json")).expect("write config.json");
        Bundle { dir }
    }

    fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }
}

fn which(tool: &str) -> PathBuf {
    require(tool);
    let path = std::env::var_os("PATH").expect("PATH");
    std::env::split_paths(&path).map(|d| d.join(tool)).find(|p| p.exists()).expect("found")
}

/// A container of one runtime with its own state directory; deleted (`delete -f`) when dropped.
struct Container {
    runtime: Runtime,
    id: String,
    state: tempfile::TempDir,
}

impl Container {
    fn new(runtime: Runtime, tag: &str) -> Container {
        require(match runtime {
            Runtime::Runc => "runc",
            Runtime::Crun => "crun",
        });
        Container { runtime, id: unique(tag), state: tempfile::tempdir().expect("state dir") }
    }

    /// `RUNTIME --root STATE ARGS…` without CAP_SYS_TIME; crun in a private mount namespace without the cgroup v2
    /// mount of this hybrid layout (a global mount is never touched).
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("setpriv");
        cmd.args(TAKE_CAP_SYS_TIME);
        let root = self.state.path().to_str().expect("utf-8");
        match self.runtime {
            Runtime::Runc => {
                cmd.args(["runc", "--root", root]).args(args);
            }
            Runtime::Crun => {
                cmd.args(["unshare", "-m", "--propagation", "private", "sh", "-c"]);
                cmd.arg(
                    "{ ! mountpoint -q /sys/fs/cgroup/unified || umount /sys/fs/cgroup/unified; } && exec crun \"$@\"",
                );
                cmd.args(["crun", "--root", root]).args(args);
            }
        }
        cmd
    }

    /// Runs the container to its end.
    fn run(&self, bundle: &Bundle) -> Output {
        let cmd = self.command(&["run", "--bundle", bundle.dir.path().to_str().expect("utf-8"), &self.id]);
        run_with(cmd, b"", TIMEOUT)
    }

    /// Starts the container in the background (stdout and stderr to files in the bundle).
    fn spawn(&self, bundle: &Bundle) -> Child {
        let mut cmd = self.command(&["run", "--bundle", bundle.dir.path().to_str().expect("utf-8"), &self.id]);
        let out = File::create(bundle.dir.path().join("out")).expect("out file");
        cmd.stdin(Stdio::null()).stdout(out.try_clone().expect("dup")).stderr(out);
        cmd.spawn().expect("spawn runtime")
    }

    fn wait_running(&self) {
        let start = Instant::now();
        loop {
            let out = run_with(self.command(&["state", &self.id]), b"", TIMEOUT);
            if out.stdout.contains("\"running\"") {
                return;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "{} never ran: {}", self.id, out.stderr);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn exec(&self, script: &str) -> Output {
        run_with(self.command(&["exec", &self.id, "sh", "-c", script]), b"", TIMEOUT)
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let mut cmd = self.command(&["delete", "-f", &self.id]);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let _ = cmd.status();
    }
}

/// Waits for a background runtime with a time limit; returns its status.
fn wait_child(mut child: Child, what: &str) -> Option<i32> {
    let status = crate::support::wait_until(&mut child, TIMEOUT);
    status.unwrap_or_else(|| panic!("{what} did not finish within {TIMEOUT:?}")).code()
}

/// Runs one container whose `mkdir /x` must be denied by the agent; proves the agent still serves.
fn assert_served(agent: &Agent, runtime: Runtime, tag: &str) {
    let bundle = Bundle::new(agent.path(), None, "mkdir /x; echo x=$?");
    let out = Container::new(runtime, tag).run(&bundle);
    assert_eq!(out.code, Some(0), "{tag}: stdout {} stderr {}\nagent log:\n{}", out.stdout, out.stderr, agent.log());
    assert!(out.stdout.contains("x=1") && out.stderr.contains("Permission denied"), "{tag}: {out:?}");
}

/// The main case, for one runtime: deny, allow (exe matcher), clock-set emulation; host clock unchanged.
fn deny_allow_and_emulate(runtime: Runtime) {
    let agent = Agent::start(POLICY, &[]);
    let bundle = Bundle::new(agent.path(), None, SCRIPT);
    let container = Container::new(runtime, "main");
    let before = now();
    let out = container.run(&bundle);
    let after = now();
    let log = agent.log();
    assert_eq!(out.code, Some(0), "stdout {}\nstderr {}\nagent log:\n{log}", out.stdout, out.stderr);
    assert!(out.stdout.contains("x=1"), "mkdir /x is denied: {out:?}");
    assert!(out.stderr.contains("can't create directory '/x': Permission denied"), "EACCES: {out:?}");
    assert!(out.stdout.contains("ok=0"), "mkdir by /sbin/busybox is allowed: {out:?}");
    assert!(bundle.rootfs().join("ok").is_dir() && !bundle.rootfs().join("x").exists(), "in the container's rootfs");
    assert!(out.stdout.contains("Thu Apr 19 22:00:00 UTC 2012") && out.stdout.contains("date=0"), "{out:?}");
    assert!(after >= before && after - before < 60 && after > 1_700_000_000, "host clock moved: {before} → {after}");
    assert!(log.contains(&format!("id={}", container.id)) && log.contains("bundle="), "logs name the container: {log}");
    assert!(log.contains("clock set faked"), "{log}");
    // A second container is served by the same agent, and so is an exec into a running one.
    assert_served(&agent, runtime, "second");
    exec_is_served(&agent, runtime);
}

#[test]
fn runc_container_is_denied_allowed_and_emulated_by_the_agent() {
    deny_allow_and_emulate(Runtime::Runc);
}

#[test]
fn crun_container_is_denied_allowed_and_emulated_by_the_agent() {
    deny_allow_and_emulate(Runtime::Crun);
}

#[test]
fn the_agent_keeps_serving_while_containers_come_and_go() {
    let mut agent = Agent::start(POLICY, &[]);
    for (i, runtime) in [Runtime::Runc, Runtime::Crun, Runtime::Runc, Runtime::Crun].into_iter().enumerate() {
        assert_served(&agent, runtime, &format!("seq{i}"));
        assert!(agent.alive(), "after container {i}");
    }
    let log = agent.log();
    assert_eq!(log.matches("container connected").count(), 4, "{log}");
    assert_eq!(log.matches("container gone").count(), 4, "each container's task ends with it: {log}");
}

/// An exec into a running container is a new connection with a new listener, and is served too.
fn exec_is_served(agent: &Agent, runtime: Runtime) {
    let bundle = Bundle::new(agent.path(), None, "while [ ! -e /done ]; do sleep 0.05; done; echo finished");
    let container = Container::new(runtime, "exec");
    let child = container.spawn(&bundle);
    container.wait_running();
    let out = container.exec("mkdir /y; echo y=$?; date -s '2012-04-19 22:00:00' >/dev/null; echo date=$?");
    assert!(out.stdout.contains("y=1") && out.stderr.contains("Permission denied"), "{runtime:?} exec: {out:?}");
    assert!(out.stdout.contains("date=0"), "{runtime:?} exec: {out:?}");
    std::fs::write(bundle.rootfs().join("done"), "").expect("signal the container");
    assert_eq!(wait_child(child, "the exec container"), Some(0));
    let status = agent.log().lines().filter(|l| l.contains(&container.id) && l.contains("container connected")).count();
    assert_eq!(status, 2, "the start and the exec: {}", agent.log());
}

/// Sends `data` with `fds` attached in one sendmsg(2), as runc does.
fn send_with_fds(stream: &UnixStream, data: &[u8], fds: &[i32]) {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    let iov = [std::io::IoSlice::new(data)];
    let rights = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &rights };
    sendmsg::<()>(stream.as_raw_fd(), &iov, cmsgs, MsgFlags::empty(), None).expect("sendmsg");
}

fn state_json(id: &str) -> String {
    format!(
        r#"{{"ociVersion":"1.0.2","fds":["seccompFd"],"pid":1,"metadata":"","state":{{"ociVersion":"1.0.2","id":"{id}","status":"creating","pid":1,"bundle":"/nowhere"}}}}"#
    )
}

/// What a bad client is, what it does, and the reason the agent must log.
type BadClient<'a> = (&'static str, Box<dyn Fn() + 'a>, &'static str);

#[test]
fn bad_clients_never_stop_the_agent() {
    let mut agent = Agent::start(POLICY, &[]);
    let socket = agent.socket.clone();
    let connect = move || UnixStream::connect(&socket).expect("connect");
    let cases: Vec<BadClient> = vec![
        (
            "malformed JSON",
            Box::new(|| connect().write_all(br#"{"ociVersion": nope}"#).expect("write")),
            "invalid ContainerProcessState",
        ),
        ("binary garbage", Box::new(|| connect().write_all(b"\xff\x00\xfe{[").expect("write")), "invalid"),
        ("wrong shape", Box::new(|| connect().write_all(br#"{"fds":7}"#).expect("write")), "invalid"),
        ("closed at once", Box::new(|| drop(connect())), "connection closed without a message"),
        (
            "truncated",
            Box::new(|| connect().write_all(br#"{"ociVersion":"1.0.2","fds":["#).expect("write")),
            "in the middle of the message",
        ),
        (
            "no fd",
            Box::new(|| {
                let s = connect();
                send_with_fds(&s, state_json("nofd").as_bytes(), &[]);
                std::thread::sleep(Duration::from_millis(50));
            }),
            "the message carries 0 fd(s)",
        ),
        (
            "a pipe instead of a listener",
            Box::new(|| {
                let s = connect();
                let (r, _w) = nix::unistd::pipe().expect("pipe");
                send_with_fds(&s, state_json("pipe").as_bytes(), &[r.as_raw_fd()]);
                std::thread::sleep(Duration::from_millis(50));
            }),
            "is not a seccomp listener (pipe:[",
        ),
        (
            "oversized",
            Box::new(|| {
                let mut s = connect();
                let _ = s.write_all(b"{\"metadata\":\"");
                // The agent hangs up after 1 MiB: the rest of the write fails with EPIPE.
                let _ = s.write_all(&vec![b'a'; 2 << 20]);
            }),
            "message larger than 1048576 bytes",
        ),
    ];
    for (what, send, reason) in &cases {
        let offset = agent.log().len();
        send();
        agent.wait_log_after(offset, reason);
        assert!(agent.alive(), "{what} stopped the agent");
        assert_served(&agent, Runtime::Runc, "afterbad");
    }
    // A client that says nothing: the agent serves a container meanwhile, then times it out.
    let silent = connect();
    assert_served(&agent, Runtime::Runc, "silent");
    agent.wait_log("the runtime sent nothing within 300ms");
    drop(silent);
    assert!(agent.alive());
    assert_served(&agent, Runtime::Runc, "last");
    let log = agent.log();
    assert!(!log.contains("panicked"), "{log}");
    assert_eq!(log.matches("container connected").count(), cases.len() + 2, "{log}");
}

/// The agent's open fds (`/proc/PID/fd`; the agent is not dumpable, so this needs root, as the suite runs).
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |entries| entries.count())
}

/// Sends `pieces` over one connection, each in its own sendmsg(2) with the given control messages: `fds` copies of
/// one pipe end as SCM_RIGHTS (split over two control messages when `split`), and SCM_CREDENTIALS when `creds`.
fn send_hostile(socket: &Path, pieces: &[&[u8]], fds: usize, split: bool, creds: bool) {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixCredentials};
    let stream = UnixStream::connect(socket).expect("connect");
    let (r, _w) = nix::unistd::pipe().expect("pipe");
    let raw = vec![r.as_raw_fd(); fds];
    let credentials = UnixCredentials::new();
    for piece in pieces {
        let (first, second) = raw.split_at(if split { fds / 2 } else { fds });
        let mut cmsgs = Vec::new();
        for part in [first, second] {
            if !part.is_empty() {
                cmsgs.push(ControlMessage::ScmRights(part));
            }
        }
        if creds {
            cmsgs.push(ControlMessage::ScmCredentials(&credentials));
        }
        let iov = [std::io::IoSlice::new(piece)];
        // The agent may hang up first (too many fds): a failed send is part of the test.
        if sendmsg::<()>(stream.as_raw_fd(), &iov, &cmsgs, MsgFlags::empty(), None).is_err() {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(50));
}

#[test]
fn fds_of_hostile_messages_are_all_closed_whatever_their_number() {
    let mut agent = Agent::start(POLICY, &[]);
    let pid = agent.child.id();
    assert_served(&agent, Runtime::Runc, "warmup");
    let baseline = open_fds(pid);
    assert!(baseline > 0, "the agent's fds are readable");
    let state = state_json("hostile");
    let (head, tail) = state.split_at(state.len() / 2);
    let whole: &[&[u8]] = &[state.as_bytes()];
    let halves: &[&[u8]] = &[head.as_bytes(), tail.as_bytes()];
    let bad: &[&[u8]] = &[b"{\"fds\": nope"];
    let spaces: &[&[u8]] = &[b" ".as_slice(); 40];
    // (what, pieces, fds per piece, split over two SCM_RIGHTS, SCM_CREDENTIALS too, the reason logged)
    type Case<'a> = (&'a str, &'a [&'a [u8]], usize, bool, bool, &'a str);
    let cases: [Case; 8] = [
        ("8 fds", whole, 8, false, false, "is not a seccomp listener"),
        ("9 fds", whole, 9, false, false, "is not a seccomp listener"),
        ("12 fds in two SCM_RIGHTS", whole, 12, true, false, "is not a seccomp listener"),
        ("8 fds and SCM_CREDENTIALS", whole, 8, false, true, "is not a seccomp listener"),
        ("8 fds with each half of the message", halves, 8, false, false, "is not a seccomp listener"),
        ("253 fds (SCM_MAX_FD)", whole, 253, false, true, "fds (at most"),
        ("253 fds with bad JSON", bad, 253, true, false, "fds (at most"),
        ("64 fds with each of many pieces", spaces, 64, false, false, "fds (at most"),
    ];
    for (what, pieces, fds, split, creds, reason) in cases {
        let offset = agent.log().len();
        send_hostile(&agent.socket, pieces, fds, split, creds);
        agent.wait_log_after(offset, "message from the runtime dropped");
        let deadline = Instant::now() + Duration::from_secs(3);
        while open_fds(pid) > baseline && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(open_fds(pid), baseline, "{what}: fds left open; log:\n{}", &agent.log()[offset..]);
        assert!(agent.log()[offset..].contains(reason), "{what}: {reason:?} expected:\n{}", &agent.log()[offset..]);
        assert!(agent.alive(), "{what} stopped the agent");
    }
    assert_served(&agent, Runtime::Runc, "afterhostile");
    assert!(!agent.log().contains("panicked"), "{}", agent.log());
}

#[test]
fn sigterm_and_sigint_stop_the_agent_cleanly_and_the_socket_is_private() {
    for (signal, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT")] {
        let mut agent = Agent::start(POLICY, &[]);
        let meta = std::fs::metadata(&agent.socket).expect("socket");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "socket mode");
        assert_served(&agent, Runtime::Runc, "beforestop");
        assert_eq!(agent.stop(signal), Some(0), "exit status after {name}: {}", agent.log());
        assert!(!agent.socket.exists(), "the socket is removed after {name}");
        let log = agent.log();
        assert!(log.contains(&format!("signal=\"{name}\"")) && log.contains("stopped"), "{log}");
    }
}

#[test]
fn a_stale_socket_is_replaced_and_a_live_one_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let policy = dir.path().join("policy.json");
    std::fs::write(&policy, POLICY).expect("write policy");
    // A stale socket: bound, then its listener gone.
    let socket = dir.path().join("agent.sock");
    drop(std::os::unix::net::UnixListener::bind(&socket).expect("bind"));
    let mut agent = Agent::start_in(dir, &policy, &[]);
    assert!(agent.alive(), "{}", agent.log());
    assert_served(&agent, Runtime::Runc, "stale");
    // A live agent's socket is never taken over.
    let second_log = agent.dir.path().join("second.log");
    let (mut second, stderr) = spawn_agent(&agent.socket, &policy, &second_log, &[]);
    let code = wait_child_status(&mut second);
    let text = std::fs::read_to_string(stderr).expect("stderr");
    assert_eq!(code, Some(125), "{text}");
    assert!(
        text.starts_with("supervise: --socket ") && text.contains("another agent is already listening there"),
        "{text}"
    );
    assert!(agent.alive());
    assert_served(&agent, Runtime::Runc, "stillfirst");
    // A file that is not a socket is left alone.
    let file = agent.dir.path().join("not-a-socket");
    std::fs::write(&file, "keep").expect("write");
    let (mut third, stderr) = spawn_agent(&file, &policy, &agent.dir.path().join("third.log"), &[]);
    let code = wait_child_status(&mut third);
    let text = std::fs::read_to_string(stderr).expect("stderr");
    assert_eq!(code, Some(125), "{text}");
    assert!(text.contains("exists and is not a socket"), "{text}");
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "keep");
}

fn wait_child_status(child: &mut Child) -> Option<i32> {
    crate::support::wait_until(child, TIMEOUT).expect("the agent did not exit").code()
}

#[test]
fn listener_metadata_selects_a_policy_of_policy_dir() {
    let dir = tempfile::tempdir().expect("temp dir");
    let policy = dir.path().join("default.json");
    std::fs::write(&policy, POLICY).expect("write policy");
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).expect("mkdir");
    let permissive = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["mkdir","mkdirat"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"allow"}}]}"#;
    std::fs::write(policies.join("permissive.json"), permissive).expect("write");
    let erofs = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["mkdir","mkdirat"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"deny","errnoRet":"EROFS"}}]}"#;
    std::fs::write(policies.join("erofs.json"), erofs).expect("write");
    let mut agent = Agent::start_in(dir, &policy, &["--policy-dir", policies.to_str().expect("utf-8")]);
    let cases = [
        (Some("permissive.json"), "x=0", ""),
        (Some("policy=erofs"), "x=1", "Read-only file system"),
        (None, "x=1", "Permission denied"),
        // A name that --policy-dir lacks: the agent drops the listener; notified syscalls fail with ENOSYS.
        (Some("missing.json"), "x=1", "Function not implemented"),
    ];
    for (metadata, stdout, stderr) in cases {
        let bundle = Bundle::new(agent.path(), metadata, "mkdir /x; echo x=$?");
        let out = Container::new(Runtime::Runc, "meta").run(&bundle);
        assert_eq!(out.code, Some(0), "{metadata:?}: {out:?}");
        assert!(out.stdout.contains(stdout) && out.stderr.contains(stderr), "{metadata:?}: {out:?}\n{}", agent.log());
        assert_eq!(bundle.rootfs().join("x").is_dir(), stdout == "x=0", "{metadata:?}");
    }
    assert!(agent.log().contains("names no policy of --policy-dir"), "{}", agent.log());
    assert!(agent.alive());
}

#[test]
fn a_dead_agent_fails_notified_syscalls_with_enosys() {
    for runtime in [Runtime::Runc, Runtime::Crun] {
        let mut agent = Agent::start(POLICY, &[]);
        let script = "mkdir /a; echo a=$?; while [ ! -e /go ]; do sleep 0.05; done; mkdir /b; echo b=$?";
        let bundle = Bundle::new(agent.path(), None, script);
        let container = Container::new(runtime, "dead");
        let child = container.spawn(&bundle);
        agent.wait_log("container connected");
        container.wait_running();
        assert_eq!(agent.stop(libc::SIGKILL), None, "killed");
        std::fs::write(bundle.rootfs().join("go"), "").expect("signal the container");
        assert_eq!(wait_child(child, "the container after the agent died"), Some(0), "{runtime:?}");
        let out = std::fs::read_to_string(bundle.dir.path().join("out")).expect("output");
        assert!(out.contains("a=1") && out.contains("Permission denied"), "{runtime:?}: {out}");
        let enosys = "can't create directory '/b': Function not implemented";
        assert!(out.contains("b=1") && out.contains(enosys), "{runtime:?}: {out}");
        assert!(!bundle.rootfs().join("b").exists());
    }
}

/// Path rules in containers: decided and carried out in the container's own root and mount namespace.
/// Its /tmp is not the host's; relative paths resolve from its cwd; a denied path is denied inside it.
fn path_rules_in(runtime: Runtime) {
    let policy = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
      {"names":["mkdir","mkdirat","open","openat","creat"],"action":"SCMP_ACT_NOTIFY",
       "supervise":{"decision":"allow","paths":["/tmp/**"]}},
      {"names":["mkdir","mkdirat"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"deny","errnoRet":"EACCES"}},
      {"names":["open","openat","creat"],"action":"SCMP_ACT_NOTIFY",
       "supervise":{"decision":"deny","errnoRet":"EACCES","paths":["/etc/**"]}},
      {"names":["open","openat","creat"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"allow","paths":["/**"]}}]}"#;
    let agent = Agent::start(policy, &[]);
    let tag = unique("paths");
    let script = format!(
        "mkdir /tmp/{tag}; echo a=$?; mkdir /made; echo b=$?; cd /tmp && mkdir rel; echo c=$?; \
         echo hi > /tmp/file; echo d=$?; cat /etc/passwd; echo e=$?; grep -c '^Name:.grep' /proc/self/status; \
         echo f=$?"
    );
    let names = ["mkdir", "mkdirat", "open", "openat", "creat"];
    let bundle = Bundle::notifying(agent.path(), None, &names, &script);
    std::fs::create_dir_all(bundle.rootfs().join("etc")).expect("etc");
    std::fs::write(bundle.rootfs().join("etc/passwd"), "root:x:0:0::/:/bin/sh\n").expect("passwd");
    let out = Container::new(runtime, "paths").run(&bundle);
    let log = agent.log();
    assert_eq!(out.code, Some(0), "stdout {}\nstderr {}\nagent log:\n{log}", out.stdout, out.stderr);
    for want in ["a=0", "b=1", "c=0", "d=0", "e=1", "f=0"] {
        assert!(out.stdout.contains(want), "{want}: {out:?}\nagent log:\n{log}");
    }
    let rootfs = bundle.rootfs();
    assert!(rootfs.join("tmp").join(&tag).is_dir(), "made in the container's /tmp");
    assert!(!Path::new("/tmp").join(&tag).exists(), "not in the host's /tmp");
    assert!(rootfs.join("tmp/rel").is_dir(), "a relative path from the container's cwd");
    assert!(!rootfs.join("made").exists());
    assert_eq!(std::fs::read_to_string(rootfs.join("tmp/file")).expect("file"), "hi\n");
}

#[test]
fn runc_containers_get_path_rules_in_their_own_root() {
    path_rules_in(Runtime::Runc);
}

#[test]
fn crun_containers_get_path_rules_in_their_own_root() {
    path_rules_in(Runtime::Crun);
}

fn deploy(rel: &str) -> PathBuf {
    repo().join("deploy").join(rel)
}

/// Every document of a YAML file in deploy/.
fn yaml(rel: &str) -> Vec<yaml_rust2::Yaml> {
    let text = std::fs::read_to_string(deploy(rel)).unwrap_or_else(|e| panic!("deploy/{rel}: {e}"));
    yaml_rust2::YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("deploy/{rel} is not YAML: {e}"))
}

fn json(rel: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(deploy(rel)).unwrap_or_else(|e| panic!("deploy/{rel}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("deploy/{rel} is not JSON: {e}"))
}

fn strings(list: &yaml_rust2::Yaml) -> Vec<String> {
    list.as_vec().map(|v| v.iter().filter_map(|s| s.as_str().map(String::from)).collect()).unwrap_or_default()
}

/// The value after `flag` in an argument list.
fn flag<'a>(args: &'a [String], flag: &str) -> &'a str {
    let i = args.iter().position(|a| a == flag).unwrap_or_else(|| panic!("{flag} missing in {args:?}"));
    args.get(i + 1).unwrap_or_else(|| panic!("{flag} has no value"))
}

#[test]
fn the_deploy_yaml_parses_and_its_socket_matches_the_profile() {
    let docs = yaml("daemonset.yaml");
    let ds = docs.iter().find(|d| d["kind"].as_str() == Some("DaemonSet")).expect("a DaemonSet");
    assert_eq!(ds["apiVersion"].as_str(), Some("apps/v1"));
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["hostPID"].as_bool(), Some(true), "the agent must see the host's pids");
    let labels = &ds["spec"]["template"]["metadata"]["labels"];
    for (k, v) in ds["spec"]["selector"]["matchLabels"].as_hash().expect("matchLabels") {
        assert_eq!(&labels[k.as_str().expect("key")], v, "the selector matches the template");
    }
    let containers = pod["containers"].as_vec().expect("containers");
    let agent = containers.iter().find(|c| strings(&c["args"]).first().map(String::as_str) == Some("serve"));
    let agent = agent.expect("a container running `supervise serve`");
    let args = strings(&agent["args"]);
    let socket = Path::new(flag(&args, "--socket"));
    let volumes = pod["volumes"].as_vec().expect("volumes");
    let volume = |name: &str| volumes.iter().find(|v| v["name"].as_str() == Some(name)).expect("volume");
    let mounts = agent["volumeMounts"].as_vec().expect("volumeMounts");
    // The mount that holds the socket, and the host directory behind it.
    let mount = mounts
        .iter()
        .find(|m| socket.starts_with(m["mountPath"].as_str().expect("mountPath")))
        .expect("the socket's directory is a volume");
    let host_dir = volume(mount["name"].as_str().expect("name"))["hostPath"]["path"].as_str().expect("a hostPath");
    let host_socket = Path::new(host_dir)
        .join(socket.strip_prefix(mount["mountPath"].as_str().expect("mountPath")).expect("under the mount"));
    // Policies come from a ConfigMap mounted where --policy and --policy-dir point.
    for path in [flag(&args, "--policy"), flag(&args, "--policy-dir")] {
        let mount = mounts.iter().find(|m| Path::new(path).starts_with(m["mountPath"].as_str().expect("mountPath")));
        let mount = mount.unwrap_or_else(|| panic!("{path} is not mounted"));
        assert!(volume(mount["name"].as_str().expect("name"))["configMap"]["name"].as_str().is_some(), "{path}");
    }

    // The kustomization generates the ConfigMaps from files that exist and are valid policies.
    let kustomization = &yaml("kustomization.yaml")[0];
    let resources = strings(&kustomization["resources"]);
    assert!(resources.contains(&"daemonset.yaml".to_string()), "{resources:?}");
    for r in &resources {
        assert!(!yaml(r).is_empty(), "{r}");
    }
    let mut generated = std::collections::HashMap::new();
    for generator in kustomization["configMapGenerator"].as_vec().expect("configMapGenerator") {
        let files = strings(&generator["files"]);
        for f in &files {
            let out = run_with(
                {
                    let mut c = Command::new(supervise());
                    c.arg("check").arg(deploy(f));
                    c
                },
                b"",
                TIMEOUT,
            );
            assert_eq!(out.code, Some(0), "supervise check deploy/{f}: {}", out.stderr);
        }
        generated.insert(generator["name"].as_str().expect("name").to_string(), files);
    }
    for v in volumes.iter().filter_map(|v| v["configMap"]["name"].as_str()) {
        assert!(generated.contains_key(v), "ConfigMap {v} is generated: {generated:?}");
    }

    // Each Localhost profile names the host side of the agent's socket, and a policy the agent has.
    let policy_files = &generated["supervise-policies"];
    let profiles = &generated["supervise-seccomp-profiles"];
    assert!(!profiles.is_empty());
    for rel in profiles {
        let profile = json(rel);
        assert_eq!(profile["listenerPath"].as_str().map(Path::new), Some(host_socket.as_path()), "deploy/{rel}");
        let metadata = profile["listenerMetadata"].as_str().unwrap_or_default();
        assert!(
            metadata.is_empty() || policy_files.iter().any(|p| p.ends_with(&format!("/{metadata}"))),
            "deploy/{rel}: listenerMetadata {metadata:?} names no file of {policy_files:?}"
        );
        assert!(profile["defaultAction"].as_str() != Some("SCMP_ACT_NOTIFY"), "runc refuses it");
    }

    // The example pod names a profile that the init container installs.
    let example = &yaml("pod-example.yaml")[0];
    let seccomp = &example["spec"]["containers"][0]["securityContext"]["seccompProfile"];
    assert_eq!(seccomp["type"].as_str(), Some("Localhost"));
    let local = seccomp["localhostProfile"].as_str().expect("localhostProfile");
    let file = local.strip_prefix("supervise/").expect("installed under supervise/");
    assert!(profiles.iter().any(|p| p.ends_with(&format!("/{file}"))), "{local} is one of {profiles:?}");
}

#[test]
fn the_deploy_profile_and_policies_work_with_runc() {
    let mut profile = json("seccomp/clock-emulate.json");
    let dir = tempfile::tempdir().expect("temp dir");
    let policies = deploy("policies");
    let mut agent =
        Agent::start_in(dir, &policies.join("default.json"), &["--policy-dir", policies.to_str().expect("utf-8")]);
    profile["listenerPath"] = agent.path().into();
    let bundle = Bundle::new(agent.path(), None, "date -u -s '2012-04-19 22:00:00'; echo date=$?");
    let config_path = bundle.dir.path().join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config_path).expect("read")).expect("config.json");
    config["linux"]["seccomp"] = profile;
    std::fs::write(&config_path, serde_json::to_vec(&config).expect("json")).expect("write");
    let before = now();
    let out = Container::new(Runtime::Runc, "deploy").run(&bundle);
    let after = now();
    assert_eq!(out.code, Some(0), "{out:?}\n{}", agent.log());
    assert!(out.stdout.contains("2012") && out.stdout.contains("date=0"), "{out:?}\n{}", agent.log());
    assert!(after >= before && after - before < 60, "host clock moved: {before} → {after}");
    assert!(agent.log().contains("metadata=clock-emulate.json"), "{}", agent.log());
    assert!(agent.alive());
}
