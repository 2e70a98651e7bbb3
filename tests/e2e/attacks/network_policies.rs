//! The network policies that leave loopback open (`net-loopback-only`, `net-git-curl-443`, `net-ask-outside-lan`):
//! their attacks aim at a host that is not loopback. Each test runs on a thread of its own that enters a network
//! namespace of its own (root only; nothing on the host changes), brings its loopback device up and puts
//! 192.0.2.1 (TEST-NET-1, "the outside") and 10.9.9.9 ("the LAN") on it, with listeners there that record what
//! reaches them. The supervised programs start from that thread, so they share the namespace.

use std::path::Path;

use super::exe_network::{rerouting, Listeners};
use super::{assert_all_held, cmd, helper, py, temp, under_policy, Attack, Table, KILLED};
use crate::support::{needs_root, policy_file, run};

/// "The outside": not loopback, not a private range.
const OUTSIDE: &str = "192.0.2.1";
/// "The LAN": a private range.
const LAN: &str = "10.9.9.9";

/// Runs `f` on a thread in a network namespace of its own, with [`OUTSIDE`] and [`LAN`] on its loopback device.
/// `None` (and a note) when not root.
fn in_own_network<T: Send>(f: impl FnOnce() -> T + Send) -> Option<T> {
    if !needs_root("a network namespace of the test's own") {
        return None;
    }
    let result = std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: unshare(2) with CLONE_NEWNET moves only this thread into a new network namespace; it takes no
            // pointers. The threads and processes it starts from now on are in it too; no other thread is.
            assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0, "unshare(CLONE_NEWNET)");
            for args in [
                &["link", "set", "lo", "up"][..],
                &["addr", "add", &format!("{OUTSIDE}/32"), "dev", "lo"],
                &["addr", "add", &format!("{LAN}/32"), "dev", "lo"],
            ] {
                let out = run("ip", args);
                assert_eq!(out.code, Some(0), "ip {args:?}: {}", out.stderr);
            }
            f()
        })
        .join()
    });
    Some(result.unwrap_or_else(|e| std::panic::resume_unwind(e)))
}

/// What each attack may use: `{host}`, `{port}` and `{udp}` (the outside listeners), `{lo_port}`, `{lo_udp}`,
/// `{sock}` and `{abstract}` (the loopback and unix listeners), `mmsg(host, port)` (sendmmsg(2) of one datagram
/// through ctypes, as Python has no sendmmsg).
const SETUP: &str = r#"
def mmsg(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    name = ctypes.create_string_buffer(struct.pack('=HH4s8x', socket.AF_INET, socket.htons(port), socket.inet_aton(host)), 16)
    data = ctypes.create_string_buffer(b'sendmmsg', 8)
    iov = ctypes.create_string_buffer(struct.pack('=QQ', ctypes.addressof(data), 8), 16)
    hdr = ctypes.create_string_buffer(struct.pack('=QI4xQQQQi4xI4x', ctypes.addressof(name), 16, ctypes.addressof(iov), 1, 0, 0, 0, 0), 64)
    expect(raw(307, s.fileno(), hdr, 1, 0), 1)
"#;

fn table<'a>(policy: &str, root: &'a Path, outside: &Listeners, lo: &Listeners) -> Table<'a> {
    // The unix sockets are the loopback listeners': reaching them is allowed.
    let vars = vec![
        ("host", OUTSIDE.to_string()),
        ("port", outside.tcp.to_string()),
        ("udp", outside.udp.to_string()),
        ("lo_port", lo.tcp.to_string()),
        ("lo_udp", lo.udp.to_string()),
        ("sock", lo.sock.clone()),
        ("abstract", lo.abstract_name.clone()),
    ];
    Table { prefix: under_policy(&policy_file(policy)), dir: root, setup: SETUP, watch: None, vars }
}

/// The ways to reach the outside host: connects, binds and sends of every kind, and the ways around the check.
/// `send` is the errno for connects and sends, `bind` for binds.
fn to_the_outside(send: &str, bind: &str) -> Vec<Attack> {
    let mut list = vec![
        py("TCP connect", "socket.create_connection(('{host}', {port}), timeout=5)", send),
        py(
            "TCP connect, non-blocking",
            "(lambda s: (s.setblocking(False), s.connect(('{host}', {port}))))(socket.socket())",
            send,
        ),
        py("UDP connect", "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).connect(('{host}', {udp}))", send),
        py("UDP sendto", "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'sendto', ('{host}', {udp}))", send),
        py(
            "UDP sendmsg",
            "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendmsg([b'sendmsg'], [], 0, ('{host}', {udp}))",
            send,
        ),
        py("UDP sendmmsg", "mmsg('{host}', {udp})", send),
        py("IPv4-mapped IPv6 connect", "socket.socket(socket.AF_INET6).connect(('::ffff:{host}', {port}))", send),
        py("TCP bind to the outside address", "socket.socket().bind(('{host}', 0))", bind),
        helper("io_uring connect", &["uring-connect", "{port}"], "ENOSYS"),
        py(
            "outgoing interface in a control message (IP_PKTINFO with an ifindex)",
            "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendmsg([b'pktinfo'], [(0, 8, struct.pack('=i4s4s', 1, bytes(4), bytes(4)))], 0, ('127.0.0.1', {lo_udp}))",
            "EPERM",
        ),
        helper("int 0x80 socketcall(SYS_CONNECT)", &["int80", "102", "3", "z:12"], KILLED),
        helper("x32 sendto", &["x32", "44", "3", "z:8", "8", "0", "z:16", "16"], KILLED),
    ];
    list.extend(rerouting("{lo_udp}", "EPERM"));
    let tfo =
        std::fs::read_to_string("/proc/sys/net/ipv4/tcp_fastopen").ok().and_then(|v| v.trim().parse::<u32>().ok());
    if tfo.is_some_and(|v| v & 1 != 0) {
        list.push(py(
            "TCP Fast Open sendto",
            "socket.socket().sendto(b'fastopen', socket.MSG_FASTOPEN, ('{host}', {port}))",
            send,
        ));
    }
    list
}

/// What loopback-only and friends leave open to every program: loopback, unix sockets, netlink.
fn local_calls() -> Vec<Attack> {
    vec![
        py("TCP connect to loopback", "socket.create_connection(('127.0.0.1', {lo_port}), timeout=5).send(b'lo')", "ok"),
        py("UDP sendto loopback", "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'lo-udp', ('127.0.0.1', {lo_udp}))", "ok"),
        py(
            "send() on a UDP socket connected to loopback",
            "(lambda s: (s.connect(('127.0.0.1', {lo_udp})), s.send(b'lo-send')))(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))",
            "ok",
        ),
        py(
            "IP_PKTINFO without an ifindex (a source address only)",
            "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendmsg([b'lo-pktinfo'], [(0, 8, struct.pack('=i4s4s', 0, bytes(4), bytes(4)))], 0, ('127.0.0.1', {lo_udp}))",
            "ok",
        ),
        py("unix connect", "socket.socket(socket.AF_UNIX).connect('{sock}')", "ok"),
        py("netlink bind", "socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0).bind((0, 0))", "ok"),
        py(
            "UDP connect with AF_UNSPEC (dissolves the association)",
            "(lambda s: (s.connect(('127.0.0.1', {lo_udp})), raw(42, s.fileno(), struct.pack('=H14x', 0), 16)))(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))",
            "ok",
        ),
    ]
}

/// The loopback listener got what the local calls sent; the outside got nothing but what `allowed` names.
fn assert_received(what: &str, outside: &Listeners, lo: &Listeners, allowed: &[&str]) {
    let got = outside.received();
    let unexpected: Vec<&String> = got.iter().filter(|g| !allowed.iter().any(|a| g.starts_with(a))).collect();
    assert!(unexpected.is_empty(), "{what}: reached the outside: {unexpected:?}");
    let local = lo.received();
    for payload in ["tcp lo", "udp lo-udp", "udp lo-send", "udp lo-pktinfo", "unix connection"] {
        assert!(local.iter().any(|g| g == payload), "{what}: {payload:?} did not reach loopback: {local:?}");
    }
}

#[test]
fn net_loopback_only_keeps_every_way_out_shut() {
    in_own_network(|| {
        let (_dir, root) = temp();
        let outside = Listeners::start_at(&root, OUTSIDE, 0);
        let lo = Listeners::start(&root);
        let t = table("net-loopback-only.json", &root, &outside, &lo);
        let mut attacks = to_the_outside("ENETUNREACH", "EADDRNOTAVAIL");
        attacks.extend([
            py(
                "connect to 0.0.0.0 (this host)",
                "socket.create_connection(('0.0.0.0', {port}), timeout=5)",
                "ENETUNREACH",
            ),
            py("bind to 0.0.0.0 (every interface)", "socket.socket().bind(('0.0.0.0', 0))", "EADDRNOTAVAIL"),
            py("bind to :: (every interface)", "socket.socket(socket.AF_INET6).bind(('::', 0))", "EADDRNOTAVAIL"),
            py("bind to the LAN address", "socket.socket().bind(('10.9.9.9', 0))", "EADDRNOTAVAIL"),
            cmd(
                "a thread rewrites the address between loopback and the outside",
                &[
                    &crate::support::probe().with_file_name("netprobe").display().to_string(),
                    "race",
                    "127.0.0.1:{lo_port}",
                    "{host}:{port}",
                    "300",
                ],
                "exit 0",
            ),
        ]);
        attacks.extend(local_calls());
        assert_all_held("net-loopback-only", &t.run(&attacks));
        assert_received("net-loopback-only", &outside, &lo, &[]);
    });
}

#[test]
fn net_git_curl_443_lets_only_git_and_curl_out_and_only_to_443() {
    in_own_network(|| {
        let (_dir, root) = temp();
        let outside = Listeners::start_at(&root, OUTSIDE, 443);
        let other = Listeners::start_at(&root, OUTSIDE, 0);
        let lo = Listeners::start(&root);
        let mut t = table("net-git-curl-443.json", &root, &outside, &lo);
        t.vars.push(("other_port", other.tcp.to_string()));
        let mut attacks = to_the_outside("EACCES", "EACCES");
        attacks.extend(local_calls());
        let curl = Path::new("/usr/bin/curl");
        if curl.exists() {
            std::fs::create_dir(root.join("bin")).unwrap();
            std::fs::copy(curl, root.join("bin/curl")).unwrap();
            attacks.extend([
                cmd(
                    "curl to another port",
                    &["/usr/bin/curl", "-s", "-m", "5", "http://{host}:{other_port}/"],
                    "exit 7",
                ),
                cmd("a copy of curl elsewhere", &["{D}/bin/curl", "-s", "-m", "5", "http://{host}:443/"], "exit 7"),
                // The control: curl itself reaches port 443 (the listener answers nothing: an empty reply).
                cmd(
                    "curl to 443",
                    &["/usr/bin/curl", "-s", "-m", "5", "-o", "/dev/null", "http://{host}:443/"],
                    "exit 52|exit 56",
                ),
            ]);
        } else {
            eprintln!("note: /usr/bin/curl is not installed: curl's own calls are not tried");
        }
        assert_all_held("net-git-curl-443", &t.run(&attacks));
        let allowed: &[&str] = if curl.exists() { &["tcp GET / "] } else { &[] };
        assert_received("net-git-curl-443", &outside, &lo, allowed);
        if curl.exists() {
            assert!(outside.received().iter().any(|g| g.starts_with("tcp GET / ")), "curl's request arrived");
        }
        assert_eq!(other.received(), Vec::<String>::new(), "nothing reached the other port");
    });
}

/// Without a terminal nobody can answer, so every question is refused at once (onTimeout deny); the LAN is
/// allowed without one.
#[test]
fn net_ask_outside_lan_asks_for_the_outside_only() {
    in_own_network(|| {
        let (_dir, root) = temp();
        let outside = Listeners::start_at(&root, OUTSIDE, 0);
        let lan = Listeners::start_at(&root, LAN, 0);
        let lo = Listeners::start(&root);
        let t = table("net-ask-outside-lan.json", &root, &outside, &lo);
        let mut attacks = to_the_outside("ECONNREFUSED", "ECONNREFUSED");
        attacks.extend(local_calls());
        let lan_port = lan.tcp.to_string();
        let lan_connect = format!("socket.create_connection(('{LAN}', {lan_port}), timeout=5).send(b'lan')");
        attacks.push(py("TCP connect to the LAN", &lan_connect, "ok"));
        assert_all_held("net-ask-outside-lan", &t.run(&attacks));
        assert_received("net-ask-outside-lan", &outside, &lo, &[]);
        assert!(lan.received().iter().any(|g| g == "tcp lan"), "the LAN connection arrived");
    });
}
