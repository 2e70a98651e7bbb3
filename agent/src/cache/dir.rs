//! The cache directory, used only when it is the effective user's own. Under `sudo -E`, or with a cache directory
//! that several users share, another user could otherwise plant a weaker filter that root would load.
//!
//! Trust is decided on what was opened, never on a name: the directory is opened once and checked through its fd
//! (a directory owned by the effective uid, not writable by group or others), and every entry is opened relative
//! to that fd with `O_NOFOLLOW` and checked through its own fd (a regular file, same owner and mode rules). So
//! nobody can swap the directory or an entry between the check and the use. A directory supervise creates (with
//! any missing parent) is made 0700; entries are written 0600, through a temporary file and a rename.
//!
//! What fails a check is refused with a warning and the caller compiles the filter; what merely cannot be read or
//! written (no such entry, no permission, a full disk) is skipped silently.

use std::fs::{DirBuilder, File, Metadata};
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, renameat, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::{geteuid, unlinkat, UnlinkatFlags};
use thiserror::Error;

/// A file larger than this is not a cache entry (Docker's default compiles to about 11 KiB, plus its key).
const MAX_ENTRY_BYTES: u64 = 4 * 1024 * 1024;

/// Why a directory or an entry is not used.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum Untrusted {
    #[error("owned by uid {owner}, not by the effective uid {euid}")]
    Owner { owner: u32, euid: u32 },
    #[error("writable by group or others (mode {mode:04o})")]
    Writable { mode: u32 },
    #[error("a symbolic link")]
    Symlink,
    #[error("not a {expected}")]
    Kind { expected: &'static str },
}

/// The opened, checked cache directory.
#[derive(Debug)]
pub struct CacheDir {
    fd: OwnedFd,
    path: PathBuf,
}

impl CacheDir {
    /// Creates `path` (0700, with any missing parent) if needed, opens it and checks it. `None` if it cannot be
    /// used; with a warning if it is not trusted.
    pub fn open(path: &Path) -> Option<CacheDir> {
        DirBuilder::new().recursive(true).mode(0o700).create(path).ok()?;
        let dir =
            std::fs::OpenOptions::new().read(true).custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC).open(path).ok()?;
        match dir.metadata().map(|meta| check(&meta, true)) {
            Ok(Ok(())) => Some(CacheDir { fd: dir.into(), path: path.to_path_buf() }),
            Ok(Err(why)) => {
                tracing::warn!(dir = %path.display(), reason = %why, "filter cache not trusted: not used, the filter is compiled");
                None
            }
            Err(_) => None,
        }
    }

    /// The bytes of entry `name`, if it exists and is trusted (with a warning if it exists and is not).
    pub fn read(&self, name: &str) -> Option<Vec<u8>> {
        match self.read_checked(name) {
            Ok(bytes) => bytes,
            Err(why) => {
                let entry = self.path.join(name);
                tracing::warn!(entry = %entry.display(), reason = %why, "filter cache entry not trusted: not used, the filter is compiled");
                None
            }
        }
    }

    fn read_checked(&self, name: &str) -> Result<Option<Vec<u8>>, Untrusted> {
        // O_NONBLOCK: a FIFO is refused after the open instead of blocking it.
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
        let file = match openat(self.fd.as_fd(), name, flags, Mode::empty()) {
            Ok(fd) => File::from(fd),
            Err(Errno::ELOOP) => return Err(Untrusted::Symlink),
            Err(_) => return Ok(None),
        };
        let Ok(meta) = file.metadata() else { return Ok(None) };
        check(&meta, false)?;
        let mut bytes = Vec::new();
        if file.take(MAX_ENTRY_BYTES + 1).read_to_end(&mut bytes).is_err() || bytes.len() as u64 > MAX_ENTRY_BYTES {
            return Ok(None);
        }
        Ok(Some(bytes))
    }

    /// Writes entry `name` (0600) through a temporary file and a rename, so that a reader sees the old entry or the
    /// new one, never a part. Failures are ignored: the cache never changes a result.
    pub fn write(&self, name: &str, bytes: &[u8]) {
        let tmp = format!(".{name}.{}.tmp", std::process::id());
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let Ok(fd) = openat(self.fd.as_fd(), tmp.as_str(), flags, Mode::from_bits_truncate(0o600)) else { return };
        let written = File::from(fd).write_all(bytes).is_ok();
        if !written || renameat(self.fd.as_fd(), tmp.as_str(), self.fd.as_fd(), name).is_err() {
            let _ = unlinkat(self.fd.as_fd(), tmp.as_str(), UnlinkatFlags::NoRemoveDir);
        }
    }
}

/// The rules for the directory and for an entry: the right kind of file, owned by the effective uid, not writable
/// by group or others.
fn check(meta: &Metadata, dir: bool) -> Result<(), Untrusted> {
    if dir && !meta.is_dir() || !dir && !meta.is_file() {
        return Err(Untrusted::Kind { expected: if dir { "directory" } else { "regular file" } });
    }
    let euid = geteuid().as_raw();
    if meta.uid() != euid {
        return Err(Untrusted::Owner { owner: meta.uid(), euid });
    }
    if meta.mode() & 0o022 != 0 {
        return Err(Untrusted::Writable { mode: meta.mode() & 0o7777 });
    }
    Ok(())
}
