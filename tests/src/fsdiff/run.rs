//! Running one op in its directory and describing what it did, in one deterministic line: no pids, inode numbers
//! or times, only what the kernel's answer and the resulting state are.

use std::fmt::Write as _;

use std::ffi::CString;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::ops::{Arg, Call, Dfd, Fp, Op, Pre};
use crate::sys::{self, c, errno_name, Res};
use crate::uring;

/// A static whose bytes `/proc/self/mem` must give back at its own address.
static MARK: [u8; 32] = *b"fsdiff: this program's own bytes";

/// The default umask, set at start and after every op that changes it.
pub const UMASK: u32 = 0o022;

/// Directories an fd may turn out to be (`is=NAME`), relative to the op's directory or absolute.
const KNOWN_DIRS: &[&[u8]] =
    &[b".", b"..", b"d", b"d/sub", b"ro", b"other_d", b"sticky", b"sgid", b"chain", b"/", b"/proc", b"/etc", b"/tmp"];

/// Whether `Pre::Tmpfs` mounts (`fsdiff run --tmpfs`: the program is root in a mount namespace of its own).
pub static TMPFS: AtomicBool = AtomicBool::new(false);

/// Runs `op` in ROOT/<name> and returns its line. `since`: the coarse clock's seconds when the run started (a file
/// time from then on is shown as `now`).
pub fn run(op: &Op, root: &[u8], since: i64) -> String {
    let dir = [root, b"/", op.name.as_bytes()].concat();
    if let Err(e) = sys::chdir(&c(&dir)) {
        return format!("{}: setup-failed chdir {}", op.name, errno_name(e));
    }
    let mut mounted = Vec::new();
    let line = run_here(op, since, &mut mounted);
    for path in mounted {
        let _ = sys::umount_detach(&c(path));
    }
    sys::chdir(&c(root)).expect("chdir back to the tree");
    format!("{}: {line}", op.name)
}

fn run_here<'a>(op: &'a Op, since: i64, mounted: &mut Vec<&'a [u8]>) -> String {
    let known: Vec<(&[u8], (u64, u64))> = KNOWN_DIRS
        .iter()
        .filter_map(|&p| sys::fstatat(libc::AT_FDCWD, &c(p), 0).ok().map(|st| (p, (st.st_dev, st.st_ino))))
        .collect();
    let same_as = match op.fp {
        Fp::SameAs(p) => Some(sys::fstatat(libc::AT_FDCWD, &c(p), 0).map(|st| (st.st_dev, st.st_ino))),
        _ => None,
    };
    let mut fds: Vec<i32> = Vec::new();
    for step in &op.pre {
        let made = match step {
            Pre::Tree(p) => sys::open_tree(libc::AT_FDCWD, &c(p), 0).map(|fd| fds.push(fd as i32)),
            Pre::TreeNofollow(p) => {
                sys::open_tree(libc::AT_FDCWD, &c(p), libc::AT_SYMLINK_NOFOLLOW).map(|fd| fds.push(fd as i32))
            }
            Pre::Open(p, flags) => {
                uring::openat(libc::AT_FDCWD, &c(p), flags | libc::O_CLOEXEC, 0o600).map(|fd| fds.push(fd as i32))
            }
            Pre::Memfd(text) => sys::memfd(text).map(|fd| fds.push(fd as i32)),
            Pre::Pipe(text) => sys::pipe(text).map(|(r, w)| fds.extend([r, w])),
            Pre::Socket => sys::socketpair().map(|(a, b)| fds.extend([a, b])),
            Pre::Rename(from, to) => uring::rename(&c(from), &c(to)).map(drop),
            Pre::Unlink(p, flags) => uring::unlink(&c(p), *flags).map(drop),
            Pre::Tmpfs(p) if TMPFS.load(Ordering::Relaxed) => {
                sys::mount_tmpfs(&c(p), c"mode=0777,size=1m").map(|_| mounted.push(p))
            }
            Pre::Tmpfs(_) => Ok(()),
            Pre::Close(i) => {
                sys::close(fds[*i]);
                fds[*i] = -1;
                Ok(())
            }
        };
        if let Err(e) = made {
            fds.iter().for_each(|&fd| sys::close(fd));
            return format!("setup-failed {}", errno_name(e));
        }
    }
    let expand = |path: &[u8]| expand(path, &fds);
    let dfd = |d: Dfd| match d {
        Dfd::Cwd => libc::AT_FDCWD,
        Dfd::Raw(n) => n,
        Dfd::Pre(i) => fds[i],
    };
    if let Call::Sys { sys, args } = &op.call {
        let old_umask = op.umask.map(sys::umask);
        let result = call_sys(*sys, args, &dfd, &expand);
        if old_umask.is_some() {
            sys::umask(UMASK);
        }
        let mut line = match result {
            Ok(ret) => format!("ret={ret}"),
            Err(e) => format!("errno={}", errno_name(e)),
        };
        // Every path the call names, each relative to the dirfd just before it.
        let mut named: Vec<(i32, &[u8])> = Vec::new();
        let mut at = libc::AT_FDCWD;
        for arg in args {
            match arg {
                Arg::Fd(d) => at = dfd(*d),
                Arg::Path(path) => {
                    named.push((at, path));
                    at = libc::AT_FDCWD;
                }
                _ => at = libc::AT_FDCWD,
            }
        }
        show_states(&mut line, op, named, since, &expand);
        fds.iter().filter(|&&fd| fd >= 0).for_each(|&fd| sys::close(fd));
        return line;
    }
    // What the call names (dirfd, path), and whether its state is shown afterwards (when it creates or removes).
    let creates = |flags: i64| flags & i64::from(libc::O_CREAT) != 0;
    let (d, path, shown) = match &op.call {
        Call::Open { path, flags, .. } => (Dfd::Cwd, path, creates((*flags).into())),
        Call::Openat { dfd, path, flags, .. } => (*dfd, path, creates((*flags).into())),
        Call::Openat2 { dfd, path, how, .. } => (*dfd, path, creates(how[0] as i64)),
        Call::Creat { path, .. } | Call::Mkdir { path, .. } => (Dfd::Cwd, path, true),
        Call::Unlink { path } | Call::Rmdir { path } => (Dfd::Cwd, path, true),
        Call::Mkdirat { dfd, path, .. } | Call::Unlinkat { dfd, path, .. } => (*dfd, path, true),
        Call::Sys { .. } => unreachable!("run above"),
    };
    let (d, p) = (dfd(d), c(&expand(path)));
    let old_umask = op.umask.map(sys::umask);
    let result = match &op.call {
        Call::Open { flags, mode, .. } => sys::open(&p, *flags, *mode),
        Call::Openat { flags, mode, .. } => sys::openat(d, &p, *flags, *mode),
        Call::Openat2 { how, size, .. } => sys::openat2(d, &p, how, *size),
        Call::Creat { mode, .. } => sys::creat(&p, *mode),
        Call::Mkdir { mode, .. } => sys::mkdir(&p, *mode),
        Call::Mkdirat { mode, .. } => sys::mkdirat(d, &p, *mode),
        Call::Unlink { .. } => sys::unlink(&p),
        Call::Unlinkat { flags, .. } => sys::unlinkat(d, &p, *flags),
        Call::Rmdir { .. } => sys::rmdir(&p),
        Call::Sys { .. } => unreachable!("run above"),
    };
    let is_open =
        matches!(op.call, Call::Open { .. } | Call::Openat { .. } | Call::Openat2 { .. } | Call::Creat { .. });
    if old_umask.is_some() {
        sys::umask(UMASK);
    }
    let mut line = match result {
        Err(e) => format!("errno={}", errno_name(e)),
        Ok(fd) if is_open => {
            let text = describe(fd as i32, &op.fp, &known, same_as);
            sys::close(fd as i32);
            text
        }
        Ok(ret) => format!("ret={ret}"),
    };
    let named = if shown { vec![(d, path.as_slice())] } else { Vec::new() };
    show_states(&mut line, op, named, since, &expand);
    fds.iter().filter(|&&fd| fd >= 0).for_each(|&fd| sys::close(fd));
    line
}

/// Appends the state of what the call named (when it is a name that stat can show), then of the requested paths;
/// each labelled as written in the op (placeholders unexpanded).
fn show_states(line: &mut String, op: &Op, named: Vec<(i32, &[u8])>, since: i64, expand: &dyn Fn(&[u8]) -> Vec<u8>) {
    let times = op.times.then_some(since);
    let mut states: Vec<(i32, &[u8], bool)> = Vec::new();
    states.extend(named.into_iter().filter(|(_, p)| !p.is_empty() && p.len() < 200).map(|(d, p)| (d, p, false)));
    states.extend(op.check.iter().map(|p| (libc::AT_FDCWD, p.as_slice(), false)));
    states.extend(op.follow.iter().map(|p| (libc::AT_FDCWD, p.as_slice(), true)));
    for (d, path, follow) in states {
        let label = if path.len() > 64 { format!("<{}-byte path>", path.len()) } else { show(path) };
        let at = if follow { "@" } else { "" };
        // A directory's link count, of the tree only (that of /proc counts processes).
        let nlink = !path.starts_with(b"/");
        let _ = write!(line, " | {at}{label}={}", state(d, &expand(path), follow, nlink, times));
    }
}

/// Makes the raw arguments of a [`Call::Sys`] (strings and times owned here for the call) and runs it.
fn call_sys(sys: sys::Sys, args: &[Arg], dfd: &dyn Fn(Dfd) -> i32, expand: &dyn Fn(&[u8]) -> Vec<u8>) -> Res {
    let mut strings: Vec<CString> = Vec::new();
    let mut times: Vec<Box<[libc::timespec; 2]>> = Vec::new();
    let mut raw: Vec<libc::c_long> = Vec::new();
    for arg in args {
        raw.push(match arg {
            Arg::Fd(d) => dfd(*d) as libc::c_long,
            Arg::Path(p) | Arg::Text(p) => {
                strings.push(c(&expand(p)));
                strings.last().expect("just pushed").as_ptr() as libc::c_long
            }
            Arg::Null => 0,
            Arg::Int(n) => *n as libc::c_long,
            Arg::OwnUid => sys::geteuid() as libc::c_long,
            Arg::OwnGid => sys::getegid() as libc::c_long,
            Arg::Times([a, an, m, mn]) => {
                // SAFETY: an all-zero timespec is a valid value.
                let mut ts: [libc::timespec; 2] = unsafe { std::mem::zeroed() };
                (ts[0].tv_sec, ts[0].tv_nsec, ts[1].tv_sec, ts[1].tv_nsec) = (*a, *an, *m, *mn);
                times.push(Box::new(ts));
                times.last().expect("just pushed").as_ptr() as libc::c_long
            }
        });
    }
    sys.call(&raw)
}

fn expand(path: &[u8], fds: &[i32]) -> Vec<u8> {
    if !path.contains(&b'{') {
        return path.to_vec();
    }
    let mut text = String::from_utf8(path.to_vec()).expect("placeholders only in UTF-8 paths");
    for (i, fd) in fds.iter().enumerate() {
        text = text.replace(&format!("{{{i}}}"), &fd.to_string());
    }
    text = text.replace("{tid}", &sys::gettid().to_string());
    let mut bytes = text.into_bytes();
    if let Some(at) = bytes.windows(5).position(|w| w == b"{cwd}") {
        bytes.splice(at..at + 5, sys::getcwd());
    }
    bytes
}

/// `lstat` (or with `follow`, `stat`) of `path` relative to `dirfd`: `missing`, an errno, or type:mode:uid:gid
/// and what fits the type (a directory's link count with `nlink`); with `times`, the access and modification times
/// too (`now` from that second on).
pub fn state(dirfd: i32, path: &[u8], follow: bool, nlink: bool, times: Option<i64>) -> String {
    let flags = if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
    let st = match sys::fstatat(dirfd, &c(path), flags) {
        Err(libc::ENOENT) => return "missing".into(),
        Err(e) => return errno_name(e),
        Ok(st) => st,
    };
    let base = format!("{}:{:04o}:{}:{}", kind(st.st_mode), st.st_mode & 0o7777, st.st_uid, st.st_gid);
    let mut text = match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => format!("{base}:size={}:nlink={}", st.st_size, st.st_nlink),
        libc::S_IFDIR if nlink => format!("{base}:nlink={}", st.st_nlink),
        libc::S_IFLNK => match sys::readlinkat(dirfd, &c(path)) {
            Err(e) => format!("{base}->{}", errno_name(e)),
            Ok(t) if t.len() > 128 => format!("{base}-><{} bytes, fnv {:016x}>", t.len(), fnv(&t)),
            Ok(t) => format!("{base}->{}", show(&mask_inodes(&t))),
        },
        libc::S_IFCHR | libc::S_IFBLK => {
            format!("{base}:rdev={}:{}", libc::major(st.st_rdev), libc::minor(st.st_rdev))
        }
        _ => base,
    };
    if let Some(since) = times {
        let time = |sec: i64, nsec: i64| {
            if (since..since + 3600).contains(&sec) {
                "now".to_string()
            } else {
                format!("{sec}.{nsec:09}")
            }
        };
        let _ = write!(text, ":a={}:m={}", time(st.st_atime, st.st_atime_nsec), time(st.st_mtime, st.st_mtime_nsec));
    }
    text
}

/// A magic link's text with the inode numbers it holds (`pipe:[N]`, `socket:[N]`, an O_TMPFILE's `#N`) as `N`.
fn mask_inodes(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        out.push(text[i]);
        i += 1;
        if matches!(out.last(), Some(b'[' | b'#')) && text.get(i).is_some_and(u8::is_ascii_digit) {
            while text.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            out.push(b'N');
        }
    }
    out
}

fn kind(mode: u32) -> &'static str {
    match mode & libc::S_IFMT {
        libc::S_IFREG => "reg",
        libc::S_IFDIR => "dir",
        libc::S_IFLNK => "lnk",
        libc::S_IFIFO => "fifo",
        libc::S_IFCHR => "chr",
        libc::S_IFBLK => "blk",
        libc::S_IFSOCK => "sock",
        _ => "?",
    }
}

/// Bytes as text: printable ASCII as is, the rest `\xNN`.
pub fn show(bytes: &[u8]) -> String {
    let mut text = String::new();
    for &b in bytes {
        if (0x20..0x7f).contains(&b) && b != b'\\' {
            text.push(b as char);
        } else {
            let _ = write!(text, "\\x{b:02x}");
        }
    }
    text
}

/// Everything that can be said of an fd, deterministically.
fn describe(fd: i32, fp: &Fp, known: &[(&[u8], (u64, u64))], same_as: Option<Result<(u64, u64), i32>>) -> String {
    let mut text = format!("fd={fd}");
    let st = match sys::fstat(fd) {
        Ok(st) => st,
        Err(e) => return format!("{text} fstat={}", errno_name(e)),
    };
    let flags = sys::fcntl(fd, libc::F_GETFL);
    let cloexec = sys::fcntl(fd, libc::F_GETFD).map(|f| f & i64::from(libc::FD_CLOEXEC));
    let pos = sys::lseek_cur(fd);
    let res = |r: Res, hex: bool| match r {
        Ok(v) if hex => format!("{v:#x}"),
        Ok(v) => v.to_string(),
        Err(e) => errno_name(e),
    };
    let _ = write!(
        text,
        " {} {:04o} {}:{} fl={} cloexec={} pos={}",
        kind(st.st_mode),
        st.st_mode & 0o7777,
        st.st_uid,
        st.st_gid,
        res(flags, true),
        res(cloexec, false),
        res(pos, false)
    );
    let readable = flags.is_ok_and(|f| f as i32 & libc::O_PATH == 0 && f as i32 & libc::O_ACCMODE != libc::O_WRONLY);
    let fmt = st.st_mode & libc::S_IFMT;
    match fp {
        Fp::None => {}
        Fp::Auto => match fmt {
            libc::S_IFREG => {
                let _ = write!(text, " nlink={} size={}", st.st_nlink, st.st_size);
                if readable {
                    let _ = write!(text, " data={}", read_all(fd, 64).map_or_else(errno_name, |d| first_line(&d)));
                }
            }
            libc::S_IFDIR => {
                let is =
                    known.iter().find(|(_, id)| *id == (st.st_dev, st.st_ino)).map_or("?".into(), |(p, _)| show(p));
                let _ = write!(text, " is={is}");
                if readable {
                    let _ = write!(text, " ents={}", entries(fd));
                }
            }
            libc::S_IFLNK => {
                let _ = write!(text, " ->{}", sys::readlinkat(fd, c"").map_or_else(errno_name, |t| show(&t)));
            }
            libc::S_IFCHR | libc::S_IFBLK => {
                let _ = write!(text, " rdev={}:{}", libc::major(st.st_rdev), libc::minor(st.st_rdev));
            }
            _ => {}
        },
        Fp::Status => match read_all(fd, 1 << 16) {
            Err(e) => text += &format!(" read={}", errno_name(e)),
            Ok(data) => {
                let data = String::from_utf8_lossy(&data);
                let field = |name: &str| {
                    data.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_string()).unwrap_or_default()
                };
                let own = |name: &str, id: i64| if field(name) == id.to_string() { "own" } else { "other" };
                let _ = write!(
                    text,
                    " name={} tgid={} pid={} uid={} gid={} capeff={}",
                    field("Name:"),
                    own("Tgid:", sys::getpid()),
                    own("Pid:", sys::gettid()),
                    field("Uid:").split_whitespace().collect::<Vec<_>>().join(","),
                    field("Gid:").split_whitespace().collect::<Vec<_>>().join(","),
                    field("CapEff:")
                );
            }
        },
        Fp::Mem => {
            let mut buf = [0u8; 32];
            let at = std::hint::black_box(&MARK).as_ptr() as i64;
            let _ = match sys::pread(fd, &mut buf, at) {
                Ok(32) if buf == MARK => write!(text, " mem=own"),
                Ok(_) => write!(text, " mem=other"),
                Err(e) => write!(text, " mem={}", errno_name(e)),
            };
        }
        Fp::Content => {
            let shown = read_all(fd, 4096).map_or_else(errno_name, |d| show(&d).replace("\\x00", "|"));
            let _ = write!(text, " data={shown}");
        }
        Fp::Hash => {
            let _ = match read_all(fd, 1 << 20) {
                Ok(d) => write!(text, " len={} fnv={:016x}", d.len(), fnv(&d)),
                Err(e) => write!(text, " read={}", errno_name(e)),
            };
        }
        Fp::Maps => {
            let exe = sys::readlinkat(libc::AT_FDCWD, c"/proc/self/exe").unwrap_or_default();
            let _ = match read_all(fd, 1 << 20) {
                Ok(d) if !exe.is_empty() && d.windows(exe.len()).any(|w| w == exe) => write!(text, " maps=own"),
                Ok(_) => write!(text, " maps=other"),
                Err(e) => write!(text, " read={}", errno_name(e)),
            };
        }
        Fp::Lines(prefixes) => {
            let data = read_all(fd, 1 << 16).unwrap_or_default();
            let data = String::from_utf8_lossy(&data);
            for line in data.lines().filter(|l| prefixes.iter().any(|p| l.starts_with(p))) {
                let _ = write!(text, " [{}]", line.split_whitespace().collect::<Vec<_>>().join(" "));
            }
        }
        Fp::SameAs(_) => {
            let _ = match same_as.expect("stat'ed before the call") {
                Ok(id) => write!(text, " same={}", if id == (st.st_dev, st.st_ino) { "yes" } else { "no" }),
                Err(e) => write!(text, " same={}", errno_name(e)),
            };
        }
    }
    text
}

/// Up to `limit` bytes from offset 0, with pread (the fd's position is left alone).
fn read_all(fd: i32, limit: usize) -> Result<Vec<u8>, i32> {
    let mut data = Vec::new();
    let mut buf = vec![0u8; 4096];
    while data.len() < limit {
        let n = sys::pread(fd, &mut buf, data.len() as i64)? as usize;
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
    }
    data.truncate(limit);
    Ok(data)
}

fn first_line(data: &[u8]) -> String {
    let end = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    format!("\"{}\"", show(&data[..end]))
}

/// A directory's entries: the names when there are at most 12, else their number.
fn entries(fd: i32) -> String {
    match sys::dir_entries(fd) {
        Err(e) => errno_name(e),
        Ok(names) if names.len() <= 12 => names.iter().map(|n| show(n)).collect::<Vec<_>>().join(","),
        Ok(names) => format!("{} entries", names.len()),
    }
}

fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}
