//! The supervisor's own clock calls: clock_adjtime(2) with a read-only request, an all-zero `struct timex`, and
//! local time (localtime_r(3)).

use proto::Errno;

use super::view::last_errno;

/// `ADJ_OFFSET_SS_READ` (`ADJ_OFFSET_SINGLESHOT | ADJ_OFFSET_READONLY`): read the pending adjtime(3) offset.
pub const ADJ_OFFSET_SS_READ: u32 = 0xa001;

/// An all-zero `struct timex` (glibc's, the same as `__kernel_timex` on x86_64).
#[must_use]
pub fn zeroed_timex() -> libc::timex {
    // SAFETY: `struct timex` is plain integers and reserved padding, for which all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

/// clock_adjtime(2) of `clock_id` with an otherwise zero `struct timex` whose `modes` is `modes`: the clock state
/// (the call's return value) and the struct the kernel filled.
///
/// # Errors
/// The call's errno; EINVAL without a call if `modes` is neither 0 nor `ADJ_OFFSET_SS_READ`, the only requests that
/// change nothing.
pub fn adjtime_query(clock_id: i32, modes: u32) -> Result<(i64, libc::timex), Errno> {
    if modes != 0 && modes != ADJ_OFFSET_SS_READ {
        return Err(Errno::EINVAL);
    }
    let mut tx = zeroed_timex();
    tx.modes = modes;
    // SAFETY: clock_adjtime(2) reads and writes one `struct timex` at the pointer, a live local of that type.
    // `modes` is 0 or ADJ_OFFSET_SS_READ, which only read (kernel/time/timekeeping.c, ntp.c), so no clock changes
    // whatever the supervisor's privileges.
    let rc = unsafe { libc::clock_adjtime(clock_id, &mut tx) };
    if rc < 0 {
        return Err(last_errno());
    }
    Ok((i64::from(rc), tx))
}

/// `time` (seconds since the epoch) in local time as (hours, minutes, seconds); `None` if localtime_r(3) fails.
#[must_use]
pub fn local_hms(time: libc::time_t) -> Option<(i32, i32, i32)> {
    // SAFETY: localtime_r(3) reads `time` and writes only into `tm`, a zeroed struct of this frame (all-zero is a
    // valid `struct tm`: integers and a null `tm_zone`); it returns null on failure, which is checked before `tm` is
    // read.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&time, &mut tm).is_null() {
            return None;
        }
        tm
    };
    Some((tm.tm_hour, tm.tm_min, tm.tm_sec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_reads_the_realtime_clock_and_refuses_a_change() {
        let (state, tx) = adjtime_query(libc::CLOCK_REALTIME, 0).unwrap();
        assert!((0..=5).contains(&state), "{state}");
        assert!(tx.time.tv_sec > 0);
        assert_eq!(adjtime_query(libc::CLOCK_REALTIME, 0x0001), Err(Errno::EINVAL));
        assert_eq!(adjtime_query(12345, 0).err(), Some(Errno::EINVAL));
        let (h, m, s) = local_hms(0).unwrap();
        assert!(h < 24 && m < 60 && s < 61);
    }
}
