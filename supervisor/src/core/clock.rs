//! `emulate: "clock-set"`: the clock-setting syscalls succeed without changing any clock. Entry point:
//! [`clock_set`], which returns the value to give the caller or why not; the `struct timex` codec is in
//! `clock/timex.rs`.
//!
//! Arguments are validated as the kernel would, in the kernel's order (KERNEL-NOTES 12): for `clock_settime` the
//! clock id, then the pointer (EFAULT), then the values (EINVAL); the privilege check (EPERM) is the one step we
//! skip. Read-only `adjtimex`/`clock_adjtime` requests are performed for real by the supervisor and their result is
//! written into the target; modifying ones are validated (`timekeeping_validate_timex`), answered with the current
//! state, and never applied. The supervisor itself only ever calls `clock_adjtime` with the read-only modes 0 and
//! `ADJ_OFFSET_SS_READ`, so a mistake here cannot move the host clock. Layouts follow the arch: 64-bit `time_t` on
//! x86_64 and x32 (and i386's `*64` calls), 32-bit on i386's legacy calls. The requested time is logged.

mod caller;
mod timex;

#[cfg(test)]
#[allow(unsafe_code)] // raw syscalls of a forked child under a filter
mod kernel_tests;

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::time::{clock_gettime, ClockId};
use proto::{Arch, Errno};
use tracing::{debug, info};

use self::caller::{int, nix_errno, Caller};
use self::timex::{Layout, Timex};
use crate::civil::utc_string;
use crate::kernel::clock::{adjtime_query, ADJ_OFFSET_SS_READ};
use crate::kernel::pending::{Pending, Step};
use crate::kernel::Fail;

const NSEC_PER_SEC: i64 = 1_000_000_000;
const USEC_PER_SEC: i64 = 1_000_000;
/// `KTIME_SEC_MAX`.
const KTIME_SEC_MAX: i64 = i64::MAX / NSEC_PER_SEC;
/// `TIME_SETTOD_SEC_MAX`: KTIME_SEC_MAX minus 30 years of uptime headroom.
const TIME_SETTOD_SEC_MAX: i64 = KTIME_SEC_MAX - 30 * 365 * 24 * 3600;
const CLOCK_REALTIME: i32 = 0;
/// `CLOCKFD` and `CLOCKFD_MASK`: a negative clock id with these low bits names an fd (`FD_TO_CLOCKID`).
const CLOCKFD: i32 = 3;
const CLOCKFD_MASK: i32 = 7;

// The kernel's `ADJ_*` bits (uapi/linux/timex.h); libc's ADJ_OFFSET_SINGLESHOT is the kernel's
// ADJ_OFFSET_SINGLESHOT | ADJ_ADJTIME.
const ADJ_OFFSET_SINGLESHOT: u32 = 0x0001;
const ADJ_FREQUENCY: u32 = 0x0002;
const ADJ_SETOFFSET: u32 = 0x0100;
const ADJ_NANO: u32 = 0x2000;
const ADJ_TICK: u32 = 0x4000;
const ADJ_ADJTIME: u32 = 0x8000;
/// `PPM_SCALE`: NSEC_PER_USEC << (NTP_SCALE_SHIFT - SHIFT_USEC).
const PPM_SCALE: i64 = 1000 << 16;
/// `USER_HZ` bounds of `ADJ_TICK`: 900000/USER_HZ ..= 1100000/USER_HZ.
const TICK_RANGE: std::ops::RangeInclusive<i64> = 9000..=11000;

/// Emulates one clock-setting syscall: `syscall` is its name (`clock_settime`, `clock_settime64`,
/// `settimeofday`, `stime`, `adjtimex`, `clock_adjtime`, `clock_adjtime64`) and `arch` the notification's arch.
/// Every read of target memory is checked with `NOTIF_ID_VALID` before use, and the notification again before any
/// write; a failed check gives [`Fail::Gone`] (no reply).
///
/// # Errors
/// The errno the kernel would give the target, in the kernel's order, without EPERM for the missing privilege:
/// EINVAL for a bad clock id or out-of-range values, EFAULT for an unreadable or unwritable struct, EOPNOTSUPP or
/// EINVAL from the probe of a clock other than CLOCK_REALTIME, EACCES for an fd clock not open for writing, EPERM
/// for setting a CPU or fd clock; ENOSYS for a name that is not a clock-setting syscall.
pub fn clock_set(pending: Pending<'_>, arch: Arch, syscall: &str) -> Step<i64> {
    let [a0, a1, ..] = pending.n.args;
    let target = Caller { pending, syscall };
    let abi = Abi::of(arch, syscall);
    match syscall {
        "clock_settime" | "clock_settime64" => clock_settime(&target, abi, a0 as i32, a1),
        "settimeofday" => settimeofday(&target, abi, a0, a1),
        "stime" => stime(&target, a0),
        "adjtimex" => adjtime(&target, abi, CLOCK_REALTIME, a0),
        "clock_adjtime" | "clock_adjtime64" => adjtime(&target, abi, a0 as i32, a1),
        _ => Err(Fail::Errno(Errno::ENOSYS)),
    }
}

/// The target's structure widths for one syscall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Abi {
    /// `time_t` and `long` in timespec, timeval and timex are 8 bytes (else 4: i386's legacy calls).
    wide: bool,
    /// A compat task (i386, x32): `get_timespec64` ignores the upper half of a 64-bit `tv_nsec`.
    compat: bool,
}

impl Abi {
    fn of(arch: Arch, syscall: &str) -> Abi {
        let compat = arch.long_bytes() == 4;
        let wide = !compat || arch == Arch::X32 || syscall.ends_with("64");
        Abi { wide, compat }
    }

    /// `tv_nsec` as the kernel sees it after `get_timespec64`.
    fn nsec(self, raw: i64) -> i64 {
        if self.wide && self.compat {
            i64::from(raw as u32)
        } else {
            raw
        }
    }
}

/// `clock_settime`: only CLOCK_REALTIME is settable.
fn clock_settime(t: &Caller<'_>, abi: Abi, clock: i32, addr: u64) -> Step<i64> {
    check_clock_id(clock)?;
    let (sec, nsec) = t.pair(addr, abi.wide)?;
    let ts = (sec, abi.nsec(nsec));
    if clock != CLOCK_REALTIME {
        // CPU clocks are never settable; fd (PTP) clocks are not emulated.
        return Err(Errno::EPERM.into());
    }
    check_settod(ts)?;
    log_set(t, Some(ts), None);
    Ok(0)
}

/// The check before the timespec is read: a non-negative clock id other than CLOCK_REALTIME has no `clock_set`
/// (or no clock at all), EINVAL. Negative ids (CPU and fd clocks) are refused after the read.
fn check_clock_id(clock: i32) -> Result<(), Errno> {
    if clock > CLOCK_REALTIME {
        Err(Errno::EINVAL)
    } else {
        Ok(())
    }
}

/// `timespec64_valid_settod`.
fn check_settod((sec, nsec): (i64, i64)) -> Result<(), Errno> {
    if (0..TIME_SETTOD_SEC_MAX).contains(&sec) && (0..NSEC_PER_SEC).contains(&nsec) {
        Ok(())
    } else {
        Err(Errno::EINVAL)
    }
}

/// `settimeofday`'s microseconds check (`tv_usec` in 0..=1000000) and conversion to a timespec.
fn timeval_to_timespec((sec, usec): (i64, i64)) -> Result<(i64, i64), Errno> {
    if (0..=USEC_PER_SEC).contains(&usec) {
        Ok((sec, usec * 1000))
    } else {
        Err(Errno::EINVAL)
    }
}

/// `do_sys_settimeofday64`'s time zone check: within ±15 hours.
fn check_tz(minuteswest: i32) -> Result<(), Errno> {
    if (-15 * 60..=15 * 60).contains(&minuteswest) {
        Ok(())
    } else {
        Err(Errno::EINVAL)
    }
}

/// `settimeofday(tv, tz)`: either may be NULL. Kernel order: read tv, check its microseconds, read tz, check tv
/// (`timespec64_valid_settod`), then (after the privilege check) the time zone.
fn settimeofday(t: &Caller<'_>, abi: Abi, tv: u64, tz: u64) -> Step<i64> {
    let ts = match tv {
        0 => None,
        addr => Some(timeval_to_timespec(t.pair(addr, abi.wide)?)?),
    };
    let minuteswest = match tz {
        0 => None,
        // struct timezone { int tz_minuteswest; int tz_dsttime; }: the kernel copies all 8 bytes.
        addr => Some(int(&t.read(addr, 8)?[..4]) as i32),
    };
    if let Some(ts) = ts {
        check_settod(ts)?;
    }
    if let Some(minuteswest) = minuteswest {
        check_tz(minuteswest)?;
    }
    log_set(t, ts, minuteswest);
    Ok(0)
}

/// i386's `stime(time_t *)`: the kernel ignores `do_settimeofday64`'s verdict, so any readable value succeeds.
fn stime(t: &Caller<'_>, addr: u64) -> Step<i64> {
    let sec = int(&t.read(addr, 4)?);
    log_set(t, Some((sec, 0)), None);
    Ok(0)
}

/// The two read-only requests: the only ones the supervisor ever passes to clock_adjtime(2) itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Query {
    /// `modes == 0`.
    Plain,
    /// `ADJ_OFFSET_SS_READ`: read the pending `adjtime(3)` adjustment into `offset`.
    AdjtimeRead,
}

impl Query {
    fn modes(self) -> u32 {
        match self {
            Query::Plain => 0,
            Query::AdjtimeRead => ADJ_OFFSET_SS_READ,
        }
    }

    /// `Some` if `modes` is a read-only request. Fd clocks treat any non-zero `modes` as a write.
    fn of(modes: u32, fd_clock: bool) -> Option<Query> {
        match modes {
            0 => Some(Query::Plain),
            ADJ_OFFSET_SS_READ if !fd_clock => Some(Query::AdjtimeRead),
            _ => None,
        }
    }

    /// The read-only request that answers a modifying one like the kernel would after applying it.
    fn for_modify(modes: u32, fd_clock: bool) -> Query {
        if modes & ADJ_ADJTIME != 0 && !fd_clock {
            Query::AdjtimeRead
        } else {
            Query::Plain
        }
    }
}

/// `adjtimex(buf)` and `clock_adjtime(clock, buf)`: read the struct (EFAULT), then either perform a read-only
/// request, or probe the clock read-only (its errors as they are), validate the request and answer with the current
/// state, keeping the target's `modes`. The result is written back (EFAULT) and the clock state returned.
fn adjtime(t: &Caller<'_>, abi: Abi, clock: i32, addr: u64) -> Step<i64> {
    let layout = if abi.wide { Layout::WIDE } else { Layout::NARROW };
    let raw = t.read(addr, layout.size())?;
    let request = layout.decode(&raw);
    let local = LocalClock::of(t, clock)?;
    let fd_clock = local.fd.is_some();
    let (state, result) = match Query::of(request.modes, fd_clock) {
        Some(query) => {
            debug!(pid = t.pid(), syscall = t.syscall, clock, "read-only clock adjustment performed");
            local.query(query)?
        }
        None => {
            let (state, mut current) = local.query(Query::for_modify(request.modes, fd_clock))?;
            match &local.fd {
                Some(fd) => check_writable(fd)?,
                None => {
                    validate_timex(&request)?;
                    if clock == CLOCK_REALTIME {
                        check_setoffset(&request, now_ns(ClockId::CLOCK_REALTIME)?, now_ns(ClockId::CLOCK_MONOTONIC)?)?;
                    }
                }
            }
            info!(
                pid = t.pid(),
                syscall = t.syscall,
                clock,
                modes = %format_args!("{:#x}", request.modes),
                "clock adjustment faked; the host clock is unchanged"
            );
            current.modes = request.modes;
            (state, current)
        }
    };
    t.write(addr, &layout.encode(&result, &raw))?;
    Ok(state)
}

/// `timekeeping_validate_timex`, without its privilege checks (and without the extra ones of auxiliary clocks).
fn validate_timex(t: &Timex) -> Result<(), Errno> {
    if t.modes & ADJ_ADJTIME != 0 {
        if t.modes & ADJ_OFFSET_SINGLESHOT == 0 {
            return Err(Errno::EINVAL);
        }
    } else if t.modes & ADJ_TICK != 0 && !TICK_RANGE.contains(&t.tick) {
        return Err(Errno::EINVAL);
    }
    if t.modes & ADJ_SETOFFSET != 0 {
        let limit = if t.modes & ADJ_NANO != 0 { NSEC_PER_SEC } else { USEC_PER_SEC };
        if !(0..limit).contains(&t.time_usec) {
            return Err(Errno::EINVAL);
        }
    }
    if t.modes & ADJ_FREQUENCY != 0 && !(i64::MIN / PPM_SCALE..=i64::MAX / PPM_SCALE).contains(&t.freq) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// `timekeeping_inject_offset` for `ADJ_SETOFFSET` on CLOCK_REALTIME: the new time must stay valid and must not go
/// before CLOCK_MONOTONIC. `real`/`mono` are the current clocks in nanoseconds.
fn check_setoffset(t: &Timex, real: i128, mono: i128) -> Result<(), Errno> {
    if t.modes & ADJ_SETOFFSET == 0 {
        return Ok(());
    }
    let nsec = if t.modes & ADJ_NANO != 0 { t.time_usec } else { t.time_usec * 1000 };
    let delta = i128::from(t.time_sec) * i128::from(NSEC_PER_SEC) + i128::from(nsec);
    let new = real + delta;
    if delta < mono - real || new < 0 || new / i128::from(NSEC_PER_SEC) >= i128::from(KTIME_SEC_MAX) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

fn now_ns(clock: ClockId) -> Result<i128, Errno> {
    let ts = clock_gettime(clock).map_err(nix_errno)?;
    Ok(i128::from(ts.tv_sec()) * i128::from(NSEC_PER_SEC) + i128::from(ts.tv_nsec()))
}

/// `pc_clock_adjtime`: changing an fd clock needs the fd open for writing.
fn check_writable(fd: &OwnedFd) -> Result<(), Errno> {
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL).map_err(nix_errno)?);
    if flags & OFlag::O_ACCMODE == OFlag::O_RDONLY {
        Err(Errno::EACCES)
    } else {
        Ok(())
    }
}

/// A clock id as the supervisor can use it. An fd clock names an fd in the caller's table, so the target's fd is
/// duplicated into the supervisor and the id rebuilt from the copy; `fd` keeps the copy open. Other ids mean the
/// same here (CPU clocks have no `clock_adj`, so they fail with EOPNOTSUPP whatever process they name).
#[derive(Debug)]
struct LocalClock {
    id: i32,
    fd: Option<OwnedFd>,
}

impl LocalClock {
    /// The clock `clock` of the target names.
    fn of(t: &Caller<'_>, clock: i32) -> Step<LocalClock> {
        let Some(fd) = clockid_to_fd(clock) else { return Ok(LocalClock { id: clock, fd: None }) };
        let copy = t.fetch_fd(fd)?;
        Ok(LocalClock { id: fd_to_clockid(copy.as_raw_fd()), fd: Some(copy) })
    }

    /// clock_adjtime(2) with a read-only request: the clock state and the filled struct.
    fn query(&self, query: Query) -> Result<(i64, Timex), Errno> {
        // 0 or ADJ_OFFSET_SS_READ: a read-only request, which changes no clock.
        let (rc, tx) = adjtime_query(self.id, query.modes())?;
        Ok((rc, Timex::from_libc(&tx)))
    }
}

/// `FD_TO_CLOCKID`.
fn fd_to_clockid(fd: RawFd) -> i32 {
    (!fd << 3) | CLOCKFD
}

/// `CLOCKID_TO_FD` for fd clocks; `None` for other ids.
fn clockid_to_fd(clock: i32) -> Option<RawFd> {
    (clock < 0 && clock & CLOCKFD_MASK == CLOCKFD).then_some(!(clock >> 3))
}

/// The log line of a faked clock set: the requested time (if any) as a UTC string, and the time zone.
fn log_set(t: &Caller<'_>, ts: Option<(i64, i64)>, minuteswest: Option<i32>) {
    if !tracing::enabled!(tracing::Level::INFO) {
        return;
    }
    let requested = ts.map_or_else(|| "(unchanged)".to_owned(), |(sec, nsec)| utc_string(sec, nsec));
    info!(
        pid = t.pid(),
        syscall = t.syscall,
        requested = %requested,
        tz_minuteswest = minuteswest,
        "clock set faked; the host clock is unchanged"
    );
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_ids_are_checked_before_the_pointer() {
        let table = [(0, Ok(())), (1, Err(Errno::EINVAL)), (11, Err(Errno::EINVAL)), (99, Err(Errno::EINVAL))];
        for (clock, want) in table {
            assert_eq!(check_clock_id(clock), want, "{clock}");
        }
        // CPU (-6: this process, CPUCLOCK_SCHED) and fd clocks pass this check and are refused after the read.
        assert_eq!(check_clock_id(-6), Ok(()));
        assert_eq!(check_clock_id(fd_to_clockid(3)), Ok(()));
    }

    #[test]
    fn settod_validation_follows_the_kernel() {
        let table = [
            ((1_334_872_800, 0), Ok(())),
            ((0, 999_999_999), Ok(())),
            ((1, NSEC_PER_SEC), Err(Errno::EINVAL)),
            ((1, -1), Err(Errno::EINVAL)),
            ((-1, 0), Err(Errno::EINVAL)),
            ((TIME_SETTOD_SEC_MAX - 1, 0), Ok(())),
            ((TIME_SETTOD_SEC_MAX, 0), Err(Errno::EINVAL)),
        ];
        for (ts, want) in table {
            assert_eq!(check_settod(ts), want, "{ts:?}");
        }
        assert_eq!(TIME_SETTOD_SEC_MAX, 8_277_292_036, "KTIME_SEC_MAX - 30 years");
    }

    #[test]
    fn timevals_and_time_zones_follow_the_kernel() {
        assert_eq!(timeval_to_timespec((5, 999_999)), Ok((5, 999_999_000)));
        // 1000000 passes this check and fails timespec64_valid_settod, as in the kernel.
        assert_eq!(timeval_to_timespec((5, 1_000_000)).and_then(check_settod), Err(Errno::EINVAL));
        assert_eq!(timeval_to_timespec((5, -1)), Err(Errno::EINVAL));
        for (minuteswest, ok) in [(0, true), (900, true), (-900, true), (901, false), (-901, false)] {
            assert_eq!(check_tz(minuteswest).is_ok(), ok, "{minuteswest}");
        }
    }

    #[test]
    fn structure_widths_follow_the_arch() {
        let table = [
            (Arch::X86_64, "clock_settime", true, false),
            (Arch::X86_64, "adjtimex", true, false),
            (Arch::X32, "clock_settime", true, true),
            (Arch::X86, "clock_settime", false, true),
            (Arch::X86, "clock_settime64", true, true),
            (Arch::X86, "clock_adjtime64", true, true),
            (Arch::X86, "settimeofday", false, true),
            (Arch::X86, "adjtimex", false, true),
        ];
        for (arch, syscall, wide, compat) in table {
            assert_eq!(Abi::of(arch, syscall), Abi { wide, compat }, "{arch} {syscall}");
        }
        // Compat tasks: the upper half of a 64-bit tv_nsec is padding.
        assert_eq!(Abi::of(Arch::X86, "clock_settime64").nsec(0x7ead_beef_0000_0005), 5);
        assert_eq!(Abi::of(Arch::X86_64, "clock_settime").nsec(-1), -1);
        assert_eq!(Abi::of(Arch::X86, "clock_settime").nsec(-1), -1);
    }

    #[test]
    fn only_two_requests_are_read_only() {
        let table = [
            (0, false, Some(Query::Plain)),
            (ADJ_OFFSET_SS_READ, false, Some(Query::AdjtimeRead)),
            (ADJ_OFFSET_SS_READ, true, None),
            (0, true, Some(Query::Plain)),
            (ADJ_ADJTIME | ADJ_OFFSET_SINGLESHOT, false, None),
            (ADJ_TICK, false, None),
            (ADJ_OFFSET_SS_READ | ADJ_SETOFFSET, false, None),
        ];
        for (modes, fd_clock, want) in table {
            assert_eq!(Query::of(modes, fd_clock), want, "{modes:#x}");
        }
        assert_eq!(Query::for_modify(ADJ_ADJTIME | ADJ_OFFSET_SINGLESHOT, false), Query::AdjtimeRead);
        assert_eq!(Query::for_modify(ADJ_TICK, false), Query::Plain);
        for query in [Query::Plain, Query::AdjtimeRead] {
            assert_eq!(Query::of(query.modes(), false), Some(query));
        }
    }

    #[test]
    fn timex_validation_follows_the_kernel() {
        let with = |modes: u32, f: fn(&mut Timex)| {
            let mut t = Timex { modes, ..Timex::default() };
            f(&mut t);
            t
        };
        let table = [
            (with(ADJ_TICK, |t| t.tick = 10_000), Ok(())),
            (with(ADJ_TICK, |t| t.tick = 9000), Ok(())),
            (with(ADJ_TICK, |t| t.tick = 11_001), Err(Errno::EINVAL)),
            (with(ADJ_TICK, |t| t.tick = 1), Err(Errno::EINVAL)),
            (with(ADJ_ADJTIME, |_| {}), Err(Errno::EINVAL)),
            (with(ADJ_ADJTIME | ADJ_NANO, |_| {}), Err(Errno::EINVAL)),
            (with(ADJ_OFFSET_SINGLESHOT | ADJ_ADJTIME, |t| t.offset = -5000), Ok(())),
            (with(ADJ_OFFSET_SINGLESHOT | ADJ_ADJTIME | ADJ_TICK, |t| t.tick = 1), Ok(())),
            (with(ADJ_SETOFFSET, |t| t.time_usec = 999_999), Ok(())),
            (with(ADJ_SETOFFSET, |t| t.time_usec = 1_000_000), Err(Errno::EINVAL)),
            (with(ADJ_SETOFFSET | ADJ_NANO, |t| t.time_usec = 1_000_000), Ok(())),
            (with(ADJ_SETOFFSET | ADJ_NANO, |t| t.time_usec = NSEC_PER_SEC), Err(Errno::EINVAL)),
            (with(ADJ_SETOFFSET, |t| t.time_usec = -1), Err(Errno::EINVAL)),
            (with(ADJ_FREQUENCY, |t| t.freq = i64::MAX), Err(Errno::EINVAL)),
            (with(ADJ_FREQUENCY, |t| t.freq = i64::MIN / PPM_SCALE), Ok(())),
            (with(ADJ_FREQUENCY, |t| t.freq = i64::MIN / PPM_SCALE - 1), Err(Errno::EINVAL)),
            (with(ADJ_FREQUENCY, |t| t.freq = 100 << 16), Ok(())),
        ];
        for (t, want) in table {
            assert_eq!(validate_timex(&t), want, "{:#x} {t:?}", t.modes);
        }
    }

    #[test]
    fn offsets_may_not_go_before_monotonic() {
        let (real, mono) = (1_700_000_000 * i128::from(NSEC_PER_SEC), 1000 * i128::from(NSEC_PER_SEC));
        let offset =
            |sec: i64, usec: i64| Timex { modes: ADJ_SETOFFSET, time_sec: sec, time_usec: usec, ..Timex::default() };
        assert_eq!(check_setoffset(&offset(3600, 0), real, mono), Ok(()));
        assert_eq!(check_setoffset(&offset(-1_600_000_000, 0), real, mono), Ok(()));
        assert_eq!(check_setoffset(&offset(-1_700_000_000, 0), real, mono), Err(Errno::EINVAL), "before boot");
        assert_eq!(check_setoffset(&offset(KTIME_SEC_MAX, 0), real, mono), Err(Errno::EINVAL), "past KTIME_SEC_MAX");
        let not_setoffset = Timex { time_sec: i64::MIN, ..Timex::default() };
        assert_eq!(check_setoffset(&not_setoffset, real, mono), Ok(()));
    }

    #[test]
    fn fd_clock_ids_round_trip() {
        for fd in [0, 3, 1000, i32::MAX >> 3] {
            let id = fd_to_clockid(fd);
            assert!(id < 0);
            assert_eq!(clockid_to_fd(id), Some(fd));
        }
        // CPU clocks (MAKE_PROCESS_CPUCLOCK / MAKE_THREAD_CPUCLOCK) and ordinary clocks are not fd clocks.
        for id in [-6, -7, -8, -2, 0, 1, 16] {
            assert_eq!(clockid_to_fd(id), None, "{id}");
        }
    }
}
