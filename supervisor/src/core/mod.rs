//! The core layer: what happens to one notification.
//!
//! [`notify`] receives it, [`decide`] turns it into a plan, [`facts`] gathers what the matchers need, the handlers
//! ([`clock`], [`path`], [`prompt`]) return outcomes, and [`notify`] alone replies.

pub mod clock;
pub mod decide;
pub mod describe;
pub mod facts;
pub mod notify;
pub mod path;
pub mod prompt;
