//! `supervise`: parse the command line, set up logging, run the chosen mode, and turn its result into an exit
//! status. Every error is one line on stderr starting with `supervise:`.

#![deny(unsafe_code)]

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use supervisor::cli::{Cli, Command};
use supervisor::modes::exit::{Failure, EXIT_FAILURE};

fn main() -> ExitCode {
    let code = run_mode();
    // Queued log lines and messages are written if the terminal takes them within a short time; a stopped terminal
    // never holds up the exit.
    supervisor::logging::flush_at_exit();
    code
}

fn run_mode() -> ExitCode {
    // Before anything else (no fd is open, no thread runs yet): see `protect_self`.
    if let Err(line) = protect_self() {
        return fail(Failure::new(EXIT_FAILURE, line));
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_exit(e),
    };
    if let Err(line) =
        supervisor::logging::init(cli.log.log_level.as_deref(), cli.log.log_format, cli.log.log_file.as_deref())
    {
        return fail(Failure::new(EXIT_FAILURE, line));
    }
    let result = match &cli.command {
        None if cli.run.audit => supervisor::modes::audit::audit(&cli.run.audit_options()),
        None => supervisor::modes::run::supervise_command(&cli.run.options()),
        Some(Command::Check { files, format, explain: Some(call), arch, caps, .. }) => {
            supervisor::modes::check::explain::explain(
                files,
                &supervisor::modes::check::explain::ExplainOptions {
                    call: call.clone(),
                    arch: arch.clone(),
                    caps: caps.clone(),
                },
                *format,
            )
        }
        Some(Command::Check { files, format, bpf, strict, .. }) => {
            supervisor::modes::check::check(&supervisor::modes::check::CheckOptions {
                files: files.clone(),
                format: *format,
                bpf: *bpf,
                strict: *strict,
            })
        }
        Some(Command::Completions { shell }) => {
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "supervise", &mut script);
            print_bytes(&script)
        }
        Some(Command::Man { dir: Some(dir) }) => {
            supervisor::manual::write_all(Cli::command(), dir).map(|()| 0).map_err(|e| {
                Failure::new(EXIT_FAILURE, format!("cannot write the manual pages to {}: {e}", dir.display()))
            })
        }
        Some(Command::Man { dir: None }) => {
            let mut cmd = Cli::command();
            cmd.build();
            match supervisor::manual::render(&cmd) {
                Ok(page) => print_bytes(&page),
                Err(e) => Err(Failure::new(EXIT_FAILURE, format!("cannot render the manual page: {e}"))),
            }
        }
        Some(Command::Record { output, merge, force, args, addresses, for_runtime, program }) => {
            supervisor::modes::record::record(&supervisor::modes::record::RecordOptions {
                output: output.clone(),
                merge: merge.clone(),
                args: args.clone(),
                addresses: *addresses,
                for_runc: for_runtime.is_some(),
                force: *force,
                program: program.clone(),
            })
        }
        Some(Command::Serve { socket, policy, policy_dir }) => {
            supervisor::modes::serve::serve(&supervisor::modes::serve::ServeOptions {
                socket: socket.clone(),
                policy: policy.clone(),
                policy_dir: policy_dir.clone(),
            })
        }
        Some(Command::Ps { format }) => supervisor::modes::ps::ps(*format),
        Some(Command::Watch { supervisor: pid, format, syscalls, decisions, pids }) => {
            supervisor::modes::decisions::watch(&supervisor::modes::decisions::WatchOptions {
                supervisor: *pid,
                format: *format,
                filter: supervisor::modes::control::protocol::Filter {
                    syscalls: syscalls.clone(),
                    decisions: decisions.clone(),
                    pids: pids.clone(),
                },
            })
        }
    };
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(255)),
        Err(failure) => fail(failure),
    }
}

/// Makes this process non-dumpable, in every mode. The program supervise launches runs as the same user, and the
/// kernel lets a same-user process `ptrace` us, read or write our memory (`process_vm_readv`/`writev`,
/// `/proc/PID/mem`), open our fds through `/proc/PID/fd` or copy them with `pidfd_getfd`: it could take the
/// listener and answer its own notifications. For a non-dumpable process every one of these checks
/// (`ptrace_may_access`) needs CAP_SYS_PTRACE instead (ptrace(2), "Ptrace access mode checking"; proc(5)), and
/// the `/proc/PID` files are owned by root. The launcher inherits the flag across `fork`; `execve` of a readable
/// program makes the program dumpable again, so supervise can still read its memory and `/proc` files.
fn protect_self() -> Result<(), String> {
    if let Err(e) = supervisor::kernel::process::set_undumpable() {
        return Err(format!(
            "cannot make supervise non-dumpable: {}",
            std::io::Error::from_raw_os_error(e.get().into())
        ));
    }
    Ok(())
}

/// Writes generated text to stdout; a closed stdout (`supervise man | head`) is not an error.
fn print_bytes(bytes: &[u8]) -> Result<i32, Failure> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(bytes) {
        Ok(()) => Ok(0),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        Err(e) => Err(Failure::new(EXIT_FAILURE, format!("cannot write to stdout: {e}"))),
    }
}

fn fail(failure: Failure) -> ExitCode {
    for line in &failure.lines {
        // A file or program name may hold a newline or a terminal escape: one error stays one line.
        let line: String =
            line.chars().flat_map(|c| if c.is_control() { c.escape_default().collect() } else { vec![c] }).collect();
        supervisor::logging::eprint_line(&format!("supervise: {line}"));
    }
    ExitCode::from(u8::try_from(failure.code).unwrap_or(255))
}

/// The command a usage error is about, so that the hint points at the right `--help`: `supervise record` when the
/// command line names that subcommand (as its first word that is not an option or an option's value, before `--`).
fn usage_command() -> String {
    let cmd = Cli::command();
    let mut value_next = false;
    for arg in std::env::args_os().skip(1) {
        let Some(arg) = arg.to_str() else { break };
        if arg == "--" {
            break;
        }
        if std::mem::take(&mut value_next) {
            continue;
        }
        if let Some(long) = arg.strip_prefix("--") {
            value_next = !long.contains('=')
                && cmd.get_arguments().any(|a| a.get_long() == Some(long) && a.get_action().takes_values());
            continue;
        }
        if arg.starts_with('-') {
            continue;
        }
        if cmd.get_subcommands().any(|s| s.get_name() == arg) {
            return format!("supervise {arg}");
        }
        break;
    }
    "supervise".into()
}

/// `--help` and `--version` print and exit 0; a usage error is one `supervise:` line and exit 125.
fn clap_exit(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        _ => {
            let text = e.render().to_string();
            // The first line, with the indented lines that complete it ("required arguments were not provided:
            // <PROGRAM>..."), as one line.
            let mut lines = text.lines();
            let mut message = lines.next().unwrap_or("bad usage").trim_start_matches("error: ").to_string();
            for more in lines.take_while(|l| l.starts_with("  ")) {
                message.push(' ');
                message.push_str(more.trim());
            }
            eprintln!("supervise: {message} (see {} --help)", usage_command());
            ExitCode::from(EXIT_FAILURE as u8)
        }
    }
}
