//! The lint passes of `supervise check`: pure functions from a parsed [`Profile`] and its resolved [`Policy`] to
//! [`Finding`]s. No I/O; table-tested below.
//!
//! The kernel-side semantics are libseccomp's (which runc and Docker use too), as measured with libseccomp 2.5:
//! - for one syscall, an unconditional rule beats every conditional rule, whatever their order;
//! - of two unconditional rules with different actions, the first one added is kept and the other is dropped;
//! - two rules with the same conditions and different actions make libseccomp fail (runc refuses the profile);
//! - a rule whose action is the default action changes nothing (runc skips it, as `supervise` does).
//!
//! Among `SCMP_ACT_NOTIFY` rules, the supervisor decides with the first rule in profile order whose `args` and
//! matchers hold (docs/policy-format.md).

use std::collections::{BTreeMap, BTreeSet};

use proto::profile::Profile;
use proto::{Action, Arch, ArgCmp, Decision, Policy, Rule};

use proto::paths::has_path_args;

use crate::core::decide::{plan, Plan};
use crate::kernel::syscalls;
use crate::modes::runc;
use crate::modes::syscall_names::{libseccomp_version, suggest};

/// How bad a finding is. Only errors make a file invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
    Note,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

/// One thing `check` has to say about a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// A stable name for CI filters: `unknown-syscall`, `shadowed`, `conflict`, … (docs/record-and-check.md).
    pub code: &'static str,
    /// Index in `syscalls[]` of the rule concerned.
    pub rule: Option<usize>,
    /// Where: `syscalls[3]`, `syscalls[3].args[0]`, `3:14`, or `""` for the whole file.
    pub place: String,
    pub message: String,
    /// A replacement for a misspelt name or key.
    pub suggestion: Option<String>,
}

impl Finding {
    fn new(severity: Severity, code: &'static str, rule: Option<usize>, message: impl Into<String>) -> Finding {
        let place = rule.map(|i| format!("syscalls[{i}]")).unwrap_or_default();
        Finding { severity, code, rule, place, message: message.into(), suggestion: None }
    }

    fn warning(code: &'static str, rule: usize, message: impl Into<String>) -> Finding {
        Finding::new(Severity::Warning, code, Some(rule), message)
    }

    /// `place: message`, or the message alone for the whole file.
    pub fn text(&self) -> String {
        if self.place.is_empty() {
            self.message.clone()
        } else {
            format!("{}: {}", self.place, self.message)
        }
    }
}

/// Linux syscalls newer than some libseccomp releases (5.14 to 6.17): a name that libseccomp does not know but that
/// is listed here is a real syscall that this build skips, not a typo. Docker's default profile lists several.
pub const NEWER_SYSCALLS: &[&str] = &[
    "cachestat",
    "fchmodat2",
    "file_getattr",
    "file_setattr",
    "futex_requeue",
    "futex_wait",
    "futex_wake",
    "getxattrat",
    "listmount",
    "listxattrat",
    "lsm_get_self_attr",
    "lsm_list_modules",
    "lsm_set_self_attr",
    "map_shadow_stack",
    "memfd_secret",
    "mseal",
    "open_tree_attr",
    "process_mrelease",
    "quotactl_fd",
    "removexattrat",
    "riscv_flush_icache",
    "riscv_hwprobe",
    "set_mempolicy_home_node",
    "setxattrat",
    "statmount",
    "uprobe",
    "uretprobe",
];

/// All lint passes over a valid policy.
pub fn lint(profile: &Profile, policy: &Policy, known: &BTreeSet<String>) -> Vec<Finding> {
    let mut out = Vec::new();
    out.extend(lint_keys(profile));
    out.extend(names(profile, policy, known));
    out.extend(default_action_rules(policy));
    let filtered: BTreeSet<usize> = profile
        .rules()
        .enumerate()
        .filter(|(_, r)| r.includes.as_ref().or(r.excludes.as_ref()).is_some_and(|f| *f != Default::default()))
        .map(|(i, _)| i)
        .collect();
    out.extend(overlaps(policy, &filtered));
    out.extend(launcher(policy));
    out.extend(path_decisions(policy));
    out.extend(undecided_notify(profile, policy));
    out
}

/// Keys Docker and runc ignore (often a misspelling that silently drops a setting), and keys written twice in any
/// case (only the last counts).
pub fn lint_keys(profile: &Profile) -> Vec<Finding> {
    profile
        .unknown_keys()
        .iter()
        .map(|k| {
            let hint = k.suggestion.map_or(String::new(), |s| format!("; did you mean {s:?}?"));
            Finding {
                severity: Severity::Warning,
                code: "unknown-key",
                rule: k.rule,
                place: k.place.clone(),
                message: format!("unknown key {:?} is ignored (as Docker and runc ignore it){hint}", k.key),
                suggestion: k.suggestion.map(str::to_string),
            }
        })
        .chain(profile.duplicate_keys().iter().map(|d| {
            let last = d.keys.last().map(String::as_str).unwrap_or_default();
            let all: Vec<String> = d.keys.iter().map(|k| format!("{k:?}")).collect();
            Finding {
                severity: Severity::Warning,
                code: "duplicate-key",
                rule: d.rule,
                place: d.place.clone(),
                message: format!(
                    "key {last:?} is written {} times ({}); the last one wins, as in Docker's decoder, which matches \
                     keys in any case",
                    d.keys.len(),
                    all.join(", ")
                ),
                suggestion: None,
            }
        }))
        .collect()
}

/// True if `name` is a syscall on some arch of the policy (else the filter skips it, as runc does).
fn exists_here(name: &str, policy: &Policy) -> bool {
    policy.arches.iter().any(|&arch| syscalls::number_of(name, arch).is_some())
}

/// Unknown names (with a suggestion), names skipped on this machine's arches, repeated names, and rules none of
/// whose names exist here.
fn names(profile: &Profile, policy: &Policy, known: &BTreeSet<String>) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut skipped = BTreeSet::new();
    let mut newer = BTreeSet::new();
    for (index, rule) in profile.rules().enumerate() {
        let names = rule.syscall_names();
        let mut seen = BTreeSet::new();
        for name in &names {
            if !seen.insert(*name) {
                out.push(Finding::warning("duplicate", index, format!("{name:?} is listed twice")));
            }
            if !known.contains(*name) && NEWER_SYSCALLS.contains(name) {
                newer.insert(name.to_string());
            } else if !known.contains(*name) {
                let suggestion = suggest(name, known);
                let tail = match &suggestion {
                    Some(s) => format!("; did you mean {s:?}?"),
                    None => "; it is skipped".into(),
                };
                let message =
                    format!("{name:?} is unknown on every architecture (to libseccomp {}){tail}", libseccomp_version());
                out.push(Finding { suggestion, ..Finding::warning("unknown-syscall", index, message) });
            } else if !exists_here(name, policy) {
                skipped.insert(name.to_string());
            }
        }
        // A rule for other arches' syscalls is normal in a multi-arch profile (the note covers it); a rule whose
        // names are misspelt, or not syscalls anywhere, is a mistake.
        let applies = policy.rules.iter().any(|r| r.index == index);
        let misspelt = names.iter().any(|n| !known.contains(*n) && !NEWER_SYSCALLS.contains(n));
        if applies && misspelt && names.iter().all(|n| !exists_here(n, policy)) {
            let arches: Vec<String> = policy.arches.iter().map(Arch::to_string).collect();
            let message = format!("can never match: none of its syscalls exists on {}", arches.join(", "));
            out.push(Finding::warning("never-matches", index, message));
        }
    }
    if !newer.is_empty() {
        let newer: Vec<String> = newer.into_iter().collect();
        let message = format!(
            "{} syscalls are newer than libseccomp {} knows and are skipped: {}",
            newer.len(),
            libseccomp_version(),
            newer.join(", ")
        );
        out.push(Finding::new(Severity::Note, "newer-syscall", None, message));
    }
    if !skipped.is_empty() {
        let skipped: Vec<String> = skipped.into_iter().collect();
        let message = format!(
            "{} syscall names do not exist on {} and are skipped, as runc does: {}",
            skipped.len(),
            Arch::native(),
            skipped.join(", ")
        );
        out.push(Finding::new(Severity::Note, "not-on-arch", None, message));
    }
    out
}

/// Rules whose action is the default action: the filter is the same without them.
fn default_action_rules(policy: &Policy) -> Vec<Finding> {
    policy
        .rules
        .iter()
        .filter(|r| r.action == policy.default_action)
        .map(|r| {
            let message = format!("has no effect: {} is also the default action", action_text(r.action));
            Finding::warning("no-effect", r.index, message)
        })
        .collect()
}

/// An action as profiles write it, with its errno or trace data: `SCMP_ACT_ERRNO(13)`.
pub fn action_text(action: Action) -> String {
    match action {
        Action::Errno(e) => format!("SCMP_ACT_ERRNO({})", e.get()),
        Action::Trace(d) => format!("SCMP_ACT_TRACE({d})"),
        other => other.name().to_string(),
    }
}

/// The conditions of a rule as libseccomp sees them: a set of OR-ed AND-groups, order-free.
fn conditions(rule: &Rule) -> BTreeSet<Vec<(u8, String, u64, u64)>> {
    let key = |c: &ArgCmp| (c.index, format!("{:?}", c.op), c.value, c.value_two);
    rule.condition_groups()
        .iter()
        .map(|g| {
            let mut g: Vec<_> = g.iter().map(key).collect();
            g.sort();
            g
        })
        .collect()
}

/// Two rules on one syscall that the kernel or the supervisor treats as the same decision.
fn same_decision(a: &Rule, b: &Rule) -> bool {
    a.action == b.action && a.decision == b.decision && a.matchers == b.matchers
}

/// Findings about one syscall name, grouped so that a rule gets one finding listing all the names concerned.
type Grouped<'p> = BTreeMap<(usize, &'static str, String), (Severity, BTreeSet<&'p str>)>;

/// Adds `name` to the finding of `rule` with this code and message template (`{}` stands for the names).
fn group<'p>(
    out: &mut Grouped<'p>,
    severity: Severity,
    rule: usize,
    code: &'static str,
    template: String,
    name: &'p str,
) {
    out.entry((rule, code, template)).or_insert((severity, BTreeSet::new())).1.insert(name);
}

/// Shadowed, duplicate and conflicting rules, per syscall name. A rule that only repeats another one is not
/// reported when either depends on `includes`/`excludes` (`filtered`): Docker's default profile does that on purpose.
fn overlaps(policy: &Policy, filtered: &BTreeSet<usize>) -> Vec<Finding> {
    let mut by_name: BTreeMap<&str, Vec<&Rule>> = BTreeMap::new();
    for rule in policy.rules.iter().filter(|r| r.action != policy.default_action) {
        let mut once = BTreeSet::new();
        for name in rule.names.iter().filter(|n| once.insert(n.as_str())) {
            by_name.entry(name).or_default().push(rule);
        }
    }
    let mut out = Grouped::new();
    for (&name, rules) in &by_name {
        for (k, &rule) in rules.iter().enumerate() {
            if let Some(o) = overlap(&rules[..k], rules, rule) {
                if o.code == "duplicate" && (filtered.contains(&rule.index) || filtered.contains(&o.other)) {
                    continue;
                }
                group(&mut out, o.severity, rule.index, o.code, o.template, name);
            }
        }
    }
    out.into_iter()
        .map(|((rule, code, template), (severity, names))| {
            let names: Vec<&str> = names.into_iter().collect();
            Finding::new(severity, code, Some(rule), template.replace("{}", &names.join(", ")))
        })
        .collect()
}

/// What is wrong with `rule` for one syscall, given the `earlier` rules and `all` rules for that syscall.
/// One overlap of a rule with another rule (`other`) for one syscall; `{}` in the template stands for the syscalls.
struct Overlap {
    severity: Severity,
    code: &'static str,
    template: String,
    other: usize,
}

fn overlap(earlier: &[&Rule], all: &[&Rule], rule: &Rule) -> Option<Overlap> {
    let found = |severity, code, template, other: &Rule| Some(Overlap { severity, code, template, other: other.index });
    let duplicate =
        |of: &Rule| found(Severity::Warning, "duplicate", format!("duplicate of syscalls[{}] for {{}}", of.index), of);
    // Same conditions: libseccomp refuses a different action, and a second identical rule changes nothing.
    if let Some(twin) = earlier.iter().find(|e| !e.args.is_empty() && conditions(e) == conditions(rule)) {
        if twin.action != rule.action {
            let message = format!(
                "conflicts with syscalls[{}]: same conditions on {{}}, different action ({} vs {}); libseccomp and \
                 runc refuse this",
                twin.index,
                action_text(twin.action),
                action_text(rule.action)
            );
            return found(Severity::Error, "conflict", message, twin);
        }
        if same_decision(twin, rule) {
            return duplicate(twin);
        }
    }
    if rule.action == Action::Notify {
        // Decided in the supervisor, in profile order: an earlier notify rule that always matches wins.
        let always = |r: &&&Rule| r.action == Action::Notify && r.args.is_empty() && r.matchers.is_empty();
        if let Some(first) = earlier.iter().find(always) {
            if same_decision(first, rule) {
                return duplicate(first);
            }
            let message =
                format!("never decides {{}}: syscalls[{}] notifies it unconditionally and comes first", first.index);
            return found(Severity::Warning, "shadowed", message, first);
        }
    }
    // In the kernel, an unconditional rule wins over every conditional one, and the first unconditional one wins.
    let uncond = all.iter().find(|r| r.args.is_empty())?;
    if std::ptr::eq(*uncond, rule) || (uncond.action == Action::Notify && rule.action == Action::Notify) {
        return None;
    }
    if !rule.args.is_empty() {
        let message = format!(
            "never matches {{}}: syscalls[{}] gives it {} unconditionally, and libseccomp keeps the unconditional \
             rule",
            uncond.index,
            action_text(uncond.action)
        );
        return found(Severity::Warning, "shadowed", message, uncond);
    }
    if same_decision(uncond, rule) {
        return duplicate(uncond);
    }
    let message = format!(
        "conflicts with syscalls[{}] for {{}}: both are unconditional; libseccomp keeps the first ({}) and drops this \
         one ({})",
        uncond.index,
        action_text(uncond.action),
        action_text(rule.action)
    );
    found(Severity::Warning, "conflict", message, uncond)
}

/// The supervise launcher's only syscall after loading the filter is the `execve` of the program; runc makes
/// [`runc::RUNC_AFTER_LOAD`] and the Go runtime's [`runc::GO_RUNTIME`].
fn launcher(policy: &Policy) -> Vec<Finding> {
    let mut out = Vec::new();
    let execve_rules: Vec<&Rule> = policy
        .rules
        .iter()
        .filter(|r| r.action != policy.default_action && r.names.iter().any(|n| n == "execve"))
        .collect();
    for rule in execve_rules.iter().filter(|r| r.action == Action::Notify) {
        let denied = matches!(rule.decision.as_ref().unwrap_or(&policy.notify_default), Decision::Deny(_));
        let message = if denied && rule.args.is_empty() && rule.matchers.is_empty() {
            "notifies execve and denies it: the launcher's own execve of the program is denied too, so nothing can \
             start (supervise exits 126)"
        } else {
            "notifies execve: the launcher's own execve of the program is decided by this rule too"
        };
        out.push(Finding::warning("launcher-execve", rule.index, message));
    }
    // What the kernel does with an execve (libseccomp: the first unconditional rule, else the default).
    let (action, rule) = match execve_rules.iter().find(|r| r.args.is_empty()) {
        Some(r) => (r.action, Some(r.index)),
        None if execve_rules.is_empty() => (policy.default_action, None),
        None => (Action::Allow, None), // Depends on the arguments.
    };
    if matches!(action, Action::Errno(_) | Action::KillThread | Action::KillProcess | Action::Trap | Action::Trace(_)) {
        let whose = if rule.is_some() { "this rule's" } else { "the default" };
        let message = format!(
            "execve gets {whose} {}: no program can start under this policy (supervise exits 126)",
            action_text(action)
        );
        out.push(Finding::new(Severity::Warning, "launcher-execve", rule, message));
    }
    if policy.listener_path.is_some() {
        for rule in policy.rules.iter().filter(|r| r.action == Action::Notify) {
            let hit: Vec<&str> = rule.names.iter().map(String::as_str).filter(|n| runc::runc_calls(n)).collect();
            if hit.is_empty() {
                continue;
            }
            let mut message = format!(
                "notifies {}, which runc itself makes after it loads the filter: the agent at listenerPath decides \
                 them too, and the container does not start if it denies them",
                hit.join(", ")
            );
            if hit.contains(&"write") {
                message.push_str("; runc refuses SCMP_ACT_NOTIFY on write outright");
            }
            out.push(Finding::warning("runc-notify", rule.index, message));
        }
    }
    out
}

/// Decisions that rest on a pointer argument and are carried out with CONTINUE are advisory (docs/security.md).
/// Which calls supervise performs itself instead is what [`plan`] says for an allow that rested on a path, as the
/// notify loop does.
fn path_decisions(policy: &Policy) -> Vec<Finding> {
    let performed = |name: &str| plan(&Decision::Allow, name, true) == Plan::PerformPath;
    let mut out = Vec::new();
    for rule in policy.rules.iter().filter(|r| r.action == Action::Notify) {
        let continued: Vec<&str> =
            rule.names.iter().map(String::as_str).filter(|n| has_path_args(n) && !performed(n)).collect();
        if continued.is_empty() {
            continue;
        }
        let decision = rule.decision.as_ref().unwrap_or(&policy.notify_default);
        if !rule.matchers.paths.is_empty() {
            let message = format!(
                "decides {} on their paths, but they are carried out with CONTINUE after the check: the program can \
                 change the path in between, so this rule is advisory (docs/security.md)",
                continued.join(", ")
            );
            out.push(Finding::warning("advisory-path", rule.index, message));
        } else if matches!(decision, Decision::Prompt(_)) {
            let message = format!(
                "prompts for {}: the question shows the path, but the answer is carried out with CONTINUE, so a \
                 decision resting on the path is advisory (docs/security.md)",
                continued.join(", ")
            );
            out.push(Finding::new(Severity::Note, "advisory-path", Some(rule.index), message));
        }
    }
    out
}

/// Notify rules without a `supervise` decision get the profile-wide default.
fn undecided_notify(profile: &Profile, policy: &Policy) -> Vec<Finding> {
    if profile.supervise.is_some() {
        return Vec::new();
    }
    policy
        .rules
        .iter()
        .filter(|r| r.action == Action::Notify && r.decision.is_none())
        .map(|r| {
            let message = "SCMP_ACT_NOTIFY without a \"supervise\" decision: supervise denies these calls with EPERM \
                           (add \"supervise\": {\"decision\": …})";
            Finding::new(Severity::Note, "no-decision", Some(r.index), message)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modes::policy_file::this_machine;
    use crate::modes::syscall_names::known_syscalls;

    fn findings(json: &str) -> Vec<Finding> {
        let profile = proto::profile::parse(json).expect("parses");
        let policy = profile.resolve(&this_machine()).expect("resolves");
        lint(&profile, &policy, &known_syscalls())
    }

    fn codes(json: &str) -> Vec<(Option<usize>, &'static str)> {
        findings(json).iter().map(|f| (f.rule, f.code)).collect()
    }

    #[test]
    fn typos_get_a_suggestion() {
        let known = known_syscalls();
        assert!(known.contains("mkdir") && known.contains("socketcall") && known.contains("clock_settime64"));
        assert!(known.contains("arm_fadvise64_64") && known.contains("s390_pci_mmio_read"));
        let f = findings(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["mkdri","mkdir"],"action":"SCMP_ACT_ERRNO"},
            {"names":["zzzzzzzzzzzz"],"action":"SCMP_ACT_LOG"}]}"#,
        );
        let unknown: Vec<&Finding> = f.iter().filter(|f| f.code == "unknown-syscall").collect();
        assert_eq!(unknown.len(), 2, "{f:?}");
        assert!(unknown[0].message.contains("did you mean \"mkdir\"?"), "{}", unknown[0].message);
        assert_eq!(unknown[0].suggestion.as_deref(), Some("mkdir"));
        assert!(unknown[1].message.contains("unknown on every architecture"), "{}", unknown[1].message);
        assert!(f.iter().any(|f| f.code == "never-matches" && f.rule == Some(1)), "{f:?}");
    }

    #[test]
    fn lints_find_what_they_should() {
        let allow = r#""defaultAction":"SCMP_ACT_LOG""#;
        let eq7 = r#""args":[{"index":1,"value":7,"op":"SCMP_CMP_EQ"}]"#;
        type Case = (String, Vec<(Option<usize>, &'static str)>);
        let cases: Vec<Case> = vec![
            (format!(r#"{{{allow},"syscalls":[{{"names":["read"],"action":"SCMP_ACT_ALLOW"}}]}}"#), vec![]),
            // A conditional rule after (or before) an unconditional one for the same syscall.
            (
                format!(
                    r#"{{{allow},"syscalls":[{{"names":["mkdir"],"action":"SCMP_ACT_ALLOW"}},
                    {{"names":["mkdir"],"action":"SCMP_ACT_KILL",{eq7}}}]}}"#
                ),
                vec![(Some(1), "shadowed")],
            ),
            (
                format!(
                    r#"{{{allow},"syscalls":[{{"names":["mkdir"],"action":"SCMP_ACT_KILL",{eq7}}},
                    {{"names":["mkdir"],"action":"SCMP_ACT_ALLOW"}}]}}"#
                ),
                vec![(Some(0), "shadowed")],
            ),
            // Two unconditional rules with different actions; the same rule twice.
            (
                format!(
                    r#"{{{allow},"syscalls":[{{"names":["mkdir","read"],"action":"SCMP_ACT_ALLOW"}},
                    {{"names":["mkdir"],"action":"SCMP_ACT_KILL"}},{{"names":["read"],"action":"SCMP_ACT_ALLOW"}}]}}"#
                ),
                vec![(Some(1), "conflict"), (Some(2), "duplicate")],
            ),
            // Same conditions, different actions: libseccomp refuses it.
            (
                format!(
                    r#"{{{allow},"syscalls":[{{"names":["mkdir"],"action":"SCMP_ACT_ALLOW",{eq7}}},
                    {{"names":["mkdir"],"action":"SCMP_ACT_TRAP",{eq7}}}]}}"#
                ),
                vec![(Some(1), "conflict")],
            ),
            // A rule with the default action; a name listed twice; a rule that exists on no arch here.
            (
                format!(
                    r#"{{{allow},"syscalls":[{{"names":["mkdir"],"action":"SCMP_ACT_LOG"}},
                    {{"names":["read","read","execve"],"action":"SCMP_ACT_ALLOW"}},
                    {{"names":["arm_fadvise64_64"],"action":"SCMP_ACT_ALLOW"}}]}}"#
                ),
                vec![(Some(1), "duplicate"), (None, "not-on-arch"), (Some(0), "no-effect")],
            ),
            // The launcher's execve: notified, or denied by default.
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["execve"],"action":"SCMP_ACT_NOTIFY",
                    "supervise":{"decision":"allow"}}]}"#
                    .into(),
                vec![(Some(0), "launcher-execve")],
            ),
            (r#"{"defaultAction":"SCMP_ACT_ERRNO"}"#.into(), vec![(None, "launcher-execve")]),
            // Path decisions carried out with CONTINUE; notify without a decision; unknown keys.
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                    {"names":["chdir","mkdir"],"action":"SCMP_ACT_NOTIFY",
                     "supervise":{"decision":"deny","paths":["/etc/**"]}},
                    {"names":["mkdir"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"allow","paths":["/tmp/**"]}},
                    {"names":["chmod"],"action":"SCMP_ACT_NOTIFY","acton":"x"}]}"#
                    .into(),
                vec![(Some(2), "unknown-key"), (Some(0), "advisory-path"), (Some(2), "no-decision")],
            ),
            // Notify rules: the first unconditional one decides.
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","supervise":{"decision":"deny"},"syscalls":[
                    {"names":["mkdir"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"allow","paths":["/tmp/**"]}},
                    {"names":["mkdir"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"deny"}},
                    {"names":["mkdir"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"allow"}}]}"#
                    .into(),
                vec![(Some(2), "shadowed")],
            ),
            // runc needs these after loading the filter.
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/s.sock","syscalls":[
                    {"names":["write","mkdir"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"allow"}}]}"#
                    .into(),
                vec![(Some(0), "runc-notify")],
            ),
        ];
        for (json, want) in cases {
            let mut got = codes(&json);
            let mut want = want;
            got.sort();
            want.sort();
            assert_eq!(got, want, "{json}\n{:#?}", findings(&json));
        }
    }

    #[test]
    fn shipped_policies_have_no_warnings() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let warnings: Vec<String> = findings(&text)
                .into_iter()
                .filter(|f| f.severity != Severity::Note && f.code != "advisory-path")
                .map(|f| f.text())
                .collect();
            assert!(warnings.is_empty(), "{}: {warnings:#?}", path.display());
        }
    }
}
