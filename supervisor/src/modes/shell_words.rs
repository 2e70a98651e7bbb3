//! The program's argv as a shell would take it back, for profile comments and reports (`record`, `--audit`).

use std::ffi::OsString;

/// The program's argv as a shell would take it back: plain words as they are, others in single quotes.
pub fn shell_words(argv: &[OsString]) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_./:=@%+,-".contains(c);
    argv.iter()
        .map(|a| {
            let a = a.to_string_lossy();
            if !a.is_empty() && a.chars().all(plain) {
                a.into_owned()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
