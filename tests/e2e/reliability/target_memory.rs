//! Guarantee 9: a target that dies while its notification is pending. The clock-set emulation reads the target's
//! memory; a target killed before or while that happens must cost nothing: no crash, no stuck loop, no reply sent
//! to whoever has its pid later, and the next notifications are answered as before.

use std::time::Duration;

use super::{blocked_in, cc, is_dead, kill_quietly, Session};

/// A child blocks in an emulated clock_settime (the test has stopped supervise) and is killed by the test. Then
/// `rounds` children are killed at varying moments while they call clock_settime in a loop, and the program checks
/// that later calls are still answered right.
const APP: &str = r#"
int main(int argc, char **argv) {
    set_dir(argc, argv);
    int rounds = atoi(argv[2]);
    long ppid = syscall(SYS_getppid);
    int status;
    pid_t c = fork();
    if (c == 0) {
        if (!await_file("go", 20000)) _exit(3);
        struct timespec ts = { 1000000000, 0 };
        long r = syscall(SYS_clock_settime, CLOCK_REALTIME, &ts);
        put_long("child.result", r);
        _exit(0);
    }
    put_long("child.pid", c);
    waitpid(c, &status, 0);
    int killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    if (!await_file("go2", 20000)) return 4;
    long bad = 0;
    for (int round = 0; round < rounds; round++) {
        pid_t k = fork();
        if (k == 0) {
            struct timespec t = { 1000000000 + round, round };
            for (;;) syscall(SYS_clock_settime, CLOCK_REALTIME, &t);
        }
        usleep((round % 7) * 150);
        kill(k, SIGKILL);
        if (waitpid(k, &status, 0) != k || !WIFSIGNALED(status)) bad++;
    }
    for (int i = 0; i < 100; i++) {
        struct timespec good = { 1000000000 + i, 0 }, wrong = { 1000000000, 1000000000 };
        if (syscall(SYS_clock_settime, CLOCK_REALTIME, &good) != 0) bad++;
        if (syscall(SYS_clock_settime, CLOCK_REALTIME, &wrong) != -1 || errno != EINVAL) bad++;
        if (syscall(SYS_clock_settime, CLOCK_REALTIME, (void *)8) != -1 || errno != EFAULT) bad++;
        if (syscall(SYS_getppid) != ppid) bad++;
    }
    printf("killed %d bad %ld\n", killed, bad);
    return killed && !bad ? 0 : 1;
}
"#;

const POLICY: &str = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
  {"names":["clock_settime","settimeofday","adjtimex","clock_adjtime"],"action":"SCMP_ACT_NOTIFY",
   "supervise":{"decision":"emulate","emulate":"clock-set"}},
  {"names":["getppid"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"allow"}}
]}"#;

#[test]
fn targets_killed_mid_notification_leave_the_supervisor_serving() {
    let app = cc("target_memory", APP);
    let before = crate::support::now();
    let mut session = Session::start(POLICY, &[], &app, &["{dir}", "300"]);
    let child = session.read_pid("child.pid");
    session.signal(libc::SIGSTOP);
    session.touch("go");
    super::wait_until("the child to block in clock_settime", Duration::from_secs(30), || {
        blocked_in(child) == Some(libc::SYS_clock_settime)
    });
    kill_quietly(child);
    super::wait_until("the child to die", Duration::from_secs(30), || is_dead(child));
    session.signal(libc::SIGCONT);
    session.touch("go2");
    let out = session.finish(Duration::from_secs(60));
    assert_eq!(out.code, Some(0), "stdout: {}\nstderr: {}", out.stdout, out.stderr);
    assert_eq!(out.stdout.trim(), "killed 1 bad 0");
    assert!(!session.path("child.result").exists(), "the killed child's call returned");
    for bad in ["panicked", "notify loop failed", "cannot send the reply"] {
        assert!(!out.stderr.contains(bad), "{bad}: {}", out.stderr);
    }
    let after = crate::support::now();
    assert!((0..120).contains(&(after - before)), "the host clock moved: {before} → {after}");
}
