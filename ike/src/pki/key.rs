//! Our private key: PKCS#8, PKCS#1 and SEC1, PEM or DER, signing with ring.

use super::der::{self, oid};
use super::sig::{self, PubKey};
use super::{Cert, KeyKind, PrivateKey, SigEncoding, SigScheme};
use elliptic_curve::sec1::ToSec1Point;
use ring::rand::SystemRandom;
use ring::signature::{self as rs, EcdsaKeyPair, KeyPair, RsaKeyPair};
use std::fmt;

/// The key pairs ring signs with.
pub(super) enum Inner {
    Rsa(Box<RsaKeyPair>),
    Ec {
        kind: KeyKind,
        /// For DER (ASN.1) signatures.
        der: Box<EcdsaKeyPair>,
        /// For fixed-size r|s signatures.
        fixed: Box<EcdsaKeyPair>,
    },
}

pub(super) const ENCRYPTED: &str =
    "encrypted keys are not supported; decrypt it (openssl pkey -in K -out K2)";

const ED25519: &[u8] = &[0x2b, 0x65, 0x70];

pub(super) fn parse(bytes: &[u8]) -> Result<PrivateKey, String> {
    if bytes.trim_ascii_start().starts_with(b"-----BEGIN") || contains(bytes, b"\n-----BEGIN ") {
        if contains(bytes, b"ENCRYPTED") {
            return Err(ENCRYPTED.into());
        }
        for pem in x509_parser::pem::Pem::iter_from_buffer(bytes) {
            let pem = pem.map_err(|e| format!("malformed PEM: {e}"))?;
            let inner = match pem.label.as_str() {
                "PRIVATE KEY" => pkcs8(&pem.contents)?,
                "RSA PRIVATE KEY" => pkcs1(&pem.contents)?,
                "EC PRIVATE KEY" => sec1(&pem.contents, None)?,
                _ => continue,
            };
            return Ok(PrivateKey { inner });
        }
        return Err("no PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block".into());
    }
    let seq = der::only(bytes, der::SEQ).ok_or("neither PEM nor a DER private key")?;
    let inner = match der::read(seq.body) {
        Some((first, rest)) if first.tag == der::SEQ => {
            // EncryptedPrivateKeyInfo: AlgorithmIdentifier, OCTET STRING.
            let _ = rest;
            return Err(ENCRYPTED.into());
        }
        Some((first, rest)) if first.tag == der::INT => match der::read(rest) {
            Some((second, _)) if second.tag == der::SEQ => pkcs8(bytes)?,
            Some((second, _)) if second.tag == der::INT => pkcs1(bytes)?,
            Some((second, _)) if second.tag == der::OCTETS => sec1(bytes, None)?,
            _ => return Err("not a private key (PKCS#8, PKCS#1 or SEC1)".into()),
        },
        _ => return Err("not a private key (PKCS#8, PKCS#1 or SEC1)".into()),
    };
    Ok(PrivateKey { inner })
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// PKCS#8 PrivateKeyInfo (RFC 5958).
fn pkcs8(bytes: &[u8]) -> Result<Inner, String> {
    let bad = || "malformed PKCS#8 private key".to_string();
    let seq = der::only(bytes, der::SEQ).ok_or_else(bad)?;
    let (version, rest) = der::expect(seq.body, der::INT).ok_or_else(bad)?;
    if der::small_uint(version.body).is_none_or(|v| v > 1) {
        return Err(bad());
    }
    let (alg, rest) = der::expect(rest, der::SEQ).ok_or_else(bad)?;
    let (key, _attrs) = der::expect(rest, der::OCTETS).ok_or_else(bad)?;
    let (o, params) = der::expect(alg.body, der::OID).ok_or_else(bad)?;
    match o.body {
        x if x == oid::RSA_ENCRYPTION => pkcs1(key.body),
        x if x == oid::EC_PUBLIC_KEY => {
            let curve = der::only(params, der::OID).ok_or_else(bad)?;
            sec1(key.body, Some(curve.body))
        }
        x if x == ED25519 => {
            Err("unsupported key type Ed25519 (use RSA or ECDSA P-256/P-384)".into())
        }
        _ => Err("unsupported key type (use RSA or ECDSA P-256/P-384)".into()),
    }
}

/// PKCS#1 RSAPrivateKey.
fn pkcs1(bytes: &[u8]) -> Result<Inner, String> {
    RsaKeyPair::from_der(bytes)
        .map(|k| Inner::Rsa(Box::new(k)))
        .map_err(|e| format!("RSA private key refused: {e}"))
}

/// SEC1 ECPrivateKey (RFC 5915); the curve from its parameters or from
/// PKCS#8's AlgorithmIdentifier. Without the public key, it is derived
/// from the scalar (p256/p384 crates) since ring needs both.
fn sec1(bytes: &[u8], outer_curve: Option<&[u8]>) -> Result<Inner, String> {
    let bad = || "malformed EC private key".to_string();
    let seq = der::only(bytes, der::SEQ).ok_or_else(bad)?;
    let (version, rest) = der::expect(seq.body, der::INT).ok_or_else(bad)?;
    if der::small_uint(version.body) != Some(1) {
        return Err(bad());
    }
    let (scalar, mut rest) = der::expect(rest, der::OCTETS).ok_or_else(bad)?;
    let (mut curve, mut public) = (outer_curve, None);
    while !rest.is_empty() {
        let (field, r) = der::read(rest).ok_or_else(bad)?;
        rest = r;
        match field.tag {
            0xa0 => curve = Some(der::only(field.body, der::OID).ok_or_else(bad)?.body),
            0xa1 => {
                let bits = der::only(field.body, der::BITS).ok_or_else(bad)?;
                match bits.body.split_first() {
                    Some((0, point)) => public = Some(point.to_vec()),
                    _ => return Err(bad()),
                }
            }
            _ => return Err(bad()),
        }
    }
    let (kind, len, alg_der, alg_fixed): (_, usize, &'static rs::EcdsaSigningAlgorithm, _) =
        match curve {
            Some(c) if c == oid::P256 => (
                KeyKind::EcP256,
                32,
                &rs::ECDSA_P256_SHA256_ASN1_SIGNING,
                &rs::ECDSA_P256_SHA256_FIXED_SIGNING,
            ),
            Some(c) if c == oid::P384 => (
                KeyKind::EcP384,
                48,
                &rs::ECDSA_P384_SHA384_ASN1_SIGNING,
                &rs::ECDSA_P384_SHA384_FIXED_SIGNING,
            ),
            Some(_) => return Err("unsupported EC curve (use P-256 or P-384)".into()),
            None => return Err("EC private key without a named curve".into()),
        };
    let raw = der::strip_zeros(scalar.body);
    if raw.len() > len {
        return Err(bad());
    }
    let mut private = zeroize::Zeroizing::new(vec![0u8; len - raw.len()]);
    private.extend_from_slice(raw);
    let public = match public {
        Some(p) => p,
        None => derive_public(kind, &private).ok_or("EC private key out of range")?,
    };
    let rng = SystemRandom::new();
    let make = |alg| {
        EcdsaKeyPair::from_private_key_and_public_key(alg, &private, &public, &rng)
            .map(Box::new)
            .map_err(|e| format!("EC private key refused: {e}"))
    };
    Ok(Inner::Ec {
        kind,
        der: make(alg_der)?,
        fixed: make(alg_fixed)?,
    })
}

/// The uncompressed public point of a scalar.
fn derive_public(kind: KeyKind, scalar: &[u8]) -> Option<Vec<u8>> {
    match kind {
        KeyKind::EcP256 => {
            let sk = p256::SecretKey::from_slice(scalar).ok()?;
            Some(sk.public_key().to_sec1_point(false).as_bytes().to_vec())
        }
        KeyKind::EcP384 => {
            let sk = p384::SecretKey::from_slice(scalar).ok()?;
            Some(sk.public_key().to_sec1_point(false).as_bytes().to_vec())
        }
        _ => None,
    }
}

impl Inner {
    pub(super) fn kind(&self) -> KeyKind {
        match self {
            Inner::Rsa(kp) => KeyKind::Rsa(sig::rsa_bits(kp.public_key().as_ref()).unwrap_or(0)),
            Inner::Ec { kind, .. } => *kind,
        }
    }

    /// The public key, as ring takes it for verification.
    pub(super) fn public(&self) -> PubKey {
        let key = match self {
            Inner::Rsa(kp) => kp.public_key().as_ref().to_vec(),
            Inner::Ec { der, .. } => der.public_key().as_ref().to_vec(),
        };
        PubKey {
            kind: self.kind(),
            key,
        }
    }
}

/// (modulus, exponent) of an RSAPublicKey, without leading zeros.
fn rsa_parts(der_bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let seq = der::only(der_bytes, der::SEQ)?;
    let (n, rest) = der::expect(seq.body, der::INT)?;
    let e = der::only(rest, der::INT)?;
    Some((der::strip_zeros(n.body), der::strip_zeros(e.body)))
}

pub(super) fn matches(key: &PrivateKey, cert: &Cert) -> bool {
    let Some(theirs) = super::cert::spki_of(&cert.der) else {
        return false;
    };
    let ours = key.inner.public();
    match (ours.kind, theirs.kind) {
        (KeyKind::Rsa(_), KeyKind::Rsa(_)) => {
            rsa_parts(&ours.key).is_some() && rsa_parts(&ours.key) == rsa_parts(&theirs.key)
        }
        (a, b) => a == b && a != KeyKind::Other && ours.key == theirs.key,
    }
}

pub(super) const NO_SHA1: &str =
    "RSA with SHA-1 cannot be signed (ring offers no SHA-1 signing); the peer must support RFC 7427";

pub(super) fn sign(
    key: &PrivateKey,
    scheme: SigScheme,
    enc: SigEncoding,
    msg: &[u8],
) -> Result<Vec<u8>, String> {
    let rng = SystemRandom::new();
    let misfit = || {
        format!(
            "scheme {} does not fit the key ({})",
            scheme.name(),
            key.kind()
        )
    };
    match &key.inner {
        Inner::Rsa(kp) => {
            let padding: &'static dyn rs::RsaEncoding = match scheme {
                SigScheme::RsaPkcs1Sha1 => return Err(NO_SHA1.into()),
                SigScheme::RsaPkcs1Sha256 => &rs::RSA_PKCS1_SHA256,
                SigScheme::RsaPkcs1Sha384 => &rs::RSA_PKCS1_SHA384,
                SigScheme::RsaPkcs1Sha512 => &rs::RSA_PKCS1_SHA512,
                SigScheme::RsaPssSha256 => &rs::RSA_PSS_SHA256,
                SigScheme::RsaPssSha384 => &rs::RSA_PSS_SHA384,
                SigScheme::RsaPssSha512 => &rs::RSA_PSS_SHA512,
                _ => return Err(misfit()),
            };
            let mut out = vec![0u8; kp.public().modulus_len()];
            kp.sign(padding, &rng, msg, &mut out)
                .map_err(|_| "RSA signing failed".to_string())?;
            Ok(out)
        }
        Inner::Ec { kind, der, fixed } => {
            let fits = matches!(
                (scheme, kind),
                (SigScheme::EcdsaP256Sha256, KeyKind::EcP256)
                    | (SigScheme::EcdsaP384Sha384, KeyKind::EcP384)
            );
            if !fits {
                return Err(misfit());
            }
            let kp = match enc {
                SigEncoding::Der => der,
                SigEncoding::Fixed => fixed,
            };
            kp.sign(&rng, msg)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| "ECDSA signing failed".to_string())
        }
    }
}

pub(super) fn schemes(key: &PrivateKey) -> Vec<SigScheme> {
    // SHA-1 is never listed, even with allow-weak: ring cannot sign it.
    match key.inner.kind() {
        KeyKind::Rsa(_) => vec![
            SigScheme::RsaPssSha256,
            SigScheme::RsaPssSha384,
            SigScheme::RsaPssSha512,
            SigScheme::RsaPkcs1Sha256,
            SigScheme::RsaPkcs1Sha384,
            SigScheme::RsaPkcs1Sha512,
        ],
        KeyKind::EcP256 => vec![SigScheme::EcdsaP256Sha256],
        KeyKind::EcP384 => vec![SigScheme::EcdsaP384Sha384],
        KeyKind::Other => Vec::new(),
    }
}

impl fmt::Display for KeyKind {
    /// "RSA 3072", "ECDSA P-256", "ECDSA P-384", "unsupported".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyKind::Rsa(bits) => write!(f, "RSA {bits}"),
            KeyKind::EcP256 => f.write_str("ECDSA P-256"),
            KeyKind::EcP384 => f.write_str("ECDSA P-384"),
            KeyKind::Other => f.write_str("unsupported"),
        }
    }
}
