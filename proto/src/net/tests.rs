//! Tables for the kernel's rules on `sockaddr` bytes, the display of addresses, the pattern syntax and its errors,
//! and properties: decoding never panics, encoding round-trips, and ranges contain what a naive check says.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;

const TCP4: Socket = Socket { domain: AF_INET, ty: SockType::Stream };
const UDP4: Socket = Socket { domain: AF_INET, ty: SockType::Dgram };
const RAW4: Socket = Socket { domain: AF_INET, ty: SockType::Raw };
const TCP6: Socket = Socket { domain: AF_INET6, ty: SockType::Stream };
const UDP6: Socket = Socket { domain: AF_INET6, ty: SockType::Dgram };
const RAW6: Socket = Socket { domain: AF_INET6, ty: SockType::Raw };
const UNIX_STREAM: Socket = Socket { domain: AF_UNIX, ty: SockType::Stream };
const UNIX_DGRAM: Socket = Socket { domain: AF_UNIX, ty: SockType::Dgram };
const EINVAL: Errno = Errno::EINVAL;

/// Socket, operation, bytes, and what the kernel makes of them.
type DecodeCase = (Socket, SockOp, Vec<u8>, Result<Address, Errno>);
/// `addresses`, `families`, `socketTypes`, the address, its socket's type, and whether the rule matches.
type MatchCase = (&'static [&'static str], &'static [&'static str], &'static [&'static str], Address, SockType, bool);
const EAFNOSUPPORT: Errno = Errno::EAFNOSUPPORT;

fn sin(family: u16, ip: [u8; 4], port: u16) -> Vec<u8> {
    let mut b = family.to_ne_bytes().to_vec();
    b.extend(port.to_be_bytes());
    b.extend(ip);
    b.extend([0; 8]);
    b
}

fn sin6(family: u16, ip: Ipv6Addr, port: u16, scope: Option<u32>) -> Vec<u8> {
    let mut b = family.to_ne_bytes().to_vec();
    b.extend(port.to_be_bytes());
    b.extend(7u32.to_be_bytes()); // flow info, ignored
    b.extend(ip.octets());
    if let Some(scope) = scope {
        b.extend(scope.to_ne_bytes());
    }
    b
}

fn sun(path: &[u8]) -> Vec<u8> {
    let mut b = AF_UNIX.to_ne_bytes().to_vec();
    b.extend(path);
    b
}

fn v4(ip: [u8; 4], port: u16) -> Address {
    Address::V4 { ip: Ipv4Addr::from(ip), port, mapped: false }
}

fn v6(ip: &str, port: u16, scope_id: u32) -> Address {
    Address::V6 { ip: ip.parse().unwrap(), port, scope_id }
}

fn path(p: &str) -> Address {
    Address::Unix(UnixAddr::Path(p.as_bytes().to_vec()))
}

#[test]
fn lengths_are_checked_as_move_addr_to_kernel_and_copy_msghdr_do() {
    assert_eq!(addrlen(0), Ok(0));
    assert_eq!(addrlen(16), Ok(16));
    assert_eq!(addrlen(128), Ok(128));
    assert_eq!(addrlen(129), Err(EINVAL));
    assert_eq!(addrlen(u64::from(u32::MAX)), Err(EINVAL), "-1 as an int");
    assert_eq!(addrlen(0xffff_ffff_0000_0010), Ok(16), "the upper half of the register is not part of an int");
    assert_eq!(msg_namelen(200), Ok(128), "sendmsg truncates");
    assert_eq!(msg_namelen(u32::MAX), Err(EINVAL));
    assert_eq!(decode(&[0; 129], TCP4, SockOp::Connect), Err(EINVAL));
}

#[test]
fn ipv4_sockets_follow_the_kernel() {
    let lo = sin(AF_INET, [127, 0, 0, 1], 443);
    let cases: Vec<DecodeCase> = vec![
        (TCP4, SockOp::Connect, lo.clone(), Ok(v4([127, 0, 0, 1], 443))),
        (TCP4, SockOp::Connect, lo[..15].to_vec(), Err(EINVAL)),
        (TCP4, SockOp::Connect, [lo.clone(), vec![9; 20]].concat(), Ok(v4([127, 0, 0, 1], 443))),
        (TCP4, SockOp::Connect, vec![], Err(EINVAL)),
        (TCP4, SockOp::Connect, vec![2], Err(EINVAL)),
        (TCP4, SockOp::Connect, AF_UNSPEC.to_ne_bytes().to_vec(), Ok(Address::Unspec)),
        (UDP4, SockOp::Connect, sin(AF_UNSPEC, [1, 2, 3, 4], 5), Ok(Address::Unspec)),
        (TCP4, SockOp::Connect, sin(AF_INET6, [1, 2, 3, 4], 5), Err(EAFNOSUPPORT)),
        (TCP4, SockOp::Connect, sin(AF_UNIX, [1, 2, 3, 4], 5), Err(EAFNOSUPPORT)),
        (TCP4, SockOp::Connect, sun(b"/x"), Err(EINVAL)),
        (TCP4, SockOp::Bind, sin(AF_INET, [0; 4], 0), Ok(v4([0; 4], 0))),
        (TCP4, SockOp::Bind, sin(AF_UNSPEC, [0; 4], 80), Ok(v4([0; 4], 80))),
        (TCP4, SockOp::Bind, sin(AF_UNSPEC, [127, 0, 0, 1], 80), Err(EAFNOSUPPORT)),
        (TCP4, SockOp::Bind, sin(AF_INET6, [0; 4], 80), Err(EAFNOSUPPORT)),
        (TCP4, SockOp::Bind, AF_INET.to_ne_bytes().to_vec(), Err(EINVAL)),
        (UDP4, SockOp::Send, lo.clone(), Ok(v4([127, 0, 0, 1], 443))),
        (UDP4, SockOp::Send, sin(AF_UNSPEC, [10, 0, 0, 1], 53), Ok(v4([10, 0, 0, 1], 53))),
        (UDP4, SockOp::Send, sin(AF_INET, [10, 0, 0, 1], 0), Err(EINVAL)),
        (RAW4, SockOp::Send, sin(AF_INET, [10, 0, 0, 1], 0), Ok(v4([10, 0, 0, 1], 0))),
        (UDP4, SockOp::Send, sin(AF_INET6, [10, 0, 0, 1], 53), Err(EAFNOSUPPORT)),
        (UDP4, SockOp::Send, vec![], Err(EINVAL)),
        (TCP4, SockOp::Send, sin(AF_INET, [10, 0, 0, 1], 53), Ok(Address::Unspec)),
    ];
    for (socket, op, bytes, want) in cases {
        assert_eq!(decode(&bytes, socket, op), want, "{socket:?} {op:?} {bytes:?}");
    }
}

#[test]
fn ipv6_sockets_follow_the_kernel() {
    let lo: Ipv6Addr = "::1".parse().unwrap();
    let ll: Ipv6Addr = "fe80::1".parse().unwrap();
    let mapped: Ipv6Addr = "::ffff:127.0.0.2".parse().unwrap();
    let cases: Vec<DecodeCase> = vec![
        (TCP6, SockOp::Connect, sin6(AF_INET6, lo, 8080, Some(0)), Ok(v6("::1", 8080, 0))),
        (TCP6, SockOp::Connect, sin6(AF_INET6, lo, 8080, None), Ok(v6("::1", 8080, 0))),
        (TCP6, SockOp::Connect, sin6(AF_INET6, ll, 80, Some(3)), Ok(v6("fe80::1", 80, 3))),
        (TCP6, SockOp::Connect, sin6(AF_INET6, lo, 80, None)[..23].to_vec(), Err(EINVAL)),
        (
            TCP6,
            SockOp::Connect,
            sin6(AF_INET6, mapped, 80, Some(0)),
            Ok(Address::V4 { ip: Ipv4Addr::new(127, 0, 0, 2), port: 80, mapped: true }),
        ),
        (TCP6, SockOp::Connect, sin(AF_INET, [127, 0, 0, 1], 80), Err(EINVAL)),
        (TCP6, SockOp::Connect, sin6(AF_INET, lo, 80, None), Err(EAFNOSUPPORT)),
        (UDP6, SockOp::Connect, sin(AF_INET, [127, 0, 0, 1], 80), Ok(v4([127, 0, 0, 1], 80))),
        (UDP6, SockOp::Connect, sin(AF_INET, [127, 0, 0, 1], 80)[..15].to_vec(), Err(EINVAL)),
        (TCP6, SockOp::Connect, AF_UNSPEC.to_ne_bytes().to_vec(), Ok(Address::Unspec)),
        (TCP6, SockOp::Connect, vec![10], Err(EINVAL)),
        (TCP6, SockOp::Connect, sin6(AF_UNIX, lo, 80, None), Err(EAFNOSUPPORT)),
        (TCP6, SockOp::Bind, sin6(AF_INET6, Ipv6Addr::UNSPECIFIED, 0, None), Ok(v6("::", 0, 0))),
        (TCP6, SockOp::Bind, sin(AF_INET, [0; 4], 80), Err(EINVAL)),
        (TCP6, SockOp::Bind, sin6(AF_UNSPEC, lo, 80, None), Err(EAFNOSUPPORT)),
        (UDP6, SockOp::Send, sin6(AF_INET6, lo, 53, None), Ok(v6("::1", 53, 0))),
        (UDP6, SockOp::Send, sin6(AF_INET6, lo, 0, None), Err(EINVAL)),
        (UDP6, SockOp::Send, sin(AF_INET, [10, 0, 0, 1], 53), Ok(v4([10, 0, 0, 1], 53))),
        (UDP6, SockOp::Send, sin6(AF_UNSPEC, lo, 53, None), Ok(Address::Unspec)),
        (UDP6, SockOp::Send, sin6(AF_UNIX, lo, 53, None), Err(EINVAL)),
        (UDP6, SockOp::Send, vec![10], Err(EINVAL)),
        (RAW6, SockOp::Send, sin6(AF_UNSPEC, lo, 0, None), Ok(v6("::1", 0, 0))),
        (RAW6, SockOp::Send, sin(AF_INET, [10, 0, 0, 1], 0), Err(EINVAL)),
        (RAW6, SockOp::Send, sin6(AF_INET, lo, 0, None), Err(EAFNOSUPPORT)),
        (TCP6, SockOp::Send, vec![], Ok(Address::Unspec)),
    ];
    for (socket, op, bytes, want) in cases {
        assert_eq!(decode(&bytes, socket, op), want, "{socket:?} {op:?} {bytes:?}");
    }
}

#[test]
fn unix_sockets_follow_the_kernel() {
    let abs = |n: &[u8]| Ok(Address::Unix(UnixAddr::Abstract(n.to_vec())));
    let full = [b'a'; 108];
    let cases: Vec<DecodeCase> = vec![
        (UNIX_STREAM, SockOp::Connect, sun(b"/run/x.sock\0"), Ok(path("/run/x.sock"))),
        (UNIX_STREAM, SockOp::Connect, sun(b"/run/x.sock"), Ok(path("/run/x.sock"))),
        (UNIX_STREAM, SockOp::Connect, sun(b"/run/x\0junk"), Ok(path("/run/x"))),
        (UNIX_STREAM, SockOp::Connect, sun(b"rel.sock\0"), Ok(path("rel.sock"))),
        (UNIX_STREAM, SockOp::Connect, sun(&full), Ok(Address::Unix(UnixAddr::Path(full.to_vec())))),
        (UNIX_STREAM, SockOp::Connect, sun(&[full.as_slice(), b"b"].concat()), Err(EINVAL)),
        (UNIX_STREAM, SockOp::Connect, sun(b"\0foo"), abs(b"foo")),
        (UNIX_STREAM, SockOp::Connect, sun(b"\0foo\0\0"), abs(b"foo\0\0")),
        (UNIX_STREAM, SockOp::Connect, sun(b"\0"), abs(b"")),
        (UNIX_STREAM, SockOp::Connect, sun(b""), Err(EINVAL)),
        (UNIX_STREAM, SockOp::Connect, sin(AF_INET, [1; 4], 1), Err(EINVAL)),
        (UNIX_STREAM, SockOp::Connect, AF_UNSPEC.to_ne_bytes().to_vec(), Err(EINVAL)),
        (UNIX_DGRAM, SockOp::Connect, AF_UNSPEC.to_ne_bytes().to_vec(), Ok(Address::Unspec)),
        (UNIX_DGRAM, SockOp::Connect, vec![1], Err(EINVAL)),
        (UNIX_STREAM, SockOp::Bind, sun(b""), Ok(Address::Unix(UnixAddr::Unnamed))),
        (UNIX_STREAM, SockOp::Bind, AF_UNSPEC.to_ne_bytes().to_vec(), Err(EINVAL)),
        (UNIX_STREAM, SockOp::Bind, sun(b"/tmp/s"), Ok(path("/tmp/s"))),
        (UNIX_DGRAM, SockOp::Send, sun(b"/dev/log"), Ok(path("/dev/log"))),
        (UNIX_DGRAM, SockOp::Send, sun(b""), Err(EINVAL)),
        (UNIX_STREAM, SockOp::Send, sun(b"/dev/log"), Ok(Address::Unspec)),
        (
            Socket { domain: 16, ty: SockType::Raw },
            SockOp::Bind,
            vec![16, 0, 0, 0],
            Ok(Address::Other { family: Some(16) }),
        ),
        (Socket { domain: 16, ty: SockType::Raw }, SockOp::Bind, vec![], Ok(Address::Other { family: None })),
    ];
    for (socket, op, bytes, want) in cases {
        assert_eq!(decode(&bytes, socket, op), want, "{socket:?} {op:?} {bytes:?}");
    }
}

#[test]
fn addresses_display_as_a_firewall_shows_them() {
    let cases = [
        (v4([93, 184, 216, 34], 443).describe(Some(SockType::Stream)), "93.184.216.34 port 443 (TCP)"),
        (v4([10, 0, 0, 53], 53).describe(Some(SockType::Dgram)), "10.0.0.53 port 53 (UDP)"),
        (v6("::1", 8080, 0).describe(None), "[::1] port 8080"),
        (v6("::1", 8080, 0).describe(Some(SockType::Stream)), "[::1] port 8080 (TCP)"),
        (v6("fe80::1", 80, 2).to_string(), "[fe80::1%2] port 80"),
        (
            Address::V4 { ip: Ipv4Addr::LOCALHOST, port: 1, mapped: true }.describe(Some(SockType::Stream)),
            "127.0.0.1 port 1 (TCP)",
        ),
        (path("/run/x.sock").describe(Some(SockType::Stream)), "unix:/run/x.sock"),
        (Address::Unix(UnixAddr::Path(b"/tmp/caf\xe9".to_vec())).to_string(), "unix:/tmp/caf\\xe9"),
        (Address::Unix(UnixAddr::Abstract(b"name".to_vec())).to_string(), "abstract:name"),
        (Address::Unix(UnixAddr::Abstract(b"a\0b\n".to_vec())).to_string(), "abstract:a\\u{0}b\\n"),
        (Address::Unix(UnixAddr::Unnamed).to_string(), "unix:(unnamed)"),
        (Address::Unspec.describe(Some(SockType::Stream)), "no address (AF_UNSPEC)"),
        (Address::Other { family: Some(16) }.to_string(), "an address of family 16"),
    ];
    for (got, want) in cases {
        assert_eq!(got, want);
    }
}

#[test]
fn patterns_for_saved_answers_match_what_they_name() {
    let cases = [
        (v4([93, 184, 216, 34], 443), true, Some("93.184.216.34:443")),
        (v4([93, 184, 216, 34], 443), false, Some("93.184.216.34")),
        (v6("::1", 8080, 0), true, Some("[::1]:8080")),
        (v6("::1", 8080, 0), false, Some("::1")),
        (path("/run/a[1].sock"), true, Some("unix:/run/a\\[1\\].sock")),
        (path("rel"), true, None),
        (Address::Unix(UnixAddr::Abstract(b"x*".to_vec())), true, Some("abstract:x\\*")),
        (Address::Unspec, true, None),
    ];
    for (addr, with_port, want) in cases {
        let got = addr.to_pattern(with_port);
        assert_eq!(got.as_deref(), want, "{addr:?}");
        if let Some(text) = got {
            let p = AddressPattern::parse(&text).unwrap();
            assert!(p.matches(&addr), "{text} matches {addr:?}");
            if with_port {
                if let Address::V4 { ip, port, mapped } = addr {
                    assert!(!p.matches(&Address::V4 { ip, port: port + 1, mapped }), "{text}");
                }
            }
        }
    }
}

fn matcher(addresses: &[&str], families: &[&str], types: &[&str]) -> NetMatcher {
    let s = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    NetMatcher::parse(&s(addresses), &s(families), &s(types)).unwrap_or_else(|e| panic!("{addresses:?}: {e:?}"))
}

#[test]
fn patterns_match_addresses() {
    use SockType::*;
    let mapped = |ip: [u8; 4], port| Address::V4 { ip: Ipv4Addr::from(ip), port, mapped: true };
    let abs = |n: &[u8]| Address::Unix(UnixAddr::Abstract(n.to_vec()));
    #[rustfmt::skip]
    let cases: Vec<MatchCase> = vec![
        (&["127.0.0.0/8"], &[], &[], v4([127, 1, 2, 3], 1), Stream, true),
        (&["127.0.0.0/8"], &[], &[], v4([128, 0, 0, 1], 1), Stream, false),
        (&["127.0.0.0/8"], &[], &[], mapped([127, 0, 0, 1], 1), Stream, true),
        (&["127.0.0.0/8"], &[], &[], v6("::1", 1, 0), Stream, false),
        (&["::ffff:127.0.0.0/104"], &[], &[], v4([127, 9, 9, 9], 1), Stream, true),
        (&["::ffff:127.0.0.1"], &[], &[], v4([127, 0, 0, 1], 1), Stream, true),
        (&["::/0"], &[], &[], mapped([127, 0, 0, 1], 1), Stream, false),
        (&["::/0"], &[], &[], v6("2001:db8::1", 1, 0), Stream, true),
        (&["::1"], &[], &[], v6("::1", 9, 0), Stream, true),
        (&["::1"], &[], &[], v6("::2", 9, 0), Stream, false),
        (&["0.0.0.0/0"], &[], &[], v4([8, 8, 8, 8], 53), Dgram, true),
        (&["10.0.0.0/8:443"], &[], &[], v4([10, 1, 1, 1], 443), Stream, true),
        (&["10.0.0.0/8:443"], &[], &[], v4([10, 1, 1, 1], 444), Stream, false),
        (&["[::1]:8000-8100"], &[], &[], v6("::1", 8000, 0), Stream, true),
        (&["[::1]:8000-8100"], &[], &[], v6("::1", 8100, 0), Stream, true),
        (&["[::1]:8000-8100"], &[], &[], v6("::1", 8101, 0), Stream, false),
        (&["[::1]:8000-8100"], &[], &[], v6("::1", 7999, 0), Stream, false),
        (&["[fe80::/10]:22"], &[], &[], v6("fe80::1", 22, 4), Stream, true),
        (&["*:443"], &[], &[], v4([1, 1, 1, 1], 443), Stream, true),
        (&["*:443"], &[], &[], v6("2001:db8::1", 443, 0), Stream, true),
        (&["*:443"], &[], &[], v6("2001:db8::1", 80, 0), Stream, false),
        (&["*"], &[], &[], path("/run/x"), Stream, false),
        (&["*"], &[], &[], Address::Unspec, Stream, false),
        (&["unix:/run/**"], &[], &[], path("/run/a/b.sock"), Stream, true),
        (&["unix:/run/*"], &[], &[], path("/run/a/b.sock"), Stream, false),
        (&["unix:/run/**"], &[], &[], path("run/a"), Stream, false),
        (&["unix:/run/**"], &[], &[], abs(b"/run/a"), Stream, false),
        (&["abstract:foo*"], &[], &[], abs(b"foo/bar\0"), Stream, true),
        (&["abstract:foo*"], &[], &[], abs(b"xfoo"), Stream, false),
        (&["abstract:foo*"], &[], &[], path("/foo"), Stream, false),
        (&["127.0.0.1", "unix:/tmp/*"], &[], &[], path("/tmp/s"), Dgram, true),
        (&[], &["inet"], &[], mapped([1, 2, 3, 4], 1), Stream, true),
        (&[], &["inet6"], &[], mapped([1, 2, 3, 4], 1), Stream, false),
        (&[], &["inet6"], &[], v6("::1", 1, 0), Stream, true),
        (&[], &["unix"], &[], Address::Unix(UnixAddr::Unnamed), Stream, true),
        (&[], &["inet", "inet6", "unix"], &[], Address::Unspec, Stream, false),
        (&[], &[], &["dgram"], Address::Unspec, Dgram, true),
        (&[], &[], &["stream", "raw"], v4([1; 4], 1), Dgram, false),
        (&["127.0.0.0/8"], &["inet"], &["stream"], v4([127, 0, 0, 1], 1), Stream, true),
        (&["127.0.0.0/8"], &["inet"], &["stream"], v4([127, 0, 0, 1], 1), Dgram, false),
        (&[], &[], &[], Address::Other { family: None }, Other(9), true),
    ];
    for (addresses, families, types, addr, ty, want) in cases {
        let m = matcher(addresses, families, types);
        assert_eq!(m.matches(&addr, ty), want, "{addresses:?} {families:?} {types:?} on {addr:?} {ty:?}");
    }
}

#[test]
fn every_mistake_in_a_pattern_has_its_own_message() {
    let cases = [
        ("", "empty address"),
        ("localhost", "\"localhost\" is not an address: host names are not resolved"),
        ("example.com:443", "\"example.com:443\" is not an address: host names are not resolved"),
        ("cafe", "\"cafe\" is not an address: host names are not resolved"),
        ("1.2.3", "\"1.2.3\": \"1.2.3\" is not a valid IPv4 or IPv6 address"),
        ("010.0.0.1", "\"010.0.0.1\": \"010.0.0.1\" is not a valid IPv4 or IPv6 address"),
        ("10.0.0.1/8", "\"10.0.0.1/8\": the range 10.0.0.1/8 has host bits set; did you mean 10.0.0.0/8?"),
        ("fe80::1/10", "the range fe80::1/10 has host bits set; did you mean fe80::/10?"),
        ("10.0.0.0/33", "\"10.0.0.0/33\": prefix length \"33\" is out of range for IPv4 (0..=32)"),
        ("::/129", "prefix length \"129\" is out of range for IPv6 (0..=128)"),
        ("10.0.0.0/+8", "prefix length \"+8\" is out of range"),
        ("1.2.3.4:70000", "\"1.2.3.4:70000\": port 70000 is out of range (0..=65535)"),
        ("1.2.3.4:", "\"1.2.3.4:\": \"\" is not a port number (0..=65535)"),
        ("1.2.3.4:https", "\"https\" is not a port number"),
        ("1.2.3.4:90-80", "\"1.2.3.4:90-80\": port range 90-80 is reversed (write 80-90)"),
        ("1.2.3.4:1-", "\"\" is not a port number"),
        ("[::1", "\"[::1\": \"[\" without a closing \"]\""),
        ("[::1]80", "\"[::1]80\": expected \":PORT\" after \"]\", found \"80\""),
        ("[1.2.3.4]:80", "brackets are for IPv6 addresses; write \"1.2.3.4:80\""),
        ("fe80::1%eth0", "zone ids (\"%eth0\") are not supported"),
        ("unix:run/x", "\"unix:run/x\": \"run/x\" is not an absolute path glob"),
        ("unix:/run/[", "\"unix:/run/[\": invalid glob \"/run/[\""),
        ("abstract:", "no name after \"abstract:\""),
        ("abstract:{a", "invalid glob \"{a\""),
    ];
    for (text, want) in cases {
        let err = AddressPattern::parse(text).expect_err(text);
        assert!(err.contains(want), "{text}\n  want {want}\n  got  {err}");
    }
    let s = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let errs = NetMatcher::parse(
        &s(&["x", "1.2.3.4"]),
        &s(&["ipv4", "inet6", "AF_UNIX", "q"]),
        &s(&["tcp", "datagram", "stream"]),
    )
    .unwrap_err();
    let got: Vec<String> = errs.iter().map(|(k, m)| format!("{k}: {m}")).collect();
    assert_eq!(got.len(), 6, "{got:?}");
    assert!(got[0].starts_with("addresses[0]: \"x\" is not an address"), "{}", got[0]);
    assert!(got[1].starts_with("families[0]: unknown family \"ipv4\" (did you mean \"inet\"?)"), "{}", got[1]);
    assert!(got[2].starts_with("families[2]: unknown family \"AF_UNIX\" (did you mean \"unix\"?)"), "{}", got[2]);
    assert_eq!(got[3], "families[3]: unknown family \"q\" (expected \"inet\", \"inet6\" or \"unix\")");
    assert!(got[4].starts_with("socketTypes[0]: unknown socket type \"tcp\" (did you mean \"stream\"?)"), "{}", got[4]);
    assert!(got[5].starts_with("socketTypes[1]: unknown socket type \"datagram\" (did you mean \"dgram\"?)"));
    let errs = NetMatcher::parse(&s(&["10.0.0.0/8", "unix:/x"]), &s(&["inet6"]), &[]).unwrap_err();
    assert_eq!(
        errs,
        [(
            "families".to_string(),
            "no entry of \"addresses\" is of these families, so the rule could never match".to_string()
        )]
    );
    assert!(NetMatcher::parse(&s(&["*:443"]), &s(&["inet6"]), &[]).is_ok(), "* can be IPv6");
}

#[test]
fn the_syscall_table_says_where_each_address_is() {
    assert_eq!(address_arg("connect"), Some(AddressArg::Direct { addr: 1, len: 2, op: SockOp::Connect }));
    assert_eq!(address_arg("sendto"), Some(AddressArg::Direct { addr: 4, len: 5, op: SockOp::Send }));
    assert_eq!(address_arg("sendmsg"), Some(AddressArg::Msghdr { msg: 1 }));
    assert_eq!(address_arg("accept4"), Some(AddressArg::Accepted));
    for none in ["listen", "socket", "recvfrom", "read", "socketcall"] {
        assert_eq!(address_arg(none), None, "{none}");
    }
    assert_eq!(SockType::from_raw(1 | 0o4000 | 0o2000000), SockType::Stream, "SOCK_NONBLOCK|SOCK_CLOEXEC masked");
    assert_eq!(SockType::from_raw(4), SockType::Other(4));
}

fn any_address() -> impl Strategy<Value = Address> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>(), any::<bool>()).prop_map(|(ip, port, mapped)| Address::V4 {
            ip: ip.into(),
            port,
            mapped
        }),
        (any::<u128>(), any::<u16>(), any::<u32>())
            .prop_filter("mapped addresses decode as V4", |(ip, ..)| Ipv6Addr::from(*ip).to_ipv4_mapped().is_none())
            .prop_map(|(ip, port, scope_id)| Address::V6 { ip: ip.into(), port, scope_id }),
        "/[a-z/]{0,106}".prop_map(|p| Address::Unix(UnixAddr::Path(p.into_bytes()))),
        prop::collection::vec(any::<u8>(), 0..107).prop_map(|n| Address::Unix(UnixAddr::Abstract(n))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decoding_arbitrary_bytes_never_panics(
        bytes in prop::collection::vec(any::<u8>(), 0..140),
        domain in prop_oneof![Just(AF_INET), Just(AF_INET6), Just(AF_UNIX), any::<u16>()],
        ty in (0u32..8).prop_map(SockType::from_raw),
        op in prop_oneof![Just(SockOp::Connect), Just(SockOp::Bind), Just(SockOp::Send)],
    ) {
        let socket = Socket { domain, ty };
        if let Ok(a) = decode(&bytes, socket, op) {
            let _ = a.describe(Some(ty));
            // What decodes re-encodes to bytes that decode the same (unless it is "no destination").
            if !matches!(a, Address::Unspec | Address::Other { .. }) {
                prop_assert_eq!(decode(&a.to_sockaddr(), socket, op), Ok(a));
            }
        }
    }

    #[test]
    fn encoded_addresses_decode_to_themselves(a in any_address()) {
        let (domain, ty) = match &a {
            Address::V4 { mapped: false, .. } => (AF_INET, SockType::Stream),
            Address::Unix(_) => (AF_UNIX, SockType::Stream),
            _ => (AF_INET6, SockType::Stream),
        };
        prop_assert_eq!(decode(&a.to_sockaddr(), Socket { domain, ty }, SockOp::Connect), Ok(a));
    }

    #[test]
    fn ranges_contain_what_a_naive_bit_comparison_says(net in any::<u32>(), prefix in 0u8..=32, ip in any::<u32>()) {
        let net = if prefix == 0 { 0 } else { net & (u32::MAX << (32 - prefix)) };
        let text = format!("{}/{prefix}", Ipv4Addr::from(net));
        let p = AddressPattern::parse(&text).unwrap();
        let naive = prefix == 0 || (ip ^ net) >> (32 - prefix) == 0;
        prop_assert_eq!(p.matches(&Address::V4 { ip: ip.into(), port: 1, mapped: false }), naive);
        // And the same range written as IPv4-mapped IPv6 means the same.
        let mapped = format!("{}/{}", Ipv4Addr::from(net).to_ipv6_mapped(), u32::from(prefix) + 96);
        prop_assert_eq!(AddressPattern::parse(&mapped).unwrap(), p);
    }

    #[test]
    fn v6_ranges_contain_what_a_naive_bit_comparison_says(net in any::<u128>(), prefix in 0u8..=128, ip in any::<u128>()) {
        let net = if prefix == 0 { 0 } else { net & (u128::MAX << (128 - u32::from(prefix))) };
        let cidr = Cidr { addr: IpAddr::V6(net.into()), prefix };
        let naive = prefix == 0 || (ip ^ net) >> (128 - u32::from(prefix)) == 0;
        prop_assert_eq!(cidr.contains(IpAddr::V6(ip.into())), naive);
        prop_assert!(!cidr.contains(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }

    #[test]
    fn port_ranges_are_inclusive(a in any::<u16>(), b in any::<u16>(), port in any::<u16>()) {
        let (lo, hi) = (a.min(b), a.max(b));
        let p = AddressPattern::parse(&format!("*:{lo}-{hi}")).unwrap();
        let addr = Address::V6 { ip: Ipv6Addr::LOCALHOST, port, scope_id: 0 };
        prop_assert_eq!(p.matches(&addr), (lo..=hi).contains(&port));
    }

    #[test]
    fn arbitrary_pattern_text_never_panics(text in "[0-9a-f:./\\[\\]*-]{0,40}|unix:.{0,20}|abstract:.{0,20}") {
        let _ = AddressPattern::parse(&text);
    }
}
