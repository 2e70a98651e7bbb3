//! The pure policy evaluation: `decide(event, facts) -> Verdict`, table-tested without a kernel.
//!
//! A notification reaches user space because some `SCMP_ACT_NOTIFY` rule matched it in BPF (or the default action
//! is `SCMP_ACT_NOTIFY`). [`Decider`] finds the rule that decides it: the first notify rule, in profile order, that
//! names the syscall on this arch, whose register conditions hold, and whose `supervise` matchers (paths,
//! executables, uids, gids) all match the [`Facts`]. Its `supervise` object is the decision; without one, or when no
//! rule matches, the policy's notify default applies (deny with EPERM unless the profile says otherwise).
//!
//! Facts beyond the registers cost memory reads, so the caller first asks [`Decider::lookup`] (the syscall's name
//! and the facts its rules need) and gathers only those. The verdict becomes a [`Plan`]: what the notification
//! comes to. A verdict that rested on a path says so ([`Verdict::path_checked`]): such an allow is performed by
//! supervise on what was decided on, never carried out with CONTINUE, because the target can rewrite the path
//! after the check ([`plan`] says which; `check` and `serve` ask it too).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use proto::{Action, Arch, Decision, Emulator, Errno, Policy, PromptSpec, Rule};

use crate::core::path::is_emulated;
pub use crate::kernel::exe::Exe;
use crate::kernel::exe::{canonical_glob, CanonicalGlob};
use crate::kernel::syscalls::{self, SyscallMap};

/// What the kernel told us about one notified syscall, as far as deciding needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub arch: Arch,
    pub nr: i32,
    pub args: [u64; 6],
}

/// Facts about the target gathered for matchers; `None` when not gathered or not available.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The running executable, identified as a file ([`crate::kernel::exe`]); `None` also when it cannot be.
    pub exe: Option<Exe>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// The syscall's path arguments as bytes, absolute and resolved as the kernel resolves them for the target.
    pub paths: Option<Vec<Vec<u8>>>,
    /// The socket address of `connect`/`bind`, decoded as the kernel reads it; a unix path absolute and resolved.
    pub address: Option<proto::net::Address>,
    /// The type (`SO_TYPE`) of the socket the call is made on.
    pub socket_type: Option<proto::net::SockType>,
    /// The destinations after `address` (the other messages of a `sendmmsg`): like several paths, a deny rule
    /// applies if any of them matches, another rule only if all do.
    pub more_addresses: Vec<proto::net::Address>,
}

/// Which facts the rules for an event look at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    pub exe: bool,
    pub creds: bool,
    pub paths: bool,
    /// The socket's address and type (`addresses`, `families`, `socketTypes`).
    pub net: bool,
}

impl Needs {
    pub fn any(self) -> bool {
        self.exe || self.creds || self.paths || self.net
    }
}

/// What [`Decider::lookup`] tells before anything is gathered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// The syscall's name on the event's arch (`syscall_N` when unknown).
    pub syscall: Arc<str>,
    /// The facts its rules look at.
    pub needs: Needs,
}

/// The outcome of [`Decider::decide`]: the decision and the rule it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict<'a> {
    pub decision: &'a Decision,
    /// Index in the profile's `syscalls[]`, or `None` when the default applied.
    pub rule: Option<usize>,
    /// True if a path matcher took part in the decision (matched or not).
    pub path_checked: bool,
    /// True if an address matcher took part in the decision (matched or not): an allow is then performed by
    /// supervise with the address it decided on ([`Plan::PerformNet`]), never CONTINUE.
    pub net_checked: bool,
}

impl Verdict<'_> {
    /// What the notification comes to.
    pub fn plan(&self, syscall: &str) -> Plan {
        match self.decision {
            Decision::Allow if self.net_checked => Plan::PerformNet,
            Decision::Prompt(spec) if self.net_checked => Plan::Prompt { spec: *spec, performs: true },
            _ => plan(self.decision, syscall, self.path_checked),
        }
    }
}

/// What one notification comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// The kernel performs the call (CONTINUE).
    Continue,
    /// The call fails with this errno.
    Deny(Errno),
    /// The clock-set emulation answers.
    Clock,
    /// supervise performs the path call as the target, on what was resolved and decided on.
    PerformPath,
    /// supervise performs `connect` or `bind` on its copy of the target's socket, with the address decided on.
    PerformNet,
    /// The person at the terminal decides; `performs`: an allow is performed as in [`Plan::PerformPath`] (the
    /// path is resolved before the question, and the question shows it), or as in [`Plan::PerformNet`] when an
    /// address matcher took part; else it is CONTINUE.
    Prompt { spec: PromptSpec, performs: bool },
}

/// The plan for `decision` on `syscall`. An allow that rested on a path is performed by supervise when the syscall
/// is emulated (never CONTINUE, which would read the path again); on other syscalls it is CONTINUE, and advisory.
pub fn plan(decision: &Decision, syscall: &str, path_checked: bool) -> Plan {
    match decision {
        Decision::Allow if path_checked && is_emulated(syscall) => Plan::PerformPath,
        Decision::Allow => Plan::Continue,
        Decision::Deny(errno) => Plan::Deny(*errno),
        Decision::Emulate(Emulator::ClockSet) => Plan::Clock,
        Decision::Prompt(spec) => Plan::Prompt { spec: *spec, performs: is_emulated(syscall) },
    }
}

/// A notify rule with its globs compiled.
#[derive(Debug)]
struct CompiledRule {
    rule: Rule,
    paths: Option<GlobSet>,
    exe: Option<ExeGlobs>,
    /// For a call with several paths (rename, link): a deny rule applies if any path matches, any other rule only
    /// if all do. So a denied place can be neither the source nor the destination.
    any_path: bool,
}

impl CompiledRule {
    fn new(rule: Rule, default: &Decision) -> CompiledRule {
        let paths = globset(&rule.matchers.paths);
        let exe = ExeGlobs::new(&rule.matchers.exe);
        let any_path = matches!(rule.decision.as_ref().unwrap_or(default), Decision::Deny(_));
        CompiledRule { rule, paths, exe, any_path }
    }

    fn matches(&self, facts: &Facts) -> bool {
        let m = &self.rule.matchers;
        let exe_ok = self.exe.as_ref().is_none_or(|g| facts.exe.as_ref().is_some_and(|e| g.is_match(e)));
        let uid_ok = m.uids.is_empty() || facts.uid.is_some_and(|u| m.uids.contains(&u));
        let gid_ok = m.gids.is_empty() || facts.gid.is_some_and(|g| m.gids.contains(&g));
        let net_ok = m.net.is_empty()
            || matches!((&facts.address, facts.socket_type), (Some(a), Some(t)) if {
                let mut all = std::iter::once(a).chain(&facts.more_addresses);
                if self.any_path { all.any(|a| m.net.matches(a, t)) } else { all.all(|a| m.net.matches(a, t)) }
            });
        let paths_ok = self.paths.as_ref().is_none_or(|g| {
            let matches = |p: &Vec<u8>| g.is_match(Path::new(OsStr::from_bytes(p)));
            facts.paths.as_ref().is_some_and(|paths| {
                !paths.is_empty() && if self.any_path { paths.iter().any(matches) } else { paths.iter().all(matches) }
            })
        });
        exe_ok && uid_ok && gid_ok && paths_ok && net_ok
    }
}

/// A rule's `exe` globs, compiled twice: canonicalized in supervise's view (`/bin/x` as `/usr/bin/x`), for an
/// executable identified there, and as written, for one identified in a container's own root (`serve`), whose
/// layout supervise's view does not tell.
#[derive(Debug)]
struct ExeGlobs {
    canonical: GlobSet,
    written: GlobSet,
}

impl ExeGlobs {
    fn new(globs: &[String]) -> Option<ExeGlobs> {
        let canonical: Vec<String> = globs.iter().map(|g| canonical_glob(g)).map(|c: CanonicalGlob| c.glob).collect();
        Some(ExeGlobs { canonical: globset(&canonical)?, written: globset(globs)? })
    }

    fn is_match(&self, exe: &Exe) -> bool {
        let globs = if exe.own_root { &self.written } else { &self.canonical };
        globs.is_match(&exe.path)
    }
}

/// Globs as the policy format documents them: `*` stays within a path component, `**` crosses them.
fn globset(globs: &[String]) -> Option<GlobSet> {
    if globs.is_empty() {
        return None;
    }
    let mut builder = GlobSetBuilder::new();
    for glob in globs {
        // Validated when the policy was loaded; a glob that still fails matches nothing.
        if let Ok(g) = GlobBuilder::new(glob).literal_separator(true).build() {
            builder.add(g);
        }
    }
    builder.build().ok()
}

/// The notify rules of a policy, indexed by (arch, nr).
#[derive(Debug)]
pub struct Decider {
    rules: Vec<CompiledRule>,
    by_syscall: SyscallMap<Vec<usize>>,
    default: Decision,
}

impl Decider {
    /// Indexes the policy's `SCMP_ACT_NOTIFY` rules for every arch of the policy.
    pub fn new(policy: &Policy) -> Decider {
        let rules: Vec<CompiledRule> = policy
            .rules
            .iter()
            .filter(|r| r.action == Action::Notify)
            .map(|r| CompiledRule::new(r.clone(), &policy.notify_default))
            .collect();
        let mut by_syscall = SyscallMap::default();
        for (i, c) in rules.iter().enumerate() {
            for name in &c.rule.names {
                by_syscall.insert_name(name, &policy.arches, vec![i], |list, new| list.extend_from_slice(new));
            }
        }
        Decider { rules, by_syscall, default: policy.notify_default.clone() }
    }

    /// True if some decision may ask the person at the terminal.
    pub fn prompts(&self) -> bool {
        let is_prompt = |d: &Decision| matches!(d, Decision::Prompt(_));
        is_prompt(&self.default) || self.rules.iter().any(|c| c.rule.decision.as_ref().is_some_and(is_prompt))
    }

    fn candidates<'a, 'e>(&'a self, event: &'e Event) -> impl Iterator<Item = &'a CompiledRule> + use<'a, 'e> {
        let list = self.by_syscall.get(event.arch, event.nr).map_or(&[][..], |(_, list)| list.as_slice());
        list.iter().map(|&i| &self.rules[i]).filter(|c| c.rule.matches_args(&event.args))
    }

    /// The syscall's name and the facts that the rules for `event` look at.
    pub fn lookup(&self, event: &Event) -> Lookup {
        let syscall = match self.by_syscall.get(event.arch, event.nr) {
            Some((name, _)) => name.clone(),
            None => syscalls::name_of(event.arch, event.nr).unwrap_or_else(|| format!("syscall_{}", event.nr)).into(),
        };
        Lookup { syscall, needs: self.needs(event) }
    }

    /// The facts that the rules for `event` look at.
    pub fn needs(&self, event: &Event) -> Needs {
        self.candidates(event).fold(Needs::default(), |n, c| {
            let m = &c.rule.matchers;
            Needs {
                exe: n.exe || !m.exe.is_empty(),
                creds: n.creds || !m.uids.is_empty() || !m.gids.is_empty(),
                paths: n.paths || !m.paths.is_empty(),
                net: n.net || !m.net.is_empty(),
            }
        })
    }

    /// Decides one event from its registers and the gathered facts. Pure: no I/O.
    pub fn decide(&self, event: &Event, facts: &Facts) -> Verdict<'_> {
        let (mut path_checked, mut net_checked) = (false, false);
        for c in self.candidates(event) {
            path_checked |= c.paths.is_some();
            net_checked |= !c.rule.matchers.net.is_empty();
            if c.matches(facts) {
                let decision = c.rule.decision.as_ref().unwrap_or(&self.default);
                return Verdict { decision, rule: Some(c.rule.index), path_checked, net_checked };
            }
        }
        Verdict { decision: &self.default, rule: None, path_checked, net_checked }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::{ArgCmp, CmpOp, Emulator, Errno, Matchers};

    fn rule(index: usize, names: &[&str], action: Action, args: Vec<ArgCmp>, decision: Option<Decision>) -> Rule {
        Rule { args, decision, ..Rule::new(index, names, action) }
    }

    fn with(mut rule: Rule, matchers: Matchers) -> Rule {
        rule.matchers = matchers;
        rule
    }

    fn policy(rules: Vec<Rule>) -> Policy {
        Policy::new(Action::Allow, rules)
    }

    fn event(arch: Arch, nr: i32, args: [u64; 6]) -> Event {
        Event { arch, nr, args }
    }

    #[test]
    fn decisions_follow_the_first_matching_notify_rule() {
        let eacces = Errno::new(13).unwrap();
        let p = policy(vec![
            rule(0, &["mkdir"], Action::Errno(Errno::EPERM), vec![], None),
            rule(1, &["mkdirat"], Action::Notify, vec![], Some(Decision::Deny(eacces))),
            rule(
                2,
                &["clock_settime", "settimeofday"],
                Action::Notify,
                vec![],
                Some(Decision::Emulate(Emulator::ClockSet)),
            ),
            rule(
                3,
                &["getppid"],
                Action::Notify,
                vec![ArgCmp { index: 0, op: CmpOp::Eq, value: 1, value_two: 0 }],
                Some(Decision::Allow),
            ),
            rule(4, &["getppid"], Action::Notify, vec![], Some(Decision::Deny(eacces))),
            rule(5, &["rmdir"], Action::Notify, vec![], None),
        ]);
        let d = Decider::new(&p);
        let table: &[(Event, Decision, Option<usize>)] = &[
            (event(Arch::X86_64, 258, [0; 6]), Decision::Deny(eacces), Some(1)),
            (event(Arch::X86_64, 227, [0; 6]), Decision::Emulate(Emulator::ClockSet), Some(2)),
            (event(Arch::X86, 264, [0; 6]), Decision::Emulate(Emulator::ClockSet), Some(2)),
            (event(Arch::X86_64, 164, [0; 6]), Decision::Emulate(Emulator::ClockSet), Some(2)),
            (event(Arch::X86_64, 110, [1, 0, 0, 0, 0, 0]), Decision::Allow, Some(3)),
            (event(Arch::X86_64, 110, [2, 0, 0, 0, 0, 0]), Decision::Deny(eacces), Some(4)),
            (event(Arch::X86_64, 84, [0; 6]), Decision::Deny(Errno::EPERM), Some(5)),
            // mkdir is decided in BPF; if it ever arrived, the default applies.
            (event(Arch::X86_64, 83, [0; 6]), Decision::Deny(Errno::EPERM), None),
            (event(Arch::X86_64, 9999, [0; 6]), Decision::Deny(Errno::EPERM), None),
        ];
        for (ev, want, rule) in table {
            let v = d.decide(ev, &Facts::default());
            assert_eq!((v.decision, v.rule), (want, *rule), "{ev:?}");
        }
    }

    #[test]
    fn the_profile_default_applies_to_rules_without_a_decision() {
        let mut p = policy(vec![rule(0, &["rmdir"], Action::Notify, vec![], None)]);
        p.notify_default = Decision::Allow;
        assert_eq!(
            Decider::new(&p).decide(&event(Arch::X86_64, 84, [0; 6]), &Facts::default()).decision,
            &Decision::Allow
        );
    }

    #[test]
    fn matchers_pick_the_first_rule_whose_facts_match() {
        let eacces = Errno::new(13).unwrap();
        let paths =
            |globs: &[&str]| Matchers { paths: globs.iter().map(|s| s.to_string()).collect(), ..Matchers::default() };
        let p = policy(vec![
            with(rule(0, &["openat"], Action::Notify, vec![], Some(Decision::Allow)), paths(&["/tmp/ok/**"])),
            with(rule(1, &["openat"], Action::Notify, vec![], Some(Decision::Deny(eacces))), paths(&["/etc/**"])),
            with(
                rule(2, &["mkdir"], Action::Notify, vec![], Some(Decision::Allow)),
                Matchers { exe: vec!["/usr/bin/*".into()], uids: vec![0], ..Matchers::default() },
            ),
        ]);
        let d = Decider::new(&p);
        let openat = event(Arch::X86_64, 257, [0; 6]);
        assert_eq!(d.needs(&openat), Needs { paths: true, ..Needs::default() });
        let facts = |p: &str| Facts { paths: Some(vec![p.as_bytes().to_vec()]), ..Facts::default() };
        let table: &[(&str, &Decision, Option<usize>)] = &[
            ("/tmp/ok/a/b", &Decision::Allow, Some(0)),
            ("/tmp/ok", &Decision::Deny(Errno::EPERM), None),
            ("/etc/passwd", &Decision::Deny(eacces), Some(1)),
            ("/home/x", &Decision::Deny(Errno::EPERM), None),
        ];
        for (path, want, rule) in table {
            let v = d.decide(&openat, &facts(path));
            assert_eq!((v.decision, v.rule, v.path_checked), (*want, *rule, true), "{path}");
        }
        // Without the facts, a rule with matchers never matches.
        assert_eq!(d.decide(&openat, &Facts::default()).rule, None);
        let mkdir = event(Arch::X86_64, 83, [0; 6]);
        assert_eq!(d.needs(&mkdir), Needs { exe: true, creds: true, ..Needs::default() });
        let who = |exe: &str, uid| Facts {
            exe: Some(Exe { path: exe.into(), own_root: false }),
            uid: Some(uid),
            ..Facts::default()
        };
        assert_eq!(d.decide(&mkdir, &who("/usr/bin/mkdir", 0)).rule, Some(2));
        assert_eq!(d.decide(&mkdir, &who("/usr/bin/mkdir", 1000)).rule, None);
        assert_eq!(d.decide(&mkdir, &who("/usr/local/bin/x/mkdir", 0)).rule, None, "* stays within a component");
        assert!(!d.decide(&mkdir, &who("/usr/bin/mkdir", 0)).path_checked);
    }

    #[test]
    fn exe_globs_match_canonical_paths_and_a_containers_as_written() {
        let dir = std::env::temp_dir().join(format!("supervise-decide-exe-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("real")).unwrap();
        std::fs::write(dir.join("real/tool"), "").unwrap();
        std::os::unix::fs::symlink("real", dir.join("link")).unwrap();
        let real = std::fs::canonicalize(&dir).unwrap().display().to_string();
        let link = format!("{real}/link");
        let exe = |globs: &[String]| Matchers { exe: globs.to_vec(), ..Matchers::default() };
        let p = policy(vec![
            with(rule(0, &["mkdir"], Action::Notify, vec![], Some(Decision::Allow)), exe(&[format!("{link}/tool")])),
            with(rule(1, &["mkdir"], Action::Notify, vec![], Some(Decision::Allow)), exe(&[format!("{link}/x*")])),
        ]);
        let d = Decider::new(&p);
        let mkdir = event(Arch::X86_64, 83, [0; 6]);
        let run = |path: String, own_root| Facts { exe: Some(Exe { path, own_root }), ..Facts::default() };
        let table: &[(Facts, Option<usize>)] = &[
            // Written through a symlink, matched as the canonical path that /proc/PID/exe shows.
            (run(format!("{real}/real/tool"), false), Some(0)),
            (run(format!("{real}/real/xyz"), false), Some(1)),
            // A canonical path never goes through a symlink: this name is no identified executable here.
            (run(format!("{link}/tool"), false), None),
            (run(format!("{real}/real/other"), false), None),
            // In a container's own root the glob is matched as written.
            (run(format!("{link}/tool"), true), Some(0)),
            (run(format!("{real}/real/tool"), true), None),
            // Unidentified (a bind mount elsewhere, a replaced file): no exe glob matches.
            (Facts::default(), None),
        ];
        for (facts, want) in table {
            assert_eq!(d.decide(&mkdir, facts).rule, *want, "{facts:?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn two_paths_deny_if_any_matches_and_allow_only_if_all_do() {
        let paths =
            |globs: &[&str]| Matchers { paths: globs.iter().map(|s| s.to_string()).collect(), ..Matchers::default() };
        let p = policy(vec![
            with(
                rule(0, &["rename"], Action::Notify, vec![], Some(Decision::Deny(Errno::EPERM))),
                paths(&["/prot/**"]),
            ),
            with(rule(1, &["rename"], Action::Notify, vec![], Some(Decision::Allow)), paths(&["/ok/**"])),
            with(rule(2, &["link"], Action::Notify, vec![], None), paths(&["/prot/**"])),
        ]);
        let d = Decider::new(&p);
        let two = |a: &str, b: &str| Facts { paths: Some(vec![a.into(), b.into()]), ..Facts::default() };
        let rename = event(Arch::X86_64, 82, [0; 6]);
        assert_eq!(d.decide(&rename, &two("/ok/new", "/prot/secret")).rule, Some(0), "into a denied place");
        assert_eq!(d.decide(&rename, &two("/prot/secret", "/ok/x")).rule, Some(0), "out of a denied place");
        assert_eq!(d.decide(&rename, &two("/ok/a", "/ok/b")).rule, Some(1));
        assert_eq!(d.decide(&rename, &two("/ok/a", "/elsewhere/b")).rule, None, "allow needs every path");
        let link = event(Arch::X86_64, 86, [0; 6]);
        assert_eq!(d.decide(&link, &two("/prot/secret", "/out/hl")).rule, Some(2), "the default (deny) counts as deny");
        let odd = Facts { paths: Some(vec![b"/prot/caf\xe9".to_vec()]), ..Facts::default() };
        assert_eq!(d.decide(&rename, &odd).rule, Some(0), "paths are bytes, not UTF-8");
    }

    #[test]
    fn address_rules_match_the_address_and_socket_type_and_allows_are_performed() {
        use proto::net::{Address, NetMatcher, SockType, UnixAddr};
        let net = |addrs: &[&str], types: &[&str]| {
            let addrs: Vec<String> = addrs.iter().map(|s| s.to_string()).collect();
            let types: Vec<String> = types.iter().map(|s| s.to_string()).collect();
            Matchers { net: NetMatcher::parse(&addrs, &[], &types).unwrap(), ..Matchers::default() }
        };
        let eacces = Errno::new(13).unwrap();
        let p = policy(vec![
            with(rule(0, &["connect"], Action::Notify, vec![], Some(Decision::Deny(eacces))), net(&["127.0.0.2"], &[])),
            with(
                rule(1, &["connect", "bind"], Action::Notify, vec![], Some(Decision::Allow)),
                net(&["127.0.0.0/8:80-90", "[::1]:443", "unix:/run/**"], &["stream"]),
            ),
            rule(2, &["connect"], Action::Notify, vec![], Some(Decision::Allow)),
        ]);
        let d = Decider::new(&p);
        let connect = event(Arch::X86_64, 42, [0; 6]);
        assert_eq!(d.needs(&connect), Needs { net: true, ..Needs::default() });
        let v4 = |a: [u8; 4], port| Address::V4 { ip: a.into(), port, mapped: false };
        let facts = |a: Address, t| Facts { address: Some(a), socket_type: Some(t), ..Facts::default() };
        let table: &[(Address, SockType, Option<usize>)] = &[
            (v4([127, 0, 0, 2], 80), SockType::Stream, Some(0)),
            (v4([127, 0, 0, 1], 80), SockType::Stream, Some(1)),
            (v4([127, 0, 0, 1], 91), SockType::Stream, Some(2)),
            (v4([127, 0, 0, 1], 80), SockType::Dgram, Some(2)),
            (Address::V4 { ip: [127, 0, 0, 1].into(), port: 85, mapped: true }, SockType::Stream, Some(1)),
            (Address::V6 { ip: std::net::Ipv6Addr::LOCALHOST, port: 443, scope_id: 0 }, SockType::Stream, Some(1)),
            (Address::Unix(UnixAddr::Path(b"/run/x.sock".to_vec())), SockType::Stream, Some(1)),
            (Address::Unix(UnixAddr::Path(b"x.sock".to_vec())), SockType::Stream, Some(2)),
            (Address::Unspec, SockType::Stream, Some(2)),
        ];
        for (address, ty, want) in table {
            let v = d.decide(&connect, &facts(address.clone(), *ty));
            assert_eq!(v.rule, *want, "{address:?} {ty:?}");
            assert!(v.net_checked);
            // An allow that rested on the address is performed, never CONTINUE; so is the rule after it.
            let plan = if matches!(v.decision, Decision::Allow) { Plan::PerformNet } else { Plan::Deny(eacces) };
            assert_eq!(v.plan("connect"), plan, "{address:?}");
        }
        // Without the facts, an address rule never matches.
        assert_eq!(d.decide(&connect, &Facts::default()).rule, Some(2));
        let bind = event(Arch::X86_64, 49, [0; 6]);
        assert_eq!(d.decide(&bind, &facts(v4([127, 0, 0, 1], 80), SockType::Stream)).rule, Some(1));
        assert_eq!(d.decide(&bind, &facts(v4([10, 0, 0, 1], 80), SockType::Stream)).rule, None);
    }

    #[test]
    fn several_destinations_deny_if_any_matches_and_allow_only_if_all_do() {
        use proto::net::{Address, NetMatcher, SockType};
        let net = |addrs: &[&str]| {
            let addrs: Vec<String> = addrs.iter().map(|s| s.to_string()).collect();
            Matchers { net: NetMatcher::parse(&addrs, &[], &[]).unwrap(), ..Matchers::default() }
        };
        let p = policy(vec![
            with(
                rule(0, &["sendmmsg"], Action::Notify, vec![], Some(Decision::Deny(Errno::EPERM))),
                net(&["127.0.0.2"]),
            ),
            with(rule(1, &["sendmmsg"], Action::Notify, vec![], Some(Decision::Allow)), net(&["127.0.0.0/8"])),
        ]);
        let d = Decider::new(&p);
        let sendmmsg = event(Arch::X86_64, 307, [0; 6]);
        let v4 = |last: u8| Address::V4 { ip: [127, 0, 0, last].into(), port: 9, mapped: false };
        let facts = |first: Address, more: Vec<Address>| Facts {
            address: Some(first),
            more_addresses: more,
            socket_type: Some(SockType::Dgram),
            ..Facts::default()
        };
        assert_eq!(d.decide(&sendmmsg, &facts(v4(1), vec![v4(3)])).rule, Some(1));
        assert_eq!(d.decide(&sendmmsg, &facts(v4(1), vec![v4(2)])).rule, Some(0), "one denied destination denies");
        assert_eq!(d.decide(&sendmmsg, &facts(v4(2), vec![])).rule, Some(0));
        let out = Address::V4 { ip: [10, 0, 0, 1].into(), port: 9, mapped: false };
        assert_eq!(d.decide(&sendmmsg, &facts(v4(1), vec![out])).rule, None, "an allow needs every destination");
    }

    #[test]
    fn plans_follow_the_decision_and_the_syscall() {
        use proto::{OnTimeout, PromptSpec};
        let spec = PromptSpec { timeout_secs: 5, errno: Errno::EPERM, on_timeout: OnTimeout::Deny };
        let table = [
            (Decision::Allow, "openat", true, Plan::PerformPath),
            (Decision::Allow, "openat", false, Plan::Continue),
            // Not emulated: a path decision on it is carried out with CONTINUE (advisory).
            (Decision::Allow, "execve", true, Plan::Continue),
            (Decision::Deny(Errno::EACCES), "openat", true, Plan::Deny(Errno::EACCES)),
            (Decision::Emulate(Emulator::ClockSet), "clock_settime", false, Plan::Clock),
            (Decision::Prompt(spec), "unlinkat", false, Plan::Prompt { spec, performs: true }),
            (Decision::Prompt(spec), "connect", false, Plan::Prompt { spec, performs: false }),
        ];
        for (decision, syscall, path_checked, want) in table {
            assert_eq!(plan(&decision, syscall, path_checked), want, "{decision:?} {syscall}");
        }
    }
}
