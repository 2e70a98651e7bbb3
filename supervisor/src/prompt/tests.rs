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
    fn show(&mut self, q: &Question, _: Duration, waiting: usize) -> io::Result<()> {
        self.shown.lock().unwrap().push(format!("{}({}) +{waiting}", q.syscall, q.args));
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
        path: Some(path.into()),
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
    assert!(shown.iter().any(|s| s == "mkdir(\"/tmp/a\") +1"), "{shown:?}");
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
    let (prompts, shown) = scripted(&[(10, Key::Char('d'))]);
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
