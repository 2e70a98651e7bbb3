//! Registering an fd of ours with the tokio runtime's reactor, which tokio leaves `unsafe` because the reactor
//! needs the fd to stay open and the same while registered: here only for types that own their fd.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// A file or fd the runtime's reactor can own: its raw fd stays open and the same until it is dropped.
pub trait Owned: AsRawFd + AsFd {}
impl Owned for File {}
impl Owned for OwnedFd {}

/// Registers `inner` with the current runtime's reactor for `interest`. Must be called inside the runtime.
///
/// # Errors
/// The reactor's error.
pub fn register<T: Owned>(inner: T, interest: Interest) -> io::Result<AsyncFd<T>> {
    // SAFETY: `T` is a `File` or an `OwnedFd`, which own their fd: it stays open and refers to the same file for as
    // long as the AsyncFd owns `inner`, and `as_raw_fd` always returns it.
    unsafe { AsyncFd::register_with_interest(inner, interest) }.map_err(io::Error::from)
}
