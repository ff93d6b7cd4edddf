//! One BFD session in asynchronous mode (RFC 5880 section 6.8), sans-IO.
//!
//! A [`Session`] owns no socket and reads no clock or OS randomness. The
//! driver passes the current time to every call, and then:
//!
//! - feeds each received, parsed packet addressed to this session to
//!   [`Session::receive`];
//! - at [`Session::poll_timeout`] (or earlier) calls
//!   [`Session::handle_timeout`];
//! - after every call drains [`Session::poll_transmit`] (send each packet
//!   to UDP port 3784 with TTL/hop limit 255, RFC 5881 section 5) and
//!   [`Session::poll_event`].
//!
//! Timers (RFC 5880 section 6.8.3): while the session is not Up the
//! advertised Desired Min TX is at least one second ([`SLOW_TX`]). Any
//! change of the advertised Desired Min TX or Required Min RX while Up —
//! going Up included, which switches to the configured rate — runs a Poll
//! Sequence: periodic packets carry the P bit until a packet with the F
//! bit arrives. A larger TX interval and a smaller RX interval take effect
//! only at the F; the other directions take effect at once. Changes
//! requested during a Poll Sequence start a new one after it.
//!
//! Transmission (section 6.8.7): every max(Desired Min TX, remote Required
//! Min RX), reduced by a pseudo-random 0-25% (10-25% with Detect Mult 1)
//! from a xorshift generator seeded by [`SessionConfig::seed`]; a packet
//! goes out at once on every state change, and a Final answers each Poll.
//! Nothing is sent periodically while the remote Required Min RX is 0,
//! while the remote runs Demand mode (both Up, no Poll Sequence), or, for a
//! passive session, before the remote discriminator is known.
//!
//! Detection (section 6.8.4): remote Detect Mult × max(local Required Min
//! RX, remote Desired Min TX) after the last accepted packet, in Init and
//! Up; expiry goes Down with [`Diag::ControlDetectionTimeExpired`].
//!
//! Authentication is not supported: packets with the A bit are discarded
//! (RFC 5880 section 6.8.6, "no authentication is in use").

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use crate::packet::{ControlPacket, Diag, State};

/// The least Desired Min TX advertised while the session is not Up.
pub const SLOW_TX: Duration = Duration::from_secs(1);

/// The configuration of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Desired Min TX Interval (used once Up; at least [`SLOW_TX`] before).
    pub desired_min_tx: Duration,
    /// Required Min RX Interval (0: do not send me periodic packets).
    pub required_min_rx: Duration,
    /// Detect Mult.
    pub detect_mult: u8,
    /// My Discriminator: nonzero, unique among the driver's sessions.
    pub local_discr: u32,
    /// Passive role: send nothing until the remote has been heard.
    pub passive: bool,
    /// Seed of the TX jitter generator (any value; 0 picks a constant).
    pub seed: u64,
}

impl Default for SessionConfig {
    /// 300 ms / 300 ms / 3, discriminator 1, active.
    fn default() -> Self {
        SessionConfig {
            desired_min_tx: Duration::from_millis(300),
            required_min_rx: Duration::from_millis(300),
            detect_mult: 3,
            local_discr: 1,
            passive: false,
            seed: 0,
        }
    }
}

/// A configuration the protocol cannot carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    /// Detect Mult 0.
    ZeroDetectMult,
    /// Local discriminator 0.
    ZeroLocalDiscr,
    /// Desired Min TX 0 (reserved, RFC 5880 section 4.1).
    ZeroDesiredMinTx,
    /// An interval above 2^32-1 microseconds.
    IntervalTooLarge,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfigError::ZeroDetectMult => "detect multiplier must be nonzero",
            ConfigError::ZeroLocalDiscr => "local discriminator must be nonzero",
            ConfigError::ZeroDesiredMinTx => "desired min TX interval must be nonzero",
            ConfigError::IntervalTooLarge => "interval exceeds 4294 seconds",
        })
    }
}

impl std::error::Error for ConfigError {}

fn check_timers(tx: Duration, rx: Duration, mult: u8) -> Result<(), ConfigError> {
    if mult == 0 {
        return Err(ConfigError::ZeroDetectMult);
    }
    if tx.is_zero() {
        return Err(ConfigError::ZeroDesiredMinTx);
    }
    let max = Duration::from_micros(u64::from(u32::MAX));
    if tx > max || rx > max {
        return Err(ConfigError::IntervalTooLarge);
    }
    Ok(())
}

/// What the session tells its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The session came Up.
    Up,
    /// The session left Up (to Down or AdminDown), for this reason.
    Down {
        /// The local diagnostic: 1 detection time expired, 3 neighbor
        /// signaled down, 7 administratively down.
        diag: Diag,
    },
}

/// Why [`Session::receive`] discarded a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discard {
    /// Your Discriminator is neither 0 nor ours.
    WrongDiscriminator,
    /// The A bit is set, and this implementation uses no authentication.
    Authentication,
    /// A field that [`ControlPacket::parse`] rejects (a packet built by
    /// hand).
    Invalid,
}

/// One BFD session (RFC 5880 section 6.8), asynchronous mode.
#[derive(Debug, Clone)]
pub struct Session {
    cfg: SessionConfig,
    state: State,
    remote_state: State,
    remote_discr: u32,
    local_diag: Diag,
    /// bfd.RemoteMinRxInterval (initially 1 µs).
    remote_min_rx: Duration,
    /// The last received Desired Min TX.
    remote_desired_tx: Duration,
    /// The last received Detect Mult (0: nothing received yet).
    remote_mult: u8,
    remote_demand: bool,
    /// What our packets advertise.
    adv_tx: Duration,
    adv_rx: Duration,
    adv_mult: u8,
    /// The Desired Min TX our transmission interval uses (the previous,
    /// smaller one during a Poll Sequence that increases it).
    tx_used: Duration,
    /// The Required Min RX our detection time uses (the previous, larger
    /// one during a Poll Sequence that reduces it).
    rx_used: Duration,
    polling: bool,
    repoll: bool,
    last_rx: Option<Instant>,
    detect_at: Option<Instant>,
    next_tx: Option<Instant>,
    final_at: Option<Instant>,
    rng: u64,
    events: VecDeque<Event>,
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

impl Session {
    /// A session in state Down, sending its first packet at `now` unless
    /// passive.
    pub fn new(cfg: SessionConfig, now: Instant) -> Result<Session, ConfigError> {
        check_timers(cfg.desired_min_tx, cfg.required_min_rx, cfg.detect_mult)?;
        if cfg.local_discr == 0 {
            return Err(ConfigError::ZeroLocalDiscr);
        }
        let adv_tx = cfg.desired_min_tx.max(SLOW_TX);
        let mut s = Session {
            state: State::Down,
            remote_state: State::Down,
            remote_discr: 0,
            local_diag: Diag::None,
            remote_min_rx: Duration::from_micros(1),
            remote_desired_tx: Duration::ZERO,
            remote_mult: 0,
            remote_demand: false,
            adv_tx,
            adv_rx: cfg.required_min_rx,
            adv_mult: cfg.detect_mult,
            tx_used: adv_tx,
            rx_used: cfg.required_min_rx,
            polling: false,
            repoll: false,
            last_rx: None,
            detect_at: None,
            next_tx: None,
            final_at: None,
            rng: if cfg.seed == 0 {
                0x9e37_79b9_7f4a_7c15
            } else {
                cfg.seed
            },
            events: VecDeque::new(),
            cfg,
        };
        s.reschedule(now);
        Ok(s)
    }

    /// The local session state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The remote session state last received.
    pub fn remote_state(&self) -> State {
        self.remote_state
    }

    /// The local diagnostic sent in our packets.
    pub fn local_diag(&self) -> Diag {
        self.local_diag
    }

    /// Our discriminator.
    pub fn local_discr(&self) -> u32 {
        self.cfg.local_discr
    }

    /// The remote discriminator (0 until heard, and after detection expiry).
    pub fn remote_discr(&self) -> u32 {
        self.remote_discr
    }

    /// The configuration (timers as last set by [`Session::set_timers`]).
    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }

    /// Whether a Poll Sequence is in progress.
    pub fn is_polling(&self) -> bool {
        self.polling
    }

    /// The detection time now in force (section 6.8.4), `None` before the
    /// remote has been heard or with a Required Min RX of 0.
    pub fn detection_time(&self) -> Option<Duration> {
        if self.remote_mult == 0 || self.rx_used.is_zero() {
            return None;
        }
        Some(
            self.rx_used
                .max(self.remote_desired_tx)
                .saturating_mul(u32::from(self.remote_mult)),
        )
    }

    /// The periodic transmission interval before jitter (section 6.8.7).
    pub fn tx_interval(&self) -> Duration {
        self.tx_used.max(self.remote_min_rx)
    }

    /// The next event to take.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Session::handle_timeout`] or [`Session::poll_transmit`] has
    /// something to do (possibly already past).
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.final_at, self.next_tx, self.detect_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// Expires the detection timer if due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if matches!(self.state, State::Init | State::Up) && self.detect_at.is_some_and(|t| t <= now)
        {
            self.remote_discr = 0;
            self.remote_state = State::Down;
            self.remote_demand = false;
            self.remote_min_rx = Duration::from_micros(1);
            self.last_rx = None;
            self.set_state(now, State::Down, Some(Diag::ControlDetectionTimeExpired));
        }
        self.reschedule(now);
    }

    /// The next packet to send at `now`: a Final answering a Poll, or a
    /// periodic (or state change) packet, with the P bit during a Poll
    /// Sequence.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<ControlPacket> {
        if self.final_at.is_some_and(|t| t <= now) {
            self.final_at = None;
            return Some(self.packet(false, true));
        }
        if self.can_tx_periodic() && self.next_tx.is_some_and(|t| t <= now) {
            let iv = self.jittered(self.tx_interval());
            self.next_tx = Some(now + iv);
            return Some(self.packet(self.polling, false));
        }
        None
    }

    /// Processes a received packet (RFC 5880 section 6.8.6), already
    /// parsed (so checked on its own) and demultiplexed to this session.
    pub fn receive(&mut self, now: Instant, p: &ControlPacket) -> Result<(), Discard> {
        if p.detect_mult == 0
            || p.my_discr == 0
            || (p.your_discr == 0 && matches!(p.state, State::Init | State::Up))
        {
            return Err(Discard::Invalid);
        }
        if p.your_discr != 0 && p.your_discr != self.cfg.local_discr {
            return Err(Discard::WrongDiscriminator);
        }
        if p.auth.is_some() {
            return Err(Discard::Authentication);
        }
        self.remote_discr = p.my_discr;
        self.remote_state = p.state;
        self.remote_demand = p.demand;
        self.remote_min_rx = Duration::from_micros(u64::from(p.required_min_rx_us));
        self.remote_desired_tx = Duration::from_micros(u64::from(p.desired_min_tx_us));
        self.remote_mult = p.detect_mult;
        self.last_rx = Some(now);
        if p.final_ && self.polling {
            self.polling = false;
            self.tx_used = self.adv_tx;
            self.rx_used = self.adv_rx;
            if self.repoll {
                self.repoll = false;
                self.apply_params(now);
            }
        }
        if self.state == State::AdminDown {
            self.reschedule(now);
            return Ok(());
        }
        match (self.state, p.state) {
            (State::Down, State::AdminDown) => {}
            (_, State::AdminDown) => {
                self.set_state(now, State::Down, Some(Diag::NeighborSignaledDown))
            }
            (State::Down, State::Down) => self.set_state(now, State::Init, None),
            (State::Down, State::Init) | (State::Init, State::Init | State::Up) => {
                self.set_state(now, State::Up, None)
            }
            (State::Up, State::Down) => {
                self.set_state(now, State::Down, Some(Diag::NeighborSignaledDown))
            }
            _ => {}
        }
        if p.poll {
            self.final_at = Some(now);
        }
        self.reschedule(now);
        Ok(())
    }

    /// Takes the session administratively down (section 6.8.16): state
    /// AdminDown, diagnostic 7, signalled to the remote at once. Packets
    /// keep going out at the slow rate.
    pub fn admin_down(&mut self, now: Instant) {
        if self.state != State::AdminDown {
            self.set_state(now, State::AdminDown, Some(Diag::AdminDown));
        }
        self.reschedule(now);
    }

    /// Ends an administrative down: state Down, diagnostic cleared.
    pub fn admin_up(&mut self, now: Instant) {
        if self.state == State::AdminDown {
            self.set_state(now, State::Down, Some(Diag::None));
        }
        self.reschedule(now);
    }

    /// Changes the timers; while Up, through a Poll Sequence (section
    /// 6.8.3), so the session stays Up.
    pub fn set_timers(
        &mut self,
        now: Instant,
        desired_min_tx: Duration,
        required_min_rx: Duration,
        detect_mult: u8,
    ) -> Result<(), ConfigError> {
        check_timers(desired_min_tx, required_min_rx, detect_mult)?;
        self.cfg.desired_min_tx = desired_min_tx;
        self.cfg.required_min_rx = required_min_rx;
        self.cfg.detect_mult = detect_mult;
        self.apply_params(now);
        self.reschedule(now);
        Ok(())
    }

    fn set_state(&mut self, now: Instant, new: State, diag: Option<Diag>) {
        let old = self.state;
        self.state = new;
        if let Some(d) = diag {
            self.local_diag = d;
        }
        if new == State::Up {
            self.local_diag = Diag::None;
            self.events.push_back(Event::Up);
        } else if old == State::Up {
            self.events.push_back(Event::Down {
                diag: self.local_diag,
            });
        }
        self.apply_params(now);
        // Tell the remote at once.
        self.next_tx = Some(now);
    }

    /// Brings the advertised timers in line with the configuration and the
    /// state, through a Poll Sequence while Up.
    fn apply_params(&mut self, now: Instant) {
        let tx = if self.state == State::Up {
            self.cfg.desired_min_tx
        } else {
            self.cfg.desired_min_tx.max(SLOW_TX)
        };
        let (rx, mult) = (self.cfg.required_min_rx, self.cfg.detect_mult);
        if self.state != State::Up {
            (self.adv_tx, self.adv_rx, self.adv_mult) = (tx, rx, mult);
            self.tx_used = tx;
            self.rx_used = rx;
            self.polling = false;
            self.repoll = false;
            return;
        }
        if (tx, rx, mult) == (self.adv_tx, self.adv_rx, self.adv_mult) {
            return;
        }
        if self.polling {
            self.repoll = true;
            return;
        }
        self.tx_used = self.tx_used.min(tx);
        self.rx_used = self.rx_used.max(rx);
        (self.adv_tx, self.adv_rx, self.adv_mult) = (tx, rx, mult);
        self.polling = true;
        self.next_tx = Some(now);
    }

    fn can_tx_periodic(&self) -> bool {
        let unheard_passive = self.cfg.passive && self.remote_discr == 0;
        let remote_demand = self.remote_demand
            && self.state == State::Up
            && self.remote_state == State::Up
            && !self.polling;
        !unheard_passive && !self.remote_min_rx.is_zero() && !remote_demand
    }

    fn reschedule(&mut self, now: Instant) {
        self.detect_at = match (self.state, self.last_rx, self.detection_time()) {
            (State::Init | State::Up, Some(t), Some(d)) => Some(t + d),
            _ => None,
        };
        if !self.can_tx_periodic() {
            self.next_tx = None;
            return;
        }
        let iv = self.tx_interval();
        self.next_tx = match self.next_tx {
            None => Some(now),
            Some(t) if t > now + iv => Some(now + self.jittered(iv)),
            t => t,
        };
    }

    /// `iv` reduced by 0-25%, or by 10-25% with Detect Mult 1.
    fn jittered(&mut self, iv: Duration) -> Duration {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        let percent = if self.adv_mult == 1 {
            75 + x % 16
        } else {
            75 + x % 26
        };
        let us = iv.as_micros().saturating_mul(u128::from(percent)) / 100;
        Duration::from_micros(u64::try_from(us).unwrap_or(u64::MAX))
    }

    fn packet(&self, poll: bool, final_: bool) -> ControlPacket {
        ControlPacket {
            diag: self.local_diag,
            state: self.state,
            poll,
            final_,
            cpi: false,
            demand: false,
            detect_mult: self.adv_mult,
            my_discr: self.cfg.local_discr,
            your_discr: self.remote_discr,
            desired_min_tx_us: micros(self.adv_tx),
            required_min_rx_us: micros(self.adv_rx),
            required_min_echo_rx_us: 0,
            auth: None,
        }
    }
}
