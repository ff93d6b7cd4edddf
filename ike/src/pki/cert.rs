//! Certificates and CRLs: parsing (x509-parser), identities, signatures.

use super::dn;
use super::sig::{self, PubKey};
use super::{Cert, Crl, KeyKind, SigEncoding, SigScheme};
use crate::sa::config::Identity;
use std::net::IpAddr;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

/// A certificate with what chain validation needs besides [`Cert`].
pub(super) struct Full {
    pub cert: Cert,
    pub issuer_der: Vec<u8>,
    /// The public key (None when the SubjectPublicKeyInfo does not parse).
    pub pk: Option<PubKey>,
    /// basicConstraints: (cA, pathLenConstraint), when present.
    pub bc: Option<(bool, Option<u32>)>,
    /// keyUsage: (digitalSignature, keyCertSign, cRLSign), when present.
    pub ku: Option<(bool, bool, bool)>,
}

/// Whether the bytes look like PEM.
pub(super) fn is_pem(bytes: &[u8]) -> bool {
    bytes.trim_ascii_start().starts_with(b"-----BEGIN ")
        || bytes.windows(12).any(|w| w == b"\n-----BEGIN ")
}

/// The PEM blocks with this label.
pub(super) fn pem_blocks(bytes: &[u8], label: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    for pem in x509_parser::pem::Pem::iter_from_buffer(bytes) {
        let pem = pem.map_err(|e| format!("malformed PEM: {e}"))?;
        if pem.label == label {
            out.push(pem.contents);
        }
    }
    Ok(out)
}

fn time(t: x509_parser::time::ASN1Time) -> std::time::SystemTime {
    dn::from_unix(t.timestamp())
}

pub(super) fn parse_full(der_bytes: &[u8]) -> Result<Full, String> {
    let (rest, x) = x509_parser::parse_x509_certificate(der_bytes)
        .map_err(|e| format!("certificate does not parse: {e}"))?;
    if !rest.is_empty() {
        return Err("certificate does not parse: trailing data".into());
    }
    let der = der_bytes
        .get(..der_bytes.len() - rest.len())
        .unwrap_or_default()
        .to_vec();
    let tbs = &x.tbs_certificate;
    let subject_der = tbs.subject().as_raw().to_vec();
    let issuer_der = tbs.issuer().as_raw().to_vec();
    let subject = dn::dn_to_string(&subject_der).ok_or("certificate subject does not parse")?;
    let issuer = dn::dn_to_string(&issuer_der).ok_or("certificate issuer does not parse")?;
    let spki_raw = tbs.public_key().raw;
    let pk = sig::parse_spki(spki_raw);
    let bad_ext = |e| format!("certificate extension does not parse: {e}");
    let bc = tbs
        .basic_constraints()
        .map_err(bad_ext)?
        .map(|b| (b.value.ca, b.value.path_len_constraint));
    let ku = tbs.key_usage().map_err(bad_ext)?.map(|k| {
        (
            k.value.digital_signature(),
            k.value.key_cert_sign(),
            k.value.crl_sign(),
        )
    });
    let (mut san_dns, mut san_email, mut san_ip) = (Vec::new(), Vec::new(), Vec::new());
    if let Some(san) = tbs.subject_alternative_name().map_err(bad_ext)? {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(s) => san_dns.push((*s).to_string()),
                GeneralName::RFC822Name(s) => san_email.push((*s).to_string()),
                GeneralName::IPAddress(b) => {
                    if let Ok(a) = <[u8; 4]>::try_from(*b) {
                        san_ip.push(IpAddr::from(a));
                    } else if let Ok(a) = <[u8; 16]>::try_from(*b) {
                        san_ip.push(IpAddr::from(a));
                    }
                }
                _ => {}
            }
        }
    }
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, spki_raw);
    let mut key_hash = [0u8; 20];
    key_hash.copy_from_slice(digest.as_ref().get(..20).unwrap_or(&[0; 20]));
    let cert = Cert {
        der,
        subject,
        subject_der,
        issuer,
        serial: super::der::strip_zeros(tbs.raw_serial()).to_vec(),
        not_before: time(tbs.validity().not_before),
        not_after: time(tbs.validity().not_after),
        key: pk.as_ref().map_or(KeyKind::Other, |p| p.kind),
        key_hash,
        san_dns,
        san_email,
        san_ip,
        is_ca: bc.is_some_and(|(ca, _)| ca),
    };
    Ok(Full {
        cert,
        issuer_der,
        pk,
        bc,
        ku,
    })
}

/// The public key of a DER certificate.
pub(super) fn spki_of(der_bytes: &[u8]) -> Option<PubKey> {
    let (_, x) = x509_parser::parse_x509_certificate(der_bytes).ok()?;
    sig::parse_spki(x.tbs_certificate.public_key().raw)
}

pub(super) fn parse_all(bytes: &[u8]) -> Result<Vec<Cert>, String> {
    if !is_pem(bytes) {
        return Ok(vec![parse_full(bytes)?.cert]);
    }
    let blocks = pem_blocks(bytes, "CERTIFICATE")?;
    if blocks.is_empty() {
        return Err("no CERTIFICATE block".into());
    }
    blocks
        .iter()
        .map(|b| parse_full(b).map(|f| f.cert))
        .collect()
}

pub(super) fn verify(
    cert: &Cert,
    scheme: SigScheme,
    enc: SigEncoding,
    msg: &[u8],
    signature: &[u8],
) -> Result<(), String> {
    let pk = spki_of(&cert.der).ok_or("the certificate's public key does not parse")?;
    sig::verify(&pk, scheme, enc, msg, signature)
}

/// Values of one attribute type in the subject.
fn subject_attr(cert: &Cert, oid: &[u8]) -> Vec<String> {
    dn::rdns(&cert.subject_der)
        .unwrap_or_default()
        .iter()
        .flatten()
        .filter(|a| a.oid == oid)
        .filter_map(|a| dn::value_text(&a.value))
        .collect()
}

pub(super) fn contains_identity(cert: &Cert, id: &Identity) -> bool {
    let any_eq = |list: &[String], s: &str| list.iter().any(|x| x.eq_ignore_ascii_case(s));
    match id {
        Identity::Fqdn(f) => {
            any_eq(&cert.san_dns, f)
                || (cert.san_dns.is_empty() && any_eq(&subject_attr(cert, dn::CN), f))
        }
        Identity::Email(e) => {
            any_eq(&cert.san_email, e)
                || (cert.san_email.is_empty()
                    && (any_eq(&subject_attr(cert, dn::EMAIL), e)
                        || any_eq(&subject_attr(cert, dn::CN), e)))
        }
        Identity::Address(a) => cert.san_ip.contains(a),
        Identity::Dn(d) => dn::same_name(d, &cert.subject_der),
        Identity::KeyId(_) => false,
    }
}

pub(super) fn days_left(cert: &Cert, now: std::time::SystemTime) -> i64 {
    (dn::unix(cert.not_after).saturating_sub(dn::unix(now))).div_euclid(86_400)
}

pub(super) fn parse_crl(bytes: &[u8]) -> Result<Crl, String> {
    let der = if is_pem(bytes) {
        let mut blocks = pem_blocks(bytes, "X509 CRL")?;
        if blocks.len() > 1 {
            return Err("more than one X509 CRL block".into());
        }
        blocks.pop().ok_or("no X509 CRL block")?
    } else {
        bytes.to_vec()
    };
    let (rest, crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(&der)
        .map_err(|e| format!("CRL does not parse: {e}"))?;
    if !rest.is_empty() {
        return Err("CRL does not parse: trailing data".into());
    }
    let issuer = dn::dn_to_string(crl.issuer().as_raw()).ok_or("CRL issuer does not parse")?;
    let revoked = crl
        .iter_revoked_certificates()
        .map(|r| super::der::strip_zeros(r.raw_serial()).to_vec())
        .collect();
    Ok(Crl {
        issuer,
        this_update: time(crl.last_update()),
        next_update: crl.next_update().map(time),
        revoked,
        der: der.clone(),
    })
}

/// The DER issuer Name of a CRL.
pub(super) fn crl_issuer_der(der_bytes: &[u8]) -> Option<Vec<u8>> {
    let (_, crl) =
        x509_parser::revocation_list::CertificateRevocationList::from_der(der_bytes).ok()?;
    Some(crl.issuer().as_raw().to_vec())
}
