//! Docker's default profile: moby's `default.json` (`tests/fixtures/moby/`), its copy in policies/docker-default.json
//! and the built-in policy used without `--policy` run real programs, and block user namespaces for a user without
//! CAP_SYS_ADMIN, as Docker does. Every moby fixture loads.

use std::path::{Path, PathBuf};

use crate::support::{as_nobody, fixture, needs_root, policy_file, probe_str, run, sup, supervise};

/// The three spellings of Docker's default profile: the moby fixture, the shipped copy, the built-in one.
fn docker_defaults() -> [Option<PathBuf>; 3] {
    [Some(fixture("moby/default.json")), Some(policy_file("docker-default.json")), None]
}

/// `supervise [--policy P] -- ARGS…`.
fn under(policy: &Option<PathBuf>, args: &[&str]) -> crate::support::Output {
    let mut all: Vec<&str> = Vec::new();
    if let Some(p) = policy {
        all.extend(["--policy", p.to_str().unwrap()]);
    }
    all.push("--");
    all.extend_from_slice(args);
    sup(&all)
}

#[test]
fn the_docker_default_profile_runs_ls_sh_and_python() {
    for policy in docker_defaults() {
        for (cmd, want) in [
            (["ls", "/"].as_slice(), "usr\n"),
            (&["sh", "-c", "echo hi"], "hi\n"),
            (&["python3", "-c", "print(1)"], "1\n"),
        ] {
            let out = under(&policy, cmd);
            assert_eq!(out.code, Some(0), "{policy:?} {cmd:?}: {}", out.stderr);
            assert!(out.stdout.contains(want), "{policy:?} {cmd:?}: {}", out.stdout);
        }
    }
}

#[test]
fn the_docker_default_profile_blocks_user_namespaces_for_unprivileged_users() {
    if !needs_root("unshare -U as nobody") {
        return;
    }
    let unshare = Path::new("/usr/bin/unshare");
    let plain = as_nobody(unshare, &["-U", "true"]);
    if plain.code == Some(0) {
        eprintln!("unshare -U true as uid 65534 without supervise: allowed");
    } else {
        eprintln!("skipped half: this host forbids unprivileged user namespaces ({})", plain.stderr.trim());
    }
    for policy in docker_defaults() {
        let mut args: Vec<&str> = Vec::new();
        if let Some(p) = &policy {
            args.extend(["--policy", p.to_str().unwrap()]);
        }
        args.extend(["--", "unshare", "-U", "true"]);
        let out = as_nobody(&supervise(), &args);
        assert_ne!(out.code, Some(0), "{policy:?}: unshare -U must fail under Docker's default profile");
        assert!(out.stderr.contains("Operation not permitted"), "{policy:?}: {}", out.stderr);
        let probe = probe_str();
        let args: Vec<&str> = args[..args.len() - 3].iter().copied().chain([probe.as_str(), "unshare-user"]).collect();
        let out = as_nobody(&supervise(), &args);
        assert_eq!(out.stdout.trim(), "err EPERM 1", "{policy:?}: {}", out.stderr);
    }
}

#[test]
fn the_docker_default_profile_follows_the_starting_capabilities() {
    if !needs_root("capability-dependent rules") {
        return;
    }
    // An explicit policy, root with CAP_SYS_ADMIN: Docker's default allows unshare (the rule includes caps:
    // CAP_SYS_ADMIN).
    let docker = policy_file("docker-default.json");
    let docker = docker.to_str().unwrap();
    let out = sup(&["--policy", docker, "--", "unshare", "-U", "true"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    // Root without CAP_SYS_ADMIN in its bounding set: the rule does not apply, and unshare is denied.
    let exe = supervise();
    let out = run(
        "setpriv",
        &["--bounding-set=-sys_admin", exe.to_str().unwrap(), "--policy", docker, "--", "unshare", "-U", "true"],
    );
    assert_ne!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.contains("Operation not permitted"), "{}", out.stderr);
    // The built-in policy as root is Docker's capability set too (no CAP_SYS_ADMIN) unless --cap-add gives it.
    let out = sup(&["--", "unshare", "-U", "true"]);
    assert!(out.stderr.contains("Operation not permitted"), "{}", out.stderr);
    let out = sup(&["--cap-add", "SYS_ADMIN", "--", "unshare", "-U", "true"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

#[test]
fn every_moby_fixture_loads_and_means_what_docker_says() {
    let dir = fixture("moby");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let check = sup(&["check", path.to_str().unwrap()]);
        assert!(!check.stderr.contains("panicked"), "check {name}: {}", check.stderr);
        let run = sup(&["--policy", path.to_str().unwrap(), "--", "sh", "-c", "echo ok"]);
        match name.as_str() {
            "default.json" | "default-old-format.json" => {
                assert_eq!(check.code, Some(0), "check {name}: {}{}", check.stdout, check.stderr);
                assert_eq!((run.code, run.stdout.as_str()), (Some(0), "ok\n"), "{name}: {}", run.stderr);
            }
            "example.json" => {
                // Its rule 3 has `errnoRet: 12345`, beyond the kernel's 4095: libseccomp (and so runc) cannot
                // install it. Loading it may succeed, or fail with the rule and the value named.
                if check.code != Some(0) {
                    assert_eq!(check.code, Some(1), "check {name}: {}", check.stderr);
                    assert!(
                        check.stderr.contains("syscalls[3]") && check.stderr.contains("12345"),
                        "check {name} names the rule and the errno: {}",
                        check.stderr
                    );
                }
                // It denies execve by default: Docker could not start anything under it either.
                assert!(matches!(run.code, Some(125 | 126)), "{name}: {}", run.stderr);
                assert!(run.stderr.starts_with("supervise:"), "{name}: {}", run.stderr);
            }
            _ => {
                assert_eq!(check.code, Some(0), "check {name}: {}{}", check.stdout, check.stderr);
                if run.code != Some(0) {
                    // A small example that denies everything it does not list, execve included.
                    crate::support::assert_own_failure(&run, 126);
                    assert!(run.stderr.contains("execve"), "{name}: {}", run.stderr);
                }
            }
        }
        count += 1;
    }
    assert!(count >= 4, "the moby fixtures are in {}", dir.display());
}
