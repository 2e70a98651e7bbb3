//! `link`, `linkat`, `symlink`, `symlinkat`: link never follows the old path unless AT_SYMLINK_FOLLOW (so
//! `/proc/self/fd/N` is EXDEV without it, and the open file with it), AT_EMPTY_PATH (CAP_DAC_READ_SEARCH), an
//! O_TMPFILE file and a deleted one, fs.protected_hardlinks (another user's file the program cannot write, a
//! set-id file), existing names, trailing slashes, other mounts; symlink targets that are only text (empty, 4095
//! and 4096 bytes, not UTF-8). Each line shows both paths afterwards (for symlink, the new name).

use super::open::{name, path_4096};
use super::rename::{g, mnt, new_4096};
use super::{p, sys, Arg, Dfd, Op, Pre};
use crate::sys::Sys;
use crate::tree::{chain, deep, deep_path, file_as, null_dev, other, ro, sgid, sock, sticky, Who};
use libc::{AT_EMPTY_PATH, AT_SYMLINK_FOLLOW, AT_SYMLINK_NOFOLLOW, O_EXCL, O_RDONLY, O_RDWR, O_TMPFILE};

fn link(name: &str, old: &[u8], new: &[u8]) -> Op {
    sys(name, Sys::Link, vec![p(old), p(new)])
}

fn linkat(name: &str, od: Dfd, old: &[u8], nd: Dfd, new: &[u8], flags: i32) -> Op {
    sys(name, Sys::Linkat, vec![Arg::Fd(od), p(old), Arg::Fd(nd), p(new), Arg::Int(flags.into())])
}

/// `linkat(AT_FDCWD, old, AT_FDCWD, new, flags)`.
fn linkat_cwd(name: &str, old: &[u8], new: &[u8], flags: i32) -> Op {
    linkat(name, Dfd::Cwd, old, Dfd::Cwd, new, flags)
}

fn symlink(name: &str, target: &[u8], new: &[u8]) -> Op {
    sys(name, Sys::Symlink, vec![Arg::Text(target.to_vec()), p(new)])
}

fn symlinkat(name: &str, target: &[u8], nd: Dfd, new: &[u8]) -> Op {
    sys(name, Sys::Symlinkat, vec![Arg::Text(target.to_vec()), Arg::Fd(nd), p(new)])
}

pub fn ops() -> Vec<Op> {
    let cwd = Dfd::Cwd;
    let d = Dfd::Pre(0);
    let in_d = || Pre::Tree(b"d");
    let fd0 = b"/proc/self/fd/{0}";
    let follow = AT_SYMLINK_FOLLOW;
    let setid = || {
        vec![
            file_as(b"other_suid", 0o4777, Who::Other, "setuid\n"),
            file_as(b"other_sgid_x", 0o2777, Who::Other, "setgid, group-executable\n"),
            file_as(b"other_sgid", 0o2666, Who::Other, "setgid only\n"),
        ]
    };
    vec![
        // link: what the old path names (never followed in its last component).
        link("link.file", b"f", b"new"),
        link("link.existing", b"f", b"g").tree(g()),
        link("link.same-name", b"f", b"f"),
        link("link.dir", b"d", b"x"),
        link("link.dot", b".", b"x"),
        link("link.symlink", b"ln_f", b"x").check(b"f"),
        link("link.symlink-dir", b"ln_d", b"x").check(b"d"),
        link("link.dangling", b"dangling", b"x").check(b"newtarget"),
        link("link.symlink-slash", b"ln_f/", b"x").check(b"f"),
        link("link.symlink-dir-slash", b"ln_d/", b"x"),
        link("link.fifo", b"fifo", b"x"),
        link("link.device-node", b"nul", b"x").tree(vec![null_dev(b"nul")]),
        link("link.socket-node", b"sock", b"x").tree(vec![sock(b"sock")]),
        link("link.through-symlink", b"ln_d/g", b"ln_d/g2").check(b"d/g2"),
        link("link.loop", b"loop/x", b"y").tree(vec![crate::tree::link(b"loop", b"loop")]),
        // The new name.
        link("link.to-slash", b"f", b"x/"),
        link("link.dir-to-slash", b"d/", b"x/"),
        link("link.over-symlink", b"f", b"ln_d").check(b"d"),
        link("link.over-dangling", b"f", b"dangling").check(b"newtarget"),
        link("link.to-dot", b"f", b"."),
        link("link.to-dotdot", b"f", b".."),
        link("link.to-sub-dot", b"f", b"d/sub/."),
        link("link.empty-old", b"", b"x"),
        link("link.empty-new", b"f", b"").check(b"."),
        link("link.missing", b"nope", b"x"),
        link("link.missing-parent", b"f", b"nope/x"),
        link("link.file-parent", b"f", b"f/x"),
        // Permissions and fs.protected_hardlinks.
        link("link.into-ro", b"f", b"ro/x").tree(ro()),
        link("link.from-ro", b"ro/f", b"x").tree(ro()),
        link("link.other600", b"other600", b"x").tree(other()),
        link("link.other-writable", b"sticky/other_file", b"x").tree(sticky()),
        link("link.other-setuid", b"other_suid", b"x").tree(setid()),
        link("link.other-setgid-exec", b"other_sgid_x", b"x").tree(setid()),
        link("link.other-setgid", b"other_sgid", b"x").tree(setid()),
        link("link.other-dir-file", b"other_d/f", b"x").tree(other()),
        link("link.into-sticky", b"f", b"sticky/x").tree(sticky()),
        link("link.into-sgid", b"f", b"sgid/x").tree(sgid()),
        // Other mounts.
        link("link.xdev-proc", b"f", b"/proc/x"),
        link("link.xdev-dev-shm", b"f", b"/dev/shm/fsdiff-link-exdev"),
        link("link.proc-self-fd", fd0, b"x").pre(Pre::Tree(b"f")).check(b"f"),
        link("link.into-tmpfs", b"f", b"mnt/x").tree(mnt()).pre(Pre::Tmpfs(b"mnt")),
        link("link.proc-self-cwd", b"/proc/self/cwd/f", b"x"),
        link("link.abs", b"{cwd}/f", b"{cwd}/x"),
        // Names and lengths.
        link("link.non-utf8", b"caf\xe9", b"n\xff")
            .tree(vec![crate::tree::file(b"caf\xe9", "caf\n")])
            .check(b"n\xef\xbf\xbd"),
        link("link.name-255", b"f", &name(255)),
        link("link.name-256", b"f", &name(256)),
        link("link.path-4095", &deep_path(4095), b"x").tree(deep(4095)).check(b"x"),
        link("link.path-4096", &path_4096(), b"x").tree(deep(4095)).check(b"x"),
        link("link.to-path-4096", b"f", &new_4096()).tree(deep(4095)),
        // linkat: AT_SYMLINK_FOLLOW.
        linkat_cwd("linkat.symlink", b"ln_f", b"x", 0).check(b"f"),
        linkat_cwd("linkat.follow-symlink", b"ln_f", b"x", follow).check(b"f"),
        linkat_cwd("linkat.follow-dangling", b"dangling", b"x", follow),
        linkat_cwd("linkat.follow-symlink-dir", b"ln_d", b"x", follow),
        linkat_cwd("linkat.follow-chain-40", b"chain/s1", b"x", follow).tree(chain()).check(b"f"),
        linkat_cwd("linkat.follow-chain-41", b"chain/s0", b"x", follow).tree(chain()),
        linkat_cwd("linkat.follow-proc-self-fd", fd0, b"x", follow).pre(Pre::Tree(b"f")).check(b"f"),
        linkat_cwd("linkat.follow-proc-self-fd-symlink", fd0, b"x", follow)
            .pre(Pre::TreeNofollow(b"ln_f"))
            .check(b"ln_f"),
        linkat_cwd("linkat.follow-proc-self-fd-memfd", fd0, b"x", follow).pre(Pre::Memfd("memfd\n")),
        linkat_cwd("linkat.follow-proc-self-fd-deleted", fd0, b"x", follow)
            .tree(g())
            .pre(Pre::Open(b"g", O_RDONLY))
            .pre(Pre::Unlink(b"g", 0)),
        linkat_cwd("linkat.follow-tmpfile", fd0, b"x", follow).pre(Pre::Open(b"d", O_TMPFILE | O_RDWR)),
        linkat_cwd("linkat.follow-tmpfile-excl", fd0, b"x", follow).pre(Pre::Open(b"d", O_TMPFILE | O_RDWR | O_EXCL)),
        linkat_cwd("linkat.follow-into-tmpfs", b"ln_f", b"mnt/x", follow).tree(mnt()).pre(Pre::Tmpfs(b"mnt")),
        linkat_cwd("linkat.nofollow-flag", b"f", b"x", AT_SYMLINK_NOFOLLOW),
        linkat_cwd("linkat.bad-flags", b"f", b"x", 0x1),
        linkat_cwd("linkat.flags-high-bits", b"f", b"x", i32::MIN),
        // linkat: AT_EMPTY_PATH (needs CAP_DAC_READ_SEARCH).
        linkat("linkat.empty-path", d, b"", cwd, b"x", AT_EMPTY_PATH).pre(Pre::Tree(b"f")).check(b"f"),
        linkat("linkat.empty-path-no-flag", d, b"", cwd, b"x", 0).pre(Pre::Tree(b"f")),
        linkat("linkat.empty-path-follow", d, b"", cwd, b"x", AT_EMPTY_PATH | follow).pre(Pre::Tree(b"f")),
        linkat("linkat.empty-path-dir", d, b"", cwd, b"x", AT_EMPTY_PATH).pre(in_d()),
        linkat("linkat.empty-path-symlink", d, b"", cwd, b"x", AT_EMPTY_PATH).pre(Pre::TreeNofollow(b"ln_f")),
        linkat("linkat.empty-path-tmpfile", d, b"", cwd, b"x", AT_EMPTY_PATH).pre(Pre::Open(b"d", O_TMPFILE | O_RDWR)),
        linkat("linkat.empty-path-other600", d, b"", cwd, b"x", AT_EMPTY_PATH)
            .tree(other())
            .pre(Pre::Tree(b"other600")),
        linkat("linkat.empty-path-cwd", cwd, b"", cwd, b"x", AT_EMPTY_PATH),
        // linkat: dirfds.
        linkat("linkat.dirfds", d, b"g", Dfd::Pre(1), b"g2", 0).pre(in_d()).pre(Pre::Tree(b"d/sub")).check(b"d/sub/g2"),
        linkat("linkat.dirfd-dotdot", d, b"../f", d, b"f2", 0).pre(in_d()).check(b"d/f2"),
        linkat("linkat.badfd-old", Dfd::Raw(9999), b"f", cwd, b"x", 0),
        linkat("linkat.badfd-new", cwd, b"f", Dfd::Raw(9999), b"x", 0).check(b"x"),
        linkat("linkat.badfd-abs", Dfd::Raw(9999), b"{cwd}/f", Dfd::Raw(9999), b"{cwd}/x", 0),
        linkat("linkat.filefd", d, b"x", cwd, b"y", 0).pre(Pre::Tree(b"f")),
        linkat("linkat.renamed-dirfd", d, b"g", d, b"g2", 0)
            .pre(in_d())
            .pre(Pre::Rename(b"d", b"d2"))
            .check(b"d2/g2")
            .check(b"d/g2"),
        // symlink: the target is text, the new name is a path whose last component is never followed.
        symlink("symlink.new", b"f", b"new"),
        symlink("symlink.existing-file", b"x", b"f"),
        symlink("symlink.existing-dangling", b"x", b"dangling").check(b"newtarget"),
        symlink("symlink.existing-dir", b"x", b"d"),
        symlink("symlink.empty-target", b"", b"new"),
        symlink("symlink.empty-name", b"f", b"").check(b"."),
        symlink("symlink.slash", b"f", b"new/"),
        symlink("symlink.dangling-slash", b"f", b"dangling/").check(b"newtarget"),
        symlink("symlink.through-symlink", b"../f", b"ln_d/new").check(b"d/new"),
        symlink("symlink.abs-target", b"/etc/hostname", b"new"),
        symlink("symlink.dotdot-target", b"../../../../../../etc", b"new"),
        symlink("symlink.dot", b"f", b"."),
        symlink("symlink.dotdot", b"f", b".."),
        symlink("symlink.sub-dotdot", b"f", b"d/sub/.."),
        symlink("symlink.missing-parent", b"f", b"nope/new"),
        symlink("symlink.file-parent", b"f", b"f/new"),
        symlink("symlink.in-ro", b"f", b"ro/new").tree(ro()),
        symlink("symlink.in-other-dir", b"f", b"other_d/new").tree(other()),
        symlink("symlink.in-sticky", b"f", b"sticky/new").tree(sticky()),
        symlink("symlink.in-sgid", b"f", b"sgid/new").tree(sgid()),
        symlink("symlink.in-tmpfs", b"f", b"mnt/new").tree(mnt()).pre(Pre::Tmpfs(b"mnt")),
        symlink("symlink.in-proc", b"f", b"/proc/new"),
        symlink("symlink.target-4095", &[b't'; 4095], b"new"),
        symlink("symlink.target-4096", &[b't'; 4096], b"new"),
        symlink("symlink.target-non-utf8", b"\xff\xfe/x", b"new"),
        symlink("symlink.name-non-utf8", b"f", b"n\xe9").check(b"n\xef\xbf\xbd"),
        symlink("symlink.name-255", b"f", &name(255)),
        symlink("symlink.name-256", b"f", &name(256)),
        symlink("symlink.path-4096", b"f", &new_4096()).tree(deep(4095)),
        symlink("symlink.abs-name", b"f", b"{cwd}/new").check(b"new"),
        symlink("symlink.proc-self-cwd", b"f", b"/proc/self/cwd/new").check(b"new"),
        // symlinkat.
        symlinkat("symlinkat.dirfd", b"g", d, b"new").pre(in_d()).check(b"d/new"),
        symlinkat("symlinkat.dirfd-dotdot", b"f", d, b"../new").pre(in_d()).check(b"new"),
        symlinkat("symlinkat.dirfd-empty", b"f", d, b"").pre(in_d()),
        symlinkat("symlinkat.badfd", b"f", Dfd::Raw(9999), b"new").check(b"new"),
        symlinkat("symlinkat.badfd-abs", b"f", Dfd::Raw(9999), b"{cwd}/new").check(b"new"),
        symlinkat("symlinkat.filefd", b"f", d, b"new").pre(Pre::Tree(b"f")),
        symlinkat("symlinkat.renamed-dirfd", b"g", d, b"new")
            .pre(in_d())
            .pre(Pre::Rename(b"d", b"d2"))
            .check(b"d2/new")
            .check(b"d/new"),
        symlinkat("symlinkat.dirfd-in-ro", b"f", d, b"new").tree(ro()).pre(Pre::Tree(b"ro")),
        symlinkat("symlinkat.cwd-existing-dir", b"f", cwd, b"d"),
    ]
}
