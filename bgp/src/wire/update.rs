//! UPDATE (RFC 4271 section 4.3) with the revised error handling of
//! RFC 7606.
//!
//! ```text
//! +-----------------------------------------------------+
//! |   Withdrawn Routes Length (2 octets)                |
//! +-----------------------------------------------------+
//! |   Withdrawn Routes (variable)                       |
//! +-----------------------------------------------------+
//! |   Total Path Attribute Length (2 octets)            |
//! +-----------------------------------------------------+
//! |   Path Attributes (variable)                        |
//! +-----------------------------------------------------+
//! |   Network Layer Reachability Information (variable) |
//! +-----------------------------------------------------+
//! ```
//!
//! [`parse_update`] decides, per RFC 7606, what a malformed UPDATE
//! costs:
//!
//! - **session reset** ([`UpdateError`], with the NOTIFICATION): the
//!   withdrawn-routes or total-attribute length overruns the message
//!   (Malformed Attribute List); a bad prefix length or truncated prefix in
//!   Withdrawn Routes or NLRI (Invalid Network Field); any malformed
//!   MP_REACH_NLRI / MP_UNREACH_NLRI, including its length overrunning the
//!   attributes and wrong flags (Optional Attribute Error, Attribute Length
//!   Error, Attribute Flags Error); MP_REACH_NLRI or MP_UNREACH_NLRI twice
//!   (Malformed Attribute List); a well-known attribute this code does not
//!   know (Unrecognized Well-known Attribute). Without these the NLRI can
//!   always be found, so treat-as-withdraw is possible everywhere else.
//! - **treat-as-withdraw** ([`Update::treat_as_withdraw`]): a malformed
//!   ORIGIN, AS_PATH, NEXT_HOP, MULTI_EXIT_DISC, LOCAL_PREF, COMMUNITIES,
//!   ORIGINATOR_ID, CLUSTER_LIST, EXTENDED_COMMUNITIES or LARGE_COMMUNITY
//!   (length, value, or Optional/Transitive flags in conflict with the
//!   type); a missing ORIGIN or AS_PATH when there is NLRI (field or
//!   MP_REACH_NLRI), a missing NEXT_HOP when the NLRI field is not empty;
//!   an attribute whose length overruns the path attributes, or a header
//!   cut short at their end (RFC 7606 section 4: the overrunning attribute
//!   is the last one, so no MP attribute can hide behind it).
//! - **attribute discard** (listed in [`Update::issues`]): a malformed
//!   ATOMIC_AGGREGATE, AGGREGATOR, AS4_PATH or AS4_AGGREGATOR; AS4_PATH
//!   and AS4_AGGREGATOR from a 4-octet speaker (RFC 6793); the second and
//!   later copies of any attribute other than the MP ones; unknown optional
//!   non-transitive attributes ("quietly ignored", RFC 4271).
//!
//! When several apply, the strongest wins. Semantic checks that need
//! session state (NEXT_HOP is our own address, first AS is the peer's,
//! LOCAL_PREF from an external peer) are the session's.

use super::attrs::{expected_flags, PathAttrs, RawAttr};
use super::codec::{begin_message, finish_message, fit_u16, patch_u16, takep, u16p};
use super::error::{AttrError, AttrIssue, EmitError, UpdateError, WireError};
use super::family::{Ctx, Family};
use super::mp::{MpNlri, MpReach, MpUnreach};
use super::prefix::{emit_nlri, parse_prefixes, Nlri4};
use super::registry::{subcode::update as sub, AttrType, MessageType};
use super::registry::{FLAG_EXTENDED_LENGTH, FLAG_OPTIONAL, FLAG_PARTIAL, FLAG_TRANSITIVE};

/// An UPDATE message.
///
/// After [`parse_update`], the lists hold what was received, `attrs` the
/// attributes that parsed, and `treat_as_withdraw` says that every NLRI of
/// the message (the NLRI field and MP_REACH_NLRI's) must be handled as
/// withdrawn. For emission `treat_as_withdraw` and `issues` are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Update {
    /// Withdrawn Routes (IPv4 unicast).
    pub withdrawn: Vec<Nlri4>,
    /// Path attributes but the MP ones.
    pub attrs: PathAttrs,
    /// MP_REACH_NLRI.
    pub mp_reach: Option<MpReach>,
    /// MP_UNREACH_NLRI.
    pub mp_unreach: Option<MpUnreach>,
    /// NLRI (IPv4 unicast).
    pub nlri: Vec<Nlri4>,
    /// RFC 7606 treat-as-withdraw applies.
    pub treat_as_withdraw: bool,
    /// Every attribute problem that did not reset the session, in order.
    pub issues: Vec<AttrIssue>,
}

fn is_mp(t: AttrType) -> bool {
    t == AttrType::MP_REACH_NLRI || t == AttrType::MP_UNREACH_NLRI
}

impl Update {
    /// The End-of-RIB marker of `family` (RFC 4724 section 2): an empty
    /// UPDATE for IPv4 unicast, an empty MP_UNREACH_NLRI otherwise.
    pub fn end_of_rib(family: Family) -> Update {
        Update {
            mp_unreach: (family != Family::IPV4_UNICAST).then(|| MpUnreach {
                family,
                withdrawn: MpNlri::empty(family),
            }),
            ..Update::default()
        }
    }

    /// The family whose End-of-RIB marker this is, if it is one.
    pub fn is_end_of_rib(&self) -> Option<Family> {
        if !self.withdrawn.is_empty()
            || !self.nlri.is_empty()
            || self.mp_reach.is_some()
            || !self.attrs.is_empty()
        {
            return None;
        }
        match &self.mp_unreach {
            None => Some(Family::IPV4_UNICAST),
            Some(m) if m.withdrawn.is_empty() => Some(m.family),
            Some(_) => None,
        }
    }

    /// Types of the attributes that were discarded (RFC 7606 attribute
    /// discard, duplicates, ignored unknown ones), for logging.
    pub fn discarded(&self) -> impl Iterator<Item = AttrType> + '_ {
        self.issues
            .iter()
            .filter(|i| i.action == AttrError::Discard)
            .map(|i| i.attr_type)
    }

    /// Whether the message announces anything (NLRI field or MP_REACH_NLRI
    /// NLRI), before treat-as-withdraw is applied.
    pub fn has_reachable(&self) -> bool {
        !self.nlri.is_empty() || self.mp_reach.as_ref().is_some_and(|r| !r.nlri.is_empty())
    }

    fn issue(&mut self, attr_type: AttrType, action: AttrError, reason: &'static str) {
        if action == AttrError::TreatAsWithdraw {
            self.treat_as_withdraw = true;
        }
        self.issues.push(AttrIssue {
            attr_type,
            action,
            reason,
        });
    }

    /// Parses an UPDATE body: same as [`parse_update`].
    pub fn parse(body: &[u8], ctx: &Ctx) -> Result<Update, UpdateError> {
        parse_update(body, ctx)
    }

    /// Appends the UPDATE body (everything after the header): the emit
    /// half of [`parse_update`]. MP_UNREACH_NLRI and MP_REACH_NLRI come
    /// first (RFC 7606 section 5.1), then [`PathAttrs::emit`]'s order.
    /// On error `out` is left as it was.
    pub fn emit_body(&self, ctx: &Ctx, out: &mut Vec<u8>) -> Result<(), EmitError> {
        let start = out.len();
        let r = self.emit_body_inner(ctx, out);
        if r.is_err() {
            out.truncate(start);
        }
        r
    }

    fn emit_body_inner(&self, ctx: &Ctx, out: &mut Vec<u8>) -> Result<(), EmitError> {
        let ap = ctx.add_path(Family::IPV4_UNICAST);
        let at = out.len();
        out.extend_from_slice(&[0, 0]);
        emit_nlri(&self.withdrawn, ap, out);
        let wlen = fit_u16("withdrawn routes", out.len() - at - 2)?;
        patch_u16(out, at, wlen);
        let at = out.len();
        out.extend_from_slice(&[0, 0]);
        if let Some(m) = &self.mp_unreach {
            m.emit(ctx, out)?;
        }
        if let Some(m) = &self.mp_reach {
            m.emit(ctx, out)?;
        }
        self.attrs.emit(ctx, out)?;
        let alen = fit_u16("path attributes", out.len() - at - 2)?;
        patch_u16(out, at, alen);
        emit_nlri(&self.nlri, ap, out);
        Ok(())
    }

    /// Appends the whole message; returns its length. A message over 4096
    /// octets is an error (use [`UpdateBuilder`](super::UpdateBuilder) to
    /// split many prefixes), and leaves `out` as it was.
    pub fn emit(&self, ctx: &Ctx, out: &mut Vec<u8>) -> Result<usize, EmitError> {
        let start = begin_message(out, MessageType::UPDATE);
        if let Err(e) = self.emit_body(ctx, out) {
            out.truncate(start);
            return Err(e);
        }
        finish_message(out, start)
    }
}

/// Parses the body of an UPDATE (the octets after the 19-octet header)
/// with the decode context of the session, applying RFC 7606 (see the
/// module documentation): `Err` means reset the session with the
/// NOTIFICATION inside; `Ok` may still say treat-as-withdraw and list
/// discarded attributes.
pub fn parse_update(body: &[u8], ctx: &Ctx) -> Result<Update, UpdateError> {
    let mal = |d: String| WireError::update(sub::MALFORMED_ATTRIBUTE_LIST, d);
    let (i, wlen) = u16p(body).map_err(|_| mal("UPDATE body shorter than 4 octets".into()))?;
    let (i, wbytes) = takep(usize::from(wlen))(i).map_err(|_| {
        mal(format!(
            "withdrawn routes length {wlen} overruns the message"
        ))
    })?;
    let (i, alen) = u16p(i).map_err(|_| {
        mal(format!(
            "withdrawn routes length {wlen} leaves no room for the path attribute length"
        ))
    })?;
    let (nlri, abytes) = takep(usize::from(alen))(i).map_err(|_| {
        mal(format!(
            "total path attribute length {alen} overruns the message"
        ))
    })?;

    let ap = ctx.add_path(Family::IPV4_UNICAST);
    let bad_net = |what: &str, e: super::prefix::NlriError| {
        WireError::update(sub::INVALID_NETWORK_FIELD, e.describe(what))
    };
    let mut u = Update::default();
    parse_prefixes(wbytes, ap, &mut u.withdrawn).map_err(|e| bad_net("withdrawn routes", e))?;
    parse_prefixes(nlri, ap, &mut u.nlri).map_err(|e| bad_net("NLRI", e))?;
    let seen = parse_attrs(abytes, ctx, &mut u)?;

    // RFC 7606 section 3 (d): missing well-known mandatory attributes.
    if u.has_reachable() {
        let missing = [
            (AttrType::ORIGIN, u.attrs.origin.is_none()),
            (AttrType::AS_PATH, u.attrs.as_path.is_none()),
            (
                AttrType::NEXT_HOP,
                !u.nlri.is_empty() && u.attrs.next_hop.is_none(),
            ),
        ];
        for (t, absent) in missing {
            if absent && !seen.contains(t) {
                u.issue(
                    t,
                    AttrError::TreatAsWithdraw,
                    "missing well-known mandatory attribute",
                );
            }
        }
    }
    Ok(u)
}

/// Parses the path attributes into `u`; returns the set of types seen.
fn parse_attrs(
    mut i: &[u8],
    ctx: &Ctx,
    u: &mut Update,
) -> Result<super::attrs::AttrTypeSet, UpdateError> {
    let mut seen = super::attrs::AttrTypeSet::default();
    while let Some((&flags, after_flags)) = i.split_first() {
        let ext = flags & FLAG_EXTENDED_LENGTH != 0;
        let hdr = if ext { 4 } else { 3 };
        let t = after_flags.first().map(|&t| AttrType(t));
        let len = match (ext, after_flags.get(1..)) {
            (true, Some([a, b, ..])) => Some(usize::from(u16::from_be_bytes([*a, *b]))),
            (false, Some([a, ..])) => Some(usize::from(*a)),
            _ => None,
        };
        let (t, len) = match (t, len) {
            (Some(t), Some(len)) => (t, len),
            (t, _) => {
                // RFC 7606 section 4: fewer octets left than a header.
                let t = t.unwrap_or_default();
                if is_mp(t) {
                    return Err(WireError::update(
                        sub::ATTRIBUTE_LENGTH_ERROR,
                        format!("{t:?} header truncated"),
                    )
                    .with_data(i));
                }
                u.issue(
                    t,
                    AttrError::TreatAsWithdraw,
                    "attribute header truncated at the end of the path attributes",
                );
                break;
            }
        };
        let (whole, rest) = match (i.get(..hdr + len), i.get(hdr + len..)) {
            (Some(w), Some(r)) => (w, r),
            _ => {
                if is_mp(t) {
                    return Err(WireError::update(
                        sub::ATTRIBUTE_LENGTH_ERROR,
                        format!("{t:?} length {len} overruns the path attributes"),
                    )
                    .with_data(i));
                }
                u.issue(
                    t,
                    AttrError::TreatAsWithdraw,
                    "attribute length overruns the path attributes",
                );
                break;
            }
        };
        let value = whole.get(hdr..).unwrap_or_default();
        i = rest;

        if !seen.insert(t) {
            if is_mp(t) {
                return Err(WireError::update(
                    sub::MALFORMED_ATTRIBUTE_LIST,
                    format!("{t:?} appears more than once"),
                ));
            }
            u.issue(
                t,
                AttrError::Discard,
                "repeated attribute: all but the first discarded",
            );
            continue;
        }

        let Some(want) = expected_flags(t) else {
            unknown(flags, t, value, whole, u)?;
            continue;
        };
        if flags & (FLAG_OPTIONAL | FLAG_TRANSITIVE) != want {
            malformed(
                u,
                t,
                "attribute flags in conflict with its type",
                sub::ATTRIBUTE_FLAGS_ERROR,
                whole,
            )?;
            continue;
        }
        match t {
            AttrType::MP_REACH_NLRI => {
                u.mp_reach = Some(MpReach::parse(value, ctx).map_err(|d| {
                    WireError::update(sub::OPTIONAL_ATTRIBUTE_ERROR, d).with_data(whole)
                })?)
            }
            AttrType::MP_UNREACH_NLRI => {
                u.mp_unreach = Some(MpUnreach::parse(value, ctx).map_err(|d| {
                    WireError::update(sub::OPTIONAL_ATTRIBUTE_ERROR, d).with_data(whole)
                })?)
            }
            _ => {
                if let Err(reason) = u.attrs.parse_known(t, flags, value, ctx) {
                    malformed(u, t, reason, sub::OPTIONAL_ATTRIBUTE_ERROR, whole)?;
                }
            }
        }
    }
    Ok(seen)
}

/// Applies the RFC 7606 class of a malformed known attribute.
fn malformed(
    u: &mut Update,
    t: AttrType,
    reason: &'static str,
    subcode: u8,
    whole: &[u8],
) -> Result<(), UpdateError> {
    match AttrError::for_malformed(t) {
        AttrError::SessionReset => {
            Err(WireError::update(subcode, format!("{t:?}: {reason}")).with_data(whole))
        }
        action => {
            u.issue(t, action, reason);
            Ok(())
        }
    }
}

/// An attribute of a type this code does not know (RFC 4271 section 5,
/// 6.3): well-known resets, optional transitive is kept with the Partial
/// bit, optional non-transitive is ignored.
fn unknown(
    flags: u8,
    t: AttrType,
    value: &[u8],
    whole: &[u8],
    u: &mut Update,
) -> Result<(), UpdateError> {
    if flags & FLAG_OPTIONAL == 0 {
        return Err(WireError::update(
            sub::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
            format!("unrecognized well-known attribute {t:?}"),
        )
        .with_data(whole));
    }
    if flags & FLAG_TRANSITIVE == 0 {
        u.issue(
            t,
            AttrError::Discard,
            "unrecognized optional non-transitive attribute ignored",
        );
        return Ok(());
    }
    u.attrs.unknown.push(RawAttr {
        flags: (flags | FLAG_PARTIAL) & 0xe0,
        type_code: t,
        value: value.to_vec(),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_of_rib() {
        let c = Ctx::new(true);
        let mut out = Vec::new();
        Update::end_of_rib(Family::IPV4_UNICAST)
            .emit(&c, &mut out)
            .unwrap();
        assert_eq!(out.len(), 23);
        let u = parse_update(&out[19..], &c).unwrap();
        assert_eq!(u.is_end_of_rib(), Some(Family::IPV4_UNICAST));

        let mut out = Vec::new();
        Update::end_of_rib(Family::IPV6_UNICAST)
            .emit_body(&c, &mut out)
            .unwrap();
        assert_eq!(out, [0, 0, 0, 6, 0x80, 15, 3, 0, 2, 1]);
        let u = parse_update(&out, &c).unwrap();
        assert_eq!(u.is_end_of_rib(), Some(Family::IPV6_UNICAST));
        assert!(!u.treat_as_withdraw);
    }
}
