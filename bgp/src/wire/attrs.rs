//! Path attributes (RFC 4271 section 4.3 and 5) other than the MP ones:
//! the set of attributes one route carries, as [`PathAttrs`].
//!
//! ```text
//! +---------------+---------------+-------------------------------+
//! | Attr. Flags   |Attr. Type Code| Length (1, or 2 if Extended)  |
//! +---------------+---------------+-------------------------------+
//! |                    Attribute Value ...                        |
//! ```
//!
//! Known attributes are emitted with their canonical flags (the Partial
//! bit of an optional transitive one is kept, see [`PathAttrs::partial`]),
//! in ascending type order, with the Extended Length flag exactly when the
//! value is over 255 octets. Attributes of unknown types are kept as
//! [`RawAttr`] when optional transitive, with the Partial bit set
//! (RFC 4271 section 5: that is how they are passed on).

use std::net::Ipv4Addr;

use super::aspath::{AsPath, AS_TRANS};
use super::codec::attr_header;
use super::community::{Community, ExtCommunity, LargeCommunity};
use super::error::EmitError;
use super::family::Ctx;
use super::registry::{
    AttrType, FLAG_EXTENDED_LENGTH, FLAG_OPTIONAL, FLAG_PARTIAL, FLAG_TRANSITIVE,
};

const WELL_KNOWN: u8 = FLAG_TRANSITIVE;
const OPT_NON_TRANS: u8 = FLAG_OPTIONAL;
const OPT_TRANS: u8 = FLAG_OPTIONAL | FLAG_TRANSITIVE;

/// The Optional and Transitive flags a known attribute type must carry,
/// or `None` for types this crate does not decode.
pub fn expected_flags(t: AttrType) -> Option<u8> {
    Some(match t {
        AttrType::ORIGIN
        | AttrType::AS_PATH
        | AttrType::NEXT_HOP
        | AttrType::LOCAL_PREF
        | AttrType::ATOMIC_AGGREGATE => WELL_KNOWN,
        AttrType::MULTI_EXIT_DISC
        | AttrType::ORIGINATOR_ID
        | AttrType::CLUSTER_LIST
        | AttrType::MP_REACH_NLRI
        | AttrType::MP_UNREACH_NLRI => OPT_NON_TRANS,
        AttrType::AGGREGATOR
        | AttrType::COMMUNITIES
        | AttrType::EXTENDED_COMMUNITIES
        | AttrType::AS4_PATH
        | AttrType::AS4_AGGREGATOR
        | AttrType::LARGE_COMMUNITY => OPT_TRANS,
        _ => return None,
    })
}

/// ORIGIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    /// IGP: learned inside the originating AS.
    Igp = 0,
    /// EGP.
    Egp = 1,
    /// INCOMPLETE: learned some other way (redistribution).
    Incomplete = 2,
}

/// AGGREGATOR or AS4_AGGREGATOR: who formed an aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Aggregator {
    /// AS number of the aggregating speaker (sent as [`AS_TRANS`] in a
    /// 2-octet AGGREGATOR if it does not fit).
    pub asn: u32,
    /// Its BGP Identifier.
    pub address: Ipv4Addr,
}

/// An attribute of a type this crate does not decode, kept as received.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawAttr {
    /// Flags. After parsing: optional, transitive and partial (the
    /// Extended Length bit is not kept; emission sets it when needed).
    pub flags: u8,
    /// Type code.
    pub type_code: AttrType,
    /// The value.
    pub value: Vec<u8>,
}

/// A set of attribute type codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AttrTypeSet([u64; 4]);

impl AttrTypeSet {
    fn slot(t: AttrType) -> (usize, u64) {
        (usize::from(t.0 >> 6), 1u64 << (t.0 & 63))
    }

    /// Adds `t`; returns whether it was new.
    pub fn insert(&mut self, t: AttrType) -> bool {
        let (i, bit) = Self::slot(t);
        match self.0.get_mut(i) {
            Some(w) => {
                let new = *w & bit == 0;
                *w |= bit;
                new
            }
            None => false,
        }
    }

    /// Removes `t`.
    pub fn remove(&mut self, t: AttrType) {
        let (i, bit) = Self::slot(t);
        if let Some(w) = self.0.get_mut(i) {
            *w &= !bit;
        }
    }

    /// Whether `t` is in the set.
    pub fn contains(&self, t: AttrType) -> bool {
        let (i, bit) = Self::slot(t);
        self.0.get(i).is_some_and(|w| w & bit != 0)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&w| w == 0)
    }

    /// The members, ascending.
    pub fn iter(&self) -> impl Iterator<Item = AttrType> + '_ {
        (0..=255u8).map(AttrType).filter(move |&t| self.contains(t))
    }
}

/// The path attributes of a route (all but MP_REACH_NLRI and
/// MP_UNREACH_NLRI, which an [`Update`](super::Update) carries beside
/// them): what many prefixes share and the decision process compares.
///
/// Absent attributes are `None`, `false` or empty lists (COMMUNITIES,
/// CLUSTER_LIST and the other list attributes may not be empty on the
/// wire, RFC 7606).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct PathAttrs {
    /// ORIGIN.
    pub origin: Option<Origin>,
    /// AS_PATH (`Some` of an empty path is a present, empty AS_PATH).
    pub as_path: Option<AsPath>,
    /// NEXT_HOP (IPv4 NLRI in the UPDATE's own NLRI field).
    pub next_hop: Option<Ipv4Addr>,
    /// MULTI_EXIT_DISC.
    pub med: Option<u32>,
    /// LOCAL_PREF.
    pub local_pref: Option<u32>,
    /// ATOMIC_AGGREGATE.
    pub atomic_aggregate: bool,
    /// AGGREGATOR.
    pub aggregator: Option<Aggregator>,
    /// COMMUNITIES (RFC 1997).
    pub communities: Vec<Community>,
    /// ORIGINATOR_ID (RFC 4456).
    pub originator_id: Option<Ipv4Addr>,
    /// CLUSTER_LIST (RFC 4456).
    pub cluster_list: Vec<Ipv4Addr>,
    /// EXTENDED COMMUNITIES (RFC 4360).
    pub ext_communities: Vec<ExtCommunity>,
    /// AS4_PATH (RFC 6793): only on sessions without 4-octet AS numbers;
    /// see [`PathAttrs::reconstruct_as4`] and [`PathAttrs::add_as4`].
    pub as4_path: Option<AsPath>,
    /// AS4_AGGREGATOR (RFC 6793), same.
    pub as4_aggregator: Option<Aggregator>,
    /// LARGE_COMMUNITY (RFC 8092).
    pub large_communities: Vec<LargeCommunity>,
    /// Attributes of other types, in the order received.
    pub unknown: Vec<RawAttr>,
    /// Known optional transitive attributes (AGGREGATOR, COMMUNITIES,
    /// EXTENDED_COMMUNITIES, AS4_PATH, AS4_AGGREGATOR, LARGE_COMMUNITY)
    /// that arrived with the Partial bit, which must stay set when they are
    /// passed on (RFC 4271 section 5). Ignored for absent attributes.
    pub partial: AttrTypeSet,
}

/// A malformed attribute: why (the action follows from its type).
pub(crate) type Fault = &'static str;

fn u32_of(v: &[u8]) -> Option<u32> {
    let a: [u8; 4] = v.try_into().ok()?;
    Some(u32::from_be_bytes(a))
}

fn list<T, const N: usize>(v: &[u8], f: impl Fn([u8; N]) -> T) -> Option<Vec<T>> {
    if v.is_empty() || !v.len().is_multiple_of(N) {
        return None;
    }
    Some(
        v.chunks_exact(N)
            .filter_map(|c| <[u8; N]>::try_from(c).ok())
            .map(f)
            .collect(),
    )
}

fn aggregator(v: &[u8], four_octet: bool) -> Option<Aggregator> {
    let w = if four_octet { 4 } else { 2 };
    if v.len() != w + 4 {
        return None;
    }
    let (asn, addr) = v.split_at(w);
    Some(Aggregator {
        asn: asn.iter().fold(0u32, |x, &b| x << 8 | u32::from(b)),
        address: Ipv4Addr::from(u32_of(addr)?),
    })
}

impl PathAttrs {
    /// Decodes the value of a known attribute (flags already checked) into
    /// `self`. A malformed value leaves `self` as it was.
    pub(crate) fn parse_known(
        &mut self,
        t: AttrType,
        flags: u8,
        v: &[u8],
        ctx: &Ctx,
    ) -> Result<(), Fault> {
        match t {
            AttrType::ORIGIN => {
                self.origin = Some(match v {
                    [0] => Origin::Igp,
                    [1] => Origin::Egp,
                    [2] => Origin::Incomplete,
                    [_] => return Err("undefined ORIGIN value"),
                    _ => return Err("ORIGIN length is not 1"),
                })
            }
            AttrType::AS_PATH => self.as_path = Some(AsPath::parse(v, ctx.four_octet_as)?),
            AttrType::NEXT_HOP => {
                self.next_hop = Some(Ipv4Addr::from(u32_of(v).ok_or("NEXT_HOP length is not 4")?))
            }
            AttrType::MULTI_EXIT_DISC => {
                self.med = Some(u32_of(v).ok_or("MULTI_EXIT_DISC length is not 4")?)
            }
            AttrType::LOCAL_PREF => {
                self.local_pref = Some(u32_of(v).ok_or("LOCAL_PREF length is not 4")?)
            }
            AttrType::ATOMIC_AGGREGATE => {
                if !v.is_empty() {
                    return Err("ATOMIC_AGGREGATE length is not 0");
                }
                self.atomic_aggregate = true;
            }
            AttrType::AGGREGATOR => {
                self.aggregator = Some(aggregator(v, ctx.four_octet_as).ok_or(
                    if ctx.four_octet_as {
                        "AGGREGATOR length is not 8"
                    } else {
                        "AGGREGATOR length is not 6"
                    },
                )?)
            }
            AttrType::COMMUNITIES => {
                self.communities = list(v, |a| Community(u32::from_be_bytes(a)))
                    .ok_or("COMMUNITIES length is not a non-zero multiple of 4")?
            }
            AttrType::ORIGINATOR_ID => {
                self.originator_id = Some(Ipv4Addr::from(
                    u32_of(v).ok_or("ORIGINATOR_ID length is not 4")?,
                ))
            }
            AttrType::CLUSTER_LIST => {
                self.cluster_list = list(v, Ipv4Addr::from)
                    .ok_or("CLUSTER_LIST length is not a non-zero multiple of 4")?
            }
            AttrType::EXTENDED_COMMUNITIES => {
                self.ext_communities = list(v, ExtCommunity)
                    .ok_or("EXTENDED_COMMUNITIES length is not a non-zero multiple of 8")?
            }
            AttrType::AS4_PATH => {
                if ctx.four_octet_as {
                    return Err("AS4_PATH from a 4-octet AS speaker");
                }
                let p = AsPath::parse(v, true)?;
                if p.segments.is_empty() {
                    return Err("empty AS4_PATH");
                }
                if p.segments.iter().any(|s| s.kind.is_confed()) {
                    return Err("confederation segment in AS4_PATH");
                }
                self.as4_path = Some(p);
            }
            AttrType::AS4_AGGREGATOR => {
                if ctx.four_octet_as {
                    return Err("AS4_AGGREGATOR from a 4-octet AS speaker");
                }
                self.as4_aggregator =
                    Some(aggregator(v, true).ok_or("AS4_AGGREGATOR length is not 8")?)
            }
            AttrType::LARGE_COMMUNITY => {
                self.large_communities = list(v, |a: [u8; 12]| {
                    let w = |i: usize| a.get(i..i + 4).and_then(u32_of).unwrap_or_default();
                    LargeCommunity::new(w(0), w(4), w(8))
                })
                .ok_or("LARGE_COMMUNITY length is not a non-zero multiple of 12")?
            }
            _ => return Err("not a known attribute"),
        }
        if flags & FLAG_PARTIAL != 0 && expected_flags(t) == Some(OPT_TRANS) {
            self.partial.insert(t);
        }
        Ok(())
    }

    /// Whether no attribute is present.
    pub fn is_empty(&self) -> bool {
        *self
            == PathAttrs {
                partial: self.partial,
                ..PathAttrs::default()
            }
    }

    fn opt_trans(&self, t: AttrType) -> u8 {
        if self.partial.contains(t) {
            OPT_TRANS | FLAG_PARTIAL
        } else {
            OPT_TRANS
        }
    }

    /// Appends the encoded attributes, ascending by type, then the
    /// unknown ones in their order. AS numbers take two or four octets as
    /// `ctx` says (in two, those that do not fit become [`AS_TRANS`]; see
    /// [`PathAttrs::add_as4`]).
    pub fn emit(&self, ctx: &Ctx, out: &mut Vec<u8>) -> Result<(), EmitError> {
        let start = out.len();
        let r = self.emit_inner(ctx, out);
        if r.is_err() {
            out.truncate(start);
        }
        r
    }

    fn emit_inner(&self, ctx: &Ctx, out: &mut Vec<u8>) -> Result<(), EmitError> {
        let four = ctx.four_octet_as;
        if let Some(o) = self.origin {
            attr_header(out, WELL_KNOWN, AttrType::ORIGIN, 1)?;
            out.push(o as u8);
        }
        if let Some(p) = &self.as_path {
            attr_header(out, WELL_KNOWN, AttrType::AS_PATH, p.wire_len(four))?;
            p.emit(four, out);
        }
        if let Some(nh) = self.next_hop {
            attr_header(out, WELL_KNOWN, AttrType::NEXT_HOP, 4)?;
            out.extend_from_slice(&nh.octets());
        }
        if let Some(m) = self.med {
            attr_header(out, OPT_NON_TRANS, AttrType::MULTI_EXIT_DISC, 4)?;
            out.extend_from_slice(&m.to_be_bytes());
        }
        if let Some(lp) = self.local_pref {
            attr_header(out, WELL_KNOWN, AttrType::LOCAL_PREF, 4)?;
            out.extend_from_slice(&lp.to_be_bytes());
        }
        if self.atomic_aggregate {
            attr_header(out, WELL_KNOWN, AttrType::ATOMIC_AGGREGATE, 0)?;
        }
        if let Some(a) = self.aggregator {
            let f = self.opt_trans(AttrType::AGGREGATOR);
            if four {
                attr_header(out, f, AttrType::AGGREGATOR, 8)?;
                out.extend_from_slice(&a.asn.to_be_bytes());
            } else {
                attr_header(out, f, AttrType::AGGREGATOR, 6)?;
                out.extend_from_slice(&super::aspath::as2(a.asn).to_be_bytes());
            }
            out.extend_from_slice(&a.address.octets());
        }
        if !self.communities.is_empty() {
            let f = self.opt_trans(AttrType::COMMUNITIES);
            attr_header(out, f, AttrType::COMMUNITIES, self.communities.len() * 4)?;
            for c in &self.communities {
                out.extend_from_slice(&c.0.to_be_bytes());
            }
        }
        if let Some(id) = self.originator_id {
            attr_header(out, OPT_NON_TRANS, AttrType::ORIGINATOR_ID, 4)?;
            out.extend_from_slice(&id.octets());
        }
        if !self.cluster_list.is_empty() {
            let len = self.cluster_list.len() * 4;
            attr_header(out, OPT_NON_TRANS, AttrType::CLUSTER_LIST, len)?;
            for id in &self.cluster_list {
                out.extend_from_slice(&id.octets());
            }
        }
        if !self.ext_communities.is_empty() {
            let f = self.opt_trans(AttrType::EXTENDED_COMMUNITIES);
            let len = self.ext_communities.len() * 8;
            attr_header(out, f, AttrType::EXTENDED_COMMUNITIES, len)?;
            for c in &self.ext_communities {
                out.extend_from_slice(&c.0);
            }
        }
        if let Some(p) = &self.as4_path {
            let f = self.opt_trans(AttrType::AS4_PATH);
            attr_header(out, f, AttrType::AS4_PATH, p.wire_len(true))?;
            p.emit(true, out);
        }
        if let Some(a) = self.as4_aggregator {
            let f = self.opt_trans(AttrType::AS4_AGGREGATOR);
            attr_header(out, f, AttrType::AS4_AGGREGATOR, 8)?;
            out.extend_from_slice(&a.asn.to_be_bytes());
            out.extend_from_slice(&a.address.octets());
        }
        if !self.large_communities.is_empty() {
            let f = self.opt_trans(AttrType::LARGE_COMMUNITY);
            let len = self.large_communities.len() * 12;
            attr_header(out, f, AttrType::LARGE_COMMUNITY, len)?;
            for c in &self.large_communities {
                out.extend_from_slice(&c.global.to_be_bytes());
                out.extend_from_slice(&c.local1.to_be_bytes());
                out.extend_from_slice(&c.local2.to_be_bytes());
            }
        }
        for r in &self.unknown {
            if expected_flags(r.type_code).is_some() {
                return Err(EmitError::Invalid {
                    what: "raw path attribute",
                    reason: "its type is one this crate encodes from PathAttrs fields",
                });
            }
            if r.flags & FLAG_OPTIONAL == 0 {
                return Err(EmitError::Invalid {
                    what: "raw path attribute",
                    reason: "an unknown well-known attribute resets the peer's session",
                });
            }
            attr_header(
                out,
                r.flags & !FLAG_EXTENDED_LENGTH & 0xf0,
                r.type_code,
                r.value.len(),
            )?;
            out.extend_from_slice(&r.value);
        }
        Ok(())
    }

    /// Receive side of RFC 6793 section 4.2.3, on a session without
    /// 4-octet AS numbers: folds AS4_AGGREGATOR into AGGREGATOR and
    /// AS4_PATH into AS_PATH, and removes both. If AGGREGATOR holds a real
    /// AS (not [`AS_TRANS`]), both AS4 attributes are ignored, as the RFC
    /// says.
    pub fn reconstruct_as4(&mut self) {
        let as4_path = self.as4_path.take();
        let as4_aggr = self.as4_aggregator.take();
        self.partial.remove(AttrType::AS4_PATH);
        self.partial.remove(AttrType::AS4_AGGREGATOR);
        if let Some(a) = self.aggregator {
            if a.asn != AS_TRANS {
                return;
            }
            if let Some(a4) = as4_aggr {
                self.aggregator = Some(a4);
            }
        }
        if let (Some(p), Some(p4)) = (&self.as_path, &as4_path) {
            self.as_path = Some(p.merge_as4(p4));
        }
    }

    /// Send side of RFC 6793 section 4.2.2, for a peer without 4-octet AS
    /// numbers: sets AS4_PATH and AS4_AGGREGATOR where AS_PATH and
    /// AGGREGATOR hold AS numbers that do not fit in two octets (emission
    /// in 2-octet mode then sends [`AS_TRANS`] in their place).
    pub fn add_as4(&mut self) {
        self.as4_path = self.as_path.as_ref().and_then(AsPath::to_as4_path);
        self.as4_aggregator = self.aggregator.filter(|a| a.asn > 0xffff);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_set() {
        let mut s = AttrTypeSet::default();
        assert!(s.is_empty());
        assert!(s.insert(AttrType(255)));
        assert!(!s.insert(AttrType(255)));
        assert!(s.insert(AttrType::ORIGIN));
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            vec![AttrType::ORIGIN, AttrType(255)]
        );
        s.remove(AttrType(255));
        assert!(!s.contains(AttrType(255)));
    }

    #[test]
    fn emit_known_with_flags() {
        let a = PathAttrs {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::sequence([65001])),
            next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
            med: Some(0),
            communities: vec![Community::NO_EXPORT],
            partial: {
                let mut p = AttrTypeSet::default();
                p.insert(AttrType::COMMUNITIES);
                p.insert(AttrType::ORIGIN); // not optional transitive: no effect
                p
            },
            ..PathAttrs::default()
        };
        let mut out = Vec::new();
        a.emit(&Ctx::new(true), &mut out).unwrap();
        #[rustfmt::skip]
        let want = [
            0x40, 1, 1, 0,                          // ORIGIN IGP
            0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9,     // AS_PATH 65001
            0x40, 3, 4, 192, 0, 2, 1,               // NEXT_HOP
            0x80, 4, 4, 0, 0, 0, 0,                 // MED 0
            0xe0, 8, 4, 0xff, 0xff, 0xff, 0x01,     // COMMUNITIES, partial
        ];
        assert_eq!(out, want);
    }

    #[test]
    fn raw_refused_when_known_or_well_known() {
        let mut a = PathAttrs::default();
        a.unknown.push(RawAttr {
            flags: 0x40,
            type_code: AttrType(99),
            value: vec![],
        });
        let mut out = vec![1];
        assert!(a.emit(&Ctx::default(), &mut out).is_err());
        assert_eq!(out, vec![1]);
        a.unknown[0] = RawAttr {
            flags: 0xc0,
            type_code: AttrType::ORIGIN,
            value: vec![0],
        };
        assert!(a.emit(&Ctx::default(), &mut out).is_err());
    }

    #[test]
    fn as4_fold_and_add() {
        let mut a = PathAttrs {
            as_path: Some(AsPath::sequence([65001, AS_TRANS])),
            aggregator: Some(Aggregator {
                asn: AS_TRANS,
                address: Ipv4Addr::new(10, 0, 0, 1),
            }),
            as4_path: Some(AsPath::sequence([4_200_000_000])),
            as4_aggregator: Some(Aggregator {
                asn: 4_200_000_000,
                address: Ipv4Addr::new(10, 0, 0, 1),
            }),
            ..PathAttrs::default()
        };
        let mut b = a.clone();
        b.reconstruct_as4();
        assert_eq!(b.as_path, Some(AsPath::sequence([65001, 4_200_000_000])));
        assert_eq!(b.aggregator.map(|a| a.asn), Some(4_200_000_000));
        assert_eq!(b.as4_path, None);
        b.add_as4();
        assert_eq!(b.as4_path, Some(AsPath::sequence([65001, 4_200_000_000])));
        assert_eq!(b.as4_aggregator.map(|a| a.asn), Some(4_200_000_000));

        // A real AS in AGGREGATOR: the AS4 attributes are ignored.
        a.aggregator = Some(Aggregator {
            asn: 65010,
            address: Ipv4Addr::new(10, 0, 0, 1),
        });
        a.reconstruct_as4();
        assert_eq!(a.as_path, Some(AsPath::sequence([65001, AS_TRANS])));
        assert_eq!(a.aggregator.map(|a| a.asn), Some(65010));
    }
}
