//! `supervise -- PROGRAM`: load the policy, compile it, launch the program under it, serve its notifications, and
//! exit with the program's own status.
//!
//! Exit statuses (as with podman, `env` and `chroot`): the program's status, or 128+N if signal N killed it;
//! 125 when supervise itself fails; 126 when the program cannot be executed (including "execve blocked by the
//! policy"); 127 when it is not found.

use std::sync::Arc;

use agent::filter;
use agent::launch::{self, LaunchError, LaunchOptions, Launched, Program, ProgramError};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use proto::{Action, Arch, Decision, Policy};
use tokio::signal::unix::{signal, SignalKind};
use tracing::{debug, error, info};

use crate::cli::RunArgs;
use crate::decide::{Decider, Event, Facts};
use crate::notify::{Handler, PolicyHandler};
use crate::policy_file::{this_target, Source};
use crate::prompt::save::Saver;
use crate::prompt::tty::TtyPrompter;
use crate::prompt::Prompts;
use crate::seccomp::Listener;

/// supervise's own failure: an exit status and the lines to print (each gets the `supervise: ` prefix).
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub lines: Vec<String>,
}

impl Failure {
    pub fn new(code: i32, line: impl Into<String>) -> Failure {
        Failure { code, lines: vec![line.into()] }
    }
}

pub const EXIT_FAILURE: i32 = 125;
pub const EXIT_CANNOT_EXECUTE: i32 = 126;
pub const EXIT_NOT_FOUND: i32 = 127;

/// Runs the program under the policy and returns the exit status to use.
///
/// # Errors
/// A [`Failure`] (125, 126 or 127) when the program could not be started as asked; nothing was started then.
pub fn run(args: &RunArgs) -> Result<i32, Failure> {
    let source = Source::open(args.policy.as_deref()).map_err(|line| Failure::new(EXIT_FAILURE, line))?;
    let policy = source.load(&this_target()).map_err(|lines| Failure { code: EXIT_FAILURE, lines })?;
    let (name, rest) = args.program.split_first().ok_or_else(|| Failure::new(EXIT_FAILURE, "no program given"))?;
    let program = Program::resolve(name, rest).map_err(|e| match e {
        ProgramError::NotFound(_) => Failure::new(EXIT_NOT_FOUND, e.to_string()),
        _ => Failure::new(EXIT_CANNOT_EXECUTE, e.to_string()),
    })?;
    let decider = Decider::new(&policy);
    if let Some(why) = execve_blocked(&policy, &decider) {
        return Err(Failure::new(
            EXIT_CANNOT_EXECUTE,
            format!("cannot run {}: the policy blocks execve ({why})", program.display()),
        ));
    }
    let compiled = agent::cache::compile_cached(&policy).map_err(|e| {
        let message = match source.parse() {
            Ok(profile) => crate::check::explain_compile_error(&e, &profile).1,
            Err(_) => e.to_string(),
        };
        Failure::new(EXIT_FAILURE, format!("{}: {message}", source.name))
    })?;
    for (index, name) in &compiled.skipped {
        debug!(rule = index, syscall = %name, "syscall unknown on this architecture: skipped");
    }
    let options = LaunchOptions {
        listener: compiled.notifies,
        extra_flags: seccomp_flags(&policy),
        on_supervisor_exit: args.on_supervisor_exit.into(),
    };
    let decider = Arc::new(decider);
    let saver = args.save_decisions.as_ref().map(|path| Saver::new(path, &source.text));
    launch_and_supervise(&program, &compiled.bpf, options, move || {
        let prompts = Prompts::with_saver(if decider.prompts() { open_terminal() } else { None }, saver);
        Arc::new(PolicyHandler { decider, prompts })
    })
}

/// Launches `program` under `bpf`, serves its listener with the handler that `make_handler` builds (inside the
/// runtime), reaps the program and its orphans, and returns the program's exit status.
///
/// # Errors
/// A [`Failure`] if the launch fails (the filter cannot be installed: 125) or exec fails (126/127).
pub fn launch_and_supervise<H: Handler>(
    program: &Program,
    bpf: &filter::Bpf,
    options: LaunchOptions,
    make_handler: impl FnOnce() -> Arc<H>,
) -> Result<i32, Failure> {
    // Orphaned descendants of the program are reparented to us, so that the session can wait for all of them.
    // SAFETY: prctl(2) PR_SET_CHILD_SUBREAPER on this process; no memory is passed.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let launched = launch::spawn(program, bpf, options).map_err(|e| match e {
        LaunchError::Load(_) => Failure::new(EXIT_FAILURE, e.to_string()),
        _ => Failure::new(EXIT_FAILURE, format!("cannot start {}: {e}", program.display())),
    })?;
    info!(pid = launched.pid.as_raw(), program = program.display(), listener = launched.listener.is_some(), "started");

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| {
        launch::kill_launched(launched.pid);
        Failure::new(EXIT_FAILURE, format!("cannot start the async runtime: {e}"))
    })?;
    runtime.block_on(async move { supervise(launched, make_handler(), program.display()).await })
}

/// Serves the listener and reaps the program and its orphans; returns the program's exit status.
async fn supervise<H: Handler>(mut launched: Launched, handler: Arc<H>, display: &str) -> Result<i32, Failure> {
    let io_failure = |e: std::io::Error| Failure::new(EXIT_FAILURE, format!("cannot watch signals: {e}"));
    let mut sigchld = signal(SignalKind::child()).map_err(io_failure)?;
    let mut forwarded = Vec::new();
    for kind in
        [SignalKind::terminate(), SignalKind::hangup(), SignalKind::user_defined1(), SignalKind::user_defined2()]
    {
        forwarded.push((kind, signal(kind).map_err(io_failure)?));
    }
    // Terminal-generated SIGINT and SIGQUIT already reach the program (same process group); supervise stays up to
    // serve it until it exits.
    let _sigint = signal(SignalKind::interrupt()).map_err(io_failure)?;
    let _sigquit = signal(SignalKind::quit()).map_err(io_failure)?;

    let mut notify =
        launched.listener.take().map(|fd| tokio::spawn(crate::notify::serve(Arc::new(Listener::new(fd)), handler)));
    let app = launched.pid;
    let mut app_status = None;
    loop {
        reap(app, &mut app_status);
        if app_status.is_some() && notify.is_none() {
            break;
        }
        tokio::select! {
            _ = sigchld.recv() => {}
            result = async { notify.as_mut().expect("guarded").await }, if notify.is_some() => {
                match result {
                    Ok(Ok(())) => debug!("every target is gone"),
                    Ok(Err(e)) => error!(error = %e, "notify loop failed: closing the listener (notified syscalls now fail with ENOSYS)"),
                    Err(e) => error!(error = %e, "notify loop panicked: closing the listener"),
                }
                notify = None;
            }
            Some(sig) = next_signal(&mut forwarded) => {
                if app_status.is_none() {
                    debug!(signal = sig, "forwarding signal to the program");
                    // SAFETY: kill(2) with a valid signal number and the pid of our child, which is not reaped yet
                    // (only `reap` reaps, and it has not seen it exit), so the pid cannot have been reused.
                    unsafe { libc::kill(app.as_raw(), sig) };
                } else {
                    // Its pid may belong to another process by now.
                    debug!(signal = sig, "the program has exited: signal not forwarded");
                }
            }
        }
    }
    let status = app_status.expect("loop exits with a status");
    exit_code(status, &launched, display)
}

async fn next_signal(signals: &mut [(SignalKind, tokio::signal::unix::Signal)]) -> Option<i32> {
    let futures = signals.iter_mut().map(|(kind, s)| {
        let n = kind.as_raw_value();
        Box::pin(async move { s.recv().await.map(|()| n) })
    });
    futures_select(futures.collect()).await
}

/// Waits for the first of several futures (a tiny `select_all`).
async fn futures_select<F: std::future::Future<Output = Option<i32>> + Unpin>(mut futures: Vec<F>) -> Option<i32> {
    std::future::poll_fn(|cx| {
        for f in futures.iter_mut() {
            if let std::task::Poll::Ready(v) = std::pin::Pin::new(f).poll(cx) {
                return std::task::Poll::Ready(v);
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// Reaps every exited child (the program and reparented orphans); records the program's status.
fn reap(app: Pid, app_status: &mut Option<WaitStatus>) {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(status) => {
                if status.pid() == Some(app) {
                    *app_status = Some(status);
                }
            }
        }
    }
}

fn exit_code(status: WaitStatus, launched: &Launched, display: &str) -> Result<i32, Failure> {
    match status {
        WaitStatus::Exited(_, code) => Ok(code),
        WaitStatus::Signaled(_, sig, _) => {
            if let Some(err) = launched.exec_error() {
                let code = if err.raw_os_error() == Some(libc::ENOENT) { EXIT_NOT_FOUND } else { EXIT_CANNOT_EXECUTE };
                return Err(Failure::new(code, format!("cannot execute {display}: {err}")));
            }
            Ok(128 + sig as i32)
        }
        other => Ok(match other.pid() {
            Some(_) => EXIT_FAILURE,
            None => EXIT_FAILURE,
        }),
    }
}

/// The controlling terminal for questions, if there is one.
fn open_terminal() -> Option<Box<dyn crate::prompt::Prompter>> {
    match TtyPrompter::open() {
        Ok(tty) => Some(Box::new(tty)),
        Err(e) => {
            tracing::warn!(error = %e, "no terminal for prompts: onTimeout applies to every prompt rule");
            None
        }
    }
}

/// If the policy certainly stops the launcher's own `execve` on the native arch, says how.
fn execve_blocked(policy: &Policy, decider: &Decider) -> Option<String> {
    let rules: Vec<_> = policy.rules.iter().filter(|r| r.names.iter().any(|n| n == "execve")).collect();
    if rules.iter().any(|r| !r.args.is_empty()) {
        return None; // Depends on the arguments: let the kernel decide, and report a failure afterwards.
    }
    let (action, place) = match rules.first() {
        Some(rule) => (rule.action, format!("syscalls[{}]", rule.index)),
        None => (policy.default_action, "defaultAction".to_string()),
    };
    let blocked = match action {
        Action::Errno(_) | Action::KillThread | Action::KillProcess | Action::Trap | Action::Trace(_) => true,
        Action::Allow | Action::Log => false,
        Action::Notify => {
            let nr = crate::syscalls::number_of("execve", Arch::native())?;
            let event = Event { arch: Arch::native(), nr, args: [0; 6] };
            decider.needs(&event) == Default::default()
                && matches!(decider.decide(&event, &Facts::default()).decision, Decision::Deny(_))
        }
    };
    blocked.then(|| format!("{place}: {}", action.name()))
}

fn seccomp_flags(policy: &Policy) -> u32 {
    policy
        .flags
        .iter()
        .map(|f| match f.as_str() {
            "SECCOMP_FILTER_FLAG_LOG" => launch::SECCOMP_FILTER_FLAG_LOG,
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => launch::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            _ => 0,
        })
        .fold(0, |a, b| a | b)
}
