//! The Delete payload (RFC 7296 section 3.11).
//!
//! ```text
//! Protocol ID(1) SPI Size(1) Num of SPIs(2) SPIs(SPI Size * Num of SPIs)
//! ```

use nom::number::complete::{be_u16, be_u8};
use nom::sequence::tuple;

use super::codec::{all, fit_u16, fixed, take};
use super::error::WireError;
use super::registry::ProtocolId;

/// The body of a Delete payload.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeletePayload {
    /// Protocol ID: IKE (SPI Size 0, no SPIs), ESP or AH (SPI Size 4).
    pub protocol: ProtocolId,
    /// SPI Size, kept even when there are no SPIs.
    pub spi_size: u8,
    /// The SPIs, each `spi_size` octets.
    pub spis: Vec<Vec<u8>>,
}

impl DeletePayload {
    /// Deletes the IKE SA the message belongs to.
    pub fn ike() -> DeletePayload {
        DeletePayload {
            protocol: ProtocolId::IKE,
            spi_size: 0,
            spis: Vec::new(),
        }
    }

    /// Deletes ESP SAs by their (inbound, from the sender's view) SPIs.
    pub fn esp(spis: &[u32]) -> DeletePayload {
        DeletePayload {
            protocol: ProtocolId::ESP,
            spi_size: 4,
            spis: spis.iter().map(|s| s.to_be_bytes().to_vec()).collect(),
        }
    }

    /// The SPIs as u32 (those of four octets).
    pub fn spis_u32(&self) -> Vec<u32> {
        self.spis
            .iter()
            .filter_map(|s| {
                <[u8; 4]>::try_from(s.as_slice())
                    .ok()
                    .map(u32::from_be_bytes)
            })
            .collect()
    }

    /// Parses a Delete payload body.
    pub fn parse(b: &[u8]) -> Result<DeletePayload, WireError> {
        all("Delete SPIs", b, |b| {
            let (mut b, (protocol, spi_size, num)) =
                fixed("Delete header", 4, tuple((be_u8, be_u8, be_u16)), b)?;
            let mut spis = Vec::new();
            // An SPI Size of 0 with a non-zero count carries no octets.
            if spi_size > 0 {
                for _ in 0..num {
                    let (r, spi) = take("Delete SPI", usize::from(spi_size), b)?;
                    spis.push(spi.to_vec());
                    b = r;
                }
            } else if num != 0 {
                return super::codec::fail(WireError::InvalidValue {
                    field: "Delete Num of SPIs",
                    value: num.into(),
                    reason: "SPI Size 0 admits no SPIs",
                });
            }
            Ok((
                b,
                DeletePayload {
                    protocol: ProtocolId(protocol),
                    spi_size,
                    spis,
                },
            ))
        })
    }

    /// Appends the Delete payload body; every SPI must be `spi_size` long.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        out.push(self.protocol.0);
        out.push(self.spi_size);
        out.extend_from_slice(&fit_u16("Delete Num of SPIs", self.spis.len())?.to_be_bytes());
        for spi in &self.spis {
            if spi.len() != usize::from(self.spi_size) {
                return Err(WireError::InvalidValue {
                    field: "Delete SPI length",
                    value: spi.len() as u64,
                    reason: "every SPI must be SPI Size octets",
                });
            }
            out.extend_from_slice(spi);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let d = DeletePayload::esp(&[1, 0xffeeddcc]);
        let mut out = Vec::new();
        d.emit(&mut out).unwrap();
        assert_eq!(out, [3, 4, 0, 2, 0, 0, 0, 1, 0xff, 0xee, 0xdd, 0xcc]);
        let back = DeletePayload::parse(&out).unwrap();
        assert_eq!(back, d);
        assert_eq!(back.spis_u32(), vec![1, 0xffeeddcc]);
        let mut out = Vec::new();
        DeletePayload::ike().emit(&mut out).unwrap();
        assert_eq!(out, [1, 0, 0, 0]);
        assert_eq!(DeletePayload::parse(&out).unwrap(), DeletePayload::ike());
    }

    #[test]
    fn errors() {
        assert!(matches!(
            DeletePayload::parse(&[3, 4, 0, 2, 0, 0, 0, 1, 0xff]),
            Err(WireError::Truncated {
                field: "Delete SPI",
                needed: 4,
                available: 1
            })
        ));
        assert!(matches!(
            DeletePayload::parse(&[3, 4, 0, 0, 9]),
            Err(WireError::TrailingBytes { .. })
        ));
        assert!(matches!(
            DeletePayload::parse(&[1, 0, 0, 5]),
            Err(WireError::InvalidValue { .. })
        ));
        let bad = DeletePayload {
            protocol: ProtocolId::ESP,
            spi_size: 4,
            spis: vec![vec![1]],
        };
        assert!(bad.emit(&mut Vec::new()).is_err());
    }
}
