//! Which arguments of a syscall are paths, how the kernel resolves each (relative to which dirfd, whether it
//! follows a symlink in the last component), for every path syscall of every architecture supervise filters.
//!
//! [`path_args`] is the one table: the supervisor reads the paths that a `paths` matcher decides on from it, and a
//! policy whose `paths` matcher names a syscall without a path argument is refused at load
//! ([`has_path_args`]). Names are the same on every architecture where the syscall exists (the i386 `*32`/`*64`
//! variants are listed under their own names).

/// Whether the kernel follows a symlink in the last component of a path argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// Always followed (`stat`, `chmod`, `execve`, …).
    Always,
    /// Never followed: the call acts on the link itself (`lstat`, `lchown`, `readlink`). A trailing slash still
    /// makes the kernel follow it, as for any lookup.
    Never,
    /// The call acts on the last component inside its parent (`mkdir`, `unlink`, `rmdir`, `rename`, the new name
    /// of `link` and `symlink`, `mknod`): never followed, not even with a trailing slash.
    Parent,
    /// Followed unless `bit` is set in argument `arg` (`AT_SYMLINK_NOFOLLOW`).
    Unless { arg: usize, bit: u64 },
    /// Followed only if `bit` is set in argument `arg` (`linkat`'s `AT_SYMLINK_FOLLOW`).
    If { arg: usize, bit: u64 },
    /// As `open(2)` decides from the flags in argument `arg`: not with `O_NOFOLLOW`, nor with `O_CREAT|O_EXCL`.
    OpenFlags { arg: usize },
    /// As `openat2(2)` decides from the flags in its `struct open_how` (argument 2).
    OpenHow,
}

/// When an empty path is allowed and names the dirfd itself; otherwise it fails with ENOENT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Empty {
    No,
    /// With `bit` set in argument `arg` (`AT_EMPTY_PATH`).
    Flag {
        arg: usize,
        bit: u64,
    },
    /// Always (`readlinkat`).
    Always,
}

impl Empty {
    /// True if an empty path names the dirfd, given the raw arguments.
    pub fn allowed(self, args: &[u64; 6]) -> bool {
        match self {
            Empty::No => false,
            Empty::Flag { arg, bit } => args[arg] & bit != 0,
            Empty::Always => true,
        }
    }
}

/// One path argument of a syscall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathArg {
    /// The argument that holds the path's address.
    pub path: usize,
    /// The argument that holds the dirfd a relative path is resolved against; `None`: the cwd.
    pub dirfd: Option<usize>,
    pub follow: Follow,
    /// When an empty path names the dirfd itself.
    pub empty: Empty,
    /// A null pointer is allowed and names the dirfd itself (`utimensat`, `fanotify_mark`).
    pub nullable: bool,
}

const AT_SYMLINK_NOFOLLOW: u64 = 0x100;
const AT_SYMLINK_FOLLOW: u64 = 0x400;
const AT_EMPTY_PATH: u64 = 0x1000;

const fn p(path: usize, follow: Follow) -> PathArg {
    PathArg { path, dirfd: None, follow, empty: Empty::No, nullable: false }
}

const fn at(dirfd: usize, path: usize, follow: Follow) -> PathArg {
    PathArg { path, dirfd: Some(dirfd), follow, empty: Empty::No, nullable: false }
}

/// `*at` calls with an `AT_*` flags argument: `AT_SYMLINK_NOFOLLOW` and `AT_EMPTY_PATH` in argument `flags`.
const fn at_flags(dirfd: usize, path: usize, flags: usize) -> PathArg {
    PathArg {
        path,
        dirfd: Some(dirfd),
        follow: Follow::Unless { arg: flags, bit: AT_SYMLINK_NOFOLLOW },
        empty: Empty::Flag { arg: flags, bit: AT_EMPTY_PATH },
        nullable: false,
    }
}

use Follow::{Always, Never, Parent};

const TABLE: &[(&str, &[PathArg])] = &[
    // The families supervise performs itself (emulation).
    ("open", &[p(0, Follow::OpenFlags { arg: 1 })]),
    ("openat", &[at(0, 1, Follow::OpenFlags { arg: 2 })]),
    ("openat2", &[at(0, 1, Follow::OpenHow)]),
    ("creat", &[p(0, Always)]),
    ("mkdir", &[p(0, Parent)]),
    ("mkdirat", &[at(0, 1, Parent)]),
    ("unlink", &[p(0, Parent)]),
    ("unlinkat", &[at(0, 1, Parent)]),
    ("rmdir", &[p(0, Parent)]),
    // Two paths.
    ("rename", &[p(0, Parent), p(1, Parent)]),
    ("renameat", &[at(0, 1, Parent), at(2, 3, Parent)]),
    ("renameat2", &[at(0, 1, Parent), at(2, 3, Parent)]),
    ("link", &[p(0, Never), p(1, Parent)]),
    (
        "linkat",
        &[
            PathArg {
                path: 1,
                dirfd: Some(0),
                follow: Follow::If { arg: 4, bit: AT_SYMLINK_FOLLOW },
                empty: Empty::Flag { arg: 4, bit: AT_EMPTY_PATH },
                nullable: false,
            },
            at(2, 3, Parent),
        ],
    ),
    ("pivot_root", &[p(0, Always), p(1, Always)]),
    (
        "move_mount",
        &[
            PathArg {
                path: 1,
                dirfd: Some(0),
                follow: Follow::If { arg: 4, bit: 0x01 },
                empty: Empty::Flag { arg: 4, bit: 0x04 },
                nullable: false,
            },
            PathArg {
                path: 3,
                dirfd: Some(2),
                follow: Follow::If { arg: 4, bit: 0x10 },
                empty: Empty::Flag { arg: 4, bit: 0x40 },
                nullable: false,
            },
        ],
    ),
    // The new name of a symlink (its target is text, not a path to resolve).
    ("symlink", &[p(1, Parent)]),
    ("symlinkat", &[at(1, 2, Parent)]),
    ("mknod", &[p(0, Parent)]),
    ("mknodat", &[at(0, 1, Parent)]),
    // Attributes.
    ("chmod", &[p(0, Always)]),
    ("fchmodat", &[at(0, 1, Always)]),
    ("fchmodat2", &[at_flags(0, 1, 3)]),
    ("chown", &[p(0, Always)]),
    ("chown32", &[p(0, Always)]),
    ("lchown", &[p(0, Never)]),
    ("lchown32", &[p(0, Never)]),
    ("fchownat", &[at_flags(0, 1, 4)]),
    ("truncate", &[p(0, Always)]),
    ("truncate64", &[p(0, Always)]),
    ("utime", &[p(0, Always)]),
    ("utimes", &[p(0, Always)]),
    ("futimesat", &[PathArg { nullable: true, ..at(0, 1, Always) }]),
    ("utimensat", &[PathArg { nullable: true, ..at_flags(0, 1, 3) }]),
    ("utimensat_time64", &[PathArg { nullable: true, ..at_flags(0, 1, 3) }]),
    ("setxattr", &[p(0, Always)]),
    ("getxattr", &[p(0, Always)]),
    ("listxattr", &[p(0, Always)]),
    ("removexattr", &[p(0, Always)]),
    ("lsetxattr", &[p(0, Never)]),
    ("lgetxattr", &[p(0, Never)]),
    ("llistxattr", &[p(0, Never)]),
    ("lremovexattr", &[p(0, Never)]),
    ("setxattrat", &[at_flags(0, 1, 2)]),
    ("getxattrat", &[at_flags(0, 1, 2)]),
    ("listxattrat", &[at_flags(0, 1, 2)]),
    ("removexattrat", &[at_flags(0, 1, 2)]),
    // Looking.
    ("access", &[p(0, Always)]),
    ("faccessat", &[at(0, 1, Always)]),
    ("faccessat2", &[at_flags(0, 1, 3)]),
    ("stat", &[p(0, Always)]),
    ("stat64", &[p(0, Always)]),
    ("oldstat", &[p(0, Always)]),
    ("lstat", &[p(0, Never)]),
    ("lstat64", &[p(0, Never)]),
    ("oldlstat", &[p(0, Never)]),
    ("newfstatat", &[at_flags(0, 1, 3)]),
    ("fstatat64", &[at_flags(0, 1, 3)]),
    ("statx", &[at_flags(0, 1, 2)]),
    ("statfs", &[p(0, Always)]),
    ("statfs64", &[p(0, Always)]),
    ("readlink", &[p(0, Never)]),
    ("readlinkat", &[PathArg { empty: Empty::Always, ..at(0, 1, Never) }]),
    ("name_to_handle_at", &[PathArg { follow: Follow::If { arg: 4, bit: AT_SYMLINK_FOLLOW }, ..at_flags(0, 1, 4) }]),
    ("inotify_add_watch", &[p(1, Follow::Unless { arg: 2, bit: 0x0100_0000 })]),
    // Running and places.
    ("execve", &[p(0, Always)]),
    ("execveat", &[at_flags(0, 1, 4)]),
    ("uselib", &[p(0, Always)]),
    ("chdir", &[p(0, Always)]),
    ("chroot", &[p(0, Always)]),
    ("acct", &[p(0, Always)]),
    ("swapon", &[p(0, Always)]),
    ("swapoff", &[p(0, Always)]),
    ("quotactl", &[p(1, Always)]),
    // Mounts: the mount point (a source is not always a path).
    ("mount", &[p(1, Always)]),
    ("umount", &[p(0, Always)]),
    ("umount2", &[p(0, Follow::Unless { arg: 1, bit: 0x8 })]),
    ("open_tree", &[at_flags(0, 1, 2)]),
    ("mount_setattr", &[at_flags(0, 1, 2)]),
];

/// `text` as a glob (of `paths`, `exe`, `unix:` and `abstract:` patterns) that matches only itself: the glob
/// metacharacters `*?[]{}\` escaped with a backslash.
pub fn glob_literal(text: &str) -> String {
    text.chars().fold(String::new(), |mut out, c| {
        if matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | '\\') {
            out.push('\\');
        }
        out.push(c);
        out
    })
}

/// The path arguments of `syscall`, in argument order; empty for a syscall without one.
pub fn path_args(syscall: &str) -> &'static [PathArg] {
    TABLE.iter().find(|(name, _)| *name == syscall).map_or(&[], |(_, args)| args)
}

/// True if `syscall` has a path argument, so that a `paths` matcher can decide on it.
pub fn has_path_args(syscall: &str) -> bool {
    !path_args(syscall).is_empty()
}

/// Every syscall with a path argument.
pub fn path_syscalls() -> impl Iterator<Item = &'static str> {
    TABLE.iter().map(|(name, _)| *name)
}

/// True if a trailing slash makes the kernel follow a symlink in the last component (every lookup does; calls that
/// act on the name in its parent do not).
pub fn slash_follows(follow: Follow) -> bool {
    follow != Follow::Parent
}

/// Whether the kernel follows a symlink in the last component, given the raw arguments (and, for
/// [`Follow::OpenHow`], the flags from `struct open_how`).
pub fn follows(follow: Follow, args: &[u64; 6], open_how_flags: u64) -> bool {
    const O_CREAT: u64 = 0o100;
    const O_EXCL: u64 = 0o200;
    const O_NOFOLLOW: u64 = 0o400000;
    let open = |flags: u64| flags & O_NOFOLLOW == 0 && flags & (O_CREAT | O_EXCL) != (O_CREAT | O_EXCL);
    match follow {
        Follow::Always => true,
        Follow::Never | Follow::Parent => false,
        Follow::Unless { arg, bit } => args[arg] & bit == 0,
        Follow::If { arg, bit } => args[arg] & bit != 0,
        Follow::OpenFlags { arg } => open(args[arg]),
        Follow::OpenHow => open(open_how_flags),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_of_path_syscalls_is_in_the_table() {
        for name in [
            "open",
            "openat2",
            "creat",
            "rename",
            "linkat",
            "setxattr",
            "lremovexattr",
            "utimes",
            "futimesat",
            "name_to_handle_at",
            "chown32",
            "lchown32",
            "truncate64",
            "stat64",
            "fstatat64",
            "statfs64",
            "utimensat_time64",
            "execveat",
            "mknodat",
            "symlinkat",
            "inotify_add_watch",
        ] {
            assert!(has_path_args(name), "{name}");
        }
        for name in ["read", "getpid", "fchmod", "fstat", "connect"] {
            assert!(!has_path_args(name), "{name}");
        }
        let names: Vec<&str> = path_syscalls().collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "a syscall is listed twice");
    }

    #[test]
    fn following_the_last_component_is_decided_as_the_kernel_does() {
        let args = |a: [u64; 6]| a;
        let open = path_args("open")[0].follow;
        assert!(follows(open, &args([0, 0, 0, 0, 0, 0]), 0));
        assert!(!follows(open, &args([0, 0o400000, 0, 0, 0, 0]), 0), "O_NOFOLLOW");
        assert!(!follows(open, &args([0, 0o300, 0, 0, 0, 0]), 0), "O_CREAT|O_EXCL never follows");
        assert!(follows(open, &args([0, 0o100, 0, 0, 0, 0]), 0), "O_CREAT alone follows");
        let stat = path_args("newfstatat")[0].follow;
        assert!(follows(stat, &args([0, 0, 0, 0, 0, 0]), 0));
        assert!(!follows(stat, &args([0, 0, 0, 0x100, 0, 0]), 0));
        let link = path_args("linkat")[0].follow;
        assert!(!follows(link, &args([0; 6]), 0));
        assert!(follows(link, &args([0, 0, 0, 0, 0x400, 0]), 0));
        assert!(!follows(path_args("openat2")[0].follow, &args([0; 6]), 0o400000));
    }
}
