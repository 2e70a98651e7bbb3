//! `check`'s look at what can take packets past a policy's address rules: for a policy with address rules
//! (`addresses`, `families`, `socketTypes`), one warning (`address-bypass`) listing what its compiled filter lets
//! through of the socket options that reroute (an IPv4 source route, an IPv6 routing header or next hop, an
//! outgoing interface), `AF_PACKET` and raw IP sockets, and `io_uring_setup` (docs/security.md). The answer is the
//! filter's own, run through [`agent::filter::eval`] for the native architecture.

use agent::filter::eval::eval;
use agent::filter::Insn;
use proto::{Arch, Policy};

use crate::kernel::syscalls;
use crate::modes::check::lint::{Finding, Severity};
use crate::modes::verdict::audit_arch;

/// `setsockopt(level, name)` pairs that change where a socket's packets go.
const REROUTING: [(u64, u64, &str); 9] = [
    (0, 4, "IP_OPTIONS"),
    (0, 50, "IP_UNICAST_IF"),
    (41, 57, "IPV6_RTHDR"),
    (41, 5, "IPV6_2292RTHDR"),
    (41, 9, "IPV6_NEXTHOP"),
    (41, 50, "IPV6_PKTINFO"),
    (41, 76, "IPV6_UNICAST_IF"),
    (1, 25, "SO_BINDTODEVICE"),
    (1, 62, "SO_BINDTOIFINDEX"),
];

/// `socket(domain, type, 0)` calls that write past addresses: AF_PACKET, raw IPv4 and IPv6.
const RAW: [(u64, u64, &str); 3] =
    [(17, 2, "socket(AF_PACKET)"), (2, 3, "socket(AF_INET, SOCK_RAW)"), (10, 3, "socket(AF_INET6, SOCK_RAW)")];

/// The warning, if the policy has address rules and its filter `bpf` lets any of these through.
pub fn lint(policy: &Policy, bpf: &[Insn]) -> Vec<Finding> {
    let Some(first) = policy.rules.iter().find(|r| !r.matchers.net.is_empty()) else { return Vec::new() };
    let arch = Arch::native();
    let Some(audit) = audit_arch(arch) else { return Vec::new() };
    let passes = |name: &str, args: [u64; 6]| {
        let Some(nr) = syscalls::number_of(name, arch) else { return false };
        // Anything but a refusal in the kernel (ERRNO, KILL, TRAP) lets the call be made; NOTIFY is decided by a
        // rule, which this pass does not follow.
        eval(bpf, audit, nr, &args).is_some_and(|ret| {
            let action = ret & libc::SECCOMP_RET_ACTION_FULL;
            action != libc::SECCOMP_RET_ERRNO
                && action != libc::SECCOMP_RET_KILL_PROCESS
                && action != libc::SECCOMP_RET_KILL_THREAD
                && action != libc::SECCOMP_RET_TRAP
        })
    };
    let mut open: Vec<&str> = REROUTING
        .iter()
        .filter(|&&(level, opt, _)| passes("setsockopt", [3, level, opt, 0, 0, 0]))
        .map(|&(_, _, name)| name)
        .collect();
    open.extend(RAW.iter().filter(|&&(domain, ty, _)| passes("socket", [domain, ty, 0, 0, 0, 0])).map(|&(_, _, n)| n));
    if passes("io_uring_setup", [1, 0, 0, 0, 0, 0]) {
        open.push("io_uring_setup");
    }
    if open.is_empty() {
        return Vec::new();
    }
    vec![Finding {
        severity: Severity::Warning,
        code: "address-bypass",
        rule: Some(first.index),
        place: format!("syscalls[{}]", first.index),
        message: format!(
            "address rules, but the filter lets through what takes packets past them: {} (refuse them as \
             policies/net-loopback-only.json does; see docs/security.md)",
            open.join(", ")
        ),
        suggestion: None,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Vec<Finding> {
        let policy = proto::profile::load(text, &crate::modes::policy_file::this_machine()).expect("loads");
        let compiled = agent::filter::compile(&policy).expect("compiles");
        lint(&policy, compiled.bpf.insns())
    }

    #[test]
    fn address_rules_without_the_refusals_are_warned_about() {
        let open = check(
            r#"{ "defaultAction": "SCMP_ACT_ALLOW", "syscalls": [ { "names": ["connect"], "action": "SCMP_ACT_NOTIFY",
                 "supervise": { "decision": "allow", "addresses": ["127.0.0.0/8"] } } ] }"#,
        );
        assert_eq!(open.len(), 1, "{open:?}");
        for what in ["IP_OPTIONS", "IPV6_RTHDR", "SO_BINDTODEVICE", "socket(AF_PACKET)", "io_uring_setup"] {
            assert!(open[0].message.contains(what), "{what}: {}", open[0].message);
        }
        assert_eq!(open[0].code, "address-bypass");
    }

    #[test]
    fn the_shipped_network_policies_and_policies_without_address_rules_are_not() {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for name in ["net-loopback-only", "net-ask-outside-lan", "net-git-curl-443"] {
            let text = std::fs::read_to_string(repo.join(format!("policies/{name}.json"))).unwrap();
            assert_eq!(check(&text), vec![], "{name}");
        }
        let plain = r#"{ "defaultAction": "SCMP_ACT_ALLOW", "syscalls": [ { "names": ["connect"],
            "action": "SCMP_ACT_NOTIFY", "supervise": { "decision": "allow", "exe": ["/usr/bin/curl"] } } ] }"#;
        assert_eq!(check(plain), vec![], "no address rule, nothing to bypass");
    }
}
