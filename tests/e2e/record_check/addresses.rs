//! `record --addresses`: where a run's programs connected and sent becomes address rules. The replay of the same
//! run passes; a connection to another host is refused; a `--merge` run adds its hosts to the same rules.

use std::net::{TcpListener, UdpSocket};

use serde_json::Value;

use super::{profile, python, record, replay};
use crate::support::{sup, temp_dir};

/// Connects to `HOST:TCP` and sends one datagram to `HOST:UDP`, printing what happened to each.
const TALKER: &str = r#"
import errno, socket, sys
host, tcp, udp = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    s.connect((host, tcp))
    print('connected')
except OSError as e:
    print('connect', errno.errorcode[e.errno])
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    u.sendto(b'x', (host, udp))
    print('sent')
except OSError as e:
    print('sendto', errno.errorcode[e.errno])
"#;

fn as_str(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The `supervise` objects of the profile's notify rules.
fn notify_rules(p: &Value) -> Vec<&Value> {
    p["syscalls"].as_array().unwrap().iter().filter(|r| r["action"] == "SCMP_ACT_NOTIFY").collect()
}

#[test]
fn recorded_addresses_allow_the_same_hosts_and_refuse_others() {
    let Some(py) = python() else { return };
    let dir = temp_dir();
    std::fs::write(dir.path().join("talk.py"), TALKER).unwrap();
    let tcp = [TcpListener::bind("127.0.0.1:0").unwrap(), TcpListener::bind("127.0.0.1:0").unwrap()];
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = |l: &TcpListener| l.local_addr().unwrap().port().to_string();
    let (a, b, u) = (port(&tcp[0]), port(&tcp[1]), udp.local_addr().unwrap().port().to_string());
    let out = dir.path().join("p.json");
    let talk = |host: &str, tcp: &str| vec![py, "talk.py", host, tcp, &u].into_iter().map(String::from).collect();
    let run_a: Vec<String> = talk("127.0.0.1", &a);

    let recorded = record(&out, &["--addresses"], &as_str(&run_a), dir.path());
    assert_eq!(recorded.code, Some(0), "{}", recorded.stderr);
    assert_eq!(recorded.stdout, "connected\nsent\n");
    let p = profile(&out);
    let rules = notify_rules(&p);
    let text = serde_json::to_string(&rules).unwrap();
    assert!(text.contains(&format!("\"127.0.0.1:{a}\"")) && text.contains(&format!("\"127.0.0.1:{u}\"")), "{text}");
    assert!(text.contains("python3"), "the executable is named: {text}");
    let outright = &p["syscalls"][0]["names"];
    for name in ["connect", "sendto"] {
        assert!(!outright.as_array().unwrap().iter().any(|n| n == name), "{name} is decided on its address: {p}");
    }
    assert!(text.contains(r#""args":[{"index":4,"op":"SCMP_CMP_NE","value":0}]"#), "sendto with an address: {text}");
    let checked = sup(&["check", out.to_str().unwrap()]);
    assert_eq!(checked.code, Some(0), "{}", checked.stderr);

    let same = replay(&out, &as_str(&run_a), dir.path());
    assert_eq!((same.code, same.stdout.as_str()), (Some(0), "connected\nsent\n"), "{}", same.stderr);
    let other_port = replay(&out, &as_str(&talk("127.0.0.1", &b)), dir.path());
    assert_eq!(other_port.stdout, "connect EACCES\nsent\n", "{}", other_port.stderr);
    let other_host = replay(&out, &as_str(&talk("127.0.0.2", &a)), dir.path());
    assert_eq!(other_host.stdout, "connect EACCES\nsendto EACCES\n", "{}", other_host.stderr);

    // A merged run (without --addresses: the profile has address rules, so they are kept up to date).
    let merged = record(&out, &["--merge", out.to_str().unwrap()], &as_str(&talk("127.0.0.1", &b)), dir.path());
    assert_eq!(merged.code, Some(0), "{}", merged.stderr);
    for port in [&a, &b] {
        let again = replay(&out, &as_str(&talk("127.0.0.1", port)), dir.path());
        assert_eq!(again.stdout, "connected\nsent\n", "port {port} after the merge: {}", again.stderr);
    }
    let p = profile(&out);
    let denies = notify_rules(&p).iter().filter(|r| r["supervise"]["decision"] == "deny").count();
    assert_eq!(denies, 4, "the two refusals are written once, each for connect and for sendto with an address: {p}");
}
