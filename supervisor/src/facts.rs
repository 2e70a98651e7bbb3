//! Gathering [`Facts`] for matchers: the target's executable, real uid/gid, and its path arguments read from its
//! memory and resolved against its cwd or dirfd. Every memory read is verified with `NOTIF_ID_VALID`, and so is the
//! set of `/proc` reads as a whole, so that nothing read from a reused pid is ever used.

use crate::decide::{Facts, Needs};
use crate::describe::{path_args, resolve};
use crate::memory::TargetMemory;
use crate::seccomp::{Listener, Notification};

/// Longest path read from a target (PATH_MAX, without the NUL).
pub const PATH_MAX: usize = 4095;

/// The target's credentials and umask, from `/proc/PID/status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Creds {
    pub uid: u32,
    pub gid: u32,
    pub fsuid: u32,
    pub fsgid: u32,
    pub groups: Vec<u32>,
    pub umask: u32,
}

/// Reads `/proc/PID/status`.
pub fn creds(pid: u32) -> Option<Creds> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |key: &str| status_field(&status, key);
    let ids = |key: &str| -> Option<Vec<u32>> { field(key)?.split_whitespace().map(|v| v.parse().ok()).collect() };
    let uids = ids("Uid:")?;
    let gids = ids("Gid:")?;
    Some(Creds {
        uid: *uids.first()?,
        gid: *gids.first()?,
        fsuid: *uids.get(3)?,
        fsgid: *gids.get(3)?,
        groups: ids("Groups:").unwrap_or_default(),
        umask: field("Umask:").and_then(|u| u32::from_str_radix(u, 8).ok()).unwrap_or(0o022),
    })
}

/// The value of `key` (such as `"Uid:"`) in the text of a `/proc/PID/status` file, trimmed.
pub fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status.lines().find_map(|l| l.strip_prefix(key)).map(str::trim)
}

/// What went wrong while gathering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// The notification is no longer valid: send nothing.
    Gone,
    /// A path argument cannot be read: the syscall fails with this errno, as the kernel would (EFAULT,
    /// ENAMETOOLONG).
    Errno(proto::Errno),
}

/// Gathers what `needs` asks for.
///
/// # Errors
/// [`Missing::Gone`] if the notification became invalid, [`Missing::Errno`] if a path argument is unreadable.
pub fn gather(listener: &Listener, n: &Notification, syscall: &str, needs: Needs) -> Result<Facts, Missing> {
    let mut facts = Facts::default();
    if needs.paths {
        let memory = TargetMemory::new(n.pid);
        let mut paths = Vec::new();
        for (index, dirfd) in path_args(syscall) {
            let raw = memory.read_cstring(n.args[index], PATH_MAX).map_err(Missing::Errno)?;
            let bytes = raw.verify(listener, n.id).map_err(|_| Missing::Gone)?;
            if bytes.is_empty() && dirfd.is_none() {
                return Err(Missing::Errno(proto::Errno::ENOENT));
            }
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let dirfd = dirfd.map_or(libc::AT_FDCWD, |d| n.args[d] as i32);
            paths.push(resolve(n.pid, dirfd, &text));
        }
        facts.paths = Some(paths);
    }
    if needs.exe {
        facts.exe = std::fs::read_link(format!("/proc/{}/exe", n.pid)).ok().map(|p| p.display().to_string());
    }
    if needs.creds {
        if let Some(c) = creds(n.pid) {
            facts.uid = Some(c.uid);
            facts.gid = Some(c.gid);
        }
    }
    // The /proc reads above name the pid, which could have been reused if the target died meanwhile.
    if !listener.id_valid(n.id) {
        return Err(Missing::Gone);
    }
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_creds_parse() {
        let c = creds(std::process::id()).unwrap();
        assert_eq!(c.uid, nix::unistd::getuid().as_raw());
        assert_eq!(c.fsgid, nix::unistd::getegid().as_raw());
        assert!(c.umask <= 0o777);
    }
}
