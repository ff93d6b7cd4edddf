//! Property tests: generated configurations survive render -> parse, and
//! no input line panics the parser or changes a config when refused.

use ipnetwork::{IpNetwork, Ipv4Network, Ipv6Network};
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use vtysh::model::*;
use vtysh::{render, Config, Outcome, Session};

fn name() -> impl Strategy<Value = String> {
    "[A-Z][A-Za-z0-9_-]{0,12}"
}

fn secret() -> impl Strategy<Value = Secret> {
    "[A-Za-z0-9@#%^&*_+=-]{16,40}".prop_map(Secret)
}

fn hash() -> impl Strategy<Value = Hash> {
    prop::sample::select(Hash::ALL.to_vec())
}

fn proposal() -> impl Strategy<Value = Ikev2Proposal> {
    (
        prop::sample::subsequence(Encryption::ALL.to_vec(), 1..=5),
        prop::sample::subsequence(vec![Hash::Sha256, Hash::Sha384, Hash::Sha512], 0..=3),
        prop::sample::subsequence(
            vec![Hash::Sha1, Hash::Sha256, Hash::Sha384, Hash::Sha512],
            1..=4,
        ),
        prop::sample::subsequence(DhGroup::SUPPORTED.to_vec(), 1..=7),
    )
        .prop_map(|(encryption, integrity, prf, groups)| Ikev2Proposal {
            encryption,
            integrity,
            prf,
            groups: groups.into_iter().map(DhGroup).collect(),
        })
}

fn identity() -> impl Strategy<Value = Identity> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|b| Identity::Address(IpAddr::V4(Ipv4Addr::from(b)))),
        "[a-z]{1,8}\\.example\\.net".prop_map(Identity::Fqdn),
        "[a-z]{1,8}@example\\.net".prop_map(Identity::Email),
        "[A-Za-z0-9]{1,16}".prop_map(Identity::KeyId),
    ]
}

fn keyring_peer() -> impl Strategy<Value = KeyringPeer> {
    (
        prop::option::of("[a-z][a-z0-9 ]{0,20}[a-z0-9]".prop_map(String::from)),
        prop::option::of((any::<[u8; 4]>(), 8u8..=32).prop_map(|(b, p)| {
            let n = Ipv4Network::new(Ipv4Addr::from(b), p).unwrap();
            IpNetwork::V4(Ipv4Network::new(n.network(), p).unwrap())
        })),
        prop::option::of(identity()),
        prop::option::of(secret()),
        prop::option::of(secret()),
    )
        .prop_map(|(description, address, identity, psk, local)| KeyringPeer {
            description,
            address,
            identity,
            pre_shared_key: psk,
            pre_shared_key_local: local,
            pre_shared_key_remote: None,
        })
}

fn transform() -> impl Strategy<Value = EspTransform> {
    prop_oneof![
        prop::sample::select(vec![128u16, 256]).prop_map(|bits| EspTransform::Gcm { bits }),
        Just(EspTransform::Chacha20Poly1305),
        (prop::sample::select(vec![128u16, 256]), hash())
            .prop_map(|(bits, integrity)| EspTransform::Cbc { bits, integrity }),
    ]
}

/// The parts of a Virtual-Template hub: aaa lists, pools, policies.
type Hub = (
    bool,
    Vec<String>,
    Vec<(String, [u8; 4], u16)>,
    Vec<(String, [u8; 16], u8, u8)>,
    Vec<(String, AuthorizationPolicy)>,
);

fn authorization_policy() -> impl Strategy<Value = AuthorizationPolicy> {
    (
        prop::option::of(name()),
        prop::option::of(name()),
        prop::collection::vec(prop::option::of(name()), 0..3),
        prop::option::of(1u8..=255),
    )
        .prop_map(|(pool, ipv6_pool, routes, route_accept_distance)| {
            let mut route_set_interfaces = Vec::new();
            for r in routes {
                let r = match r {
                    Some(n) => RouteSetInterface::Named(n),
                    None => RouteSetInterface::Own,
                };
                if !route_set_interfaces.contains(&r) {
                    route_set_interfaces.push(r);
                }
            }
            AuthorizationPolicy {
                pool,
                ipv6_pool,
                route_set_interfaces,
                route_accept_distance,
            }
        })
}

fn hub() -> impl Strategy<Value = Hub> {
    (
        any::<bool>(),
        prop::collection::vec(name(), 0..3),
        prop::collection::vec((name(), any::<[u8; 4]>(), 0u16..1000), 0..3),
        prop::collection::vec((name(), any::<[u8; 16]>(), 1u8..=128, 0u8..=20), 0..3),
        prop::collection::vec((name(), authorization_policy()), 0..3),
    )
}

fn apply_hub(c: &mut Config, (new_model, lists, pools, pools6, policies): Hub) {
    c.aaa_new_model = new_model || !lists.is_empty();
    c.aaa_authorization_network = lists.into_iter().collect();
    for (n, a, len) in pools {
        let first = u32::from(Ipv4Addr::from(a)).min(u32::MAX - 1000);
        let p = LocalPool {
            first: Ipv4Addr::from(first),
            last: Ipv4Addr::from(first + u32::from(len)),
        };
        c.ip_local_pools.insert(n, p);
    }
    for (n, a, len, extra) in pools6 {
        let net = Ipv6Network::new(Ipv6Addr::from(a), len).unwrap();
        let prefix = Ipv6Network::new(net.network(), len).unwrap();
        let assign_len = len.saturating_add(extra).min(128);
        c.ipv6_local_pools
            .insert(n, Ipv6LocalPool { prefix, assign_len });
    }
    c.ikev2_authorization_policies = policies.into_iter().collect();
}

fn bfd_timers() -> impl Strategy<Value = BfdTimers> {
    (2u8..=255, 50u32..=60000, 50u32..=60000).prop_map(|(detect_mult, min_rx_ms, min_tx_ms)| {
        BfdTimers {
            detect_mult,
            min_rx_ms,
            min_tx_ms,
        }
    })
}

fn interface(i: u8) -> impl Strategy<Value = Interface> {
    (
        prop::option::of("[a-z][a-z0-9 ]{0,20}[a-z0-9]".prop_map(String::from)),
        any::<bool>(),
        prop::option::of(576u32..=9216),
        prop::option::of(500u16..=1460),
        prop::option::of(any::<[u8; 4]>()),
        any::<bool>(),
        prop::option::of(bfd_timers()),
        0u8..3,
    )
        .prop_map(
            move |(description, shutdown, mtu, mss, dst, dynamic, bfd, addr)| Interface {
                bfd,
                description,
                shutdown,
                ipv4: (addr == 0)
                    .then(|| Ipv4Network::new(Ipv4Addr::new(169, 254, i, 1), 30).unwrap()),
                unnumbered: (addr == 1).then(|| "Loopback0".to_string()),
                address_negotiated: addr == 2,
                ipv6: vec![],
                mtu,
                tcp_adjust_mss: mss,
                tunnel: Some(Tunnel {
                    source: Some(TunnelSource::Address(IpAddr::V4(Ipv4Addr::new(
                        192, 0, 2, 1,
                    )))),
                    destination: if dynamic {
                        Some(TunnelDestination::Dynamic)
                    } else {
                        dst.map(|b| TunnelDestination::Address(IpAddr::V4(Ipv4Addr::from(b))))
                    },
                    mode: Some(TunnelMode::IpsecIpv4),
                    protection: None,
                }),
            },
        )
}

/// `maximum-prefix N [THRESHOLD] [warning-only | restart MINUTES]`.
fn max_prefix() -> impl Strategy<Value = MaxPrefix> {
    (
        1u32..=u32::MAX,
        prop::option::of(1u8..=100),
        any::<bool>(),
        prop::option::of(1u16..=u16::MAX),
    )
        .prop_map(|(max, threshold, warning_only, restart)| MaxPrefix {
            max,
            threshold,
            warning_only: warning_only && restart.is_none(),
            restart,
        })
}

fn bgp() -> impl Strategy<Value = Bgp> {
    (
        1u32..=u32::MAX,
        any::<bool>(),
        prop::option::of((3u16..=300).prop_flat_map(|h| (1u16..=h / 3, Just(h)))),
        prop::collection::btree_map(
            any::<[u8; 4]>(),
            (
                1u32..=u32::MAX,
                any::<bool>(),
                prop::option::of(bfd_timers()),
                prop::option::of(max_prefix()),
            ),
            0..4,
        ),
        prop::option::of(1u16..=64),
    )
        .prop_map(|(asn, rp, timers, nbrs, mp)| {
            let mut b = Bgp::new(asn);
            b.ebgp_requires_policy = rp;
            b.timers = timers;
            b.router_id = Some(Ipv4Addr::new(10, 0, 0, 1));
            for (a, (r, bfd, bfd_timers, maximum_prefix)) in nbrs {
                let addr = IpAddr::V4(Ipv4Addr::from(a));
                b.neighbors.insert(
                    addr,
                    NeighborConfig {
                        remote_as: Some(RemoteAs::As(r)),
                        timers,
                        bfd: bfd || bfd_timers.is_some(),
                        bfd_timers,
                        ..Default::default()
                    },
                );
                b.ipv4_unicast.neighbors.insert(
                    PeerRef::Addr(addr),
                    AfNeighbor {
                        next_hop_self: true,
                        maximum_prefix,
                        ..Default::default()
                    },
                );
            }
            b.ipv4_unicast.maximum_paths = mp;
            b
        })
}

fn config() -> impl Strategy<Value = Config> {
    (
        prop::option::of("[a-z][a-z0-9-]{0,15}"),
        any::<bool>(),
        prop::collection::btree_map(name(), proposal(), 0..3),
        prop::collection::btree_map(
            name(),
            prop::collection::btree_map(name(), keyring_peer(), 0..3),
            0..3,
        ),
        prop::collection::btree_map(name(), prop::collection::vec(transform(), 1..3), 0..3),
        prop::collection::vec(interface(1), 0..1),
        prop::option::of(bgp()),
        prop::collection::vec((any::<[u8; 4]>(), 0u8..=32, 1u8..=255), 0..4),
        hub(),
    )
        .prop_map(
            |(hostname, allow_weak, ikev2_proposals, keyrings, ts, ifs, bgp, routes, hub)| {
                let mut c = Config {
                    hostname,
                    allow_weak,
                    ikev2_proposals,
                    bgp,
                    ..Default::default()
                };
                c.ikev2_keyrings = keyrings
                    .into_iter()
                    .map(|(k, peers)| (k, Keyring { peers }))
                    .collect();
                c.transform_sets = ts
                    .into_iter()
                    .map(|(k, transforms)| {
                        (
                            k,
                            TransformSet {
                                transforms: dedup(transforms),
                                mode: EspMode::Tunnel,
                            },
                        )
                    })
                    .collect();
                for (i, itf) in ifs.into_iter().enumerate() {
                    c.interfaces.insert(format!("Tunnel{}", i + 1), itf);
                }
                for (b, p, d) in routes {
                    let n = Ipv4Network::new(Ipv4Addr::from(b), p).unwrap();
                    let prefix = IpNetwork::V4(Ipv4Network::new(n.network(), p).unwrap());
                    let r = StaticRoute {
                        prefix,
                        next_hop: NextHop::Gateway(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 254))),
                        distance: d,
                    };
                    if !c.static_routes.iter().any(|x| x.prefix == r.prefix) {
                        c.static_routes.push(r);
                    }
                }
                c.static_routes.sort();
                apply_hub(&mut c, hub);
                c
            },
        )
}

fn dedup(v: Vec<EspTransform>) -> Vec<EspTransform> {
    let mut out = Vec::new();
    for t in v {
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

fn parse(text: &str) -> Config {
    let mut cfg = Config::default();
    let mut s = Session::new_config();
    for line in text.lines() {
        match s.execute_unvalidated(line, &cfg) {
            Ok(Outcome::Changed(c)) => cfg = *c,
            Ok(_) => {}
            Err(e) => panic!("{line:?}: {}\n{text}", e.message),
        }
        if s.mode() == vtysh::Mode::Exec {
            s = Session::new_config();
        }
    }
    cfg
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn generated_configs_round_trip(c in config()) {
        let text = render(&c);
        let back = parse(&text);
        prop_assert_eq!(&back, &c, "{}", text);
    }

    #[test]
    fn arbitrary_lines_never_panic_and_refusals_change_nothing(
        lines in prop::collection::vec(
            prop_oneof![
                "[ -~]{0,60}",
                "(no )?(interface|crypto|router|neighbor|ip|ipv6|set|match|tunnel) [ -~]{0,40}",
            ],
            1..20,
        )
    ) {
        let base = vtysh::load_config(include_str!("../../configs/hub1.conf"), &Config::default()).unwrap();
        let mut running = base;
        let mut s = Session::new();
        let _ = s.execute("configure terminal", &running);
        for l in &lines {
            let before = running.clone();
            let mode_before = s.mode();
            match s.execute(l, &running) {
                Ok(Outcome::Changed(c)) => {
                    prop_assert!(vtysh::validate(&c).is_empty());
                    running = *c;
                }
                Ok(_) => {}
                Err(e) => {
                    prop_assert!(e.message.starts_with('%'));
                    prop_assert_eq!(&running, &before);
                    prop_assert_eq!(s.mode(), mode_before);
                }
            }
            let _ = vtysh::help(s.mode(), l);
            let _ = vtysh::complete(s.mode(), l);
        }
    }
}
