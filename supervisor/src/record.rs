//! `supervise record`: run a program with every syscall allowed and observed, then write a Docker-format profile
//! that lets the same run succeed under `supervise --policy` (and under runc with `--for runc`).
//!
//! The filter notifies every syscall (default action `SCMP_ACT_NOTIFY`) on every arch the machine runs; the
//! [`Recorder`] answers CONTINUE at once and notes (arch, number), plus argument values for `--args` syscalls.
//! That covers all threads and child processes, since they inherit the filter. The launcher's own `execve` is
//! observed too, so the profile really starts the program.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use agent::filter;
use agent::launch::{LaunchOptions, Program, ProgramError};
use proto::{Action, Arch, Decision, Errno, Policy};
use serde_json::{json, Value};

use crate::notify::{respond, Handler};
use crate::policy_file::{this_target, Source};
use crate::run::{launch_and_supervise, Failure, EXIT_CANNOT_EXECUTE, EXIT_FAILURE, EXIT_NOT_FOUND};
use crate::seccomp::{Listener, Notification, Reply};
use crate::syscalls;

/// Syscalls runc makes after it loads the filter and before the container's process runs (runc 1.1, Go runtime
/// included). `--for runc` adds them, since runc cannot start the container without them.
pub const RUNC_AFTER_LOAD: &[&str] = &[
    "capget",
    "capset",
    "chdir",
    "close",
    "close_range",
    "epoll_ctl",
    "epoll_pwait",
    "execve",
    "exit_group",
    "fchdir",
    "fchown",
    "fcntl",
    "fstat",
    "fstatfs",
    "futex",
    "getdents64",
    "getpid",
    "getppid",
    "gettid",
    "mmap",
    "mprotect",
    "munmap",
    "nanosleep",
    "newfstatat",
    "openat",
    "prctl",
    "read",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "sched_getaffinity",
    "sched_yield",
    "setgid",
    "setgroups",
    "setuid",
    "sigaltstack",
    "tgkill",
    "write",
];

/// `record` options.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    pub output: PathBuf,
    pub merge: Option<PathBuf>,
    /// Syscalls whose argument values become `args` conditions.
    pub args: Vec<String>,
    pub for_runc: bool,
    pub program: Vec<OsString>,
}

/// Values seen per argument index.
type ArgValues = BTreeMap<usize, BTreeSet<u64>>;

/// What a run made.
#[derive(Debug, Default)]
pub struct Recorder {
    seen: Mutex<BTreeSet<(Arch, i32)>>,
    /// For `--args` syscalls: name → arg index → values.
    values: Mutex<BTreeMap<(Arch, i32), ArgValues>>,
    watched: Vec<String>,
    count: AtomicUsize,
}

impl Handler for Recorder {
    fn handle(&self, listener: &Arc<Listener>, n: Notification) {
        // Answer first: the program should run as if nobody watched.
        respond(listener, &n, Reply::Continue);
        self.count.fetch_add(1, Ordering::Relaxed);
        let Some(arch) = Arch::from_audit(n.arch, n.nr) else { return };
        let new = self.seen.lock().expect("not poisoned").insert((arch, n.nr));
        if !self.watched.is_empty() {
            let name = syscalls::name_of(arch, n.nr).unwrap_or_default();
            if self.watched.contains(&name) {
                let mut values = self.values.lock().expect("not poisoned");
                let per_arg = values.entry((arch, n.nr)).or_default();
                // Record the first argument, which is what the interesting ones (personality, socket) key on.
                per_arg.entry(0).or_default().insert(n.args[0]);
            }
        }
        let _ = new;
    }
}

/// Runs the program, then writes the profile and the summary.
///
/// # Errors
/// A [`Failure`] if the program cannot be started or the profile cannot be written; the program's own failure is
/// its exit status.
pub fn record(options: &RecordOptions) -> Result<i32, Failure> {
    let merged = match &options.merge {
        Some(path) => Some(Source::open(Some(path)).map_err(|l| Failure::new(EXIT_FAILURE, l))?),
        None => None,
    };
    let base = match &merged {
        Some(source) => Some(source.load(&this_target()).map_err(|lines| Failure { code: EXIT_FAILURE, lines })?),
        None => None,
    };
    let (name, rest) = options.program.split_first().ok_or_else(|| Failure::new(EXIT_FAILURE, "no program given"))?;
    let program = Program::resolve(name, rest).map_err(|e| match e {
        ProgramError::NotFound(_) => Failure::new(EXIT_NOT_FOUND, e.to_string()),
        _ => Failure::new(EXIT_CANNOT_EXECUTE, e.to_string()),
    })?;
    let observe = Policy {
        default_action: Action::Notify,
        arches: Arch::native().runnable_on().to_vec(),
        rules: vec![],
        notify_default: Decision::Allow,
        flags: vec![],
        listener_path: None,
        listener_metadata: None,
    };
    let compiled = filter::compile(&observe).map_err(|e| Failure::new(EXIT_FAILURE, e.to_string()))?;
    let recorder = Arc::new(Recorder { watched: options.args.clone(), ..Recorder::default() });
    let progress = std::io::stderr().is_terminal().then(|| spawn_progress(recorder.clone()));
    let handler = recorder.clone();
    let status = launch_and_supervise(
        &program,
        &compiled.bpf,
        LaunchOptions { listener: true, ..LaunchOptions::default() },
        move || handler,
    );
    if let Some(stop) = progress {
        stop.store(usize::MAX, Ordering::Relaxed);
        eprint!("\r\x1b[K");
    }
    let status = status?;

    let command = options.program.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ");
    let recorded = Recorded::from_recorder(&recorder, options.for_runc);
    let previous = base.as_ref().map(allowed_names).unwrap_or_default();
    let profile = recorded.profile(&command, base.as_ref());
    write_profile(&options.output, &profile)?;
    let names = recorded.names();
    let new: Vec<&String> = names.iter().filter(|n| !previous.contains(*n)).collect();
    eprintln!(
        "supervise record: {} syscalls ({} new) written to {}{}",
        names.len(),
        new.len(),
        options.output.display(),
        if new.is_empty() {
            String::new()
        } else {
            format!(": new: {}", new.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "))
        }
    );
    Ok(status)
}

/// Prints "N syscalls seen" on the terminal every half second until told to stop.
fn spawn_progress(recorder: Arc<Recorder>) -> Arc<AtomicUsize> {
    let stop = Arc::new(AtomicUsize::new(0));
    let flag = stop.clone();
    std::thread::spawn(move || {
        while flag.load(Ordering::Relaxed) != usize::MAX {
            std::thread::sleep(std::time::Duration::from_millis(500));
            if flag.load(Ordering::Relaxed) == usize::MAX {
                break;
            }
            let distinct = recorder.seen.lock().map(|s| s.len()).unwrap_or(0);
            let total = recorder.count.load(Ordering::Relaxed);
            eprint!("\r\x1b[Ksupervise record: {distinct} distinct syscalls, {total} calls so far");
        }
    });
    stop
}

/// The recording, by name.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recorded {
    pub arches: BTreeSet<Arch>,
    pub names: BTreeSet<String>,
    /// `--args`: name → values of argument 0.
    pub values: BTreeMap<String, BTreeSet<u64>>,
}

impl Recorded {
    fn from_recorder(recorder: &Recorder, for_runc: bool) -> Recorded {
        let mut out = Recorded::default();
        out.arches.insert(Arch::native());
        for &(arch, nr) in recorder.seen.lock().expect("not poisoned").iter() {
            out.arches.insert(arch);
            if let Some(name) = syscalls::name_of(arch, nr) {
                out.names.insert(name);
            }
        }
        for (&(arch, nr), per_arg) in recorder.values.lock().expect("not poisoned").iter() {
            if let (Some(name), Some(values)) = (syscalls::name_of(arch, nr), per_arg.get(&0)) {
                out.names.remove(&name);
                out.values.entry(name).or_default().extend(values);
            }
        }
        if for_runc {
            out.names.extend(RUNC_AFTER_LOAD.iter().map(|s| s.to_string()));
        }
        out
    }

    fn names(&self) -> BTreeSet<String> {
        self.names.iter().chain(self.values.keys()).cloned().collect()
    }

    /// The Docker-format profile: `defaultAction: SCMP_ACT_ERRNO`, `defaultErrnoRet: 1`, sorted names allowed,
    /// merged with `base`'s allowed names and conditional rules.
    pub fn profile(&self, command: &str, base: Option<&Policy>) -> Value {
        let mut arches: BTreeSet<Arch> = self.arches.clone();
        let mut names = self.names.clone();
        let mut values = self.values.clone();
        if let Some(base) = base {
            arches.extend(base.arches.iter().copied());
            names.extend(allowed_names(base));
            for rule in base.rules.iter().filter(|r| r.action == Action::Allow && r.args.len() == 1) {
                let cmp = rule.args[0];
                if cmp.index == 0 && cmp.op == proto::CmpOp::Eq {
                    for name in &rule.names {
                        values.entry(name.clone()).or_default().insert(cmp.value);
                    }
                }
            }
        }
        for name in values.keys() {
            names.remove(name);
        }
        let mut rules = vec![json!({ "names": names, "action": "SCMP_ACT_ALLOW" })];
        for (name, vals) in &values {
            for value in vals {
                rules.push(json!({
                    "names": [name],
                    "action": "SCMP_ACT_ALLOW",
                    "args": [{ "index": 0, "value": value, "op": "SCMP_CMP_EQ" }],
                }));
            }
        }
        json!({
            "comment": format!("Recorded by supervise record on {}: {command}", crate::emulate::clock::utc_now_string()),
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": Errno::EPERM.get(),
            "architectures": arches.iter().map(|a| a.scmp_name()).collect::<Vec<_>>(),
            "syscalls": rules,
        })
    }
}

/// Unconditionally allowed names of a policy.
fn allowed_names(policy: &Policy) -> BTreeSet<String> {
    policy
        .rules
        .iter()
        .filter(|r| r.action == Action::Allow && r.args.is_empty())
        .flat_map(|r| r.names.clone())
        .collect()
}

fn write_profile(path: &Path, profile: &Value) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(profile).expect("a json Value serializes") + "\n";
    // Write next to the target and rename, so that a failure never leaves half a profile.
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| Failure::new(EXIT_FAILURE, format!("cannot write {}: {e}", path.display())))
}
