//! Issue 14: every shipped policy against the attacks a hostile program would try on what its `comment` claims.
//! Each policy either stops an attack (the test says how: the errno, or the process killed for another
//! architecture) or its comment says plainly that it does not cover it, and a test shows today's behaviour.
//!
//! An attack is one call, written as a Python expression (run in one `python3` per table, with the syscall made
//! raw through ctypes where the exact syscall matters) or as a command line (the `attack` helper of
//! `programs/attack.c` for `int 0x80`, x32, io_uring and other raw calls; real programs such as `rm` and `curl`).
//! A table runs every attack, then fails once with every attack that got through, its exact call and result.
//! Where a policy protects files, a snapshot of them (names, types, modes, owners, sizes, link counts, mtimes,
//! ctimes, contents) is compared after every attack, so an attack that changed something is named even if it
//! also returned an error.

mod clock_emulate;
mod deny_delete;
mod docker_default;
mod exe_network;
mod network_policies;
mod paths_protect_etc;
mod prompts;
mod uid_ptrace;

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use crate::support::{run_with, Output, TIMEOUT};

/// What a command attack's exit looks like when the filter killed it for another architecture (SIGSYS).
pub const KILLED: &str = "killed by SIGSYS";

/// How an attack is made.
pub enum Call {
    /// A Python expression, evaluated in the table's script (see [`PRELUDE`] for what it may use).
    Py(String),
    /// A command line. `{attack}` is the `attack` helper, `{D}` the table's directory, `{port}` and `{udp}` the
    /// listeners' ports (exe-network), `{python}` the Python interpreter.
    Cmd(Vec<String>),
}

/// One attack: its name, how it is made, and what the policy must give: `ok`, an errno name (`EROFS`), several
/// acceptable results joined by `|`, [`KILLED`], or `exit N` for a command that reports no `ok`/`err` line.
pub struct Attack {
    pub name: &'static str,
    pub call: Call,
    pub want: String,
}

/// A Python attack.
pub fn py(name: &'static str, expr: &str, want: &str) -> Attack {
    Attack { name, call: Call::Py(expr.to_string()), want: want.to_string() }
}

/// A command attack.
pub fn cmd(name: &'static str, argv: &[&str], want: &str) -> Attack {
    Attack { name, call: Call::Cmd(argv.iter().map(|a| a.to_string()).collect()), want: want.to_string() }
}

/// `attack ARGS…` as a command attack.
pub fn helper(name: &'static str, args: &[&str], want: &str) -> Attack {
    let argv: Vec<&str> = ["{attack}"].iter().chain(args).copied().collect();
    cmd(name, &argv, want)
}

/// What each Python attack may use: `D` (the table's directory, `sys.argv[1]`), `raw(nr, *args)` (a raw x86_64
/// syscall: str and bytes become C strings, ints longs, ctypes objects pass as they are; raises OSError),
/// `at_cwd(dir, f)` (calls `f` with `dir` as the cwd), `expect(got, want)` (raises EIO unless equal), `socket`, `os`,
/// `ctypes`, `mmap`, `struct`, `time`. `t(name, f)` runs one attack and
/// prints `name<TAB>result<TAB>changed`, where `changed` compares a snapshot of the watched directory
/// (`sys.argv[2]`, or nothing) with the one before.
const PRELUDE: &str = r#"
import ctypes, errno, mmap, os, socket, struct, sys, time
D = sys.argv[1]
WATCH = sys.argv[2] if len(sys.argv) > 2 else ''
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def raw(nr, *args):
    conv = []
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        if isinstance(a, bytes):
            conv.append(ctypes.c_char_p(a))
        elif isinstance(a, int):
            conv.append(ctypes.c_long(a))
        else:
            conv.append(a)
    r = libc.syscall(ctypes.c_long(nr), *conv)
    if r == -1:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r
def expect(got, want):
    if got != want:
        raise OSError(errno.EIO, 'got %r, want %r' % (got, want))
def at_cwd(d, f):
    old = os.getcwd()
    os.chdir(d)
    try:
        return f()
    finally:
        os.chdir(old)
def snap():
    if not WATCH:
        return None
    out = []
    for root, dirs, files in os.walk(WATCH):
        for n in sorted(dirs + files) + ['.']:
            p = os.path.join(root, n)
            st = os.lstat(p)
            data = None
            if os.path.islink(p):
                data = os.readlink(p)
            elif os.path.isfile(p):
                with open(p, 'rb') as f:
                    data = f.read()
            out.append((p, st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_nlink, st.st_mtime_ns, st.st_ctime_ns, data))
    return sorted(out, key=repr)
before = snap()
def t(name, f):
    global before
    try:
        f()
        res = 'ok'
    except OSError as e:
        res = errno.errorcode.get(e.errno, str(e.errno))
    now = snap()
    print('%s\t%s\t%s' % (name, res, 'changed' if now != before else ''), flush=True)
    before = now
"#;

/// Where a table runs: the command prefix that runs a program under the policy (`supervise --policy P --`, maybe
/// behind `setpriv` or `setsid`), the directory, what to watch, and the values of the `{…}` placeholders.
pub struct Table<'a> {
    pub prefix: Vec<String>,
    pub dir: &'a Path,
    /// Python code run once before the Python attacks (fds, buffers the expressions use).
    pub setup: &'a str,
    /// A directory that no attack may change, compared after each one.
    pub watch: Option<&'a Path>,
    pub vars: Vec<(&'static str, String)>,
}

/// What one attack gave.
pub struct Verdict {
    pub name: &'static str,
    pub call: String,
    pub want: String,
    pub got: String,
    pub changed: String,
}

impl Verdict {
    /// True if the policy gave what the table wants and nothing watched changed.
    pub fn held(&self) -> bool {
        self.want.split('|').any(|w| w == self.got) && self.changed.is_empty()
    }
}

impl Table<'_> {
    /// Replaces the placeholders: the table's own `vars` first (they may override `{attack}`), then the defaults.
    fn expand(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (key, value) in &self.vars {
            out = out.replace(&format!("{{{key}}}"), value);
        }
        out.replace("{attack}", attack().to_str().expect("utf-8"))
            .replace("{D}", self.dir_str())
            .replace("{python}", &python())
    }

    fn dir_str(&self) -> &str {
        self.dir.to_str().expect("utf-8 temp dir")
    }

    /// Runs every attack and returns what each gave, in table order.
    pub fn run(&self, attacks: &[Attack]) -> Vec<Verdict> {
        let mut verdicts: BTreeMap<usize, Verdict> = BTreeMap::new();
        let pys: Vec<(usize, &Attack, &String)> = attacks
            .iter()
            .enumerate()
            .filter_map(|(i, a)| match &a.call {
                Call::Py(expr) => Some((i, a, expr)),
                Call::Cmd(_) => None,
            })
            .collect();
        if !pys.is_empty() {
            let mut script = format!("{PRELUDE}\n{}\n", self.expand(self.setup));
            for (_, attack, expr) in &pys {
                script.push_str(&format!("t({:?}, lambda: {})\n", attack.name, self.expand(expr)));
            }
            let watch = self.watch.map(|w| w.to_str().expect("utf-8").to_string()).unwrap_or_default();
            let before = self.watch.map(snapshot);
            let out = self.under(&[python().as_str(), "-c", &script, self.dir_str(), &watch]);
            let mut lines: BTreeMap<&str, (String, String)> = BTreeMap::new();
            for line in out.stdout.lines() {
                let mut parts = line.splitn(3, '\t');
                if let (Some(name), Some(got), Some(changed)) = (parts.next(), parts.next(), parts.next()) {
                    lines.insert(name, (got.to_string(), changed.to_string()));
                }
            }
            for (i, attack, expr) in pys {
                let (got, changed) = lines.get(attack.name).cloned().unwrap_or_else(|| {
                    (format!("no result (exit {:?}): {}", out.code, last_lines(&out.stderr)), String::new())
                });
                verdicts.insert(
                    i,
                    Verdict { name: attack.name, call: self.expand(expr), want: attack.want.clone(), got, changed },
                );
            }
            // Anything the Python run changed that no attack line owned up to.
            if let (Some(watch), Some(before)) = (self.watch, before) {
                let after = snapshot(watch);
                if after != before && !verdicts.values().any(|v| !v.changed.is_empty()) {
                    verdicts.insert(
                        usize::MAX,
                        Verdict {
                            name: "the python run",
                            call: "(all the Python attacks)".into(),
                            want: "ok".into(),
                            got: "ok".into(),
                            changed: diff(&before, &after),
                        },
                    );
                }
            }
        }
        for (i, attack) in attacks.iter().enumerate() {
            let Call::Cmd(argv) = &attack.call else { continue };
            let argv: Vec<String> = argv.iter().map(|a| self.expand(a)).collect();
            let before = self.watch.map(snapshot);
            let args: Vec<&str> = argv.iter().map(String::as_str).collect();
            let out = self.under(&args);
            let changed = match (self.watch, before) {
                (Some(watch), Some(before)) => {
                    let after = snapshot(watch);
                    if after == before {
                        String::new()
                    } else {
                        diff(&before, &after)
                    }
                }
                _ => String::new(),
            };
            let call = shell_words(&argv);
            let verdict = Verdict { name: attack.name, call, want: attack.want.clone(), got: outcome(&out), changed };
            verdicts.insert(i, verdict);
        }
        verdicts.into_values().collect()
    }

    /// Runs `args` under the table's prefix, from its directory.
    pub fn under(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(&self.prefix[0]);
        cmd.args(&self.prefix[1..]).args(args).current_dir(self.dir);
        let out = run_with(cmd, b"", TIMEOUT);
        assert!(!out.stderr.contains("panicked"), "supervise panicked: {}", out.stderr);
        out
    }
}

/// What a command attack gave: [`KILLED`], `ok`/the errno name from an `ok …`/`err NAME` first line (the `attack`
/// helper, `probe`), or `exit N`.
fn outcome(out: &Output) -> String {
    if out.code == Some(128 + libc::SIGSYS) {
        return KILLED.to_string();
    }
    let first = out.stdout.lines().next().unwrap_or("");
    if first == "ok" || first.starts_with("ok ") {
        return "ok".to_string();
    }
    if let Some(rest) = first.strip_prefix("err ") {
        return rest.split_whitespace().next().unwrap_or("?").to_string();
    }
    match out.code {
        Some(code) => format!("exit {code}"),
        None => "no status".to_string(),
    }
}

fn last_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(3)..].join(" / ")
}

fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if a.chars().all(|c| c.is_ascii_alphanumeric() || "/._-=:,+@".contains(c)) {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Fails with every attack whose result is not the wanted one (or that changed the watched files), each with its
/// exact call; `what` names the policy.
pub fn assert_all_held(what: &str, verdicts: &[Verdict]) {
    let bad: Vec<&Verdict> = verdicts.iter().filter(|v| !v.held()).collect();
    for v in verdicts {
        eprintln!("{what}: {:<28} want {:<18} got {}{}", v.name, v.want, v.got, changed_note(v));
    }
    if bad.is_empty() {
        return;
    }
    let mut text = format!("{what}: {} of {} attacks got through or gave another result:\n", bad.len(), verdicts.len());
    for v in bad {
        text.push_str(&format!("- {}: {}\n  want {}, got {}{}\n", v.name, v.call, v.want, v.got, changed_note(v)));
    }
    panic!("{text}");
}

fn changed_note(v: &Verdict) -> String {
    if v.changed.is_empty() {
        String::new()
    } else {
        format!(" and CHANGED {}", v.changed)
    }
}

/// One entry of a [`snapshot`]: type and mode, owner, size, link count, mtime and ctime (seconds and
/// nanoseconds), and the content of a file or the target of a symlink.
type Entry = (u32, u32, u32, u64, u64, (i64, i64), (i64, i64), Vec<u8>);

/// Every name under `root` (and `root` itself) with what an attack could change about it; atimes are left out.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Entry> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(path) = todo.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        let data = if meta.file_type().is_symlink() {
            std::fs::read_link(&path).map(|t| t.into_os_string().into_encoded_bytes()).unwrap_or_default()
        } else if meta.is_file() {
            std::fs::read(&path).unwrap_or_default()
        } else {
            Vec::new()
        };
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).into_iter().flatten().flatten() {
                todo.push(entry.path());
            }
        }
        let entry = (
            meta.mode(),
            meta.uid(),
            meta.gid(),
            meta.size(),
            meta.nlink(),
            (meta.mtime(), meta.mtime_nsec()),
            (meta.ctime(), meta.ctime_nsec()),
            data,
        );
        out.insert(path, entry);
    }
    out
}

/// The names whose entries differ between two snapshots, and how.
pub fn diff(before: &BTreeMap<PathBuf, Entry>, after: &BTreeMap<PathBuf, Entry>) -> String {
    let mut parts = Vec::new();
    for (path, old) in before {
        match after.get(path) {
            None => parts.push(format!("{} removed", path.display())),
            Some(new) if new != old => parts.push(format!("{} changed ({old:?} -> {new:?})", path.display())),
            Some(_) => {}
        }
    }
    for path in after.keys().filter(|p| !before.contains_key(*p)) {
        parts.push(format!("{} created", path.display()));
    }
    parts.join("; ")
}

/// The Python interpreter: the system's `/usr/bin/python3` when there is one (uid 65534 can run it), else the real
/// binary behind `python3` (a version manager's shim is a shell script; the exe matchers should see Python).
pub fn python() -> String {
    static PYTHON: OnceLock<String> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            if Path::new("/usr/bin/python3").exists() {
                return "/usr/bin/python3".to_string();
            }
            let out = crate::support::run("python3", &["-c", "import sys; print(sys.executable)"]);
            let exe = out.stdout.trim().to_string();
            assert!(out.code == Some(0) && exe.starts_with('/'), "python3: {}", out.stderr);
            exe
        })
        .clone()
}

/// The `attack` helper (`programs/attack.c`), compiled once per source.
pub fn attack() -> PathBuf {
    compile("attack.c", false)
}

/// The LD_PRELOAD library `programs/preload_connect.c`, compiled once per source.
pub fn preload_connect() -> PathBuf {
    compile("preload_connect.c", true)
}

/// Compiles `programs/NAME` with gcc (a shared library when `shared`) into the test's temporary directory, named
/// by a hash of its source so that a changed file is rebuilt.
fn compile(name: &str, shared: bool) -> PathBuf {
    static BUILT: OnceLock<Mutex<BTreeMap<String, PathBuf>>> = OnceLock::new();
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = built.get(name) {
        return path.clone();
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/programs").join(name);
    let text = std::fs::read(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("attacks");
    let stem = name.trim_end_matches(".c");
    let out = out_dir.join(format!("{stem}-{:016x}{}", hasher.finish(), if shared { ".so" } else { "" }));
    if !out.exists() {
        std::fs::create_dir_all(&out_dir).expect("create the C output directory");
        let tmp = out_dir.join(format!("{stem}.tmp{}", std::process::id()));
        let mut gcc = Command::new("gcc");
        gcc.args(["-O2", "-Wall", "-Wextra", "-Werror"]);
        if shared {
            gcc.args(["-shared", "-fPIC"]);
        }
        let result = gcc.arg("-o").arg(&tmp).arg(&src).output().expect("gcc is installed (./x setup)");
        assert!(result.status.success(), "gcc {name}: {}", String::from_utf8_lossy(&result.stderr));
        std::fs::rename(&tmp, &out).expect("rename the compiled program");
    }
    built.insert(name.to_string(), out.clone());
    out
}

/// A copy of a shipped policy with every path glob under `/etc` moved under `root` (`/etc/**` becomes
/// `ROOT/etc/**`), so that a test can attack a temporary `/etc` and never the real one. Panics if nothing moved.
pub fn policy_with_etc_under(name: &str, root: &Path) -> String {
    let text = std::fs::read_to_string(crate::support::policy_file(name)).expect("read the shipped policy");
    let mut json: serde_json::Value = serde_json::from_str(&text).expect("the shipped policy is JSON");
    let mut moved = 0;
    for rule in json["syscalls"].as_array_mut().expect("syscalls") {
        let Some(paths) = rule.get_mut("supervise").and_then(|s| s.get_mut("paths")) else { continue };
        for glob in paths.as_array_mut().expect("paths is a list") {
            let g = glob.as_str().expect("a glob").to_string();
            if g == "/etc" || g.starts_with("/etc/") {
                *glob = serde_json::Value::String(format!("{}{g}", root.display()));
                moved += 1;
            }
        }
    }
    assert!(moved > 0, "{name} has no /etc globs to move");
    serde_json::to_string_pretty(&json).expect("serialise")
}

/// `supervise --policy POLICY --`, as a table prefix.
pub fn under_policy(policy: &Path) -> Vec<String> {
    let exe = crate::support::supervise();
    vec![exe.display().to_string(), "--policy".into(), policy.display().to_string(), "--".into()]
}

/// A canonical temporary directory (the paths the policy sees are the kernel's, without symlinks).
pub fn temp() -> (tempfile::TempDir, PathBuf) {
    let dir = crate::support::temp_dir();
    let root = dir.path().canonicalize().expect("canonical temp dir");
    (dir, root)
}

/// Creates `root/rel` (a file with `text`, or a directory when `rel` ends with `/`).
pub fn make(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    if rel.ends_with('/') {
        std::fs::create_dir_all(&path).expect("mkdir");
    } else {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write");
    }
}

/// For documented gaps: each attack gave what the table says, and (with `needs_change`) one that succeeded changed
/// the watched files. Fails with every gap that behaves differently now.
pub fn assert_gaps(what: &str, verdicts: &[Verdict], needs_change: bool) {
    let mut bad = Vec::new();
    for v in verdicts {
        eprintln!("{what} (gap): {:<32} want {:<18} got {} {}", v.name, v.want, v.got, v.changed);
        let matched = v.want.split('|').any(|w| w == v.got);
        let succeeded = v.got == "ok" || v.got == "exit 0";
        if !matched || (needs_change && succeeded && v.changed.is_empty()) {
            bad.push(format!("- {}: {}\n  want {}, got {} (changed: {:?})", v.name, v.call, v.want, v.got, v.changed));
        }
    }
    assert!(
        bad.is_empty(),
        "{what}: a documented gap behaves differently now (update the test and the policy's comment):\n{}",
        bad.join("\n")
    );
}
