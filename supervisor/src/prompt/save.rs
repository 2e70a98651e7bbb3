//! `--save-decisions FILE`: "always" answers become rules of a policy file that `supervise --policy FILE` reuses.
//!
//! The file starts as a copy of the policy in use; each answer inserts a `SCMP_ACT_NOTIFY` rule at the front of
//! `syscalls[]`, with `exe` and `paths` matchers and the decision, so that it wins over the rule that asked. The file
//! stays a valid Docker profile (Docker ignores the `supervise` objects).

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::Question;

/// Where to save, and the policy text to start from.
#[derive(Debug, Clone)]
pub struct Saver {
    path: PathBuf,
    base: String,
}

impl Saver {
    pub fn new(path: &Path, base_policy: &str) -> Saver {
        Saver { path: path.to_path_buf(), base: base_policy.to_string() }
    }

    /// Adds the rule for an "always" answer.
    ///
    /// # Errors
    /// A message if the file cannot be read, parsed or written.
    pub fn save(&self, q: &Question, allow: bool) -> Result<(), String> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => self.base.clone(),
            Err(e) => return Err(format!("{}: {e}", self.path.display())),
        };
        let mut profile: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", self.path.display()))?;
        let rule = rule_for(q, allow);
        let object = profile.as_object_mut().ok_or_else(|| format!("{}: not a JSON object", self.path.display()))?;
        let syscalls = object.entry("syscalls").or_insert_with(|| json!([]));
        match syscalls.as_array_mut() {
            Some(list) => list.insert(0, rule),
            None => return Err(format!("{}: syscalls is not a list", self.path.display())),
        }
        let out = serde_json::to_string_pretty(&profile).expect("a json Value serializes") + "\n";
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, out)
            .and_then(|()| std::fs::rename(&tmp, &self.path))
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }
}

fn rule_for(q: &Question, allow: bool) -> Value {
    let mut supervise = json!({ "decision": if allow { "allow" } else { "deny" }, "exe": [glob_literal(&q.exe)] });
    if !allow {
        supervise["errnoRet"] = json!(q.deny_errno.get());
    }
    if let Some(path) = &q.path {
        supervise["paths"] = json!([glob_literal(path)]);
    }
    json!({
        "names": [q.syscall],
        "action": "SCMP_ACT_NOTIFY",
        "comment": format!("saved answer: always {} {} by {}", if allow { "allow" } else { "deny" }, q.syscall, q.exe),
        "supervise": supervise,
    })
}

/// Escapes glob metacharacters so that a path matches only itself.
fn glob_literal(path: &str) -> String {
    path.chars().fold(String::new(), |mut out, c| {
        if matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | '\\') {
            out.push('\\');
        }
        out.push(c);
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::profile::{load, Target};
    use std::time::Duration;

    #[test]
    fn saved_answers_make_a_policy_that_loads_and_keeps_the_base() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("saved.json");
        let base = include_str!("../../../policies/prompt-delete.json");
        let saver = Saver::new(&file, base);
        let q = Question {
            pid: 1,
            exe: "/usr/bin/rm".into(),
            cmdline: "rm x".into(),
            syscall: "unlinkat".into(),
            args: "AT_FDCWD, \"/tmp/a[1].txt\", 0".into(),
            path: Some("/tmp/a[1].txt".into()),
            timeout: Duration::from_secs(1),
            deny_errno: proto::Errno::EACCES,
            on_timeout: proto::OnTimeout::Deny,
        };
        saver.save(&q, false).unwrap();
        saver.save(&Question { syscall: "rmdir".into(), path: Some("/tmp/d".into()), ..q.clone() }, true).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        let target = Target { native: proto::Arch::X86_64, caps: 0, kernel: (6, 1) };
        let policy = load(&text, &target).unwrap();
        assert_eq!(policy.rules.len(), 3, "two saved rules in front of the base rule");
        assert_eq!(policy.rules[0].names, ["rmdir"]);
        assert_eq!(policy.rules[1].matchers.paths, ["/tmp/a\\[1\\].txt"]);
        assert_eq!(policy.rules[1].decision, Some(proto::Decision::Deny(proto::Errno::EACCES)));
        let glob =
            globset::GlobBuilder::new(&policy.rules[1].matchers.paths[0]).literal_separator(true).build().unwrap();
        assert!(glob.compile_matcher().is_match("/tmp/a[1].txt"));
    }
}
