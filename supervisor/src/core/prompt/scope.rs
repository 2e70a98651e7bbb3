//! What an "always" answer covers (its [`Scope`]) and for how long ([`Lasting`]), and the answers remembered in a
//! run ([`Memory`]). Pure: no terminal, no clock of its own (the time is passed in).
//!
//! Scopes, narrowest first:
//! - [`Scope::Paths`]: exactly the path(s) the question showed (resolved as the kernel resolves them);
//! - [`Scope::Under`]: a directory and everything below it, the directory itself included (by default the
//!   directory of the path shown; the person can move it up);
//! - [`Scope::Any`]: any path, any destination, or any arguments, for this syscall.
//!
//! and for a call with a socket address (`connect`, `bind`, `sendto`, …: the decoded [`Address`] the question
//! shows), narrowest first:
//! - [`Scope::Address`]: exactly this destination: the IP address and port (`93.184.216.34 port 443`), the unix
//!   socket path (resolved), or the abstract name;
//! - [`Scope::Host`]: this IP address on any port;
//! - [`Scope::Any`]: any destination.
//!
//! Every scope is also limited to the executable and the syscall that asked. When a question names several paths
//! (`rename`, `link`), an allowing answer covers a later call only if it covers **all** its paths, a denying one if it
//! covers **any**, as the policy's `paths` matcher does. Addresses are compared as the saved `addresses` pattern
//! matches them (`save.rs`): an IPv4 address written IPv4-mapped on an IPv6 socket is that IPv4 address, and an
//! IPv6 zone id does not count.

use std::net::IpAddr;
use std::time::Duration;

use proto::net::Address;
use tokio::time::Instant;

/// What an answer covers, beyond its executable and syscall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Exactly these paths.
    Paths(Vec<String>),
    /// These directories and everything below them (the directories included).
    Under(Vec<String>),
    /// Exactly this destination (an IP address and port, a unix socket path, an abstract name).
    Address(Address),
    /// This IP address, on any port.
    Host(IpAddr),
    /// Any path, any destination (or any arguments).
    Any,
}

impl Scope {
    /// True if the scope covers a call on `paths` (all of them for an allowing answer, any for a denying one) or to
    /// `address`. A call with neither is covered only by [`Scope::Any`].
    pub fn covers(&self, paths: &[String], address: Option<&Address>, allow: bool) -> bool {
        let one = |p: &String| match self {
            Scope::Paths(list) => list.contains(p),
            Scope::Under(dirs) => dirs.iter().any(|d| under(p, d)),
            Scope::Address(_) | Scope::Host(_) => false,
            Scope::Any => true,
        };
        match self {
            Scope::Any => true,
            Scope::Address(a) => address.is_some_and(|b| same_destination(a, b)),
            Scope::Host(ip) => address.and_then(Address::ip) == Some(*ip),
            _ if paths.is_empty() => false,
            _ if allow => paths.iter().all(one),
            _ => paths.iter().any(one),
        }
    }

    /// Narrower scopes win over wider ones: exact paths, then the deepest directory, then any path.
    fn specificity(&self) -> (u8, usize) {
        match self {
            Scope::Paths(_) | Scope::Address(_) => (2, 0),
            Scope::Under(dirs) => (1, dirs.iter().map(|d| d.len()).min().unwrap_or(0)),
            Scope::Host(_) => (1, 0),
            Scope::Any => (0, 0),
        }
    }

    /// For people: `/tmp/a`, `under /tmp/build/`, `93.184.216.34 port 443`, `93.184.216.34 on any port`,
    /// `any path`.
    pub fn describe(&self) -> String {
        match self {
            Scope::Paths(paths) => paths.join(" and "),
            Scope::Under(dirs) => {
                let dirs: Vec<String> = dirs.iter().map(|d| slash(d)).collect();
                format!("under {}", dirs.join(" and "))
            }
            Scope::Address(a) => a.to_string(),
            Scope::Host(ip) => format!("{ip} on any port"),
            Scope::Any => "any path".to_string(),
        }
    }
}

/// True if `a` and `b` are the same destination as an `addresses` pattern sees them: the same IP address and port
/// (IPv4-mapped or not, any zone id), or the same unix path or abstract name.
pub fn same_destination(a: &Address, b: &Address) -> bool {
    match (a.ip(), b.ip()) {
        (Some(x), Some(y)) => x == y && a.port() == b.port(),
        _ => a == b,
    }
}

/// True if an answer can be scoped to exactly `address` (and saved as its `addresses` pattern): an IP address, an
/// absolute unix path or an abstract name, in UTF-8. Other calls have only "any destination".
pub fn nameable(address: &Address) -> bool {
    address.to_pattern(true).is_some()
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

    /// The remembered answer for a call on `paths` or to `address`, if one covers it: the narrowest scope wins, and
    /// among equals the latest.
    pub fn lookup(
        &self,
        exe: &str,
        syscall: &str,
        paths: &[String],
        address: Option<&Address>,
        now: Instant,
    ) -> Option<bool> {
        let mut best: Option<(&Remembered, (u8, usize))> = None;
        for a in &self.answers {
            if a.exe != exe || a.syscall != syscall || a.until.is_some_and(|t| t <= now) {
                continue;
            }
            if !a.scope.covers(paths, address, a.allow) {
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
    use proto::net::UnixAddr;

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
        assert!(path.covers(&s(&["/tmp/a"]), None, true));
        assert!(!path.covers(&s(&["/tmp/a/b"]), None, true) && !path.covers(&s(&["/tmp/b"]), None, true));
        let dir = Scope::Under(s(&["/tmp/build"]));
        assert!(dir.covers(&s(&["/tmp/build"]), None, true) && dir.covers(&s(&["/tmp/build/sub/f"]), None, true));
        assert!(!dir.covers(&s(&["/tmp/other"]), None, true));
        assert!(Scope::Any.covers(&s(&["/etc/passwd"]), None, true) && Scope::Any.covers(&[], None, true));
        assert!(!dir.covers(&[], None, true), "a call without a path is covered only by any path");
        // Two paths: an allow needs both, a deny either.
        let two = s(&["/tmp/build/x", "/etc/passwd"]);
        assert!(!dir.covers(&two, None, true));
        assert!(dir.covers(&two, None, false));
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
        let look_in = |m: &Memory, p: &str, at| m.lookup("/bin/rm", "unlinkat", &s(&[p]), None, at);
        let look = |p: &str, at| look_in(&m, p, at);
        assert_eq!(look("/tmp/x", now), Some(true));
        assert_eq!(look("/tmp/keep", now), Some(false), "the exact path wins over the directory");
        assert_eq!(look("/tmp/b/c", now), Some(false), "the deeper directory wins");
        assert_eq!(look("/tmp/b/c", now + Duration::from_secs(61)), Some(true), "expired: the wider one again");
        assert_eq!(look("/var/x", now), None);
        assert_eq!(m.lookup("/bin/mv", "unlinkat", &s(&["/tmp/x"]), None, now), None, "another executable");
        assert_eq!(m.lookup("/bin/rm", "rmdir", &s(&["/tmp/x"]), None, now), None, "another syscall");
        m.add(answer(Scope::Any, false, None), now);
        assert_eq!(look_in(&m, "/var/x", now), Some(false));
        assert_eq!(look_in(&m, "/tmp/x", now), Some(true), "any path is the widest");
    }

    fn v4(ip: [u8; 4], port: u16, mapped: bool) -> Address {
        Address::V4 { ip: ip.into(), port, mapped }
    }

    #[test]
    fn address_scopes_cover_the_destination_the_host_or_any() {
        let here = v4([127, 0, 0, 1], 8080, false);
        let exact = Scope::Address(here.clone());
        let host = Scope::Host(here.ip().unwrap());
        for (scope, to, covered) in [
            (&exact, v4([127, 0, 0, 1], 8080, false), true),
            (&exact, v4([127, 0, 0, 1], 8080, true), true),
            (&exact, v4([127, 0, 0, 1], 8081, false), false),
            (&exact, v4([127, 0, 0, 2], 8080, false), false),
            (&host, v4([127, 0, 0, 1], 9, false), true),
            (&host, v4([127, 0, 0, 2], 8080, false), false),
            (&Scope::Any, v4([10, 0, 0, 1], 1, false), true),
        ] {
            assert_eq!(scope.covers(&[], Some(&to), true), covered, "{scope:?} {to}");
        }
        let v6 = |scope_id| Address::V6 { ip: std::net::Ipv6Addr::LOCALHOST, port: 443, scope_id };
        assert!(Scope::Address(v6(0)).covers(&[], Some(&v6(2)), true), "the zone id does not count");
        assert!(!Scope::Host(here.ip().unwrap()).covers(&[], Some(&v6(0)), true));
        let sock = Address::Unix(UnixAddr::Path(b"/run/a.sock".to_vec()));
        let other = Address::Unix(UnixAddr::Path(b"/run/b.sock".to_vec()));
        let name = Address::Unix(UnixAddr::Abstract(b"/run/a.sock".to_vec()));
        assert!(Scope::Address(sock.clone()).covers(&[], Some(&sock), true));
        assert!(!Scope::Address(sock.clone()).covers(&[], Some(&other), true));
        assert!(!Scope::Address(sock.clone()).covers(&[], Some(&name), true), "a path is no abstract name");
        assert!(!exact.covers(&[], None, true) && !exact.covers(&s(&["/tmp/a"]), None, true));
        assert!(!Scope::Paths(s(&["/run/a.sock"])).covers(&[], Some(&sock), true), "paths scopes are for paths");
        assert!(nameable(&here) && nameable(&sock) && nameable(&name));
        assert!(!nameable(&Address::Unspec) && !nameable(&Address::Unix(UnixAddr::Unnamed)));
        assert!(!nameable(&Address::Unix(UnixAddr::Path(b"/tmp/caf\xe9".to_vec()))));
    }

    #[test]
    fn the_narrowest_remembered_address_answer_wins() {
        let now = Instant::now();
        let mut m = Memory::default();
        let answer =
            |scope, allow| Remembered { exe: "/bin/nc".into(), syscall: "connect".into(), scope, allow, until: None };
        m.add(answer(Scope::Any, false), now);
        m.add(answer(Scope::Host([127, 0, 0, 1].into()), true), now);
        m.add(answer(Scope::Address(v4([127, 0, 0, 1], 22, false)), false), now);
        let look = |ip, port| m.lookup("/bin/nc", "connect", &[], Some(&v4(ip, port, false)), now);
        assert_eq!(look([127, 0, 0, 1], 80), Some(true), "the host, any port");
        assert_eq!(look([127, 0, 0, 1], 22), Some(false), "this address and port wins over the host");
        assert_eq!(look([127, 0, 0, 2], 80), Some(false), "any destination");
        assert_eq!(
            m.lookup("/bin/nc", "bind", &[], Some(&v4([127, 0, 0, 1], 80, false)), now),
            None,
            "another syscall"
        );
    }

    #[test]
    fn lastings_say_what_they_are() {
        assert_eq!(Lasting::For(TIMED).describe(), "for 10 min");
        assert_eq!(Lasting::For(Duration::from_secs(2)).describe(), "for 2 s");
        assert_eq!(Lasting::Run.describe(), "until the program exits");
    }
}
