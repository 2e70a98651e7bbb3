//! Gathering [`Facts`] for matchers: the target's executable (identified as a file: [`crate::kernel::exe`]), real
//! uid/gid, its path arguments, read from its memory and resolved in its view ([`crate::kernel::view`]) as its
//! kernel would resolve them, and the socket address of `connect`/`bind` ([`crate::core::net`]). Every memory read is
//! verified with `NOTIF_ID_VALID`, and so is the set of `/proc` reads as a whole, so that nothing read from a reused
//! pid is ever used.
//!
//! For paths, gathering also pins what the kernel would act on ([`PathCall`]): an allowed emulated call acts on
//! exactly what was decided on, with no second walk.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use proto::paths::{follows, path_args, slash_follows};
use proto::Errno;

use crate::core::decide::{Facts, Needs};
use crate::core::describe::resolve;
use crate::core::net::NetCall;
use crate::core::path::{is_emulated, Op};
use crate::core::Outcome;
use crate::kernel::pending::Pending;
use crate::kernel::view::walk::at_fd;
use crate::kernel::view::{walk, Lookup, Resolved, Start, View};

/// The longest path the kernel reads from a program, with its NUL (PATH_MAX): 4095 bytes of text.
pub const PATH_MAX: usize = 4096;

/// The path arguments of one call, resolved in the target's view.
#[derive(Debug)]
pub struct PathCall {
    /// `None`: supervise cannot act as the target (another root or namespace); every resolution is then EACCES.
    pub view: Option<View>,
    /// For an emulated syscall, what to do.
    pub op: Option<Op>,
    /// Each path, resolved; or the errno the kernel gives for it.
    pub resolved: Vec<Result<Resolved, Errno>>,
}

impl PathCall {
    /// The first path that the kernel would refuse, and its errno.
    pub fn failure(&self) -> Option<Errno> {
        self.resolved.iter().find_map(|r| r.as_ref().err().copied())
    }
}

/// What gathering pinned for an allowed call to act on.
#[derive(Debug, Default)]
pub struct Calls {
    /// The path arguments, resolved (when a path matcher looked at them).
    pub path: Option<PathCall>,
    /// The socket and its verified address (when an address matcher looked at them).
    pub net: Option<NetCall>,
}

/// Gathers what `needs` asks for.
///
/// # Errors
/// The outcome of a call that ends before anything is decided: [`Outcome::Gone`] if the notification became
/// invalid, [`Outcome::Error`] if the kernel would fail it first (EFAULT, ENAMETOOLONG, EINVAL for bad flags,
/// EACCES for a target supervise cannot act for), [`Outcome::Value`] if the kernel returns without looking at any
/// path.
pub fn gather(pending: Pending<'_>, syscall: &str, needs: Needs) -> Result<(Facts, Calls), Outcome> {
    let mut facts = Facts::default();
    let mut calls = Calls::default();
    if needs.paths {
        let (paths, resolved) = paths(pending, syscall)?;
        facts.paths = Some(paths);
        calls.path = Some(resolved);
    }
    if needs.net {
        let (address, ty, call) = crate::core::net::gather(pending, syscall)?;
        facts.address = Some(address);
        facts.socket_type = Some(ty);
        facts.more_addresses = call.more_addresses();
        calls.net = Some(call);
    }
    let pid = pending.n.pid;
    if needs.exe {
        // The running file, looked up in supervise's view: a name alone can be borrowed (kernel::exe).
        facts.exe = crate::kernel::exe::identify_logged(pid);
    }
    if needs.creds {
        if let Some(c) = crate::kernel::view::identity::read(pid) {
            facts.uid = Some(c.uid);
            facts.gid = Some(c.gid);
        }
    }
    // The /proc reads above name the pid, which could have been reused if the target died meanwhile.
    pending.check()?;
    Ok((facts, calls))
}

/// Reads and resolves every path argument of `syscall`: the real paths to decide on, and the pinned resolution.
fn paths(pending: Pending<'_>, syscall: &str) -> Result<(Vec<Vec<u8>>, PathCall), Outcome> {
    let n = pending.n;
    // The kernel checks flags before it reads a path: so do we.
    let op = if is_emulated(syscall) {
        match Op::decode(pending, syscall)? {
            Op::Nothing => return Err(Outcome::Value(0)),
            op => Some(op),
        }
    } else {
        None
    };
    let args = path_args(syscall);
    // Memory first, with supervise's credentials (reading it needs them).
    let mut texts = Vec::with_capacity(args.len());
    for arg in args {
        let addr = n.args[arg.path];
        if addr == 0 && arg.nullable {
            // A null path names the dirfd itself (utimensat); with AT_FDCWD there is nothing to name.
            let Some(dirfd) = arg.dirfd.map(|d| n.args[d] as i32).filter(|&d| d != libc::AT_FDCWD) else {
                return Err(Outcome::Error(Errno::EFAULT));
            };
            // ... and an fd opened O_PATH is no file to act on there (the kernel's fdget refuses it).
            if crate::kernel::view::fd_is_o_path(n.pid, dirfd) {
                return Err(Outcome::Error(crate::kernel::view::errno(libc::EBADF)));
            }
            texts.push(Vec::new());
            continue;
        }
        let bytes = pending.read_cstring(addr, PATH_MAX)?;
        if bytes.is_empty() && !arg.empty.allowed(&n.args) {
            return Err(Outcome::Error(Errno::ENOENT));
        }
        texts.push(bytes);
    }
    let creates = op.as_ref().is_some_and(Op::creates);
    let view = match View::of(n.pid, creates) {
        Ok(Some(view)) => view,
        Ok(None) => return Err(Outcome::Gone),
        Err(errno) => {
            // Another root or namespace: decide on the paths as written (a deny still applies), act on none.
            let real = args
                .iter()
                .zip(&texts)
                .map(|(arg, text)| {
                    resolve_lexically(n.pid, arg.dirfd.map_or(libc::AT_FDCWD, |d| n.args[d] as i32), text)
                })
                .collect();
            let resolved = args.iter().map(|_| Err(errno)).collect();
            return Ok((real, PathCall { view: None, op, resolved }));
        }
    };
    let resolve = op.as_ref().map_or(0, Op::resolve);
    // The start directories (the target's cwd or dirfds) are opened with supervise's credentials too.
    let mut starts = Vec::with_capacity(args.len());
    for (arg, text) in args.iter().zip(&texts) {
        let dirfd = arg.dirfd.map_or(libc::AT_FDCWD, |d| n.args[d] as i32);
        let start =
            if text.is_empty() { Start::of(&view, b".", dirfd, 0) } else { Start::of(&view, text, dirfd, resolve) };
        // A bad dirfd fails the call before any path means anything (EBADF, ENOTDIR comes later from the walk).
        starts.push((dirfd, start.map_err(Outcome::Error)?));
    }
    let _as_target = view.act().map_err(Outcome::Error)?;
    let mut real = Vec::with_capacity(args.len());
    let mut resolved = Vec::with_capacity(args.len());
    for ((arg, text), (dirfd, start)) in args.iter().zip(&texts).zip(starts) {
        if text.is_empty() {
            // AT_EMPTY_PATH or a null path: the call acts on the dirfd itself.
            let result = match start {
                Start::Dir(fd) => at_fd(fd),
                Start::Root => Err(Errno::ENOENT),
            };
            real.push(result.as_ref().map_or_else(|_| resolve_lexically(n.pid, dirfd, b"."), |r| r.real.clone()));
            resolved.push(result);
            continue;
        }
        let lookup = Lookup {
            path: text,
            start,
            follow: follows(arg.follow, &n.args, op.as_ref().map_or(0, Op::open_flags)),
            slash_follows: slash_follows(arg.follow),
            resolve,
            step_dots: op.as_ref().is_some_and(Op::is_open),
        };
        let result = walk(&view, lookup);
        match &result {
            Ok(r) => real.push(r.real.clone()),
            // The kernel fails the call; decide on where it points (a deny rule still wins over the errno).
            Err(_) => real.push(resolve_lexically(n.pid, dirfd, text)),
        }
        resolved.push(result);
    }
    Ok((real, PathCall { view: Some(view), op, resolved }))
}

/// The path normalised without looking at the filesystem: what a failed resolution is decided on.
fn resolve_lexically(pid: u32, dirfd: i32, text: &[u8]) -> Vec<u8> {
    resolve(pid, dirfd, Path::new(OsStr::from_bytes(text))).into_os_string().into_encoded_bytes()
}
