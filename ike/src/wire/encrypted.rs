//! The Encrypted payload SK (RFC 7296 section 3.14) and the Encrypted
//! Fragment payload SKF (RFC 7383 section 2.5), kept encrypted: this layer
//! only splits and frames them; the crypto layer decrypts and encrypts.
//!
//! ```text
//! SK:  Next Payload(1) C RESERVED(1) Payload Length(2)
//!      IV | Encrypted IKE Payloads | Padding | Pad Length | ICV
//! SKF: Next Payload(1) C RESERVED(1) Payload Length(2)
//!      Fragment Number(2) Total Fragments(2)
//!      IV | Encrypted content | Padding | Pad Length | ICV
//! ```
//!
//! The Next Payload of SK names the first payload inside; so does that of
//! the first SKF fragment (it is zero in the others). For AEAD ciphers
//! (RFC 5282) the associated data is everything from the IKE header's first
//! octet to the last octet of the SK (or SKF) header: [`EncryptedView::aad`]
//! when receiving, the octets of [`encrypted_prefix`] or
//! [`fragment_prefix`] when sending.

use nom::number::complete::be_u16;
use nom::sequence::tuple;

use super::codec::{finish, fixed};
use super::error::WireError;
use super::header::{Header, HEADER_LEN};
use super::message::Message;
use super::payload::{Payload, GENERIC_HEADER_LEN};
use super::registry::PayloadType;

/// Length of the SK payload header (the generic payload header).
pub const SK_HEADER_LEN: usize = GENERIC_HEADER_LEN;
/// Length of the SKF payload header: generic header, Fragment Number and
/// Total Fragments.
pub const SKF_HEADER_LEN: usize = GENERIC_HEADER_LEN + 4;

/// An SK payload, still encrypted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SkPayload {
    /// Type of the first payload inside (the SK header's Next Payload).
    pub inner_first: PayloadType,
    /// IV, ciphertext, and ICV, as received.
    pub body: Vec<u8>,
}

impl SkPayload {
    pub(crate) fn from_body(inner_first: PayloadType, b: &[u8]) -> SkPayload {
        SkPayload {
            inner_first,
            body: b.to_vec(),
        }
    }
}

/// An SKF payload (one fragment), still encrypted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SkfPayload {
    /// Fragment Number, 1..=total_fragments.
    pub fragment_number: u16,
    /// Total Fragments, at least 1.
    pub total_fragments: u16,
    /// The Next Payload field: the inner first payload's type in fragment
    /// 1, [`PayloadType::NONE`] in the others (kept as received).
    pub inner_first: PayloadType,
    /// IV, ciphertext, and ICV, as received.
    pub body: Vec<u8>,
}

fn check_fragment(number: u16, total: u16) -> Result<(), WireError> {
    if total == 0 {
        return Err(WireError::InvalidValue {
            field: "SKF Total Fragments",
            value: 0,
            reason: "must be at least 1",
        });
    }
    if number == 0 || number > total {
        return Err(WireError::InvalidValue {
            field: "SKF Fragment Number",
            value: number.into(),
            reason: "must be 1..=Total Fragments",
        });
    }
    Ok(())
}

impl SkfPayload {
    /// Parses an SKF body; `next` is the generic header's Next Payload.
    pub fn parse(next: PayloadType, b: &[u8]) -> Result<SkfPayload, WireError> {
        let (body, (fragment_number, total_fragments)) =
            finish(fixed("SKF header", 4, tuple((be_u16, be_u16)), b))?;
        check_fragment(fragment_number, total_fragments)?;
        Ok(SkfPayload {
            fragment_number,
            total_fragments,
            inner_first: next,
            body: body.to_vec(),
        })
    }

    /// Appends the SKF body (Fragment Number, Total Fragments, body).
    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        check_fragment(self.fragment_number, self.total_fragments)?;
        out.extend_from_slice(&self.fragment_number.to_be_bytes());
        out.extend_from_slice(&self.total_fragments.to_be_bytes());
        out.extend_from_slice(&self.body);
        Ok(())
    }
}

/// Fragment Number and Total Fragments of an SKF payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fragment {
    /// Fragment Number, 1..=total.
    pub number: u16,
    /// Total Fragments.
    pub total: u16,
}

/// A received message whose last payload is SK or SKF, split for the
/// crypto layer. All slices borrow the received octets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedView<'a> {
    /// The IKE header.
    pub header: Header,
    /// Unencrypted payloads before the SK/SKF payload (usually none).
    pub before: Vec<Payload>,
    /// The SK/SKF Next Payload: the first inner payload's type (zero in
    /// SKF fragments other than the first).
    pub inner_first: PayloadType,
    /// For SKF: the fragment's number and the total.
    pub fragment: Option<Fragment>,
    /// Associated data for AEAD (RFC 5282): the message from the IKE
    /// header through the SK/SKF payload header.
    pub aad: &'a [u8],
    /// The encrypted body: IV, ciphertext (with padding and pad length),
    /// and ICV.
    pub body: &'a [u8],
    /// The whole message; for non-AEAD ciphers the ICV covers all of it but
    /// its last ICV-length octets.
    pub message: &'a [u8],
}

/// Parses a message and, if its last payload is SK or SKF, returns its
/// parts for decryption; `Ok(None)` if it has no encrypted payload.
pub fn parse_encrypted(bytes: &[u8]) -> Result<Option<EncryptedView<'_>>, WireError> {
    let mut msg = Message::parse(bytes)?;
    let (inner_first, fragment, body_len) = match msg.payloads.last() {
        Some(Payload::Sk(sk)) => (sk.inner_first, None, sk.body.len()),
        Some(Payload::Skf(f)) => (
            f.inner_first,
            Some(Fragment {
                number: f.fragment_number,
                total: f.total_fragments,
            }),
            f.body.len(),
        ),
        _ => return Ok(None),
    };
    msg.payloads.pop();
    let split = bytes
        .len()
        .checked_sub(body_len)
        .ok_or(WireError::BadLength {
            field: "Encrypted payload",
            value: body_len,
            min: 0,
            max: bytes.len(),
        })?;
    let (aad, body) = bytes.split_at(split);
    Ok(Some(EncryptedView {
        header: msg.header,
        before: msg.payloads,
        inner_first,
        fragment,
        aad,
        body,
        message: bytes,
    }))
}

/// The first octets of a message made of `header` and one SK payload
/// whose body (IV, ciphertext, ICV) will be `body_len` octets: the IKE
/// header with Next Payload = SK and the final Length, then the SK header.
/// These octets are the AEAD associated data; append the body to get the
/// message.
pub fn encrypted_prefix(
    header: &Header,
    inner_first: PayloadType,
    body_len: usize,
) -> Result<Vec<u8>, WireError> {
    prefix(header, PayloadType::SK, inner_first, None, body_len)
}

/// Like [`encrypted_prefix`] for one SKF fragment (RFC 7383): the IKE
/// header, then the SKF header with Fragment Number and Total Fragments.
/// `inner_first` should be the inner first payload's type in fragment 1
/// and [`PayloadType::NONE`] in the others.
pub fn fragment_prefix(
    header: &Header,
    fragment: Fragment,
    inner_first: PayloadType,
    body_len: usize,
) -> Result<Vec<u8>, WireError> {
    check_fragment(fragment.number, fragment.total)?;
    prefix(
        header,
        PayloadType::SKF,
        inner_first,
        Some(fragment),
        body_len,
    )
}

fn prefix(
    header: &Header,
    kind: PayloadType,
    inner_first: PayloadType,
    fragment: Option<Fragment>,
    body_len: usize,
) -> Result<Vec<u8>, WireError> {
    let sk_header = if fragment.is_some() {
        SKF_HEADER_LEN
    } else {
        SK_HEADER_LEN
    };
    let payload_len = super::codec::fit_u16(
        "Encrypted Payload Length",
        sk_header.saturating_add(body_len),
    )?;
    let total = HEADER_LEN + usize::from(payload_len);
    let mut h = *header;
    h.next_payload = kind;
    h.length = u32::try_from(total).map_err(|_| WireError::TooLong {
        field: "IKE message",
        length: total,
        max: u32::MAX as usize,
    })?;
    let mut out = Vec::with_capacity(total);
    h.emit(&mut out);
    out.push(inner_first.0);
    out.push(0);
    out.extend_from_slice(&payload_len.to_be_bytes());
    if let Some(f) = fragment {
        out.extend_from_slice(&f.number.to_be_bytes());
        out.extend_from_slice(&f.total.to_be_bytes());
    }
    Ok(out)
}

/// A whole message of `header` and one SK payload with the given body.
pub fn emit_encrypted(
    header: &Header,
    inner_first: PayloadType,
    body: &[u8],
) -> Result<Vec<u8>, WireError> {
    let mut out = encrypted_prefix(header, inner_first, body.len())?;
    out.extend_from_slice(body);
    Ok(out)
}

/// A whole message of `header` and one SKF fragment with the given body.
pub fn emit_fragment(
    header: &Header,
    fragment: Fragment,
    inner_first: PayloadType,
    body: &[u8],
) -> Result<Vec<u8>, WireError> {
    let mut out = fragment_prefix(header, fragment, inner_first, body.len())?;
    out.extend_from_slice(body);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::header::Flags;
    use crate::wire::registry::ExchangeType;

    fn hdr() -> Header {
        Header::new(0x1111, 0x2222, ExchangeType::IKE_AUTH, Flags::INITIATOR, 1)
    }

    #[test]
    fn sk_prefix_and_view() {
        let body = vec![0xab; 60];
        let prefix = encrypted_prefix(&hdr(), PayloadType::IDI, body.len()).unwrap();
        assert_eq!(prefix.len(), HEADER_LEN + SK_HEADER_LEN);
        let msg = emit_encrypted(&hdr(), PayloadType::IDI, &body).unwrap();
        assert_eq!(msg.len(), 28 + 4 + 60);
        assert_eq!(&msg[24..28], &92u32.to_be_bytes());
        assert_eq!(msg[16], 46);
        assert_eq!(&msg[28..32], &[35, 0, 0, 64]);
        let v = parse_encrypted(&msg).unwrap().unwrap();
        assert_eq!(v.aad, &prefix[..]);
        assert_eq!(v.body, &body[..]);
        assert_eq!(v.inner_first, PayloadType::IDI);
        assert_eq!(v.fragment, None);
        assert!(v.before.is_empty());
        let m = Message::parse(&msg).unwrap();
        assert_eq!(m.emit().unwrap(), msg);
    }

    #[test]
    fn skf_prefix_and_view() {
        let f = Fragment {
            number: 2,
            total: 3,
        };
        let msg = emit_fragment(&hdr(), f, PayloadType::NONE, &[7; 33]).unwrap();
        assert_eq!(&msg[28..36], &[0, 0, 0, 41, 0, 2, 0, 3]);
        let v = parse_encrypted(&msg).unwrap().unwrap();
        assert_eq!(v.fragment, Some(f));
        assert_eq!(v.aad.len(), 36);
        assert_eq!(v.body, &[7; 33][..]);
        assert_eq!(Message::parse(&msg).unwrap().emit().unwrap(), msg);
        assert!(fragment_prefix(
            &hdr(),
            Fragment {
                number: 4,
                total: 3
            },
            PayloadType::NONE,
            1
        )
        .is_err());
        let mut bad = msg.clone();
        bad[33] = 0; // fragment number 0
        assert!(matches!(
            Message::parse(&bad),
            Err(WireError::InvalidValue {
                field: "SKF Fragment Number",
                ..
            })
        ));
        bad[33] = 2;
        bad[35] = 0; // total 0
        assert!(matches!(
            Message::parse(&bad),
            Err(WireError::InvalidValue {
                field: "SKF Total Fragments",
                ..
            })
        ));
    }

    #[test]
    fn too_long_body() {
        assert!(matches!(
            encrypted_prefix(&hdr(), PayloadType::IDI, 65532),
            Err(WireError::TooLong { .. })
        ));
        assert!(encrypted_prefix(&hdr(), PayloadType::IDI, 65531).is_ok());
    }

    #[test]
    fn no_encrypted_payload() {
        let m = Message::new(hdr(), vec![Payload::VendorId(vec![1])]);
        assert_eq!(parse_encrypted(&m.emit().unwrap()).unwrap(), None);
    }
}
