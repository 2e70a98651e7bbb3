//! `supervise-bench-target MODE ARGS…`: the program that the harness runs bare, under the raw notify floor, under
//! `supervise` and under `strace`, so that every figure of a group times the same loop. It times itself (after a
//! warm-up) and prints `key value` lines on stdout; the harness parses them.
//!
//! Modes:
//! - `getppid N`: N `getppid` calls; prints `ns_per_call` (wall), `cpu_ns_per_call` (this thread's CPU time, which
//!   excludes time spent blocked or preempted), and `ret`/`errno` of the first timed call.
//! - `clock_settime N`: N `clock_settime(CLOCK_REALTIME, now)` calls (only ever run with CAP_SYS_TIME dropped, so
//!   a call that reached the kernel would fail with EPERM instead of touching the clock).
//! - `openat N PATH`: N `openat(AT_FDCWD, PATH, O_RDONLY)` + `close` pairs.
//! - `connect N PORT`: N TCP connects to 127.0.0.1:PORT, each on a new socket closed with a reset (`SO_LINGER` 0,
//!   so that no port is left in TIME_WAIT).
//! - `threads T MS`: T threads call `getppid` for MS milliseconds; prints `calls`, `elapsed_ns` and `per_thread`.
//! - `phases TOTAL STEPS`: makes one `getppid` call and prints `phase 0`, then for each of STEPS steps waits for a
//!   line on stdin and makes TOTAL/STEPS `getppid` calls, printing `phase k`; waits for a last line and exits (the
//!   harness samples the supervisor's memory at each phase).

use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| -> u64 { args.get(i).and_then(|a| a.parse().ok()).unwrap_or_else(|| usage()) };
    match args.first().map(String::as_str) {
        Some("getppid") => timed_loop(num(1), getppid),
        Some("clock_settime") => {
            refuse_with_cap_sys_time();
            timed_loop(num(1), clock_settime_now)
        }
        Some("openat") => {
            let path =
                std::ffi::CString::new(args.get(2).cloned().unwrap_or_else(|| usage())).unwrap_or_else(|_| usage());
            timed_loop(num(1), move || open_close(&path));
        }
        Some("connect") => {
            let port = u16::try_from(num(2)).unwrap_or_else(|_| usage());
            timed_loop(num(1), move || connect_close(port));
        }
        Some("threads") => threads(num(1), Duration::from_millis(num(2))),
        Some("phases") => phases(num(1), num(2).max(1)),
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: supervise-bench-target getppid N | clock_settime N | openat N PATH | connect N PORT | threads T MS | \
         phases TOTAL STEPS"
    );
    std::process::exit(2)
}

/// One call and its errno (0 on success).
fn errno_of(ret: i64) -> (i64, i32) {
    let errno = if ret < 0 { std::io::Error::last_os_error().raw_os_error().unwrap_or(0) } else { 0 };
    (ret, errno)
}

fn getppid() -> (i64, i32) {
    // SAFETY: getppid(2) takes no arguments and cannot fail.
    errno_of(unsafe { libc::syscall(libc::SYS_getppid) })
}

/// A second safety belt (the harness drops CAP_SYS_TIME with setpriv): never call clock_settime while holding
/// CAP_SYS_TIME (bit 25 of `CapEff`), so that a bug can only ever produce EPERM.
fn refuse_with_cap_sys_time() {
    const CAP_SYS_TIME: u32 = 25;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let eff =
        status.lines().find_map(|l| l.strip_prefix("CapEff:")).and_then(|v| u64::from_str_radix(v.trim(), 16).ok());
    if !matches!(eff, Some(caps) if caps & (1 << CAP_SYS_TIME) == 0) {
        eprintln!("supervise-bench-target: refusing clock_settime while CAP_SYS_TIME is (or may be) held");
        std::process::exit(3);
    }
}

fn clock_settime_now() -> (i64, i32) {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime(2) writes one timespec into `ts`, which lives for the call.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    // SAFETY: clock_settime(2) reads one timespec from `ts`, which lives for the call. The harness runs this mode
    // only without CAP_SYS_TIME, and the value is the current time anyway.
    errno_of(unsafe { libc::syscall(libc::SYS_clock_settime, libc::CLOCK_REALTIME, &ts) })
}

fn open_close(path: &std::ffi::CStr) -> (i64, i32) {
    // SAFETY: openat(2) with a NUL-terminated path that lives for the call.
    let fd = unsafe { libc::openat(libc::AT_FDCWD, path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    let result = errno_of(fd.into());
    if fd >= 0 {
        // SAFETY: close(2) of the fd just opened, which nothing else owns.
        unsafe { libc::close(fd) };
    }
    result
}

fn connect_close(port: u16) -> (i64, i32) {
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from_be_bytes([127, 0, 0, 1]).to_be() },
        sin_zero: [0; 8],
    };
    // SAFETY: socket(2) takes no pointers.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return errno_of(fd.into());
    }
    let size = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: connect(2) reads one sockaddr_in from `addr`, which lives for the call.
    let result = errno_of(unsafe { libc::connect(fd, std::ptr::addr_of!(addr).cast(), size) }.into());
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    let len = std::mem::size_of::<libc::linger>() as libc::socklen_t;
    // SAFETY: setsockopt(2) reads one `linger` from a live local; close(2) of the socket made above.
    unsafe {
        libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_LINGER, std::ptr::addr_of!(linger).cast(), len);
        libc::close(fd);
    }
    result
}

fn timed_loop(n: u64, mut call: impl FnMut() -> (i64, i32)) {
    let n = n.max(1);
    for _ in 0..(n / 10).clamp(1, 10_000) {
        call();
    }
    let cpu_start = thread_cpu_ns();
    let start = Instant::now();
    let (ret, errno) = call();
    for _ in 1..n {
        call();
    }
    let ns = start.elapsed().as_nanos() as f64 / n as f64;
    let cpu = (thread_cpu_ns() - cpu_start) as f64 / n as f64;
    let _ = writeln!(std::io::stdout(), "ns_per_call {ns:.1}\ncpu_ns_per_call {cpu:.1}\nret {ret}\nerrno {errno}");
}

/// CPU time of this thread (CLOCK_THREAD_CPUTIME_ID): unlike wall time, not inflated while other processes run.
fn thread_cpu_ns() -> i128 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime(2) writes one timespec into `ts`, which lives for the call.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

fn threads(count: u64, window: Duration) {
    let count = count.max(1) as usize;
    let stop = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(count + 1));
    let first = Arc::new(AtomicU64::new(u64::MAX));
    let workers: Vec<_> = (0..count)
        .map(|_| {
            let (stop, barrier, first) = (stop.clone(), barrier.clone(), first.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let mut calls = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let (ret, _) = getppid();
                    if calls == 0 {
                        first.store(ret as u64, Ordering::Relaxed);
                    }
                    calls += 1;
                }
                calls
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    std::thread::sleep(window);
    stop.store(true, Ordering::Relaxed);
    let per_thread: Vec<u64> = workers.into_iter().map(|w| w.join().unwrap_or(0)).collect();
    let elapsed = start.elapsed();
    let list = per_thread.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
    let _ = writeln!(
        std::io::stdout(),
        "calls {}\nelapsed_ns {}\nper_thread {list}\nret {}",
        per_thread.iter().sum::<u64>(),
        elapsed.as_nanos(),
        first.load(Ordering::Relaxed) as i64
    );
}

fn phases(total: u64, steps: u64) {
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let mut out = std::io::stdout();
    let per_step = total / steps;
    // One notified call first: the supervisor is then surely serving (it sets up its runtime after the target
    // has started), so the phase-0 sample is its idle state, not its start-up.
    getppid();
    for step in 0..=steps {
        if step > 0 {
            for _ in 0..per_step {
                getppid();
            }
        }
        let _ = writeln!(out, "phase {step}");
        let _ = out.flush();
        if lines.next().is_none() {
            return;
        }
    }
}
