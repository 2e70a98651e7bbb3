//! The raw JSON model of a Docker/moby or OCI runtime-spec seccomp profile, with the `supervise` extension.
//!
//! Values that may be wrong (actions, errnos, operators, argument numbers) are kept loosely typed, so that
//! [`Profile::resolve`](super::Profile::resolve) can report every error with its place. The model serializes back to
//! Docker's format (absent fields are skipped), which is how `record` writes profiles.
//!
//! [`walk`] does what Go's `encoding/json` does before the typed decode: keys match their field case-insensitively,
//! and unknown keys are ignored, but remembered here for `check`. Inside `supervise` (ours) unknown keys are errors.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::decode::{go_equal_fold, DuplicateKey};
use super::error::{Here, PolicyError, UnknownKey};
use super::names::action_spelling;
use crate::{Action, ArgCmp};

/// A seccomp profile as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// `SCMP_ACT_*`; required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_action: Option<String>,
    /// Errno (number or name) for a default `SCMP_ACT_ERRNO`, or the data of a default `SCMP_ACT_TRACE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<Value>,
    /// podman's spelling of `defaultErrnoRet`, as a name (`"ENOSYS"`); used when `defaultErrnoRet` is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architectures: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch_map: Option<Vec<ArchMapEntry>>,
    /// OCI `SECCOMP_FILTER_FLAG_*` names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_metadata: Option<String>,
    /// The profile-wide decision for notify rules without their own `supervise`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervise: Option<SuperviseSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syscalls: Option<Vec<SyscallRule>>,
    /// Keys Docker would ignore, found by [`walk`].
    #[serde(skip)]
    pub(crate) unknown: Vec<UnknownKey>,
    /// Keys written more than once (in any case), found when the text was decoded.
    #[serde(skip)]
    pub(crate) duplicates: Vec<DuplicateKey>,
}

/// One `archMap` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMapEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_architectures: Option<Vec<String>>,
}

/// One entry of `syscalls[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyscallRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names: Option<Vec<String>>,
    /// The old singular form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Errno (number or name) for `SCMP_ACT_ERRNO`, or the data of `SCMP_ACT_TRACE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<Value>,
    /// podman's name for the errno (`"EPERM"`); used when `errnoRet` is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<ArgSpec>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub includes: Option<Filter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excludes: Option<Filter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervise: Option<SuperviseSpec>,
}

/// One `args[]` condition. A missing `index`, `value` or `valueTwo` is 0, as in Go.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArgSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_two: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<String>,
}

/// `includes` / `excludes`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arches: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caps: Option<Vec<String>>,
    /// `"major.minor"`; `""` means none, as in moby.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_kernel: Option<String>,
}

/// The `supervise` object (of a rule, or of the whole profile).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SuperviseSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emulate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_timeout: Option<String>,
    /// Path globs: the rule applies only when every path argument matches one of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths: Option<Vec<String>>,
    /// Executable globs: the rule applies only when the target's executable matches one of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exe: Option<Vec<String>>,
    /// User ids (number or list): the rule applies only to targets whose real uid is listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<Value>,
    /// Group ids (number or list): the rule applies only to targets whose real gid is listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<Value>,
    /// Socket address patterns (`"127.0.0.0/8"`, `"[::1]:8080"`, `"unix:/run/**"`, `"abstract:foo*"`): the rule
    /// applies only when the call's address matches one of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addresses: Option<Vec<String>>,
    /// Address families (`inet`, `inet6`, `unix`): the rule applies only when the address is of one of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub families: Option<Vec<String>>,
    /// Socket types (`stream`, `dgram`, `raw`, `seqpacket`): the rule applies only to sockets of one of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket_types: Option<Vec<String>>,
}

impl Profile {
    /// An empty profile with this default action (and its `defaultErrnoRet`).
    pub fn new(default_action: Action) -> Profile {
        let (name, data) = action_spelling(default_action);
        Profile { default_action: Some(name.into()), default_errno_ret: data.map(Value::from), ..Profile::default() }
    }

    /// Keys that Docker and runc would ignore, for `check` to warn about (`supervise` keys are errors instead).
    pub fn unknown_keys(&self) -> &[UnknownKey] {
        &self.unknown
    }

    /// Keys written more than once in one object (in any case, in Docker's objects), for `check` to warn about: the
    /// last one wins, as in Docker.
    pub fn duplicate_keys(&self) -> &[DuplicateKey] {
        &self.duplicates
    }

    /// Every syscall name with the index of its rule, before `includes`/`excludes` are applied.
    pub fn rule_names(&self) -> impl Iterator<Item = (usize, &str)> + '_ {
        self.rules().enumerate().flat_map(|(i, rule)| rule.syscall_names().into_iter().map(move |n| (i, n)))
    }

    /// The rules of `syscalls[]` (none when absent).
    pub fn rules(&self) -> impl Iterator<Item = &SyscallRule> + '_ {
        self.syscalls.iter().flatten()
    }

    /// Docker-format JSON, pretty-printed.
    pub fn to_json_pretty(&self) -> String {
        // A tree of strings, numbers and maps with string keys always serializes.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

impl SyscallRule {
    /// A rule for these syscalls with this action (and its `errnoRet`).
    pub fn new<S: Into<String>>(names: impl IntoIterator<Item = S>, action: Action) -> SyscallRule {
        let (name, data) = action_spelling(action);
        SyscallRule {
            names: Some(names.into_iter().map(Into::into).collect()),
            action: Some(name.into()),
            errno_ret: data.map(Value::from),
            ..SyscallRule::default()
        }
    }

    /// The syscall names, from `names` or the old singular `name`.
    pub fn syscall_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.names.iter().flatten().map(String::as_str).collect();
        if let Some(name) = self.name.as_deref().filter(|n| !n.is_empty()) {
            names.push(name);
        }
        names
    }
}

impl From<ArgCmp> for ArgSpec {
    fn from(cmp: ArgCmp) -> ArgSpec {
        ArgSpec {
            index: Some(cmp.index.into()),
            value: Some(cmp.value.into()),
            value_two: Some(cmp.value_two.into()),
            op: Some(cmp.op.name().into()),
        }
    }
}

const TOP_KEYS: &[&str] = &[
    "comment",
    "defaultAction",
    "defaultErrnoRet",
    "defaultErrno",
    "architectures",
    "archMap",
    "flags",
    "listenerPath",
    "listenerMetadata",
    "supervise",
    "syscalls",
];
const ARCH_MAP_KEYS: &[&str] = &["architecture", "subArchitectures"];
const RULE_KEYS: &[&str] =
    &["names", "name", "action", "errnoRet", "errno", "args", "comment", "includes", "excludes", "supervise"];
const ARG_KEYS: &[&str] = &["index", "value", "valueTwo", "op"];
const FILTER_KEYS: &[&str] = &["arches", "caps", "minKernel"];
/// Keys of `supervise`; anything else there is an error.
pub const SUPERVISE_KEYS: &[&str] = &[
    "decision",
    "errnoRet",
    "emulate",
    "timeout",
    "onTimeout",
    "paths",
    "exe",
    "uid",
    "gid",
    "addresses",
    "families",
    "socketTypes",
];

/// What [`walk`] found.
#[derive(Debug, Default)]
pub(crate) struct Walk {
    pub unknown: Vec<UnknownKey>,
    pub errors: Vec<PolicyError>,
}

/// Renames keys that match a known key but for case (as Go's decoder matches them), records unknown keys, and
/// reports unknown keys inside `supervise` as errors.
pub(crate) fn walk(root: &mut Value) -> Walk {
    let mut w = Walk::default();
    let Some(top) = root.as_object_mut() else {
        return w;
    };
    w.loose(top, TOP_KEYS, "", None);
    if let Some(spec) = top.get_mut("supervise").and_then(Value::as_object_mut) {
        w.strict(spec, &Here::top());
    }
    if let Some(entries) = top.get_mut("archMap").and_then(Value::as_array_mut) {
        for (k, entry) in entries.iter_mut().enumerate() {
            if let Some(obj) = entry.as_object_mut() {
                w.loose(obj, ARCH_MAP_KEYS, &format!("archMap[{k}]"), None);
            }
        }
    }
    let Some(rules) = top.get_mut("syscalls").and_then(Value::as_array_mut) else {
        return w;
    };
    for (i, rule) in rules.iter_mut().enumerate() {
        let Some(obj) = rule.as_object_mut() else {
            continue;
        };
        let place = format!("syscalls[{i}]");
        w.loose(obj, RULE_KEYS, &place, Some(i));
        if let Some(args) = obj.get_mut("args").and_then(Value::as_array_mut) {
            for (j, arg) in args.iter_mut().enumerate() {
                if let Some(arg) = arg.as_object_mut() {
                    w.loose(arg, ARG_KEYS, &format!("{place}.args[{j}]"), Some(i));
                }
            }
        }
        for key in ["includes", "excludes"] {
            if let Some(filter) = obj.get_mut(key).and_then(Value::as_object_mut) {
                w.loose(filter, FILTER_KEYS, &format!("{place}.{key}"), Some(i));
            }
        }
        let names = value_names(obj);
        if let Some(spec) = obj.get_mut("supervise").and_then(Value::as_object_mut) {
            w.strict(spec, &Here::rule(i, &names));
        }
    }
    w
}

impl Walk {
    /// A Docker object: case-folded keys are renamed, other unknown keys recorded.
    fn loose(&mut self, obj: &mut Map<String, Value>, known: &[&'static str], place: &str, rule: Option<usize>) {
        let odd: Vec<String> = obj.keys().filter(|k| !known.contains(&k.as_str())).cloned().collect();
        for key in odd {
            let folded = known.iter().find(|k| go_equal_fold(k, &key) && !obj.contains_key(**k));
            match folded {
                Some(canonical) => {
                    if let Some(v) = obj.remove(&key) {
                        obj.insert((*canonical).to_string(), v);
                    }
                }
                None => {
                    let suggestion = closest(&key, known);
                    self.unknown.push(UnknownKey { place: place.to_string(), rule, key, suggestion });
                }
            }
        }
    }

    /// A `supervise` object: every unknown key is an error.
    fn strict(&mut self, obj: &Map<String, Value>, here: &Here) {
        for key in obj.keys().filter(|k| !SUPERVISE_KEYS.contains(&k.as_str())) {
            let hint = closest(key, SUPERVISE_KEYS).map_or(String::new(), |s| format!("did you mean {s:?}? "));
            let message = format!("unknown key {key:?} ({hint}expected one of {})", SUPERVISE_KEYS.join(", "));
            self.errors.push(here.err("supervise", message));
        }
    }
}

/// The syscall names of a rule object, for error labels.
fn value_names(rule: &Map<String, Value>) -> Vec<String> {
    let mut names: Vec<String> = match rule.get("names") {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => Vec::new(),
    };
    if let Some(name) = rule.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()) {
        names.push(name.to_string());
    }
    names
}

/// The known key closest to `key`, within a small edit distance.
fn closest(key: &str, known: &[&'static str]) -> Option<&'static str> {
    let limit = 2.max(key.len() / 4);
    known
        .iter()
        .map(|k| (edit_distance(&key.to_ascii_lowercase(), &k.to_ascii_lowercase()), *k))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, k)| k)
}

/// Levenshtein distance over chars.
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb { prev } else { 1 + prev.min(cur).min(row[j]) };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CmpOp, Errno};

    fn walked(json: &str) -> (Value, Walk) {
        let mut v: Value = serde_json::from_str(json).unwrap();
        let w = walk(&mut v);
        (v, w)
    }

    #[test]
    fn keys_match_case_insensitively_as_in_go() {
        let (v, w) =
            walked(r#"{"DefaultAction":"SCMP_ACT_LOG","syscalls":[{"Names":["read"],"ACTION":"SCMP_ACT_ALLOW"}]}"#);
        assert!(w.unknown.is_empty() && w.errors.is_empty(), "{w:?}");
        assert_eq!(v["defaultAction"], "SCMP_ACT_LOG");
        assert_eq!(v["syscalls"][0]["action"], "SCMP_ACT_ALLOW");
    }

    #[test]
    fn unknown_keys_are_recorded_with_their_place() {
        let (_, w) = walked(
            r#"{"x":1,"archMap":[{"arch":"a"}],"syscalls":[{"names":["a"],"acton":"A","args":[{"indx":0}],
                "includes":{"cap":[]}}]}"#,
        );
        let got: Vec<String> = w.unknown.iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            [
                "unknown key \"x\"",
                "archMap[0]: unknown key \"arch\"",
                "syscalls[0]: unknown key \"acton\" (did you mean \"action\"?)",
                "syscalls[0].args[0]: unknown key \"indx\" (did you mean \"index\"?)",
                "syscalls[0].includes: unknown key \"cap\" (did you mean \"caps\"?)",
            ]
        );
        assert_eq!(w.unknown[2].rule, Some(0));
    }

    #[test]
    fn unknown_supervise_keys_are_errors() {
        let (_, w) = walked(
            r#"{"supervise":{"Decision":"allow"},"syscalls":[{"names":["mkdir"],"supervise":{"decison":"x"}}]}"#,
        );
        let got: Vec<String> = w.errors.iter().map(|e| e.in_file("p")).collect();
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].starts_with("p: supervise: unknown key \"Decision\" (did you mean \"decision\"?"), "{}", got[0]);
        assert!(got[1].starts_with("p: syscalls[0] (mkdir): supervise: unknown key \"decison\""), "{}", got[1]);
        assert_eq!(w.errors[1].rule_index(), Some(0));
    }

    #[test]
    fn profiles_serialize_in_docker_format() {
        let mut p = Profile::new(Action::Errno(Errno::EPERM));
        let mut rule = SyscallRule::new(["read", "write"], Action::Allow);
        rule.args = Some(vec![ArgCmp { index: 1, op: CmpOp::MaskedEq, value: 3, value_two: 1 }.into()]);
        p.syscalls = Some(vec![rule]);
        let text = p.to_json_pretty();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(v["defaultErrnoRet"], 1);
        assert_eq!(v["syscalls"][0]["names"], serde_json::json!(["read", "write"]));
        assert_eq!(v["syscalls"][0]["args"][0]["op"], "SCMP_CMP_MASKED_EQ");
        assert_eq!(v["syscalls"][0]["args"][0]["valueTwo"], 1);
        assert!(v["syscalls"][0].get("errnoRet").is_none() && v.get("archMap").is_none(), "{text}");
        let back: Profile = serde_json::from_str(&text).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn rule_names_cover_both_forms() {
        let p: Profile = serde_json::from_str(r#"{"syscalls":[{"names":["a","b"]},{"name":"c"},{}]}"#).unwrap();
        assert_eq!(p.rule_names().collect::<Vec<_>>(), [(0, "a"), (0, "b"), (1, "c")]);
    }

    #[test]
    fn edit_distance_counts_edits() {
        for (a, b, d) in [("", "", 0), ("acton", "action", 1), ("kitten", "sitting", 3), ("abc", "", 3)] {
            assert_eq!(edit_distance(a, b), d, "{a} {b}");
        }
    }
}
