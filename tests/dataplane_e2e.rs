//! End-to-end traffic through rvpn's data plane, host to host:
//!
//! ```text
//! hostA -- gwA (rvpnd) -- [transit: router or NAT] -- gwB (strongSwan | rvpnd) -- hostB
//! ```
//!
//! Pings both ways, TCP and UDP transfers whose content is checked on
//! arrival, IPv6 inner traffic over an IPv4 outer tunnel, Child SA rekeys
//! every few seconds under continuous traffic (no packet may be lost), a
//! NAT between the gateways forcing UDP encapsulation, what `show crypto
//! ipsec sa` says against what crossed, and the same against a second
//! rvpnd. strongSwan is charon with kernel-libipsec
//! (userspace ESP, always in UDP 4500 in Debian 12's 5.9.8). The topology
//! and the traffic tools are in tests/support/hosts/; a failing test
//! prints both daemons' logs.
//!
//! Needs root and the packages scripts/test installs, plus python3 (it
//! runs the traffic on the hosts; not in a minimal Debian 12 image). Run with
//! `cargo test -p rvpnd --test dataplane_e2e -- --test-threads=2`.

mod support;

use serde_json::Value;
use std::time::{Duration, Instant};
use support::hosts::{
    assert_same_stream, link_mtu, rvpn_child_installs, rvpn_ike_spis, rvpn_sas, rvpn_spis_in,
    sa_packet_counters, DpLab, LabOpts, Path, PeerKind, Side, Wire,
};
use support::rvpn::Rvpnd;

const MIB: usize = 1 << 20;

fn lab(tag: &str, peer: PeerKind, path: Path) -> DpLab {
    DpLab::start(LabOpts::new(tag, peer, path))
}

/// Ping 10 times each way (IPv4 or IPv6) while capturing gwA's WAN link;
/// what the wire showed. Panics unless every ping is answered, the
/// capture saw the ESP packets and no inner address in the clear.
fn ping_both_ways(l: &DpLab, v6: bool) -> Wire {
    let cap = l.gw_a.capture(&l.wan_a, "");
    l.ping_ok(Side::A, v6, 10);
    l.ping_ok(Side::B, v6, 10);
    let wire = Wire::of(&cap.stop());
    assert_eq!(
        wire.plaintext, 0,
        "inner packets crossed the WAN in the clear: {:?}",
        wire.plaintext_samples
    );
    assert!(
        wire.esp() >= 40,
        "20 echo requests and 20 replies, but the WAN saw: {}",
        wire.summary()
    );
    wire
}

/// A TCP transfer of `bytes` each way, content checked; a line for the
/// report per direction.
fn tcp_both_ways(l: &DpLab, v6: bool, bytes: usize) -> Vec<String> {
    let mut report = Vec::new();
    for (from, seed) in [(Side::A, 11), (Side::B, 22)] {
        let what = format!(
            "TCP{} {} -> {}, {} bytes",
            if v6 { "/IPv6" } else { "" },
            from.host(v6),
            from.other().host(v6),
            bytes
        );
        let r = l.tcp_transfer(from, v6, bytes, seed);
        assert_same_stream(&what, &r, bytes);
        let (s, g) = r.unwrap();
        report.push(format!(
            "{what}: {} Mbit/s, {} s, MSS sender {} receiver {}",
            s["mbit_s"], s["secs"], s["mss"], g["mss"]
        ));
    }
    report
}

/// Probe every 10 ms for `secs` from hostA (UDP echo from hostB), with a
/// numbered UDP stream of 1000 datagrams a second hostA -> hostB beside
/// it, while Child SAs rekey. Panics unless at least `min_rekeys` Child
/// SAs replaced their predecessors within one IKE SA (a re-established
/// tunnel is not a rekey), the gateway of `initiator`'s side (if given)
/// started at least one of them (the lifetimes are chosen for that), not
/// one probe was lost and not one datagram of the stream.
fn rekeys_under_traffic(l: &DpLab, secs: u32, min_rekeys: usize, initiator: Option<Side>) {
    let installs_before = rvpn_child_installs(&l.rvpn);
    let ike_before = rvpn_ike_spis(&l.rvpn);
    let initiated = |l: &DpLab| {
        let a = l.rvpn.log().matches("rekeying CHILD_SA").count();
        let b = match (l.swan(), l.rvpn_b()) {
            (Some(s), _) => s.log().matches("activating CHILD_REKEY task").count(),
            (_, Some(r)) => r.log().matches("rekeying CHILD_SA").count(),
            _ => 0,
        };
        (a, b)
    };
    let init_before = initiated(l);
    // Besides the probes, a denser stream hostA -> hostB (1000 datagrams
    // a second), so that a short window of loss at a rekey shows.
    let bg = l.udp_stream_start(Side::A, false, secs * 1000, 1000, 77);
    let t0 = Instant::now();
    let mut timeline: Vec<(f64, Vec<String>)> = Vec::new();
    let r = l.probe_stream(Side::A, false, 10, secs, || {
        let spis = rvpn_spis_in(&l.rvpn);
        if timeline.last().is_none_or(|(_, s)| *s != spis) {
            timeline.push((t0.elapsed().as_secs_f64(), spis));
        }
    });
    let installs = rvpn_child_installs(&l.rvpn) - installs_before;
    let ike_after = rvpn_ike_spis(&l.rvpn);
    let init_after = initiated(l);
    let changes: Vec<String> = timeline
        .iter()
        .map(|(t, s)| format!("{t:.1}s {s:?}"))
        .collect();
    let v = r.unwrap_or_else(|e| panic!("probe stream failed: {e}"));
    let (bs, bg) = bg
        .finish()
        .unwrap_or_else(|e| panic!("background UDP stream failed: {e}"));
    let report = format!(
        "rekey soak {secs}s: {installs} Child SA installs on gwA during the stream (rekeys \
         initiated by gwA {}, by gwB {}); IKE SA {ike_before:?} -> {ike_after:?}; probes sent {} \
         received {} lost {} (echoed by hostB: {}), rtt ms p50 {} p99 {} max {}\n  lost [seq, \
         seconds after start]: {}\n  gwA inbound SPIs over time (seconds after start): \
         {changes:?}\n  background UDP hostA -> hostB at 1000/s: sent {} received {} missing {} \
         (first missing seq = ms after its start: {}), corrupt {}, dups {}",
        init_after.0 - init_before.0,
        init_after.1 - init_before.1,
        v["sent"],
        v["received"],
        v["lost_count"],
        v["echoed"],
        v["rtt_ms_p50"],
        v["rtt_ms_p99"],
        v["rtt_ms_max"],
        v["lost"],
        bs["sent"],
        bg["unique"],
        bg["missing_count"],
        bg["missing"],
        bg["corrupt"],
        bg["dups"]
    );
    eprintln!("{report}");
    let mut problems = Vec::new();
    if ike_before.len() != 1 || ike_after != ike_before {
        problems.push("the IKE SA changed: the tunnel was re-established, not rekeyed".to_string());
    }
    if installs < min_rekeys {
        problems.push(format!(
            "expected at least {min_rekeys} Child SA rekeys in {secs} s, gwA installed {installs}"
        ));
    }
    let by = match initiator {
        Some(Side::A) => init_after.0 - init_before.0,
        Some(Side::B) => init_after.1 - init_before.1,
        None => 1,
    };
    if by == 0 {
        problems.push(format!(
            "the gateway on side {initiator:?} was meant to initiate the rekeys but started none"
        ));
    }
    let sent = v["sent"].as_u64().unwrap_or(0);
    if sent < u64::from(secs) * 90 {
        problems.push(format!("the prober sent only {sent} probes"));
    }
    if v["lost_count"].as_u64() != Some(0) {
        problems.push(format!("{} probes lost", v["lost_count"]));
    }
    if bg["missing_count"].as_u64() != Some(0)
        || bg["corrupt"].as_u64() != Some(0)
        || bg["dups"].as_u64() != Some(0)
    {
        problems.push(format!(
            "background stream: {} datagrams missing, {} corrupt, {} duplicated",
            bg["missing_count"], bg["corrupt"], bg["dups"]
        ));
    }
    assert!(
        problems.is_empty(),
        "{}\n{report}\n  prober: {v}",
        problems.join("; ")
    );
    // The tunnel still carries traffic after the soak.
    l.ping_ok(Side::A, false, 3);
}

// ---------------------------------------------------------------------
// rvpn against strongSwan (kernel-libipsec)

/// Ping hostA -> hostB and hostB -> hostA; strongSwan's Child SA counts
/// the packets both ways.
#[test]
fn ping_both_ways_through_rvpn_and_strongswan() {
    let l = lab("dpe1", PeerKind::StrongSwan, Path::Direct);
    let before = l.swan_child().expect("strongSwan lists the child");
    let wire = ping_both_ways(&l, false);
    let after = l.swan_child().expect("strongSwan lists the child");
    eprintln!(
        "strongSwan child: packets in {} -> {}, out {} -> {}; gwA WAN: {}",
        before.packets_in,
        after.packets_in,
        before.packets_out,
        after.packets_out,
        wire.summary()
    );
    assert!(
        after.packets_in >= before.packets_in + 20,
        "strongSwan decrypted 20 packets (10 requests from hostA, 10 replies to hostB's \
         pings): in {} -> {}",
        before.packets_in,
        after.packets_in
    );
    assert!(
        after.packets_out >= before.packets_out + 20,
        "strongSwan encrypted 20 packets: out {} -> {}",
        before.packets_out,
        after.packets_out
    );
}

/// 4 MiB each way over TCP with a router between the gateways, SHA-256
/// compared. The hosts' MTU is 1500 and Tunnel1's 1400: full-size
/// segments meet the smaller tunnel MTU. First with path MTU discovery
/// (DF set: the gateways answer "fragmentation needed"), then with the
/// hosts' PMTU discovery off (no DF: the gateways fragment inner packets
/// before encrypting them). The transfers must complete either way.
#[test]
fn tcp_transfers_both_ways_with_content_checked() {
    let mut o = LabOpts::new("dpe2", PeerKind::StrongSwan, Path::Routed);
    o.tunnel_mtu = Some(1400);
    let l = DpLab::start(o);
    assert_eq!(
        link_mtu(&l.gw_a, "Tunnel1"),
        Some(1400),
        "Tunnel1 has the configured MTU"
    );
    let icmp_a = l.host_a.capture(&l.host_a_if, "icmp");
    let icmp_b = l.host_b.capture(&l.host_b_if, "icmp");
    let mut report = tcp_both_ways(&l, false, 4 * MIB);
    let frag_needed = |text: String| text.lines().filter(|x| x.contains("need to frag")).count();
    let (na, nb) = (frag_needed(icmp_a.stop()), frag_needed(icmp_b.stop()));
    report.push(format!(
        "with PMTU discovery: 'fragmentation needed' received by hostA {na}, by hostB {nb}; \
         MTU of gwA's Tunnel1 {:?}, of gwB's ipsec0 {:?}",
        link_mtu(&l.gw_a, "Tunnel1"),
        link_mtu(&l.gw_b, "ipsec0")
    ));
    for h in [&l.host_a, &l.host_b] {
        h.sysctl("net.ipv4.ip_no_pmtu_disc", "1");
        h.exec_ok(&["ip", "route", "flush", "cache"]);
    }
    let frag = l.gw_a.capture(&l.wan_a, "");
    report.push("without PMTU discovery (no DF, the gateways fragment):".into());
    report.extend(tcp_both_ways(&l, false, 4 * MIB));
    let wire = Wire::of(&frag.stop());
    report.push(format!("gwA WAN meanwhile: {}", wire.summary()));
    eprintln!("{}", report.join("\n"));
}

/// 600 numbered datagrams of 64 to 1300 bytes each way at 200 per
/// second: every one arrives once, intact.
#[test]
fn udp_datagrams_both_ways_with_content_checked() {
    let l = lab("dpe3", PeerKind::StrongSwan, Path::Direct);
    for (from, seed) in [(Side::A, 5), (Side::B, 6)] {
        let r = l.udp_transfer(from, false, 600, 200, seed);
        let (s, g) = r.unwrap_or_else(|e| panic!("UDP from {from:?}: {e}"));
        eprintln!("UDP from host {from:?}: sender {s}\n  receiver {g}");
        assert_eq!(
            g["missing_count"].as_u64(),
            Some(0),
            "UDP from host {from:?}: datagrams lost: {g}"
        );
        assert_eq!(g["corrupt"].as_u64(), Some(0), "corrupted datagrams: {g}");
        assert_eq!(g["dups"].as_u64(), Some(0), "duplicated datagrams: {g}");
        assert_eq!(g["unique"].as_u64(), Some(600), "{g}");
        assert_eq!(g["bytes"], s["bytes"], "{g} vs {s}");
        assert_eq!(g["sha256"], s["sha256"], "content: {g} vs {s}");
    }
}

/// IPv6 hosts talk through the IPv4 tunnel: ping6 both ways and 2 MiB of
/// TCP each way.
#[test]
fn ipv6_inner_traffic_over_an_ipv4_tunnel() {
    let l = lab("dpe4", PeerKind::StrongSwan, Path::Direct);
    let wire = ping_both_ways(&l, true);
    let report = tcp_both_ways(&l, true, 2 * MIB);
    eprintln!(
        "gwA WAN during ping6: {}\n{}",
        wire.summary(),
        report.join("\n")
    );
}

/// strongSwan initiates the Child SA rekeys (rekey_time 7 s, life_time
/// 12 s; rvpn's lifetime is 10 s) while hostA probes hostB every 10 ms
/// for 30 s (and streams 1000 datagrams a second to it): at least 3
/// rekeys within one IKE SA, not one probe or datagram lost.
#[test]
fn rekeys_initiated_by_strongswan_lose_no_probe() {
    let mut o = LabOpts::new("dpe5", PeerKind::StrongSwan, Path::Direct);
    o.rvpn_child_lifetime = Some(10);
    o.swan_child_rekey = Some(Duration::from_secs(7));
    // swanctl's default life_time is rekey_time + 10% in whole seconds:
    // 7 s, which would expire the SA instead of rekeying it.
    o.swan_child_life = Some(Duration::from_secs(12));
    let l = DpLab::start(o);
    rekeys_under_traffic(&l, 30, 3, Some(Side::B));
}

/// rvpn initiates the Child SA rekeys (lifetime 10 s, so every 8.5-9 s;
/// strongSwan's rekey_time is 20 s) under the same traffic.
#[test]
fn rekeys_initiated_by_rvpn_lose_no_probe() {
    let mut o = LabOpts::new("dpe5r", PeerKind::StrongSwan, Path::Direct);
    o.rvpn_child_lifetime = Some(10);
    o.swan_child_rekey = Some(Duration::from_secs(20));
    o.swan_child_life = Some(Duration::from_secs(30));
    let l = DpLab::start(o);
    rekeys_under_traffic(&l, 30, 3, Some(Side::A));
}

/// gwA sits behind a MASQUERADE router: IKE floats to 4500, ESP travels
/// in UDP 4500 both ways (no raw ESP on either side of the NAT), both
/// ends say so, and pings and TCP transfers get through.
#[test]
fn nat_between_the_gateways_forces_udp_encapsulation() {
    let mut o = LabOpts::new("dpe6", PeerKind::StrongSwan, Path::Nat);
    o.nat_keepalive = Some(5);
    let l = DpLab::start(o);
    let tr = l.transit.as_ref().expect("a transit namespace");
    let (in_if, out_if) = l.transit_ifs.clone().expect("transit links");
    let cap_in = tr.capture(&in_if, "");
    let cap_out = tr.capture(&out_if, "");
    l.ping_ok(Side::A, false, 5);
    l.ping_ok(Side::B, false, 5);
    let report = tcp_both_ways(&l, false, MIB);
    let inside = Wire::of(&cap_in.stop());
    let outside = Wire::of(&cap_out.stop());
    eprintln!(
        "{}\ntransit, gwA's side: {}\ntransit, gwB's side: {}",
        report.join("\n"),
        inside.summary(),
        outside.summary()
    );
    for (side, w) in [("gwA's", &inside), ("gwB's", &outside)] {
        assert_eq!(
            w.raw_esp,
            0,
            "raw ESP on {side} side of the NAT: {}",
            w.summary()
        );
        assert!(
            w.udp_esp >= 20,
            "ESP in UDP 4500 on {side} side: {}",
            w.summary()
        );
        assert_eq!(
            w.plaintext, 0,
            "inner packets in the clear on {side} side: {:?}",
            w.plaintext_samples
        );
    }
    let sa = l
        .swan()
        .unwrap()
        .wait_established("rvpn", "net", Duration::from_secs(5));
    assert!(sa.nat_remote, "strongSwan sees gwA behind a NAT: {sa:#?}");
    assert!(
        sa.child("net").is_some_and(|c| c.encap),
        "strongSwan's child is UDP-encapsulated: {sa:#?}"
    );
    let ike = l.rvpn.show_json("show crypto ikev2 sa");
    assert_eq!(ike["ike_sas"][0]["nat_t"], true, "rvpn's IKE SA: {ike}");
    let sas = rvpn_sas(&l.rvpn);
    assert!(
        !sas.is_empty() && sas.iter().all(|s| s["encap"] == "udp-4500"),
        "rvpn's `show crypto ipsec sa` names the UDP encapsulation: {sas:?}"
    );
    let text = l.rvpn.vtysh_ok(&["show crypto ipsec sa"]);
    assert!(text.contains("UDP-Encaps"), "{text}");
}

/// What a user reads in `show crypto ipsec sa` agrees with the traffic:
/// packet counters that grow with it (CLI.md: "SPIs, transform, bytes,
/// packets, replay drops") and an encapsulation that names what the
/// wire carries, against strongSwan and against another rvpnd.
#[test]
fn show_crypto_ipsec_sa_counts_packets_and_names_the_encapsulation() {
    let mut problems = Vec::new();
    for (tag, peer) in [("dpe7", PeerKind::StrongSwan), ("dpe7r", PeerKind::Rvpn)] {
        let l = lab(tag, peer, Path::Direct);
        let wire = ping_both_ways(&l, false);
        let wire_says = match (wire.udp_esp > 0, wire.raw_esp > 0) {
            (true, false) => "udp-4500",
            (false, true) => "esp",
            _ => "mixed",
        };
        let mut daemons: Vec<(&str, &Rvpnd)> = vec![("gwA", &l.rvpn)];
        if let Some(b) = l.rvpn_b() {
            daemons.push(("gwB", b));
        }
        for (name, r) in daemons {
            let sas = rvpn_sas(r);
            let what = format!("{peer:?} lab, {name}");
            if sas.len() != 1 {
                problems.push(format!("{what}: expected one SA: {sas:?}"));
                continue;
            }
            let sa: &Value = &sas[0];
            match sa_packet_counters(sa) {
                (Some(i), Some(o)) if i >= 20 && o >= 20 => {}
                (i, o) => problems.push(format!(
                    "{what}: 20 packets went each way, the SA's packet counters say in {i:?} \
                     out {o:?}: {sa}"
                )),
            }
            if sa["encap"] != wire_says {
                problems.push(format!(
                    "{what}: `encap` is {} but the wire carries {} ({})",
                    sa["encap"],
                    wire_says,
                    wire.summary()
                ));
            }
        }
        if !problems.is_empty() {
            eprintln!("{}", l.logs(40));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------------
// rvpn against rvpn

/// Two rvpnds (gwB a hub with `tunnel destination dynamic`): pings both
/// ways. Without NAT they may use raw ESP or ESP in UDP; the wire is
/// reported.
#[test]
fn rvpn_rvpn_ping_both_ways() {
    let l = lab("dpe8", PeerKind::Rvpn, Path::Direct);
    let wire = ping_both_ways(&l, false);
    eprintln!("rvpn-rvpn without NAT, gwA WAN: {}", wire.summary());
}

#[test]
fn rvpn_rvpn_tcp_transfers_both_ways_with_content_checked() {
    let mut o = LabOpts::new("dpe9", PeerKind::Rvpn, Path::Direct);
    o.tunnel_mtu = Some(1400);
    let l = DpLab::start(o);
    let report = tcp_both_ways(&l, false, 4 * MIB);
    eprintln!("{}", report.join("\n"));
}

#[test]
fn rvpn_rvpn_ipv6_inner_traffic() {
    let l = lab("dpe10", PeerKind::Rvpn, Path::Direct);
    let wire = ping_both_ways(&l, true);
    let report = tcp_both_ways(&l, true, 2 * MIB);
    eprintln!(
        "gwA WAN during ping6: {}\n{}",
        wire.summary(),
        report.join("\n")
    );
}

/// Both rvpnds with 10 s Child SA lifetimes (rekeys every 8.5-9 s from
/// whichever end's timer fires first) under a 10 ms probe stream (and
/// 1000 datagrams a second) for 30 s.
#[test]
fn rvpn_rvpn_rekeys_under_continuous_traffic_lose_nothing() {
    let mut o = LabOpts::new("dpe11", PeerKind::Rvpn, Path::Direct);
    o.rvpn_child_lifetime = Some(10);
    let l = DpLab::start(o);
    rekeys_under_traffic(&l, 30, 3, None);
}
