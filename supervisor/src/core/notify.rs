//! The notify loop: a thread blocked in RECV, then decide and respond.
//!
//! Everything that cannot wait on anyone is answered on that thread, with no hop to another: register decisions
//! (allow, deny), facts for matchers (target memory and `/proc`), the clock-set emulation, and path emulation on
//! local filesystems (see `emulate::path`). What may wait runs elsewhere and answers when ready: a prompt (a person)
//! in a task, an open that may block in the blocking pool; the loop goes on with the next notification at once.
//! ENOENT and EINTR from RECV or SEND are normal: the target was interrupted or died. The loop ends when the kernel
//! reports POLLHUP, i.e. every process that uses the filter is gone.

use std::io;
use std::sync::Arc;

use nix::errno::Errno as NixErrno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::time::Duration;

use proto::{Arch, Decision, Emulator, Errno, OnTimeout, PromptSpec};
use tracing::{debug, info, warn, Instrument, Level};

use crate::core::decide::{Decider, Event, Facts, Needs, Verdict};
use crate::core::describe::{describe, show};

use crate::core::facts::{gather, Missing, PathCall};
use crate::core::path;
use crate::core::prompt::{Answer, Prompts, Question};
use crate::kernel::listener::{Listener, Notification, Reply};

/// Serves notifications until every target is gone.
///
/// The loop runs on a thread of its own, blocked in RECV: the kernel wakes it on the target's CPU (with
/// `SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP`), and nothing stands between the wake-up and the ioctl (an epoll wait and a
/// `poll(0)` before each RECV cost about 0.4 µs more per call). The thread enters the caller's runtime and span, so
/// that handlers can spawn tasks (prompts, slow emulations) and log as the caller does. When the last target is
/// gone, a blocked (or later) RECV returns ENOENT and the listener reports POLLHUP: the loop ends there.
///
/// # Errors
/// If the thread cannot be started, or RECV fails with something other than ENOENT/EINTR. The caller then drops
/// the listener, so that pending and future notified syscalls fail with ENOSYS (fail closed).
pub async fn serve<H: Handler>(listener: Arc<Listener>, handler: Arc<H>) -> io::Result<()> {
    if let Err(e) = listener.set_sync_wakeup() {
        debug!(error = %e, "SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP not available");
    }
    let runtime = tokio::runtime::Handle::current();
    let span = tracing::Span::current();
    let (done, finished) = tokio::sync::oneshot::channel();
    std::thread::Builder::new().name("notify".into()).spawn(move || {
        let _runtime = runtime.enter();
        let result = span.in_scope(|| receive(&listener, &*handler));
        // The session may have stopped waiting (serve shutting down): nothing to tell then.
        let _ = done.send(result);
    })?;
    finished.await.unwrap_or_else(|_| Err(io::Error::other("the notify thread panicked")))
}

/// The blocking RECV loop of [`serve`].
fn receive<H: Handler>(listener: &Arc<Listener>, handler: &H) -> io::Result<()> {
    loop {
        match listener.recv() {
            Ok(n) => handler.handle(listener, n),
            // ENOENT: the target was interrupted or died, or (with POLLHUP) every target is gone.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::EINTR)) => {
                if hung_up(listener) {
                    return Ok(());
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// True if the listener reports POLLHUP (or an error): every process that used the filter is gone.
fn hung_up(listener: &Listener) -> bool {
    let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
    match poll(&mut fds, PollTimeout::ZERO) {
        Ok(_) => fds[0]
            .revents()
            .unwrap_or(PollFlags::empty())
            .intersects(PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLNVAL),
        Err(NixErrno::EINTR) => false,
        Err(_) => true,
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
        return execute(listener, decider, prompts, &n, &event, verdict, &Facts::default(), None);
    }
    // Matchers need target memory or /proc: read here, on the notify thread (neither can wait on anyone).
    let syscall = syscall_name(decider, &event);
    let (facts, call) = match gather(listener, &n, &syscall, needs) {
        Ok(gathered) => gathered,
        Err(Missing::Gone) => return,
        Err(Missing::Errno(errno)) => return respond(listener, &n, Reply::Error(errno)),
        Err(Missing::Answered(value)) => return respond(listener, &n, Reply::Value(value)),
    };
    let verdict = decider.decide(&event, &facts);
    execute(listener, decider, prompts, &n, &event, verdict, &facts, call);
}

fn syscall_name(decider: &Decider, event: &Event) -> Arc<str> {
    match decider.decide(event, &Facts::default()).syscall {
        Some(name) => name.clone(),
        None => crate::kernel::syscalls::name_of(event.arch, event.nr)
            .unwrap_or_else(|| format!("syscall_{}", event.nr))
            .into(),
    }
}

/// Carries out a verdict: inline when that cannot block, in a task otherwise.
#[allow(clippy::too_many_arguments)]
fn execute(
    listener: &Arc<Listener>,
    decider: &Arc<Decider>,
    prompts: &Prompts,
    n: &Notification,
    event: &Event,
    verdict: Verdict<'_>,
    facts: &Facts,
    call: Option<PathCall>,
) {
    let syscall: Arc<str> = match verdict.syscall {
        Some(name) => name.clone(),
        None => syscall_name(decider, event),
    };
    let n = *n;
    if tracing::enabled!(Level::INFO) {
        // Typed fields, one value each, so that `--log-format json` has numbers and plain strings (an absent
        // value is an absent field): no Rust debug text.
        let paths = facts.paths.as_ref().map(|p| p.iter().map(|p| show(p)).collect::<Vec<_>>()).unwrap_or_default();
        let (decision, errno, emulator) = match verdict.decision {
            Decision::Allow => ("allow", None, None),
            Decision::Deny(errno) => ("deny", Some(u64::from(errno.get())), None),
            Decision::Emulate(emulator) => ("emulate", None, Some(emulator.name())),
            Decision::Prompt(spec) => ("prompt", Some(u64::from(spec.errno.get())), None),
        };
        let [arg0, arg1, arg2, arg3, arg4, arg5] = n.args;
        info!(
            pid = n.pid,
            exe = proc_exe(n.pid),
            syscall = &*syscall,
            arch = %event.arch,
            arg0,
            arg1,
            arg2,
            arg3,
            arg4,
            arg5,
            path = paths.first().map(String::as_str),
            path2 = paths.get(1).map(String::as_str),
            rule = verdict.rule.map(|r| r as u64),
            decision,
            errno,
            emulator,
            "notified syscall"
        );
    }
    match verdict.decision {
        Decision::Allow if verdict.path_checked && call.as_ref().is_some_and(|c| c.op.is_some()) => {
            // The decision rested on a path: never CONTINUE; perform it on what was resolved and decided on.
            if let Some(call) = call {
                perform(listener, n, &syscall, call, true);
            }
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
            // The answer is carried out on what the question shows: for an emulated syscall, the path resolved
            // now, performed on allow (never CONTINUE, which would read the path again).
            let call = match call {
                None if path::is_emulated(&syscall) => {
                    let needs = Needs { paths: true, ..Needs::default() };
                    match gather(listener, &n, &syscall, needs) {
                        Ok((_, call)) => call,
                        Err(Missing::Gone) => return,
                        Err(Missing::Errno(errno)) => return respond(listener, &n, Reply::Error(errno)),
                        Err(Missing::Answered(value)) => return respond(listener, &n, Reply::Value(value)),
                    }
                }
                call => call,
            };
            let (listener, prompts, spec) = (listener.clone(), prompts.clone(), *spec);
            tokio::spawn(async move { prompt(&listener, &prompts, n, &syscall, spec, call).await }.in_current_span());
        }
    }
}

/// Asks the person at the terminal, then answers; never blocks the loop (this is its own task).
async fn prompt(
    listener: &Arc<Listener>,
    prompts: &Prompts,
    n: Notification,
    syscall: &str,
    spec: PromptSpec,
    call: Option<PathCall>,
) {
    let Some(mut described) = describe(listener, &n, syscall) else { return };
    if let Some(Ok(resolved)) = call.as_ref().and_then(|c| c.resolved.first()) {
        // The path the call will act on, not the one as written.
        described.path = Some(show(&resolved.real));
    }
    // What "always" answers are matched on (and saved as globs): every path the call acts on, resolved. A path that
    // is not UTF-8 is matched in its shown (escaped) form, which a saved glob then does not match: asked again.
    let paths = match &call {
        Some(call) if !call.resolved.is_empty() && call.resolved.iter().all(Result::is_ok) => call
            .resolved
            .iter()
            .flatten()
            .map(|r| String::from_utf8(r.real.clone()).unwrap_or_else(|_| show(&r.real)))
            .collect(),
        _ => described.path.clone().into_iter().collect(),
    };
    if !prompts.interactive() {
        // Said once at start (`prompt::unanswerable`); each call only in the info log.
        info!(pid = n.pid, syscall, args = %described.args, on_timeout = on_timeout_name(spec.on_timeout), "no terminal to ask: onTimeout applies");
    }
    let question = Question {
        pid: n.pid,
        exe: proc_exe(n.pid),
        cmdline: proc_cmdline(n.pid, 60),
        syscall: syscall.to_string(),
        args: described.args,
        paths,
        timeout: Duration::from_secs(u64::from(spec.timeout_secs)),
        deny_errno: spec.errno,
        on_timeout: spec.on_timeout,
    };
    let alive = {
        let listener = listener.clone();
        Box::new(move || listener.id_valid(n.id))
    };
    let allowed = match prompts.ask(question, alive).await {
        Answer::Allow => true,
        Answer::Deny => false,
        Answer::Timeout => spec.on_timeout == OnTimeout::Allow,
        Answer::Withdrawn => return,
    };
    info!(pid = n.pid, syscall, allowed, "prompt answered");
    if !allowed {
        return respond(listener, &n, Reply::Error(spec.errno));
    }
    match call {
        Some(call) if call.op.is_some() => perform(listener, n, syscall, call, false),
        _ => respond(listener, &n, Reply::Continue),
    }
}

fn on_timeout_name(on_timeout: OnTimeout) -> &'static str {
    match on_timeout {
        OnTimeout::Allow => "allow",
        OnTimeout::Deny => "deny",
    }
}

/// Performs an allowed emulated path call on what was resolved and decided on.
/// `on_notify_thread`: false from a prompt's task, whose runtime thread must not take the target's identity.
fn perform(listener: &Arc<Listener>, n: Notification, syscall: &str, call: PathCall, on_notify_thread: bool) {
    let PathCall { view, op, resolved } = call;
    let (Some(view), Some(op)) = (view, op) else {
        warn!(pid = n.pid, syscall, "the target has another user namespace: allowed path call refused (EACCES)");
        return respond(listener, &n, Reply::Error(Errno::EACCES));
    };
    // The kernel fails the call at the first path it cannot resolve, in argument order.
    match resolved.into_iter().collect::<Result<Vec<_>, _>>() {
        Ok(resolved) if !resolved.is_empty() => {
            if on_notify_thread {
                path::perform(listener, &n, op, view, resolved)
            } else {
                path::perform_elsewhere(listener, &n, op, view, resolved)
            }
        }
        Ok(_) => respond(listener, &n, Reply::Error(Errno::EFAULT)),
        Err(errno) => respond(listener, &n, Reply::Error(errno)),
    }
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
        Emulator::ClockSet => crate::core::clock::clock_set(listener, n, arch, syscall),
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
