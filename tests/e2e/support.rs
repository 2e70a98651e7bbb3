//! Shared helpers for the end-to-end tests: where the binaries are, running a command with a timeout (a hung test
//! fails instead of hanging CI), temporary policies, and running as another user or without CAP_SYS_TIME.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Default time limit for one command.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// The `probe` helper binary (built with this test).
pub fn probe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_probe"))
}

/// The `supervise` binary of the same build (same target directory as `probe`).
pub fn supervise() -> PathBuf {
    let path = probe().with_file_name("supervise");
    assert!(path.exists(), "{} is missing: build the workspace first (`cargo build --workspace`)", path.display());
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

/// A fixture of the shared folder (`../shared/fixtures/…`, next to the repository).
pub fn fixture(rel: &str) -> PathBuf {
    repo().join("../shared/fixtures").join(rel)
}

/// What a finished command did.
#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` with `stdin` fed to it, killing it after `timeout`.
pub fn run_with(mut cmd: Command, stdin: &[u8], timeout: Duration) -> Output {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    // A private cache keeps tests off the user's ~/.cache.
    cmd.env("XDG_CACHE_HOME", std::env::temp_dir().join("supervise-e2e-cache"));
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot spawn {cmd:?}: {e}"));
    let mut input = child.stdin.take().expect("piped");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = writer.join();
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    use std::os::unix::process::ExitStatusExt;
    let code = status.code().or_else(|| status.signal().map(|s| 128 + s));
    Output { code, stdout, stderr }
}

/// Runs `program args…` with the default timeout and no stdin.
pub fn run(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(args);
    run_with(cmd, b"", TIMEOUT)
}

/// `supervise ARGS…`.
pub fn sup(args: &[&str]) -> Output {
    run(supervise(), args)
}

/// `setpriv … supervise ARGS…` without CAP_SYS_TIME, so that a bug gives EPERM, never a changed host clock.
pub fn sup_without_sys_time(args: &[&str]) -> Output {
    let mut all = vec!["--inh-caps=-sys_time", "--bounding-set=-sys_time"];
    let exe = supervise();
    all.push(exe.to_str().expect("utf-8 path"));
    all.extend_from_slice(args);
    run("setpriv", &all)
}

/// `setpriv` as uid/gid 65534 (nobody), no groups, no capabilities.
pub fn as_nobody(program: &Path, args: &[&str]) -> Output {
    let mut all = vec!["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"];
    all.push(program.to_str().expect("utf-8 path"));
    all.extend_from_slice(args);
    run("setpriv", &all)
}

/// A temporary directory that uid 65534 can use too.
pub fn temp_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    dir
}

/// Writes `json` as a policy file in `dir` and returns its path.
pub fn write_policy(dir: &Path, name: &str, json: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, json).expect("write policy");
    path
}

/// Asserts that supervise failed on its own: the status, one or more `supervise:` lines, no panic.
pub fn assert_own_failure(out: &Output, code: i32) {
    assert_eq!(out.code, Some(code), "stderr: {}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "panic: {}", out.stderr);
    assert!(
        out.stderr.lines().all(|l| l.starts_with("supervise:")),
        "every error line starts with supervise: {}",
        out.stderr
    );
}

/// The host's realtime clock in seconds, to check a test did not move it.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs() as i64
}
