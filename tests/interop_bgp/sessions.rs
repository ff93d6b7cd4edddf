//! Scenarios 1 to 5: sessions and routes both ways with FRR (eBGP IPv4;
//! iBGP IPv4 and IPv6), BIRD and GoBGP (eBGP, iBGP); TCP MD5.

use super::{CHANGE, NEVER, ROUTES, UP};
use crate::support::bgp_diag::Diag;
use crate::support::bgp_json::{p_best, p_nexthops, p_path, p_u64, short, wait_frr_path};
use crate::support::bgp_lab::{frr_head, frr_neighbor_lines, two_nodes, PEER4, PEER6, RV4, RV6};
use crate::support::bgp_peers::{Bird, BirdOpts, Frr, GoBgp, GoBgpOpts};
use crate::support::dut::{
    dut_established, dut_peer, wait_dut_established, wait_dut_gone, wait_dut_path, Dut, Kind,
};
use crate::support::netns::Netns;
use crate::support::wait_until;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

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
        let p =
            dut_peer(&dut, PEER4).unwrap_or_else(|e| panic!("rvpn must list the neighbor: {e}"));
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
