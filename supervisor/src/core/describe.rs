//! Decoded syscall arguments for people: paths as strings (resolved against the target's cwd or dirfd), flags and
//! modes as names (`O_WRONLY|O_CREAT`, `0755`), numbers as numbers. Used by prompts and logs; decisions never rest on
//! what this module reads (it may be stale by the time anyone looks).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::kernel::pending::Pending;
use crate::kernel::{proc, Fail};

/// How to show one argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A path, relative to the target's cwd.
    Path,
    /// A path relative to the dirfd in argument `n`.
    PathAt(usize),
    /// A string shown as is (the target of a symlink).
    Str,
    /// A directory fd (`AT_FDCWD` by name).
    Dirfd,
    OpenFlags,
    Mode,
    AtFlags,
    Int,
}

use Kind::*;

const TABLE: &[(&str, &[Kind])] = &[
    ("open", &[Path, OpenFlags, Mode]),
    ("openat", &[Dirfd, PathAt(0), OpenFlags, Mode]),
    ("openat2", &[Dirfd, PathAt(0)]),
    ("creat", &[Path, Mode]),
    ("mkdir", &[Path, Mode]),
    ("mkdirat", &[Dirfd, PathAt(0), Mode]),
    ("unlink", &[Path]),
    ("unlinkat", &[Dirfd, PathAt(0), AtFlags]),
    ("rmdir", &[Path]),
    ("rename", &[Path, Path]),
    ("renameat", &[Dirfd, PathAt(0), Dirfd, PathAt(2)]),
    ("renameat2", &[Dirfd, PathAt(0), Dirfd, PathAt(2), Int]),
    ("link", &[Path, Path]),
    ("linkat", &[Dirfd, PathAt(0), Dirfd, PathAt(2), AtFlags]),
    ("symlink", &[Str, Path]),
    ("symlinkat", &[Str, Dirfd, PathAt(1)]),
    ("chmod", &[Path, Mode]),
    ("fchmodat", &[Dirfd, PathAt(0), Mode]),
    ("fchmodat2", &[Dirfd, PathAt(0), Mode, AtFlags]),
    ("chown", &[Path, Int, Int]),
    ("lchown", &[Path, Int, Int]),
    ("fchownat", &[Dirfd, PathAt(0), Int, Int, AtFlags]),
    ("truncate", &[Path, Int]),
    ("execve", &[Path]),
    ("execveat", &[Dirfd, PathAt(0)]),
    ("access", &[Path, Int]),
    ("faccessat", &[Dirfd, PathAt(0), Int]),
    ("faccessat2", &[Dirfd, PathAt(0), Int, AtFlags]),
    ("stat", &[Path]),
    ("lstat", &[Path]),
    ("newfstatat", &[Dirfd, PathAt(0)]),
    ("statx", &[Dirfd, PathAt(0), AtFlags]),
    ("chdir", &[Path]),
    ("chroot", &[Path]),
    ("mknod", &[Path, Mode]),
    ("mknodat", &[Dirfd, PathAt(0), Mode]),
    ("utimensat", &[Dirfd, PathAt(0)]),
];

/// The decoded arguments, and the first resolved path if the syscall has one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Described {
    pub args: String,
    pub path: Option<String>,
}

/// Decodes the arguments of `syscall` from a pending notification. Memory reads are checked with `NOTIF_ID_VALID`;
/// `None` means the notification is gone.
pub fn describe(pending: Pending<'_>, syscall: &str) -> Option<Described> {
    let n = pending.n;
    let Some((_, kinds)) = TABLE.iter().find(|(name, _)| *name == syscall) else {
        let args: Vec<String> = n.args.iter().map(|a| a.to_string()).collect();
        return Some(Described { args: args.join(", "), path: None });
    };
    let mut shown = Vec::new();
    let mut first_path = None;
    for (i, kind) in kinds.iter().enumerate() {
        let raw = n.args[i];
        let text = match kind {
            Path | PathAt(_) | Str => match pending.read_cstring(raw, 4096) {
                Err(Fail::Gone) => return None,
                Err(Fail::Errno(errno)) => format!("<unreadable {raw:#x}: {errno}>"),
                Ok(bytes) => {
                    if *kind == Str {
                        format!("\"{}\"", show(&bytes))
                    } else {
                        let dirfd = match kind {
                            PathAt(d) => n.args[*d] as i32,
                            _ => libc::AT_FDCWD,
                        };
                        let resolved = resolve(n.pid, dirfd, Path::new(OsStr::from_bytes(&bytes)));
                        let shown = show(resolved.as_os_str().as_bytes());
                        first_path.get_or_insert_with(|| shown.clone());
                        format!("\"{shown}\"")
                    }
                }
            },
            Dirfd if raw as i32 == libc::AT_FDCWD => "AT_FDCWD".into(),
            Dirfd | Int => (raw as i64).to_string(),
            OpenFlags => open_flags(raw),
            Mode => format!("{:04o}", raw & 0o7777),
            AtFlags => at_flags(raw),
        };
        shown.push(text);
    }
    Some(Described { args: shown.join(", "), path: first_path })
}

/// The arguments of a call with a socket address, with the address decided on (`93.184.216.34 port 443`) in place of
/// its pointer: `3, 93.184.216.34 port 443, 16`. For a call whose address is inside a structure (`sendmsg`), the
/// address comes first: `93.184.216.34 port 53; 3, 140…, 0`.
pub fn with_address(syscall: &str, args: &[u64; 6], address: &str) -> String {
    use proto::net::{address_arg, AddressArg};
    match address_arg(syscall) {
        Some(AddressArg::Direct { addr, len, .. }) => (0..=addr.max(len))
            .map(|i| if i == addr { address.to_string() } else { (args[i] as i64).to_string() })
            .collect::<Vec<_>>()
            .join(", "),
        _ => format!("{address}; {}", args.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ")),
    }
}

/// Resolves `path` lexically against the target's cwd or the directory its `dirfd` refers to: for people, and for
/// deciding on a path that the kernel would refuse anyway (`crate::kernel::view` resolves for real).
pub fn resolve(pid: u32, dirfd: i32, path: &Path) -> PathBuf {
    if path.as_os_str().as_bytes().first() == Some(&b'/') {
        return normalize(path);
    }
    let base = if dirfd == libc::AT_FDCWD { proc::cwd(pid) } else { proc::fd_link(pid, dirfd) };
    match base {
        Some(base) => normalize(&base.join(path)),
        None => path.into(),
    }
}

/// Removes `.` and `..` lexically.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::Normal(p) => out.push(p),
            _ => {}
        }
    }
    out
}

/// A path for a log line or a question: bytes that are not printable UTF-8 escaped (`caf\xe9`), never lost.
pub fn show(path: &[u8]) -> String {
    path.escape_ascii().to_string()
}

const OPEN_FLAGS: &[(u64, &str)] = &[
    (libc::O_CREAT as u64, "O_CREAT"),
    (libc::O_EXCL as u64, "O_EXCL"),
    (libc::O_NOCTTY as u64, "O_NOCTTY"),
    (libc::O_TRUNC as u64, "O_TRUNC"),
    (libc::O_APPEND as u64, "O_APPEND"),
    (libc::O_NONBLOCK as u64, "O_NONBLOCK"),
    (libc::O_DSYNC as u64, "O_DSYNC"),
    (libc::O_DIRECT as u64, "O_DIRECT"),
    (libc::O_DIRECTORY as u64, "O_DIRECTORY"),
    (libc::O_NOFOLLOW as u64, "O_NOFOLLOW"),
    (libc::O_NOATIME as u64, "O_NOATIME"),
    (libc::O_CLOEXEC as u64, "O_CLOEXEC"),
    (libc::O_PATH as u64, "O_PATH"),
    (0o20000000, "O_TMPFILE"),
    (0o4000000, "O_SYNC"),
    (0o100000, "O_LARGEFILE"),
];

/// `O_WRONLY|O_CREAT|O_TRUNC`.
pub fn open_flags(flags: u64) -> String {
    let mut names = vec![match flags & 3 {
        0 => "O_RDONLY",
        1 => "O_WRONLY",
        2 => "O_RDWR",
        _ => "O_ACCMODE",
    }
    .to_string()];
    let mut rest = flags & !3;
    for &(bit, name) in OPEN_FLAGS {
        if rest & bit == bit {
            names.push(name.into());
            rest &= !bit;
        }
    }
    if rest != 0 {
        names.push(format!("{rest:#o}"));
    }
    names.join("|")
}

fn at_flags(flags: u64) -> String {
    const AT: &[(u64, &str)] = &[
        (libc::AT_SYMLINK_NOFOLLOW as u64, "AT_SYMLINK_NOFOLLOW"),
        (libc::AT_REMOVEDIR as u64, "AT_REMOVEDIR"),
        (libc::AT_SYMLINK_FOLLOW as u64, "AT_SYMLINK_FOLLOW"),
        (libc::AT_EMPTY_PATH as u64, "AT_EMPTY_PATH"),
    ];
    if flags == 0 {
        return "0".into();
    }
    let mut names: Vec<String> = AT.iter().filter(|(b, _)| flags & b != 0).map(|(_, n)| n.to_string()).collect();
    let rest = AT.iter().fold(flags, |r, (b, _)| r & !b);
    if rest != 0 {
        names.push(format!("{rest:#x}"));
    }
    names.join("|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_modes_read_as_names() {
        let table = [
            (0, "O_RDONLY"),
            (libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC, "O_WRONLY|O_CREAT|O_TRUNC"),
            (libc::O_RDWR | libc::O_CLOEXEC | libc::O_DIRECTORY, "O_RDWR|O_DIRECTORY|O_CLOEXEC"),
        ];
        for (flags, want) in table {
            assert_eq!(open_flags(flags as u64), want);
        }
        assert_eq!(at_flags(libc::AT_REMOVEDIR as u64), "AT_REMOVEDIR");
    }

    #[test]
    fn the_address_takes_the_place_of_its_pointer() {
        let args = [3, 0x7ffd_0000, 16, 0, 0, 0];
        assert_eq!(with_address("connect", &args, "127.0.0.1 port 80"), "3, 127.0.0.1 port 80, 16");
        let send = [3, 0x7ffd_0000, 5, 0, 0x7ffd_1000, 16];
        assert_eq!(with_address("sendto", &send, "[::1] port 53"), "3, 2147287040, 5, 0, [::1] port 53, 16");
    }

    #[test]
    fn relative_paths_resolve_against_cwd_and_normalize() {
        let pid = std::process::id();
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(resolve(pid, libc::AT_FDCWD, Path::new("a/../b")), cwd.join("b"));
        assert_eq!(resolve(pid, libc::AT_FDCWD, Path::new("/etc/passwd")), Path::new("/etc/passwd"));
        assert_eq!(normalize(Path::new("/a/./b/../../c")), Path::new("/c"));
        assert_eq!(show(b"/tmp/caf\xe9\n"), "/tmp/caf\\xe9\\n");
    }
}
