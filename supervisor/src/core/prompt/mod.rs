//! Interactive prompts that never block anything else, answered only by the person at the terminal.
//!
//! Each prompted notification is its own task that calls [`Prompts::ask`]. One queue task owns the terminal
//! (through a [`Prompter`]) and shows one question at a time, with the number waiting. Identical pending questions
//! (same executable, syscall and decoded arguments) are merged, so one answer serves all of them. Questions whose
//! target died or whose syscall was interrupted (`NOTIF_ID_VALID` fails) are withdrawn with a one-line note. Each
//! question's timeout counts from when it was asked; when it passes, `onTimeout` applies. Notifications that do not
//! need a prompt never go through here, so a pending question delays nothing else.
//!
//! Keys: `y` allow once, `n` deny once, Ctrl-C deny this and every queued question. `a` (always allow) and `d`
//! (always deny) open a second step that says what the answer covers and for how long ([`scope`]): a scope key ends
//! it (`Enter`, or `a`/`d` again: the default, this exact path, or any arguments for a call without a path; `u`
//! this directory and below; `s` any path for this syscall), after optional keys that change the duration (`o`
//! once, `m` for 10 minutes, `x` until the program exits, `f` always, saved: the default with `--save-decisions`,
//! otherwise `x`) or move the directory up (`.`); Backspace goes back. A question about a call with a socket
//! address (`connect`, `bind`, `sendto`, …) reads like a firewall's (`curl (pid 123, `curl https://…`) wants to
//! connect to 93.184.216.34 port 443 (TCP)`), and its scopes are destinations: `Enter` this address and port (or
//! this unix socket path, this abstract name), `h` this host on any port, `s` any destination. Every answer is for
//! the executable and the syscall that asked; the questions waiting that it covers get it too. Remembered answers are
//! matched on the resolved paths the questions show ([`Question::paths`]) or on their decoded address
//! ([`Question::address`]), and answer through [`Prompts::ask`] like fresh ones, so an allowed emulated call (or
//! address call) is still performed by supervise.
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
pub mod scope;
pub mod tty;

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use scope::{Lasting, Memory, Remembered, Scope};

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
    /// The resolved path arguments (absolute, as the call will act on them), if the syscall has any: what
    /// "always" answers are matched on.
    pub paths: Vec<String>,
    /// The socket address of the call (`connect`, `bind`, `sendto`, …), decoded as the kernel reads it (a unix path
    /// resolved), as decided on and performed: what "always" answers for it are matched on.
    pub address: Option<proto::net::Address>,
    /// The type of the socket the call is made on: the protocol shown (`TCP`).
    pub socket_type: Option<proto::net::SockType>,
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

    /// The destination an answer can be scoped to exactly (see [`scope::nameable`]).
    pub fn destination(&self) -> Option<&proto::net::Address> {
        self.address.as_ref().filter(|a| scope::nameable(a))
    }

    /// The scope an answer with `menu` covers.
    pub fn scope(&self, menu: &Menu) -> Scope {
        // A key that does not fit the question (never taken: see `on_key`) means the narrowest scope, never a wider.
        if self.address.is_some() {
            return match (menu.scope, self.destination()) {
                (ScopeKey::Any, _) | (_, None) => Scope::Any,
                (ScopeKey::Host, Some(a)) => a.ip().map_or_else(|| Scope::Address(a.clone()), Scope::Host),
                (ScopeKey::Path | ScopeKey::Under, Some(a)) => Scope::Address(a.clone()),
            };
        }
        match menu.scope {
            _ if self.paths.is_empty() => Scope::Any,
            ScopeKey::Path | ScopeKey::Host => Scope::Paths(self.paths.clone()),
            ScopeKey::Under => Scope::Under(scope::directories(&self.paths, menu.up)),
            ScopeKey::Any => Scope::Any,
        }
    }

    /// True if an answer by `allow` with `scope` to `self` also covers `other`.
    fn covered_by(&self, other: &Question, scope: &Scope, allow: bool) -> bool {
        other.exe == self.exe
            && other.syscall == self.syscall
            && scope.covers(&other.paths, other.address.as_ref(), allow)
    }
}

/// The scope keys of the second step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeKey {
    /// This exact path, or this destination (`Enter`; for a call without either, any arguments).
    Path,
    /// This directory and below (`u`).
    Under,
    /// This host, any port (`h`).
    Host,
    /// Any path, or any destination, for this syscall (`s`).
    Any,
}

/// The second step of an "always" answer, while the person picks what it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Menu {
    pub allow: bool,
    pub lasting: Lasting,
    /// How many levels above the path's own directory "this directory and below" is.
    pub up: usize,
    /// The scope picked (set by the key that ends the step).
    pub scope: ScopeKey,
    /// `--save-decisions` is on (`f` is offered).
    pub saving: bool,
    /// The length of `m`.
    pub timed: Duration,
}

/// What goes with the question shown: the other questions waiting, those like it, and the second step if open.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Status {
    pub waiting: usize,
    /// Questions waiting from the same executable and syscall under the same directory (the one `u` would cover).
    pub alike: usize,
    pub menu: Option<Menu>,
}

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
    /// Shows `question`, with the time left, how many others wait and the second step of an "always" answer if it
    /// is open. Called again and again while it is the question shown (at least every 250 ms); a terminal draws it
    /// once and keeps it, and draws it again when `status` changes.
    ///
    /// # Errors
    /// If the terminal cannot be written.
    fn show(&mut self, question: &Question, remaining: Duration, status: &Status) -> io::Result<()>;

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
    memory: Arc<Mutex<Memory>>,
}

impl Prompts {
    /// Starts the queue task on the current runtime. Without a prompter (no terminal), every question times out at
    /// once. With a saver, "always" answers are also written to its policy file.
    pub fn start(prompter: Option<Box<dyn Prompter>>) -> Prompts {
        Prompts::with_saver(prompter, None)
    }

    /// [`Prompts::start`] with `--save-decisions`.
    pub fn with_saver(prompter: Option<Box<dyn Prompter>>, saver: Option<save::Saver>) -> Prompts {
        Prompts::with_timed(prompter, saver, scope::timed_from_env())
    }

    /// [`Prompts::with_saver`] with the length of a timed answer (`m`).
    pub fn with_timed(prompter: Option<Box<dyn Prompter>>, saver: Option<save::Saver>, timed: Duration) -> Prompts {
        let memory = Arc::new(Mutex::new(Memory::default()));
        let tx = prompter.map(|prompter| {
            let (tx, rx) = mpsc::unbounded_channel();
            let queue =
                Queue { prompter, rx, entries: VecDeque::new(), memory: memory.clone(), saver, timed, menu: None };
            tokio::spawn(queue.run());
            tx
        });
        Prompts { tx, memory }
    }

    /// True if a terminal is there to ask.
    pub fn interactive(&self) -> bool {
        self.tx.is_some()
    }

    /// Asks, or answers at once from an earlier "always" answer that covers the question.
    pub async fn ask(&self, question: Question, alive: Alive) -> Answer {
        let remembered = self.memory.lock().expect("not poisoned").lookup(
            &question.exe,
            &question.syscall,
            &question.paths,
            question.address.as_ref(),
            Instant::now(),
        );
        if let Some(allow) = remembered {
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
    memory: Arc<Mutex<Memory>>,
    saver: Option<save::Saver>,
    /// The length of a timed answer.
    timed: Duration,
    /// The second step of an "always" answer, and the question it is for.
    menu: Option<((String, String, String), Menu)>,
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
            let status = self.status();
            if let Err(e) = self.prompter.show(&head.question, remaining, &status) {
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

    /// The status of the question shown (the first).
    fn status(&self) -> Status {
        let head = &self.entries[0].question;
        let menu = self.menu.as_ref().filter(|(key, _)| *key == head.merge_key()).map(|(_, m)| m.clone());
        let up = menu.as_ref().map_or(0, |m| m.up);
        let dir = Scope::Under(scope::directories(&head.paths, up));
        let alike = if head.paths.is_empty() {
            0
        } else {
            self.entries.iter().skip(1).filter(|e| head.covered_by(&e.question, &dir, true)).count()
        };
        Status { waiting: self.entries.len() - 1, alike, menu }
    }

    fn on_key(&mut self, key: Option<Key>) {
        let head = self.entries[0].question.clone();
        let mut menu = self.menu.take().filter(|(k, _)| *k == head.merge_key()).map(|(_, m)| m);
        let (answer, scope, lasting) = match (key, &mut menu) {
            (Some(Key::CtrlC), _) => {
                let _ = self.prompter.note("Ctrl-C: denied this and every queued question");
                return self.finish_all(Answer::Deny);
            }
            (None, _) => {
                tracing::warn!("the terminal is gone: questions now time out at once");
                self.prompter = Box::new(tty::Closed);
                return self.finish_all(Answer::Timeout);
            }
            (Some(Key::Char(c)), None) => match c {
                'y' | 'Y' => (Answer::Allow, None, Lasting::Once),
                'n' | 'N' => (Answer::Deny, None, Lasting::Once),
                'a' | 'A' | 'd' | 'D' => {
                    let saving = self.saver.is_some();
                    let menu = Menu {
                        allow: matches!(c, 'a' | 'A'),
                        lasting: if saving { Lasting::Saved } else { Lasting::Run },
                        up: 0,
                        scope: ScopeKey::Path,
                        saving,
                        timed: self.timed,
                    };
                    self.menu = Some((head.merge_key(), menu));
                    return;
                }
                _ => return,
            },
            (Some(Key::Char(c)), Some(m)) => {
                let scope = match c {
                    '\r' | '\n' => Some(ScopeKey::Path),
                    'a' | 'A' if m.allow => Some(ScopeKey::Path),
                    'd' | 'D' if !m.allow => Some(ScopeKey::Path),
                    'p' | 'P' => Some(ScopeKey::Path),
                    'u' | 'U' if !head.paths.is_empty() => Some(ScopeKey::Under),
                    'h' | 'H' if head.destination().and_then(proto::net::Address::ip).is_some() => Some(ScopeKey::Host),
                    's' | 'S' => Some(ScopeKey::Any),
                    _ => None,
                };
                match (scope, c) {
                    (Some(key), _) => m.scope = key,
                    (None, '\x7f' | '\x08') => return,
                    (None, c) => {
                        match c {
                            'o' | 'O' => m.lasting = Lasting::Once,
                            'm' | 'M' => m.lasting = Lasting::For(self.timed),
                            'x' | 'X' => m.lasting = Lasting::Run,
                            'f' | 'F' if m.saving => m.lasting = Lasting::Saved,
                            '.' if !head.paths.is_empty() => m.up = (m.up + 1) % (scope::depth(&head.paths) + 1),
                            _ => {}
                        }
                        self.menu = Some((head.merge_key(), m.clone()));
                        return;
                    }
                }
                let answer = if m.allow { Answer::Allow } else { Answer::Deny };
                (answer, Some(head.scope(m)), m.lasting)
            }
        };
        let entry = self.entries.pop_front().expect("a question is shown");
        let word = if answer == Answer::Allow { "allowed" } else { "denied" };
        let note = match &scope {
            None => format!("{word} once"),
            Some(Scope::Any) if head.address.is_some() => format!("{word} to any destination, {}", lasting.describe()),
            Some(Scope::Any) if head.paths.is_empty() => format!("{word} with any arguments, {}", lasting.describe()),
            Some(scope @ Scope::Host(_)) => {
                format!("{word} for {}, {}", render::clean(&scope.describe()), lasting.describe())
            }
            Some(Scope::Any) => format!("{word} for any path, {}", lasting.describe()),
            Some(scope @ Scope::Under(_)) => {
                format!("{word} {}, {}", render::clean(&scope.describe()), lasting.describe())
            }
            Some(scope) => format!("{word} for {} only, {}", render::clean(&scope.describe()), lasting.describe()),
        };
        let _ = self.prompter.note(&format!("{note}: {}", summary(&entry.question)));
        self.prompter.clear();
        if let Some(scope) = scope {
            let allow = answer == Answer::Allow;
            let now = Instant::now();
            let until = match lasting {
                Lasting::Once => Some(now),
                Lasting::For(d) => Some(now + d),
                Lasting::Run | Lasting::Saved => None,
            };
            if lasting != Lasting::Once {
                let remembered = Remembered {
                    exe: head.exe.clone(),
                    syscall: head.syscall.clone(),
                    scope: scope.clone(),
                    allow,
                    until,
                };
                self.memory.lock().expect("not poisoned").add(remembered, now);
            }
            if lasting == Lasting::Saved {
                if let Some(saver) = &self.saver {
                    if let Err(e) = saver.save(&entry.question, allow, &scope) {
                        tracing::warn!(error = %e, "cannot save the answer");
                    }
                }
            }
            // Queued questions that the answer covers get it too (also a "once" answer: these are waiting now).
            let (covered, rest): (VecDeque<Entry>, VecDeque<Entry>) = std::mem::take(&mut self.entries)
                .into_iter()
                .partition(|e| head.covered_by(&e.question, &scope, allow));
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
            self.menu = None;
            self.prompter.clear();
        }
    }

    fn finish_all(&mut self, answer: Answer) {
        self.menu = None;
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
