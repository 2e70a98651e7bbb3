//! The prepared tree: one directory per op, named after it, holding the base set of entries plus the op's own.
//! `fsdiff prepare ROOT UID` builds it (as root, before each run), so each op starts from a defined state whatever
//! the ops before it did.

use crate::sys::{self, c};

/// Another user: owner of the files the target does not own.
pub const OTHER: u32 = 4242;

/// Who owns an entry.
#[derive(Clone, Copy, Debug)]
pub enum Who {
    /// The uid and gid the program runs as (0 or 65534, from the mode).
    Target,
    /// [`OTHER`].
    Other,
    Root,
}

/// An entry, by its path relative to the op's directory. Entries are made in order, so parents come first.
#[derive(Clone, Debug)]
pub enum Node {
    File {
        path: Vec<u8>,
        mode: u32,
        owner: Who,
        group: Who,
        text: &'static str,
    },
    Dir {
        path: Vec<u8>,
        mode: u32,
        owner: Who,
        group: Who,
    },
    Link {
        path: Vec<u8>,
        target: Vec<u8>,
        owner: Who,
    },
    Fifo {
        path: Vec<u8>,
        mode: u32,
        owner: Who,
    },
    /// Another name (a hard link) of an entry made before.
    Hard {
        path: Vec<u8>,
        to: Vec<u8>,
    },
    /// A node made by mknod: `kind` is S_IFCHR, S_IFBLK or S_IFSOCK, `dev` its device number.
    Special {
        path: Vec<u8>,
        kind: u32,
        dev: libc::dev_t,
        mode: u32,
        owner: Who,
    },
}

pub fn file(path: &[u8], text: &'static str) -> Node {
    Node::File { path: path.to_vec(), mode: 0o644, owner: Who::Target, group: Who::Target, text }
}

pub fn file_as(path: &[u8], mode: u32, owner: Who, text: &'static str) -> Node {
    Node::File { path: path.to_vec(), mode, owner, group: owner, text }
}

/// A file whose group is not its owner's.
pub fn file_group(path: &[u8], mode: u32, owner: Who, group: Who, text: &'static str) -> Node {
    Node::File { path: path.to_vec(), mode, owner, group, text }
}

pub fn hard(path: &[u8], to: &[u8]) -> Node {
    Node::Hard { path: path.to_vec(), to: to.to_vec() }
}

/// `/dev/null`'s double (1:3), of the target, mode 0666.
pub fn null_dev(path: &[u8]) -> Node {
    Node::Special {
        path: path.to_vec(),
        kind: libc::S_IFCHR,
        dev: libc::makedev(1, 3),
        mode: 0o666,
        owner: Who::Target,
    }
}

/// A socket inode (no one listening), of the target.
pub fn sock(path: &[u8]) -> Node {
    Node::Special { path: path.to_vec(), kind: libc::S_IFSOCK, dev: 0, mode: 0o755, owner: Who::Target }
}

pub fn dir(path: &[u8]) -> Node {
    Node::Dir { path: path.to_vec(), mode: 0o755, owner: Who::Target, group: Who::Target }
}

pub fn dir_as(path: &[u8], mode: u32, owner: Who, group: Who) -> Node {
    Node::Dir { path: path.to_vec(), mode, owner, group }
}

pub fn link(path: &[u8], target: &[u8]) -> Node {
    Node::Link { path: path.to_vec(), target: target.to_vec(), owner: Who::Target }
}

pub fn link_as(path: &[u8], target: &[u8], owner: Who) -> Node {
    Node::Link { path: path.to_vec(), target: target.to_vec(), owner }
}

pub fn fifo_as(path: &[u8], mode: u32, owner: Who) -> Node {
    Node::Fifo { path: path.to_vec(), mode, owner }
}

/// What every op directory holds.
pub fn base() -> Vec<Node> {
    vec![
        file(b"f", "file f\n"),
        dir(b"d"),
        file(b"d/g", "file d/g\n"),
        dir(b"d/sub"),
        link(b"ln_f", b"f"),
        link(b"ln_d", b"d"),
        link(b"dangling", b"newtarget"),
        fifo_as(b"fifo", 0o644, Who::Target),
    ]
}

/// `ro/`: a directory the target cannot write (unless it may override permissions), with a file.
pub fn ro() -> Vec<Node> {
    vec![dir_as(b"ro", 0o555, Who::Target, Who::Target), file(b"ro/f", "file ro/f\n"), dir(b"ro/sub")]
}

/// `other600`: another user's private file; `other_d/`: another user's 0700 directory.
pub fn other() -> Vec<Node> {
    vec![
        file_as(b"other600", 0o600, Who::Other, "secret\n"),
        dir_as(b"other_d", 0o700, Who::Other, Who::Other),
        file_as(b"other_d/f", 0o644, Who::Other, "file other_d/f\n"),
    ]
}

/// `sticky/`: a sticky world-writable directory of root, with entries of another user and of the target: the
/// cases of fs.protected_symlinks, protected_regular and protected_fifos.
pub fn sticky() -> Vec<Node> {
    vec![
        dir_as(b"sticky", 0o1777, Who::Root, Who::Root),
        link_as(b"sticky/other_link", b"../f", Who::Other),
        link_as(b"sticky/mine_link", b"../f", Who::Target),
        file_as(b"sticky/other_file", 0o666, Who::Other, "other file\n"),
        fifo_as(b"sticky/other_fifo", 0o666, Who::Other),
        file_as(b"sticky/mine", 0o644, Who::Target, "mine\n"),
        dir_as(b"sticky/other_dir", 0o777, Who::Other, Who::Other),
    ]
}

/// `sgid/`: a setgid world-writable directory whose group is another user's.
pub fn sgid() -> Vec<Node> {
    vec![dir_as(b"sgid", 0o2777, Who::Root, Who::Other)]
}

/// `chain/s0 → s1 → … → s40 → ../f`: `s1` takes 40 symlinks to reach `f`, `s0` 41.
pub fn chain() -> Vec<Node> {
    let mut nodes = vec![dir(b"chain")];
    for i in 0..=40 {
        let target = if i == 40 { b"../f".to_vec() } else { format!("s{}", i + 1).into_bytes() };
        nodes.push(link(format!("chain/s{i}").as_bytes(), &target));
    }
    nodes
}

/// A relative path of exactly `len` bytes to the file `deep_f` at the bottom of a chain of long directory names
/// (255-byte components at most); made by [`deep`].
pub fn deep_path(len: usize) -> Vec<u8> {
    assert!(len > 300);
    let mut path = Vec::new();
    let mut left = len - "deep_f".len();
    while left > 0 {
        // Never leave a single byte, which could not hold a component and its slash.
        let comp = if left <= 255 {
            left - 1
        } else if left - 255 >= 2 {
            254
        } else {
            200
        };
        path.extend(vec![b'L'; comp]);
        path.push(b'/');
        left -= comp + 1;
    }
    path.extend_from_slice(b"deep_f");
    assert_eq!(path.len(), len);
    path
}

/// The directories and the file of [`deep_path`]`(len)`.
pub fn deep(len: usize) -> Vec<Node> {
    let path = deep_path(len);
    let mut nodes = Vec::new();
    for (i, &b) in path.iter().enumerate() {
        if b == b'/' {
            nodes.push(dir(&path[..i]));
        }
    }
    nodes.push(file(&path, "deep file\n"));
    nodes
}

/// The atime and mtime of every entry of an op that shows times, set when its directory is complete.
pub const PREPARED_TIME: i64 = 1_000_000_000;

fn ids(who: Who, target: u32) -> u32 {
    match who {
        Who::Target => target,
        Who::Other => OTHER,
        Who::Root => 0,
    }
}

/// Builds ROOT/<op>/… for every op; the op directories and ROOT belong to `target` (mode 0755).
pub fn prepare(root: &[u8], target: u32, ops: &[crate::ops::Op]) -> Result<(), String> {
    let err = |what: &str, path: &[u8], e: i32| {
        format!("prepare: {what} {}: {}", String::from_utf8_lossy(path), sys::errno_name(e))
    };
    sys::mkdirat(libc::AT_FDCWD, &c(root), 0o755).map_err(|e| err("mkdir", root, e))?;
    own(libc::AT_FDCWD, root, target, target, 0o755).map_err(|e| err("chown", root, e))?;
    let rootfd = sys::open_tree(libc::AT_FDCWD, &c(root), 0).map_err(|e| err("open_tree", root, e))? as i32;
    for op in ops {
        let name = op.name.as_bytes();
        sys::mkdirat(rootfd, &c(name), 0o755).map_err(|e| err("mkdir", name, e))?;
        own(rootfd, name, target, target, 0o755).map_err(|e| err("chown", name, e))?;
        let fd = sys::open_tree(rootfd, &c(name), 0).map_err(|e| err("open_tree", name, e))? as i32;
        for node in base().iter().chain(&op.tree) {
            make(fd, node, target).map_err(|e| err("make", &[name, b"/", path_of(node)].concat(), e))?;
        }
        if op.times {
            for path in base().iter().chain(&op.tree).map(path_of).chain([&b"."[..]]) {
                set_times(fd, path).map_err(|e| err("utimensat", &[name, b"/", path].concat(), e))?;
            }
        }
        sys::close(fd);
    }
    sys::close(rootfd);
    Ok(())
}

fn path_of(node: &Node) -> &[u8] {
    match node {
        Node::File { path, .. }
        | Node::Dir { path, .. }
        | Node::Link { path, .. }
        | Node::Fifo { path, .. }
        | Node::Hard { path, .. }
        | Node::Special { path, .. } => path,
    }
}

fn make(fd: i32, node: &Node, target: u32) -> Result<(), i32> {
    let path = c(path_of(node));
    match node {
        Node::File { mode, owner, group, text, .. } => {
            let f = sys::openat(fd, &path, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC, 0o600)?;
            let written = sys::write(f as i32, text.as_bytes());
            sys::close(f as i32);
            written?;
            own(fd, path.to_bytes(), ids(*owner, target), ids(*group, target), *mode)
        }
        Node::Hard { to, .. } => {
            let to = c(to);
            // SAFETY: both paths are NUL-terminated and alive for the call.
            if unsafe { libc::linkat(fd, to.as_ptr(), fd, path.as_ptr(), 0) } < 0 {
                return Err(sys::errno());
            }
            Ok(())
        }
        Node::Special { kind, dev, mode, owner, .. } => {
            // SAFETY: `path` is NUL-terminated and alive for the call.
            if unsafe { libc::mknodat(fd, path.as_ptr(), kind | 0o600, *dev) } < 0 {
                return Err(sys::errno());
            }
            own(fd, path.to_bytes(), ids(*owner, target), ids(*owner, target), *mode)
        }
        Node::Dir { mode, owner, group, .. } => {
            sys::mkdirat(fd, &path, 0o700)?;
            own(fd, path.to_bytes(), ids(*owner, target), ids(*group, target), *mode)
        }
        Node::Fifo { mode, owner, .. } => {
            // SAFETY: `path` is NUL-terminated and alive for the call.
            if unsafe { libc::mknodat(fd, path.as_ptr(), libc::S_IFIFO | 0o600, 0) } < 0 {
                return Err(sys::errno());
            }
            own(fd, path.to_bytes(), ids(*owner, target), ids(*owner, target), *mode)
        }
        Node::Link { target: to, owner, .. } => {
            let to = c(to);
            // SAFETY: both paths are NUL-terminated and alive for the call.
            if unsafe { libc::symlinkat(to.as_ptr(), fd, path.as_ptr()) } < 0 {
                return Err(sys::errno());
            }
            let id = ids(*owner, target);
            // SAFETY: `path` is NUL-terminated and alive for the call.
            if unsafe { libc::fchownat(fd, path.as_ptr(), id, id, libc::AT_SYMLINK_NOFOLLOW) } < 0 {
                return Err(sys::errno());
            }
            Ok(())
        }
    }
}

/// Sets the atime and mtime of `path` (not following a symlink) to [`PREPARED_TIME`].
fn set_times(fd: i32, path: &[u8]) -> Result<(), i32> {
    let path = c(path);
    // SAFETY: an all-zero timespec is a valid value.
    let mut ts: [libc::timespec; 2] = unsafe { std::mem::zeroed() };
    ts[0].tv_sec = PREPARED_TIME;
    ts[1].tv_sec = PREPARED_TIME;
    // SAFETY: `path` is NUL-terminated and `ts` two timespecs, both alive for the call.
    if unsafe { libc::utimensat(fd, path.as_ptr(), ts.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) } < 0 {
        return Err(sys::errno());
    }
    Ok(())
}

/// chown, then chmod (chown clears the set-id bits).
fn own(fd: i32, path: &[u8], uid: u32, gid: u32, mode: u32) -> Result<(), i32> {
    let path = c(path);
    // SAFETY: `path` is NUL-terminated and alive for both calls.
    unsafe {
        if libc::fchownat(fd, path.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW) < 0 {
            return Err(sys::errno());
        }
        if libc::fchmodat(fd, path.as_ptr(), mode, 0) < 0 {
            return Err(sys::errno());
        }
    }
    Ok(())
}
