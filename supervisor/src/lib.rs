//! `supervisor`: the `supervise` binary's library.
//!
//! - [`cli`]: the command line (clap), [`logging`]: tracing set-up, [`policy_file`]: reading a policy file with
//!   errors that name the file and the place.
//! - [`run`]: `supervise -- prog`: compile, launch, supervise, exit with the program's status.
//! - [`seccomp`]: the only module that touches the listener fd (RECV, SEND, ID_VALID, ADDFD, SET_FLAGS).
//! - [`memory`]: the only module that reads or writes target memory; reads come back [`memory::Unverified`].
//! - [`notify`]: the notify loop, [`decide`]: the pure policy evaluation, [`syscalls`]: (arch, nr) ↔ name.
//! - [`emulate`]: emulation handlers, one syscall family per file.
//! - [`view`]: the target's view (root, namespaces, cwd, credentials, `/proc/self`): resolving and acting as it.

pub mod capabilities;
pub mod check;
pub mod cli;
pub mod decide;
pub mod describe;
pub mod emulate;
pub mod facts;
pub mod logging;
pub mod manual;
pub mod memory;
pub mod notify;
pub mod policy_file;
pub mod prompt;
pub mod record;
pub mod run;
pub mod seccomp;
pub mod serve;
pub mod signals;
pub mod syscalls;
pub mod view;
