//! The fixed ESP header (RFC 4303 2): a small parse/emit pair.
//!
//! ```text
//!  0                   1                   2                   3
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |               Security Parameters Index (SPI)                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      Sequence Number                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |            IV, ciphertext, ICV ...
//! ```

use crate::error::EspError;
use crate::transform::ESP_HEADER_LEN;

/// Next header of an inner IPv4 packet (tunnel mode).
pub const NEXT_HEADER_IPV4: u8 = 4;
/// Next header of an inner IPv6 packet (tunnel mode).
pub const NEXT_HEADER_IPV6: u8 = 41;
/// Next header of a TFC dummy packet (RFC 4303 2.6), dropped on receipt.
pub const NEXT_HEADER_NONE: u8 = 59;
/// IP protocol number of ESP.
pub const IPPROTO_ESP: u8 = 50;

/// The fixed ESP header: SPI and the low 32 bits of the sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EspHeader {
    /// Security Parameters Index.
    pub spi: u32,
    /// Sequence number as sent (low 32 bits with ESN).
    pub seq: u32,
}

impl EspHeader {
    /// Length on the wire.
    pub const LEN: usize = ESP_HEADER_LEN;

    /// Reads the header from the start of `pkt`.
    pub fn parse(pkt: &[u8]) -> Result<Self, EspError> {
        match *pkt {
            [s0, s1, s2, s3, q0, q1, q2, q3, ..] => Ok(EspHeader {
                spi: u32::from_be_bytes([s0, s1, s2, s3]),
                seq: u32::from_be_bytes([q0, q1, q2, q3]),
            }),
            _ => Err(EspError::Truncated {
                len: pkt.len(),
                min: Self::LEN,
            }),
        }
    }

    /// Writes the header to the start of `out`.
    pub fn emit(&self, out: &mut [u8]) -> Result<(), EspError> {
        let available = out.len();
        let dst = out.get_mut(..Self::LEN).ok_or(EspError::BufferTooSmall {
            needed: Self::LEN,
            available,
        })?;
        let (spi, seq) = dst.split_at_mut(4);
        spi.copy_from_slice(&self.spi.to_be_bytes());
        seq.copy_from_slice(&self.seq.to_be_bytes());
        Ok(())
    }
}

/// The SPI of an ESP packet, to find its SA.
pub fn peek_spi(pkt: &[u8]) -> Result<u32, EspError> {
    EspHeader::parse(pkt).map(|h| h.spi)
}
