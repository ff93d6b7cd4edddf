//! What keeps unauthenticated traffic cheap: the size limits checked on
//! the header before anything is parsed or kept, the COOKIE secrets
//! (RFC 7296 2.6) with their rotation, the flood counters, and the rate
//! limit on the log lines that strangers' packets cause.

use crate::crypto::alg::PrfAlg;
use crate::crypto::auth::ct_eq;
use crate::crypto::rand::Random;
use crate::crypto::CryptoError;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The largest IKE message accepted (header Length and datagram size),
/// and the most a reassembly of RFC 7383 fragments may hold
/// (`frag::MAX_REASSEMBLY`).
pub const MAX_MESSAGE: usize = 65535;

/// The largest first IKE_SA_INIT request accepted: it is unauthenticated
/// and a responder SA keeps a copy until IKE_AUTH (for the AUTH payload).
/// Ten proposals with every transform and a MODP-8192 KE stay far below.
pub const MAX_INIT_REQUEST: usize = 8192;

/// How often the COOKIE secret changes.
pub const COOKIE_ROTATE: Duration = Duration::from_secs(120);

/// How long after a change cookies made with the previous secret are
/// still accepted (an initiator's retransmissions of its request with the
/// cookie span about 25 s).
pub const COOKIE_GRACE: Duration = Duration::from_secs(30);

/// Log lines of one kind caused by unauthenticated packets, per second;
/// the rest are counted and summed up in one line.
pub const LOG_LINES_PER_SECOND: u32 = 5;

/// The COOKIE secret and the one before it.
pub(crate) struct CookieSecrets {
    /// None while the random source has failed to give one: no cookie is
    /// made or accepted then (never one keyed with zeros).
    current: Option<[u8; 32]>,
    previous: Option<[u8; 32]>,
    /// Version byte of `current` (the first byte of every cookie).
    version: u8,
    rotated: Option<Instant>,
}

impl std::fmt::Debug for CookieSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookieSecrets")
            .field("version", &self.version)
            .field("secrets", &"<redacted>")
            .finish()
    }
}

fn fresh(rng: &mut dyn Random) -> Result<[u8; 32], CryptoError> {
    let mut s = [0u8; 32];
    rng.fill(&mut s)?;
    Ok(s)
}

impl CookieSecrets {
    /// A first secret; without one (the random source failed) the next
    /// [`CookieSecrets::rotate_if_due`] tries again.
    pub fn new(rng: &mut dyn Random) -> CookieSecrets {
        CookieSecrets {
            current: fresh(rng).ok(),
            previous: None,
            version: 0,
            rotated: None,
        }
    }

    /// Change the secret once [`COOKIE_ROTATE`] has passed since the last
    /// change (the first call starts the clock); make one if there is
    /// none. An error says the random source failed: there may be no
    /// secret to make cookies with, and the caller must not answer.
    pub fn rotate_if_due(&mut self, now: Instant, rng: &mut dyn Random) -> Result<(), CryptoError> {
        if self.current.is_none() {
            self.current = Some(fresh(rng)?);
            self.rotated = Some(now);
            return Ok(());
        }
        match self.rotated {
            None => self.rotated = Some(now),
            Some(t) if now >= t + COOKIE_ROTATE => {
                let next = fresh(rng)?;
                self.previous = self.current.replace(next);
                self.version = self.version.wrapping_add(1);
                self.rotated = Some(now);
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// The cookie for an initiator: version, then
    /// HMAC-SHA256(secret, Ni | IPi | SPIi) (RFC 7296 2.6); None without
    /// a secret.
    pub fn make(&self, ni: &[u8], ip: IpAddr, spi_i: u64) -> Option<Vec<u8>> {
        self.current
            .as_ref()
            .map(|s| cookie(self.version, s, ni, ip, spi_i))
    }

    /// Whether `c` is a cookie we made for this initiator: with the current
    /// secret, or with the previous one during [`COOKIE_GRACE`] after a
    /// change.
    pub fn check(&self, c: &[u8], ni: &[u8], ip: IpAddr, spi_i: u64, now: Instant) -> bool {
        let Some(&v) = c.first() else {
            return false;
        };
        if v == self.version {
            return self.make(ni, ip, spi_i).is_some_and(|m| ct_eq(c, &m));
        }
        let in_grace = self.rotated.is_some_and(|t| now < t + COOKIE_GRACE);
        match self.previous {
            Some(prev) if in_grace && v == self.version.wrapping_sub(1) => {
                ct_eq(c, &cookie(v, &prev, ni, ip, spi_i))
            }
            _ => false,
        }
    }
}

fn cookie(version: u8, secret: &[u8; 32], ni: &[u8], ip: IpAddr, spi_i: u64) -> Vec<u8> {
    let ip = match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    let mut c = vec![version];
    c.extend(PrfAlg::HmacSha256.prf_parts(secret, &[ni, &ip, &spi_i.to_be_bytes()]));
    c
}

/// What the engine did with unauthenticated traffic since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuardStats {
    /// Responder SAs created (IKE_SA_INIT answered).
    pub half_open_created: u64,
    /// Half-open SAs that got no IKE_AUTH in time.
    pub half_open_expired: u64,
    /// IKE_SA_INIT requests answered with a COOKIE demand.
    pub cookies_sent: u64,
    /// IKE_SA_INIT requests dropped: `max-in-negotiation-sa` reached.
    pub dropped_total_limit: u64,
    /// IKE_SA_INIT requests dropped: the per-address limit reached.
    pub dropped_address_limit: u64,
    /// Messages dropped for their size.
    pub dropped_oversize: u64,
}

/// Kinds of log lines that unauthenticated packets cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Noise {
    Malformed,
    UnknownSa,
    Oversize,
    InitAnswered,
    InitRefused,
    OverLimit,
    HalfOpenExpired,
    Rng,
}

const KINDS: usize = 8;

impl Noise {
    fn index(self) -> usize {
        self as usize
    }
    fn label(self) -> &'static str {
        match self {
            Noise::Malformed => "malformed IKE messages",
            Noise::UnknownSa => "IKE messages for unknown SAs",
            Noise::Oversize => "oversized IKE messages",
            Noise::InitAnswered => "IKE_SA_INIT requests answered",
            Noise::InitRefused => "IKE_SA_INIT requests refused",
            Noise::OverLimit => "IKE_SA_INIT requests dropped over the half-open limits",
            Noise::HalfOpenExpired => "half-open IKE SAs timed out",
            Noise::Rng => "random number generator failures",
        }
    }
    const ALL: [Noise; KINDS] = [
        Noise::Malformed,
        Noise::UnknownSa,
        Noise::Oversize,
        Noise::InitAnswered,
        Noise::InitRefused,
        Noise::OverLimit,
        Noise::HalfOpenExpired,
        Noise::Rng,
    ];
}

/// At most [`LOG_LINES_PER_SECOND`] lines of each [`Noise`] kind a
/// second; the others are counted and reported in one line per kind when
/// the next second starts.
#[derive(Debug, Default)]
pub(crate) struct LogLimiter {
    window: Option<Instant>,
    shown: [u32; KINDS],
    suppressed: [u64; KINDS],
}

impl LogLimiter {
    /// Whether a line of `kind` may be logged at `now`; the summaries of
    /// the previous second go to `out` first.
    pub fn allow(&mut self, kind: Noise, now: Instant, out: &mut VecDeque<String>) -> bool {
        self.roll(now, out);
        let i = kind.index();
        if self.shown[i] < LOG_LINES_PER_SECOND {
            self.shown[i] += 1;
            true
        } else {
            self.suppressed[i] += 1;
            false
        }
    }

    /// Start a new second if the current one is over, reporting what it
    /// suppressed.
    pub fn roll(&mut self, now: Instant, out: &mut VecDeque<String>) {
        let start = match self.window {
            Some(w) if now < w + Duration::from_secs(1) => return,
            Some(w) => w,
            None => {
                self.window = Some(now);
                return;
            }
        };
        for k in Noise::ALL {
            let n = std::mem::take(&mut self.suppressed[k.index()]);
            if n > 0 {
                out.push_back(format!(
                    "suppressed {n} more log lines about {} in the last {:.1} s (at most {LOG_LINES_PER_SECOND} a second)",
                    k.label(),
                    now.saturating_duration_since(start).as_secs_f64()
                ));
            }
        }
        self.shown = [0; KINDS];
        self.window = Some(now);
    }

    /// Whether a summary is still owed (for the timer).
    pub fn pending(&self) -> Option<Instant> {
        if self.suppressed.iter().any(|n| *n > 0) {
            self.window.map(|w| w + Duration::from_secs(1))
        } else {
            None
        }
    }
}
