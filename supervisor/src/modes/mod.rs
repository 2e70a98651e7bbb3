//! The modes, and what they share. A mode never imports another mode.
//!
//! - Modes: `supervise -- PROGRAM` ([`run`]), [`record`], [`check`], [`serve`].
//! - Shared: [`exit`] (supervise's failures and exit statuses), [`supervised`] (launch, signals, reaping: `run`
//!   and `record`), [`policy_file`] (reading and resolving a policy), [`capabilities`] (Docker's capability set and
//!   names), [`runc`] (what runc calls after loading a filter), [`syscall_names`] (libseccomp's names, suggestions).

pub mod capabilities;
pub mod check;
pub mod exit;
pub mod policy_file;
pub mod record;
pub mod run;
pub mod runc;
pub mod serve;
pub mod supervised;
pub mod syscall_names;
