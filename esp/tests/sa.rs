//! OutboundSa / InboundSa behaviour: round trips, tampering, truncation,
//! replay, ESN, lifetimes, TFC, padding, buffers.

mod common;

use common::{inner, keys, pair, BrokenRandom, CountingRandom, SPI};
use esp::{
    EspError, InboundSa, KeyKind, Lifetime, LifetimeLimits, Limit, OutboundSa, Replay, SaKeys,
    Transform, DEFAULT_WINDOW, NEXT_HEADER_IPV4, NEXT_HEADER_IPV6, NEXT_HEADER_NONE,
};

fn nh(v6: bool) -> u8 {
    if v6 {
        NEXT_HEADER_IPV6
    } else {
        NEXT_HEADER_IPV4
    }
}

#[test]
fn round_trip_every_transform_esn_family_and_size() {
    let mut out = vec![0u8; 1600];
    for t in Transform::ALL {
        for esn in [false, true] {
            let (mut tx, mut rx) = pair(t, esn, DEFAULT_WINDOW);
            if esn {
                // Run across the 2^32 boundary while we are at it.
                tx.advance_seq((1 << 32) - 3000).unwrap();
                rx.replay_window_mut().update((1 << 32) - 3000).unwrap();
            }
            for v6 in [false, true] {
                for len in 0..=1500 {
                    let p = inner(len, v6);
                    let n = tx.seal(&p, nh(v6), &mut out).unwrap();
                    assert_eq!(n, len + tx.overhead(len), "{t} len {len}");
                    assert_eq!((n - t.header_len() - t.icv_len()) % t.align(), 0);
                    let o = rx.open_in_place(&mut out[..n]).unwrap();
                    assert_eq!(o.inner, &p[..], "{t} esn {esn} len {len}");
                    assert_eq!(o.next_header, nh(v6));
                    assert_eq!(o.seq, tx.seq());
                }
            }
            let (s, r) = (tx.stats(), rx.stats());
            assert_eq!(s.packets, 3002);
            assert_eq!(r.packets, 3002);
            assert_eq!(s.bytes, r.bytes);
            assert_eq!(s.bytes, 2 * (1500 * 1501 / 2));
            if esn {
                assert!(tx.seq() > 1 << 32);
            }
        }
    }
}

#[test]
fn seal_in_place_uses_headroom_and_tailroom() {
    for t in Transform::ALL {
        let (mut tx, mut rx) = pair(t, false, DEFAULT_WINDOW);
        for len in [0usize, 1, 2, 3, 14, 15, 16, 17, 100, 1400] {
            let p = inner(len, false);
            let head = tx.headroom();
            let tail = tx.tailroom(len);
            assert_eq!(head + tail, tx.overhead(len));
            // Exactly enough room, at an offset with slack before.
            let mut buf = vec![0xEEu8; 10 + head + len + tail];
            buf[10 + head..10 + head + len].copy_from_slice(&p);
            let r = tx
                .seal_in_place(&mut buf, 10 + head..10 + head + len, 4)
                .unwrap();
            assert_eq!(r, 10..buf.len());
            let o = rx.open_in_place(&mut buf[r.clone()]).unwrap();
            assert_eq!(o.inner, &p[..]);
            assert_eq!(o.range, head..head + len);

            // One byte short on either side: typed errors, nothing sent.
            let before = tx.seq();
            let mut buf = vec![0u8; head + len + tail];
            assert_eq!(
                tx.seal_in_place(&mut buf, head - 1..head - 1 + len, 4),
                Err(EspError::Headroom {
                    needed: head,
                    available: head - 1
                })
            );
            let short = buf.len() - 1;
            assert_eq!(
                tx.seal_in_place(&mut buf[..short], head..head + len, 4),
                Err(EspError::Tailroom {
                    needed: tail,
                    available: tail - 1
                })
            );
            let past = buf.len() + 1;
            assert!(matches!(
                tx.seal_in_place(&mut buf, head..past, 4),
                Err(EspError::InvalidRange { .. })
            ));
            let mut small = vec![0u8; len + tx.overhead(len) - 1];
            assert!(matches!(
                tx.seal(&p, 4, &mut small),
                Err(EspError::BufferTooSmall { .. })
            ));
            assert_eq!(tx.seq(), before);
        }
        assert_eq!(tx.stats().errors, 40);
    }
}

#[test]
fn tampering_any_byte_is_refused() {
    for t in Transform::ALL {
        for esn in [false, true] {
            let (mut tx, mut rx) = pair(t, esn, DEFAULT_WINDOW);
            let mut pkt = vec![0u8; 256];
            let n = tx.seal(&inner(61, false), 4, &mut pkt).unwrap();
            pkt.truncate(n);
            for i in 0..n {
                for bit in [0x01u8, 0x80] {
                    let mut bad = pkt.clone();
                    bad[i] ^= bit;
                    let e = rx.open_in_place(&mut bad).unwrap_err();
                    match i {
                        0..=3 => assert!(matches!(e, EspError::SpiMismatch { .. }), "{e}"),
                        _ => assert!(
                            matches!(e, EspError::AuthFailed { .. } | EspError::Replay { .. }),
                            "{t} byte {i}: {e}"
                        ),
                    }
                }
            }
            // No forgery moved the window: the original still opens.
            let s = rx.stats();
            assert_eq!(s.malformed + s.auth_failures + s.replay_drops, 2 * n as u64);
            assert!(rx.open_in_place(&mut pkt).is_ok());
        }
    }
}

#[test]
fn every_truncation_is_refused() {
    for t in Transform::ALL {
        for esn in [false, true] {
            let (mut tx, mut rx) = pair(t, esn, DEFAULT_WINDOW);
            let mut pkt = vec![0u8; 256];
            let n = tx.seal(&inner(40, true), 41, &mut pkt).unwrap();
            pkt.truncate(n);
            for len in 0..n {
                let mut short = pkt[..len].to_vec();
                let e = rx.open_in_place(&mut short).unwrap_err();
                if len < t.min_packet_len() {
                    assert_eq!(
                        e,
                        EspError::Truncated {
                            len,
                            min: t.min_packet_len()
                        }
                    );
                }
            }
            // Extended by garbage: refused too.
            let mut long = pkt.clone();
            long.extend_from_slice(&[0; 16]);
            assert!(rx.open_in_place(&mut long).is_err());
            assert!(rx.open_in_place(&mut pkt).is_ok());
        }
    }
}

#[test]
fn replayed_packet_is_dropped() {
    let (mut tx, mut rx) = pair(Transform::AesGcm16_128, false, DEFAULT_WINDOW);
    let mut pkt = vec![0u8; 200];
    let n = tx.seal(&inner(100, false), 4, &mut pkt).unwrap();
    let copy = pkt[..n].to_vec();
    assert!(rx.open_in_place(&mut pkt[..n]).is_ok());
    let mut again = copy.clone();
    assert_eq!(
        rx.open_in_place(&mut again).unwrap_err(),
        EspError::Replay {
            spi: SPI,
            reason: Replay::Duplicate { seq: 1 }
        }
    );
    assert_eq!(rx.stats().replay_drops, 1);
}

fn seal_n(tx: &mut OutboundSa<CountingRandom>, count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let mut out = vec![0u8; 200];
            let n = tx.seal(&inner(20 + i % 50, false), 4, &mut out).unwrap();
            out.truncate(n);
            out
        })
        .collect()
}

#[test]
fn window_edges() {
    for window in [64usize, 1024, 4096] {
        let (mut tx, mut rx) = pair(Transform::ChaCha20Poly1305, false, window);
        let pkts = seal_n(&mut tx, window * 2);
        let top = window * 2; // seq of the last packet
        assert!(rx.open_in_place(&mut pkts[top - 1].clone()).is_ok());
        // seq top-window+1 is the oldest inside the window.
        let oldest = top - window + 1;
        assert!(rx.open_in_place(&mut pkts[oldest - 1].clone()).is_ok());
        assert_eq!(
            rx.open_in_place(&mut pkts[oldest - 2].clone()).unwrap_err(),
            EspError::Replay {
                spi: SPI,
                reason: Replay::TooOld {
                    seq: oldest as u64 - 1,
                    top: top as u64
                }
            }
        );
        // Out of order inside the window: all accepted once, in any order.
        for s in (oldest + 1..top).rev() {
            assert!(
                rx.open_in_place(&mut pkts[s - 1].clone()).is_ok(),
                "seq {s}"
            );
        }
        for s in oldest..=top {
            assert!(rx.open_in_place(&mut pkts[s - 1].clone()).is_err());
        }
        assert_eq!(rx.stats().packets, window as u64);
    }
}

#[test]
fn esn_rollover_is_inferred() {
    for t in [
        Transform::AesGcm16_256,
        Transform::AesCbc128(esp::Integrity::HmacSha256_128),
    ] {
        let (mut tx, mut rx) = pair(t, true, 128);
        let start = (1u64 << 32) - 40;
        tx.advance_seq(start).unwrap();
        rx.replay_window_mut().update(start).unwrap();
        let pkts = seal_n(&mut tx, 100);
        // Deliver in a shuffled order that crosses the boundary both ways.
        let mut order: Vec<usize> = (0..100).collect();
        for i in 0..order.len() {
            let j = (i * 37 + 11) % order.len();
            order.swap(i, j);
        }
        // Keep disorder within the window.
        order.sort_by_key(|&i| i / 32);
        for i in order {
            let mut p = pkts[i].clone();
            let o = rx.open_in_place(&mut p).unwrap();
            assert_eq!(o.seq, start + 1 + i as u64);
        }
        assert_eq!(rx.replay_window().top(), start + 100);
        assert!(rx.replay_window().top() > 1 << 32);
        // Wire seq for 2^32 is 0: replaying it is refused as a duplicate.
        let zero = (1u64 << 32) - start - 1;
        assert_eq!(&pkts[zero as usize][4..8], &[0, 0, 0, 0]);
        assert!(matches!(
            rx.open_in_place(&mut pkts[zero as usize].clone()),
            Err(EspError::Replay { .. })
        ));
    }
}

#[test]
fn without_esn_the_sender_stops_before_wrapping() {
    let (mut tx, mut rx) = pair(Transform::AesGcm16_128, false, DEFAULT_WINDOW);
    tx.advance_seq(u64::from(u32::MAX) - 2).unwrap();
    rx.replay_window_mut()
        .update(u64::from(u32::MAX) - 2)
        .unwrap();
    assert_eq!(tx.lifetime_state(), Lifetime::Soft);
    let pkts = seal_n(&mut tx, 2);
    for mut p in pkts {
        assert!(rx.open_in_place(&mut p).is_ok());
    }
    assert_eq!(tx.seq(), u64::from(u32::MAX));
    assert_eq!(tx.lifetime_state(), Lifetime::Hard);
    let mut out = [0u8; 100];
    assert_eq!(
        tx.seal(&[0x45; 20], 4, &mut out),
        Err(EspError::SequenceExhausted {
            spi: SPI,
            esn: false
        })
    );
    assert_eq!(
        tx.advance_seq(5),
        Err(EspError::SequenceBackwards {
            current: u64::from(u32::MAX),
            requested: 5
        })
    );
}

#[test]
fn lifetimes_soft_and_hard() {
    let (mut tx, mut rx) = pair(Transform::AesGcm16_128, false, DEFAULT_WINDOW);
    let limits = LifetimeLimits {
        packets: Some(Limit::new(10)),
        bytes: None,
    };
    tx.set_lifetime(limits);
    rx.set_lifetime(limits);
    let mut out = [0u8; 100];
    for i in 1..=10u64 {
        let n = tx.seal(&[0x45; 20], 4, &mut out).unwrap();
        assert!(rx.open_in_place(&mut out[..n]).is_ok());
        let want = match i {
            0..=8 => Lifetime::Ok,
            9 => Lifetime::Soft,
            _ => Lifetime::Hard,
        };
        assert_eq!(tx.lifetime_state(), want, "packet {i}");
        assert_eq!(rx.lifetime_state(), want, "packet {i}");
    }
    assert_eq!(
        tx.seal(&[0x45; 20], 4, &mut out),
        Err(EspError::Expired { spi: SPI })
    );
    // The receiver refuses once expired, even a packet it never saw.
    let (mut tx2, _) = pair(Transform::AesGcm16_128, false, DEFAULT_WINDOW);
    tx2.advance_seq(100).unwrap();
    let n = tx2.seal(&[0x45; 20], 4, &mut out).unwrap();
    assert_eq!(
        rx.open_in_place(&mut out[..n]).unwrap_err(),
        EspError::Expired { spi: SPI }
    );
    assert_eq!(rx.stats().expired_drops, 1);

    // Bytes: soft at 90%.
    let (mut tx, _) = pair(Transform::ChaCha20Poly1305, false, DEFAULT_WINDOW);
    tx.set_lifetime(LifetimeLimits {
        bytes: Some(Limit::new(1000)),
        packets: None,
    });
    for _ in 0..8 {
        tx.seal(&[0x45; 100], 4, &mut [0u8; 200]).unwrap();
    }
    assert_eq!(tx.lifetime_state(), Lifetime::Ok);
    tx.seal(&[0x45; 100], 4, &mut [0u8; 200]).unwrap();
    assert_eq!(tx.lifetime_state(), Lifetime::Soft);
    tx.seal(&[0x45; 100], 4, &mut [0u8; 200]).unwrap();
    assert_eq!(tx.lifetime_state(), Lifetime::Hard);
}

#[test]
fn tfc_dummy_packets_are_dropped_and_counted() {
    for t in Transform::ALL {
        let (mut tx, mut rx) = pair(t, true, DEFAULT_WINDOW);
        let mut out = [0u8; 200];
        let n = tx.seal(&[0xAB; 33], NEXT_HEADER_NONE, &mut out).unwrap();
        let copy = out[..n].to_vec();
        let e = rx.open_in_place(&mut out[..n]).unwrap_err();
        assert_eq!(e, EspError::Dummy { spi: SPI, seq: 1 });
        assert!(e.is_dummy());
        assert_eq!(rx.stats().tfc_dropped, 1);
        assert_eq!(rx.stats().packets, 0);
        // It was authentic: its sequence number is used up.
        assert!(matches!(
            rx.open_in_place(&mut copy.clone()),
            Err(EspError::Replay { .. })
        ));
    }
}

/// Builds an authentic AES-GCM ESP packet with an arbitrary plaintext
/// (payload and trailer as given), bypassing the sender's framing.
fn craft_gcm(key: &[u8], spi: u32, seq: u32, plaintext: &[u8]) -> Vec<u8> {
    use ring::aead;
    let k = aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_128_GCM, &key[..16]).unwrap());
    let iv = u64::from(seq).to_be_bytes();
    let mut nonce = [0u8; 12];
    nonce[..4].copy_from_slice(&key[16..20]);
    nonce[4..].copy_from_slice(&iv);
    let mut pkt = Vec::new();
    pkt.extend_from_slice(&spi.to_be_bytes());
    pkt.extend_from_slice(&seq.to_be_bytes());
    pkt.extend_from_slice(&iv);
    let mut ct = plaintext.to_vec();
    let tag = k
        .seal_in_place_separate_tag(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(&pkt[..8]),
            &mut ct,
        )
        .unwrap();
    pkt.extend_from_slice(&ct);
    pkt.extend_from_slice(tag.as_ref());
    pkt
}

#[test]
fn wrong_padding_and_next_header_are_errors() {
    let t = Transform::AesGcm16_128;
    let (ek, _) = keys(t, 0x42);
    let mut rx = InboundSa::new(SPI, t, SaKeys::aead(&ek), false, DEFAULT_WINDOW).unwrap();
    let cases: &[(&[u8], Option<EspError>)] = &[
        // Correct: two pad bytes 1, 2.
        (&[0x45, 9, 9, 9, 1, 2, 2, 4], None),
        // Pad bytes not monotonic.
        (
            &[0x45, 9, 9, 9, 2, 1, 2, 4],
            Some(EspError::BadPadding { spi: SPI, seq: 2 }),
        ),
        (
            &[0x45, 9, 9, 9, 0, 0, 2, 4],
            Some(EspError::BadPadding { spi: SPI, seq: 3 }),
        ),
        // Pad length longer than the plaintext.
        (
            &[1, 2, 3, 4, 5, 6, 7, 4],
            Some(EspError::BadPadding { spi: SPI, seq: 4 }),
        ),
        // Pad length takes everything before it: empty inner, fine.
        (&[1, 2, 3, 4, 5, 6, 6, 41], None),
        // Only the trailer, no padding at all (unaligned, accepted).
        (&[0, 4], None),
        // Next header UDP in tunnel mode.
        (
            &[0x45, 0, 0, 17],
            Some(EspError::NextHeader {
                spi: SPI,
                seq: 7,
                value: 17,
            }),
        ),
        // Dummy.
        (
            &[0x45, 0, 0, 59],
            Some(EspError::Dummy { spi: SPI, seq: 8 }),
        ),
    ];
    for (i, (plain, want)) in cases.iter().enumerate() {
        let seq = i as u32 + 1;
        let mut pkt = craft_gcm(&ek, SPI, seq, plain);
        let r = rx.open_in_place(&mut pkt).map(|o| o.next_header);
        match want {
            None => assert_eq!(r, Ok(plain[plain.len() - 1]), "case {i}"),
            Some(e) => assert_eq!(r, Err(*e), "case {i}"),
        }
    }
    let s = rx.stats();
    assert_eq!((s.packets, s.decrypt_errors, s.tfc_dropped), (3, 4, 1));
    // Authentic packets with bad padding still used up their number.
    let mut pkt = craft_gcm(&ek, SPI, 2, &[0x45, 9, 9, 9, 1, 2, 2, 4]);
    assert!(matches!(
        rx.open_in_place(&mut pkt),
        Err(EspError::Replay { .. })
    ));
    // Any next header when asked for.
    rx.set_accept_any_next_header(true);
    let mut pkt = craft_gcm(&ek, SPI, 100, &[0x45, 0, 0, 17]);
    assert_eq!(rx.open_in_place(&mut pkt).unwrap().next_header, 17);
}

#[test]
fn cbc_ciphertext_must_be_whole_blocks() {
    let t = Transform::AesCbc256(esp::Integrity::HmacSha512_256);
    let (mut tx, mut rx) = pair(t, false, DEFAULT_WINDOW);
    let mut out = [0u8; 200];
    let n = tx.seal(&[0x45; 30], 4, &mut out).unwrap();
    // Cut one byte from the ciphertext (keep the ICV length).
    let mut pkt = out[..n].to_vec();
    pkt.remove(40);
    assert_eq!(
        rx.open_in_place(&mut pkt).unwrap_err(),
        EspError::Misaligned { len: 31, block: 16 }
    );
    assert_eq!(rx.stats().malformed, 1);
}

#[test]
fn cbc_ivs_come_from_the_random_source() {
    let t = Transform::AesCbc128(esp::Integrity::HmacSha1_96);
    let (e, i) = keys(t, 1);
    let mut tx = OutboundSa::new(SPI, t, SaKeys::cbc(&e, &i), false, BrokenRandom).unwrap();
    let mut out = [0u8; 200];
    assert_eq!(tx.seal(&[0x45; 30], 4, &mut out), Err(EspError::Random));
    assert_eq!(tx.stats().errors, 1);
    // AEAD never asks for randomness.
    let t = Transform::AesGcm16_256;
    let (e, _) = keys(t, 1);
    let mut tx = OutboundSa::new(SPI, t, SaKeys::aead(&e), false, BrokenRandom).unwrap();
    assert!(tx.seal(&[0x45; 30], 4, &mut out).is_ok());
    // Distinct IVs from a real source.
    let t = Transform::AesCbc256(esp::Integrity::HmacSha256_128);
    let (e, i) = keys(t, 1);
    let mut tx = OutboundSa::new(SPI, t, SaKeys::cbc(&e, &i), false, esp::OsRandom::new()).unwrap();
    let mut a = [0u8; 200];
    let mut b = [0u8; 200];
    tx.seal(&[0x45; 30], 4, &mut a).unwrap();
    tx.seal(&[0x45; 30], 4, &mut b).unwrap();
    assert_ne!(a[8..24], b[8..24]);
}

#[test]
fn aead_iv_is_the_sequence_number() {
    let (mut tx, _) = pair(Transform::ChaCha20Poly1305, true, DEFAULT_WINDOW);
    tx.advance_seq(0x1234_5678_9abc_def0).unwrap();
    let mut out = [0u8; 100];
    tx.seal(&[0x45; 20], 4, &mut out).unwrap();
    assert_eq!(&out[4..8], &0x9abc_def1u32.to_be_bytes());
    assert_eq!(&out[8..16], &0x1234_5678_9abc_def1u64.to_be_bytes());
}

#[test]
fn construction_is_checked() {
    let t = Transform::AesGcm16_256;
    let k = [0u8; 36];
    assert_eq!(
        InboundSa::new(SPI, t, SaKeys::aead(&k[..32]), false, 1024).unwrap_err(),
        EspError::InvalidKeyLength {
            transform: t,
            key: KeyKind::Encryption,
            expected: 36,
            got: 32
        }
    );
    assert_eq!(
        InboundSa::new(SPI, t, SaKeys::cbc(&k, &k), false, 1024).unwrap_err(),
        EspError::InvalidKeyLength {
            transform: t,
            key: KeyKind::Integrity,
            expected: 0,
            got: 36
        }
    );
    let cbc = Transform::AesCbc128(esp::Integrity::HmacSha384_192);
    assert!(InboundSa::new(SPI, cbc, SaKeys::cbc(&k[..16], &k[..32]), false, 1024).is_err());
    assert!(InboundSa::new(SPI, cbc, SaKeys::cbc(&k[..16], &[0; 48]), false, 1024).is_ok());
    assert_eq!(
        InboundSa::new(255, t, SaKeys::aead(&k), false, 1024).unwrap_err(),
        EspError::InvalidSpi { spi: 255 }
    );
    assert!(OutboundSa::new(0, t, SaKeys::aead(&k), false, CountingRandom(0)).is_err());
    assert_eq!(
        InboundSa::new(SPI, t, SaKeys::aead(&k), false, 1000).unwrap_err(),
        EspError::InvalidWindowSize { size: 1000 }
    );
    // Errors explain themselves.
    let msg = InboundSa::new(SPI, t, SaKeys::aead(&k[..32]), false, 1024)
        .unwrap_err()
        .to_string();
    assert_eq!(
        msg,
        "AES_GCM_16_256: encryption key must be 36 bytes, got 32"
    );
    // Debug output never shows keys.
    let sa = InboundSa::new(SPI, t, SaKeys::aead(&[0x5a; 36]), false, 1024).unwrap();
    assert!(format!("{sa:?}").contains("redacted"));
    assert!(!format!("{:?}", SaKeys::aead(&[0x5a; 36])).contains("90"));
}

#[test]
fn keymat_split_and_iana_ids() {
    let t = Transform::AesCbc256(esp::Integrity::HmacSha256_128);
    let keymat: Vec<u8> = (0..=255).collect();
    let (i2r, r2i) = SaKeys::split_keymat(t, &keymat[..128]).unwrap();
    assert_eq!(i2r.encryption, &keymat[0..32]);
    assert_eq!(i2r.integrity, &keymat[32..64]);
    assert_eq!(r2i.encryption, &keymat[64..96]);
    assert_eq!(r2i.integrity, &keymat[96..128]);
    assert_eq!(
        SaKeys::split_keymat(t, &keymat[..127]).unwrap_err(),
        EspError::KeymatTooShort {
            needed: 128,
            got: 127
        }
    );
    let (a, b) = SaKeys::split_keymat(Transform::ChaCha20Poly1305, &keymat[..72]).unwrap();
    assert_eq!((a.encryption.len(), a.integrity.len()), (36, 0));
    assert_eq!(b.encryption, &keymat[36..72]);

    assert_eq!(
        Transform::from_iana(20, Some(256), None),
        Some(Transform::AesGcm16_256)
    );
    assert_eq!(
        Transform::from_iana(20, Some(128), Some(0)),
        Some(Transform::AesGcm16_128)
    );
    assert_eq!(
        Transform::from_iana(28, None, None),
        Some(Transform::ChaCha20Poly1305)
    );
    assert_eq!(
        Transform::from_iana(12, Some(128), Some(2)),
        Some(Transform::AesCbc128(esp::Integrity::HmacSha1_96))
    );
    assert_eq!(Transform::from_iana(12, Some(192), Some(12)), None);
    assert_eq!(Transform::from_iana(12, Some(256), None), None);
    assert_eq!(Transform::from_iana(3, None, Some(2)), None);
    for t in Transform::ALL {
        let id = t.integrity().map(|i| i.iana_id());
        let (encr, bits) = match t {
            Transform::AesGcm16_128 => (20, Some(128)),
            Transform::AesGcm16_256 => (20, Some(256)),
            Transform::ChaCha20Poly1305 => (28, None),
            Transform::AesCbc128(_) => (12, Some(128)),
            Transform::AesCbc256(_) => (12, Some(256)),
        };
        assert_eq!(Transform::from_iana(encr, bits, id), Some(t));
    }
}
