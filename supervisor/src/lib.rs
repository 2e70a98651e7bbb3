//! `supervisor`: the `supervise` binary's library, in three layers; imports only go downward.
//!
//! - [`kernel`]: synchronous, and the only place for raw ioctls and `unsafe` (every other module denies
//!   `unsafe_code`): the listener, target memory, the target's `/proc`, its view of the filesystem (acting as it),
//!   the syscall tables, and supervise's own process, terminal, signal handler and sockets.
//! - [`core`]: one notification, down once and back once: decide a plan, gather facts, carry it out (clock and
//!   path handlers, prompts), and one sender of replies ([`core::notify`]).
//! - [`modes`]: `supervise -- prog`, `record`, `check`, `serve`, over a shared supervised run.
//!
//! Beside them: [`civil`] (UTC time as text), [`cli`] (the command line, above the modes), [`manual`] (man pages from it), [`logging`].

#[deny(unsafe_code)]
pub mod civil;
#[deny(unsafe_code)]
pub mod cli;
#[deny(unsafe_code)]
pub mod core;
pub mod kernel;
#[deny(unsafe_code)]
pub mod logging;
#[deny(unsafe_code)]
pub mod manual;
#[deny(unsafe_code)]
pub mod modes;
