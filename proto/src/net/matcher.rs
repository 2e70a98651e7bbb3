//! The `addresses`, `families` and `socketTypes` matchers of a `supervise` object: their syntax, checked when the
//! policy loads ([`NetMatcher::parse`]), and their evaluation ([`NetMatcher::matches`]), plus the table of syscalls
//! that carry a socket address ([`address_arg`]).
//!
//! `addresses` entries (any one must match):
//! - `127.0.0.1`, `10.0.0.0/8`, `::1`, `fe80::/10`: an IPv4 or IPv6 address or CIDR range, any port;
//! - `10.0.0.0/8:443`, `127.0.0.1:8000-8100`: with a port or an inclusive port range;
//! - `[::1]:8080`, `[2001:db8::/32]:443`, `[::1]`: IPv6 with a port needs brackets (a bare `::1:80` is an address);
//! - `*`, `*:443`: any IPv4 or IPv6 address (on that port);
//! - `unix:/run/**`: a unix socket path glob, as `paths` globs;
//! - `abstract:foo*`: an abstract unix socket name glob, where `*` also crosses `/`.

use std::ffi::OsStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use globset::{GlobBuilder, GlobMatcher};

use super::{Address, Family, SockOp, SockType, UnixAddr};

/// Where a syscall's socket address is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressArg {
    /// A `sockaddr` pointer in argument `addr` and its length (an `int`) in argument `len`.
    Direct { addr: usize, len: usize, op: SockOp },
    /// `msg_name` of the `struct msghdr` that argument `msg` points to (`sendmsg`).
    Msghdr { msg: usize },
    /// `msg_name` of each of the `vlen` `struct mmsghdr` at argument `msgvec` (`sendmmsg`): like the several paths
    /// of `rename`, a deny rule applies if any destination matches, another rule only if all do.
    Mmsghdr { msgvec: usize, vlen: usize },
    /// The peer of the connection being accepted (`accept`, `accept4`): known only once it is accepted.
    Accepted,
}

/// The syscalls an `addresses`, `families` or `socketTypes` matcher may be put on, with where their address is.
pub const ADDRESS_SYSCALLS: [(&str, AddressArg); 7] = [
    ("connect", AddressArg::Direct { addr: 1, len: 2, op: SockOp::Connect }),
    ("bind", AddressArg::Direct { addr: 1, len: 2, op: SockOp::Bind }),
    ("sendto", AddressArg::Direct { addr: 4, len: 5, op: SockOp::Send }),
    ("sendmsg", AddressArg::Msghdr { msg: 1 }),
    ("sendmmsg", AddressArg::Mmsghdr { msgvec: 1, vlen: 2 }),
    ("accept", AddressArg::Accepted),
    ("accept4", AddressArg::Accepted),
];

/// Where the socket address of `syscall` is; `None` for a syscall without one.
pub fn address_arg(syscall: &str) -> Option<AddressArg> {
    ADDRESS_SYSCALLS.iter().find(|(name, _)| *name == syscall).map(|(_, arg)| *arg)
}

/// An IPv4 or IPv6 range: `addr` with its host bits clear, and the prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u128::from(u32::from(ip)), self.prefix, 32) == u32::from(net).into()
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => masked(u128::from(ip), self.prefix, 128) == u128::from(net),
            _ => false,
        }
    }
}

/// `value` (of `bits` bits) with all but its first `prefix` bits cleared.
fn masked(value: u128, prefix: u8, bits: u8) -> u128 {
    let host = u32::from(bits - prefix.min(bits));
    value.checked_shr(host).and_then(|v| v.checked_shl(host)).unwrap_or(0)
}

/// An inclusive port range (`443` is `443-443`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

/// A glob over a unix socket path or an abstract name, with the text it was compiled from.
#[derive(Debug, Clone)]
pub struct NameGlob {
    pub text: String,
    matcher: GlobMatcher,
}

impl PartialEq for NameGlob {
    fn eq(&self, other: &NameGlob) -> bool {
        self.text == other.text
    }
}

impl Eq for NameGlob {}

impl NameGlob {
    fn is_match(&self, name: &[u8]) -> bool {
        self.matcher.is_match(Path::new(OsStr::from_bytes(name)))
    }
}

/// One `addresses` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressPattern {
    /// An IP range (`None`: any IPv4 or IPv6 address, written `*`), on some ports (`None`: any).
    Ip { net: Option<Cidr>, ports: Option<PortRange> },
    /// `unix:GLOB`, matched against the resolved, absolute path.
    UnixPath(NameGlob),
    /// `abstract:GLOB`.
    Abstract(NameGlob),
}

impl AddressPattern {
    pub fn matches(&self, addr: &Address) -> bool {
        match (self, addr) {
            (AddressPattern::Ip { net, ports }, a) => {
                let (Some(ip), Some(port)) = (a.ip(), a.port()) else { return false };
                net.is_none_or(|n| n.contains(ip)) && ports.is_none_or(|r| (r.first..=r.last).contains(&port))
            }
            (AddressPattern::UnixPath(g), Address::Unix(UnixAddr::Path(p))) => p.starts_with(b"/") && g.is_match(p),
            (AddressPattern::Abstract(g), Address::Unix(UnixAddr::Abstract(name))) => g.is_match(name),
            _ => false,
        }
    }

    /// The family of the addresses this pattern can match; `None` for `*` (IPv4 or IPv6).
    pub fn family(&self) -> Option<Family> {
        match self {
            AddressPattern::Ip { net: Some(Cidr { addr: IpAddr::V4(_), .. }), .. } => Some(Family::Inet),
            AddressPattern::Ip { net: Some(Cidr { addr: IpAddr::V6(_), .. }), .. } => Some(Family::Inet6),
            AddressPattern::Ip { net: None, .. } => None,
            AddressPattern::UnixPath(_) | AddressPattern::Abstract(_) => Some(Family::Unix),
        }
    }

    /// Parses one `addresses` entry.
    ///
    /// # Errors
    /// One message saying what is wrong with it.
    pub fn parse(text: &str) -> Result<AddressPattern, String> {
        if let Some(glob) = text.strip_prefix("unix:") {
            if !glob.starts_with('/') {
                return Err(format!("{text:?}: {glob:?} is not an absolute path glob (\"unix:/run/*.sock\")"));
            }
            return name_glob(text, glob, true).map(AddressPattern::UnixPath);
        }
        if let Some(glob) = text.strip_prefix("abstract:") {
            if glob.is_empty() {
                return Err(format!("{text:?}: no name after \"abstract:\" (\"abstract:*\" matches every name)"));
            }
            return name_glob(text, glob, false).map(AddressPattern::Abstract);
        }
        if text.is_empty() {
            return Err("empty address".into());
        }
        // Split off the port: `[v6]:p`, `v4:p`, `*:p`; a bare IPv6 address has no port.
        let (host, ports) = if let Some(rest) = text.strip_prefix('[') {
            let Some((inner, after)) = rest.split_once(']') else {
                return Err(format!("{text:?}: \"[\" without a closing \"]\""));
            };
            if !inner.contains(':') {
                return Err(format!(
                    "{text:?}: brackets are for IPv6 addresses; write {:?}",
                    format!("{inner}{after}")
                ));
            }
            match after {
                "" => (inner, None),
                _ => match after.strip_prefix(':') {
                    Some(p) => (inner, Some(p)),
                    None => return Err(format!("{text:?}: expected \":PORT\" after \"]\", found {after:?}")),
                },
            }
        } else if text.matches(':').count() == 1 {
            let (h, p) = text.split_once(':').unwrap_or((text, ""));
            (h, Some(p))
        } else {
            (text, None)
        };
        let ports = ports.map(|p| port_range(text, p)).transpose()?;
        if host == "*" {
            return Ok(AddressPattern::Ip { net: None, ports });
        }
        Ok(AddressPattern::Ip { net: Some(cidr(text, host)?), ports })
    }
}

fn name_glob(text: &str, glob: &str, literal_separator: bool) -> Result<NameGlob, String> {
    let built = GlobBuilder::new(glob).literal_separator(literal_separator).build();
    let g = built.map_err(|e| format!("{text:?}: invalid glob {glob:?}: {}", e.kind()))?;
    Ok(NameGlob { text: glob.to_string(), matcher: g.compile_matcher() })
}

/// `443` or `8000-8100`.
fn port_range(text: &str, p: &str) -> Result<PortRange, String> {
    let port = |s: &str| -> Result<u16, String> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{text:?}: {s:?} is not a port number (0..=65535)"));
        }
        s.parse::<u16>().map_err(|_| format!("{text:?}: port {s} is out of range (0..=65535)"))
    };
    let (first, last) = match p.split_once('-') {
        Some((a, b)) => (port(a)?, port(b)?),
        None => (port(p)?, port(p)?),
    };
    if first > last {
        return Err(format!("{text:?}: port range {first}-{last} is reversed (write {last}-{first})"));
    }
    Ok(PortRange { first, last })
}

/// `10.0.0.0/8`, `::1`, `::ffff:10.0.0.0/104` (an IPv4-mapped range is the IPv4 range it stands for).
fn cidr(text: &str, host: &str) -> Result<Cidr, String> {
    let (addr, prefix) = match host.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (host, None),
    };
    if addr.contains('%') {
        return Err(format!("{text:?}: zone ids (\"%eth0\") are not supported; write the address alone"));
    }
    let ip: IpAddr = addr.parse().map_err(|_| {
        let numeric = |c: char| c.is_ascii_digit() || c == '.';
        if addr.contains(|c: char| c.is_ascii_alphabetic() && !c.is_ascii_hexdigit())
            || !addr.contains(':') && !addr.chars().all(numeric)
        {
            format!(
                "{text:?} is not an address: host names are not resolved; write an IP address or range such as \
                 \"127.0.0.0/8\", \"*:443\", \"unix:/GLOB\" or \"abstract:GLOB\""
            )
        } else {
            format!("{text:?}: {addr:?} is not a valid IPv4 or IPv6 address")
        }
    })?;
    let bits: u8 = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => bits,
        Some(p) => match p.parse::<u8>() {
            Ok(n) if n <= bits && p.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => {
                let v = if bits == 32 { "IPv4" } else { "IPv6" };
                return Err(format!("{text:?}: prefix length {p:?} is out of range for {v} (0..={bits})"));
            }
        },
    };
    let value = match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    };
    let net = masked(value, prefix, bits);
    if net != value {
        let net_ip = match ip {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(net as u32)),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(net)),
        };
        return Err(format!("{text:?}: the range {host} has host bits set; did you mean {net_ip}/{prefix}?"));
    }
    Ok(match ip {
        IpAddr::V6(a) if prefix >= 96 && a.to_ipv4_mapped().is_some() => {
            Cidr { addr: IpAddr::V4(a.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED)), prefix: prefix - 96 }
        }
        ip => Cidr { addr: ip, prefix },
    })
}

/// The `addresses`, `families` and `socketTypes` of a rule. Each non-empty list must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetMatcher {
    /// Any one must match the address.
    pub addresses: Vec<AddressPattern>,
    /// The destination's family is one of these.
    pub families: Vec<Family>,
    /// The socket's type is one of these.
    pub socket_types: Vec<SockType>,
}

impl NetMatcher {
    pub fn is_empty(&self) -> bool {
        self.addresses.is_empty() && self.families.is_empty() && self.socket_types.is_empty()
    }

    /// True if deciding needs the decoded address (and not only the socket's type).
    pub fn needs_address(&self) -> bool {
        !self.addresses.is_empty() || !self.families.is_empty()
    }

    /// True if every non-empty list matches `addr` on a socket of type `ty`. A unix path must already be resolved
    /// to an absolute path (a relative one matches no `unix:` pattern); [`Address::Unspec`] and
    /// [`Address::Other`] match no address and no family.
    pub fn matches(&self, addr: &Address, ty: SockType) -> bool {
        let family = self.families.is_empty() || addr.family().is_some_and(|f| self.families.contains(&f));
        let ty = self.socket_types.is_empty() || self.socket_types.contains(&ty);
        let address = self.addresses.is_empty() || self.addresses.iter().any(|p| p.matches(addr));
        family && ty && address
    }

    /// Parses the three lists. Errors are `(key path, message)`: `("addresses[2]", "…")`.
    ///
    /// # Errors
    /// One per wrong entry, and one when no address can be of the listed families.
    pub fn parse(
        addresses: &[String],
        families: &[String],
        types: &[String],
    ) -> Result<NetMatcher, Vec<(String, String)>> {
        let mut errs = Vec::new();
        let mut m = NetMatcher::default();
        for (j, text) in addresses.iter().enumerate() {
            match AddressPattern::parse(text) {
                Ok(p) => m.addresses.push(p),
                Err(e) => errs.push((format!("addresses[{j}]"), e)),
            }
        }
        for (j, name) in families.iter().enumerate() {
            match Family::parse(name) {
                Some(f) => m.families.push(f),
                None => {
                    let hint = match name.to_ascii_lowercase().trim_start_matches("af_") {
                        "ip" | "ipv4" | "ip4" | "inet" | "inet4" => " (did you mean \"inet\"?)",
                        "ipv6" | "ip6" | "inet6" => " (did you mean \"inet6\"?)",
                        "local" | "unix" | "file" => " (did you mean \"unix\"?)",
                        _ => "",
                    };
                    let message = format!("unknown family {name:?}{hint} (expected \"inet\", \"inet6\" or \"unix\")");
                    errs.push((format!("families[{j}]"), message));
                }
            }
        }
        for (j, name) in types.iter().enumerate() {
            match SockType::parse(name) {
                Some(t) => m.socket_types.push(t),
                None => {
                    let hint = match name.to_ascii_lowercase().trim_start_matches("sock_") {
                        "tcp" | "stream" => " (did you mean \"stream\"?)",
                        "udp" | "datagram" | "dgram" => " (did you mean \"dgram\"?)",
                        "icmp" | "raw" => " (did you mean \"raw\"?)",
                        "sctp" | "seqpacket" => " (did you mean \"seqpacket\"?)",
                        _ => "",
                    };
                    let message = format!(
                        "unknown socket type {name:?}{hint} (expected \"stream\", \"dgram\", \"raw\" or \"seqpacket\")"
                    );
                    errs.push((format!("socketTypes[{j}]"), message));
                }
            }
        }
        let fits = |p: &AddressPattern| p.family().is_none_or(|f| m.families.contains(&f));
        if errs.is_empty() && !m.families.is_empty() && !m.addresses.is_empty() && !m.addresses.iter().any(fits) {
            let message = "no entry of \"addresses\" is of these families, so the rule could never match".to_string();
            errs.push(("families".into(), message));
        }
        if errs.is_empty() {
            Ok(m)
        } else {
            Err(errs)
        }
    }
}
