//! Known-answer tests: published ESP packets (RFC 7634 Appendix A,
//! draft-mcgrew-gcm-test-01 for RFC 4106) opened by `InboundSa`, and
//! packets built independently in Python (tests/vectors/gen_sealed.py)
//! that `OutboundSa` must reproduce byte for byte.

mod common;

use common::{hex, FixedRandom};
use esp::{EspError, InboundSa, OutboundSa, SaKeys, Transform, DEFAULT_WINDOW};

/// RFC 7634 Appendix A: tunnel-mode ESP with ChaCha20-Poly1305.
#[test]
fn rfc7634_appendix_a() {
    let keymat = hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f a0a1a2a3");
    let packet = hex("01020304000000051011121314151617
         24039428b97f417e3c13753a4f05087b67c352e6a7fab1b982d466ef407ae5c6
         14ee8099d52844eb61aa95dfab4c02f72aa71e7c4c4f64c9befe2facc638e8f3
         cbec163fac469b502773f6fb94e664da9165b82829f641e0
         76aaa8266b7fb0f7b11b369907e1ad43");
    let inner = hex(
        "45000054a6f200004001e778c6336405c000020508005b7a3a080000553bec10
         0007362708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223
         2425262728292a2b2c2d2e2f3031323334353637",
    );
    let mut sa = InboundSa::new(
        0x01020304,
        Transform::ChaCha20Poly1305,
        SaKeys::aead(&keymat),
        false,
        DEFAULT_WINDOW,
    )
    .unwrap();
    let mut pkt = packet.clone();
    let opened = sa.open_in_place(&mut pkt).unwrap();
    assert_eq!(opened.next_header, 4);
    assert_eq!(opened.seq, 5);
    assert_eq!(opened.range, 16..16 + 84);
    assert_eq!(opened.inner, &inner[..]);
    // The trailer the RFC prints: padding 01 02, pad length 2, next header 4.
    assert_eq!(&pkt[100..104], &[1, 2, 2, 4]);
    // The same packet again is a replay.
    let mut again = packet.clone();
    assert!(matches!(
        sa.open_in_place(&mut again),
        Err(EspError::Replay { .. })
    ));
    let s = sa.stats();
    assert_eq!((s.packets, s.bytes, s.replay_drops), (1, 84, 1));
}

fn open_gcm(t: Transform, keymat: &str, packet: &str, esn_top: Option<u64>) -> (u8, u64, Vec<u8>) {
    let keymat = hex(keymat);
    let mut pkt = hex(packet);
    let spi = u32::from_be_bytes(pkt[..4].try_into().unwrap());
    let mut sa = InboundSa::new(spi, t, SaKeys::aead(&keymat), esn_top.is_some(), 1024).unwrap();
    // These vectors carry next header 1: hand it through.
    sa.set_accept_any_next_header(true);
    if let Some(top) = esn_top {
        sa.replay_window_mut().update(top).unwrap();
    }
    let o = sa.open_in_place(&mut pkt).unwrap();
    (o.next_header, o.seq, o.inner.to_vec())
}

/// draft-mcgrew-gcm-test-01 (the RFC 4106 packet vectors), AES-128, SPI
/// 0x0000a5f8, sequence number 10.
#[test]
fn gcm_test_aes128() {
    let (nh, seq, inner) = open_gcm(
        Transform::AesGcm16_128,
        "feffe9928665731c6d6a8f9467308308 cafebabe",
        "0000a5f8 0000000a facedbad decaf888
         deb22cd9 b07c72c1 6e3a65be eb8df304 a5a5897d 33ae530f 1ba76d5d 114d2a5c
         3de81827 c10e9a4f 51330d0e ec416642 cfbb85a5 b47e48a4 ec3b9ba9 5d918bd1
         83b70d3a a8bc6ee4 c309e9d8 5a41ad4a",
        None,
    );
    assert_eq!((nh, seq), (1, 10));
    assert_eq!(
        inner,
        hex(
            "4500003e 698f0000 80114dcc c0a80102 c0a80101 0a980035 002a2343 b2d00100
             00010000 00000000 03736970 09637962 65726369 74790264 6b000001 0001"
        )
    );
}

/// draft-mcgrew-gcm-test-01, AES-256, SPI 0x4a2cbfe3, sequence number 2.
#[test]
fn gcm_test_aes256() {
    let (nh, seq, inner) = open_gcm(
        Transform::AesGcm16_256,
        "abbccddef00112233445566778899aab abbccddef00112233445566778899aab 11223344",
        "4a2cbfe3 00000002 01020304 05060708 ff425c9b 724599df 7a3bcd51 0194e00d
         6a78107f 1b0b1cbf 06efae9d 65a5d763 748a6379 85771d34 7f054565 9f14e99d
         ef842d8e b335f4ee cfdbf831 824b4c49 15956c96",
        None,
    );
    assert_eq!((nh, seq), (1, 2));
    assert_eq!(
        inner,
        hex(
            "45000030 69a64000 80062690 c0a80102 9389155e 0a9e008b 2dc57ee0 00000000
             70024000 20bf0000 020405b4 01010402"
        )
    );
}

/// draft-mcgrew-gcm-test-01 with an extended sequence number: SPI
/// 0x00004321, sequence number 0x87654321_00000000 (only the low half,
/// 0, on the wire), AAD SPI||SeqHi||SeqLo. The receiver has seen up to
/// 0x87654320_ffffffff and must infer the high half across the wrap.
#[test]
fn gcm_test_esn() {
    let (nh, seq, inner) = open_gcm(
        Transform::AesGcm16_128,
        "4c80cdefbb5d10da906ac73c3613a634 2e443b68",
        "00004321 00000000 4956ed7e3b244cfe
         fecf537e729d5b07dc30df528dd22b768d1b98736696a6fd348509fa13ceac34
         cfa2436f14a3f3cf65925bf1f4a13c5d15b21e1884f5ff6247aeabb786b93bce
         61bc17d768fd9732 459018148f6cbe722fd04796562dfdb4",
        Some(0x8765_4320_ffff_ffff),
    );
    assert_eq!((nh, seq), (1, 0x8765_4321_0000_0000));
    assert_eq!(
        inner,
        hex(
            "45000048699a000080114db7c0a80102c0a801010a9bf15638d30100000100000000
             0000045f736970045f756470037369700963796265726369747902646b0000210001"
        )
    );
}

/// The same ESN vector with a receiver that has not seen the high half
/// cannot verify it: the AAD carries SeqHi.
#[test]
fn gcm_test_esn_wrong_high_half_fails() {
    let keymat = hex("4c80cdefbb5d10da906ac73c3613a634 2e443b68");
    let mut pkt = hex("00004321 00000000 4956ed7e3b244cfe
         fecf537e729d5b07dc30df528dd22b768d1b98736696a6fd348509fa13ceac34
         cfa2436f14a3f3cf65925bf1f4a13c5d15b21e1884f5ff6247aeabb786b93bce
         61bc17d768fd9732 459018148f6cbe722fd04796562dfdb4");
    let mut sa = InboundSa::new(
        0x4321,
        Transform::AesGcm16_128,
        SaKeys::aead(&keymat),
        true,
        1024,
    )
    .unwrap();
    sa.replay_window_mut()
        .update(0x8765_4321_0010_0000)
        .unwrap();
    // Inferred as 0x87654322_00000000: the ICV fails.
    assert!(matches!(
        sa.open_in_place(&mut pkt),
        Err(EspError::AuthFailed {
            seq: 0x8765_4322_0000_0000,
            ..
        })
    ));
}

/// Every transform x ESN x IPv4/IPv6: the sender reproduces the packet
/// built in Python byte for byte, and the receiver opens it.
#[test]
fn sealed_vectors_from_python() {
    let text = include_str!("vectors/sealed.txt");
    let mut n = 0;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [name, esn, seq, nh, inner, ek, ik, packet] = f[..] else {
            panic!("bad line {line}");
        };
        let t = *Transform::ALL
            .iter()
            .find(|t| t.to_string() == name)
            .unwrap_or_else(|| panic!("unknown transform {name}"));
        let esn = esn == "1";
        let seq: u64 = seq.parse().unwrap();
        let nh: u8 = nh.parse().unwrap();
        let (inner, ek, packet) = (hex(inner), hex(ek), hex(packet));
        let ik = if ik == "-" { vec![] } else { hex(ik) };
        let keys = SaKeys::cbc(&ek, &ik);
        let iv: Vec<u8> = (0xA0..0xB0).collect();
        let mut tx = OutboundSa::new(0x11223344, t, keys, esn, FixedRandom(iv)).unwrap();
        tx.advance_seq(seq - 1).unwrap();
        let mut out = vec![0u8; 2048];
        let len = tx.seal(&inner, nh, &mut out).unwrap();
        assert_eq!(
            hex_str(&out[..len]),
            hex_str(&packet),
            "{name} esn={esn} nh={nh}"
        );
        assert_eq!(len, inner.len() + tx.overhead(inner.len()));

        let mut rx = InboundSa::new(0x11223344, t, keys, esn, 1024).unwrap();
        if esn {
            rx.replay_window_mut().update(seq - 1).unwrap();
        }
        let mut pkt = packet.clone();
        let o = rx.open_in_place(&mut pkt).unwrap();
        assert_eq!((o.next_header, o.seq), (nh, seq));
        assert_eq!(o.inner, &inner[..]);
        n += 1;
    }
    assert_eq!(n, 44);
}

fn hex_str(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
