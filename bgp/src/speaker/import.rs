//! Import: UPDATEs from a peer through loop checks, RFC 8212 and
//! in-policy into the Loc-RIB.

use std::net::IpAddr;
use std::sync::Arc;

use ipnetwork::IpNetwork;
use tracing::{debug, warn};

use super::{afi_of_family, Speaker};
use crate::rib::{Afi, RouteAttrs};
use crate::speaker::AfPeer;
use crate::wire::{MpNextHop, MpNlri, Update};

impl Speaker {
    /// An UPDATE from the peer: End-of-RIB, withdrawals, announcements;
    /// then its prefix limits. Nothing more is taken from a peer whose
    /// session its limit closed.
    pub(super) fn update(&mut self, addr: IpAddr, u: Update) {
        if self.peers.get(&addr).is_none_or(|p| p.overflow.is_some()) {
            return;
        }
        self.update_rib(addr, u);
        self.check_max_prefix(addr, false);
    }

    fn update_rib(&mut self, addr: IpAddr, u: Update) {
        let Some((idx, ebgp)) = self.peers.get(&addr).map(|p| {
            (
                p.idx,
                self.cfg.as_ref().is_some_and(|c| p.cfg.is_ebgp(c.asn)),
            )
        }) else {
            return;
        };
        if let Some(f) = u.is_end_of_rib() {
            if let Some(afi) = afi_of_family(f) {
                self.end_of_rib(addr, afi);
            }
            return;
        }
        if !u.issues.is_empty() {
            for i in &u.issues {
                warn!("bgp neighbor {addr}: malformed UPDATE: {i:?}");
            }
        }
        let _ = (idx, ebgp);
        // Withdrawals.
        for n in &u.withdrawn {
            self.unimport(addr, IpNetwork::V4(n.prefix), n.path_id.unwrap_or(0));
        }
        if let Some(m) = &u.mp_unreach {
            for (p, id) in mp_prefixes(&m.withdrawn) {
                self.unimport(addr, p, id);
            }
        }
        // RFC 7606 treat-as-withdraw: the announced prefixes are withdrawn.
        if u.treat_as_withdraw {
            for n in &u.nlri {
                self.unimport(addr, IpNetwork::V4(n.prefix), n.path_id.unwrap_or(0));
            }
            if let Some(m) = &u.mp_reach {
                for (p, id) in mp_prefixes(&m.nlri) {
                    self.unimport(addr, p, id);
                }
            }
            return;
        }
        if !u.nlri.is_empty() {
            match u.attrs.next_hop {
                Some(nh) => {
                    let mut a = u.attrs.clone();
                    a.next_hop = None;
                    let attrs = Arc::new(RouteAttrs::new(a, IpAddr::V4(nh)));
                    let list: Vec<(IpNetwork, u32)> = u
                        .nlri
                        .iter()
                        .map(|n| (IpNetwork::V4(n.prefix), n.path_id.unwrap_or(0)))
                        .collect();
                    self.import_many(addr, &list, attrs);
                }
                None => warn!("bgp neighbor {addr}: UPDATE without NEXT_HOP ignored"),
            }
        }
        if let Some(m) = &u.mp_reach {
            let (nh, ll) = match &m.next_hop {
                MpNextHop::Ipv4(a) => (IpAddr::V4(*a), None),
                MpNextHop::Ipv6 { global, link_local } => (IpAddr::V6(*global), *link_local),
                MpNextHop::Other(_) => return,
            };
            let mut a = u.attrs.clone();
            a.next_hop = None;
            let mut ra = RouteAttrs::new(a, nh);
            ra.link_local = ll;
            self.import_many(addr, &mp_prefixes(&m.nlri), Arc::new(ra));
        }
    }

    /// The peer's End-of-RIB for `afi`: stale paths of a restart go.
    pub(super) fn end_of_rib(&mut self, addr: IpAddr, afi: Afi) {
        let Some(p) = self.peers.get_mut(&addr) else {
            return;
        };
        if let Some(e) = &mut p.est {
            e.eor_pending.retain(|a| *a != afi);
        }
        let mut done = false;
        let mut was_stale = false;
        if let Some(r) = &mut p.restarting {
            was_stale = r.families.contains(&afi);
            r.families.retain(|a| *a != afi);
            done = r.families.is_empty();
        }
        if done {
            p.restarting = None;
        }
        debug!("bgp neighbor {addr}: End-of-RIB {afi:?}");
        if was_stale {
            self.end_restart(addr, &[afi], "End-of-RIB received");
        }
    }

    /// The peer withdrew a path.
    pub(super) fn unimport(&mut self, addr: IpAddr, prefix: IpNetwork, id: u32) {
        let Some(p) = self.peers.get_mut(&addr) else {
            return;
        };
        if p.cfg
            .af(Afi::of(&prefix))
            .is_some_and(|a| a.soft_reconfiguration_inbound)
        {
            p.adj_in_raw.remove(&(prefix, id));
        }
        let idx = p.idx;
        self.rib.withdraw(idx, prefix, id);
    }

    /// Runs in-policy over one received path and puts it in the RIB (or
    /// takes the previous one out if policy now denies it).
    pub(super) fn import(
        &mut self,
        addr: IpAddr,
        prefix: IpNetwork,
        id: u32,
        attrs: Arc<RouteAttrs>,
    ) {
        self.import_many(addr, &[(prefix, id)], attrs);
    }

    /// [`Speaker::import`] of many prefixes that share their attributes:
    /// the checks that depend only on the attributes run once.
    pub(super) fn import_many(
        &mut self,
        addr: IpAddr,
        prefixes: &[(IpNetwork, u32)],
        attrs: Arc<RouteAttrs>,
    ) {
        let Some(cfg) = &self.cfg else { return };
        let Some(p) = self.peers.get_mut(&addr) else {
            return;
        };
        let idx = p.idx;
        let ebgp = p.cfg.is_ebgp(cfg.asn);
        let a = &attrs.attrs;
        // Loops: our AS in the path (eBGP), our router ID as originator
        // or in the cluster list (iBGP reflection).
        let mut sane = !a.as_path.as_ref().is_some_and(|p| p.contains(cfg.asn))
            && a.originator_id != Some(cfg.router_id)
            && !a.cluster_list.contains(&cfg.router_id);
        // eBGP: the path must start with the peer's AS (FRR's
        // enforce-first-as).
        if sane && ebgp {
            if let (Some(est), Some(first)) =
                (&p.est, a.as_path.as_ref().and_then(|p| p.first_as()))
            {
                sane = first == est.peer_as;
            }
        }
        let v4 = p.cfg.af(Afi::V4).cloned();
        let v6 = p.cfg.af(Afi::V6).cloned();
        // Route-maps looked up once for the whole batch; a missing one
        // denies (FRR).
        let policies = &self.policies;
        let rm_of = |af: &Option<AfPeer>| {
            af.as_ref()
                .and_then(|a| a.route_map_in.as_deref())
                .map(|n| policies.route_map(n))
        };
        let (rm4, rm6) = (rm_of(&v4), rm_of(&v6));
        for &(prefix, id) in prefixes {
            let Some(af) = (match prefix {
                IpNetwork::V4(_) => v4.as_ref(),
                IpNetwork::V6(_) => v6.as_ref(),
            }) else {
                // Not active in this family: ignored (RFC 4760).
                continue;
            };
            if af.soft_reconfiguration_inbound {
                p.adj_in_raw.insert((prefix, id), attrs.clone());
            }
            // RFC 8212: nothing from an eBGP peer without in-policy.
            let mut ok = sane && !(ebgp && cfg.ebgp_requires_policy && !af.has_in_policy());
            if ok {
                if let Some(pl) = &af.prefix_list_in {
                    ok = self.policies.prefix_list_permits(pl, &prefix);
                }
            }
            let mut result = attrs.clone();
            let rm = match prefix {
                IpNetwork::V4(_) => rm4,
                IpNetwork::V6(_) => rm6,
            };
            if ok {
                if let Some(rm) = rm {
                    ok = rm.is_some_and(|rm| rm.apply_shared(&prefix, &mut result));
                }
            }
            if ok {
                self.rib.update(idx, prefix, id, result);
            } else {
                self.rib.withdraw(idx, prefix, id);
            }
        }
    }

    // ------------------------------------------------- local origination
}

fn mp_prefixes(n: &MpNlri) -> Vec<(IpNetwork, u32)> {
    match n {
        MpNlri::Ipv4(v) => v
            .iter()
            .map(|n| (IpNetwork::V4(n.prefix), n.path_id.unwrap_or(0)))
            .collect(),
        MpNlri::Ipv6(v) => v
            .iter()
            .map(|n| (IpNetwork::V6(n.prefix), n.path_id.unwrap_or(0)))
            .collect(),
        MpNlri::Other(_) => Vec::new(),
    }
}
