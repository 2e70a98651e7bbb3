//! Whether a path lookup or open made by the supervisor can wait on someone else: a FUSE daemon (which may be
//! the very target that waits for our answer), a network server, a cluster lock. Path emulation runs on the
//! notify thread only while no such filesystem is mounted in our mount namespace; otherwise it goes to the
//! blocking pool, so that one slow lookup never holds up the other notifications.
//!
//! The mount table is read from `/proc/self/mountinfo` once, and again only when the kernel says it changed (the
//! file polls `POLLPRI` after a mount or unmount), so the check costs one `poll(0)` per emulated call.

use std::fs::File;
use std::io::{Read, Seek};
use std::os::fd::AsFd;
use std::sync::Mutex;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// Filesystem types whose operations may wait on a process or the network (first component of the type, so that
/// `fuse.sshfs` counts as `fuse`).
const MAY_WAIT: &[&str] = &[
    "fuse",
    "fuseblk",
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "9p",
    "ceph",
    "glusterfs",
    "afs",
    "virtiofs",
    "lustre",
    "gfs2",
    "ocfs2",
    "davfs",
    "sshfs",
    "orangefs",
    "beegfs",
    "gpfs",
    "coda",
    "ncpfs",
];

struct Table {
    file: File,
    all_local: bool,
}

static TABLE: Mutex<Option<Table>> = Mutex::new(None);

/// True if no mounted filesystem can make a lookup or an open wait on another process or the network. False
/// when the mount table cannot be read (the safe answer).
pub fn all_local() -> bool {
    let mut table = TABLE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(t) = table.as_mut() {
        if !changed(&t.file) {
            return t.all_local;
        }
    }
    let fresh = File::open("/proc/self/mountinfo").and_then(|mut file| {
        let all_local = read_all_local(&mut file)?;
        Ok(Table { file, all_local })
    });
    match fresh {
        Ok(t) => {
            let all_local = t.all_local;
            *table = Some(t);
            all_local
        }
        Err(_) => {
            *table = None;
            false
        }
    }
}

/// `POLLPRI` (or `POLLERR`) on mountinfo: the table changed since it was last read.
fn changed(file: &File) -> bool {
    let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLPRI)];
    match poll(&mut fds, PollTimeout::ZERO) {
        Ok(0) => false,
        Ok(_) => true,
        Err(_) => true,
    }
}

fn read_all_local(file: &mut File) -> std::io::Result<bool> {
    file.rewind()?;
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    Ok(text.lines().all(|line| !MAY_WAIT.contains(&fs_type(line))))
}

/// The filesystem type of one mountinfo line: the first field after the ` - ` separator, up to a `.` subtype.
fn fs_type(line: &str) -> &str {
    let Some((_, after)) = line.split_once(" - ") else { return "" };
    let full = after.split(' ').next().unwrap_or("");
    full.split('.').next().unwrap_or(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_after_the_separator_without_subtype() {
        let line = "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - fuse.sshfs host:/ rw,user_id=0";
        assert_eq!(fs_type(line), "fuse");
        assert_eq!(fs_type("22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw"), "ext4");
        assert_eq!(fs_type("22 1 8:1 / / rw shared:1 opt:2 - nfs4 srv:/x rw"), "nfs4");
        assert_eq!(fs_type("garbage"), "");
    }

    #[test]
    fn this_machine_answers_and_the_answer_is_stable() {
        let first = all_local();
        assert_eq!(all_local(), first, "unchanged mount table, same answer");
    }
}
