//! The modes, and what they share. A mode never imports another mode.
//!
//! - Modes: `supervise -- PROGRAM` ([`run`]), `supervise --audit -- PROGRAM` ([`audit`]), [`record`], [`check`],
//!   [`serve`], [`ps`], `watch` ([`decisions`]).
//! - Shared: [`exit`] (supervise's failures and exit statuses), [`supervised`] (launch, signals, reaping: `run`
//!   and `record`), [`policy_file`] (reading and resolving a policy), [`capabilities`] (Docker's capability set and
//!   names), [`runc`] (what runc calls after loading a filter), [`syscall_names`] (libseccomp's names, suggestions),
//!   [`verdict`] (which rule decides a call: `--audit`, `check --explain`), [`watch`] (`--args`), [`shell_words`],
//!   [`control`] (the control socket of `run` and `serve`, and its client for `ps` and `watch`).

pub mod audit;
pub mod capabilities;
pub mod check;
pub mod control;
pub mod decisions;
pub mod exit;
pub mod policy_file;
pub mod ps;
pub mod record;
pub mod run;
pub mod runc;
pub mod serve;
pub mod shell_words;
pub mod supervised;
pub mod syscall_names;
pub mod verdict;
pub mod watch;
