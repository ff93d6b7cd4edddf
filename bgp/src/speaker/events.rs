//! Connection events and what sessions say: bytes in, connections up and
//! down, and the session outputs turned into actions.

use std::net::{IpAddr, SocketAddr};

use tracing::debug;

use super::{afi_of_family, ConnId, Output, Speaker};
use crate::rib::Afi;
use crate::session::{Output as SessionOutput, State};

impl Speaker {
    /// Our connection attempt `conn` succeeded.
    pub(super) fn connected(
        &mut self,
        peer: IpAddr,
        conn: ConnId,
        local: Option<SocketAddr>,
    ) -> bool {
        let now = self.now;
        let mut taken = false;
        if let Some(p) = self.peers.get_mut(&peer) {
            if let Some(c) = p.conns.iter_mut().find(|c| c.id == conn) {
                if !c.attached && c.session.state() == State::Connect {
                    c.attached = true;
                    c.local = local;
                    c.session.tcp_connected(now);
                    taken = true;
                }
            }
        }
        self.pump(peer);
        taken
    }

    /// Our connection attempt `conn` failed.
    pub(super) fn connect_failed(&mut self, peer: IpAddr, conn: ConnId) {
        let now = self.now;
        if let Some(p) = self.peers.get_mut(&peer) {
            if let Some(c) = p.conns.iter_mut().find(|c| c.id == conn) {
                if c.session.state() == State::Connect {
                    c.session.tcp_failed(now);
                }
            }
        }
        self.pump(peer);
    }

    /// Bytes from the peer.
    pub(super) fn data(&mut self, peer: IpAddr, conn: ConnId, bytes: &[u8]) {
        let now = self.now;
        if let Some(p) = self.peers.get_mut(&peer) {
            if let Some(c) = p.conns.iter_mut().find(|c| c.id == conn) {
                c.session.bytes_received(now, bytes);
            }
        }
        self.pump(peer);
    }

    /// The peer closed the connection.
    pub(super) fn closed(&mut self, peer: IpAddr, conn: ConnId) {
        let now = self.now;
        if let Some(p) = self.peers.get_mut(&peer) {
            if let Some(c) = p.conns.iter_mut().find(|c| c.id == conn) {
                if c.attached {
                    c.detach(peer, &mut self.queue);
                    c.session.tcp_closed(now);
                }
            }
        }
        self.pump(peer);
    }

    /// Drains every session of a peer and acts on what it said; resolves
    /// collisions; drops finished extra connections (and a dynamic
    /// neighbor whose session ended).
    pub(super) fn pump(&mut self, addr: IpAddr) {
        self.drain(addr);
        self.reap(addr);
    }

    /// [`Speaker::pump`] without the clean-up.
    pub(super) fn drain(&mut self, addr: IpAddr) {
        let now = self.now;
        self.touch(addr);
        for _ in 0..8 {
            let mut outputs: Vec<(ConnId, SessionOutput)> = Vec::new();
            let Some(p) = self.peers.get_mut(&addr) else {
                return;
            };
            for c in &mut p.conns {
                while let Some(o) = c.session.poll_output() {
                    match o {
                        SessionOutput::Send(bytes) => {
                            c.transmit(addr, bytes, &mut self.queue, now);
                        }
                        SessionOutput::Disconnect => c.detach(addr, &mut self.queue),
                        other => outputs.push((c.id, other)),
                    }
                }
            }
            if outputs.is_empty() && !self.resolve_collision(addr) {
                break;
            }
            for (conn, o) in outputs {
                self.output(addr, conn, o);
            }
        }
    }

    pub(super) fn output(&mut self, addr: IpAddr, conn: ConnId, o: SessionOutput) {
        match o {
            SessionOutput::Connect => self.queue.push_back(Output::Connect { peer: addr, conn }),
            SessionOutput::Send(_) | SessionOutput::Disconnect => {}
            SessionOutput::Established {
                peer_as,
                peer_id,
                hold_time,
                families,
                peer_caps,
                ..
            } => self.established(addr, conn, peer_as, peer_id, hold_time, families, peer_caps),
            SessionOutput::Down { reason, retain } => self.down(addr, conn, &reason, retain),
            SessionOutput::Update(u) => self.update(addr, *u),
            SessionOutput::RouteRefresh(f) => {
                if let Some(afi) = afi_of_family(f) {
                    debug!("bgp neighbor {addr}: route refresh for {afi:?}");
                    if let Some(p) = self.peers.get_mut(&addr) {
                        p.out.adj.retain(|k, _| Afi::of(&k.0) != afi);
                    }
                    self.reexport(addr);
                    self.flush(addr);
                }
            }
        }
    }

    /// Drops extra connections that ended.
    pub(super) fn reap(&mut self, addr: IpAddr) {
        let remove_dynamic = {
            let Some(p) = self.peers.get_mut(&addr) else {
                return;
            };
            let n = p.conns.len();
            let mut kept = Vec::with_capacity(n);
            for (i, mut c) in p.conns.drain(..).enumerate() {
                let finished = c.session.state() == State::Idle && !c.attached;
                // The first connection of a configured neighbor is the one
                // that retries; others go when they end.
                if finished
                    && (i > 0 || p.cfg.dynamic)
                    && Some(c.id) != p.est.as_ref().map(|e| e.conn)
                {
                    c.detach(addr, &mut self.queue);
                } else {
                    kept.push(c);
                }
            }
            p.conns = kept;
            // A configured neighbor whose outbound session lost a collision
            // and whose other session ended: start it again.
            let now = self.now;
            let active = p.is_active();
            if !p.cfg.dynamic && p.est.is_none() && active {
                if let Some(c) = p.conns.first_mut() {
                    if c.session.state() == State::Idle
                        && c.session.poll_timeout().is_none()
                        && !c.attached
                    {
                        c.session.start(now);
                    }
                }
            }
            p.cfg.dynamic && p.conns.is_empty() && p.est.is_none() && p.restarting.is_none()
        };
        if remove_dynamic {
            self.remove_peer(addr, "dynamic neighbor session ended");
        }
    }
}
