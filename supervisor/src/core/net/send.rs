//! Address rules on sends (`sendto`, `sendmsg`, `sendmmsg`): each message's destination read from the target once
//! and decoded as its kernel would (a datagram socket's destination; a stream socket's peer, where the kernel
//! ignores the address; the destination of a TCP Fast Open, which connects), its payload and control data copied
//! from the target, and the allowed messages sent by supervise on its copy of the target's socket with exactly
//! those bytes. Never CONTINUE: the kernel would read the `sockaddr` again after the check.
//!
//! The kernel's errnos come in the kernel's order ([`gather`]); what supervise cannot read it hands to the kernel
//! as unreadable memory of its own (a `PROT_NONE` page), so that the kernel faults where it would have in the
//! target. Payloads are copied up to [`PAYLOAD_CAP`] bytes a call: a stream send above it sends its first part
//! (a partial send, legal), a datagram above it fails with EMSGSIZE. SCM_RIGHTS fds are the target's, taken with
//! pidfd_getfd(2): the receiver gets the same open files.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use proto::net::{self, Address, AddressArg, SockOp, SockType, Socket, UnixAddr, AF_INET, AF_INET6, AF_UNIX};
use proto::{Arch, Errno};

use super::abi::{from_compat, Layout};
use crate::core::Outcome;
use crate::kernel::net::{
    domain_and_type, is_nonblocking, peer, protocol, send_timeout, sendmsg, sigpipe, wait_writable, Control, Outgoing,
};
use crate::kernel::pending::Pending;
use crate::kernel::view::{errno, View};
use crate::kernel::{proc, Fail};

/// The most payload bytes supervise copies from the target for one call (all the messages of a `sendmmsg`).
pub const PAYLOAD_CAP: usize = 4 << 20;
/// The most control bytes copied for one message; more fails as unreadable (the kernel's `optmem_max`, 20 KiB by
/// default, refuses far less with ENOBUFS).
const CONTROL_CAP: usize = 256 << 10;
/// The most control bytes of one call, over all its messages: a `sendmmsg` stops before the message past it.
const CONTROL_TOTAL_CAP: usize = 4 << 20;
/// `UIO_MAXIOV`: the most iovecs of a message, and the most messages of a `sendmmsg`.
const UIO_MAXIOV: u64 = 1024;
/// `MAX_RW_COUNT`: what the kernel clamps a send's total length to.
const MAX_RW_COUNT: u64 = (i32::MAX as u64) & !4095;
/// `TASK_SIZE_MAX` of x86_64 (4-level page tables): `access_ok` fails a range that ends above it.
const USER_END: u64 = (1 << 47) - 4096;
/// `SCM_MAX_FD`: the most fds one message carries (more: EINVAL, before any is looked up).
const SCM_MAX_FD: usize = 253;
/// How long a waiting send waits before it checks again that its caller still waits.
const STEP: Duration = Duration::from_millis(200);
/// The most fds supervise takes for one call; a `sendmmsg` stops at the message that would pass it.
const FDS_CAP: usize = 1024;

const MSG_OOB: u32 = 0x1;
const MSG_DONTWAIT: u32 = 0x40;
const MSG_NOSIGNAL: u32 = 0x4000;
const MSG_FASTOPEN: u32 = 0x2000_0000;
const MSG_CMSG_COMPAT: u32 = 0x8000_0000;
const SCM_RIGHTS: i32 = 1;
const SCM_CREDENTIALS: i32 = 2;

/// One message to send, as decided on.
#[derive(Debug)]
struct Message {
    /// Where it goes, as matched.
    address: Address,
    /// The `sockaddr` to send with (the target's bytes, a unix path's pinned place, or a datagram socket's peer;
    /// empty: none), or the kernel's errno for it.
    name: Result<Vec<u8>, Errno>,
    payload: Vec<u8>,
    /// Bytes after `payload` that the target asked to send and that could not be read.
    unreadable: usize,
    control: Vec<u8>,
    /// Where the kernel writes the count sent (`msg_len` of a `sendmmsg` entry).
    len_at: Option<u64>,
    /// The fds that the control data names (SCM_RIGHTS) and a unix path's parent, open until the send.
    _held: Vec<OwnedFd>,
}

impl Message {
    fn len(&self) -> usize {
        self.payload.len() + self.unreadable
    }
}

/// The messages of one send call, ready to be performed.
#[derive(Debug)]
pub struct SendCall {
    messages: Vec<Message>,
    flags: u32,
    /// `sendmmsg`: the reply is the number of messages sent.
    counts_messages: bool,
    stream: bool,
    fastopen: bool,
    /// A send the target would wait in (a blocking socket without `MSG_DONTWAIT`).
    waits: bool,
    /// Progress: messages sent, and bytes of the next one.
    sent: usize,
    offset: usize,
}

/// What [`gather`] found.
pub struct Gathered {
    pub socket: OwnedFd,
    pub ty: SockType,
    pub view: Option<View>,
    /// Whether the send is made with the target's credentials (see [`gather`]).
    pub as_target: bool,
    pub call: SendCall,
}

impl SendCall {
    /// Every destination, in message order.
    pub fn addresses(&self) -> Vec<Address> {
        self.messages.iter().map(|m| m.address.clone()).collect()
    }

    /// Keeps only the leading messages that go where the first one goes: what a question shows and its answer
    /// covers. The kernel may send fewer messages than asked; the program sends the others again.
    pub fn first_destination_only(&mut self) {
        if let Some(first) = self.messages.first().map(|m| m.address.clone()) {
            let same = self.messages.iter().take_while(|m| m.address == first).count();
            self.messages.truncate(same.max(1));
        }
    }

    /// True if the call must go to a thread of its own at once (a blocking TCP Fast Open connects first).
    pub fn waits_at_once(&self) -> bool {
        self.waits && self.fastopen
    }

    /// Sends what is left on `socket`, message by message, writing each `msg_len` of a `sendmmsg` as the kernel
    /// does. `wait`: as the target would (on a thread of its own); otherwise nothing waits, and `None` says that
    /// the rest must wait: call again with `wait` on a thread of its own.
    ///
    /// Waiting is done in steps ([`SendCall::writable`]), not in one blocking call, so that the wait ends when the
    /// target does: a send never outlives its caller, nor keeps its socket open after it. A blocking TCP Fast Open
    /// (which connects first) is the one blocking call.
    pub fn run(&mut self, socket: BorrowedFd<'_>, pending: Pending<'_>, wait: bool) -> Option<Outcome> {
        let steps = wait && !self.fastopen;
        let deadline =
            if steps { send_timeout(socket).ok().flatten().map(|timeout| Instant::now() + timeout) } else { None };
        let mut retries = 0u32;
        while let Some(m) = self.messages.get(self.sent) {
            let name = match &m.name {
                Ok(name) => name.as_slice(),
                Err(e) => return Some(self.failed(*e)),
            };
            let skip = self.offset.min(m.payload.len());
            let unreadable = m.unreadable - (self.offset - skip).min(m.unreadable);
            let control = if self.offset == 0 { m.control.as_slice() } else { &[] };
            let out = Outgoing { name, payload: &m.payload[skip..], unreadable, control: Control::Bytes(control) };
            let mut flags = self.flags | MSG_NOSIGNAL;
            if !wait || steps {
                flags |= MSG_DONTWAIT;
            }
            let more = match sendmsg(socket, &out, flags as i32) {
                Ok(n) => {
                    self.offset += n;
                    if n > 0 {
                        retries = 0;
                    }
                    let partial = self.offset < m.len();
                    // The kernel would go on waiting to send the rest.
                    let more = partial && self.stream && self.waits && n > 0;
                    if !more {
                        if let Some(outcome) = self.finish_message(partial, pending) {
                            return Some(outcome);
                        }
                        continue;
                    }
                    more
                }
                Err(e) if self.waits && i32::from(e.get()) == libc::EAGAIN && (!wait || steps) => true,
                Err(e) => {
                    if i32::from(e.get()) == libc::EPIPE && self.flags & MSG_NOSIGNAL == 0 && self.offset == 0 {
                        signal_pipe(pending.n.pid);
                    }
                    return Some(self.failed(e));
                }
            };
            if more {
                if !wait {
                    return None;
                }
                if let Err(outcome) = self.writable(socket, pending, deadline, &mut retries) {
                    return Some(outcome);
                }
            }
        }
        Some(Outcome::Value(self.sent as i64))
    }

    /// The message at `sent` went (`partial`: a stream's first part only): its `msg_len` written for a
    /// `sendmmsg`, and the reply if the call ends here.
    fn finish_message(&mut self, partial: bool, pending: Pending<'_>) -> Option<Outcome> {
        if let Some(at) = self.messages[self.sent].len_at {
            // sendmmsg stores each count; a failure there ends the call (EFAULT on the first message).
            if pending.write(at, &(self.offset as u32).to_ne_bytes()).is_err() {
                return Some(self.failed(Errno::EFAULT));
            }
        }
        if !self.counts_messages {
            return Some(Outcome::Value(self.offset as i64));
        }
        self.sent += 1;
        self.offset = 0;
        partial.then(|| Outcome::Value(self.sent as i64))
    }

    /// Waits until the socket can take more: in steps of at most 200 ms, each after checking that the target
    /// still waits (else [`Outcome::Gone`]: it died, and its socket is let go); until `SO_SNDTIMEO` has passed (the
    /// kernel's EAGAIN, or the count sent). A socket that said it could and then took nothing (a unix datagram to
    /// a full receiver) is retried after a pause that grows to 100 ms (`retries`: attempts since the last byte).
    fn writable(
        &self,
        socket: BorrowedFd<'_>,
        pending: Pending<'_>,
        deadline: Option<Instant>,
        retries: &mut u32,
    ) -> Result<(), Outcome> {
        if *retries > 0 {
            std::thread::sleep(Duration::from_millis(u64::from((*retries).min(100))));
        }
        *retries += 1;
        loop {
            if pending.check().is_err() {
                return Err(Outcome::Gone);
            }
            let step = match deadline.map(|d| d.saturating_duration_since(Instant::now())) {
                Some(left) if left.is_zero() => return Err(self.failed(errno(libc::EAGAIN))),
                Some(left) => left.min(STEP),
                None => STEP,
            };
            if wait_writable(socket, step).unwrap_or(true) {
                return Ok(());
            }
        }
    }

    /// The reply when a message fails with `e`: the kernel's count of what was sent before, or `e`.
    fn failed(&self, e: Errno) -> Outcome {
        match (self.counts_messages, self.sent, self.offset) {
            (true, 0, _) | (false, _, 0) => Outcome::Error(e),
            (true, sent, _) => Outcome::Value(sent as i64),
            (false, _, offset) => Outcome::Value(offset as i64),
        }
    }
}

/// The SIGPIPE the kernel sends the thread that wrote to a broken stream without `MSG_NOSIGNAL`.
fn signal_pipe(tid: u32) {
    let tgid = proc::status(tid)
        .and_then(|s| crate::kernel::view::identity::status_field(&s, "Tgid:").and_then(|t| t.parse().ok()));
    if let Some(tgid) = tgid {
        let _ = sigpipe(tgid, tid as i32);
    }
}

type Step<T> = Result<T, Fail>;

fn err(n: i32) -> Fail {
    Fail::Errno(errno(n))
}

/// A message as the target wrote it, before its destination and payload are read.
struct Raw {
    /// `Some`: a destination was given (for `sendto`, possibly of length 0); the bytes read.
    name: Option<Vec<u8>>,
    /// `(base, len)` of each iovec, lengths clamped to the kernel's total.
    iov: Vec<(u64, u64)>,
    control: Vec<u8>,
    held: Vec<OwnedFd>,
    len_at: Option<u64>,
}

/// Reads one send call's messages from the target (`arg`: where `syscall`'s address is). The kernel's errno comes
/// first, in its order: for `sendto` EFAULT for a buffer outside user space, then EBADF, ENOTSOCK, EINVAL
/// (`addrlen`), EFAULT (address); for `sendmsg` EINVAL (`MSG_CMSG_COMPAT`), EBADF, ENOTSOCK, EFAULT (`msghdr`),
/// EINVAL (`msg_namelen`), EFAULT (name), EMSGSIZE (more than 1024 iovecs), EFAULT or EINVAL (iovecs), ENOBUFS or
/// EFAULT (control data); then the protocol's own (EMSGSIZE, EOPNOTSUPP, then the address's EINVAL or
/// EAFNOSUPPORT, EDESTADDRREQ). A `sendmmsg` whose later message fails sends the ones before it.
///
/// # Errors
/// The outcome of a call that ends before anything is decided: the kernel's errno, [`Outcome::Value`] for a
/// `sendmmsg` of no message, [`Outcome::Gone`].
pub fn gather(pending: Pending<'_>, arg: AddressArg) -> Result<Gathered, Outcome> {
    let n = pending.n;
    let compat = Arch::from_audit(n.arch, n.nr).is_some_and(|a| a.long_bytes() == 4);
    let layout = Layout { compat };
    let word = |v: u64| if compat { v & 0xffff_ffff } else { v };
    let flags = match arg {
        AddressArg::Msghdr { .. } => n.args[2] as u32,
        _ => n.args[3] as u32,
    };
    match arg {
        AddressArg::Direct { .. } => {
            let (buf, len) = (word(n.args[1]), word(n.args[2]).min(MAX_RW_COUNT));
            if !compat && buf.checked_add(len).is_none_or(|end| end > USER_END) {
                return Err(Outcome::Error(Errno::EFAULT));
            }
        }
        _ if !compat && flags & MSG_CMSG_COMPAT != 0 => return Err(Outcome::Error(Errno::EINVAL)),
        _ => {}
    }
    let socket = pending.fetch_fd(n.args[0] as i32)?;
    let (domain, ty) = domain_and_type(socket.as_fd()).map_err(Outcome::Error)?;
    let sock = Socket { domain, ty: SockType::from_raw(ty) };
    let inet = domain == AF_INET || domain == AF_INET6;
    // An IP send without control data checks none of the caller's credentials (routing and netfilter look at the
    // socket's owner, the target): it is made as supervise, with no /proc read. A unix socket (its path, its
    // permissions) and control data (SCM_CREDENTIALS, options that need a capability) are sent as the target.
    let mut view = if inet { None } else { super::view_of(n.pid)? };
    // A ping socket is a datagram socket whose "port" is the ICMP id, 0 as often as not: its address is read as a
    // raw socket's (no port check).
    let ping = inet
        && sock.ty == SockType::Dgram
        && protocol(socket.as_fd()).is_ok_and(|p| p == libc::IPPROTO_ICMP || p == libc::IPPROTO_ICMPV6);
    let decode_as = if ping { Socket { ty: SockType::Raw, ..sock } } else { sock };
    let fastopen = inet && sock.ty == SockType::Stream && flags & MSG_FASTOPEN != 0;
    let waits = flags & MSG_DONTWAIT == 0 && !is_nonblocking(socket.as_fd());
    let reader =
        Reader { pending, layout, sock, decode_as, flags, fastopen, socket: socket.as_fd(), view: view.as_ref() };
    let mut messages = Vec::new();
    let (mut budget, mut fds) = (PAYLOAD_CAP, 0);
    match arg {
        AddressArg::Direct { addr, len, .. } => {
            let name = match word(n.args[addr]) {
                0 => None,
                at => match net::addrlen(n.args[len]).map_err(Outcome::Error)? {
                    0 => Some(Vec::new()),
                    len => Some(pending.read(at, len)?),
                },
            };
            let iov = vec![(word(n.args[1]), word(n.args[2]).min(MAX_RW_COUNT))];
            let raw = Raw { name, iov, control: Vec::new(), held: Vec::new(), len_at: None };
            messages.push(reader.message(raw, &mut budget, true)?);
        }
        AddressArg::Msghdr { msg } => {
            let raw = reader.msghdr(word(n.args[msg]), &mut fds)?;
            messages.push(reader.message(raw, &mut budget, true)?);
        }
        AddressArg::Mmsghdr { msgvec, vlen } => {
            let count = (n.args[vlen] as u32).min(UIO_MAXIOV as u32) as u64;
            let mut control_total = 0;
            for i in 0..count {
                let entry = word(n.args[msgvec]).wrapping_add(i * layout.mmsghdr() as u64);
                let message = reader.msghdr(entry, &mut fds).and_then(|mut raw| {
                    raw.len_at = Some(entry + layout.msghdr() as u64);
                    reader.message(raw, &mut budget, i == 0)
                });
                match message {
                    // The kernel sends the messages before one it fails, and returns their count; so does
                    // supervise at a message past what it takes for one call (the program sends it again).
                    Err(Fail::Errno(_)) if i > 0 => break,
                    Err(fail) => return Err(fail.into()),
                    Ok(_) if i > 0 && fds > FDS_CAP => break,
                    Ok(m) if i > 0 && control_total + m.control.len() > CONTROL_TOTAL_CAP => break,
                    Ok(m) => {
                        control_total += m.control.len();
                        messages.push(m);
                    }
                }
            }
            if messages.is_empty() {
                return Err(Outcome::Value(0));
            }
        }
        AddressArg::Accepted => return Err(Outcome::Error(Errno::EACCES)),
    }
    let as_target = !inet || messages.iter().any(|m| !m.control.is_empty());
    if as_target && inet {
        view = super::view_of(n.pid)?;
    }
    pending.check()?;
    let call = SendCall {
        messages,
        flags: flags & !MSG_CMSG_COMPAT,
        counts_messages: matches!(arg, AddressArg::Mmsghdr { .. }),
        stream: sock.ty == SockType::Stream,
        fastopen,
        waits,
        sent: 0,
        offset: 0,
    };
    Ok(Gathered { socket, ty: sock.ty, view, as_target, call })
}

/// Reads messages of one call.
struct Reader<'a> {
    pending: Pending<'a>,
    layout: Layout,
    sock: Socket,
    /// The socket as its addresses are decoded (a ping socket's as a raw one's).
    decode_as: Socket,
    flags: u32,
    fastopen: bool,
    socket: BorrowedFd<'a>,
    view: Option<&'a View>,
}

impl Reader<'_> {
    /// A `struct msghdr` at `at`: its name, iovecs and control data, in the kernel's order (`copy_msghdr_from_user`,
    /// `import_iovec`, `____sys_sendmsg`).
    fn msghdr(&self, at: u64, fds: &mut usize) -> Step<Raw> {
        let l = self.layout;
        let h = self.pending.read(at, l.msghdr())?;
        let (name_at, namelen) =
            if l.compat { (l.word(&h, 0), Layout::int(&h, 4)) } else { (l.word(&h, 0), Layout::int(&h, 8)) };
        let (iov_at, iovlen, control_at, controllen) = if l.compat {
            (l.word(&h, 8), l.word(&h, 12), l.word(&h, 16), l.word(&h, 20))
        } else {
            (l.word(&h, 16), l.word(&h, 24), l.word(&h, 32), l.word(&h, 40))
        };
        let namelen = if name_at == 0 { 0 } else { net::msg_namelen(namelen as u32)? };
        let name = if name_at != 0 && namelen > 0 { Some(self.pending.read(name_at, namelen)?) } else { None };
        if iovlen > UIO_MAXIOV {
            return Err(err(libc::EMSGSIZE));
        }
        let iov = self.iovecs(iov_at, iovlen as usize)?;
        if controllen > i32::MAX as u64 {
            return Err(err(libc::ENOBUFS));
        }
        let (control, held) = self.control(control_at, controllen as usize, fds)?;
        Ok(Raw { name, iov, control, held, len_at: None })
    }

    /// The iovec array: EFAULT (unreadable, or a range outside user space), EINVAL (a negative length); lengths
    /// clamped to `MAX_RW_COUNT` in all.
    fn iovecs(&self, at: u64, count: usize) -> Step<Vec<(u64, u64)>> {
        if count == 0 {
            return Ok(Vec::new());
        }
        let l = self.layout;
        let bytes = self.pending.read(at, count * l.iovec())?;
        let mut out = Vec::with_capacity(count);
        let mut total = 0u64;
        for i in 0..count {
            let entry = &bytes[i * l.iovec()..];
            let (base, len) =
                if l.compat { (l.word(entry, 0), l.word(entry, 4)) } else { (l.word(entry, 0), l.word(entry, 8)) };
            let negative = if l.compat { (len as u32 as i32) < 0 } else { (len as i64) < 0 };
            if negative {
                return Err(err(libc::EINVAL));
            }
            out.push((base, len));
        }
        // One iovec is checked clamped (`import_ubuf`), several as they are (`__import_iovec`).
        let single = out.len() == 1;
        for (base, len) in &mut out {
            let checked = if single { (*len).min(MAX_RW_COUNT) } else { *len };
            if !l.compat && base.checked_add(checked).is_none_or(|end| end > USER_END) {
                return Err(err(libc::EFAULT));
            }
            *len = (*len).min(MAX_RW_COUNT - total);
            total += *len;
        }
        Ok(out)
    }

    /// The control data, native, with the target's fds (SCM_RIGHTS) replaced by supervise's copies of the same
    /// files and its own pid (SCM_CREDENTIALS) by supervise's.
    fn control(&self, at: u64, len: usize, fds: &mut usize) -> Step<(Vec<u8>, Vec<OwnedFd>)> {
        if len == 0 {
            return Ok((Vec::new(), Vec::new()));
        }
        let read = if len > CONTROL_CAP { Err(Fail::Errno(Errno::EFAULT)) } else { self.pending.read(at, len) };
        let bytes = match read {
            Ok(bytes) => bytes,
            Err(Fail::Errno(_)) if !self.layout.compat => {
                // The kernel's own answer to unreadable control data (ENOBUFS above optmem_max, else EFAULT):
                // it fails before the protocol sees anything.
                let out = Outgoing { name: &[], payload: &[], unreadable: 0, control: Control::Unreadable(len) };
                let flags = (MSG_DONTWAIT | MSG_NOSIGNAL) as i32;
                return Err(Fail::Errno(sendmsg(self.socket, &out, flags).err().unwrap_or(Errno::EFAULT)));
            }
            Err(fail) => return Err(fail),
        };
        let mut control = if self.layout.compat { from_compat(&bytes)? } else { bytes };
        let held = self.translate(&mut control, fds)?;
        Ok((control, held))
    }

    /// Rewrites SCM_RIGHTS and SCM_CREDENTIALS in native control data (`__scm_send`'s walk; a malformed header
    /// ends it: the kernel fails the call there with EINVAL).
    fn translate(&self, control: &mut [u8], fds: &mut usize) -> Step<Vec<OwnedFd>> {
        let mut held = Vec::new();
        let mut at = 0;
        let mut in_message = 0;
        while at + 16 <= control.len() {
            let len = u64::from_ne_bytes(control[at..at + 8].try_into().unwrap_or_default()) as usize;
            if len < 16 || len > control.len() - at {
                break;
            }
            let (level, kind) = (Layout::int(control, at + 8), Layout::int(control, at + 12));
            if level == libc::SOL_SOCKET && kind == SCM_RIGHTS {
                let count = (len - 16) / 4;
                in_message += count;
                if in_message > SCM_MAX_FD {
                    // EINVAL from the kernel before any of these is looked up.
                    break;
                }
                for i in 0..count {
                    let slot = at + 16 + 4 * i;
                    let theirs = Layout::int(control, slot);
                    let ours = match self.pending.fetch_fd(theirs) {
                        Ok(fd) => fd,
                        Err(Fail::Gone) => return Err(Fail::Gone),
                        // EBADF from the kernel at the same place.
                        Err(Fail::Errno(_)) => {
                            control[slot..slot + 4].copy_from_slice(&(-1i32).to_ne_bytes());
                            continue;
                        }
                    };
                    control[slot..slot + 4].copy_from_slice(&ours.as_raw_fd().to_ne_bytes());
                    held.push(ours);
                    *fds += 1;
                }
            } else if reroutes(level, kind, &control[at + 16..at + len]) {
                tracing::warn!(
                    pid = self.pending.n.pid,
                    level,
                    kind,
                    "control data that reroutes an address-ruled send: refused (EPERM)"
                );
                return Err(err(libc::EPERM));
            } else if level == libc::SOL_SOCKET && kind == SCM_CREDENTIALS && len >= 28 {
                let pid = Layout::int(control, at + 16);
                if Some(pid) == own_tgid(self.pending.n.pid) {
                    // The kernel checks the sender's pid; the sender is supervise (receivers see its pid).
                    let ours = crate::kernel::process::own_pid();
                    control[at + 16..at + 20].copy_from_slice(&ours.to_ne_bytes());
                }
            }
            at += len.next_multiple_of(8);
        }
        Ok(held)
    }

    /// One message: its destination decided on and its payload copied, within `budget` bytes: the first message
    /// of a stream send is cut there (a partial send), any other message that does not fit fails with EMSGSIZE.
    fn message(&self, raw: Raw, budget: &mut usize, first: bool) -> Step<Message> {
        let Socket { domain, ty } = self.sock;
        let total: u64 = raw.iov.iter().map(|(_, len)| len).sum();
        if domain == AF_INET && matches!(ty, SockType::Dgram | SockType::Raw) {
            // udp_sendmsg and raw_sendmsg check these before the address.
            if total > 0xffff {
                return Err(err(libc::EMSGSIZE));
            }
            if self.flags & MSG_OOB != 0 {
                return Err(err(libc::EOPNOTSUPP));
            }
        }
        let mut held = raw.held;
        let (address, name) = self.destination(raw.name, &mut held)?;
        let want = match usize::try_from(total) {
            Ok(total) if total <= *budget => total,
            _ if ty == SockType::Stream && first => *budget,
            _ => return Err(err(libc::EMSGSIZE)),
        };
        *budget -= want;
        let (payload, unreadable) = self.payload(&raw.iov, want)?;
        Ok(Message { address, name, payload, unreadable, control: raw.control, len_at: raw.len_at, _held: held })
    }

    /// Where the message goes, as matched, and the `sockaddr` to send it with.
    fn destination(&self, given: Option<Vec<u8>>, held: &mut Vec<OwnedFd>) -> Step<(Address, Result<Vec<u8>, Errno>)> {
        let Socket { domain, ty } = self.sock;
        let inet = domain == AF_INET || domain == AF_INET6;
        // A unix socket takes a zero-length name as none (`if (msg->msg_namelen)`).
        let given = given.filter(|b| !(b.is_empty() && domain == AF_UNIX));
        if self.fastopen {
            // TCP Fast Open connects to the destination, then sends.
            return match given {
                Some(bytes) => match net::decode(&bytes, self.sock, SockOp::Connect) {
                    Ok(address) => Ok((address, Ok(bytes))),
                    Err(_) if peer(self.socket, domain).is_ok() => Err(err(libc::EISCONN)),
                    Err(e) => Err(Fail::Errno(e)),
                },
                None => Ok((self.peer().1, Ok(Vec::new()))),
            };
        }
        let decoded = match &given {
            Some(bytes) => net::decode(bytes, self.decode_as, SockOp::Send)?,
            None => Address::Unspec,
        };
        match decoded {
            Address::Unix(UnixAddr::Path(path)) => match self.view {
                Some(view) => {
                    let (real, place) = super::unix_path(view, &path, SockOp::Send);
                    let name = place.map(|(sockaddr, parent)| {
                        held.push(parent);
                        sockaddr
                    });
                    Ok((Address::Unix(UnixAddr::Path(real)), name))
                }
                None => {
                    let real = super::lexical(self.pending.n.pid, &path);
                    Ok((Address::Unix(UnixAddr::Path(real)), Err(Errno::EACCES)))
                }
            },
            Address::Unspec if inet && ty != SockType::Stream => {
                // No destination: the peer, sent to by its address, so that a reconnect after the check changes
                // nothing. No peer: the kernel's EDESTADDRREQ.
                match self.peer() {
                    (Some(bytes), address) => Ok((address, Ok(bytes))),
                    (None, _) => Err(err(libc::EDESTADDRREQ)),
                }
            }
            // A stream socket (the kernel ignores the address, or refuses it with its own errno), or no
            // destination: the peer.
            Address::Unspec => Ok((self.peer().1, Ok(given.unwrap_or_default()))),
            address => Ok((address, Ok(given.unwrap_or_default()))),
        }
    }

    /// The socket's peer (getpeername(2) on supervise's copy, or where an IP socket is connecting to): its bytes and
    /// its address ([`Address::Unspec`] when there is none, which no pattern or family matches).
    fn peer(&self) -> (Option<Vec<u8>>, Address) {
        let Ok(bytes) = peer(self.socket, self.sock.domain) else { return (None, Address::Unspec) };
        let as_stream = Socket { domain: self.sock.domain, ty: SockType::Stream };
        let address = match net::decode(&bytes, as_stream, SockOp::Connect) {
            Ok(address) => address,
            Err(_) if self.sock.domain == AF_UNIX => Address::Unix(UnixAddr::Unnamed),
            Err(_) => Address::Unspec,
        };
        (Some(bytes), address)
    }

    /// The first `want` bytes the iovecs name, and how many of them could not be read (from the first unreadable
    /// byte on: the kernel's copy faults there).
    fn payload(&self, iov: &[(u64, u64)], want: usize) -> Step<(Vec<u8>, usize)> {
        let mut out = Vec::with_capacity(want.min(64 << 10));
        for &(base, len) in iov {
            let len = (len as usize).min(want - out.len());
            if len == 0 {
                continue;
            }
            match self.pending.read(base, len) {
                Ok(bytes) => out.extend(bytes),
                Err(Fail::Errno(e)) if e == Errno::EFAULT => {
                    self.readable_prefix(base, len, &mut out)?;
                    let unreadable = want - out.len();
                    return Ok((out, unreadable));
                }
                Err(fail) => return Err(fail),
            }
            if out.len() == want {
                break;
            }
        }
        Ok((out, 0))
    }

    /// Reads page by page from `base` until a page cannot be read.
    fn readable_prefix(&self, base: u64, len: usize, out: &mut Vec<u8>) -> Step<()> {
        let mut at = base;
        let end = base.saturating_add(len as u64);
        while at < end {
            let chunk = (4096 - at % 4096).min(end - at) as usize;
            match self.pending.read(at, chunk) {
                Ok(bytes) => out.extend(bytes),
                Err(Fail::Gone) => return Err(Fail::Gone),
                Err(Fail::Errno(_)) => break,
            }
            at += chunk as u64;
        }
        Ok(())
    }
}

/// Whether a control message changes where a send goes, so that the address decided on is not where it goes: an IPv4
/// source route (`IP_RETOPTS`), an IPv6 routing header or next hop (`IPV6_RTHDR`, `IPV6_2292RTHDR`,
/// `IPV6_NEXTHOP`), or an outgoing interface (`IP_PKTINFO`, `IPV6_PKTINFO` with a non-zero ifindex: a loopback
/// destination sent out on a real link). `data` is the message's data.
fn reroutes(level: i32, kind: i32, data: &[u8]) -> bool {
    const IP_RETOPTS: i32 = 7;
    const IP_PKTINFO: i32 = 8;
    const IPV6_2292PKTINFO: i32 = 2;
    const IPV6_2292RTHDR: i32 = 5;
    const IPV6_NEXTHOP: i32 = 9;
    const IPV6_PKTINFO: i32 = 50;
    const IPV6_RTHDR: i32 = 57;
    // in_pktinfo's ipi_ifindex is its first int; in6_pktinfo's follows the 16-byte address.
    let ifindex = |at: usize| data.get(at..at + 4).is_some_and(|b| b != [0; 4]);
    match (level, kind) {
        (libc::SOL_IP, IP_RETOPTS) => true,
        (libc::SOL_IP, IP_PKTINFO) => ifindex(0),
        (libc::SOL_IPV6, IPV6_2292RTHDR | IPV6_RTHDR | IPV6_NEXTHOP) => true,
        (libc::SOL_IPV6, IPV6_PKTINFO | IPV6_2292PKTINFO) => ifindex(16),
        _ => false,
    }
}

/// The target's pid as it knows it (its pid namespace's), which it writes in SCM_CREDENTIALS.
fn own_tgid(tid: u32) -> Option<i32> {
    let status = proc::status(tid)?;
    let field = crate::kernel::view::identity::status_field(&status, "NStgid:")?;
    field.split_whitespace().last()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(destinations: &[u8], counts_messages: bool) -> SendCall {
        let message = |last: u8| Message {
            address: Address::V4 { ip: [127, 0, 0, last].into(), port: 9, mapped: false },
            name: Ok(Vec::new()),
            payload: b"four".to_vec(),
            unreadable: 0,
            control: Vec::new(),
            len_at: None,
            _held: Vec::new(),
        };
        SendCall {
            messages: destinations.iter().map(|&d| message(d)).collect(),
            flags: 0,
            counts_messages,
            stream: false,
            fastopen: false,
            waits: false,
            sent: 0,
            offset: 0,
        }
    }

    #[test]
    fn an_answered_question_covers_the_leading_messages_to_the_destination_it_showed() {
        let mut c = call(&[1, 1, 2, 1], true);
        c.first_destination_only();
        assert_eq!(c.addresses().len(), 2);
        let mut c = call(&[3], false);
        c.first_destination_only();
        assert_eq!(c.addresses().len(), 1);
    }

    #[test]
    fn a_failure_after_something_was_sent_returns_the_count_as_the_kernel_does() {
        let e = Errno::EPERM;
        let mut c = call(&[1, 1], true);
        assert!(matches!(c.failed(e), Outcome::Error(x) if x == e), "sendmmsg, first message: the errno");
        c.sent = 1;
        assert!(matches!(c.failed(e), Outcome::Value(1)), "sendmmsg, a later message: the count");
        let mut c = call(&[1], false);
        assert!(matches!(c.failed(e), Outcome::Error(x) if x == e));
        c.offset = 3;
        assert!(matches!(c.failed(e), Outcome::Value(3)), "a stream send cut short: the bytes sent");
    }
}
