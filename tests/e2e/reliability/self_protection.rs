//! Guarantee: the supervised program cannot reach its supervisor. supervise runs as the same user as the program
//! it launches, so without protection the program could take the listener fd (`pidfd_getfd`), attach with
//! `ptrace`, or read and write supervise's memory, and then answer its own notifications. supervise makes itself
//! non-dumpable first thing, so every route below needs CAP_SYS_PTRACE.
//!
//! The attacker is a C program run as the supervised program. It tries every route against its parent (supervise)
//! and each of its threads, prints one line per route that got through, checks that no listener fd is in its own
//! table, and finally makes a notified `mkdir` that a live supervisor must deny with EACCES. Both cases: supervise
//! and the program as uid 65534, and supervise as root with the program dropped to uid 65534.

use std::path::Path;

use super::cc;
use crate::support::{as_nobody, is_root, run, supervise, temp_dir, without_sys_time, write_policy, Output};

const ATTACKER: &str = r#"
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/uio.h>

static int reached = 0;

/* A route that must fail with EPERM or EACCES; anything else (success, EBADF, EFAULT, ...) means the kernel let
   us past the access check. */
static void expect_refused(const char *route, long r, int err) {
    if (r >= 0 || (err != EPERM && err != EACCES)) {
        printf("REACHED %s: result %ld errno %d (%s)\n", route, r, r >= 0 ? 0 : err, r >= 0 ? "success" : strerror(err));
        reached++;
    }
}

static void try_open(const char *path, int flags) {
    char route[600];
    snprintf(route, sizeof route, "open(%s, %s)", path, (flags & O_ACCMODE) == O_RDWR ? "O_RDWR" : "O_RDONLY");
    long fd = open(path, flags | O_CLOEXEC);
    int err = errno;
    if (fd >= 0) close(fd);
    expect_refused(route, fd, err);
}

static void try_readlink(const char *path) {
    char link[512], route[600];
    snprintf(route, sizeof route, "readlink(%s)", path);
    long r = readlink(path, link, sizeof link);
    expect_refused(route, r, errno);
}

/* Every route against one task (the process, or one of its threads). */
static void attack_task(pid_t sup, pid_t tid) {
    char base[128], p[256], route[256];
    if (tid == sup) snprintf(base, sizeof base, "/proc/%d", sup);
    else snprintf(base, sizeof base, "/proc/%d/task/%d", sup, tid);

    snprintf(p, sizeof p, "%s/mem", base);
    try_open(p, O_RDONLY);
    try_open(p, O_RDWR);
    snprintf(p, sizeof p, "%s/environ", base);
    try_open(p, O_RDONLY);
    snprintf(p, sizeof p, "%s/fd", base);
    try_open(p, O_RDONLY | O_DIRECTORY);
    for (int n = 0; n < 64; n++) {
        snprintf(p, sizeof p, "%s/fd/%d", base, n);
        /* An fd that does not exist is ENOENT only once the directory is open to us. */
        long fd = open(p, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        int err = errno;
        if (fd >= 0) close(fd);
        if (fd >= 0 || err != ENOENT) {
            snprintf(route, sizeof route, "open(%s)", p);
            expect_refused(route, fd, err);
        } else {
            printf("REACHED %s: ENOENT (the fd directory is readable)\n", p);
            reached++;
            break;
        }
    }
    snprintf(p, sizeof p, "%s/exe", base);
    try_readlink(p);
    snprintf(p, sizeof p, "%s/cwd", base);
    try_readlink(p);

    snprintf(route, sizeof route, "ptrace(PTRACE_SEIZE, %d)", tid);
    long r = ptrace(PTRACE_SEIZE, tid, 0, 0);
    int err = errno;
    expect_refused(route, r, err);
    if (r == 0) ptrace(PTRACE_DETACH, tid, 0, 0); /* exit detaches anyway: a seized task was never stopped */

    snprintf(route, sizeof route, "ptrace(PTRACE_ATTACH, %d)", tid);
    r = ptrace(PTRACE_ATTACH, tid, 0, 0);
    err = errno;
    expect_refused(route, r, err);
    if (r == 0) {
        int status;
        waitpid(tid, &status, __WALL);
        ptrace(PTRACE_DETACH, tid, 0, 0);
    }
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    pid_t sup = getppid();
    /* The parent is supervise: its command line (readable by anyone) says so. */
    char p[256], cmdline[4096] = {0};
    snprintf(p, sizeof p, "/proc/%d/cmdline", sup);
    int cfd = open(p, O_RDONLY);
    if (cfd < 0) return 70;
    ssize_t len = read(cfd, cmdline, sizeof cmdline - 1);
    close(cfd);
    if (len <= 0 || !strstr(cmdline, "supervise")) {
        printf("the parent %d is not supervise: %s\n", sup, cmdline);
        return 71;
    }
    printf("uid %d attacks supervise pid %d\n", (int)getuid(), sup);
    /* execve made the program dumpable again: supervise can read its memory and /proc files. */
    printf("program dumpable: %d\n", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));

    /* The listener is never in our own fd table. */
    DIR *d = opendir("/proc/self/fd");
    if (!d) return 72;
    struct dirent *e;
    while ((e = readdir(d))) {
        char link[512];
        snprintf(p, sizeof p, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(p, link, sizeof link - 1);
        if (n > 0) {
            link[n] = 0;
            if (strstr(link, "seccomp")) {
                printf("REACHED own fd %s is a listener: %s\n", e->d_name, link);
                reached++;
            }
        }
    }
    closedir(d);

    /* pidfd_getfd on every fd number: EPERM comes before the fd is even looked up. */
    long pidfd = syscall(SYS_pidfd_open, sup, 0);
    if (pidfd < 0) {
        printf("pidfd_open(%d): %s\n", sup, strerror(errno));
        return 73;
    }
    for (int n = 0; n < 256; n++) {
        long fd = syscall(SYS_pidfd_getfd, pidfd, n, 0);
        int err = errno;
        if (fd >= 0) {
            char link[512] = {0};
            snprintf(p, sizeof p, "/proc/self/fd/%ld", fd);
            if (readlink(p, link, sizeof link - 1) < 0) link[0] = 0;
            printf("REACHED pidfd_getfd(%d): got %s\n", n, link);
            reached++;
            close(fd);
        } else if (err != EPERM) {
            char route[64];
            snprintf(route, sizeof route, "pidfd_getfd(%d)", n);
            expect_refused(route, fd, err);
        }
    }
    close(pidfd);

    /* process_vm_readv of a harmless address; process_vm_writev of an unmapped one (nothing is ever written). */
    char local[16], probe_byte = 0;
    struct iovec mine = { local, sizeof local };
    struct iovec theirs = { &probe_byte, 1 };
    long r = process_vm_readv(sup, &mine, 1, &theirs, 1, 0);
    expect_refused("process_vm_readv", r, errno);
    struct iovec nowhere = { (void *)8, 1 };
    r = process_vm_writev(sup, &mine, 1, &nowhere, 1, 0);
    expect_refused("process_vm_writev", r, errno);

    /* The process and each of its threads (the task list is readable by anyone). */
    snprintf(p, sizeof p, "/proc/%d/task", sup);
    d = opendir(p);
    if (!d) return 74;
    int tasks = 0;
    while ((e = readdir(d))) {
        pid_t tid = atoi(e->d_name);
        if (tid <= 0) continue;
        attack_task(sup, tid);
        tasks++;
    }
    closedir(d);
    attack_task(sup, sup);
    printf("tasks attacked: %d\n", tasks);

    /* Supervision still works: a live supervisor denies this mkdir with EACCES (a dead one would give ENOSYS). */
    r = syscall(SYS_mkdir, "/nonexistent-supervise-self-protection", 0755);
    printf("mkdir: %ld %s\n", r, r < 0 ? strerror(errno) : "created");
    if (!(r < 0 && errno == EACCES)) reached++;
    printf("reached: %d\n", reached);
    return reached ? 1 : 0;
}
"#;

/// The policy: one notify rule (so that supervise holds a listener) that denies `mkdir`.
const POLICY: &str = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
  {"names":["mkdir","mkdirat"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"deny","errnoRet":"EACCES"}}]}"#;

fn assert_nothing_reached(out: &Output, case: &str) {
    assert!(out.stdout.contains("attacks supervise pid"), "{case}: the attacker ran\n{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("program dumpable: 1"), "{case}: the program is dumpable\n{}", out.stdout);
    assert!(out.stdout.contains("mkdir: -1 Permission denied"), "{case}: supervision goes on\n{}", out.stdout);
    assert!(!out.stdout.contains("REACHED"), "{case}: the program reached its supervisor:\n{}", out.stdout);
    assert_eq!(out.code, Some(0), "{case}:\n{}\n{}", out.stdout, out.stderr);
}

/// A copy of `program` that uid 65534 can run, in `dir`.
fn runnable_by_nobody(program: &Path, dir: &Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    let copy = dir.join(program.file_name().expect("a file name"));
    std::fs::copy(program, &copy).expect("copy");
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    copy.display().to_string()
}

#[test]
fn an_unprivileged_supervise_cannot_be_reached_by_its_same_uid_program() {
    let attacker = cc("self_protection", ATTACKER);
    let dir = temp_dir();
    let policy = write_policy(dir.path(), "policy.json", POLICY);
    let args = ["--policy", policy.to_str().expect("utf-8"), "--", attacker.to_str().expect("utf-8")];
    // As root, both run as uid 65534; otherwise both run as the user running the tests: the same uid either way.
    let out = if is_root() { as_nobody(&supervise(), &args) } else { run(supervise(), &args) };
    assert_nothing_reached(&out, "same uid");
}

#[test]
fn a_root_supervise_cannot_be_reached_by_a_program_that_dropped_to_another_uid() {
    if !crate::support::needs_root("supervise as root with a program as uid 65534") {
        return;
    }
    let attacker = cc("self_protection", ATTACKER);
    let dir = temp_dir();
    let policy = write_policy(dir.path(), "policy.json", POLICY);
    let attacker = runnable_by_nobody(&attacker, dir.path());
    let sup = supervise();
    let drop_to_nobody =
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"];
    let args = [
        without_sys_time().as_slice(),
        &[sup.to_str().expect("utf-8"), "--policy", policy.to_str().expect("utf-8"), "--"],
        &drop_to_nobody,
        &[attacker.as_str()],
    ]
    .concat();
    let out = run("setpriv", &args);
    assert!(out.stdout.contains("uid 65534 attacks"), "{}\n{}", out.stdout, out.stderr);
    assert_nothing_reached(&out, "root supervise, program as uid 65534");
}
