//! `check`'s look at the `exe` globs on this machine: the one lint pass that reads the filesystem.
//!
//! An `exe` glob is matched on the canonical path of the running file in supervise's view
//! ([`crate::kernel::exe`]), so its literal part is canonicalized when the policy loads. One warning per glob whose
//! literal part does not exist here (`exe-missing`: the rule never matches on this machine), or leads elsewhere
//! through a symlink (`exe-symlink`: what it is matched as, `/bin/busybox` as `/usr/bin/busybox`).

use std::collections::BTreeSet;

use proto::Policy;

use crate::kernel::exe::{canonical_glob, CanonicalGlob};
use crate::modes::check::lint::{Finding, Severity};

/// A warning for each `exe` glob that names nothing here or is matched as another path.
pub fn lint(policy: &Policy) -> Vec<Finding> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for rule in &policy.rules {
        for (j, glob) in rule.matchers.exe.iter().enumerate() {
            if !seen.insert((rule.index, j)) {
                continue;
            }
            if let Some((code, message)) = finding(&canonical_glob(glob)) {
                out.push(Finding {
                    severity: Severity::Warning,
                    code,
                    rule: Some(rule.index),
                    place: format!("syscalls[{}].supervise.exe[{j}]", rule.index),
                    message,
                    suggestion: None,
                });
            }
        }
    }
    out
}

/// What an `exe-missing` glob comes to.
const NOWHERE: &str = "it matches no program here (only, under serve, one in a container's own root)";

/// The one line to say about a canonicalized glob, with its code; `None` if it is matched as written.
fn finding(c: &CanonicalGlob) -> Option<(&'static str, String)> {
    let matched_as = if c.rewritten() { format!(" (matched as {:?})", c.glob) } else { String::new() };
    if !c.exists {
        let message = if !c.wildcard {
            format!("exe {:?} names no file on this machine{matched_as}: {NOWHERE}", c.written)
        } else {
            format!("exe {:?}: {} does not exist on this machine{matched_as}: {NOWHERE}", c.written, c.literal)
        };
        return Some(("exe-missing", message));
    }
    if c.rewritten() {
        let message = format!(
            "exe {:?} is matched as {:?}: {} leads to {} through a symlink, and an executable is known by its \
             canonical path",
            c.written, c.glob, c.literal, c.canonical
        );
        return Some(("exe-symlink", message));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(written: &str, glob: &str, literal: &str, canonical: &str, exists: bool) -> CanonicalGlob {
        CanonicalGlob {
            written: written.into(),
            glob: glob.into(),
            literal: literal.into(),
            canonical: canonical.into(),
            exists,
            wildcard: written.contains('*'),
        }
    }

    #[test]
    fn one_line_per_glob_says_what_it_matches() {
        let table: &[(CanonicalGlob, Option<&str>, &str)] = &[
            (glob("/usr/bin/curl", "/usr/bin/curl", "/usr/bin/curl", "/usr/bin/curl", true), None, ""),
            (glob("/usr/bin/*", "/usr/bin/*", "/usr/bin", "/usr/bin", true), None, ""),
            (
                glob("/bin/busybox", "/usr/bin/busybox", "/bin/busybox", "/usr/bin/busybox", true),
                Some("exe-symlink"),
                r#"exe "/bin/busybox" is matched as "/usr/bin/busybox": /bin/busybox leads to /usr/bin/busybox"#,
            ),
            (
                glob("/bin/*", "/usr/bin/*", "/bin", "/usr/bin", true),
                Some("exe-symlink"),
                r#"exe "/bin/*" is matched as "/usr/bin/*": /bin leads to /usr/bin through a symlink"#,
            ),
            (
                glob("/usr/bin/nosuch", "/usr/bin/nosuch", "/usr/bin/nosuch", "/usr/bin/nosuch", false),
                Some("exe-missing"),
                r#"exe "/usr/bin/nosuch" names no file on this machine: it matches no program here"#,
            ),
            (
                glob("/bin/nosuch", "/usr/bin/nosuch", "/bin/nosuch", "/usr/bin/nosuch", false),
                Some("exe-missing"),
                r#"exe "/bin/nosuch" names no file on this machine (matched as "/usr/bin/nosuch"): it matches"#,
            ),
            (
                glob("/opt/x/*", "/opt/x/*", "/opt/x", "/opt/x", false),
                Some("exe-missing"),
                r#"exe "/opt/x/*": /opt/x does not exist on this machine: it matches no program here"#,
            ),
        ];
        for (c, code, start) in table {
            let got = finding(c);
            assert_eq!(got.as_ref().map(|(code, _)| *code), *code, "{c:?}");
            let message = got.map(|(_, m)| m).unwrap_or_default();
            assert!(message.starts_with(start), "{message}");
        }
    }
}
