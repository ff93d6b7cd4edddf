//! RFC 7427 AlgorithmIdentifiers, and peer bytes that must never panic.

use super::tests::{cert, hex};
use super::*;
use proptest::prelude::*;

/// RFC 7427 Appendix A (A.1, A.3) and the RSASSA-PSS SHA-256 encoding of
/// A.4.3 as corrected by its erratum (no trailerField), which is what
/// strongSwan sends.
const RFC7427: &[(SigScheme, &str)] = &[
    (SigScheme::RsaPkcs1Sha1, "300d06092a864886f70d0101050500"),
    (SigScheme::RsaPkcs1Sha256, "300d06092a864886f70d01010b0500"),
    (SigScheme::RsaPkcs1Sha384, "300d06092a864886f70d01010c0500"),
    (SigScheme::RsaPkcs1Sha512, "300d06092a864886f70d01010d0500"),
    (SigScheme::EcdsaP256Sha256, "300a06082a8648ce3d040302"),
    (SigScheme::EcdsaP384Sha384, "300a06082a8648ce3d040303"),
    (
        SigScheme::RsaPssSha256,
        "304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108\
         300d06096086480165030402010500a203020120",
    ),
    (
        SigScheme::RsaPssSha384,
        "304106092a864886f70d01010a3034a00f300d06096086480165030402020500a11c301a06092a864886f70d010108\
         300d06096086480165030402020500a203020130",
    ),
    (
        SigScheme::RsaPssSha512,
        "304106092a864886f70d01010a3034a00f300d06096086480165030402030500a11c301a06092a864886f70d010108\
         300d06096086480165030402030500a203020140",
    ),
];

fn auth_data(alg: &[u8], sig: &[u8]) -> Vec<u8> {
    let mut d = vec![alg.len() as u8];
    d.extend_from_slice(alg);
    d.extend_from_slice(sig);
    d
}

#[test]
fn algorithm_identifiers_are_the_rfc_7427_bytes() {
    for (scheme, blob) in RFC7427 {
        let blob = hex(blob);
        assert_eq!(scheme.algorithm_identifier(), blob, "{scheme:?}");
        let data = auth_data(&blob, b"SIG");
        assert_eq!(
            SigScheme::split_auth_data(&data),
            Some((*scheme, &b"SIG"[..]))
        );
    }
    for s in SigScheme::ALL {
        assert_eq!(s.is_weak(), s == SigScheme::RsaPkcs1Sha1);
        let h = match s.name() {
            n if n.ends_with("SHA1") => hash::SHA1,
            n if n.ends_with("SHA256") => hash::SHA256,
            n if n.ends_with("SHA384") => hash::SHA384,
            _ => hash::SHA512,
        };
        assert_eq!(s.hash(), h, "{s:?}");
    }
    assert_eq!(SigScheme::RsaPssSha256.name(), "RSA-PSS-SHA256");
    assert_eq!(SigScheme::EcdsaP256Sha256.name(), "ECDSA-P256-SHA256");
}

#[test]
fn split_auth_data_accepts_variants_and_refuses_the_rest() {
    let accepted = [
        // RFC 7427 A.4.3 as published, with trailerField.
        ("304606092a864886f70d01010a3039a00f300d06096086480165030402010500a11c301a06092a864886f70d010108\
          300d06096086480165030402010500a203020120a303020101", SigScheme::RsaPssSha256),
        // Hash parameters absent instead of NULL.
        ("303d06092a864886f70d01010a3030a00d300b0609608648016503040201a11a301806092a864886f70d010108\
          300b0609608648016503040201a203020120", SigScheme::RsaPssSha256),
        // PKCS#1 without NULL, ECDSA with NULL.
        ("300b06092a864886f70d01010b", SigScheme::RsaPkcs1Sha256),
        ("300c06082a8648ce3d0403030500", SigScheme::EcdsaP384Sha384),
    ];
    for (blob, scheme) in accepted {
        let data = auth_data(&hex(blob), &[1, 2, 3]);
        assert_eq!(
            SigScheme::split_auth_data(&data),
            Some((scheme, &[1u8, 2, 3][..])),
            "{blob}"
        );
    }
    let refused = [
        // RFC 7427 A.4.1/A.4.2: PSS with SHA-1 defaults.
        "300d06092a864886f70d01010a3000",
        "303e06092a864886f70d01010a3031a00b300906052b0e03021a0500a118301606092a864886f70d010108\
         300906052b0e03021a0500a203020114a303020101",
        // PSS SHA-256 with salt 0, with MGF1-SHA-512, with trailer 2.
        "304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108\
         300d06096086480165030402010500a203020100",
        "304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108\
         300d06096086480165030402030500a203020120",
        "304606092a864886f70d01010a3039a00f300d06096086480165030402010500a11c301a06092a864886f70d010108\
         300d06096086480165030402010500a203020120a303020102",
        // ecdsa-with-SHA1, ecdsa-with-SHA512, Ed25519, DSA.
        "300906072a8648ce3d0401",
        "300a06082a8648ce3d040304",
        "300506032b6570",
        "300b06092a8648ce380403",
        // Parameters that are not NULL; trailing bytes inside.
        "300f06092a864886f70d01010b0201ff",
        "300f06092a864886f70d01010b050000",
    ];
    for blob in refused {
        assert_eq!(
            SigScheme::split_auth_data(&auth_data(&hex(blob), b"x")),
            None,
            "{blob}"
        );
    }
    // Length byte beyond the data, empty, truncated identifier.
    assert_eq!(SigScheme::split_auth_data(&[]), None);
    assert_eq!(SigScheme::split_auth_data(&[20, 0x30, 0x0d]), None);
    let mut short = auth_data(&SigScheme::RsaPkcs1Sha256.algorithm_identifier(), b"");
    short.pop();
    assert_eq!(SigScheme::split_auth_data(&short), None);
    // An empty signature after a whole identifier splits (verification fails later).
    let whole = auth_data(&SigScheme::RsaPkcs1Sha256.algorithm_identifier(), b"");
    assert_eq!(
        SigScheme::split_auth_data(&whole),
        Some((SigScheme::RsaPkcs1Sha256, &[][..]))
    );
}

proptest! {
    #[test]
    fn peer_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = SigScheme::split_auth_data(&data);
        let _ = Cert::from_der(&data);
        let _ = Cert::parse_all(&data);
        let _ = Crl::parse(&data);
        let _ = PrivateKey::parse(&data);
        let _ = dn_to_string(&data);
    }

    #[test]
    fn mutated_identifiers_never_panic(i in 0usize..9, pos in 0usize..80, byte in any::<u8>(), cut in 0usize..80) {
        let mut data = auth_data(&SigScheme::ALL[i].algorithm_identifier(), b"sig");
        if let Some(b) = data.get_mut(pos) {
            *b = byte;
        }
        data.truncate(cut.max(1));
        let _ = SigScheme::split_auth_data(&data);
    }

    #[test]
    fn mutated_certificates_never_panic(pos in 0usize..1500, byte in any::<u8>()) {
        let mut der = cert("hub1.pem").der;
        if let Some(b) = der.get_mut(pos) {
            *b = byte;
        }
        let _ = Cert::from_der(&der);
        let _ = Cert::from_der(&der[..pos.min(der.len())]);
    }

    #[test]
    fn dn_text_never_panics(text in ".{0,80}") {
        if let Ok(der) = dn_from_string(&text) {
            prop_assert!(dn_to_string(&der).is_some());
        }
    }
}
