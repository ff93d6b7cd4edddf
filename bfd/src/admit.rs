//! Which unknown sources get a passive session, sans-IO.
//!
//! A Control packet with Your Discriminator 0 from an address that has no
//! session would create one. Anyone on the link can send those, from any
//! address in a listen range, so [`Admission`] lets a source in only when
//! the caller says it is a BGP neighbor the speaker knows, and within two
//! caps: per listen range (its `bgp listen limit`) and over all ranges
//! ([`Admission::global_cap`]). Everything else is dropped and counted
//! ([`Refusals`]); [`LogLimit`] says when a line about the drops may be
//! logged, so a flood costs one line per interval.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Why a source got no session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not a neighbor the BGP speaker knows.
    NotNeighbor,
    /// Its listen range holds its limit of passive sessions.
    RangeFull(u32),
    /// Passive sessions over all ranges are at the global cap.
    GlobalFull(usize),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NotNeighbor => f.write_str("not a BGP neighbor"),
            Refusal::RangeFull(n) => write!(f, "listen range at its limit of {n} sessions"),
            Refusal::GlobalFull(n) => write!(f, "{n} passive sessions in all, the cap"),
        }
    }
}

/// Packets dropped without a session, by reason, since the start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refusals {
    /// From sources that are no known BGP neighbor.
    pub not_neighbor: u64,
    /// From neighbors whose listen range was full.
    pub range_full: u64,
    /// From neighbors while the global cap was reached.
    pub global_full: u64,
}

impl Refusals {
    /// All of them.
    pub fn total(&self) -> u64 {
        self.not_neighbor + self.range_full + self.global_full
    }
}

/// Passive sessions per listen range `R` and in all, within their caps.
#[derive(Debug, Clone)]
pub struct Admission<R: Ord + Clone> {
    global_cap: usize,
    per_range: BTreeMap<R, usize>,
    total: usize,
    refusals: Refusals,
}

impl<R: Ord + Clone> Admission<R> {
    /// At most `global_cap` passive sessions over all ranges.
    pub fn new(global_cap: usize) -> Admission<R> {
        Admission {
            global_cap,
            per_range: BTreeMap::new(),
            total: 0,
            refusals: Refusals::default(),
        }
    }

    /// A packet from a source of `range` (whose limit is `range_limit`)
    /// that has no session: `known` says whether the BGP speaker knows it
    /// as a neighbor. On `Ok` the caller creates the session and counts
    /// it here; on `Err` the packet is dropped and counted.
    pub fn admit(&mut self, range: &R, range_limit: u32, known: bool) -> Result<(), Refusal> {
        let r = if !known {
            Err(Refusal::NotNeighbor)
        } else if self.per_range.get(range).copied().unwrap_or(0) >= range_limit as usize {
            Err(Refusal::RangeFull(range_limit))
        } else if self.total >= self.global_cap {
            Err(Refusal::GlobalFull(self.global_cap))
        } else {
            Ok(())
        };
        match r {
            Ok(()) => {
                *self.per_range.entry(range.clone()).or_insert(0) += 1;
                self.total += 1;
            }
            Err(Refusal::NotNeighbor) => self.refusals.not_neighbor += 1,
            Err(Refusal::RangeFull(_)) => self.refusals.range_full += 1,
            Err(Refusal::GlobalFull(_)) => self.refusals.global_full += 1,
        }
        r
    }

    /// A passive session of `range` is gone.
    pub fn release(&mut self, range: &R) {
        if let Some(n) = self.per_range.get_mut(range) {
            *n = n.saturating_sub(1);
            self.total = self.total.saturating_sub(1);
            if *n == 0 {
                self.per_range.remove(range);
            }
        }
    }

    /// Passive sessions of `range` now.
    pub fn in_range(&self, range: &R) -> usize {
        self.per_range.get(range).copied().unwrap_or(0)
    }

    /// Passive sessions now, over all ranges.
    pub fn total(&self) -> usize {
        self.total
    }

    /// The cap over all ranges.
    pub fn global_cap(&self) -> usize {
        self.global_cap
    }

    /// Packets dropped so far.
    pub fn refusals(&self) -> Refusals {
        self.refusals
    }
}

/// At most one line per `interval`; what was held back in between is
/// counted and handed to the next line.
#[derive(Debug, Clone)]
pub struct LogLimit {
    interval: Duration,
    last: Option<Instant>,
    held: u64,
}

impl LogLimit {
    /// One line per `interval`.
    pub fn new(interval: Duration) -> LogLimit {
        LogLimit {
            interval,
            last: None,
            held: 0,
        }
    }

    /// Whether a line may be logged at `now`: `Some(n)` with the `n`
    /// lines held back since the last one, or `None` (this one is held
    /// back and counted).
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(t) if now.saturating_duration_since(t) < self.interval => {
                self.held += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.held))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_neighbors_within_both_caps() {
        let mut a: Admission<&str> = Admission::new(5);
        // Unknown sources never get in, however many.
        for _ in 0..1000 {
            assert_eq!(a.admit(&"r1", 3, false), Err(Refusal::NotNeighbor));
        }
        assert_eq!(a.total(), 0);
        assert_eq!(a.refusals().not_neighbor, 1000);
        // Known ones up to the range's limit.
        for _ in 0..3 {
            assert_eq!(a.admit(&"r1", 3, true), Ok(()));
        }
        assert_eq!(a.admit(&"r1", 3, true), Err(Refusal::RangeFull(3)));
        assert_eq!(a.in_range(&"r1"), 3);
        // Another range, up to the global cap.
        assert_eq!(a.admit(&"r2", 10, true), Ok(()));
        assert_eq!(a.admit(&"r2", 10, true), Ok(()));
        assert_eq!(a.admit(&"r2", 10, true), Err(Refusal::GlobalFull(5)));
        assert_eq!(a.total(), 5);
        // A session goes: room again, in that range.
        a.release(&"r1");
        assert_eq!(a.in_range(&"r1"), 2);
        assert_eq!(a.admit(&"r2", 10, true), Ok(()));
        assert_eq!(a.admit(&"r1", 3, true), Err(Refusal::GlobalFull(5)));
        let r = a.refusals();
        assert_eq!((r.range_full, r.global_full), (1, 2));
        assert_eq!(r.total(), 1003);
        // Releasing what was never admitted changes nothing.
        a.release(&"r9");
        assert_eq!(a.total(), 5);
    }

    #[test]
    fn one_line_per_interval_with_the_count_held_back() {
        let t0 = Instant::now();
        let mut l = LogLimit::new(Duration::from_secs(10));
        assert_eq!(l.allow(t0), Some(0));
        for i in 1..=500u64 {
            assert_eq!(l.allow(t0 + Duration::from_millis(i * 10)), None);
        }
        // 5 s later: still held back.
        assert_eq!(l.allow(t0 + Duration::from_secs(9)), None);
        assert_eq!(l.allow(t0 + Duration::from_secs(10)), Some(501));
        assert_eq!(l.allow(t0 + Duration::from_secs(25)), Some(0));
    }
}
