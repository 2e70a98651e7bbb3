//! `probe OP [ARGS…]`: performs one named syscall (or a small pattern of them) and reports the result, for the
//! end-to-end tests. It prints `ok <value>` or `err <NAME> <n>` and exits 0 on success or with the errno (capped at
//! 255) on failure.
//!
//! Ops: `mkdir PATH`, `rmdir PATH`, `unlink PATH`, `chmod PATH MODE`, `open PATH`, `getppid`, `getpid`,
//! `clock_settime SEC`, `settimeofday SEC`, `adjtimex-read`, `write-stdout TEXT`, `exit N`, `kill-self SIG`,
//! `unshare-user`, `sleep-ms N`, `x86-int80-getpid` (i386 getpid through `int 0x80`), `x32-getpid` (x32 getpid),
//! `fork-mkdir N DIR` (N children each mkdir DIR/i; reports how many failed), `loop-getppid N` (prints ns/call).

use std::ffi::CString;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    let num = |i: usize| arg(i).parse::<i64>().unwrap_or_else(|_| usage());
    let cpath = |i: usize| CString::new(arg(i)).unwrap_or_else(|_| usage());
    let result: i64 = match arg(0).as_str() {
        // SAFETY: a plain syscall with valid arguments: owned C strings, zeroed structs or numbers.
        "mkdir" => unsafe { libc::mkdir(cpath(1).as_ptr(), 0o755) }.into(),
        // SAFETY: a plain syscall with valid arguments: owned C strings, zeroed structs or numbers.
        "rmdir" => unsafe { libc::rmdir(cpath(1).as_ptr()) }.into(),
        // SAFETY: a plain syscall with valid arguments: owned C strings, zeroed structs or numbers.
        "unlink" => unsafe { libc::unlink(cpath(1).as_ptr()) }.into(),
        "chmod" => {
            let mode = u32::from_str_radix(&arg(2), 8).unwrap_or_else(|_| usage());
            // SAFETY: a plain syscall with valid arguments: owned C strings, zeroed structs or numbers.
            unsafe { libc::chmod(cpath(1).as_ptr(), mode) }.into()
        }
        // SAFETY: a plain syscall with valid arguments: owned C strings, zeroed structs or numbers.
        "open" => unsafe { libc::open(cpath(1).as_ptr(), libc::O_RDONLY) }.into(),
        // SAFETY: a plain syscall with valid arguments: owned C strings, zeroed structs or numbers.
        "getppid" => unsafe { libc::syscall(libc::SYS_getppid) },
        // SAFETY: a plain syscall with valid arguments: owned C strings, zeroed structs or numbers.
        "getpid" => unsafe { libc::syscall(libc::SYS_getpid) },
        "clock_settime" => {
            let ts = libc::timespec { tv_sec: num(1), tv_nsec: 0 };
            // SAFETY: a plain syscall with valid arguments: owned C strings, zeroed structs or numbers.
            unsafe { libc::syscall(libc::SYS_clock_settime, libc::CLOCK_REALTIME, &ts) }
        }
        "settimeofday" => {
            let tv = libc::timeval { tv_sec: num(1), tv_usec: 0 };
            // SAFETY: a plain syscall with valid arguments: owned C strings, zeroed structs or numbers.
            unsafe { libc::syscall(libc::SYS_settimeofday, &tv, std::ptr::null::<u8>()) }
        }
        "adjtimex-read" => {
            // SAFETY: a plain syscall with valid arguments: owned C strings, zeroed structs or numbers.
            let mut tx: libc::timex = unsafe { std::mem::zeroed() };
            // SAFETY: a plain syscall with valid arguments: owned C strings, zeroed structs or numbers.
            unsafe { libc::syscall(libc::SYS_adjtimex, &mut tx) }
        }
        "write-stdout" => {
            let text = arg(1);
            // SAFETY: a plain syscall with valid arguments: owned C strings, zeroed structs or numbers.
            unsafe { libc::write(1, text.as_ptr().cast(), text.len()) as i64 }
        }
        "exit" => std::process::exit(num(1) as i32),
        // SAFETY: a plain syscall with valid arguments: owned C strings, zeroed structs or numbers.
        "kill-self" => unsafe { libc::kill(libc::getpid(), num(1) as i32) }.into(),
        // SAFETY: a plain syscall with valid arguments: owned C strings, zeroed structs or numbers.
        "unshare-user" => unsafe { libc::unshare(libc::CLONE_NEWUSER) }.into(),
        "sleep-ms" => {
            std::thread::sleep(std::time::Duration::from_millis(num(1) as u64));
            0
        }
        "x86-int80-getpid" => int80(20),
        // SAFETY: a plain syscall with valid arguments: owned C strings, zeroed structs or numbers.
        "x32-getpid" => unsafe { libc::syscall(39 | 0x4000_0000) },
        "fork-mkdir" => fork_mkdir(num(1), &arg(2)),
        "loop-getppid" => {
            let n = num(1).max(1);
            let start = Instant::now();
            for _ in 0..n {
                // SAFETY: a plain syscall with valid arguments: owned C strings, zeroed structs or numbers.
                unsafe { libc::syscall(libc::SYS_getppid) };
            }
            println!("ns/call {}", start.elapsed().as_nanos() / n as u128);
            0
        }
        _ => usage(),
    };
    report(result)
}

fn report(result: i64) -> ! {
    if result >= 0 {
        println!("ok {result}");
        std::process::exit(0);
    }
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    println!("err {} {errno}", errno_name(errno));
    std::process::exit(errno.clamp(1, 255));
}

/// A syscall through the i386 entry (`int 0x80`), which the filter sees with `AUDIT_ARCH_I386`.
#[cfg(target_arch = "x86_64")]
fn int80(nr: i64) -> i64 {
    let mut rax = nr;
    // SAFETY: int 0x80 with a syscall number that takes no arguments (getpid); it clobbers only rax (and r8–r11
    // are preserved by the kernel's compat entry).
    // SAFETY: a plain syscall with valid arguments: owned C strings, zeroed structs or numbers.
    unsafe { std::arch::asm!("int 0x80", inout("rax") rax => rax, options(nostack)) };
    let value = i64::from(rax as i32);
    if value < 0 {
        // SAFETY: writing errno through libc's thread-local location.
        unsafe { *libc::__errno_location() = -value as i32 };
        return -1;
    }
    value
}

#[cfg(not(target_arch = "x86_64"))]
fn int80(_: i64) -> i64 {
    usage()
}

fn fork_mkdir(n: i64, dir: &str) -> i64 {
    let mut children = Vec::new();
    for i in 0..n {
        let path = CString::new(format!("{dir}/{i}")).unwrap_or_else(|_| usage());
        // SAFETY: fork(2); the child only calls mkdir(2) and _exit(2).
        match unsafe { libc::fork() } {
            0 => {
                // SAFETY: see above.
                let rc = unsafe { libc::mkdir(path.as_ptr(), 0o755) };
                // SAFETY: _exit(2) is always safe.
                unsafe { libc::_exit(if rc == 0 { 0 } else { 1 }) }
            }
            pid if pid > 0 => children.push(pid),
            _ => return -1,
        }
    }
    let mut failed = 0;
    for pid in children {
        let mut status = 0;
        // SAFETY: waitpid(2) on our own child with a valid status pointer.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
            failed += 1;
        }
    }
    println!("failed {failed}");
    if failed > 0 {
        // SAFETY: writing errno through libc's thread-local location.
        unsafe { *libc::__errno_location() = libc::EIO };
        return -1;
    }
    0
}

fn errno_name(errno: i32) -> &'static str {
    match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EEXIST => "EEXIST",
        libc::EINVAL => "EINVAL",
        libc::EROFS => "EROFS",
        libc::ENOSYS => "ENOSYS",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        _ => "E?",
    }
}

fn usage() -> ! {
    eprintln!("usage: probe OP [ARGS...] (see the source for the ops)");
    std::process::exit(2)
}
