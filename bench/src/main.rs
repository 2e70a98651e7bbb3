//! `supervise-bench`: the benchmark harness of supervise (`./x bench`). It builds nothing itself: it runs the
//! release binaries next to it (`supervise`, `supervise-bench-target`) and the reference programs it contains
//! (the raw notify floor and the raw filter load in [`floor`]), side by side in one run, and prints a table of
//! medians (with min and max) and the speed targets, then writes `BENCHMARKS.md`.
//!
//! Modules: [`suite`] (the measurements), [`floor`] (raw seccomp reference programs), [`run`] (running and timing
//! processes), [`stats`], [`report`] (tables, targets, the machine, `BENCHMARKS.md`).
//!
//! The harness never changes the host: the round trip is `getppid`, and the clock-set figure runs with
//! CAP_SYS_TIME dropped (setpriv), under a policy that emulates the set; the run aborts if the clock moved.

mod floor;
mod report;
mod run;
mod stats;
mod suite;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use agent::filter::{compile, Bpf};
use proto::profile::Target;
use proto::{Action, Arch, Policy, Rule};

/// How much to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A few seconds: for the test suite (checks that the harness works, not the targets).
    Quick,
    /// About two minutes: the figures in BENCHMARKS.md.
    Default,
    /// Soak sizes: 10,000,000 notifications for the memory figure, more repeats.
    Long,
}

/// Sizes of one run.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub mode: Mode,
    /// Repeats of each per-call figure.
    pub repeats: usize,
    /// Calls per notified-loop run.
    pub calls: u64,
    /// Calls per BPF-allowed-loop run (short runs, many repeats: a preemption spoils one run, not the median).
    pub bpf_calls: u64,
    pub bpf_repeats: usize,
    /// Runs of each start-up figure.
    pub startup_runs: usize,
    pub thread_window_ms: u64,
    pub thread_repeats: usize,
    /// Notifications for the memory figure.
    pub rss_calls: u64,
    /// Time limit of one process run.
    pub timeout: Duration,
}

impl Config {
    pub fn new(mode: Mode) -> Config {
        match mode {
            Mode::Quick => Config {
                mode,
                repeats: 2,
                calls: 2_000,
                bpf_calls: 20_000,
                bpf_repeats: 2,
                startup_runs: 3,
                thread_window_ms: 100,
                thread_repeats: 1,
                rss_calls: 4_000,
                timeout: Duration::from_secs(30),
            },
            Mode::Default => Config {
                mode,
                repeats: 15,
                calls: 15_000,
                bpf_calls: 200_000,
                bpf_repeats: 21,
                startup_runs: 30,
                thread_window_ms: 500,
                thread_repeats: 5,
                rss_calls: 1_000_000,
                timeout: Duration::from_secs(60),
            },
            Mode::Long => Config {
                mode,
                repeats: 15,
                calls: 100_000,
                bpf_calls: 1_000_000,
                bpf_repeats: 41,
                startup_runs: 100,
                thread_window_ms: 2_000,
                thread_repeats: 9,
                rss_calls: 10_000_000,
                timeout: Duration::from_secs(600),
            },
        }
    }
}

/// Everything the measurements share.
pub struct Ctx {
    pub cfg: Config,
    pub supervise: PathBuf,
    pub target: PathBuf,
    pub repo: PathBuf,
    /// A private temporary directory: generated policies, filter caches, the file for `openat`.
    pub tmp: PathBuf,
    pub strace: Option<PathBuf>,
    pub setpriv: Option<PathBuf>,
    /// `getppid` → NOTIFY, everything else allowed: the floor's filter, as libseccomp compiles it for supervise.
    pub floor_bpf: Bpf,
    /// `openat` → NOTIFY, everything else allowed: the filter of the emulated-open floor.
    pub floor_open_bpf: Bpf,
    /// `connect` → NOTIFY, everything else allowed: the floor of a notified connect.
    pub floor_connect_bpf: Bpf,
    /// Docker's default profile, resolved for this process as supervise resolves it, compiled by the agent.
    pub docker_bpf: Bpf,
    /// Whether `docker_bpf` is the very program supervise cached for the same profile.
    pub docker_same: bool,
}

impl Ctx {
    /// The clock-set figure runs only if no run can hold CAP_SYS_TIME: we lack it, or setpriv can drop it.
    pub fn can_set_clock_safely(&self) -> bool {
        !holds_sys_time() || self.setpriv.is_some()
    }
}

/// True if this process has CAP_SYS_TIME in its effective or bounding set (root: exec would grant it).
fn holds_sys_time() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    ["CapEff:", "CapBnd:"].iter().any(|key| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .is_none_or(|caps| caps & (1 << 25) != 0)
    })
}

struct Args {
    mode: Mode,
    out: Option<PathBuf>,
    supervise: Option<PathBuf>,
    only: Option<Vec<String>>,
}

const USAGE: &str = "usage: supervise-bench [--quick | --long] [--out FILE | --no-write] [--supervise PATH] \
[--only notify,bpf,openat,connect,startup,threads,memory]
  default: about 2-3 minutes; prints the table and writes BENCHMARKS.md at the repository root
  --quick: a few seconds (sanity only; writes nothing unless --out is given)
  --long:  soak sizes (10,000,000 notifications for the memory figure)";

fn parse_args() -> Result<Args, String> {
    let mut args = Args { mode: Mode::Default, out: Some(repo().join("BENCHMARKS.md")), supervise: None, only: None };
    let mut explicit_out = false;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => args.mode = Mode::Quick,
            "--long" => args.mode = Mode::Long,
            "--out" => {
                args.out = Some(it.next().ok_or("--out needs a file")?.into());
                explicit_out = true;
            }
            "--no-write" => {
                args.out = None;
                explicit_out = true;
            }
            "--supervise" => args.supervise = Some(it.next().ok_or("--supervise needs a path")?.into()),
            "--only" => {
                args.only = Some(it.next().ok_or("--only needs groups")?.split(',').map(String::from).collect())
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if args.mode == Mode::Quick && !explicit_out {
        args.out = None;
    }
    Ok(args)
}

/// The repository root: where this crate was built from, or the current directory.
fn repo() -> PathBuf {
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf);
    match built {
        Some(dir) if dir.join("policies/docker-default.json").is_file() => dir,
        _ => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(why) => {
            if !why.is_empty() {
                eprintln!("supervise-bench: {why}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match bench(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("supervise-bench: {e}");
            ExitCode::from(1)
        }
    }
}

/// Runs the groups, prints the report, writes it; `Ok(false)` if some figure could not be measured.
fn bench(args: &Args) -> Result<bool, String> {
    let tmp = TempDir::new().map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let ctx = setup(args, tmp.0.clone())?;
    let machine = report::Machine::now(&ctx);
    eprintln!(
        "supervise-bench ({:?} mode) on {}; supervise = {}",
        ctx.cfg.mode,
        machine.summary(),
        ctx.supervise.display()
    );
    let wanted = |group: &str| args.only.as_ref().is_none_or(|only| only.iter().any(|g| g == group));
    let mut rows = Vec::new();
    if wanted("notify") {
        rows.extend(suite::notify(&ctx));
    }
    if wanted("bpf") {
        rows.extend(suite::bpf(&ctx));
    }
    if wanted("openat") {
        rows.extend(suite::openat(&ctx));
    }
    if wanted("connect") {
        rows.extend(suite::connect(&ctx));
    }
    if wanted("startup") {
        rows.extend(suite::startup(&ctx).map_err(|e| format!("start-up: {e}"))?);
    }
    if wanted("threads") {
        rows.extend(suite::threads(&ctx));
    }
    if wanted("memory") {
        match suite::memory(&ctx) {
            Ok(r) => rows.extend(r),
            Err(e) => rows.push(report::Row::failed("memory", "rss.after", "supervise VmRSS", &e.to_string())),
        }
    }
    let machine = machine.finish();
    let checks = report::checks(&rows, &ctx.cfg);
    println!("{}", report::terminal(&machine, &rows, &checks));
    if let Some(out) = &args.out {
        std::fs::write(out, report::markdown(&machine, &ctx.cfg, &rows, &checks))
            .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
        eprintln!("wrote {}", out.display());
    }
    Ok(rows.iter().all(|r| r.stat.is_some()))
}

/// Finds the binaries, writes the generated policies, compiles the reference filters and warms the filter cache.
fn setup(args: &Args, tmp: PathBuf) -> Result<Ctx, String> {
    let me = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let supervise = args.supervise.clone().unwrap_or_else(|| me.with_file_name("supervise"));
    let target = me.with_file_name("supervise-bench-target");
    for bin in [&supervise, &target] {
        if !bin.is_file() {
            return Err(format!("{} is missing: run `cargo build --release --workspace` first", bin.display()));
        }
    }
    let repo = repo();
    // Every supervise started from here puts its control socket in this run's directory, not /run/supervise (no
    // thread runs yet: set_var is sound here).
    std::env::set_var("SUPERVISE_RUNTIME_DIR", tmp.join("run"));
    let write = |name: &str, text: String| {
        std::fs::write(tmp.join(name), text).map_err(|e| format!("cannot write {name}: {e}"))
    };
    let arches = if Arch::native() == Arch::X86_64 {
        r#""architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"], "#
    } else {
        ""
    };
    let notify = |names: &str, supervise: &str| {
        format!(r#"{{ "names": [{names}], "action": "SCMP_ACT_NOTIFY", "supervise": {supervise} }}"#)
    };
    let profile = |rules: Vec<String>| {
        format!(r#"{{ "defaultAction": "SCMP_ACT_ALLOW", {arches}"syscalls": [{}] }}"#, rules.join(", "))
    };
    write("allow.json", profile(vec![notify(r#""getppid""#, r#"{ "decision": "allow" }"#)]))?;
    write("deny.json", profile(vec![notify(r#""getppid""#, r#"{ "decision": "deny", "errnoRet": "EPERM" }"#)]))?;
    let files = tmp.join("files");
    std::fs::create_dir_all(&files).and_then(|()| std::fs::write(files.join("f"), b"x")).map_err(|e| e.to_string())?;
    let glob = format!(r#"{{ "decision": "allow", "paths": ["{}/**"] }}"#, files.display());
    // The second rule lets every other open through (the loader's, for example) with CONTINUE.
    write(
        "openat-path.json",
        profile(vec![notify(r#""openat""#, &glob), notify(r#""openat""#, r#"{ "decision": "allow" }"#)]),
    )?;

    let floor = compile(&Policy::new(Action::Allow, vec![Rule::new(0, &["getppid"], Action::Notify)]))
        .map_err(|e| format!("cannot compile the floor's filter: {e}"))?;
    let floor_open = compile(&Policy::new(Action::Allow, vec![Rule::new(0, &["openat"], Action::Notify)]))
        .map_err(|e| format!("cannot compile the floor's filter: {e}"))?;
    let floor_connect = compile(&Policy::new(Action::Allow, vec![Rule::new(0, &["connect"], Action::Notify)]))
        .map_err(|e| format!("cannot compile the floor's filter: {e}"))?;
    // Loopback is allowed by its address (performed by supervise); any other address would be refused.
    let loopback = r#"{ "decision": "allow", "addresses": ["127.0.0.0/8"] }"#;
    write(
        "connect-address.json",
        profile(vec![notify(r#""connect""#, loopback), notify(r#""connect""#, r#"{ "decision": "deny" }"#)]),
    )?;
    let docker_text = std::fs::read_to_string(repo.join("policies/docker-default.json"))
        .map_err(|e| format!("cannot read policies/docker-default.json: {e}"))?;
    let docker = proto::profile::load(&docker_text, &this_target())
        .map_err(|e| format!("cannot load policies/docker-default.json: {e:?}"))?;
    let docker = compile(&docker).map_err(|e| format!("cannot compile Docker's default profile: {e}"))?;
    let mut ctx = Ctx {
        cfg: Config::new(args.mode),
        supervise,
        target,
        repo,
        tmp,
        strace: which("strace"),
        setpriv: which("setpriv"),
        floor_bpf: floor.bpf,
        floor_open_bpf: floor_open.bpf,
        floor_connect_bpf: floor_connect.bpf,
        docker_bpf: docker.bpf,
        docker_same: false,
    };
    // Fill the warm cache once, so that no timed run pays libseccomp.
    let warm = ctx.tmp.join("warm");
    for policy in [ctx.repo.join("policies/docker-default.json"), ctx.tmp.join("allow.json")] {
        let mut cmd = std::process::Command::new(&ctx.supervise);
        cmd.arg("--policy").arg(&policy).arg("--").arg("/bin/true").env("XDG_CACHE_HOME", &warm);
        run::output(&mut cmd, ctx.cfg.timeout)
            .and_then(|o| o.ok("supervise -- /bin/true"))
            .map_err(|e| e.to_string())?;
    }
    ctx.docker_same = cached_contains(&warm.join("supervise"), &ctx.docker_bpf);
    Ok(ctx)
}

/// True if a filter cache entry under `dir` holds exactly this program (`sock_filter` records, native-endian).
fn cached_contains(dir: &Path, bpf: &Bpf) -> bool {
    let mut bytes = Vec::with_capacity(bpf.len() * 8);
    for insn in bpf.insns() {
        bytes.extend_from_slice(&insn.code.to_ne_bytes());
        bytes.extend_from_slice(&[insn.jt, insn.jf]);
        bytes.extend_from_slice(&insn.k.to_ne_bytes());
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read(e.path()).ok())
        .any(|entry| entry.windows(bytes.len()).any(|w| w == bytes.as_slice()))
}

/// What supervise resolves a profile for when it runs a program: native arch, the starting capabilities (root:
/// the bounding set; others: the ambient set), the running kernel.
fn this_target() -> Target {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |key: &str| {
        status.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
    };
    let caps = if nix::unistd::geteuid().is_root() { field("CapBnd:") } else { field("CapAmb:") };
    let release = nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default();
    let mut parts = release.split(|c: char| !c.is_ascii_digit()).filter_map(|p| p.parse().ok());
    let kernel = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    Target { native: Arch::native(), caps: caps.unwrap_or(0), kernel }
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(name)).find(|p| p.is_file())
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<TempDir> {
        let dir = std::env::temp_dir().join(format!("supervise-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
