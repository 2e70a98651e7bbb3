//! A cache of compiled filters. libseccomp needs about 10 ms to build and compile Docker's default profile, against
//! about 0.3 ms to load a finished program, so `supervise` keeps the BPF of each resolved policy under
//! `$XDG_CACHE_HOME/supervise/` (or `~/.cache/supervise/`), keyed by the resolved policy, the libseccomp version,
//! the architecture and the build. The file name is a hash of the key; the entry holds the whole key, compared on
//! load, so that a collision, a stale entry or a planted one made for another policy is a miss. Only a directory
//! and entries of the effective user's own are used ([`dir`]). A cache that cannot be read or written is skipped;
//! it never changes a result.

mod dir;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use proto::{Arch, Policy};

use crate::filter::{compile, Bpf, Compiled, FilterError};
use dir::CacheDir;

/// Starts every entry; changes whenever the entry format does.
const MAGIC: &[u8; 8] = b"SUPVBPF2";
/// Changes whenever the compiler in `filter.rs` changes what it emits for the same policy (bump it there).
const COMPILER_REVISION: u32 = 4;

/// [`compile`], through the cache.
///
/// # Errors
/// As [`compile`].
pub fn compile_cached(policy: &Policy) -> Result<Compiled, FilterError> {
    compile_in(cache_dir().as_deref(), policy)
}

/// [`compile`], through the cache in `dir` (none: no cache).
fn compile_in(dir: Option<&Path>, policy: &Policy) -> Result<Compiled, FilterError> {
    let (Some(dir), Some(key)) = (dir, key(policy)) else { return compile(policy) };
    let Some(cache) = CacheDir::open(dir) else { return compile(policy) };
    let name = entry_name(&key);
    if let Some(compiled) = cache.read(&name).and_then(|bytes| decode(&bytes, &key)) {
        return Ok(compiled);
    }
    let compiled = compile(policy)?;
    cache.write(&name, &encode(&key, &compiled));
    Ok(compiled)
}

fn cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("supervise"))
}

/// Everything the compiled program depends on. `Policy`'s `Debug` is derived, so it shows every field.
fn key(policy: &Policy) -> Option<String> {
    let version = libseccomp::ScmpVersion::current().ok()?;
    Some(format!(
        "{policy:?}|libseccomp {}.{}.{}|{}|{}|compiler {COMPILER_REVISION}|build {}",
        version.major,
        version.minor,
        version.micro,
        Arch::native(),
        env!("CARGO_PKG_VERSION"),
        build_id(),
    ))
}

fn entry_name(key: &str) -> String {
    format!("{:016x}.bpf", fnv1a(key.as_bytes()))
}

/// Size and mtime of the running executable: a new build never reuses filters an older one compiled.
fn build_id() -> String {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self/exe")
        .map_or_else(|_| "?".into(), |m| format!("{}:{}.{}", m.size(), m.mtime(), m.mtime_nsec()))
}

/// FNV-1a, 64-bit: stable across builds, unlike `DefaultHasher`.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// An entry: `MAGIC`, the key's length (u32 LE) and the key, `notifies` (one byte), the instruction count (u32 LE),
/// the program (native-endian `sock_filter` records), then one `index\tname` line per skipped syscall.
fn encode(key: &str, compiled: &Compiled) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key.as_bytes());
    out.push(u8::from(compiled.notifies));
    out.extend_from_slice(&(compiled.bpf.len() as u32).to_le_bytes());
    out.extend_from_slice(&compiled.bpf.to_bytes());
    let mut skipped = String::new();
    for (index, name) in &compiled.skipped {
        let _ = writeln!(skipped, "{index}\t{name}");
    }
    out.extend_from_slice(skipped.as_bytes());
    out
}

/// The program of an entry made for exactly `key`; `None` for anything else.
fn decode(bytes: &[u8], key: &str) -> Option<Compiled> {
    let rest = bytes.strip_prefix(MAGIC)?;
    let key_len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let rest = rest.get(4..)?;
    if rest.get(..key_len)? != key.as_bytes() {
        return None;
    }
    let rest = &rest[key_len..];
    let (&notifies, rest) = rest.split_first()?;
    let count = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    if count == 0 || count > usize::from(u16::MAX) {
        return None;
    }
    let bpf = Bpf::from_bytes(rest.get(4..4 + count * 8)?).ok()?;
    let skipped = std::str::from_utf8(&rest[4 + count * 8..])
        .ok()?
        .lines()
        .map(|line| {
            let (index, name) = line.split_once('\t')?;
            Some((index.parse().ok()?, name.to_string()))
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Compiled { bpf, notifies: notifies == 1, skipped })
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use super::*;
    use crate::filter::Insn;
    use proto::{Action, Errno, Rule};

    fn policy() -> Policy {
        Policy::new(Action::Allow, vec![Rule::new(0, &["mkdir", "no_such_call"], Action::Errno(Errno::EPERM))])
    }

    fn insns(compiled: &Compiled) -> String {
        format!("{:?}", compiled.bpf.insns())
    }

    /// A program that allows every syscall: what an attacker would plant.
    fn allow_all() -> Compiled {
        let ret_allow = Insn { code: 0x06, jt: 0, jf: 0, k: libc::SECCOMP_RET_ALLOW };
        Compiled { bpf: Bpf::from_insns(vec![ret_allow]), notifies: false, skipped: vec![] }
    }

    /// A fresh cache base, the directory the cache uses under it, and the path of `policy()`'s entry there.
    fn cache() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("supervise");
        let entry = dir.join(entry_name(&key(&policy()).unwrap()));
        (base, dir, entry)
    }

    /// Writes `allow_all()` for `key` at `path`, mode 0600.
    fn plant(path: &Path, key: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::set_permissions(path.parent().unwrap(), fs::Permissions::from_mode(0o700)).unwrap();
        fs::write(path, encode(key, &allow_all())).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
    }

    /// Compiles `policy()` through the cache in `dir` and says whether the planted program came back.
    fn loads_planted(dir: &Path) -> bool {
        let got = compile_in(Some(dir), &policy()).unwrap();
        let real = compile(&policy()).unwrap();
        if insns(&got) == insns(&allow_all()) {
            return true;
        }
        assert_eq!(insns(&got), insns(&real), "either the planted program or the real one");
        false
    }

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    #[test]
    fn entries_round_trip_and_garbage_is_ignored() {
        let compiled = compile(&policy()).unwrap();
        let decoded = decode(&encode("k", &compiled), "k").unwrap();
        assert_eq!(decoded.skipped, compiled.skipped);
        assert_eq!(decoded.notifies, compiled.notifies);
        assert_eq!(insns(&decoded), insns(&compiled));
        assert!(decode(b"SUPVBPF2", "k").is_none());
        assert!(decode(b"garbage", "k").is_none());
        let mut truncated = encode("k", &compiled);
        truncated.truncate(20);
        assert!(decode(&truncated, "k").is_none());
    }

    #[test]
    fn an_entry_is_only_read_back_with_its_whole_key() {
        let entry = encode("policy A", &allow_all());
        assert!(decode(&entry, "policy A").is_some());
        for other in ["policy B", "policy", "policy A ", ""] {
            assert!(decode(&entry, other).is_none(), "{other:?}");
        }
    }

    #[test]
    fn the_cache_serves_the_same_program() {
        let (_base, dir, _) = cache();
        let first = compile_in(Some(&dir), &policy()).unwrap();
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        let second = compile_in(Some(&dir), &policy()).unwrap();
        assert_eq!(insns(&first), insns(&second));
    }

    #[test]
    fn a_planted_entry_of_our_own_is_loaded_so_the_refusals_below_test_the_checks() {
        let (_base, dir, entry) = cache();
        plant(&entry, &key(&policy()).unwrap());
        assert!(loads_planted(&dir));
    }

    #[test]
    fn a_planted_entry_with_another_key_is_not_loaded() {
        let (_base, dir, entry) = cache();
        plant(&entry, &format!("{:?}", Policy::new(Action::Allow, vec![])));
        assert!(!loads_planted(&dir));
        // The miss was recompiled and stored over the planted entry.
        assert!(decode(&fs::read(&entry).unwrap(), &key(&policy()).unwrap()).is_some());
    }

    #[test]
    fn a_planted_entry_writable_by_group_or_others_is_refused() {
        for mode in [0o620, 0o602, 0o666] {
            let (_base, dir, entry) = cache();
            plant(&entry, &key(&policy()).unwrap());
            fs::set_permissions(&entry, fs::Permissions::from_mode(mode)).unwrap();
            assert!(!loads_planted(&dir), "mode {mode:o}");
        }
    }

    #[test]
    fn a_planted_entry_of_another_uid_is_refused() {
        if !is_root() {
            eprintln!("skipped: needs root to give the entry to uid 65534");
            return;
        }
        let (_base, dir, entry) = cache();
        plant(&entry, &key(&policy()).unwrap());
        std::os::unix::fs::chown(&entry, Some(65534), Some(65534)).unwrap();
        assert!(!loads_planted(&dir));
    }

    #[test]
    fn a_symlinked_entry_is_refused() {
        let (base, dir, entry) = cache();
        let elsewhere = base.path().join("elsewhere.bpf");
        plant(&elsewhere, &key(&policy()).unwrap());
        fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &entry).unwrap();
        assert!(!loads_planted(&dir));
        assert!(fs::symlink_metadata(&entry).unwrap().is_file(), "the link is replaced by a real entry");
    }

    #[test]
    fn a_cache_directory_writable_by_others_or_of_another_uid_is_not_used() {
        for mode in [0o770, 0o707, 0o777, 0o1777] {
            let (_base, dir, entry) = cache();
            plant(&entry, &key(&policy()).unwrap());
            fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).unwrap();
            assert!(!loads_planted(&dir), "mode {mode:o}");
            assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "nothing is written there either");
        }
        if !is_root() {
            eprintln!("skipped: a directory of uid 65534 needs root");
            return;
        }
        let (_base, dir, entry) = cache();
        plant(&entry, &key(&policy()).unwrap());
        std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
        assert!(!loads_planted(&dir));
    }

    #[test]
    fn new_entries_are_0600_in_0700_directories_with_no_temporary_file_left() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("a/b/supervise");
        compile_in(Some(&dir), &policy()).unwrap();
        for created in ["a", "a/b", "a/b/supervise"] {
            let mode = fs::metadata(base.path().join(created)).unwrap().mode() & 0o777;
            assert_eq!(mode, 0o700, "{created}");
        }
        let entries: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(entries.len(), 1, "{entries:?}");
        assert_eq!(fs::metadata(&entries[0]).unwrap().mode() & 0o777, 0o600);
        assert!(entries[0].extension().is_some_and(|e| e == "bpf"));
    }
}
