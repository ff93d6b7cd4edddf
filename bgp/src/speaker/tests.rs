//! The speaker core's behaviour in simulated networks (see [`super::sim`]):
//! what the labs cover with real daemons, in milliseconds.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use super::sim::{ip, neighbor, net, network, speaker, with, Net};
use super::{AfPeer, ClearError, NextHop, Output, PolicyChanges, RemoteAs, Soft, SpeakerConfig};
use crate::policy::{Match, Policies, PrefixEntry, PrefixList, RouteMap, RouteMapEntry, Set};
use crate::rib::DecisionConfig;
use crate::wire::Community;

const SECS: Duration = Duration::from_secs(1);

fn permit_all() -> RouteMap {
    RouteMap::new(vec![RouteMapEntry::new(true, Vec::new(), Vec::new())])
}

fn route_maps(maps: Vec<(&str, RouteMap)>) -> Policies {
    Policies::new(
        HashMap::new(),
        HashMap::new(),
        maps.into_iter().map(|(n, m)| (n.to_string(), m)).collect(),
    )
}

/// Neighbor settings for IPv4 with these route-maps.
fn af(rm_in: Option<&str>, rm_out: Option<&str>) -> AfPeer {
    AfPeer {
        route_map_in: rm_in.map(str::to_string),
        route_map_out: rm_out.map(str::to_string),
        ..AfPeer::default()
    }
}

/// A (AS 65001, 192.0.2.1) and B (AS 65002, 192.0.2.2), eBGP; B
/// originates `prefixes`. `tweak` edits both configurations.
fn ebgp_pair(prefixes: &[&str], tweak: impl Fn(&mut SpeakerConfig)) -> Net {
    let mut n = Net::new();
    let a = n.node(&["192.0.2.1"]);
    let b = n.node(&["192.0.2.2"]);
    n.link("192.0.2.1", "192.0.2.2");
    let mut ca = with(
        speaker(65001, "1.1.1.1"),
        neighbor("192.0.2.2", RemoteAs::As(65002)),
    );
    let mut cb = with(
        speaker(65002, "2.2.2.2"),
        neighbor("192.0.2.1", RemoteAs::As(65001)),
    );
    for p in prefixes {
        cb = network(cb, p);
    }
    tweak(&mut ca);
    tweak(&mut cb);
    n.configure(a, ca, Policies::default());
    n.configure(b, cb, Policies::default());
    n
}

#[test]
fn ebgp_route_arrives_with_our_as_and_next_hop() {
    let mut n = ebgp_pair(&["10.1.0.0/24"], |_| {});
    n.run(10 * SECS);
    assert!(n.established(0, "192.0.2.2") && n.established(1, "192.0.2.1"));
    let f = n.fib(0, "10.1.0.0/24").expect("A forwards the route");
    assert!(f.ebgp);
    assert_eq!(*f.nexthops, [NextHop::Gateway(ip("192.0.2.2"))]);
    let best = n.best(0, "10.1.0.0/24").expect("A has a path");
    let path = best.attrs.attrs.as_path.as_ref().map(ToString::to_string);
    assert_eq!(path.as_deref(), Some("65002"));
    // Locally originated routes are not offered for forwarding.
    assert!(n.fib(1, "10.1.0.0/24").is_none());
}

#[test]
fn rfc8212_nothing_without_policy_until_policy_comes() {
    let mut n = ebgp_pair(&["10.1.0.0/24"], |c| c.ebgp_requires_policy = true);
    n.run(10 * SECS);
    assert!(n.established(0, "192.0.2.2"), "the session comes up");
    assert!(n.best(0, "10.1.0.0/24").is_none(), "but no route moves");
    // B gets an out-policy: still nothing, A has no in-policy.
    let all = || route_maps(vec![("ALL", permit_all())]);
    let mut cb = n.nodes[1].cfg.clone().expect("B is configured");
    if let Some(p) = cb.neighbors.get_mut(&ip("192.0.2.1")) {
        p.af[0] = Some(af(None, Some("ALL")));
    }
    n.configure(1, cb, all());
    n.run(SECS);
    assert!(n.best(0, "10.1.0.0/24").is_none());
    // A gets an in-policy: the route comes, without a reset.
    let mut ca = n.nodes[0].cfg.clone().expect("A is configured");
    if let Some(p) = ca.neighbors.get_mut(&ip("192.0.2.2")) {
        p.af[0] = Some(af(Some("ALL"), None));
    }
    n.configure(0, ca, all());
    n.run(SECS);
    assert!(n.best(0, "10.1.0.0/24").is_some());
    assert!(n.fib(0, "10.1.0.0/24").is_some());
    assert!(
        !n.nodes[0]
            .events
            .iter()
            .any(|e| matches!(e, Output::Down { .. })),
        "no session went down"
    );
}

#[test]
fn collision_keeps_the_higher_router_ids_connection() {
    let mut n = ebgp_pair(&["10.1.0.0/24"], |_| {});
    n.run(10 * SECS);
    assert!(n.established(0, "192.0.2.2") && n.established(1, "192.0.2.1"));
    // Both connected out at once: each side had two connections, one went.
    for (node, peer, outbound) in [(0, "192.0.2.2", false), (1, "192.0.2.1", true)] {
        let p = &n.nodes[node].sp.peers()[&ip(peer)];
        let est = p.est.as_ref().expect("established");
        let conn = p.conns.iter().find(|c| c.id == est.conn).expect("its conn");
        assert_eq!(
            conn.outbound, outbound,
            "node {node} keeps the connection 2.2.2.2 opened"
        );
        let established = n.nodes[node]
            .events
            .iter()
            .filter(|e| matches!(e, Output::Established { .. }))
            .count();
        assert_eq!(established, 1, "node {node}: one session came up");
    }
    assert!(n.fib(0, "10.1.0.0/24").is_some());
    // Hours later nothing changed: keepalives flow on the one session.
    n.run(3600 * SECS);
    assert!(n.established(0, "192.0.2.2"));
    assert_eq!(n.nodes[0].events.len(), 1);
}

/// A hub (AS 65000, 10.0.0.1) with a listen range for two spokes.
fn hub_and_spokes(limit: u32) -> Net {
    let mut n = Net::new();
    let hub = n.node(&["10.0.0.1"]);
    let mut ch = speaker(65000, "10.0.0.1");
    ch.listen_ranges = vec![(net("10.0.0.0/24"), "SPOKES".into())];
    ch.listen_limit = limit;
    let mut group = neighbor("0.0.0.0", RemoteAs::External);
    group.group = Some("SPOKES".into());
    ch.groups.insert("SPOKES".into(), group);
    n.configure(hub, ch, Policies::default());
    for (i, asn) in [(2, 65002), (3, 65003)] {
        let addr = format!("10.0.0.{i}");
        let s = n.node(&[addr.as_str()]);
        n.link("10.0.0.1", &addr);
        let cs = with(
            speaker(asn, &addr),
            neighbor("10.0.0.1", RemoteAs::As(65000)),
        );
        n.configure(
            s,
            network(cs, &format!("10.{i}.0.0/16")),
            Policies::default(),
        );
    }
    n
}

#[test]
fn dynamic_neighbors_come_and_go_within_the_listen_limit() {
    let mut n = hub_and_spokes(1);
    n.run(10 * SECS);
    let dynamic: Vec<_> = n.nodes[0].sp.peers().keys().copied().collect();
    assert_eq!(dynamic, vec![ip("10.0.0.2")], "the limit lets one in");
    assert!(n.nodes[0].sp.peers()[&ip("10.0.0.2")].cfg.dynamic);
    assert!(n.fib(0, "10.2.0.0/16").is_some());
    assert!(n.fib(0, "10.3.0.0/16").is_none());
    assert!(!n.established(2, "10.0.0.1"), "the other is refused");
    // The first spoke leaves: its dynamic neighbor goes with the session,
    // and the second gets in on its next attempt.
    n.reconfigure(1, |c| {
        if let Some(p) = c.neighbors.get_mut(&ip("10.0.0.1")) {
            p.shutdown = true;
        }
    });
    n.run(10 * SECS);
    let dynamic: Vec<_> = n.nodes[0].sp.peers().keys().copied().collect();
    assert_eq!(dynamic, vec![ip("10.0.0.3")]);
    assert!(n.fib(0, "10.2.0.0/16").is_none());
    assert!(n.fib(0, "10.3.0.0/16").is_some());
    assert!(n.established(2, "10.0.0.1"));
}

/// A Virtual-Access that loses its last SA takes the dynamic neighbor at
/// the address it leased at once (no hold timer), with its routes; when
/// the spoke's tunnel is back, the neighbor comes back.
#[test]
fn a_dynamic_neighbor_goes_with_the_tunnel_that_leased_its_address() {
    let mut n = hub_and_spokes(10);
    n.run(10 * SECS);
    assert!(n.fib(0, "10.2.0.0/16").is_some());
    let now = n.now;
    n.nodes[0]
        .sp
        .handle_tunnel_over("Virtual-Access1", true, &[ip("10.0.0.2")], now);
    n.nodes[0]
        .sp
        .handle_tunnel_over("Virtual-Access1", false, &[ip("10.0.0.2")], now);
    n.run(SECS / 1000);
    assert!(n.fib(0, "10.2.0.0/16").is_none(), "withdrawn at once");
    assert!(!n.established(0, "10.0.0.2"));
    // Another tunnel's end leaves the other spoke alone.
    assert!(n.fib(0, "10.3.0.0/16").is_some());
    let now = n.now;
    n.nodes[0]
        .sp
        .handle_tunnel_over("Virtual-Access1", true, &[ip("10.0.0.2")], now);
    n.run(200 * SECS);
    assert!(n.established(0, "10.0.0.2"));
    assert!(n.fib(0, "10.2.0.0/16").is_some());
}

#[test]
fn dynamic_neighbors_learn_each_other_through_the_hub() {
    let mut n = hub_and_spokes(10);
    n.run(10 * SECS);
    assert_eq!(n.nodes[0].sp.peers().len(), 2);
    let f = n
        .fib(1, "10.3.0.0/16")
        .expect("spoke 2's route reaches spoke 1");
    assert_eq!(*f.nexthops, [NextHop::Gateway(ip("10.0.0.1"))]);
    let best = n.best(1, "10.3.0.0/16").expect("a path");
    let path = best.attrs.attrs.as_path.as_ref().map(ToString::to_string);
    assert_eq!(path.as_deref(), Some("65000 65003"));
}

/// A (AS 65000) with two eBGP neighbors in different ASes that both
/// announce 10.9.0.0/24.
fn two_upstreams(decision: DecisionConfig) -> Net {
    let mut n = Net::new();
    let a = n.node(&["192.0.2.1", "198.51.100.1"]);
    let mut ca = speaker(65000, "1.1.1.1");
    ca.af[0].decision = decision;
    for (addr, asn) in [("192.0.2.2", 65001), ("198.51.100.2", 65002)] {
        ca = with(ca, neighbor(addr, RemoteAs::As(asn)));
    }
    n.configure(a, ca, Policies::default());
    for (local, addr, asn, id) in [
        ("192.0.2.1", "192.0.2.2", 65001, "2.2.2.2"),
        ("198.51.100.1", "198.51.100.2", 65002, "3.3.3.3"),
    ] {
        let s = n.node(&[addr]);
        n.link(local, addr);
        let c = with(speaker(asn, id), neighbor(local, RemoteAs::As(65000)));
        n.configure(s, network(c, "10.9.0.0/24"), Policies::default());
    }
    n
}

#[test]
fn multipath_across_neighbor_ases_with_relax() {
    let mut n = two_upstreams(DecisionConfig {
        maximum_paths: 4,
        maximum_paths_ibgp: 1,
        multipath_relax: true,
    });
    n.run(10 * SECS);
    let f = n.fib(0, "10.9.0.0/24").expect("forwarded");
    let hops: BTreeSet<_> = f.nexthops.iter().cloned().collect();
    let want: BTreeSet<_> = [
        NextHop::Gateway(ip("192.0.2.2")),
        NextHop::Gateway(ip("198.51.100.2")),
    ]
    .into_iter()
    .collect();
    assert_eq!(hops, want);
    // One of the two (node 2, 198.51.100.2) withdraws: the other stays,
    // alone.
    n.reconfigure(2, |c| {
        c.af[0].networks.clear();
    });
    n.run(SECS);
    let f = n.fib(0, "10.9.0.0/24").expect("still forwarded");
    assert_eq!(*f.nexthops, [NextHop::Gateway(ip("192.0.2.2"))]);
}

#[test]
fn no_multipath_across_ases_without_relax_or_with_one_path() {
    for (maximum_paths, relax) in [(4, false), (1, true)] {
        let mut n = two_upstreams(DecisionConfig {
            maximum_paths,
            maximum_paths_ibgp: 1,
            multipath_relax: relax,
        });
        n.run(10 * SECS);
        let f = n.fib(0, "10.9.0.0/24").expect("forwarded");
        assert_eq!(
            f.nexthops.len(),
            1,
            "maximum-paths {maximum_paths} relax {relax}"
        );
    }
}

#[test]
fn tunnel_down_withdraws_at_once_and_up_brings_it_back() {
    let mut n = ebgp_pair(&["10.1.0.0/24"], |_| {});
    // A's session to B runs over Tunnel1, up from the start.
    let now = n.now;
    n.nodes[0].sp.handle_tunnel("Tunnel1", true, now);
    n.reconfigure(0, |c| {
        if let Some(p) = c.neighbors.get_mut(&ip("192.0.2.2")) {
            p.tunnel = Some("Tunnel1".into());
            p.timers = (3, 9);
        }
    });
    n.run(10 * SECS);
    assert!(n.fib(0, "10.1.0.0/24").is_some());
    let now = n.now;
    n.nodes[0].sp.handle_tunnel("Tunnel1", false, now);
    // Without any time passing: no hold timer wait.
    n.settle();
    assert!(n.fib(0, "10.1.0.0/24").is_none());
    assert!(n.best(0, "10.1.0.0/24").is_none());
    assert!(!n.established(0, "192.0.2.2"));
    assert!(
        !n.established(1, "192.0.2.1"),
        "the closed connection takes B down too"
    );
    assert!(n.nodes[0].events.iter().any(|e| matches!(
        e,
        Output::Down { reason, .. } if reason.contains("Tunnel1")
    )));
    // It stays down while the tunnel is.
    n.run(60 * SECS);
    assert!(!n.established(0, "192.0.2.2"));
    let now = n.now;
    n.nodes[0].sp.handle_tunnel("Tunnel1", true, now);
    n.run(10 * SECS);
    assert!(n.established(0, "192.0.2.2"));
    assert!(n.fib(0, "10.1.0.0/24").is_some());
}

/// Route-map IN of A: 10.3.0.0/24 gets local-preference 200 and a
/// community, anything else is denied.
fn in_policy() -> RouteMap {
    let list = PrefixList::new(vec![PrefixEntry::new(
        true,
        &net("10.3.0.0/24"),
        None,
        None,
        32,
    )]);
    RouteMap::new(vec![RouteMapEntry::new(
        true,
        vec![Match::Prefix4(Some(Arc::new(list)))],
        vec![
            Set::LocalPref(200),
            Set::AddCommunities(vec![Community::new(65001, 7)]),
        ],
    )])
}

#[test]
fn route_maps_in_and_out_and_their_changes() {
    let mut n = ebgp_pair(&["10.3.0.0/24", "10.4.0.0/24"], |_| {});
    let mut ca = n.nodes[0].cfg.clone().expect("A is configured");
    if let Some(p) = ca.neighbors.get_mut(&ip("192.0.2.2")) {
        p.af[0] = Some(af(Some("IN"), None));
    }
    n.configure(0, ca.clone(), route_maps(vec![("IN", in_policy())]));
    let mut cb = n.nodes[1].cfg.clone().expect("B is configured");
    if let Some(p) = cb.neighbors.get_mut(&ip("192.0.2.1")) {
        p.af[0] = Some(af(None, Some("OUT")));
    }
    let prepend = RouteMap::new(vec![RouteMapEntry::new(
        true,
        Vec::new(),
        vec![Set::Prepend(vec![65002, 65002])],
    )]);
    n.configure(1, cb, route_maps(vec![("OUT", prepend)]));
    n.run(10 * SECS);
    let best = n.best(0, "10.3.0.0/24").expect("permitted");
    assert_eq!(best.attrs.attrs.local_pref, Some(200));
    assert_eq!(best.attrs.attrs.communities, vec![Community::new(65001, 7)]);
    let path = best.attrs.attrs.as_path.as_ref().map(ToString::to_string);
    assert_eq!(path.as_deref(), Some("65002 65002 65002"));
    assert!(n.best(0, "10.4.0.0/24").is_none(), "denied");
    // IN now permits everything: applied without a reset (route refresh).
    let changes = PolicyChanges {
        route_maps: ["IN".to_string()].into_iter().collect(),
        ..PolicyChanges::default()
    };
    n.configure_changed(0, ca, route_maps(vec![("IN", permit_all())]), &changes);
    n.run(SECS);
    assert!(n.best(0, "10.4.0.0/24").is_some());
    let best = n.best(0, "10.3.0.0/24").expect("still there");
    assert_eq!(best.attrs.attrs.local_pref, None);
    assert_eq!(n.nodes[0].events.len(), 1, "no session went down");
}

#[test]
fn withdrawal_travels_and_no_route_goes_back_to_its_sender() {
    let mut n = ebgp_pair(&["10.1.0.0/24"], |_| {});
    n.run(10 * SECS);
    assert!(n.fib(0, "10.1.0.0/24").is_some());
    // A does not send B's route back to B.
    let back = n.nodes[0].sp.peers()[&ip("192.0.2.2")]
        .out
        .adj
        .keys()
        .any(|(p, _)| *p == net("10.1.0.0/24"));
    assert!(!back);
    n.reconfigure(1, |c| c.af[0].networks.clear());
    n.run(SECS);
    assert!(n.fib(0, "10.1.0.0/24").is_none());
    assert!(n.best(0, "10.1.0.0/24").is_none());
}

#[test]
fn bfd_down_takes_the_session_and_its_routes_at_once() {
    let mut n = ebgp_pair(&["10.1.0.0/24"], |_| {});
    n.run(10 * SECS);
    assert!(n.fib(0, "10.1.0.0/24").is_some());
    let now = n.now;
    n.nodes[0].sp.handle_bfd(ip("192.0.2.2"), false, now);
    n.settle();
    assert!(n.fib(0, "10.1.0.0/24").is_none());
    assert!(n.nodes[0]
        .events
        .iter()
        .any(|e| matches!(e, Output::Down { .. })));
    assert_eq!(
        n.nodes[0].sp.peers()[&ip("192.0.2.2")]
            .last_reset
            .as_deref(),
        Some("BFD down")
    );
    // It comes back by itself.
    n.run(30 * SECS);
    assert!(n.established(0, "192.0.2.2"));
    assert!(n.fib(0, "10.1.0.0/24").is_some());
}

#[test]
fn a_silent_restart_of_a_speaker_that_keeps_no_forwarding_state() {
    // rvpn is only a graceful-restart helper: its Graceful Restart
    // capability names no family, so a peer that dies silently loses its
    // routes at once, and gets them back when it returns.
    let mut n = ebgp_pair(&["10.1.0.0/24", "10.2.0.0/24"], |_| {});
    n.run(10 * SECS);
    // B comes back with its neighbor shut down, so it stays away.
    let mut cb = n.nodes[1].cfg.clone().expect("B is configured");
    cb.af[0].networks.remove(&net("10.2.0.0/24"));
    let mut down = cb.clone();
    if let Some(p) = down.neighbors.get_mut(&ip("192.0.2.1")) {
        p.shutdown = true;
    }
    n.restart(1, Some(down));
    n.settle();
    assert!(!n.established(0, "192.0.2.2"));
    assert!(n.best(0, "10.1.0.0/24").is_none());
    assert!(n.fib(0, "10.1.0.0/24").is_none());
    assert!(n.nodes[0].sp.peers()[&ip("192.0.2.2")].restarting.is_none());
    // Its neighbor comes up again, now without 10.2.0.0/24.
    n.configure(1, cb, Policies::default());
    n.run(10 * SECS);
    assert!(n.established(0, "192.0.2.2"));
    assert!(n.best(0, "10.1.0.0/24").is_some_and(|p| !p.is_stale()));
    assert!(n.best(0, "10.2.0.0/24").is_none());
}

#[test]
fn ibgp_routes_are_not_passed_to_ibgp_peers() {
    // A - B - C all in AS 65000: B does not reflect A's route to C.
    let mut n = Net::new();
    let a = n.node(&["192.0.2.1"]);
    let b = n.node(&["192.0.2.2", "198.51.100.1"]);
    let c = n.node(&["198.51.100.2"]);
    n.link("192.0.2.1", "192.0.2.2");
    n.link("198.51.100.1", "198.51.100.2");
    let ca = with(
        speaker(65000, "1.1.1.1"),
        neighbor("192.0.2.2", RemoteAs::Internal),
    );
    n.configure(a, network(ca, "10.1.0.0/24"), Policies::default());
    let mut cb = speaker(65000, "2.2.2.2");
    cb = with(cb, neighbor("192.0.2.1", RemoteAs::Internal));
    cb = with(cb, neighbor("198.51.100.2", RemoteAs::Internal));
    n.configure(b, cb, Policies::default());
    let cc = with(
        speaker(65000, "3.3.3.3"),
        neighbor("198.51.100.1", RemoteAs::Internal),
    );
    n.configure(c, cc, Policies::default());
    n.run(10 * SECS);
    assert!(n.established(2, "198.51.100.1"));
    let at_b = n.best(b, "10.1.0.0/24").expect("B learns it");
    assert_eq!(at_b.attrs.attrs.local_pref, Some(100));
    assert!(n.fib(b, "10.1.0.0/24").is_some());
    assert!(n.best(c, "10.1.0.0/24").is_none());
}

#[test]
fn clear_resets_or_refreshes_and_names_unknown_neighbors() {
    let mut n = ebgp_pair(&["10.1.0.0/24"], |_| {});
    n.run(10 * SECS);
    let now = n.now;
    assert_eq!(
        n.nodes[0].sp.handle_clear(Some(ip("192.0.2.9")), None, now),
        Err(ClearError::UnknownNeighbor(ip("192.0.2.9")))
    );
    assert_eq!(
        ClearError::UnknownNeighbor(ip("192.0.2.9")).to_string(),
        "% BGP: Unknown neighbor - \"192.0.2.9\""
    );
    // Soft in and out: no reset.
    for soft in [Soft::In, Soft::Out, Soft::Both] {
        let now = n.now;
        assert_eq!(
            n.nodes[0]
                .sp
                .handle_clear(Some(ip("192.0.2.2")), Some(soft), now),
            Ok(())
        );
        n.run(SECS);
    }
    assert_eq!(n.nodes[0].events.len(), 1, "still the first session");
    assert!(n.fib(0, "10.1.0.0/24").is_some());
    // A hard clear resets the session; it comes back with the routes.
    let now = n.now;
    assert_eq!(n.nodes[0].sp.handle_clear(None, None, now), Ok(()));
    n.run(10 * SECS);
    assert!(n.nodes[0]
        .events
        .iter()
        .any(|e| matches!(e, Output::Down { .. })));
    assert!(n.established(0, "192.0.2.2"));
    assert!(n.fib(0, "10.1.0.0/24").is_some());
    let mut unconfigured = super::Speaker::new(false, now);
    assert_eq!(
        unconfigured.handle_clear(None, None, now),
        Err(ClearError::NotConfigured)
    );
}
