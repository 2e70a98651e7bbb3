//! Issues 14 and 18: the plain kernel against supervise's path emulation. The `fsdiff` helper runs a fixed list of
//! path calls of the emulated families (open, creat, mkdir, unlink, rmdir; rename, link, symlink, chmod, chown,
//! truncate, utimensat, mknod and their *at forms: see tests/src/fsdiff/main.rs) and prints one deterministic line
//! per call. Each test prepares a fresh tree, runs `fsdiff` plainly, prepares the tree again at the same absolute
//! path, runs `fsdiff` under supervise with the allow-all path policy (tests/e2e/fixtures/paths-allow-all.json), and
//! compares the two outputs line by line: any difference is a place where the emulation does not give the kernel's
//! answer.
//!
//! Modes: (a) all as root; (b) all as uid 65534; (c) root supervise, the target dropping to 65534 with setpriv;
//! (d) root supervise, the target root without CAP_DAC_OVERRIDE; (e) the target root in a private mount namespace;
//! (f) the target chrooted in its own mount namespace, as uid 65534. Both runs of a mode go through the same
//! wrappers: CAP_SYS_TIME dropped from every set, `env -i` (one environment for supervise, another for the target,
//! so that environ shows whose it is), supervise's cwd outside the tree and the target's in it (`env -C`), so that
//! `/proc/self/cwd` shows whose it is too. The sysctls fs.protected_* are read and shown in the header of both
//! outputs (and read again after the runs: a test fails when another process switched them meanwhile); two tests
//! switch them all on, then all off, for their length. In the private mount namespace (e) the
//! target mounts a tmpfs on a directory of some ops (`fsdiff run --tmpfs`): renames and links across it are EXDEV,
//! its mount point is EBUSY, and what is made beneath it must land in the target's tmpfs.
//!
//! `SUPERVISE_DIFF_OUT=DIR` keeps both outputs of each mode there (`a.kernel.txt`, `a.supervise.txt`, …).
//! fsdiff by hand: `fsdiff prepare /tmp/t 0 && cd /tmp/t && fsdiff run` (and `fsdiff list`).

use std::os::unix::fs::{chown, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::support::{needs_root, run_with, supervise, temp_dir, Output, NOBODY, TIMEOUT};

const NOBODY_IDS: &[&str] = &["--reuid=65534", "--regid=65534", "--clear-groups"];

/// How supervise and the target run, in both runs of a mode.
struct Mode {
    name: &'static str,
    /// setpriv options for the whole run (supervise, or the plain program).
    outer: &'static [&'static str],
    /// A command put before `env -i … fsdiff` (under supervise in the supervised run).
    inner: &'static [&'static str],
    /// The uid supervise (or the plain run's first process) runs as.
    outer_uid: u32,
    /// The uid the target runs as: owner of the tree.
    target_uid: u32,
    /// Whether the target is root in a mount namespace of its own, and mounts the ops' tmpfs (`--tmpfs`).
    tmpfs: bool,
}

const AS_ROOT: Mode = Mode {
    name: "(a) supervise as root, target root",
    outer: &["--inh-caps=-sys_time", "--bounding-set=-sys_time"],
    inner: &[],
    outer_uid: 0,
    target_uid: 0,
    tmpfs: false,
};

const AS_NOBODY: Mode = Mode {
    name: "(b) everything as uid 65534",
    outer: &["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"],
    inner: &[],
    outer_uid: NOBODY,
    target_uid: NOBODY,
    tmpfs: false,
};

const TARGET_DROPS: Mode = Mode {
    name: "(c) root supervise, target drops to uid 65534",
    outer: &["--inh-caps=-sys_time", "--bounding-set=-sys_time"],
    inner: &["setpriv", NOBODY_IDS[0], NOBODY_IDS[1], NOBODY_IDS[2]],
    outer_uid: 0,
    target_uid: NOBODY,
    tmpfs: false,
};

const NO_DAC_OVERRIDE: Mode = Mode {
    name: "(d) root supervise, target root without CAP_DAC_OVERRIDE",
    outer: &["--inh-caps=-sys_time", "--bounding-set=-sys_time"],
    inner: &["setpriv", "--inh-caps=-dac_override", "--bounding-set=-dac_override"],
    outer_uid: 0,
    target_uid: 0,
    tmpfs: false,
};

const OWN_MOUNT_NS: Mode = Mode {
    name: "(e) root supervise, target root in a private mount namespace",
    outer: &["--inh-caps=-sys_time", "--bounding-set=-sys_time"],
    inner: &["unshare", "-m", "--propagation", "private"],
    outer_uid: 0,
    target_uid: 0,
    tmpfs: true,
};

/// The target chrooted into a recursive bind of `/` (in a private mount namespace, under the work directory),
/// then dropping to uid 65534: another root, another mount namespace, other credentials.
const CHROOTED: Mode = Mode {
    name: "(f) root supervise, target chrooted in its own mount namespace, as uid 65534",
    outer: &["--inh-caps=-sys_time", "--bounding-set=-sys_time"],
    inner: &[
        "unshare",
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        "mkdir -p newroot && mount --rbind / newroot && exec chroot newroot setpriv --reuid=65534 --regid=65534 \
         --clear-groups \"$@\"",
        "sh",
    ],
    outer_uid: 0,
    target_uid: NOBODY,
    tmpfs: false,
};

#[test]
fn differential_in_a_private_mount_namespace() {
    differential(&OWN_MOUNT_NS);
}

#[test]
fn differential_in_a_chroot() {
    differential(&CHROOTED);
}

#[test]
fn differential_as_root() {
    differential(&AS_ROOT);
}

#[test]
fn differential_as_nobody() {
    differential(&AS_NOBODY);
}

#[test]
fn differential_target_drops_to_nobody() {
    differential(&TARGET_DROPS);
}

#[test]
fn differential_target_without_dac_override() {
    differential(&NO_DAC_OVERRIDE);
}

/// fs.protected_symlinks, protected_hardlinks, protected_regular and protected_fifos switched on for the length of
/// the test (they are off on some hosts, and then the sticky-directory and hard-link cases show nothing): supervise
/// must apply them to the target as the kernel does. The sysctls are restored on every path, a panic included.
#[test]
fn differential_with_the_sticky_directory_protections_on() {
    if !needs_root("switching fs.protected_* on") {
        return;
    }
    let on = Sysctls::set(&[
        ("protected_symlinks", "1"),
        ("protected_hardlinks", "1"),
        ("protected_regular", "2"),
        ("protected_fifos", "2"),
    ]);
    run_differential(&AS_NOBODY);
    run_differential(&TARGET_DROPS);
    drop(on);
}

/// The same protections all off (protected_hardlinks is on by default): supervise must not apply one the kernel
/// does not, such as refusing a hard link to another user's file.
#[test]
fn differential_with_the_sticky_directory_protections_off() {
    if !needs_root("switching fs.protected_* off") {
        return;
    }
    let off = Sysctls::set(&[
        ("protected_symlinks", "0"),
        ("protected_hardlinks", "0"),
        ("protected_regular", "0"),
        ("protected_fifos", "0"),
    ]);
    run_differential(&AS_NOBODY);
    run_differential(&TARGET_DROPS);
    drop(off);
}

/// Held by every test of this module: the sysctls one of them switches are read by all of them.
static SYSCTLS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn sysctls_unchanged() -> std::sync::MutexGuard<'static, ()> {
    SYSCTLS.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// fs.* sysctls set for a while, and put back as they were on drop.
struct Sysctls {
    saved: Vec<(PathBuf, String)>,
    _alone: std::sync::MutexGuard<'static, ()>,
}

impl Sysctls {
    fn set(values: &[(&str, &str)]) -> Sysctls {
        let alone = sysctls_unchanged();
        let mut saved = Vec::new();
        for (name, value) in values {
            let path = PathBuf::from("/proc/sys/fs").join(name);
            let before = std::fs::read_to_string(&path).expect("read a sysctl");
            saved.push((path.clone(), before));
            std::fs::write(&path, value).expect("set a sysctl");
        }
        Sysctls { saved, _alone: alone }
    }
}

impl Drop for Sysctls {
    fn drop(&mut self) {
        for (path, value) in &self.saved {
            let _ = std::fs::write(path, value.trim());
        }
    }
}

/// The judge itself: in every mode, two plain runs on two fresh trees print the same lines (nothing
/// nondeterministic in the output), at least 150 ops, and the header shows the mode's credentials.
#[test]
fn fsdiff_is_deterministic_on_the_plain_kernel() {
    if !needs_root("fsdiff's plain runs") {
        return;
    }
    let _unchanged = sysctls_unchanged();
    let sysctl = sysctls();
    for (mode, ids) in [
        (&AS_ROOT, "uids=[0, 0, 0]"),
        (&AS_NOBODY, "uids=[65534, 65534, 65534]"),
        (&TARGET_DROPS, "uids=[65534, 65534, 65534]"),
        (&NO_DAC_OVERRIDE, "uids=[0, 0, 0]"),
    ] {
        let work = work(mode);
        let first = run_fsdiff(mode, &work, false, &sysctl);
        let second = run_fsdiff(mode, &work, false, &sysctl);
        unchanged_since(&sysctl, mode);
        assert_eq!((first.code, second.code), (Some(0), Some(0)), "{}: {}{}", mode.name, first.stderr, second.stderr);
        assert!(
            first.stdout.contains(ids),
            "{}: {}",
            mode.name,
            first.stdout.lines().take(4).collect::<Vec<_>>().join("\n")
        );
        let ops = first.stdout.lines().filter(|l| !l.starts_with('#')).count();
        assert!(ops >= 150, "{}: {ops} ops", mode.name);
        assert_eq!(differences(&first.stdout, &second.stdout), vec![], "{}: two plain runs differ", mode.name);
    }
}

/// The `fsdiff` helper (built with this test).
fn fsdiff() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_fsdiff"))
}

/// The allow-all path policy of docs/policy-format.md's example.
fn policy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/fixtures/paths-allow-all.json")
}

/// `protected_symlinks=N protected_regular=N …`, read from /proc/sys/fs (never written).
fn sysctls() -> String {
    ["protected_symlinks", "protected_hardlinks", "protected_regular", "protected_fifos"]
        .iter()
        .map(|name| {
            let value = std::fs::read_to_string(format!("/proc/sys/fs/{name}"));
            format!("{name}={}", value.map_or_else(|e| format!("unreadable({e})"), |v| v.trim().to_string()))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Fails the test when fs.protected_* are not what they were at its start: another process (another test run on the
/// same host) switched them, and the two outputs were made under different rules.
fn unchanged_since(before: &str, mode: &Mode) {
    let now = sysctls();
    assert_eq!(now, before, "{}: fs.protected_* changed during the test (by another process?)", mode.name);
}

/// The work directory of one mode: copies of fsdiff, supervise and the policy that every uid can read and run
/// (the checkout may be private), a filter cache of supervise's uid, and the path of the tree.
struct Work {
    _dir: tempfile::TempDir,
    root: PathBuf,
    fsdiff: PathBuf,
    supervise: PathBuf,
    policy: PathBuf,
    cache: PathBuf,
    tree: PathBuf,
}

fn work(mode: &Mode) -> Work {
    let dir = temp_dir();
    let root = dir.path().canonicalize().expect("canonical temp dir");
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let bin = root.join("bin");
    std::fs::create_dir(&bin).expect("bin dir");
    let copy = |from: &Path, name: &str, mode: u32| {
        let to = bin.join(name);
        std::fs::copy(from, &to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode)).expect("chmod");
        to
    };
    let fsdiff = copy(&fsdiff(), "fsdiff", 0o755);
    let supervise = copy(&supervise(), "supervise", 0o755);
    let policy = copy(&policy(), "paths-allow-all.json", 0o644);
    let cache = root.join("cache");
    std::fs::create_dir(&cache).expect("cache dir");
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    chown(&cache, Some(mode.outer_uid), Some(mode.outer_uid)).expect("chown cache");
    let tree = root.join("tree");
    Work { _dir: dir, root, fsdiff, supervise, policy, cache, tree }
}

/// Prepares a fresh tree (removing the last one) and runs fsdiff in it, plainly or under supervise.
fn run_fsdiff(mode: &Mode, work: &Work, supervised: bool, sysctl: &str) -> Output {
    if work.tree.exists() {
        std::fs::remove_dir_all(&work.tree).expect("remove the last tree");
    }
    let mut prepare = Command::new(&work.fsdiff);
    prepare.arg("prepare").arg(&work.tree).arg(mode.target_uid.to_string());
    let prepared = run_with(prepare, b"", TIMEOUT);
    assert_eq!(prepared.code, Some(0), "fsdiff prepare: {}", prepared.stderr);

    let mut cmd = Command::new("env");
    cmd.current_dir(&work.root).arg("-i").arg("PATH=/usr/sbin:/usr/bin:/sbin:/bin").arg("SUPERVISE_DIFF_SIDE=outer");
    cmd.arg(format!("XDG_CACHE_HOME={}", work.cache.display()));
    cmd.arg("setpriv").args(mode.outer);
    if supervised {
        cmd.arg(&work.supervise).arg("--policy").arg(&work.policy).arg("--");
    }
    cmd.args(mode.inner);
    cmd.args(["env", "-i", "-C"]).arg(&work.tree).args(["LANG=C", "FSDIFF_SIDE=target"]);
    cmd.arg(&work.fsdiff).args(["run", "--sysctl", sysctl]);
    if mode.tmpfs {
        cmd.arg("--tmpfs");
    }
    run_with(cmd, b"", TIMEOUT)
}

/// Lines by key: the op name (before `: `), or the whole header line.
fn keyed(output: &str) -> Vec<(String, String)> {
    output
        .lines()
        .map(|line| match line.split_once(": ") {
            Some((key, rest)) if !line.starts_with('#') => (key.to_string(), rest.to_string()),
            _ => (line.split([':', '=']).next().unwrap_or(line).to_string(), line.to_string()),
        })
        .collect()
}

/// The differing lines: (op, kernel's, supervise's), a missing line shown as `<no line>`.
fn differences(kernel: &str, supervised: &str) -> Vec<(String, String, String)> {
    let (kernel, supervised) = (keyed(kernel), keyed(supervised));
    let find = |lines: &[(String, String)], key: &str| {
        lines.iter().find(|(k, _)| k == key).map_or("<no line>".to_string(), |(_, v)| v.clone())
    };
    let mut keys: Vec<&String> = kernel.iter().map(|(k, _)| k).collect();
    keys.extend(supervised.iter().map(|(k, _)| k).filter(|k| !kernel.iter().any(|(kk, _)| kk == *k)));
    keys.into_iter()
        .filter_map(|key| {
            let (a, b) = (find(&kernel, key), find(&supervised, key));
            (a != b).then(|| (key.clone(), a, b))
        })
        .collect()
}

fn differential(mode: &Mode) {
    if !needs_root(mode.name) {
        return;
    }
    let _unchanged = sysctls_unchanged();
    run_differential(mode);
}

/// The one place where supervise cannot give the kernel's answer, and fails closed instead (docs/security.md):
/// `linkat(fd, "", AT_EMPTY_PATH)` succeeds for a program without CAP_DAC_READ_SEARCH only when its credentials
/// are the very ones the fd was opened with (the kernel compares the two `struct cred` pointers); a thread of
/// supervise acting as another user holds copies, never the same object, so it gets ENOENT. Only a failure that
/// the kernel would not give, never a success it would not give.
fn known_difference(op: &str, supervise: &str) -> Option<&'static str> {
    (op.starts_with("linkat.empty-path") && supervise.starts_with("errno=ENOENT"))
        .then_some("linkat AT_EMPTY_PATH needs the opener's own credentials (fails closed with ENOENT)")
}

fn run_differential(mode: &Mode) {
    let started = Instant::now();
    let work = work(mode);
    let sysctl = sysctls();
    let plain = run_fsdiff(mode, &work, false, &sysctl);
    assert_eq!(plain.code, Some(0), "the plain run failed: {}\n{}", plain.stdout, plain.stderr);
    let ops = plain.stdout.lines().filter(|l| !l.starts_with('#')).count();
    assert!(ops >= 150, "fsdiff ran {ops} ops, expected at least 150");
    let supervised = run_fsdiff(mode, &work, true, &sysctl);
    unchanged_since(&sysctl, mode);
    // A thread of supervise acts as another user when supervise is root and the target is not.
    let another_user = mode.outer_uid != mode.target_uid;
    let (known, diffs): (Vec<_>, Vec<_>) = differences(&plain.stdout, &supervised.stdout)
        .into_iter()
        .partition(|(op, _, sup)| another_user && known_difference(op, sup).is_some());
    for (op, kernel, sup) in &known {
        let why = known_difference(op, sup).unwrap_or_default();
        eprintln!("{}: known difference {op}: kernel {kernel}, supervise {sup}: {why}", mode.name);
    }
    if let Some(dir) = std::env::var_os("SUPERVISE_DIFF_OUT") {
        let slug: String = mode.name.chars().take(3).filter(char::is_ascii_alphabetic).collect();
        let dir = PathBuf::from(dir);
        std::fs::write(dir.join(format!("{slug}.kernel.txt")), &plain.stdout).expect("write the kernel's output");
        std::fs::write(dir.join(format!("{slug}.supervise.txt")), &supervised.stdout)
            .expect("write supervise's output");
    }
    eprintln!("{}: {ops} ops, {} differences, {:?}", mode.name, diffs.len(), started.elapsed());
    if diffs.is_empty() && supervised.code == Some(0) {
        return;
    }
    let mut report = format!("{}: {} of {ops} lines differ (kernel, then supervise)\n", mode.name, diffs.len());
    for (op, kernel, sup) in &diffs {
        report += &format!("  {op}\n    kernel:    {kernel}\n    supervise: {sup}\n");
    }
    report += &format!("{} differences; sysctl {sysctl}\n", diffs.len());
    if supervised.code != Some(0) {
        report += &format!("the supervised run exited with {:?}\n", supervised.code);
    }
    let stderr: Vec<&str> = supervised.stderr.lines().collect();
    if !stderr.is_empty() {
        report += &format!(
            "supervise's stderr (last lines):\n  {}\n",
            stderr[stderr.len().saturating_sub(15)..].join("\n  ")
        );
    }
    panic!("{report}");
}
