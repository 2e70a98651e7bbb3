//! `netprobe OP [ARGS…]`: socket calls for the end-to-end tests of address rules. It prints one line, `ok <value>`
//! or `err <n>`, and exits 0 on success or with the errno (capped at 255) on failure.
//!
//! Addresses: `127.0.0.1:PORT`, `[::1]:PORT`, `unix:PATH`.
//! Ops:
//! - `connect ADDR`, `connect-nonblock ADDR` (a TCP or unix stream socket), `bind ADDR`;
//! - `connect-badfd ADDR` (fd 999), `connect-badlen ADDR` (addrlen -1), `connect-fault` (an unmapped address),
//!   `connect-notsock ADDR` (on `/dev/null`), `connect-on-inet ADDR` (on an `AF_INET` socket, whatever ADDR is);
//! - `stall ADDR`: fills the accept queue of a listener of its own on 127.0.0.1 (backlog 0, never accepting), starts
//!   a thread whose blocking connect to it stalls, then connects to ADDR and prints `stalled S took MS` (S: 1 if
//!   the other connect was still waiting);
//! - `race GOOD BAD N`: a thread rewrites one `sockaddr` between GOOD and BAD without pause while this thread
//!   connects N times (a new socket each) to what it holds; prints `connected C refused R`;
//! - sends (the datagram ones on a UDP socket, or a unix datagram socket for `unix:`; the result is the count
//!   sent): `sendto ADDR [LEN]` (LEN bytes, default 5), `sendto-badlen ADDR` (addrlen -1), `sendto-shortlen ADDR`
//!   (addrlen 8), `sendto-zerolen ADDR` (a non-null address of length 0), `sendto-fault-addr`, `sendto-fault-buf
//!   ADDR`, `sendto-kernel-buf ADDR` (a buffer in kernel space), `sendto-badfd ADDR`, `sendto-notsock ADDR`,
//!   `sendto-oob ADDR` (MSG_OOB), `sendto-stream ADDR` (an unconnected TCP socket, MSG_NOSIGNAL),
//!   `sendto-stream-sigpipe ADDR` (the same without MSG_NOSIGNAL: SIGPIPE kills it), `sendto-partial-fault ADDR`
//!   (3 readable bytes, then an unreadable page);
//! - `send-connected ADDR`: a UDP socket connected to ADDR, then send() without a destination;
//! - `sendmsg ADDR` (two iovecs, 3 + 4 bytes), `sendmsg-iovmax ADDR` (1025 iovecs), `sendmsg-negnamelen ADDR`,
//!   `sendmsg-fault-msghdr`, `sendmsg-fault-iov ADDR`, `sendmsg-fault-control ADDR`, `sendmsg-compat-flag ADDR`;
//! - `sendmmsg ADDR…` (one 4-byte message to each), `sendmmsg-badsecond ADDR` (the second message's
//!   `msg_namelen` is -1: the first is sent), `sendmmsg-none ADDR` (vlen 0);
//! - `fastopen ADDR`: sendto with MSG_FASTOPEN on a new TCP socket (connects and sends 5 bytes);
//!   `fastopen-connect ADDR`: TCP_FASTOPEN_CONNECT, connect, then send(); `send-connecting`: send() on a
//!   non-blocking TCP socket whose connect to a full accept queue (a listener of its own) is still under way;
//!   `block-send ADDR`: a 4 MiB blocking send on a TCP connection to ADDR with the smallest buffers;
//! - `scm-rights unix:PATH`: binds a unix datagram socket at PATH, sends it (sendmsg to PATH) the write end of a
//!   pipe with SCM_RIGHTS, receives it, writes through the received fd and reads the pipe: `ok 1` if the bytes
//!   came through;
//! - `scm-rights-badfd unix:PATH` (fd 999: EBADF), `scm-credentials unix:PATH` (SCM_CREDENTIALS with its own
//!   pid, uid and gid; prints `pid self|other uid U gid G` as the receiver saw them), `send-unconnected ADDR`
//!   (send() on an unconnected UDP socket: EDESTADDRREQ), `sendto-on-inet ADDR` and `sendto-on-inet6 ADDR` (on a
//!   UDP socket of that family, whatever ADDR is), `sendto-socketpair ADDR` (on a connected unix stream socket),
//!   `stream-send ADDR LEN` (LEN patterned bytes on a TCP connection, send() again after each partial send; prints
//!   `calls C`);
//! - `race-sendto GOOD BAD N`: as `race`, with UDP sendto of one byte; prints `sent S refused R`;
//! - `stall-send ADDR`: a thread's blocking send on a TCP connection that nobody reads (to a listener of its own)
//!   waits; then a UDP sendto to ADDR; prints `stalled S took MS` as `stall`;
//! - `compat-sendmsg`, `compat-sendmmsg`, `compat-scm-rights`: the same through the i386 entry (netprobe/compat.rs).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;

#[path = "netprobe/compat.rs"]
mod compat;
#[path = "netprobe/sends.rs"]
mod sends;

/// An address below vm.mmap_min_addr: never mapped.
pub(crate) const UNMAPPED: usize = 0x1000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).cloned().unwrap_or_else(|| usage());
    let result = match arg(0).as_str() {
        "connect" => connect_to(&sockaddr(&arg(1)), 0),
        "connect-nonblock" => connect_to(&sockaddr(&arg(1)), libc::SOCK_NONBLOCK),
        "bind" => {
            let addr = sockaddr(&arg(1));
            let fd = socket_for(&addr, 0);
            // SAFETY: bind(2) reads addr.len() bytes from a live Vec.
            unsafe { libc::bind(fd, addr.as_ptr().cast(), addr.len() as u32) }.into()
        }
        "connect-badfd" => {
            let addr = sockaddr(&arg(1));
            // SAFETY: connect(2) on an fd that is not open; reads addr.len() bytes from a live Vec.
            unsafe { libc::connect(999, addr.as_ptr().cast(), addr.len() as u32) }.into()
        }
        "connect-badlen" => {
            let addr = sockaddr(&arg(1));
            let fd = socket_for(&addr, 0);
            // SAFETY: connect(2) with addrlen -1 (as an int): the kernel refuses it before reading.
            unsafe { libc::connect(fd, addr.as_ptr().cast(), u32::MAX) }.into()
        }
        "connect-notsock" => {
            let addr = sockaddr(&arg(1));
            // SAFETY: open(2) reads a NUL-terminated literal.
            let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY) };
            // SAFETY: connect(2) reads addr.len() bytes from a live Vec.
            unsafe { libc::connect(fd, addr.as_ptr().cast(), addr.len() as u32) }.into()
        }
        "connect-on-inet" => {
            let addr = sockaddr(&arg(1));
            // SAFETY: socket(2) takes no pointers.
            let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
            // SAFETY: connect(2) reads addr.len() bytes from a live Vec.
            unsafe { libc::connect(fd, addr.as_ptr().cast(), addr.len() as u32) }.into()
        }
        "connect-fault" => {
            // SAFETY: socket(2) takes no pointers.
            let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
            // SAFETY: the kernel reads the unmapped address itself and fails with EFAULT; nothing here touches it.
            unsafe { libc::connect(fd, UNMAPPED as *const libc::sockaddr, 16) }.into()
        }
        "stall" => stall(&sockaddr(&arg(1))),
        "race" => race(&sockaddr(&arg(1)), &sockaddr(&arg(2)), arg(3).parse().unwrap_or_else(|_| usage())),
        "race-sendto" => {
            race_sendto(&sockaddr(&arg(1)), &sockaddr(&arg(2)), arg(3).parse().unwrap_or_else(|_| usage()))
        }
        op if op.starts_with("compat-") => compat::run(op, &args[1..]),
        op if op.starts_with("send")
            || op.starts_with("scm-")
            || op.starts_with("fastopen")
            || ["stall-send", "stream-send", "block-send"].contains(&op) =>
        {
            sends::run(op, &args[1..])
        }
        _ => usage(),
    };
    report(result)
}

/// A `sockaddr` that a thread rewrites between `good` and `bad` without pause, until [`Flipper::stop`].
struct Flipper {
    buffer: Arc<Vec<AtomicU8>>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Flipper {
    fn start(good: &[u8], bad: &[u8]) -> Flipper {
        let buffer: Arc<Vec<AtomicU8>> = Arc::new(good.iter().map(|&b| AtomicU8::new(b)).collect());
        let stop = Arc::new(AtomicBool::new(false));
        let (cells, stopped, good, bad) = (buffer.clone(), stop.clone(), good.to_vec(), bad.to_vec());
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                for src in [&bad, &good] {
                    for (cell, &b) in cells.iter().zip(src.iter()) {
                        cell.store(b, Ordering::Relaxed);
                    }
                }
            }
        });
        Flipper { buffer, stop, thread }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

fn race_sendto(good: &[u8], bad: &[u8], n: u32) -> i64 {
    let flipper = Flipper::start(good, bad);
    let buffer = &flipper.buffer;
    // SAFETY: socket(2) takes no pointers.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) };
    let (mut sent, mut refused) = (0, 0);
    for _ in 0..n {
        // SAFETY: sendto(2) reads one byte from a literal and good.len() bytes from the live buffer, which another
        // thread rewrites (AtomicU8 has the layout of u8): the race under test.
        let rc = unsafe { libc::sendto(fd, b"x".as_ptr().cast(), 1, 0, buffer.as_ptr().cast(), good.len() as u32) };
        if rc >= 0 {
            sent += 1;
        } else {
            refused += 1;
        }
    }
    flipper.stop();
    println!("sent {sent} refused {refused}");
    0
}

/// The `sockaddr` bytes of `text`.
pub(crate) fn sockaddr(text: &str) -> Vec<u8> {
    if let Some(path) = text.strip_prefix("unix:") {
        let mut b = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        b.extend(path.as_bytes());
        b.push(0);
        return b;
    }
    let addr: SocketAddr = text.parse().unwrap_or_else(|_| usage());
    let mut b = Vec::new();
    match addr {
        SocketAddr::V4(a) => {
            b.extend((libc::AF_INET as u16).to_ne_bytes());
            b.extend(a.port().to_be_bytes());
            b.extend(a.ip().octets());
            b.extend([0; 8]);
        }
        SocketAddr::V6(a) => {
            b.extend((libc::AF_INET6 as u16).to_ne_bytes());
            b.extend(a.port().to_be_bytes());
            b.extend([0; 4]);
            b.extend(a.ip().octets());
            b.extend([0; 4]);
        }
    }
    b
}

/// A stream socket of the address's family.
fn socket_for(addr: &[u8], flags: i32) -> i32 {
    let family = i32::from(u16::from_ne_bytes([addr[0], addr[1]]));
    // SAFETY: socket(2) takes no pointers.
    let fd = unsafe { libc::socket(family, libc::SOCK_STREAM | flags, 0) };
    if fd < 0 {
        report(-1);
    }
    fd
}

pub(crate) fn connect_to(addr: &[u8], flags: i32) -> i64 {
    let fd = socket_for(addr, flags);
    // SAFETY: connect(2) reads addr.len() bytes from a live slice.
    unsafe { libc::connect(fd, addr.as_ptr().cast(), addr.len() as u32) }.into()
}

/// A TCP listener of its own on 127.0.0.1 whose accept queue is full (backlog 0, never accepting: the queue holds
/// backlog + 1 connections, filled here), and its `sockaddr`: a blocking connect to it stalls, a non-blocking one
/// stays in SYN_SENT.
pub fn full_listener() -> (i32, Vec<u8>) {
    // SAFETY: socket(2), bind(2) of a live local sockaddr_in, listen(2), getsockname(2) into it: no other memory.
    let (listener, full) = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        let mut sin: libc::sockaddr_in = std::mem::zeroed();
        sin.sin_family = libc::AF_INET as u16;
        sin.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        let mut len = std::mem::size_of::<libc::sockaddr_in>() as u32;
        if libc::bind(fd, (&raw const sin).cast(), len) < 0 || libc::listen(fd, 0) < 0 {
            report(-1);
        }
        libc::getsockname(fd, (&raw mut sin).cast(), &raw mut len);
        let mut full = Vec::new();
        full.extend((libc::AF_INET as u16).to_ne_bytes());
        full.extend(u16::from_be(sin.sin_port).to_be_bytes());
        full.extend([127, 0, 0, 1]);
        full.extend([0; 8]);
        (fd, full)
    };
    for _ in 0..3 {
        connect_to(&full, libc::SOCK_NONBLOCK);
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    (listener, full)
}

fn stall(addr: &[u8]) -> i64 {
    let (listener, full) = full_listener();
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    std::thread::spawn(move || {
        connect_to(&full, 0);
        d.store(true, Ordering::SeqCst);
    });
    std::thread::sleep(std::time::Duration::from_millis(200));
    let start = std::time::Instant::now();
    let rc = connect_to(addr, 0);
    let took = start.elapsed().as_millis();
    println!("stalled {} took {took}", u8::from(!done.load(Ordering::SeqCst)));
    let _ = listener;
    rc
}

fn race(good: &[u8], bad: &[u8], n: u32) -> i64 {
    assert_eq!(good.len(), bad.len(), "same length");
    let flipper = Flipper::start(good, bad);
    let buffer = &flipper.buffer;
    let (mut connected, mut refused) = (0, 0);
    for _ in 0..n {
        let fd = socket_for(good, 0);
        // SAFETY: connect(2) reads good.len() bytes from the live buffer, which another thread rewrites (AtomicU8
        // has the layout of u8): the race under test.
        let rc = unsafe { libc::connect(fd, buffer.as_ptr().cast(), good.len() as u32) };
        if rc == 0 {
            connected += 1;
        } else {
            refused += 1;
        }
        // SAFETY: closes the socket made above.
        unsafe { libc::close(fd) };
    }
    flipper.stop();
    println!("connected {connected} refused {refused}");
    0
}

pub(crate) fn report(result: i64) -> ! {
    if result >= 0 {
        println!("ok {result}");
        std::process::exit(0);
    }
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    println!("err {errno}");
    std::process::exit(errno.clamp(1, 255));
}

pub(crate) fn usage() -> ! {
    eprintln!("usage: netprobe OP [ARGS...] (the ops are listed at the top of tests/src/netprobe.rs)");
    std::process::exit(2)
}
