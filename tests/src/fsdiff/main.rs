//! `fsdiff`: the judge of supervise's path emulation. It runs a fixed list of named path calls of
//! the emulated families (`open`, `openat`, `openat2`, `creat`, `mkdir`, `mkdirat`, `unlink`, `unlinkat`, `rmdir`;
//! then `rename`, `renameat`, `renameat2`, `link`, `linkat`, `symlink`, `symlinkat`, `chmod`, `fchmodat`,
//! `fchmodat2`, `chown`, `lchown`, `fchownat`, `truncate`, `utimensat`, `mknod`, `mknodat`), each as the raw
//! syscall of that name, and prints one deterministic line per call. The same list run plainly and
//! under `supervise` with an allow-all path policy must print the same lines: any difference is a place where the
//! emulation does not give the kernel's answer.
//!
//! - `fsdiff prepare ROOT UID [--sysctl TEXT]`: builds ROOT (as root): one directory per op, holding the base set
//!   of entries and the op's own, owned by UID where the program must be able to write.
//! - `fsdiff run [--sysctl TEXT] [--tmpfs]` (cwd: ROOT): runs every op in its own directory, in order (with
//!   `--tmpfs`, where the program is root in a mount namespace of its own, the ops that ask for a tmpfs on one of
//!   their directories get one, for the duration of the op), and prints a header
//!   (`# …` lines: the op count, the sysctl values given, credentials, capabilities, open fds) and then
//!   `NAME: RESULT | PATH=STATE…`, where RESULT is `errno=NAME`, `ret=N`, or for a returned fd its number, type,
//!   mode, owner, F_GETFL, FD_CLOEXEC, position and a fingerprint of its content. Each fd is closed after its op.
//!   STATE is the lstat of every path the call names (both, for the two-path calls) and of the paths the op asks
//!   for (`@PATH`: stat, following): type, mode, owner, size, link count, a symlink's text, a device's numbers, and
//!   for the `utimensat` ops the times (the tree then starts at a fixed time, and a time of this run is `now`).
//! - `fsdiff list`: the op names.
//!
//! Setup steps (dirfds, memfds, renames) use calls outside the families under test (`open_tree`, `memfd_create`,
//! and `openat`, `renameat`, `unlinkat` submitted through io_uring, which seccomp does not see), so that a setup
//! never depends on the emulation it judges; links, symlinks, devices and odd modes are made by `prepare`, which
//! runs plainly.

mod ops;
mod run;
mod sys;
mod tree;
mod uring;

use std::io::Write;
use std::os::unix::ffi::OsStrExt;

fn main() {
    let args: Vec<Vec<u8>> = std::env::args_os().skip(1).map(|a| a.as_bytes().to_vec()).collect();
    let sysctl = args.iter().position(|a| a == b"--sysctl").and_then(|i| args.get(i + 1)).cloned();
    let tmpfs = args.iter().any(|a| a == b"--tmpfs");
    run::TMPFS.store(tmpfs, std::sync::atomic::Ordering::Relaxed);
    let ops = ops::all();
    match args.first().map(Vec::as_slice) {
        Some(b"prepare") if args.len() >= 3 => {
            let uid: u32 = String::from_utf8_lossy(&args[2]).parse().unwrap_or_else(|_| usage());
            if let Err(e) = tree::prepare(&args[1], uid, &ops) {
                eprintln!("fsdiff: {e}");
                std::process::exit(1);
            }
        }
        Some(b"run") => run_all(&ops, sysctl.as_deref()),
        Some(b"list") => ops.iter().for_each(|op| println!("{}", op.name)),
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!("usage: fsdiff prepare ROOT UID | fsdiff run [--sysctl TEXT] [--tmpfs] | fsdiff list");
    std::process::exit(2)
}

fn run_all(ops: &[ops::Op], sysctl: Option<&[u8]>) {
    sys::umask(run::UMASK);
    let since = sys::coarse_now();
    let root = sys::getcwd();
    let (uids, gids, groups, caps) = sys::creds();
    let open_fds: Vec<String> =
        (0..64).filter(|&fd| sys::fcntl(fd, libc::F_GETFD).is_ok()).map(|fd| fd.to_string()).collect();
    let mut out = Vec::new();
    out.push(format!("# fsdiff: {} ops", ops.len()));
    out.push(format!("# sysctl: {}", run::show(sysctl.unwrap_or(b"(not given)"))));
    out.push(format!(
        "# tmpfs mounts: {}",
        if run::TMPFS.load(std::sync::atomic::Ordering::Relaxed) { "yes" } else { "no" }
    ));
    out.push(format!("# uids={uids:?} gids={gids:?} groups={groups:?} capeff={caps:#x}"));
    out.push(format!("# open fds: {}", open_fds.join(",")));
    let stdout = std::io::stdout();
    let mut stdout = stdout.lock();
    for line in out {
        writeln!(stdout, "{line}").expect("stdout");
    }
    for op in ops {
        writeln!(stdout, "{}", run::run(op, &root, since)).expect("stdout");
    }
}
