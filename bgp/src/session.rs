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

    /// The peer has taken none of our bytes for the send hold time (RFC
    /// 9687): close with Send Hold Timer Expired (the NOTIFICATION will
    /// likely not get through, but the connection goes) and start again
    /// after the idle hold time, as after any failure. Only once OPENs
    /// were exchanged; does nothing in other states.
    pub fn send_hold_expired(&mut self, now: Instant) {
        if matches!(self.state, State::OpenConfirm | State::Established) {
            let n = Notification::new(ErrorCode::SEND_HOLD_TIMER_EXPIRED, 0, Vec::new());
            self.close(now, Ending::Send(n), "send hold timer expired".into(), true);
        }
    }

    /// More prefixes arrived than the configured maximum (RFC 4486): close
    /// with Cease/Maximum Number of Prefixes Reached carrying `data` (RFC
    /// 4486 section 4: AFI, SAFI and the limit) and stay in Idle until the
    /// next [`Session::start`], like [`Session::stop`]. `reason` is what
    /// [`Output::Down`] and [`Session::last_error`] say.
    pub fn max_prefix_exceeded(&mut self, now: Instant, data: Vec<u8>, reason: &str) {
        self.started = false;
        let n = Notification::new(
            ErrorCode::CEASE,
            subcode::cease::MAXIMUM_PREFIXES_REACHED,
            data,
        );
        self.close(now, Ending::Send(n), reason.to_string(), true);
        self.idle_hold = self.cfg.idle_hold.min(IDLE_HOLD_MAX);
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

    /// For a caller that delivers encoded messages itself (without
    /// [`Output::Send`]): counts them as sent and restarts the keepalive
    /// timer, as [`Session::send_raw`] does. Whether they may go
    /// (Established only); leaves what the session queued alone.
    pub fn sent_directly(&mut self, now: Instant, bytes: &[u8]) -> bool {
        if self.state != State::Established || self.neg.is_none() || bytes.is_empty() {
            return false;
        }
        self.counters.count_all(bytes, false);
        self.arm_keepalive(now);
        true
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
                Message::Keepalive => {
                    self.arm_hold(now);
                    self.keepalive_early(now);
                }
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

    /// The peer's KEEPALIVE came in and ours is due within a third of the
    /// interval: send it now, so that it carries the TCP acknowledgement
    /// of the peer's (one segment where there would be two: the delayed
    /// ACK, then ours) and this session's timer wakes once per interval,
    /// not twice. The two ends' keepalives fall into step and stay there
    /// (the next of ours waits a sixth of the interval more for that).
    /// Never sooner than two thirds of the interval after the last
    /// message, nor than a second (RFC 4271 section 4.4).
    fn keepalive_early(&mut self, now: Instant) {
        let (Some(at), Some(n)) = (self.keepalive_at, self.neg.as_ref()) else {
            return;
        };
        let left = at.saturating_duration_since(now);
        let since = n.keepalive.saturating_sub(left);
        if left <= n.keepalive / 3 && since >= Duration::from_secs(1) {
            let interval = n.keepalive;
            self.send(&Message::Keepalive);
            // A sixth later than a plain interval, so that the peer's
            // next, a little late by its timer and the path, still comes
            // first: in step, our timer never fires. (Hold 9 s, 3.5 s
            // between ours: still two and a half in each hold time.)
            self.keepalive_at = Some(now + interval + interval / 6);
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
mod tests;
