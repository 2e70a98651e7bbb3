//! Socket addresses, with no I/O: the kernel's `sockaddr` bytes decoded as the kernel reads them ([`decode`]), their
//! display in prompts and logs, and the `addresses` / `families` / `socketTypes` matchers of a `supervise` object
//! ([`NetMatcher`], in `matcher`).
//!
//! The supervisor reads the bytes from the target (after [`addrlen`] or [`msg_namelen`] has checked the length, as
//! `move_addr_to_kernel` and `copy_msghdr` do), asks the socket its domain and type (`SO_DOMAIN`, `SO_TYPE`), and
//! calls [`decode`]. [`decode`] fails only where the kernel certainly fails, with the kernel's errno; an `Ok` address
//! is where the call goes *if* the kernel accepts it. So when the supervisor performs the call itself with the same
//! bytes, an address that the kernel refuses for a reason not modelled here (`IPV6_V6ONLY`, a wrong socket state) is
//! refused by the kernel, and never reached.

mod matcher;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::Errno;

pub use matcher::{address_arg, AddressArg, AddressPattern, Cidr, NetMatcher, PortRange, ADDRESS_SYSCALLS};

pub const AF_UNSPEC: u16 = 0;
pub const AF_UNIX: u16 = 1;
pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;
/// `sizeof(struct sockaddr_storage)`: the most the kernel copies.
pub const SOCKADDR_MAX: usize = 128;
const SOCKADDR_IN: usize = 16;
/// `SIN6_LEN_RFC2133`: a `sockaddr_in6` without `sin6_scope_id`, the least the kernel accepts.
const SOCKADDR_IN6_MIN: usize = 24;
const SOCKADDR_IN6: usize = 28;
/// `sizeof(struct sockaddr_un)`.
const SOCKADDR_UN: usize = 110;
/// `offsetof(struct sockaddr_un, sun_path)`.
const SUN_PATH: usize = 2;

/// The protocol family of a destination (the `families` matcher).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4, including IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`), which reach IPv4.
    Inet,
    Inet6,
    Unix,
}

impl Family {
    pub const ALL: [Family; 3] = [Family::Inet, Family::Inet6, Family::Unix];

    /// The policy spelling: `inet`, `inet6`, `unix`.
    pub fn name(self) -> &'static str {
        match self {
            Family::Inet => "inet",
            Family::Inet6 => "inet6",
            Family::Unix => "unix",
        }
    }

    pub fn parse(name: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// A socket type (`SO_TYPE`), for the `socketTypes` matcher and the protocol shown in prompts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SockType {
    Stream,
    Dgram,
    Raw,
    SeqPacket,
    /// Any other type, by number (`SOCK_RDM`, `SOCK_PACKET`, …).
    Other(u32),
}

impl SockType {
    /// The types a policy can name.
    pub const NAMED: [SockType; 4] = [SockType::Stream, SockType::Dgram, SockType::Raw, SockType::SeqPacket];

    /// From `SO_TYPE`, or the type argument of `socket(2)` (`SOCK_NONBLOCK` and `SOCK_CLOEXEC` are masked off).
    pub fn from_raw(raw: u32) -> SockType {
        match raw & 0xf {
            1 => SockType::Stream,
            2 => SockType::Dgram,
            3 => SockType::Raw,
            5 => SockType::SeqPacket,
            n => SockType::Other(n),
        }
    }

    /// The policy spelling: `stream`, `dgram`, `raw`, `seqpacket` (`other` for the rest).
    pub fn name(self) -> &'static str {
        match self {
            SockType::Stream => "stream",
            SockType::Dgram => "dgram",
            SockType::Raw => "raw",
            SockType::SeqPacket => "seqpacket",
            SockType::Other(_) => "other",
        }
    }

    pub fn parse(name: &str) -> Option<SockType> {
        SockType::NAMED.into_iter().find(|t| t.name() == name)
    }

    /// The protocol an IP socket of this type speaks, for prompts: `TCP`, `UDP`, `raw`, `SCTP`.
    pub fn ip_protocol(self) -> Option<&'static str> {
        match self {
            SockType::Stream => Some("TCP"),
            SockType::Dgram => Some("UDP"),
            SockType::Raw => Some("raw"),
            SockType::SeqPacket => Some("SCTP"),
            SockType::Other(_) => None,
        }
    }
}

/// The socket a call is made on: its domain (`SO_DOMAIN`, an `AF_*` number) and type (`SO_TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Socket {
    pub domain: u16,
    pub ty: SockType,
}

/// What the address is for; the kernel's rules differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SockOp {
    /// `connect`, and `sendto`/`sendmsg` with `MSG_FASTOPEN` on a TCP socket (which connect).
    Connect,
    Bind,
    /// The destination of `sendto`, `sendmsg`, `sendmmsg`.
    Send,
}

/// A decoded socket address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    /// IPv4. `mapped`: written as an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) on an `AF_INET6` socket.
    V4 {
        ip: Ipv4Addr,
        port: u16,
        mapped: bool,
    },
    /// IPv6 (never an IPv4-mapped one). `scope_id` is 0 when the kernel was given none.
    V6 {
        ip: Ipv6Addr,
        port: u16,
        scope_id: u32,
    },
    Unix(UnixAddr),
    /// No destination: `AF_UNSPEC` on `connect` (which dissolves the association), or a send whose address the
    /// kernel ignores (stream sockets). The caller matches the socket's peer for a send instead.
    Unspec,
    /// A socket of a domain not decoded here; `family` is `None` when fewer than 2 bytes were given.
    Other {
        family: Option<u16>,
    },
}

/// An `AF_UNIX` address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UnixAddr {
    /// A path, as written (possibly relative; the supervisor resolves it as the target's kernel would before it is
    /// matched). Never empty, never holds a NUL.
    Path(Vec<u8>),
    /// An abstract name: the bytes after the leading NUL, every one of them (NULs included).
    Abstract(Vec<u8>),
    /// `bind` with only `sun_family` (autobind).
    Unnamed,
}

/// The `addrlen` argument of `connect`, `bind` and `sendto` (an `int`): negative or more than 128 is EINVAL, as in
/// `move_addr_to_kernel`. The result is how many bytes to read (0 is valid: nothing to read).
///
/// # Errors
/// EINVAL.
pub fn addrlen(raw: u64) -> Result<usize, Errno> {
    let n = raw as u32 as i32;
    usize::try_from(n).ok().filter(|&n| n <= SOCKADDR_MAX).ok_or(Errno::EINVAL)
}

/// `msg_namelen` of a `struct msghdr` (an `int`): negative is EINVAL, more than 128 is read as 128 (`copy_msghdr`).
/// With a null `msg_name` or a length of 0 the message has no destination: do not call [`decode`].
///
/// # Errors
/// EINVAL.
pub fn msg_namelen(raw: u32) -> Result<usize, Errno> {
    usize::try_from(raw as i32).map(|n| n.min(SOCKADDR_MAX)).map_err(|_| Errno::EINVAL)
}

/// Decodes `bytes` (exactly the `addrlen` bytes the kernel copies) as the address of `op` on `socket`, with the
/// kernel's checks for `AF_INET`, `AF_INET6` and `AF_UNIX` sockets (`__inet_stream_connect`, `tcp_v4_connect`,
/// `__ip6_datagram_connect`, `__inet_bind`, `udp_sendmsg`, `udpv6_sendmsg`, `rawv6_sendmsg`, `unix_validate_addr`,
/// …). Call it for a send only when there is a destination (`sendto` with a non-null address, `sendmsg` with a
/// non-null `msg_name` and a non-zero length).
///
/// # Errors
/// The kernel's errno where it certainly refuses the address: EINVAL (too short, too long, a wrong family on a unix
/// socket, port 0 for a UDP send), EAFNOSUPPORT (a wrong family on an IP socket).
pub fn decode(bytes: &[u8], socket: Socket, op: SockOp) -> Result<Address, Errno> {
    if bytes.len() > SOCKADDR_MAX {
        return Err(Errno::EINVAL);
    }
    let family = (bytes.len() >= 2).then(|| u16::from_ne_bytes([bytes[0], bytes[1]]));
    match socket.domain {
        AF_INET => inet(bytes, family, socket.ty, op),
        AF_INET6 => inet6(bytes, family, socket.ty, op),
        AF_UNIX => unix(bytes, family, socket.ty, op),
        _ => Ok(Address::Other { family }),
    }
}

fn v4(b: &[u8], mapped: bool) -> Address {
    let (port, ip) = if mapped { (&b[2..4], &b[20..24]) } else { (&b[2..4], &b[4..8]) };
    Address::V4 { ip: Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]), port: u16::from_be_bytes([port[0], port[1]]), mapped }
}

fn v6(b: &[u8]) -> Address {
    let mut octets = [0u8; 16];
    octets.copy_from_slice(&b[8..24]);
    let ip = Ipv6Addr::from(octets);
    if ip.to_ipv4_mapped().is_some() {
        return v4(b, true);
    }
    let port = u16::from_be_bytes([b[2], b[3]]);
    let scope_id = if b.len() >= SOCKADDR_IN6 { u32::from_ne_bytes([b[24], b[25], b[26], b[27]]) } else { 0 };
    Address::V6 { ip, port, scope_id }
}

fn no_port_0(ty: SockType, a: Address) -> Result<Address, Errno> {
    match a {
        Address::V4 { port: 0, .. } | Address::V6 { port: 0, .. } if ty == SockType::Dgram => Err(Errno::EINVAL),
        a => Ok(a),
    }
}

/// An `AF_INET` socket.
fn inet(b: &[u8], family: Option<u16>, ty: SockType, op: SockOp) -> Result<Address, Errno> {
    let len = b.len();
    match op {
        SockOp::Send if ty == SockType::Stream => Ok(Address::Unspec),
        SockOp::Connect => match family {
            None => Err(Errno::EINVAL),
            Some(AF_UNSPEC) => Ok(Address::Unspec),
            Some(_) if len < SOCKADDR_IN => Err(Errno::EINVAL),
            Some(AF_INET) => Ok(v4(b, false)),
            Some(_) => Err(Errno::EAFNOSUPPORT),
        },
        SockOp::Bind => {
            if len < SOCKADDR_IN {
                return Err(Errno::EINVAL);
            }
            // "Compatibility games": AF_UNSPEC binds as AF_INET, but only to INADDR_ANY.
            match (family, v4(b, false)) {
                (Some(AF_INET), a) => Ok(a),
                (Some(AF_UNSPEC), a @ Address::V4 { ip: Ipv4Addr::UNSPECIFIED, .. }) => Ok(a),
                _ => Err(Errno::EAFNOSUPPORT),
            }
        }
        SockOp::Send => match family {
            _ if len < SOCKADDR_IN => Err(Errno::EINVAL),
            // AF_UNSPEC is taken as AF_INET (udp_sendmsg, raw_sendmsg).
            Some(AF_INET | AF_UNSPEC) => no_port_0(ty, v4(b, false)),
            _ => Err(Errno::EAFNOSUPPORT),
        },
    }
}

/// An `AF_INET6` socket.
fn inet6(b: &[u8], family: Option<u16>, ty: SockType, op: SockOp) -> Result<Address, Errno> {
    let len = b.len();
    match (op, family) {
        (SockOp::Send, _) if ty == SockType::Stream => Ok(Address::Unspec),
        (SockOp::Connect | SockOp::Send, None) => Err(Errno::EINVAL),
        (SockOp::Connect, Some(AF_UNSPEC)) => Ok(Address::Unspec),
        // TCP wants a sockaddr_in6; UDP and raw sockets take an AF_INET address too (unless IPV6_V6ONLY).
        (SockOp::Connect, Some(AF_INET)) if ty == SockType::Stream => {
            Err(if len < SOCKADDR_IN6_MIN { Errno::EINVAL } else { Errno::EAFNOSUPPORT })
        }
        (SockOp::Connect, Some(AF_INET)) if len < SOCKADDR_IN => Err(Errno::EINVAL),
        (SockOp::Connect, Some(AF_INET)) => Ok(v4(b, false)),
        (SockOp::Connect | SockOp::Bind, _) if len < SOCKADDR_IN6_MIN => Err(Errno::EINVAL),
        (SockOp::Connect | SockOp::Bind, Some(AF_INET6)) => Ok(v6(b)),
        (SockOp::Connect | SockOp::Bind, _) => Err(Errno::EAFNOSUPPORT),
        (SockOp::Send, Some(f)) if ty == SockType::Raw => match f {
            _ if len < SOCKADDR_IN6_MIN => Err(Errno::EINVAL),
            AF_UNSPEC | AF_INET6 => Ok(v6(b)),
            _ => Err(Errno::EAFNOSUPPORT),
        },
        (SockOp::Send, Some(f)) => match f {
            AF_INET6 if len < SOCKADDR_IN6_MIN => Err(Errno::EINVAL),
            AF_INET6 => no_port_0(ty, v6(b)),
            AF_INET if len < SOCKADDR_IN => Err(Errno::EINVAL),
            AF_INET => no_port_0(ty, v4(b, false)),
            // udpv6_sendmsg: AF_UNSPEC means no destination.
            AF_UNSPEC => Ok(Address::Unspec),
            _ => Err(Errno::EINVAL),
        },
    }
}

/// An `AF_UNIX` socket.
fn unix(b: &[u8], family: Option<u16>, ty: SockType, op: SockOp) -> Result<Address, Errno> {
    // unix_validate_addr: longer than sun_family, at most a sockaddr_un, of family AF_UNIX.
    let validated = || {
        if b.len() <= SUN_PATH || b.len() > SOCKADDR_UN || family != Some(AF_UNIX) {
            return Err(Errno::EINVAL);
        }
        let path = &b[SUN_PATH..];
        Ok(Address::Unix(match path.split_first() {
            Some((0, name)) => UnixAddr::Abstract(name.to_vec()),
            _ => UnixAddr::Path(path.split(|c| *c == 0).next().unwrap_or_default().to_vec()),
        }))
    };
    match op {
        SockOp::Bind if b.len() == SUN_PATH && family == Some(AF_UNIX) => Ok(Address::Unix(UnixAddr::Unnamed)),
        SockOp::Connect if ty == SockType::Dgram && family.is_none() => Err(Errno::EINVAL),
        SockOp::Connect if ty == SockType::Dgram && family == Some(AF_UNSPEC) => Ok(Address::Unspec),
        // Stream sockets refuse an address (EISCONN or EOPNOTSUPP by state), seqpacket ones ignore it.
        SockOp::Send if ty != SockType::Dgram => Ok(Address::Unspec),
        _ => validated(),
    }
}

impl Address {
    /// The destination's family: IPv4-mapped IPv6 addresses are [`Family::Inet`].
    pub fn family(&self) -> Option<Family> {
        match self {
            Address::V4 { .. } => Some(Family::Inet),
            Address::V6 { .. } => Some(Family::Inet6),
            Address::Unix(_) => Some(Family::Unix),
            Address::Unspec | Address::Other { .. } => None,
        }
    }

    /// The IP address (IPv4 for a mapped one).
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Address::V4 { ip, .. } => Some(IpAddr::V4(*ip)),
            Address::V6 { ip, .. } => Some(IpAddr::V6(*ip)),
            _ => None,
        }
    }

    pub fn port(&self) -> Option<u16> {
        match self {
            Address::V4 { port, .. } | Address::V6 { port, .. } => Some(*port),
            _ => None,
        }
    }

    /// The `sockaddr` bytes of this address, as the kernel would read them back with [`decode`] (a mapped address
    /// as an `AF_INET6` one; flow info 0). `Unspec` is a bare `AF_UNSPEC`; `Other` is its family alone.
    pub fn to_sockaddr(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(SOCKADDR_IN6);
        match self {
            Address::V4 { ip, port, mapped: false } => {
                out.extend(AF_INET.to_ne_bytes());
                out.extend(port.to_be_bytes());
                out.extend(ip.octets());
                out.extend([0; 8]);
            }
            Address::V4 { ip, port, mapped: true } => {
                out.extend(AF_INET6.to_ne_bytes());
                out.extend(port.to_be_bytes());
                out.extend([0; 4]);
                out.extend(ip.to_ipv6_mapped().octets());
                out.extend([0; 4]);
            }
            Address::V6 { ip, port, scope_id } => {
                out.extend(AF_INET6.to_ne_bytes());
                out.extend(port.to_be_bytes());
                out.extend([0; 4]);
                out.extend(ip.octets());
                out.extend(scope_id.to_ne_bytes());
            }
            Address::Unix(u) => {
                out.extend(AF_UNIX.to_ne_bytes());
                match u {
                    UnixAddr::Path(p) => out.extend(p),
                    UnixAddr::Abstract(name) => {
                        out.push(0);
                        out.extend(name);
                    }
                    UnixAddr::Unnamed => {}
                }
            }
            Address::Unspec => out.extend(AF_UNSPEC.to_ne_bytes()),
            Address::Other { family } => out.extend(family.unwrap_or(AF_UNSPEC).to_ne_bytes()),
        }
        out
    }

    /// The address for a prompt or a log line, with the protocol its socket type speaks:
    /// `93.184.216.34 port 443 (TCP)`, `[::1] port 8080 (UDP)`, `unix:/run/x.sock`, `abstract:name`.
    pub fn describe(&self, ty: Option<SockType>) -> String {
        let proto = ty.and_then(SockType::ip_protocol).filter(|_| self.ip().is_some());
        match proto {
            Some(p) => format!("{self} ({p})"),
            None => self.to_string(),
        }
    }

    /// The `addresses` pattern that matches exactly this address (`with_port`) or this host on any port, for saved
    /// answers and `record`: `93.184.216.34:443`, `[::1]:8080`, `93.184.216.34`, `unix:/run/x.sock` (glob characters
    /// escaped), `abstract:name`. `None` for what no pattern names (no destination, an unnamed or non-UTF-8 unix
    /// address, another family).
    pub fn to_pattern(&self, with_port: bool) -> Option<String> {
        let escape = |b: &[u8]| {
            let text = std::str::from_utf8(b).ok()?;
            Some(text.chars().fold(String::new(), |mut s, c| {
                if "*?[]{}\\".contains(c) {
                    s.push('\\');
                }
                s.push(c);
                s
            }))
        };
        match (self, with_port) {
            (Address::V4 { ip, port, .. }, true) => Some(format!("{ip}:{port}")),
            (Address::V4 { ip, .. }, false) => Some(ip.to_string()),
            (Address::V6 { ip, port, .. }, true) => Some(format!("[{ip}]:{port}")),
            (Address::V6 { ip, .. }, false) => Some(ip.to_string()),
            (Address::Unix(UnixAddr::Path(p)), _) if p.starts_with(b"/") => Some(format!("unix:{}", escape(p)?)),
            (Address::Unix(UnixAddr::Abstract(name)), _) => Some(format!("abstract:{}", escape(name)?)),
            _ => None,
        }
    }
}

/// Bytes as text, with non-UTF-8 bytes, control characters and backslashes escaped (`caf\xe9`, `\x00`).
pub(crate) fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                c if c.is_control() => out.extend(c.escape_default()),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

impl fmt::Display for Address {
    /// `93.184.216.34 port 443`, `[fe80::1%2] port 80`, `unix:/run/x.sock`, `abstract:name`, `unix:(unnamed)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::V4 { ip, port, .. } => write!(f, "{ip} port {port}"),
            Address::V6 { ip, port, scope_id: 0 } => write!(f, "[{ip}] port {port}"),
            Address::V6 { ip, port, scope_id } => write!(f, "[{ip}%{scope_id}] port {port}"),
            Address::Unix(UnixAddr::Path(p)) => write!(f, "unix:{}", escape_bytes(p)),
            Address::Unix(UnixAddr::Abstract(name)) => write!(f, "abstract:{}", escape_bytes(name)),
            Address::Unix(UnixAddr::Unnamed) => f.write_str("unix:(unnamed)"),
            Address::Unspec => f.write_str("no address (AF_UNSPEC)"),
            Address::Other { family: Some(n) } => write!(f, "an address of family {n}"),
            Address::Other { family: None } => f.write_str("an address too short to have a family"),
        }
    }
}
