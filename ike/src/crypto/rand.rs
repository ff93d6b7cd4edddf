//! Randomness behind a trait, so tests can inject a deterministic source.

use super::CryptoError;
use ring::rand::SecureRandom;

/// A source of random bytes. Production code uses [`SystemRandom`].
pub trait Random {
    /// Fill `out` entirely with random bytes.
    fn fill(&mut self, out: &mut [u8]) -> Result<(), CryptoError>;
}

/// The operating system's CSPRNG (through `ring::rand::SystemRandom`).
#[derive(Debug, Clone)]
pub struct SystemRandom(ring::rand::SystemRandom);

impl SystemRandom {
    /// Opens the system generator.
    pub fn new() -> Self {
        SystemRandom(ring::rand::SystemRandom::new())
    }
}

impl Default for SystemRandom {
    fn default() -> Self {
        Self::new()
    }
}

impl Random for SystemRandom {
    fn fill(&mut self, out: &mut [u8]) -> Result<(), CryptoError> {
        self.0.fill(out).map_err(|_| CryptoError::Rng)
    }
}
