//! `truncate` and `utimensat`. truncate: lengths (negative, huge), what is not a regular file (EISDIR, EINVAL),
//! symlinks, write permission, the set-id bits it drops, `/proc/self/fd/N` of a memfd and of a deleted file.
//! utimensat: NULL times, given times, UTIME_NOW and UTIME_OMIT (both OMIT: success without even looking at the
//! path), a NULL path (the dirfd itself: not an O_PATH fd, not AT_FDCWD, no flags), AT_SYMLINK_NOFOLLOW,
//! AT_EMPTY_PATH, another user's file (times need ownership, NULL times only write permission). The utimensat ops
//! show the atime and mtime of every path (the tree starts at a fixed time; `now` is a time of this run).

use super::open::{name, path_4096};
use super::rename::g;
use super::{p, sys, Arg, Dfd, Op, Pre};
use crate::sys::Sys;
use crate::tree::{chain, deep, deep_path, file_as, null_dev, other, ro, sock, sticky, Node, Who};
use libc::{AT_EMPTY_PATH, AT_SYMLINK_FOLLOW, AT_SYMLINK_NOFOLLOW, O_DIRECTORY, O_RDONLY, UTIME_NOW, UTIME_OMIT};

fn truncate(name: &str, path: &[u8], len: i64) -> Op {
    sys(name, Sys::Truncate, vec![p(path), Arg::Int(len)])
}

/// `utimensat(dfd, path, times, flags)` (path and times may be [`Arg::Null`]); shows times.
fn utimensat(name: &str, dfd: Dfd, path: Arg, times: Arg, flags: i32) -> Op {
    sys(name, Sys::Utimensat, vec![Arg::Fd(dfd), path, times, Arg::Int(flags.into())]).times()
}

/// `utimensat(AT_FDCWD, path, times, flags)`.
fn utimensat_cwd(name: &str, path: &[u8], times: Arg, flags: i32) -> Op {
    utimensat(name, Dfd::Cwd, p(path), times, flags)
}

/// (atime, mtime), each as seconds and nanoseconds.
fn t(a: i64, an: i64, m: i64, mn: i64) -> Arg {
    Arg::Times([a, an, m, mn])
}

/// Fixed times that are neither the tree's nor now.
fn given() -> Arg {
    t(1_234_567_890, 500_000_000, 1_300_000_000, 250_000_000)
}

/// `r444`: the target's read-only file; `suid` (06755) and `sgid_nox` (02644): the target's set-id files.
fn own_files() -> Vec<Node> {
    vec![
        file_as(b"r444", 0o444, Who::Target, "read-only\n"),
        file_as(b"suid", 0o6755, Who::Target, "setuid\n"),
        file_as(b"sgid_nox", 0o2644, Who::Target, "setgid\n"),
    ]
}

pub fn ops() -> Vec<Op> {
    let cwd = Dfd::Cwd;
    let d = Dfd::Pre(0);
    let fd0 = b"/proc/self/fd/{0}";
    let (now, omit) = (UTIME_NOW, UTIME_OMIT);
    let nofollow = AT_SYMLINK_NOFOLLOW;
    vec![
        // truncate: lengths.
        truncate("truncate.zero", b"f", 0),
        truncate("truncate.shrink", b"f", 3),
        truncate("truncate.same", b"f", 7),
        truncate("truncate.grow", b"f", 100_000),
        truncate("truncate.negative", b"f", -1),
        truncate("truncate.huge", b"f", 1 << 62),
        // What is not a regular file; symlinks; names.
        truncate("truncate.dir", b"d", 0),
        truncate("truncate.fifo", b"fifo", 0),
        truncate("truncate.device-node", b"nul", 0).tree(vec![null_dev(b"nul")]),
        truncate("truncate.socket-node", b"sock", 0).tree(vec![sock(b"sock")]),
        truncate("truncate.symlink", b"ln_f", 2).check(b"f"),
        truncate("truncate.symlink-dir", b"ln_d", 0),
        truncate("truncate.dangling", b"dangling", 0).check(b"newtarget"),
        truncate("truncate.file-slash", b"f/", 0),
        truncate("truncate.empty", b"", 0).check(b"."),
        truncate("truncate.missing", b"nope", 0),
        truncate("truncate.chain-40", b"chain/s1", 1).tree(chain()).check(b"f"),
        truncate("truncate.chain-41", b"chain/s0", 1).tree(chain()).check(b"f"),
        truncate("truncate.non-utf8", b"caf\xe9", 1).tree(vec![crate::tree::file(b"caf\xe9", "caf\n")]),
        truncate("truncate.name-256", &name(256), 0),
        truncate("truncate.path-4095", &deep_path(4095), 1).tree(deep(4095)).check(&deep_path(4095)),
        truncate("truncate.path-4096", &path_4096(), 1).tree(deep(4095)).check(&deep_path(4095)),
        truncate("truncate.abs", b"{cwd}/f", 1).check(b"f"),
        truncate("truncate.proc-self-cwd", b"/proc/self/cwd/f", 1).check(b"f"),
        // Permissions and set-id bits.
        truncate("truncate.other600", b"other600", 0).tree(other()),
        truncate("truncate.other-writable", b"sticky/other_file", 1).tree(sticky()),
        truncate("truncate.own-read-only", b"r444", 0).tree(own_files()),
        truncate("truncate.ro-dir-file", b"ro/f", 1).tree(ro()),
        truncate("truncate.setuid", b"suid", 1).tree(own_files()),
        truncate("truncate.setgid-no-exec", b"sgid_nox", 1).tree(own_files()),
        // /proc/self/fd/N.
        truncate("truncate.proc-self-fd", fd0, 1).pre(Pre::Tree(b"f")).check(b"f"),
        truncate("truncate.proc-self-fd-memfd", fd0, 2).pre(Pre::Memfd("memfd\n")).follow(fd0),
        truncate("truncate.proc-self-fd-deleted", fd0, 2)
            .tree(g())
            .pre(Pre::Open(b"g", O_RDONLY))
            .pre(Pre::Unlink(b"g", 0))
            .follow(fd0),
        truncate("truncate.proc-self-fd-pipe", fd0, 0).pre(Pre::Pipe("pipe\n")),
        truncate("truncate.proc-self-status", b"/proc/self/status", 0),
        // utimensat: the times.
        utimensat_cwd("utimensat.null-times", b"f", Arg::Null, 0),
        utimensat_cwd("utimensat.given", b"f", given(), 0),
        utimensat_cwd("utimensat.zero", b"f", t(0, 0, 0, 0), 0),
        utimensat_cwd("utimensat.negative-seconds", b"f", t(-1, 0, -100, 5), 0),
        utimensat_cwd("utimensat.now-now", b"f", t(0, now, 0, now), 0),
        utimensat_cwd("utimensat.now-omit", b"f", t(5, now, 5, omit), 0),
        utimensat_cwd("utimensat.given-omit", b"f", t(123, 4, 0, omit), 0),
        utimensat_cwd("utimensat.omit-given", b"f", t(0, omit, 123, 4), 0),
        utimensat_cwd("utimensat.omit-omit", b"f", t(1, omit, 2, omit), 0),
        utimensat_cwd("utimensat.omit-omit-missing", b"nope", t(0, omit, 0, omit), 0),
        utimensat_cwd("utimensat.omit-omit-bad-flags", b"f", t(0, omit, 0, omit), 0x1),
        utimensat("utimensat.omit-omit-badfd", Dfd::Raw(9999), p(b"f"), t(0, omit, 0, omit), 0),
        utimensat("utimensat.omit-omit-null-path", cwd, Arg::Null, t(0, omit, 0, omit), 0),
        utimensat_cwd("utimensat.nsec-1e9", b"f", t(1, 1_000_000_000, 1, 0), 0),
        utimensat_cwd("utimensat.nsec-negative", b"f", t(1, 0, 1, -1), 0),
        utimensat_cwd("utimensat.bad-flags", b"f", given(), 0x1),
        utimensat_cwd("utimensat.follow-flag", b"f", given(), AT_SYMLINK_FOLLOW),
        // What follows, what is missing.
        utimensat_cwd("utimensat.symlink", b"ln_f", given(), 0).check(b"f"),
        utimensat_cwd("utimensat.symlink-nofollow", b"ln_f", given(), nofollow).check(b"f"),
        utimensat_cwd("utimensat.symlink-null-nofollow", b"ln_f", Arg::Null, nofollow).check(b"f"),
        utimensat_cwd("utimensat.dangling", b"dangling", given(), 0),
        utimensat_cwd("utimensat.dangling-nofollow", b"dangling", given(), nofollow),
        utimensat_cwd("utimensat.symlink-dir-slash-nofollow", b"ln_d/", given(), nofollow).check(b"d"),
        utimensat_cwd("utimensat.dir", b"d", given(), 0),
        utimensat_cwd("utimensat.fifo", b"fifo", Arg::Null, 0),
        utimensat_cwd("utimensat.file-slash", b"f/", given(), 0),
        utimensat_cwd("utimensat.empty", b"", given(), 0).check(b"."),
        utimensat_cwd("utimensat.chain-41", b"chain/s0", given(), 0).tree(chain()).check(b"f"),
        utimensat_cwd("utimensat.non-utf8", b"caf\xe9", given(), 0).tree(vec![crate::tree::file(b"caf\xe9", "c\n")]),
        utimensat_cwd("utimensat.name-256", &name(256), given(), 0),
        utimensat_cwd("utimensat.path-4096", &path_4096(), given(), 0).tree(deep(4095)).check(&deep_path(4095)),
        utimensat_cwd("utimensat.abs", b"{cwd}/f", given(), 0).check(b"f"),
        // A NULL path: the dirfd itself.
        utimensat("utimensat.null-path-fd", d, Arg::Null, given(), 0).pre(Pre::Open(b"f", O_RDONLY)).check(b"f"),
        utimensat("utimensat.null-path-fd-null-times", d, Arg::Null, Arg::Null, 0)
            .pre(Pre::Open(b"f", O_RDONLY))
            .check(b"f"),
        utimensat("utimensat.null-path-dir-fd", d, Arg::Null, given(), 0)
            .pre(Pre::Open(b"d", O_RDONLY | O_DIRECTORY))
            .check(b"d"),
        utimensat("utimensat.null-path-opath", d, Arg::Null, given(), 0).pre(Pre::Tree(b"f")).check(b"f"),
        utimensat("utimensat.null-path-cwd", cwd, Arg::Null, given(), 0).check(b"."),
        utimensat("utimensat.null-path-flags", d, Arg::Null, given(), nofollow)
            .pre(Pre::Open(b"f", O_RDONLY))
            .check(b"f"),
        utimensat("utimensat.null-path-badfd", Dfd::Raw(9999), Arg::Null, given(), 0),
        utimensat("utimensat.null-path-other-writable", d, Arg::Null, given(), 0)
            .tree(sticky())
            .pre(Pre::Open(b"sticky/other_file", O_RDONLY))
            .check(b"sticky/other_file"),
        utimensat("utimensat.null-path-other-writable-null", d, Arg::Null, Arg::Null, 0)
            .tree(sticky())
            .pre(Pre::Open(b"sticky/other_file", O_RDONLY))
            .check(b"sticky/other_file"),
        // AT_EMPTY_PATH and dirfds.
        utimensat("utimensat.empty-path", d, p(b""), given(), AT_EMPTY_PATH).pre(Pre::Tree(b"f")).check(b"f"),
        utimensat("utimensat.empty-path-symlink", d, p(b""), given(), AT_EMPTY_PATH | nofollow)
            .pre(Pre::TreeNofollow(b"ln_f"))
            .check(b"ln_f")
            .check(b"f"),
        utimensat("utimensat.empty-path-cwd", cwd, p(b""), Arg::Null, AT_EMPTY_PATH).check(b"."),
        utimensat("utimensat.dirfd", d, p(b"g"), given(), 0).pre(Pre::Tree(b"d")).check(b"d/g"),
        utimensat("utimensat.badfd", Dfd::Raw(9999), p(b"f"), given(), 0).check(b"f"),
        utimensat("utimensat.filefd", d, p(b"x"), given(), 0).pre(Pre::Tree(b"f")),
        utimensat("utimensat.renamed-dirfd", d, p(b"g"), given(), 0)
            .pre(Pre::Tree(b"d"))
            .pre(Pre::Rename(b"d", b"d2"))
            .check(b"d2/g"),
        utimensat_cwd("utimensat.proc-self-fd", fd0, given(), 0).pre(Pre::Tree(b"f")).check(b"f"),
        utimensat_cwd("utimensat.proc-self-fd-nofollow", fd0, given(), nofollow).pre(Pre::Tree(b"f")).check(b"f"),
        // Permissions: given times need ownership, NULL (or NOW, NOW) write permission.
        utimensat_cwd("utimensat.other600-null", b"other600", Arg::Null, 0).tree(other()),
        utimensat_cwd("utimensat.other600-given", b"other600", given(), 0).tree(other()),
        utimensat_cwd("utimensat.other-writable-null", b"sticky/other_file", Arg::Null, 0).tree(sticky()),
        utimensat_cwd("utimensat.other-writable-now-now", b"sticky/other_file", t(0, now, 0, now), 0).tree(sticky()),
        utimensat_cwd("utimensat.other-writable-now-omit", b"sticky/other_file", t(0, now, 0, omit), 0).tree(sticky()),
        utimensat_cwd("utimensat.other-writable-given", b"sticky/other_file", given(), 0).tree(sticky()),
        utimensat_cwd("utimensat.own-read-only-null", b"r444", Arg::Null, 0).tree(own_files()),
        utimensat_cwd("utimensat.ro-dir-file", b"ro/f", given(), 0).tree(ro()),
        utimensat_cwd("utimensat.other-dir-file", b"other_d/f", Arg::Null, 0).tree(other()),
    ]
}
