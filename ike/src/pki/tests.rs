//! Keys, signatures, AlgorithmIdentifiers, names and certificates, with
//! the throwaway PKI of testdata/ (made by testdata/make.sh with openssl).

use super::*;
use std::net::IpAddr;
use std::time::{Duration, UNIX_EPOCH};

pub(super) fn td(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/pki/testdata")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

pub(super) fn cert(name: &str) -> Cert {
    let mut all = Cert::parse_all(&td(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    all.remove(0)
}

/// 2027-01-01T00:00:00Z: inside every good certificate's validity.
pub(super) fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_798_761_600)
}

pub(super) fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn every_key_form_loads_and_matches_its_certificate() {
    let forms: &[(&str, &str, KeyKind)] = &[
        ("hub1.key", "hub1.pem", KeyKind::Rsa(3072)),
        ("hub1.key.der", "hub1.pem", KeyKind::Rsa(3072)),
        ("hub1.rsa.pem", "hub1.pem", KeyKind::Rsa(3072)),
        ("hub1.rsa.der", "hub1.pem", KeyKind::Rsa(3072)),
        ("spoke1.key", "spoke1.pem", KeyKind::EcP256),
        ("spoke1.key.der", "spoke1.pem", KeyKind::EcP256),
        ("spoke1.ec.pem", "spoke1.pem", KeyKind::EcP256),
        ("spoke1.ec.der", "spoke1.pem", KeyKind::EcP256),
        ("spoke1.ec-nopub.pem", "spoke1.pem", KeyKind::EcP256),
        ("spoke1.ec-params.pem", "spoke1.pem", KeyKind::EcP256),
        ("spoke2.key", "spoke2.pem", KeyKind::EcP384),
        ("spoke2.ec.pem", "spoke2.pem", KeyKind::EcP384),
        ("spoke2.ec-nopub.der", "spoke2.pem", KeyKind::EcP384),
    ];
    let others = ["hub1.pem", "spoke1.pem", "spoke2.pem", "spoke7.pem"];
    for (file, cert_file, kind) in forms {
        let key = PrivateKey::parse(&td(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(key.kind(), *kind, "{file}");
        for other in others {
            assert_eq!(
                key.matches(&cert(other)),
                other == *cert_file,
                "{file} vs {other}"
            );
        }
        // Debug shows the kind, never key material.
        assert_eq!(format!("{key:?}"), format!("PrivateKey({kind})"));
    }
    assert_eq!(KeyKind::Rsa(3072).to_string(), "RSA 3072");
    assert_eq!(KeyKind::EcP256.to_string(), "ECDSA P-256");
    assert_eq!(KeyKind::EcP384.to_string(), "ECDSA P-384");
    assert_eq!(KeyKind::Other.to_string(), "unsupported");
}

#[test]
fn encrypted_unsupported_and_garbage_keys_are_refused() {
    let enc = "encrypted keys are not supported; decrypt it (openssl pkey -in K -out K2)";
    assert_eq!(PrivateKey::parse(&td("encrypted.key")).unwrap_err(), enc);
    assert_eq!(
        PrivateKey::parse(&td("encrypted.rsa.pem")).unwrap_err(),
        enc
    );
    let ed = PrivateKey::parse(&td("ed25519.key")).unwrap_err();
    assert!(ed.contains("Ed25519"), "{ed}");
    for junk in [
        &b""[..],
        b"hello",
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        &td("ca.pem"),
    ] {
        assert!(PrivateKey::parse(junk).is_err());
    }
    // A certificate is not a key, a key is not a certificate.
    assert!(Cert::parse_all(&td("hub1.key")).is_err());
}

#[test]
fn sign_and_verify_every_scheme_and_encoding() {
    let msg = b"IKE_AUTH octets";
    for (kf, cf) in [
        ("hub1.rsa.pem", "hub1.pem"),
        ("spoke1.ec.pem", "spoke1.pem"),
        ("spoke2.key", "spoke2.pem"),
    ] {
        let key = PrivateKey::parse(&td(kf)).unwrap();
        let c = cert(cf);
        let schemes = key.schemes(false);
        assert_eq!(
            key.schemes(true),
            schemes,
            "SHA-1 cannot be signed, so never offered"
        );
        assert!(!schemes.is_empty());
        for scheme in SigScheme::ALL {
            for enc in [SigEncoding::Der, SigEncoding::Fixed] {
                let signed = key.sign(scheme, enc, msg);
                if !schemes.contains(&scheme) {
                    assert!(signed.is_err(), "{kf} signs {scheme:?}");
                    continue;
                }
                let sig = signed.unwrap_or_else(|e| panic!("{kf} {scheme:?}: {e}"));
                match (key.kind(), enc) {
                    (KeyKind::EcP256, SigEncoding::Fixed) => assert_eq!(sig.len(), 64),
                    (KeyKind::EcP384, SigEncoding::Fixed) => assert_eq!(sig.len(), 96),
                    (KeyKind::Rsa(_), _) => assert_eq!(sig.len(), 384),
                    _ => assert_eq!(sig.first(), Some(&0x30)),
                }
                assert_eq!(
                    c.verify(scheme, enc, msg, &sig),
                    Ok(()),
                    "{kf} {scheme:?} {enc:?}"
                );
                assert_eq!(
                    c.verify(scheme, enc, b"IKE_AUTH octetz", &sig),
                    Err("signature does not verify".to_string())
                );
                let mut bad = sig.clone();
                *bad.last_mut().unwrap() ^= 1;
                assert!(c.verify(scheme, enc, msg, &bad).is_err());
                // Another certificate's key does not verify it.
                assert!(cert("spoke7.pem").verify(scheme, enc, msg, &sig).is_err());
            }
        }
    }
    let rsa = PrivateKey::parse(&td("hub1.key")).unwrap();
    assert_eq!(
        rsa.sign(SigScheme::RsaPkcs1Sha1, SigEncoding::Der, msg).unwrap_err(),
        "RSA with SHA-1 cannot be signed (ring offers no SHA-1 signing); the peer must support RFC 7427"
    );
    assert_eq!(rsa.schemes(false).first(), Some(&SigScheme::RsaPssSha256));
    let ec = PrivateKey::parse(&td("spoke1.key")).unwrap();
    let e = ec
        .sign(SigScheme::EcdsaP384Sha384, SigEncoding::Der, msg)
        .unwrap_err();
    assert_eq!(
        e,
        "scheme ECDSA-P384-SHA384 does not fit the key (ECDSA P-256)"
    );
    let e = cert("spoke1.pem").verify(SigScheme::RsaPssSha256, SigEncoding::Der, msg, &[0; 64]);
    assert_eq!(
        e.unwrap_err(),
        "scheme RSA-PSS-SHA256 does not fit the key (ECDSA P-256)"
    );
}

#[test]
fn openssl_made_signatures_verify() {
    let msg = td("msg.txt");
    let cases = [
        (
            "hub1.pem",
            "msg.hub1.pkcs1-sha256.sig",
            SigScheme::RsaPkcs1Sha256,
        ),
        (
            "hub1.pem",
            "msg.hub1.pss-sha256.sig",
            SigScheme::RsaPssSha256,
        ),
        (
            "hub1.pem",
            "msg.hub1.pss-sha512.sig",
            SigScheme::RsaPssSha512,
        ),
        (
            "hub1.pem",
            "msg.hub1.pkcs1-sha1.sig",
            SigScheme::RsaPkcs1Sha1,
        ),
        (
            "spoke1.pem",
            "msg.spoke1.ecdsa-sha256.sig",
            SigScheme::EcdsaP256Sha256,
        ),
        (
            "spoke2.pem",
            "msg.spoke2.ecdsa-sha384.sig",
            SigScheme::EcdsaP384Sha384,
        ),
    ];
    for (c, s, scheme) in cases {
        let (c, sig) = (cert(c), td(s));
        assert_eq!(
            c.verify(scheme, SigEncoding::Der, &msg, &sig),
            Ok(()),
            "{s}"
        );
        assert!(
            c.verify(scheme, SigEncoding::Der, b"other", &sig).is_err(),
            "{s}"
        );
        for wrong in SigScheme::ALL.into_iter().filter(|&w| w != scheme) {
            assert!(
                c.verify(wrong, SigEncoding::Der, &msg, &sig).is_err(),
                "{s} as {wrong:?}"
            );
        }
    }
}

#[test]
fn certificates_parse_with_their_fields() {
    let hub1 = cert("hub1.pem");
    assert_eq!(hub1.subject, "C=CH, O=Lab, CN=hub1");
    assert_eq!(hub1.issuer, "O=Lab, CN=Lab Sub CA");
    assert_eq!(
        dn_to_string(&hub1.subject_der).as_deref(),
        Some("C=CH, O=Lab, CN=hub1")
    );
    assert_eq!(hub1.serial, vec![0x11]);
    assert_eq!(hub1.key, KeyKind::Rsa(3072));
    assert_eq!(hub1.san_dns, vec!["hub1.example.net"]);
    assert_eq!(hub1.san_email, vec!["hub1@example.net"]);
    let ips: Vec<IpAddr> = vec!["192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap()];
    assert_eq!(hub1.san_ip, ips);
    assert!(!hub1.is_ca);
    assert_eq!(Cert::from_der(&td("hub1.der")).unwrap(), hub1);
    let chain = Cert::parse_all(&td("hub1-chain.pem")).unwrap();
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[1].subject, "O=Lab, CN=Lab Sub CA");
    assert!(chain[1].is_ca);
    let ca = cert("ca.pem");
    assert!(ca.is_ca);
    assert_eq!(ca.key, KeyKind::EcP256);
    assert_eq!(ca.key_hash.to_vec(), td("ca.spki.sha1"));
    assert_eq!(cert("spoke2.pem").key, KeyKind::EcP384);
    let old = cert("old.pem");
    assert_eq!(date(old.not_after), "2026-01-01");
    assert_eq!(date(old.not_before), "2020-01-01");
    assert_eq!(old.days_left(now()), -365);
    assert_eq!(
        old.days_left(UNIX_EPOCH + Duration::from_secs(1_767_225_599)),
        0
    );
    assert_eq!(
        old.days_left(UNIX_EPOCH + Duration::from_secs(1_767_225_601)),
        -1
    );
    assert_eq!(
        old.days_left(UNIX_EPOCH + Duration::from_secs(1_767_225_600 - 86_400 * 10)),
        10
    );
    assert_eq!(
        format!("{old:?}"),
        "Cert { subject: \"CN=old\", issuer: \"CN=Lab CA\", serial: \"0x20\" }"
    );
    assert!(Cert::parse_all(b"-----BEGIN X509 CRL-----\n-----END X509 CRL-----\n").is_err());
    let mut trailing = td("hub1.der");
    trailing.push(0);
    assert!(Cert::from_der(&trailing).is_err());
}

#[test]
fn serials_and_dates() {
    assert_eq!(serial_hex(&[0x1f]), "0x1f");
    assert_eq!(serial_hex(&[]), "0x0");
    assert_eq!(serial_hex(&[0, 0]), "0x0");
    assert_eq!(serial_hex(&[0x00, 0x01, 0x00]), "0x100");
    assert_eq!(serial_hex(&[0x0a, 0xbc]), "0xabc");
    assert_eq!(date(UNIX_EPOCH), "1970-01-01");
    assert_eq!(
        date(UNIX_EPOCH + Duration::from_secs(951_782_400)),
        "2000-02-29"
    );
    assert_eq!(
        date(UNIX_EPOCH + Duration::from_secs(1_767_225_599)),
        "2025-12-31"
    );
    assert_eq!(date(UNIX_EPOCH - Duration::from_secs(1)), "1969-12-31");
}

#[test]
fn identities_in_certificates() {
    let hub1 = cert("hub1.pem");
    let yes = [
        Identity::Fqdn("hub1.example.net".into()),
        Identity::Fqdn("HUB1.Example.NET".into()),
        Identity::Email("hub1@example.net".into()),
        Identity::Address("192.0.2.1".parse().unwrap()),
        Identity::Address("2001:db8::1".parse().unwrap()),
        Identity::Dn(dn_from_string("C=CH, O=Lab, CN=hub1").unwrap()),
        Identity::Dn(dn_from_string("c=ch,o=LAB,cn=HUB1").unwrap()),
        Identity::Dn(hub1.subject_der.clone()),
    ];
    let no = [
        Identity::Fqdn("spoke9.example.net".into()),
        // hub1 has dNSNames, so its CN does not count.
        Identity::Fqdn("hub1".into()),
        Identity::Email("hub2@example.net".into()),
        Identity::Address("192.0.2.2".parse().unwrap()),
        Identity::Dn(dn_from_string("CN=hub1, O=Lab, C=CH").unwrap()),
        Identity::Dn(dn_from_string("O=Lab, CN=hub1").unwrap()),
        Identity::Dn(b"garbage".to_vec()),
        Identity::KeyId(b"hub1".to_vec()),
    ];
    for id in &yes {
        assert!(hub1.contains_identity(id), "{id:?}");
    }
    for id in &no {
        assert!(!hub1.contains_identity(id), "{id:?}");
    }
    // No subjectAltName: the CN stands for the FQDN, as in strongSwan.
    let spoke7 = cert("spoke7.pem");
    assert!(spoke7.contains_identity(&Identity::Fqdn("SPOKE7".into())));
    assert!(!spoke7.contains_identity(&Identity::Fqdn("spoke8".into())));
    assert_eq!(
        PeerCertError::IdNotInCert("spoke9.example.net".into()).to_string(),
        "ID spoke9.example.net not in certificate"
    );
}

#[test]
fn dn_text_round_trips() {
    for text in [
        "C=CH, O=Lab, CN=hub1",
        "CN=spoke1, O=Lab, C=CH",
        "CN=a\\, b, OU=x\\+y, O=q\\\"r\\\\s",
        "CN=\\#lead, O=trail\\ ",
        "CN=Zürich Lab, E=ops@example.net",
        "CN=multi + OU=valued, O=Lab",
        "DC=net, DC=example, UID=jdoe, serialNumber=42, ST=ZH, L=Zurich, OU=IT",
        "1.2.3.4=value, CN=x",
        "CN=with\\0Acontrol",
    ] {
        let der = dn_from_string(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(dn_to_string(&der).as_deref(), Some(text));
        assert_eq!(dn_from_string(text), Ok(der));
    }
    // Spacing and case of the type are not significant.
    assert_eq!(
        dn_from_string(" cn = hub1 ,o=Lab"),
        dn_from_string("CN=hub1, O=Lab")
    );
    assert_eq!(
        dn_from_string("CN=#0c0468756231"),
        dn_from_string("CN=hub1").map(|mut d| {
            // the same name, as UTF8String instead of PrintableString
            let at = d.len() - 6;
            d[at] = 0x0c;
            d
        })
    );
    for bad in [
        "",
        "CN",
        "XX=1",
        "CN=",
        "CN=a\\",
        "CN=#0c",
        "1.2=x, CN=",
        "CN=a,,O=b",
    ] {
        assert!(dn_from_string(bad).is_err(), "{bad:?}");
    }
    // Control characters of a peer's name are escaped.
    let evil = dn_from_string("CN=a\\1B[2Jb").unwrap();
    assert_eq!(dn_to_string(&evil).as_deref(), Some("CN=a\\1B[2Jb"));
    assert_eq!(dn_to_string(b"\x30\x03\x31\x01\x00"), None);
}
