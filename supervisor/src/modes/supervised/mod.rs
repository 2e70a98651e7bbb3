//! The supervised run that `supervise -- PROGRAM` and `record` share: launch the program under a compiled filter,
//! receive its listener, serve it with the mode's handler, pass on the signals supervise receives ([`signals`]),
//! reap the program and its orphans, and turn the program's end into an exit status.

pub mod signals;

use std::ffi::OsString;
use std::sync::Arc;

use agent::filter;
use agent::launch::{self, LaunchError, LaunchOptions, Launched, Program, ProgramError};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use tokio::signal::unix::{signal, SignalKind};
use tracing::{debug, error, info};

use crate::core::notify::Handler;
use crate::kernel::listener::Listener;
use crate::kernel::process;
use crate::modes::exit::{Failure, EXIT_CANNOT_EXECUTE, EXIT_FAILURE, EXIT_NOT_FOUND};
use signals::{Context, Incoming, Received, Verdict};

/// The program named by `argv[0]` (looked up in `PATH`), with the rest of `argv` as its arguments.
///
/// # Errors
/// 125 without a program, 127 if it is not found, 126 if it cannot be executed.
pub fn resolve_program(argv: &[OsString]) -> Result<Program, Failure> {
    let (name, rest) = argv.split_first().ok_or_else(|| Failure::new(EXIT_FAILURE, "no program given"))?;
    Program::resolve(name, rest).map_err(|e| match e {
        ProgramError::NotFound(_) => Failure::new(EXIT_NOT_FOUND, e.to_string()),
        _ => Failure::new(EXIT_CANNOT_EXECUTE, e.to_string()),
    })
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
    // Orphaned descendants of the program are reparented to us, so that we can wait for all of them.
    let _ = process::set_child_subreaper();
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
    runtime.block_on(async move { serve_and_reap(launched, make_handler(app), program.display()).await })
}

/// Serves the listener, passes signals on and reaps the program and its orphans; returns the program's exit
/// status.
async fn serve_and_reap<H: Handler>(mut launched: Launched, handler: Arc<H>, display: &str) -> Result<i32, Failure> {
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
            // The pid of our child, which is not reaped yet (only `reap` reaps, and it has not seen it exit), so
            // the pid cannot have been reused.
            let _ = process::kill(app.as_raw(), signal);
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

/// The program's exit status: its own, 128+N if signal N killed it, or 126/127 if its `execve` failed (the launcher
/// then kills itself).
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
        _ => Ok(EXIT_FAILURE),
    }
}
