//! Sessions coming up and going down, and the graceful-restart helper
//! (RFC 4724): a restarting peer's routes stay, stale, until its
//! End-of-RIB or its restart time.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use tracing::info;

use super::{afi_of_family, AdjOut, ConnId, Est, Output, Restarting, Speaker, AFIS};
use crate::rib::{Afi, PeerMeta};
use crate::session::PeerCaps;
use crate::wire::Family;

/// How long stale paths may wait for the End-of-RIB of a peer that came
/// back (FRR's `bgp graceful-restart stalepath-time`).
const STALEPATH_TIME: Duration = Duration::from_secs(360);

impl Speaker {
    /// A session reached Established: the table goes out, then
    /// End-of-RIB.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn established(
        &mut self,
        addr: IpAddr,
        conn: ConnId,
        peer_as: u32,
        peer_id: Ipv4Addr,
        hold: u16,
        families: Vec<Family>,
        caps: PeerCaps,
    ) {
        let Some(asn) = self.cfg.as_ref().map(|c| c.asn) else {
            return;
        };
        let Some(p) = self.peers.get_mut(&addr) else {
            return;
        };
        let local = p.conns.iter().find(|c| c.id == conn).and_then(|c| c.local);
        let fams: Vec<Afi> = families.iter().filter_map(|f| afi_of_family(*f)).collect();
        info!(
            "bgp neighbor {addr}: Established (AS {peer_as}, id {peer_id}, hold {hold}s, {})",
            fams.iter()
                .map(|a| match a {
                    Afi::V4 => "ipv4",
                    Afi::V6 => "ipv6",
                })
                .collect::<Vec<_>>()
                .join("+")
        );
        p.est = Some(Est {
            conn,
            peer_as,
            peer_id,
            hold,
            families: fams.clone(),
            caps,
            local,
            since: self.now,
            eor_pending: fams.clone(),
        });
        p.established_count += 1;
        self.queue.push_back(Output::Established { peer: addr });
        p.out = AdjOut::default();
        // The whole table, then End-of-RIB (once it all went out).
        p.out.end_of_rib_after_pending(&fams);
        let idx = p.idx;
        let ebgp = peer_as != asn;
        // Stale paths of families the peer no longer speaks go now.
        if let Some(r) = &mut p.restarting {
            let gone: Vec<Afi> = r
                .families
                .iter()
                .copied()
                .filter(|a| !fams.contains(a))
                .collect();
            r.families.retain(|a| fams.contains(a));
            r.deadline = self.now + STALEPATH_TIME;
            for afi in gone {
                self.rib.sweep_stale(idx, afi);
            }
        }
        self.rib.set_peer_meta(
            idx,
            PeerMeta {
                addr,
                router_id: peer_id,
                ebgp,
            },
        );
        self.reexport(addr);
    }

    /// The Established session went down: its routes go, or stay stale
    /// for a graceful-restart peer.
    pub(super) fn down(&mut self, addr: IpAddr, conn: ConnId, reason: &str, retain: bool) {
        let Some(p) = self.peers.get_mut(&addr) else {
            return;
        };
        if p.est.as_ref().map(|e| e.conn) != Some(conn) {
            return;
        }
        let Some(est) = p.est.take() else { return };
        info!("bgp neighbor {addr}: Down ({reason})");
        self.queue.push_back(Output::Down {
            peer: addr,
            reason: reason.to_string(),
        });
        p.dropped_count += 1;
        p.last_reset = Some(reason.to_string());
        p.last_reset_at = Some(self.now);
        if let Some(c) = p.conns.iter().find(|c| c.id == conn) {
            let k = c.session.counters();
            p.msgs_in_total += k.msgs_in;
            p.msgs_out_total += k.msgs_out;
        }
        p.out = AdjOut::default();
        let idx = p.idx;
        // Graceful restart: keep the families the peer preserves
        // forwarding for, stale, for its restart time.
        let gr_families: Vec<Afi> = match (&est.caps.graceful_restart, retain && !p.tunnel_down) {
            (Some(gr), true) => gr
                .families
                .iter()
                .filter_map(|f| afi_of_family(f.family))
                .filter(|a| est.families.contains(a))
                .collect(),
            _ => Vec::new(),
        };
        if !gr_families.is_empty() {
            let restart = est
                .caps
                .graceful_restart
                .as_ref()
                .map_or(120, |g| g.restart_time);
            let mut n = 0;
            for afi in &gr_families {
                n += self.rib.mark_stale(idx, *afi);
            }
            info!("bgp neighbor {addr}: graceful restart, keeping {n} paths stale for {restart}s");
            if let Some(p) = self.peers.get_mut(&addr) {
                p.restarting = Some(Restarting {
                    families: gr_families.clone(),
                    deadline: self.now + Duration::from_secs(u64::from(restart)),
                });
            }
            for afi in AFIS {
                if !gr_families.contains(&afi) {
                    self.rib.withdraw_peer(idx, Some(afi));
                }
            }
        } else {
            if let Some(p) = self.peers.get_mut(&addr) {
                p.restarting = None;
                p.adj_in_raw.clear();
            }
            self.rib.withdraw_peer(idx, None);
        }
    }
}
