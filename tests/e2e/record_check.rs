//! `supervise record` and `supervise check`, and the CLI polish around them: record → replay gives the same output,
//! the profile holds only what the run made, merges and argument values, a busybox profile recorded with
//! `--for runc` runs in a real runc container; `check` summaries, errors with their places, warnings, exit codes,
//! `--format json` and `--bpf`; completions and the man page.

mod addresses;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::{run, run_with, sup, temp_dir, write_policy, Output, TIMEOUT};

/// `supervise record --output OUT [extra…] -- program…`, run in `cwd`.
fn record(out: &Path, extra: &[&str], program: &[&str], cwd: &Path) -> Output {
    let mut cmd = Command::new(crate::support::supervise());
    cmd.arg("record").arg("--output").arg(out).args(extra).arg("--").args(program).current_dir(cwd);
    run_with(cmd, b"", TIMEOUT)
}

/// `supervise --policy POLICY -- program…`, run in `cwd`.
fn replay(policy: &Path, program: &[&str], cwd: &Path) -> Output {
    let mut cmd = Command::new(crate::support::supervise());
    cmd.arg("--policy").arg(policy).arg("--").args(program).current_dir(cwd);
    run_with(cmd, b"", TIMEOUT)
}

fn profile(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()))
}

/// The names allowed by a profile's rules (with or without conditions).
fn allowed(profile: &Value) -> BTreeSet<String> {
    profile["syscalls"]
        .as_array()
        .expect("syscalls")
        .iter()
        .filter(|r| r["action"] == "SCMP_ACT_ALLOW")
        .flat_map(|r| r["names"].as_array().expect("names").iter().map(|n| n.as_str().expect("a name").to_string()))
        .collect()
}

fn python() -> Option<&'static str> {
    let works = Command::new("python3").args(["-c", "print(1)"]).output().is_ok_and(|o| o.status.success());
    works.then_some("python3")
}

#[test]
fn recorded_profiles_replay_the_same_run() {
    let py = python().map(|p| vec![p, "-c", r#"import json, os; print(os.listdir("."))"#]);
    let programs: Vec<Vec<&str>> =
        [Some(vec!["ls", "/"]), Some(vec!["sh", "-c", "echo hi | cat"]), py].into_iter().flatten().collect();
    for program in programs {
        let dir = temp_dir();
        let work = dir.path().join("work");
        std::fs::create_dir(&work).unwrap();
        std::fs::write(work.join("a-file"), "x").unwrap();
        let out_path = dir.path().join("out.json");
        let recorded = record(&out_path, &[], &program, &work);
        assert_eq!(recorded.code, Some(0), "{program:?}: {}", recorded.stderr);
        assert!(!recorded.stdout.is_empty(), "{program:?}");
        let replayed = replay(&out_path, &program, &work);
        assert_eq!(replayed.code, Some(0), "{program:?} replayed: {}", replayed.stderr);
        assert_eq!(replayed.stdout, recorded.stdout, "{program:?}: same output under the recorded profile");

        let p = profile(&out_path);
        assert_eq!((p["defaultAction"].as_str(), p["defaultErrnoRet"].as_u64()), (Some("SCMP_ACT_ERRNO"), Some(1)));
        assert!(p["architectures"].as_array().is_some_and(|a| !a.is_empty()), "{p}");
        assert!(p["comment"].as_str().unwrap().contains(program[0]), "the comment names the command: {p}");
        if program[0] == "sh" {
            assert!(p["comment"].as_str().unwrap().ends_with(": sh -c 'echo hi | cat'"), "the argv is quoted: {p}");
        }
        let names: Vec<&str> =
            p["syscalls"][0]["names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted, "names are sorted");
        // Only what the run made: nothing like these.
        for never in ["reboot", "mount", "umount2", "kexec_load", "init_module", "swapon", "pivot_root", "ptrace"] {
            assert!(!names.contains(&never), "{program:?} never calls {never}: {names:?}");
        }
        for made in ["execve", "exit_group"] {
            assert!(names.contains(&made), "{program:?} calls {made}: {names:?}");
        }
        // A recorded profile is valid and has nothing to warn about.
        let checked = sup(&["check", out_path.to_str().unwrap()]);
        assert_eq!(checked.code, Some(0), "{}", checked.stderr);
        assert!(!checked.stderr.contains("warning"), "{}", checked.stderr);
    }
}

#[test]
fn the_summary_goes_to_stderr_without_terminal_codes() {
    let dir = temp_dir();
    let out_path = dir.path().join("p.json");
    let out = record(&out_path, &[], &["sh", "-c", "echo out; echo err >&2; exit 3"], dir.path());
    assert_eq!(out.code, Some(3), "the program's own status: {}", out.stderr);
    assert_eq!(out.stdout, "out\n", "stdout is the program's alone");
    assert!(out.stderr.starts_with("err\n"), "{:?}", out.stderr);
    assert!(
        !out.stderr.contains('\x1b') && !out.stderr.contains('\r'),
        "no progress line off a terminal: {:?}",
        out.stderr
    );
    let summary: Vec<&str> = out.stderr.lines().skip(1).collect();
    assert!(summary[0].starts_with("supervise record: ") && summary[0].contains(" syscalls seen in "), "{summary:?}");
    assert!(summary[0].contains(" new: ") && summary[0].contains("execve"), "the new names are listed: {summary:?}");
    assert!(summary[1].contains(&format!("wrote {}", out_path.display())), "{summary:?}");
    assert!(summary[2].contains("exited with status 3"), "{summary:?}");
    assert!(out_path.exists(), "the profile is written even when the program fails");
}

#[test]
fn an_existing_profile_is_not_overwritten_without_force() {
    let dir = temp_dir();
    let p = dir.path().join("p.json");
    std::fs::write(&p, "{\"defaultAction\": \"SCMP_ACT_ALLOW\"}\n").unwrap();
    let out = record(&p, &[], &["sh", "-c", "touch ran"], dir.path());
    crate::support::assert_own_failure(&out, 125);
    let shown = p.display();
    assert_eq!(
        out.stderr.trim_end(),
        format!(
            "supervise: --output {shown}: the file exists; give --force to replace it, or --merge {shown} to add to it"
        )
    );
    assert!(!dir.path().join("ran").exists(), "nothing ran");
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "{\"defaultAction\": \"SCMP_ACT_ALLOW\"}\n", "the file is kept");
    let forced = record(&p, &["--force"], &["true"], dir.path());
    assert_eq!(forced.code, Some(0), "{}", forced.stderr);
    assert_eq!(profile(&p)["defaultAction"], "SCMP_ACT_ERRNO", "replaced with --force");
}

#[test]
fn syscalls_libseccomp_cannot_name_are_reported() {
    let Some(py) = python() else {
        eprintln!("skipped: no python3");
        return;
    };
    // 462 is mseal (Linux 6.10), unknown to libseccomp 2.5.4; seccomp notifies it whether or not the kernel has it.
    let dir = temp_dir();
    let p = dir.path().join("p.json");
    let program = [py, "-c", "import ctypes; ctypes.CDLL(None).syscall(462, 0, 0, 0); print('ok')"];
    let out = record(&p, &[], &program, dir.path());
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    if allowed(&profile(&p)).contains("mseal") {
        eprintln!("skipped: this libseccomp names mseal");
        return;
    }
    let arch = native_scmp_arch();
    let warning = out.stderr.lines().find(|l| l.contains("warning")).unwrap_or_else(|| panic!("{}", out.stderr));
    assert!(warning.starts_with("supervise record: warning: 1 syscall the run made cannot be named by libseccomp "));
    assert!(warning.contains(" and is not in the profile"), "{warning}");
    assert!(
        warning.ends_with(&format!("the profile (it will fail with EPERM on replay): {arch} 462 (mseal)")),
        "{warning}"
    );
    let comment = profile(&p)["comment"].as_str().unwrap().to_string();
    assert!(comment.ends_with(&format!("(not allowed, libseccomp cannot name them: {arch} 462 (mseal))")), "{comment}");
}

#[test]
fn merging_two_recordings_allows_both_runs() {
    let dir = temp_dir();
    let p = dir.path().join("p.json");
    let first = record(&p, &["--merge", p.to_str().unwrap()], &["ls", "/"], dir.path());
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    assert!(first.stderr.contains("does not exist yet: starting a new profile"), "{}", first.stderr);
    let before = allowed(&profile(&p));
    // Under the first profile, the pipeline cannot run.
    let pipeline = ["sh", "-c", "echo hi | cat"];
    assert_ne!(replay(&p, &pipeline, dir.path()).stdout, "hi\n");

    let second = record(&p, &["--merge", p.to_str().unwrap()], &pipeline, dir.path());
    assert_eq!(second.code, Some(0), "{}", second.stderr);
    let after = allowed(&profile(&p));
    assert!(after.is_superset(&before), "nothing is lost: {:?}", before.difference(&after).collect::<Vec<_>>());
    let new: Vec<&String> = after.difference(&before).collect();
    assert!(!new.is_empty());
    let line = second.stderr.lines().next().unwrap_or_default();
    assert!(line.contains(&format!("{} new: ", new.len())), "the summary counts the new names: {line} vs {new:?}");
    for name in &new {
        assert!(line.contains(name.as_str()), "{name} is named: {line}");
    }
    assert!(profile(&p)["comment"].as_str().unwrap().contains("; on "), "both runs in the comment");
    for program in [&["ls", "/"][..], &pipeline] {
        let out = replay(&p, program, dir.path());
        assert_eq!(out.code, Some(0), "{program:?}: {}", out.stderr);
    }
    assert_eq!(replay(&p, &pipeline, dir.path()).stdout, "hi\n");
}

#[test]
fn args_become_conditions() {
    let Some(py) = python() else {
        eprintln!("skipped: no python3");
        return;
    };
    let dir = temp_dir();
    let p = dir.path().join("p.json");
    let unix = "import socket; socket.socket(socket.AF_UNIX); print('ok')";
    let out = record(&p, &["--args", "socket"], &[py, "-c", unix], dir.path());
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let v = profile(&p);
    let socket: Vec<&Value> = v["syscalls"].as_array().unwrap().iter().filter(|r| r["names"][0] == "socket").collect();
    assert_eq!(socket.len(), 1, "one rule per value seen: {v}");
    assert_eq!(socket[0]["args"], serde_json::json!([{"index": 0, "value": libc::AF_UNIX, "op": "SCMP_CMP_EQ"}]));
    assert_eq!(socket[0]["comment"], "socket argument 0: AF_UNIX", "the value's name, for people: {v}");
    assert!(!v["syscalls"][0]["names"].as_array().unwrap().contains(&"socket".into()), "not allowed unconditionally");
    assert_eq!(replay(&p, &[py, "-c", unix], dir.path()).stdout, "ok\n");
    let inet = replay(&p, &[py, "-c", "import socket; socket.socket(socket.AF_INET)"], dir.path());
    assert_ne!(inet.code, Some(0));
    assert!(inet.stderr.contains("PermissionError"), "another family is denied: {}", inet.stderr);
    // A misspelt syscall is refused before anything runs.
    let bad = record(&p, &["--args", "sockt"], &["true"], dir.path());
    crate::support::assert_own_failure(&bad, 125);
    assert!(bad.stderr.contains("did you mean \"socket\""), "{}", bad.stderr);
}

/// A busybox root filesystem and an OCI bundle for runc; the container is deleted on drop.
struct Bundle {
    dir: tempfile::TempDir,
    id: String,
}

impl Bundle {
    fn new() -> Option<Bundle> {
        let runc = Command::new("runc").arg("--version").output().is_ok_and(|o| o.status.success());
        if !crate::support::is_root() || !runc {
            eprintln!("skipped: the runc test needs root and runc");
            return None;
        }
        if !is_static_elf(Path::new("/bin/busybox")) {
            eprintln!("skipped: the runc test needs a static /bin/busybox (Debian's busybox-static)");
            return None;
        }
        let dir = temp_dir();
        let rootfs = dir.path().join("rootfs");
        for sub in ["bin", "proc", "sys", "dev", "tmp", "etc"] {
            std::fs::create_dir_all(rootfs.join(sub)).unwrap();
        }
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
        let mut cmd = Command::new("runc");
        cmd.arg("spec").current_dir(dir.path());
        assert_eq!(run_with(cmd, b"", TIMEOUT).code, Some(0), "runc spec");
        let id = format!("supervise-e2e-{}", std::process::id());
        Some(Bundle { dir, id })
    }

    /// Runs `args` in the container under `seccomp`, with `noNewPrivileges` as given.
    fn run(&self, seccomp: &Value, args: &[&str], no_new_privileges: bool) -> Output {
        let config = self.dir.path().join("config.json");
        let mut spec: Value = serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
        spec["root"]["readonly"] = false.into();
        spec["process"]["terminal"] = false.into();
        spec["process"]["noNewPrivileges"] = no_new_privileges.into();
        spec["process"]["args"] = serde_json::json!(args);
        spec["linux"]["seccomp"] = seccomp.clone();
        std::fs::write(&config, serde_json::to_string_pretty(&spec).unwrap()).unwrap();
        let out = run("runc", &["run", "-b", self.dir.path().to_str().unwrap(), &self.id]);
        let _ = run("runc", &["delete", "-f", &self.id]);
        out
    }
}

/// True for a 64-bit little-endian ELF executable without a program interpreter (`PT_INTERP`): it runs in a root
/// filesystem that has nothing else.
fn is_static_elf(path: &Path) -> bool {
    let Ok(elf) = std::fs::read(path) else { return false };
    let u16_at = |at: usize| elf.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let u32_at = |at: usize| elf.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let u64_at =
        |at: usize| elf.get(at..at + 8).and_then(|b| usize::try_from(u64::from_le_bytes(b.try_into().ok()?)).ok());
    if elf.get(..6) != Some(&[0x7f, b'E', b'L', b'F', 2, 1][..]) {
        return false;
    }
    let (Some(phoff), Some(size), Some(count)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38)) else { return false };
    const PT_INTERP: u32 = 3;
    (0..count).all(|i| u32_at(phoff + i * size).is_some_and(|t| t != PT_INTERP))
}

#[test]
fn static_executables_are_told_apart() {
    assert!(!is_static_elf(Path::new("/bin/sh")), "dash and bash need ld.so");
    assert!(!is_static_elf(Path::new("/etc/hostname")));
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = Command::new("runc").args(["delete", "-f", &self.id]).output();
    }
}

#[test]
fn a_profile_recorded_for_runc_runs_busybox_in_runc() {
    let Some(bundle) = Bundle::new() else { return };
    let dir = temp_dir();
    let command = ["/bin/busybox", "ls", "/"];
    let plain = dir.path().join("plain.json");
    let for_runc = dir.path().join("runc.json");
    assert_eq!(record(&plain, &[], &command, dir.path()).code, Some(0));
    let out = record(&for_runc, &["--for", "runc"], &command, dir.path());
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.contains("added for runc"), "{}", out.stderr);
    let marked = profile(&for_runc)["syscalls"].as_array().unwrap().iter().any(|r| {
        r["comment"].as_str().is_some_and(|c| c.starts_with("added by --for runc: "))
            && r["names"].as_array().is_some_and(|n| n.contains(&"capset".into()))
    });
    assert!(marked, "the runc additions are marked: {}", profile(&for_runc));

    // Without what runc needs after it loads the filter, the container cannot start.
    let without = bundle.run(&profile(&plain), &command, true);
    assert_ne!(without.code, Some(0), "{without:?}");
    // With it: in both of runc's orders (noNewPrivileges loads the filter last; Docker's default, without it,
    // loads it before runc switches user), a few times, since the Go runtime's calls vary from run to run.
    for no_new_privileges in [true, false] {
        for _ in 0..5 {
            let out = bundle.run(&profile(&for_runc), &command, no_new_privileges);
            assert_eq!(out.code, Some(0), "noNewPrivileges {no_new_privileges}: {out:?}");
            let listing: Vec<&str> = out.stdout.lines().collect();
            for entry in ["bin", "proc", "tmp"] {
                assert!(listing.contains(&entry), "{listing:?}");
            }
        }
    }
}

const VALID: &str = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
  {"names":["mkdir","mkdirat"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"deny","errnoRet":"EACCES"}},
  {"names":["reboot"],"action":"SCMP_ACT_ERRNO"}]}"#;

const INVALID: &str = r#"{"defaultAction":"SCMP_ACT_ERRNO",
  "architectures":["SCMP_ARCH_X86_64","amd65"],
  "syscalls":[{"names":["read"],"action":"SCMP_ACT_FOO"},{"names":["write"],"acton":"SCMP_ACT_ALLOW"}]}"#;

const WARNINGS: &str = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
  {"names":["mkdri"],"action":"SCMP_ACT_ERRNO"},
  {"names":["rmdir"],"action":"SCMP_ACT_ERRNO"},
  {"names":["rmdir"],"action":"SCMP_ACT_LOG","args":[{"index":0,"value":0,"op":"SCMP_CMP_EQ"}]},
  {"names":["unlink"],"action":"SCMP_ACT_ERRNO"},
  {"names":["unlink"],"action":"SCMP_ACT_KILL"},
  {"names":["execve"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"allow"}},
  {"names":["stat"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"deny","paths":["/etc/**"]},"comentt":"x"}]}"#;

fn check_files(args: &[&str], files: &[(&str, &str)]) -> (Output, tempfile::TempDir) {
    let dir = temp_dir();
    let paths: Vec<PathBuf> = files.iter().map(|(name, json)| write_policy(dir.path(), name, json)).collect();
    let mut all: Vec<&str> = vec!["check"];
    all.extend_from_slice(args);
    all.extend(paths.iter().map(|p| p.to_str().unwrap()));
    (sup(&all), dir)
}

#[test]
fn check_summarizes_valid_files() {
    let (out, dir) = check_files(&[], &[("valid.json", VALID)]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let name = dir.path().join("valid.json");
    let want = format!(
        "{}: ok\n  default action: SCMP_ACT_ALLOW\n  architectures: {}\n  rules: 2 (SCMP_ACT_ERRNO 1, SCMP_ACT_NOTIFY \
         1)\n  notified syscalls: mkdir, mkdirat\n",
        name.display(),
        native_scmp_arch()
    );
    assert_eq!(out.stdout, want);
    assert_eq!(out.stderr, "");
}

fn native_scmp_arch() -> &'static str {
    if cfg!(target_arch = "x86_64") {
        "SCMP_ARCH_X86_64"
    } else {
        "SCMP_ARCH_AARCH64"
    }
}

#[test]
fn check_reports_every_error_with_its_place_and_exits_1() {
    let (out, dir) = check_files(&[], &[("bad.json", INVALID), ("valid.json", VALID)]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let bad = dir.path().join("bad.json").display().to_string();
    let want = [
        format!("supervise: {bad}: architectures[1]: unknown architecture \"amd65\""),
        format!("supervise: {bad}: syscalls[0] (read): unknown action \"SCMP_ACT_FOO\""),
        format!("supervise: {bad}: syscalls[1] (write): missing \"action\" (for example \"SCMP_ACT_ALLOW\")"),
        format!(
            "supervise: {bad}: warning: syscalls[1]: unknown key \"acton\" is ignored (as Docker and runc ignore \
             it); did you mean \"action\"?"
        ),
        "supervise: 1 of 2 policies invalid".to_string(),
    ];
    assert_eq!(out.stderr.lines().collect::<Vec<_>>(), want);
    assert!(out.stdout.contains("valid.json: ok"), "the valid file still gets its summary: {}", out.stdout);
    assert!(!out.stdout.contains("bad.json"), "{}", out.stdout);
    // A JSON syntax error gives line:column.
    let (out, dir) = check_files(&[], &[("syntax.json", "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n}")]);
    assert_eq!(out.code, Some(1));
    let first = out.stderr.lines().next().unwrap();
    assert!(first.starts_with(&format!("supervise: {}:3:1: ", dir.path().join("syntax.json").display())), "{first}");
}

#[test]
fn check_warns_without_failing() {
    let (out, dir) = check_files(&[], &[("warn.json", WARNINGS)]);
    assert_eq!(out.code, Some(0), "warnings alone keep the file valid: {}", out.stderr);
    let file = dir.path().join("warn.json").display().to_string();
    let version = out.stderr.split("(to libseccomp ").nth(1).and_then(|s| s.split(')').next()).unwrap_or("?");
    let arch = native_scmp_arch();
    // The golden text, without the `supervise: FILE: ` prefix; the libseccomp version and the arch vary.
    let want = include_str!("record_check/check-warnings.golden").replace("{version}", version).replace("{arch}", arch);
    let prefix = format!("supervise: {file}: ");
    let got: String = out.stderr.lines().map(|l| format!("{}\n", l.strip_prefix(&prefix).unwrap_or(l))).collect();
    assert_eq!(got, want);
    // --strict makes warnings fatal, for CI.
    let (strict, _dir) = check_files(&["--strict"], &[("warn.json", WARNINGS)]);
    assert_eq!(strict.code, Some(1));
    assert!(strict.stderr.ends_with("supervise: 1 of 1 policies have warnings (--strict)\n"), "{}", strict.stderr);
}

#[test]
fn check_warns_about_repeated_keys_and_uses_the_last_as_docker_does() {
    let text = r#"{"DEFAULTACTION":"SCMP_ACT_ALLOW","defaultaction":"SCMP_ACT_KILL",
      "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","Action":"SCMP_ACT_LOG"},
        {"names":["execve"],"action":"SCMP_ACT_ALLOW"}]}"#;
    let (out, dir) = check_files(&[], &[("dup.json", text)]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let file = dir.path().join("dup.json").display().to_string();
    let want = [
        format!(
            "supervise: {file}: warning: key \"defaultaction\" is written 2 times (\"DEFAULTACTION\", \"defaultaction\"); \
             the last one wins, as in Docker's decoder, which matches keys in any case"
        ),
        format!(
            "supervise: {file}: warning: syscalls[0]: key \"Action\" is written 2 times (\"action\", \"Action\"); the \
             last one wins, as in Docker's decoder, which matches keys in any case"
        ),
    ];
    let mut got: Vec<&str> = out.stderr.lines().collect();
    got.sort_unstable();
    assert_eq!(got, want);
    assert!(out.stdout.contains("default action: SCMP_ACT_KILL_THREAD\n"), "KILL, as Docker reads it: {}", out.stdout);
    assert!(out.stdout.contains("SCMP_ACT_LOG 1") && !out.stdout.contains("ERRNO"), "{}", out.stdout);
    let (strict, _dir) = check_files(&["--strict"], &[("dup.json", text)]);
    assert_eq!(strict.code, Some(1), "{}", strict.stderr);
}

#[test]
fn check_names_only_real_syscalls_and_suggests_errno_names() {
    let text = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
      {"names":["mkdir","mkdri"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"deny"}}]}"#;
    let (out, _dir) = check_files(&[], &[("n.json", text)]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("\n  notified syscalls: mkdir\n"), "the misspelt name is not listed: {}", out.stdout);
    assert!(out.stderr.contains("did you mean \"mkdir\"?"), "{}", out.stderr);

    let text = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
      {"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":"EACES"}]}"#;
    let (out, dir) = check_files(&[], &[("e.json", text)]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let file = dir.path().join("e.json").display().to_string();
    let first = out.stderr.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        format!(
            "supervise: {file}: syscalls[0] (mkdir): errnoRet: unknown errno name \"EACES\" (did you mean \"EACCES\"?)"
        )
    );
}

#[test]
fn a_policy_too_large_for_the_kernel_says_so_in_check_and_at_load() {
    // 2,000 argument rules: about 65,700 BPF instructions, which libseccomp 2.5 counts in 16 bits (it would export a
    // truncated program of 136); the kernel takes 4096.
    let names = ["ioctl", "fcntl", "prctl", "socket", "personality", "setsockopt", "getsockopt", "madvise", "mprotect"];
    let names = names.iter().chain(&["mmap", "munmap", "lseek", "dup3", "kill", "tgkill", "futex", "flock", "umask"]);
    let rules: Vec<String> = names
        .chain(&["setpgid", "getpgid"])
        .flat_map(|n| {
            (0..100).map(move |v| {
                format!(r#"{{"names":["{n}"],"action":"SCMP_ACT_ERRNO","args":[{{"index":1,"value":{v},"op":"SCMP_CMP_EQ"}}]}}"#)
            })
        })
        .collect();
    let text = format!(r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{}]}}"#, rules.join(","));
    let (out, dir) = check_files(&[], &[("big.json", &text)]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let file = dir.path().join("big.json").display().to_string();
    let first = out.stderr.lines().next().unwrap_or_default();
    let want = format!("supervise: {file}: the filter is at least ");
    assert!(first.starts_with(&want), "{first}");
    assert!(
        first.contains(" BPF instructions, at least ")
            && first.ends_with(" over the kernel's limit of 4096: the kernel would refuse it (EINVAL); use fewer rules or argument conditions"),
        "{first}"
    );
    let size: usize = first[want.len()..].split(' ').next().unwrap().parse().unwrap();
    assert!(size > 65536, "{first}");
    assert!(first.contains(&format!("at least {} over", size - 4096)), "{first}");
    // At load: one line, 125, nothing run.
    let marker = dir.path().join("ran");
    let run = sup(&["--policy", &file, "--", "touch", marker.to_str().unwrap()]);
    crate::support::assert_own_failure(&run, 125);
    assert!(run.stderr.contains(" BPF instructions, at least "), "{}", run.stderr);
    assert!(!marker.exists(), "nothing ran");
}

#[test]
fn check_json_is_one_document_for_ci() {
    let (out, _dir) =
        check_files(&["--format", "json"], &[("bad.json", INVALID), ("warn.json", WARNINGS), ("valid.json", VALID)]);
    assert_eq!(out.code, Some(1));
    let doc: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
    assert_eq!(doc["valid"], false);
    let files = doc["files"].as_array().unwrap();
    assert_eq!(files.len(), 3);
    assert_eq!((&files[0]["valid"], files[0]["errors"].as_array().unwrap().len()), (&false.into(), 3));
    assert_eq!(files[0]["errors"][1]["place"], "syscalls[0] (read)");
    assert_eq!(files[0]["errors"][1]["rule"], 0);
    assert_eq!(files[1]["valid"], true);
    let typo = files[1]["warnings"].as_array().unwrap().iter().find(|w| w["code"] == "unknown-syscall").unwrap();
    assert_eq!(typo["suggestion"], "mkdir");
    assert_eq!(files[2]["summary"]["notified"], serde_json::json!(["mkdir", "mkdirat"]));
    assert_eq!(files[2]["summary"]["rulesPerAction"]["SCMP_ACT_NOTIFY"], 1);
}

#[test]
fn check_bpf_prints_the_filter() {
    let (out, _dir) = check_files(&["--bpf"], &[("valid.json", VALID)]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("# pseudo filter code start"), "{}", out.stdout);
    assert!(out.stdout.contains("if ($syscall == 169)") || !cfg!(target_arch = "x86_64"), "reboot: {}", out.stdout);
    assert!(out.stdout.contains("if ($syscall =="), "{}", out.stdout);
    let (json, _dir) = check_files(&["--bpf", "--format", "json"], &[("valid.json", VALID)]);
    let doc: Value = serde_json::from_str(&json.stdout).unwrap();
    assert!(doc["files"][0]["pfc"].as_str().unwrap().contains("action ALLOW"), "{doc}");
}

#[test]
fn completions_for_each_shell_and_the_man_page() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = sup(&["completions", shell]);
        assert_eq!(out.code, Some(0), "{shell}: {}", out.stderr);
        for word in ["supervise", "record", "check", "--policy"] {
            assert!(out.stdout.contains(word), "{shell} completes {word}");
        }
    }
    let dir = temp_dir();
    let script = dir.path().join("supervise.bash");
    std::fs::write(&script, sup(&["completions", "bash"]).stdout).unwrap();
    assert_eq!(run("bash", &["-n", script.to_str().unwrap()]).code, Some(0), "the bash script parses");

    let page = dir.path().join("supervise.1");
    std::fs::write(&page, sup(&["man"]).stdout).unwrap();
    let mut man = Command::new("man");
    man.args(["-l", page.to_str().unwrap()]).env("MANPAGER", "cat").env("MANWIDTH", "100");
    let rendered = run_with(man, b"", Duration::from_secs(20));
    if rendered.code == Some(0) {
        for section in ["NAME", "SYNOPSIS", "OPTIONS", "--policy", "record", "check"] {
            assert!(rendered.stdout.contains(section), "{section} in {}", rendered.stdout);
        }
    } else {
        eprintln!("skipped rendering: man -l failed: {}", rendered.stderr);
    }
    let pages = dir.path().join("man1");
    std::fs::create_dir(&pages).unwrap();
    assert_eq!(sup(&["man", "--dir", pages.to_str().unwrap()]).code, Some(0));
    for name in ["supervise.1", "supervise-record.1", "supervise-check.1", "supervise-serve.1"] {
        let text = std::fs::read_to_string(pages.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(text.starts_with(".ie") || text.contains(".TH"), "{name}: {text}");
    }
}

#[test]
fn every_help_ends_with_examples() {
    for sub in [
        &["--help"][..],
        &["check", "--help"],
        &["record", "--help"],
        &["serve", "--help"],
        &["completions", "--help"],
        &["man", "--help"],
    ] {
        let out = sup(sub);
        assert_eq!(out.code, Some(0), "{sub:?}");
        let examples = out.stdout.split("Examples:").nth(1).unwrap_or_else(|| panic!("{sub:?}: {}", out.stdout));
        let lines = examples.lines().filter(|l| l.trim_start().starts_with("supervise ")).count();
        assert!(lines >= 2, "{sub:?} shows two or three real examples: {examples}");
    }
}
