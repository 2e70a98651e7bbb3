//! `rename`, `renameat`, `renameat2`: what replaces what, trailing slashes, `.` and `..` as either name, a directory
//! into its own subdirectory, symlinks in either path (never followed in the last component), other mounts (EXDEV,
//! EBUSY for a mount point of the program's own namespace), sticky and non-writable directories, the flags of
//! renameat2 (NOREPLACE, EXCHANGE, WHITEOUT) and limits. Each line shows both paths afterwards.

use super::open::{name, path_4096};
use super::{p, sys, Arg, Dfd, Op, Pre};
use crate::sys::Sys;
use crate::tree::{deep, deep_path, dir, file, hard, link, null_dev, other, ro, sock, sticky, Node};

pub const NOREPLACE: i64 = 1;
pub const EXCHANGE: i64 = 2;
pub const WHITEOUT: i64 = 4;

fn rename(name: &str, old: &[u8], new: &[u8]) -> Op {
    sys(name, Sys::Rename, vec![p(old), p(new)])
}

fn renameat(name: &str, od: Dfd, old: &[u8], nd: Dfd, new: &[u8]) -> Op {
    sys(name, Sys::Renameat, vec![Arg::Fd(od), p(old), Arg::Fd(nd), p(new)])
}

fn renameat2(name: &str, old: &[u8], new: &[u8], flags: i64) -> Op {
    renameat2_at(name, Dfd::Cwd, old, Dfd::Cwd, new, flags)
}

fn renameat2_at(name: &str, od: Dfd, old: &[u8], nd: Dfd, new: &[u8], flags: i64) -> Op {
    sys(name, Sys::Renameat2, vec![Arg::Fd(od), p(old), Arg::Fd(nd), p(new), Arg::Int(flags)])
}

/// `g`: a second file.
pub fn g() -> Vec<Node> {
    vec![file(b"g", "file g\n")]
}

/// `e/`: an empty directory.
pub fn e() -> Vec<Node> {
    vec![dir(b"e")]
}

/// `ne/`: a directory with a file in it.
fn ne() -> Vec<Node> {
    vec![dir(b"ne"), file(b"ne/x", "file ne/x\n")]
}

/// `mnt/`: where a tmpfs is mounted in the modes where the program is root in a mount namespace of its own.
pub fn mnt() -> Vec<Node> {
    vec![dir(b"mnt")]
}

/// A 4096-byte path whose last component is a new name in the deep directories of [`deep`]`(4095)`.
pub fn new_4096() -> Vec<u8> {
    let mut p = path_4096();
    let at = p.len() - 1;
    p[at] = b'x';
    p
}

pub fn ops() -> Vec<Op> {
    let cwd = Dfd::Cwd;
    let d = Dfd::Pre(0);
    let in_d = || Pre::Tree(b"d");
    let loop_link = || vec![link(b"loop", b"loop")];
    vec![
        // What replaces what.
        rename("rename.file-new", b"f", b"new"),
        rename("rename.file-over-file", b"f", b"g").tree(g()),
        rename("rename.file-over-dir", b"f", b"d"),
        rename("rename.dir-over-file", b"d", b"f"),
        rename("rename.dir-over-empty-dir", b"d", b"e").tree(e()).check(b"e/g"),
        rename("rename.dir-over-non-empty-dir", b"d/sub", b"ne").tree(ne()),
        rename("rename.file-over-fifo", b"f", b"fifo"),
        rename("rename.same-name", b"f", b"f"),
        rename("rename.dir-same-name", b"d", b"d"),
        rename("rename.hard-links-of-one-file", b"f", b"hl").tree(vec![hard(b"hl", b"f")]),
        rename("rename.dir-with-contents", b"d", b"x").check(b"x/g").check(b"x/sub"),
        rename("rename.fifo", b"fifo", b"x"),
        rename("rename.device-node", b"nul", b"x").tree(vec![null_dev(b"nul")]),
        rename("rename.socket-node", b"sock", b"x").tree(vec![sock(b"sock")]),
        // Trailing slashes.
        rename("rename.file-to-slash", b"f", b"new/"),
        rename("rename.file-over-file-slash", b"f", b"g/").tree(g()),
        rename("rename.file-slash", b"f/", b"x"),
        rename("rename.dir-to-slash", b"d", b"x/"),
        rename("rename.dir-slash-to-slash", b"d/", b"x/"),
        rename("rename.dir-slashes", b"d//", b"x//"),
        rename("rename.dir-over-empty-dir-slash", b"d/", b"e/").tree(e()),
        rename("rename.symlink-dir-slash", b"ln_d/", b"x").check(b"d"),
        rename("rename.dir-over-symlink-dir-slash", b"d", b"ln_d/"),
        // Symlinks: the last component is never followed.
        rename("rename.symlink", b"ln_f", b"x").check(b"f"),
        rename("rename.symlink-dir", b"ln_d", b"x").check(b"d"),
        rename("rename.file-over-own-symlink", b"f", b"ln_f"),
        rename("rename.file-over-symlink-dir", b"f", b"ln_d").check(b"d"),
        rename("rename.dir-over-symlink-dir", b"d", b"ln_d"),
        rename("rename.dangling", b"dangling", b"x").check(b"newtarget"),
        rename("rename.over-dangling", b"f", b"dangling").check(b"newtarget"),
        rename("rename.through-symlink", b"ln_d/g", b"x").check(b"d/g"),
        rename("rename.into-symlink-dir", b"f", b"ln_d/x").check(b"d/x"),
        rename("rename.loop", b"loop/x", b"y").tree(loop_link()),
        // `.` and `..` as either name; a directory into itself.
        rename("rename.dot", b".", b"x"),
        rename("rename.dotdot", b"..", b"x"),
        rename("rename.to-dot", b"f", b"."),
        rename("rename.to-dotdot", b"f", b".."),
        rename("rename.sub-dot", b"d/sub/.", b"x").check(b"d/sub"),
        rename("rename.to-sub-dotdot", b"f", b"d/sub/..").check(b"d"),
        rename("rename.into-own-subdir", b"d", b"d/sub/x").check(b"d/sub/x"),
        rename("rename.into-itself", b"d", b"d/x"),
        rename("rename.subdir-over-parent", b"d/sub", b"d"),
        rename("rename.empty-subdir-over-parent", b"e/s", b"e").tree(vec![dir(b"e"), dir(b"e/s")]),
        // What is missing or empty.
        rename("rename.empty-old", b"", b"x"),
        rename("rename.empty-new", b"f", b"").check(b"."),
        rename("rename.missing", b"nope", b"x"),
        rename("rename.missing-parent", b"f", b"nope/x"),
        rename("rename.file-parent", b"f", b"f/x"),
        // Permissions and sticky directories.
        rename("rename.in-ro", b"ro/f", b"x").tree(ro()),
        rename("rename.into-ro", b"f", b"ro/x").tree(ro()),
        rename("rename.ro-dir-to-other-parent", b"ro", b"d/ro").tree(ro()),
        rename("rename.ro-dir-same-parent", b"ro", b"ro2").tree(ro()),
        rename("rename.other-dir-file", b"other_d/f", b"x").tree(other()),
        rename("rename.other600", b"other600", b"x").tree(other()),
        rename("rename.sticky-other-file", b"sticky/other_file", b"sticky/x").tree(sticky()),
        rename("rename.sticky-own-file", b"sticky/mine", b"sticky/x").tree(sticky()),
        rename("rename.sticky-over-other-file", b"sticky/mine", b"sticky/other_file").tree(sticky()),
        rename("rename.sticky-other-dir", b"sticky/other_dir", b"sticky/x").tree(sticky()),
        rename("rename.sticky-other-file-out", b"sticky/other_file", b"x").tree(sticky()),
        // Other mounts.
        rename("rename.xdev-proc", b"f", b"/proc/x"),
        rename("rename.xdev-dev-shm", b"f", b"/dev/shm/fsdiff-rename-exdev"),
        rename("rename.xdev-from-proc", b"/proc/self/comm", b"x"),
        rename("rename.proc-self-fd", b"/proc/self/fd/{0}", b"x").pre(Pre::Tree(b"f")).check(b"f"),
        rename("rename.into-tmpfs", b"f", b"mnt/x").tree(mnt()).pre(Pre::Tmpfs(b"mnt")),
        rename("rename.tmpfs-mount-point", b"mnt", b"x").tree(mnt()).pre(Pre::Tmpfs(b"mnt")),
        rename("rename.over-tmpfs-mount-point", b"e", b"mnt").tree(mnt()).tree(e()).pre(Pre::Tmpfs(b"mnt")),
        rename("rename.proc-self-cwd", b"/proc/self/cwd/f", b"x"),
        rename("rename.abs", b"{cwd}/f", b"{cwd}/x"),
        // Names and lengths.
        rename("rename.non-utf8", b"caf\xe9", b"n\xff")
            .tree(vec![file(b"caf\xe9", "caf\n")])
            .check(b"caf\xef\xbf\xbd")
            .check(b"n\xef\xbf\xbd"),
        rename("rename.name-255", b"f", &name(255)),
        rename("rename.name-256", b"f", &name(256)),
        rename("rename.path-4095", &deep_path(4095), b"x").tree(deep(4095)).check(b"x"),
        rename("rename.path-4096", &path_4096(), b"x").tree(deep(4095)).check(b"x").check(&deep_path(4095)),
        rename("rename.to-path-4096", b"f", &new_4096()).tree(deep(4095)),
        // renameat: dirfds.
        renameat("renameat.cwd", cwd, b"f", cwd, b"x"),
        renameat("renameat.dirfd-old", d, b"g", cwd, b"x").pre(in_d()).check(b"d/g"),
        renameat("renameat.two-dirfds", d, b"g", Dfd::Pre(1), b"g2")
            .pre(in_d())
            .pre(Pre::Tree(b"d/sub"))
            .check(b"d/g")
            .check(b"d/sub/g2"),
        renameat("renameat.dirfd-dotdot", d, b"../f", d, b"x").pre(in_d()).check(b"f").check(b"d/x"),
        renameat("renameat.dirfd-dot", d, b".", cwd, b"x").pre(in_d()),
        renameat("renameat.dirfd-empty", d, b"", cwd, b"x").pre(in_d()),
        renameat("renameat.badfd-old", Dfd::Raw(9999), b"f", cwd, b"x").check(b"f"),
        renameat("renameat.badfd-new", cwd, b"f", Dfd::Raw(9999), b"x").check(b"x"),
        renameat("renameat.badfd-abs", Dfd::Raw(9999), b"{cwd}/f", Dfd::Raw(9999), b"{cwd}/x"),
        renameat("renameat.filefd", d, b"x", cwd, b"y").pre(Pre::Tree(b"f")),
        renameat("renameat.renamed-dirfd", d, b"g", d, b"g2")
            .pre(in_d())
            .pre(Pre::Rename(b"d", b"d2"))
            .check(b"d2/g2")
            .check(b"d/g2"),
        renameat("renameat.dirfd-symlink-up", d, b"up/f", cwd, b"x")
            .tree(vec![link(b"d/up", b"..")])
            .pre(in_d())
            .check(b"f"),
        // renameat2: flags.
        renameat2("renameat2.flags-0", b"f", b"x", 0),
        renameat2("renameat2.flags-high-word", b"f", b"x", 1 << 32),
        renameat2("renameat2.unknown-flag", b"f", b"x", 8),
        renameat2("renameat2.all-flags", b"f", b"x", 0xffff_ffff),
        renameat2("renameat2.noreplace-new", b"f", b"x", NOREPLACE),
        renameat2("renameat2.noreplace-existing", b"f", b"g", NOREPLACE).tree(g()),
        renameat2("renameat2.noreplace-dangling", b"f", b"dangling", NOREPLACE).check(b"newtarget"),
        renameat2("renameat2.noreplace-same", b"f", b"f", NOREPLACE),
        renameat2("renameat2.noreplace-dot", b"f", b".", NOREPLACE),
        renameat2("renameat2.noreplace-dir-slash", b"d", b"x/", NOREPLACE),
        renameat2("renameat2.noreplace-in-sticky", b"sticky/mine", b"sticky/other_file", NOREPLACE).tree(sticky()),
        renameat2("renameat2.exchange-files", b"f", b"g", EXCHANGE).tree(g()),
        renameat2("renameat2.exchange-file-dir", b"f", b"d", EXCHANGE).check(b"f/g"),
        renameat2("renameat2.exchange-missing", b"f", b"nope", EXCHANGE),
        renameat2("renameat2.exchange-same", b"f", b"f", EXCHANGE),
        renameat2("renameat2.exchange-hard-links", b"f", b"hl", EXCHANGE).tree(vec![hard(b"hl", b"f")]),
        renameat2("renameat2.exchange-symlink", b"ln_f", b"g", EXCHANGE).tree(g()),
        renameat2("renameat2.exchange-dangling", b"dangling", b"f", EXCHANGE),
        renameat2("renameat2.exchange-dir-subdir", b"d", b"d/sub", EXCHANGE),
        renameat2("renameat2.exchange-subdir-dir", b"d/sub", b"d", EXCHANGE),
        renameat2("renameat2.exchange-file-slash", b"f/", b"d", EXCHANGE),
        renameat2("renameat2.exchange-dir-slash-file", b"d/", b"f", EXCHANGE),
        renameat2("renameat2.exchange-dirs-slashes", b"d/", b"e/", EXCHANGE).tree(e()),
        renameat2("renameat2.exchange-dot", b".", b"d", EXCHANGE),
        renameat2("renameat2.exchange-noreplace", b"f", b"g", EXCHANGE | NOREPLACE).tree(g()),
        renameat2("renameat2.exchange-sticky", b"sticky/mine", b"sticky/other_file", EXCHANGE).tree(sticky()),
        renameat2("renameat2.exchange-ro", b"ro/f", b"f", EXCHANGE).tree(ro()),
        renameat2("renameat2.exchange-dirs-across-ro", b"ro", b"d/sub", EXCHANGE).tree(ro()),
        renameat2("renameat2.exchange-xdev", b"f", b"/proc/self/comm", EXCHANGE),
        renameat2("renameat2.exchange-tmpfs-mount-point", b"e", b"mnt", EXCHANGE)
            .tree(mnt())
            .tree(e())
            .pre(Pre::Tmpfs(b"mnt")),
        renameat2_at("renameat2.exchange-dirfds", d, b"g", cwd, b"f", EXCHANGE).pre(in_d()).check(b"d/g"),
        renameat2("renameat2.whiteout", b"f", b"x", WHITEOUT),
        renameat2("renameat2.whiteout-noreplace", b"f", b"x", WHITEOUT | NOREPLACE),
        renameat2("renameat2.whiteout-exchange", b"f", b"g", WHITEOUT | EXCHANGE).tree(g()),
        renameat2("renameat2.whiteout-dir", b"d/sub", b"x", WHITEOUT),
        renameat2("renameat2.whiteout-over-file", b"f", b"g", WHITEOUT).tree(g()),
        renameat2("renameat2.whiteout-in-ro", b"ro/f", b"x", WHITEOUT).tree(ro()),
        renameat2("renameat2.noreplace-non-utf8", b"caf\xe9", b"n\xff", NOREPLACE).tree(vec![file(b"caf\xe9", "c\n")]),
        renameat2("renameat2.exchange-name-256", b"f", &name(256), EXCHANGE),
        renameat2("renameat2.exchange-loop", b"loop/x", b"f", EXCHANGE).tree(loop_link()),
    ]
}
