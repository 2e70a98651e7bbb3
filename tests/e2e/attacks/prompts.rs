//! `policies/prompt-*.json` without a terminal (`setsid`: no controlling terminal, so each question's `onTimeout`,
//! deny, applies at once): every call the comment says is asked about is refused with the rule's errno, other
//! architectures are killed, and what the comments say is not asked about gets through, as shown.

use std::path::Path;

use super::exe_network::{assert_not_covered, not_covered, refused, Listeners};
use super::{assert_all_held, assert_gaps, helper, make, py, snapshot, temp, Table, KILLED};
use crate::support::{policy_file, supervise};

/// `setsid supervise --policy policies/NAME --`.
fn prefix(name: &str) -> Vec<String> {
    let policy = policy_file(name);
    vec![
        "setsid".into(),
        supervise().display().to_string(),
        "--policy".into(),
        policy.display().to_string(),
        "--".into(),
    ]
}

const SETUP: &str = r#"
T = D + '/tree'
afd = os.open(T + '/a', os.O_RDONLY)
wfd = os.open(T + '/b', os.O_WRONLY)
"#;

fn tree() -> (tempfile::TempDir, std::path::PathBuf) {
    let (dir, root) = temp();
    for (rel, text) in [("tree/a", "a\n"), ("tree/b", "b\n"), ("tree/dir/c", "c\n"), ("tree/empty/", "")] {
        make(&root, rel, text);
    }
    (dir, root)
}

fn table<'a>(name: &str, root: &'a Path, watch: &'a Path) -> Table<'a> {
    Table { prefix: prefix(name), dir: root, setup: SETUP, watch: Some(watch), vars: Vec::new() }
}

#[test]
fn prompt_delete_without_a_terminal_refuses_every_deletion_and_rename() {
    let (_dir, root) = tree();
    let watch = root.join("tree");
    let before = snapshot(&watch);
    let verdicts = table("prompt-delete.json", &root, &watch).run(&[
        py("unlink", "raw(87, T + '/a')", "EACCES"),
        py("unlinkat", "os.unlink(T + '/a')", "EACCES"),
        py("rmdir", "raw(84, T + '/empty')", "EACCES"),
        py("unlinkat AT_REMOVEDIR", "os.rmdir(T + '/empty')", "EACCES"),
        py("rename over a file", "raw(82, T + '/a', T + '/b')", "EACCES"),
        py("renameat to a new name", "os.rename(T + '/a', T + '/new')", "EACCES"),
        py("renameat2 RENAME_EXCHANGE", "raw(316, -100, T + '/a', -100, T + '/b', 2)", "EACCES"),
        py("renameat2 RENAME_NOREPLACE", "raw(316, -100, T + '/a', -100, T + '/new', 1)", "EACCES"),
        super::cmd("rm -rf", &["rm", "-rf", "{D}/tree"], "exit 1"),
        helper("int 0x80 unlink", &["int80", "10", "s:{D}/tree/a"], KILLED),
        helper("x32 unlinkat", &["x32", "263", "-100", "s:{D}/tree/a", "0"], KILLED),
    ]);
    assert_all_held("prompt-delete", &verdicts);
    let after = snapshot(&watch);
    assert!(after == before, "the tree changed: {}", super::diff(&before, &after));
}

/// Not asked about, as the comment says: io_uring's unlinkat and renameat (they bypass seccomp), and content erased
/// without removing a name.
#[test]
fn prompt_delete_does_not_cover_io_uring_or_truncation() {
    let (_dir, root) = tree();
    let watch = root.join("tree");
    let verdicts = table("prompt-delete.json", &root, &watch).run(&[
        helper("io_uring unlinkat", &["uring-unlinkat", "{D}/tree/a", "0"], "ok"),
        helper("io_uring renameat", &["uring-renameat", "{D}/tree/b", "{D}/tree/dir/c"], "ok"),
        py("open O_TRUNC", "os.close(os.open(T + '/dir/c', os.O_WRONLY | os.O_TRUNC))", "ok"),
    ]);
    assert_gaps("prompt-delete", &verdicts, true);
    assert!(!root.join("tree/a").exists(), "io_uring deleted the file without a question");
}

#[test]
fn prompt_write_without_a_terminal_refuses_what_it_asks_about() {
    let (_dir, root) = tree();
    let watch = root.join("tree");
    let before = snapshot(&watch);
    let verdicts = table("prompt-write.json", &root, &watch).run(&[
        py("mkdir", "raw(83, T + '/d', 0o755)", "EPERM"),
        py("mkdirat", "os.mkdir(T + '/d')", "EPERM"),
        py("chmod", "raw(90, T + '/a', 0o600)", "EPERM"),
        py("fchmodat", "os.chmod(T + '/a', 0o600)", "EPERM"),
        py("fchmodat2 AT_EMPTY_PATH", "raw(452, afd, '', 0o600, 0x1000)", "EPERM"),
        py("chown", "raw(92, T + '/a', os.getuid(), os.getgid())", "EPERM"),
        py("lchown", "raw(94, T + '/a', os.getuid(), os.getgid())", "EPERM"),
        py("fchownat", "os.chown(T + '/a', os.getuid(), os.getgid())", "EPERM"),
        py("truncate", "os.truncate(T + '/a', 0)", "EPERM"),
        helper("int 0x80 mkdir", &["int80", "39", "s:{D}/tree/d", "493"], KILLED),
        helper("x32 mkdir", &["x32", "83", "s:{D}/tree/d", "493"], KILLED),
    ]);
    assert_all_held("prompt-write", &verdicts);
    let after = snapshot(&watch);
    assert!(after == before, "the tree changed: {}", super::diff(&before, &after));
}

/// Not asked about, as the comment says: the same changes through an fd, truncation on open, io_uring's mkdirat.
#[test]
fn prompt_write_does_not_cover_fds_o_trunc_or_io_uring() {
    let (_dir, root) = tree();
    let watch = root.join("tree");
    let verdicts = table("prompt-write.json", &root, &watch).run(&[
        py("fchmod", "os.chmod(afd, 0o600)", "ok"),
        py("fchown", "os.chown(afd, os.getuid(), os.getgid())", "ok"),
        py("ftruncate", "os.ftruncate(wfd, 0)", "ok"),
        py("open O_TRUNC", "os.close(os.open(T + '/dir/c', os.O_WRONLY | os.O_TRUNC))", "ok"),
        helper("io_uring mkdirat", &["uring-mkdirat", "{D}/tree/d"], "ok"),
    ]);
    assert_gaps("prompt-write", &verdicts, true);
}

#[test]
fn prompt_connect_without_a_terminal_refuses_connects_binds_and_sends() {
    let (_dir, root) = temp();
    let listeners = Listeners::start(&root);
    let table =
        Table { prefix: prefix("prompt-connect.json"), dir: &root, setup: "", watch: None, vars: listeners.vars() };
    assert_all_held("prompt-connect", &table.run(&refused("ECONNREFUSED")));
    let got = listeners.received();
    assert!(got.is_empty(), "prompt-connect: something reached a listener: {got:?}");
}

/// Not asked about, as the comment says: a listening socket without bind.
#[test]
fn prompt_connect_does_not_cover_listen_without_bind() {
    let (_dir, root) = temp();
    let listeners = Listeners::start(&root);
    let table =
        Table { prefix: prefix("prompt-connect.json"), dir: &root, setup: "", watch: None, vars: listeners.vars() };
    assert_not_covered("prompt-connect", &table, &listeners, not_covered());
}
