//! The syscalls the view and the path handlers are made of, as small wrappers that return the kernel's errno
//! unchanged: openat2(2), readlinkat(2), fstatat(2), mkdirat(2), unlinkat(2), fcntl(2) `F_SETFL`, and the kernel's
//! path of an fd of ours.
//!
//! nix's safe calls where nix has the same call with the same semantics; openat2 alone is raw, because nix's
//! `OpenHow` takes the flags as an `OFlag` (a C int) while the kernel's `open_how.flags` is 64 bits wide, and a
//! target's upper bits must reach the kernel so that it answers EINVAL as it would to the target.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;

use nix::fcntl::{FcntlArg, OFlag};
use nix::sys::stat::{FileStat, Mode};
use nix::unistd::UnlinkatFlags;
use proto::Errno;

use super::last_errno;

/// A nix error as our errno (nix's `Errno` is the raw errno).
fn from_nix(e: nix::Error) -> Errno {
    super::errno(e as i32)
}

fn cstring(bytes: &[u8]) -> Result<CString, Errno> {
    CString::new(bytes).map_err(|_| Errno::EINVAL)
}

/// `openat2(dir, path, O_PATH|O_DIRECTORY, resolve)`.
pub fn open_dir(dir: BorrowedFd<'_>, path: &[u8], resolve: u64) -> Result<OwnedFd, Errno> {
    openat2(dir, path, (libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) as u64, 0, resolve)
}

/// `struct open_how` (openat2(2)); libc's is `non_exhaustive`, so it cannot be built here.
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
    // SAFETY: openat2(2) with a valid dirfd, a NUL-terminated path and a correctly sized open_how; the kernel only
    // reads them during the call.
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
    nix::fcntl::readlinkat(dir, name).map(OsStringExt::into_vec).map_err(from_nix)
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
pub fn stat_at(dir: BorrowedFd<'_>, name: &CStr, flags: i32) -> Result<FileStat, Errno> {
    nix::sys::stat::fstatat(dir, name, nix::fcntl::AtFlags::from_bits_retain(flags)).map_err(from_nix)
}

/// mkdirat(2) of `name` in `dir` with `mode` (the umask applies).
///
/// # Errors
/// The call's errno.
pub fn mkdir_at(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> Result<(), Errno> {
    nix::sys::stat::mkdirat(dir, name, Mode::from_bits_retain(mode as libc::mode_t)).map_err(from_nix)
}

/// unlinkat(2) of `name` in `dir`: a directory with `AT_REMOVEDIR` in `flags`, anything else without.
///
/// # Errors
/// The call's errno; EINVAL for any other flag, as the kernel checks before it looks at the path.
pub fn unlink_at(dir: BorrowedFd<'_>, name: &CStr, flags: i32) -> Result<(), Errno> {
    let how = match flags {
        0 => UnlinkatFlags::NoRemoveDir,
        libc::AT_REMOVEDIR => UnlinkatFlags::RemoveDir,
        _ => return Err(super::errno(libc::EINVAL)),
    };
    nix::unistd::unlinkat(dir, name, how).map_err(from_nix)
}

/// fcntl(2) `F_SETFL`: sets the file status flags of `fd` (the access mode and creation flags in `flags` are
/// ignored by the kernel).
///
/// # Errors
/// The call's errno.
pub fn set_status_flags(fd: BorrowedFd<'_>, flags: i32) -> Result<(), Errno> {
    nix::fcntl::fcntl(fd, FcntlArg::F_SETFL(OFlag::from_bits_retain(flags))).map(drop).map_err(from_nix)
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
        mkdir_at(dir, c"d", 0o700).unwrap();
        assert_eq!(mkdir_at(dir, c"d", 0o700), Err(super::super::errno(libc::EEXIST)));
        assert_eq!(unlink_at(dir, c"d", 0), Err(super::super::errno(libc::EISDIR)));
        assert_eq!(unlink_at(dir, c"d", libc::AT_REMOVEDIR | libc::AT_SYMLINK_NOFOLLOW), Err(Errno::EINVAL));
        unlink_at(dir, c"d", libc::AT_REMOVEDIR).unwrap();
        assert_eq!(unlink_at(dir, c"d", libc::AT_REMOVEDIR), Err(Errno::ENOENT));
        assert_eq!(stat_at(dir, c"d", 0).err(), Some(Errno::ENOENT));
        std::os::unix::fs::symlink("over/there", tmp.path().join("l")).unwrap();
        assert_eq!(read_link(dir, c"l").unwrap(), b"over/there");
        assert_eq!(read_link(dir, c"").err(), Some(Errno::ENOENT));
        assert_eq!(set_status_flags(dir, libc::O_NONBLOCK), Ok(()));
    }
}
