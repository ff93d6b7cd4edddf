//! IKE messages: parsing arbitrary octets never panics; what parses emits,
//! and re-parses to the same payloads and the same octets. SK contents
//! (here still ciphertext, but any octets will do) and the input itself are
//! also parsed as decrypted payload chains, with the same round trip.
#![no_main]

use ike::wire::{emit_payloads, parse_decrypted, parse_encrypted, Message, PayloadType};
use libfuzzer_sys::fuzz_target;

fn chain_round_trip(first: PayloadType, bytes: &[u8]) {
    if let Ok(p) = parse_decrypted(first, bytes) {
        let (f, out) = emit_payloads(&p).expect("a parsed chain emits");
        assert_eq!(parse_decrypted(f, &out).as_ref(), Ok(&p));
        assert_eq!(emit_payloads(&p).ok(), Some((f, out)));
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::parse(data) {
        let out = m.emit().expect("a parsed message emits");
        let again = Message::parse(&out).expect("an emitted message parses");
        assert_eq!(again.payloads, m.payloads);
        assert_eq!(again.emit().ok(), Some(out));
        if let Some(sk) = m.sk() {
            chain_round_trip(sk.inner_first, &sk.body);
        }
    }
    if let Ok(Some(v)) = parse_encrypted(data) {
        assert_eq!(v.aad.len() + v.body.len(), data.len());
        chain_round_trip(v.inner_first, v.body);
    }
    if let Some((&first, rest)) = data.split_first() {
        chain_round_trip(PayloadType(first), rest);
    }
});
