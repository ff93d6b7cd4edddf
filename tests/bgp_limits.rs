//! BGP limits against real peers in network namespaces:
//!
//! - `maximum_prefix_against_frr`: FRR (bgpd) announces more prefixes
//!   than `neighbor X maximum-prefix` allows; rvpnd warns at the
//!   threshold, then ends the session with Cease/Maximum Number of
//!   Prefixes Reached (FRR logs and shows it), keeps it down ("Idle
//!   (PfxCt)", `show ip bgp neighbors` says why) until `clear ip bgp`;
//!   `warning-only` keeps the session; a new limit lifts the overflow.
//! - `a_peer_that_stops_reading`: a raw BGP peer (a small Python script)
//!   completes OPEN/KEEPALIVE, then reads 8 KiB a second while rvpnd has a
//!   100,000-prefix table (from a second Python peer) for it and re-sends
//!   it with changed attributes again and again; rvpnd's queue for it stays within its write window
//!   and its memory does not grow, vtysh answers at once; then the peer
//!   stops reading altogether while still sending KEEPALIVEs, and rvpnd
//!   closes the session when the send hold timer (the hold time) expires.
//! - `gobgp::maximum_prefix_against_gobgp` (tests/bgp_limits/gobgp.rs):
//!   GoBGP goes over `maximum-prefix 5 restart 1`, gets Cease/1, and the
//!   session comes back by itself a minute later.
//!
//! Needs root, FRR, GoBGP and python3 (scripts/test installs them). Run with
//! `cargo test -p rvpnd --test bgp_limits`.

mod support;

#[path = "bgp_limits/gobgp.rs"]
mod gobgp;

use std::fmt::Write as _;
use std::fs;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::bgp_peers::{require_bgp_peers, Frr};
use support::netns::{veth, Netns};
use support::rvpn::{Rvpnd, RvpndOpts};
use support::{wait_for, Scratch};

/// rvpnd's `router bgp` head (eBGP without policies).
const RV_HEAD: &str = "router bgp 65000\n bgp router-id 10.0.0.1\n no bgp ebgp-requires-policy\n";

/// rvpn's end and the peer's end of the link.
const RV: &str = "10.1.0.1";
const PEER: &str = "10.1.0.2";

fn root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: needs root (network namespaces, FRR)");
        return false;
    }
    true
}

/// Waits for `f`, panicking with `what` and `diag()` after `timeout`.
fn wait(what: &str, timeout: Duration, diag: impl Fn() -> String, f: impl FnMut() -> bool) {
    if !wait_for(f, timeout) {
        panic!("timed out after {timeout:?}: {what}\n{}", diag());
    }
}

/// rvpnd's summary entry of the peer.
fn rv_summary(rv: &Rvpnd) -> Value {
    rv.show_json("show ip bgp summary")["ipv4Unicast"]["peers"][PEER].clone()
}

/// rvpnd's neighbor entry of the peer.
fn rv_neighbor(rv: &Rvpnd) -> Value {
    rv.show_json(&format!("show ip bgp neighbors {PEER}"))[PEER].clone()
}

fn frr_networks(from: usize, to: usize) -> Vec<String> {
    (from..to)
        .map(|i| format!("network 10.50.{i}.0/24"))
        .collect()
}

#[test]
fn maximum_prefix_against_frr() {
    if !root() {
        return;
    }
    require_bgp_peers();
    let (a, b) = (Netns::new("mpr"), Netns::new("mpf"));
    veth(&a, &b, &format!("{RV}/24"), &format!("{PEER}/24"));
    let rv = Rvpnd::start(
        &a,
        &format!(
            "{RV_HEAD} neighbor {PEER} remote-as 65001
 address-family ipv4 unicast
  neighbor {PEER} maximum-prefix 10 50
 exit-address-family
"
        ),
    );
    let mut frr_conf = format!(
        "router bgp 65001\n bgp router-id 10.0.0.2\n no bgp ebgp-requires-policy\n \
         no bgp network import-check\n neighbor {RV} remote-as 65000\n \
         neighbor {RV} timers connect 2\n address-family ipv4 unicast\n"
    );
    for n in frr_networks(0, 6) {
        let _ = writeln!(frr_conf, "  {n}");
    }
    frr_conf.push_str(" exit-address-family\n");
    let frr = Frr::start(&b, &frr_conf);
    let diag = || {
        format!(
            "--- rvpn:\n{}\n--- frr:\n{}\n--- rvpnd log:\n{}",
            rv.vtysh(&[
                "show ip bgp summary",
                &format!("show ip bgp neighbors {PEER}")
            ])
            .stdout
            .iter()
            .map(|b| *b as char)
            .collect::<String>(),
            frr.vtysh_ok(&["show bgp summary", &format!("show bgp neighbors {RV}")]),
            support::bgp_peers::tail(&rv.log(), 80)
        )
    };
    frr.wait_established(RV, Duration::from_secs(40));
    wait("6 prefixes at rvpn", Duration::from_secs(20), diag, || {
        rv_summary(&rv)["pfxRcd"] == 6
    });
    // 6 of 10 is more than 50 %: one warning, the session stays.
    assert!(
        rv.wait_log(
            "%MAXPFX: 6 IPv4 Unicast prefixes accepted",
            Duration::from_secs(5)
        ),
        "{}",
        diag()
    );
    assert!(!rv.log().contains("%MAXPFXEXCEED"));

    // FRR goes over the limit.
    let more = frr_networks(6, 12);
    let mut lines = vec!["router bgp 65001", "address-family ipv4 unicast"];
    lines.extend(more.iter().map(String::as_str));
    frr.configure(&lines);
    wait(
        "rvpn ends the session",
        Duration::from_secs(20),
        diag,
        || rv_summary(&rv)["state"] == "Idle (PfxCt)",
    );
    assert!(rv.log().contains("%MAXPFXEXCEED"), "{}", diag());
    // FRR heard why: Cease/1 with AFI 1, SAFI 1 and the limit 10.
    wait(
        "FRR logs the NOTIFICATION",
        Duration::from_secs(10),
        diag,
        || {
            frr.bgpd_log()
                .contains("6/1 (Cease/Maximum Number of Prefixes Reached)")
        },
    );
    // "%NOTIFICATION: received from neighbor 10.1.0.1 6/1 (Cease/Maximum
    // Number of Prefixes Reached) 7 bytes 00 01 01 00 00 00 0a"
    let log = frr.bgpd_log();
    assert!(
        log.lines()
            .any(|l| l.contains(&format!("received from neighbor {RV} 6/1"))
                && l.ends_with("7 bytes 00 01 01 00 00 00 0a")),
        "the data, RFC 4486:\n{}",
        support::bgp_peers::tail(&log, 40)
    );
    // rvpnd says why, FRR's way.
    let n = rv_neighbor(&rv);
    assert_eq!(n["bgpState"], "Idle (PfxCt)", "{n:#}");
    assert_eq!(n["prefixesConfigExceedMax"], true, "{n:#}");
    assert_eq!(n["reducePrefixNumAndClearIpBgp"], true, "{n:#}");
    let why = n["lastResetDueTo"].as_str().unwrap_or_default();
    assert!(
        why.starts_with("Reached received prefix count (") && why.ends_with(", limit 10)"),
        "{why}"
    );
    let af = &n["addressFamilyInfo"]["ipv4Unicast"];
    assert_eq!(af["prefixAllowedMax"], 10, "{af:#}");
    assert_eq!(af["prefixAllowedWarningThresh"], 50, "{af:#}");
    let text = rv.vtysh_ok(&[&format!("show ip bgp neighbors {PEER}")]);
    for want in [
        "BGP state = Idle (PfxCt)",
        ", due to Reached received prefix count (",
        "Peer had exceeded the max. no. of prefixes configured.",
        &format!("Reduce the no. of prefix and clear ip bgp {PEER} to restore peering"),
        "Maximum prefixes allowed 10",
        "Threshold for warning message 50%",
    ] {
        assert!(text.contains(want), "{want:?} missing:\n{text}");
    }
    let summary = rv.vtysh_ok(&["show ip bgp summary"]);
    assert!(
        summary
            .lines()
            .any(|l| l.starts_with(PEER) && l.contains("Idle (PfxCt)")),
        "{summary}"
    );
    assert_eq!(
        rv.show_json("show ip bgp")["routes"]
            .as_object()
            .map(|r| r.len()),
        Some(0)
    );
    // It stays down although FRR keeps connecting.
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(rv_summary(&rv)["state"], "Idle (PfxCt)", "{}", diag());
    assert!(!frr.established(RV));

    // FRR sends fewer; `clear ip bgp` brings the session back.
    let fewer: Vec<String> = frr_networks(8, 12)
        .iter()
        .map(|n| format!("no {n}"))
        .collect();
    let mut lines = vec!["router bgp 65001", "address-family ipv4 unicast"];
    lines.extend(fewer.iter().map(String::as_str));
    frr.configure(&lines);
    rv.vtysh_ok(&[&format!("clear ip bgp {PEER}")]);
    wait(
        "back with 8 prefixes",
        Duration::from_secs(40),
        diag,
        || {
            let s = rv_summary(&rv);
            s["state"] == "Established" && s["pfxRcd"] == 8
        },
    );
    let before = rv.log().matches("%MAXPFXEXCEED").count();

    // warning-only: over the limit, logged, the session stays.
    let cfg = |line: &str| {
        rv.vtysh_ok(&[
            "configure terminal",
            "router bgp 65000",
            "address-family ipv4 unicast",
            line,
            "end",
        ]);
    };
    cfg(&format!("neighbor {PEER} maximum-prefix 5 warning-only"));
    wait("the warning", Duration::from_secs(10), diag, || {
        rv.log().matches("%MAXPFXEXCEED").count() > before
    });
    std::thread::sleep(Duration::from_secs(3));
    let s = rv_summary(&rv);
    assert!(s["state"] == "Established" && s["pfxRcd"] == 8, "{s:#}");
    assert_eq!(s["connectionsDropped"], 1, "{s:#}");

    // A limit with restart closes it at once and says when it comes back;
    // removing the limit lifts it.
    cfg(&format!("neighbor {PEER} maximum-prefix 5 restart 3"));
    wait("closed again", Duration::from_secs(10), diag, || {
        rv_summary(&rv)["state"] == "Idle (PfxCt)"
    });
    let n = rv_neighbor(&rv);
    assert_eq!(n["reducePrefixNumFrom"], true, "{n:#}");
    let ms = n["restartInTimerMsec"].as_u64().unwrap_or(0);
    assert!((170_000..=180_000).contains(&ms), "{n:#}");
    let text = rv.vtysh_ok(&[&format!("show ip bgp neighbors {PEER}")]);
    assert!(
        text.contains(&format!(
            "Reduce the no. of prefix from {PEER}, will restart in "
        )),
        "{text}"
    );
    assert!(text.contains("restart interval 3 min"), "{text}");
    let run = rv.vtysh_ok(&["show running-config"]);
    assert!(
        run.contains(&format!("  neighbor {PEER} maximum-prefix 5 restart 3\n")),
        "{run}"
    );
    cfg(&format!("no neighbor {PEER} maximum-prefix"));
    wait("lifted", Duration::from_secs(40), diag, || {
        let s = rv_summary(&rv);
        s["state"] == "Established" && s["pfxRcd"] == 8
    });
}

// ------------------------------------------------ a peer that stops reading

/// BGP peers in Python. `stuck`: OPEN (AS 65010, hold 15 s), then
/// KEEPALIVEs every 2 s; it reads 8 KiB a second until the file STOP
/// exists, then never again; its receive buffer is 8 KiB. `feed N`: OPEN
/// (AS 65020, hold 0), N /24s from 10.0.0.0 in full UPDATEs, then it
/// reads whatever comes. Each prints `established`, the stuck one
/// `stopped reading`, and `closed ...` when the connection goes.
const PEERS: &str = r#"
import os, socket, struct, sys, time
rv, local, mode = sys.argv[1], sys.argv[2], sys.argv[3]
def msg(t, body=b""):
    return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), t) + body
asn, hold = (65010, 15) if mode == "stuck" else (65020, 0)
s = socket.socket()
if mode == "stuck":
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
s.bind((local, 0))
s.connect((rv, 179))
caps = bytes([1, 4, 0, 1, 0, 1]) + bytes([65, 4]) + struct.pack("!I", asn)
opt = bytes([2, len(caps)]) + caps
rid = socket.inet_aton(local)
s.sendall(msg(1, struct.pack("!BHH4sB", 4, asn, hold, rid, len(opt)) + opt))
buf, got = b"", []
while len(got) < 2:
    d = s.recv(4096)
    if not d:
        print("closed before established", flush=True)
        sys.exit(1)
    buf += d
    while len(buf) >= 19 and len(buf) >= struct.unpack("!H", buf[16:18])[0]:
        n = struct.unpack("!H", buf[16:18])[0]
        got.append(buf[18])
        buf = buf[n:]
if got[:2] != [1, 4]:
    print("unexpected messages", got, flush=True)
    sys.exit(1)
s.sendall(msg(4))
print("established", flush=True)
if mode == "feed":
    count = int(sys.argv[4])
    attrs = bytes([0x40, 1, 1, 0]) + bytes([0x40, 2, 6, 2, 1]) + struct.pack("!I", asn)
    attrs += bytes([0x40, 3, 4]) + socket.inet_aton(local)
    per = (4096 - 19 - 4 - len(attrs)) // 4
    for first in range(0, count, per):
        nlri = b"".join(bytes([24]) + struct.pack("!I", 0x0A000000 + (i << 8))[:3]
                        for i in range(first, min(count, first + per)))
        s.sendall(msg(2, struct.pack("!H", 0) + struct.pack("!H", len(attrs)) + attrs + nlri))
    print("sent", count, flush=True)
    while s.recv(65536):
        pass
    print("closed by rvpn", flush=True)
    sys.exit(0)
stop = sys.argv[4]
s.settimeout(0.5)
last_ka, reading = time.time(), True
while True:
    if time.time() - last_ka >= 2:
        try:
            s.sendall(msg(4))
        except OSError as e:
            print("closed", e, flush=True)
            sys.exit(0)
        last_ka = time.time()
    if reading and os.path.exists(stop):
        reading = False
        print("stopped reading", flush=True)
    if reading:
        try:
            if not s.recv(8192):
                print("closed by rvpn", flush=True)
                sys.exit(0)
        except socket.timeout:
            pass
    time.sleep(1)
"#;

/// rvpnd's resident memory in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS for {pid}:\n{status}"))
}

/// Prefixes the feeder gives rvpnd for the stuck peer.
const TABLE: u32 = 100_000;
/// The feeder's address (on the peer's side of the link).
const FEEDER: &str = "10.1.0.3";
/// Times the whole table is sent again with other attributes while the
/// peer reads slowly; memory is compared with the highest of the first
/// WARMUP + 1 rounds. Alone, rvpnd's RSS stops growing after round 4; in
/// the full suite, with the machine busy, its allocator arenas were seen
/// to grow until round 7 or so (131 -> 136 MB) and then stay. Unbounded
/// queues would add about 410 KB a round: 6.5 MB over the 16 rounds
/// after the warm-up, above the 4 MB allowed (the queue itself is checked
/// every round against the write window).
const ROUNDS: usize = 24;
const WARMUP: usize = 8;
/// rvpn's write window (bgp::speaker::WRITE_WINDOW) and one chunk of
/// UPDATEs on top of it.
const WINDOW: u64 = 256 * 1024;
const CHUNK: u64 = 64 * 1024;

#[test]
fn a_peer_that_stops_reading() {
    if !root() {
        return;
    }
    assert!(
        support::in_path("python3"),
        "python3 is needed for the raw BGP peer (scripts/test installs it)"
    );
    let (a, b) = (Netns::new("srr"), Netns::new("srp"));
    let v = veth(&a, &b, &format!("{RV}/24"), &format!("{PEER}/24"));
    b.add_addr(&v.b_if, &format!("{FEEDER}/24"));
    // rvpnd's socket buffers at most 64 KiB: what the slow reader takes
    // frees room for rvpnd's writes within seconds (with megabytes queued
    // in the kernel, a socket turns writable only after half of them
    // drained, and a slow reader would look like a stuck one).
    a.sysctl("net.ipv4.tcp_wmem", "4096 16384 65536");
    // One malloc arena: with one per thread (glibc's default, up to 8 per
    // core), each tokio worker that re-exports the table keeps its own
    // high-water mark, and RSS steps up by a table's worth of scratch
    // whenever the work lands on a new thread (a CI run measured +4.2 MB
    // in two flat plateaus). The test is about rvpn's queues, not about
    // how many arenas glibc opened.
    let rv = Rvpnd::start_with(
        &a,
        &format!(
            "{RV_HEAD} neighbor {PEER} remote-as 65010
 neighbor {PEER} timers 5 15
 neighbor {FEEDER} remote-as 65020
 address-family ipv4 unicast
  neighbor {PEER} route-map M1 out
 exit-address-family
!
route-map M1 permit 10
 set metric 1
!
route-map M2 permit 10
 set metric 2
"
        ),
        RvpndOpts {
            env: vec![("MALLOC_ARENA_MAX".into(), "1".into())],
            ..RvpndOpts::default()
        },
    );
    let pid = rv.pid().expect("rvpnd runs");
    let dir = Scratch::new("stuck");
    let script = dir.join("peers.py");
    fs::write(&script, PEERS).expect("write peers.py");
    let stop = dir.join("stop");
    let out = dir.join("stuck.log");
    let fed = dir.join("feed.log");
    let script_s = script.display().to_string();
    let stop_s = stop.display().to_string();
    let count = TABLE.to_string();
    let _feeder = b.spawn(&["python3", &script_s, RV, FEEDER, "feed", &count], &fed);
    let peer_log = || fs::read_to_string(&out).unwrap_or_default();
    let diag = || {
        format!(
            "--- rvpn:\n{}\n--- peer:\n{}\n--- feeder:\n{}\n--- rvpnd log:\n{}",
            String::from_utf8_lossy(
                &rv.vtysh(&[
                    "show ip bgp summary",
                    &format!("show ip bgp neighbors {PEER}")
                ])
                .stdout
            ),
            peer_log(),
            fs::read_to_string(&fed).unwrap_or_default(),
            support::bgp_peers::tail(&rv.log(), 60)
        )
    };
    wait("the table is in", Duration::from_secs(120), diag, || {
        rv.show_json("show ip bgp summary")["ipv4Unicast"]["peers"][FEEDER]["pfxRcd"]
            == u64::from(TABLE)
    });
    let mut peer = b.spawn(&["python3", &script_s, RV, PEER, "stuck", &stop_s], &out);
    wait("the peer is up", Duration::from_secs(60), diag, || {
        peer_log().contains("established") && rv_summary(&rv)["state"] == "Established"
    });
    // The table waits for the slow reader: one window in flight, the rest
    // held back.
    let stats = || rv_neighbor(&rv)["messageStats"].clone();
    wait("updates held back", Duration::from_secs(60), diag, || {
        stats()["updatesHeldBack"].as_u64().unwrap_or(0) > 0
    });
    let mut rss0 = rss_kib(pid);
    let mut worst_show = Duration::ZERO;
    let mut worst_queue = 0u64;
    let mut per_round = Vec::new();
    for round in 0..ROUNDS {
        per_round.push(rss_kib(pid));
        // The baseline is the highest RSS of the warm-up rounds: the
        // allocator's arenas grow over the first re-exports and then stay
        // (one run measured 126 MB at round 2 and 133 MB from round 4 on;
        // see ROUNDS).
        if round <= WARMUP {
            rss0 = if round == 0 {
                rss_kib(pid)
            } else {
                rss0.max(rss_kib(pid))
            };
        }
        let map = if round % 2 == 0 { "M2" } else { "M1" };
        rv.vtysh_ok(&[
            "configure terminal",
            "router bgp 65000",
            "address-family ipv4 unicast",
            &format!("neighbor {PEER} route-map {map} out"),
            "end",
        ]);
        // Re-exporting the table takes the BGP task a while (seconds in a
        // debug build); then it answers at once, the stuck peer or not.
        wait("BGP answers", Duration::from_secs(90), diag, || {
            rv.vtysh(&["show ip bgp summary json"]).status.success()
        });
        let t = Instant::now();
        let st = stats();
        worst_show = worst_show.max(t.elapsed());
        let q = st["outqBytes"].as_u64().unwrap_or(u64::MAX);
        worst_queue = worst_queue.max(q);
        assert!(q <= WINDOW + CHUNK, "round {round}: {st:#}\n{}", diag());
        assert_eq!(
            rv_summary(&rv)["state"],
            "Established",
            "round {round}\n{}",
            diag()
        );
    }
    let rss1 = rss_kib(pid);
    support::figure(&format!(
        "bgp_limits: slow reader, {TABLE} prefixes sent again {ROUNDS} times: rvpnd RSS \
         {rss0} -> {rss1} KiB (each round's start: {per_round:?}), at most {worst_queue} bytes queued, \
         show took at most {worst_show:?}"
    ));
    // Unbounded, every round would have queued the whole table again:
    // about 410 KB a round, a new high at every round after the warm-up
    // (6.5 MB in all). Bounded, memory stays where it was but for a few
    // steps of the allocator (CI runs: +2 MB in one step with one arena,
    // +4.2 MB in two with one per thread). So: few new highs, and little
    // growth in all.
    let mut high = rss0;
    let mut new_highs = 0;
    for &r in per_round.iter().skip(WARMUP + 1).chain([rss1].iter()) {
        if r > high + 256 {
            new_highs += 1;
        }
        high = high.max(r);
    }
    assert!(
        new_highs <= 4 && rss1 < rss0 + 6 * 1024,
        "rvpnd grew from {rss0} to {rss1} KiB with {new_highs} new highs after the warm-up \
         (KiB at the start of each round: {per_round:?})\n{}",
        diag()
    );
    assert!(worst_show < Duration::from_secs(5), "{worst_show:?}");

    // Now it reads nothing more, but still sends KEEPALIVEs: the send hold
    // timer (the hold time, 15 s) ends the session.
    fs::write(&stop, "").expect("create stop");
    let stopped = Instant::now();
    wait(
        "the peer stopped reading",
        Duration::from_secs(5),
        diag,
        || peer_log().contains("stopped reading"),
    );
    wait(
        "rvpn closes the session",
        Duration::from_secs(30),
        diag,
        || rv_summary(&rv)["state"] != "Established",
    );
    let took = stopped.elapsed();
    support::figure(&format!(
        "bgp_limits: a peer that stopped reading was closed after {took:?} (hold time 15 s)"
    ));
    // The last write progress may come a few seconds before the peer
    // stops (the kernel wakes a writer only once enough room is free).
    assert!(
        took >= Duration::from_secs(5) && took <= Duration::from_secs(22),
        "closed {took:?} after the peer stopped reading\n{}",
        diag()
    );
    assert!(rv.log().contains("send hold timer expired"), "{}", diag());
    assert_eq!(
        rv_neighbor(&rv)["lastResetDueTo"],
        "send hold timer expired"
    );
    let st = stats();
    assert_eq!(st["outqBytes"], 0, "{st:#}");
    // rvpnd answers as ever, and drops the connection: the peer's writes
    // fail.
    let t = Instant::now();
    rv.vtysh_ok(&["show ip bgp summary"]);
    assert!(t.elapsed() < Duration::from_secs(5));
    wait(
        "the peer sees the connection go",
        Duration::from_secs(20),
        diag,
        || peer_log().contains("closed"),
    );
    let _ = peer.exited();
}
