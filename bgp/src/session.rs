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
//!   down (only `Established` is ever followed by `Down`); `Down` says
//!   whether to keep the peer's routes as stale (graceful restart, below);
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
//!
//! # Graceful restart (RFC 4724), receiving speaker only
//!
//! With [`SessionConfig::graceful_restart`] our OPEN carries the Graceful
//! Restart capability with our Restart Time, the Restart State bit clear
//! and no families, as FRR sends it in its default "helper" mode: we
//! preserve no forwarding state ourselves, but we keep a restarting peer's
//! routes. [`Output::Down::retain`] is `true` when the peer's capability
//! listed at least one of the session's families and the session ended
//! without a NOTIFICATION either way (the connection closed or broke, or
//! the driver called [`Session::peer_restarted`] because the peer opened a
//! new connection while this one was Established). The driver then marks
//! the peer's routes of the families in the peer's capability
//! ([`PeerCaps::graceful_restart`]) stale instead of withdrawing them, for
//! at most the peer's Restart Time, and drops what is still stale once the
//! peer's End-of-RIB marker arrives on the new session (or that session's
//! OPEN lacks the capability or the family's F bit). A NOTIFICATION (hold
//! timer expiry included) always ends the session for good: the N bit of
//! RFC 8538 is neither sent nor honoured.

use std::collections::VecDeque;
use std::fmt;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::wire::{
    as2, frame, subcode, AddPathEntry, Capability, Ctx, EmitError, ErrorCode, Family,
    GracefulRestart, Message, MessageType, Notification, Open, RouteRefresh, RouteRefreshSubtype,
    Update, WireError, AS_TRANS, HEADER_LEN,
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
    /// Our Restart Time in seconds (at most 4095) for the Graceful Restart
    /// capability (RFC 4724) we send as a helper; `None` sends none. See
    /// the [module documentation](self#graceful-restart-rfc-4724-receiving-speaker-only).
    pub graceful_restart: Option<u16>,
    /// What we offer in the ADD-PATH capability (RFC 7911); empty sends
    /// none.
    pub add_path: Vec<AddPathEntry>,
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
            graceful_restart: Some(120),
            add_path: Vec::new(),
        }
    }
}

/// The capabilities the peer advertised in its OPEN.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeerCaps {
    /// Route Refresh (RFC 2918, code 2).
    pub route_refresh: bool,
    /// Enhanced Route Refresh (RFC 7313).
    pub enhanced_route_refresh: bool,
    /// Graceful Restart (RFC 4724), as advertised.
    pub graceful_restart: Option<GracefulRestart>,
    /// 4-octet AS numbers (RFC 6793).
    pub four_octet_as: bool,
    /// ADD-PATH (RFC 7911), as advertised.
    pub add_path: Vec<AddPathEntry>,
}

impl PeerCaps {
    fn of(peer: &Open) -> PeerCaps {
        let has = |want: &Capability| peer.capabilities.iter().any(|c| c == want);
        PeerCaps {
            route_refresh: has(&Capability::RouteRefresh),
            enhanced_route_refresh: has(&Capability::EnhancedRouteRefresh),
            graceful_restart: peer.capabilities.iter().find_map(|c| match c {
                Capability::GracefulRestart(g) => Some(g.clone()),
                _ => None,
            }),
            four_octet_as: peer.four_octet_as().is_some(),
            add_path: peer
                .capabilities
                .iter()
                .flat_map(|c| match c {
                    Capability::AddPath(v) => v.as_slice(),
                    _ => &[],
                })
                .copied()
                .collect(),
        }
    }
}

/// Messages sent and received, by type, over the life of the [`Session`]
/// (all its connections). A message counts when it is framed: received
/// messages that then fail to parse count too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// All messages received.
    pub msgs_in: u64,
    /// All messages sent.
    pub msgs_out: u64,
    /// UPDATEs received.
    pub updates_in: u64,
    /// UPDATEs sent.
    pub updates_out: u64,
    /// KEEPALIVEs received.
    pub keepalives_in: u64,
    /// KEEPALIVEs sent.
    pub keepalives_out: u64,
    /// NOTIFICATIONs received.
    pub notifications_in: u64,
    /// NOTIFICATIONs sent.
    pub notifications_out: u64,
    /// OPENs received.
    pub opens_in: u64,
    /// OPENs sent.
    pub opens_out: u64,
    /// ROUTE-REFRESHes received.
    pub route_refresh_in: u64,
    /// ROUTE-REFRESHes sent.
    pub route_refresh_out: u64,
}

impl Counters {
    fn count(&mut self, ty: MessageType, inbound: bool) {
        if inbound {
            self.msgs_in += 1;
        } else {
            self.msgs_out += 1;
        }
        let n = match (ty, inbound) {
            (MessageType::OPEN, true) => &mut self.opens_in,
            (MessageType::OPEN, false) => &mut self.opens_out,
            (MessageType::UPDATE, true) => &mut self.updates_in,
            (MessageType::UPDATE, false) => &mut self.updates_out,
            (MessageType::NOTIFICATION, true) => &mut self.notifications_in,
            (MessageType::NOTIFICATION, false) => &mut self.notifications_out,
            (MessageType::KEEPALIVE, true) => &mut self.keepalives_in,
            (MessageType::KEEPALIVE, false) => &mut self.keepalives_out,
            (MessageType::ROUTE_REFRESH, true) => &mut self.route_refresh_in,
            (MessageType::ROUTE_REFRESH, false) => &mut self.route_refresh_out,
            _ => return,
        };
        *n += 1;
    }

    /// Counts the whole messages at the start of `bytes`.
    fn count_all(&mut self, mut bytes: &[u8], inbound: bool) {
        while let Ok(Some(len)) = frame(bytes) {
            if let Some(t) = bytes.get(HEADER_LEN - 1) {
                self.count(MessageType(*t), inbound);
            }
            bytes = bytes.get(len..).unwrap_or_default();
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
        /// What the peer advertised.
        peer_caps: PeerCaps,
    },
    /// The Established session went down.
    Down {
        /// Why, for humans.
        reason: String,
        /// Keep the peer's routes as stale rather than withdrawing them
        /// (RFC 4724): the peer advertised Graceful Restart with at least
        /// one of the session's families, and no NOTIFICATION was sent or
        /// received. See the [module documentation](self#graceful-restart-rfc-4724-receiving-speaker-only).
        retain: bool,
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
    caps: PeerCaps,
}

/// How a connection ends.
#[derive(Debug)]
enum Ending {
    /// Without a NOTIFICATION: the connection closed or broke, or the peer
    /// restarted.
    Silent,
    /// We send this NOTIFICATION (if a connection is up).
    Send(Notification),
    /// The peer sent this NOTIFICATION.
    Received(Notification),
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
    counters: Counters,
    last_notification: Option<String>,
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
            counters: Counters::default(),
            last_notification: None,
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

    /// The last NOTIFICATION sent or received, for humans:
    /// `sent Cease/Administrative Shutdown "maintenance"`, `received
    /// HoldTimerExpired/0`.
    pub fn last_notification(&self) -> Option<&str> {
        self.last_notification.as_deref()
    }

    /// What the peer advertised in its OPEN, once that OPEN was accepted
    /// (OpenConfirm and Established).
    pub fn peer_caps(&self) -> Option<&PeerCaps> {
        self.neg.as_ref().map(|n| &n.caps)
    }

    /// The decode context for what the peer sends, once its OPEN was
    /// accepted (OpenConfirm and Established).
    pub fn rx_ctx(&self) -> Option<&Ctx> {
        self.neg.as_ref().map(|n| &n.rx)
    }

    /// The encode context for what we send, once the peer's OPEN was
    /// accepted (OpenConfirm and Established).
    pub fn tx_ctx(&self) -> Option<&Ctx> {
        self.neg.as_ref().map(|n| &n.tx)
    }

    /// The families both sides offered; empty unless Established.
    pub fn families(&self) -> &[Family] {
        match &self.neg {
            Some(n) if self.state == State::Established => &n.families,
            _ => &[],
        }
    }

    /// When the session became Established (`None` unless it is).
    pub fn established_since(&self) -> Option<Instant> {
        self.established_at
            .filter(|_| self.state == State::Established)
    }

    /// Messages sent and received so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
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
            Ending::Send(n),
            format!("administratively stopped: {reason}"),
            true,
        );
        self.idle_hold = self.cfg.idle_hold.min(IDLE_HOLD_MAX);
    }

    /// BFD declared the path to the peer down (RFC 9384): close with
    /// Cease/BFD Down; the session starts again after the idle hold time,
    /// as after any failure.
    pub fn bfd_down(&mut self, now: Instant) {
        let n = Notification::cease(subcode::cease::BFD_DOWN);
        self.close(now, Ending::Send(n), "BFD down".into(), true);
    }

    /// Closes this connection as the loser of a connection collision
    /// (Cease/Connection Collision Resolution); the session stays in Idle
    /// and does not restart. See the [module documentation](self).
    pub fn close_collision(&mut self, now: Instant) {
        self.started = false;
        let n = Notification::cease(subcode::cease::CONNECTION_COLLISION_RESOLUTION);
        self.close(now, Ending::Send(n), "connection collision".into(), true);
    }

    /// The peer opened a new connection while this session is Established:
    /// it restarted (RFC 4724 section 4.2). Closes this connection without
    /// a NOTIFICATION, reports [`Output::Down`] (with `retain` if the peer
    /// advertised Graceful Restart) and goes to Idle, restarting after the
    /// idle hold time as after any failure. The driver hands the new
    /// connection to another session. Does nothing in other states
    /// (there, a second connection is a collision, see the
    /// [module documentation](self)).
    pub fn peer_restarted(&mut self, now: Instant) {
        if self.state == State::Established {
            self.close(
                now,
                Ending::Silent,
                "peer restarted (new connection)".into(),
                true,
            );
        }
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
                self.close(
                    now,
                    Ending::Silent,
                    "connection closed by peer".into(),
                    false,
                );
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
                Ok(Some(len)) => {
                    if let Some(t) = rest.get(HEADER_LEN - 1) {
                        self.counters.count(MessageType(*t), true);
                    }
                    len
                }
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
            self.close(now, Ending::Send(n), "hold timer expired".into(), true);
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

    /// Sends an UPDATE (Established only, else ignored); it restarts the
    /// keepalive timer.
    pub fn send_update(&mut self, now: Instant, update: &Update) -> Result<(), EmitError> {
        let Some(tx) = self.neg.as_ref().map(|n| n.tx) else {
            return Ok(());
        };
        if self.state != State::Established {
            return Ok(());
        }
        let mut buf = Vec::new();
        update.emit(&tx, &mut buf)?;
        self.send_raw(now, buf);
        Ok(())
    }

    /// Sends whole messages encoded by the caller, typically UPDATEs from
    /// [`UpdateBuilder`](crate::wire::UpdateBuilder) with
    /// [`Session::tx_ctx`] (Established only, else ignored); like any
    /// message sent it restarts the keepalive timer (RFC 4271 section
    /// 4.4).
    pub fn send_raw(&mut self, now: Instant, bytes: Vec<u8>) {
        if self.state != State::Established || self.neg.is_none() || bytes.is_empty() {
            return;
        }
        self.push_send(bytes);
        self.arm_keepalive(now);
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
        if let Some(t) = self.cfg.graceful_restart {
            // Helper mode: no families, we preserve no forwarding state.
            caps.push(Capability::GracefulRestart(GracefulRestart {
                restart_state: false,
                notification: false,
                restart_time: t.min(0x0fff),
                families: Vec::new(),
            }));
        }
        if !self.cfg.add_path.is_empty() {
            caps.push(Capability::AddPath(self.cfg.add_path.clone()));
        }
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
            self.push_send(buf);
        }
    }

    fn push_send(&mut self, buf: Vec<u8>) {
        self.counters.count_all(&buf, false);
        self.out.push_back(Output::Send(buf));
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
        self.close(now, Ending::Send(e.to_notification()), e.to_string(), true);
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
            Ending::Send(n),
            format!("unexpected {what} in {}", self.state),
            true,
        );
    }

    /// Goes to Idle: sends the NOTIFICATION of `ending` if a connection is
    /// up, closes it (if `disconnect`), reports Down if Established, and
    /// arms the idle hold timer if still started.
    fn close(&mut self, now: Instant, ending: Ending, reason: String, disconnect: bool) {
        let connected = matches!(
            self.state,
            State::OpenSent | State::OpenConfirm | State::Established
        );
        let silent = matches!(ending, Ending::Silent);
        match ending {
            Ending::Send(n) if connected => {
                self.last_notification = Some(format!("sent {n}"));
                self.send(&Message::Notification(n));
            }
            Ending::Received(n) => self.last_notification = Some(format!("received {n}")),
            Ending::Send(_) | Ending::Silent => {}
        }
        if disconnect && self.state != State::Idle {
            self.out.push_back(Output::Disconnect);
        }
        if self.state == State::Established {
            let retain = silent && self.neg.as_ref().is_some_and(Negotiated::peer_restarts);
            self.out.push_back(Output::Down {
                reason: reason.clone(),
                retain,
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
        let msg = match msg {
            Message::Notification(n) => {
                let reason = format!("received NOTIFICATION {n}");
                self.close(now, Ending::Received(n), reason, true);
                return;
            }
            other => other,
        };
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
            peer_caps: n.caps,
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
            caps: PeerCaps::of(peer),
        })
    }
}

impl Negotiated {
    /// The peer's Graceful Restart capability lists a family of the
    /// session: its routes of such families outlive a silent end.
    fn peer_restarts(&self) -> bool {
        self.caps
            .graceful_restart
            .as_ref()
            .is_some_and(|g| g.families.iter().any(|f| self.families.contains(&f.family)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{AddPathMode, Afi, CapabilityCode, Safi};

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
                    Output::Down { reason, .. } => Some((*t, reason.clone())),
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
                    ..
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
    fn bfd_down_sends_cease_bfd_down_and_comes_back() {
        let mut p = established_pipe();
        let now = p.now;
        p.s[0].bfd_down(now);
        p.pump();
        let n = p.notifications(0);
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].code, ErrorCode::CEASE);
        assert_eq!(n[0].subcode, subcode::cease::BFD_DOWN);
        assert_eq!(p.s[0].state(), State::Idle);
        let d = p.downs(0);
        assert_eq!(d.len(), 1);
        assert!(d[0].1.contains("BFD down"), "{}", d[0].1);
        assert!(
            p.log[0]
                .iter()
                .any(|(_, o)| matches!(o, Output::Down { retain: false, .. })),
            "no graceful restart after BFD down"
        );
        // Not a ManualStop: the session starts again by itself.
        p.run(Duration::from_secs(30));
        assert_eq!(p.s[0].state(), State::Established);
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

    // ---- graceful restart, ADD-PATH, send_raw, counters ----

    fn drain(s: &mut Session) -> Vec<Output> {
        std::iter::from_fn(|| s.poll_output()).collect()
    }

    fn sent_messages(outs: &[Output]) -> Vec<Message> {
        outs.iter()
            .filter_map(|o| match o {
                Output::Send(b) => Some(parse(b)),
                _ => None,
            })
            .collect()
    }

    fn our_open(c: SessionConfig) -> (Open, Vec<u8>) {
        let now = Instant::now();
        let mut s = Session::new(c, now);
        s.start(now);
        s.tcp_connected(now);
        let bytes = drain(&mut s)
            .into_iter()
            .find_map(|o| match o {
                Output::Send(b) => Some(b),
                _ => None,
            })
            .unwrap();
        match parse(&bytes) {
            Message::Open(o) => (o, bytes),
            other => panic!("{other:?}"),
        }
    }

    fn gr(families: &[Family]) -> Capability {
        Capability::GracefulRestart(GracefulRestart {
            restart_time: 90,
            families: families
                .iter()
                .map(|f| crate::wire::GrFamily {
                    family: *f,
                    forwarding_preserved: true,
                })
                .collect(),
            ..GracefulRestart::default()
        })
    }

    /// Session `cfg(65001, 65002)` Established at `now` with a peer whose
    /// OPEN is `peer`; returns it and what it output on the way.
    fn up_with_open(peer: Open, now: Instant) -> (Session, Vec<Output>) {
        let mut s = Session::new(cfg(65001, 65002, T0_ID, false), now);
        s.start(now);
        s.tcp_connected(now);
        let mut bytes = Vec::new();
        peer.emit(&mut bytes).unwrap();
        Message::Keepalive
            .emit(&Ctx::default(), &mut bytes)
            .unwrap();
        s.bytes_received(now, &bytes);
        assert_eq!(s.state(), State::Established);
        let outs = drain(&mut s);
        (s, outs)
    }

    fn up_with(caps: Vec<Capability>, now: Instant) -> Session {
        up_with_open(Open::new(65002, 9, T1_ID, caps), now).0
    }

    fn down_of(outs: &[Output]) -> (String, bool) {
        let downs: Vec<(String, bool)> = outs
            .iter()
            .filter_map(|o| match o {
                Output::Down { reason, retain } => Some((reason.clone(), *retain)),
                _ => None,
            })
            .collect();
        assert_eq!(downs.len(), 1, "{outs:?}");
        downs[0].clone()
    }

    #[test]
    fn graceful_restart_capability_in_open() {
        // Default: helper mode, 120 s, R bit clear, no families (as FRR).
        let (open, bytes) = our_open(cfg(65001, 65002, T0_ID, false));
        let grs: Vec<&Capability> = open
            .capabilities
            .iter()
            .filter(|c| matches!(c, Capability::GracefulRestart(_)))
            .collect();
        assert_eq!(
            grs,
            [&Capability::GracefulRestart(GracefulRestart {
                restart_time: 120,
                ..GracefulRestart::default()
            })]
        );
        assert!(bytes.windows(4).any(|w| w == [64, 2, 0, 120]));
        // No ADD-PATH unless configured.
        assert!(!open
            .capabilities
            .iter()
            .any(|c| matches!(c, Capability::AddPath(_))));
        // Off.
        let mut c = cfg(65001, 65002, T0_ID, false);
        c.graceful_restart = None;
        let (open, _) = our_open(c);
        assert!(!open
            .capabilities
            .iter()
            .any(|c| matches!(c, Capability::GracefulRestart(_))));
        // Restart Time has 12 bits.
        let mut c = cfg(65001, 65002, T0_ID, false);
        c.graceful_restart = Some(5000);
        let (open, _) = our_open(c);
        assert!(open
            .capabilities
            .iter()
            .any(|c| matches!(c, Capability::GracefulRestart(g) if g.restart_time == 4095)));
    }

    #[test]
    fn peer_caps_decoded() {
        let now = Instant::now();
        let g = GracefulRestart {
            restart_state: true,
            notification: true,
            restart_time: 90,
            families: vec![crate::wire::GrFamily {
                family: Family::IPV4_UNICAST,
                forwarding_preserved: true,
            }],
        };
        let ap = vec![AddPathEntry {
            family: Family::IPV4_UNICAST,
            mode: AddPathMode::SEND,
        }];
        let caps = vec![
            Capability::RouteRefresh,
            Capability::EnhancedRouteRefresh,
            Capability::GracefulRestart(g.clone()),
            Capability::AddPath(ap.clone()),
            Capability::Unknown {
                code: CapabilityCode::ROUTE_REFRESH_CISCO,
                value: vec![],
            },
        ];
        let (s, outs) = up_with_open(Open::new(65002, 9, T1_ID, caps), now);
        let want = PeerCaps {
            route_refresh: true,
            enhanced_route_refresh: true,
            graceful_restart: Some(g),
            four_octet_as: true,
            add_path: ap,
        };
        assert!(outs
            .iter()
            .any(|o| matches!(o, Output::Established { peer_caps, .. } if *peer_caps == want)));
        assert_eq!(s.peer_caps(), Some(&want));
        // A plain RFC 4271 peer: nothing.
        let plain = Open {
            my_as: 65002,
            hold_time: 9,
            bgp_id: T1_ID,
            capabilities: vec![],
        };
        let (s, _) = up_with_open(plain, now);
        assert_eq!(s.peer_caps(), Some(&PeerCaps::default()));
        assert_eq!(s.rx_ctx(), Some(&Ctx::new(false)));
        // Not before the peer's OPEN.
        let mut s = Session::new(cfg(65001, 65002, T0_ID, false), now);
        s.start(now);
        s.tcp_connected(now);
        assert_eq!(s.peer_caps(), None);
        assert_eq!(s.tx_ctx(), None);
        assert!(s.families().is_empty());
    }

    #[test]
    fn retain_after_silent_end_with_gr_peer() {
        let now = Instant::now();
        let v4 = [Family::IPV4_UNICAST];
        // TCP closed or broken: keep the routes.
        let mut s = up_with(vec![gr(&v4)], now);
        s.tcp_closed(now);
        let outs = drain(&mut s);
        assert_eq!(down_of(&outs), ("connection closed by peer".into(), true));
        assert!(sent_messages(&outs).is_empty());
        assert_eq!(s.last_notification(), None);
        assert_eq!(s.state(), State::Idle);
        let mut s = up_with(vec![gr(&v4)], now);
        s.tcp_failed(now);
        assert!(down_of(&drain(&mut s)).1);
        // Without GR, or GR without (common) families: withdraw.
        for caps in [vec![], vec![gr(&[])], vec![gr(&[Family::IPV6_UNICAST])]] {
            let mut s = up_with(caps, now);
            s.tcp_closed(now);
            assert!(!down_of(&drain(&mut s)).1);
        }
    }

    #[test]
    fn no_retain_after_notification() {
        let now = Instant::now();
        let v4 = [Family::IPV4_UNICAST];
        // Received.
        let mut s = up_with(vec![gr(&v4)], now);
        let mut b = Vec::new();
        Message::Notification(Notification::cease(subcode::cease::PEER_DECONFIGURED))
            .emit(&Ctx::default(), &mut b)
            .unwrap();
        s.bytes_received(now, &b);
        let outs = drain(&mut s);
        assert!(!down_of(&outs).1);
        assert!(outs.contains(&Output::Disconnect));
        assert!(s
            .last_notification()
            .unwrap()
            .starts_with("received CEASE/Peer De-configured"));
        assert_eq!(s.counters().notifications_in, 1);
        // Hold timer expiry sends one.
        let mut s = up_with(vec![gr(&v4)], now);
        s.handle_timeout(now + Duration::from_secs(9));
        let outs = drain(&mut s);
        assert!(!down_of(&outs).1);
        assert!(matches!(
            sent_messages(&outs).as_slice(),
            [Message::Notification(n)] if n.code == ErrorCode::HOLD_TIMER_EXPIRED
        ));
        assert!(s.last_notification().unwrap().starts_with("sent "));
        // Stop, collision, a malformed message.
        let mut s = up_with(vec![gr(&v4)], now);
        s.stop(now, "bye");
        assert!(!down_of(&drain(&mut s)).1);
        assert!(s.last_notification().unwrap().contains("bye"));
        let mut s = up_with(vec![gr(&v4)], now);
        s.close_collision(now);
        assert!(!down_of(&drain(&mut s)).1);
        let mut s = up_with(vec![gr(&v4)], now);
        let mut bad = crate::wire::KEEPALIVE;
        bad[0] = 0;
        s.bytes_received(now, &bad);
        assert!(!down_of(&drain(&mut s)).1);
    }

    #[test]
    fn peer_restarted_closes_silently() {
        let now = Instant::now();
        let mut s = up_with(vec![gr(&[Family::IPV4_UNICAST])], now);
        let t = now + Duration::from_secs(4);
        s.bytes_received(t, &crate::wire::KEEPALIVE);
        s.peer_restarted(t);
        let outs = drain(&mut s);
        assert_eq!(
            outs,
            vec![
                Output::Disconnect,
                Output::Down {
                    reason: "peer restarted (new connection)".into(),
                    retain: true
                }
            ]
        );
        assert_eq!(s.state(), State::Idle);
        assert_eq!(s.counters().notifications_out, 0);
        assert_eq!(s.last_notification(), None);
        assert!(s.families().is_empty() && s.established_since().is_none());
        // The usual restart after the idle hold time.
        assert_eq!(s.poll_timeout(), Some(t + Duration::from_secs(1)));
        s.handle_timeout(t + Duration::from_secs(1));
        assert_eq!(s.poll_output(), Some(Output::Connect));
        assert_eq!(s.state(), State::Connect);
        // Without GR: nothing kept.
        let mut s = up_with(vec![], now);
        s.peer_restarted(now);
        assert!(!down_of(&drain(&mut s)).1);
        // Not Established: nothing happens (that is a collision).
        let mut s = Session::new(cfg(65001, 65002, T0_ID, false), now);
        s.peer_restarted(now);
        assert_eq!(s.poll_output(), None);
        s.start(now);
        s.tcp_connected(now);
        drain(&mut s);
        s.peer_restarted(now);
        assert_eq!(s.poll_output(), None);
        assert_eq!(s.state(), State::OpenSent);
    }

    #[test]
    fn add_path_negotiation() {
        let v4 = Family::IPV4_UNICAST;
        let e = |f: Family, m: AddPathMode| vec![AddPathEntry { family: f, mode: m }];
        let (r, snd, both) = (AddPathMode::RECEIVE, AddPathMode::SEND, AddPathMode::BOTH);
        // (a offers, b offers, a receives path ids, a sends path ids)
        let cases = [
            (e(v4, r), e(v4, snd), true, false),
            (e(v4, snd), e(v4, r), false, true),
            (e(v4, both), e(v4, both), true, true),
            (e(v4, both), e(v4, r), false, true),
            (e(v4, both), e(v4, snd), true, false),
            (e(v4, snd), e(v4, snd), false, false),
            (e(v4, r), e(v4, r), false, false),
            (e(v4, both), vec![], false, false),
            (vec![], e(v4, both), false, false),
            (e(v4, both), e(Family::IPV6_UNICAST, both), false, false),
        ];
        for (ours, theirs, a_rx, a_tx) in cases {
            let mut a = cfg(65001, 65002, T0_ID, false);
            a.add_path = ours.clone();
            let mut b = cfg(65002, 65001, T1_ID, true);
            b.add_path = theirs.clone();
            let mut p = Pipe::new(a, b);
            p.start();
            let what = format!("{ours:?} / {theirs:?}");
            let est = |i: usize| {
                p.log[i]
                    .iter()
                    .find_map(|(_, o)| match o {
                        Output::Established {
                            rx_ctx,
                            tx_ctx,
                            peer_caps,
                            ..
                        } => Some((*rx_ctx, *tx_ctx, peer_caps.add_path.clone())),
                        _ => None,
                    })
                    .unwrap()
            };
            let (rx0, tx0, caps0) = est(0);
            let (rx1, tx1, caps1) = est(1);
            assert_eq!((rx0.add_path(v4), tx0.add_path(v4)), (a_rx, a_tx), "{what}");
            assert_eq!((rx1.add_path(v4), tx1.add_path(v4)), (a_tx, a_rx), "{what}");
            assert_eq!((caps0, caps1), (theirs, ours), "{what}");
            assert_eq!(p.s[0].rx_ctx(), Some(&rx0));
            assert_eq!(p.s[0].tx_ctx(), Some(&tx0));
        }
        // Path identifiers go through.
        let mut a = cfg(65001, 65002, T0_ID, false);
        a.add_path = e(v4, both);
        let mut b = cfg(65002, 65001, T1_ID, true);
        b.add_path = e(v4, both);
        let mut p = Pipe::new(a, b);
        p.start();
        let attrs = crate::wire::PathAttrs {
            origin: Some(crate::wire::Origin::Igp),
            as_path: Some(crate::wire::AsPath::sequence([65001])),
            next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
            ..crate::wire::PathAttrs::default()
        };
        let nlri = [crate::wire::Nlri::with_path_id(
            "10.1.0.0/16".parse().unwrap(),
            7,
        )];
        let mut wire = Vec::new();
        crate::wire::UpdateBuilder::ipv4_unicast(&attrs, p.s[0].tx_ctx().unwrap())
            .unwrap()
            .announce(&nlri, &mut wire)
            .unwrap();
        let now = p.now;
        p.s[0].send_raw(now, wire);
        p.pump();
        assert!(p.log[1]
            .iter()
            .any(|(_, o)| matches!(o, Output::Update(u) if u.nlri == nlri)));
    }

    #[test]
    fn send_raw_restarts_keepalive() {
        let t0 = Instant::now();
        let mut s = up_with(vec![], t0);
        assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(3)));
        let attrs = crate::wire::PathAttrs {
            origin: Some(crate::wire::Origin::Igp),
            as_path: Some(crate::wire::AsPath::sequence([65001])),
            next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
            ..crate::wire::PathAttrs::default()
        };
        let prefixes: Vec<crate::wire::Nlri4> = (0..2000u32)
            .map(|i| {
                crate::wire::Nlri::new(
                    ipnetwork::Ipv4Network::new((0x0a00_0000 + (i << 8)).into(), 24).unwrap(),
                )
            })
            .collect();
        let mut wire = Vec::new();
        let n = crate::wire::UpdateBuilder::ipv4_unicast(&attrs, s.tx_ctx().unwrap())
            .unwrap()
            .announce(&prefixes, &mut wire)
            .unwrap();
        assert_eq!(n, 2);
        let before = *s.counters();
        let t = t0 + Duration::from_secs(2);
        s.send_raw(t, wire.clone());
        assert_eq!(s.poll_output(), Some(Output::Send(wire)));
        assert_eq!(s.counters().updates_out, before.updates_out + 2);
        assert_eq!(s.counters().msgs_out, before.msgs_out + 2);
        // The keepalive due at t0 + 3 s moved to t + 3 s.
        assert_eq!(s.poll_timeout(), Some(t + Duration::from_secs(3)));
        s.handle_timeout(t0 + Duration::from_secs(3));
        assert_eq!(s.poll_output(), None);
        s.handle_timeout(t + Duration::from_secs(3));
        assert_eq!(
            s.poll_output(),
            Some(Output::Send(crate::wire::KEEPALIVE.to_vec()))
        );
        // send_update shares it.
        let t2 = t + Duration::from_secs(4);
        s.send_update(t2, &Update::end_of_rib(Family::IPV4_UNICAST))
            .unwrap();
        assert!(matches!(s.poll_output(), Some(Output::Send(_))));
        assert_eq!(s.poll_timeout(), Some(t2 + Duration::from_secs(3)));
        // Ignored unless Established.
        s.tcp_closed(t2);
        drain(&mut s);
        let c = *s.counters();
        s.send_raw(t2, crate::wire::KEEPALIVE.to_vec());
        assert_eq!(s.poll_output(), None);
        assert_eq!(*s.counters(), c);
    }

    #[test]
    fn counters_and_show_state() {
        let mut p = established_pipe();
        let up_at = p.now;
        assert_eq!(p.s[0].established_since(), Some(up_at));
        assert_eq!(p.s[0].families(), [Family::IPV4_UNICAST]);
        p.run(Duration::from_secs(10));
        let now = p.now;
        p.s[0]
            .send_update(now, &Update::end_of_rib(Family::IPV4_UNICAST))
            .unwrap();
        p.s[0].send_route_refresh(Family::IPV4_UNICAST);
        p.pump();
        p.s[0].stop(now, "maintenance");
        p.pump();
        let (a, b) = (*p.s[0].counters(), *p.s[1].counters());
        assert_eq!(
            (a.opens_out, a.opens_in, b.opens_out, b.opens_in),
            (1, 1, 1, 1)
        );
        assert_eq!((a.updates_out, b.updates_in), (1, 1));
        assert_eq!((a.route_refresh_out, b.route_refresh_in), (1, 1));
        assert_eq!((a.notifications_out, b.notifications_in), (1, 1));
        assert_eq!((a.updates_in, a.notifications_in), (0, 0));
        // About one keepalive every 3 s each way, plus the OPEN answer.
        assert!((4..=6).contains(&a.keepalives_out), "{a:?}");
        assert_eq!(a.keepalives_out, b.keepalives_in);
        assert_eq!(a.keepalives_in, b.keepalives_out);
        assert_eq!(a.msgs_out, b.msgs_in);
        assert_eq!(a.msgs_in, b.msgs_out);
        let sent = a.opens_out
            + a.updates_out
            + a.keepalives_out
            + a.notifications_out
            + a.route_refresh_out;
        assert_eq!(a.msgs_out, sent);
        assert_eq!(
            p.s[0].last_notification(),
            Some(r#"sent CEASE/Administrative Shutdown "maintenance""#)
        );
        assert_eq!(
            p.s[1].last_notification(),
            Some(r#"received CEASE/Administrative Shutdown "maintenance""#)
        );
        assert_eq!(p.s[0].established_since(), None);
        assert!(p.s[0].families().is_empty());
    }
}
