//! `policies/paths-protect-etc.json`: writes under /etc fail with EROFS. The tests never touch the real /etc: they
//! load a copy of the policy whose /etc globs are moved under a temporary directory `D` (`D/etc/**`), and attack
//! `D/etc`, which holds a file `f`, a directory `sub`, and a symlink `ln` to `f`. Outside it, `D/out` holds a file
//! `x`, a symlink `ln` to `D/etc/f` and a directory `m`.

use std::path::Path;

use super::{
    assert_all_held, assert_gaps, attack, cmd, helper, make, policy_with_etc_under, py, snapshot, temp, under_policy,
    Attack, Table, KILLED,
};
use crate::support::{is_root, needs_root, run, write_policy};

/// Python set-up for the attacks: fds of `D/etc` and `D/etc/f`, buffers for the raw calls.
const SETUP: &str = r#"
E = D + '/etc'
O = os
rfd = os.open(E + '/f', os.O_RDONLY)
pfd = os.open(E, os.O_PATH)
fpfd = os.open(E + '/f', os.O_PATH)
dfd = os.open(D, os.O_RDONLY)
how_w = (ctypes.c_uint64 * 3)(os.O_WRONLY, 0, 0)
how_r = (ctypes.c_uint64 * 3)(os.O_RDONLY, 0, 0)
params = (ctypes.c_uint32 * 30)()
fh = ctypes.create_string_buffer(8 + 128)
ctypes.c_uint32.from_buffer(fh).value = 128
mount_id = ctypes.c_int()
raw(303, -100, E + '/f', fh, ctypes.byref(mount_id), 0)  # name_to_handle_at: a handle to reopen by
xval = ctypes.c_char_p(b'v')
xargs = (ctypes.c_uint64 * 2)(ctypes.cast(xval, ctypes.c_void_p).value, 1)  # struct xattr_args
fattr = (ctypes.c_uint32 * 6)(0x80, 0, 0, 0, 0, 0)  # struct file_attr: FS_XFLAG_NODUMP
"#;

fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
    let (dir, root) = temp();
    make(&root, "etc/f", "orig\n");
    make(&root, "etc/sub/", "");
    make(&root, "out/x", "outside\n");
    make(&root, "out/m/", "");
    std::os::unix::fs::symlink("f", root.join("etc/ln")).unwrap();
    std::os::unix::fs::symlink(root.join("etc/f"), root.join("out/ln")).unwrap();
    (dir, root)
}

fn table<'a>(root: &'a Path, policy: &Path, watch: &'a Path) -> Table<'a> {
    Table { prefix: under_policy(policy), dir: root, setup: SETUP, watch: Some(watch), vars: Vec::new() }
}

/// Every way a program could write under /etc that the comment says is stopped.
fn attacks() -> Vec<Attack> {
    let mut list = vec![
        // Opens that can modify a file.
        py("open O_WRONLY", "raw(2, E + '/f', O.O_WRONLY)", "EROFS"),
        py("open O_RDWR", "raw(2, E + '/f', O.O_RDWR)", "EROFS"),
        py("open O_WRONLY|O_APPEND", "raw(2, E + '/f', O.O_WRONLY | O.O_APPEND)", "EROFS"),
        py("openat O_WRONLY", "os.open(E + '/f', O.O_WRONLY)", "EROFS"),
        py("openat O_RDWR", "os.open(E + '/f', O.O_RDWR)", "EROFS"),
        py("open O_RDONLY|O_TRUNC", "raw(2, E + '/f', O.O_RDONLY | O.O_TRUNC)", "EROFS"),
        py("openat O_RDONLY|O_TRUNC", "os.open(E + '/f', O.O_RDONLY | O.O_TRUNC)", "EROFS"),
        py("openat O_RDONLY|O_CREAT new", "os.open(E + '/new', O.O_RDONLY | O.O_CREAT, 0o644)", "EROFS"),
        py("open O_RDONLY|O_CREAT new", "raw(2, E + '/new', O.O_RDONLY | O.O_CREAT, 0o644)", "EROFS"),
        py("O_WRONLY|O_CREAT|O_EXCL new", "os.open(E + '/new', O.O_WRONLY | O.O_CREAT | O.O_EXCL, 0o644)", "EROFS"),
        py("O_TMPFILE in /etc", "os.open(E, O.O_WRONLY | O.O_TMPFILE, 0o600)", "EROFS"),
        py("open O_ACCMODE (3)", "raw(2, E + '/f', 3)", "EROFS"),
        py("open flags with high bits", "raw(2, E + '/f', O.O_WRONLY | (1 << 32))", "EROFS"),
        py("creat existing", "raw(85, E + '/f', 0o644)", "EROFS"),
        py("creat new", "raw(85, E + '/new', 0o644)", "EROFS"),
        // Refused outright in BPF.
        py("openat2 O_WRONLY", "raw(437, -100, E + '/f', how_w, 24)", "ENOSYS"),
        py("openat2 O_RDONLY", "raw(437, -100, E + '/f', how_r, 24)", "ENOSYS"),
        py("io_uring_setup", "raw(425, 4, params)", "ENOSYS"),
        py("open_by_handle_at O_WRONLY", "raw(304, dfd, fh, O.O_WRONLY)", "ENOSYS"),
        // Other names for the same file.
        py("symlink outside into /etc", "os.open(D + '/out/ln', O.O_WRONLY)", "EROFS"),
        py("symlink inside /etc", "os.open(E + '/ln', O.O_WRONLY | O.O_TRUNC)", "EROFS"),
        py("..", "os.open(D + '/out/../etc/f', O.O_WRONLY)", "EROFS"),
        py("// and /./", "os.open(D + '//out/..//./etc/./f', O.O_WRONLY)", "EROFS"),
        py("relative after chdir", "at_cwd(E, lambda: os.open('f', O.O_WRONLY))", "EROFS"),
        py("relative ../etc from out", "at_cwd(D + '/out', lambda: os.open('../etc/f', O.O_RDWR))", "EROFS"),
        py("/proc/self/cwd/f", "at_cwd(E, lambda: os.open('/proc/self/cwd/f', O.O_WRONLY))", "EROFS"),
        py("/proc/thread-self/cwd/f", "at_cwd(E, lambda: os.open('/proc/thread-self/cwd/f', O.O_WRONLY))", "EROFS"),
        py("/proc/self/root/...", "os.open('/proc/self/root' + E + '/f', O.O_WRONLY)", "EROFS"),
        py("reopen O_RDONLY fd via /proc/self/fd", "os.open('/proc/self/fd/%d' % rfd, O.O_WRONLY)", "EROFS"),
        py("reopen O_RDONLY fd via /dev/fd", "os.open('/dev/fd/%d' % rfd, O.O_RDWR)", "EROFS"),
        py("reopen O_PATH fd via /proc/self/fd", "os.open('/proc/self/fd/%d' % fpfd, O.O_WRONLY)", "EROFS"),
        py("O_PATH dirfd + openat", "os.open('f', O.O_WRONLY, dir_fd=pfd)", "EROFS"),
        py("O_PATH dirfd + openat O_CREAT", "os.open('new', O.O_WRONLY | O.O_CREAT, 0o644, dir_fd=pfd)", "EROFS"),
        py("dirfd of D + etc/f", "os.open('etc/f', O.O_WRONLY, dir_fd=dfd)", "EROFS"),
        // Hard links out of /etc (a writable second name).
        py("link", "raw(86, E + '/f', D + '/out/hl')", "EROFS"),
        py("linkat", "os.link(E + '/f', D + '/out/hl')", "EROFS"),
        py("linkat AT_EMPTY_PATH", "raw(265, rfd, '', -100, D + '/out/hl', 0x1000)", "EROFS"),
        py(
            "linkat /proc/self/fd AT_SYMLINK_FOLLOW",
            "raw(265, -100, '/proc/self/fd/%d' % rfd, -100, D + '/out/hl', 0x400)",
            "EROFS",
        ),
        // Renames into and out of /etc.
        py("rename into", "raw(82, D + '/out/x', E + '/x')", "EROFS"),
        py("rename over a file", "raw(82, D + '/out/x', E + '/f')", "EROFS"),
        py("rename out of", "raw(82, E + '/f', D + '/out/f')", "EROFS"),
        py("renameat into", "os.rename(D + '/out/x', E + '/x')", "EROFS"),
        py("renameat out of", "os.rename(E + '/f', D + '/out/f')", "EROFS"),
        py("renameat2 NOREPLACE into", "raw(316, -100, D + '/out/x', -100, E + '/x', 1)", "EROFS"),
        py("renameat2 out of", "raw(316, -100, E + '/f', -100, D + '/out/f', 0)", "EROFS"),
        py("renameat2 EXCHANGE", "raw(316, -100, D + '/out/x', -100, E + '/f', 2)", "EROFS"),
        py("renameat2 WHITEOUT", "raw(316, -100, E + '/f', -100, D + '/out/f', 4)", "EROFS"),
        py("rename /etc itself", "os.rename(E, D + '/etc2')", "EROFS"),
        // Names inside /etc.
        py("mkdir", "raw(83, E + '/d', 0o755)", "EROFS"),
        py("mkdirat", "os.mkdir(E + '/d')", "EROFS"),
        py("rmdir", "raw(84, E + '/sub')", "EROFS"),
        py("unlinkat AT_REMOVEDIR", "os.rmdir(E + '/sub')", "EROFS"),
        py("unlink", "raw(87, E + '/f')", "EROFS"),
        py("unlinkat", "os.unlink(E + '/f')", "EROFS"),
        py("unlinkat via O_PATH dirfd", "os.unlink('f', dir_fd=pfd)", "EROFS"),
        py("symlink", "raw(88, 'x', E + '/sl')", "EROFS"),
        py("symlinkat", "os.symlink('x', E + '/sl')", "EROFS"),
        py("mknod", "raw(133, E + '/fifo', 0o010600, 0)", "EROFS"),
        py("mknodat", "os.mknod(E + '/fifo', 0o010600)", "EROFS"),
        // Metadata by path.
        py("chmod", "raw(90, E + '/f', 0o777)", "EROFS"),
        py("fchmodat", "os.chmod(E + '/f', 0o777)", "EROFS"),
        py("fchmodat2 AT_EMPTY_PATH on an fd", "raw(452, rfd, '', 0o777, 0x1000)", "EROFS"),
        py("chmod /etc itself", "os.chmod(E, 0o777)", "EROFS"),
        py("chown", "raw(92, E + '/f', os.getuid(), os.getgid())", "EROFS"),
        py("lchown", "raw(94, E + '/ln', os.getuid(), os.getgid())", "EROFS"),
        py("fchownat", "os.chown(E + '/f', os.getuid(), os.getgid())", "EROFS"),
        py("fchownat AT_EMPTY_PATH on an fd", "raw(260, rfd, '', os.getuid(), os.getgid(), 0x1000)", "EROFS"),
        py("truncate", "os.truncate(E + '/f', 0)", "EROFS"),
        py("truncate through a symlink", "os.truncate(D + '/out/ln', 0)", "EROFS"),
        py("utime", "raw(132, E + '/f', 0)", "EROFS"),
        py("utimes", "raw(235, E + '/f', 0)", "EROFS"),
        py("futimesat", "raw(261, -100, E + '/f', 0)", "EROFS"),
        // The kernel would set the fd's times; supervise's table has no null path for futimesat, so EFAULT.
        py("futimesat NULL path on an fd", "raw(261, rfd, 0, 0)", "EROFS|EFAULT"),
        py("utimensat", "os.utime(E + '/f', (0, 0))", "EROFS"),
        py("utimensat NULL path (futimens)", "os.utime(rfd, (0, 0))", "EROFS"),
        py("utimensat AT_EMPTY_PATH", "raw(280, rfd, '', 0, 0x1000)", "EROFS"),
        py("setxattr", "os.setxattr(E + '/f', 'user.k', b'v')", "EROFS"),
        py("lsetxattr", "raw(189, E + '/ln', 'trusted.k', 'v', 1, 0)", "EROFS"),
        py("removexattr", "raw(197, E + '/f', 'user.k')", "EROFS"),
        py("lremovexattr", "raw(198, E + '/ln', 'user.k')", "EROFS"),
        // Writes through a read-only fd stay the kernel's business: it refuses them.
        py("mmap MAP_SHARED write of a read-only fd", "mmap.mmap(rfd, 0, access=mmap.ACCESS_WRITE)", "EACCES"),
        py("write to a read-only fd", "os.write(rfd, b'x')", "EBADF"),
        // What must keep working.
        py("control: read-only open reads", "expect(open(E + '/f').read(), 'orig\\n')", "ok"),
        py("control: read through /proc/self/fd", "expect(open('/proc/self/fd/%d' % rfd).read(), 'orig\\n')", "ok"),
        py("control: write outside /etc", "os.close(os.open(D + '/out/new', O.O_WRONLY | O.O_CREAT, 0o644))", "ok"),
        // Other entry points: the policy lists no architectures, so i386 and x32 calls kill the program.
        helper("int 0x80 open O_WRONLY", &["int80", "5", "s:{D}/etc/f", "1"], KILLED),
        helper("int 0x80 openat O_WRONLY", &["int80", "295", "-100", "s:{D}/etc/f", "1"], KILLED),
        helper("int 0x80 creat", &["int80", "8", "s:{D}/etc/new", "420"], KILLED),
        helper("int 0x80 link", &["int80", "9", "s:{D}/etc/f", "s:{D}/out/hl"], KILLED),
        helper("int 0x80 unlink", &["int80", "10", "s:{D}/etc/f"], KILLED),
        helper("int 0x80 chmod", &["int80", "15", "s:{D}/etc/f", "511"], KILLED),
        helper("int 0x80 rename", &["int80", "38", "s:{D}/etc/f", "s:{D}/out/f"], KILLED),
        helper("int 0x80 truncate64", &["int80", "193", "s:{D}/etc/f", "0", "0"], KILLED),
        helper("int 0x80 chown32", &["int80", "212", "s:{D}/etc/f", "0", "0"], KILLED),
        helper("x32 open O_WRONLY", &["x32", "2", "s:{D}/etc/f", "1"], KILLED),
        helper("x32 openat O_WRONLY", &["x32", "257", "-100", "s:{D}/etc/f", "1"], KILLED),
        helper("x32 unlink", &["x32", "87", "s:{D}/etc/f"], KILLED),
        helper("x32 rename", &["x32", "82", "s:{D}/etc/f", "s:{D}/out/f"], KILLED),
        // io_uring cannot be set up.
        helper("io_uring openat O_WRONLY", &["uring-openat", "{D}/etc/f", "1"], "ENOSYS"),
        helper("io_uring unlinkat", &["uring-unlinkat", "{D}/etc/f", "0"], "ENOSYS"),
        helper("io_uring renameat", &["uring-renameat", "{D}/etc/f", "{D}/out/f"], "ENOSYS"),
        helper("io_uring mkdirat", &["uring-mkdirat", "{D}/etc/d"], "ENOSYS"),
        // A root under /etc: the program's paths would no longer start with /etc.
        helper("chroot into /etc", &["native", "161", "s:{D}/etc"], "EROFS"),
        helper("chroot into /etc/sub", &["native", "161", "s:{D}/etc/sub"], "EROFS"),
    ];
    if is_root() {
        // acct(2) appends a record to the named file for every exiting process of its pid namespace: in a new one,
        // so that even a policy that let it through would account nothing of the host.
        list.push(cmd(
            "acct on an /etc file",
            &["unshare", "--pid", "--fork", "{attack}", "native", "163", "s:{D}/etc/f"],
            "EROFS",
        ));
    }
    list
}

#[test]
fn every_write_under_etc_fails_and_etc_is_unchanged() {
    // int 0x80 works on this kernel, so a kill below is the filter's doing.
    let plain = run(attack(), &["int80", "20"]);
    assert!(plain.stdout.starts_with("ok "), "i386 getpid without supervise: {:?} {}", plain.code, plain.stdout);
    let (_dir, root) = setup();
    let policy = write_policy(&root, "policy.json", &policy_with_etc_under("paths-protect-etc.json", &root));
    let etc = root.join("etc");
    let before = snapshot(&etc);
    let verdicts = table(&root, &policy, &etc).run(&attacks());
    assert_all_held("paths-protect-etc", &verdicts);
    let after = snapshot(&etc);
    assert!(after == before, "D/etc changed: {}", super::diff(&before, &after));
    assert!(!root.join("out/hl").exists() && !root.join("out/f").exists(), "a link or rename left a name outside");
}

/// A regression guard for the shipped file itself: it is the policy above with /etc, and it loads cleanly.
#[test]
fn the_shipped_policy_protects_the_real_etc_paths() {
    let text = std::fs::read_to_string(crate::support::policy_file("paths-protect-etc.json")).unwrap();
    for glob in [r#""/etc""#, r#""/etc/**""#] {
        assert!(text.contains(glob), "paths-protect-etc.json names {glob}");
    }
    let out = crate::support::sup(&["check", crate::support::policy_file("paths-protect-etc.json").to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
}

/// True if this build's libseccomp skips `name` (too new for it): `supervise check` notes it.
fn skipped_by_libseccomp(check: &str, name: &str) -> bool {
    check.lines().any(|l| l.contains("are skipped") && l.split([':', ',']).any(|w| w.trim() == name))
}

/// What the comment admits, shown as it is today: each of these changes D/etc.
#[test]
fn the_gaps_its_comment_admits_still_get_through() {
    let (_dir, root) = setup();
    let policy = write_policy(&root, "policy.json", &policy_with_etc_under("paths-protect-etc.json", &root));
    let check = crate::support::sup(&["check", policy.to_str().unwrap()]).stderr;
    let skipped = |name| if skipped_by_libseccomp(&check, name) { "ok" } else { "EROFS" };
    let mut list = vec![
        // Metadata through an fd opened read-only.
        py("fchmod on a read-only fd", "os.chmod(rfd, 0o600)", "ok"),
        py("fchown on a read-only fd", "os.chown(rfd, os.getuid(), os.getgid())", "ok"),
        py("fsetxattr on a read-only fd", "os.setxattr(rfd, 'user.k', b'v')", "ok"),
        // A unix socket's address is not a path that supervise decides on.
        py("bind a unix socket in /etc", "socket.socket(socket.AF_UNIX).bind(E + '/sock')", "ok"),
        // Too new for libseccomp 2.5: not filtered at all (the policy names them; `check` notes they are skipped).
        py("setxattrat", "raw(463, -100, E + '/f', 0, 'user.k2', xargs, 16)", skipped("setxattrat")),
        py("removexattrat", "raw(466, -100, E + '/f', 0, 'user.k2')", skipped("removexattrat")),
        // file_setattr (Linux 6.17) sets a file's flags by path; neither the policy nor supervise's table has it.
        py("file_setattr FS_XFLAG_NODUMP", "raw(469, -100, E + '/f', fattr, 24, 0)", "ok|ENOSYS|EOPNOTSUPP|ENOTTY"),
    ];
    if is_root() {
        // Mounts: /etc bound elsewhere (in a private mount namespace) has other names.
        list.push(cmd(
            "bind mount of /etc elsewhere",
            &[
                "unshare",
                "-m",
                "--propagation",
                "private",
                "sh",
                "-c",
                "mount --bind {D}/etc {D}/out/m && echo bound >> {D}/out/m/f",
            ],
            "exit 0",
        ));
    } else {
        needs_root("the bind-mount gap");
    }
    let etc = root.join("etc");
    let verdicts = table(&root, &policy, &etc).run(&list);
    assert_gaps("paths-protect-etc", &verdicts, true);
}
