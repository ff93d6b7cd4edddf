//! The negotiable algorithms, with their IANA "IKEv2 Transform Type" numbers
//! (the ESP registry shares the same numbers for types 1 and 3) and their
//! key and output lengths.

use ring::hmac;

/// Transform Type 1 (encryption). The same IDs serve IKE and ESP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncrAlg {
    /// ENCR_AES_GCM_16 (20), RFC 5282 / RFC 4106: 8-byte IV, 16-byte ICV,
    /// KEYMAT = key || 4-byte salt. `key_bits` is 128 or 256.
    AesGcm16 {
        /// Key length in bits.
        key_bits: u16,
    },
    /// ENCR_CHACHA20_POLY1305 (28), RFC 7634: 32-byte key || 4-byte salt,
    /// 8-byte IV, 16-byte ICV. No key length attribute.
    Chacha20Poly1305,
    /// ENCR_AES_CBC (12), RFC 3602: 16-byte IV; needs an integrity
    /// algorithm. `key_bits` is 128, 192 or 256.
    AesCbc {
        /// Key length in bits.
        key_bits: u16,
    },
}

impl EncrAlg {
    /// Transform ID of ENCR_AES_CBC.
    pub const ENCR_AES_CBC: u16 = 12;
    /// Transform ID of ENCR_AES_GCM_16.
    pub const ENCR_AES_GCM_16: u16 = 20;
    /// Transform ID of ENCR_CHACHA20_POLY1305.
    pub const ENCR_CHACHA20_POLY1305: u16 = 28;

    /// From the transform ID and the Key Length attribute (in bits), if any.
    /// AES needs the attribute; ChaCha20-Poly1305 must not have one.
    pub fn from_iana(id: u16, key_bits: Option<u16>) -> Option<Self> {
        match (id, key_bits) {
            (Self::ENCR_AES_GCM_16, Some(k @ (128 | 256))) => {
                Some(EncrAlg::AesGcm16 { key_bits: k })
            }
            (Self::ENCR_CHACHA20_POLY1305, None) => Some(EncrAlg::Chacha20Poly1305),
            (Self::ENCR_AES_CBC, Some(k @ (128 | 192 | 256))) => {
                Some(EncrAlg::AesCbc { key_bits: k })
            }
            _ => None,
        }
    }

    /// The transform ID.
    pub fn iana(&self) -> u16 {
        match self {
            EncrAlg::AesGcm16 { .. } => Self::ENCR_AES_GCM_16,
            EncrAlg::Chacha20Poly1305 => Self::ENCR_CHACHA20_POLY1305,
            EncrAlg::AesCbc { .. } => Self::ENCR_AES_CBC,
        }
    }

    /// The Key Length attribute value (bits) to send, if the transform has one.
    pub fn key_length_attr(&self) -> Option<u16> {
        match self {
            EncrAlg::AesGcm16 { key_bits } | EncrAlg::AesCbc { key_bits } => Some(*key_bits),
            EncrAlg::Chacha20Poly1305 => None,
        }
    }

    /// Cipher key length in bytes, without the salt.
    pub fn key_len(&self) -> usize {
        match self {
            EncrAlg::AesGcm16 { key_bits } | EncrAlg::AesCbc { key_bits } => {
                usize::from(*key_bits) / 8
            }
            EncrAlg::Chacha20Poly1305 => 32,
        }
    }

    /// Salt length in bytes taken from the end of the keying material
    /// (4 for the AEAD transforms, 0 otherwise).
    pub fn salt_len(&self) -> usize {
        if self.is_aead() {
            4
        } else {
            0
        }
    }

    /// Length of SK_e / the ESP encryption key: key plus salt.
    pub fn keymat_len(&self) -> usize {
        self.key_len() + self.salt_len()
    }

    /// Whether this is a combined-mode (AEAD) transform.
    pub fn is_aead(&self) -> bool {
        matches!(self, EncrAlg::AesGcm16 { .. } | EncrAlg::Chacha20Poly1305)
    }

    /// Length of the IV carried in each message.
    pub fn iv_len(&self) -> usize {
        if self.is_aead() {
            8
        } else {
            16
        }
    }

    /// The block size the padded plaintext must be a multiple of.
    pub fn block_len(&self) -> usize {
        if self.is_aead() {
            1
        } else {
            16
        }
    }

    /// AEAD tag length; 0 for non-AEAD (the ICV then comes from [`IntegAlg`]).
    pub fn aead_tag_len(&self) -> usize {
        if self.is_aead() {
            16
        } else {
            0
        }
    }
}

/// Transform Type 3 (integrity). The same IDs serve IKE and ESP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntegAlg {
    /// AUTH_HMAC_SHA1_96 (2), RFC 2404.
    HmacSha1_96,
    /// AUTH_HMAC_SHA2_256_128 (12), RFC 4868.
    HmacSha256_128,
    /// AUTH_HMAC_SHA2_384_192 (13), RFC 4868.
    HmacSha384_192,
    /// AUTH_HMAC_SHA2_512_256 (14), RFC 4868.
    HmacSha512_256,
}

impl IntegAlg {
    /// From the Transform ID, if it is one of the supported ones.
    pub fn from_iana(id: u16) -> Option<Self> {
        match id {
            2 => Some(IntegAlg::HmacSha1_96),
            12 => Some(IntegAlg::HmacSha256_128),
            13 => Some(IntegAlg::HmacSha384_192),
            14 => Some(IntegAlg::HmacSha512_256),
            _ => None,
        }
    }

    /// The Transform ID.
    pub fn iana(&self) -> u16 {
        match self {
            IntegAlg::HmacSha1_96 => 2,
            IntegAlg::HmacSha256_128 => 12,
            IntegAlg::HmacSha384_192 => 13,
            IntegAlg::HmacSha512_256 => 14,
        }
    }

    /// Key length in bytes (SK_a*, ESP integrity key).
    pub fn key_len(&self) -> usize {
        match self {
            IntegAlg::HmacSha1_96 => 20,
            IntegAlg::HmacSha256_128 => 32,
            IntegAlg::HmacSha384_192 => 48,
            IntegAlg::HmacSha512_256 => 64,
        }
    }

    /// Truncated ICV length in bytes.
    pub fn icv_len(&self) -> usize {
        match self {
            IntegAlg::HmacSha1_96 => 12,
            IntegAlg::HmacSha256_128 => 16,
            IntegAlg::HmacSha384_192 => 24,
            IntegAlg::HmacSha512_256 => 32,
        }
    }

    pub(crate) fn hmac(&self) -> hmac::Algorithm {
        match self {
            IntegAlg::HmacSha1_96 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            IntegAlg::HmacSha256_128 => hmac::HMAC_SHA256,
            IntegAlg::HmacSha384_192 => hmac::HMAC_SHA384,
            IntegAlg::HmacSha512_256 => hmac::HMAC_SHA512,
        }
    }
}

/// Transform Type 2 (pseudorandom function).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrfAlg {
    /// PRF_HMAC_SHA1 (2), RFC 2104.
    HmacSha1,
    /// PRF_HMAC_SHA2_256 (5), RFC 4868.
    HmacSha256,
    /// PRF_HMAC_SHA2_384 (6), RFC 4868.
    HmacSha384,
    /// PRF_HMAC_SHA2_512 (7), RFC 4868.
    HmacSha512,
}

impl PrfAlg {
    /// From the Transform ID, if it is one of the supported ones.
    pub fn from_iana(id: u16) -> Option<Self> {
        match id {
            2 => Some(PrfAlg::HmacSha1),
            5 => Some(PrfAlg::HmacSha256),
            6 => Some(PrfAlg::HmacSha384),
            7 => Some(PrfAlg::HmacSha512),
            _ => None,
        }
    }

    /// The Transform ID.
    pub fn iana(&self) -> u16 {
        match self {
            PrfAlg::HmacSha1 => 2,
            PrfAlg::HmacSha256 => 5,
            PrfAlg::HmacSha384 => 6,
            PrfAlg::HmacSha512 => 7,
        }
    }

    /// Output length in bytes.
    pub fn output_len(&self) -> usize {
        match self {
            PrfAlg::HmacSha1 => 20,
            PrfAlg::HmacSha256 => 32,
            PrfAlg::HmacSha384 => 48,
            PrfAlg::HmacSha512 => 64,
        }
    }

    /// The preferred key size (RFC 7296 2.14: for HMAC PRFs, the hash
    /// output length), used as the length of SK_d, SK_pi and SK_pr.
    pub fn key_len(&self) -> usize {
        self.output_len()
    }

    pub(crate) fn hmac(&self) -> hmac::Algorithm {
        match self {
            PrfAlg::HmacSha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            PrfAlg::HmacSha256 => hmac::HMAC_SHA256,
            PrfAlg::HmacSha384 => hmac::HMAC_SHA384,
            PrfAlg::HmacSha512 => hmac::HMAC_SHA512,
        }
    }
}

/// Transform Type 4 (key exchange method) numbers this crate supports.
pub mod group {
    /// 2048-bit MODP group (RFC 3526).
    pub const MODP_2048: u16 = 14;
    /// 3072-bit MODP group (RFC 3526).
    pub const MODP_3072: u16 = 15;
    /// 4096-bit MODP group (RFC 3526).
    pub const MODP_4096: u16 = 16;
    /// 256-bit random ECP group, NIST P-256 (RFC 5903).
    pub const ECP_256: u16 = 19;
    /// 384-bit random ECP group, NIST P-384 (RFC 5903).
    pub const ECP_384: u16 = 20;
    /// 521-bit random ECP group, NIST P-521 (RFC 5903).
    pub const ECP_521: u16 = 21;
    /// Curve25519 (RFC 8031).
    pub const CURVE25519: u16 = 31;

    /// Every supported group, strongest-preferred order not implied.
    pub const ALL: [u16; 7] = [
        MODP_2048, MODP_3072, MODP_4096, ECP_256, ECP_384, ECP_521, CURVE25519,
    ];
}
