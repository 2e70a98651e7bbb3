//! Guarantees 5 (a signal every millisecond during notified syscalls) and 6 (a fork storm, python threads): every
//! call gets its own right answer; no EINTR, ENOSYS or wrong decision leaks.

use std::time::Duration;

use super::{cc, Session};

/// Decisions by argument: `getppid(1)` and `mkdir(…, 0700)` are denied with EACCES, `getppid(0)`, `mkdir(…, 0755)`
/// and `rmdir` are allowed.
const BY_ARGS: &str = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
  {"names":["getppid"],"action":"SCMP_ACT_NOTIFY","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}],
   "supervise":{"decision":"deny","errnoRet":"EACCES"}},
  {"names":["getppid"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"allow"}},
  {"names":["mkdir"],"action":"SCMP_ACT_NOTIFY","args":[{"index":1,"value":448,"op":"SCMP_CMP_EQ"}],
   "supervise":{"decision":"deny","errnoRet":"EACCES"}},
  {"names":["mkdirat"],"action":"SCMP_ACT_NOTIFY","args":[{"index":2,"value":448,"op":"SCMP_CMP_EQ"}],
   "supervise":{"decision":"deny","errnoRet":"EACCES"}},
  {"names":["mkdir","mkdirat","rmdir"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"allow"}}
]}"#;

/// SIGALRM every millisecond (SA_RESTART) while the program makes notified calls; it goes on until it has made at
/// least `argv[2]` rounds and seen at least 300 signals, and prints what went wrong.
const SIGNAL_STORM: &str = r#"
static volatile long signals;
static void on_alarm(int sig) { (void)sig; signals++; }

static long wrong;
static void check(const char *what, long i, long got, int err, long want, int want_err) {
    if (got == want && (want != -1 || err == want_err)) return;
    if (wrong++ < 10) printf("round %ld: %s returned %ld errno %d, expected %ld errno %d\n", i, what, got, err,
                             want, want_err);
}

int main(int argc, char **argv) {
    set_dir(argc, argv);
    long min_rounds = atol(argv[2]);
    long ppid = syscall(SYS_getppid, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, 0);
    struct itimerval every_ms = { { 0, 1000 }, { 0, 1000 } };
    setitimer(ITIMER_REAL, &every_ms, 0);
    char d[4096];
    at(d, "d");
    long i;
    for (i = 0; i < 100000 && (i < min_rounds || signals < 300); i++) {
        long r = syscall(SYS_mkdir, d, 0755);
        check("mkdir 0755", i, r, errno, 0, 0);
        r = syscall(SYS_mkdir, d, 0700);
        check("mkdir 0700", i, r, errno, -1, EACCES);
        r = syscall(SYS_rmdir, d);
        check("rmdir", i, r, errno, 0, 0);
        r = syscall(SYS_getppid, 1);
        check("getppid(1)", i, r, errno, -1, EACCES);
        r = syscall(SYS_getppid, 0);
        check("getppid(0)", i, r, errno, ppid, 0);
    }
    struct itimerval off = { { 0, 0 }, { 0, 0 } };
    setitimer(ITIMER_REAL, &off, 0);
    printf("rounds %ld signals %ld wrong %ld ppid %ld\n", i, signals, wrong, ppid);
    return wrong ? 1 : 0;
}
"#;

/// As [`BY_ARGS`], but mkdir and rmdir in the working directory are allowed by a path rule, so the supervisor
/// performs them itself: a signal that interrupted the call after the supervisor received it would make the
/// restarted call fail (EEXIST, ENOENT). `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV` is what prevents that.
const BY_ARGS_AND_PATHS: &str = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
  {"names":["getppid"],"action":"SCMP_ACT_NOTIFY","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}],
   "supervise":{"decision":"deny","errnoRet":"EACCES"}},
  {"names":["getppid"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"allow"}},
  {"names":["mkdir"],"action":"SCMP_ACT_NOTIFY","args":[{"index":1,"value":448,"op":"SCMP_CMP_EQ"}],
   "supervise":{"decision":"deny","errnoRet":"EACCES"}},
  {"names":["mkdir","rmdir"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"allow","paths":["{dir}/**"]}}
]}"#;

#[test]
fn a_signal_every_millisecond_never_changes_an_answer() {
    let app = cc("signal_storm", SIGNAL_STORM);
    for policy in [BY_ARGS, BY_ARGS_AND_PATHS] {
        signal_storm(&app, policy);
    }
}

fn signal_storm(app: &std::path::Path, policy: &str) {
    let mut session = Session::start(policy, &[], app, &["{dir}", "2000"]);
    let sup = session.pid();
    let out = session.finish(Duration::from_secs(60));
    assert_eq!(out.code, Some(0), "stdout: {}\nstderr: {}", out.stdout, out.stderr);
    let fields: Vec<&str> = out.stdout.split_whitespace().collect();
    let value = |key: &str| -> i64 {
        let at = fields.iter().position(|f| *f == key).unwrap_or_else(|| panic!("{key} in {}", out.stdout));
        fields[at + 1].parse().expect("a number")
    };
    assert!(value("rounds") >= 2000 && value("signals") >= 300, "{}", out.stdout);
    assert_eq!(value("wrong"), 0, "{}", out.stdout);
    assert_eq!(value("ppid"), i64::from(sup), "getppid (allowed) returns the real parent");
}

/// 200 children wait on a pipe, then all call mkdir at once: even ones with mode 0755 (allowed), odd ones with
/// 0700 (denied with EACCES). Each child's exit status says whether its answer was right.
const FORK_STORM: &str = r#"
int main(int argc, char **argv) {
    set_dir(argc, argv);
    int n = atoi(argv[2]);
    int gate[2];
    if (pipe(gate) != 0) return 10;
    pid_t *kids = calloc(n, sizeof(pid_t));
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) return 11;
        if (pid == 0) {
            char c, p[4096], name[32];
            close(gate[1]);
            if (read(gate[0], &c, 1) != 0) _exit(12);
            snprintf(name, sizeof name, "%d", i);
            at(p, name);
            int deny = i % 2;
            long r = syscall(SYS_mkdir, p, deny ? 0700 : 0755);
            int ok = deny ? (r == -1 && errno == EACCES) : r == 0;
            _exit(ok ? 0 : 1);
        }
        kids[i] = pid;
    }
    close(gate[1]);
    int wrong = 0, lost = 0;
    for (int i = 0; i < n; i++) {
        int status;
        if (waitpid(kids[i], &status, 0) != kids[i]) lost++;
        else if (!WIFEXITED(status)) lost++;
        else if (WEXITSTATUS(status) != 0) wrong++;
    }
    printf("wrong %d lost %d\n", wrong, lost);
    return wrong || lost ? 1 : 0;
}
"#;

#[test]
fn a_fork_storm_of_200_children_gets_every_decision_right() {
    let app = cc("fork_storm", FORK_STORM);
    let mut session = Session::start(BY_ARGS, &[], &app, &["{dir}", "200"]);
    let out = session.finish(Duration::from_secs(60));
    assert_eq!(out.code, Some(0), "stdout: {}\nstderr: {}", out.stdout, out.stderr);
    assert_eq!(out.stdout.trim(), "wrong 0 lost 0");
    let expected: Vec<String> = (0..200).step_by(2).map(|i| i.to_string()).collect();
    assert_eq!(entries(&session, |n| n.parse::<u32>().is_ok()), expected, "exactly the even children's directories");
}

/// The names in the session's directory that `keep` accepts, sorted (numbers numerically).
fn entries(session: &Session, keep: impl Fn(&str) -> bool) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(session.dir.path())
        .expect("read the session directory")
        .flatten()
        .filter_map(|e| e.file_name().to_str().filter(|n| keep(n)).map(str::to_string))
        .collect();
    names.sort_by_key(|n| (n.len(), n.clone()));
    names
}

const PYTHON_THREADS: &str = r#"
import errno, os, sys, threading
d = sys.argv[1]
wrong = []
gate = threading.Barrier(8)
def work(t):
    gate.wait()
    for i in range(50):
        deny = i % 2 == 1
        try:
            os.mkdir(f"{d}/t{t}-{i}", 0o700 if deny else 0o755)
            got = 0
        except OSError as e:
            got = e.errno
        want = errno.EACCES if deny else 0
        if got != want:
            wrong.append((t, i, got))
threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print("wrong", len(wrong), wrong[:5])
sys.exit(1 if wrong else 0)
"#;

#[test]
fn python_with_8_threads_gets_every_decision_right() {
    let python = std::path::Path::new("/usr/bin/python3");
    let mut session = Session::start(BY_ARGS, &[], python, &["-c", PYTHON_THREADS, "{dir}"]);
    let out = session.finish(Duration::from_secs(60));
    assert_eq!(out.code, Some(0), "stdout: {}\nstderr: {}", out.stdout, out.stderr);
    assert!(out.stdout.starts_with("wrong 0 "), "{}", out.stdout);
    let mut expected: Vec<String> = (0..8).flat_map(|t| (0..50).step_by(2).map(move |i| format!("t{t}-{i}"))).collect();
    expected.sort_by_key(|n| (n.len(), n.clone()));
    assert_eq!(entries(&session, |n| n.starts_with('t')), expected, "exactly the allowed directories exist");
}
