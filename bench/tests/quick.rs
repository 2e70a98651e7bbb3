//! The harness's quick mode, run by the test suite so that it cannot rot: it must run to the end, measure every
//! figure, write its report, and give sane results. It does not check the performance targets (timings on a
//! shared machine are not a test).

use std::path::PathBuf;
use std::process::Command;

fn harness() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_supervise-bench"))
}

/// A median from the results table of `BENCHMARKS.md`, in the row's unit (ns, ms, k/s, MiB, or a plain number).
fn median(report: &str, label: &str) -> f64 {
    let row = report
        .lines()
        .find(|l| l.starts_with("| ") && l.split(" | ").nth(1) == Some(label))
        .unwrap_or_else(|| panic!("no row {label:?} in:\n{report}"));
    let cell = row.split(" | ").nth(2).expect("a median cell");
    let (number, unit) = cell.split_once(' ').unwrap_or((cell, ""));
    let value: f64 = number.parse().unwrap_or_else(|_| panic!("row {label:?}: median {cell:?} is not a number"));
    match unit {
        "µs" => value * 1000.0,
        _ => value,
    }
}

#[test]
fn the_quick_mode_measures_every_figure_and_writes_a_sane_report() {
    let supervise = harness().with_file_name("supervise");
    assert!(
        supervise.exists(),
        "{} is missing: build the workspace first (`cargo build --workspace`)",
        supervise.display()
    );
    let dir = std::env::temp_dir().join(format!("supervise-bench-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("BENCHMARKS.md");
    let run = Command::new(harness()).arg("--quick").arg("--out").arg(&out).output().expect("the harness runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "the harness failed ({}):\n{stdout}\n{stderr}", run.status);
    let report = std::fs::read_to_string(&out).expect("the report was written");
    let _ = std::fs::remove_dir_all(&dir);

    for needle in ["| machine |", "| kernel |", "| date |", "## Targets", "## Results", "## Method"] {
        assert!(report.contains(needle), "{needle:?} missing from the report");
    }
    assert!(!report.contains("failed:"), "a figure failed:\n{report}");
    // strace and setpriv are installed by `./x setup`; without them those figures are skipped, nothing else.
    let on_path = |tool: &str| {
        std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
    };
    let skipped = |line: &str| {
        (line.contains("strace") && !on_path("strace")) || (line.contains("clock_settime") && !on_path("setpriv"))
    };
    let unmeasured: Vec<&str> = report.lines().filter(|l| l.contains("| not measured") && !skipped(l)).collect();
    assert!(unmeasured.is_empty(), "targets not measured: {unmeasured:#?}");
    assert!(stdout.contains("notified getppid, allow (CONTINUE), unpinned"), "no targets on stdout:\n{stdout}");

    // Sane: a notification costs more than a plain syscall, strace more than the raw floor, supervise's start more
    // than a bare fork + exec, and supervise uses some memory, but not much.
    let plain = median(&report, "getppid, no filter");
    let floor = median(&report, "raw floor: CONTINUE, blocking RECV, SYNC_WAKE_UP");
    let allow = median(&report, "supervise: decision allow (CONTINUE)");
    assert!(plain > 0.0 && plain < floor, "plain getppid {plain} ns vs raw floor {floor} ns");
    assert!(allow > plain, "allow {allow} ns vs plain {plain} ns");
    if on_path("strace") {
        let strace = median(&report, "strace -f -o /dev/null --inject=getppid:retval=42");
        assert!(strace > floor, "strace {strace} ns vs raw floor {floor} ns");
    }
    let bare = median(&report, "fork + exec /bin/true");
    let warm = median(&report, "supervise docker-default -- /bin/true, warm cache");
    assert!(bare > 0.0 && warm > bare, "bare {bare} ms vs supervise {warm} ms");
    let rss = median(&report, "supervise VmRSS, idle (serving, after the first notification)");
    assert!(rss > 0.5 && rss < 200.0, "idle RSS {rss} MiB");
}
