//! Events from the operator and the rest of the router: configuration,
//! tunnels, BFD, `clear ip bgp`, timers and shutdown.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use tracing::{debug, info, warn};

use super::{family_of, ClearError, PeerConfig, PolicyChanges, Soft, Speaker, SpeakerConfig, AFIS};
use crate::policy::Policies;
use crate::rib::{Rib, RouteAttrs};
use crate::session::{Output as SessionOutput, State};
use ipnetwork::IpNetwork;

impl Speaker {
    /// Applies a new configuration: neighbors that went or whose session
    /// settings changed are reset, policy changes re-apply by themselves.
    pub(super) fn set_config(
        &mut self,
        new: Option<SpeakerConfig>,
        policies: Arc<Policies>,
        changes: &PolicyChanges,
    ) {
        self.policies = policies;
        let now = self.now;
        let old = self.cfg.take();
        let Some(new) = new else {
            // `no router bgp`: everything goes.
            let addrs: Vec<IpAddr> = self.peers.keys().copied().collect();
            for a in addrs {
                self.remove_peer(a, "BGP removed from the configuration");
            }
            self.cfg = None;
            self.local.clear();
            self.rib = Rib::new(Ipv4Addr::UNSPECIFIED);
            return;
        };
        let identity_changed = old
            .as_ref()
            .is_some_and(|o| o.asn != new.asn || o.router_id != new.router_id);
        if old.is_none() || identity_changed {
            if identity_changed {
                let addrs: Vec<IpAddr> = self.peers.keys().copied().collect();
                for a in addrs {
                    self.remove_peer(a, "router-id or AS changed");
                }
                self.local.clear();
            }
            self.rib = Rib::new(new.router_id);
        }
        for afi in AFIS {
            self.rib.set_config(afi, new.af(afi).decision);
        }
        self.cfg = Some(new.clone());
        // Neighbors whose in-policy may now decide differently get their
        // routes again (FRR does the same after a policy change).
        let requires_changed = old
            .as_ref()
            .is_some_and(|o| o.ebgp_requires_policy != new.ebgp_requires_policy);
        let mut refresh_in: Vec<IpAddr> = Vec::new();
        // Neighbors whose prefix limits changed: checked again (FRR).
        let limits = |c: &PeerConfig| {
            c.af.iter()
                .map(|x| x.as_ref().and_then(|x| x.maximum_prefix))
                .collect::<Vec<_>>()
        };
        let mut limits_changed: Vec<IpAddr> = Vec::new();
        for (a, p) in &self.peers {
            let in_of = |c: &PeerConfig| {
                c.af.iter()
                    .map(|x| {
                        x.as_ref()
                            .map(|x| (x.prefix_list_in.clone(), x.route_map_in.clone()))
                    })
                    .collect::<Vec<_>>()
            };
            let newc = if p.cfg.dynamic {
                new.dynamic_peer(*a)
            } else {
                new.neighbors.get(a).cloned()
            };
            let in_changed = newc.as_ref().is_some_and(|c| in_of(c) != in_of(&p.cfg));
            // The in-policy objects themselves (a route-map, or a list
            // it or the neighbor uses) changed.
            let objects_changed = newc.iter().flat_map(|c| c.af.iter().flatten()).any(|af| {
                af.route_map_in
                    .as_ref()
                    .is_some_and(|rm| changes.route_maps.contains(rm))
                    || af
                        .prefix_list_in
                        .as_ref()
                        .is_some_and(|pl| changes.prefix_lists.contains(pl))
            });
            if requires_changed || in_changed || objects_changed {
                refresh_in.push(*a);
            }
            if newc.as_ref().is_some_and(|c| limits(c) != limits(&p.cfg)) {
                limits_changed.push(*a);
            }
        }
        // A policy named but not defined denies everything (as in FRR):
        // say so.
        for (a, c) in &new.neighbors {
            for af in c.af.iter().flatten() {
                for rm in [&af.route_map_in, &af.route_map_out].into_iter().flatten() {
                    if !self.policies.exists_route_map(rm) {
                        warn!("bgp neighbor {a}: route-map {rm} is not defined; it denies every route");
                    }
                }
                for pl in [&af.prefix_list_in, &af.prefix_list_out]
                    .into_iter()
                    .flatten()
                {
                    if !self.policies.exists_prefix_list(pl) {
                        warn!("bgp neighbor {a}: prefix-list {pl} is not defined; it denies every route");
                    }
                }
            }
        }
        // Neighbors that went or changed in a way that needs a new session.
        let existing: Vec<IpAddr> = self.peers.keys().copied().collect();
        for a in existing {
            let Some(p) = self.peers.get(&a) else {
                continue;
            };
            if p.cfg.dynamic {
                // A dynamic neighbor stays while its range and group do.
                match new.dynamic_peer(a) {
                    Some(c) if c.session_same(&p.cfg) => {
                        if let Some(p) = self.peers.get_mut(&a) {
                            p.cfg = c;
                        }
                    }
                    _ => self.remove_peer(a, "listen range or peer group changed"),
                }
                continue;
            }
            match new.neighbors.get(&a) {
                None => self.remove_peer(a, "neighbor removed"),
                Some(c) if !c.session_same(&p.cfg) => {
                    let c = c.clone();
                    self.remove_peer(a, "neighbor settings changed");
                    self.add_peer(c, now);
                }
                Some(c) => {
                    let c = c.clone();
                    if let Some(p) = self.peers.get_mut(&a) {
                        p.cfg = c;
                    }
                }
            }
        }
        for (a, c) in &new.neighbors {
            if !self.peers.contains_key(a) {
                self.add_peer(c.clone(), now);
            }
        }
        self.originate();
        // Policy, next-hop-self, activation: re-export everything to every
        // peer and re-apply the in policy where it is kept.
        let addrs: Vec<IpAddr> = self.peers.keys().copied().collect();
        for a in addrs {
            self.reexport(a);
        }
        for a in refresh_in {
            self.soft_in(a);
        }
        for a in limits_changed {
            if self.peers.get(&a).is_some_and(|p| p.overflow.is_some()) {
                self.end_overflow(a, "maximum-prefix changed");
            } else {
                self.check_max_prefix(a, true);
                self.pump(a);
            }
        }
    }

    /// Tunnel `name` got its first IPsec SA or lost its last: the
    /// neighbors over it (configured on it, or the dynamic neighbors at
    /// `over`, the addresses it leased its peer) go with it.
    pub(super) fn tunnel(&mut self, name: &str, up: bool, over: &[IpAddr]) {
        let changed = if up {
            self.tunnels_up.insert(name.to_string())
        } else {
            self.tunnels_up.remove(name)
        };
        if !changed {
            return;
        }
        let now = self.now;
        let mut addrs: Vec<IpAddr> = self
            .peers
            .iter()
            .filter(|(_, p)| p.cfg.tunnel.as_deref() == Some(name))
            .map(|(a, _)| *a)
            .collect();
        let dynamic: Vec<IpAddr> = over
            .iter()
            .filter(|a| {
                self.peers
                    .get(a)
                    .is_some_and(|p| p.cfg.dynamic && !addrs.contains(a))
            })
            .copied()
            .collect();
        addrs.extend(dynamic);
        for a in addrs {
            if let Some(p) = self.peers.get_mut(&a) {
                p.tunnel_down = !up;
                if up {
                    info!("bgp neighbor {a}: {name} is up, starting the session");
                    if p.is_active() {
                        if let Some(c) = p.conns.first_mut() {
                            c.session.start(now);
                        }
                    }
                } else {
                    info!("bgp neighbor {a}: {name} lost its IPsec SA, session down now");
                    for c in &mut p.conns {
                        c.session.stop(now, &format!("{name} down"));
                        c.detach(a, &mut self.queue);
                    }
                    // The path is gone: no graceful restart for it.
                    p.restarting = None;
                }
            }
            self.pump(a);
            if !up {
                if let Some(p) = self.peers.get(&a) {
                    let idx = p.idx;
                    self.rib.withdraw_peer(idx, None);
                }
            }
        }
        self.originate();
    }

    pub(super) fn clear(
        &mut self,
        peer: Option<IpAddr>,
        soft: Option<Soft>,
    ) -> Result<(), ClearError> {
        if self.cfg.is_none() {
            return Err(ClearError::NotConfigured);
        }
        let targets: Vec<IpAddr> = match peer {
            Some(a) if self.peers.contains_key(&a) => vec![a],
            Some(a) => return Err(ClearError::UnknownNeighbor(a)),
            None => self.peers.keys().copied().collect(),
        };
        let now = self.now;
        for a in targets {
            match soft {
                None => {
                    info!("bgp neighbor {a}: cleared by the operator");
                    if let Some(p) = self.peers.get_mut(&a) {
                        p.last_reset = Some("cleared by the operator".into());
                        p.last_reset_at = Some(now);
                        // A session its prefix limit closed may come back.
                        p.overflow = None;
                        p.pfx_logged = Default::default();
                        for c in &mut p.conns {
                            c.session.stop(now, "Administrative Reset");
                        }
                    }
                    self.pump(a);
                    if let Some(p) = self.peers.get_mut(&a) {
                        if p.is_active() {
                            if let Some(c) = p.conns.first_mut() {
                                c.session.start(now);
                            }
                        }
                    }
                    self.pump(a);
                }
                Some(dir) => {
                    if matches!(dir, Soft::In | Soft::Both) {
                        self.soft_in(a);
                    }
                    if matches!(dir, Soft::Out | Soft::Both) {
                        if let Some(p) = self.peers.get_mut(&a) {
                            // Send everything again, not only the differences.
                            p.out.adj.clear();
                        }
                        self.reexport(a);
                    }
                }
            }
        }
        Ok(())
    }

    /// Re-applies in policy: from the kept copy with soft-reconfiguration
    /// inbound, else by asking the peer to send its routes again.
    pub(super) fn soft_in(&mut self, addr: IpAddr) {
        let Some(p) = self.peers.get_mut(&addr) else {
            return;
        };
        let Some(est) = &p.est else { return };
        let families = est.families.clone();
        if p.cfg
            .af
            .iter()
            .flatten()
            .any(|a| a.soft_reconfiguration_inbound)
        {
            let raw: Vec<((IpNetwork, u32), Arc<RouteAttrs>)> =
                p.adj_in_raw.iter().map(|(k, v)| (*k, v.clone())).collect();
            for ((prefix, id), attrs) in raw {
                self.import(addr, prefix, id, attrs);
            }
            // In-policy may now accept more than the limit.
            self.check_max_prefix(addr, false);
            self.pump(addr);
            return;
        }
        if !est.caps.route_refresh {
            warn!(
                "bgp neighbor {addr}: cannot re-apply in-policy: it does not do route refresh \
                 (configure soft-reconfiguration inbound, or clear ip bgp {addr})"
            );
            return;
        }
        let conn = est.conn;
        if let Some(c) = p.conns.iter_mut().find(|c| c.id == conn) {
            for afi in families {
                c.session.send_route_refresh(family_of(afi));
            }
        }
        self.pump(addr);
    }

    // ------------------------------------------------------------- peers

    /// BFD news of `peer`. Down (from Up) takes an Established session
    /// down at once with Cease/BFD Down (RFC 9384), withdrawing its
    /// routes; it comes back by itself as after any failure. Up changes
    /// nothing: like FRR, BGP does not wait for BFD.
    pub(super) fn bfd(&mut self, peer: IpAddr, up: bool) {
        if up {
            debug!("bgp neighbor {peer}: BFD up");
            return;
        }
        let now = self.now;
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let mut hit = false;
        for c in &mut p.conns {
            if c.session.state() == State::Established {
                c.session.bfd_down(now);
                hit = true;
            }
        }
        if hit {
            info!("bgp neighbor {peer}: BFD down, session down now");
            p.last_reset = Some("BFD down".into());
            p.last_reset_at = Some(now);
        }
        self.pump(peer);
    }

    /// Stops every session with a Cease and lets its NOTIFICATION out;
    /// then every connection goes.
    pub(super) fn shutdown(&mut self) {
        let now = self.now;
        for p in self.peers.values_mut() {
            for c in &mut p.conns {
                c.session.stop(now, "Administrative Shutdown");
            }
        }
        for (a, p) in &mut self.peers {
            for c in &mut p.conns {
                while let Some(o) = c.session.poll_output() {
                    if let SessionOutput::Send(bytes) = o {
                        c.transmit(*a, bytes, &mut self.queue, now);
                    }
                }
                c.detach(*a, &mut self.queue);
            }
        }
    }
}
