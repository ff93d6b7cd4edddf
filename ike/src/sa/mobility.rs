//! Addresses that change under an established IKE SA, and the Child SAs
//! that follow: NAT rebinding (RFC 7296 2.23, and the data plane's ESP
//! mapping reports, as strongSwan follows XFRM mapping events) and MOBIKE
//! (RFC 4555: UPDATE_SA_ADDRESSES in both roles, COOKIE2,
//! NO_NATS_ALLOWED).

use super::engine::{ChildMove, Engine, Output, Path};
use super::ike_sa::{ExchangeCtx, IkeState, Task};
use super::init::{nat_detection, nat_found};
use super::msg::{notify as n, Msg, Pl, INFORMATIONAL};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

impl Engine {
    /// Follow the peer to a new address or to port 4500 after a message
    /// whose integrity was verified (RFC 7296 2.23), so a spoofed packet
    /// cannot redirect the SA. Port floating (500 to 4500) is always
    /// followed; a new address or port only when the peer is behind a
    /// NAT (its mapping may change), and never once MOBIKE is in use
    /// (RFC 4555 3.5: only UPDATE_SA_ADDRESSES moves the SA).
    pub(crate) fn follow_peer(&mut self, spi: u64, from: Path) {
        let Some(sa) = self.sas.get_mut(&spi) else {
            return;
        };
        if sa.state == IkeState::InitSent || sa.remote == from.remote && (sa.natt || !from.natt) {
            return;
        }
        let float = from.natt && !sa.natt && from.remote.ip() == sa.remote.ip();
        let rebinding = sa.nat_remote && !sa.mobike;
        if !float && !rebinding {
            return;
        }
        let old = sa.remote;
        sa.remote = from.remote;
        if !from.local.ip().is_unspecified() || sa.local.ip().is_unspecified() {
            sa.local = from.local;
        } else {
            sa.local.set_port(from.local.port());
        }
        sa.natt = sa.natt || from.natt;
        if !float {
            let tunnel = sa.tunnel.clone().unwrap_or_default();
            self.logf(format!(
                "{tunnel}: NAT mapping of IKE_SA {spi:016x} changed: peer moved from {old} to {}, following",
                from.remote
            ));
        }
        self.children_moved(spi);
    }

    /// The data plane opened ESP (integrity verified) of these Child SAs,
    /// by inbound SPI, since it last said: their IKE SAs heard from the
    /// peer at `now`. DPD on demand (not `periodic`) probes only a peer
    /// silent for the whole interval, IKE and ESP alike, as strongSwan's
    /// `dpd_delay` does: a spoke whose BGP keepalives arrive every few
    /// seconds is alive without an INFORMATIONAL exchange.
    pub fn esp_heard(&mut self, spis_in: &[u32], now: Instant) {
        for &c in spis_in {
            if let Some(sa) = self
                .sas
                .sa_of_child(c)
                .and_then(|spi| self.sas.get_mut_untimed(&spi))
            {
                sa.last_heard = sa.last_heard.max(now);
            }
        }
    }

    /// The data plane opened (integrity verified) ESP of Child SA `spi_in`
    /// that came from `from`, which is not where the SA sends to. As
    /// strongSwan does with the kernel's XFRM mapping events: when the
    /// peer is behind a NAT and we are not, its NAT mapping changed, and
    /// the IKE SA and every Child SA follow it.
    pub fn handle_esp_mapping(&mut self, spi_in: u32, from: SocketAddr, _now: Instant) {
        let Some(spi) = self.sas.sa_of_child(spi_in) else {
            return;
        };
        let Some(sa) = self.sas.get_mut(&spi) else {
            return;
        };
        if sa.state != IkeState::Established || !sa.natt || sa.remote == from {
            return;
        }
        let tunnel = sa.tunnel.clone().unwrap_or_default();
        if !sa.nat_remote || sa.nat_local {
            let (remote, why) = (
                sa.remote,
                if sa.nat_local {
                    "we are behind a NAT"
                } else {
                    "no NAT in front of the peer"
                },
            );
            self.logf(format!(
                "{tunnel}: ESP of CHILD_SA {spi_in:08x} arrived from {from}, not from {remote}; not following ({why})"
            ));
            return;
        }
        let old = sa.remote;
        sa.remote = from;
        self.logf(format!(
            "{tunnel}: NAT mapping of CHILD_SA {spi_in:08x} changed: peer moved from {old} to {from}, following"
        ));
        self.children_moved(spi);
    }

    /// Tell the data plane where every Child SA of IKE SA `spi` sends now.
    pub(crate) fn children_moved(&mut self, spi: u64) {
        let Some(sa) = self.sas.get(&spi) else {
            return;
        };
        let tunnel = sa.tunnel.clone().unwrap_or_default();
        let moves: Vec<ChildMove> = sa
            .children
            .iter()
            .map(|c| ChildMove {
                tunnel: tunnel.clone(),
                spi_in: c.spi_in,
                spi_out: c.spi_out,
                local: sa.local,
                remote: sa.remote,
                encap: sa.natt,
            })
            .collect();
        for m in moves {
            self.out.push_back(Output::ChildMoved(m));
        }
    }

    /// The remote addresses of the IKE SAs whose path we choose (MOBIKE
    /// with us as the original initiator): the driver asks the kernel
    /// which local address each one goes from now, and reports it with
    /// [`Engine::handle_path`].
    pub fn mobile_peers(&self) -> Vec<IpAddr> {
        let mut v: Vec<IpAddr> = self
            .sas
            .values()
            .filter(|s| s.mobike && s.orig_initiator && s.state == IkeState::Established)
            .map(|s| s.remote.ip())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Packets to `remote` leave from `local` now (the route to the peer
    /// moved, or the old address went away): every MOBIKE IKE SA we
    /// initiated to `remote` from another address moves there with
    /// UPDATE_SA_ADDRESSES, keeping its SPIs and Child SAs (RFC 4555 3.5).
    pub fn handle_path(&mut self, remote: IpAddr, local: IpAddr, now: Instant) {
        let spis: Vec<u64> = self
            .sas
            .iter()
            .filter(|(_, s)| {
                s.mobike
                    && s.orig_initiator
                    && s.state == IkeState::Established
                    && s.remote.ip() == remote
                    && s.local.ip() != local
            })
            .map(|(k, _)| *k)
            .collect();
        for spi in spis {
            let Some(sa) = self.sas.get_mut(&spi) else {
                continue;
            };
            let old = sa.local;
            sa.local = SocketAddr::new(local, old.port());
            if old.ip().is_unspecified() {
                // It went out from any address (no `tunnel source`): now
                // we know which; nothing moved.
                continue;
            }
            if !sa.queue.contains(&Task::UpdateAddresses) {
                sa.queue.push_back(Task::UpdateAddresses);
            }
            let tunnel = sa.tunnel.clone().unwrap_or_default();
            self.logf(format!(
                "{tunnel}: path to {remote} now leaves from {local} (was {}), moving IKE_SA {spi:016x} with MOBIKE",
                old.ip()
            ));
            self.children_moved(spi);
            self.run_queue(spi, now);
        }
    }

    /// Send UPDATE_SA_ADDRESSES from the SA's (new) local address, with
    /// NAT detection and a COOKIE2 the peer must echo.
    pub(crate) fn send_update(&mut self, spi: u64, now: Instant) -> bool {
        let Some(sa) = self.sas.get(&spi) else {
            return false;
        };
        let id = sa.next_id;
        let mut payloads = vec![Pl::Notify {
            protocol: 0,
            spi: vec![],
            ty: n::UPDATE_SA_ADDRESSES,
            data: vec![],
        }];
        payloads.extend(nat_detection(sa.spi_i, sa.spi_r, sa.local, sa.remote));
        let mut cookie2 = vec![0u8; 16];
        let _ = self.rng.fill(&mut cookie2);
        payloads.push(Pl::Notify {
            protocol: 0,
            spi: vec![],
            ty: n::COOKIE2,
            data: cookie2.clone(),
        });
        let Ok(d) = self.seal(spi, INFORMATIONAL, false, id, payloads) else {
            return false;
        };
        let ctx = ExchangeCtx {
            cookie2,
            ..Default::default()
        };
        self.send_request(spi, Task::UpdateAddresses, d, ctx, now);
        true
    }

    /// The peer answered our UPDATE_SA_ADDRESSES.
    pub(crate) fn on_update_response(
        &mut self,
        spi: u64,
        msg: &Msg,
        ctx: &ExchangeCtx,
        _now: Instant,
    ) {
        let Some(sa) = self.sas.get_mut(&spi) else {
            return;
        };
        let tunnel = sa.tunnel.clone().unwrap_or_default();
        if msg.notify(n::COOKIE2) != Some(ctx.cookie2.as_slice()) {
            self.logf(format!(
                "{tunnel}: UPDATE_SA_ADDRESSES of IKE_SA {spi:016x} answered without our COOKIE2, ignored"
            ));
            return;
        }
        if msg.notify(n::UNEXPECTED_NAT_DETECTED).is_some() {
            self.logf(format!(
                "{tunnel}: peer refused the new addresses of IKE_SA {spi:016x} (UNEXPECTED_NAT_DETECTED)"
            ));
            return;
        }
        let (nat_local, nat_remote) = nat_found(msg, sa.spi_i, sa.spi_r, sa.local, sa.remote);
        if msg.notify(n::NAT_DETECTION_SOURCE_IP).is_some() {
            sa.nat_local = nat_local;
            sa.nat_remote = nat_remote;
        }
        let (local, remote) = (sa.local, sa.remote);
        let nat = if (nat_local || nat_remote) && !sa.natt {
            " (a NAT is now in the path, but this IKE SA does not use UDP 4500)"
        } else {
            ""
        };
        self.logf(format!(
            "{tunnel}: IKE_SA {spi:016x} moved to {local}...{remote} with UPDATE_SA_ADDRESSES{nat}"
        ));
    }

    /// UPDATE_SA_ADDRESSES from the peer (RFC 4555 3.5): move the IKE SA
    /// and its Child SAs to the addresses the request came over, after
    /// NAT detection; the payloads of the answer, or the error notify.
    pub(crate) fn on_update_request(
        &mut self,
        spi: u64,
        msg: &Msg,
        _now: Instant,
    ) -> Result<Vec<Pl>, u16> {
        let Some(from) = self.reply_to else {
            return Ok(vec![]);
        };
        let Some(sa) = self.sas.get_mut(&spi) else {
            return Ok(vec![]);
        };
        let tunnel = sa.tunnel.clone().unwrap_or_default();
        if !sa.mobike {
            self.logf(format!(
                "{tunnel}: UPDATE_SA_ADDRESSES on IKE_SA {spi:016x} without MOBIKE, ignored"
            ));
            return Ok(vec![]);
        }
        if let Some(d) = msg.notify(n::NO_NATS_ALLOWED) {
            if !no_nats_match(d, from) {
                self.logf(format!(
                    "{tunnel}: UPDATE_SA_ADDRESSES from {} forbids NATs and one changed its addresses: UNEXPECTED_NAT_DETECTED",
                    from.remote
                ));
                return Err(n::UNEXPECTED_NAT_DETECTED);
            }
        }
        let mut reply = Vec::new();
        if msg.notify(n::NAT_DETECTION_SOURCE_IP).is_some() {
            let (nat_local, nat_remote) =
                nat_found(msg, sa.spi_i, sa.spi_r, from.local, from.remote);
            sa.nat_local = nat_local;
            sa.nat_remote = nat_remote;
            reply.extend(nat_detection(sa.spi_i, sa.spi_r, from.local, from.remote));
        }
        if let Some(c) = msg.notify(n::COOKIE2) {
            reply.push(Pl::Notify {
                protocol: 0,
                spi: vec![],
                ty: n::COOKIE2,
                data: c.to_vec(),
            });
        }
        let old = sa.remote;
        sa.remote = from.remote;
        if !from.local.ip().is_unspecified() || sa.local.ip().is_unspecified() {
            sa.local = from.local;
        }
        sa.natt = sa.natt || from.natt;
        let nat = if sa.nat_remote {
            ", peer behind a NAT"
        } else {
            ""
        };
        self.logf(format!(
            "{tunnel}: peer moved IKE_SA {spi:016x} from {old} to {} with UPDATE_SA_ADDRESSES{nat}",
            from.remote
        ));
        self.children_moved(spi);
        Ok(reply)
    }
}

/// Whether NO_NATS_ALLOWED's data (source address, destination address,
/// source port, destination port: RFC 4555 3.9) names the path the
/// request came over. Our address is not checked when the socket is bound
/// to any address (the driver does not know it).
fn no_nats_match(d: &[u8], from: Path) -> bool {
    let alen = match from.remote.ip() {
        IpAddr::V4(_) => 4,
        IpAddr::V6(_) => 16,
    };
    if d.len() != 2 * alen + 4 {
        return false;
    }
    let ip = |b: &[u8]| -> IpAddr {
        if alen == 4 {
            IpAddr::from(<[u8; 4]>::try_from(b).unwrap_or_default())
        } else {
            IpAddr::from(<[u8; 16]>::try_from(b).unwrap_or_default())
        }
    };
    let src = ip(&d[..alen]);
    let dst = ip(&d[alen..2 * alen]);
    let sport = u16::from_be_bytes([d[2 * alen], d[2 * alen + 1]]);
    let dport = u16::from_be_bytes([d[2 * alen + 2], d[2 * alen + 3]]);
    src == from.remote.ip()
        && sport == from.remote.port()
        && dport == from.local.port()
        && (from.local.ip().is_unspecified() || dst == from.local.ip())
}
