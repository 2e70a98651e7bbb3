//! Issue 9: reliability and security guarantees, each with a test that fails if the guarantee breaks.
//!
//! - `fail_closed`: supervise killed while a notification is pending (ENOSYS, nothing created, no hang), and
//!   `--on-supervisor-exit kill`; nested supervise (EBUSY, exit 125 at once).
//! - `fds`: the listener fd never reaches the app or its children; the supervisor's fd count returns to its baseline
//!   after thousands of notifications (the short soak).
//! - `arch`: denied syscalls stay denied through `int 0x80` and x32; a profile listing only x86_64 kills other arches.
//! - `storms`: a signal every millisecond during notified syscalls, a fork storm, python threads.
//! - `hostile`: bad policies through the real binary: one clear `supervise:` line, exit 125, no panic.
//! - `self_protection`: the program cannot reach its supervisor (pidfd_getfd, ptrace, process_vm_readv/writev,
//!   /proc/PID/mem, fd, environ), as the same uid or after dropping to another.
//! - `target_memory`: targets killed while their clock_settime emulation is pending.
//!
//! The test programs are small C files compiled with gcc at test time ([`cc`]); they make raw syscalls, so what
//! the filter sees is exactly what the test says. Every supervise here runs without CAP_SYS_TIME
//! ([`Session::start`]), and every wait has a deadline.

mod arch;
mod fail_closed;
mod fds;
mod hostile;
mod self_protection;
mod storms;
mod target_memory;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::support::{supervise, temp_dir, Output};

/// Helpers every C test program starts with: the working directory given as `argv[1]`, and small files as
/// signals between the program and the test (`put`, `await_file`), none of which is a notified syscall here.
const C_PRELUDE: &str = r#"
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[512];

__attribute__((unused)) static void at(char *out, const char *name) { snprintf(out, 4096, "%s/%s", dir, name); }

/* Writes a small file atomically (write a temporary, then rename). */
__attribute__((unused)) static void put(const char *name, const char *text) {
    char p[4096], tmp[4200];
    at(p, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) _exit(90);
    if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) _exit(91);
    close(fd);
    if (rename(tmp, p) != 0) _exit(92);
}

__attribute__((unused)) static void put_long(const char *name, long value) {
    char text[64];
    snprintf(text, sizeof text, "%ld", value);
    put(name, text);
}

__attribute__((unused)) static int exists(const char *name) {
    char p[4096];
    at(p, name);
    return access(p, F_OK) == 0;
}

/* Waits up to `ms` milliseconds for a file; 1 if it appeared. */
__attribute__((unused)) static int await_file(const char *name, int ms) {
    for (int i = 0; i < ms; i++) {
        if (exists(name)) return 1;
        usleep(1000);
    }
    return 0;
}

__attribute__((unused)) static void set_dir(int argc, char **argv) {
    if (argc < 2) _exit(2);
    snprintf(dir, sizeof dir, "%s", argv[1]);
}
"#;

/// Compiles `source` (after [`C_PRELUDE`]) with gcc once per build and returns the executable.
pub fn cc(name: &str, source: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let text = format!("{C_PRELUDE}\n{source}");
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("reliability");
    let exe = out_dir.join(format!("{name}-{:016x}", hasher.finish()));
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = built.get(name) {
        return path.clone();
    }
    if !exe.exists() {
        std::fs::create_dir_all(&out_dir).expect("create the C output directory");
        let src = out_dir.join(format!("{name}.{}.c", std::process::id()));
        std::fs::write(&src, &text).expect("write C source");
        let tmp = exe.with_extension(format!("tmp{}", std::process::id()));
        let out = Command::new("gcc")
            .args(["-O2", "-Wall", "-Werror", "-Wno-format-truncation", "-pthread", "-o"])
            .arg(&tmp)
            .arg(&src)
            .output()
            .expect("gcc is installed (./x setup)");
        assert!(out.status.success(), "gcc {name}: {}", String::from_utf8_lossy(&out.stderr));
        std::fs::rename(&tmp, &exe).expect("rename compiled program");
        let _ = std::fs::remove_file(&src);
    }
    built.insert(name.to_string(), exe.clone());
    exe
}

/// A `supervise` running in the background (without CAP_SYS_TIME), with a working directory for its program.
/// Dropping it kills supervise if it is still running.
pub struct Session {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pid: i32,
    readers: Option<(std::thread::JoinHandle<String>, std::thread::JoinHandle<String>)>,
}

impl Session {
    /// Writes `policy` as `DIR/policy.json` and starts `supervise [OPTIONS] --policy DIR/policy.json -- PROGRAM
    /// ARGS`, where the arguments may use `{dir}` for the working directory.
    pub fn start(policy: &str, options: &[&str], program: &Path, args: &[&str]) -> Session {
        let dir = temp_dir();
        let d = dir.path().to_str().expect("utf-8 temp dir").to_string();
        let policy_path = dir.path().join("policy.json");
        std::fs::write(&policy_path, policy.replace("{dir}", &d)).expect("write policy");
        let mut cmd = Command::new("setpriv");
        cmd.args(["--inh-caps=-sys_time", "--bounding-set=-sys_time"]).arg(supervise());
        cmd.args(options).arg("--policy").arg(&policy_path).arg("--").arg(program);
        cmd.args(args.iter().map(|a| a.replace("{dir}", &d)));
        cmd.env("XDG_CACHE_HOME", crate::support::cache_home(crate::support::euid()));
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn setpriv supervise");
        let mut out = child.stdout.take().expect("piped");
        let mut err = child.stderr.take().expect("piped");
        let readers = (
            std::thread::spawn(move || {
                let mut s = String::new();
                let _ = out.read_to_string(&mut s);
                s
            }),
            std::thread::spawn(move || {
                let mut s = String::new();
                let _ = err.read_to_string(&mut s);
                s
            }),
        );
        let pid = child.id() as i32;
        Session { child: Some(child), dir, pid, readers: Some(readers) }
    }

    /// supervise's pid (setpriv execs it, so the pid is the same).
    pub fn pid(&self) -> i32 {
        self.pid
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Creates the file `name` (a signal to the program).
    pub fn touch(&self, name: &str) {
        std::fs::write(self.path(name), "").expect("touch");
    }

    /// Waits for the program to write the file `name` and returns its content.
    pub fn read_when_ready(&self, name: &str, timeout: Duration) -> String {
        let path = self.path(name);
        wait_until(&format!("{} to appear", path.display()), timeout, || path.exists());
        std::fs::read_to_string(&path).expect("read")
    }

    /// A number the program wrote (a pid). The program creates the file, then writes it: wait for the number, not
    /// only for the file.
    pub fn read_pid(&self, name: &str) -> i32 {
        let path = self.path(name);
        let mut text = String::new();
        wait_until(&format!("a pid in {}", path.display()), Duration::from_secs(10), || {
            text = std::fs::read_to_string(&path).unwrap_or_default();
            text.trim().parse::<i32>().is_ok()
        });
        text.trim().parse().unwrap_or_else(|_| panic!("{name}: not a pid: {text:?}"))
    }

    /// Sends `signal` to supervise.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own, not yet reaped child.
        assert_eq!(unsafe { libc::kill(self.pid, signal) }, 0, "kill supervise");
    }

    /// Waits for supervise to exit (killing it after `timeout`, which fails the test). The working directory
    /// stays until the session is dropped.
    pub fn finish(&mut self, timeout: Duration) -> Output {
        let mut child = self.child.take().expect("running");
        let Some(status) = crate::support::wait_until(&mut child, timeout) else {
            let (_, err) = self.readers.take().expect("readers");
            panic!("supervise did not finish within {timeout:?}; stderr: {}", err.join().unwrap_or_default());
        };
        let (out, err) = self.readers.take().expect("readers");
        use std::os::unix::process::ExitStatusExt;
        let code = status.code().or_else(|| status.signal().map(|s| 128 + s));
        Output { code, stdout: out.join().unwrap_or_default(), stderr: err.join().unwrap_or_default() }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `cond` every 2 ms until it holds; panics naming `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The targets of `/proc/PID/fd/*` (empty if the process is gone).
pub fn fd_links(pid: i32) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return Vec::new() };
    entries.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok()).map(|p| p.to_string_lossy().into_owned()).collect()
}

/// What `/proc/PID/fd` shows for a seccomp listener.
pub const LISTENER_LINK: &str = "anon_inode:seccomp notify";

/// The syscall a task is blocked in (`/proc/PID/syscall`), `None` if it is running or gone.
pub fn blocked_in(pid: i32) -> Option<i64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/syscall")).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// True once `pid` has exited (gone, or a zombie waiting for its parent).
pub fn is_dead(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => {
            let state = stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next());
            matches!(state, Some('Z' | 'X') | None)
        }
    }
}

/// The parent of `pid`, from `/proc/PID/stat`.
pub fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.split_whitespace().nth(1)?.parse().ok()
}

/// Sends SIGKILL to `pid`, ignoring errors (cleanup of programs that outlived their supervise).
pub fn kill_quietly(pid: i32) {
    if pid > 0 {
        // SAFETY: kill(2) with a positive pid and a valid signal.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// A policy allowing everything but the given rules (JSON objects, comma-separated).
pub fn allow_except(rules: &str) -> String {
    format!(r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{rules}]}}"#)
}
