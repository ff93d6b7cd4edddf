//! ESP transforms as the kernel's crypto API names them, and the XFRM
//! attributes that carry them with their keys.
//!
//! IKEv2 transform ids (IANA "Transform Type 1/3") in, `XFRMA_ALG_AEAD` or
//! `XFRMA_ALG_CRYPT` + `XFRMA_ALG_AUTH_TRUNC` out. Key lengths are checked
//! here against what IKE derived (RFC 4106/7634: AEAD keys carry a 4-byte
//! salt), so that a mismatch is an error naming lengths, never key bytes.

use netlink_packet_xfrm::{Alg, AlgAead, AlgAuth, XfrmAttrs};

/// ENCR_AES_CBC (RFC 3602).
const ENCR_AES_CBC: u16 = 12;
/// ENCR_AES_GCM_16 (RFC 4106), 16-byte ICV.
const ENCR_AES_GCM_16: u16 = 20;
/// ENCR_CHACHA20_POLY1305 (RFC 7634).
const ENCR_CHACHA20_POLY1305: u16 = 28;

/// AUTH_HMAC_SHA1_96.
const AUTH_HMAC_SHA1_96: u16 = 2;
/// AUTH_HMAC_SHA2_256_128.
const AUTH_HMAC_SHA2_256_128: u16 = 12;
/// AUTH_HMAC_SHA2_384_192.
const AUTH_HMAC_SHA2_384_192: u16 = 13;
/// AUTH_HMAC_SHA2_512_256.
const AUTH_HMAC_SHA2_512_256: u16 = 14;

/// Bytes of salt at the end of an AEAD key (RFC 4106 section 8.1, RFC 7634).
const SALT_LEN: usize = 4;

/// One ESP transform in kernel terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KernelAlg {
    /// Combined mode: one algorithm, key with salt.
    Aead {
        name: &'static str,
        /// Key length including the salt, in bytes.
        key_len: usize,
        icv_bits: u32,
    },
    /// Encryption plus a truncated HMAC.
    Cbc {
        enc: &'static str,
        enc_key_len: usize,
        auth: &'static str,
        auth_key_len: usize,
        trunc_bits: u32,
    },
}

/// An ESP transform, or keys for it, that the kernel backend cannot use.
/// Errors name algorithm numbers and key lengths, never keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlgError {
    /// AES with a key length other than 128, 192 or 256 bits.
    AesKeyBits(u16),
    /// An ESP integrity algorithm the kernel backend does not map.
    Integrity(u16),
    /// AES-CBC needs an integrity algorithm.
    CbcWithoutIntegrity,
    /// AES-GCM and ChaCha20-Poly1305 take none.
    AeadWithIntegrity { encr: u16, integ: u16 },
    /// An ESP encryption algorithm the kernel backend does not map.
    Encryption(u16),
    /// An AEAD key of the wrong length.
    AeadKey {
        name: &'static str,
        len: usize,
        want: usize,
    },
    /// CBC and HMAC keys of the wrong lengths.
    CbcKeys {
        enc: &'static str,
        auth: &'static str,
        lens: (usize, usize),
        want: (usize, usize),
    },
}

impl std::fmt::Display for AlgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AlgError::AesKeyBits(bits) => write!(f, "unsupported AES key length {bits} bits"),
            AlgError::Integrity(i) => write!(f, "unsupported ESP integrity algorithm {i}"),
            AlgError::CbcWithoutIntegrity => f.write_str("AES-CBC without an integrity algorithm"),
            AlgError::AeadWithIntegrity { encr, integ } => write!(
                f,
                "combined-mode cipher {encr} with an integrity algorithm {integ}"
            ),
            AlgError::Encryption(id) => write!(f, "unsupported ESP encryption algorithm {id}"),
            AlgError::AeadKey { name, len, want } => {
                write!(f, "{name}: key is {len} bytes, expected {want}")
            }
            AlgError::CbcKeys {
                enc,
                auth,
                lens,
                want,
            } => write!(
                f,
                "{enc}/{auth}: keys are {}/{} bytes, expected {}/{}",
                lens.0, lens.1, want.0, want.1
            ),
        }
    }
}

impl std::error::Error for AlgError {}

impl KernelAlg {
    /// The kernel transform for an IKE-negotiated ESP transform:
    /// `encr` = (ENCR id, key bits or 0), `integ` = INTEG id (None or 0
    /// for AEAD).
    pub(super) fn from_iana(encr: (u16, u16), integ: Option<u16>) -> Result<KernelAlg, AlgError> {
        let integ = integ.filter(|&i| i != 0);
        let (id, bits) = encr;
        let aes_bytes = |bits: u16| match bits {
            128 | 192 | 256 => Ok(usize::from(bits / 8)),
            _ => Err(AlgError::AesKeyBits(bits)),
        };
        match (id, integ) {
            (ENCR_AES_GCM_16, None) => Ok(KernelAlg::Aead {
                name: "rfc4106(gcm(aes))",
                key_len: aes_bytes(bits)? + SALT_LEN,
                icv_bits: 128,
            }),
            (ENCR_CHACHA20_POLY1305, None) => Ok(KernelAlg::Aead {
                name: "rfc7539esp(chacha20,poly1305)",
                key_len: 32 + SALT_LEN,
                icv_bits: 128,
            }),
            (ENCR_AES_CBC, Some(i)) => {
                let (auth, auth_key_len, trunc_bits) = match i {
                    AUTH_HMAC_SHA1_96 => ("hmac(sha1)", 20, 96),
                    AUTH_HMAC_SHA2_256_128 => ("hmac(sha256)", 32, 128),
                    AUTH_HMAC_SHA2_384_192 => ("hmac(sha384)", 48, 192),
                    AUTH_HMAC_SHA2_512_256 => ("hmac(sha512)", 64, 256),
                    _ => return Err(AlgError::Integrity(i)),
                };
                Ok(KernelAlg::Cbc {
                    enc: "cbc(aes)",
                    enc_key_len: aes_bytes(bits)?,
                    auth,
                    auth_key_len,
                    trunc_bits,
                })
            }
            (ENCR_AES_CBC, None) => Err(AlgError::CbcWithoutIntegrity),
            (ENCR_AES_GCM_16 | ENCR_CHACHA20_POLY1305, Some(i)) => {
                Err(AlgError::AeadWithIntegrity { encr: id, integ: i })
            }
            (id, _) => Err(AlgError::Encryption(id)),
        }
    }

    /// The XFRM attributes carrying this transform and its keys
    /// (`enc` = encryption key with salt for AEAD, `auth` = integrity key,
    /// empty for AEAD). Errors name lengths only.
    pub(super) fn attrs(&self, enc: &[u8], auth: &[u8]) -> Result<Vec<XfrmAttrs>, AlgError> {
        match *self {
            KernelAlg::Aead {
                name,
                key_len,
                icv_bits,
            } => {
                if enc.len() != key_len {
                    return Err(AlgError::AeadKey {
                        name,
                        len: enc.len(),
                        want: key_len,
                    });
                }
                Ok(vec![XfrmAttrs::EncryptionAlgAead(AlgAead {
                    alg_name: alg_name(name),
                    alg_key_len: bits(enc.len()),
                    alg_icv_len: icv_bits,
                    alg_key: enc.to_vec(),
                })])
            }
            KernelAlg::Cbc {
                enc: enc_name,
                enc_key_len,
                auth: auth_name,
                auth_key_len,
                trunc_bits,
            } => {
                if enc.len() != enc_key_len || auth.len() != auth_key_len {
                    return Err(AlgError::CbcKeys {
                        enc: enc_name,
                        auth: auth_name,
                        lens: (enc.len(), auth.len()),
                        want: (enc_key_len, auth_key_len),
                    });
                }
                Ok(vec![
                    XfrmAttrs::EncryptionAlg(Alg {
                        alg_name: alg_name(enc_name),
                        alg_key_len: bits(enc.len()),
                        alg_key: enc.to_vec(),
                    }),
                    XfrmAttrs::AuthenticationAlgTrunc(AlgAuth {
                        alg_name: alg_name(auth_name),
                        alg_key_len: bits(auth.len()),
                        alg_trunc_len: trunc_bits,
                        alg_key: auth.to_vec(),
                    }),
                ])
            }
        }
    }

    /// How logs name it (no keys).
    pub(super) fn describe(&self) -> String {
        match *self {
            KernelAlg::Aead { name, key_len, .. } => {
                format!("{name} {}", (key_len - SALT_LEN) * 8)
            }
            KernelAlg::Cbc {
                enc,
                enc_key_len,
                auth,
                ..
            } => format!("{enc} {}/{auth}", enc_key_len * 8),
        }
    }
}

fn bits(bytes: usize) -> u32 {
    u32::try_from(bytes * 8).unwrap_or(u32::MAX)
}

/// A NUL-padded algorithm name field (names here are short constants).
fn alg_name(name: &str) -> [u8; 64] {
    let mut out = [0u8; 64];
    for (o, b) in out.iter_mut().zip(name.bytes().take(63)) {
        *o = b;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_of(n: &[u8; 64]) -> &str {
        let end = n.iter().position(|&b| b == 0).unwrap_or(64);
        std::str::from_utf8(&n[..end]).unwrap()
    }

    #[test]
    fn gcm_128_and_256_carry_the_salt() {
        for (bits, len) in [(128u16, 20usize), (256, 36)] {
            let a = KernelAlg::from_iana((20, bits), None).unwrap();
            let key = vec![7u8; len];
            let attrs = a.attrs(&key, &[]).unwrap();
            let [XfrmAttrs::EncryptionAlgAead(x)] = attrs.as_slice() else {
                panic!("one AEAD attribute")
            };
            assert_eq!(name_of(&x.alg_name), "rfc4106(gcm(aes))");
            assert_eq!(x.alg_key_len as usize, len * 8);
            assert_eq!(x.alg_icv_len, 128);
            assert_eq!(x.alg_key, key);
        }
        // integ 0 means none, as IKE reports AEAD proposals
        assert!(KernelAlg::from_iana((20, 256), Some(0)).is_ok());
    }

    #[test]
    fn chacha20_poly1305() {
        let a = KernelAlg::from_iana((28, 0), None).unwrap();
        let attrs = a.attrs(&[1u8; 36], &[]).unwrap();
        let [XfrmAttrs::EncryptionAlgAead(x)] = attrs.as_slice() else {
            panic!("one AEAD attribute")
        };
        assert_eq!(name_of(&x.alg_name), "rfc7539esp(chacha20,poly1305)");
        assert_eq!(x.alg_key_len, 288);
        assert_eq!(x.alg_icv_len, 128);
    }

    #[test]
    fn cbc_with_each_hmac() {
        for (integ, name, klen, trunc) in [
            (2u16, "hmac(sha1)", 20usize, 96u32),
            (12, "hmac(sha256)", 32, 128),
            (13, "hmac(sha384)", 48, 192),
            (14, "hmac(sha512)", 64, 256),
        ] {
            let a = KernelAlg::from_iana((12, 256), Some(integ)).unwrap();
            let attrs = a.attrs(&[2u8; 32], &vec![3u8; klen]).unwrap();
            let [XfrmAttrs::EncryptionAlg(e), XfrmAttrs::AuthenticationAlgTrunc(h)] =
                attrs.as_slice()
            else {
                panic!("crypt + auth_trunc")
            };
            assert_eq!(name_of(&e.alg_name), "cbc(aes)");
            assert_eq!(e.alg_key_len, 256);
            assert_eq!(name_of(&h.alg_name), name);
            assert_eq!(h.alg_key_len as usize, klen * 8);
            assert_eq!(h.alg_trunc_len, trunc);
        }
    }

    #[test]
    fn refusals_name_lengths_not_keys() {
        assert!(KernelAlg::from_iana((3, 0), None).is_err()); // 3DES
        assert!(KernelAlg::from_iana((12, 128), None).is_err());
        assert!(KernelAlg::from_iana((12, 128), Some(1)).is_err()); // MD5
        assert!(KernelAlg::from_iana((20, 100), None).is_err());
        assert!(KernelAlg::from_iana((20, 128), Some(12)).is_err());
        let a = KernelAlg::from_iana((20, 128), None).unwrap();
        let e = a.attrs(&[0xab; 16], &[]).unwrap_err().to_string();
        assert!(e.contains("16 bytes, expected 20"), "{e}");
        assert!(!e.to_lowercase().contains("ab"), "{e}");
    }
}
