//! Helpers shared by the integration tests.
#![allow(dead_code)]

use esp::{InboundSa, OutboundSa, RandomError, RandomSource, SaKeys, Transform};

/// A random source that always yields the same bytes (a fixed CBC IV).
#[derive(Debug, Clone)]
pub struct FixedRandom(pub Vec<u8>);

impl RandomSource for FixedRandom {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RandomError> {
        for (d, s) in dest.iter_mut().zip(self.0.iter().cycle()) {
            *d = *s;
        }
        Ok(())
    }
}

/// A deterministic counter-based "random" source (distinct IVs).
#[derive(Debug, Default, Clone)]
pub struct CountingRandom(pub u64);

impl RandomSource for CountingRandom {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RandomError> {
        for b in dest.iter_mut() {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *b = (self.0 >> 56) as u8;
        }
        Ok(())
    }
}

/// A random source that always fails.
#[derive(Debug, Default, Clone)]
pub struct BrokenRandom;

impl RandomSource for BrokenRandom {
    fn fill(&mut self, _dest: &mut [u8]) -> Result<(), RandomError> {
        Err(RandomError)
    }
}

pub fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Deterministic keys of the right lengths for `t`.
pub fn keys(t: Transform, seed: u8) -> (Vec<u8>, Vec<u8>) {
    let enc = (0..t.encryption_key_len())
        .map(|i| seed.wrapping_add(i as u8))
        .collect();
    let integ = (0..t.integrity_key_len())
        .map(|i| seed.wrapping_mul(3).wrapping_add((i as u8).wrapping_mul(7)))
        .collect();
    (enc, integ)
}

pub const SPI: u32 = 0x0000_c0de;

/// A matching outbound / inbound pair.
pub fn pair(t: Transform, esn: bool, window: usize) -> (OutboundSa<CountingRandom>, InboundSa) {
    let (e, i) = keys(t, 0x42);
    let k = SaKeys::cbc(&e, &i);
    (
        OutboundSa::new(SPI, t, k, esn, CountingRandom(1)).unwrap(),
        InboundSa::new(SPI, t, k, esn, window).unwrap(),
    )
}

/// A plausible inner packet of `len` bytes (an IPv4 or IPv6 header if it
/// fits, then a pattern).
pub fn inner(len: usize, v6: bool) -> Vec<u8> {
    let mut p: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
    if let Some(b) = p.first_mut() {
        *b = if v6 { 0x60 } else { 0x45 };
    }
    p
}
