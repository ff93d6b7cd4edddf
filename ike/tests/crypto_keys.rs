//! Key derivation layout (RFC 7296 2.14, 2.17, 2.18), PSK AUTH (2.15) and
//! NAT detection (2.23) against computations written out from the RFC text
//! with ring directly.

use ike::crypto::alg::group;
use ike::crypto::{
    ct_eq, derive_child_keys, derive_ike_keys, esp_key_lengths, nat_detection_hash, psk_auth,
    skeyseed, skeyseed_rekey, CryptoError, EncrAlg, EspKeyLengths, IntegAlg, PrfAlg, Suite,
};
use ring::hmac;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn ring_alg(prf: PrfAlg) -> hmac::Algorithm {
    match prf {
        PrfAlg::HmacSha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        PrfAlg::HmacSha256 => hmac::HMAC_SHA256,
        PrfAlg::HmacSha384 => hmac::HMAC_SHA384,
        PrfAlg::HmacSha512 => hmac::HMAC_SHA512,
    }
}

fn mac(prf: PrfAlg, key: &[u8], data: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(ring_alg(prf), key), data)
        .as_ref()
        .to_vec()
}

fn prf_plus(prf: PrfAlg, key: &[u8], seed: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut t = Vec::new();
    for n in 1u8.. {
        if out.len() >= len {
            break;
        }
        let mut input = t.clone();
        input.extend_from_slice(seed);
        input.push(n);
        t = mac(prf, key, &input);
        out.extend_from_slice(&t);
    }
    out.truncate(len);
    out
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn suites() -> Vec<Suite> {
    let mut v = Vec::new();
    for prf in [
        PrfAlg::HmacSha1,
        PrfAlg::HmacSha256,
        PrfAlg::HmacSha384,
        PrfAlg::HmacSha512,
    ] {
        for (encr, integ) in [
            (EncrAlg::AesGcm16 { key_bits: 128 }, None),
            (EncrAlg::AesGcm16 { key_bits: 256 }, None),
            (EncrAlg::Chacha20Poly1305, None),
            (
                EncrAlg::AesCbc { key_bits: 128 },
                Some(IntegAlg::HmacSha1_96),
            ),
            (
                EncrAlg::AesCbc { key_bits: 256 },
                Some(IntegAlg::HmacSha256_128),
            ),
            (
                EncrAlg::AesCbc { key_bits: 256 },
                Some(IntegAlg::HmacSha384_192),
            ),
            (
                EncrAlg::AesCbc { key_bits: 192 },
                Some(IntegAlg::HmacSha512_256),
            ),
        ] {
            v.push(Suite {
                encr,
                integ,
                prf,
                ke: group::ECP_256,
            });
        }
    }
    v
}

#[test]
fn ike_keys_follow_rfc7296_2_14() {
    let ni = [0x11u8; 32];
    let nr = [0x22u8; 48];
    let g_ir = [0x33u8; 256];
    let spi_i = [1, 2, 3, 4, 5, 6, 7, 8];
    let spi_r = [9, 10, 11, 12, 13, 14, 15, 16];
    for s in suites() {
        s.validate().unwrap();
        // SKEYSEED = prf(Ni | Nr, g^ir), full nonces as the key.
        let want_seed = mac(s.prf, &cat(&[&ni, &nr]), &g_ir);
        let seed = skeyseed(s.prf, &ni, &nr, &g_ir);
        assert_eq!(seed.expose(), &want_seed[..]);

        let p = s.prf.output_len();
        let a = s.integ.map_or(0, |i| i.key_len());
        let e = s.encr.key_len() + if s.encr.is_aead() { 4 } else { 0 };
        let total = 3 * p + 2 * a + 2 * e;
        assert_eq!(s.keymat_len(), total);
        let km = prf_plus(s.prf, &want_seed, &cat(&[&ni, &nr, &spi_i, &spi_r]), total);
        let k = derive_ike_keys(&s, seed.expose(), &ni, &nr, &spi_i, &spi_r).unwrap();
        let mut off = 0;
        for (name, key, len) in [
            ("SK_d", &k.sk_d, p),
            ("SK_ai", &k.sk_ai, a),
            ("SK_ar", &k.sk_ar, a),
            ("SK_ei", &k.sk_ei, e),
            ("SK_er", &k.sk_er, e),
            ("SK_pi", &k.sk_pi, p),
            ("SK_pr", &k.sk_pr, p),
        ] {
            assert_eq!(key.expose(), &km[off..off + len], "{s:?} {name}");
            off += len;
        }
        // Debug never shows key bytes.
        let dbg = format!("{k:?}");
        assert!(dbg.contains("redacted"));
        assert!(!dbg.contains(&format!("{:?}", k.sk_d.expose())));
    }
}

#[test]
fn ike_rekey_skeyseed_follows_rfc7296_2_18() {
    let sk_d = [0x44u8; 32];
    let g_ir = [0x55u8; 65];
    let ni = [0x66u8; 16];
    let nr = [0x77u8; 17];
    let s = skeyseed_rekey(PrfAlg::HmacSha256, &sk_d, &g_ir, &ni, &nr);
    assert_eq!(
        s.expose(),
        &mac(PrfAlg::HmacSha256, &sk_d, &cat(&[&g_ir, &ni, &nr]))[..]
    );
}

#[test]
fn suite_validation() {
    let ok = Suite {
        encr: EncrAlg::AesGcm16 { key_bits: 256 },
        integ: None,
        prf: PrfAlg::HmacSha256,
        ke: group::CURVE25519,
    };
    ok.validate().unwrap();
    let mut bad = ok;
    bad.integ = Some(IntegAlg::HmacSha256_128);
    assert_eq!(bad.validate().unwrap_err(), CryptoError::InvalidSuite);
    assert!(derive_ike_keys(&bad, &[0; 32], &[1], &[2], &[0; 8], &[0; 8]).is_err());
    let mut bad = ok;
    bad.encr = EncrAlg::AesCbc { key_bits: 128 };
    assert_eq!(bad.validate().unwrap_err(), CryptoError::InvalidSuite);
    let mut bad = ok;
    bad.ke = 2;
    assert_eq!(
        bad.validate().unwrap_err(),
        CryptoError::UnsupportedGroup(2)
    );
}

#[test]
fn esp_key_length_table() {
    let cases = [
        (EncrAlg::AesGcm16 { key_bits: 128 }, None, 20, 0),
        (EncrAlg::AesGcm16 { key_bits: 256 }, None, 36, 0),
        (EncrAlg::Chacha20Poly1305, None, 36, 0),
        (
            EncrAlg::AesCbc { key_bits: 128 },
            Some(IntegAlg::HmacSha1_96),
            16,
            20,
        ),
        (
            EncrAlg::AesCbc { key_bits: 128 },
            Some(IntegAlg::HmacSha256_128),
            16,
            32,
        ),
        (
            EncrAlg::AesCbc { key_bits: 256 },
            Some(IntegAlg::HmacSha384_192),
            32,
            48,
        ),
        (
            EncrAlg::AesCbc { key_bits: 256 },
            Some(IntegAlg::HmacSha512_256),
            32,
            64,
        ),
    ];
    for (e, i, el, il) in cases {
        assert_eq!(
            esp_key_lengths(e, i).unwrap(),
            EspKeyLengths {
                encr: el,
                integ: il
            }
        );
    }
    assert!(esp_key_lengths(EncrAlg::Chacha20Poly1305, Some(IntegAlg::HmacSha1_96)).is_err());
    assert!(esp_key_lengths(EncrAlg::AesCbc { key_bits: 128 }, None).is_err());
}

#[test]
fn child_keymat_order_follows_rfc7296_2_17() {
    let sk_d = [0x99u8; 48];
    let ni = [1u8; 32];
    let nr = [2u8; 32];
    let g = [3u8; 97];
    for (e, i) in [
        (EncrAlg::AesGcm16 { key_bits: 256 }, None),
        (EncrAlg::Chacha20Poly1305, None),
        (
            EncrAlg::AesCbc { key_bits: 256 },
            Some(IntegAlg::HmacSha512_256),
        ),
        (
            EncrAlg::AesCbc { key_bits: 128 },
            Some(IntegAlg::HmacSha1_96),
        ),
    ] {
        let l = esp_key_lengths(e, i).unwrap();
        for pfs in [None, Some(&g[..])] {
            let seed = match pfs {
                Some(g) => cat(&[g, &ni, &nr]),
                None => cat(&[&ni, &nr]),
            };
            let km = prf_plus(PrfAlg::HmacSha384, &sk_d, &seed, 2 * (l.encr + l.integ));
            let k = derive_child_keys(PrfAlg::HmacSha384, &sk_d, pfs, &ni, &nr, e, i).unwrap();
            // Initiator-to-responder SA first (encryption, then integrity),
            // then responder-to-initiator.
            let (ei, rest) = km.split_at(l.encr);
            let (ai, rest) = rest.split_at(l.integ);
            let (er, ar) = rest.split_at(l.encr);
            assert_eq!(k.encr_i.expose(), ei);
            assert_eq!(k.integ_i.expose(), ai);
            assert_eq!(k.encr_r.expose(), er);
            assert_eq!(k.integ_r.expose(), ar);
            assert!(format!("{k:?}").contains("redacted"));
        }
    }
    assert!(derive_child_keys(
        PrfAlg::HmacSha256,
        &sk_d,
        None,
        &ni,
        &nr,
        EncrAlg::AesGcm16 { key_bits: 128 },
        Some(IntegAlg::HmacSha1_96)
    )
    .is_err());
}

#[test]
fn psk_auth_follows_rfc7296_2_15() {
    let psk = b"correct horse battery staple";
    let msg1 = b"IKE_SA_INIT request bytes".to_vec();
    let nr = [0xabu8; 32];
    let sk_pi = [0xcdu8; 32];
    let id_data = b"alice@example.org";
    let id_type = 3u8; // ID_RFC822_ADDR
    for prf in [
        PrfAlg::HmacSha1,
        PrfAlg::HmacSha256,
        PrfAlg::HmacSha384,
        PrfAlg::HmacSha512,
    ] {
        let rest_of_id = cat(&[&[id_type, 0, 0, 0], id_data]);
        let maced = mac(prf, &sk_pi, &rest_of_id);
        let octets = cat(&[&msg1, &nr, &maced]);
        let key = mac(prf, psk, b"Key Pad for IKEv2");
        let want = mac(prf, &key, &octets);
        let got = psk_auth(prf, psk, &msg1, &nr, &sk_pi, id_type, id_data);
        assert_eq!(got, want);
        assert_eq!(got.len(), prf.output_len());
        assert!(ct_eq(&got, &want));
        let mut other = want.clone();
        other[0] ^= 1;
        assert!(!ct_eq(&got, &other));
        assert!(!ct_eq(&got, &want[1..]));
        // Every input matters.
        assert_ne!(
            psk_auth(prf, b"other", &msg1, &nr, &sk_pi, id_type, id_data),
            want
        );
        assert_ne!(
            psk_auth(prf, psk, &msg1[1..], &nr, &sk_pi, id_type, id_data),
            want
        );
        assert_ne!(
            psk_auth(prf, psk, &msg1, &nr[1..], &sk_pi, id_type, id_data),
            want
        );
        assert_ne!(
            psk_auth(prf, psk, &msg1, &nr, &sk_pi[1..], id_type, id_data),
            want
        );
        assert_ne!(psk_auth(prf, psk, &msg1, &nr, &sk_pi, 2, id_data), want);
        assert_ne!(
            psk_auth(prf, psk, &msg1, &nr, &sk_pi, id_type, b"bob"),
            want
        );
    }
    assert_eq!(ike::crypto::KEY_PAD.len(), 17);
    assert!(ct_eq(b"", b""));
}

#[test]
fn nat_detection_hash_follows_rfc7296_2_23() {
    let spi_i = [0x01u8, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
    let spi_r = [0u8; 8];
    let v4 = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
    let v6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
    for (ip, addr) in [
        (v4, vec![198u8, 51, 100, 7]),
        (v6, {
            let mut a = vec![0x20u8, 0x01, 0x0d, 0xb8];
            a.extend_from_slice(&[0; 11]);
            a.push(1);
            a
        }),
    ] {
        let data = cat(&[&spi_i, &spi_r, &addr, &4500u16.to_be_bytes()]);
        let want = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &data);
        assert_eq!(
            &nat_detection_hash(&spi_i, &spi_r, ip, 4500)[..],
            want.as_ref()
        );
        assert_ne!(
            nat_detection_hash(&spi_i, &spi_r, ip, 500),
            nat_detection_hash(&spi_i, &spi_r, ip, 4500)
        );
    }
}
