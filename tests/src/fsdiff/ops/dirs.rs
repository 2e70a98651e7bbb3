//! `mkdir`, `mkdirat`, `unlink`, `unlinkat`, `rmdir`: modes under the umask, what exists already, trailing
//! slashes, `.` and `..` as the last component, dirfds, limits and permissions. Each line shows the return and then
//! the state of the path named (and of any other path the call might wrongly touch).

use super::open::{name, path_4096};
use super::rename::mnt;
use super::{mkdir, mkdirat, rmdir, unlink, unlinkat, Dfd, Op, Pre};
use crate::tree::{deep, deep_path, dir, file, link, other, ro, sgid, sticky};
use libc::AT_REMOVEDIR;

/// `e/`, an empty directory, and `ln_e → e`.
fn empty_dir_link() -> Vec<crate::tree::Node> {
    vec![dir(b"e"), link(b"ln_e", b"e")]
}

pub fn ops() -> Vec<Op> {
    let cwd = Dfd::Cwd;
    let d = Dfd::Pre(0);
    let in_d = || Pre::Tree(b"d");
    vec![
        // mkdir.
        mkdir("mkdir.new", b"new", 0o755),
        mkdir("mkdir.umask-0", b"new", 0o777).umask(0),
        mkdir("mkdir.umask-077", b"new", 0o777).umask(0o077),
        mkdir("mkdir.mode-7777", b"new", 0o7777),
        mkdir("mkdir.mode-1777", b"new", 0o1777).umask(0),
        mkdir("mkdir.mode-0", b"new", 0),
        mkdir("mkdir.trailing-slash", b"new/", 0o755).check(b"new"),
        mkdir("mkdir.trailing-slashes", b"new//", 0o755).check(b"new"),
        mkdir("mkdir.existing-dir", b"d", 0o755),
        mkdir("mkdir.existing-file", b"f", 0o755),
        mkdir("mkdir.existing-file-slash", b"f/", 0o755),
        mkdir("mkdir.dangling-symlink", b"dangling", 0o755).check(b"newtarget"),
        mkdir("mkdir.dangling-symlink-slash", b"dangling/", 0o755).check(b"newtarget"),
        mkdir("mkdir.symlink-dir", b"ln_d", 0o755),
        mkdir("mkdir.through-symlink", b"ln_d/new", 0o755).check(b"d/new"),
        mkdir("mkdir.dot", b".", 0o755),
        mkdir("mkdir.dotdot", b"..", 0o755),
        mkdir("mkdir.sub-dot", b"d/sub/.", 0o755),
        mkdir("mkdir.sub-dotdot", b"d/sub/..", 0o755),
        mkdir("mkdir.empty", b"", 0o755),
        mkdir("mkdir.root", b"/", 0o755),
        mkdir("mkdir.file-parent", b"f/x", 0o755),
        mkdir("mkdir.missing-parent", b"nope/x", 0o755),
        mkdir("mkdir.in-ro", b"ro/new", 0o755).tree(ro()),
        mkdir("mkdir.in-other-dir", b"other_d/new", 0o755).tree(other()),
        mkdir("mkdir.sgid", b"sgid/new", 0o755).tree(sgid()),
        mkdir("mkdir.sticky", b"sticky/new", 0o700).tree(sticky()),
        mkdir("mkdir.name-255", &name(255), 0o755),
        mkdir("mkdir.name-256", &name(256), 0o755),
        mkdir("mkdir.non-utf8", b"dir\xe9", 0o755).check(b"dir\xef\xbf\xbd"),
        mkdir("mkdir.path-4096", &[path_4096().as_slice(), b"x"].concat(), 0o755).tree(deep(4095)),
        mkdir("mkdir.proc-self-cwd", b"/proc/self/cwd/new", 0o755).check(b"new"),
        mkdir("mkdir.abs", b"{cwd}/new", 0o755).check(b"new"),
        // mkdirat.
        mkdirat("mkdirat.cwd", cwd, b"new", 0o750),
        mkdirat("mkdirat.dirfd", d, b"new", 0o750).pre(in_d()).check(b"d/new"),
        mkdirat("mkdirat.dirfd-dotdot", d, b"../new", 0o750).pre(in_d()).check(b"new"),
        mkdirat("mkdirat.dirfd-dot", d, b".", 0o750).pre(in_d()),
        mkdirat("mkdirat.dirfd-dotdot-last", d, b"..", 0o750).pre(in_d()),
        mkdirat("mkdirat.dirfd-empty", d, b"", 0o750).pre(in_d()),
        mkdirat("mkdirat.filefd", d, b"new", 0o750).pre(Pre::Tree(b"f")),
        mkdirat("mkdirat.badfd-relative", Dfd::Raw(9999), b"new", 0o750).check(b"new"),
        mkdirat("mkdirat.badfd-abs", Dfd::Raw(9999), b"{cwd}/new", 0o750).check(b"new"),
        mkdirat("mkdirat.renamed-dirfd", d, b"new", 0o750)
            .pre(in_d())
            .pre(Pre::Rename(b"d", b"d2"))
            .check(b"d2/new")
            .check(b"d/new"),
        mkdirat("mkdirat.dirfd-symlink-up", d, b"up/new", 0o750)
            .tree(vec![link(b"d/up", b"..")])
            .pre(in_d())
            .check(b"new"),
        mkdirat("mkdirat.umask-077", cwd, b"new", 0o777).umask(0o077),
        mkdirat("mkdirat.trailing-slash", cwd, b"new/", 0o755).check(b"new"),
        mkdirat("mkdirat.sub-dotdot", cwd, b"d/sub/..", 0o755),
        // unlink.
        unlink("unlink.file", b"f"),
        unlink("unlink.file-slash", b"f/"),
        unlink("unlink.dir", b"d/sub"),
        unlink("unlink.symlink", b"ln_f").check(b"f"),
        unlink("unlink.symlink-dir-slash", b"ln_d/").check(b"d"),
        unlink("unlink.symlink-file-slash", b"ln_f/").check(b"f"),
        unlink("unlink.dangling", b"dangling"),
        unlink("unlink.fifo", b"fifo"),
        unlink("unlink.missing", b"nope"),
        unlink("unlink.empty", b""),
        unlink("unlink.dot", b"."),
        unlink("unlink.dotdot", b".."),
        unlink("unlink.sub-dot", b"d/sub/.").check(b"d/sub"),
        unlink("unlink.sub-dotdot", b"d/sub/..").check(b"d"),
        unlink("unlink.file-parent", b"f/x"),
        unlink("unlink.through-symlink", b"ln_d/g").check(b"d/g"),
        unlink("unlink.non-utf8", b"caf\xe9").tree(vec![file(b"caf\xe9", "caf\n")]),
        unlink("unlink.name-256", &name(256)),
        unlink("unlink.path-4095", &deep_path(4095)).tree(deep(4095)),
        unlink("unlink.path-4096", &path_4096()).tree(deep(4095)).check(&deep_path(4095)),
        unlink("unlink.in-ro", b"ro/f").tree(ro()),
        unlink("unlink.other600", b"other600").tree(other()),
        unlink("unlink.sticky-other-file", b"sticky/other_file").tree(sticky()),
        unlink("unlink.sticky-own-file", b"sticky/mine").tree(sticky()),
        unlink("unlink.proc-self-cwd", b"/proc/self/cwd/f").check(b"f"),
        // unlinkat.
        unlinkat("unlinkat.file", cwd, b"f", 0),
        unlinkat("unlinkat.file-removedir", cwd, b"f", AT_REMOVEDIR),
        unlinkat("unlinkat.dir-no-flag", cwd, b"d/sub", 0),
        unlinkat("unlinkat.empty-dir", cwd, b"d/sub", AT_REMOVEDIR),
        unlinkat("unlinkat.non-empty-dir", cwd, b"d", AT_REMOVEDIR),
        unlinkat("unlinkat.bad-flags", cwd, b"f", 0x1),
        unlinkat("unlinkat.empty-path-flag", cwd, b"f", libc::AT_EMPTY_PATH),
        unlinkat("unlinkat.sub-dot", cwd, b"d/sub/.", AT_REMOVEDIR).check(b"d/sub"),
        unlinkat("unlinkat.sub-dotdot", cwd, b"d/sub/..", AT_REMOVEDIR).check(b"d"),
        unlinkat("unlinkat.dot", cwd, b".", AT_REMOVEDIR),
        unlinkat("unlinkat.dotdot", cwd, b"..", AT_REMOVEDIR),
        unlinkat("unlinkat.dot-no-flag", cwd, b".", 0),
        unlinkat("unlinkat.dirfd-dot", d, b".", AT_REMOVEDIR).pre(in_d()).check(b"d"),
        unlinkat("unlinkat.dirfd-dotdot-last", d, b"..", AT_REMOVEDIR).pre(in_d()),
        unlinkat("unlinkat.dir-slash", cwd, b"d/sub/", AT_REMOVEDIR),
        unlinkat("unlinkat.symlink-empty-dir-slash", cwd, b"ln_e/", AT_REMOVEDIR).tree(empty_dir_link()).check(b"e"),
        unlinkat("unlinkat.dirfd", d, b"g", 0).pre(in_d()),
        unlinkat("unlinkat.dirfd-dotdot", d, b"../f", 0).pre(in_d()),
        unlinkat("unlinkat.dirfd-empty", d, b"", 0).pre(in_d()).check(b"d"),
        unlinkat("unlinkat.dirfd-empty-removedir", d, b"", AT_REMOVEDIR).pre(in_d()).check(b"d"),
        unlinkat("unlinkat.filefd-empty", d, b"", 0).pre(Pre::Tree(b"f")).check(b"f"),
        unlinkat("unlinkat.filefd-relative", d, b"x", 0).pre(Pre::Tree(b"f")),
        unlinkat("unlinkat.badfd-relative", Dfd::Raw(9999), b"f", 0).check(b"f"),
        unlinkat("unlinkat.badfd-abs", Dfd::Raw(9999), b"{cwd}/f", 0).check(b"f"),
        unlinkat("unlinkat.renamed-dirfd", d, b"g", 0).pre(in_d()).pre(Pre::Rename(b"d", b"d2")).check(b"d2/g"),
        unlinkat("unlinkat.dirfd-symlink-up", d, b"up/f", 0).tree(vec![link(b"d/up", b"..")]).pre(in_d()).check(b"f"),
        unlinkat("unlinkat.sticky-other-dir", cwd, b"sticky/other_dir", AT_REMOVEDIR).tree(sticky()),
        // rmdir.
        rmdir("rmdir.empty-dir", b"d/sub"),
        rmdir("rmdir.non-empty", b"d"),
        rmdir("rmdir.file", b"f"),
        rmdir("rmdir.missing", b"nope"),
        rmdir("rmdir.empty", b""),
        rmdir("rmdir.trailing-slash", b"d/sub/"),
        rmdir("rmdir.sub-dot", b"d/sub/.").check(b"d/sub"),
        rmdir("rmdir.sub-dotdot", b"d/sub/..").check(b"d").check(b"d/sub"),
        rmdir("rmdir.dot", b"."),
        rmdir("rmdir.dotdot", b".."),
        rmdir("rmdir.symlink-dir", b"ln_d").check(b"d"),
        rmdir("rmdir.symlink-dir-slash", b"ln_d/").check(b"d"),
        rmdir("rmdir.symlink-empty-dir-slash", b"ln_e/").tree(empty_dir_link()).check(b"e"),
        rmdir("rmdir.through-symlink", b"ln_d/sub").check(b"d/sub"),
        rmdir("rmdir.root", b"/"),
        rmdir("rmdir.mountpoint", b"/proc"),
        rmdir("rmdir.root-dotdot", b"/../.."),
        rmdir("rmdir.in-ro", b"ro/sub").tree(ro()),
        rmdir("rmdir.sticky-other-dir", b"sticky/other_dir").tree(sticky()),
        rmdir("rmdir.non-utf8", b"dir\xe9").tree(vec![dir(b"dir\xe9")]),
        rmdir("rmdir.name-256", &name(256)),
        rmdir("rmdir.proc-self-cwd", b"/proc/self/cwd/d/sub").check(b"d/sub"),
        rmdir("rmdir.abs", b"{cwd}/d/sub"),
        rmdir("rmdir.tmpfs-mount-point", b"mnt").tree(mnt()).pre(Pre::Tmpfs(b"mnt")),
        unlinkat("unlinkat.tmpfs-mount-point", cwd, b"mnt", AT_REMOVEDIR).tree(mnt()).pre(Pre::Tmpfs(b"mnt")),
    ]
}
