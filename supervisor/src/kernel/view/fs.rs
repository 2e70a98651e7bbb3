//! The syscalls the view is made of, as small wrappers: openat2(2), readlinkat(2), fstatat(2), and the kernel's
//! path of an fd of ours.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use proto::Errno;

use super::last_errno;

fn cstring(bytes: &[u8]) -> Result<CString, Errno> {
    CString::new(bytes).map_err(|_| Errno::EINVAL)
}

/// `openat2(dir, path, O_PATH|O_DIRECTORY, resolve)`.
pub fn open_dir(dir: BorrowedFd<'_>, path: &[u8], resolve: u64) -> Result<OwnedFd, Errno> {
    openat2(dir, path, (libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) as u64, 0, resolve)
}

/// `struct open_how` (openat2(2)).
#[repr(C)]
pub struct OpenHow {
    pub flags: u64,
    pub mode: u64,
    pub resolve: u64,
}

/// openat2(2).
///
/// # Errors
/// The call's errno.
pub fn openat2(dir: BorrowedFd<'_>, path: &[u8], flags: u64, mode: u64, resolve: u64) -> Result<OwnedFd, Errno> {
    let path = cstring(path)?;
    let how = OpenHow { flags, mode, resolve };
    // SAFETY: openat2(2) with a valid dirfd, a NUL-terminated path and a correctly sized open_how.
    let fd = unsafe { libc::syscall(libc::SYS_openat2, dir.as_raw_fd(), path.as_ptr(), &how, size_of::<OpenHow>()) };
    if fd < 0 {
        return Err(last_errno());
    }
    // SAFETY: openat2 returned a new fd that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

pub fn dup(fd: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    fd.try_clone_to_owned().map_err(|e| super::errno_of(&e))
}

/// readlinkat(2): the text of the symlink `name` in `dir`. EINVAL: not a symlink.
pub fn read_link(dir: BorrowedFd<'_>, name: &CStr) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: readlinkat(2) into a buffer of the given size; the result is checked.
    let len = unsafe { libc::readlinkat(dir.as_raw_fd(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if len < 0 {
        return Err(last_errno());
    }
    buf.truncate(len as usize);
    Ok(buf)
}

/// True if `name` in `dir` is a symlink (fstatat(2) without following; a magic link is one too).
pub fn is_link(dir: BorrowedFd<'_>, name: &CStr) -> bool {
    stat_at(dir, name, libc::AT_SYMLINK_NOFOLLOW).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFLNK)
}

/// The kernel's path of an fd of ours (`/proc/self/fd/N`), split into components.
pub fn real_path(fd: BorrowedFd<'_>) -> Result<Vec<Vec<u8>>, Errno> {
    let text = read_link(super::root(), &cstring(format!("proc/self/fd/{}", fd.as_raw_fd()).as_bytes())?)?;
    Ok(text.split(|&b| b == b'/').filter(|c| !c.is_empty()).map(<[u8]>::to_vec).collect())
}

/// fstatat(2).
///
/// # Errors
/// The call's errno.
pub fn stat_at(dir: BorrowedFd<'_>, name: &CStr, flags: i32) -> Result<libc::stat, Errno> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstatat(2) with a valid dirfd, a NUL-terminated name and a buffer it fills on success.
    if unsafe { libc::fstatat(dir.as_raw_fd(), name.as_ptr(), st.as_mut_ptr(), flags) } != 0 {
        return Err(last_errno());
    }
    // SAFETY: fstatat returned 0.
    Ok(unsafe { st.assume_init() })
}
