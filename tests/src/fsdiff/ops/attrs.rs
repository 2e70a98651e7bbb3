//! `chmod`, `fchmodat`, `fchmodat2`, `chown`, `lchown`, `fchownat`: which calls follow a symlink (chmod and chown
//! do, lchown does not, fchmodat ignores a fourth argument, fchmodat2 with AT_SYMLINK_NOFOLLOW on a symlink is
//! EOPNOTSUPP), AT_EMPTY_PATH, `/proc/self/fd/N` of files, memfds, pipes, sockets and deleted files, another user's
//! files (EPERM), ids of -1, the set-id bits chown drops and the setgid bit chmod drops for a group the program is
//! not in, and the bits of an argument wider than the kernel's type.

use super::open::{name, path_4096};
use super::{p, sys, Arg, Dfd, Op, Pre};
use crate::sys::Sys;
use crate::tree::{
    chain, deep, deep_path, dir_as, file_as, file_group, link, null_dev, other, ro, sock, sticky, Node, Who,
};
use libc::{AT_EMPTY_PATH, AT_SYMLINK_FOLLOW, AT_SYMLINK_NOFOLLOW, O_RDONLY};

/// Another user (crate::tree::OTHER) as an id argument.
const OTHER: Arg = Arg::Int(crate::tree::OTHER as i64);
const KEEP: Arg = Arg::Int(-1);

fn chmod(name: &str, path: &[u8], mode: i64) -> Op {
    sys(name, Sys::Chmod, vec![p(path), Arg::Int(mode)])
}

fn fchmodat(name: &str, dfd: Dfd, path: &[u8], mode: i64) -> Op {
    sys(name, Sys::Fchmodat, vec![Arg::Fd(dfd), p(path), Arg::Int(mode)])
}

fn fchmodat2(name: &str, dfd: Dfd, path: &[u8], mode: i64, flags: i32) -> Op {
    sys(name, Sys::Fchmodat2, vec![Arg::Fd(dfd), p(path), Arg::Int(mode), Arg::Int(flags.into())])
}

fn chown(name: &str, path: &[u8], uid: Arg, gid: Arg) -> Op {
    sys(name, Sys::Chown, vec![p(path), uid, gid])
}

fn lchown(name: &str, path: &[u8], uid: Arg, gid: Arg) -> Op {
    sys(name, Sys::Lchown, vec![p(path), uid, gid])
}

fn fchownat(name: &str, dfd: Dfd, path: &[u8], uid: Arg, gid: Arg, flags: i32) -> Op {
    sys(name, Sys::Fchownat, vec![Arg::Fd(dfd), p(path), uid, gid, Arg::Int(flags.into())])
}

/// Set-id files of the target: `suid` (06755), `sgid_nox` (02644: setgid without group execute, kept by chown),
/// `sdir/` (02755); and `fg` (0755), the target's file whose group is another user's.
fn setid() -> Vec<Node> {
    vec![
        file_as(b"suid", 0o6755, Who::Target, "setuid\n"),
        file_as(b"sgid_nox", 0o2644, Who::Target, "setgid\n"),
        dir_as(b"sdir", 0o2755, Who::Target, Who::Target),
        file_group(b"fg", 0o755, Who::Target, Who::Other, "foreign group\n"),
    ]
}

fn loop_link() -> Vec<Node> {
    vec![link(b"loop", b"loop")]
}

pub fn ops() -> Vec<Op> {
    let cwd = Dfd::Cwd;
    let d = Dfd::Pre(0);
    let in_d = || Pre::Tree(b"d");
    let fd0 = b"/proc/self/fd/{0}";
    let nofollow = AT_SYMLINK_NOFOLLOW;
    vec![
        // chmod: modes, what follows, what is missing.
        chmod("chmod.file-600", b"f", 0o600),
        chmod("chmod.file-7777", b"f", 0o7777),
        chmod("chmod.file-0", b"f", 0),
        chmod("chmod.file-type-bits", b"f", 0o177_777),
        chmod("chmod.mode-high-word", b"f", (1 << 32) | 0o640),
        chmod("chmod.sticky-bit-file", b"f", 0o1644),
        chmod("chmod.dir-700", b"d", 0o700),
        chmod("chmod.dir-setgid", b"d", 0o2755),
        chmod("chmod.symlink", b"ln_f", 0o600).check(b"f"),
        chmod("chmod.symlink-dir", b"ln_d", 0o700).check(b"d"),
        chmod("chmod.symlink-dir-slash", b"ln_d/", 0o711).check(b"d"),
        chmod("chmod.dangling", b"dangling", 0o600).check(b"newtarget"),
        chmod("chmod.file-slash", b"f/", 0o600),
        chmod("chmod.empty", b"", 0o600).check(b"."),
        chmod("chmod.dot", b".", 0o750),
        chmod("chmod.missing", b"nope", 0o600),
        chmod("chmod.file-parent", b"f/x", 0o600),
        chmod("chmod.fifo", b"fifo", 0o600),
        chmod("chmod.device-node", b"nul", 0o600).tree(vec![null_dev(b"nul")]),
        chmod("chmod.socket-node", b"sock", 0o700).tree(vec![sock(b"sock")]),
        chmod("chmod.chain-40", b"chain/s1", 0o600).tree(chain()).check(b"f"),
        chmod("chmod.chain-41", b"chain/s0", 0o600).tree(chain()).check(b"f"),
        chmod("chmod.loop", b"loop", 0o600).tree(loop_link()),
        // Permissions and set-id bits.
        chmod("chmod.other600", b"other600", 0o644).tree(other()),
        chmod("chmod.other-dir-file", b"other_d/f", 0o600).tree(other()),
        chmod("chmod.ro-dir-file", b"ro/f", 0o600).tree(ro()),
        chmod("chmod.sticky-other-file", b"sticky/other_file", 0o600).tree(sticky()),
        chmod("chmod.setgid-foreign-group", b"fg", 0o2755).tree(setid()),
        chmod("chmod.setgid-own-group", b"f", 0o2755),
        chmod("chmod.dir-setgid-foreign-group", b"sgid", 0o2700).tree(crate::tree::sgid()),
        // /proc/self/fd/N and other proc paths.
        chmod("chmod.proc-self-fd", fd0, 0o600).pre(Pre::Tree(b"f")).check(b"f"),
        chmod("chmod.proc-self-fd-dir", fd0, 0o700).pre(in_d()).check(b"d"),
        chmod("chmod.proc-self-fd-memfd", fd0, 0o600).pre(Pre::Memfd("memfd\n")).follow(fd0),
        chmod("chmod.proc-self-fd-pipe", fd0, 0o600).pre(Pre::Pipe("pipe\n")).follow(fd0),
        chmod("chmod.proc-self-fd-socket", fd0, 0o600).pre(Pre::Socket).follow(fd0),
        chmod("chmod.proc-self-fd-deleted", fd0, 0o600)
            .tree(super::rename::g())
            .pre(Pre::Open(b"g", O_RDONLY))
            .pre(Pre::Unlink(b"g", 0))
            .follow(fd0),
        chmod("chmod.proc-self-fd-closed", b"/proc/self/fd/{1}", 0o600)
            .pre(Pre::Memfd("a"))
            .pre(Pre::Memfd("b"))
            .pre(Pre::Close(1)),
        chmod("chmod.proc-self-cwd", b"/proc/self/cwd", 0o700).check(b"."),
        chmod("chmod.proc-self-cwd-file", b"/proc/self/cwd/f", 0o600).check(b"f"),
        chmod("chmod.proc-self-status", b"/proc/self/status", 0o600),
        // Names and lengths.
        chmod("chmod.non-utf8", b"caf\xe9", 0o600).tree(vec![crate::tree::file(b"caf\xe9", "caf\n")]),
        chmod("chmod.name-256", &name(256), 0o600),
        chmod("chmod.path-4095", &deep_path(4095), 0o600).tree(deep(4095)).check(&deep_path(4095)),
        chmod("chmod.path-4096", &path_4096(), 0o600).tree(deep(4095)).check(&deep_path(4095)),
        chmod("chmod.abs", b"{cwd}/f", 0o600).check(b"f"),
        // fchmodat: three arguments (a fourth is ignored: it always follows).
        fchmodat("fchmodat.cwd", cwd, b"f", 0o600),
        fchmodat("fchmodat.dirfd", d, b"g", 0o600).pre(in_d()).check(b"d/g"),
        fchmodat("fchmodat.follows", cwd, b"ln_f", 0o600).check(b"f"),
        sys(
            "fchmodat.fourth-argument-ignored",
            Sys::Fchmodat,
            vec![Arg::Fd(cwd), p(b"ln_f"), Arg::Int(0o600), Arg::Int(nofollow.into())],
        )
        .check(b"f"),
        fchmodat("fchmodat.dirfd-empty", d, b"", 0o700).pre(in_d()).check(b"d"),
        fchmodat("fchmodat.badfd", Dfd::Raw(9999), b"f", 0o600).check(b"f"),
        fchmodat("fchmodat.badfd-abs", Dfd::Raw(9999), b"{cwd}/f", 0o600).check(b"f"),
        fchmodat("fchmodat.filefd", d, b"x", 0o600).pre(Pre::Tree(b"f")),
        fchmodat("fchmodat.renamed-dirfd", d, b"g", 0o600).pre(in_d()).pre(Pre::Rename(b"d", b"d2")).check(b"d2/g"),
        fchmodat("fchmodat.dirfd-dotdot", d, b"..", 0o700).pre(in_d()).check(b"."),
        // fchmodat2: AT_SYMLINK_NOFOLLOW and AT_EMPTY_PATH.
        fchmodat2("fchmodat2.flags-0", cwd, b"ln_f", 0o600, 0).check(b"f"),
        fchmodat2("fchmodat2.nofollow-symlink", cwd, b"ln_f", 0o600, nofollow).check(b"f"),
        fchmodat2("fchmodat2.nofollow-file", cwd, b"f", 0o600, nofollow),
        fchmodat2("fchmodat2.nofollow-dangling", cwd, b"dangling", 0o600, nofollow),
        fchmodat2("fchmodat2.nofollow-symlink-dir-slash", cwd, b"ln_d/", 0o700, nofollow).check(b"d"),
        fchmodat2("fchmodat2.nofollow-proc-self-fd", cwd, fd0, 0o600, nofollow).pre(Pre::Tree(b"f")).check(b"f"),
        fchmodat2("fchmodat2.proc-self-fd", cwd, fd0, 0o600, 0).pre(Pre::Tree(b"f")).check(b"f"),
        fchmodat2("fchmodat2.empty-path", d, b"", 0o600, AT_EMPTY_PATH).pre(Pre::Tree(b"f")).check(b"f"),
        fchmodat2("fchmodat2.empty-path-cwd", cwd, b"", 0o700, AT_EMPTY_PATH).check(b"."),
        fchmodat2("fchmodat2.empty-path-symlink", d, b"", 0o600, AT_EMPTY_PATH)
            .pre(Pre::TreeNofollow(b"ln_f"))
            .check(b"ln_f")
            .check(b"f"),
        fchmodat2("fchmodat2.empty-path-symlink-nofollow", d, b"", 0o600, AT_EMPTY_PATH | nofollow)
            .pre(Pre::TreeNofollow(b"ln_f"))
            .check(b"ln_f")
            .check(b"f"),
        fchmodat2("fchmodat2.empty-path-no-flag", d, b"", 0o600, 0).pre(Pre::Tree(b"f")).check(b"f"),
        fchmodat2("fchmodat2.bad-flags", cwd, b"f", 0o600, 0x1),
        fchmodat2("fchmodat2.follow-flag", cwd, b"f", 0o600, AT_SYMLINK_FOLLOW),
        fchmodat2("fchmodat2.dirfd", d, b"g", 0o640, nofollow).pre(in_d()).check(b"d/g"),
        fchmodat2("fchmodat2.badfd", Dfd::Raw(9999), b"f", 0o600, 0).check(b"f"),
        fchmodat2("fchmodat2.other600", cwd, b"other600", 0o644, nofollow).tree(other()),
        // chown: ids (-1 keeps), another user's ids, what follows.
        chown("chown.keep", b"f", KEEP, KEEP),
        chown("chown.own-ids", b"f", Arg::OwnUid, Arg::OwnGid),
        chown("chown.other-uid", b"f", OTHER, KEEP),
        chown("chown.other-gid", b"f", KEEP, OTHER),
        chown("chown.other-both", b"f", OTHER, OTHER),
        chown("chown.nobody", b"f", Arg::Int(65534), Arg::Int(65534)),
        chown("chown.root", b"f", Arg::Int(0), Arg::Int(0)),
        chown("chown.uid-high-word", b"f", Arg::Int((1 << 32) | i64::from(crate::tree::OTHER)), KEEP),
        chown("chown.dir", b"d", OTHER, OTHER),
        chown("chown.dot", b".", KEEP, KEEP),
        chown("chown.symlink", b"ln_f", OTHER, OTHER).check(b"f"),
        chown("chown.dangling", b"dangling", KEEP, KEEP),
        chown("chown.file-slash", b"f/", KEEP, KEEP),
        chown("chown.empty", b"", OTHER, KEEP).check(b"."),
        chown("chown.fifo", b"fifo", OTHER, KEEP),
        // The set-id bits.
        chown("chown.setuid-keep", b"suid", KEEP, KEEP).tree(setid()),
        chown("chown.setuid-own-ids", b"suid", Arg::OwnUid, Arg::OwnGid).tree(setid()),
        chown("chown.setuid-other", b"suid", OTHER, KEEP).tree(setid()),
        chown("chown.setgid-no-exec", b"sgid_nox", KEEP, KEEP).tree(setid()),
        chown("chown.dir-setgid", b"sdir", KEEP, Arg::OwnGid).tree(setid()),
        chown("chown.foreign-group-to-own", b"fg", KEEP, Arg::OwnGid).tree(setid()),
        // Another user's files.
        chown("chown.other600-keep", b"other600", KEEP, KEEP).tree(other()),
        chown("chown.other600-to-self", b"other600", Arg::OwnUid, KEEP).tree(other()),
        chown("chown.other600-same-ids", b"other600", OTHER, OTHER).tree(other()),
        chown("chown.other-dir-file", b"other_d/f", KEEP, KEEP).tree(other()),
        chown("chown.ro-dir-file", b"ro/f", OTHER, KEEP).tree(ro()),
        chown("chown.proc-self-fd", fd0, KEEP, OTHER).pre(Pre::Tree(b"f")).check(b"f"),
        chown("chown.proc-self-fd-memfd", fd0, Arg::OwnUid, Arg::OwnGid).pre(Pre::Memfd("m\n")).follow(fd0),
        chown("chown.non-utf8", b"caf\xe9", OTHER, KEEP).tree(vec![crate::tree::file(b"caf\xe9", "caf\n")]),
        chown("chown.name-256", &name(256), KEEP, KEEP),
        chown("chown.path-4096", &path_4096(), KEEP, KEEP).tree(deep(4095)),
        chown("chown.chain-41", b"chain/s0", KEEP, KEEP).tree(chain()),
        chown("chown.abs", b"{cwd}/f", OTHER, KEEP),
        // lchown: never follows the last component.
        lchown("lchown.symlink", b"ln_f", OTHER, OTHER).check(b"f"),
        lchown("lchown.symlink-own", b"ln_f", Arg::OwnUid, Arg::OwnGid).check(b"f"),
        lchown("lchown.file", b"f", OTHER, KEEP),
        lchown("lchown.dangling", b"dangling", KEEP, KEEP),
        lchown("lchown.symlink-dir-slash", b"ln_d/", OTHER, OTHER).check(b"d"),
        lchown("lchown.through-symlink", b"ln_d/g", OTHER, KEEP).check(b"d/g"),
        lchown("lchown.sticky-other-link", b"sticky/other_link", Arg::OwnUid, KEEP).tree(sticky()),
        lchown("lchown.missing", b"nope", KEEP, KEEP),
        lchown("lchown.empty", b"", OTHER, KEEP).check(b"."),
        lchown("lchown.loop", b"loop", KEEP, KEEP).tree(loop_link()),
        // fchownat.
        fchownat("fchownat.follow", cwd, b"ln_f", OTHER, OTHER, 0).check(b"f"),
        fchownat("fchownat.nofollow", cwd, b"ln_f", OTHER, OTHER, nofollow).check(b"f"),
        fchownat("fchownat.nofollow-keep", cwd, b"ln_f", KEEP, KEEP, nofollow),
        fchownat("fchownat.nofollow-proc-self-fd", cwd, fd0, KEEP, KEEP, nofollow).pre(Pre::Tree(b"f")).check(b"f"),
        fchownat("fchownat.empty-path", d, b"", OTHER, KEEP, AT_EMPTY_PATH).pre(Pre::Tree(b"f")).check(b"f"),
        fchownat("fchownat.empty-path-symlink", d, b"", Arg::OwnUid, OTHER, AT_EMPTY_PATH)
            .pre(Pre::TreeNofollow(b"ln_f"))
            .check(b"ln_f")
            .check(b"f"),
        fchownat("fchownat.empty-path-cwd", cwd, b"", KEEP, KEEP, AT_EMPTY_PATH).check(b"."),
        fchownat("fchownat.empty-path-no-flag", d, b"", OTHER, KEEP, 0).pre(Pre::Tree(b"f")).check(b"f"),
        fchownat("fchownat.bad-flags", cwd, b"f", KEEP, KEEP, 0x1),
        fchownat("fchownat.follow-flag", cwd, b"f", KEEP, KEEP, AT_SYMLINK_FOLLOW),
        fchownat("fchownat.dirfd", d, b"g", OTHER, KEEP, 0).pre(in_d()).check(b"d/g"),
        fchownat("fchownat.badfd", Dfd::Raw(9999), b"f", KEEP, KEEP, 0),
        fchownat("fchownat.filefd", d, b"x", KEEP, KEEP, 0).pre(Pre::Tree(b"f")),
        fchownat("fchownat.renamed-dirfd", d, b"g", OTHER, KEEP, 0)
            .pre(in_d())
            .pre(Pre::Rename(b"d", b"d2"))
            .check(b"d2/g"),
        fchownat("fchownat.setuid-nofollow", cwd, b"suid", KEEP, KEEP, nofollow).tree(setid()),
    ]
}
