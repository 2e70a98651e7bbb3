//! The Docker/moby and OCI runtime-spec seccomp profile JSON model, its validation, and its resolution into a
//! [`Policy`](crate::Policy) for one [`Target`].
//!
//! - [`parse`] reads the text into a [`Profile`]: JSON syntax and type errors carry `line:column`; unknown keys are
//!   ignored as Docker ignores them, but listed by [`Profile::unknown_keys`]; unknown keys inside `supervise` are
//!   errors.
//! - [`Profile::resolve`] applies `includes`/`excludes`, defaults and the `supervise` extension for a [`Target`],
//!   and reports every semantic error with its place ([`PolicyError`]).
//! - [`load`] does both.
//!
//! Submodules: `model` (the serde model), `resolve` (the semantics), `names` (action, operator, capability, flag and
//! foreign-arch tables), `error` ([`PolicyError`], [`UnknownKey`]).

mod decode;
mod error;
mod model;
mod names;
mod resolve;
#[cfg(test)]
mod tests;

use serde::Deserialize;
use serde_json::Value;

use crate::{Arch, Policy};

pub use decode::{go_equal_fold, DuplicateKey};
pub use error::{PolicyError, UnknownKey};
pub use model::{ArchMapEntry, ArgSpec, Filter, Profile, SuperviseSpec, SyscallRule, SUPERVISE_KEYS};
pub use names::{capability, ACTIONS, CAPABILITIES, FILTER_FLAGS, OPERATORS};
pub use resolve::{DEFAULT_PROMPT_TIMEOUT, MAX_ARGS_PER_RULE};

/// What a profile is resolved for: `includes`/`excludes` are evaluated against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The native architecture of the kernel and program.
    pub native: Arch,
    /// Capabilities the program starts with, as a bitset (bit N = capability number N, as in `CapEff`).
    pub caps: u64,
    /// Running kernel version (major, minor).
    pub kernel: (u32, u32),
}

impl Target {
    /// Every capability this crate knows (`CAP_CHOWN` … `CAP_CHECKPOINT_RESTORE`).
    pub const ALL_CAPS: u64 = (1 << CAPABILITIES.len()) - 1;
}

/// Parses a profile's text.
///
/// # Errors
/// An empty text, a JSON syntax or type error (with `line:column`), a top level that is not an object, and unknown
/// keys inside `supervise` objects (all of them).
pub fn parse(text: &str) -> Result<Profile, Vec<PolicyError>> {
    if text.trim().is_empty() {
        return Err(vec![PolicyError::file("empty policy file, expected a JSON object")]);
    }
    // serde_json keeps its recursion limit (128) here, so deep nesting is an error, not a stack overflow.
    // Keys are matched and repeated keys merged as Docker's Go decoder does (see `decode`).
    let (mut value, duplicates) = decode::decode(text).map_err(|e| vec![PolicyError::from_json(&e)])?;
    if !value.is_object() {
        let found = match value {
            Value::Array(_) => "an array",
            Value::String(_) => "a string",
            Value::Number(_) => "a number",
            Value::Bool(_) => "a boolean",
            Value::Object(_) => "an object",
            Value::Null => "null",
        };
        return Err(vec![PolicyError::file(format!("expected a JSON object at the top level, found {found}"))]);
    }
    let walk = model::walk(&mut value);
    let mut errors = walk.errors;
    match Profile::deserialize(value) {
        Ok(mut profile) if errors.is_empty() => {
            profile.unknown = walk.unknown;
            profile.duplicates = duplicates;
            Ok(profile)
        }
        Ok(_) => Err(errors),
        Err(e) => {
            // Decoding the text again gives the same error with its line and column.
            let positioned = match serde_json::from_str::<Profile>(text) {
                Err(e) => PolicyError::from_json(&e),
                Ok(_) => PolicyError::file(e.to_string()),
            };
            errors.insert(0, positioned);
            Err(errors)
        }
    }
}

impl Profile {
    /// Resolves the profile for `target`: the rules that apply to it, in profile order, with their actions,
    /// conditions and decisions.
    ///
    /// # Errors
    /// Every semantic error, each naming its place (`defaultAction`, `syscalls[2] (mkdir): args[0].op`, …) and the
    /// offending value.
    pub fn resolve(&self, target: &Target) -> Result<Policy, Vec<PolicyError>> {
        resolve::resolve(self, target)
    }
}

/// [`parse`] then [`Profile::resolve`].
///
/// # Errors
/// The errors of either step.
pub fn load(text: &str, target: &Target) -> Result<Policy, Vec<PolicyError>> {
    parse(text)?.resolve(target)
}
