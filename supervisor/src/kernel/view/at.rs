//! The `*at` calls the path handlers act with, beside [`super::fs`]'s: renameat2(2), linkat(2), symlinkat(2),
//! fchmodat2(2), fchownat(2), utimensat(2), mknodat(2), and truncate(2) through a directory fd.
//!
//! Each is the raw call, so that the flags and modes of the target reach the kernel unchanged and its errno comes
//! back unchanged (the differential tests compare them with the kernel's answer to the target itself).

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd};

use proto::Errno;

use super::last_errno;

/// 0 or the errno of the call that returned `rc`.
fn check(rc: libc::c_long) -> Result<(), Errno> {
    if rc < 0 {
        Err(last_errno())
    } else {
        Ok(())
    }
}

/// renameat2(2) of `name` in `dir` to `to` in `to_dir`.
///
/// # Errors
/// The call's errno.
pub fn rename_at2(
    dir: BorrowedFd<'_>,
    name: &CStr,
    to_dir: BorrowedFd<'_>,
    to: &CStr,
    flags: u32,
) -> Result<(), Errno> {
    // SAFETY: renameat2(2) with valid dirfds and NUL-terminated names that outlive the call; the kernel keeps no
    // pointer after it returns.
    check(unsafe {
        libc::syscall(libc::SYS_renameat2, dir.as_raw_fd(), name.as_ptr(), to_dir.as_raw_fd(), to.as_ptr(), flags)
    })
}

/// linkat(2) of `name` in `dir` as `to` in `to_dir`.
///
/// # Errors
/// The call's errno.
pub fn link_at(dir: BorrowedFd<'_>, name: &CStr, to_dir: BorrowedFd<'_>, to: &CStr, flags: i32) -> Result<(), Errno> {
    // SAFETY: linkat(2) with valid dirfds and NUL-terminated names that outlive the call.
    check(unsafe { libc::linkat(dir.as_raw_fd(), name.as_ptr(), to_dir.as_raw_fd(), to.as_ptr(), flags) }.into())
}

/// symlinkat(2): a link `name` in `dir` whose text is `text`.
///
/// # Errors
/// The call's errno.
pub fn symlink_at(text: &CStr, dir: BorrowedFd<'_>, name: &CStr) -> Result<(), Errno> {
    // SAFETY: symlinkat(2) with a valid dirfd and NUL-terminated strings that outlive the call.
    check(unsafe { libc::symlinkat(text.as_ptr(), dir.as_raw_fd(), name.as_ptr()) }.into())
}

/// fchmodat2(2) of `name` in `dir`.
///
/// # Errors
/// The call's errno.
pub fn chmod_at2(dir: BorrowedFd<'_>, name: &CStr, mode: u32, flags: i32) -> Result<(), Errno> {
    // SAFETY: fchmodat2(2) with a valid dirfd and a NUL-terminated name that outlives the call.
    check(unsafe { libc::syscall(libc::SYS_fchmodat2, dir.as_raw_fd(), name.as_ptr(), mode, flags) })
}

/// fchownat(2) of `name` in `dir` (`u32::MAX`: unchanged).
///
/// # Errors
/// The call's errno.
pub fn chown_at(dir: BorrowedFd<'_>, name: &CStr, uid: u32, gid: u32, flags: i32) -> Result<(), Errno> {
    // SAFETY: fchownat(2) with a valid dirfd and a NUL-terminated name that outlives the call.
    check(unsafe { libc::fchownat(dir.as_raw_fd(), name.as_ptr(), uid, gid, flags) }.into())
}

/// utimensat(2) of `name` in `dir` (`None`: both times now).
///
/// # Errors
/// The call's errno.
pub fn utimens_at(
    dir: BorrowedFd<'_>,
    name: &CStr,
    times: Option<&[libc::timespec; 2]>,
    flags: i32,
) -> Result<(), Errno> {
    let times = times.map_or(std::ptr::null(), |t| t.as_ptr());
    // SAFETY: utimensat(2) with a valid dirfd, a NUL-terminated name and null or a pointer to two timespecs, all of
    // which outlive the call.
    check(unsafe { libc::utimensat(dir.as_raw_fd(), name.as_ptr(), times, flags) }.into())
}

/// mknodat(2) of `name` in `dir`; `dev` is the kernel's 32-bit `unsigned int dev`.
///
/// # Errors
/// The call's errno.
pub fn mknod_at(dir: BorrowedFd<'_>, name: &CStr, mode: u32, dev: u32) -> Result<(), Errno> {
    // SAFETY: mknodat(2) with a valid dirfd and a NUL-terminated name that outlives the call.
    check(unsafe { libc::syscall(libc::SYS_mknodat, dir.as_raw_fd(), name.as_ptr(), mode, dev) })
}

/// fchdir(2) to `dir`, then truncate(2) of `name` relative to it. This changes the calling thread's cwd: only for
/// a thread with its own fs_struct.
///
/// # Errors
/// The errno of fchdir or of truncate.
pub fn truncate_in(dir: BorrowedFd<'_>, name: &CStr, length: i64) -> Result<(), Errno> {
    // SAFETY: fchdir(2) on a valid directory fd.
    check(unsafe { libc::fchdir(dir.as_raw_fd()) }.into())?;
    // SAFETY: truncate(2) of a NUL-terminated name that outlives the call.
    check(unsafe { libc::truncate(name.as_ptr(), length) }.into())
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::*;

    #[test]
    fn the_wrappers_give_the_kernels_errnos() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = std::fs::File::open(tmp.path()).unwrap();
        let dir = dir.as_fd();
        std::fs::write(tmp.path().join("f"), b"x").unwrap();
        assert_eq!(rename_at2(dir, c"missing", dir, c"g", 0), Err(Errno::ENOENT));
        assert_eq!(rename_at2(dir, c"f", dir, c"f", u32::MAX), Err(Errno::EINVAL));
        rename_at2(dir, c"f", dir, c"g", 0).unwrap();
        link_at(dir, c"g", dir, c"h", 0).unwrap();
        assert_eq!(link_at(dir, c"g", dir, c"h", 0), Err(super::super::errno(libc::EEXIST)));
        symlink_at(c"g", dir, c"l").unwrap();
        assert_eq!(symlink_at(c"g", dir, c"l"), Err(super::super::errno(libc::EEXIST)));
        assert_eq!(chmod_at2(dir, c"missing", 0o600, 0), Err(Errno::ENOENT));
        assert_eq!(chown_at(dir, c"missing", u32::MAX, u32::MAX, 0), Err(Errno::ENOENT));
        chown_at(dir, c"g", u32::MAX, u32::MAX, 0).unwrap();
        utimens_at(dir, c"g", None, 0).unwrap();
        assert_eq!(utimens_at(dir, c"missing", None, 0), Err(Errno::ENOENT));
        assert_eq!(mknod_at(dir, c"g", libc::S_IFIFO | 0o600, 0), Err(super::super::errno(libc::EEXIST)));
    }
}
