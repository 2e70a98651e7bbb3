//! The ops: one path call each, with the entries its directory holds beyond the base set, what to set up before
//! (fds, a rename, the umask), what to look at afterwards, and how to fingerprint a returned fd.
//!
//! Paths are bytes. In a path, `{0}`, `{1}`… are the numbers of the fds made by the op's `pre` steps, `{cwd}` is
//! the op's directory as an absolute path, `{tid}` the thread id.

mod attrs;
mod dirs;
mod link;
mod mknod;
mod open;
mod openat2;
mod proc;
mod rename;
mod times;

use crate::sys::Sys;
use crate::tree::Node;

pub struct Op {
    pub name: String,
    pub call: Call,
    pub tree: Vec<Node>,
    pub pre: Vec<Pre>,
    pub umask: Option<u32>,
    /// Paths (relative to the op's directory) whose lstat is printed after the call.
    pub check: Vec<Vec<u8>>,
    /// Paths whose stat (following symlinks, magic links included) is printed after the call.
    pub follow: Vec<Vec<u8>>,
    /// Whether each state shows the access and modification times (the tree then starts at fixed times).
    pub times: bool,
    pub fp: Fp,
}

pub enum Call {
    Open {
        path: Vec<u8>,
        flags: i32,
        mode: u32,
    },
    Openat {
        dfd: Dfd,
        path: Vec<u8>,
        flags: i32,
        mode: u32,
    },
    /// `how` is `struct open_how` and the words after it; `size` is what the call passes.
    Openat2 {
        dfd: Dfd,
        path: Vec<u8>,
        how: [u64; 8],
        size: usize,
    },
    Creat {
        path: Vec<u8>,
        mode: u32,
    },
    Mkdir {
        path: Vec<u8>,
        mode: u32,
    },
    Mkdirat {
        dfd: Dfd,
        path: Vec<u8>,
        mode: u32,
    },
    Unlink {
        path: Vec<u8>,
    },
    Unlinkat {
        dfd: Dfd,
        path: Vec<u8>,
        flags: i32,
    },
    Rmdir {
        path: Vec<u8>,
    },
    /// A call of the two-path, attribute and node families with its arguments in order; the state of every `Arg::Path` is shown
    /// after it.
    Sys {
        sys: Sys,
        args: Vec<Arg>,
    },
}

/// An argument of a [`Call::Sys`].
pub enum Arg {
    Fd(Dfd),
    /// A path the call resolves (relative to the `Fd` just before it, if there is one).
    Path(Vec<u8>),
    /// A string the kernel does not resolve (a symlink's target).
    Text(Vec<u8>),
    Null,
    Int(i64),
    /// The program's own effective uid / gid, whatever the mode.
    OwnUid,
    OwnGid,
    /// `struct timespec[2]` (atime, mtime) as seconds and nanoseconds.
    Times([i64; 4]),
}

/// A dirfd argument.
#[derive(Clone, Copy)]
pub enum Dfd {
    Cwd,
    Raw(i32),
    /// The fd made by the op's `pre` step number N.
    Pre(usize),
}

/// A step before the call. Fd-making steps number their fds from 0 in order (a pipe makes two: read, write end).
pub enum Pre {
    /// `open_tree(path)`: an O_PATH fd (following a final symlink), without any call of the families under test.
    Tree(&'static [u8]),
    /// A memfd holding the text.
    Memfd(&'static str),
    /// A pipe holding the text.
    Pipe(&'static str),
    /// `open_tree(path, AT_SYMLINK_NOFOLLOW)`: an O_PATH fd of a symlink itself.
    TreeNofollow(&'static [u8]),
    /// `openat(AT_FDCWD, path, flags | O_CLOEXEC, 0600)` through io_uring: a real fd without an open the policy sees.
    Open(&'static [u8], i32),
    /// A connected pair of Unix sockets (two fds).
    Socket,
    /// `rename(from, to)` in the op's directory (through io_uring).
    Rename(&'static [u8], &'static [u8]),
    /// `unlinkat(path, flags)` in the op's directory (through io_uring): a file left open, deleted.
    Unlink(&'static [u8], i32),
    /// A tmpfs (mode 0777) mounted on the directory with `fsdiff run --tmpfs` (given where the program is root in a
    /// mount namespace of its own; else nothing); unmounted after the op.
    Tmpfs(&'static [u8]),
    /// Closes the fd of step N (leaving a gap in the fd table).
    Close(usize),
}

/// How to fingerprint a returned fd, beyond type, mode, owner, flags, FD_CLOEXEC and position.
pub enum Fp {
    /// By type: first line of a regular file, which known directory and its entries, a symlink's target, a
    /// device's numbers.
    Auto,
    None,
    /// A /proc status file: the Name, Uid, Gid and CapEff lines, and whether Pid/Tgid are this thread's.
    Status,
    /// /proc/PID/mem: a pread at the address of a static of this program: `mem=own` when its bytes come back.
    Mem,
    /// The whole content, NULs shown as `|` (environ, cmdline).
    Content,
    /// Length and hash of the whole content (for what must not be printed, such as init's environment).
    Hash,
    /// /proc/PID/maps: `maps=own` when this program's executable is mapped.
    Maps,
    /// The lines that start with one of these prefixes.
    Lines(&'static [&'static str]),
    /// Whether the fd is the same object (device and inode) as the path stat'ed (followed) just before the call.
    SameAs(&'static [u8]),
}

impl Op {
    fn new(name: &str, call: Call) -> Op {
        Op {
            name: name.to_string(),
            call,
            tree: Vec::new(),
            pre: Vec::new(),
            umask: None,
            check: Vec::new(),
            follow: Vec::new(),
            times: false,
            fp: Fp::Auto,
        }
    }
    pub fn follow(mut self, path: &[u8]) -> Op {
        self.follow.push(path.to_vec());
        self
    }
    pub fn times(mut self) -> Op {
        self.times = true;
        self
    }
    pub fn tree(mut self, nodes: Vec<Node>) -> Op {
        self.tree.extend(nodes);
        self
    }
    pub fn pre(mut self, step: Pre) -> Op {
        self.pre.push(step);
        self
    }
    pub fn umask(mut self, mask: u32) -> Op {
        self.umask = Some(mask);
        self
    }
    pub fn check(mut self, path: &[u8]) -> Op {
        self.check.push(path.to_vec());
        self
    }
    pub fn fp(mut self, fp: Fp) -> Op {
        self.fp = fp;
        self
    }
}

pub fn open(name: &str, path: &[u8], flags: i32, mode: u32) -> Op {
    Op::new(name, Call::Open { path: path.to_vec(), flags, mode })
}

pub fn openat(name: &str, dfd: Dfd, path: &[u8], flags: i32, mode: u32) -> Op {
    Op::new(name, Call::Openat { dfd, path: path.to_vec(), flags, mode })
}

/// `openat2` with `struct open_how { flags, mode, resolve }` and its own size (24).
pub fn openat2(name: &str, dfd: Dfd, path: &[u8], flags: u64, mode: u64, resolve: u64) -> Op {
    openat2_sized(name, dfd, path, [flags, mode, resolve, 0, 0, 0, 0, 0], 24)
}

pub fn openat2_sized(name: &str, dfd: Dfd, path: &[u8], how: [u64; 8], size: usize) -> Op {
    Op::new(name, Call::Openat2 { dfd, path: path.to_vec(), how, size })
}

pub fn creat(name: &str, path: &[u8], mode: u32) -> Op {
    Op::new(name, Call::Creat { path: path.to_vec(), mode })
}

pub fn mkdir(name: &str, path: &[u8], mode: u32) -> Op {
    Op::new(name, Call::Mkdir { path: path.to_vec(), mode })
}

pub fn mkdirat(name: &str, dfd: Dfd, path: &[u8], mode: u32) -> Op {
    Op::new(name, Call::Mkdirat { dfd, path: path.to_vec(), mode })
}

pub fn unlink(name: &str, path: &[u8]) -> Op {
    Op::new(name, Call::Unlink { path: path.to_vec() })
}

pub fn unlinkat(name: &str, dfd: Dfd, path: &[u8], flags: i32) -> Op {
    Op::new(name, Call::Unlinkat { dfd, path: path.to_vec(), flags })
}

pub fn rmdir(name: &str, path: &[u8]) -> Op {
    Op::new(name, Call::Rmdir { path: path.to_vec() })
}

pub fn sys(name: &str, sys: Sys, args: Vec<Arg>) -> Op {
    Op::new(name, Call::Sys { sys, args })
}

/// A path argument.
pub fn p(path: &[u8]) -> Arg {
    Arg::Path(path.to_vec())
}

/// Every op, in the order they run. Names are unique and usable as directory names.
pub fn all() -> Vec<Op> {
    let mut ops = Vec::new();
    ops.extend(open::ops());
    ops.extend(openat2::ops());
    ops.extend(dirs::ops());
    ops.extend(proc::ops());
    ops.extend(rename::ops());
    ops.extend(link::ops());
    ops.extend(attrs::ops());
    ops.extend(times::ops());
    ops.extend(mknod::ops());
    let mut names = std::collections::BTreeSet::new();
    for op in &ops {
        let ok = op.name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        assert!(ok && names.insert(op.name.clone()), "bad or repeated op name {:?}", op.name);
    }
    ops
}
