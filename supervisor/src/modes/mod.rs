//! The modes: `supervise -- prog` ([`run`]), [`record`], [`check`], [`serve`].

pub mod capabilities;
pub mod check;
pub mod policy_file;
pub mod record;
pub mod run;
pub mod serve;
pub mod signals;
