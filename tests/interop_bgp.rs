//! BGP interop: rvpnd's BGP speaker against FRR 8.4, BIRD 2.0.12 and
//! GoBGP 3.10 in network namespaces, checked the way a user would: the
//! JSON shows on both sides (rvpnd `show ip bgp ... json`; FRR `show bgp
//! ... json`, BIRD `birdc show route ... all`, GoBGP `gobgp -j global
//! rib`). One scenario per function, each in namespaces of its own:
//!
//!  1 FRR eBGP IPv4: sessions, routes both ways, withdrawal
//!  2 FRR iBGP IPv4 + IPv6 (two sessions): next hops, LOCAL_PREF
//!  3 BIRD eBGP IPv4 + IPv6 (two sessions)
//!  4 GoBGP eBGP and iBGP (`remote-as internal`)
//!  5 TCP MD5: matching password; wrong password (then corrected)
//!  6 route refresh: `clear ip bgp X soft in|out` after route-map changes,
//!    without a session reset (FRR's connection counters)
//!  7 route-maps on both sides (MED from FRR; prepend, MED, prefix-list
//!    and local-preference on rvpn)
//!  8 RFC 8212: an eBGP peer without policy gets and gives nothing; with
//!    route-maps in and out it flows
//!  9 graceful restart (helper): FRR's bgpd killed and restarted; routes
//!    kept stale, never missing (polled every 100 ms), leftovers removed
//!    after End-of-RIB
//! 10 RFC 7606: a malformed MULTI_EXIT_DISC (examples/bgp_inject.rs) makes
//!    the prefix withdrawn, the session stays up
//! 11 multipath: two eBGP peers, `maximum-paths 2` + multipath-relax
//! 12 dynamic neighbors: `bgp listen range` + peer-group; `bgp listen
//!    limit 1` refuses a second spoke (then `limit 2` lets it in)
//!
//! Each scenario runs twice: `<name>` against rvpnd, and `standin_<name>`
//! (ignored by default) with FRR's bgpd in rvpnd's place, running the
//! same configuration text (plus `no bgp network import-check` and
//! `timers connect 2`). The stand-ins prove the peer configurations, the
//! peer-side checks and the test logic on this machine independently of
//! rvpnd:
//!
//!     cargo test -p rvpnd --test interop_bgp -- --ignored standin_
//!
//! Needs root and the packages frr, bird2 and gobgpd (scripts/test
//! installs them); without root every test prints why it is skipped and
//! returns, otherwise missing packages fail it. Test 10 runs the injector
//! example of the bgp crate: `cargo test --workspace` builds it; for a
//! single `cargo test -p rvpnd --test interop_bgp` the test builds it
//! (into TARGET/interop-inject) when it is missing or older than bgp/.
//!
//! On failure each test prints, after the panic message, the BGP state
//! and the log tails of every daemon of its lab (the scratch directories
//! with the whole logs are kept).

mod support;

use serde_json::Value;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};
use support::bgp_peers::{require_bgp_peers, tail, Bird, BirdOpts, Frr, FrrOpts, GoBgp, GoBgpOpts};
use support::netns::{veth, Netns};
use support::rvpn::{rvpnd_bin, vtysh_bin, Rvpnd, RvpndOpts};
use support::{output_text, run_timeout, Proc, Scratch};

/// Session establishment (all three peers retry every 2 s here).
const UP: Duration = Duration::from_secs(30);
/// Route propagation once the sessions are up.
const ROUTES: Duration = Duration::from_secs(20);
/// A withdrawal or a policy change taking effect.
const CHANGE: Duration = Duration::from_secs(10);
/// How long "never" lasts for sessions that must not come up.
const NEVER: Duration = Duration::from_secs(12);
/// Log lines in failure reports.
const TAIL: usize = 60;

/// rvpn's end and the peer's end of the first link.
const RV4: &str = "10.1.0.1";
const PEER4: &str = "10.1.0.2";
const RV6: &str = "fd00:1::1";
const PEER6: &str = "fd00:1::2";

// ------------------------------------------------------------ harness

/// Whether the tests can run: false (with the reason printed) only when
/// not root; panics when root but the peers are not installed.
fn ready() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!(
            "SKIPPED: the BGP interop tests need root (network namespaces, FRR/BIRD/GoBGP \
             inside them); run scripts/test as root"
        );
        return false;
    }
    require_bgp_peers();
    true
}

/// What runs in rvpnd's place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rvpn,
    /// FRR's bgpd with the same configuration text (peer-side checks).
    FrrStandIn,
}

/// The device under test: rvpnd, or FRR standing in for it.
enum Dut {
    Rvpn(Rvpnd),
    Frr(Frr),
}

/// rvpnd's configuration made acceptable to FRR: `no bgp network
/// import-check` (no zebra routes for the `network`s) and `timers connect
/// 2` for every `remote-as` (FRR retries after 120 s otherwise).
fn standin_config(config: &str) -> String {
    let mut out = String::new();
    for line in config.lines() {
        out.push_str(line);
        out.push('\n');
        let t: Vec<&str> = line.split_whitespace().collect();
        if t.len() == 3 && t[0] == "router" && t[1] == "bgp" {
            out.push_str(" no bgp network import-check\n");
        }
        if t.len() == 4 && t[0] == "neighbor" && t[2] == "remote-as" {
            out.push_str(&format!(" neighbor {} timers connect 2\n", t[1]));
        }
    }
    out
}

impl Dut {
    fn start(kind: Kind, ns: &Netns, config: &str) -> Dut {
        match kind {
            Kind::Rvpn => Dut::Rvpn(Rvpnd::start_with(
                ns,
                config,
                RvpndOpts {
                    tag: "rvpn".into(),
                    ..RvpndOpts::default()
                },
            )),
            Kind::FrrStandIn => Dut::Frr(Frr::start_with(
                ns,
                &standin_config(config),
                FrrOpts::tagged("dut"),
            )),
        }
    }

    fn describe(&self) -> String {
        match self {
            Dut::Rvpn(r) => format!("rvpnd in {}", r.ns()),
            Dut::Frr(f) => format!("FRR standing in for rvpnd in {}", f.ns()),
        }
    }

    /// A show command in rvpn's syntax (ending in `json`), parsed; Err with
    /// what vtysh said otherwise (for polling and messages).
    fn try_show(&self, cmd: &str) -> Result<Value, String> {
        let o = match self {
            Dut::Rvpn(r) => r.vtysh(&[cmd]),
            // FRR's `show ip bgp summary json` has IPv4 only.
            Dut::Frr(f) if cmd == "show ip bgp summary json" => f.vtysh(&["show bgp summary json"]),
            Dut::Frr(f) => f.vtysh(&[cmd]),
        };
        if !o.status.success() {
            return Err(format!(
                "{}: `{cmd}` failed ({}): {}",
                self.describe(),
                o.status,
                output_text(&o).trim()
            ));
        }
        serde_json::from_slice(&o.stdout).map_err(|e| {
            format!(
                "{}: `{cmd}` is not JSON ({e}): {}",
                self.describe(),
                output_text(&o).trim()
            )
        })
    }

    fn show(&self, cmd: &str) -> Value {
        self.try_show(cmd).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `configure terminal`, the lines, `end`; panics unless all succeed.
    fn configure(&self, lines: &[&str]) {
        match self {
            Dut::Rvpn(r) => {
                let mut c = vec!["configure terminal"];
                c.extend_from_slice(lines);
                c.push("end");
                r.vtysh_ok(&c);
            }
            Dut::Frr(f) => f.configure(lines),
        }
    }

    /// An exec command (`clear ip bgp ...`); panics unless it succeeds.
    fn exec(&self, cmd: &str) {
        match self {
            Dut::Rvpn(r) => {
                r.vtysh_ok(&[cmd]);
            }
            Dut::Frr(f) => {
                f.vtysh_ok(&[cmd]);
            }
        }
    }
}

/// Poll `f` every 100 ms until it gives Ok (its value) or `timeout`
/// passes: then panic with `what` and the last Err.
fn wait_until<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match f() {
            Ok(v) => return v,
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            panic!("{what}: not so after {timeout:?}; last seen: {last}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Compact JSON for messages (cut at 1500 characters).
fn short(v: &Value) -> String {
    let mut s = v.to_string();
    if s.len() > 1500 {
        let mut cut = 1500;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

// ---- diagnostics printed when a test fails

type Probe = Box<dyn Fn() -> String>;

/// Prints, when dropped during a panic, each registered daemon's BGP state
/// and log tail. Create it after the daemons so that it drops first.
struct Diag(Vec<(String, Probe)>);

fn cmd_out(c: &mut Command) -> String {
    output_text(&run_timeout(c, Duration::from_secs(15)))
}

fn file_tail(p: &Path) -> String {
    tail(&fs::read_to_string(p).unwrap_or_default(), TAIL)
}

/// rvpnd's log for a report: its first lines (start-up, configuration)
/// and its tail, without the lines every vtysh connection adds (the tests
/// poll).
fn rvpnd_log(p: &Path) -> String {
    let text = fs::read_to_string(p).unwrap_or_default();
    let head: Vec<&str> = text.lines().take(20).collect();
    let rest: Vec<&str> = text
        .lines()
        .skip(20)
        .filter(|l| {
            !l.contains("rvpnd::server: connection") && !l.contains("rvpnd::daemon: line conn=")
        })
        .collect();
    format!(
        "{}\n[...]\n{}",
        head.join("\n"),
        tail(&rest.join("\n"), TAIL)
    )
}

impl Diag {
    fn new() -> Diag {
        Diag(Vec::new())
    }

    fn add(&mut self, label: String, probe: Probe) {
        self.0.push((label, probe));
    }

    fn dut(&mut self, d: &Dut) {
        match d {
            Dut::Rvpn(r) => {
                let (sock, log) = (r.socket(), r.log_path());
                self.add(
                    format!("rvpnd in {}", r.ns()),
                    Box::new(move || {
                        let mut c = Command::new(vtysh_bin());
                        c.arg("--socket").arg(&sock).env_remove("RVPN_SOCKET");
                        for cmd in [
                            "show ip bgp summary json",
                            "show ip bgp json",
                            "show bgp ipv6 unicast json",
                        ] {
                            c.args(["-c", cmd]);
                        }
                        format!("{}\n--- log:\n{}", cmd_out(&mut c), rvpnd_log(&log))
                    }),
                );
            }
            Dut::Frr(f) => self.frr_named(f, "FRR standing in for rvpnd"),
        }
    }

    fn frr(&mut self, f: &Frr) {
        self.frr_named(f, "FRR");
    }

    fn frr_named(&mut self, f: &Frr, what: &str) {
        let dir = f.dir().to_path_buf();
        self.add(
            format!("{what} {} in {}", f.tag(), f.ns()),
            Box::new(move || {
                let mut c = Command::new(support::bgp_peers::VTYSH);
                c.arg("--vty_socket")
                    .arg(&dir)
                    .arg("--config_dir")
                    .arg(&dir);
                for cmd in [
                    "show bgp summary",
                    "show bgp ipv4 unicast",
                    "show bgp ipv6 unicast",
                ] {
                    c.args(["-c", cmd]);
                }
                format!(
                    "{}\n--- bgpd.log:\n{}",
                    cmd_out(&mut c),
                    file_tail(&dir.join("bgpd.log"))
                )
            }),
        );
    }

    fn bird(&mut self, b: &Bird) {
        let (sock, log) = (b.socket(), b.log_path());
        self.add(
            format!("BIRD {} in {}", b.tag(), b.ns()),
            Box::new(move || {
                let mut s = String::new();
                for cmd in [&["show", "protocols", "all"][..], &["show", "route", "all"]] {
                    let mut c = Command::new(support::bgp_peers::BIRDC);
                    c.arg("-s").arg(&sock).args(cmd);
                    s.push_str(&cmd_out(&mut c));
                }
                format!("{s}\n--- log:\n{}", file_tail(&log))
            }),
        );
    }

    fn gobgp(&mut self, g: &GoBgp) {
        let (ns, port, log) = (g.ns().to_string(), g.api_port().to_string(), g.log_path());
        self.add(
            format!("GoBGP {} in {ns}", g.tag()),
            Box::new(move || {
                let mut s = String::new();
                for cmd in [&["neighbor"][..], &["global", "rib"]] {
                    let mut c = Command::new("ip");
                    c.args(["netns", "exec", &ns, support::bgp_peers::GOBGP])
                        .args(["-u", "127.0.0.1", "-p", &port])
                        .args(cmd);
                    s.push_str(&cmd_out(&mut c));
                }
                format!("{s}\n--- log:\n{}", file_tail(&log))
            }),
        );
    }

    fn file(&mut self, label: &str, p: &Path) {
        let p = p.to_path_buf();
        self.add(label.to_string(), Box::new(move || file_tail(&p)));
    }
}

impl Drop for Diag {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for (label, probe) in &self.0 {
                eprintln!("\n===== {label}\n{}", probe());
            }
        }
    }
}

// ---- reading the FRR-style JSON of both sides

/// The show command of the table holding `prefix`.
fn table_cmd(prefix: &str) -> &'static str {
    if prefix.contains(':') {
        "show bgp ipv6 unicast json"
    } else {
        "show ip bgp json"
    }
}

/// The paths of `prefix` in a `show ... json` table.
fn paths_in(table: &Value, prefix: &str) -> Vec<Value> {
    table["routes"][prefix]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The AS path: `path` in tables, `aspath.string` in FRR's detail view.
fn p_path(p: &Value) -> String {
    p["path"]
        .as_str()
        .or_else(|| p["aspath"]["string"].as_str())
        .unwrap_or("<none>")
        .to_string()
}

/// `bestpath` is a bool in tables, `{"overall":true}` in FRR's detail view.
fn p_best(p: &Value) -> bool {
    p["bestpath"]
        .as_bool()
        .or_else(|| p["bestpath"]["overall"].as_bool())
        .unwrap_or(false)
}

fn p_flag(p: &Value, key: &str) -> bool {
    p[key].as_bool().unwrap_or(false)
}

/// The peer it came from: `peerId`, or `peer.peerId` in detail views.
fn p_peer(p: &Value) -> String {
    p["peerId"]
        .as_str()
        .or_else(|| p["peer"]["peerId"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn p_nexthops(p: &Value) -> Vec<String> {
    p["nexthops"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|n| n["ip"].as_str().map(str::to_string))
        .collect()
}

/// Communities: a string, or `{"string": ...}` in FRR's detail view.
fn p_communities(p: &Value) -> BTreeSet<String> {
    p["community"]
        .as_str()
        .or_else(|| p["community"]["string"].as_str())
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn p_u64(p: &Value, key: &str) -> Option<u64> {
    p[key].as_u64()
}

/// The path of `prefix` learnt from `from` in a table.
fn path_from(table: &Value, prefix: &str, from: &str) -> Option<Value> {
    paths_in(table, prefix)
        .into_iter()
        .find(|p| p_peer(p) == from)
}

/// The summary entry of `peer` (IPv4 or IPv6 unicast).
fn dut_peer(dut: &Dut, peer: &str) -> Result<Value, String> {
    let v = dut.try_show("show ip bgp summary json")?;
    for af in ["ipv4Unicast", "ipv6Unicast"] {
        if let Some(p) = v
            .get(af)
            .and_then(|a| a.get("peers"))
            .and_then(|p| p.get(peer))
        {
            return Ok(p.clone());
        }
    }
    Err(format!("no peer {peer} in the summary: {}", short(&v)))
}

fn dut_established(dut: &Dut, peer: &str) -> Result<Value, String> {
    let p = dut_peer(dut, peer)?;
    if p["state"] == "Established" {
        Ok(p)
    } else {
        Err(format!("{peer}: {}", short(&p)))
    }
}

fn wait_dut_established(dut: &Dut, peer: &str, timeout: Duration) -> Value {
    wait_until(
        &format!("{}: session with {peer} Established", dut.describe()),
        timeout,
        || dut_established(dut, peer),
    )
}

/// The DUT's paths of `prefix` (its table), Err if the show fails.
fn dut_paths(dut: &Dut, prefix: &str) -> Result<Vec<Value>, String> {
    Ok(paths_in(&dut.try_show(table_cmd(prefix))?, prefix))
}

/// Wait until the DUT has a valid best path of `prefix` from `from`; the
/// path.
fn wait_dut_path(dut: &Dut, prefix: &str, from: &str, timeout: Duration) -> Value {
    wait_until(
        &format!("{}: {prefix} learnt from {from}", dut.describe()),
        timeout,
        || {
            let paths = dut_paths(dut, prefix)?;
            paths
                .iter()
                .find(|p| p_peer(p) == from && p_flag(p, "valid") && p_best(p))
                .cloned()
                .ok_or_else(|| format!("paths of {prefix}: {paths:?}"))
        },
    )
}

/// Wait until the DUT has no path of `prefix`.
fn wait_dut_gone(dut: &Dut, prefix: &str, timeout: Duration) {
    wait_until(
        &format!("{}: {prefix} gone", dut.describe()),
        timeout,
        || match dut_paths(dut, prefix)? {
            v if v.is_empty() => Ok(()),
            v => Err(format!("still {v:?}")),
        },
    )
}

/// The DUT's paths of an IPv4 prefix from `show ip bgp PREFIX json`.
fn dut_detail(dut: &Dut, prefix: &str) -> Vec<Value> {
    let v = dut.show(&format!("show ip bgp {prefix} json"));
    v["paths"].as_array().cloned().unwrap_or_default()
}

/// FRR's path of `prefix` learnt from `from`.
fn frr_path(frr: &Frr, prefix: &str, from: &str) -> Result<Value, String> {
    let cmd = if prefix.contains(':') {
        "show bgp ipv6 unicast json"
    } else {
        "show bgp ipv4 unicast json"
    };
    let t = frr
        .try_json(cmd)
        .ok_or_else(|| format!("FRR {}: `{cmd}` failed", frr.tag()))?;
    path_from(&t, prefix, from)
        .ok_or_else(|| format!("paths of {prefix}: {:?}", paths_in(&t, prefix)))
}

fn wait_frr_path(frr: &Frr, prefix: &str, from: &str, timeout: Duration) -> Value {
    wait_until(
        &format!("FRR {}: {prefix} learnt from {from}", frr.tag()),
        timeout,
        || frr_path(frr, prefix, from),
    )
}

/// Whether an uptime in ms went from `before` to `after` by at least the
/// time since `since` (less a second: FRR counts whole seconds), i.e. the
/// session was not reset in between.
fn uptime_grew(before: &Value, after: &Value, since: Instant) -> bool {
    let (b, a) = (before.as_u64(), after.as_u64());
    match (b, a) {
        (Some(b), Some(a)) => u128::from(a) + 1000 >= u128::from(b) + since.elapsed().as_millis(),
        _ => false,
    }
}

/// FRR's neighbor entry (`show bgp neighbors ADDR json`).
fn frr_neighbor(frr: &Frr, addr: &str) -> Value {
    frr.show_json(&format!("show bgp neighbors {addr} json"))[addr].clone()
}

/// Two namespaces, rvpn's and the peer's, joined by a veth: 10.1.0.1/24
/// and fd00:1::1/64 on rvpn's end, .2 and ::2 on the peer's.
fn two_nodes(peer_tag: &str) -> (Netns, Netns) {
    let a = Netns::new("rv");
    let b = Netns::new(peer_tag);
    let v = veth(&a, &b, &format!("{RV4}/24"), &format!("{PEER4}/24"));
    a.add_addr(&v.a_if, &format!("{RV6}/64"));
    b.add_addr(&v.b_if, &format!("{PEER6}/64"));
    (a, b)
}

/// An FRR peer's `router bgp` head: eBGP without policies, `network`s
/// without zebra routes.
fn frr_head(asn: u32, router_id: &str) -> String {
    format!(
        "router bgp {asn}\n bgp router-id {router_id}\n no bgp ebgp-requires-policy\n \
         no bgp network import-check\n"
    )
}

/// `neighbor ADDR remote-as AS` with a 2 s connect retry.
fn frr_neighbor_lines(addr: &str, remote_as: &str) -> String {
    format!(" neighbor {addr} remote-as {remote_as}\n neighbor {addr} timers connect 2\n")
}

// ---- the injector (examples/bgp_inject.rs)

/// The newest modification time under `p` (files, recursively).
fn newest_mtime(p: &Path) -> SystemTime {
    let mut t = SystemTime::UNIX_EPOCH;
    if let Ok(m) = fs::metadata(p) {
        if m.is_file() {
            return m.modified().unwrap_or(t);
        }
    }
    for e in fs::read_dir(p).into_iter().flatten().flatten() {
        t = t.max(newest_mtime(&e.path()));
    }
    t
}

/// The injector example: the one `cargo test --workspace` built next to
/// rvpnd if it is newer than bgp/ and its source, else built now into a target
/// directory of its own (the running `cargo test` holds the lock of its
/// own).
fn inject_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let src = newest_mtime(&root.join("bgp/src"))
            .max(newest_mtime(&root.join("examples/bgp_inject.rs")))
            .max(newest_mtime(&root.join("bgp/Cargo.toml")));
        let exe = rvpnd_bin();
        let fresh = |p: &Path| p.is_file() && newest_mtime(p) >= src;
        let next_to_rvpnd = exe.with_file_name("examples").join("bgp_inject");
        if fresh(&next_to_rvpnd) {
            return next_to_rvpnd;
        }
        let target = exe
            .parent()
            .and_then(Path::parent)
            .expect("rvpnd lives in TARGET/PROFILE/")
            .join("interop-inject");
        let built = target.join("debug/examples/bgp_inject");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        eprintln!(
            "building the injector: {cargo} build -p rvpnd --example bgp_inject into {target:?}"
        );
        let o = run_timeout(
            Command::new(&cargo)
                .args(["build", "--quiet", "-p", "rvpnd", "--example", "bgp_inject"])
                .arg("--manifest-path")
                .arg(root.join("Cargo.toml"))
                .arg("--target-dir")
                .arg(&target),
            Duration::from_secs(1200),
        );
        assert!(
            o.status.success() && built.is_file(),
            "building examples/bgp_inject.rs failed ({}); build it with \
             `cargo build -p rvpnd --example bgp_inject`:\n{}",
            o.status,
            output_text(&o)
        );
        built
    })
    .clone()
}

/// A running injector; its stdout and stderr in one log.
struct Injector {
    proc: Proc,
    log: PathBuf,
    _dir: Scratch,
}

impl Injector {
    fn start(ns: &Netns, args: &[&str]) -> Injector {
        let dir = Scratch::new("inject");
        let log = dir.join("inject.log");
        let bin = inject_bin().display().to_string();
        let mut argv = vec![bin.as_str()];
        argv.extend_from_slice(args);
        let proc = ns.spawn(&argv, &log);
        Injector {
            proc,
            log,
            _dir: dir,
        }
    }

    fn text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The first JSON line with `key`.
    fn line(&self, key: &str) -> Option<Value> {
        self.text()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v.get(key).is_some())
    }

    fn wait_line(&mut self, key: &str, timeout: Duration) -> Value {
        wait_until(&format!("injector reports {key}"), timeout, || {
            if let Some(v) = self.line(key) {
                return Ok(v);
            }
            match self.proc.exited() {
                Some(st) => Err(format!("injector exited ({st}):\n{}", self.text())),
                None => Err(format!("output so far:\n{}", self.text())),
            }
        })
    }
}

// ------------------------------------------------------------ scenarios

macro_rules! scenario {
    ($name:ident, $standin:ident) => {
        #[test]
        fn $name() {
            if ready() {
                scenarios::$name(Kind::Rvpn);
            }
        }

        #[test]
        #[ignore = "peer-side check: FRR stands in for rvpnd (run with --ignored)"]
        fn $standin() {
            if ready() {
                scenarios::$name(Kind::FrrStandIn);
            }
        }
    };
}

scenario!(frr_ebgp_ipv4, standin_frr_ebgp_ipv4);
scenario!(frr_ibgp_ipv4_ipv6, standin_frr_ibgp_ipv4_ipv6);
scenario!(bird_ebgp_ipv4_ipv6, standin_bird_ebgp_ipv4_ipv6);
scenario!(gobgp_ebgp, standin_gobgp_ebgp);
scenario!(gobgp_ibgp, standin_gobgp_ibgp);
scenario!(md5_matching_password, standin_md5_matching_password);
scenario!(md5_wrong_password, standin_md5_wrong_password);
scenario!(route_refresh_soft_in_out, standin_route_refresh_soft_in_out);
scenario!(route_maps_both_sides, standin_route_maps_both_sides);
scenario!(
    rfc8212_no_policy_no_routes,
    standin_rfc8212_no_policy_no_routes
);
scenario!(graceful_restart_helper, standin_graceful_restart_helper);
scenario!(
    malformed_med_treat_as_withdraw,
    standin_malformed_med_treat_as_withdraw
);
scenario!(multipath_two_ebgp_peers, standin_multipath_two_ebgp_peers);
scenario!(
    dynamic_neighbors_listen_range,
    standin_dynamic_neighbors_listen_range
);
scenario!(
    dynamic_neighbors_listen_limit,
    standin_dynamic_neighbors_listen_limit
);

mod scenarios {
    use super::*;

    /// 1: eBGP IPv4 with FRR: sessions, `network`s both ways, the shows,
    /// and a withdrawal.
    pub fn frr_ebgp_ipv4(kind: Kind) {
        let (na, nb) = two_nodes("frr");
        let dut = Dut::start(
            kind,
            &na,
            &format!(
                "router bgp 65000
 bgp router-id 10.0.0.1
 no bgp ebgp-requires-policy
 neighbor {PEER4} remote-as 65001
 address-family ipv4 unicast
  network 192.168.10.0/24
 exit-address-family
"
            ),
        );
        let frr = Frr::start(
            &nb,
            &format!(
                "{}{} address-family ipv4 unicast\n  network 10.20.0.0/24\n exit-address-family\n",
                frr_head(65001, "10.0.0.2"),
                frr_neighbor_lines(RV4, "65000")
            ),
        );
        let mut diag = Diag::new();
        diag.dut(&dut);
        diag.frr(&frr);

        wait_dut_established(&dut, PEER4, UP);
        frr.wait_established(RV4, UP);

        // rvpn's network at FRR, with rvpn's AS as the path.
        let p = wait_frr_path(&frr, "192.168.10.0/24", RV4, ROUTES);
        assert_eq!(p_path(&p), "65000", "FRR's path of rvpn's network: {p}");
        assert!(p_nexthops(&p).contains(&RV4.to_string()), "{p}");
        assert_eq!(frr.received_count(RV4), 1, "FRR's pfxRcd from rvpn");

        // FRR's network at rvpn.
        let p = wait_dut_path(&dut, "10.20.0.0/24", PEER4, ROUTES);
        assert_eq!(p_path(&p), "65001", "{p}");
        assert!(p_best(&p), "{p}");
        assert_eq!(p["pathFrom"], "external", "{p}");
        assert_eq!(p["origin"], "IGP", "{p}");
        assert!(p_nexthops(&p).contains(&PEER4.to_string()), "{p}");

        // The summary, the neighbor and its advertised routes.
        let s = dut.show("show ip bgp summary json");
        let v4 = &s["ipv4Unicast"];
        assert_eq!(v4["routerId"], "10.0.0.1", "{}", short(&s));
        assert_eq!(v4["as"], 65000, "{}", short(&s));
        let peer = &v4["peers"][PEER4];
        assert_eq!(peer["remoteAs"], 65001, "{}", short(&s));
        assert_eq!(peer["state"], "Established", "{}", short(&s));
        assert_eq!(peer["pfxRcd"], 1, "{}", short(&s));
        assert!(peer["pfxSnt"].as_u64() >= Some(1), "{}", short(&s));
        let n = dut.show(&format!("show ip bgp neighbors {PEER4} json"));
        let n = &n[PEER4];
        assert_eq!(n["bgpState"], "Established", "{}", short(n));
        assert_eq!(n["remoteAs"], 65001, "{}", short(n));
        assert_eq!(n["localAs"], 65000, "{}", short(n));
        let af = &n["addressFamilyInfo"]["ipv4Unicast"];
        assert_eq!(af["acceptedPrefixCounter"], 1, "{}", short(n));
        assert!(af["sentPrefixCounter"].as_u64() >= Some(1), "{}", short(n));
        let adv = dut.show(&format!(
            "show ip bgp neighbors {PEER4} advertised-routes json"
        ));
        assert!(
            adv["advertisedRoutes"].get("192.168.10.0/24").is_some(),
            "{}",
            short(&adv)
        );
        assert!(
            adv["totalPrefixCounter"].as_u64() >= Some(1),
            "{}",
            short(&adv)
        );

        // Withdrawal on FRR reaches rvpn.
        let t = Instant::now();
        frr.configure(&[
            "router bgp 65001",
            "address-family ipv4 unicast",
            "no network 10.20.0.0/24",
        ]);
        wait_dut_gone(&dut, "10.20.0.0/24", CHANGE);
        eprintln!("withdrawal reached {} in {:?}", dut.describe(), t.elapsed());
        dut_established(&dut, PEER4).expect("still Established after the withdrawal");
        assert_eq!(dut_peer(&dut, PEER4).expect("peer")["pfxRcd"], 0);
    }

    /// 2: iBGP with FRR over IPv4 and over IPv6 (one session per
    /// transport, each carrying its own family).
    pub fn frr_ibgp_ipv4_ipv6(kind: Kind) {
        let (na, nb) = two_nodes("frr");
        let dut = Dut::start(
            kind,
            &na,
            &format!(
                "router bgp 65000
 bgp router-id 10.0.0.1
 neighbor {PEER4} remote-as 65000
 neighbor {PEER6} remote-as 65000
 address-family ipv4 unicast
  network 192.168.10.0/24
 exit-address-family
 address-family ipv6 unicast
  network fd10::/64
  neighbor {PEER6} activate
 exit-address-family
"
            ),
        );
        let frr = Frr::start(
            &nb,
            &format!(
                "router bgp 65000
 bgp router-id 10.0.0.2
 no bgp network import-check
 no bgp default ipv4-unicast
{}{} address-family ipv4 unicast
  network 10.20.0.0/24
  neighbor {RV4} activate
 exit-address-family
 address-family ipv6 unicast
  network fd20::/64
  neighbor {RV6} activate
 exit-address-family
",
                frr_neighbor_lines(RV4, "65000"),
                frr_neighbor_lines(RV6, "65000")
            ),
        );
        let mut diag = Diag::new();
        diag.dut(&dut);
        diag.frr(&frr);

        wait_dut_established(&dut, PEER4, UP);
        wait_dut_established(&dut, PEER6, UP);
        frr.wait_established(RV4, UP);
        frr.wait_established(RV6, UP);
        let s = dut.show("show ip bgp summary json");
        assert_eq!(
            s["ipv6Unicast"]["peers"][PEER6]["state"],
            "Established",
            "{}",
            short(&s)
        );

        // rvpn learns FRR's prefixes: iBGP, LOCAL_PREF 100, FRR's next hops.
        let p4 = wait_dut_path(&dut, "10.20.0.0/24", PEER4, ROUTES);
        let p6 = wait_dut_path(&dut, "fd20::/64", PEER6, ROUTES);
        for (p, nh) in [(&p4, PEER4), (&p6, PEER6)] {
            assert_eq!(p["pathFrom"], "internal", "{p}");
            assert_eq!(p_path(p), "", "{p}");
            assert_eq!(p_u64(p, "locPrf"), Some(100), "{p}");
            assert!(
                p_nexthops(p).contains(&nh.to_string()),
                "next hop {nh}: {p}"
            );
        }

        // FRR learns rvpn's, with rvpn's addresses as next hops.
        let f4 = wait_frr_path(&frr, "192.168.10.0/24", RV4, ROUTES);
        let f6 = wait_frr_path(&frr, "fd10::/64", RV6, ROUTES);
        for (p, nh) in [(&f4, RV4), (&f6, RV6)] {
            assert_eq!(p_path(p), "", "{p}");
            assert_eq!(p_u64(p, "locPrf"), Some(100), "{p}");
            assert!(
                p_nexthops(p).contains(&nh.to_string()),
                "next hop {nh}: {p}"
            );
        }
        assert_eq!(frr.prefixes_from(RV4), ["192.168.10.0/24"]);
        assert_eq!(frr.prefixes_from(RV6), ["fd10::/64"]);
    }

    /// 3: eBGP with BIRD 2, one session per transport family.
    pub fn bird_ebgp_ipv4_ipv6(kind: Kind) {
        let (na, nb) = two_nodes("bird");
        let dut = Dut::start(
            kind,
            &na,
            &format!(
                "router bgp 65000
 bgp router-id 10.0.0.1
 no bgp ebgp-requires-policy
 neighbor {PEER4} remote-as 65002
 neighbor {PEER6} remote-as 65002
 address-family ipv4 unicast
  network 192.168.10.0/24
 exit-address-family
 address-family ipv6 unicast
  network fd10::/64
  neighbor {PEER6} activate
 exit-address-family
"
            ),
        );
        let bird = Bird::start_with(
            &nb,
            &format!(
                "router id 10.0.0.2;
protocol device {{ }}
protocol static s4 {{ ipv4; route 172.16.2.0/24 blackhole; }}
protocol static s6 {{ ipv6; route 2001:db8:2::/48 blackhole; }}
protocol bgp rv4 {{
  local {PEER4} as 65002; neighbor {RV4} as 65000;
  connect delay time 1; connect retry time 2; error wait time 1, 5;
  ipv4 {{ import all; export all; }};
}}
protocol bgp rv6 {{
  local {PEER6} as 65002; neighbor {RV6} as 65000;
  connect delay time 1; connect retry time 2; error wait time 1, 5;
  ipv6 {{ import all; export all; }};
}}
"
            ),
            BirdOpts::tagged("bird"),
        );
        let mut diag = Diag::new();
        diag.dut(&dut);
        diag.bird(&bird);

        bird.wait_established("rv4", UP);
        bird.wait_established("rv6", UP);
        wait_dut_established(&dut, PEER4, UP);
        wait_dut_established(&dut, PEER6, UP);

        let p4 = wait_dut_path(&dut, "172.16.2.0/24", PEER4, ROUTES);
        let p6 = wait_dut_path(&dut, "2001:db8:2::/48", PEER6, ROUTES);
        for (p, nh) in [(&p4, PEER4), (&p6, PEER6)] {
            assert_eq!(p_path(p), "65002", "{p}");
            assert_eq!(p["pathFrom"], "external", "{p}");
            assert!(
                p_nexthops(p).contains(&nh.to_string()),
                "next hop {nh}: {p}"
            );
        }

        wait_until("BIRD has rvpn's prefixes", ROUTES, || {
            let (a, b) = (bird.prefixes_from("rv4"), bird.prefixes_from("rv6"));
            if a == ["192.168.10.0/24"] && b == ["fd10::/64"] {
                Ok(())
            } else {
                Err(format!("rv4 {a:?}, rv6 {b:?}"))
            }
        });
        for (prefix, proto, nh) in [("192.168.10.0/24", "rv4", RV4), ("fd10::/64", "rv6", RV6)] {
            let routes = bird.route_detail(prefix);
            let r = routes
                .iter()
                .find(|r| r.proto == proto)
                .unwrap_or_else(|| panic!("BIRD: no {prefix} from {proto}: {routes:?}"));
            assert_eq!(r.as_path.as_deref(), Some("65000"), "{r:?}");
            assert!(r.primary, "{r:?}");
            assert_eq!(r.via.as_deref(), Some(nh), "{r:?}");
        }
        assert_eq!(bird.imported_count("rv4"), 1);
        assert_eq!(bird.imported_count("rv6"), 1);
    }

    fn gobgp_config(asn: u32, peer_as: u32) -> String {
        format!(
            r#"
[global.config]
  as = {asn}
  router-id = "10.0.0.3"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "{RV4}"
    peer-as = {peer_as}
  [neighbors.timers.config]
    connect-retry = 2
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
"#
        )
    }

    /// 4a: eBGP with GoBGP; a route added with `gobgp global rib add`
    /// and deleted again.
    pub fn gobgp_ebgp(kind: Kind) {
        let (na, nb) = two_nodes("gobgp");
        let dut = Dut::start(
            kind,
            &na,
            &format!(
                "router bgp 65000
 bgp router-id 10.0.0.1
 no bgp ebgp-requires-policy
 neighbor {PEER4} remote-as 65003
 address-family ipv4 unicast
  network 192.168.10.0/24
 exit-address-family
"
            ),
        );
        let gobgp = GoBgp::start_with(&nb, &gobgp_config(65003, 65000), GoBgpOpts::tagged("gobgp"));
        let mut diag = Diag::new();
        diag.dut(&dut);
        diag.gobgp(&gobgp);
        gobgp.add_route("172.16.3.0/24", PEER4);

        gobgp.wait_established(RV4, UP);
        wait_dut_established(&dut, PEER4, UP);

        let p = wait_dut_path(&dut, "172.16.3.0/24", PEER4, ROUTES);
        assert_eq!(p_path(&p), "65003", "{p}");
        assert_eq!(p["pathFrom"], "external", "{p}");
        assert!(p_nexthops(&p).contains(&PEER4.to_string()), "{p}");

        let g = wait_until("GoBGP has rvpn's prefix", ROUTES, || {
            let v = gobgp.paths("192.168.10.0/24");
            v.iter()
                .find(|p| p.neighbor.as_deref() == Some(RV4))
                .cloned()
                .ok_or_else(|| format!("{v:?}"))
        });
        assert_eq!(g.as_path, [65000], "{g:?}");
        assert_eq!(g.next_hop.as_deref(), Some(RV4), "{g:?}");
        assert!(g.best, "{g:?}");

        gobgp.del_route("172.16.3.0/24");
        wait_dut_gone(&dut, "172.16.3.0/24", CHANGE);
        dut_established(&dut, PEER4).expect("still Established");
    }

    /// 4b: iBGP with GoBGP (`remote-as internal`).
    pub fn gobgp_ibgp(kind: Kind) {
        let (na, nb) = two_nodes("gobgp");
        let dut = Dut::start(
            kind,
            &na,
            &format!(
                "router bgp 65000
 bgp router-id 10.0.0.1
 neighbor {PEER4} remote-as internal
 address-family ipv4 unicast
  network 192.168.10.0/24
 exit-address-family
"
            ),
        );
        let gobgp = GoBgp::start_with(&nb, &gobgp_config(65000, 65000), GoBgpOpts::tagged("gobgp"));
        let mut diag = Diag::new();
        diag.dut(&dut);
        diag.gobgp(&gobgp);
        gobgp.add_route("172.16.3.0/24", PEER4);

        gobgp.wait_established(RV4, UP);
        let s = wait_dut_established(&dut, PEER4, UP);
        assert_eq!(s["remoteAs"], 65000, "{s}");

        let p = wait_dut_path(&dut, "172.16.3.0/24", PEER4, ROUTES);
        assert_eq!(p["pathFrom"], "internal", "{p}");
        assert_eq!(p_path(&p), "", "{p}");
        assert_eq!(p_u64(&p, "locPrf"), Some(100), "{p}");
        assert!(p_nexthops(&p).contains(&PEER4.to_string()), "{p}");

        let g = wait_until("GoBGP has rvpn's prefix", ROUTES, || {
            let v = gobgp.paths("192.168.10.0/24");
            v.iter()
                .find(|p| p.neighbor.as_deref() == Some(RV4))
                .cloned()
                .ok_or_else(|| format!("{v:?}"))
        });
        assert!(g.as_path.is_empty(), "{g:?}");
        assert_eq!(g.local_pref, Some(100), "{g:?}");
        assert_eq!(g.next_hop.as_deref(), Some(RV4), "{g:?}");
    }

    const MD5: &str = "Md5-interop-0123";

    fn md5_lab(kind: Kind, rvpn_password: &str) -> (Netns, Netns, Dut, Frr) {
        let (na, nb) = two_nodes("frr");
        let dut = Dut::start(
            kind,
            &na,
            &format!(
                "router bgp 65000
 bgp router-id 10.0.0.1
 no bgp ebgp-requires-policy
 neighbor {PEER4} remote-as 65001
 neighbor {PEER4} password {rvpn_password}
 address-family ipv4 unicast
  network 192.168.10.0/24
 exit-address-family
"
            ),
        );
        let frr = Frr::start(
            &nb,
            &format!(
                "{}{} neighbor {RV4} password {MD5}\n address-family ipv4 unicast\n  \
                 network 10.20.0.0/24\n exit-address-family\n",
                frr_head(65001, "10.0.0.2"),
                frr_neighbor_lines(RV4, "65000")
            ),
        );
        (na, nb, dut, frr)
    }

    /// 5a: TCP MD5 with the same password on both ends.
    pub fn md5_matching_password(kind: Kind) {
        let (_na, _nb, dut, frr) = md5_lab(kind, MD5);
        let mut diag = Diag::new();
        diag.dut(&dut);
        diag.frr(&frr);
        wait_dut_established(&dut, PEER4, UP);
        frr.wait_established(RV4, UP);
        wait_dut_path(&dut, "10.20.0.0/24", PEER4, ROUTES);
        wait_frr_path(&frr, "192.168.10.0/24", RV4, ROUTES);
    }

    /// 5b: a wrong password on rvpn's side: no session on either side
    /// (while rvpn knows the neighbor); corrected, the session comes up.
    pub fn md5_wrong_password(kind: Kind) {
        let (_na, _nb, dut, frr) = md5_lab(kind, "Not-the-password");
        let mut diag = Diag::new();
        diag.dut(&dut);
        diag.frr(&frr);
        // rvpn knows the neighbor (so "not Established" below means
        // something).
        wait_until("rvpn lists the neighbor", CHANGE, || dut_peer(&dut, PEER4));
        let t = Instant::now();
        let mut states = BTreeSet::new();
        while t.elapsed() < NEVER {
            let p = dut_peer(&dut, PEER4)
                .unwrap_or_else(|e| panic!("rvpn must list the neighbor: {e}"));
            let st = p["state"].as_str().unwrap_or("<none>").to_string();
            assert_ne!(
                st, "Established",
                "rvpn Established with a wrong MD5 password: {p}"
            );
            let fst = frr.neighbor_state(RV4);
            assert_ne!(
                fst.as_deref(),
                Some("Established"),
                "FRR Established with a wrong MD5 password on rvpn"
            );
            states.insert(format!("rvpn {st} / FRR {fst:?}"));
            std::thread::sleep(Duration::from_millis(200));
        }
        eprintln!("states seen during {NEVER:?} with the wrong password: {states:?}");
        // The control: with the right password it comes up.
        dut.configure(&[
            "router bgp 65000",
            &format!("neighbor {PEER4} password {MD5}"),
        ]);
        wait_dut_established(&dut, PEER4, UP);
        frr.wait_established(RV4, UP);
    }

    /// 6: soft reconfiguration: inbound (route refresh) and outbound after
    /// route-map changes, with no session reset.
    pub fn route_refresh_soft_in_out(kind: Kind) {
        let (na, nb) = two_nodes("frr");
        let dut = Dut::start(
            kind,
            &na,
            &format!(
                "route-map IN permit 10
 set local-preference 200
 set community 65000:7 additive
route-map OUT permit 10
 set as-path prepend 65000 65000
router bgp 65000
 bgp router-id 10.0.0.1
 neighbor {PEER4} remote-as 65001
 address-family ipv4 unicast
  network 192.168.10.0/24
  neighbor {PEER4} route-map IN in
  neighbor {PEER4} route-map OUT out
 exit-address-family
"
            ),
        );
        // Route-maps first: FRR filters with a route-map it has not read
        // yet (the first UPDATEs go out without the route).
        let frr = Frr::start(
            &nb,
            &format!(
                "route-map TAG permit 10\n set community 65001:1\n{}{} address-family ipv4 \
                 unicast\n  network 10.20.0.0/24\n  neighbor {RV4} route-map TAG out\n \
                 exit-address-family\n",
                frr_head(65001, "10.0.0.2"),
                frr_neighbor_lines(RV4, "65000")
            ),
        );
        let mut diag = Diag::new();
        diag.dut(&dut);
        diag.frr(&frr);
        wait_dut_established(&dut, PEER4, UP);
        frr.wait_established(RV4, UP);

        let p = wait_dut_path(&dut, "10.20.0.0/24", PEER4, ROUTES);
        assert_eq!(p_u64(&p, "locPrf"), Some(200), "{p}");
        let d = dut_detail(&dut, "10.20.0.0/24");
        let want: BTreeSet<String> = ["65000:7", "65001:1"].map(String::from).into();
        assert!(
            d.iter().any(|p| p_communities(p) == want),
            "communities {want:?} (65001:1 from FRR, 65000:7 added by IN): {d:?}"
        );
        let f = wait_frr_path(&frr, "192.168.10.0/24", RV4, ROUTES);
        assert_eq!(p_path(&f), "65000 65000 65000", "{f}");

        let before = frr_neighbor(&frr, RV4);
        let dut_before = dut_peer(&dut, PEER4).expect("peer");
        let t_before = Instant::now();

        // Soft in: local-preference 300.
        dut.configure(&["route-map IN permit 10", "set local-preference 300"]);
        let t = Instant::now();
        dut.exec(&format!("clear ip bgp {PEER4} soft in"));
        wait_until("rvpn applies the new IN route-map", CHANGE, || {
            let p = dut_paths(&dut, "10.20.0.0/24")?;
            match p.iter().find(|p| p_peer(p) == PEER4) {
                Some(p) if p_u64(p, "locPrf") == Some(300) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        });
        eprintln!("soft in: locPrf 300 after {:?}", t.elapsed());
        let d = dut_detail(&dut, "10.20.0.0/24");
        assert!(d.iter().any(|p| p_communities(p) == want), "{d:?}");

        // Soft out: one prepend instead of two.
        dut.configure(&["route-map OUT permit 10", "set as-path prepend 65000"]);
        let t = Instant::now();
        dut.exec(&format!("clear ip bgp {PEER4} soft out"));
        wait_until("FRR sees the new OUT route-map", CHANGE, || {
            let f = frr_path(&frr, "192.168.10.0/24", RV4)?;
            match p_path(&f).as_str() {
                "65000 65000" => Ok(()),
                other => Err(other.to_string()),
            }
        });
        eprintln!("soft out: FRR saw the new path after {:?}", t.elapsed());

        // No reset: FRR's connection counters, both uptimes.
        let after = frr_neighbor(&frr, RV4);
        let dut_after = dut_peer(&dut, PEER4).expect("peer");
        for k in ["connectionsEstablished", "connectionsDropped"] {
            assert_eq!(
                after[k], before[k],
                "FRR's {k}: before {before}\nafter {after}"
            );
        }
        assert_eq!(after["bgpState"], "Established");
        // Uptimes (FRR's in whole seconds) grew by the time that passed.
        let passed = t_before.elapsed().as_millis();
        assert!(
            uptime_grew(
                &before["bgpTimerUpMsec"],
                &after["bgpTimerUpMsec"],
                t_before
            ),
            "FRR's session uptime {} -> {} over {passed} ms: reset",
            before["bgpTimerUpMsec"],
            after["bgpTimerUpMsec"]
        );
        assert!(
            uptime_grew(
                &dut_before["peerUptimeMsec"],
                &dut_after["peerUptimeMsec"],
                t_before
            ),
            "rvpn's peerUptimeMsec over {passed} ms: {dut_before} -> {dut_after}: reset"
        );
        eprintln!(
            "FRR: ROUTE-REFRESH received {} -> {}",
            before["messageStats"]["routeRefreshRecv"], after["messageStats"]["routeRefreshRecv"]
        );
    }

    /// 7: route-maps on both sides: FRR sets a MED on what it sends; rvpn
    /// filters with a prefix-list and sets local-preference on what it
    /// receives, and prepends and sets a MED on what it sends.
    pub fn route_maps_both_sides(kind: Kind) {
        let (na, nb) = two_nodes("frr");
        let dut = Dut::start(
            kind,
            &na,
            &format!(
                "ip prefix-list PL seq 5 permit 10.20.0.0/16 le 24
route-map FROM-FRR permit 10
 match ip address prefix-list PL
 set local-preference 150
route-map TO-FRR permit 10
 set as-path prepend 65000
 set metric 20
router bgp 65000
 bgp router-id 10.0.0.1
 neighbor {PEER4} remote-as 65001
 address-family ipv4 unicast
  network 192.168.10.0/24
  neighbor {PEER4} route-map FROM-FRR in
  neighbor {PEER4} route-map TO-FRR out
 exit-address-family
"
            ),
        );
        let frr = Frr::start(
            &nb,
            &format!(
                "route-map SETMED permit 10\n set metric 50\n{}{} address-family ipv4 unicast\n  \
                 network 10.20.0.0/24\n  network 10.30.0.0/24\n  neighbor {RV4} route-map \
                 SETMED out\n exit-address-family\n",
                frr_head(65001, "10.0.0.2"),
                frr_neighbor_lines(RV4, "65000")
            ),
        );
        let mut diag = Diag::new();
        diag.dut(&dut);
        diag.frr(&frr);
        wait_dut_established(&dut, PEER4, UP);
        frr.wait_established(RV4, UP);

        let p = wait_dut_path(&dut, "10.20.0.0/24", PEER4, ROUTES);
        assert_eq!(p_u64(&p, "metric"), Some(50), "FRR's MED: {p}");
        assert_eq!(
            p_u64(&p, "locPrf"),
            Some(150),
            "rvpn's local-preference: {p}"
        );
        assert_eq!(p_path(&p), "65001", "{p}");
        // FRR sent both; the prefix-list let one in.
        wait_until("FRR advertised both networks to rvpn", ROUTES, || {
            let v = frr.show_json(&format!(
                "show bgp ipv4 unicast neighbors {RV4} advertised-routes json"
            ));
            let a = &v["advertisedRoutes"];
            if a.get("10.20.0.0/24").is_some() && a.get("10.30.0.0/24").is_some() {
                Ok(())
            } else {
                Err(short(&v))
            }
        });
        std::thread::sleep(Duration::from_secs(1));
        let p30 = dut_paths(&dut, "10.30.0.0/24").expect("show");
        assert!(
            p30.is_empty(),
            "10.30.0.0/24 passed the prefix-list: {p30:?}"
        );
        assert_eq!(dut_peer(&dut, PEER4).expect("peer")["pfxRcd"], 1);

        let f = wait_frr_path(&frr, "192.168.10.0/24", RV4, ROUTES);
        assert_eq!(p_path(&f), "65000 65000", "rvpn's prepend: {f}");
        assert_eq!(p_u64(&f, "metric"), Some(20), "rvpn's MED: {f}");
    }

    /// 8: RFC 8212: an eBGP session without policies carries nothing
    /// either way; route-maps in and out (and soft clears) let it flow.
    pub fn rfc8212_no_policy_no_routes(kind: Kind) {
        let (na, nb) = two_nodes("frr");
        let dut = Dut::start(
            kind,
            &na,
            &format!(
                "router bgp 65000
 bgp router-id 10.0.0.1
 neighbor {PEER4} remote-as 65001
 address-family ipv4 unicast
  network 192.168.10.0/24
 exit-address-family
"
            ),
        );
        let frr = Frr::start(
            &nb,
            &format!(
                "{}{} address-family ipv4 unicast\n  network 10.20.0.0/24\n exit-address-family\n",
                frr_head(65001, "10.0.0.2"),
                frr_neighbor_lines(RV4, "65000")
            ),
        );
        let mut diag = Diag::new();
        diag.dut(&dut);
        diag.frr(&frr);
        wait_dut_established(&dut, PEER4, UP);
        frr.wait_established(RV4, UP);

        // FRR did send its network; rvpn has its own to send.
        wait_until("FRR advertised 10.20.0.0/24 to rvpn", ROUTES, || {
            let v = frr.show_json(&format!(
                "show bgp ipv4 unicast neighbors {RV4} advertised-routes json"
            ));
            v["advertisedRoutes"]
                .get("10.20.0.0/24")
                .map(|_| ())
                .ok_or_else(|| short(&v))
        });
        let own = dut_paths(&dut, "192.168.10.0/24").expect("show");
        assert!(!own.is_empty(), "rvpn's own network is not in its table");
        std::thread::sleep(Duration::from_secs(3));
        let p = dut_established(&dut, PEER4).expect("the session stays up");
        assert_eq!(
            p["pfxRcd"].as_u64(),
            Some(0),
            "rvpn accepted routes without policy: {p}"
        );
        let learnt = dut_paths(&dut, "10.20.0.0/24").expect("show");
        assert!(learnt.is_empty(), "rvpn accepted {learnt:?}");
        assert_eq!(
            frr.received_count(RV4),
            0,
            "rvpn sent routes without policy"
        );
        assert!(frr.prefixes_from(RV4).is_empty());
        assert!(frr.established(RV4));

        dut.configure(&[
            "route-map ALL permit 10",
            "exit",
            "router bgp 65000",
            "address-family ipv4 unicast",
            &format!("neighbor {PEER4} route-map ALL in"),
            &format!("neighbor {PEER4} route-map ALL out"),
        ]);
        dut.exec(&format!("clear ip bgp {PEER4} soft in"));
        dut.exec(&format!("clear ip bgp {PEER4} soft out"));
        wait_dut_path(&dut, "10.20.0.0/24", PEER4, ROUTES);
        wait_frr_path(&frr, "192.168.10.0/24", RV4, ROUTES);
    }

    /// 9: graceful restart, rvpn as helper: FRR (`bgp graceful-restart`,
    /// forwarding state preserved) is killed and restarted; rvpn keeps its
    /// routes, marked stale, never losing one, and drops the stale route
    /// FRR does not announce again once FRR's End-of-RIB is in.
    pub fn graceful_restart_helper(kind: Kind) {
        let (na, nb) = two_nodes("frr");
        let dut = Dut::start(
            kind,
            &na,
            &format!(
                "router bgp 65000
 bgp router-id 10.0.0.1
 no bgp ebgp-requires-policy
 neighbor {PEER4} remote-as 65001
 address-family ipv4 unicast
  network 192.168.10.0/24
 exit-address-family
"
            ),
        );
        // Without preserve-fw-state FRR sends the F bit clear, and a helper
        // must then drop the stale routes at once (RFC 4724 4.2).
        let mut frr = Frr::start(
            &nb,
            &format!(
                "debug bgp graceful-restart\n{} bgp graceful-restart\n bgp graceful-restart \
                 preserve-fw-state\n{} address-family ipv4 unicast\n  network 10.20.0.0/24\n \
                 exit-address-family\n",
                frr_head(65001, "10.0.0.2"),
                frr_neighbor_lines(RV4, "65000")
            ),
        );
        let mut diag = Diag::new();
        diag.dut(&dut);
        diag.frr(&frr);
        wait_dut_established(&dut, PEER4, UP);
        frr.wait_established(RV4, UP);
        // A route only the running FRR has (not in its configuration file):
        // gone after the restart.
        frr.configure(&[
            "router bgp 65001",
            "address-family ipv4 unicast",
            "network 10.21.0.0/24",
        ]);
        wait_dut_path(&dut, "10.20.0.0/24", PEER4, ROUTES);
        wait_dut_path(&dut, "10.21.0.0/24", PEER4, ROUTES);
        let n = dut.show(&format!("show ip bgp neighbors {PEER4} json"));
        assert_eq!(
            n[PEER4]["neighborCapabilities"]["gracefulRestart"],
            "advertisedAndReceived",
            "{}",
            short(&n[PEER4]["neighborCapabilities"])
        );
        let f = frr_neighbor(&frr, RV4);
        assert_eq!(
            f["neighborCapabilities"]["gracefulRestart"],
            "advertisedAndReceived",
            "FRR's view of rvpn's GR capability: {}",
            short(&f["neighborCapabilities"])
        );
        let uptime_before = dut_peer(&dut, PEER4).expect("peer")["peerUptimeMsec"].clone();
        let t_uptime = Instant::now();

        // (ms since start, 10.20 present, 10.20 stale, 10.21 present), or
        // the show's error.
        type Sample = (u128, Result<(bool, bool, bool), String>);
        let samples: Mutex<Vec<Sample>> = Mutex::new(Vec::new());
        let stop = AtomicBool::new(false);
        struct StopOnDrop<'a>(&'a AtomicBool);
        impl Drop for StopOnDrop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let t0 = Instant::now();
        let stale_seen = || {
            samples
                .lock()
                .expect("samples")
                .iter()
                .any(|(_, r)| matches!(r, Ok((true, true, _))))
        };
        std::thread::scope(|s| {
            s.spawn(|| {
                // Bounded: at most 120 s of 100 ms polls.
                for _ in 0..1200 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let r = dut.try_show("show ip bgp json").map(|t| {
                        let p20 = paths_in(&t, "10.20.0.0/24");
                        let p21 = paths_in(&t, "10.21.0.0/24");
                        (
                            !p20.is_empty(),
                            p20.iter().any(|p| p_flag(p, "stale")),
                            !p21.is_empty(),
                        )
                    });
                    samples
                        .lock()
                        .expect("samples")
                        .push((t0.elapsed().as_millis(), r));
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
            let _stop = StopOnDrop(&stop);
            let pid_before = frr.bgpd_pid();
            frr.kill();
            wait_until("rvpn marks FRR's routes stale", CHANGE, || {
                if stale_seen() {
                    Ok(())
                } else {
                    Err(format!("{:?}", samples.lock().expect("samples").last()))
                }
            });
            std::thread::sleep(Duration::from_secs(1));
            frr.restart();
            assert_ne!(frr.bgpd_pid(), pid_before, "bgpd restarted");
            frr.wait_established(RV4, UP);
            wait_until(
                "stale route refreshed, leftover removed",
                ROUTES,
                || match samples.lock().expect("samples").last() {
                    Some((_, Ok((true, false, false)))) => Ok(()),
                    other => Err(format!("{other:?}")),
                },
            );
        });

        let samples = samples.into_inner().expect("samples");
        // The timeline, runs of equal samples, for the report.
        let mut runs: Vec<(u128, u128, String)> = Vec::new();
        for (t, r) in &samples {
            let s = match r {
                Ok((p, st, p21)) => format!("10.20 present={p} stale={st}, 10.21 present={p21}"),
                Err(e) => format!("show failed: {e}"),
            };
            match runs.last_mut() {
                Some(last) if last.2 == s => last.1 = *t,
                _ => runs.push((*t, *t, s)),
            }
        }
        let timeline: String = runs
            .iter()
            .map(|(a, b, s)| format!("  {a:>6}..{b:>6} ms: {s}\n"))
            .collect();
        eprintln!("graceful restart, rvpn's view every 100 ms:\n{timeline}");
        assert!(
            samples.iter().all(|(_, r)| matches!(r, Ok((true, _, _)))),
            "10.20.0.0/24 went missing (or the show failed) during the restart:\n{timeline}"
        );
        let uptime_after =
            dut_established(&dut, PEER4).expect("Established again")["peerUptimeMsec"].clone();
        assert!(
            !uptime_grew(&uptime_before, &uptime_after, t_uptime),
            "a new session: peerUptimeMsec {uptime_before} {:?} ago, {uptime_after} now",
            t_uptime.elapsed()
        );
    }

    /// 10: RFC 7606: an UPDATE whose MULTI_EXIT_DISC has length 2, for a
    /// prefix announced before, withdraws that prefix; the session stays.
    pub fn malformed_med_treat_as_withdraw(kind: Kind) {
        let (na, nb) = two_nodes("inj");
        let dut = Dut::start(
            kind,
            &na,
            &format!(
                "router bgp 65000
 bgp router-id 10.0.0.1
 no bgp ebgp-requires-policy
 neighbor {PEER4} remote-as 65010
 neighbor {PEER4} timers 1 3
"
            ),
        );
        let mut inj = Injector::start(
            &nb,
            &[
                "--peer",
                RV4,
                "--local-as",
                "65010",
                "--peer-as",
                "65000",
                "--router-id",
                PEER4,
                "--count",
                "3",
                "--base",
                "10.200.0.0",
                "--prefix-len",
                "24",
                "--malformed-med",
                "10.200.1.0/24",
                "--malformed-after",
                "8",
            ],
        );
        let mut diag = Diag::new();
        diag.dut(&dut);
        diag.file("injector output", &inj.log);

        inj.wait_line("sent_all_at_ms", UP);
        wait_dut_established(&dut, PEER4, UP);
        for p in ["10.200.0.0/24", "10.200.1.0/24", "10.200.2.0/24"] {
            wait_dut_path(&dut, p, PEER4, ROUTES);
        }
        assert!(
            inj.line("malformed_sent_at_ms").is_none(),
            "the malformed UPDATE went out before the check (slow machine?): raise --malformed-after"
        );
        let before = dut_established(&dut, PEER4).expect("peer");
        let t_before = Instant::now();
        let m = inj.wait_line("malformed_sent_at_ms", Duration::from_secs(15));
        eprintln!("injector: {m}");
        wait_dut_gone(&dut, "10.200.1.0/24", CHANGE);
        for p in ["10.200.0.0/24", "10.200.2.0/24"] {
            assert!(
                !dut_paths(&dut, p).expect("show").is_empty(),
                "{p} lost too"
            );
        }
        // Still the same session, and it keeps receiving (KEEPALIVEs every
        // second: hold time 3).
        let rcvd = before["msgRcvd"].as_u64().unwrap_or(0);
        let after = wait_until("msgRcvd keeps growing", CHANGE, || {
            let p = dut_established(&dut, PEER4)?;
            if p["msgRcvd"].as_u64().unwrap_or(0) >= rcvd + 3 {
                Ok(p)
            } else {
                Err(format!("msgRcvd {rcvd} before: {p}"))
            }
        });
        assert!(
            uptime_grew(
                &before["peerUptimeMsec"],
                &after["peerUptimeMsec"],
                t_before
            ),
            "the session was reset: {before} -> {after}"
        );
        assert_eq!(after["pfxRcd"], 2, "{after}");
        assert!(
            inj.proc.exited().is_none(),
            "the injector's session ended:\n{}",
            inj.text()
        );
    }

    /// 11: the same prefix from two eBGP peers of different ASes with equal
    /// path lengths: two multipaths, one best.
    pub fn multipath_two_ebgp_peers(kind: Kind) {
        let na = Netns::new("rv");
        let nb = Netns::new("frra");
        let nc = Netns::new("frrb");
        veth(&na, &nb, "10.1.0.1/24", "10.1.0.2/24");
        veth(&na, &nc, "10.2.0.1/24", "10.2.0.2/24");
        let dut = Dut::start(
            kind,
            &na,
            "router bgp 65000
 bgp router-id 10.0.0.1
 no bgp ebgp-requires-policy
 bgp bestpath as-path multipath-relax
 neighbor 10.1.0.2 remote-as 65001
 neighbor 10.2.0.2 remote-as 65002
 address-family ipv4 unicast
  maximum-paths 2
 exit-address-family
",
        );
        let spoke = |ns: &Netns, tag: &str, asn: u32, rid: &str, rvpn: &str| {
            Frr::start_with(
                ns,
                &format!(
                    "{}{} address-family ipv4 unicast\n  network 10.50.0.0/24\n \
                     exit-address-family\n",
                    frr_head(asn, rid),
                    frr_neighbor_lines(rvpn, "65000")
                ),
                FrrOpts::tagged(tag),
            )
        };
        let fa = spoke(&nb, "frra", 65001, "10.0.0.2", "10.1.0.1");
        let fb = spoke(&nc, "frrb", 65002, "10.0.0.3", "10.2.0.1");
        let mut diag = Diag::new();
        diag.dut(&dut);
        diag.frr(&fa);
        diag.frr(&fb);
        wait_dut_established(&dut, "10.1.0.2", UP);
        wait_dut_established(&dut, "10.2.0.2", UP);

        let paths = wait_until("two paths of 10.50.0.0/24", ROUTES, || {
            let p = dut_paths(&dut, "10.50.0.0/24")?;
            let from: BTreeSet<String> = p.iter().map(p_peer).collect();
            // Both in, and best path selection done.
            if from.contains("10.1.0.2") && from.contains("10.2.0.2") && p.iter().any(p_best) {
                Ok(p)
            } else {
                Err(format!("{p:?}"))
            }
        });
        assert_eq!(paths.len(), 2, "{paths:?}");
        assert_eq!(
            paths.iter().filter(|p| p_best(p)).count(),
            1,
            "one best: {paths:?}"
        );
        for p in &paths {
            assert!(p_flag(p, "valid"), "{p}");
            // FRR 8.4 leaves "multipath" out of the best path's entry in
            // its tables (its detail view has it); rvpn's contract has it
            // on both.
            if kind == Kind::Rvpn || !p_best(p) {
                assert!(p_flag(p, "multipath"), "both are multipaths: {paths:?}");
            }
        }
        let detail = dut_detail(&dut, "10.50.0.0/24");
        assert_eq!(detail.len(), 2, "{detail:?}");
        assert!(
            detail.iter().all(|p| p_flag(p, "multipath")),
            "`show ip bgp 10.50.0.0/24 json`: both multipaths: {detail:?}"
        );
        assert_eq!(detail.iter().filter(|p| p_best(p)).count(), 1, "{detail:?}");
        let paths_seen: BTreeSet<String> = paths.iter().map(p_path).collect();
        assert_eq!(paths_seen, ["65001", "65002"].map(String::from).into());
        if kind != Kind::Rvpn {
            return;
        }
        // rvpn's RIB installs both as one kernel route with two next hops.
        let kernel = wait_until("an ECMP kernel route", ROUTES, || {
            let out = na.exec_ok(&["ip", "route", "show", "10.50.0.0/24"]);
            if out.contains("proto 202")
                && out.contains("nexthop via 10.1.0.2")
                && out.contains("nexthop via 10.2.0.2")
            {
                Ok(out)
            } else {
                Err(out)
            }
        });
        eprintln!("kernel: {kernel}");
        let Dut::Rvpn(r) = &dut else { return };
        let v = r.show_json("show ip route 10.50.0.0/24 json");
        let e = &v["10.50.0.0/24"][0];
        assert_eq!(e["protocol"], "bgp", "{v:#}");
        assert_eq!(e["installed"], true, "{v:#}");
        assert_eq!(e["nexthops"].as_array().map(Vec::len), Some(2), "{v:#}");
    }

    fn hub_lab(kind: Kind, limit: Option<u32>) -> (Netns, Netns, Netns, Dut) {
        let na = Netns::new("hub");
        let n1 = Netns::new("spk1");
        let n2 = Netns::new("spk2");
        veth(&na, &n1, "10.9.1.1/24", "10.9.1.2/24");
        veth(&na, &n2, "10.9.2.1/24", "10.9.2.2/24");
        let dut = Dut::start(
            kind,
            &na,
            &format!(
                "router bgp 65000
 bgp router-id 10.0.0.1
 no bgp ebgp-requires-policy
 neighbor SPOKES peer-group
 neighbor SPOKES remote-as external
 bgp listen range 10.9.0.0/16 peer-group SPOKES
{} address-family ipv4 unicast
  network 192.168.10.0/24
 exit-address-family
",
                limit
                    .map(|n| format!(" bgp listen limit {n}\n"))
                    .unwrap_or_default()
            ),
        );
        (na, n1, n2, dut)
    }

    fn spoke(ns: &Netns, n: u32) -> Frr {
        Frr::start_with(
            ns,
            &format!(
                "{}{} address-family ipv4 unicast\n  network 10.10{n}.0.0/24\n \
                 exit-address-family\n",
                frr_head(65100 + n, &format!("10.0.1.{n}")),
                frr_neighbor_lines(&format!("10.9.{n}.1"), "65000")
            ),
            FrrOpts::tagged(&format!("spoke{n}")),
        )
    }

    /// 12a: two spokes inside the listen range come up as dynamic peers.
    pub fn dynamic_neighbors_listen_range(kind: Kind) {
        let (_na, n1, n2, dut) = hub_lab(kind, None);
        let s1 = spoke(&n1, 1);
        let s2 = spoke(&n2, 2);
        let mut diag = Diag::new();
        diag.dut(&dut);
        diag.frr(&s1);
        diag.frr(&s2);
        s1.wait_established("10.9.1.1", UP);
        s2.wait_established("10.9.2.1", UP);
        for (peer, asn) in [("10.9.1.2", 65101), ("10.9.2.2", 65102)] {
            let p = wait_dut_established(&dut, peer, UP);
            assert_eq!(p["dynamicPeer"], true, "{p}");
            assert_eq!(p["remoteAs"], asn, "{p}");
        }
        wait_dut_path(&dut, "10.101.0.0/24", "10.9.1.2", ROUTES);
        wait_dut_path(&dut, "10.102.0.0/24", "10.9.2.2", ROUTES);
        wait_frr_path(&s1, "192.168.10.0/24", "10.9.1.1", ROUTES);
        wait_frr_path(&s2, "192.168.10.0/24", "10.9.2.1", ROUTES);
    }

    /// 12b: `bgp listen limit 1`: the second spoke is refused; with the
    /// limit raised to 2 it comes up.
    pub fn dynamic_neighbors_listen_limit(kind: Kind) {
        let (_na, n1, n2, dut) = hub_lab(kind, Some(1));
        let s1 = spoke(&n1, 1);
        let mut diag = Diag::new();
        diag.dut(&dut);
        diag.frr(&s1);
        s1.wait_established("10.9.1.1", UP);
        wait_dut_established(&dut, "10.9.1.2", UP);
        let s2 = spoke(&n2, 2);
        diag.frr(&s2);
        let t = Instant::now();
        let mut states = BTreeSet::new();
        while t.elapsed() < NEVER {
            let st = s2.neighbor_state("10.9.2.1");
            assert_ne!(
                st.as_deref(),
                Some("Established"),
                "spoke 2 got in over the limit"
            );
            assert!(s1.established("10.9.1.1"), "spoke 1 lost its session");
            states.insert(format!("{st:?}"));
            std::thread::sleep(Duration::from_millis(200));
        }
        eprintln!("spoke 2's states during {NEVER:?} over the limit: {states:?}");
        let s = dut.show("show ip bgp summary json");
        let peers = s["ipv4Unicast"]["peers"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert!(
            !peers
                .iter()
                .any(|(k, v)| k == "10.9.2.2" && v["state"] == "Established"),
            "{}",
            short(&s)
        );
        // The control: room for two.
        dut.configure(&["router bgp 65000", "bgp listen limit 2"]);
        s2.wait_established("10.9.2.1", UP);
        wait_dut_established(&dut, "10.9.2.2", UP);
    }
}
