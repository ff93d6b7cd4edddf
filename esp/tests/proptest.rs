//! Property tests: no input makes the data plane panic; only the
//! untouched packet opens.

mod common;

use common::{inner, pair};
use esp::{udp, InboundSa, SaDb, Transform, DEFAULT_WINDOW};
use proptest::prelude::*;

fn transform() -> impl Strategy<Value = Transform> {
    (0..Transform::ALL.len()).prop_map(|i| Transform::ALL[i])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(t in transform(), esn: bool,
                                   mut bytes in proptest::collection::vec(any::<u8>(), 0..300),
                                   spi_ok: bool) {
        let (_, mut rx) = pair(t, esn, 64);
        if spi_ok && bytes.len() >= 4 {
            bytes[..4].copy_from_slice(&common::SPI.to_be_bytes());
        }
        prop_assert!(rx.open_in_place(&mut bytes).is_err());
        let s = rx.stats();
        prop_assert_eq!(s.malformed + s.replay_drops + s.auth_failures, 1);
    }

    #[test]
    fn mutated_packets_are_refused(t in transform(), esn: bool, len in 0usize..200,
                                   muts in proptest::collection::vec((any::<usize>(), 1u8..=255), 1..4),
                                   cut in proptest::option::of(any::<usize>())) {
        let (mut tx, mut rx) = pair(t, esn, DEFAULT_WINDOW);
        let mut out = vec![0u8; 400];
        let n = tx.seal(&inner(len, false), 4, &mut out).unwrap();
        let mut pkt = out[..n].to_vec();
        let mut changed = false;
        for (i, x) in &muts {
            let i = i % n;
            pkt[i] ^= x;
        }
        changed |= pkt != out[..n];
        if let Some(c) = cut {
            let c = c % (n + 1);
            changed |= c < n;
            pkt.truncate(c);
        }
        let r = rx.open_in_place(&mut pkt).map(|o| o.inner.to_vec());
        if changed {
            prop_assert!(r.is_err());
        } else {
            prop_assert_eq!(r.unwrap(), inner(len, false));
        }
    }

    #[test]
    fn seal_in_place_never_panics(t in transform(), buf_len in 0usize..300,
                                  start in 0usize..320, end in 0usize..320, nh: u8) {
        let (mut tx, mut rx) = pair(t, false, 64);
        let mut buf = vec![0x45u8; buf_len];
        if let Ok(r) = tx.seal_in_place(&mut buf, start..end, nh) {
            let o = rx.open_in_place(&mut buf[r]);
            if nh == 4 || nh == 41 {
                prop_assert_eq!(o.unwrap().inner.len(), end - start);
            } else {
                prop_assert!(o.is_err());
            }
        }
    }

    #[test]
    fn udp_helpers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64),
                               start in 0usize..70, end in 0usize..70) {
        let _ = udp::classify(&bytes);
        let _ = udp::unwrap(&bytes);
        let _ = udp::unwrap_payload(&bytes);
        let mut b = bytes.clone();
        let _ = udp::unwrap_payload_mut(&mut b);
        let _ = udp::wrap_in_place(&mut b, start..end, 1, 2);
        let mut db: SaDb = SaDb::new();
        prop_assert!(db.open_in_place(&mut b).is_err());
        let _ = esp::peek_spi(&bytes);
    }

    #[test]
    fn replay_window_any_sequence(size_words in 1usize..20, seqs in proptest::collection::vec(any::<u64>(), 0..200)) {
        let mut w = esp::ReplayWindow::new(size_words * 64).unwrap();
        for s in seqs {
            let ok = w.check(s).is_ok();
            prop_assert_eq!(w.update(s).is_ok(), ok);
            prop_assert!(w.check(s).is_err());
            let _ = w.infer_esn(s as u32);
        }
    }
}

#[test]
fn inbound_sa_is_send() {
    fn is_send<T: Send>() {}
    is_send::<InboundSa>();
    is_send::<esp::OutboundSa<esp::OsRandom>>();
    is_send::<SaDb<u32>>();
}
