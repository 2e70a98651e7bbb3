//! Raw system calls for `fsdiff`: every path call of the families under test goes to the kernel as the syscall of
//! that name (`open` is `SYS_open`, never glibc's `openat`), with exactly the flags given; everything else (lstat,
//! chdir, rename, fcntl, pread) is a syscall that supervise's path policy does not notify.

use std::ffi::{CStr, CString};

/// A syscall's result: the return value, or the errno.
pub type Res = Result<i64, i32>;

/// The errno of the last failed call.
pub fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn check(ret: i64) -> Res {
    if ret < 0 {
        Err(errno())
    } else {
        Ok(ret)
    }
}

/// A path for the kernel. Paths never hold a NUL byte (they are written in the ops list).
pub fn c(path: &[u8]) -> CString {
    CString::new(path).expect("no NUL in an fsdiff path")
}

/// `syscall(nr, a, b, c, d)` with every argument as a long.
fn sys4(nr: libc::c_long, a: libc::c_long, b: libc::c_long, c: libc::c_long, d: libc::c_long) -> Res {
    // SAFETY: every caller passes the argument list of `nr`; pointer arguments come from live CStrings, buffers or
    // structs owned by the caller for the duration of the call.
    check(unsafe { libc::syscall(nr, a, b, c, d) })
}

/// `syscall(nr, a, b, c, d, e, f)` with every argument as a long.
pub fn syscall6(
    nr: libc::c_long,
    a: libc::c_long,
    b: libc::c_long,
    c: libc::c_long,
    d: libc::c_long,
    e: libc::c_long,
    f: libc::c_long,
) -> Res {
    // SAFETY: as in `sys4`: callers pass the argument list of `nr`, pointers to memory they own for the call.
    check(unsafe { libc::syscall(nr, a, b, c, d, e, f) })
}

fn ptr(p: &CStr) -> libc::c_long {
    p.as_ptr() as libc::c_long
}

/// The legacy path syscalls of x86_64 (`open`, `creat`, `mkdir`, `unlink`, `rmdir`). Other architectures have
/// none: the ops then report ENOSYS in both runs.
#[cfg(target_arch = "x86_64")]
mod legacy {
    pub const OPEN: libc::c_long = libc::SYS_open;
    pub const CREAT: libc::c_long = libc::SYS_creat;
    pub const MKDIR: libc::c_long = libc::SYS_mkdir;
    pub const UNLINK: libc::c_long = libc::SYS_unlink;
    pub const RMDIR: libc::c_long = libc::SYS_rmdir;
}
#[cfg(not(target_arch = "x86_64"))]
mod legacy {
    pub const OPEN: libc::c_long = -1;
    pub const CREAT: libc::c_long = -1;
    pub const MKDIR: libc::c_long = -1;
    pub const UNLINK: libc::c_long = -1;
    pub const RMDIR: libc::c_long = -1;
}

/// The calls of the two-path, attribute and node families, by name.
#[derive(Clone, Copy, Debug)]
pub enum Sys {
    Rename,
    Renameat,
    Renameat2,
    Link,
    Linkat,
    Symlink,
    Symlinkat,
    Chmod,
    Fchmodat,
    Fchmodat2,
    Chown,
    Lchown,
    Fchownat,
    Truncate,
    Utimensat,
    Mknod,
    Mknodat,
}

#[cfg(target_arch = "x86_64")]
mod legacy2 {
    pub const RENAME: libc::c_long = libc::SYS_rename;
    pub const LINK: libc::c_long = libc::SYS_link;
    pub const SYMLINK: libc::c_long = libc::SYS_symlink;
    pub const CHMOD: libc::c_long = libc::SYS_chmod;
    pub const CHOWN: libc::c_long = libc::SYS_chown;
    pub const LCHOWN: libc::c_long = libc::SYS_lchown;
    pub const MKNOD: libc::c_long = libc::SYS_mknod;
}
#[cfg(not(target_arch = "x86_64"))]
mod legacy2 {
    pub const RENAME: libc::c_long = -1;
    pub const LINK: libc::c_long = -1;
    pub const SYMLINK: libc::c_long = -1;
    pub const CHMOD: libc::c_long = -1;
    pub const CHOWN: libc::c_long = -1;
    pub const LCHOWN: libc::c_long = -1;
    pub const MKNOD: libc::c_long = -1;
}

impl Sys {
    /// The syscall number; -1 for a legacy call this architecture does not have.
    pub fn nr(self) -> libc::c_long {
        match self {
            Sys::Rename => legacy2::RENAME,
            Sys::Renameat => libc::SYS_renameat,
            Sys::Renameat2 => libc::SYS_renameat2,
            Sys::Link => legacy2::LINK,
            Sys::Linkat => libc::SYS_linkat,
            Sys::Symlink => legacy2::SYMLINK,
            Sys::Symlinkat => libc::SYS_symlinkat,
            Sys::Chmod => legacy2::CHMOD,
            Sys::Fchmodat => libc::SYS_fchmodat,
            // The same number on every architecture (since 6.6).
            Sys::Fchmodat2 => 452,
            Sys::Chown => legacy2::CHOWN,
            Sys::Lchown => legacy2::LCHOWN,
            Sys::Fchownat => libc::SYS_fchownat,
            Sys::Truncate => libc::SYS_truncate,
            Sys::Utimensat => libc::SYS_utimensat,
            Sys::Mknod => legacy2::MKNOD,
            Sys::Mknodat => libc::SYS_mknodat,
        }
    }

    /// Runs the call with these raw arguments (ENOSYS for a call the architecture does not have).
    pub fn call(self, a: &[libc::c_long]) -> Res {
        let nr = self.nr();
        if nr < 0 {
            return Err(libc::ENOSYS);
        }
        let arg = |i: usize| a.get(i).copied().unwrap_or(0);
        syscall6(nr, arg(0), arg(1), arg(2), arg(3), arg(4), arg(5))
    }
}

fn legacy(nr: libc::c_long, a: libc::c_long, b: libc::c_long, c: libc::c_long) -> Res {
    if nr < 0 {
        return Err(libc::ENOSYS);
    }
    sys4(nr, a, b, c, 0)
}

pub fn open(path: &CStr, flags: i32, mode: u32) -> Res {
    legacy(legacy::OPEN, ptr(path), flags as libc::c_long, mode as libc::c_long)
}

pub fn openat(dirfd: i32, path: &CStr, flags: i32, mode: u32) -> Res {
    sys4(libc::SYS_openat, dirfd as libc::c_long, ptr(path), flags as libc::c_long, mode as libc::c_long)
}

/// `openat2(dirfd, path, how, size)`: `how` is `struct open_how` (flags, mode, resolve) followed by any extra
/// words (zero or not, for the size checks); `size` may be anything.
pub fn openat2(dirfd: i32, path: &CStr, how: &[u64; 8], size: usize) -> Res {
    let how = how.as_ptr() as libc::c_long;
    sys4(libc::SYS_openat2, dirfd as libc::c_long, ptr(path), how, size as libc::c_long)
}

pub fn creat(path: &CStr, mode: u32) -> Res {
    legacy(legacy::CREAT, ptr(path), mode as libc::c_long, 0)
}

pub fn mkdir(path: &CStr, mode: u32) -> Res {
    legacy(legacy::MKDIR, ptr(path), mode as libc::c_long, 0)
}

pub fn mkdirat(dirfd: i32, path: &CStr, mode: u32) -> Res {
    sys4(libc::SYS_mkdirat, dirfd as libc::c_long, ptr(path), mode as libc::c_long, 0)
}

pub fn unlink(path: &CStr) -> Res {
    legacy(legacy::UNLINK, ptr(path), 0, 0)
}

pub fn unlinkat(dirfd: i32, path: &CStr, flags: i32) -> Res {
    sys4(libc::SYS_unlinkat, dirfd as libc::c_long, ptr(path), flags as libc::c_long, 0)
}

pub fn rmdir(path: &CStr) -> Res {
    legacy(legacy::RMDIR, ptr(path), 0, 0)
}

// Helpers outside the families under test (never notified by the allow-all path policy).

/// `open_tree(dirfd, path, OPEN_TREE_CLOEXEC | extra)`: an O_PATH fd, used to set up dirfds without an open.
pub fn open_tree(dirfd: i32, path: &CStr, extra: i32) -> Res {
    sys4(libc::SYS_open_tree, dirfd as libc::c_long, ptr(path), (libc::O_CLOEXEC | extra) as libc::c_long, 0)
}

pub fn close(fd: i32) {
    // SAFETY: close(2) on a number this program owns (or a stale one: EBADF, ignored).
    unsafe { libc::close(fd) };
}

pub fn fstatat(dirfd: i32, path: &CStr, flags: i32) -> Result<libc::stat, i32> {
    // SAFETY: an all-zero `struct stat` is a valid value; fstatat(2) fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated and `st` is a writable struct stat, both alive for the call.
    let ret = unsafe { libc::fstatat(dirfd, path.as_ptr(), &mut st, flags) };
    if ret < 0 {
        Err(errno())
    } else {
        Ok(st)
    }
}

/// `fstat(fd)`, as `fstatat(fd, "", AT_EMPTY_PATH)` (which also works on O_PATH fds).
pub fn fstat(fd: i32) -> Result<libc::stat, i32> {
    fstatat(fd, c"", libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW)
}

pub fn fcntl(fd: i32, cmd: i32) -> Res {
    // SAFETY: F_GETFL and F_GETFD take no third argument.
    check(unsafe { libc::fcntl(fd, cmd) }.into())
}

pub fn lseek_cur(fd: i32) -> Res {
    // SAFETY: lseek(2) takes only integers.
    check(unsafe { libc::lseek(fd, 0, libc::SEEK_CUR) })
}

pub fn pread(fd: i32, buf: &mut [u8], offset: i64) -> Res {
    // SAFETY: `buf` is writable for its whole length.
    check(unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), offset) } as i64)
}

pub fn write(fd: i32, data: &[u8]) -> Res {
    // SAFETY: `data` is readable for its whole length.
    check(unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) } as i64)
}

/// The target of a symlink named by `path` relative to `dirfd` (`""`: the O_PATH fd itself).
pub fn readlinkat(dirfd: i32, path: &CStr) -> Result<Vec<u8>, i32> {
    let mut buf = vec![0u8; 4096];
    // SAFETY: `path` is NUL-terminated and `buf` is writable for its length.
    let n = unsafe { libc::readlinkat(dirfd, path.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(errno());
    }
    buf.truncate(n as usize);
    Ok(buf)
}

/// The names in a directory fd (getdents64), without `.` and `..`, sorted.
pub fn dir_entries(fd: i32) -> Result<Vec<Vec<u8>>, i32> {
    let mut names = Vec::new();
    let mut buf = vec![0u8; 8192];
    loop {
        let n = sys4(libc::SYS_getdents64, fd as libc::c_long, buf.as_mut_ptr() as libc::c_long, 8192, 0)? as usize;
        if n == 0 {
            break;
        }
        let mut at = 0;
        while at < n {
            let reclen = u16::from_ne_bytes([buf[at + 16], buf[at + 17]]) as usize;
            let name = &buf[at + 19..at + reclen];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            if name != b"." && name != b".." {
                names.push(name.to_vec());
            }
            at += reclen;
        }
    }
    names.sort();
    Ok(names)
}

pub fn chdir(path: &CStr) -> Res {
    // SAFETY: `path` is NUL-terminated and alive for the call.
    check(unsafe { libc::chdir(path.as_ptr()) }.into())
}

pub fn renameat(dirfd: i32, from: &CStr, to: &CStr) -> Res {
    // SAFETY: both paths are NUL-terminated and alive for the call.
    check(unsafe { libc::renameat(dirfd, from.as_ptr(), dirfd, to.as_ptr()) }.into())
}

/// `mount("tmpfs", path, "tmpfs", 0, options)`.
pub fn mount_tmpfs(path: &CStr, options: &CStr) -> Res {
    // SAFETY: every string is NUL-terminated and alive for the call.
    check(
        unsafe { libc::mount(c"tmpfs".as_ptr(), path.as_ptr(), c"tmpfs".as_ptr(), 0, options.as_ptr().cast()) }.into(),
    )
}

pub fn umount_detach(path: &CStr) -> Res {
    // SAFETY: `path` is NUL-terminated and alive for the call.
    check(unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) }.into())
}

/// Both ends of a connected socket pair (Unix, stream).
pub fn socketpair() -> Result<(i32, i32), i32> {
    let mut fds = [0i32; 2];
    let kind = libc::SOCK_STREAM | libc::SOCK_CLOEXEC;
    // SAFETY: `fds` is a writable array of two ints.
    check(unsafe { libc::socketpair(libc::AF_UNIX, kind, 0, fds.as_mut_ptr()) }.into())?;
    Ok((fds[0], fds[1]))
}

/// `CLOCK_REALTIME_COARSE` seconds: what the kernel's file times are at least, from now on.
pub fn coarse_now() -> i64 {
    // SAFETY: an all-zero timespec is valid; clock_gettime fills it.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: `ts` is writable.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) };
    ts.tv_sec
}

pub fn geteuid() -> u32 {
    // SAFETY: no arguments, cannot fail.
    unsafe { libc::geteuid() }
}

pub fn getegid() -> u32 {
    // SAFETY: no arguments, cannot fail.
    unsafe { libc::getegid() }
}

pub fn umask(mask: u32) -> u32 {
    // SAFETY: umask(2) takes an integer and cannot fail.
    unsafe { libc::umask(mask) }
}

pub fn memfd(text: &str) -> Res {
    // SAFETY: the name is a NUL-terminated literal.
    let fd = check(unsafe { libc::memfd_create(c"fsdiff".as_ptr(), libc::MFD_CLOEXEC) }.into())?;
    write(fd as i32, text.as_bytes())?;
    Ok(fd)
}

/// A pipe with `text` written into it: (read end, write end).
pub fn pipe(text: &str) -> Result<(i32, i32), i32> {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` is a writable array of two ints.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }.into())?;
    write(fds[1], text.as_bytes())?;
    Ok((fds[0], fds[1]))
}

pub fn getcwd() -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    // SAFETY: `buf` is writable for its length.
    let p = unsafe { libc::getcwd(buf.as_mut_ptr().cast(), buf.len()) };
    assert!(!p.is_null(), "getcwd: errno {}", errno());
    buf.truncate(buf.iter().position(|&b| b == 0).unwrap_or(0));
    buf
}

pub fn getpid() -> i64 {
    // SAFETY: getpid(2) takes no arguments and cannot fail.
    unsafe { libc::getpid() }.into()
}

pub fn gettid() -> i64 {
    // SAFETY: gettid(2) takes no arguments and cannot fail.
    unsafe { libc::gettid() }.into()
}

/// (real, effective, saved) uids and gids, the supplementary groups, and the effective capability set.
pub fn creds() -> ([u32; 3], [u32; 3], Vec<u32>, u64) {
    let (mut u, mut g) = ([0u32; 3], [0u32; 3]);
    // SAFETY: three writable uid_t / gid_t each.
    unsafe {
        libc::getresuid(&mut u[0], &mut u[1], &mut u[2]);
        libc::getresgid(&mut g[0], &mut g[1], &mut g[2]);
    }
    let mut groups = vec![0u32; 256];
    // SAFETY: `groups` is writable for 256 gid_t.
    let n = unsafe { libc::getgroups(256, groups.as_mut_ptr()) };
    groups.truncate(n.max(0) as usize);
    // struct __user_cap_header_struct { u32 version; int pid; } and two __user_cap_data_struct { u32 eff, perm, inh }.
    let header = [0x2008_0522u32, 0];
    let mut data = [0u32; 6];
    let _ = sys4(libc::SYS_capget, header.as_ptr() as libc::c_long, data.as_mut_ptr() as libc::c_long, 0, 0);
    (u, g, groups, u64::from(data[0]) | (u64::from(data[3]) << 32))
}

/// The symbolic name of an errno.
pub fn errno_name(e: i32) -> String {
    let name = match e {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::E2BIG => "E2BIG",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::EXDEV => "EXDEV",
        libc::ENODEV => "ENODEV",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::EINVAL => "EINVAL",
        libc::ENFILE => "ENFILE",
        libc::EMFILE => "EMFILE",
        libc::ENOTTY => "ENOTTY",
        libc::ETXTBSY => "ETXTBSY",
        libc::EFBIG => "EFBIG",
        libc::ENOSPC => "ENOSPC",
        libc::ESPIPE => "ESPIPE",
        libc::EROFS => "EROFS",
        libc::EMLINK => "EMLINK",
        libc::EPIPE => "EPIPE",
        libc::ERANGE => "ERANGE",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        libc::ENOSYS => "ENOSYS",
        libc::ENOTEMPTY => "ENOTEMPTY",
        libc::ELOOP => "ELOOP",
        libc::EOVERFLOW => "EOVERFLOW",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ESTALE => "ESTALE",
        libc::EDQUOT => "EDQUOT",
        libc::ECHILD => "ECHILD",
        _ => return format!("E{e}"),
    };
    name.to_string()
}
