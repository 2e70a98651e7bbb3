//! supervise's own failures and its exit statuses, shared by every mode and `main`.
//!
//! As with podman, `env` and `chroot`: a supervised program's own status, or 128+N if signal N killed it;
//! [`EXIT_FAILURE`] when supervise itself fails; [`EXIT_CANNOT_EXECUTE`] when the program cannot be executed
//! (including "execve blocked by the policy"); [`EXIT_NOT_FOUND`] when it is not found. `check` exits with
//! [`EXIT_INVALID`] when a policy is invalid.

/// supervise's own failure: an exit status and the lines to print (each gets the `supervise: ` prefix).
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub lines: Vec<String>,
}

impl Failure {
    pub fn new(code: i32, line: impl Into<String>) -> Failure {
        Failure { code, lines: vec![line.into()] }
    }
}

/// `check`: some file is invalid (with `--strict`: or has warnings).
pub const EXIT_INVALID: i32 = 1;
/// supervise failed: bad options, bad policy, the filter cannot be installed.
pub const EXIT_FAILURE: i32 = 125;
/// The program cannot be executed.
pub const EXIT_CANNOT_EXECUTE: i32 = 126;
/// The program was not found.
pub const EXIT_NOT_FOUND: i32 = 127;
