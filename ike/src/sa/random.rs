//! The engine's random values: SPIs, nonces, the rekey jitter. A failure
//! of the random source is an error the exchange fails with (logged, no
//! SA created), never a zero value and never a loop: an SPI that is zero
//! or taken is drawn again at most [`DRAWS`] times, and a source that
//! keeps giving those is taken for broken.

use std::time::{Duration, Instant};

use super::engine::Engine;
use super::guard::Noise;
use crate::crypto::CryptoError;

/// What a log line about a failed random source says (`CryptoError::Rng`
/// displays the same); the driver logs such lines as errors.
pub const RNG_FAILURE: &str = "random number generator failure";

/// Draws of a fresh SPI before the source is taken for broken: with 2^32
/// values and at most a few hundred thousand in use, 16 collisions in a
/// row do not happen with a working generator.
pub(crate) const DRAWS: usize = 16;

/// The length of our nonces (RFC 7296 2.10: at least half the PRF key
/// size, at least 16 bytes).
const NONCE_LEN: usize = 32;

impl Engine {
    /// A fresh IKE SPI: nonzero and not in use.
    pub(crate) fn random_u64(&mut self) -> Result<u64, CryptoError> {
        for _ in 0..DRAWS {
            let mut b = [0u8; 8];
            self.rng.fill(&mut b)?;
            let v = u64::from_be_bytes(b);
            if v != 0 && !self.sas.contains_key(&v) {
                return Ok(v);
            }
        }
        Err(CryptoError::Rng)
    }

    /// A fresh inbound ESP SPI: above 255 (1-255 are reserved, RFC 4303)
    /// and not in use.
    pub(crate) fn random_spi32(&mut self) -> Result<u32, CryptoError> {
        for _ in 0..DRAWS {
            let mut b = [0u8; 4];
            self.rng.fill(&mut b)?;
            let v = u32::from_be_bytes(b);
            if v > 255 && self.sas.sa_of_child(v).is_none() && !self.installing.contains_key(&v) {
                return Ok(v);
            }
        }
        Err(CryptoError::Rng)
    }

    /// A fresh nonce.
    pub(crate) fn nonce(&mut self) -> Result<Vec<u8>, CryptoError> {
        let mut n = vec![0u8; NONCE_LEN];
        self.rng.fill(&mut n)?;
        Ok(n)
    }

    /// Logs that `what` was abandoned because the random source failed
    /// (rate-limited like other lines a stranger's packet can cause).
    pub(crate) fn rng_failed(&mut self, what: &str, now: Instant) {
        self.log_noise(Noise::Rng, now, || {
            format!("{what}: {RNG_FAILURE}, abandoned (no SA created)")
        });
    }
}

/// `d` minus 10-15% (rekey jitter, so both ends do not rekey at the same
/// moment), the amount picked by `seed`: an SPI of the SA, which is
/// random already, so the jitter needs no draw that could fail.
pub(crate) fn jitter(d: Duration, seed: u64) -> Duration {
    let mixed = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let frac = f64::from((mixed >> 48) as u16) / 65535.0;
    d.mul_f64(0.90 - 0.05 * frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_in_its_range_and_depends_on_the_seed() {
        let d = Duration::from_secs(3600);
        let mut seen = std::collections::BTreeSet::new();
        for seed in [1u64, 2, 0xdead_beef, u64::MAX, 0x1234_5678_9abc_def0] {
            let j = jitter(d, seed);
            assert!(j >= d.mul_f64(0.85) && j <= d.mul_f64(0.90), "{j:?}");
            seen.insert(j);
        }
        assert!(seen.len() >= 4, "the seed moves it: {seen:?}");
    }
}
