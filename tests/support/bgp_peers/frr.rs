//! FRR: zebra and bgpd (and bfdd on request) in a namespace, driven with
//! vtysh.

use super::super::netns::Netns;
use super::super::{output_text, run_ok, run_timeout, wait_for, Proc, Scratch};
use super::{
    append_mark, can_connect, read, spawn_daemon, tail, wait_up, BgpSpeaker, BFDD, BGPD,
    CTL_TIMEOUT, LOG_TAIL, VTYSH, ZEBRA,
};
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// How to start FRR.
#[derive(Debug, Clone)]
pub struct FrrOpts {
    /// Short name used in paths and messages.
    pub tag: String,
    /// zebra's configuration (None: `hostname TAG`).
    pub zebra_config: Option<String>,
    /// Extra bgpd arguments, e.g. `-n` (do not install routes into the
    /// kernel) or `-p 1179` (another BGP port).
    pub bgpd_args: Vec<String>,
    /// `--log-level` of both daemons (None: FRR's default). Debug by
    /// default: FRR logs only the debugs that are turned on.
    pub log_level: Option<String>,
    /// Put `debug bgp neighbor-events` before the test's config (why a
    /// session went down or an OPEN was refused, in bgpd.log).
    pub debug_neighbor_events: bool,
    /// Also run bfdd (for `neighbor X bfd`), with its own empty config
    /// and control socket in the scratch directory.
    pub bfdd: bool,
}

impl Default for FrrOpts {
    fn default() -> Self {
        FrrOpts {
            tag: "frr".into(),
            zebra_config: None,
            bgpd_args: Vec::new(),
            log_level: Some("debug".into()),
            debug_neighbor_events: true,
            bfdd: false,
        }
    }
}

impl FrrOpts {
    pub fn tagged(tag: &str) -> FrrOpts {
        FrrOpts {
            tag: tag.into(),
            ..FrrOpts::default()
        }
    }
}

/// FRR's zebra and bgpd in a namespace, driven with vtysh; killed on drop.
///
/// bgpd reads the test's text as its configuration (frr.conf syntax, BGP
/// part; zebra has its own file), after a header turning on
/// [`FrrOpts::debug_neighbor_events`]. Daemons run as user frr with
/// `--vty_socket DIR` (vtysh talks to them over those Unix sockets from
/// outside the namespace), `-z DIR/zserv.api`, `-i DIR/<daemon>.pid`,
/// `--log file:DIR/<daemon>.log` and no TCP vty (`-P 0`).
pub struct Frr {
    ns: String,
    opts: FrrOpts,
    dir: Scratch,
    zebra: Option<Proc>,
    bgpd: Option<Proc>,
    bfdd: Option<Proc>,
}

impl Frr {
    /// Start zebra and bgpd in `ns` with `config` (frr.conf text for
    /// bgpd); returns once bgpd's vty socket answers.
    pub fn start(ns: &Netns, config: &str) -> Frr {
        Self::start_with(ns, config, FrrOpts::default())
    }

    pub fn start_with(ns: &Netns, config: &str, opts: FrrOpts) -> Frr {
        let dir = Scratch::new(&opts.tag);
        let mut f = Frr {
            ns: ns.name().to_string(),
            opts,
            dir,
            zebra: None,
            bgpd: None,
            bfdd: None,
        };
        let mut conf = String::from("! harness header (tests/support/bgp_peers/frr.rs)\n");
        if f.opts.debug_neighbor_events {
            conf.push_str("debug bgp neighbor-events\n");
        }
        conf.push_str("! test configuration\n");
        conf.push_str(config);
        conf.push('\n');
        fs::write(f.config_path(), conf).expect("write frr.conf");
        let zconf = f
            .opts
            .zebra_config
            .clone()
            .unwrap_or_else(|| format!("hostname {}\n", f.opts.tag));
        fs::write(f.dir.join("zebra.conf"), zconf).expect("write zebra.conf");
        // vtysh reads DIR/vtysh.conf (--config_dir), not the host's.
        fs::write(f.dir.join("vtysh.conf"), "").expect("write vtysh.conf");
        // The daemons run as frr and write pid files and sockets here.
        run_ok(Command::new("chown").arg("frr:frr").arg(f.dir.path()));
        f.launch_zebra();
        if f.opts.bfdd {
            f.launch_bfdd();
        }
        f.launch_bgpd();
        f
    }

    /// bfdd's pid while it runs (with [`FrrOpts::bfdd`]).
    pub fn bfdd_pid(&self) -> Option<u32> {
        self.bfdd.as_ref().map(|p| p.id())
    }

    fn launch_bfdd(&mut self) {
        let _ = fs::remove_file(self.dir.join("bfdd.vty"));
        fs::write(self.dir.join("bfdd.conf"), "").expect("write bfdd.conf");
        let mut argv = self.daemon_argv(BFDD, "bfdd", "bfdd.conf");
        argv.push("--bfdctl".into());
        argv.push(self.dir.join("bfdd.sock").display().to_string());
        let what = format!("bfdd {}", self.opts.tag);
        let proc = spawn_daemon(&self.ns, &argv, &self.dir.join("bfdd.out"), true, &what);
        let vty = self.dir.join("bfdd.vty");
        self.bfdd = Some(wait_up(
            proc,
            &format!("{what} in {}", self.ns),
            || can_connect(&vty),
            || self.log(),
        ));
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
    /// bgpd's configuration file (header and the test's text).
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("frr.conf")
    }
    pub fn bgpd_log_path(&self) -> PathBuf {
        self.dir.join("bgpd.log")
    }
    pub fn zebra_log_path(&self) -> PathBuf {
        self.dir.join("zebra.log")
    }
    /// bgpd's pid while it runs.
    pub fn bgpd_pid(&self) -> Option<u32> {
        self.bgpd.as_ref().map(|p| p.id())
    }
    pub fn zebra_pid(&self) -> Option<u32> {
        self.zebra.as_ref().map(|p| p.id())
    }

    fn daemon_argv(&self, bin: &str, name: &str, conf: &str) -> Vec<String> {
        let d = self.dir.path().display().to_string();
        let mut v: Vec<String> = vec![
            bin.into(),
            "-u".into(),
            "frr".into(),
            "-g".into(),
            "frr".into(),
            "-f".into(),
            format!("{d}/{conf}"),
            "-i".into(),
            format!("{d}/{name}.pid"),
            "-z".into(),
            format!("{d}/zserv.api"),
            "--vty_socket".into(),
            d.clone(),
            "-P".into(),
            "0".into(),
            "--log".into(),
            format!("file:{d}/{name}.log"),
        ];
        if let Some(l) = &self.opts.log_level {
            v.push("--log-level".into());
            v.push(l.clone());
        }
        v
    }

    fn launch_zebra(&mut self) {
        let _ = fs::remove_file(self.dir.join("zserv.api"));
        let argv = self.daemon_argv(ZEBRA, "zebra", "zebra.conf");
        let what = format!("zebra {}", self.opts.tag);
        let proc = spawn_daemon(&self.ns, &argv, &self.dir.join("zebra.out"), true, &what);
        let api = self.dir.join("zserv.api");
        let vty = self.dir.join("zebra.vty");
        self.zebra = Some(wait_up(
            proc,
            &format!("{what} in {}", self.ns),
            || can_connect(&api) && can_connect(&vty),
            || self.log(),
        ));
    }

    fn launch_bgpd(&mut self) {
        let _ = fs::remove_file(self.dir.join("bgpd.vty"));
        let mut argv = self.daemon_argv(BGPD, "bgpd", "frr.conf");
        argv.extend(self.opts.bgpd_args.iter().cloned());
        let what = format!("bgpd {}", self.opts.tag);
        let proc = spawn_daemon(&self.ns, &argv, &self.dir.join("bgpd.out"), true, &what);
        let vty = self.dir.join("bgpd.vty");
        self.bgpd = Some(wait_up(
            proc,
            &format!("{what} in {}", self.ns),
            || can_connect(&vty),
            || self.log(),
        ));
    }

    /// Run vtysh with one `-c` per command (bounded: 15 s).
    pub fn vtysh(&self, cmds: &[&str]) -> Output {
        let mut c = Command::new(VTYSH);
        c.arg("--vty_socket")
            .arg(self.dir.path())
            .arg("--config_dir")
            .arg(self.dir.path());
        for cmd in cmds {
            c.args(["-c", cmd]);
        }
        run_timeout(&mut c, CTL_TIMEOUT)
    }

    /// Like [`Frr::vtysh`], but panics (with the log) unless it succeeds;
    /// its stdout.
    pub fn vtysh_ok(&self, cmds: &[&str]) -> String {
        let o = self.vtysh(cmds);
        let text = output_text(&o);
        assert!(
            o.status.success()
                && !text.contains("% Unknown command")
                && !text.contains("% Invalid"),
            "vtysh {cmds:?} in {} failed ({}):\n{text}\n--- log:\n{}",
            self.ns,
            o.status,
            tail(&self.log(), LOG_TAIL)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Run a show command with `json` appended (unless already there) and
    /// parse it, e.g. "show bgp summary", "show ip bgp",
    /// "show bgp ipv6 unicast json".
    pub fn show_json(&self, cmd: &str) -> Value {
        let cmd = if cmd.split_whitespace().last() == Some("json") {
            cmd.to_string()
        } else {
            format!("{cmd} json")
        };
        let out = self.vtysh_ok(&[&cmd]);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{cmd:?} is not JSON ({e}):\n{out}"))
    }

    /// A show command's JSON, None if vtysh fails (bgpd down or
    /// restarting) or prints something else: for polling.
    pub fn try_json(&self, cmd: &str) -> Option<Value> {
        let o = self.vtysh(&[cmd]);
        if !o.status.success() {
            return None;
        }
        serde_json::from_slice(&o.stdout).ok()
    }

    /// Apply configuration lines (`configure terminal` then each line),
    /// e.g. `&["router bgp 65001", "neighbor 10.0.0.2 shutdown"]`.
    pub fn configure(&self, lines: &[&str]) {
        let mut cmds = vec!["configure terminal"];
        cmds.extend_from_slice(lines);
        self.vtysh_ok(&cmds);
    }

    /// The FSM state of `neighbor` ("Established", "Active", "Idle" ...),
    /// None if bgpd does not know it.
    pub fn neighbor_state(&self, neighbor: &str) -> Option<String> {
        let v = self.try_json(&format!("show bgp neighbors {neighbor} json"))?;
        v.get(neighbor)?
            .get("bgpState")?
            .as_str()
            .map(str::to_string)
    }

    /// Whether the session with `neighbor` is Established.
    pub fn established(&self, neighbor: &str) -> bool {
        self.neighbor_state(neighbor).as_deref() == Some("Established")
    }

    /// Wait (at most `timeout`) for the session with `neighbor`; panics
    /// with `show bgp summary` and the log otherwise.
    pub fn wait_established(&self, neighbor: &str, timeout: Duration) {
        if !wait_for(|| self.established(neighbor), timeout) {
            panic!(
                "FRR {} in {}: neighbor {neighbor} not Established after {timeout:?} (state {:?})\n{}\n--- log:\n{}",
                self.opts.tag,
                self.ns,
                self.neighbor_state(neighbor),
                self.state_dump(),
                tail(&self.log(), LOG_TAIL)
            );
        }
    }

    /// Every configured neighbor and its state (from `show bgp neighbors`).
    pub fn neighbors(&self) -> Vec<(String, String)> {
        let v = self.try_json("show bgp neighbors json").unwrap_or_default();
        let mut out = Vec::new();
        if let Some(m) = v.as_object() {
            for (k, n) in m {
                if let Some(st) = n.get("bgpState").and_then(Value::as_str) {
                    out.push((k.clone(), st.to_string()));
                }
            }
        }
        out
    }

    /// Wait (at most `timeout`) until every configured neighbor is
    /// Established (and there is at least one).
    pub fn wait_all_established(&self, timeout: Duration) {
        let ok = wait_for(
            || {
                let n = self.neighbors();
                !n.is_empty() && n.iter().all(|(_, s)| s == "Established")
            },
            timeout,
        );
        if !ok {
            panic!(
                "FRR {} in {}: not all neighbors Established after {timeout:?}: {:?}\n{}\n--- log:\n{}",
                self.opts.tag,
                self.ns,
                self.neighbors(),
                self.state_dump(),
                tail(&self.log(), LOG_TAIL)
            );
        }
    }

    /// Prefixes received from `neighbor` and accepted, over all address
    /// families (`pfxRcd` of `show bgp summary json`).
    pub fn received_count(&self, neighbor: &str) -> u64 {
        let v = self.show_json("show bgp summary json");
        v.as_object()
            .map(|afs| {
                afs.values()
                    .filter_map(|af| af.get("peers")?.get(neighbor)?.get("pfxRcd")?.as_u64())
                    .sum()
            })
            .unwrap_or(0)
    }

    fn table(&self, afi: &str) -> Value {
        self.show_json(&format!("show bgp {afi} unicast json"))
    }

    /// IPv4 and IPv6 unicast prefixes that have a best path, sorted (own
    /// `network`s included).
    pub fn prefixes(&self) -> Vec<String> {
        let mut set = BTreeSet::new();
        for afi in ["ipv4", "ipv6"] {
            set.extend(frr_prefixes(&self.table(afi), |p| {
                p.get("bestpath").and_then(Value::as_bool) == Some(true)
            }));
        }
        set.into_iter().collect()
    }

    /// Prefixes with a valid path learnt from `neighbor` (its `peerId`).
    pub fn prefixes_from(&self, neighbor: &str) -> Vec<String> {
        let mut set = BTreeSet::new();
        for afi in ["ipv4", "ipv6"] {
            set.extend(frr_prefixes(&self.table(afi), |p| {
                p.get("valid").and_then(Value::as_bool) == Some(true)
                    && p.get("peerId").and_then(Value::as_str) == Some(neighbor)
            }));
        }
        set.into_iter().collect()
    }

    /// bgpd's and zebra's logs (and anything they printed).
    pub fn log(&self) -> String {
        let mut s = String::new();
        for f in [
            "zebra.out",
            "zebra.log",
            "bfdd.out",
            "bfdd.log",
            "bgpd.out",
            "bgpd.log",
        ] {
            let t = read(&self.dir.join(f));
            if !t.trim().is_empty() {
                let _ = write!(s, "=== {f}\n{t}");
            }
        }
        s
    }

    /// bgpd's log only.
    pub fn bgpd_log(&self) -> String {
        read(&self.bgpd_log_path())
    }

    /// Whether bgpd's log contains `needle` within `timeout`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_for(|| self.bgpd_log().contains(needle), timeout)
    }

    /// SIGKILL bgpd (zebra stays): it vanishes without a NOTIFICATION.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.bgpd.take() {
            p.kill();
        }
    }

    /// SIGTERM bgpd (it closes its sessions); SIGKILL after 5 s.
    pub fn stop(&mut self) -> bool {
        match self.bgpd.take() {
            Some(mut p) => p.terminate(Duration::from_secs(5)),
            None => true,
        }
    }

    /// Whether bgpd is still running.
    pub fn running(&mut self) -> bool {
        self.bgpd.as_mut().is_some_and(|p| p.exited().is_none())
    }

    /// Stop bgpd (SIGTERM, if running) and start it again with the same
    /// configuration file (which the test may have rewritten); zebra keeps
    /// running.
    pub fn restart(&mut self) {
        self.stop();
        append_mark(&self.bgpd_log_path(), "=== harness: restart of bgpd ===\n");
        self.launch_bgpd();
    }
}

/// The prefixes of a `show bgp ... json` table with a path matching `want`.
fn frr_prefixes(table: &Value, want: impl Fn(&Value) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(routes) = table.get("routes").and_then(Value::as_object) {
        for (pfx, paths) in routes {
            let paths = paths.as_array().map(Vec::as_slice).unwrap_or_default();
            if paths.iter().any(&want) {
                out.push(pfx.clone());
            }
        }
    }
    out
}

impl BgpSpeaker for Frr {
    fn describe(&self) -> String {
        format!("FRR {} in {}", self.opts.tag, self.ns)
    }
    fn rib_prefixes(&self) -> Vec<String> {
        self.prefixes()
    }
    fn daemon_log(&self) -> String {
        self.log()
    }
    fn state_dump(&self) -> String {
        let o = self.vtysh(&["show bgp summary"]);
        format!("--- show bgp summary:\n{}", output_text(&o))
    }
}

impl Drop for Frr {
    fn drop(&mut self) {
        self.kill();
        if let Some(mut b) = self.bfdd.take() {
            b.kill();
        }
        if let Some(mut z) = self.zebra.take() {
            z.kill();
        }
    }
}
