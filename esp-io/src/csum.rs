//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! Sums are carried unfolded in a `u64` so that pieces (a pseudo-header,
//! a header, a payload) can be added up before one final [`fold`]. Every
//! piece except the last must have an even length, as in the packet.

/// Adds the big-endian 16-bit words of `data` (an odd last byte is padded
/// with a zero byte) to `initial`, in ones-complement arithmetic, unfolded.
pub fn sum(data: &[u8], initial: u64) -> u64 {
    // 2^32 = 1 (mod 2^16 - 1): halving keeps the value and makes room.
    let mut acc = (initial >> 32) + (initial & 0xffff_ffff);
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        if let Ok(w) = <[u8; 8]>::try_from(c) {
            // A big-endian u64 is four words times powers of 2^16, and
            // 2^16 = 1 (mod 2^16 - 1); the end-around carry keeps it exact.
            let (s, carry) = acc.overflowing_add(u64::from_be_bytes(w));
            acc = s + u64::from(carry);
        }
    }
    let mut rest = chunks.remainder();
    let mut tail: u64 = 0;
    while let [a, b, more @ ..] = rest {
        tail += u64::from(u16::from_be_bytes([*a, *b]));
        rest = more;
    }
    if let [a] = rest {
        tail += u64::from(*a) << 8;
    }
    let (s, carry) = acc.overflowing_add(tail);
    s + u64::from(carry)
}

/// Folds an unfolded sum to 16 bits (end-around carries); not complemented.
pub fn fold(sum: u64) -> u16 {
    let mut s = (sum >> 32) + (sum & 0xffff_ffff);
    while s > 0xffff {
        s = (s >> 16) + (s & 0xffff);
    }
    s as u16
}

/// The checksum to store: the complement of the folded sum of `data` and
/// `initial`.
pub fn checksum(data: &[u8], initial: u64) -> u16 {
    !fold(sum(data, initial))
}

/// The unfolded sum of a TCP/UDP pseudo-header: source and destination
/// addresses (4 or 16 bytes each), protocol, and upper-layer length.
pub fn pseudo_header(src: &[u8], dst: &[u8], proto: u8, l4_len: u32) -> u64 {
    sum(dst, sum(src, 0)) + u64::from(proto) + u64::from(l4_len >> 16) + u64::from(l4_len & 0xffff)
}

/// RFC 1624 equation 3: the checksum `check` after a 16-bit word of the
/// covered data changes from `old` to `new`.
pub fn update16(check: u16, old: u16, new: u16) -> u16 {
    !fold(u64::from(!check) + u64::from(!old) + u64::from(new))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The slow textbook version.
    fn reference(data: &[u8]) -> u16 {
        let mut s: u32 = 0;
        for c in data.chunks(2) {
            let w = if c.len() == 2 {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from_be_bytes([c[0], 0])
            };
            s += u32::from(w);
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }

    #[test]
    fn matches_the_textbook_sum() {
        let data: Vec<u8> = (0..3000u32).map(|i| (i * 7919 % 251) as u8).collect();
        for len in 0..200 {
            assert_eq!(checksum(&data[..len], 0), reference(&data[..len]), "{len}");
        }
        for len in [1499, 1500, 2999, 3000] {
            assert_eq!(checksum(&data[..len], 0), reference(&data[..len]));
        }
        let ff = vec![0xffu8; 1 << 16];
        assert_eq!(checksum(&ff, 0), reference(&ff));
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 1.1: 0001 f203 f4f5 f6f7 sums to ddf2.
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&d, 0)), 0xddf2);
    }

    #[test]
    fn pieces_add_up() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 31) as u8).collect();
        let whole = sum(&data, 0);
        let parts = sum(&data[600..], sum(&data[..600], 0));
        assert_eq!(fold(whole), fold(parts));
        // A huge initial value is reduced, not overflowed.
        assert_eq!(fold(sum(&[], u64::MAX)), fold(u64::MAX));
    }

    #[test]
    fn incremental_update_matches_recomputation() {
        let mut data: Vec<u8> = (0..64u32).map(|i| (i * 13 + 5) as u8).collect();
        let c0 = checksum(&data, 0);
        let old = u16::from_be_bytes([data[10], data[11]]);
        for new in [0u16, 1, 0x1234, 0xffff, old] {
            data[10..12].copy_from_slice(&new.to_be_bytes());
            let c1 = checksum(&data, 0);
            let inc = update16(c0, old, new);
            // 0 and 0xffff are the same number in ones-complement.
            assert!(
                inc == c1 || (inc | c1) == 0xffff && (inc & c1) == 0,
                "{inc:x} {c1:x}"
            );
        }
    }
}
