//! The command line: `supervise [OPTIONS] -- PROGRAM [ARGS]...` and its subcommands, as the contract writes them.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::logging::LogFormat;

const RUN_EXAMPLES: &str = "\
Prompt keys (for `decision: prompt` rules; questions appear on /dev/tty):
  y  allow this call            n  deny this call (the rule's errnoRet)
  a  always allow this executable + syscall (+ path) for the rest of the run
  d  always deny this executable + syscall (+ path) for the rest of the run
  Ctrl-C  deny this question and every queued one

Examples:
  # Let `date -s` believe it set the clock; the host clock is untouched:
  supervise --policy policies/clock-emulate.json -- date -s '19 APR 2012 22:00:00'
  # Run under Docker's default profile (the built-in policy):
  supervise -- python3 -c 'print(42)'
  # Check a profile without running anything:
  supervise check my-profile.json";

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
    /// Docker/OCI seccomp profile, with optional `supervise` decisions. Default: Docker's default profile.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,

    /// Append "always allow" / "always deny" prompt answers to this policy file (a copy of --policy with the
    /// answers as rules in front), so that `supervise --policy FILE` reuses them.
    #[arg(long, value_name = "FILE")]
    pub save_decisions: Option<PathBuf>,

    /// What happens to the program if supervise dies: `enosys` (notified syscalls fail with ENOSYS, the program
    /// keeps running) or `kill` (the program is killed with SIGKILL).
    #[arg(long, value_enum, value_name = "WHAT", default_value_t = OnSupervisorExit::Enosys)]
    pub on_supervisor_exit: OnSupervisorExit,

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
    #[command(after_help = "Examples:\n  supervise check policy.json\n  supervise check policies/*.json")]
    Check {
        /// Policy files to check.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Run a program with every syscall allowed and observed, then write a Docker-format profile for it.
    #[command(
        after_help = "Examples:\n  supervise record --output ls.json -- ls /\n  supervise --policy ls.json -- ls /\n  supervise record --output app.json --merge app.json --args personality,socket -- ./app --other-mode\n  supervise record --for runc --output busybox.json -- busybox ls /"
    )]
    Record {
        /// Where to write the profile.
        #[arg(long, short, value_name = "FILE")]
        output: PathBuf,
        /// Add to this existing profile (often the same file as --output).
        #[arg(long, value_name = "FILE")]
        merge: Option<PathBuf>,
        /// Syscalls whose first-argument values are recorded as `args` conditions (comma-separated).
        #[arg(long, value_name = "SYSCALLS", value_delimiter = ',')]
        args: Vec<String>,
        /// Also allow what the named runtime needs after it loads the filter (today: runc).
        #[arg(long = "for", value_name = "RUNTIME", value_parser = ["runc"])]
        for_runtime: Option<String>,
        /// The program and its arguments (after `--`).
        #[arg(value_name = "PROGRAM", trailing_var_arg = true, required = true)]
        program: Vec<OsString>,
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
}

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
    fn check_takes_files() {
        let cli = Cli::try_parse_from(["supervise", "check", "a.json", "b.json"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Check { files }) if files.len() == 2));
    }
}
