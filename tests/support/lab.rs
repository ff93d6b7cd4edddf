//! The hub-and-spoke lab of `topologies/rvpn-lab`, driven from tests, and
//! a UDP probe stream that measures loss windows through it.
//!
//! [`Lab::up`] runs `topologies/rvpn-lab up --no-build` with the rvpnd and
//! vtysh that cargo built for the tests, under its own namespace prefix
//! ([`PREFIX`]) and state directory ([`DIR`]), so a lab someone brought up
//! by hand (`rvlab-*`, /run/rvpn-lab) is left alone. Dropping the [`Lab`]
//! takes it down (`rvpn-lab down`); a failing test prints the daemons' log
//! tails first. Only one lab exists at a time: tests hold [`lock`].
//!
//! [`probe`] sends numbered UDP datagrams every millisecond from host1 to
//! host2 over several flows (source ports), from threads that enter the
//! hosts' namespaces with setns(2), and reports which ones never arrived.
//!
//! Included by tests/lab.rs with `#[path]` next to `mod support;` (so
//! support/mod.rs, shared by every test binary, needs no entry for it).

// Not every helper is used by every test.
#![allow(dead_code)]

use crate::support::{in_path, output_text, run_timeout, wait_for};
use serde_json::Value;
use std::collections::BTreeSet;
use std::fs;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// Namespace prefix of the test lab (rvpn-lab's default is `rvlab-`).
pub const PREFIX: &str = "rvlt-";
/// State directory of the test lab (logs, config copies, sockets).
pub const DIR: &str = "/run/rvpn-lab-test";

pub const ROUTERS: [&str; 4] = ["hub1", "hub2", "spoke1", "spoke2"];
pub const HOST1: &str = "10.1.0.2";
pub const HOST2: &str = "10.2.0.2";
pub const LAN1: &str = "10.1.0.0/24";
pub const LAN2: &str = "10.2.0.0/24";
/// spoke1's tunnel ends' peers: hub1 over Tunnel1, hub2 over Tunnel2.
pub const SPOKE1_VIA_HUB1: &str = "169.254.11.1";
pub const SPOKE1_VIA_HUB2: &str = "169.254.21.1";

/// Serializes the tests of a binary: they share namespace names.
pub fn lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why the lab cannot run here, if it cannot (not root, no `ip`).
pub fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root (network namespaces, TUN devices)".into());
    }
    for tool in ["ip", "bash", "setsid", "sysctl"] {
        if !in_path(tool) {
            return Some(format!(
                "needs {tool} (scripts/test installs iproute2, procps, util-linux)"
            ));
        }
    }
    None
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bin_dir() -> PathBuf {
    let d = crate::support::rvpn::rvpnd_bin()
        .parent()
        .expect("rvpnd has a directory")
        .to_path_buf();
    // Panics with what to do when vtysh was not built next to rvpnd.
    crate::support::rvpn::vtysh_bin();
    d
}

/// A running lab; taken down on drop.
pub struct Lab {
    _priv: (),
}

impl Lab {
    /// `rvpn-lab up`: namespaces, links, rvpnd everywhere, and the wait
    /// for every tunnel UP-ACTIVE and every BGP session Established.
    pub fn up() -> Lab {
        let t0 = Instant::now();
        let o = script(&["up", "--no-build"], Duration::from_secs(150));
        let lab = Lab { _priv: () };
        assert!(
            o.status.success(),
            "rvpn-lab up failed ({}):\n{}",
            o.status,
            output_text(&o)
        );
        eprintln!("lab up in {:.1} s", t0.elapsed().as_secs_f64());
        lab
    }

    /// The namespace of a node.
    pub fn ns(&self, node: &str) -> String {
        format!("{PREFIX}{node}")
    }

    /// Run `argv` in a node's namespace (bounded: 10 s).
    pub fn exec(&self, node: &str, argv: &[&str]) -> Output {
        run_timeout(
            Command::new("ip")
                .args(["netns", "exec", &self.ns(node)])
                .args(argv),
            Duration::from_secs(10),
        )
    }

    /// vtysh against a node's rvpnd, one `-c` per command (bounded: 15 s).
    pub fn vtysh(&self, node: &str, cmds: &[&str]) -> Output {
        let mut c = Command::new(bin_dir().join("vtysh"));
        c.arg("--socket")
            .arg(format!("{DIR}/{node}.sock"))
            .env_remove("RVPN_SOCKET");
        for cmd in cmds {
            c.args(["-c", cmd]);
        }
        run_timeout(&mut c, Duration::from_secs(15))
    }

    /// Like [`Lab::vtysh`]; panics (with the node's log) unless it succeeds.
    pub fn vtysh_ok(&self, node: &str, cmds: &[&str]) -> String {
        let o = self.vtysh(node, cmds);
        assert!(
            o.status.success(),
            "vtysh {cmds:?} at {node} failed ({}):\n{}\n--- {node}'s log:\n{}",
            o.status,
            output_text(&o),
            self.log_tail(node, 40)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// A show command with `json` appended, parsed.
    pub fn show_json(&self, node: &str, cmd: &str) -> Value {
        let cmd = format!("{cmd} json");
        let out = self.vtysh_ok(node, &[&cmd]);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{cmd:?} at {node} is not JSON ({e}):\n{out}"))
    }

    /// `(interface, status)` of every tunnel of a node.
    pub fn tunnels(&self, node: &str) -> Vec<(String, String)> {
        let v = self.show_json(node, "show crypto session");
        v["sessions"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| {
                        (
                            s["interface"].as_str().unwrap_or("?").to_string(),
                            s["status"].as_str().unwrap_or("?").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `(neighbor, state)` of every IPv4 BGP session of a node.
    pub fn bgp_peers(&self, node: &str) -> Vec<(String, String)> {
        let v = self.show_json(node, "show ip bgp summary");
        v["ipv4Unicast"]["peers"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, p)| (k.clone(), p["state"].as_str().unwrap_or("?").to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The kernel's next hops `(gateway or "", device)` of a node's route
    /// to exactly `prefix` (empty: no route).
    pub fn kernel_nexthops(&self, node: &str, prefix: &str) -> Vec<(String, String)> {
        let o = self.exec(node, &["ip", "-j", "route", "show", "exact", prefix]);
        crate::support::netns::nexthops_of(&o.stdout)
    }

    /// `ip route show PREFIX` in a node, as text (for messages).
    pub fn kernel_route_text(&self, node: &str, prefix: &str) -> String {
        let o = self.exec(node, &["ip", "route", "show", "exact", prefix]);
        let t = String::from_utf8_lossy(&o.stdout).trim().to_string();
        if t.is_empty() {
            format!("(no kernel route to {prefix} in {node})")
        } else {
            t
        }
    }

    /// Whether spoke1's kernel route to spoke2's LAN goes through both
    /// tunnels (Tunnel1 to hub1, Tunnel2 to hub2).
    pub fn spoke1_has_ecmp(&self) -> bool {
        let devs: BTreeSet<String> = self
            .kernel_nexthops("spoke1", LAN2)
            .into_iter()
            .map(|(_, d)| d)
            .collect();
        devs.contains("Tunnel1") && devs.contains("Tunnel2")
    }

    /// `rvpn-lab kill NODE`: kill -9 of the node's rvpnd.
    pub fn kill(&self, node: &str) {
        script_ok(&["kill", node]);
    }

    /// `rvpn-lab start NODE`: start its rvpnd again.
    pub fn start(&self, node: &str) {
        script_ok(&["start", node]);
    }

    /// `rvpn-lab links NODE up|down`.
    pub fn links(&self, node: &str, up: bool) {
        script_ok(&["links", node, if up { "up" } else { "down" }]);
    }

    /// The last `n` lines of a node's rvpnd log.
    pub fn log_tail(&self, node: &str, n: usize) -> String {
        let t = fs::read_to_string(format!("{DIR}/{node}.log")).unwrap_or_default();
        let lines: Vec<&str> = t.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Every router's log tail, for failure messages.
    pub fn logs(&self, n: usize) -> String {
        let mut s = String::new();
        for r in ROUTERS {
            s.push_str(&format!(
                "--- {r} ({DIR}/{r}.log):\n{}\n",
                self.log_tail(r, n)
            ));
        }
        s
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("{}", self.logs(25));
        }
        let o = script(&["down"], Duration::from_secs(60));
        if !o.status.success() {
            eprintln!("rvpn-lab down failed:\n{}", output_text(&o));
        }
    }
}

fn script(args: &[&str], timeout: Duration) -> Output {
    run_timeout(
        Command::new("bash")
            .arg(repo().join("topologies/rvpn-lab"))
            .args(args)
            .env("RVPN_BIN_DIR", bin_dir())
            .env("RVPN_LAB_DIR", DIR)
            .env("RVPN_LAB_PREFIX", PREFIX)
            .env("RUST_LOG", "info"),
        timeout,
    )
}

fn script_ok(args: &[&str]) {
    let o = script(args, Duration::from_secs(30));
    assert!(
        o.status.success(),
        "rvpn-lab {args:?} failed ({}):\n{}",
        o.status,
        output_text(&o)
    );
}

/// Poll `cond` until it holds or `timeout` passes; how long it took.
pub fn wait_until(timeout: Duration, cond: impl FnMut() -> bool) -> Option<Duration> {
    let t0 = Instant::now();
    wait_for(cond, timeout).then(|| t0.elapsed())
}

// ---------------------------------------------------------------- probes

const MAGIC: &[u8; 8] = b"RVLABPRB";
const PROBE_PORT: u16 = 47_999;
const FIRST_SRC_PORT: u16 = 48_000;

/// A probe stream's settings.
#[derive(Debug, Clone)]
pub struct ProbeOpts {
    /// How many probes (one per `interval`).
    pub count: u32,
    pub interval: Duration,
    /// Source ports used in turn, so flows hash onto both ECMP next hops.
    pub flows: u16,
}

/// What a probe stream saw.
#[derive(Debug, Clone)]
pub struct ProbeResult {
    pub opts: ProbeOpts,
    /// When each probe was sent, from the stream's start.
    pub sent_at: Vec<Duration>,
    /// Sequence numbers that never arrived, ascending.
    pub lost: Vec<u32>,
    /// Datagrams that arrived more than once.
    pub duplicates: u32,
    /// sendto errors.
    pub send_errors: u32,
}

/// A burst of losses: probes lost less than [`ProbeResult::GAP`] apart.
#[derive(Debug, Clone, Copy)]
pub struct LossBurst {
    /// From the stream's start to the first lost probe's sending.
    pub start: Duration,
    /// From the first lost probe's sending to the last one's, plus one
    /// interval: how long the path lost traffic.
    pub window: Duration,
    pub lost: u32,
    /// The longest run of consecutive lost sequence numbers.
    pub longest_run: u32,
    /// Whether it lasted to the end of the stream.
    pub open_ended: bool,
}

impl ProbeResult {
    /// Losses further apart than this are separate bursts.
    pub const GAP: Duration = Duration::from_millis(50);

    /// The loss bursts whose first lost probe was sent in `[from, to)`.
    pub fn bursts_between(&self, from: Duration, to: Duration) -> Vec<LossBurst> {
        self.bursts()
            .into_iter()
            .filter(|b| b.start >= from && b.start < to)
            .collect()
    }

    /// All loss bursts, in order.
    pub fn bursts(&self) -> Vec<LossBurst> {
        let mut out: Vec<LossBurst> = Vec::new();
        let mut prev: Option<u32> = None;
        let mut run = 0u32;
        for &s in &self.lost {
            let t = self.sent_at[s as usize];
            let joins = prev.is_some_and(|p| t - self.sent_at[p as usize] <= Self::GAP);
            run = if prev == Some(s.wrapping_sub(1)) {
                run + 1
            } else {
                1
            };
            if joins {
                let b = out.last_mut().expect("a burst to join");
                b.window = t - b.start + self.opts.interval;
                b.lost += 1;
                b.longest_run = b.longest_run.max(run);
            } else {
                out.push(LossBurst {
                    start: t,
                    window: self.opts.interval,
                    lost: 1,
                    longest_run: 1,
                    open_ended: false,
                });
            }
            prev = Some(s);
        }
        if let (Some(b), Some(&last)) = (out.last_mut(), self.lost.last()) {
            b.open_ended = last + 1 == self.opts.count;
        }
        out
    }

    /// One line: sent, lost, the bursts.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} probes every {:?} over {} flows, {} lost, {} duplicated, {} send errors",
            self.opts.count,
            self.opts.interval,
            self.opts.flows,
            self.lost.len(),
            self.duplicates,
            self.send_errors
        );
        for b in self.bursts() {
            s.push_str(&format!(
                "; burst at {} ms: {} ms, {} lost, longest run {}{}",
                b.start.as_millis(),
                b.window.as_millis(),
                b.lost,
                b.longest_run,
                if b.open_ended {
                    " (until the end of the stream)"
                } else {
                    ""
                }
            ));
        }
        s
    }
}

/// A running probe stream; [`Probe::finish`] collects the result.
pub struct Probe {
    started: Instant,
    sender: thread::JoinHandle<(Vec<Duration>, u32)>,
    receiver: thread::JoinHandle<(Vec<u32>, u32)>,
    stop: Arc<AtomicBool>,
    opts: ProbeOpts,
}

/// Start sending `opts.count` probes from host1 (`src_ns`, [`HOST1`]) to
/// host2 (`dst_ns`, [`HOST2`]). Returns once the receiver listens.
pub fn probe(src_ns: &str, dst_ns: &str, opts: ProbeOpts) -> Probe {
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    let count = opts.count;
    let dst_ns_s = dst_ns.to_string();
    let stop_r = stop.clone();
    let receiver = thread::spawn(move || {
        let sock = match enter(&dst_ns_s).and_then(|()| {
            UdpSocket::bind((HOST2, PROBE_PORT)).map_err(|e| format!("bind {HOST2}: {e}"))
        }) {
            Ok(s) => s,
            Err(e) => {
                let _ = ready_tx.send(Err(e));
                return (Vec::new(), 0);
            }
        };
        let _ = sock.set_read_timeout(Some(Duration::from_millis(100)));
        let _ = ready_tx.send(Ok(()));
        let mut seen = vec![0u8; count as usize];
        let mut buf = [0u8; 64];
        // Bounded: the stream's own length plus a minute at most.
        let deadline = Instant::now() + Duration::from_millis(u64::from(count) * 2 + 60_000);
        while !stop_r.load(Ordering::Relaxed) && Instant::now() < deadline {
            let Ok((n, _)) = sock.recv_from(&mut buf) else {
                continue;
            };
            if n >= 12 && &buf[..8] == MAGIC {
                let seq = u32::from_be_bytes(buf[8..12].try_into().expect("4 bytes"));
                if let Some(c) = seen.get_mut(seq as usize) {
                    *c = c.saturating_add(1);
                }
            }
        }
        let lost = (0..count).filter(|&s| seen[s as usize] == 0).collect();
        let dups = seen.iter().filter(|&&c| c > 1).count() as u32;
        (lost, dups)
    });
    match ready_rx.recv_timeout(Duration::from_secs(5)) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("probe receiver in {dst_ns}: {e}"),
        Err(_) => panic!("probe receiver in {dst_ns} did not start"),
    }
    let src_ns_s = src_ns.to_string();
    let o = opts.clone();
    let started = Instant::now();
    let sender = thread::spawn(move || {
        enter(&src_ns_s).unwrap_or_else(|e| panic!("probe sender: {e}"));
        let socks: Vec<UdpSocket> = (0..o.flows)
            .map(|i| {
                UdpSocket::bind((HOST1, FIRST_SRC_PORT + i))
                    .unwrap_or_else(|e| panic!("bind {HOST1}:{}: {e}", FIRST_SRC_PORT + i))
            })
            .collect();
        let dst: SocketAddr = format!("{HOST2}:{PROBE_PORT}").parse().expect("address");
        let mut sent_at = Vec::with_capacity(o.count as usize);
        let mut errors = 0u32;
        let mut pkt = [0u8; 32];
        pkt[..8].copy_from_slice(MAGIC);
        for seq in 0..o.count {
            let due = started + o.interval * seq;
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            }
            pkt[8..12].copy_from_slice(&seq.to_be_bytes());
            sent_at.push(started.elapsed());
            if socks[(seq % u32::from(o.flows)) as usize]
                .send_to(&pkt, dst)
                .is_err()
            {
                errors += 1;
            }
        }
        (sent_at, errors)
    });
    Probe {
        started,
        sender,
        receiver,
        stop,
        opts,
    }
}

impl Probe {
    /// Time since the first probe was due.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Wait for the sender to finish, give the last probes `linger` to
    /// arrive, and collect the result.
    pub fn finish(self, linger: Duration) -> ProbeResult {
        let (sent_at, send_errors) = self.sender.join().expect("probe sender panicked");
        thread::sleep(linger);
        self.stop.store(true, Ordering::Relaxed);
        let (lost, duplicates) = self.receiver.join().expect("probe receiver panicked");
        ProbeResult {
            opts: self.opts,
            sent_at,
            lost,
            duplicates,
            send_errors,
        }
    }
}

/// Move the calling thread into network namespace `ns` (setns(2) changes
/// only this thread; sockets it opens afterwards live in `ns`).
fn enter(ns: &str) -> Result<(), String> {
    let f =
        fs::File::open(format!("/run/netns/{ns}")).map_err(|e| format!("open netns {ns}: {e}"))?;
    // SAFETY: setns(2) on a valid namespace fd, for this thread only.
    let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    if r != 0 {
        return Err(format!("setns {ns}: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}
