//! Virtual-Template hubs: each spoke gets its own Virtual-Access tunnel
//! and an address from the pool (IKEv2 configuration payloads), the
//! tunnel goes with the spoke's last SA and the address returns to the
//! pool; an exhausted pool refuses the spoke with the reason.

use super::hub::{hub_sas, hub_tunnel, spoke, Net, HUB1};
use super::*;
use crate::sa::config::{CpConfig, PoolRange};

/// The hub's Virtual-Template1: pool 10.0.100.2-`last`, its loopback
/// 10.0.100.1/32 pushed as a route.
fn template(last: &str) -> TunnelConfig {
    let mut t = hub_tunnel(1, None);
    t.name = "Virtual-Template1".into();
    t.virtual_template = Some(1);
    t.cp = CpConfig {
        pool4: Some((
            "SPOKES".into(),
            PoolRange::V4 {
                first: "10.0.100.2".parse().unwrap(),
                last: last.parse().unwrap(),
            },
        )),
        routes: vec![(ip("10.0.100.1"), 32)],
        ..CpConfig::default()
    };
    t
}

fn asking(addr: &str, id: &str) -> TunnelConfig {
    let mut t = spoke(addr, HUB1, id);
    t.cp.request4 = true;
    // The spoke's own route (IOS: `route set interface` on the spoke).
    t.cp.routes = vec![(ip(addr), 32)];
    t
}

/// Hub with `template`, spokes s1 (10.0.1.2) and s2 (10.0.1.3).
fn vnet(hub: TunnelConfig) -> Net {
    let now = Instant::now();
    let mk = |a: &str, seed: u64, id: &str| Side::new(a, seed, vec![asking(a, id)], now);
    Net {
        sides: vec![
            Side::new(HUB1, 0x1111_2222_3333_4444, vec![hub], now),
            mk("10.0.1.2", 0x5555_6666_7777_8888, "s1.example.net"),
            mk("10.0.1.3", 0x9999_aaaa_bbbb_cccd, "s2.example.net"),
        ],
        now,
        unspecified_local: false,
        sent: Vec::new(),
    }
}

/// The CP results of a side's installed Child SAs.
fn cps(s: &Side) -> Vec<(String, Option<u32>, CpResult)> {
    let mut v: Vec<_> = s
        .children
        .values()
        .map(|c| (c.tunnel.clone(), c.virtual_template, c.cp.clone()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn each_spoke_gets_its_own_virtual_access_and_a_pool_address() {
    let mut n = vnet(template("10.0.100.254"));
    n.run(Duration::from_secs(5));
    let sas = hub_sas(&n);
    let names: Vec<&str> = sas.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(
        names,
        vec!["Virtual-Access1", "Virtual-Access2"],
        "{:#?}",
        n.sides[0].log
    );
    let hub = cps(&n.sides[0]);
    let mut given: Vec<IpAddr> = hub
        .iter()
        .map(|(_, vt, c)| {
            assert_eq!(*vt, Some(1));
            assert_eq!(c.peer_addresses.len(), 1, "{c:?}");
            assert_eq!(c.routes.len(), 1, "the spoke's route: {c:?}");
            assert!(c.routes[0].0.to_string().starts_with("10.0.1."), "{c:?}");
            c.peer_addresses[0].0
        })
        .collect();
    given.sort();
    given.dedup();
    assert_eq!(given, vec![ip("10.0.100.2"), ip("10.0.100.3")]);
    for s in &n.sides[1..] {
        assert_eq!(s.last(), Some(&TunnelStatus::Up), "{:#?}", s.log);
        let c = cps(s);
        assert_eq!(c.len(), 1);
        let (_, vt, cp) = &c[0];
        assert_eq!(*vt, None, "the spoke's own tunnel is no clone");
        assert_eq!(cp.local_addresses.len(), 1);
        assert!(given.contains(&cp.local_addresses[0].0));
        assert_eq!(cp.local_addresses[0].1, 32);
        assert_eq!(cp.routes, vec![(ip("10.0.100.1"), 32)]);
    }
    // The template has no SA of its own, and the status of each clone is up.
    let st = n.sides[0].e.tunnel_status();
    assert!(st
        .iter()
        .any(|(t, s, _)| t == "Virtual-Access1" && *s == TunnelStatus::Up));
}

#[test]
fn a_gone_spoke_takes_its_virtual_access_and_gives_its_address_back() {
    let mut n = vnet(template("10.0.100.2"));
    // Only s1 at first: it takes the pool's one address.
    let s2 = n.sides.remove(2);
    n.run(Duration::from_secs(5));
    assert_eq!(hub_sas(&n).len(), 1);
    let first = cps(&n.sides[1])[0].2.local_addresses.clone();
    assert_eq!(first, vec![(ip("10.0.100.2"), 32)]);
    // s2 comes: the pool is exhausted, s2 is refused with the reason.
    n.sides.push(s2);
    n.run(Duration::from_secs(5));
    assert_eq!(hub_sas(&n).len(), 1, "{:#?}", n.sides[0].log);
    let (_, st, _) = n.sides[0]
        .e
        .tunnel_status()
        .into_iter()
        .find(|(t, _, _)| t == "Virtual-Template1")
        .unwrap();
    assert!(
        st.label()
            .contains("pool SPOKES exhausted: all 1 addresses in use"),
        "{}",
        st.label()
    );
    assert!(
        matches!(n.sides[2].last(), Some(TunnelStatus::Phase2Failed(r)) if r.contains("INTERNAL_ADDRESS_FAILURE")),
        "{:?}",
        n.sides[2].status
    );
    // s1 goes away (clear): its Virtual-Access and lease go with it.
    let now = n.now;
    n.sides[1].e.shutdown(now);
    n.run(Duration::from_millis(100));
    n.sides.remove(1);
    n.run(Duration::from_secs(2));
    assert!(hub_sas(&n).is_empty());
    assert_eq!(n.sides[0].e.vt.instance_count(), 0);
    assert!(n.sides[0]
        .e
        .tunnel_status()
        .iter()
        .all(|(t, _, _)| !t.starts_with("Virtual-Access")));
    // s2 retries (it initiates) and now gets the address, on Virtual-Access1.
    n.run(Duration::from_secs(40));
    assert_eq!(
        hub_sas(&n)
            .into_iter()
            .map(|s| (s.0, s.1))
            .collect::<Vec<_>>(),
        vec![("Virtual-Access1".to_string(), "s2.example.net".to_string())],
        "{:#?}",
        n.sides[0].log
    );
    assert_eq!(cps(&n.sides[1])[0].2.local_addresses, first);
}

#[test]
fn a_spoke_that_restarts_keeps_its_virtual_access_and_address() {
    let mut n = vnet(template("10.0.100.254"));
    n.run(Duration::from_secs(5));
    let before = hub_sas(&n);
    let s1_addr = cps(&n.sides[1])[0].2.local_addresses.clone();
    // s1 restarts: a new engine with INITIAL_CONTACT, no Delete sent.
    let now = n.now;
    n.sides[1] = Side::new(
        "10.0.1.2",
        0x0123_4567_89ab_cdef,
        vec![asking("10.0.1.2", "s1.example.net")],
        now,
    );
    n.run(Duration::from_secs(5));
    assert_eq!(hub_sas(&n), before, "{:#?}", n.sides[0].log);
    assert_eq!(cps(&n.sides[1])[0].2.local_addresses, s1_addr);
    assert_eq!(n.sides[0].e.vt.instance_count(), 2);
}

#[test]
fn a_changed_template_tears_down_its_clones() {
    let mut n = vnet(template("10.0.100.254"));
    n.run(Duration::from_secs(5));
    assert_eq!(n.sides[0].e.vt.instance_count(), 2);
    let now = n.now;
    let mut t = template("10.0.100.254");
    t.ike_lifetime = Duration::from_secs(7200);
    n.sides[0].e.set_config(
        EngineConfig {
            tunnels: vec![t],
            ..EngineConfig::default()
        },
        now,
    );
    assert_eq!(n.sides[0].e.vt.instance_count(), 0);
    // The spokes come back on fresh clones.
    n.run(Duration::from_secs(40));
    assert_eq!(hub_sas(&n).len(), 2, "{:#?}", n.sides[0].log);
}

#[test]
fn a_restarted_hub_gives_each_spoke_its_old_address_back() {
    let mut n = vnet(template("10.0.100.254"));
    // s1 first (10.0.100.2), then s2 (10.0.100.3).
    let s2 = n.sides.remove(2);
    n.run(Duration::from_secs(5));
    n.sides.push(s2);
    n.run(Duration::from_secs(5));
    let addr = |n: &Net, i: usize| cps(&n.sides[i])[0].2.local_addresses.clone();
    assert_eq!(addr(&n, 1), vec![(ip("10.0.100.2"), 32)]);
    assert_eq!(addr(&n, 2), vec![(ip("10.0.100.3"), 32)]);
    // The hub restarts with an empty pool; s2 comes back first. Without
    // asking for its old address it would get the lowest free one, s1's.
    let now = n.now;
    n.sides[0] = Side::new(
        HUB1,
        0x4444_3333_2222_1111,
        vec![template("10.0.100.254")],
        now,
    );
    let s1 = n.sides.remove(1);
    n.sides[1].e.clear(None, now);
    n.run(Duration::from_secs(5));
    assert_eq!(
        addr(&n, 1),
        vec![(ip("10.0.100.3"), 32)],
        "{:#?}",
        n.sides[0].log
    );
    n.sides.insert(1, s1);
    let now = n.now;
    n.sides[1].e.clear(None, now);
    n.run(Duration::from_secs(5));
    assert_eq!(addr(&n, 1), vec![(ip("10.0.100.2"), 32)]);
    assert_eq!(hub_sas(&n).len(), 2, "{:#?}", n.sides[0].log);
}
