//! The Security Association payload: proposals, transforms and transform
//! attributes (RFC 7296 section 3.3).
//!
//! ```text
//! Proposal:  Last Substruc(1) RESERVED(1) Proposal Length(2)
//!            Proposal Num(1) Protocol ID(1) SPI Size(1) #Transforms(1)
//!            SPI(SPI Size) Transforms...
//! Transform: Last Substruc(1) RESERVED(1) Transform Length(2)
//!            Transform Type(1) RESERVED(1) Transform ID(2) Attributes...
//! Attribute: AF(1 bit) Type(15 bits) then Value(2) if AF=1 (TV),
//!            else Length(2) Value(Length) (TLV)
//! ```

use std::fmt;

use nom::number::complete::{be_u16, be_u8};
use nom::sequence::tuple;

use super::codec::{all, body, fail, fit_u8, fixed, len16_placeholder, patch_len16, take, PResult};
use super::error::WireError;
use super::registry::{
    AttributeType, DhGroup, EncrId, EsnId, IntegId, PrfId, ProtocolId, TransformType,
};

/// Last Substruc value of a proposal that is followed by another.
const MORE_PROPOSALS: u8 = 2;
/// Last Substruc value of a transform that is followed by another.
const MORE_TRANSFORMS: u8 = 3;

/// A transform attribute (RFC 7296 section 3.3.5). The format (TV or TLV)
/// is kept so that re-emitting gives the same octets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Attribute {
    /// AF=1: a two-octet value in place of the length (e.g. Key Length).
    Tv {
        /// Attribute type, 15 bits.
        attr_type: AttributeType,
        /// The value.
        value: u16,
    },
    /// AF=0: a length and a variable value.
    Tlv {
        /// Attribute type, 15 bits.
        attr_type: AttributeType,
        /// The value.
        value: Vec<u8>,
    },
}

impl Attribute {
    /// The Key Length attribute (TV), in bits.
    pub fn key_length(bits: u16) -> Attribute {
        Attribute::Tv {
            attr_type: AttributeType::KEY_LENGTH,
            value: bits,
        }
    }

    /// The attribute's type.
    pub fn attr_type(&self) -> AttributeType {
        match self {
            Attribute::Tv { attr_type, .. } | Attribute::Tlv { attr_type, .. } => *attr_type,
        }
    }

    fn parse(i: &[u8]) -> PResult<'_, Attribute> {
        let (i, (raw_type, word)) =
            fixed("transform attribute header", 4, tuple((be_u16, be_u16)), i)?;
        let attr_type = AttributeType(raw_type & 0x7fff);
        if raw_type & 0x8000 != 0 {
            return Ok((
                i,
                Attribute::Tv {
                    attr_type,
                    value: word,
                },
            ));
        }
        let (i, value) = take("transform attribute value", usize::from(word), i)?;
        Ok((
            i,
            Attribute::Tlv {
                attr_type,
                value: value.to_vec(),
            },
        ))
    }

    fn emit(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        let t = self.attr_type().0;
        if t > 0x7fff {
            return Err(WireError::InvalidValue {
                field: "transform attribute type",
                value: t.into(),
                reason: "only 15 bits",
            });
        }
        match self {
            Attribute::Tv { value, .. } => {
                out.extend_from_slice(&(t | 0x8000).to_be_bytes());
                out.extend_from_slice(&value.to_be_bytes());
            }
            Attribute::Tlv { value, .. } => {
                out.extend_from_slice(&t.to_be_bytes());
                let len = super::codec::fit_u16("transform attribute value", value.len())?;
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(value);
            }
        }
        Ok(())
    }
}

/// A transform: a type, an ID within that type, and attributes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Transform {
    /// Transform Type.
    pub transform_type: TransformType,
    /// Transform ID, to be read in the registry of `transform_type`.
    pub id: u16,
    /// Attributes (usually none, or a Key Length).
    pub attributes: Vec<Attribute>,
}

impl Transform {
    /// An encryption transform, with a Key Length attribute if `key_bits`.
    pub fn encr(id: EncrId, key_bits: Option<u16>) -> Transform {
        Transform {
            transform_type: TransformType::ENCR,
            id: id.0,
            attributes: key_bits.map(Attribute::key_length).into_iter().collect(),
        }
    }

    /// A PRF transform.
    pub fn prf(id: PrfId) -> Transform {
        Transform::plain(TransformType::PRF, id.0)
    }

    /// An integrity transform.
    pub fn integ(id: IntegId) -> Transform {
        Transform::plain(TransformType::INTEG, id.0)
    }

    /// A Diffie-Hellman group (key exchange method) transform.
    pub fn dh(group: DhGroup) -> Transform {
        Transform::plain(TransformType::DH, group.0)
    }

    /// An ESN transform.
    pub fn esn(id: EsnId) -> Transform {
        Transform::plain(TransformType::ESN, id.0)
    }

    fn plain(transform_type: TransformType, id: u16) -> Transform {
        Transform {
            transform_type,
            id,
            attributes: Vec::new(),
        }
    }

    /// The Key Length attribute's value in bits, if there is one.
    pub fn key_length(&self) -> Option<u16> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Tv { attr_type, value } if *attr_type == AttributeType::KEY_LENGTH => {
                Some(*value)
            }
            _ => None,
        })
    }

    /// The ID as an encryption algorithm, if this is an ENCR transform.
    pub fn as_encr(&self) -> Option<EncrId> {
        (self.transform_type == TransformType::ENCR).then_some(EncrId(self.id))
    }

    /// The ID as a PRF, if this is a PRF transform.
    pub fn as_prf(&self) -> Option<PrfId> {
        (self.transform_type == TransformType::PRF).then_some(PrfId(self.id))
    }

    /// The ID as an integrity algorithm, if this is an INTEG transform.
    pub fn as_integ(&self) -> Option<IntegId> {
        (self.transform_type == TransformType::INTEG).then_some(IntegId(self.id))
    }

    /// The ID as a DH group, if this is a DH transform.
    pub fn as_dh(&self) -> Option<DhGroup> {
        (self.transform_type == TransformType::DH).then_some(DhGroup(self.id))
    }

    /// The ID as an ESN value, if this is an ESN transform.
    pub fn as_esn(&self) -> Option<EsnId> {
        (self.transform_type == TransformType::ESN).then_some(EsnId(self.id))
    }

    /// Parses one transform; returns whether another follows.
    fn parse(i: &[u8]) -> PResult<'_, (bool, Transform)> {
        let (i, (last, _, len, ttype, _, id)) = fixed(
            "transform header",
            8,
            tuple((be_u8, be_u8, be_u16, be_u8, be_u8, be_u16)),
            i,
        )?;
        let more = match last {
            0 => false,
            MORE_TRANSFORMS => true,
            v => {
                return fail(WireError::InvalidValue {
                    field: "transform Last Substruc",
                    value: v.into(),
                    reason: "must be 0 (last) or 3 (more)",
                })
            }
        };
        let (rest, attrs) = body("Transform Length", usize::from(len), 8, i)?;
        let attributes = all("transform attributes", attrs, |mut a| {
            let mut v = Vec::new();
            while !a.is_empty() {
                let (r, attr) = Attribute::parse(a)?;
                v.push(attr);
                a = r;
            }
            Ok((a, v))
        })
        .map_err(nom::Err::Failure)?;
        Ok((
            rest,
            (
                more,
                Transform {
                    transform_type: TransformType(ttype),
                    id,
                    attributes,
                },
            ),
        ))
    }

    fn emit(&self, last: bool, out: &mut Vec<u8>) -> Result<(), WireError> {
        let start = out.len();
        out.push(if last { 0 } else { MORE_TRANSFORMS });
        out.push(0);
        let at = len16_placeholder(out);
        out.push(self.transform_type.0);
        out.push(0);
        out.extend_from_slice(&self.id.to_be_bytes());
        for a in &self.attributes {
            a.emit(out)?;
        }
        patch_len16(out, at, start, "Transform Length")
    }
}

/// Short algorithm names for logs and mismatch messages, such as
/// `AES_GCM_16_256`, `HMAC_SHA2_256_128`, `PRF_HMAC_SHA2_256`, `CURVE25519`.
impl fmt::Display for Transform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.transform_type {
            TransformType::ENCR => EncrId(self.id)
                .name()
                .map(|n| n.trim_start_matches("ENCR_")),
            TransformType::PRF => PrfId(self.id).name(),
            TransformType::INTEG => IntegId(self.id)
                .name()
                .map(|n| n.trim_start_matches("AUTH_")),
            TransformType::DH => DhGroup(self.id).name(),
            TransformType::ESN => EsnId(self.id).name(),
            _ => None,
        };
        match name {
            Some(n) => f.write_str(n)?,
            None => write!(f, "{:?}:{}", self.transform_type, self.id)?,
        }
        if let Some(bits) = self.key_length() {
            write!(f, "_{bits}")?;
        }
        Ok(())
    }
}

/// A proposal: one protocol, an SPI, and the transforms offered for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Proposal {
    /// Proposal Num: 1, 2, ... in an offer; the chosen one's in a reply.
    pub number: u8,
    /// Protocol ID (IKE, AH or ESP).
    pub protocol: ProtocolId,
    /// The SPI: empty in an IKE_SA_INIT, 8 octets when rekeying an IKE SA,
    /// 4 octets for ESP/AH. Its length is the SPI Size field.
    pub spi: Vec<u8>,
    /// Transforms, in order.
    pub transforms: Vec<Transform>,
}

impl Proposal {
    /// A proposal with the given fields.
    pub fn new(
        number: u8,
        protocol: ProtocolId,
        spi: Vec<u8>,
        transforms: Vec<Transform>,
    ) -> Proposal {
        Proposal {
            number,
            protocol,
            spi,
            transforms,
        }
    }

    /// An ESP proposal with a four-octet SPI.
    pub fn esp(number: u8, spi: u32, transforms: Vec<Transform>) -> Proposal {
        Proposal::new(
            number,
            ProtocolId::ESP,
            spi.to_be_bytes().to_vec(),
            transforms,
        )
    }

    /// The SPI as a u32, if it is four octets (ESP, AH).
    pub fn spi_u32(&self) -> Option<u32> {
        <[u8; 4]>::try_from(self.spi.as_slice())
            .ok()
            .map(u32::from_be_bytes)
    }

    /// The SPI as a u64, if it is eight octets (IKE SA rekey).
    pub fn spi_u64(&self) -> Option<u64> {
        <[u8; 8]>::try_from(self.spi.as_slice())
            .ok()
            .map(u64::from_be_bytes)
    }

    /// The transforms of one type, in order.
    pub fn transforms_of(&self, t: TransformType) -> impl Iterator<Item = &Transform> {
        self.transforms
            .iter()
            .filter(move |x| x.transform_type == t)
    }

    /// Encryption algorithms offered, each with its key length.
    pub fn encrs(&self) -> Vec<(EncrId, Option<u16>)> {
        self.transforms
            .iter()
            .filter_map(|t| t.as_encr().map(|e| (e, t.key_length())))
            .collect()
    }

    /// PRFs offered.
    pub fn prfs(&self) -> Vec<PrfId> {
        self.transforms
            .iter()
            .filter_map(Transform::as_prf)
            .collect()
    }

    /// Integrity algorithms offered.
    pub fn integs(&self) -> Vec<IntegId> {
        self.transforms
            .iter()
            .filter_map(Transform::as_integ)
            .collect()
    }

    /// DH groups offered.
    pub fn dh_groups(&self) -> Vec<DhGroup> {
        self.transforms
            .iter()
            .filter_map(Transform::as_dh)
            .collect()
    }

    /// ESN values offered.
    pub fn esns(&self) -> Vec<EsnId> {
        self.transforms
            .iter()
            .filter_map(Transform::as_esn)
            .collect()
    }

    /// Parses one proposal; returns whether another follows.
    fn parse(i: &[u8]) -> PResult<'_, (bool, Proposal)> {
        let (i, (last, _, len, number, protocol, spi_size, count)) = fixed(
            "proposal header",
            8,
            tuple((be_u8, be_u8, be_u16, be_u8, be_u8, be_u8, be_u8)),
            i,
        )?;
        let more = match last {
            0 => false,
            MORE_PROPOSALS => true,
            v => {
                return fail(WireError::InvalidValue {
                    field: "proposal Last Substruc",
                    value: v.into(),
                    reason: "must be 0 (last) or 2 (more)",
                })
            }
        };
        let (rest, b) = body("Proposal Length", usize::from(len), 8, i)?;
        let (mut b, spi) = take("proposal SPI", usize::from(spi_size), b)?;
        let mut transforms = Vec::new();
        while !b.is_empty() {
            let (r, (more_t, t)) = Transform::parse(b)?;
            transforms.push(t);
            b = r;
            if more_t && b.is_empty() {
                return fail(WireError::InvalidValue {
                    field: "transform Last Substruc",
                    value: MORE_TRANSFORMS.into(),
                    reason: "announces another transform, none follows",
                });
            }
            if !more_t && !b.is_empty() {
                return fail(WireError::TrailingBytes {
                    after: "last transform",
                    count: b.len(),
                });
            }
        }
        if transforms.len() != usize::from(count) {
            return fail(WireError::CountMismatch {
                field: "proposal # of Transforms",
                declared: count.into(),
                found: transforms.len(),
            });
        }
        Ok((
            rest,
            (
                more,
                Proposal {
                    number,
                    protocol: ProtocolId(protocol),
                    spi: spi.to_vec(),
                    transforms,
                },
            ),
        ))
    }

    fn emit(&self, last: bool, out: &mut Vec<u8>) -> Result<(), WireError> {
        let start = out.len();
        out.push(if last { 0 } else { MORE_PROPOSALS });
        out.push(0);
        let at = len16_placeholder(out);
        out.push(self.number);
        out.push(self.protocol.0);
        out.push(fit_u8("proposal SPI", self.spi.len())?);
        out.push(fit_u8("proposal # of Transforms", self.transforms.len())?);
        out.extend_from_slice(&self.spi);
        let n = self.transforms.len();
        for (k, t) in self.transforms.iter().enumerate() {
            t.emit(k + 1 == n, out)?;
        }
        patch_len16(out, at, start, "Proposal Length")
    }
}

/// Transforms joined with `/`, e.g.
/// `AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE25519`.
impl fmt::Display for Proposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, t) in self.transforms.iter().enumerate() {
            if k > 0 {
                f.write_str("/")?;
            }
            write!(f, "{t}")?;
        }
        Ok(())
    }
}

/// The SA payload body: one or more proposals.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SaPayload {
    /// Proposals, in order.
    pub proposals: Vec<Proposal>,
}

impl SaPayload {
    /// An SA payload offering `proposals`.
    pub fn new(proposals: Vec<Proposal>) -> SaPayload {
        SaPayload { proposals }
    }

    /// Parses an SA payload body (after the generic payload header).
    pub fn parse(b: &[u8]) -> Result<SaPayload, WireError> {
        all("SA payload", b, |mut b| {
            let mut proposals = Vec::new();
            loop {
                let (r, (more, p)) = Proposal::parse(b)?;
                proposals.push(p);
                b = r;
                if !more {
                    if !b.is_empty() {
                        return fail(WireError::TrailingBytes {
                            after: "last proposal",
                            count: b.len(),
                        });
                    }
                    break;
                }
            }
            Ok((b, SaPayload { proposals }))
        })
    }

    /// Appends the SA payload body. Last Substruc fields are set here.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        let n = self.proposals.len();
        if n == 0 {
            return Err(WireError::InvalidValue {
                field: "SA payload proposal count",
                value: 0,
                reason: "an SA payload holds at least one proposal",
            });
        }
        for (k, p) in self.proposals.iter().enumerate() {
            p.emit(k + 1 == n, out)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ike_proposal() -> Proposal {
        Proposal::new(
            1,
            ProtocolId::IKE,
            vec![],
            vec![
                Transform::encr(EncrId::ENCR_AES_GCM_16, Some(256)),
                Transform::prf(PrfId::PRF_HMAC_SHA2_256),
                Transform::dh(DhGroup::CURVE25519),
            ],
        )
    }

    #[test]
    fn sa_bytes_and_round_trip() {
        let sa = SaPayload::new(vec![
            ike_proposal(),
            Proposal::esp(2, 0xc0ffee01, vec![Transform::esn(EsnId::NO_ESN)]),
        ]);
        let mut out = Vec::new();
        sa.emit(&mut out).unwrap();
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            // proposal 1: more follow, length 8 + 12 + 8 + 8 = 36
            2, 0, 0, 36, 1, 1, 0, 3,
            3, 0, 0, 12, 1, 0, 0, 20, 0x80, 14, 1, 0,
            3, 0, 0, 8, 2, 0, 0, 5,
            0, 0, 0, 8, 4, 0, 0, 31,
            // proposal 2: last, ESP, SPI size 4
            0, 0, 0, 20, 2, 3, 4, 1, 0xc0, 0xff, 0xee, 0x01,
            0, 0, 0, 8, 5, 0, 0, 0,
        ];
        assert_eq!(out, expected);
        let back = SaPayload::parse(&out).unwrap();
        assert_eq!(back, sa);
        assert_eq!(back.proposals[1].spi_u32(), Some(0xc0ffee01));
        assert_eq!(
            back.proposals[0].to_string(),
            "AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE25519"
        );
        assert_eq!(
            back.proposals[0].encrs(),
            vec![(EncrId::ENCR_AES_GCM_16, Some(256))]
        );
    }

    #[test]
    fn tlv_attribute_and_unknown_ids_survive() {
        let p = Proposal::new(
            7,
            ProtocolId(9),
            vec![1, 2, 3, 4, 5, 6, 7, 8],
            vec![Transform {
                transform_type: TransformType(77),
                id: 4242,
                attributes: vec![Attribute::Tlv {
                    attr_type: AttributeType(300),
                    value: vec![9, 9, 9],
                }],
            }],
        );
        let sa = SaPayload::new(vec![p]);
        let mut out = Vec::new();
        sa.emit(&mut out).unwrap();
        assert_eq!(SaPayload::parse(&out).unwrap(), sa);
    }

    fn bytes() -> Vec<u8> {
        let mut out = Vec::new();
        SaPayload::new(vec![ike_proposal()]).emit(&mut out).unwrap();
        out
    }

    #[test]
    fn bad_last_substruc() {
        let mut b = bytes();
        b[0] = 1;
        assert!(matches!(
            SaPayload::parse(&b),
            Err(WireError::InvalidValue {
                field: "proposal Last Substruc",
                value: 1,
                ..
            })
        ));
        let mut b = bytes();
        b[0] = 2; // announces another proposal that is not there
        assert!(matches!(
            SaPayload::parse(&b),
            Err(WireError::Truncated {
                field: "proposal header",
                ..
            })
        ));
        let mut b = bytes();
        b[28] = 3; // last transform says more follow
        assert!(matches!(
            SaPayload::parse(&b),
            Err(WireError::InvalidValue {
                field: "transform Last Substruc",
                value: 3,
                ..
            })
        ));
        let mut b = bytes();
        b[8] = 0; // first transform says it is the last
        assert!(matches!(
            SaPayload::parse(&b),
            Err(WireError::TrailingBytes {
                after: "last transform",
                ..
            })
        ));
    }

    #[test]
    fn bad_counts_and_lengths() {
        let mut b = bytes();
        b[7] = 4;
        assert!(matches!(
            SaPayload::parse(&b),
            Err(WireError::CountMismatch {
                declared: 4,
                found: 3,
                ..
            })
        ));
        let mut b = bytes();
        b[3] = 200;
        assert!(matches!(
            SaPayload::parse(&b),
            Err(WireError::BadLength {
                field: "Proposal Length",
                ..
            })
        ));
        let mut b = bytes();
        b[11] = 7; // transform length shorter than its header
        assert!(matches!(
            SaPayload::parse(&b),
            Err(WireError::BadLength {
                field: "Transform Length",
                ..
            })
        ));
        assert!(matches!(
            SaPayload::parse(&[]),
            Err(WireError::Truncated { .. })
        ));
        let mut b = bytes();
        b.push(0);
        assert!(matches!(
            SaPayload::parse(&b),
            Err(WireError::TrailingBytes { .. })
        ));
    }
}
