//! Which BFD sessions the running configuration asks for, and with which
//! timers: every BGP neighbor with `neighbor X bfd` (its own or its peer
//! group's), and neighbors of `bgp listen range`s whose peer group has
//! bfd on (those when they first speak BFD).
//!
//! Timer precedence: the neighbor's own `neighbor X bfd MULT RX TX`, else
//! its peer group's, else `bfd interval` of the interface the neighbor's
//! address is connected on (the tunnel the session runs over), else 300 ms
//! x 3.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnetwork::IpNetwork;
use vtysh::model::{BfdTimers, Bgp, NeighborConfig};
use vtysh::Config;

/// One wanted session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSpec {
    pub peer: IpAddr,
    /// Our address (update-source, else ours on the neighbor's subnet).
    pub local: Option<IpAddr>,
    /// The configured interface whose subnet holds the neighbor.
    pub ifname: Option<String>,
    pub timers: BfdTimers,
    /// From a listen range, not a `neighbor` line.
    pub dynamic: bool,
    /// The listen range of a dynamic neighbor.
    pub range: Option<IpNetwork>,
}

/// The configured interface whose subnet holds `addr`, with our address
/// there.
fn interface_of(cfg: &Config, addr: IpAddr) -> Option<(String, IpAddr, Option<BfdTimers>)> {
    cfg.interfaces.iter().find_map(|(name, itf)| {
        let local = match addr {
            IpAddr::V4(a) => itf
                .ipv4
                .filter(|n| n.contains(a))
                .map(|n| IpAddr::V4(n.ip())),
            IpAddr::V6(a) => itf
                .ipv6
                .iter()
                .find(|n| n.contains(a))
                .map(|n| IpAddr::V6(n.ip())),
        }?;
        Some((name.clone(), local, itf.bfd))
    })
}

/// The timers of a session to `addr`: own, group, interface, default.
pub fn timers_for(
    own: Option<&NeighborConfig>,
    group: Option<&NeighborConfig>,
    iface: Option<BfdTimers>,
) -> BfdTimers {
    own.and_then(|n| n.bfd_timers)
        .or_else(|| group.and_then(|g| g.bfd_timers))
        .or(iface)
        .unwrap_or(BfdTimers::DEFAULT)
}

fn spec(
    cfg: &Config,
    addr: IpAddr,
    own: Option<&NeighborConfig>,
    group: Option<&NeighborConfig>,
    dynamic: bool,
) -> PeerSpec {
    let itf = interface_of(cfg, addr);
    let update_source = own
        .and_then(|n| n.update_source.as_deref())
        .or_else(|| group.and_then(|g| g.update_source.as_deref()))
        .and_then(|s| s.parse::<IpAddr>().ok())
        .filter(|s| s.is_ipv4() == addr.is_ipv4());
    PeerSpec {
        peer: addr,
        local: update_source.or(itf.as_ref().map(|(_, l, _)| *l)),
        ifname: itf.as_ref().map(|(n, _, _)| n.clone()),
        timers: timers_for(own, group, itf.and_then(|(_, _, t)| t)),
        dynamic,
        range: None,
    }
}

fn group<'a>(b: &'a Bgp, n: &NeighborConfig) -> Option<&'a NeighborConfig> {
    n.peer_group.as_deref().and_then(|g| b.peer_groups.get(g))
}

/// The sessions of configured neighbors.
pub fn wanted(cfg: &Config) -> BTreeMap<IpAddr, PeerSpec> {
    let mut out = BTreeMap::new();
    let Some(b) = &cfg.bgp else { return out };
    for (addr, n) in &b.neighbors {
        let g = group(b, n);
        if n.bfd || g.is_some_and(|g| g.bfd) {
            out.insert(*addr, spec(cfg, *addr, Some(n), g, false));
        }
    }
    out
}

/// The session of a dynamic neighbor at `addr`: the most specific listen
/// range holding it, if its peer group has bfd on (and `addr` is not a
/// configured neighbor).
pub fn dynamic_spec(cfg: &Config, addr: IpAddr) -> Option<PeerSpec> {
    let b = cfg.bgp.as_ref()?;
    if b.neighbors.contains_key(&addr) {
        return None;
    }
    let (range, gname) = b
        .listen_ranges
        .iter()
        .filter(|(r, _)| r.contains(addr))
        .max_by_key(|(r, _)| IpNetwork::prefix(r))?;
    let g = b.peer_groups.get(gname)?;
    g.bfd.then(|| PeerSpec {
        range: Some(*range),
        ..spec(cfg, addr, None, Some(g), true)
    })
}

/// The passive sessions a listen range may hold: its `bgp listen limit`
/// (the speaker's one limit of dynamic neighbors, FRR's default 100).
pub fn listen_limit(cfg: &Config) -> u32 {
    cfg.bgp
        .as_ref()
        .and_then(|b| b.listen_limit)
        .unwrap_or(crate::bgp::config::DEFAULT_LISTEN_LIMIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Config {
        vtysh::load_config(text, &Config::default()).unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn t(detect_mult: u8, min_rx_ms: u32, min_tx_ms: u32) -> BfdTimers {
        BfdTimers {
            detect_mult,
            min_rx_ms,
            min_tx_ms,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const CFG: &str = "interface Tunnel1\n ip address 169.254.10.1/30\n \
         bfd interval 100 min_rx 120 multiplier 4\n!\n\
         interface Tunnel2\n ip address 169.254.20.1/30\n!\n\
         interface eth0\n ip address 10.9.0.1/24\n ipv6 address fd00:9::1/64\n!\n\
         router bgp 65000\n\
         neighbor G peer-group\n neighbor G remote-as external\n neighbor G bfd 5 50 60\n\
         neighbor D peer-group\n neighbor D remote-as external\n neighbor D bfd\n\
         neighbor N peer-group\n neighbor N remote-as external\n\
         bgp listen range 172.16.0.0/16 peer-group D\n\
         bgp listen range 169.254.20.0/30 peer-group G\n\
         bgp listen range 10.9.0.0/24 peer-group N\n\
         neighbor 169.254.10.2 remote-as 65001\n neighbor 169.254.10.2 bfd\n\
         neighbor 169.254.20.2 peer-group G\n\
         neighbor 10.9.0.2 peer-group G\n neighbor 10.9.0.2 bfd 3 200 250\n\
         neighbor 10.9.0.3 remote-as 65003\n\
         neighbor 10.9.0.4 peer-group N\n\
         neighbor fd00:9::2 remote-as 65002\n neighbor fd00:9::2 bfd\n\
         neighbor fd00:9::2 update-source fd00:9::99\n\
         address-family ipv6 unicast\n  neighbor fd00:9::2 activate\n exit-address-family\n";

    #[test]
    fn timer_precedence_neighbor_group_interface_default() {
        let w = wanted(&load(CFG));
        // Own bfd, no own timers, no group: the tunnel's interface timers.
        let a = &w[&ip("169.254.10.2")];
        assert_eq!(a.timers, t(4, 120, 100));
        assert_eq!(a.ifname.as_deref(), Some("Tunnel1"));
        assert_eq!(a.local, Some(ip("169.254.10.1")));
        // bfd from the group, the group's timers (over no interface timers).
        let b = &w[&ip("169.254.20.2")];
        assert_eq!(b.timers, t(5, 50, 60));
        // Own timers over the group's.
        assert_eq!(w[&ip("10.9.0.2")].timers, t(3, 200, 250));
        // No bfd anywhere: no session.
        assert!(!w.contains_key(&ip("10.9.0.3")));
        assert!(!w.contains_key(&ip("10.9.0.4")));
        // Defaults; update-source wins for the local address.
        let c = &w[&ip("fd00:9::2")];
        assert_eq!(c.timers, BfdTimers::DEFAULT);
        assert_eq!(c.local, Some(ip("fd00:9::99")));
        assert_eq!(c.ifname.as_deref(), Some("eth0"));
        assert_eq!(w.len(), 4);
    }

    #[test]
    fn dynamic_neighbors_follow_their_range_group() {
        let cfg = load(CFG);
        let d = dynamic_spec(&cfg, ip("172.16.4.5")).unwrap();
        assert!(d.dynamic);
        assert_eq!(d.timers, BfdTimers::DEFAULT);
        assert_eq!(d.ifname, None);
        // The group's timers.
        assert_eq!(
            dynamic_spec(&cfg, ip("169.254.20.1")).unwrap().timers,
            t(5, 50, 60)
        );
        // A group without bfd, no range, a configured neighbor: none.
        assert_eq!(dynamic_spec(&cfg, ip("10.9.0.7")), None);
        assert_eq!(dynamic_spec(&cfg, ip("192.0.2.1")), None);
        assert_eq!(dynamic_spec(&cfg, ip("169.254.20.2")), None);
    }

    #[test]
    fn interface_timers_apply_when_the_neighbor_has_none() {
        let cfg = load(
            "interface Tunnel1\n ip address 169.254.10.1/30\n \
             bfd interval 50 min_rx 50 multiplier 3\n!\n\
             router bgp 65000\n neighbor 169.254.10.2 remote-as 65001\n\
             neighbor 169.254.10.2 bfd\n",
        );
        assert_eq!(wanted(&cfg)[&ip("169.254.10.2")].timers, t(3, 50, 50));
    }
}
