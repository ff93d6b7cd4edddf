//! OPEN (RFC 4271 section 4.2) with capabilities in optional parameters
//! (RFC 5492), including the extended optional parameters length of
//! RFC 9072 when they do not fit in 255 octets.
//!
//! ```text
//! +-----------+-----------+-----------+---------------+-----------+
//! | Version 1 | My AS (2) | Hold T. 2 | BGP Ident. (4)| OptLen 1  |
//! +-----------+-----------+-----------+---------------+-----------+
//! | Optional Parameters: type (1), length (1), value ...           |
//! +----------------------------------------------------------------+
//! ```

use std::net::Ipv4Addr;

use nom::sequence::tuple;

use super::aspath::as2;
use super::capability::{AddPathEntry, Capability};
use super::codec::{begin_message, finish_message, fit_u16, ipv4p, takep, u16p, u8p};
use super::error::{EmitError, WireError};
use super::family::{Ctx, Family};
use super::registry::{subcode, CapabilityCode, MessageType};

/// The BGP version this crate speaks.
pub const BGP_VERSION: u8 = 4;
/// Optional Parameter type of Capabilities (RFC 5492).
pub const OPT_PARAM_CAPABILITIES: u8 = 2;
/// Optional Parameter type that marks the extended length format (RFC
/// 9072).
pub const OPT_PARAM_EXTENDED_LENGTH: u8 = 255;

/// An OPEN message.
///
/// Capabilities from all Capabilities parameters are kept in one list, in
/// order; on emission they go into as few parameters as fit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Open {
    /// My Autonomous System: the sender's AS, or
    /// [`AS_TRANS`](super::AS_TRANS) if it needs four octets (see
    /// [`Open::asn`]).
    pub my_as: u16,
    /// Hold Time in seconds: 0, or 3 and more.
    pub hold_time: u16,
    /// BGP Identifier: non-zero.
    pub bgp_id: Ipv4Addr,
    /// Capabilities.
    pub capabilities: Vec<Capability>,
}

fn unspecific(detail: impl Into<String>) -> WireError {
    WireError::open(subcode::UNSPECIFIC, detail)
}

/// Parses optional parameters: `ext` says whether lengths are two octets.
fn parse_params(mut i: &[u8], ext: bool, caps: &mut Vec<Capability>) -> Result<(), WireError> {
    while !i.is_empty() {
        let (rest, t) = u8p(i).map_err(|_| unspecific("truncated optional parameter"))?;
        let (rest, len) = if ext {
            u16p(rest).map(|(r, l)| (r, usize::from(l)))
        } else {
            u8p(rest).map(|(r, l)| (r, usize::from(l)))
        }
        .map_err(|_| unspecific("truncated optional parameter"))?;
        let (rest, value) = takep(len)(rest).map_err(|_| {
            unspecific(format!(
                "optional parameter {t} of length {len} overruns the parameters"
            ))
        })?;
        if t != OPT_PARAM_CAPABILITIES {
            return Err(WireError::open(
                subcode::open::UNSUPPORTED_OPTIONAL_PARAMETER,
                format!("optional parameter type {t}"),
            ));
        }
        parse_caps(value, caps)?;
        i = rest;
    }
    Ok(())
}

fn parse_caps(mut v: &[u8], caps: &mut Vec<Capability>) -> Result<(), WireError> {
    while !v.is_empty() {
        let (rest, (code, len)) =
            tuple((u8p, u8p))(v).map_err(|_| unspecific("truncated capability header"))?;
        let code = CapabilityCode(code);
        let (rest, value) = takep(usize::from(len))(rest).map_err(|_| {
            unspecific(format!(
                "capability {code:?} of length {len} overruns its parameter"
            ))
        })?;
        caps.push(Capability::parse(code, value).map_err(unspecific)?);
        v = rest;
    }
    Ok(())
}

impl Open {
    /// An OPEN for AS `asn`: `my_as` is `asn` or AS_TRANS, and a 4-octet
    /// AS capability with `asn` is added unless `capabilities` has one.
    pub fn new(
        asn: u32,
        hold_time: u16,
        bgp_id: Ipv4Addr,
        mut capabilities: Vec<Capability>,
    ) -> Open {
        if !capabilities
            .iter()
            .any(|c| matches!(c, Capability::FourOctetAs(_)))
        {
            capabilities.push(Capability::FourOctetAs(asn));
        }
        Open {
            my_as: as2(asn),
            hold_time,
            bgp_id,
            capabilities,
        }
    }

    /// The AS of the 4-octet AS capability, if present.
    pub fn four_octet_as(&self) -> Option<u32> {
        self.capabilities.iter().find_map(|c| match c {
            Capability::FourOctetAs(a) => Some(*a),
            _ => None,
        })
    }

    /// The sender's AS: from the 4-octet AS capability, else My AS.
    pub fn asn(&self) -> u32 {
        self.four_octet_as().unwrap_or(self.my_as.into())
    }

    /// The families of the multiprotocol capabilities (RFC 4760 says a
    /// speaker without any speaks IPv4 unicast only).
    pub fn families(&self) -> impl Iterator<Item = Family> + '_ {
        self.capabilities.iter().filter_map(|c| match c {
            Capability::Multiprotocol(f) => Some(*f),
            _ => None,
        })
    }

    /// Whether any capability with `code` is present.
    pub fn has(&self, code: CapabilityCode) -> bool {
        self.capabilities.iter().any(|c| c.code() == code)
    }

    /// The ADD-PATH tuples, from all ADD-PATH capabilities.
    pub fn add_path(&self) -> impl Iterator<Item = &AddPathEntry> + '_ {
        self.capabilities.iter().flat_map(|c| match c {
            Capability::AddPath(v) => v.as_slice(),
            _ => &[],
        })
    }

    /// Parses an OPEN body (after the header). Errors are OPEN Message
    /// Errors: Unsupported Version Number (with the version we speak as
    /// data), Unacceptable Hold Time (1 or 2), Bad BGP Identifier (0),
    /// Unsupported Optional Parameter (other than capabilities), and
    /// Unspecific for malformed parameters or capabilities.
    pub fn parse(body: &[u8]) -> Result<Open, WireError> {
        let (rest, (version, my_as, hold_time, bgp_id, opt_len)) =
            tuple((u8p, u16p, u16p, ipv4p, u8p))(body)
                .map_err(|_| unspecific("OPEN body shorter than 10 octets"))?;
        if version != BGP_VERSION {
            return Err(WireError::open(
                subcode::open::UNSUPPORTED_VERSION_NUMBER,
                format!("version {version}, we speak {BGP_VERSION}"),
            )
            .with_data(u16::from(BGP_VERSION).to_be_bytes()));
        }
        if hold_time == 1 || hold_time == 2 {
            return Err(WireError::open(
                subcode::open::UNACCEPTABLE_HOLD_TIME,
                format!("hold time {hold_time}"),
            ));
        }
        if bgp_id.is_unspecified() {
            return Err(WireError::open(
                subcode::open::BAD_BGP_IDENTIFIER,
                "BGP identifier 0.0.0.0",
            ));
        }
        let mut capabilities = Vec::new();
        if opt_len == 255 && rest.first() == Some(&OPT_PARAM_EXTENDED_LENGTH) {
            let (params, (_, ext_len)) = tuple((u8p, u16p))(rest)
                .map_err(|_| unspecific("truncated extended optional parameters length"))?;
            if params.len() != usize::from(ext_len) {
                return Err(unspecific(format!(
                    "extended optional parameters length {ext_len}, {} octets follow",
                    params.len()
                )));
            }
            parse_params(params, true, &mut capabilities)?;
        } else {
            if rest.len() != usize::from(opt_len) {
                return Err(unspecific(format!(
                    "optional parameters length {opt_len}, {} octets follow",
                    rest.len()
                )));
            }
            parse_params(rest, false, &mut capabilities)?;
        }
        Ok(Open {
            my_as,
            hold_time,
            bgp_id,
            capabilities,
        })
    }

    /// Appends the whole message; returns its length.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<usize, EmitError> {
        let start = begin_message(out, MessageType::OPEN);
        if let Err(e) = self.emit_body(out) {
            out.truncate(start);
            return Err(e);
        }
        finish_message(out, start)
    }

    fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), EmitError> {
        out.push(BGP_VERSION);
        out.extend_from_slice(&self.my_as.to_be_bytes());
        out.extend_from_slice(&self.hold_time.to_be_bytes());
        out.extend_from_slice(&self.bgp_id.octets());

        // Each capability encoded, and where it ends.
        let mut caps = Vec::new();
        let mut ends = Vec::with_capacity(self.capabilities.len());
        for c in &self.capabilities {
            c.emit(&mut caps)?;
            ends.push(caps.len());
        }
        // Greedy packing into parameters of at most 255 octets.
        let mut params: Vec<&[u8]> = Vec::new();
        let (mut from, mut last) = (0, 0);
        for &end in &ends {
            if end - from > 255 && last > from {
                params.push(caps.get(from..last).unwrap_or_default());
                from = last;
            }
            last = end;
        }
        if last > from {
            params.push(caps.get(from..last).unwrap_or_default());
        }
        let total: usize = params.iter().map(|p| 2 + p.len()).sum();
        if total <= 255 {
            out.push(total as u8);
            for p in params {
                out.push(OPT_PARAM_CAPABILITIES);
                out.push(p.len() as u8);
                out.extend_from_slice(p);
            }
        } else {
            // RFC 9072: one Capabilities parameter with a 2-octet length.
            let cap_len = fit_u16("capabilities", caps.len())?;
            let ext_len = fit_u16("optional parameters", caps.len() + 3)?;
            out.extend_from_slice(&[255, OPT_PARAM_EXTENDED_LENGTH]);
            out.extend_from_slice(&ext_len.to_be_bytes());
            out.push(OPT_PARAM_CAPABILITIES);
            out.extend_from_slice(&cap_len.to_be_bytes());
            out.extend_from_slice(&caps);
        }
        Ok(())
    }
}

// Here rather than in family.rs, so that family.rs imports neither this
// file nor capability.rs: no two wire files import each other.
impl Ctx {
    /// The contexts that follow from our OPEN and the peer's: `(receive,
    /// send)`. Four-octet AS numbers when both sides advertise the
    /// capability; path identifiers from the peer for a family when we
    /// said we can receive and the peer said it can send, and the other way
    /// round for sending.
    pub fn negotiate(local: &Open, peer: &Open) -> (Ctx, Ctx) {
        let four = local.four_octet_as().is_some() && peer.four_octet_as().is_some();
        let mut rx = Ctx::new(four);
        let mut tx = Ctx::new(four);
        for (fam, ours) in add_path_modes(local) {
            for (pfam, theirs) in add_path_modes(peer) {
                if fam != pfam {
                    continue;
                }
                if ours.can_receive() && theirs.can_send() {
                    rx = rx.with_add_path(fam, true);
                }
                if ours.can_send() && theirs.can_receive() {
                    tx = tx.with_add_path(fam, true);
                }
            }
        }
        (rx, tx)
    }
}

fn add_path_modes(o: &Open) -> impl Iterator<Item = (Family, super::AddPathMode)> + '_ {
    o.capabilities.iter().flat_map(|c| match c {
        Capability::AddPath(v) => v.iter().map(|e| (e.family, e.mode)).collect(),
        _ => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::registry::AddPathMode;

    fn open() -> Open {
        Open::new(
            4_200_000_000,
            90,
            Ipv4Addr::new(192, 0, 2, 1),
            vec![
                Capability::Multiprotocol(Family::IPV4_UNICAST),
                Capability::RouteRefresh,
                Capability::AddPath(vec![AddPathEntry {
                    family: Family::IPV4_UNICAST,
                    mode: AddPathMode::RECEIVE,
                }]),
            ],
        )
    }

    #[test]
    fn round_trip_and_as_trans() {
        let o = open();
        assert_eq!(o.my_as, 23456);
        assert_eq!(o.asn(), 4_200_000_000);
        let mut out = Vec::new();
        let n = o.emit(&mut out).unwrap();
        assert_eq!(n, out.len());
        // One Capabilities parameter of 6 + 2 + 6 + 6 octets.
        assert_eq!(out[28], 22);
        assert_eq!(&out[29..31], &[2, 20]);
        assert_eq!(Open::parse(&out[19..]).unwrap(), o);
        assert_eq!(o.families().collect::<Vec<_>>(), vec![Family::IPV4_UNICAST]);
        assert!(o.has(CapabilityCode::ROUTE_REFRESH));
        assert_eq!(o.add_path().count(), 1);
    }

    #[test]
    fn extended_optional_parameters() {
        let mut o = open();
        for i in 0..60u8 {
            o.capabilities.push(Capability::Unknown {
                code: CapabilityCode(200),
                value: vec![i; 4],
            });
        }
        let mut out = Vec::new();
        o.emit(&mut out).unwrap();
        assert_eq!(&out[28..30], &[255, 255]);
        assert_eq!(Open::parse(&out[19..]).unwrap(), o);
        // A wrong extended length is refused.
        out[31] ^= 1;
        assert!(Open::parse(&out[19..]).is_err());
    }

    #[test]
    fn errors() {
        let mut out = Vec::new();
        open().emit(&mut out).unwrap();
        let body = out[19..].to_vec();
        let mut b = body.clone();
        b[0] = 3;
        let e = Open::parse(&b).unwrap_err();
        assert_eq!(e.subcode, subcode::open::UNSUPPORTED_VERSION_NUMBER);
        assert_eq!(e.data, vec![0, 4]);
        let mut b = body.clone();
        b[3..5].copy_from_slice(&[0, 2]);
        assert_eq!(
            Open::parse(&b).unwrap_err().subcode,
            subcode::open::UNACCEPTABLE_HOLD_TIME
        );
        let mut b = body.clone();
        b[5..9].copy_from_slice(&[0, 0, 0, 0]);
        assert_eq!(
            Open::parse(&b).unwrap_err().subcode,
            subcode::open::BAD_BGP_IDENTIFIER
        );
        let mut b = body.clone();
        b[10] = 1; // authentication parameter
        assert_eq!(
            Open::parse(&b).unwrap_err().subcode,
            subcode::open::UNSUPPORTED_OPTIONAL_PARAMETER
        );
        let mut b = body.clone();
        b[9] += 1;
        assert_eq!(Open::parse(&b).unwrap_err().subcode, subcode::UNSPECIFIC);
        assert!(Open::parse(&body[..9]).is_err());
    }
}
