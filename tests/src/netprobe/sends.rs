//! The send ops of `netprobe` (listed at the top of netprobe.rs): sendto, sendmsg, sendmmsg with good and bad
//! arguments, TCP Fast Open, SCM_RIGHTS, a blocking send.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::{full_listener, report, sockaddr, usage, UNMAPPED};

/// A kernel-space address: outside every process's user range.
const KERNEL: usize = 0xffff_8000_0000_0000;
const MSG_CMSG_COMPAT: i32 = 0x8000_0000_u32 as i32;

pub fn run(op: &str, args: &[String]) -> i64 {
    let arg = |i: usize| args.get(i).cloned().unwrap_or_else(|| usage());
    let addr = || sockaddr(&arg(0));
    match op {
        "sendto" => {
            let len = args.get(1).map_or(5, |l| l.parse().unwrap_or_else(|_| usage()));
            let a = addr();
            sendto(dgram_for(&a), &vec![b'x'; len], 0, a.as_ptr(), a.len() as u32)
        }
        "sendto-badlen" => {
            let a = addr();
            sendto(dgram_for(&a), b"hello", 0, a.as_ptr(), u32::MAX)
        }
        "sendto-shortlen" => {
            let a = addr();
            sendto(dgram_for(&a), b"hello", 0, a.as_ptr(), 8)
        }
        "sendto-zerolen" => {
            let a = addr();
            sendto(dgram_for(&a), b"hello", 0, a.as_ptr(), 0)
        }
        "sendto-fault-addr" => {
            // SAFETY: socket(2) takes no pointers.
            let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) };
            sendto(fd, b"hello", 0, UNMAPPED as *const u8, 16)
        }
        "sendto-fault-buf" | "sendto-kernel-buf" => {
            let a = addr();
            let buf = if op == "sendto-fault-buf" { UNMAPPED } else { KERNEL };
            // SAFETY: sendto(2) with a buffer the kernel cannot read (it fails with EFAULT; nothing here reads it)
            // and a live sockaddr.
            unsafe { libc::sendto(dgram_for(&a), buf as *const _, 5, 0, a.as_ptr().cast(), a.len() as u32) as i64 }
        }
        "sendto-badfd" => {
            let a = addr();
            sendto(999, b"hello", 0, a.as_ptr(), a.len() as u32)
        }
        "sendto-notsock" => {
            let a = addr();
            // SAFETY: open(2) reads a NUL-terminated literal.
            let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY) };
            sendto(fd, b"hello", 0, a.as_ptr(), a.len() as u32)
        }
        "sendto-oob" => {
            let a = addr();
            sendto(dgram_for(&a), b"hello", libc::MSG_OOB, a.as_ptr(), a.len() as u32)
        }
        "sendto-stream" | "sendto-stream-sigpipe" => {
            let a = addr();
            let flags = if op == "sendto-stream" { libc::MSG_NOSIGNAL } else { 0 };
            if flags == 0 {
                // Rust ignores SIGPIPE; the kernel's default action kills the process.
                // SAFETY: signal(2) with SIG_DFL installs no handler of ours.
                unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
            }
            // SAFETY: socket(2) takes no pointers.
            let fd = unsafe { libc::socket(i32::from(family(&a)), libc::SOCK_STREAM, 0) };
            sendto(fd, b"hello", flags, a.as_ptr(), a.len() as u32)
        }
        "sendto-partial-fault" => {
            let a = addr();
            let page = guarded_page();
            let start = page + 4096 - 3;
            // SAFETY: the last 3 bytes of a writable page, followed by a PROT_NONE page.
            unsafe { std::ptr::copy_nonoverlapping(b"abc".as_ptr(), start as *mut u8, 3) };
            // SAFETY: sendto(2) reads 3 bytes, then faults on the guard page (EFAULT); a live sockaddr.
            unsafe { libc::sendto(dgram_for(&a), start as *const _, 10, 0, a.as_ptr().cast(), a.len() as u32) as i64 }
        }
        "send-connected" => {
            let a = addr();
            let fd = dgram_for(&a);
            // SAFETY: connect(2) reads a.len() bytes of a live Vec.
            if unsafe { libc::connect(fd, a.as_ptr().cast(), a.len() as u32) } < 0 {
                return -1;
            }
            sendto(fd, b"hello", 0, std::ptr::null(), 0)
        }
        "sendmsg"
        | "sendmsg-negnamelen"
        | "sendmsg-compat-flag"
        | "sendmsg-iovmax"
        | "sendmsg-fault-iov"
        | "sendmsg-fault-control" => {
            let mut a = addr();
            let (mut first, mut second) = (*b"abc", *b"defg");
            let mut iov = vec![
                libc::iovec { iov_base: first.as_mut_ptr().cast(), iov_len: 3 },
                libc::iovec { iov_base: second.as_mut_ptr().cast(), iov_len: 4 },
            ];
            if op == "sendmsg-iovmax" {
                iov = (0..1025).map(|_| libc::iovec { iov_base: first.as_mut_ptr().cast(), iov_len: 1 }).collect();
            }
            let mut msg = msghdr(&mut a, &mut iov);
            let mut flags = 0;
            match op {
                "sendmsg-negnamelen" => msg.msg_namelen = u32::MAX,
                "sendmsg-compat-flag" => flags = MSG_CMSG_COMPAT,
                "sendmsg-fault-iov" => msg.msg_iov = UNMAPPED as *mut _,
                "sendmsg-fault-control" => {
                    msg.msg_control = UNMAPPED as *mut _;
                    msg.msg_controllen = 24;
                }
                _ => {}
            }
            // SAFETY: sendmsg(2) reads the msghdr, the name, iovecs and buffers above, all live (or unmapped on
            // purpose: the kernel fails with EFAULT).
            unsafe { libc::sendmsg(dgram_for(&a), &raw const msg, flags) as i64 }
        }
        "sendmsg-fault-msghdr" => {
            // SAFETY: socket(2) takes no pointers; sendmsg(2) fails reading the unmapped msghdr.
            unsafe { libc::sendmsg(libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0), UNMAPPED as *const _, 0) as i64 }
        }
        "sendmmsg" | "sendmmsg-badsecond" | "sendmmsg-none" => {
            let mut addrs: Vec<Vec<u8>> = args.iter().map(|a| sockaddr(a)).collect();
            if op == "sendmmsg-badsecond" {
                addrs.push(addrs[0].clone());
            }
            let mut bufs: Vec<[u8; 4]> = addrs.iter().map(|_| *b"mmsg").collect();
            let mut iovs: Vec<Vec<libc::iovec>> =
                bufs.iter_mut().map(|b| vec![libc::iovec { iov_base: b.as_mut_ptr().cast(), iov_len: 4 }]).collect();
            let fd = dgram_for(&addrs[0]);
            let mut msgs: Vec<libc::mmsghdr> = addrs
                .iter_mut()
                .zip(iovs.iter_mut())
                .map(|(a, iov)| libc::mmsghdr { msg_hdr: msghdr(a, iov), msg_len: 0 })
                .collect();
            if op == "sendmmsg-badsecond" {
                msgs[1].msg_hdr.msg_namelen = u32::MAX;
            }
            let vlen = if op == "sendmmsg-none" { 0 } else { msgs.len() as u32 };
            // SAFETY: sendmmsg(2) reads the live mmsghdrs (and what they point to) and writes their msg_len.
            let rc = unsafe { libc::sendmmsg(fd, msgs.as_mut_ptr(), vlen, 0) };
            if rc > 0 {
                let lens: Vec<String> = msgs.iter().map(|m| m.msg_len.to_string()).collect();
                println!("msg_len {}", lens.join(" "));
            }
            rc.into()
        }
        "fastopen" => {
            let a = addr();
            // SAFETY: socket(2) takes no pointers.
            let fd = unsafe { libc::socket(i32::from(family(&a)), libc::SOCK_STREAM, 0) };
            sendto(fd, b"hello", libc::MSG_FASTOPEN, a.as_ptr(), a.len() as u32)
        }
        "fastopen-connect" => {
            let a = addr();
            let on: i32 = 1;
            // SAFETY: socket(2) takes no pointers; setsockopt(2) reads one live int; connect(2) reads a live
            // sockaddr (with TCP_FASTOPEN_CONNECT it returns at once: the SYN waits for the first send).
            unsafe {
                let fd = libc::socket(i32::from(family(&a)), libc::SOCK_STREAM, 0);
                libc::setsockopt(fd, libc::IPPROTO_TCP, 30, (&raw const on).cast(), 4);
                if libc::connect(fd, a.as_ptr().cast(), a.len() as u32) < 0 {
                    return -1;
                }
                sendto(fd, b"hello", 0, std::ptr::null(), 0)
            }
        }
        "send-connecting" => send_connecting(),
        "block-send" => {
            // A 4 MiB blocking send on a TCP connection with the smallest buffers, to a peer that does not read.
            let a = addr();
            // SAFETY: socket(2) takes no pointers; connect(2) reads a live sockaddr.
            let fd = unsafe { libc::socket(i32::from(family(&a)), libc::SOCK_STREAM, 0) };
            small_buffers(fd);
            // SAFETY: as above.
            if unsafe { libc::connect(fd, a.as_ptr().cast(), a.len() as u32) } < 0 {
                return -1;
            }
            sendto(fd, &vec![b'b'; 4 << 20], 0, std::ptr::null(), 0)
        }
        "scm-rights" => scm_rights(&arg(0)),
        "scm-rights-badfd" | "scm-credentials" => scm_other(op, &arg(0)),
        "stream-send" => {
            let a = addr();
            let len: usize = arg(1).parse().unwrap_or_else(|_| usage());
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            // SAFETY: socket(2) takes no pointers; connect(2) reads a live sockaddr.
            let fd = unsafe { libc::socket(i32::from(family(&a)), libc::SOCK_STREAM, 0) };
            // SAFETY: as above.
            if unsafe { libc::connect(fd, a.as_ptr().cast(), a.len() as u32) } < 0 {
                return -1;
            }
            let (mut sent, mut calls) = (0, 0);
            while sent < len {
                let rc = sendto(fd, &data[sent..], 0, std::ptr::null(), 0);
                if rc < 0 {
                    return -1;
                }
                sent += rc as usize;
                calls += 1;
            }
            println!("calls {calls}");
            sent as i64
        }
        "sendto-on-inet" | "sendto-on-inet6" => {
            let a = addr();
            let family = if op == "sendto-on-inet" { libc::AF_INET } else { libc::AF_INET6 };
            // SAFETY: socket(2) takes no pointers.
            let fd = unsafe { libc::socket(family, libc::SOCK_DGRAM, 0) };
            sendto(fd, b"hello", 0, a.as_ptr(), a.len() as u32)
        }
        "sendto-socketpair" => {
            let a = addr();
            let mut pair = [0i32; 2];
            // SAFETY: socketpair(2) writes two ints into a live array.
            if unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, pair.as_mut_ptr()) } < 0 {
                return -1;
            }
            sendto(pair[0], b"hello", 0, a.as_ptr(), a.len() as u32)
        }
        "send-unconnected" => {
            let a = addr();
            sendto(dgram_for(&a), b"hello", 0, std::ptr::null(), 0)
        }
        "stall-send" => stall_send(&addr()),
        _ => usage(),
    }
}

fn family(addr: &[u8]) -> u16 {
    u16::from_ne_bytes([addr[0], addr[1]])
}

/// A datagram socket of the address's family.
fn dgram_for(addr: &[u8]) -> i32 {
    // SAFETY: socket(2) takes no pointers.
    let fd = unsafe { libc::socket(i32::from(family(addr)), libc::SOCK_DGRAM, 0) };
    if fd < 0 {
        report(-1);
    }
    fd
}

fn sendto(fd: i32, buf: &[u8], flags: i32, addr: *const u8, len: u32) -> i64 {
    // SAFETY: sendto(2) reads buf.len() bytes of a live slice and `len` bytes at `addr` (a live Vec, null, or an
    // address the kernel fails to read with EFAULT).
    unsafe { libc::sendto(fd, buf.as_ptr().cast(), buf.len(), flags, addr.cast(), len) as i64 }
}

fn msghdr(name: &mut [u8], iov: &mut [libc::iovec]) -> libc::msghdr {
    // SAFETY: an all-zero msghdr is valid (no name, no iovecs, no control).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = name.as_mut_ptr().cast();
    msg.msg_namelen = name.len() as u32;
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = iov.len();
    msg
}

/// A writable page followed by a PROT_NONE page; returns the writable one's address.
fn guarded_page() -> usize {
    // SAFETY: mmap(2) of two new anonymous pages, then mprotect(2) of the second; nothing else is touched.
    unsafe {
        let at = libc::mmap(
            std::ptr::null_mut(),
            8192,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if at == libc::MAP_FAILED || libc::mprotect(at.cast::<u8>().add(4096).cast(), 4096, libc::PROT_NONE) < 0 {
            report(-1);
        }
        at as usize
    }
}

fn scm_rights(addr: &str) -> i64 {
    let a = sockaddr(addr);
    let receiver = dgram_for(&a);
    let sender = dgram_for(&a);
    let mut pipe = [0i32; 2];
    // SAFETY: bind(2) reads a live sockaddr.
    let bound = unsafe { libc::bind(receiver, a.as_ptr().cast(), a.len() as u32) };
    // SAFETY: pipe(2) writes two ints into a live array.
    if bound < 0 || unsafe { libc::pipe(pipe.as_mut_ptr()) } < 0 {
        return -1;
    }
    let mut name = a.clone();
    let mut byte = *b"f";
    let mut iov = [libc::iovec { iov_base: byte.as_mut_ptr().cast(), iov_len: 1 }];
    let mut msg = msghdr(&mut name, &mut iov);
    let mut control = [0u64; 4];
    // SAFETY: CMSG_SPACE/CMSG_LEN compute sizes; the header and the fd are written inside `control` (32 bytes, the
    // space of one int), which msg_controllen covers.
    unsafe {
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(4) as usize;
        let cmsg = libc::CMSG_FIRSTHDR(&raw const msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(4) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<i32>(), pipe[1]);
    }
    // SAFETY: sendmsg(2) reads the live msghdr, name, iovec and control above.
    if unsafe { libc::sendmsg(sender, &raw const msg, 0) } < 0 {
        return -1;
    }
    // SAFETY: closes our own write end: only the received copy can write now.
    unsafe { libc::close(pipe[1]) };
    receive_and_use(receiver, pipe[0])
}

/// `scm-rights-badfd`: SCM_RIGHTS naming fd 999 (not open: EBADF); `scm-credentials`: SCM_CREDENTIALS with this
/// process's pid, uid and gid to a receiver with SO_PASSCRED; prints `pid P` as the receiver saw it.
fn scm_other(op: &str, addr: &str) -> i64 {
    let a = sockaddr(addr);
    let (receiver, sender) = (dgram_for(&a), dgram_for(&a));
    let on: i32 = 1;
    // SAFETY: bind(2) reads a live sockaddr; setsockopt(2) reads one live int.
    unsafe {
        if libc::bind(receiver, a.as_ptr().cast(), a.len() as u32) < 0 {
            return -1;
        }
        libc::setsockopt(receiver, libc::SOL_SOCKET, libc::SO_PASSCRED, (&raw const on).cast(), 4);
    }
    let mut name = a.clone();
    let mut byte = *b"c";
    let mut iov = [libc::iovec { iov_base: byte.as_mut_ptr().cast(), iov_len: 1 }];
    let mut msg = msghdr(&mut name, &mut iov);
    let mut control = [0u64; 6];
    // SAFETY: getpid/getuid/getgid take nothing; CMSG_* compute sizes and places inside `control` (48 bytes, more
    // than the space of a ucred), which msg_controllen covers.
    unsafe {
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control);
        let cmsg = libc::CMSG_FIRSTHDR(&raw const msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        if op == "scm-rights-badfd" {
            msg.msg_controllen = libc::CMSG_SPACE(4) as usize;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(4) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<i32>(), 999);
        } else {
            let creds = libc::ucred { pid: libc::getpid(), uid: libc::getuid(), gid: libc::getgid() };
            msg.msg_controllen = libc::CMSG_SPACE(12) as usize;
            (*cmsg).cmsg_type = libc::SCM_CREDENTIALS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(12) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::ucred>(), creds);
        }
    }
    // SAFETY: sendmsg(2) reads the live msghdr, name, iovec and control above.
    let rc = unsafe { libc::sendmsg(sender, &raw const msg, 0) };
    if rc < 0 || op == "scm-rights-badfd" {
        return rc as i64;
    }
    let mut got = [0u8; 1];
    let mut riov = [libc::iovec { iov_base: got.as_mut_ptr().cast(), iov_len: 1 }];
    let mut rcontrol = [0u64; 8];
    // SAFETY: an all-zero msghdr is valid; the pointers set are live buffers of the given lengths.
    let mut rmsg: libc::msghdr = unsafe { std::mem::zeroed() };
    rmsg.msg_iov = riov.as_mut_ptr();
    rmsg.msg_iovlen = 1;
    rmsg.msg_control = rcontrol.as_mut_ptr().cast();
    rmsg.msg_controllen = std::mem::size_of_val(&rcontrol);
    // SAFETY: recvmsg(2) writes into the live buffers above; CMSG_FIRSTHDR/CMSG_DATA read inside `rcontrol`.
    unsafe {
        if libc::recvmsg(receiver, &raw mut rmsg, 0) < 0 {
            return -1;
        }
        let cmsg = libc::CMSG_FIRSTHDR(&raw const rmsg);
        if !cmsg.is_null() && (*cmsg).cmsg_type == libc::SCM_CREDENTIALS {
            let seen = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::ucred>());
            let who = if seen.pid == libc::getpid() { "self" } else { "other" };
            println!("pid {who} uid {} gid {}", seen.uid, seen.gid);
        }
    }
    rc as i64
}

/// Receives one message with an fd on `receiver`, writes through that fd and reads it back from `read_end` (the
/// pipe it should be the write end of): 1 if the bytes came through.
pub fn receive_and_use(receiver: i32, read_end: i32) -> i64 {
    let mut got = [0u8; 1];
    let mut riov = [libc::iovec { iov_base: got.as_mut_ptr().cast(), iov_len: 1 }];
    let mut rcontrol = [0u64; 4];
    // SAFETY: an all-zero msghdr is valid; the pointers set are live buffers of the given lengths.
    let mut rmsg: libc::msghdr = unsafe { std::mem::zeroed() };
    rmsg.msg_iov = riov.as_mut_ptr();
    rmsg.msg_iovlen = 1;
    rmsg.msg_control = rcontrol.as_mut_ptr().cast();
    rmsg.msg_controllen = std::mem::size_of_val(&rcontrol);
    // SAFETY: recvmsg(2) writes into the live buffers above; CMSG_FIRSTHDR/CMSG_DATA read inside `rcontrol`.
    let received = unsafe {
        if libc::recvmsg(receiver, &raw mut rmsg, 0) < 0 {
            return -1;
        }
        let cmsg = libc::CMSG_FIRSTHDR(&raw const rmsg);
        if cmsg.is_null() || (*cmsg).cmsg_type != libc::SCM_RIGHTS {
            println!("no fd received");
            return 0;
        }
        std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<i32>())
    };
    let mut read = [0u8; 4];
    // SAFETY: write(2) of a literal to the received fd, read(2) into a live array from our read end.
    let ok = unsafe {
        libc::write(received, b"pipe".as_ptr().cast(), 4) == 4 && libc::read(read_end, read.as_mut_ptr().cast(), 4) == 4
    };
    i64::from(ok && &read == b"pipe")
}

fn stall_send(addr: &[u8]) -> i64 {
    // SAFETY: socket(2), bind(2) of a live local sockaddr_in, listen(2), getsockname(2) into it: no other memory.
    let (listener, target) = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        let mut sin: libc::sockaddr_in = std::mem::zeroed();
        sin.sin_family = libc::AF_INET as u16;
        sin.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        let mut len = std::mem::size_of::<libc::sockaddr_in>() as u32;
        small_buffers(fd);
        if libc::bind(fd, (&raw const sin).cast(), len) < 0 || libc::listen(fd, 4) < 0 {
            report(-1);
        }
        libc::getsockname(fd, (&raw mut sin).cast(), &raw mut len);
        let mut target = Vec::new();
        target.extend((libc::AF_INET as u16).to_ne_bytes());
        target.extend(u16::from_be(sin.sin_port).to_be_bytes());
        target.extend([127, 0, 0, 1]);
        target.extend([0; 8]);
        (fd, target)
    };
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    std::thread::spawn(move || {
        // SAFETY: socket(2) takes no pointers; connect(2) reads a live sockaddr.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
        small_buffers(fd);
        // SAFETY: as above.
        unsafe { libc::connect(fd, target.as_ptr().cast(), target.len() as u32) };
        // Nobody reads: a blocking send of 64 MiB waits once the buffers are full.
        let big = vec![0u8; 64 << 20];
        sendto(fd, &big, 0, target.as_ptr(), target.len() as u32);
        d.store(true, Ordering::SeqCst);
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    let start = std::time::Instant::now();
    let rc = sendto(dgram_for(addr), b"hello", 0, addr.as_ptr(), addr.len() as u32);
    let took = start.elapsed().as_millis();
    println!("stalled {} took {took}", u8::from(!done.load(Ordering::SeqCst)));
    let _ = listener;
    rc
}

/// The smallest send and receive buffers, so that a few kilobytes fill a connection.
fn small_buffers(fd: i32) {
    let size: i32 = 4096;
    for option in [libc::SO_SNDBUF, libc::SO_RCVBUF] {
        // SAFETY: setsockopt(2) reads one live int.
        unsafe { libc::setsockopt(fd, libc::SOL_SOCKET, option, (&raw const size).cast(), 4) };
    }
}

/// A non-blocking TCP connect to a listener of its own whose accept queue is full (backlog 0, never accepting), so
/// that it stays in SYN_SENT; then send() on it.
fn send_connecting() -> i64 {
    let (listener, full) = full_listener();
    // SAFETY: socket(2) takes no pointers; connect(2) reads a live sockaddr.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0) };
    // SAFETY: as above.
    unsafe { libc::connect(fd, full.as_ptr().cast(), full.len() as u32) };
    std::thread::sleep(std::time::Duration::from_millis(50));
    let _ = listener;
    sendto(fd, b"hello", 0, std::ptr::null(), 0)
}
