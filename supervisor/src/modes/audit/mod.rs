//! `supervise --audit`: what would this profile refuse in this run, and why? Nothing is refused.
//!
//! The profile P is resolved as `supervise --policy P` would resolve it (against `--caps` when given), and
//! compiled twice: as it is, over every arch the machine runs (the reference, which is never loaded: [`Auditor`]
//! runs it on each notified call with [`agent::filter::eval`]), and as its audit variant ([`filter::audit_policy`]),
//! which the program runs under: P's allow rules stay in BPF, every rule or default that could refuse a call
//! notifies instead, and so does every arch P does not list. Each notified call is looked up in the reference: a
//! call P would refuse in the kernel (ERRNO, KILL*, TRAP, TRACE), or whose notify rule would deny or ask, is
//! counted in the [`report`] and CONTINUEd; a notify rule that allows keeps allowing and `clock-set` keeps
//! emulating. At exit the report goes to stderr (or `--audit-report`), with the smallest change to P that lets the
//! run through, which `--audit-fix` writes as a profile ([`fix`]).

mod filter;
pub mod fix;
pub mod report;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use agent::caps::{self, CapState};
use agent::filter::Insn;
use agent::launch::{LaunchOptions, OnSupervisorExit};
use proto::{Arch, Policy};

use crate::core::decide::{Decider, Event, Facts, Plan};
use crate::core::describe::describe;
use crate::core::facts::gather;
use crate::core::notify::Handler;
use crate::core::Outcome;
use crate::kernel::listener::{Listener, Notification};
use crate::kernel::pending::Pending;
use crate::kernel::{proc, syscalls};
use crate::modes::capabilities;
use crate::modes::exit::{Failure, EXIT_FAILURE};
use crate::modes::policy_file::{this_machine, Machine, Source};
use crate::modes::supervised::{launch_and_supervise, resolve_program};
use crate::modes::verdict::{self, ret, Decider as By};
use crate::modes::watch::Watch;
use report::{Outcome as Would, Report};

/// How the report is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ReportFormat {
    /// Lines for people.
    #[default]
    Text,
    /// One JSON document.
    Json,
}

/// Options of `supervise --audit`.
#[derive(Debug, Clone, Default)]
pub struct AuditOptions {
    /// The profile; `None`: the built-in Docker default.
    pub policy: Option<PathBuf>,
    /// `--caps`: the capabilities the program would have, for `includes.caps`/`excludes.caps`.
    pub caps: Option<Vec<String>>,
    /// `--cap-add`, `--cap-drop`, `--privileged`: Docker's default set changed, when `--caps` is not given.
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub no_new_privileges: bool,
    pub on_supervisor_exit: OnSupervisorExit,
    pub report: Option<PathBuf>,
    pub format: ReportFormat,
    pub fix: Option<PathBuf>,
    /// `--args`: argument values that become `args` conditions of the fix.
    pub args: Vec<String>,
    pub program: Vec<OsString>,
}

/// Runs the program under the audit variant of the profile, then writes the report (and the fix).
///
/// # Errors
/// A [`Failure`] (125, 126, 127) if the options or the profile are bad or the program cannot be started; the report
/// or the fix cannot be written (125, after the program ran).
pub fn audit(options: &AuditOptions) -> Result<i32, Failure> {
    let bad = |line: String| Failure::new(EXIT_FAILURE, line);
    let watches = options.args.iter().map(|a| Watch::parse(a)).collect::<Result<Vec<_>, _>>().map_err(bad)?;
    let source = Source::open(options.policy.as_deref()).map_err(bad)?;
    let profile = source.parse().map_err(|lines| Failure { code: EXIT_FAILURE, lines })?;
    let caps = resolution_caps(options).map_err(bad)?;
    let machine = Machine { caps, ..this_machine() };
    let policy = source.load(&machine).map_err(|lines| Failure { code: EXIT_FAILURE, lines })?;
    for (option, path) in [("--audit-report", &options.report), ("--audit-fix", &options.fix)] {
        if let Some(path) = path {
            writable_place(option, path).map_err(bad)?;
        }
    }
    let program = resolve_program(&options.program)?;
    let compile = |p: &Policy| agent::cache::compile_cached(p).map_err(|e| bad(format!("{}: {e}", source.name)));
    // The reference covers every arch the machine runs, so that a call of an unlisted arch can be told what the
    // rules would say once the arch is added.
    let reference = Policy { arches: Arch::native().runnable_on().to_vec(), ..policy.clone() };
    let reference_bpf = compile(&reference)?.bpf.insns().to_vec();
    let compiled = compile(&filter::audit_policy(&policy))?;
    let mut insns = filter::arch_prefix(&policy);
    let notifies = compiled.notifies || !insns.is_empty();
    insns.extend_from_slice(compiled.bpf.insns());
    let bpf = agent::filter::Bpf::from_insns(insns);

    let state = CapState::current().map_err(|e| bad(format!("cannot read supervise's capabilities: {e}")))?;
    let plan = caps::plan(&state, None, options.no_new_privileges);
    let launch = LaunchOptions {
        listener: notifies,
        on_supervisor_exit: options.on_supervisor_exit,
        privileges: plan.privileges,
        ..LaunchOptions::default()
    };
    let auditor = Arc::new(Auditor::new(policy.clone(), reference_bpf, &watches));
    let handler = auditor.clone();
    let status = launch_and_supervise(&program, &bpf, launch, move |_| handler)?;

    let findings = auditor.findings();
    let report = Report::new(&source.name, &profile, &policy, &options.program, caps, status, findings, &watches);
    report.write(options.report.as_deref(), options.format)?;
    if let Some(out) = &options.fix {
        fix::write(out, &profile, &report)?;
    }
    Ok(status)
}

/// Fails before the program runs if `path` could not be written: a directory, or no directory to put it in.
fn writable_place(option: &str, path: &std::path::Path) -> Result<(), String> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    if path.is_dir() {
        return Err(format!("{option} {}: is a directory", path.display()));
    }
    if !parent.is_dir() {
        return Err(format!("{option} {}: no such directory {}", path.display(), parent.display()));
    }
    Ok(())
}

/// The capabilities the profile is resolved against: `--caps`, else Docker's default set as `--cap-add`,
/// `--cap-drop` and `--privileged` change it (always for the built-in profile), else what `supervise --policy`
/// would start the program with.
fn resolution_caps(options: &AuditOptions) -> Result<u64, String> {
    if let Some(caps) = &options.caps {
        if caps.iter().all(|c| c.eq_ignore_ascii_case("none") || c.is_empty()) {
            return Ok(0);
        }
        return capabilities::effective(caps, &["ALL".to_string()], false)
            .map_err(|e| e.replace("--cap-add", "--caps"));
    }
    let asked = !options.cap_add.is_empty() || !options.cap_drop.is_empty() || options.privileged;
    if options.policy.is_none() || asked {
        return capabilities::effective(&options.cap_add, &options.cap_drop, options.privileged);
    }
    Ok(this_machine().caps)
}

/// One kind of call the profile would have refused: the syscall, its arch, who decided and how.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub arch: Arch,
    pub nr: i32,
    pub by: By,
    pub would: Would,
}

/// What was seen of one [`Key`].
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub name: String,
    pub count: u64,
    pub first_exe: String,
    pub last_exe: String,
    last_pid: u32,
    /// The first call's arguments, decoded, and as registers.
    pub first_args: String,
    pub first_regs: [u64; 6],
    /// `--args`: the watched argument's values.
    pub values: BTreeSet<u64>,
    /// For a call of an arch the profile does not list: what the rules would do once it is listed.
    pub then: Option<u32>,
}

/// The handler of an audited run: looks each notified call up in the reference filter and the profile's notify
/// rules, counts what would have been refused, and lets everything through.
pub struct Auditor {
    policy: Policy,
    reference: Vec<Insn>,
    decider: Decider,
    watched: HashMap<(Arch, i32), u8>,
    seen: Mutex<BTreeMap<Key, Seen>>,
}

impl Auditor {
    pub fn new(policy: Policy, reference: Vec<Insn>, watches: &[Watch]) -> Auditor {
        let mut watched = HashMap::new();
        for w in watches {
            for &arch in Arch::native().runnable_on() {
                if let Some(nr) = syscalls::number_of(&w.name, arch) {
                    watched.insert((arch, nr), w.index);
                }
            }
        }
        let decider = Decider::new(&policy);
        Auditor { policy, reference, decider, watched, seen: Mutex::new(BTreeMap::new()) }
    }

    /// What was seen, by kind of call.
    pub fn findings(&self) -> BTreeMap<Key, Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Counts one call that would have been refused.
    fn note(&self, listener: &Listener, n: &Notification, key: Key, name: &str, then: Option<u32>) {
        let exe = |pid: u32| proc::exe(pid).map_or_else(|| "?".into(), |p| p.display().to_string());
        let watched = self.watched.get(&(key.arch, n.nr)).map(|&i| n.args[usize::from(i)]);
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = seen.get_mut(&key) {
            s.count += 1;
            if s.last_pid != n.pid {
                s.last_pid = n.pid;
                s.last_exe = exe(n.pid);
            }
            s.values.extend(watched);
            return;
        }
        // Only the notify thread records, so nothing else inserts meanwhile.
        drop(seen);
        let first_exe = exe(n.pid);
        let mut first_args = describe(Pending::new(listener, n), name).map(|d| d.args).unwrap_or_default();
        if let Some(flags) = namespace_flags(name, n.args[0]) {
            // The first register of unshare and clone: the namespaces they ask for, by name.
            let rest = first_args.split_once(", ").map_or("", |(_, rest)| rest);
            first_args = if rest.is_empty() { flags } else { format!("{flags}, {rest}") };
        }
        let entry = Seen {
            name: name.to_string(),
            count: 1,
            last_exe: first_exe.clone(),
            first_exe,
            last_pid: n.pid,
            first_args,
            first_regs: n.args,
            values: watched.into_iter().collect(),
            then,
        };
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).insert(key, entry);
    }
}

impl Handler for Auditor {
    fn handle(&self, listener: &Arc<Listener>, n: Notification) -> Option<Outcome> {
        let Some(arch) = Arch::from_audit(n.arch, n.nr) else { return Some(Outcome::Continue) };
        let name = syscalls::name_of(arch, n.nr).unwrap_or_else(|| format!("syscall_{}", n.nr));
        let value = agent::filter::eval::eval(&self.reference, n.arch, n.nr, &n.args)
            .unwrap_or_else(|| verdict::ret_of(self.policy.default_action));
        if !self.policy.arches.contains(&arch) {
            let key = Key { arch, nr: n.nr, by: By::ArchNotListed, would: Would::Killed };
            self.note(listener, &n, key, &name, Some(value));
            return Some(Outcome::Continue);
        }
        let kernel =
            |would: Would| Key { arch, nr: n.nr, by: verdict::attribute(&self.policy, &name, &n.args, value), would };
        match value & ret::ACTION_FULL {
            ret::ALLOW | ret::LOG => {}
            ret::USER_NOTIF => return self.notified(listener, n, arch, &name),
            ret::ERRNO => self.note(listener, &n, kernel(Would::Errno(value & 0xffff)), &name, None),
            ret::TRACE => self.note(listener, &n, kernel(Would::Trace(value & 0xffff)), &name, None),
            ret::TRAP => self.note(listener, &n, kernel(Would::Trap), &name, None),
            _ => self.note(listener, &n, kernel(Would::Killed), &name, None),
        }
        Some(Outcome::Continue)
    }
}

impl Auditor {
    /// A call the profile sends to supervise: its notify rules decide as in a normal run, but a deny or a question
    /// is only counted.
    fn notified(&self, listener: &Arc<Listener>, n: Notification, arch: Arch, name: &str) -> Option<Outcome> {
        let event = Event { arch, nr: n.nr, args: n.args };
        let lookup = self.decider.lookup(&event);
        let pending = Pending::new(listener, &n);
        let facts = if lookup.needs.any() {
            match gather(pending, &lookup.syscall, lookup.needs) {
                Ok((facts, _)) => facts,
                // The target is gone; or the kernel itself will fail the call (EFAULT, ENAMETOOLONG, …) before any
                // rule could.
                Err(Outcome::Gone) => return Some(Outcome::Gone),
                Err(_) => return Some(Outcome::Continue),
            }
        } else {
            Facts::default()
        };
        let verdict = self.decider.decide(&event, &facts);
        let by = match verdict.rule {
            Some(index) => By::Rule(index),
            None => verdict::attribute(&self.policy, name, &n.args, ret::USER_NOTIF),
        };
        let would = match verdict.plan(&lookup.syscall) {
            Plan::Clock => return Some(crate::core::clock::clock_set(pending, arch, &lookup.syscall).into()),
            Plan::Deny(errno) => Would::Denied(u32::from(errno.get())),
            Plan::Prompt { spec, .. } => Would::Asked(u32::from(spec.errno.get())),
            // An allow: CONTINUE does what performing it would (audit mode guards nothing).
            Plan::Continue | Plan::PerformPath | Plan::PerformNet => return Some(Outcome::Continue),
        };
        self.note(listener, &n, Key { arch, nr: n.nr, by, would }, name, None);
        Some(Outcome::Continue)
    }
}

/// `CLONE_NEWUSER|CLONE_NEWNS` for the flags argument of `unshare` and `clone` (x86 order; the rest in hex); `None`
/// for other syscalls or flags without a namespace.
fn namespace_flags(syscall: &str, value: u64) -> Option<String> {
    const FLAGS: [(u64, &str); 8] = [
        (0x0002_0000, "CLONE_NEWNS"),
        (0x0200_0000, "CLONE_NEWCGROUP"),
        (0x0400_0000, "CLONE_NEWUTS"),
        (0x0800_0000, "CLONE_NEWIPC"),
        (0x1000_0000, "CLONE_NEWUSER"),
        (0x2000_0000, "CLONE_NEWPID"),
        (0x4000_0000, "CLONE_NEWNET"),
        (0x0000_0080, "CLONE_NEWTIME"),
    ];
    // clone's low byte is the exit signal, where unshare has CLONE_NEWTIME.
    let flags = match syscall {
        "unshare" => &FLAGS[..],
        "clone" => &FLAGS[..7],
        _ => return None,
    };
    let names: Vec<&str> = flags.iter().filter(|(bit, _)| value & bit != 0).map(|(_, n)| *n).collect();
    if names.is_empty() {
        return None;
    }
    let rest = value & !flags.iter().fold(0, |all, (bit, _)| all | bit);
    let mut text = names.join("|");
    if rest != 0 {
        text.push_str(&format!("|{rest:#x}"));
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_flags_are_named() {
        assert_eq!(namespace_flags("unshare", 0x1000_0000).as_deref(), Some("CLONE_NEWUSER"));
        assert_eq!(namespace_flags("unshare", 0x1002_0080).as_deref(), Some("CLONE_NEWNS|CLONE_NEWUSER|CLONE_NEWTIME"));
        assert_eq!(namespace_flags("clone", 0x4000_0011).as_deref(), Some("CLONE_NEWNET|0x11"));
        assert_eq!(namespace_flags("clone", 0x11), None);
        assert_eq!(namespace_flags("mkdir", 0x1000_0000), None);
    }
}
