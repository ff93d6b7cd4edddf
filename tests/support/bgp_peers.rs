//! Real BGP speakers inside a [`Netns`]: FRR ([`Frr`]: zebra + bgpd),
//! BIRD 2 ([`Bird`]) and GoBGP ([`GoBgp`]), for the BGP interop tests.
//!
//! Each instance lives in its own [`Scratch`] directory holding its
//! configuration, control sockets, pid files and logs, so several run side
//! by side (parallel tests, several peers per test). The daemons run in the
//! foreground as children of the test (no systemd, no frrinit/watchfrr) and
//! are SIGKILLed on drop; the directory, and so the logs, is kept when the
//! test panics. `wait_*` helpers bound their waits and panic with the
//! daemon's state and the tail of its log.
//!
//! Debian 12 packages: `frr` (8.4), `bird2` (2.0.12), `gobgpd` (3.10,
//! gobgpd and the gobgp CLI); see [`BGP_PACKAGES`].
//!
//! The packaged services need not be stopped, and the harness never
//! touches them: Debian enables frr.service (zebra, staticd, watchfrr;
//! bgpd=no in /etc/frr/daemons), bird.service and gobgpd.service (only
//! when /etc/gobgpd.conf exists), but they run in the host's network
//! namespace with their own paths (/etc/frr, /run/frr, /run/bird/bird.ctl,
//! port 50051 of the host), while every instance here runs in a test
//! namespace with its own sockets, and binds TCP 179 (and GoBGP's API
//! port) only there. (On containers with policy-rc.d or without systemd
//! they are not started at all.)
//!
//! Pitfalls these wrappers and the tests of tests/bgp_peers_harness.rs
//! found:
//! - FRR 8.4 refuses eBGP routes without a policy: the config needs
//!   `no bgp ebgp-requires-policy` (or route-maps in and out), and
//!   `no bgp network import-check` for `network` statements of prefixes
//!   that are not in zebra's RIB (we run no staticd).
//! - FRR's daemons insist on running as user `frr` (which must be in group
//!   `frrvty`; `-u root` fails with "user(root) is not part of vty
//!   group"), so the instance directory is chowned to frr. FRR writes
//!   crash-log buffers to /var/tmp/frr/<daemon>.<pid>/ and leaves them
//!   there; each daemon therefore runs in a private mount namespace with a
//!   tmpfs on /var/tmp (the trick strongswan.rs uses for /run).
//! - bgpd without zebra (`-Z`) knows no interfaces and withdraws IPv6
//!   routes whose next hop is link-local ("sent a v6 LL next-hop and
//!   there's no peer interface information"): zebra always runs. zebra
//!   installs the learnt routes into the namespace's kernel table (bgpd
//!   `-n` in [`FrrOpts::bgpd_args`] prevents that).
//! - BIRD exports and imports nothing on a BGP channel without explicit
//!   `import`/`export` filters (`import all; export all;` or filters), and
//!   needs `protocol device { }` to know its interfaces and addresses
//!   (direct sessions depend on it). After a session error BIRD waits 60 s before
//!   it tries again ("Startup delayed by 60 seconds due to errors"):
//!   tests that break sessions on purpose want `error wait time 1, 5;`.
//! - After a connection is refused, BIRD, FRR and GoBGP wait their connect
//!   retry time (120 s by default in all three) before trying again, and
//!   BIRD waits 5 s before its first attempt: the peer started second
//!   normally connects at once, but configs should lower them
//!   (`connect delay time 1; connect retry time 2;` in BIRD, `neighbor X
//!   timers connect 2` in FRR, `connect-retry = 2` under
//!   `[neighbors.timers.config]` in GoBGP).
//! - GoBGP's gRPC API listens on 127.0.0.1:50051 *inside* the namespace
//!   (one per namespace, so the default port is fine for every instance);
//!   the gobgp CLI must therefore run in the namespace (`ip netns exec`),
//!   which [`GoBgp::gobgp`] does. pprof (port 6060) is disabled.
//! - `gobgp mrt inject global FILE` (the fast way to load many routes)
//!   loses entries: 688 of 1000 and 4859 of 5000 arrived in GoBGP's RIB
//!   here (about 0.5% lost at 1M in shared/peers/bgp-ingest.sh), so
//!   [`GoBgp::add_routes`] runs one `gobgp global rib add` per route,
//!   [`ADD_ROUTE_JOBS`] at a time, and tests can count exactly.

use super::netns::Netns;
use super::{output_text, run_ok, run_timeout, wait_for, Proc, Scratch};
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// The Debian 12 packages the BGP interop tests need (scripts/test
/// installs them).
pub const BGP_PACKAGES: &str = "frr bird2 gobgpd";

/// FRR's daemons (Debian 12).
pub const ZEBRA: &str = "/usr/lib/frr/zebra";
pub const BGPD: &str = "/usr/lib/frr/bgpd";
pub const BFDD: &str = "/usr/lib/frr/bfdd";
pub const VTYSH: &str = "/usr/bin/vtysh";
/// BIRD 2 and its client.
pub const BIRD: &str = "/usr/sbin/bird";
pub const BIRDC: &str = "/usr/sbin/birdc";
/// GoBGP's daemon and CLI.
pub const GOBGPD: &str = "/usr/bin/gobgpd";
pub const GOBGP: &str = "/usr/bin/gobgp";

/// How long a control command (vtysh, birdc, gobgp) may take.
const CTL_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a daemon may take to open its control socket.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Log lines shown in panic messages (the whole log stays in the kept
/// scratch directory).
const LOG_TAIL: usize = 150;
/// Parallel `gobgp` CLI shells of [`GoBgp::add_routes`].
pub const ADD_ROUTE_JOBS: usize = 4;

/// Panic unless the BGP interop tests can run: root and the FRR, BIRD and
/// GoBGP binaries (and FRR's user). Never skips silently.
pub fn require_bgp_peers() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    let mut missing: Vec<String> = [ZEBRA, BGPD, VTYSH, BIRD, BIRDC, GOBGPD, GOBGP]
        .iter()
        .filter(|p| !Path::new(p).is_file())
        .map(|p| p.to_string())
        .collect();
    for tool in ["ip", "unshare", "mount", "chown"] {
        if !super::in_path(tool) {
            missing.push(tool.to_string());
        }
    }
    let frr_user = run_timeout(
        Command::new("id").args(["-u", "frr"]),
        Duration::from_secs(5),
    )
    .status
    .success();
    if !frr_user {
        missing.push("user frr (package frr)".into());
    }
    assert!(
        euid == 0 && missing.is_empty(),
        "the BGP interop tests need root and the packages [{BGP_PACKAGES}]; \
         run scripts/test as root (it installs them).\n  root: {}\n  missing: {missing:?}",
        euid == 0
    );
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let skip = lines.len().saturating_sub(n);
    let mut s = String::new();
    if skip > 0 {
        let _ = writeln!(s, "[... {skip} lines before]");
    }
    for l in &lines[skip..] {
        s.push_str(l);
        s.push('\n');
    }
    s
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_default()
}

fn append_mark(p: &Path, mark: &str) {
    let _ = fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(p)
        .and_then(|mut f| std::io::Write::write_all(&mut f, mark.as_bytes()));
}

/// Start `argv` in namespace `ns` with stdout and stderr appended to `out`;
/// with `private_var_tmp`, in a private mount namespace with a tmpfs on
/// /var/tmp. `ip netns exec`, `unshare` and `sh` all exec: the child's pid
/// is the daemon's.
fn spawn_daemon(ns: &str, argv: &[String], out: &Path, private_var_tmp: bool, what: &str) -> Proc {
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(out)
        .unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    let err = log.try_clone().expect("clone log file");
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns]);
    if private_var_tmp {
        cmd.args(["unshare", "-m", "--propagation", "private"])
            .args([
                "sh",
                "-c",
                "mount -t tmpfs tmpfs /var/tmp && exec \"$0\" \"$@\"",
            ]);
    }
    let child = cmd
        .args(argv)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {what} in {ns}: {e}"));
    Proc::new(child, format!("{what} in {ns}"))
}

/// Wait (at most [`START_TIMEOUT`]) until `ready` holds while `proc` runs;
/// on failure kill it and panic with `log()`.
fn wait_up(
    mut proc: Proc,
    what: &str,
    mut ready: impl FnMut() -> bool,
    log: impl Fn() -> String,
) -> Proc {
    let up = wait_for(|| proc.exited().is_some() || ready(), START_TIMEOUT);
    if !up || proc.exited().is_some() {
        let st = proc.exited();
        proc.kill();
        panic!(
            "{what} did not come up within {START_TIMEOUT:?} (exit {st:?}):\n{}",
            tail(&log(), LOG_TAIL)
        );
    }
    proc
}

fn can_connect(p: &Path) -> bool {
    UnixStream::connect(p).is_ok()
}

/// Whether `s` is an IPv4 or IPv6 prefix ("192.0.2.0/24", "2001:db8::/32").
fn is_prefix(s: &str) -> bool {
    s.split_once('/')
        .is_some_and(|(a, l)| a.parse::<std::net::IpAddr>().is_ok() && l.parse::<u8>().is_ok())
}

/// What every wrapper answers, so tests can treat the three alike.
pub trait BgpSpeaker {
    /// e.g. "FRR frr1 in rvit-123-4-a".
    fn describe(&self) -> String;
    /// Every prefix in its RIB with a usable (best) path, IPv4 and IPv6,
    /// sorted, own originations included.
    fn rib_prefixes(&self) -> Vec<String>;
    /// The daemon's logs so far.
    fn daemon_log(&self) -> String;
    /// A short state dump for failure messages (sessions, counts).
    fn state_dump(&self) -> String;

    /// Wait (at most `timeout`) until every prefix of `expected` is in
    /// the RIB; the RIB then. Panics with the missing ones, the state and
    /// the log tail otherwise.
    fn wait_prefixes(&self, expected: &[&str], timeout: Duration) -> Vec<String> {
        let mut rib = Vec::new();
        let ok = wait_for(
            || {
                rib = self.rib_prefixes();
                expected.iter().all(|p| rib.iter().any(|r| r == p))
            },
            timeout,
        );
        if !ok {
            let missing: Vec<&&str> = expected
                .iter()
                .filter(|p| !rib.iter().any(|r| r == *p))
                .collect();
            panic!(
                "{}: after {timeout:?} still missing {missing:?}\n  RIB ({} prefixes): {:?}\n{}\n--- log:\n{}",
                self.describe(),
                rib.len(),
                rib.iter().take(50).collect::<Vec<_>>(),
                self.state_dump(),
                tail(&self.daemon_log(), LOG_TAIL)
            );
        }
        rib
    }

    /// Wait (at most `timeout`) until the RIB holds at least `n` prefixes;
    /// the RIB then. Panics with the state and the log tail otherwise.
    fn wait_prefix_count(&self, n: usize, timeout: Duration) -> Vec<String> {
        let mut rib = Vec::new();
        let ok = wait_for(
            || {
                rib = self.rib_prefixes();
                rib.len() >= n
            },
            timeout,
        );
        if !ok {
            panic!(
                "{}: {} prefixes after {timeout:?}, expected at least {n}\n{}\n--- log:\n{}",
                self.describe(),
                rib.len(),
                self.state_dump(),
                tail(&self.daemon_log(), LOG_TAIL)
            );
        }
        rib
    }
}

// ---------------------------------------------------------------- FRR

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
        let mut conf = String::from("! harness header (tests/support/bgp_peers.rs)\n");
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

// ---------------------------------------------------------------- BIRD

/// How to start BIRD.
#[derive(Debug, Clone)]
pub struct BirdOpts {
    /// Short name used in paths and messages.
    pub tag: String,
    /// Put `debug protocols { states, events };` before the test's config
    /// (session state changes and their reasons in the log).
    pub debug_protocols: bool,
}

impl Default for BirdOpts {
    fn default() -> Self {
        BirdOpts {
            tag: "bird".into(),
            debug_protocols: true,
        }
    }
}

impl BirdOpts {
    pub fn tagged(tag: &str) -> BirdOpts {
        BirdOpts {
            tag: tag.into(),
            ..BirdOpts::default()
        }
    }
}

/// One line of `birdc show protocols`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BirdProtocol {
    pub name: String,
    /// "BGP", "Static", "Device", "Kernel" ...
    pub proto: String,
    pub table: String,
    /// "up", "start", "down" ...
    pub state: String,
    pub since: String,
    /// For BGP: "Established", "Active  Socket: Connection refused" ...
    pub info: String,
}

/// BIRD 2 in a namespace (`bird -f -c DIR/bird.conf -s DIR/bird.ctl -P
/// DIR/bird.pid`, as root), driven with birdc; killed on drop.
///
/// The test's configuration is written after a header that sends the log
/// to DIR/bird.log (`log "..." all;`).
pub struct Bird {
    ns: String,
    opts: BirdOpts,
    dir: Scratch,
    proc: Option<Proc>,
}

impl Bird {
    /// Start BIRD in `ns` with `config` (bird.conf text); returns once its
    /// control socket answers.
    pub fn start(ns: &Netns, config: &str) -> Bird {
        Self::start_with(ns, config, BirdOpts::default())
    }

    pub fn start_with(ns: &Netns, config: &str, opts: BirdOpts) -> Bird {
        let dir = Scratch::new(&opts.tag);
        let mut b = Bird {
            ns: ns.name().to_string(),
            opts,
            dir,
            proc: None,
        };
        b.write_config(config);
        b.launch();
        b
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
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("bird.conf")
    }
    pub fn socket(&self) -> PathBuf {
        self.dir.join("bird.ctl")
    }
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("bird.log")
    }
    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().map(|p| p.id())
    }

    fn write_config(&self, config: &str) {
        let mut c = format!(
            "# harness header (tests/support/bgp_peers.rs)\nlog \"{}\" all;\n",
            self.log_path().display()
        );
        if self.opts.debug_protocols {
            c.push_str("debug protocols { states, events };\n");
        }
        c.push_str("# test configuration\n");
        c.push_str(config);
        c.push('\n');
        fs::write(self.config_path(), c).expect("write bird.conf");
    }

    fn launch(&mut self) {
        let _ = fs::remove_file(self.socket());
        let d = self.dir.path().display().to_string();
        let argv: Vec<String> = [
            BIRD,
            "-f",
            "-c",
            &format!("{d}/bird.conf"),
            "-s",
            &format!("{d}/bird.ctl"),
            "-P",
            &format!("{d}/bird.pid"),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let what = format!("bird {}", self.opts.tag);
        let proc = spawn_daemon(&self.ns, &argv, &self.dir.join("bird.out"), false, &what);
        let sock = self.socket();
        self.proc = Some(wait_up(
            proc,
            &format!("{what} in {}", self.ns),
            || can_connect(&sock),
            || self.log(),
        ));
    }

    /// Run `birdc -s SOCKET ARGS...` (bounded: 15 s). birdc runs outside
    /// the namespace (the socket is a file).
    pub fn birdc(&self, args: &[&str]) -> Output {
        run_timeout(
            Command::new(BIRDC).arg("-s").arg(self.socket()).args(args),
            CTL_TIMEOUT,
        )
    }

    /// Like [`Bird::birdc`] with the command split on whitespace; panics
    /// (with the log) unless birdc succeeds; its stdout.
    pub fn birdc_ok(&self, cmd: &str) -> String {
        let args: Vec<&str> = cmd.split_whitespace().collect();
        let o = self.birdc(&args);
        assert!(
            o.status.success(),
            "birdc {cmd} in {} failed ({}):\n{}\n--- log:\n{}",
            self.ns,
            o.status,
            output_text(&o),
            tail(&self.log(), LOG_TAIL)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// `show protocols`, parsed.
    pub fn protocols(&self) -> Vec<BirdProtocol> {
        parse_bird_protocols(&self.birdc_ok("show protocols"))
    }

    /// The BGP state of protocol `name` ("Established", "Active",
    /// "Idle"...) from `show protocols all NAME`; None if unknown.
    pub fn bgp_state(&self, name: &str) -> Option<String> {
        let out = self.birdc_ok(&format!("show protocols all {name}"));
        out.lines().find_map(|l| {
            l.trim()
                .strip_prefix("BGP state:")
                .map(|s| s.trim().to_string())
        })
    }

    /// Whether BGP protocol `name` is Established.
    pub fn established(&self, name: &str) -> bool {
        self.bgp_state(name).as_deref() == Some("Established")
    }

    /// Wait (at most `timeout`) for BGP protocol `name`; panics with
    /// `show protocols all NAME` and the log otherwise.
    pub fn wait_established(&self, name: &str, timeout: Duration) {
        if !wait_for(|| self.established(name), timeout) {
            let o = self.birdc(&["show", "protocols", "all", name]);
            panic!(
                "BIRD {} in {}: protocol {name} not Established after {timeout:?}:\n{}\n--- log:\n{}",
                self.opts.tag,
                self.ns,
                output_text(&o),
                tail(&self.log(), LOG_TAIL)
            );
        }
    }

    /// Wait (at most `timeout`) until every BGP protocol is Established
    /// (and there is at least one).
    pub fn wait_all_established(&self, timeout: Duration) {
        let ok = wait_for(
            || {
                let bgp: Vec<BirdProtocol> = self
                    .protocols()
                    .into_iter()
                    .filter(|p| p.proto == "BGP")
                    .collect();
                !bgp.is_empty() && bgp.iter().all(|p| p.info.starts_with("Established"))
            },
            timeout,
        );
        if !ok {
            panic!(
                "BIRD {} in {}: not all BGP protocols Established after {timeout:?}\n{}\n--- log:\n{}",
                self.opts.tag,
                self.ns,
                self.state_dump(),
                tail(&self.log(), LOG_TAIL)
            );
        }
    }

    /// Routes imported by protocol `name`, over its channels ("Routes: N
    /// imported" of `show protocols all NAME`).
    pub fn imported_count(&self, name: &str) -> u64 {
        let out = self.birdc_ok(&format!("show protocols all {name}"));
        out.lines()
            .filter_map(|l| {
                let rest = l.trim().strip_prefix("Routes:")?;
                rest.split_whitespace().next()?.parse::<u64>().ok()
            })
            .sum()
    }

    /// Every prefix in BIRD's tables (`show route`, all tables), sorted.
    pub fn prefixes(&self) -> Vec<String> {
        parse_bird_routes(&self.birdc_ok("show route"))
    }

    /// Prefixes whose route came from protocol `name` (`show route
    /// protocol NAME`).
    pub fn prefixes_from(&self, name: &str) -> Vec<String> {
        parse_bird_routes(&self.birdc_ok(&format!("show route protocol {name}")))
    }

    /// Replace the configuration with `config` and `birdc configure`;
    /// panics unless BIRD accepts it.
    pub fn reconfigure(&self, config: &str) {
        self.write_config(config);
        let out = self.birdc_ok("configure");
        assert!(
            out.contains("Reconfigured") || out.contains("Reconfiguration in progress"),
            "birdc configure in {}:\n{out}",
            self.ns
        );
    }

    /// BIRD's log (and anything it printed).
    pub fn log(&self) -> String {
        let mut s = read(&self.dir.join("bird.out"));
        s.push_str(&read(&self.log_path()));
        s
    }

    /// Whether the log contains `needle` within `timeout`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_for(|| self.log().contains(needle), timeout)
    }

    /// SIGKILL BIRD.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }

    /// SIGTERM BIRD (it closes its sessions); SIGKILL after 5 s.
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
    pub fn restart(&mut self) {
        self.stop();
        append_mark(&self.log_path(), "=== harness: restart ===\n");
        self.launch();
    }
}

impl BgpSpeaker for Bird {
    fn describe(&self) -> String {
        format!("BIRD {} in {}", self.opts.tag, self.ns)
    }
    fn rib_prefixes(&self) -> Vec<String> {
        self.prefixes()
    }
    fn daemon_log(&self) -> String {
        self.log()
    }
    fn state_dump(&self) -> String {
        let o = self.birdc(&["show", "protocols"]);
        format!("--- birdc show protocols:\n{}", output_text(&o))
    }
}

impl Drop for Bird {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Parse `birdc show protocols`: one [`BirdProtocol`] per line after the
/// header. "Since" is a time, or a date and a time.
pub fn parse_bird_protocols(text: &str) -> Vec<BirdProtocol> {
    let mut out = Vec::new();
    for line in text.lines() {
        let t: Vec<&str> = line.split_whitespace().collect();
        if t.len() < 5 || t[0] == "Name" || t[0] == "BIRD" {
            continue;
        }
        let (since, rest) = if t.len() > 5 && t[4].contains('-') && t[5].contains(':') {
            (format!("{} {}", t[4], t[5]), &t[6..])
        } else {
            (t[4].to_string(), &t[5..])
        };
        out.push(BirdProtocol {
            name: t[0].into(),
            proto: t[1].into(),
            table: t[2].into(),
            state: t[3].into(),
            since,
            info: rest.join(" "),
        });
    }
    out
}

/// Parse `birdc show route`: the prefixes at the start of route lines
/// (further paths of a prefix are indented and skipped), sorted, unique.
pub fn parse_bird_routes(text: &str) -> Vec<String> {
    let mut set = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with(char::is_whitespace) {
            continue;
        }
        if let Some(first) = line.split_whitespace().next() {
            if is_prefix(first) {
                set.insert(first.to_string());
            }
        }
    }
    set.into_iter().collect()
}

// ---------------------------------------------------------------- GoBGP

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

// ------------------------------------------------- route details (BGP tests)

/// One route of `birdc show route PREFIX all` (or `show route all ...`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BirdRoute {
    pub prefix: String,
    /// The protocol it came from ("s4", "rv4" ...).
    pub proto: String,
    /// Marked `*` (the best route of its prefix).
    pub primary: bool,
    /// The `via` gateway, if any.
    pub via: Option<String>,
    /// `BGP.as_path` ("65000 65001"; "" when present and empty).
    pub as_path: Option<String>,
    /// `BGP.next_hop` (global, then link-local for IPv6).
    pub next_hop: Option<String>,
    pub local_pref: Option<u64>,
    pub med: Option<u64>,
    /// `BGP.community` as BIRD prints it ("(65000,7) (65001,1)").
    pub community: Option<String>,
}

impl Bird {
    /// `show route PREFIX all` (all tables), parsed.
    pub fn route_detail(&self, prefix: &str) -> Vec<BirdRoute> {
        let o = self.birdc(&["show", "route", prefix, "all"]);
        parse_bird_route_detail(&String::from_utf8_lossy(&o.stdout))
    }
}

/// Parse `birdc show route ... all`: a route per route line (a prefix
/// line, or an indented further path of the prefix above), with the
/// attribute lines under it.
pub fn parse_bird_route_detail(text: &str) -> Vec<BirdRoute> {
    let mut out: Vec<BirdRoute> = Vec::new();
    let mut prefix = String::new();
    for line in text.lines() {
        let t = line.trim();
        // A route line: "[PREFIX] unicast|blackhole|... [PROTO TIME] * (PREF) ..."
        let route_line = t.contains(" [") && t.contains(']') && !line.starts_with('\t');
        if route_line {
            let mut words = t.split_whitespace().peekable();
            if let Some(first) = words.peek().copied() {
                if is_prefix(first) {
                    prefix = first.to_string();
                    words.next();
                }
            }
            let rest: Vec<&str> = words.collect();
            let proto = rest
                .iter()
                .find_map(|w| w.strip_prefix('['))
                .unwrap_or_default()
                .to_string();
            out.push(BirdRoute {
                prefix: prefix.clone(),
                proto,
                primary: rest.contains(&"*"),
                ..BirdRoute::default()
            });
            continue;
        }
        let Some(r) = out.last_mut() else { continue };
        if let Some(v) = t.strip_prefix("via ") {
            r.via = v.split_whitespace().next().map(str::to_string);
        } else if let Some(v) = t.strip_prefix("BGP.as_path:") {
            r.as_path = Some(v.trim().to_string());
        } else if let Some(v) = t.strip_prefix("BGP.next_hop:") {
            r.next_hop = Some(v.trim().to_string());
        } else if let Some(v) = t.strip_prefix("BGP.local_pref:") {
            r.local_pref = v.trim().parse().ok();
        } else if let Some(v) = t.strip_prefix("BGP.med:") {
            r.med = v.trim().parse().ok();
        } else if let Some(v) = t.strip_prefix("BGP.community:") {
            r.community = Some(v.trim().to_string());
        }
    }
    out
}

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
