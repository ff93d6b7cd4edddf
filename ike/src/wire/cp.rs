//! The Configuration payload (RFC 7296 section 3.15).
//!
//! ```text
//! Payload body: CFG Type(1) RESERVED(3) Configuration Attributes...
//! Attribute:    R(1 bit) Attribute Type(15 bits) Length(2) Value(Length)
//! ```

use std::net::Ipv4Addr;

use nom::bytes::complete::take as nom_take;
use nom::number::complete::{be_u16, be_u8};
use nom::sequence::tuple;

use super::codec::{all, fit_u16, fixed, take};
use super::error::WireError;
use super::registry::{CfgAttrType, CfgType};

/// One configuration attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CfgAttribute {
    /// Attribute Type (15 bits; the reserved bit is ignored on receipt).
    pub attr_type: CfgAttrType,
    /// Value; empty in a request for "any".
    pub value: Vec<u8>,
}

impl CfgAttribute {
    /// INTERNAL_IP4_ADDRESS with the given address.
    pub fn ipv4_address(a: Ipv4Addr) -> CfgAttribute {
        CfgAttribute {
            attr_type: CfgAttrType::INTERNAL_IP4_ADDRESS,
            value: a.octets().to_vec(),
        }
    }
}

/// The body of a CP payload.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CpPayload {
    /// CFG Type.
    pub cfg_type: CfgType,
    /// Attributes, in order.
    pub attributes: Vec<CfgAttribute>,
}

impl CpPayload {
    /// Parses a CP payload body.
    pub fn parse(b: &[u8]) -> Result<CpPayload, WireError> {
        all("CP attributes", b, |b| {
            let (mut b, (cfg_type, _)) =
                fixed("CP header", 4, tuple((be_u8, nom_take(3usize))), b)?;
            let mut attributes = Vec::new();
            while !b.is_empty() {
                let (r, (t, len)) = fixed("CP attribute header", 4, tuple((be_u16, be_u16)), b)?;
                let (r, value) = take("CP attribute value", usize::from(len), r)?;
                attributes.push(CfgAttribute {
                    attr_type: CfgAttrType(t & 0x7fff),
                    value: value.to_vec(),
                });
                b = r;
            }
            Ok((
                b,
                CpPayload {
                    cfg_type: CfgType(cfg_type),
                    attributes,
                },
            ))
        })
    }

    /// Appends the CP payload body.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        out.extend_from_slice(&[self.cfg_type.0, 0, 0, 0]);
        for a in &self.attributes {
            if a.attr_type.0 > 0x7fff {
                return Err(WireError::InvalidValue {
                    field: "CP Attribute Type",
                    value: a.attr_type.0.into(),
                    reason: "only 15 bits",
                });
            }
            out.extend_from_slice(&a.attr_type.0.to_be_bytes());
            out.extend_from_slice(&fit_u16("CP attribute value", a.value.len())?.to_be_bytes());
            out.extend_from_slice(&a.value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let cp = CpPayload {
            cfg_type: CfgType::CFG_REQUEST,
            attributes: vec![
                CfgAttribute {
                    attr_type: CfgAttrType::INTERNAL_IP4_ADDRESS,
                    value: vec![],
                },
                CfgAttribute::ipv4_address(Ipv4Addr::new(10, 1, 2, 3)),
            ],
        };
        let mut out = Vec::new();
        cp.emit(&mut out).unwrap();
        assert_eq!(out, [1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 4, 10, 1, 2, 3]);
        assert_eq!(CpPayload::parse(&out).unwrap(), cp);
        assert!(matches!(
            CpPayload::parse(&out[..14]),
            Err(WireError::Truncated {
                field: "CP attribute value",
                needed: 4,
                available: 2
            })
        ));
    }
}
