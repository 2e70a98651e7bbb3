//! `agent`: the launcher side of supervise. Synchronous, no tokio.
//!
//! - [`filter`]: a resolved [`proto::Policy`] → libseccomp context → BPF program bytes ([`filter::Bpf`]), built in
//!   the parent before `fork`.
//! - [`cache`]: compiled filters kept under `$XDG_CACHE_HOME/supervise`, keyed by the resolved policy; only the
//!   effective user's own entries are used.
//! - [`launch`]: fork, `NO_NEW_PRIVS`, load the ready BPF with `NEW_LISTENER`, hand the listener fd to the
//!   supervisor over a unix socket with `SCM_RIGHTS` (from an unfiltered helper that shares the fd table), execve.
//! - [`seccomp_abi`]: the kernel's seccomp definitions (filter flags, notification structures, ioctls), shared with
//!   supervise's listener and the benchmarks.

pub mod cache;
pub mod caps;
pub mod filter;
pub mod launch;
pub mod seccomp_abi;
