//! The reassembler's rules and bounds, and the fragment sizes.

use super::*;
use crate::crypto::alg::{EncrAlg, IntegAlg};
use crate::crypto::CryptoError;

fn f(number: u16, total: u16) -> Fragment {
    Fragment { number, total }
}

#[test]
fn in_order_out_of_order_and_duplicates() {
    let now = Instant::now();
    let mut r = Reassembler::default();
    let first = PayloadType::IDI;
    assert_eq!(
        r.add(7, f(3, 3), PayloadType::NONE, vec![5, 6], now),
        Added::Stored
    );
    assert_eq!(r.add(7, f(1, 3), first, vec![1, 2], now), Added::Stored);
    assert_eq!(
        r.add(7, f(3, 3), PayloadType::NONE, vec![9, 9], now),
        Added::Duplicate
    );
    assert_eq!(r.buffered(), 4);
    assert_eq!(r.fragments(), 2);
    assert_eq!(
        r.add(7, f(2, 3), PayloadType::NONE, vec![3, 4], now),
        Added::Complete {
            first,
            plain: vec![1, 2, 3, 4, 5, 6]
        }
    );
    assert_eq!(r.buffered(), 0);
    assert_eq!(r.deadline(), None);
}

#[test]
fn bigger_total_starts_over_smaller_is_ignored() {
    let now = Instant::now();
    let mut r = Reassembler::default();
    assert_eq!(
        r.add(1, f(1, 2), PayloadType::IDI, vec![1], now),
        Added::Stored
    );
    // RFC 7383 2.6: a greater Total Fragments discards what was held.
    assert_eq!(
        r.add(1, f(2, 4), PayloadType::NONE, vec![2], now),
        Added::Stored
    );
    assert_eq!(r.fragments(), 1);
    assert_eq!(
        r.add(1, f(2, 2), PayloadType::NONE, vec![3], now),
        Added::Stale
    );
    assert_eq!(r.fragments(), 1);
    // A new Message ID replaces the incomplete message.
    assert_eq!(
        r.add(2, f(1, 2), PayloadType::IDI, vec![4], now),
        Added::Stored
    );
    assert_eq!(r.fragments(), 1);
    assert_eq!(
        r.add(2, f(2, 2), PayloadType::NONE, vec![5], now),
        Added::Complete {
            first: PayloadType::IDI,
            plain: vec![4, 5]
        }
    );
}

#[test]
fn invalid_numbers_and_totals_are_refused() {
    let now = Instant::now();
    let mut r = Reassembler::default();
    for (n, t) in [(0, 3), (4, 3), (0, 0), (1, 0), (1, MAX_FRAGMENTS + 1)] {
        assert!(
            matches!(
                r.add(1, f(n, t), PayloadType::NONE, vec![1], now),
                Added::Invalid(_)
            ),
            "{n}/{t}"
        );
    }
    assert_eq!(r.buffered(), 0);
}

#[test]
fn oversized_message_is_dropped_whole() {
    let now = Instant::now();
    let mut r = Reassembler::default();
    let big = vec![0u8; MAX_REASSEMBLY / 2 + 1];
    assert_eq!(
        r.add(1, f(1, 3), PayloadType::IDI, big.clone(), now),
        Added::Stored
    );
    assert_eq!(
        r.add(1, f(2, 3), PayloadType::NONE, big, now),
        Added::TooBig
    );
    assert_eq!(r.buffered(), 0);
}

#[test]
fn incomplete_message_times_out() {
    let now = Instant::now();
    let mut r = Reassembler::default();
    r.add(1, f(1, 2), PayloadType::IDI, vec![1; 100], now);
    assert_eq!(r.deadline(), Some(now + REASSEMBLY_TIMEOUT));
    assert!(!r.expire(now + REASSEMBLY_TIMEOUT - Duration::from_millis(1)));
    assert_eq!(r.buffered(), 100);
    assert!(r.expire(now + REASSEMBLY_TIMEOUT));
    assert_eq!(r.buffered(), 0);
    // And a late fragment after the timeout starts a new reassembly.
    r.add(1, f(1, 2), PayloadType::IDI, vec![1], now);
    assert_eq!(
        r.add(
            1,
            f(2, 2),
            PayloadType::NONE,
            vec![2],
            now + REASSEMBLY_TIMEOUT
        ),
        Added::Stored
    );
    assert_eq!(r.fragments(), 1);
}

#[test]
fn any_fragment_after_the_timeout_frees_the_stale_message() {
    // Found by fuzz/ike_fragments: an invalid fragment used to return
    // before the expired message was dropped.
    let now = Instant::now();
    let mut r = Reassembler::default();
    r.add(1, f(1, 2), PayloadType::IDI, vec![1; 10], now);
    let later = now + REASSEMBLY_TIMEOUT;
    assert!(matches!(
        r.add(1, f(0, 2), PayloadType::NONE, vec![2], later),
        Added::Invalid(_)
    ));
    assert_eq!(r.buffered(), 0);
    assert_eq!(r.deadline(), None);
}

/// xorshift, for repeatable floods.
struct Xs(u64);
impl Xs {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// 10,000 authenticated but bogus fragments (random Message IDs, numbers,
/// totals and sizes) into one SA's reassembler: the octets held never
/// exceed the bound, and nothing panics.
#[test]
fn flood_of_fragments_stays_bounded() {
    let mut now = Instant::now();
    let mut r = Reassembler::default();
    let mut x = Xs(0x9e37_79b9_7f4a_7c15);
    let mut peak = 0;
    let mut complete = 0;
    for i in 0..10_000u32 {
        // Mostly one big message that grows to the cap, among random
        // IDs and totals (also 0 and > MAX_FRAGMENTS) and numbers.
        let (id, total) = if !x.next().is_multiple_of(4) {
            (0, MAX_FRAGMENTS)
        } else {
            (x.next() as u32, (x.next() % 80) as u16)
        };
        let number = (x.next() % (u64::from(total) + 2)) as u16;
        let len = (x.next() % 4000) as usize;
        if let Added::Complete { plain, .. } = r.add(
            id,
            f(number, total),
            PayloadType::NONE,
            vec![0xa5; len],
            now,
        ) {
            assert!(plain.len() <= MAX_REASSEMBLY);
            complete += 1;
        }
        peak = peak.max(r.buffered());
        assert!(r.buffered() <= MAX_REASSEMBLY);
        assert!(r.fragments() <= usize::from(MAX_FRAGMENTS));
        if i % 1000 == 999 {
            now += Duration::from_secs(7);
        }
    }
    assert!(peak > MAX_REASSEMBLY / 2, "the flood did fill it: {peak}");
    assert!(complete > 0);
}

struct Fixed;
impl Random for Fixed {
    fn fill(&mut self, out: &mut [u8]) -> Result<(), CryptoError> {
        out.fill(7);
        Ok(())
    }
}

#[test]
fn fragments_fit_the_limit_and_reassemble() {
    use crate::wire::{ExchangeType, Flags};
    let suites = [
        SkCipher::new(EncrAlg::AesGcm16 { key_bits: 256 }, None, &[1; 36], &[]).unwrap(),
        SkCipher::new(
            EncrAlg::AesCbc { key_bits: 128 },
            Some(IntegAlg::HmacSha512_256),
            &[1; 16],
            &[2; 64],
        )
        .unwrap(),
    ];
    let header = wire::Header::new(1, 2, ExchangeType::IKE_AUTH, Flags::INITIATOR, 1);
    let plain: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
    for c in &suites {
        for mtu in [MIN_MTU, 300, 576, DEFAULT_MTU] {
            for natt in [false, true] {
                let limit = message_limit(mtu, false, natt);
                let train =
                    seal_fragments(&header, PayloadType::CERT, &plain, c, limit, &mut Fixed)
                        .unwrap();
                let parts = split_train(train);
                assert!(parts.len() > 1);
                let mut r = Reassembler::default();
                let now = Instant::now();
                let mut out = None;
                for (i, d) in parts.iter().enumerate() {
                    assert!(d.len() <= limit, "{} > {limit}", d.len());
                    let v = wire::parse_encrypted(d).unwrap().unwrap();
                    let fr = v.fragment.unwrap();
                    assert_eq!(usize::from(fr.number), i + 1);
                    assert_eq!(usize::from(fr.total), parts.len());
                    let expect = if i == 0 {
                        PayloadType::CERT
                    } else {
                        PayloadType::NONE
                    };
                    assert_eq!(v.inner_first, expect);
                    let p = c.open(v.aad, v.body).unwrap();
                    if let Added::Complete { first, plain } = r.add(1, fr, v.inner_first, p, now) {
                        out = Some((first, plain));
                    }
                }
                // Full use of the room: fragments are not needlessly small.
                assert!(parts[0].len() + 16 > limit, "{} vs {limit}", parts[0].len());
                assert_eq!(out, Some((PayloadType::CERT, plain.clone())));
            }
        }
    }
}

#[test]
fn limits_follow_rfc7383_2_5_1() {
    assert_eq!(message_limit(1280, false, false), 1252);
    assert_eq!(message_limit(1280, false, true), 1248);
    assert_eq!(message_limit(1280, true, false), 1232);
    assert_eq!(message_limit(1280, true, true), 1228);
    assert_eq!(message_limit(20, false, true), 0);
}

#[test]
fn retransmit_answer_only_on_fragment_one_or_a_whole_message() {
    let h = wire::Header::new(
        1,
        2,
        crate::wire::ExchangeType::IKE_AUTH,
        crate::wire::Flags::INITIATOR,
        1,
    );
    let one = wire::emit_fragment(&h, f(1, 2), PayloadType::IDI, &[0; 40]).unwrap();
    let two = wire::emit_fragment(&h, f(2, 2), PayloadType::NONE, &[0; 40]).unwrap();
    let whole = wire::emit_encrypted(&h, PayloadType::IDI, &[0; 40]).unwrap();
    assert!(answers_retransmit(&one));
    assert!(!answers_retransmit(&two));
    assert!(answers_retransmit(&whole));
    assert!(is_fragment(&two) && !is_fragment(&whole));
    assert_eq!(split_train(whole.clone()), vec![whole.clone()]);
    let mut train = one.clone();
    train.extend_from_slice(&two);
    assert_eq!(split_train(train), vec![one, two]);
}
