//! SK payload protection (RFC 7296 3.14, RFC 5282, RFC 7634): seal/open
//! round trips for every (encryption, integrity) pair, tampering and
//! truncation rejection, padding checks, IV handling and redaction.

use ike::crypto::sk::{aead_seal_raw, aes_cbc_encrypt_blocks};
use ike::crypto::{CryptoError, EncrAlg, IntegAlg, Random, SkCipher, SystemRandom};
use proptest::prelude::*;

/// Every supported combination.
fn combos() -> Vec<(EncrAlg, Option<IntegAlg>)> {
    let mut v = vec![
        (EncrAlg::AesGcm16 { key_bits: 128 }, None),
        (EncrAlg::AesGcm16 { key_bits: 256 }, None),
        (EncrAlg::Chacha20Poly1305, None),
    ];
    for bits in [128, 192, 256] {
        for i in [
            IntegAlg::HmacSha1_96,
            IntegAlg::HmacSha256_128,
            IntegAlg::HmacSha384_192,
            IntegAlg::HmacSha512_256,
        ] {
            v.push((EncrAlg::AesCbc { key_bits: bits }, Some(i)));
        }
    }
    v
}

/// A deterministic "random" source for reproducible tests.
struct Counter(u8);
impl Random for Counter {
    fn fill(&mut self, out: &mut [u8]) -> Result<(), CryptoError> {
        for b in out {
            self.0 = self.0.wrapping_add(1);
            *b = self.0;
        }
        Ok(())
    }
}

fn keys(encr: EncrAlg, integ: Option<IntegAlg>, fill: u8) -> (Vec<u8>, Vec<u8>) {
    let sk_e: Vec<u8> = (0..encr.keymat_len()).map(|i| fill ^ i as u8).collect();
    let sk_a: Vec<u8> = (0..integ.map_or(0, |i| i.key_len()))
        .map(|i| fill.wrapping_add(0x80) ^ i as u8)
        .collect();
    (sk_e, sk_a)
}

fn cipher(encr: EncrAlg, integ: Option<IntegAlg>, fill: u8) -> SkCipher {
    let (e, a) = keys(encr, integ, fill);
    SkCipher::new(encr, integ, &e, &a).unwrap()
}

/// A fake IKE header + SK payload header as the AAD.
fn aad(body_len: usize) -> Vec<u8> {
    let mut a = vec![0x11u8; 28];
    a[16] = 46; // next payload: SK
    a[24..28].copy_from_slice(&((28 + 4 + body_len) as u32).to_be_bytes());
    a.extend_from_slice(&[0x29, 0, 0, 0]);
    a[30..32].copy_from_slice(&((4 + body_len) as u16).to_be_bytes());
    a
}

#[test]
fn round_trip_every_combo_and_length() {
    let mut rng = Counter(0);
    for (encr, integ) in combos() {
        let c = cipher(encr, integ, 1);
        for len in 0..70 {
            let pt: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let n = c.body_len(len);
            let a = aad(n);
            let body = c.seal(&a, &pt, &mut rng).unwrap();
            assert_eq!(body.len(), n, "{encr:?} {integ:?} len {len}");
            assert_eq!(c.open(&a, &body).unwrap(), pt);
            let ct_len = n - c.iv_len() - c.icv_len();
            if encr.is_aead() {
                // No padding for AEAD: plaintext + pad length byte.
                assert_eq!(ct_len, len + 1);
            } else {
                assert_eq!(ct_len % 16, 0);
                assert!(ct_len > len && ct_len <= len + 16);
            }
        }
    }
}

#[test]
fn tampering_anywhere_is_detected() {
    let mut rng = SystemRandom::new();
    for (encr, integ) in combos() {
        let c = cipher(encr, integ, 2);
        let pt = b"inner payload chain: IDi AUTH SA TSi TSr".to_vec();
        let a = aad(c.body_len(pt.len()));
        let body = c.seal(&a, &pt, &mut rng).unwrap();
        for i in 0..a.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = a.clone();
                bad[i] ^= bit;
                assert_eq!(c.open(&bad, &body).unwrap_err(), CryptoError::Integrity);
            }
        }
        // IV, ciphertext and ICV.
        for i in 0..body.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = body.clone();
                bad[i] ^= bit;
                assert_eq!(
                    c.open(&a, &bad).unwrap_err(),
                    CryptoError::Integrity,
                    "{encr:?} {integ:?} byte {i}"
                );
            }
        }
        assert_eq!(c.open(&a, &body).unwrap(), pt);
    }
}

#[test]
fn truncation_and_extension_are_rejected() {
    let mut rng = SystemRandom::new();
    for (encr, integ) in combos() {
        let c = cipher(encr, integ, 3);
        let pt = vec![0x42u8; 37];
        let a = aad(c.body_len(pt.len()));
        let body = c.seal(&a, &pt, &mut rng).unwrap();
        for n in 0..body.len() {
            assert!(c.open(&a, &body[..n]).is_err(), "prefix {n}");
            assert!(c.open(&a, &body[body.len() - n..]).is_err(), "suffix {n}");
        }
        let mut longer = body.clone();
        longer.push(0);
        assert!(c.open(&a, &longer).is_err());
        // Dropping the whole AAD fails too.
        assert!(c.open(&[], &body).is_err());
    }
}

#[test]
fn other_direction_and_other_keys_fail() {
    let mut rng = SystemRandom::new();
    for (encr, integ) in combos() {
        let i2r = cipher(encr, integ, 4);
        let r2i = cipher(encr, integ, 5);
        let a = aad(i2r.body_len(10));
        let body = i2r.seal(&a, &[7u8; 10], &mut rng).unwrap();
        assert_eq!(r2i.open(&a, &body).unwrap_err(), CryptoError::Integrity);
        assert_eq!(i2r.open(&a, &body).unwrap(), vec![7u8; 10]);
    }
}

#[test]
fn aead_iv_is_a_counter_and_cbc_iv_comes_from_rng() {
    let mut rng = Counter(0);
    let c = cipher(EncrAlg::AesGcm16 { key_bits: 256 }, None, 6);
    let a = aad(c.body_len(4));
    let b1 = c.seal(&a, b"ping", &mut rng).unwrap();
    let b2 = c.seal(&a, b"ping", &mut rng).unwrap();
    assert_eq!(&b1[..8], &0u64.to_be_bytes());
    assert_eq!(&b2[..8], &1u64.to_be_bytes());
    assert_ne!(b1[8..], b2[8..]);
    assert_eq!(rng.0, 0, "AEAD sealing draws no randomness");

    let c = cipher(
        EncrAlg::AesCbc { key_bits: 128 },
        Some(IntegAlg::HmacSha256_128),
        6,
    );
    let a = aad(c.body_len(4));
    let b1 = c.seal(&a, b"ping", &mut rng).unwrap();
    assert_eq!(&b1[..16], &(1u8..=16).collect::<Vec<_>>()[..]);
    let b2 = c.seal(&a, b"ping", &mut rng).unwrap();
    assert_ne!(b1[..16], b2[..16]);

    // A failing RNG is an error, not a fixed IV.
    struct Broken;
    impl Random for Broken {
        fn fill(&mut self, _: &mut [u8]) -> Result<(), CryptoError> {
            Err(CryptoError::Rng)
        }
    }
    assert_eq!(
        c.seal(&a, b"ping", &mut Broken).unwrap_err(),
        CryptoError::Rng
    );
}

#[test]
fn cbc_bad_padding_after_valid_icv_is_an_error() {
    let sk_e = [9u8; 16];
    let sk_a = [8u8; 32];
    let c = SkCipher::new(
        EncrAlg::AesCbc { key_bits: 128 },
        Some(IntegAlg::HmacSha256_128),
        &sk_e,
        &sk_a,
    )
    .unwrap();
    let a = aad(16 + 32 + 16);
    for pad in [32u8, 200, 255] {
        let iv = [3u8; 16];
        let mut blocks = vec![0u8; 32];
        blocks[31] = pad; // claims more padding than there is data
        aes_cbc_encrypt_blocks(&sk_e, &iv, &mut blocks).unwrap();
        let mut body = iv.to_vec();
        body.extend_from_slice(&blocks);
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &sk_a);
        let mut ctx = ring::hmac::Context::with_key(&key);
        ctx.update(&a);
        ctx.update(&body);
        body.extend_from_slice(&ctx.sign().as_ref()[..16]);
        assert_eq!(c.open(&a, &body).unwrap_err(), CryptoError::BadPadding);
    }
    // pad = 31 (all but the pad length byte) is fine: empty plaintext.
    let iv = [3u8; 16];
    let mut blocks = vec![0u8; 32];
    blocks[31] = 31;
    aes_cbc_encrypt_blocks(&sk_e, &iv, &mut blocks).unwrap();
    let mut body = iv.to_vec();
    body.extend_from_slice(&blocks);
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &sk_a);
    let mut ctx = ring::hmac::Context::with_key(&key);
    ctx.update(&a);
    ctx.update(&body);
    body.extend_from_slice(&ctx.sign().as_ref()[..16]);
    assert_eq!(c.open(&a, &body).unwrap(), Vec::<u8>::new());
    // A ciphertext that is not whole blocks is rejected before anything else.
    let mut short = body.clone();
    short.remove(20);
    assert_eq!(c.open(&a, &short).unwrap_err(), CryptoError::Truncated);
}

#[test]
fn aead_bad_padding_after_valid_tag_is_an_error() {
    for encr in [
        EncrAlg::AesGcm16 { key_bits: 128 },
        EncrAlg::Chacha20Poly1305,
    ] {
        let mut sk_e = vec![5u8; encr.key_len()];
        sk_e.extend_from_slice(&[1, 2, 3, 4]);
        let c = SkCipher::new(encr, None, &sk_e, &[]).unwrap();
        let iv = [0u8, 0, 0, 0, 0, 0, 0, 9];
        let mut nonce = [0u8; 12];
        nonce[..4].copy_from_slice(&[1, 2, 3, 4]);
        nonce[4..].copy_from_slice(&iv);
        let a = aad(8 + 3 + 16);
        let ct =
            aead_seal_raw(encr, &sk_e[..encr.key_len()], &nonce, &a, &[0xaa, 0xbb, 3]).unwrap();
        let mut body = iv.to_vec();
        body.extend_from_slice(&ct);
        assert_eq!(c.open(&a, &body).unwrap_err(), CryptoError::BadPadding);
        // Pad length 2 = everything but the pad length byte.
        let ct =
            aead_seal_raw(encr, &sk_e[..encr.key_len()], &nonce, &a, &[0xaa, 0xbb, 2]).unwrap();
        let mut body = iv.to_vec();
        body.extend_from_slice(&ct);
        assert_eq!(c.open(&a, &body).unwrap(), Vec::<u8>::new());
        // Explicit padding sent by a peer is accepted and removed.
        let ct =
            aead_seal_raw(encr, &sk_e[..encr.key_len()], &nonce, &a, &[0xaa, 0, 0, 2]).unwrap();
        let mut body = iv.to_vec();
        body.extend_from_slice(&ct);
        assert_eq!(c.open(&a, &body).unwrap(), vec![0xaa]);
    }
}

#[test]
fn constructor_checks_keys_and_pairing() {
    let gcm = EncrAlg::AesGcm16 { key_bits: 256 };
    let cbc = EncrAlg::AesCbc { key_bits: 256 };
    let sha = Some(IntegAlg::HmacSha256_128);
    assert_eq!(
        SkCipher::new(gcm, None, &[0; 32], &[]).unwrap_err(),
        CryptoError::InvalidKeyLength
    );
    assert_eq!(
        SkCipher::new(gcm, None, &[0; 36], &[1]).unwrap_err(),
        CryptoError::InvalidKeyLength
    );
    assert_eq!(
        SkCipher::new(gcm, sha, &[0; 36], &[0; 32]).unwrap_err(),
        CryptoError::InvalidSuite
    );
    assert_eq!(
        SkCipher::new(cbc, None, &[0; 32], &[]).unwrap_err(),
        CryptoError::InvalidSuite
    );
    assert_eq!(
        SkCipher::new(cbc, sha, &[0; 32], &[0; 31]).unwrap_err(),
        CryptoError::InvalidKeyLength
    );
    assert_eq!(
        SkCipher::new(cbc, sha, &[0; 36], &[0; 32]).unwrap_err(),
        CryptoError::InvalidKeyLength
    );
    assert!(SkCipher::new(EncrAlg::AesGcm16 { key_bits: 192 }, None, &[0; 28], &[]).is_err());
    assert!(SkCipher::new(EncrAlg::AesCbc { key_bits: 100 }, sha, &[0; 12], &[0; 32]).is_err());
    assert!(SkCipher::new(cbc, sha, &[0; 32], &[0; 32]).is_ok());
}

#[test]
fn debug_output_is_redacted() {
    let (e, a) = keys(
        EncrAlg::AesCbc { key_bits: 128 },
        Some(IntegAlg::HmacSha1_96),
        0x5a,
    );
    let c = SkCipher::new(
        EncrAlg::AesCbc { key_bits: 128 },
        Some(IntegAlg::HmacSha1_96),
        &e,
        &a,
    )
    .unwrap();
    let s = format!("{c:?}");
    assert!(s.contains("redacted"), "{s}");
    assert!(!s.contains("90"), "{s}"); // 0x5a = 90
    let secret = ike::crypto::SecretBytes::from_slice(&[0x5a; 16]);
    let s = format!("{secret:?}");
    assert!(s.contains("16 bytes redacted") && !s.contains("90"), "{s}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn prop_round_trip(idx in 0usize..15, pt in proptest::collection::vec(any::<u8>(), 0..300),
                       extra_aad in proptest::collection::vec(any::<u8>(), 0..40)) {
        let (encr, integ) = combos()[idx];
        let c = cipher(encr, integ, idx as u8);
        let mut a = aad(c.body_len(pt.len()));
        a.extend_from_slice(&extra_aad);
        let body = c.seal(&a, &pt, &mut SystemRandom::new()).unwrap();
        prop_assert_eq!(body.len(), c.body_len(pt.len()));
        prop_assert_eq!(c.open(&a, &body).unwrap(), pt);
    }

    #[test]
    fn prop_any_single_change_fails(idx in 0usize..15, pt in proptest::collection::vec(any::<u8>(), 0..100),
                                    pos in any::<prop::sample::Index>(), mask in 1u8..=255) {
        let (encr, integ) = combos()[idx];
        let c = cipher(encr, integ, 7);
        let a = aad(c.body_len(pt.len()));
        let mut body = c.seal(&a, &pt, &mut SystemRandom::new()).unwrap();
        let i = pos.index(body.len());
        body[i] ^= mask;
        prop_assert!(c.open(&a, &body).is_err());
    }

    #[test]
    fn prop_truncation_never_panics(idx in 0usize..15, pt in proptest::collection::vec(any::<u8>(), 0..100),
                                    cut in any::<prop::sample::Index>()) {
        let (encr, integ) = combos()[idx];
        let c = cipher(encr, integ, 8);
        let a = aad(c.body_len(pt.len()));
        let body = c.seal(&a, &pt, &mut SystemRandom::new()).unwrap();
        let n = cut.index(body.len());
        prop_assert!(c.open(&a, &body[..n]).is_err());
    }

    #[test]
    fn prop_garbage_never_panics(idx in 0usize..15, body in proptest::collection::vec(any::<u8>(), 0..200),
                                 a in proptest::collection::vec(any::<u8>(), 0..40)) {
        let (encr, integ) = combos()[idx];
        let c = cipher(encr, integ, 9);
        prop_assert!(c.open(&a, &body).is_err());
    }
}
