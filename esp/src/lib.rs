//! ESP (RFC 4303) data plane of rvpn: sans-IO, allocation-free per packet.
//!
//! - [`Transform`]: AES-GCM-16 (RFC 4106), ChaCha20-Poly1305 (RFC 7634),
//!   AES-CBC with HMAC-SHA1-96 / HMAC-SHA2 (RFC 3602, 2404, 4868), keyed
//!   with [`SaKeys`] as IKEv2 delivers them.
//! - [`OutboundSa`] seals inner packets into caller buffers (in place with
//!   headroom and tailroom, or copying); [`InboundSa`] opens them in place,
//!   in RFC 4303 3.4 order, with a [`ReplayWindow`] and 64-bit extended
//!   sequence numbers.
//! - [`SaDb`] finds the inbound SA by SPI; two SAs of one tunnel coexist
//!   during a rekey.
//! - [`udp`]: ESP-in-UDP (RFC 3948) on port 4500.
//!
//! Every malformed, forged or replayed packet yields an [`EspError`] and a
//! counter, never a panic.
//!
//! ```
//! use esp::{InboundSa, OutboundSa, OsRandom, SaKeys, Transform, DEFAULT_WINDOW};
//!
//! let key = [7u8; 36]; // AES-256 key || 4-byte salt
//! let t = Transform::AesGcm16_256;
//! let mut tx = OutboundSa::new(0x1000, t, SaKeys::aead(&key), false, OsRandom::new()).unwrap();
//! let mut rx = InboundSa::new(0x1000, t, SaKeys::aead(&key), false, DEFAULT_WINDOW).unwrap();
//!
//! let inner = [0x45u8; 40];
//! let mut buf = [0u8; 128];
//! let n = tx.seal(&inner, esp::NEXT_HEADER_IPV4, &mut buf).unwrap();
//! let opened = rx.open_in_place(&mut buf[..n]).unwrap();
//! assert_eq!(opened.inner, &inner[..]);
//! ```

// Not in [workspace.lints] (root Cargo.toml): these apply to this library
// only, and only outside its unit tests; a Cargo lints table applies to
// every target of every member and cannot depend on cfg(test).
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

mod crypto;
pub mod db;
pub mod error;
pub mod lifetime;
pub mod replay;
pub mod rng;
pub mod sa;
pub mod transform;
pub mod udp;
pub mod wire;

pub use db::SaDb;
pub use error::{EspError, KeyKind, Replay};
pub use lifetime::{Lifetime, LifetimeLimits, Limit};
pub use replay::{ReplayWindow, DEFAULT_WINDOW, MAX_WINDOW};
pub use rng::{OsRandom, RandomError, RandomSource};
pub use sa::{InboundSa, InboundStats, Opened, OutboundSa, OutboundStats};
pub use transform::{Integrity, SaKeys, Transform};
pub use wire::{peek_spi, EspHeader, NEXT_HEADER_IPV4, NEXT_HEADER_IPV6, NEXT_HEADER_NONE};
