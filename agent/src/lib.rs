//! `agent`: the launcher side of supervise. Synchronous, no tokio.
//!
//! - [`filter`]: a resolved [`proto::Policy`] → libseccomp context → BPF program bytes ([`filter::Bpf`]), built in
//!   the parent before `fork`.
//! - [`launch`]: fork, `NO_NEW_PRIVS`, load the ready BPF with `NEW_LISTENER`, hand the listener fd to the
//!   supervisor over a unix socket with `SCM_RIGHTS` (from an unfiltered helper that shares the fd table), execve.

pub mod filter;
pub mod launch;
