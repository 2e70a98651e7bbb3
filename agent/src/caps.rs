//! Capabilities and `NO_NEW_PRIVS`: what the launcher does to its privileges before it loads the filter.
//!
//! The parent reads its own sets ([`CapState::current`]) and plans ([`plan`]) before `fork`; the launcher applies
//! the plan ([`apply`]) with raw `prctl(2)` and `capset(2)` calls on stack data, so it stays async-signal-safe.
//!
//! How a program's capabilities come out of `execve` (capabilities(7), "Transformation of capabilities during
//! execve()"), which is why dropping the bounding, inheritable and ambient sets is enough:
//!
//! - a root program (effective uid 0) gets `P'(permitted) = P(inheritable) | P(bounding) | P'(ambient)`, all of
//!   them effective; with `NO_NEW_PRIVS`, no more than the launcher's permitted set;
//! - another program gets its ambient set (plus file capabilities and set-user-ID gains, which `NO_NEW_PRIVS`
//!   rules out, and the bounding set limits).
//!
//! So the launcher drops from the bounding set (needs CAP_SETPCAP) and lowers the inheritable set (which lowers the
//! ambient set with it), and keeps its permitted and effective sets until `execve` when it loads the filter
//! without `NO_NEW_PRIVS` (that needs CAP_SYS_ADMIN). With `NO_NEW_PRIVS` it lowers them too.

use std::io;

use nix::errno::Errno;

/// `CAP_SETPCAP`: needed to drop from the bounding set.
pub const CAP_SETPCAP: u32 = 8;
/// `CAP_SYS_ADMIN`: needed to load a seccomp filter without `NO_NEW_PRIVS`.
pub const CAP_SYS_ADMIN: u32 = 21;

/// `_LINUX_CAPABILITY_VERSION_3` (linux/capability.h): two 32-bit words per set.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// `struct __user_cap_header_struct` (linux/capability.h).
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

/// `struct __user_cap_data_struct` (linux/capability.h); version 3 takes two of them (low and high words).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The capability sets of the calling thread (bit N = capability number N, as in `/proc/PID/status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CapState {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub bounding: u64,
    pub ambient: u64,
    /// The effective uid is 0: `execve` gives the program its inheritable and bounding sets.
    pub root: bool,
}

impl CapState {
    /// The sets of the calling thread (capabilities are per thread; the launcher is forked from this one).
    ///
    /// # Errors
    /// The errno of `capget(2)`.
    pub fn current() -> io::Result<CapState> {
        let mut header = CapHeader { version: CAPABILITY_VERSION_3, pid: 0 };
        let mut data = [CapData::default(); 2];
        // SAFETY: capget(2) with a version-3 header and room for the two data structs that version writes.
        if unsafe { libc::syscall(libc::SYS_capget, &mut header as *mut CapHeader, data.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let join = |f: fn(&CapData) -> u32| u64::from(f(&data[0])) | (u64::from(f(&data[1])) << 32);
        let (mut bounding, mut ambient) = (0u64, 0u64);
        for cap in 0..64 {
            // SAFETY: prctl(2) PR_CAPBSET_READ reads one bit of this thread's bounding set; EINVAL past the last
            // capability the kernel knows.
            match unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) } {
                1 => bounding |= 1 << cap,
                0 => {}
                _ => break,
            }
            // SAFETY: prctl(2) PR_CAP_AMBIENT_IS_SET reads one bit of the ambient set (EINVAL before Linux 4.3).
            let set = unsafe {
                libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_IS_SET as libc::c_ulong,
                    cap as libc::c_ulong,
                    0,
                    0,
                )
            };
            if set == 1 {
                ambient |= 1 << cap;
            }
        }
        Ok(CapState {
            effective: join(|d| d.effective),
            permitted: join(|d| d.permitted),
            inheritable: join(|d| d.inheritable),
            bounding,
            ambient,
            root: nix::unistd::geteuid().is_root(),
        })
    }

    fn has(set: u64, cap: u32) -> bool {
        set & (1 << cap) != 0
    }
}

/// New effective, permitted and inheritable sets for `capset(2)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapSets {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
}

/// What the launcher does before it loads the filter, in this order: drop from the bounding set, `capset`, set
/// `NO_NEW_PRIVS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Privileges {
    /// Capabilities to drop from the bounding set (`PR_CAPBSET_DROP`).
    pub drop_bounding: u64,
    /// New sets, or `None` to leave them as they are.
    pub sets: Option<CapSets>,
    /// Set `PR_SET_NO_NEW_PRIVS`.
    pub no_new_privs: bool,
}

impl Default for Privileges {
    /// `NO_NEW_PRIVS` and nothing else: what the launcher always did, and what works for every user.
    fn default() -> Self {
        Privileges { drop_bounding: 0, sets: None, no_new_privs: true }
    }
}

/// A plan for one launch: what the launcher does, and the capabilities the program then starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub privileges: Privileges,
    /// The capabilities the program holds after `execve` (for root, its permitted and effective sets; for other
    /// users, its ambient set). Policies resolve their `includes.caps`/`excludes.caps` against these.
    pub program_caps: u64,
}

/// Plans a launch from the launcher's sets (`state`, read in the parent), the capabilities the program may keep
/// (`keep`; `None` leaves them all), and whether `NO_NEW_PRIVS` was asked for.
///
/// `NO_NEW_PRIVS` is also set when the launcher could not do without it: without CAP_SYS_ADMIN the kernel refuses
/// a filter without it, and without CAP_SETPCAP the bounding set cannot shrink, so only `NO_NEW_PRIVS` (with the
/// permitted set lowered) keeps `execve` from granting what `keep` leaves out.
pub fn plan(state: &CapState, keep: Option<u64>, no_new_privs: bool) -> Plan {
    let keep_mask = keep.unwrap_or(u64::MAX);
    let outside = state.bounding & !keep_mask;
    let can_drop = CapState::has(state.effective, CAP_SETPCAP);
    let no_new_privs = no_new_privs || !CapState::has(state.effective, CAP_SYS_ADMIN) || (outside != 0 && !can_drop);
    let drop_bounding = if can_drop { outside } else { 0 };
    let bounding = state.bounding & !drop_bounding;
    let inheritable = state.inheritable & keep_mask;
    let (permitted, effective) = if no_new_privs {
        (state.permitted & keep_mask, state.effective & keep_mask)
    } else {
        (state.permitted, state.effective)
    };
    // capset lowers the ambient set to what stays both permitted and inheritable.
    let ambient = state.ambient & inheritable & permitted;
    let sets = CapSets { effective, permitted, inheritable };
    let unchanged = CapSets { effective: state.effective, permitted: state.permitted, inheritable: state.inheritable };
    let program_caps = if state.root {
        let granted = inheritable | bounding | ambient;
        if no_new_privs {
            granted & permitted
        } else {
            granted
        }
    } else {
        ambient
    };
    Plan {
        privileges: Privileges { drop_bounding, sets: (sets != unchanged).then_some(sets), no_new_privs },
        program_caps,
    }
}

/// The step of [`apply`] that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Bounding,
    Capset,
    NoNewPrivs,
}

impl Step {
    /// What the step does, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Step::Bounding => "cannot drop capabilities from the bounding set",
            Step::Capset => "cannot lower the capability sets",
            Step::NoNewPrivs => "cannot set NO_NEW_PRIVS",
        }
    }

    /// A number for the shared page.
    pub fn code(self) -> u32 {
        match self {
            Step::Bounding => 1,
            Step::Capset => 2,
            Step::NoNewPrivs => 3,
        }
    }

    /// The step a [`Step::code`] stands for.
    pub fn from_code(code: u32) -> Option<Step> {
        match code {
            1 => Some(Step::Bounding),
            2 => Some(Step::Capset),
            3 => Some(Step::NoNewPrivs),
            _ => None,
        }
    }
}

/// Applies `privileges` to the calling thread. Async-signal-safe: raw system calls on stack data, no allocation;
/// the launcher calls it between `fork` and `execve`.
///
/// # Errors
/// The failed step and its errno.
pub fn apply(privileges: &Privileges) -> Result<(), (Step, Errno)> {
    for cap in 0..64u32 {
        if privileges.drop_bounding & (1 << cap) != 0 {
            // SAFETY: prctl(2) PR_CAPBSET_DROP removes one capability from this thread's bounding set; no memory is
            // passed.
            if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0, 0, 0) } != 0 {
                return Err((Step::Bounding, Errno::last()));
            }
        }
    }
    if let Some(sets) = privileges.sets {
        let mut header = CapHeader { version: CAPABILITY_VERSION_3, pid: 0 };
        let word = |set: u64, high: bool| if high { (set >> 32) as u32 } else { set as u32 };
        let data = [false, true].map(|high| CapData {
            effective: word(sets.effective, high),
            permitted: word(sets.permitted, high),
            inheritable: word(sets.inheritable, high),
        });
        // SAFETY: capset(2) with a version-3 header (pid 0: this thread) and the two data structs it reads, both on
        // the stack for the whole call. Only lowering sets, which needs no privilege.
        if unsafe { libc::syscall(libc::SYS_capset, &mut header as *mut CapHeader, data.as_ptr()) } != 0 {
            return Err((Step::Capset, Errno::last()));
        }
    }
    if privileges.no_new_privs {
        // SAFETY: prctl(2) PR_SET_NO_NEW_PRIVS sets a flag of this thread; no memory is passed.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err((Step::NoNewPrivs, Errno::last()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: u64 = (1 << 41) - 1;
    const DOCKER: u64 = 0xa80425fb;

    fn root() -> CapState {
        CapState { effective: ALL, permitted: ALL, inheritable: 0, bounding: ALL, ambient: 0, root: true }
    }

    #[test]
    fn root_keeps_its_filter_privilege_and_drops_the_bounding_set() {
        let plan = plan(&root(), Some(DOCKER), false);
        assert_eq!(plan.program_caps, DOCKER);
        assert!(!plan.privileges.no_new_privs, "root loads the filter with CAP_SYS_ADMIN");
        assert_eq!(plan.privileges.drop_bounding, ALL & !DOCKER);
        assert_eq!(plan.privileges.sets, None, "permitted and effective stay until execve; inheritable is empty");
    }

    #[test]
    fn root_with_no_new_privs_lowers_permitted_too() {
        let plan = plan(&root(), Some(DOCKER), true);
        assert!(plan.privileges.no_new_privs);
        assert_eq!(plan.privileges.sets, Some(CapSets { effective: DOCKER, permitted: DOCKER, inheritable: 0 }));
        assert_eq!(plan.program_caps, DOCKER);
    }

    #[test]
    fn nothing_to_keep_means_nothing_changes() {
        let plan = plan(&root(), None, false);
        assert_eq!(plan.privileges, Privileges { drop_bounding: 0, sets: None, no_new_privs: false });
        assert_eq!(plan.program_caps, ALL);
    }

    #[test]
    fn an_unprivileged_user_always_gets_no_new_privs_and_its_ambient_set() {
        let user = CapState { bounding: ALL, root: false, ..CapState::default() };
        for keep in [None, Some(DOCKER)] {
            let plan = plan(&user, keep, false);
            assert!(plan.privileges.no_new_privs);
            assert_eq!(plan.privileges.drop_bounding, 0, "no CAP_SETPCAP: the bounding set cannot shrink");
            assert_eq!(plan.program_caps, 0);
        }
        let ambient = 1 << 10 | 1 << 21;
        let user = CapState { effective: ambient, permitted: ambient, inheritable: ambient, ambient, ..user };
        let plan = plan(&user, Some(DOCKER), false);
        assert!(plan.privileges.no_new_privs, "CAP_SYS_ADMIN but no CAP_SETPCAP: only NO_NEW_PRIVS bounds execve");
        assert_eq!(plan.program_caps, 1 << 10);
    }

    #[test]
    fn the_sets_of_this_thread_can_be_read() {
        let state = CapState::current().unwrap();
        assert_eq!(state.effective & !state.permitted, 0);
        assert_ne!(state.bounding, 0);
    }
}
