//! supervise's own process: its pid, process groups and sessions, signals to processes and groups, its signal mask
//! and dispositions, and its prctl(2) settings.
//!
//! nix's safe calls where nix has the same call; [`kill`] is raw because nix's `Signal` has no real-time signals
//! (and no signal 0), and [`stop_self`] because nix's `sigaction` is itself `unsafe`.

use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};
use nix::unistd::Pid;
use proto::Errno;

use super::view::last_errno;

/// supervise's pid.
#[must_use]
pub fn own_pid() -> i32 {
    nix::unistd::getpid().as_raw()
}

/// supervise's process group.
#[must_use]
pub fn own_group() -> i32 {
    nix::unistd::getpgrp().as_raw()
}

/// The process group of `pid`; `None` if it is gone (ESRCH) or in another session.
#[must_use]
pub fn group_of(pid: i32) -> Option<i32> {
    nix::unistd::getpgid(Some(Pid::from_raw(pid))).ok().map(Pid::as_raw)
}

/// The session of supervise (its leader's pid).
#[must_use]
pub fn own_session() -> Option<i32> {
    nix::unistd::getsid(None).ok().map(Pid::as_raw)
}

/// kill(2) of `pid` (a process group if negative) with the raw signal number `sig` (0 only checks).
///
/// # Errors
/// The call's errno (ESRCH: no such process or group).
pub fn kill(pid: i32, sig: i32) -> Result<(), Errno> {
    // SAFETY: kill(2) takes two plain integers and touches no memory of ours.
    if unsafe { libc::kill(pid, sig) } != 0 {
        return Err(last_errno());
    }
    Ok(())
}

/// Runs `f` with `sig` blocked in the calling thread, and puts the thread's mask back afterwards.
pub fn with_blocked<T>(sig: Signal, f: impl FnOnce() -> T) -> T {
    let mut blocked = SigSet::empty();
    blocked.add(sig);
    let mut old = SigSet::empty();
    let saved = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&blocked), Some(&mut old)).is_ok();
    let out = f();
    if saved {
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    }
    out
}

/// Stops supervise with `sig`'s default action, whatever handler it has; returns once continued (or at once, if
/// the kernel discards the stop in an orphaned process group).
pub fn stop_self(sig: i32) {
    // SAFETY: all-zero is a valid sigaction (SIG_DFL, empty mask); sigaction(2) saves the current action into `old`
    // and puts it back after the stop; kill(2) of ourselves delivers the stop before it returns.
    unsafe {
        let default: libc::sigaction = std::mem::zeroed();
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, &default, &mut old);
        libc::kill(libc::getpid(), sig);
        libc::sigaction(sig, &old, std::ptr::null_mut());
    }
}

/// prctl(2) `PR_SET_CHILD_SUBREAPER`: orphans of supervise's descendants are reparented to it.
///
/// # Errors
/// The call's errno.
pub fn set_child_subreaper() -> Result<(), Errno> {
    // SAFETY: prctl(2) PR_SET_CHILD_SUBREAPER takes plain integers.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        return Err(last_errno());
    }
    Ok(())
}

/// prctl(2) `PR_SET_DUMPABLE` 0: no core dumps, and no ptrace or `/proc/<pid>` access by same-uid processes.
///
/// # Errors
/// The call's errno.
pub fn set_undumpable() -> Result<(), Errno> {
    // SAFETY: prctl(2) PR_SET_DUMPABLE takes plain integers.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
        return Err(last_errno());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_ids_and_signals() {
        assert_eq!(own_pid(), std::process::id() as i32);
        assert_eq!(group_of(own_pid()), Some(own_group()));
        assert!(own_session().is_some());
        assert_eq!(kill(own_pid(), 0), Ok(()));
        assert_eq!(kill(i32::MAX, 0), Err(super::super::view::errno(libc::ESRCH)));
        assert_eq!(kill(own_pid(), 1000), Err(Errno::EINVAL));
        assert!(with_blocked(Signal::SIGTTOU, || nix::sys::signal::SigSet::thread_get_mask()
            .unwrap()
            .contains(Signal::SIGTTOU)));
    }
}
