//! The control protocol's messages (docs/protocol.md, "Control socket"): JSON lines, one message a line, each an
//! object with a `type`. The client's [`Request`]s and supervise's [`Reply`]s; [`VERSION`] is said in both
//! `hello`s. Fields may be added within a version (readers ignore unknown fields); anything else is a new version.

use serde::{Deserialize, Serialize};

/// The protocol version this supervise speaks.
pub const VERSION: u32 = 1;
/// The longest line either side accepts (without its newline).
pub const MAX_LINE: usize = 64 * 1024;

/// `--format` of `ps` and `watch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// What a client sends. The first line must be `hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// `{"type":"hello","version":1}`.
    Hello { version: u32 },
    /// `{"type":"status"}`: one [`Reply::Status`].
    Status,
    /// `{"type":"watch", …filters}`: [`Reply::Watching`], then a [`Reply::Decision`] per matching decision until
    /// the connection ends. Anything the client sends afterwards ends it.
    Watch(Filter),
}

/// Which decisions a watch gets: every list that is not empty must contain the decision's value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// Syscall names (`openat`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub syscalls: Vec<String>,
    /// Decisions: `allow`, `deny`, `emulate`, `prompt`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub decisions: Vec<String>,
    /// Thread ids of the callers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pids: Vec<u32>,
}

impl Filter {
    /// True if `event` passes.
    pub fn matches(&self, event: &Event) -> bool {
        (self.syscalls.is_empty() || self.syscalls.contains(&event.syscall))
            && (self.decisions.is_empty() || self.decisions.contains(&event.decision))
            && (self.pids.is_empty() || self.pids.contains(&event.pid))
    }
}

/// What supervise sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    /// The answer to the client's `hello`.
    Hello {
        version: u32,
        supervise: String,
        pid: u32,
    },
    Status(Status),
    /// A watch has started.
    Watching,
    Decision(Event),
    /// The watcher fell behind: this many decisions were not sent to it.
    Lagged {
        missed: u64,
    },
    /// The last line on a connection that supervise closes (refused, bad input, too many clients, …).
    Error {
        message: String,
    },
}

/// A running supervise (`status`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub pid: u32,
    /// `run` (`supervise -- PROGRAM`) or `serve`.
    pub mode: String,
    /// supervise's own command line.
    pub command: Vec<String>,
    /// The policy file (`--policy`), absent for the built-in policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Start time, seconds since the epoch.
    pub started: u64,
    pub uptime_secs: u64,
    /// Run mode: one, the program; serve: one per container process (start or exec).
    pub targets: Vec<TargetStatus>,
    /// Questions waiting for the person at supervise's terminal.
    pub prompts: PromptStatus,
}

/// A supervised program (run mode) or container process (serve).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetStatus {
    /// The container (serve only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<Container>,
    /// The first process: the program supervise started, or the container process the runtime named.
    pub pid: u32,
    /// That process and its descendants, as found in /proc.
    pub processes: Vec<Process>,
    /// Decisions so far, per syscall and decision.
    pub decisions: Vec<Count>,
}

/// A container's identity, from the runtime's state and the Kubernetes annotations when present.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// One supervised process, from `/proc/PID/stat` and `/proc/PID/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    pub pid: u32,
    pub ppid: u32,
    /// `/proc/PID/exe` (`?` when it cannot be read).
    pub exe: String,
    /// `State:` of /proc/PID/status (`sleeping`, `running`, `zombie`, …).
    pub state: String,
    /// `Seccomp:`: 0 disabled, 1 strict, 2 filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<u32>,
    /// `Seccomp_filters:`: how many filters the process carries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp_filters: Option<u32>,
}

/// How many times a syscall was decided one way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    pub syscall: String,
    pub arch: String,
    /// `allow`, `deny`, `emulate` or `prompt`.
    pub decision: String,
    pub count: u64,
}

/// The prompts waiting at supervise's terminal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptStatus {
    /// Questions waiting (identical questions merged), the one shown included.
    pub pending: usize,
    /// The question shown, in one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shown: Option<String>,
}

/// One decision: the fields of the `notified syscall` line of `--log-level info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Milliseconds since the epoch.
    pub time_ms: u64,
    /// The container (serve only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    pub pid: u32,
    pub exe: String,
    pub syscall: String,
    pub arch: String,
    pub args: [u64; 6],
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Index of the deciding rule in `syscalls[]`; absent when the notify default applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<u64>,
    /// `allow`, `deny`, `emulate` or `prompt`.
    pub decision: String,
    /// With `deny` and `prompt`: the errno a denial gives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emulator: Option<String>,
}

impl Event {
    /// The event as one text line, like the info log's: `HH:MM:SS.mmm pid=… exe=… syscall=… decision=…`.
    pub fn text(&self) -> String {
        use std::fmt::Write;
        let secs = self.time_ms / 1000;
        let mut line =
            format!("{:02}:{:02}:{:02}.{:03}", secs / 3600 % 24, secs / 60 % 60, secs % 60, self.time_ms % 1000);
        if let Some(container) = &self.container {
            let _ = write!(line, " container={}", quoted(container));
        }
        let _ = write!(line, " pid={} exe={} syscall={} arch={}", self.pid, quoted(&self.exe), self.syscall, self.arch);
        for (i, arg) in self.args.iter().enumerate() {
            let _ = write!(line, " arg{i}={arg:#x}");
        }
        for (name, value) in [("path", &self.path), ("path2", &self.path2), ("address", &self.address)] {
            if let Some(value) = value {
                let _ = write!(line, " {name}={}", quoted(value));
            }
        }
        if let Some(rule) = self.rule {
            let _ = write!(line, " rule={rule}");
        }
        let _ = write!(line, " decision={}", self.decision);
        if let Some(errno) = self.errno {
            let name = i64::try_from(errno).ok().and_then(proto::Errno::new).and_then(proto::Errno::name);
            let _ = write!(line, " errno={}", name.map_or_else(|| errno.to_string(), str::to_string));
        }
        if let Some(emulator) = &self.emulator {
            let _ = write!(line, " emulator={emulator}");
        }
        line
    }
}

/// A value as the text line shows it: quoted and escaped (the program controls paths and names).
fn quoted(value: &str) -> String {
    format!("{value:?}")
}

/// Encodes one message as a line (with its newline).
pub fn line<T: Serialize>(message: &T) -> Vec<u8> {
    let mut line = serde_json::to_vec(message).unwrap_or_else(|_| b"{\"type\":\"error\"}".to_vec());
    line.push(b'\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Event {
        Event {
            time_ms: 1_700_000_000_123,
            container: None,
            pid: 42,
            exe: "/usr/bin/mkdir".into(),
            syscall: "mkdir".into(),
            arch: "x86_64".into(),
            args: [0x1000, 0o755, 0, 0, 0, 0],
            path: Some("/tmp/x".into()),
            path2: None,
            address: None,
            rule: Some(1),
            decision: "deny".into(),
            errno: Some(13),
            emulator: None,
        }
    }

    #[test]
    fn requests_round_trip_and_read_as_documented() {
        let cases = [
            (r#"{"type":"hello","version":1}"#, Request::Hello { version: 1 }),
            (r#"{"type":"status"}"#, Request::Status),
            (r#"{"type":"watch"}"#, Request::Watch(Filter::default())),
            (
                r#"{"type":"watch","syscalls":["openat"],"decisions":["deny"],"pids":[7]}"#,
                Request::Watch(Filter {
                    syscalls: vec!["openat".into()],
                    decisions: vec!["deny".into()],
                    pids: vec![7],
                }),
            ),
            // A newer client's extra field is ignored.
            (r#"{"type":"status","verbose":true}"#, Request::Status),
        ];
        for (text, want) in cases {
            let got: Request = serde_json::from_str(text).unwrap();
            assert_eq!(got, want, "{text}");
            let again: Request = serde_json::from_slice(&line(&got)).unwrap();
            assert_eq!(again, want);
        }
        for bad in [r#"{"type":"prompts"}"#, r#"{"version":1}"#, "[1]", r#"{"type":"hello"}"#, "\u{1b}[2J"] {
            assert!(serde_json::from_str::<Request>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn replies_round_trip() {
        let status = Status {
            pid: 1,
            mode: "run".into(),
            command: vec!["supervise".into(), "--".into(), "true".into()],
            policy: None,
            started: 5,
            uptime_secs: 2,
            targets: vec![TargetStatus {
                container: Some(Container { id: "c1".into(), pod: Some("p".into()), ..Container::default() }),
                pid: 2,
                processes: vec![Process {
                    pid: 2,
                    ppid: 1,
                    exe: "/bin/true".into(),
                    state: "sleeping".into(),
                    seccomp: Some(2),
                    seccomp_filters: Some(1),
                }],
                decisions: vec![Count {
                    syscall: "mkdir".into(),
                    arch: "x86_64".into(),
                    decision: "deny".into(),
                    count: 3,
                }],
            }],
            prompts: PromptStatus { pending: 1, shown: Some("pid 2 /bin/rm unlinkat(…)".into()) },
        };
        for reply in [
            Reply::Hello { version: VERSION, supervise: "0.1.0".into(), pid: 1 },
            Reply::Status(status),
            Reply::Watching,
            Reply::Decision(event()),
            Reply::Lagged { missed: 12 },
            Reply::Error { message: "no".into() },
        ] {
            let text = line(&reply);
            assert!(text.ends_with(b"\n") && !text[..text.len() - 1].contains(&b'\n'));
            assert_eq!(serde_json::from_slice::<Reply>(&text).unwrap(), reply);
        }
    }

    #[test]
    fn filters_need_every_list_that_is_given() {
        let e = event();
        let f = |s: &[&str], d: &[&str], p: &[u32]| Filter {
            syscalls: s.iter().map(|s| s.to_string()).collect(),
            decisions: d.iter().map(|s| s.to_string()).collect(),
            pids: p.to_vec(),
        };
        for (filter, want) in [
            (f(&[], &[], &[]), true),
            (f(&["mkdir", "openat"], &[], &[]), true),
            (f(&["openat"], &[], &[]), false),
            (f(&[], &["deny"], &[42]), true),
            (f(&[], &["allow"], &[42]), false),
            (f(&["mkdir"], &["deny"], &[41]), false),
        ] {
            assert_eq!(filter.matches(&e), want, "{filter:?}");
        }
    }

    #[test]
    fn the_text_line_names_every_field_and_escapes_what_the_program_controls() {
        let mut e = event();
        e.path = Some("/tmp/\u{1b}[2J".into());
        let text = e.text();
        assert!(text.contains("pid=42 exe=\"/usr/bin/mkdir\" syscall=mkdir arch=x86_64 arg0=0x1000"), "{text}");
        assert!(text.contains("rule=1 decision=deny errno=EACCES"), "{text}");
        assert!(text.contains(r#"path="/tmp/\u{1b}[2J""#), "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
    }
}
