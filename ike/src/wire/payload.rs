//! The generic payload header, the [`Payload`] enum, and payload chains
//! (RFC 7296 section 3.2).
//!
//! ```text
//! Next Payload(1) C(1 bit) RESERVED(7 bits) Payload Length(2) Body...
//! ```

use nom::number::complete::{be_u16, be_u8};
use nom::sequence::tuple;

use super::codec::{body, finish, fixed, len16_placeholder, patch_len16, PResult};
use super::cp::CpPayload;
use super::delete::DeletePayload;
use super::encrypted::{SkPayload, SkfPayload};
use super::error::WireError;
use super::ident::{AuthPayload, CertPayload, IdPayload};
use super::kex::{KePayload, NoncePayload};
use super::notify::{NotifyPayload, NotifyType};
use super::registry::PayloadType;
use super::sa::SaPayload;
use super::ts::TsPayload;

/// Length of the generic payload header.
pub const GENERIC_HEADER_LEN: usize = 4;

/// The critical bit of the generic payload header.
const CRITICAL: u8 = 0x80;

/// One payload, with its body decoded.
///
/// The generic header is not kept: Next Payload is recomputed by the chain
/// emitter, the critical bit is sent as zero (RFC 7296 requires it for the
/// payload types it defines, and unknown types are only kept when it was
/// clear), and the length is computed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Payload {
    /// Security Association.
    Sa(SaPayload),
    /// Key Exchange.
    Ke(KePayload),
    /// Identification - Initiator.
    IdI(IdPayload),
    /// Identification - Responder.
    IdR(IdPayload),
    /// Certificate.
    Cert(CertPayload),
    /// Certificate Request.
    CertReq(CertPayload),
    /// Authentication.
    Auth(AuthPayload),
    /// Nonce.
    Nonce(NoncePayload),
    /// Notify.
    Notify(NotifyPayload),
    /// Delete.
    Delete(DeletePayload),
    /// Vendor ID (opaque).
    VendorId(Vec<u8>),
    /// Traffic Selector - Initiator.
    TsI(TsPayload),
    /// Traffic Selector - Responder.
    TsR(TsPayload),
    /// Encrypted and Authenticated (still encrypted). Must be last.
    Sk(SkPayload),
    /// Encrypted and Authenticated Fragment (still encrypted). Must be last.
    Skf(SkfPayload),
    /// Configuration.
    Cp(CpPayload),
    /// Extensible Authentication (the EAP message, opaque).
    Eap(Vec<u8>),
    /// A payload of a type this code does not parse, whose critical bit was
    /// clear: the SA layer skips it. `payload_type` must not be one of the
    /// types above, or re-parsing the emitted octets gives that variant.
    Unknown {
        /// Its type.
        payload_type: PayloadType,
        /// Its body, after the generic header.
        body: Vec<u8>,
    },
}

impl Payload {
    /// The payload's type, as the previous Next Payload field names it.
    pub fn payload_type(&self) -> PayloadType {
        match self {
            Payload::Sa(_) => PayloadType::SA,
            Payload::Ke(_) => PayloadType::KE,
            Payload::IdI(_) => PayloadType::IDI,
            Payload::IdR(_) => PayloadType::IDR,
            Payload::Cert(_) => PayloadType::CERT,
            Payload::CertReq(_) => PayloadType::CERTREQ,
            Payload::Auth(_) => PayloadType::AUTH,
            Payload::Nonce(_) => PayloadType::NONCE,
            Payload::Notify(_) => PayloadType::NOTIFY,
            Payload::Delete(_) => PayloadType::DELETE,
            Payload::VendorId(_) => PayloadType::VENDOR_ID,
            Payload::TsI(_) => PayloadType::TSI,
            Payload::TsR(_) => PayloadType::TSR,
            Payload::Sk(_) => PayloadType::SK,
            Payload::Skf(_) => PayloadType::SKF,
            Payload::Cp(_) => PayloadType::CP,
            Payload::Eap(_) => PayloadType::EAP,
            Payload::Unknown { payload_type, .. } => *payload_type,
        }
    }

    /// Whether this code decodes payloads of type `t` (others are kept as
    /// [`Payload::Unknown`] or refused when critical).
    pub fn is_known_type(t: PayloadType) -> bool {
        matches!(t.0, 33..=48) || t == PayloadType::SKF
    }

    /// Whether this is an SK or SKF payload.
    pub fn is_encrypted(&self) -> bool {
        matches!(self, Payload::Sk(_) | Payload::Skf(_))
    }

    /// The Notify body, if this is a Notify payload.
    pub fn as_notify(&self) -> Option<&NotifyPayload> {
        match self {
            Payload::Notify(n) => Some(n),
            _ => None,
        }
    }

    /// Decodes the body of a payload of type `t`. `next` is the generic
    /// header's Next Payload field, which for SK/SKF is the type of the
    /// first inner payload.
    fn parse_body(
        t: PayloadType,
        critical: bool,
        next: PayloadType,
        b: &[u8],
    ) -> Result<Payload, WireError> {
        Ok(match t {
            PayloadType::SA => Payload::Sa(SaPayload::parse(b)?),
            PayloadType::KE => Payload::Ke(KePayload::parse(b)?),
            PayloadType::IDI => Payload::IdI(IdPayload::parse(b)?),
            PayloadType::IDR => Payload::IdR(IdPayload::parse(b)?),
            PayloadType::CERT => Payload::Cert(CertPayload::parse(b)?),
            PayloadType::CERTREQ => Payload::CertReq(CertPayload::parse(b)?),
            PayloadType::AUTH => Payload::Auth(AuthPayload::parse(b)?),
            PayloadType::NONCE => Payload::Nonce(NoncePayload::parse(b)?),
            PayloadType::NOTIFY => Payload::Notify(NotifyPayload::parse(b)?),
            PayloadType::DELETE => Payload::Delete(DeletePayload::parse(b)?),
            PayloadType::VENDOR_ID => Payload::VendorId(b.to_vec()),
            PayloadType::TSI => Payload::TsI(TsPayload::parse(b)?),
            PayloadType::TSR => Payload::TsR(TsPayload::parse(b)?),
            PayloadType::SK => Payload::Sk(SkPayload::from_body(next, b)),
            PayloadType::SKF => Payload::Skf(SkfPayload::parse(next, b)?),
            PayloadType::CP => Payload::Cp(CpPayload::parse(b)?),
            PayloadType::EAP => Payload::Eap(b.to_vec()),
            _ if critical => return Err(WireError::UnsupportedCritical(t)),
            _ => Payload::Unknown {
                payload_type: t,
                body: b.to_vec(),
            },
        })
    }

    /// Appends the payload body (without the generic header).
    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        match self {
            Payload::Sa(p) => p.emit(out)?,
            Payload::Ke(p) => p.emit(out),
            Payload::IdI(p) | Payload::IdR(p) => p.emit(out),
            Payload::Cert(p) | Payload::CertReq(p) => p.emit(out),
            Payload::Auth(p) => p.emit(out),
            Payload::Nonce(p) => p.emit(out)?,
            Payload::Notify(p) => p.emit(out)?,
            Payload::Delete(p) => p.emit(out)?,
            Payload::TsI(p) | Payload::TsR(p) => p.emit(out)?,
            Payload::Sk(p) => out.extend_from_slice(&p.body),
            Payload::Skf(p) => p.emit_body(out)?,
            Payload::Cp(p) => p.emit(out)?,
            Payload::VendorId(b) | Payload::Eap(b) | Payload::Unknown { body: b, .. } => {
                out.extend_from_slice(b)
            }
        }
        Ok(())
    }

    /// Appends the payload with its generic header; `next` is the type of
    /// the payload that follows (ignored for SK/SKF, whose Next Payload is
    /// the inner first payload's type).
    pub fn emit(&self, next: PayloadType, out: &mut Vec<u8>) -> Result<(), WireError> {
        let start = out.len();
        let next = match self {
            Payload::Sk(p) => p.inner_first,
            Payload::Skf(p) => p.inner_first,
            _ => next,
        };
        out.push(next.0);
        out.push(0);
        let at = len16_placeholder(out);
        self.emit_body(out)?;
        patch_len16(out, at, start, "Payload Length")
    }
}

/// Reads one generic header and splits off the body: returns the rest,
/// the Next Payload field, the critical bit and the body.
fn generic(i: &[u8]) -> PResult<'_, (PayloadType, bool, &[u8])> {
    let (i, (next, flags, len)) = fixed(
        "generic payload header",
        GENERIC_HEADER_LEN,
        tuple((be_u8, be_u8, be_u16)),
        i,
    )?;
    let (rest, b) = body("Payload Length", usize::from(len), GENERIC_HEADER_LEN, i)?;
    Ok((rest, (PayloadType(next), flags & CRITICAL != 0, b)))
}

/// Parses a payload chain that starts with a payload of type `first` and
/// must fill `bytes` exactly. Used for the payloads after the IKE header and
/// for decrypted SK contents. An SK or SKF payload ends the chain (its Next
/// Payload names the inner first payload) and must be last.
pub fn parse_payloads(first: PayloadType, bytes: &[u8]) -> Result<Vec<Payload>, WireError> {
    let mut out = Vec::new();
    let mut next = first;
    let mut rest = bytes;
    while next != PayloadType::NONE {
        let (r, (np, critical, b)) = finish(generic(rest))?;
        let p = Payload::parse_body(next, critical, np, b)?;
        rest = r;
        next = if p.is_encrypted() {
            if !rest.is_empty() {
                return Err(WireError::PayloadAfterEncrypted {
                    encrypted: p.payload_type(),
                });
            }
            PayloadType::NONE
        } else {
            np
        };
        out.push(p);
    }
    if !rest.is_empty() {
        return Err(WireError::TrailingBytes {
            after: "last payload",
            count: rest.len(),
        });
    }
    Ok(out)
}

/// Parses decrypted SK contents (or reassembled SKF contents): like
/// [`parse_payloads`], but an SK or SKF inside is an error.
pub fn parse_decrypted(first: PayloadType, bytes: &[u8]) -> Result<Vec<Payload>, WireError> {
    let payloads = parse_payloads(first, bytes)?;
    if let Some(p) = payloads.iter().find(|p| p.is_encrypted()) {
        return Err(WireError::NestedEncrypted(p.payload_type()));
    }
    Ok(payloads)
}

/// Appends a payload chain, filling the Next Payload fields, and returns
/// the type of the first payload ([`PayloadType::NONE`] if there is none),
/// for the IKE header or the SK payload's Next Payload.
pub fn emit_payloads_into(
    payloads: &[Payload],
    out: &mut Vec<u8>,
) -> Result<PayloadType, WireError> {
    let mut iter = payloads.iter().peekable();
    while let Some(p) = iter.next() {
        let next = match iter.peek() {
            Some(_) if p.is_encrypted() => {
                return Err(WireError::PayloadAfterEncrypted {
                    encrypted: p.payload_type(),
                });
            }
            Some(n) => n.payload_type(),
            None => PayloadType::NONE,
        };
        p.emit(next, out)?;
    }
    Ok(payloads
        .first()
        .map_or(PayloadType::NONE, Payload::payload_type))
}

/// Emits a payload chain: the first payload's type and the octets. The
/// plaintext of an SK payload is made this way.
pub fn emit_payloads(payloads: &[Payload]) -> Result<(PayloadType, Vec<u8>), WireError> {
    let mut out = Vec::new();
    let first = emit_payloads_into(payloads, &mut out)?;
    Ok((first, out))
}

/// The Notify payloads of a chain.
pub fn notifies(payloads: &[Payload]) -> impl Iterator<Item = &NotifyPayload> {
    payloads.iter().filter_map(Payload::as_notify)
}

/// The first Notify of type `t` in a chain.
pub fn find_notify(payloads: &[Payload], t: NotifyType) -> Option<&NotifyPayload> {
    notifies(payloads).find(|n| n.notify_type == t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::registry::DhGroup;

    fn chain() -> Vec<Payload> {
        vec![
            Payload::Ke(KePayload {
                group: DhGroup::ECP_256,
                data: vec![4; 64],
            }),
            Payload::Nonce(NoncePayload { data: vec![1; 32] }),
            Payload::Unknown {
                payload_type: PayloadType(200),
                body: vec![1, 2, 3],
            },
            Payload::Notify(NotifyPayload::new(
                NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
                vec![],
            )),
            Payload::VendorId(b"rvpn".to_vec()),
        ]
    }

    #[test]
    fn chain_round_trip_and_next_fields() {
        let (first, bytes) = emit_payloads(&chain()).unwrap();
        assert_eq!(first, PayloadType::KE);
        assert_eq!(bytes[0], 40); // KE -> Nonce
        assert_eq!(&bytes[2..4], &[0, 72]);
        assert_eq!(parse_payloads(first, &bytes).unwrap(), chain());
        assert_eq!(
            find_notify(&chain(), NotifyType::IKEV2_FRAGMENTATION_SUPPORTED).map(|n| n.data.len()),
            Some(0)
        );
    }

    #[test]
    fn critical_unknown_is_refused() {
        let (first, mut bytes) = emit_payloads(&chain()).unwrap();
        // Find the unknown payload: after KE (72) and Nonce (36).
        bytes[72 + 36 + 1] = 0x80;
        assert_eq!(
            parse_payloads(first, &bytes),
            Err(WireError::UnsupportedCritical(PayloadType(200)))
        );
        let e = parse_payloads(first, &bytes).unwrap_err();
        assert_eq!(e.to_notify().data, vec![200]);
        // The critical bit of a known payload is ignored.
        bytes[72 + 36 + 1] = 0;
        bytes[1] = 0x80;
        assert!(parse_payloads(first, &bytes).is_ok());
    }

    #[test]
    fn chain_errors() {
        let (first, bytes) = emit_payloads(&chain()).unwrap();
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(matches!(
            parse_payloads(first, &extra),
            Err(WireError::TrailingBytes { .. })
        ));
        assert!(matches!(
            parse_payloads(first, &bytes[..bytes.len() - 1]),
            Err(WireError::BadLength { .. })
        ));
        let mut short = bytes.clone();
        short[3] = 3; // payload length below the generic header
        assert!(matches!(
            parse_payloads(first, &short),
            Err(WireError::BadLength { value: 3, .. })
        ));
        assert!(matches!(
            parse_payloads(PayloadType::SA, &[]),
            Err(WireError::Truncated { .. })
        ));
        assert_eq!(parse_payloads(PayloadType::NONE, &[]), Ok(vec![]));
    }

    #[test]
    fn encrypted_must_be_last() {
        let sk = Payload::Sk(SkPayload {
            inner_first: PayloadType::IDI,
            body: vec![0; 40],
        });
        let (first, bytes) = emit_payloads(&[Payload::VendorId(vec![1]), sk.clone()]).unwrap();
        assert_eq!(bytes[5], 35); // SK's Next Payload names the inner IDi
        let parsed = parse_payloads(first, &bytes).unwrap();
        assert_eq!(parsed[1], sk);
        assert!(matches!(
            emit_payloads(&[sk.clone(), Payload::VendorId(vec![1])]),
            Err(WireError::PayloadAfterEncrypted { .. })
        ));
        let (_, mut after) = emit_payloads(std::slice::from_ref(&sk)).unwrap();
        after.extend_from_slice(&[0, 0, 0, 4]);
        assert!(matches!(
            parse_payloads(PayloadType::SK, &after),
            Err(WireError::PayloadAfterEncrypted { .. })
        ));
        let (_, only) = emit_payloads(&[sk]).unwrap();
        assert_eq!(
            parse_decrypted(PayloadType::SK, &only),
            Err(WireError::NestedEncrypted(PayloadType::SK))
        );
    }
}
