//! `supervise -- PROGRAM`: load the policy, compile it, launch the program under it, serve its notifications, and
//! exit with the program's own status.
//!
//! The launch itself, signals and reaping are the shared [`supervised`](crate::modes::supervised) run; this mode
//! adds the policy, the program's capabilities, prompts at the terminal, and the control socket that `supervise ps`
//! and `supervise watch` read ([`crate::modes::control`]). Exit statuses: see [`crate::modes::exit`].

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;

use agent::caps::{self, CapState, Plan};
use agent::launch::{self, LaunchOptions, OnSupervisorExit};
use proto::{Action, Arch, Decision, Policy};
use tracing::{debug, warn};

use crate::core::decide::{Decider, Event, Facts};
use crate::core::notify::PolicyHandler;
use crate::core::prompt::job::Job;
use crate::core::prompt::save::Saver;
use crate::core::prompt::tty::TtyPrompter;
use crate::core::prompt::Prompts;
use crate::modes::capabilities;
use crate::modes::control::{self, Hub, Mode};
use crate::modes::exit::{Failure, EXIT_CANNOT_EXECUTE, EXIT_FAILURE};
use crate::modes::policy_file::{explain_compile_error, this_machine, Machine, Source};
use crate::modes::supervised::{launch_and_supervise, resolve_program};

/// Options of `supervise -- PROGRAM` (the command line's `RunArgs`).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The policy file; `None`: the built-in Docker default (with Docker's default capabilities).
    pub policy: Option<PathBuf>,
    /// `--cap-add`, `--cap-drop`: capability names as given.
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub no_new_privileges: bool,
    /// Where saved prompt answers go.
    pub save_decisions: Option<PathBuf>,
    pub on_supervisor_exit: OnSupervisorExit,
    /// The program and its arguments.
    pub program: Vec<OsString>,
}

/// Runs the program under the policy and returns the exit status to use.
///
/// # Errors
/// A [`Failure`] (125, 126 or 127) when the program could not be started as asked; nothing was started then.
pub fn supervise_command(args: &RunOptions) -> Result<i32, Failure> {
    let source = Source::open(args.policy.as_deref()).map_err(|line| Failure::new(EXIT_FAILURE, line))?;
    let plan = privileges(args)?;
    let machine = Machine { caps: plan.program_caps, ..this_machine() };
    let policy = source.load(&machine).map_err(|lines| Failure { code: EXIT_FAILURE, lines })?;
    let program = resolve_program(&args.program)?;
    let decider = Decider::new(&policy);
    if let Some(why) = execve_blocked(&policy, &decider) {
        return Err(Failure::new(
            EXIT_CANNOT_EXECUTE,
            format!("cannot run {}: the policy blocks execve ({why})", program.display()),
        ));
    }
    let compiled = agent::cache::compile_cached(&policy).map_err(|e| {
        let message = match source.parse() {
            Ok(profile) => explain_compile_error(&e, &profile).1,
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
        on_supervisor_exit: args.on_supervisor_exit,
        foreground: job.is_some(),
        privileges: plan.privileges,
        ..LaunchOptions::default()
    };
    let decider = Arc::new(decider);
    let saver = args.save_decisions.as_ref().map(|path| Saver::new(path, &source.text));
    let unanswerable = crate::core::prompt::unanswerable(&policy);
    let program_job = job.clone();
    // The control socket (`supervise ps`, `watch`): bound before the launch, removed when `control` is dropped.
    let mut control = control::start();
    let policy_name = args.policy.as_ref().map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()));
    let hub = Hub::new(Mode::Run, policy_name.map(|p| p.display().to_string()));
    let serving = &mut control;
    let status = launch_and_supervise(&program, &compiled.bpf, options, move |app| {
        if let Some(job) = program_job {
            job.started(app);
            tokio::spawn(job.watch(app));
        }
        let terminal = if decider.prompts() { open_terminal(unanswerable.as_deref()) } else { None };
        let terminal = terminal.map(|t| hub.watch_prompts(t));
        let prompts = Prompts::with_saver(terminal, saver);
        let observer = serving.as_mut().map(|c| {
            c.serve(hub.clone());
            hub.add(None, app.as_raw().unsigned_abs()) as Arc<dyn crate::core::observe::Observer>
        });
        Arc::new(PolicyHandler { decider, prompts, observer })
    });
    drop(control);
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
fn privileges(args: &RunOptions) -> Result<Plan, Failure> {
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
