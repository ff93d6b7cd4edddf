//! BFD Control packets: arbitrary octets never panic the parser. What
//! parses emits, and parses again to the same packet and the same octets.
#![no_main]

use bfd::ControlPacket;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = ControlPacket::parse(data) {
        let out = p.to_vec();
        assert_eq!(out.len(), p.wire_len());
        let again = ControlPacket::parse(&out).expect("an emitted packet parses");
        assert_eq!(again, p);
        assert_eq!(again.to_vec(), out);
    }
});
