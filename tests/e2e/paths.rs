//! Issue 5: path-, executable- and uid-aware rules, and TOCTOU-safe emulation.

use std::path::Path;
use std::process::Command;

use crate::support::{run, run_with, supervise, temp_dir, write_policy, TIMEOUT};

/// A policy over `dir`: allow under ok/, deny (EACCES) under no/ and /etc, allow other opens, deny the rest.
fn path_policy(dir: &Path) -> String {
    let d = dir.display();
    let syscalls = r#"["open","openat","openat2","creat","mkdir","mkdirat","unlink","unlinkat","rmdir","rename","renameat","renameat2","link","linkat","symlink","symlinkat","chmod","fchmodat","fchmodat2","chown","lchown","fchownat","truncate","setxattr","lsetxattr","utimensat","utimes","utime"]"#;
    format!(
        r#"{{
  "defaultAction": "SCMP_ACT_ALLOW",
  "supervise": {{ "decision": "deny" }},
  "syscalls": [
    {{ "names": {syscalls}, "action": "SCMP_ACT_NOTIFY",
       "supervise": {{ "decision": "allow", "paths": ["{d}/ok/**"] }} }},
    {{ "names": {syscalls}, "action": "SCMP_ACT_NOTIFY",
       "supervise": {{ "decision": "deny", "errnoRet": "EACCES", "paths": ["{d}/no/**", "/etc/**"] }} }},
    {{ "names": ["open", "openat"], "action": "SCMP_ACT_NOTIFY",
       "supervise": {{ "decision": "allow", "paths": ["/**"] }} }}
  ]
}}"#
    )
}

fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = temp_dir();
    let root = dir.path().canonicalize().unwrap();
    for sub in ["ok", "no"] {
        std::fs::create_dir(root.join(sub)).unwrap();
    }
    std::fs::write(root.join("ok/file"), "ok\n").unwrap();
    std::fs::write(root.join("no/file"), "SECRET\n").unwrap();
    (dir, root)
}

/// Runs a python3 script under the path policy with `root` as cwd; the script prints one result per line.
fn python_under_policy(root: &Path, script: &str) -> String {
    let policy = write_policy(root, "policy.json", &path_policy(root));
    let mut cmd = Command::new(supervise());
    cmd.current_dir(root).arg("--policy").arg(&policy).args(["--", "python3", "-c", script]);
    let out = run_with(cmd, b"", TIMEOUT);
    assert_eq!(out.code, Some(0), "stdout: {}\nstderr: {}", out.stdout, out.stderr);
    out.stdout
}

const TRY: &str = r#"
import errno, os, sys
def t(name, f):
    try:
        f()
        print(name, "ok")
    except OSError as e:
        print(name, errno.errorcode[e.errno])
"#;

#[test]
fn rules_per_path_across_the_path_syscalls() {
    let (_dir, root) = setup();
    let script = format!(
        "{TRY}
t('open-ok', lambda: open('ok/file').read())
t('open-no', lambda: open('no/file').read())
t('open-etc', lambda: open('/etc/hostname').read())
t('open-other', lambda: open('/proc/self/status').read())
t('creat-ok', lambda: open('ok/new', 'w').write('x'))
t('creat-no', lambda: open('no/new', 'w'))
t('mkdir-ok', lambda: os.mkdir('ok/d', 0o750))
t('mkdir-no', lambda: os.mkdir('no/d'))
t('mkdir-elsewhere', lambda: os.mkdir('elsewhere'))
t('rename-ok', lambda: os.rename('ok/new', 'ok/renamed'))
t('rename-out', lambda: os.rename('ok/renamed', 'no/renamed'))
t('link-ok', lambda: os.link('ok/file', 'ok/hard'))
t('symlink-ok', lambda: os.symlink('file', 'ok/soft'))
t('chmod-ok', lambda: os.chmod('ok/file', 0o600))
t('chmod-no', lambda: os.chmod('no/file', 0o600))
t('truncate-no', lambda: os.truncate('no/file', 0))
t('unlink-no', lambda: os.unlink('no/file'))
t('unlink-ok', lambda: os.unlink('ok/hard'))
t('rmdir-ok', lambda: os.rmdir('ok/d'))
t('openat-dirfd', lambda: os.close(os.open('file', os.O_RDONLY, dir_fd=os.open('no', os.O_RDONLY))))
t('openat-dirfd-ok', lambda: os.close(os.open('file', os.O_RDONLY, dir_fd=os.open('ok', os.O_RDONLY))))
t('dotdot', lambda: open('ok/../no/file').read())
t('xattr-ok', lambda: os.setxattr('ok/file', 'user.k', b'v'))
t('xattr-no', lambda: os.setxattr('no/file', 'user.k', b'v'))
t('utime-no', lambda: os.utime('no/file', (0, 0)))
"
    );
    let out = python_under_policy(&root, &script);
    let expected = [
        "open-ok ok",
        "open-no EACCES",
        "open-etc EACCES",
        "open-other ok",
        "creat-ok ok",
        "creat-no EACCES",
        "mkdir-ok ok",
        "mkdir-no EACCES",
        "mkdir-elsewhere EPERM",
        "rename-ok ok",
        // A deny rule applies when any of the paths matches (here the destination).
        "rename-out EACCES",
        "link-ok ok",
        "symlink-ok ok",
        "chmod-ok ok",
        "chmod-no EACCES",
        "truncate-no EACCES",
        "unlink-no EACCES",
        "unlink-ok ok",
        "rmdir-ok ok",
        "openat-dirfd EACCES",
        "openat-dirfd-ok ok",
        "dotdot EACCES",
        // Path syscalls beyond the emulated families are decided on their paths too (xattrs, times).
        "xattr-ok ok",
        "xattr-no EACCES",
        "utime-no EACCES",
    ];
    assert_eq!(out.lines().collect::<Vec<_>>(), expected);
    assert_eq!(std::fs::read_to_string(root.join("no/file")).unwrap(), "SECRET\n", "the denied file is untouched");
    assert!(!root.join("elsewhere").exists());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(root.join("ok/d")).map(|m| m.permissions().mode());
    assert!(mode.is_err(), "ok/d was removed again");
    assert_eq!(std::fs::read_to_string(root.join("ok/renamed")).unwrap(), "x");
}

#[test]
fn emulated_creates_keep_the_targets_umask_and_owner() {
    let (_dir, root) = setup();
    let script = format!("{TRY}\nos.umask(0o077)\nt('creat', lambda: open('ok/private', 'w').write('x'))\nt('mkdir', lambda: os.mkdir('ok/pd', 0o777))\n");
    assert_eq!(python_under_policy(&root, &script), "creat ok\nmkdir ok\n");
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &str| std::fs::metadata(root.join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode("ok/private"), mode("ok/pd")), (0o600, 0o700));
}

#[test]
fn a_symlink_out_of_an_allowed_directory_is_judged_by_its_target() {
    let (_dir, root) = setup();
    std::os::unix::fs::symlink(root.join("no/file"), root.join("ok/escape")).unwrap();
    std::os::unix::fs::symlink(root.join("no"), root.join("ok/escdir")).unwrap();
    let script = format!(
        "{TRY}\nt('link', lambda: open('ok/escape').read())\nt('dir', lambda: open('ok/escdir/file').read())\n"
    );
    assert_eq!(python_under_policy(&root, &script), "link EACCES\ndir EACCES\n");
}

#[test]
fn unreadable_path_pointers_give_efault() {
    let (_dir, root) = setup();
    let script = format!(
        "{TRY}
import ctypes, mmap
libc = ctypes.CDLL(None, use_errno=True)
def raw(nr, *args):
    if libc.syscall(nr, *args) != 0:
        raise OSError(ctypes.get_errno(), 'raw')
t('null', lambda: raw(83, ctypes.c_void_p(0), 0o755))
t('wild', lambda: raw(83, ctypes.c_void_p(1), 0o755))
m = mmap.mmap(-1, 8192)
buf = (ctypes.c_char * 8192).from_buffer(m)
base = ctypes.addressof(buf)
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
ctypes.memset(base, ord('a'), 4096)
assert libc.mprotect(ctypes.c_void_p(base + 4096), 4096, 0) == 0
t('unterminated', lambda: raw(83, ctypes.c_void_p(base + 4090), 0o755))
"
    );
    assert_eq!(python_under_policy(&root, &script), "null EFAULT\nwild EFAULT\nunterminated EFAULT\n");
}

#[test]
fn executable_and_uid_matchers() {
    let dir = temp_dir();
    let root = dir.path().canonicalize().unwrap();
    let policy = write_policy(
        &root,
        "p.json",
        r#"{ "defaultAction": "SCMP_ACT_ALLOW",
             "syscalls": [
               { "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY",
                 "supervise": { "decision": "allow", "exe": ["/usr/bin/mkdir", "/bin/mkdir"], "uid": 0 } },
               { "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY",
                 "supervise": { "decision": "deny", "errnoRet": "EROFS" } } ] }"#,
    );
    let p = policy.to_str().unwrap();
    let by_mkdir = run(supervise(), &["--policy", p, "--", "mkdir", root.join("a").to_str().unwrap()]);
    assert_eq!(by_mkdir.code, Some(0), "{}", by_mkdir.stderr);
    let script = format!("import os; os.mkdir('{}')", root.join("b").display());
    let by_python = run(supervise(), &["--policy", p, "--", "python3", "-c", &script]);
    assert_ne!(by_python.code, Some(0));
    assert!(by_python.stderr.contains("Read-only file system"), "{}", by_python.stderr);
    let as_nobody =
        crate::support::as_nobody(&supervise(), &["--policy", p, "--", "mkdir", root.join("c").to_str().unwrap()]);
    assert!(as_nobody.stderr.contains("Read-only file system"), "{}", as_nobody.stderr);
    assert!(root.join("a").exists() && !root.join("b").exists() && !root.join("c").exists());
}

/// One thread flips a path between an allowed and a denied file while another opens it in a loop: the denied file
/// is never opened. With CONTINUE instead of emulation this races within milliseconds.
#[test]
fn the_path_race_never_opens_the_denied_file() {
    let (_dir, root) = setup();
    let exe = root.join("race_open");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/programs/race_open.c");
    let cc = run("gcc", &["-O2", "-pthread", "-o", exe.to_str().unwrap(), src.to_str().unwrap()]);
    assert_eq!(cc.code, Some(0), "gcc: {}", cc.stderr);
    let seconds = std::env::var("SUPERVISE_RACE_SECONDS").unwrap_or_else(|_| "2".into());
    let policy = write_policy(&root, "policy.json", &path_policy(&root));
    let out = run(
        supervise(),
        &["--policy", policy.to_str().unwrap(), "--", exe.to_str().unwrap(), root.to_str().unwrap(), &seconds],
    );
    assert_eq!(out.code, Some(0), "the denied file was opened: {} {}", out.stdout, out.stderr);
    assert!(out.stdout.starts_with("ok="), "{}", out.stdout);
    let ok: u64 = out.stdout["ok=".len()..].split_whitespace().next().unwrap().parse().unwrap();
    assert!(ok > 10, "the allowed file was opened too: {}", out.stdout);
}

#[test]
fn emulated_opens_act_with_the_targets_uid_and_umask() {
    // supervise runs as root; the program drops to uid 65534 itself. The emulated open must not use root's rights.
    let (_dir, root) = setup();
    let mine = root.join("ok/nobody");
    std::fs::create_dir(&mine).unwrap();
    std::os::unix::fs::chown(&mine, Some(65534), Some(65534)).unwrap();
    let policy = write_policy(&root, "policy.json", &path_policy(&root));
    let script = format!(
        "{TRY}\nos.umask(0o027)\nt('root-dir', lambda: open('ok/mine', 'w'))\nt('own-dir', lambda: open('ok/nobody/f', 'w').write('x'))\n"
    );
    let mut cmd = Command::new(supervise());
    cmd.current_dir(&root).arg("--policy").arg(&policy).args([
        "--",
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "/usr/bin/python3",
        "-c",
        &script,
    ]);
    let out = run_with(cmd, b"", TIMEOUT);
    assert_eq!(out.stdout, "root-dir EACCES\nown-dir ok\n", "{}", out.stderr);
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::metadata(mine.join("f")).unwrap();
    assert_eq!((meta.uid(), meta.gid(), meta.permissions().mode() & 0o777), (65534, 65534, 0o640));
    assert!(!root.join("ok/mine").exists());
}

#[test]
fn the_shipped_matcher_examples_do_what_they_say() {
    let dir = temp_dir();
    let root = dir.path().canonicalize().unwrap();
    // Copies nobody can read (CI's checkout may sit in a private directory).
    let policy = |name: &str| {
        let copy = root.join(name);
        std::fs::copy(crate::support::policy_file(name), &copy).unwrap();
        copy.display().to_string()
    };
    // paths-protect-etc: as nobody, so that even a broken policy could not write /etc (EACCES, not EROFS, then).
    let script = "import os\nfor flags in (os.O_WRONLY, os.O_RDWR):\n    try:\n        os.open('/etc/hostname', flags)\n    except OSError as e:\n        print(e.strerror)\nprint(len(open('/etc/hostname').read()) > 0)\nos.mkdir('/tmp/' + str(os.getpid()) + '.d'); os.rmdir('/tmp/' + str(os.getpid()) + '.d'); print('tmp ok')";
    let out = crate::support::as_nobody(
        &supervise(),
        &["--policy", &policy("paths-protect-etc.json"), "--", "python3", "-c", script],
    );
    assert_eq!(out.stdout, "Read-only file system\nRead-only file system\nTrue\ntmp ok\n", "{}", out.stderr);
    // exe-network: python3 is not a listed client.
    let sock = root.join("s");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let script = format!("import socket\ntry:\n    socket.socket(socket.AF_UNIX).connect('{}')\nexcept OSError as e:\n    print(e.strerror)", sock.display());
    let out = run(supervise(), &["--policy", &policy("exe-network.json"), "--", "python3", "-c", &script]);
    assert_eq!(out.stdout, "Permission denied\n", "{}", out.stderr);
    drop(listener);
    // uid-ptrace: root may trace, nobody may not (even its own child).
    let out = run(supervise(), &["--policy", &policy("uid-ptrace.json"), "--", "strace", "-o", "/dev/null", "true"]);
    assert_eq!(out.code, Some(0), "root may ptrace: {}", out.stderr);
    let script =
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nprint(libc.ptrace(0, 0, 0, 0), ctypes.get_errno())";
    let out = crate::support::as_nobody(
        &supervise(),
        &["--policy", &policy("uid-ptrace.json"), "--", "python3", "-c", script],
    );
    assert_eq!(out.stdout, "-1 1\n", "{}", out.stderr);
}

/// Path emulation runs on the notify thread only for what cannot block: opening a FIFO (which waits for the other
/// end) goes elsewhere, so other path-checked calls go on meanwhile, and a regular file opened on the notify
/// thread keeps the flags the program asked for (no O_NONBLOCK left behind).
#[test]
fn a_blocking_open_does_not_hold_up_other_path_calls() {
    let (_dir, root) = setup();
    nix::unistd::mkfifo(&root.join("ok/fifo"), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let script = r#"
import fcntl, os, threading, time
got = []
def reader():
    with open('ok/fifo') as f:  # waits for a writer
        got.append(f.read())
t = threading.Thread(target=reader)
t.start()
time.sleep(0.3)
opened = 0
for _ in range(50):
    fd = os.open('ok/file', os.O_RDONLY)
    assert fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK == 0, 'O_NONBLOCK left on the fd'
    os.close(fd)
    opened += 1
print('opened while the reader waits', opened, 'reader alive', t.is_alive())
with open('ok/fifo', 'w') as f:
    f.write('hello')
t.join(5)
print('reader got', got)
"#;
    let out = python_under_policy(&root, script);
    assert!(out.contains("opened while the reader waits 50 reader alive True"), "{out}");
    assert!(out.contains("reader got ['hello']"), "{out}");
}

/// Regression: a FIFO open performed for a target that then dies stays blocked in open(2) on a thread of
/// supervise's; supervise must still exit with the program's status at once, not wait for that open.
#[test]
fn supervise_exits_while_a_fifo_open_for_a_dead_target_is_pending() {
    let (_dir, root) = setup();
    nix::unistd::mkfifo(&root.join("ok/fifo"), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let policy = write_policy(&root, "policy.json", &path_policy(&root));
    let script = "python3 -c 'open(\"ok/fifo\")' & sleep 0.5; kill -9 $!; wait; exit 3";
    let mut cmd = Command::new(supervise());
    cmd.current_dir(&root).arg("--policy").arg(&policy).args(["--", "sh", "-c", script]);
    let started = std::time::Instant::now();
    let out = run_with(cmd, b"", std::time::Duration::from_secs(10));
    assert_eq!(out.code, Some(3), "stderr: {}", out.stderr);
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "took {:?}", started.elapsed());
}

/// The confused deputy, from the program's side: under an allow-all path policy, opens of supervise's own
/// `/proc/<pid>` (its memory, environment, fds, cwd, root, status) and of its threads are refused, while the
/// program's own `/proc/self` entries are its own (its environment, not supervise's).
#[test]
fn the_program_reaches_nothing_of_supervise_through_path_emulation() {
    let (_dir, root) = setup();
    let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/fixtures/paths-allow-all.json");
    let script = r#"
import errno, os
sup = os.getppid()
# supervise's threads have ids near its pid; /proc/<tid> of any of them is supervise too.
for pid in range(sup, sup + 64):
    for what in ['mem', 'environ', 'fd/0', 'fd/3', 'cwd/.', 'root/etc/hostname', 'status', 'maps', 'exe', 'task']:
        try:
            fd = os.open('/proc/%d/%s' % (pid, what), os.O_RDONLY)
        except OSError as e:
            # ESRCH: another test's process, exiting as it was opened (supervise is alive all along).
            if e.errno not in (errno.EACCES, errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ESRCH):
                print('unexpected', pid, what, errno.errorcode[e.errno])
            continue
        try:
            with open('/proc/%d/status' % pid) as f:
                tgid = [l.split()[1] for l in f if l.startswith('Tgid:')][0]
        except OSError:
            tgid = '?'
        # '?': the process is gone since the open; supervise itself is alive all along, so that one was another
        # test's process (the scan is of a pid range, shared with whatever else runs). Whatever the pid, an
        # environment with supervise's own variable in it is supervise's.
        leaked = False
        if what == 'environ':
            try:
                leaked = b'SUPERVISE_ONLY' in os.read(fd, 1 << 20)
            except OSError:
                pass
        if leaked or tgid == str(sup) or (tgid == '?' and pid == sup):
            print('OPENED', pid, what, tgid)
        os.close(fd)
with open('/proc/self/environ', 'rb') as f:
    print('environ', sorted(f.read().split(b'\0')))
print('done')
"#;
    let mut cmd = Command::new(supervise());
    cmd.current_dir(&root).env("SUPERVISE_ONLY", "supervise's own").arg("--policy").arg(&policy).args([
        "--",
        "env",
        "-i",
        "ONLY=the program's",
        "python3",
        "-c",
        script,
    ]);
    let out = run_with(cmd, b"", TIMEOUT);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    assert!(!out.stdout.contains("OPENED") && !out.stdout.contains("unexpected"), "{}", out.stdout);
    assert!(out.stdout.contains("environ [b'', b\"ONLY=the program's\"]"), "{}", out.stdout);
    assert!(out.stdout.contains("done"), "{}", out.stdout);
}

/// A program may name itself with any bytes (prctl PR_SET_NAME), and its /proc status then holds them: reading its
/// credentials must not fail on them (the call would never be answered).
#[test]
fn a_program_named_with_invalid_utf8_is_still_served() {
    let (_dir, root) = setup();
    let script = r#"
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(15, b"\xff\xfe\xfdname", 0, 0, 0)
print(open('ok/file').read().strip())
os.mkdir('ok/made')
print(os.path.isdir('ok/made'))
"#;
    assert_eq!(python_under_policy(&root, script), "ok\nTrue\n");
}

/// A target in its own mount namespace and root resolves in them: a directory it hid behind a tmpfs
/// does not hand out the file underneath, a bind mount gives the bound directory's file, and a chroot's `/` and `..`
/// are the chroot's. Compared with the plain kernel, under the allow-all path policy.
#[test]
fn a_target_with_its_own_mounts_and_root_gets_its_own_files() {
    if !crate::support::needs_root("mount namespaces") {
        return;
    }
    let (_dir, root) = setup();
    for sub in ["hidden", "etc2", "other", "jail"] {
        std::fs::create_dir(root.join(sub)).unwrap();
    }
    std::fs::write(root.join("hidden/secret"), "underneath\n").unwrap();
    std::fs::write(root.join("etc2/file"), "host's\n").unwrap();
    std::fs::write(root.join("other/file"), "bound\n").unwrap();
    std::fs::write(root.join("jail/marker"), "jail\n").unwrap();
    let script = r#"
import errno, os
def t(name, path, flags=os.O_RDONLY):
    try:
        fd = os.open(path, flags, 0o600)
        data = 'made' if flags & os.O_WRONLY else os.read(fd, 64).decode().strip()
        os.close(fd)
        print(name, data)
    except OSError as e:
        print(name, errno.errorcode[e.errno])
t('hidden', 'hidden/secret')
t('bound', 'etc2/file')
t('created', 'hidden/new', os.O_CREAT | os.O_WRONLY)
print('listed', sorted(os.listdir('hidden')))
os.chroot('jail')
os.chdir('/')
t('jail-root', '/marker')
t('jail-dotdot', '/../../marker')
t('jail-proc-root', '/proc/self/root/marker')
"#;
    std::fs::write(root.join("script.py"), script).unwrap();
    // The jail has no /proc of its own: mount one inside the namespace so /proc/self means something there.
    std::fs::create_dir(root.join("jail/proc")).unwrap();
    let shell = "mount -t tmpfs x hidden && mount --bind other etc2 && mount -t proc proc jail/proc && \
                 exec python3 script.py";
    let run_it = |supervised: bool| {
        let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/fixtures/paths-allow-all.json");
        let mut cmd = Command::new("setpriv");
        cmd.current_dir(&root).args(crate::support::without_sys_time());
        if supervised {
            cmd.arg(supervise()).arg("--policy").arg(&policy).arg("--");
        }
        cmd.args(["unshare", "-m", "--propagation", "private", "sh", "-c", shell]);
        let out = run_with(cmd, b"", TIMEOUT);
        assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
        out.stdout
    };
    let plain = run_it(false);
    assert_eq!(
        plain,
        "hidden ENOENT\nbound bound\ncreated made\nlisted ['new']\njail-root jail\njail-dotdot jail\njail-proc-root jail\n"
    );
    assert_eq!(run_it(true), plain, "supervise resolves in the target's mounts and root");
    assert_eq!(std::fs::read_to_string(root.join("hidden/secret")).unwrap(), "underneath\n");
    assert!(!root.join("hidden/new").exists(), "the file was created in the target's tmpfs, not underneath");
}
