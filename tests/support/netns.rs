//! Network namespaces and veth links for lab tests.
//!
//! A [`Netns`] is named `rvit-<pid>-<n>-<tag>`; dropping it SIGKILLs every
//! process inside (whoever started it) and deletes it, which also removes
//! its veth ends. Namespaces left over by a test process that died without
//! unwinding (SIGKILL, abort) are swept once per process on first use.

use super::{output_text, run_ok, run_timeout, unique, wait_for, Proc, Scratch};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::Duration;

const PREFIX: &str = "rvit-";
const CMD_TIMEOUT: Duration = Duration::from_secs(10);

/// A network namespace owned by the test.
pub struct Netns {
    name: String,
    tag: String,
    links: AtomicUsize,
}

/// The two interface names of a veth pair made by [`veth`].
#[derive(Debug, Clone)]
pub struct Veth {
    /// The end in the first namespace.
    pub a_if: String,
    /// The end in the second namespace.
    pub b_if: String,
}

impl Netns {
    /// Create `rvit-<pid>-<n>-<tag>` with lo up, rp_filter off (all and
    /// default, so later interfaces such as TUNs inherit it) and IPv6 DAD
    /// off (addresses usable at once).
    pub fn new(tag: &str) -> Netns {
        static SWEEP: Once = Once::new();
        SWEEP.call_once(sweep_stale);
        let name = format!("{PREFIX}{}-{}-{tag}", std::process::id(), unique());
        run_ok(Command::new("ip").args(["netns", "add", &name]));
        let ns = Netns {
            name,
            tag: tag.to_string(),
            links: AtomicUsize::new(0),
        };
        ns.link_up("lo");
        for (k, v) in [
            ("net.ipv4.conf.all.rp_filter", "0"),
            ("net.ipv4.conf.default.rp_filter", "0"),
            ("net.ipv6.conf.all.accept_dad", "0"),
            ("net.ipv6.conf.default.accept_dad", "0"),
        ] {
            ns.sysctl(k, v);
        }
        ns
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// A command running `argv` inside the namespace (`ip netns exec`).
    /// The environment is passed through.
    pub fn command(&self, argv: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).args(argv);
        c
    }

    /// Run `argv` inside (bounded: 10 s), whatever its exit status.
    pub fn exec(&self, argv: &[&str]) -> Output {
        run_timeout(&mut self.command(argv), CMD_TIMEOUT)
    }

    /// Run `argv` inside (bounded: 10 s); panics unless it succeeds. Its stdout.
    pub fn exec_ok(&self, argv: &[&str]) -> String {
        let o = self.exec(argv);
        assert!(
            o.status.success(),
            "in {}: {argv:?} failed ({}):\n{}",
            self.name,
            o.status,
            output_text(&o)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Start `argv` inside in the background, stdout and stderr to `log`.
    /// The process is killed when the [`Proc`] or this namespace drops.
    pub fn spawn(&self, argv: &[&str], log: &Path) -> Proc {
        let out = fs::File::create(log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let err = out.try_clone().expect("clone log file");
        let child = self
            .command(argv)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {argv:?} in {}: {e}", self.name));
        Proc::new(child, format!("{argv:?} in {}", self.name))
    }

    /// `ip addr add CIDR dev IFNAME` (IPv4 or IPv6).
    pub fn add_addr(&self, ifname: &str, cidr: &str) {
        self.exec_ok(&["ip", "addr", "add", cidr, "dev", ifname]);
    }

    /// `ip link set IFNAME up`.
    pub fn link_up(&self, ifname: &str) {
        self.exec_ok(&["ip", "link", "set", ifname, "up"]);
    }

    /// `ip link set IFNAME down`.
    pub fn link_down(&self, ifname: &str) {
        self.exec_ok(&["ip", "link", "set", ifname, "down"]);
    }

    /// An address on lo, standing for a host or subnet "behind" this node
    /// (this kernel has no dummy module).
    pub fn add_lo_addr(&self, cidr: &str) {
        self.add_addr("lo", cidr);
    }

    /// `ip route replace ROUTE...`, e.g. `&["10.10.2.0/24", "via", "10.99.0.2"]`.
    pub fn route(&self, route: &[&str]) {
        let mut argv = vec!["ip", "route", "replace"];
        argv.extend_from_slice(route);
        self.exec_ok(&argv);
    }

    /// Set a sysctl inside the namespace.
    pub fn sysctl(&self, key: &str, value: &str) {
        self.exec_ok(&["sysctl", "-qw", &format!("{key}={value}")]);
    }

    /// Turn on IPv4 and IPv6 forwarding (routers, NAT boxes).
    pub fn enable_forwarding(&self) {
        self.sysctl("net.ipv4.ip_forward", "1");
        self.sysctl("net.ipv6.conf.all.forwarding", "1");
    }

    /// Run iptables inside, e.g. `&["-A", "FORWARD", "-j", "DROP"]`.
    pub fn iptables(&self, args: &[&str]) {
        let mut argv = vec!["iptables", "-w"];
        argv.extend_from_slice(args);
        self.exec_ok(&argv);
    }

    /// Source NAT everything leaving `out_if` (iptables MASQUERADE) and
    /// turn forwarding on: this namespace becomes a NAT box.
    pub fn masquerade(&self, out_if: &str) {
        self.enable_forwarding();
        self.iptables(&[
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-o",
            out_if,
            "-j",
            "MASQUERADE",
        ]);
    }

    /// Drop packets leaving `ifname` at random with `probability` (0..1),
    /// using iptables' statistic match (works without sch_netem).
    pub fn drop_random(&self, ifname: &str, probability: f64) {
        let p = format!("{probability}");
        for chain in ["OUTPUT", "FORWARD"] {
            self.iptables(&[
                "-A",
                chain,
                "-o",
                ifname,
                "-m",
                "statistic",
                "--mode",
                "random",
                "--probability",
                &p,
                "-j",
                "DROP",
            ]);
        }
    }

    /// Drop all UDP to and from `port` on this node (sent, received and
    /// forwarded): a dead peer for DPD tests. Undo with [`Netns::unblock_udp`].
    pub fn block_udp(&self, port: u16) {
        self.udp_rules("-A", port);
    }

    /// Remove the rules of [`Netns::block_udp`].
    pub fn unblock_udp(&self, port: u16) {
        self.udp_rules("-D", port);
    }

    fn udp_rules(&self, op: &str, port: u16) {
        let port = port.to_string();
        for chain in ["INPUT", "OUTPUT", "FORWARD"] {
            for dir in ["--dport", "--sport"] {
                self.iptables(&[op, chain, "-p", "udp", dir, &port, "-j", "DROP"]);
            }
        }
    }

    /// `tc qdisc replace dev IFNAME root netem SPEC...` (e.g. `&["delay",
    /// "50ms", "loss", "5%"]`). Err when the kernel lacks sch_netem, as
    /// this machine's does: use [`Netns::drop_random`] for loss there.
    pub fn netem(&self, ifname: &str, spec: &[&str]) -> Result<(), String> {
        let mut argv = vec!["tc", "qdisc", "replace", "dev", ifname, "root", "netem"];
        argv.extend_from_slice(spec);
        let o = self.exec(&argv);
        if o.status.success() {
            Ok(())
        } else {
            Err(format!("netem on {ifname}: {}", output_text(&o).trim()))
        }
    }

    /// Remove the root qdisc of `ifname` (netem, tbf...).
    pub fn clear_qdisc(&self, ifname: &str) {
        let _ = self.exec(&["tc", "qdisc", "del", "dev", ifname, "root"]);
    }

    /// Limit `ifname`'s egress rate with tbf (e.g. "10mbit").
    pub fn rate_limit(&self, ifname: &str, rate: &str) {
        self.exec_ok(&[
            "tc", "qdisc", "replace", "dev", ifname, "root", "tbf", "rate", rate, "burst",
            "32kbit", "latency", "100ms",
        ]);
    }

    /// `ping -c COUNT -W 1 -i 0.2 -I SRC DST` (IPv6 addresses work too);
    /// bounded by ping's own limits and a 10 s kill.
    pub fn ping(&self, src: &str, dst: &str, count: u32) -> Output {
        let c = count.to_string();
        self.exec(&[
            "ping", "-n", "-c", &c, "-W", "1", "-i", "0.2", "-I", src, dst,
        ])
    }

    /// Panic unless all `count` pings from `src` to `dst` are answered.
    pub fn ping_ok(&self, src: &str, dst: &str, count: u32) {
        let o = self.ping(src, dst, count);
        assert!(
            o.status.success() && String::from_utf8_lossy(&o.stdout).contains(" 0% packet loss"),
            "ping {src} -> {dst} in {} failed:\n{}",
            self.name,
            output_text(&o)
        );
    }

    /// The kernel's next hops `(gateway or "", device)` of this
    /// namespace's route to exactly `prefix` (empty: no route).
    pub fn kernel_nexthops(&self, prefix: &str) -> Vec<(String, String)> {
        nexthops_of(
            &self
                .exec(&["ip", "-j", "route", "show", "exact", prefix])
                .stdout,
        )
    }

    /// Process ids of everything running inside the namespace.
    pub fn pids(&self) -> Vec<i32> {
        ns_pids(&self.name)
    }

    /// Start tcpdump on `ifname` with a pcap filter (e.g. "udp port 4500",
    /// "" for all); returns once it is capturing (at most 5 s).
    pub fn capture(&self, ifname: &str, filter: &str) -> Capture {
        let dir = Scratch::new("cap");
        let pcap = dir.join("cap.pcap");
        let log = dir.join("tcpdump.log");
        let pcap_s = pcap.to_string_lossy().into_owned();
        // --immediate-mode: without it packets still in the capture ring are
        // lost when tcpdump is stopped; -Z root: keep writing into our dir.
        let mut argv = vec![
            "tcpdump",
            "-n",
            "-U",
            "--immediate-mode",
            "-Z",
            "root",
            "-i",
            ifname,
            "-w",
            &pcap_s,
        ];
        argv.extend(filter.split_whitespace());
        let mut proc = self.spawn(&argv, &log);
        let up = wait_for(
            || {
                fs::read_to_string(&log)
                    .unwrap_or_default()
                    .contains("listening on")
                    || proc.exited().is_some()
            },
            Duration::from_secs(5),
        );
        let text = fs::read_to_string(&log).unwrap_or_default();
        assert!(
            up && proc.exited().is_none(),
            "tcpdump on {ifname} in {} did not start:\n{text}",
            self.name
        );
        Capture {
            proc,
            pcap,
            _dir: dir,
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        destroy(&self.name);
    }
}

/// A running tcpdump made by [`Netns::capture`].
pub struct Capture {
    proc: Proc,
    pcap: PathBuf,
    _dir: Scratch,
}

impl Capture {
    /// Stop capturing; the packets as `tcpdump -n -r` prints them, one a line.
    pub fn stop(mut self) -> String {
        self.proc.terminate(Duration::from_secs(2));
        let o = run_timeout(
            Command::new("tcpdump").args(["-n", "-r"]).arg(&self.pcap),
            Duration::from_secs(10),
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

/// A veth pair between `a` and `b` with `addr_a` on a's end and `addr_b`
/// on b's (CIDR, e.g. "10.99.0.1/24"; empty for none), both up. The ends
/// are named `v<n>-<other tag>` (cut to 15 bytes), unique per namespace.
pub fn veth(a: &Netns, b: &Netns, addr_a: &str, addr_b: &str) -> Veth {
    let a_if = if_name(a, b);
    let b_if = if_name(b, a);
    veth_named(a, &a_if, b, &b_if, addr_a, addr_b)
}

/// Like [`veth`] with chosen interface names.
pub fn veth_named(
    a: &Netns,
    a_if: &str,
    b: &Netns,
    b_if: &str,
    addr_a: &str,
    addr_b: &str,
) -> Veth {
    // Created directly inside both namespaces: no name is ever taken in
    // the host's namespace.
    run_ok(Command::new("ip").args([
        "link", "add", a_if, "netns", &a.name, "type", "veth", "peer", "name", b_if, "netns",
        &b.name,
    ]));
    for (ns, ifname, addr) in [(a, a_if, addr_a), (b, b_if, addr_b)] {
        if !addr.is_empty() {
            ns.add_addr(ifname, addr);
        }
        ns.link_up(ifname);
    }
    Veth {
        a_if: a_if.to_string(),
        b_if: b_if.to_string(),
    }
}

fn if_name(me: &Netns, other: &Netns) -> String {
    let n = me.links.fetch_add(1, Ordering::Relaxed);
    let mut s = format!("v{n}-{}", other.tag);
    s.truncate(15);
    s
}

fn ns_pids(name: &str) -> Vec<i32> {
    let o = run_timeout(
        Command::new("ip").args(["netns", "pids", name]),
        CMD_TIMEOUT,
    );
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// SIGKILL everything in namespace `name` (bounded: 20 rounds), then delete it.
fn destroy(name: &str) {
    for _ in 0..20 {
        let pids = ns_pids(name);
        if pids.is_empty() {
            break;
        }
        for p in pids {
            // SAFETY: kill(2); these processes live in our own namespace.
            unsafe {
                libc::kill(p, libc::SIGKILL);
            }
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let _ = run_timeout(Command::new("ip").args(["netns", "del", name]), CMD_TIMEOUT);
}

/// Delete `rvit-<pid>-...` namespaces whose test process is gone.
fn sweep_stale() {
    let o = run_timeout(Command::new("ip").args(["netns", "list"]), CMD_TIMEOUT);
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            destroy(name);
        }
    }
}

/// The next hops `(gateway or "", device)` in `ip -j route show` output.
pub fn nexthops_of(json: &[u8]) -> Vec<(String, String)> {
    let v: serde_json::Value = serde_json::from_slice(json).unwrap_or(serde_json::Value::Null);
    let mut out = Vec::new();
    for r in v.as_array().into_iter().flatten() {
        let hops: Vec<&serde_json::Value> = match r["nexthops"].as_array() {
            Some(n) => n.iter().collect(),
            None => vec![r],
        };
        for h in hops {
            out.push((
                h["gateway"].as_str().unwrap_or("").to_string(),
                h["dev"].as_str().unwrap_or("").to_string(),
            ));
        }
    }
    out
}
