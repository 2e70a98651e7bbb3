//! The name tables a profile uses: `SCMP_ACT_*` actions, `SCMP_CMP_*` operators, Linux capability names, OCI filter
//! flags, and the architecture names that libseccomp or Docker know but supervise cannot run (they are accepted and
//! ignored, since a filter can only cover arches the native kernel runs).

use crate::{Action, Arch, CmpOp, Errno};

/// Linux capabilities by number (`include/uapi/linux/capability.h`), `CAP_CHOWN` = 0 … `CAP_CHECKPOINT_RESTORE` = 40.
pub const CAPABILITIES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The number of a capability name (`"CAP_SYS_ADMIN"` → 21). Exact spelling, as Docker compares names.
pub fn capability(name: &str) -> Option<u8> {
    CAPABILITIES.iter().position(|c| *c == name).and_then(|n| u8::try_from(n).ok())
}

/// OCI `flags` that runc accepts.
pub const FILTER_FLAGS: [&str; 4] = [
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];

/// Every action name, as runc spells them.
pub const ACTIONS: [&str; 9] = [
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
];

/// The action kinds, before their data (errno or trace value) is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ActionKind {
    Plain(Action),
    Errno,
    Trace,
}

/// Parses an action name (exact spelling, as runc does). `SCMP_ACT_KILL` is kill-thread, as in libseccomp.
pub(crate) fn action_kind(name: &str) -> Option<ActionKind> {
    Some(match name {
        "SCMP_ACT_ALLOW" => ActionKind::Plain(Action::Allow),
        "SCMP_ACT_ERRNO" => ActionKind::Errno,
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => ActionKind::Plain(Action::KillThread),
        "SCMP_ACT_KILL_PROCESS" => ActionKind::Plain(Action::KillProcess),
        "SCMP_ACT_TRAP" => ActionKind::Plain(Action::Trap),
        "SCMP_ACT_TRACE" => ActionKind::Trace,
        "SCMP_ACT_LOG" => ActionKind::Plain(Action::Log),
        "SCMP_ACT_NOTIFY" => ActionKind::Plain(Action::Notify),
        _ => return None,
    })
}

/// The profile spelling of an action and the `errnoRet` it needs, for writing profiles.
pub(crate) fn action_spelling(action: Action) -> (&'static str, Option<u16>) {
    match action {
        Action::Errno(e) => ("SCMP_ACT_ERRNO", Some(e.get())),
        Action::Trace(data) => ("SCMP_ACT_TRACE", Some(data)),
        other => (other.name(), None),
    }
}

/// Every operator name with its [`CmpOp`].
pub const OPERATORS: [(&str, CmpOp); 7] = [
    ("SCMP_CMP_NE", CmpOp::Ne),
    ("SCMP_CMP_LT", CmpOp::Lt),
    ("SCMP_CMP_LE", CmpOp::Le),
    ("SCMP_CMP_EQ", CmpOp::Eq),
    ("SCMP_CMP_GE", CmpOp::Ge),
    ("SCMP_CMP_GT", CmpOp::Gt),
    ("SCMP_CMP_MASKED_EQ", CmpOp::MaskedEq),
];

impl CmpOp {
    /// Parses an `SCMP_CMP_*` name (exact spelling, as runc does).
    pub fn parse(name: &str) -> Option<CmpOp> {
        OPERATORS.iter().find(|(n, _)| *n == name).map(|(_, op)| *op)
    }

    /// The `SCMP_CMP_*` name.
    pub fn name(self) -> &'static str {
        OPERATORS.iter().find(|(_, op)| *op == self).map_or("SCMP_CMP_EQ", |(n, _)| n)
    }
}

/// What an architecture name in a profile means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArchName {
    /// An arch supervise knows.
    Known(Arch),
    /// `SCMP_ARCH_NATIVE`.
    Native,
    /// An arch libseccomp or Docker knows that supervise has no tables for; it can never be native here.
    Foreign,
}

/// Names of arches that are valid in profiles but that supervise never runs on (moby's default lists
/// `SCMP_ARCH_LOONGARCH64`; moby's own arch table spells mipsel64n32 `mips3l64n32`).
const FOREIGN_ARCHES: [&str; 10] = [
    "SCMP_ARCH_LOONGARCH64",
    "loongarch64",
    "loong64",
    "SCMP_ARCH_M68K",
    "m68k",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
    "sh",
    "sheb",
    "mips3l64n32",
];

/// Classifies an architecture name; `None` if it is unknown.
pub(crate) fn arch_name(name: &str) -> Option<ArchName> {
    if name.eq_ignore_ascii_case("SCMP_ARCH_NATIVE") {
        return Some(ArchName::Native);
    }
    if let Some(arch) = Arch::parse(name) {
        return Some(ArchName::Known(arch));
    }
    FOREIGN_ARCHES.iter().any(|f| f.eq_ignore_ascii_case(name)).then_some(ArchName::Foreign)
}

impl ArchName {
    /// The arch this name stands for on a machine whose native arch is `native`.
    pub(crate) fn on(self, native: Arch) -> Option<Arch> {
        match self {
            ArchName::Known(a) => Some(a),
            ArchName::Native => Some(native),
            ArchName::Foreign => None,
        }
    }
}

/// `" (did you mean \"X\"?)"` when `name` matches a known name but for ASCII case, else `""`.
pub(crate) fn case_hint<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    known
        .into_iter()
        .find(|k| k.eq_ignore_ascii_case(name))
        .map_or(String::new(), |k| format!(" (did you mean {k:?}?)"))
}

/// The errno for an `errnoRet` number under `SCMP_ACT_ERRNO`. The kernel caps the filter's 16-bit data at
/// `MAX_ERRNO` (4095), so Docker and runc accept larger values (moby's `example.json` has 12345) and they mean 4095.
pub(crate) fn filter_errno(n: u64) -> Result<Errno, String> {
    match n {
        0 => Err("0 is not an errno (1..=4095); to let the syscall run use SCMP_ACT_ALLOW".into()),
        1..=4095 => Errno::new(n as i64).ok_or_else(|| format!("{n} is not an errno")),
        4096..=0xffff => Ok(Errno::new(i64::from(Errno::MAX)).unwrap_or(Errno::EPERM)),
        _ => Err(format!("{n} is out of range (1..=4095)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_numbers_follow_the_kernel() {
        for (name, n) in [("CAP_CHOWN", 0), ("CAP_SYS_ADMIN", 21), ("CAP_SYSLOG", 34), ("CAP_CHECKPOINT_RESTORE", 40)] {
            assert_eq!(capability(name), Some(n), "{name}");
        }
        for bad in ["cap_sys_admin", "SYS_ADMIN", "CAP_FOO", ""] {
            assert_eq!(capability(bad), None, "{bad}");
        }
    }

    #[test]
    fn actions_and_operators_parse_exactly() {
        assert_eq!(action_kind("SCMP_ACT_KILL"), Some(ActionKind::Plain(Action::KillThread)));
        assert_eq!(action_kind("SCMP_ACT_ERRNO"), Some(ActionKind::Errno));
        assert_eq!(action_kind("scmp_act_allow"), None);
        for name in ACTIONS {
            assert!(action_kind(name).is_some(), "{name}");
        }
        for (name, op) in OPERATORS {
            assert_eq!(CmpOp::parse(name), Some(op));
            assert_eq!(op.name(), name);
        }
        assert_eq!(CmpOp::parse("SCMP_CMP_FOO"), None);
    }

    #[test]
    fn arch_names_are_known_native_or_foreign() {
        assert_eq!(arch_name("amd64"), Some(ArchName::Known(Arch::X86_64)));
        assert_eq!(arch_name("SCMP_ARCH_NATIVE"), Some(ArchName::Native));
        assert_eq!(arch_name("SCMP_ARCH_LOONGARCH64"), Some(ArchName::Foreign));
        assert_eq!(arch_name("z80"), None);
        assert_eq!(case_hint("scmp_act_allow", ACTIONS), " (did you mean \"SCMP_ACT_ALLOW\"?)");
        assert_eq!(case_hint("SCMP_ACT_FOO", ACTIONS), "");
    }

    #[test]
    fn filter_errnos_are_capped_as_the_kernel_does() {
        assert_eq!(filter_errno(1), Ok(Errno::EPERM));
        assert_eq!(filter_errno(12345).map(Errno::get), Ok(4095));
        assert!(filter_errno(0).is_err());
        assert!(filter_errno(65536).is_err());
    }
}
