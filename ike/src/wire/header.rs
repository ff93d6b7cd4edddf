//! The fixed IKE header (RFC 7296 section 3.1).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       IKE SA Initiator's SPI                  |
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       IKE SA Responder's SPI                  |
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Next Payload | MjVer | MnVer | Exchange Type |     Flags     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                          Message ID                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                            Length                             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::fmt;

use nom::number::complete::{be_u32, be_u64, be_u8};
use nom::sequence::tuple;

use super::codec::{finish, fixed};
use super::error::WireError;
use super::registry::{ExchangeType, PayloadType};

/// Length of the fixed IKE header.
pub const HEADER_LEN: usize = 28;

/// The four zero octets that precede an IKE message on UDP port 4500
/// (RFC 3948 section 2.2); not part of the message or its length.
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];

/// The Flags octet of the IKE header. Unknown bits are kept as received.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u8);

impl Flags {
    /// No flags.
    pub const NONE: Flags = Flags(0);
    /// I (Initiator): set by the original initiator of the IKE SA.
    pub const INITIATOR: Flags = Flags(0x08);
    /// V (Version): the sender can speak a higher major version.
    pub const VERSION: Flags = Flags(0x10);
    /// R (Response): this message is a response.
    pub const RESPONSE: Flags = Flags(0x20);

    /// Whether every bit of `other` is set here.
    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// The I bit.
    pub fn initiator(self) -> bool {
        self.contains(Flags::INITIATOR)
    }

    /// The R bit.
    pub fn response(self) -> bool {
        self.contains(Flags::RESPONSE)
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if self.initiator() {
            parts.push("I");
        }
        if self.contains(Flags::VERSION) {
            parts.push("V");
        }
        if self.response() {
            parts.push("R");
        }
        let other = self.0 & !0x38;
        if other != 0 {
            write!(f, "Flags({}|0x{other:02x})", parts.join("|"))
        } else {
            write!(f, "Flags({})", parts.join("|"))
        }
    }
}

/// The fixed IKE header.
///
/// [`Message::emit`](super::Message::emit) recomputes `next_payload` and
/// `length`; after [`Header::parse`] they hold what was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// IKE SA Initiator's SPI (network order on the wire).
    pub spi_i: u64,
    /// IKE SA Responder's SPI; zero in the first IKE_SA_INIT request.
    pub spi_r: u64,
    /// Type of the first payload.
    pub next_payload: PayloadType,
    /// The version octet: major version in the high nibble (always 2 after
    /// a successful parse), minor version in the low nibble (kept as
    /// received; RFC 7296 says send 0 and ignore on receipt).
    pub version: u8,
    /// Exchange Type.
    pub exchange: ExchangeType,
    /// Flags.
    pub flags: Flags,
    /// Message ID.
    pub message_id: u32,
    /// Length of the whole message, header included.
    pub length: u32,
}

impl Header {
    /// The version octet of IKEv2.0: major 2, minor 0.
    pub const VERSION_2_0: u8 = 0x20;

    /// A header with version 2.0; `next_payload` and `length` are zero until
    /// the message is emitted.
    pub fn new(
        spi_i: u64,
        spi_r: u64,
        exchange: ExchangeType,
        flags: Flags,
        message_id: u32,
    ) -> Header {
        Header {
            spi_i,
            spi_r,
            next_payload: PayloadType::NONE,
            version: Header::VERSION_2_0,
            exchange,
            flags,
            message_id,
            length: 0,
        }
    }

    /// Major version (high nibble of the version octet).
    pub fn major_version(&self) -> u8 {
        self.version >> 4
    }

    /// Minor version (low nibble of the version octet).
    pub fn minor_version(&self) -> u8 {
        self.version & 0x0f
    }

    /// Reads the first [`HEADER_LEN`] octets of `bytes` (the rest is not
    /// looked at, and the Length field is not checked against it: that is
    /// [`Message::parse`](super::Message::parse)'s job). A major version
    /// other than 2 gives [`WireError::InvalidMajorVersion`] with the header
    /// inside, so the caller can still answer.
    pub fn parse(bytes: &[u8]) -> Result<Header, WireError> {
        let (_, (spi_i, spi_r, np, version, exchange, flags, message_id, length)) = finish(fixed(
            "IKE header",
            HEADER_LEN,
            tuple((be_u64, be_u64, be_u8, be_u8, be_u8, be_u8, be_u32, be_u32)),
            bytes,
        ))?;
        let header = Header {
            spi_i,
            spi_r,
            next_payload: PayloadType(np),
            version,
            exchange: ExchangeType(exchange),
            flags: Flags(flags),
            message_id,
            length,
        };
        if header.major_version() != 2 {
            return Err(WireError::InvalidMajorVersion { header });
        }
        Ok(header)
    }

    /// Appends the header's 28 octets, as they are (no field recomputed).
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.spi_i.to_be_bytes());
        out.extend_from_slice(&self.spi_r.to_be_bytes());
        out.push(self.next_payload.0);
        out.push(self.version);
        out.push(self.exchange.0);
        out.push(self.flags.0);
        out.extend_from_slice(&self.message_id.to_be_bytes());
        out.extend_from_slice(&self.length.to_be_bytes());
    }

    /// The header's 28 octets.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut v = Vec::with_capacity(HEADER_LEN);
        self.emit(&mut v);
        let mut out = [0u8; HEADER_LEN];
        out.copy_from_slice(&v);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BYTES: [u8; 28] = [
        1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0, 33, 0x20, 34, 0x08, 0, 0, 0, 0, 0, 0, 1,
        0x2c,
    ];

    #[test]
    fn round_trip() {
        let h = Header::parse(&BYTES).unwrap();
        assert_eq!(h.spi_i, 0x0102030405060708);
        assert_eq!(h.spi_r, 0);
        assert_eq!(h.next_payload, PayloadType::SA);
        assert_eq!(h.exchange, ExchangeType::IKE_SA_INIT);
        assert!(h.flags.initiator() && !h.flags.response());
        assert_eq!(h.length, 300);
        assert_eq!(h.to_bytes(), BYTES);
    }

    #[test]
    fn short_and_wrong_version() {
        assert!(matches!(
            Header::parse(&BYTES[..27]),
            Err(WireError::Truncated {
                needed: 28,
                available: 27,
                ..
            })
        ));
        let mut b = BYTES;
        b[17] = 0x30;
        match Header::parse(&b) {
            Err(WireError::InvalidMajorVersion { header }) => {
                assert_eq!(header.spi_i, 0x0102030405060708);
                assert_eq!(header.major_version(), 3);
            }
            other => panic!("{other:?}"),
        }
        b[17] = 0x21; // minor versions are accepted and kept
        assert_eq!(Header::parse(&b).unwrap().minor_version(), 1);
    }
}
