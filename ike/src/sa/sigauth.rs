//! Certificate (signature) authentication in IKE_AUTH: RFC 7296 2.15 and
//! 3.6-3.8, RFC 7427 (Digital Signature, SIGNATURE_HASH_ALGORITHMS) and
//! RFC 4754 (ECDSA methods 9 and 10).
//!
//! What is signed is the same octet string a PSK AUTH is a MAC of
//! ([`signed_octets`]); who signs with what comes from the tunnel's
//! `authentication local|remote` and `pki trustpoint`s.

use super::config::{AuthKind, Identity, TunnelConfig};
use super::msg::{notify as n, Pl};
pub(crate) use crate::crypto::auth::signed_octets;
use crate::pki::{hash, Cert, KeyKind, PeerCertError, SigEncoding, SigScheme, TrustPoint};
use std::sync::Arc;
use std::time::SystemTime;

/// AUTH method: RSA Digital Signature (PKCS#1 v1.5 with SHA-1).
pub(crate) const AUTH_RSA: u8 = 1;
/// AUTH method: shared key message integrity code.
pub(crate) const AUTH_PSK: u8 = 2;
/// AUTH method: ECDSA with SHA-256 on P-256 (RFC 4754).
pub(crate) const AUTH_ECDSA_256: u8 = 9;
/// AUTH method: ECDSA with SHA-384 on P-384 (RFC 4754).
pub(crate) const AUTH_ECDSA_384: u8 = 10;
/// AUTH method: Digital Signature (RFC 7427).
pub(crate) const AUTH_DIGITAL_SIGNATURE: u8 = 14;

/// Certificate Encoding: X.509 Certificate - Signature.
pub(crate) const CERT_X509: u8 = 4;

/// The hashes we verify signatures with, as announced in
/// SIGNATURE_HASH_ALGORITHMS: SHA-1 only under `crypto allow-weak`.
pub(crate) fn our_hashes(allow_weak: bool) -> Vec<u16> {
    let mut v = Vec::new();
    if allow_weak {
        v.push(hash::SHA1);
    }
    v.extend([hash::SHA256, hash::SHA384, hash::SHA512]);
    v
}

/// The SIGNATURE_HASH_ALGORITHMS notify (RFC 7427 4).
pub(crate) fn hash_notify(allow_weak: bool) -> Pl {
    Pl::Notify {
        protocol: 0,
        spi: vec![],
        ty: n::SIGNATURE_HASH_ALGORITHMS,
        data: our_hashes(allow_weak)
            .iter()
            .flat_map(|h| h.to_be_bytes())
            .collect(),
    }
}

/// What one side's authentication was, for `show crypto ikev2 sa detail`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthInfo {
    /// "pre-shared key" or the signature scheme ("ECDSA-P256-SHA256 (RFC 7427)").
    pub method: String,
    /// The certificate's subject, with certificates.
    pub cert: Option<String>,
}

/// Our CERT payloads and AUTH payload for a signature, with what we used.
pub(crate) struct LocalSignature {
    pub certs: Vec<Pl>,
    pub auth: Pl,
    pub info: AuthInfo,
}

/// The trustpoint we sign with: the first with a certificate and key
/// whose chain the peer's CERTREQ names (an absent CERTREQ names any),
/// else the first with a certificate and key.
fn signing_trustpoint<'a>(
    t: &'a TunnelConfig,
    peer_certreq: Option<&[u8]>,
) -> Result<(&'a Arc<TrustPoint>, bool), String> {
    let usable: Vec<&Arc<TrustPoint>> = t
        .trustpoints
        .iter()
        .filter(|tp| tp.key.is_some() && !tp.chain.is_empty())
        .collect();
    let Some(first) = usable.first() else {
        return Err(format!(
            "authentication local {} needs a 'pki trustpoint' with a certificate and private key",
            t.auth_local.name()
        ));
    };
    match peer_certreq {
        None => Ok((first, true)),
        Some(req) => match usable.iter().find(|tp| tp.honours_certreq(req)) {
            Some(tp) => Ok((tp, true)),
            None => Ok((first, false)),
        },
    }
}

/// Sign `octets` for our AUTH payload, as `t.auth_local` says: RFC 7427
/// when the peer announced hashes we can use, else the classic method of
/// the key (ECDSA 9/10; RSA method 1 would need SHA-1 signing, which rvpn
/// does not do).
pub(crate) fn local_signature(
    t: &TunnelConfig,
    peer_hashes: Option<&[u16]>,
    peer_certreq: Option<&[u8]>,
    octets: &[u8],
    allow_weak: bool,
) -> Result<(LocalSignature, Option<String>), String> {
    let (tp, honoured) = signing_trustpoint(t, peer_certreq)?;
    let warning = (!honoured).then(|| {
        format!(
            "peer's CERTREQ names none of our CAs; sending our certificate of trustpoint {} anyway",
            tp.name
        )
    });
    let key = tp.key.as_ref().ok_or("no private key")?;
    let cert = tp.chain.first().ok_or("no certificate")?;
    let pss = match (t.auth_local, key.kind()) {
        (AuthKind::Rsa { pss }, KeyKind::Rsa(_)) => pss,
        (AuthKind::Ecdsa, KeyKind::EcP256 | KeyKind::EcP384) => false,
        (want, have) => {
            return Err(format!(
                "authentication local {} but the key of trustpoint {} is {have}",
                want.name(),
                tp.name
            ))
        }
    };
    let (method, scheme, data) = match peer_hashes.filter(|h| !h.is_empty()) {
        Some(hashes) => {
            let scheme = key
                .schemes(allow_weak)
                .into_iter()
                .filter(|s| hashes.contains(&s.hash()))
                .find(|s| !matches!(key.kind(), KeyKind::Rsa(_)) || is_pss(*s) == pss)
                .ok_or_else(|| {
                    format!(
                        "no signature hash in common: the peer verifies {}",
                        hash_names(hashes)
                    )
                })?;
            let sig = key.sign(scheme, SigEncoding::Der, octets)?;
            let alg = scheme.algorithm_identifier();
            let len = u8::try_from(alg.len()).map_err(|_| "AlgorithmIdentifier too long")?;
            let mut data = Vec::with_capacity(1 + alg.len() + sig.len());
            data.push(len);
            data.extend_from_slice(&alg);
            data.extend_from_slice(&sig);
            (AUTH_DIGITAL_SIGNATURE, scheme, data)
        }
        None => {
            let (method, scheme) = match key.kind() {
                KeyKind::EcP256 => (AUTH_ECDSA_256, SigScheme::EcdsaP256Sha256),
                KeyKind::EcP384 => (AUTH_ECDSA_384, SigScheme::EcdsaP384Sha384),
                KeyKind::Rsa(_) => return Err("the peer does not support RFC 7427 signatures (no SIGNATURE_HASH_ALGORITHMS), and RSA auth method 1 needs SHA-1 signatures, which rvpn does not make".into()),
                KeyKind::Other => return Err(format!("the key of trustpoint {} cannot sign", tp.name)),
            };
            (
                method,
                scheme,
                key.sign(scheme, SigEncoding::Fixed, octets)?,
            )
        }
    };
    let certs = tp
        .chain
        .iter()
        .map(|c| Pl::Cert {
            encoding: CERT_X509,
            data: c.der.clone(),
        })
        .collect();
    let info = AuthInfo {
        method: describe(method, scheme),
        cert: Some(cert.subject.clone()),
    };
    Ok((
        LocalSignature {
            certs,
            auth: Pl::Auth { method, data },
            info,
        },
        warning,
    ))
}

fn is_pss(s: SigScheme) -> bool {
    matches!(
        s,
        SigScheme::RsaPssSha256 | SigScheme::RsaPssSha384 | SigScheme::RsaPssSha512
    )
}

fn hash_names(h: &[u16]) -> String {
    h.iter()
        .map(|h| match *h {
            hash::SHA1 => "SHA1".to_string(),
            hash::SHA256 => "SHA2_256".to_string(),
            hash::SHA384 => "SHA2_384".to_string(),
            hash::SHA512 => "SHA2_512".to_string(),
            o => format!("hash {o}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn describe(method: u8, scheme: SigScheme) -> String {
    if method == AUTH_DIGITAL_SIGNATURE {
        format!("{} (RFC 7427)", scheme.name())
    } else {
        format!("{} (auth method {method})", scheme.name())
    }
}

/// The kind of signature an AUTH method (and RFC 7427 scheme) is.
fn kind_of(scheme: SigScheme) -> AuthKind {
    match scheme {
        SigScheme::EcdsaP256Sha256 | SigScheme::EcdsaP384Sha384 => AuthKind::Ecdsa,
        s => AuthKind::Rsa { pss: is_pss(s) },
    }
}

/// The scheme, encoding and signature of a peer's AUTH payload.
fn peer_scheme(method: u8, data: &[u8]) -> Result<(SigScheme, SigEncoding, &[u8]), String> {
    match method {
        AUTH_RSA => Ok((SigScheme::RsaPkcs1Sha1, SigEncoding::Fixed, data)),
        AUTH_ECDSA_256 => Ok((SigScheme::EcdsaP256Sha256, SigEncoding::Fixed, data)),
        AUTH_ECDSA_384 => Ok((SigScheme::EcdsaP384Sha384, SigEncoding::Fixed, data)),
        AUTH_DIGITAL_SIGNATURE => SigScheme::split_auth_data(data)
            .map(|(s, sig)| (s, SigEncoding::Der, sig))
            .ok_or_else(|| {
                "peer's RFC 7427 signature uses an algorithm rvpn does not know".to_string()
            }),
        AUTH_PSK => Err("peer authenticated with a pre-shared key".into()),
        m => Err(format!(
            "peer authenticated with auth method {m}, which rvpn does not support"
        )),
    }
}

/// Whether the tunnel lets the peer authenticate with this AUTH method
/// (a pre-shared key needs `authentication remote pre-share`, a signature
/// `rsa-sig` or `ecdsa-sig` of its key type and a trustpoint).
pub(crate) fn remote_method_allowed(t: &TunnelConfig, method: u8, data: &[u8]) -> bool {
    let allowed = remote_kinds(t);
    if method == AUTH_PSK {
        return allowed.contains(&AuthKind::Psk);
    }
    if t.trustpoints.is_empty() {
        return false;
    }
    match peer_scheme(method, data) {
        Ok((s, _, _)) => allowed.iter().any(|k| same_kind(*k, kind_of(s))),
        Err(_) => allowed.iter().any(|k| k.is_signature()),
    }
}

/// `authentication remote` of a tunnel: pre-share when none is given.
pub(crate) fn remote_kinds(t: &TunnelConfig) -> Vec<AuthKind> {
    if t.auth_remote.is_empty() {
        vec![AuthKind::Psk]
    } else {
        t.auth_remote.clone()
    }
}

fn same_kind(a: AuthKind, b: AuthKind) -> bool {
    matches!(
        (a, b),
        (AuthKind::Psk, AuthKind::Psk)
            | (AuthKind::Ecdsa, AuthKind::Ecdsa)
            | (AuthKind::Rsa { .. }, AuthKind::Rsa { .. })
    )
}

/// Check a peer's signature AUTH: its certificate chain against the
/// tunnel's trustpoints, its identity against the certificate, and the
/// signature over `octets`. Returns what the peer used; Err is the reason
/// for `show crypto session`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn verify_peer_signature(
    t: &TunnelConfig,
    certs: &[Vec<u8>],
    method: u8,
    data: &[u8],
    id: Option<&Identity>,
    id_type: u8,
    octets: &[u8],
    now: SystemTime,
    allow_weak: bool,
) -> Result<(Cert, AuthInfo), String> {
    let (scheme, enc, sig) = peer_scheme(method, data)?;
    let allowed = remote_kinds(t);
    if !allowed.iter().any(|k| same_kind(*k, kind_of(scheme))) {
        return Err(format!(
            "peer authenticated with {}, but the profile allows authentication remote {}",
            kind_of(scheme).name(),
            allowed
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if scheme.is_weak() && !allow_weak {
        return Err(format!(
            "peer signed with {} (auth method {method}); SHA-1 signatures need 'crypto allow-weak'",
            scheme.name()
        ));
    }
    let Some((ee, rest)) = certs.split_first() else {
        return Err(PeerCertError::NoCertificate.to_string());
    };
    let cert = validate(t, ee, rest, now, allow_weak).map_err(|e| e.to_string())?;
    let Some(id) = id else {
        return Err(format!(
            "ID of type {id_type} cannot be matched against a certificate"
        ));
    };
    if !cert.contains_identity(id) {
        return Err(PeerCertError::IdNotInCert(id.to_string()).to_string());
    }
    cert.verify(scheme, enc, octets, sig)
        .map_err(|_| PeerCertError::BadSignature.to_string())?;
    let info = AuthInfo {
        method: describe(method, scheme),
        cert: Some(cert.subject.clone()),
    };
    Ok((cert, info))
}

/// The peer's chain against each trustpoint; the first that accepts it
/// wins. When none does, the most telling reason: a certificate that
/// reaches a trustpoint but is revoked, expired or broken says more than
/// "does not reach" another one.
fn validate(
    t: &TunnelConfig,
    ee: &[u8],
    rest: &[Vec<u8>],
    now: SystemTime,
    allow_weak: bool,
) -> Result<Cert, PeerCertError> {
    let mut first_err = None;
    for tp in &t.trustpoints {
        match tp.validate_peer(ee, rest, now, allow_weak) {
            Ok(c) => return Ok(c),
            Err(e @ PeerCertError::Untrusted { .. }) => {
                first_err.get_or_insert(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(first_err.unwrap_or(PeerCertError::Untrusted {
        trustpoint: "(none)".into(),
    }))
}

/// The CERTREQ payload of our trustpoints (concatenated CA key hashes);
/// None when they have no CA.
pub(crate) fn certreq(trustpoints: &[Arc<TrustPoint>]) -> Option<Pl> {
    let mut data = Vec::new();
    for tp in trustpoints {
        let d = tp.certreq_data();
        // The same CA in two trustpoints is named once.
        for h in d.chunks(20) {
            if !data.chunks(20).any(|x| x == h) {
                data.extend_from_slice(h);
            }
        }
    }
    (!data.is_empty()).then_some(Pl::CertReq {
        encoding: CERT_X509,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::TrustPointFiles;
    use crate::sa::config::{EspProposal, IkeProposal, Peer};
    use std::path::PathBuf;
    use std::time::Duration;

    fn data(name: &str) -> PathBuf {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src/pki/testdata")).join(name)
    }

    fn tp(cert: &str, key: &str) -> Arc<TrustPoint> {
        let (ca, c, k) = (data("ca.pem"), data(cert), data(key));
        let files = TrustPointFiles {
            ca: Some(&ca),
            certificate: Some(&c),
            key: Some(&k),
            crl: None,
        };
        Arc::new(TrustPoint::load("LAB-CA", &files, SystemTime::now()).unwrap())
    }

    fn tunnel(auth_local: AuthKind, tps: Vec<Arc<TrustPoint>>) -> TunnelConfig {
        TunnelConfig {
            name: "Tunnel1".into(),
            local: None,
            peer: Peer::Dynamic,
            local_id: Identity::Fqdn("spoke1.example.net".into()),
            remote_match: vec![],
            remote_id: None,
            keys: vec![],
            ike: IkeProposal::default(),
            esp: EspProposal {
                transforms: vec![],
                pfs: None,
                esn: false,
            },
            ike_lifetime: Duration::ZERO,
            child_lifetime: Duration::ZERO,
            child_lifetime_kb: 0,
            dpd: None,
            nat_keepalive: Duration::ZERO,
            mobike: false,
            replay_window: 0,
            shutdown: false,
            auth_local,
            auth_remote: vec![AuthKind::Ecdsa, AuthKind::Rsa { pss: false }],
            trustpoints: tps,
            virtual_template: None,
            cp: Default::default(),
        }
    }

    fn verify(
        t: &TunnelConfig,
        auth: &Pl,
        certs: &[Vec<u8>],
        octets: &[u8],
        weak: bool,
    ) -> Result<String, String> {
        let Pl::Auth { method, data } = auth else {
            panic!("not AUTH")
        };
        let id = Identity::Fqdn("spoke1.example.net".into());
        verify_peer_signature(
            t,
            certs,
            *method,
            data,
            Some(&id),
            2,
            octets,
            SystemTime::now(),
            weak,
        )
        .map(|(_, i)| i.method)
    }

    #[test]
    fn without_peer_hashes_ecdsa_uses_method_9_and_rsa_refuses_sha1() {
        let ours = tunnel(AuthKind::Ecdsa, vec![tp("spoke1.pem", "spoke1.key")]);
        let (sig, _) = local_signature(&ours, None, None, b"octets", false).unwrap();
        assert!(matches!(
            sig.auth,
            Pl::Auth {
                method: AUTH_ECDSA_256,
                ..
            }
        ));
        let certs: Vec<Vec<u8>> = sig
            .certs
            .iter()
            .map(|c| match c {
                Pl::Cert { data, .. } => data.clone(),
                _ => panic!(),
            })
            .collect();
        let theirs = tunnel(AuthKind::Ecdsa, vec![tp("spoke1.pem", "spoke1.key")]);
        assert_eq!(
            verify(&theirs, &sig.auth, &certs, b"octets", false).as_deref(),
            Ok("ECDSA-P256-SHA256 (auth method 9)")
        );
        assert_eq!(
            verify(&theirs, &sig.auth, &certs, b"tampered", false),
            Err("signature does not verify".into())
        );
        let rsa = tunnel(
            AuthKind::Rsa { pss: false },
            vec![tp("hub1-chain.pem", "hub1.key")],
        );
        let e = local_signature(&rsa, None, None, b"octets", false)
            .err()
            .unwrap();
        assert!(e.contains("RSA auth method 1 needs SHA-1"), "{e}");
    }

    #[test]
    fn rfc7427_follows_the_peer_hashes_and_the_key() {
        let rsa = tunnel(
            AuthKind::Rsa { pss: true },
            vec![tp("hub1-chain.pem", "hub1.key")],
        );
        let (sig, _) = local_signature(&rsa, Some(&[hash::SHA512]), None, b"m", false).unwrap();
        assert_eq!(sig.info.method, "RSA-PSS-SHA512 (RFC 7427)");
        assert_eq!(sig.certs.len(), 2, "hub1 and its intermediate");
        let e = local_signature(&rsa, Some(&[hash::SHA1]), None, b"m", false)
            .err()
            .unwrap();
        assert!(e.contains("no signature hash in common"), "{e}");
        // The profile says ecdsa-sig but the key is RSA.
        let wrong = tunnel(AuthKind::Ecdsa, vec![tp("hub1-chain.pem", "hub1.key")]);
        let e = local_signature(&wrong, Some(&[hash::SHA256]), None, b"m", false)
            .err()
            .unwrap();
        assert!(
            e.contains("authentication local ecdsa-sig but the key of trustpoint LAB-CA is RSA"),
            "{e}"
        );
    }

    #[test]
    fn sha1_rsa_signatures_need_allow_weak() {
        // RSA method 1 as a peer without RFC 7427 sends it: openssl made
        // a PKCS#1 v1.5 SHA-1 signature of msg.txt with hub1's key.
        let sig = std::fs::read(data("msg.hub1.pkcs1-sha1.sig")).unwrap();
        let msg = std::fs::read(data("msg.txt")).unwrap();
        let hub = tp("hub1-chain.pem", "hub1.key");
        let certs: Vec<Vec<u8>> = hub.chain.iter().map(|c| c.der.clone()).collect();
        let t = tunnel(AuthKind::Ecdsa, vec![hub]);
        let auth = Pl::Auth {
            method: AUTH_RSA,
            data: sig,
        };
        let id = Identity::Fqdn("hub1.example.net".into());
        let Pl::Auth { method, data } = &auth else {
            unreachable!()
        };
        let strict = verify_peer_signature(
            &t,
            &certs,
            *method,
            data,
            Some(&id),
            2,
            &msg,
            SystemTime::now(),
            false,
        );
        assert!(strict
            .unwrap_err()
            .contains("SHA-1 signatures need 'crypto allow-weak'"));
        let weak = verify_peer_signature(
            &t,
            &certs,
            *method,
            data,
            Some(&id),
            2,
            &msg,
            SystemTime::now(),
            true,
        );
        assert_eq!(
            weak.map(|(_, i)| i.method).as_deref(),
            Ok("RSA-SHA1 (auth method 1)")
        );
    }
}
