//! Signature schemes: the RFC 7427 AlgorithmIdentifiers (as strongSwan
//! writes and reads them), public keys out of a SubjectPublicKeyInfo, and
//! verification with ring.

use super::der::{self, oid};
use super::{KeyKind, SigEncoding, SigScheme};
use ring::signature::{self as rs, VerificationAlgorithm};

impl SigScheme {
    /// Every scheme.
    #[cfg(test)]
    pub(super) const ALL: [SigScheme; 9] = [
        SigScheme::RsaPkcs1Sha1,
        SigScheme::RsaPkcs1Sha256,
        SigScheme::RsaPkcs1Sha384,
        SigScheme::RsaPkcs1Sha512,
        SigScheme::RsaPssSha256,
        SigScheme::RsaPssSha384,
        SigScheme::RsaPssSha512,
        SigScheme::EcdsaP256Sha256,
        SigScheme::EcdsaP384Sha384,
    ];
}

/// OID contents of a hash, and its output length.
fn hash_oid(h: u16) -> (&'static [u8], u64) {
    match h {
        super::hash::SHA384 => (oid::SHA384, 48),
        super::hash::SHA512 => (oid::SHA512, 64),
        super::hash::SHA1 => (oid::SHA1, 20),
        _ => (oid::SHA256, 32),
    }
}

fn hash_from_oid(o: &[u8]) -> Option<u16> {
    Some(match o {
        x if x == oid::SHA1 => super::hash::SHA1,
        x if x == oid::SHA256 => super::hash::SHA256,
        x if x == oid::SHA384 => super::hash::SHA384,
        x if x == oid::SHA512 => super::hash::SHA512,
        _ => return None,
    })
}

/// AlgorithmIdentifier { oid, NULL } as strongSwan's
/// asn1_algorithmIdentifier writes it for everything but ECDSA.
fn alg_id_null(o: &[u8]) -> Vec<u8> {
    der::tlv(
        der::SEQ,
        &der::cat(&[&der::tlv(der::OID, o), &der::tlv(der::NULL, &[])]),
    )
}

pub(super) fn algorithm_identifier(s: SigScheme) -> Vec<u8> {
    match s {
        SigScheme::RsaPkcs1Sha1 => alg_id_null(oid::SHA1_WITH_RSA),
        SigScheme::RsaPkcs1Sha256 => alg_id_null(oid::SHA256_WITH_RSA),
        SigScheme::RsaPkcs1Sha384 => alg_id_null(oid::SHA384_WITH_RSA),
        SigScheme::RsaPkcs1Sha512 => alg_id_null(oid::SHA512_WITH_RSA),
        SigScheme::EcdsaP256Sha256 => der::tlv(der::SEQ, &der::tlv(der::OID, oid::ECDSA_SHA256)),
        SigScheme::EcdsaP384Sha384 => der::tlv(der::SEQ, &der::tlv(der::OID, oid::ECDSA_SHA384)),
        SigScheme::RsaPssSha256 | SigScheme::RsaPssSha384 | SigScheme::RsaPssSha512 => {
            // strongSwan's rsa_pss_params_build: hashAlgorithm and the
            // MGF1 hash with NULL parameters, saltLength = hash length,
            // trailerField omitted (RFC 7427 A.4.3 is the same bytes).
            let (h, len) = hash_oid(s.hash());
            let hash = alg_id_null(h);
            let mgf = der::tlv(
                der::SEQ,
                &der::cat(&[&der::tlv(der::OID, oid::MGF1), &hash]),
            );
            let salt = der::tlv(der::INT, &[len as u8]);
            let params = der::tlv(
                der::SEQ,
                &der::cat(&[
                    &der::tlv(0xa0, &hash),
                    &der::tlv(0xa1, &mgf),
                    &der::tlv(0xa2, &salt),
                ]),
            );
            der::tlv(
                der::SEQ,
                &der::cat(&[&der::tlv(der::OID, oid::RSASSA_PSS), &params]),
            )
        }
    }
}

/// Parameters absent or NULL.
fn no_params(rest: &[u8]) -> bool {
    rest.is_empty() || der::only(rest, der::NULL).is_some_and(|t| t.body.is_empty())
}

/// A hash AlgorithmIdentifier (parameters absent or NULL).
fn parse_hash_alg(raw: &[u8]) -> Option<u16> {
    let seq = der::only(raw, der::SEQ)?;
    let (o, rest) = der::expect(seq.body, der::OID)?;
    no_params(rest).then_some(())?;
    hash_from_oid(o.body)
}

/// RSASSA-PSS-params (RFC 8017 A.2.3) with DEFAULTs; the scheme when
/// hash and MGF1 hash agree, the salt is the hash length and the trailer
/// field is 1.
fn parse_pss_params(rest: &[u8]) -> Option<SigScheme> {
    let params = der::only(rest, der::SEQ)?;
    let (mut h, mut mgf_h, mut salt, mut trailer) = (super::hash::SHA1, super::hash::SHA1, 20, 1);
    let mut body = params.body;
    let mut last_tag = 0u8;
    while !body.is_empty() {
        let (field, r) = der::read(body)?;
        body = r;
        if field.tag <= last_tag {
            return None;
        }
        last_tag = field.tag;
        match field.tag {
            0xa0 => h = parse_hash_alg(field.body)?,
            0xa1 => {
                let seq = der::only(field.body, der::SEQ)?;
                let (o, inner) = der::expect(seq.body, der::OID)?;
                (o.body == oid::MGF1).then_some(())?;
                mgf_h = parse_hash_alg(inner)?;
            }
            0xa2 => salt = der::small_uint(der::only(field.body, der::INT)?.body)?,
            0xa3 => trailer = der::small_uint(der::only(field.body, der::INT)?.body)?,
            _ => return None,
        }
    }
    let scheme = match h {
        super::hash::SHA256 => SigScheme::RsaPssSha256,
        super::hash::SHA384 => SigScheme::RsaPssSha384,
        super::hash::SHA512 => SigScheme::RsaPssSha512,
        _ => return None,
    };
    (mgf_h == h && salt == hash_oid(h).1 && trailer == 1).then_some(scheme)
}

/// The scheme of a DER AlgorithmIdentifier (exactly one TLV).
pub(super) fn parse_alg_id(raw: &[u8]) -> Option<SigScheme> {
    let seq = der::only(raw, der::SEQ)?;
    let (o, rest) = der::expect(seq.body, der::OID)?;
    let rsa = |s| no_params(rest).then_some(s);
    match o.body {
        x if x == oid::SHA1_WITH_RSA => rsa(SigScheme::RsaPkcs1Sha1),
        x if x == oid::SHA256_WITH_RSA => rsa(SigScheme::RsaPkcs1Sha256),
        x if x == oid::SHA384_WITH_RSA => rsa(SigScheme::RsaPkcs1Sha384),
        x if x == oid::SHA512_WITH_RSA => rsa(SigScheme::RsaPkcs1Sha512),
        x if x == oid::ECDSA_SHA256 => rsa(SigScheme::EcdsaP256Sha256),
        x if x == oid::ECDSA_SHA384 => rsa(SigScheme::EcdsaP384Sha384),
        x if x == oid::RSASSA_PSS => parse_pss_params(rest),
        _ => None,
    }
}

pub(super) fn split_auth_data(data: &[u8]) -> Option<(SigScheme, &[u8])> {
    let (&len, rest) = data.split_first()?;
    let len = usize::from(len);
    if rest.len() < len {
        return None;
    }
    let (alg, sig) = rest.split_at(len);
    Some((parse_alg_id(alg)?, sig))
}

/// A public key as ring takes it.
#[derive(Debug, Clone)]
pub(super) struct PubKey {
    pub kind: KeyKind,
    /// RSA: the RSAPublicKey DER; EC: the SEC1 point.
    pub key: Vec<u8>,
}

/// Bit length of a big-endian unsigned integer.
fn bit_len(n: &[u8]) -> u32 {
    let n = der::strip_zeros(n);
    match n.first() {
        None => 0,
        Some(&top) => (n.len() as u32 - 1) * 8 + (8 - top.leading_zeros()),
    }
}

/// RSA modulus size of an RSAPublicKey DER (PKCS#1).
pub(super) fn rsa_bits(rsa_public_key: &[u8]) -> Option<u32> {
    let seq = der::only(rsa_public_key, der::SEQ)?;
    let (n, rest) = der::expect(seq.body, der::INT)?;
    let (_e, rest) = der::expect(rest, der::INT)?;
    rest.is_empty().then(|| bit_len(n.body))
}

/// The key of a DER SubjectPublicKeyInfo.
pub(super) fn parse_spki(raw: &[u8]) -> Option<PubKey> {
    let seq = der::only(raw, der::SEQ)?;
    let (alg, rest) = der::expect(seq.body, der::SEQ)?;
    let bits = der::only(rest, der::BITS)?;
    let (&unused, key) = bits.body.split_first()?;
    if unused != 0 {
        return None;
    }
    let (o, params) = der::expect(alg.body, der::OID)?;
    let kind = if o.body == oid::RSA_ENCRYPTION {
        KeyKind::Rsa(rsa_bits(key)?)
    } else if o.body == oid::EC_PUBLIC_KEY {
        match der::only(params, der::OID).map(|c| c.body) {
            Some(c) if c == oid::P256 => KeyKind::EcP256,
            Some(c) if c == oid::P384 => KeyKind::EcP384,
            _ => KeyKind::Other,
        }
    } else {
        KeyKind::Other
    };
    Some(PubKey {
        kind,
        key: key.to_vec(),
    })
}

/// ring's verification algorithm for a scheme and encoding on a key;
/// ECDSA in DER also across curves (ecdsa-with-SHA256 on P-384), which
/// RFC 7427 allows.
pub(super) fn verification_alg(
    scheme: SigScheme,
    enc: SigEncoding,
    kind: KeyKind,
) -> Result<&'static dyn VerificationAlgorithm, String> {
    use SigScheme as S;
    let misfit = || {
        Err(format!(
            "scheme {} does not fit the key ({kind})",
            scheme.name()
        ))
    };
    Ok(match (scheme, kind, enc) {
        (S::RsaPkcs1Sha1, KeyKind::Rsa(_), _) => &rs::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
        (S::RsaPkcs1Sha256, KeyKind::Rsa(_), _) => &rs::RSA_PKCS1_2048_8192_SHA256,
        (S::RsaPkcs1Sha384, KeyKind::Rsa(_), _) => &rs::RSA_PKCS1_2048_8192_SHA384,
        (S::RsaPkcs1Sha512, KeyKind::Rsa(_), _) => &rs::RSA_PKCS1_2048_8192_SHA512,
        (S::RsaPssSha256, KeyKind::Rsa(_), _) => &rs::RSA_PSS_2048_8192_SHA256,
        (S::RsaPssSha384, KeyKind::Rsa(_), _) => &rs::RSA_PSS_2048_8192_SHA384,
        (S::RsaPssSha512, KeyKind::Rsa(_), _) => &rs::RSA_PSS_2048_8192_SHA512,
        (S::EcdsaP256Sha256, KeyKind::EcP256, SigEncoding::Der) => &rs::ECDSA_P256_SHA256_ASN1,
        (S::EcdsaP256Sha256, KeyKind::EcP256, SigEncoding::Fixed) => &rs::ECDSA_P256_SHA256_FIXED,
        (S::EcdsaP384Sha384, KeyKind::EcP384, SigEncoding::Der) => &rs::ECDSA_P384_SHA384_ASN1,
        (S::EcdsaP384Sha384, KeyKind::EcP384, SigEncoding::Fixed) => &rs::ECDSA_P384_SHA384_FIXED,
        (S::EcdsaP256Sha256, KeyKind::EcP384, SigEncoding::Der) => &rs::ECDSA_P384_SHA256_ASN1,
        (S::EcdsaP384Sha384, KeyKind::EcP256, SigEncoding::Der) => &rs::ECDSA_P256_SHA384_ASN1,
        _ => return misfit(),
    })
}

/// Verify a signature with a public key.
pub(super) fn verify(
    pk: &PubKey,
    scheme: SigScheme,
    enc: SigEncoding,
    msg: &[u8],
    sig: &[u8],
) -> Result<(), String> {
    let alg = verification_alg(scheme, enc, pk.kind)?;
    rs::UnparsedPublicKey::new(alg, &pk.key)
        .verify(msg, sig)
        .map_err(|_| "signature does not verify".to_string())
}

/// A signed X.509 structure (certificate or CRL): the TBS bytes, the
/// AlgorithmIdentifier and the signature.
pub(super) struct Signed<'a> {
    pub tbs: &'a [u8],
    pub alg: &'a [u8],
    pub sig: &'a [u8],
}

pub(super) fn split_signed(der_bytes: &[u8]) -> Option<Signed<'_>> {
    let outer = der::only(der_bytes, der::SEQ)?;
    let (tbs, rest) = der::expect(outer.body, der::SEQ)?;
    let (alg, rest) = der::expect(rest, der::SEQ)?;
    let bits = der::only(rest, der::BITS)?;
    let (&unused, sig) = bits.body.split_first()?;
    (unused == 0).then_some(Signed {
        tbs: tbs.raw,
        alg: alg.raw,
        sig,
    })
}

/// Check that `signer` signed a certificate or CRL. Err: the reason.
pub(super) fn verify_signed(
    der_bytes: &[u8],
    signer: &PubKey,
    allow_weak: bool,
) -> Result<(), String> {
    let s = split_signed(der_bytes).ok_or("malformed signed structure")?;
    let scheme = parse_alg_id(s.alg).ok_or("unsupported signature algorithm")?;
    if scheme.is_weak() && !allow_weak {
        return Err("signed with SHA-1 (only under crypto allow-weak)".into());
    }
    verify(signer, scheme, SigEncoding::Der, s.tbs, s.sig)
}

/// Names for logs.
pub(super) fn name(s: SigScheme) -> &'static str {
    match s {
        SigScheme::RsaPkcs1Sha1 => "RSA-SHA1",
        SigScheme::RsaPkcs1Sha256 => "RSA-SHA256",
        SigScheme::RsaPkcs1Sha384 => "RSA-SHA384",
        SigScheme::RsaPkcs1Sha512 => "RSA-SHA512",
        SigScheme::RsaPssSha256 => "RSA-PSS-SHA256",
        SigScheme::RsaPssSha384 => "RSA-PSS-SHA384",
        SigScheme::RsaPssSha512 => "RSA-PSS-SHA512",
        SigScheme::EcdsaP256Sha256 => "ECDSA-P256-SHA256",
        SigScheme::EcdsaP384Sha384 => "ECDSA-P384-SHA384",
    }
}
