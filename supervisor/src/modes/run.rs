//! `supervise -- PROGRAM`: load the policy, compile it, launch the program under it, serve its notifications, and
//! exit with the program's own status.
//!
//! Exit statuses (as with podman, `env` and `chroot`): the program's status, or 128+N if signal N killed it;
//! 125 when supervise itself fails; 126 when the program cannot be executed (including "execve blocked by the
//! policy"); 127 when it is not found.

use std::sync::Arc;

use agent::caps::{self, CapState, Plan};
use agent::filter;
use agent::launch::{self, LaunchError, LaunchOptions, Launched, Program, ProgramError};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use proto::profile::Target;
use proto::{Action, Arch, Decision, Policy};
use tokio::signal::unix::{signal, SignalKind};
use tracing::{debug, error, info, warn};

use crate::cli::RunArgs;
use crate::core::decide::{Decider, Event, Facts};
use crate::core::notify::{Handler, PolicyHandler};
use crate::core::prompt::job::Job;
use crate::core::prompt::save::Saver;
use crate::core::prompt::tty::TtyPrompter;
use crate::core::prompt::Prompts;
use crate::kernel::listener::Listener;
use crate::modes::capabilities;
use crate::modes::policy_file::{this_target, Source};
use crate::modes::signals::{self, Context, Incoming, Received, Verdict};

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
    let plan = privileges(args)?;
    let target = Target { caps: plan.program_caps, ..this_target() };
    let policy = source.load(&target).map_err(|lines| Failure { code: EXIT_FAILURE, lines })?;
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
            Ok(profile) => crate::modes::check::explain_compile_error(&e, &profile).1,
            Err(_) => e.to_string(),
        };
        Failure::new(EXIT_FAILURE, format!("{}: {message}", source.name))
    })?;
    for (index, name) in &compiled.skipped {
        debug!(rule = index, syscall = %name, "syscall unknown on this architecture: skipped");
    }
    // Questions at the terminal: the program runs as a job of its own, so that a question can take the terminal.
    let job = if decider.prompts() { Job::prepare() } else { None };
    let options = LaunchOptions {
        listener: compiled.notifies,
        extra_flags: seccomp_flags(&policy),
        on_supervisor_exit: args.on_supervisor_exit.into(),
        foreground: job.is_some(),
        privileges: plan.privileges,
        ..LaunchOptions::default()
    };
    let decider = Arc::new(decider);
    let saver = args.save_decisions.as_ref().map(|path| Saver::new(path, &source.text));
    let unanswerable = crate::core::prompt::unanswerable(&policy);
    let program_job = job.clone();
    let status = launch_and_supervise(&program, &compiled.bpf, options, move |app| {
        if let Some(job) = program_job {
            job.started(app);
            tokio::spawn(job.watch(app));
        }
        let terminal = if decider.prompts() { open_terminal(unanswerable.as_deref()) } else { None };
        let prompts = Prompts::with_saver(terminal, saver);
        Arc::new(PolicyHandler { decider, prompts })
    });
    if let Some(job) = job {
        job.finish();
    }
    status
}

/// The program's capabilities and NO_NEW_PRIVS. The built-in policy, and any of --cap-add, --cap-drop and
/// --privileged, give the program Docker's set as changed by the options; an explicit --policy alone leaves the
/// capabilities as they are. NO_NEW_PRIVS only with --no-new-privileges, or where the launcher cannot do without
/// it (see [`caps::plan`]).
///
/// # Errors
/// A bad capability name, or supervise's own sets cannot be read (125).
fn privileges(args: &RunArgs) -> Result<Plan, Failure> {
    let asked = !args.cap_add.is_empty() || !args.cap_drop.is_empty() || args.privileged;
    let keep = if args.policy.is_none() || asked {
        Some(
            capabilities::effective(&args.cap_add, &args.cap_drop, args.privileged)
                .map_err(|line| Failure::new(EXIT_FAILURE, line))?,
        )
    } else {
        None
    };
    let state = CapState::current()
        .map_err(|e| Failure::new(EXIT_FAILURE, format!("cannot read supervise's capabilities: {e}")))?;
    let plan = caps::plan(&state, keep, args.no_new_privileges);
    let missing = capabilities::named_adds(&args.cap_add) & !plan.program_caps;
    if missing != 0 {
        let why = if state.root { "supervise does not hold it" } else { "supervise is not root" };
        warn!("--cap-add: the program does not get {} ({why})", capabilities::names(missing).join(", "));
    }
    debug!(
        caps = %capabilities::names(plan.program_caps).join(","),
        no_new_privs = plan.privileges.no_new_privs,
        "the program's capabilities"
    );
    Ok(plan)
}

/// Launches `program` under `bpf`, serves its listener with the handler that `make_handler` builds (inside the
/// runtime, from the program's pid), reaps the program and its orphans, and returns the program's exit status.
///
/// # Errors
/// A [`Failure`] if the launch fails (the filter cannot be installed: 125) or exec fails (126/127).
pub fn launch_and_supervise<H: Handler>(
    program: &Program,
    bpf: &filter::Bpf,
    options: LaunchOptions,
    make_handler: impl FnOnce(Pid) -> Arc<H>,
) -> Result<i32, Failure> {
    // Orphaned descendants of the program are reparented to us, so that the session can wait for all of them.
    // SAFETY: prctl(2) PR_SET_CHILD_SUBREAPER on this process; no memory is passed.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    // From here on a signal to supervise is for the program (passed on once it runs), never supervise's death.
    signals::install().map_err(|e| Failure::new(EXIT_FAILURE, format!("cannot handle signals: {e}")))?;
    let options = LaunchOptions { ignored_signals: signals::ignored_at_start(), ..options };
    let launched = launch::spawn(program, bpf, options).map_err(|e| match e {
        LaunchError::Load(_) => Failure::new(EXIT_FAILURE, e.to_string()),
        _ => Failure::new(EXIT_FAILURE, format!("cannot start {}: {e}", program.display())),
    })?;
    info!(pid = launched.pid.as_raw(), program = program.display(), listener = launched.listener.is_some(), "started");

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| {
        launch::kill_launched(launched.pid);
        Failure::new(EXIT_FAILURE, format!("cannot start the async runtime: {e}"))
    })?;
    let app = launched.pid;
    runtime.block_on(async move { supervise(launched, make_handler(app), program.display()).await })
}

/// Serves the listener and reaps the program and its orphans; returns the program's exit status.
async fn supervise<H: Handler>(mut launched: Launched, handler: Arc<H>, display: &str) -> Result<i32, Failure> {
    let io_failure = |e: std::io::Error| Failure::new(EXIT_FAILURE, format!("cannot watch signals: {e}"));
    let mut sigchld = signal(SignalKind::child()).map_err(io_failure)?;
    // Every other signal supervise can catch goes to the program (see `signals`).
    let mut incoming = Some(Incoming::new().map_err(io_failure)?);

    let mut notify = launched
        .listener
        .take()
        .map(|fd| tokio::spawn(crate::core::notify::serve(Arc::new(Listener::new(fd)), handler)));
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
            received = async { incoming.as_mut().expect("guarded").next().await }, if incoming.is_some() => {
                match received {
                    Ok(received) => pass_on(received, app, app_status.is_some()),
                    Err(e) => {
                        error!(error = %e, "cannot read the signals supervise receives: they are no longer passed on");
                        incoming = None;
                    }
                }
            }
        }
    }
    let status = app_status.expect("loop exits with a status");
    exit_code(status, &launched, display)
}

/// Passes one signal received by supervise on to the program, or stops supervise, as [`signals::decide`] says.
fn pass_on(received: Received, app: Pid, exited: bool) {
    let signal = received.signal;
    let forward = || {
        if exited {
            // Its pid may belong to another process by now.
            debug!(signal, "the program has exited: signal not passed on");
        } else {
            debug!(signal, code = received.code, sender = received.pid, "passing the signal on to the program");
            // SAFETY: kill(2) with a valid signal number and the pid of our child, which is not reaped yet (only
            // `reap` reaps, and it has not seen it exit), so the pid cannot have been reused.
            unsafe { libc::kill(app.as_raw(), signal) };
        }
    };
    match signals::decide(received, &Context::now(app.as_raw())) {
        Verdict::Forward => forward(),
        Verdict::ForwardThenStop => {
            forward();
            signals::stop_self(signal);
        }
        Verdict::Stop => signals::stop_self(signal),
        Verdict::Drop(why) => debug!(signal, why, "signal not passed on"),
    }
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
fn open_terminal(unanswerable: Option<&str>) -> Option<Box<dyn crate::core::prompt::Prompter>> {
    match TtyPrompter::open() {
        Ok(tty) => Some(Box::new(tty)),
        Err(e) => {
            let what = unanswerable.unwrap_or("onTimeout applies to every prompt rule");
            tracing::warn!(error = %e, "no terminal for prompts: {what}");
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
            let nr = crate::kernel::syscalls::number_of("execve", Arch::native())?;
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
