//! The 32-bit sends of `netprobe`: `sendmsg` and `sendmmsg` through the i386 entry (`int 0x80`), with the i386
//! structures (`compat_msghdr`, `compat_iovec`, `compat_cmsghdr`) in memory below 4 GiB, as a 32-bit program makes
//! them. The filter sees them with `AUDIT_ARCH_I386`.
//!
//! - `compat-sendmsg ADDR`: two iovecs (3 + 4 bytes);
//! - `compat-sendmmsg ADDR…`: one 4-byte message to each; prints `msg_len …` as `sendmmsg`;
//! - `compat-scm-rights unix:PATH`: as `scm-rights`, the fd sent with a 32-bit SCM_RIGHTS message.

use super::{report, sockaddr};

const I386_SENDMSG: u32 = 370;
const I386_SENDMMSG: u32 = 345;
const COMPAT_MSGHDR: usize = 28;
const COMPAT_MMSGHDR: usize = 32;

/// An i386 syscall with up to four arguments through `int 0x80`; the kernel's negative errno, or the value.
#[cfg(target_arch = "x86_64")]
fn int80(nr: u32, args: [u32; 4]) -> i64 {
    let mut rax = u64::from(nr);
    // SAFETY: `int 0x80` enters the kernel's ia32 compat path with the number in eax and the arguments in ebx, ecx,
    // edx, esi. rbx cannot be an operand, so the first argument is swapped into it and back through rdi (the kernel
    // preserves ebx). The calls made here only read memory below 4 GiB that the caller set up. r8–r11 are declared
    // clobbered because kernels before 4.17 zeroed them on this path.
    unsafe {
        std::arch::asm!(
            "xchg rdi, rbx",
            "int 0x80",
            "xchg rdi, rbx",
            inout("rax") rax,
            inout("rdi") u64::from(args[0]) => _,
            in("rcx") u64::from(args[1]),
            in("rdx") u64::from(args[2]),
            in("rsi") u64::from(args[3]),
            lateout("r8") _, lateout("r9") _, lateout("r10") _, lateout("r11") _,
            options(nostack),
        )
    };
    i64::from(rax as i32)
}

#[cfg(not(target_arch = "x86_64"))]
fn int80(_: u32, _: [u32; 4]) -> i64 {
    eprintln!("netprobe: the compat ops need x86_64");
    std::process::exit(2)
}

/// 64 KiB below 2 GiB (`MAP_32BIT`), as a byte slice of ours.
fn low_memory() -> &'static mut [u8] {
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_32BIT;
    // SAFETY: mmap(2) of new anonymous memory; it is never unmapped, so the slice lives as long as the process.
    unsafe {
        let at = libc::mmap(std::ptr::null_mut(), 65536, libc::PROT_READ | libc::PROT_WRITE, flags, -1, 0);
        if at == libc::MAP_FAILED {
            report(-1);
        }
        std::slice::from_raw_parts_mut(at.cast::<u8>(), 65536)
    }
}

fn put(mem: &mut [u8], at: usize, words: &[u32]) {
    for (i, w) in words.iter().enumerate() {
        mem[at + 4 * i..at + 4 * i + 4].copy_from_slice(&w.to_ne_bytes());
    }
}

/// The kernel's result as netprobe reports it (errno set for `report`).
fn result(rc: i64) -> i64 {
    if rc < 0 {
        // SAFETY: __errno_location(3) points to this thread's errno.
        unsafe { *libc::__errno_location() = -rc as i32 };
        return -1;
    }
    rc
}

/// A compat msghdr at `at` for the name at `name` (of `namelen` bytes), `iov` iovecs at `iov_at`, and control data.
fn msghdr(mem: &mut [u8], at: usize, name: (usize, usize), iov: (usize, u32), control: (usize, u32)) {
    let base = mem.as_ptr() as usize;
    let addr = |off: usize| if off == 0 { 0 } else { (base + off) as u32 };
    put(mem, at, &[addr(name.0), name.1 as u32, addr(iov.0), iov.1, addr(control.0), control.1, 0]);
}

pub fn run(op: &str, args: &[String]) -> i64 {
    let mem = low_memory();
    let base = mem.as_ptr() as usize;
    let fd_of = |a: &[u8]| {
        // SAFETY: socket(2) takes no pointers.
        unsafe { libc::socket(i32::from(u16::from_ne_bytes([a[0], a[1]])), libc::SOCK_DGRAM, 0) }
    };
    match op {
        "compat-sendmsg" => {
            let a = sockaddr(&args[0]);
            mem[..a.len()].copy_from_slice(&a);
            mem[256..263].copy_from_slice(b"abcdefg");
            put(mem, 512, &[(base + 256) as u32, 3, (base + 259) as u32, 4]);
            msghdr(mem, 1024, (0, a.len()), (512, 2), (0, 0));
            // The name is at offset 0 of the mapping: msghdr() takes offset 0 as "none", so set it here.
            put(mem, 1024, &[base as u32]);
            result(int80(I386_SENDMSG, [fd_of(&a) as u32, (base + 1024) as u32, 0, 0]))
        }
        "compat-sendmmsg" => {
            let addrs: Vec<Vec<u8>> = args.iter().map(|a| sockaddr(a)).collect();
            mem[256..260].copy_from_slice(b"mmsg");
            put(mem, 512, &[(base + 256) as u32, 4]);
            for (i, a) in addrs.iter().enumerate() {
                let name = 8192 + 128 * i;
                mem[name..name + a.len()].copy_from_slice(a);
                msghdr(mem, 4096 + COMPAT_MMSGHDR * i, (name, a.len()), (512, 1), (0, 0));
            }
            let rc =
                result(int80(I386_SENDMMSG, [fd_of(&addrs[0]) as u32, (base + 4096) as u32, addrs.len() as u32, 0]));
            if rc > 0 {
                let lens: Vec<String> = (0..addrs.len())
                    .map(|i| {
                        let at = 4096 + COMPAT_MMSGHDR * i + COMPAT_MSGHDR;
                        u32::from_ne_bytes(mem[at..at + 4].try_into().unwrap()).to_string()
                    })
                    .collect();
                println!("msg_len {}", lens.join(" "));
            }
            rc
        }
        "compat-scm-rights" => {
            let a = sockaddr(&args[0]);
            let (receiver, sender) = (fd_of(&a), fd_of(&a));
            let mut pipe = [0i32; 2];
            // SAFETY: bind(2) reads a live sockaddr.
            let bound = unsafe { libc::bind(receiver, a.as_ptr().cast(), a.len() as u32) };
            // SAFETY: pipe(2) writes two ints into a live array.
            if bound < 0 || unsafe { libc::pipe(pipe.as_mut_ptr()) } < 0 {
                return -1;
            }
            mem[128..128 + a.len()].copy_from_slice(&a);
            mem[256] = b'f';
            put(mem, 512, &[(base + 256) as u32, 1]);
            put(mem, 2048, &[16, libc::SOL_SOCKET as u32, libc::SCM_RIGHTS as u32, pipe[1] as u32]);
            msghdr(mem, 1024, (128, a.len()), (512, 1), (2048, 16));
            if result(int80(I386_SENDMSG, [sender as u32, (base + 1024) as u32, 0, 0])) < 0 {
                return -1;
            }
            // SAFETY: closes our own write end: only the received copy can write now.
            unsafe { libc::close(pipe[1]) };
            super::sends::receive_and_use(receiver, pipe[0])
        }
        _ => super::usage(),
    }
}
