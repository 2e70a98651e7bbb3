//! The launcher and its helper run between `fork` and `execve` in a child of a process that may have other threads,
//! so they must keep to fork(2)'s async-signal-safety contract (signal-safety(7)): in particular, never allocate.
//!
//! This test binary has its own global allocator that knows the test's pid: any allocation, reallocation or free
//! made by another process (the forked launcher, or the helper it clones) writes a line to stderr with write(2)
//! and ends that process with `_exit(86)`, so the launch fails instead of passing unnoticed. A second thread holds
//! a lock and allocates throughout, as supervise's log writer may.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::OsString;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;

use agent::filter::compile;
use agent::launch::{spawn, LaunchOptions, Program};
use nix::sys::wait::{waitpid, WaitStatus};
use proto::{Action, Policy, Rule};

/// The pid allowed to allocate; 0 until the test sets it.
static OWNER: AtomicI32 = AtomicI32::new(0);

struct ForkChecked;

fn check() {
    let owner = OWNER.load(Ordering::Relaxed);
    // SAFETY: getpid(2) cannot fail and is async-signal-safe.
    if owner != 0 && unsafe { libc::getpid() } != owner {
        let line = b"allocation in a child between fork and execve\n";
        // SAFETY: write(2) of a static buffer to fd 2 and _exit(2): both async-signal-safe.
        unsafe {
            libc::write(2, line.as_ptr().cast(), line.len());
            libc::_exit(86);
        }
    }
}

// SAFETY: every method checks, then forwards to the system allocator with the same arguments.
unsafe impl GlobalAlloc for ForkChecked {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check();
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        check();
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: ForkChecked = ForkChecked;

#[test]
fn the_launcher_and_its_helper_never_allocate_between_fork_and_execve() {
    let program = Program::resolve("sh".as_ref(), &[OsString::from("-c"), OsString::from("exit 7")]).unwrap();
    let compiled = compile(&Policy::new(Action::Allow, vec![Rule::new(0, &["swapon"], Action::Notify)])).unwrap();
    // Another thread that allocates all the time, as a log writer would.
    let stop = Arc::new(AtomicBool::new(false));
    let busy = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::hint::black_box(vec![0u8; 4096]);
            }
        })
    };
    // SAFETY: getpid(2) cannot fail.
    OWNER.store(unsafe { libc::getpid() }, Ordering::Relaxed);
    for listener in [true, false] {
        let options = LaunchOptions { listener, ..LaunchOptions::default() };
        let launched = spawn(&program, &compiled.bpf, options).expect("the launch completes without allocating");
        assert_eq!(launched.listener.is_some(), listener);
        assert_eq!(waitpid(launched.pid, None).unwrap(), WaitStatus::Exited(launched.pid, 7));
    }
    OWNER.store(0, Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    busy.join().unwrap();
}
