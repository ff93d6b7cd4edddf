//! The attributes of one path as the RIB keeps them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::wire::PathAttrs;

/// A path's attributes: the wire attributes plus what is not on the wire
/// in the same form (the next hop of either family, the local weight).
///
/// The RIB shares one `Arc<RouteAttrs>` between all prefixes that arrived
/// in the same UPDATE (and came out of policy unchanged), so a million
/// prefixes with a handful of attribute sets cost a handful of these.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RouteAttrs {
    /// The wire attributes. `attrs.next_hop` is not used: the next hop of
    /// both families is [`RouteAttrs::next_hop`].
    pub attrs: PathAttrs,
    /// The BGP next hop: NEXT_HOP for IPv4 NLRI, the global address of
    /// MP_REACH_NLRI for IPv6 NLRI (RFC 2545). Unspecified for locally
    /// originated routes without one.
    pub next_hop: IpAddr,
    /// The link-local next hop of an IPv6 MP_REACH_NLRI, if any.
    pub link_local: Option<Ipv6Addr>,
    /// Local weight (Cisco/FRR): highest wins, never sent; 32768 for
    /// locally originated routes, 0 for learned ones unless policy sets it.
    pub weight: u32,
}

impl RouteAttrs {
    /// Learned attributes with next hop `next_hop` and weight 0.
    pub fn new(attrs: PathAttrs, next_hop: IpAddr) -> RouteAttrs {
        RouteAttrs {
            attrs,
            next_hop,
            link_local: None,
            weight: 0,
        }
    }

    /// LOCAL_PREF, 100 when absent (the default of FRR and IOS).
    pub fn local_pref(&self) -> u32 {
        self.attrs.local_pref.unwrap_or(100)
    }

    /// MED, 0 when absent (RFC 4271 9.1.2.2 (c): "missing" is lowest).
    pub fn med(&self) -> u32 {
        self.attrs.med.unwrap_or(0)
    }

    /// Whether the next hop is unset (0.0.0.0 or ::).
    pub fn next_hop_unset(&self) -> bool {
        self.next_hop.is_unspecified()
    }

    /// The IPv4 next hop, if the next hop is IPv4.
    pub fn next_hop_v4(&self) -> Option<Ipv4Addr> {
        match self.next_hop {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => None,
        }
    }
}
