//! The anti-replay window (RFC 4303 3.4.3) and the inference of the high
//! half of extended sequence numbers (RFC 4303 Appendix A.2).
//!
//! A bitmap in a ring of 64-bit words, in the manner of RFC 6479: the
//! window covers the `size` sequence numbers ending at the highest one
//! received (`top`); one spare word lets the window slide by whole words
//! without losing bits it still needs. `check` runs before the ICV,
//! `update` only after the ICV verified, so a forged packet can never move
//! the window.

use crate::error::{EspError, Replay};
use std::fmt;

/// Window size used when nothing else is configured.
pub const DEFAULT_WINDOW: usize = 1024;
/// Largest window size accepted.
pub const MAX_WINDOW: usize = 65536;

const WORD_BITS: u64 = 64;

/// Sliding anti-replay window over 64-bit sequence numbers.
#[derive(Clone, PartialEq, Eq)]
pub struct ReplayWindow {
    /// Ring of `size / 64 + 1` words; bit `seq % 64` of word
    /// `(seq / 64) % words.len()` says whether `seq` was received.
    words: Box<[u64]>,
    /// Highest sequence number received (0: none yet).
    top: u64,
    /// Window size in sequence numbers.
    size: u64,
}

impl fmt::Debug for ReplayWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplayWindow")
            .field("size", &self.size)
            .field("top", &self.top)
            .finish()
    }
}

impl Default for ReplayWindow {
    fn default() -> Self {
        ReplayWindow {
            words: vec![0; DEFAULT_WINDOW / 64 + 1].into_boxed_slice(),
            top: 0,
            size: DEFAULT_WINDOW as u64,
        }
    }
}

impl ReplayWindow {
    /// A window of `size` sequence numbers: a multiple of 64 from 64 to
    /// 65536 ([`DEFAULT_WINDOW`] is 1024). Allocates once, here.
    pub fn new(size: usize) -> Result<Self, EspError> {
        if size == 0 || size > MAX_WINDOW || !size.is_multiple_of(64) {
            return Err(EspError::InvalidWindowSize { size });
        }
        Ok(ReplayWindow {
            words: vec![0; size / 64 + 1].into_boxed_slice(),
            top: 0,
            size: size as u64,
        })
    }

    /// Window size in sequence numbers.
    pub fn size(&self) -> usize {
        // At most MAX_WINDOW: fits any usize.
        self.size as usize
    }

    /// Highest sequence number received so far (0 before the first).
    pub fn top(&self) -> u64 {
        self.top
    }

    /// Whether `seq` may be accepted: new (right of the window, or inside
    /// it and not yet seen). Run before verifying the ICV; changes nothing.
    pub fn check(&self, seq: u64) -> Result<(), Replay> {
        if seq == 0 {
            return Err(Replay::TooOld { seq, top: self.top });
        }
        if seq > self.top {
            return Ok(());
        }
        if self.top - seq >= self.size {
            return Err(Replay::TooOld { seq, top: self.top });
        }
        if self.bit(seq) {
            return Err(Replay::Duplicate { seq });
        }
        Ok(())
    }

    /// Records `seq` as received, sliding the window if `seq` is the new
    /// highest. Call only after the ICV verified. Checks again, so a
    /// refused number leaves the window untouched.
    pub fn update(&mut self, seq: u64) -> Result<(), Replay> {
        self.check(seq)?;
        let n = self.words.len() as u64;
        if seq > self.top {
            let old_word = self.top / WORD_BITS;
            let new_word = seq / WORD_BITS;
            let steps = (new_word - old_word).min(n);
            for i in 1..=steps {
                let idx = ((old_word.wrapping_add(i)) % n) as usize;
                if let Some(w) = self.words.get_mut(idx) {
                    *w = 0;
                }
            }
            self.top = seq;
        }
        let idx = ((seq / WORD_BITS) % n) as usize;
        if let Some(w) = self.words.get_mut(idx) {
            *w |= 1 << (seq % WORD_BITS);
        }
        Ok(())
    }

    /// Infers the full 64-bit sequence number from the 32 bits on the wire
    /// for an SA with extended sequence numbers (RFC 4303 A.2.2): the
    /// candidate nearest the window. Values that fall before the start of
    /// the sequence space (or past its end) are refused as too old.
    /// The optional resynchronisation after massive loss (RFC 4303 A.3)
    /// is not attempted: a packet more than 2^32 ahead fails its ICV.
    pub fn infer_esn(&self, seq_low: u32) -> Result<u64, Replay> {
        let tl = self.top as u32;
        let th = (self.top >> 32) as u32;
        // W - 1 <= 65535: fits u32.
        let w1 = (self.size - 1) as u32;
        // Bottom of the window, modulo 2^32.
        let bottom = tl.wrapping_sub(w1);
        let hi = if tl >= w1 {
            // Case A: the window lies within one 2^32 subspace.
            if seq_low >= bottom {
                Some(th)
            } else {
                th.checked_add(1)
            }
        } else if seq_low >= bottom {
            // Case B: the window spans two subspaces; this is the lower.
            th.checked_sub(1)
        } else {
            Some(th)
        };
        match hi {
            Some(hi) => Ok((u64::from(hi) << 32) | u64::from(seq_low)),
            None => Err(Replay::TooOld {
                seq: u64::from(seq_low),
                top: self.top,
            }),
        }
    }

    fn bit(&self, seq: u64) -> bool {
        let n = self.words.len() as u64;
        let idx = ((seq / WORD_BITS) % n) as usize;
        self.words
            .get(idx)
            .is_some_and(|w| w & (1 << (seq % WORD_BITS)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert!(ReplayWindow::new(0).is_err());
        assert!(ReplayWindow::new(63).is_err());
        assert!(ReplayWindow::new(65536 + 64).is_err());
        assert_eq!(ReplayWindow::new(64).unwrap().size(), 64);
        assert_eq!(ReplayWindow::new(65536).unwrap().size(), 65536);
        assert_eq!(ReplayWindow::default().size(), 1024);
    }

    #[test]
    fn window_edges() {
        let mut w = ReplayWindow::new(64).unwrap();
        assert_eq!(w.check(0), Err(Replay::TooOld { seq: 0, top: 0 }));
        w.update(100).unwrap();
        // 37..=100 is inside a window of 64.
        assert!(w.check(37).is_ok());
        assert!(w.check(36).is_err());
        assert_eq!(w.check(100), Err(Replay::Duplicate { seq: 100 }));
        w.update(37).unwrap();
        assert_eq!(w.update(37), Err(Replay::Duplicate { seq: 37 }));
        // Slide by exactly one word and by a huge jump.
        w.update(164).unwrap();
        assert!(w.check(101).is_ok());
        assert!(w.check(100).is_err());
        w.update(1 << 40).unwrap();
        assert!(w.check(164).is_err());
        assert!(w.check((1 << 40) - 63).is_ok());
    }

    #[test]
    fn matches_a_model() {
        // Every window size against a plain set-based model.
        for size in [64usize, 128, 1024] {
            let mut w = ReplayWindow::new(size).unwrap();
            let mut seen = std::collections::BTreeSet::new();
            let mut top = 0u64;
            let mut x = 12345u64;
            for _ in 0..20_000 {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let jitter = (x >> 33) % (size as u64 * 2);
                let seq = (top + 8).saturating_sub(jitter).max(1);
                let expect_ok = seq > top || (top - seq < size as u64 && !seen.contains(&seq));
                assert_eq!(
                    w.check(seq).is_ok(),
                    expect_ok,
                    "size {size} seq {seq} top {top}"
                );
                if expect_ok {
                    w.update(seq).unwrap();
                    seen.insert(seq);
                    top = top.max(seq);
                }
            }
        }
    }

    #[test]
    fn esn_inference() {
        let mut w = ReplayWindow::new(1024).unwrap();
        // Fresh window: low numbers are in subspace 0, the very top of the
        // 32-bit space would be "before 1".
        assert_eq!(w.infer_esn(1), Ok(1));
        assert!(w.infer_esn(u32::MAX).is_err());
        // Near the wrap: the next subspace follows.
        w.update(0xFFFF_FFF0).unwrap();
        assert_eq!(w.infer_esn(0xFFFF_FFF5), Ok(0xFFFF_FFF5));
        assert_eq!(w.infer_esn(3), Ok(0x1_0000_0003));
        // After the wrap, late packets from the old subspace.
        w.update(0x1_0000_0003).unwrap();
        assert_eq!(w.infer_esn(0xFFFF_FFF8), Ok(0xFFFF_FFF8));
        assert_eq!(w.infer_esn(10), Ok(0x1_0000_000A));
        // Deep in a subspace: below the window means the next subspace.
        w.update(0x1_0010_0000).unwrap();
        assert_eq!(w.infer_esn(0x0010_0001), Ok(0x1_0010_0001));
        assert_eq!(w.infer_esn(0x000F_FC01), Ok(0x1_000F_FC01));
        assert_eq!(w.infer_esn(0x000F_FC00), Ok(0x2_000F_FC00));
    }
}
