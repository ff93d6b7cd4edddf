use super::*;

fn net(s: &str) -> IpNetwork {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn connected(rib: &mut Rib, p: &str, ifname: &str) {
    rib.set(
        Source::Connected,
        net(p),
        Some(Candidate {
            distance: 0,
            metric: 0,
            nexthops: vec![NextHop::Interface(ifname.into())].into(),
        }),
    );
}

fn via(distance: u8, gws: &[&str]) -> Option<Candidate> {
    Some(Candidate {
        distance,
        metric: 0,
        nexthops: gws
            .iter()
            .map(|g| NextHop::Gateway(ip(g)))
            .collect::<Vec<_>>()
            .into(),
    })
}

fn hops(rib: &Rib, p: &str) -> Vec<String> {
    rib.fib()
        .get(&net(p))
        .map(|s| s.nexthops.iter().map(|h| h.to_string()).collect())
        .unwrap_or_default()
}

#[test]
fn bgp_routes_resolve_over_two_tunnels_as_ecmp() {
    let mut rib = Rib::new();
    connected(&mut rib, "169.254.11.0/30", "Tunnel1");
    connected(&mut rib, "169.254.12.0/30", "Tunnel2");
    rib.set(
        Source::Bgp,
        net("10.2.0.0/24"),
        via(20, &["169.254.11.1", "169.254.12.1"]),
    );
    let ch = rib.resolve();
    assert_eq!(ch.len(), 3, "{ch:?}");
    assert_eq!(
        hops(&rib, "10.2.0.0/24"),
        vec!["via 169.254.11.1, Tunnel1", "via 169.254.12.1, Tunnel2"]
    );
    // Tunnel2 goes: its connected route leaves, the ECMP set shrinks in
    // the same resolve.
    rib.set(Source::Connected, net("169.254.12.0/30"), None);
    let ch = rib.resolve();
    assert!(
        ch.contains(&FibChange::Remove(net("169.254.12.0/30"))),
        "{ch:?}"
    );
    assert_eq!(hops(&rib, "10.2.0.0/24"), vec!["via 169.254.11.1, Tunnel1"]);
    // And back.
    connected(&mut rib, "169.254.12.0/30", "Tunnel2");
    rib.resolve();
    assert_eq!(hops(&rib, "10.2.0.0/24").len(), 2);
    // Both go: the route cannot resolve and leaves the FIB.
    rib.set(Source::Connected, net("169.254.11.0/30"), None);
    rib.set(Source::Connected, net("169.254.12.0/30"), None);
    let ch = rib.resolve();
    assert!(
        ch.contains(&FibChange::Remove(net("10.2.0.0/24"))),
        "{ch:?}"
    );
    assert!(rib.fib().is_empty());
    // The candidate stays, for when a tunnel returns.
    assert!(rib.candidate(Source::Bgp, &net("10.2.0.0/24")).is_some());
}

#[test]
fn lower_distance_wins_and_the_other_takes_over() {
    let mut rib = Rib::new();
    connected(&mut rib, "192.0.2.0/24", "eth0");
    connected(&mut rib, "198.51.100.0/24", "eth1");
    rib.set(Source::Bgp, net("10.0.0.0/8"), via(20, &["192.0.2.1"]));
    // A floating static (distance 250) loses to eBGP.
    rib.set(
        Source::Static,
        net("10.0.0.0/8"),
        via(250, &["198.51.100.1"]),
    );
    rib.resolve();
    assert_eq!(
        rib.fib().get(&net("10.0.0.0/8")).unwrap().source,
        Source::Bgp
    );
    rib.set(Source::Bgp, net("10.0.0.0/8"), None);
    let ch = rib.resolve();
    assert_eq!(ch.len(), 1);
    assert_eq!(
        rib.fib().get(&net("10.0.0.0/8")).unwrap().source,
        Source::Static
    );
    assert_eq!(hops(&rib, "10.0.0.0/8"), vec!["via 198.51.100.1, eth1"]);
    // A static at distance 1 beats eBGP.
    rib.set(Source::Bgp, net("10.0.0.0/8"), via(20, &["192.0.2.1"]));
    rib.set(Source::Static, net("10.0.0.0/8"), via(1, &["198.51.100.1"]));
    rib.resolve();
    assert_eq!(
        rib.fib().get(&net("10.0.0.0/8")).unwrap().source,
        Source::Static
    );
    // 255 is never installed.
    rib.set(
        Source::Static,
        net("10.0.0.0/8"),
        via(255, &["198.51.100.1"]),
    );
    rib.resolve();
    assert_eq!(
        rib.fib().get(&net("10.0.0.0/8")).unwrap().source,
        Source::Bgp
    );
}

#[test]
fn unresolvable_candidate_falls_back() {
    let mut rib = Rib::new();
    connected(&mut rib, "192.0.2.0/24", "eth0");
    // The preferred static's gateway is nowhere.
    rib.set(Source::Static, net("10.0.0.0/8"), via(1, &["203.0.113.1"]));
    rib.set(Source::Bgp, net("10.0.0.0/8"), via(20, &["192.0.2.1"]));
    rib.resolve();
    assert_eq!(
        rib.fib().get(&net("10.0.0.0/8")).unwrap().source,
        Source::Bgp
    );
    // Its gateway becomes reachable: it takes over.
    connected(&mut rib, "203.0.113.0/24", "eth2");
    rib.resolve();
    assert_eq!(
        rib.fib().get(&net("10.0.0.0/8")).unwrap().source,
        Source::Static
    );
    assert_eq!(hops(&rib, "10.0.0.0/8"), vec!["via 203.0.113.1, eth2"]);
}

#[test]
fn recursive_through_another_route() {
    let mut rib = Rib::new();
    connected(&mut rib, "192.0.2.0/24", "eth0");
    // 10.9.9.9 is reached through 192.0.2.1; BGP's next hop is 10.9.9.9.
    rib.set(Source::Static, net("10.9.9.0/24"), via(1, &["192.0.2.1"]));
    rib.set(Source::Bgp, net("172.16.0.0/16"), via(200, &["10.9.9.9"]));
    rib.resolve();
    assert_eq!(hops(&rib, "172.16.0.0/16"), vec!["via 192.0.2.1, eth0"]);
    // The static moves to another gateway: the BGP route follows.
    connected(&mut rib, "198.51.100.0/24", "eth1");
    rib.set(
        Source::Static,
        net("10.9.9.0/24"),
        via(1, &["198.51.100.7"]),
    );
    rib.resolve();
    assert_eq!(hops(&rib, "172.16.0.0/16"), vec!["via 198.51.100.7, eth1"]);
}

#[test]
fn a_route_does_not_resolve_through_itself() {
    let mut rib = Rib::new();
    rib.set(Source::Static, net("10.0.0.0/8"), via(1, &["10.1.1.1"]));
    rib.resolve();
    assert!(rib.fib().is_empty());
    // Nor two through each other.
    rib.set(Source::Static, net("10.1.0.0/16"), via(1, &["10.2.2.2"]));
    rib.set(Source::Static, net("10.2.0.0/16"), via(1, &["10.1.1.1"]));
    rib.resolve();
    assert!(rib.fib().is_empty(), "{:?}", rib.fib());
}

#[test]
fn blackhole_interface_and_ipv6() {
    let mut rib = Rib::new();
    rib.set(
        Source::Static,
        net("10.66.0.0/16"),
        Some(Candidate {
            distance: 1,
            metric: 0,
            nexthops: vec![NextHop::Blackhole].into(),
        }),
    );
    rib.set(
        Source::Static,
        net("fd02::/64"),
        Some(Candidate {
            distance: 1,
            metric: 0,
            nexthops: vec![NextHop::Interface("Tunnel1".into())].into(),
        }),
    );
    connected(&mut rib, "fd00:100::/64", "Tunnel1");
    rib.set(Source::Bgp, net("fd03::/48"), via(20, &["fd00:100::2"]));
    rib.resolve();
    assert_eq!(hops(&rib, "10.66.0.0/16"), vec!["unreachable (blackhole)"]);
    assert_eq!(
        hops(&rib, "fd02::/64"),
        vec!["is directly connected, Tunnel1"]
    );
    assert_eq!(hops(&rib, "fd03::/48"), vec!["via fd00:100::2, Tunnel1"]);
    // An IPv4 route through an IPv6 next hop (RFC 8950) resolves over
    // the IPv6 network; Linux installs it as `via inet6`.
    rib.set(Source::Bgp, net("10.7.0.0/16"), via(20, &["fd00:100::2"]));
    rib.resolve();
    assert_eq!(hops(&rib, "10.7.0.0/16"), vec!["via fd00:100::2, Tunnel1"]);
}

#[test]
fn same_candidate_again_changes_nothing() {
    let mut rib = Rib::new();
    connected(&mut rib, "192.0.2.0/24", "eth0");
    rib.set(Source::Bgp, net("10.0.0.0/8"), via(20, &["192.0.2.1"]));
    assert_eq!(rib.resolve().len(), 2);
    connected(&mut rib, "192.0.2.0/24", "eth0");
    rib.set(Source::Bgp, net("10.0.0.0/8"), via(20, &["192.0.2.1"]));
    assert!(!rib.has_dirty());
    assert!(rib.resolve().is_empty());
    // Host bits are ignored.
    rib.set(Source::Bgp, net("10.1.2.3/8"), via(20, &["192.0.2.1"]));
    assert!(rib.resolve().is_empty());
}

/// `ip route 0.0.0.0/0 A` and a floating `ip route 0.0.0.0/0 B 250`: one
/// source, two candidates; the floating one takes over when A's network
/// goes and steps back when it returns.
#[test]
fn floating_static_of_the_same_source() {
    let mut rib = Rib::new();
    connected(&mut rib, "192.0.2.0/24", "eth0");
    connected(&mut rib, "198.51.100.0/24", "eth1");
    let (a, b) = (via(1, &["192.0.2.254"]), via(250, &["198.51.100.254"]));
    rib.set_all(
        Source::Static,
        net("0.0.0.0/0"),
        vec![b.clone().unwrap(), a.clone().unwrap()],
    );
    rib.resolve();
    assert_eq!(hops(&rib, "0.0.0.0/0"), vec!["via 192.0.2.254, eth0"]);
    assert_eq!(rib.candidates(&net("0.0.0.0/0")).count(), 2);
    rib.set(Source::Connected, net("192.0.2.0/24"), None);
    rib.resolve();
    assert_eq!(hops(&rib, "0.0.0.0/0"), vec!["via 198.51.100.254, eth1"]);
    assert_eq!(rib.fib().get(&net("0.0.0.0/0")).unwrap().distance, 250);
    connected(&mut rib, "192.0.2.0/24", "eth0");
    rib.resolve();
    assert_eq!(hops(&rib, "0.0.0.0/0"), vec!["via 192.0.2.254, eth0"]);
    // Removing the source's list removes both; the gateway index is
    // emptied too (a later change of 192.0.2.0/24 re-resolves nothing).
    rib.set_all(Source::Static, net("0.0.0.0/0"), Vec::new());
    let ch = rib.resolve();
    assert_eq!(ch, vec![FibChange::Remove(net("0.0.0.0/0"))]);
    assert!(rib.gateways.is_empty());
}

#[test]
fn selections_through_a_link_are_the_ones_in_use_out_of_it() {
    let mut rib = Rib::new();
    connected(&mut rib, "169.254.11.0/30", "Tunnel1");
    connected(&mut rib, "169.254.12.0/30", "Tunnel2");
    for i in 0..100u32 {
        let p = format!("10.{}.{}.0/24", i / 256, i % 256);
        let gws: &[&str] = if i % 2 == 0 {
            &["169.254.11.1"]
        } else {
            &["169.254.11.1", "169.254.12.1"]
        };
        rib.set(Source::Bgp, net(&p), via(20, gws));
    }
    rib.resolve();
    let names = |n: &[&str]| {
        n.iter()
            .map(|s| s.to_string())
            .collect::<BTreeSet<String>>()
    };
    let routes_through = |rib: &Rib, n: &[&str]| {
        let t = rib.selections_through(&names(n));
        rib.fib()
            .iter()
            .filter(|(_, s)| t.contains(&(Arc::as_ptr(s) as usize)))
            .count()
    };
    // Tunnel1: its connected route and all 100; Tunnel2: its connected
    // route and the 50 ECMP ones; a link nothing uses: none.
    assert_eq!(routes_through(&rib, &["Tunnel1"]), 101);
    assert_eq!(routes_through(&rib, &["Tunnel2"]), 51);
    assert_eq!(routes_through(&rib, &["Tunnel1", "Tunnel2"]), 102);
    assert!(rib.selections_through(&names(&["eth9"])).is_empty());
    // Tunnel2 goes: the ECMP routes fall back to Tunnel1 alone, and no
    // selection in use goes out of Tunnel2 any more.
    rib.set(Source::Connected, net("169.254.12.0/30"), None);
    rib.resolve();
    assert!(rib.selections_through(&names(&["Tunnel2"])).is_empty());
    assert_eq!(routes_through(&rib, &["Tunnel1"]), 101);
}

#[test]
fn a_full_tables_candidate_row_is_small() {
    // With its 8-octet key, 32 octets per BGP prefix.
    assert!(std::mem::size_of::<Candidate>() <= 16);
    assert!(std::mem::size_of::<BySource>() <= 24);
}
