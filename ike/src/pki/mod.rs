//! X.509 certificates for IKE authentication (RFC 7296 3.6-3.8, RFC 7427).
//!
//! - Loading: certificates, private keys and CRLs in PEM or DER, as
//!   openssl and strongSwan's `pki` write them (PKCS#8, PKCS#1 RSA, SEC1
//!   EC keys).
//! - [`TrustPoint`]: one `crypto pki trustpoint`: the CA certificate(s),
//!   our certificate chain and key, and the CRL. Loading checks what an
//!   operator gets wrong (unreadable file, key not matching the
//!   certificate, certificate not chaining to the CA, expired).
//! - Signing with our key and verifying a peer's signature (ring), in the
//!   schemes of [`SigScheme`], with the RFC 7427 AlgorithmIdentifier blobs.
//! - Validating a peer's chain against a trustpoint: dates, basic
//!   constraints, key usage, path length, CRL; and whether an IKE identity
//!   appears in a certificate.
//!
//! Everything here is sans-IO except the `load_*` helpers that read files;
//! time is passed in.

// Peer data never panics: no unwrap, expect or indexing outside tests.
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

mod cert;
mod chain;
mod der;
mod dn;
mod key;
mod sig;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_chain;
#[cfg(test)]
mod tests_sig;

use crate::sa::config::Identity;
use std::fmt;
use std::path::Path;
use std::time::SystemTime;

/// A signature scheme for an AUTH payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigScheme {
    /// RSASSA-PKCS1-v1_5 with SHA-1 (weak: only under `crypto allow-weak`).
    RsaPkcs1Sha1,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RsaPkcs1Sha256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RsaPkcs1Sha384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RsaPkcs1Sha512,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256, salt 32.
    RsaPssSha256,
    /// RSASSA-PSS with SHA-384, MGF1-SHA-384, salt 48.
    RsaPssSha384,
    /// RSASSA-PSS with SHA-512, MGF1-SHA-512, salt 64.
    RsaPssSha512,
    /// ECDSA on P-256 with SHA-256.
    EcdsaP256Sha256,
    /// ECDSA on P-384 with SHA-384.
    EcdsaP384Sha384,
}

/// How an ECDSA signature is encoded: DER `ECDSA-Sig-Value` (RFC 7427,
/// auth method 14) or `r | s` of fixed size (RFC 4754, methods 9 and 10).
/// RSA signatures ignore it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigEncoding {
    /// ASN.1 DER (RFC 7427 Digital Signature).
    Der,
    /// Fixed-size r|s (RFC 4754).
    Fixed,
}

/// RFC 7427 hash algorithm numbers (SIGNATURE_HASH_ALGORITHMS).
pub mod hash {
    /// SHA1.
    pub const SHA1: u16 = 1;
    /// SHA2-256.
    pub const SHA256: u16 = 2;
    /// SHA2-384.
    pub const SHA384: u16 = 3;
    /// SHA2-512.
    pub const SHA512: u16 = 4;
}

impl SigScheme {
    /// Whether only `crypto allow-weak` permits it (SHA-1).
    pub fn is_weak(self) -> bool {
        self == SigScheme::RsaPkcs1Sha1
    }

    /// The RFC 7427 hash algorithm number of its hash.
    pub fn hash(self) -> u16 {
        match self {
            SigScheme::RsaPkcs1Sha1 => hash::SHA1,
            SigScheme::RsaPkcs1Sha256 | SigScheme::RsaPssSha256 | SigScheme::EcdsaP256Sha256 => {
                hash::SHA256
            }
            SigScheme::RsaPkcs1Sha384 | SigScheme::RsaPssSha384 | SigScheme::EcdsaP384Sha384 => {
                hash::SHA384
            }
            SigScheme::RsaPkcs1Sha512 | SigScheme::RsaPssSha512 => hash::SHA512,
        }
    }

    /// The DER AlgorithmIdentifier that prefixes the signature in an
    /// RFC 7427 AUTH payload (method 14), as strongSwan sends it (PSS
    /// with explicit RSASSA-PSS-params).
    pub fn algorithm_identifier(self) -> Vec<u8> {
        sig::algorithm_identifier(self)
    }

    /// Split an RFC 7427 AUTH payload into scheme and signature: the data
    /// starts with a one-byte length and that many bytes of DER
    /// AlgorithmIdentifier. None for unknown or malformed identifiers
    /// (including PSS parameters other than the three schemes above).
    pub fn split_auth_data(data: &[u8]) -> Option<(SigScheme, &[u8])> {
        sig::split_auth_data(data)
    }

    /// Short name for logs and `show`: "RSA-PSS-SHA256", "ECDSA-P256-SHA256", ...
    pub fn name(self) -> &'static str {
        sig::name(self)
    }
}

/// The kind and size of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA of this modulus size in bits.
    Rsa(u32),
    /// ECDSA on P-256.
    EcP256,
    /// ECDSA on P-384.
    EcP384,
    /// Anything else (e.g. P-521, Ed25519): parsed but not usable.
    Other,
}

/// Our private key. Debug never shows key material.
pub struct PrivateKey {
    inner: key::Inner,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({})", self.kind())
    }
}

impl PrivateKey {
    /// Parse a PEM (PKCS#8 "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE
    /// KEY") or DER (PKCS#8, PKCS#1, SEC1) private key. Encrypted keys are
    /// refused with that reason.
    pub fn parse(bytes: &[u8]) -> Result<PrivateKey, String> {
        key::parse(bytes)
    }

    /// The key's kind.
    pub fn kind(&self) -> KeyKind {
        self.inner.kind()
    }

    /// Whether this key is the private half of `cert`'s public key.
    pub fn matches(&self, cert: &Cert) -> bool {
        key::matches(self, cert)
    }

    /// Sign `msg`. Fails when the scheme does not fit the key (an RSA
    /// scheme with an EC key, P-384 scheme with a P-256 key) or signing
    /// fails.
    pub fn sign(&self, scheme: SigScheme, enc: SigEncoding, msg: &[u8]) -> Result<Vec<u8>, String> {
        key::sign(self, scheme, enc, msg)
    }

    /// The schemes this key can sign with, strongest-preferred first
    /// (RSA: PSS before PKCS#1 v1.5, SHA-256 first since every peer has
    /// it; SHA-1 last and only if `allow_weak`).
    pub fn schemes(&self, allow_weak: bool) -> Vec<SigScheme> {
        // allow_weak changes nothing: the only weak scheme, RSA with
        // SHA-1, cannot be signed with ring.
        let _ = allow_weak;
        key::schemes(self)
    }
}

/// One parsed X.509 certificate.
#[derive(Clone, PartialEq, Eq)]
pub struct Cert {
    /// The DER encoding, as sent in a CERT payload.
    pub der: Vec<u8>,
    /// Subject, RFC 4514 style in certificate order: "C=CH, O=Lab, CN=hub1".
    pub subject: String,
    /// The DER of the subject Name (for ID_DER_ASN1_DN).
    pub subject_der: Vec<u8>,
    /// Issuer, like `subject`.
    pub issuer: String,
    /// Serial number, big-endian bytes without leading zeros.
    pub serial: Vec<u8>,
    /// notBefore.
    pub not_before: SystemTime,
    /// notAfter.
    pub not_after: SystemTime,
    /// The public key's kind.
    pub key: KeyKind,
    /// SHA-1 of the DER SubjectPublicKeyInfo (the CERTREQ "key hash",
    /// RFC 7296 3.7).
    pub key_hash: [u8; 20],
    /// subjectAltName dNSName entries.
    pub san_dns: Vec<String>,
    /// subjectAltName rfc822Name entries.
    pub san_email: Vec<String>,
    /// subjectAltName iPAddress entries.
    pub san_ip: Vec<std::net::IpAddr>,
    /// basicConstraints cA.
    pub is_ca: bool,
}

impl fmt::Debug for Cert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cert")
            .field("subject", &self.subject)
            .field("issuer", &self.issuer)
            .field("serial", &serial_hex(&self.serial))
            .finish()
    }
}

/// "0x1f" for serial bytes [0x1f]; "0x0" for none.
pub fn serial_hex(serial: &[u8]) -> String {
    let digits: String = der::strip_zeros(serial)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    match digits.trim_start_matches('0') {
        "" => "0x0".to_string(),
        d => format!("0x{d}"),
    }
}

/// "2026-01-01" (UTC) of a time.
pub fn date(t: SystemTime) -> String {
    dn::date(t)
}

/// RFC 4514-style text of a DER Name ("C=CH, O=Lab, CN=hub1"); None when
/// it does not parse.
pub fn dn_to_string(der: &[u8]) -> Option<String> {
    dn::dn_to_string(der)
}

/// The DER Name of an RFC 4514-style text as an operator writes it
/// ("CN=spoke1, O=Lab, C=CH" or "C=CH, O=Lab, CN=spoke1": the order is
/// the order written). Err names what does not parse.
pub fn dn_from_string(text: &str) -> Result<Vec<u8>, String> {
    dn::dn_from_string(text)
}

impl Cert {
    /// Parse one DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Cert, String> {
        cert::parse_full(der).map(|f| f.cert)
    }

    /// Every certificate in PEM ("CERTIFICATE" blocks, in order) or one
    /// DER certificate. Err when there is none or one fails to parse.
    pub fn parse_all(bytes: &[u8]) -> Result<Vec<Cert>, String> {
        cert::parse_all(bytes)
    }

    /// Verify a signature made by this certificate's key. Err("signature
    /// does not verify") or a reason the scheme does not fit the key.
    pub fn verify(
        &self,
        scheme: SigScheme,
        enc: SigEncoding,
        msg: &[u8],
        sig: &[u8],
    ) -> Result<(), String> {
        cert::verify(self, scheme, enc, msg, sig)
    }

    /// Whether an IKE identity appears in this certificate: an FQDN as a
    /// dNSName (case-insensitive), an e-mail as an rfc822Name, an address
    /// as an iPAddress, a DN equal to the subject (compared as DER after
    /// re-encoding both through [`dn_to_string`] semantics: same RDNs,
    /// same order, case-insensitive values), and, as strongSwan does, an
    /// FQDN or e-mail equal to the subject's CN/emailAddress when the
    /// certificate has no subjectAltName of that type.
    pub fn contains_identity(&self, id: &Identity) -> bool {
        cert::contains_identity(self, id)
    }

    /// Days from `now` to notAfter (negative once expired).
    pub fn days_left(&self, now: SystemTime) -> i64 {
        cert::days_left(self, now)
    }
}

/// A certificate revocation list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crl {
    /// The issuer's name, like [`Cert::subject`].
    pub issuer: String,
    /// thisUpdate.
    pub this_update: SystemTime,
    /// nextUpdate, if given.
    pub next_update: Option<SystemTime>,
    /// Revoked serials (big-endian, no leading zeros).
    pub revoked: Vec<Vec<u8>>,
    /// The DER encoding (its signature is checked against the CA when the
    /// trustpoint loads).
    pub der: Vec<u8>,
}

impl Crl {
    /// Parse a PEM ("X509 CRL") or DER CRL.
    pub fn parse(bytes: &[u8]) -> Result<Crl, String> {
        cert::parse_crl(bytes)
    }
}

/// Why a peer's certificate is refused; Display gives the text that
/// `show crypto session` shows after PHASE1-FAILED.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerCertError {
    /// No CERT payload with an X.509 certificate.
    NoCertificate,
    /// "certificate of CN=spoke7 revoked (CRL of CN=Lab CA, serial 0x1f)".
    Revoked {
        /// Subject of the revoked certificate.
        subject: String,
        /// Issuer of the CRL.
        crl_issuer: String,
        /// Serial, as [`serial_hex`].
        serial: String,
    },
    /// "certificate expired on 2026-01-01" (of the end entity; for a CA in
    /// the chain: "certificate of CN=X expired on ...").
    Expired {
        /// Subject.
        subject: String,
        /// notAfter date.
        on: String,
        /// Whether it is the peer's own (end-entity) certificate.
        end_entity: bool,
    },
    /// "certificate of CN=X not valid before 2027-01-01".
    NotYetValid {
        /// Subject.
        subject: String,
        /// notBefore date.
        from: String,
    },
    /// "chain does not reach trustpoint LAB-CA".
    Untrusted {
        /// The trustpoint's name.
        trustpoint: String,
    },
    /// Basic constraints, key usage or path length violated, or a
    /// certificate that does not parse: the reason.
    Invalid(String),
    /// "ID spoke9.example.net not in certificate".
    IdNotInCert(String),
    /// "signature does not verify" (also for AUTH signatures).
    BadSignature,
    /// "CRL of CN=Lab CA expired on ..." or unverifiable: the reason.
    Crl(String),
}

/// One `crypto pki trustpoint`, loaded and checked.
#[derive(Debug)]
pub struct TrustPoint {
    /// The trustpoint's name.
    pub name: String,
    /// The CA certificate(s) of `ca-certificate` (trust anchors).
    pub ca: Vec<Cert>,
    /// Our certificate first, then any intermediates after it in the file;
    /// empty without `certificate`.
    pub chain: Vec<Cert>,
    /// Our private key (`private-key`).
    pub key: Option<PrivateKey>,
    /// `revocation-check crl FILE`: the CRL; None for `none`.
    pub crl: Option<Crl>,
    /// A digest of every file's content, so that two loads compare equal
    /// exactly when nothing changed (a reload re-reads files and touches
    /// only the tunnels whose trustpoint changed).
    pub digest: [u8; 32],
}

impl PartialEq for TrustPoint {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.digest == other.digest
    }
}
impl Eq for TrustPoint {}

/// The files of a trustpoint, as configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustPointFiles<'a> {
    /// `ca-certificate`.
    pub ca: Option<&'a Path>,
    /// `certificate`.
    pub certificate: Option<&'a Path>,
    /// `private-key`.
    pub key: Option<&'a Path>,
    /// `revocation-check crl FILE`.
    pub crl: Option<&'a Path>,
}

impl TrustPoint {
    /// Read and check a trustpoint's files. Refused, with the reason
    /// naming the file: no `ca-certificate`; a missing or unreadable file;
    /// a file that does not parse; `certificate` without `private-key` or
    /// the reverse; a key that does not match the certificate; our
    /// certificate (with its intermediates) not chaining to the CA; our
    /// certificate or the CA expired; a CRL not signed by the CA.
    pub fn load(
        name: &str,
        files: &TrustPointFiles<'_>,
        now: SystemTime,
    ) -> Result<TrustPoint, String> {
        chain::load(name, files, now)
    }

    /// Build from parsed parts (tests and [`TrustPoint::load`]); the same
    /// checks.
    pub fn from_parts(
        name: &str,
        ca: Vec<Cert>,
        chain: Vec<Cert>,
        key: Option<PrivateKey>,
        crl: Option<Crl>,
        now: SystemTime,
    ) -> Result<TrustPoint, String> {
        chain::build(name, ca, chain, key, crl, now, &chain::Labels::plain())
    }

    /// The SHA-1 key hashes of the trust anchors, concatenated: the data
    /// of our CERTREQ payload (encoding 4, X.509 signature).
    pub fn certreq_data(&self) -> Vec<u8> {
        self.ca.iter().flat_map(|c| c.key_hash).collect()
    }

    /// Whether a peer's CERTREQ data (concatenated 20-byte key hashes)
    /// names one of our chain's issuers or our trust anchors; an empty
    /// CERTREQ counts as "any".
    pub fn honours_certreq(&self, data: &[u8]) -> bool {
        if data.is_empty() {
            return true;
        }
        let ours: Vec<&[u8; 20]> = self
            .ca
            .iter()
            .chain(self.chain.iter().skip(1))
            .map(|c| &c.key_hash)
            .collect();
        data.chunks_exact(20)
            .any(|h| ours.iter().any(|o| o.as_slice() == h))
    }

    /// Validate a peer's end-entity certificate with the intermediates it
    /// sent, in any order: build a path to one of our trust anchors,
    /// checking on each certificate the dates at `now`, the signature,
    /// basicConstraints (cA on issuers), keyUsage (keyCertSign on issuers;
    /// digitalSignature on the end entity when keyUsage is present),
    /// pathLenConstraint, and, with a CRL, that no certificate issued by
    /// the CRL's issuer is revoked. SHA-1 certificate signatures only when
    /// `allow_weak`. Returns the parsed end-entity certificate.
    pub fn validate_peer(
        &self,
        end_entity: &[u8],
        intermediates: &[Vec<u8>],
        now: SystemTime,
        allow_weak: bool,
    ) -> Result<Cert, PeerCertError> {
        chain::validate(
            &self.ca,
            self.crl.as_ref(),
            &self.name,
            end_entity,
            intermediates,
            now,
            allow_weak,
        )
    }
}
