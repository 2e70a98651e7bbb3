//! Where the control sockets live, and their files: one directory per user ([`runtime_dir`]), one socket per running
//! supervise named by its pid (`PID.sock`), made private ([`bind`]), removed when supervise ends ([`Bound`]'s drop)
//! and, when a supervise was killed, found stale and removed by the next one and by `ps` ([`clean_stale`]).
//!
//! The directory ([`runtime_dirs`]): `$SUPERVISE_RUNTIME_DIR` as given (tests, or to look at another directory as
//! root); else for root `/run/supervise`, for other users `$XDG_RUNTIME_DIR/supervise`, and when that cannot be
//! used (or `XDG_RUNTIME_DIR` is not set) `/tmp/supervise-UID`. It is created with mode 0700 and used only if it is
//! a directory (not a symbolic link) owned by supervise's effective uid; a wider mode is narrowed to 0700. `ps`
//! and `watch` look in each of them.

use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use nix::sys::stat::{umask, Mode};

/// Overrides the directory of the control sockets.
pub const DIR_ENV: &str = "SUPERVISE_RUNTIME_DIR";

/// Why the directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DirError {
    #[error("cannot create {path}")]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not a directory of uid {uid} (a symbolic link, another file or another owner): not used")]
    NotOurs { path: PathBuf, uid: u32 },
    #[error("cannot make {path} private")]
    Chmod {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The directory of the control sockets for this user (see the module's documentation); not created.
pub fn runtime_dir() -> PathBuf {
    runtime_dirs().swap_remove(0)
}

/// The directories of the control sockets, in order of preference: [`DIR_ENV`] alone when it is set; else the
/// usual one (`/run/supervise` for root, `$XDG_RUNTIME_DIR/supervise`) and then the fallback in the temporary
/// directory (`/tmp/supervise-UID`), used when the first cannot be.
pub fn runtime_dirs() -> Vec<PathBuf> {
    let env = |name: &str| std::env::var_os(name).map(PathBuf::from).filter(|p| p.is_absolute());
    if let Some(dir) = env(DIR_ENV) {
        return vec![dir];
    }
    let uid = nix::unistd::geteuid().as_raw();
    let fallback = std::env::temp_dir().join(format!("supervise-{uid}"));
    let usual = if uid == 0 {
        Some(PathBuf::from("/run/supervise"))
    } else {
        env("XDG_RUNTIME_DIR").map(|d| d.join("supervise"))
    };
    match usual {
        Some(usual) if usual != fallback => vec![usual, fallback],
        _ => vec![fallback],
    }
}

/// True if `dir` can be trusted to hold only real control sockets: a directory (not a symbolic link) owned by the
/// effective uid or by root. A directory that another user made (in /tmp) is not listed from.
pub fn trusted(dir: &Path) -> bool {
    let uid = nix::unistd::geteuid().as_raw();
    std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir() && (m.uid() == uid || m.uid() == 0))
}

/// Creates `dir` (mode 0700) if needed and checks that it is ours and private.
///
/// # Errors
/// A [`DirError`]: it cannot be created, or it is not a directory owned by the effective uid.
pub fn prepare(dir: &Path) -> Result<(), DirError> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(source) => return Err(DirError::Create { path: dir.to_path_buf(), source }),
    }
    let uid = nix::unistd::geteuid().as_raw();
    let meta = std::fs::symlink_metadata(dir).map_err(|source| DirError::Create { path: dir.into(), source })?;
    if !meta.is_dir() || meta.uid() != uid {
        return Err(DirError::NotOurs { path: dir.to_path_buf(), uid });
    }
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|source| DirError::Chmod { path: dir.to_path_buf(), source })?;
    }
    Ok(())
}

/// The socket of the supervise with this pid.
pub fn socket_path(dir: &Path, pid: u32) -> PathBuf {
    dir.join(format!("{pid}.sock"))
}

/// A bound control socket; dropping it removes the file (if it is still this socket).
#[derive(Debug)]
pub struct Bound {
    pub path: PathBuf,
    id: (u64, u64),
}

impl Drop for Bound {
    fn drop(&mut self) {
        if std::fs::symlink_metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.id) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Binds `dir/PID.sock` for this process with mode 0600. A file left there by an earlier process with the same pid
/// cannot be a live supervise's: it is replaced.
///
/// # Errors
/// If the socket cannot be created.
pub fn bind(dir: &Path) -> io::Result<(UnixListener, Bound)> {
    let path = socket_path(dir, std::process::id());
    if std::fs::symlink_metadata(&path).is_ok() {
        std::fs::remove_file(&path)?;
    }
    // umask(2) only changes this process's file mode mask and cannot fail; restored at once, so the socket is never
    // reachable with a wider mode.
    let old = umask(Mode::from_bits_truncate(0o177));
    let listener = UnixListener::bind(&path);
    umask(old);
    let listener = listener?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    let meta = std::fs::symlink_metadata(&path)?;
    Ok((listener, Bound { path, id: (meta.dev(), meta.ino()) }))
}

/// The sockets in `dir`, by pid, ascending.
pub fn sockets(dir: &Path) -> Vec<(u32, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut found: Vec<(u32, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let pid = name.to_str()?.strip_suffix(".sock")?.parse::<u32>().ok()?;
            e.file_type().ok()?.is_socket().then(|| (pid, e.path()))
        })
        .collect();
    found.sort();
    found
}

/// What a socket of the directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Its pid is gone: stale.
    Dead,
    /// Nobody listens (the pid was reused by another process): stale.
    Refused,
    /// Someone accepted the connection.
    Live,
    /// Cannot tell (permissions, …): left alone.
    Unknown,
}

/// Whether the supervise of socket `path` (named by `pid`) is there. Only `Dead` and `Refused` are stale.
pub fn liveness(pid: u32, path: &Path) -> (Liveness, Option<UnixStream>) {
    if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
        return (Liveness::Dead, None);
    }
    match connect(path) {
        Ok(stream) => (Liveness::Live, Some(stream)),
        Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => (Liveness::Refused, None),
        Err(_) => (Liveness::Unknown, None),
    }
}

/// Connects to a control socket without waiting: a supervise that is stopped with a full backlog gives EAGAIN
/// instead of a hang. The stream returned is blocking.
///
/// # Errors
/// Those of socket(2) and connect(2): ECONNREFUSED when nobody listens, EAGAIN when the backlog is full.
pub fn connect(path: &Path) -> io::Result<UnixStream> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType, UnixAddr};
    let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
    let fd = socket(AddressFamily::Unix, SockType::Stream, flags, None).map_err(io::Error::from)?;
    let addr = UnixAddr::new(path).map_err(io::Error::from)?;
    nix::sys::socket::connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &addr).map_err(io::Error::from)?;
    let stream = UnixStream::from(fd);
    stream.set_nonblocking(false)?;
    Ok(stream)
}

/// Removes the stale sockets of `dir` (their pid is gone, or nobody listens) other than this process's own; returns
/// how many. Live supervisors only see a connection that closes at once.
pub fn clean_stale(dir: &Path) -> usize {
    let own = std::process::id();
    sockets(dir)
        .into_iter()
        .filter(|(pid, _)| *pid != own)
        .filter(|(pid, path)| {
            let (state, _) = liveness(*pid, path);
            matches!(state, Liveness::Dead | Liveness::Refused) && std::fs::remove_file(path).is_ok()
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_and_socket_are_private_and_the_socket_goes_with_its_guard() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("supervise");
        prepare(&dir).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        prepare(&dir).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700, "narrowed again");
        let (_listener, bound) = bind(&dir).unwrap();
        assert_eq!(std::fs::metadata(&bound.path).unwrap().mode() & 0o777, 0o600);
        assert_eq!(sockets(&dir), vec![(std::process::id(), bound.path.clone())]);
        let path = bound.path.clone();
        drop(bound);
        assert!(!path.exists());
    }

    #[test]
    fn the_override_is_alone_and_the_temporary_fallback_comes_last() {
        let dirs = runtime_dirs();
        let fallback = std::env::temp_dir().join(format!("supervise-{}", nix::unistd::geteuid().as_raw()));
        match std::env::var_os(DIR_ENV) {
            Some(dir) if Path::new(&dir).is_absolute() => assert_eq!(dirs, vec![PathBuf::from(dir)]),
            _ => assert_eq!(dirs.last(), Some(&fallback)),
        }
        assert_eq!(runtime_dir(), dirs[0]);
    }

    #[test]
    fn a_symlink_or_a_file_is_not_used_as_the_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("elsewhere");
        std::fs::create_dir(&target).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(matches!(prepare(&link), Err(DirError::NotOurs { .. })));
        assert!(!trusted(&link) && trusted(&target));
        let file = tmp.path().join("file");
        std::fs::write(&file, "").unwrap();
        assert!(prepare(&file).is_err());
    }

    #[test]
    fn stale_sockets_are_removed_and_live_ones_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        // A pid that cannot exist (above pid_max's limit), and our own pid's socket that nobody listens on is kept.
        let dead = socket_path(dir, 4_194_305);
        drop(UnixListener::bind(&dead).unwrap());
        // A live pid (our parent) whose socket nobody listens on: connect is refused.
        let refused = socket_path(dir, nix::unistd::getppid().as_raw() as u32);
        drop(UnixListener::bind(&refused).unwrap());
        let live_pid = std::process::id();
        let (_listener, bound) = bind(dir).unwrap();
        std::fs::write(dir.join("notes.txt"), "").unwrap();
        assert_eq!(clean_stale(dir), 2);
        assert!(!dead.exists() && !refused.exists());
        assert_eq!(sockets(dir), vec![(live_pid, bound.path.clone())]);
        assert!(dir.join("notes.txt").exists());
    }
}
