//! The confused deputy, attacked from the program's side (including the attacks of a review that broke an earlier version):
//! path emulation runs on a thread of supervise, which the kernel would let into supervise's own `/proc/<pid>`;
//! nothing the program can name may lead it there, and nothing the program does may stall it for everyone.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::{needs_root, run_with, supervise, temp_dir, without_sys_time};

fn allow_all() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/fixtures/paths-allow-all.json")
}

/// Runs `python3 -c script` under the allow-all path policy, as root without CAP_SYS_PTRACE (as in Docker's
/// default set) when `no_ptrace`, in `dir`.
fn under_supervise(dir: &Path, wrap: &[&str], script: &str) -> crate::support::Output {
    let mut cmd = Command::new("setpriv");
    cmd.current_dir(dir).args(without_sys_time()).arg(supervise()).arg("--policy").arg(allow_all()).arg("--");
    cmd.args(wrap).args(["python3", "-c", script]);
    run_with(cmd, b"", Duration::from_secs(60))
}

/// A magic link as the last component, to an O_PATH fd the program got without a notified call (open_tree):
/// supervise's own `/proc/<pid>/mem` and `maps` must not open, though the acting thread is supervise's.
#[test]
fn a_magic_link_never_leads_the_deputy_into_its_own_proc() {
    if !needs_root("a root program without CAP_SYS_PTRACE") {
        return;
    }
    let dir = temp_dir();
    let script = r#"
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
sup = os.getppid()
for what in ["mem", "maps", "environ", "status", "fd", "task", "cwd", "root"]:
    fd = libc.syscall(428, -100, f"/proc/{sup}/{what}".encode(), 0x80000)  # open_tree: an O_PATH fd
    if fd < 0:
        print(what, "no O_PATH", errno.errorcode[ctypes.get_errno()])
        continue
    for flags in [os.O_RDONLY, os.O_RDWR, os.O_RDONLY | os.O_DIRECTORY]:
        try:
            os.close(os.open(f"/proc/self/fd/{fd}", flags))
            print("OPENED", what, flags)
        except OSError as e:
            pass
print("done")
"#;
    let drop_ptrace = ["setpriv", "--inh-caps=-sys_ptrace", "--bounding-set=-sys_ptrace"];
    let out = under_supervise(dir.path(), &drop_ptrace, script);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("done") && !out.stdout.contains("OPENED"), "{}", out.stdout);
}

/// A program with more supplementary groups than fit in 8 KiB of `/proc/PID/status` is still served.
#[test]
fn a_program_with_many_groups_is_served() {
    if !needs_root("setgroups") {
        return;
    }
    let dir = temp_dir();
    let groups: Vec<String> = (100_000..101_500).map(|g| g.to_string()).collect();
    let groups = groups.join(",");
    let script = "import os; os.mkdir('made'); os.close(os.open('made/f', os.O_CREAT | os.O_WRONLY)); print('ok')";
    let out = under_supervise(dir.path(), &["setpriv", "--groups", &groups], script);
    assert_eq!((out.code, out.stdout.as_str()), (Some(0), "ok\n"), "{}", out.stderr);
}

/// truncate(2) of a file under a lease waits for the lease to be broken (45 s by default): a program must not be
/// able to stall every other notified call that way.
#[test]
fn a_truncate_waiting_on_a_lease_stalls_nothing_else() {
    let dir = temp_dir();
    let script = r#"
import fcntl, os, signal, threading, time
signal.signal(signal.SIGIO, signal.SIG_IGN)
open("f", "w").write("x" * 100)
fd = os.open("f", os.O_RDONLY)
fcntl.fcntl(fd, 1024, fcntl.F_RDLCK)  # F_SETLEASE
threading.Thread(target=lambda: os.truncate("f", 0), daemon=True).start()
time.sleep(0.5)
t = time.time()
pid = os.fork()
if pid == 0:
    os.mkdir("m")
    os._exit(0)
os.waitpid(pid, 0)
print("slow" if time.time() - t > 5 else "fast")
os._exit(0)
"#;
    let out = under_supervise(dir.path(), &[], script);
    assert_eq!(out.stdout, "fast\n", "{}", out.stderr);
}
