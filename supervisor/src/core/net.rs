//! Address rules on `connect`, `bind` and the sends (`sendto`, `sendmsg`, `sendmmsg`, in [`send`]): the facts (the
//! target's socket, its domain and type, the `sockaddr` read from its memory and decoded as its kernel would), and
//! the race-free allow: supervise performs the call itself on its copy of the target's socket (the same open file
//! description, so the target's socket is the one connected, bound or sent on) with the bytes it decided on, as
//! the target (its credentials), and replies with the result. Never CONTINUE, which would let the kernel read the
//! `sockaddr` again after the check.
//!
//! A unix socket path is resolved in the target's view (its root, cwd and credentials, through symlinks, as
//! [`crate::kernel::view::walk`] resolves every path); the decision is on the absolute result, and the call is made
//! on the pinned parent directory (`/proc/self/fd/N/name`), so a path swapped after the check is not followed.

mod abi;
mod send;

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;

use proto::net::{self, address_arg, Address, AddressArg, SockOp, SockType, Socket, UnixAddr};
use proto::Errno;
use tracing::warn;

use crate::core::Outcome;
use crate::kernel::listener::{Listener, Notification};
use crate::kernel::net::{bind, connect, domain_and_type, is_nonblocking};
use crate::kernel::pending::Pending;
use crate::kernel::view::identity::{Assumed, Place};
use crate::kernel::view::{walk, Lookup, Start, View};

pub use send::PAYLOAD_CAP;

/// The syscalls whose address rules supervise enforces (performs on allow).
pub const ENFORCED: [&str; 5] = ["connect", "bind", "sendto", "sendmsg", "sendmmsg"];

/// An address call, ready to be performed on what was decided on.
#[derive(Debug)]
pub struct NetCall {
    /// supervise's copy of the target's socket.
    socket: OwnedFd,
    /// `None`: supervise cannot act as the target (another user namespace): an allow is EACCES, if `as_target`.
    view: Option<View>,
    /// Whether the call is made with the target's credentials. An IP `connect`, and an IP send without control
    /// data, check none of the caller's (routing and netfilter look at the socket's owner, the target), so they are
    /// made as supervise, with no view read.
    as_target: bool,
    what: What,
}

#[derive(Debug)]
enum What {
    /// `connect` or `bind`.
    Address {
        op: SockOp,
        /// The `sockaddr` to perform the call with: the verified bytes, or for a unix path, the pinned place.
        sockaddr: Result<Vec<u8>, Errno>,
        /// Keeps the unix path's parent directory open while `sockaddr` names it.
        _parent: Option<OwnedFd>,
    },
    Send(send::SendCall),
}

impl NetCall {
    /// The destinations after the first (the messages of a `sendmmsg`), matched with it.
    pub fn more_addresses(&self) -> Vec<Address> {
        match &self.what {
            What::Send(call) => call.addresses().into_iter().skip(1).collect(),
            What::Address { .. } => Vec::new(),
        }
    }
}

/// The target's view, to act as it: `None` when supervise cannot (another user namespace).
fn view_of(pid: u32) -> Result<Option<View>, Outcome> {
    match View::of(pid, false) {
        Ok(Some(view)) => Ok(Some(view)),
        Ok(None) => Err(Outcome::Gone),
        Err(_) => Ok(None),
    }
}

/// A unix path as written, made absolute against the target's cwd without looking at the filesystem.
fn lexical(pid: u32, path: &[u8]) -> Vec<u8> {
    let real = crate::core::describe::resolve(pid, libc::AT_FDCWD, std::path::Path::new(bytes_os(path)));
    real.into_os_string().into_encoded_bytes()
}

/// The socket address of `syscall` (for a `sendmmsg`, the first message's destination; the others are in
/// [`NetCall::more_addresses`]) and its socket's type, and the call to perform on allow.
///
/// # Errors
/// The kernel's errno, in its order, before any rule: for connect and bind EBADF (no such fd), EINVAL (`addrlen`
/// negative or above 128), EFAULT (unreadable), ENOTSOCK, then the address's own errors (EINVAL, EAFNOSUPPORT);
/// for the sends, see [`send::gather`]; or [`Outcome::Gone`].
pub fn gather(pending: Pending<'_>, syscall: &str) -> Result<(Address, SockType, NetCall), Outcome> {
    let n = pending.n;
    let arg = address_arg(syscall).filter(|_| ENFORCED.contains(&syscall));
    let (addr, len, op) = match arg {
        Some(AddressArg::Direct { addr, len, op }) if op != SockOp::Send => (addr, len, op),
        Some(arg) if arg != AddressArg::Accepted => {
            let send::Gathered { socket, ty, view, as_target, call } = send::gather(pending, arg)?;
            let address = call.addresses().into_iter().next().unwrap_or(Address::Unspec);
            return Ok((address, ty, NetCall { socket, view, as_target, what: What::Send(call) }));
        }
        _ => {
            // Refused when the policy loads; never decided on an address supervise did not read.
            warn!(pid = n.pid, syscall, "address rule on a syscall whose address is not read: denied");
            return Err(Outcome::Error(Errno::EACCES));
        }
    };
    let socket = pending.fetch_fd(n.args[0] as i32)?;
    let len = net::addrlen(n.args[len]).map_err(Outcome::Error)?;
    let bytes = if len == 0 { Vec::new() } else { pending.read(n.args[addr], len)? };
    let (domain, ty) = domain_and_type(socket.as_fd()).map_err(Outcome::Error)?;
    let ty = SockType::from_raw(ty);
    let address = net::decode(&bytes, Socket { domain, ty }, op).map_err(Outcome::Error)?;
    let as_target = !(op == SockOp::Connect && address.ip().is_some());
    let view = if as_target { view_of(n.pid)? } else { None };
    let (address, sockaddr, parent) = match (&address, &view) {
        (Address::Unix(UnixAddr::Path(path)), Some(view)) => {
            let (real, place) = unix_path(view, path, op);
            (Address::Unix(UnixAddr::Path(real)), place.as_ref().map(|(s, _)| s.clone()).map_err(|e| *e), place.ok())
        }
        (Address::Unix(UnixAddr::Path(path)), None) => {
            (Address::Unix(UnixAddr::Path(lexical(n.pid, path))), Err(Errno::EACCES), None)
        }
        _ => (address, Ok(bytes), None),
    };
    pending.check()?;
    let what = What::Address { op, sockaddr, _parent: parent.map(|(_, fd)| fd) };
    let call = NetCall { socket, view, as_target, what };
    Ok((address, ty, call))
}

fn bytes_os(b: &[u8]) -> &std::ffi::OsStr {
    std::os::unix::ffi::OsStrExt::from_bytes(b)
}

/// A unix socket path resolved as the target: the absolute path to decide on, and the `sockaddr` naming the pinned
/// place (with the directory that keeps it), or the kernel's errno for the path.
#[allow(clippy::type_complexity)]
fn unix_path(view: &View, path: &[u8], op: SockOp) -> (Vec<u8>, Result<(Vec<u8>, OwnedFd), Errno>) {
    let lexical = || lexical(view.tid, path);
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

/// A call to run on a thread of its own (a blocking connect or send), which replies when it returns.
pub struct Deferred {
    call: NetCall,
    listener: Arc<Listener>,
    n: Notification,
}

impl Deferred {
    /// Performs the call as the target on this thread (not a runtime thread), waiting as the target would.
    pub fn run(mut self) -> Outcome {
        run(&mut self.call, Pending::new(&self.listener, &self.n), true).unwrap_or(Outcome::Error(Errno::EACCES))
    }
}

/// Performs an allowed call: here when it cannot wait (bind, a non-blocking connect, a send that needs no wait)
/// and `here`; otherwise [`Deferred`] to a thread of its own, so that a blocking call holds up no other
/// notification. Not `here` (the answer to a question), a `sendmmsg` sends only its leading messages to the
/// destination the question showed.
pub fn perform(
    listener: &Arc<Listener>,
    n: &Notification,
    mut call: NetCall,
    here: bool,
) -> Result<Outcome, Box<Deferred>> {
    let waits = match &mut call.what {
        What::Address { op, .. } => *op == SockOp::Connect && !is_nonblocking(call.socket.as_fd()),
        What::Send(send) => {
            if !here {
                send.first_destination_only();
            }
            send.waits_at_once()
        }
    };
    if here && !waits {
        // A send tries without waiting first; what must wait goes on on a thread.
        if let Some(outcome) = run(&mut call, Pending::new(listener, n), false) {
            return Ok(outcome);
        }
    }
    Err(Box::new(Deferred { call, listener: listener.clone(), n: *n }))
}

/// Performs the call as the target; `None`: a send must wait for the rest (see [`send::SendCall::run`]).
fn run(call: &mut NetCall, pending: Pending<'_>, wait: bool) -> Option<Outcome> {
    // The target's credentials (a port below 1024, a unix socket's permissions, control messages that need a
    // capability), in supervise's root: the unix place is named through our own /proc/self/fd.
    let _as_target = match (call.as_target, &call.view) {
        (false, _) => None,
        (true, None) => {
            warn!("the target has another user namespace: allowed address call refused (EACCES)");
            return Some(Outcome::Error(Errno::EACCES));
        }
        (true, Some(view)) => match Assumed::take(&view.identity, Place::default()) {
            Ok(guard) => Some(guard),
            Err(errno) => return Some(Outcome::Error(errno)),
        },
    };
    let (op, sockaddr) = match &mut call.what {
        What::Send(send) => return send.run(call.socket.as_fd(), pending, wait),
        What::Address { op, sockaddr, .. } => (*op, sockaddr),
    };
    let sockaddr = match sockaddr {
        Ok(bytes) => bytes,
        Err(errno) => return Some(Outcome::Error(*errno)),
    };
    let result = match op {
        SockOp::Bind => bind(call.socket.as_fd(), sockaddr),
        _ => connect(call.socket.as_fd(), sockaddr),
    };
    Some(match result {
        Ok(()) => Outcome::Value(0),
        Err(errno) => Outcome::Error(errno),
    })
}
