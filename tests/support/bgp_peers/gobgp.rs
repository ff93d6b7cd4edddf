//! GoBGP (gobgpd and the gobgp CLI) in a namespace; parsing of its JSON.

use super::super::netns::Netns;
use super::super::{output_text, run_timeout, wait_for, Proc, Scratch};
use super::{
    append_mark, is_prefix, read, spawn_daemon, tail, wait_up, BgpSpeaker, CTL_TIMEOUT, GOBGP,
    GOBGPD, LOG_TAIL,
};
use serde_json::Value;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// Parallel `gobgp` CLI shells of [`GoBgp::add_routes`].
pub const ADD_ROUTE_JOBS: usize = 4;

/// How to start GoBGP.
#[derive(Debug, Clone)]
pub struct GoBgpOpts {
    /// Short name used in paths and messages.
    pub tag: String,
    /// gRPC API port, bound to 127.0.0.1 inside the namespace (so 50051,
    /// the CLI's default, suits every instance in its own namespace).
    pub api_port: u16,
    /// gobgpd `-l`: "debug", "info", "warn" ...
    pub log_level: String,
}

impl Default for GoBgpOpts {
    fn default() -> Self {
        GoBgpOpts {
            tag: "gobgp".into(),
            api_port: 50051,
            log_level: "info".into(),
        }
    }
}

impl GoBgpOpts {
    pub fn tagged(tag: &str) -> GoBgpOpts {
        GoBgpOpts {
            tag: tag.into(),
            ..GoBgpOpts::default()
        }
    }
}

/// One neighbor as `gobgp -j neighbor` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoBgpNeighbor {
    pub address: String,
    pub peer_as: u32,
    /// "idle", "connect", "active", "opensent", "openconfirm",
    /// "established" ("unknown" when absent).
    pub state: String,
    /// Paths received and accepted, summed over address families.
    pub received: u64,
    pub accepted: u64,
}

/// gobgpd in a namespace (`gobgpd -f DIR/gobgpd.toml -p --api-hosts
/// 127.0.0.1:PORT --pprof-disable`, log on stdout to DIR/gobgpd.log),
/// driven with the gobgp CLI inside the namespace; killed on drop.
pub struct GoBgp {
    ns: String,
    opts: GoBgpOpts,
    dir: Scratch,
    proc: Option<Proc>,
    batches: usize,
}

impl GoBgp {
    /// Start gobgpd in `ns` with `config` (TOML); returns once its API
    /// answers (`gobgp global`).
    pub fn start(ns: &Netns, config: &str) -> GoBgp {
        Self::start_with(ns, config, GoBgpOpts::default())
    }

    pub fn start_with(ns: &Netns, config: &str, opts: GoBgpOpts) -> GoBgp {
        let dir = Scratch::new(&opts.tag);
        let mut g = GoBgp {
            ns: ns.name().to_string(),
            opts,
            dir,
            proc: None,
            batches: 0,
        };
        fs::write(g.config_path(), config).expect("write gobgpd.toml");
        g.launch();
        g
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
    pub fn ns(&self) -> &str {
        &self.ns
    }
    pub fn tag(&self) -> &str {
        &self.opts.tag
    }
    pub fn api_port(&self) -> u16 {
        self.opts.api_port
    }
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("gobgpd.toml")
    }
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("gobgpd.log")
    }
    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().map(|p| p.id())
    }

    fn launch(&mut self) {
        let argv: Vec<String> = vec![
            GOBGPD.into(),
            "-f".into(),
            self.config_path().display().to_string(),
            "-t".into(),
            "toml".into(),
            "-p".into(),
            "-l".into(),
            self.opts.log_level.clone(),
            "--api-hosts".into(),
            format!("127.0.0.1:{}", self.opts.api_port),
            "--pprof-disable".into(),
        ];
        let what = format!("gobgpd {}", self.opts.tag);
        let proc = spawn_daemon(&self.ns, &argv, &self.log_path(), false, &what);
        self.proc = Some(wait_up(
            proc,
            &format!("{what} in {}", self.ns),
            || self.gobgp(&["global"]).status.success(),
            || self.log(),
        ));
    }

    fn cli_prefix(&self) -> Vec<String> {
        vec![
            GOBGP.into(),
            "-u".into(),
            "127.0.0.1".into(),
            "-p".into(),
            self.opts.api_port.to_string(),
        ]
    }

    /// Run `gobgp -u 127.0.0.1 -p PORT ARGS...` inside the namespace
    /// (bounded: 15 s).
    pub fn gobgp(&self, args: &[&str]) -> Output {
        let mut argv = self.cli_prefix();
        argv.extend(args.iter().map(|s| s.to_string()));
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns]).args(&argv);
        run_timeout(&mut c, CTL_TIMEOUT)
    }

    /// Like [`GoBgp::gobgp`], but panics (with the log) unless it
    /// succeeds; its stdout.
    pub fn gobgp_ok(&self, args: &[&str]) -> String {
        let o = self.gobgp(args);
        assert!(
            o.status.success(),
            "gobgp {args:?} in {} failed ({}):\n{}\n--- log:\n{}",
            self.ns,
            o.status,
            output_text(&o),
            tail(&self.log(), LOG_TAIL)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// `gobgp -j ARGS...`, parsed ("null" and empty output give Null).
    pub fn gobgp_json(&self, args: &[&str]) -> Value {
        let mut a = vec!["-j"];
        a.extend_from_slice(args);
        let out = self.gobgp_ok(&a);
        if out.trim().is_empty() {
            return Value::Null;
        }
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("gobgp {a:?} is not JSON ({e}):\n{out}"))
    }

    /// All neighbors (`gobgp -j neighbor`).
    pub fn neighbors(&self) -> Vec<GoBgpNeighbor> {
        parse_gobgp_neighbors(&self.gobgp_json(&["neighbor"]))
    }

    /// Whether the session with `address` is established.
    pub fn established(&self, address: &str) -> bool {
        self.neighbors()
            .iter()
            .any(|n| n.address == address && n.state == "established")
    }

    /// Wait (at most `timeout`) for the session with `address`; panics
    /// with `gobgp neighbor` and the log otherwise.
    pub fn wait_established(&self, address: &str, timeout: Duration) {
        if !wait_for(|| self.established(address), timeout) {
            panic!(
                "GoBGP {} in {}: neighbor {address} not established after {timeout:?}\n{}\n--- log:\n{}",
                self.opts.tag,
                self.ns,
                self.state_dump(),
                tail(&self.log(), LOG_TAIL)
            );
        }
    }

    /// Wait (at most `timeout`) until every neighbor is established (and
    /// there is at least one).
    pub fn wait_all_established(&self, timeout: Duration) {
        let ok = wait_for(
            || {
                let n = self.neighbors();
                !n.is_empty() && n.iter().all(|n| n.state == "established")
            },
            timeout,
        );
        if !ok {
            panic!(
                "GoBGP {} in {}: not all neighbors established after {timeout:?}\n{}\n--- log:\n{}",
                self.opts.tag,
                self.ns,
                self.state_dump(),
                tail(&self.log(), LOG_TAIL)
            );
        }
    }

    /// Prefixes of the global RIB of one family ("ipv4", "ipv6"), sorted.
    pub fn rib_family(&self, family: &str) -> Vec<String> {
        let v = self.gobgp_json(&["global", "rib", "-a", family]);
        let mut out: Vec<String> = v
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        out.sort();
        out
    }

    /// Prefixes of the global RIB, IPv4 and IPv6, sorted (own routes
    /// included).
    pub fn rib(&self) -> Vec<String> {
        let mut v = self.rib_family("ipv4");
        v.extend(self.rib_family("ipv6"));
        v.sort();
        v
    }

    fn family_of(prefix: &str) -> &'static str {
        if prefix.contains(':') {
            "ipv6"
        } else {
            "ipv4"
        }
    }

    /// `gobgp global rib add -a FAMILY PREFIX nexthop NEXTHOP`.
    pub fn add_route(&self, prefix: &str, nexthop: &str) {
        let af = Self::family_of(prefix);
        self.gobgp_ok(&["global", "rib", "add", "-a", af, prefix, "nexthop", nexthop]);
    }

    /// `gobgp global rib del -a FAMILY PREFIX`.
    pub fn del_route(&self, prefix: &str) {
        let af = Self::family_of(prefix);
        self.gobgp_ok(&["global", "rib", "del", "-a", af, prefix]);
    }

    /// Add many `(prefix, nexthop)` routes: one `gobgp global rib add`
    /// each, from shell scripts run by one `ip netns exec`, in
    /// [`ADD_ROUTE_JOBS`] parallel shells (about 9 ms a route here on 2
    /// cores, 14 ms serially); bounded by 30 s plus 100 ms a route. Panics
    /// if any `gobgp` fails (each shell stops at its first failure).
    pub fn add_routes(&mut self, routes: &[(String, String)]) {
        let cli = self.cli_prefix().join(" ");
        self.batches += 1;
        let chunk = routes.len().div_ceil(ADD_ROUTE_JOBS).max(1);
        let mut main = String::from("pids=\n");
        for (j, part) in routes.chunks(chunk).enumerate() {
            let mut s = String::from("set -e\n");
            for (p, nh) in part {
                assert!(is_prefix(p), "not a prefix: {p:?}");
                assert!(
                    nh.parse::<std::net::IpAddr>().is_ok(),
                    "not an address: {nh:?}"
                );
                let af = Self::family_of(p);
                let _ = writeln!(s, "{cli} global rib add -a {af} {p} nexthop {nh}");
            }
            let f = self
                .dir
                .join(&format!("add-routes-{}-{j}.sh", self.batches));
            fs::write(&f, s).expect("write route script");
            let _ = writeln!(main, "sh {} & pids=\"$pids $!\"", f.display());
        }
        // `wait PID` returns that job's status; plain `wait` would not.
        main.push_str("rc=0\nfor p in $pids; do wait $p || rc=1; done\nexit $rc\n");
        let script = self.dir.join(&format!("add-routes-{}.sh", self.batches));
        fs::write(&script, main).expect("write route script");
        let timeout = Duration::from_secs(30) + Duration::from_millis(100) * routes.len() as u32;
        let script_s = script.display().to_string();
        let o = run_timeout(
            Command::new("ip").args(["netns", "exec", &self.ns, "sh", &script_s]),
            timeout,
        );
        assert!(
            o.status.success(),
            "adding {} routes with {script_s} in {} failed ({}):\n{}\n--- log:\n{}",
            routes.len(),
            self.ns,
            o.status,
            output_text(&o),
            tail(&self.log(), LOG_TAIL)
        );
    }

    /// gobgpd's log (stdout and stderr).
    pub fn log(&self) -> String {
        read(&self.log_path())
    }

    /// Whether the log contains `needle` within `timeout`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_for(|| self.log().contains(needle), timeout)
    }

    /// SIGKILL gobgpd.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }

    /// SIGTERM gobgpd; SIGKILL after 5 s.
    pub fn stop(&mut self) -> bool {
        match self.proc.take() {
            Some(mut p) => p.terminate(Duration::from_secs(5)),
            None => true,
        }
    }

    pub fn running(&mut self) -> bool {
        self.proc.as_mut().is_some_and(|p| p.exited().is_none())
    }

    /// Stop (SIGTERM) and start again with the same configuration file.
    /// Routes added through the CLI are gone.
    pub fn restart(&mut self) {
        self.stop();
        append_mark(&self.log_path(), "=== harness: restart ===\n");
        self.launch();
    }
}

impl BgpSpeaker for GoBgp {
    fn describe(&self) -> String {
        format!("GoBGP {} in {}", self.opts.tag, self.ns)
    }
    fn rib_prefixes(&self) -> Vec<String> {
        self.rib()
    }
    fn daemon_log(&self) -> String {
        self.log()
    }
    fn state_dump(&self) -> String {
        let o = self.gobgp(&["neighbor"]);
        format!("--- gobgp neighbor:\n{}", output_text(&o))
    }
}

impl Drop for GoBgp {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Parse `gobgp -j neighbor` (GoBGP 3.x API JSON; zero values are left
/// out, so a missing session_state is "unknown").
pub fn parse_gobgp_neighbors(v: &Value) -> Vec<GoBgpNeighbor> {
    let Some(list) = v.as_array() else {
        return Vec::new();
    };
    list.iter()
        .map(|n| {
            let conf = &n["conf"];
            let state = &n["state"];
            let st = match state["session_state"].as_u64() {
                Some(1) => "idle",
                Some(2) => "connect",
                Some(3) => "active",
                Some(4) => "opensent",
                Some(5) => "openconfirm",
                Some(6) => "established",
                _ => state["session_state"]
                    .as_str()
                    .map(|s| s.to_ascii_lowercase())
                    .map(|s| {
                        if s.contains("establ") {
                            "established"
                        } else {
                            "unknown"
                        }
                    })
                    .unwrap_or("unknown"),
            };
            let (mut rx, mut acc) = (0, 0);
            for af in n["afi_safis"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                rx += af["state"]["received"].as_u64().unwrap_or(0);
                acc += af["state"]["accepted"].as_u64().unwrap_or(0);
            }
            GoBgpNeighbor {
                address: conf["neighbor_address"]
                    .as_str()
                    .or_else(|| state["neighbor_address"].as_str())
                    .unwrap_or_default()
                    .to_string(),
                peer_as: conf["peer_asn"].as_u64().unwrap_or(0) as u32,
                state: st.to_string(),
                received: rx,
                accepted: acc,
            }
        })
        .collect()
}

// ---------------------------------------------------- route details

/// One path of `gobgp -j global rib` (GoBGP 3.x).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GoBgpPath {
    pub prefix: String,
    pub best: bool,
    pub stale: bool,
    /// AS numbers of all AS_PATH segments, in order.
    pub as_path: Vec<u32>,
    /// NEXT_HOP, or MP_REACH_NLRI's next hop.
    pub next_hop: Option<String>,
    pub local_pref: Option<u64>,
    pub med: Option<u64>,
    /// The neighbor it came from (None for routes added locally).
    pub neighbor: Option<String>,
}

impl GoBgp {
    /// Every path of the global RIB of `prefix` (either family).
    pub fn paths(&self, prefix: &str) -> Vec<GoBgpPath> {
        let af = Self::family_of(prefix);
        let v = self.gobgp_json(&["global", "rib", "-a", af]);
        parse_gobgp_rib(&v)
            .into_iter()
            .filter(|p| p.prefix == prefix)
            .collect()
    }
}

/// Parse `gobgp -j global rib -a FAMILY`: `{PREFIX: [path, ...], ...}`.
pub fn parse_gobgp_rib(v: &Value) -> Vec<GoBgpPath> {
    let mut out = Vec::new();
    let Some(m) = v.as_object() else {
        return out;
    };
    for (prefix, paths) in m {
        for p in paths.as_array().map(Vec::as_slice).unwrap_or_default() {
            let mut gp = GoBgpPath {
                prefix: prefix.clone(),
                best: p["best"].as_bool().unwrap_or(false),
                stale: p["stale"].as_bool().unwrap_or(false),
                neighbor: p["neighbor-ip"].as_str().map(str::to_string),
                ..GoBgpPath::default()
            };
            for a in p["attrs"].as_array().map(Vec::as_slice).unwrap_or_default() {
                match a["type"].as_u64() {
                    Some(2) => {
                        for seg in a["as_paths"]
                            .as_array()
                            .map(Vec::as_slice)
                            .unwrap_or_default()
                        {
                            for asn in seg["asns"]
                                .as_array()
                                .map(Vec::as_slice)
                                .unwrap_or_default()
                            {
                                if let Some(n) = asn.as_u64() {
                                    gp.as_path.push(n as u32);
                                }
                            }
                        }
                    }
                    Some(3) | Some(14) => {
                        gp.next_hop = a["nexthop"].as_str().map(str::to_string);
                    }
                    Some(4) => gp.med = a["metric"].as_u64(),
                    Some(5) => gp.local_pref = a["value"].as_u64(),
                    _ => {}
                }
            }
            out.push(gp);
        }
    }
    out
}
