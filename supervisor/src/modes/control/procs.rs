//! The processes of a target, as `supervise ps` shows them: a root process and its descendants, found by walking
//! `/proc/*/stat`'s parent links, with `/proc/PID/status`'s `State:`, `Seccomp:` and `Seccomp_filters:`.
//!
//! In run mode the root is supervise itself: it is a child subreaper, so everything the program starts, orphans
//! included, stays below it (the launcher's short-lived helper too). Under `serve` the root is the container
//! process the runtime named; a process that a container reparents outside that tree (to the container's own
//! init, when the runtime named another process) is not found.

use std::collections::HashMap;

use crate::kernel::proc;
use crate::modes::control::protocol::Process;

/// The most processes listed for one target.
pub const MAX_PROCESSES: usize = 4096;

/// `root` (unless `include_root` is false) and its descendants, in tree order (parents first, pids ascending).
pub fn tree(root: u32, include_root: bool) -> Vec<Process> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for pid in proc::pids() {
        let Ok(pid) = u32::try_from(pid) else { continue };
        if let Some((ppid, _)) = proc::stat(&pid.to_string()).as_deref().and_then(parse_stat) {
            children.entry(ppid).or_default().push(pid);
        }
    }
    children.values_mut().for_each(|c| c.sort_unstable());
    let mut order = Vec::new();
    let mut stack = vec![root];
    while let Some(pid) = stack.pop() {
        if order.len() > MAX_PROCESSES {
            break;
        }
        order.push(pid);
        if let Some(kids) = children.get(&pid) {
            stack.extend(kids.iter().rev());
        }
    }
    order.into_iter().filter(|&pid| include_root || pid != root).filter_map(describe).collect()
}

/// One process, or `None` if it is gone.
pub fn describe(pid: u32) -> Option<Process> {
    let (ppid, _) = parse_stat(&proc::stat(&pid.to_string())?)?;
    let status = proc::status(pid)?;
    let field = |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).map(str::trim);
    let number = |name: &str| field(name).and_then(|v| v.parse::<u32>().ok());
    // "S (sleeping)" → "sleeping".
    let state = field("State:").map_or("?", |s| s.split_once('(').map_or(s, |(_, rest)| rest.trim_end_matches(')')));
    Some(Process {
        pid,
        ppid,
        exe: proc::exe(pid).map_or_else(|| "?".into(), |p| p.display().to_string()),
        state: state.to_string(),
        seccomp: number("Seccomp:"),
        seccomp_filters: number("Seccomp_filters:"),
    })
}

/// The parent pid and state letter of a `/proc/PID/stat` line. The name (field 2) may hold spaces and
/// parentheses: the fields after it start after the last `)`.
fn parse_stat(stat: &str) -> Option<(u32, char)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((ppid, state))
}

/// `Seccomp:` as a word.
pub fn seccomp_mode(mode: Option<u32>) -> &'static str {
    match mode {
        Some(0) => "disabled",
        Some(1) => "strict",
        Some(2) => "filter",
        _ => "?",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_names_parse() {
        assert_eq!(parse_stat("42 (sh) S 7 42 42 0"), Some((7, 'S')));
        assert_eq!(parse_stat("42 (a) b) (c) R 1 2 3"), Some((1, 'R')));
        assert_eq!(parse_stat("42 (x"), None);
    }

    #[test]
    fn a_child_is_found_below_us_with_its_seccomp_mode() {
        let mut child = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        let me = std::process::id();
        let found = tree(me, true);
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(found[0].pid, me);
        let sleep = found.iter().find(|p| p.pid == child.id()).expect("the child is listed");
        assert_eq!(sleep.ppid, me);
        assert!(sleep.exe.ends_with("sleep"), "{sleep:?}");
        assert!(sleep.seccomp.is_some() && !sleep.state.is_empty(), "{sleep:?}");
        assert!(tree(me, false).iter().all(|p| p.pid != me));
    }
}
