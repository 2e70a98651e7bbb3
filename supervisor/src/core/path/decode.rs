//! Decoding an emulated path call from its registers (and the memory its non-path arguments point to) into an
//! [`Op`], with the checks the kernel makes before it reads a path, in the kernel's order.
//!
//! 32-bit x86 programs pass some arguments differently (16-bit ids for `chown`/`lchown`, a split 64-bit length for
//! `truncate64`, 32-bit times for `utime`, `utimes`, `futimesat` and `utimensat`): decoded here too.

use proto::Errno;

use crate::kernel::pending::{Pending, Step};
use crate::kernel::view::errno;
use crate::kernel::view::walk::RESOLVE_CACHED;

/// `AUDIT_ARCH_I386`: a notification from a 32-bit x86 program (`int 0x80`).
const AUDIT_ARCH_I386: u32 = 0x4000_0003;

// Open flags (asm-generic/fcntl.h, x86).
pub(super) const O_TMPFILE_BIT: u64 = 0o20000000;
const VALID_OPEN_FLAGS: u64 = 0o3
    | 0o100
    | 0o200
    | 0o400
    | 0o1000
    | 0o2000
    | 0o4000
    | 0o10000
    | 0o20000
    | 0o40000
    | 0o100000
    | 0o200000
    | 0o400000
    | 0o1000000
    | 0o2000000
    | 0o4000000
    | 0o10000000
    | O_TMPFILE_BIT;
const O_PATH_FLAGS: u64 = (libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_PATH | libc::O_CLOEXEC) as u64;
const VALID_RESOLVE_FLAGS: u64 = 0x3f;

/// What to do, decoded from the registers and the memory of the non-path arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `struct open_how` as the kernel builds it.
    Open {
        flags: u64,
        mode: u64,
        resolve: u64,
    },
    Mkdir {
        mode: u32,
    },
    Unlink {
        flags: i32,
    },
    /// renameat2(2) flags (RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT).
    Rename {
        flags: u32,
    },
    /// linkat(2): the kernel's flags were applied by the walk (AT_SYMLINK_FOLLOW) or name the dirfd (AT_EMPTY_PATH).
    Link,
    /// symlinkat(2): the new link's text.
    Symlink {
        text: Vec<u8>,
    },
    /// fchmodat2(2); `nofollow`: the program asked not to follow a symlink in the last component.
    Chmod {
        mode: u32,
        nofollow: bool,
    },
    /// fchownat(2) ids (`u32::MAX`: unchanged); `nofollow` as for [`Op::Chmod`].
    Chown {
        uid: u32,
        gid: u32,
        nofollow: bool,
    },
    Truncate {
        length: i64,
    },
    /// utimensat(2) times (`None`: now); `nofollow` as for [`Op::Chmod`].
    Utimes {
        times: Option<[libc::timespec; 2]>,
        nofollow: bool,
    },
    Mknod {
        mode: u32,
        dev: u64,
    },
    /// The kernel returns 0 without looking at the path (utimensat with both times UTIME_OMIT).
    Nothing,
}

impl Op {
    /// Decodes and validates the call as the kernel does before it reads the path (open.c `build_open_how`,
    /// `build_open_flags`; `copy_struct_from_user` for openat2).
    ///
    /// # Errors
    /// The kernel's errno for bad flags, modes or `struct open_how` (EINVAL, E2BIG, EFAULT, EAGAIN); `Gone`.
    pub fn decode(pending: Pending<'_>, syscall: &str) -> Step<Op> {
        let a = pending.n.args;
        let compat = pending.n.arch == AUDIT_ARCH_I386;
        let at_flags = |flags: u64, allowed: i32| -> Result<i32, Errno> {
            let flags = flags as i32;
            if flags & !allowed != 0 {
                return Err(Errno::EINVAL);
            }
            Ok(flags)
        };
        let nofollow = |flags: i32| flags & libc::AT_SYMLINK_NOFOLLOW != 0;
        let op = match syscall {
            "open" => open_how(a[1], a[2]),
            "openat" => open_how(a[2], a[3]),
            "creat" => open_how((libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC) as u64, a[1]),
            "openat2" => {
                let (flags, mode, resolve) = read_open_how(pending)?;
                Op::Open { flags, mode, resolve }
            }
            "mkdir" => Op::Mkdir { mode: a[1] as u32 },
            "mkdirat" => Op::Mkdir { mode: a[2] as u32 },
            "unlink" => Op::Unlink { flags: 0 },
            "unlinkat" => Op::Unlink { flags: at_flags(a[2], libc::AT_REMOVEDIR)? },
            "rmdir" => Op::Unlink { flags: libc::AT_REMOVEDIR },
            "rename" | "renameat" => Op::Rename { flags: 0 },
            "renameat2" => {
                let flags = a[4] as u32;
                let (noreplace, exchange, whiteout) = (1, 2, 4);
                if flags & !(noreplace | exchange | whiteout) != 0
                    || (flags & exchange != 0 && flags & (noreplace | whiteout) != 0)
                {
                    return Err(Errno::EINVAL.into());
                }
                Op::Rename { flags }
            }
            "link" => Op::Link,
            "linkat" => {
                at_flags(a[4], libc::AT_SYMLINK_FOLLOW | libc::AT_EMPTY_PATH)?;
                Op::Link
            }
            "symlink" | "symlinkat" => {
                let text = pending.read_cstring(a[0], crate::core::facts::PATH_MAX)?;
                if text.is_empty() {
                    return Err(Errno::ENOENT.into());
                }
                Op::Symlink { text }
            }
            "chmod" => Op::Chmod { mode: a[1] as u32, nofollow: false },
            "fchmodat" => Op::Chmod { mode: a[2] as u32, nofollow: false },
            "fchmodat2" => {
                let flags = at_flags(a[3], libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH)?;
                Op::Chmod { mode: a[2] as u32, nofollow: nofollow(flags) }
            }
            // The 32-bit x86 chown and lchown take 16-bit ids (0xffff: unchanged); chown32 and lchown32 do not.
            "chown" | "lchown" if compat => Op::Chown { uid: id16(a[1]), gid: id16(a[2]), nofollow: false },
            "chown" | "lchown" | "chown32" | "lchown32" => {
                Op::Chown { uid: a[1] as u32, gid: a[2] as u32, nofollow: false }
            }
            "fchownat" => {
                let flags = at_flags(a[4], libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH)?;
                Op::Chown { uid: a[2] as u32, gid: a[3] as u32, nofollow: nofollow(flags) }
            }
            "truncate" => {
                let length = if compat { i64::from(a[1] as u32 as i32) } else { a[1] as i64 };
                if length < 0 {
                    return Err(Errno::EINVAL.into());
                }
                Op::Truncate { length }
            }
            "truncate64" => {
                let length = ((a[2] << 32) | (a[1] & 0xffff_ffff)) as i64;
                if length < 0 {
                    return Err(Errno::EINVAL.into());
                }
                Op::Truncate { length }
            }
            "utime" => {
                let times = read_times(pending, a[1], if compat { Times::Utimbuf32 } else { Times::Utimbuf })?;
                Op::Utimes { times, nofollow: false }
            }
            "utimes" | "futimesat" => {
                let arg = if syscall == "utimes" { a[1] } else { a[2] };
                let layout = if compat { Times::Timeval32 } else { Times::Timeval };
                let times = read_times(pending, arg, layout)?;
                Op::Utimes { times, nofollow: false }
            }
            "utimensat" | "utimensat_time64" => {
                // The kernel copies the times before it looks at the flags.
                let layout = if compat && syscall == "utimensat" { Times::Timespec32 } else { Times::Timespec };
                let times = read_times(pending, a[2], layout)?;
                if times.is_some_and(|t| t[0].tv_nsec == libc::UTIME_OMIT && t[1].tv_nsec == libc::UTIME_OMIT) {
                    return Ok(Op::Nothing);
                }
                let flags = at_flags(a[3], libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH)?;
                if a[1] == 0 && flags != 0 {
                    // A null path is the fd itself, which takes no flags.
                    return Err(Errno::EINVAL.into());
                }
                Op::Utimes { times, nofollow: nofollow(flags) }
            }
            "mknod" => Op::Mknod { mode: a[1] as u32, dev: a[2] & 0xffff_ffff },
            "mknodat" => Op::Mknod { mode: a[2] as u32, dev: a[3] & 0xffff_ffff },
            _ => return Err(Errno::ENOSYS.into()),
        };
        if let Op::Open { flags, mode, resolve } = op {
            check_open_flags(flags, mode, resolve)?;
        }
        if let Op::Mknod { mode, .. } = op {
            // fs/namei.c may_mknod: regular files, devices, FIFOs and sockets (0 is a regular file).
            let kind = mode & libc::S_IFMT;
            let kinds = [0, libc::S_IFREG, libc::S_IFCHR, libc::S_IFBLK, libc::S_IFIFO, libc::S_IFSOCK];
            if kind == libc::S_IFDIR {
                return Err(errno(libc::EPERM).into());
            }
            if !kinds.contains(&kind) {
                return Err(Errno::EINVAL.into());
            }
        }
        Ok(op)
    }

    /// True if the call may create a file, whose mode depends on the target's umask.
    pub fn creates(&self) -> bool {
        match self {
            Op::Open { flags, .. } => flags & (libc::O_CREAT as u64 | O_TMPFILE_BIT) != 0,
            Op::Mkdir { .. } | Op::Mknod { .. } => true,
            _ => false,
        }
    }

    /// The target's `RESOLVE_*` flags (openat2), which the walk honours too.
    pub fn resolve(&self) -> u64 {
        match *self {
            Op::Open { resolve, .. } => resolve,
            _ => 0,
        }
    }

    /// The open flags, for deciding whether the last component is followed.
    pub fn open_flags(&self) -> u64 {
        match *self {
            Op::Open { flags, .. } => flags,
            _ => 0,
        }
    }

    /// True for the open family: a `.` or `..` last component is stepped through.
    pub fn is_open(&self) -> bool {
        matches!(self, Op::Open { .. })
    }
}

/// open.c `build_open_how` for `open`/`openat`: unknown bits are dropped, `O_PATH` keeps only its own flags, a mode
/// only with a creating flag.
fn open_how(flags: u64, mode: u64) -> Op {
    let mut flags = (flags as u32 as u64) & VALID_OPEN_FLAGS;
    if flags & libc::O_PATH as u64 != 0 {
        flags &= O_PATH_FLAGS;
    }
    let creates = flags & (libc::O_CREAT as u64 | O_TMPFILE_BIT) != 0;
    Op::Open { flags, mode: if creates { mode & 0o7777 } else { 0 }, resolve: 0 }
}

/// openat2's `struct open_how` (size in argument 3), as `copy_struct_from_user` takes it.
fn read_open_how(pending: Pending<'_>) -> Step<(u64, u64, u64)> {
    let size = pending.n.args[3];
    if size < 24 {
        return Err(Errno::EINVAL.into());
    }
    if size > 4096 {
        return Err(errno(libc::E2BIG).into());
    }
    let bytes = pending.read(pending.n.args[2], size as usize)?;
    if bytes.len() < size as usize {
        return Err(Errno::EFAULT.into());
    }
    if bytes[24..].iter().any(|&b| b != 0) {
        return Err(errno(libc::E2BIG).into());
    }
    let word = |i: usize| u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    Ok((word(0), word(1), word(2)))
}

/// open.c `build_open_flags`: the checks made before the path is read.
fn check_open_flags(flags: u64, mode: u64, resolve: u64) -> Result<(), Errno> {
    let flags = flags & !(libc::O_CLOEXEC as u64);
    if flags & !VALID_OPEN_FLAGS != 0 || resolve & !VALID_RESOLVE_FLAGS != 0 {
        return Err(Errno::EINVAL);
    }
    if resolve & 0x08 != 0 && resolve & 0x10 != 0 {
        return Err(Errno::EINVAL);
    }
    let creates = flags & (libc::O_CREAT as u64 | O_TMPFILE_BIT) != 0;
    if (creates && mode & !0o7777 != 0) || (!creates && mode != 0) {
        return Err(Errno::EINVAL);
    }
    let dir_creat = (libc::O_DIRECTORY | libc::O_CREAT) as u64;
    if flags & dir_creat == dir_creat {
        return Err(Errno::EINVAL);
    }
    if flags & O_TMPFILE_BIT != 0 && (flags & libc::O_DIRECTORY as u64 == 0 || flags & 3 == 0) {
        return Err(Errno::EINVAL);
    }
    if flags & libc::O_PATH as u64 != 0 && flags & !O_PATH_FLAGS != 0 {
        return Err(Errno::EINVAL);
    }
    if resolve & RESOLVE_CACHED != 0 && flags & (libc::O_TRUNC as u64 | libc::O_CREAT as u64 | O_TMPFILE_BIT) != 0 {
        return Err(errno(libc::EAGAIN));
    }
    Ok(())
}

/// A 16-bit id of the 32-bit x86 `chown` family: 0xffff means "unchanged".
fn id16(raw: u64) -> u32 {
    match raw as u16 {
        0xffff => u32::MAX,
        id => u32::from(id),
    }
}

/// How a times argument is laid out in the program's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Times {
    /// `struct timespec[2]` (utimensat).
    Timespec,
    /// `struct old_timespec32[2]` (32-bit utimensat).
    Timespec32,
    /// `struct timeval[2]` (utimes, futimesat).
    Timeval,
    Timeval32,
    /// `struct utimbuf` (utime): whole seconds.
    Utimbuf,
    Utimbuf32,
}

/// Reads the times at `addr` (null: now) as utimensat(2) timespecs, with the kernel's checks: EFAULT, and EINVAL
/// for microseconds out of range (`utimes`) or nanoseconds that are not UTIME_NOW/UTIME_OMIT or in range.
fn read_times(pending: Pending<'_>, addr: u64, layout: Times) -> Step<Option<[libc::timespec; 2]>> {
    if addr == 0 {
        return Ok(None);
    }
    let (size, word) = match layout {
        Times::Timespec | Times::Timeval | Times::Utimbuf => (8usize, 8usize),
        Times::Timespec32 | Times::Timeval32 | Times::Utimbuf32 => (4, 4),
    };
    let words = if matches!(layout, Times::Utimbuf | Times::Utimbuf32) { 2 } else { 4 };
    let bytes = pending.read(addr, size * words)?;
    if bytes.len() < size * words {
        return Err(Errno::EFAULT.into());
    }
    let get = |i: usize| -> i64 {
        let b = &bytes[i * word..(i + 1) * word];
        if word == 8 {
            i64::from_le_bytes(b.try_into().expect("8 bytes"))
        } else {
            i64::from(i32::from_le_bytes(b.try_into().expect("4 bytes")))
        }
    };
    let ts = |sec: i64, nsec: i64| libc::timespec { tv_sec: sec, tv_nsec: nsec };
    let times = match layout {
        Times::Utimbuf | Times::Utimbuf32 => [ts(get(0), 0), ts(get(1), 0)],
        Times::Timeval | Times::Timeval32 => {
            let (u0, u1) = (get(1), get(3));
            if !(0..1_000_000).contains(&u0) || !(0..1_000_000).contains(&u1) {
                return Err(Errno::EINVAL.into());
            }
            [ts(get(0), u0 * 1000), ts(get(2), u1 * 1000)]
        }
        Times::Timespec | Times::Timespec32 => {
            let valid = |ns: i64| (0..1_000_000_000).contains(&ns) || ns == libc::UTIME_NOW || ns == libc::UTIME_OMIT;
            if !valid(get(1)) || !valid(get(3)) {
                return Err(Errno::EINVAL.into());
            }
            [ts(get(0), get(1)), ts(get(2), get(3))]
        }
    };
    Ok(Some(times))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_flags_are_normalised_and_checked_as_the_kernel_does() {
        let o = |flags: i32| flags as u64;
        assert_eq!(open_how(0x4000_0000 | o(libc::O_RDONLY), 0o644), Op::Open { flags: 0, mode: 0, resolve: 0 });
        assert_eq!(
            open_how(o(libc::O_PATH | libc::O_RDWR | libc::O_NOFOLLOW), 0),
            Op::Open { flags: o(libc::O_PATH | libc::O_NOFOLLOW), mode: 0, resolve: 0 }
        );
        let ok = |flags: i32, mode: u64, resolve: u64| check_open_flags(flags as u64, mode, resolve);
        assert_eq!(ok(0x4000_0000, 0, 0), Err(Errno::EINVAL), "openat2 refuses unknown bits");
        assert_eq!(ok(0, 0o644, 0), Err(Errno::EINVAL), "a mode without O_CREAT");
        assert_eq!(ok(libc::O_CREAT, 0o10000, 0), Err(Errno::EINVAL), "a mode beyond 07777");
        assert_eq!(ok(libc::O_CREAT | libc::O_DIRECTORY, 0, 0), Err(Errno::EINVAL));
        assert_eq!(ok(libc::O_TMPFILE | libc::O_RDONLY, 0, 0), Err(Errno::EINVAL), "O_TMPFILE needs write");
        assert_eq!(ok(libc::O_PATH | libc::O_RDWR, 0, 0), Err(Errno::EINVAL));
        assert_eq!(ok(0, 0, 0x08 | 0x10), Err(Errno::EINVAL), "BENEATH and IN_ROOT");
        assert_eq!(ok(0, 0, 0x40), Err(Errno::EINVAL), "unknown RESOLVE_ bit");
        assert_eq!(ok(libc::O_TRUNC, 0, RESOLVE_CACHED), Err(errno(libc::EAGAIN)));
        assert_eq!(ok(libc::O_RDWR | libc::O_CREAT | libc::O_CLOEXEC, 0o600, 0x04), Ok(()));
    }
}
