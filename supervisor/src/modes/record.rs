//! `supervise record`: run a program with every syscall allowed and observed, then write a Docker-format profile
//! that lets the same run succeed under `supervise --policy` (and under runc with `--for runc`).
//!
//! The filter notifies every syscall (default action `SCMP_ACT_NOTIFY`) on every arch the machine runs; the
//! [`Recorder`] answers CONTINUE at once and notes (arch, number), plus argument values for `--args` syscalls.
//! That covers all threads and child processes, since they inherit the filter. The launcher's own `execve` is
//! observed too, so the profile really starts the program.
//!
//! [`Recorded::profile`] turns a recording into the profile model ([`Profile`]), merged with an earlier profile
//! for `--merge`: its unconditional allow rules and single-`SCMP_CMP_EQ` allow rules are folded into the new ones,
//! and every other rule is kept as written.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use agent::filter;
use agent::launch::LaunchOptions;
use proto::profile::{ArgSpec, Profile, SyscallRule};
use proto::{Action, Arch, ArgCmp, CmpOp, Decision, Errno, Policy};
use serde_json::Value;

use crate::core::notify::Handler;
use crate::core::Outcome;
use crate::kernel::listener::{Listener, Notification};
use crate::kernel::syscalls;
use crate::modes::exit::{Failure, EXIT_FAILURE};
use crate::modes::policy_file::{this_machine, Source};
use crate::modes::runc::runc_needs;
use crate::modes::shell_words::shell_words;
use crate::modes::supervised::{launch_and_supervise, resolve_program};
use crate::modes::syscall_names::libseccomp_version;
use progress::{Progress, Screen};

mod addresses;
mod names;
mod progress;

use addresses::AddressLog;
use names::symbolic;

/// How the `comment` of a recorded profile starts; merged runs add `; on DATE: COMMAND`.
const COMMENT_PREFIX: &str = "Recorded by supervise record on ";

/// The comment of the rule `--for runc` adds.
const RUNC_COMMENT: &str =
    "added by --for runc: what runc calls after it loads the filter, and what its Go runtime may call then";

/// `record` options.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    pub output: PathBuf,
    pub merge: Option<PathBuf>,
    /// `NAME` or `NAME:INDEX` (default index 0): syscalls whose argument values become `args` conditions.
    pub args: Vec<String>,
    /// `--addresses`: address rules per executable for connect, bind and the sends.
    pub addresses: bool,
    pub for_runc: bool,
    /// Overwrite `output` if it exists (without it, an existing profile is refused unless `merge` names it).
    pub force: bool,
    pub program: Vec<OsString>,
}

pub use crate::modes::watch::Watch;

/// What a run made, as (arch, number), with the argument values of watched syscalls.
#[derive(Debug, Default)]
pub struct Recorder {
    seen: Mutex<BTreeSet<(Arch, i32)>>,
    values: Mutex<BTreeMap<(Arch, i32), BTreeSet<u64>>>,
    /// Watched syscalls on every arch the filter covers → the argument index to record.
    watched: HashMap<(Arch, i32), u8>,
    count: AtomicUsize,
    /// The progress line on a terminal, erased before the program writes to it.
    screen: Option<Arc<Screen>>,
    /// `--addresses`: where each executable connected, bound and sent.
    addresses: Option<Arc<AddressLog>>,
}

impl Recorder {
    /// A recorder that notes the argument values of `watches` on each of `arches`, and keeps `screen` (the
    /// progress line) out of the program's way.
    pub fn new(watches: &[Watch], arches: &[Arch], screen: Option<Arc<Screen>>) -> Recorder {
        let mut watched = HashMap::new();
        for w in watches {
            for &arch in arches {
                if let Some(nr) = syscalls::number_of(&w.name, arch) {
                    watched.insert((arch, nr), w.index);
                }
            }
        }
        Recorder { watched, screen, ..Recorder::default() }
    }

    fn note(&self, arch: Arch, nr: i32, args: &[u64; 6]) {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).insert((arch, nr));
        if let Some(&index) = self.watched.get(&(arch, nr)) {
            let mut values = self.values.lock().unwrap_or_else(|e| e.into_inner());
            values.entry((arch, nr)).or_default().insert(args[usize::from(index)]);
        }
    }

    /// (distinct syscalls, calls) so far.
    fn stats(&self) -> (usize, usize) {
        (self.seen.lock().map(|s| s.len()).unwrap_or(0), self.count.load(Ordering::Relaxed))
    }
}

impl Handler for Recorder {
    fn handle(&self, listener: &Arc<Listener>, n: Notification) -> Option<Outcome> {
        let arch = Arch::from_audit(n.arch, n.nr);
        if let (Some(screen), Some(arch)) = (&self.screen, arch) {
            screen.before(listener, &n, arch);
        }
        if let Some(arch) = arch {
            self.note(arch, n.nr, &n.args);
            if let Some(log) = &self.addresses {
                log.note(listener, &n, arch);
            }
        }
        Some(Outcome::Continue)
    }
}

/// Runs the program, then writes the profile and the summary.
///
/// # Errors
/// A [`Failure`] if the options are bad, the program cannot be started or the profile cannot be written; the
/// program's own failure is its exit status (the profile is written all the same).
pub fn record(options: &RecordOptions) -> Result<i32, Failure> {
    let bad = |line: String| Failure::new(EXIT_FAILURE, line);
    let watches = options.args.iter().map(|a| Watch::parse(a)).collect::<Result<Vec<_>, _>>().map_err(bad)?;
    check_output(&options.output).map_err(bad)?;
    check_overwrite(&options.output, options.merge.as_deref(), options.force).map_err(bad)?;
    let base = match &options.merge {
        Some(path) if !path.exists() => {
            crate::logging::eprint_line(&format!(
                "supervise record: {} does not exist yet: starting a new profile",
                path.display()
            ));
            None
        }
        Some(path) => Some(load_base(path)?),
        None => None,
    };
    let program = resolve_program(&options.program)?;
    let observe = Policy { notify_default: Decision::Allow, ..Policy::new(Action::Notify, vec![]) };
    let compiled = filter::compile(&observe).map_err(|e| Failure::new(EXIT_FAILURE, e.to_string()))?;
    let screen = std::io::stderr().is_terminal().then(|| Screen::new(&observe.arches).map(Arc::new)).flatten();
    // A profile that an earlier `--addresses` run wrote keeps its address rules up to date.
    let addresses = options.addresses || base.as_ref().is_some_and(AddressLog::written_in);
    let mut recorder = Recorder::new(&watches, &observe.arches, screen.clone());
    recorder.addresses = addresses.then(|| Arc::new(AddressLog::new()));
    let recorder = Arc::new(recorder);
    let progress = Arc::new(Mutex::new(None));
    let handler = recorder.clone();
    let options_launch = LaunchOptions { listener: true, ..LaunchOptions::default() };
    let started = progress.clone();
    // The progress thread starts once the program is launched (this closure runs after the fork), so that the fork
    // happens with as few threads as possible; the launcher keeps to async-signal-safe calls either way.
    let status = launch_and_supervise(&program, &compiled.bpf, options_launch, move |_| {
        if let Some(screen) = screen {
            let recorder = handler.clone();
            *started.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(Progress::start(screen, move || recorder.stats()));
        }
        handler
    });
    if let Some(progress) = progress.lock().unwrap_or_else(|e| e.into_inner()).take() {
        progress.stop();
    }
    let status = status?;

    let command = shell_words(&options.program);
    let recorded = Recorded::from_recorder(&recorder, &watches);
    let previous = base.as_ref().map(allowed_names).unwrap_or_default();
    let profile = recorded.profile(&command, base, options.for_runc);
    write_profile(&options.output, &profile)?;
    if let Some(line) = recorded.unnamed_warning() {
        crate::logging::eprint_line(&line);
    }

    let seen = recorded.all_names();
    let new: Vec<&str> = seen.iter().map(String::as_str).filter(|n| !previous.contains(*n)).collect();
    let calls = recorder.count.load(Ordering::Relaxed);
    let list = if new.is_empty() { String::new() } else { format!(": {}", new.join(", ")) };
    crate::logging::eprint_line(&format!(
        "supervise record: {} syscalls seen in {calls} calls, {} new{list}",
        seen.len(),
        new.len()
    ));
    let allowed = allowed_names(&profile);
    let runc = if options.for_runc {
        let added = runc_needs().iter().filter(|n| !seen.contains(**n) && !previous.contains(**n)).count();
        format!(", {added} of them added for runc")
    } else {
        String::new()
    };
    let conditional = profile.rules().filter(|r| r.args.as_ref().is_some_and(|a| !a.is_empty())).count();
    crate::logging::eprint_line(&format!(
        "supervise record: wrote {}: {} syscalls allowed{runc}, {conditional} argument rules",
        options.output.display(),
        allowed.len()
    ));
    if status != 0 {
        crate::logging::eprint_line(&format!(
            "supervise record: {command} exited with status {status}; the profile covers the run as far as it went"
        ));
    }
    Ok(status)
}

/// Fails early, before the program runs, if the profile could not be written.
fn check_output(path: &Path) -> Result<(), String> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if path.is_dir() {
        return Err(format!("--output {}: is a directory", path.display()));
    }
    match std::fs::metadata(parent) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(format!("--output {}: {} is not a directory", path.display(), parent.display())),
        Err(_) => Err(format!("--output {}: no such directory {}", path.display(), parent.display())),
    }
}

/// Refuses, before the program runs, to replace an existing profile unless `--force` is given or `--merge` names
/// the same file (then the old profile is kept in the new one).
fn check_overwrite(output: &Path, merge: Option<&Path>, force: bool) -> Result<(), String> {
    if force || !output.exists() {
        return Ok(());
    }
    let same = |a: &Path, b: &Path| match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if merge.is_some_and(|m| same(m, output)) {
        return Ok(());
    }
    let shown = output.display();
    Err(format!("--output {shown}: the file exists; give --force to replace it, or --merge {shown} to add to it"))
}

/// Syscalls added in Linux 6.8 and later, which libseccomp 2.5.4 cannot name; their numbers are the same on every
/// arch since Linux 5.1 (424 and up), so they can be named for the user even when libseccomp cannot.
const NEWER_SYSCALLS: &[(i32, &str)] = &[
    (457, "statmount"),
    (458, "listmount"),
    (459, "lsm_get_self_attr"),
    (460, "lsm_set_self_attr"),
    (461, "lsm_list_modules"),
    (462, "mseal"),
    (463, "setxattrat"),
    (464, "getxattrat"),
    (465, "listxattrat"),
    (466, "removexattrat"),
    (467, "open_tree_attr"),
];

/// `ARCH NUMBER` or `ARCH NUMBER (NAME)` for a syscall libseccomp cannot name.
fn describe_unnamed(arch: Arch, nr: i32) -> String {
    let known = (nr >= 424).then(|| NEWER_SYSCALLS.iter().find(|(n, _)| *n == nr)).flatten();
    match known {
        Some((_, name)) => format!("{arch} {nr} ({name})"),
        None => format!("{arch} {nr}"),
    }
}

/// The profile to merge into, validated as `supervise --policy` would.
fn load_base(path: &Path) -> Result<Profile, Failure> {
    let source = Source::open(Some(path)).map_err(|l| Failure::new(EXIT_FAILURE, l))?;
    source.load(&this_machine()).map_err(|lines| Failure { code: EXIT_FAILURE, lines })?;
    source.parse().map_err(|lines| Failure { code: EXIT_FAILURE, lines })
}

/// A recording, by name.
#[derive(Debug, Default)]
pub struct Recorded {
    pub arches: BTreeSet<Arch>,
    /// Syscalls allowed whatever their arguments.
    pub names: BTreeSet<String>,
    /// `--args`: (name, argument index) → values seen.
    pub values: BTreeMap<(String, u8), BTreeSet<u64>>,
    /// Syscalls the run made that libseccomp cannot name, so that a profile cannot allow them.
    pub unnamed: BTreeSet<(Arch, i32)>,
    /// `--addresses`: the address rules, which replace a plain allow of their syscalls.
    pub addresses: Option<Arc<AddressLog>>,
}

impl Recorded {
    fn from_recorder(recorder: &Recorder, watches: &[Watch]) -> Recorded {
        let mut out = Recorded { addresses: recorder.addresses.clone(), ..Recorded::default() };
        out.arches.insert(Arch::native());
        for &(arch, nr) in recorder.seen.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            out.arches.insert(arch);
            match syscalls::name_of(arch, nr) {
                Some(name) => out.names.insert(name),
                None => out.unnamed.insert((arch, nr)),
            };
        }
        for (&(arch, nr), values) in recorder.values.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let Some(name) = syscalls::name_of(arch, nr) else { continue };
            let Some(watch) = watches.iter().find(|w| w.name == name) else { continue };
            out.names.remove(&name);
            out.values.entry((name, watch.index)).or_default().extend(values);
        }
        out
    }

    /// `ARCH NUMBER (NAME), …` for the syscalls libseccomp cannot name, if any.
    fn unnamed_list(&self) -> Option<String> {
        let list: Vec<String> = self.unnamed.iter().map(|&(arch, nr)| describe_unnamed(arch, nr)).collect();
        (!list.is_empty()).then(|| list.join(", "))
    }

    /// The stderr warning for syscalls the profile cannot allow, if any.
    pub fn unnamed_warning(&self) -> Option<String> {
        let list = self.unnamed_list()?;
        let n = self.unnamed.len();
        let (they, s, is) = if n == 1 { ("it", "", "is") } else { ("they", "s", "are") };
        Some(format!(
            "supervise record: warning: {n} syscall{s} the run made cannot be named by libseccomp {} and {is} not \
             in the profile ({they} will fail with EPERM on replay): {list}",
            libseccomp_version()
        ))
    }

    /// Every syscall the run made.
    pub fn all_names(&self) -> BTreeSet<String> {
        self.names.iter().cloned().chain(self.values.keys().map(|(n, _)| n.clone())).collect()
    }

    /// The Docker-format profile: `defaultAction: SCMP_ACT_ERRNO`, `defaultErrnoRet: 1`, the arches seen, one rule
    /// allowing the sorted names, one rule per recorded argument value. Merged into `base` when given; with
    /// `for_runc`, what runc needs after it loads the filter is allowed too.
    pub fn profile(&self, command: &str, base: Option<Profile>, for_runc: bool) -> Profile {
        let date = crate::civil::utc_now_string();
        let mut comment = format!("{COMMENT_PREFIX}{date}: {command}");
        let unnamed = self.unnamed_list().map(|list| format!(" (not allowed, libseccomp cannot name them: {list})"));
        let mut names = self.names.clone();
        let mut values = self.values.clone();
        // What only runc needs gets its own rule, marked, after the recorded ones.
        let mut runc: BTreeSet<String> = BTreeSet::new();
        if for_runc {
            runc.extend(runc_needs().into_iter().map(String::from).filter(|n| !self.names.contains(n)));
        }
        let (mut profile, kept) = match base {
            Some(mut base) => {
                let rules = base.syscalls.take().unwrap_or_default();
                let mut kept = Vec::new();
                for rule in rules {
                    if self.addresses.as_ref().is_some_and(|log| log.fold(&rule)) {
                        continue;
                    }
                    match fold(&rule) {
                        // The earlier run's `--for runc` rule stays marked.
                        Some(Folded::Names(n)) if rule.comment.as_deref() == Some(RUNC_COMMENT) => runc.extend(n),
                        Some(Folded::Names(n)) => names.extend(n),
                        Some(Folded::Value(n, index, value)) => {
                            for name in n {
                                values.entry((name, index)).or_default().insert(value);
                            }
                        }
                        None => kept.push(rule),
                    }
                }
                base.comment = Some(match base.comment.take() {
                    Some(old) if old.starts_with(COMMENT_PREFIX) => {
                        format!("{old}; on {date}: {command}{}", unnamed.unwrap_or_default())
                    }
                    Some(old) if !old.is_empty() => format!("{old}; {comment}{}", unnamed.unwrap_or_default()),
                    _ => comment + &unnamed.unwrap_or_default(),
                });
                if base.arch_map.is_none() {
                    let mut arches = base.architectures.take().unwrap_or_default();
                    for arch in &self.arches {
                        if !arches.iter().any(|a| Arch::parse(a) == Some(*arch)) {
                            arches.push(arch.scmp_name().to_string());
                        }
                    }
                    base.architectures = Some(arches);
                }
                (base, kept)
            }
            None => {
                let mut p = Profile::new(Action::Errno(Errno::EPERM));
                comment.push_str(&unnamed.unwrap_or_default());
                p.comment = Some(comment);
                p.architectures = Some(self.arches.iter().map(|a| a.scmp_name().to_string()).collect());
                (p, Vec::new())
            }
        };
        // Address syscalls are decided on their address, never allowed outright.
        let address_names = self.addresses.as_ref().map(|log| log.names()).unwrap_or_default();
        names.retain(|n| !address_names.contains(n));
        values.retain(|(name, _), _| !address_names.contains(name));
        // A syscall allowed whatever its arguments needs no argument rules.
        runc.retain(|n| !names.contains(n));
        values.retain(|(name, _), _| !names.contains(name) && !runc.contains(name));
        let mut rules = Vec::new();
        if !names.is_empty() {
            rules.push(SyscallRule::new(names, Action::Allow));
        }
        for ((name, index), vals) in &values {
            for &value in vals {
                let mut rule = SyscallRule::new([name.clone()], Action::Allow);
                let cmp = ArgCmp { index: *index, op: CmpOp::Eq, value, value_two: 0 };
                rule.args = Some(vec![ArgSpec { value_two: None, ..ArgSpec::from(cmp) }]);
                rule.comment = symbolic(name, *index, value).map(|s| format!("{name} argument {index}: {s}"));
                rules.push(rule);
            }
        }
        if let Some(log) = &self.addresses {
            rules.extend(log.send_without_address());
            rules.extend(log.rules());
        }
        if !runc.is_empty() {
            let mut rule = SyscallRule::new(runc, Action::Allow);
            rule.comment = Some(RUNC_COMMENT.to_string());
            rules.push(rule);
        }
        rules.extend(kept);
        profile.syscalls = Some(rules);
        profile
    }
}

/// What an earlier profile's rule contributes to a merge.
enum Folded {
    /// An unconditional allow rule: its names.
    Names(Vec<String>),
    /// An allow rule with one `SCMP_CMP_EQ` condition: its names, the argument index and the value.
    Value(Vec<String>, u8, u64),
}

/// Folds plain allow rules (no errno, filters, `supervise` or comment-only differences) into the recording.
fn fold(rule: &SyscallRule) -> Option<Folded> {
    let plain = rule.action.as_deref() == Some("SCMP_ACT_ALLOW")
        && rule.includes.is_none()
        && rule.excludes.is_none()
        && rule.supervise.is_none()
        && rule.errno_ret.is_none()
        && rule.errno.is_none();
    if !plain {
        return None;
    }
    let names: Vec<String> = rule.syscall_names().into_iter().map(String::from).collect();
    match rule.args.as_deref() {
        None | Some([]) => Some(Folded::Names(names)),
        Some([arg]) if arg.op.as_deref() == Some("SCMP_CMP_EQ") => {
            let number = |v: &Option<Value>| v.as_ref().map_or(Some(0), Value::as_u64);
            let index = u8::try_from(number(&arg.index)?).ok().filter(|i| *i <= 5)?;
            let value = number(&arg.value)?;
            Some(Folded::Value(names, index, value))
        }
        Some(_) => None,
    }
}

/// Syscalls that a profile allows unconditionally or with conditions (the names of its allow rules).
fn allowed_names(profile: &Profile) -> BTreeSet<String> {
    profile
        .rules()
        .filter(|r| r.action.as_deref() == Some("SCMP_ACT_ALLOW"))
        .flat_map(|r| r.syscall_names().into_iter().map(String::from))
        .collect()
}

fn write_profile(path: &Path, profile: &Profile) -> Result<(), Failure> {
    let text = profile.to_json_pretty() + "\n";
    // Write next to the target and rename, so that a failure never leaves half a profile.
    let file_name = path.file_name().map_or_else(|| "profile".into(), |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path)).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Failure::new(EXIT_FAILURE, format!("cannot write {}: {e}", path.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(names: &[&str], values: &[(&str, u8, u64)]) -> Recorded {
        let mut r = Recorded { arches: [Arch::native()].into(), ..Recorded::default() };
        r.names = names.iter().map(|s| s.to_string()).collect();
        for (name, index, value) in values {
            r.values.entry((name.to_string(), *index)).or_default().insert(*value);
        }
        r
    }

    fn load(profile: &Profile) -> Policy {
        proto::profile::load(&profile.to_json_pretty(), &this_machine()).expect("a recorded profile loads")
    }

    #[test]
    fn profiles_are_docker_format_with_sorted_names() {
        let p = recorded(&["write", "read", "execve"], &[("personality", 0, 8)]).profile("ls /", None, false);
        let v: Value = serde_json::from_str(&p.to_json_pretty()).unwrap();
        assert_eq!(v["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(v["defaultErrnoRet"], 1);
        assert_eq!(v["architectures"], serde_json::json!([Arch::native().scmp_name()]));
        assert_eq!(v["syscalls"][0]["names"], serde_json::json!(["execve", "read", "write"]));
        assert_eq!(v["syscalls"][1]["args"], serde_json::json!([{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]));
        assert!(v["comment"].as_str().unwrap().ends_with(": ls /"), "{v}");
        let policy = load(&p);
        assert_eq!(policy.rules.len(), 2);
        assert!(policy.rules[1].matches_args(&[8, 0, 0, 0, 0, 0]) && !policy.rules[1].matches_args(&[9; 6]));
    }

    #[test]
    fn merging_keeps_what_was_there() {
        let first = recorded(&["read", "mkdir"], &[("socket", 0, 1)]).profile("a", None, false);
        let mut base = first.clone();
        let mut deny = SyscallRule::new(["reboot"], Action::Errno(Errno::new(38).unwrap()));
        deny.comment = Some("hand-written".into());
        base.syscalls.as_mut().unwrap().push(deny.clone());
        let merged = recorded(&["write", "read"], &[("socket", 0, 2)]).profile("b", Some(base), false);
        let rules = merged.syscalls.as_ref().unwrap();
        assert_eq!(rules[0].names.as_ref().unwrap(), &["mkdir", "read", "write"]);
        let socket: Vec<u64> = rules.iter().filter_map(|r| r.args.as_ref()).map(|a| a[0].value_u64()).collect();
        assert_eq!(socket, [1, 2]);
        assert_eq!(rules.last(), Some(&deny));
        let comment = merged.comment.as_deref().unwrap();
        assert!(
            comment.starts_with(COMMENT_PREFIX) && comment.contains(": a; on ") && comment.ends_with(": b"),
            "{comment}"
        );
        load(&merged);
        // A syscall allowed unconditionally needs no argument rules, in either order of the runs.
        let merged = recorded(&["socket"], &[]).profile("c", Some(merged), false);
        assert!(merged.rules().all(|r| r.args.is_none()), "{}", merged.to_json_pretty());
    }

    #[test]
    fn runc_needs_are_added_when_asked() {
        let p = recorded(&["read"], &[("prctl", 0, 1)]).profile("x", None, true);
        let names = allowed_names(&p);
        for name in ["futex", "rt_sigreturn", "capset", "fstatfs", "prctl", "execve", "read"] {
            assert!(names.contains(name), "{name}");
        }
        // prctl is needed by runc whatever its arguments.
        assert!(p.rules().all(|r| r.args.is_none()));
        load(&p);
    }

    #[test]
    fn watch_items_parse() {
        assert_eq!(Watch::parse("socket").unwrap(), Watch { name: "socket".into(), index: 0 });
        assert_eq!(Watch::parse("ioctl:1").unwrap(), Watch { name: "ioctl".into(), index: 1 });
        assert!(Watch::parse("ioctl:6").unwrap_err().contains("0 to 5"));
        let err = Watch::parse("personalty").unwrap_err();
        assert!(err.contains("did you mean \"personality\""), "{err}");
    }

    #[test]
    fn outputs_are_checked_before_the_run() {
        assert!(check_output(Path::new("out.json")).is_ok());
        assert!(check_output(Path::new("/no/such/dir/out.json")).unwrap_err().contains("no such directory"));
        assert!(check_output(Path::new("/tmp")).unwrap_err().contains("is a directory"));
    }

    #[test]
    fn syscalls_libseccomp_cannot_name_are_warned_about_and_kept_in_the_comment() {
        let mut r = recorded(&["read"], &[]);
        assert_eq!(r.unnamed_warning(), None);
        r.unnamed.insert((Arch::native(), 462));
        r.unnamed.insert((Arch::native(), 999));
        let arch = Arch::native();
        let warning = r.unnamed_warning().unwrap();
        assert!(
            warning.starts_with("supervise record: warning: 2 syscalls the run made cannot be named by libseccomp ")
                && warning.contains(" and are not in the profile (they will fail with EPERM on replay): ")
                && warning.ends_with(&format!(": {arch} 462 (mseal), {arch} 999")),
            "{warning}"
        );
        let p = r.profile("x", None, false);
        let comment = p.comment.as_deref().unwrap();
        let tail = format!(": x (not allowed, libseccomp cannot name them: {arch} 462 (mseal), {arch} 999)");
        assert!(comment.ends_with(&tail), "{comment}");
        let merged = r.profile("y", Some(p), false);
        assert!(merged.comment.as_deref().unwrap().ends_with(&tail.replace(": x", ": y")), "{:?}", merged.comment);
        load(&merged);
    }

    #[test]
    fn existing_outputs_are_refused_without_force_or_merge() {
        let dir = std::env::temp_dir().join(format!("supervise-record-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("p.json");
        assert!(check_overwrite(&out, None, false).is_ok(), "a new file");
        std::fs::write(&out, "{}").unwrap();
        let err = check_overwrite(&out, None, false).unwrap_err();
        let shown = out.display();
        assert_eq!(
            err,
            format!("--output {shown}: the file exists; give --force to replace it, or --merge {shown} to add to it")
        );
        assert!(check_overwrite(&out, None, true).is_ok());
        assert!(check_overwrite(&out, Some(&out), false).is_ok());
        assert!(check_overwrite(&out, Some(&dir.join("other.json")), false).is_err(), "merging another file");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn argument_values_get_their_names_in_a_comment() {
        let p =
            recorded(&["read"], &[("socket", 0, 1), ("ioctl", 1, 21505), ("openat", 2, 0o2000000), ("ioctl", 1, 7)])
                .profile("x", None, false);
        let comments: Vec<Option<&str>> = p.rules().skip(1).map(|r| r.comment.as_deref()).collect();
        let want = [
            None,
            Some("ioctl argument 1: TCGETS"),
            Some("openat argument 2: O_RDONLY|O_CLOEXEC"),
            Some("socket argument 0: AF_UNIX"),
        ];
        assert_eq!(comments, want);
        assert_eq!(symbolic("socket", 1, 0o2000001).as_deref(), Some("SOCK_STREAM|SOCK_CLOEXEC"));
        assert_eq!(symbolic("fcntl", 1, 3).as_deref(), Some("F_GETFL"));
        assert_eq!(symbolic("prctl", 0, 15).as_deref(), Some("PR_SET_NAME"));
        // The comment is ignored by loaders: the rules mean what they meant.
        let policy = load(&p);
        assert!(policy.rules.iter().any(|r| r.names == ["ioctl"] && r.matches_args(&[0, 21505, 0, 0, 0, 0])));
    }

    #[test]
    fn runc_additions_are_marked_and_stay_marked_in_merges() {
        let p = recorded(&["read", "futex"], &[]).profile("x", None, true);
        let rules: Vec<&SyscallRule> = p.rules().collect();
        assert_eq!(rules.len(), 2, "{}", p.to_json_pretty());
        assert_eq!(rules[1].comment.as_deref(), Some(RUNC_COMMENT));
        let runc = rules[1].syscall_names();
        assert!(runc.contains(&"capset") && !runc.contains(&"futex"), "the run's own calls are not runc's: {runc:?}");
        assert!(RUNC_COMMENT.starts_with("added by --for runc: "));
        let merged = recorded(&["write"], &[]).profile("y", Some(p), false);
        let rules: Vec<&SyscallRule> = merged.rules().collect();
        assert_eq!(rules[0].syscall_names(), ["futex", "read", "write"]);
        assert_eq!(rules[1].comment.as_deref(), Some(RUNC_COMMENT));
        load(&merged);
    }

    #[test]
    fn the_argv_is_quoted_in_the_comment() {
        let argv: Vec<OsString> =
            ["sh", "-c", "echo hi | cat", "it's", "", "a=b/c.d"].iter().map(OsString::from).collect();
        assert_eq!(shell_words(&argv), r#"sh -c 'echo hi | cat' 'it'\''s' '' a=b/c.d"#);
    }

    trait ValueU64 {
        fn value_u64(&self) -> u64;
    }

    impl ValueU64 for ArgSpec {
        fn value_u64(&self) -> u64 {
            self.value.as_ref().and_then(Value::as_u64).unwrap()
        }
    }
}
