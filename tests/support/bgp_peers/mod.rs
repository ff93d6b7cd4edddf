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
//!
//! One file a peer: [`frr`] (with its options and parsing), [`bird`],
//! [`gobgp`]; [`install`] has the packages, binary paths and the check
//! that they are there. What the three share (daemon start-up, log
//! tails, the [`BgpSpeaker`] trait) is here.

mod bird;
mod frr;
mod gobgp;
mod install;

// Callers name everything as `bgp_peers::X`; each test binary uses only
// some of it, so the re-exports would warn in the others.
#[allow(unused_imports)]
pub use bird::{
    parse_bird_protocols, parse_bird_route_detail, parse_bird_routes, Bird, BirdOpts, BirdProtocol,
    BirdRoute,
};
#[allow(unused_imports)]
pub use frr::{Frr, FrrOpts};
#[allow(unused_imports)]
pub use gobgp::{
    parse_gobgp_neighbors, parse_gobgp_rib, GoBgp, GoBgpNeighbor, GoBgpOpts, GoBgpPath,
    ADD_ROUTE_JOBS,
};
#[allow(unused_imports)]
pub use install::{
    require_bfdd, require_bgp_peers, BFDD, BGPD, BGP_PACKAGES, BIRD, BIRDC, GOBGP, GOBGPD, VTYSH,
    ZEBRA,
};

use super::{wait_for, Proc};
use std::fmt::Write as _;
use std::fs;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// How long a control command (vtysh, birdc, gobgp) may take.
const CTL_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a daemon may take to open its control socket.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Log lines shown in panic messages (the whole log stays in the kept
/// scratch directory).
const LOG_TAIL: usize = 150;

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
