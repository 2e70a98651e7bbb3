//! Shared helpers for the end-to-end tests: where the binaries are, running a command with a timeout (a hung test
//! fails instead of hanging CI), temporary policies, running as uid 65534 or without CAP_SYS_TIME, and the checks
//! that every test repeats (supervise's own failures, the host clock).

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

/// Default time limit for one command.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// The uid and gid of `nobody`, for the unprivileged runs.
pub const NOBODY: u32 = 65534;

/// The `probe` helper binary (built with this test).
pub fn probe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_probe"))
}

/// The `probe` path as a `&str`, for argument lists.
pub fn probe_str() -> String {
    probe().to_str().expect("utf-8 target path").to_string()
}

/// The `supervise` binary of the same build: the same target directory as `probe`.
pub fn supervise() -> PathBuf {
    let path = probe().with_file_name("supervise");
    assert!(
        path.exists(),
        "{} is missing: build the workspace first (`cargo build --workspace`, or `./x setup`)",
        path.display()
    );
    path
}

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// A file of `policies/`.
pub fn policy_file(name: &str) -> PathBuf {
    repo().join("policies").join(name)
}

/// A fixture of `tests/fixtures/` (real Docker and podman profiles, kept in the repository).
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(rel)
}

/// The tests' filter cache (`XDG_CACHE_HOME`) for supervise running as `uid`: one per uid, since supervise refuses
/// a cache directory that another user owns.
pub fn cache_home(uid: u32) -> PathBuf {
    std::env::temp_dir().join(format!("supervise-e2e-cache-{uid}"))
}

/// What a finished command did.
#[derive(Debug)]
pub struct Output {
    /// The exit status, or 128+N when signal N killed it (as a shell reports it).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` with `stdin` fed to it. After `timeout` the command is killed and the test fails, so that a bug never
/// hangs the suite; the same limit covers a leftover process that keeps the output pipes open.
pub fn run_with(mut cmd: Command, stdin: &[u8], timeout: Duration) -> Output {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    // A private cache keeps tests off the user's ~/.cache (unless the test chose one).
    if !cmd.get_envs().any(|(key, _)| key == "XDG_CACHE_HOME") {
        cmd.env("XDG_CACHE_HOME", cache_home(euid()));
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot spawn {cmd:?}: {e}"));
    let mut input = child.stdin.take().expect("piped");
    let data = stdin.to_vec();
    std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().expect("piped");
    let err = child.stderr.take().expect("piped");
    for (stream, mut pipe) in [(1, Box::new(out) as Box<dyn Read + Send>), (2, Box::new(err))] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            let _ = tx.send((stream, String::from_utf8_lossy(&bytes).into_owned()));
        });
    }
    let start = Instant::now();
    let Some(status) = wait_until(&mut child, timeout) else { panic!("{cmd:?} did not finish within {timeout:?}") };
    let (mut stdout, mut stderr) = (String::new(), String::new());
    for _ in 0..2 {
        let left = timeout.saturating_sub(start.elapsed()).max(Duration::from_secs(1));
        match rx.recv_timeout(left) {
            Ok((1, text)) => stdout = text,
            Ok((_, text)) => stderr = text,
            Err(_) => panic!("{cmd:?} exited ({status}) but something it started still holds its output open"),
        }
    }
    let code = status.code().or_else(|| status.signal().map(|s| 128 + s));
    Output { code, stdout, stderr }
}

/// Waits for `child` for at most `timeout`; on timeout kills and reaps it and returns `None`.
pub fn wait_until(child: &mut std::process::Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return Some(status);
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `program args…` with the default timeout and no stdin.
pub fn run(program: impl AsRef<OsStr>, args: &[&str]) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(args);
    run_with(cmd, b"", TIMEOUT)
}

/// `supervise ARGS…`.
pub fn sup(args: &[&str]) -> Output {
    run(supervise(), args)
}

/// `supervise --policy POLICY -- ARGS…`.
pub fn sup_policy(policy: &Path, args: &[&str]) -> Output {
    let policy = policy.to_str().expect("utf-8 path");
    sup(&[&["--policy", policy, "--"], args].concat())
}

/// `supervise --policy POLICY -- probe ARGS…`.
pub fn sup_probe(policy: &Path, args: &[&str]) -> Output {
    let probe = probe_str();
    sup_policy(policy, &[&[probe.as_str()], args].concat())
}

/// Whether the tests run as root; the unprivileged and capability tests need it to switch users.
pub fn is_root() -> bool {
    // SAFETY: geteuid(2) takes no arguments and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The effective uid of the tests.
pub fn euid() -> u32 {
    // SAFETY: geteuid(2) takes no arguments and cannot fail.
    unsafe { libc::geteuid() }
}

/// Prints why a test (or half of it) is skipped and returns false when not root, for `if !needs_root(…) { return }`.
pub fn needs_root(what: &str) -> bool {
    if !is_root() {
        eprintln!("skipped: {what} needs root (to switch to uid {NOBODY})");
    }
    is_root()
}

/// The `setpriv` options that drop CAP_SYS_TIME from every set, so that a bug gives EPERM and never a changed clock.
/// Without root there is no CAP_SYS_TIME to drop (and `--bounding-set` would need CAP_SETPCAP): no options.
pub fn without_sys_time() -> Vec<&'static str> {
    if is_root() {
        vec!["--inh-caps=-sys_time", "--bounding-set=-sys_time"]
    } else {
        Vec::new()
    }
}

/// `program args…` without CAP_SYS_TIME (see `without_sys_time`).
pub fn run_without_sys_time(program: &Path, args: &[&str]) -> Output {
    let program = program.to_str().expect("utf-8 path");
    let all = [without_sys_time().as_slice(), &[program], args].concat();
    if all[0] == program {
        run(program, args)
    } else {
        run("setpriv", &all)
    }
}

/// `supervise ARGS…` without CAP_SYS_TIME.
pub fn sup_without_sys_time(args: &[&str]) -> Output {
    run_without_sys_time(&supervise(), args)
}

/// `program args…` as uid/gid 65534 (nobody), with no groups and no capabilities. Needs root (see `needs_root`).
pub fn as_nobody(program: &Path, args: &[&str]) -> Output {
    let program = program.to_str().expect("utf-8 path");
    let ids = ["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"];
    let args: Vec<String> = args.iter().map(|a| readable_by_nobody(a)).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = Command::new("setpriv");
    cmd.args([ids.as_slice(), &[program], &args].concat()).env("XDG_CACHE_HOME", cache_home(NOBODY));
    run_with(cmd, b"", TIMEOUT)
}

/// An argument that names a file of this checkout (a policy, a fixture, `probe`) becomes a copy that uid 65534 can
/// read and run: CI checks the repository out into a private directory. Other arguments are kept as they are.
fn readable_by_nobody(arg: &str) -> String {
    let path = Path::new(arg);
    let inside =
        |root: PathBuf| root.canonicalize().is_ok_and(|root| path.canonicalize().is_ok_and(|p| p.starts_with(root)));
    if !path.is_absolute() || !path.is_file() || !inside(repo()) {
        return arg.to_string();
    }
    use std::os::unix::fs::PermissionsExt;
    static SHARED: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let dir = SHARED.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("supervise-e2e-nobody-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("shared dir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        dir
    });
    let unique = format!("{:x}-{}", fnv(arg), path.file_name().map_or("file".into(), |n| n.to_string_lossy()));
    let copy = dir.join(unique);
    if !copy.exists() {
        let tmp = copy.with_extension(format!("tmp{:?}", std::thread::current().id()).replace(['(', ')'], ""));
        std::fs::copy(path, &tmp).expect("copy for nobody");
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::rename(&tmp, &copy).expect("rename");
    }
    copy.display().to_string()
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// A temporary directory that uid 65534 can use too.
pub fn temp_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new().prefix("supervise-e2e-").tempdir().expect("temp dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    dir
}

/// Writes `json` as a policy file in `dir` and returns its path.
pub fn write_policy(dir: &Path, name: &str, json: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, json).expect("write policy");
    path
}

/// Asserts that supervise failed on its own: the status, exactly one stderr line and it starts with `supervise:`,
/// no panic or backtrace.
pub fn assert_own_failure(out: &Output, code: i32) {
    assert_eq!(out.code, Some(code), "stdout: {}\nstderr: {}", out.stdout, out.stderr);
    assert!(!out.stderr.contains("panicked") && !out.stderr.contains("backtrace"), "a panic: {}", out.stderr);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one error line: {:?}", out.stderr);
    assert!(lines[0].starts_with("supervise: "), "the line starts with `supervise:`: {:?}", out.stderr);
}

/// The host's realtime clock, read before a clock test.
pub fn clock() -> SystemTime {
    SystemTime::now()
}

/// Asserts that the host clock did not jump since `before` (read with `clock`): it moved forward by less than 5 s.
pub fn assert_clock_untouched(before: SystemTime) {
    let after = SystemTime::now();
    let moved =
        after.duration_since(before).unwrap_or_else(|e| panic!("the host clock went back by {:?}", e.duration()));
    assert!(moved < Duration::from_secs(5), "the host clock jumped forward by {moved:?}");
}

/// The host's realtime clock in seconds.
pub fn now() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).expect("after 1970").as_secs() as i64
}

/// A policy with one rule on `mkdir`/`mkdirat` (the `action` plus `extra`, a JSON fragment starting with a comma)
/// and everything else allowed.
pub fn mkdir_rule(action: &str, extra: &str) -> String {
    format!(
        r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{{"names":["mkdir","mkdirat"],"action":"{action}"{extra}}}]}}"#
    )
}

/// What `probe mkdir DIR/d` did under a policy: its status, its report line, supervise's stderr, and whether the
/// directory exists afterwards.
#[derive(Debug)]
pub struct Mkdir {
    pub code: Option<i32>,
    pub report: String,
    pub stderr: String,
    pub created: bool,
}

/// Runs `probe mkdir DIR/d` under `policy` (JSON text), through `wrap` (for example `as_nobody`).
pub fn probe_mkdir_with(policy: &str, wrap: impl FnOnce(&Path, &[&str]) -> Output) -> Mkdir {
    let dir = temp_dir();
    let p = write_policy(dir.path(), "p.json", policy);
    let target = dir.path().join("d");
    let probe = probe_str();
    let args = ["--policy", p.to_str().expect("utf-8"), "--", probe.as_str(), "mkdir", target.to_str().expect("utf-8")];
    let out = wrap(&supervise(), &args);
    Mkdir { code: out.code, report: out.stdout.trim().to_string(), stderr: out.stderr, created: target.exists() }
}

/// Runs `probe mkdir DIR/d` under `policy` (JSON text).
pub fn probe_mkdir(policy: &str) -> Mkdir {
    probe_mkdir_with(policy, |program, args| run(program, args))
}
