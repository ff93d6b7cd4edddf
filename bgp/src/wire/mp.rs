//! MP_REACH_NLRI and MP_UNREACH_NLRI (RFC 4760 section 3 and 4).
//!
//! ```text
//! MP_REACH_NLRI                          MP_UNREACH_NLRI
//! +------------------------------+       +------------------------------+
//! | AFI (2) | SAFI (1)           |       | AFI (2) | SAFI (1)           |
//! | Length of Next Hop (1)       |       | Withdrawn Routes (variable)  |
//! | Next Hop (variable)          |       +------------------------------+
//! | Reserved (1)                 |
//! | NLRI (variable)              |
//! +------------------------------+
//! ```
//!
//! IPv4 and IPv6 unicast/multicast NLRI are decoded into prefixes; the
//! next hop of IPv6 is 16 octets (global) or 32 (global and link-local,
//! RFC 2545), that of IPv4 is 4, or 16/32 for an IPv6 next hop (RFC 8950).
//! Other families keep next hop and NLRI as raw octets. The Reserved octet
//! (RFC 2858's SNPA count) is ignored on receipt and sent as zero.

use std::net::{Ipv4Addr, Ipv6Addr};

use nom::sequence::tuple;

use super::codec::{attr_header, ipv4p, ipv6p, takep, u16p, u8p};
use super::error::EmitError;
use super::family::{Ctx, Family, PrefixKind};
use super::prefix::{emit_nlri, nlri_len, parse_prefixes, Nlri4, Nlri6};
use super::registry::{Afi, AttrType, Safi, FLAG_OPTIONAL};

/// The next hop of MP_REACH_NLRI.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MpNextHop {
    /// An IPv4 next hop (IPv4 families).
    Ipv4(Ipv4Addr),
    /// An IPv6 next hop: global, and optionally link-local (RFC 2545).
    Ipv6 {
        /// Global address.
        global: Ipv6Addr,
        /// Link-local address, when 32 octets were sent.
        link_local: Option<Ipv6Addr>,
    },
    /// The next hop of a family this crate does not decode.
    Other(Vec<u8>),
}

/// The NLRI of an MP attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MpNlri {
    /// IPv4 prefixes.
    Ipv4(Vec<Nlri4>),
    /// IPv6 prefixes.
    Ipv6(Vec<Nlri6>),
    /// NLRI of a family this crate does not decode.
    Other(Vec<u8>),
}

/// MP_REACH_NLRI: reachable NLRI of one family and their next hop.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MpReach {
    /// AFI/SAFI.
    pub family: Family,
    /// Next hop.
    pub next_hop: MpNextHop,
    /// The reachable NLRI.
    pub nlri: MpNlri,
}

/// MP_UNREACH_NLRI: withdrawn NLRI of one family. With no NLRI (and no
/// other attribute in the UPDATE) it is the family's End-of-RIB marker
/// (RFC 4724).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MpUnreach {
    /// AFI/SAFI.
    pub family: Family,
    /// The withdrawn NLRI.
    pub withdrawn: MpNlri,
}

const INCONSISTENT: EmitError = EmitError::Invalid {
    what: "MP attribute",
    reason: "next hop or NLRI kind does not match the AFI/SAFI",
};

impl MpNlri {
    /// Empty NLRI of the kind `family` uses.
    pub fn empty(family: Family) -> MpNlri {
        match family.prefix_kind() {
            Some(PrefixKind::V4) => MpNlri::Ipv4(Vec::new()),
            Some(PrefixKind::V6) => MpNlri::Ipv6(Vec::new()),
            None => MpNlri::Other(Vec::new()),
        }
    }

    /// Whether there are no NLRI.
    pub fn is_empty(&self) -> bool {
        match self {
            MpNlri::Ipv4(v) => v.is_empty(),
            MpNlri::Ipv6(v) => v.is_empty(),
            MpNlri::Other(v) => v.is_empty(),
        }
    }

    pub(crate) fn parse(family: Family, b: &[u8], ctx: &Ctx) -> Result<MpNlri, String> {
        let ap = ctx.add_path(family);
        Ok(match family.prefix_kind() {
            Some(PrefixKind::V4) => {
                let mut v = Vec::new();
                parse_prefixes(b, ap, &mut v).map_err(|e| e.describe("MP NLRI"))?;
                MpNlri::Ipv4(v)
            }
            Some(PrefixKind::V6) => {
                let mut v = Vec::new();
                parse_prefixes(b, ap, &mut v).map_err(|e| e.describe("MP NLRI"))?;
                MpNlri::Ipv6(v)
            }
            None => MpNlri::Other(b.to_vec()),
        })
    }

    fn check(&self, family: Family) -> Result<(), EmitError> {
        match (family.prefix_kind(), self) {
            (Some(PrefixKind::V4), MpNlri::Ipv4(_))
            | (Some(PrefixKind::V6), MpNlri::Ipv6(_))
            | (None, MpNlri::Other(_)) => Ok(()),
            _ => Err(INCONSISTENT),
        }
    }

    fn wire_len(&self, family: Family, ctx: &Ctx) -> usize {
        let ap = ctx.add_path(family);
        match self {
            MpNlri::Ipv4(v) => nlri_len(v, ap),
            MpNlri::Ipv6(v) => nlri_len(v, ap),
            MpNlri::Other(v) => v.len(),
        }
    }

    fn emit(&self, family: Family, ctx: &Ctx, out: &mut Vec<u8>) {
        let ap = ctx.add_path(family);
        match self {
            MpNlri::Ipv4(v) => emit_nlri(v, ap, out),
            MpNlri::Ipv6(v) => emit_nlri(v, ap, out),
            MpNlri::Other(v) => out.extend_from_slice(v),
        }
    }
}

impl MpNextHop {
    fn parse(family: Family, nh: &[u8]) -> Result<MpNextHop, &'static str> {
        let kind = match family.prefix_kind() {
            Some(k) => k,
            None => return Ok(MpNextHop::Other(nh.to_vec())),
        };
        match (kind, nh.len()) {
            (PrefixKind::V4, 4) => Ok(MpNextHop::Ipv4(ipv4p(nh).map_err(|_| "next hop")?.1)),
            (_, 16) => Ok(MpNextHop::Ipv6 {
                global: ipv6p(nh).map_err(|_| "next hop")?.1,
                link_local: None,
            }),
            (_, 32) => {
                let (_, (global, ll)) = tuple((ipv6p, ipv6p))(nh).map_err(|_| "next hop")?;
                Ok(MpNextHop::Ipv6 {
                    global,
                    link_local: Some(ll),
                })
            }
            (PrefixKind::V4, _) => Err("IPv4 next hop length is not 4, 16 or 32"),
            (PrefixKind::V6, _) => Err("IPv6 next hop length is not 16 or 32"),
        }
    }

    fn check(&self, family: Family) -> Result<(), EmitError> {
        match (family.prefix_kind(), self) {
            (Some(PrefixKind::V4), MpNextHop::Ipv4(_))
            | (Some(_), MpNextHop::Ipv6 { .. })
            | (None, MpNextHop::Other(_)) => Ok(()),
            _ => Err(INCONSISTENT),
        }
    }

    /// Octets of the next hop.
    pub fn wire_len(&self) -> usize {
        match self {
            MpNextHop::Ipv4(_) => 4,
            MpNextHop::Ipv6 {
                link_local: None, ..
            } => 16,
            MpNextHop::Ipv6 { .. } => 32,
            MpNextHop::Other(v) => v.len(),
        }
    }

    pub(crate) fn emit(&self, out: &mut Vec<u8>) {
        match self {
            MpNextHop::Ipv4(a) => out.extend_from_slice(&a.octets()),
            MpNextHop::Ipv6 { global, link_local } => {
                out.extend_from_slice(&global.octets());
                if let Some(ll) = link_local {
                    out.extend_from_slice(&ll.octets());
                }
            }
            MpNextHop::Other(v) => out.extend_from_slice(v),
        }
    }
}

fn family_of(i: &[u8]) -> Option<(&[u8], Family)> {
    let (i, (afi, safi)) = tuple((u16p, u8p))(i).ok()?;
    Some((i, Family::new(Afi(afi), Safi(safi))))
}

impl MpReach {
    /// Decodes the attribute value. Every error is malformed framing,
    /// which resets the session (RFC 7606 section 7.11).
    pub fn parse(v: &[u8], ctx: &Ctx) -> Result<MpReach, String> {
        let (i, family) = family_of(v).ok_or("MP_REACH_NLRI shorter than 5 octets")?;
        let (i, nh_len) = u8p(i).map_err(|_| "MP_REACH_NLRI shorter than 5 octets")?;
        let (i, nh) = takep(usize::from(nh_len))(i)
            .map_err(|_| format!("next hop length {nh_len} overruns MP_REACH_NLRI"))?;
        let (i, _reserved) = u8p(i).map_err(|_| "MP_REACH_NLRI without reserved octet")?;
        let next_hop = MpNextHop::parse(family, nh)?;
        let nlri = MpNlri::parse(family, i, ctx)?;
        Ok(MpReach {
            family,
            next_hop,
            nlri,
        })
    }

    /// Octets of the attribute value.
    pub fn value_len(&self, ctx: &Ctx) -> usize {
        5 + self.next_hop.wire_len() + self.nlri.wire_len(self.family, ctx)
    }

    /// Appends the whole attribute (flags, type, length, value).
    pub fn emit(&self, ctx: &Ctx, out: &mut Vec<u8>) -> Result<(), EmitError> {
        self.next_hop.check(self.family)?;
        self.nlri.check(self.family)?;
        let nh_len = super::codec::fit_u8("MP next hop", self.next_hop.wire_len())?;
        attr_header(
            out,
            FLAG_OPTIONAL,
            AttrType::MP_REACH_NLRI,
            self.value_len(ctx),
        )?;
        out.extend_from_slice(&self.family.afi.0.to_be_bytes());
        out.push(self.family.safi.0);
        out.push(nh_len);
        self.next_hop.emit(out);
        out.push(0);
        self.nlri.emit(self.family, ctx, out);
        Ok(())
    }
}

impl MpUnreach {
    /// Decodes the attribute value; errors reset the session.
    pub fn parse(v: &[u8], ctx: &Ctx) -> Result<MpUnreach, String> {
        let (i, family) = family_of(v).ok_or("MP_UNREACH_NLRI shorter than 3 octets")?;
        Ok(MpUnreach {
            family,
            withdrawn: MpNlri::parse(family, i, ctx)?,
        })
    }

    /// Octets of the attribute value.
    pub fn value_len(&self, ctx: &Ctx) -> usize {
        3 + self.withdrawn.wire_len(self.family, ctx)
    }

    /// Appends the whole attribute.
    pub fn emit(&self, ctx: &Ctx, out: &mut Vec<u8>) -> Result<(), EmitError> {
        self.withdrawn.check(self.family)?;
        attr_header(
            out,
            FLAG_OPTIONAL,
            AttrType::MP_UNREACH_NLRI,
            self.value_len(ctx),
        )?;
        out.extend_from_slice(&self.family.afi.0.to_be_bytes());
        out.push(self.family.safi.0);
        self.withdrawn.emit(self.family, ctx, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::prefix::Nlri;

    /// FRR tests/bgpd/test_mp_attr.c, "IPv6-lnh": global + link-local next
    /// hops, fffe:102::/32, fffe:1:2:3::/64, ::/0 (bytes written out here).
    #[rustfmt::skip]
    const IPV6_LNH: [u8; 52] = [
        0x00, 0x02, 0x01, 32,
        0xff, 0xfe, 0x01, 0x02, 0xaa, 0xbb, 0xcc, 0xdd,
        0x03, 0x04, 0x05, 0x06, 0xa1, 0xa2, 0xa3, 0xa4,
        0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x02, 0x10, 0x02, 0xff, 0x01, 0x02, 0x03, 0x04,
        0x00,
        32, 0xff, 0xfe, 0x01, 0x02,
        64, 0xff, 0xfe, 0x00, 0x01, 0x00, 0x02, 0x00, 0x03,
        0,
    ];

    #[test]
    fn frr_ipv6_link_local() {
        let r = MpReach::parse(&IPV6_LNH, &Ctx::new(true)).unwrap();
        assert_eq!(r.family, Family::IPV6_UNICAST);
        assert_eq!(
            r.next_hop,
            MpNextHop::Ipv6 {
                global: "fffe:102:aabb:ccdd:304:506:a1a2:a3a4".parse().unwrap(),
                link_local: Some("fe80::210:2ff:102:304".parse().unwrap()),
            }
        );
        let want: Vec<Nlri6> = ["fffe:102::/32", "fffe:1:2:3::/64", "::/0"]
            .iter()
            .map(|s| Nlri::new(s.parse().unwrap()))
            .collect();
        assert_eq!(r.nlri, MpNlri::Ipv6(want));
        let mut out = Vec::new();
        r.emit(&Ctx::new(true), &mut out).unwrap();
        assert_eq!(out[..3], [0x80, 14, 52]);
        assert_eq!(out[3..], IPV6_LNH);
    }

    #[test]
    fn frr_bad_next_hops() {
        let c = Ctx::new(true);
        // "IPv6-nhlen": next hop length 4 for IPv6.
        let mut b = IPV6_LNH;
        b[3] = 4;
        assert!(MpReach::parse(&b, &c).is_err());
        // "IPv6-nhlen3": length 32, only 16 octets follow.
        assert!(MpReach::parse(&IPV6_LNH[..20], &c).is_err());
        // "IPv4-nlrilen": 10.1/16, then a /30 with one octet.
        let b = [0, 1, 1, 4, 192, 168, 0, 1, 0, 16, 10, 1, 30, 10];
        assert!(MpReach::parse(&b, &c).is_err());
        let ok = MpReach::parse(&b[..12], &c).unwrap();
        assert_eq!(ok.next_hop, MpNextHop::Ipv4(Ipv4Addr::new(192, 168, 0, 1)));
        assert!(MpReach::parse(&[0, 2, 1, 0], &c).is_err());
        assert!(MpUnreach::parse(&[0, 2], &c).is_err());
    }

    #[test]
    fn other_family_raw() {
        // VPNv4 (FRR "IPv4-VPNv4" shape): next hop and NLRI kept raw.
        let b = [
            0, 1, 128, 12, 0, 0, 0, 0, 0, 0, 0, 0, 192, 168, 0, 1, 0, 1, 2, 3,
        ];
        let r = MpReach::parse(&b, &Ctx::default()).unwrap();
        assert_eq!(r.next_hop.wire_len(), 12);
        assert_eq!(r.nlri, MpNlri::Other(vec![1, 2, 3]));
        let mut out = Vec::new();
        r.emit(&Ctx::default(), &mut out).unwrap();
        assert_eq!(out[3..], b);

        let bad = MpReach {
            family: Family::IPV6_UNICAST,
            next_hop: MpNextHop::Ipv4(Ipv4Addr::LOCALHOST),
            nlri: MpNlri::Ipv6(vec![]),
        };
        assert!(bad.emit(&Ctx::default(), &mut out).is_err());
        let bad = MpUnreach {
            family: Family::IPV6_UNICAST,
            withdrawn: MpNlri::Ipv4(vec![]),
        };
        assert!(bad.emit(&Ctx::default(), &mut out).is_err());
    }
}
