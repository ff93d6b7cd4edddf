//! `neighbor X maximum-prefix N [THRESHOLD] [warning-only] [restart
//! MINUTES]`, with FRR's semantics: the count is of the prefixes the
//! neighbor has in the Adj-RIB-In after in-policy (FRR's `pcount`), per
//! family. Above THRESHOLD percent of N a warning is logged once; above N
//! the limit line is logged once and, unless `warning-only`, the session
//! is closed with Cease/Maximum Number of Prefixes Reached (RFC 4486,
//! data: AFI, SAFI, N) and stays down ("Idle (PfxCt)") until `restart`
//! minutes pass, `clear ip bgp`, or a change of the limit. A dynamic
//! neighbor just goes, as in FRR: it may come back at once.

use std::net::IpAddr;
use std::time::Duration;

use tracing::{info, warn};

use super::{family_of, PrefixOverflow, Speaker, AFIS};
use crate::rib::Afi;

fn title(afi: Afi) -> &'static str {
    match afi {
        Afi::V4 => "IPv4 Unicast",
        Afi::V6 => "IPv6 Unicast",
    }
}

fn slot(afi: Afi) -> usize {
    match afi {
        Afi::V4 => 0,
        Afi::V6 => 1,
    }
}

/// RFC 4486 section 4: the data of Cease/Maximum Number of Prefixes
/// Reached is the AFI (2 octets), the SAFI (1) and the upper bound (4).
pub(crate) fn cease_data(afi: Afi, max: u32) -> Vec<u8> {
    let f = family_of(afi);
    let mut d = Vec::with_capacity(7);
    d.extend_from_slice(&f.afi.0.to_be_bytes());
    d.push(f.safi.0);
    d.extend_from_slice(&max.to_be_bytes());
    d
}

impl Speaker {
    /// Checks every family of an Established neighbor against its limit
    /// (see the module documentation). `always` logs again what was
    /// logged before (the limit changed). The session, if closed, says so
    /// on its next [`Speaker::pump`].
    pub(super) fn check_max_prefix(&mut self, addr: IpAddr, always: bool) {
        for afi in AFIS {
            if self.check_max_prefix_afi(addr, afi, always) {
                return;
            }
        }
    }

    /// One family; whether the session was closed.
    fn check_max_prefix_afi(&mut self, addr: IpAddr, afi: Afi, always: bool) -> bool {
        let now = self.now;
        let Some(p) = self.peers.get_mut(&addr) else {
            return false;
        };
        let Some(conn) = p.est.as_ref().map(|e| e.conn) else {
            return false;
        };
        if p.overflow.is_some() {
            return false;
        }
        let Some(logged) = p.pfx_logged.get_mut(slot(afi)) else {
            return false;
        };
        let Some(lim) = p.cfg.af(afi).and_then(|a| a.maximum_prefix) else {
            *logged = Default::default();
            return false;
        };
        let count = self.rib.peer_count(p.idx, afi);
        let max = u64::from(lim.max);
        if count > max {
            if logged.limit && !always {
                return false;
            }
            logged.limit = true;
            warn!(
                "bgp neighbor {addr}: %MAXPFXEXCEED: {count} {} prefixes accepted, limit {}{}",
                title(afi),
                lim.max,
                if lim.warning_only {
                    " (warning-only: the session stays)"
                } else {
                    ""
                }
            );
            if lim.warning_only {
                return false;
            }
            let restart_at = lim
                .restart_minutes
                .filter(|_| !p.cfg.dynamic)
                .map(|m| now + Duration::from_secs(u64::from(m) * 60));
            let reason = format!(
                "Reached received prefix count ({count} {} prefixes, limit {})",
                title(afi),
                lim.max
            );
            match restart_at {
                Some(_) => info!(
                    "bgp neighbor {addr}: session closed for too many prefixes; it starts again in {} min",
                    lim.restart_minutes.unwrap_or_default()
                ),
                None => info!(
                    "bgp neighbor {addr}: session closed for too many prefixes; it stays down until \
                     clear ip bgp {addr}"
                ),
            }
            p.overflow = Some(PrefixOverflow {
                afi,
                count,
                max: lim.max,
                since: now,
                restart_at,
            });
            for c in &mut p.conns {
                if c.id == conn {
                    c.session
                        .max_prefix_exceeded(now, cease_data(afi, lim.max), &reason);
                } else {
                    c.session.stop(now, "maximum prefix limit");
                }
            }
            return true;
        }
        logged.limit = false;
        // FRR: more than THRESHOLD percent of the limit.
        if count * 100 > max * u64::from(lim.threshold) {
            if !logged.threshold || always {
                logged.threshold = true;
                warn!(
                    "bgp neighbor {addr}: %MAXPFX: {count} {} prefixes accepted, reaching {}% of \
                     the limit {}",
                    title(afi),
                    lim.threshold,
                    lim.max
                );
            }
        } else {
            logged.threshold = false;
        }
        false
    }

    /// Lifts a prefix overflow (timer, `clear ip bgp`, a new limit) and
    /// starts the session again if nothing else keeps it down.
    pub(super) fn end_overflow(&mut self, addr: IpAddr, why: &str) {
        let now = self.now;
        let Some(p) = self.peers.get_mut(&addr) else {
            return;
        };
        if p.overflow.take().is_none() {
            return;
        }
        p.pfx_logged = Default::default();
        info!("bgp neighbor {addr}: prefix limit lifted ({why}), starting the session");
        if p.is_active() {
            if let Some(c) = p.conns.first_mut() {
                c.session.start(now);
            }
        }
        self.pump(addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cease_data_is_afi_safi_and_limit() {
        assert_eq!(cease_data(Afi::V4, 10), vec![0, 1, 1, 0, 0, 0, 10]);
        assert_eq!(cease_data(Afi::V6, 0x0102_0304), vec![0, 2, 1, 1, 2, 3, 4]);
    }
}
