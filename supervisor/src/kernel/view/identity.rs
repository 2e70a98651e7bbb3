//! The target's credentials ([`Identity`]: fsuid, fsgid, groups, effective capabilities, umask), read from
//! `/proc/<tid>/status`, and [`Assumed`]: this thread acting with them for one call.
//!
//! Credentials and the umask are per thread in Linux. The raw `setfsuid`, `setfsgid`, `setgroups` and `capset`
//! syscalls change only the calling thread (glibc's wrappers would change every thread), and a thread that
//! unshared `CLONE_FS` has its own umask. So one thread of supervise can take the target's identity for a call and
//! give it back afterwards, while every other thread keeps supervise's.

use std::cell::Cell;
use std::os::fd::BorrowedFd;
use std::sync::OnceLock;

use proto::Errno;

use super::last_errno;

/// Credentials that the kernel's permission checks read (credentials(7), capabilities(7)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// The real uid (what `uid` matchers see).
    pub uid: u32,
    pub euid: u32,
    pub suid: u32,
    pub fsuid: u32,
    pub gid: u32,
    pub egid: u32,
    pub sgid: u32,
    pub fsgid: u32,
    pub groups: Vec<u32>,
    /// `CapEff`: the effective capabilities, in the target's user namespace.
    pub cap_eff: u64,
    pub umask: u32,
    /// The thread group (process) id, as our `/proc` sees it.
    pub tgid: u32,
}

/// Reads the identity of thread `tid` from its `/proc/<tid>/status` ([`crate::kernel::proc::status`]). `None`: the
/// thread is gone.
pub fn read(tid: u32) -> Option<Identity> {
    parse(&crate::kernel::proc::status(tid)?)
}

/// Parses the text of a `/proc/PID/status` file.
pub fn parse(status: &str) -> Option<Identity> {
    let field = |key: &str| status_field(status, key);
    let ids = |key: &str| -> Option<Vec<u32>> { field(key)?.split_whitespace().map(|v| v.parse().ok()).collect() };
    let uids = ids("Uid:")?;
    let gids = ids("Gid:")?;
    Some(Identity {
        uid: *uids.first()?,
        euid: *uids.get(1)?,
        suid: *uids.get(2)?,
        fsuid: *uids.get(3)?,
        gid: *gids.first()?,
        egid: *gids.get(1)?,
        sgid: *gids.get(2)?,
        fsgid: *gids.get(3)?,
        groups: ids("Groups:").unwrap_or_default(),
        cap_eff: field("CapEff:").and_then(|v| u64::from_str_radix(v, 16).ok())?,
        umask: field("Umask:").and_then(|u| u32::from_str_radix(u, 8).ok())?,
        tgid: field("Tgid:")?.parse().ok()?,
    })
}

/// The value of `key` (such as `"Uid:"`) in the text of a `/proc/PID/status` file, trimmed.
pub fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status.lines().find_map(|l| l.strip_prefix(key)).map(str::trim)
}

/// Supervise's own credentials (read once; they do not change) and its permitted capabilities.
pub struct Ours {
    pub identity: Identity,
    pub cap_prm: u64,
    /// One uid and one gid (real, effective, saved, fs) and no capability at all: then a process we launched can
    /// hold no other file credentials than ours (a child gets at most our permitted set, NO_NEW_PRIVS stops exec
    /// from granting more, and setgroups needs CAP_SETGID). Its user namespace still has to be ours.
    pub fixed: bool,
}

/// Our own credentials.
pub fn ours() -> &'static Ours {
    static OURS: OnceLock<Ours> = OnceLock::new();
    OURS.get_or_init(|| {
        let status = std::fs::read("/proc/thread-self/status").unwrap_or_default();
        let status = String::from_utf8_lossy(&status);
        let field = |key: &str| status_field(&status, key);
        let one_id = |key: &str| {
            let ids: Vec<&str> = field(key).unwrap_or("").split_whitespace().collect();
            ids.len() == 4 && ids.iter().all(|id| *id == ids[0])
        };
        let cap_prm = field("CapPrm:").and_then(|v| u64::from_str_radix(v, 16).ok()).unwrap_or(u64::MAX);
        Ours {
            identity: parse(&status).unwrap_or_default(),
            cap_prm,
            fixed: one_id("Uid:") && one_id("Gid:") && cap_prm == 0,
        }
    })
}

thread_local! {
    /// True once this thread keeps its capabilities across uid changes (SECBIT_NO_SETUID_FIXUP).
    static NO_FIXUP: Cell<bool> = const { Cell::new(false) };
    /// True once this thread has its own cwd, root and umask (`unshare(CLONE_FS)`).
    static PRIVATE_FS: Cell<bool> = const { Cell::new(false) };
    /// This thread's umask as last set here (`None`: not known yet), so that an unchanged one costs no syscall.
    static UMASK: Cell<Option<u32>> = const { Cell::new(None) };
}

/// This thread acting as the target, until dropped. Holds nothing of the target: it gives supervise's own
/// credentials back on drop.
#[must_use]
pub struct Assumed {
    switched: bool,
    rooted: bool,
    joined: bool,
    /// This thread's umask before, given back on drop.
    umask: u32,
}

/// Where the target is, when it is not where supervise is: its root and its mount namespace.
#[derive(Debug, Clone, Copy, Default)]
pub struct Place<'a> {
    pub root: Option<BorrowedFd<'a>>,
    pub mnt_ns: Option<BorrowedFd<'a>>,
}

impl Assumed {
    /// Takes `target`'s uids, gids, groups, effective capabilities and umask on this thread, and its `root` when it
    /// is not ours. All the ids, not only
    /// the filesystem ones: some permission checks read the effective uid (sysctl files in `/proc/sys`, for one).
    ///
    /// # Errors
    /// EACCES when the target holds what we cannot take (a capability outside our permitted set, or other ids
    /// without CAP_SETUID, CAP_SETGID and CAP_SETPCAP): acting with ours instead would not be the kernel's answer.
    pub fn take(target: &Identity, place: Place<'_>) -> Result<Assumed, Errno> {
        let root = place.root;
        private_fs()?;
        let umask = set_umask(target.umask);
        let ours = ours();
        let ids = |i: &Identity| (i.uid, i.euid, i.suid, i.fsuid, i.gid, i.egid, i.sgid, i.fsgid);
        let same = ids(target) == ids(&ours.identity)
            && target.groups == ours.identity.groups
            && target.cap_eff == ours.identity.cap_eff;
        if same && root.is_none() && place.mnt_ns.is_none() {
            return Ok(Assumed { switched: false, rooted: false, joined: false, umask });
        }
        let cannot_enter = (root.is_some() && ours.identity.cap_eff & (1 << CAP_SYS_CHROOT) == 0)
            || (place.mnt_ns.is_some() && ours.identity.cap_eff & (1 << CAP_SYS_ADMIN) == 0);
        let cannot_switch = !same
            && (target.cap_eff & !ours.cap_prm != 0
                || !can_switch(ours.identity.cap_eff)
                || keep_caps_on_setuid().is_err());
        if cannot_enter || cannot_switch {
            tracing::warn!(
                uid = target.uid,
                cap_eff = format_args!("{:#x}", target.cap_eff),
                other_root = root.is_some(),
                "the target holds credentials or a root supervise cannot act with: path call refused (EACCES)"
            );
            return Err(Errno::EACCES);
        }
        let mut assumed = Assumed { switched: !same, rooted: false, joined: false, umask };
        if let Some(ns) = place.mnt_ns {
            // First, while we hold CAP_SYS_ADMIN: this thread joins the target's mount namespace.
            join_mnt_ns(ns)?;
            assumed.joined = true;
        }
        if let Some(root) = root {
            // First, while we hold CAP_SYS_CHROOT: this thread's root becomes the target's.
            enter_root(root)?;
            assumed.rooted = true;
        }
        if !same {
            set_ids(target)?;
            set_effective(target.cap_eff)?;
        }
        Ok(assumed)
    }
}

impl Drop for Assumed {
    fn drop(&mut self) {
        set_umask(self.umask);
        let ours = &ours().identity;
        let mut back = Ok(());
        if self.switched {
            // Raise our effective set first (it stays within our permitted set, which SECBIT_NO_SETUID_FIXUP
            // kept), so that the ids and the root can be set back.
            back = set_effective(ours.cap_eff);
        }
        if self.joined {
            back = back.and_then(|()| super::our_mnt_ns().ok_or(Errno::EPERM)).and_then(join_mnt_ns);
        }
        if self.rooted || self.joined {
            back = back.and_then(|()| enter_root(super::root()));
        }
        if self.switched {
            back = back.and_then(|()| set_ids(ours)).and_then(|()| set_effective(ours.cap_eff));
        }
        if back.is_err() {
            // A thread that cannot become supervise again must not serve anything else.
            tracing::error!("cannot restore supervise's credentials or root on this thread: aborting");
            std::process::abort();
        }
    }
}

const CAP_SYS_CHROOT: u32 = 18;
const CAP_SYS_ADMIN: u32 = 21;

/// Moves this thread into the mount namespace `ns` (setns(2) `CLONE_NEWNS`; allowed for a thread with its own
/// `fs_struct`, which [`private_fs`] gave it; its root and cwd become the namespace's root).
fn join_mnt_ns(ns: BorrowedFd<'_>) -> Result<(), Errno> {
    // SAFETY: setns(2) with a namespace fd we hold; it changes only this thread's namespaces and fs_struct.
    if unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&ns), libc::CLONE_NEWNS) } != 0 {
        return Err(last_errno());
    }
    Ok(())
}

/// Makes `root` this thread's root directory (fchdir(2), then chroot(2) of `.`); the thread has its own
/// `fs_struct` ([`private_fs`]), so no other thread of supervise moves.
fn enter_root(root: BorrowedFd<'_>) -> Result<(), Errno> {
    // SAFETY: fchdir(2) and chroot(2) with a valid fd and a NUL-terminated path; they change only this thread's
    // fs_struct, which private_fs unshared.
    unsafe {
        if libc::fchdir(std::os::fd::AsRawFd::as_raw_fd(&root)) != 0 || libc::chroot(c".".as_ptr()) != 0 {
            return Err(last_errno());
        }
    }
    Ok(())
}

/// capability.h: CAP_SETGID is 6, CAP_SETUID is 7, CAP_SETPCAP is 8.
fn can_switch(eff: u64) -> bool {
    let needed = (1u64 << 6) | (1u64 << 7) | (1u64 << 8);
    eff & needed == needed
}

/// Sets SECBIT_NO_SETUID_FIXUP on this thread, once (prctl(2) `PR_SET_SECUREBITS`, needs CAP_SETPCAP): changing
/// uids then leaves the capability sets alone, so the thread can take a non-root uid and come back.
fn keep_caps_on_setuid() -> Result<(), Errno> {
    const SECBIT_NO_SETUID_FIXUP: libc::c_ulong = 1 << 2;
    if NO_FIXUP.get() {
        return Ok(());
    }
    // SAFETY: prctl(2) PR_GET_SECUREBITS takes no pointer and returns the bits of this thread's credentials.
    let bits = unsafe { libc::prctl(libc::PR_GET_SECUREBITS) };
    if bits < 0 {
        return Err(last_errno());
    }
    // SAFETY: prctl(2) PR_SET_SECUREBITS with a bit mask; it changes only this thread's credentials.
    if unsafe { libc::prctl(libc::PR_SET_SECUREBITS, bits as libc::c_ulong | SECBIT_NO_SETUID_FIXUP) } != 0 {
        return Err(last_errno());
    }
    NO_FIXUP.set(true);
    Ok(())
}

/// Gives this thread its own cwd, root and umask (unshare(2) `CLONE_FS`), once.
///
/// # Errors
/// The errno of unshare.
pub fn private_fs() -> Result<(), Errno> {
    if PRIVATE_FS.get() {
        return Ok(());
    }
    // SAFETY: unshare(2) with CLONE_FS copies this thread's fs_struct (root, cwd, umask); no memory is passed.
    if unsafe { libc::unshare(libc::CLONE_FS) } != 0 {
        return Err(last_errno());
    }
    PRIVATE_FS.set(true);
    Ok(())
}

/// Sets this thread's umask and returns the one before.
fn set_umask(mask: u32) -> u32 {
    let mask = mask & 0o777;
    if let Some(current) = UMASK.get().filter(|&m| m == mask) {
        return current;
    }
    // SAFETY: umask(2) always succeeds; after private_fs it changes only this thread's umask.
    let before = unsafe { libc::umask(mask) } as u32;
    UMASK.set(Some(mask));
    before
}

fn set_ids(id: &Identity) -> Result<(), Errno> {
    // SAFETY: the raw setgroups(2), setresgid(2), setfsgid(2), setresuid(2) and setfsuid(2) syscalls change only
    // this thread's credentials; the group list is a valid slice for the length given.
    unsafe {
        if libc::syscall(libc::SYS_setgroups, id.groups.len(), id.groups.as_ptr()) != 0
            || libc::syscall(libc::SYS_setresgid, id.gid, id.egid, id.sgid) != 0
        {
            return Err(last_errno());
        }
        libc::syscall(libc::SYS_setfsgid, id.fsgid);
        if libc::syscall(libc::SYS_setresuid, id.uid, id.euid, id.suid) != 0 {
            return Err(last_errno());
        }
        libc::syscall(libc::SYS_setfsuid, id.fsuid);
        // setfsuid/setfsgid return the previous value and never fail visibly: read back to check.
        if libc::syscall(libc::SYS_setfsuid, u32::MAX) as u32 != id.fsuid
            || libc::syscall(libc::SYS_setfsgid, u32::MAX) as u32 != id.fsgid
        {
            return Err(Errno::EPERM);
        }
    }
    Ok(())
}

/// Sets this thread's effective capabilities, keeping the permitted and inheritable sets (capset(2)).
fn set_effective(eff: u64) -> Result<(), Errno> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let mut header = Header { version: VERSION_3, pid: 0 };
    let mut data = [Data::default(); 2];
    // SAFETY: capget(2) with a version-3 header and room for two data structs, as that version requires.
    if unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) } != 0 {
        return Err(last_errno());
    }
    data[0].effective = eff as u32;
    data[1].effective = (eff >> 32) as u32;
    // SAFETY: capset(2) on this thread (pid 0) with the same header and two data structs.
    if unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) } != 0 {
        return Err(last_errno());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_files_parse_with_capabilities_and_umask() {
        let text = "Name:\tx\nUmask:\t0027\nTgid:\t42\nUid:\t1\t2\t3\t4\nGid:\t5\t6\t7\t8\nGroups:\t9 10 \n\
                    CapEff:\t0000000000000400\n";
        let id = parse(text).unwrap();
        assert_eq!((id.uid, id.euid, id.suid, id.fsuid), (1, 2, 3, 4));
        assert_eq!((id.gid, id.egid, id.sgid, id.fsgid), (5, 6, 7, 8));
        assert_eq!((id.groups, id.cap_eff, id.umask, id.tgid), (vec![9, 10], 0x400, 0o027, 42));
        assert_eq!(parse("Uid:\t1\t1\t1\t1\n"), None, "a file without the other fields is not an identity");
    }

    #[test]
    fn our_own_identity_reads_back() {
        let me = read(std::process::id()).unwrap();
        assert_eq!(me.uid, nix::unistd::getuid().as_raw());
        assert_eq!(me.tgid, std::process::id());
        assert!(me.umask <= 0o777);
    }
}
