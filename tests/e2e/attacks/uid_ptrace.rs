//! `policies/uid-ptrace.json`: only root may ptrace. The attacks run as uid 65534 (so they need root to switch),
//! against the program's own child, which the kernel alone would let it trace.

use std::path::Path;

use super::{assert_all_held, assert_gaps, cmd, helper, temp, Attack, Table, KILLED};
use crate::support::{needs_root, supervise, NOBODY};

/// A child of the program that sleeps, holding a known buffer at the same address as in the program.
const SETUP: &str = r#"
secret = ctypes.create_string_buffer(b'child secret')
child = os.fork()
if child == 0:
    time.sleep(30)
    os._exit(0)
import atexit
atexit.register(lambda: (os.kill(child, 9), os.waitpid(child, 0)))
class iovec(ctypes.Structure):
    _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]
def vm_read():
    buf = ctypes.create_string_buffer(12)
    local, remote = iovec(ctypes.addressof(buf), 12), iovec(ctypes.addressof(secret), 12)
    raw(310, child, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    expect(buf.raw, b'child secret')
def mem_read():
    with open('/proc/%d/mem' % child, 'rb') as f:
        f.seek(ctypes.addressof(secret))
        expect(f.read(12), b'child secret')
def getfd():
    pidfd = raw(434, child, 0)
    os.close(raw(438, pidfd, 1, 0))
"#;

/// `setpriv` to uid/gid 65534 with no groups, then `caps` (setpriv options), then supervise under the policy.
fn as_nobody(policy: &Path, caps: &[&str]) -> Vec<String> {
    let ids = [format!("--reuid={NOBODY}"), format!("--regid={NOBODY}"), "--clear-groups".into()];
    let sup = [supervise().display().to_string(), "--policy".into(), policy.display().to_string(), "--".into()];
    let caps = caps.iter().map(|c| c.to_string());
    ["setpriv".to_string()].into_iter().chain(ids).chain(caps).chain(sup).collect()
}

/// A copy of the policy and of the `attack` helper that uid 65534 can read (the checkout may be private).
fn readable_copies(root: &Path) -> (std::path::PathBuf, String) {
    use std::os::unix::fs::PermissionsExt;
    let policy = root.join("uid-ptrace.json");
    std::fs::copy(crate::support::policy_file("uid-ptrace.json"), &policy).unwrap();
    let exe = root.join("attack");
    std::fs::copy(super::attack(), &exe).unwrap();
    for p in [&policy, &exe] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    (policy, exe.display().to_string())
}

fn attacks() -> Vec<Attack> {
    vec![
        super::py("PTRACE_TRACEME", "raw(101, 0, 0, 0, 0)", "EPERM"),
        super::py("PTRACE_ATTACH to its own child", "raw(101, 16, child, 0, 0)", "EPERM"),
        super::py("PTRACE_SEIZE of its own child", "raw(101, 0x4206, child, 0, 0)", "EPERM"),
        cmd("strace", &["strace", "-o", "/dev/null", "true"], "exit 1"),
        helper("int 0x80 ptrace", &["int80", "26", "0", "0", "0", "0"], KILLED),
        helper("x32 ptrace", &["x32", "101", "0", "0", "0", "0"], KILLED),
    ]
}

#[test]
fn a_user_other_than_root_cannot_ptrace() {
    if !needs_root("uid-ptrace attacks as uid 65534") {
        return;
    }
    let (_dir, root) = temp();
    let (policy, exe) = readable_copies(&root);
    let vars = vec![("attack", exe)];
    let plain = Table { prefix: as_nobody(&policy, &[]), dir: &root, setup: SETUP, watch: None, vars };
    assert_all_held("uid-ptrace", &plain.run(&attacks()));
    // CAP_SYS_PTRACE does not make uid 65534 root: the rule is on the uid.
    let caps = ["--inh-caps=-all,+sys_ptrace", "--ambient-caps=-all,+sys_ptrace"];
    let with_cap = Table { prefix: as_nobody(&policy, &caps), ..plain };
    let verdicts = with_cap.run(&[
        super::py(
            "CAP_SYS_PTRACE held",
            "expect(int(open('/proc/self/status').read().split('CapEff:')[1].split()[0], 16) & (1 << 19) != 0, True)",
            "ok",
        ),
        super::py("PTRACE_ATTACH with CAP_SYS_PTRACE", "raw(101, 16, child, 0, 0)", "EPERM"),
    ]);
    assert_all_held("uid-ptrace with CAP_SYS_PTRACE", &verdicts);
}

/// Not covered, as the comment says: the other ways to another process's memory that the kernel allows under the
/// same rules as ptrace (its own child, the same uid).
#[test]
fn other_ways_into_a_process_are_not_covered() {
    if !needs_root("uid-ptrace attacks as uid 65534") {
        return;
    }
    let (_dir, root) = temp();
    let (policy, exe) = readable_copies(&root);
    let table =
        Table { prefix: as_nobody(&policy, &[]), dir: &root, setup: SETUP, watch: None, vars: vec![("attack", exe)] };
    let verdicts = table.run(&[
        super::py("process_vm_readv of its child", "vm_read()", "ok"),
        super::py("/proc/PID/mem of its child", "mem_read()", "ok"),
        super::py("pidfd_getfd of its child's fd", "getfd()", "ok"),
    ]);
    assert_gaps("uid-ptrace", &verdicts, false);
}
