//! `probe OP [ARGS…]`: performs one named syscall (or a small pattern of them) and reports the result, for the
//! end-to-end tests. It prints one line, `ok <value>` or `err <NAME> <n>`, and exits 0 on success or with the errno
//! (capped at 255) on failure.
//!
//! Ops:
//! - files: `mkdir PATH`, `rmdir PATH`, `unlink PATH`, `chmod PATH MODE` (octal), `open PATH` (read-only);
//! - processes: `getppid`, `getpid`, `exit N`, `kill-self SIG`, `unshare-user`, `sleep-ms N`, `reboot-bad-magic`
//!   (a reboot(2) the kernel refuses: EPERM without CAP_SYS_BOOT, EINVAL with it),
//!   `fork-mkdir N DIR` (N children each mkdir DIR/i; the parent waits and reports how many failed);
//! - clocks: `clock_settime SEC [NSEC]` (CLOCK_REALTIME), `clock_settime-fault` (an unmapped pointer),
//!   `settimeofday SEC`, `adjtimex-read` (modes 0: reads, never sets);
//! - output: `write-stdout TEXT`;
//! - other entry points: `x86-int80-getpid` (i386 getpid through `int 0x80`), `x32-getpid` (x32 getpid);
//! - timing: `loop-getppid N` (prints ns/call before the result line).

use std::ffi::CString;
use std::time::Instant;

/// i386 `__NR_getpid` (arch/x86/entry/syscalls/syscall_32.tbl).
const I386_GETPID: i64 = 20;
/// An address below vm.mmap_min_addr (64 KiB by default, never less than one page): never mapped.
const UNMAPPED: usize = 0x1000;
/// Not `LINUX_REBOOT_MAGIC1` (0xfee1dead): reboot(2) fails with EINVAL (or EPERM without CAP_SYS_BOOT).
const BAD_REBOOT_MAGIC: libc::c_long = 0xdead_0bad;
/// x32 `__NR_getpid`: the x86_64 number with `__X32_SYSCALL_BIT` set.
const X32_GETPID: i64 = 39 | 0x4000_0000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    let num = |i: usize| arg(i).parse::<i64>().unwrap_or_else(|_| usage());
    let cpath = |i: usize| CString::new(arg(i)).unwrap_or_else(|_| usage());
    let result: i64 = match arg(0).as_str() {
        "mkdir" => {
            let path = cpath(1);
            // SAFETY: mkdir(2) reads a NUL-terminated path; `path` is an owned CString alive for the call.
            unsafe { libc::mkdir(path.as_ptr(), 0o755) }.into()
        }
        "rmdir" => {
            let path = cpath(1);
            // SAFETY: rmdir(2) reads a NUL-terminated path; `path` is an owned CString alive for the call.
            unsafe { libc::rmdir(path.as_ptr()) }.into()
        }
        "unlink" => {
            let path = cpath(1);
            // SAFETY: unlink(2) reads a NUL-terminated path; `path` is an owned CString alive for the call.
            unsafe { libc::unlink(path.as_ptr()) }.into()
        }
        "chmod" => {
            let path = cpath(1);
            let mode = u32::from_str_radix(&arg(2), 8).unwrap_or_else(|_| usage());
            // SAFETY: chmod(2) reads a NUL-terminated path; `path` is an owned CString alive for the call.
            unsafe { libc::chmod(path.as_ptr(), mode) }.into()
        }
        "open" => {
            let path = cpath(1);
            // SAFETY: open(2) reads a NUL-terminated path; `path` is an owned CString alive for the call. The fd is
            // left open: the process exits right after reporting it.
            unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) }.into()
        }
        // SAFETY: getppid(2) takes no arguments and cannot fail.
        "getppid" => unsafe { libc::syscall(libc::SYS_getppid) },
        // SAFETY: getpid(2) takes no arguments and cannot fail.
        "getpid" => unsafe { libc::syscall(libc::SYS_getpid) },
        "clock_settime" => {
            let nsec = if args.len() > 2 { num(2) } else { 0 };
            let ts = libc::timespec { tv_sec: num(1), tv_nsec: nsec };
            // SAFETY: clock_settime(2) reads one `struct timespec` through its pointer; `ts` lives on the stack for
            // the whole call. The raw syscall keeps glibc from validating or converting anything first.
            unsafe { libc::syscall(libc::SYS_clock_settime, libc::CLOCK_REALTIME, &ts as *const libc::timespec) }
        }
        "clock_settime-fault" => {
            // SAFETY: clock_settime(2) with a pointer below vm.mmap_min_addr, which is never mapped: the kernel's
            // copy_from_user fails with EFAULT, and this process's memory is never touched.
            unsafe { libc::syscall(libc::SYS_clock_settime, libc::CLOCK_REALTIME, UNMAPPED as *const libc::timespec) }
        }
        "settimeofday" => {
            let tv = libc::timeval { tv_sec: num(1), tv_usec: 0 };
            // SAFETY: settimeofday(2) reads one `struct timeval` (alive on the stack) and accepts a NULL timezone.
            unsafe { libc::syscall(libc::SYS_settimeofday, &tv as *const libc::timeval, std::ptr::null::<u8>()) }
        }
        "adjtimex-read" => {
            // SAFETY: `struct timex` is plain old data (integers only); all zeroes is a valid value, and modes 0
            // asks adjtimex(2) to read only.
            let mut tx: libc::timex = unsafe { std::mem::zeroed() };
            // SAFETY: adjtimex(2) reads and writes one `struct timex` through its pointer; `tx` is a live, exclusive
            // stack value for the whole call.
            unsafe { libc::syscall(libc::SYS_adjtimex, &mut tx as *mut libc::timex) }
        }
        "write-stdout" => {
            let text = arg(1);
            // SAFETY: write(2) reads `text.len()` bytes from a live buffer of exactly that length.
            unsafe { libc::write(libc::STDOUT_FILENO, text.as_ptr().cast(), text.len()) as i64 }
        }
        "exit" => std::process::exit(num(1) as i32),
        "kill-self" => {
            let sig = num(1) as i32;
            // SAFETY: kill(2) and getpid(2) take plain integers; signalling ourselves is the point.
            unsafe { libc::kill(libc::getpid(), sig) }.into()
        }
        "reboot-bad-magic" => {
            // SAFETY: reboot(2) with a wrong first magic number: the kernel checks CAP_SYS_BOOT (EPERM without it),
            // then the magic numbers (EINVAL), and never reaches the command. Nothing is rebooted either way.
            unsafe { libc::syscall(libc::SYS_reboot, BAD_REBOOT_MAGIC, 0, 0, std::ptr::null::<u8>()) }
        }
        // SAFETY: unshare(2) takes a flags integer; CLONE_NEWUSER affects only this process.
        "unshare-user" => unsafe { libc::unshare(libc::CLONE_NEWUSER) }.into(),
        "sleep-ms" => {
            std::thread::sleep(std::time::Duration::from_millis(num(1).max(0) as u64));
            0
        }
        "x86-int80-getpid" => int80(I386_GETPID),
        // SAFETY: syscall(2) with the x32 getpid number, which takes no arguments; where x32 is disabled the kernel
        // returns ENOSYS.
        "x32-getpid" => unsafe { libc::syscall(X32_GETPID) },
        "fork-mkdir" => fork_mkdir(num(1), &arg(2)),
        "loop-getppid" => {
            let n = num(1).max(1);
            let start = Instant::now();
            for _ in 0..n {
                // SAFETY: getppid(2) takes no arguments and cannot fail.
                unsafe { libc::syscall(libc::SYS_getppid) };
            }
            println!("ns/call {}", start.elapsed().as_nanos() / n as u128);
            0
        }
        _ => usage(),
    };
    report(result)
}

/// Prints the result line and exits: 0 for success, the errno (1..=255) for a failure.
fn report(result: i64) -> ! {
    if result >= 0 {
        println!("ok {result}");
        std::process::exit(0);
    }
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    println!("err {} {errno}", errno_name(errno));
    std::process::exit(errno.clamp(1, 255));
}

/// Sets the calling thread's errno, so `report` can read it back like libc's own failures.
fn set_errno(errno: i32) {
    // SAFETY: __errno_location(3) returns a valid pointer to this thread's errno for the thread's whole life.
    unsafe { *libc::__errno_location() = errno };
}

/// A syscall without arguments through the i386 entry (`int 0x80`), which the filter sees with `AUDIT_ARCH_I386`.
#[cfg(target_arch = "x86_64")]
fn int80(nr: i64) -> i64 {
    let mut rax = nr;
    // SAFETY: `int 0x80` enters the kernel's ia32 compat path (arch/x86/entry/entry_64_compat.S) with the number in
    // eax. The syscalls used here take no arguments and touch no memory. The result comes back in eax; r8–r11 are
    // declared clobbered because kernels before 4.17 zeroed them on this path. Where ia32 emulation is disabled the
    // process gets SIGSEGV, which the caller sees as an exit status.
    unsafe {
        std::arch::asm!(
            "int 0x80",
            inout("rax") rax,
            lateout("r8") _, lateout("r9") _, lateout("r10") _, lateout("r11") _,
            options(nostack),
        )
    };
    let value = i64::from(rax as i32);
    if value < 0 {
        set_errno(-value as i32);
        return -1;
    }
    value
}

#[cfg(not(target_arch = "x86_64"))]
fn int80(_: i64) -> i64 {
    eprintln!("probe: x86-int80-getpid needs x86_64");
    std::process::exit(2)
}

/// Forks `n` children that each mkdir `dir/i`, waits for all of them and reports how many failed (EIO if any).
fn fork_mkdir(n: i64, dir: &str) -> i64 {
    let paths: Vec<CString> = (0..n).map(|i| CString::new(format!("{dir}/{i}")).unwrap_or_else(|_| usage())).collect();
    let mut children = Vec::new();
    for path in &paths {
        // SAFETY: fork(2) in a single-threaded process; the child only calls the async-signal-safe mkdir(2) and
        // _exit(2) on memory prepared before the fork.
        match unsafe { libc::fork() } {
            0 => {
                // SAFETY: mkdir(2) reads the NUL-terminated path built before the fork.
                let rc = unsafe { libc::mkdir(path.as_ptr(), 0o755) };
                // SAFETY: _exit(2) ends the child without running the parent's atexit handlers or destructors.
                unsafe { libc::_exit(if rc == 0 { 0 } else { 1 }) }
            }
            pid if pid > 0 => children.push(pid),
            _ => return -1,
        }
    }
    let mut failed = 0;
    for pid in children {
        let mut status = 0;
        // SAFETY: waitpid(2) on our own child with a pointer to a live `c_int`.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc != pid || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
            failed += 1;
        }
    }
    println!("failed {failed}");
    if failed > 0 {
        set_errno(libc::EIO);
        return -1;
    }
    0
}

/// The symbolic name of the errnos the tests look for.
fn errno_name(errno: i32) -> &'static str {
    const NAMES: &[(i32, &str)] = &[
        (libc::EPERM, "EPERM"),
        (libc::ENOENT, "ENOENT"),
        (libc::ESRCH, "ESRCH"),
        (libc::EINTR, "EINTR"),
        (libc::EIO, "EIO"),
        (libc::E2BIG, "E2BIG"),
        (libc::ENOEXEC, "ENOEXEC"),
        (libc::EBADF, "EBADF"),
        (libc::ECHILD, "ECHILD"),
        (libc::EAGAIN, "EAGAIN"),
        (libc::ENOMEM, "ENOMEM"),
        (libc::EACCES, "EACCES"),
        (libc::EFAULT, "EFAULT"),
        (libc::EBUSY, "EBUSY"),
        (libc::EEXIST, "EEXIST"),
        (libc::EXDEV, "EXDEV"),
        (libc::ENOTDIR, "ENOTDIR"),
        (libc::EISDIR, "EISDIR"),
        (libc::EINVAL, "EINVAL"),
        (libc::EMFILE, "EMFILE"),
        (libc::ENOSPC, "ENOSPC"),
        (libc::EROFS, "EROFS"),
        (libc::EMLINK, "EMLINK"),
        (libc::ENAMETOOLONG, "ENAMETOOLONG"),
        (libc::ENOSYS, "ENOSYS"),
        (libc::ENOTEMPTY, "ENOTEMPTY"),
        (libc::ELOOP, "ELOOP"),
        (libc::EOPNOTSUPP, "EOPNOTSUPP"),
        (libc::ECONNREFUSED, "ECONNREFUSED"),
        (libc::ETIMEDOUT, "ETIMEDOUT"),
    ];
    NAMES.iter().find(|(n, _)| *n == errno).map_or("E?", |(_, name)| name)
}

fn usage() -> ! {
    eprintln!("usage: probe OP [ARGS...] (the ops are listed at the top of tests/src/probe.rs)");
    std::process::exit(2)
}
