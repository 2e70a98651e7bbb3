//! The program's capabilities as `docker run` sets them: Docker's default set, changed by `--cap-add`,
//! `--cap-drop` and `--privileged` with Docker's meaning (docker/cli `EffectiveCapAddCapDrop`, moby
//! `TweakCapabilities`).
//!
//! - Names: any case, `CAP_` optional, `ALL` for every capability; repeatable, and a comma list is accepted too
//!   (as podman does; Docker itself takes one name per option).
//! - A capability both added and dropped is added; `--cap-add ALL` gives every capability but the dropped ones;
//!   `--cap-drop ALL` keeps only the added ones; `--privileged` gives every capability.

use proto::profile::{capability, CAPABILITIES};

/// The capabilities `docker run` keeps by default (moby `oci/caps/defaults.go`).
pub const DOCKER_DEFAULT: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// One name of `--cap-add`/`--cap-drop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Name {
    All,
    Cap(u8),
}

/// A bitset (bit N = capability N) of `names`.
fn bits<'a>(names: impl IntoIterator<Item = &'a str>) -> u64 {
    names.into_iter().filter_map(capability).fold(0, |set, cap| set | 1 << cap)
}

/// Docker's default set as a bitset.
pub fn docker_default() -> u64 {
    bits(DOCKER_DEFAULT)
}

/// Every capability of the running kernel (`/proc/sys/kernel/cap_last_cap`), or every one this build knows.
pub fn all() -> u64 {
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(CAPABILITIES.len() as u32 - 1)
        .min(63);
    u64::MAX >> (63 - last)
}

fn parse(option: &str, text: &str) -> Result<Name, String> {
    let upper = text.trim().to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(Name::All);
    }
    let name = if upper.starts_with("CAP_") { upper } else { format!("CAP_{upper}") };
    match capability(&name) {
        Some(cap) if all() & (1 << cap) != 0 => Ok(Name::Cap(cap)),
        Some(_) => Err(format!("{option}: capability not supported by this kernel: {name:?}")),
        None => Err(format!("{option}: unknown capability: {name:?}")),
    }
}

/// The program's capability set: Docker's default changed by `adds`, `drops` and `privileged`.
///
/// # Errors
/// An unknown capability name, with the option (Docker's wording: `unknown capability: "CAP_X"`).
pub fn effective(adds: &[String], drops: &[String], privileged: bool) -> Result<u64, String> {
    let adds = adds.iter().map(|a| parse("--cap-add", a)).collect::<Result<Vec<_>, _>>()?;
    let drops = drops.iter().map(|d| parse("--cap-drop", d)).collect::<Result<Vec<_>, _>>()?;
    // `ALL` stands for the whole list it is in (docker/cli drops the other names of that list).
    let set = |names: &[Name]| names.iter().fold(0u64, |s, n| if let Name::Cap(c) = n { s | 1 << c } else { s });
    let (add_all, drop_all) = (adds.contains(&Name::All), drops.contains(&Name::All));
    let added = if add_all { 0 } else { set(&adds) };
    let dropped = if drop_all { 0 } else { set(&drops) };
    Ok(if privileged {
        all()
    } else if add_all {
        // With `--cap-drop ALL` too, the add wins: every capability.
        all() & !dropped
    } else if drop_all {
        added
    } else {
        // A capability both added and dropped is added.
        (docker_default() & !dropped) | added
    })
}

/// The capabilities named explicitly by `--cap-add` (not `ALL`), to tell the user when the program cannot get them.
pub fn named_adds(adds: &[String]) -> u64 {
    adds.iter()
        .filter_map(|a| match parse("--cap-add", a) {
            Ok(Name::Cap(c)) => Some(1u64 << c),
            _ => None,
        })
        .fold(0, |s, c| s | c)
}

/// The names of the capabilities in `set`, for messages.
pub fn names(set: u64) -> Vec<&'static str> {
    CAPABILITIES.iter().enumerate().filter(|(i, _)| set & (1 << i) != 0).map(|(_, n)| *n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(list: &[&str]) -> Vec<String> {
        list.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn dockers_default_set_is_the_one_docker_run_shows() {
        // `docker run --rm alpine grep CapEff /proc/self/status`
        assert_eq!(docker_default(), 0xa80425fb);
        assert_eq!(effective(&[], &[], false).unwrap(), 0xa80425fb);
    }

    #[test]
    fn names_are_spelt_as_docker_takes_them() {
        let boot = 1 << capability("CAP_SYS_BOOT").unwrap();
        for spelling in ["SYS_BOOT", "sys_boot", "CAP_SYS_BOOT", "cap_sys_boot", " SYS_BOOT "] {
            assert_eq!(effective(&s(&[spelling]), &[], false).unwrap(), docker_default() | boot, "{spelling}");
        }
        let chown = 1 << capability("CAP_CHOWN").unwrap();
        assert_eq!(effective(&[], &s(&["chown"]), false).unwrap(), docker_default() & !chown);
        assert_eq!(
            effective(&[], &[], false).unwrap() & !effective(&[], &s(&["CHOWN", "KILL"]), false).unwrap(),
            chown | 1 << capability("CAP_KILL").unwrap()
        );
    }

    #[test]
    fn all_add_wins_and_privileged_follow_docker() {
        let chown = 1 << capability("CAP_CHOWN").unwrap();
        let boot = 1 << capability("CAP_SYS_BOOT").unwrap();
        assert_eq!(effective(&s(&["ALL"]), &[], false).unwrap(), all());
        assert_eq!(effective(&s(&["all"]), &s(&["CHOWN"]), false).unwrap(), all() & !chown);
        assert_eq!(effective(&s(&["ALL"]), &s(&["ALL"]), false).unwrap(), all());
        assert_eq!(effective(&s(&["ALL"]), &s(&["ALL", "CHOWN"]), false).unwrap(), all());
        assert_eq!(effective(&s(&["ALL", "CHOWN"]), &s(&["CHOWN"]), false).unwrap(), all() & !chown);
        assert_eq!(effective(&s(&["SYS_BOOT"]), &s(&["ALL"]), false).unwrap(), boot);
        assert_eq!(effective(&[], &s(&["ALL"]), false).unwrap(), 0);
        assert_eq!(effective(&s(&["CHOWN"]), &s(&["CHOWN"]), false).unwrap(), docker_default(), "the add wins");
        assert_eq!(effective(&[], &s(&["ALL"]), true).unwrap(), all());
    }

    #[test]
    fn an_unknown_name_is_one_clear_error() {
        assert_eq!(
            effective(&s(&["SYS_BOTO"]), &[], false).unwrap_err(),
            r#"--cap-add: unknown capability: "CAP_SYS_BOTO""#
        );
        assert_eq!(effective(&[], &s(&[""]), false).unwrap_err(), r#"--cap-drop: unknown capability: "CAP_""#);
    }

    #[test]
    fn names_list_a_set() {
        assert_eq!(names(docker_default()).len(), 14);
        assert_eq!(names(0b11), ["CAP_CHOWN", "CAP_DAC_OVERRIDE"]);
    }
}
