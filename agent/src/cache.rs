//! A cache of compiled filters. libseccomp needs about 10 ms to build and compile Docker's default profile, against
//! about 0.3 ms to load a finished program, so `supervise` keeps the BPF of each resolved policy under
//! `$XDG_CACHE_HOME/supervise/` (or `~/.cache/supervise/`), keyed by the resolved policy, the libseccomp version
//! and the architecture. A cache that cannot be read or written is skipped silently; it never changes a result.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use proto::{Arch, Policy};

use crate::filter::{compile, Bpf, Compiled, FilterError};

const MAGIC: &[u8; 8] = b"SUPVBPF1";
/// Changes whenever the compiler in `filter.rs` changes what it emits for the same policy (bump it there).
const COMPILER_REVISION: u32 = 3;

/// [`compile`], through the cache.
///
/// # Errors
/// As [`compile`].
pub fn compile_cached(policy: &Policy) -> Result<Compiled, FilterError> {
    let Some(path) = entry_path(policy) else { return compile(policy) };
    if let Some(compiled) = fs::read(&path).ok().and_then(|bytes| decode(&bytes)) {
        return Ok(compiled);
    }
    let compiled = compile(policy)?;
    store(&path, &compiled);
    Ok(compiled)
}

fn cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("supervise"))
}

fn entry_path(policy: &Policy) -> Option<PathBuf> {
    let version = libseccomp::ScmpVersion::current().ok()?;
    let key = format!(
        "{policy:?}|libseccomp {}.{}.{}|{}|{}|compiler {COMPILER_REVISION}|build {}",
        version.major,
        version.minor,
        version.micro,
        Arch::native(),
        env!("CARGO_PKG_VERSION"),
        build_id(),
    );
    Some(cache_dir()?.join(format!("{:016x}.bpf", fnv1a(key.as_bytes()))))
}

/// Size and mtime of the running executable: a new build never reuses filters an older one compiled.
fn build_id() -> String {
    use std::os::unix::fs::MetadataExt;
    fs::metadata("/proc/self/exe")
        .map_or_else(|_| "?".into(), |m| format!("{}:{}.{}", m.size(), m.mtime(), m.mtime_nsec()))
}

/// FNV-1a, 64-bit: stable across builds, unlike `DefaultHasher`.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

fn encode(compiled: &Compiled) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
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

fn decode(bytes: &[u8]) -> Option<Compiled> {
    let rest = bytes.strip_prefix(MAGIC)?;
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

fn store(path: &std::path::Path, compiled: &Compiled) {
    let Some(dir) = path.parent() else { return };
    if fs::create_dir_all(dir).is_err() {
        return;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let written = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| f.write_all(&encode(compiled)));
    if written.and_then(|()| fs::rename(&tmp, path)).is_err() {
        let _ = fs::remove_file(&tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::{Action, Errno, Rule};

    fn policy() -> Policy {
        Policy::new(Action::Allow, vec![Rule::new(0, &["mkdir", "no_such_call"], Action::Errno(Errno::EPERM))])
    }

    #[test]
    fn entries_round_trip_and_garbage_is_ignored() {
        let compiled = compile(&policy()).unwrap();
        let decoded = decode(&encode(&compiled)).unwrap();
        assert_eq!(decoded.skipped, compiled.skipped);
        assert_eq!(decoded.notifies, compiled.notifies);
        assert_eq!(format!("{:?}", decoded.bpf.insns()), format!("{:?}", compiled.bpf.insns()));
        assert!(decode(b"SUPVBPF1").is_none());
        assert!(decode(b"garbage").is_none());
        let mut truncated = encode(&compiled);
        truncated.truncate(20);
        assert!(decode(&truncated).is_none());
    }

    #[test]
    fn the_cache_serves_the_same_program() {
        let dir = tempfile::tempdir().unwrap();
        std::env::set_var("XDG_CACHE_HOME", dir.path());
        let first = compile_cached(&policy()).unwrap();
        let entries: Vec<_> = fs::read_dir(dir.path().join("supervise")).unwrap().collect();
        assert_eq!(entries.len(), 1);
        let second = compile_cached(&policy()).unwrap();
        assert_eq!(format!("{:?}", first.bpf.insns()), format!("{:?}", second.bpf.insns()));
    }
}
