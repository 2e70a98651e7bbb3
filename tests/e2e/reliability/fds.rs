//! Guarantee 2 (the listener fd never reaches the app or its children) and 8 (the short soak: after thousands
//! of notifications, supervise's open fds are back to their baseline).

use std::time::Duration;

use super::{allow_except, cc, fd_links, parent_of, wait_until, Session, LISTENER_LINK};

/// The app and a child (after fork) and a grandchild (after exec of sh) each look at their own fds, call a notified
/// `mkdir`, and wait; the test looks at every process from outside meanwhile.
const TREE: &str = r#"
static int listeners(void) {
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d) _exit(80);
    struct dirent *e;
    while ((e = readdir(d))) {
        char p[512], link[512];
        snprintf(p, sizeof p, "/proc/self/fd/%s", e->d_name);
        ssize_t len = readlink(p, link, sizeof link - 1);
        if (len > 0) {
            link[len] = 0;
            if (strstr(link, "seccomp")) n++;
        }
    }
    closedir(d);
    return n;
}

int main(int argc, char **argv) {
    set_dir(argc, argv);
    char p[4096];
    put_long("app.listeners", listeners());
    at(p, "a");
    if (syscall(SYS_mkdir, p, 0755) != 0) return 5;
    pid_t child = fork();
    if (child == 0) {
        put_long("child.listeners", listeners());
        at(p, "b");
        if (syscall(SYS_mkdir, p, 0755) != 0) _exit(6);
        char script[4096];
        snprintf(script, sizeof script,
                 "ls -l /proc/self/fd > %s/ls.txt; mkdir %s/c && echo $$ > %s/grandchild.pid && "
                 "while [ ! -e %s/exit ]; do sleep 0.01; done", dir, dir, dir, dir);
        pid_t gc = fork();
        if (gc == 0) {
            execl("/bin/sh", "sh", "-c", script, (char *)0);
            _exit(7);
        }
        put_long("child.pid", getpid());
        int status;
        waitpid(gc, &status, 0);
        _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 8);
    }
    put_long("app.pid", getpid());
    int status;
    waitpid(child, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 9;
}
"#;

const MKDIR_ALLOW: &str =
    r#"{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"allow"}}"#;

/// Every process that holds a seccomp listener and descends from `ancestor` (excluding it).
fn listener_holders_below(ancestor: i32) -> Vec<(i32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        if pid == ancestor || !fd_links(pid).iter().any(|l| l == LISTENER_LINK) {
            continue;
        }
        let mut at = pid;
        for _ in 0..64 {
            match parent_of(at) {
                Some(parent) if parent == ancestor => {
                    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                    found.push((pid, comm.trim().to_string()));
                    break;
                }
                Some(parent) if parent > 1 => at = parent,
                _ => break,
            }
        }
    }
    found
}

#[test]
fn the_listener_fd_never_reaches_the_app_or_its_children() {
    let app = cc("listener_tree", TREE);
    let mut session = Session::start(&allow_except(MKDIR_ALLOW), &[], &app, &["{dir}"]);
    let pids: Vec<i32> = ["app.pid", "child.pid", "grandchild.pid"].iter().map(|f| session.read_pid(f)).collect();
    // supervise holds exactly one listener: the check below looks for the right thing.
    let own = fd_links(session.pid()).iter().filter(|l| *l == LISTENER_LINK).count();
    assert_eq!(own, 1, "supervise's fds: {:?}", fd_links(session.pid()));
    for pid in &pids {
        let links = fd_links(*pid);
        assert!(!links.is_empty(), "pid {pid} is readable");
        assert!(!links.iter().any(|l| l.contains("seccomp")), "pid {pid} holds the listener: {links:?}");
    }
    assert_eq!(listener_holders_below(session.pid()), vec![], "no process under supervise holds a listener");
    for who in ["app", "child"] {
        assert_eq!(session.read_when_ready(&format!("{who}.listeners"), Duration::from_secs(5)), "0", "{who}");
    }
    // The grandchild wrote ls.txt (ls ran as its child, after exec) before its pid file.
    let ls = std::fs::read_to_string(session.path("ls.txt")).expect("ls.txt");
    assert!(ls.contains("->") && !ls.contains("seccomp"), "{ls}");
    session.touch("exit");
    let out = session.finish(Duration::from_secs(20));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

/// The soak program: a warm-up, then `ready`; on `go`, N rounds of six notified syscalls decided in every way the
/// supervisor has (inline allow and deny, path emulation of mkdir/rmdir, an open answered with ADDFD, the
/// clock-set emulation), then `done`. Any wrong answer is counted.
const SOAK: &str = r#"
static long ppid;

static long rounds(int n) {
    long bad = 0;
    char d[4096], f[4096];
    at(d, "x");
    at(f, "file");
    struct timespec ts = { 1000000000, 0 };
    for (int i = 0; i < n; i++) {
        if (syscall(SYS_getppid, 0) != ppid) bad++;
        if (syscall(SYS_getppid, 1) != -1 || errno != EACCES) bad++;
        if (syscall(SYS_mkdir, d, 0755) != 0) bad++;
        if (syscall(SYS_rmdir, d) != 0) bad++;
        if (syscall(SYS_clock_settime, CLOCK_REALTIME, &ts) != 0) bad++;
        long fd = syscall(SYS_openat, AT_FDCWD, f, O_RDONLY | O_CLOEXEC);
        if (fd < 0) bad++; else close(fd);
    }
    return bad;
}

int main(int argc, char **argv) {
    set_dir(argc, argv);
    int n = atoi(argv[2]);
    ppid = syscall(SYS_getppid, 0);
    put_long("ppid", ppid);
    put("file", "x");
    long bad = rounds(100);
    put_long("ready", bad);
    if (!await_file("go", 20000)) return 3;
    bad += rounds(n);
    put_long("done", bad);
    if (!await_file("exit", 20000)) return 4;
    return bad ? 1 : 0;
}
"#;

const SOAK_POLICY: &str = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
  {"names":["getppid"],"action":"SCMP_ACT_NOTIFY","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}],
   "supervise":{"decision":"deny","errnoRet":"EACCES"}},
  {"names":["getppid"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"allow"}},
  {"names":["mkdir","rmdir","openat"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"allow","paths":["{dir}/**"]}},
  {"names":["openat"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"allow"}},
  {"names":["clock_settime"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"emulate","emulate":"clock-set"}}
]}"#;

/// The rounds of the short soak in CI (6 notifications each); `SUPERVISE_SOAK_ROUNDS` sets another number.
fn soak_rounds() -> usize {
    std::env::var("SUPERVISE_SOAK_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000)
}

fn fd_count(pid: i32) -> usize {
    fd_links(pid).len()
}

fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap_or("VmRSS: 0 kB");
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// The lowest fd count over a few looks: a reply can wake the app just before supervise closes a copy of an fd.
fn settled_fd_count(pid: i32) -> usize {
    (0..5)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(20));
            fd_count(pid)
        })
        .min()
        .expect("five looks")
}

#[test]
fn soak_leaves_supervise_fds_at_their_baseline_after_thousands_of_notifications() {
    let app = cc("soak", SOAK);
    let rounds = soak_rounds();
    let mut session = Session::start(SOAK_POLICY, &[], &app, &["{dir}", &rounds.to_string()]);
    assert_eq!(session.read_pid("ppid"), session.pid(), "getppid (allowed) returns the real parent");
    assert_eq!(session.read_when_ready("ready", Duration::from_secs(20)), "0", "wrong answers in the warm-up");
    let sup = session.pid();
    let baseline = settled_fd_count(sup);
    let (links, rss) = (fd_links(sup), rss_kib(sup));
    let started = std::time::Instant::now();
    session.touch("go");
    let bad = session.read_when_ready("done", Duration::from_secs(60) + Duration::from_millis(rounds as u64));
    let elapsed = started.elapsed();
    assert_eq!(bad, "0", "wrong answers among {} notifications", rounds * 6);
    wait_until("supervise's fds to return to their baseline", Duration::from_secs(3), || fd_count(sup) <= baseline);
    assert_eq!(fd_count(sup), baseline, "before: {links:?}\nafter: {:?}", fd_links(sup));
    eprintln!(
        "soak: {} notifications in {elapsed:?}; supervise fds {baseline} → {}; RSS {rss} KiB → {} KiB",
        rounds * 6,
        fd_count(sup),
        rss_kib(sup)
    );
    session.touch("exit");
    let out = session.finish(Duration::from_secs(20));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}
