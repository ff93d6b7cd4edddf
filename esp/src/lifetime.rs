//! SA lifetimes in bytes and packets (RFC 4301 4.4.2.1). Time-based
//! lifetimes belong to the IKE layer, which owns the clock.

/// Where an SA stands against its lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lifetime {
    /// Below the soft limit.
    Ok,
    /// At or past the soft limit: rekey needed.
    Soft,
    /// At the hard limit: expired, the SA no longer seals or opens.
    Hard,
}

/// One counter's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limit {
    /// At or above this: [`Lifetime::Soft`].
    pub soft: u64,
    /// At or above this: [`Lifetime::Hard`].
    pub hard: u64,
}

impl Limit {
    /// A hard limit with the soft limit at 90% of it.
    pub const fn new(hard: u64) -> Self {
        Limit {
            soft: hard - hard / 10,
            hard,
        }
    }

    /// Explicit soft and hard limits.
    pub const fn with_soft(soft: u64, hard: u64) -> Self {
        Limit { soft, hard }
    }

    /// The state of a counter at `value`.
    pub const fn state(&self, value: u64) -> Lifetime {
        if value >= self.hard {
            Lifetime::Hard
        } else if value >= self.soft {
            Lifetime::Soft
        } else {
            Lifetime::Ok
        }
    }
}

/// Byte and packet limits of an SA; `None` means unlimited (the default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct LifetimeLimits {
    /// Limit on inner (plaintext) bytes.
    pub bytes: Option<Limit>,
    /// Limit on packets.
    pub packets: Option<Limit>,
}

impl LifetimeLimits {
    /// No limits.
    pub const UNLIMITED: LifetimeLimits = LifetimeLimits {
        bytes: None,
        packets: None,
    };

    /// The state for the given counters: the worse of both limits.
    pub fn state(&self, bytes: u64, packets: u64) -> Lifetime {
        let b = self.bytes.map_or(Lifetime::Ok, |l| l.state(bytes));
        let p = self.packets.map_or(Lifetime::Ok, |l| l.state(packets));
        b.max(p)
    }
}
