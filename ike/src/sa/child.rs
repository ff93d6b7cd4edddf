//! The first Child SA and every later one: choosing it from a request,
//! recording it and handing it to the data plane, and keeping one IKE SA
//! per tunnel when both ends initiated.

use super::config::TunnelConfig;
use super::engine::{ChildSaParams, Engine, Output};
use super::ike_sa::{ChildSa, IkeState};
use super::msg::{notify as n, Msg, Selector};
use super::proposal::{self, esp_offer, select_esp, Chosen};
use super::random::jitter;
use std::time::Instant;

impl Engine {
    /// Record a new Child SA and hand it to the data plane.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn child_established(
        &mut self,
        spi: u64,
        t: &TunnelConfig,
        chosen: Chosen,
        spi_in: u32,
        spi_out: u32,
        keys: crate::crypto::keys::ChildKeys,
        we_initiated: bool,
        ts_local: Vec<Selector>,
        ts_remote: Vec<Selector>,
        rekey_of: Option<u32>,
        now: Instant,
    ) {
        let rekey = jitter(t.child_lifetime, u64::from(spi_in));
        let Some(sa) = self.sas.get_mut(&spi) else {
            return;
        };
        sa.children.push(ChildSa {
            spi_in,
            spi_out,
            chosen,
            ts_local,
            ts_remote,
            created: now,
            rekey_at: now + rekey,
            expire_at: now + t.child_lifetime + t.child_lifetime / 10,
            rekeyed: false,
            superseded: false,
        });
        let params = ChildSaParams {
            tunnel: t.name.clone(),
            spi_in,
            spi_out,
            chosen,
            keys,
            we_initiated,
            local: sa.local,
            remote: sa.remote,
            encap: sa.natt,
            replay_window: t.replay_window,
            rekey_of,
            lifetime_kb: t.child_lifetime_kb,
            hard_lifetime: t.child_lifetime + t.child_lifetime / 10,
            virtual_template: t.virtual_template,
            cp: self.vt.cp_of(&t.name).cloned().unwrap_or_default(),
        };
        let msg = format!(
            "{}: CHILD_SA established with SPIs {spi_in:08x}_i {spi_out:08x}_o and {}",
            t.name,
            chosen.describe()
        );
        self.logf(msg);
        self.out.push_back(Output::ChildUp(Box::new(params)));
        self.await_install(
            spi,
            spi_in,
            super::install::Installing {
                ike: spi,
                tunnel: t.name.clone(),
                spi_out,
                rekey_of,
                we_initiated,
                deadline: now + super::install::INSTALL_TIMEOUT,
            },
        );
        self.tunnel_up(&t.name, now);
    }

    /// Both ends initiated: keep the IKE SA with the lower SPIi, as both
    /// sides see the same two SAs and so agree without talking.
    pub(crate) fn dedupe_tunnel(&mut self, tunnel: &str, now: Instant) {
        // The tunnel is up: an initiation of ours still in IKE_SA_INIT is
        // no longer needed (the peer holds at most a half-open SA for it,
        // which expires).
        let mine = self.sas.of_tunnel(tunnel);
        let up = mine
            .iter()
            .filter_map(|k| self.sas.get(k))
            .any(|s| s.state == IkeState::Established);
        if up {
            let stale: Vec<u64> = mine
                .iter()
                .copied()
                .filter(|k| {
                    self.sas
                        .get(k)
                        .is_some_and(|s| s.state == IkeState::InitSent)
                })
                .collect();
            for spi in stale {
                self.logf(format!(
                    "{tunnel}: tunnel is up, abandoning our IKE_SA_INIT {spi:016x}"
                ));
                self.sas.remove(&spi);
            }
        }
        let mut est: Vec<(u64, u64)> = self
            .sas
            .of_tunnel(tunnel)
            .into_iter()
            .filter_map(|k| self.sas.get(&k).map(|s| (k, s)))
            .filter(|(_, s)| s.state == IkeState::Established && s.successor.is_none())
            .map(|(k, s)| (s.spi_i, k))
            .collect();
        if est.len() < 2 {
            return;
        }
        est.sort();
        for (_, spi) in est.into_iter().skip(1) {
            self.logf(format!(
                "{tunnel}: duplicate IKE_SA {spi:016x}, deleting it"
            ));
            if let Some(sa) = self.sas.get_mut(&spi) {
                // Its Child SAs go with it; keep the tunnel up.
                sa.state = IkeState::Rekeyed;
            }
            self.send_ike_delete_now(spi);
            self.remove_sa(spi, now);
        }
    }

    /// Choose a Child SA from a request (IKE_AUTH or CREATE_CHILD_SA):
    /// (chosen, proposal number, peer's SPI, TSi, TSr) or the error notify
    /// and the reason.
    #[allow(clippy::type_complexity)]
    pub(crate) fn negotiate_child(
        &self,
        t: &TunnelConfig,
        msg: &Msg,
        dh: Option<u16>,
    ) -> Result<(Chosen, u8, u32, Vec<Selector>, Vec<Selector>), (u16, String)> {
        if msg.notify(n::USE_TRANSPORT_MODE).is_some() {
            return Err((
                n::NO_PROPOSAL_CHOSEN,
                "peer asked for transport mode; tunnel interfaces use tunnel mode".into(),
            ));
        }
        let offer = msg
            .sa()
            .ok_or((n::INVALID_SYNTAX, "no SA payload".to_string()))?;
        let (chosen, num, spi) = select_esp(&t.esp, offer, dh)
            .map_err(|m| (n::NO_PROPOSAL_CHOSEN, format!("ESP proposal mismatch: {m}")))?;
        let spi_out = <[u8; 4]>::try_from(spi.as_slice())
            .map(u32::from_be_bytes)
            .map_err(|_| (n::INVALID_SYNTAX, "bad ESP SPI".to_string()))?;
        let (tsi, tsr) = msg
            .ts()
            .ok_or((n::TS_UNACCEPTABLE, "no traffic selectors".to_string()))?;
        if let Some(bad) = tsi.iter().chain(tsr).find(|s| !s.all_traffic()) {
            return Err((n::TS_UNACCEPTABLE, format!("selector mismatch: peer proposed {bad}; a route-based tunnel needs any protocol and port")));
        }
        if tsi.is_empty() || tsr.is_empty() {
            return Err((
                n::TS_UNACCEPTABLE,
                "selector mismatch: empty traffic selectors".into(),
            ));
        }
        Ok((chosen, num, spi_out, tsi.to_vec(), tsr.to_vec()))
    }
}

pub(crate) fn child_failure(e: u16, t: &TunnelConfig) -> String {
    match e {
        n::NO_PROPOSAL_CHOSEN => format!("ESP proposal mismatch: we offered {}, peer accepted none (NO_PROPOSAL_CHOSEN)", proposal::describe_offer(&esp_offer(&t.esp, [0; 4], None))),
        n::TS_UNACCEPTABLE => "selector mismatch: peer refused 0.0.0.0/0 and ::/0 (TS_UNACCEPTABLE); configure the peer for a route-based tunnel".into(),
        other => format!("peer answered with {}", n::name(other)),
    }
}
