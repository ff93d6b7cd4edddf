//! UDP encapsulation of ESP for NAT traversal (RFC 3948).
//!
//! On port 4500 one socket carries three kinds of datagram, told apart by
//! their first bytes:
//!
//! - a single byte 0xFF: a NAT keepalive (RFC 3948 2.3), ignored;
//! - four zero bytes (the non-ESP marker, RFC 3948 2.2): an IKE message
//!   follows the marker;
//! - anything else: an ESP packet (the SPI is never 0), which is the whole
//!   UDP payload.

use crate::error::EspError;
use crate::wire::EspHeader;
use std::ops::Range;

/// The NAT-T port (RFC 3948, RFC 7296 2.23).
pub const NAT_T_PORT: u16 = 4500;
/// The non-ESP marker that precedes IKE messages on port 4500.
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];
/// The NAT keepalive datagram payload.
pub const NAT_KEEPALIVE: [u8; 1] = [0xFF];
/// Length of a UDP header.
pub const UDP_HEADER_LEN: usize = 8;

/// What a UDP payload received on port 4500 holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// An ESP packet: the whole payload.
    Esp,
    /// An IKE message: the payload after the 4-byte non-ESP marker.
    Ike,
    /// A NAT keepalive: drop it.
    Keepalive,
}

impl Kind {
    /// Where the ESP packet or IKE message starts in the UDP payload.
    pub const fn offset(self) -> usize {
        match self {
            Kind::Ike => NON_ESP_MARKER.len(),
            Kind::Esp | Kind::Keepalive => 0,
        }
    }
}

/// Tells ESP from IKE from a keepalive in a UDP payload from port 4500.
pub fn classify(payload: &[u8]) -> Result<Kind, EspError> {
    let len = payload.len();
    match payload {
        [0xFF] => Ok(Kind::Keepalive),
        [0, 0, 0, 0, ..] => Ok(Kind::Ike),
        _ if len >= EspHeader::LEN => Ok(Kind::Esp),
        _ => Err(EspError::Udp {
            what: "too short for ESP and neither keepalive nor non-ESP marker",
            len,
        }),
    }
}

/// The ESP packet or IKE message in a UDP payload from port 4500, with
/// its kind; `None` for a keepalive.
pub fn unwrap_payload(payload: &[u8]) -> Result<Option<(Kind, &[u8])>, EspError> {
    let kind = classify(payload)?;
    if kind == Kind::Keepalive {
        return Ok(None);
    }
    Ok(payload.get(kind.offset()..).map(|p| (kind, p)))
}

/// Like [`unwrap_payload`], mutable, for decrypting ESP in place.
pub fn unwrap_payload_mut(payload: &mut [u8]) -> Result<Option<(Kind, &mut [u8])>, EspError> {
    let kind = classify(payload)?;
    if kind == Kind::Keepalive {
        return Ok(None);
    }
    Ok(payload.get_mut(kind.offset()..).map(|p| (kind, p)))
}

/// Writes an IKE message behind the non-ESP marker into `out`; returns the
/// UDP payload length.
pub fn wrap_ike(ike: &[u8], out: &mut [u8]) -> Result<usize, EspError> {
    let needed = NON_ESP_MARKER.len() + ike.len();
    let available = out.len();
    let dst = out
        .get_mut(..needed)
        .ok_or(EspError::BufferTooSmall { needed, available })?;
    let (marker, msg) = dst.split_at_mut(NON_ESP_MARKER.len());
    marker.copy_from_slice(&NON_ESP_MARKER);
    msg.copy_from_slice(ike);
    Ok(needed)
}

/// A UDP header (RFC 768).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpHeader {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Length of header and payload.
    pub length: u16,
    /// Checksum; 0 (none) for ESP-in-UDP over IPv4 (RFC 3948 2.1).
    pub checksum: u16,
}

impl UdpHeader {
    /// Reads a UDP header from the start of `datagram`.
    pub fn parse(datagram: &[u8]) -> Result<Self, EspError> {
        match *datagram {
            [s0, s1, d0, d1, l0, l1, c0, c1, ..] => Ok(UdpHeader {
                src_port: u16::from_be_bytes([s0, s1]),
                dst_port: u16::from_be_bytes([d0, d1]),
                length: u16::from_be_bytes([l0, l1]),
                checksum: u16::from_be_bytes([c0, c1]),
            }),
            _ => Err(EspError::Udp {
                what: "shorter than a UDP header",
                len: datagram.len(),
            }),
        }
    }

    /// Writes the header to the start of `out`.
    pub fn emit(&self, out: &mut [u8]) -> Result<(), EspError> {
        let available = out.len();
        let dst = out
            .get_mut(..UDP_HEADER_LEN)
            .ok_or(EspError::BufferTooSmall {
                needed: UDP_HEADER_LEN,
                available,
            })?;
        let mut h = [0u8; UDP_HEADER_LEN];
        for (chunk, v) in
            h.chunks_exact_mut(2)
                .zip([self.src_port, self.dst_port, self.length, self.checksum])
        {
            chunk.copy_from_slice(&v.to_be_bytes());
        }
        dst.copy_from_slice(&h);
        Ok(())
    }
}

/// Splits a whole UDP datagram (header and payload, as a raw socket sees
/// it) into its header and payload, checking the length field.
pub fn unwrap(datagram: &[u8]) -> Result<(UdpHeader, &[u8]), EspError> {
    let h = UdpHeader::parse(datagram)?;
    let len = usize::from(h.length);
    if len < UDP_HEADER_LEN || len > datagram.len() {
        return Err(EspError::Udp {
            what: "UDP length field does not fit the datagram",
            len: datagram.len(),
        });
    }
    let payload = datagram.get(UDP_HEADER_LEN..len).ok_or(EspError::Udp {
        what: "UDP length field does not fit the datagram",
        len: datagram.len(),
    })?;
    Ok((h, payload))
}

/// Puts a UDP header (checksum 0, RFC 3948 2.1) in front of the ESP packet
/// at `buf[esp]`, in the 8 bytes of headroom before it; returns the range
/// of the datagram. Over IPv6 a zero checksum needs RFC 6935 support at
/// the receiver; a UDP socket computes the checksum itself.
pub fn wrap_in_place(
    buf: &mut [u8],
    esp: Range<usize>,
    src_port: u16,
    dst_port: u16,
) -> Result<Range<usize>, EspError> {
    if esp.start > esp.end || esp.end > buf.len() {
        return Err(EspError::InvalidRange {
            start: esp.start,
            end: esp.end,
            len: buf.len(),
        });
    }
    let start = esp
        .start
        .checked_sub(UDP_HEADER_LEN)
        .ok_or(EspError::Headroom {
            needed: UDP_HEADER_LEN,
            available: esp.start,
        })?;
    let total = esp.end - start;
    let length = u16::try_from(total).map_err(|_| EspError::Udp {
        what: "longer than a UDP datagram can be",
        len: total,
    })?;
    let h = UdpHeader {
        src_port,
        dst_port,
        length,
        checksum: 0,
    };
    h.emit(buf.get_mut(start..).unwrap_or_default())?;
    Ok(start..esp.end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies() {
        assert_eq!(classify(&[0xFF]), Ok(Kind::Keepalive));
        assert_eq!(classify(&[0, 0, 0, 0, 1, 2]), Ok(Kind::Ike));
        assert_eq!(classify(&[0, 0, 0, 0]), Ok(Kind::Ike));
        assert_eq!(classify(&[0, 0, 1, 0, 0, 0, 0, 1]), Ok(Kind::Esp));
        assert!(classify(&[]).is_err());
        assert!(classify(&[0xFF, 0xFF]).is_err());
        assert!(classify(&[1, 2, 3, 4, 5, 6, 7]).is_err());
        assert_eq!(unwrap_payload(&[0xFF]), Ok(None));
        assert_eq!(
            unwrap_payload(&[0, 0, 0, 0, 9]),
            Ok(Some((Kind::Ike, &[9u8][..])))
        );
    }

    #[test]
    fn wraps_and_unwraps() {
        let mut buf = [0u8; 40];
        buf[8..20].copy_from_slice(&[7; 12]);
        let r = wrap_in_place(&mut buf, 8..20, 4500, 4500).unwrap();
        assert_eq!(r, 0..20);
        let (h, p) = unwrap(&buf[r]).unwrap();
        assert_eq!(
            (h.src_port, h.dst_port, h.length, h.checksum),
            (4500, 4500, 20, 0)
        );
        assert_eq!(p, &[7; 12]);
        assert!(wrap_in_place(&mut buf, 7..20, 1, 2).is_err());
        assert!(unwrap(&buf[..19]).is_err());
        let mut out = [0u8; 6];
        assert_eq!(wrap_ike(&[1, 2], &mut out), Ok(6));
        assert_eq!(out, [0, 0, 0, 0, 1, 2]);
    }
}
