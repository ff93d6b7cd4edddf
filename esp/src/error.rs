//! Typed errors of the ESP data plane.
//!
//! Every malformed, truncated, forged or replayed packet ends in one of
//! these, never in a panic. Each variant carries what mismatched and, where
//! there are two, both values, so a log line explains itself.

use crate::transform::Transform;
use std::fmt;

/// Why the anti-replay window refused a sequence number (RFC 4303 3.4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Replay {
    /// This sequence number was already received (and authenticated).
    Duplicate {
        /// The (64-bit) sequence number.
        seq: u64,
    },
    /// The sequence number lies left of the window (or is 0, which no
    /// sender uses, or has no place in the 64-bit space with ESN).
    TooOld {
        /// The (64-bit, or inferred) sequence number.
        seq: u64,
        /// The highest sequence number received so far.
        top: u64,
    },
}

impl fmt::Display for Replay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Replay::Duplicate { seq } => write!(f, "sequence number {seq} already received"),
            Replay::TooOld { seq, top } => write!(
                f,
                "sequence number {seq} is outside the replay window (highest received {top})"
            ),
        }
    }
}

impl std::error::Error for Replay {}

/// Which key of an SA a [`EspError::InvalidKeyLength`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// The encryption key (for AEAD: cipher key || 4-byte salt).
    Encryption,
    /// The integrity (HMAC) key; AEAD transforms take none.
    Integrity,
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyKind::Encryption => "encryption",
            KeyKind::Integrity => "integrity",
        })
    }
}

/// Everything that can go wrong building an SA or sealing / opening a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EspError {
    /// The packet is shorter than the smallest valid ESP packet for the
    /// SA's transform.
    Truncated {
        /// Bytes received.
        len: usize,
        /// Smallest valid length.
        min: usize,
    },
    /// The ciphertext is not a whole number of cipher blocks.
    Misaligned {
        /// Ciphertext length.
        len: usize,
        /// Cipher block size.
        block: usize,
    },
    /// The packet's SPI is not the SA's.
    SpiMismatch {
        /// The SA's SPI.
        expected: u32,
        /// The packet's SPI.
        got: u32,
    },
    /// No inbound SA has this SPI ([`crate::SaDb`]).
    UnknownSpi {
        /// The packet's SPI.
        spi: u32,
    },
    /// The anti-replay window refused the packet (checked before the ICV).
    Replay {
        /// The SA's SPI.
        spi: u32,
        /// Why.
        reason: Replay,
    },
    /// The ICV did not verify: forged, corrupted, or wrong keys.
    AuthFailed {
        /// The SA's SPI.
        spi: u32,
        /// The (inferred) 64-bit sequence number.
        seq: u64,
    },
    /// After decryption, the pad length or the padding bytes are wrong
    /// (RFC 4303 2.4: padding is 1, 2, 3, ...).
    BadPadding {
        /// The SA's SPI.
        spi: u32,
        /// The 64-bit sequence number.
        seq: u64,
    },
    /// The next header is not an inner IPv4 (4) or IPv6 (41) packet, and
    /// the SA accepts only those (tunnel mode).
    NextHeader {
        /// The SA's SPI.
        spi: u32,
        /// The 64-bit sequence number.
        seq: u64,
        /// The next header value found.
        value: u8,
    },
    /// A TFC dummy packet (next header 59, RFC 4303 2.6): authentic, to be
    /// dropped silently. Not a fault; counted as `tfc_dropped`.
    Dummy {
        /// The SA's SPI.
        spi: u32,
        /// The 64-bit sequence number.
        seq: u64,
    },
    /// The outbound sequence number would wrap (at 2^32 without ESN,
    /// 2^64 with): the SA must be rekeyed.
    SequenceExhausted {
        /// The SA's SPI.
        spi: u32,
        /// Whether the SA uses extended sequence numbers.
        esn: bool,
    },
    /// The SA reached its hard lifetime (bytes or packets).
    Expired {
        /// The SA's SPI.
        spi: u32,
    },
    /// The output buffer cannot hold the ESP packet.
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// Too little room before the payload for the ESP header and IV.
    Headroom {
        /// Bytes needed before the payload.
        needed: usize,
        /// Bytes available before the payload.
        available: usize,
    },
    /// Too little room after the payload for padding, trailer and ICV.
    Tailroom {
        /// Bytes needed after the payload.
        needed: usize,
        /// Bytes available after the payload.
        available: usize,
    },
    /// The payload range does not lie within the buffer.
    InvalidRange {
        /// Range start.
        start: usize,
        /// Range end.
        end: usize,
        /// Buffer length.
        len: usize,
    },
    /// A key has the wrong length for the transform.
    InvalidKeyLength {
        /// The transform.
        transform: Transform,
        /// Which key.
        key: KeyKind,
        /// Length the transform needs.
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// The key material is shorter than the transforms need.
    KeymatTooShort {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        got: usize,
    },
    /// SPI values 0 to 255 are reserved (RFC 4303 2.1).
    InvalidSpi {
        /// The SPI given.
        spi: u32,
    },
    /// The replay window size is not a multiple of 64 in 64..=65536.
    InvalidWindowSize {
        /// The size given.
        size: usize,
    },
    /// An inbound SA with this SPI is already installed.
    DuplicateSpi {
        /// The SPI.
        spi: u32,
    },
    /// Sequence numbers only move forward.
    SequenceBackwards {
        /// The SA's last used sequence number.
        current: u64,
        /// The value asked for.
        requested: u64,
    },
    /// The random source failed; nothing was sent.
    Random,
    /// The crypto library refused an operation that cannot fail for
    /// valid inputs (never expected).
    Crypto,
    /// A UDP-encapsulated (RFC 3948) datagram is malformed.
    Udp {
        /// What is wrong.
        what: &'static str,
        /// Datagram length.
        len: usize,
    },
}

impl EspError {
    /// True for outcomes that are not faults: a TFC dummy packet, to be
    /// dropped without complaint.
    pub fn is_dummy(&self) -> bool {
        matches!(self, EspError::Dummy { .. })
    }
}

impl fmt::Display for EspError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use EspError::*;
        match *self {
            Truncated { len, min } => {
                write!(f, "ESP packet truncated: {len} bytes, need at least {min}")
            }
            Misaligned { len, block } => write!(
                f,
                "ESP ciphertext of {len} bytes is not a multiple of the {block}-byte block"
            ),
            SpiMismatch { expected, got } => {
                write!(f, "ESP SPI mismatch: SA has {expected:#010x}, packet has {got:#010x}")
            }
            UnknownSpi { spi } => write!(f, "no inbound ESP SA with SPI {spi:#010x}"),
            Replay { spi, reason } => write!(f, "ESP SA {spi:#010x}: replay: {reason}"),
            AuthFailed { spi, seq } => {
                write!(f, "ESP SA {spi:#010x}: ICV check failed for sequence number {seq}")
            }
            BadPadding { spi, seq } => {
                write!(f, "ESP SA {spi:#010x}: bad padding in sequence number {seq}")
            }
            NextHeader { spi, seq, value } => write!(
                f,
                "ESP SA {spi:#010x}: next header {value} in sequence number {seq}, expected 4 (IPv4) or 41 (IPv6)"
            ),
            Dummy { spi, seq } => {
                write!(f, "ESP SA {spi:#010x}: TFC dummy packet, sequence number {seq}")
            }
            SequenceExhausted { spi, esn } => write!(
                f,
                "ESP SA {spi:#010x}: {} sequence numbers exhausted, rekey needed",
                if esn { "64-bit" } else { "32-bit" }
            ),
            Expired { spi } => write!(f, "ESP SA {spi:#010x}: hard lifetime reached"),
            BufferTooSmall { needed, available } => {
                write!(f, "buffer too small for ESP packet: need {needed} bytes, have {available}")
            }
            Headroom { needed, available } => write!(
                f,
                "too little headroom for ESP header: need {needed} bytes, have {available}"
            ),
            Tailroom { needed, available } => write!(
                f,
                "too little tailroom for ESP trailer and ICV: need {needed} bytes, have {available}"
            ),
            InvalidRange { start, end, len } => {
                write!(f, "payload range {start}..{end} outside buffer of {len} bytes")
            }
            InvalidKeyLength {
                transform,
                key,
                expected,
                got,
            } => write!(
                f,
                "{transform}: {key} key must be {expected} bytes, got {got}"
            ),
            KeymatTooShort { needed, got } => {
                write!(f, "ESP key material too short: need {needed} bytes, got {got}")
            }
            InvalidSpi { spi } => write!(f, "SPI {spi} is reserved (0-255)"),
            InvalidWindowSize { size } => write!(
                f,
                "replay window size {size} must be a multiple of 64 between 64 and 65536"
            ),
            DuplicateSpi { spi } => write!(f, "inbound ESP SA with SPI {spi:#010x} already exists"),
            SequenceBackwards { current, requested } => write!(
                f,
                "ESP sequence number cannot move back from {current} to {requested}"
            ),
            Random => f.write_str("random source failed"),
            Crypto => f.write_str("crypto library refused the operation"),
            Udp { what, len } => write!(f, "UDP-encapsulated datagram of {len} bytes: {what}"),
        }
    }
}

impl std::error::Error for EspError {}
