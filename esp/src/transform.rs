//! ESP transforms (what an SA negotiated) and their key material.
//!
//! Supported: AES-GCM with a 16-byte ICV (RFC 4106), ChaCha20-Poly1305
//! (RFC 7634), and AES-CBC (RFC 3602) with HMAC-SHA1-96 (RFC 2404) or
//! HMAC-SHA2-256-128 / -384-192 / -512-256 (RFC 4868).
//!
//! Key material comes as IKEv2 delivers it (RFC 7296 2.17): for an AEAD
//! transform one encryption key that is the cipher key followed by a
//! 4-byte salt (RFC 4106 8.1, RFC 7634 3); for AES-CBC an encryption key
//! and a separate integrity key.

use crate::error::{EspError, KeyKind};
use std::fmt;

/// Length of the fixed ESP header (SPI and sequence number).
pub const ESP_HEADER_LEN: usize = 8;
/// Length of the salt at the end of an AEAD encryption key.
pub const SALT_LEN: usize = 4;

/// Integrity algorithm of an AES-CBC transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Integrity {
    /// AUTH_HMAC_SHA1_96 (RFC 2404): 20-byte key, 12-byte ICV.
    HmacSha1_96,
    /// AUTH_HMAC_SHA2_256_128 (RFC 4868): 32-byte key, 16-byte ICV.
    HmacSha256_128,
    /// AUTH_HMAC_SHA2_384_192 (RFC 4868): 48-byte key, 24-byte ICV.
    HmacSha384_192,
    /// AUTH_HMAC_SHA2_512_256 (RFC 4868): 64-byte key, 32-byte ICV.
    HmacSha512_256,
}

impl Integrity {
    /// Key length in bytes (the hash output length, RFC 2404 / 4868).
    pub const fn key_len(self) -> usize {
        match self {
            Integrity::HmacSha1_96 => 20,
            Integrity::HmacSha256_128 => 32,
            Integrity::HmacSha384_192 => 48,
            Integrity::HmacSha512_256 => 64,
        }
    }

    /// ICV length in bytes (the truncated HMAC).
    pub const fn icv_len(self) -> usize {
        match self {
            Integrity::HmacSha1_96 => 12,
            Integrity::HmacSha256_128 => 16,
            Integrity::HmacSha384_192 => 24,
            Integrity::HmacSha512_256 => 32,
        }
    }

    /// The IANA IKEv2 transform type 3 identifier.
    pub const fn iana_id(self) -> u16 {
        match self {
            Integrity::HmacSha1_96 => 2,
            Integrity::HmacSha256_128 => 12,
            Integrity::HmacSha384_192 => 13,
            Integrity::HmacSha512_256 => 14,
        }
    }

    /// The IANA name, e.g. `HMAC_SHA2_256_128`.
    pub const fn name(self) -> &'static str {
        match self {
            Integrity::HmacSha1_96 => "HMAC_SHA1_96",
            Integrity::HmacSha256_128 => "HMAC_SHA2_256_128",
            Integrity::HmacSha384_192 => "HMAC_SHA2_384_192",
            Integrity::HmacSha512_256 => "HMAC_SHA2_512_256",
        }
    }

    fn from_iana(id: u16) -> Option<Self> {
        Some(match id {
            2 => Integrity::HmacSha1_96,
            12 => Integrity::HmacSha256_128,
            13 => Integrity::HmacSha384_192,
            14 => Integrity::HmacSha512_256,
            _ => return None,
        })
    }
}

impl fmt::Display for Integrity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An ESP transform: the cipher and, for AES-CBC, the integrity algorithm.
/// Displays in the style of IKE proposals: `AES_GCM_16_256`,
/// `AES_CBC_128/HMAC_SHA2_256_128`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transform {
    /// ENCR_AES_GCM_16 with a 128-bit key (RFC 4106).
    AesGcm16_128,
    /// ENCR_AES_GCM_16 with a 256-bit key (RFC 4106).
    AesGcm16_256,
    /// ENCR_CHACHA20_POLY1305 (RFC 7634).
    ChaCha20Poly1305,
    /// ENCR_AES_CBC with a 128-bit key (RFC 3602) and an HMAC.
    AesCbc128(Integrity),
    /// ENCR_AES_CBC with a 256-bit key (RFC 3602) and an HMAC.
    AesCbc256(Integrity),
}

impl Transform {
    /// Every supported transform, for tests and capability lists.
    pub const ALL: [Transform; 11] = [
        Transform::AesGcm16_128,
        Transform::AesGcm16_256,
        Transform::ChaCha20Poly1305,
        Transform::AesCbc128(Integrity::HmacSha1_96),
        Transform::AesCbc128(Integrity::HmacSha256_128),
        Transform::AesCbc128(Integrity::HmacSha384_192),
        Transform::AesCbc128(Integrity::HmacSha512_256),
        Transform::AesCbc256(Integrity::HmacSha1_96),
        Transform::AesCbc256(Integrity::HmacSha256_128),
        Transform::AesCbc256(Integrity::HmacSha384_192),
        Transform::AesCbc256(Integrity::HmacSha512_256),
    ];

    /// Maps IKEv2 identifiers (transform type 1 ID, key length attribute
    /// in bits, transform type 3 ID) to a transform; `None` if unsupported.
    /// AEAD transforms take no integrity algorithm (or AUTH_NONE, 0).
    pub fn from_iana(encr: u16, key_bits: Option<u16>, integ: Option<u16>) -> Option<Self> {
        let integ = integ.filter(|&id| id != 0);
        match (encr, key_bits, integ) {
            (20, Some(128), None) => Some(Transform::AesGcm16_128),
            (20, Some(256), None) => Some(Transform::AesGcm16_256),
            (28, None, None) => Some(Transform::ChaCha20Poly1305),
            (12, Some(128), Some(i)) => Integrity::from_iana(i).map(Transform::AesCbc128),
            (12, Some(256), Some(i)) => Integrity::from_iana(i).map(Transform::AesCbc256),
            _ => None,
        }
    }

    /// True for the combined-mode (AEAD) transforms.
    pub const fn is_aead(self) -> bool {
        matches!(
            self,
            Transform::AesGcm16_128 | Transform::AesGcm16_256 | Transform::ChaCha20Poly1305
        )
    }

    /// The integrity algorithm of an AES-CBC transform.
    pub const fn integrity(self) -> Option<Integrity> {
        match self {
            Transform::AesCbc128(i) | Transform::AesCbc256(i) => Some(i),
            _ => None,
        }
    }

    /// Cipher key length in bytes (without the AEAD salt).
    pub const fn cipher_key_len(self) -> usize {
        match self {
            Transform::AesGcm16_128 | Transform::AesCbc128(_) => 16,
            Transform::AesGcm16_256 | Transform::ChaCha20Poly1305 | Transform::AesCbc256(_) => 32,
        }
    }

    /// Encryption key length in bytes as IKEv2 delivers it (AEAD: cipher
    /// key plus 4-byte salt).
    pub const fn encryption_key_len(self) -> usize {
        if self.is_aead() {
            self.cipher_key_len() + SALT_LEN
        } else {
            self.cipher_key_len()
        }
    }

    /// Integrity key length in bytes (0 for AEAD).
    pub const fn integrity_key_len(self) -> usize {
        match self.integrity() {
            Some(i) => i.key_len(),
            None => 0,
        }
    }

    /// Key material for one direction (encryption then integrity key).
    pub const fn keymat_len(self) -> usize {
        self.encryption_key_len() + self.integrity_key_len()
    }

    /// Length of the per-packet IV: 8 for AEAD, 16 for AES-CBC.
    pub const fn iv_len(self) -> usize {
        if self.is_aead() {
            8
        } else {
            16
        }
    }

    /// Length of the ICV.
    pub const fn icv_len(self) -> usize {
        match self.integrity() {
            Some(i) => i.icv_len(),
            None => 16,
        }
    }

    /// Bytes from the start of the ESP packet to the ciphertext: SPI,
    /// sequence number and IV.
    pub const fn header_len(self) -> usize {
        ESP_HEADER_LEN + self.iv_len()
    }

    /// The ciphertext (payload, padding, pad length, next header) is a
    /// multiple of this: 4 for AEAD (RFC 4303 2.4), the AES block for CBC.
    pub const fn align(self) -> usize {
        if self.is_aead() {
            4
        } else {
            16
        }
    }

    /// Padding bytes for a payload of `payload_len` bytes.
    pub const fn pad_len(self, payload_len: usize) -> usize {
        let a = self.align();
        (a - (payload_len + 2) % a) % a
    }

    /// Smallest valid ESP packet for this transform.
    pub const fn min_packet_len(self) -> usize {
        // The ciphertext holds at least pad length and next header; for
        // CBC that is one whole block.
        let min_ct = if self.is_aead() { 2 } else { 16 };
        self.header_len() + min_ct + self.icv_len()
    }

    /// Bytes an ESP packet adds to an inner packet of `inner_len` bytes:
    /// header, IV, padding, trailer and ICV.
    pub const fn overhead(self, inner_len: usize) -> usize {
        self.header_len() + self.pad_len(inner_len) + 2 + self.icv_len()
    }
}

impl fmt::Display for Transform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transform::AesGcm16_128 => f.write_str("AES_GCM_16_128"),
            Transform::AesGcm16_256 => f.write_str("AES_GCM_16_256"),
            Transform::ChaCha20Poly1305 => f.write_str("CHACHA20_POLY1305"),
            Transform::AesCbc128(i) => write!(f, "AES_CBC_128/{i}"),
            Transform::AesCbc256(i) => write!(f, "AES_CBC_256/{i}"),
        }
    }
}

/// Keys of one SA (one direction), borrowed from the caller: the SA copies
/// them into its own key schedules.
#[derive(Clone, Copy)]
pub struct SaKeys<'a> {
    /// Encryption key; for AEAD the cipher key followed by the 4-byte salt.
    pub encryption: &'a [u8],
    /// Integrity key; empty for AEAD.
    pub integrity: &'a [u8],
}

impl fmt::Debug for SaKeys<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaKeys")
            .field(
                "encryption",
                &format_args!("<{} bytes>", self.encryption.len()),
            )
            .field(
                "integrity",
                &format_args!("<{} bytes>", self.integrity.len()),
            )
            .finish()
    }
}

impl<'a> SaKeys<'a> {
    /// Keys for an AEAD transform: cipher key || salt.
    pub fn aead(encryption: &'a [u8]) -> Self {
        SaKeys {
            encryption,
            integrity: &[],
        }
    }

    /// Keys for an AES-CBC transform.
    pub fn cbc(encryption: &'a [u8], integrity: &'a [u8]) -> Self {
        SaKeys {
            encryption,
            integrity,
        }
    }

    /// Keys for `transform` as IKE delivers them (an encryption key and
    /// an integrity key, the latter empty for AEAD transforms, whose
    /// integrity key is ignored).
    pub fn for_transform(transform: Transform, encryption: &'a [u8], integrity: &'a [u8]) -> Self {
        if transform.is_aead() {
            SaKeys::aead(encryption)
        } else {
            SaKeys::cbc(encryption, integrity)
        }
    }

    /// Splits a Child SA's KEYMAT (RFC 7296 2.17) into the keys of both
    /// directions: `(initiator to responder, responder to initiator)`,
    /// each taking its encryption key first, then its integrity key.
    pub fn split_keymat(
        transform: Transform,
        keymat: &'a [u8],
    ) -> Result<(SaKeys<'a>, SaKeys<'a>), EspError> {
        let (e, i) = (
            transform.encryption_key_len(),
            transform.integrity_key_len(),
        );
        let needed = 2 * (e + i);
        let too_short = EspError::KeymatTooShort {
            needed,
            got: keymat.len(),
        };
        let (ei, rest) = keymat.split_at_checked(e).ok_or(too_short)?;
        let (ai, rest) = rest.split_at_checked(i).ok_or(too_short)?;
        let (er, rest) = rest.split_at_checked(e).ok_or(too_short)?;
        let (ar, _) = rest.split_at_checked(i).ok_or(too_short)?;
        Ok((SaKeys::cbc(ei, ai), SaKeys::cbc(er, ar)))
    }

    /// Checks both key lengths against `transform`.
    pub fn check(&self, transform: Transform) -> Result<(), EspError> {
        let pairs = [
            (
                KeyKind::Encryption,
                transform.encryption_key_len(),
                self.encryption.len(),
            ),
            (
                KeyKind::Integrity,
                transform.integrity_key_len(),
                self.integrity.len(),
            ),
        ];
        for (key, expected, got) in pairs {
            if expected != got {
                return Err(EspError::InvalidKeyLength {
                    transform,
                    key,
                    expected,
                    got,
                });
            }
        }
        Ok(())
    }
}
