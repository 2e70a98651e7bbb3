//! `policies/clock-emulate.json`: every way to set the realtime clock, on every x86 entry point, is emulated (the
//! program sees success) and the host clock never moves. Every run has CAP_SYS_TIME dropped (with root), so a call
//! that reached the kernel would fail with EPERM: a success can only be the emulation. The same calls without
//! supervise show that.

use super::{assert_all_held, helper, temp, Attack, Table};
use crate::support::{assert_clock_untouched, clock, policy_file, supervise, without_sys_time};

/// 19 Apr 2012 22:00:00 UTC: a set that got through would be a jump of years.
const APRIL_2012: i64 = 1_334_872_800;
const ADJ_OFFSET: u32 = 0x0001;
const ADJ_FREQUENCY: u32 = 0x0002;
const ADJ_STATUS: u32 = 0x0010;
const ADJ_SETOFFSET: u32 = 0x0100;
const ADJ_NANO: u32 = 0x2000;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A 64-bit `struct timespec` (or `timeval`, or `__kernel_timespec`) as an `h:` argument.
fn ts64(sec: i64) -> String {
    format!("h:{}", hex(&[sec.to_le_bytes(), 0i64.to_le_bytes()].concat()))
}

/// An i386 `struct old_timespec32`/`old_timeval32`.
fn ts32(sec: i64) -> String {
    format!("h:{}", hex(&[(sec as i32).to_le_bytes(), 0i32.to_le_bytes()].concat()))
}

/// A 64-bit `struct timex` (`__kernel_timex`, also x32 and i386 `clock_adjtime64`): 208 bytes, `modes` first, `freq`
/// at 16, `time` (a timeval) at 72.
fn timex64(modes: u32) -> String {
    let mut b = vec![0u8; 208];
    b[..4].copy_from_slice(&modes.to_le_bytes());
    b[16..24].copy_from_slice(&65_536_000i64.to_le_bytes()); // freq: 1000 ppm
    b[72..80].copy_from_slice(&3600i64.to_le_bytes()); // time: one hour
    format!("h:{}", hex(&b))
}

/// An i386 `struct old_timex32`: 128 bytes of 32-bit fields, `freq` at 8, `time` at 36.
fn timex32(modes: u32) -> String {
    let mut b = vec![0u8; 128];
    b[..4].copy_from_slice(&modes.to_le_bytes());
    b[8..12].copy_from_slice(&65_536_000i32.to_le_bytes());
    b[36..40].copy_from_slice(&3600i32.to_le_bytes());
    format!("h:{}", hex(&b))
}

/// Every clock-setting call through each entry point: (name, `attack` arguments).
fn calls() -> Vec<(&'static str, Vec<String>)> {
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let (t64, t32) = (ts64(APRIL_2012), ts32(APRIL_2012));
    let setoffset = ADJ_SETOFFSET;
    let ntp = ADJ_OFFSET | ADJ_FREQUENCY | ADJ_STATUS | ADJ_NANO;
    let tz = "h:0000000000000000";
    vec![
        ("clock_settime", s(&["native", "227", "0", &t64])),
        ("settimeofday", s(&["native", "164", &t64, "0"])),
        ("settimeofday, timezone only", s(&["native", "164", "0", tz])),
        ("adjtimex ADJ_SETOFFSET", s(&["native", "159", &timex64(setoffset)])),
        ("adjtimex ADJ_OFFSET|FREQUENCY|STATUS", s(&["native", "159", &timex64(ntp)])),
        ("clock_adjtime ADJ_SETOFFSET", s(&["native", "305", "0", &timex64(setoffset)])),
        ("clock_adjtime ADJ_FREQUENCY", s(&["native", "305", "0", &timex64(ADJ_FREQUENCY)])),
        ("int 0x80 clock_settime", s(&["int80", "264", "0", &t32])),
        ("int 0x80 clock_settime64", s(&["int80", "404", "0", &t64])),
        ("int 0x80 stime", s(&["int80", "25", &format!("h:{}", hex(&(APRIL_2012 as i32).to_le_bytes()))])),
        ("int 0x80 settimeofday", s(&["int80", "79", &t32, "0"])),
        ("int 0x80 adjtimex ADJ_SETOFFSET", s(&["int80", "124", &timex32(setoffset)])),
        ("int 0x80 clock_adjtime ADJ_SETOFFSET", s(&["int80", "343", "0", &timex32(setoffset)])),
        ("int 0x80 clock_adjtime64 ADJ_SETOFFSET", s(&["int80", "405", "0", &timex64(setoffset)])),
        ("x32 clock_settime", s(&["x32", "227", "0", &t64])),
        ("x32 settimeofday", s(&["x32", "164", &t64, "0"])),
        ("x32 adjtimex ADJ_SETOFFSET", s(&["x32", "159", &timex64(setoffset)])),
        ("x32 clock_adjtime ADJ_SETOFFSET", s(&["x32", "305", "0", &timex64(setoffset)])),
        // Reading the state (modes 0) is a read, done for real.
        ("adjtimex modes 0 (a read)", s(&["native", "159", "z:208"])),
    ]
}

fn attacks(want: impl Fn(&str) -> &'static str) -> Vec<Attack> {
    calls()
        .into_iter()
        .map(|(name, args)| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            helper(name, &args, want(name))
        })
        .collect()
}

/// The table's prefix: without CAP_SYS_TIME (`setpriv`, with root), then `rest`.
fn prefix(rest: &[String]) -> Vec<String> {
    let drop: Vec<String> = without_sys_time().iter().map(|s| s.to_string()).collect();
    if drop.is_empty() {
        if rest.is_empty() {
            // Without root there is no capability to drop, and no wrapper needed: `env` runs the command as it is.
            return vec!["env".into()];
        }
        return rest.to_vec();
    }
    [vec!["setpriv".to_string()], drop, rest.to_vec()].concat()
}

#[test]
fn every_clock_set_is_emulated_on_every_entry_point_and_the_clock_never_moves() {
    let before = clock();
    let (_dir, root) = temp();
    let policy = policy_file("clock-emulate.json");
    let sup = vec![supervise().display().to_string(), "--policy".into(), policy.display().to_string(), "--".into()];
    let table = Table { prefix: prefix(&sup), dir: &root, setup: "", watch: None, vars: Vec::new() };
    let verdicts = table.run(&attacks(|_| "ok"));
    assert_all_held("clock-emulate", &verdicts);
    assert_clock_untouched(before);
}

/// The same calls without supervise fail: the capability really is dropped (x32 calls are ENOSYS on kernels
/// without the x32 ABI), and a read stays a read.
#[test]
fn without_supervise_the_same_calls_fail_with_eperm() {
    let before = clock();
    let (_dir, root) = temp();
    let table = Table { prefix: prefix(&[]), dir: &root, setup: "", watch: None, vars: Vec::new() };
    let verdicts = table.run(&attacks(|name| {
        if name.starts_with("adjtimex modes 0") {
            "ok"
        } else if name.starts_with("x32") {
            "EPERM|ENOSYS"
        } else {
            "EPERM"
        }
    }));
    assert_all_held("clock-emulate baseline", &verdicts);
    assert_clock_untouched(before);
}
