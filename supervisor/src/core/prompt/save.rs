//! `--save-decisions FILE`: "always" answers become rules of a policy file that `supervise --policy FILE` reuses.
//!
//! The file starts as a copy of the policy in use; each answer inserts a `SCMP_ACT_NOTIFY` rule at the front of
//! `syscalls[]`, with `exe` and `paths` matchers and the decision, so that it wins over the rule that asked. The file
//! stays a valid Docker profile (Docker ignores the `supervise` objects).
//!
//! The `paths` matcher says exactly what the answer's [`Scope`] covered, with glob metacharacters of the paths
//! escaped: "this path" is the path itself (`/tmp/a\[1\].txt`), "this directory and below" the directory and
//! everything under it (`/tmp/build` and `/tmp/build/**`), "any path" no `paths` at all. The rule's `comment` says
//! the same in words.
//!
//! For a call with a socket address, the `addresses` matcher says what the answer covered: "this address and port"
//! is the address with its port (`93.184.216.34:443`, `[::1]:8080`), the unix socket path (`unix:/run/a.sock`, glob
//! characters escaped) or the abstract name (`abstract:name`); "this host, any port" the address alone
//! (`93.184.216.34`, `::1`); "any destination" no `addresses` at all.

use std::path::{Path, PathBuf};

use proto::paths::glob_literal;
use serde_json::{json, Value};

use super::scope::Scope;
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
    pub fn save(&self, q: &Question, allow: bool, scope: &Scope) -> Result<(), String> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => self.base.clone(),
            Err(e) => return Err(format!("{}: {e}", self.path.display())),
        };
        let mut profile: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", self.path.display()))?;
        let rule = rule_for(q, allow, scope)?;
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

fn rule_for(q: &Question, allow: bool, scope: &Scope) -> Result<Value, String> {
    let mut supervise = json!({ "decision": if allow { "allow" } else { "deny" }, "exe": [glob_literal(&q.exe)] });
    if !allow {
        // By name (`"EACCES"`, not 13) when it has one: the file is read by people too.
        supervise["errnoRet"] = q.deny_errno.name().map_or_else(|| json!(q.deny_errno.get()), |name| json!(name));
    }
    let covers = if q.address.is_some() {
        let (addresses, covers) = addresses(scope)?;
        if let Some(addresses) = addresses {
            supervise["addresses"] = json!(addresses);
        }
        covers
    } else {
        let (paths, mut covers) = globs(scope)?;
        if q.paths.is_empty() {
            covers = "with any arguments".to_string();
        }
        if let Some(paths) = paths {
            supervise["paths"] = json!(paths);
        }
        covers
    };
    let verb = if allow { "allow" } else { "deny" };
    Ok(json!({
        "names": [q.syscall],
        "action": "SCMP_ACT_NOTIFY",
        "comment": format!("saved answer: always {verb} {} by {} {covers}", q.syscall, q.exe),
        "supervise": supervise,
    }))
}

/// The `addresses` patterns of a scope for a call with a socket address (`None`: any destination), and what they
/// cover in words.
///
/// # Errors
/// A scope that no pattern names (never offered: see [`super::scope::nameable`]).
pub fn addresses(scope: &Scope) -> Result<(Option<Vec<String>>, String), String> {
    let unnamed = || format!("no addresses pattern names {}", scope.describe());
    match scope {
        Scope::Address(a) => {
            let pattern = a.to_pattern(true).ok_or_else(unnamed)?;
            Ok((Some(vec![pattern]), format!("to {a} only")))
        }
        Scope::Host(ip) => Ok((Some(vec![ip.to_string()]), format!("to {ip} on any port"))),
        Scope::Any => Ok((None, "to any destination".to_string())),
        Scope::Paths(_) | Scope::Under(_) => Err(unnamed()),
    }
}

/// The `paths` globs of a scope (`None`: any path), and what they cover in words.
///
/// # Errors
/// A scope of destinations (never given for a call without a socket address).
pub fn globs(scope: &Scope) -> Result<(Option<Vec<String>>, String), String> {
    Ok(match scope {
        Scope::Paths(paths) => {
            (Some(paths.iter().map(|p| glob_literal(p)).collect()), format!("on {} only", paths.join(" and ")))
        }
        Scope::Under(dirs) => {
            let mut globs = Vec::new();
            for dir in dirs {
                if dir == "/" {
                    globs.extend(["/".to_string(), "/**".to_string()]);
                } else {
                    globs.extend([glob_literal(dir), format!("{}/**", glob_literal(dir))]);
                }
            }
            (Some(globs), format!("{} (the directory and everything below it)", scope.describe()))
        }
        Scope::Any => (None, "on any path".to_string()),
        Scope::Address(_) | Scope::Host(_) => return Err(format!("no paths glob names {}", scope.describe())),
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
        let base = include_str!("../../../../policies/prompt-delete.json");
        let saver = Saver::new(&file, base);
        let q = Question {
            pid: 1,
            exe: "/usr/bin/rm".into(),
            cmdline: "rm x".into(),
            syscall: "unlinkat".into(),
            args: "AT_FDCWD, \"/tmp/a[1].txt\", 0".into(),
            paths: vec!["/tmp/a[1].txt".into()],
            address: None,
            socket_type: None,
            timeout: Duration::from_secs(1),
            deny_errno: proto::Errno::EACCES,
            on_timeout: proto::OnTimeout::Deny,
        };
        saver.save(&q, false, &Scope::Paths(q.paths.clone())).unwrap();
        let rmdir = Question { syscall: "rmdir".into(), paths: vec!["/tmp/d".into()], ..q.clone() };
        saver.save(&rmdir, true, &Scope::Paths(rmdir.paths.clone())).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        let saved: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(saved["syscalls"][1]["supervise"]["errnoRet"], "EACCES", "errnos are saved by name: {text}");
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

    fn matches(globs: &[String], path: &str) -> bool {
        globs.iter().any(|g| {
            globset::GlobBuilder::new(g).literal_separator(true).build().unwrap().compile_matcher().is_match(path)
        })
    }

    #[test]
    fn saved_scopes_say_exactly_what_they_cover() {
        let q = Question {
            pid: 1,
            exe: "/usr/bin/rm".into(),
            cmdline: "rm -r build".into(),
            syscall: "unlinkat".into(),
            args: String::new(),
            paths: vec!["/tmp/b{1}/*x".into()],
            address: None,
            socket_type: None,
            timeout: Duration::from_secs(1),
            deny_errno: proto::Errno::EACCES,
            on_timeout: proto::OnTimeout::Deny,
        };
        let exact = rule_for(&q, true, &Scope::Paths(q.paths.clone())).unwrap();
        assert_eq!(exact["supervise"]["paths"], json!(["/tmp/b\\{1\\}/\\*x"]));
        assert_eq!(exact["comment"], "saved answer: always allow unlinkat by /usr/bin/rm on /tmp/b{1}/*x only");
        let under = rule_for(&q, false, &Scope::Under(vec!["/tmp/b{1}".into()])).unwrap();
        let globs: Vec<String> = serde_json::from_value(under["supervise"]["paths"].clone()).unwrap();
        assert_eq!(globs, ["/tmp/b\\{1\\}", "/tmp/b\\{1\\}/**"]);
        for (path, covered) in [("/tmp/b{1}", true), ("/tmp/b{1}/x", true), ("/tmp/b{1}/x/y", true), ("/tmp/b1", false)]
        {
            assert_eq!(matches(&globs, path), covered, "{path}");
        }
        assert_eq!(
            under["comment"],
            "saved answer: always deny unlinkat by /usr/bin/rm under /tmp/b{1}/ (the directory and everything below it)"
        );
        let root = rule_for(&q, true, &Scope::Under(vec!["/".into()])).unwrap();
        assert_eq!(root["supervise"]["paths"], json!(["/", "/**"]));
        let any = rule_for(&q, true, &Scope::Any).unwrap();
        assert!(any["supervise"].get("paths").is_none(), "{any}");
        assert_eq!(any["comment"], "saved answer: always allow unlinkat by /usr/bin/rm on any path");
        let no_path = Question { syscall: "connect".into(), paths: Vec::new(), ..q };
        assert_eq!(
            rule_for(&no_path, true, &Scope::Any).unwrap()["comment"],
            "saved answer: always allow connect by /usr/bin/rm with any arguments"
        );
    }

    #[test]
    fn saved_address_scopes_are_exact_patterns_that_load_and_match() {
        use proto::net::{Address, SockType, UnixAddr};
        let connect = |address: Address| Question {
            pid: 1,
            exe: "/usr/bin/curl".into(),
            cmdline: "curl https://example.com/".into(),
            syscall: "connect".into(),
            args: String::new(),
            paths: Vec::new(),
            address: Some(address),
            socket_type: Some(SockType::Stream),
            timeout: Duration::from_secs(1),
            deny_errno: proto::Errno::parse("ECONNREFUSED").unwrap(),
            on_timeout: proto::OnTimeout::Deny,
        };
        let v4 = Address::V4 { ip: [93, 184, 216, 34].into(), port: 443, mapped: false };
        let v6 = Address::V6 { ip: std::net::Ipv6Addr::LOCALHOST, port: 8080, scope_id: 0 };
        let sock = Address::Unix(UnixAddr::Path(b"/run/a[1].sock".to_vec()));
        let name = Address::Unix(UnixAddr::Abstract(b"bus*".to_vec()));
        let host = Scope::Host(v4.ip().unwrap());
        for (address, scope, patterns, comment) in [
            (&v4, Scope::Address(v4.clone()), Some(vec!["93.184.216.34:443"]), "to 93.184.216.34 port 443 only"),
            (&v4, host, Some(vec!["93.184.216.34"]), "to 93.184.216.34 on any port"),
            (&v6, Scope::Address(v6.clone()), Some(vec!["[::1]:8080"]), "to [::1] port 8080 only"),
            (&v6, Scope::Host(v6.ip().unwrap()), Some(vec!["::1"]), "to ::1 on any port"),
            (&sock, Scope::Address(sock.clone()), Some(vec!["unix:/run/a\\[1\\].sock"]), "to unix:/run/a[1].sock only"),
            (&name, Scope::Address(name.clone()), Some(vec!["abstract:bus\\*"]), "to abstract:bus* only"),
            (&v4, Scope::Any, None, "to any destination"),
        ] {
            let rule = rule_for(&connect(address.clone()), true, &scope).unwrap();
            match patterns {
                Some(p) => assert_eq!(rule["supervise"]["addresses"], json!(p), "{scope:?}"),
                None => assert!(rule["supervise"].get("addresses").is_none(), "{rule}"),
            }
            assert!(rule["supervise"].get("paths").is_none(), "{rule}");
            assert_eq!(rule["comment"], format!("saved answer: always allow connect by /usr/bin/curl {comment}"));
        }
        // The file loads, and its rules match what they say (and nothing beside it).
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("saved.json");
        let saver = Saver::new(&file, include_str!("../../../../policies/prompt-connect.json"));
        saver.save(&connect(v4.clone()), true, &Scope::Host(v4.ip().unwrap())).unwrap();
        saver.save(&connect(sock.clone()), false, &Scope::Address(sock.clone())).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        let target = Target { native: proto::Arch::X86_64, caps: 0, kernel: (6, 1) };
        let policy = load(&text, &target).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
        let base = load(include_str!("../../../../policies/prompt-connect.json"), &target).unwrap();
        assert_eq!(policy.rules.len(), base.rules.len() + 2, "two saved rules in front of the base rules");
        assert_eq!(policy.rules[0].decision, Some(proto::Decision::Deny(proto::Errno::parse("ECONNREFUSED").unwrap())));
        let (sock_rule, host_rule) = (&policy.rules[0].matchers.net, &policy.rules[1].matchers.net);
        assert!(sock_rule.matches(&sock, SockType::Stream));
        assert!(!sock_rule.matches(&Address::Unix(UnixAddr::Path(b"/run/a1.sock".to_vec())), SockType::Stream));
        assert!(
            host_rule.matches(&Address::V4 { ip: [93, 184, 216, 34].into(), port: 80, mapped: true }, SockType::Stream)
        );
        assert!(!host_rule
            .matches(&Address::V4 { ip: [93, 184, 216, 35].into(), port: 443, mapped: false }, SockType::Stream));
        assert!(addresses(&Scope::Address(Address::Unspec)).is_err(), "never saved as any destination");
    }
}
