//! The Adj-RIBs-Out: what each peer was sent and what it will be, and
//! UPDATE packing (prefixes that share attributes go in few messages).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use ipnetwork::{IpNetwork, Ipv4Network, Ipv6Network};
use tracing::warn;

use super::{family_of, Speaker};
use crate::rib::{Afi, RouteAttrs};
use crate::wire::{Ctx, Family, MpNextHop, Nlri, Update, UpdateBuilder};

/// Encoded UPDATE bytes a connection may have handed to the driver and
/// not yet seen written before no more are produced for it: the rest
/// waits as pending changes, where a prefix that changes again replaces
/// its entry. A peer that stops reading costs at most this much (plus
/// what the session itself sends: KEEPALIVEs, a NOTIFICATION), and its
/// session ends by the send hold timer.
pub const WRITE_WINDOW: usize = 256 * 1024;
/// Transmissions of UPDATEs a connection may have unwritten (small ones
/// come one by one as routes change): with [`WRITE_WINDOW`], what bounds
/// the driver's queue; more changes wait, coalesced, as pending ones.
pub const WRITE_CHUNKS: usize = 32;
/// Pending changes encoded per transmission (about 16 KiB of UPDATEs for
/// /24s sharing their attributes, more for prefixes that do not).
const CHUNK_PREFIXES: usize = 4096;

/// A change waiting for a peer: the path (prefix and identifier) and
/// what to announce, or `None` to withdraw it.
type Change = ((IpNetwork, u32), Option<Arc<RouteAttrs>>);

/// What we have sent a peer, and what we will.
#[derive(Debug, Default)]
pub struct AdjOut {
    /// By prefix and path identifier (0 unless ADD-PATH send is on).
    pub adj: BTreeMap<(IpNetwork, u32), Arc<RouteAttrs>>,
    pending: BTreeMap<(IpNetwork, u32), Option<Arc<RouteAttrs>>>,
    intern: HashSet<Arc<RouteAttrs>>,
    /// Families whose End-of-RIB goes once nothing is pending (after the
    /// table a new session gets).
    eor: Vec<Afi>,
}

impl AdjOut {
    /// Whether nothing was sent and nothing waits.
    pub fn is_empty(&self) -> bool {
        self.adj.is_empty() && self.pending.is_empty()
    }
    /// How many changes wait to be encoded (held back while the
    /// connection's write window is full).
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
    /// Whether a flush has anything to do: changes to encode or End-of-RIB
    /// markers to send.
    pub fn has_work(&self) -> bool {
        !self.pending.is_empty() || !self.eor.is_empty()
    }
    /// Sends End-of-RIB of `families` once what is pending went out.
    pub(super) fn end_of_rib_after_pending(&mut self, families: &[Afi]) {
        self.eor = families.to_vec();
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
        let unwanted = |ids: Vec<u32>| -> Vec<u32> {
            ids.into_iter()
                .filter(|id| !want.iter().any(|(w, _)| w == id))
                .collect()
        };
        // What waits to be announced (the write window was full) and is
        // no longer wanted never goes.
        for id in unwanted(ids_of(&p.out.pending, prefix)) {
            p.out.pending.remove(&(prefix, id));
        }
        // What was sent under identifiers no longer wanted is withdrawn.
        for id in unwanted(ids_of(&p.out.adj, prefix)) {
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

    /// Encodes and sends what is pending for a peer, in chunks, while its
    /// connection's write window has room; then the End-of-RIB markers
    /// that wait for it.
    pub(super) fn flush(&mut self, addr: IpAddr) {
        let now = self.now;
        self.touch(addr);
        let Some(p) = self.peers.get_mut(&addr) else {
            return;
        };
        let Some(est) = &p.est else {
            p.out.pending.clear();
            p.out.eor.clear();
            return;
        };
        let conn = est.conn;
        let Some(c) = p.conns.iter_mut().find(|c| c.id == conn) else {
            return;
        };
        let Some(ctx) = c.session.tx_ctx().copied() else {
            return;
        };
        while !p.out.pending.is_empty()
            && c.unacked < WRITE_WINDOW
            && c.chunks_in_flight() < WRITE_CHUNKS
        {
            let mut chunk = Vec::with_capacity(CHUNK_PREFIXES.min(p.out.pending.len()));
            while chunk.len() < CHUNK_PREFIXES {
                match p.out.pending.pop_first() {
                    Some(e) => chunk.push(e),
                    None => break,
                }
            }
            let bytes = encode(addr, &mut p.out.adj, chunk, &ctx);
            // Delivered here, not through the session's queue: what else
            // it queued (a session the limit just closed says Down) stays
            // for the next pump.
            if c.session.sent_directly(now, &bytes) {
                c.transmit(addr, bytes, &mut self.queue, now);
            }
        }
        // Interning shares attributes among the changes of one export
        // run; kept longer, it would hold attributes that changes
        // replaced while the window was full.
        p.out.intern.clear();
        if !p.out.pending.is_empty() {
            return;
        }
        if !p.out.eor.is_empty() {
            let mut bytes = Vec::new();
            for afi in std::mem::take(&mut p.out.eor) {
                let _ = Update::end_of_rib(family_of(afi)).emit(&Ctx::new(true), &mut bytes);
            }
            if c.session.sent_directly(now, &bytes) {
                c.transmit(addr, bytes, &mut self.queue, now);
            }
        }
    }
}

/// The path identifiers `map` holds for `prefix`.
fn ids_of<V>(map: &BTreeMap<(IpNetwork, u32), V>, prefix: IpNetwork) -> Vec<u32> {
    map.range((prefix, 0)..=(prefix, u32::MAX))
        .map(|(k, _)| k.1)
        .collect()
}

/// Encodes pending changes of a peer into UPDATEs (withdrawals first,
/// then announcements grouped by their shared attributes), moving them
/// into `adj`, what the peer was sent.
fn encode(
    addr: IpAddr,
    adj: &mut BTreeMap<(IpNetwork, u32), Arc<RouteAttrs>>,
    pending: Vec<Change>,
    ctx: &Ctx,
) -> Vec<u8> {
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
                adj.remove(&(prefix, id));
                match prefix {
                    IpNetwork::V4(n) => wd4.push(nlri4(n, id)),
                    IpNetwork::V6(n) => wd6.push(nlri6(n, id)),
                }
            }
            Some(a) => {
                adj.insert((prefix, id), a.clone());
                groups
                    .entry(Arc::as_ptr(&a))
                    .or_insert_with(|| (a.clone(), Vec::new()))
                    .1
                    .push((prefix, id));
            }
        }
    }
    let mut bytes = Vec::new();
    if !wd4.is_empty() {
        let _ = UpdateBuilder::withdraw(Family::IPV4_UNICAST, &wd4, ctx, &mut bytes);
    }
    if !wd6.is_empty() {
        let _ = UpdateBuilder::withdraw(Family::IPV6_UNICAST, &wd6, ctx, &mut bytes);
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
                    UpdateBuilder::ipv4_unicast(&pa, ctx).and_then(|b| b.announce(&v4, &mut bytes))
                }
                IpAddr::V6(global) => UpdateBuilder::mp(
                    Family::IPV4_UNICAST,
                    &MpNextHop::Ipv6 {
                        global,
                        link_local: None,
                    },
                    &a.attrs,
                    ctx,
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
            if let Err(e) = UpdateBuilder::mp(Family::IPV6_UNICAST, &nh, &a.attrs, ctx)
                .and_then(|b| b.announce(&v6, &mut bytes))
            {
                warn!("bgp neighbor {addr}: cannot encode an UPDATE: {e}");
            }
        }
    }
    bytes
}
