//! Reading a profile's JSON text as Go's `encoding/json` reads it into Docker's and runc's types, before the typed
//! decode.
//!
//! serde_json keeps the last of two identical keys and treats `defaultAction` and `DEFAULTACTION` as different keys.
//! Go matches keys to fields case-insensitively (with Unicode simple folding: `ſ` is `s`, the Kelvin sign `K` is `k`)
//! and decodes every occurrence in document order into the same field, so the last one wins. A repeated object or
//! array is decoded into what the earlier one left: objects merge key by key, and array elements are decoded into
//! the earlier elements at the same index (the length is the last one's). [`decode`] builds that value, with each
//! group of keys that Go treats as one field kept once, and lists the groups as [`DuplicateKey`]s for `check`.
//!
//! Inside `supervise` (ours, not Docker's) keys are case-sensitive; identical keys there are merged the same way.

use std::cell::RefCell;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// A key written more than once in one object (in any case, for Docker's objects).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateKey {
    /// Path of the object holding the key, as in [`UnknownKey`](super::UnknownKey): `""`, `"syscalls[3]"`.
    pub place: String,
    /// Index in `syscalls[]` of the rule the key is in.
    pub rule: Option<usize>,
    /// The spellings in document order; the last one is what Docker (and supervise) keep.
    pub keys: Vec<String>,
}

impl fmt::Display for DuplicateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.place.is_empty() {
            write!(f, "{}: ", self.place)?;
        }
        let all: Vec<String> = self.keys.iter().map(|k| format!("{k:?}")).collect();
        let last = self.keys.last().map(String::as_str).unwrap_or_default();
        write!(f, "key {last:?} is written {} times ({}); the last one wins", self.keys.len(), all.join(", "))
    }
}

/// Go's case folding of a key: ASCII letters to lower case, and the two non-ASCII letters that fold to ASCII ones.
pub fn go_fold(key: &str) -> String {
    key.chars()
        .map(|c| match c {
            '\u{17f}' => 's',
            '\u{212a}' => 'k',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// True if Go would match `a` and `b` to the same field.
pub fn go_equal_fold(a: &str, b: &str) -> bool {
    go_fold(a) == go_fold(b)
}

/// Decodes `text` as Go would see it (see the module docs), with the duplicate keys found.
///
/// # Errors
/// serde_json's syntax error, with its line and column.
pub fn decode(text: &str) -> Result<(Value, Vec<DuplicateKey>), serde_json::Error> {
    let found = RefCell::new(Vec::new());
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Node { place: String::new(), rule: None, fold: true, depth: 0, in_rules: false, found: &found }
        .deserialize(&mut de)?;
    de.end()?;
    Ok((value, found.into_inner()))
}

/// Go's decode of `new` into what `old` left.
fn merge(old: Value, new: Value) -> Value {
    match (old, new) {
        (Value::Object(mut old), Value::Object(new)) => {
            for (key, value) in new {
                let merged = match old.remove(&key) {
                    Some(before) => merge(before, value),
                    None => value,
                };
                old.insert(key, merged);
            }
            Value::Object(old)
        }
        (Value::Array(old), Value::Array(new)) => {
            let mut old = old.into_iter();
            Value::Array(
                new.into_iter()
                    .map(|v| match old.next() {
                        Some(before) => merge(before, v),
                        None => v,
                    })
                    .collect(),
            )
        }
        (_, new) => new,
    }
}

/// One JSON value at `place`.
struct Node<'a> {
    place: String,
    rule: Option<usize>,
    /// Keys of this value's objects fold as Go folds them (false inside `supervise`).
    fold: bool,
    depth: usize,
    /// This value is the top level's `syscalls`: its elements are rules.
    in_rules: bool,
    found: &'a RefCell<Vec<DuplicateKey>>,
}

impl Node<'_> {
    fn child(&self, place: String, rule: Option<usize>, fold: bool, in_rules: bool) -> Node<'_> {
        Node { place, rule, fold, depth: self.depth + 1, in_rules, found: self.found }
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let index = items.len();
            let rule = if self.in_rules { Some(index) } else { self.rule };
            let place = format!("{}[{index}]", self.place);
            match seq.next_element_seed(self.child(place, rule, self.fold, false))? {
                Some(v) => items.push(v),
                None => break,
            }
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        // (fold key, spellings in order, value), in order of first appearance.
        let mut entries: Vec<(String, Vec<String>, Value)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let folded = if self.fold { go_fold(&key) } else { key.clone() };
            let is_supervise = folded == "supervise" || (!self.fold && key == "supervise");
            let in_rules = self.depth == 0 && folded == "syscalls";
            let place = if self.place.is_empty() { key.clone() } else { format!("{}.{key}", self.place) };
            let value = map.next_value_seed(self.child(place, self.rule, self.fold && !is_supervise, in_rules))?;
            match entries.iter_mut().find(|(f, _, _)| *f == folded) {
                Some((_, spellings, old)) => {
                    spellings.push(key);
                    *old = merge(std::mem::take(old), value);
                }
                None => entries.push((folded, vec![key], value)),
            }
        }
        let mut out = Map::new();
        for (_, spellings, value) in entries {
            let last = spellings.last().cloned().unwrap_or_default();
            if spellings.len() > 1 {
                let dup = DuplicateKey { place: self.place.clone(), rule: self.rule, keys: spellings };
                self.found.borrow_mut().push(dup);
            }
            out.insert(last, value);
        }
        Ok(Value::Object(out))
    }
}
