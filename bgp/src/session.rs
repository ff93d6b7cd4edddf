//! The per-peer BGP finite state machine (RFC 4271 section 8), sans-IO.
//!
//! A [`Session`] owns no socket and reads no clock. The driver feeds it
//! events ([`Session::start`], [`Session::tcp_connected`],
//! [`Session::bytes_received`], [`Session::handle_timeout`], ...) together
//! with the current time, and then drains [`Session::poll_output`]:
//!
//! - [`Output::Connect`]: open a TCP connection to the peer (port 179) and
//!   report [`Session::tcp_connected`] or [`Session::tcp_failed`];
//! - [`Output::Send`]: write these octets (whole encoded messages);
//! - [`Output::Disconnect`]: close the TCP connection (after writing what
//!   was queued before it);
//! - [`Output::Established`] / [`Output::Down`]: the session came up / went
//!   down (only `Established` is ever followed by `Down`);
//! - [`Output::Update`], [`Output::RouteRefresh`]: what the peer sent, in
//!   Established only.
//!
//! [`Session::poll_timeout`] says when to call [`Session::handle_timeout`]
//! next.
//!
//! After an error (a NOTIFICATION sent or received, hold timer expiry, the
//! connection lost after the OPEN exchange) the session goes to Idle and,
//! unless it was stopped, restarts by itself after an idle hold time that
//! starts at [`SessionConfig::idle_hold`] and doubles with each further
//! failure up to [`IDLE_HOLD_MAX`]; it falls back to the initial value once
//! a session has stayed Established for [`IDLE_HOLD_MAX`].
//!
//! # Connection collisions (RFC 4271 section 6.8)
//!
//! The driver runs one `Session` per TCP connection. An active session
//! connects out; when the listener accepts a connection from a configured
//! peer, the driver creates a second, passive session for it (or hands the
//! accepted connection to the existing one with
//! [`Session::tcp_connected`] if that one is still in Connect or Active,
//! dropping its own attempt). When one of two sessions for the same peer
//! reaches OpenConfirm or Established ([`Session::peer_id`] is then known)
//! while the other is at least in OpenSent, the driver calls
//! [`collision_winner`]`(local_id, remote_id)`: `true` keeps the
//! connection *we* initiated, `false` keeps the one the *peer* initiated.
//! (An Established session always wins over a newer one, RFC 4271 section
//! 6.8.) The loser is closed with [`Session::close_collision`], which sends
//! Cease/Connection Collision Resolution and goes to Idle without
//! restarting; the driver then drops it.

use std::collections::VecDeque;
use std::fmt;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::wire::{
    as2, frame, subcode, Capability, Ctx, EmitError, ErrorCode, Family, Message, Notification,
    Open, RouteRefresh, RouteRefreshSubtype, Update, WireError, AS_TRANS,
};

/// The largest idle hold time of the backoff after repeated failures.
pub const IDLE_HOLD_MAX: Duration = Duration::from_secs(120);
/// The hold time while waiting for the peer's OPEN (RFC 4271 section 8:
/// "a large value", 4 minutes suggested).
pub const LARGE_HOLD_TIME: Duration = Duration::from_secs(240);

/// Connection collision resolution (RFC 4271 section 6.8): whether the
/// connection initiated by the local system is kept, i.e. whether the
/// local BGP Identifier, as a 4-octet unsigned integer, is greater than
/// the remote one. `false` means: close the locally initiated connection
/// and keep the one the peer initiated.
pub fn collision_winner(local_id: Ipv4Addr, remote_id: Ipv4Addr) -> bool {
    u32::from(local_id) > u32::from(remote_id)
}

/// Configuration of one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Our AS.
    pub local_as: u32,
    /// The peer's AS; `None` accepts any (dynamic neighbors).
    pub peer_as: Option<u32>,
    /// Our BGP Identifier.
    pub router_id: Ipv4Addr,
    /// Hold time we offer, in seconds (0: no keepalives, no hold timer).
    pub hold_time: u16,
    /// Keepalive interval in seconds; the one used is at most a third of
    /// the negotiated hold time, and 0 means exactly a third.
    pub keepalive: u16,
    /// ConnectRetry time.
    pub connect_retry: Duration,
    /// Families we offer (one Multiprotocol capability each).
    pub families: Vec<Family>,
    /// Never connect out; wait for the driver to hand over an accepted
    /// connection with [`Session::tcp_connected`].
    pub passive: bool,
    /// The first idle hold time after a failure (doubling after each
    /// further failure, up to [`IDLE_HOLD_MAX`]).
    pub idle_hold: Duration,
}

impl Default for SessionConfig {
    fn default() -> SessionConfig {
        SessionConfig {
            local_as: 0,
            peer_as: None,
            router_id: Ipv4Addr::UNSPECIFIED,
            hold_time: 9,
            keepalive: 3,
            connect_retry: Duration::from_secs(5),
            families: vec![Family::IPV4_UNICAST],
            passive: false,
            idle_hold: Duration::from_secs(1),
        }
    }
}

/// The states of RFC 4271 section 8.2.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Not trying (stopped, or waiting out the idle hold time).
    Idle,
    /// Connecting out.
    Connect,
    /// Waiting for a connection (or for the ConnectRetry timer).
    Active,
    /// OPEN sent, waiting for the peer's.
    OpenSent,
    /// OPENs exchanged, waiting for a KEEPALIVE.
    OpenConfirm,
    /// Up.
    Established,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// What the driver has to do, or learn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Open a TCP connection to the peer.
    Connect,
    /// Write these octets to the connection.
    Send(Vec<u8>),
    /// Close the connection.
    Disconnect,
    /// The session is up.
    Established {
        /// The peer's AS (from the 4-octet AS capability if present).
        peer_as: u32,
        /// The peer's BGP Identifier.
        peer_id: Ipv4Addr,
        /// The negotiated hold time in seconds (0: none).
        hold_time: u16,
        /// Decode context for what the peer sends.
        rx_ctx: Ctx,
        /// Encode context for what we send.
        tx_ctx: Ctx,
        /// The families both sides offered.
        families: Vec<Family>,
    },
    /// The Established session went down.
    Down {
        /// Why, for humans.
        reason: String,
    },
    /// An UPDATE from the peer.
    Update(Box<Update>),
    /// The peer asks us to re-send this family (a normal ROUTE-REFRESH).
    RouteRefresh(Family),
}

/// What the OPEN exchange decided.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Negotiated {
    peer_as: u32,
    peer_id: Ipv4Addr,
    hold: u16,
    keepalive: Duration,
    rx: Ctx,
    tx: Ctx,
    families: Vec<Family>,
}

/// One BGP peer's session; see the [module documentation](self).
#[derive(Debug)]
pub struct Session {
    cfg: SessionConfig,
    state: State,
    /// Administratively started (restarts by itself after failures).
    started: bool,
    out: VecDeque<Output>,
    rx: Vec<u8>,
    neg: Option<Negotiated>,
    idle_hold: Duration,
    established_at: Option<Instant>,
    last_error: Option<String>,
    connect_retry_at: Option<Instant>,
    hold_at: Option<Instant>,
    keepalive_at: Option<Instant>,
    idle_hold_at: Option<Instant>,
}

fn secs(s: u16) -> Duration {
    Duration::from_secs(u64::from(s))
}

impl Session {
    /// A stopped session (Idle) for `cfg`.
    pub fn new(cfg: SessionConfig, _now: Instant) -> Session {
        let idle_hold = cfg.idle_hold.min(IDLE_HOLD_MAX);
        Session {
            cfg,
            state: State::Idle,
            started: false,
            out: VecDeque::new(),
            rx: Vec::new(),
            neg: None,
            idle_hold,
            established_at: None,
            last_error: None,
            connect_retry_at: None,
            hold_at: None,
            keepalive_at: None,
            idle_hold_at: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The peer's BGP Identifier, once its OPEN was accepted (OpenConfirm
    /// and Established).
    pub fn peer_id(&self) -> Option<Ipv4Addr> {
        self.neg.as_ref().map(|n| n.peer_id)
    }

    /// Why the session last went to Idle.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// The idle hold time the next failure will wait.
    pub fn next_idle_hold(&self) -> Duration {
        self.idle_hold
    }

    /// The next thing the driver has to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`Session::handle_timeout`] is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.connect_retry_at,
            self.hold_at,
            self.keepalive_at,
            self.idle_hold_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// ManualStart: from Idle, connect out (or wait, if passive).
    pub fn start(&mut self, now: Instant) {
        self.started = true;
        if self.state == State::Idle {
            self.idle_hold_at = None;
            self.begin(now);
        }
    }

    /// ManualStop: close whatever there is, with a Cease/Administrative
    /// Shutdown carrying `reason` (RFC 9003) once OPENs are under way, and
    /// stay in Idle until the next [`Session::start`].
    pub fn stop(&mut self, now: Instant, reason: &str) {
        self.started = false;
        let n = Notification::cease_with_message(subcode::cease::ADMINISTRATIVE_SHUTDOWN, reason);
        self.close(
            now,
            Some(n),
            format!("administratively stopped: {reason}"),
            true,
        );
        self.idle_hold = self.cfg.idle_hold.min(IDLE_HOLD_MAX);
    }

    /// Closes this connection as the loser of a connection collision
    /// (Cease/Connection Collision Resolution); the session stays in Idle
    /// and does not restart. See the [module documentation](self).
    pub fn close_collision(&mut self, now: Instant) {
        self.started = false;
        let n = Notification::cease(subcode::cease::CONNECTION_COLLISION_RESOLUTION);
        self.close(now, Some(n), "connection collision".into(), true);
    }

    /// The TCP connection is up (the one we asked for with
    /// [`Output::Connect`], or one the driver accepted for this peer).
    pub fn tcp_connected(&mut self, now: Instant) {
        if !matches!(self.state, State::Connect | State::Active) {
            // Not expecting one: refuse it.
            self.out.push_back(Output::Disconnect);
            return;
        }
        self.connect_retry_at = None;
        self.rx.clear();
        self.neg = None;
        let open = self.local_open();
        self.send(&Message::Open(open));
        self.hold_at = Some(now + LARGE_HOLD_TIME);
        self.state = State::OpenSent;
    }

    /// The connection attempt failed.
    pub fn tcp_failed(&mut self, now: Instant) {
        match self.state {
            State::Connect => {
                self.state = State::Active;
                if !self.cfg.passive {
                    self.connect_retry_at = Some(now + self.cfg.connect_retry);
                }
            }
            State::Idle | State::Active => {}
            _ => self.tcp_closed(now),
        }
    }

    /// The peer closed the connection (or it broke).
    pub fn tcp_closed(&mut self, now: Instant) {
        match self.state {
            State::Idle | State::Connect | State::Active => {}
            State::OpenSent => {
                // RFC 4271 8.2.2: back to Active, ConnectRetry restarted.
                self.clear_timers();
                self.rx.clear();
                self.state = State::Active;
                if !self.cfg.passive {
                    self.connect_retry_at = Some(now + self.cfg.connect_retry);
                }
            }
            State::OpenConfirm | State::Established => {
                self.close(now, None, "connection closed by peer".into(), false);
            }
        }
    }

    /// Octets from the connection: any split of the stream is fine.
    pub fn bytes_received(&mut self, now: Instant, data: &[u8]) {
        if !matches!(
            self.state,
            State::OpenSent | State::OpenConfirm | State::Established
        ) {
            return;
        }
        self.rx.extend_from_slice(data);
        let mut used = 0;
        loop {
            let rest = self.rx.get(used..).unwrap_or_default();
            let len = match frame(rest) {
                Ok(Some(len)) => len,
                Ok(None) => break,
                Err(e) => {
                    self.wire_error(now, &e);
                    return;
                }
            };
            let ctx = self.neg.as_ref().map(|n| n.rx).unwrap_or_default();
            let parsed = rest.get(..len).map(|m| Message::parse(m, &ctx));
            used += len;
            match parsed {
                Some(Ok(msg)) => self.handle_message(now, msg),
                Some(Err(e)) => {
                    self.wire_error(now, &e);
                    return;
                }
                None => break,
            }
            if !matches!(
                self.state,
                State::OpenSent | State::OpenConfirm | State::Established
            ) {
                return;
            }
        }
        self.rx.drain(..used.min(self.rx.len()));
    }

    /// Timers: call at (or after) [`Session::poll_timeout`].
    pub fn handle_timeout(&mut self, now: Instant) {
        let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);
        if due(self.hold_at) {
            self.hold_at = None;
            let n = Notification::new(ErrorCode::HOLD_TIMER_EXPIRED, 0, Vec::new());
            self.close(now, Some(n), "hold timer expired".into(), true);
        }
        if due(self.idle_hold_at) {
            self.idle_hold_at = None;
            if self.state == State::Idle && self.started {
                self.begin(now);
            }
        }
        if due(self.connect_retry_at) {
            self.connect_retry_at = None;
            match self.state {
                State::Connect => {
                    // Give up on this attempt, try again.
                    self.out.push_back(Output::Disconnect);
                    self.connect_out(now);
                }
                State::Active if !self.cfg.passive => self.connect_out(now),
                _ => {}
            }
        }
        if due(self.keepalive_at) {
            self.keepalive_at = None;
            if matches!(self.state, State::OpenConfirm | State::Established) {
                self.send(&Message::Keepalive);
                self.arm_keepalive(now);
            }
        }
    }

    /// Sends an UPDATE (Established only); it restarts the keepalive timer.
    pub fn send_update(&mut self, now: Instant, update: &Update) -> Result<(), EmitError> {
        let Some(tx) = self.neg.as_ref().map(|n| n.tx) else {
            return Ok(());
        };
        if self.state != State::Established {
            return Ok(());
        }
        let mut buf = Vec::new();
        update.emit(&tx, &mut buf)?;
        self.out.push_back(Output::Send(buf));
        self.arm_keepalive(now);
        Ok(())
    }

    /// Asks the peer to re-send `family` (Established only).
    pub fn send_route_refresh(&mut self, family: Family) {
        if self.state == State::Established {
            self.send(&Message::RouteRefresh(RouteRefresh::request(family)));
        }
    }

    // ---- internals ----

    fn local_open(&self) -> Open {
        let mut caps: Vec<Capability> = self
            .cfg
            .families
            .iter()
            .map(|f| Capability::Multiprotocol(*f))
            .collect();
        caps.push(Capability::RouteRefresh);
        Open::new(
            self.cfg.local_as,
            self.cfg.hold_time,
            self.cfg.router_id,
            caps,
        )
    }

    fn begin(&mut self, now: Instant) {
        self.clear_timers();
        if self.cfg.passive {
            self.state = State::Active;
        } else {
            self.connect_out(now);
        }
    }

    fn connect_out(&mut self, now: Instant) {
        self.state = State::Connect;
        self.out.push_back(Output::Connect);
        self.connect_retry_at = Some(now + self.cfg.connect_retry);
    }

    fn clear_timers(&mut self) {
        self.connect_retry_at = None;
        self.hold_at = None;
        self.keepalive_at = None;
        self.idle_hold_at = None;
    }

    fn send(&mut self, msg: &Message) {
        let ctx = self.neg.as_ref().map(|n| n.tx).unwrap_or_default();
        let mut buf = Vec::new();
        if msg.emit(&ctx, &mut buf).is_ok() {
            self.out.push_back(Output::Send(buf));
        }
    }

    fn arm_hold(&mut self, now: Instant) {
        self.hold_at = match self.neg.as_ref().map(|n| n.hold) {
            Some(h) if h > 0 => Some(now + secs(h)),
            _ => None,
        };
    }

    fn arm_keepalive(&mut self, now: Instant) {
        self.keepalive_at = match self.neg.as_ref() {
            Some(n) if n.hold > 0 => Some(now + n.keepalive),
            _ => None,
        };
    }

    fn wire_error(&mut self, now: Instant, e: &WireError) {
        self.close(now, Some(e.to_notification()), e.to_string(), true);
    }

    fn fsm_error(&mut self, now: Instant, what: &str) {
        let sub = match self.state {
            State::OpenSent => subcode::fsm::UNEXPECTED_IN_OPENSENT,
            State::OpenConfirm => subcode::fsm::UNEXPECTED_IN_OPENCONFIRM,
            _ => subcode::fsm::UNEXPECTED_IN_ESTABLISHED,
        };
        let n = Notification::new(ErrorCode::FSM_ERROR, sub, Vec::new());
        self.close(
            now,
            Some(n),
            format!("unexpected {what} in {}", self.state),
            true,
        );
    }

    /// Goes to Idle: sends `notification` if a connection is up, closes it
    /// (if `disconnect`), reports Down if Established, and arms the idle
    /// hold timer if still started.
    fn close(
        &mut self,
        now: Instant,
        notification: Option<Notification>,
        reason: String,
        disconnect: bool,
    ) {
        let connected = matches!(
            self.state,
            State::OpenSent | State::OpenConfirm | State::Established
        );
        if connected {
            if let Some(n) = notification {
                self.send(&Message::Notification(n));
            }
        }
        if disconnect && self.state != State::Idle {
            self.out.push_back(Output::Disconnect);
        }
        if self.state == State::Established {
            self.out.push_back(Output::Down {
                reason: reason.clone(),
            });
        }
        // A session that stayed up long enough resets the backoff.
        if let Some(t) = self.established_at.take() {
            if now.saturating_duration_since(t) >= IDLE_HOLD_MAX {
                self.idle_hold = self.cfg.idle_hold.min(IDLE_HOLD_MAX);
            }
        }
        let was_idle = self.state == State::Idle;
        self.state = State::Idle;
        self.clear_timers();
        self.rx.clear();
        self.neg = None;
        if was_idle {
            return;
        }
        self.last_error = Some(reason);
        if self.started {
            self.idle_hold_at = Some(now + self.idle_hold);
            self.idle_hold = (self.idle_hold * 2).min(IDLE_HOLD_MAX);
        }
    }

    fn handle_message(&mut self, now: Instant, msg: Message) {
        if let Message::Notification(n) = &msg {
            let reason = format!("received NOTIFICATION {n}");
            self.close(now, None, reason, true);
            return;
        }
        match self.state {
            State::OpenSent => match msg {
                Message::Open(o) => self.handle_open(now, &o),
                other => self.fsm_error(now, &format!("{:?}", other.msg_type())),
            },
            State::OpenConfirm => match msg {
                Message::Keepalive => self.established(now),
                other => self.fsm_error(now, &format!("{:?}", other.msg_type())),
            },
            State::Established => match msg {
                Message::Keepalive => self.arm_hold(now),
                Message::Update(u) => {
                    self.arm_hold(now);
                    self.out.push_back(Output::Update(u));
                }
                Message::RouteRefresh(r) => {
                    if r.subtype == RouteRefreshSubtype::NORMAL {
                        self.out.push_back(Output::RouteRefresh(r.family));
                    }
                }
                other => self.fsm_error(now, &format!("{:?}", other.msg_type())),
            },
            _ => {}
        }
    }

    fn established(&mut self, now: Instant) {
        let Some(n) = self.neg.clone() else {
            return;
        };
        self.state = State::Established;
        self.established_at = Some(now);
        self.arm_hold(now);
        self.out.push_back(Output::Established {
            peer_as: n.peer_as,
            peer_id: n.peer_id,
            hold_time: n.hold,
            rx_ctx: n.rx,
            tx_ctx: n.tx,
            families: n.families,
        });
    }

    fn handle_open(&mut self, now: Instant, peer: &Open) {
        match self.check_open(peer) {
            Ok(n) => {
                self.neg = Some(n);
                self.send(&Message::Keepalive);
                self.state = State::OpenConfirm;
                self.arm_hold(now);
                self.arm_keepalive(now);
            }
            Err(e) => self.wire_error(now, &e),
        }
    }

    /// The OPEN checks of RFC 4271 section 6.2, RFC 6793 (AS numbers) and
    /// RFC 5492 (a common family, or Unsupported Capability).
    fn check_open(&self, peer: &Open) -> Result<Negotiated, WireError> {
        let open_err =
            |sub: u8, detail: String| WireError::new(ErrorCode::OPEN_MESSAGE_ERROR, sub, detail);
        // Peer AS: the 4-octet capability must agree with My AS.
        let peer_as = peer.asn();
        if let Some(four) = peer.four_octet_as() {
            if peer.my_as != as2(four) {
                return Err(open_err(
                    subcode::open::BAD_PEER_AS,
                    format!("My AS {} with 4-octet AS {four}", peer.my_as),
                )
                .with_data(peer.my_as.to_be_bytes()));
            }
        } else if u32::from(peer.my_as) == AS_TRANS {
            return Err(open_err(
                subcode::open::BAD_PEER_AS,
                "AS_TRANS without the 4-octet AS capability".into(),
            )
            .with_data(peer.my_as.to_be_bytes()));
        }
        if let Some(want) = self.cfg.peer_as {
            if peer_as != want {
                return Err(open_err(
                    subcode::open::BAD_PEER_AS,
                    format!("peer AS {peer_as}, expected {want}"),
                )
                .with_data(peer.my_as.to_be_bytes()));
            }
        }
        // Hold time: 1 and 2 are refused by Open::parse already.
        if peer.hold_time == 1 || peer.hold_time == 2 {
            return Err(open_err(
                subcode::open::UNACCEPTABLE_HOLD_TIME,
                format!("hold time {}", peer.hold_time),
            ));
        }
        let hold = self.cfg.hold_time.min(peer.hold_time);
        // BGP Identifier.
        if peer.bgp_id.is_unspecified() || peer.bgp_id == self.cfg.router_id {
            return Err(open_err(
                subcode::open::BAD_BGP_IDENTIFIER,
                format!("BGP identifier {}", peer.bgp_id),
            ));
        }
        // Families: none advertised means IPv4 unicast (RFC 4760).
        let mut theirs: Vec<Family> = peer.families().collect();
        if theirs.is_empty() {
            theirs.push(Family::IPV4_UNICAST);
        }
        let families: Vec<Family> = self
            .cfg
            .families
            .iter()
            .copied()
            .filter(|f| theirs.contains(f))
            .collect();
        if families.is_empty() {
            let mut data = Vec::new();
            for f in &self.cfg.families {
                // Capabilities of known families always fit.
                let _ = Capability::Multiprotocol(*f).emit(&mut data);
            }
            return Err(open_err(
                subcode::open::UNSUPPORTED_CAPABILITY,
                format!(
                    "no common family: we {:?}, peer {theirs:?}",
                    self.cfg.families
                ),
            )
            .with_data(data));
        }
        let (rx, tx) = Ctx::negotiate(&self.local_open(), peer);
        let third = hold / 3;
        let ka = if self.cfg.keepalive == 0 {
            third
        } else {
            self.cfg.keepalive.min(third)
        };
        Ok(Negotiated {
            peer_as,
            peer_id: peer.bgp_id,
            hold,
            keepalive: secs(ka.max(1)),
            rx,
            tx,
            families,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Afi, Safi};

    const T0_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const T1_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    fn cfg(local_as: u32, peer_as: u32, id: Ipv4Addr, passive: bool) -> SessionConfig {
        SessionConfig {
            local_as,
            peer_as: Some(peer_as),
            router_id: id,
            passive,
            ..SessionConfig::default()
        }
    }

    fn parse(bytes: &[u8]) -> Message {
        Message::parse(bytes, &Ctx::new(true)).unwrap()
    }

    /// Two sessions back to back: `a` connects, `b` is passive.
    struct Pipe {
        now: Instant,
        s: [Session; 2],
        log: [Vec<(Instant, Output)>; 2],
        /// Drop what side i sends.
        mute: [bool; 2],
        up: bool,
    }

    impl Pipe {
        fn new(a: SessionConfig, b: SessionConfig) -> Pipe {
            let now = Instant::now();
            Pipe {
                now,
                s: [Session::new(a, now), Session::new(b, now)],
                log: [Vec::new(), Vec::new()],
                mute: [false, false],
                up: false,
            }
        }

        fn start(&mut self) {
            let now = self.now;
            self.s[1].start(now);
            self.s[0].start(now);
            self.pump();
        }

        /// Delivers outputs until both are quiet.
        fn pump(&mut self) {
            let now = self.now;
            loop {
                let mut moved = false;
                for i in 0..2 {
                    let j = 1 - i;
                    while let Some(o) = self.s[i].poll_output() {
                        moved = true;
                        match &o {
                            Output::Connect => {
                                if !self.up && self.s[j].state() == State::Active {
                                    self.up = true;
                                    self.s[i].tcp_connected(now);
                                    self.s[j].tcp_connected(now);
                                } else {
                                    self.s[i].tcp_failed(now);
                                }
                            }
                            Output::Send(b) if self.up && !self.mute[i] => {
                                self.s[j].bytes_received(now, b)
                            }
                            Output::Disconnect if self.up => {
                                self.up = false;
                                self.s[j].tcp_closed(now);
                            }
                            _ => {}
                        }
                        self.log[i].push((now, o));
                    }
                }
                if !moved {
                    break;
                }
            }
        }

        /// Runs timers until `until`.
        fn run(&mut self, d: Duration) {
            let until = self.now + d;
            loop {
                self.pump();
                let next = [self.s[0].poll_timeout(), self.s[1].poll_timeout()]
                    .into_iter()
                    .flatten()
                    .min();
                match next {
                    Some(t) if t <= until => {
                        self.now = self.now.max(t);
                        let now = self.now;
                        self.s[0].handle_timeout(now);
                        self.s[1].handle_timeout(now);
                    }
                    _ => break,
                }
            }
            self.now = until;
        }

        fn sent(&self, i: usize) -> Vec<(Instant, Message)> {
            self.log[i]
                .iter()
                .filter_map(|(t, o)| match o {
                    Output::Send(b) => Some((*t, parse(b))),
                    _ => None,
                })
                .collect()
        }

        fn notifications(&self, i: usize) -> Vec<Notification> {
            self.sent(i)
                .into_iter()
                .filter_map(|(_, m)| match m {
                    Message::Notification(n) => Some(n),
                    _ => None,
                })
                .collect()
        }

        fn downs(&self, i: usize) -> Vec<(Instant, String)> {
            self.log[i]
                .iter()
                .filter_map(|(t, o)| match o {
                    Output::Down { reason } => Some((*t, reason.clone())),
                    _ => None,
                })
                .collect()
        }
    }

    fn established_pipe() -> Pipe {
        let mut p = Pipe::new(
            cfg(65001, 65002, T0_ID, false),
            cfg(65002, 65001, T1_ID, true),
        );
        p.start();
        assert_eq!(p.s[0].state(), State::Established);
        assert_eq!(p.s[1].state(), State::Established);
        p
    }

    #[test]
    fn both_reach_established_and_stay_up() {
        let mut p = established_pipe();
        let est = p.log[0]
            .iter()
            .find_map(|(_, o)| match o {
                Output::Established {
                    peer_as,
                    peer_id,
                    hold_time,
                    rx_ctx,
                    tx_ctx,
                    families,
                } => Some((
                    *peer_as,
                    *peer_id,
                    *hold_time,
                    *rx_ctx,
                    *tx_ctx,
                    families.clone(),
                )),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            est,
            (
                65002,
                T1_ID,
                9,
                Ctx::new(true),
                Ctx::new(true),
                vec![Family::IPV4_UNICAST]
            )
        );
        assert_eq!(p.s[0].peer_id(), Some(T1_ID));
        let before = p.sent(0).len();
        p.run(Duration::from_secs(60));
        assert_eq!(p.s[0].state(), State::Established);
        assert_eq!(p.s[1].state(), State::Established);
        let kas = p.sent(0).len() - before;
        // Every 3 s over 60 s.
        assert!((19..=21).contains(&kas), "{kas} keepalives");
        assert!(p.downs(0).is_empty() && p.downs(1).is_empty());
    }

    #[test]
    fn hold_timer_expires_after_9s() {
        let mut p = established_pipe();
        p.run(Duration::from_secs(10));
        p.mute[0] = true;
        let muted_at = p.now;
        p.run(Duration::from_secs(20));
        let downs = p.downs(1);
        assert_eq!(downs.len(), 1);
        let (t, reason) = &downs[0];
        assert_eq!(reason, "hold timer expired");
        let since = t.duration_since(muted_at);
        assert!(since <= Duration::from_secs(9) && since > Duration::from_secs(6));
        let n = p.notifications(1);
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].code, ErrorCode::HOLD_TIMER_EXPIRED);
        assert_eq!(n[0].subcode, 0);
        // a went down when the connection closed.
        assert_eq!(p.downs(0).len(), 1);
    }

    #[test]
    fn hold_expiry_exactly_9s_after_last_message() {
        let now = Instant::now();
        let mut s = Session::new(cfg(65001, 65002, T0_ID, false), now);
        s.start(now);
        s.tcp_connected(now);
        let mut bytes = Vec::new();
        Open::new(65002, 9, T1_ID, vec![]).emit(&mut bytes).unwrap();
        Message::Keepalive
            .emit(&Ctx::default(), &mut bytes)
            .unwrap();
        s.bytes_received(now, &bytes);
        assert_eq!(s.state(), State::Established);
        let t = now + Duration::from_secs(5);
        s.bytes_received(t, &crate::wire::KEEPALIVE);
        while s.poll_output().is_some() {}
        let mut clock = t;
        while let Some(next) = s.poll_timeout() {
            clock = next;
            s.handle_timeout(clock);
            if s.state() == State::Idle {
                break;
            }
        }
        assert_eq!(clock, t + Duration::from_secs(9));
        let outs: Vec<Output> = std::iter::from_fn(|| s.poll_output()).collect();
        let n = outs
            .iter()
            .find_map(|o| match o {
                Output::Send(b) => match parse(b) {
                    Message::Notification(n) => Some(n),
                    _ => None,
                },
                _ => None,
            })
            .unwrap();
        assert_eq!(n.code, ErrorCode::HOLD_TIMER_EXPIRED);
        assert!(outs.contains(&Output::Disconnect));
        assert!(matches!(outs.last(), Some(Output::Down { .. })));
    }

    fn open_failure(a: SessionConfig, b: SessionConfig, sub: u8) {
        let mut p = Pipe::new(a, b);
        p.start();
        let n = p.notifications(0);
        assert_eq!(n.len(), 1, "{:?}", p.log);
        assert_eq!(n[0].code, ErrorCode::OPEN_MESSAGE_ERROR);
        assert_eq!(n[0].subcode, sub);
        assert_eq!(p.s[0].state(), State::Idle);
        assert_ne!(p.s[1].state(), State::Established);
        assert!(p.downs(0).is_empty());
        assert!(p.s[0].last_error().is_some());
    }

    #[test]
    fn bad_peer_as() {
        open_failure(
            cfg(65001, 65099, T0_ID, false),
            cfg(65002, 65001, T1_ID, true),
            subcode::open::BAD_PEER_AS,
        );
        // A 4-octet AS: My AS is AS_TRANS, the capability carries it.
        let mut p = Pipe::new(
            cfg(65001, 4_200_000_000, T0_ID, false),
            cfg(4_200_000_000, 65001, T1_ID, true),
        );
        p.start();
        assert_eq!(p.s[0].state(), State::Established);
        // Dynamic neighbor: any AS.
        let mut any = cfg(65001, 0, T0_ID, false);
        any.peer_as = None;
        let mut p = Pipe::new(any, cfg(65007, 65001, T1_ID, true));
        p.start();
        assert_eq!(p.s[0].state(), State::Established);
    }

    #[test]
    fn as_trans_mismatch() {
        let now = Instant::now();
        let mut s = Session::new(cfg(65001, 65002, T0_ID, false), now);
        s.start(now);
        s.tcp_connected(now);
        let mut o = Open::new(65002, 9, T1_ID, vec![]);
        o.my_as = 65003;
        let mut bytes = Vec::new();
        o.emit(&mut bytes).unwrap();
        s.bytes_received(now, &bytes);
        let n = first_notification(&mut s);
        assert_eq!(n.subcode, subcode::open::BAD_PEER_AS);
    }

    fn first_notification(s: &mut Session) -> Notification {
        std::iter::from_fn(|| s.poll_output())
            .find_map(|o| match o {
                Output::Send(b) => match parse(&b) {
                    Message::Notification(n) => Some(n),
                    _ => None,
                },
                _ => None,
            })
            .unwrap()
    }

    #[test]
    fn bad_hold_time_1() {
        let now = Instant::now();
        let mut s = Session::new(cfg(65001, 65002, T0_ID, false), now);
        s.start(now);
        s.tcp_connected(now);
        let mut bytes = Vec::new();
        Open::new(65002, 1, T1_ID, vec![]).emit(&mut bytes).unwrap();
        s.bytes_received(now, &bytes);
        let n = first_notification(&mut s);
        assert_eq!(n.code, ErrorCode::OPEN_MESSAGE_ERROR);
        assert_eq!(n.subcode, subcode::open::UNACCEPTABLE_HOLD_TIME);
        assert_eq!(s.state(), State::Idle);
    }

    #[test]
    fn hold_time_zero_and_min() {
        let mut b = cfg(65002, 65001, T1_ID, true);
        b.hold_time = 0;
        let mut p = Pipe::new(cfg(65001, 65002, T0_ID, false), b);
        p.start();
        assert_eq!(p.s[0].state(), State::Established);
        assert_eq!(p.s[0].poll_timeout(), None);
        p.run(Duration::from_secs(600));
        assert_eq!(p.s[0].state(), State::Established);
        let mut b = cfg(65002, 65001, T1_ID, true);
        b.hold_time = 30;
        let mut p = Pipe::new(cfg(65001, 65002, T0_ID, false), b);
        p.start();
        assert!(p.log[1]
            .iter()
            .any(|(_, o)| matches!(o, Output::Established { hold_time: 9, .. })));
    }

    #[test]
    fn same_router_id() {
        open_failure(
            cfg(65001, 65002, T0_ID, false),
            cfg(65002, 65001, T0_ID, true),
            subcode::open::BAD_BGP_IDENTIFIER,
        );
    }

    #[test]
    fn no_common_family() {
        let mut a = cfg(65001, 65002, T0_ID, false);
        a.families = vec![Family::IPV6_UNICAST];
        let mut b = cfg(65002, 65001, T1_ID, true);
        b.families = vec![Family::IPV4_UNICAST, Family::new(Afi::L2VPN, Safi::EVPN)];
        open_failure(a, b, subcode::open::UNSUPPORTED_CAPABILITY);
        let mut a = cfg(65001, 65002, T0_ID, false);
        a.families = vec![Family::IPV6_UNICAST, Family::IPV4_UNICAST];
        let mut p = Pipe::new(a, cfg(65002, 65001, T1_ID, true));
        p.start();
        assert!(p.log[0].iter().any(|(_, o)| matches!(
            o,
            Output::Established { families, .. } if families == &vec![Family::IPV4_UNICAST]
        )));
    }

    #[test]
    fn partial_messages_one_byte_at_a_time() {
        let now = Instant::now();
        let mut s = Session::new(cfg(65001, 65002, T0_ID, true), now);
        s.start(now);
        assert_eq!(s.state(), State::Active);
        assert_eq!(s.poll_output(), None);
        s.tcp_connected(now);
        assert_eq!(s.state(), State::OpenSent);
        assert!(matches!(
            s.poll_output().map(|o| match o {
                Output::Send(b) => parse(&b),
                _ => Message::Keepalive,
            }),
            Some(Message::Open(_))
        ));
        let mut bytes = Vec::new();
        Open::new(65002, 9, T1_ID, vec![]).emit(&mut bytes).unwrap();
        Message::Keepalive
            .emit(&Ctx::default(), &mut bytes)
            .unwrap();
        Message::Update(Box::new(Update::end_of_rib(Family::IPV4_UNICAST)))
            .emit(&Ctx::new(true), &mut bytes)
            .unwrap();
        for b in &bytes {
            s.bytes_received(now, std::slice::from_ref(b));
        }
        assert_eq!(s.state(), State::Established);
        let outs: Vec<Output> = std::iter::from_fn(|| s.poll_output()).collect();
        assert!(matches!(outs.first(), Some(Output::Send(_)))); // our KEEPALIVE
        assert!(matches!(outs.get(1), Some(Output::Established { .. })));
        assert!(
            matches!(outs.get(2), Some(Output::Update(u)) if **u == Update::end_of_rib(Family::IPV4_UNICAST))
        );
        assert_eq!(outs.len(), 3);
    }

    #[test]
    fn framing_error_sends_header_notification() {
        let now = Instant::now();
        let mut s = Session::new(cfg(65001, 65002, T0_ID, false), now);
        s.start(now);
        s.tcp_connected(now);
        let mut bad = crate::wire::KEEPALIVE;
        bad[0] = 0;
        s.bytes_received(now, &bad);
        let n = first_notification(&mut s);
        assert_eq!(n.code, ErrorCode::MESSAGE_HEADER_ERROR);
        assert_eq!(n.subcode, subcode::header::CONNECTION_NOT_SYNCHRONIZED);
        assert_eq!(s.state(), State::Idle);
        // UPDATE in OpenSent: FSM error.
        let mut s = Session::new(cfg(65001, 65002, T0_ID, false), now);
        s.start(now);
        s.tcp_connected(now);
        let mut b = Vec::new();
        Message::Update(Box::new(Update::end_of_rib(Family::IPV4_UNICAST)))
            .emit(&Ctx::new(true), &mut b)
            .unwrap();
        s.bytes_received(now, &b);
        let n = first_notification(&mut s);
        assert_eq!(n.code, ErrorCode::FSM_ERROR);
        assert_eq!(n.subcode, subcode::fsm::UNEXPECTED_IN_OPENSENT);
    }

    #[test]
    fn idle_hold_backoff_doubles() {
        let t0 = Instant::now();
        let mut c = cfg(65001, 65099, T0_ID, false);
        c.idle_hold = Duration::from_secs(1);
        let mut s = Session::new(c, t0);
        s.start(t0);
        let mut now = t0;
        let mut waits = Vec::new();
        for _ in 0..9 {
            assert_eq!(s.poll_output(), Some(Output::Connect));
            s.tcp_connected(now);
            let mut bytes = Vec::new();
            Open::new(65002, 9, T1_ID, vec![]).emit(&mut bytes).unwrap();
            s.bytes_received(now, &bytes);
            assert_eq!(s.state(), State::Idle);
            while s.poll_output().is_some() {}
            let next = s.poll_timeout().unwrap();
            waits.push(next.duration_since(now).as_secs());
            now = next;
            s.handle_timeout(now);
            assert_eq!(s.state(), State::Connect);
        }
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 32, 64, 120, 120]);
        // A stop resets the backoff.
        s.stop(now, "x");
        assert_eq!(s.next_idle_hold(), Duration::from_secs(1));
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn connect_retry() {
        let t0 = Instant::now();
        let mut s = Session::new(cfg(65001, 65002, T0_ID, false), t0);
        s.start(t0);
        assert_eq!(s.poll_output(), Some(Output::Connect));
        s.tcp_failed(t0);
        assert_eq!(s.state(), State::Active);
        let t = s.poll_timeout().unwrap();
        assert_eq!(t, t0 + Duration::from_secs(5));
        s.handle_timeout(t);
        assert_eq!(s.state(), State::Connect);
        assert_eq!(s.poll_output(), Some(Output::Connect));
        // No answer at all: the attempt is abandoned and retried.
        let t2 = s.poll_timeout().unwrap();
        s.handle_timeout(t2);
        assert_eq!(s.poll_output(), Some(Output::Disconnect));
        assert_eq!(s.poll_output(), Some(Output::Connect));
    }

    #[test]
    fn update_delivered_in_established() {
        let mut p = established_pipe();
        let u = Update::end_of_rib(Family::IPV4_UNICAST);
        let now = p.now;
        p.s[0].send_update(now, &u).unwrap();
        p.s[0].send_route_refresh(Family::IPV4_UNICAST);
        p.pump();
        assert!(p.log[1]
            .iter()
            .any(|(_, o)| matches!(o, Output::Update(x) if **x == u)));
        assert!(p.log[1]
            .iter()
            .any(|(_, o)| o == &Output::RouteRefresh(Family::IPV4_UNICAST)));
        assert_eq!(p.s[1].state(), State::Established);
    }

    #[test]
    fn stop_sends_cease() {
        let mut p = established_pipe();
        let now = p.now;
        p.s[0].stop(now, "maintenance");
        p.pump();
        let n = p.notifications(0);
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].code, ErrorCode::CEASE);
        assert_eq!(n[0].subcode, subcode::cease::ADMINISTRATIVE_SHUTDOWN);
        assert_eq!(n[0].shutdown_message(), Some("maintenance"));
        assert_eq!(p.s[0].state(), State::Idle);
        assert_eq!(p.s[1].state(), State::Idle);
        assert_eq!(p.downs(0).len(), 1);
        let d = p.downs(1);
        assert_eq!(d.len(), 1);
        assert!(d[0].1.contains("Administrative Shutdown"), "{}", d[0].1);
        // The stopped side stays down; the peer (started) goes back to
        // Active after its idle hold and waits.
        p.run(Duration::from_secs(30));
        assert_eq!(p.s[0].state(), State::Idle);
        assert_eq!(p.s[1].state(), State::Active);
        // Restart: up again.
        let now = p.now;
        p.s[0].start(now);
        p.pump();
        assert_eq!(p.s[0].state(), State::Established);
    }

    #[test]
    fn collisions() {
        assert!(collision_winner(T1_ID, T0_ID));
        assert!(!collision_winner(T0_ID, T1_ID));
        let mut p = established_pipe();
        let now = p.now;
        p.s[1].close_collision(now);
        p.pump();
        let n = p.notifications(1);
        assert_eq!(
            n[0].subcode,
            subcode::cease::CONNECTION_COLLISION_RESOLUTION
        );
        assert_eq!(p.s[1].state(), State::Idle);
        assert_eq!(p.s[1].poll_timeout(), None);
    }
}
