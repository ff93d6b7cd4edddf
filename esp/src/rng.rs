//! The random source for AES-CBC IVs, injected so tests can fix it.

use std::fmt;

/// The random source failed to produce bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RandomError;

impl fmt::Display for RandomError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("random source failed")
    }
}

impl std::error::Error for RandomError {}

/// Fills buffers with unpredictable bytes (AES-CBC IVs, RFC 3602 2.1).
/// AEAD transforms never call it: their IV is the sequence number.
pub trait RandomSource {
    /// Fills `dest` entirely, or fails (then the packet is not sent).
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RandomError>;
}

/// The operating system's CSPRNG (via ring).
#[derive(Debug)]
pub struct OsRandom(ring::rand::SystemRandom);

impl OsRandom {
    /// The system random source.
    pub fn new() -> Self {
        OsRandom(ring::rand::SystemRandom::new())
    }
}

impl Default for OsRandom {
    fn default() -> Self {
        Self::new()
    }
}

impl RandomSource for OsRandom {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RandomError> {
        ring::rand::SecureRandom::fill(&self.0, dest).map_err(|_| RandomError)
    }
}

impl<R: RandomSource + ?Sized> RandomSource for &mut R {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RandomError> {
        (**self).fill(dest)
    }
}

impl<R: RandomSource + ?Sized> RandomSource for Box<R> {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RandomError> {
        (**self).fill(dest)
    }
}
