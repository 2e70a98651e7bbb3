//! The program's processes as `/proc` shows them: supervise's descendants (supervise is their subreaper, so orphans
//! stay under it), with what tells whether the terminal's job control holds them while supervise asks.
//!
//! A process with the terminal open is held by job control when the terminal is its controlling terminal and it
//! neither ignores nor blocks SIGTTIN and SIGTTOU: reading (or writing, with TOSTOP) from a background process
//! group then stops it. Job control is checked when a read or a write starts, so a thread already asleep in a read
//! of the terminal would still take the next key. [`Proc::must_freeze`] tells which processes supervise must stop
//! itself.

use std::os::unix::fs::MetadataExt;

use crate::kernel::proc;

/// One process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    pub pgid: i32,
    /// `T`, `t`, `Z`, `S`, `R`, `D`, … of the process (its main thread).
    pub state: char,
    /// The device of its controlling terminal (`tty_nr`), 0 for none.
    pub ctty: u64,
}

impl Proc {
    pub fn stopped(&self) -> bool {
        matches!(self.state, 'T' | 't')
    }

    pub fn gone(&self) -> bool {
        matches!(self.state, 'Z' | 'X' | 'x')
    }

    /// True if this process could take keys from a question, or write on it, while supervise has the terminal
    /// `tty` (a device number), so that it must stay stopped until the answer: it has `tty` open and a thread
    /// sleeps in a read or write of it (job control is checked when a call starts, not while it sleeps), or we
    /// cannot tell (its `/proc` files are closed to us). With `job_control` (supervise's group took the terminal's
    /// foreground from the program's), also when job control does not hold it: `tty` is not its controlling
    /// terminal, or it ignores SIGTTIN or SIGTTOU.
    pub fn must_freeze(&self, tty: u64, job_control: bool) -> bool {
        if self.stopped() || self.gone() {
            return false;
        }
        let fds = match tty_fds(self.pid, tty, self.ctty) {
            Some(fds) if fds.is_empty() => return false,
            Some(fds) => fds,
            None => return true,
        };
        if job_control && self.ctty != tty {
            return true;
        }
        let Some(tasks) = proc::threads(self.pid) else { return !self.gone() };
        for tid in tasks {
            let Some(status) = proc::thread_file(self.pid, tid, "status") else { continue };
            // Ignored, not blocked: a thread blocks every signal for a moment around fork(2), and a blocked
            // SIGTTIN only turns a background read into EIO (no key taken), a blocked SIGTTOU lets a write through
            // to the held output (where the thread is then seen asleep in it).
            let ignored = status
                .lines()
                .find_map(|l| l.strip_prefix("SigIgn:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
                .unwrap_or(u64::MAX);
            let job_signals = (1u64 << (libc::SIGTTIN - 1)) | (1u64 << (libc::SIGTTOU - 1));
            if job_control && ignored & job_signals != 0 {
                return true;
            }
            match proc::thread_file(self.pid, tid, "syscall") {
                Some(line) if in_terminal_io(&line, &fds) => return true,
                Some(_) => {}
                // Gone meanwhile, or closed to us: we cannot tell, so hold it.
                None => return proc::thread_exists(self.pid, tid),
            }
        }
        false
    }
}

/// The device number `stat` reports for a controlling terminal (`tty_nr`), as a `dev_t`.
fn tty_nr_to_dev(tty_nr: u64) -> u64 {
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    libc::makedev(major as u32, minor as u32)
}

/// supervise's controlling terminal, as a device number.
pub fn own_terminal() -> Option<u64> {
    let stat = proc::stat("self")?;
    let tty_nr = fields(&stat)?.get(4)?.parse::<u64>().ok()?;
    (tty_nr != 0).then(|| tty_nr_to_dev(tty_nr))
}

/// The fields of a `stat` line after `(comm)` (which may hold spaces and parentheses): state is field 0.
fn fields(stat: &str) -> Option<Vec<&str>> {
    Some(stat.get(stat.rfind(')')? + 1..)?.split_whitespace().collect())
}

fn read(pid: i32) -> Option<(Proc, i32)> {
    let stat = proc::stat(&pid.to_string())?;
    let f = fields(&stat)?;
    let ppid = f.get(1)?.parse().ok()?;
    let proc = Proc {
        pid,
        state: f.first()?.chars().next()?,
        pgid: f.get(2)?.parse().ok()?,
        ctty: match f.get(4)?.parse::<u64>().ok()? {
            0 => 0,
            nr => tty_nr_to_dev(nr),
        },
    };
    Some((proc, ppid))
}

/// Every descendant of `root` (not `root` itself), read now.
pub fn descendants(root: i32) -> Vec<Proc> {
    let all: Vec<(Proc, i32)> = proc::pids().into_iter().filter_map(read).collect();
    let mut out = Vec::new();
    let mut parents = vec![root];
    while let Some(parent) = parents.pop() {
        for (proc, _) in all.iter().filter(|(p, ppid)| *ppid == parent && p.pid != root) {
            if !out.iter().any(|o: &Proc| o.pid == proc.pid) {
                parents.push(proc.pid);
                out.push(proc.clone());
            }
        }
    }
    out
}

/// True if every other process in `me`'s process group is one of its ancestors (a shell or a script waiting for
/// it), none a sibling such as the other commands of a pipeline (`supervise … | less`), which read and write the
/// terminal as the foreground job too.
pub fn alone_in_group(me: i32) -> bool {
    let all: Vec<(Proc, i32)> = proc::pids().into_iter().filter_map(read).collect();
    let Some(group) = all.iter().find(|(p, _)| p.pid == me).map(|(p, _)| p.pgid) else { return false };
    let mut ancestors = Vec::new();
    let mut at = me;
    while let Some(&(_, parent)) = all.iter().find(|(p, _)| p.pid == at) {
        if parent <= 0 || ancestors.contains(&parent) {
            break;
        }
        ancestors.push(parent);
        at = parent;
    }
    all.iter().filter(|(p, _)| p.pgid == group && p.pid != me && !p.gone()).all(|(p, _)| ancestors.contains(&p.pid))
}

/// The fds of `pid` open on the terminal `tty` (by their device, or `/dev/tty` when `tty` is its controlling
/// terminal); `None` if its fd table is closed to us.
fn tty_fds(pid: i32, tty: u64, ctty: u64) -> Option<Vec<u64>> {
    let dev_tty = libc::makedev(5, 0);
    let on_tty = |meta: &std::fs::Metadata| {
        meta.rdev() == tty || (meta.rdev() == dev_tty && ctty == tty && !meta.is_file() && !meta.is_dir())
    };
    Some(proc::fds_with_metadata(pid)?.into_iter().filter(|(_, meta)| on_tty(meta)).map(|(fd, _)| fd as u64).collect())
}

/// True if a `/proc/PID/task/TID/syscall` line shows a read or write family call on one of `fds`. The numbers are
/// those of every ABI the machine runs (a 32-bit program's `read` is 3 on x86): a false match only holds an honest
/// process for the length of a question.
fn in_terminal_io(line: &str, fds: &[u64]) -> bool {
    let mut parts = line.split_whitespace();
    let (Some(nr), Some(fd)) = (parts.next(), parts.next()) else { return false };
    let (Ok(nr), Some(fd)) = (nr.parse::<i32>(), fd.strip_prefix("0x").and_then(|f| u64::from_str_radix(f, 16).ok()))
    else {
        return false;
    };
    const IO: &[&str] = &["read", "readv", "pread64", "preadv", "preadv2", "write", "writev", "pwrite64", "pwritev"];
    fds.contains(&fd)
        && proto::Arch::native()
            .runnable_on()
            .iter()
            .any(|&arch| crate::kernel::syscalls::name_of(arch, nr).is_some_and(|name| IO.contains(&name.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_survive_odd_names() {
        let line = "123 (a) b (c) S 1 123 123 34816 123 4194560";
        let f = fields(line).unwrap();
        assert_eq!(&f[..5], ["S", "1", "123", "123", "34816"]);
        assert_eq!(tty_nr_to_dev(34816), libc::makedev(136, 0));
        assert_eq!(tty_nr_to_dev(34817 + (1 << 20)), libc::makedev(136, 257));
    }

    #[test]
    fn a_read_of_the_terminal_is_seen_in_the_syscall_line() {
        let read = crate::kernel::syscalls::number_of("read", proto::Arch::native()).unwrap();
        assert!(in_terminal_io(&format!("{read} 0x0 0x7ffe 0x1 0x8 0x2 0x1 0x7ffe 0x7f27"), &[0]));
        assert!(!in_terminal_io(&format!("{read} 0x3 0x7ffe 0x1 0x8 0x2 0x1 0x7ffe 0x7f27"), &[0]));
        assert!(!in_terminal_io("running", &[0]));
        let wait = crate::kernel::syscalls::number_of("wait4", proto::Arch::native()).unwrap();
        assert!(!in_terminal_io(&format!("{wait} 0x0 0x0 0x0 0x0 0x0 0x0 0x0 0x0"), &[0]));
    }

    #[test]
    fn a_sibling_in_the_group_is_not_an_ancestor() {
        let spawn = || std::process::Command::new("sleep").arg("5").spawn().unwrap();
        let (mut a, mut b) = (spawn(), spawn());
        let alone = alone_in_group(a.id() as i32);
        for child in [&mut a, &mut b] {
            let _ = child.kill();
            let _ = child.wait();
        }
        assert!(!alone, "b shares a's group and is not its ancestor");
    }

    #[test]
    fn our_children_are_found() {
        let mut child = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        let found = descendants(std::process::id() as i32);
        let _ = child.kill();
        let _ = child.wait();
        assert!(found.iter().any(|p| p.pid == child.id() as i32), "{found:?}");
    }
}
