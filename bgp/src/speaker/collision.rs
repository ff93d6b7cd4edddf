//! Connection collisions (RFC 4271 section 6.8): an incoming connection
//! of a neighbor that has one already, and which of two sessions stays.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tracing::{debug, warn};

use super::peer::state_rank;
use super::{AcceptError, Conn, ConnId, Speaker};
use crate::session::{collision_winner, Session, State};

/// How long after Established an incoming connection is still taken for
/// the peer's side of a simultaneous open, not for a restart.
const COLLISION_GRACE: Duration = Duration::from_secs(5);

impl Speaker {
    /// A connection came in: a configured neighbor's, a new dynamic
    /// neighbor's, or refused.
    pub(super) fn accepted(
        &mut self,
        remote: IpAddr,
        local: Option<SocketAddr>,
    ) -> Result<ConnId, AcceptError> {
        let now = self.now;
        let addr = match remote {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            a => a,
        };
        let Some(cfg) = &self.cfg else {
            return Err(AcceptError::NotConfigured);
        };
        if !self.peers.contains_key(&addr) {
            let Some(c) = cfg.dynamic_peer(addr) else {
                debug!("bgp: connection from {addr} refused: not a neighbor");
                return Err(AcceptError::NotNeighbor);
            };
            let dynamic = self.dynamic.len() as u32;
            if dynamic >= cfg.listen_limit {
                warn!(
                    "bgp: dynamic neighbor {addr} refused: bgp listen limit {} reached",
                    cfg.listen_limit
                );
                return Err(AcceptError::ListenLimit(cfg.listen_limit));
            }
            self.add_peer(c, self.now);
        }
        let passive_cfg = match self.peers.get(&addr) {
            Some(p) => self.session_config(&p.cfg, true),
            None => return Err(AcceptError::NotNeighbor),
        };
        let id = self.conn_id();
        let Some(p) = self.peers.get_mut(&addr) else {
            return Err(AcceptError::NotNeighbor);
        };
        if !p.is_active() {
            debug!("bgp: connection from {addr} refused: neighbor is down");
            return Err(AcceptError::NeighborDown);
        }
        // Our own attempt has no connection yet: take this one.
        if let Some(pos) = p.conns.iter().position(|c| {
            !c.attached && matches!(c.session.state(), State::Connect | State::Active)
        }) {
            let mut c = p.conns.remove(pos);
            c.outbound = false;
            c.attached = true;
            c.local = local;
            c.session.tcp_connected(now);
            let conn = c.id;
            if let Some(p) = self.peers.get_mut(&addr) {
                p.conns.insert(pos, c);
            }
            self.pump(addr);
            return Ok(conn);
        }
        // A new connection from a graceful-restart peer whose session is
        // established means it restarted (RFC 4724 4.2), unless the
        // session is only seconds old: then it is the peer's own attempt
        // from before both ends connected at once, and RFC 4271 6.8's rule
        // (close the new connection) keeps the session that won.
        let restarted = p.est.as_ref().is_some_and(|e| {
            e.caps.graceful_restart.is_some()
                && now.saturating_duration_since(e.since) >= COLLISION_GRACE
        });
        if p.est.is_some() && !restarted {
            debug!("bgp: connection from {addr} refused: a session is established");
            return Err(AcceptError::Established);
        }
        if restarted {
            // RFC 4724 section 4.2: the peer restarted; the old session goes
            // and its routes stay, stale.
            if let Some(c) = p
                .conns
                .iter_mut()
                .find(|c| c.session.state() == State::Established)
            {
                c.session.peer_restarted(now);
            }
        }
        let mut s = Session::new(passive_cfg, now);
        s.start(now);
        let mut c = Conn::new(id, s, false, true, local);
        c.session.tcp_connected(now);
        if let Some(p) = self.peers.get_mut(&addr) {
            p.conns.push(c);
        }
        self.pump(addr);
        Ok(id)
    }

    /// Of two sessions of a neighbor that got as far as OpenSent, closes
    /// the one that loses. Returns whether a connection was closed.
    pub(super) fn resolve_collision(&mut self, addr: IpAddr) -> bool {
        let Some(router_id) = self.cfg.as_ref().map(|c| c.router_id) else {
            return false;
        };
        let now = self.now;
        let Some(p) = self.peers.get_mut(&addr) else {
            return false;
        };
        let live: Vec<usize> = p
            .conns
            .iter()
            .enumerate()
            .filter(|(_, c)| state_rank(c.session.state()) >= state_rank(State::OpenSent))
            .map(|(i, _)| i)
            .collect();
        if live.len() < 2 {
            return false;
        }
        let decided: Option<usize> = live
            .iter()
            .copied()
            .find(|&i| {
                p.conns
                    .get(i)
                    .is_some_and(|c| c.session.state() == State::Established)
            })
            .or_else(|| {
                let with_id = live.iter().copied().find(|&i| {
                    p.conns
                        .get(i)
                        .is_some_and(|c| c.session.peer_id().is_some())
                })?;
                let remote = p.conns.get(with_id)?.session.peer_id()?;
                let keep_ours = collision_winner(router_id, remote);
                live.iter()
                    .copied()
                    .find(|&i| p.conns.get(i).is_some_and(|c| c.outbound == keep_ours))
            });
        let Some(winner) = decided else {
            return false;
        };
        let mut closed = false;
        for i in live {
            if i != winner {
                if let Some(c) = p.conns.get_mut(i) {
                    debug!("bgp neighbor {addr}: connection collision, closing one");
                    c.session.close_collision(now);
                    closed = true;
                }
            }
        }
        closed
    }
}
