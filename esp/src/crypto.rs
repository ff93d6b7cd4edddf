//! The per-SA crypto engine: protects and verifies one whole ESP packet in
//! place. Framing (header, IV choice, padding, trailer) is the SA's job;
//! this module only knows which bytes are authenticated and encrypted.
//!
//! Packet layout: `SPI(4) | Seq(4) | IV | ciphertext | ICV`.
//!
//! - AEAD (RFC 4106, RFC 7634): nonce = salt(4) || IV(8); AAD = SPI || Seq,
//!   or SPI || SeqHigh || SeqLow with ESN (RFC 4106 5).
//! - AES-CBC + HMAC (RFC 4303 2.8, 3.3.2.2.1): ICV = truncated HMAC over
//!   SPI || Seq || IV || ciphertext, followed (for the computation only)
//!   by the high 32 bits of the sequence number with ESN.
//!
//! No allocation: ring seals and opens in place, HMAC contexts live on
//! the stack, the AES key schedule is copied per packet.

use crate::error::EspError;
use crate::transform::{Integrity, SaKeys, Transform, ESP_HEADER_LEN, SALT_LEN};
use aes::cipher::{consts::U16, Array, BlockModeDecrypt, BlockModeEncrypt, InnerIvInit};
use ring::{aead, hmac};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

const AEAD_IV_LEN: usize = 8;
const AEAD_TAG_LEN: usize = 16;
const CBC_IV_LEN: usize = 16;

/// Keys of one SA, ready to use.
pub(crate) enum Engine {
    Aead {
        key: aead::LessSafeKey,
        salt: Zeroizing<[u8; SALT_LEN]>,
    },
    Cbc {
        cipher: AesKey,
        mac: hmac::Key,
        icv_len: usize,
    },
}

/// An AES key schedule (zeroized on drop by the `aes` crate).
pub(crate) enum AesKey {
    Aes128(aes::Aes128),
    Aes256(aes::Aes256),
}

impl Engine {
    /// Builds the engine; key lengths are checked first.
    pub(crate) fn new(transform: Transform, keys: SaKeys<'_>) -> Result<Self, EspError> {
        keys.check(transform)?;
        let klen = transform.cipher_key_len();
        let (ckey, rest) = keys
            .encryption
            .split_at_checked(klen)
            .ok_or(EspError::Crypto)?;
        if let Some(integ) = transform.integrity() {
            let cipher = match transform {
                Transform::AesCbc128(_) => AesKey::Aes128(new_aes(ckey)?),
                _ => AesKey::Aes256(new_aes(ckey)?),
            };
            let alg = match integ {
                Integrity::HmacSha1_96 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
                Integrity::HmacSha256_128 => hmac::HMAC_SHA256,
                Integrity::HmacSha384_192 => hmac::HMAC_SHA384,
                Integrity::HmacSha512_256 => hmac::HMAC_SHA512,
            };
            Ok(Engine::Cbc {
                cipher,
                mac: hmac::Key::new(alg, keys.integrity),
                icv_len: integ.icv_len(),
            })
        } else {
            let alg = match transform {
                Transform::AesGcm16_128 => &aead::AES_128_GCM,
                Transform::AesGcm16_256 => &aead::AES_256_GCM,
                _ => &aead::CHACHA20_POLY1305,
            };
            let key = aead::UnboundKey::new(alg, ckey).map_err(|_| EspError::Crypto)?;
            let salt: [u8; SALT_LEN] = rest.try_into().map_err(|_| EspError::Crypto)?;
            Ok(Engine::Aead {
                key: aead::LessSafeKey::new(key),
                salt: Zeroizing::new(salt),
            })
        }
    }

    /// Encrypts and authenticates `pkt` in place. `pkt` is one complete
    /// ESP packet whose header, IV and plaintext (payload, padding,
    /// trailer) are written; the ICV space at the end is overwritten.
    /// `seq_hi` is the high half of the sequence number with ESN.
    pub(crate) fn seal(&self, pkt: &mut [u8], seq_hi: Option<u32>) -> Result<(), EspError> {
        match self {
            Engine::Aead { key, salt } => {
                let (head, rest) = pkt
                    .split_at_mut_checked(ESP_HEADER_LEN + AEAD_IV_LEN)
                    .ok_or(EspError::Crypto)?;
                let ct_len = rest
                    .len()
                    .checked_sub(AEAD_TAG_LEN)
                    .ok_or(EspError::Crypto)?;
                let (ct, icv) = rest.split_at_mut(ct_len);
                let (hdr, iv) = split_header(head)?;
                let (aad, aad_len) = build_aad(hdr, seq_hi)?;
                let tag = key
                    .seal_in_place_separate_tag(
                        nonce(salt, iv)?,
                        aead::Aad::from(aad.get(..aad_len).ok_or(EspError::Crypto)?),
                        ct,
                    )
                    .map_err(|_| EspError::Crypto)?;
                icv.copy_from_slice(tag.as_ref());
                Ok(())
            }
            Engine::Cbc {
                cipher,
                mac,
                icv_len,
            } => {
                let covered_len = pkt.len().checked_sub(*icv_len).ok_or(EspError::Crypto)?;
                let (covered, icv) = pkt.split_at_mut(covered_len);
                let (head, ct) = covered
                    .split_at_mut_checked(ESP_HEADER_LEN + CBC_IV_LEN)
                    .ok_or(EspError::Crypto)?;
                let iv = head.get(ESP_HEADER_LEN..).ok_or(EspError::Crypto)?;
                cbc_crypt(cipher, iv, ct, true)?;
                let tag = hmac_icv(mac, covered, seq_hi);
                let tag = tag.as_ref().get(..*icv_len).ok_or(EspError::Crypto)?;
                icv.copy_from_slice(tag);
                Ok(())
            }
        }
    }

    /// Verifies and decrypts `pkt` (one complete ESP packet) in place; on
    /// success the plaintext sits between IV and ICV. `Err(())` means the
    /// ICV did not verify (or the ciphertext is not whole blocks, which
    /// the caller rules out first).
    pub(crate) fn open(&self, pkt: &mut [u8], seq_hi: Option<u32>) -> Result<(), ()> {
        match self {
            Engine::Aead { key, salt } => {
                let (head, rest) = pkt
                    .split_at_mut_checked(ESP_HEADER_LEN + AEAD_IV_LEN)
                    .ok_or(())?;
                let ct_len = rest.len().checked_sub(AEAD_TAG_LEN).ok_or(())?;
                let (ct, icv) = rest.split_at_mut(ct_len);
                let tag = aead::Tag::try_from(&*icv).map_err(|_| ())?;
                let (hdr, iv) = split_header(head).map_err(|_| ())?;
                let (aad, aad_len) = build_aad(hdr, seq_hi).map_err(|_| ())?;
                key.open_in_place_separate_tag(
                    nonce(salt, iv).map_err(|_| ())?,
                    aead::Aad::from(aad.get(..aad_len).ok_or(())?),
                    tag,
                    ct,
                    0..,
                )
                .map(|_| ())
                .map_err(|_| ())
            }
            Engine::Cbc {
                cipher,
                mac,
                icv_len,
            } => {
                let covered_len = pkt.len().checked_sub(*icv_len).ok_or(())?;
                let (covered, icv) = pkt.split_at_mut(covered_len);
                let tag = hmac_icv(mac, covered, seq_hi);
                let tag = tag.as_ref().get(..*icv_len).ok_or(())?;
                if !bool::from(tag.ct_eq(icv)) {
                    return Err(());
                }
                let (head, ct) = covered
                    .split_at_mut_checked(ESP_HEADER_LEN + CBC_IV_LEN)
                    .ok_or(())?;
                let iv = head.get(ESP_HEADER_LEN..).ok_or(())?;
                cbc_crypt(cipher, iv, ct, false).map_err(|_| ())
            }
        }
    }
}

fn new_aes<C: aes::cipher::KeyInit>(key: &[u8]) -> Result<C, EspError> {
    C::new_from_slice(key).map_err(|_| EspError::Crypto)
}

/// Splits `SPI | Seq | IV(8)` into the 8-byte ESP header and the IV.
fn split_header(head: &[u8]) -> Result<(&[u8], &[u8]), EspError> {
    head.split_at_checked(ESP_HEADER_LEN)
        .ok_or(EspError::Crypto)
}

/// AAD for AEAD: SPI || Seq, or SPI || SeqHigh || SeqLow (RFC 4106 5).
fn build_aad(hdr: &[u8], seq_hi: Option<u32>) -> Result<([u8; 12], usize), EspError> {
    let hdr: [u8; ESP_HEADER_LEN] = hdr.try_into().map_err(|_| EspError::Crypto)?;
    let [s0, s1, s2, s3, q0, q1, q2, q3] = hdr;
    Ok(match seq_hi {
        Some(hi) => {
            let [h0, h1, h2, h3] = hi.to_be_bytes();
            ([s0, s1, s2, s3, h0, h1, h2, h3, q0, q1, q2, q3], 12)
        }
        None => ([s0, s1, s2, s3, q0, q1, q2, q3, 0, 0, 0, 0], 8),
    })
}

fn nonce(salt: &[u8; SALT_LEN], iv: &[u8]) -> Result<aead::Nonce, EspError> {
    let mut n = [0u8; aead::NONCE_LEN];
    let (s, i) = n.split_at_mut(SALT_LEN);
    s.copy_from_slice(salt);
    if iv.len() != i.len() {
        return Err(EspError::Crypto);
    }
    i.copy_from_slice(iv);
    Ok(aead::Nonce::assume_unique_for_key(n))
}

/// HMAC over the covered bytes, then the ESN high bits if any
/// (RFC 4303 2.2.1: appended for the computation only).
fn hmac_icv(mac: &hmac::Key, covered: &[u8], seq_hi: Option<u32>) -> hmac::Tag {
    let mut ctx = hmac::Context::with_key(mac);
    ctx.update(covered);
    if let Some(hi) = seq_hi {
        ctx.update(&hi.to_be_bytes());
    }
    ctx.sign()
}

/// AES-CBC over whole blocks of `buf`, in place.
fn cbc_crypt(key: &AesKey, iv: &[u8], buf: &mut [u8], encrypt: bool) -> Result<(), EspError> {
    let iv: [u8; CBC_IV_LEN] = iv.try_into().map_err(|_| EspError::Crypto)?;
    let iv = Array::<u8, U16>::from(iv);
    let (blocks, rest) = Array::<u8, U16>::slice_as_chunks_mut(buf);
    if !rest.is_empty() {
        return Err(EspError::Crypto);
    }
    match (key, encrypt) {
        (AesKey::Aes128(k), true) => {
            cbc::Encryptor::<aes::Aes128>::inner_iv_init(k.clone(), &iv).encrypt_blocks(blocks)
        }
        (AesKey::Aes128(k), false) => {
            cbc::Decryptor::<aes::Aes128>::inner_iv_init(k.clone(), &iv).decrypt_blocks(blocks)
        }
        (AesKey::Aes256(k), true) => {
            cbc::Encryptor::<aes::Aes256>::inner_iv_init(k.clone(), &iv).encrypt_blocks(blocks)
        }
        (AesKey::Aes256(k), false) => {
            cbc::Decryptor::<aes::Aes256>::inner_iv_init(k.clone(), &iv).decrypt_blocks(blocks)
        }
    }
    Ok(())
}
