//! Child SAs waiting for the data plane.
//!
//! A new Child SA goes to the driver as [`Output::ChildUp`]; the data plane
//! installs it and the driver answers with [`Engine::child_installed`].
//! Until then every datagram of that IKE SA is held back and no new
//! exchange starts on it:
//! - as responder, the response that hands the peer the new SA leaves only
//!   once our inbound SA can take its packets;
//! - as initiator, nothing after the exchange (the delete of the old SA of
//!   a rekey) goes out before the new pair is in place, so the old SA keeps
//!   carrying traffic until then.
//!
//! An install that fails, or that the data plane does not confirm within
//! [`INSTALL_TIMEOUT`], fails the exchange: the peer is told (a rekey is
//! answered with TEMPORARY_FAILURE, or the new SA is deleted), the old SA
//! stays, and the reason is logged and shown.

use super::engine::{Engine, Output, TunnelStatus};
use super::ike_sa::Task;
use super::msg::{notify as n, CREATE_CHILD_SA};
use std::time::{Duration, Instant};

/// How long the data plane may take to confirm an install before the
/// exchange fails. It installs one SA after the other, so in a burst the
/// last one waits for all before it: 200 tunnels coming up at once on a
/// hub took the debug build on 2 busy cores 9 s (tests/hub_burst.rs), and
/// at 5 s a quarter of them failed and waited for their peer to give up
/// retransmitting IKE_AUTH (about 90 s). 30 s is still well inside a
/// peer's retransmissions of IKE_AUTH (strongSwan and rvpn: 4 s, x1.8,
/// 5 tries), which are held back until then and then answered.
pub const INSTALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How long after a failed rekey the old SA is rekeyed again.
const REKEY_RETRY: Duration = Duration::from_secs(5);

/// A Child SA handed to the data plane and not yet confirmed.
#[derive(Debug, Clone)]
pub(crate) struct Installing {
    /// The IKE SA that created it (our SPI).
    pub ike: u64,
    pub tunnel: String,
    pub spi_out: u32,
    /// The Child SA it replaces (inbound SPI), for a rekey.
    pub rekey_of: Option<u32>,
    pub we_initiated: bool,
    pub deadline: Instant,
}

impl Engine {
    /// Hold the IKE SA's datagrams until Child SA `spi_in` is installed.
    pub(crate) fn await_install(&mut self, spi: u64, spi_in: u32, inst: Installing) {
        if let Some(sa) = self.sas.get_mut(&spi) {
            sa.installs += 1;
        }
        self.installing.insert(spi_in, inst);
    }

    /// The data plane's answer for Child SA `spi_in` (see
    /// [`Output::ChildUp`]): `Ok` once its inbound SA takes packets, or why
    /// it could not be installed.
    pub fn child_installed(&mut self, spi_in: u32, result: Result<(), String>, now: Instant) {
        self.installed(spi_in, result, now);
        self.sync();
    }

    fn installed(&mut self, spi_in: u32, result: Result<(), String>, now: Instant) {
        let Some(inst) = self.installing.remove(&spi_in) else {
            return;
        };
        // The IKE SA that holds the messages; after an IKE SA rekey moved
        // the Child SAs, the one that has the child now.
        let spi = if self.sas.contains_key(&inst.ike) {
            inst.ike
        } else {
            match self.sas.sa_of_child(spi_in) {
                Some(k) => k,
                None => return,
            }
        };
        match result {
            Ok(()) => self.release(spi, now),
            Err(reason) => self.install_failed(spi, spi_in, inst, reason, now),
        }
    }

    /// Installs not confirmed in time fail.
    pub(crate) fn install_timeouts(&mut self, now: Instant) {
        if self.installing.is_empty() {
            return;
        }
        let late: Vec<u32> = self
            .installing
            .iter()
            .filter(|(_, i)| i.deadline <= now)
            .map(|(s, _)| *s)
            .collect();
        for spi_in in late {
            let why = format!(
                "the data plane did not confirm the install within {} s",
                INSTALL_TIMEOUT.as_secs()
            );
            self.installed(spi_in, Err(why), now);
        }
    }

    /// The earliest install deadline.
    pub(crate) fn install_deadline(&self) -> Option<Instant> {
        self.installing.values().map(|i| i.deadline).min()
    }

    /// One install of the SA is done: once none is left, send what was
    /// held and start the next exchange.
    fn release(&mut self, spi: u64, now: Instant) {
        let Some(sa) = self.sas.get_mut(&spi) else {
            return;
        };
        sa.installs = sa.installs.saturating_sub(1);
        if sa.installs == 0 {
            self.flush_held(spi, now);
        }
    }

    fn install_failed(
        &mut self,
        spi: u64,
        spi_in: u32,
        inst: Installing,
        reason: String,
        now: Instant,
    ) {
        let tunnel = inst.tunnel.clone();
        self.logf(format!(
            "{tunnel}: CHILD_SA {spi_in:08x}_i {:08x}_o could not be installed: {reason}",
            inst.spi_out
        ));
        let why = format!("data plane: {reason}");
        let Some(old_in) = inst.rekey_of else {
            // The tunnel's first Child SA (IKE_AUTH): the IKE SA is of no
            // use without it. The peer of an initiator has it installed
            // and is told; a responder's peer never got its IKE_AUTH
            // response and gives up on its own.
            if let Some(sa) = self.sas.get_mut(&spi) {
                sa.installs = 0;
                sa.held.clear();
            }
            if inst.we_initiated {
                self.send_ike_delete_now(spi);
            }
            self.remove_sa(spi, now);
            self.tunnel_down(&tunnel, Some(TunnelStatus::Phase2Failed(why)), now);
            return;
        };
        let Some(sa) = self.sas.get_mut(&spi) else {
            return;
        };
        sa.installs = sa.installs.saturating_sub(1);
        // The old SA carries on; a rekey we wanted is tried again soon, one
        // the peer wanted is the peer's to retry.
        if let Some(c) = sa.children.iter_mut().find(|c| c.spi_in == old_in) {
            c.superseded = false;
            c.rekeyed = false;
            if inst.we_initiated {
                c.rekey_at = now + REKEY_RETRY;
            }
        }
        sa.queue
            .retain(|t| *t != Task::DeleteChild { spi_in: old_in });
        sa.collision_nonces.retain(|(o, _)| *o != old_in);
        if inst.we_initiated {
            // The peer installed the new SA with its response: delete it.
            if !sa.queue.contains(&Task::DeleteChild { spi_in }) {
                sa.queue.push_front(Task::DeleteChild { spi_in });
            }
            if sa.installs == 0 {
                self.flush_held(spi, now);
            }
            return;
        }
        // We answered the rekey: the held response hands the peer the new
        // SA. Answer TEMPORARY_FAILURE instead (the peer retries later, RFC
        // 7296 2.25) and forget the new SA.
        let resp_id = sa.last_resp.as_ref().map(|(id, _)| *id);
        if sa.installs == 0 {
            sa.held.clear();
        } else if let Some((_, d)) = &sa.last_resp {
            let d = d.clone();
            sa.held.retain(|h| *h != d);
        }
        if let Some(i) = sa.child_by_in(spi_in) {
            let c = sa.children.remove(i);
            self.out.push_back(Output::ChildDown {
                tunnel: tunnel.clone(),
                spi_in: c.spi_in,
                spi_out: c.spi_out,
            });
        }
        if let Some(id) = resp_id {
            self.notify_reply(spi, CREATE_CHILD_SA, id, n::TEMPORARY_FAILURE);
        }
        if self.sas.get(&spi).is_some_and(|s| s.installs == 0) {
            self.flush_held(spi, now);
        }
    }

    /// No install is pending any more: send what was held and go on with
    /// the queue.
    fn flush_held(&mut self, spi: u64, now: Instant) {
        let Some(sa) = self.sas.get_mut(&spi) else {
            return;
        };
        let held = std::mem::take(&mut sa.held);
        for d in held {
            self.send_to_peer(spi, d);
        }
        self.run_queue(spi, now);
    }
}
