//! The only module that reads or writes target memory (`process_vm_readv`/`process_vm_writev`).
//!
//! What is read comes back as [`Unverified`]: the target may have died and its pid been reused between the
//! notification and the read, so the value is usable only after [`Unverified::verify`] has checked
//! `SECCOMP_IOCTL_NOTIF_ID_VALID` again.

use std::io::{IoSlice, IoSliceMut};

use nix::sys::uio::{process_vm_readv, process_vm_writev, RemoteIoVec};
use nix::unistd::Pid;
use proto::Errno;

use crate::seccomp::Listener;

/// Memory read from a target, not yet known to be the target's.
#[derive(Debug)]
#[must_use = "verify it with the notification id before use"]
pub struct Unverified<T>(T);

/// The notification is no longer valid (the target died or was interrupted): send no reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gone;

impl<T> Unverified<T> {
    /// Checks `NOTIF_ID_VALID` after the read; only then is the value the target's.
    ///
    /// # Errors
    /// [`Gone`] if the notification is no longer pending.
    pub fn verify(self, listener: &Listener, id: u64) -> Result<T, Gone> {
        if listener.id_valid(id) {
            Ok(self.0)
        } else {
            Err(Gone)
        }
    }
}

const PAGE: u64 = 4096;

/// Access to one target's memory.
#[derive(Debug, Clone, Copy)]
pub struct TargetMemory {
    pid: Pid,
}

impl TargetMemory {
    pub fn new(pid: u32) -> TargetMemory {
        TargetMemory { pid: Pid::from_raw(pid as i32) }
    }

    /// Reads exactly `len` bytes at `addr` (`process_vm_readv`).
    ///
    /// # Errors
    /// EFAULT if any byte is unreadable (including a null pointer); ESRCH if the target is gone.
    pub fn read(&self, addr: u64, len: usize) -> Result<Unverified<Vec<u8>>, Errno> {
        let mut buf = vec![0u8; len];
        let got = self.read_some(addr, &mut buf)?;
        if got < len {
            return Err(Errno::EFAULT);
        }
        Ok(Unverified(buf))
    }

    /// Reads a NUL-terminated string at `addr` of at most `max` bytes (without the NUL), a page at a time, so
    /// that a string ending just before an unmapped page is still read.
    ///
    /// # Errors
    /// EFAULT if unreadable before the NUL; ENAMETOOLONG if no NUL within `max` bytes.
    pub fn read_cstring(&self, addr: u64, max: usize) -> Result<Unverified<Vec<u8>>, Errno> {
        let mut out = Vec::new();
        let mut at = addr;
        loop {
            let to_page_end = (PAGE - at % PAGE) as usize;
            let mut chunk = vec![0u8; to_page_end.min(max + 1 - out.len())];
            let got = self.read_some(at, &mut chunk)?;
            if got == 0 {
                return Err(Errno::EFAULT);
            }
            if let Some(nul) = chunk[..got].iter().position(|&b| b == 0) {
                out.extend_from_slice(&chunk[..nul]);
                return Ok(Unverified(out));
            }
            out.extend_from_slice(&chunk[..got]);
            if out.len() > max {
                return Err(Errno::new(i64::from(libc::ENAMETOOLONG)).expect("valid errno"));
            }
            at = at.checked_add(got as u64).ok_or(Errno::EFAULT)?;
        }
    }

    /// Writes `bytes` at `addr` (`process_vm_writev`).
    ///
    /// # Errors
    /// EFAULT if any byte is unwritable.
    pub fn write(&self, addr: u64, bytes: &[u8]) -> Result<(), Errno> {
        if addr == 0 {
            return Err(Errno::EFAULT);
        }
        let remote = [RemoteIoVec { base: addr as usize, len: bytes.len() }];
        match process_vm_writev(self.pid, &[IoSlice::new(bytes)], &remote) {
            Ok(n) if n == bytes.len() => Ok(()),
            Ok(_) => Err(Errno::EFAULT),
            Err(e) => Err(map_errno(e)),
        }
    }

    /// Reads as much as possible up to `buf.len()`; a partial read stops at the first unreadable page.
    fn read_some(&self, addr: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        if addr == 0 {
            return Err(Errno::EFAULT);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let remote = [RemoteIoVec { base: addr as usize, len: buf.len() }];
        match process_vm_readv(self.pid, &mut [IoSliceMut::new(buf)], &remote) {
            Ok(n) => Ok(n),
            Err(e) => Err(map_errno(e)),
        }
    }
}

fn map_errno(e: nix::errno::Errno) -> Errno {
    match e {
        nix::errno::Errno::ESRCH => Errno::new(i64::from(libc::ESRCH)).expect("valid errno"),
        nix::errno::Errno::EPERM => Errno::EPERM,
        _ => Errno::EFAULT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::mman::{mmap_anonymous, mprotect, MapFlags, ProtFlags};
    use std::num::NonZeroUsize;

    fn me() -> TargetMemory {
        TargetMemory::new(std::process::id())
    }

    #[test]
    fn strings_ending_at_an_unmapped_page_are_read() {
        // SAFETY: a fresh private anonymous mapping of two pages; nothing else refers to it.
        let base = unsafe {
            mmap_anonymous(None, NonZeroUsize::new(8192).unwrap(), ProtFlags::PROT_READ | ProtFlags::PROT_WRITE, MapFlags::MAP_PRIVATE)
        }
        .unwrap();
        // SAFETY: the second page of the mapping above.
        unsafe { mprotect(base.byte_add(4096), 4096, ProtFlags::PROT_NONE) }.unwrap();
        let text = b"/tmp/edge\0";
        let start = 4096 - text.len();
        // SAFETY: writes inside the first, writable page.
        unsafe { std::ptr::copy_nonoverlapping(text.as_ptr(), base.as_ptr().cast::<u8>().add(start), text.len()) };
        let addr = base.as_ptr() as u64 + start as u64;
        let read = me().read_cstring(addr, 4096).unwrap().0;
        assert_eq!(read, b"/tmp/edge");
        // Unterminated right up to the unmapped page: EFAULT.
        // SAFETY: overwrite the NUL inside the first page.
        unsafe { *base.as_ptr().cast::<u8>().add(4095) = b'x' };
        assert_eq!(me().read_cstring(addr, 4096).unwrap_err(), Errno::EFAULT);
    }

    #[test]
    fn null_and_long_strings_are_errors() {
        assert_eq!(me().read_cstring(0, 4096).unwrap_err(), Errno::EFAULT);
        assert_eq!(me().read(0, 8).unwrap_err(), Errno::EFAULT);
        let long = vec![b'a'; 5000];
        let err = me().read_cstring(long.as_ptr() as u64, 4096).unwrap_err();
        assert_eq!(err.get(), libc::ENAMETOOLONG as u16);
    }

    #[test]
    fn writes_land_and_bad_addresses_fail() {
        let mut target = [0u8; 4];
        me().write(target.as_mut_ptr() as u64, &[1, 2, 3, 4]).unwrap();
        assert_eq!(std::hint::black_box(target), [1, 2, 3, 4]);
        assert_eq!(me().write(1, &[0]).unwrap_err(), Errno::EFAULT);
    }
}
