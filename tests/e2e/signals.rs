//! Issue 15, item 2: every signal supervise can catch goes to the program, once, and supervise survives it and
//! exits with the program's status. The terminal's own signals (Ctrl-C, Ctrl-\, Ctrl-Z in a real terminal, tmux)
//! reach the program once, from the kernel; after Ctrl-Z supervise stops too, so the shell sees the job stopped.
//!
//! The program (`sigcatch`, C) handles every signal with `SA_SIGINFO` and appends `SIGNAL CODE SENDER` to
//! `DIR/log` for each one it gets; it exits 7 once `DIR/done` exists. supervise runs without CAP_SYS_TIME.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::reliability::cc;
use crate::support::{supervise, temp_dir, write_policy};
use crate::tmux::Tmux;

const SIGCATCH: &str = r#"
static int logfd = -1;

/* Appends "SIGNAL CODE SENDER\n" with one write(2) (async-signal-safe). */
static void on(int sig, siginfo_t *si, void *ctx) {
    (void)ctx;
    long v[3] = { sig, si->si_code, si->si_pid };
    char buf[80];
    int n = 0;
    for (int i = 0; i < 3; i++) {
        long x = v[i];
        if (x < 0) { buf[n++] = '-'; x = -x; }
        char d[24];
        int k = 0;
        do { d[k++] = '0' + x % 10; x /= 10; } while (x);
        while (k) buf[n++] = d[--k];
        buf[n++] = i < 2 ? ' ' : '\n';
    }
    if (write(logfd, buf, n) != n) _exit(93);
}

int main(int argc, char **argv) {
    set_dir(argc, argv);
    char p[4096];
    at(p, "log");
    logfd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0644);
    if (logfd < 0) return 94;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (int s = 1; s < NSIG; s++) {
        if (s != SIGKILL && s != SIGSTOP) sigaction(s, &sa, NULL); /* 32 and 33 are glibc's: EINVAL */
    }
    put_long("ready", getpid());
    while (!exists("done")) usleep(2000);
    return 7;
}
"#;

/// A policy with a notify rule, so that supervise also serves a listener while the signals come.
const NOTIFYING: &str = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
  {"names":["mkdir","mkdirat"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"deny","errnoRet":"EACCES"}}]}"#;

/// Every signal supervise passes on: 1–31 but SIGKILL, SIGSTOP and SIGCHLD, and the real-time signals.
fn forwarded() -> Vec<i32> {
    (1..=31)
        .filter(|s| ![libc::SIGKILL, libc::SIGSTOP, libc::SIGCHLD].contains(s))
        .chain(libc::SIGRTMIN()..=libc::SIGRTMAX())
        .collect()
}

/// One line of the program's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Got {
    signal: i32,
    code: i32,
    sender: i32,
}

fn log(dir: &Path) -> Vec<Got> {
    let text = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let v: Vec<i32> = l.split(' ').filter_map(|x| x.parse().ok()).collect();
            (v.len() == 3).then(|| Got { signal: v[0], code: v[1], sender: v[2] })
        })
        .collect()
}

/// Waits until the log has `count` lines for `signal`.
fn wait_for(dir: &Path, signal: i32, count: usize) {
    let start = Instant::now();
    while log(dir).iter().filter(|g| g.signal == signal).count() < count {
        assert!(start.elapsed() < Duration::from_secs(10), "signal {signal} never reached the program: {:?}", log(dir));
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn wait_file(path: &Path) -> String {
    let start = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if !text.is_empty() {
                return text;
            }
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The state letter of `/proc/PID/stat` (`R`, `S`, `T`, `Z`…).
fn state(pid: i32) -> char {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next()))
        .unwrap_or('?')
}

/// Waits until supervise is stopped (`stopped`) or no longer stopped.
fn wait_stopped(pid: i32, stopped: bool) {
    let start = Instant::now();
    while (state(pid) == 'T') != stopped {
        assert!(start.elapsed() < Duration::from_secs(10), "supervise {pid} is {:?} (stopped: {stopped}?)", state(pid));
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn kill(pid: i32, signal: i32) {
    // SAFETY: kill(2) on supervise, our own child that is not reaped yet.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "kill({pid}, {signal})");
}

/// `supervise [--policy P] -- sigcatch DIR`, without CAP_SYS_TIME, in a process group of its own (in this
/// session, so that a stop signal stops it: its group is not orphaned).
fn start(dir: &Path, policy: Option<&Path>) -> Child {
    let mut cmd = Command::new("setpriv");
    cmd.args(["--inh-caps=-sys_time", "--bounding-set=-sys_time"]).arg(supervise());
    if let Some(p) = policy {
        cmd.arg("--policy").arg(p);
    }
    cmd.arg("--").arg(cc("sigcatch", SIGCATCH)).arg(dir);
    cmd.env("XDG_CACHE_HOME", crate::support::cache_home(crate::support::euid()));
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    cmd.spawn().expect("spawn supervise")
}

#[test]
fn every_catchable_signal_sent_to_supervise_reaches_the_program_once() {
    let dir = temp_dir();
    let notifying = write_policy(dir.path(), "notifying.json", NOTIFYING);
    for policy in [None, Some(notifying.as_path())] {
        let work = temp_dir();
        let mut child = start(work.path(), policy);
        let pid = child.id() as i32;
        wait_file(&work.path().join("ready"));
        let mut expected_conts = 0;
        for signal in forwarded() {
            kill(pid, signal);
            if signal == libc::SIGCONT {
                expected_conts += 1;
                wait_for(work.path(), signal, expected_conts);
                continue;
            }
            wait_for(work.path(), signal, 1);
            if matches!(signal, libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU) {
                // Passed on, then supervise stops itself as the default action would: SIGCONT continues it and
                // is passed on too.
                wait_stopped(pid, true);
                kill(pid, libc::SIGCONT);
                expected_conts += 1;
                wait_for(work.path(), libc::SIGCONT, expected_conts);
            }
            assert!(child.try_wait().unwrap().is_none(), "{policy:?}: supervise died of signal {signal}");
        }
        // Nothing arrives twice: give a second copy time to show.
        std::thread::sleep(Duration::from_millis(200));
        std::fs::write(work.path().join("done"), "").unwrap();
        let status = crate::support::wait_until(&mut child, Duration::from_secs(10)).expect("supervise exits");
        assert_eq!(status.code(), Some(7), "{policy:?}: the program's status");
        let got = log(work.path());
        for signal in forwarded() {
            let copies: Vec<&Got> = got.iter().filter(|g| g.signal == signal).collect();
            let want = if signal == libc::SIGCONT { expected_conts } else { 1 };
            assert_eq!(copies.len(), want, "{policy:?}: signal {signal}: {got:?}");
            for g in copies {
                assert_eq!((g.code, g.sender), (libc::SI_USER, pid), "{policy:?}: sent on by supervise: {g:?}");
            }
        }
        assert_eq!(got.len(), forwarded().len() + expected_conts - 1, "{policy:?}: nothing else: {got:?}");
    }
}

#[test]
fn a_signal_ignored_when_supervise_started_is_passed_on_and_the_program_starts_with_it_ignored() {
    // `nohup` and background jobs of scripts start programs with SIGHUP or SIGINT ignored. The program starts so
    // (sleep ignores the SIGHUP sent on), and one that handles the signal itself still gets it.
    let work = temp_dir();
    let sup = supervise();
    let script = format!("trap '' HUP; exec {} -- sleep 0.5", sup.display());
    let mut child = Command::new("sh").args(["-c", &script]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    kill(child.id() as i32, libc::SIGHUP);
    let status = crate::support::wait_until(&mut child, Duration::from_secs(10)).expect("exits");
    assert_eq!(status.code(), Some(0), "sleep ignored SIGHUP as it would under nohup");

    let script = format!(
        "trap '' HUP; exec setpriv --inh-caps=-sys_time --bounding-set=-sys_time {} -- {} {}",
        sup.display(),
        cc("sigcatch", SIGCATCH).display(),
        work.path().display()
    );
    let mut child = Command::new("sh").args(["-c", &script]).spawn().unwrap();
    wait_file(&work.path().join("ready"));
    kill(child.id() as i32, libc::SIGHUP);
    wait_for(work.path(), libc::SIGHUP, 1);
    std::fs::write(work.path().join("done"), "").unwrap();
    let status = crate::support::wait_until(&mut child, Duration::from_secs(10)).expect("exits");
    assert_eq!(status.code(), Some(7));
}

/// A tmux session (a real terminal) with an interactive bash (job control).
fn terminal(dir: &Path) -> Tmux {
    Tmux::new_session(&[
        "-x",
        "200",
        "-y",
        "50",
        "-c",
        dir.to_str().unwrap(),
        "env PS1='$ ' bash --norc --noprofile -i",
    ])
}

/// supervise's pid: the parent of the program, whose pid is in `DIR/ready`.
fn supervise_of(dir: &Path) -> i32 {
    let program: i32 = wait_file(&dir.join("ready")).trim().parse().unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{program}/stat")).unwrap();
    stat.rsplit_once(") ").unwrap().1.split(' ').nth(1).unwrap().parse().unwrap()
}

#[test]
fn ctrl_c_ctrl_backslash_and_ctrl_z_in_a_terminal_reach_the_program_once() {
    let work = temp_dir();
    let dir = work.path();
    let t = terminal(dir);
    t.wait_for("$ ");
    let program = cc("sigcatch", SIGCATCH);
    let command = format!(
        "setpriv --inh-caps=-sys_time --bounding-set=-sys_time {} -- {} {}",
        supervise().display(),
        program.display(),
        dir.display()
    );
    t.send(&[&command, "Enter"]);
    let sup = supervise_of(dir);
    for (key, signal) in [("C-c", libc::SIGINT), ("C-\\", libc::SIGQUIT)] {
        t.send(&[key]);
        wait_for(dir, signal, 1);
        std::thread::sleep(Duration::from_millis(300));
        let got: Vec<Got> = log(dir).into_iter().filter(|g| g.signal == signal).collect();
        assert_eq!(got, [Got { signal, code: libc::SI_KERNEL, sender: 0 }], "{key}: once, from the terminal");
        assert_ne!(state(sup), 'Z', "supervise keeps running");
    }
    // Ctrl-Z: the program (which handles SIGTSTP) gets it once from the terminal; supervise stops, and the shell
    // sees the job stopped. `fg` continues both.
    t.send(&["C-z"]);
    wait_for(dir, libc::SIGTSTP, 1);
    t.wait_for("Stopped");
    assert_eq!(state(sup), 'T', "supervise stopped with the job");
    // `fg` sends SIGCONT to the job's process group: the program gets it from the shell, and may get it again from
    // supervise (a signal sent to the whole group reaches both; see docs/architecture.md).
    t.send(&["fg", "Enter"]);
    wait_stopped(sup, false);
    wait_for(dir, libc::SIGCONT, 1);
    std::fs::write(dir.join("done"), "").unwrap();
    t.send(&["echo EXIT=$?", "Enter"]);
    t.wait_for("EXIT=7");
    let tstp: Vec<Got> = log(dir).into_iter().filter(|g| g.signal == libc::SIGTSTP).collect();
    assert_eq!(tstp, [Got { signal: libc::SIGTSTP, code: libc::SI_KERNEL, sender: 0 }], "Ctrl-Z once");
}
