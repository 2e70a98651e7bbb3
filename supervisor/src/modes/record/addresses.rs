//! `record --addresses`: where a run's programs connected, bound and sent, turned into address rules, so that a
//! recorded profile says "this program talks to these hosts".
//!
//! For `connect`, `bind`, `sendto`, `sendmsg` and `sendmmsg` of the native architecture, [`AddressLog::note`] reads
//! the address from the caller's memory, with its socket's domain and type (from a copy of the socket, as the
//! supervisor does when it decides), decodes it as the kernel would and notes it with the caller's executable. The
//! call itself is CONTINUEd as every recorded call is: nothing here decides anything, so a race changes only what
//! is written down, never what the program may do.
//!
//! [`AddressLog::rules`] writes, in this order: one allow rule per executable and role (where it connects and
//! sends; where it binds) listing the exact addresses seen; a deny rule for any other address (`*`, `unix:/**`,
//! `abstract:*`); an allow rule per executable for the calls that carry no address a pattern can name (`AF_UNSPEC`
//! on connect, unix autobind, netlink and other families) if it made any; and a deny rule for the rest. Rules
//! written by an earlier run are folded back in by [`AddressLog::fold`] for `--merge`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::sync::Mutex;

use proto::net::{self, Address, SockOp, SockType, Socket, UnixAddr};
use proto::paths::glob_literal;
use proto::profile::{ArgSpec, Profile, SuperviseSpec, SyscallRule};
use proto::{Action, Arch, ArgCmp, CmpOp};

use crate::kernel::listener::{Listener, Notification};
use crate::kernel::net::domain_and_type;
use crate::kernel::pending::Pending;
use crate::kernel::{proc, syscalls};

/// The syscalls whose addresses are recorded, with the role of their address.
const RECORDED: [(&str, Role); 5] = [
    ("connect", Role::Remote),
    ("sendto", Role::Remote),
    ("sendmsg", Role::Remote),
    ("sendmmsg", Role::Remote),
    ("bind", Role::Local),
];

/// How the comments of the rules this module writes start; [`AddressLog::fold`] recognises them by it.
const COMMENT_PREFIX: &str = "recorded address rule: ";

/// `MSG_FASTOPEN`: a send on a TCP socket that connects first, to the send's destination.
const MSG_FASTOPEN: u64 = 0x2000_0000;

/// `struct mmsghdr`: a `struct msghdr` (56 bytes on 64-bit) and `msg_len`, padded to 64 bytes.
const MMSGHDR_SIZE: u64 = 64;

/// sendmmsg(2) looks at no more than `UIO_MAXIOV` messages.
const UIO_MAXIOV: u64 = 1024;

/// Whether the address is the peer (connect, sends) or the socket's own (bind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Remote,
    Local,
}

impl Role {
    fn words(self) -> &'static str {
        match self {
            Role::Remote => "connects and sends to",
            Role::Local => "binds",
        }
    }
}

/// What one executable did in one role.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Seen {
    names: BTreeSet<String>,
    /// Address patterns naming exactly the addresses seen.
    patterns: BTreeSet<String>,
    /// Calls whose address no pattern can name (`AF_UNSPEC`, autobind, other families): their syscalls.
    unaddressed: BTreeSet<String>,
}

/// The addresses a run used, per (executable, role).
#[derive(Debug, Default)]
pub struct AddressLog {
    /// The recorded syscalls' numbers on the native architecture.
    numbers: HashMap<i32, (&'static str, Role)>,
    seen: Mutex<BTreeMap<(String, Role), Seen>>,
}

impl AddressLog {
    pub fn new() -> AddressLog {
        let numbers = RECORDED
            .iter()
            .filter_map(|&(name, role)| Some((syscalls::number_of(name, Arch::native())?, (name, role))))
            .collect();
        AddressLog { numbers, seen: Mutex::default() }
    }

    /// Whether `profile` holds rules an earlier `record --addresses` wrote.
    pub fn written_in(profile: &Profile) -> bool {
        profile.rules().any(|r| r.comment.as_deref().is_some_and(|c| c.starts_with(COMMENT_PREFIX)))
    }

    /// Notes the address(es) of `n` if it is one of the recorded syscalls on `arch`. Failures (a bad pointer, a
    /// file that is not a socket, a caller gone) note nothing: the kernel fails the call the same way.
    pub fn note(&self, listener: &Listener, n: &Notification, arch: Arch) {
        let Some(&(name, role)) = self.numbers.get(&n.nr).filter(|_| arch == Arch::native()) else { return };
        let pending = Pending::new(listener, n);
        let Some(addresses) = read(pending, name) else { return };
        let Some(exe) = proc::exe(n.pid) else { return };
        let exe = exe.to_string_lossy().into_owned();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let entry = seen.entry((exe, role)).or_default();
        for address in addresses {
            match pattern(n.pid, &address) {
                Some(p) => {
                    entry.names.insert(name.to_string());
                    entry.patterns.insert(p);
                }
                None => {
                    entry.unaddressed.insert(name.to_string());
                }
            }
        }
    }

    /// The names of the recorded syscalls that were seen: they get notify rules, not a plain allow.
    pub fn names(&self) -> BTreeSet<String> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.values().flat_map(|s| s.names.iter().chain(&s.unaddressed)).cloned().collect()
    }

    /// Takes back the rules an earlier `record --addresses` wrote into `rule` (for `--merge`). `false`: not one of
    /// them, keep it as written.
    pub fn fold(&self, rule: &SyscallRule) -> bool {
        let Some(kind) = rule.comment.as_deref().and_then(|c| c.strip_prefix(COMMENT_PREFIX)) else { return false };
        // The send() rule and the refusals are written again from what is folded.
        let Some(spec) = &rule.supervise else { return true };
        let names: Vec<String> = rule.syscall_names().into_iter().map(String::from).collect();
        let Some(role) = names.first().and_then(|n| RECORDED.iter().find(|(r, _)| r == n)).map(|(_, role)| *role)
        else {
            return false;
        };
        let Some(exe) = spec.exe.as_ref().and_then(|e| e.first()).map(|e| glob_unescape(e)) else {
            return kind.starts_with("any other");
        };
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let entry = seen.entry((exe, role)).or_default();
        match &spec.addresses {
            Some(patterns) => {
                entry.names.extend(names);
                entry.patterns.extend(patterns.iter().cloned());
            }
            None => entry.unaddressed.extend(names),
        }
        true
    }

    /// An allow rule for `sendto` without an address (`send()`), if sendto gets address rules: the kernel decides
    /// it.
    pub fn send_without_address(&self) -> Option<SyscallRule> {
        self.names().contains("sendto").then(|| {
            let mut rule = SyscallRule::new(["sendto".to_string()], Action::Allow);
            rule.args = Some(vec![sendto_address(CmpOp::Eq)]);
            rule.comment = Some(format!("{COMMENT_PREFIX}send() goes to the socket's peer, decided on at connect"));
            rule
        })
    }

    /// The address rules, in order (see the module's doc); none if no address was seen.
    pub fn rules(&self) -> Vec<SyscallRule> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let mut rules = Vec::new();
        for ((exe, role), s) in seen.iter().filter(|(_, s)| !s.patterns.is_empty()) {
            let spec = SuperviseSpec { addresses: Some(s.patterns.iter().cloned().collect()), ..allow_for(exe) };
            let comment = format!("{COMMENT_PREFIX}where {exe} {}", role.words());
            rules.extend(notify_rules(&s.names, comment, spec));
        }
        let all: BTreeSet<String> = seen.values().flat_map(|s| s.names.iter().chain(&s.unaddressed)).cloned().collect();
        if all.is_empty() {
            return rules;
        }
        let any = ["*", "unix:/**", "abstract:*"].map(String::from).to_vec();
        let others = SuperviseSpec { addresses: Some(any), ..deny() };
        rules.extend(notify_rules(&all, format!("{COMMENT_PREFIX}any other address is refused"), others));
        for ((exe, _), s) in seen.iter().filter(|(_, s)| !s.unaddressed.is_empty()) {
            let comment = format!(
                "{COMMENT_PREFIX}calls by {exe} without an address a pattern names (AF_UNSPEC, autobind, netlink, …)"
            );
            rules.extend(notify_rules(&s.unaddressed, comment, allow_for(exe)));
        }
        rules.extend(notify_rules(&all, format!("{COMMENT_PREFIX}any other call is refused"), deny()));
        rules
    }
}

fn allow_for(exe: &str) -> SuperviseSpec {
    SuperviseSpec { decision: Some("allow".into()), exe: Some(vec![glob_literal(exe)]), ..SuperviseSpec::default() }
}

fn deny() -> SuperviseSpec {
    SuperviseSpec { decision: Some("deny".into()), errno_ret: Some("EACCES".into()), ..SuperviseSpec::default() }
}

/// The notify rules for `names`: `sendto` in a rule of its own that notifies it only with an address (argument 4
/// not NULL); `send()` (no address) goes to the socket's peer, decided on when it connected, and
/// [`AddressLog::send_without_address`] allows it in the kernel.
fn notify_rules(names: &BTreeSet<String>, comment: String, spec: SuperviseSpec) -> Vec<SyscallRule> {
    let rule = |names: Vec<String>| {
        let mut rule = SyscallRule::new(names, Action::Notify);
        rule.comment = Some(comment.clone());
        rule.supervise = Some(spec.clone());
        rule
    };
    let (sendto, rest): (Vec<String>, Vec<String>) = names.iter().cloned().partition(|n| n == "sendto");
    let mut rules = Vec::new();
    if !rest.is_empty() {
        rules.push(rule(rest));
    }
    if !sendto.is_empty() {
        let mut with_address = rule(sendto);
        with_address.args = Some(vec![sendto_address(CmpOp::Ne)]);
        rules.push(with_address);
    }
    rules
}

/// `args` condition on sendto's address (argument 4) against NULL.
fn sendto_address(op: CmpOp) -> ArgSpec {
    ArgSpec { value_two: None, ..ArgSpec::from(ArgCmp { index: 4, op, value: 0, value_two: 0 }) }
}

/// The addresses of a pending `syscall`, read and decoded as the kernel would; `None` if the call fails before
/// its address is used. A send whose address the kernel ignores (a stream socket, unless `MSG_FASTOPEN`) or that
/// has none is left out: its peer was recorded when it was connected.
fn read(pending: Pending<'_>, syscall: &str) -> Option<Vec<Address>> {
    let args = pending.n.args;
    let socket = pending.fetch_fd(args[0] as i32).ok()?;
    let (domain, ty) = domain_and_type(socket.as_fd()).ok()?;
    let socket = Socket { domain, ty: SockType::from_raw(ty) };
    let stream = matches!(socket.ty, SockType::Stream | SockType::SeqPacket);
    let one = |addr: u64, len: usize, op: SockOp| -> Option<Address> {
        let bytes = pending.read(addr, len).ok()?;
        net::decode(&bytes, socket, op).ok()
    };
    let send = |addr: u64, len: usize, flags: u64| -> Option<Address> {
        let fast_open = stream && flags & MSG_FASTOPEN != 0;
        if addr == 0 || len == 0 || (stream && !fast_open) {
            return None;
        }
        one(addr, len, if fast_open { SockOp::Connect } else { SockOp::Send })
    };
    // struct msghdr: msg_name (8 bytes), msg_namelen (4).
    let msghdr = |at: u64, flags: u64| -> Option<Address> {
        let head = pending.read(at, 12).ok()?;
        let name = u64::from_ne_bytes(head[..8].try_into().ok()?);
        let len = net::msg_namelen(u32::from_ne_bytes(head[8..12].try_into().ok()?)).ok()?;
        send(name, len, flags)
    };
    match syscall {
        "connect" => Some(vec![one(args[1], net::addrlen(args[2]).ok()?, SockOp::Connect)?]),
        "bind" => Some(vec![one(args[1], net::addrlen(args[2]).ok()?, SockOp::Bind)?]),
        "sendto" => Some(send(args[4], net::addrlen(args[5]).ok()?, args[3]).into_iter().collect()),
        "sendmsg" => Some(msghdr(args[1], args[2]).into_iter().collect()),
        "sendmmsg" => {
            let count = args[2].min(UIO_MAXIOV);
            Some((0..count).filter_map(|i| msghdr(args[1] + i * MMSGHDR_SIZE, args[3])).collect())
        }
        _ => None,
    }
}

/// The address pattern that names exactly `address` (unix paths resolved against the caller's cwd); `None` for an
/// address no pattern can name.
fn pattern(pid: u32, address: &Address) -> Option<String> {
    match address {
        Address::V4 { ip, port, .. } => Some(format!("{ip}:{port}")),
        Address::V6 { ip, port, .. } => Some(format!("[{ip}]:{port}")),
        Address::Unix(UnixAddr::Path(path)) => {
            let path = std::path::Path::new(std::ffi::OsStr::from_bytes(path));
            let real = crate::core::describe::resolve(pid, libc::AT_FDCWD, path);
            real.to_str().map(|p| format!("unix:{}", glob_literal(p)))
        }
        Address::Unix(UnixAddr::Abstract(name)) => std::str::from_utf8(name)
            .ok()
            .filter(|n| !n.chars().any(char::is_control))
            .map(|n| format!("abstract:{}", glob_literal(n))),
        Address::Unix(UnixAddr::Unnamed) | Address::Unspec | Address::Other { .. } => None,
    }
}

/// The text a [`glob_literal`] stands for.
fn glob_unescape(glob: &str) -> String {
    let mut out = String::new();
    let mut chars = glob.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' { chars.next().unwrap_or('\\') } else { c });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_with(entries: &[(&str, Role, &str, Option<&str>)]) -> AddressLog {
        let log = AddressLog::new();
        {
            let mut seen = log.seen.lock().unwrap();
            for &(exe, role, name, pattern) in entries {
                let e = seen.entry((exe.to_string(), role)).or_default();
                match pattern {
                    Some(p) => {
                        e.names.insert(name.into());
                        e.patterns.insert(p.into());
                    }
                    None => {
                        e.unaddressed.insert(name.into());
                    }
                }
            }
        }
        log
    }

    #[test]
    fn patterns_name_exactly_the_address() {
        let v4 = Address::V4 { ip: "127.0.0.1".parse().unwrap(), port: 8080, mapped: false };
        assert_eq!(pattern(0, &v4).as_deref(), Some("127.0.0.1:8080"));
        let v6 = Address::V6 { ip: "::1".parse().unwrap(), port: 443, scope_id: 0 };
        assert_eq!(pattern(0, &v6).as_deref(), Some("[::1]:443"));
        let path = Address::Unix(UnixAddr::Path(b"/run/a[1].sock".to_vec()));
        assert_eq!(pattern(0, &path).as_deref(), Some("unix:/run/a\\[1\\].sock"));
        let abs = Address::Unix(UnixAddr::Abstract(b"x*y".to_vec()));
        assert_eq!(pattern(0, &abs).as_deref(), Some("abstract:x\\*y"));
        assert_eq!(pattern(0, &Address::Unix(UnixAddr::Abstract(b"a\0b".to_vec()))), None);
        assert_eq!(pattern(0, &Address::Unspec), None);
        for p in ["127.0.0.1:8080", "[::1]:443", "unix:/run/a\\[1\\].sock", "abstract:x\\*y"] {
            assert!(proto::net::AddressPattern::parse(p).is_ok(), "{p} parses");
        }
    }

    #[test]
    fn rules_allow_what_was_seen_then_refuse_the_rest() {
        let log = log_with(&[
            ("/usr/bin/curl", Role::Remote, "connect", Some("93.184.216.34:443")),
            ("/usr/bin/curl", Role::Remote, "connect", None),
            ("/usr/bin/x[1]", Role::Local, "bind", Some("127.0.0.1:8080")),
        ]);
        let rules = log.rules();
        let text: Vec<String> = rules.iter().map(|r| serde_json::to_string(r).unwrap()).collect();
        assert_eq!(rules.len(), 5, "{text:#?}");
        assert!(text[0].contains(r#""exe":["/usr/bin/curl"],"addresses":["93.184.216.34:443"]"#), "{}", text[0]);
        assert!(text[1].contains(r#""exe":["/usr/bin/x\\[1\\]"],"addresses":["127.0.0.1:8080"]"#), "{}", text[1]);
        assert!(text[2].contains(r#""names":["bind","connect"]"#) && text[2].contains(r#""decision":"deny""#));
        assert!(text[2].contains(r#""addresses":["*","unix:/**","abstract:*"]"#), "{}", text[2]);
        assert!(text[3].contains(r#""names":["connect"]"#) && !text[3].contains("addresses"), "{}", text[3]);
        assert!(text[4].contains(r#""decision":"deny""#) && !text[4].contains("addresses"), "{}", text[4]);
        assert_eq!(log.names(), ["bind", "connect"].map(String::from).into());
    }

    #[test]
    fn folding_the_written_rules_gives_them_back() {
        let log = log_with(&[
            ("/usr/bin/curl", Role::Remote, "sendto", Some("127.0.0.1:53")),
            ("/usr/bin/curl", Role::Remote, "connect", None),
            ("/opt/a*b", Role::Local, "bind", Some("[::1]:80")),
        ]);
        let rules: Vec<SyscallRule> = log.send_without_address().into_iter().chain(log.rules()).collect();
        let text = serde_json::to_string(&rules).unwrap();
        assert!(
            text.contains(
                r#""names":["sendto"],"action":"SCMP_ACT_ALLOW","args":[{"index":4,"value":0,"op":"SCMP_CMP_EQ"}]"#
            ),
            "{text}"
        );
        assert!(text.contains(r#""args":[{"index":4,"value":0,"op":"SCMP_CMP_NE"}]"#), "{text}");
        let again = AddressLog::new();
        assert!(rules.iter().all(|r| again.fold(r)));
        assert_eq!(again.send_without_address().into_iter().chain(again.rules()).collect::<Vec<_>>(), rules);
        assert!(!again.fold(&SyscallRule::new(["connect".to_string()], Action::Allow)));
    }

    #[test]
    fn nothing_seen_writes_nothing() {
        assert!(AddressLog::new().rules().is_empty());
    }
}
