//! The repository itself: it stands alone, since a fresh clone has no folder beside it, and every crate
//! uses the dependencies it declares. `./x test` runs the same stand-alone check before it builds.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::repo;

/// The tracked files, or `None` (with a message) outside a git checkout.
fn tracked_files() -> Option<Vec<PathBuf>> {
    let out = Command::new("git").arg("-C").arg(repo()).args(["ls-files", "-z"]).output().ok()?;
    if !out.status.success() {
        eprintln!("skipped: {} is not a git checkout", repo().display());
        return None;
    }
    let names = String::from_utf8(out.stdout).expect("utf-8 file names");
    Some(names.split('\0').filter(|n| !n.is_empty()).map(|n| repo().join(n)).collect())
}

#[test]
fn no_tracked_file_refers_to_a_folder_beside_the_repository() {
    let Some(files) = tracked_files() else { return };
    // Spelt in pieces so that this file does not match itself.
    let outside = [["..", "shared"].join("/"), ["", "work", "shared"].join("/")];
    let mut hits = Vec::new();
    for file in files {
        // A tracked file that another change deleted from the working tree reads as nothing.
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap_or_default()).into_owned();
        for (n, line) in text.lines().enumerate() {
            if outside.iter().any(|o| line.contains(o.as_str())) {
                hits.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(hits.is_empty(), "tracked files refer to a folder outside the repository:\n{}", hits.join("\n"));
}

/// The dependency names of every `[…dependencies]` table of a `Cargo.toml`.
fn dependencies(manifest: &str) -> Vec<String> {
    let mut in_deps = false;
    let mut names = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = line.ends_with("dependencies]");
        } else if in_deps && !line.is_empty() && !line.starts_with('#') {
            let name = line.split(['=', '.']).next().unwrap_or_default().trim();
            names.push(name.to_string());
        }
    }
    names
}

/// The text of every `.rs` file under `dir`.
fn rust_sources(dir: &Path, out: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() && path.file_name().is_some_and(|n| n != "target") {
            rust_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
        }
    }
}

#[test]
fn every_declared_dependency_is_used() {
    let workspace = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let members = workspace.lines().find(|l| l.starts_with("members")).expect("a members list");
    let members: Vec<&str> = members.split('"').skip(1).step_by(2).collect();
    assert!(members.len() >= 4, "{members:?}");
    let mut unused = Vec::new();
    for member in members {
        let manifest = std::fs::read_to_string(repo().join(member).join("Cargo.toml")).unwrap();
        let mut sources = String::new();
        rust_sources(&repo().join(member), &mut sources);
        for name in dependencies(&manifest) {
            let krate = name.replace('-', "_");
            let used = [format!("{krate}::"), format!("use {krate}"), format!("extern crate {krate}")]
                .iter()
                .any(|pattern| sources.contains(pattern.as_str()));
            if !used {
                unused.push(format!("{member}: {name}"));
            }
        }
    }
    assert!(unused.is_empty(), "declared but never used (remove them from Cargo.toml): {unused:?}");
}
