//! BFD under a flood of Control packets from spoofed sources: rvpnd has a
//! `bgp listen range` whose peer group has bfd, and FRR (bgpd + bfdd) is a
//! dynamic neighbor in it. A Python raw-socket generator in FRR's
//! namespace sends BFD Control packets (Your Discriminator 0, TTL 255, so
//! they pass GTSM) from 2,000 other addresses of the range, five rounds.
//! rvpnd must create no session for any of them (they are no BGP
//! neighbor it knows), count them in `show bfd peers`, log about them at
//! most once per 10 s, and FRR's BFD session must still come up, with
//! BGP, while the flood runs.
//!
//! Needs root, FRR and python3 (scripts/test installs them). Run with
//! `cargo test -p rvpnd --test bfd_flood -- --nocapture`.

mod support;

use serde_json::Value;
use std::time::{Duration, Instant};
use support::bgp_peers::{require_bfdd, tail, Frr, FrrOpts};
use support::netns::{veth, Netns};
use support::rvpn::Rvpnd;
use support::wait_for;

const RV: &str = "10.1.0.1";
const FRR: &str = "10.1.0.2";
/// Spoofed sources and rounds of the flood.
const SOURCES: usize = 2000;
const ROUNDS: usize = 5;

/// Sends ROUNDS x SOURCES BFD Control packets to argv[1]:3784 from
/// 10.1.100.1 onwards (raw socket, the kernel fills in the IP checksum),
/// paced at about 10,000 a second; prints how many it sent.
const FLOOD: &str = r#"
import socket, struct, sys, time
dst, n, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
sent = 0
for r in range(rounds):
    for i in range(n):
        src = "10.1.%d.%d" % (100 + i // 250, 1 + i % 250)
        bfd = struct.pack("!BBBBIIIII", 0x20, 0x40, 3, 24, 1000 + i, 0, 1000000, 1000000, 0)
        udp = struct.pack("!HHHH", 49152 + i, 3784, 8 + len(bfd), 0) + bfd
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 255, 17, 0,
                         socket.inet_aton(src), socket.inet_aton(dst))
        s.sendto(ip + udp, (dst, 0))
        sent += 1
        if sent % 100 == 0:
            time.sleep(0.01)
    time.sleep(0.5)
print(sent, flush=True)
"#;

fn ready() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: needs root (network namespaces, FRR, raw sockets)");
        return false;
    }
    require_bfdd();
    true
}

fn peers(rv: &Rvpnd) -> Vec<Value> {
    rv.show_json("show bfd peers json")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// `Passive sessions: N (...); refused M packets: K not a BGP neighbor, ...`
fn passive_line(text: &str) -> Option<(u64, u64, u64)> {
    let l = text.lines().find(|l| l.starts_with("Passive sessions: "))?;
    let num = |after: &str| -> Option<u64> {
        let i = l.find(after)? + after.len();
        l[i..]
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    Some((
        num("Passive sessions: ")?,
        num("refused ")?,
        num("packets: ")?,
    ))
}

#[test]
fn spoofed_sources_get_no_session_and_the_real_neighbor_comes_up() {
    if !ready() {
        return;
    }
    let rv_ns = Netns::new("bbbfr");
    let frr_ns = Netns::new("bbbff");
    veth(&rv_ns, &frr_ns, &format!("{RV}/16"), &format!("{FRR}/16"));
    let rv = Rvpnd::start(
        &rv_ns,
        "router bgp 65000\n bgp router-id 10.0.0.1\n no bgp ebgp-requires-policy\n \
         neighbor D peer-group\n neighbor D remote-as external\n neighbor D bfd\n \
         bgp listen range 10.1.0.0/16 peer-group D\n bgp listen limit 5\n",
    );
    let frr = Frr::start_with(
        &frr_ns,
        &format!(
            "router bgp 65001\n bgp router-id 10.0.0.2\n no bgp ebgp-requires-policy\n \
             neighbor {RV} remote-as 65000\n neighbor {RV} timers connect 2\n \
             neighbor {RV} bfd\n"
        ),
        FrrOpts {
            bfdd: true,
            ..FrrOpts::tagged("bbfrr")
        },
    );
    let report = || {
        format!(
            "--- rvpn show bfd peers:\n{}\n--- FRR show bfd peers:\n{}\n--- rvpnd log:\n{}",
            String::from_utf8_lossy(&rv.vtysh(&["show bfd peers"]).stdout),
            String::from_utf8_lossy(&frr.vtysh(&["show bfd peers"]).stdout),
            tail(&rv.log(), 40)
        )
    };
    // The flood runs while FRR connects and its BFD comes up.
    let started = Instant::now();
    let flood = std::process::Command::new("ip")
        .args(["netns", "exec", frr_ns.name(), "python3", "-c", FLOOD, RV])
        .args([SOURCES.to_string(), ROUNDS.to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let up = wait_for(
        || {
            peers(&rv)
                .iter()
                .any(|p| p["peer"] == FRR && p["status"] == "up")
                && frr.established(RV)
        },
        Duration::from_secs(60),
    );
    assert!(up, "FRR's BFD and BGP not up\n{}", report());
    let out = flood.wait_with_output().expect("flood ends");
    assert!(
        out.status.success(),
        "flood: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    assert_eq!(sent, (SOURCES * ROUNDS) as u64);
    let took = started.elapsed();
    // Let the last packets be read.
    std::thread::sleep(Duration::from_secs(1));
    // One session: FRR's. Every spoofed source was refused and counted
    // (what the socket buffer dropped under the burst is not seen).
    let ps = peers(&rv);
    assert_eq!(ps.len(), 1, "{ps:#?}\n{}", report());
    assert_eq!(ps[0]["peer"], FRR);
    assert_eq!(ps[0]["status"], "up");
    let text = rv.vtysh_ok(&["show bfd peers"]);
    let (passive, refused, not_neighbor) =
        passive_line(&text).unwrap_or_else(|| panic!("no passive line:\n{text}"));
    assert_eq!(passive, 1, "{text}");
    assert!(
        text.contains("(at most 5 per listen range, 1024 in all)"),
        "{text}"
    );
    assert_eq!(refused, not_neighbor, "{text}");
    // FRR's own packets are refused too until its BGP session is
    // accepted (bfdd sends about one a second while Down).
    let frr_before_bgp = 2 * started.elapsed().as_secs() + 10;
    assert!(
        not_neighbor >= sent / 2 && not_neighbor <= sent + frr_before_bgp,
        "{not_neighbor} of {sent} counted:\n{text}"
    );
    // The log: at most one line per 10 s about them.
    let lines = rv.log().matches("BFD: no session for").count() as u64;
    let bound = took.as_secs() / 10 + 2;
    assert!(
        (1..=bound).contains(&lines),
        "{lines} log lines in {took:?}\n{}",
        report()
    );
    // BGP still up with FRR, and FRR's BFD sees rvpn up.
    let s = rv.show_json("show ip bgp summary")["ipv4Unicast"]["peers"][FRR]["state"].clone();
    assert_eq!(s, "Established", "{}", report());
    support::figure(&format!(
        "bfd flood: {sent} spoofed BFD packets ({SOURCES} sources) in {:.1} s: \
         {not_neighbor} refused and counted, {lines} log lines, 1 session (FRR's, up)",
        took.as_secs_f64()
    ));
}
