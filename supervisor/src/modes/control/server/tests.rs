//! The server in-process, with well-behaved and hostile clients.

use super::*;
use crate::core::decide::Facts;
use crate::core::observe::{Decided, Observer};
use crate::modes::control::{Mode, Target};
use proto::{Arch, Decision, Errno};
use std::io::{BufRead, BufReader as StdReader, Read, Write};
use std::os::unix::net::UnixStream as StdStream;

struct Server {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    hub: Arc<Hub>,
    target: Arc<Target>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    fn start(limits: Limits) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let hub = Hub::new(Mode::Run, Some("p.json".into()));
        let target = hub.add(None, std::process::id());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(run(listener, hub.clone(), limits, async move { drop(stopped.await) }));
        Server { _dir: dir, path, hub, target, stop: Some(stop), task }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(5), self.task).await.expect("stops").unwrap();
    }
}

/// A blocking client on a thread: sends `lines`, returns every line it reads until EOF.
async fn talk(path: &std::path::Path, lines: &[&str]) -> Vec<String> {
    let path = path.to_path_buf();
    let lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let mut stream = StdStream::connect(&path).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        for l in &lines {
            stream.write_all(l.as_bytes()).unwrap();
        }
        let _ = stream.shutdown(std::net::Shutdown::Write);
        StdReader::new(stream).lines().map_while(Result::ok).collect()
    })
    .await
    .unwrap()
}

fn decide(target: &Target, nr: i32, decision: &Decision) {
    let facts = Facts::default();
    let syscall = if nr == 39 { "getpid" } else { "mkdir" };
    let d = Decided { pid: 7, arch: Arch::native(), nr, syscall, args: [0; 6], decision, rule: Some(0), facts: &facts };
    target.decided(&d);
}

fn reply(text: &str) -> Reply {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[tokio::test]
async fn hello_then_status_shows_the_counters() {
    let server = Server::start(Limits::default());
    decide(&server.target, 39, &Decision::Allow);
    decide(&server.target, 39, &Decision::Allow);
    decide(&server.target, 83, &Decision::Deny(Errno::EACCES));
    let got = talk(&server.path, &["{\"type\":\"hello\",\"version\":1}\n", "{\"type\":\"status\"}\n"]).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(matches!(reply(&got[0]), Reply::Hello { version: 1, pid, .. } if pid == std::process::id()));
    let Reply::Status(status) = reply(&got[1]) else { panic!("{}", got[1]) };
    assert_eq!((status.mode.as_str(), status.policy.as_deref()), ("run", Some("p.json")));
    let counts: Vec<(String, String, u64)> =
        status.targets[0].decisions.iter().map(|c| (c.syscall.clone(), c.decision.clone(), c.count)).collect();
    let native = |nr| crate::kernel::syscalls::name_of(Arch::native(), nr).unwrap();
    assert!(counts.contains(&(native(39), "allow".into(), 2)), "{counts:?}");
    assert!(counts.contains(&(native(83), "deny".into(), 1)), "{counts:?}");
    server.stop().await;
}

#[tokio::test]
async fn bad_input_closes_only_that_connection_with_an_error_line() {
    let server = Server::start(Limits::default());
    let long = format!("{}\n", "x".repeat(MAX_LINE + 10));
    let cases: [(&[&str], &str); 6] = [
        (&["garbage\n"], "bad request"),
        (&["{\"type\":\"status\"}\n"], "first request must be hello"),
        (&["{\"type\":\"hello\",\"version\":2}\n"], "unsupported protocol version 2"),
        (&["{\"type\":\"hello\",\"version\":1}\n", "{\"type\":\"hello\",\"version\":1}\n"], "already"),
        (&[&long], "line longer than"),
        (
            &["{\"type\":\"hello\",\"version\":1}\n", "{\"type\":\"watch\",\"decisions\":[\"maybe\"]}\n"],
            "unknown decision",
        ),
    ];
    for (lines, want) in cases {
        let got = talk(&server.path, lines).await;
        let last = got.last().unwrap_or_else(|| panic!("{lines:?}: nothing"));
        assert!(matches!(reply(last), Reply::Error { message } if message.contains(want)), "{lines:?}: {got:?}");
    }
    let got = talk(&server.path, &["{\"type\":\"hello\",\"version\":1}\n"]).await;
    assert!(matches!(reply(&got[0]), Reply::Hello { .. }), "still serving: {got:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_watcher_gets_what_its_filter_passes_and_is_told_what_it_missed() {
    let server = Server::start(Limits::default());
    let path = server.path.clone();
    let (ready, is_ready) = std::sync::mpsc::channel();
    let client = tokio::task::spawn_blocking(move || {
        let mut stream = StdStream::connect(&path).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream
            .write_all(b"{\"type\":\"hello\",\"version\":1}\n{\"type\":\"watch\",\"decisions\":[\"deny\"]}\n")
            .unwrap();
        let mut reader = StdReader::new(stream);
        let mut lines = Vec::new();
        for _ in 0..2 {
            let mut l = String::new();
            reader.read_line(&mut l).unwrap();
            lines.push(l);
        }
        ready.send(()).unwrap();
        // Not reading while the supervisor decides more than the channel holds.
        std::thread::sleep(Duration::from_millis(500));
        for _ in 0..3 {
            let mut l = String::new();
            reader.read_line(&mut l).unwrap();
            lines.push(l);
        }
        lines
    });
    tokio::task::spawn_blocking(move || is_ready.recv().unwrap()).await.unwrap();
    decide(&server.target, 39, &Decision::Allow);
    decide(&server.target, 83, &Decision::Deny(Errno::EACCES));
    // Let the first one through, then flood without yielding to the server.
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..(crate::modes::control::stream::EVENTS + 50) {
        decide(&server.target, 83, &Decision::Deny(Errno::EACCES));
    }
    let lines = client.await.unwrap();
    assert!(matches!(reply(&lines[1]), Reply::Watching), "{lines:?}");
    assert!(matches!(reply(&lines[2]), Reply::Decision(e) if e.decision == "deny" && e.errno == Some(13)), "{lines:?}");
    assert!(matches!(reply(&lines[3]), Reply::Lagged { missed: 50 }), "{lines:?}");
    assert!(matches!(reply(&lines[4]), Reply::Decision(_)), "{lines:?}");
    server.stop().await;
}

#[tokio::test]
async fn clients_beyond_the_limit_and_clients_that_do_not_read_are_dropped() {
    let limits = Limits { max_clients: 2, idle: Duration::from_secs(5), write_timeout: Duration::from_millis(200) };
    let server = Server::start(limits);
    let path = server.path.clone();
    let extra = tokio::task::spawn_blocking(move || {
        let held: Vec<StdStream> = (0..2).map(|_| StdStream::connect(&path).unwrap()).collect();
        std::thread::sleep(Duration::from_millis(200));
        let mut third = StdStream::connect(&path).unwrap();
        third.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut text = String::new();
        let _ = third.read_to_string(&mut text);
        drop(held);
        text
    })
    .await
    .unwrap();
    assert!(extra.contains("too many clients (2 at most)"), "{extra}");
    // A watcher that never reads: its socket buffer fills, the write times out, the connection goes.
    let path = server.path.clone();
    let stuck = tokio::task::spawn_blocking(move || {
        let mut s = StdStream::connect(&path).unwrap();
        s.write_all(b"{\"type\":\"hello\",\"version\":1}\n{\"type\":\"watch\"}\n").unwrap();
        s
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.hub.stream().watchers(), 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while server.hub.stream().watchers() > 0 {
        assert!(std::time::Instant::now() < deadline, "the stuck watcher was never dropped");
        for _ in 0..200 {
            decide(&server.target, 83, &Decision::Deny(Errno::EACCES));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(stuck);
    server.stop().await;
}

#[test]
fn only_the_same_uid_or_root_may_connect() {
    assert!(allowed(1000, 1000) && allowed(0, 1000) && allowed(0, 0));
    assert!(!allowed(1001, 1000) && !allowed(65534, 0));
}
