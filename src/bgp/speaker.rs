//! The BGP speaker: one tokio task owns every session, the RIB and the
//! Adj-RIBs-Out. Sockets live in small I/O tasks that only move bytes
//! (a reader per connection with a bounded queue, so a peer that sends
//! faster than we decide is slowed down by TCP, and a writer).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use bgp::rib::Path;
use bgp::rib::{Afi, PeerIdx, PeerMeta, Rib, RouteAttrs, LOCAL};
use bgp::session::{collision_winner, Output, PeerCaps, Session, SessionConfig, State};
use bgp::wire::{
    AddPathEntry, AddPathMode, AsPath, Community, Family, MpNextHop, MpNlri, Nlri, Origin,
    PathAttrs, Update, UpdateBuilder,
};
use ipnetwork::{IpNetwork, Ipv4Network, Ipv6Network};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, info, warn};
use vtysh::model::RedistSource;
use vtysh::{Config, ShowCmd, SoftDir};

use super::config::{speaker_config, AfPeer, PeerCfg, SpeakerCfg};
use super::ifaddrs;
use super::policy::{compile, route_map_changed};
use super::tcp;
use bgp::policy::Policies;

/// What the rest of rvpnd asks of the speaker.
#[derive(Debug)]
pub enum Command {
    /// The running configuration changed (or is the startup one).
    SetConfig(Box<Config>),
    /// A tunnel interface gained its first or lost its last IPsec SA.
    Tunnel { name: String, up: bool },
    /// A `show ip bgp ...` command.
    Show {
        cmd: ShowCmd,
        json: bool,
        reply: oneshot::Sender<Result<String, String>>,
    },
    /// `clear ip bgp ...`.
    Clear {
        peer: Option<IpAddr>,
        soft: Option<SoftDir>,
        reply: oneshot::Sender<Result<String, String>>,
    },
    /// Close every session (Cease) and stop.
    Shutdown(oneshot::Sender<()>),
    /// BFD to this neighbor went Up, or from Up to Down.
    Bfd { peer: IpAddr, up: bool },
}

/// Events of the I/O tasks.
#[derive(Debug)]
enum Ev {
    Connected {
        peer: IpAddr,
        conn: u64,
        stream: TcpStream,
    },
    ConnectFailed {
        peer: IpAddr,
        conn: u64,
        error: String,
    },
    Accepted {
        stream: TcpStream,
        remote: SocketAddr,
    },
    Data {
        peer: IpAddr,
        conn: u64,
        bytes: Vec<u8>,
    },
    Closed {
        peer: IpAddr,
        conn: u64,
    },
}

/// One TCP connection and the session on it.
pub(super) struct Conn {
    pub id: u64,
    pub session: Session,
    /// We connected out (for collision resolution).
    pub outbound: bool,
    writer: Option<mpsc::UnboundedSender<Vec<u8>>>,
    reader: Option<tokio::task::JoinHandle<()>>,
    pub local: Option<SocketAddr>,
}

impl Conn {
    fn detach(&mut self) {
        self.writer = None;
        if let Some(r) = self.reader.take() {
            r.abort();
        }
    }
}

/// Graceful restart of a peer in progress (we are the helper).
#[derive(Debug, Clone)]
pub(super) struct Restarting {
    /// Families whose paths are stale.
    pub families: Vec<Afi>,
    /// When the stale paths go if the peer is not back.
    pub deadline: Instant,
}

/// The Established session's facts.
#[derive(Debug, Clone)]
pub(super) struct Est {
    pub conn: u64,
    pub peer_as: u32,
    pub peer_id: Ipv4Addr,
    pub hold: u16,
    pub families: Vec<Afi>,
    pub caps: PeerCaps,
    pub local: Option<SocketAddr>,
    pub since: Instant,
    /// Families whose End-of-RIB we still wait for.
    pub eor_pending: Vec<Afi>,
}

/// What we have sent a peer, and what we will.
#[derive(Debug, Default)]
pub(super) struct AdjOut {
    /// By prefix and path identifier (0 unless ADD-PATH send is on).
    pub adj: BTreeMap<(IpNetwork, u32), Arc<RouteAttrs>>,
    pending: BTreeMap<(IpNetwork, u32), Option<Arc<RouteAttrs>>>,
    intern: HashSet<Arc<RouteAttrs>>,
}

pub(super) struct Peer {
    pub cfg: PeerCfg,
    pub idx: PeerIdx,
    pub conns: Vec<Conn>,
    pub est: Option<Est>,
    pub out: AdjOut,
    /// Received attributes before policy (soft-reconfiguration inbound).
    pub adj_in_raw: HashMap<(IpNetwork, u32), Arc<RouteAttrs>>,
    pub restarting: Option<Restarting>,
    pub established_count: u64,
    pub dropped_count: u64,
    pub last_reset: Option<String>,
    /// Stopped because its tunnel has no SA.
    pub tunnel_down: bool,
    /// Messages and prefixes counted over sessions that went down.
    pub msgs_in_total: u64,
    pub msgs_out_total: u64,
}

impl Peer {
    pub(super) fn state(&self) -> State {
        if self.est.is_some() {
            return State::Established;
        }
        self.conns
            .iter()
            .map(|c| c.session.state())
            .max_by_key(|s| state_rank(*s))
            .unwrap_or(State::Idle)
    }
    pub(super) fn counters(&self) -> (u64, u64) {
        let (mut i, mut o) = (self.msgs_in_total, self.msgs_out_total);
        for c in &self.conns {
            let k = c.session.counters();
            i += k.msgs_in;
            o += k.msgs_out;
        }
        (i, o)
    }
    fn is_active(&self) -> bool {
        !self.cfg.shutdown && !self.tunnel_down
    }
}

fn state_rank(s: State) -> u8 {
    match s {
        State::Idle => 0,
        State::Connect => 1,
        State::Active => 2,
        State::OpenSent => 3,
        State::OpenConfirm => 4,
        State::Established => 5,
    }
}

fn family_of(afi: Afi) -> Family {
    match afi {
        Afi::V4 => Family::IPV4_UNICAST,
        Afi::V6 => Family::IPV6_UNICAST,
    }
}

fn afi_of_family(f: Family) -> Option<Afi> {
    if f == Family::IPV4_UNICAST {
        Some(Afi::V4)
    } else if f == Family::IPV6_UNICAST {
        Some(Afi::V6)
    } else {
        None
    }
}

const AFIS: [Afi; 2] = [Afi::V4, Afi::V6];
/// How long stale paths may wait for the End-of-RIB of a peer that came
/// back (FRR's `bgp graceful-restart stalepath-time`).
const STALEPATH_TIME: Duration = Duration::from_secs(360);
/// Events (mostly 64 KiB reads) queued for the speaker: few, so that a
/// peer sending faster than the RIB takes it in waits in TCP, not in our
/// memory.
const EV_QUEUE: usize = 16;
/// How often connected networks are scanned for `redistribute connected`.
const RESCAN: Duration = Duration::from_secs(5);

/// The speaker's state.
pub(super) struct Speaker {
    pub cfg: Option<SpeakerCfg>,
    pub policies: Arc<Policies>,
    pub rib: Rib,
    pub peers: BTreeMap<IpAddr, Peer>,
    /// Locally originated paths as last put in the RIB.
    pub local: BTreeMap<IpNetwork, Arc<RouteAttrs>>,
    tunnels_up: HashSet<String>,
    running: Config,
    port: u16,
    listeners: Vec<(SocketAddr, TcpListener)>,
    listener_tasks: Vec<tokio::task::JoinHandle<()>>,
    ev_tx: mpsc::Sender<Ev>,
    next_conn: u64,
    next_rescan: Instant,
    /// Where forwarding changes go (the RIB task).
    routes_tx: Option<mpsc::UnboundedSender<RouteBatch>>,
}

/// What BGP offers the RIB for some prefixes after a decision run:
/// `None` withdraws the prefix.
pub type RouteBatch = Vec<(IpNetwork, Option<rib::Candidate>)>;

/// iBGP's administrative distance (eBGP's is `rib::Source::Bgp`'s
/// default, 20), as in FRR and IOS.
pub const IBGP_DISTANCE: u8 = 200;

/// How long after Established an incoming connection is still taken for
/// the peer's side of a simultaneous open, not for a restart.
const COLLISION_GRACE: Duration = Duration::from_secs(5);

/// Starts the speaker on BGP port `port`; forwarding changes (best path
/// and multipaths of each changed prefix) go to `routes`.
pub fn start(
    port: u16,
    routes: Option<mpsc::UnboundedSender<RouteBatch>>,
) -> mpsc::Sender<Command> {
    let (tx, rx) = mpsc::channel(64);
    let (ev_tx, ev_rx) = mpsc::channel(EV_QUEUE);
    let now = Instant::now();
    let sp = Speaker {
        cfg: None,
        policies: Arc::new(compile(&Config::default())),
        rib: Rib::new(Ipv4Addr::UNSPECIFIED),
        peers: BTreeMap::new(),
        local: BTreeMap::new(),
        tunnels_up: HashSet::new(),
        running: Config::default(),
        port,
        listeners: Vec::new(),
        listener_tasks: Vec::new(),
        ev_tx,
        next_conn: 1,
        next_rescan: now + RESCAN,
        routes_tx: routes,
    };
    tokio::spawn(sp.run(rx, ev_rx));
    tx
}

fn std_now(now: Instant) -> std::time::Instant {
    now.into_std()
}

impl Speaker {
    async fn run(mut self, mut rx: mpsc::Receiver<Command>, mut ev_rx: mpsc::Receiver<Ev>) {
        loop {
            let deadline = self.next_deadline();
            tokio::select! {
                cmd = rx.recv() => {
                    let Some(cmd) = cmd else { break };
                    if let Command::Shutdown(done) = cmd {
                        self.shutdown().await;
                        let _ = done.send(());
                        break;
                    }
                    self.command(cmd);
                }
                ev = ev_rx.recv() => {
                    let Some(ev) = ev else { break };
                    self.event(ev);
                    // Take what else is queued before deciding: a table
                    // transfer arrives as many reads.
                    for _ in 0..64 {
                        match ev_rx.try_recv() {
                            Ok(ev) => self.event(ev),
                            Err(_) => break,
                        }
                    }
                }
                _ = tokio::time::sleep_until(deadline) => self.timers(),
            }
            self.settle();
        }
        debug!("bgp speaker stopping");
    }

    fn next_deadline(&self) -> Instant {
        let mut d = self.next_rescan;
        for p in self.peers.values() {
            for c in &p.conns {
                if let Some(t) = c.session.poll_timeout() {
                    d = d.min(Instant::from_std(t));
                }
            }
            if let Some(r) = &p.restarting {
                d = d.min(r.deadline);
            }
        }
        d
    }

    fn timers(&mut self) {
        let now = Instant::now();
        let addrs: Vec<IpAddr> = self.peers.keys().copied().collect();
        for a in addrs {
            let mut expired = None;
            if let Some(p) = self.peers.get_mut(&a) {
                for c in &mut p.conns {
                    if c.session.poll_timeout().is_some_and(|t| t <= std_now(now)) {
                        c.session.handle_timeout(std_now(now));
                    }
                }
                if p.restarting.as_ref().is_some_and(|r| r.deadline <= now) {
                    expired = p.restarting.take();
                }
            }
            if let Some(r) = expired {
                self.end_restart(a, &r.families, "restart timer expired");
            }
            self.pump(a);
        }
        if self.next_rescan <= now {
            self.next_rescan = now + RESCAN;
            self.originate();
        }
    }

    /// Removes what is still stale of a restarting peer.
    fn end_restart(&mut self, addr: IpAddr, families: &[Afi], why: &str) {
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

    // ------------------------------------------------------------ commands

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::SetConfig(cfg) => self.set_config(*cfg),
            Command::Tunnel { name, up } => self.tunnel(&name, up),
            Command::Show { cmd, json, reply } => {
                let _ = reply.send(super::show::show(self, &cmd, json));
            }
            Command::Clear { peer, soft, reply } => {
                let _ = reply.send(self.clear(peer, soft));
            }
            Command::Shutdown(_) => {}
            Command::Bfd { peer, up } => self.bfd(peer, up),
        }
    }

    fn set_config(&mut self, running: Config) {
        let new = speaker_config(&running);
        let old_running = std::mem::replace(&mut self.running, running);
        self.policies = Arc::new(compile(&self.running));
        let now = Instant::now();
        let old = self.cfg.take();
        let Some(new) = new else {
            // `no router bgp`: everything goes.
            let addrs: Vec<IpAddr> = self.peers.keys().copied().collect();
            for a in addrs {
                self.remove_peer(a, "BGP removed from the configuration");
            }
            self.close_listeners();
            self.cfg = None;
            self.local.clear();
            self.rib = Rib::new(Ipv4Addr::UNSPECIFIED);
            return;
        };
        let identity_changed = old
            .as_ref()
            .is_some_and(|o| o.asn != new.asn || o.router_id != new.router_id);
        if old.is_none() || identity_changed {
            if identity_changed {
                let addrs: Vec<IpAddr> = self.peers.keys().copied().collect();
                for a in addrs {
                    self.remove_peer(a, "router-id or AS changed");
                }
                self.local.clear();
            }
            self.rib = Rib::new(new.router_id);
        }
        for afi in AFIS {
            self.rib.set_config(afi, new.af(afi).decision);
        }
        self.cfg = Some(new.clone());
        if self.listeners.is_empty() {
            self.open_listeners();
        }
        // Neighbors whose in-policy may now decide differently get their
        // routes again (FRR does the same after a policy change).
        let requires_changed = old
            .as_ref()
            .is_some_and(|o| o.ebgp_requires_policy != new.ebgp_requires_policy);
        let mut refresh_in: Vec<IpAddr> = Vec::new();
        for (a, p) in &self.peers {
            let in_of = |c: &PeerCfg| {
                c.af.iter()
                    .map(|x| {
                        x.as_ref()
                            .map(|x| (x.prefix_list_in.clone(), x.route_map_in.clone()))
                    })
                    .collect::<Vec<_>>()
            };
            let newc = if p.cfg.dynamic {
                new.dynamic_peer(*a)
            } else {
                new.neighbors.get(a).cloned()
            };
            let in_changed = newc.as_ref().is_some_and(|c| in_of(c) != in_of(&p.cfg));
            // The in-policy objects themselves (a route-map, or a list
            // it or the neighbor uses) changed.
            let (old_run, new_run) = (&old_running, &self.running);
            let objects_changed = newc.iter().flat_map(|c| c.af.iter().flatten()).any(|af| {
                af.route_map_in
                    .as_deref()
                    .is_some_and(|rm| route_map_changed(old_run, new_run, rm))
                    || af.prefix_list_in.as_deref().is_some_and(|pl| {
                        old_run.prefix_lists.get(pl) != new_run.prefix_lists.get(pl)
                            || old_run.prefix_lists_v6.get(pl) != new_run.prefix_lists_v6.get(pl)
                    })
            });
            if requires_changed || in_changed || objects_changed {
                refresh_in.push(*a);
            }
        }
        // A policy named but not defined denies everything (as in FRR):
        // say so.
        for (a, c) in &new.neighbors {
            for af in c.af.iter().flatten() {
                for rm in [&af.route_map_in, &af.route_map_out].into_iter().flatten() {
                    if !self.policies.exists_route_map(rm) {
                        warn!("bgp neighbor {a}: route-map {rm} is not defined; it denies every route");
                    }
                }
                for pl in [&af.prefix_list_in, &af.prefix_list_out]
                    .into_iter()
                    .flatten()
                {
                    if !self.policies.exists_prefix_list(pl) {
                        warn!("bgp neighbor {a}: prefix-list {pl} is not defined; it denies every route");
                    }
                }
            }
        }
        // Neighbors that went or changed in a way that needs a new session.
        let existing: Vec<IpAddr> = self.peers.keys().copied().collect();
        for a in existing {
            let Some(p) = self.peers.get(&a) else {
                continue;
            };
            if p.cfg.dynamic {
                // A dynamic neighbor stays while its range and group do.
                match new.dynamic_peer(a) {
                    Some(c) if session_same(&c, &p.cfg) => {
                        if let Some(p) = self.peers.get_mut(&a) {
                            p.cfg = c;
                        }
                    }
                    _ => self.remove_peer(a, "listen range or peer group changed"),
                }
                continue;
            }
            match new.neighbors.get(&a) {
                None => self.remove_peer(a, "neighbor removed"),
                Some(c) if !session_same(c, &p.cfg) => {
                    let c = c.clone();
                    self.remove_peer(a, "neighbor settings changed");
                    self.add_peer(c, now);
                }
                Some(c) => {
                    let c = c.clone();
                    if let Some(p) = self.peers.get_mut(&a) {
                        p.cfg = c;
                    }
                }
            }
        }
        for (a, c) in &new.neighbors {
            if !self.peers.contains_key(a) {
                self.add_peer(c.clone(), now);
            }
        }
        self.sync_md5();
        self.originate();
        // Policy, next-hop-self, activation: re-export everything to every
        // peer and re-apply the in policy where it is kept.
        let addrs: Vec<IpAddr> = self.peers.keys().copied().collect();
        for a in addrs {
            self.reexport(a);
        }
        for a in refresh_in {
            self.soft_in(a);
        }
    }

    fn tunnel(&mut self, name: &str, up: bool) {
        let changed = if up {
            self.tunnels_up.insert(name.to_string())
        } else {
            self.tunnels_up.remove(name)
        };
        if !changed {
            return;
        }
        let now = Instant::now();
        let addrs: Vec<IpAddr> = self
            .peers
            .iter()
            .filter(|(_, p)| p.cfg.tunnel.as_deref() == Some(name))
            .map(|(a, _)| *a)
            .collect();
        for a in addrs {
            if let Some(p) = self.peers.get_mut(&a) {
                p.tunnel_down = !up;
                if up {
                    info!("bgp neighbor {a}: {name} is up, starting the session");
                    if p.is_active() {
                        if let Some(c) = p.conns.first_mut() {
                            c.session.start(std_now(now));
                        }
                    }
                } else {
                    info!("bgp neighbor {a}: {name} lost its IPsec SA, session down now");
                    for c in &mut p.conns {
                        c.session.stop(std_now(now), &format!("{name} down"));
                        c.detach();
                    }
                    // The path is gone: no graceful restart for it.
                    p.restarting = None;
                }
            }
            self.pump(a);
            if !up {
                if let Some(p) = self.peers.get(&a) {
                    let idx = p.idx;
                    self.rib.withdraw_peer(idx, None);
                }
            }
        }
        self.originate();
    }

    fn clear(&mut self, peer: Option<IpAddr>, soft: Option<SoftDir>) -> Result<String, String> {
        if self.cfg.is_none() {
            return Err("% BGP is not configured".into());
        }
        let targets: Vec<IpAddr> = match peer {
            Some(a) if self.peers.contains_key(&a) => vec![a],
            Some(a) => return Err(format!("% BGP: Unknown neighbor - \"{a}\"")),
            None => self.peers.keys().copied().collect(),
        };
        let now = Instant::now();
        for a in targets {
            match soft {
                None => {
                    info!("bgp neighbor {a}: cleared by the operator");
                    if let Some(p) = self.peers.get_mut(&a) {
                        p.last_reset = Some("cleared by the operator".into());
                        for c in &mut p.conns {
                            c.session.stop(std_now(now), "Administrative Reset");
                        }
                    }
                    self.pump(a);
                    if let Some(p) = self.peers.get_mut(&a) {
                        if p.is_active() {
                            if let Some(c) = p.conns.first_mut() {
                                c.session.start(std_now(now));
                            }
                        }
                    }
                    self.pump(a);
                }
                Some(dir) => {
                    if matches!(dir, SoftDir::In | SoftDir::Both) {
                        self.soft_in(a);
                    }
                    if matches!(dir, SoftDir::Out | SoftDir::Both) {
                        if let Some(p) = self.peers.get_mut(&a) {
                            // Send everything again, not only the differences.
                            p.out.adj.clear();
                        }
                        self.reexport(a);
                    }
                }
            }
        }
        Ok(String::new())
    }

    /// Re-applies in policy: from the kept copy with soft-reconfiguration
    /// inbound, else by asking the peer to send its routes again.
    fn soft_in(&mut self, addr: IpAddr) {
        let Some(p) = self.peers.get_mut(&addr) else {
            return;
        };
        let Some(est) = &p.est else { return };
        let families = est.families.clone();
        if p.cfg
            .af
            .iter()
            .flatten()
            .any(|a| a.soft_reconfiguration_inbound)
        {
            let raw: Vec<((IpNetwork, u32), Arc<RouteAttrs>)> =
                p.adj_in_raw.iter().map(|(k, v)| (*k, v.clone())).collect();
            for ((prefix, id), attrs) in raw {
                self.import(addr, prefix, id, attrs);
            }
            return;
        }
        if !est.caps.route_refresh {
            warn!(
                "bgp neighbor {addr}: cannot re-apply in-policy: it does not do route refresh \
                 (configure soft-reconfiguration inbound, or clear ip bgp {addr})"
            );
            return;
        }
        let conn = est.conn;
        if let Some(c) = p.conns.iter_mut().find(|c| c.id == conn) {
            for afi in families {
                c.session.send_route_refresh(family_of(afi));
            }
        }
        self.pump(addr);
    }

    // ------------------------------------------------------------- peers

    fn session_config(&self, c: &PeerCfg, passive: bool) -> SessionConfig {
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

    fn add_peer(&mut self, c: PeerCfg, now: Instant) {
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
        let mut conns = Vec::new();
        if !c.dynamic {
            let mut s = Session::new(self.session_config(&c, false), std_now(now));
            if !c.shutdown && !tunnel_down {
                s.start(std_now(now));
            }
            conns.push(Conn {
                id: self.conn_id(),
                session: s,
                outbound: true,
                writer: None,
                reader: None,
                local: None,
            });
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
                tunnel_down,
                msgs_in_total: 0,
                msgs_out_total: 0,
            },
        );
        // A dynamic neighbor has no session until its connection is
        // handed over.
        if !self.peers.get(&addr).is_some_and(|p| p.cfg.dynamic) {
            self.pump(addr);
        }
    }

    fn remove_peer(&mut self, addr: IpAddr, why: &str) {
        let now = Instant::now();
        if let Some(p) = self.peers.get_mut(&addr) {
            for c in &mut p.conns {
                c.session.stop(std_now(now), why);
            }
        }
        self.drain(addr);
        if let Some(mut p) = self.peers.remove(&addr) {
            for c in &mut p.conns {
                c.detach();
            }
            self.rib.remove_peer(p.idx);
            if !p.cfg.dynamic {
                info!("bgp neighbor {addr}: removed ({why})");
            }
        }
        self.sync_md5();
    }

    fn conn_id(&mut self) -> u64 {
        self.next_conn += 1;
        self.next_conn
    }

    // ------------------------------------------------------------ sockets

    fn open_listeners(&mut self) {
        for addr in [
            SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), self.port),
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), self.port),
        ] {
            match tcp::listen(addr, None) {
                Ok(l) => {
                    debug!("bgp listening on {addr}");
                    self.listeners.push((addr, l));
                }
                Err(e) => warn!("bgp cannot listen on {addr}: {e}"),
            }
        }
        // The accept loops get their own handles; the listeners stay here
        // for MD5 keys.
        for (addr, l) in &self.listeners {
            let fd = match l.as_fd().try_clone_to_owned() {
                Ok(fd) => fd,
                Err(e) => {
                    warn!("bgp listener {addr}: {e}");
                    continue;
                }
            };
            let std = std::net::TcpListener::from(fd);
            let Ok(listener) = TcpListener::from_std(std) else {
                continue;
            };
            let tx = self.ev_tx.clone();
            self.listener_tasks.push(tokio::spawn(async move {
                loop {
                    match listener.accept().await {
                        Ok((stream, remote)) => {
                            if tx.send(Ev::Accepted { stream, remote }).await.is_err() {
                                break;
                            }
                        }
                        Err(e) => {
                            debug!("bgp accept: {e}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
            }));
        }
    }

    fn close_listeners(&mut self) {
        for t in self.listener_tasks.drain(..) {
            t.abort();
        }
        self.listeners.clear();
    }

    /// Puts the MD5 keys of configured neighbors and listen ranges on the
    /// listening sockets (keys of removed neighbors are deleted).
    fn sync_md5(&mut self) {
        let Some(cfg) = &self.cfg else { return };
        for (laddr, l) in &self.listeners {
            let fd = l.as_fd();
            for (a, p) in &cfg.neighbors {
                if a.is_ipv4() != laddr.is_ipv4() && laddr.is_ipv4() {
                    continue;
                }
                let key = p.password.as_deref().map(str::as_bytes);
                if let Err(e) = tcp::set_md5(fd, *a, None, key) {
                    if key.is_some() {
                        warn!("bgp neighbor {a}: cannot set the TCP MD5 key: {e}");
                    }
                }
            }
            for (range, group) in &cfg.listen_ranges {
                let key = cfg
                    .groups
                    .get(group)
                    .and_then(|g| g.password.as_deref())
                    .map(str::as_bytes);
                if range.is_ipv4() != laddr.is_ipv4() && laddr.is_ipv4() {
                    continue;
                }
                if let Some(k) = key {
                    if let Err(e) = tcp::set_md5(fd, range.ip(), Some(range.prefix()), Some(k)) {
                        warn!("bgp listen range {range}: cannot set the TCP MD5 key: {e}");
                    }
                }
            }
        }
    }

    fn spawn_connect(&mut self, addr: IpAddr, conn: u64) {
        let Some(p) = self.peers.get(&addr) else {
            return;
        };
        let c = &p.cfg;
        let ebgp = self.cfg.as_ref().is_some_and(|s| c.is_ebgp(s.asn));
        let opts = tcp::ConnectOpts {
            local: c.update_source.as_deref().and_then(|s| {
                let a = s
                    .parse::<IpAddr>()
                    .ok()
                    .or_else(|| ifaddrs::interface_address(s, addr.is_ipv6()));
                if a.is_none() {
                    warn!(
                        "bgp neighbor {addr}: update-source {s} has no usable address; not binding"
                    );
                }
                a
            }),
            bind_device: None,
            md5: c.password.as_ref().map(|s| s.as_bytes().to_vec()),
            ttl: if ebgp {
                Some(c.ebgp_multihop.unwrap_or(1))
            } else {
                None
            },
            timeout: Duration::from_secs(5),
        };
        let target = SocketAddr::new(addr, c.port);
        let tx = self.ev_tx.clone();
        tokio::spawn(async move {
            let ev = match tcp::connect(target, &opts).await {
                Ok(stream) => Ev::Connected {
                    peer: addr,
                    conn,
                    stream,
                },
                Err(e) => Ev::ConnectFailed {
                    peer: addr,
                    conn,
                    error: e.to_string(),
                },
            };
            let _ = tx.send(ev).await;
        });
    }

    /// Starts the reader and writer of a connection.
    fn attach(&self, peer: IpAddr, conn: &mut Conn, stream: TcpStream) {
        conn.local = stream.local_addr().ok();
        let (mut rd, mut wr) = stream.into_split();
        let (wtx, mut wrx) = mpsc::unbounded_channel::<Vec<u8>>();
        let id = conn.id;
        let tx = self.ev_tx.clone();
        conn.reader = Some(tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let bytes = buf.get(..n).map(<[u8]>::to_vec).unwrap_or_default();
                        if tx
                            .send(Ev::Data {
                                peer,
                                conn: id,
                                bytes,
                            })
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                }
            }
            let _ = tx.send(Ev::Closed { peer, conn: id }).await;
        }));
        tokio::spawn(async move {
            while let Some(b) = wrx.recv().await {
                if wr.write_all(&b).await.is_err() {
                    return;
                }
            }
            let _ = wr.shutdown().await;
        });
        conn.writer = Some(wtx);
    }

    // ------------------------------------------------------------- events

    fn event(&mut self, ev: Ev) {
        let now = std_now(Instant::now());
        match ev {
            Ev::Connected { peer, conn, stream } => {
                let mut stream = Some(stream);
                if let Some(p) = self.peers.get_mut(&peer) {
                    if let Some(pos) = p.conns.iter().position(|c| c.id == conn) {
                        let wants = p.conns.get(pos).is_some_and(|c| {
                            c.writer.is_none() && c.session.state() == State::Connect
                        });
                        if wants {
                            let mut c = p.conns.remove(pos);
                            if let Some(s) = stream.take() {
                                self.attach(peer, &mut c, s);
                            }
                            c.session.tcp_connected(now);
                            if let Some(p) = self.peers.get_mut(&peer) {
                                p.conns.insert(pos, c);
                            }
                        }
                    }
                }
                drop(stream);
                self.pump(peer);
            }
            Ev::ConnectFailed { peer, conn, error } => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    if let Some(c) = p.conns.iter_mut().find(|c| c.id == conn) {
                        debug!("bgp neighbor {peer}: connect failed: {error}");
                        if c.session.state() == State::Connect {
                            c.session.tcp_failed(now);
                        }
                    }
                }
                self.pump(peer);
            }
            Ev::Accepted { stream, remote } => self.accepted(stream, remote),
            Ev::Data { peer, conn, bytes } => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    if let Some(c) = p.conns.iter_mut().find(|c| c.id == conn) {
                        c.session.bytes_received(now, &bytes);
                    }
                }
                self.pump(peer);
            }
            Ev::Closed { peer, conn } => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    if let Some(c) = p.conns.iter_mut().find(|c| c.id == conn) {
                        if c.writer.is_some() {
                            c.detach();
                            c.session.tcp_closed(now);
                        }
                    }
                }
                self.pump(peer);
            }
        }
    }

    fn accepted(&mut self, stream: TcpStream, remote: SocketAddr) {
        let now = std_now(Instant::now());
        let addr = match remote.ip() {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            a => a,
        };
        let Some(cfg) = &self.cfg else { return };
        if !self.peers.contains_key(&addr) {
            let Some(c) = cfg.dynamic_peer(addr) else {
                debug!("bgp: connection from {addr} refused: not a neighbor");
                return;
            };
            let dynamic = self.peers.values().filter(|p| p.cfg.dynamic).count() as u32;
            if dynamic >= cfg.listen_limit {
                warn!(
                    "bgp: dynamic neighbor {addr} refused: bgp listen limit {} reached",
                    cfg.listen_limit
                );
                return;
            }
            self.add_peer(c, Instant::now());
        }
        let passive_cfg = match self.peers.get(&addr) {
            Some(p) => self.session_config(&p.cfg, true),
            None => return,
        };
        let id = self.conn_id();
        let Some(p) = self.peers.get_mut(&addr) else {
            return;
        };
        if !p.is_active() {
            debug!("bgp: connection from {addr} refused: neighbor is down");
            return;
        }
        // Our own attempt has no connection yet: take this one.
        if let Some(pos) = p.conns.iter().position(|c| {
            c.writer.is_none() && matches!(c.session.state(), State::Connect | State::Active)
        }) {
            let mut c = p.conns.remove(pos);
            c.outbound = false;
            self.attach(addr, &mut c, stream);
            c.session.tcp_connected(now);
            if let Some(p) = self.peers.get_mut(&addr) {
                p.conns.insert(pos, c);
            }
            self.pump(addr);
            return;
        }
        // A new connection from a graceful-restart peer whose session is
        // established means it restarted (RFC 4724 4.2), unless the
        // session is only seconds old: then it is the peer's own attempt
        // from before both ends connected at once, and RFC 4271 6.8's rule
        // (close the new connection) keeps the session that won.
        let restarted = p.est.as_ref().is_some_and(|e| {
            e.caps.graceful_restart.is_some()
                && Instant::now().saturating_duration_since(e.since) >= COLLISION_GRACE
        });
        if p.est.is_some() && !restarted {
            debug!("bgp: connection from {addr} refused: a session is established");
            return;
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
        let mut c = Conn {
            id,
            session: s,
            outbound: false,
            writer: None,
            reader: None,
            local: None,
        };
        self.attach(addr, &mut c, stream);
        c.session.tcp_connected(now);
        if let Some(p) = self.peers.get_mut(&addr) {
            p.conns.push(c);
        }
        self.pump(addr);
    }

    // ------------------------------------------------------ session output

    /// Drains every session of a peer and acts on what it said; resolves
    /// collisions; drops finished extra connections (and a dynamic
    /// neighbor whose session ended).
    fn pump(&mut self, addr: IpAddr) {
        self.drain(addr);
        self.reap(addr);
    }

    /// [`Speaker::pump`] without the clean-up.
    fn drain(&mut self, addr: IpAddr) {
        for _ in 0..8 {
            let mut outputs: Vec<(u64, Output)> = Vec::new();
            let Some(p) = self.peers.get_mut(&addr) else {
                return;
            };
            for c in &mut p.conns {
                while let Some(o) = c.session.poll_output() {
                    match o {
                        Output::Send(bytes) => {
                            if let Some(w) = &c.writer {
                                let _ = w.send(bytes);
                            }
                        }
                        Output::Disconnect => c.detach(),
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

    fn output(&mut self, addr: IpAddr, conn: u64, o: Output) {
        match o {
            Output::Connect => self.spawn_connect(addr, conn),
            Output::Send(_) | Output::Disconnect => {}
            Output::Established {
                peer_as,
                peer_id,
                hold_time,
                families,
                peer_caps,
                ..
            } => self.established(addr, conn, peer_as, peer_id, hold_time, families, peer_caps),
            Output::Down { reason, retain } => self.down(addr, conn, &reason, retain),
            Output::Update(u) => self.update(addr, *u),
            Output::RouteRefresh(f) => {
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

    /// Returns whether a connection was closed.
    fn resolve_collision(&mut self, addr: IpAddr) -> bool {
        let Some(router_id) = self.cfg.as_ref().map(|c| c.router_id) else {
            return false;
        };
        let now = std_now(Instant::now());
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

    /// Drops extra connections that ended.
    fn reap(&mut self, addr: IpAddr) {
        let remove_dynamic = {
            let Some(p) = self.peers.get_mut(&addr) else {
                return;
            };
            let n = p.conns.len();
            let mut kept = Vec::with_capacity(n);
            for (i, mut c) in p.conns.drain(..).enumerate() {
                let finished = c.session.state() == State::Idle && c.writer.is_none();
                // The first connection of a configured neighbor is the one
                // that retries; others go when they end.
                if finished
                    && (i > 0 || p.cfg.dynamic)
                    && Some(c.id) != p.est.as_ref().map(|e| e.conn)
                {
                    c.detach();
                } else {
                    kept.push(c);
                }
            }
            p.conns = kept;
            // A configured neighbor whose outbound session lost a collision
            // and whose other session ended: start it again.
            let now = std_now(Instant::now());
            let active = p.is_active();
            if !p.cfg.dynamic && p.est.is_none() && active {
                if let Some(c) = p.conns.first_mut() {
                    if c.session.state() == State::Idle
                        && c.session.poll_timeout().is_none()
                        && c.writer.is_none()
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

    #[allow(clippy::too_many_arguments)]
    fn established(
        &mut self,
        addr: IpAddr,
        conn: u64,
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
            since: Instant::now(),
            eor_pending: fams.clone(),
        });
        p.established_count += 1;
        p.out = AdjOut::default();
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
            r.deadline = Instant::now() + STALEPATH_TIME;
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
        // The whole table, then End-of-RIB.
        self.reexport(addr);
        self.flush(addr);
        if let Some(p) = self.peers.get_mut(&addr) {
            let mut bytes = Vec::new();
            for afi in &fams {
                let _ = Update::end_of_rib(family_of(*afi))
                    .emit(&bgp::wire::Ctx::new(true), &mut bytes);
            }
            if let Some(c) = p.conns.iter_mut().find(|c| c.id == conn) {
                c.session.send_raw(std_now(Instant::now()), bytes);
            }
        }
    }

    fn down(&mut self, addr: IpAddr, conn: u64, reason: &str, retain: bool) {
        let Some(p) = self.peers.get_mut(&addr) else {
            return;
        };
        if p.est.as_ref().map(|e| e.conn) != Some(conn) {
            return;
        }
        let Some(est) = p.est.take() else { return };
        info!("bgp neighbor {addr}: Down ({reason})");
        p.dropped_count += 1;
        p.last_reset = Some(reason.to_string());
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
                    deadline: Instant::now() + Duration::from_secs(u64::from(restart)),
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

    // ------------------------------------------------------------ import

    fn update(&mut self, addr: IpAddr, u: Update) {
        let Some((idx, ebgp)) = self.peers.get(&addr).map(|p| {
            (
                p.idx,
                self.cfg.as_ref().is_some_and(|c| p.cfg.is_ebgp(c.asn)),
            )
        }) else {
            return;
        };
        if let Some(f) = u.is_end_of_rib() {
            if let Some(afi) = afi_of_family(f) {
                self.end_of_rib(addr, afi);
            }
            return;
        }
        if !u.issues.is_empty() {
            for i in &u.issues {
                warn!("bgp neighbor {addr}: malformed UPDATE: {i:?}");
            }
        }
        let _ = (idx, ebgp);
        // Withdrawals.
        for n in &u.withdrawn {
            self.unimport(addr, IpNetwork::V4(n.prefix), n.path_id.unwrap_or(0));
        }
        if let Some(m) = &u.mp_unreach {
            for (p, id) in mp_prefixes(&m.withdrawn) {
                self.unimport(addr, p, id);
            }
        }
        // RFC 7606 treat-as-withdraw: the announced prefixes are withdrawn.
        if u.treat_as_withdraw {
            for n in &u.nlri {
                self.unimport(addr, IpNetwork::V4(n.prefix), n.path_id.unwrap_or(0));
            }
            if let Some(m) = &u.mp_reach {
                for (p, id) in mp_prefixes(&m.nlri) {
                    self.unimport(addr, p, id);
                }
            }
            return;
        }
        if !u.nlri.is_empty() {
            match u.attrs.next_hop {
                Some(nh) => {
                    let mut a = u.attrs.clone();
                    a.next_hop = None;
                    let attrs = Arc::new(RouteAttrs::new(a, IpAddr::V4(nh)));
                    let list: Vec<(IpNetwork, u32)> = u
                        .nlri
                        .iter()
                        .map(|n| (IpNetwork::V4(n.prefix), n.path_id.unwrap_or(0)))
                        .collect();
                    self.import_many(addr, &list, attrs);
                }
                None => warn!("bgp neighbor {addr}: UPDATE without NEXT_HOP ignored"),
            }
        }
        if let Some(m) = &u.mp_reach {
            let (nh, ll) = match &m.next_hop {
                MpNextHop::Ipv4(a) => (IpAddr::V4(*a), None),
                MpNextHop::Ipv6 { global, link_local } => (IpAddr::V6(*global), *link_local),
                MpNextHop::Other(_) => return,
            };
            let mut a = u.attrs.clone();
            a.next_hop = None;
            let mut ra = RouteAttrs::new(a, nh);
            ra.link_local = ll;
            self.import_many(addr, &mp_prefixes(&m.nlri), Arc::new(ra));
        }
    }

    fn end_of_rib(&mut self, addr: IpAddr, afi: Afi) {
        let Some(p) = self.peers.get_mut(&addr) else {
            return;
        };
        if let Some(e) = &mut p.est {
            e.eor_pending.retain(|a| *a != afi);
        }
        let mut done = false;
        let mut was_stale = false;
        if let Some(r) = &mut p.restarting {
            was_stale = r.families.contains(&afi);
            r.families.retain(|a| *a != afi);
            done = r.families.is_empty();
        }
        if done {
            p.restarting = None;
        }
        debug!("bgp neighbor {addr}: End-of-RIB {afi:?}");
        if was_stale {
            self.end_restart(addr, &[afi], "End-of-RIB received");
        }
    }

    fn unimport(&mut self, addr: IpAddr, prefix: IpNetwork, id: u32) {
        let Some(p) = self.peers.get_mut(&addr) else {
            return;
        };
        if p.cfg
            .af(Afi::of(&prefix))
            .is_some_and(|a| a.soft_reconfiguration_inbound)
        {
            p.adj_in_raw.remove(&(prefix, id));
        }
        let idx = p.idx;
        self.rib.withdraw(idx, prefix, id);
    }

    /// Runs in-policy over one received path and puts it in the RIB (or
    /// takes the previous one out if policy now denies it).
    fn import(&mut self, addr: IpAddr, prefix: IpNetwork, id: u32, attrs: Arc<RouteAttrs>) {
        self.import_many(addr, &[(prefix, id)], attrs);
    }

    /// [`Speaker::import`] of many prefixes that share their attributes:
    /// the checks that depend only on the attributes run once.
    fn import_many(&mut self, addr: IpAddr, prefixes: &[(IpNetwork, u32)], attrs: Arc<RouteAttrs>) {
        let Some(cfg) = &self.cfg else { return };
        let Some(p) = self.peers.get_mut(&addr) else {
            return;
        };
        let idx = p.idx;
        let ebgp = p.cfg.is_ebgp(cfg.asn);
        let a = &attrs.attrs;
        // Loops: our AS in the path (eBGP), our router ID as originator
        // or in the cluster list (iBGP reflection).
        let mut sane = !a.as_path.as_ref().is_some_and(|p| p.contains(cfg.asn))
            && a.originator_id != Some(cfg.router_id)
            && !a.cluster_list.contains(&cfg.router_id);
        // eBGP: the path must start with the peer's AS (FRR's
        // enforce-first-as).
        if sane && ebgp {
            if let (Some(est), Some(first)) =
                (&p.est, a.as_path.as_ref().and_then(|p| p.first_as()))
            {
                sane = first == est.peer_as;
            }
        }
        let v4 = p.cfg.af(Afi::V4).cloned();
        let v6 = p.cfg.af(Afi::V6).cloned();
        // Route-maps looked up once for the whole batch; a missing one
        // denies (FRR).
        let policies = &self.policies;
        let rm_of = |af: &Option<AfPeer>| {
            af.as_ref()
                .and_then(|a| a.route_map_in.as_deref())
                .map(|n| policies.route_map(n))
        };
        let (rm4, rm6) = (rm_of(&v4), rm_of(&v6));
        for &(prefix, id) in prefixes {
            let Some(af) = (match prefix {
                IpNetwork::V4(_) => v4.as_ref(),
                IpNetwork::V6(_) => v6.as_ref(),
            }) else {
                // Not active in this family: ignored (RFC 4760).
                continue;
            };
            if af.soft_reconfiguration_inbound {
                p.adj_in_raw.insert((prefix, id), attrs.clone());
            }
            // RFC 8212: nothing from an eBGP peer without in-policy.
            let mut ok = sane && !(ebgp && cfg.ebgp_requires_policy && !af.has_in_policy());
            if ok {
                if let Some(pl) = &af.prefix_list_in {
                    ok = self.policies.prefix_list_permits(pl, &prefix);
                }
            }
            let mut result = attrs.clone();
            let rm = match prefix {
                IpNetwork::V4(_) => rm4,
                IpNetwork::V6(_) => rm6,
            };
            if ok {
                if let Some(rm) = rm {
                    ok = rm.is_some_and(|rm| rm.apply_shared(&prefix, &mut result));
                }
            }
            if ok {
                self.rib.update(idx, prefix, id, result);
            } else {
                self.rib.withdraw(idx, prefix, id);
            }
        }
    }

    // ------------------------------------------------- local origination

    /// Recomputes `network` and `redistribute` paths and updates the RIB.
    fn originate(&mut self) {
        let Some(cfg) = &self.cfg else { return };
        let mut want: BTreeMap<IpNetwork, RouteAttrs> = BTreeMap::new();
        let mk = |origin: Origin, nh: IpAddr| {
            let mut a = RouteAttrs::new(
                PathAttrs {
                    origin: Some(origin),
                    as_path: Some(AsPath::default()),
                    ..PathAttrs::default()
                },
                nh,
            );
            a.weight = 32768;
            a
        };
        let unspec = |p: &IpNetwork| match p {
            IpNetwork::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpNetwork::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        let connected = ifaddrs::connected_networks();
        for afi in AFIS {
            let af = cfg.af(afi);
            for (src, rm) in &af.redistribute {
                let prefixes: Vec<IpNetwork> = match src {
                    RedistSource::Connected => connected
                        .iter()
                        .filter(|p| Afi::of(p) == afi)
                        .copied()
                        .collect(),
                    RedistSource::Static => self
                        .running
                        .static_routes
                        .iter()
                        .map(|r| r.prefix)
                        .filter(|p| Afi::of(p) == afi)
                        .collect(),
                };
                for p in prefixes {
                    let mut a = mk(Origin::Incomplete, unspec(&p));
                    if *src == RedistSource::Connected {
                        a.attrs.med = Some(0);
                    }
                    if let Some(rm) = rm {
                        if !self.policies.apply_route_map(rm, &p, &mut a) {
                            continue;
                        }
                    }
                    want.insert(p, a);
                }
            }
            for (p, rm) in &af.networks {
                let mut a = mk(Origin::Igp, unspec(p));
                if let Some(rm) = rm {
                    if !self.policies.apply_route_map(rm, p, &mut a) {
                        continue;
                    }
                }
                want.insert(*p, a);
            }
        }
        let gone: Vec<IpNetwork> = self
            .local
            .keys()
            .filter(|p| !want.contains_key(p))
            .copied()
            .collect();
        for p in gone {
            self.local.remove(&p);
            self.rib.withdraw(LOCAL, p, 0);
        }
        for (p, a) in want {
            if self.local.get(&p).is_some_and(|old| **old == a) {
                continue;
            }
            let a = Arc::new(a);
            self.local.insert(p, a.clone());
            self.rib.update(LOCAL, p, 0, a);
        }
    }

    // ------------------------------------------------------------ export

    /// After events: decide, export what changed, send.
    fn settle(&mut self) {
        if !self.rib.has_dirty() {
            return;
        }
        let mut changed = Vec::new();
        self.rib.run_decision(|p| changed.push(p));
        self.publish_forwarding(&changed);
        let addrs: Vec<IpAddr> = self
            .peers
            .iter()
            .filter(|(_, p)| p.est.is_some() && !self.exports_nothing(p))
            .map(|(a, _)| *a)
            .collect();
        for a in addrs {
            for prefix in &changed {
                self.export_prefix(a, *prefix);
            }
            self.flush(a);
        }
    }

    /// Tells the RIB task what BGP now forwards for `changed`.
    fn publish_forwarding(&self, changed: &[IpNetwork]) {
        let Some(tx) = &self.routes_tx else { return };
        if changed.is_empty() {
            return;
        }
        let batch: RouteBatch = changed
            .iter()
            .map(|p| (*p, self.forwarding_candidate(p)))
            .collect();
        // The RIB task is gone only while shutting down.
        let _ = tx.send(batch);
    }

    /// The RIB candidate of a prefix: the best path and its multipaths,
    /// one next hop each; eBGP distance 20, iBGP 200, metric the MED.
    /// Locally originated routes are not offered (as FRR: `network` does
    /// not install a route).
    fn forwarding_candidate(&self, prefix: &IpNetwork) -> Option<rib::Candidate> {
        let dest = self.rib.get(prefix)?;
        let best = dest.best()?;
        if best.peer == LOCAL {
            return None;
        }
        let ebgp = self.rib.peer_meta(best.peer).is_some_and(|m| m.ebgp);
        let mut nexthops = Vec::new();
        for path in dest.forwarding() {
            let a = &path.attrs;
            let hop = if !a.next_hop_unset() {
                rib::NextHop::Gateway(a.next_hop)
            } else if let Some(ll) = a.link_local {
                // An IPv6 next hop with only a link-local address is on
                // the interface the session runs over.
                let tunnel = self
                    .rib
                    .peer_meta(path.peer)
                    .and_then(|m| self.peers.get(&m.addr))
                    .and_then(|p| p.cfg.tunnel.clone());
                match tunnel {
                    Some(t) => rib::NextHop::GatewayOn(IpAddr::V6(ll), t),
                    None => continue,
                }
            } else {
                continue;
            };
            nexthops.push(hop);
        }
        if nexthops.is_empty() {
            return None;
        }
        Some(rib::Candidate {
            distance: if ebgp {
                rib::Source::Bgp.default_distance()
            } else {
                IBGP_DISTANCE
            },
            metric: best.attrs.med(),
            nexthops: nexthops.into(),
        })
    }

    /// Whether nothing can be exported to `p` now and nothing was: an
    /// eBGP neighbor without out-policy under RFC 8212 (a table transfer
    /// from it then costs no export work).
    fn exports_nothing(&self, p: &Peer) -> bool {
        let Some(cfg) = &self.cfg else { return true };
        if !p.out.adj.is_empty() || !p.out.pending.is_empty() {
            return false;
        }
        let blocked = |a: &AfPeer| {
            cfg.ebgp_requires_policy
                && p.cfg.is_ebgp(cfg.asn)
                && !a.has_out_policy()
                && !a.default_originate
        };
        p.cfg.af.iter().flatten().all(blocked)
    }

    /// Compares everything the peer should have with what it has.
    fn reexport(&mut self, addr: IpAddr) {
        let Some(p) = self.peers.get(&addr) else {
            return;
        };
        let Some(est) = &p.est else { return };
        let families = est.families.clone();
        let mut prefixes: Vec<IpNetwork> = Vec::new();
        for afi in families {
            prefixes.extend(self.rib.iter(afi).map(|(k, _)| k));
            if p.cfg.af(afi).is_some_and(|a| a.default_originate) {
                let any = match afi {
                    Afi::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    Afi::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                };
                prefixes.extend(IpNetwork::new(any, 0).ok());
            }
        }
        // And whatever was sent that may have to be withdrawn.
        let mut sent: Vec<IpNetwork> = p
            .out
            .adj
            .keys()
            .map(|k| k.0)
            .filter(|k| self.rib.get(k).is_none())
            .collect();
        sent.dedup();
        prefixes.extend(sent);
        for prefix in prefixes {
            self.export_prefix(addr, prefix);
        }
        self.flush(addr);
    }

    /// Whether ADD-PATH send is on towards this peer for `afi`.
    fn add_path_tx(&self, p: &Peer, afi: Afi) -> bool {
        p.est.as_ref().is_some_and(|e| {
            p.conns
                .iter()
                .find(|c| c.id == e.conn)
                .and_then(|c| c.session.tx_ctx())
                .is_some_and(|ctx| ctx.add_path(family_of(afi)))
        })
    }

    /// What `p` should be sent for `prefix` through `best` (None:
    /// nothing).
    fn export_attrs(&self, p: &Peer, prefix: &IpNetwork, best: &Path) -> Option<RouteAttrs> {
        let cfg = self.cfg.as_ref()?;
        let est = p.est.as_ref()?;
        let afi = Afi::of(prefix);
        if !est.families.contains(&afi) {
            return None;
        }
        let af = p.cfg.af(afi)?;
        if best.peer == p.idx {
            return None;
        }
        let ebgp = est.peer_as != cfg.asn;
        let from = self.rib.peer_meta(best.peer)?;
        if best.peer != LOCAL && !from.ebgp && !ebgp {
            // iBGP-learned paths do not go to iBGP peers (no reflection).
            return None;
        }
        let comms = &best.attrs.attrs.communities;
        if comms.contains(&Community::NO_ADVERTISE) {
            return None;
        }
        if ebgp
            && (comms.contains(&Community::NO_EXPORT)
                || comms.contains(&Community::NO_EXPORT_SUBCONFED))
        {
            return None;
        }
        if ebgp && cfg.ebgp_requires_policy && !af.has_out_policy() {
            return None;
        }
        // A path whose next hop is the peer itself is of no use to it.
        if best.attrs.next_hop == p.cfg.addr {
            return None;
        }
        let mut out = (*best.attrs).clone();
        out.weight = 0;
        let local = est.local.map(|s| s.ip());
        let self_nh = local.and_then(|l| next_hop_for(l, afi));
        if ebgp {
            let path = out.attrs.as_path.get_or_insert_with(AsPath::default);
            path.prepend(cfg.asn);
            out.attrs.local_pref = None;
            if best.peer != LOCAL {
                // RFC 4271 5.1.4: a MED from another AS is not passed on.
                out.attrs.med = None;
            }
            out.attrs.originator_id = None;
            out.attrs.cluster_list.clear();
            out.next_hop = self_nh?;
            out.link_local = None;
        } else {
            out.attrs.local_pref = Some(best.attrs.local_pref());
            out.attrs.as_path.get_or_insert_with(AsPath::default);
            if af.next_hop_self || best.peer == LOCAL || out.next_hop.is_unspecified() {
                out.next_hop = self_nh?;
                out.link_local = None;
            }
        }
        if let Some(pl) = &af.prefix_list_out {
            if !self.policies.prefix_list_permits(pl, prefix) {
                return None;
            }
        }
        if let Some(rm) = &af.route_map_out {
            if !self.policies.apply_route_map(rm, prefix, &mut out) {
                return None;
            }
        }
        out.weight = 0;
        Some(out)
    }

    /// The paths `p` should have for `prefix`, by path identifier: the
    /// best path (identifier 0), or with ADD-PATH send every path, each
    /// under an identifier made of its peer and its own identifier.
    fn export_wanted(&self, p: &Peer, prefix: &IpNetwork) -> Vec<(u32, RouteAttrs)> {
        let afi = Afi::of(prefix);
        let mut v = Vec::new();
        if let Some(dest) = self.rib.get(prefix) {
            if self.add_path_tx(p, afi) {
                for path in dest.paths() {
                    if let Some(a) = self.export_attrs(p, prefix, path) {
                        let id = (u32::from(path.peer) << 16) | (path.path_id & 0xffff);
                        v.push((id.max(1), a));
                    }
                }
            } else if let Some(a) = dest.best().and_then(|b| self.export_attrs(p, prefix, b)) {
                v.push((0, a));
            }
        }
        // `neighbor X default-originate`: 0.0.0.0/0 or ::/0 from us.
        if prefix.prefix() == 0
            && v.is_empty()
            && p.cfg.af(afi).is_some_and(|a| a.default_originate)
        {
            if let Some(a) = self.default_route(p, afi) {
                v.push((0, a));
            }
        }
        v
    }

    /// The default route `default-originate` sends.
    fn default_route(&self, p: &Peer, afi: Afi) -> Option<RouteAttrs> {
        let cfg = self.cfg.as_ref()?;
        let est = p.est.as_ref()?;
        let nh = est
            .local
            .map(|s| s.ip())
            .and_then(|l| next_hop_for(l, afi))?;
        let mut path = AsPath::default();
        let mut a = PathAttrs {
            origin: Some(Origin::Igp),
            ..PathAttrs::default()
        };
        if est.peer_as != cfg.asn {
            path.prepend(cfg.asn);
        } else {
            a.local_pref = Some(100);
        }
        a.as_path = Some(path);
        Some(RouteAttrs::new(a, nh))
    }

    fn export_prefix(&mut self, addr: IpAddr, prefix: IpNetwork) {
        let Some(p) = self.peers.get(&addr) else {
            return;
        };
        let want = self.export_wanted(p, &prefix);
        let Some(p) = self.peers.get_mut(&addr) else {
            return;
        };
        // What was sent under identifiers no longer wanted is withdrawn.
        let lo = (prefix, 0u32);
        let hi = (prefix, u32::MAX);
        let stale: Vec<u32> = p
            .out
            .adj
            .range(lo..=hi)
            .map(|(k, _)| k.1)
            .filter(|id| !want.iter().any(|(w, _)| w == id))
            .collect();
        for id in stale {
            p.out.pending.insert((prefix, id), None);
        }
        for (id, w) in want {
            let key = (prefix, id);
            if p.out.adj.get(&key).is_some_and(|h| **h == w) {
                p.out.pending.remove(&key);
                continue;
            }
            let a = match p.out.intern.get(&w) {
                Some(a) => a.clone(),
                None => {
                    let a = Arc::new(w);
                    p.out.intern.insert(a.clone());
                    a
                }
            };
            p.out.pending.insert(key, Some(a));
        }
    }

    /// Encodes and sends what is pending for a peer.
    fn flush(&mut self, addr: IpAddr) {
        let now = std_now(Instant::now());
        let Some(p) = self.peers.get_mut(&addr) else {
            return;
        };
        let Some(est) = &p.est else {
            p.out.pending.clear();
            return;
        };
        if p.out.pending.is_empty() {
            p.out.intern.clear();
            return;
        }
        let conn = est.conn;
        let Some(c) = p.conns.iter_mut().find(|c| c.id == conn) else {
            return;
        };
        let Some(ctx) = c.session.tx_ctx().copied() else {
            return;
        };
        let pending = std::mem::take(&mut p.out.pending);
        let mut wd4: Vec<Nlri<Ipv4Network>> = Vec::new();
        let mut wd6: Vec<Nlri<Ipv6Network>> = Vec::new();
        // Announcements grouped by their (shared) attributes.
        type Group = (Arc<RouteAttrs>, Vec<(IpNetwork, u32)>);
        let mut groups: HashMap<*const RouteAttrs, Group> = HashMap::new();
        let nlri4 = |n: Ipv4Network, id: u32| {
            if ctx.add_path(Family::IPV4_UNICAST) {
                Nlri::with_path_id(n, id)
            } else {
                Nlri::new(n)
            }
        };
        let nlri6 = |n: Ipv6Network, id: u32| {
            if ctx.add_path(Family::IPV6_UNICAST) {
                Nlri::with_path_id(n, id)
            } else {
                Nlri::new(n)
            }
        };
        for ((prefix, id), a) in pending {
            match a {
                None => {
                    p.out.adj.remove(&(prefix, id));
                    match prefix {
                        IpNetwork::V4(n) => wd4.push(nlri4(n, id)),
                        IpNetwork::V6(n) => wd6.push(nlri6(n, id)),
                    }
                }
                Some(a) => {
                    p.out.adj.insert((prefix, id), a.clone());
                    groups
                        .entry(Arc::as_ptr(&a))
                        .or_insert_with(|| (a.clone(), Vec::new()))
                        .1
                        .push((prefix, id));
                }
            }
        }
        p.out.intern.clear();
        let mut bytes = Vec::new();
        if !wd4.is_empty() {
            let _ = UpdateBuilder::withdraw(Family::IPV4_UNICAST, &wd4, &ctx, &mut bytes);
        }
        if !wd6.is_empty() {
            let _ = UpdateBuilder::withdraw(Family::IPV6_UNICAST, &wd6, &ctx, &mut bytes);
        }
        for (_, (a, prefixes)) in groups {
            let mut v4: Vec<Nlri<Ipv4Network>> = Vec::new();
            let mut v6: Vec<Nlri<Ipv6Network>> = Vec::new();
            for (p, id) in prefixes {
                match p {
                    IpNetwork::V4(n) => v4.push(nlri4(n, id)),
                    IpNetwork::V6(n) => v6.push(nlri6(n, id)),
                }
            }
            if !v4.is_empty() {
                let res = match a.next_hop {
                    IpAddr::V4(nh) => {
                        let mut pa = a.attrs.clone();
                        pa.next_hop = Some(nh);
                        UpdateBuilder::ipv4_unicast(&pa, &ctx)
                            .and_then(|b| b.announce(&v4, &mut bytes))
                    }
                    IpAddr::V6(global) => UpdateBuilder::mp(
                        Family::IPV4_UNICAST,
                        &MpNextHop::Ipv6 {
                            global,
                            link_local: None,
                        },
                        &a.attrs,
                        &ctx,
                    )
                    .and_then(|b| b.announce(&v4, &mut bytes)),
                };
                if let Err(e) = res {
                    warn!("bgp neighbor {addr}: cannot encode an UPDATE: {e}");
                }
            }
            if !v6.is_empty() {
                let nh = match a.next_hop {
                    IpAddr::V6(global) => MpNextHop::Ipv6 {
                        global,
                        link_local: a.link_local,
                    },
                    IpAddr::V4(v4) => MpNextHop::Ipv6 {
                        global: v4.to_ipv6_mapped(),
                        link_local: None,
                    },
                };
                if let Err(e) = UpdateBuilder::mp(Family::IPV6_UNICAST, &nh, &a.attrs, &ctx)
                    .and_then(|b| b.announce(&v6, &mut bytes))
                {
                    warn!("bgp neighbor {addr}: cannot encode an UPDATE: {e}");
                }
            }
        }
        c.session.send_raw(now, bytes);
        // Deliver now: the session queued the bytes as output.
        while let Some(o) = c.session.poll_output() {
            if let Output::Send(b) = o {
                if let Some(w) = &c.writer {
                    let _ = w.send(b);
                }
            }
        }
    }

    async fn shutdown(&mut self) {
        let now = std_now(Instant::now());
        let addrs: Vec<IpAddr> = self.peers.keys().copied().collect();
        for a in &addrs {
            if let Some(p) = self.peers.get_mut(a) {
                for c in &mut p.conns {
                    c.session.stop(now, "Administrative Shutdown");
                }
            }
        }
        for a in addrs {
            if let Some(p) = self.peers.get_mut(&a) {
                for c in &mut p.conns {
                    while let Some(o) = c.session.poll_output() {
                        if let Output::Send(b) = o {
                            if let Some(w) = &c.writer {
                                let _ = w.send(b);
                            }
                        }
                    }
                    // Dropping the writer lets it flush and close.
                    c.writer = None;
                }
            }
        }
        self.close_listeners();
        // Give the writers a moment to put the NOTIFICATIONs on the wire.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether two neighbor configurations can keep the same session (only
/// policy and per-family output settings differ).
impl Speaker {
    /// BFD news of `peer`. Down (from Up) takes an Established session
    /// down at once with Cease/BFD Down (RFC 9384), withdrawing its
    /// routes; it comes back by itself as after any failure. Up changes
    /// nothing: like FRR, BGP does not wait for BFD.
    fn bfd(&mut self, peer: IpAddr, up: bool) {
        if up {
            debug!("bgp neighbor {peer}: BFD up");
            return;
        }
        let now = std_now(Instant::now());
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let mut hit = false;
        for c in &mut p.conns {
            if c.session.state() == State::Established {
                c.session.bfd_down(now);
                hit = true;
            }
        }
        if hit {
            info!("bgp neighbor {peer}: BFD down, session down now");
            p.last_reset = Some("BFD down".into());
        }
        self.pump(peer);
    }
}

fn session_same(a: &PeerCfg, b: &PeerCfg) -> bool {
    a.remote_as == b.remote_as
        && a.password == b.password
        && a.timers == b.timers
        && a.update_source == b.update_source
        && a.ebgp_multihop == b.ebgp_multihop
        && a.shutdown == b.shutdown
        && a.port == b.port
        && a.tunnel == b.tunnel
        && a.af[0].is_some() == b.af[0].is_some()
        && a.af[1].is_some() == b.af[1].is_some()
}

fn mp_prefixes(n: &MpNlri) -> Vec<(IpNetwork, u32)> {
    match n {
        MpNlri::Ipv4(v) => v
            .iter()
            .map(|n| (IpNetwork::V4(n.prefix), n.path_id.unwrap_or(0)))
            .collect(),
        MpNlri::Ipv6(v) => v
            .iter()
            .map(|n| (IpNetwork::V6(n.prefix), n.path_id.unwrap_or(0)))
            .collect(),
        MpNlri::Other(_) => Vec::new(),
    }
}

/// Our next hop for `afi` on a session whose local address is `local`:
/// the address itself, or an address of the other family on the same
/// interface.
fn next_hop_for(local: IpAddr, afi: Afi) -> Option<IpAddr> {
    let local = match local {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        a => a,
    };
    match (afi, local) {
        (Afi::V4, IpAddr::V4(_)) | (Afi::V6, IpAddr::V6(_)) => Some(local),
        _ => ifaddrs::sibling_address(local, afi == Afi::V6),
    }
}
