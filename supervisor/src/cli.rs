//! The command line: `supervise [OPTIONS] -- PROGRAM [ARGS]...` and its subcommands, as the contract writes them.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::logging::LogFormat;

const RUN_EXAMPLES: &str = "\
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

    /// The program and its arguments (after `--`).
    #[arg(value_name = "PROGRAM", trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub program: Vec<OsString>,
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
