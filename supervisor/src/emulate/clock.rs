//! `emulate: "clock-set"`: the clock-setting syscalls succeed without changing any clock.
//!
//! Arguments are validated as the kernel would, in the kernel's order (KERNEL-NOTES 12): the clock id, then the
//! pointer (EFAULT), then the values (EINVAL); the privilege check (EPERM) is what we skip. Read-only
//! `adjtimex`/`clock_adjtime` calls are performed for real by the supervisor and their result is written into the
//! target; modifying ones are validated, answered with the current state, and never applied. Layouts follow the
//! arch: 64-bit `time_t` on x86_64 and x32 (and i386's `*64` calls), 32-bit on i386's legacy calls.

use proto::{Arch, Errno};
use tracing::info;

use crate::memory::{Gone, TargetMemory};
use crate::seccomp::{Listener, Notification};

/// The result of an emulation: `Ok(Some(value))` to return, `Ok(None)` when the notification is gone (send
/// nothing), `Err(errno)` to fail the syscall.
pub type Handled = Result<Option<i64>, Errno>;

const NSEC_PER_SEC: i64 = 1_000_000_000;
const USEC_PER_SEC: i64 = 1_000_000;
/// `TIME_SETTOD_SEC_MAX`: KTIME_SEC_MAX minus 30 years of uptime headroom.
const TIME_SETTOD_SEC_MAX: i64 = i64::MAX / NSEC_PER_SEC - 30 * 365 * 24 * 3600;
const CLOCK_REALTIME: i64 = 0;

const ADJ_OFFSET_SINGLESHOT: u32 = 0x0001;
const ADJ_FREQUENCY: u32 = 0x0002;
const ADJ_SETOFFSET: u32 = 0x0100;
const ADJ_NANO: u32 = 0x2000;
const ADJ_TICK: u32 = 0x4000;
const ADJ_ADJTIME: u32 = 0x8000;
const ADJ_OFFSET_SS_READ: u32 = 0xa001;
/// `PPM_SCALE`: NSEC_PER_USEC << (NTP_SCALE_SHIFT - SHIFT_USEC).
const PPM_SCALE: i64 = 1000 << 16;

/// Emulates one clock-setting syscall named `syscall`.
pub fn clock_set(listener: &Listener, n: &Notification, arch: Arch, syscall: &str) -> Handled {
    let mem = Mem { listener, n, memory: TargetMemory::new(n.pid) };
    let wide = time_width(arch, syscall);
    match syscall {
        "clock_settime" | "clock_settime64" => {
            check_settable_clock(n.args[0] as i32)?;
            let Some((sec, nsec)) = mem.pair(n.args[1], wide)? else { return Ok(None) };
            if !(0..NSEC_PER_SEC).contains(&nsec) || !(0..TIME_SETTOD_SEC_MAX).contains(&sec) {
                return Err(Errno::EINVAL);
            }
            log_request(n, syscall, sec, nsec);
            Ok(Some(0))
        }
        "settimeofday" => {
            let tv = if n.args[0] == 0 {
                None
            } else {
                let Some((sec, usec)) = mem.pair(n.args[0], wide)? else { return Ok(None) };
                if !(0..=USEC_PER_SEC).contains(&usec) {
                    return Err(Errno::EINVAL);
                }
                Some((sec, usec * 1000))
            };
            let minuteswest = if n.args[1] == 0 {
                None
            } else {
                let Some(bytes) = mem.read(n.args[1], 8)? else { return Ok(None) };
                Some(i32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")))
            };
            if let Some((sec, nsec)) = tv {
                if !(0..NSEC_PER_SEC).contains(&nsec) || !(0..TIME_SETTOD_SEC_MAX).contains(&sec) {
                    return Err(Errno::EINVAL);
                }
                log_request(n, syscall, sec, nsec);
            }
            if minuteswest.is_some_and(|m| !(-15 * 60..=15 * 60).contains(&m)) {
                return Err(Errno::EINVAL);
            }
            Ok(Some(0))
        }
        "stime" => {
            let Some(bytes) = mem.read(n.args[0], 4)? else { return Ok(None) };
            let sec = i64::from(i32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")));
            if sec < 0 {
                return Err(Errno::EINVAL);
            }
            log_request(n, syscall, sec, 0);
            Ok(Some(0))
        }
        "adjtimex" => adjtime(&mem, CLOCK_REALTIME as i32, n.args[0], wide),
        "clock_adjtime" | "clock_adjtime64" => adjtime(&mem, n.args[0] as i32, n.args[1], wide),
        _ => Err(Errno::ENOSYS),
    }
}

/// True where `time_t` and `long` in these structs are 64-bit.
fn time_width(arch: Arch, syscall: &str) -> bool {
    arch != Arch::X86 || syscall.ends_with("64")
}

/// Only CLOCK_REALTIME is settable; other clock ids fail as the kernel would (CPU and dynamic clocks, which are
/// negative, are never set: EPERM).
fn check_settable_clock(clock: i32) -> Result<(), Errno> {
    match i64::from(clock) {
        CLOCK_REALTIME => Ok(()),
        c if c < 0 => Err(Errno::EPERM),
        _ => Err(Errno::EINVAL),
    }
}

/// Target memory reads that are verified with `NOTIF_ID_VALID` before use; `Ok(None)` means gone.
struct Mem<'a> {
    listener: &'a Listener,
    n: &'a Notification,
    memory: TargetMemory,
}

impl Mem<'_> {
    fn read(&self, addr: u64, len: usize) -> Result<Option<Vec<u8>>, Errno> {
        match self.memory.read(addr, len)?.verify(self.listener, self.n.id) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(Gone) => Ok(None),
        }
    }

    /// Two signed integers of 8 (`wide`) or 4 bytes: a timespec or timeval.
    fn pair(&self, addr: u64, wide: bool) -> Result<Option<(i64, i64)>, Errno> {
        let w = if wide { 8 } else { 4 };
        Ok(self.read(addr, 2 * w)?.map(|b| (int(&b[..w]), int(&b[w..]))))
    }
}

fn int(bytes: &[u8]) -> i64 {
    match bytes.len() {
        4 => i64::from(i32::from_le_bytes(bytes.try_into().expect("4 bytes"))),
        _ => i64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")),
    }
}

/// `adjtimex` and `clock_adjtime`: read-only requests are performed; modifying ones are validated and faked.
fn adjtime(mem: &Mem<'_>, clock: i32, addr: u64, wide: bool) -> Handled {
    let layout = Timex::layout(wide);
    let Some(bytes) = mem.read(addr, layout.size)? else { return Ok(None) };
    let requested = layout.decode(&bytes);
    let read_only = requested.modes == 0 || requested.modes == ADJ_OFFSET_SS_READ;
    if !read_only {
        validate_timex(&requested)?;
    }
    // Perform a read-only request for real; for a modifying one, read the current state instead.
    let mut probe = requested.clone();
    if !read_only {
        probe.modes = 0;
    }
    let (state, mut result) = real_adjtime(clock, &probe)?;
    if !read_only {
        result.modes = requested.modes;
        info!(pid = mem.n.pid, clock, modes = format!("{:#x}", requested.modes), "clock adjustment faked");
    }
    mem.memory.write(addr, &layout.encode(&result, &bytes))?;
    Ok(Some(i64::from(state)))
}

/// `timekeeping_validate_timex`, without its privilege checks.
fn validate_timex(t: &TimexFields) -> Result<(), Errno> {
    if t.modes & ADJ_ADJTIME != 0 {
        if t.modes & ADJ_OFFSET_SINGLESHOT == 0 {
            return Err(Errno::EINVAL);
        }
    } else if t.modes & ADJ_TICK != 0 && !(9000..=11000).contains(&t.longs[TICK]) {
        return Err(Errno::EINVAL);
    }
    if t.modes & ADJ_SETOFFSET != 0 {
        let usec = t.longs[TIME_USEC];
        let limit = if t.modes & ADJ_NANO != 0 { NSEC_PER_SEC } else { USEC_PER_SEC };
        if !(0..limit).contains(&usec) {
            return Err(Errno::EINVAL);
        }
    }
    if t.modes & ADJ_FREQUENCY != 0 && !(i64::MIN / PPM_SCALE..=i64::MAX / PPM_SCALE).contains(&t.longs[FREQ]) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// clock_adjtime(2) in the supervisor with a read-only request.
fn real_adjtime(clock: i32, request: &TimexFields) -> Result<(i32, TimexFields), Errno> {
    // SAFETY: an all-zero `struct timex` is valid.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    tx.modes = request.modes;
    // SAFETY: clock_adjtime(2) reads and writes one `struct timex`, which `tx` is; the modes are read-only.
    let rc = unsafe { libc::clock_adjtime(clock, &mut tx) };
    if rc < 0 {
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EINVAL);
        return Err(Errno::new(i64::from(errno)).unwrap_or(Errno::EINVAL));
    }
    let longs = [
        tx.offset,
        tx.freq,
        tx.maxerror,
        tx.esterror,
        tx.constant,
        tx.precision,
        tx.tolerance,
        tx.time.tv_sec,
        tx.time.tv_usec,
        tx.tick,
        tx.ppsfreq,
        tx.jitter,
        tx.stabil,
        tx.jitcnt,
        tx.calcnt,
        tx.errcnt,
        tx.stbcnt,
    ];
    Ok((rc, TimexFields { modes: tx.modes, status: tx.status, shift: tx.shift, tai: tx.tai, longs }))
}

/// The fields of `struct timex`, wide or not. `longs` holds the `long` fields in declaration order.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TimexFields {
    modes: u32,
    status: i32,
    shift: i32,
    tai: i32,
    longs: [i64; 17],
}

const FREQ: usize = 1;
const TIME_USEC: usize = 8;
const TICK: usize = 9;

/// Where each field sits: `struct __kernel_timex` (208 bytes, 8-byte longs with padding after ints) or i386's
/// `old_timex32` (128 bytes, 4-byte longs, no padding).
#[derive(Debug, Clone, Copy)]
struct Timex {
    size: usize,
    long: usize,
}

/// Field order: modes, offset, freq, maxerror, esterror, status, constant, precision, tolerance, time.tv_sec,
/// time.tv_usec, tick, ppsfreq, jitter, shift, stabil, jitcnt, calcnt, errcnt, stbcnt, tai.
enum Slot {
    Modes,
    Long(usize),
    Status,
    Shift,
    Tai,
}

const ORDER: [Slot; 21] = [
    Slot::Modes,
    Slot::Long(0),
    Slot::Long(1),
    Slot::Long(2),
    Slot::Long(3),
    Slot::Status,
    Slot::Long(4),
    Slot::Long(5),
    Slot::Long(6),
    Slot::Long(7),
    Slot::Long(8),
    Slot::Long(9),
    Slot::Long(10),
    Slot::Long(11),
    Slot::Shift,
    Slot::Long(12),
    Slot::Long(13),
    Slot::Long(14),
    Slot::Long(15),
    Slot::Long(16),
    Slot::Tai,
];

impl Timex {
    fn layout(wide: bool) -> Timex {
        if wide {
            Timex { size: 208, long: 8 }
        } else {
            Timex { size: 128, long: 4 }
        }
    }

    /// Offsets of each slot: ints are 4 bytes, padded to 8 before a wide long.
    fn offsets(&self) -> Vec<(usize, usize)> {
        let mut at: usize = 0;
        ORDER
            .iter()
            .map(|slot| {
                let len = if matches!(slot, Slot::Long(_)) { self.long } else { 4 };
                at = at.next_multiple_of(len);
                let here = at;
                at += len;
                (here, len)
            })
            .collect()
    }

    fn decode(&self, bytes: &[u8]) -> TimexFields {
        let mut t = TimexFields { modes: 0, status: 0, shift: 0, tai: 0, longs: [0; 17] };
        for (slot, (at, len)) in ORDER.iter().zip(self.offsets()) {
            let v = int(&bytes[at..at + len]);
            match slot {
                Slot::Modes => t.modes = v as u32,
                Slot::Long(i) => t.longs[*i] = v,
                Slot::Status => t.status = v as i32,
                Slot::Shift => t.shift = v as i32,
                Slot::Tai => t.tai = v as i32,
            }
        }
        t
    }

    /// Encodes `t` over `original`, so that padding and reserved bytes stay as the target wrote them.
    fn encode(&self, t: &TimexFields, original: &[u8]) -> Vec<u8> {
        let mut out = original.to_vec();
        for (slot, (at, len)) in ORDER.iter().zip(self.offsets()) {
            let v: i64 = match slot {
                Slot::Modes => i64::from(t.modes),
                Slot::Long(i) => t.longs[*i],
                Slot::Status => i64::from(t.status),
                Slot::Shift => i64::from(t.shift),
                Slot::Tai => i64::from(t.tai),
            };
            out[at..at + len].copy_from_slice(&v.to_le_bytes()[..len]);
        }
        out
    }
}

fn log_request(n: &Notification, syscall: &str, sec: i64, nsec: i64) {
    info!(pid = n.pid, syscall, requested = %utc_string(sec, nsec), "clock set faked; the host clock is unchanged");
}

/// `2012-04-19T22:00:00.000000000Z` from seconds since the epoch (proleptic Gregorian, UTC).
pub fn utc_string(sec: i64, nsec: i64) -> String {
    let (days, secs) = (sec.div_euclid(86_400), sec.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nsec:09}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

/// The current time, for comments and logs.
pub fn utc_now_string() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    utc_string(now.as_secs() as i64, 0).replace(".000000000", "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_strings_are_civil_dates() {
        assert_eq!(utc_string(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(utc_string(1_334_872_800, 5), "2012-04-19T22:00:00.000000005Z");
        assert_eq!(utc_string(951_782_400, 0), "2000-02-29T00:00:00.000000000Z");
    }

    #[test]
    fn timex_layouts_match_the_kernel() {
        assert_eq!(std::mem::size_of::<libc::timex>(), Timex::layout(true).size);
        let wide = Timex::layout(true).offsets();
        assert_eq!(wide[1], (8, 8), "offset follows modes and padding");
        assert_eq!(wide[5], (40, 4), "status");
        assert_eq!(wide[6], (48, 8), "constant after padding");
        assert_eq!(wide[20], (160, 4), "tai");
        let narrow = Timex::layout(false).offsets();
        assert_eq!(narrow[20], (80, 4));
        let t = TimexFields { modes: 3, status: -2, shift: 4, tai: 37, longs: std::array::from_fn(|i| i as i64 * -7) };
        for wide in [true, false] {
            let layout = Timex::layout(wide);
            let encoded = layout.encode(&t, &vec![0xAA; layout.size]);
            assert_eq!(layout.decode(&encoded), t);
        }
    }

    #[test]
    fn timex_validation_follows_the_kernel() {
        let base = TimexFields { modes: 0, status: 0, shift: 0, tai: 0, longs: [0; 17] };
        let with = |modes: u32, slot: usize, v: i64| {
            let mut t = base.clone();
            t.modes = modes;
            t.longs[slot] = v;
            t
        };
        let table = [
            (with(ADJ_TICK, TICK, 10_000), Ok(())),
            (with(ADJ_TICK, TICK, 1), Err(Errno::EINVAL)),
            (with(ADJ_ADJTIME, 0, 0), Err(Errno::EINVAL)),
            (with(ADJ_OFFSET_SINGLESHOT | ADJ_ADJTIME, 0, 0), Ok(())),
            (with(ADJ_SETOFFSET, TIME_USEC, 999_999), Ok(())),
            (with(ADJ_SETOFFSET, TIME_USEC, 1_000_000), Err(Errno::EINVAL)),
            (with(ADJ_SETOFFSET | ADJ_NANO, TIME_USEC, 1_000_000), Ok(())),
            (with(ADJ_SETOFFSET, TIME_USEC, -1), Err(Errno::EINVAL)),
            (with(ADJ_FREQUENCY, FREQ, i64::MAX), Err(Errno::EINVAL)),
            (with(ADJ_FREQUENCY, FREQ, 100), Ok(())),
        ];
        for (t, want) in table {
            assert_eq!(validate_timex(&t), want, "{t:?}");
        }
    }

    #[test]
    fn only_the_realtime_clock_is_settable() {
        assert_eq!(check_settable_clock(0), Ok(()));
        assert_eq!(check_settable_clock(1), Err(Errno::EINVAL));
        assert_eq!(check_settable_clock(-6), Err(Errno::EPERM));
    }
}
