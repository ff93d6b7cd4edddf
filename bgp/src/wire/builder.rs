//! Packing many prefixes that share one attribute set into as few UPDATE
//! messages as fit in 4096 octets.
//!
//! [`UpdateBuilder`] encodes the attributes once; each message then costs
//! a header, a copy of those octets, and the prefixes. Messages are written
//! straight into the caller's buffer: a `&mut [u8]` one message at a time
//! ([`UpdateBuilder::write_announce`]), or appended to a `Vec<u8>`
//! ([`UpdateBuilder::announce`]). Withdrawals need no attributes
//! ([`UpdateBuilder::withdraw`]).
//!
//! IPv4 unicast goes in the UPDATE's own NLRI field with NEXT_HOP; other
//! families (and IPv4 with an IPv6 next hop, RFC 8950) in MP_REACH_NLRI /
//! MP_UNREACH_NLRI, placed first, always with the Extended Length flag
//! (the length is written once the prefixes are in).

use super::attrs::PathAttrs;
use super::codec::{SliceWriter, MAX_MESSAGE_LEN};
use super::error::EmitError;
use super::family::{Ctx, Family};
use super::mp::MpNextHop;
use super::prefix::{write_prefix, Nlri, Prefix};
use super::registry::{AttrType, MessageType, FLAG_EXTENDED_LENGTH, FLAG_OPTIONAL};

/// Builds UPDATEs announcing prefixes of one family with one attribute
/// set.
#[derive(Debug, Clone)]
pub struct UpdateBuilder {
    ctx: Ctx,
    family: Family,
    /// The encoded path attributes (without MP ones).
    attrs: Vec<u8>,
    /// For MP families: AFI, SAFI, next hop length, next hop, reserved.
    mp_head: Option<Vec<u8>>,
}

fn mismatch() -> EmitError {
    EmitError::Invalid {
        what: "UPDATE builder",
        reason: "prefix type does not match the family",
    }
}

/// Writes as many prefixes as fit in `room` octets; returns how many.
fn fill<P: Prefix>(
    w: &mut SliceWriter<'_>,
    prefixes: &[Nlri<P>],
    add_path: bool,
    mut room: usize,
) -> Result<usize, EmitError> {
    let mut n = 0;
    for p in prefixes {
        let len = p.prefix.wire_len(add_path);
        if len > room {
            break;
        }
        write_prefix(p, add_path, w)?;
        room -= len;
        n += 1;
    }
    if n == 0 && !prefixes.is_empty() {
        return Err(EmitError::TooLong {
            what: "UPDATE with one prefix",
            length: MAX_MESSAGE_LEN + 1,
            max: MAX_MESSAGE_LEN,
        });
    }
    Ok(n)
}

/// The part of `buf` one message may use.
fn message_buf(buf: &mut [u8]) -> &mut [u8] {
    let n = buf.len().min(MAX_MESSAGE_LEN);
    buf.get_mut(..n).unwrap_or_default()
}

/// Runs `write_one` until all of `items` are in messages appended to
/// `out`; returns the number of messages. On error `out` is as it was.
fn append_all<T>(
    items: &[T],
    out: &mut Vec<u8>,
    mut write_one: impl FnMut(&[T], &mut [u8]) -> Result<(usize, usize), EmitError>,
) -> Result<usize, EmitError> {
    let start = out.len();
    let mut rest = items;
    let mut count = 0;
    while !rest.is_empty() {
        let at = out.len();
        out.resize(at + MAX_MESSAGE_LEN, 0);
        let r = write_one(rest, out.get_mut(at..).unwrap_or_default());
        match r {
            Ok((n, len)) => {
                out.truncate(at + len);
                rest = rest.get(n..).unwrap_or_default();
                count += 1;
            }
            Err(e) => {
                out.truncate(start);
                return Err(e);
            }
        }
    }
    Ok(count)
}

impl UpdateBuilder {
    /// A builder for IPv4 unicast prefixes in the NLRI field; `attrs` must
    /// carry NEXT_HOP.
    pub fn ipv4_unicast(attrs: &PathAttrs, ctx: &Ctx) -> Result<UpdateBuilder, EmitError> {
        if attrs.next_hop.is_none() {
            return Err(EmitError::Invalid {
                what: "UPDATE builder",
                reason: "IPv4 unicast NLRI need a NEXT_HOP attribute",
            });
        }
        let mut enc = Vec::new();
        attrs.emit(ctx, &mut enc)?;
        Ok(UpdateBuilder {
            ctx: *ctx,
            family: Family::IPV4_UNICAST,
            attrs: enc,
            mp_head: None,
        })
    }

    /// A builder for prefixes of `family` (IPv4/IPv6 unicast/multicast) in
    /// MP_REACH_NLRI with `next_hop`. `attrs.next_hop` is sent if set
    /// (RFC 4760 lets the receiver ignore it), so leave it `None`.
    pub fn mp(
        family: Family,
        next_hop: &MpNextHop,
        attrs: &PathAttrs,
        ctx: &Ctx,
    ) -> Result<UpdateBuilder, EmitError> {
        let ok = match (family.afi, next_hop) {
            (_, MpNextHop::Other(_)) => false,
            (super::Afi::IPV6, MpNextHop::Ipv4(_)) => false,
            _ => family.is_prefix_family(),
        };
        if !ok {
            return Err(EmitError::Invalid {
                what: "UPDATE builder",
                reason: "not a prefix family, or a next hop it cannot use",
            });
        }
        let mut head = Vec::with_capacity(37);
        head.extend_from_slice(&family.afi.0.to_be_bytes());
        head.push(family.safi.0);
        head.push(next_hop.wire_len() as u8);
        next_hop.emit(&mut head);
        head.push(0);
        let mut enc = Vec::new();
        attrs.emit(ctx, &mut enc)?;
        Ok(UpdateBuilder {
            ctx: *ctx,
            family,
            attrs: enc,
            mp_head: Some(head),
        })
    }

    /// The family of the prefixes this builder announces.
    pub fn family(&self) -> Family {
        self.family
    }

    /// Writes one UPDATE into `buf` (at most 4096 octets of it) announcing
    /// as many of `prefixes`, from the start, as fit; returns `(prefixes
    /// written, message length)`. With no prefixes the message is an
    /// UPDATE with the attributes only.
    pub fn write_announce<P: Prefix>(
        &self,
        prefixes: &[Nlri<P>],
        buf: &mut [u8],
    ) -> Result<(usize, usize), EmitError> {
        if P::AFI != self.family.afi {
            return Err(mismatch());
        }
        let ap = self.ctx.add_path(self.family);
        let buf = message_buf(buf);
        let limit = buf.len();
        let mut w = SliceWriter::new(buf);
        w.begin_message(MessageType::UPDATE)?;
        w.put_u16(0)?;
        let alen_at = w.pos();
        w.put_u16(0)?;
        let n = match &self.mp_head {
            None => {
                w.put(&self.attrs)?;
                let alen = w.pos() - alen_at - 2;
                w.patch_u16(alen_at, alen as u16);
                let room = limit.saturating_sub(w.pos());
                fill(&mut w, prefixes, ap, room)?
            }
            Some(head) => {
                let mp_at = w.pos();
                w.put(&[
                    FLAG_OPTIONAL | FLAG_EXTENDED_LENGTH,
                    AttrType::MP_REACH_NLRI.0,
                    0,
                    0,
                ])?;
                w.put(head)?;
                let room = limit.saturating_sub(w.pos() + self.attrs.len());
                let n = fill(&mut w, prefixes, ap, room)?;
                let mp_len = w.pos() - mp_at - 4;
                w.patch_u16(mp_at + 2, mp_len as u16);
                w.put(&self.attrs)?;
                let alen = w.pos() - alen_at - 2;
                w.patch_u16(alen_at, alen as u16);
                n
            }
        };
        let len = w.finish_message()?;
        Ok((n, len))
    }

    /// Appends UPDATEs announcing all of `prefixes`, packed; returns the
    /// number of messages. On error `out` is left as it was.
    pub fn announce<P: Prefix>(
        &self,
        prefixes: &[Nlri<P>],
        out: &mut Vec<u8>,
    ) -> Result<usize, EmitError> {
        append_all(prefixes, out, |rest, buf| self.write_announce(rest, buf))
    }

    /// Writes one UPDATE into `buf` withdrawing as many of `prefixes` of
    /// `family` as fit: in Withdrawn Routes for IPv4 unicast, in
    /// MP_UNREACH_NLRI otherwise. Returns `(prefixes written, message
    /// length)`.
    pub fn write_withdraw<P: Prefix>(
        family: Family,
        prefixes: &[Nlri<P>],
        ctx: &Ctx,
        buf: &mut [u8],
    ) -> Result<(usize, usize), EmitError> {
        if P::AFI != family.afi || !family.is_prefix_family() {
            return Err(mismatch());
        }
        let ap = ctx.add_path(family);
        let buf = message_buf(buf);
        let limit = buf.len();
        let mut w = SliceWriter::new(buf);
        w.begin_message(MessageType::UPDATE)?;
        let n = if family == Family::IPV4_UNICAST {
            let wlen_at = w.pos();
            w.put_u16(0)?;
            let room = limit.saturating_sub(w.pos() + 2);
            let n = fill(&mut w, prefixes, ap, room)?;
            let wlen = w.pos() - wlen_at - 2;
            w.patch_u16(wlen_at, wlen as u16);
            w.put_u16(0)?;
            n
        } else {
            w.put_u16(0)?;
            let alen_at = w.pos();
            w.put_u16(0)?;
            w.put(&[
                FLAG_OPTIONAL | FLAG_EXTENDED_LENGTH,
                AttrType::MP_UNREACH_NLRI.0,
                0,
                0,
            ])?;
            w.put(&family.afi.0.to_be_bytes())?;
            w.put_u8(family.safi.0)?;
            let room = limit.saturating_sub(w.pos());
            let n = fill(&mut w, prefixes, ap, room)?;
            let alen = w.pos() - alen_at - 2;
            w.patch_u16(alen_at, alen as u16);
            w.patch_u16(alen_at + 4, (alen - 4) as u16);
            n
        };
        let len = w.finish_message()?;
        Ok((n, len))
    }

    /// Appends UPDATEs withdrawing all of `prefixes` of `family`; returns
    /// the number of messages. On error `out` is left as it was.
    pub fn withdraw<P: Prefix>(
        family: Family,
        prefixes: &[Nlri<P>],
        ctx: &Ctx,
        out: &mut Vec<u8>,
    ) -> Result<usize, EmitError> {
        append_all(prefixes, out, |rest, buf| {
            UpdateBuilder::write_withdraw(family, rest, ctx, buf)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use ipnetwork::{Ipv4Network, Ipv6Network};

    use super::*;
    use crate::wire::{parse_update, AsPath, MpNlri, Nlri4, Nlri6, Origin};

    fn attrs() -> PathAttrs {
        PathAttrs {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::sequence([65001])),
            next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
            ..PathAttrs::default()
        }
    }

    fn v4(n: u32) -> Vec<Nlri4> {
        (0..n)
            .map(|i| {
                Nlri::new(Ipv4Network::new(Ipv4Addr::from(0x0a00_0000 + (i << 8)), 24).unwrap())
            })
            .collect()
    }

    fn split(mut b: &[u8]) -> Vec<&[u8]> {
        let mut v = Vec::new();
        while !b.is_empty() {
            let n = crate::wire::frame(b).unwrap().unwrap();
            v.push(&b[..n]);
            b = &b[n..];
        }
        v
    }

    #[test]
    fn packs_ipv4() {
        let c = Ctx::new(true);
        let b = UpdateBuilder::ipv4_unicast(&attrs(), &c).unwrap();
        let p = v4(3000);
        let mut out = Vec::new();
        let msgs = b.announce(&p, &mut out).unwrap();
        // 23 + 20 attribute octets leave 4053 for 1013 /24s per message.
        assert_eq!(msgs, 3);
        let mut got = Vec::new();
        for m in split(&out) {
            assert!(m.len() <= 4096);
            let u = parse_update(&m[19..], &c).unwrap();
            assert_eq!(u.attrs, attrs());
            assert!(!u.treat_as_withdraw);
            got.extend(u.nlri);
        }
        assert_eq!(got, p);
        assert_eq!(split(&out)[0].len(), 43 + 1013 * 4);
    }

    #[test]
    fn packs_ipv6_and_withdraws() {
        let c = Ctx::new(true).with_add_path(Family::IPV6_UNICAST, true);
        let nh = MpNextHop::Ipv6 {
            global: "2001:db8::1".parse().unwrap(),
            link_local: Some("fe80::1".parse().unwrap()),
        };
        let mut a = attrs();
        a.next_hop = None;
        let b = UpdateBuilder::mp(Family::IPV6_UNICAST, &nh, &a, &c).unwrap();
        let p: Vec<Nlri6> = (0..1000u32)
            .map(|i| {
                let net =
                    Ipv6Network::new(((0x2001_0db8u128 << 96) | (u128::from(i) << 64)).into(), 64);
                Nlri::with_path_id(net.unwrap(), i)
            })
            .collect();
        let mut out = Vec::new();
        let msgs = b.announce(&p, &mut out).unwrap();
        assert_eq!(msgs, 4); // 13 octets a prefix, ~310 a message
        let mut got = Vec::new();
        for m in split(&out) {
            let u = parse_update(&m[19..], &c).unwrap();
            assert_eq!(u.attrs, a);
            let r = u.mp_reach.unwrap();
            assert_eq!(r.next_hop, nh);
            match r.nlri {
                MpNlri::Ipv6(v) => got.extend(v),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(got, p);

        let mut out = Vec::new();
        assert_eq!(
            UpdateBuilder::withdraw(Family::IPV6_UNICAST, &p, &c, &mut out).unwrap(),
            4
        );
        let mut got = Vec::new();
        for m in split(&out) {
            let u = parse_update(&m[19..], &c).unwrap();
            match u.mp_unreach.unwrap().withdrawn {
                MpNlri::Ipv6(v) => got.extend(v),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(got, p);

        let c4 = Ctx::new(false);
        let p4 = v4(2000);
        let mut out = Vec::new();
        assert_eq!(
            UpdateBuilder::withdraw(Family::IPV4_UNICAST, &p4, &c4, &mut out).unwrap(),
            2
        );
        let got: Vec<Nlri4> = split(&out)
            .iter()
            .flat_map(|m| parse_update(&m[19..], &c4).unwrap().withdrawn)
            .collect();
        assert_eq!(got, p4);
    }

    #[test]
    fn errors() {
        let c = Ctx::default();
        let mut a = attrs();
        a.next_hop = None;
        assert!(UpdateBuilder::ipv4_unicast(&a, &c).is_err());
        let b = UpdateBuilder::ipv4_unicast(&attrs(), &c).unwrap();
        let v6: Vec<Nlri6> = vec![Nlri::new("2001:db8::/32".parse().unwrap())];
        assert!(b.announce(&v6, &mut Vec::new()).is_err());
        // A buffer too small for one prefix.
        let mut small = [0u8; 40];
        assert!(b.write_announce(&v4(1), &mut small).is_err());
        let (n, len) = b.write_announce(&v4(1), &mut [0u8; 45]).unwrap();
        assert_eq!((n, len), (1, 45));
        // Attributes too big for any prefix.
        let mut huge = attrs();
        huge.communities = vec![crate::wire::Community(1); 1020];
        let b = UpdateBuilder::ipv4_unicast(&huge, &c).unwrap();
        let mut out = vec![7];
        assert!(b.announce(&v4(1), &mut out).is_err());
        assert_eq!(out, vec![7]);
        assert!(UpdateBuilder::mp(
            Family::IPV6_UNICAST,
            &MpNextHop::Ipv4(Ipv4Addr::LOCALHOST),
            &a,
            &c
        )
        .is_err());
    }
}
