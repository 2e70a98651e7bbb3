//! The one reader of a target's `/proc`: what the kernel tells about a process through procfs, read from our own
//! `/proc` (reached from our root fd, whatever the calling thread's root is), and where a walk is in any procfs.
//!
//! - Facts about a target, for people and for rules: [`exe`], [`exe_file`], [`cmdline`], [`status`] (credentials, ids, umask:
//!   parsed by [`crate::kernel::view::identity::read`]), [`cwd`], [`fd_link`], [`fdinfo`].
//! - The target's places, opened for the view: [`open_cwd`], [`open_fd`], [`open_root`], [`open_mnt_ns`],
//!   [`ns_place`].
//! - Where a walk is in a procfs, any procfs instance (ours, a container's, one mounted elsewhere), and who
//!   `self`, `thread-self` and `<pid>` are there: [`position`], [`is_ours`], [`target_in`]; the facts that keep
//!   supervise's `/proc` away from the target. These work from fds: a procfs root is found by walking `..` up to
//!   its root inode.
//!
//! A target that is gone reads as `None` (or the errno of the open, ENOENT), never as a panic.

use std::ffi::{CStr, CString, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use proto::Errno;

use super::view::fs::{open_dir, read_link, real_path, stat_at};
use super::view::{open_ns, open_path, place, place_of, root, Place};

/// The target's executable (readlink of `/proc/PID/exe`). `None`: it is gone, or it is a kernel thread.
pub fn exe(pid: u32) -> Option<PathBuf> {
    link(&format!("{pid}/exe"))
}

/// The device and inode of the file the target runs: stat(2) of `/proc/PID/exe`, which the kernel follows to the
/// very file (`mm->exe_file`), in whatever mount namespace it is, and however it was reached or renamed since.
/// `None`: it is gone, it is a kernel thread, or its executable is closed to us (ptrace access mode read).
pub fn exe_file(pid: u32) -> Option<(u64, u64)> {
    let path = CString::new(format!("proc/{pid}/exe")).ok()?;
    stat_at(root(), &path, 0).ok().map(|st| file_id(&st))
}

/// The (device, inode) of a stat(2) result: what tells one file from another.
#[allow(clippy::unnecessary_cast)] // dev_t and ino_t are not 64 bits wide on every target
pub fn file_id(st: &nix::sys::stat::FileStat) -> (u64, u64) {
    (st.st_dev as u64, st.st_ino as u64)
}

/// The target's cwd, as the kernel names it from our root (readlink of `/proc/PID/cwd`). `None`: it is gone.
pub fn cwd(pid: u32) -> Option<PathBuf> {
    link(&format!("{pid}/cwd"))
}

/// Where the target's fd `fd` leads (readlink of `/proc/PID/fd/N`): a path, or `pipe:[…]`, `socket:[…]`, ….
/// `None`: no such fd, or the target is gone.
pub fn fd_link(pid: u32, fd: i32) -> Option<PathBuf> {
    if fd < 0 {
        return None;
    }
    link(&format!("{pid}/fd/{fd}"))
}

/// The target's command line (`/proc/PID/cmdline`): its arguments joined by spaces (empty ones left out),
/// shortened to `max_chars` characters and `…`. Empty if it is gone.
pub fn cmdline(pid: u32, max_chars: usize) -> String {
    let raw = CString::new(format!("proc/{pid}/cmdline")).ok().and_then(|p| read_bytes_at(root(), &p));
    let raw = raw.unwrap_or_default();
    let text =
        raw.split(|&b| b == 0).filter(|a| !a.is_empty()).map(String::from_utf8_lossy).collect::<Vec<_>>().join(" ");
    if text.chars().count() > max_chars {
        format!("{}…", text.chars().take(max_chars).collect::<String>())
    } else {
        text
    }
}

/// The text of `/proc/TID/status` (proc(5)), the whole file however many groups it lists; the name line may hold
/// any bytes (prctl PR_SET_NAME), decoded lossily: the ids are ASCII. `None`: the thread is gone.
pub fn status(tid: u32) -> Option<String> {
    our_proc_file(&format!("{tid}/status"))
}

/// The text of `/proc/TID/fdinfo/FD` (its `flags:`, `pos:`, …). `None`: no such fd, or the thread is gone.
pub fn fdinfo(tid: u32, fd: i32) -> Option<String> {
    our_proc_file(&format!("{tid}/fdinfo/{fd}"))
}

/// The target's cwd, opened `O_PATH` (`/proc/TID/cwd`, followed by the kernel with the caller's credentials).
///
/// # Errors
/// The errno of the open (ENOENT: the thread is gone).
pub fn open_cwd(tid: u32) -> Result<OwnedFd, Errno> {
    open_path(&format!("/proc/{tid}/cwd"))
}

/// The target's fd `fd`, reopened `O_PATH` through `/proc/TID/fd/N`: the same file at the same place.
///
/// # Errors
/// The errno of the open (ENOENT: no such fd, or the thread is gone).
pub fn open_fd(tid: u32, fd: i32) -> Result<OwnedFd, Errno> {
    open_path(&format!("/proc/{tid}/fd/{fd}"))
}

/// The target's root directory, opened `O_PATH` (`/proc/TID/root`).
///
/// # Errors
/// The errno of the open (ENOENT: the thread is gone).
pub fn open_root(tid: u32) -> Result<OwnedFd, Errno> {
    open_path(&format!("/proc/{tid}/root"))
}

/// The target's mount namespace, opened for setns(2) (`/proc/TID/ns/mnt`).
///
/// # Errors
/// The errno of the open (ENOENT: the thread is gone).
pub fn open_mnt_ns(tid: u32) -> Result<OwnedFd, Errno> {
    open_ns(&format!("/proc/{tid}/ns/mnt"))
}

/// Where the target's namespace `kind` (`"user"`, `"mnt"`, …) is (`/proc/TID/ns/KIND`, followed). `None`: gone.
pub fn ns_place(tid: u32, kind: &str) -> Option<Place> {
    place(&CString::new(format!("/proc/{tid}/ns/{kind}")).ok()?, true)
}

/// The symlink `rel` of our own `/proc`, read from our root fd.
fn link(rel: &str) -> Option<PathBuf> {
    let path = CString::new(format!("proc/{rel}")).ok()?;
    read_link(root(), &path).ok().map(|text| PathBuf::from(OsString::from_vec(text)))
}

/// Where the walk is in procfs, as far as it matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proc {
    /// Not in procfs, or in procfs outside any `/proc/<pid>`.
    No,
    /// A procfs root (`self`, `thread-self` and `<pid>` live here).
    Root,
    /// `depth` directories below `/proc/<pid>` of a process that is not supervise.
    Pid { depth: u32 },
    /// In procfs at a place whose owner is supervise or cannot be told: refused.
    Unknown,
}

/// The inode of a procfs's root directory.
const PROC_ROOT_INO: u64 = 1;

/// True if `fd` is on a procfs (fstatfs(2)).
pub fn is_procfs(fd: BorrowedFd<'_>) -> bool {
    use nix::sys::statfs::{fstatfs, PROC_SUPER_MAGIC};
    fstatfs(fd).is_ok_and(|st| st.filesystem_type() == PROC_SUPER_MAGIC)
}

fn is_root(fd: BorrowedFd<'_>) -> bool {
    is_procfs(fd) && place_of(fd).is_some_and(|p| p.ino == PROC_ROOT_INO)
}

/// Where `fd` is in procfs, found from the fd itself: up with `..` to the procfs root, then the name below it.
pub fn position(fd: BorrowedFd<'_>) -> Proc {
    if !is_procfs(fd) {
        return Proc::No;
    }
    let mut up: Option<OwnedFd> = None;
    let mut depth = 0u32;
    let mount = place_of(fd).map(|p| p.mnt_id);
    loop {
        let here = up.as_ref().map_or(fd, |f| f.as_fd());
        if is_root(here) {
            break;
        }
        if depth >= 32 {
            return Proc::Unknown;
        }
        match open_dir(here, b"..", 0) {
            // Within one procfs mount: a `/proc/<pid>` bound elsewhere is not where its path says.
            Ok(parent) if is_procfs(parent.as_fd()) && place_of(parent.as_fd()).map(|p| p.mnt_id) == mount => {
                up = Some(parent)
            }
            _ => return Proc::Unknown,
        }
        depth += 1;
    }
    if depth == 0 {
        return Proc::Root;
    }
    let proc_root = up.as_ref().map_or(fd, |f| f.as_fd());
    // The name right below the procfs root on the way to `fd`.
    let Ok(real) = real_path(fd) else { return Proc::Unknown };
    let Some(below) = real.len().checked_sub(depth as usize).and_then(|i| real.get(i)) else { return Proc::Unknown };
    if !is_pid(below) {
        return Proc::No;
    }
    if is_ours(proc_root, below) {
        Proc::Unknown
    } else {
        Proc::Pid { depth }
    }
}

/// True if the object `fd` names is inside supervise's own `/proc/<pid>` (or its threads'), or in a procfs place
/// that cannot be told: a thread of supervise must not act on it for the target.
pub fn is_ours_or_unknown(fd: BorrowedFd<'_>) -> bool {
    if !is_procfs(fd) {
        return false;
    }
    let Ok(st) = stat_at(fd, c"", libc::AT_EMPTY_PATH) else { return true };
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        return position(fd) == Proc::Unknown;
    }
    // A file: its directory, found by its path and checked to hold this very file.
    let Ok(real) = real_path(fd) else { return true };
    let Some((name, dir)) = real.split_last() else { return true };
    let mut path = b"/".to_vec();
    for part in dir {
        path.extend_from_slice(part);
        path.push(b'/');
    }
    let Ok(parent) = open_dir(root_of_thread(), &path, super::view::walk::RESOLVE_NO_SYMLINKS) else { return true };
    let Ok(cname) = std::ffi::CString::new(name.clone()) else { return true };
    let same = stat_at(parent.as_fd(), &cname, libc::AT_SYMLINK_NOFOLLOW)
        .is_ok_and(|here| (here.st_dev, here.st_ino) == (st.st_dev, st.st_ino));
    !same || position(parent.as_fd()) == Proc::Unknown
}

/// The acting thread's root (an absolute path in openat2 ignores the dirfd).
fn root_of_thread() -> BorrowedFd<'static> {
    root()
}

/// True if `name` in the procfs root `proc_root` is supervise itself or one of its threads.
pub fn is_ours(proc_root: BorrowedFd<'_>, name: &[u8]) -> bool {
    let Some(ours) = our_pid_in(proc_root) else { return false };
    if name == ours.to_string().as_bytes() {
        return true;
    }
    let Ok(task) = std::ffi::CString::new(format!("{ours}/task/{}", String::from_utf8_lossy(name))) else {
        return true;
    };
    stat_at(proc_root, &task, libc::AT_SYMLINK_NOFOLLOW).is_ok()
}

/// Our pid as the procfs root `proc_root` shows it (its `self`); `None` if we are not in its pid namespace.
pub fn our_pid_in(proc_root: BorrowedFd<'_>) -> Option<u32> {
    let text = read_link(proc_root, c"self").ok()?;
    std::str::from_utf8(&text).ok()?.parse().ok()
}

/// The target's process and thread ids as the procfs root `proc_root` shows them: `self` and `thread-self` for
/// thread `tid` (an id in our pid namespace). In our procfs, its Tgid; in a procfs of another pid namespace (a
/// container's), the id of the same process there, matched by its NStgid/NSpid and start time.
pub fn target_in(proc_root: BorrowedFd<'_>, tid: u32) -> Option<(u32, u32)> {
    let status = status(tid)?;
    let field = |key: &str| -> Vec<u32> {
        super::view::identity::status_field(&status, key)
            .map(|v| v.split_whitespace().filter_map(|n| n.parse().ok()).collect())
            .unwrap_or_default()
    };
    let (tgids, tids) = (field("NStgid:"), field("NSpid:"));
    if our_pid_in(proc_root) == Some(std::process::id()) {
        return Some((*tgids.first()?, tid));
    }
    let started = start_time(&our_proc_file(&format!("{tid}/stat"))?)?;
    tgids.iter().zip(&tids).skip(1).find_map(|(&tgid, &thread)| {
        let stat = std::ffi::CString::new(format!("{tgid}/task/{thread}/stat")).ok()?;
        let there = read_at(proc_root, &stat)?;
        (start_time(&there)? == started).then_some((tgid, thread))
    })
}

/// A file of our own `/proc` (from our root fd, whatever the acting thread's root is), as text.
pub fn our_proc_file(rel: &str) -> Option<String> {
    let path = std::ffi::CString::new(format!("proc/{rel}")).ok()?;
    read_at(root(), &path)
}

/// The whole file `path` in `dir`, as text.
fn read_at(dir: BorrowedFd<'_>, path: &CStr) -> Option<String> {
    read_bytes_at(dir, path).map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

/// The whole file `path` in `dir`, with plain reads (procfs builds a file at the first read; a read to the end by
/// size would add a stat and a seek).
fn read_bytes_at(dir: BorrowedFd<'_>, path: &CStr) -> Option<Vec<u8>> {
    use std::io::Read;
    let fd = super::view::fs::openat2(dir, path.to_bytes(), (libc::O_RDONLY | libc::O_CLOEXEC) as u64, 0, 0).ok()?;
    let mut file = std::fs::File::from(fd);
    let (mut buf, mut len) = (vec![0u8; 4096], 0);
    loop {
        if len == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(_) => return None,
        }
    }
    buf.truncate(len);
    Some(buf)
}

/// Field 22 of `/proc/PID/stat` (proc(5)): the start time, after the command in parentheses.
fn start_time(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

pub fn is_pid(part: &[u8]) -> bool {
    !part.is_empty() && part.iter().all(u8::is_ascii_digit)
}

/// Every process `/proc` lists now (its numeric entries), for the prompts' view of the program's jobs.
pub fn pids() -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.flatten().filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok()).collect()
}

/// The thread ids of process `pid` (`/proc/PID/task`). `None`: it is gone, or closed to us.
pub fn threads(pid: i32) -> Option<Vec<i32>> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    Some(dir.flatten().filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok()).collect())
}

/// The text of `/proc/PID/stat` (`self` for supervise). `None`: it is gone.
pub fn stat(pid: &str) -> Option<String> {
    our_proc_file(&format!("{pid}/stat"))
}

/// The text of `/proc/PID/task/TID/NAME` (`stat`, `status`, `syscall`). `None`: the thread is gone, or the file is
/// closed to us.
pub fn thread_file(pid: i32, tid: i32, name: &str) -> Option<String> {
    our_proc_file(&format!("{pid}/task/{tid}/{name}"))
}

/// True while `/proc/PID/task/TID` exists.
pub fn thread_exists(pid: i32, tid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}/task/{tid}")).exists()
}

/// Each open fd of `pid` with what it leads to (`stat(2)` through `/proc/PID/fd/N`): a closed fd table is `None`;
/// an fd closed meanwhile is left out.
pub fn fds_with_metadata(pid: i32) -> Option<Vec<(i32, std::fs::Metadata)>> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(
        dir.flatten()
            .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, std::fs::metadata(e.path()).ok()?)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_process_reads_back() {
        let me = std::process::id();
        assert_eq!(exe(me), std::env::current_exe().ok());
        assert_eq!(cwd(me), std::env::current_dir().ok());
        assert_eq!(fd_link(me, 0), std::fs::read_link("/proc/self/fd/0").ok());
        assert_eq!(fd_link(me, -1), None);
        let args: Vec<String> = std::env::args().filter(|a| !a.is_empty()).collect();
        assert_eq!(cmdline(me, usize::MAX), args.join(" "));
        let short = cmdline(me, 3);
        assert!(short.ends_with('…') && short.chars().count() == 4, "{short}");
        assert!(status(me).is_some_and(|s| s.contains("Tgid:")));
        assert!(fdinfo(me, 0).is_some_and(|s| s.contains("flags:")));
        assert_eq!(exe(u32::MAX), None, "no such process");
        assert_eq!(cmdline(u32::MAX, 10), "");
    }

    #[test]
    fn start_times_are_read_after_the_command() {
        let stat = "42 (a) b) c) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 98765 1000 1";
        assert_eq!(start_time(stat), Some(98765));
    }

    #[test]
    fn our_own_proc_is_told_apart() {
        let proc_root = super::super::view::fs::openat2(root(), b"proc", libc::O_PATH as u64, 0, 0).unwrap();
        assert!(is_ours(proc_root.as_fd(), std::process::id().to_string().as_bytes()));
        assert!(!is_ours(proc_root.as_fd(), b"1"));
        assert_eq!(position(proc_root.as_fd()), Proc::Root);
        let me = super::super::view::fs::openat2(proc_root.as_fd(), b"self/task", libc::O_PATH as u64, 0, 0).unwrap();
        assert_eq!(position(me.as_fd()), Proc::Unknown, "our own /proc/<pid> is never a place to walk");
        let sys = super::super::view::fs::openat2(proc_root.as_fd(), b"sys/fs", libc::O_PATH as u64, 0, 0).unwrap();
        assert_eq!(position(sys.as_fd()), Proc::No);
        let tid = nix::unistd::gettid().as_raw() as u32;
        assert_eq!(target_in(proc_root.as_fd(), tid), Some((std::process::id(), tid)));
    }
}
