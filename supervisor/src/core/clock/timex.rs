//! The `struct timex` codec of the clock-set emulation: [`Timex`] holds the fields, [`Layout`] reads and writes
//! them in the target's layout, one codec parametrized by the width of `long`:
//!
//! - `struct __kernel_timex` (208 bytes): x86_64, x32 and i386's `clock_adjtime64`. `long` fields are 8 bytes and
//!   each `int` before one is padded to 8.
//! - `struct old_timex32` (128 bytes): i386's `adjtimex` and `clock_adjtime`. `long` fields are 4 bytes, no padding.
//!
//! Both end with reserved `int`s up to their size. Little-endian, as on x86.

/// Every field of `struct timex`, widened to `i64` (`modes` stays `u32`). `time_sec`/`time_usec` are the embedded
/// `struct timeval time` (`tv_usec` holds nanoseconds with `ADJ_NANO`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Timex {
    pub modes: u32,
    pub offset: i64,
    pub freq: i64,
    pub maxerror: i64,
    pub esterror: i64,
    pub status: i32,
    pub constant: i64,
    pub precision: i64,
    pub tolerance: i64,
    pub time_sec: i64,
    pub time_usec: i64,
    pub tick: i64,
    pub ppsfreq: i64,
    pub jitter: i64,
    pub shift: i32,
    pub stabil: i64,
    pub jitcnt: i64,
    pub calcnt: i64,
    pub errcnt: i64,
    pub stbcnt: i64,
    pub tai: i32,
}

/// Whether a field is a C `int` (always 4 bytes) or a `long` (the layout's width).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Long,
}

/// The fields in declaration order, matching [`Timex::values`].
const KINDS: [Kind; 21] = {
    use Kind::{Int, Long};
    [
        Int,  // modes
        Long, // offset
        Long, // freq
        Long, // maxerror
        Long, // esterror
        Int,  // status
        Long, // constant
        Long, // precision
        Long, // tolerance
        Long, // time.tv_sec
        Long, // time.tv_usec
        Long, // tick
        Long, // ppsfreq
        Long, // jitter
        Int,  // shift
        Long, // stabil
        Long, // jitcnt
        Long, // calcnt
        Long, // errcnt
        Long, // stbcnt
        Int,  // tai
    ]
};

impl Timex {
    /// The fields in declaration order.
    fn values(&self) -> [i64; 21] {
        [
            i64::from(self.modes),
            self.offset,
            self.freq,
            self.maxerror,
            self.esterror,
            i64::from(self.status),
            self.constant,
            self.precision,
            self.tolerance,
            self.time_sec,
            self.time_usec,
            self.tick,
            self.ppsfreq,
            self.jitter,
            i64::from(self.shift),
            self.stabil,
            self.jitcnt,
            self.calcnt,
            self.errcnt,
            self.stbcnt,
            i64::from(self.tai),
        ]
    }

    /// The inverse of [`Timex::values`]; `int` fields are truncated to 32 bits.
    fn from_values(v: [i64; 21]) -> Timex {
        Timex {
            modes: v[0] as u32,
            offset: v[1],
            freq: v[2],
            maxerror: v[3],
            esterror: v[4],
            status: v[5] as i32,
            constant: v[6],
            precision: v[7],
            tolerance: v[8],
            time_sec: v[9],
            time_usec: v[10],
            tick: v[11],
            ppsfreq: v[12],
            jitter: v[13],
            shift: v[14] as i32,
            stabil: v[15],
            jitcnt: v[16],
            calcnt: v[17],
            errcnt: v[18],
            stbcnt: v[19],
            tai: v[20] as i32,
        }
    }

    /// The supervisor's own `struct timex` (glibc's, the same as `__kernel_timex` on x86_64).
    #[cfg(test)]
    pub fn to_libc(self) -> libc::timex {
        let mut tx = crate::kernel::clock::zeroed_timex();
        tx.modes = self.modes;
        tx.offset = self.offset;
        tx.freq = self.freq;
        tx.maxerror = self.maxerror;
        tx.esterror = self.esterror;
        tx.status = self.status;
        tx.constant = self.constant;
        tx.precision = self.precision;
        tx.tolerance = self.tolerance;
        tx.time.tv_sec = self.time_sec;
        tx.time.tv_usec = self.time_usec;
        tx.tick = self.tick;
        tx.ppsfreq = self.ppsfreq;
        tx.jitter = self.jitter;
        tx.shift = self.shift;
        tx.stabil = self.stabil;
        tx.jitcnt = self.jitcnt;
        tx.calcnt = self.calcnt;
        tx.errcnt = self.errcnt;
        tx.stbcnt = self.stbcnt;
        tx.tai = self.tai;
        tx
    }

    /// The inverse of [`Timex::to_libc`].
    pub fn from_libc(tx: &libc::timex) -> Timex {
        Timex {
            modes: tx.modes,
            offset: tx.offset,
            freq: tx.freq,
            maxerror: tx.maxerror,
            esterror: tx.esterror,
            status: tx.status,
            constant: tx.constant,
            precision: tx.precision,
            tolerance: tx.tolerance,
            time_sec: tx.time.tv_sec,
            time_usec: tx.time.tv_usec,
            tick: tx.tick,
            ppsfreq: tx.ppsfreq,
            jitter: tx.jitter,
            shift: tx.shift,
            stabil: tx.stabil,
            jitcnt: tx.jitcnt,
            calcnt: tx.calcnt,
            errcnt: tx.errcnt,
            stbcnt: tx.stbcnt,
            tai: tx.tai,
        }
    }
}

/// Where each field of `struct timex` sits in the target, for a `long` of 8 or 4 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Layout {
    long: usize,
}

impl Layout {
    /// `struct __kernel_timex`: 8-byte `long`s.
    pub const WIDE: Layout = Layout { long: 8 };
    /// i386's `struct old_timex32`: 4-byte `long`s.
    pub const NARROW: Layout = Layout { long: 4 };

    /// The whole structure, reserved `int`s included: what the kernel copies in and out.
    pub fn size(self) -> usize {
        if self.long == 8 {
            208
        } else {
            128
        }
    }

    /// (offset, length) of each field, in declaration order: each field is aligned to its own size.
    fn offsets(self) -> [(usize, usize); 21] {
        let mut at: usize = 0;
        KINDS.map(|kind| {
            let len = if kind == Kind::Long { self.long } else { 4 };
            at = at.next_multiple_of(len);
            let here = at;
            at += len;
            (here, len)
        })
    }

    /// Decodes `bytes` (at least [`Layout::size`] long); 4-byte fields are sign-extended, as the kernel's
    /// `get_old_timex32` does.
    pub fn decode(self, bytes: &[u8]) -> Timex {
        let mut values = [0i64; 21];
        for (value, (at, len)) in values.iter_mut().zip(self.offsets()) {
            *value = match bytes[at..at + len] {
                [a, b, c, d] => i64::from(i32::from_le_bytes([a, b, c, d])),
                [a, b, c, d, e, f, g, h] => i64::from_le_bytes([a, b, c, d, e, f, g, h]),
                _ => unreachable!("fields are 4 or 8 bytes"),
            };
        }
        Timex::from_values(values)
    }

    /// Encodes `t` over `original` (the bytes read from the target), so that padding and reserved bytes come back
    /// as they were, as with the kernel's copy in and out. 4-byte fields are truncated, as `put_old_timex32` does.
    pub fn encode(self, t: &Timex, original: &[u8]) -> Vec<u8> {
        let mut out = original.to_vec();
        out.resize(self.size(), 0);
        for (value, (at, len)) in t.values().into_iter().zip(self.offsets()) {
            out[at..at + len].copy_from_slice(&value.to_le_bytes()[..len]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::mem::{offset_of, size_of};

    use super::*;

    fn sample() -> Timex {
        Timex {
            modes: 0xa001,
            offset: -1,
            freq: 2,
            maxerror: 3,
            esterror: 4,
            status: -5,
            constant: 6,
            precision: 7,
            tolerance: 8,
            time_sec: 1_334_872_800,
            time_usec: 999_999,
            tick: 10_000,
            ppsfreq: 12,
            jitter: 13,
            shift: 14,
            stabil: 15,
            jitcnt: 16,
            calcnt: 17,
            errcnt: 18,
            stbcnt: 19,
            tai: 37,
        }
    }

    #[test]
    fn the_wide_layout_is_the_kernels() {
        let wide = Layout::WIDE.offsets();
        assert_eq!(Layout::WIDE.size(), size_of::<libc::timex>());
        let expected = [
            (0, offset_of!(libc::timex, modes)),
            (1, offset_of!(libc::timex, offset)),
            (5, offset_of!(libc::timex, status)),
            (6, offset_of!(libc::timex, constant)),
            (9, offset_of!(libc::timex, time)),
            (11, offset_of!(libc::timex, tick)),
            (14, offset_of!(libc::timex, shift)),
            (15, offset_of!(libc::timex, stabil)),
            (20, offset_of!(libc::timex, tai)),
        ];
        for (field, offset) in expected {
            assert_eq!(wide[field].0, offset, "field {field}");
        }
    }

    #[test]
    fn the_narrow_layout_is_old_timex32() {
        let narrow = Layout::NARROW.offsets();
        let table = [(0, 0), (1, 4), (5, 20), (6, 24), (9, 36), (10, 40), (11, 44), (14, 56), (19, 76), (20, 80)];
        for (field, offset) in table {
            assert_eq!(narrow[field], (offset, 4), "field {field}");
        }
        assert_eq!(Layout::NARROW.size(), 128);
    }

    #[test]
    fn layouts_round_trip_and_keep_reserved_bytes() {
        for layout in [Layout::WIDE, Layout::NARROW] {
            let original = vec![0xAA; layout.size()];
            let encoded = layout.encode(&sample(), &original);
            assert_eq!(encoded.len(), layout.size());
            assert_eq!(layout.decode(&encoded), sample(), "{layout:?}");
            assert_eq!(encoded[layout.size() - 44..], [0xAA; 44], "reserved ints of {layout:?}");
        }
        // The padding after `modes` in the wide layout.
        assert_eq!(Layout::WIDE.encode(&sample(), &[0xAA; 208])[4..8], [0xAA; 4]);
    }

    #[test]
    fn narrow_fields_are_sign_extended_and_truncated() {
        let mut t = sample();
        t.offset = -2;
        t.freq = 0x1_0000_0005;
        let decoded = Layout::NARROW.decode(&Layout::NARROW.encode(&t, &[]));
        assert_eq!((decoded.offset, decoded.freq), (-2, 5));
    }

    #[test]
    fn libc_conversion_round_trips() {
        assert_eq!(Timex::from_libc(&sample().to_libc()), sample());
    }
}
