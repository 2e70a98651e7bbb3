//! [`PolicyError`]: one problem in a policy file, with its place (`line:column` for JSON syntax and type errors, the
//! key path and rule for semantic errors), and [`UnknownKey`], a key that Docker would ignore.
//!
//! Both display so that they read well after a file name and a colon: `policy.json:3:14: expected …` and
//! `policy.json: syscalls[2] (mkdir): unknown action "SCMP_ACT_FOO"`.

use std::fmt;

use thiserror::Error;

/// One error in a policy file.
///
/// The `Display` form is meant to follow `FILE:` directly: syntax errors start with `line:column:`, the others with a
/// space (`" syscalls[2] (mkdir): …"`). [`PolicyError::in_file`] builds the whole line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyError {
    /// The text is not valid JSON, or a value has the wrong JSON type (serde_json's message and position).
    #[error("{line}:{column}: {message}")]
    Syntax { line: usize, column: usize, message: String },
    /// The file as a whole is unusable (empty, or not a JSON object).
    #[error(" {message}")]
    File { message: String },
    /// A value is invalid. `place` is the key path, starting with the rule (`syscalls[2] (mkdir, mkdirat)`) when the
    /// error is inside one.
    #[error(" {place}: {message}")]
    Invalid { place: String, rule: Option<usize>, message: String },
}

impl PolicyError {
    /// `line:column` (1-based) of a syntax or type error.
    pub fn line_col(&self) -> Option<(usize, usize)> {
        match self {
            PolicyError::Syntax { line, column, .. } => Some((*line, *column)),
            _ => None,
        }
    }

    /// Index in `syscalls[]` of the rule the error is in.
    pub fn rule_index(&self) -> Option<usize> {
        match self {
            PolicyError::Invalid { rule, .. } => *rule,
            _ => None,
        }
    }

    /// The place: `"3:14"`, `"defaultAction"`, `"syscalls[2] (mkdir): args[0].op"`, or `""` for the whole file.
    pub fn place(&self) -> String {
        match self {
            PolicyError::Syntax { line, column, .. } => format!("{line}:{column}"),
            PolicyError::File { .. } => String::new(),
            PolicyError::Invalid { place, .. } => place.clone(),
        }
    }

    /// The message without its place.
    pub fn message(&self) -> &str {
        match self {
            PolicyError::Syntax { message, .. }
            | PolicyError::File { message }
            | PolicyError::Invalid { message, .. } => message,
        }
    }

    /// The whole line for a file called `name`: `policy.json:3:14: …` or `policy.json: syscalls[2] (mkdir): …`.
    /// Control characters from the file (a newline in a syscall name, a terminal escape) are shown escaped, so the
    /// error stays one line and cannot rewrite the terminal.
    pub fn in_file(&self, name: &str) -> String {
        let line = format!("{name}:{self}");
        if !line.contains(char::is_control) {
            return line;
        }
        line.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
    }

    /// A JSON syntax or type error from serde_json, with its position and without the " at line L column C" suffix.
    pub(crate) fn from_json(e: &serde_json::Error) -> PolicyError {
        let text = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let message = text.strip_suffix(&suffix).unwrap_or(&text).to_string();
        if e.line() == 0 {
            // Errors that did not come from the text (not expected here) have no position.
            return PolicyError::File { message };
        }
        PolicyError::Syntax { line: e.line(), column: e.column(), message }
    }

    pub(crate) fn file(message: impl Into<String>) -> PolicyError {
        PolicyError::File { message: message.into() }
    }
}

/// A key that Docker's and runc's JSON decoders would ignore (or, inside `supervise`, that is an error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKey {
    /// Path of the object holding the key: `""` for the top level, `"syscalls[3]"`, `"syscalls[3].args[0]"`.
    pub place: String,
    /// Index in `syscalls[]` of the rule the key is in.
    pub rule: Option<usize>,
    /// The key as written.
    pub key: String,
    /// A known key it may be a misspelling of.
    pub suggestion: Option<&'static str>,
}

impl fmt::Display for UnknownKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.place.is_empty() {
            write!(f, "{}: ", self.place)?;
        }
        write!(f, "unknown key {:?}", self.key)?;
        if let Some(s) = self.suggestion {
            write!(f, " (did you mean {s:?}?)")?;
        }
        Ok(())
    }
}

/// Where a semantic error is: a rule (with its label) or the top level, plus a key path inside it.
#[derive(Debug, Clone)]
pub(crate) struct Here {
    label: String,
    rule: Option<usize>,
}

impl Here {
    /// The top level of the profile.
    pub(crate) fn top() -> Here {
        Here { label: String::new(), rule: None }
    }

    /// Rule `index` of `syscalls[]`, labelled with its first names: `syscalls[3] (mkdir, mkdirat)`.
    pub(crate) fn rule<S: AsRef<str>>(index: usize, names: &[S]) -> Here {
        Here { label: rule_label(index, names), rule: Some(index) }
    }

    /// The path of `field` here, as it appears in messages.
    pub(crate) fn place(&self, field: &str) -> String {
        match (self.label.is_empty(), field.is_empty()) {
            (true, _) => field.to_string(),
            (false, true) => self.label.clone(),
            (false, false) => format!("{}: {field}", self.label),
        }
    }

    /// An error at `field` (a key path such as `args[0].op`, or `""` for the rule itself).
    pub(crate) fn err(&self, field: &str, message: impl Into<String>) -> PolicyError {
        PolicyError::Invalid { place: self.place(field), rule: self.rule, message: message.into() }
    }
}

/// `syscalls[3] (mkdir, mkdirat)`, with at most three names.
pub(crate) fn rule_label<S: AsRef<str>>(index: usize, names: &[S]) -> String {
    const SHOWN: usize = 3;
    let mut label = format!("syscalls[{index}]");
    if !names.is_empty() {
        let shown: Vec<&str> = names.iter().take(SHOWN).map(AsRef::as_ref).collect();
        label.push_str(&format!(" ({}", shown.join(", ")));
        if names.len() > SHOWN {
            label.push_str(&format!(", … {} more", names.len() - SHOWN));
        }
        label.push(')');
    }
    label
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_well_after_a_file_name() {
        let cases = [
            (PolicyError::Syntax { line: 3, column: 14, message: "expected `:`".into() }, "p.json:3:14: expected `:`"),
            (PolicyError::file("empty policy file"), "p.json: empty policy file"),
            (Here::top().err("defaultAction", "unknown action \"X\""), "p.json: defaultAction: unknown action \"X\""),
            (
                Here::rule(2, &["mkdir"]).err("", "missing \"action\""),
                "p.json: syscalls[2] (mkdir): missing \"action\"",
            ),
            (
                Here::rule(0, &["a", "b", "c", "d", "e"]).err("args[1].op", "bad"),
                "p.json: syscalls[0] (a, b, c, … 2 more): args[1].op: bad",
            ),
            (Here::rule(7, &[] as &[&str]).err("names", "empty"), "p.json: syscalls[7]: names: empty"),
        ];
        for (err, want) in cases {
            assert_eq!(err.in_file("p.json"), want);
        }
    }

    #[test]
    fn accessors_give_the_place() {
        let e = Here::rule(4, &["rmdir"]).err("errnoRet", "bad");
        assert_eq!((e.rule_index(), e.line_col(), e.message()), (Some(4), None, "bad"));
        assert_eq!(e.place(), "syscalls[4] (rmdir): errnoRet");
        let e = PolicyError::Syntax { line: 1, column: 2, message: "m".into() };
        assert_eq!((e.rule_index(), e.line_col(), e.place()), (None, Some((1, 2)), "1:2".into()));
    }

    #[test]
    fn unknown_keys_display_with_their_place() {
        let k =
            UnknownKey { place: "syscalls[1]".into(), rule: Some(1), key: "acton".into(), suggestion: Some("action") };
        assert_eq!(k.to_string(), "syscalls[1]: unknown key \"acton\" (did you mean \"action\"?)");
        let k = UnknownKey { place: String::new(), rule: None, key: "x".into(), suggestion: None };
        assert_eq!(k.to_string(), "unknown key \"x\"");
    }
}
