//! Running the programs being measured: commands with a time limit and captured output ([`output`]), the wall
//! time of a bare fork + execve + waitpid ([`Exec`]), a [`Watchdog`] that kills a child that runs too long, and the
//! `key value` lines that the target prints ([`Fields`]).

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr};
use std::io::{self, Read};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Kills a child (through a pidfd, so never a recycled pid) if it is still running after a time limit.
pub struct Watchdog {
    done: mpsc::Sender<()>,
    thread: JoinHandle<bool>,
}

impl Watchdog {
    /// Starts the clock for `pid`.
    pub fn arm(pid: i32, timeout: Duration) -> Watchdog {
        // SAFETY: pidfd_open(2) with our own child's pid and no flags; the returned fd (if any) is ours.
        let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        // SAFETY: a non-negative result of pidfd_open is a new fd that nothing else owns.
        let pidfd = (raw >= 0).then(|| unsafe { OwnedFd::from_raw_fd(raw as i32) });
        let (done, rx) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || match rx.recv_timeout(timeout) {
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Some(fd) = pidfd {
                    // SAFETY: pidfd_send_signal(2) on a pidfd we own, with no siginfo; a reaped process gives
                    // ESRCH, never another process.
                    unsafe { libc::syscall(libc::SYS_pidfd_send_signal, fd.as_raw_fd(), libc::SIGKILL, 0usize, 0u32) };
                }
                true
            }
            _ => false,
        });
        Watchdog { done, thread }
    }

    /// Stops the clock; true if the child was killed for running too long.
    pub fn disarm(self) -> bool {
        let _ = self.done.send(());
        self.thread.join().unwrap_or(false)
    }
}

/// Reads a pipe to its end.
pub fn read_all(fd: OwnedFd) -> String {
    let mut text = String::new();
    let _ = std::fs::File::from(fd).read_to_string(&mut text);
    text
}

/// What a finished command did.
#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// `Ok(stdout)` if the command exited 0, otherwise an error that quotes its stderr.
    pub fn ok(self, what: &str) -> io::Result<String> {
        if self.code == Some(0) {
            return Ok(self.stdout);
        }
        let tail: String = self.stderr.lines().rev().take(3).collect::<Vec<_>>().join(" / ");
        Err(io::Error::other(format!("{what}: exit {:?}: {tail}", self.code)))
    }
}

/// Runs `cmd` with stdin closed, captures its stdout and stderr, and kills it after `timeout`.
///
/// # Errors
/// If it cannot be spawned, or ran longer than `timeout`.
pub fn output(cmd: &mut Command, timeout: Duration) -> io::Result<Output> {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| io::Error::new(e.kind(), format!("cannot run {cmd:?}: {e}")))?;
    let watchdog = Watchdog::arm(child.id() as i32, timeout);
    let mut err = child.stderr.take().expect("piped");
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = err.read_to_string(&mut text);
        text
    });
    let mut stdout = String::new();
    let _ = child.stdout.take().expect("piped").read_to_string(&mut stdout);
    let status = child.wait()?;
    let stderr = err_reader.join().unwrap_or_default();
    if watchdog.disarm() {
        return Err(io::Error::new(io::ErrorKind::TimedOut, format!("{cmd:?} ran longer than {timeout:?}")));
    }
    Ok(Output { code: status.code(), stdout, stderr })
}

/// A command prepared for timing a bare fork + execve + waitpid (argv and envp built once, outside the clock).
pub struct Exec {
    argv: Vec<CString>,
    envp: Vec<CString>,
}

impl Exec {
    /// `argv[0]` must be a path. `env` is added to this process's environment.
    pub fn new(argv: &[&OsStr], env: &[(&str, &OsStr)]) -> Exec {
        let c = |bytes: &[u8]| CString::new(bytes).expect("no NUL in arguments");
        let argv = argv.iter().map(|a| c(a.as_bytes())).collect();
        let mut vars: BTreeMap<Vec<u8>, Vec<u8>> =
            std::env::vars_os().map(|(k, v)| (k.into_encoded_bytes(), v.into_encoded_bytes())).collect();
        for (k, v) in env {
            vars.insert(k.as_bytes().to_vec(), v.as_bytes().to_vec());
        }
        let envp = vars.into_iter().map(|(k, v)| c(&[k, b"=".to_vec(), v].concat())).collect();
        Exec { argv, envp }
    }

    /// Replaces one environment variable (for a fresh cache directory per run).
    pub fn set_env(&mut self, key: &str, value: &OsStr) {
        let prefix = format!("{key}=");
        let entry = CString::new([prefix.as_bytes(), value.as_bytes()].concat()).expect("no NUL");
        self.envp.retain(|e| !e.as_bytes().starts_with(prefix.as_bytes()));
        self.envp.push(entry);
    }

    /// Wall time of fork + execve + waitpid, with stdin, stdout and stderr on `null`, and the CPU time (user +
    /// system) of the child and of the descendants it waited for (wait4(2)'s rusage).
    ///
    /// # Errors
    /// If fork fails or the program does not exit 0.
    pub fn time(&self, null: BorrowedFd<'_>) -> io::Result<(Duration, Duration)> {
        let argv: Vec<*const libc::c_char> =
            self.argv.iter().map(|a| a.as_ptr()).chain(std::iter::once(std::ptr::null())).collect();
        let envp: Vec<*const libc::c_char> =
            self.envp.iter().map(|a| a.as_ptr()).chain(std::iter::once(std::ptr::null())).collect();
        let start = Instant::now();
        // SAFETY: fork(2); the child only calls dup2(2), execve(2) and _exit(2) on memory prepared above.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: as above: async-signal-safe calls on prepared, NUL-terminated arrays.
            unsafe {
                for target in 0..3 {
                    libc::dup2(null.as_raw_fd(), target);
                }
                libc::execve(argv[0], argv.as_ptr(), envp.as_ptr());
                libc::_exit(127)
            }
        }
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut status = 0;
        // SAFETY: rusage is plain old data; all-zero is valid.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: wait4(2) on our own child with valid status and rusage pointers.
        unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        let elapsed = start.elapsed();
        if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
            return Err(io::Error::other(format!("{:?} failed (wait status {status:#x})", self.argv[0])));
        }
        let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
        Ok((elapsed, tv(usage.ru_utime) + tv(usage.ru_stime)))
    }
}

/// The `key value` lines a target printed.
#[derive(Debug, Default)]
pub struct Fields(BTreeMap<String, String>);

impl Fields {
    pub fn parse(text: &str) -> Fields {
        Fields(
            text.lines()
                .filter_map(|l| l.split_once(' '))
                .map(|(k, v)| (k.to_string(), v.trim().to_string()))
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// A number field, or an error naming it.
    ///
    /// # Errors
    /// If the field is missing or not a number.
    pub fn num(&self, key: &str) -> io::Result<f64> {
        self.get(key)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| io::Error::other(format!("the target printed no number {key:?}: {:?}", self.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_parse_key_value_lines() {
        let f = Fields::parse("ns_per_call 5123.4\nret -1\nerrno 1\nper_thread 1,2,3\njunk\n");
        assert_eq!(f.num("ns_per_call").unwrap(), 5123.4);
        assert_eq!(f.num("ret").unwrap(), -1.0);
        assert_eq!(f.get("per_thread"), Some("1,2,3"));
        assert!(f.num("missing").is_err());
        assert!(f.num("per_thread").is_err());
    }
}
