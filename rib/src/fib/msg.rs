//! The netlink messages of the FIB writer, as bytes: nexthop objects
//! (RTM_NEWNEXTHOP/DELNEXTHOP, dumps and their parsing) and routes with
//! their next hops inline (RTA_GATEWAY / RTA_VIA / RTA_MULTIPATH) or by
//! object (RTA_NH_ID).

use super::nl::{self, Msg};
use super::objects::{Hop, NhKey};
use super::RTPROT_RVPN;
use ipnetwork::IpNetwork;
use rtnetlink::packet_core::Emitable;
use rtnetlink::packet_route::route::RouteMessage;
use std::net::IpAddr;

pub(super) const AF_INET: u8 = libc::AF_INET as u8;
pub(super) const AF_INET6: u8 = libc::AF_INET6 as u8;
pub(super) const RTM_NEWLINK: u16 = 16;
pub(super) const RTM_DELLINK: u16 = 17;
pub(super) const RTM_NEWROUTE: u16 = 24;
pub(super) const RTM_DELROUTE: u16 = 25;
pub(super) const RTM_NEWNEXTHOP: u16 = 104;
pub(super) const RTM_DELNEXTHOP: u16 = 105;
pub(super) const RTM_GETNEXTHOP: u16 = 106;
pub(super) const RTA_DST: u16 = 1;
pub(super) const RTA_OIF: u16 = 4;
pub(super) const RTA_GATEWAY: u16 = 5;
pub(super) const RTA_MULTIPATH: u16 = 9;
pub(super) const RTA_VIA: u16 = 18;
pub(super) const RTA_NH_ID: u16 = 30;
pub(super) const NHA_ID: u16 = 1;
pub(super) const NHA_GROUP: u16 = 2;
pub(super) const NHA_BLACKHOLE: u16 = 4;
pub(super) const NHA_OIF: u16 = 5;
pub(super) const NHA_GATEWAY: u16 = 6;
pub(super) const RT_TABLE_MAIN: u8 = 254;
pub(super) const RTN_UNICAST: u8 = 1;
pub(super) const RTN_BLACKHOLE: u8 = 6;
pub(super) const RT_SCOPE_NOWHERE: u8 = 255;
/// The scope of a route whose next hops are interfaces only, as `ip
/// route add PREFIX dev IFNAME` gives it: the kernel resolves another
/// route's gateway only through routes of at least this scope.
pub(super) const RT_SCOPE_LINK: u8 = 253;
/// The scope of every other route of rvpn.
pub(super) const RT_SCOPE_UNIVERSE: u8 = 0;

/// A nexthop object as a dump or notification shows it.
pub(super) struct KernelNh {
    pub(super) id: u32,
    pub(super) protocol: u8,
    pub(super) group: Option<Vec<u32>>,
}

/// The interface index of a link message (struct ifinfomsg's
/// `ifi_index`), if the payload is long enough to hold one.
pub(super) fn link_index(payload: &[u8]) -> Option<u32> {
    let b: [u8; 4] = payload.get(4..8)?.try_into().ok()?;
    Some(u32::from_ne_bytes(b))
}

pub(super) fn parse_nh(payload: &[u8]) -> Option<KernelNh> {
    let protocol = *payload.get(2)?;
    let mut id = None;
    let mut group = None;
    for (kind, data) in nl::attrs(payload.get(8..)?) {
        match kind {
            NHA_ID => id = nl::u32_at(data, 0),
            NHA_GROUP => {
                let mut g: Vec<u32> = data
                    .chunks_exact(8)
                    .filter_map(|c| nl::u32_at(c, 0))
                    .collect();
                g.sort_unstable();
                group = Some(g);
            }
            _ => {}
        }
    }
    Some(KernelNh {
        id: id?,
        protocol,
        group,
    })
}

pub(super) fn nhmsg(family: u8) -> [u8; 8] {
    [family, 0, RTPROT_RVPN, 0, 0, 0, 0, 0]
}

pub(super) fn nh_dump_msg() -> Vec<u8> {
    // A dump request's header must be all zero.
    Msg::new(RTM_GETNEXTHOP, nl::NLM_F_DUMP).raw(&[0; 8]).done()
}

pub(super) fn nh_del_msg(id: u32) -> Vec<u8> {
    Msg::new(RTM_DELNEXTHOP, 0)
        .raw(&[0; 8])
        .attr(NHA_ID, &id.to_ne_bytes())
        .done()
}

pub(super) fn ip_bytes(a: &IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

pub(super) fn nh_new_msg(id: u32, key: &NhKey) -> Vec<u8> {
    let m = Msg::new(RTM_NEWNEXTHOP, nl::NLM_F_CREATE | nl::NLM_F_EXCL);
    match key {
        NhKey::Hop {
            family,
            gateway,
            ifindex,
        } => {
            let mut m = m.raw(&nhmsg(*family)).attr(NHA_ID, &id.to_ne_bytes());
            if let Some(g) = gateway {
                m = m.attr(NHA_GATEWAY, &ip_bytes(g));
            }
            m.attr(NHA_OIF, &ifindex.to_ne_bytes()).done()
        }
        NhKey::Blackhole { family } => m
            .raw(&nhmsg(*family))
            .attr(NHA_ID, &id.to_ne_bytes())
            .attr(NHA_BLACKHOLE, &[])
            .done(),
        NhKey::Group(members) => {
            // struct nexthop_grp { u32 id; u8 weight (minus one); u8; u16 }
            let mut g = Vec::with_capacity(members.len() * 8);
            for m in members {
                g.extend_from_slice(&m.to_ne_bytes());
                g.extend_from_slice(&[0; 4]);
            }
            m.raw(&nhmsg(0))
                .attr(NHA_ID, &id.to_ne_bytes())
                .attr(NHA_GROUP, &g)
                .done()
        }
    }
}

pub(super) fn family_of(p: &IpNetwork) -> u8 {
    if p.is_ipv4() {
        AF_INET
    } else {
        AF_INET6
    }
}

/// struct rtmsg for a route of rvpn in the main table.
pub(super) fn rtmsg(p: &IpNetwork, scope: u8, kind: u8) -> [u8; 12] {
    [
        family_of(p),
        p.prefix(),
        0,
        0,
        RT_TABLE_MAIN,
        RTPROT_RVPN,
        scope,
        kind,
        0,
        0,
        0,
        0,
    ]
}

/// Appends a route message of rvpn for `p` in the main table: rtmsg,
/// RTA_DST, then `tail` (the attributes saying where it goes). `scope`
/// is that of a new route (deletes say "nowhere").
pub(super) fn put_route(
    buf: &mut Vec<u8>,
    kind: u16,
    flags: u16,
    p: &IpNetwork,
    (rtype, scope): (u8, u8),
    tail: &[u8],
) {
    let at = buf.len();
    buf.extend_from_slice(&0u32.to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(&(flags | nl::NLM_F_REQUEST).to_ne_bytes());
    buf.extend_from_slice(&[0; 8]);
    // Deletes leave the type unspecified (a blackhole route must match
    // too) and the scope "nowhere", as `ip route del` does.
    let scope = if kind == RTM_DELROUTE {
        RT_SCOPE_NOWHERE
    } else {
        scope
    };
    buf.extend_from_slice(&rtmsg(p, scope, rtype));
    nl::put_attr(buf, RTA_DST, &ip_bytes(&p.network()));
    buf.extend_from_slice(tail);
    let len = (buf.len() - at) as u32;
    if let Some(h) = buf.get_mut(at..at + 4) {
        h.copy_from_slice(&len.to_ne_bytes());
    }
}

/// RTA_GATEWAY, or RTA_VIA for a gateway of the other family.
pub(super) fn put_gateway(buf: &mut Vec<u8>, v4_route: bool, g: &IpAddr) {
    if v4_route == g.is_ipv4() {
        nl::put_attr(buf, RTA_GATEWAY, &ip_bytes(g));
    } else {
        let family = u16::from(if g.is_ipv4() { AF_INET } else { AF_INET6 });
        let mut via = family.to_ne_bytes().to_vec();
        via.extend_from_slice(&ip_bytes(g));
        nl::put_attr(buf, RTA_VIA, &via);
    }
}

/// The route type and the attributes after RTA_DST of a route with its
/// next hops inline (RTA_MULTIPATH mode).
pub(super) fn inline_tail(v4_route: bool, hops: &[Hop]) -> Result<(u8, Vec<u8>), String> {
    if hops.contains(&Hop::Blackhole) {
        return Ok((RTN_BLACKHOLE, Vec::new()));
    }
    let vias: Vec<(Option<IpAddr>, u32)> = hops
        .iter()
        .filter_map(|h| match h {
            Hop::Via { gateway, ifindex } => Some((*gateway, *ifindex)),
            Hop::Blackhole => None,
        })
        .collect();
    let mut t = Vec::new();
    match vias.as_slice() {
        [] => return Err("no next hop".into()),
        [(gw, oif)] => {
            nl::put_attr(&mut t, RTA_OIF, &oif.to_ne_bytes());
            if let Some(g) = gw {
                put_gateway(&mut t, v4_route, g);
            }
        }
        many => {
            // struct rtnexthop { u16 len; u8 flags; u8 hops; i32 ifindex }
            // and its attributes, per next hop.
            let mut mp = Vec::new();
            for (gw, oif) in many {
                let mut inner = Vec::new();
                if let Some(g) = gw {
                    put_gateway(&mut inner, v4_route, g);
                }
                mp.extend_from_slice(&((8 + inner.len()) as u16).to_ne_bytes());
                mp.extend_from_slice(&[0, 0]);
                mp.extend_from_slice(&oif.to_ne_bytes());
                mp.extend_from_slice(&inner);
            }
            nl::put_attr(&mut t, RTA_MULTIPATH, &mp);
        }
    }
    Ok((RTN_UNICAST, t))
}

pub(super) fn emit_route(kind: u16, flags: u16, m: &RouteMessage) -> Vec<u8> {
    let mut body = vec![0u8; m.buffer_len()];
    m.emit(&mut body);
    Msg::new(kind, flags).raw(&body).done()
}

/// The object key of each next hop of a route (IPv4 or not), or None
/// where the kernel's objects cannot express it (an IPv6 route through
/// an IPv4 gateway: left to the inline form, which refuses it with a
/// reason).
pub(super) fn keys_of(v4_route: bool, hops: &[Hop]) -> Option<Vec<NhKey>> {
    let route_family = if v4_route { AF_INET } else { AF_INET6 };
    if hops.contains(&Hop::Blackhole) {
        return Some(vec![NhKey::Blackhole {
            family: route_family,
        }]);
    }
    hops.iter()
        .map(|h| match h {
            Hop::Blackhole => None,
            Hop::Via { gateway, ifindex } => {
                let family = match gateway {
                    None => route_family,
                    Some(IpAddr::V6(_)) => AF_INET6,
                    Some(IpAddr::V4(_)) if route_family == AF_INET => AF_INET,
                    Some(IpAddr::V4(_)) => return None,
                };
                Some(NhKey::Hop {
                    family,
                    gateway: *gateway,
                    ifindex: *ifindex,
                })
            }
        })
        .collect()
}

#[cfg(test)]
mod link_tests {
    use super::link_index;

    #[test]
    fn link_index_reads_ifi_index_and_refuses_short_payloads() {
        // struct ifinfomsg: family, pad, type (u16), index (i32), flags, change.
        let mut p = vec![0u8, 0, 0xfe, 0xff];
        p.extend_from_slice(&4242u32.to_ne_bytes());
        p.extend_from_slice(&[0; 8]);
        assert_eq!(link_index(&p), Some(4242));
        assert_eq!(link_index(&p[..7]), None);
        assert_eq!(link_index(&[]), None);
    }
}
