//! Symbolic names of recorded argument values (`AF_UNIX`, `TCGETS`, `O_RDONLY|O_CLOEXEC`, `F_GETFL`,
//! `PR_SET_NAME`), for the comments of `record --args` rules.

/// The symbolic name of a recorded argument value, for the rule's `comment` (loaders ignore it): `AF_UNIX`,
/// `TCGETS`, `O_RDONLY|O_CLOEXEC`, `F_GETFL`, `PR_SET_NAME`.
pub(super) fn symbolic(syscall: &str, index: u8, value: u64) -> Option<String> {
    fn find(table: &[(u64, &str)], value: u64) -> Option<String> {
        table.iter().find(|(v, _)| *v == value).map(|(_, n)| (*n).to_string())
    }
    #[allow(clippy::cast_sign_loss)]
    fn c(v: libc::c_int) -> u64 {
        v as u64
    }
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    fn io(v: libc::Ioctl) -> u64 {
        v as u64
    }
    match (syscall, index) {
        ("socket" | "socketpair", 0) => find(
            &[
                (c(libc::AF_UNSPEC), "AF_UNSPEC"),
                (c(libc::AF_UNIX), "AF_UNIX"),
                (c(libc::AF_INET), "AF_INET"),
                (c(libc::AF_INET6), "AF_INET6"),
                (c(libc::AF_NETLINK), "AF_NETLINK"),
                (c(libc::AF_PACKET), "AF_PACKET"),
                (c(libc::AF_BLUETOOTH), "AF_BLUETOOTH"),
                (c(libc::AF_ALG), "AF_ALG"),
                (c(libc::AF_VSOCK), "AF_VSOCK"),
            ],
            value,
        ),
        ("socket" | "socketpair", 1) => {
            let flags = [(c(libc::SOCK_NONBLOCK), "SOCK_NONBLOCK"), (c(libc::SOCK_CLOEXEC), "SOCK_CLOEXEC")];
            let base = flags.iter().fold(value, |v, (f, _)| v & !*f);
            let types = [
                (c(libc::SOCK_STREAM), "SOCK_STREAM"),
                (c(libc::SOCK_DGRAM), "SOCK_DGRAM"),
                (c(libc::SOCK_RAW), "SOCK_RAW"),
                (c(libc::SOCK_SEQPACKET), "SOCK_SEQPACKET"),
            ];
            let mut names = vec![find(&types, base)?];
            names.extend(flags.iter().filter(|(f, _)| value & *f != 0).map(|(_, n)| (*n).to_string()));
            Some(names.join("|"))
        }
        ("openat", 2) | ("open", 1) => Some(crate::core::describe::open_flags(value)),
        ("fcntl", 1) => find(
            &[
                (c(libc::F_DUPFD), "F_DUPFD"),
                (c(libc::F_GETFD), "F_GETFD"),
                (c(libc::F_SETFD), "F_SETFD"),
                (c(libc::F_GETFL), "F_GETFL"),
                (c(libc::F_SETFL), "F_SETFL"),
                (c(libc::F_GETLK), "F_GETLK"),
                (c(libc::F_SETLK), "F_SETLK"),
                (c(libc::F_SETLKW), "F_SETLKW"),
                (c(libc::F_OFD_GETLK), "F_OFD_GETLK"),
                (c(libc::F_OFD_SETLK), "F_OFD_SETLK"),
                (c(libc::F_OFD_SETLKW), "F_OFD_SETLKW"),
                (c(libc::F_DUPFD_CLOEXEC), "F_DUPFD_CLOEXEC"),
                (c(libc::F_SETPIPE_SZ), "F_SETPIPE_SZ"),
                (c(libc::F_GETPIPE_SZ), "F_GETPIPE_SZ"),
                (c(libc::F_ADD_SEALS), "F_ADD_SEALS"),
                (c(libc::F_GET_SEALS), "F_GET_SEALS"),
            ],
            value,
        ),
        ("ioctl", 1) => find(
            &[
                (io(libc::TCGETS), "TCGETS"),
                (io(libc::TCSETS), "TCSETS"),
                (io(libc::TCSETSW), "TCSETSW"),
                (io(libc::TCSETSF), "TCSETSF"),
                (io(libc::TCFLSH), "TCFLSH"),
                (io(libc::TIOCSCTTY), "TIOCSCTTY"),
                (io(libc::TIOCGPGRP), "TIOCGPGRP"),
                (io(libc::TIOCSPGRP), "TIOCSPGRP"),
                (io(libc::TIOCGWINSZ), "TIOCGWINSZ"),
                (io(libc::TIOCSWINSZ), "TIOCSWINSZ"),
                (io(libc::FIONREAD), "FIONREAD"),
                (io(libc::FIONBIO), "FIONBIO"),
                (io(libc::FIOCLEX), "FIOCLEX"),
                (io(libc::FIONCLEX), "FIONCLEX"),
                (io(libc::TIOCGPTN), "TIOCGPTN"),
                (io(libc::TIOCSPTLCK), "TIOCSPTLCK"),
            ],
            value,
        ),
        ("prctl", 0) => find(
            &[
                (c(libc::PR_SET_PDEATHSIG), "PR_SET_PDEATHSIG"),
                (c(libc::PR_GET_DUMPABLE), "PR_GET_DUMPABLE"),
                (c(libc::PR_SET_DUMPABLE), "PR_SET_DUMPABLE"),
                (c(libc::PR_SET_KEEPCAPS), "PR_SET_KEEPCAPS"),
                (c(libc::PR_SET_NAME), "PR_SET_NAME"),
                (c(libc::PR_GET_NAME), "PR_GET_NAME"),
                (c(libc::PR_GET_SECCOMP), "PR_GET_SECCOMP"),
                (c(libc::PR_SET_SECCOMP), "PR_SET_SECCOMP"),
                (c(libc::PR_CAPBSET_READ), "PR_CAPBSET_READ"),
                (c(libc::PR_CAPBSET_DROP), "PR_CAPBSET_DROP"),
                (c(libc::PR_SET_MM), "PR_SET_MM"),
                (c(libc::PR_SET_CHILD_SUBREAPER), "PR_SET_CHILD_SUBREAPER"),
                (c(libc::PR_SET_NO_NEW_PRIVS), "PR_SET_NO_NEW_PRIVS"),
                (c(libc::PR_GET_NO_NEW_PRIVS), "PR_GET_NO_NEW_PRIVS"),
                (c(libc::PR_CAP_AMBIENT), "PR_CAP_AMBIENT"),
                (0x5356_4d41, "PR_SET_VMA"),
            ],
            value,
        ),
        ("personality", 0) => match value {
            0 => Some("PER_LINUX".into()),
            8 => Some("PER_LINUX32".into()),
            0xffff_ffff => Some("0xffffffff (query)".into()),
            _ => None,
        },
        _ => None,
    }
}
