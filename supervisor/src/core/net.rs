//! Address rules on `connect` and `bind`: the facts (the target's socket, its domain and type, the `sockaddr` read
//! from its memory and decoded as its kernel would), and the race-free allow: supervise performs the call itself on
//! its copy of the target's socket (the same open file description, so the target's socket is the one connected or
//! bound) with the bytes it decided on, as the target (its credentials), and replies with the result. Never
//! CONTINUE, which would let the kernel read the `sockaddr` again after the check.
//!
//! A unix socket path is resolved in the target's view (its root, cwd and credentials, through symlinks, as
//! [`crate::kernel::view::walk`] resolves every path); the decision is on the absolute result, and the call is made
//! on the pinned parent directory (`/proc/self/fd/N/name`), so a path swapped after the check is not followed.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use proto::net::{self, address_arg, Address, AddressArg, SockOp, SockType, Socket, UnixAddr};
use proto::Errno;
use tracing::warn;

use crate::core::Outcome;
use crate::kernel::net::{bind, connect, domain_and_type, is_nonblocking};
use crate::kernel::pending::Pending;
use crate::kernel::view::identity::{Assumed, Place};
use crate::kernel::view::{walk, Lookup, Start, View};

/// The syscalls whose address rules supervise enforces (performs on allow).
pub const ENFORCED: [&str; 2] = ["connect", "bind"];

/// An address call, ready to be performed on what was decided on.
#[derive(Debug)]
pub struct NetCall {
    /// supervise's copy of the target's socket.
    socket: OwnedFd,
    op: SockOp,
    /// The `sockaddr` to perform the call with: the verified bytes, or for a unix path, the pinned place.
    sockaddr: Result<Vec<u8>, Errno>,
    /// Keeps the unix path's parent directory open while `sockaddr` names it.
    _parent: Option<OwnedFd>,
    /// `None`: supervise cannot act as the target (another user namespace): an allow is EACCES.
    view: Option<View>,
}

/// The socket address of `syscall` (connect or bind) and its socket's type, and the call to perform on allow.
///
/// # Errors
/// The kernel's errno, in its order, before any rule: EBADF (no such fd), EINVAL (`addrlen` negative or above
/// 128), EFAULT (unreadable), ENOTSOCK, then the address's own errors (EINVAL, EAFNOSUPPORT); or
/// [`Outcome::Gone`].
pub fn gather(pending: Pending<'_>, syscall: &str) -> Result<(Address, SockType, NetCall), Outcome> {
    let n = pending.n;
    let Some(AddressArg::Direct { addr, len, op }) = address_arg(syscall).filter(|_| ENFORCED.contains(&syscall))
    else {
        // Refused when the policy loads; never decided on an address supervise did not read.
        warn!(pid = n.pid, syscall, "address rule on a syscall whose address is not read: denied");
        return Err(Outcome::Error(Errno::EACCES));
    };
    let socket = pending.fetch_fd(n.args[0] as i32)?;
    let len = net::addrlen(n.args[len]).map_err(Outcome::Error)?;
    let bytes = if len == 0 { Vec::new() } else { pending.read(n.args[addr], len)? };
    let (domain, ty) = domain_and_type(socket.as_fd()).map_err(Outcome::Error)?;
    let ty = SockType::from_raw(ty);
    let address = net::decode(&bytes, Socket { domain, ty }, op).map_err(Outcome::Error)?;
    let view = match View::of(n.pid, false) {
        Ok(Some(view)) => Some(view),
        Ok(None) => return Err(Outcome::Gone),
        Err(_) => None,
    };
    let (address, sockaddr, parent) = match (&address, &view) {
        (Address::Unix(UnixAddr::Path(path)), Some(view)) => {
            let (real, place) = unix_path(view, path, op);
            (Address::Unix(UnixAddr::Path(real)), place.as_ref().map(|(s, _)| s.clone()).map_err(|e| *e), place.ok())
        }
        (Address::Unix(UnixAddr::Path(path)), None) => {
            let real = crate::core::describe::resolve(n.pid, libc::AT_FDCWD, std::path::Path::new(bytes_os(path)));
            (Address::Unix(UnixAddr::Path(real.into_os_string().into_encoded_bytes())), Err(Errno::EACCES), None)
        }
        _ => (address, Ok(bytes), None),
    };
    pending.check()?;
    let call = NetCall { socket, op, sockaddr, _parent: parent.map(|(_, fd)| fd), view };
    Ok((address, ty, call))
}

fn bytes_os(b: &[u8]) -> &std::ffi::OsStr {
    std::os::unix::ffi::OsStrExt::from_bytes(b)
}

/// A unix socket path resolved as the target: the absolute path to decide on, and the `sockaddr` naming the pinned
/// place (with the directory that keeps it), or the kernel's errno for the path.
#[allow(clippy::type_complexity)]
fn unix_path(view: &View, path: &[u8], op: SockOp) -> (Vec<u8>, Result<(Vec<u8>, OwnedFd), Errno>) {
    let lexical = || {
        let real = crate::core::describe::resolve(view.tid, libc::AT_FDCWD, std::path::Path::new(bytes_os(path)));
        real.into_os_string().into_encoded_bytes()
    };
    let start = match Start::of(view, path, libc::AT_FDCWD, 0) {
        Ok(start) => start,
        Err(e) => return (lexical(), Err(e)),
    };
    let resolved = match view.act() {
        Ok(_as_target) => walk(
            view,
            Lookup { path, start, follow: op != SockOp::Bind, slash_follows: false, resolve: 0, step_dots: false },
        ),
        Err(e) => Err(e),
    };
    match resolved {
        Ok(r) => {
            let mut sockaddr = net::AF_UNIX.to_ne_bytes().to_vec();
            sockaddr.extend(format!("/proc/self/fd/{}/", r.parent.as_raw_fd()).as_bytes());
            sockaddr.extend(&r.last);
            sockaddr.push(0);
            // sun_path holds 108 bytes; the pinned name is longer than the one written.
            let placed = if sockaddr.len() > 110 {
                Err(crate::kernel::view::errno(libc::ENAMETOOLONG))
            } else {
                Ok((sockaddr, r.parent))
            };
            (r.real, placed)
        }
        Err(e) => (lexical(), Err(e)),
    }
}

/// A call to run on a thread of its own (a blocking connect), which replies when it returns.
pub struct Deferred(NetCall);

impl Deferred {
    /// Performs the call as the target on this thread (not a runtime thread).
    pub fn run(self) -> Outcome {
        run(&self.0)
    }
}

/// Performs an allowed call: here when it cannot wait (bind, a non-blocking connect) and `here`; otherwise
/// [`Deferred`] to a thread of its own, so that a blocking connect holds up no other notification.
pub fn perform(call: NetCall, here: bool) -> Result<Outcome, Box<Deferred>> {
    let waits = call.op == SockOp::Connect && !is_nonblocking(call.socket.as_fd());
    if here && !waits {
        return Ok(run(&call));
    }
    Err(Box::new(Deferred(call)))
}

fn run(call: &NetCall) -> Outcome {
    let Some(view) = &call.view else {
        warn!("the target has another user namespace: allowed address call refused (EACCES)");
        return Outcome::Error(Errno::EACCES);
    };
    let sockaddr = match &call.sockaddr {
        Ok(bytes) => bytes,
        Err(errno) => return Outcome::Error(*errno),
    };
    // The target's credentials (a port below 1024, a unix socket's permissions), in supervise's root: the unix
    // place is named through our own /proc/self/fd.
    let _as_target = match Assumed::take(&view.identity, Place::default()) {
        Ok(guard) => guard,
        Err(errno) => return Outcome::Error(errno),
    };
    let result = match call.op {
        SockOp::Bind => bind(call.socket.as_fd(), sockaddr),
        _ => connect(call.socket.as_fd(), sockaddr),
    };
    match result {
        Ok(()) => Outcome::Value(0),
        Err(errno) => Outcome::Error(errno),
    }
}
