//! Address rules on `sendto`, `sendmsg` and `sendmmsg`: the kernel's answers (a differential run against the plain
//! kernel), datagrams that arrive only where allowed, sends decided on the peer, TCP Fast Open, SCM_RIGHTS, a race
//! on the `sockaddr`, the target's own credentials, and a blocking send. Loopback only, with listeners these tests
//! start and stop.

use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{netprobe, result, sup_in, sup_net, Server};
use crate::support::*;

/// A UDP socket that counts the datagrams it receives, on a thread of its own, until dropped.
struct Datagrams {
    port: u16,
    count: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Datagrams {
    fn start(ip: &str) -> Option<Datagrams> {
        let socket = UdpSocket::bind((ip, 0)).ok()?;
        socket.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
        let port = socket.local_addr().unwrap().port();
        let (count, stop) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        let (c, s) = (count.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 70_000];
            while !s.load(Ordering::Relaxed) {
                if socket.recv(&mut buf).is_ok() {
                    c.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        Some(Datagrams { port, count, stop })
    }

    fn count(&self) -> usize {
        std::thread::sleep(Duration::from_millis(100));
        self.count.load(Ordering::SeqCst)
    }
}

impl Drop for Datagrams {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

const SENDS: &str = r#""sendto","sendmsg","sendmmsg""#;

/// Deny `deny` with EACCES, allow `allow` on the sends, deny the rest with `errno`.
fn send_policy(dir: &Path, deny: &[String], allow: &[String], errno: &str) -> PathBuf {
    let (deny, allow) = (serde_json::to_string(deny).unwrap(), serde_json::to_string(allow).unwrap());
    let deny_rule = if deny == "[]" {
        String::new()
    } else {
        format!(
            r#"{{"names":[{SENDS}],"action":"SCMP_ACT_NOTIFY","supervise":{{"decision":"deny","errnoRet":"EACCES","addresses":{deny}}}}},"#
        )
    };
    let json = format!(
        r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{deny_rule}
        {{"names":[{SENDS}],"action":"SCMP_ACT_NOTIFY","supervise":{{"decision":"allow","addresses":{allow}}}}},
        {{"names":[{SENDS}],"action":"SCMP_ACT_NOTIFY","supervise":{{"decision":"deny","errnoRet":"{errno}"}}}}]}}"#
    );
    write_policy(dir, "sends.json", &json)
}

#[test]
fn sends_return_what_the_kernel_returns() {
    let dir = temp_dir();
    let real = std::fs::canonicalize(dir.path()).unwrap();
    let _unix = UnixDatagram::bind(real.join("d.sock")).unwrap();
    let udp = Datagrams::start("127.0.0.1").unwrap();
    let a = format!("127.0.0.1:{}", udp.port);
    // Everything is allowed, by an address rule: every call below is performed by supervise (never CONTINUE).
    let policy = write_policy(
        dir.path(),
        "all.json",
        &format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {{"names":[{SENDS}],"action":"SCMP_ACT_NOTIFY","supervise":{{"decision":"allow","addresses":["*","unix:/**"]}}}},
            {{"names":[{SENDS}],"action":"SCMP_ACT_NOTIFY","supervise":{{"decision":"allow"}}}}]}}"#
        ),
    );
    let mut table: Vec<Vec<String>> = [
        "sendto A",
        "sendto A 0",
        "sendto A 70000",
        "sendto-badlen A",
        "sendto-shortlen A",
        "sendto-zerolen A",
        "sendto-fault-addr",
        "sendto-fault-buf A",
        "sendto-kernel-buf A",
        "sendto-partial-fault A",
        "sendto-badfd A",
        "sendto-notsock A",
        "sendto-oob A",
        "sendto-stream A",
        "sendto-stream-sigpipe A",
        "send-connected A",
        "sendmsg A",
        "sendmsg-iovmax A",
        "sendmsg-negnamelen A",
        "sendmsg-fault-msghdr",
        "sendmsg-fault-iov A",
        "sendmsg-fault-control A",
        "sendmsg-compat-flag A",
        "sendmmsg A A A",
        "sendmmsg-badsecond A",
        "sendmmsg-none A",
        "send-unconnected A",
        "sendto-on-inet6 A",
        "sendto-socketpair unix:d.sock",
        "sendto unix:d.sock",
        "sendto unix:missing.sock",
        "sendmsg unix:./d.sock",
    ]
    .iter()
    .map(|line| {
        line.split(' ').map(|w| w.replace('A', &a).replace("unix:", &format!("unix:{}/", real.display()))).collect()
    })
    .collect();
    if UdpSocket::bind("[::1]:0").is_ok() {
        table.push(vec!["sendto".into(), format!("[::1]:{}", udp.port)]);
        table.push(vec!["sendto-shortlen".into(), format!("[::1]:{}", udp.port)]);
        table.push(vec!["sendto-on-inet".into(), format!("[::1]:{}", udp.port)]);
    }
    let netprobe = netprobe();
    for args in &table {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let plain = run(&netprobe, &args);
        let supervised = sup_net(&policy, &[], &real, &args);
        assert_eq!(
            (supervised.code, supervised.stdout.as_str()),
            (plain.code, plain.stdout.as_str()),
            "{args:?} under supervise (left) and plainly (right): {}",
            supervised.stderr
        );
    }
    // An unconnected stream socket: EPIPE, and SIGPIPE without MSG_NOSIGNAL, as the kernel does it.
    assert_eq!(run(&netprobe, &["sendto-stream-sigpipe", &a]).code, Some(128 + 13));
}

#[test]
fn a_datagram_to_a_denied_port_is_refused_and_never_arrives() {
    let dir = temp_dir();
    let (good, bad) = (Datagrams::start("127.0.0.1").unwrap(), Datagrams::start("127.0.0.1").unwrap());
    let policy = send_policy(dir.path(), &[], &[format!("127.0.0.1:{}", good.port)], "ECONNREFUSED");
    let table = [
        (vec!["sendto".to_string(), format!("127.0.0.1:{}", good.port)], "ok 5"),
        (vec!["sendto".to_string(), format!("127.0.0.1:{}", bad.port)], "err 111"),
        (vec!["sendmsg".to_string(), format!("127.0.0.1:{}", good.port)], "ok 7"),
        (vec!["sendmsg".to_string(), format!("127.0.0.1:{}", bad.port)], "err 111"),
    ];
    for (args, want) in &table {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = sup_net(&policy, &[], dir.path(), &args);
        assert_eq!(result(&out), *want, "{args:?}: {}", out.stderr);
    }
    assert_eq!((good.count(), bad.count()), (2, 0), "only the allowed datagrams arrived");
}

#[test]
fn a_send_without_destination_is_decided_on_the_peer() {
    let dir = temp_dir();
    let (good, bad) = (Datagrams::start("127.0.0.1").unwrap(), Datagrams::start("127.0.0.1").unwrap());
    // connect itself is not ruled here: the UDP socket connects to either, and send() is decided on its peer.
    let policy = send_policy(dir.path(), &[], &[format!("127.0.0.1:{}", good.port)], "EACCES");
    let out = sup_net(&policy, &[], dir.path(), &["send-connected", &format!("127.0.0.1:{}", good.port)]);
    assert_eq!(result(&out), "ok 5", "{}", out.stderr);
    let out = sup_net(&policy, &[], dir.path(), &["send-connected", &format!("127.0.0.1:{}", bad.port)]);
    assert_eq!(result(&out), "err 13", "{}", out.stderr);
    assert_eq!((good.count(), bad.count()), (1, 0));
    // A stream socket's send is its peer's too: an unconnected one has none, which no allow rule matches.
    let out = sup_net(&policy, &[], dir.path(), &["sendto-stream", &format!("127.0.0.1:{}", good.port)]);
    assert_eq!(result(&out), "err 13", "{}", out.stderr);
}

#[test]
fn a_stream_send_above_the_cap_is_sent_in_parts_and_arrives_whole() {
    use std::io::Read;
    let dir = temp_dir();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let reader = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        conn.read_to_end(&mut got).unwrap();
        got
    });
    let policy = send_policy(dir.path(), &[], &["127.0.0.1".into()], "EACCES");
    let len = 10 << 20;
    let out = sup_net(&policy, &[], dir.path(), &["stream-send", &format!("127.0.0.1:{port}"), &len.to_string()]);
    assert_eq!(result(&out), format!("ok {len}"), "{}", out.stderr);
    let calls: usize = out.stdout.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap();
    assert!(calls >= 3, "at most 4 MiB a call: {}", out.stdout);
    let got = reader.join().unwrap();
    assert_eq!(got.len(), len);
    assert!(got.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8), "the bytes arrived in order");
}

#[test]
fn fast_open_to_a_denied_address_never_connects() {
    let client = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_fastopen").ok();
    if client.and_then(|v| v.trim().parse::<u32>().ok()).is_none_or(|v| v & 1 == 0) {
        return eprintln!("skipped: client TCP Fast Open is off (net.ipv4.tcp_fastopen), and is not changed here");
    }
    let dir = temp_dir();
    let (good, bad) = (Server::start("127.0.0.1").unwrap(), Server::start("127.0.0.1").unwrap());
    let policy = send_policy(dir.path(), &[], &[format!("127.0.0.1:{}", good.port)], "EACCES");
    let out = sup_net(&policy, &[], dir.path(), &["fastopen", &format!("127.0.0.1:{}", bad.port)]);
    assert_eq!(result(&out), "err 13", "{}", out.stderr);
    let out = sup_net(&policy, &[], dir.path(), &["fastopen", &format!("127.0.0.1:{}", good.port)]);
    assert_eq!(result(&out), "ok 5", "{}", out.stderr);
    assert_eq!((good.count(), bad.count()), (1, 0), "the denied Fast Open never connected");
    // TCP_FASTOPEN_CONNECT then send(): decided on where the socket connects to (connect itself is not ruled here;
    // without a server cookie the kernel does not defer the SYN, so only the send is refused).
    let out = sup_net(&policy, &[], dir.path(), &["fastopen-connect", &format!("127.0.0.1:{}", bad.port)]);
    assert_eq!(result(&out), "err 13", "{}", out.stderr);
    let out = sup_net(&policy, &[], dir.path(), &["fastopen-connect", &format!("127.0.0.1:{}", good.port)]);
    assert_eq!(result(&out), "ok 5", "{}", out.stderr);
}

#[test]
fn a_send_on_a_socket_still_connecting_is_decided_on_where_it_connects_to() {
    let dir = temp_dir();
    let policy = send_policy(dir.path(), &[], &["127.0.0.1".into()], "EACCES");
    // A non-blocking connect to a full accept queue stays in SYN_SENT: the send gets the kernel's EAGAIN, not a
    // denial for want of a peer.
    let plain = run(netprobe(), &["send-connecting"]);
    let out = sup_net(&policy, &[], dir.path(), &["send-connecting"]);
    assert_eq!((out.code, out.stdout.as_str()), (plain.code, plain.stdout.as_str()), "{}", out.stderr);
    let denied = send_policy(dir.path(), &[], &["127.0.0.2".into()], "EACCES");
    let out = sup_net(&denied, &[], dir.path(), &["send-connecting"]);
    assert_eq!(result(&out), "err 13", "{}", out.stderr);
}

#[test]
fn scm_rights_pass_the_targets_open_file() {
    let dir = temp_dir();
    let real = std::fs::canonicalize(dir.path()).unwrap();
    std::fs::create_dir(real.join("ok")).unwrap();
    let policy = send_policy(dir.path(), &[], &[format!("unix:{}/ok/*", real.display())], "EACCES");
    // The receiver writes through the fd it got, into the pipe the sender made: the same open file.
    let out = sup_net(&policy, &[], &real, &["scm-rights", "unix:ok/r.sock"]);
    assert_eq!(result(&out), "ok 1", "{}: {}", out.stdout, out.stderr);
    let out = sup_net(&policy, &[], &real, &["scm-rights", "unix:r.sock"]);
    assert_eq!(result(&out), "err 13", "{}", out.stderr);
    // An fd the target does not have: the kernel's EBADF.
    let out = sup_net(&policy, &[], &real, &["scm-rights-badfd", "unix:ok/b.sock"]);
    assert_eq!(result(&out), "err 9", "{}", out.stderr);
    // SCM_CREDENTIALS with the target's own pid passes the kernel's check; the receiver sees supervise's pid (the
    // documented difference), and the target's uid and gid.
    let plain = run(netprobe(), &["scm-credentials", &format!("unix:{}/ok/c1.sock", real.display())]);
    assert_eq!(plain.stdout, "pid self uid 0 gid 0\nok 1\n".replace("uid 0 gid 0", &ids()), "{}", plain.stderr);
    let out = sup_net(&policy, &[], &real, &["scm-credentials", "unix:ok/c2.sock"]);
    assert_eq!(out.stdout, "pid other uid 0 gid 0\nok 1\n".replace("uid 0 gid 0", &ids()), "{}", out.stderr);
}

/// `uid U gid G` of this process, as netprobe prints them.
fn ids() -> String {
    format!("uid {} gid {}", euid(), nix::unistd::getegid())
}

#[test]
fn sendmmsg_is_denied_if_any_destination_is() {
    let dir = temp_dir();
    let (a, b) = (Datagrams::start("127.0.0.1").unwrap(), Datagrams::start("127.0.0.1").unwrap());
    let Some(denied) = Datagrams::start("127.0.0.2") else { return eprintln!("skipped: no 127.0.0.2") };
    let policy = send_policy(dir.path(), &["127.0.0.2".into()], &["127.0.0.0/8".into()], "EPERM");
    let (a_addr, b_addr) = (format!("127.0.0.1:{}", a.port), format!("127.0.0.1:{}", b.port));
    let out = sup_net(&policy, &[], dir.path(), &["sendmmsg", &a_addr, &b_addr]);
    assert_eq!(out.stdout, "msg_len 4 4\nok 2\n", "{}", out.stderr);
    let out = sup_net(&policy, &[], dir.path(), &["sendmmsg", &a_addr, &format!("127.0.0.2:{}", denied.port)]);
    assert_eq!(result(&out), "err 13", "{}", out.stderr);
    assert_eq!((a.count(), b.count(), denied.count()), (1, 1, 0), "nothing of the denied call was sent");
}

#[test]
fn rewriting_the_sockaddr_of_sendto_after_the_check_never_reaches_the_denied_address() {
    let dir = temp_dir();
    let good = Datagrams::start("127.0.0.1").unwrap();
    let Some(bad) = Datagrams::start("127.0.0.2") else { return eprintln!("skipped: no 127.0.0.2") };
    // Reachable without supervise: the count below means something.
    UdpSocket::bind("127.0.0.1:0").unwrap().send_to(b"x", ("127.0.0.2", bad.port)).unwrap();
    assert_eq!(bad.count(), 1);
    let allow = send_policy(dir.path(), &[], &[format!("127.0.0.1:{}", good.port)], "EACCES");
    // A prompt answered "allow" (onTimeout, no terminal) after an address rule: performed the same way.
    let prompted = write_policy(
        dir.path(),
        "prompt.json",
        &format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {{"names":[{SENDS}],"action":"SCMP_ACT_NOTIFY","supervise":{{"decision":"deny","errnoRet":"EACCES","addresses":["127.0.0.2"]}}}},
            {{"names":[{SENDS}],"action":"SCMP_ACT_NOTIFY","supervise":{{"decision":"prompt","onTimeout":"allow"}}}}]}}"#
        ),
    );
    let (g, b) = (format!("127.0.0.1:{}", good.port), format!("127.0.0.2:{}", bad.port));
    let mut sent = 0;
    for policy in [allow, prompted] {
        let out = sup_net(&policy, &[], dir.path(), &["race-sendto", &g, &b, "300"]);
        assert_eq!(result(&out), "ok 0", "{}", out.stderr);
        assert_eq!(bad.count(), 1, "{}: a datagram reached 127.0.0.2: {}", policy.display(), out.stdout);
        let counts: Vec<usize> = out.stdout.split_whitespace().filter_map(|w| w.parse().ok()).collect();
        assert!(counts.len() >= 2 && counts[0] > 0 && counts[1] > 0, "both addresses were seen: {}", out.stdout);
        sent += counts[0];
        // Where it was decided (a loopback receiver may drop some when its buffer is full).
        let arrived = good.count();
        assert!(arrived > 0 && arrived <= sent, "{arrived} datagrams arrived of {sent} allowed");
    }
}

#[test]
fn an_answered_question_sends_only_the_messages_to_the_destination_it_showed() {
    let dir = temp_dir();
    let (a, b) = (Datagrams::start("127.0.0.1").unwrap(), Datagrams::start("127.0.0.1").unwrap());
    let policy = write_policy(
        dir.path(),
        "prompt.json",
        &format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {{"names":[{SENDS}],"action":"SCMP_ACT_NOTIFY","supervise":{{"decision":"prompt","onTimeout":"allow"}}}}]}}"#
        ),
    );
    let (a_addr, b_addr) = (format!("127.0.0.1:{}", a.port), format!("127.0.0.1:{}", b.port));
    // The question shows the first destination: its answer covers the leading messages that go there, and the
    // count says so (a program sends the rest again, and is asked again).
    let out = sup_net(&policy, &[], dir.path(), &["sendmmsg", &a_addr, &a_addr, &b_addr]);
    assert_eq!(out.stdout, "msg_len 4 4 0\nok 2\n", "{}", out.stderr);
    assert_eq!((a.count(), b.count()), (2, 0));
}

#[test]
fn a_uid_65534_target_gets_its_own_answers() {
    use std::os::unix::fs::PermissionsExt;
    if !needs_root("a target as uid 65534 under a root supervise") {
        return;
    }
    let dir = temp_dir();
    let real = std::fs::canonicalize(dir.path()).unwrap();
    let (open, closed) = (real.join("open.sock"), real.join("closed.sock"));
    let _sockets = (UnixDatagram::bind(&open).unwrap(), UnixDatagram::bind(&closed).unwrap());
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
    // Denials are EPERM here, so that the kernel's own EACCES tells it was the kernel.
    let policy = send_policy(dir.path(), &[], &[format!("unix:{}/*", real.display())], "EPERM");
    let netprobe = netprobe();
    let as_nobody = |args: &[&str]| {
        let ids = ["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"];
        let program = [&["setpriv"], ids.as_slice(), &[netprobe.to_str().unwrap()], args].concat();
        sup_in(&policy, &[], &real, &program)
    };
    let table: &[(&[&str], &str)] = &[
        (&["sendto", "unix:open.sock"], "ok 5"),
        (&["sendto", "unix:closed.sock"], "err 13"),
        (&["sendto", "127.0.0.1:9"], "err 1"),
    ];
    for (args, want) in table {
        let out = as_nobody(args);
        if out.stdout.is_empty() && out.stderr.contains("setpriv") {
            return eprintln!("skipped: uid 65534 cannot run netprobe here: {}", out.stderr);
        }
        assert_eq!(result(&out), *want, "{args:?}: {}", out.stderr);
    }
    // As root, the same send succeeds: the answer above was the target's own.
    let out = sup_net(&policy, &[], &real, &["sendto", "unix:closed.sock"]);
    assert_eq!(result(&out), "ok 5", "{}", out.stderr);
}

#[test]
fn a_blocking_send_holds_up_no_other_notification() {
    let dir = temp_dir();
    let udp = Datagrams::start("127.0.0.1").unwrap();
    let policy = send_policy(dir.path(), &[], &["127.0.0.1".into()], "EACCES");
    let out = sup_net(&policy, &[], dir.path(), &["stall-send", &format!("127.0.0.1:{}", udp.port)]);
    assert_eq!(result(&out), "ok 5", "{}: {}", out.stdout, out.stderr);
    let words: Vec<&str> = out.stdout.split_whitespace().collect();
    let (stalled, took) = (words[1], words[3].parse::<u64>().unwrap());
    if stalled != "1" {
        return eprintln!("skipped: the send to a full connection did not wait here: {}", out.stdout);
    }
    assert!(took < 500, "the datagram waited for the blocked send: {}", out.stdout);
}

#[test]
fn a_waiting_send_ends_with_its_caller() {
    use std::io::Read;
    let dir = temp_dir();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let reader = std::thread::spawn(move || {
        let start = std::time::Instant::now();
        let mut conn = loop {
            match listener.accept() {
                Ok((conn, _)) => break conn,
                Err(_) if start.elapsed() < Duration::from_secs(5) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => panic!("no connection: {e}"),
            }
        };
        conn.set_nonblocking(false).unwrap();
        // Read nothing until the sender was killed (at 1 s) and supervise let its copy of the socket go.
        std::thread::sleep(Duration::from_millis(2500));
        conn.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let (mut total, mut buf) = (0, vec![0u8; 65536]);
        loop {
            match conn.read(&mut buf) {
                Ok(0) => return Some(total),
                Ok(n) => total += n,
                Err(_) => return None,
            }
        }
    });
    let policy = send_policy(dir.path(), &[], &["127.0.0.1".into()], "EACCES");
    let script =
        format!("{} block-send 127.0.0.1:{port} & pid=$!; sleep 1; kill -9 $pid; sleep 3", netprobe().display());
    let out = sup_in(&policy, &[], dir.path(), &["sh", "-c", &script]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let got = reader.join().unwrap();
    // The connection ended with what was in its buffers when the sender died, as it does without supervise; a send
    // that went on after its caller's death would have delivered the whole 4 MiB.
    assert!(got.is_some_and(|n| n < 1 << 20), "the connection stayed open or got everything: {got:?}");
}

#[test]
fn the_decision_log_line_has_the_destination() {
    let dir = temp_dir();
    let udp = Datagrams::start("127.0.0.1").unwrap();
    let policy = send_policy(dir.path(), &[], &["127.0.0.1".into()], "EACCES");
    let options = ["--log-level", "info", "--log-format", "json"];
    let out = sup_net(&policy, &options, dir.path(), &["sendto", &format!("127.0.0.1:{}", udp.port)]);
    assert_eq!(result(&out), "ok 5", "{}", out.stderr);
    let want = format!("127.0.0.1 port {} (UDP)", udp.port);
    let line = out.stderr.lines().find(|l| l.contains("notified syscall")).unwrap_or_else(|| panic!("{}", out.stderr));
    let value: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(value["fields"]["address"].as_str(), Some(want.as_str()), "{line}");
    assert_eq!(value["fields"]["syscall"].as_str(), Some("sendto"), "{line}");
}

#[test]
#[cfg(target_arch = "x86_64")]
fn a_32_bit_programs_sends_are_decided_and_made_as_the_kernel_would() {
    let dir = temp_dir();
    let real = std::fs::canonicalize(dir.path()).unwrap();
    let udp = Datagrams::start("127.0.0.1").unwrap();
    let Some(denied) = Datagrams::start("127.0.0.2") else { return eprintln!("skipped: no 127.0.0.2") };
    let json = format!(
        r#"{{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],"syscalls":[
        {{"names":[{SENDS}],"action":"SCMP_ACT_NOTIFY","supervise":{{"decision":"deny","errnoRet":"EACCES","addresses":["127.0.0.2"]}}}},
        {{"names":[{SENDS}],"action":"SCMP_ACT_NOTIFY","supervise":{{"decision":"allow","addresses":["127.0.0.0/8","unix:/**"]}}}}]}}"#
    );
    let policy = write_policy(dir.path(), "x86.json", &json);
    let a = format!("127.0.0.1:{}", udp.port);
    let sock = format!("unix:{}/c.sock", real.display());
    let missing = format!("unix:{}/missing.sock", real.display());
    // The i386 structures (compat_msghdr, compat_iovec, compat_cmsghdr) read as the kernel reads them.
    let table: &[&[&str]] = &[
        &["compat-sendmsg", &a],
        &["compat-sendmmsg", &a, &a],
        &["compat-sendmsg", &missing],
        &["compat-scm-rights", &sock],
    ];
    let netprobe = netprobe();
    for args in table {
        let _ = std::fs::remove_file(real.join("c.sock"));
        let plain = run(&netprobe, args);
        if plain.code != Some(0) && plain.stdout.is_empty() {
            return eprintln!("skipped: no i386 entry here: {plain:?}");
        }
        let _ = std::fs::remove_file(real.join("c.sock"));
        let supervised = sup_net(&policy, &[], &real, args);
        assert_eq!(
            (supervised.code, &supervised.stdout),
            (plain.code, &plain.stdout),
            "{args:?}: {}",
            supervised.stderr
        );
    }
    let b = format!("127.0.0.2:{}", denied.port);
    let out = sup_net(&policy, &[], &real, &["compat-sendmmsg", &a, &b]);
    assert_eq!(result(&out), "err 13", "{}", out.stderr);
    assert_eq!(denied.count(), 0);
}
