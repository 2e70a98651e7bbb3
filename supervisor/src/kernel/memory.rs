//! The only module that reads or writes target memory (`process_vm_readv`/`process_vm_writev`), through
//! [`TargetMemory`].
//!
//! What is read comes back as [`Unverified`]: the target may have died and its pid been reused between the
//! notification and the read, so the value is usable only after [`Unverified::verify`] has checked
//! `SECCOMP_IOCTL_NOTIF_ID_VALID` again; [`Fail::Gone`] says it failed, and then no reply is sent. Errors are the errnos
//! the kernel itself would give the target for the same pointer: EFAULT for an unreadable or unwritable address,
//! ENAMETOOLONG for a string without a NUL in its first `max` bytes.

use std::io::{IoSlice, IoSliceMut};

use nix::sys::uio::{process_vm_readv, process_vm_writev, RemoteIoVec};
use nix::unistd::Pid;
use proto::Errno;

use crate::kernel::listener::Listener;
use crate::kernel::Fail;

/// Memory read from a target, not yet known to be the target's.
#[derive(Debug)]
#[must_use = "verify it with the notification id before use"]
pub struct Unverified<T>(T);

impl<T> Unverified<T> {
    /// Checks `SECCOMP_IOCTL_NOTIF_ID_VALID` after the read; only then is the value the target's.
    ///
    /// # Errors
    /// [`Fail::Gone`] if notification `id` is no longer pending.
    pub fn verify(self, listener: &Listener, id: u64) -> Result<T, Fail> {
        if listener.id_valid(id) {
            Ok(self.0)
        } else {
            Err(Fail::Gone)
        }
    }

    /// Transforms the value; it stays unverified.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Unverified<U> {
        Unverified(f(self.0))
    }
}

/// The page size the reads are split on. Pages are at least this large on every Linux arch, so a smaller guess
/// only costs an extra read.
const PAGE: u64 = 4096;

/// `ENAMETOOLONG`, which `proto::Errno` has no constant for.
fn enametoolong() -> Errno {
    Errno::new(i64::from(libc::ENAMETOOLONG)).expect("ENAMETOOLONG is an errno")
}

/// Access to one target's memory, by thread id.
#[derive(Debug, Clone, Copy)]
pub struct TargetMemory {
    pid: Pid,
}

impl TargetMemory {
    /// The memory of thread `pid` (`Notification::pid`).
    pub fn new(pid: u32) -> TargetMemory {
        TargetMemory { pid: Pid::from_raw(pid as i32) }
    }

    /// Reads exactly `len` bytes at `addr` (process_vm_readv(2)).
    ///
    /// # Errors
    /// EFAULT if any byte is unreadable (including a null pointer); ESRCH if the target is gone; EPERM if the
    /// supervisor may not read it (ptrace access mode, see ptrace(2)).
    pub fn read(&self, addr: u64, len: usize) -> Result<Unverified<Vec<u8>>, Errno> {
        let mut buf = vec![0u8; len];
        let got = self.read_some(addr, &mut buf)?;
        if got < len {
            return Err(Errno::EFAULT);
        }
        Ok(Unverified(buf))
    }

    /// Reads a little-endian `u32` at `addr` (process_vm_readv(2)).
    ///
    /// # Errors
    /// As [`TargetMemory::read`].
    pub fn read_u32(&self, addr: u64) -> Result<Unverified<u32>, Errno> {
        Ok(self.read_array::<4>(addr)?.map(u32::from_le_bytes))
    }

    /// Reads a little-endian `i32` at `addr` (process_vm_readv(2)).
    ///
    /// # Errors
    /// As [`TargetMemory::read`].
    pub fn read_i32(&self, addr: u64) -> Result<Unverified<i32>, Errno> {
        Ok(self.read_array::<4>(addr)?.map(i32::from_le_bytes))
    }

    /// Reads a little-endian `u64` at `addr` (process_vm_readv(2)).
    ///
    /// # Errors
    /// As [`TargetMemory::read`].
    pub fn read_u64(&self, addr: u64) -> Result<Unverified<u64>, Errno> {
        Ok(self.read_array::<8>(addr)?.map(u64::from_le_bytes))
    }

    /// Reads a little-endian `i64` at `addr` (process_vm_readv(2)).
    ///
    /// # Errors
    /// As [`TargetMemory::read`].
    pub fn read_i64(&self, addr: u64) -> Result<Unverified<i64>, Errno> {
        Ok(self.read_array::<8>(addr)?.map(i64::from_le_bytes))
    }

    fn read_array<const N: usize>(&self, addr: u64) -> Result<Unverified<[u8; N]>, Errno> {
        let mut buf = [0u8; N];
        if self.read_some(addr, &mut buf)? < N {
            return Err(Errno::EFAULT);
        }
        Ok(Unverified(buf))
    }

    /// Reads a NUL-terminated string at `addr` (process_vm_readv(2)) and returns it without the NUL. The NUL must
    /// be within the first `max` bytes, as the kernel's `strncpy_from_user` with `PATH_MAX` (4096) requires of a
    /// path: so at most `max - 1` bytes of text. Reads stop at page boundaries, so that a string that ends just
    /// before an unmapped page is still read.
    ///
    /// # Errors
    /// EFAULT if a byte before the NUL is unreadable; ENAMETOOLONG if there is no NUL in the first `max` bytes;
    /// ESRCH/EPERM as for [`TargetMemory::read`].
    pub fn read_cstring(&self, addr: u64, max: usize) -> Result<Unverified<Vec<u8>>, Errno> {
        let mut out = Vec::new();
        let mut at = addr;
        while out.len() < max {
            let to_page_end = (PAGE - at % PAGE) as usize;
            let mut chunk = vec![0u8; to_page_end.min(max - out.len())];
            let got = self.read_some(at, &mut chunk)?;
            if got == 0 {
                return Err(Errno::EFAULT);
            }
            if let Some(nul) = chunk[..got].iter().position(|&b| b == 0) {
                out.extend_from_slice(&chunk[..nul]);
                return Ok(Unverified(out));
            }
            out.extend_from_slice(&chunk[..got]);
            at = at.checked_add(got as u64).ok_or(Errno::EFAULT)?;
        }
        Err(enametoolong())
    }

    /// Writes `bytes` at `addr` (process_vm_writev(2)). Verify the notification before writing: a write lands in
    /// whatever process has the pid now.
    ///
    /// # Errors
    /// EFAULT if any byte is unwritable (including a null pointer); ESRCH/EPERM as for [`TargetMemory::read`].
    pub fn write(&self, addr: u64, bytes: &[u8]) -> Result<(), Errno> {
        if bytes.is_empty() {
            return Ok(());
        }
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

    /// Reads as much as possible up to `buf.len()`; a partial read stops at the first unreadable page, which the
    /// kernel reports as a short count.
    fn read_some(&self, addr: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        if buf.is_empty() {
            return Ok(0);
        }
        if addr == 0 {
            return Err(Errno::EFAULT);
        }
        let remote = [RemoteIoVec { base: addr as usize, len: buf.len() }];
        process_vm_readv(self.pid, &mut [IoSliceMut::new(buf)], &remote).map_err(map_errno)
    }
}

/// process_vm_readv(2) errors as the target would see them for its own access: a gone target stays ESRCH (the
/// notification is then invalid anyway), a denied one EPERM, everything else is a bad address.
fn map_errno(e: nix::errno::Errno) -> Errno {
    match e {
        nix::errno::Errno::ESRCH => Errno::new(i64::from(libc::ESRCH)).expect("ESRCH is an errno"),
        nix::errno::Errno::EPERM => Errno::EPERM,
        _ => Errno::EFAULT,
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroUsize;
    use std::ptr::NonNull;

    use nix::sys::mman::{mmap_anonymous, mprotect, munmap, MapFlags, ProtFlags};

    use super::*;

    fn me() -> TargetMemory {
        TargetMemory::new(std::process::id())
    }

    /// Two pages, the second PROT_NONE, unmapped on drop.
    struct Edge(NonNull<libc::c_void>);

    impl Edge {
        fn new() -> Edge {
            let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
            // SAFETY: mmap(2): a fresh private anonymous mapping of two pages; nothing else refers to it.
            let base =
                unsafe { mmap_anonymous(None, NonZeroUsize::new(8192).unwrap(), rw, MapFlags::MAP_PRIVATE) }.unwrap();
            // SAFETY: mprotect(2) on the second page of the mapping above, which only this value uses.
            unsafe { mprotect(base.byte_add(4096), 4096, ProtFlags::PROT_NONE) }.unwrap();
            Edge(base)
        }

        /// Puts `bytes` so that they end at the end of the readable page; returns their address.
        fn put_at_end(&self, bytes: &[u8]) -> u64 {
            let start = 4096 - bytes.len();
            // SAFETY: writes inside the first, writable page of the mapping.
            unsafe {
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.0.as_ptr().cast::<u8>().add(start), bytes.len())
            };
            self.0.as_ptr() as u64 + start as u64
        }
    }

    impl Drop for Edge {
        fn drop(&mut self) {
            // SAFETY: munmap(2) of the mapping made in `new`, which nothing refers to any more.
            let _ = unsafe { munmap(self.0, 8192) };
        }
    }

    #[test]
    fn strings_ending_at_an_unmapped_page_are_read() {
        let edge = Edge::new();
        let addr = edge.put_at_end(b"/tmp/edge\0");
        assert_eq!(me().read_cstring(addr, 4096).unwrap().0, b"/tmp/edge");
        // The same string starting lower, so that the first read crosses into the unreadable page.
        let addr = edge.put_at_end(b"/tmp/edge\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0");
        assert_eq!(me().read_cstring(addr, 4096).unwrap().0, b"/tmp/edge");
        // Unterminated right up to the unreadable page: EFAULT, as the kernel would say.
        let addr = edge.put_at_end(b"/tmp/edgex");
        assert_eq!(me().read_cstring(addr, 4096).unwrap_err(), Errno::EFAULT);
        // An exact read that crosses into it fails; one that ends at it succeeds.
        assert_eq!(me().read(addr, 11).unwrap_err(), Errno::EFAULT);
        assert_eq!(me().read(addr, 10).unwrap().0, b"/tmp/edgex");
    }

    #[test]
    fn strings_longer_than_max_are_enametoolong() {
        let mut text = vec![b'a'; 5000];
        let addr = text.as_ptr() as u64;
        assert_eq!(me().read_cstring(addr, 4096).unwrap_err(), enametoolong());
        // PATH_MAX counts the NUL: 4095 bytes of text fit, 4096 do not.
        text[4095] = 0;
        assert_eq!(me().read_cstring(addr, 4096).unwrap().0.len(), 4095);
        text[4095] = b'a';
        text[4096] = 0;
        assert_eq!(me().read_cstring(addr, 4096).unwrap_err(), enametoolong());
        assert_eq!(me().read_cstring(addr, 0).unwrap_err(), enametoolong());
    }

    #[test]
    fn null_and_wild_pointers_are_efault() {
        for addr in [0, 1, u64::MAX - 16] {
            assert_eq!(me().read_cstring(addr, 4096).unwrap_err(), Errno::EFAULT, "{addr:#x}");
            assert_eq!(me().read(addr, 8).unwrap_err(), Errno::EFAULT, "{addr:#x}");
            assert_eq!(me().read_u64(addr).unwrap_err(), Errno::EFAULT, "{addr:#x}");
            assert_eq!(me().write(addr, &[0]).unwrap_err(), Errno::EFAULT, "{addr:#x}");
        }
        assert_eq!(me().read(0, 0).unwrap().0, b"");
    }

    #[test]
    fn typed_reads_are_little_endian() {
        let value: u64 = 0xfedc_ba98_7654_3210;
        let addr = &value as *const u64 as u64;
        assert_eq!(me().read_u64(addr).unwrap().0, value);
        assert_eq!(me().read_i64(addr).unwrap().0, value as i64);
        assert_eq!(me().read_u32(addr).unwrap().0, 0x7654_3210);
        assert_eq!(me().read_i32(addr + 4).unwrap().0, 0xfedc_ba98_u32 as i32);
    }

    #[test]
    fn writes_land_and_read_only_memory_is_efault() {
        let mut target = [0u8; 4];
        me().write(target.as_mut_ptr() as u64, &[1, 2, 3, 4]).unwrap();
        assert_eq!(std::hint::black_box(target), [1, 2, 3, 4]);
        static READ_ONLY: [u8; 4] = [9; 4];
        assert_eq!(me().write(READ_ONLY.as_ptr() as u64, &[0]).unwrap_err(), Errno::EFAULT);
        let edge = Edge::new();
        let addr = edge.put_at_end(b"ab");
        assert_eq!(me().write(addr, b"abc").unwrap_err(), Errno::EFAULT, "crosses into the PROT_NONE page");
    }

    #[test]
    fn gone_targets_are_esrch() {
        // A pid that is far above pid_max on any default system.
        let nobody = TargetMemory::new(0x3fff_fff0);
        assert_eq!(nobody.read(4096, 1).unwrap_err().get(), libc::ESRCH as u16);
    }
}
