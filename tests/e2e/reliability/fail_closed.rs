//! Guarantee 1 (fail closed) and 4 (nested supervise).
//!
//! The app waits for a file, then calls `mkdir` twice, with the decision "allow". The test stops supervise
//! (SIGSTOP) first, so that the first `mkdir` is a pending notification nobody has received, then kills supervise
//! (SIGKILL): the pending call and the later one must fail with ENOSYS, nothing is created, and nothing hangs.

use std::time::{Duration, Instant};

use super::{allow_except, blocked_in, cc, is_dead, kill_quietly, Session};
use crate::support::{assert_own_failure, run_with, supervise, temp_dir, write_policy};

const APP: &str = r#"
int main(int argc, char **argv) {
    set_dir(argc, argv);
    put_long("pid", getpid());
    if (!await_file("go", 20000)) return 3;
    char d[4096], d2[4096];
    at(d, "d");
    at(d2, "d2");
    long r1 = syscall(SYS_mkdir, d, 0755);
    int e1 = r1 < 0 ? errno : 0;
    long r2 = syscall(SYS_mkdir, d2, 0755);
    int e2 = r2 < 0 ? errno : 0;
    char text[128];
    snprintf(text, sizeof text, "%ld %d %ld %d", r1, e1, r2, e2);
    put("result", text);
    if (!await_file("exit", 20000)) return 4;
    put("survived", "yes");
    return 0;
}
"#;

const MKDIR_ALLOW: &str =
    r#"{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"allow"}}"#;

/// Starts the app, stops supervise, lets the app block in a notified `mkdir`, and kills supervise. Returns the
/// session (supervise reaped) and the app's pid.
fn kill_supervise_while_pending(options: &[&str]) -> (Session, i32) {
    let app = cc("fail_closed", APP);
    let session = Session::start(&allow_except(MKDIR_ALLOW), options, &app, &["{dir}"]);
    let pid = session.read_pid("pid");
    session.signal(libc::SIGSTOP);
    session.touch("go");
    super::wait_until("the app to block in its notified mkdir", Duration::from_secs(10), || {
        blocked_in(pid) == Some(libc::SYS_mkdir)
    });
    // Still blocked a moment later: nobody answers a stopped supervisor.
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(blocked_in(pid), Some(libc::SYS_mkdir), "the notification is pending");
    assert!(!session.path("d").exists());
    session.signal(libc::SIGKILL);
    (session, pid)
}

#[test]
fn killing_supervise_fails_pending_and_later_notified_syscalls_with_enosys() {
    let (mut session, pid) = kill_supervise_while_pending(&[]);
    let result = session.read_when_ready("result", Duration::from_secs(30));
    let enosys = libc::ENOSYS;
    assert_eq!(result, format!("-1 {enosys} -1 {enosys}"), "the pending and the later mkdir fail with ENOSYS");
    assert!(!session.path("d").exists() && !session.path("d2").exists(), "no directory was created");
    // The default (enosys) leaves the program running: it goes on and exits by itself.
    session.touch("exit");
    session.read_when_ready("survived", Duration::from_secs(30));
    kill_quietly(pid);
    let out = session.finish(Duration::from_secs(30));
    assert_eq!(out.code, Some(128 + libc::SIGKILL));
}

#[test]
fn on_supervisor_exit_kill_kills_the_program() {
    let (session, pid) = kill_supervise_while_pending(&["--on-supervisor-exit", "kill"]);
    super::wait_until("the program to be killed", Duration::from_secs(30), || is_dead(pid));
    // The kernel closes the listener before it sends the death signal, so the program may see an ENOSYS first,
    // but never a success.
    if let Ok(result) = std::fs::read_to_string(session.path("result")) {
        assert!(result.starts_with(&format!("-1 {}", libc::ENOSYS)), "{result}");
    }
    session.touch("exit");
    std::thread::sleep(Duration::from_millis(200));
    assert!(!session.path("survived").exists(), "the program survived supervise");
    assert!(!session.path("d").exists() && !session.path("d2").exists(), "no directory was created");
}

#[test]
fn on_supervisor_exit_kill_keeps_normal_runs_unchanged() {
    let dir = temp_dir();
    let policy = write_policy(dir.path(), "p.json", &allow_except(MKDIR_ALLOW));
    let target = dir.path().join("made");
    let mut cmd = std::process::Command::new(supervise());
    cmd.args(["--on-supervisor-exit", "kill", "--policy", policy.to_str().unwrap(), "--"]);
    cmd.args(["sh", "-c", &format!("mkdir {} && exit 7", target.display())]);
    let out = run_with(cmd, b"", Duration::from_secs(20));
    assert_eq!(out.code, Some(7), "{}", out.stderr);
    assert!(target.is_dir());
    let mut cmd = std::process::Command::new(supervise());
    cmd.args(["--on-supervisor-exit", "sometimes", "--", "true"]);
    assert_own_failure(&run_with(cmd, b"", Duration::from_secs(20)), 125);
}

#[test]
fn nested_supervise_exits_125_at_once_naming_ebusy() {
    let dir = temp_dir();
    let policy = write_policy(dir.path(), "p.json", &allow_except(MKDIR_ALLOW));
    let (sup, policy) = (supervise(), policy.to_str().unwrap().to_string());
    // The inner supervise is timed by a shell under the outer one, so only its own run is measured.
    let script = format!(
        "start=$(date +%s%N); {sup} --policy {policy} -- true 2>{err}; code=$?; end=$(date +%s%N); \
         echo $code $(( (end - start) / 1000000 ))",
        sup = sup.display(),
        err = dir.path().join("inner.err").display(),
    );
    let mut cmd = std::process::Command::new(supervise());
    cmd.args(["--policy", &policy, "--", "sh", "-c", &script]);
    let started = Instant::now();
    let out = run_with(cmd, b"", Duration::from_secs(20));
    assert_eq!(out.code, Some(0), "outer: {}", out.stderr);
    let mut fields = out.stdout.split_whitespace().map(|f| f.parse::<u64>().expect("a number"));
    let (code, ms) = (fields.next().expect("exit code"), fields.next().expect("duration"));
    let stderr = std::fs::read_to_string(dir.path().join("inner.err")).unwrap();
    assert_eq!(code, 125, "inner: {stderr}");
    assert!(ms < 1000, "the inner supervise took {ms} ms (outer run: {:?})", started.elapsed());
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("supervise: ") && !stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("EBUSY") && stderr.contains("nested"), "names the cause: {stderr}");
}
