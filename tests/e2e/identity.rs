//! `exe` identifies the running file, not its name (docs/policy-format.md, docs/security.md): a binary bind-mounted
//! over the allowed one in a mount namespace of the program's own does not pass for it, `/bin/X` and `/usr/bin/X`
//! are one file on a merged-/usr system, a copy or a hard link elsewhere is not the allowed place, and `check` says
//! which globs name nothing here. Everything happens in temporary directories and private mount namespaces.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::support::{as_nobody, is_root, probe, run, sup, supervise, temp_dir, write_policy, Output};

/// mkdir by one of `exe` is allowed; any other mkdir fails with EROFS (30).
fn policy(dir: &Path, exe: &[String]) -> PathBuf {
    let exe = serde_json::to_string(exe).unwrap();
    write_policy(
        dir,
        "p.json",
        &format!(
            r#"{{ "defaultAction": "SCMP_ACT_ALLOW",
                 "syscalls": [
                   {{ "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY",
                      "supervise": {{ "decision": "allow", "exe": {exe} }} }},
                   {{ "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY",
                      "supervise": {{ "decision": "deny", "errnoRet": "EROFS" }} }} ] }}"#
        ),
    )
}

/// A copy of `probe` at `path`, runnable by anyone.
fn copy_probe(path: &Path) -> PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::copy(probe(), path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_path_buf()
}

/// The temporary directory, canonical (as /proc/PID/exe names it), with `bin/tool` (the allowed binary) and
/// `evil` (another file with the same code).
fn setup() -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
    let dir = temp_dir();
    let root = dir.path().canonicalize().unwrap();
    let tool = copy_probe(&root.join("bin/tool"));
    let evil = copy_probe(&root.join("evil"));
    (dir, root, tool, evil)
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The script run in a private mount namespace: the real tool makes `real`, then `evil` is bind-mounted over the
/// tool and the "tool" makes `impostor`.
fn script(root: &Path, tool: &Path, evil: &Path) -> String {
    format!(
        "{t} mkdir {r}/real; echo real=$?; mount --bind {e} {t} || exit 99; {t} mkdir {r}/impostor; echo impostor=$?",
        t = s(tool),
        e = s(evil),
        r = s(root)
    )
}

fn assert_impostor_denied(out: &Output, root: &Path) {
    assert!(out.stdout.contains("real=0"), "the real binary is allowed: {out:?}");
    assert!(out.stdout.contains("impostor=30"), "the bind-mounted impostor is denied (EROFS): {out:?}");
    assert!(root.join("real").is_dir() && !root.join("impostor").exists(), "{out:?}");
    assert!(out.stderr.contains("executable not identified"), "the reason is logged: {out:?}");
}

#[test]
fn a_binary_bind_mounted_over_the_allowed_one_in_a_private_mount_namespace_does_not_pass_for_it() {
    if !is_root() {
        return eprintln!(
            "skipped: the bind mount in a private mount namespace needs root (the unprivileged case is the next test)"
        );
    }
    let (_dir, root, tool, evil) = setup();
    let p = policy(&root, &[s(&tool).to_string()]);
    let sh = script(&root, &tool, &evil);
    let args = ["--policy", s(&p), "--", "unshare", "-m", "--propagation", "private", "sh", "-c", &sh];
    let out = run(supervise(), &args);
    assert_impostor_denied(&out, &root);
    // The mount stayed in the namespace that ended with the program.
    assert_ne!(std::fs::read(&tool).unwrap().len(), 0);
    assert!(!std::fs::read_to_string("/proc/self/mountinfo").unwrap().contains(s(&tool)), "no global mount");
}

#[test]
fn an_unprivileged_program_in_a_user_namespace_of_its_own_cannot_borrow_the_allowed_name() {
    if !is_root() {
        return eprintln!("skipped: switching to uid 65534 needs root");
    }
    let probe_ns = as_nobody(Path::new("/usr/bin/unshare"), &["-Urm", "true"]);
    if probe_ns.code != Some(0) {
        return eprintln!("skipped: the kernel refuses user namespaces to uid 65534 here: {}", probe_ns.stderr.trim());
    }
    let (_dir, root, tool, evil) = setup();
    let p = policy(&root, &[s(&tool).to_string()]);
    let sh = script(&root, &tool, &evil);
    let out = as_nobody(&supervise(), &["--policy", s(&p), "--", "unshare", "-Urm", "sh", "-c", &sh]);
    assert_impostor_denied(&out, &root);
}

#[test]
fn bin_x_in_a_policy_matches_the_program_run_as_usr_bin_x_and_as_bin_x() {
    let merged = std::fs::symlink_metadata("/bin").is_ok_and(|m| m.file_type().is_symlink());
    if !merged || !Path::new("/usr/bin/mkdir").exists() {
        return eprintln!("skipped: /bin is not a symlink to /usr/bin here (not a merged-/usr system)");
    }
    let dir = temp_dir();
    let root = dir.path().canonicalize().unwrap();
    let p = policy(&root, &["/bin/mkdir".to_string()]);
    for (i, program) in ["/usr/bin/mkdir", "/bin/mkdir", "mkdir"].iter().enumerate() {
        let made = root.join(format!("d{i}"));
        let out = run(supervise(), &["--policy", s(&p), "--", program, s(&made)]);
        assert_eq!(out.code, Some(0), "{program}: {out:?}");
        assert!(made.is_dir(), "{program}");
    }
    let script = format!("import os; os.mkdir('{}')", root.join("py").display());
    let out = run(supervise(), &["--policy", s(&p), "--", "python3", "-c", &script]);
    assert!(out.stderr.contains("Read-only file system"), "another program is not /bin/mkdir: {out:?}");
}

#[test]
fn a_copy_or_a_hard_link_elsewhere_does_not_match_and_a_symlink_to_the_file_does() {
    let (_dir, root, tool, evil) = setup();
    let copy = root.join("copy");
    std::fs::copy(&tool, &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    let hard = root.join("hard");
    std::fs::hard_link(&tool, &hard).unwrap();
    let soft = root.join("soft");
    std::os::unix::fs::symlink("bin/tool", &soft).unwrap();
    std::os::unix::fs::symlink("bin", root.join("linkdir")).unwrap();
    // The glob goes through a symlinked directory: it is matched as the canonical path.
    let p = policy(&root, &[s(&root.join("linkdir/tool")).to_string()]);
    let table: &[(&Path, &str)] = &[
        (&tool, "ok 0"),
        // exec follows the symlink: the program runs bin/tool, from that name.
        (&soft, "ok 0"),
        (&copy, "err EROFS 30"),
        // The same file, started from a name the rule does not list: the rule names places (docs/policy-format.md).
        (&hard, "err EROFS 30"),
        (&evil, "err EROFS 30"),
    ];
    for (i, (program, want)) in table.iter().enumerate() {
        let made = root.join(format!("d{i}"));
        let out = run(supervise(), &["--policy", s(&p), "--", s(program), "mkdir", s(&made)]);
        assert_eq!(out.stdout.trim(), *want, "{}: {out:?}", program.display());
    }
}

#[test]
fn check_warns_about_exe_globs_that_name_nothing_here_or_lead_through_a_symlink() {
    let (_dir, root, _tool, _evil) = setup();
    std::os::unix::fs::symlink("bin", root.join("linkdir")).unwrap();
    let missing = "/nonexistent-supervise-dir/tool".to_string();
    let through = s(&root.join("linkdir/tool")).to_string();
    let pattern = s(&root.join("linkdir/*")).to_string();
    let plain = s(&root.join("bin/tool")).to_string();
    let p = policy(&root, &[missing.clone(), through.clone(), pattern.clone(), plain.clone()]);
    let out = sup(&["check", s(&p)]);
    assert_eq!(out.code, Some(0), "warnings only: {out:?}");
    let lines: Vec<&str> = out.stderr.lines().filter(|l| l.contains("supervise.exe[")).collect();
    assert_eq!(lines.len(), 3, "one line per glob that needs one: {}", out.stderr);
    let bin = root.join("bin");
    let at = "warning: syscalls[0].supervise.exe";
    let wants = [
        format!("{at}[0]: exe {missing:?} names no file on this machine: it matches no program here"),
        format!("{at}[1]: exe {through:?} is matched as {:?}", s(&bin.join("tool"))),
        format!("{at}[2]: exe {pattern:?} is matched as {:?}", format!("{}/*", s(&bin))),
    ];
    for want in wants {
        assert!(out.stderr.contains(&want), "{want}\nin:\n{}", out.stderr);
    }
    let strict = sup(&["check", "--strict", s(&p)]);
    assert_eq!(strict.code, Some(1), "{strict:?}");
}

#[test]
fn a_program_whose_file_was_replaced_or_deleted_while_it_runs_is_no_longer_that_file() {
    let dir = temp_dir();
    let root = dir.path().canonicalize().unwrap();
    std::fs::create_dir_all(root.join("bin")).unwrap();
    let py = root.join("bin/py");
    let p = policy(&root, &[s(&py).to_string()]);
    let (py_s, root_s) = (s(&py), s(&root));
    let changes = [
        // An upgrade: a new file renamed over the one running.
        (
            "replaced",
            format!("import shutil; shutil.copy('{py_s}', '{root_s}/new'); os.replace('{root_s}/new', '{py_s}')"),
        ),
        // An uninstall.
        ("deleted", format!("os.unlink('{py_s}')")),
    ];
    for (what, change) in changes {
        std::fs::copy("/usr/bin/python3", &py).unwrap();
        let script = format!(
            "import os\n\
             def mk(name):\n    try:\n        os.mkdir('{root_s}/' + name); return 'ok'\n    \
             except OSError as e:\n        return e.strerror\n\
             before = mk('{what}-before')\n{change}\nprint(before, '|', mk('{what}-after'))"
        );
        let out = run(supervise(), &["--policy", s(&p), "--", py_s, "-c", &script]);
        assert_eq!(out.stdout.trim(), "ok | Read-only file system", "{what}: {out:?}");
    }
}
