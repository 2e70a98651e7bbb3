//! `open`, `openat` and `creat`: flags, modes under the umask, trailing slashes, `.`/`..`, symlinks, limits,
//! FIFOs, devices, O_PATH, O_TMPFILE, dirfds, permissions and the sticky-directory protections.

use super::{creat, open, openat, Dfd, Op, Pre};
use crate::tree::{chain, deep, deep_path, dir, file, file_as, link, other, ro, sgid, sticky, Who};
use libc::{
    O_APPEND, O_ASYNC, O_CLOEXEC, O_CREAT, O_DIRECT, O_DIRECTORY, O_DSYNC, O_EXCL, O_LARGEFILE, O_NOATIME, O_NOCTTY,
    O_NOFOLLOW, O_NONBLOCK, O_PATH, O_RDONLY, O_RDWR, O_SYNC, O_TMPFILE, O_TRUNC, O_WRONLY,
};

/// An open flag bit the kernel does not know.
pub const UNKNOWN_BIT: i32 = 0x4000_0000;
/// A name of 255 bytes (the longest) and one of 256.
pub fn name(len: usize) -> Vec<u8> {
    vec![b'n'; len]
}

/// The 4095-byte relative path with one more slash: 4096 bytes naming the same file.
pub fn path_4096() -> Vec<u8> {
    let mut p = deep_path(4095);
    let at = p.iter().position(|&b| b == b'/').expect("a slash");
    p.insert(at, b'/');
    p
}

pub fn ops() -> Vec<Op> {
    let d = Dfd::Pre(0);
    let cwd = Dfd::Cwd;
    let up = || vec![link(b"d/up", b".."), link(b"d/abs", b"/etc/hostname")];
    vec![
        // Access modes and flags on a regular file.
        open("open.rdonly", b"f", O_RDONLY, 0),
        open("open.wronly", b"f", O_WRONLY, 0),
        open("open.rdwr", b"f", O_RDWR, 0),
        open("open.accmode-3", b"f", 3, 0),
        open("open.cloexec", b"f", O_RDONLY | O_CLOEXEC, 0),
        open("open.append", b"f", O_WRONLY | O_APPEND, 0),
        open("open.nonblock", b"f", O_RDONLY | O_NONBLOCK, 0),
        open("open.sync", b"f", O_WRONLY | O_SYNC, 0),
        open("open.dsync", b"f", O_WRONLY | O_DSYNC, 0),
        open("open.direct", b"f", O_RDONLY | O_DIRECT, 0),
        open("open.async", b"f", O_RDONLY | O_ASYNC, 0),
        open("open.largefile", b"f", O_RDONLY | O_LARGEFILE, 0),
        open("open.unknown-bit", b"f", O_RDONLY | UNKNOWN_BIT, 0),
        open("open.sign-bit", b"f", O_RDONLY | i32::MIN, 0),
        open("open.rdonly-trunc", b"f", O_RDONLY | O_TRUNC, 0),
        open("open.wronly-trunc", b"f", O_WRONLY | O_TRUNC, 0),
        open("open.excl-without-creat", b"f", O_RDONLY | O_EXCL, 0),
        open("open.noatime-own", b"f", O_RDONLY | O_NOATIME, 0),
        open("open.noatime-other", b"other644", O_RDONLY | O_NOATIME, 0).tree(vec![file_as(
            b"other644",
            0o644,
            Who::Other,
            "other 644\n",
        )]),
        // O_CREAT and O_EXCL; modes under the umask.
        open("open.creat-existing", b"f", O_RDWR | O_CREAT, 0o600),
        open("open.creat-excl-existing", b"f", O_RDWR | O_CREAT | O_EXCL, 0o600),
        open("open.creat-new", b"new", O_WRONLY | O_CREAT, 0o666),
        open("open.creat-umask-0", b"new", O_WRONLY | O_CREAT, 0o666).umask(0),
        open("open.creat-umask-077", b"new", O_WRONLY | O_CREAT, 0o666).umask(0o077),
        open("open.creat-mode-7777", b"new", O_WRONLY | O_CREAT, 0o7777),
        open("open.creat-mode-0", b"new", O_RDWR | O_CREAT, 0),
        open("open.creat-rdonly", b"new", O_RDONLY | O_CREAT | O_EXCL, 0o644),
        open("open.creat-dir", b"d", O_RDONLY | O_CREAT, 0o644),
        open("open.creat-dir-slash", b"d/", O_RDONLY | O_CREAT, 0o644),
        open("open.creat-new-slash", b"x/", O_RDONLY | O_CREAT, 0o644).check(b"x"),
        open("open.creat-file-slash", b"f/", O_RDONLY | O_CREAT, 0o644),
        open("open.creat-dangling", b"dangling", O_WRONLY | O_CREAT, 0o640).check(b"newtarget"),
        open("open.creat-excl-dangling", b"dangling", O_WRONLY | O_CREAT | O_EXCL, 0o640).check(b"newtarget"),
        open("open.creat-nofollow-dangling", b"dangling", O_WRONLY | O_CREAT | O_NOFOLLOW, 0o640).check(b"newtarget"),
        open("open.creat-symlink", b"ln_f", O_WRONLY | O_CREAT, 0o600),
        open("open.creat-excl-symlink", b"ln_f", O_WRONLY | O_CREAT | O_EXCL, 0o600),
        open("open.creat-directory-new", b"x", O_RDONLY | O_CREAT | O_DIRECTORY, 0o755),
        open("open.creat-directory-dir", b"d", O_RDONLY | O_CREAT | O_DIRECTORY, 0o755),
        open("open.creat-in-ro", b"ro/new", O_WRONLY | O_CREAT, 0o644).tree(ro()),
        open("open.creat-missing-parent", b"nope/x", O_WRONLY | O_CREAT, 0o644),
        open("open.creat-file-parent", b"f/x", O_WRONLY | O_CREAT, 0o644),
        open("open.creat-non-utf8", b"caf\xe9", O_WRONLY | O_CREAT | O_EXCL, 0o644).check(b"caf\xef\xbf\xbd"),
        open("open.non-utf8", b"n\xff\xfe", O_RDONLY, 0).tree(vec![file(b"n\xff\xfe", "non-utf8 name\n")]),
        open("open.creat-name-255", &name(255), O_WRONLY | O_CREAT | O_EXCL, 0o644),
        open("open.name-256", &name(256), O_RDONLY, 0),
        open("open.creat-name-256", &name(256), O_WRONLY | O_CREAT, 0o644),
        open("open.path-4095", &deep_path(4095), O_RDONLY, 0).tree(deep(4095)),
        open("open.path-4096", &path_4096(), O_RDONLY, 0).tree(deep(4095)),
        open("open.abs-path", b"{cwd}/f", O_RDONLY, 0),
        // Directories, O_DIRECTORY, trailing slashes, `.` and `..`.
        open("open.dir", b"d", O_RDONLY, 0),
        open("open.dir-wronly", b"d", O_WRONLY, 0),
        open("open.dir-rdwr", b"d", O_RDWR, 0),
        open("open.directory-file", b"f", O_RDONLY | O_DIRECTORY, 0),
        open("open.directory-dir", b"d", O_RDONLY | O_DIRECTORY, 0),
        open("open.directory-symlink", b"ln_d", O_RDONLY | O_DIRECTORY, 0),
        open("open.directory-nofollow-symlink", b"ln_d", O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0),
        open("open.file-slash", b"f/", O_RDONLY, 0),
        open("open.dir-slash", b"d/", O_RDONLY, 0),
        open("open.dir-slashes", b"d//./", O_RDONLY, 0),
        open("open.symlink-file-slash", b"ln_f/", O_RDONLY, 0),
        open("open.symlink-dir-slash-nofollow", b"ln_d/", O_RDONLY | O_NOFOLLOW, 0),
        open("open.dangling-slash", b"dangling/", O_RDONLY, 0),
        open("open.empty", b"", O_RDONLY, 0),
        open("open.empty-creat", b"", O_WRONLY | O_CREAT, 0o644),
        open("open.dot", b".", O_RDONLY, 0),
        open("open.dot-wronly", b".", O_WRONLY, 0),
        open("open.dot-creat", b".", O_RDONLY | O_CREAT, 0o644),
        open("open.dotdot", b"..", O_RDONLY, 0),
        open("open.sub-dotdot", b"d/sub/..", O_RDONLY, 0),
        open("open.sub-dot", b"d/sub/.", O_RDONLY, 0),
        open("open.file-dotdot", b"f/..", O_RDONLY, 0),
        open("open.missing-dotdot", b"nope/../f", O_RDONLY, 0),
        open("open.dir-dotdot-file", b"d/../f", O_RDONLY, 0),
        open("open.root-dotdot", b"/../../etc/hostname", O_RDONLY, 0),
        open("open.root-dotdot-dir", b"/../..", O_RDONLY, 0),
        // Symlinks.
        open("open.symlink", b"ln_f", O_RDONLY, 0),
        open("open.symlink-nofollow", b"ln_f", O_RDONLY | O_NOFOLLOW, 0),
        open("open.nofollow-file", b"f", O_RDONLY | O_NOFOLLOW, 0),
        open("open.nofollow-inner-symlink", b"ln_d/g", O_RDONLY | O_NOFOLLOW, 0),
        open("open.dangling", b"dangling", O_RDONLY, 0),
        open("open.dangling-nofollow", b"dangling", O_RDONLY | O_NOFOLLOW, 0),
        open("open.loop", b"loop", O_RDONLY, 0).tree(vec![link(b"loop", b"loop")]),
        open("open.chain-40", b"chain/s1", O_RDONLY, 0).tree(chain()),
        open("open.chain-41", b"chain/s0", O_RDONLY, 0).tree(chain()),
        // FIFOs and devices.
        open("open.fifo-rdonly-nonblock", b"fifo", O_RDONLY | O_NONBLOCK, 0),
        open("open.fifo-wronly-nonblock", b"fifo", O_WRONLY | O_NONBLOCK, 0),
        open("open.fifo-rdwr", b"fifo", O_RDWR, 0),
        open("open.dev-null", b"/dev/null", O_RDWR, 0),
        open("open.dev-null-noctty", b"/dev/null", O_WRONLY | O_NOCTTY, 0),
        open("open.dev-ptmx-noctty", b"/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC, 0),
        open("open.dev-kmsg", b"/dev/kmsg", O_RDONLY | O_NONBLOCK, 0),
        open("open.dev-zero-creat", b"/dev/zero", O_RDONLY | O_CREAT, 0o644),
        open("open.dev-full", b"/dev/full", O_WRONLY, 0),
        // O_PATH.
        open("open.opath-file", b"f", O_PATH, 0),
        open("open.opath-dir", b"d", O_PATH, 0),
        open("open.opath-symlink", b"ln_f", O_PATH, 0),
        open("open.opath-nofollow-symlink", b"ln_f", O_PATH | O_NOFOLLOW, 0),
        open("open.opath-nofollow-dangling", b"dangling", O_PATH | O_NOFOLLOW, 0),
        open("open.opath-creat", b"new", O_PATH | O_CREAT, 0o644),
        open("open.opath-wronly-trunc", b"f", O_PATH | O_WRONLY | O_TRUNC, 0),
        open("open.opath-directory-file", b"f", O_PATH | O_DIRECTORY, 0),
        open("open.opath-fifo", b"fifo", O_PATH, 0),
        open("open.opath-cloexec-other600", b"other600", O_PATH | O_CLOEXEC, 0).tree(other()),
        // O_TMPFILE.
        open("open.tmpfile", b"d", O_TMPFILE | O_RDWR, 0o600),
        open("open.tmpfile-umask", b"d", O_TMPFILE | O_WRONLY, 0o777),
        open("open.tmpfile-excl", b"d", O_TMPFILE | O_RDWR | O_EXCL, 0o640),
        open("open.tmpfile-rdonly", b"d", O_TMPFILE | O_RDONLY, 0o600),
        open("open.tmpfile-on-file", b"f", O_TMPFILE | O_RDWR, 0o600),
        open("open.tmpfile-in-ro", b"ro", O_TMPFILE | O_RDWR, 0o600).tree(ro()),
        open("open.tmpfile-missing", b"nope", O_TMPFILE | O_RDWR, 0o600),
        // Permissions: another user's files, a non-writable directory, sticky and setgid directories.
        open("open.other600-rdonly", b"other600", O_RDONLY, 0).tree(other()),
        open("open.other600-wronly", b"other600", O_WRONLY, 0).tree(other()),
        open("open.other600-rdwr", b"other600", O_RDWR, 0).tree(other()),
        open("open.other-dir-file", b"other_d/f", O_RDONLY, 0).tree(other()),
        open("open.ro-file-rdwr", b"ro/f", O_RDWR, 0).tree(ro()),
        open("open.sticky-other-symlink", b"sticky/other_link", O_RDONLY, 0).tree(sticky()),
        open("open.sticky-own-symlink", b"sticky/mine_link", O_RDONLY, 0).tree(sticky()),
        open("open.sticky-other-file-creat", b"sticky/other_file", O_WRONLY | O_CREAT, 0o644).tree(sticky()),
        open("open.sticky-other-file", b"sticky/other_file", O_WRONLY, 0).tree(sticky()),
        open("open.sticky-other-fifo-creat", b"sticky/other_fifo", O_RDONLY | O_NONBLOCK | O_CREAT, 0o644)
            .tree(sticky()),
        open("open.sticky-other-fifo", b"sticky/other_fifo", O_RDONLY | O_NONBLOCK, 0).tree(sticky()),
        open("open.sticky-new", b"sticky/new", O_WRONLY | O_CREAT | O_EXCL, 0o644).tree(sticky()),
        open("open.sgid-creat", b"sgid/new", O_WRONLY | O_CREAT, 0o2755).tree(sgid()),
        // The lowest free number: fds 3, 4, 5 made, 4 closed.
        open("open.lowest-free-fd", b"f", O_RDONLY, 0)
            .pre(Pre::Memfd("a"))
            .pre(Pre::Memfd("b"))
            .pre(Pre::Memfd("c"))
            .pre(Pre::Close(1)),
        // openat: dirfds.
        openat("openat.cwd", cwd, b"f", O_RDONLY, 0),
        openat("openat.unknown-bit", cwd, b"f", O_RDONLY | UNKNOWN_BIT, 0),
        openat("openat.dirfd", d, b"g", O_RDONLY, 0).pre(Pre::Tree(b"d")),
        openat("openat.dirfd-dotdot", d, b"../f", O_RDONLY, 0).pre(Pre::Tree(b"d")),
        openat("openat.dirfd-sub-dotdot", d, b"sub/../g", O_RDONLY, 0).pre(Pre::Tree(b"d")),
        openat("openat.dirfd-dot", d, b".", O_RDONLY, 0).pre(Pre::Tree(b"d")),
        openat("openat.dirfd-dotdot-only", d, b"..", O_RDONLY, 0).pre(Pre::Tree(b"d")),
        openat("openat.dirfd-abs", d, b"{cwd}/f", O_RDONLY, 0).pre(Pre::Tree(b"d")),
        openat("openat.dirfd-empty", d, b"", O_RDONLY, 0).pre(Pre::Tree(b"d")),
        openat("openat.dirfd-file-slash", d, b"g/", O_RDONLY, 0).pre(Pre::Tree(b"d")),
        openat("openat.dirfd-creat", d, b"new", O_WRONLY | O_CREAT, 0o640).pre(Pre::Tree(b"d")),
        openat("openat.dirfd-symlink-up", d, b"up/f", O_RDONLY, 0).tree(up()).pre(Pre::Tree(b"d")),
        openat("openat.dirfd-symlink-abs", d, b"abs", O_RDONLY, 0).tree(up()).pre(Pre::Tree(b"d")),
        openat("openat.filefd-empty-rdwr", d, b"", O_RDWR, 0).pre(Pre::Tree(b"f")),
        openat("openat.filefd-relative", d, b"x", O_RDONLY, 0).pre(Pre::Tree(b"f")),
        openat("openat.filefd-abs", d, b"{cwd}/f", O_RDONLY, 0).pre(Pre::Tree(b"f")),
        openat("openat.badfd-relative", Dfd::Raw(9999), b"f", O_RDONLY, 0),
        openat("openat.badfd-abs", Dfd::Raw(9999), b"{cwd}/f", O_RDONLY, 0),
        openat("openat.negative-fd-relative", Dfd::Raw(-5), b"f", O_RDONLY, 0),
        openat("openat.badfd-empty", Dfd::Raw(9999), b"", O_RDONLY, 0),
        openat("openat.renamed-dirfd", d, b"g", O_RDONLY, 0)
            .pre(Pre::Tree(b"d"))
            .pre(Pre::Rename(b"d", b"d2"))
            .check(b"d")
            .check(b"d2"),
        openat("openat.renamed-dirfd-dotdot", d, b"../f", O_RDONLY, 0)
            .pre(Pre::Tree(b"d"))
            .pre(Pre::Rename(b"d", b"d2")),
        openat("openat.renamed-dirfd-creat", d, b"new", O_WRONLY | O_CREAT | O_EXCL, 0o600)
            .pre(Pre::Tree(b"d"))
            .pre(Pre::Rename(b"d", b"d2"))
            .check(b"d2/new")
            .check(b"d/new"),
        openat("openat.root-dirfd-dotdot", d, b"..", O_RDONLY, 0).pre(Pre::Tree(b"/")),
        openat("openat.excl-dangling", cwd, b"dangling", O_WRONLY | O_CREAT | O_EXCL, 0o644).check(b"newtarget"),
        openat("openat.opath-nofollow-symlink", cwd, b"ln_f", O_PATH | O_NOFOLLOW, 0),
        openat("openat.tmpfile-dirfd", d, b".", O_TMPFILE | O_RDWR, 0o666).pre(Pre::Tree(b"d")),
        // creat.
        creat("creat.new", b"new", 0o644),
        creat("creat.umask-0", b"new", 0o666).umask(0),
        creat("creat.umask-077", b"new", 0o666).umask(0o077),
        creat("creat.setuid", b"new", 0o4755),
        creat("creat.existing-truncates", b"f", 0o600),
        creat("creat.symlink-truncates", b"ln_f", 0o600).check(b"f"),
        creat("creat.dangling", b"dangling", 0o600).check(b"newtarget"),
        creat("creat.dir", b"d", 0o644),
        creat("creat.dot", b".", 0o644),
        creat("creat.dotdot", b"..", 0o644),
        creat("creat.sub-dot", b"d/sub/.", 0o644),
        creat("creat.new-slash", b"x/", 0o644).check(b"x"),
        creat("creat.empty", b"", 0o644),
        creat("creat.name-256", &name(256), 0o644),
        creat("creat.non-utf8", b"caf\xe9", 0o644).check(b"caf\xef\xbf\xbd"),
        creat("creat.in-ro", b"ro/new", 0o644).tree(ro()),
        creat("creat.other600", b"other600", 0o644).tree(other()),
        creat("creat.sticky-other-file", b"sticky/other_file", 0o644).tree(sticky()),
        creat("creat.sgid", b"sgid/new", 0o2755).tree(sgid()),
        creat("creat.proc-self-cwd", b"/proc/self/cwd/new", 0o644).check(b"new"),
        creat("creat.nested", b"d/sub/new", 0o644).tree(vec![dir(b"d/sub/x")]),
    ]
}
