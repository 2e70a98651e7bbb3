//! The target's executable as a file, not as a name: what the `exe` matcher decides on.
//!
//! [`identify`] takes the running file's device and inode (stat(2) through the magic link `/proc/PID/exe`, which
//! the kernel follows to the very file the process runs, whatever its mount namespace) and the link's text, then
//! looks that text up in supervise's own view of the filesystem. The program is identified only if the file found
//! there is the running file; its name is then the canonical path there (no symlink on the way). So a binary
//! bind-mounted over `/usr/bin/curl` in a mount namespace of the program's own, or a file deleted or replaced since
//! it was started, is no `/usr/bin/curl`: it is [`Unidentified`], and no `exe` glob matches it.
//!
//! Under `serve` ([`trust_target_roots`]) a target in supervise's user namespace whose root is not supervise's (a
//! container's processes) is looked up in its own root, which only a process privileged in supervise's user
//! namespace (the container runtime) can have built; an [`Exe`] found there says so ([`Exe::own_root`]).
//!
//! [`canonical_glob`] is the other side: an `exe` glob's literal part canonicalized in supervise's view, so that
//! `/bin/busybox` is matched as `/usr/bin/busybox` on a merged-`/usr` system.

use std::collections::{HashMap, HashSet};
use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use super::proc;
use super::view::fs::{openat2, real_path, stat_at};
use super::view::walk::{RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS};
use super::view::{place, root, Place};

/// The running executable, identified: the path at which the very file that runs is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exe {
    /// Canonical: absolute, no symlink on the way, in the view it was found in. Not UTF-8: lossily decoded.
    pub path: String,
    /// Found in the target's own root (`serve`, a container), not in supervise's.
    pub own_root: bool,
}

/// Why a target has no identifiable executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unidentified {
    /// The process is gone, is a kernel thread, or its `/proc/PID/exe` is closed to supervise.
    Gone,
    /// The running file was deleted or replaced since it was started (`… (deleted)`).
    Deleted { text: String },
    /// Nothing is found at the link's text here (the program runs a file of another mount namespace).
    NotFound { text: String },
    /// The file found at the link's text is not the running file (a bind mount in another mount namespace).
    Other { text: String },
}

impl std::fmt::Display for Unidentified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unidentified::Gone => write!(f, "the process is gone or its executable cannot be read"),
            Unidentified::Deleted { text } => write!(f, "{text:?}: the running file was deleted or replaced"),
            Unidentified::NotFound { text } => {
                write!(f, "{text:?} is not found in supervise's view (a file of another mount namespace)")
            }
            Unidentified::Other { text } => write!(
                f,
                "{text:?} in supervise's view is another file than the one running (a bind mount or a replaced file)"
            ),
        }
    }
}

static TRUST_TARGET_ROOTS: AtomicBool = AtomicBool::new(false);

/// From now on, a target in supervise's user namespace that has a root of its own is looked up in that root when
/// it is not found in supervise's (`serve`: containers built by the runtime). Never for `supervise -- prog`, whose
/// program starts in supervise's root: a root of its own is the program's doing.
pub fn trust_target_roots() {
    TRUST_TARGET_ROOTS.store(true, Ordering::Relaxed);
}

/// The executable of process `pid`, identified as a file (see the module's documentation). Costs a stat(2) of
/// `/proc/PID/exe` and, for a process identified before that still runs the same file, an fstatat(2) of its path
/// (about 4 µs here); else a readlink(2) of `/proc/PID/exe`, an openat2(2), an fstat(2) and a close(2) (about 9 µs),
/// and for a path through a symlink (seen from another mount namespace) a readlink of `/proc/self/fd/N` more.
///
/// # Errors
/// [`Unidentified`], with the reason.
pub fn identify(pid: u32) -> Result<Exe, Unidentified> {
    let running = proc::exe_file(pid).ok_or(Unidentified::Gone)?;
    if let Some(exe) = known(pid, running) {
        return Ok(exe);
    }
    let exe = identify_anew(pid, running)?;
    if !exe.own_root {
        remember(pid, running, &exe);
    }
    Ok(exe)
}

/// The last identification of `pid` in supervise's view, if the process still runs the same file and that file
/// is still at its canonical path (one fstatat(2): a file replaced since is not taken for the old one).
fn known(pid: u32, running: (u64, u64)) -> Option<Exe> {
    let exe = KNOWN.lock().ok()?.as_ref()?.get(&pid).filter(|k| k.0 == running)?.1.clone();
    let rel = CString::new(exe.path.strip_prefix('/')?).ok()?;
    let st = stat_at(root(), &rel, libc::AT_SYMLINK_NOFOLLOW).ok()?;
    (proc::file_id(&st) == running).then_some(exe)
}

fn remember(pid: u32, running: (u64, u64), exe: &Exe) {
    if let Ok(mut known) = KNOWN.lock() {
        let known = known.get_or_insert_with(HashMap::new);
        if known.len() >= MAX_KNOWN {
            known.clear();
        }
        known.insert(pid, (running, exe.clone()));
    }
}

/// Identifications by pid, with the file they were made for: a readlink(2) and an openat2(2) saved per
/// notification (about 5 µs of 9). A pid reused by a process that runs the same file keeps the first name found
/// for it, which differs only for a hard link started under another name (it is the same file).
static KNOWN: Mutex<Option<HashMap<u32, Known>>> = Mutex::new(None);
/// The (device, inode) of the file a process ran, and what it was identified as.
type Known = ((u64, u64), Exe);
const MAX_KNOWN: usize = 4096;

fn identify_anew(pid: u32, running: (u64, u64)) -> Result<Exe, Unidentified> {
    let text = proc::exe(pid).ok_or(Unidentified::Gone)?.into_os_string().into_encoded_bytes();
    let shown = || String::from_utf8_lossy(&text).into_owned();
    // d_path's mark for an unlinked file: the name no longer leads to it.
    if text.ends_with(b" (deleted)") {
        return Err(Unidentified::Deleted { text: shown() });
    }
    match find(root(), &text, running) {
        Found::Same(path) => return Ok(Exe { path: lossy(path), own_root: false }),
        Found::Other if !TRUST_TARGET_ROOTS.load(Ordering::Relaxed) => {
            return Err(Unidentified::Other { text: shown() })
        }
        Found::Missing if !TRUST_TARGET_ROOTS.load(Ordering::Relaxed) => {
            return Err(Unidentified::NotFound { text: shown() })
        }
        _ => {}
    }
    let in_our_userns = our_userns().is_some() && proc::ns_place(pid, "user") == our_userns();
    let own = in_our_userns.then(|| proc::open_root(pid).ok()).flatten();
    match own.as_ref().map(|fd| find(fd.as_fd(), &text, running)) {
        Some(Found::Same(path)) => Ok(Exe { path: lossy(path), own_root: true }),
        Some(Found::Other) => Err(Unidentified::Other { text: shown() }),
        _ => Err(Unidentified::NotFound { text: shown() }),
    }
}

/// [`identify`], with the reason logged once per pid when it fails (at warn for a file that is not the one
/// running, at debug otherwise).
pub fn identify_logged(pid: u32) -> Option<Exe> {
    let why = match identify(pid) {
        Ok(exe) => return Some(exe),
        Err(Unidentified::Gone) => return None,
        Err(why) => why,
    };
    static SEEN: Mutex<Option<HashSet<u32>>> = Mutex::new(None);
    let first = SEEN.lock().map_or(true, |mut seen| {
        let seen = seen.get_or_insert_with(HashSet::new);
        if seen.len() >= 4096 {
            seen.clear();
        }
        seen.insert(pid)
    });
    if first {
        match why {
            Unidentified::Other { .. } => {
                tracing::warn!(pid, reason = %why, "executable not identified: no exe glob matches it")
            }
            _ => tracing::debug!(pid, reason = %why, "executable not identified: no exe glob matches it"),
        }
    }
    None
}

fn lossy(path: Vec<u8>) -> String {
    String::from_utf8(path).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// What is at a path, seen from a root.
enum Found {
    /// The running file, at this canonical path.
    Same(Vec<u8>),
    /// Another file.
    Other,
    /// Nothing, or nothing supervise may look at.
    Missing,
}

/// Looks `text` (an absolute path) up from `dir`, as from a root (`RESOLVE_IN_ROOT`), and compares what is there
/// with `running`. `/proc/PID/exe` names no symlink when the file is in supervise's mount namespace, so the first
/// lookup forbids them and the text is the canonical path; else symlinks are followed and the kernel names the
/// file found.
fn find(dir: BorrowedFd<'_>, text: &[u8], running: (u64, u64)) -> Found {
    let Some(rel) = text.strip_prefix(b"/") else { return Found::Missing };
    let rel = if rel.is_empty() { &b"."[..] } else { rel };
    let flags = (libc::O_PATH | libc::O_CLOEXEC) as u64;
    let same = |fd: BorrowedFd<'_>| nix::sys::stat::fstat(fd).is_ok_and(|st| proc::file_id(&st) == running);
    match openat2(dir, rel, flags, 0, RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS) {
        Ok(fd) if same(fd.as_fd()) => return Found::Same(text.to_vec()),
        Ok(_) => return Found::Other,
        Err(e) if i32::from(e.get()) == libc::ELOOP => {}
        Err(_) => return Found::Missing,
    }
    let Ok(fd) = openat2(dir, rel, flags, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) else { return Found::Missing };
    if !same(fd.as_fd()) {
        return Found::Other;
    }
    match real_path(fd.as_fd()) {
        Ok(parts) => Found::Same(parts.iter().fold(Vec::new(), |mut out, part| {
            out.push(b'/');
            out.extend_from_slice(part);
            out
        })),
        Err(_) => Found::Missing,
    }
}

/// Our own user namespace, read once.
fn our_userns() -> Option<Place> {
    static OURS: OnceLock<Option<Place>> = OnceLock::new();
    *OURS.get_or_init(|| place(c"/proc/thread-self/ns/user", true))
}

/// An `exe` glob with its literal part canonicalized in supervise's view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalGlob {
    /// The glob as written.
    pub written: String,
    /// The glob to match: the canonical literal part (escaped) and the rest as written.
    pub glob: String,
    /// The literal part, unescaped: the whole path of a glob without wildcards, else the directory before the
    /// first one.
    pub literal: String,
    /// `literal` canonicalized (as far as it exists).
    pub canonical: String,
    /// Whether `literal` exists here.
    pub exists: bool,
    /// Whether the glob has wildcards (`literal` is then a directory).
    pub wildcard: bool,
}

impl CanonicalGlob {
    /// True if a symlink (or `.`, `..`, `//`) on the way made the canonical literal differ from the written one.
    pub fn rewritten(&self) -> bool {
        self.canonical != self.literal
    }
}

/// `glob` with its literal part (the whole path without wildcards, else the directory before the first one)
/// canonicalized in supervise's view: `/bin/busybox` → `/usr/bin/busybox`, `/bin/*` → `/usr/bin/*`, `/bin/sh` →
/// `/usr/bin/dash`. A part that does not exist is canonicalized as far as it does and kept as written below.
pub fn canonical_glob(glob: &str) -> CanonicalGlob {
    let (literal, rest) = split_literal(glob);
    let (canonical, exists) = canonical_path(Path::new(&literal));
    let canonical = canonical.to_string_lossy().into_owned();
    let head = if rest.is_empty() || canonical != "/" { escape(&canonical) } else { String::new() };
    let wildcard = !rest.is_empty();
    CanonicalGlob { written: glob.to_string(), glob: format!("{head}{rest}"), literal, canonical, exists, wildcard }
}

/// The longest literal head of `glob`, unescaped, as a path (the whole of a glob without wildcards, else up to
/// the last `/` before the first wildcard, `/` at least), and the rest of the glob as written, from that `/`.
pub fn split_literal(glob: &str) -> (String, &str) {
    let mut literal = String::new();
    // (unescaped length, byte index in `glob`) of the last `/` seen in the literal head.
    let mut last_slash = (0, 0);
    let mut chars = glob.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, escaped)) => literal.push(escaped),
                None => literal.push('\\'),
            },
            '*' | '?' | '[' | ']' | '{' | '}' => {
                let (len, at) = last_slash;
                literal.truncate(len.max(1));
                return (literal, &glob[at..]);
            }
            '/' => {
                last_slash = (literal.len(), i);
                literal.push('/');
            }
            c => literal.push(c),
        }
    }
    (literal, "")
}

/// `text` escaped so that a glob matches it literally.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// realpath(3) of `path` in supervise's view, and whether it exists; a path that does not exist is canonicalized
/// as far as it does, the rest kept.
fn canonical_path(path: &Path) -> (PathBuf, bool) {
    if let Ok(real) = std::fs::canonicalize(path) {
        return (real, true);
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) if name.as_bytes() != b".." => (canonical_path(parent).0.join(name), false),
        _ => (path.to_path_buf(), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_heads_stop_at_the_directory_before_the_first_wildcard() {
        let table: &[(&str, &str, &str)] = &[
            ("/usr/bin/curl", "/usr/bin/curl", ""),
            ("/bin/*", "/bin", "/*"),
            ("/usr/lib/git-core/*", "/usr/lib/git-core", "/*"),
            ("/usr/bin/python3*", "/usr/bin", "/python3*"),
            ("/*/bin/x", "/", "/*/bin/x"),
            ("/**", "/", "/**"),
            ("/opt/a\\[1\\]/b{c,d}", "/opt/a[1]", "/b{c,d}"),
            ("/opt/a\\*b", "/opt/a*b", ""),
        ];
        for &(glob, literal, rest) in table {
            assert_eq!(split_literal(glob), (literal.to_string(), rest), "{glob}");
        }
    }

    #[test]
    fn canonical_globs_follow_the_symlinks_of_their_literal_part() {
        let dir = std::env::temp_dir().join(format!("supervise-exe-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("real")).unwrap();
        std::fs::write(dir.join("real/tool"), "").unwrap();
        std::os::unix::fs::symlink("real", dir.join("link")).unwrap();
        let real = std::fs::canonicalize(&dir).unwrap().display().to_string();
        let d = dir.display();
        let c = canonical_glob(&format!("{d}/link/tool"));
        assert_eq!((c.glob.as_str(), c.exists, c.rewritten()), (&*format!("{real}/real/tool"), true, true));
        let c = canonical_glob(&format!("{d}/link/*"));
        assert_eq!((c.glob.as_str(), c.exists), (&*format!("{real}/real/*"), true));
        let c = canonical_glob(&format!("{d}/link/nosuch"));
        assert_eq!((c.glob.as_str(), c.exists), (&*format!("{real}/real/nosuch"), false));
        let c = canonical_glob(&format!("{real}/real/tool"));
        assert!(c.exists && !c.rewritten() && c.glob == c.written, "{c:?}");
        assert_eq!(canonical_glob("/**").glob, "/**");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_remembered_identification_holds_only_while_the_file_is_at_its_path() {
        let dir = std::env::temp_dir().join(format!("supervise-exe-known-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = std::fs::canonicalize(&dir).unwrap().join("tool");
        std::fs::write(&path, "old").unwrap();
        let id = |p: &Path| {
            use std::os::unix::fs::MetadataExt;
            let m = std::fs::metadata(p).unwrap();
            (m.dev(), m.ino())
        };
        let running = id(&path);
        let pid = u32::MAX - 1;
        let exe = Exe { path: path.display().to_string(), own_root: false };
        remember(pid, running, &exe);
        assert_eq!(known(pid, running), Some(exe.clone()));
        assert_eq!(known(pid, (running.0, running.1 + 1)), None, "another file runs (an exec)");
        // Replaced (an upgrade renames a new file over it): the running file is no longer at its path.
        std::fs::write(dir.join("new"), "new").unwrap();
        std::fs::rename(dir.join("new"), &path).unwrap();
        assert_eq!(known(pid, running), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn our_own_executable_is_identified_as_its_canonical_path() {
        let exe = identify(std::process::id()).unwrap();
        let want = std::fs::canonicalize(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(exe, Exe { path: want.display().to_string(), own_root: false });
        assert_eq!(identify(u32::MAX), Err(Unidentified::Gone));
    }
}
