//! The filter cache trusts only the effective user's own files. Each test lets supervise write the entry
//! of a policy that denies `mkdir`, replaces it with a program that allows everything (the weaker filter another
//! user would plant), makes it untrusted in one way, and checks that `mkdir` is still denied. The first test is the
//! control: the same planted entry, trusted, is loaded, so the others fail if a check goes missing.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{mkdir_rule, needs_root, run_with, supervise, temp_dir, write_policy, Output, NOBODY, TIMEOUT};

/// A private cache and a policy that denies `mkdir` (EPERM), with its entry written by a first run.
struct Cache {
    base: tempfile::TempDir,
    policy: PathBuf,
    entry: PathBuf,
    genuine: Vec<u8>,
}

impl Cache {
    fn new() -> Cache {
        let base = temp_dir();
        let policy = write_policy(base.path(), "p.json", &mkdir_rule("SCMP_ACT_ERRNO", ""));
        let cache = Cache { base, policy, entry: PathBuf::new(), genuine: Vec::new() };
        let out = cache.mkdir();
        assert_eq!(out.code, Some(1), "mkdir is denied: {}", out.stderr);
        let entries: Vec<PathBuf> =
            std::fs::read_dir(cache.dir()).unwrap().map(|e| e.unwrap().path()).collect::<Vec<_>>();
        assert_eq!(entries.len(), 1, "one entry: {entries:?}");
        let genuine = std::fs::read(&entries[0]).unwrap();
        Cache { entry: entries[0].clone(), genuine, ..cache }
    }

    /// `supervise --policy P -- mkdir BASE/d` with this cache; `d` is removed afterwards.
    fn mkdir(&self) -> Output {
        let target = self.base.path().join("d");
        let mut cmd = Command::new(supervise());
        cmd.arg("--policy").arg(&self.policy).arg("--").arg("mkdir").arg(&target);
        cmd.env("XDG_CACHE_HOME", self.base.path().join("cache"));
        let out = run_with(cmd, b"", TIMEOUT);
        let _ = std::fs::remove_dir(&target);
        out
    }

    fn dir(&self) -> PathBuf {
        self.base.path().join("cache/supervise")
    }

    /// Writes, at `path` (mode 0600), the genuine entry with its program replaced by one that allows everything,
    /// and with its key changed if `other_key`.
    fn plant(&self, path: &Path, other_key: bool) {
        std::fs::write(path, allow_all(&self.genuine, other_key)).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    /// Asserts that `mkdir` was denied, so the planted program was not loaded, with a warning if `warned`.
    fn assert_denied(&self, what: &str, warned: bool) {
        let out = self.mkdir();
        assert_eq!(out.code, Some(1), "{what}: the planted filter was loaded: {}", out.stderr);
        assert!(out.stderr.contains("Operation not permitted"), "{what}: {}", out.stderr);
        assert_eq!(out.stderr.contains("not trusted"), warned, "{what}: the warning: {}", out.stderr);
    }
}

/// An entry (`SUPVBPF2`, key length and key, notifies, count, program, skipped lines) with the program replaced by
/// `ret SECCOMP_RET_ALLOW`.
fn allow_all(entry: &[u8], other_key: bool) -> Vec<u8> {
    assert_eq!(&entry[..8], b"SUPVBPF2", "the entry format changed: update this test");
    let key_len = u32::from_le_bytes(entry[8..12].try_into().unwrap()) as usize;
    let mut key = entry[12..12 + key_len].to_vec();
    if other_key {
        key.extend_from_slice(b" (another policy)");
    }
    let notifies = entry[12 + key_len];
    let mut out = b"SUPVBPF2".to_vec();
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(&key);
    out.push(notifies);
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&0x06u16.to_ne_bytes()); // BPF_RET | BPF_K
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&libc::SECCOMP_RET_ALLOW.to_ne_bytes());
    out
}

#[test]
fn a_planted_entry_of_our_own_is_loaded_so_the_refusals_test_the_checks() {
    let cache = Cache::new();
    cache.plant(&cache.entry, false);
    let out = cache.mkdir();
    assert_eq!(out.code, Some(0), "the planted filter allows mkdir: {}", out.stderr);
}

#[test]
fn a_planted_entry_with_another_key_is_not_loaded() {
    let cache = Cache::new();
    cache.plant(&cache.entry, true);
    cache.assert_denied("another key", false);
}

#[test]
fn a_planted_entry_writable_by_group_or_others_is_refused() {
    let cache = Cache::new();
    for mode in [0o620, 0o666] {
        cache.plant(&cache.entry, false);
        std::fs::set_permissions(&cache.entry, std::fs::Permissions::from_mode(mode)).unwrap();
        cache.assert_denied(&format!("mode {mode:o}"), true);
    }
}

#[test]
fn a_planted_entry_of_another_uid_is_refused() {
    if !needs_root("an entry of another uid") {
        return;
    }
    let cache = Cache::new();
    cache.plant(&cache.entry, false);
    std::os::unix::fs::chown(&cache.entry, Some(NOBODY), Some(NOBODY)).unwrap();
    cache.assert_denied("owned by 65534", true);
}

#[test]
fn a_symlinked_entry_is_refused() {
    let cache = Cache::new();
    let elsewhere = cache.base.path().join("planted.bpf");
    cache.plant(&elsewhere, false);
    std::fs::remove_file(&cache.entry).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &cache.entry).unwrap();
    cache.assert_denied("a symlink", true);
}

#[test]
fn a_cache_directory_writable_by_others_or_of_another_uid_is_not_used() {
    let cache = Cache::new();
    cache.plant(&cache.entry, false);
    std::fs::set_permissions(cache.dir(), std::fs::Permissions::from_mode(0o777)).unwrap();
    cache.assert_denied("a world-writable directory", true);
    std::fs::set_permissions(cache.dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
    if !needs_root("a cache directory of another uid") {
        return;
    }
    std::os::unix::fs::chown(cache.dir(), Some(NOBODY), Some(NOBODY)).unwrap();
    cache.assert_denied("a directory owned by 65534", true);
}
