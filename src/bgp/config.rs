//! `router bgp` of the running configuration, resolved for the speaker
//! core ([`bgp::speaker::SpeakerConfig`]): every neighbor's settings with
//! its peer group's filled in, the tunnel interface each session runs
//! over, the decision settings per family.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use bgp::rib::DecisionConfig;
use bgp::speaker::{
    AfConfig, AfPeer, MaxPrefix, PeerConfig, Redistribute, RemoteAs, SpeakerConfig,
};
use vtysh::model::{self, AfNeighbor, NeighborConfig, PeerRef, RedistSource};
use vtysh::Config;

/// Hold and keepalive of sessions over tunnel interfaces when nothing is
/// configured: a dead tunnel must not keep routes for long.
pub const TUNNEL_TIMERS: (u16, u16) = (3, 9);
/// Elsewhere, FRR's defaults.
pub const DEFAULT_TIMERS: (u16, u16) = (60, 180);
/// FRR's default `bgp listen limit`.
pub const DEFAULT_LISTEN_LIMIT: u32 = 100;

fn merge_af(own: Option<&AfNeighbor>, group: Option<&AfNeighbor>) -> AfPeer {
    let pick = |f: fn(&AfNeighbor) -> &Option<String>| {
        own.and_then(|a| f(a).clone())
            .or_else(|| group.and_then(|g| f(g).clone()))
    };
    let flag = |f: fn(&AfNeighbor) -> bool| own.is_some_and(f) || group.is_some_and(f);
    AfPeer {
        next_hop_self: flag(|a| a.next_hop_self),
        prefix_list_in: pick(|a| &a.prefix_list_in),
        prefix_list_out: pick(|a| &a.prefix_list_out),
        route_map_in: pick(|a| &a.route_map_in),
        route_map_out: pick(|a| &a.route_map_out),
        soft_reconfiguration_inbound: flag(|a| a.soft_reconfiguration_inbound),
        default_originate: flag(|a| a.default_originate),
        addpath_tx_all_paths: flag(|a| a.addpath_tx_all_paths),
        maximum_prefix: own
            .and_then(|a| a.maximum_prefix)
            .or_else(|| group.and_then(|g| g.maximum_prefix))
            .map(|m| MaxPrefix {
                max: m.max,
                threshold: m.threshold.unwrap_or(MaxPrefix::DEFAULT_THRESHOLD),
                warning_only: m.warning_only,
                restart_minutes: m.restart,
            }),
    }
}

/// The tunnel interface whose configured subnet contains `addr`.
fn tunnel_of(cfg: &Config, addr: IpAddr) -> Option<String> {
    cfg.interfaces.iter().find_map(|(name, itf)| {
        itf.tunnel.as_ref()?;
        let hit = match addr {
            IpAddr::V4(a) => itf.ipv4.is_some_and(|n| n.contains(a)),
            IpAddr::V6(a) => itf.ipv6.iter().any(|n| n.contains(a)),
        };
        hit.then(|| name.clone())
    })
}

/// The router ID when none is configured: the highest IPv4 address of a
/// configured interface (FRR takes the highest interface address too).
fn default_router_id(cfg: &Config) -> Ipv4Addr {
    cfg.interfaces
        .values()
        .filter_map(|i| i.ipv4.map(|n| n.ip()))
        .max()
        .unwrap_or(Ipv4Addr::new(0, 0, 0, 1))
}

/// Resolves one neighbor (or a group's template when `addr` is None).
fn resolve(
    cfg: &Config,
    b: &model::Bgp,
    addr: Option<IpAddr>,
    own: Option<&NeighborConfig>,
    group_name: Option<&str>,
) -> Option<PeerConfig> {
    let group = group_name.and_then(|g| b.peer_groups.get(g));
    let remote_as = match own
        .and_then(|n| n.remote_as)
        .or_else(|| group.and_then(|g| g.remote_as))?
    {
        model::RemoteAs::As(n) => RemoteAs::As(n),
        model::RemoteAs::External => RemoteAs::External,
        model::RemoteAs::Internal => RemoteAs::Internal,
    };
    let get = |f: fn(&NeighborConfig) -> Option<&str>| {
        own.and_then(f)
            .or_else(|| group.and_then(f))
            .map(str::to_string)
    };
    let tunnel = addr.and_then(|a| tunnel_of(cfg, a));
    let timers = own
        .and_then(|n| n.timers)
        .or_else(|| group.and_then(|g| g.timers))
        .or(b.timers)
        .unwrap_or(if tunnel.is_some() || addr.is_none() {
            TUNNEL_TIMERS
        } else {
            DEFAULT_TIMERS
        });
    let key = addr.map_or_else(
        || PeerRef::Group(group_name.unwrap_or_default().to_string()),
        PeerRef::Addr,
    );
    let gkey = group_name.map(|g| PeerRef::Group(g.to_string()));
    let mut af = [None, None];
    for (i, afi) in [model::Afi::Ipv4, model::Afi::Ipv6].into_iter().enumerate() {
        let m = b.af(afi);
        if b.is_active(&key, afi) {
            if let Some(slot) = af.get_mut(i) {
                *slot = Some(merge_af(
                    m.neighbors.get(&key),
                    gkey.as_ref().and_then(|g| m.neighbors.get(g)),
                ));
            }
        }
    }
    Some(PeerConfig {
        addr: addr.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        remote_as,
        group: group_name.map(str::to_string),
        description: get(|n| n.description.as_deref()),
        password: own
            .and_then(|n| n.password.as_ref())
            .or_else(|| group.and_then(|g| g.password.as_ref()))
            .map(|s| s.expose().to_string()),
        timers,
        update_source: get(|n| n.update_source.as_deref()),
        ebgp_multihop: own
            .and_then(|n| n.ebgp_multihop)
            .or_else(|| group.and_then(|g| g.ebgp_multihop)),
        shutdown: own.is_some_and(|n| n.shutdown) || group.is_some_and(|g| g.shutdown),
        port: own
            .and_then(|n| n.port)
            .or_else(|| group.and_then(|g| g.port))
            .unwrap_or(179),
        tunnel,
        af,
        dynamic: false,
    })
}

/// The speaker's configuration, or `None` without `router bgp`.
pub fn speaker_config(cfg: &Config) -> Option<SpeakerConfig> {
    let b = cfg.bgp.as_ref()?;
    let mut neighbors = BTreeMap::new();
    for (addr, n) in &b.neighbors {
        if let Some(p) = resolve(cfg, b, Some(*addr), Some(n), n.peer_group.as_deref()) {
            neighbors.insert(*addr, p);
        }
    }
    let mut groups = BTreeMap::new();
    for name in b.peer_groups.keys() {
        if let Some(p) = resolve(cfg, b, None, None, Some(name)) {
            groups.insert(name.clone(), p);
        }
    }
    let af_cfg = |afi: model::Afi| {
        let m = b.af(afi);
        AfConfig {
            networks: m.networks.clone(),
            redistribute: m
                .redistribute
                .iter()
                .map(|(src, rm)| {
                    let src = match src {
                        RedistSource::Connected => Redistribute::Connected,
                        RedistSource::Static => Redistribute::Static,
                    };
                    (src, rm.clone())
                })
                .collect(),
            decision: DecisionConfig {
                maximum_paths: m.maximum_paths.unwrap_or(1).max(1),
                maximum_paths_ibgp: m.maximum_paths_ibgp.unwrap_or(1).max(1),
                multipath_relax: b.multipath_relax,
            },
        }
    };
    Some(SpeakerConfig {
        asn: b.asn,
        router_id: b.router_id.unwrap_or_else(|| default_router_id(cfg)),
        ebgp_requires_policy: b.ebgp_requires_policy,
        neighbors,
        listen_ranges: b
            .listen_ranges
            .iter()
            .map(|(r, g)| (*r, g.clone()))
            .collect(),
        listen_limit: b.listen_limit.unwrap_or(DEFAULT_LISTEN_LIMIT),
        groups,
        af: [af_cfg(model::Afi::Ipv4), af_cfg(model::Afi::Ipv6)],
        static_routes: cfg.static_routes.iter().map(|r| r.prefix).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgp::rib::Afi;

    fn load(text: &str) -> Config {
        vtysh::load_config(text, &Config::default()).unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn neighbor_inherits_group_and_binds_to_tunnel() {
        let cfg = load(
            "interface Tunnel1\n ip address 169.254.10.1 255.255.255.252\n!\n\
             router bgp 65000\n bgp router-id 10.0.0.1\n\
             neighbor SPOKES peer-group\n neighbor SPOKES remote-as external\n\
             neighbor SPOKES password Group-Secret-1\n\
             neighbor 169.254.10.2 peer-group SPOKES\n\
             neighbor 10.9.0.2 remote-as 65000\n neighbor 10.9.0.2 timers 10 30\n\
             bgp listen range 172.16.0.0/16 peer-group SPOKES\n\
             address-family ipv4 unicast\n  neighbor SPOKES next-hop-self\n\
             neighbor SPOKES route-map IN in\n  neighbor 169.254.10.2 route-map OWN in\n  maximum-paths 4\n\
             exit-address-family\n!\nroute-map IN permit 10\nroute-map OWN permit 10\n",
        );
        let s = speaker_config(&cfg).unwrap();
        assert_eq!(s.router_id, Ipv4Addr::new(10, 0, 0, 1));
        let p = &s.neighbors[&"169.254.10.2".parse::<IpAddr>().unwrap()];
        assert_eq!(p.remote_as, RemoteAs::External);
        assert!(p.is_ebgp(65000));
        assert_eq!(p.password.as_deref(), Some("Group-Secret-1"));
        assert_eq!(p.tunnel.as_deref(), Some("Tunnel1"));
        assert_eq!(p.timers, TUNNEL_TIMERS);
        let af = p.af(Afi::V4).unwrap();
        assert!(af.next_hop_self);
        assert_eq!(af.route_map_in.as_deref(), Some("OWN"), "own setting wins");
        assert!(p.af(Afi::V6).is_none(), "not active in ipv6 by default");
        let q = &s.neighbors[&"10.9.0.2".parse::<IpAddr>().unwrap()];
        assert!(!q.is_ebgp(65000));
        assert_eq!(q.timers, (10, 30));
        assert_eq!(q.tunnel, None);
        assert_eq!(s.af(Afi::V4).decision.maximum_paths, 4);
        assert_eq!(af.maximum_prefix, None);
        let d = s.dynamic_peer("172.16.3.4".parse().unwrap()).unwrap();
        assert!(d.dynamic);
        assert_eq!(d.af(Afi::V4).unwrap().route_map_in.as_deref(), Some("IN"));
        assert!(s.dynamic_peer("172.17.0.1".parse().unwrap()).is_none());
    }

    #[test]
    fn maximum_prefix_of_the_neighbor_or_its_group_with_frr_defaults() {
        let cfg = load(
            "router bgp 65000\n bgp router-id 10.0.0.1\n\
             neighbor G peer-group\n neighbor G remote-as external\n\
             neighbor 10.1.0.2 peer-group G\n neighbor 10.2.0.2 peer-group G\n\
             neighbor 10.3.0.2 remote-as 65003\n\
             neighbor G maximum-prefix 100 restart 5\n\
             address-family ipv4 unicast\n  neighbor 10.2.0.2 maximum-prefix 10 90 warning-only\n\
             exit-address-family\n",
        );
        let s = speaker_config(&cfg).unwrap();
        let limit = |a: &str| {
            s.neighbors[&a.parse::<IpAddr>().unwrap()]
                .af(Afi::V4)
                .unwrap()
                .maximum_prefix
        };
        assert_eq!(
            limit("10.1.0.2"),
            Some(MaxPrefix {
                max: 100,
                threshold: 75,
                warning_only: false,
                restart_minutes: Some(5),
            }),
            "the group's, FRR's threshold"
        );
        assert_eq!(
            limit("10.2.0.2"),
            Some(MaxPrefix {
                max: 10,
                threshold: 90,
                warning_only: true,
                restart_minutes: None,
            }),
            "its own wins"
        );
        assert_eq!(limit("10.3.0.2"), None);
        assert!(s.groups["G"].af(Afi::V4).unwrap().maximum_prefix.is_some());
    }
}
