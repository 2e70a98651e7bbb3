//! `mknod`, `mknodat`: FIFOs under the umask, regular files (S_IFREG and type 0), sockets, devices (CAP_MKNOD:
//! EPERM without it), directories and symlinks (EPERM, EINVAL), bad types, existing names (a dangling symlink is
//! not followed), and the arguments narrower than a register (the mode is 16 bits, the device 32).

use super::open::name;
use super::rename::{mnt, new_4096};
use super::{p, sys, Arg, Dfd, Op, Pre};
use crate::sys::Sys;
use crate::tree::{deep, ro, sgid, sticky};
use libc::{S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFREG, S_IFSOCK};

fn mode(kind: u32, perm: u32) -> i64 {
    i64::from(kind | perm)
}

/// /dev/null's device number (1:3).
fn null() -> i64 {
    libc::makedev(1, 3) as i64
}

fn mknod(name: &str, path: &[u8], mode: i64, dev: i64) -> Op {
    sys(name, Sys::Mknod, vec![p(path), Arg::Int(mode), Arg::Int(dev)])
}

fn mknodat(name: &str, dfd: Dfd, path: &[u8], mode: i64, dev: i64) -> Op {
    sys(name, Sys::Mknodat, vec![Arg::Fd(dfd), p(path), Arg::Int(mode), Arg::Int(dev)])
}

pub fn ops() -> Vec<Op> {
    let d = Dfd::Pre(0);
    let fifo = mode(S_IFIFO, 0o666);
    vec![
        // Types.
        mknod("mknod.fifo", b"new", fifo, 0),
        mknod("mknod.fifo-umask-0", b"new", fifo, 0).umask(0),
        mknod("mknod.fifo-umask-077", b"new", fifo, 0).umask(0o077),
        mknod("mknod.fifo-setid-sticky", b"new", mode(S_IFIFO, 0o7777), 0),
        mknod("mknod.fifo-with-dev", b"new", fifo, null()),
        mknod("mknod.regular", b"new", mode(S_IFREG, 0o644), 0),
        mknod("mknod.type-0", b"new", 0o644, 0),
        mknod("mknod.regular-setuid", b"new", mode(S_IFREG, 0o4755), 0),
        mknod("mknod.socket", b"new", mode(S_IFSOCK, 0o755), 0),
        mknod("mknod.char-device", b"new", mode(S_IFCHR, 0o666), null()),
        mknod("mknod.block-device", b"new", mode(S_IFBLK, 0o600), libc::makedev(7, 0) as i64),
        mknod("mknod.dir", b"new", mode(S_IFDIR, 0o755), 0),
        mknod("mknod.symlink-type", b"new", mode(S_IFLNK, 0o777), 0),
        mknod("mknod.bad-type", b"new", 0o030_644, 0),
        mknod("mknod.all-type-bits", b"new", 0o170_644, 0),
        mknod("mknod.mode-high-bits", b"new", (1 << 16) | mode(S_IFIFO, 0o600), 0),
        mknod("mknod.char-device-high-bits", b"new", mode(S_IFCHR, 0o600), (1 << 32) | null()),
        // Names.
        mknod("mknod.existing-file", b"f", fifo, 0),
        mknod("mknod.existing-dir", b"d", fifo, 0),
        mknod("mknod.existing-dangling", b"dangling", fifo, 0).check(b"newtarget"),
        mknod("mknod.existing-symlink", b"ln_f", fifo, 0).check(b"f"),
        mknod("mknod.slash", b"new/", fifo, 0).check(b"new"),
        mknod("mknod.dangling-slash", b"dangling/", fifo, 0).check(b"newtarget"),
        mknod("mknod.through-symlink", b"ln_d/new", fifo, 0).check(b"d/new"),
        mknod("mknod.dot", b".", fifo, 0),
        mknod("mknod.sub-dotdot", b"d/sub/..", fifo, 0),
        mknod("mknod.empty", b"", fifo, 0).check(b"."),
        mknod("mknod.missing-parent", b"nope/new", fifo, 0),
        mknod("mknod.file-parent", b"f/new", fifo, 0),
        mknod("mknod.non-utf8", b"n\xe9", fifo, 0).check(b"n\xef\xbf\xbd"),
        mknod("mknod.name-255", &name(255), fifo, 0),
        mknod("mknod.name-256", &name(256), fifo, 0),
        mknod("mknod.path-4096", &new_4096(), fifo, 0).tree(deep(4095)),
        mknod("mknod.abs", b"{cwd}/new", fifo, 0).check(b"new"),
        mknod("mknod.proc-self-cwd", b"/proc/self/cwd/new", fifo, 0).check(b"new"),
        mknod("mknod.in-proc", b"/proc/new", fifo, 0),
        // Where.
        mknod("mknod.in-ro", b"ro/new", fifo, 0).tree(ro()),
        mknod("mknod.in-sgid", b"sgid/new", mode(S_IFREG, 0o2755), 0).tree(sgid()),
        mknod("mknod.in-sticky", b"sticky/new", fifo, 0).tree(sticky()),
        mknod("mknod.in-tmpfs", b"mnt/new", fifo, 0).tree(mnt()).pre(Pre::Tmpfs(b"mnt")),
        mknod("mknod.char-device-in-tmpfs", b"mnt/new", mode(S_IFCHR, 0o600), null())
            .tree(mnt())
            .pre(Pre::Tmpfs(b"mnt")),
        // mknodat.
        mknodat("mknodat.cwd", Dfd::Cwd, b"new", mode(S_IFIFO, 0o640), 0),
        mknodat("mknodat.dirfd", d, b"new", mode(S_IFIFO, 0o640), 0).pre(Pre::Tree(b"d")).check(b"d/new"),
        mknodat("mknodat.dirfd-dotdot", d, b"../new", mode(S_IFIFO, 0o640), 0).pre(Pre::Tree(b"d")).check(b"new"),
        mknodat("mknodat.dirfd-empty", d, b"", fifo, 0).pre(Pre::Tree(b"d")),
        mknodat("mknodat.badfd", Dfd::Raw(9999), b"new", fifo, 0).check(b"new"),
        mknodat("mknodat.badfd-abs", Dfd::Raw(9999), b"{cwd}/new", fifo, 0).check(b"new"),
        mknodat("mknodat.filefd", d, b"new", fifo, 0).pre(Pre::Tree(b"f")),
        mknodat("mknodat.renamed-dirfd", d, b"new", fifo, 0)
            .pre(Pre::Tree(b"d"))
            .pre(Pre::Rename(b"d", b"d2"))
            .check(b"d2/new")
            .check(b"d/new"),
        mknodat("mknodat.char-device", Dfd::Cwd, b"new", mode(S_IFCHR, 0o644), null()),
        mknodat("mknodat.socket-umask-077", Dfd::Cwd, b"new", mode(S_IFSOCK, 0o777), 0).umask(0o077),
        mknodat("mknodat.dirfd-in-ro", d, b"new", fifo, 0).tree(ro()).pre(Pre::Tree(b"ro")),
    ]
}
