//! The target's view of the filesystem: the one place that reads what the kernel would resolve a path with for
//! the program (its root, mount namespace, user namespace, cwd, dirfds, credentials, capabilities, umask and its
//! `/proc/self`), and that acts with it.
//!
//! - [`View::of`] checks that the target shares our user namespace (otherwise its capabilities mean something else,
//!   and the call is refused with EACCES: fail closed), pins its root when it is not ours (a chroot, a container,
//!   another mount namespace), and reads its [`Identity`].
//! - [`walk`] resolves a path as the target's kernel would, on a thread that has taken the target's identity
//!   ([`identity::Assumed`]), and pins the parent directory of the last component; [`crate::kernel::proc`] tells
//!   where a walk is in any procfs and opens the target's places (root, cwd, fds, namespaces); [`fs`] and [`at`] hold
//!   the syscall wrappers they and the path handlers share.
//!
//! Nothing of supervise reaches the target through a view: `/proc/self` and `/proc/thread-self` are rewritten to
//! the target's pid, magic links are followed only inside another process's `/proc/<pid>` (where the kernel checks
//! the target's right to them), and supervise's own `/proc/<pid>` is refused.

pub mod at;
pub mod fs;
pub mod identity;
pub mod walk;

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::OnceLock;

use proto::Errno;

use super::proc;

pub use identity::Identity;
pub use walk::{walk, Lookup, Resolved, Start};

/// What a path resolves against for one notification.
#[derive(Debug)]
pub struct View {
    /// The thread that made the call (the notification's pid).
    pub tid: u32,
    pub identity: Identity,
    /// The target's root when it is not ours (a chroot, or another mount namespace: a container), `O_PATH`. The
    /// acting thread enters it with chroot(2) (its own `fs_struct`), so that absolute paths, `..` at the root and
    /// the mounts below are the target's.
    pub other_root: Option<OwnedFd>,
    /// The target's mount namespace when it is not ours: the acting thread joins it (setns(2) on its own
    /// `fs_struct`), so that the kernel's own checks about mounts (a mount point is busy) are the target's.
    pub other_mnt_ns: Option<OwnedFd>,
}

impl View {
    /// The view of thread `tid`. With `umask`, the target's umask is read even when its other credentials are
    /// known to be ours.
    ///
    /// # Errors
    /// `None` inside: the thread is gone. EACCES: it has another user namespace (its capabilities mean something
    /// else there), or another root that supervise cannot enter (no CAP_SYS_CHROOT).
    pub fn of(tid: u32, umask: bool) -> Result<Option<View>, Errno> {
        let Some(userns) = proc::ns_place(tid, "user") else { return Ok(None) };
        if Some(userns) != ours().userns {
            return Err(Errno::EACCES);
        }
        let their_root = match proc::open_root(tid) {
            Ok(fd) => fd,
            Err(_) => return Ok(None),
        };
        let their_place = place_of(their_root.as_fd());
        let other_root = if their_place.is_some() && their_place == ours().root { None } else { Some(their_root) };
        // Our root mount belongs to our mount namespace only: the same root means the same namespace.
        let same_mnt_ns = other_root.is_none() || {
            let mnt_ns = proc::ns_place(tid, "mnt");
            mnt_ns.is_some() && mnt_ns == ours().mnt_ns
        };
        let other_mnt_ns = if same_mnt_ns {
            None
        } else {
            // Our own namespace is opened before any thread leaves it: it is where they come back to.
            if our_mnt_ns().is_none() {
                return Err(Errno::EACCES);
            }
            match proc::open_mnt_ns(tid) {
                Ok(fd) => Some(fd),
                Err(_) => return Ok(None),
            }
        };
        let ids = identity::ours();
        let identity = if ids.fixed && !umask && other_root.is_none() {
            ids.identity.clone()
        } else {
            match identity::read(tid) {
                Some(identity) => identity,
                None => return Ok(None),
            }
        };
        Ok(Some(View { tid, identity, other_root, other_mnt_ns }))
    }

    /// This thread acting as the target (its credentials and root) until the guard is dropped.
    ///
    /// # Errors
    /// EACCES when supervise cannot take them (see [`identity::Assumed::take`]).
    pub fn act(&self) -> Result<identity::Assumed, Errno> {
        let place = identity::Place {
            root: self.other_root.as_ref().map(AsFd::as_fd),
            mnt_ns: self.other_mnt_ns.as_ref().map(AsFd::as_fd),
        };
        identity::Assumed::take(&self.identity, place)
    }

    /// The target's root directory.
    pub fn root(&self) -> BorrowedFd<'_> {
        self.other_root.as_ref().map_or(root(), |fd| fd.as_fd())
    }

    /// The target's cwd, opened `O_PATH` (with supervise's credentials, before it takes the target's).
    ///
    /// # Errors
    /// The errno of the open (ENOENT: the thread is gone).
    pub fn cwd(&self) -> Result<OwnedFd, Errno> {
        proc::open_cwd(self.tid)
    }

    /// The target's fd `fd`, reopened `O_PATH` through `/proc/<tid>/fd`: the same file at the same place.
    ///
    /// # Errors
    /// EBADF if the target has no such fd.
    pub fn fd(&self, fd: i32) -> Result<OwnedFd, Errno> {
        if fd < 0 {
            return Err(errno(libc::EBADF));
        }
        proc::open_fd(self.tid, fd).map_err(|e| match i32::from(e.get()) {
            libc::ENOENT => errno(libc::EBADF),
            _ => e,
        })
    }
}

/// True if the target's fd `fd` was opened `O_PATH` (its `/proc/<tid>/fdinfo/<fd>` flags).
pub fn fd_is_o_path(tid: u32, fd: i32) -> bool {
    let Some(info) = proc::fdinfo(tid, fd) else { return false };
    let flags = identity::status_field(&info, "flags:").and_then(|f| u64::from_str_radix(f, 8).ok());
    flags.is_some_and(|f| f & libc::O_PATH as u64 != 0)
}

/// Where our own root and namespaces are, read once.
struct Ours {
    root: Option<Place>,
    userns: Option<Place>,
    mnt_ns: Option<Place>,
}

fn ours() -> &'static Ours {
    static OURS: OnceLock<Ours> = OnceLock::new();
    OURS.get_or_init(|| Ours {
        root: place_of(root()),
        userns: place(c"/proc/thread-self/ns/user", true),
        mnt_ns: place(c"/proc/thread-self/ns/mnt", true),
    })
}

/// Our own mount namespace, opened once: where an acting thread comes back to.
pub fn our_mnt_ns() -> Option<BorrowedFd<'static>> {
    static NS: OnceLock<Option<OwnedFd>> = OnceLock::new();
    NS.get_or_init(|| open_ns("/proc/thread-self/ns/mnt").ok()).as_ref().map(AsFd::as_fd)
}

/// Opens a namespace file (`/proc/PID/ns/*`) for setns(2).
pub(super) fn open_ns(path: &str) -> Result<OwnedFd, Errno> {
    open_with(path, libc::O_RDONLY | libc::O_CLOEXEC)
}

/// Where a file is: its mount, device and inode (statx(2) with `STATX_MNT_ID`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub(super) mnt_id: u64,
    dev: (u32, u32),
    pub(super) ino: u64,
}

/// The place of `path` (following it when `follow`). `None` if it cannot be read.
pub(super) fn place(path: &std::ffi::CStr, follow: bool) -> Option<Place> {
    statx_place(libc::AT_FDCWD, path, if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW })
}

/// The place of an open fd.
pub fn place_of(fd: BorrowedFd<'_>) -> Option<Place> {
    statx_place(fd.as_raw_fd(), c"", libc::AT_EMPTY_PATH)
}

fn statx_place(dirfd: i32, path: &std::ffi::CStr, flags: i32) -> Option<Place> {
    let mut stx = std::mem::MaybeUninit::<libc::statx>::zeroed();
    // SAFETY: statx(2) with a NUL-terminated path and a buffer of the right size, which it fills on success.
    let rc =
        unsafe { libc::statx(dirfd, path.as_ptr(), flags, libc::STATX_INO | libc::STATX_MNT_ID, stx.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statx returned 0, so the buffer is filled (it was zeroed before).
    let stx = unsafe { stx.assume_init() };
    Some(Place { mnt_id: stx.stx_mnt_id, dev: (stx.stx_dev_major, stx.stx_dev_minor), ino: stx.stx_ino })
}

/// Opens `path` with `O_PATH` (following it), close-on-exec.
pub(super) fn open_path(path: &str) -> Result<OwnedFd, Errno> {
    open_with(path, libc::O_PATH | libc::O_CLOEXEC)
}

/// open(2) of `path` with `flags`.
fn open_with(path: &str, flags: i32) -> Result<OwnedFd, Errno> {
    let flags = nix::fcntl::OFlag::from_bits_retain(flags);
    nix::fcntl::open(path, flags, nix::sys::stat::Mode::empty()).map_err(|e| errno(e as i32))
}

/// Our root directory, opened once (`O_PATH`).
pub fn root() -> BorrowedFd<'static> {
    static ROOT: OnceLock<OwnedFd> = OnceLock::new();
    ROOT.get_or_init(|| open_path("/").expect("/ can be opened")).as_fd()
}

pub(crate) fn last_errno() -> Errno {
    errno_of(&std::io::Error::last_os_error())
}

pub(crate) fn errno_of(e: &std::io::Error) -> Errno {
    e.raw_os_error().and_then(|n| Errno::new(i64::from(n))).unwrap_or(Errno::EPERM)
}

/// An errno from a libc constant.
pub(crate) fn errno(n: i32) -> Errno {
    Errno::new(i64::from(n)).expect("libc errno constants are valid")
}
