//! Setup steps that seccomp never sees: `openat`, `renameat` and `unlinkat` submitted through a one-entry io_uring.
//! Since the allow-all policy names every family with a path, a setup made by those syscalls would go through the
//! emulation it judges; io_uring requests do not pass the filter. Where io_uring is refused (ENOSYS, EPERM,
//! kernel.io_uring_disabled) the step falls back to the plain syscall, whose result is the same when the emulation
//! is right.

use std::ffi::CStr;

use crate::sys::{self, Res};

const IORING_OP_OPENAT: u8 = 18;
const IORING_OP_RENAMEAT: u8 = 35;
const IORING_OP_UNLINKAT: u8 = 36;
const IORING_ENTER_GETEVENTS: libc::c_long = 1;
const IORING_OFF_SQ_RING: i64 = 0;
const IORING_OFF_CQ_RING: i64 = 0x800_0000;
const IORING_OFF_SQES: i64 = 0x1000_0000;

/// One request: `struct io_uring_sqe` (64 bytes) as fields.
struct Sqe {
    opcode: u8,
    fd: i32,
    off: u64,
    addr: u64,
    len: u32,
    op_flags: u32,
}

impl Sqe {
    fn bytes(&self) -> [u8; 64] {
        let mut b = [0u8; 64];
        b[0] = self.opcode;
        b[4..8].copy_from_slice(&self.fd.to_ne_bytes());
        b[8..16].copy_from_slice(&self.off.to_ne_bytes());
        b[16..24].copy_from_slice(&self.addr.to_ne_bytes());
        b[24..28].copy_from_slice(&self.len.to_ne_bytes());
        b[28..32].copy_from_slice(&self.op_flags.to_ne_bytes());
        b
    }
}

/// A mapping, unmapped on drop.
struct Map(*mut u8, usize);

impl Map {
    fn new(ring: i32, len: usize, offset: i64) -> Result<Map, i32> {
        // SAFETY: a fresh shared mapping of the ring's own memory; nothing else refers to the address range.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                ring,
                offset,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(sys::errno());
        }
        Ok(Map(p.cast(), len))
    }
    fn u32_at(&self, off: u32) -> *mut u32 {
        assert!(off as usize + 4 <= self.1, "io_uring offset inside the mapping");
        // SAFETY: in bounds (checked above) and 4-aligned (the kernel's ring layout).
        unsafe { self.0.add(off as usize).cast() }
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: the range came from mmap and is not used after this.
        unsafe { libc::munmap(self.0.cast(), self.1) };
    }
}

/// Submits one request, waits for it and returns its result; the outer `Err` when io_uring itself is unavailable.
fn submit(sqe: &Sqe) -> Result<Res, i32> {
    // struct io_uring_params as 30 u32: sq_off at word 10, cq_off at word 20.
    let mut params = [0u32; 30];
    let ring = sys::syscall6(libc::SYS_io_uring_setup, 1, params.as_mut_ptr() as libc::c_long, 0, 0, 0, 0)? as i32;
    let result = (|| {
        let sq_len = params[16] as usize + params[0] as usize * 4;
        let cq_len = params[25] as usize + params[1] as usize * 16;
        let sq = Map::new(ring, sq_len, IORING_OFF_SQ_RING)?;
        let cq = Map::new(ring, cq_len, IORING_OFF_CQ_RING)?;
        let sqes = Map::new(ring, 64 * params[0] as usize, IORING_OFF_SQES)?;
        // SAFETY: the pointers are inside the kernel's ring mappings, at the offsets it gave; this program is the
        // only submitter and the request is complete before the tail is published.
        unsafe {
            let tail = sq.u32_at(params[11]).read_volatile();
            let mask = sq.u32_at(params[12]).read_volatile();
            std::ptr::copy_nonoverlapping(sqe.bytes().as_ptr(), sqes.0, 64);
            sq.u32_at(params[16] + 4 * (tail & mask)).write_volatile(0);
            std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
            sq.u32_at(params[11]).write_volatile(tail.wrapping_add(1));
        }
        sys::syscall6(libc::SYS_io_uring_enter, ring.into(), 1, 1, IORING_ENTER_GETEVENTS, 0, 0)?;
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
        // SAFETY: as above, in the completion ring; one completion was waited for.
        let res = unsafe {
            let head = cq.u32_at(params[20]).read_volatile();
            let mask = cq.u32_at(params[22]).read_volatile();
            let res = cq.u32_at(params[25] + 16 * (head & mask) + 8).read_volatile() as i32;
            cq.u32_at(params[20]).write_volatile(head.wrapping_add(1));
            res
        };
        Ok(if res < 0 { Err(-res) } else { Ok(i64::from(res)) })
    })();
    sys::close(ring);
    result
}

/// `openat(dirfd, path, flags, mode)` through io_uring (else the syscall).
pub fn openat(dirfd: i32, path: &CStr, flags: i32, mode: u32) -> Res {
    let sqe = Sqe {
        opcode: IORING_OP_OPENAT,
        fd: dirfd,
        off: 0,
        addr: path.as_ptr() as u64,
        len: mode,
        op_flags: flags as u32,
    };
    submit(&sqe).unwrap_or_else(|_| sys::openat(dirfd, path, flags, mode))
}

/// `renameat2(AT_FDCWD, from, AT_FDCWD, to, 0)` through io_uring (else the syscall).
pub fn rename(from: &CStr, to: &CStr) -> Res {
    let sqe = Sqe {
        opcode: IORING_OP_RENAMEAT,
        fd: libc::AT_FDCWD,
        off: to.as_ptr() as u64,
        addr: from.as_ptr() as u64,
        len: libc::AT_FDCWD as u32,
        op_flags: 0,
    };
    submit(&sqe).unwrap_or_else(|_| sys::renameat(libc::AT_FDCWD, from, to))
}

/// `unlinkat(AT_FDCWD, path, flags)` through io_uring (else the syscall).
pub fn unlink(path: &CStr, flags: i32) -> Res {
    let sqe = Sqe {
        opcode: IORING_OP_UNLINKAT,
        fd: libc::AT_FDCWD,
        off: 0,
        addr: path.as_ptr() as u64,
        len: 0,
        op_flags: flags as u32,
    };
    submit(&sqe).unwrap_or_else(|_| sys::unlinkat(libc::AT_FDCWD, path, flags))
}
