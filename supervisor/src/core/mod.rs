//! The core layer: what happens to one notification.
//!
//! [`notify`] receives it, [`decide`] turns it into a plan, [`facts`] gathers what the matchers need, the handlers
//! ([`clock`], [`path`], [`net`], [`prompt`]) return outcomes, and [`notify`] alone replies;
//! [`observe`] is how it tells the layers above of each decision (counters, live streams) without knowing them.

pub mod clock;
pub mod decide;
pub mod describe;
pub mod facts;
pub mod net;
pub mod notify;
pub mod observe;
pub mod path;
pub mod prompt;
pub mod workers;

use std::os::fd::OwnedFd;

use proto::Errno;

use crate::kernel::Fail;

/// What one notification comes to: the handlers return it, and [`notify::reply`] alone sends it.
#[derive(Debug)]
pub enum Outcome {
    /// The kernel performs the call (CONTINUE).
    Continue,
    /// The call returns this value.
    Value(i64),
    /// The call fails with this errno.
    Error(Errno),
    /// The call returns this file, installed in the caller (ADDFD), close-on-exec as the caller asked.
    Fd { fd: OwnedFd, cloexec: bool },
    /// The caller is gone: nothing to send.
    Gone,
}

impl From<Fail> for Outcome {
    fn from(fail: Fail) -> Outcome {
        match fail {
            Fail::Errno(errno) => Outcome::Error(errno),
            Fail::Gone => Outcome::Gone,
        }
    }
}

impl From<Result<i64, Fail>> for Outcome {
    fn from(result: Result<i64, Fail>) -> Outcome {
        result.map_or_else(Outcome::from, Outcome::Value)
    }
}
