//! Issue 20: `supervise --audit` (what a profile would refuse, and which rule) and `check --explain`.
//!
//! - A C program makes a known list of refused calls (an ERRNO rule, a KILL rule, a notify rule that denies, the
//!   default action) from 4 threads and 3 children: it runs to completion under `--audit`, and the JSON report has
//!   exactly those calls with their counts and rules. The `--audit-fix` profile then runs it under enforcement.
//! - `unshare -U true` as uid 65534 under the built-in Docker profile: the report names Docker's CAP_SYS_ADMIN rule.
//! - `check --explain` agrees with the kernel: for each call of a fidelity list, the filter `supervise --policy`
//!   loads in the program's process gives the errno (or the SIGSYS) the explanation says.
//!
//! Every audited run is without CAP_SYS_TIME (audit mode refuses nothing), in a temporary directory.

use std::path::Path;

use serde_json::Value;

use crate::reliability::cc;
use crate::support::{as_nobody, policy_file, sup_without_sys_time, supervise, temp_dir, write_policy};

/// `prog 1` makes the refused calls, `prog 0` only the rest; "done" at the end. Raw syscalls: what the filter sees
/// is exactly what the test counts.
const REFUSER: &str = r#"
#include <sys/sysinfo.h>

static int on;

static void *worker(void *unused) {
    (void)unused;
    for (int i = 0; i < 5; i++)
        if (on) syscall(SYS_getpriority, 0, 0);
    return NULL;
}

int main(int argc, char **argv) {
    struct sysinfo si;
    on = argc > 1 && argv[1][0] == '1';
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    for (int c = 0; c < 3; c++) {
        pid_t p = fork();
        if (p == 0) {
            if (on) {
                syscall(SYS_sysinfo, &si);
                syscall(SYS_sysinfo, &si);
                syscall(SYS_getpgid, 0);
            }
            _exit(0);
        }
        waitpid(p, NULL, 0);
    }
    if (on) {
        for (int i = 0; i < 3; i++) syscall(SYS_getpriority, 0, 0);
        for (int i = 0; i < 4; i++) syscall(SYS_sysinfo, &si);
        syscall(SYS_getpgid, 0);
        syscall(SYS_getsid, 0);
        syscall(SYS_getsid, 0);
    }
    printf("done\n");
    return 0;
}
"#;

/// `sysraw NR [ARG...]`: one raw syscall; prints `ok VALUE` or `err ERRNO`.
const SYSRAW: &str = r#"
int main(int argc, char **argv) {
    long a[7] = {0};
    for (int i = 1; i < argc && i <= 7; i++) a[i - 1] = strtol(argv[i], NULL, 0);
    long r = syscall(a[0], a[1], a[2], a[3], a[4], a[5], a[6]);
    if (r == -1) printf("err %d\n", errno); else printf("ok %ld\n", r);
    return 0;
}
"#;

/// Docker's default profile with getpriority refused by an ERRNO rule (EACCES), getsid by a KILL rule, getpgid by
/// a notify rule that denies (EOPNOTSUPP), and sysinfo left to the default (EPERM): rules 0, 1, 2.
fn refusing_profile() -> String {
    let text = std::fs::read_to_string(policy_file("docker-default.json")).expect("docker profile");
    let mut profile: Value = serde_json::from_str(&text).expect("json");
    let ours = ["getpriority", "getsid", "getpgid", "sysinfo"];
    for rule in profile["syscalls"].as_array_mut().expect("syscalls") {
        if let Some(names) = rule["names"].as_array_mut() {
            names.retain(|n| !ours.contains(&n.as_str().unwrap_or_default()));
        }
    }
    let added: Vec<Value> = serde_json::from_str(
        r#"[
        {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "comment": "no priorities here"},
        {"names": ["getsid"], "action": "SCMP_ACT_KILL_PROCESS"},
        {"names": ["getpgid"], "action": "SCMP_ACT_NOTIFY", "supervise": {"decision": "deny", "errnoRet": "EOPNOTSUPP"}}
    ]"#,
    )
    .unwrap();
    let rules = profile["syscalls"].as_array_mut().unwrap();
    for (i, rule) in added.into_iter().enumerate() {
        rules.insert(i, rule);
    }
    serde_json::to_string_pretty(&profile).unwrap()
}

/// (syscall, count, outcome, errno, rule, decided by the default) of one report entry.
type Row = (String, u64, String, Option<u64>, Option<u64>, bool);

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

#[test]
fn audit_reports_exactly_the_refused_calls_of_threads_and_children_and_its_fix_runs_enforced() {
    let dir = temp_dir();
    let prog = cc("audit-refuser", REFUSER);
    let policy = write_policy(dir.path(), "p.json", &refusing_profile());
    let (report, fixed) = (dir.path().join("report.json"), dir.path().join("fixed.json"));
    let out = sup_without_sys_time(&[
        "--audit",
        "--caps",
        "ALL",
        "--policy",
        s(&policy),
        "--audit-format",
        "json",
        "--audit-report",
        s(&report),
        "--audit-fix",
        s(&fixed),
        "--",
        s(&prog),
        "1",
    ]);
    assert_eq!((out.code, out.stdout.as_str()), (Some(0), "done\n"), "nothing refused: {}", out.stderr);
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    let mut got: Vec<Row> = doc["refused"]
        .as_array()
        .expect("refused")
        .iter()
        .map(|e| {
            (
                e["syscall"].as_str().unwrap().to_string(),
                e["count"].as_u64().unwrap(),
                e["outcome"].as_str().unwrap().to_string(),
                e["errno"].as_u64(),
                e["rule"].as_u64(),
                e["default"].as_bool().unwrap(),
            )
        })
        .collect();
    got.sort();
    let want = vec![
        ("getpgid".to_string(), 1 + 3, "deny".to_string(), Some(95), Some(2), false),
        ("getpriority".into(), 3 + 4 * 5, "errno".into(), Some(13), Some(0), false),
        ("getsid".into(), 2, "kill".into(), None, Some(1), false),
        ("sysinfo".into(), 4 + 3 * 2, "errno".into(), Some(1), None, true),
    ];
    assert_eq!(got, want, "{doc:#}");
    let priority = doc["refused"].as_array().unwrap().iter().find(|e| e["syscall"] == "getpriority").unwrap();
    assert_eq!(priority["ruleComment"], "no priorities here");
    assert!(priority["firstExe"].as_str().unwrap().ends_with(prog.file_name().unwrap().to_str().unwrap()));
    assert_eq!(doc["change"]["allow"], serde_json::json!(["getpgid", "getpriority", "getsid", "sysinfo"]));
    assert!(out.stderr.contains("wrote") && !out.stderr.contains("would still be refused"), "{}", out.stderr);

    // Enforced: the profile as it was kills the program; the fixed one lets it through.
    let plain = sup_without_sys_time(&["--policy", s(&policy), "--", s(&prog), "1"]);
    assert_eq!(plain.code, Some(128 + libc::SIGSYS), "{plain:?}");
    let enforced = sup_without_sys_time(&["--policy", s(&fixed), "--", s(&prog), "1"]);
    assert_eq!((enforced.code, enforced.stdout.as_str()), (Some(0), "done\n"), "{}", enforced.stderr);
    // A run that makes none of those calls has nothing to report.
    let quiet = sup_without_sys_time(&["--audit", "--caps", "ALL", "--policy", s(&policy), "--", s(&prog), "0"]);
    assert_eq!(quiet.code, Some(0));
    assert!(quiet.stderr.contains("would have refused nothing"), "{}", quiet.stderr);
}

#[test]
fn audit_of_unshare_as_nobody_names_dockers_cap_sys_admin_rule() {
    if !crate::support::needs_root("switching to uid 65534") {
        return;
    }
    let out = as_nobody(&supervise(), &["--audit", "--", "unshare", "-U", "true"]);
    let err = &out.stderr;
    assert!(err.contains("  unshare: 1 call, would fail with EPERM"), "{err}");
    assert!(err.contains("    rule: defaultAction SCMP_ACT_ERRNO (EPERM)"), "{err}");
    assert!(err.contains("not applying here: syscalls[17] SCMP_ACT_ALLOW (bpf, clone, clone3, fanotify_init, … 22 more): includes caps CAP_SYS_ADMIN"), "{err}");
    assert!(err.contains("to let this run through: allow unshare"), "{err}");
    // Enforced, as in Docker: EPERM.
    let enforced = as_nobody(&supervise(), &["--", "unshare", "-U", "true"]);
    assert_ne!(enforced.code, Some(0), "{enforced:?}");
}

/// A profile whose rules cover libseccomp's orderings: errnos above 3000 no syscall returns by itself.
const FIDELITY: &str = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
    {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 3001},
    {"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 3002, "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]},
    {"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 3003, "args": [{"index": 0, "value": 100000, "op": "SCMP_CMP_GT"}]},
    {"names": ["getsid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 3004, "args": [{"index": 0, "value": 4096, "valueTwo": 4096, "op": "SCMP_CMP_MASKED_EQ"}]},
    {"names": ["getsid"], "action": "SCMP_ACT_KILL_PROCESS", "args": [{"index": 0, "value": 7, "op": "SCMP_CMP_EQ"}]},
    {"names": ["sysinfo"], "action": "SCMP_ACT_TRAP"},
    {"names": ["umask"], "action": "SCMP_ACT_ERRNO", "errnoRet": 3005, "args": [{"index": 0, "value": 18, "op": "SCMP_CMP_NE"}]},
    {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 3006},
    {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 3007},
    {"names": ["getitimer"], "action": "SCMP_ACT_ERRNO", "errnoRet": 3008, "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]},
    {"names": ["getitimer"], "action": "SCMP_ACT_ERRNO", "errnoRet": 3009},
    {"names": ["getuid"], "action": "SCMP_ACT_NOTIFY", "supervise": {"decision": "deny", "errnoRet": 3010}}
]}"#;

#[test]
fn check_explain_agrees_with_the_kernel_on_the_fidelity_list() {
    let dir = temp_dir();
    let sysraw = cc("audit-sysraw", SYSRAW);
    let ours = write_policy(dir.path(), "fidelity.json", FIDELITY);
    let docker = policy_file("docker-default.json");
    let cases: &[(&Path, &str, &[&str])] = &[
        (&ours, "getpriority", &["0", "0"]),
        (&ours, "getpgid", &["0"]),
        (&ours, "getpgid", &["1"]),
        (&ours, "getpgid", &["200000"]),
        (&ours, "getsid", &["0"]),
        (&ours, "getsid", &["4097"]),
        (&ours, "getsid", &["7"]),
        (&ours, "sysinfo", &["0"]),
        (&ours, "umask", &["18"]),
        (&ours, "umask", &["19"]),
        (&ours, "getppid", &[]),
        (&ours, "getitimer", &["1", "0"]),
        (&ours, "getitimer", &["0", "0"]),
        (&ours, "getuid", &[]),
        (&ours, "getegid", &[]),
        (&docker, "socket", &["38", "1", "0"]),
        (&docker, "socket", &["40", "1", "0"]),
        (&docker, "socket", &["1", "1", "0"]),
        (&docker, "personality", &["0xffffffff"]),
        (&docker, "personality", &["0x1000"]),
        (&docker, "clone3", &["0", "0"]),
        (&docker, "unshare", &["0"]),
        (&docker, "getppid", &[]),
    ];
    for (policy, name, args) in cases {
        let explain = [&["check", s(policy), "--format", "json", "--explain", name], *args].concat();
        let out = sup_without_sys_time(&explain);
        assert_eq!(out.code, Some(0), "{explain:?}: {}", out.stderr);
        let e: Value = serde_json::from_str(&out.stdout).expect("json");
        let nr = e["nr"].as_i64().unwrap().to_string();
        let call = [&["--policy", s(policy), "--", s(&sysraw), nr.as_str()], *args].concat();
        let kernel = sup_without_sys_time(&call);
        let what = format!("{name}{args:?} under {}: explained {e}, kernel {kernel:?}", policy.display());
        let action = e["action"].as_str().unwrap();
        match action {
            "SCMP_ACT_ERRNO" => {
                let errno = e["errno"].as_u64().unwrap();
                assert_eq!(kernel.stdout.trim(), format!("err {errno}"), "{what}");
            }
            "SCMP_ACT_KILL_PROCESS" | "SCMP_ACT_KILL_THREAD" | "SCMP_ACT_TRAP" => {
                assert_eq!(kernel.code, Some(128 + libc::SIGSYS), "{what}");
            }
            "SCMP_ACT_NOTIFY" => {
                let decision = e["supervise"].as_str().unwrap();
                let errno = decision.strip_prefix("deny (").and_then(|d| d.strip_suffix(')')).expect("a deny");
                assert_eq!(kernel.stdout.trim(), format!("err {errno}"), "{what}");
            }
            "SCMP_ACT_ALLOW" => {
                assert_eq!(kernel.code, Some(0), "{what}");
                let is_docker = *policy == docker.as_path();
                let refused = ["err 1", "err 38"].contains(&kernel.stdout.trim()) && is_docker
                    || kernel.stdout.trim().starts_with("err 30");
                assert!(!refused, "{what}");
            }
            other => panic!("{what}: unexpected {other}"),
        }
    }
}

#[test]
fn audit_reports_an_architecture_the_profile_does_not_list_and_the_fix_adds_it() {
    if !cfg!(target_arch = "x86_64") {
        return;
    }
    let dir = temp_dir();
    let policy = write_policy(
        dir.path(),
        "p.json",
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"]}"#,
    );
    let fixed = dir.path().join("fixed.json");
    let probe = crate::support::probe_str();
    let audit = ["--audit", "--policy", s(&policy), "--audit-fix", s(&fixed), "--", &probe, "x86-int80-getpid"];
    let out = sup_without_sys_time(&audit);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.contains("  getpid [SCMP_ARCH_X86]: 1 call, would be killed"), "{}", out.stderr);
    assert!(out.stderr.contains("rule: architecture SCMP_ARCH_X86 not in the profile"), "{}", out.stderr);
    assert!(out.stderr.contains("to let this run through: add the architectures SCMP_ARCH_X86"), "{}", out.stderr);
    let plain = sup_without_sys_time(&["--policy", s(&policy), "--", &probe, "x86-int80-getpid"]);
    assert_eq!(plain.code, Some(128 + libc::SIGSYS), "{plain:?}");
    let enforced = sup_without_sys_time(&["--policy", s(&fixed), "--", &probe, "x86-int80-getpid"]);
    assert_eq!(enforced.code, Some(0), "{enforced:?}");
}

#[test]
fn check_explain_agrees_with_the_kernel_on_i386_calls() {
    if !cfg!(target_arch = "x86_64") {
        return;
    }
    let dir = temp_dir();
    let probe = crate::support::probe_str();
    let rules = r#""syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 3011}]"#;
    for (arches, want) in [
        (r#"["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]"#, "SCMP_ACT_ERRNO"),
        (r#"["SCMP_ARCH_X86_64"]"#, "SCMP_ACT_KILL_PROCESS"),
    ] {
        let json = format!(r#"{{"defaultAction": "SCMP_ACT_ALLOW", "architectures": {arches}, {rules}}}"#);
        let policy = write_policy(dir.path(), "p.json", &json);
        let out =
            sup_without_sys_time(&["check", s(&policy), "--format", "json", "--explain", "getpid", "--arch", "x86"]);
        let e: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|_| panic!("{out:?}"));
        assert_eq!(e["action"], want, "{e}");
        let kernel = sup_without_sys_time(&["--policy", s(&policy), "--", &probe, "x86-int80-getpid"]);
        match want {
            "SCMP_ACT_ERRNO" => assert!(kernel.stdout.trim().ends_with(" 3011"), "{arches}: {kernel:?}"),
            _ => assert_eq!(kernel.code, Some(128 + libc::SIGSYS), "{arches}: {kernel:?}"),
        }
    }
}

#[test]
fn audit_asks_nobody_and_keeps_emulating() {
    let dir = temp_dir();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::write(&a, "").unwrap();
    std::fs::write(&b, "").unwrap();
    // A prompt rule: nobody is asked, the calls go through and are reported as questions, not as a change.
    let prompt = policy_file("prompt-delete.json");
    let out = sup_without_sys_time(&["--audit", "--policy", s(&prompt), "--", "rm", s(&a), s(&b)]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(!a.exists() && !b.exists(), "both removed");
    assert!(out.stderr.contains("2 calls, supervise would ask (and deny it with EACCES"), "{}", out.stderr);
    assert!(out.stderr.contains("nothing to change: the calls above are asked about"), "{}", out.stderr);
    // An emulating rule keeps emulating: date believes it set the clock, which is untouched, and nothing is reported.
    let before = crate::support::clock();
    let clock = policy_file("clock-emulate.json");
    let out = sup_without_sys_time(&["--audit", "--policy", s(&clock), "--", "date", "-s", "19 APR 2012 22:00:00"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("2012"), "{}", out.stdout);
    assert!(out.stderr.contains("would have refused nothing"), "{}", out.stderr);
    crate::support::assert_clock_untouched(before);
}
