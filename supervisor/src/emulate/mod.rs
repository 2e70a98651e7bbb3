//! Emulation handlers, one syscall family per file. A handler returns `Ok(value)` for the syscall's return value or
//! `Err(errno)`; the notify loop turns that into the kernel response in one place.

pub mod clock;
pub mod mounts;
pub mod path;
