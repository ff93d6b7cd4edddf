//! Local origination: `network` and `redistribute connected|static`,
//! and what the local interface addresses give (connected networks, our
//! next hop of the other family).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ipnetwork::IpNetwork;

use super::{IfAddr, Redistribute, Speaker, AFIS};
use crate::rib::{Afi, RouteAttrs, LOCAL};
use crate::wire::{AsPath, Origin, PathAttrs};

fn link_local(a: &IpAddr) -> bool {
    match a {
        IpAddr::V4(v) => v.is_link_local(),
        IpAddr::V6(v) => u128::from(*v) >> 118 == 0x3fa,
    }
}

/// The networks of the addresses of interfaces that are up and running
/// (not loopback, not link-local), as `redistribute connected` sees them.
pub fn connected_networks(addrs: &[IfAddr]) -> Vec<IpNetwork> {
    let mut v: Vec<IpNetwork> = addrs
        .iter()
        .filter(|a| a.running && !a.loopback && !link_local(&a.addr))
        .filter_map(|a| IpNetwork::new(a.addr, a.prefix).ok())
        .filter_map(|n| IpNetwork::new(n.network(), n.prefix()).ok())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// An address of the other family on the interface that has `local`:
/// IPv6 (global, not link-local) when `want_v6`, else IPv4.
pub fn sibling_address(addrs: &[IfAddr], local: IpAddr, want_v6: bool) -> Option<IpAddr> {
    let name = &addrs.iter().find(|a| a.addr == local)?.name;
    addrs
        .iter()
        .filter(|a| &a.name == name && a.addr.is_ipv6() == want_v6 && !link_local(&a.addr))
        .map(|a| a.addr)
        .next()
}

impl Speaker {
    pub(super) fn originate(&mut self) {
        let Some(cfg) = &self.cfg else { return };
        let mut want: BTreeMap<IpNetwork, RouteAttrs> = BTreeMap::new();
        let mk = |origin: Origin, nh: IpAddr| {
            let mut a = RouteAttrs::new(
                PathAttrs {
                    origin: Some(origin),
                    as_path: Some(AsPath::default()),
                    ..PathAttrs::default()
                },
                nh,
            );
            a.weight = 32768;
            a
        };
        let unspec = |p: &IpNetwork| match p {
            IpNetwork::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpNetwork::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        let connected = connected_networks(&self.addrs);
        for afi in AFIS {
            let af = cfg.af(afi);
            for (src, rm) in &af.redistribute {
                let prefixes: Vec<IpNetwork> = match src {
                    Redistribute::Connected => connected
                        .iter()
                        .filter(|p| Afi::of(p) == afi)
                        .copied()
                        .collect(),
                    Redistribute::Static => cfg
                        .static_routes
                        .iter()
                        .copied()
                        .filter(|p| Afi::of(p) == afi)
                        .collect(),
                };
                for p in prefixes {
                    let mut a = mk(Origin::Incomplete, unspec(&p));
                    if *src == Redistribute::Connected {
                        a.attrs.med = Some(0);
                    }
                    if let Some(rm) = rm {
                        if !self.policies.apply_route_map(rm, &p, &mut a) {
                            continue;
                        }
                    }
                    want.insert(p, a);
                }
            }
            for (p, rm) in &af.networks {
                let mut a = mk(Origin::Igp, unspec(p));
                if let Some(rm) = rm {
                    if !self.policies.apply_route_map(rm, p, &mut a) {
                        continue;
                    }
                }
                want.insert(*p, a);
            }
        }
        let gone: Vec<IpNetwork> = self
            .local
            .keys()
            .filter(|p| !want.contains_key(p))
            .copied()
            .collect();
        for p in gone {
            self.local.remove(&p);
            self.rib.withdraw(LOCAL, p, 0);
        }
        for (p, a) in want {
            if self.local.get(&p).is_some_and(|old| **old == a) {
                continue;
            }
            let a = Arc::new(a);
            self.local.insert(p, a.clone());
            self.rib.update(LOCAL, p, 0, a);
        }
    }

    // ------------------------------------------------------------ export
}
