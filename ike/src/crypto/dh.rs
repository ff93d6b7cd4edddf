//! Key exchange groups (Transform Type 4) with IKE KE payload encodings and
//! public value validation.
//!
//! - MODP 14/15/16 (RFC 3526, generator 2): constant-time modular
//!   exponentiation from crypto-bigint; full-length secret exponents; KE data
//!   and shared secret are big-endian, left-padded to the prime length
//!   (RFC 7296 3.4); peer values must satisfy `1 < y < p-1`.
//! - ECP 19/20/21 (RFC 5903): RustCrypto p256/p384/p521; KE data is `x | y`
//!   without the SEC1 0x04 prefix; the shared secret is the x coordinate;
//!   peer points are checked to be on the curve and not the identity
//!   (RFC 6989).
//! - Curve25519 (31, RFC 8031): x25519-dalek; an all-zero shared secret is
//!   rejected.
//!
//! ring is not used here: its agreement API only takes keys it generated
//! itself, so the RFC 5903 / RFC 7748 known answers could not exercise the
//! code, and it has no P-521.

use super::alg::group;
use super::rand::Random;
use super::secret::SecretBytes;
use super::CryptoError;
use crypto_bigint::modular::{FixedMontyForm, FixedMontyParams};
use crypto_bigint::{Odd, Uint};
use elliptic_curve::sec1::ToSec1Point;
use std::fmt;
use zeroize::Zeroizing;

/// A Diffie-Hellman shared secret (`g^ir`), zeroized on drop.
pub type SharedSecret = SecretBytes;

/// Our half of a key exchange: the secret and the public KE data.
pub struct KeyExchange {
    group: u16,
    public: Vec<u8>,
    secret: Secret,
}

enum Secret {
    /// Big-endian exponent, prime-length.
    Modp(Zeroizing<Vec<u8>>),
    P256(p256::SecretKey),
    P384(p384::SecretKey),
    P521(p521::SecretKey),
    X25519(x25519_dalek::StaticSecret),
}

impl fmt::Debug for KeyExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyExchange")
            .field("group", &self.group)
            .field("public_len", &self.public.len())
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Length in bytes of the KE data of `group`, if supported.
pub fn public_len(group: u16) -> Option<usize> {
    match group {
        group::MODP_2048 => Some(256),
        group::MODP_3072 => Some(384),
        group::MODP_4096 => Some(512),
        group::ECP_256 => Some(64),
        group::ECP_384 => Some(96),
        group::ECP_521 => Some(132),
        group::CURVE25519 => Some(32),
        _ => None,
    }
}

impl KeyExchange {
    /// Generate a fresh key pair in `group` from `rng`.
    pub fn generate(group: u16, rng: &mut dyn Random) -> Result<Self, CryptoError> {
        match group {
            group::MODP_2048 | group::MODP_3072 | group::MODP_4096 => {
                let len = public_len(group).ok_or(CryptoError::UnsupportedGroup(group))?;
                // Full-length exponent below 2^(bits-1) < p - 1; reject
                // the (practically impossible) values 0 and 1.
                for _ in 0..64 {
                    let mut x = Zeroizing::new(vec![0u8; len]);
                    rng.fill(&mut x)?;
                    x[0] &= 0x7f;
                    if let Ok(kx) = Self::modp_from_exponent(group, x) {
                        return Ok(kx);
                    }
                }
                Err(CryptoError::Rng)
            }
            group::ECP_256 | group::ECP_384 | group::ECP_521 => {
                let len = public_len(group).ok_or(CryptoError::UnsupportedGroup(group))? / 2;
                // Rejection sampling of the scalar in [1, n-1].
                for _ in 0..64 {
                    let mut d = Zeroizing::new(vec![0u8; len]);
                    rng.fill(&mut d)?;
                    if group == group::ECP_521 {
                        d[0] &= 0x01;
                    }
                    if let Ok(kx) = Self::from_private(group, &d) {
                        return Ok(kx);
                    }
                }
                Err(CryptoError::Rng)
            }
            group::CURVE25519 => {
                let mut k = Zeroizing::new([0u8; 32]);
                rng.fill(&mut k[..])?;
                Self::from_private(group, &k[..])
            }
            _ => Err(CryptoError::UnsupportedGroup(group)),
        }
    }

    /// Build a key pair from a fixed private value (big-endian exponent for
    /// MODP, big-endian scalar for ECP, the 32-byte scalar for Curve25519).
    /// For known-answer tests only: production code uses
    /// [`generate`](Self::generate).
    #[doc(hidden)]
    pub fn from_private(group: u16, private: &[u8]) -> Result<Self, CryptoError> {
        match group {
            group::MODP_2048 | group::MODP_3072 | group::MODP_4096 => {
                let len = public_len(group).ok_or(CryptoError::UnsupportedGroup(group))?;
                if private.len() > len {
                    return Err(CryptoError::InvalidPrivateValue);
                }
                let mut x = Zeroizing::new(vec![0u8; len]);
                x[len - private.len()..].copy_from_slice(private);
                Self::modp_from_exponent(group, x)
            }
            group::ECP_256 => {
                let sk = p256::SecretKey::from_slice(&left_pad(private, 32)?)
                    .map_err(|_| CryptoError::InvalidPrivateValue)?;
                let public = sec1_xy(sk.public_key().to_sec1_point(false).as_bytes());
                Ok(KeyExchange {
                    group,
                    public,
                    secret: Secret::P256(sk),
                })
            }
            group::ECP_384 => {
                let sk = p384::SecretKey::from_slice(&left_pad(private, 48)?)
                    .map_err(|_| CryptoError::InvalidPrivateValue)?;
                let public = sec1_xy(sk.public_key().to_sec1_point(false).as_bytes());
                Ok(KeyExchange {
                    group,
                    public,
                    secret: Secret::P384(sk),
                })
            }
            group::ECP_521 => {
                let sk = p521::SecretKey::from_slice(&left_pad(private, 66)?)
                    .map_err(|_| CryptoError::InvalidPrivateValue)?;
                let public = sec1_xy(sk.public_key().to_sec1_point(false).as_bytes());
                Ok(KeyExchange {
                    group,
                    public,
                    secret: Secret::P521(sk),
                })
            }
            group::CURVE25519 => {
                let k: [u8; 32] = private
                    .try_into()
                    .map_err(|_| CryptoError::InvalidPrivateValue)?;
                let sk = x25519_dalek::StaticSecret::from(k);
                let public = x25519_dalek::PublicKey::from(&sk).as_bytes().to_vec();
                Ok(KeyExchange {
                    group,
                    public,
                    secret: Secret::X25519(sk),
                })
            }
            _ => Err(CryptoError::UnsupportedGroup(group)),
        }
    }

    fn modp_from_exponent(group: u16, x: Zeroizing<Vec<u8>>) -> Result<Self, CryptoError> {
        let public = match group {
            group::MODP_2048 => modp::<{ LIMBS_2048 }>(P2048_HEX, &x, None)?,
            group::MODP_3072 => modp::<{ LIMBS_3072 }>(P3072_HEX, &x, None)?,
            group::MODP_4096 => modp::<{ LIMBS_4096 }>(P4096_HEX, &x, None)?,
            _ => return Err(CryptoError::UnsupportedGroup(group)),
        };
        Ok(KeyExchange {
            group,
            public: public.expose().to_vec(),
            secret: Secret::Modp(x),
        })
    }

    /// The group number.
    pub fn group(&self) -> u16 {
        self.group
    }

    /// Our KE payload data (without the group number and reserved bytes).
    pub fn public(&self) -> &[u8] {
        &self.public
    }

    /// Validate the peer's KE data and compute `g^ir`.
    pub fn shared(&self, peer_public: &[u8]) -> Result<SharedSecret, CryptoError> {
        if Some(peer_public.len()) != public_len(self.group) {
            return Err(CryptoError::InvalidPublicValue);
        }
        match &self.secret {
            Secret::Modp(x) => match self.group {
                group::MODP_2048 => modp::<{ LIMBS_2048 }>(P2048_HEX, x, Some(peer_public)),
                group::MODP_3072 => modp::<{ LIMBS_3072 }>(P3072_HEX, x, Some(peer_public)),
                group::MODP_4096 => modp::<{ LIMBS_4096 }>(P4096_HEX, x, Some(peer_public)),
                g => Err(CryptoError::UnsupportedGroup(g)),
            },
            Secret::P256(sk) => {
                let pk = p256::PublicKey::from_sec1_bytes(&sec1_uncompressed(peer_public))
                    .map_err(|_| CryptoError::InvalidPublicValue)?;
                let s =
                    elliptic_curve::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk.as_affine());
                Ok(SecretBytes::from_slice(s.raw_secret_bytes()))
            }
            Secret::P384(sk) => {
                let pk = p384::PublicKey::from_sec1_bytes(&sec1_uncompressed(peer_public))
                    .map_err(|_| CryptoError::InvalidPublicValue)?;
                let s =
                    elliptic_curve::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk.as_affine());
                Ok(SecretBytes::from_slice(s.raw_secret_bytes()))
            }
            Secret::P521(sk) => {
                let pk = p521::PublicKey::from_sec1_bytes(&sec1_uncompressed(peer_public))
                    .map_err(|_| CryptoError::InvalidPublicValue)?;
                let s =
                    elliptic_curve::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk.as_affine());
                Ok(SecretBytes::from_slice(s.raw_secret_bytes()))
            }
            Secret::X25519(sk) => {
                let mut p = [0u8; 32];
                p.copy_from_slice(peer_public);
                let s = sk.diffie_hellman(&x25519_dalek::PublicKey::from(p));
                if !s.was_contributory() {
                    return Err(CryptoError::InvalidPublicValue);
                }
                Ok(SecretBytes::from_slice(s.as_bytes()))
            }
        }
    }
}

fn left_pad(v: &[u8], len: usize) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if v.len() > len {
        return Err(CryptoError::InvalidPrivateValue);
    }
    let mut out = Zeroizing::new(vec![0u8; len]);
    out[len - v.len()..].copy_from_slice(v);
    Ok(out)
}

/// Strip the SEC1 uncompressed-point prefix 0x04.
fn sec1_xy(sec1: &[u8]) -> Vec<u8> {
    sec1[1..].to_vec()
}

/// Add the SEC1 uncompressed-point prefix 0x04 to IKE's `x | y`.
fn sec1_uncompressed(xy: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(xy.len() + 1);
    v.push(0x04);
    v.extend_from_slice(xy);
    v
}

const LIMBS_2048: usize = crypto_bigint::U2048::LIMBS;
const LIMBS_3072: usize = crypto_bigint::U3072::LIMBS;
const LIMBS_4096: usize = crypto_bigint::U4096::LIMBS;

/// `base^x mod p` for the MODP prime `p_hex`, with `base` = 2 (our public
/// value) or the validated peer value (the shared secret). `x` must be the
/// prime's length; the result is too.
fn modp<const L: usize>(
    p_hex: &str,
    x: &[u8],
    peer: Option<&[u8]>,
) -> Result<SecretBytes, CryptoError> {
    let p = Uint::<L>::from_be_hex(p_hex);
    let one = Uint::<L>::ONE;
    let p_minus_1 = p.wrapping_sub(&one);
    let mut exp = Zeroizing::new(Uint::<L>::from_be_slice(x));
    if exp.cmp_vartime(&one).is_le() || exp.cmp_vartime(&p_minus_1).is_ge() {
        return Err(CryptoError::InvalidPrivateValue);
    }
    let base = match peer {
        None => Uint::<L>::from_u8(2),
        Some(y) => {
            let y = Uint::<L>::from_be_slice(y);
            // 1 < y < p-1 (RFC 6989 2.1); public data, so variable time is fine.
            if y.cmp_vartime(&one).is_le() || y.cmp_vartime(&p_minus_1).is_ge() {
                return Err(CryptoError::InvalidPublicValue);
            }
            y
        }
    };
    let params = FixedMontyParams::new_vartime(
        Odd::new(p)
            .into_option()
            .ok_or(CryptoError::UnsupportedAlgorithm)?,
    );
    let mut r = FixedMontyForm::new(&base, &params).pow(&*exp);
    let out = Zeroizing::new(r.retrieve());
    zeroize::Zeroize::zeroize(&mut r);
    zeroize::Zeroize::zeroize(&mut *exp);
    if peer.is_some() && (out.cmp_vartime(&one).is_le() || out.cmp_vartime(&p_minus_1).is_eq()) {
        return Err(CryptoError::InvalidPublicValue);
    }
    let mut bytes = out.to_be_bytes();
    let secret = SecretBytes::from_slice(bytes.as_ref());
    zeroize::Zeroize::zeroize(&mut bytes);
    Ok(secret)
}

// RFC 3526 primes (checked in tests against the pi-based formula of the RFC
// by an independent Python computation; they also equal OpenSSL's
// `modp_2048`/`modp_3072`/`modp_4096`).
const P2048_HEX: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF",
);
const P3072_HEX: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33",
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7",
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864",
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2",
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
);
const P4096_HEX: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33",
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7",
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864",
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2",
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7",
    "88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8",
    "DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D99B2964FA090C3A2",
    "233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9",
    "93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C934063199FFFFFFFFFFFFFFFF",
);
