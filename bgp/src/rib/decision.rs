//! The BGP decision process (RFC 4271 section 9.1.2) with the tie-breaks
//! every router has (FRR's order), and the choice of multipaths.

use std::cmp::Ordering;
use std::net::{IpAddr, Ipv4Addr};

use super::{Path, LOCAL};
use crate::wire::Origin;

/// What the decision process knows about the peer a path came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerMeta {
    /// The peer's address (the last tie-break).
    pub addr: IpAddr,
    /// The peer's BGP Identifier.
    pub router_id: Ipv4Addr,
    /// Whether the peer is in another AS.
    pub ebgp: bool,
}

impl PeerMeta {
    /// This router, for locally originated paths.
    pub fn local(router_id: Ipv4Addr) -> PeerMeta {
        PeerMeta {
            addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            router_id,
            ebgp: false,
        }
    }
}

/// Settings of the decision process for one address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecisionConfig {
    /// `maximum-paths N`: eBGP multipaths (1: no multipath).
    pub maximum_paths: u16,
    /// `maximum-paths ibgp N`.
    pub maximum_paths_ibgp: u16,
    /// `bgp bestpath as-path multipath-relax`: eBGP multipaths may come
    /// from different neighbor ASes if their AS paths are equally long.
    pub multipath_relax: bool,
}

impl Default for DecisionConfig {
    fn default() -> DecisionConfig {
        DecisionConfig {
            maximum_paths: 1,
            maximum_paths_ibgp: 1,
            multipath_relax: false,
        }
    }
}

/// Which step decided a comparison: the steps up to and including
/// [`Step::IgpCost`] make two paths unequal for multipath too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// Higher weight (local).
    Weight,
    /// Higher LOCAL_PREF.
    LocalPref,
    /// Locally originated (network, redistribute) over learned.
    Local,
    /// Shorter AS_PATH.
    AsPathLen,
    /// Lower ORIGIN.
    Origin,
    /// Lower MED, between paths from the same neighbor AS.
    Med,
    /// eBGP over iBGP.
    Ebgp,
    /// Lower IGP cost to the next hop (all equal here: next hops are on
    /// tunnels and connected networks).
    IgpCost,
    /// Lower BGP Identifier (ORIGINATOR_ID if present).
    RouterId,
    /// Shorter CLUSTER_LIST.
    ClusterLen,
    /// Lower peer address.
    PeerAddr,
    /// Lower ADD-PATH identifier.
    PathId,
    /// Identical.
    Equal,
}

fn origin_rank(o: Option<Origin>) -> u8 {
    match o {
        Some(Origin::Igp) => 0,
        Some(Origin::Egp) => 1,
        Some(Origin::Incomplete) | None => 2,
    }
}

fn neighbor_as(p: &Path) -> Option<u32> {
    p.attrs.attrs.as_path.as_ref().and_then(|a| a.first_as())
}

fn as_path_len(p: &Path) -> usize {
    p.attrs.attrs.as_path.as_ref().map_or(0, |a| a.path_len())
}

/// Compares two paths for the same prefix: `Less` means `a` is better.
/// Returns the step that decided it.
pub fn compare(a: &Path, pa: &PeerMeta, b: &Path, pb: &PeerMeta) -> (Ordering, Step) {
    let (x, y) = (&a.attrs, &b.attrs);
    macro_rules! step {
        ($o:expr, $s:expr) => {
            let o: Ordering = $o;
            if o != Ordering::Equal {
                return (o, $s);
            }
        };
    }
    step!(y.weight.cmp(&x.weight), Step::Weight);
    step!(y.local_pref().cmp(&x.local_pref()), Step::LocalPref);
    step!((b.peer == LOCAL).cmp(&(a.peer == LOCAL)), Step::Local);
    step!(as_path_len(a).cmp(&as_path_len(b)), Step::AsPathLen);
    step!(
        origin_rank(x.attrs.origin).cmp(&origin_rank(y.attrs.origin)),
        Step::Origin
    );
    if neighbor_as(a) == neighbor_as(b) {
        step!(x.med().cmp(&y.med()), Step::Med);
    }
    step!(pb.ebgp.cmp(&pa.ebgp), Step::Ebgp);
    let id = |p: &Path, m: &PeerMeta| u32::from(p.attrs.attrs.originator_id.unwrap_or(m.router_id));
    step!(id(a, pa).cmp(&id(b, pb)), Step::RouterId);
    step!(
        x.attrs.cluster_list.len().cmp(&y.attrs.cluster_list.len()),
        Step::ClusterLen
    );
    step!(pa.addr.cmp(&pb.addr), Step::PeerAddr);
    step!(a.path_id.cmp(&b.path_id), Step::PathId);
    (Ordering::Equal, Step::Equal)
}

/// Whether `p` may share forwarding with the best path `best` (both
/// already compared equal through the IGP cost step).
pub fn multipath_eligible(
    best: &Path,
    bm: &PeerMeta,
    p: &Path,
    pm: &PeerMeta,
    cfg: &DecisionConfig,
) -> bool {
    if bm.ebgp != pm.ebgp || p.peer == LOCAL || best.peer == LOCAL {
        return false;
    }
    if bm.ebgp && !cfg.multipath_relax && neighbor_as(best) != neighbor_as(p) {
        return false;
    }
    // Two paths through the same next hop add nothing to forwarding.
    p.attrs.next_hop != best.attrs.next_hop
}
