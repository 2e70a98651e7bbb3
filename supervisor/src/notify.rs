//! The notify loop: wait for the listener with `AsyncFd`, RECV, decide, respond.
//!
//! Decisions that need only the registers (allow, deny) and the clock-set emulation (a few bytes read from the
//! parked target) are answered inline: none of them can block, so nothing waits behind them. Anything that touches target memory (emulation) or a person (prompt) runs in its own task and
//! answers when ready; the loop goes on with the next notification at once. ENOENT and EINTR from RECV or SEND are
//! normal: the target was interrupted or died. The loop ends when the kernel reports POLLHUP, i.e. every process
//! that uses the filter is gone.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;

use nix::errno::Errno as NixErrno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::time::Duration;

use proto::{Arch, Decision, Emulator, Errno, OnTimeout, PromptSpec};
use tokio::io::unix::AsyncFd;
use tracing::{debug, info, warn, Instrument, Level};

use crate::decide::{Decider, Event, Facts, Verdict};
use crate::describe::describe;
use crate::emulate;
use crate::emulate::path;
use crate::facts::{gather, Missing};
use crate::prompt::{Answer, Prompts, Question};
use crate::seccomp::{Listener, Notification, Reply};

/// `AsyncFd` needs an `AsRawFd`; the listener stays shared with the handler tasks.
struct Registered(Arc<Listener>);

impl AsRawFd for Registered {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// Serves notifications until every target is gone.
///
/// # Errors
/// If the listener cannot be registered with the runtime, or RECV fails with something other than ENOENT/EINTR.
/// The caller then drops the listener, so that pending and future notified syscalls fail with ENOSYS (fail closed).
pub async fn serve<H: Handler>(listener: Arc<Listener>, handler: Arc<H>) -> io::Result<()> {
    if let Err(e) = listener.set_sync_wakeup() {
        debug!(error = %e, "SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP not available");
    }
    // SAFETY: `Registered` holds an Arc of the listener, whose OwnedFd stays open and unchanged for as long as the
    // AsyncFd (which owns that Arc) exists.
    let fd = unsafe { AsyncFd::register_with_interest(Registered(listener.clone()), tokio::io::Interest::READABLE) }
        .map_err(io::Error::from)?;
    loop {
        let mut guard = fd.readable().await?;
        loop {
            match pending(&listener) {
                Pending::Notification => {}
                Pending::Nothing => {
                    guard.clear_ready();
                    break;
                }
                Pending::Hangup => return Ok(()),
            }
            match listener.recv() {
                Ok(n) => handler.handle(&listener, n),
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::EINTR)) => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// What to do with each notification. Called on the loop: it must answer inline only when that cannot block,
/// and spawn a task otherwise.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, listener: &Arc<Listener>, n: Notification);
}

/// Decides from the policy: the handler of `supervise -- prog` and `serve`.
pub struct PolicyHandler {
    pub decider: Arc<Decider>,
    pub prompts: Prompts,
}

impl Handler for PolicyHandler {
    fn handle(&self, listener: &Arc<Listener>, n: Notification) {
        handle(listener, &self.decider, &self.prompts, n);
    }
}

enum Pending {
    Notification,
    Nothing,
    Hangup,
}

/// Asks the kernel, without blocking, whether a notification is waiting (RECV itself would block).
fn pending(listener: &Listener) -> Pending {
    let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
    match poll(&mut fds, PollTimeout::ZERO) {
        Ok(_) => {
            let revents = fds[0].revents().unwrap_or(PollFlags::empty());
            if revents.contains(PollFlags::POLLIN) {
                Pending::Notification
            } else if revents.intersects(PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLNVAL) {
                Pending::Hangup
            } else {
                Pending::Nothing
            }
        }
        Err(NixErrno::EINTR) => Pending::Nothing,
        Err(_) => Pending::Hangup,
    }
}

fn handle(listener: &Arc<Listener>, decider: &Arc<Decider>, prompts: &Prompts, n: Notification) {
    let Some(arch) = Arch::from_audit(n.arch, n.nr) else {
        warn!(pid = n.pid, audit_arch = n.arch, nr = n.nr, "notification from an unknown architecture: denied");
        respond(listener, &n, Reply::Error(Errno::ENOSYS));
        return;
    };
    let event = Event { arch, nr: n.nr, args: n.args };
    let needs = decider.needs(&event);
    if !needs.any() {
        // Registers only: decide and (for allow/deny) answer inline.
        let verdict = decider.decide(&event, &Facts::default());
        return execute(listener, decider, prompts, &n, &event, verdict, &Facts::default());
    }
    // Matchers need target memory or /proc: that is a task of its own.
    let (listener, decider, prompts) = (listener.clone(), decider.clone(), prompts.clone());
    let syscall = syscall_name(&decider, &event);
    tokio::spawn(
        async move {
            let facts = match gather(&listener, &n, &syscall, needs) {
                Ok(facts) => facts,
                Err(Missing::Gone) => return,
                Err(Missing::Errno(errno)) => return respond(&listener, &n, Reply::Error(errno)),
            };
            let verdict = decider.decide(&event, &facts);
            execute(&listener, &decider, &prompts, &n, &event, verdict, &facts);
        }
        .in_current_span(),
    );
}

fn syscall_name(decider: &Decider, event: &Event) -> Arc<str> {
    match decider.decide(event, &Facts::default()).syscall {
        Some(name) => name.clone(),
        None => {
            crate::syscalls::name_of(event.arch, event.nr).unwrap_or_else(|| format!("syscall_{}", event.nr)).into()
        }
    }
}

/// Carries out a verdict: inline when that cannot block, in a task otherwise.
fn execute(
    listener: &Arc<Listener>,
    decider: &Arc<Decider>,
    prompts: &Prompts,
    n: &Notification,
    event: &Event,
    verdict: Verdict<'_>,
    facts: &Facts,
) {
    let syscall: Arc<str> = match verdict.syscall {
        Some(name) => name.clone(),
        None => syscall_name(decider, event),
    };
    let n = *n;
    if tracing::enabled!(Level::INFO) {
        info!(
            pid = n.pid,
            exe = proc_exe(n.pid),
            syscall = &*syscall,
            arch = %event.arch,
            args = ?n.args,
            paths = ?facts.paths,
            rule = ?verdict.rule,
            decision = ?verdict.decision,
            "notified syscall"
        );
    }
    match verdict.decision {
        Decision::Allow if verdict.path_checked && path::is_emulated(&syscall) => {
            // The decision rested on a path: never CONTINUE; perform it from our verified copy.
            let (listener, decider, event, facts) = (listener.clone(), decider.clone(), *event, facts.clone());
            tokio::task::spawn_blocking(move || {
                if let Some(reply) = path::perform(&listener, &n, &syscall, &decider, &event, &facts) {
                    respond(&listener, &n, reply);
                }
            });
        }
        Decision::Allow => {
            if verdict.path_checked {
                debug!(pid = n.pid, syscall = &*syscall, "advisory: path decision carried out with CONTINUE");
            }
            respond(listener, &n, Reply::Continue)
        }
        Decision::Deny(errno) => respond(listener, &n, Reply::Error(*errno)),
        // clock-set only reads a few bytes of the parked target and answers: inline is faster than a task, and it
        // cannot block.
        Decision::Emulate(emulator) => emulate(listener, &n, event.arch, &syscall, *emulator),
        Decision::Prompt(spec) => {
            let (listener, prompts, spec) = (listener.clone(), prompts.clone(), *spec);
            tokio::spawn(async move { prompt(&listener, &prompts, n, &syscall, spec).await }.in_current_span());
        }
    }
}

/// Asks the person at the terminal, then answers; never blocks the loop (this is its own task).
async fn prompt(listener: &Arc<Listener>, prompts: &Prompts, n: Notification, syscall: &str, spec: PromptSpec) {
    let Some(described) = describe(listener, &n, syscall) else { return };
    if !prompts.interactive() {
        warn!(pid = n.pid, syscall, args = %described.args, on_timeout = ?spec.on_timeout, "no terminal to ask: onTimeout applies");
    }
    let question = Question {
        pid: n.pid,
        exe: proc_exe(n.pid),
        cmdline: proc_cmdline(n.pid, 60),
        syscall: syscall.to_string(),
        args: described.args,
        path: described.path,
        timeout: Duration::from_secs(u64::from(spec.timeout_secs)),
        deny_errno: spec.errno,
    };
    let alive = {
        let listener = listener.clone();
        Box::new(move || listener.id_valid(n.id))
    };
    let reply = match prompts.ask(question, alive).await {
        Answer::Allow => Reply::Continue,
        Answer::Deny => Reply::Error(spec.errno),
        Answer::Timeout => match spec.on_timeout {
            OnTimeout::Allow => Reply::Continue,
            OnTimeout::Deny => Reply::Error(spec.errno),
        },
        Answer::Withdrawn => return,
    };
    info!(pid = n.pid, syscall, reply = ?reply, "prompt answered");
    respond(listener, &n, reply);
}

/// The target's executable, for people (`?` if it is gone).
pub fn proc_exe(pid: u32) -> String {
    std::fs::read_link(format!("/proc/{pid}/exe")).map_or_else(|_| "?".into(), |p| p.display().to_string())
}

/// The target's command line, shortened to about `max` characters.
pub fn proc_cmdline(pid: u32, max: usize) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let text =
        raw.split(|&b| b == 0).filter(|a| !a.is_empty()).map(String::from_utf8_lossy).collect::<Vec<_>>().join(" ");
    if text.chars().count() > max {
        format!("{}…", text.chars().take(max).collect::<String>())
    } else {
        text
    }
}

fn emulate(listener: &Listener, n: &Notification, arch: Arch, syscall: &str, emulator: Emulator) {
    let handled = match emulator {
        Emulator::ClockSet => emulate::clock::clock_set(listener, n, arch, syscall),
    };
    match handled {
        Ok(Some(value)) => respond(listener, n, Reply::Value(value)),
        Ok(None) => debug!(pid = n.pid, syscall, "target gone during emulation; no reply"),
        Err(errno) => respond(listener, n, Reply::Error(errno)),
    }
}

/// Sends the reply; ENOENT (the target died or was interrupted) is normal.
pub fn respond(listener: &Listener, n: &Notification, reply: Reply) {
    if let Err(e) = listener.respond(n.id, reply) {
        if e.raw_os_error() == Some(libc::ENOENT) {
            debug!(pid = n.pid, "target gone before the reply");
        } else {
            warn!(pid = n.pid, error = %e, "cannot send the reply");
        }
    }
}
