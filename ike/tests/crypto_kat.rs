//! Known-answer tests for the IKEv2 crypto layer: RFC 2202 / RFC 4231
//! (PRFs), prf+ against an independent computation, RFC 5903 (ECP 19, 20,
//! 21), RFC 7748 (X25519), MODP 14/15/16 against an independent bignum
//! (CPython's `pow`), RFC 3602 (AES-CBC), the GCM specification test cases
//! 4 and 16 in RFC 4106 salt/IV framing, and RFC 8439 2.8.2
//! (ChaCha20-Poly1305) in RFC 7634 salt/IV framing.

use ike::crypto::alg::group;
use ike::crypto::sk::{aead_seal_raw, aes_cbc_decrypt_blocks, aes_cbc_encrypt_blocks};
use ike::crypto::{CryptoError, EncrAlg, IntegAlg, KeyExchange, PrfAlg, SkCipher};

fn h(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

// ---------------------------------------------------------------- PRFs

#[test]
fn rfc2202_hmac_sha1() {
    let cases: [(Vec<u8>, Vec<u8>, &str); 4] = [
        (
            vec![0x0b; 20],
            b"Hi There".to_vec(),
            "b617318655057264e28bc0b6fb378c8ef146be00",
        ),
        (
            b"Jefe".to_vec(),
            b"what do ya want for nothing?".to_vec(),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
        ),
        (
            vec![0xaa; 20],
            vec![0xdd; 50],
            "125d7342b9ac11cd91a39af48aa17b4f63f175d3",
        ),
        (
            vec![0xaa; 80],
            b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
            "aa4ae5e15272d00e95705637ce8a3b55ed402112",
        ),
    ];
    for (key, data, want) in cases {
        assert_eq!(PrfAlg::HmacSha1.prf(&key, &data), h(want));
    }
}

#[test]
fn rfc4231_hmac_sha2() {
    let tc7_data: &[u8] = b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.";
    let cases: [(Vec<u8>, &[u8], [&str; 3]); 4] = [
        (
            vec![0x0b; 20],
            b"Hi There",
            [
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
                "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
                "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
            ],
        ),
        (
            b"Jefe".to_vec(),
            b"what do ya want for nothing?",
            [
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
                "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
                "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
            ],
        ),
        (
            vec![0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
            [
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
                "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952",
                "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598",
            ],
        ),
        (
            vec![0xaa; 131],
            tc7_data,
            [
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
                "6617178e941f020d351e2f254e8fd32c602420feb0b8fb9adccebb82461e99c5a678cc31e799176d3860e6110c46523e",
                "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58",
            ],
        ),
    ];
    for (key, data, [s256, s384, s512]) in cases {
        assert_eq!(PrfAlg::HmacSha256.prf(&key, data), h(s256));
        assert_eq!(PrfAlg::HmacSha384.prf(&key, data), h(s384));
        assert_eq!(PrfAlg::HmacSha512.prf(&key, data), h(s512));
        // prf_parts is the same function over a split input.
        let (a, b) = data.split_at(data.len() / 3);
        assert_eq!(PrfAlg::HmacSha512.prf_parts(&key, &[a, b]), h(s512));
    }
}

/// prf+ recomputed from its definition in RFC 7296 2.13 with ring's HMAC
/// directly (a second, independent code path).
fn prf_plus_reference(prf: PrfAlg, key: &[u8], seed: &[u8], len: usize) -> Vec<u8> {
    let alg = match prf {
        PrfAlg::HmacSha1 => ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        PrfAlg::HmacSha256 => ring::hmac::HMAC_SHA256,
        PrfAlg::HmacSha384 => ring::hmac::HMAC_SHA384,
        PrfAlg::HmacSha512 => ring::hmac::HMAC_SHA512,
    };
    let k = ring::hmac::Key::new(alg, key);
    let mut out = Vec::new();
    let mut t: Vec<u8> = Vec::new();
    let mut n = 1u8;
    while out.len() < len {
        let mut input = t.clone();
        input.extend_from_slice(seed);
        input.push(n);
        t = ring::hmac::sign(&k, &input).as_ref().to_vec();
        out.extend_from_slice(&t);
        n += 1;
    }
    out.truncate(len);
    out
}

#[test]
fn prf_plus_matches_independent_computations() {
    let key: Vec<u8> = (0u8..40).collect();
    let seed = b"prf+ seed ".repeat(7);
    for (prf, want) in PRF_PLUS_VECTORS {
        let got = prf.prf_plus(&key, &seed, 333).unwrap();
        assert_eq!(got.expose(), &h(want)[..], "{prf:?}");
        assert_eq!(
            got.expose(),
            &prf_plus_reference(*prf, &key, &seed, 333)[..]
        );
    }
    for prf in [
        PrfAlg::HmacSha1,
        PrfAlg::HmacSha256,
        PrfAlg::HmacSha384,
        PrfAlg::HmacSha512,
    ] {
        for len in [
            0,
            1,
            prf.output_len() - 1,
            prf.output_len(),
            prf.output_len() + 1,
            1000,
        ] {
            let got = prf.prf_plus(b"k", b"seed", len).unwrap();
            assert_eq!(
                got.expose(),
                &prf_plus_reference(prf, b"k", b"seed", len)[..]
            );
            let parts = prf.prf_plus_parts(b"k", &[b"se", b"", b"ed"], len).unwrap();
            assert_eq!(parts.expose(), got.expose());
        }
        // At most 255 blocks.
        let max = 255 * prf.output_len();
        assert_eq!(prf.prf_plus(b"k", b"s", max).unwrap().len(), max);
        assert_eq!(
            prf.prf_plus(b"k", b"s", max + 1).unwrap_err(),
            CryptoError::PrfPlusTooLong
        );
    }
}

// ------------------------------------------------------- Key exchange

struct EcVector {
    group: u16,
    i: &'static str,
    gi: &'static str,
    r: &'static str,
    gr: &'static str,
    gir: &'static str,
}

/// RFC 5903 section 8 (8.1, 8.2, 8.3); KE data is x | y.
const RFC5903: [EcVector; 3] = [
    EcVector {
        group: group::ECP_256,
        i: "C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433",
        gi: "DAD0B65394221CF9B051E1FECA5787D098DFE637FC90B9EF945D0C3772581180
             5271A0461CDB8252D61F1C456FA3E59AB1F45B33ACCF5F58389E0577B8990BB3",
        r: "C6EF9C5D78AE012A011164ACB397CE2088685D8F06BF9BE0B283AB46476BEE53",
        gr: "D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63
             56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB",
        gir: "D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE",
    },
    EcVector {
        group: group::ECP_384,
        i: "099F3C7034D4A2C699884D73A375A67F7624EF7C6B3C0F160647B67414DCE655
            E35B538041E649EE3FAEF896783AB194",
        gi: "667842D7D180AC2CDE6F74F37551F55755C7645C20EF73E31634FE72B4C55EE6
             DE3AC808ACB4BDB4C88732AEE95F41AA
             9482ED1FC0EEB9CAFC4984625CCFC23F65032149E0E144ADA024181535A0F38E
             EB9FCFF3C2C947DAE69B4C634573A81C",
        r: "41CB0779B4BDB85D47846725FBEC3C9430FAB46CC8DC5060855CC9BDA0AA2942
            E0308312916B8ED2960E4BD55A7448FC",
        gr: "E558DBEF53EECDE3D3FCCFC1AEA08A89A987475D12FD950D83CFA41732BC509D
             0D1AC43A0336DEF96FDA41D0774A3571
             DCFBEC7AACF3196472169E838430367F66EEBE3C6E70C416DD5F0C68759DD1FF
             F83FA40142209DFF5EAAD96DB9E6386C",
        gir: "11187331C279962D93D604243FD592CB9D0A926F422E47187521287E7156C5C4
              D603135569B9E9D09CF5D4A270F59746",
    },
    EcVector {
        group: group::ECP_521,
        i: "0037ADE9319A89F4DABDB3EF411AACCCA5123C61ACAB57B5393DCE47608172A0
            95AA85A30FE1C2952C6771D937BA9777F5957B2639BAB072462F68C27A57382D
            4A52",
        gi: "0015417E84DBF28C0AD3C278713349DC7DF153C897A1891BD98BAB4357C9ECBE
             E1E3BF42E00B8E380AEAE57C2D107564941885942AF5A7F4601723C4195D176C
             ED3E
             017CAE20B6641D2EEB695786D8C946146239D099E18E1D5A514C739D7CB4A10A
             D8A788015AC405D7799DC75E7B7D5B6CF2261A6A7F1507438BF01BEB6CA3926F
             9582",
        r: "0145BA99A847AF43793FDD0E872E7CDFA16BE30FDC780F97BCCC3F078380201E
            9C677D600B343757A3BDBF2A3163E4C2F869CCA7458AA4A4EFFC311F5CB15168
            5EB9",
        gr: "00D0B3975AC4B799F5BEA16D5E13E9AF971D5E9B984C9F39728B5E5739735A21
             9B97C356436ADC6E95BB0352F6BE64A6C2912D4EF2D0433CED2B6171640012D9
             460F
             015C68226383956E3BD066E797B623C27CE0EAC2F551A10C2C724D9852077B87
             220B6536C5C408A1D2AEBB8E86D678AE49CB57091F4732296579AB44FCD17F0F
             C56A",
        gir: "01144C7D79AE6956BC8EDB8E7C787C4521CB086FA64407F97894E5E6B2D79B04
              D1427E73CA4BAA240A34786859810C06B3C715A3A8CC3151F2BEE417996D19F3
              DDEA",
    },
];

#[test]
fn rfc5903_ecp_groups() {
    for v in &RFC5903 {
        let i = KeyExchange::from_private(v.group, &h(v.i)).unwrap();
        let r = KeyExchange::from_private(v.group, &h(v.r)).unwrap();
        assert_eq!(i.group(), v.group);
        assert_eq!(i.public(), &h(v.gi)[..], "group {} g^i", v.group);
        assert_eq!(r.public(), &h(v.gr)[..], "group {} g^r", v.group);
        assert_eq!(
            i.public().len(),
            ike::crypto::dh::public_len(v.group).unwrap()
        );
        assert_eq!(i.shared(&h(v.gr)).unwrap().expose(), &h(v.gir)[..]);
        assert_eq!(r.shared(&h(v.gi)).unwrap().expose(), &h(v.gir)[..]);
    }
}

#[test]
fn ecp_rejects_invalid_points() {
    for v in &RFC5903 {
        let i = KeyExchange::from_private(v.group, &h(v.i)).unwrap();
        let gr = h(v.gr);
        // Off the curve: change y.
        let mut bad = gr.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(i.shared(&bad).unwrap_err(), CryptoError::InvalidPublicValue);
        // (0, 0) (the identity has no affine encoding) and all-ones.
        assert!(i.shared(&vec![0u8; gr.len()]).is_err());
        assert!(i.shared(&vec![0xffu8; gr.len()]).is_err());
        // Wrong lengths, including the SEC1 form with its 0x04 prefix.
        let mut sec1 = vec![4u8];
        sec1.extend_from_slice(&gr);
        assert!(i.shared(&sec1).is_err());
        assert!(i.shared(&gr[..gr.len() - 1]).is_err());
        assert!(i.shared(&[]).is_err());
        // Coordinate >= p with the right length: x = all ones.
        let mut big = gr.clone();
        for b in &mut big[..gr.len() / 2] {
            *b = 0xff;
        }
        assert!(i.shared(&big).is_err());
    }
    // Out-of-range private scalars.
    assert_eq!(
        KeyExchange::from_private(group::ECP_256, &[0u8; 32]).unwrap_err(),
        CryptoError::InvalidPrivateValue
    );
    assert!(KeyExchange::from_private(group::ECP_256, &[0xffu8; 32]).is_err());
    assert!(KeyExchange::from_private(group::ECP_256, &[1u8; 33]).is_err());
}

#[test]
fn rfc7748_x25519() {
    let a = KeyExchange::from_private(
        group::CURVE25519,
        &h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"),
    )
    .unwrap();
    let b = KeyExchange::from_private(
        group::CURVE25519,
        &h("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"),
    )
    .unwrap();
    assert_eq!(
        a.public(),
        &h("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")[..]
    );
    assert_eq!(
        b.public(),
        &h("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")[..]
    );
    let k = h("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
    assert_eq!(a.shared(b.public()).unwrap().expose(), &k[..]);
    assert_eq!(b.shared(a.public()).unwrap().expose(), &k[..]);
}

#[test]
fn x25519_rejects_low_order_points() {
    let a = KeyExchange::from_private(group::CURVE25519, &[7u8; 32]).unwrap();
    // Points of small order give an all-zero output (RFC 8031 2.3 / RFC 7748 6.1).
    let mut one = [0u8; 32];
    one[0] = 1;
    let order8 = h("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800");
    for p in [[0u8; 32], one, order8.try_into().unwrap()] {
        assert_eq!(a.shared(&p).unwrap_err(), CryptoError::InvalidPublicValue);
    }
    assert!(a.shared(&[9u8; 31]).is_err());
    assert!(a.shared(&[9u8; 33]).is_err());
    assert!(KeyExchange::from_private(group::CURVE25519, &[7u8; 31]).is_err());
}

struct ModpVector {
    group: u16,
    x_i: &'static str,
    x_r: &'static str,
    g_i: &'static str,
    g_r: &'static str,
    shared: &'static str,
}

#[test]
fn modp_known_answers() {
    for v in MODP_VECTORS {
        let i = KeyExchange::from_private(v.group, &h(v.x_i)).unwrap();
        let r = KeyExchange::from_private(v.group, &h(v.x_r)).unwrap();
        assert_eq!(i.public(), &h(v.g_i)[..], "group {}", v.group);
        assert_eq!(r.public(), &h(v.g_r)[..], "group {}", v.group);
        assert_eq!(i.shared(&h(v.g_r)).unwrap().expose(), &h(v.shared)[..]);
        assert_eq!(r.shared(&h(v.g_i)).unwrap().expose(), &h(v.shared)[..]);
    }
}

/// The RFC 3526 2048-bit prime, big-endian (the known answers above were
/// computed with primes rebuilt from the RFC's pi formula).
fn prime_2048() -> Vec<u8> {
    h(MODP_2048_PRIME)
}

const MODP_2048_PRIME: &str = "
    FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74
    020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437
    4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED
    EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05
    98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB
    9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B
    E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718
    3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF";

fn sub_small(v: &[u8], k: u8) -> Vec<u8> {
    let mut out = v.to_vec();
    let mut borrow = k;
    for b in out.iter_mut().rev() {
        let (r, o) = b.overflowing_sub(borrow);
        *b = r;
        borrow = u8::from(o);
        if borrow == 0 {
            break;
        }
    }
    out
}

fn add_small(v: &[u8], k: u8) -> Vec<u8> {
    let mut out = v.to_vec();
    let mut carry = k;
    for b in out.iter_mut().rev() {
        let (r, o) = b.overflowing_add(carry);
        *b = r;
        carry = u8::from(o);
        if carry == 0 {
            break;
        }
    }
    out
}

#[test]
fn modp_rejects_out_of_range_public_values() {
    let p = prime_2048();
    let kx = KeyExchange::from_private(group::MODP_2048, &h(MODP_VECTORS[0].x_i)).unwrap();
    let len = p.len();
    let mut one = vec![0u8; len];
    one[len - 1] = 1;
    let mut two = vec![0u8; len];
    two[len - 1] = 2;
    let rejected = [
        vec![0u8; len],    // 0
        one,               // 1
        sub_small(&p, 1),  // p - 1 (order 2)
        p.clone(),         // p
        add_small(&p, 1),  // p + 1
        vec![0xffu8; len], // > p
    ];
    for y in &rejected {
        assert_eq!(kx.shared(y).unwrap_err(), CryptoError::InvalidPublicValue);
    }
    // The boundaries just inside are accepted: 2 and p - 2.
    assert!(kx.shared(&two).is_ok());
    assert!(kx.shared(&sub_small(&p, 2)).is_ok());
    // Wrong lengths (KE data must be exactly the prime length, RFC 7296 3.4).
    assert!(kx.shared(&two[1..]).is_err());
    let mut long = vec![0u8];
    long.extend_from_slice(&two);
    assert!(kx.shared(&long).is_err());
    // Private exponents out of range.
    assert!(KeyExchange::from_private(group::MODP_2048, &[0]).is_err());
    assert!(KeyExchange::from_private(group::MODP_2048, &[1]).is_err());
    assert!(KeyExchange::from_private(group::MODP_2048, &p).is_err());
    assert!(KeyExchange::from_private(group::MODP_2048, &vec![1u8; len + 1]).is_err());
}

#[test]
fn generated_key_exchanges_agree() {
    let mut rng = ike::crypto::SystemRandom::new();
    for g in group::ALL {
        let a = KeyExchange::generate(g, &mut rng).unwrap();
        let b = KeyExchange::generate(g, &mut rng).unwrap();
        assert_eq!(a.public().len(), ike::crypto::dh::public_len(g).unwrap());
        assert_ne!(a.public(), b.public());
        let s1 = a.shared(b.public()).unwrap();
        let s2 = b.shared(a.public()).unwrap();
        assert_eq!(s1.expose(), s2.expose(), "group {g}");
        // Shared secrets are fixed-length (left-padded for MODP).
        let want = match g {
            group::ECP_256 | group::CURVE25519 => 32,
            group::ECP_384 => 48,
            group::ECP_521 => 66,
            _ => ike::crypto::dh::public_len(g).unwrap(),
        };
        assert_eq!(s1.len(), want);
        assert!(!format!("{a:?}").contains(&format!("{:?}", s1.expose())));
    }
    for g in [0u16, 1, 2, 5, 17, 18, 22, 24, 25, 26, 30, 32, 1000] {
        assert_eq!(
            KeyExchange::generate(g, &mut rng).unwrap_err(),
            CryptoError::UnsupportedGroup(g)
        );
    }
}

// ------------------------------------------------------------- Ciphers

#[test]
fn rfc3602_aes_cbc() {
    let cases = [
        (
            "06a9214036b8a15b512e03d534120006",
            "3dafba429d9eb430b422da802c9fac41",
            b"Single block msg".to_vec(),
            "e353779c1079aeb82708942dbe77181a",
        ),
        (
            "c286696d887c9aa0611bbb3e2025a45a",
            "562e17996d093d28ddb3ba695a2e6f58",
            (0u8..32).collect(),
            "d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1",
        ),
    ];
    for (key, iv, pt, ct) in cases {
        let iv: [u8; 16] = h(iv).try_into().unwrap();
        let mut buf = pt.clone();
        aes_cbc_encrypt_blocks(&h(key), &iv, &mut buf).unwrap();
        assert_eq!(buf, h(ct));
        aes_cbc_decrypt_blocks(&h(key), &iv, &mut buf).unwrap();
        assert_eq!(buf, pt);
    }
}

/// The RFC 3602 vector through the SK payload cipher: with the RFC's IV as
/// the "random" IV, the ciphertext of `plaintext | pad | pad length` starts
/// with the RFC's block when the first block is the RFC plaintext.
#[test]
fn rfc3602_through_sk_cipher() {
    struct FixedIv(Vec<u8>);
    impl ike::crypto::Random for FixedIv {
        fn fill(&mut self, out: &mut [u8]) -> Result<(), CryptoError> {
            out.copy_from_slice(&self.0[..out.len()]);
            Ok(())
        }
    }
    let key = h("c286696d887c9aa0611bbb3e2025a45a");
    let iv = h("562e17996d093d28ddb3ba695a2e6f58");
    let sk_a = vec![0x55u8; 32];
    let c = SkCipher::new(
        EncrAlg::AesCbc { key_bits: 128 },
        Some(IntegAlg::HmacSha256_128),
        &key,
        &sk_a,
    )
    .unwrap();
    // 31 bytes + pad length byte: the first block is the RFC's first
    // plaintext block, so the first ciphertext block is the RFC's.
    let pt: Vec<u8> = (0u8..31).collect();
    let body = c.seal(b"aad", &pt, &mut FixedIv(iv.clone())).unwrap();
    assert_eq!(&body[..16], &iv[..]);
    assert_eq!(&body[16..32], &h("d296cd94c2cccf8a3a863028b5e1dc0a")[..]);
    assert_eq!(body.len(), c.body_len(pt.len()));
    assert_eq!(c.open(b"aad", &body).unwrap(), pt);
}

const GCM_P: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72
                     1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
const GCM_A: &str = "feedfacedeadbeeffeedfacedeadbeefabaddad2";

/// GCM specification test cases 4 (AES-128) and 16 (AES-256), with the
/// 12-byte IV split as RFC 4106 salt (cafebabe) | explicit IV.
#[test]
fn gcm_spec_vectors_with_rfc4106_framing() {
    let cases = [
        (
            128u16,
            "feffe9928665731c6d6a8f9467308308",
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e
             21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
            "5bc94fbc3221a5db94fae95ae7121a47",
        ),
        (
            256,
            "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa
             8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
            "76fc6ece0f4e1768cddf8853bb2d551b",
        ),
    ];
    for (bits, key, ct, tag) in cases {
        let encr = EncrAlg::AesGcm16 { key_bits: bits };
        let nonce: [u8; 12] = h("cafebabefacedbaddecaf888").try_into().unwrap();
        let mut want = h(ct);
        want.extend_from_slice(&h(tag));
        assert_eq!(
            aead_seal_raw(encr, &h(key), &nonce, &h(GCM_A), &h(GCM_P)).unwrap(),
            want
        );

        // Through SkCipher::open: SK_e = key | salt, body = IV | C | T. The
        // plaintext's last byte (0x39 = 57) acts as the pad length, so open
        // returns the first 60 - 58 = 2 bytes.
        let mut sk_e = h(key);
        sk_e.extend_from_slice(&h("cafebabe"));
        let c = SkCipher::new(encr, None, &sk_e, &[]).unwrap();
        let mut body = h("facedbaddecaf888");
        body.extend_from_slice(&want);
        assert_eq!(c.open(&h(GCM_A), &body).unwrap(), h(GCM_P)[..2].to_vec());
        // Any change to the AAD fails.
        assert_eq!(
            c.open(&h(GCM_A)[1..], &body).unwrap_err(),
            CryptoError::Integrity
        );
    }
}

/// RFC 8439 2.8.2: nonce 07000000 | 4041424344454647 = RFC 7634 salt | IV.
#[test]
fn rfc8439_chacha20_poly1305() {
    let key = h("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
    let aad = h("50515253c0c1c2c3c4c5c6c7");
    let pt: &[u8] = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
    let want = h(
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6
         3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36
         92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
         3ff4def08e4b7a9de576d26586cec64b6116
         1ae10b594f09e26a7e902ecbd0600691",
    );
    let nonce: [u8; 12] = h("070000004041424344454647").try_into().unwrap();
    assert_eq!(
        aead_seal_raw(EncrAlg::Chacha20Poly1305, &key, &nonce, &aad, pt).unwrap(),
        want
    );

    // Through SkCipher::open: the last plaintext byte '.' (46) is taken as
    // the pad length, so open returns all but the last 47 bytes.
    let mut sk_e = key.clone();
    sk_e.extend_from_slice(&h("07000000"));
    let c = SkCipher::new(EncrAlg::Chacha20Poly1305, None, &sk_e, &[]).unwrap();
    let mut body = h("4041424344454647");
    body.extend_from_slice(&want);
    assert_eq!(c.open(&aad, &body).unwrap(), pt[..pt.len() - 47].to_vec());
    let mut bad = body.clone();
    bad[0] ^= 1; // the IV is part of the nonce
    assert_eq!(c.open(&aad, &bad).unwrap_err(), CryptoError::Integrity);
}

// ------------------------------------------------------ Descriptors

#[test]
fn iana_numbers_round_trip() {
    for (id, bits, alg) in [
        (20u16, Some(128u16), EncrAlg::AesGcm16 { key_bits: 128 }),
        (20, Some(256), EncrAlg::AesGcm16 { key_bits: 256 }),
        (28, None, EncrAlg::Chacha20Poly1305),
        (12, Some(128), EncrAlg::AesCbc { key_bits: 128 }),
        (12, Some(192), EncrAlg::AesCbc { key_bits: 192 }),
        (12, Some(256), EncrAlg::AesCbc { key_bits: 256 }),
    ] {
        assert_eq!(EncrAlg::from_iana(id, bits), Some(alg));
        assert_eq!(alg.iana(), id);
        assert_eq!(alg.key_length_attr(), bits);
    }
    assert_eq!(EncrAlg::from_iana(20, None), None);
    assert_eq!(EncrAlg::from_iana(20, Some(192)), None);
    assert_eq!(EncrAlg::from_iana(28, Some(256)), None);
    assert_eq!(EncrAlg::from_iana(12, None), None);
    assert_eq!(EncrAlg::from_iana(3, Some(128)), None);
    assert_eq!(EncrAlg::AesGcm16 { key_bits: 256 }.keymat_len(), 36);
    assert_eq!(EncrAlg::AesGcm16 { key_bits: 128 }.keymat_len(), 20);
    assert_eq!(EncrAlg::Chacha20Poly1305.keymat_len(), 36);
    assert_eq!(EncrAlg::AesCbc { key_bits: 256 }.keymat_len(), 32);

    for (id, alg, key, icv) in [
        (2u16, IntegAlg::HmacSha1_96, 20, 12),
        (12, IntegAlg::HmacSha256_128, 32, 16),
        (13, IntegAlg::HmacSha384_192, 48, 24),
        (14, IntegAlg::HmacSha512_256, 64, 32),
    ] {
        assert_eq!(IntegAlg::from_iana(id), Some(alg));
        assert_eq!(alg.iana(), id);
        assert_eq!((alg.key_len(), alg.icv_len()), (key, icv));
    }
    assert_eq!(IntegAlg::from_iana(1), None);

    for (id, alg, len) in [
        (2u16, PrfAlg::HmacSha1, 20),
        (5, PrfAlg::HmacSha256, 32),
        (6, PrfAlg::HmacSha384, 48),
        (7, PrfAlg::HmacSha512, 64),
    ] {
        assert_eq!(PrfAlg::from_iana(id), Some(alg));
        assert_eq!(alg.iana(), id);
        assert_eq!((alg.output_len(), alg.key_len()), (len, len));
    }
    assert_eq!(PrfAlg::from_iana(4), None);
}

const MODP_VECTORS: &[ModpVector] = &[
    ModpVector {
        group: 14,
        x_i: concat!(
            "211803d70603ba769d540187bd76ff2e0ec83c4ca0f37ccbd15accb3eaa0f57e",
            "6aaeef30b85d80e8d6c294d448485dc2cc939719d9e96b2732564f2858f12194",
        ),
        x_r: concat!(
            "67053d99ef2918e2da88e10478ac0f9c19f9549c542f5df07a28e5edc5408228",
            "bf5fe0c9551205d4c245258754c1b0532918bcc68e67c0f0a5c15a7b33331f59",
            "67053d99ef2918e2da88e10478ac0f9c19f9549c542f5df07a28e5edc5408228",
            "bf5fe0c9551205d4c245258754c1b0532918bcc68e67c0f0a5c15a7b33331f59",
            "67053d99ef2918e2da88e10478ac0f9c19f9549c542f5df07a28e5edc5408228",
            "bf5fe0c9551205d4c245258754c1b0532918bcc68e67c0f0a5c15a7b33331f59",
            "67053d99ef2918e2da88e10478ac0f9c19f9549c542f5df07a28e5edc5408228",
            "bf5fe0c9551205d4c245258754c1b0532918bcc68e67c0f0a5c15a7b33331f5b",
        ),
        g_i: concat!(
            "7307969e4e856cc568a9632c804baea51e21abd3f2c9ce2decffa1d69c58c2ba",
            "3ee4c540604fa1436640e148a18122e51a95228e277dc5d23e4d099677f0889f",
            "18491a742de538dd805f58dfbd9a360f1f5c903314afd02ff4008b8f63197923",
            "7dedd52d469e8e17c6905deb1d08f7c0e739d656551e00cf2d97305667f18b74",
            "6c788e200bd76679ea4e95ae5102194975078cf352678cf0b8bbac0198c9505d",
            "64143c35ff2463627d05d6773d80a7514590e24e2a501483811c4296423f2a15",
            "7eb0370b939e445e18f5610d5e511418f26965c31ab8d118a6fba5812231792a",
            "0c4f9b3473e024c314e710bf7465dcda059429597630cf5dd4253ea2d015027e",
        ),
        g_r: concat!(
            "752cf367fda69a725a778370d465ff75724d0aac84660e90dd8ec18197b02ff7",
            "f4503b63b39c831dba14dd8b3cc011d897e48c02b68c44bc4724d72862a48479",
            "d027b0be3a9e2d41a2cd078602ce5a72199e760f53a322bb6f5686599b8e69f4",
            "c479e4208bb9fae23bfc1036d61c9b7b2c5d0d11c333d3a7a2cd8a99d57c5d04",
            "edf0a496090be94d3b32b10ee741470eb8f94536d48d7b7c66669b46f3735639",
            "4ada95583e4461150f0f0adadd9802549b75b9a129f6b852054d7e210ca50984",
            "f06eb8d395f056f29e692736576bb49232153540e9c602862354e15597f4c374",
            "8617dc270d1fe2936da7098e23c35f0caa9829eaaef3f967f3a227de2ea1b000",
        ),
        shared: concat!(
            "1730001215b5463e1f19ff0adeb9a59019afca3c107ab79b4ca375e23cae56a8",
            "9266b6c07a9b76b65b7ecf472ae2e6fec05a11fd288603deb33270327ccf53f7",
            "9bd726a72e71ec66731c398ddbb5823e26e42fba780f68945080aea91f851ffd",
            "d40873d4cf5e071b5a12bb42e7e3860a518f77d2f6f7e508b54477a139c03e9d",
            "621b41e61b61b033f0569962bb2226d733225af777f791c892fea55ab6264f12",
            "6f5eaf84bde5b874d1fd907754c3712f7eb2e30b2c1c0659ec4f44e0f210b2e2",
            "9d6590d313d7aeb96d9d64fc39559fd5a6cf644034d667df0019484b9fadb036",
            "64cff0d6c777eead35ec13701179cba13396709087de680968b81edaa2980cd1",
        ),
    },
    ModpVector {
        group: 15,
        x_i: concat!(
            "390b9ab01aca0ff60ad8aed89e8c1169a9c4bb655b87fd686e76c8d5fb1a67e9",
            "da36ca0d2103576124921c184a8853426d0893e0947c896a2137ffecddff5c99",
        ),
        x_r: concat!(
            "0200046d28b36c85f4beed672cceaec53570e3eee3badb05a09979d984d08824",
            "c5f02dcfb45d1584ad3827dcf46d12ffee3bf64dc3fc846dabe949106b720e55",
            "0200046d28b36c85f4beed672cceaec53570e3eee3badb05a09979d984d08824",
            "c5f02dcfb45d1584ad3827dcf46d12ffee3bf64dc3fc846dabe949106b720e55",
            "0200046d28b36c85f4beed672cceaec53570e3eee3badb05a09979d984d08824",
            "c5f02dcfb45d1584ad3827dcf46d12ffee3bf64dc3fc846dabe949106b720e55",
            "0200046d28b36c85f4beed672cceaec53570e3eee3badb05a09979d984d08824",
            "c5f02dcfb45d1584ad3827dcf46d12ffee3bf64dc3fc846dabe949106b720e55",
            "0200046d28b36c85f4beed672cceaec53570e3eee3badb05a09979d984d08824",
            "c5f02dcfb45d1584ad3827dcf46d12ffee3bf64dc3fc846dabe949106b720e55",
            "0200046d28b36c85f4beed672cceaec53570e3eee3badb05a09979d984d08824",
            "c5f02dcfb45d1584ad3827dcf46d12ffee3bf64dc3fc846dabe949106b720e57",
        ),
        g_i: concat!(
            "28fb2326c2f6d690325cc2685b1d3535e6a07793a51692f450cf96d0144c00b6",
            "cdadc1cae100b56964b7672d954b1a10e4016dc09e7441bfd950130aa828a7f6",
            "56aecd2397f2399773b086858d8bbcc7b52aec689b5120798c66268b319a6875",
            "6425542df6f0827215b80c79fbfa50d589dac2ba06902ee295228dec142db925",
            "b891b3b546051aa64643b9f4e617c1ddf59c363de3b4e4210dab5c77f907e0f2",
            "d54580463fe2454227df3ba3b18c2384e259bbf5b7d1f66ac6486d66fb041fe0",
            "428560a3c6029899d08ed93d7e741f507a9433a4c7f9a18316b5b6fb3366907c",
            "e7f364554b396092bf955fea26d5772476c1af0bb13eff33b112a9e80e99534b",
            "747895b0df4df5654fb6ec57f3e65c1565a448187868eb7df2d9bddd76fae44a",
            "5fbbb9990ad79582f6152f204ff6474d0c578fad02bce8c4c12a2eab33819228",
            "6756973fad06583f7ecd2149ad70a6afea417e6d8a69435c1069e10c680326b6",
            "1d2fcb59cbdad712eed69e366026e411c97e925e58e1b0bd236cc2996b02a916",
        ),
        g_r: concat!(
            "8bd622df6392f4202726ceda2bc211f9e1313ebfea4a56b4b73864c55a46f658",
            "870c31d82a3c77cf33448844abcf321a591c4cb8b5bf46272418a8cb44856707",
            "349736c2dbcc694e09609161352cfad19f8a9c9f67b1d10bd7d7c073c8f875e1",
            "6a298527e585fea26ccb184d7537175a1a08a9578d90da7fe3b8f183e561756e",
            "1bbad98a49c9c14b5fcf02da3c32414e88b489663af0f58947ccabea776a0d32",
            "e865a46dbc9d12aeebf4f18ce9ee08816902080642a8a565802fab77fffc8ebb",
            "dea09dc7f3cf6ace4146e86cb7f699a0cabfcb4208ed0e1c35b2487f57c18b71",
            "cb4907c7d077c0b18bdadcbd87228b94a6d48a7e65631b6195f288f08dc59745",
            "5fb8f49c4c3b695d637c550259ef0459256e04d85e35bffb7d7da6dd2bfcb954",
            "b6d4b22a08452971fe4f72981cba053cc35aa91c92ab8bd7cde9da9224ae8135",
            "548765963416dce9199b144e62634d050be33852120cc0aa24d9d9b8a1bd6076",
            "39631518a286a1cc9d3b61682e92f41090523de4db66dd5d204964e1f45bbb15",
        ),
        shared: concat!(
            "532442521ae302c283f21dc10acf4249d1dacc6b10c77b6b09788f7ac255e27f",
            "5e941cf93770ba89fb451b501368a3171518a39543a69565f0f3917bcfc9d61b",
            "d0272c9d2f8fde8b5bb98941e7167dbd5a44528586297a3063507d03430217f9",
            "f711f8a1bd4df204060712358830b4b6fd2332a1071173098583d8e2480e6a0b",
            "4e4d760200b72da8c7d5ca31c9603d5498f4740c02456efbfcf76ac82213c6e3",
            "456f875efd911755a1af50ca986ca6e565924e147732ab24ed2c057ccc2eaaf3",
            "5c15de0240b8741085ada2e0cd687d50e903a20681f2eec4676ee567f2074911",
            "e447ee1f58867102bedb3693b96f00f829c988b23a4b392b24bb3463049977c4",
            "c272d8d2a5d225d881eda0d05a16ba7962581a6c7008985c78f81f6c1778f704",
            "82f86294575a3045686c25420b83d0553cefcbea85b9957b04e8f92ae6793d43",
            "1791a8e25d8a5314b7c3d265ed6c316b32dbe485d519de27e7a35adfbfbc5b80",
            "e1b2e18349dbb599fd37dd6909942bd9978ef12979df5f88262947c6e29bcf56",
        ),
    },
    ModpVector {
        group: 16,
        x_i: concat!(
            "28a3d8ed1569d35b9c31023583dab791244f952fd1f6cd389237ef2e78342cb2",
            "b2ca2374a48fb01a97b1adc7cb99f6fbe630eff7c35b74728d695fa2ded1889e",
        ),
        x_r: concat!(
            "f3b477fd63999482b4eaab4197cfc5da493e7d9fe48aba34e10686e6d303fe43",
            "e43a44b95b690ae59ce122e7fa2129d4e0526f921f29ab473c90c6a9ce9c2395",
            "f3b477fd63999482b4eaab4197cfc5da493e7d9fe48aba34e10686e6d303fe43",
            "e43a44b95b690ae59ce122e7fa2129d4e0526f921f29ab473c90c6a9ce9c2395",
            "f3b477fd63999482b4eaab4197cfc5da493e7d9fe48aba34e10686e6d303fe43",
            "e43a44b95b690ae59ce122e7fa2129d4e0526f921f29ab473c90c6a9ce9c2395",
            "f3b477fd63999482b4eaab4197cfc5da493e7d9fe48aba34e10686e6d303fe43",
            "e43a44b95b690ae59ce122e7fa2129d4e0526f921f29ab473c90c6a9ce9c2395",
            "f3b477fd63999482b4eaab4197cfc5da493e7d9fe48aba34e10686e6d303fe43",
            "e43a44b95b690ae59ce122e7fa2129d4e0526f921f29ab473c90c6a9ce9c2395",
            "f3b477fd63999482b4eaab4197cfc5da493e7d9fe48aba34e10686e6d303fe43",
            "e43a44b95b690ae59ce122e7fa2129d4e0526f921f29ab473c90c6a9ce9c2395",
            "f3b477fd63999482b4eaab4197cfc5da493e7d9fe48aba34e10686e6d303fe43",
            "e43a44b95b690ae59ce122e7fa2129d4e0526f921f29ab473c90c6a9ce9c2395",
            "f3b477fd63999482b4eaab4197cfc5da493e7d9fe48aba34e10686e6d303fe43",
            "e43a44b95b690ae59ce122e7fa2129d4e0526f921f29ab473c90c6a9ce9c2397",
        ),
        g_i: concat!(
            "d2a0e0a44f06104745e8ba3413030b6d99adecc804643e1cea312f2cdcb95fcc",
            "eb4212db8965e84b0b9367285236ce94f090906c1b91376a94093f9e0f8056cf",
            "f134038cd82026f72a4f6b71aef03617faf3111ab029f765ea408f542f59fef3",
            "3f3131d70d93efd784f12e5a89bf7aac0edc541ae56020101568474c3eff3746",
            "f69b223687cb7c7245d68a63f43acaa3e431d1219b846808b4ac937a4df7c88c",
            "b18bceba00ca24ff8d40dc9a5174bcc6c912fddc0fbb99ccdd74ea3c4869dcd8",
            "0efdfd0c1d7ea97e7cd4816e8a5859c85e20f7af18530705ddfc17acc21c4051",
            "ae746a73676afe729e227b61c6824ae111f70f9f6895fffed0c15384ff4f7bd6",
            "5227692ee8d560390e4db56aff8a1ef2b2856590818c166b95d28a52efcd344e",
            "1db954eba78f1fd7ed9f196213de0db6978e1ca0efc59361dd9b787519fe1926",
            "b4cc171bb188ac7a8dce2ac7c007b40f8d9e140b6e586d65d4ff439e599cac42",
            "a04c6cc3d8091b47c2bff6390eb9593a4213137db778bf9d60cbdbf450011295",
            "b8141717b2912ddc9561a2e3bf66277513aa18269cb273cc407c550217f0460e",
            "399f15cbb279ed6b7ec7a5cac3c45bcb1b3081918042b89bca9d2c16163459c4",
            "f739495280f7246734d5145672e300f2d153395fd05af8d8c762908e7bd512c4",
            "9df00ee47a63a6500bb54250c080e44dcb84c7e2c97d00201e13aa9c1a960688",
        ),
        g_r: concat!(
            "7f9f3303ef07c1d05837bebc979a492c660098b0615be76b4ab5ba89e2c3b541",
            "6cc637ead923949f9d7efa450f787cca91953910dfbbd39fa54730f8f7abbf9f",
            "0273291b1826cee03e6a8b8d2cc06e2a96b2c367345f850a27906850cc870af2",
            "ef4c9bd5fe520a1ed4ed63ca5528bb42e85b9581f06fc4ceed36ec4ddc88a812",
            "8378217912de164a019505b2c5edfe31ba9b1cc83fde6ef469643ac6c625e2e6",
            "7da98004336d3388e772dbd861999521af0546559a4a84875d957bfba25faef4",
            "1c218e4cc52f6be9f0971a56d51b115d518b939c273ff5c99b461e892e29c426",
            "fee7af2a56a80a8caca92ba53f0efd697088db3cf6422345a08fb2d63242c8b6",
            "1eb16ea83dc3e998d57b925c8f9b2bdb495d075e55cb6e5800dc682bbb56c6b6",
            "8cee74132e894a1ba3a6091d9a8f3033c531fae46a925272a05ef8a063284576",
            "681792d8ad9f8500733883dd9d4864325349b8b1e866dee2d757f112f9c7d5f6",
            "bfc2c766a03f6a2e5ac69ab79c0c1066073fd4dcec305a420368234e11b1a90f",
            "8f3779c1ec09907826d4177ce20f8c0a3461a34c058a875247d70f41f9bff73c",
            "b4ccf0b972238ef14fe307080dd60f92643dcd165e071a8e8ecfd733dc6f84d2",
            "4707a8abcb82c8f82499a3693f54aa053c121d926e5da9669ae56d884b8ce234",
            "072e593b6827d248df7949f9eefdc4edb0ccba0666cc08d46ded0246ff1adec8",
        ),
        shared: concat!(
            "194739198f10898989e53ab67fd64d9a4d0636bc250036af2604cfe3c02c6b6f",
            "dbe9d494490342e8bf4fc8efa156a58046ea8546ab3ea0b84da7ab21d8e6bd85",
            "a0afce0f38b71e1f6075ca70c3834be0758ee46f6cfa3af38d2c498a395d887d",
            "2ec7727a849489723a8d28d3d9b540a3b27c26c8d21dd7eaa987d7a8f112bed2",
            "246c50a81124a290d14589f69459b7e9bda891d294c4c896af02181390f28716",
            "8a0ab57a1a0446b88732d315912acf753e78b2203f9f42e0981f4c6395a4d219",
            "4f89078229f460292482e2ff6ec85b8252da735135e94451553c2fb2b971832f",
            "4ea21750216f2823469291aa9f81d2f5b049f13f9f778f5db800ac1c58f67cc9",
            "b0c2ec5712babb9f531b9a25e80c63529814c4df1963667c070458de139f5fff",
            "af1b110af7dd76806d7c80fa57b24f9b6c7fbaaaad9833b24ce20aea0aa2b079",
            "0f27f58327398a373bacc08b63c4c510d533de7bbfd5a11dc948c60115979144",
            "eaf011056f7787bcfdaac65a39271c3e1381fe6cd237e8712d718748637949c7",
            "8bed9f4b61d4bca6319b412086cbb00c875ec33286fc3f182b642018235a667c",
            "8b042cb22d521c83c966d8df1ae01041f23997979c41c31d48c2c1da429ec35f",
            "3f3de329f05d5fbf52a72e7de90c21b67cda31cd3c70db9191aa92517efd50b0",
            "4545c9ebf8d7f5af8d15efd3a9a80be658656f4e15a3e49341ac7b69ed6088d7",
        ),
    },
];

/// prf+(0x00..0x27, "prf+ seed " x 7) truncated to 333 bytes, computed
/// independently with Python's hmac module.
const PRF_PLUS_VECTORS: &[(PrfAlg, &str)] = &[
    (
        PrfAlg::HmacSha1,
        concat!(
            "49c6db75a21f31cf739af88c141a8aa99221700ddb3c5fdf8e78c4c128c5b026",
            "fd4577536a302baf55fe03570c9a02fd710dfc93ba79f045f93527503a0a1a67",
            "3933f74f2a81f618f38b6f15a9eac32f6d7d1a5c8afe33bff4efa22ba456cdc2",
            "b08359185191eea9c86cc53f2a6a25309bd3419da7301ec64827bc4c9c42d832",
            "7de04d3b9db5b1707fcb5a31cfa75e8561d0e8ad4f9c83b0cb2a5d536d3391e4",
            "fd4affa1a7a03032a752f598310681f3680e8a3ba3a36434c923c54f7d44e372",
            "6077366230269998d5e4ea4333504c571cc2b60d97aac3fa7926f4c8a62ecf11",
            "eab19b8a52eeb6f87b8ae2bca32b462718c1b84cb65bb1da881335ea42385364",
            "47eb290c052d1503b800da36b01440836eb855a96ff813066992146afb2adcdc",
            "d7d33a4020b8f2bff2bca2bad8ec348d06cde0f9372863856db89f592caa55e7",
            "35775bb0072063d339cfd0b2c4",
        ),
    ),
    (
        PrfAlg::HmacSha256,
        concat!(
            "2ee5e61f233345ff2cc792e787d4b7bfc12b4d1e7f4593ef652f2921cf51de02",
            "9e898e685b941a070fcc597dd88f75b8f5b55be5a3654f8705ebbd3488e2b9ee",
            "f3878abfa403588cf13e556e9f5bf57b4ebd22aeffba9cbaf1a038f405140197",
            "db5813e4ca3c7a89bc4045600592a413909839e5e02d9be4a027af36df5247a2",
            "6624039c0f2fc94893a1da3f690c98d164e9c78f775b6847806ceb3c132b11f1",
            "a144f601bef2199fc63afd91341d86135dca1d986cbcbfedb3854526b11971e1",
            "c6c35fb987b096f7e0c633eeed42ab93a9f0569e561e5a0c594127e2d44456ed",
            "b0a85ddcd8b0f8ebd92c2d11521448bbdfd0d93a14967698165445d1aa51b7b5",
            "4b67563915bcbd91e1d43e1ccd5a50d3448863f0113974409b760941ade030ae",
            "4e21140c8ff6504268b051b50db3127993e226395bb22499db67f41d4af01eb2",
            "c23ebad28c00002d5aa1d6eeca",
        ),
    ),
    (
        PrfAlg::HmacSha384,
        concat!(
            "2bf4de14429851559dcd036623db31e5591d63e9fb2b49a6ca59981aea8ef07b",
            "b19f453075f671415d3ebd89749b21bfefd545e79c2f5d99ec4f747970c59ce0",
            "afe4cbf2dd3cf647ee8ba8ba037d63dc5624573ccb526b34f1f28a3a295d566c",
            "9d0a0e81de7341e53e7904f5871b04182d7d5ec5a895fc5dd99bdb8d0853a1ad",
            "ba7d24d11eeeef06d58c72391e82f88e9340b7342e26fed60aa2f23ca299c3ac",
            "1bfa36ce4d298fc205c978335bb5006c653a1bbb01b9e37453e156de981962c1",
            "217c1cddb92bd64d75c7e8d40d6619850877d39ff804faf9ff926ce66530dc51",
            "bd4150c32de867a6caf4138c86b5f395cae46a53dcd450c639e751874a1661cb",
            "cbd2c70f9d064377d3efac10932e18ea4e5d5a0eaee00917c6f577c1a0c2c926",
            "9c4ea7f36ffbb42594e3038c709fccb76d25a0bfb71620f2b374155e2a6b11a5",
            "a68e318aecf15c22485fa4d698",
        ),
    ),
    (
        PrfAlg::HmacSha512,
        concat!(
            "04bd23a4a88c8bdab1b01118f083c787fc758c5dadf33d6f476efc76975e2c2c",
            "05450b2dd344df7576630a8e3ff1d13c3d9d204358b54dcfaa6029ba7a20dae4",
            "fe77c0dced52eef647754bc6afa8e2172aa30c41e84710e17255b00e287c382c",
            "f15a277d4485187489661359bdea7502280e0650916c556d09f9acf18ebe7b03",
            "34b6f97cdbf2ed033f5223574ecb71e788281b294d6fbc6123d57a114db9d345",
            "fc1462c7ac81ee386acd82747d5c4865360e84dbd8956116bdc88076b30b39b7",
            "ecfef070a096fd04666cdabafcf7a7cab1ccd2487902f18e150fe1d10a9c8153",
            "1aa60d266248c806f37309e71411c262bc70a19b237a684b9ff8136063252321",
            "80216fb8859316428acf73a2125399049471d9ea5c3bf621e94d34b8ecc6fdf1",
            "919c30418ff6bb714f8c24a1b712102c27c36b177f950e22aa532d6ba54229d6",
            "3e6a81b524f8aad6685d01871a",
        ),
    ),
];
