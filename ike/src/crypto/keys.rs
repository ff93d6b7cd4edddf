//! Key derivation: SKEYSEED and SK_* (RFC 7296 2.14), IKE SA rekey (2.18),
//! Child SA KEYMAT (2.17).
//!
//! All PRFs supported here are HMAC-based and take keys of any length, so
//! the full `Ni | Nr` is the key of `prf(Ni | Nr, g^ir)` (the "fixed-size
//! key" rule of 2.14 applies only to PRFs such as AES-XCBC/CMAC).

use super::alg::{EncrAlg, IntegAlg, PrfAlg};
use super::secret::SecretBytes;
use super::CryptoError;

/// The algorithms negotiated for an IKE SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suite {
    /// The encryption algorithm.
    pub encr: EncrAlg,
    /// `None` exactly when `encr` is an AEAD transform.
    pub integ: Option<IntegAlg>,
    /// The pseudorandom function.
    pub prf: PrfAlg,
    /// Key exchange method (Transform Type 4 number).
    pub ke: u16,
}

impl Suite {
    /// Check that AEAD comes without and other ciphers with an integrity
    /// algorithm, and that the KE group is supported.
    pub fn validate(&self) -> Result<(), CryptoError> {
        check_integ(self.encr, self.integ)?;
        if !super::alg::group::ALL.contains(&self.ke) {
            return Err(CryptoError::UnsupportedGroup(self.ke));
        }
        Ok(())
    }

    /// Total prf+ output needed for the seven SK_* keys.
    pub fn keymat_len(&self) -> usize {
        let p = self.prf.key_len();
        let a = self.integ.map_or(0, |i| i.key_len());
        let e = self.encr.keymat_len();
        3 * p + 2 * a + 2 * e
    }
}

fn check_integ(encr: EncrAlg, integ: Option<IntegAlg>) -> Result<(), CryptoError> {
    match (encr.is_aead(), integ) {
        (true, None) | (false, Some(_)) => Ok(()),
        _ => Err(CryptoError::InvalidSuite),
    }
}

/// The seven IKE SA keys. `Debug` shows only lengths.
#[derive(Debug, Clone)]
pub struct IkeKeys {
    /// SK_d: the key that Child SA keys (and a rekeyed IKE SA's SKEYSEED) derive from.
    pub sk_d: SecretBytes,
    /// Empty for AEAD suites.
    pub sk_ai: SecretBytes,
    /// Empty for AEAD suites.
    pub sk_ar: SecretBytes,
    /// Includes the 4-byte salt at the end for AEAD suites.
    pub sk_ei: SecretBytes,
    /// Includes the 4-byte salt at the end for AEAD suites.
    pub sk_er: SecretBytes,
    /// SK_pi: the initiator's key for its AUTH payload.
    pub sk_pi: SecretBytes,
    /// SK_pr: the responder's key for its AUTH payload.
    pub sk_pr: SecretBytes,
}

/// `SKEYSEED = prf(Ni | Nr, g^ir)` for the initial IKE SA.
pub fn skeyseed(prf: PrfAlg, ni: &[u8], nr: &[u8], g_ir: &[u8]) -> SecretBytes {
    let mut key = Vec::with_capacity(ni.len() + nr.len());
    key.extend_from_slice(ni);
    key.extend_from_slice(nr);
    SecretBytes::new(prf.prf(&key, g_ir))
}

/// `SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)` when rekeying an IKE
/// SA (RFC 7296 2.18). `old_prf` and `old_sk_d` are those of the IKE SA
/// being rekeyed (as strongSwan and libreswan do); Ni and Nr are the nonces
/// of the CREATE_CHILD_SA exchange.
pub fn skeyseed_rekey(
    old_prf: PrfAlg,
    old_sk_d: &[u8],
    g_ir: &[u8],
    ni: &[u8],
    nr: &[u8],
) -> SecretBytes {
    SecretBytes::new(old_prf.prf_parts(old_sk_d, &[g_ir, ni, nr]))
}

/// `{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} =
/// prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)`, lengths from `suite`.
pub fn derive_ike_keys(
    suite: &Suite,
    skeyseed: &[u8],
    ni: &[u8],
    nr: &[u8],
    spi_i: &[u8; 8],
    spi_r: &[u8; 8],
) -> Result<IkeKeys, CryptoError> {
    check_integ(suite.encr, suite.integ)?;
    let keymat = suite
        .prf
        .prf_plus_parts(skeyseed, &[ni, nr, spi_i, spi_r], suite.keymat_len())?;
    let mut rest = keymat.expose();
    let mut take = |n: usize| {
        let (head, tail) = rest.split_at(n);
        rest = tail;
        SecretBytes::from_slice(head)
    };
    let p = suite.prf.key_len();
    let a = suite.integ.map_or(0, |i| i.key_len());
    let e = suite.encr.keymat_len();
    Ok(IkeKeys {
        sk_d: take(p),
        sk_ai: take(a),
        sk_ar: take(a),
        sk_ei: take(e),
        sk_er: take(e),
        sk_pi: take(p),
        sk_pr: take(p),
    })
}

/// ESP key lengths for one direction of a Child SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EspKeyLengths {
    /// Encryption key including any salt (AES-GCM-16: key + 4; ChaCha20-
    /// Poly1305: 32 + 4; AES-CBC: key).
    pub encr: usize,
    /// Integrity key (0 for AEAD).
    pub integ: usize,
}

/// The ESP key lengths for a transform pair. AEAD must come without an
/// integrity algorithm, AES-CBC with one.
pub fn esp_key_lengths(
    encr: EncrAlg,
    integ: Option<IntegAlg>,
) -> Result<EspKeyLengths, CryptoError> {
    check_integ(encr, integ)?;
    Ok(EspKeyLengths {
        encr: encr.keymat_len(),
        integ: integ.map_or(0, |i| i.key_len()),
    })
}

/// The ESP keys of a Child SA. `Debug` shows only lengths.
#[derive(Debug, Clone)]
pub struct ChildKeys {
    /// Initiator-to-responder encryption key (with salt for AEAD).
    pub encr_i: SecretBytes,
    /// Initiator-to-responder integrity key (empty for AEAD).
    pub integ_i: SecretBytes,
    /// Responder-to-initiator encryption key (with salt for AEAD).
    pub encr_r: SecretBytes,
    /// Responder-to-initiator integrity key (empty for AEAD).
    pub integ_r: SecretBytes,
}

/// `KEYMAT = prf+(SK_d, Ni | Nr)`, or `prf+(SK_d, g^ir (new) | Ni | Nr)`
/// with PFS, split per RFC 7296 2.17: first the initiator-to-responder SA
/// (encryption key, then integrity key), then the responder-to-initiator SA.
pub fn derive_child_keys(
    prf: PrfAlg,
    sk_d: &[u8],
    g_ir: Option<&[u8]>,
    ni: &[u8],
    nr: &[u8],
    encr: EncrAlg,
    integ: Option<IntegAlg>,
) -> Result<ChildKeys, CryptoError> {
    let l = esp_key_lengths(encr, integ)?;
    let total = 2 * (l.encr + l.integ);
    let keymat = match g_ir {
        Some(g) => prf.prf_plus_parts(sk_d, &[g, ni, nr], total)?,
        None => prf.prf_plus_parts(sk_d, &[ni, nr], total)?,
    };
    let mut rest = keymat.expose();
    let mut take = |n: usize| {
        let (head, tail) = rest.split_at(n);
        rest = tail;
        SecretBytes::from_slice(head)
    };
    Ok(ChildKeys {
        encr_i: take(l.encr),
        integ_i: take(l.integ),
        encr_r: take(l.encr),
        integ_r: take(l.integ),
    })
}
