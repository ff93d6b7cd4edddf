//! The Adj-RIBs-Out: what each peer was sent and what it will be, and
//! UPDATE packing (prefixes that share attributes go in few messages).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use ipnetwork::{IpNetwork, Ipv4Network, Ipv6Network};
use tracing::warn;

use super::{Output, Speaker};
use crate::rib::RouteAttrs;
use crate::session::Output as SessionOutput;
use crate::wire::{Family, MpNextHop, Nlri, UpdateBuilder};

/// What we have sent a peer, and what we will.
#[derive(Debug, Default)]
pub struct AdjOut {
    /// By prefix and path identifier (0 unless ADD-PATH send is on).
    pub adj: BTreeMap<(IpNetwork, u32), Arc<RouteAttrs>>,
    pending: BTreeMap<(IpNetwork, u32), Option<Arc<RouteAttrs>>>,
    intern: HashSet<Arc<RouteAttrs>>,
}

impl AdjOut {
    /// Whether nothing was sent and nothing waits.
    pub fn is_empty(&self) -> bool {
        self.adj.is_empty() && self.pending.is_empty()
    }
}

impl Speaker {
    /// Queues what `addr` should now be sent for `prefix`.
    pub(super) fn export_prefix(&mut self, addr: IpAddr, prefix: IpNetwork) {
        let Some(p) = self.peers.get(&addr) else {
            return;
        };
        let want = self.export_wanted(p, &prefix);
        let Some(p) = self.peers.get_mut(&addr) else {
            return;
        };
        // What was sent under identifiers no longer wanted is withdrawn.
        let lo = (prefix, 0u32);
        let hi = (prefix, u32::MAX);
        let stale: Vec<u32> = p
            .out
            .adj
            .range(lo..=hi)
            .map(|(k, _)| k.1)
            .filter(|id| !want.iter().any(|(w, _)| w == id))
            .collect();
        for id in stale {
            p.out.pending.insert((prefix, id), None);
        }
        for (id, w) in want {
            let key = (prefix, id);
            if p.out.adj.get(&key).is_some_and(|h| **h == w) {
                p.out.pending.remove(&key);
                continue;
            }
            let a = match p.out.intern.get(&w) {
                Some(a) => a.clone(),
                None => {
                    let a = Arc::new(w);
                    p.out.intern.insert(a.clone());
                    a
                }
            };
            p.out.pending.insert(key, Some(a));
        }
    }

    /// Encodes and sends what is pending for a peer.
    pub(super) fn flush(&mut self, addr: IpAddr) {
        let now = self.now;
        let Some(p) = self.peers.get_mut(&addr) else {
            return;
        };
        let Some(est) = &p.est else {
            p.out.pending.clear();
            return;
        };
        if p.out.pending.is_empty() {
            p.out.intern.clear();
            return;
        }
        let conn = est.conn;
        let Some(c) = p.conns.iter_mut().find(|c| c.id == conn) else {
            return;
        };
        let Some(ctx) = c.session.tx_ctx().copied() else {
            return;
        };
        let pending = std::mem::take(&mut p.out.pending);
        let mut wd4: Vec<Nlri<Ipv4Network>> = Vec::new();
        let mut wd6: Vec<Nlri<Ipv6Network>> = Vec::new();
        // Announcements grouped by their (shared) attributes.
        type Group = (Arc<RouteAttrs>, Vec<(IpNetwork, u32)>);
        let mut groups: HashMap<*const RouteAttrs, Group> = HashMap::new();
        let nlri4 = |n: Ipv4Network, id: u32| {
            if ctx.add_path(Family::IPV4_UNICAST) {
                Nlri::with_path_id(n, id)
            } else {
                Nlri::new(n)
            }
        };
        let nlri6 = |n: Ipv6Network, id: u32| {
            if ctx.add_path(Family::IPV6_UNICAST) {
                Nlri::with_path_id(n, id)
            } else {
                Nlri::new(n)
            }
        };
        for ((prefix, id), a) in pending {
            match a {
                None => {
                    p.out.adj.remove(&(prefix, id));
                    match prefix {
                        IpNetwork::V4(n) => wd4.push(nlri4(n, id)),
                        IpNetwork::V6(n) => wd6.push(nlri6(n, id)),
                    }
                }
                Some(a) => {
                    p.out.adj.insert((prefix, id), a.clone());
                    groups
                        .entry(Arc::as_ptr(&a))
                        .or_insert_with(|| (a.clone(), Vec::new()))
                        .1
                        .push((prefix, id));
                }
            }
        }
        p.out.intern.clear();
        let mut bytes = Vec::new();
        if !wd4.is_empty() {
            let _ = UpdateBuilder::withdraw(Family::IPV4_UNICAST, &wd4, &ctx, &mut bytes);
        }
        if !wd6.is_empty() {
            let _ = UpdateBuilder::withdraw(Family::IPV6_UNICAST, &wd6, &ctx, &mut bytes);
        }
        for (_, (a, prefixes)) in groups {
            let mut v4: Vec<Nlri<Ipv4Network>> = Vec::new();
            let mut v6: Vec<Nlri<Ipv6Network>> = Vec::new();
            for (p, id) in prefixes {
                match p {
                    IpNetwork::V4(n) => v4.push(nlri4(n, id)),
                    IpNetwork::V6(n) => v6.push(nlri6(n, id)),
                }
            }
            if !v4.is_empty() {
                let res = match a.next_hop {
                    IpAddr::V4(nh) => {
                        let mut pa = a.attrs.clone();
                        pa.next_hop = Some(nh);
                        UpdateBuilder::ipv4_unicast(&pa, &ctx)
                            .and_then(|b| b.announce(&v4, &mut bytes))
                    }
                    IpAddr::V6(global) => UpdateBuilder::mp(
                        Family::IPV4_UNICAST,
                        &MpNextHop::Ipv6 {
                            global,
                            link_local: None,
                        },
                        &a.attrs,
                        &ctx,
                    )
                    .and_then(|b| b.announce(&v4, &mut bytes)),
                };
                if let Err(e) = res {
                    warn!("bgp neighbor {addr}: cannot encode an UPDATE: {e}");
                }
            }
            if !v6.is_empty() {
                let nh = match a.next_hop {
                    IpAddr::V6(global) => MpNextHop::Ipv6 {
                        global,
                        link_local: a.link_local,
                    },
                    IpAddr::V4(v4) => MpNextHop::Ipv6 {
                        global: v4.to_ipv6_mapped(),
                        link_local: None,
                    },
                };
                if let Err(e) = UpdateBuilder::mp(Family::IPV6_UNICAST, &nh, &a.attrs, &ctx)
                    .and_then(|b| b.announce(&v6, &mut bytes))
                {
                    warn!("bgp neighbor {addr}: cannot encode an UPDATE: {e}");
                }
            }
        }
        c.session.send_raw(now, bytes);
        // Deliver now: the session queued the bytes as output.
        while let Some(o) = c.session.poll_output() {
            if let SessionOutput::Send(bytes) = o {
                if c.attached {
                    self.queue.push_back(Output::Transmit {
                        peer: addr,
                        conn: c.id,
                        bytes,
                    });
                }
            }
        }
    }
}
