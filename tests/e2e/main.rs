//! End-to-end tests: the real `supervise` binary, real filters on real processes, the `probe` helper and real
//! programs (`date`, `mkdir`, `sh`, `python3`). One integration-test binary, one module per topic; shared helpers
//! (binaries, timeouts, users, capabilities) in `support`.
//!
//! They need the release `supervise` next to `probe` (`./x setup` builds both). Tests that switch to uid 65534 need
//! root and say so when skipped.

mod actions;
mod attacks;
mod audit;
mod cache;
mod capabilities;
mod cli;
mod clock;
mod control;
mod deputy;
mod differential;
mod exit_codes;
mod identity;
mod moby_default;
mod network;
mod paths;
mod policies;
mod prompt;
mod record_check;
mod reliability;
mod repository;
mod serve;
mod signals;
mod support;
mod tmux;
mod unprivileged;
