//! Kernel tests of the launcher: each test forks a real launcher that loads a real filter and execs a real program.
//! The filters only ever run in those children, never in the test runner.

use std::ffi::OsString;
use std::os::fd::AsRawFd;

use agent::filter::compile;
use agent::launch::{spawn, LaunchError, LaunchOptions, Program};
use libseccomp::{ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use proto::{Action, Errno, Policy, Rule};

fn policy(default_action: Action, rules: Vec<Rule>) -> Policy {
    Policy::new(default_action, rules)
}

fn rule(names: &[&str], action: Action) -> Rule {
    Rule::new(0, names, action)
}

fn sh(script: &str) -> Program {
    Program::resolve("sh".as_ref(), &[OsString::from("-c"), OsString::from(script)]).unwrap()
}

#[test]
fn the_program_runs_and_its_status_comes_back() {
    let compiled = compile(&policy(Action::Allow, vec![rule(&["reboot"], Action::Errno(Errno::EPERM))])).unwrap();
    assert!(!compiled.notifies);
    let launched = spawn(&sh("exit 3"), &compiled.bpf, LaunchOptions::default()).unwrap();
    assert!(launched.listener.is_none());
    assert_eq!(waitpid(launched.pid, None).unwrap(), WaitStatus::Exited(launched.pid, 3));
    assert!(launched.exec_error().is_none());
}

#[test]
fn a_denied_execve_is_reported_through_the_shared_page_not_a_hang() {
    let compiled = compile(&policy(Action::Allow, vec![rule(&["execve"], Action::Errno(Errno::EACCES))])).unwrap();
    let launched = spawn(&sh("exit 0"), &compiled.bpf, LaunchOptions::default()).unwrap();
    let status = waitpid(launched.pid, None).unwrap();
    assert_eq!(status, WaitStatus::Signaled(launched.pid, nix::sys::signal::SIGILL, false));
    assert_eq!(launched.exec_error().and_then(|e| e.raw_os_error()), Some(libc::EACCES));
}

#[test]
fn notifying_the_launchers_own_syscalls_never_deadlocks_the_hand_off() {
    // Everything the launcher could touch after the load is notified: the hand-off must still complete, and the
    // first notification must be the program's execve, not a syscall of the hand-off.
    let names = ["write", "sendmsg", "sendto", "close", "fcntl", "execve", "exit_group", "nanosleep", "sched_yield"];
    let compiled = compile(&policy(Action::Allow, vec![rule(&names, Action::Notify)])).unwrap();
    assert!(compiled.notifies);
    let options = LaunchOptions { listener: true, ..LaunchOptions::default() };
    let launched = spawn(&sh("exit 5"), &compiled.bpf, options).unwrap();
    let listener = launched.listener.as_ref().expect("listener fd handed over");
    let first = ScmpNotifReq::receive(listener.as_raw_fd()).unwrap();
    assert_eq!(first.pid, launched.pid.as_raw() as u32);
    assert_eq!(first.data.syscall, libseccomp::ScmpSyscall::from_name("execve").unwrap());
    let mut req = first;
    loop {
        ScmpNotifResp::new_continue(req.id, ScmpNotifRespFlags::empty()).respond(listener.as_raw_fd()).unwrap();
        if req.data.syscall == libseccomp::ScmpSyscall::from_name("exit_group").unwrap() {
            break;
        }
        req = ScmpNotifReq::receive(listener.as_raw_fd()).unwrap();
    }
    assert_eq!(waitpid(launched.pid, None).unwrap(), WaitStatus::Exited(launched.pid, 5));
}

#[test]
fn the_listener_fd_is_not_inherited_by_the_program() {
    let compiled = compile(&policy(Action::Allow, vec![rule(&["swapon"], Action::Notify)])).unwrap();
    let options = LaunchOptions { listener: true, ..LaunchOptions::default() };
    // The program fails if any of its fds is a seccomp listener.
    let script = "for f in /proc/self/fd/*; do case $(readlink $f) in *seccomp*) exit 9;; esac; done; exit 0";
    let launched = spawn(&sh(script), &compiled.bpf, options).unwrap();
    assert!(launched.listener.is_some());
    assert_eq!(waitpid(launched.pid, None).unwrap(), WaitStatus::Exited(launched.pid, 0));
}

#[test]
fn a_second_listener_in_the_same_chain_is_ebusy() {
    // The outer launcher runs this very test binary's `nested_launch` mode under a listener filter.
    let compiled = compile(&policy(Action::Allow, vec![rule(&["swapon"], Action::Notify)])).unwrap();
    let exe = std::env::current_exe().unwrap();
    let args: Vec<OsString> =
        ["--exact", "nested_launch_helper", "--nocapture", "--include-ignored"].map(Into::into).to_vec();
    let program = Program::resolve(exe.as_os_str(), &args).unwrap();
    std::env::set_var("SUPERVISE_NESTED_HELPER", "1");
    let launched =
        spawn(&program, &compiled.bpf, LaunchOptions { listener: true, ..LaunchOptions::default() }).unwrap();
    std::env::remove_var("SUPERVISE_NESTED_HELPER");
    let status = waitpid(launched.pid, None).unwrap();
    assert_eq!(status, WaitStatus::Exited(launched.pid, 0), "the nested launch must fail with EBUSY");
}

/// Runs inside `a_second_listener_in_the_same_chain_is_ebusy`: a launch under a listener must fail with EBUSY.
#[test]
#[ignore = "runs as the child of a_second_listener_in_the_same_chain_is_ebusy"]
fn nested_launch_helper() {
    if std::env::var_os("SUPERVISE_NESTED_HELPER").is_none() {
        return;
    }
    let compiled = compile(&policy(Action::Allow, vec![rule(&["swapon"], Action::Notify)])).unwrap();
    let err =
        spawn(&sh("exit 0"), &compiled.bpf, LaunchOptions { listener: true, ..LaunchOptions::default() }).unwrap_err();
    assert!(matches!(err, LaunchError::Load(nix::errno::Errno::EBUSY)), "{err:?}");
    assert!(err.to_string().contains("EBUSY"));
}

#[test]
fn unknown_names_are_skipped_and_reported() {
    let compiled =
        compile(&policy(Action::Allow, vec![rule(&["mkdir", "no_such_call"], Action::Errno(Errno::EPERM))])).unwrap();
    assert_eq!(compiled.skipped, vec![(0, "no_such_call".to_string())]);
}

#[test]
fn the_planned_capabilities_and_no_new_privs_are_what_the_program_starts_with() {
    use agent::caps::{plan, CapState};
    let state = CapState::current().unwrap();
    if !state.root {
        eprintln!("skipped: lowering the bounding set needs root");
        return;
    }
    let compiled = compile(&policy(Action::Allow, vec![rule(&["reboot"], Action::Errno(Errno::EPERM))])).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("status");
    let script = format!("grep -E '^(Cap|NoNewPrivs)' /proc/self/status > {}", out.display());
    // CAP_CHOWN and CAP_KILL only, NO_NEW_PRIVS as asked.
    let keep = 1 << 0 | 1 << 5;
    for no_new_privs in [false, true] {
        let plan = plan(&state, Some(keep), no_new_privs);
        let options = LaunchOptions { privileges: plan.privileges, ..LaunchOptions::default() };
        let launched = spawn(&sh(&script), &compiled.bpf, options).unwrap();
        assert_eq!(waitpid(launched.pid, None).unwrap(), WaitStatus::Exited(launched.pid, 0));
        let status = std::fs::read_to_string(&out).unwrap();
        let field = |key: &str| status.lines().find_map(|l| l.strip_prefix(key)).unwrap().trim().to_string();
        for key in ["CapBnd:", "CapPrm:", "CapEff:"] {
            assert_eq!(u64::from_str_radix(&field(key), 16).unwrap(), keep & state.bounding, "{key} {status}");
        }
        assert_eq!(plan.program_caps, keep & state.bounding);
        assert_eq!(field("NoNewPrivs:"), if no_new_privs { "1" } else { "0" });
    }
}

#[test]
fn a_capability_change_the_kernel_refuses_stops_the_launch_with_its_step() {
    use agent::caps::{CapSets, Privileges, Step};
    let compiled = compile(&policy(Action::Allow, vec![])).unwrap();
    // An effective set that is not a subset of the permitted one: capset(2) refuses it (EPERM) for every user.
    let privileges =
        Privileges { sets: Some(CapSets { effective: 1, permitted: 0, inheritable: 0 }), ..Privileges::default() };
    let err =
        spawn(&sh("exit 0"), &compiled.bpf, LaunchOptions { privileges, ..LaunchOptions::default() }).unwrap_err();
    assert!(matches!(err, LaunchError::Setup(Step::Capset, nix::errno::Errno::EPERM)), "{err:?}");
    assert_eq!(err.to_string(), "cannot lower the capability sets: Operation not permitted");
}
