//! Unit tests of the prompt queue with a scripted [`Prompter`]. The real terminal is tested end to end in tmux.

use std::sync::atomic::{AtomicBool, Ordering};

use super::*;

/// Answers with a fixed list of keys, each after a short delay, and records what was shown.
struct Scripted {
    keys: VecDeque<(Duration, Key)>,
    /// When the front key is due; kept across cancelled polls so that no key is lost (select! drops futures).
    due: Option<Instant>,
    shown: Arc<Mutex<Vec<String>>>,
}

impl Prompter for Scripted {
    fn show(&mut self, q: &Question, _: Duration, status: &Status) -> io::Result<()> {
        let mut line = format!("{}({}) +{}", q.syscall, q.args, status.waiting);
        if status.alike > 0 {
            line.push_str(&format!(" alike {}", status.alike));
        }
        if let Some(menu) = &status.menu {
            line.push_str(&format!(" menu {} up {}", menu.lasting.describe(), menu.up));
        }
        let mut shown = self.shown.lock().unwrap();
        if shown.last() != Some(&line) {
            shown.push(line);
        }
        Ok(())
    }

    fn note(&mut self, line: &str) -> io::Result<()> {
        self.shown.lock().unwrap().push(format!("note: {line}"));
        Ok(())
    }

    fn clear(&mut self) {
        self.shown.lock().unwrap().push("clear".into());
    }

    fn next_key(&mut self) -> Pin<Box<dyn Future<Output = Option<Key>> + Send + '_>> {
        Box::pin(async move {
            let Some(&(delay, key)) = self.keys.front() else { return std::future::pending().await };
            let due = *self.due.get_or_insert_with(|| Instant::now() + delay);
            tokio::time::sleep_until(due).await;
            self.keys.pop_front();
            self.due = None;
            Some(key)
        })
    }
}

fn question(syscall: &str, path: &str, timeout_ms: u64) -> Question {
    Question {
        pid: 1,
        exe: "/bin/app".into(),
        cmdline: "app".into(),
        syscall: syscall.into(),
        args: format!("{path:?}"),
        paths: vec![path.into()],
        address: None,
        socket_type: None,
        timeout: Duration::from_millis(timeout_ms),
        deny_errno: proto::Errno::EPERM,
        on_timeout: proto::OnTimeout::Deny,
    }
}

fn alive() -> Alive {
    Box::new(|| true)
}

fn scripted(keys: &[(u64, Key)]) -> (Prompts, Arc<Mutex<Vec<String>>>) {
    let shown = Arc::new(Mutex::new(Vec::new()));
    let keys = keys.iter().map(|&(ms, k)| (Duration::from_millis(ms), k)).collect();
    (Prompts::start(Some(Box::new(Scripted { keys, due: None, shown: shown.clone() }))), shown)
}

#[tokio::test]
async fn y_allows_and_n_denies_one_question_at_a_time() {
    let (prompts, shown) = scripted(&[(20, Key::Char('y')), (20, Key::Char('n'))]);
    let first = tokio::spawn({
        let p = prompts.clone();
        async move { p.ask(question("mkdir", "/tmp/a", 5000), alive()).await }
    });
    tokio::time::sleep(Duration::from_millis(5)).await;
    let second = prompts.ask(question("mkdir", "/tmp/b", 5000), alive()).await;
    assert_eq!(first.await.unwrap(), Answer::Allow);
    assert_eq!(second, Answer::Deny);
    let shown = shown.lock().unwrap();
    assert!(shown.iter().any(|s| s.starts_with("mkdir(\"/tmp/a\") +1 alike 1")), "{shown:?}");
}

#[tokio::test]
async fn identical_questions_are_merged_and_share_one_answer() {
    let (prompts, shown) = scripted(&[(50, Key::Char('y'))]);
    let asks = (0..3).map(|_| {
        let p = prompts.clone();
        tokio::spawn(async move { p.ask(question("unlink", "/tmp/x", 5000), alive()).await })
    });
    let answers: Vec<Answer> = futures_join(asks.collect()).await;
    assert_eq!(answers, vec![Answer::Allow; 3]);
    assert!(shown.lock().unwrap().iter().all(|s| !s.contains("+1")), "never shown as separate questions");
}

#[tokio::test]
async fn always_answers_apply_to_later_questions_without_asking() {
    let (prompts, shown) = scripted(&[(10, Key::Char('d')), (10, Key::Char('\r'))]);
    assert_eq!(prompts.ask(question("unlink", "/tmp/x", 5000), alive()).await, Answer::Deny);
    let before = shown.lock().unwrap().len();
    assert_eq!(prompts.ask(question("unlink", "/tmp/x", 5000), alive()).await, Answer::Deny);
    assert_eq!(shown.lock().unwrap().len(), before, "no new question shown");
}

#[tokio::test]
async fn questions_time_out_and_dead_targets_are_withdrawn() {
    let (prompts, shown) = scripted(&[]);
    assert_eq!(prompts.ask(question("mkdir", "/a", 100), alive()).await, Answer::Timeout);
    let gone = Arc::new(AtomicBool::new(false));
    let flag = gone.clone();
    let task = tokio::spawn({
        let p = prompts.clone();
        async move { p.ask(question("mkdir", "/b", 60_000), Box::new(move || !flag.load(Ordering::SeqCst))).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    gone.store(true, Ordering::SeqCst);
    let answer = tokio::time::timeout(Duration::from_secs(2), task).await.expect("withdrawn promptly").unwrap();
    assert_eq!(answer, Answer::Withdrawn);
    assert!(shown.lock().unwrap().iter().any(|s| s.contains("withdrawn")));
}

#[tokio::test]
async fn ctrl_c_denies_everything_pending() {
    let (prompts, _) = scripted(&[(50, Key::CtrlC)]);
    let asks = ["/a", "/b", "/c"].map(|path| {
        let p = prompts.clone();
        tokio::spawn(async move { p.ask(question("mkdir", path, 5000), alive()).await })
    });
    assert_eq!(futures_join(asks.into()).await, vec![Answer::Deny; 3]);
}

#[tokio::test]
async fn without_a_terminal_questions_time_out_at_once() {
    let prompts = Prompts::start(None);
    assert!(!prompts.interactive());
    assert_eq!(prompts.ask(question("mkdir", "/a", 60_000), alive()).await, Answer::Timeout);
}

async fn futures_join(handles: Vec<tokio::task::JoinHandle<Answer>>) -> Vec<Answer> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

fn keys(text: &str) -> Vec<(u64, Key)> {
    text.chars().map(|c| (10, Key::Char(c))).collect()
}

async fn ask_all(prompts: &Prompts, questions: Vec<Question>) -> Vec<Answer> {
    let asks = questions.into_iter().map(|q| {
        let p = prompts.clone();
        tokio::spawn(async move { p.ask(q, alive()).await })
    });
    futures_join(asks.collect()).await
}

#[tokio::test]
async fn a_then_u_covers_the_directory_and_below_and_the_questions_waiting_under_it() {
    let (prompts, shown) = scripted(&keys("au"));
    let answers = ask_all(
        &prompts,
        vec![question("mkdir", "/w/a", 5000), question("mkdir", "/w/a/b", 5000), question("mkdir", "/w/a/b/c", 5000)],
    )
    .await;
    assert_eq!(answers, vec![Answer::Allow; 3], "one answer for all three");
    let before = shown.lock().unwrap().len();
    assert_eq!(prompts.ask(question("mkdir", "/w/x/y", 5000), alive()).await, Answer::Allow, "later, under /w");
    assert_eq!(shown.lock().unwrap().len(), before, "no new question");
    let shown = shown.lock().unwrap();
    assert!(shown.iter().any(|s| s.contains("alike 2")), "2 more like this: {shown:?}");
    assert!(shown.iter().any(|s| s.contains("menu until the program exits up 0")), "{shown:?}");
    assert!(shown.iter().any(|s| s.contains("allowed under /w/, until the program exits: pid 1")), "{shown:?}");
}

#[tokio::test]
async fn the_default_scope_is_this_path_only() {
    let (prompts, _) = scripted(&[(10, Key::Char('a')), (10, Key::Char('a')), (10, Key::Char('n'))]);
    assert_eq!(prompts.ask(question("unlink", "/w/a", 5000), alive()).await, Answer::Allow);
    assert_eq!(prompts.ask(question("unlink", "/w/a", 5000), alive()).await, Answer::Allow);
    assert_eq!(prompts.ask(question("unlink", "/w/b", 5000), alive()).await, Answer::Deny, "asked: n");
}

#[tokio::test]
async fn dot_moves_the_directory_up_and_s_covers_any_path() {
    let (prompts, shown) = scripted(&keys("a.u").into_iter().chain(keys("ds")).collect::<Vec<_>>());
    assert_eq!(prompts.ask(question("unlink", "/w/b/c", 5000), alive()).await, Answer::Allow);
    assert_eq!(prompts.ask(question("unlink", "/w/x", 5000), alive()).await, Answer::Allow, "under /w, one up");
    assert_eq!(prompts.ask(question("rmdir", "/q", 5000), alive()).await, Answer::Deny);
    assert_eq!(prompts.ask(question("rmdir", "/elsewhere/z", 5000), alive()).await, Answer::Deny, "any path");
    assert!(shown.lock().unwrap().iter().any(|s| s.contains("menu until the program exits up 1")));
}

#[tokio::test]
async fn backspace_goes_back_and_unknown_keys_change_nothing() {
    let (prompts, _) = scripted(&keys("a\x7fzy"));
    assert_eq!(prompts.ask(question("unlink", "/w/a", 5000), alive()).await, Answer::Allow);
    // Back at the first step, `y` allowed once: nothing remembered.
    let (prompts2, _) = scripted(&keys("n"));
    assert_eq!(prompts2.ask(question("unlink", "/w/a", 5000), alive()).await, Answer::Deny);
}

#[tokio::test]
async fn a_timed_answer_expires() {
    let shown = Arc::new(Mutex::new(Vec::new()));
    let script = keys("amu").into_iter().chain([(10, Key::Char('n'))]).map(|(ms, k)| (Duration::from_millis(ms), k));
    let prompter = Scripted { keys: script.collect(), due: None, shown: shown.clone() };
    let prompts = Prompts::with_timed(Some(Box::new(prompter)), None, Duration::from_millis(300));
    assert_eq!(prompts.ask(question("unlink", "/w/a", 5000), alive()).await, Answer::Allow);
    assert_eq!(prompts.ask(question("unlink", "/w/b", 5000), alive()).await, Answer::Allow, "within 300 ms");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(prompts.ask(question("unlink", "/w/c", 5000), alive()).await, Answer::Deny, "asked again: n");
    assert!(shown.lock().unwrap().iter().any(|s| s.contains("allowed under /w/, for 0 s")), "{shown:?}");
}

#[tokio::test]
async fn once_with_a_scope_answers_the_questions_waiting_and_remembers_nothing() {
    let (prompts, _) = scripted(&keys("aou").into_iter().chain(keys("n")).collect::<Vec<_>>());
    let answers = ask_all(&prompts, vec![question("unlink", "/w/a", 5000), question("unlink", "/w/b", 5000)]).await;
    assert_eq!(answers, vec![Answer::Allow; 2]);
    assert_eq!(prompts.ask(question("unlink", "/w/c", 5000), alive()).await, Answer::Deny, "asked again: n");
}

#[tokio::test]
async fn an_allow_for_two_paths_needs_both_covered() {
    let (prompts, _) = scripted(&keys("au").into_iter().chain(keys("n")).collect::<Vec<_>>());
    let mut q = question("rename", "/w/a", 5000);
    q.paths.push("/w/b".into());
    assert_eq!(prompts.ask(q.clone(), alive()).await, Answer::Allow);
    q.paths[1] = "/etc/passwd".into();
    q.args = "other".into();
    assert_eq!(prompts.ask(q, alive()).await, Answer::Deny, "the destination is outside /w: asked again");
}

/// A `connect` by `/bin/app` to `ip:port` (TCP).
fn connect(ip: [u8; 4], port: u16) -> Question {
    let address = proto::net::Address::V4 { ip: ip.into(), port, mapped: false };
    Question {
        syscall: "connect".into(),
        args: format!("3, {address}, 16"),
        paths: Vec::new(),
        address: Some(address),
        socket_type: Some(proto::net::SockType::Stream),
        ..question("connect", "", 5000)
    }
}

#[tokio::test]
async fn a_host_answer_covers_its_other_ports_and_no_other_host() {
    let (prompts, shown) = scripted(&keys("ah").into_iter().chain(keys("n")).collect::<Vec<_>>());
    assert_eq!(prompts.ask(connect([127, 0, 0, 1], 8080), alive()).await, Answer::Allow);
    let before = shown.lock().unwrap().len();
    assert_eq!(prompts.ask(connect([127, 0, 0, 1], 9090), alive()).await, Answer::Allow, "the same host, another port");
    assert_eq!(shown.lock().unwrap().len(), before, "not asked");
    assert_eq!(prompts.ask(connect([127, 0, 0, 2], 8080), alive()).await, Answer::Deny, "another host: asked, n");
    let shown = shown.lock().unwrap();
    assert!(
        shown.iter().any(|s| s.contains("allowed for 127.0.0.1 on any port, until the program exits: pid 1")),
        "{shown:?}"
    );
}

#[tokio::test]
async fn the_default_address_scope_is_this_address_and_port_and_s_is_any_destination() {
    let script = keys("a\r").into_iter().chain(keys("n")).chain(keys("ds"));
    let (prompts, shown) = scripted(&script.collect::<Vec<_>>());
    assert_eq!(prompts.ask(connect([127, 0, 0, 1], 8080), alive()).await, Answer::Allow);
    assert_eq!(prompts.ask(connect([127, 0, 0, 1], 8080), alive()).await, Answer::Allow, "remembered");
    assert_eq!(prompts.ask(connect([127, 0, 0, 1], 8081), alive()).await, Answer::Deny, "another port: asked, n");
    assert_eq!(prompts.ask(connect([10, 0, 0, 1], 80), alive()).await, Answer::Deny, "asked: d s");
    assert_eq!(prompts.ask(connect([10, 9, 9, 9], 1), alive()).await, Answer::Deny, "any destination: not asked");
    assert_eq!(prompts.ask(connect([127, 0, 0, 1], 8080), alive()).await, Answer::Allow, "the narrowest wins");
    let shown = shown.lock().unwrap();
    assert!(shown.iter().any(|s| s.contains("allowed for 127.0.0.1 port 8080 only, until")), "{shown:?}");
    assert!(shown.iter().any(|s| s.contains("denied to any destination, until")), "{shown:?}");
}

#[tokio::test]
async fn u_and_dot_mean_nothing_for_an_address_and_h_nothing_for_a_path() {
    let (prompts, _) = scripted(&keys("au.h").into_iter().chain(keys("ah\r")).chain(keys("n")).collect::<Vec<_>>());
    assert_eq!(prompts.ask(connect([127, 0, 0, 1], 8080), alive()).await, Answer::Allow);
    assert_eq!(prompts.ask(connect([127, 0, 0, 1], 1), alive()).await, Answer::Allow, "h: the host");
    assert_eq!(prompts.ask(question("unlink", "/w/a", 5000), alive()).await, Answer::Allow, "h ignored, then Enter");
    assert_eq!(prompts.ask(question("unlink", "/w/b", 5000), alive()).await, Answer::Deny, "this path only: n");
}

#[test]
fn each_scope_key_means_its_scope_and_never_a_wider_one() {
    use proto::net::{Address, UnixAddr};
    let menu = |scope| Menu { allow: true, lasting: Lasting::Run, up: 0, scope, saving: false, timed: scope::TIMED };
    let web = connect([127, 0, 0, 1], 8080);
    let ip = web.address.as_ref().and_then(Address::ip).unwrap();
    let sock = Question { address: Some(Address::Unix(UnixAddr::Path(b"/run/a.sock".to_vec()))), ..web.clone() };
    let unspec = Question { address: Some(Address::Unspec), ..web.clone() };
    let file = question("unlink", "/w/a", 5000);
    for (q, key, want) in [
        (&web, ScopeKey::Path, Scope::Address(web.address.clone().unwrap())),
        (&web, ScopeKey::Host, Scope::Host(ip)),
        (&web, ScopeKey::Under, Scope::Address(web.address.clone().unwrap())),
        (&web, ScopeKey::Any, Scope::Any),
        (&sock, ScopeKey::Host, Scope::Address(sock.address.clone().unwrap())),
        (&unspec, ScopeKey::Path, Scope::Any),
        (&file, ScopeKey::Host, Scope::Paths(vec!["/w/a".into()])),
        (&file, ScopeKey::Under, Scope::Under(vec!["/w".into()])),
    ] {
        assert_eq!(q.scope(&menu(key)), want, "{:?} {key:?}", q.address);
    }
}
