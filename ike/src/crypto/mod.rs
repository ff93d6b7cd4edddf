//! IKEv2 cryptography: PRFs, key derivation, SK ciphers, DH groups, PSK AUTH.
//!
//! Policy: ring where it can (HMAC, SHA-1, AES-GCM, ChaCha20-Poly1305,
//! the system RNG), RustCrypto where ring cannot (AES-CBC, the MODP groups
//! through crypto-bigint, the EC groups through p256/p384/p521 and
//! x25519-dalek). No primitive is written by hand here.
//!
//! - [`alg`]: the negotiable algorithms with their IANA numbers and lengths.
//! - [`prf`]: `prf` and `prf+` (RFC 7296 2.13).
//! - [`keys`]: SKEYSEED and SK_* (2.14), IKE SA rekey (2.18), Child SA
//!   KEYMAT (2.17).
//! - [`sk`]: the Encrypted payload cipher [`SkCipher`] (3.14, RFC 5282,
//!   RFC 7634).
//! - [`dh`]: the key exchange groups [`KeyExchange`] (RFC 3526, RFC 5903,
//!   RFC 8031).
//! - [`auth`]: PSK AUTH (2.15) and a constant-time compare.
//! - [`nat`]: NAT detection hashes (2.23).
//! - [`rand`]: the [`Random`] trait over the system RNG.
//! - [`secret`]: [`SecretBytes`], the redacted, zeroized key holder.

pub mod alg;
pub mod auth;
pub mod dh;
pub mod keys;
pub mod nat;
pub mod prf;
pub mod rand;
pub mod secret;
pub mod sk;

pub use alg::{EncrAlg, IntegAlg, PrfAlg};
pub use auth::{ct_eq, psk_auth, KEY_PAD};
pub use dh::{KeyExchange, SharedSecret};
pub use keys::{
    derive_child_keys, derive_ike_keys, esp_key_lengths, skeyseed, skeyseed_rekey, ChildKeys,
    EspKeyLengths, IkeKeys, Suite,
};
pub use nat::nat_detection_hash;
pub use rand::{Random, SystemRandom};
pub use secret::SecretBytes;
pub use sk::SkCipher;

use std::fmt;

/// Every way the crypto layer can refuse. The variants say what went wrong
/// without carrying any key or plaintext material.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CryptoError {
    /// A transform ID (or key length) this implementation does not support.
    UnsupportedAlgorithm,
    /// A Diffie-Hellman group number this implementation does not support.
    UnsupportedGroup(u16),
    /// The algorithms of a suite do not fit together (AEAD with an
    /// integrity algorithm, or a non-AEAD cipher without one).
    InvalidSuite,
    /// A key of the wrong length was handed to a cipher or PRF.
    InvalidKeyLength,
    /// A peer's KE data has the wrong length, is out of range or is not a
    /// point on the curve; or the shared secret is degenerate.
    InvalidPublicValue,
    /// A private value given for a known-answer test is out of range.
    InvalidPrivateValue,
    /// prf+ was asked for more than 255 blocks of output.
    PrfPlusTooLong,
    /// The random source failed.
    Rng,
    /// The Encrypted payload body is too short or not block-aligned.
    Truncated,
    /// The integrity check value (or AEAD tag) did not verify.
    Integrity,
    /// The pad length byte points outside the decrypted data.
    BadPadding,
    /// The 64-bit IV counter of an AEAD SkCipher is exhausted.
    IvExhausted,
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CryptoError::UnsupportedAlgorithm => write!(f, "unsupported algorithm"),
            CryptoError::UnsupportedGroup(g) => write!(f, "unsupported key exchange group {g}"),
            CryptoError::InvalidSuite => write!(f, "inconsistent algorithm suite"),
            CryptoError::InvalidKeyLength => write!(f, "invalid key length"),
            CryptoError::InvalidPublicValue => write!(f, "invalid key exchange public value"),
            CryptoError::InvalidPrivateValue => write!(f, "invalid key exchange private value"),
            CryptoError::PrfPlusTooLong => write!(f, "prf+ output too long"),
            CryptoError::Rng => write!(f, "random number generator failure"),
            CryptoError::Truncated => write!(f, "encrypted payload truncated"),
            CryptoError::Integrity => write!(f, "integrity check failed"),
            CryptoError::BadPadding => write!(f, "bad padding length"),
            CryptoError::IvExhausted => write!(f, "IV counter exhausted"),
        }
    }
}

impl std::error::Error for CryptoError {}
