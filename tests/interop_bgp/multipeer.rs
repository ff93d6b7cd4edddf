//! Scenarios 11 and 12: multipath over two eBGP peers, dynamic neighbors
//! (`bgp listen range` and `bgp listen limit`).

use super::{NEVER, ROUTES, UP};
use crate::support::bgp_diag::Diag;
use crate::support::bgp_json::{p_best, p_flag, p_path, p_peer, short, wait_frr_path};
use crate::support::bgp_lab::{frr_head, frr_neighbor_lines};
use crate::support::bgp_peers::{Frr, FrrOpts};
use crate::support::dut::{dut_detail, dut_paths, wait_dut_established, wait_dut_path, Dut, Kind};
use crate::support::netns::{veth, Netns};
use crate::support::wait_until;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

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
