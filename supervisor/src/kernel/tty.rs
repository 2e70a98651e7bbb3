//! Terminal calls on supervise's own terminal: its foreground process group, the bytes waiting in its input, its
//! window size, and whether it takes output now.
//!
//! nix's safe calls where nix has the same call; the ioctls that nix has no wrapper for are raw.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use nix::unistd::Pid;

/// The terminal's foreground process group, if any.
#[must_use]
pub fn foreground(tty: BorrowedFd<'_>) -> Option<i32> {
    nix::unistd::tcgetpgrp(tty).ok().map(Pid::as_raw).filter(|&pgrp| pgrp > 0)
}

/// tcsetpgrp(3): makes `pgrp` the terminal's foreground process group. A caller in the background must block
/// SIGTTOU first.
///
/// # Errors
/// The call's error.
pub fn set_foreground(tty: BorrowedFd<'_>, pgrp: i32) -> io::Result<()> {
    nix::unistd::tcsetpgrp(tty, Pid::from_raw(pgrp)).map_err(|e| io::Error::from_raw_os_error(e as i32))
}

/// Bytes waiting in the terminal's input (ioctl FIONREAD); 0 if the call fails.
#[must_use]
pub fn pending_input(tty: BorrowedFd<'_>) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: ioctl(2) FIONREAD writes one int into `n`, a local of this frame, on a valid fd.
    let ok = unsafe { libc::ioctl(tty.as_raw_fd(), libc::FIONREAD, &mut n) } == 0;
    if ok {
        usize::try_from(n).unwrap_or(0)
    } else {
        0
    }
}

/// The terminal's window size (ioctl TIOCGWINSZ) as (columns, rows); `None` if the call fails or either is 0.
#[must_use]
pub fn window_size(tty: BorrowedFd<'_>) -> Option<(u16, u16)> {
    let mut ws = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: ioctl(2) TIOCGWINSZ fills one winsize, a local of this frame, on a valid fd.
    let ok = unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) } == 0;
    (ok && ws.ws_col > 0 && ws.ws_row > 0).then_some((ws.ws_col, ws.ws_row))
}

/// True if `fd` takes output now (poll(2) POLLOUT, without waiting).
#[must_use]
pub fn writable_now(fd: BorrowedFd<'_>) -> bool {
    let mut fds = [libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLOUT, revents: 0 }];
    // SAFETY: poll(2) on one pollfd of this frame, without waiting.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), 1, 0) };
    ready > 0 && fds[0].revents & libc::POLLOUT != 0
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::*;

    #[test]
    fn a_pipe_is_no_terminal() {
        let (read, write) = nix::unistd::pipe().unwrap();
        assert_eq!(foreground(read.as_fd()), None);
        assert!(set_foreground(read.as_fd(), 1).is_err());
        assert_eq!(window_size(read.as_fd()), None);
        assert_eq!(pending_input(read.as_fd()), 0);
        assert!(writable_now(write.as_fd()));
    }
}
