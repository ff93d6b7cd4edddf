//! Encrypted (SK) payload protection: RFC 7296 3.14 (AES-CBC + HMAC),
//! RFC 5282 (AES-GCM-16), RFC 7634 (ChaCha20-Poly1305).
//!
//! One [`SkCipher`] protects one direction: build the initiator's outbound
//! cipher from (SK_ei, SK_ai) and its inbound cipher from (SK_er, SK_ar);
//! the responder the other way round.
//!
//! The body of the Encrypted payload is `IV | ciphertext | ICV`, where the
//! ciphertext covers `inner payloads | padding | pad length`. `aad` is
//! always the message from the first byte of the IKE header to the last
//! byte before the IV (for a lone SK payload: IKE header and SK generic
//! payload header), with all length fields already final: for AEAD it is
//! the associated data, for AES-CBC it is the start of the data the ICV
//! covers (`aad | IV | ciphertext`).

use super::alg::{EncrAlg, IntegAlg};
use super::rand::Random;
use super::secret::SecretBytes;
use super::CryptoError;
use aes::cipher::{
    consts::U16, Array, BlockCipherDecrypt, BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt,
    KeyInit, KeyIvInit,
};
use ring::{aead, hmac};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Cipher for one direction of the Encrypted payload.
pub struct SkCipher {
    encr: EncrAlg,
    integ: Option<IntegAlg>,
    inner: Inner,
    /// Next explicit IV for AEAD sealing (never repeats under one key).
    next_iv: AtomicU64,
}

enum Inner {
    Aead {
        key: Box<aead::LessSafeKey>,
        salt: [u8; 4],
    },
    Cbc {
        key: SecretBytes,
        integ_key: hmac::Key,
    },
}

impl fmt::Debug for SkCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SkCipher")
            .field("encr", &self.encr)
            .field("integ", &self.integ)
            .field("keys", &"<redacted>")
            .finish()
    }
}

impl SkCipher {
    /// Build a cipher from the negotiated algorithms and this direction's
    /// SK_e (with the salt at its end for AEAD) and SK_a (empty for AEAD).
    pub fn new(
        encr: EncrAlg,
        integ: Option<IntegAlg>,
        sk_e: &[u8],
        sk_a: &[u8],
    ) -> Result<Self, CryptoError> {
        if sk_e.len() != encr.keymat_len() {
            return Err(CryptoError::InvalidKeyLength);
        }
        let inner = match (encr, integ) {
            (EncrAlg::AesGcm16 { .. } | EncrAlg::Chacha20Poly1305, None) => {
                if !sk_a.is_empty() {
                    return Err(CryptoError::InvalidKeyLength);
                }
                let alg = match encr {
                    EncrAlg::AesGcm16 { key_bits: 128 } => &aead::AES_128_GCM,
                    EncrAlg::AesGcm16 { key_bits: 256 } => &aead::AES_256_GCM,
                    EncrAlg::Chacha20Poly1305 => &aead::CHACHA20_POLY1305,
                    _ => return Err(CryptoError::UnsupportedAlgorithm),
                };
                let (k, s) = sk_e.split_at(encr.key_len());
                let key =
                    aead::UnboundKey::new(alg, k).map_err(|_| CryptoError::InvalidKeyLength)?;
                let mut salt = [0u8; 4];
                salt.copy_from_slice(s);
                Inner::Aead {
                    key: Box::new(aead::LessSafeKey::new(key)),
                    salt,
                }
            }
            (EncrAlg::AesCbc { key_bits }, Some(i)) => {
                if !matches!(key_bits, 128 | 192 | 256) {
                    return Err(CryptoError::UnsupportedAlgorithm);
                }
                if sk_a.len() != i.key_len() {
                    return Err(CryptoError::InvalidKeyLength);
                }
                Inner::Cbc {
                    key: SecretBytes::from_slice(sk_e),
                    integ_key: hmac::Key::new(i.hmac(), sk_a),
                }
            }
            _ => return Err(CryptoError::InvalidSuite),
        };
        Ok(SkCipher {
            encr,
            integ,
            inner,
            next_iv: AtomicU64::new(0),
        })
    }

    /// The encryption algorithm.
    pub fn encr(&self) -> EncrAlg {
        self.encr
    }

    /// The integrity algorithm; `None` for AEAD ciphers.
    pub fn integ(&self) -> Option<IntegAlg> {
        self.integ
    }

    /// Length of the IV at the start of the body.
    pub fn iv_len(&self) -> usize {
        self.encr.iv_len()
    }

    /// Length of the ICV (AEAD tag or truncated HMAC) at the end of the body.
    pub fn icv_len(&self) -> usize {
        match self.integ {
            Some(i) => i.icv_len(),
            None => self.encr.aead_tag_len(),
        }
    }

    /// Padding length [`seal`](Self::seal) uses for `plaintext_len` bytes.
    fn pad_len(&self, plaintext_len: usize) -> usize {
        let b = self.encr.block_len();
        (b - (plaintext_len + 1) % b) % b
    }

    /// The exact length of the body [`seal`](Self::seal) returns for
    /// `plaintext_len` bytes of inner payloads: IV + padded ciphertext
    /// (including the pad length byte) + ICV. The SK payload length is
    /// 4 + this; write it (and the IKE header length) before sealing.
    pub fn body_len(&self, plaintext_len: usize) -> usize {
        self.iv_len() + plaintext_len + self.pad_len(plaintext_len) + 1 + self.icv_len()
    }

    /// Encrypt and protect `plaintext` (the inner payload chain) and return
    /// `IV | ciphertext | ICV`, exactly [`body_len`](Self::body_len) bytes.
    ///
    /// AEAD: the 8-byte IV is a per-instance counter, the nonce is
    /// `salt | IV`, `aad` is the associated data; no padding is added.
    /// AES-CBC: the IV is 16 random bytes from `rng`, the padding is zeros,
    /// and the ICV is the truncated HMAC of `aad | IV | ciphertext`.
    pub fn seal(
        &self,
        aad: &[u8],
        plaintext: &[u8],
        rng: &mut dyn Random,
    ) -> Result<Vec<u8>, CryptoError> {
        let pad = self.pad_len(plaintext.len());
        let mut out = Vec::with_capacity(self.body_len(plaintext.len()));
        match &self.inner {
            Inner::Aead { key, salt } => {
                let counter = self
                    .next_iv
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| c.checked_add(1))
                    .map_err(|_| CryptoError::IvExhausted)?;
                let iv = counter.to_be_bytes();
                let nonce = aead_nonce(salt, &iv);
                out.extend_from_slice(&iv);
                out.extend_from_slice(plaintext);
                out.resize(out.len() + pad, 0);
                out.push(pad as u8);
                // ring refuses only inputs beyond the AEAD's length limit
                // (far above any IKE message).
                let tag = key
                    .seal_in_place_separate_tag(nonce, aead::Aad::from(aad), &mut out[8..])
                    .map_err(|_| CryptoError::Truncated)?;
                out.extend_from_slice(tag.as_ref());
            }
            Inner::Cbc { key, integ_key } => {
                let mut iv = [0u8; 16];
                rng.fill(&mut iv)?;
                out.extend_from_slice(&iv);
                out.extend_from_slice(plaintext);
                out.resize(out.len() + pad, 0);
                out.push(pad as u8);
                cbc_crypt(key.expose(), &iv, &mut out[16..], true)?;
                let mut ctx = hmac::Context::with_key(integ_key);
                ctx.update(aad);
                ctx.update(&out);
                let tag = ctx.sign();
                out.extend_from_slice(&tag.as_ref()[..self.icv_len()]);
            }
        }
        debug_assert_eq!(out.len(), self.body_len(plaintext.len()));
        Ok(out)
    }

    /// Verify and decrypt an Encrypted payload body (`IV | ciphertext |
    /// ICV`) and return the inner payload chain with padding and pad length
    /// removed. The ICV is checked (in constant time) before anything is
    /// decrypted; malformed input is an error, never a panic.
    pub fn open(&self, aad: &[u8], body: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let iv_len = self.iv_len();
        let icv_len = self.icv_len();
        let block = self.encr.block_len();
        // At least one block of ciphertext (holding the pad length byte).
        if body.len() < iv_len + block + icv_len {
            return Err(CryptoError::Truncated);
        }
        let ct_len = body.len() - iv_len - icv_len;
        if !ct_len.is_multiple_of(block) {
            return Err(CryptoError::Truncated);
        }
        let mut plain = match &self.inner {
            Inner::Aead { key, salt } => {
                let mut iv = [0u8; 8];
                iv.copy_from_slice(&body[..8]);
                let nonce = aead_nonce(salt, &iv);
                let mut buf = body[8..].to_vec();
                let pt_len = key
                    .open_in_place(nonce, aead::Aad::from(aad), &mut buf)
                    .map_err(|_| CryptoError::Integrity)?
                    .len();
                buf.truncate(pt_len);
                buf
            }
            Inner::Cbc { key, integ_key } => {
                let (signed, icv) = body.split_at(iv_len + ct_len);
                let mut ctx = hmac::Context::with_key(integ_key);
                ctx.update(aad);
                ctx.update(signed);
                let tag = ctx.sign();
                if !bool::from(tag.as_ref()[..icv_len].ct_eq(icv)) {
                    return Err(CryptoError::Integrity);
                }
                let mut iv = [0u8; 16];
                iv.copy_from_slice(&body[..16]);
                let mut buf = signed[16..].to_vec();
                cbc_crypt(key.expose(), &iv, &mut buf, false)?;
                buf
            }
        };
        let pad = usize::from(*plain.last().ok_or(CryptoError::Truncated)?);
        if pad + 1 > plain.len() {
            return Err(CryptoError::BadPadding);
        }
        plain.truncate(plain.len() - pad - 1);
        Ok(plain)
    }
}

fn aead_nonce(salt: &[u8; 4], iv: &[u8; 8]) -> aead::Nonce {
    let mut n = [0u8; 12];
    n[..4].copy_from_slice(salt);
    n[4..].copy_from_slice(iv);
    aead::Nonce::assume_unique_for_key(n)
}

/// AES-CBC over whole blocks of `buf`, in place.
fn cbc_crypt(key: &[u8], iv: &[u8; 16], buf: &mut [u8], encrypt: bool) -> Result<(), CryptoError> {
    match key.len() {
        16 => cbc_crypt_with::<aes::Aes128>(key, iv, buf, encrypt),
        24 => cbc_crypt_with::<aes::Aes192>(key, iv, buf, encrypt),
        32 => cbc_crypt_with::<aes::Aes256>(key, iv, buf, encrypt),
        _ => Err(CryptoError::InvalidKeyLength),
    }
}

fn cbc_crypt_with<C>(
    key: &[u8],
    iv: &[u8; 16],
    buf: &mut [u8],
    encrypt: bool,
) -> Result<(), CryptoError>
where
    C: BlockCipherEncrypt<BlockSize = U16> + BlockCipherDecrypt<BlockSize = U16> + KeyInit,
{
    let (blocks, rest) = Array::<u8, U16>::slice_as_chunks_mut(buf);
    if !rest.is_empty() {
        return Err(CryptoError::Truncated);
    }
    if encrypt {
        let mut enc = cbc::Encryptor::<C>::new_from_slices(key, iv)
            .map_err(|_| CryptoError::InvalidKeyLength)?;
        enc.encrypt_blocks(blocks);
    } else {
        let mut dec = cbc::Decryptor::<C>::new_from_slices(key, iv)
            .map_err(|_| CryptoError::InvalidKeyLength)?;
        dec.decrypt_blocks(blocks);
    }
    Ok(())
}

/// Plain AES-CBC encryption of whole blocks, exposed for the RFC 3602
/// known-answer tests.
#[doc(hidden)]
pub fn aes_cbc_encrypt_blocks(
    key: &[u8],
    iv: &[u8; 16],
    buf: &mut [u8],
) -> Result<(), CryptoError> {
    cbc_crypt(key, iv, buf, true)
}

/// Plain AES-CBC decryption of whole blocks, exposed for the RFC 3602
/// known-answer tests.
#[doc(hidden)]
pub fn aes_cbc_decrypt_blocks(
    key: &[u8],
    iv: &[u8; 16],
    buf: &mut [u8],
) -> Result<(), CryptoError> {
    cbc_crypt(key, iv, buf, false)
}

/// Plain AEAD seal (`ciphertext | tag`) for the RFC 4106 / RFC 8439
/// known-answer tests; `key` is the cipher key without salt.
#[doc(hidden)]
pub fn aead_seal_raw(
    encr: EncrAlg,
    key: &[u8],
    nonce: &[u8; 12],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let alg = match encr {
        EncrAlg::AesGcm16 { key_bits: 128 } => &aead::AES_128_GCM,
        EncrAlg::AesGcm16 { key_bits: 256 } => &aead::AES_256_GCM,
        EncrAlg::Chacha20Poly1305 => &aead::CHACHA20_POLY1305,
        _ => return Err(CryptoError::UnsupportedAlgorithm),
    };
    let key = aead::LessSafeKey::new(
        aead::UnboundKey::new(alg, key).map_err(|_| CryptoError::InvalidKeyLength)?,
    );
    let mut buf = Zeroizing::new(plaintext.to_vec());
    key.seal_in_place_append_tag(
        aead::Nonce::assume_unique_for_key(*nonce),
        aead::Aad::from(aad),
        &mut *buf,
    )
    .map_err(|_| CryptoError::Truncated)?;
    Ok(buf.to_vec())
}
