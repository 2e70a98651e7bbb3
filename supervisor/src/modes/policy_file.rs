//! Reading a policy: the file (or the built-in Docker default), parsed and resolved for a [`Machine`], with errors
//! that name the file and the place (`policy.json:3:14: …`, `policy.json: syscalls[2] (mkdir): …`); and
//! libseccomp's refusal of a policy explained with the rule as written ([`explain_compile_error`]).

use std::fs::File;
use std::io::Read;
use std::path::Path;

use proto::profile::{self, Profile};
use proto::{Arch, Policy};
use serde_json::Value;

/// What a policy is resolved for: the native arch, the capabilities the program starts with and the running
/// kernel (proto calls it the profile's `Target`; here it is never a supervised process).
pub use proto::profile::Target as Machine;

/// Docker's default profile (moby `profiles/seccomp/default.json`), used when `--policy` is omitted.
pub const BUILTIN_DEFAULT: &str = include_str!("../../../policies/docker-default.json");
/// The name the built-in policy has in messages.
pub const BUILTIN_NAME: &str = "<built-in docker-default>";

/// Policy files larger than this are refused before parsing (Docker's default is about 20 KiB). The read itself
/// stops there, so a device (`/dev/zero`), a pipe or a `/proc` file, whose size the metadata does not tell, is
/// refused the same way instead of filling memory.
pub const MAX_POLICY_BYTES: u64 = 16 * 1024 * 1024;

/// A policy's text and the name it has in messages.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub text: String,
}

impl Source {
    /// The file at `path`, or the built-in default when `None`.
    ///
    /// # Errors
    /// One message (`FILE: reason`) if the file cannot be read, is a directory, is larger than
    /// [`MAX_POLICY_BYTES`] or is not UTF-8.
    pub fn open(path: Option<&Path>) -> Result<Source, String> {
        let Some(path) = path else {
            return Ok(Source { name: BUILTIN_NAME.into(), text: BUILTIN_DEFAULT.into() });
        };
        let name = path.display().to_string();
        let fail = |why: String| format!("{name}: {why}");
        let file = File::open(path).map_err(|e| fail(io_reason(&e)))?;
        let meta = file.metadata().map_err(|e| fail(io_reason(&e)))?;
        if meta.is_dir() {
            return Err(fail("is a directory, expected a JSON policy file".into()));
        }
        if meta.is_file() && meta.len() > MAX_POLICY_BYTES {
            return Err(fail(format!("is {} bytes, larger than the {MAX_POLICY_BYTES}-byte limit", meta.len())));
        }
        let bytes = read_at_most(file, MAX_POLICY_BYTES)
            .map_err(|e| fail(io_reason(&e)))?
            .ok_or_else(|| fail(format!("is larger than the {MAX_POLICY_BYTES}-byte limit for a policy file")))?;
        let text =
            String::from_utf8(bytes).map_err(|e| fail(format!("not UTF-8 (byte {})", e.utf8_error().valid_up_to())))?;
        Ok(Source { name, text })
    }

    /// Parses the text; every error is a message prefixed with the file name.
    ///
    /// # Errors
    /// All syntax or model errors, each as one line.
    pub fn parse(&self) -> Result<Profile, Vec<String>> {
        profile::parse(&self.text).map_err(|errs| self.prefix(errs))
    }

    /// Parses and resolves for `machine`.
    ///
    /// # Errors
    /// All errors, each as one line naming the file and the place.
    pub fn load(&self, machine: &Machine) -> Result<Policy, Vec<String>> {
        let policy = self.parse()?.resolve(machine).map_err(|errs| self.prefix(errs))?;
        let refused = unenforced(&policy);
        if !refused.is_empty() {
            return Err(self.prefix(refused));
        }
        Ok(policy)
    }

    fn prefix(&self, errs: Vec<proto::profile::PolicyError>) -> Vec<String> {
        errs.iter().map(|e| e.in_file(&self.name)).collect()
    }
}

/// Matchers this supervisor parses but does not enforce, one error per notify rule that has them: address matchers
/// (`addresses`, `families`, `socketTypes`) are enforced on `connect`, `bind`, `sendto`, `sendmsg` and `sendmmsg`
/// ([`crate::core::net::ENFORCED`]), so a rule that puts them on another syscall (`accept`, `accept4`) is refused
/// when the policy loads (by `check`, and before anything is started), never run with the matcher ignored.
pub fn unenforced(policy: &Policy) -> Vec<proto::profile::PolicyError> {
    const SHOWN: usize = 3;
    let enforced = |name: &String| crate::core::net::ENFORCED.contains(&name.as_str());
    let error = |r: &proto::policy::Rule| {
        if r.action != proto::Action::Notify || r.matchers.net.is_empty() || r.names.iter().all(enforced) {
            return None;
        }
        let mut place = format!("syscalls[{}]", r.index);
        if !r.names.is_empty() {
            let shown: Vec<&str> = r.names.iter().take(SHOWN).map(String::as_str).collect();
            let more = r.names.len().saturating_sub(SHOWN);
            let more = if more > 0 { format!(", … {more} more") } else { String::new() };
            place.push_str(&format!(" ({}{more})", shown.join(", ")));
        }
        place.push_str(": supervise");
        let others: Vec<&str> = r.names.iter().filter(|n| !enforced(n)).map(String::as_str).collect();
        let message = format!(
            "address matchers (addresses, families, socketTypes) are enforced on {} only, not on {}; the policy is \
             refused rather than run with them ignored (put them in a rule of their own for those syscalls)",
            crate::core::net::ENFORCED.join(", "),
            others.join(", ")
        );
        Some(proto::profile::PolicyError::Invalid { place, rule: Some(r.index), message })
    };
    policy.rules.iter().filter_map(error).collect()
}

/// A compile error with the rule's values as written (the resolved ones may have been clamped to what the kernel
/// takes): the rule index, if any, and the message. Shared by `check` and
/// `supervise -- PROGRAM`.
pub fn explain_compile_error(e: &agent::filter::FilterError, profile: &Profile) -> (Option<usize>, String) {
    use agent::filter::FilterError;
    let mut message = match std::error::Error::source(e) {
        Some(source) => format!("{e}: {source}"),
        None => e.to_string(),
    };
    let rule = match e {
        FilterError::Rule { index, .. } | FilterError::ErrnoTooLarge { index, .. } => Some(*index),
        _ => None,
    };
    if let Some(r) = rule.and_then(|i| profile.rules().nth(i)) {
        let mut written = vec![format!("action {}", r.action.as_deref().unwrap_or("?"))];
        if let Some(errno) = r.errno_ret.as_ref().map(Value::to_string).or_else(|| r.errno.clone()) {
            written.push(format!("errnoRet {errno}"));
        }
        message.push_str(&format!(" (as written: {})", written.join(", ")));
    }
    (rule, message)
}

/// All of `file`, or `None` if it has more than `limit` bytes: at most `limit + 1` bytes are ever read.
fn read_at_most(file: File, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// The machine this process would start a program on: native arch, starting capabilities, running kernel.
pub fn this_machine() -> Machine {
    Machine { native: Arch::native(), caps: starting_caps(), kernel: kernel_version() }
}

/// Capabilities a program exec'd by this process starts with: for root, the bounding set (execve grants it in
/// full); for other users, the ambient set.
fn starting_caps() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(0)
    };
    if nix::unistd::geteuid().is_root() {
        field("CapBnd:")
    } else {
        field("CapAmb:")
    }
}

fn kernel_version() -> (u32, u32) {
    let release = nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default();
    parse_release(&release)
}

fn parse_release(release: &str) -> (u32, u32) {
    let mut parts = release.split(|c: char| !c.is_ascii_digit()).filter(|p| !p.is_empty());
    let mut next = || parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (next(), next())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_releases_parse() {
        for (text, want) in [("6.18.44-fc-v657", (6, 18)), ("5.4.0", (5, 4)), ("4.19", (4, 19)), ("", (0, 0))] {
            assert_eq!(parse_release(text), want, "{text}");
        }
    }

    #[test]
    fn the_builtin_default_loads() {
        let policy = Source::open(None).unwrap().load(&this_machine()).unwrap();
        assert!(policy.rules.len() > 10);
    }

    #[test]
    fn unreadable_files_are_one_clear_message() {
        let dir = tempfile::tempdir().unwrap();
        let err = Source::open(Some(dir.path())).unwrap_err();
        assert!(err.ends_with("is a directory, expected a JSON policy file"), "{err}");
        let err = Source::open(Some(&dir.path().join("missing.json"))).unwrap_err();
        assert!(err.ends_with("missing.json: no such file"), "{err}");
    }

    #[test]
    fn the_read_itself_is_bounded_for_files_without_a_size() {
        let err = Source::open(Some(Path::new("/dev/zero"))).unwrap_err();
        assert_eq!(err, "/dev/zero: is larger than the 16777216-byte limit for a policy file");
        let small = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(small.path(), vec![b' '; 100]).unwrap();
        assert_eq!(read_at_most(File::open(small.path()).unwrap(), 100).unwrap().map(|b| b.len()), Some(100));
        assert_eq!(read_at_most(File::open(small.path()).unwrap(), 99).unwrap(), None);
        assert!(Source::open(Some(Path::new("/proc/self/status"))).is_ok(), "a /proc file of any size is read");
    }
}
