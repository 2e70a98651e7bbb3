//! The resolved policy: a profile after `includes`/`excludes`, aliases and defaults have been applied for one
//! target. The agent compiles it to BPF, and the supervisor decides notifications from it.

use crate::net::NetMatcher;
use crate::{Arch, Errno};

/// A policy ready to be compiled and enforced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// What happens to a syscall that no rule matches.
    pub default_action: Action,
    /// Architectures the filter accepts, native first. Other arches get the bad-arch action (kill process).
    pub arches: Vec<Arch>,
    /// Rules in profile order, only those whose `includes`/`excludes` matched the target.
    pub rules: Vec<Rule>,
    /// Decision for a notification whose rule has no `supervise` object, or whose rule cannot be identified.
    pub notify_default: Decision,
    /// OCI `flags` (for example `SECCOMP_FILTER_FLAG_LOG`), kept as written.
    pub flags: Vec<String>,
    /// OCI `listenerPath`, kept as written.
    pub listener_path: Option<String>,
    /// OCI `listenerMetadata`, kept as written.
    pub listener_metadata: Option<String>,
}

impl Policy {
    /// A policy with these rules for the native arch and its compat arches, and the documented defaults (notify
    /// default deny with EPERM, no OCI fields). Used by `record` and by tests.
    pub fn new(default_action: Action, rules: Vec<Rule>) -> Policy {
        Policy {
            default_action,
            arches: Arch::native().runnable_on().to_vec(),
            rules,
            notify_default: Decision::Deny(Errno::EPERM),
            flags: vec![],
            listener_path: None,
            listener_metadata: None,
        }
    }

    /// True if a notified syscall may be decided by asking the person at the terminal: a `prompt` decision of a
    /// notify rule, or a `prompt` notify default. The filter of such a policy also denies the program the ioctls
    /// that would let it answer for the person (see the agent's `filter::guard`).
    pub fn prompts(&self) -> bool {
        let is_prompt = |d: &Decision| matches!(d, Decision::Prompt(_));
        is_prompt(&self.notify_default)
            || self.rules.iter().any(|r| r.action == Action::Notify && r.decision.as_ref().is_some_and(is_prompt))
    }
}

impl Rule {
    /// A rule on `names` with `action`, no conditions, no decision, no matchers.
    pub fn new(index: usize, names: &[&str], action: Action) -> Rule {
        let names = names.iter().map(|s| s.to_string()).collect();
        Rule { index, names, action, args: vec![], decision: None, matchers: Matchers::default() }
    }
}

/// One entry of `syscalls[]` that applies to this target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Position of the rule in the profile's `syscalls[]`, for messages (`syscalls[3]`).
    pub index: usize,
    /// Syscall names, as written (`names`, or the old singular `name`).
    pub names: Vec<String>,
    pub action: Action,
    /// Register conditions. As with runc: conditions on distinct argument indexes are ANDed; if one index appears
    /// more than once, each condition is its own rule and they are ORed.
    pub args: Vec<ArgCmp>,
    /// The `supervise` object of a `SCMP_ACT_NOTIFY` rule, if it has one.
    pub decision: Option<Decision>,
    /// The `supervise` matchers (paths, executables, uids, gids, addresses); empty matchers match everything.
    pub matchers: Matchers,
}

/// Conditions of a `supervise` object beyond the registers. Each non-empty list must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matchers {
    /// Globs (`*` within a path component, `**` across components); every path argument must match one.
    pub paths: Vec<String>,
    /// Globs on the target's executable path.
    pub exe: Vec<String>,
    /// The target's real uid is one of these.
    pub uids: Vec<u32>,
    /// The target's real gid is one of these.
    pub gids: Vec<u32>,
    /// `addresses`, `families`, `socketTypes`: on the socket address of `connect`, `bind`, `sendto`, `sendmsg`,
    /// `sendmmsg` and the peer of `accept`/`accept4` (see [`crate::net`]).
    pub net: NetMatcher,
}

impl Matchers {
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
            && self.exe.is_empty()
            && self.uids.is_empty()
            && self.gids.is_empty()
            && self.net.is_empty()
    }
}

impl Rule {
    /// The argument conditions as libseccomp rules: one AND-group, or one group per condition when an argument
    /// index repeats (OR), as runc does.
    pub fn condition_groups(&self) -> Vec<Vec<ArgCmp>> {
        let mut seen = [false; 6];
        let repeats = self.args.iter().any(|a| {
            let slot = &mut seen[usize::from(a.index).min(5)];
            std::mem::replace(slot, true)
        });
        if repeats {
            self.args.iter().map(|a| vec![*a]).collect()
        } else {
            vec![self.args.clone()]
        }
    }

    /// True if `args` (the six syscall argument registers) satisfy this rule's conditions, with the same
    /// semantics as the BPF that [`Rule::condition_groups`] produces.
    pub fn matches_args(&self, args: &[u64; 6]) -> bool {
        // The same semantics as `condition_groups`, without allocating (this runs for every notification).
        let repeats = self.args.iter().enumerate().any(|(i, a)| self.args[..i].iter().any(|b| b.index == a.index));
        if repeats {
            self.args.iter().any(|c| c.matches(args))
        } else {
            self.args.iter().all(|c| c.matches(args))
        }
    }
}

/// A kernel action (`SCMP_ACT_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Allow,
    Errno(Errno),
    KillThread,
    KillProcess,
    Trap,
    /// `SCMP_ACT_TRACE` with the value passed to the tracer (`errnoRet`, default 0).
    Trace(u16),
    Log,
    Notify,
}

impl Action {
    /// The profile spelling, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Action::Allow => "SCMP_ACT_ALLOW",
            Action::Errno(_) => "SCMP_ACT_ERRNO",
            Action::KillThread => "SCMP_ACT_KILL_THREAD",
            Action::KillProcess => "SCMP_ACT_KILL_PROCESS",
            Action::Trap => "SCMP_ACT_TRAP",
            Action::Trace(_) => "SCMP_ACT_TRACE",
            Action::Log => "SCMP_ACT_LOG",
            Action::Notify => "SCMP_ACT_NOTIFY",
        }
    }
}

/// One register condition (`args[]` entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArgCmp {
    /// Argument index, 0..=5.
    pub index: u8,
    pub op: CmpOp,
    pub value: u64,
    /// Used by `MaskedEq` only: `(arg & value) == value_two`.
    pub value_two: u64,
}

impl ArgCmp {
    /// Evaluates the condition as the BPF does (unsigned 64-bit comparison).
    pub fn matches(&self, args: &[u64; 6]) -> bool {
        let a = args[usize::from(self.index).min(5)];
        match self.op {
            CmpOp::Ne => a != self.value,
            CmpOp::Lt => a < self.value,
            CmpOp::Le => a <= self.value,
            CmpOp::Eq => a == self.value,
            CmpOp::Ge => a >= self.value,
            CmpOp::Gt => a > self.value,
            CmpOp::MaskedEq => a & self.value == self.value_two,
        }
    }
}

/// `SCMP_CMP_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Ne,
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
    MaskedEq,
}

/// What the supervisor does with a notified syscall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The syscall runs (CONTINUE).
    Allow,
    /// The syscall fails with this errno.
    Deny(Errno),
    /// The supervisor performs or fakes the syscall.
    Emulate(Emulator),
    /// Ask the person at the terminal.
    Prompt(PromptSpec),
}

/// Emulation handlers, named by the `emulate` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Emulator {
    /// `"clock-set"`: clock-setting syscalls succeed without changing any clock.
    ClockSet,
}

impl Emulator {
    pub fn name(self) -> &'static str {
        match self {
            Emulator::ClockSet => "clock-set",
        }
    }
}

/// Parameters of a `prompt` decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PromptSpec {
    /// Seconds to wait for an answer (default 30).
    pub timeout_secs: u32,
    /// What applies after the timeout, or at once without a terminal (default deny).
    pub on_timeout: OnTimeout,
    /// Errno for a denial (default EPERM).
    pub errno: Errno,
}

/// `onTimeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnTimeout {
    Allow,
    Deny,
}
