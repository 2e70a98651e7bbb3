//! Interactive prompts that never block anything else, answered only by the person at the terminal.
//!
//! Each prompted notification is its own task that calls [`Prompts::ask`]. One queue task owns the terminal
//! (through a [`Prompter`]) and shows one question at a time, with the number waiting. Identical pending questions
//! (same executable, syscall and decoded arguments) are merged, so one answer serves all of them. Questions whose
//! target died or whose syscall was interrupted (`NOTIF_ID_VALID` fails) are withdrawn with a one-line note. Each
//! question's timeout counts from when it was asked; when it passes, `onTimeout` applies. Notifications that do not
//! need a prompt never go through here, so a pending question delays nothing else.
//!
//! Keys: `y` allow once, `n` deny once, `a` always allow and `d` always deny this executable + syscall (+ path) for
//! the rest of the run, Ctrl-C deny this and every queued question.
//!
//! The terminal side ([`tty`]) makes sure that only the person answers: the program's filter cannot push input
//! (the agent's `filter::guard`), what the program controls is shown inert ([`render`]), keys typed before a
//! question and the terminal's own answers do not count ([`keys`]), and while a question is shown the terminal is
//! supervise's alone ([`hold`], with the program as a job of its own: [`job`]).

pub mod hold;
pub mod job;
pub mod keys;
pub mod procs;
pub mod render;
pub mod save;
pub mod tty;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// One question for the person at the terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub pid: u32,
    /// Executable path (`/proc/PID/exe`).
    pub exe: String,
    /// Shortened command line.
    pub cmdline: String,
    pub syscall: String,
    /// Decoded arguments, as shown: `"/tmp/x", 0755`.
    pub args: String,
    /// The resolved path argument, if the syscall has one; part of the "always" key.
    pub path: Option<String>,
    pub timeout: Duration,
    /// The errno a denial gives, for saved "always deny" answers.
    pub deny_errno: proto::Errno,
    /// What applies without an answer.
    pub on_timeout: proto::OnTimeout,
}

impl Question {
    fn merge_key(&self) -> (String, String, String) {
        (self.exe.clone(), self.syscall.clone(), self.args.clone())
    }

    fn always_key(&self) -> AlwaysKey {
        (self.exe.clone(), self.syscall.clone(), self.path.clone())
    }
}

type AlwaysKey = (String, String, Option<String>);

/// The outcome of a question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// `y`, or `a` (now or earlier in this run).
    Allow,
    /// `n`, `d` (now or earlier), or Ctrl-C.
    Deny,
    /// No answer within the timeout, or no terminal: `onTimeout` applies.
    Timeout,
    /// The target died or its syscall was interrupted; nothing to reply.
    Withdrawn,
}

/// A key read from the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    CtrlC,
}

/// The terminal side of prompting: a tty implementation ([`tty::TtyPrompter`]) and a scripted one for tests.
pub trait Prompter: Send {
    /// Shows `question`, with the time left and how many others wait. Called again and again while it is the
    /// question shown (at least every 250 ms); a terminal draws it once and keeps it.
    ///
    /// # Errors
    /// If the terminal cannot be written.
    fn show(&mut self, question: &Question, remaining: Duration, waiting: usize) -> io::Result<()>;

    /// A one-line note (the answer given, a withdrawal, a timeout); written once no question is shown.
    ///
    /// # Errors
    /// If the terminal cannot be written.
    fn note(&mut self, line: &str) -> io::Result<()>;

    /// The question shown is settled: take it off, write the notes, give the terminal back.
    fn clear(&mut self);

    /// The next key; `None` when the terminal is gone.
    fn next_key(&mut self) -> Pin<Box<dyn Future<Output = Option<Key>> + Send + '_>>;
}

/// Checks whether a question's notification is still valid (`SECCOMP_IOCTL_NOTIF_ID_VALID`).
pub type Alive = Box<dyn Fn() -> bool + Send>;

struct Request {
    question: Question,
    alive: Alive,
    reply: oneshot::Sender<Answer>,
}

/// The handle that notification tasks use to ask; cheap to clone.
#[derive(Clone)]
pub struct Prompts {
    tx: Option<mpsc::UnboundedSender<Request>>,
    always: Arc<Mutex<HashMap<AlwaysKey, bool>>>,
}

impl Prompts {
    /// Starts the queue task on the current runtime. Without a prompter (no terminal), every question times out at
    /// once. With a saver, "always" answers are also written to its policy file.
    pub fn start(prompter: Option<Box<dyn Prompter>>) -> Prompts {
        Prompts::with_saver(prompter, None)
    }

    /// [`Prompts::start`] with `--save-decisions`.
    pub fn with_saver(prompter: Option<Box<dyn Prompter>>, saver: Option<save::Saver>) -> Prompts {
        let always = Arc::new(Mutex::new(HashMap::new()));
        let tx = prompter.map(|prompter| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(Queue { prompter, rx, entries: VecDeque::new(), always: always.clone(), saver }.run());
            tx
        });
        Prompts { tx, always }
    }

    /// True if a terminal is there to ask.
    pub fn interactive(&self) -> bool {
        self.tx.is_some()
    }

    /// Asks, or answers at once from an earlier "always" answer.
    pub async fn ask(&self, question: Question, alive: Alive) -> Answer {
        if let Some(&allow) = self.always.lock().expect("not poisoned").get(&question.always_key()) {
            return if allow { Answer::Allow } else { Answer::Deny };
        }
        let Some(tx) = &self.tx else { return Answer::Timeout };
        let (reply, answer) = oneshot::channel();
        if tx.send(Request { question, alive, reply }).is_err() {
            return Answer::Timeout;
        }
        answer.await.unwrap_or(Answer::Timeout)
    }
}

/// Merged identical questions: one shown question, several waiting notifications.
struct Entry {
    question: Question,
    deadline: Instant,
    waiters: Vec<(Alive, oneshot::Sender<Answer>)>,
}

impl Entry {
    fn answer(self, answer: Answer) {
        for (_, reply) in self.waiters {
            let _ = reply.send(answer);
        }
    }
}

struct Queue {
    prompter: Box<dyn Prompter>,
    rx: mpsc::UnboundedReceiver<Request>,
    entries: VecDeque<Entry>,
    always: Arc<Mutex<HashMap<AlwaysKey, bool>>>,
    saver: Option<save::Saver>,
}

const TICK: Duration = Duration::from_millis(250);

impl Queue {
    async fn run(mut self) {
        loop {
            if self.entries.is_empty() {
                match self.rx.recv().await {
                    Some(request) => self.add(request),
                    None => return,
                }
                continue;
            }
            let now = Instant::now();
            let head = &self.entries[0];
            let remaining = head.deadline.saturating_duration_since(now);
            if let Err(e) = self.prompter.show(&head.question, remaining, self.entries.len() - 1) {
                tracing::warn!(error = %e, "cannot write to the terminal: questions now time out at once");
                self.finish_all(Answer::Timeout);
                self.prompter = Box::new(tty::Closed);
                continue;
            }
            tokio::select! {
                request = self.rx.recv() => match request {
                    Some(request) => self.add(request),
                    None => return self.finish_all(Answer::Timeout),
                },
                key = self.prompter.next_key() => self.on_key(key),
                _ = tokio::time::sleep(TICK.min(remaining.max(Duration::from_millis(1)))) => self.prune(),
            }
        }
    }

    fn add(&mut self, request: Request) {
        let key = request.question.merge_key();
        if let Some(entry) = self.entries.iter_mut().find(|e| e.question.merge_key() == key) {
            entry.waiters.push((request.alive, request.reply));
            return;
        }
        let deadline = Instant::now() + request.question.timeout;
        self.entries.push_back(Entry {
            question: request.question,
            deadline,
            waiters: vec![(request.alive, request.reply)],
        });
    }

    fn on_key(&mut self, key: Option<Key>) {
        let (answer, always, word) = match key {
            Some(Key::Char('y' | 'Y')) => (Answer::Allow, None, "allowed once"),
            Some(Key::Char('n' | 'N')) => (Answer::Deny, None, "denied once"),
            Some(Key::Char('a' | 'A')) => (Answer::Allow, Some(true), "always allowed"),
            Some(Key::Char('d' | 'D')) => (Answer::Deny, Some(false), "always denied"),
            Some(Key::CtrlC) => {
                let _ = self.prompter.note("Ctrl-C: denied this and every queued question");
                return self.finish_all(Answer::Deny);
            }
            Some(Key::Char(_)) => return,
            None => {
                tracing::warn!("the terminal is gone: questions now time out at once");
                self.prompter = Box::new(tty::Closed);
                return self.finish_all(Answer::Timeout);
            }
        };
        let entry = self.entries.pop_front().expect("a question is shown");
        let _ = self.prompter.note(&format!("{word}: {}", summary(&entry.question)));
        self.prompter.clear();
        if let Some(allow) = always {
            let key = entry.question.always_key();
            self.always.lock().expect("not poisoned").insert(key.clone(), allow);
            if let Some(saver) = &self.saver {
                if let Err(e) = saver.save(&entry.question, allow) {
                    tracing::warn!(error = %e, "cannot save the answer");
                }
            }
            // Queued questions that the new rule covers get the same answer.
            let (covered, rest): (VecDeque<Entry>, VecDeque<Entry>) =
                std::mem::take(&mut self.entries).into_iter().partition(|e| e.question.always_key() == key);
            self.entries = rest;
            covered.into_iter().for_each(|e| e.answer(answer));
        }
        entry.answer(answer);
    }

    /// Drops waiters whose notification is gone, withdraws emptied questions, and times out expired ones.
    fn prune(&mut self) {
        let now = Instant::now();
        let mut kept = VecDeque::with_capacity(self.entries.len());
        let mut head_settled = false;
        for (i, mut entry) in std::mem::take(&mut self.entries).into_iter().enumerate() {
            let (live, gone): (Vec<_>, Vec<_>) = entry.waiters.into_iter().partition(|(alive, _)| alive());
            gone.into_iter().for_each(|(_, reply)| {
                let _ = reply.send(Answer::Withdrawn);
            });
            entry.waiters = live;
            if entry.waiters.is_empty() {
                head_settled |= i == 0;
                let _ = self
                    .prompter
                    .note(&format!("withdrawn (target gone or interrupted): {}", summary(&entry.question)));
            } else if now >= entry.deadline {
                head_settled |= i == 0;
                let then = match entry.question.on_timeout {
                    proto::OnTimeout::Allow => "allowed",
                    proto::OnTimeout::Deny => "denied",
                };
                let _ = self.prompter.note(&format!("no answer in time, {then}: {}", summary(&entry.question)));
                entry.answer(Answer::Timeout);
            } else {
                kept.push_back(entry);
            }
        }
        self.entries = kept;
        if head_settled {
            self.prompter.clear();
        }
    }

    fn finish_all(&mut self, answer: Answer) {
        self.entries.drain(..).for_each(|e| e.answer(answer));
        self.prompter.clear();
    }
}

/// The question in one line, for notes; what the program controls is escaped.
fn summary(q: &Question) -> String {
    render::clean(&format!("pid {} {} {}({})", q.pid, q.exe, q.syscall, q.args))
}

/// A warning for a policy whose prompt rules nobody can answer (no terminal, or `serve`), naming what applies
/// instead: `None` if the policy never prompts.
pub fn unanswerable(policy: &proto::Policy) -> Option<String> {
    use proto::{Action, Decision, OnTimeout};
    let mut allow = Vec::new();
    let mut deny = Vec::new();
    let mut sort = |spec: &proto::PromptSpec, what: String| match spec.on_timeout {
        OnTimeout::Allow => allow.push(what),
        OnTimeout::Deny => deny.push(what),
    };
    for rule in policy.rules.iter().filter(|r| r.action == Action::Notify) {
        if let Some(Decision::Prompt(spec)) = &rule.decision {
            sort(spec, format!("syscalls[{}] ({})", rule.index, rule.names.join(", ")));
        }
    }
    if let Decision::Prompt(spec) = &policy.notify_default {
        sort(spec, "notify rules without a decision".to_string());
    }
    if allow.is_empty() && deny.is_empty() {
        return None;
    }
    let mut parts = Vec::new();
    if !deny.is_empty() {
        parts.push(format!("denied: {}", deny.join(", ")));
    }
    if !allow.is_empty() {
        parts.push(format!("ALLOWED: {}", allow.join(", ")));
    }
    Some(format!(
        "the policy has prompt rules but nobody can answer them here; their onTimeout applies at once, without asking ({})",
        parts.join("; ")
    ))
}

#[cfg(test)]
mod tests;
