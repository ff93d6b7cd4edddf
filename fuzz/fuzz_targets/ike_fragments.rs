//! IKE fragment reassembly (RFC 7383): arbitrary sequences of fragments
//! (Message ID, Fragment Number, Total Fragments, size, time step) never
//! panic, never hold more than the bounds (MAX_REASSEMBLY octets,
//! MAX_FRAGMENTS fragments, one message), and a completed message is its
//! fragments in order. Then: any plaintext cut into fragments for any
//! fragment MTU reassembles to itself, each fragment within the limit.
#![no_main]

use ike::crypto::alg::EncrAlg;
use ike::crypto::rand::Random;
use ike::crypto::sk::SkCipher;
use ike::crypto::CryptoError;
use ike::sa::frag::{
    message_limit, seal_fragments, split_train, Added, Reassembler, MAX_FRAGMENTS, MAX_REASSEMBLY,
    REASSEMBLY_TIMEOUT,
};
use ike::wire::{self, ExchangeType, Flags, Fragment, PayloadType};
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};

struct Zero;
impl Random for Zero {
    fn fill(&mut self, out: &mut [u8]) -> Result<(), CryptoError> {
        out.fill(0);
        Ok(())
    }
}

/// Fragments from 8-octet records: id, number (2), total (2), size (2),
/// time step.
fn reassemble(data: &[u8]) {
    let mut r = Reassembler::default();
    let start = Instant::now();
    let mut now = start;
    for rec in data.chunks_exact(8) {
        let id = u32::from(rec[0] % 4);
        let number = u16::from_be_bytes([rec[1], rec[2]]) % 80;
        let total = u16::from_be_bytes([rec[3], rec[4]]) % 80;
        let len = usize::from(u16::from_be_bytes([rec[5], rec[6]]));
        now += Duration::from_millis(u64::from(rec[7]) * 250);
        // Each fragment's octets name its number, so order is checkable.
        let plain = vec![number as u8; len];
        let f = Fragment { number, total };
        match r.add(id, f, PayloadType::IDI, plain, now) {
            Added::Complete { plain, first } => {
                assert!(plain.len() <= MAX_REASSEMBLY);
                assert_eq!(first, PayloadType::IDI);
                assert!(plain.windows(2).all(|w| w[0] <= w[1]), "fragments in order");
            }
            Added::Invalid(_) => {
                assert!(number == 0 || number > total || total > MAX_FRAGMENTS)
            }
            _ => {}
        }
        assert!(r.buffered() <= MAX_REASSEMBLY);
        assert!(r.fragments() <= usize::from(MAX_FRAGMENTS));
        if let Some(d) = r.deadline() {
            assert!(d > now && d <= now + REASSEMBLY_TIMEOUT);
        }
    }
}

/// Cut `plain` for an MTU from the first two octets and put it together.
fn round_trip(data: &[u8]) {
    let Some((m, plain)) = data.split_first_chunk::<2>() else {
        return;
    };
    let mtu = 256 + u16::from_be_bytes(*m) % 1245;
    let limit = message_limit(mtu, m[0] & 1 == 1, m[1] & 1 == 1);
    let c = SkCipher::new(EncrAlg::AesGcm16 { key_bits: 128 }, None, &[9; 20], &[]).unwrap();
    let h = wire::Header::new(1, 2, ExchangeType::IKE_AUTH, Flags::INITIATOR, 1);
    let train = seal_fragments(&h, PayloadType::SA, plain, &c, limit, &mut Zero).unwrap();
    let mut r = Reassembler::default();
    let now = Instant::now();
    let mut done = None;
    let parts = split_train(train);
    let n = parts.len();
    assert!(n >= 1);
    for d in parts {
        assert!(d.len() <= limit);
        let v = wire::parse_encrypted(&d).unwrap().unwrap();
        let p = c.open(v.aad, v.body).unwrap();
        if let Added::Complete { plain, first } =
            r.add(1, v.fragment.unwrap(), v.inner_first, p, now)
        {
            done = Some((first, plain));
        }
    }
    if n <= usize::from(MAX_FRAGMENTS) {
        let (first, out) = done.expect("complete");
        assert_eq!(first, PayloadType::SA);
        assert_eq!(out, plain);
    }
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((0, rest)) => round_trip(rest),
        Some((_, rest)) => reassemble(rest),
        None => {}
    }
});
