//! Questions about connections, in a real terminal: they read like a firewall's (`python3 (pid N, `…`) wants to
//! connect to 127.0.0.1 port 8080 (TCP)`), `y` lets the program connect and `n` fails its connect with the rule's
//! errno, "always" answers are scoped to this address and port, this host on any port, or any destination, and a
//! saved answer is an `addresses` rule that the next run applies without asking. Every listener is on 127.0.0.0/8,
//! started by the test.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Command;

use super::sup;
use crate::support::{run_with, supervise, temp_dir, write_policy, TIMEOUT};
use crate::tmux::Tmux;

/// The errno a denied connect gets (the rule's `errnoRet`), which no connect to a live listener gives by itself.
const DENIED: &str = "ENETUNREACH";

fn connect_policy(dir: &Path) -> String {
    let policy = format!(
        r#"{{ "defaultAction": "SCMP_ACT_ALLOW",
  "syscalls": [
    {{ "names": ["connect"], "action": "SCMP_ACT_NOTIFY",
       "supervise": {{ "decision": "prompt", "timeout": 30, "onTimeout": "deny", "errnoRet": "{DENIED}" }} }}
  ] }}"#
    );
    write_policy(dir, "connect.json", &policy).display().to_string()
}

/// A TCP listener on `ip`, on a port of the kernel's choosing, that never blocks the test on accept.
fn listener(ip: &str) -> (TcpListener, u16) {
    let l = TcpListener::bind(format!("{ip}:0")).unwrap();
    l.set_nonblocking(true).unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

/// True if a connection reached `l` (the kernel completed it; nobody accepted it yet).
fn reached(l: &TcpListener) -> bool {
    l.accept().is_ok()
}

/// A python3 program that connects to each `ip:port` in turn and prints `ip:port ok` or `ip:port errno NAME`.
fn connector(dir: &Path, to: &[SocketAddr]) -> String {
    let list: Vec<String> = to.iter().map(|a| format!("(\"{}\", {})", a.ip(), a.port())).collect();
    let script = format!(
        r#"import errno, socket
for host, port in [{}]:
    s = socket.socket()
    try:
        s.connect((host, port))
        print("%s:%d ok" % (host, port), flush=True)
    except OSError as e:
        print("%s:%d errno %s" % (host, port, errno.errorcode[e.errno]), flush=True)
    s.close()
"#,
        list.join(", ")
    );
    std::fs::write(dir.join("connector.py"), script).unwrap();
    "python3 connector.py".into()
}

fn at(ip: &str, port: u16) -> SocketAddr {
    format!("{ip}:{port}").parse().unwrap()
}

/// The notes supervise left on the program's screen.
fn notes(t: &Tmux) -> Vec<String> {
    t.history().lines().filter(|l| l.starts_with("supervise: ")).map(str::to_string).collect()
}

#[test]
fn y_connects_to_one_port_and_n_fails_the_other_with_the_rules_errno() {
    let dir = temp_dir();
    let root = dir.path();
    let ((yes, p1), (no, p2)) = (listener("127.0.0.1"), listener("127.0.0.1"));
    let program = connector(root, &[at("127.0.0.1", p1), at("127.0.0.1", p2)]);
    let policy = connect_policy(root);
    let t = Tmux::start(root, &format!("{} --policy {policy} -- {program} > out.txt", sup()));
    let first = format!("wants to connect to 127.0.0.1 port {p1} (TCP)");
    let screen = t.wait_for(&first);
    // `python3.11 (pid 123, `python3 connector.py`) wants to connect to 127.0.0.1 port 8080 (TCP)`.
    let line = screen.lines().find(|l| l.contains(&first)).unwrap();
    assert!(line.starts_with("  python3") && line.contains(" (pid "), "the program and its pid: {screen}");
    assert!(line.contains("python3 connector.py`) wants to connect to"), "its command line: {screen}");
    assert!(screen.contains("wants connect(") && screen.contains(&format!(", 127.0.0.1 port {p1}, 16)")), "{screen}");
    assert!(screen.contains("[y] allow once"), "{screen}");
    t.keys("y");
    t.wait_for(&format!("wants to connect to 127.0.0.1 port {p2} (TCP)"));
    t.keys("n");
    t.wait_for("EXIT=0");
    let out = std::fs::read_to_string(root.join("out.txt")).unwrap();
    assert!(out.contains(&format!("127.0.0.1:{p1} ok")), "{out}");
    assert!(out.contains(&format!("127.0.0.1:{p2} errno {DENIED}")), "the rule's errno: {out}");
    assert!(reached(&yes), "the allowed connect reached its listener");
    assert!(!reached(&no), "the denied one never did");
    let notes = notes(&t);
    assert_eq!(notes.len(), 2, "{notes:#?}");
    assert!(notes[0].contains("allowed once") && notes[0].contains(&format!("127.0.0.1 port {p1}")), "{notes:#?}");
    assert!(notes[1].contains("denied once") && notes[1].contains(&format!("127.0.0.1 port {p2}")), "{notes:#?}");
}

/// `a` then `h`: this host on any port, until the program exits. Another port on 127.0.0.1 is not asked about;
/// 127.0.0.2 is.
#[test]
fn an_answer_for_this_host_covers_its_other_ports_and_not_another_host() {
    let dir = temp_dir();
    let root = dir.path();
    let ((a, p1), (b, p2), (c, p3)) = (listener("127.0.0.1"), listener("127.0.0.1"), listener("127.0.0.2"));
    let program = connector(root, &[at("127.0.0.1", p1), at("127.0.0.1", p2), at("127.0.0.2", p3)]);
    let policy = connect_policy(root);
    let t = Tmux::start(root, &format!("{} --policy {policy} -- {program} > out.txt", sup()));
    t.wait_for(&format!("wants to connect to 127.0.0.1 port {p1} (TCP)"));
    t.keys("a");
    let screen = t.wait_for("for what?");
    assert!(screen.contains("allow connect, until the program exits, for what?"), "{screen}");
    assert!(screen.contains(&format!("[Enter/a] this address and port: 127.0.0.1 port {p1} (default)")), "{screen}");
    assert!(screen.contains("[h] this host, any port: 127.0.0.1  [s] any destination for connect"), "{screen}");
    t.keys("h");
    let screen = t.wait_for(&format!("wants to connect to 127.0.0.2 port {p3} (TCP)"));
    assert!(!screen.contains(&format!("port {p2}")), "{screen}");
    t.keys("n");
    t.wait_for("EXIT=0");
    let out = std::fs::read_to_string(root.join("out.txt")).unwrap();
    assert!(out.contains(&format!("127.0.0.1:{p1} ok")) && out.contains(&format!("127.0.0.1:{p2} ok")), "{out}");
    assert!(out.contains(&format!("127.0.0.2:{p3} errno {DENIED}")), "{out}");
    assert!(reached(&a) && reached(&b) && !reached(&c));
    let notes = notes(&t);
    assert_eq!(notes.len(), 2, "no question for port {p2}: {notes:#?}");
    assert!(notes[0].contains("allowed for 127.0.0.1 on any port, until the program exits: pid"), "{notes:#?}");
    assert!(notes[1].contains("denied once"), "{notes:#?}");
}

/// With `--save-decisions`, `a Enter` saves "this address and port": a rule with `addresses: ["127.0.0.1:PORT"]`
/// and a comment that says so, which `check` accepts; the next run, with no terminal to ask (the prompt rule
/// would deny at once), connects to that port and not to another.
#[test]
fn a_saved_answer_for_an_address_allows_it_on_the_next_run_without_a_question() {
    let dir = temp_dir();
    let root = dir.path();
    let ((a, p1), (b, p2)) = (listener("127.0.0.1"), listener("127.0.0.1"));
    let program = connector(root, &[at("127.0.0.1", p1)]);
    let policy = connect_policy(root);
    let saved = root.join("saved.json");
    let t = Tmux::start(
        root,
        &format!("{} --policy {policy} --save-decisions {} -- {program} > out.txt", sup(), saved.display()),
    );
    t.wait_for(&format!("wants to connect to 127.0.0.1 port {p1} (TCP)"));
    t.keys("a");
    let screen = t.wait_for("for what?");
    assert!(screen.contains("allow connect, always (saved), for what?"), "saved is the default: {screen}");
    t.keys("Enter");
    t.wait_for("EXIT=0");
    assert!(reached(&a));
    let text = std::fs::read_to_string(&saved).unwrap();
    let profile: serde_json::Value = serde_json::from_str(&text).unwrap();
    let rule = &profile["syscalls"][0];
    assert_eq!(rule["names"], serde_json::json!(["connect"]), "{text}");
    assert_eq!(rule["supervise"]["addresses"], serde_json::json!([format!("127.0.0.1:{p1}")]), "{text}");
    assert_eq!(rule["supervise"]["decision"], "allow", "{text}");
    let exe = rule["supervise"]["exe"][0].as_str().unwrap();
    assert!(exe.contains("python3"), "{text}");
    assert_eq!(
        rule["comment"],
        format!("saved answer: always allow connect by {exe} to 127.0.0.1 port {p1} only"),
        "{text}"
    );
    let mut check = Command::new(supervise());
    check.args(["check", saved.to_str().unwrap()]);
    let out = run_with(check, b"", TIMEOUT);
    assert_eq!(out.code, Some(0), "check: {}{}", out.stdout, out.stderr);
    // Again, without a terminal: the saved rule allows port p1; p2 reaches the prompt rule, denied at once.
    let program = connector(root, &[at("127.0.0.1", p1), at("127.0.0.1", p2)]);
    let mut cmd = Command::new("setsid");
    cmd.current_dir(root).arg(supervise()).args(["--policy", saved.to_str().unwrap(), "--"]);
    cmd.args(program.split(' '));
    let out = run_with(cmd, b"", TIMEOUT);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains(&format!("127.0.0.1:{p1} ok")), "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains(&format!("127.0.0.1:{p2} errno {DENIED}")), "{}", out.stdout);
    assert!(reached(&a) && !reached(&b));
}
