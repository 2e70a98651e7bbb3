//! `supervise check FILE…`: validate policies without running anything.
//!
//! Each file is parsed, resolved for this machine and compiled to BPF exactly as `supervise --policy` would, then
//! linted ([`lint`]). A valid file gets a short summary (architectures, rule counts per action, notified syscalls)
//! on stdout; an invalid one gets every error with its place on stderr; warnings and notes go to stderr too. The
//! exit status is 0 when every file is valid, 1 otherwise (`--strict`: warnings count as errors).
//!
//! `--format json` prints one JSON document for CI ([`Report::to_json`]); `--bpf` adds libseccomp's PFC export of
//! the compiled filter, so users see what the kernel gets. `--explain` says which rule decides a call ([`explain`]).

pub mod exe;
pub mod explain;
pub mod lint;
pub mod reroute;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use proto::profile::Profile;
use proto::{Action, Arch, Policy};
use serde_json::{json, Value};

use crate::modes::exit::{Failure, EXIT_INVALID};
use crate::modes::policy_file::{explain_compile_error, this_machine, Source};
use crate::modes::syscall_names::known_syscalls;
use lint::{Finding, Severity};

/// How `check` prints its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Summaries on stdout; errors, warnings and notes on stderr, one per line.
    #[default]
    Text,
    /// One JSON document on stdout.
    Json,
}

/// `check` options.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    pub files: Vec<PathBuf>,
    pub format: Format,
    /// Print the compiled filter (libseccomp's PFC).
    pub bpf: bool,
    /// Treat warnings as errors.
    pub strict: bool,
}

/// What `check` found in one file.
#[derive(Debug, Clone)]
pub struct Report {
    pub name: String,
    /// The summary of a valid file.
    pub summary: Option<Summary>,
    /// Errors, warnings and notes, errors first.
    pub findings: Vec<Finding>,
    /// libseccomp's PFC of the filter, with `--bpf`.
    pub pfc: Option<String>,
}

/// The short description of a valid policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub default_action: &'static str,
    pub arches: Vec<String>,
    /// Rules that apply to this machine, per action.
    pub per_action: BTreeMap<&'static str, usize>,
    pub rules: usize,
    /// Rules that `includes`/`excludes` leave out here.
    pub not_applying: usize,
    pub notified: Vec<String>,
}

impl Report {
    pub fn valid(&self) -> bool {
        self.summary.is_some() && !self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    fn count(&self, severity: Severity) -> usize {
        self.findings.iter().filter(|f| f.severity == severity).count()
    }

    /// The report as JSON: `{file, valid, summary, errors, warnings, notes, pfc}`.
    pub fn to_json(&self) -> Value {
        let list = |severity: Severity| -> Vec<Value> {
            self.findings
                .iter()
                .filter(|f| f.severity == severity)
                .map(|f| {
                    json!({
                        "code": f.code,
                        "place": f.place,
                        "rule": f.rule,
                        "message": f.message,
                        "suggestion": f.suggestion,
                    })
                })
                .collect()
        };
        let summary = self.summary.as_ref().map(|s| {
            json!({
                "defaultAction": s.default_action,
                "architectures": s.arches,
                "rules": s.rules,
                "rulesPerAction": s.per_action,
                "rulesNotApplying": s.not_applying,
                "notified": s.notified,
            })
        });
        let mut v = json!({
            "file": self.name,
            "valid": self.valid(),
            "summary": summary,
            "errors": list(Severity::Error),
            "warnings": list(Severity::Warning),
            "notes": list(Severity::Note),
        });
        if let Some(pfc) = &self.pfc {
            v["pfc"] = Value::from(pfc.as_str());
        }
        v
    }
}

/// Checks each file and prints the report.
///
/// # Errors
/// A [`Failure`] with status 1 when some file is invalid (or, with `strict`, has warnings); its errors are already
/// printed.
pub fn check(options: &CheckOptions) -> Result<i32, Failure> {
    let known = known_syscalls();
    let reports: Vec<Report> = options.files.iter().map(|file| check_file(file, &known, options.bpf)).collect();
    match options.format {
        Format::Text => {
            for report in &reports {
                print_text(report);
            }
        }
        Format::Json => {
            let valid = reports.iter().all(Report::valid);
            let doc = json!({ "valid": valid, "files": reports.iter().map(Report::to_json).collect::<Vec<_>>() });
            out(&serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
    }
    let invalid = reports.iter().filter(|r| !r.valid()).count();
    let warned = reports.iter().filter(|r| r.valid() && r.count(Severity::Warning) > 0).count();
    if invalid > 0 {
        let line = format!("{invalid} of {} policies invalid", reports.len());
        return Err(Failure::new(EXIT_INVALID, line));
    }
    if options.strict && warned > 0 {
        let line = format!("{warned} of {} policies have warnings (--strict)", reports.len());
        return Err(Failure::new(EXIT_INVALID, line));
    }
    Ok(0)
}

/// Parses, resolves, compiles and lints one file.
pub fn check_file(file: &std::path::Path, known: &BTreeSet<String>, bpf: bool) -> Report {
    let mut report = Report { name: file.display().to_string(), summary: None, findings: Vec::new(), pfc: None };
    let source = match Source::open(Some(file)) {
        Ok(source) => source,
        Err(line) => {
            report.findings.push(whole_file_error(&report.name, &line));
            return report;
        }
    };
    let profile = match proto::profile::parse(&source.text) {
        Ok(profile) => profile,
        Err(errors) => {
            report.findings.extend(errors.iter().map(error_finding));
            return report;
        }
    };
    let policy = match profile.resolve(&this_machine()) {
        Ok(policy) if !crate::modes::policy_file::unenforced(&policy).is_empty() => {
            let refused = crate::modes::policy_file::unenforced(&policy);
            report.findings.extend(refused.iter().map(error_finding));
            return report;
        }
        Ok(policy) => policy,
        Err(errors) => {
            report.findings.extend(errors.iter().map(error_finding));
            // Unknown keys often explain an error (a misspelt "action"): show them too.
            report.findings.extend(lint::lint_keys(&profile));
            return report;
        }
    };
    let mut findings = lint::lint(&profile, &policy, known);
    findings.extend(exe::lint(&policy));
    // Compile as `supervise --policy` would, unless the lints already found why libseccomp would refuse it.
    if !findings.iter().any(|f| f.severity == Severity::Error) {
        match agent::filter::compile(&policy) {
            Ok(compiled) => {
                findings.extend(reroute::lint(&policy, compiled.bpf.insns()));
                if bpf {
                    match agent::filter::pfc(&policy) {
                        Ok(pfc) => report.pfc = Some(pfc),
                        Err(e) => findings.push(compile_error(&e, &profile)),
                    }
                }
            }
            Err(e) => findings.push(compile_error(&e, &profile)),
        }
    }
    findings.sort_by_key(|f| f.severity);
    report.findings = findings;
    report.summary = Some(summarize(&profile, &policy));
    report
}

fn whole_file_error(name: &str, line: &str) -> Finding {
    // `Source::open` prefixes its message with the file name.
    let message = line.strip_prefix(name).and_then(|m| m.strip_prefix(": ")).unwrap_or(line);
    Finding {
        severity: Severity::Error,
        code: "unreadable",
        rule: None,
        place: String::new(),
        message: message.to_string(),
        suggestion: None,
    }
}

fn error_finding(e: &proto::profile::PolicyError) -> Finding {
    let code = if e.line_col().is_some() { "syntax" } else { "invalid" };
    Finding {
        severity: Severity::Error,
        code,
        rule: e.rule_index(),
        place: e.place(),
        message: e.message().to_string(),
        suggestion: None,
    }
}

/// libseccomp's refusal, with the rule's action and its value (an errno libseccomp cannot encode, …).
fn compile_error(e: &agent::filter::FilterError, profile: &Profile) -> Finding {
    let (rule, message) = explain_compile_error(e, profile);
    let message = match e {
        agent::filter::FilterError::TooLarge { .. } => message,
        _ => format!("libseccomp refuses the filter: {message}"),
    };
    Finding { severity: Severity::Error, code: "compile", rule, place: String::new(), message, suggestion: None }
}

fn summarize(profile: &Profile, policy: &Policy) -> Summary {
    let mut per_action: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut notified = BTreeSet::new();
    for rule in &policy.rules {
        *per_action.entry(rule.action.name()).or_default() += 1;
        if rule.action == Action::Notify {
            // Only real syscalls: a misspelt or foreign name is skipped by the filter (and `lint` warns about it).
            let real = |name: &&String| {
                policy.arches.iter().any(|&arch| crate::kernel::syscalls::number_of(name, arch).is_some())
            };
            notified.extend(rule.names.iter().filter(real).cloned());
        }
    }
    Summary {
        default_action: policy.default_action.name(),
        arches: policy.arches.iter().map(Arch::to_string).collect(),
        per_action,
        rules: policy.rules.len(),
        not_applying: profile.rules().count() - policy.rules.len(),
        notified: notified.into_iter().collect(),
    }
}

/// The one-paragraph summary of a valid policy.
pub fn summary_text(name: &str, s: &Summary) -> String {
    let counts: Vec<String> = s.per_action.iter().map(|(action, n)| format!("{action} {n}")).collect();
    let mut rules = format!("{} ({})", s.rules, if counts.is_empty() { "none".into() } else { counts.join(", ") });
    if s.not_applying > 0 {
        rules.push_str(&format!("; {} more do not apply here (includes/excludes)", s.not_applying));
    }
    format!(
        "{name}: ok\n  default action: {}\n  architectures: {}\n  rules: {rules}\n  notified syscalls: {}",
        s.default_action,
        s.arches.join(", "),
        if s.notified.is_empty() { "none".into() } else { s.notified.join(", ") },
    )
}

/// A line on stdout. A closed stdout (`supervise check … | head`) is not an error worth a report.
fn out(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

fn print_text(report: &Report) {
    if let Some(summary) = report.summary.as_ref().filter(|_| report.valid()) {
        out(&summary_text(&report.name, summary));
    }
    for f in &report.findings {
        match f.severity {
            // Errors read as every other policy error: `supervise: FILE:PLACE: message` (syntax) or `FILE: …`.
            Severity::Error if f.code == "syntax" => eprintln!("supervise: {}:{}: {}", report.name, f.place, f.message),
            Severity::Error => eprintln!("supervise: {}: {}", report.name, f.text()),
            other => eprintln!("supervise: {}: {}: {}", report.name, other.name(), f.text()),
        }
    }
    if let Some(pfc) = &report.pfc {
        out(pfc.trim_end());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(json: &str) -> Report {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        std::fs::write(&path, json).unwrap();
        check_file(&path, &known_syscalls(), true)
    }

    #[test]
    fn valid_files_get_a_summary_and_the_filter() {
        let r = report(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY",
                "supervise":{"decision":"deny"}},{"names":["reboot"],"action":"SCMP_ACT_ERRNO"}]}"#,
        );
        assert!(r.valid(), "{r:?}");
        let s = r.summary.as_ref().unwrap();
        assert_eq!((s.rules, s.not_applying, s.notified.clone()), (2, 0, vec!["mkdir".to_string()]));
        let text = summary_text("p.json", s);
        assert!(text.contains("rules: 2 (SCMP_ACT_ERRNO 1, SCMP_ACT_NOTIFY 1)"), "{text}");
        assert!(r.pfc.as_deref().unwrap().contains("if ($syscall == 83)"), "{:?}", r.pfc);
        let v = r.to_json();
        assert_eq!((v["valid"].as_bool(), v["summary"]["rules"].as_u64()), (Some(true), Some(2)));
    }

    #[test]
    fn invalid_files_list_every_error_with_its_place() {
        let r = report(r#"{"defaultAction":"SCMP_ACT_NOPE","syscalls":[{"names":["mkdir"],"acton":"x"}]}"#);
        assert!(!r.valid());
        let texts: Vec<String> = r.findings.iter().map(Finding::text).collect();
        assert!(texts.iter().any(|t| t.starts_with("defaultAction: ") && t.contains("SCMP_ACT_NOPE")), "{texts:?}");
        assert!(texts.iter().any(|t| t.starts_with("syscalls[0] (mkdir): ")), "{texts:?}");
        assert!(texts.iter().any(|t| t.contains("did you mean \"action\"")), "{texts:?}");
        let r = report("{\n  \"defaultAction\": }");
        assert_eq!((r.findings[0].code, r.findings[0].place.as_str()), ("syntax", "2:20"));
        assert_eq!(r.to_json()["errors"][0]["place"], "2:20");
    }

    #[test]
    fn libseccomp_refusals_are_errors() {
        let r = report(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {"names":["mkdir"],"action":"SCMP_ACT_ERRNO","args":[{"index":1,"value":1,"op":"SCMP_CMP_EQ"}]},
                {"names":["mkdir"],"action":"SCMP_ACT_KILL","args":[{"index":1,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
        );
        assert!(!r.valid());
        assert_eq!(r.findings[0].code, "conflict");
    }
}
