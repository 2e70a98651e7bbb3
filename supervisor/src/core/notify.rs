//! The notify loop, and the one sender of replies.
//!
//! One notification goes down once and comes back once: RECV, [`Decider::lookup`] (the name and what the rules
//! need), [`gather`] (facts), [`Decider::decide`] and its [`Plan`], a handler that returns an [`Outcome`] (clock,
//! path, prompt), then [`reply`] (ADDFD and SEND). Everything that cannot wait on anyone is done on the loop's
//! thread, with no hop to another: register decisions, facts for matchers (target memory and `/proc`), the
//! clock-set emulation, and path emulation on local filesystems. What may wait runs elsewhere and replies when
//! ready: a prompt (a person) in a task, a path call that may block on a thread of its own; the loop goes on with
//! the next notification at once. ENOENT and EINTR from RECV or SEND are normal: the target was interrupted or
//! died. The loop ends when the kernel reports POLLHUP (every process that uses the filter is gone), or when its
//! [`serve`] future is dropped.

use std::io;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno as NixErrno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use proto::{Arch, Decision, Errno, OnTimeout, PromptSpec};
use tracing::{debug, info, warn, Instrument, Level};

use crate::core::decide::{Decider, Event, Facts, Needs, Plan, Verdict};
use crate::core::describe::{describe, show, with_address};
use crate::core::facts::{gather, Calls, PathCall};
use crate::core::net::{self, NetCall};
use crate::core::observe::{Decided, Observer};
use crate::core::path;
use crate::core::prompt::{Answer, Prompts, Question};
use crate::core::{workers, Outcome};
use crate::kernel::listener::{Listener, Notification, Reply};
use crate::kernel::pending::Pending;
use crate::kernel::proc;

/// Serves notifications until every target is gone.
///
/// The loop runs on a thread of its own, blocked in RECV: the kernel wakes it on the target's CPU (with
/// `SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP`), and nothing stands between the wake-up and the ioctl (an epoll wait and a
/// `poll(0)` before each RECV cost about 0.4 µs more per call). The thread enters the caller's runtime and span, so
/// that handlers can spawn tasks (prompts, slow emulations) and log as the caller does. When the last target is
/// gone, a blocked (or later) RECV returns ENOENT and the listener reports POLLHUP: the loop ends there.
///
/// Dropping the future (aborting its task) stops serving: the thread takes no further decision. A thread blocked
/// in RECV cannot be woken without a signal, so it ends at the next notification, which it leaves unanswered, or
/// when the targets are gone. When it ends, its reference to the listener goes: once nothing else holds it (a
/// prompt or a path call still answering), the kernel fails that and every later notified syscall with ENOSYS.
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
    let stop = StopOnDrop(Arc::new(AtomicBool::new(false)));
    let stopped = stop.0.clone();
    std::thread::Builder::new().name("notify".into()).spawn(move || {
        let _runtime = runtime.enter();
        let result = span.in_scope(|| receive(&listener, &*handler, &stopped));
        // The caller may have stopped waiting (serve shutting down): nothing to tell then.
        let _ = done.send(result);
    })?;
    let result = finished.await.unwrap_or_else(|_| Err(io::Error::other("the notify thread panicked")));
    drop(stop);
    result
}

/// Tells the loop to stop when [`serve`]'s future is dropped.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The blocking RECV loop of [`serve`].
fn receive<H: Handler>(listener: &Arc<Listener>, handler: &H, stopped: &AtomicBool) -> io::Result<()> {
    loop {
        match listener.recv() {
            Ok(_) if stopped.load(Ordering::Relaxed) => return Ok(()),
            Ok(n) => {
                if let Some(outcome) = handler.handle(listener, n) {
                    reply(listener, &n, outcome);
                }
            }
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

/// What to do with each notification. Called on the loop: it returns the outcome when that cannot block;
/// otherwise it returns `None` and carries the notification elsewhere (a task, a thread), which ends in [`reply`].
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, listener: &Arc<Listener>, n: Notification) -> Option<Outcome>;
}

/// Decides from the policy: the handler of `supervise -- prog` and `serve`.
pub struct PolicyHandler {
    pub decider: Arc<Decider>,
    pub prompts: Prompts,
    /// Told of every decision (`supervise ps` counters, `supervise watch`); see [`crate::core::observe`].
    pub observer: Option<Arc<dyn Observer>>,
}

impl Handler for PolicyHandler {
    fn handle(&self, listener: &Arc<Listener>, n: Notification) -> Option<Outcome> {
        handle(listener, &self.decider, &self.prompts, self.observer.as_deref(), n)
    }
}

/// One notification, down and back: `None` when it went on elsewhere (a prompt, a path call that may wait).
fn handle(
    listener: &Arc<Listener>,
    decider: &Decider,
    prompts: &Prompts,
    observer: Option<&dyn Observer>,
    n: Notification,
) -> Option<Outcome> {
    let Some(arch) = Arch::from_audit(n.arch, n.nr) else {
        warn!(pid = n.pid, audit_arch = n.arch, nr = n.nr, "notification from an unknown architecture: denied");
        return Some(Outcome::Error(Errno::ENOSYS));
    };
    let event = Event { arch, nr: n.nr, args: n.args };
    let lookup = decider.lookup(&event);
    let syscall = lookup.syscall;
    let pending = Pending::new(listener, &n);
    // Matchers that need target memory or /proc read it here, on the loop's thread (neither can wait on anyone).
    let (facts, Calls { path: call, net: net_call }) = if lookup.needs.any() {
        match gather(pending, &syscall, lookup.needs) {
            Ok(gathered) => gathered,
            Err(early) => return Some(early),
        }
    } else {
        (Facts::default(), Calls::default())
    };
    let verdict = decider.decide(&event, &facts);
    log(&n, arch, &syscall, &verdict, &facts);
    if let Some(observer) = observer {
        let (decision, rule) = (verdict.decision, verdict.rule);
        observer.decided(&Decided {
            pid: n.pid,
            arch,
            nr: n.nr,
            syscall: &syscall,
            args: n.args,
            decision,
            rule,
            facts: &facts,
        });
    }
    match verdict.plan(&syscall) {
        Plan::Continue => {
            if verdict.path_checked {
                debug!(pid = n.pid, syscall = &*syscall, "advisory: path decision carried out with CONTINUE");
            }
            Some(Outcome::Continue)
        }
        Plan::Deny(errno) => Some(Outcome::Error(errno)),
        // clock-set only reads a few bytes of the parked target: inline is faster than a task, and cannot block.
        Plan::Clock => Some(crate::core::clock::clock_set(pending, arch, &syscall).into()),
        Plan::PerformPath => perform(listener, n, call?, true),
        Plan::PerformNet => match net_call {
            Some(net_call) => perform_net(listener, n, net_call, true),
            None => Some(Outcome::Error(Errno::EACCES)),
        },
        Plan::Prompt { spec, performs } => {
            // A call with a socket address is asked about with its address decoded, and an allow is performed on
            // that address (never CONTINUE), also when no address matcher took part.
            let (address, socket_type, net_call) = match net_call {
                None if net::ENFORCED.contains(&&*syscall) => {
                    match gather(pending, &syscall, Needs { net: true, ..Needs::default() }) {
                        Ok((more, calls)) => (more.address, more.socket_type, calls.net),
                        Err(early) => return Some(early),
                    }
                }
                net_call => (facts.address, facts.socket_type, net_call),
            };
            // The answer is carried out on what the question shows: for an emulated syscall, the path resolved now,
            // performed on allow (never CONTINUE, which would read the path again).
            let call = match call {
                None if performs && net_call.is_none() => {
                    match gather(pending, &syscall, Needs { paths: true, ..Needs::default() }) {
                        Ok((_, calls)) => calls.path,
                        Err(early) => return Some(early),
                    }
                }
                call => call,
            };
            let (listener, prompts) = (listener.clone(), prompts.clone());
            let task = async move {
                let asked = Asked { spec, call, net: net_call, address, socket_type };
                if let Some(outcome) = prompt(&listener, &prompts, n, &syscall, asked).await {
                    reply(&listener, &n, outcome);
                }
            };
            tokio::spawn(task.in_current_span());
            None
        }
    }
}

/// The decision's log line. Typed fields, one value each, so that `--log-format json` has numbers and plain strings
/// (an absent value is an absent field): no Rust debug text.
fn log(n: &Notification, arch: Arch, syscall: &str, verdict: &Verdict<'_>, facts: &Facts) {
    if !tracing::enabled!(Level::INFO) {
        return;
    }
    let address = facts.address.as_ref().map(|a| a.describe(facts.socket_type));
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
        syscall,
        arch = %arch,
        arg0,
        arg1,
        arg2,
        arg3,
        arg4,
        arg5,
        path = paths.first().map(String::as_str),
        path2 = paths.get(1).map(String::as_str),
        address,
        rule = verdict.rule.map(|r| r as u64),
        decision,
        errno,
        emulator,
        "notified syscall"
    );
}

/// What a question is about, and what an allow performs.
struct Asked {
    spec: PromptSpec,
    /// The path call to perform on allow.
    call: Option<PathCall>,
    /// The address call to perform on allow.
    net: Option<NetCall>,
    /// The socket address decided on, and the socket's type.
    address: Option<proto::net::Address>,
    socket_type: Option<proto::net::SockType>,
}

/// Asks the person at the terminal; never blocks the loop (this is its own task). `None`: the question was
/// withdrawn (the target is gone), or the call went on to a thread that replies.
async fn prompt(
    listener: &Arc<Listener>,
    prompts: &Prompts,
    n: Notification,
    syscall: &str,
    asked: Asked,
) -> Option<Outcome> {
    let Asked { spec, call, net: net_call, address, socket_type } = asked;
    let mut described = describe(Pending::new(listener, &n), syscall)?;
    if let Some(address) = &address {
        described.args = with_address(syscall, &n.args, &address.to_string());
    }
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
        exe: asking_exe(n.pid),
        cmdline: proc::cmdline(n.pid, 60),
        syscall: syscall.to_string(),
        args: described.args,
        paths,
        address,
        socket_type,
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
        Answer::Withdrawn => return None,
    };
    info!(pid = n.pid, syscall, allowed, "prompt answered");
    if !allowed {
        return Some(Outcome::Error(spec.errno));
    }
    if let Some(net_call) = net_call {
        return perform_net(listener, n, net_call, false);
    }
    match call {
        // A runtime thread must not take the target's identity: the call goes to a thread of its own.
        Some(call) if call.op.is_some() => perform(listener, n, call, false),
        _ => Some(Outcome::Continue),
    }
}

fn on_timeout_name(on_timeout: OnTimeout) -> &'static str {
    match on_timeout {
        OnTimeout::Allow => "allow",
        OnTimeout::Deny => "deny",
    }
}

/// Performs an allowed emulated path call on what was resolved and decided on: here when `here` and it cannot
/// wait, else on a thread of its own that replies (`None`).
fn perform(listener: &Arc<Listener>, n: Notification, call: PathCall, here: bool) -> Option<Outcome> {
    let PathCall { view, op, resolved } = call;
    let (Some(view), Some(op)) = (view, op) else {
        warn!(pid = n.pid, "the target has another user namespace: allowed path call refused (EACCES)");
        return Some(Outcome::Error(Errno::EACCES));
    };
    // The kernel fails the call at the first path it cannot resolve, in argument order.
    let resolved = match resolved.into_iter().collect::<Result<Vec<_>, _>>() {
        Ok(resolved) if !resolved.is_empty() => resolved,
        Ok(_) => return Some(Outcome::Error(Errno::EFAULT)),
        Err(errno) => return Some(Outcome::Error(errno)),
    };
    match path::perform(op, view, resolved, here) {
        Ok(outcome) => Some(outcome),
        Err(deferred) => {
            defer(listener, n, "path-call", move || deferred.run());
            None
        }
    }
}

/// Performs an allowed `connect`/`bind` on supervise's copy of the target's socket, with the address decided on:
/// here when `here` and it cannot wait, else (a blocking connect) on a thread of its own that replies (`None`).
fn perform_net(listener: &Arc<Listener>, n: Notification, call: NetCall, here: bool) -> Option<Outcome> {
    match net::perform(listener, &n, call, here) {
        Ok(outcome) => Some(outcome),
        Err(deferred) => {
            defer(listener, n, "net-call", move || deferred.run());
            None
        }
    }
}

/// Runs a call that may wait (a path call, a blocking connect) on a thread of its own ([`workers`]), which
/// replies.
fn defer(listener: &Arc<Listener>, n: Notification, name: &str, call: impl FnOnce() -> Outcome + Send + 'static) {
    let shared = listener.clone();
    if workers::run(name, move || reply(&shared, &n, call())).is_err() {
        reply(listener, &n, Outcome::Error(crate::kernel::view::errno(libc::EAGAIN)));
    }
}

/// The executable a question names, and by which its answers are remembered and saved: the running file's
/// canonical path when it is identified ([`crate::kernel::exe`]), else the link's text marked as not that file, so
/// that no answer given for the real file applies to an impostor (a binary bind-mounted over it), and a saved rule
/// for the impostor matches nothing.
fn asking_exe(pid: u32) -> String {
    use crate::kernel::exe::{identify, Unidentified};
    match identify(pid) {
        Ok(exe) => exe.path,
        Err(Unidentified::Gone) => "?".into(),
        Err(Unidentified::Deleted { text } | Unidentified::NotFound { text } | Unidentified::Other { text }) => {
            format!("{text} (not the file at that path)")
        }
    }
}

/// The target's executable, for people (`?` if it is gone).
pub fn proc_exe(pid: u32) -> String {
    proc::exe(pid).map_or_else(|| "?".into(), |p| p.display().to_string())
}

/// Sends an outcome: the only place that answers the kernel. An fd is injected with ADDFD, then its number sent
/// with a plain SEND: measured at about 8 µs against 74 µs for ADDFD with `SECCOMP_ADDFD_FLAG_SEND`, which misses
/// SYNC_WAKE_UP's same-CPU wake-up. The target cannot be interrupted in between: the launcher loads the filter with
/// WAIT_KILLABLE_RECV (only a fatal signal ends the wait). ENOENT (the target died or was interrupted) is normal.
pub fn reply(listener: &Listener, n: &Notification, outcome: Outcome) {
    let reply = match outcome {
        Outcome::Continue => Reply::Continue,
        Outcome::Value(value) => Reply::Value(value),
        Outcome::Error(errno) => Reply::Error(errno),
        Outcome::Gone => return debug!(pid = n.pid, "target gone; no reply"),
        Outcome::Fd { fd, cloexec } => match listener.add_fd(n.id, fd.as_fd(), false, cloexec) {
            Ok(newfd) => Reply::Value(i64::from(newfd)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return debug!(pid = n.pid, "target gone before ADDFD"),
            Err(e) => Reply::Error(crate::kernel::view::errno_of(&e)),
        },
    };
    if let Err(e) = listener.respond(n.id, reply) {
        if e.raw_os_error() == Some(libc::ENOENT) {
            debug!(pid = n.pid, "target gone before the reply");
        } else {
            warn!(pid = n.pid, error = %e, "cannot send the reply");
        }
    }
}

#[cfg(test)]
#[allow(unsafe_code)] // the test's child makes raw syscalls
mod tests {
    use super::*;
    use crate::kernel::listener::testing::{Filter, Target};

    /// Answers every notification with 42, and says so.
    struct FortyTwo(std::sync::Mutex<std::sync::mpsc::Sender<()>>);

    impl Handler for FortyTwo {
        fn handle(&self, _: &Arc<Listener>, _: Notification) -> Option<Outcome> {
            let _ = self.0.lock().unwrap().send(());
            Some(Outcome::Value(42))
        }
    }

    /// The child: getppid is answered 42; after the parent stops serving, the next one fails with ENOSYS (the
    /// kernel's answer once the listener is closed). Raw syscalls only (see `testing`).
    fn asks_twice() -> i32 {
        // SAFETY: getppid and nanosleep with a live local timespec.
        let (first, second, errno) = unsafe {
            let first = libc::syscall(libc::SYS_getppid);
            let pause = libc::timespec { tv_sec: 0, tv_nsec: 300_000_000 };
            libc::nanosleep(&pause, std::ptr::null_mut());
            let second = libc::syscall(libc::SYS_getppid);
            (first, second, *libc::__errno_location())
        };
        match (first, second, errno) {
            (42, -1, libc::ENOSYS) => 0,
            (42, 42, _) => 2,
            (42, _, _) => 3,
            _ => 1,
        }
    }

    #[test]
    fn dropping_the_serve_future_stops_serving_and_the_kernel_fails_closed() {
        let filter = Filter { x86_64: &[libc::SYS_getppid as i32], i386: &[], unprivileged: true };
        let mut target = Target::spawn(&filter, asks_twice);
        let listener = Arc::new(target.take_listener());
        let (said, heard) = std::sync::mpsc::channel();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let serving = tokio::spawn(serve(listener, Arc::new(FortyTwo(std::sync::Mutex::new(said)))));
            tokio::task::spawn_blocking(move || heard.recv()).await.unwrap().expect("the first call was handled");
            serving.abort();
            assert!(serving.await.unwrap_err().is_cancelled());
        });
        assert_eq!(target.wait(), 0, "1: first call not answered, 2: still served after the stop, 3: not ENOSYS");
    }
}
