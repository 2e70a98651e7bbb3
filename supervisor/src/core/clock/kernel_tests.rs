//! Kernel tests of the clock-set emulation: a forked child, unprivileged and under a filter that notifies the
//! clock-setting syscalls, makes them (x86_64, and i386 through `int 0x80`), and the test process answers each one
//! with [`clock_set`]. The child has no CAP_SYS_TIME, so a call that reached the kernel would fail with EPERM, and
//! the host clock is compared before and after. Children return the number of their first failed check.

use proto::Arch;

use super::*;
use crate::kernel::listener::testing::{syscall32, syscall64, Filter, Target};
use crate::kernel::listener::Reply;

const EFAULT: i64 = -(libc::EFAULT as i64);
const EINVAL: i64 = -(libc::EINVAL as i64);
const EPERM: i64 = -(libc::EPERM as i64);
const EOPNOTSUPP: i64 = -(libc::EOPNOTSUPP as i64);
/// Never mapped: below `vm.mmap_min_addr`.
const UNMAPPED: u64 = 1;
/// `MAKE_PROCESS_CPUCLOCK(0, CPUCLOCK_SCHED)`: the calling process's CPU clock.
const CPU_CLOCK: i32 = -6;
const CLOCK_MONOTONIC: i32 = 1;
/// 2012-04-19T22:00:00Z.
const SOME_DAY: i64 = 1_334_872_800;

const X86_64: [(i32, &str); 4] =
    [(227, "clock_settime"), (164, "settimeofday"), (159, "adjtimex"), (305, "clock_adjtime")];
const I386: [(i32, &str); 7] = [
    (264, "clock_settime"),
    (404, "clock_settime64"),
    (79, "settimeofday"),
    (25, "stime"),
    (124, "adjtimex"),
    (343, "clock_adjtime"),
    (405, "clock_adjtime64"),
];

/// Runs `body` in a filtered, unprivileged child and answers its notifications with [`clock_set`], as the notify
/// loop does; returns the child's exit code.
fn run(body: fn() -> i32) -> i32 {
    let x86_64: Vec<i32> = X86_64.iter().map(|(nr, _)| *nr).collect();
    let i386: Vec<i32> = I386.iter().map(|(nr, _)| *nr).collect();
    let filter = Filter { x86_64: &x86_64, i386: &i386, unprivileged: true };
    let before = host_clocks();
    let code = Target::spawn(&filter, body).serve(|listener, n| {
        let arch = Arch::from_audit(n.arch, n.nr).expect("an x86 arch");
        let table: &[(i32, &str)] = if arch == Arch::X86 { &I386 } else { &X86_64 };
        let syscall = table.iter().find(|(nr, _)| *nr == n.nr).expect("a notified syscall").1;
        let reply = match clock_set(Pending::new(listener, &n), arch, syscall) {
            Ok(value) => Reply::Value(value),
            Err(Fail::Gone) => panic!("{syscall}: gone, but the child is waiting"),
            Err(Fail::Errno(errno)) => Reply::Error(errno),
        };
        listener.respond(n.id, reply).expect("SECCOMP_IOCTL_NOTIF_SEND");
    });
    let after = host_clocks();
    let drift = (after.0 - before.0) - (after.1 - before.1);
    assert!(drift.abs() < 2 * i128::from(NSEC_PER_SEC), "the host clock moved by {drift} ns");
    code
}

/// (CLOCK_REALTIME, CLOCK_MONOTONIC) in nanoseconds.
fn host_clocks() -> (i128, i128) {
    (now_ns(ClockId::CLOCK_REALTIME).unwrap(), now_ns(ClockId::CLOCK_MONOTONIC).unwrap())
}

/// The first false entry, counted from 1, or 0.
fn first_failure(checks: &[bool]) -> i32 {
    checks.iter().position(|ok| !ok).map_or(0, |i| i as i32 + 1)
}

/// CLOCK_REALTIME seconds in the child, from the vDSO (never notified).
fn now_sec() -> i64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime(2) writes one timespec to a live local.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec
}

fn settime(clock: i32, ts: &[i64; 2]) -> i64 {
    // SAFETY: clock_settime(2) only reads the timespec, a live local.
    unsafe { syscall64(libc::SYS_clock_settime, [clock as u64, ts.as_ptr() as u64, 0, 0, 0, 0]) }
}

fn settime_unmapped(clock: i32) -> i64 {
    // SAFETY: clock_settime(2) only reads, and UNMAPPED is never mapped.
    unsafe { syscall64(libc::SYS_clock_settime, [clock as u64, UNMAPPED, 0, 0, 0, 0]) }
}

fn settimeofday(tv: Option<&[i64; 2]>, tz: Option<&[i32; 2]>) -> i64 {
    let tv = tv.map_or(0, |tv| tv.as_ptr() as u64);
    let tz = tz.map_or(0, |tz| tz.as_ptr() as u64);
    // SAFETY: settimeofday(2) only reads the timeval and timezone, live locals or NULL.
    unsafe { syscall64(libc::SYS_settimeofday, [tv, tz, 0, 0, 0, 0]) }
}

fn settimeofday_unmapped() -> i64 {
    // SAFETY: settimeofday(2) only reads, and UNMAPPED is never mapped.
    unsafe { syscall64(libc::SYS_settimeofday, [UNMAPPED, 0, 0, 0, 0, 0]) }
}

fn timex(modes: u32) -> libc::timex {
    Timex { modes, ..Timex::default() }.to_libc()
}

fn adjtimex(tx: &mut libc::timex) -> i64 {
    // SAFETY: adjtimex(2) reads and writes one `struct timex`, a live exclusive borrow.
    unsafe { syscall64(libc::SYS_adjtimex, [tx as *mut libc::timex as u64, 0, 0, 0, 0, 0]) }
}

fn clock_adjtime(clock: i32, tx: &mut libc::timex) -> i64 {
    // SAFETY: clock_adjtime(2) reads and writes one `struct timex`, a live exclusive borrow.
    unsafe { syscall64(libc::SYS_clock_adjtime, [clock as u64, tx as *mut libc::timex as u64, 0, 0, 0, 0]) }
}

fn adjtimex_unmapped() -> i64 {
    // SAFETY: adjtimex(2) reads first and fails on UNMAPPED, which is never mapped, so nothing is written.
    unsafe { syscall64(libc::SYS_adjtimex, [UNMAPPED, 0, 0, 0, 0, 0]) }
}

fn child_x86_64() -> i32 {
    let now = now_sec();
    let mut read = timex(0);
    let read_state = adjtimex(&mut read);
    let mut tick_bad = timex(ADJ_TICK);
    tick_bad.tick = 1;
    let mut tick_ok = timex(ADJ_TICK);
    tick_ok.tick = 10_000;
    let tick_ok_state = adjtimex(&mut tick_ok);
    let mut back = timex(ADJ_SETOFFSET);
    back.time.tv_sec = -(now + 10);
    let mut ahead = timex(ADJ_SETOFFSET);
    ahead.time.tv_sec = 3600;
    let mut freq = timex(ADJ_FREQUENCY);
    freq.freq = i64::MAX;
    first_failure(&[
        settime(CLOCK_REALTIME, &[SOME_DAY, 0]) == 0,
        settime_unmapped(CLOCK_REALTIME) == EFAULT,
        settime(CLOCK_REALTIME, &[SOME_DAY, NSEC_PER_SEC]) == EINVAL,
        settime(CLOCK_REALTIME, &[-1, 0]) == EINVAL,
        settime(CLOCK_MONOTONIC, &[SOME_DAY, 0]) == EINVAL,
        settime_unmapped(CLOCK_MONOTONIC) == EINVAL,
        settime(CPU_CLOCK, &[SOME_DAY, 0]) == EPERM,
        settime_unmapped(CPU_CLOCK) == EFAULT,
        settimeofday(Some(&[SOME_DAY, 999_999]), None) == 0,
        settimeofday(Some(&[SOME_DAY, 1_000_000]), None) == EINVAL,
        settimeofday(None, Some(&[60, 0])) == 0,
        settimeofday(None, Some(&[901, 0])) == EINVAL,
        settimeofday(None, None) == 0,
        settimeofday_unmapped() == EFAULT,
        (0..=5).contains(&read_state),
        TICK_RANGE.contains(&read.tick) && (read.time.tv_sec - now).abs() < 5,
        adjtimex(&mut tick_bad) == EINVAL,
        tick_ok_state == read_state && tick_ok.modes == ADJ_TICK && TICK_RANGE.contains(&tick_ok.tick),
        adjtimex(&mut timex(ADJ_OFFSET_SS_READ)) == read_state,
        adjtimex(&mut timex(ADJ_ADJTIME)) == EINVAL,
        adjtimex(&mut timex(ADJ_ADJTIME | ADJ_OFFSET_SINGLESHOT)) == read_state,
        adjtimex_unmapped() == EFAULT,
        clock_adjtime(CLOCK_REALTIME, &mut timex(0)) == read_state,
        clock_adjtime(CLOCK_MONOTONIC, &mut timex(0)) == EOPNOTSUPP,
        clock_adjtime(CPU_CLOCK, &mut timex(0)) == EOPNOTSUPP,
        clock_adjtime(fd_to_clockid(0), &mut timex(0)) == EINVAL,
        clock_adjtime(fd_to_clockid(999), &mut timex(ADJ_TICK)) == EINVAL,
        clock_adjtime(CLOCK_REALTIME, &mut back) == EINVAL,
        clock_adjtime(CLOCK_REALTIME, &mut ahead) == read_state,
        clock_adjtime(CLOCK_REALTIME, &mut freq) == EINVAL,
    ])
}

#[test]
fn clock_setting_syscalls_are_faked_and_validated() {
    let code = run(child_x86_64);
    assert_eq!(code, 0, "check {code} of child_x86_64 failed");
}

/// Offsets in the child's page below 4 GiB.
const TS32: usize = 0;
const TS64: usize = 16;
const TV32: usize = 32;
const TIME32: usize = 48;
const TIMEX32: usize = 64;
const TIMEX64: usize = 256;

fn i386(nr: u32, a: u32, b: u32) -> i64 {
    // SAFETY: the clock-setting syscalls read their argument structs and write only a `struct timex` back; the
    // callers pass pointers into the child's own page (sized for each struct) or UNMAPPED.
    i64::from(unsafe { syscall32(nr, [a, b, 0]) })
}

fn child_i386() -> i32 {
    // SAFETY: mmap(2) of a fresh anonymous page below 4 GiB (MAP_32BIT), so that i386 pointers can reach it.
    let page = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_32BIT,
            -1,
            0,
        )
    };
    if page == libc::MAP_FAILED {
        return 99;
    }
    let base = page.cast::<u8>();
    let at = |offset: usize| base as u32 + offset as u32;
    let put = |offset: usize, bytes: &[u8]| {
        // SAFETY: every offset + len used below lies inside the page mapped above.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), base.add(offset), bytes.len()) }
    };
    let get = |offset: usize| {
        let mut bytes = [0u8; 4];
        // SAFETY: reads 4 bytes inside the page mapped above.
        unsafe { std::ptr::copy_nonoverlapping(base.add(offset), bytes.as_mut_ptr(), 4) };
        i64::from(i32::from_le_bytes(bytes))
    };
    let pair32 = |offset: usize, a: i32, b: i32| {
        put(offset, &a.to_le_bytes());
        put(offset + 4, &b.to_le_bytes());
    };
    let now = now_sec();
    let some_day = SOME_DAY as i32;

    pair32(TS32, some_day, 0);
    let settime_ok = i386(264, 0, at(TS32));
    pair32(TS32, some_day, NSEC_PER_SEC as i32);
    let settime_bad = i386(264, 0, at(TS32));
    // A 64-bit tv_nsec whose upper half is padding for a compat task.
    put(TS64, &SOME_DAY.to_le_bytes());
    put(TS64 + 8, &0x7ead_beef_0000_0005_i64.to_le_bytes());
    let settime64_padded = i386(404, 0, at(TS64));
    pair32(TV32, some_day, 999_999);
    let tv_ok = i386(79, at(TV32), 0);
    pair32(TV32, some_day, 1_000_000);
    let tv_bad = i386(79, at(TV32), 0);
    put(TIME32, &(-5i32).to_le_bytes());
    let stime_negative = i386(25, at(TIME32), 0);
    let stime_unmapped = i386(25, UNMAPPED as u32, 0);
    let adjtimex_state = i386(124, at(TIMEX32), 0);
    let (tick32, sec32) = (get(TIMEX32 + 44), get(TIMEX32 + 36));
    let adjtime64_state = i386(405, 0, at(TIMEX64));
    let tick64 = get(TIMEX64 + 88);
    put(TIMEX32, &ADJ_TICK.to_le_bytes());
    put(TIMEX32 + 44, &1i32.to_le_bytes());
    let tick_bad = i386(343, 0, at(TIMEX32));
    first_failure(&[
        settime_ok == 0,
        settime_bad == EINVAL,
        settime64_padded == 0,
        tv_ok == 0,
        tv_bad == EINVAL,
        stime_negative == 0,
        stime_unmapped == EFAULT,
        (0..=5).contains(&adjtimex_state),
        TICK_RANGE.contains(&tick32) && (sec32 - now).abs() < 5,
        adjtime64_state == adjtimex_state && TICK_RANGE.contains(&tick64),
        tick_bad == EINVAL,
    ])
}

/// True if this kernel runs i386 syscalls from 64-bit code (CONFIG_IA32_EMULATION, not disabled at boot).
fn ia32_available() -> bool {
    fn probe() -> i32 {
        // SAFETY: getpid (20 on i386) takes no arguments.
        i32::from(unsafe { syscall32(20, [0; 3]) } <= 0)
    }
    let filter = Filter { x86_64: &[], i386: &[], unprivileged: true };
    Target::spawn(&filter, probe).serve(|_, _| unreachable!("nothing is notified")) == 0
}

#[test]
fn i386_layouts_are_faked_and_validated() {
    if !ia32_available() {
        eprintln!("skipped: no IA32 emulation on this kernel");
        return;
    }
    let code = run(child_i386);
    assert_eq!(code, 0, "check {code} of child_i386 failed");
}
