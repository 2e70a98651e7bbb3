//! `/proc/self`, `/proc/thread-self` and magic links: whose process, memory, environment, fds, cwd, root and
//! executable an open reaches. The fingerprints say `own` when it is this program's (or the object stat'ed in the
//! program itself just before), and show the content that must be the same in both runs.

use super::{open, openat, openat2, Dfd, Fp, Op, Pre};
use libc::{O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK, O_PATH, O_RDONLY, O_RDWR, O_WRONLY};

pub fn ops() -> Vec<Op> {
    let ro = O_RDONLY;
    let dir = O_RDONLY | O_DIRECTORY;
    let fdinfo: &[&str] = &["flags:"];
    vec![
        open("proc.self-status", b"/proc/self/status", ro, 0).fp(Fp::Status),
        open("proc.thread-self-status", b"/proc/thread-self/status", ro, 0).fp(Fp::Status),
        open("proc.self-task-status", b"/proc/self/task/{tid}/status", ro, 0).fp(Fp::Status),
        open("proc.self-stat", b"/proc/self/stat", ro, 0).fp(Fp::None),
        open("proc.self-comm", b"/proc/self/comm", ro, 0),
        open("proc.thread-self-comm", b"/proc/thread-self/comm", ro, 0),
        open("proc.self-comm-rdwr", b"/proc/self/comm", O_RDWR, 0),
        open("proc.self-cmdline", b"/proc/self/cmdline", ro, 0).fp(Fp::Content),
        open("proc.self-environ", b"/proc/self/environ", ro, 0).fp(Fp::Content),
        open("proc.thread-self-environ", b"/proc/thread-self/environ", ro, 0).fp(Fp::Content),
        open("proc.self-environ-wronly", b"/proc/self/environ", O_WRONLY, 0),
        open("proc.self-mem", b"/proc/self/mem", ro, 0).fp(Fp::Mem),
        open("proc.self-mem-rdwr", b"/proc/self/mem", O_RDWR, 0).fp(Fp::Mem),
        open("proc.thread-self-mem", b"/proc/thread-self/mem", ro, 0).fp(Fp::Mem),
        openat("proc.self-mem-openat", Dfd::Cwd, b"/proc/self/mem", O_RDWR, 0).fp(Fp::Mem),
        openat2("proc.self-mem-openat2", Dfd::Cwd, b"/proc/self/mem", O_RDWR as u64, 0, 0).fp(Fp::Mem),
        open("proc.self-maps", b"/proc/self/maps", ro, 0).fp(Fp::Maps),
        open("proc.self-limits", b"/proc/self/limits", ro, 0).fp(Fp::Hash),
        open("proc.self-oom-score-adj", b"/proc/self/oom_score_adj", O_RDWR, 0),
        open("proc.self-loginuid", b"/proc/self/loginuid", ro, 0),
        open("proc.self-personality", b"/proc/self/personality", ro, 0),
        open("proc.self-syscall", b"/proc/self/syscall", ro, 0).fp(Fp::None),
        open("proc.self-fdinfo-0", b"/proc/self/fdinfo/0", ro, 0).fp(Fp::Lines(fdinfo)),
        // Magic links.
        open("proc.self-cwd", b"/proc/self/cwd", dir, 0).fp(Fp::SameAs(b".")),
        open("proc.self-cwd-file", b"/proc/self/cwd/f", ro, 0),
        open("proc.self-cwd-dotdot", b"/proc/self/cwd/d/../f", ro, 0),
        open("proc.thread-self-cwd-file", b"/proc/thread-self/cwd/f", ro, 0),
        open("proc.self-cwd-opath-nofollow", b"/proc/self/cwd", O_PATH | O_NOFOLLOW, 0),
        openat("proc.self-cwd-dirfd", Dfd::Pre(0), b"cwd/f", ro, 0).pre(Pre::Tree(b"/proc/self")),
        open("proc.self-root", b"/proc/self/root", dir, 0).fp(Fp::SameAs(b"/")),
        open("proc.self-root-file", b"/proc/self/root/etc/hostname", ro, 0),
        open("proc.thread-self-root", b"/proc/thread-self/root", dir, 0).fp(Fp::SameAs(b"/")),
        open("proc.self-exe", b"/proc/self/exe", ro, 0).fp(Fp::SameAs(b"/proc/self/exe")),
        open("proc.thread-self-exe", b"/proc/thread-self/exe", ro, 0).fp(Fp::SameAs(b"/proc/self/exe")),
        open("proc.self-exe-wronly", b"/proc/self/exe", O_WRONLY, 0),
        open("proc.self-ns-mnt", b"/proc/self/ns/mnt", ro, 0).fp(Fp::SameAs(b"/proc/self/ns/mnt")),
        open("proc.self-ns-user", b"/proc/self/ns/user", ro, 0).fp(Fp::SameAs(b"/proc/self/ns/user")),
        open("proc.self-dir", b"/proc/self", dir, 0).fp(Fp::SameAs(b"/proc/self")),
        open("proc.self-fd-dir", b"/proc/self/fd", dir, 0),
        open("proc.thread-self-fd-dir", b"/proc/thread-self/fd", dir, 0),
        open("proc.self-fd-memfd", b"/proc/self/fd/{0}", ro, 0).pre(Pre::Memfd("memfd of fsdiff\n")),
        open("proc.self-fd-memfd-rdwr", b"/proc/self/fd/{0}", O_RDWR, 0).pre(Pre::Memfd("memfd of fsdiff\n")),
        open("proc.thread-self-fd-memfd", b"/proc/thread-self/fd/{0}", ro, 0).pre(Pre::Memfd("memfd of fsdiff\n")),
        open("proc.self-fd-file", b"/proc/self/fd/{0}", ro, 0).pre(Pre::Tree(b"f")),
        open("proc.self-fd-file-wronly", b"/proc/self/fd/{0}", O_WRONLY, 0).pre(Pre::Tree(b"f")),
        open("proc.self-fd-dir-file", b"/proc/self/fd/{0}/g", ro, 0).pre(Pre::Tree(b"d")),
        open("proc.self-fd-dir-dotdot", b"/proc/self/fd/{0}/..", dir, 0).pre(Pre::Tree(b"d")),
        open("proc.self-fd-pipe", b"/proc/self/fd/{0}", O_RDONLY | O_NONBLOCK, 0).pre(Pre::Pipe("pipe\n")),
        open("proc.self-fd-closed", b"/proc/self/fd/{1}", ro, 0)
            .pre(Pre::Memfd("a"))
            .pre(Pre::Memfd("b"))
            .pre(Pre::Close(1)),
        open("proc.self-fd-opath-nofollow", b"/proc/self/fd/{0}", O_PATH | O_NOFOLLOW, 0)
            .pre(Pre::Memfd("memfd\n"))
            .fp(Fp::None),
        open("proc.self-fd-renamed-dir", b"/proc/self/fd/{0}/g", ro, 0)
            .pre(Pre::Tree(b"d"))
            .pre(Pre::Rename(b"d", b"d2")),
        // Other processes.
        open("proc.init-status", b"/proc/1/status", ro, 0).fp(Fp::Lines(&["Name:"])),
        open("proc.init-environ", b"/proc/1/environ", ro, 0).fp(Fp::Hash),
        open("proc.init-mem", b"/proc/1/mem", ro, 0).fp(Fp::None),
        open("proc.init-cwd", b"/proc/1/cwd", dir, 0).fp(Fp::SameAs(b"/proc/1/cwd")),
        open("proc.init-root", b"/proc/1/root", dir, 0).fp(Fp::SameAs(b"/proc/1/root")),
        open("proc.init-fd-dir", b"/proc/1/fd", dir, 0).fp(Fp::None),
        // Kernel files readable or not by the caller.
        open("proc.sys-protected-symlinks", b"/proc/sys/fs/protected_symlinks", ro, 0),
        open("proc.sys-protected-symlinks-wronly", b"/proc/sys/fs/protected_symlinks", O_WRONLY, 0),
        open("proc.kallsyms", b"/proc/kallsyms", ro, 0).fp(Fp::None),
    ]
}
