//! `supervise ps`: every running supervise of this user (found through the control sockets' directory,
//! `modes::control::dir`), with its command, policy and uptime; per target its processes (pid, state, seccomp mode
//! and filter count, executable), its decisions per syscall and decision; and the prompts waiting. `--format json`
//! gives the same as one JSON document. Stale sockets met on the way are removed.
//!
//! Exit status: 0, or 1 if some supervise could not be asked (each named on stderr, and in the JSON's `errors`).

use std::fmt::Write;

use serde::Serialize;

use crate::modes::control::client::{error_chain, running, Session};
use crate::modes::control::dir::runtime_dirs;
use crate::modes::control::procs::seccomp_mode;
use crate::modes::control::protocol::{Format, Status, TargetStatus};
use crate::modes::exit::{Failure, EXIT_FAILURE};

/// The JSON document of `ps --format json`.
#[derive(Debug, Serialize)]
pub struct Listing {
    pub supervisors: Vec<Status>,
    /// The supervisors that could not be asked, and why.
    pub errors: Vec<Unreachable>,
}

/// A supervise that could not be asked.
#[derive(Debug, Serialize)]
pub struct Unreachable {
    pub pid: u32,
    pub error: String,
}

/// Lists the running supervisors; returns the exit status.
///
/// # Errors
/// A [`Failure`] if stdout cannot be written.
pub fn ps(format: Format) -> Result<i32, Failure> {
    let dirs = runtime_dirs();
    for dir in &dirs {
        if let Err(e) = std::fs::read_dir(dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(Failure::new(
                    EXIT_FAILURE,
                    format!("cannot read the control sockets' directory {}: {e}", dir.display()),
                ));
            }
        }
    }
    let dir = &dirs[0];
    let mut listing = Listing { supervisors: Vec::new(), errors: Vec::new() };
    for found in running(&dirs) {
        let pid = found.pid;
        match Session::open(found).and_then(|mut session| session.status()) {
            Ok(status) => listing.supervisors.push(status),
            Err(e) => listing.errors.push(Unreachable { pid, error: error_chain(&e) }),
        }
    }
    let text = match format {
        Format::Json => format!("{}\n", serde_json::to_string_pretty(&listing).unwrap_or_default()),
        Format::Text if listing.supervisors.is_empty() && listing.errors.is_empty() => {
            format!("no supervise is running (control sockets: {})\n", dir.display())
        }
        Format::Text => listing.supervisors.iter().map(text).collect::<Vec<_>>().join("\n"),
    };
    print(&text)?;
    for e in &listing.errors {
        crate::logging::eprint_line(&format!("supervise: cannot ask supervise {}: {}", e.pid, e.error));
    }
    Ok(if listing.errors.is_empty() { 0 } else { EXIT_FAILURE_LISTING })
}

/// `ps`'s status when some supervise could not be asked.
pub const EXIT_FAILURE_LISTING: i32 = 1;

/// Writes to stdout; a closed stdout (`| head`) is not an error.
pub fn print(text: &str) -> Result<(), Failure> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::new(EXIT_FAILURE, format!("cannot write to stdout: {e}"))),
    }
}

/// One supervise as text.
pub fn text(s: &Status) -> String {
    let mut out = String::new();
    let argv: Vec<std::ffi::OsString> = s.command.iter().map(Into::into).collect();
    let command = crate::core::prompt::render::clean(&crate::modes::shell_words::shell_words(&argv));
    let _ = writeln!(out, "supervise {} ({}, up {}): {command}", s.pid, s.mode, uptime(s.uptime_secs));
    let _ = writeln!(out, "  policy: {}", s.policy.as_deref().unwrap_or("built-in (Docker's default)"));
    if s.targets.is_empty() {
        let _ = writeln!(out, "  no container yet");
    }
    for target in &s.targets {
        target_text(&mut out, target);
    }
    if s.mode == "run" {
        match (&s.prompts.shown, s.prompts.pending) {
            (Some(shown), n) => {
                let _ = writeln!(out, "  prompts: {n} waiting; shown: {shown}");
            }
            (None, _) => {
                let _ = writeln!(out, "  prompts: none waiting");
            }
        }
    }
    out
}

fn target_text(out: &mut String, t: &TargetStatus) {
    let indent = if let Some(c) = &t.container {
        let mut who = format!("  container {}", c.id);
        let named: Vec<String> = [("pod", &c.pod), ("namespace", &c.namespace), ("container", &c.name)]
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} {v}")))
            .collect();
        if !named.is_empty() {
            let _ = write!(who, " ({})", named.join(", "));
        }
        let _ = writeln!(out, "{who}, process {}", t.pid);
        "    "
    } else {
        "  "
    };
    let _ = writeln!(out, "{indent}{:>7} {:>7}  {:<9} {:<18} EXE", "PID", "PPID", "STATE", "SECCOMP");
    for p in &t.processes {
        let seccomp = match p.seccomp_filters {
            Some(n) => format!("{} ({n} filter{})", seccomp_mode(p.seccomp), if n == 1 { "" } else { "s" }),
            None => seccomp_mode(p.seccomp).to_string(),
        };
        let exe = crate::core::prompt::render::clean(&p.exe);
        let _ = writeln!(out, "{indent}{:>7} {:>7}  {:<9} {seccomp:<18} {exe}", p.pid, p.ppid, p.state);
    }
    if t.processes.is_empty() {
        let _ = writeln!(out, "{indent}(no process left)");
    }
    if t.decisions.is_empty() {
        let _ = writeln!(out, "{indent}decisions: none yet");
        return;
    }
    let _ = writeln!(out, "{indent}decisions:");
    let mut i = 0;
    while i < t.decisions.len() {
        let first = &t.decisions[i];
        let same: Vec<String> = t.decisions[i..]
            .iter()
            .take_while(|c| c.syscall == first.syscall && c.arch == first.arch)
            .map(|c| format!("{} {}", c.decision, c.count))
            .collect();
        let arch =
            if first.arch == proto::Arch::native().to_string() { String::new() } else { format!(" ({})", first.arch) };
        let _ = writeln!(out, "{indent}  {}{arch}: {}", first.syscall, same.join(", "));
        i += same.len();
    }
}

/// `3s`, `4m05s`, `2h03m`, `3d04h`.
pub fn uptime(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s if s < 86400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        s => format!("{}d{:02}h", s / 86400, s % 86400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modes::control::protocol::{Container, Count, Process, PromptStatus};

    #[test]
    fn uptimes_read_naturally() {
        for (secs, want) in [(3, "3s"), (245, "4m05s"), (7380, "2h03m"), (273_600, "3d04h")] {
            assert_eq!(uptime(secs), want);
        }
    }

    #[test]
    fn a_serve_status_shows_each_container_with_its_names_processes_and_counts() {
        let native = proto::Arch::native().to_string();
        let status = Status {
            pid: 10,
            mode: "serve".into(),
            command: vec!["supervise".into(), "serve".into(), "--socket".into(), "/run/s.sock".into()],
            policy: Some("/etc/p.json".into()),
            started: 0,
            uptime_secs: 65,
            targets: vec![TargetStatus {
                container: Some(Container {
                    id: "c1".into(),
                    pod: Some("web-0".into()),
                    namespace: Some("default".into()),
                    name: None,
                }),
                pid: 11,
                processes: vec![Process {
                    pid: 11,
                    ppid: 9,
                    exe: "/bin/sh".into(),
                    state: "sleeping".into(),
                    seccomp: Some(2),
                    seccomp_filters: Some(1),
                }],
                decisions: vec![
                    Count { syscall: "mkdir".into(), arch: native.clone(), decision: "allow".into(), count: 2 },
                    Count { syscall: "mkdir".into(), arch: native, decision: "deny".into(), count: 1 },
                ],
            }],
            prompts: PromptStatus::default(),
        };
        let out = text(&status);
        assert!(out.starts_with("supervise 10 (serve, up 1m05s): supervise serve --socket /run/s.sock\n"), "{out}");
        assert!(out.contains("  container c1 (pod web-0, namespace default), process 11\n"), "{out}");
        assert!(out.contains("sleeping  filter (1 filter)  /bin/sh\n"), "{out}");
        assert!(out.contains("    decisions:\n      mkdir: allow 2, deny 1\n"), "{out}");
        assert!(!out.contains("prompts"), "{out}");
    }
}
