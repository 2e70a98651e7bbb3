//! Path syscalls allowed by a decision that rested on a path, performed by the supervisor instead of CONTINUE.
//!
//! CONTINUE would let the kernel read the path again from target memory, which another thread may have rewritten
//! since the check (KERNEL-NOTES pitfall 4). So the supervisor works from its own verified copy of the path:
//! 1. it opens the parent directory (`O_PATH`), reads back where that really is (`/proc/self/fd`), and follows a
//!    symlink in the last component itself, so that the path it decides on is the real one;
//! 2. it decides again on that real path (a symlink `/tmp/ok/x → /etc/shadow` is judged as `/etc/shadow`);
//! 3. it performs the call relative to the pinned parent fd with `RESOLVE_NO_SYMLINKS`, so that a component
//!    swapped for a symlink after the check fails with ELOOP instead of escaping;
//! 4. it acts with the target's fsuid, fsgid and groups (on a thread of its own) and the target's umask, and an
//!    opened file is injected with `SECCOMP_IOCTL_NOTIF_ADDFD` and its number returned by the reply.
//!
//! Emulated: `open`, `openat`, `openat2`, `creat`, `mkdir`, `mkdirat`, `unlink`, `unlinkat`, `rmdir`. Other path
//! syscalls are carried out with CONTINUE after the check: that is advisory (docs/security.md), and `check` says so.

use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use proto::{Decision, Errno};

use crate::decide::{Decider, Event, Facts};
use crate::describe::normalize;
use crate::emulate::mounts;
use crate::facts::{creds, status_field, Creds};
use crate::memory::TargetMemory;
use crate::notify::respond;
use crate::seccomp::{Listener, Notification, Reply};

/// Syscalls this module performs itself.
pub const EMULATED: &[&str] =
    &["open", "openat", "openat2", "creat", "mkdir", "mkdirat", "unlink", "unlinkat", "rmdir"];

/// True if a path decision on `syscall` is carried out by emulation rather than CONTINUE.
pub fn is_emulated(syscall: &str) -> bool {
    EMULATED.contains(&syscall)
}

/// True if the target's root directory is ours (same device and inode as `/`, which we read once).
fn same_root(pid: u32) -> bool {
    use std::os::unix::fs::MetadataExt;
    static OURS: OnceLock<Option<(u64, u64)>> = OnceLock::new();
    let ours = OURS.get_or_init(|| std::fs::metadata("/").ok().map(|m| (m.dev(), m.ino())));
    match (std::fs::metadata(format!("/proc/{pid}/root")), ours) {
        (Ok(theirs), Some(ours)) => (theirs.dev(), theirs.ino()) == *ours,
        _ => false,
    }
}

/// What to do, decoded from the registers (and `openat2`'s `struct open_how`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Open { flags: u64, mode: u32 },
    Mkdir { mode: u32 },
    Unlink { flags: i32 },
}

impl Op {
    /// True if the call may create a file or directory, whose mode then depends on the target's umask.
    fn creates(self) -> bool {
        match self {
            Op::Open { flags, .. } => flags & (libc::O_CREAT | libc::O_TMPFILE) as u64 != 0,
            Op::Mkdir { .. } => true,
            Op::Unlink { .. } => false,
        }
    }
}

/// `struct open_how` (openat2(2)).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

const MAX_SYMLINKS: usize = 40;
const RESOLVE_NO_SYMLINKS: u64 = 0x04;

/// Performs an allowed path syscall and answers it. `facts.paths[0]` is the verified, resolved path the
/// decision was made on.
///
/// It runs here, on the notify thread, when it cannot wait on anyone: we act with our own credentials, no
/// filesystem that may wait (FUSE, network) is mounted, and an open meets a regular file or a directory (a FIFO or
/// a device may block in open). Anything else goes to tokio's blocking pool.
pub fn perform(
    listener: &Arc<Listener>,
    n: &Notification,
    syscall: Arc<str>,
    decider: &Arc<Decider>,
    event: &Event,
    facts: &Facts,
) {
    let Some(prepared) = prepare(listener, n, &syscall, facts) else { return };
    let call = match prepared {
        Ok(call) => call,
        Err(errno) => return respond(listener, n, Reply::Error(errno)),
    };
    if call.creds.is_ours() && mounts::all_local() {
        match call.run(decider, event, facts, true) {
            Ok(Done::Later) => {}
            result => return answer(listener, n, result),
        }
    }
    let (listener, decider, event, facts, n) = (listener.clone(), decider.clone(), *event, facts.clone(), *n);
    tokio::task::spawn_blocking(move || {
        let result = as_target(&call.creds, || call.run(&decider, &event, &facts, false));
        answer(&listener, &n, result);
    });
}

/// One decoded path call, ready to run.
struct Call {
    op: Op,
    path: String,
    creds: Identity,
}

impl Call {
    /// Walks, decides again on the real path, and acts. With `here`, only what cannot block: otherwise
    /// [`Done::Later`].
    fn run(&self, decider: &Decider, event: &Event, facts: &Facts, here: bool) -> Result<Done, Errno> {
        let recheck = |real: &str| -> Result<(), Errno> {
            let facts = Facts { paths: Some(vec![real.to_string()]), ..facts.clone() };
            match decider.decide(event, &facts).decision {
                Decision::Allow => Ok(()),
                Decision::Deny(errno) => Err(*errno),
                Decision::Prompt(spec) => Err(spec.errno),
                Decision::Emulate(_) => Err(Errno::EPERM),
            }
        };
        run(self.op, &self.path, self.creds.get(), &recheck, here)
    }
}

/// Decodes the call and learns whose credentials to act with. `None`: the target is gone, send nothing.
fn prepare(listener: &Listener, n: &Notification, syscall: &str, facts: &Facts) -> Option<Result<Call, Errno>> {
    let Some(path) = facts.paths.as_ref().and_then(|p| p.first()) else { return Some(Err(Errno::EFAULT)) };
    let op = match decode(listener, n, syscall) {
        Ok(Some(op)) => op,
        Ok(None) => return None,
        Err(errno) => return Some(Err(errno)),
    };
    if !same_root(n.pid) {
        // Our copy of the path means something else in another root (a container, a chroot): performing it here
        // would act on the host. Fail closed.
        tracing::warn!(pid = n.pid, syscall, "target has another root: path decision refused (EACCES)");
        return Some(Err(Errno::EACCES));
    }
    // Creating needs the target's umask; acting as someone else needs their credentials: both from /proc.
    let creds = if op.creates() || !Identity::fixed() { Identity::read(n.pid)? } else { Identity::Ours };
    Some(Ok(Call { op, path: path.clone(), creds }))
}

/// Sends the reply for a finished call. An fd is injected with ADDFD, then its number sent with a plain SEND:
/// measured at about 8 µs against 74 µs for ADDFD with `SECCOMP_ADDFD_FLAG_SEND`, which misses SYNC_WAKE_UP's
/// same-CPU wake-up. The target cannot be interrupted in between: the launcher loads the filter with
/// WAIT_KILLABLE_RECV (only a fatal signal ends the wait).
fn answer(listener: &Listener, n: &Notification, result: Result<Done, Errno>) {
    let reply = match result {
        Ok(Done::Value(v)) => Reply::Value(v),
        Ok(Done::Fd(fd, cloexec)) => match listener.add_fd(n.id, fd.as_fd(), false, cloexec) {
            Ok(newfd) => Reply::Value(i64::from(newfd)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return,
            Err(e) => Reply::Error(errno_of(&e)),
        },
        // Only a call made here can ask for later; the pool runs it to the end.
        Ok(Done::Later) => Reply::Error(Errno::new(i64::from(libc::EAGAIN)).expect("valid errno")),
        Err(errno) => Reply::Error(errno),
    };
    respond(listener, n, reply);
}

/// Whose credentials a call acts with.
enum Identity {
    /// Ours: no target of ours can hold other credentials (see [`Identity::fixed`]), and nothing is created.
    Ours,
    /// The target's, read from `/proc/PID/status`.
    Target(Creds),
}

impl Identity {
    /// Our own credentials; they do not change while we run.
    fn ours() -> &'static Creds {
        static OURS: OnceLock<Creds> = OnceLock::new();
        OURS.get_or_init(|| crate::facts::creds(std::process::id()).unwrap_or_default())
    }

    /// True if a process we launched cannot act with other filesystem credentials than ours: our real, effective,
    /// saved and filesystem ids are one uid and one gid, and we hold neither CAP_SETUID nor CAP_SETGID in our
    /// permitted set (a child inherits at most that; NO_NEW_PRIVS, which the launcher sets, stops exec from
    /// granting more, and a user namespace maps its ids back to ours and may not call setgroups). Then the target's
    /// fsuid, fsgid and groups are ours without reading `/proc`. (`serve`, whose targets are not ours, refuses
    /// path-allow policies.)
    fn fixed() -> bool {
        static FIXED: OnceLock<bool> = OnceLock::new();
        *FIXED.get_or_init(|| {
            let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
            let field = |key: &str| status_field(&status, key);
            let one_id = |key: &str| {
                let ids: Vec<&str> = field(key).unwrap_or("").split_whitespace().collect();
                ids.len() == 4 && ids.iter().all(|id| *id == ids[0])
            };
            // capability.h: CAP_SETGID is 6, CAP_SETUID is 7.
            let setid_caps = (1u64 << 6) | (1u64 << 7);
            let permitted = field("CapPrm:").and_then(|v| u64::from_str_radix(v, 16).ok());
            one_id("Uid:") && one_id("Gid:") && permitted.is_some_and(|caps| caps & setid_caps == 0)
        })
    }

    /// The target's credentials and umask. `None`: the target is gone.
    fn read(pid: u32) -> Option<Identity> {
        creds(pid).map(Identity::Target)
    }

    fn get(&self) -> &Creds {
        match self {
            Identity::Ours => Identity::ours(),
            Identity::Target(creds) => creds,
        }
    }

    fn is_ours(&self) -> bool {
        let (ours, theirs) = (Identity::ours(), self.get());
        ours.fsuid == theirs.fsuid && ours.fsgid == theirs.fsgid && ours.groups == theirs.groups
    }
}

enum Done {
    Value(i64),
    Fd(OwnedFd, bool),
    /// Could block: run it on the blocking pool instead.
    Later,
}

fn decode(listener: &Listener, n: &Notification, syscall: &str) -> Result<Option<Op>, Errno> {
    let a = n.args;
    Ok(Some(match syscall {
        "open" => Op::Open { flags: a[1], mode: a[2] as u32 },
        "openat" => Op::Open { flags: a[2], mode: a[3] as u32 },
        "creat" => Op::Open { flags: (libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC) as u64, mode: a[1] as u32 },
        "openat2" => {
            // struct open_how { u64 flags; u64 mode; u64 resolve; }, size in a[3].
            if a[3] < 24 {
                return Err(Errno::EINVAL);
            }
            let raw = TargetMemory::new(n.pid).read(a[2], 24)?;
            let Ok(how) = raw.verify(listener, n.id) else { return Ok(None) };
            let word = |i: usize| u64::from_le_bytes(how[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
            if word(2) != 0 {
                // RESOLVE_* restrictions of the target's own: let it keep them by refusing what we cannot honour.
                return Err(Errno::new(i64::from(libc::EXDEV)).expect("valid errno"));
            }
            Op::Open { flags: word(0), mode: word(1) as u32 }
        }
        "mkdir" => Op::Mkdir { mode: a[1] as u32 },
        "mkdirat" => Op::Mkdir { mode: a[2] as u32 },
        "unlink" => Op::Unlink { flags: 0 },
        "unlinkat" => Op::Unlink { flags: a[2] as i32 },
        "rmdir" => Op::Unlink { flags: libc::AT_REMOVEDIR },
        _ => return Err(Errno::ENOSYS),
    }))
}

/// Performs `op` on `path`. With `here` (the notify thread), an open that could block (the name is not a regular
/// file, a directory or absent) is left for the blocking pool: [`Done::Later`].
fn run(
    op: Op,
    path: &str,
    creds: &Creds,
    recheck: &dyn Fn(&str) -> Result<(), Errno>,
    here: bool,
) -> Result<Done, Errno> {
    let follow_last = matches!(op, Op::Open { flags, .. } if flags & libc::O_NOFOLLOW as u64 == 0);
    let Walked { parent, name, real, kind } = walk(path, follow_last)?;
    recheck(&real)?;
    let cname = CString::new(name.as_bytes()).map_err(|_| Errno::EINVAL)?;
    match op {
        Op::Open { flags, mode } => {
            if here && !cannot_block(kind) {
                return Ok(Done::Later);
            }
            // Here, O_NONBLOCK guards against a FIFO or device swapped in since the look: open returns at once,
            // and such a file goes to the pool after all.
            let nonblock = if here { libc::O_NONBLOCK as u64 } else { 0 };
            let how = OpenHow {
                flags: flags | nonblock | libc::O_CLOEXEC as u64,
                mode: if flags & (libc::O_CREAT | libc::O_TMPFILE) as u64 != 0 {
                    u64::from(mode & 0o7777 & !creds.umask)
                } else {
                    0
                },
                resolve: RESOLVE_NO_SYMLINKS,
            };
            // SAFETY: openat2(2) with a valid dirfd, a NUL-terminated name and a correctly sized open_how.
            let fd = unsafe {
                libc::syscall(libc::SYS_openat2, parent.as_raw_fd(), cname.as_ptr(), &how, size_of::<OpenHow>())
            };
            if fd < 0 {
                let errno = last_errno();
                // ENXIO (a FIFO without a reader) or EAGAIN may come from the O_NONBLOCK we added, not from the
                // call the program made: the pool makes that one.
                let ours = nonblock != 0 && flags & libc::O_NONBLOCK as u64 == 0;
                if ours && matches!(i32::from(errno.get()), libc::ENXIO | libc::EAGAIN) {
                    return Ok(Done::Later);
                }
                return Err(errno);
            }
            // SAFETY: openat2 returned a new fd that we own.
            let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
            if here {
                if !cannot_block(kind_at(&fd, c"")) {
                    return Ok(Done::Later);
                }
                if flags & libc::O_NONBLOCK as u64 == 0 {
                    clear_nonblock(&fd, flags)?;
                }
            }
            Ok(Done::Fd(fd, flags & libc::O_CLOEXEC as u64 != 0))
        }
        Op::Mkdir { mode } => {
            // SAFETY: mkdirat(2) with a valid dirfd and a NUL-terminated name.
            let rc = unsafe { libc::mkdirat(parent.as_raw_fd(), cname.as_ptr(), mode & 0o7777 & !creds.umask) };
            if rc < 0 {
                return Err(last_errno());
            }
            Ok(Done::Value(0))
        }
        Op::Unlink { flags } => {
            // SAFETY: unlinkat(2) with a valid dirfd and a NUL-terminated name.
            let rc = unsafe { libc::unlinkat(parent.as_raw_fd(), cname.as_ptr(), flags) };
            if rc < 0 {
                return Err(last_errno());
            }
            Ok(Done::Value(0))
        }
    }
}

/// The type bits (`S_IFMT`) of `name` in `dir`, not following a symlink, or `None` when there is no such file.
/// An empty `name` is `dir` itself.
fn kind_at(dir: &OwnedFd, name: &CStr) -> Option<u32> {
    let flags = libc::AT_SYMLINK_NOFOLLOW | if name.is_empty() { libc::AT_EMPTY_PATH } else { 0 };
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstatat(2) with a valid dirfd, a NUL-terminated name and a buffer of the right size, which it fills
    // when it returns 0.
    let rc = unsafe { libc::fstatat(dir.as_raw_fd(), name.as_ptr(), st.as_mut_ptr(), flags) };
    // SAFETY: fstatat returned 0, so it filled the buffer.
    (rc == 0).then(|| unsafe { st.assume_init() }.st_mode & libc::S_IFMT)
}

/// Opening a regular file or a directory (or creating one where nothing is) returns at once on a local
/// filesystem; a FIFO, a device or a socket may wait.
fn cannot_block(kind: Option<u32>) -> bool {
    matches!(kind, None | Some(libc::S_IFREG | libc::S_IFDIR))
}

/// Sets the status flags the program asked for (`flags`, without the O_NONBLOCK we added); F_SETFL ignores the
/// access mode and the creation flags in them.
fn clear_nonblock(fd: &OwnedFd, flags: u64) -> Result<(), Errno> {
    let wanted = flags as libc::c_int & !libc::O_NONBLOCK;
    // SAFETY: fcntl(2) F_SETFL on an fd we own; no memory is passed.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, wanted) } == 0 {
        Ok(())
    } else {
        Err(last_errno())
    }
}

/// What [`walk`] found: the pinned parent, the last component, the real full path, and the type of the last
/// component (`None`: nothing there).
struct Walked {
    parent: OwnedFd,
    name: String,
    real: String,
    kind: Option<u32>,
}

/// Opens the parent of `path` (`O_PATH`), learns its real location, and follows a symlink in the last component
/// when `follow_last`.
fn walk(path: &str, follow_last: bool) -> Result<Walked, Errno> {
    let mut path = path.to_string();
    for _ in 0..=MAX_SYMLINKS {
        let p = Path::new(&path);
        let (parent_path, name) = match (p.parent(), p.file_name()) {
            (Some(parent), Some(name)) => (parent.to_path_buf(), name.to_string_lossy().into_owned()),
            _ => (Path::new("/").to_path_buf(), ".".to_string()),
        };
        let (parent, real_parent) = open_parent(&parent_path)?;
        let real = normalize(&real_parent.join(&name));
        let cname = CString::new(name.as_bytes()).map_err(|_| Errno::EINVAL)?;
        let kind = kind_at(&parent, &cname);
        if follow_last && kind == Some(libc::S_IFLNK) {
            let mut buf = [0u8; 4096];
            // SAFETY: readlinkat(2) into a buffer of the given size; the result is checked.
            let len =
                unsafe { libc::readlinkat(parent.as_raw_fd(), cname.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
            if len > 0 {
                let target = String::from_utf8_lossy(&buf[..len as usize]).into_owned();
                path = if target.starts_with('/') {
                    normalize(Path::new(&target))
                } else {
                    normalize(&real_parent.join(target))
                };
                continue;
            }
        }
        return Ok(Walked { parent, name, real, kind });
    }
    Err(Errno::new(i64::from(libc::ELOOP)).expect("valid errno"))
}

/// Opens a directory `O_PATH` and says where it really is. Without a symlink on the way (`RESOLVE_NO_SYMLINKS`
/// succeeds), that is the path itself with `.` and `..` removed; otherwise the kernel's answer in
/// `/proc/self/fd`.
fn open_parent(dir: &Path) -> Result<(OwnedFd, PathBuf), Errno> {
    let cdir = CString::new(dir.as_os_str().as_encoded_bytes()).map_err(|_| Errno::EINVAL)?;
    let how = OpenHow {
        flags: (libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: RESOLVE_NO_SYMLINKS,
    };
    // SAFETY: openat2(2) with a NUL-terminated path and a correctly sized open_how; the result is checked.
    let fd = unsafe { libc::syscall(libc::SYS_openat2, libc::AT_FDCWD, cdir.as_ptr(), &how, size_of::<OpenHow>()) };
    if fd >= 0 {
        // SAFETY: openat2 returned a new fd that we own.
        return Ok((unsafe { OwnedFd::from_raw_fd(fd as i32) }, PathBuf::from(normalize(dir))));
    }
    let errno = last_errno();
    if i32::from(errno.get()) != libc::ELOOP {
        return Err(errno);
    }
    // SAFETY: open(2) with a NUL-terminated path; the result is checked.
    let fd = unsafe { libc::open(cdir.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(last_errno());
    }
    // SAFETY: open returned a new fd that we own.
    let parent = unsafe { OwnedFd::from_raw_fd(fd) };
    let real = std::fs::read_link(format!("/proc/self/fd/{fd}")).map_err(|_| Errno::EPERM)?;
    Ok((parent, real))
}

/// Runs `f` with the target's filesystem credentials. With the same credentials as ours, directly; otherwise on a
/// thread of its own whose fsuid, fsgid and groups are switched (per-thread raw syscalls; needs CAP_SETUID and
/// CAP_SETGID, which root has).
fn as_target<T: Send>(identity: &Identity, f: impl FnOnce() -> Result<T, Errno> + Send) -> Result<T, Errno> {
    if identity.is_ours() {
        return f();
    }
    let creds = identity.get();
    if !nix::unistd::geteuid().is_root() {
        return Err(Errno::EACCES);
    }
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let groups: Vec<libc::gid_t> = creds.groups.clone();
                // SAFETY: the raw setgroups/setfsgid/setfsuid syscalls change only this thread's credentials
                // (glibc's wrappers would change every thread's); the thread ends after `f`.
                unsafe {
                    if libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) != 0 {
                        return Err(last_errno());
                    }
                    libc::syscall(libc::SYS_setfsgid, creds.fsgid);
                    libc::syscall(libc::SYS_setfsuid, creds.fsuid);
                }
                f()
            })
            .join()
            .unwrap_or(Err(Errno::EPERM))
    })
}

fn last_errno() -> Errno {
    errno_of(&std::io::Error::last_os_error())
}

fn errno_of(e: &std::io::Error) -> Errno {
    e.raw_os_error().and_then(|n| Errno::new(i64::from(n))).unwrap_or(Errno::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_resolve_symlinks_in_the_last_component_and_parents() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("ok")).unwrap();
        std::fs::write(root.join("secret"), "x").unwrap();
        std::os::unix::fs::symlink(root.join("secret"), root.join("ok/link")).unwrap();
        std::os::unix::fs::symlink(&root, root.join("ok/up")).unwrap();
        let w = walk(&format!("{}/ok/link", root.display()), true).unwrap();
        assert_eq!((w.name.as_str(), w.real), ("secret", format!("{}/secret", root.display())));
        assert_eq!(w.kind, Some(libc::S_IFREG));
        let w = walk(&format!("{}/ok/link", root.display()), false).unwrap();
        assert_eq!((w.real, w.kind), (format!("{}/ok/link", root.display()), Some(libc::S_IFLNK)));
        let w = walk(&format!("{}/ok/up/secret", root.display()), true).unwrap();
        assert_eq!(w.real, format!("{}/secret", root.display()), "a symlinked parent is judged by where it leads");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::os::unix::fs::symlink(root.join("a/b"), root.join("ok/deep")).unwrap();
        let w = walk(&format!("{}/ok/deep/../x", root.display()), true).unwrap();
        assert_eq!(w.real, format!("{}/a/x", root.display()), "`..` after a symlink is the kernel's `..`");
        let w = walk(&format!("{}/ok/../secret", root.display()), true).unwrap();
        assert_eq!(w.real, format!("{}/secret", root.display()));
        let w = walk(&format!("{}/ok/absent", root.display()), true).unwrap();
        assert_eq!(w.kind, None);
    }
}
