//! Trustpoints: loading and checking our files, and validating a peer's
//! certificate chain against the trust anchors.

use super::cert::{self, Full};
use super::{date, dn, sig};
use super::{Cert, Crl, PeerCertError, PrivateKey, TrustPoint, TrustPointFiles};
use std::fmt;
use std::path::Path;
use std::time::SystemTime;

/// At most this many certificates in a path, trust anchor included.
const MAX_DEPTH: usize = 8;
/// At most this many intermediates of a peer are considered.
const MAX_INTERMEDIATES: usize = 16;
/// At most this many signature checks while building one path.
const MAX_SIG_CHECKS: u32 = 64;

/// How the files are named in errors.
pub(super) struct Labels {
    pub ca: String,
    pub cert: String,
    pub key: String,
    pub crl: String,
}

impl Labels {
    pub(super) fn plain() -> Labels {
        Labels {
            ca: "ca-certificate".into(),
            cert: "certificate".into(),
            key: "private-key".into(),
            crl: "revocation-check crl".into(),
        }
    }
}

fn label(what: &str, p: Option<&Path>) -> String {
    p.map_or_else(|| what.to_string(), |p| format!("{what} {}", p.display()))
}

fn section(b: &Option<Vec<u8>>) -> Option<Vec<&[u8]>> {
    b.as_ref().map(|b| vec![b.as_slice()])
}

fn ders(v: &[Cert]) -> Vec<&[u8]> {
    v.iter().map(|c| c.der.as_slice()).collect()
}

/// SHA-256 over labelled sections.
fn digest(sections: &[(&str, Option<Vec<&[u8]>>)]) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for (name, parts) in sections {
        ctx.update(name.as_bytes());
        match parts {
            None => ctx.update(&[0xff]),
            Some(parts) => {
                ctx.update(&[0x00]);
                ctx.update(&(parts.len() as u64).to_be_bytes());
                for p in parts {
                    ctx.update(&(p.len() as u64).to_be_bytes());
                    ctx.update(p);
                }
            }
        }
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

pub(super) fn load(
    name: &str,
    files: &TrustPointFiles<'_>,
    now: SystemTime,
) -> Result<TrustPoint, String> {
    let labels = Labels {
        ca: label("ca-certificate", files.ca),
        cert: label("certificate", files.certificate),
        key: label("private-key", files.key),
        crl: label("revocation-check crl", files.crl),
    };
    let ca_path = files
        .ca
        .ok_or_else(|| format!("trustpoint {name}: no ca-certificate"))?;
    let read = |l: &str, p: &Path| std::fs::read(p).map_err(|e| format!("{l}: cannot read: {e}"));
    let ca_bytes = read(&labels.ca, ca_path)?;
    let cert_bytes = files
        .certificate
        .map(|p| read(&labels.cert, p))
        .transpose()?;
    let key_bytes = files.key.map(|p| read(&labels.key, p)).transpose()?;
    let crl_bytes = files.crl.map(|p| read(&labels.crl, p)).transpose()?;
    let ca = Cert::parse_all(&ca_bytes).map_err(|e| format!("{}: {e}", labels.ca))?;
    let chain = match &cert_bytes {
        Some(b) => Cert::parse_all(b).map_err(|e| format!("{}: {e}", labels.cert))?,
        None => Vec::new(),
    };
    let key = match &key_bytes {
        Some(b) => Some(PrivateKey::parse(b).map_err(|e| format!("{}: {e}", labels.key))?),
        None => None,
    };
    let crl = match &crl_bytes {
        Some(b) => Some(Crl::parse(b).map_err(|e| format!("{}: {e}", labels.crl))?),
        None => None,
    };
    let mut tp = build(name, ca, chain, key, crl, now, &labels)?;
    tp.digest = digest(&[
        ("ca-certificate", Some(vec![ca_bytes.as_slice()])),
        ("certificate", section(&cert_bytes)),
        ("private-key", section(&key_bytes)),
        ("revocation-check crl", section(&crl_bytes)),
    ]);
    Ok(tp)
}

/// "expired on" / "not valid before" of a certificate at `now`.
fn date_problem(c: &Cert, now: SystemTime) -> Option<String> {
    if now > c.not_after {
        Some(format!("expired on {}", date(c.not_after)))
    } else if now < c.not_before {
        Some(format!("not valid before {}", date(c.not_before)))
    } else {
        None
    }
}

pub(super) fn build(
    name: &str,
    ca: Vec<Cert>,
    chain: Vec<Cert>,
    key: Option<PrivateKey>,
    crl: Option<Crl>,
    now: SystemTime,
    l: &Labels,
) -> Result<TrustPoint, String> {
    if ca.is_empty() {
        return Err(format!("trustpoint {name}: no ca-certificate"));
    }
    for c in &ca {
        if let Some(p) = date_problem(c, now) {
            return Err(format!("{} ({}) {p}", l.ca, c.subject));
        }
    }
    match (chain.first(), &key) {
        (Some(_), None) => return Err(format!("{} without private-key", l.cert)),
        (None, Some(_)) => return Err(format!("{} without certificate", l.key)),
        (Some(ours), Some(k)) => {
            if !k.matches(ours) {
                return Err(format!("{} does not match {}", l.key, l.cert));
            }
            if let Some(p) = date_problem(ours, now) {
                return Err(format!("{} ({}) {p}", l.cert, ours.subject));
            }
            let inters: Vec<Vec<u8>> = chain.iter().skip(1).map(|c| c.der.clone()).collect();
            match validate(&ca, None, "", &ours.der, &inters, now, true) {
                Ok(_) => {}
                Err(PeerCertError::Untrusted { .. } | PeerCertError::BadSignature) => {
                    return Err(format!(
                        "{} ({}) does not chain to {}",
                        l.cert, ours.subject, l.ca
                    ));
                }
                Err(e) => return Err(format!("{} ({}): {e}", l.cert, ours.subject)),
            }
        }
        (None, None) => {}
    }
    if let Some(crl) = &crl {
        check_crl_signer(crl, &ca, l)?;
    }
    let key_pub = key.as_ref().map(|k| k.inner.public().key);
    let digest = digest(&[
        ("ca-certificate", Some(ders(&ca))),
        ("certificate", (!chain.is_empty()).then(|| ders(&chain))),
        ("private-key", key_pub.as_deref().map(|k| vec![k])),
        (
            "revocation-check crl",
            crl.as_ref().map(|c| vec![c.der.as_slice()]),
        ),
    ]);
    Ok(TrustPoint {
        name: name.to_string(),
        ca,
        chain,
        key,
        crl,
        digest,
    })
}

fn check_crl_signer(crl: &Crl, ca: &[Cert], l: &Labels) -> Result<(), String> {
    let issuer =
        cert::crl_issuer_der(&crl.der).ok_or_else(|| format!("{}: CRL does not parse", l.crl))?;
    let mut reason = format!("{} ({}) is not issued by {}", l.crl, crl.issuer, l.ca);
    for c in ca.iter().filter(|c| dn::same_name(&issuer, &c.subject_der)) {
        let Some(pk) = cert::spki_of(&c.der) else {
            continue;
        };
        match sig::verify_signed(&crl.der, &pk, true) {
            Ok(()) => return Ok(()),
            Err(e) => reason = format!("{} ({}) is not signed by {}: {e}", l.crl, crl.issuer, l.ca),
        }
    }
    Err(reason)
}

/// Depth-first path building with bounded depth and signature checks.
struct Search<'a> {
    anchors: &'a [Full],
    inters: &'a [Full],
    allow_weak: bool,
    budget: u32,
    sig_failed: bool,
    weak: Option<String>,
}

impl<'a> Search<'a> {
    fn signed_by(&mut self, child: &Full, issuer: &Full) -> bool {
        if !dn::same_name(&child.issuer_der, &issuer.cert.subject_der) || self.budget == 0 {
            return false;
        }
        self.budget -= 1;
        let Some(pk) = &issuer.pk else { return false };
        match sig::verify_signed(&child.cert.der, pk, self.allow_weak) {
            Ok(()) => true,
            Err(e) if e.contains("SHA-1") => {
                self.weak
                    .get_or_insert(format!("certificate of {} is {e}", child.cert.subject));
                false
            }
            Err(_) => {
                self.sig_failed = true;
                false
            }
        }
    }

    fn extend(&mut self, path: &mut Vec<&'a Full>) -> bool {
        let Some(&cur) = path.last() else {
            return false;
        };
        if path.len() >= MAX_DEPTH {
            return false;
        }
        for a in self.anchors {
            if self.signed_by(cur, a) {
                path.push(a);
                return true;
            }
        }
        for c in self.inters {
            if path.iter().any(|p| std::ptr::eq(*p, c)) || !self.signed_by(cur, c) {
                continue;
            }
            path.push(c);
            if self.extend(path) {
                return true;
            }
            path.pop();
        }
        false
    }
}

/// Validate a peer's chain; `crl_trustpoint` names the trustpoint in
/// Untrusted.
pub(super) fn validate(
    ca: &[Cert],
    crl: Option<&Crl>,
    trustpoint: &str,
    end_entity: &[u8],
    intermediates: &[Vec<u8>],
    now: SystemTime,
    allow_weak: bool,
) -> Result<Cert, PeerCertError> {
    let ee = cert::parse_full(end_entity).map_err(PeerCertError::Invalid)?;
    let inters: Vec<Full> = intermediates
        .iter()
        .take(MAX_INTERMEDIATES)
        .filter_map(|d| cert::parse_full(d).ok())
        .collect();
    let anchors: Vec<Full> = ca
        .iter()
        .filter_map(|c| cert::parse_full(&c.der).ok())
        .collect();
    let mut search = Search {
        anchors: &anchors,
        inters: &inters,
        allow_weak,
        budget: MAX_SIG_CHECKS,
        sig_failed: false,
        weak: None,
    };
    let mut path = vec![&ee];
    if !search.extend(&mut path) {
        return Err(match (search.weak, search.sig_failed) {
            (Some(w), _) => PeerCertError::Invalid(w),
            (None, true) => PeerCertError::BadSignature,
            (None, false) => PeerCertError::Untrusted {
                trustpoint: trustpoint.to_string(),
            },
        });
    }
    check_path(&path, now)?;
    if let Some(crl) = crl {
        check_crl(&path, crl, now)?;
    }
    Ok(ee.cert)
}

fn check_path(path: &[&Full], now: SystemTime) -> Result<(), PeerCertError> {
    let last = path.len().saturating_sub(1);
    for (i, f) in path.iter().enumerate() {
        let c = &f.cert;
        if now > c.not_after {
            return Err(PeerCertError::Expired {
                subject: c.subject.clone(),
                on: date(c.not_after),
                end_entity: i == 0,
            });
        }
        if now < c.not_before {
            return Err(PeerCertError::NotYetValid {
                subject: c.subject.clone(),
                from: date(c.not_before),
            });
        }
        if i == 0 {
            if matches!(f.ku, Some((false, _, _))) {
                return Err(PeerCertError::Invalid(format!(
                    "certificate of {} may not sign (keyUsage without digitalSignature)",
                    c.subject
                )));
            }
            continue;
        }
        // An issuer: a CA (the trust anchor only if it says otherwise).
        let is_ca = match f.bc {
            Some((ca, _)) => ca,
            None => i == last,
        };
        if !is_ca {
            return Err(PeerCertError::Invalid(format!(
                "certificate of {} is not a CA (basicConstraints) but issued {}",
                c.subject,
                path.get(i - 1).map_or("", |p| p.cert.subject.as_str())
            )));
        }
        if matches!(f.ku, Some((_, false, _))) {
            return Err(PeerCertError::Invalid(format!(
                "certificate of {} may not issue certificates (keyUsage without keyCertSign)",
                c.subject
            )));
        }
        if let Some((_, Some(n))) = f.bc {
            // Intermediate CAs below this one (the end entity not counted).
            let below = i - 1;
            if below > n as usize {
                return Err(PeerCertError::Invalid(format!(
                    "path length constraint {n} of {} exceeded ({below} CAs below it)",
                    c.subject
                )));
            }
        }
    }
    Ok(())
}

fn check_crl(path: &[&Full], crl: &Crl, now: SystemTime) -> Result<(), PeerCertError> {
    let Some(issuer) = cert::crl_issuer_der(&crl.der) else {
        return Err(PeerCertError::Crl(format!(
            "CRL of {} does not parse",
            crl.issuer
        )));
    };
    let covered: Vec<&&Full> = path
        .iter()
        .take(path.len().saturating_sub(1))
        .filter(|f| dn::same_name(&f.issuer_der, &issuer))
        .collect();
    for f in &covered {
        if crl.revoked.contains(&f.cert.serial) {
            return Err(PeerCertError::Revoked {
                subject: f.cert.subject.clone(),
                crl_issuer: crl.issuer.clone(),
                serial: super::serial_hex(&f.cert.serial),
            });
        }
    }
    match crl.next_update {
        Some(next) if !covered.is_empty() && now > next => Err(PeerCertError::Crl(format!(
            "CRL of {} expired on {}",
            crl.issuer,
            date(next)
        ))),
        _ => Ok(()),
    }
}

impl fmt::Display for PeerCertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerCertError::NoCertificate => f.write_str("no certificate received"),
            PeerCertError::Revoked {
                subject,
                crl_issuer,
                serial,
            } => {
                write!(
                    f,
                    "certificate of {subject} revoked (CRL of {crl_issuer}, serial {serial})"
                )
            }
            PeerCertError::Expired {
                on,
                end_entity: true,
                ..
            } => {
                write!(f, "certificate expired on {on}")
            }
            PeerCertError::Expired {
                subject,
                on,
                end_entity: false,
            } => {
                write!(f, "certificate of {subject} expired on {on}")
            }
            PeerCertError::NotYetValid { subject, from } => {
                write!(f, "certificate of {subject} not valid before {from}")
            }
            PeerCertError::Untrusted { trustpoint } => {
                write!(f, "chain does not reach trustpoint {trustpoint}")
            }
            PeerCertError::Invalid(reason) | PeerCertError::Crl(reason) => f.write_str(reason),
            PeerCertError::IdNotInCert(id) => write!(f, "ID {id} not in certificate"),
            PeerCertError::BadSignature => f.write_str("signature does not verify"),
        }
    }
}
