//! The measurements. Each group builds its cases and runs them **interleaved** (repeat 1 of every case, then
//! repeat 2, …), so that drift on this shared VM hits every case of a ratio alike. Every run checks what the
//! target saw (the return value and errno of its calls), so a figure is never the cost of the wrong path.

use std::cell::RefCell;
use std::ffi::{CString, OsStr};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agent::filter::Bpf;
use agent::launch::{self, LaunchOptions, Program};
use nix::sys::wait::{waitpid, WaitStatus};

use crate::floor::{self, Answer, ListenerOptions, Serve};
use crate::report::{Row, Unit};
use crate::run::{output, Exec, Fields, Watchdog};
use crate::stats::Stat;
use crate::Ctx;

/// What a run must have seen, from the target's `ret` and `errno` of its first timed call.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Success with a positive value (getppid).
    Positive,
    /// Success with a non-negative value (an fd).
    NonNegative,
    /// Exactly this value (strace's injected return, the emulated clock set's 0).
    Value(i64),
    /// -1 with this errno.
    Errno(i32),
}

fn check(fields: &Fields, expect: Expect) -> io::Result<()> {
    let ret = fields.num("ret")? as i64;
    let errno = fields.get("errno").and_then(|e| e.parse::<i32>().ok()).unwrap_or(0);
    let ok = match expect {
        Expect::Positive => ret > 0,
        Expect::NonNegative => ret >= 0,
        Expect::Value(v) => ret == v,
        Expect::Errno(e) => ret == -1 && errno == e,
    };
    if ok {
        Ok(())
    } else {
        Err(io::Error::other(format!("the target saw ret {ret} errno {errno}, expected {expect:?}")))
    }
}

/// One measured case: a key for the report, a label, and a closure that returns one sample.
pub struct Case<'a> {
    pub key: &'static str,
    pub label: String,
    pub unit: Unit,
    pub run: Box<dyn FnMut() -> io::Result<f64> + 'a>,
}

impl<'a> Case<'a> {
    fn new(key: &'static str, label: &str, unit: Unit, run: impl FnMut() -> io::Result<f64> + 'a) -> Case<'a> {
        Case { key, label: label.to_string(), unit, run: Box::new(run) }
    }
}

/// Runs the cases interleaved, `repeats` times; a case that fails once is reported with its error and not
/// run again.
pub fn measure(group: &'static str, mut cases: Vec<Case<'_>>, repeats: usize) -> Vec<Row> {
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    let mut errors: Vec<Option<String>> = vec![None; cases.len()];
    for r in 0..repeats {
        eprint!("\r  {group}: repeat {}/{repeats}   ", r + 1);
        let _ = io::stderr().flush();
        for (i, case) in cases.iter_mut().enumerate() {
            if errors[i].is_some() {
                continue;
            }
            match (case.run)() {
                Ok(v) => samples[i].push(v),
                Err(e) => {
                    eprintln!("\n  {}: {e}", case.label);
                    errors[i] = Some(e.to_string());
                }
            }
        }
    }
    eprintln!();
    cases
        .iter()
        .zip(samples)
        .zip(errors)
        .map(|((case, s), error)| Row {
            group,
            key: case.key,
            label: case.label.clone(),
            unit: case.unit,
            stat: if error.is_some() { None } else { Stat::of(&s) },
            note: error.map(|e| format!("failed: {e}")).unwrap_or_default(),
        })
        .collect()
}

impl Ctx {
    fn target_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.target);
        cmd.args(args);
        cmd
    }

    /// `supervise --policy POLICY -- target ARGS`, optionally pinned to one CPU (as `taskset -c CPU` would) and
    /// optionally without CAP_SYS_TIME (setpriv), with a private filter cache.
    fn supervise_cmd(&self, policy: &Path, args: &[&str], pin: Option<usize>, drop_sys_time: bool) -> Command {
        let mut cmd = if drop_sys_time {
            let mut c = Command::new(self.setpriv.as_deref().unwrap_or(Path::new("setpriv")));
            c.args(["--inh-caps=-sys_time", "--bounding-set=-sys_time"]).arg(&self.supervise);
            c
        } else {
            Command::new(&self.supervise)
        };
        cmd.arg("--policy").arg(policy).arg("--").arg(&self.target).args(args);
        cmd.env("XDG_CACHE_HOME", self.tmp.join("warm"));
        if let Some(cpu) = pin {
            pin_command(&mut cmd, cpu);
        }
        cmd
    }

    fn timed(&self, cmd: &mut Command, expect: Expect, key: &str) -> io::Result<f64> {
        let fields = Fields::parse(&output(cmd, self.cfg.timeout)?.ok("the target")?);
        check(&fields, expect)?;
        fields.num(key)
    }

    fn floor_timed(&self, bpf: &Bpf, options: floor::Options, args: &[&str], expect: Expect) -> io::Result<f64> {
        self.floor_field(bpf, options, args, expect, "ns_per_call")
    }

    fn floor_field(
        &self,
        bpf: &Bpf,
        options: floor::Options,
        args: &[&str],
        expect: Expect,
        key: &str,
    ) -> io::Result<f64> {
        let argv: Vec<CString> = std::iter::once(self.target.as_os_str())
            .chain(args.iter().map(OsStr::new))
            .map(|a| CString::new(a.as_encoded_bytes()).expect("no NUL"))
            .collect();
        let finished = floor::run(bpf, options, &argv, self.cfg.timeout)?;
        let fields = Fields::parse(&finished.stdout);
        check(&fields, expect)?;
        if options.listener.is_some() && finished.served == 0 {
            return Err(io::Error::other("the floor answered no notification"));
        }
        fields.num(key)
    }

    fn policy(&self, name: &str) -> PathBuf {
        self.tmp.join(name)
    }
}

fn pin_command(cmd: &mut Command, cpu: usize) {
    // SAFETY: the closure runs between fork and exec and only calls sched_setaffinity(2) on a stack cpu_set_t,
    // which is async-signal-safe; the CPU affinity is inherited across execve and by supervise's children.
    unsafe {
        cmd.pre_exec(move || {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        })
    };
}

fn listener(serve: Serve, answer: Answer, sync_wakeup: bool) -> Option<ListenerOptions> {
    Some(ListenerOptions { serve, answer, sync_wakeup, servers: 1 })
}

/// Notified getppid: plain, the raw floor in its variants, supervise (allow, deny), the emulated clock set, strace.
pub fn notify(ctx: &Ctx) -> Vec<Row> {
    let n = ctx.cfg.calls.to_string();
    let getppid = ["getppid", n.as_str()];
    let clock = ["clock_settime", n.as_str()];
    let bpf = &ctx.floor_bpf;
    let cont = Answer::Continue;
    let eperm = Answer::Errno(libc::EPERM);
    let floor = |listener, pin| floor::Options { listener, pin };
    let mut cases = vec![
        Case::new("plain", "getppid, no filter", Unit::Ns, || {
            ctx.timed(&mut ctx.target_cmd(&getppid), Expect::Positive, "ns_per_call")
        }),
        Case::new("floor.continue", "raw floor: CONTINUE, blocking RECV, SYNC_WAKE_UP", Unit::Ns, move || {
            ctx.floor_timed(bpf, floor(listener(Serve::Blocking, cont, true), None), &getppid, Expect::Positive)
        }),
        Case::new("floor.continue.pinned", "raw floor: CONTINUE, blocking RECV, both on CPU 0", Unit::Ns, move || {
            ctx.floor_timed(bpf, floor(listener(Serve::Blocking, cont, true), Some(0)), &getppid, Expect::Positive)
        }),
        Case::new("floor.errno", "raw floor: EPERM, blocking RECV, SYNC_WAKE_UP", Unit::Ns, move || {
            let opts = floor(listener(Serve::Blocking, eperm, true), None);
            ctx.floor_timed(bpf, opts, &getppid, Expect::Errno(libc::EPERM))
        }),
        Case::new("floor.errno.pinned", "raw floor: EPERM, blocking RECV, both on CPU 0", Unit::Ns, move || {
            let opts = floor(listener(Serve::Blocking, eperm, true), Some(0));
            ctx.floor_timed(bpf, opts, &getppid, Expect::Errno(libc::EPERM))
        }),
        Case::new("floor.emulate", "raw floor: emulated (read 16 B + ID_VALID + value)", Unit::Ns, move || {
            let opts = floor(listener(Serve::Blocking, Answer::ReadValue(42), true), None);
            ctx.floor_timed(bpf, opts, &getppid, Expect::Value(42))
        }),
        Case::new("floor.epoll", "raw floor: CONTINUE, epoll + poll(0) + RECV (AsyncFd shape)", Unit::Ns, move || {
            ctx.floor_timed(bpf, floor(listener(Serve::Epoll, cont, true), None), &getppid, Expect::Positive)
        }),
        Case::new("floor.epoll.pinned", "raw floor: CONTINUE, epoll + poll(0), both on CPU 0", Unit::Ns, move || {
            ctx.floor_timed(bpf, floor(listener(Serve::Epoll, cont, true), Some(0)), &getppid, Expect::Positive)
        }),
        Case::new("floor.nosync", "raw floor: CONTINUE, blocking RECV, no SYNC_WAKE_UP", Unit::Ns, move || {
            ctx.floor_timed(bpf, floor(listener(Serve::Blocking, cont, false), None), &getppid, Expect::Positive)
        }),
        Case::new("sup.allow", "supervise: decision allow (CONTINUE)", Unit::Ns, || {
            let mut cmd = ctx.supervise_cmd(&ctx.policy("allow.json"), &getppid, None, false);
            ctx.timed(&mut cmd, Expect::Positive, "ns_per_call")
        }),
        Case::new("sup.allow.pinned", "supervise: decision allow, pinned to CPU 0", Unit::Ns, || {
            let mut cmd = ctx.supervise_cmd(&ctx.policy("allow.json"), &getppid, Some(0), false);
            ctx.timed(&mut cmd, Expect::Positive, "ns_per_call")
        }),
        Case::new("sup.deny", "supervise: decision deny (EPERM)", Unit::Ns, || {
            let mut cmd = ctx.supervise_cmd(&ctx.policy("deny.json"), &getppid, None, false);
            ctx.timed(&mut cmd, Expect::Errno(libc::EPERM), "ns_per_call")
        }),
        Case::new("sup.deny.pinned", "supervise: decision deny, pinned to CPU 0", Unit::Ns, || {
            let mut cmd = ctx.supervise_cmd(&ctx.policy("deny.json"), &getppid, Some(0), false);
            ctx.timed(&mut cmd, Expect::Errno(libc::EPERM), "ns_per_call")
        }),
    ];
    if ctx.can_set_clock_safely() {
        let clock_policy = ctx.repo.join("policies/clock-emulate.json");
        let policy = clock_policy.clone();
        cases.push(Case::new(
            "sup.emulate",
            "supervise: clock_settime emulated (no CAP_SYS_TIME)",
            Unit::Ns,
            move || {
                let mut cmd = ctx.supervise_cmd(&policy, &clock, None, true);
                ctx.timed(&mut cmd, Expect::Value(0), "ns_per_call")
            },
        ));
        cases.push(Case::new("sup.emulate.pinned", "supervise: clock_settime emulated, pinned", Unit::Ns, move || {
            let mut cmd = ctx.supervise_cmd(&clock_policy, &clock, Some(0), true);
            ctx.timed(&mut cmd, Expect::Value(0), "ns_per_call")
        }));
    }
    if let Some(strace) = &ctx.strace {
        cases.push(Case::new("strace", "strace -f -o /dev/null --inject=getppid:retval=42", Unit::Ns, move || {
            let mut cmd = Command::new(strace);
            cmd.args(["-f", "-o", "/dev/null", "--inject=getppid:retval=42"]).arg(&ctx.target).args(getppid);
            ctx.timed(&mut cmd, Expect::Value(42), "ns_per_call")
        }));
    }
    let before = clock_offset();
    let rows = measure("notified getppid", cases, ctx.cfg.repeats);
    let moved = (clock_offset() - before).abs();
    assert!(moved < 0.5, "the host clock moved by {moved:.3} s during the run: stop and investigate");
    rows
}

/// CLOCK_REALTIME − CLOCK_MONOTONIC, in seconds: changes only if someone sets the clock.
fn clock_offset() -> f64 {
    let read = |clock| {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime(2) writes one timespec into `ts`, which lives for the call.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
    };
    read(libc::CLOCK_REALTIME) - read(libc::CLOCK_MONOTONIC)
}

/// A getppid loop that the Docker default profile allows in BPF: no filter, the filter loaded raw, supervise.
pub fn bpf(ctx: &Ctx) -> Vec<Row> {
    let n = ctx.cfg.bpf_calls.to_string();
    let args = ["getppid", n.as_str()];
    let docker = ctx.repo.join("policies/docker-default.json");
    // CPU time per call: nothing here blocks, and CPU time is not inflated when another process preempts the loop
    // (on this shared VM that noise is larger than the filter's cost).
    let cpu = "cpu_ns_per_call";
    let cases = vec![
        Case::new("bpf.none", "getppid, no filter (CPU time per call)", Unit::Ns, || {
            ctx.timed(&mut ctx.target_cmd(&args), Expect::Positive, cpu)
        }),
        Case::new("bpf.raw", "getppid, Docker default loaded raw (seccomp(2))", Unit::Ns, || {
            let options = floor::Options { listener: None, pin: None };
            ctx.floor_field(&ctx.docker_bpf, options, &args, Expect::Positive, cpu)
        }),
        Case::new("bpf.sup", "getppid, supervise --policy docker-default.json", Unit::Ns, || {
            ctx.timed(&mut ctx.supervise_cmd(&docker, &args, None, false), Expect::Positive, cpu)
        }),
    ];
    let mut rows = measure("BPF-allowed getppid", cases, ctx.cfg.bpf_repeats);
    if let Some(row) = rows.iter_mut().find(|r| r.key == "bpf.raw" && r.stat.is_some()) {
        row.note = if ctx.docker_same {
            format!("the program in supervise's cache ({} instructions)", ctx.docker_bpf.len())
        } else {
            "differs from the program in supervise's cache: the ratio compares different filters".into()
        };
    }
    rows
}

/// openat + close of one file: plain, and under supervise with a path rule (emulated open + ADDFD).
pub fn openat(ctx: &Ctx) -> Vec<Row> {
    let n = ctx.cfg.calls.to_string();
    let file = ctx.tmp.join("files/f");
    let path = file.to_str().expect("UTF-8 temp path");
    let args = ["openat", n.as_str(), path];
    let cases = vec![
        Case::new("open.plain", "openat + close, no filter", Unit::Ns, || {
            ctx.timed(&mut ctx.target_cmd(&args), Expect::NonNegative, "ns_per_call")
        }),
        Case::new(
            "open.floor",
            "raw floor: emulated openat (read path + ID_VALID + open + ADDFD|SEND)",
            Unit::Ns,
            || {
                let answer = Answer::OpenAddfd { atomic: true };
                let opts = floor::Options { listener: listener(Serve::Blocking, answer, true), pin: None };
                ctx.floor_timed(&ctx.floor_open_bpf, opts, &args, Expect::NonNegative)
            },
        ),
        Case::new("open.floor.split", "raw floor: emulated openat, ADDFD then SEND (not atomic)", Unit::Ns, || {
            let answer = Answer::OpenAddfd { atomic: false };
            let opts = floor::Options { listener: listener(Serve::Blocking, answer, true), pin: None };
            ctx.floor_timed(&ctx.floor_open_bpf, opts, &args, Expect::NonNegative)
        }),
        Case::new("open.sup", "openat + close, supervise path rule (emulated open + ADDFD)", Unit::Ns, || {
            let mut cmd = ctx.supervise_cmd(&ctx.policy("openat-path.json"), &args, None, false);
            ctx.timed(&mut cmd, Expect::NonNegative, "ns_per_call")
        }),
    ];
    measure("path-checked openat", cases, ctx.cfg.repeats)
}

/// A loopback TCP connect (+ close with a reset): plain, under the raw floor (connect notified, CONTINUE), and
/// under supervise with an address rule that allows 127.0.0.0/8 (supervise performs the connect on the target's
/// socket, as the target). Each run connects 1,000 times to a listener of its own that never accepts (its queue
/// holds 4,096). An accepting listener made loopback connects erratic here, from 25 µs to seconds (dropped SYNs
/// and their retransmits), and so did a queue drained every millisecond.
pub fn connect(ctx: &Ctx) -> Vec<Row> {
    let n = ctx.cfg.calls.min(1000).to_string();
    let run = |cmd: &dyn Fn(&[&str]) -> io::Result<f64>| -> io::Result<f64> {
        let (_listener, port) = loopback_listener()?;
        let port = port.to_string();
        cmd(&["connect", n.as_str(), port.as_str()])
    };
    let cases = vec![
        Case::new("connect.plain", "connect + close, no filter", Unit::Ns, || {
            run(&|args| ctx.timed(&mut ctx.target_cmd(args), Expect::NonNegative, "ns_per_call"))
        }),
        Case::new("connect.floor", "raw floor: connect notified, CONTINUE", Unit::Ns, || {
            run(&|args| {
                let opts = floor::Options { listener: listener(Serve::Blocking, Answer::Continue, true), pin: None };
                ctx.floor_timed(&ctx.floor_connect_bpf, opts, args, Expect::NonNegative)
            })
        }),
        Case::new("connect.sup", "connect + close, supervise address rule (performed by supervise)", Unit::Ns, || {
            run(&|args| {
                let mut cmd = ctx.supervise_cmd(&ctx.policy("connect-address.json"), args, None, false);
                ctx.timed(&mut cmd, Expect::NonNegative, "ns_per_call")
            })
        }),
    ];
    measure("notified connect", cases, ctx.cfg.repeats)
}

/// A TCP listener on 127.0.0.1 with a queue of 4,096 (the kernel's `somaxconn` caps it), and its port.
fn loopback_listener() -> io::Result<(std::net::TcpListener, u16)> {
    use nix::sys::socket::{listen, Backlog};
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    // listen(2) again on a listening socket sets its queue length (std's bind chose 128).
    listen(&listener, Backlog::new(4096).unwrap_or(Backlog::MAXCONN))?;
    let port = listener.local_addr()?.port();
    Ok((listener, port))
}

/// Wall time of `/bin/true`: bare fork + exec, and under supervise with Docker's default (cold and warm cache).
pub fn startup(ctx: &Ctx) -> io::Result<Vec<Row>> {
    let null = std::fs::File::options().read(true).write(true).open("/dev/null")?;
    let fd = std::os::fd::AsFd::as_fd(&null);
    let truth = OsStr::new("/bin/true");
    let docker = ctx.repo.join("policies/docker-default.json");
    let sup = |cache: &Path| {
        let argv = [ctx.supervise.as_os_str(), OsStr::new("--policy"), docker.as_os_str(), OsStr::new("--"), truth];
        Exec::new(&argv, &[("XDG_CACHE_HOME", cache.as_os_str())])
    };
    let bare = Exec::new(&[truth], &[]);
    let version = Exec::new(&[ctx.supervise.as_os_str(), OsStr::new("--version")], &[]);
    let program = Program::resolve(truth, &[]).map_err(|e| io::Error::other(e.to_string()))?;
    let warm = sup(&ctx.tmp.join("warm"));
    let mut cold = sup(&ctx.tmp.join("cold"));
    let mut run = 0;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let cpu = RefCell::new(Vec::<(&'static str, f64)>::new());
    let timed = |key: &'static str, exec: &Exec| -> io::Result<f64> {
        let (wall, used) = exec.time(fd)?;
        cpu.borrow_mut().push((key, ms(used)));
        Ok(ms(wall))
    };
    let true_argv = [CString::new("/bin/true").expect("no NUL")];
    let cases = vec![
        Case::new("start.bare", "fork + exec /bin/true", Unit::Ms, || timed("start.bare", &bare)),
        Case::new("start.version", "fork + exec supervise --version (binary start-up)", Unit::Ms, || {
            timed("start.version", &version)
        }),
        Case::new("start.raw", "fork + seccomp(Docker default, raw) + exec /bin/true, no helper", Unit::Ms, || {
            let start = Instant::now();
            floor::run(&ctx.docker_bpf, floor::Options { listener: None, pin: None }, &true_argv, ctx.cfg.timeout)?;
            Ok(ms(start.elapsed()))
        }),
        Case::new("start.agent", "agent::launch::spawn /bin/true, Docker default, + waitpid", Unit::Ms, || {
            // This process has no other thread here, as agent::launch::spawn requires.
            let start = Instant::now();
            let launched =
                launch::spawn(&program, &ctx.docker_bpf, LaunchOptions { listener: false, ..Default::default() })
                    .map_err(|e| io::Error::other(e.to_string()))?;
            let status = waitpid(launched.pid, None).map_err(io::Error::from)?;
            if status != WaitStatus::Exited(launched.pid, 0) {
                return Err(io::Error::other(format!("/bin/true under the launcher: {status:?}")));
            }
            Ok(ms(start.elapsed()))
        }),
        Case::new("start.warm", "supervise docker-default -- /bin/true, warm cache", Unit::Ms, || {
            timed("start.warm", &warm)
        }),
        Case::new("start.cold", "supervise docker-default -- /bin/true, empty cache", Unit::Ms, move || {
            run += 1;
            let dir = ctx.tmp.join(format!("cold/{run}"));
            std::fs::create_dir_all(&dir)?;
            cold.set_env("XDG_CACHE_HOME", dir.as_os_str());
            Ok(ms(cold.time(fd)?.0))
        }),
    ];
    let mut rows = measure("start-up", cases, ctx.cfg.startup_runs);
    let cpu = cpu.into_inner();
    for (key, label) in [
        ("start.bare.cpu", "CPU time (user + sys, with children): fork + exec /bin/true"),
        ("start.version.cpu", "CPU time: supervise --version"),
        ("start.warm.cpu", "CPU time: supervise docker-default -- /bin/true, warm"),
    ] {
        let of = key.trim_end_matches(".cpu");
        let samples: Vec<f64> = cpu.iter().filter(|(k, _)| *k == of).map(|&(_, v)| v).collect();
        rows.push(Row {
            group: "start-up",
            key,
            label: label.into(),
            unit: Unit::Ms,
            stat: Stat::of(&samples),
            note: String::new(),
        });
    }
    Ok(rows)
}

/// One and eight threads doing notified getppid for a fixed window, under supervise and under the raw floor.
pub fn threads(ctx: &Ctx) -> Vec<Row> {
    let window = ctx.cfg.thread_window_ms.to_string();
    let one = ["threads", "1", window.as_str()];
    let eight = ["threads", "8", window.as_str()];
    let policy = ctx.policy("allow.json");
    let floor = floor::Options { listener: listener(Serve::Blocking, Answer::Continue, true), pin: None };
    let mut two = floor;
    two.listener =
        Some(ListenerOptions { servers: 2, ..listener(Serve::Blocking, Answer::Continue, true).expect("some") });
    let throughput = |f: &Fields| Ok(f.num("calls")? / f.num("elapsed_ns")? * 1e9);
    let fairness = RefCell::new(Vec::<(u64, u64, f64)>::new());
    let run_sup = |args: &[&str]| -> io::Result<Fields> {
        let f =
            Fields::parse(&output(&mut ctx.supervise_cmd(&policy, args, None, false), ctx.cfg.timeout)?.ok("threads")?);
        check(&f, Expect::Positive)?;
        Ok(f)
    };
    let run_floor = |floor: floor::Options, args: &[&str]| -> io::Result<Fields> {
        let argv: Vec<CString> = std::iter::once(ctx.target.as_os_str())
            .chain(args.iter().map(OsStr::new))
            .map(|a| CString::new(a.as_encoded_bytes()).expect("no NUL"))
            .collect();
        let f = Fields::parse(&floor::run(&ctx.floor_bpf, floor, &argv, ctx.cfg.timeout)?.stdout);
        check(&f, Expect::Positive)?;
        Ok(f)
    };
    let cases = vec![
        Case::new("thr.sup.1", "supervise allow, 1 thread", Unit::PerSec, || throughput(&run_sup(&one)?)),
        Case::new("thr.sup.8", "supervise allow, 8 threads", Unit::PerSec, || {
            let f = run_sup(&eight)?;
            let counts: Vec<u64> =
                f.get("per_thread").unwrap_or("").split(',').filter_map(|c| c.parse().ok()).collect();
            let (min, max) = (counts.iter().copied().min().unwrap_or(0), counts.iter().copied().max().unwrap_or(0));
            let mean = counts.iter().sum::<u64>() as f64 / counts.len().max(1) as f64;
            fairness.borrow_mut().push((min, max, mean));
            throughput(&f)
        }),
        Case::new("thr.floor.1", "raw floor, 1 thread", Unit::PerSec, || throughput(&run_floor(floor, &one)?)),
        Case::new("thr.floor.8", "raw floor, 8 threads", Unit::PerSec, || throughput(&run_floor(floor, &eight)?)),
        Case::new("thr.floor.8x2", "raw floor, 8 threads, 2 blocking RECV threads", Unit::PerSec, || {
            throughput(&run_floor(two, &eight)?)
        }),
    ];
    let mut rows = measure("threads", cases, ctx.cfg.thread_repeats);
    let fair = fairness.into_inner();
    let share: Vec<f64> = fair.iter().map(|&(min, _, mean)| min as f64 / mean.max(1.0)).collect();
    let worst = fair.iter().min_by(|a, b| (a.0 as f64 / a.2).total_cmp(&(b.0 as f64 / b.2)));
    rows.push(Row {
        group: "threads",
        key: "thr.sup.8.fair",
        label: "supervise, 8 threads: slowest thread's share of the mean".into(),
        unit: Unit::Ratio,
        stat: Stat::of(&share),
        note: worst.map(|(min, max, _)| format!("worst run: per-thread calls {min}..{max}")).unwrap_or_default(),
    });
    rows
}

/// Memory and fds of supervise: idle, then after each quarter of `rss_calls` notifications.
pub fn memory(ctx: &Ctx) -> io::Result<Vec<Row>> {
    const STEPS: u64 = 4;
    let total = ctx.cfg.rss_calls.to_string();
    let steps = STEPS.to_string();
    let mut cmd = ctx.supervise_cmd(&ctx.policy("allow.json"), &["phases", &total, &steps], None, false);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = cmd.spawn()?;
    let pid = child.id();
    let watchdog = Watchdog::arm(pid as i32, ctx.cfg.timeout * 4);
    let mut stdin = child.stdin.take().expect("piped");
    let stdout = BufReader::new(child.stdout.take().expect("piped"));
    let mut samples = Vec::new();
    eprint!("  memory: ");
    for line in stdout.lines() {
        let line = line?;
        if !line.starts_with("phase ") {
            continue;
        }
        samples.push((proc_kib(pid, "VmRSS:")?, fd_count(pid)?));
        eprint!("{line} ");
        let _ = io::stderr().flush();
        if stdin.write_all(b"\n").is_err() {
            break;
        }
    }
    drop(stdin);
    eprintln!();
    let status = child.wait()?;
    if watchdog.disarm() || !status.success() || samples.len() != STEPS as usize + 1 {
        return Err(io::Error::other(format!("the memory run failed ({status}, {} samples)", samples.len())));
    }
    let per_step = ctx.cfg.rss_calls / STEPS;
    let rss: Vec<String> = samples.iter().map(|(kib, _)| format!("{:.1}", *kib as f64 / 1024.0)).collect();
    let fds: Vec<String> = samples.iter().map(|(_, n)| n.to_string()).collect();
    let single = |v: f64| Stat { median: v, min: v, max: v, samples: 1 };
    let (idle, last) = (samples[0], samples[samples.len() - 1]);
    Ok(vec![
        Row {
            group: "memory",
            key: "rss.idle",
            label: "supervise VmRSS, idle (serving, after the first notification)".into(),
            unit: Unit::MiB,
            stat: Some(single(idle.0 as f64 / 1024.0)),
            note: String::new(),
        },
        Row {
            group: "memory",
            key: "rss.after",
            label: format!("supervise VmRSS after {} notifications", ctx.cfg.rss_calls),
            unit: Unit::MiB,
            stat: Some(single(last.0 as f64 / 1024.0)),
            note: format!("every {per_step}: {} MiB", rss.join(" → ")),
        },
        Row {
            group: "memory",
            key: "fds",
            label: "supervise open fds, idle → end".into(),
            unit: Unit::Count,
            stat: Some(Stat { median: last.1 as f64, min: idle.1 as f64, max: last.1 as f64, samples: 2 }),
            note: format!("every {per_step}: {}", fds.join(" → ")),
        },
    ])
}

fn proc_kib(pid: u32, key: &str) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| io::Error::other(format!("no {key} in /proc/{pid}/status")))
}

fn fd_count(pid: u32) -> io::Result<usize> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))?.count())
}
