//! Issue 15, item 1: as root, the built-in policy is Docker's default confinement, capabilities included. The
//! program runs with Docker's 14 capabilities and the profile's capability rules follow them, so reboot, mount
//! and setting the clock fail with EPERM as under `docker run` (and runc with the same capabilities); `--cap-add`,
//! `--cap-drop` and `--privileged` change the set as Docker's options do; NO_NEW_PRIVS only with
//! `--no-new-privileges` or when supervise is unprivileged.
//!
//! Nothing here changes the host: reboot is probed with a bad magic number (EPERM without CAP_SYS_BOOT, EINVAL
//! with it, never a reboot), every mount attempt runs inside `unshare -m` (a private mount namespace), and the
//! clock is probed with an unmapped pointer (EFAULT comes before any change) or without CAP_SYS_TIME.

use std::path::Path;
use std::process::Command;

use crate::support::{
    as_nobody, assert_clock_untouched, assert_own_failure, clock, needs_root, policy_file, probe_str, run, run_with,
    sup, sup_without_sys_time, supervise, temp_dir, TIMEOUT,
};

/// Docker's default capability set as `/proc/PID/status` shows it (`docker run alpine grep CapEff …`).
const DOCKER_CAPS: u64 = 0xa80425fb;

/// The `Cap*:` and `NoNewPrivs:` fields of a `/proc/PID/status` text.
fn field(status: &str, key: &str) -> String {
    status.lines().find_map(|l| l.strip_prefix(key)).map(|v| v.trim().to_string()).unwrap_or_default()
}

fn caps(status: &str, key: &str) -> u64 {
    u64::from_str_radix(&field(status, key), 16).unwrap_or_else(|_| panic!("{key} in {status}"))
}

/// supervise's own bounding set, which is all a root program can get.
fn our_bounding() -> u64 {
    caps(&std::fs::read_to_string("/proc/self/status").expect("status"), "CapBnd:")
}

/// `supervise OPTIONS -- cat /proc/self/status`.
fn status_under(options: &[&str]) -> String {
    let args = [options, &["--", "cat", "/proc/self/status"]].concat();
    let out = sup(&args);
    assert_eq!(out.code, Some(0), "{options:?}: {}", out.stderr);
    out.stdout
}

#[test]
fn as_root_the_builtin_policy_runs_the_program_with_dockers_capabilities() {
    if !needs_root("Docker's capability set") {
        return;
    }
    let want = DOCKER_CAPS & our_bounding();
    let status = status_under(&[]);
    for key in ["CapBnd:", "CapPrm:", "CapEff:"] {
        assert_eq!(caps(&status, key), want, "{key}\n{status}");
    }
    assert_eq!(caps(&status, "CapInh:"), 0, "{status}");
    assert_eq!(caps(&status, "CapAmb:"), 0, "{status}");
    assert_eq!(field(&status, "NoNewPrivs:"), "0", "Docker does not set NO_NEW_PRIVS: {status}");
}

#[test]
fn as_root_reboot_mount_and_the_clock_fail_as_under_docker() {
    if !needs_root("CAP_SYS_BOOT, CAP_SYS_ADMIN and CAP_SYS_TIME") {
        return;
    }
    let probe = probe_str();
    // reboot with a bad magic number: EPERM without CAP_SYS_BOOT (denied by the profile too), EINVAL with it.
    let out = sup(&["--", &probe, "reboot-bad-magic"]);
    assert_eq!(out.stdout.trim(), "err EPERM 1", "{}", out.stderr);
    let out = sup(&["--cap-add", "SYS_BOOT", "--", &probe, "reboot-bad-magic"]);
    assert_eq!(out.stdout.trim(), "err EINVAL 22", "--cap-add SYS_BOOT: {}", out.stderr);

    // mount: in a private mount namespace made outside supervise, and inside it.
    let out = run(
        "unshare",
        &[
            "-m",
            "--propagation",
            "private",
            "--",
            supervise().to_str().unwrap(),
            "--",
            "sh",
            "-c",
            "mount -t tmpfs x /mnt && echo mounted",
        ],
    );
    assert_ne!(out.code, Some(0), "{}", out.stdout);
    assert!(!out.stdout.contains("mounted"), "{}", out.stdout);
    let inner = ["unshare", "-m", "--propagation", "private", "sh", "-c", "mount -t tmpfs x /mnt && echo mounted"];
    let out = sup(&[&["--"], inner.as_slice()].concat());
    assert!(!out.stdout.contains("mounted"), "{}", out.stdout);
    assert!(out.stderr.contains("Operation not permitted"), "unshare is refused: {}", out.stderr);
    let out = sup(&[&["--cap-add", "SYS_ADMIN", "--"], inner.as_slice()].concat());
    assert_eq!(out.stdout.trim(), "mounted", "--cap-add SYS_ADMIN, in a private namespace: {}", out.stderr);

    // The clock: the profile allows clock_settime only with CAP_SYS_TIME, so it is denied before the kernel. The
    // unmapped pointer makes sure nothing could change even if it were not (EFAULT comes first).
    let before = clock();
    let out = sup(&["--", &probe, "clock_settime-fault"]);
    assert_eq!(out.stdout.trim(), "err EPERM 1", "{}", out.stderr);
    let out = sup(&["--cap-add", "SYS_TIME", "--", &probe, "clock_settime-fault"]);
    assert_eq!(out.stdout.trim(), "err EFAULT 14", "--cap-add SYS_TIME reaches the kernel: {}", out.stderr);
    let out = sup_without_sys_time(&["--", &probe, "clock_settime", "1334872800"]);
    assert_eq!(out.stdout.trim(), "err EPERM 1", "{}", out.stderr);
    assert_clock_untouched(before);
}

#[test]
fn cap_add_cap_drop_and_privileged_change_the_set_as_dockers_do() {
    if !needs_root("capability options") {
        return;
    }
    let bit = |n: u32| 1u64 << n;
    let (chown, kill, sys_ptrace, net_admin) = (bit(0), bit(5), bit(19), bit(12));
    let bounding = our_bounding();
    for (options, want) in [
        (["--cap-drop", "CHOWN"].as_slice(), DOCKER_CAPS & !chown),
        (&["--cap-drop=chown,cap_kill"], DOCKER_CAPS & !chown & !kill),
        (&["--cap-add", "SYS_PTRACE", "--cap-add", "net_admin"], DOCKER_CAPS | sys_ptrace | net_admin),
        (&["--cap-drop", "ALL", "--cap-add", "CHOWN"], chown),
        (&["--cap-add", "ALL", "--cap-drop", "CHOWN"], bounding & !chown),
        (&["--cap-add", "CHOWN", "--cap-drop", "CHOWN"], DOCKER_CAPS),
        (&["--privileged"], bounding),
    ] {
        let status = status_under(options);
        assert_eq!(caps(&status, "CapEff:"), want & bounding, "{options:?}\n{status}");
        assert_eq!(caps(&status, "CapBnd:"), want & bounding, "{options:?}\n{status}");
    }

    // --cap-drop CHOWN: chown of a file to another user fails, as in `docker run --cap-drop CHOWN`.
    let dir = temp_dir();
    let file = dir.path().join("f");
    std::fs::write(&file, "").unwrap();
    let f = file.to_str().unwrap();
    let out = sup(&["--cap-drop", "CHOWN", "--", "chown", "65534", f]);
    assert_ne!(out.code, Some(0), "chown without CAP_CHOWN: {}", out.stdout);
    assert!(out.stderr.contains("Operation not permitted"), "{}", out.stderr);
    let out = sup(&["--", "chown", "65534", f]);
    assert_eq!(out.code, Some(0), "chown with Docker's set: {}", out.stderr);
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&file).unwrap().uid(), 65534);

    // A name Docker does not know is one clear error, before anything runs.
    let out = sup(&["--cap-add", "SYS_BOTO", "--", "true"]);
    assert_own_failure(&out, 125);
    assert!(out.stderr.contains(r#"unknown capability: "CAP_SYS_BOTO""#), "{}", out.stderr);
}

#[test]
fn an_explicit_policy_alone_keeps_the_starting_capabilities() {
    if !needs_root("capabilities of root") {
        return;
    }
    let docker = policy_file("docker-default.json");
    let docker = docker.to_str().unwrap();
    let status = status_under(&["--policy", docker]);
    assert_eq!(caps(&status, "CapEff:"), our_bounding(), "{status}");
    let probe = probe_str();
    let out = sup(&["--policy", docker, "--", &probe, "reboot-bad-magic"]);
    assert_eq!(out.stdout.trim(), "err EINVAL 22", "CAP_SYS_BOOT kept, so the profile allows reboot: {}", out.stderr);
    // Any capability option starts from Docker's set, with --policy too.
    let out = sup(&["--policy", docker, "--cap-drop", "CHOWN", "--", &probe, "reboot-bad-magic"]);
    assert_eq!(out.stdout.trim(), "err EPERM 1", "{}", out.stderr);
}

#[test]
fn no_new_privs_only_with_the_option_or_when_supervise_is_unprivileged() {
    if !needs_root("NO_NEW_PRIVS as root and as nobody") {
        return;
    }
    assert_eq!(field(&status_under(&[]), "NoNewPrivs:"), "0");
    assert_eq!(
        field(&status_under(&["--policy", policy_file("docker-default.json").to_str().unwrap()]), "NoNewPrivs:"),
        "0"
    );
    assert_eq!(field(&status_under(&["--no-new-privileges"]), "NoNewPrivs:"), "1");
    let out = as_nobody(&supervise(), &["--", "cat", "/proc/self/status"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(field(&out.stdout, "NoNewPrivs:"), "1", "the kernel needs it to load a filter without CAP_SYS_ADMIN");
    assert_eq!(caps(&out.stdout, "CapEff:"), 0);

    // A set-user-ID program works as plainly: `passwd -S` as nobody reads the shadow file through its set-user-ID
    // bit (with NO_NEW_PRIVS it cannot, and prints no dates).
    let passwd = Path::new("/usr/bin/passwd");
    use std::os::unix::fs::PermissionsExt;
    if !passwd.metadata().is_ok_and(|m| m.permissions().mode() & 0o4000 != 0) {
        eprintln!("skipped half: /usr/bin/passwd is not set-user-ID here");
        return;
    }
    let as_nobody_passwd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "passwd", "-S", "nobody"];
    let plain = run(as_nobody_passwd[0], &as_nobody_passwd[1..]);
    let under = sup(&[&["--"], as_nobody_passwd.as_slice()].concat());
    assert_eq!((under.code, &under.stdout), (plain.code, &plain.stdout), "{}", under.stderr);
    let nnp = sup(&[&["--no-new-privileges", "--"], as_nobody_passwd.as_slice()].concat());
    assert_ne!(nnp.stdout, plain.stdout, "NO_NEW_PRIVS: the set-user-ID bit grants nothing: {}", nnp.stderr);
}

/// runc, given Docker's default capabilities and `noNewPrivileges: false` as `docker run` gives them, shows the
/// same capability sets as the built-in policy, and refuses mount the same way.
#[test]
fn the_capabilities_match_a_runc_container_with_dockers_defaults() {
    if !needs_root("runc") {
        return;
    }
    for tool in ["runc", "busybox"] {
        let found = std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).exists()));
        assert!(found, "{tool} is missing: install runc and busybox-static (./x setup)");
    }
    let script = "cat /proc/self/status; mount -t tmpfs x /mnt && echo mounted";
    let container = runc_with_docker_caps(script);
    let ours = run(
        "unshare",
        &["-m", "--propagation", "private", "--", supervise().to_str().unwrap(), "--", "sh", "-c", script],
    );
    for key in ["CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:", "NoNewPrivs:"] {
        assert_eq!(
            field(&ours.stdout, key),
            field(&container, key),
            "{key}\nrunc:\n{container}\nsupervise:\n{}",
            ours.stdout
        );
    }
    assert!(!container.contains("mounted") && !ours.stdout.contains("mounted"), "{container}\n{}", ours.stdout);
}

/// Runs `script` in a busybox runc container with Docker's default capabilities; returns its output.
fn runc_with_docker_caps(script: &str) -> String {
    let bundle = temp_dir();
    let rootfs = bundle.path().join("rootfs");
    for sub in ["bin", "proc", "dev", "sys", "tmp", "mnt"] {
        std::fs::create_dir_all(rootfs.join(sub)).unwrap();
    }
    let busybox = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|d| d.join("busybox"))
        .find(|p| p.exists())
        .unwrap();
    std::fs::copy(busybox, rootfs.join("bin/busybox")).unwrap();
    for applet in ["sh", "cat", "mount", "echo"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
    let mut spec = Command::new("runc");
    spec.args(["spec", "--bundle"]).arg(bundle.path());
    let out = run_with(spec, b"", TIMEOUT);
    assert_eq!(out.code, Some(0), "runc spec: {}", out.stderr);
    let path = bundle.path().join("config.json");
    let mut config: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let docker: Vec<&str> = vec![
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE",
    ];
    config["process"]["capabilities"] =
        serde_json::json!({ "bounding": docker, "effective": docker, "permitted": docker });
    config["process"]["noNewPrivileges"] = false.into();
    config["process"]["terminal"] = false.into();
    config["process"]["args"] = serde_json::json!(["sh", "-c", script]);
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    let state = temp_dir();
    let id = format!("sv-caps-{}", std::process::id());
    let mut cmd = Command::new("setpriv");
    cmd.args(["--inh-caps=-sys_time", "--bounding-set=-sys_time", "runc", "--root"]).arg(state.path());
    cmd.args(["run", "--bundle"]).arg(bundle.path()).arg(&id);
    let out = run_with(cmd, b"", TIMEOUT);
    let _ = Command::new("runc").arg("--root").arg(state.path()).args(["delete", "-f", &id]).status();
    assert!(out.stdout.contains("CapEff:"), "runc run: {}\n{}", out.stdout, out.stderr);
    out.stdout
}
