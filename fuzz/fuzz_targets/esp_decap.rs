//! ESP decapsulation: arbitrary packets into `InboundSa::open_in_place` of
//! an SA with fixed keys never panic and never authenticate; valid packets
//! (any transform, ESN on or off, sequence numbers anywhere, including
//! across 2^32) open to exactly what was sealed, and any mutation or
//! truncation of them is refused. The UDP helpers and `SaDb` see the same
//! bytes.
#![no_main]

use esp::{udp, InboundSa, OutboundSa, RandomError, RandomSource, SaDb, SaKeys, Transform};
use libfuzzer_sys::fuzz_target;

const SPI: u32 = 0x1234_5678;
const KEY: [u8; 128] = {
    let mut k = [0u8; 128];
    let mut i = 0;
    while i < 128 {
        k[i] = (i as u8).wrapping_mul(37).wrapping_add(11);
        i += 1;
    }
    k
};

struct Counter(u8);

impl RandomSource for Counter {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RandomError> {
        for b in dest {
            self.0 = self.0.wrapping_add(1);
            *b = self.0;
        }
        Ok(())
    }
}

/// Keys of the SA under test. Raw inputs and sealed packets use keys from
/// different parts of `KEY`: otherwise the fuzzer learns authentic packets
/// from the sealing path (its comparisons) and replays them as "random".
fn keys(t: Transform, raw: bool) -> SaKeys<'static> {
    let base = if raw { 0 } else { 4 };
    SaKeys::cbc(
        &KEY[base..base + t.encryption_key_len()],
        &KEY[base + 36..base + 36 + t.integrity_key_len()],
    )
}

fn take<const N: usize>(data: &mut &[u8]) -> Option<[u8; N]> {
    let (head, rest) = data.split_first_chunk::<N>()?;
    *data = rest;
    Some(*head)
}

fuzz_target!(|data: &[u8]| {
    let mut data = data;
    let Some([sel]) = take::<1>(&mut data) else {
        return;
    };
    let t = Transform::ALL[usize::from(sel & 0x0F) % Transform::ALL.len()];
    let esn = sel & 0x10 != 0;
    let window = 64 << (usize::from(sel >> 5) % 5);
    let raw = sel & 0x80 == 0;
    let mut rx = InboundSa::new(SPI, t, keys(t, raw), esn, window).expect("valid SA");

    if raw {
        // Raw bytes, half the time behind our SPI so the replay and ICV
        // paths run.
        let mut pkt = data.to_vec();
        if sel & 0x40 != 0 {
            if let Some(spi) = pkt.get_mut(..4) {
                spi.copy_from_slice(&SPI.to_be_bytes());
            }
        }
        assert!(
            rx.open_in_place(&mut pkt).is_err(),
            "random bytes authenticated"
        );
        let mut db: SaDb = SaDb::new();
        db.insert(rx, ()).expect("empty db");
        let mut pkt = data.to_vec();
        assert!(db.open_in_place(&mut pkt).is_err());
        let mut pkt = data.to_vec();
        if let Ok(Some((udp::Kind::Esp, esp_pkt))) = udp::unwrap_payload_mut(&mut pkt) {
            assert!(db.open_in_place(esp_pkt).is_err());
        }
        let _ = udp::unwrap(data);
        return;
    }

    // Valid, then mutated: [start seq (8)] [cut (2)] [mutation count (1)]
    // [(pos (2), xor (1)) * count] [next header (1)] [inner...]
    let Some(start) = take::<8>(&mut data) else {
        return;
    };
    let Some(cut) = take::<2>(&mut data) else {
        return;
    };
    let Some([count]) = take::<1>(&mut data) else {
        return;
    };
    let mut muts = Vec::new();
    for _ in 0..count % 4 {
        let Some([p0, p1, x]) = take::<3>(&mut data) else {
            return;
        };
        muts.push((usize::from(u16::from_be_bytes([p0, p1])), x));
    }
    let Some([nh_sel]) = take::<1>(&mut data) else {
        return;
    };
    let nh = if nh_sel & 1 == 0 { 4 } else { 41 };
    let inner = data;

    let mut start = u64::from_be_bytes(start);
    if !esn {
        start %= 1 << 32;
    }
    let mut tx = OutboundSa::new(SPI, t, keys(t, false), esn, Counter(sel)).expect("valid SA");
    tx.advance_seq(start).expect("forward");
    // The receiver has seen the packet before this one, if there was one.
    if start > 0 {
        rx.replay_window_mut().update(start).expect("fresh window");
    }
    let mut buf = vec![0u8; inner.len() + tx.overhead(inner.len())];
    let n = match tx.seal(inner, nh, &mut buf) {
        Ok(n) => n,
        Err(esp::EspError::SequenceExhausted { .. }) => return,
        Err(e) => panic!("seal failed: {e}"),
    };
    assert_eq!(n, buf.len());
    let original = buf.clone();
    for (pos, x) in muts {
        if let Some(b) = buf.get_mut(pos % n) {
            *b ^= x;
        }
    }
    let cut = usize::from(u16::from_be_bytes(cut));
    if cut < n && cut & 0x8000 == 0 {
        buf.truncate(cut);
    }
    let changed = buf != original;
    match rx.open_in_place(&mut buf) {
        Ok(o) => {
            assert!(!changed, "mutated packet accepted");
            assert_eq!(o.inner, inner);
            assert_eq!(o.next_header, nh);
            assert_eq!(o.seq, start + 1);
        }
        Err(e) => assert!(changed, "valid packet refused: {e}"),
    }
    // A refused forgery did not move the window: the original opens now
    // (if it was not the packet just accepted), and never again.
    let mut again = original.clone();
    assert_eq!(
        rx.open_in_place(&mut again).is_ok(),
        changed,
        "window moved"
    );
    let mut again = original;
    assert!(rx.open_in_place(&mut again).is_err(), "replay accepted");
});
