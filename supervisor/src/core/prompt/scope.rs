//! What an "always" answer covers (its [`Scope`]) and for how long ([`Lasting`]), and the answers remembered in a
//! run ([`Memory`]). Pure: no terminal, no clock of its own (the time is passed in).
//!
//! Scopes, narrowest first:
//! - [`Scope::Paths`]: exactly the path(s) the question showed (resolved as the kernel resolves them);
//! - [`Scope::Under`]: a directory and everything below it, the directory itself included (by default the
//!   directory of the path shown; the person can move it up);
//! - [`Scope::Any`]: any path, or any arguments, for this syscall.
//!
//! Every scope is also limited to the executable and the syscall that asked. When a question names several paths
//! (`rename`, `link`), an allowing answer covers a later call only if it covers **all** its paths, a denying one if it
//! covers **any**, as the policy's `paths` matcher does.
//!
//! Network calls: their addresses are not decoded yet, so they have only [`Scope::Any`]. Once they are,
//! "this address and port" and "this host" belong here as scopes of their own, next to `Paths` and `Under`, with
//! their saved form in `save.rs` (the rule's matcher) and their key in `render.rs`.

use std::time::Duration;

use tokio::time::Instant;

/// What an answer covers, beyond its executable and syscall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Exactly these paths.
    Paths(Vec<String>),
    /// These directories and everything below them (the directories included).
    Under(Vec<String>),
    /// Any path (or any arguments).
    Any,
}

impl Scope {
    /// True if the scope covers a call on `paths`: all of them for an allowing answer, any for a denying one. A
    /// call without paths is covered only by [`Scope::Any`].
    pub fn covers(&self, paths: &[String], allow: bool) -> bool {
        let one = |p: &String| match self {
            Scope::Paths(list) => list.contains(p),
            Scope::Under(dirs) => dirs.iter().any(|d| under(p, d)),
            Scope::Any => true,
        };
        match self {
            Scope::Any => true,
            _ if paths.is_empty() => false,
            _ if allow => paths.iter().all(one),
            _ => paths.iter().any(one),
        }
    }

    /// Narrower scopes win over wider ones: exact paths, then the deepest directory, then any path.
    fn specificity(&self) -> (u8, usize) {
        match self {
            Scope::Paths(_) => (2, 0),
            Scope::Under(dirs) => (1, dirs.iter().map(|d| d.len()).min().unwrap_or(0)),
            Scope::Any => (0, 0),
        }
    }

    /// For people: `/tmp/a`, `under /tmp/build/`, `any path`.
    pub fn describe(&self) -> String {
        match self {
            Scope::Paths(paths) => paths.join(" and "),
            Scope::Under(dirs) => {
                let dirs: Vec<String> = dirs.iter().map(|d| slash(d)).collect();
                format!("under {}", dirs.join(" and "))
            }
            Scope::Any => "any path".to_string(),
        }
    }
}

/// `dir` with a trailing slash.
pub fn slash(dir: &str) -> String {
    if dir.ends_with('/') {
        dir.to_string()
    } else {
        format!("{dir}/")
    }
}

/// True if `path` is `dir` or below it.
pub fn under(path: &str, dir: &str) -> bool {
    if dir == "/" {
        return path.starts_with('/');
    }
    path == dir || path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'))
}

/// The directory of an absolute path, `up` more levels up (never above `/`).
pub fn directory(path: &str, up: usize) -> String {
    let mut dir = path.trim_end_matches('/');
    for _ in 0..=up {
        dir = match dir.rfind('/') {
            Some(0) | None => return "/".to_string(),
            Some(i) => &dir[..i],
        };
    }
    dir.to_string()
}

/// The directories of `paths` (`up` levels above each one's own), without repeats.
pub fn directories(paths: &[String], up: usize) -> Vec<String> {
    let mut dirs: Vec<String> = Vec::new();
    for d in paths.iter().map(|p| directory(p, up)) {
        if !dirs.contains(&d) {
            dirs.push(d);
        }
    }
    dirs
}

/// How many levels the directory of `paths` can move up before it is `/`.
pub fn depth(paths: &[String]) -> usize {
    paths.iter().map(|p| p.trim_end_matches('/').matches('/').count().saturating_sub(1)).max().unwrap_or(0)
}

/// How long an answer lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lasting {
    /// This call, and the calls waiting now that the scope covers.
    Once,
    /// For this long (`SUPERVISE_TIMED_ANSWER` seconds; 10 minutes by default).
    For(Duration),
    /// Until the program exits (the rest of this run).
    Run,
    /// Always: also written to `--save-decisions`'s file.
    Saved,
}

impl Lasting {
    /// For people: `once`, `for 10 min`, `until the program exits`, `always (saved)`.
    pub fn describe(self) -> String {
        match self {
            Lasting::Once => "once".into(),
            Lasting::For(d) if d.as_secs() >= 60 && d.as_secs() % 60 == 0 => format!("for {} min", d.as_secs() / 60),
            Lasting::For(d) => format!("for {} s", d.as_secs()),
            Lasting::Run => "until the program exits".into(),
            Lasting::Saved => "always (saved)".into(),
        }
    }
}

/// The default length of [`Lasting::For`].
pub const TIMED: Duration = Duration::from_secs(600);

/// The length of [`Lasting::For`]: `SUPERVISE_TIMED_ANSWER` (seconds; for tests) or 10 minutes.
pub fn timed_from_env() -> Duration {
    std::env::var("SUPERVISE_TIMED_ANSWER")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&s| s > 0)
        .map_or(TIMED, Duration::from_secs)
}

/// One remembered answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remembered {
    pub exe: String,
    pub syscall: String,
    pub scope: Scope,
    pub allow: bool,
    /// `None`: until the program exits.
    pub until: Option<Instant>,
}

/// The answers remembered in this run.
#[derive(Debug, Default)]
pub struct Memory {
    answers: Vec<Remembered>,
}

impl Memory {
    /// Remembers an answer (expired ones are forgotten meanwhile).
    pub fn add(&mut self, answer: Remembered, now: Instant) {
        self.answers.retain(|a| a.until.is_none_or(|t| t > now));
        self.answers.push(answer);
    }

    /// The remembered answer for a call, if one covers it: the narrowest scope wins, and among equals the latest.
    pub fn lookup(&self, exe: &str, syscall: &str, paths: &[String], now: Instant) -> Option<bool> {
        let mut best: Option<(&Remembered, (u8, usize))> = None;
        for a in &self.answers {
            if a.exe != exe || a.syscall != syscall || a.until.is_some_and(|t| t <= now) {
                continue;
            }
            if !a.scope.covers(paths, a.allow) {
                continue;
            }
            let rank = a.scope.specificity();
            if best.is_none_or(|(_, r)| rank >= r) {
                best = Some((a, rank));
            }
        }
        best.map(|(a, _)| a.allow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn directories_and_their_parents() {
        assert_eq!(directory("/tmp/build/a.o", 0), "/tmp/build");
        assert_eq!(directory("/tmp/build/a.o", 1), "/tmp");
        assert_eq!(directory("/tmp/build/a.o", 2), "/");
        assert_eq!(directory("/tmp/build/a.o", 9), "/");
        assert_eq!(directory("/tmp/build/", 0), "/tmp");
        assert_eq!(directory("/a", 0), "/");
        assert_eq!(depth(&s(&["/tmp/build/a.o"])), 2);
        assert_eq!(depth(&s(&["/a"])), 0);
        assert_eq!(directories(&s(&["/x/a", "/x/b", "/y/c"]), 0), s(&["/x", "/y"]));
        assert_eq!(slash("/"), "/");
        assert_eq!(slash("/tmp"), "/tmp/");
    }

    #[test]
    fn under_a_directory_means_it_and_below_and_nothing_beside_it() {
        assert!(under("/tmp/build", "/tmp/build"));
        assert!(under("/tmp/build/x/y", "/tmp/build"));
        assert!(!under("/tmp/build2", "/tmp/build"));
        assert!(!under("/tmp", "/tmp/build"));
        assert!(under("/anything", "/"));
    }

    #[test]
    fn scopes_cover_what_they_say() {
        let path = Scope::Paths(s(&["/tmp/a"]));
        assert!(path.covers(&s(&["/tmp/a"]), true));
        assert!(!path.covers(&s(&["/tmp/a/b"]), true) && !path.covers(&s(&["/tmp/b"]), true));
        let dir = Scope::Under(s(&["/tmp/build"]));
        assert!(dir.covers(&s(&["/tmp/build"]), true) && dir.covers(&s(&["/tmp/build/sub/f"]), true));
        assert!(!dir.covers(&s(&["/tmp/other"]), true));
        assert!(Scope::Any.covers(&s(&["/etc/passwd"]), true) && Scope::Any.covers(&[], true));
        assert!(!dir.covers(&[], true), "a call without a path is covered only by any path");
        // Two paths: an allow needs both, a deny either.
        let two = s(&["/tmp/build/x", "/etc/passwd"]);
        assert!(!dir.covers(&two, true));
        assert!(dir.covers(&two, false));
    }

    #[test]
    fn the_narrowest_remembered_answer_wins_and_timed_ones_expire() {
        let now = Instant::now();
        let mut m = Memory::default();
        let answer =
            |scope, allow, until| Remembered { exe: "/bin/rm".into(), syscall: "unlinkat".into(), scope, allow, until };
        m.add(answer(Scope::Under(s(&["/tmp"])), true, None), now);
        m.add(answer(Scope::Paths(s(&["/tmp/keep"])), false, None), now);
        m.add(answer(Scope::Under(s(&["/tmp/b"])), false, Some(now + Duration::from_secs(60))), now);
        let look_in = |m: &Memory, p: &str, at| m.lookup("/bin/rm", "unlinkat", &s(&[p]), at);
        let look = |p: &str, at| look_in(&m, p, at);
        assert_eq!(look("/tmp/x", now), Some(true));
        assert_eq!(look("/tmp/keep", now), Some(false), "the exact path wins over the directory");
        assert_eq!(look("/tmp/b/c", now), Some(false), "the deeper directory wins");
        assert_eq!(look("/tmp/b/c", now + Duration::from_secs(61)), Some(true), "expired: the wider one again");
        assert_eq!(look("/var/x", now), None);
        assert_eq!(m.lookup("/bin/mv", "unlinkat", &s(&["/tmp/x"]), now), None, "another executable");
        assert_eq!(m.lookup("/bin/rm", "rmdir", &s(&["/tmp/x"]), now), None, "another syscall");
        m.add(answer(Scope::Any, false, None), now);
        assert_eq!(look_in(&m, "/var/x", now), Some(false));
        assert_eq!(look_in(&m, "/tmp/x", now), Some(true), "any path is the widest");
    }

    #[test]
    fn lastings_say_what_they_are() {
        assert_eq!(Lasting::For(TIMED).describe(), "for 10 min");
        assert_eq!(Lasting::For(Duration::from_secs(2)).describe(), "for 2 s");
        assert_eq!(Lasting::Run.describe(), "until the program exits");
    }
}
