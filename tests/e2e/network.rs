//! Address rules (`addresses`, `families`, `socketTypes`): enforced on `connect` and `bind` (here) and on the sends
//! (`sends`), race-free (supervise performs an allowed call on its copy of the target's socket with the address it
//! decided on), with the kernel's errnos in the kernel's order; refused when the policy loads on the syscalls where
//! they are not enforced (`accept`). Loopback only, with servers these tests start.

mod sends;

use std::io::ErrorKind;
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::*;

fn netprobe() -> PathBuf {
    probe().with_file_name("netprobe")
}

/// `supervise [OPTIONS] --policy POLICY -- netprobe ARGS…` in `cwd`.
fn sup_net(policy: &Path, options: &[&str], cwd: &Path, args: &[&str]) -> Output {
    sup_in(policy, options, cwd, &[&[netprobe().to_str().unwrap()], args].concat())
}

/// `supervise [OPTIONS] --policy POLICY -- PROGRAM…` in `cwd`.
fn sup_in(policy: &Path, options: &[&str], cwd: &Path, program: &[&str]) -> Output {
    let mut cmd = Command::new(supervise());
    cmd.args(options).arg("--policy").arg(policy).arg("--").args(program).current_dir(cwd);
    run_with(cmd, b"", Duration::from_secs(60))
}

/// A listener that accepts (and drops) every connection on a thread of its own, counting them, until dropped.
struct Server {
    port: u16,
    count: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Server {
    fn start(ip: &str) -> Option<Server> {
        let listener = TcpListener::bind((ip, 0)).ok()?;
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (count, stop) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        let (c, s) = (count.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok(_) => {
                        c.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(1)),
                    Err(_) => {}
                }
            }
        });
        Some(Server { port, count, stop })
    }

    fn count(&self) -> usize {
        // Let the accept loop drain what is queued.
        std::thread::sleep(Duration::from_millis(100));
        self.count.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Allow what `allow` lists on connect and bind; deny the rest with EACCES.
fn policy(dir: &Path, allow: &[String]) -> PathBuf {
    policy_denying(dir, allow, "EACCES")
}

/// Allow what `allow` lists on connect and bind; deny the rest with `errno`.
fn policy_denying(dir: &Path, allow: &[String], errno: &str) -> PathBuf {
    let list = serde_json::to_string(allow).unwrap();
    let json = format!(
        r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {{"names":["connect","bind"],"action":"SCMP_ACT_NOTIFY","supervise":{{"decision":"allow","addresses":{list}}}}},
        {{"names":["connect","bind"],"action":"SCMP_ACT_NOTIFY","supervise":{{"decision":"deny","errnoRet":"{errno}"}}}}]}}"#
    );
    write_policy(dir, "net.json", &json)
}

fn result(out: &Output) -> &str {
    out.stdout.lines().last().unwrap_or_default()
}

#[test]
fn connect_is_decided_on_the_address_with_the_kernels_errnos() {
    let dir = temp_dir();
    let (a, b) = (Server::start("127.0.0.1").unwrap(), Server::start("127.0.0.1").unwrap());
    // 127.0.0.3 has no listener: an allowed connect there is refused by the kernel, not by supervise.
    let policy = policy(dir.path(), &[format!("127.0.0.1:{}", a.port), "127.0.0.3".into()]);
    let addr = |ip: &str, port: u16| format!("{ip}:{port}");
    let table: &[(&[&str], &str)] = &[
        (&["connect", &addr("127.0.0.1", a.port)], "ok 0"),
        (&["connect", &addr("127.0.0.1", b.port)], "err 13"),
        (&["connect", &addr("127.0.0.3", b.port)], "err 111"),
        // Before any rule, in the kernel's order: EBADF, EINVAL (addrlen), EFAULT.
        (&["connect-badfd", &addr("127.0.0.1", b.port)], "err 9"),
        (&["connect-badlen", &addr("127.0.0.1", b.port)], "err 22"),
        (&["connect-fault"], "err 14"),
        // Then ENOTSOCK, then the address's own errors (an IPv6 sockaddr on an IPv4 socket).
        (&["connect-notsock", &addr("127.0.0.1", b.port)], "err 88"),
        (&["connect-on-inet", &format!("[::1]:{}", b.port)], "err 97"),
        // bind: performed by supervise, so the kernel's EADDRINUSE comes back; a denied one is EACCES.
        (&["bind", &addr("127.0.0.1", a.port)], "err 98"),
        (&["bind", "127.0.0.3:0"], "ok 0"),
        (&["bind", "127.0.0.2:0"], "err 13"),
    ];
    for (args, want) in table {
        let out = sup_net(&policy, &[], dir.path(), args);
        assert_eq!(result(&out), *want, "{args:?}: {}", out.stderr);
    }
    assert_eq!((a.count(), b.count()), (1, 0), "only the allowed connect reached a server");
}

#[test]
fn non_blocking_connects_return_einprogress_as_the_kernel_does() {
    let dir = temp_dir();
    let a = Server::start("127.0.0.1").unwrap();
    let policy = policy(dir.path(), &[format!("127.0.0.1:{}", a.port)]);
    let out = sup_net(&policy, &[], dir.path(), &["connect-nonblock", &format!("127.0.0.1:{}", a.port)]);
    assert!(["err 115", "ok 0"].contains(&result(&out)), "{}: {}", out.stdout, out.stderr);
    let out = sup_net(&policy, &[], dir.path(), &["connect-nonblock", "127.0.0.1:1"]);
    assert_eq!(result(&out), "err 13", "{}", out.stderr);
}

#[test]
fn ipv6_loopback_is_matched_as_ipv6() {
    let dir = temp_dir();
    let Some(six) = Server::start("::1") else { return eprintln!("skipped: no IPv6 loopback") };
    let other = Server::start("::1").unwrap();
    let policy = policy(dir.path(), &[format!("[::1]:{}", six.port)]);
    let out = sup_net(&policy, &[], dir.path(), &["connect", &format!("[::1]:{}", six.port)]);
    assert_eq!(result(&out), "ok 0", "{}", out.stderr);
    let out = sup_net(&policy, &[], dir.path(), &["connect", &format!("[::1]:{}", other.port)]);
    assert_eq!(result(&out), "err 13", "{}", out.stderr);
    assert_eq!((six.count(), other.count()), (1, 0));
}

#[test]
fn unix_paths_are_resolved_in_the_targets_cwd() {
    let dir = temp_dir();
    let real = std::fs::canonicalize(dir.path()).unwrap();
    let _ok = UnixListener::bind(real.join("ok.sock")).unwrap();
    let _no = UnixListener::bind(real.join("no.sock")).unwrap();
    let policy = policy(dir.path(), &[format!("unix:{}/ok.sock", real.display())]);
    let table: &[(&str, &str)] = &[
        ("unix:ok.sock", "ok 0"),
        ("unix:./sub/../ok.sock", "ok 0"),
        ("unix:no.sock", "err 13"),
        ("unix:missing.sock", "err 13"),
    ];
    std::fs::create_dir(real.join("sub")).unwrap();
    for (addr, want) in table {
        let out = sup_net(&policy, &[], &real, &["connect", addr]);
        assert_eq!(result(&out), *want, "{addr}: {}", out.stderr);
    }
    let absolute = format!("unix:{}/ok.sock", real.display());
    let out = sup_net(&policy, &[], Path::new("/"), &["connect", &absolute]);
    assert_eq!(result(&out), "ok 0", "{}", out.stderr);
}

#[test]
fn rewriting_the_sockaddr_after_the_check_never_reaches_the_denied_address() {
    let dir = temp_dir();
    let good = Server::start("127.0.0.1").unwrap();
    let Some(bad) = Server::start("127.0.0.2") else { return eprintln!("skipped: no 127.0.0.2") };
    // Reachable without supervise: the count below means something.
    drop(TcpStream::connect(("127.0.0.2", bad.port)).unwrap());
    assert_eq!(bad.count(), 1);
    let allow = policy(dir.path(), &[format!("127.0.0.1:{}", good.port)]);
    // A prompt answered "allow" (onTimeout, no terminal) after an address rule: performed the same way.
    let prompted = write_policy(
        dir.path(),
        "prompt.json",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["connect"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"deny","errnoRet":"EACCES","addresses":["127.0.0.2"]}},
        {"names":["connect"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"prompt","onTimeout":"allow"}}]}"#,
    );
    let (g, b) = (format!("127.0.0.1:{}", good.port), format!("127.0.0.2:{}", bad.port));
    for policy in [allow, prompted] {
        let out = sup_net(&policy, &[], dir.path(), &["race", &g, &b, "300"]);
        assert_eq!(result(&out), "ok 0", "{}", out.stderr);
        assert_eq!(bad.count(), 1, "{}: a connect reached 127.0.0.2: {}", policy.display(), out.stdout);
        let counts: Vec<u32> = out.stdout.split_whitespace().filter_map(|w| w.parse().ok()).collect();
        assert!(counts.len() >= 2 && counts[0] > 0 && counts[1] > 0, "both addresses were seen: {}", out.stdout);
    }
    assert!(good.count() > 0, "some connects were allowed");
}

#[test]
fn the_decision_log_line_has_the_address() {
    let dir = temp_dir();
    let a = Server::start("127.0.0.1").unwrap();
    let policy = policy(dir.path(), &[format!("127.0.0.1:{}", a.port)]);
    let options = ["--log-level", "info", "--log-format", "json"];
    let out = sup_net(&policy, &options, dir.path(), &["connect", &format!("127.0.0.1:{}", a.port)]);
    assert_eq!(result(&out), "ok 0", "{}", out.stderr);
    let want = format!("127.0.0.1 port {} (TCP)", a.port);
    let line = out.stderr.lines().find(|l| l.contains("notified syscall")).unwrap_or_else(|| panic!("{}", out.stderr));
    let value: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(value["fields"]["address"].as_str(), Some(want.as_str()), "{line}");
}

#[test]
fn address_rules_on_other_syscalls_are_refused_at_load() {
    let dir = temp_dir();
    let json = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["connect","accept"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"allow","addresses":["127.0.0.0/8"]}},
        {"names":["connect"],"action":"SCMP_ACT_NOTIFY","supervise":{"decision":"deny"}}]}"#;
    let policy = write_policy(dir.path(), "net.json", json);
    let marker = dir.path().join("started");
    let out = sup_policy(&policy, &["touch", marker.to_str().unwrap()]);
    assert_own_failure(&out, 125);
    let line = out.stderr.trim_end();
    let place = format!("supervise: {}: syscalls[0] (connect, accept): supervise: ", policy.display());
    assert!(line.starts_with(&place), "names the file and the rule: {line}");
    assert!(line.contains("enforced on connect, bind, sendto, sendmsg, sendmmsg only, not on accept"), "{line}");
    assert!(!marker.exists(), "nothing was started");
    let out = sup(&["check", policy.to_str().unwrap()]);
    assert_ne!(out.code, Some(0), "check refuses it: {}", out.stdout);
    assert!(out.stderr.contains("syscalls[0] (connect, accept): supervise: address matchers"), "{}", out.stderr);
}

#[test]
fn allowed_calls_are_made_with_the_targets_credentials() {
    use std::os::unix::fs::PermissionsExt;
    if !needs_root("a target as uid 65534 under a root supervise") {
        return;
    }
    let dir = temp_dir();
    let real = std::fs::canonicalize(dir.path()).unwrap();
    let (open, closed) = (real.join("open.sock"), real.join("closed.sock"));
    let _listeners = (UnixListener::bind(&open).unwrap(), UnixListener::bind(&closed).unwrap());
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
    // Denials are EPERM here, so that the kernel's own EACCES tells it was the kernel.
    let policy = policy_denying(dir.path(), &["127.0.0.0/8".into(), format!("unix:{}/*", real.display())], "EPERM");
    let netprobe = netprobe();
    let as_nobody = |args: &[&str]| {
        let ids = ["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"];
        let program = [&["setpriv"], ids.as_slice(), &[netprobe.to_str().unwrap()], args].concat();
        sup_in(&policy, &[], &real, &program)
    };
    let privileged = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .is_some_and(|first| first > 1023);
    let mut table: Vec<(&[&str], &str)> = vec![
        (&["connect", "unix:open.sock"], "ok 0"),
        (&["connect", "unix:closed.sock"], "err 13"),
        (&["bind", "127.0.0.3:0"], "ok 0"),
        (&["bind", "10.0.0.1:0"], "err 1"),
    ];
    if privileged {
        table.push((&["bind", "127.0.0.3:1023"], "err 13"));
    }
    for (args, want) in table {
        let out = as_nobody(args);
        if out.stdout.is_empty() && out.stderr.contains("setpriv") {
            return eprintln!("skipped: uid 65534 cannot run netprobe here: {}", out.stderr);
        }
        assert_eq!(result(&out), want, "{args:?}: {}", out.stderr);
    }
    // As root, the same calls succeed: the answers above were the target's own.
    let out = sup_net(&policy, &[], &real, &["connect", "unix:closed.sock"]);
    assert_eq!(result(&out), "ok 0", "{}", out.stderr);
}

#[test]
fn a_blocking_connect_holds_up_no_other_notification() {
    let dir = temp_dir();
    let a = Server::start("127.0.0.1").unwrap();
    let policy = policy(dir.path(), &["127.0.0.1".into()]);
    let out = sup_net(&policy, &[], dir.path(), &["stall", &format!("127.0.0.1:{}", a.port)]);
    assert_eq!(result(&out), "ok 0", "{}: {}", out.stdout, out.stderr);
    let words: Vec<&str> = out.stdout.split_whitespace().collect();
    let (stalled, took) = (words[1], words[3].parse::<u64>().unwrap());
    if stalled != "1" {
        return eprintln!("skipped: the connect to a full accept queue did not wait here: {}", out.stdout);
    }
    assert!(took < 500, "the second connect waited for the first: {}", out.stdout);
}
