//! Tests of the BGP peer harness (tests/support/bgp_peers/) against
//! itself, with real daemons only (no rvpn yet): FRR <-> BIRD and BIRD <->
//! GoBGP eBGP over a veth, IPv4 and IPv6 unicast (one session per
//! transport family), each side originating a prefix per family and
//! seeing the other's; GoBGP injecting 1000 routes that FRR receives, all
//! of them; and the output parsers on real output.
//!
//! These need root and the packages frr, bird2 and gobgpd: run
//! scripts/test, which installs them. Nothing is skipped: without them the
//! tests fail.

mod support;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};
use support::bgp_peers::{
    parse_bird_protocols, parse_bird_routes, parse_gobgp_neighbors, require_bgp_peers, BgpSpeaker,
    Bird, Frr, GoBgp,
};
use support::netns::{veth, Netns};
use support::{run_timeout, wait_for};

/// Session establishment. The daemons' connect retry timers default to
/// 120 s (and BIRD waits 5 s before its first attempt): the configs lower
/// them to 2 s (BIRD: 1 s delay), so a refused first attempt (the peer not
/// listening yet) costs about 2 s.
const UP: Duration = Duration::from_secs(60);
/// Route propagation once sessions are up.
const ROUTES: Duration = Duration::from_secs(30);

/// Two namespaces joined by a veth with IPv4 10.77.N.a/24 and IPv6
/// fd00:77:N::a/64 on each end.
fn dual_stack_pair(net: u8, a_tag: &str, a: u8, b_tag: &str, b: u8) -> (Netns, Netns) {
    let na = Netns::new(a_tag);
    let nb = Netns::new(b_tag);
    let v = veth(
        &na,
        &nb,
        &format!("10.77.{net}.{a}/24"),
        &format!("10.77.{net}.{b}/24"),
    );
    na.add_addr(&v.a_if, &format!("fd00:77:{net}::{a}/64"));
    nb.add_addr(&v.b_if, &format!("fd00:77:{net}::{b}/64"));
    (na, nb)
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

#[test]
fn frr_and_bird_exchange_ipv4_and_ipv6_prefixes() {
    require_bgp_peers();
    let t0 = Instant::now();
    let (nf, nb) = dual_stack_pair(1, "frr", 1, "bird", 2);
    // FRR 8.4: eBGP needs `no bgp ebgp-requires-policy` (or policies);
    // `network` needs `no bgp network import-check` without a RIB route.
    let frr_conf = "\
hostname frr-a
router bgp 65001
 bgp router-id 10.77.1.1
 no bgp ebgp-requires-policy
 no bgp network import-check
 no bgp default ipv4-unicast
 neighbor 10.77.1.2 remote-as 65002
 neighbor 10.77.1.2 timers connect 2
 neighbor fd00:77:1::2 remote-as 65002
 neighbor fd00:77:1::2 timers connect 2
 address-family ipv4 unicast
  network 172.16.1.0/24
  neighbor 10.77.1.2 activate
 exit-address-family
 address-family ipv6 unicast
  network 2001:db8:1::/48
  neighbor fd00:77:1::2 activate
 exit-address-family
";
    // BIRD: explicit import/export on every channel; `protocol device`
    // for direct sessions.
    let bird_conf = "\
router id 10.77.1.2;
protocol device { }
protocol static s4 { ipv4; route 172.16.2.0/24 blackhole; }
protocol static s6 { ipv6; route 2001:db8:2::/48 blackhole; }
protocol bgp frr4 {
  local 10.77.1.2 as 65002; neighbor 10.77.1.1 as 65001;
  connect delay time 1; connect retry time 2;
  ipv4 { import all; export all; };
}
protocol bgp frr6 {
  local fd00:77:1::2 as 65002; neighbor fd00:77:1::1 as 65001;
  connect delay time 1; connect retry time 2;
  ipv6 { import all; export all; };
}
";
    let frr = Frr::start(&nf, frr_conf);
    let bird = Bird::start(&nb, bird_conf);
    let started = t0.elapsed();

    frr.wait_established("10.77.1.2", UP);
    frr.wait_established("fd00:77:1::2", UP);
    bird.wait_established("frr4", UP);
    bird.wait_established("frr6", UP);
    frr.wait_all_established(UP);
    bird.wait_all_established(UP);
    let established = t0.elapsed();

    let frr_rib = frr.wait_prefixes(
        &[
            "172.16.1.0/24",
            "172.16.2.0/24",
            "2001:db8:1::/48",
            "2001:db8:2::/48",
        ],
        ROUTES,
    );
    let bird_rib = bird.wait_prefixes(
        &[
            "172.16.1.0/24",
            "172.16.2.0/24",
            "2001:db8:1::/48",
            "2001:db8:2::/48",
        ],
        ROUTES,
    );
    let converged = t0.elapsed();
    assert_eq!(frr_rib.len(), 4, "{frr_rib:?}");
    assert_eq!(bird_rib.len(), 4, "{bird_rib:?}");

    // Each learnt prefix came over the session of its family.
    assert_eq!(frr.prefixes_from("10.77.1.2"), ["172.16.2.0/24"]);
    assert_eq!(frr.prefixes_from("fd00:77:1::2"), ["2001:db8:2::/48"]);
    assert_eq!(bird.prefixes_from("frr4"), ["172.16.1.0/24"]);
    assert_eq!(bird.prefixes_from("frr6"), ["2001:db8:1::/48"]);
    assert_eq!(frr.received_count("10.77.1.2"), 1);
    assert_eq!(frr.received_count("fd00:77:1::2"), 1);
    assert_eq!(bird.imported_count("frr4"), 1);
    assert_eq!(bird.imported_count("frr6"), 1);

    // show_json with the commands the BGP tests will use.
    let v4 = frr.show_json("show ip bgp");
    let path = &v4["routes"]["172.16.2.0/24"][0];
    assert_eq!(path["path"], "65002", "{path}");
    assert_eq!(path["peerId"], "10.77.1.2", "{path}");
    let v6 = frr.show_json("show bgp ipv6 unicast json");
    let path6 = &v6["routes"]["2001:db8:2::/48"][0];
    assert_eq!(path6["path"], "65002", "{path6}");
    let sum = frr.show_json("show bgp summary");
    assert_eq!(
        sum["ipv6Unicast"]["peers"]["fd00:77:1::2"]["state"],
        "Established"
    );
    let protos = bird.protocols();
    assert!(
        protos
            .iter()
            .any(|p| p.name == "frr6" && p.proto == "BGP" && p.info == "Established"),
        "{protos:#?}"
    );

    // zebra installs what bgpd learnt into the namespace's kernel table
    // (IPv6 via BIRD's link-local next hop).
    for (fam, pfx) in [("-4", "172.16.2.0/24"), ("-6", "2001:db8:2::/48")] {
        let mut last = String::new();
        let ok = wait_for(
            || {
                let o = run_timeout(
                    Command::new("ip").args(["-n", nf.name(), fam, "route", "show", pfx]),
                    Duration::from_secs(5),
                );
                last = String::from_utf8_lossy(&o.stdout).into_owned();
                last.contains("proto bgp")
            },
            ROUTES,
        );
        assert!(ok, "{pfx} not in {}'s kernel table: {last:?}", nf.name());
    }
    let kernel = t0.elapsed();
    eprintln!(
        "frr<->bird: daemons up {} ms, 4 sessions established {} ms, \
         routes exchanged {} ms, in FRR's kernel table {} ms",
        ms(started),
        ms(established),
        ms(converged),
        ms(kernel)
    );
}

#[test]
fn bird_and_gobgp_exchange_ipv4_and_ipv6_prefixes() {
    require_bgp_peers();
    let t0 = Instant::now();
    let (nb, ng) = dual_stack_pair(2, "bird", 2, "gobgp", 3);
    let bird_conf = "\
router id 10.77.2.2;
protocol device { }
protocol static s4 { ipv4; route 172.16.2.0/24 blackhole; }
protocol static s6 { ipv6; route 2001:db8:2::/48 blackhole; }
protocol bgp gob4 {
  local 10.77.2.2 as 65002; neighbor 10.77.2.3 as 65003;
  connect delay time 1; connect retry time 2;
  ipv4 { import all; export all; };
}
protocol bgp gob6 {
  local fd00:77:2::2 as 65002; neighbor fd00:77:2::3 as 65003;
  connect delay time 1; connect retry time 2;
  ipv6 { import all; export all; };
}
";
    let gobgp_conf = r#"
[global.config]
  as = 65003
  router-id = "10.77.2.3"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "10.77.2.2"
    peer-as = 65002
  [neighbors.timers.config]
    connect-retry = 2
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "fd00:77:2::2"
    peer-as = 65002
  [neighbors.timers.config]
    connect-retry = 2
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
"#;
    let bird = Bird::start(&nb, bird_conf);
    let gobgp = GoBgp::start(&ng, gobgp_conf);
    let started = t0.elapsed();
    gobgp.add_route("172.16.3.0/24", "10.77.2.3");
    gobgp.add_route("2001:db8:3::/48", "fd00:77:2::3");

    gobgp.wait_established("10.77.2.2", UP);
    gobgp.wait_established("fd00:77:2::2", UP);
    bird.wait_established("gob4", UP);
    bird.wait_established("gob6", UP);
    gobgp.wait_all_established(UP);
    let established = t0.elapsed();

    let want = [
        "172.16.2.0/24",
        "172.16.3.0/24",
        "2001:db8:2::/48",
        "2001:db8:3::/48",
    ];
    let g = gobgp.wait_prefixes(&want, ROUTES);
    let b = bird.wait_prefixes(&want, ROUTES);
    let converged = t0.elapsed();
    assert_eq!(g, want, "GoBGP's RIB");
    assert_eq!(b, want, "BIRD's tables");
    assert_eq!(gobgp.rib_family("ipv4"), ["172.16.2.0/24", "172.16.3.0/24"]);
    assert_eq!(bird.prefixes_from("gob4"), ["172.16.3.0/24"]);
    assert_eq!(bird.prefixes_from("gob6"), ["2001:db8:3::/48"]);

    let n = gobgp.neighbors();
    assert_eq!(n.len(), 2, "{n:?}");
    for nb in &n {
        assert_eq!(nb.state, "established", "{nb:?}");
        assert_eq!(nb.peer_as, 65002, "{nb:?}");
        assert_eq!((nb.received, nb.accepted), (1, 1), "{nb:?}");
    }

    // Withdrawal reaches BIRD too.
    gobgp.del_route("172.16.3.0/24");
    let gone = wait_for(|| bird.prefixes_from("gob4").is_empty(), ROUTES);
    assert!(gone, "BIRD still has {:?}", bird.prefixes_from("gob4"));
    eprintln!(
        "bird<->gobgp: daemons up {} ms, sessions established {} ms, routes exchanged {} ms, \
         withdrawn {} ms",
        ms(started),
        ms(established),
        ms(converged),
        ms(t0.elapsed())
    );
}

#[test]
fn gobgp_injects_1000_routes_and_frr_receives_all() {
    require_bgp_peers();
    const N: usize = 1000;
    let t0 = Instant::now();
    let (ng, nf) = dual_stack_pair(3, "gobgp", 3, "frr", 1);
    let gobgp_conf = r#"
[global.config]
  as = 65003
  router-id = "10.77.3.3"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "10.77.3.1"
    peer-as = 65001
  [neighbors.timers.config]
    connect-retry = 2
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
"#;
    let frr_conf = "\
hostname frr-c
router bgp 65001
 bgp router-id 10.77.3.1
 no bgp ebgp-requires-policy
 neighbor 10.77.3.3 remote-as 65003
 neighbor 10.77.3.3 timers connect 2
";
    let mut gobgp = GoBgp::start(&ng, gobgp_conf);
    let frr = Frr::start(&nf, frr_conf);
    frr.wait_established("10.77.3.3", UP);
    gobgp.wait_established("10.77.3.1", UP);
    let established = t0.elapsed();

    // 10.128.0.0/24, 10.128.1.0/24, ... 10.131.231.0/24
    let routes: Vec<(String, String)> = (0..N)
        .map(|i| {
            (
                format!("10.{}.{}.0/24", 128 + (i >> 8), i & 255),
                "10.77.3.3".to_string(),
            )
        })
        .collect();
    let t_add = Instant::now();
    gobgp.add_routes(&routes);
    let add = t_add.elapsed();
    assert_eq!(gobgp.rib_family("ipv4").len(), N, "GoBGP's own RIB");

    let t_rx = Instant::now();
    let mut count = 0;
    let all = wait_for(
        || {
            count = frr.received_count("10.77.3.3");
            count >= N as u64
        },
        Duration::from_secs(60),
    );
    let rx = t_rx.elapsed();
    assert!(
        all,
        "FRR received {count} of {N} prefixes\n{}",
        frr.state_dump()
    );
    assert_eq!(count, N as u64, "pfxRcd");
    let got: BTreeSet<String> = frr.prefixes_from("10.77.3.3").into_iter().collect();
    let want: BTreeSet<String> = routes.iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(got.len(), N);
    assert_eq!(got, want, "FRR's prefixes from GoBGP");
    assert_eq!(frr.prefixes().len(), N);
    let sent = gobgp.neighbors();
    assert_eq!(sent.len(), 1);
    eprintln!(
        "gobgp->frr: established {} ms, {N} x `gobgp global rib add` {} ms \
         ({:.1} ms each), all {N} at FRR {} ms after the last add; total {} ms",
        ms(established),
        ms(add),
        add.as_secs_f64() * 1000.0 / N as f64,
        ms(rx),
        ms(t0.elapsed())
    );
}

/// The parsers on output captured from BIRD 2.0.12 and GoBGP 3.10.
#[test]
fn parsers_read_real_output() {
    let protocols = "\
BIRD 2.0.12 ready.
Name       Proto      Table      State  Since         Info
device1    Device     ---        up     20:36:51.878  
s4         Static     master4    up     20:36:51.878  
frr4       BGP        ---        up     20:37:20.654  Established   
frr6       BGP        ---        start  2026-11-21 20:36:53  Idle          Received: Invalid network field
";
    let p = parse_bird_protocols(protocols);
    assert_eq!(p.len(), 4, "{p:#?}");
    assert_eq!(p[2].name, "frr4");
    assert_eq!(p[2].proto, "BGP");
    assert_eq!(p[2].info, "Established");
    assert_eq!(p[3].state, "start");
    assert_eq!(p[3].since, "2026-11-21 20:36:53");
    assert_eq!(p[3].info, "Idle Received: Invalid network field");
    assert_eq!(p[0].info, "");

    let routes = "\
BIRD 2.0.12 ready.
Table master4:
172.16.3.0/24        unicast [gob4 20:37:54.023] * (100) [AS65003?]
\tvia 10.9.1.3 on vb2
                     unicast [frr4 20:37:55.023] (100) [AS65001 65003?]
\tvia 10.9.0.1 on vb
172.16.2.0/24        blackhole [s4 20:36:51.878] * (200)

Table master6:
2001:db8:1::/48      unicast [frr6 20:37:37.410] * (100) [AS65001i]
\tvia fd00:9::1 on vb
";
    assert_eq!(
        parse_bird_routes(routes),
        ["172.16.2.0/24", "172.16.3.0/24", "2001:db8:1::/48"]
    );

    let neighbors: serde_json::Value = serde_json::from_str(
        r#"[{"conf":{"local_asn":65003,"neighbor_address":"10.9.1.2","peer_asn":65002,"type":1},
        "state":{"neighbor_address":"10.9.1.2","peer_asn":65002,"session_state":6},
        "afi_safis":[{"config":{"family":{"afi":1,"safi":1},"enabled":true},
        "state":{"family":{"afi":1,"safi":1},"enabled":true,"received":2,"accepted":2}}]},
        {"conf":{"neighbor_address":"fd00::2","peer_asn":65002},"state":{"session_state":3},
        "afi_safis":[{"state":{"family":{"afi":2,"safi":1},"enabled":true}}]}]"#,
    )
    .expect("json");
    let n = parse_gobgp_neighbors(&neighbors);
    assert_eq!(n.len(), 2);
    assert_eq!(n[0].address, "10.9.1.2");
    assert_eq!(n[0].state, "established");
    assert_eq!((n[0].received, n[0].accepted), (2, 2));
    assert_eq!(n[1].state, "active");
    assert_eq!(n[1].received, 0);
}
