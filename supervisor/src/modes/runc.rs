//! What runc itself calls once it has loaded a container's filter: `record --for runc` allows it, and `check` warns
//! about notify rules on it.

use std::collections::BTreeSet;

/// Syscalls runc 1.1 makes itself after it loads the container's filter and before `execve` of the container's
/// process. Measured with `strace -f` on runc 1.1.5 (Debian 12), for both `noNewPrivileges: true` (the filter is
/// loaded last: close the sync fds, open `/proc/self/fd/N` and write the exec fifo, `getpid`, close the fds it
/// must not leak after checking `/proc/self/fd` is procfs, `execve`) and `noNewPrivileges: false`, Docker's default
/// (the filter is loaded before runc drops capabilities and switches user: `capget`, `capset`, `prctl`,
/// `setgroups`, `setgid`, `setuid`, `chdir`, `getcwd`, reads of `/proc/self/status` and `/etc/passwd`, `fstat`,
/// `newfstatat`, `faccessat2` while looking up the program). `close_range` is what newer 1.1.x and 1.2 use to mark
/// fds close-on-exec; `faccessat` is the fallback of `faccessat2` on kernels before 5.8.
pub const RUNC_AFTER_LOAD: &[&str] = &[
    "capget",
    "capset",
    "chdir",
    "close",
    "close_range",
    "epoll_ctl",
    "execve",
    "faccessat",
    "faccessat2",
    "fcntl",
    "fstat",
    "fstatfs",
    "getcwd",
    "getdents64",
    "getpid",
    "getppid",
    "newfstatat",
    "openat",
    "prctl",
    "read",
    "setgid",
    "setgroups",
    "setuid",
    "write",
];

/// What the Go runtime inside runc's init may call at any moment on the thread that loaded the filter: not in
/// every run, but a denial is fatal (a denied `rt_sigreturn` after an async-preemption `SIGURG` is a segfault; a
/// denied `futex` is `fatal error: unexpected signal during runtime execution`; without this list 2 to 5 of 20
/// container starts failed, with it 50 of 50 passed). See docs/record-and-check.md.
pub const GO_RUNTIME: &[&str] = &[
    "clone",
    "epoll_pwait",
    "exit",
    "exit_group",
    "futex",
    "gettid",
    "madvise",
    "mmap",
    "munmap",
    "nanosleep",
    "rt_sigprocmask",
    "rt_sigreturn",
    "sched_yield",
    "sigaltstack",
    "tgkill",
];

/// Everything runc may call after it loads the filter: [`RUNC_AFTER_LOAD`] and [`GO_RUNTIME`].
pub fn runc_needs() -> BTreeSet<&'static str> {
    RUNC_AFTER_LOAD.iter().chain(GO_RUNTIME).copied().collect()
}

/// True if runc may call `name` after it loads the filter.
pub fn runc_calls(name: &str) -> bool {
    RUNC_AFTER_LOAD.contains(&name) || GO_RUNTIME.contains(&name)
}
