//! Resolving a path as the target's kernel would (path_resolution(7), openat2(2)), and pinning the directory of
//! its last component, so that the call acts on what was decided on.
//!
//! The kernel walks most of the path: each step is one `openat2(dir, component, O_PATH, RESOLVE_NO_SYMLINKS)`, so
//! mounts, `..`, search permission (with the target's credentials, taken by the caller), name length and the
//! target's own `RESOLVE_*` restrictions are the kernel's. What supervise does itself is what would otherwise be
//! resolved as supervise instead of as the target:
//! - a symlink is read and its text walked, counting links (40, then ELOOP) and applying `fs.protected_symlinks`
//!   as the kernel applies it to the target;
//! - in a procfs root, `self` and `thread-self` name the target's process and thread, not supervise's;
//! - a magic link (`/proc/<pid>/fd/N`, `cwd`, `root`, `exe`, …) is followed by the kernel, and only inside the
//!   `/proc/<pid>` of a process that is not supervise: the kernel then checks the target's right to it;
//! - supervise's own `/proc/<pid>` (and its threads') is refused with EACCES.
//!
//! A path without a symlink and outside procfs takes one `openat2` for the whole parent (the fast path).

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use proto::Errno;

use super::fs::{dup, is_link, open_dir, read_link};
pub use super::fs::{openat2, real_path, stat_at, OpenHow};
use super::{errno, place_of, View};
use crate::kernel::proc::{self, is_pid, is_procfs, Proc};

pub const RESOLVE_NO_XDEV: u64 = 0x01;
pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
pub const RESOLVE_NO_SYMLINKS: u64 = 0x04;
pub const RESOLVE_BENEATH: u64 = 0x08;
pub const RESOLVE_IN_ROOT: u64 = 0x10;
pub const RESOLVE_CACHED: u64 = 0x20;

/// MAXSYMLINKS in the kernel.
const MAX_LINKS: u32 = 40;

/// Where a relative path starts.
#[derive(Debug)]
pub enum Start {
    /// The target's cwd or dirfd, opened by [`View::cwd`] or [`View::fd`].
    Dir(OwnedFd),
    /// Not needed: the path is absolute (and not `RESOLVE_IN_ROOT`).
    Root,
}

impl Start {
    /// What `path` relative to `dirfd` (`AT_FDCWD` or an fd of the target's) starts from. An absolute path ignores
    /// the dirfd, as the kernel does, unless `RESOLVE_IN_ROOT` or `RESOLVE_BENEATH` scope it.
    ///
    /// # Errors
    /// EBADF for a dirfd the target does not have.
    pub fn of(view: &View, path: &[u8], dirfd: i32, resolve: u64) -> Result<Start, Errno> {
        let scoped = resolve & (RESOLVE_BENEATH | RESOLVE_IN_ROOT) != 0;
        if path.first() == Some(&b'/') && !scoped {
            return Ok(Start::Root);
        }
        Ok(Start::Dir(if dirfd == libc::AT_FDCWD { view.cwd()? } else { view.fd(dirfd)? }))
    }
}

/// One path to resolve.
#[derive(Debug)]
pub struct Lookup<'a> {
    pub path: &'a [u8],
    pub start: Start,
    /// Follow a symlink in the last component.
    pub follow: bool,
    /// A trailing slash follows a symlink in the last component too (lookups; not mkdir, unlink, rmdir, rename).
    pub slash_follows: bool,
    /// The target's own `RESOLVE_*` flags (openat2), 0 otherwise.
    pub resolve: u64,
    /// `.` and `..` as the last component are stepped through (open) rather than handed to the call (mkdir,
    /// unlink and rmdir have their own errors for them).
    pub step_dots: bool,
}

/// A resolved path: the call acts on `last` in `parent`.
#[derive(Debug)]
pub struct Resolved {
    /// The directory of the last component, pinned (`O_PATH`).
    pub parent: OwnedFd,
    /// The name to hand to the `*at` call: a name (with its trailing slash), `.`, `..`, or `/`.
    pub last: Vec<u8>,
    /// The absolute path the decision is made on.
    pub real: Vec<u8>,
    /// `last` is a magic link in another process's `/proc/<pid>` that the kernel itself must follow.
    pub magic: bool,
    /// The type (`S_IFMT` bits) of what `last` names now, following a magic link but no other; `None`: nothing
    /// there, or it cannot be looked at.
    pub kind: Option<u32>,
    /// What `parent` and `last` name through our own `/proc/self/fd`, kept open while they are used.
    pub held: Option<OwnedFd>,
}

/// The type of `last` in `dir` (see [`Resolved::kind`]).
fn kind_of(dir: BorrowedFd<'_>, last: &[u8], magic: bool) -> Option<u32> {
    let name = cstring(last).ok()?;
    let flags = if magic { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
    stat_at(dir, &name, flags).ok().map(|st| st.st_mode & libc::S_IFMT)
}

/// Resolves `lookup` as the target's kernel would. Call it on a thread that has taken the target's identity.
///
/// # Errors
/// The errno the kernel would give for the path (ENOENT, ENOTDIR, EACCES, ELOOP, ENAMETOOLONG, EXDEV, …), or EACCES
/// where supervise refuses (its own `/proc/<pid>`, a procfs whose owner it cannot tell).
pub fn walk(view: &View, lookup: Lookup<'_>) -> Result<Resolved, Errno> {
    if lookup.path.is_empty() {
        return Err(Errno::ENOENT);
    }
    if lookup.resolve & (RESOLVE_BENEATH | RESOLVE_IN_ROOT) == 0 && lookup.resolve & RESOLVE_NO_SYMLINKS == 0 {
        if let Some(resolved) = fast(view, &lookup)? {
            return Ok(resolved);
        }
    }
    Walker::new(view, lookup)?.run()
}

/// The fast path: the whole parent in one `openat2(RESOLVE_NO_SYMLINKS)`. `None` when a symlink is on the way, the
/// parent is in procfs, or the last component is a symlink to follow: the walker takes it then.
fn fast(view: &View, lookup: &Lookup<'_>) -> Result<Option<Resolved>, Errno> {
    let (head, last, trailing) = split_last(lookup.path);
    if is_dots(last) && lookup.step_dots {
        return Ok(None);
    }
    let (start, mut real) = match &lookup.start {
        Start::Root => (view.root(), Vec::new()),
        Start::Dir(fd) => (fd.as_fd(), real_path(fd.as_fd())?),
    };
    let resolve = RESOLVE_NO_SYMLINKS | (lookup.resolve & (RESOLVE_NO_XDEV | RESOLVE_CACHED));
    let parent = if head.is_empty() {
        dup(start)?
    } else {
        match open_dir(start, head, resolve) {
            Ok(fd) => fd,
            Err(e) if i32::from(e.get()) == libc::ELOOP => return Ok(None),
            Err(e) => return Err(e),
        }
    };
    if is_procfs(parent.as_fd()) {
        return Ok(None);
    }
    for part in components(head) {
        push(&mut real, part);
    }
    let kind = if last.is_empty() { Some(libc::S_IFDIR) } else { kind_of(parent.as_fd(), last, false) };
    if (lookup.follow || (trailing && lookup.slash_follows)) && kind == Some(libc::S_IFLNK) {
        return Ok(None);
    }
    Ok(Some(finish(parent, last, trailing, &real, kind)))
}

struct Walker<'a> {
    view: &'a View,
    follow: bool,
    slash_follows: bool,
    resolve: u64,
    step_dots: bool,
    dir: OwnedFd,
    real: Vec<Vec<u8>>,
    proc: Proc,
    links: u32,
    /// The scope of `RESOLVE_BENEATH`/`RESOLVE_IN_ROOT`: the start directory, where it is, and its real path.
    scope: Option<(OwnedFd, super::Place, Vec<Vec<u8>>)>,
    /// What is left of the path to walk.
    rest: Vec<u8>,
}

impl<'a> Walker<'a> {
    fn new(view: &'a View, lookup: Lookup<'_>) -> Result<Walker<'a>, Errno> {
        let (dir, real) = match lookup.start {
            Start::Root => (dup(view.root())?, Vec::new()),
            Start::Dir(fd) => {
                let real = real_path(fd.as_fd())?;
                (fd, real)
            }
        };
        let scope = if lookup.resolve & (RESOLVE_BENEATH | RESOLVE_IN_ROOT) != 0 {
            let place = place_of(dir.as_fd()).ok_or(Errno::EACCES)?;
            Some((dup(dir.as_fd())?, place, real.clone()))
        } else {
            None
        };
        let mut walker = Walker {
            view,
            follow: lookup.follow,
            slash_follows: lookup.slash_follows,
            resolve: lookup.resolve,
            step_dots: lookup.step_dots,
            proc: Proc::No,
            dir,
            real,
            links: 0,
            scope,
            rest: lookup.path.to_vec(),
        };
        walker.proc = walker.proc_at_start()?;
        Ok(walker)
    }

    fn run(mut self) -> Result<Resolved, Errno> {
        if self.rest.first() == Some(&b'/') {
            self.jump_to_root()?;
        }
        loop {
            let rest = std::mem::take(&mut self.rest);
            let (part, after) = next_component(&rest);
            let is_last = components(after).next().is_none();
            let trailing = is_last && !after.is_empty();
            if part.is_empty() {
                // The path is `/` (or only slashes): the root itself.
                return Ok(self.resolved(b"/".to_vec(), false));
            }
            if !is_last {
                self.rest = after.to_vec();
                self.step(part)?;
                continue;
            }
            if is_dots(part) && !self.step_dots {
                return Ok(self.resolved(part.to_vec(), false));
            }
            if is_dots(part) {
                self.step(part)?;
                return Ok(self.resolved(b".".to_vec(), false));
            }
            if self.proc == Proc::Unknown {
                return Err(refuse("a procfs directory whose process supervise cannot tell"));
            }
            self.check_proc_entry(part)?;
            let name = cstring(part)?;
            if self.follow || (trailing && self.slash_follows) {
                if let Some(text) = self.substitute(part)? {
                    self.rest = join(&text, if trailing { b"/" } else { b"" });
                    continue;
                }
                if is_link(self.dir.as_fd(), &name) {
                    let mut last = part.to_vec();
                    if trailing {
                        last.push(b'/');
                    }
                    if self.magic_here()? {
                        self.count_link(true)?;
                        return self.land(&last);
                    }
                    match read_link(self.dir.as_fd(), &name) {
                        Ok(text) => {
                            self.follow_text(&name, text, if trailing { b"/" } else { b"" })?;
                            continue;
                        }
                        // Unreadable here: the call itself gets the kernel's error.
                        Err(_) => return Ok(self.resolved(last, false)),
                    }
                }
            }
            let mut last = part.to_vec();
            if trailing {
                last.push(b'/');
            }
            return Ok(self.resolved(last, false));
        }
    }

    /// Steps into the directory `part`.
    fn step(&mut self, part: &[u8]) -> Result<(), Errno> {
        if self.proc == Proc::Unknown {
            return Err(refuse("a procfs directory whose process supervise cannot tell"));
        }
        match part {
            b"." => Ok(()),
            b".." => self.dotdot(),
            _ => {
                self.check_proc_entry(part)?;
                if let Some(text) = self.substitute(part)? {
                    // `self`/`thread-self` → the target's own `<tgid>` or `<tgid>/task/<tid>`.
                    let after = std::mem::take(&mut self.rest);
                    self.rest = join(&text, &after);
                    return Ok(());
                }
                let name = cstring(part)?;
                let resolve = RESOLVE_NO_SYMLINKS | (self.resolve & (RESOLVE_NO_XDEV | RESOLVE_CACHED));
                match open_dir(self.dir.as_fd(), part, resolve) {
                    Ok(next) => {
                        self.enter(part, next);
                        Ok(())
                    }
                    Err(e) if i32::from(e.get()) == libc::ELOOP => {
                        if self.magic_here()? {
                            self.count_link(true)?;
                            return self.follow_magic(&name);
                        }
                        let text = read_link(self.dir.as_fd(), &name)?;
                        let after = std::mem::take(&mut self.rest);
                        self.follow_text(&name, text, b"/")?;
                        self.rest = join(&self.rest, &after);
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// Enters directory `next`, reached by the name `part`.
    fn enter(&mut self, part: &[u8], next: OwnedFd) {
        let same_mount_here = || same_mount(self.dir.as_fd(), next.as_fd());
        self.proc = match self.proc {
            // Something mounted over a `/proc/<pid>` is not that process's: tell where it is from the fd.
            Proc::Root | Proc::Pid { .. } if !same_mount_here() => proc::position(next.as_fd()),
            Proc::Root if is_pid(part) => Proc::Pid { depth: 1 },
            Proc::Root => {
                if is_procfs(next.as_fd()) {
                    Proc::No
                } else {
                    self.proc_after_jump(next.as_fd())
                }
            }
            Proc::Pid { depth } => Proc::Pid { depth: depth + 1 },
            Proc::Unknown => Proc::Unknown,
            Proc::No => self.proc_after_jump(next.as_fd()),
        };
        self.dir = next;
        push(&mut self.real, part);
    }

    fn dotdot(&mut self) -> Result<(), Errno> {
        if let Some((scope_fd, scope_place, scope_real)) = &self.scope {
            if place_of(self.dir.as_fd()) == Some(*scope_place) {
                if self.resolve & RESOLVE_BENEATH != 0 {
                    return Err(errno(libc::EXDEV));
                }
                // RESOLVE_IN_ROOT: `..` at the scope root stays there.
                let (fd, real) = (dup(scope_fd.as_fd())?, scope_real.clone());
                self.dir = fd;
                self.real = real;
                return Ok(());
            }
        }
        let resolve = RESOLVE_NO_SYMLINKS | (self.resolve & (RESOLVE_NO_XDEV | RESOLVE_CACHED));
        let next = open_dir(self.dir.as_fd(), b"..", resolve)?;
        self.proc = match self.proc {
            Proc::Pid { depth: 1 } => Proc::Root,
            Proc::Pid { depth } => Proc::Pid { depth: depth - 1 },
            _ => self.proc_after_jump(next.as_fd()),
        };
        self.dir = next;
        self.real.pop();
        Ok(())
    }

    /// Follows a symlink's text: protected_symlinks, the link count, then the text is walked (from the root when
    /// absolute) before the rest of the path; `tail` ends it (`/` when the link must be a directory).
    fn follow_text(&mut self, name: &CString, text: Vec<u8>, tail: &[u8]) -> Result<(), Errno> {
        self.count_link(false)?;
        self.may_follow(name)?;
        if text.is_empty() {
            return Err(Errno::ENOENT);
        }
        self.rest = join(&text, tail);
        if text.first() == Some(&b'/') {
            self.jump_to_root()?;
        }
        Ok(())
    }

    /// Follows the magic link `name` in `/proc/<pid>` (not ours) with the kernel, which checks the target's right.
    fn follow_magic(&mut self, name: &CString) -> Result<(), Errno> {
        if self.resolve & RESOLVE_NO_MAGICLINKS != 0 {
            return Err(errno(libc::ELOOP));
        }
        let resolve = self.resolve & RESOLVE_CACHED;
        let next = open_dir(self.dir.as_fd(), name.as_bytes(), resolve)?;
        if proc::is_ours_or_unknown(next.as_fd()) {
            return Err(refuse("a magic link that leads into supervise's own /proc/<pid>"));
        }
        if self.resolve & RESOLVE_NO_XDEV != 0 && !same_mount(self.dir.as_fd(), next.as_fd()) {
            return Err(errno(libc::EXDEV));
        }
        self.real = real_path(next.as_fd())?;
        self.proc = self.proc_after_jump(next.as_fd());
        self.dir = next;
        Ok(())
    }

    /// A magic link as the last component: followed once, here, as the target (the kernel checks its right to the
    /// link), and the call acts on where it landed through our own `/proc/self/fd/N`, so that the target cannot
    /// redirect the call by changing the link afterwards. A landing in supervise's own `/proc/<pid>` (or in a
    /// procfs place that cannot be told) is refused: this thread belongs to supervise, and the kernel would let it
    /// in.
    fn land(self, last: &[u8]) -> Result<Resolved, Errno> {
        if self.resolve & RESOLVE_NO_MAGICLINKS != 0 {
            return Err(errno(libc::ELOOP));
        }
        let how = (libc::O_PATH | libc::O_CLOEXEC) as u64;
        let landing = openat2(self.dir.as_fd(), last, how, 0, self.resolve & (RESOLVE_NO_XDEV | RESOLVE_CACHED))?;
        if proc::is_ours_or_unknown(landing.as_fd()) {
            return Err(refuse("a magic link that leads into supervise's own /proc/<pid>"));
        }
        let real = render(&real_path(landing.as_fd())?);
        let fds = open_dir(super::root(), b"proc/self/fd", 0)?;
        let mut name = landing.as_raw_fd().to_string().into_bytes();
        if last.ends_with(b"/") {
            name.push(b'/');
        }
        let kind = kind_of(fds.as_fd(), &name, true);
        Ok(Resolved { parent: fds, last: name, real, magic: true, kind, held: Some(landing) })
    }

    /// Counts one more link; a magic link under `RESOLVE_BENEATH`/`RESOLVE_IN_ROOT` is EXDEV, any link under
    /// `RESOLVE_NO_SYMLINKS` is ELOOP.
    fn count_link(&mut self, magic: bool) -> Result<(), Errno> {
        if self.resolve & RESOLVE_NO_SYMLINKS != 0 {
            return Err(errno(libc::ELOOP));
        }
        if magic && self.resolve & RESOLVE_NO_MAGICLINKS != 0 {
            return Err(errno(libc::ELOOP));
        }
        if magic && self.scope.is_some() {
            return Err(errno(libc::EXDEV));
        }
        self.links += 1;
        if self.links > MAX_LINKS {
            return Err(errno(libc::ELOOP));
        }
        Ok(())
    }

    /// Starts again at the root: the target's, or the scope's.
    fn jump_to_root(&mut self) -> Result<(), Errno> {
        while self.rest.first() == Some(&b'/') {
            self.rest.remove(0);
        }
        let (fd, real) = match &self.scope {
            Some(_) if self.resolve & RESOLVE_BENEATH != 0 => return Err(errno(libc::EXDEV)),
            Some((fd, _, real)) => (dup(fd.as_fd())?, real.clone()),
            None => (dup(self.view.root())?, Vec::new()),
        };
        if self.resolve & RESOLVE_NO_XDEV != 0 && !same_mount(self.dir.as_fd(), fd.as_fd()) {
            return Err(errno(libc::EXDEV));
        }
        self.proc = self.proc_after_jump(fd.as_fd());
        self.dir = fd;
        self.real = real;
        Ok(())
    }

    /// fs.protected_symlinks (proc_sys_fs(5)), as the kernel's may_follow_link applies it to the target: in a
    /// sticky world-writable directory, a symlink is followed only by its owner or when it belongs to the
    /// directory's owner.
    fn may_follow(&self, name: &CString) -> Result<(), Errno> {
        if !protected_symlinks() {
            return Ok(());
        }
        let link = stat_at(self.dir.as_fd(), name, libc::AT_SYMLINK_NOFOLLOW)?;
        if link.st_uid == self.view.identity.fsuid {
            return Ok(());
        }
        let dir = stat_at(self.dir.as_fd(), c"", libc::AT_EMPTY_PATH)?;
        let sticky_world = libc::S_ISVTX | libc::S_IWOTH;
        if dir.st_mode & sticky_world != sticky_world || dir.st_uid == link.st_uid {
            return Ok(());
        }
        Err(Errno::EACCES)
    }

    /// True if a link met here is a magic link for the kernel to follow: we are inside another process's
    /// `/proc/<pid>`. In procfs at a place we cannot tell, refuse.
    fn magic_here(&self) -> Result<bool, Errno> {
        match self.proc {
            Proc::Pid { .. } if is_procfs(self.dir.as_fd()) => Ok(true),
            Proc::Pid { .. } | Proc::No | Proc::Root => Ok(false),
            Proc::Unknown => Err(refuse("a link in a procfs directory whose process supervise cannot tell")),
        }
    }

    /// In a procfs root, `self` and `thread-self` become the target's pid (and tid) as that procfs numbers them:
    /// the text to walk instead. They are symlinks for the kernel, so they count as one.
    fn substitute(&mut self, part: &[u8]) -> Result<Option<Vec<u8>>, Errno> {
        if self.proc != Proc::Root || !matches!(part, b"self" | b"thread-self") {
            return Ok(None);
        }
        self.count_link(false)?;
        let Some((tgid, tid)) = proc::target_in(self.dir.as_fd(), self.view.tid) else {
            return Err(refuse("/proc/self in a procfs where the target has no pid"));
        };
        let text = if part == b"self" { tgid.to_string() } else { format!("{tgid}/task/{tid}") };
        Ok(Some(text.into_bytes()))
    }

    /// Refuses `/proc/<pid>` of supervise itself (its process or any of its threads) in a procfs root.
    fn check_proc_entry(&self, part: &[u8]) -> Result<(), Errno> {
        if self.proc == Proc::Root && is_pid(part) && proc::is_ours(self.dir.as_fd(), part) {
            return Err(refuse("supervise's own /proc/<pid>"));
        }
        Ok(())
    }

    /// Where the walk is in procfs after starting or jumping to `fd`.
    fn proc_after_jump(&self, fd: BorrowedFd<'_>) -> Proc {
        proc::position(fd)
    }

    /// The procfs state of the start directory; supervise's own `/proc/<pid>` as a start is refused.
    fn proc_at_start(&self) -> Result<Proc, Errno> {
        match self.proc_after_jump(self.dir.as_fd()) {
            Proc::Unknown => Err(refuse("a start directory in procfs it cannot tell")),
            state => Ok(state),
        }
    }

    fn resolved(self, last: Vec<u8>, magic: bool) -> Resolved {
        let mut real = self.real;
        let bare: &[u8] = last.strip_suffix(b"/").unwrap_or(&last);
        if !matches!(bare, b"" | b".") {
            push(&mut real, bare);
        }
        let kind = kind_of(self.dir.as_fd(), &last, magic);
        Resolved { parent: self.dir, last, real: render(&real), magic, kind, held: None }
    }
}

/// The file an fd names, as a resolution whose last component is empty: a call with `AT_EMPTY_PATH` (or a null
/// path) acts on it.
///
/// # Errors
/// The errno of reading its path.
pub fn at_fd(fd: OwnedFd) -> Result<Resolved, Errno> {
    let real = render(&real_path(fd.as_fd())?);
    let kind = stat_at(fd.as_fd(), c"", libc::AT_EMPTY_PATH).ok().map(|st| st.st_mode & libc::S_IFMT);
    Ok(Resolved { parent: fd, last: Vec::new(), real, magic: false, kind, held: None })
}

/// Builds the result of the fast path.
fn finish(parent: OwnedFd, last: &[u8], trailing: bool, real: &[Vec<u8>], kind: Option<u32>) -> Resolved {
    let mut real = real.to_vec();
    let mut name = last.to_vec();
    if last.is_empty() {
        name = b"/".to_vec();
    } else {
        push(&mut real, last);
        if trailing {
            name.push(b'/');
        }
    }
    Resolved { parent, last: name, real: render(&real), magic: false, kind, held: None }
}

/// The path's last component and everything before it; `trailing`: the path ends with a slash.
fn split_last(path: &[u8]) -> (&[u8], &[u8], bool) {
    let trimmed_len = path.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
    let trailing = trimmed_len < path.len() && trimmed_len > 0;
    let trimmed = &path[..trimmed_len];
    match trimmed.iter().rposition(|&b| b == b'/') {
        Some(i) => {
            let head = &trimmed[..=i];
            (head, &trimmed[i + 1..], trailing)
        }
        None if path.first() == Some(&b'/') => (b"/", b"", false),
        None => (b"", trimmed, trailing),
    }
}

/// The first component of `path` (after leading slashes) and what follows it (starting with its slash).
fn next_component(path: &[u8]) -> (&[u8], &[u8]) {
    let start = path.iter().position(|&b| b != b'/').unwrap_or(path.len());
    let path = &path[start..];
    let end = path.iter().position(|&b| b == b'/').unwrap_or(path.len());
    (&path[..end], &path[end..])
}

fn components(path: &[u8]) -> impl Iterator<Item = &[u8]> {
    path.split(|&b| b == b'/').filter(|c| !c.is_empty())
}

/// Applies one component to a lexical path: `.` stays, `..` goes up (never above `/`).
fn push(real: &mut Vec<Vec<u8>>, part: &[u8]) {
    match part {
        b"." | b"" => {}
        b".." => {
            real.pop();
        }
        _ => real.push(part.to_vec()),
    }
}

fn render(real: &[Vec<u8>]) -> Vec<u8> {
    if real.is_empty() {
        return b"/".to_vec();
    }
    let mut out = Vec::new();
    for part in real {
        out.push(b'/');
        out.extend_from_slice(part);
    }
    out
}

fn join(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = a.to_vec();
    if !b.is_empty() {
        if !out.is_empty() && out.last() != Some(&b'/') && b.first() != Some(&b'/') {
            out.push(b'/');
        }
        out.extend_from_slice(b);
    }
    out
}

fn is_dots(part: &[u8]) -> bool {
    matches!(part, b"." | b"..")
}

fn refuse(what: &str) -> Errno {
    tracing::warn!(what, "path call refused (EACCES): supervise cannot resolve it as the target would");
    Errno::EACCES
}

fn cstring(bytes: &[u8]) -> Result<CString, Errno> {
    CString::new(bytes).map_err(|_| Errno::EINVAL)
}

fn same_mount(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> bool {
    matches!((place_of(a), place_of(b)), (Some(x), Some(y)) if x.mnt_id == y.mnt_id)
}

/// `fs.protected_symlinks`, read at each use (it may change while we run), from our own `/proc`.
fn protected_symlinks() -> bool {
    proc::our_proc_file("sys/fs/protected_symlinks").is_none_or(|v| !v.starts_with('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_head_and_last_as_the_kernel_reads_them() {
        type Split<'a> = (&'a [u8], &'a [u8], bool);
        let table: &[(&[u8], Split)] = &[
            (b"a/b/c", (b"a/b/", b"c", false)),
            (b"a/b/c/", (b"a/b/", b"c", true)),
            (b"c", (b"", b"c", false)),
            (b"c//", (b"", b"c", true)),
            (b"/", (b"/", b"", false)),
            (b"/c", (b"/", b"c", false)),
            (b"a/..", (b"a/", b"..", false)),
        ];
        for (path, want) in table {
            assert_eq!(split_last(path), *want, "{}", String::from_utf8_lossy(path));
        }
        assert_eq!(next_component(b"//a/b"), (&b"a"[..], &b"/b"[..]));
        assert_eq!(next_component(b"a/"), (&b"a"[..], &b"/"[..]));
    }

    #[test]
    fn the_lexical_path_never_goes_above_the_root() {
        let mut real = Vec::new();
        for part in [&b"a"[..], b"..", b"..", b"b", b".", b"c"] {
            push(&mut real, part);
        }
        assert_eq!(render(&real), b"/b/c");
    }

    /// A child that sleeps in a temp dir: the target whose view is resolved.
    struct Target {
        child: std::process::Child,
        dir: tempfile::TempDir,
    }

    impl Target {
        fn new() -> Target {
            let dir = tempfile::tempdir().unwrap();
            let child = std::process::Command::new("sleep").arg("30").current_dir(dir.path()).spawn().unwrap();
            Target { child, dir }
        }

        fn pid(&self) -> u32 {
            self.child.id()
        }

        fn resolve(&self, path: &str, follow: bool) -> Result<Resolved, Errno> {
            let view = View::of(self.pid(), false).unwrap().unwrap();
            let start = Start::of(&view, path.as_bytes(), libc::AT_FDCWD, 0)?;
            let _as_target = crate::kernel::view::identity::Assumed::take(&view.identity, Default::default())?;
            let lookup =
                Lookup { path: path.as_bytes(), start, follow, slash_follows: true, resolve: 0, step_dots: true };
            walk(&view, lookup)
        }
    }

    impl Drop for Target {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn real(r: Result<Resolved, Errno>) -> String {
        String::from_utf8(r.unwrap().real).unwrap()
    }

    #[test]
    fn proc_self_is_the_target_and_never_supervise() {
        let t = Target::new();
        let pid = t.pid();
        assert_eq!(real(t.resolve("/proc/self/status", true)), format!("/proc/{pid}/status"));
        assert_eq!(real(t.resolve("/proc/thread-self/status", true)), format!("/proc/{pid}/task/{pid}/status"));
        assert_eq!(real(t.resolve("/proc/self", true)), format!("/proc/{pid}"));
        let cwd = t.dir.path().canonicalize().unwrap();
        std::fs::write(cwd.join("f"), "x").unwrap();
        assert_eq!(real(t.resolve("/proc/self/cwd/f", true)), format!("{}/f", cwd.display()));
        // A symlink that leads to /proc/self is the target's too.
        std::os::unix::fs::symlink("/proc/self", cwd.join("me")).unwrap();
        assert_eq!(real(t.resolve("me/status", true)), format!("/proc/{pid}/status"));
        // /proc/net is a symlink to self/net.
        assert_eq!(real(t.resolve("/proc/net/unix", true)), format!("/proc/{pid}/net/unix"));
        let ours = std::process::id();
        for path in [format!("/proc/{ours}/mem"), format!("/proc/{ours}/fd/0"), format!("/proc/{ours}")] {
            assert_eq!(t.resolve(&path, true).unwrap_err(), Errno::EACCES, "{path}");
        }
        let me = nix::unistd::gettid().as_raw();
        assert_eq!(t.resolve(&format!("/proc/{me}/status"), true).unwrap_err(), Errno::EACCES, "one of our threads");
    }

    #[test]
    fn symlinks_dots_and_limits_resolve_as_the_kernel_does() {
        let t = Target::new();
        let cwd = t.dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(cwd.join("a/b")).unwrap();
        std::os::unix::fs::symlink(cwd.join("a/b"), cwd.join("deep")).unwrap();
        assert_eq!(real(t.resolve("deep/../x", true)), format!("{}/a/x", cwd.display()), "`..` after a symlink");
        assert_eq!(real(t.resolve("a/./b/../b", true)), format!("{}/a/b", cwd.display()));
        std::os::unix::fs::symlink("nothere", cwd.join("dangling")).unwrap();
        let r = t.resolve("dangling", false).unwrap();
        assert_eq!((r.last.as_slice(), r.real), (&b"dangling"[..], format!("{}/dangling", cwd.display()).into_bytes()));
        let r = t.resolve("dangling", true).unwrap();
        assert_eq!(r.last, b"nothere", "a followed dangling link names its target");
        let r = t.resolve("a/b/", true).unwrap();
        assert_eq!(r.last, b"b/", "the trailing slash goes to the kernel");
        for i in 0..41 {
            std::os::unix::fs::symlink(format!("l{}", i + 1), cwd.join(format!("l{i}"))).unwrap();
        }
        std::fs::write(cwd.join("l41"), "x").unwrap();
        assert!(t.resolve("l1", true).is_ok(), "40 links");
        assert_eq!(t.resolve("l0", true).unwrap_err(), errno(libc::ELOOP), "41 links");
        assert_eq!(t.resolve("/../../..", true).unwrap().real, b"/");
        let long = "x".repeat(256);
        assert_eq!(t.resolve(&format!("{long}/y"), true).unwrap_err(), errno(libc::ENAMETOOLONG));
    }
}
