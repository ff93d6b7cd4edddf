//! Scenarios 6 to 8: route refresh after policy changes, route-maps on
//! both sides, RFC 8212 (no policy, no routes).

use super::{CHANGE, ROUTES, UP};
use crate::support::bgp_diag::Diag;
use crate::support::bgp_json::{
    frr_neighbor, frr_path, p_communities, p_path, p_peer, p_u64, short, uptime_grew, wait_frr_path,
};
use crate::support::bgp_lab::{frr_head, frr_neighbor_lines, two_nodes, PEER4, RV4};
use crate::support::bgp_peers::Frr;
use crate::support::dut::{
    dut_detail, dut_established, dut_paths, dut_peer, wait_dut_established, wait_dut_path, Dut,
    Kind,
};
use crate::support::wait_until;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

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
