//! Export: after the decision process, what each peer should be sent
//! (eBGP and iBGP rules, NO_EXPORT, RFC 8212, out-policy, ADD-PATH,
//! default-originate), and what BGP forwards.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ipnetwork::IpNetwork;

use super::originate::sibling_address;
use super::{family_of, Forwarding, NextHop, Output, Peer, RouteBatch, Speaker, FORWARD_BATCH};
use crate::rib::{Afi, Path, RouteAttrs, LOCAL};
use crate::speaker::AfPeer;
use crate::wire::{AsPath, Community, Origin, PathAttrs};

impl Speaker {
    /// After events: decide, export what changed, send.
    pub(super) fn settle(&mut self) {
        if !self.rib.has_dirty() {
            return;
        }
        let mut changed = Vec::new();
        self.rib.run_decision(|p| changed.push(p));
        self.publish_forwarding(&changed);
        let addrs: Vec<IpAddr> = self
            .peers
            .iter()
            .filter(|(_, p)| p.est.is_some() && !self.exports_nothing(p))
            .map(|(a, _)| *a)
            .collect();
        for a in addrs {
            for prefix in &changed {
                self.export_prefix(a, *prefix);
            }
            // A peer that gets nothing of this change needs no flush (which
            // also reschedules its timers): a hub whose spokes may not be
            // sent each other's prefixes would otherwise pay for every
            // spoke on every spoke's change.
            if self.peers.get(&a).is_some_and(|p| p.out.has_work()) {
                self.flush(a);
            }
        }
    }

    /// Reports what BGP now forwards for `changed`, in batches of at most
    /// [`FORWARD_BATCH`] prefixes whose equal next-hop lists are shared
    /// (issue 16: a full table decided at once would otherwise queue a
    /// list per prefix, and the driver's converted batch beside it).
    pub(super) fn publish_forwarding(&mut self, changed: &[IpNetwork]) {
        if !self.forwarding || changed.is_empty() {
            return;
        }
        let mut last: Option<Arc<[NextHop]>> = None;
        for slice in changed.chunks(FORWARD_BATCH) {
            let batch: RouteBatch = slice
                .iter()
                .map(|p| (*p, self.forwarding_candidate(p, &mut last)))
                .collect();
            self.queue.push_back(Output::Routes(batch));
        }
    }

    /// What BGP forwards for a prefix: the best path and its multipaths,
    /// one next hop each, metric the MED.
    /// Locally originated routes are not offered (as FRR: `network` does
    /// not install a route).
    /// `last` is the previous candidate's list, shared when equal.
    pub(super) fn forwarding_candidate(
        &self,
        prefix: &IpNetwork,
        last: &mut Option<Arc<[NextHop]>>,
    ) -> Option<Forwarding> {
        let dest = self.rib.get(prefix)?;
        let best = dest.best()?;
        if best.peer == LOCAL {
            return None;
        }
        let ebgp = self.rib.peer_meta(best.peer).is_some_and(|m| m.ebgp);
        let mut nexthops = Vec::with_capacity(1);
        for path in dest.forwarding() {
            let a = &path.attrs;
            let hop = if !a.next_hop_unset() {
                NextHop::Gateway(a.next_hop)
            } else if let Some(ll) = a.link_local {
                // An IPv6 next hop with only a link-local address is on
                // the interface the session runs over.
                let tunnel = self
                    .rib
                    .peer_meta(path.peer)
                    .and_then(|m| self.peers.get(&m.addr))
                    .and_then(|p| p.cfg.tunnel.clone());
                match tunnel {
                    Some(t) => NextHop::GatewayOn(IpAddr::V6(ll), t),
                    None => continue,
                }
            } else {
                continue;
            };
            nexthops.push(hop);
        }
        if nexthops.is_empty() {
            return None;
        }
        let nexthops = match last {
            Some(l) if **l == *nexthops => l.clone(),
            _ => {
                let n: Arc<[NextHop]> = nexthops.into();
                *last = Some(n.clone());
                n
            }
        };
        Some(Forwarding {
            ebgp,
            metric: best.attrs.med(),
            nexthops,
        })
    }

    /// Whether nothing can be exported to `p` now and nothing was: an
    /// eBGP neighbor without out-policy under RFC 8212 (a table transfer
    /// from it then costs no export work).
    pub(super) fn exports_nothing(&self, p: &Peer) -> bool {
        let Some(cfg) = &self.cfg else { return true };
        if !p.out.is_empty() {
            return false;
        }
        let blocked = |a: &AfPeer| {
            cfg.ebgp_requires_policy
                && p.cfg.is_ebgp(cfg.asn)
                && !a.has_out_policy()
                && !a.default_originate
        };
        p.cfg.af.iter().flatten().all(blocked)
    }

    /// Compares everything the peer should have with what it has.
    pub(super) fn reexport(&mut self, addr: IpAddr) {
        let Some(p) = self.peers.get(&addr) else {
            return;
        };
        let Some(est) = &p.est else { return };
        let families = est.families.clone();
        let mut prefixes: Vec<IpNetwork> = Vec::new();
        for afi in families {
            prefixes.extend(self.rib.iter(afi).map(|(k, _)| k));
            if p.cfg.af(afi).is_some_and(|a| a.default_originate) {
                let any = match afi {
                    Afi::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    Afi::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                };
                prefixes.extend(IpNetwork::new(any, 0).ok());
            }
        }
        // And whatever was sent that may have to be withdrawn.
        let mut sent: Vec<IpNetwork> = p
            .out
            .adj
            .keys()
            .map(|k| k.0)
            .filter(|k| self.rib.get(k).is_none())
            .collect();
        sent.dedup();
        prefixes.extend(sent);
        for prefix in prefixes {
            self.export_prefix(addr, prefix);
        }
        self.flush(addr);
    }

    /// Whether ADD-PATH send is on towards this peer for `afi`.
    pub(super) fn add_path_tx(&self, p: &Peer, afi: Afi) -> bool {
        p.est.as_ref().is_some_and(|e| {
            p.conns
                .iter()
                .find(|c| c.id == e.conn)
                .and_then(|c| c.session.tx_ctx())
                .is_some_and(|ctx| ctx.add_path(family_of(afi)))
        })
    }

    /// What `p` should be sent for `prefix` through `best` (None:
    /// nothing).
    pub(super) fn export_attrs(
        &self,
        p: &Peer,
        prefix: &IpNetwork,
        best: &Path,
    ) -> Option<RouteAttrs> {
        let cfg = self.cfg.as_ref()?;
        let est = p.est.as_ref()?;
        let afi = Afi::of(prefix);
        if !est.families.contains(&afi) {
            return None;
        }
        let af = p.cfg.af(afi)?;
        if best.peer == p.idx {
            return None;
        }
        let ebgp = est.peer_as != cfg.asn;
        let from = self.rib.peer_meta(best.peer)?;
        if best.peer != LOCAL && !from.ebgp && !ebgp {
            // iBGP-learned paths do not go to iBGP peers (no reflection).
            return None;
        }
        let comms = &best.attrs.attrs.communities;
        if comms.contains(&Community::NO_ADVERTISE) {
            return None;
        }
        if ebgp
            && (comms.contains(&Community::NO_EXPORT)
                || comms.contains(&Community::NO_EXPORT_SUBCONFED))
        {
            return None;
        }
        if ebgp && cfg.ebgp_requires_policy && !af.has_out_policy() {
            return None;
        }
        // A path whose next hop is the peer itself is of no use to it.
        if best.attrs.next_hop == p.cfg.addr {
            return None;
        }
        // The prefix-list looks at the prefix alone: before the copy of
        // the attributes, so that what it denies costs no copy (a hub's
        // spokes are each denied every other spoke's prefix).
        if let Some(pl) = &af.prefix_list_out {
            if !self.policies.prefix_list_permits(pl, prefix) {
                return None;
            }
        }
        let mut out = (*best.attrs).clone();
        out.weight = 0;
        let local = est.local.map(|s| s.ip());
        let self_nh = local.and_then(|l| self.next_hop_for(l, afi));
        if ebgp {
            let path = out.attrs.as_path.get_or_insert_with(AsPath::default);
            path.prepend(cfg.asn);
            out.attrs.local_pref = None;
            if best.peer != LOCAL {
                // RFC 4271 5.1.4: a MED from another AS is not passed on.
                out.attrs.med = None;
            }
            out.attrs.originator_id = None;
            out.attrs.cluster_list.clear();
            out.next_hop = self_nh?;
            out.link_local = None;
        } else {
            out.attrs.local_pref = Some(best.attrs.local_pref());
            out.attrs.as_path.get_or_insert_with(AsPath::default);
            if af.next_hop_self || best.peer == LOCAL || out.next_hop.is_unspecified() {
                out.next_hop = self_nh?;
                out.link_local = None;
            }
        }
        if let Some(rm) = &af.route_map_out {
            if !self.policies.apply_route_map(rm, prefix, &mut out) {
                return None;
            }
        }
        out.weight = 0;
        Some(out)
    }

    /// The paths `p` should have for `prefix`, by path identifier: the
    /// best path (identifier 0), or with ADD-PATH send every path, each
    /// under an identifier made of its peer and its own identifier.
    pub(super) fn export_wanted(&self, p: &Peer, prefix: &IpNetwork) -> Vec<(u32, RouteAttrs)> {
        let afi = Afi::of(prefix);
        let mut v = Vec::new();
        if let Some(dest) = self.rib.get(prefix) {
            if self.add_path_tx(p, afi) {
                for path in dest.paths() {
                    if let Some(a) = self.export_attrs(p, prefix, path) {
                        let id = (u32::from(path.peer) << 16) | (path.path_id & 0xffff);
                        v.push((id.max(1), a));
                    }
                }
            } else if let Some(a) = dest.best().and_then(|b| self.export_attrs(p, prefix, b)) {
                v.push((0, a));
            }
        }
        // `neighbor X default-originate`: 0.0.0.0/0 or ::/0 from us.
        if prefix.prefix() == 0
            && v.is_empty()
            && p.cfg.af(afi).is_some_and(|a| a.default_originate)
        {
            if let Some(a) = self.default_route(p, afi) {
                v.push((0, a));
            }
        }
        v
    }

    /// The default route `default-originate` sends.
    pub(super) fn default_route(&self, p: &Peer, afi: Afi) -> Option<RouteAttrs> {
        let cfg = self.cfg.as_ref()?;
        let est = p.est.as_ref()?;
        let nh = est
            .local
            .map(|s| s.ip())
            .and_then(|l| self.next_hop_for(l, afi))?;
        let mut path = AsPath::default();
        let mut a = PathAttrs {
            origin: Some(Origin::Igp),
            ..PathAttrs::default()
        };
        if est.peer_as != cfg.asn {
            path.prepend(cfg.asn);
        } else {
            a.local_pref = Some(100);
        }
        a.as_path = Some(path);
        Some(RouteAttrs::new(a, nh))
    }

    /// Our next hop for `afi` on a session whose local address is `local`:
    /// the address itself, or an address of the other family on the same
    /// interface.
    fn next_hop_for(&self, local: IpAddr, afi: Afi) -> Option<IpAddr> {
        let local = match local {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            a => a,
        };
        match (afi, local) {
            (Afi::V4, IpAddr::V4(_)) | (Afi::V6, IpAddr::V6(_)) => Some(local),
            _ => sibling_address(&self.addrs, local, afi == Afi::V6),
        }
    }
}
