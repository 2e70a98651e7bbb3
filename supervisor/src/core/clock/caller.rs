//! How the clock-set emulation reaches its caller: through [`Pending`] (verified reads, guarded writes, fd
//! copies), with the syscall's name for log lines and the clock ids' own errno for a missing fd.

use std::os::fd::{OwnedFd, RawFd};

use proto::Errno;

use crate::kernel::pending::{Pending, Step};
use crate::kernel::Fail;

/// One clock-setting call and its caller.
pub(super) struct Caller<'a> {
    pub pending: Pending<'a>,
    pub syscall: &'a str,
}

impl Caller<'_> {
    pub fn pid(&self) -> u32 {
        self.pending.n.pid
    }

    /// Reads `len` bytes, verified.
    pub fn read(&self, addr: u64, len: usize) -> Step<Vec<u8>> {
        self.pending.read(addr, len)
    }

    /// A timespec or timeval: two signed fields of 8 (`wide`) or 4 bytes.
    pub fn pair(&self, addr: u64, wide: bool) -> Step<(i64, i64)> {
        let w = if wide { 8 } else { 4 };
        let bytes = self.read(addr, 2 * w)?;
        Ok((int(&bytes[..w]), int(&bytes[w..])))
    }

    /// Writes while the notification is pending.
    pub fn write(&self, addr: u64, bytes: &[u8]) -> Step<()> {
        self.pending.write(addr, bytes)
    }

    /// A copy of the caller's `fd`. EBADF (no such fd) becomes EINVAL, as the kernel answers for a clock id that
    /// names no clock.
    pub fn fetch_fd(&self, fd: RawFd) -> Step<OwnedFd> {
        match self.pending.fetch_fd(fd) {
            Err(Fail::Errno(errno)) if i32::from(errno.get()) == libc::EBADF => Err(Errno::EINVAL.into()),
            other => other,
        }
    }
}

/// A little-endian signed integer of 4 or 8 bytes, sign-extended.
pub(super) fn int(bytes: &[u8]) -> i64 {
    match *bytes {
        [a, b, c, d] => i64::from(i32::from_le_bytes([a, b, c, d])),
        [a, b, c, d, e, f, g, h] => i64::from_le_bytes([a, b, c, d, e, f, g, h]),
        _ => unreachable!("integers here are 4 or 8 bytes"),
    }
}

pub(super) fn nix_errno(e: nix::errno::Errno) -> Errno {
    Errno::new(i64::from(e as i32)).unwrap_or(Errno::EINVAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_little_endian_and_sign_extended() {
        assert_eq!(int(&[0xff; 4]), -1);
        assert_eq!(int(&[1, 0, 0, 0]), 1);
        assert_eq!(int(&[0, 0, 0, 0x80, 0, 0, 0, 0]), 0x8000_0000);
        assert_eq!(int(&[0xff; 8]), -1);
    }
}
