//! Trustpoints and peer chain validation against the throwaway PKI of
//! testdata/.

use super::tests::{cert, now, td};
use super::*;
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

fn path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/pki/testdata")
        .join(name)
}

fn der(name: &str) -> Vec<u8> {
    cert(name).der
}

/// The lab trustpoint with the CRL, without our own certificate.
fn lab() -> TrustPoint {
    let crl = Crl::parse(&td("ca.crl")).unwrap();
    TrustPoint::from_parts(
        "LAB-CA",
        vec![cert("ca.pem")],
        vec![],
        None,
        Some(crl),
        now(),
    )
    .unwrap()
}

#[test]
fn load_checks_and_digests_the_files() {
    let (ca, chain, key, crl) = (
        path("ca.pem"),
        path("hub1-chain.pem"),
        path("hub1.key"),
        path("ca.crl"),
    );
    let files = TrustPointFiles {
        ca: Some(&ca),
        certificate: Some(&chain),
        key: Some(&key),
        crl: Some(&crl),
    };
    let tp = TrustPoint::load("LAB-CA", &files, now()).unwrap();
    assert_eq!(tp.chain.len(), 2);
    assert_eq!(tp.ca, vec![cert("ca.pem")]);
    assert_eq!(
        tp.crl.as_ref().map(|c| c.issuer.as_str()),
        Some("CN=Lab CA")
    );
    assert_eq!(
        tp.key.as_ref().map(PrivateKey::kind),
        Some(KeyKind::Rsa(3072))
    );
    assert_eq!(TrustPoint::load("LAB-CA", &files, now()).unwrap(), tp);
    let without_crl = TrustPointFiles {
        crl: None,
        ..files.clone()
    };
    assert_ne!(
        TrustPoint::load("LAB-CA", &without_crl, now())
            .unwrap()
            .digest,
        tp.digest
    );
    let der_key = path("hub1.rsa.der");
    let other_key_file = TrustPointFiles {
        key: Some(&der_key),
        ..files.clone()
    };
    assert_ne!(
        TrustPoint::load("LAB-CA", &other_key_file, now())
            .unwrap()
            .digest,
        tp.digest
    );

    // CERTREQ: the CA's key hash; ours names it or our intermediate.
    assert_eq!(tp.certreq_data(), td("ca.spki.sha1"));
    assert!(tp.honours_certreq(&[]));
    assert!(tp.honours_certreq(&td("ca.spki.sha1")));
    let mut two = cert("other.pem").key_hash.to_vec();
    two.extend(cert("subca.pem").key_hash);
    assert!(tp.honours_certreq(&two));
    assert!(!tp.honours_certreq(&cert("other.pem").key_hash));
    assert!(!tp.honours_certreq(&[1, 2, 3]));

    // The same checks from parts; equal digests for equal parts.
    let parts = |key: &str| {
        TrustPoint::from_parts(
            "LAB-CA",
            vec![cert("ca.pem")],
            Cert::parse_all(&td("hub1-chain.pem")).unwrap(),
            Some(PrivateKey::parse(&td(key)).unwrap()),
            None,
            now(),
        )
    };
    assert_eq!(
        parts("hub1.key").unwrap().digest,
        parts("hub1.rsa.der").unwrap().digest
    );
    assert_eq!(
        parts("spoke1.key").unwrap_err(),
        "private-key does not match certificate"
    );
}

fn load_err(ca: &str, certificate: Option<&str>, key: Option<&str>, crl: Option<&str>) -> String {
    let (ca, c, k, r) = (
        path(ca),
        certificate.map(path),
        key.map(path),
        crl.map(path),
    );
    let files = TrustPointFiles {
        ca: Some(&ca),
        certificate: c.as_deref(),
        key: k.as_deref(),
        crl: r.as_deref(),
    };
    TrustPoint::load("LAB-CA", &files, now()).unwrap_err()
}

#[test]
fn load_names_the_file_that_is_wrong() {
    let p = |n: &str| path(n).display().to_string();
    let missing = Path::new("/nonexistent/ca.pem");
    let files = TrustPointFiles {
        ca: Some(missing),
        ..Default::default()
    };
    assert_eq!(
        TrustPoint::load("LAB-CA", &files, now()).unwrap_err(),
        "ca-certificate /nonexistent/ca.pem: cannot read: No such file or directory (os error 2)"
    );
    assert_eq!(
        TrustPoint::load("LAB-CA", &TrustPointFiles::default(), now()).unwrap_err(),
        "trustpoint LAB-CA: no ca-certificate"
    );
    assert_eq!(
        load_err("ca.pem", Some("hub1-chain.pem"), Some("spoke1.key"), None),
        format!(
            "private-key {} does not match certificate {}",
            p("spoke1.key"),
            p("hub1-chain.pem")
        )
    );
    assert_eq!(
        load_err("ca.pem", Some("hub1.pem"), Some("hub1.key"), None),
        format!(
            "certificate {} (C=CH, O=Lab, CN=hub1) does not chain to ca-certificate {}",
            p("hub1.pem"),
            p("ca.pem")
        )
    );
    assert_eq!(
        load_err("ca.pem", Some("old.pem"), Some("old.key"), None),
        format!(
            "certificate {} (CN=old) expired on 2026-01-01",
            p("old.pem")
        )
    );
    assert_eq!(
        load_err("ca.pem", Some("hub1.pem"), Some("encrypted.key"), None),
        format!(
            "private-key {}: encrypted keys are not supported; decrypt it (openssl pkey -in K -out K2)",
            p("encrypted.key")
        )
    );
    assert_eq!(
        load_err("ca.pem", Some("hub1-chain.pem"), None, None),
        format!("certificate {} without private-key", p("hub1-chain.pem"))
    );
    assert_eq!(
        load_err("ca.pem", None, Some("hub1.key"), None),
        format!("private-key {} without certificate", p("hub1.key"))
    );
    assert!(load_err("hub1.key", None, None, None)
        .starts_with(&format!("ca-certificate {}: ", p("hub1.key"))));
    assert!(load_err("ca.pem", None, None, Some("ca.pem"))
        .starts_with(&format!("revocation-check crl {}: ", p("ca.pem"))));
    assert_eq!(
        load_err("ca.pem", None, None, Some("other.crl")),
        format!(
            "revocation-check crl {} (CN=Other CA) is not issued by ca-certificate {}",
            p("other.crl"),
            p("ca.pem")
        )
    );
    // A CRL with the CA's name that the CA did not sign.
    let mut forged = Crl::parse(&td("ca.crl.der")).unwrap();
    let last = forged.der.len() - 3;
    forged.der[last] ^= 1;
    let e = TrustPoint::from_parts(
        "LAB-CA",
        vec![cert("ca.pem")],
        vec![],
        None,
        Some(forged),
        now(),
    )
    .unwrap_err();
    assert!(
        e.starts_with("revocation-check crl (CN=Lab CA) is not signed by ca-certificate"),
        "{e}"
    );
    // An expired CA.
    let e =
        TrustPoint::from_parts("X", vec![cert("old.pem")], vec![], None, None, now()).unwrap_err();
    assert_eq!(e, "ca-certificate (CN=old) expired on 2026-01-01");
}

#[test]
fn crls_parse() {
    let pem = Crl::parse(&td("ca.crl")).unwrap();
    assert_eq!(Crl::parse(&td("ca.crl.der")).unwrap(), pem);
    assert_eq!(pem.issuer, "CN=Lab CA");
    assert_eq!(pem.revoked, vec![vec![0x1f]]);
    assert!(pem.next_update.is_some_and(|n| n > pem.this_update));
    assert!(Crl::parse(&td("ca.pem")).is_err());
}

#[test]
fn peer_chains_validate_through_intermediates_in_any_order() {
    let tp = lab();
    let junk = vec![b"junk".to_vec(), der("other.pem"), der("pl0.pem")];
    let ok = |ee: &str, inters: &[Vec<u8>]| tp.validate_peer(&der(ee), inters, now(), false);
    assert_eq!(
        ok("hub1.pem", &[der("subca.pem")]).unwrap(),
        cert("hub1.pem")
    );
    let mut mixed = junk.clone();
    mixed.insert(1, der("subca.pem"));
    assert_eq!(
        ok("hub1.pem", &mixed).unwrap().subject,
        "C=CH, O=Lab, CN=hub1"
    );
    // RSASSA-PSS-signed certificate (spoke2), directly issued (spoke1),
    // no keyUsage (noku), the CA sent along.
    assert!(ok("spoke2.pem", &[der("ca.pem"), der("subca.pem")]).is_ok());
    assert!(ok("spoke1.pem", &junk).is_ok());
    assert!(ok("noku.pem", &[]).is_ok());
    // Eight certificates with the CA is the limit.
    let levels: Vec<Vec<u8>> = (1..=7).rev().map(|i| der(&format!("l{i}.pem"))).collect();
    assert!(ok("long6.pem", &levels).is_ok());
    assert_eq!(
        ok("long7.pem", &levels).unwrap_err(),
        PeerCertError::Untrusted {
            trustpoint: "LAB-CA".into()
        }
    );
}

#[test]
fn each_failure_has_its_reason() {
    let tp = lab();
    let check = |ee: &str, inters: &[&str]| {
        let inters: Vec<Vec<u8>> = inters.iter().map(|n| der(n)).collect();
        tp.validate_peer(&der(ee), &inters, now(), false)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        check("hub1.pem", &[]),
        "chain does not reach trustpoint LAB-CA"
    );
    assert_eq!(
        check("stranger.pem", &["other.pem"]),
        "chain does not reach trustpoint LAB-CA"
    );
    assert_eq!(check("old.pem", &[]), "certificate expired on 2026-01-01");
    assert_eq!(
        check("future.pem", &[]),
        "certificate of CN=future not valid before 2046-01-01"
    );
    assert_eq!(
        check("spoke7.pem", &[]),
        "certificate of CN=spoke7 revoked (CRL of CN=Lab CA, serial 0x1f)"
    );
    assert_eq!(
        check("victim1.pem", &["nosign.pem"]),
        "certificate of CN=No Sign CA may not issue certificates (keyUsage without keyCertSign)"
    );
    assert_eq!(
        check("deep.pem", &["deepca.pem", "pl0.pem"]),
        "path length constraint 0 of CN=Pathlen0 CA exceeded (1 CAs below it)"
    );
    assert_eq!(
        check("victim2.pem", &["notca.pem"]),
        "certificate of CN=notca is not a CA (basicConstraints) but issued CN=victim2"
    );
    assert_eq!(
        check("keyenc.pem", &[]),
        "certificate of CN=keyenc may not sign (keyUsage without digitalSignature)"
    );
    assert_eq!(
        check("weak.pem", &["subca.pem"]),
        "certificate of CN=weak is signed with SHA-1 (only under crypto allow-weak)"
    );
    assert!(tp
        .validate_peer(&der("weak.pem"), &[der("subca.pem")], now(), true)
        .is_ok());
    // A forged signature under the CA's name.
    let mut forged = der("spoke1.pem");
    let last = forged.len() - 3;
    forged[last] ^= 1;
    assert_eq!(
        tp.validate_peer(&forged, &[], now(), false),
        Err(PeerCertError::BadSignature)
    );
    // An intermediate that expired under a valid end entity.
    assert_eq!(
        check("shortee.pem", &["shortca.pem"]),
        "certificate of CN=Short CA expired on 2026-06-01"
    );
    // A stale CRL (nextUpdate ten years on) refuses what it covers, and only that.
    let crl = Crl::parse(&td("ca.crl")).unwrap();
    let stale = crl.next_update.unwrap() + Duration::from_secs(86_400);
    let e = tp
        .validate_peer(&der("spoke1.pem"), &[], stale, false)
        .unwrap_err();
    assert_eq!(
        e,
        PeerCertError::Crl(format!(
            "CRL of CN=Lab CA expired on {}",
            date(crl.next_update.unwrap())
        ))
    );
    assert!(e.to_string().starts_with("CRL of CN=Lab CA expired on 20"));
    let no_crl =
        TrustPoint::from_parts("LAB-CA", vec![cert("ca.pem")], vec![], None, None, now()).unwrap();
    assert!(no_crl
        .validate_peer(&der("spoke1.pem"), &[], stale, false)
        .is_ok());
    assert!(no_crl
        .validate_peer(&der("spoke7.pem"), &[], now(), false)
        .is_ok());
    // Outside every validity: the end entity is named first.
    let later = UNIX_EPOCH + Duration::from_secs(2_524_608_000 + 86_400 * 365 * 30);
    let e = tp
        .validate_peer(&der("hub1.pem"), &[der("subca.pem")], later, false)
        .unwrap_err();
    assert!(
        matches!(
            e,
            PeerCertError::Expired {
                end_entity: true,
                ..
            }
        ),
        "{e:?}"
    );
    // Garbage as the end entity.
    assert!(matches!(
        tp.validate_peer(b"\x30\x03\x02\x01\x00", &[], now(), false),
        Err(PeerCertError::Invalid(_))
    ));
    assert!(matches!(
        tp.validate_peer(&[], &[], now(), false),
        Err(PeerCertError::Invalid(_))
    ));
}

#[test]
fn hostile_intermediates_are_bounded() {
    let tp = lab();
    // Many same-named, useless intermediates: refused quickly.
    let mut inters = Vec::new();
    for _ in 0..50 {
        for n in [
            "l1.pem",
            "l2.pem",
            "l3.pem",
            "l4.pem",
            "l5.pem",
            "l6.pem",
            "l7.pem",
            "deepca.pem",
        ] {
            inters.push(der(n));
        }
    }
    let start = std::time::Instant::now();
    assert!(tp
        .validate_peer(&der("long7.pem"), &inters, now(), false)
        .is_err());
    assert!(start.elapsed() < Duration::from_secs(30));
}

#[test]
fn error_texts() {
    let cases = [
        (PeerCertError::NoCertificate, "no certificate received"),
        (
            PeerCertError::Revoked {
                subject: "CN=spoke7".into(),
                crl_issuer: "CN=Lab CA".into(),
                serial: serial_hex(&[0x1f]),
            },
            "certificate of CN=spoke7 revoked (CRL of CN=Lab CA, serial 0x1f)",
        ),
        (
            PeerCertError::Expired {
                subject: "CN=x".into(),
                on: "2026-01-01".into(),
                end_entity: true,
            },
            "certificate expired on 2026-01-01",
        ),
        (
            PeerCertError::Expired {
                subject: "CN=X".into(),
                on: "2026-01-01".into(),
                end_entity: false,
            },
            "certificate of CN=X expired on 2026-01-01",
        ),
        (
            PeerCertError::NotYetValid {
                subject: "CN=X".into(),
                from: "2027-01-01".into(),
            },
            "certificate of CN=X not valid before 2027-01-01",
        ),
        (
            PeerCertError::Untrusted {
                trustpoint: "LAB-CA".into(),
            },
            "chain does not reach trustpoint LAB-CA",
        ),
        (PeerCertError::Invalid("why".into()), "why"),
        (
            PeerCertError::IdNotInCert("spoke9.example.net".into()),
            "ID spoke9.example.net not in certificate",
        ),
        (PeerCertError::BadSignature, "signature does not verify"),
        (
            PeerCertError::Crl("CRL of CN=Lab CA expired on 2046-12-02".into()),
            "CRL of CN=Lab CA expired on 2046-12-02",
        ),
    ];
    for (e, text) in cases {
        assert_eq!(e.to_string(), text);
    }
}
