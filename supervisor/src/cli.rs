//! The command line: `supervise [OPTIONS] -- PROGRAM [ARGS]...` and its subcommands, as the contract writes them.
//! It sits above the modes: `main` turns what it parsed into each mode's options.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::logging::LogFormat;
use crate::modes::audit::{AuditOptions, ReportFormat};
use crate::modes::check::Format;
use crate::modes::control::protocol::Format as ControlFormat;
use crate::modes::run::RunOptions;

/// The exit statuses of `supervise -- PROGRAM` and `supervise record`, as `--help` and the manual page give them.
macro_rules! exit_status {
    () => {
        "\
Exit status:
  the program's own status, or 128+N if signal N killed it (as a shell reports it); for supervise's own failures,
  as with `env` and podman:
  125  supervise failed: bad options, bad policy, the filter cannot be installed, a nested listener
  126  the program cannot be executed (including \"execve blocked by the policy\")
  127  the program was not found"
    };
}

const RUN_EXAMPLES: &str = concat!(
    "\
Prompt keys (for `decision: prompt` rules; questions appear on /dev/tty):
  y  allow this call            n  deny this call (the rule's errnoRet)
  a  always allow this executable + syscall, then the scope: Enter this path, u this directory and below
     (. moves it up), s any path; before it, the duration: f saved (default with --save-decisions),
     x until the program exits (default otherwise), m 10 minutes, o once; Backspace goes back
  d  always deny, with the same keys
  Ctrl-C  deny this question and every queued one

Built-in policy (no --policy): Docker's default seccomp profile and, as root, Docker's default capabilities:
  the program runs with CHOWN, DAC_OVERRIDE, FSETID, FOWNER, MKNOD, NET_RAW, SETGID, SETUID, SETFCAP, SETPCAP,
  NET_BIND_SERVICE, SYS_CHROOT, KILL and AUDIT_WRITE only (bounding, permitted, effective, inheritable and ambient
  sets), and the profile's capability rules follow that set, as `docker run` does: mount, reboot, setting the
  clock and new namespaces fail with EPERM. Change the set with --cap-add, --cap-drop or --privileged. As another
  user, the program keeps its own (usually empty) set, reduced to Docker's. With --policy FILE alone, the program
  keeps the capabilities supervise gives it and the rules follow them.

Signals: every signal supervise can catch goes to the program (SIGCHLD excepted), as with `docker kill -s`;
  supervise stays up and exits with the program's status. The terminal's own signals (Ctrl-C, Ctrl-\\, Ctrl-Z,
  window size) already reach the program when it shares supervise's process group, and are not sent twice. After
  passing on SIGTSTP, SIGTTIN or SIGTTOU to it, supervise stops too, so the shell sees the job stopped.

Waiting: supervise exits when the program has exited and, if the policy has notify rules (SCMP_ACT_NOTIFY), when
  every process that still holds the filter has exited too (processes the program left in the background: their
  calls are still answered). Under a policy without notify rules, the built-in one included, it exits with the
  program and leaves those processes running.

Control socket: while it runs, supervise listens on PID.sock (/run/supervise for root, $XDG_RUNTIME_DIR/supervise
  for others, mode 0600; $SUPERVISE_RUNTIME_DIR overrides) for `supervise ps` and `supervise watch`: read-only,
  for the same user and root only, removed at exit.

",
    exit_status!(),
    "

Examples:
  # Let `date -s` believe it set the clock; the host clock is untouched:
  supervise --policy policies/clock-emulate.json -- date -s '19 APR 2012 22:00:00'
  # Run under Docker's default profile and capabilities (the built-in policy):
  supervise -- python3 -c 'print(42)'
  # The same with CAP_SYS_PTRACE added, as `docker run --cap-add SYS_PTRACE`:
  supervise --cap-add SYS_PTRACE -- strace -f ls
  # Check a profile without running anything:
  supervise check my-profile.json
  # What would Docker's default profile refuse, and which rule? (nothing is refused; report at exit)
  supervise --audit -- ./app
  # The same for a profile, with the change that lets the run through written as a profile:
  supervise --audit --policy app.json --audit-fix app-fixed.json -- ./app"
);

const CHECK_EXAMPLES: &str = "\
Exit status:
  0    every file is valid (with --strict: and has no warnings)
  1    a file is invalid (with --strict: or has warnings)
  125  bad usage

Examples:
  supervise check policies/*.json
  supervise check --strict --format json ls.json     # for CI: warnings fail too, one JSON document
  supervise check --bpf ls.json                      # what the kernel gets (libseccomp PFC)
  supervise check p.json --explain socket 40         # which rule decides socket(AF_VSOCK), and how
  supervise check p.json --explain                   # what p.json allows, refuses and notifies";

const RECORD_EXAMPLES: &str = concat!(
    exit_status!(),
    "

Examples:
  supervise record --output ls.json -- ls /          # then: supervise --policy ls.json -- ls /
  supervise record -o py.json --merge py.json --args socket -- python3 -c 'import socket; socket.socket()'
  supervise record --for runc --output busybox.json -- busybox ls /   # for config.json's linux.seccomp"
);

const COMPLETIONS_EXAMPLES: &str = "\
Examples:
  supervise completions bash > ~/.local/share/bash-completion/completions/supervise
  supervise completions zsh > ~/.zfunc/_supervise          # with fpath+=(~/.zfunc) in ~/.zshrc
  supervise completions fish > ~/.config/fish/completions/supervise.fish";

const MAN_EXAMPLES: &str = "\
Examples:
  supervise man | man -l -
  supervise man --dir ~/.local/share/man/man1 && man supervise-record";

/// See, approve, deny or fake what a program asks of the kernel (seccomp user notification).
#[derive(Debug, Parser)]
#[command(name = "supervise", version, about, after_help = RUN_EXAMPLES)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub run: RunArgs,

    #[command(flatten)]
    pub log: LogArgs,
}

/// Options of the default mode: run one program under a policy.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Docker/OCI seccomp profile, with optional `supervise` decisions. Default: Docker's default profile, with
    /// Docker's default capabilities (see "Built-in policy" below).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,

    /// Add capabilities to the program's set, as `docker run --cap-add` does: a name with or without `CAP_`, any
    /// case, or ALL; repeatable or a comma list. With --policy, using any of --cap-add, --cap-drop and
    /// --privileged starts from Docker's default set too.
    #[arg(long = "cap-add", value_name = "CAP", value_delimiter = ',')]
    pub cap_add: Vec<String>,

    /// Drop capabilities from the program's set, as `docker run --cap-drop` does (ALL: keep only --cap-add's). A
    /// capability both added and dropped is added.
    #[arg(long = "cap-drop", value_name = "CAP", value_delimiter = ',')]
    pub cap_drop: Vec<String>,

    /// Give the program every capability supervise holds, as `docker run --privileged` does for capabilities
    /// (the policy still applies: Docker's --privileged would also turn seccomp off).
    #[arg(long)]
    pub privileged: bool,

    /// Set NO_NEW_PRIVS for the program, as `--security-opt no-new-privileges` does: set-user-ID and file
    /// capabilities no longer grant anything. Always set when supervise runs without CAP_SYS_ADMIN (the kernel
    /// requires it to load a filter) or cannot shrink its bounding set; as root it is set only with this option.
    #[arg(long)]
    pub no_new_privileges: bool,

    /// Append saved prompt answers ("always allow" / "always deny" with the duration f, the default here) to
    /// this policy file (a copy of --policy with the answers as rules in front), so that `supervise --policy FILE`
    /// reuses them.
    #[arg(long, value_name = "FILE")]
    pub save_decisions: Option<PathBuf>,

    /// What happens to the program if supervise dies: `enosys` (notified syscalls fail with ENOSYS, the program
    /// keeps running) or `kill` (the program is killed with SIGKILL).
    #[arg(long, value_enum, value_name = "WHAT", default_value_t = OnSupervisorExit::Enosys)]
    pub on_supervisor_exit: OnSupervisorExit,

    /// Audit mode: refuse nothing, and report what the policy would have refused. Every call the policy would
    /// refuse (ERRNO, KILL, TRAP, TRACE, a notify rule that denies or asks, an architecture it does not list) is let
    /// through and counted; the policy's allow rules still run in the kernel. At exit: each such call with the rule
    /// that would have decided it (its index in syscalls[], names, action and comment, or the default action), the
    /// count, the first and last executable and the first call's arguments; then the smallest change to the
    /// policy that lets the run through. The exit status is the program's. Not a sandbox: nothing is refused.
    #[arg(long, conflicts_with = "save_decisions")]
    pub audit: bool,

    /// With --audit: the capabilities the program would have (names as --cap-add, comma list, or `none`), which
    /// decide the policy's `includes.caps`/`excludes.caps` rules. Default: Docker's default set for the built-in
    /// policy (as changed by --cap-add, --cap-drop, --privileged), the program's own for --policy. Only the
    /// report follows it: the program runs with its own capabilities.
    #[arg(long, value_name = "CAP,...", value_delimiter = ',', requires = "audit")]
    pub caps: Option<Vec<String>>,

    /// With --audit: write the report to this file instead of stderr.
    #[arg(long, value_name = "FILE", requires = "audit")]
    pub audit_report: Option<PathBuf>,

    /// With --audit: the report's format, `text` or `json` (one document; see docs/audit.md).
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = ReportFormat::Text)]
    pub audit_format: ReportFormat,

    /// With --audit: write the policy with the report's change applied (an allow rule first, missing
    /// architectures added) to this file, loadable with --policy.
    #[arg(long, value_name = "OUT", requires = "audit")]
    pub audit_fix: Option<PathBuf>,

    /// With --audit: allow these syscalls in the change only with the argument values seen (`args` conditions):
    /// NAME (argument 0) or NAME:INDEX, comma-separated, as `record --args`.
    #[arg(long, value_name = "SYSCALL[:INDEX],...", value_delimiter = ',', requires = "audit")]
    pub args: Vec<String>,

    /// The program and its arguments (after `--`).
    #[arg(value_name = "PROGRAM", trailing_var_arg = true, required = true)]
    pub program: Vec<OsString>,
}

/// `--on-supervisor-exit`: see [`agent::launch::OnSupervisorExit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnSupervisorExit {
    /// Fail closed: notified syscalls fail with ENOSYS; the program keeps running.
    Enosys,
    /// Kill the program (SIGKILL).
    Kill,
}

impl RunArgs {
    /// The options of the run mode.
    pub fn options(&self) -> RunOptions {
        RunOptions {
            policy: self.policy.clone(),
            cap_add: self.cap_add.clone(),
            cap_drop: self.cap_drop.clone(),
            privileged: self.privileged,
            no_new_privileges: self.no_new_privileges,
            save_decisions: self.save_decisions.clone(),
            on_supervisor_exit: self.on_supervisor_exit.into(),
            program: self.program.clone(),
        }
    }
}

impl RunArgs {
    /// The options of audit mode (`--audit`).
    pub fn audit_options(&self) -> AuditOptions {
        AuditOptions {
            policy: self.policy.clone(),
            caps: self.caps.clone(),
            cap_add: self.cap_add.clone(),
            cap_drop: self.cap_drop.clone(),
            privileged: self.privileged,
            no_new_privileges: self.no_new_privileges,
            on_supervisor_exit: self.on_supervisor_exit.into(),
            report: self.audit_report.clone(),
            format: self.audit_format,
            fix: self.audit_fix.clone(),
            args: self.args.clone(),
            program: self.program.clone(),
        }
    }
}

impl From<OnSupervisorExit> for agent::launch::OnSupervisorExit {
    fn from(value: OnSupervisorExit) -> Self {
        match value {
            OnSupervisorExit::Enosys => agent::launch::OnSupervisorExit::Enosys,
            OnSupervisorExit::Kill => agent::launch::OnSupervisorExit::Kill,
        }
    }
}

/// Logging options, shared by every mode.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Log level or filter (error, warn, info, debug, trace); overrides RUST_LOG. Default: warn.
    #[arg(long, value_name = "LEVEL", global = true)]
    pub log_level: Option<String>,

    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    /// Write logs to this file instead of stderr.
    #[arg(long, value_name = "PATH", global = true)]
    pub log_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate policies without running anything: a summary for valid files, every error for invalid ones.
    ///
    /// Each file is parsed, resolved for this machine and compiled as `supervise --policy` would. Warnings point at
    /// misspelt syscall names and keys, rules that can never match, duplicate and conflicting rules, notify rules
    /// on syscalls the launcher (or runc) needs, and path decisions that are only advisory. Exit status: 0 if every
    /// file is valid, 1 otherwise.
    #[command(after_help = CHECK_EXAMPLES)]
    Check {
        /// Policy files to check.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Output format: `text` (summary on stdout, findings on stderr) or `json` (one document, for CI).
        #[arg(long, value_enum, value_name = "FORMAT", default_value_t = Format::Text)]
        format: Format,
        /// Also print the compiled filter, as libseccomp's pseudo filter code (PFC).
        #[arg(long)]
        bpf: bool,
        /// Treat warnings as errors (exit 1).
        #[arg(long)]
        strict: bool,
        /// Say which rule decides the call SYSCALL(ARG...) and with what action (arguments are numbers: 12, 0x7b,
        /// -1), from the compiled filter itself; give the files first. Without a syscall, list what each file
        /// allows, refuses and notifies, group by group.
        #[arg(long, value_name = "SYSCALL [ARG]...", num_args = 0.., allow_negative_numbers = true)]
        explain: Option<Vec<String>>,
        /// With --explain: the call's architecture (default: this machine's).
        #[arg(long, value_name = "ARCH", requires = "explain")]
        arch: Option<String>,
        /// With --explain: the capabilities the program would have (names as --cap-add, comma list, or `none`), for
        /// `includes.caps`/`excludes.caps`. Default: what a program started here would have.
        #[arg(long, value_name = "CAP,...", value_delimiter = ',', requires = "explain")]
        caps: Option<Vec<String>>,
    },
    /// Run a program with every syscall allowed and observed, then write a Docker-format profile for it.
    ///
    /// Every syscall of the program, its threads and its children is notified and let through (CONTINUE). The
    /// profile allows exactly the syscalls seen (`defaultAction: SCMP_ACT_ERRNO`), for the architectures seen. A
    /// summary goes to stderr; on a terminal, a progress line shows the syscalls seen so far. The exit status is
    /// the program's.
    #[command(after_help = RECORD_EXAMPLES)]
    Record {
        /// Where to write the profile.
        #[arg(long, short, value_name = "FILE")]
        output: PathBuf,
        /// Add to this profile (often the same file as --output): its allow rules are merged, other rules kept.
        #[arg(long, value_name = "FILE")]
        merge: Option<PathBuf>,
        /// Replace --output if it exists (without it, an existing file is refused unless --merge names it).
        #[arg(long)]
        force: bool,
        /// Record the values of one argument of these syscalls as `args` conditions: NAME (argument 0) or
        /// NAME:INDEX, comma-separated (for example `personality,socket,ioctl:1`).
        #[arg(long, value_name = "SYSCALL[:INDEX],...", value_delimiter = ',')]
        args: Vec<String>,
        /// Record where each executable connects, binds and sends (connect, bind, sendto, sendmsg, sendmmsg) as
        /// address rules: the exact addresses seen are allowed to it, any other address is refused (EACCES).
        #[arg(long)]
        addresses: bool,
        /// Also allow what the named runtime needs after it loads the filter (today: runc; see
        /// docs/record-and-check.md).
        #[arg(long = "for", value_name = "RUNTIME", value_parser = ["runc"])]
        for_runtime: Option<String>,
        /// The program and its arguments (after `--`).
        #[arg(value_name = "PROGRAM", trailing_var_arg = true, required = true)]
        program: Vec<OsString>,
    },
    /// Print a shell completion script on stdout.
    #[command(after_help = COMPLETIONS_EXAMPLES)]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) on stdout, or write one page per command into a directory.
    #[command(after_help = MAN_EXAMPLES)]
    Man {
        /// Write supervise.1 and supervise-COMMAND.1 for each subcommand into this directory instead (created if
        /// missing).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Run as an OCI seccomp agent: runc and crun hand over each container's listener fd at `--socket`.
    #[command(
        after_help = "Examples:\n  supervise serve --socket /run/supervise.sock --policy /etc/supervise/default.json\n  supervise serve --socket /run/supervise.sock --policy base.json --policy-dir /etc/supervise/policies\n\nIn the container's seccomp profile: \"listenerPath\": \"/run/supervise.sock\", and optionally\n\"listenerMetadata\": \"NAME.json\" to pick a policy of --policy-dir."
    )]
    Serve {
        /// Unix socket to listen on (the profile's `listenerPath`); created with mode 0600.
        #[arg(long, value_name = "PATH")]
        socket: PathBuf,
        /// Policy for containers whose `listenerMetadata` names no policy.
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
        /// Directory of policies that `listenerMetadata` can choose by file name.
        #[arg(long, value_name = "DIR")]
        policy_dir: Option<PathBuf>,
    },
    /// List the running supervisors of this user: their programs or containers, processes, decisions and prompts.
    ///
    /// Every `supervise -- PROGRAM` and `supervise serve` listens on a control socket, PID.sock, in a private
    /// directory (see CONTROL SOCKETS below); `ps` asks each one for its status. For each supervise: its pid, mode,
    /// uptime, command line and policy file; for each target (the program, or under serve each container process,
    /// with its id and the pod, namespace and container name when the runtime passes them) its processes (pid,
    /// parent, state, seccomp mode and filter count from /proc/PID/status, executable) and its decisions so far per
    /// syscall and decision (allow, deny, emulate, prompt); and the prompts waiting at its terminal. Sockets left
    /// by a supervise that was killed are removed on the way. Read-only.
    #[command(after_help = PS_HELP)]
    Ps {
        /// Output format: `text`, or `json` (one document: {"supervisors": [...], "errors": [...]}, the fields of
        /// docs/protocol.md's status reply).
        #[arg(long, value_enum, value_name = "FORMAT", default_value_t = ControlFormat::Text)]
        format: ControlFormat,
    },
    /// Stream the decisions of a running supervise as it takes them, one line each.
    ///
    /// Each decision on a notified syscall is one line, as `--log-level info` logs it: time, pid, executable,
    /// syscall, architecture, arguments, paths or address when the policy looked at them, rule, decision, errno or
    /// emulator (under serve, the container id first). The filters are applied in supervise, and each may be
    /// repeated (any of the values). Runs until that supervise exits (status 0) or Ctrl-C. A watcher that falls
    /// behind is told how many decisions it missed; supervise never waits for it.
    #[command(after_help = WATCH_HELP)]
    Watch {
        /// The supervise to watch (its pid, as `supervise ps` shows it). Default: the only one running; with
        /// several, an error lists them.
        #[arg(value_name = "PID")]
        supervisor: Option<u32>,
        /// Output format: `text` (like the info log), or `json` (one object a line, as docs/protocol.md's
        /// decision message).
        #[arg(long, value_enum, value_name = "FORMAT", default_value_t = ControlFormat::Text)]
        format: ControlFormat,
        /// Only decisions on this syscall (a name, as in the policy: openat, connect).
        #[arg(long = "syscall", value_name = "NAME")]
        syscalls: Vec<String>,
        /// Only decisions of this kind.
        #[arg(long = "decision", value_name = "DECISION", value_parser = ["allow", "deny", "emulate", "prompt"])]
        decisions: Vec<String>,
        /// Only decisions on calls of this process (thread) id.
        #[arg(long = "pid", value_name = "N")]
        pids: Vec<u32>,
    },
}

/// What `ps` and `watch` share in their manual pages.
macro_rules! control_sockets {
    () => {
        "\
Control sockets: each running supervise (`supervise -- PROGRAM`, `supervise serve`) listens on PID.sock, mode 0600,
  in a directory of mode 0700: $SUPERVISE_RUNTIME_DIR if set, else /run/supervise for root, else
  $XDG_RUNTIME_DIR/supervise; when that cannot be used (or XDG_RUNTIME_DIR is unset), $TMPDIR/supervise-UID
  (/tmp/supervise-UID). ps and watch look in both. Only supervise's own user and root may connect (checked
  with SO_PEERCRED); others get one error line. The socket is removed when supervise exits; one left by a killed
  supervise is removed by the next supervise and by `ps`. The protocol (JSON lines) is in docs/protocol.md."
    };
}

const PS_HELP: &str = concat!(
    control_sockets!(),
    "

Exit status:
  0    every running supervise answered (or none runs)
  1    some supervise could not be asked (each is named on stderr)
  125  bad usage

Examples:
  supervise ps
  supervise ps --format json | jq '.supervisors[].targets[].decisions'
  sudo supervise ps                             # root's supervisors (in /run/supervise)"
);

const WATCH_HELP: &str = concat!(
    control_sockets!(),
    "

Exit status:
  0    the supervise watched has exited
  125  no such supervise, several running and none chosen, a bad filter, or the connection was refused

Examples:
  supervise watch                               # the only running supervise
  supervise watch 4242 --decision deny          # what supervise 4242 refuses
  supervise watch --syscall openat --syscall unlinkat --format json | jq -r .path"
);

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_mode_takes_the_program_after_double_dash() {
        let cli = Cli::try_parse_from(["supervise", "--policy", "p.json", "--", "date", "-s", "x"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.run.program, ["date", "-s", "x"]);
        assert_eq!(cli.run.policy.as_deref(), Some(std::path::Path::new("p.json")));
    }

    #[test]
    fn capability_options_repeat_and_take_comma_lists() {
        let cli = Cli::try_parse_from([
            "supervise",
            "--cap-add",
            "SYS_PTRACE",
            "--cap-add=net_admin,SYS_TIME",
            "--cap-drop",
            "CHOWN",
            "--privileged",
            "--no-new-privileges",
            "--",
            "true",
        ])
        .unwrap();
        assert_eq!(cli.run.cap_add, ["SYS_PTRACE", "net_admin", "SYS_TIME"]);
        assert_eq!(cli.run.cap_drop, ["CHOWN"]);
        assert!(cli.run.privileged && cli.run.no_new_privileges);
    }

    #[test]
    fn check_takes_files() {
        let cli = Cli::try_parse_from(["supervise", "check", "a.json", "b.json"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Check { files, .. }) if files.len() == 2));
    }
}
