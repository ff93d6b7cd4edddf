//! A received Control packet: GTSM, parsing, the session it belongs to
//! ([`super::demux`]), and for a source that has none, whether it gets a
//! passive session: only a dynamic neighbor of a `bgp listen range` with
//! bfd that the BGP speaker knows now (its TCP session was accepted),
//! within the range's `bgp listen limit` and [`MAX_PASSIVE_SESSIONS`] in
//! all ([`bfd::Admission`]). Other packets are dropped and counted, with
//! one log line per [`REFUSAL_LOG_INTERVAL`].

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bfd::{ControlPacket, State};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::{canonical, config, demux, sock, Remote, Task};

/// Passive sessions (of dynamic neighbors) over all listen ranges.
pub const MAX_PASSIVE_SESSIONS: usize = 1024;
/// At most one log line about dropped sources this often.
pub const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

impl Task {
    pub(super) fn received(&mut self, r: std::io::Result<sock::RecvMeta>, buf: &[u8]) {
        let meta = match r {
            Ok(m) => m,
            Err(e) => {
                debug!("BFD receive: {e}");
                return;
            }
        };
        let now = Instant::now();
        // GTSM (RFC 5881 section 5): single hop means TTL 255 on arrival.
        if meta.ttl != Some(255) {
            self.drops.ttl += 1;
            debug!(
                "BFD: dropped a packet from {} with TTL {:?}",
                meta.src, meta.ttl
            );
            return;
        }
        let pkt = match buf.get(..meta.len).map(ControlPacket::parse) {
            Some(Ok(p)) => p,
            Some(Err(e)) => {
                self.drops.parse += 1;
                debug!("BFD: malformed packet from {}: {e}", meta.src);
                return;
            }
            None => {
                self.drops.parse += 1;
                return;
            }
        };
        let src = canonical(meta.src);
        let found = demux::demux(&self.sessions, pkt.your_discr, src, meta.ifindex);
        let discr = match found {
            Some(d) => d,
            None if pkt.your_discr == 0 => match self.passive(src, meta.dst, now) {
                Some(d) => d,
                None => return,
            },
            None => {
                self.drops.no_session += 1;
                debug!(
                    "BFD: packet from {src} for unknown discriminator {}",
                    pkt.your_discr
                );
                return;
            }
        };
        let Some(e) = self.sessions.get_mut(&discr) else {
            return;
        };
        self.touched.push(discr);
        match e.session.receive(now.into_std(), &pkt) {
            Ok(()) => {
                e.rx += 1;
                e.last_rx = Some(now);
                e.remote = Some(Remote {
                    desired_min_tx_us: pkt.desired_min_tx_us,
                    required_min_rx_us: pkt.required_min_rx_us,
                    detect_mult: pkt.detect_mult,
                    diag: pkt.diag.bits(),
                });
                if e.ifindex.is_none() {
                    e.ifindex = meta.ifindex;
                }
                if e.local.is_none() {
                    e.local = meta.dst;
                }
            }
            Err(d) => {
                self.drops.discarded += 1;
                debug!("BFD peer {src}: packet discarded ({d:?})");
            }
        }
    }

    /// A session for `src`, which has none, if it may have one. It answers
    /// from `dst`, the address `src` sent to, unless update-source says
    /// otherwise: a peer takes packets only from the address it talks to,
    /// and the kernel's choice may be another one (a Virtual-Access hub's
    /// public address, where the spoke talks to the hub's loopback).
    fn passive(&mut self, src: IpAddr, dst: Option<IpAddr>, now: Instant) -> Option<u32> {
        let Some(mut spec) = config::dynamic_spec(&self.running, src) else {
            self.drops.no_session += 1;
            debug!("BFD: packet from {src} matches no session");
            return None;
        };
        let range = spec.range?;
        if spec.local.is_none() {
            spec.local = dst.filter(|d| d.is_ipv4() == src.is_ipv4());
        }
        let limit = config::listen_limit(&self.running);
        let known = self.known.contains(&src);
        if let Err(why) = self.admission.admit(&range, limit, known) {
            if let Some(held) = self.refusal_log.allow(now.into_std()) {
                warn!(
                    "BFD: no session for {src} (listen range {range}): {why}; its packets are \
                     dropped ({held} more dropped since the last such line)"
                );
            }
            return None;
        }
        let d = self.add(spec, now);
        if d.is_none() {
            self.admission.release(&range);
        }
        d
    }

    /// The dynamic neighbors the BGP speaker knows changed: a passive
    /// session of one it no longer knows goes unless it is Up (then it
    /// goes when it falls silent, as any other).
    pub(super) fn set_known(&mut self, known: Arc<BTreeSet<IpAddr>>) {
        self.known = known;
        let gone: Vec<u32> = self
            .sessions
            .iter()
            .filter(|(_, e)| {
                e.spec.dynamic
                    && e.session.state() != State::Up
                    && !self.known.contains(&e.spec.peer)
            })
            .map(|(d, _)| *d)
            .collect();
        for d in gone {
            info!("BFD: the BGP speaker no longer knows the dynamic neighbor of session {d}");
            self.remove(d, "no longer a BGP neighbor");
        }
    }
}
