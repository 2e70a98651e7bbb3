//! `openat2`: the checks of `struct open_how` (unknown bits, a mode without O_CREAT, O_PATH's allowed flags, the
//! size) and every RESOLVE_* flag, on cases that succeed and on cases that fail with their own errno.

use super::{openat2, openat2_sized, Dfd, Fp, Op, Pre};
use crate::tree::link;
use libc::{
    O_CLOEXEC, O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_PATH, O_RDONLY, O_RDWR, O_TMPFILE, O_TRUNC, O_WRONLY,
};

const NO_XDEV: u64 = 0x01;
const NO_MAGICLINKS: u64 = 0x02;
const NO_SYMLINKS: u64 = 0x04;
const BENEATH: u64 = 0x08;
const IN_ROOT: u64 = 0x10;
const CACHED: u64 = 0x20;

fn f(flags: i32) -> u64 {
    flags as u64
}

pub fn ops() -> Vec<Op> {
    let cwd = Dfd::Cwd;
    let d = Dfd::Pre(0);
    let in_d = || Pre::Tree(b"d");
    // d/up → .., d/abs → /etc/hostname, d/abs_g → /g, d/rel → g.
    let links =
        || vec![link(b"d/up", b".."), link(b"d/abs", b"/etc/hostname"), link(b"d/abs_g", b"/g"), link(b"d/rel", b"g")];
    let ro = f(O_RDONLY);
    vec![
        // struct open_how.
        openat2("openat2.rdonly", cwd, b"f", ro, 0, 0),
        openat2("openat2.cloexec", cwd, b"f", f(O_RDWR | O_CLOEXEC), 0, 0),
        openat2("openat2.unknown-bit", cwd, b"f", f(O_RDONLY | super::open::UNKNOWN_BIT), 0, 0),
        openat2("openat2.high-bit", cwd, b"f", 1 << 40, 0, 0),
        openat2("openat2.mode-without-creat", cwd, b"f", ro, 0o644, 0),
        openat2("openat2.creat-mode", cwd, b"new", f(O_WRONLY | O_CREAT), 0o640, 0),
        openat2("openat2.creat-mode-umask-0", cwd, b"new", f(O_WRONLY | O_CREAT), 0o666, 0).umask(0),
        openat2("openat2.creat-mode-too-big", cwd, b"new", f(O_WRONLY | O_CREAT), 0o10000, 0),
        openat2("openat2.creat-excl-dangling", cwd, b"dangling", f(O_WRONLY | O_CREAT | O_EXCL), 0o600, 0)
            .check(b"newtarget"),
        openat2("openat2.tmpfile", cwd, b"d", f(O_TMPFILE | O_RDWR), 0o600, 0),
        openat2("openat2.tmpfile-without-mode", cwd, b"d", f(O_TMPFILE | O_RDWR), 0, 0),
        openat2("openat2.opath-creat", cwd, b"f", f(O_PATH | O_CREAT), 0, 0),
        openat2("openat2.opath-rdwr", cwd, b"f", f(O_PATH | O_RDWR), 0, 0),
        openat2("openat2.opath-nofollow", cwd, b"ln_f", f(O_PATH | O_NOFOLLOW), 0, 0),
        openat2("openat2.opath-directory", cwd, b"d", f(O_PATH | O_DIRECTORY | O_CLOEXEC), 0, 0),
        openat2("openat2.empty", cwd, b"", ro, 0, 0),
        openat2("openat2.file-slash", cwd, b"f/", ro, 0, 0),
        openat2("openat2.symlink-dir-slash-nofollow", cwd, b"ln_d/", f(O_RDONLY | O_NOFOLLOW), 0, 0),
        openat2("openat2.sub-dotdot", cwd, b"d/sub/..", ro, 0, 0),
        openat2("openat2.dot", cwd, b".", ro, 0, 0),
        openat2("openat2.dotdot", cwd, b"..", ro, 0, 0),
        openat2("openat2.dot-creat", cwd, b".", f(O_RDONLY | O_CREAT), 0o644, 0),
        openat2("openat2.filefd-relative", d, b"x", ro, 0, 0).pre(Pre::Tree(b"f")),
        openat2("openat2.filefd-empty", d, b"", f(O_RDWR), 0, 0).pre(Pre::Tree(b"f")),
        openat2("openat2.badfd-relative", Dfd::Raw(9999), b"f", ro, 0, 0),
        openat2("openat2.badfd-abs", Dfd::Raw(9999), b"{cwd}/f", ro, 0, 0),
        // The size argument.
        openat2_sized("openat2.size-0", cwd, b"f", [ro, 0, 0, 0, 0, 0, 0, 0], 0),
        openat2_sized("openat2.size-16", cwd, b"f", [ro, 0, 0, 0, 0, 0, 0, 0], 16),
        openat2_sized("openat2.size-23", cwd, b"f", [ro, 0, 0, 0, 0, 0, 0, 0], 23),
        openat2_sized("openat2.size-32-zero-tail", cwd, b"f", [ro, 0, 0, 0, 0, 0, 0, 0], 32),
        openat2_sized("openat2.size-32-nonzero-tail", cwd, b"f", [ro, 0, 0, 1, 0, 0, 0, 0], 32),
        openat2_sized("openat2.size-64-zero-tail", cwd, b"f", [ro, 0, 0, 0, 0, 0, 0, 0], 64),
        openat2_sized("openat2.size-page-plus-1", cwd, b"f", [ro, 0, 0, 0, 0, 0, 0, 0], 4097),
        // resolve: unknown and conflicting flags.
        openat2("openat2.resolve-unknown", cwd, b"f", ro, 0, 0x40),
        openat2("openat2.resolve-beneath-in-root", d, b"g", ro, 0, BENEATH | IN_ROOT).pre(in_d()),
        // RESOLVE_NO_XDEV.
        openat2("openat2.no-xdev", cwd, b"d/g", ro, 0, NO_XDEV),
        openat2("openat2.no-xdev-into-proc", cwd, b"/proc/self/status", ro, 0, NO_XDEV),
        openat2("openat2.no-xdev-mountpoint", cwd, b"/proc", ro, 0, NO_XDEV),
        openat2("openat2.no-xdev-abs-same-fs", cwd, b"{cwd}/f", ro, 0, NO_XDEV),
        // RESOLVE_NO_MAGICLINKS.
        openat2("openat2.no-magiclinks", cwd, b"ln_f", ro, 0, NO_MAGICLINKS),
        openat2("openat2.no-magiclinks-proc-self", cwd, b"/proc/self/status", ro, 0, NO_MAGICLINKS).fp(Fp::Status),
        openat2("openat2.no-magiclinks-cwd", cwd, b"/proc/self/cwd/f", ro, 0, NO_MAGICLINKS),
        openat2("openat2.no-magiclinks-fd", cwd, b"/proc/self/fd/{0}", ro, 0, NO_MAGICLINKS).pre(Pre::Memfd("memfd\n")),
        openat2(
            "openat2.no-magiclinks-opath-nofollow",
            cwd,
            b"/proc/self/cwd",
            f(O_PATH | O_NOFOLLOW),
            0,
            NO_MAGICLINKS,
        )
        .fp(Fp::None),
        // RESOLVE_NO_SYMLINKS.
        openat2("openat2.no-symlinks", cwd, b"d/g", ro, 0, NO_SYMLINKS),
        openat2("openat2.no-symlinks-last", cwd, b"ln_f", ro, 0, NO_SYMLINKS),
        openat2("openat2.no-symlinks-inner", cwd, b"ln_d/g", ro, 0, NO_SYMLINKS),
        openat2("openat2.no-symlinks-proc-self", cwd, b"/proc/self/status", ro, 0, NO_SYMLINKS),
        openat2("openat2.no-symlinks-opath-nofollow", cwd, b"ln_f", f(O_PATH | O_NOFOLLOW), 0, NO_SYMLINKS),
        openat2("openat2.no-symlinks-creat-dangling", cwd, b"dangling", f(O_WRONLY | O_CREAT), 0o644, NO_SYMLINKS)
            .check(b"newtarget"),
        // RESOLVE_BENEATH (dirfd: d).
        openat2("openat2.beneath", d, b"g", ro, 0, BENEATH).pre(in_d()),
        openat2("openat2.beneath-dotdot-inside", d, b"sub/../g", ro, 0, BENEATH).pre(in_d()),
        openat2("openat2.beneath-dotdot-out", d, b"../f", ro, 0, BENEATH).pre(in_d()),
        openat2("openat2.beneath-abs", d, b"/etc/hostname", ro, 0, BENEATH).pre(in_d()),
        openat2("openat2.beneath-symlink-inside", d, b"rel", ro, 0, BENEATH).tree(links()).pre(in_d()),
        openat2("openat2.beneath-symlink-up", d, b"up/f", ro, 0, BENEATH).tree(links()).pre(in_d()),
        openat2("openat2.beneath-symlink-abs", d, b"abs", ro, 0, BENEATH).tree(links()).pre(in_d()),
        openat2("openat2.beneath-cwd", cwd, b"d/../f", ro, 0, BENEATH),
        openat2("openat2.beneath-creat", d, b"new", f(O_WRONLY | O_CREAT), 0o600, BENEATH).pre(in_d()),
        // RESOLVE_IN_ROOT (dirfd: d).
        openat2("openat2.in-root", d, b"g", ro, 0, IN_ROOT).pre(in_d()),
        openat2("openat2.in-root-abs", d, b"/g", ro, 0, IN_ROOT).pre(in_d()),
        openat2("openat2.in-root-dotdot", d, b"../../g", ro, 0, IN_ROOT).pre(in_d()),
        openat2("openat2.in-root-symlink-abs", d, b"abs_g", ro, 0, IN_ROOT).tree(links()).pre(in_d()),
        openat2("openat2.in-root-symlink-up", d, b"up/g", ro, 0, IN_ROOT).tree(links()).pre(in_d()),
        openat2("openat2.in-root-outside-name", d, b"/etc/hostname", ro, 0, IN_ROOT).pre(in_d()),
        openat2("openat2.in-root-dir", d, b"/..", ro, 0, IN_ROOT).pre(in_d()),
        // RESOLVE_CACHED.
        openat2("openat2.cached", cwd, b"f", ro, 0, CACHED),
        openat2("openat2.cached-creat", cwd, b"new", f(O_WRONLY | O_CREAT), 0o644, CACHED),
        openat2("openat2.cached-trunc", cwd, b"f", f(O_WRONLY | O_TRUNC), 0, CACHED),
        openat2("openat2.cached-tmpfile", cwd, b"d", f(O_TMPFILE | O_RDWR), 0o600, CACHED),
    ]
}
