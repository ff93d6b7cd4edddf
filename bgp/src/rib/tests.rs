use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use ipnetwork::IpNetwork;

use super::*;
use crate::wire::{AsPath, Origin, PathAttrs};

fn pfx(s: &str) -> IpNetwork {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn attrs(path: &[u32], nh: &str) -> RouteAttrs {
    RouteAttrs::new(
        PathAttrs {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::sequence(path.iter().copied())),
            ..PathAttrs::default()
        },
        ip(nh),
    )
}

struct Lab {
    rib: Rib,
}

impl Lab {
    fn new() -> Lab {
        Lab {
            rib: Rib::new(Ipv4Addr::new(10, 0, 0, 1)),
        }
    }
    fn peer(&mut self, addr: &str, id: [u8; 4], ebgp: bool) -> PeerIdx {
        self.rib
            .add_peer(PeerMeta {
                addr: ip(addr),
                router_id: Ipv4Addr::from(id),
                ebgp,
            })
            .unwrap()
    }
    fn add(&mut self, peer: PeerIdx, p: &str, a: RouteAttrs) {
        self.rib.update(peer, pfx(p), 0, Arc::new(a));
    }
    fn decide(&mut self) -> Vec<IpNetwork> {
        let mut v = Vec::new();
        self.rib.run_decision(|p| v.push(p));
        v
    }
    fn best(&self, p: &str) -> Option<PeerIdx> {
        self.rib.get(&pfx(p)).and_then(|d| d.best()).map(|b| b.peer)
    }
    fn fwd(&self, p: &str) -> Vec<PeerIdx> {
        let mut v: Vec<PeerIdx> = self
            .rib
            .get(&pfx(p))
            .map(|d| d.forwarding().map(|x| x.peer).collect())
            .unwrap_or_default();
        v.sort();
        v
    }
}

const P: &str = "192.0.2.0/24";

#[test]
fn single_path_is_best_and_reported() {
    let mut l = Lab::new();
    let a = l.peer("10.1.0.2", [2, 2, 2, 2], true);
    l.add(a, P, attrs(&[65001], "10.1.0.2"));
    assert_eq!(l.decide(), vec![pfx(P)]);
    assert_eq!(l.best(P), Some(a));
    assert_eq!(l.fwd(P), vec![a]);
    assert_eq!(l.rib.peer_count(a, Afi::V4), 1);
    // Nothing changed: nothing reported.
    assert!(l.decide().is_empty());
    // The same attributes again change nothing either.
    assert!(!l
        .rib
        .update(a, pfx(P), 0, Arc::new(attrs(&[65001], "10.1.0.2"))));
    assert!(!l.rib.has_dirty());
}

/// Each step of the decision process, with everything before it equal.
#[test]
fn decision_steps_in_order() {
    // (better, worse, expected step)
    let base = || attrs(&[65001, 65009], "10.1.0.2");
    let mut cases: Vec<(RouteAttrs, RouteAttrs, Step)> = Vec::new();
    let (mut a, b) = (base(), base());
    a.weight = 10;
    cases.push((a, b, Step::Weight));
    let (mut a, mut b) = (base(), base());
    a.attrs.local_pref = Some(200);
    b.weight = 0;
    cases.push((a, b, Step::LocalPref));
    let (a, b) = (attrs(&[65001], "10.1.0.2"), base());
    cases.push((a, b, Step::AsPathLen));
    let (a, mut b) = (base(), base());
    b.attrs.origin = Some(Origin::Incomplete);
    cases.push((a, b, Step::Origin));
    let (mut a, mut b) = (base(), base());
    a.attrs.med = Some(5);
    b.attrs.med = Some(50);
    cases.push((a, b, Step::Med));
    for (better, worse, step) in cases {
        let mut l = Lab::new();
        let p1 = l.peer("10.1.0.2", [9, 9, 9, 9], true);
        let p2 = l.peer("10.1.0.3", [1, 1, 1, 1], true);
        // The worse path has the lower router-id and address: only the
        // step under test can make the other one win.
        l.add(p2, P, worse.clone());
        l.add(p1, P, better.clone());
        l.decide();
        assert_eq!(l.best(P), Some(p1), "{step:?}");
        let d = l.rib.get(&pfx(P)).unwrap();
        let (x, y) = (&d.paths()[1], &d.paths()[0]);
        let got = compare(
            x,
            l.rib.peer_meta(p1).unwrap(),
            y,
            l.rib.peer_meta(p2).unwrap(),
        );
        assert_eq!(got, (std::cmp::Ordering::Less, step));
    }
}

#[test]
fn med_only_between_same_neighbor_as() {
    let mut l = Lab::new();
    let p1 = l.peer("10.1.0.2", [9, 9, 9, 9], true);
    let p2 = l.peer("10.1.0.3", [1, 1, 1, 1], true);
    let mut a = attrs(&[65001], "10.1.0.2");
    a.attrs.med = Some(5);
    let mut b = attrs(&[65002], "10.1.0.3");
    b.attrs.med = Some(500);
    l.add(p1, P, a);
    l.add(p2, P, b);
    l.decide();
    // Different neighbor ASes: MED is skipped, the lower router-id wins.
    assert_eq!(l.best(P), Some(p2));
}

#[test]
fn local_then_ebgp_then_router_id_then_address() {
    let mut l = Lab::new();
    let ibgp = l.peer("10.1.0.2", [1, 1, 1, 1], false);
    let ebgp = l.peer("10.1.0.3", [9, 9, 9, 9], true);
    l.add(ibgp, P, attrs(&[65001], "10.1.0.2"));
    l.add(ebgp, P, attrs(&[65001], "10.1.0.3"));
    l.decide();
    assert_eq!(l.best(P), Some(ebgp));
    let mut local = attrs(&[], "0.0.0.0");
    local.weight = 0;
    l.add(LOCAL, P, local);
    l.decide();
    assert_eq!(l.best(P), Some(LOCAL), "locally originated wins");

    // Same router-id (two sessions to one router): the lower address.
    let mut l = Lab::new();
    let a = l.peer("10.1.0.9", [5, 5, 5, 5], true);
    let b = l.peer("10.1.0.3", [5, 5, 5, 5], true);
    l.add(a, P, attrs(&[65001], "10.1.0.9"));
    l.add(b, P, attrs(&[65001], "10.1.0.3"));
    l.decide();
    assert_eq!(l.best(P), Some(b));
}

/// The best path does not depend on the order paths arrived in.
#[test]
fn order_independent() {
    let mk = |order: &[usize]| {
        let mut l = Lab::new();
        let peers = [
            l.peer("10.1.0.2", [3, 3, 3, 3], true),
            l.peer("10.1.0.3", [2, 2, 2, 2], true),
            l.peer("10.1.0.4", [4, 4, 4, 4], false),
        ];
        let paths = [
            attrs(&[65001, 1], "10.1.0.2"),
            attrs(&[65002, 1], "10.1.0.3"),
            attrs(&[65003], "10.1.0.4"),
        ];
        for &i in order {
            l.add(peers[i], P, paths[i].clone());
        }
        l.decide();
        let b = l.best(P).unwrap();
        peers.iter().position(|&p| p == b).unwrap()
    };
    let first = mk(&[0, 1, 2]);
    for o in [[0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]] {
        assert_eq!(mk(&o), first);
    }
    // iBGP with the shorter path wins on AS path length.
    assert_eq!(first, 2);
}

#[test]
fn multipath_same_neighbor_as_and_relax() {
    let run = |relax: bool, max: u16, second_as: u32| {
        let mut l = Lab::new();
        l.rib.set_config(
            Afi::V4,
            DecisionConfig {
                maximum_paths: max,
                maximum_paths_ibgp: 1,
                multipath_relax: relax,
            },
        );
        let a = l.peer("10.1.0.2", [2, 2, 2, 2], true);
        let b = l.peer("10.2.0.2", [3, 3, 3, 3], true);
        let c = l.peer("10.3.0.2", [4, 4, 4, 4], true);
        l.add(a, P, attrs(&[65001, 65100], "10.1.0.2"));
        l.add(b, P, attrs(&[second_as, 65100], "10.2.0.2"));
        // A longer path never joins.
        l.add(c, P, attrs(&[65001, 65050, 65100], "10.3.0.2"));
        l.decide();
        (l.fwd(P), vec![a, b])
    };
    let (got, both) = run(false, 4, 65001);
    assert_eq!(got, both, "same neighbor AS");
    let (got, both) = run(false, 4, 65002);
    assert_eq!(got, vec![both[0]], "different neighbor AS without relax");
    let (got, both) = run(true, 4, 65002);
    assert_eq!(got, both, "relax");
    let (got, both) = run(true, 1, 65002);
    assert_eq!(got, vec![both[0]], "maximum-paths 1");
}

#[test]
fn multipath_limit_and_ibgp_separate() {
    let mut l = Lab::new();
    l.rib.set_config(
        Afi::V4,
        DecisionConfig {
            maximum_paths: 8,
            maximum_paths_ibgp: 2,
            multipath_relax: false,
        },
    );
    let peers: Vec<PeerIdx> = (0..4)
        .map(|i| l.peer(&format!("10.0.{i}.2"), [1, 1, 1, i as u8 + 1], false))
        .collect();
    for (i, p) in peers.iter().enumerate() {
        l.add(*p, P, attrs(&[65001], &format!("10.0.{i}.2")));
    }
    l.decide();
    assert_eq!(l.fwd(P), vec![peers[0], peers[1]]);
    // The multipaths follow config changes.
    l.rib.set_config(
        Afi::V4,
        DecisionConfig {
            maximum_paths: 8,
            maximum_paths_ibgp: 3,
            multipath_relax: false,
        },
    );
    assert_eq!(l.decide(), vec![pfx(P)]);
    assert_eq!(l.fwd(P), peers[..3].to_vec());
}

#[test]
fn same_next_hop_is_not_a_second_path() {
    let mut l = Lab::new();
    l.rib.set_config(
        Afi::V4,
        DecisionConfig {
            maximum_paths: 4,
            ..DecisionConfig::default()
        },
    );
    let a = l.peer("10.1.0.2", [2, 2, 2, 2], true);
    let b = l.peer("10.1.0.3", [3, 3, 3, 3], true);
    l.add(a, P, attrs(&[65001], "10.9.9.9"));
    l.add(b, P, attrs(&[65001], "10.9.9.9"));
    l.decide();
    assert_eq!(l.fwd(P), vec![a]);
}

#[test]
fn withdraw_moves_best_and_empties() {
    let mut l = Lab::new();
    let a = l.peer("10.1.0.2", [2, 2, 2, 2], true);
    let b = l.peer("10.1.0.3", [3, 3, 3, 3], true);
    l.add(a, P, attrs(&[65001], "10.1.0.2"));
    l.add(b, P, attrs(&[65001, 65002], "10.1.0.3"));
    l.decide();
    assert_eq!(l.best(P), Some(a));
    assert!(l.rib.withdraw(a, pfx(P), 0));
    assert!(!l.rib.withdraw(a, pfx(P), 0), "twice");
    assert_eq!(l.decide(), vec![pfx(P)]);
    assert_eq!(l.best(P), Some(b));
    assert_eq!(l.rib.peer_count(a, Afi::V4), 0);
    assert!(l.rib.withdraw(b, pfx(P), 0));
    assert_eq!(l.decide(), vec![pfx(P)]);
    assert!(l.rib.get(&pfx(P)).is_none());
    assert!(l.rib.is_empty());
}

#[test]
fn peer_down_withdraws_its_paths_only() {
    let mut l = Lab::new();
    let a = l.peer("10.1.0.2", [2, 2, 2, 2], true);
    let b = l.peer("fd00::2", [3, 3, 3, 3], true);
    for i in 0..100 {
        l.add(a, &format!("10.{i}.0.0/16"), attrs(&[65001], "10.1.0.2"));
        l.add(b, &format!("10.{i}.0.0/16"), attrs(&[65002, 1], "10.1.0.3"));
        l.add(a, &format!("fd{i:02x}::/32"), attrs(&[65001], "fd00::9"));
    }
    l.decide();
    assert_eq!(l.rib.len(Afi::V4), 100);
    assert_eq!(l.rib.len(Afi::V6), 100);
    assert_eq!(l.rib.peer_count(a, Afi::V6), 100);
    assert_eq!(l.rib.withdraw_peer(a, None), 200);
    let changed = l.decide();
    assert_eq!(changed.len(), 200);
    assert_eq!(l.rib.len(Afi::V6), 0);
    assert_eq!(l.rib.len(Afi::V4), 100);
    assert_eq!(l.best("10.5.0.0/16"), Some(b));
    // A freed index is reused for the next peer.
    l.rib.remove_peer(a);
    let c = l.peer("10.1.0.4", [4, 4, 4, 4], true);
    assert_eq!(c, a);
    assert_eq!(l.rib.peer_count(c, Afi::V4), 0);
}

#[test]
fn graceful_restart_stale_then_sweep() {
    let mut l = Lab::new();
    let a = l.peer("10.1.0.2", [2, 2, 2, 2], true);
    l.add(a, "10.1.0.0/24", attrs(&[65001], "10.1.0.2"));
    l.add(a, "10.2.0.0/24", attrs(&[65001], "10.1.0.2"));
    l.decide();
    assert_eq!(l.rib.mark_stale(a, Afi::V4), 2);
    assert!(l.rib.has_stale(a, Afi::V4));
    // Stale paths stay best and forwarding.
    assert_eq!(l.best("10.1.0.0/24"), Some(a));
    assert!(l.rib.get(&pfx("10.1.0.0/24")).unwrap().paths()[0].is_stale());
    // The peer re-sends one (same attributes): no longer stale.
    assert!(l.rib.update(
        a,
        pfx("10.1.0.0/24"),
        0,
        Arc::new(attrs(&[65001], "10.1.0.2"))
    ));
    assert!(!l.rib.get(&pfx("10.1.0.0/24")).unwrap().paths()[0].is_stale());
    l.decide();
    // End-of-RIB: the one not re-sent goes.
    assert_eq!(l.rib.sweep_stale(a, Afi::V4), 1);
    assert_eq!(l.decide(), vec![pfx("10.2.0.0/24")]);
    assert!(l.rib.get(&pfx("10.2.0.0/24")).is_none());
    assert!(!l.rib.has_stale(a, Afi::V4));
    assert_eq!(l.rib.peer_count(a, Afi::V4), 1);
}

#[test]
fn add_path_ids_are_separate_paths() {
    let mut l = Lab::new();
    l.rib.set_config(
        Afi::V4,
        DecisionConfig {
            maximum_paths_ibgp: 4,
            ..DecisionConfig::default()
        },
    );
    let a = l.peer("10.1.0.2", [2, 2, 2, 2], false);
    l.rib
        .update(a, pfx(P), 1, Arc::new(attrs(&[65001], "10.7.0.1")));
    l.rib
        .update(a, pfx(P), 2, Arc::new(attrs(&[65001], "10.7.0.2")));
    l.decide();
    let d = l.rib.get(&pfx(P)).unwrap();
    assert_eq!(d.paths().len(), 2);
    assert_eq!(d.forwarding().count(), 2);
    assert_eq!(d.best().unwrap().path_id, 1);
    assert_eq!(l.rib.peer_count(a, Afi::V4), 2);
}
