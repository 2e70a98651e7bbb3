//! Logging set-up: `tracing` to stderr or `--log-file`, as text or JSON, at `--log-level` (or `RUST_LOG`).
//! Logs never go to the program's stdout.

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global subscriber. `level` wins over `RUST_LOG`; the default is `warn`.
///
/// # Errors
/// A message if the level does not parse or the log file cannot be opened.
pub fn init(level: Option<&str>, format: LogFormat, file: Option<&Path>) -> Result<(), String> {
    let filter = match level {
        Some(level) => {
            // A bare word is read by tracing as a target name, so `--log-level loud` would silently log nothing.
            const LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];
            if !level.contains(['=', ',']) && !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
                return Err(format!(
                    "--log-level {level:?}: expected one of {} or a filter such as info,supervise=debug",
                    LEVELS.join(", ")
                ));
            }
            EnvFilter::try_new(level).map_err(|e| format!("--log-level {level:?}: {e}"))?
        }
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let result = match file {
        Some(path) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("--log-file {}: {e}", path.display()))?;
            let builder = builder.with_ansi(false).with_writer(Mutex::new(file));
            match format {
                LogFormat::Text => builder.try_init(),
                LogFormat::Json => builder.json().try_init(),
            }
        }
        None => {
            let builder = builder.with_writer(std::io::stderr);
            match format {
                LogFormat::Text => builder.try_init(),
                LogFormat::Json => builder.json().try_init(),
            }
        }
    };
    result.map_err(|e| format!("cannot set up logging: {e}"))
}
