//! The neighbors: their connections and sessions, what the established
//! session agreed, and adding and removing them.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipnetwork::IpNetwork;
use tracing::{info, warn};

use super::{family_of, AdjOut, ConnId, Output, PeerConfig, Speaker, AFIS};
use crate::rib::{Afi, PeerIdx, PeerMeta, RouteAttrs};
use crate::session::{PeerCaps, Session, SessionConfig, State};
use crate::wire::{frame, AddPathEntry, AddPathMode};

/// One TCP connection and the session on it.
#[derive(Debug)]
pub struct Conn {
    /// The connection's number.
    pub id: ConnId,
    /// The session FSM on it.
    pub session: Session,
    /// We connected out (for collision resolution).
    pub outbound: bool,
    /// The driver has a socket for it.
    pub attached: bool,
    /// The socket's local address.
    pub local: Option<SocketAddr>,
    /// Bytes handed to the driver ([`Output::Transmit`]) that it has not
    /// reported written ([`Speaker::handle_written`]).
    pub unacked: usize,
    /// The same bytes chunk by chunk, oldest first: (bytes, messages).
    in_flight: VecDeque<(usize, u32)>,
    /// Since when bytes have waited without the driver reporting any
    /// progress (the send hold timer runs from here, RFC 9687).
    pub stalled_since: Option<Instant>,
}

impl Conn {
    pub(super) fn new(
        id: ConnId,
        session: Session,
        outbound: bool,
        attached: bool,
        local: Option<SocketAddr>,
    ) -> Conn {
        Conn {
            id,
            session,
            outbound,
            attached,
            local,
            unacked: 0,
            in_flight: VecDeque::new(),
            stalled_since: None,
        }
    }

    /// Forgets the socket, asking the driver to close it.
    pub(super) fn detach(&mut self, peer: IpAddr, queue: &mut VecDeque<Output>) {
        if std::mem::take(&mut self.attached) {
            queue.push_back(Output::Disconnect {
                peer,
                conn: self.id,
            });
        }
        self.unacked = 0;
        self.in_flight.clear();
        self.stalled_since = None;
    }

    /// Hands `bytes` (whole messages) to the driver, counting them as
    /// unwritten until it reports them written; dropped without a socket.
    pub(super) fn transmit(
        &mut self,
        peer: IpAddr,
        bytes: Vec<u8>,
        queue: &mut VecDeque<Output>,
        now: Instant,
    ) {
        if !self.attached || bytes.is_empty() {
            return;
        }
        if self.unacked == 0 {
            self.stalled_since = Some(now);
        }
        self.unacked += bytes.len();
        self.in_flight.push_back((bytes.len(), messages_in(&bytes)));
        queue.push_back(Output::Transmit {
            peer,
            conn: self.id,
            bytes,
        });
    }

    /// The driver wrote `n` more bytes to the socket: progress.
    pub(super) fn written(&mut self, n: usize, now: Instant) {
        let mut n = n.min(self.unacked);
        if n == 0 {
            return;
        }
        self.unacked -= n;
        while n > 0 {
            let Some(front) = self.in_flight.front_mut() else {
                break;
            };
            if front.0 <= n {
                n -= front.0;
                self.in_flight.pop_front();
            } else {
                front.0 -= n;
                n = 0;
            }
        }
        self.stalled_since = (self.unacked > 0).then_some(now);
    }

    /// Transmissions handed to the driver and not yet fully written.
    pub fn chunks_in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Messages handed to the driver and not yet written (FRR's OutQ).
    pub fn out_queue(&self) -> u64 {
        self.in_flight.iter().map(|c| u64::from(c.1)).sum()
    }
}

/// How many whole BGP messages `bytes` holds.
fn messages_in(mut bytes: &[u8]) -> u32 {
    let mut n = 0;
    while let Ok(Some(len)) = frame(bytes) {
        n += 1;
        bytes = bytes.get(len..).unwrap_or_default();
    }
    n
}

/// Graceful restart of a peer in progress (we are the helper).
#[derive(Debug, Clone)]
pub struct Restarting {
    /// Families whose paths are stale.
    pub families: Vec<Afi>,
    /// When the stale paths go if the peer is not back.
    pub deadline: Instant,
}

/// The session was closed for too many prefixes and stays down (FRR's
/// "Idle (PfxCt)").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixOverflow {
    /// The family over its limit.
    pub afi: Afi,
    /// Prefixes accepted when the limit was hit.
    pub count: u64,
    /// The limit.
    pub max: u32,
    /// When.
    pub since: Instant,
    /// When the session starts again (`restart MINUTES`); `None`: at
    /// `clear ip bgp` (or a change of the limit) only.
    pub restart_at: Option<Instant>,
}

/// What `maximum-prefix` logged already, per family: each line once until
/// the count drops back (as FRR).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct PrefixLogged {
    pub threshold: bool,
    pub limit: bool,
}

/// The Established session's facts.
#[derive(Debug, Clone)]
pub struct Est {
    /// The connection it runs on.
    pub conn: ConnId,
    /// The peer's AS.
    pub peer_as: u32,
    /// The peer's BGP identifier.
    pub peer_id: Ipv4Addr,
    /// The negotiated hold time.
    pub hold: u16,
    /// The families both sides speak.
    pub families: Vec<Afi>,
    /// The peer's capabilities.
    pub caps: PeerCaps,
    /// Our end of the connection.
    pub local: Option<SocketAddr>,
    /// When it became Established.
    pub since: Instant,
    /// Families whose End-of-RIB we still wait for.
    pub eor_pending: Vec<Afi>,
}

/// A neighbor, configured or dynamic.
#[derive(Debug)]
pub struct Peer {
    /// Its configuration.
    pub cfg: PeerConfig,
    /// Its number in the RIB.
    pub idx: PeerIdx,
    /// Its connections: the first of a configured neighbor is the one
    /// that retries.
    pub conns: Vec<Conn>,
    /// The Established session.
    pub est: Option<Est>,
    /// What we sent it and will send it.
    pub out: AdjOut,
    /// Received attributes before policy (soft-reconfiguration inbound).
    pub adj_in_raw: HashMap<(IpNetwork, u32), Arc<RouteAttrs>>,
    /// Graceful restart in progress.
    pub restarting: Option<Restarting>,
    /// How often it reached Established.
    pub established_count: u64,
    /// How often an Established session went down.
    pub dropped_count: u64,
    /// Why the last session went down.
    pub last_reset: Option<String>,
    /// When.
    pub last_reset_at: Option<Instant>,
    /// Stopped because its tunnel has no SA.
    pub tunnel_down: bool,
    /// Messages received over sessions that went down.
    pub msgs_in_total: u64,
    /// Messages sent over sessions that went down.
    pub msgs_out_total: u64,
    /// Closed for too many prefixes, not started again yet.
    pub overflow: Option<PrefixOverflow>,
    /// What `maximum-prefix` logged, IPv4 and IPv6.
    pub(super) pfx_logged: [PrefixLogged; 2],
}

impl Peer {
    /// The state of its most advanced session.
    pub fn state(&self) -> State {
        if self.est.is_some() {
            return State::Established;
        }
        self.conns
            .iter()
            .map(|c| c.session.state())
            .max_by_key(|s| state_rank(*s))
            .unwrap_or(State::Idle)
    }
    /// Messages (received, sent), over every session.
    pub fn counters(&self) -> (u64, u64) {
        let (mut i, mut o) = (self.msgs_in_total, self.msgs_out_total);
        for c in &self.conns {
            let k = c.session.counters();
            i += k.msgs_in;
            o += k.msgs_out;
        }
        (i, o)
    }
    pub(super) fn is_active(&self) -> bool {
        !self.cfg.shutdown && !self.tunnel_down && self.overflow.is_none()
    }
    /// Messages handed to the driver and not yet written, on the
    /// Established connection (FRR's OutQ).
    pub fn out_queue(&self) -> u64 {
        self.est_conn().map_or(0, Conn::out_queue)
    }
    /// Bytes handed to the driver and not yet written, on the
    /// Established connection.
    pub fn unwritten_bytes(&self) -> usize {
        self.est_conn().map_or(0, |c| c.unacked)
    }
    /// When the send hold timer (RFC 9687) of the Established connection
    /// expires: the negotiated hold time after the driver last reported
    /// progress while bytes waited. None without waiting bytes or with a
    /// hold time of 0.
    pub fn send_hold_deadline(&self) -> Option<Instant> {
        let hold = self.est.as_ref()?.hold;
        if hold == 0 {
            return None;
        }
        let since = self.est_conn()?.stalled_since?;
        Some(since + Duration::from_secs(u64::from(hold)))
    }
    /// The connection of the Established session.
    pub fn est_conn(&self) -> Option<&Conn> {
        let id = self.est.as_ref()?.conn;
        self.conns.iter().find(|c| c.id == id)
    }
}

pub(super) fn state_rank(s: State) -> u8 {
    match s {
        State::Idle => 0,
        State::Connect => 1,
        State::Active => 2,
        State::OpenSent => 3,
        State::OpenConfirm => 4,
        State::Established => 5,
    }
}

impl Speaker {
    pub(super) fn session_config(&self, c: &PeerConfig, passive: bool) -> SessionConfig {
        let (asn, router_id) = self
            .cfg
            .as_ref()
            .map_or((0, Ipv4Addr::UNSPECIFIED), |s| (s.asn, s.router_id));
        let mut families = Vec::new();
        for afi in AFIS {
            if c.af(afi).is_some() {
                families.push(family_of(afi));
            }
        }
        let add_path = AFIS
            .into_iter()
            .filter(|a| c.af(*a).is_some_and(|x| x.addpath_tx_all_paths))
            .map(|a| AddPathEntry {
                family: family_of(a),
                mode: AddPathMode::BOTH,
            })
            .collect();
        SessionConfig {
            add_path,
            local_as: asn,
            peer_as: c.expected_as(asn),
            router_id,
            hold_time: c.timers.1,
            keepalive: c.timers.0,
            connect_retry: Duration::from_secs(2),
            families,
            passive: passive || c.dynamic,
            idle_hold: Duration::from_secs(1),
            ..SessionConfig::default()
        }
    }

    pub(super) fn add_peer(&mut self, c: PeerConfig, now: Instant) {
        let Some(asn) = self.cfg.as_ref().map(|s| s.asn) else {
            return;
        };
        let addr = c.addr;
        let Some(idx) = self.rib.add_peer(PeerMeta {
            addr,
            router_id: Ipv4Addr::UNSPECIFIED,
            ebgp: c.is_ebgp(asn),
        }) else {
            warn!("bgp neighbor {addr}: refused, the RIB holds 65535 peers already");
            return;
        };
        let tunnel_down = c
            .tunnel
            .as_ref()
            .is_some_and(|t| !self.tunnels_up.contains(t));
        let c_dynamic = c.dynamic;
        let mut conns = Vec::new();
        if !c.dynamic {
            let mut s = Session::new(self.session_config(&c, false), now);
            if !c.shutdown && !tunnel_down {
                s.start(now);
            }
            conns.push(Conn::new(self.conn_id(), s, true, false, None));
        }
        info!(
            "bgp neighbor {addr}: added (remote-as {}{}{})",
            c.remote_as,
            c.tunnel
                .as_ref()
                .map(|t| format!(", over {t}"))
                .unwrap_or_default(),
            if c.dynamic { ", dynamic" } else { "" }
        );
        self.peers.insert(
            addr,
            Peer {
                cfg: c,
                idx,
                conns,
                est: None,
                out: AdjOut::default(),
                adj_in_raw: HashMap::new(),
                restarting: None,
                established_count: 0,
                dropped_count: 0,
                last_reset: None,
                last_reset_at: None,
                tunnel_down,
                msgs_in_total: 0,
                msgs_out_total: 0,
                overflow: None,
                pfx_logged: [PrefixLogged::default(); 2],
            },
        );
        if c_dynamic && self.dynamic.insert(addr) {
            self.dynamic_changes += 1;
        }
        self.touch(addr);
        // A dynamic neighbor has no session until its connection is
        // handed over.
        if !self.peers.get(&addr).is_some_and(|p| p.cfg.dynamic) {
            self.pump(addr);
        }
    }

    pub(super) fn remove_peer(&mut self, addr: IpAddr, why: &str) {
        let now = self.now;
        if let Some(p) = self.peers.get_mut(&addr) {
            for c in &mut p.conns {
                c.session.stop(now, why);
            }
        }
        self.drain(addr);
        if self.dynamic.remove(&addr) {
            self.dynamic_changes += 1;
        }
        if let Some(mut p) = self.peers.remove(&addr) {
            for c in &mut p.conns {
                c.detach(addr, &mut self.queue);
            }
            self.rib.remove_peer(p.idx);
            if !p.cfg.dynamic {
                info!("bgp neighbor {addr}: removed ({why})");
            }
        }
    }

    /// Removes what is still stale of a restarting peer.
    pub(super) fn end_restart(&mut self, addr: IpAddr, families: &[Afi], why: &str) {
        let Some(idx) = self.peers.get(&addr).map(|p| p.idx) else {
            return;
        };
        let mut n = 0;
        for afi in families {
            n += self.rib.sweep_stale(idx, *afi);
        }
        if n > 0 {
            info!("bgp neighbor {addr}: {n} stale paths removed ({why})");
        }
    }
}
