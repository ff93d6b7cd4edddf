//! The IKE engine: every IKE SA of the daemon, driven by datagrams,
//! timer ticks and operator commands with the current time passed in.
//! It returns [`Output`]s (datagrams to send, Child SAs to install or
//! remove) and never touches a socket or reads the clock.

use super::codec;
use super::config::{EngineConfig, Peer, TunnelConfig};
use super::guard::{self, CookieSecrets, GuardStats, LogLimiter, Noise};
use super::ike_sa::{IkeState, Task};
use super::msg::{Msg, Pl, IKE_SA_INIT};
use super::proposal::Chosen;
use super::table::SaTable;
use crate::crypto::keys::ChildKeys;
use crate::crypto::rand::Random;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// A Child SA for the data plane to install.
#[derive(Debug)]
pub struct ChildSaParams {
    /// The tunnel interface it belongs to.
    pub tunnel: String,
    /// Our SPI: what the peer puts in the packets it sends us.
    pub spi_in: u32,
    /// The peer's SPI: what we put in the packets we send.
    pub spi_out: u32,
    /// The negotiated algorithms.
    pub chosen: Chosen,
    /// Keys: `keys.encr_i/integ_i` protect initiator-to-responder traffic of
    /// the exchange that created the SA; `we_initiated` says which we were.
    pub keys: ChildKeys,
    /// Whether we initiated the exchange that created the SA.
    pub we_initiated: bool,
    /// Our address (the IKE SA's local endpoint).
    pub local: SocketAddr,
    /// The peer's address (the IKE SA's remote endpoint).
    pub remote: SocketAddr,
    /// ESP in UDP 4500 (NAT found, or the peer forces it).
    pub encap: bool,
    /// ESP anti-replay window size, in packets (from the tunnel's configuration).
    pub replay_window: u32,
    /// The Child SA this one replaces (its inbound SPI), for
    /// make-before-break.
    pub rekey_of: Option<u32>,
    /// Volume lifetime in kilobytes (0: none); the data plane asks for a
    /// rekey ([`Engine::rekey_child`]) when it nears it.
    pub lifetime_kb: u64,
    /// When IKE itself deletes the SA if no rekey replaced it (its hard
    /// time lifetime, from now). A data plane that can expire SAs on its
    /// own (the kernel) removes them a little after this, so that none
    /// outlives a daemon that died.
    pub hard_lifetime: std::time::Duration,
    /// `Some(N)`: the tunnel is a Virtual-Access cloned from
    /// Virtual-TemplateN.
    pub virtual_template: Option<u32>,
    /// What IKEv2 configuration payloads settled for the tunnel: the
    /// peer's addresses (we are its responder) or ours and the routes we
    /// were given (we asked).
    pub cp: super::vtemplate::CpResult,
}

impl ChildSaParams {
    /// (encryption key, integrity key) for what we send.
    pub fn outbound_keys(&self) -> (&[u8], &[u8]) {
        if self.we_initiated {
            (self.keys.encr_i.expose(), self.keys.integ_i.expose())
        } else {
            (self.keys.encr_r.expose(), self.keys.integ_r.expose())
        }
    }
    /// (encryption key, integrity key) for what we receive.
    pub fn inbound_keys(&self) -> (&[u8], &[u8]) {
        if self.we_initiated {
            (self.keys.encr_r.expose(), self.keys.integ_r.expose())
        } else {
            (self.keys.encr_i.expose(), self.keys.integ_i.expose())
        }
    }
}

/// What the engine asks its driver to do.
#[derive(Debug)]
pub enum Output {
    /// Send a datagram; `natt` means from/to port 4500 with the non-ESP
    /// marker prepended by the driver.
    Send {
        /// Our address and port to send from.
        local: SocketAddr,
        /// The peer's address and port.
        remote: SocketAddr,
        /// Send from and to the NAT-T port, behind the non-ESP marker.
        natt: bool,
        /// The IKE message.
        data: Vec<u8>,
    },
    /// Install a Child SA, then answer with [`Engine::child_installed`]:
    /// the IKE SA's next datagram (the response that hands the peer the
    /// SA, or the delete of the SA it replaces) waits for that answer.
    ChildUp(Box<ChildSaParams>),
    /// Remove a Child SA (by inbound SPI).
    ChildDown {
        /// The tunnel the SA belonged to.
        tunnel: String,
        /// Its inbound SPI.
        spi_in: u32,
        /// Its outbound SPI.
        spi_out: u32,
    },
    /// A tunnel's status changed.
    Status {
        /// The tunnel.
        tunnel: String,
        /// Its new status.
        status: TunnelStatus,
    },
    /// A Child SA's addresses changed (NAT rebinding followed, or MOBIKE
    /// UPDATE_SA_ADDRESSES): the data plane sends its ESP to `remote`
    /// from `local` from now on.
    ChildMoved(ChildMove),
}

/// New addresses of an installed Child SA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildMove {
    /// The tunnel the SA belongs to.
    pub tunnel: String,
    /// Its inbound SPI.
    pub spi_in: u32,
    /// Its outbound SPI.
    pub spi_out: u32,
    /// Our address now (unspecified: the kernel picks it by route).
    pub local: SocketAddr,
    /// The peer's address and port now.
    pub remote: SocketAddr,
    /// ESP in UDP (NAT-T).
    pub encap: bool,
}

/// Per-tunnel status for `show crypto session`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TunnelStatus {
    /// Negotiating (or waiting to retry).
    Negotiating,
    /// IKE SA and at least one Child SA up.
    Up,
    /// IKE SA failed, with the reason.
    Phase1Failed(String),
    /// IKE SA up but the Child SA failed, with the reason.
    Phase2Failed(String),
    /// `shutdown` on the interface.
    AdminDown,
}

impl TunnelStatus {
    /// The IOS-style label.
    pub fn label(&self) -> String {
        match self {
            TunnelStatus::Negotiating => "DOWN-NEGOTIATING".into(),
            TunnelStatus::Up => "UP-ACTIVE".into(),
            TunnelStatus::Phase1Failed(r) => format!("DOWN: PHASE1-FAILED ({r})"),
            TunnelStatus::Phase2Failed(r) => format!("DOWN: PHASE2-FAILED ({r})"),
            TunnelStatus::AdminDown => "DOWN".into(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct TunnelRt {
    pub status: TunnelStatus,
    pub since: Instant,
    /// Next initiation attempt (initiating tunnels only).
    pub retry_at: Option<Instant>,
    pub backoff: Duration,
    /// Why it last went down or failed to come up, and when.
    pub last_down: Option<(String, Instant)>,
}

/// The IKE engine.
pub struct Engine {
    pub(crate) cfg: EngineConfig,
    /// Tunnel name -> index in `cfg.tunnels`.
    pub(crate) tunnel_index: HashMap<String, usize>,
    /// The IKE SAs by our SPI, with their timer heap, half-open counters
    /// and lookup indexes.
    pub(crate) sas: SaTable,
    pub(crate) tunnels: BTreeMap<String, TunnelRt>,
    /// Initiation retries of the tunnels: (when, tunnel), checked against
    /// `TunnelRt::retry_at` when they come up (stale entries are skipped).
    pub(crate) retries: BinaryHeap<Reverse<(Instant, String)>>,
    pub(crate) rng: Box<dyn Random + Send>,
    pub(crate) out: VecDeque<Output>,
    pub(crate) cookies: CookieSecrets,
    /// Rate limit of the log lines unauthenticated packets cause.
    pub(crate) noise: LogLimiter,
    pub(crate) stats: GuardStats,
    /// Local IKE ports (500 and 4500 unless tests move them).
    pub(crate) port: u16,
    pub(crate) natt_port: u16,
    /// Log lines for the driver to emit (strongSwan-like, no secrets).
    pub(crate) log: VecDeque<String>,
    /// Child SAs handed to the data plane and not yet confirmed, by
    /// inbound SPI.
    pub(crate) installing: HashMap<u32, super::install::Installing>,
    /// [`Engine::shutdown`] was called: nothing is negotiated any more.
    pub(crate) stopping: bool,
    /// While a request is handled: where it came from, where its
    /// response goes (RFC 7296 2.11, RFC 4555 3.5).
    pub(crate) reply_to: Option<Path>,
    /// The wall clock at an instant of the engine's clock, for
    /// certificate validity, as [`Engine::set_wall_clock`] set it.
    pub(crate) wall_anchor: Option<(Instant, std::time::SystemTime)>,
    /// The CERTREQ of every trustpoint a tunnel verifies peers with, for
    /// IKE_SA_INIT responses (the tunnel is not known yet there).
    pub(crate) certreq_all: Option<Pl>,
    /// Virtual-Access tunnels, address pools, configuration payloads.
    pub(crate) vt: super::vtemplate::VtState,
}

impl Engine {
    /// An engine with no tunnels yet.
    pub fn new(mut rng: Box<dyn Random + Send>, port: u16, natt_port: u16) -> Engine {
        let cookies = CookieSecrets::new(rng.as_mut());
        Engine {
            cfg: EngineConfig::default(),
            tunnel_index: HashMap::new(),
            sas: SaTable::default(),
            tunnels: BTreeMap::new(),
            retries: BinaryHeap::new(),
            rng,
            out: VecDeque::new(),
            cookies,
            noise: LogLimiter::default(),
            stats: GuardStats::default(),
            port,
            natt_port,
            log: VecDeque::new(),
            installing: HashMap::new(),
            stopping: false,
            reply_to: None,
            wall_anchor: None,
            certreq_all: None,
            vt: Default::default(),
        }
    }

    /// Tie the engine's clock to the wall clock: `at` is `wall`.
    /// Certificate validity is judged by it; the driver calls this (the
    /// sans-IO core reads no clock).
    pub fn set_wall_clock(&mut self, at: Instant, wall: std::time::SystemTime) {
        self.wall_anchor = Some((at, wall));
    }

    /// The wall-clock time of `now`, from the anchor the caller set with
    /// [`Engine::set_wall_clock`] (the core never reads a clock). Without
    /// one it is the Unix epoch, before any certificate's notBefore: a
    /// peer certificate is then refused as not yet valid, never accepted.
    pub(crate) fn wall(&mut self, now: Instant) -> std::time::SystemTime {
        let Some((at, wall)) = self.wall_anchor else {
            return std::time::UNIX_EPOCH;
        };
        if now >= at {
            wall + (now - at)
        } else {
            wall - (at - now)
        }
    }

    pub(crate) fn logf(&mut self, s: String) {
        self.log.push_back(s);
    }

    /// A log line caused by an unauthenticated packet (or its expiry):
    /// rate-limited per kind, and only formatted when it is shown.
    pub(crate) fn log_noise(&mut self, kind: Noise, now: Instant, line: impl FnOnce() -> String) {
        if self.noise.allow(kind, now, &mut self.log) {
            self.log.push_back(line());
        }
    }

    /// The next log line, if any.
    pub fn poll_log(&mut self) -> Option<String> {
        let l = self.log.pop_front();
        if l.is_none() {
            shrink_idle(&mut self.log);
        }
        l
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        let o = self.out.pop_front();
        if o.is_none() {
            shrink_idle(&mut self.out);
        }
        o
    }

    /// What the engine did with unauthenticated traffic so far.
    pub fn guard_stats(&self) -> GuardStats {
        self.stats
    }

    /// Half-open SAs now.
    pub fn half_open(&self) -> usize {
        self.sas.half_open()
    }

    /// Every IKE SA the engine holds.
    pub fn sa_count(&self) -> usize {
        self.sas.len()
    }

    /// Bring the SA indexes and timers up to date after a change; every
    /// public entry point that can change an SA ends with it.
    pub(crate) fn sync(&mut self) {
        self.sas.sync();
        while let Some(Reverse((t, name))) = self.retries.peek() {
            let live = self
                .tunnels
                .get(name)
                .is_some_and(|rt| rt.retry_at == Some(*t));
            if live {
                break;
            }
            self.retries.pop();
        }
        if self.retries.len() > 2 * self.tunnels.len() + 64 {
            let live: Vec<Reverse<(Instant, String)>> = self
                .tunnels
                .iter()
                .filter_map(|(n, rt)| rt.retry_at.map(|t| Reverse((t, n.clone()))))
                .collect();
            self.retries = BinaryHeap::from(live);
        }
    }

    /// Set (or clear) a tunnel's next initiation attempt.
    pub(crate) fn set_retry(&mut self, name: &str, at: Option<Instant>) {
        if let Some(rt) = self.tunnels.get_mut(name) {
            rt.retry_at = at;
            if let Some(t) = at {
                self.retries.push(Reverse((t, name.to_string())));
            }
        }
    }

    pub(crate) fn tunnel_cfg(&self, name: &str) -> Option<&TunnelConfig> {
        self.tunnel_index
            .get(name)
            .and_then(|&i| self.cfg.tunnels.get(i))
            .or_else(|| self.vt.instance_cfg(name))
    }

    /// The tunnels a peer at `remote` reaching us at `local` may belong to
    /// (by address, then dynamic ones), as indices into the configuration:
    /// those whose `tunnel source` is `local` first, then those without a
    /// source (any address); with an unspecified `local` (the driver could
    /// not tell where the datagram went) every source is a candidate.
    pub(crate) fn candidates(&self, local: SocketAddr, remote: SocketAddr) -> Vec<usize> {
        let mut c = self.candidates_any_order(local, remote);
        let exact = |i: &usize| {
            self.cfg
                .tunnels
                .get(*i)
                .is_some_and(|t| t.local == Some(local.ip()))
        };
        // Stable: configuration order within each group.
        c.sort_by_key(|i| !exact(i));
        c
    }

    fn candidates_any_order(&self, local: SocketAddr, remote: SocketAddr) -> Vec<usize> {
        self.cfg
            .tunnels
            .iter()
            .enumerate()
            .filter(|(_, t)| {
                !t.shutdown
                    && t.local
                        .is_none_or(|l| l == local.ip() || local.ip().is_unspecified())
            })
            .filter(|(_, t)| match t.peer {
                Peer::Address(a) => a == remote.ip(),
                Peer::Dynamic => true,
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// Replace the configuration. Tunnels whose configuration did not
    /// change keep their SAs; removed or changed ones are torn down and
    /// (if they initiate) negotiated again.
    pub fn set_config(&mut self, cfg: EngineConfig, now: Instant) {
        let old = std::mem::replace(&mut self.cfg, cfg);
        let mut verifying: Vec<std::sync::Arc<crate::pki::TrustPoint>> = Vec::new();
        for t in &self.cfg.tunnels {
            if t.auth_remote.iter().any(|k| k.is_signature()) {
                for tp in &t.trustpoints {
                    if !verifying.iter().any(|v| v.name == tp.name) {
                        verifying.push(tp.clone());
                    }
                }
            }
        }
        self.certreq_all = super::sigauth::certreq(&verifying);
        self.tunnel_index = self
            .cfg
            .tunnels
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        let mut changed: Vec<String> = old
            .tunnels
            .iter()
            .filter(|t| self.tunnel_cfg(&t.name) != Some(t))
            .map(|t| t.name.clone())
            .collect();
        // A changed or removed template takes its Virtual-Access tunnels.
        let clones: Vec<String> = changed
            .iter()
            .flat_map(|n| self.vt.instances_of(n))
            .collect();
        changed.extend(clones);
        for name in &changed {
            self.teardown_tunnel(name, now, true);
            self.tunnels.remove(name);
        }
        let names: Vec<(String, bool, bool)> = self
            .cfg
            .tunnels
            .iter()
            .map(|t| {
                (
                    t.name.clone(),
                    t.shutdown,
                    matches!(t.peer, Peer::Address(_)),
                )
            })
            .collect();
        for (name, shutdown, initiates) in names {
            if self.tunnels.contains_key(&name) {
                continue;
            }
            let status = if shutdown {
                TunnelStatus::AdminDown
            } else {
                TunnelStatus::Negotiating
            };
            let retry_at = (!shutdown && initiates).then_some(now);
            self.tunnels.insert(
                name.clone(),
                TunnelRt {
                    status: status.clone(),
                    since: now,
                    retry_at: None,
                    backoff: Duration::from_secs(1),
                    last_down: None,
                },
            );
            self.set_retry(&name, retry_at);
            self.out.push_back(Output::Status {
                tunnel: name,
                status,
            });
        }
        self.vt.sync_pools(&self.cfg.tunnels);
        self.sync();
    }

    /// Tear down every SA of a tunnel (`clear crypto session`, config
    /// change). With `notify`, the peer is told (INFORMATIONAL delete).
    pub(crate) fn teardown_tunnel(&mut self, name: &str, now: Instant, notify: bool) {
        for spi in self.sas.of_tunnel(name) {
            if notify {
                self.send_ike_delete_now(spi);
            }
            self.remove_sa(spi, now);
        }
    }

    /// The data plane saw Child SA `spi_in` near its volume lifetime (or
    /// sequence-number space): rekey it now, unless that is under way.
    pub fn rekey_child(&mut self, spi_in: u32, now: Instant) {
        let found = self
            .sas
            .sa_of_child(spi_in)
            .and_then(|k| self.sas.get_mut(&k))
            .and_then(|sa| {
                sa.children
                    .iter_mut()
                    .find(|c| c.spi_in == spi_in && !c.rekeyed && !c.superseded)
            });
        if let Some(c) = found {
            c.rekey_at = now;
            self.handle_timeout(now);
        }
        self.sync();
    }

    /// `clear crypto session [peer ADDR]`: delete the SAs (telling the
    /// peers) and negotiate again.
    pub fn clear(&mut self, peer: Option<IpAddr>, now: Instant) {
        let spis: Vec<u64> = self
            .sas
            .iter()
            .filter(|(_, sa)| peer.is_none_or(|p| sa.remote.ip() == p))
            .map(|(k, _)| *k)
            .collect();
        for spi in spis {
            self.note_sa_down(spi, "cleared (clear crypto session)", now);
            self.send_ike_delete_now(spi);
            self.remove_sa(spi, now);
        }
        let names: Vec<String> = self.tunnels.keys().cloned().collect();
        for n in names {
            let initiates = self.tunnel_cfg(&n).is_some_and(|t| {
                !t.shutdown && matches!(t.peer, Peer::Address(a) if peer.is_none_or(|p| p == a))
            });
            if initiates {
                if let Some(rt) = self.tunnels.get_mut(&n) {
                    rt.backoff = Duration::from_secs(1);
                }
                self.set_retry(&n, Some(now));
            }
        }
        self.sync();
    }

    /// The daemon is stopping: tell every peer that its IKE SA is gone
    /// (an INFORMATIONAL request with a Delete payload for the IKE SA, so
    /// the peer fails over at once instead of waiting for DPD), drop every
    /// SA (their Child SAs go down) and negotiate nothing more. The
    /// Deletes go out once, ahead of anything held for the data plane, and
    /// are not retransmitted: nobody waits for the answers. Returns how
    /// many Deletes were sent (one per established IKE SA).
    pub fn shutdown(&mut self, now: Instant) -> usize {
        self.stopping = true;
        // Look-ups by tunnel below also scan the SAs changed since the
        // last sync: none, from here on.
        self.sync();
        let mut spis: Vec<u64> = self.sas.iter().map(|(k, _)| *k).collect();
        spis.sort_unstable();
        let mut told = 0;
        for spi in spis {
            let delete = self.ike_delete(spi).and_then(|d| {
                let sa = self.sas.get(&spi)?;
                let name = sa.tunnel.clone().unwrap_or_else(|| "-".into());
                Some((d, sa.local, sa.remote, sa.natt, name))
            });
            if let Some((data, local, remote, natt, name)) = delete {
                self.logf(format!(
                    "{name}: shutting down, sending DELETE for IKE_SA {spi:016x} to {remote}"
                ));
                for data in super::frag::split_train(data) {
                    self.out.push_back(Output::Send {
                        local,
                        remote,
                        natt,
                        data,
                    });
                }
                told += 1;
            }
            self.remove_sa(spi, now);
        }
        self.installing.clear();
        for rt in self.tunnels.values_mut() {
            rt.retry_at = None;
        }
        told
    }

    /// Drop an SA and everything it carries, telling the driver to remove
    /// its Child SAs and updating the tunnel's status.
    pub(crate) fn remove_sa(&mut self, spi: u64, now: Instant) {
        let Some(sa) = self.sas.remove(&spi) else {
            return;
        };
        if let Some(t) = &sa.tunnel {
            for c in &sa.children {
                self.out.push_back(Output::ChildDown {
                    tunnel: t.clone(),
                    spi_in: c.spi_in,
                    spi_out: c.spi_out,
                });
            }
            // Another established SA of the tunnel (after a rekey) keeps it up.
            let other = self.sas.any_of_tunnel(t, |s| {
                s.state == IkeState::Established && !s.children.is_empty()
            });
            if !other && sa.state != IkeState::Rekeyed {
                self.tunnel_down(t, None, now);
            }
            self.tunnel_released(t);
        }
    }

    /// A tunnel lost its SAs: record why and schedule a retry if it initiates.
    pub(crate) fn tunnel_down(&mut self, name: &str, status: Option<TunnelStatus>, now: Instant) {
        // A failed attempt (ours, or a stranger's) does not take down a
        // tunnel that still has a working SA.
        let working = self.sas.any_of_tunnel(name, |s| {
            s.state == IkeState::Established && !s.children.is_empty()
        });
        if working {
            if let Some(TunnelStatus::Phase1Failed(r) | TunnelStatus::Phase2Failed(r)) = &status {
                // Strangers' packets get here too: rate-limited.
                self.log_noise(Noise::InitRefused, now, || {
                    format!("{name}: a negotiation failed ({r}); the established SA stays")
                });
            }
            return;
        }
        if let Some(TunnelStatus::Phase1Failed(r) | TunnelStatus::Phase2Failed(r)) = &status {
            self.note_down(name, r, now);
        }
        let initiates = self
            .tunnel_cfg(name)
            .is_some_and(|t| !t.shutdown && matches!(t.peer, Peer::Address(_)));
        let Some(rt) = self.tunnels.get_mut(name) else {
            return;
        };
        let st = status.unwrap_or(match &rt.status {
            TunnelStatus::Up => TunnelStatus::Negotiating,
            s => s.clone(),
        });
        let retry = initiates.then(|| now + rt.backoff);
        if initiates {
            rt.backoff = (rt.backoff * 2).min(Duration::from_secs(30));
        }
        if rt.status != st {
            rt.status = st.clone();
            rt.since = now;
            self.out.push_back(Output::Status {
                tunnel: name.to_string(),
                status: st,
            });
        }
        if retry.is_some() {
            self.set_retry(name, retry);
        }
    }

    pub(crate) fn tunnel_up(&mut self, name: &str, now: Instant) {
        let Some(rt) = self.tunnels.get_mut(name) else {
            return;
        };
        // A stale entry in `retries` is skipped when it comes up.
        rt.retry_at = None;
        rt.backoff = Duration::from_secs(1);
        if rt.status != TunnelStatus::Up {
            rt.status = TunnelStatus::Up;
            rt.since = now;
            self.out.push_back(Output::Status {
                tunnel: name.to_string(),
                status: TunnelStatus::Up,
            });
        }
    }

    /// When [`Engine::handle_timeout`] wants to be called next: the tops
    /// of the SA timer heap and of the tunnel retries, the earliest
    /// install deadline and a log summary still owed; nothing is scanned.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.sas.next_deadline(),
            self.retries.peek().map(|Reverse((t, _))| *t),
            self.install_deadline(),
            self.noise.pending(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Per-tunnel status.
    pub fn tunnel_status(&self) -> Vec<(String, TunnelStatus, Instant)> {
        self.tunnels
            .iter()
            .map(|(n, rt)| (n.clone(), rt.status.clone(), rt.since))
            .collect()
    }

    /// Queue a datagram to the SA's peer.
    pub(crate) fn send_to_peer(&mut self, spi: u64, data: Vec<u8>) {
        self.send_on(spi, None, data);
    }

    /// Queue a datagram of SA `spi` over `path` (None: the SA's own),
    /// or hold it while an install is pending.
    fn send_on(&mut self, spi: u64, path: Option<Path>, data: Vec<u8>) {
        if let Some(sa) = self.sas.get_mut(&spi) {
            if sa.installs > 0 {
                sa.held.push(data);
                return;
            }
            let to = path.unwrap_or(Path {
                local: sa.local,
                remote: sa.remote,
                natt: sa.natt,
            });
            let datagrams = super::frag::split_train(data);
            if datagrams.len() > 1 {
                sa.frag.sent += datagrams.len() as u64;
            }
            for data in datagrams {
                self.out.push_back(Output::Send {
                    local: to.local,
                    remote: to.remote,
                    natt: to.natt,
                    data,
                });
            }
        }
    }

    /// A datagram arrived on a local IKE port (`natt`: on 4500, marker
    /// already removed by the driver).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        natt: bool,
        data: &[u8],
    ) {
        if self.stopping {
            return;
        }
        self.sync();
        self.datagram(now, local, remote, natt, data);
        self.sync();
    }

    fn datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        natt: bool,
        data: &[u8],
    ) {
        let hdr = match codec::peek(data) {
            Ok(h) => h,
            Err(e) => {
                self.log_noise(Noise::Malformed, now, || {
                    format!("received malformed IKE message from {remote}: {e}")
                });
                return;
            }
        };
        let first_init = hdr.exchange == IKE_SA_INIT && !hdr.response && hdr.spi_r == 0;
        // Sizes first, from the header: nothing of an oversized message
        // is parsed or kept.
        let max = if first_init {
            guard::MAX_INIT_REQUEST
        } else {
            guard::MAX_MESSAGE
        };
        let claimed = usize::try_from(hdr.length).unwrap_or(usize::MAX);
        if claimed > max || data.len() > max {
            self.stats.dropped_oversize += 1;
            let len = data.len().max(claimed);
            self.log_noise(Noise::Oversize, now, || {
                format!("dropped an IKE message of {len} bytes from {remote} (at most {max})")
            });
            return;
        }
        if first_init {
            self.on_init_request(now, local, remote, natt, data, hdr.spi_i);
            return;
        }
        // The I flag says who sent it: the original initiator (we are the
        // responder: our SPI is SPIr) or not (our SPI is SPIi).
        let our = if hdr.initiator { hdr.spi_r } else { hdr.spi_i };
        if !self.sas.contains_key(&our) {
            // RFC 7296 2.21.4: an INVALID_IKE_SPI notify may be sent
            // outside any SA; we stay silent to avoid reflection.
            self.log_noise(Noise::UnknownSa, now, || {
                format!(
                    "received IKE message for unknown SA {:016x}_i {:016x}_r from {remote}, dropped",
                    hdr.spi_i, hdr.spi_r
                )
            });
            return;
        }
        let from = Path {
            local,
            remote,
            natt,
        };
        if hdr.response {
            self.on_response(now, our, data, hdr, from);
        } else {
            self.on_request(now, our, data, hdr, from);
        }
    }

    /// Time passed: retransmit, rekey, expire, probe, retry.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.sync();
        self.noise.roll(now, &mut self.log);
        let mut due = Vec::new();
        while let Some(Reverse((t, name))) = self.retries.peek() {
            if *t > now {
                break;
            }
            let live = self
                .tunnels
                .get(name)
                .is_some_and(|rt| rt.retry_at == Some(*t));
            if live {
                due.push(name.clone());
            }
            self.retries.pop();
        }
        for name in due {
            if let Some(rt) = self.tunnels.get_mut(&name) {
                rt.retry_at = None;
            }
            let busy = self
                .sas
                .any_of_tunnel(&name, |s| s.state != IkeState::Deleting);
            if !busy && !self.stopping {
                self.initiate(&name, now);
            }
            self.sync();
        }
        self.install_timeouts(now);
        self.sync();
        // Only the SAs whose timers are due, off the heap; touching each
        // (get_mut) has the next sync schedule it again.
        for spi in self.sas.due(now) {
            let _ = self.sas.get_mut(&spi);
            self.sa_timers(spi, now);
            self.sync();
        }
    }

    fn sa_timers(&mut self, spi: u64, now: Instant) {
        self.expire_fragments(spi, now);
        let Some(sa) = self.sas.get_mut(&spi) else {
            return;
        };
        if sa.state == IkeState::InitAnswered && now >= sa.created + HALF_OPEN_TIMEOUT {
            let remote = sa.remote;
            self.stats.half_open_expired += 1;
            self.log_noise(Noise::HalfOpenExpired, now, || {
                format!("half-open IKE SA with {remote} timed out")
            });
            self.remove_sa(spi, now);
            return;
        }
        if sa.expire_at.is_some_and(|t| now >= t) {
            let msg = format!(
                "IKE SA {:016x}_i with {} reached its lifetime, deleting",
                sa.spi_i, sa.remote
            );
            self.logf(msg);
            self.note_sa_down(
                spi,
                "IKE SA reached its hard lifetime (its rekey did not complete)",
                now,
            );
            self.send_ike_delete_now(spi);
            self.remove_sa(spi, now);
            return;
        }
        // Retransmission.
        let mut give_up = None;
        let mut resend = None;
        if let Some(p) = sa.pending.as_mut() {
            if now >= p.next {
                if p.tries >= p.max_tries {
                    give_up = Some((p.tries, p.task.to_string()));
                } else {
                    p.tries += 1;
                    p.next = now + p.interval;
                    // DPD retries at a fixed interval (IOS); others back off.
                    if p.task != Task::Dpd {
                        p.interval = p.interval.mul_f64(1.8);
                    }
                    resend = Some(p.data.clone());
                }
            }
        }
        if let Some((tries, what)) = give_up {
            let (remote, tunnel, state) = (sa.remote, sa.tunnel.clone(), sa.state);
            self.logf(format!(
                "giving up after {tries} retransmits of {what} to {remote}: peer is not responding"
            ));
            let reason = matches!(state, IkeState::InitSent | IkeState::AuthSent)
                .then(|| TunnelStatus::Phase1Failed(format!("no response from {}", remote.ip())));
            if reason.is_none() {
                self.note_sa_down(
                    spi,
                    &format!(
                        "peer {} not responding: {what} unanswered after {tries} retransmits",
                        remote.ip()
                    ),
                    now,
                );
            }
            self.remove_sa(spi, now);
            if let (Some(t), Some(r)) = (tunnel, reason) {
                self.tunnel_down(&t, Some(r), now);
            }
            return;
        }
        if let Some(data) = resend {
            self.send_to_peer(spi, data);
        }
        let Some(sa) = self.sas.get_mut(&spi) else {
            return;
        };
        if sa.state != IkeState::Established {
            return;
        }
        if sa.next_keepalive.is_some_and(|t| now >= t) {
            let name = sa.tunnel.clone();
            let ka = name
                .as_deref()
                .and_then(|n| self.tunnel_cfg(n))
                .map(|t| t.nat_keepalive);
            let sa = self.sas.get_mut(&spi).expect("present");
            sa.next_keepalive = ka.filter(|d| !d.is_zero()).map(|d| now + d);
            // NAT keepalive: a single 0xFF byte on 4500 (RFC 3948 2.3).
            self.out.push_back(Output::Send {
                local: sa.local,
                remote: sa.remote,
                natt: false,
                data: vec![0xff],
            });
        }
        let sa = self.sas.get_mut(&spi).expect("present");
        if sa.rekey_at.is_some_and(|t| now >= t) && sa.successor.is_none() {
            sa.rekey_at = None;
            if !sa.queue.contains(&Task::RekeyIke) {
                sa.queue.push_back(Task::RekeyIke);
            }
        }
        let mut rekeys = Vec::new();
        let mut expired = Vec::new();
        for c in &mut sa.children {
            if !c.rekeyed && now >= c.rekey_at {
                c.rekeyed = true;
                rekeys.push(c.spi_in);
            }
            if now >= c.expire_at {
                expired.push(c.spi_in);
            }
        }
        for s in rekeys {
            sa.queue.push_back(Task::RekeyChild { spi_in: s });
        }
        // Every Child SA of the IKE SA at its hard lifetime: the tunnel
        // goes down with them.
        let all_expire = !expired.is_empty()
            && sa
                .children
                .iter()
                .all(|c| c.superseded || expired.contains(&c.spi_in));
        for s in expired {
            if !sa.queue.contains(&Task::DeleteChild { spi_in: s }) {
                sa.queue.push_back(Task::DeleteChild { spi_in: s });
            }
        }
        if sa.next_dpd.is_some_and(|t| now >= t) {
            let name = sa.tunnel.clone();
            let dpd = name
                .as_deref()
                .and_then(|n| self.tunnel_cfg(n))
                .and_then(|t| t.dpd);
            let sa = self.sas.get_mut(&spi).expect("present");
            match dpd {
                Some(d) => {
                    let idle = now.saturating_duration_since(sa.last_heard) >= d.interval;
                    // On demand, the next look is an interval after the
                    // peer was last heard: a peer gone silent is probed
                    // after one interval of silence, not up to two.
                    sa.next_dpd = Some(if d.periodic || idle {
                        now + d.interval
                    } else {
                        sa.last_heard + d.interval
                    });
                    if (d.periodic || idle)
                        && sa.pending.is_none()
                        && !sa.queue.contains(&Task::Dpd)
                    {
                        sa.queue.push_back(Task::Dpd);
                    }
                }
                None => sa.next_dpd = None,
            }
        }
        if all_expire {
            self.note_sa_down(
                spi,
                "Child SA reached its hard lifetime (its rekey did not complete)",
                now,
            );
        }
        self.run_queue(spi, now);
    }

    /// Start the next queued task of an SA if no request is outstanding.
    pub(crate) fn run_queue(&mut self, spi: u64, now: Instant) {
        loop {
            let Some(sa) = self.sas.get_mut(&spi) else {
                return;
            };
            if sa.pending.is_some()
                || sa.installs > 0
                || !matches!(sa.state, IkeState::Established | IkeState::Rekeyed)
            {
                return;
            }
            let Some(task) = sa.queue.pop_front() else {
                return;
            };
            if self.start_task(spi, task, now) {
                return;
            }
        }
    }

    /// Send a request; it is retransmitted until answered.
    pub(crate) fn send_request(
        &mut self,
        spi: u64,
        task: Task,
        data: Vec<u8>,
        ctx: super::ike_sa::ExchangeCtx,
        now: Instant,
    ) {
        let (base, tries) = (self.cfg.retransmit_base, self.cfg.retransmit_tries);
        // DPD uses the profile's retry interval (IOS `dpd INTERVAL RETRY`).
        let dpd_retry = self
            .sas
            .get(&spi)
            .and_then(|sa| sa.tunnel.as_deref())
            .and_then(|n| self.tunnel_cfg(n))
            .and_then(|t| t.dpd)
            .map(|d| Duration::from_secs(u64::from(d.retries.max(1))));
        let Some(sa) = self.sas.get_mut(&spi) else {
            return;
        };
        let id = sa.next_id;
        sa.next_id = sa.next_id.wrapping_add(1);
        let interval = if task == Task::Dpd {
            dpd_retry.unwrap_or(base)
        } else {
            base
        };
        let max_tries = if task == Task::Dpd { 5 } else { tries };
        sa.pending = Some(super::ike_sa::Pending {
            id,
            task,
            data: data.clone(),
            tries: 0,
            next: now + interval,
            interval,
            max_tries,
            ctx,
        });
        self.send_to_peer(spi, data);
    }

    /// Answer a request, keeping the answer for retransmitted requests.
    pub(crate) fn send_response(&mut self, spi: u64, id: u32, data: Vec<u8>) {
        if let Some(sa) = self.sas.get_mut(&spi) {
            sa.last_resp = Some((id, data.clone()));
            sa.peer_next_id = id.wrapping_add(1);
        }
        // To where the request came from (RFC 7296 2.11: a MOBIKE probe
        // may come over another path than the SA's).
        self.send_on(spi, self.reply_to, data);
    }

    /// Tell the peer an IKE SA is gone, without waiting for the answer.
    pub(crate) fn send_ike_delete_now(&mut self, spi: u64) {
        if let Some(d) = self.ike_delete(spi) {
            self.send_to_peer(spi, d);
        }
    }

    /// The INFORMATIONAL request that deletes an established IKE SA
    /// (which goes to DELETING), or None when the SA has no peer to tell.
    fn ike_delete(&mut self, spi: u64) -> Option<Vec<u8>> {
        let sa = self.sas.get_mut(&spi)?;
        if sa.keys.is_none() || !matches!(sa.state, IkeState::Established | IkeState::Rekeyed) {
            return None;
        }
        let id = sa.next_id;
        sa.next_id = sa.next_id.wrapping_add(1);
        sa.state = IkeState::Deleting;
        let payloads = vec![Pl::Delete {
            protocol: super::proposal::PROTO_IKE,
            spis: vec![],
        }];
        self.seal(spi, super::msg::INFORMATIONAL, false, id, payloads)
            .ok()
    }

    /// Encode a message of an SA with the engine's random source.
    pub(crate) fn seal(
        &mut self,
        spi: u64,
        exchange: u8,
        response: bool,
        id: u32,
        payloads: Vec<Pl>,
    ) -> Result<Vec<u8>, String> {
        let sa = self.sas.get(&spi).ok_or("no SA")?;
        let msg = Msg {
            spi_i: sa.spi_i,
            spi_r: sa.spi_r,
            exchange,
            initiator: sa.initiator,
            response,
            id,
            payloads,
        };
        // One datagram, or the train of its RFC 7383 fragments.
        let r = super::frag::seal(sa, msg, self.cfg.fragment_mtu, self.rng.as_mut());
        if let Err(e) = &r {
            // An IV the random source could not give: the message is not
            // sent, and its exchange fails (the callers give up on it).
            self.logf(format!("IKE_SA {spi:016x}: cannot encrypt a message: {e}"));
        }
        r
    }

    /// Decode an encrypted message of an SA.
    pub(crate) fn open(&self, spi: u64, data: &[u8]) -> Result<Msg, codec::CodecError> {
        let keys = self.sas.get(&spi).and_then(|sa| sa.keys.as_ref());
        let k = keys.ok_or(codec::CodecError::NotSupported("no keys for this SA yet"))?;
        codec::decode(data, Some(&k.inb))
    }
}

/// Give a drained queue's memory back after a burst.
fn shrink_idle<T>(q: &mut VecDeque<T>) {
    if q.is_empty() && q.capacity() > 1024 {
        q.shrink_to_fit();
    }
}

/// Where a datagram came from and arrived at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Path {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub natt: bool,
}

/// How long a responder keeps an SA that got no IKE_AUTH.
pub const HALF_OPEN_TIMEOUT: Duration = Duration::from_secs(30);
