//! BFD in rvpnd (issue 6): one tokio task runs every session of the
//! sans-IO [`bfd::Session`] with real time and real sockets.
//!
//! - Sessions: one per BGP neighbor with `neighbor X bfd` (own or peer
//!   group), and for neighbors of a `bgp listen range` whose group has bfd
//!   on, one created when such a neighbor first sends us BFD ([`config`])
//!   if the BGP speaker knows it now, within the range's `bgp listen
//!   limit` and a global cap ([`receive`]); other sources' packets are
//!   dropped and counted.
//! - Sockets (RFC 5881, [`sock`]): listeners on UDP 3784 (IPv4 and IPv6)
//!   that drop every packet whose TTL/hop limit is not 255 (GTSM); one
//!   sender per session from a port in 49152-65535 with TTL 255.
//! - Demultiplexing by Your Discriminator, else by peer address and
//!   arrival interface ([`demux`]). Malformed packets are counted and
//!   dropped.
//! - Coupling: each Up and each Up->Down goes to the BGP speaker through
//!   [`crate::updown`] (the task never waits on a busy speaker, and the
//!   speaker gets each neighbor's final state, a Down in between kept);
//!   the speaker takes the session down at once on Down (Cease/BFD Down,
//!   RFC 9384), like FRR, and lets it come back by itself.
//! - The running configuration comes through a `watch` channel (the
//!   latest counts); `show` requests see every configuration published
//!   before them.
//! - `show bfd peers [brief] [json]` ([`show`]).

pub mod config;
pub mod demux;
mod receive;
mod show;
mod sock;

pub use receive::MAX_PASSIVE_SESSIONS;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bfd::{Admission, ControlPacket, Event, LogLimit, Session, SessionConfig, State};
use ipnetwork::IpNetwork;
use tokio::io::Interest;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn};
use vtysh::model::BfdTimers;
use vtysh::Config;

use config::PeerSpec;

/// The UDP port of single-hop Control packets.
pub const CONTROL_PORT: u16 = bfd::CONTROL_PORT;
/// A dynamic neighbor's session that has heard nothing this long while
/// Down is dropped.
const DYNAMIC_IDLE: Duration = Duration::from_secs(60);
/// How often a session without a socket retries opening one.
const SOCKET_RETRY: Duration = Duration::from_secs(1);
/// How often a dynamic neighbor's session that is not Up is checked for
/// silence (see [`DYNAMIC_IDLE`]).
const IDLE_CHECK: Duration = Duration::from_secs(5);

/// What the rest of rvpnd asks of the BFD task.
#[derive(Debug)]
pub enum Command {
    /// `show bfd peers [brief] [json]`.
    Show {
        brief: bool,
        json: bool,
        reply: oneshot::Sender<Result<String, String>>,
    },
}

/// Packets dropped before reaching a session, by reason.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Drops {
    pub ttl: u64,
    pub parse: u64,
    pub no_session: u64,
    pub discarded: u64,
}

/// The last Control packet heard from a peer: its timers, for show.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Remote {
    pub desired_min_tx_us: u32,
    pub required_min_rx_us: u32,
    pub detect_mult: u8,
    pub diag: u8,
}

pub(crate) struct Entry {
    pub spec: PeerSpec,
    pub session: Session,
    sock: Option<UdpSocket>,
    next_sock_try: Instant,
    /// The interface packets arrive on (learnt from the first one).
    pub ifindex: Option<u32>,
    /// Our address: configured, else where the peer sends to.
    pub local: Option<IpAddr>,
    /// When the state last changed.
    pub since: SystemTime,
    pub last_rx: Option<Instant>,
    pub remote: Option<Remote>,
    pub rx: u64,
    pub tx: u64,
    /// Times the session went Up->Down.
    pub downs: u64,
    /// Generation of its live entry in [`Task::timers`].
    generation: u64,
    /// The deadline of that entry (None: not in the heap).
    scheduled: Option<Instant>,
}

impl demux::Demux for Entry {
    fn peer(&self) -> IpAddr {
        self.spec.peer
    }
    fn ifindex(&self) -> Option<u32> {
        self.ifindex
    }
}

fn ms(v: u32) -> Duration {
    Duration::from_millis(u64::from(v))
}

fn session_cfg(t: BfdTimers, discr: u32) -> SessionConfig {
    SessionConfig {
        desired_min_tx: ms(t.min_tx_ms),
        required_min_rx: ms(t.min_rx_ms),
        detect_mult: t.detect_mult,
        local_discr: discr,
        passive: false,
        seed: u64::from(discr).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
    }
}

pub(crate) struct Task {
    running: Config,
    pub sessions: HashMap<u32, Entry>,
    /// Configured neighbors' sessions: peer -> discriminator.
    by_peer: BTreeMap<IpAddr, u32>,
    next_discr: u32,
    bgp: Option<crate::updown::Sender<IpAddr>>,
    pub drops: Drops,
    v4: Option<tokio::net::UdpSocket>,
    v6: Option<tokio::net::UdpSocket>,
    /// When each session next needs [`Task::drive`]: (deadline,
    /// discriminator, generation), stale entries skipped when they come up,
    /// so that an event costs the sessions it touches, not all of them.
    timers: BinaryHeap<Reverse<(Instant, u32, u64)>>,
    next_generation: u64,
    /// Sessions changed by a packet since the last drive.
    touched: Vec<u32>,
    /// Every session needs a drive (configuration change).
    all_touched: bool,
    /// Passive sessions per listen range, and the packets refused one.
    pub admission: Admission<IpNetwork>,
    /// The dynamic neighbors the BGP speaker knows now.
    known: Arc<BTreeSet<IpAddr>>,
    /// One line about refused sources per interval.
    refusal_log: LogLimit,
}

/// The dynamic BGP neighbors the speaker knows, as the BGP task publishes
/// them.
pub type KnownNeighbors = watch::Receiver<Arc<BTreeSet<IpAddr>>>;

impl Task {
    /// A task without sockets (they come in [`start`]) or configuration.
    fn new(first_discr: u32, bgp: Option<crate::updown::Sender<IpAddr>>) -> Task {
        Task {
            running: Config::default(),
            sessions: HashMap::new(),
            by_peer: BTreeMap::new(),
            next_discr: first_discr.max(1),
            bgp,
            drops: Drops::default(),
            v4: None,
            v6: None,
            timers: BinaryHeap::new(),
            next_generation: 0,
            touched: Vec::new(),
            all_touched: false,
            admission: Admission::new(MAX_PASSIVE_SESSIONS),
            known: Arc::new(BTreeSet::new()),
            refusal_log: LogLimit::new(receive::REFUSAL_LOG_INTERVAL),
        }
    }
}

/// Starts the BFD task (task `bfd` of `tasks`): listeners on `port` (3784
/// unless testing), the configuration from `config`, events to the BGP
/// speaker `bgp`, the dynamic neighbors it knows from `known`.
pub fn start(
    tasks: &crate::supervise::Reporter,
    port: u16,
    mut config: watch::Receiver<std::sync::Arc<Config>>,
    bgp: Option<crate::updown::Sender<IpAddr>>,
    known: Option<KnownNeighbors>,
) -> mpsc::Sender<Command> {
    let (tx, rx) = mpsc::channel(64);
    let open = |v6: bool| match sock::listener(v6, port).and_then(tokio::net::UdpSocket::from_std) {
        Ok(s) => Some(s),
        Err(e) => {
            warn!(
                "BFD cannot listen on UDP {} port {port}: {e}; no BFD over {}",
                if v6 { "[::]" } else { "0.0.0.0" },
                if v6 { "IPv6" } else { "IPv4" }
            );
            None
        }
    };
    // A first discriminator that differs between restarts, so a peer does
    // not take the new session for the old one.
    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ std::process::id().rotate_left(16))
        .unwrap_or(1);
    let mut t = Task::new(seed, bgp);
    t.v4 = open(false);
    t.v6 = open(true);
    // The configuration there is now applies first.
    config.mark_changed();
    tasks.spawn("bfd", t.run(rx, config, known));
    tx
}

/// The next set of known dynamic neighbors (None: the BGP task is gone;
/// pending forever without a receiver).
async fn known_changed(k: &mut Option<KnownNeighbors>) -> Option<Arc<BTreeSet<IpAddr>>> {
    match k {
        Some(rx) => match rx.changed().await {
            Ok(()) => Some(rx.borrow_and_update().clone()),
            Err(_) => None,
        },
        None => std::future::pending().await,
    }
}

async fn recv_on(
    s: Option<&tokio::net::UdpSocket>,
    buf: &mut [u8],
) -> std::io::Result<sock::RecvMeta> {
    match s {
        Some(s) => {
            s.async_io(Interest::READABLE, || sock::recv(s.as_fd(), buf))
                .await
        }
        None => std::future::pending().await,
    }
}

impl Task {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Command>,
        mut config: watch::Receiver<std::sync::Arc<Config>>,
        mut known: Option<KnownNeighbors>,
    ) {
        let mut b4 = [0u8; 512];
        let mut b6 = [0u8; 512];
        let mut config_open = true;
        if let Some(k) = &mut known {
            let now = k.borrow_and_update().clone();
            self.set_known(now);
        }
        loop {
            let deadline = self.next_deadline();
            tokio::select! {
                changed = config.changed(), if config_open => match changed {
                    Ok(()) => {
                        let cfg = config.borrow_and_update().clone();
                        self.set_config((*cfg).clone());
                    }
                    Err(_) => config_open = false,
                },
                cmd = rx.recv() => match cmd {
                    Some(c) => {
                        // A configuration published before this request
                        // applies first.
                        if config.has_changed().unwrap_or(false) {
                            let cfg = config.borrow_and_update().clone();
                            self.set_config((*cfg).clone());
                        }
                        self.command(c)
                    }
                    None => break,
                },
                changed = known_changed(&mut known) => match changed {
                    Some(k) => self.set_known(k),
                    None => known = None,
                },
                r = recv_on(self.v4.as_ref(), &mut b4) => self.received(r, &b4),
                r = recv_on(self.v6.as_ref(), &mut b6) => self.received(r, &b6),
                _ = tokio::time::sleep_until(deadline) => {}
            }
            self.drive(Instant::now());
        }
        debug!("BFD task stopping");
    }

    /// The top of the timer heap (kept live by [`Task::drive`]), at most
    /// 5 s away.
    fn next_deadline(&self) -> Instant {
        let cap = Instant::now() + Duration::from_secs(5);
        match self.timers.peek() {
            Some(Reverse((t, _, _))) => cap.min(*t),
            None => cap,
        }
    }

    fn command(&mut self, c: Command) {
        match c {
            Command::Show { brief, json, reply } => {
                let _ = reply.send(Ok(show::show(self, brief, json)));
            }
        }
    }

    fn alloc_discr(&mut self) -> u32 {
        loop {
            let d = self.next_discr;
            self.next_discr = self.next_discr.wrapping_add(1).max(1);
            if d != 0 && !self.sessions.contains_key(&d) {
                return d;
            }
        }
    }

    fn add(&mut self, spec: PeerSpec, now: Instant) -> Option<u32> {
        let discr = self.alloc_discr();
        let session = match Session::new(session_cfg(spec.timers, discr), now.into_std()) {
            Ok(s) => s,
            Err(e) => {
                warn!("BFD peer {}: cannot start: {e}", spec.peer);
                return None;
            }
        };
        info!(
            "BFD peer {}: session {discr} created ({} ms x {}, rx {} ms{})",
            spec.peer,
            spec.timers.min_tx_ms,
            spec.timers.detect_mult,
            spec.timers.min_rx_ms,
            if spec.dynamic {
                ", dynamic neighbor"
            } else {
                ""
            }
        );
        let local = spec.local;
        self.sessions.insert(
            discr,
            Entry {
                spec,
                session,
                sock: None,
                next_sock_try: now,
                ifindex: None,
                local,
                since: SystemTime::now(),
                last_rx: None,
                remote: None,
                rx: 0,
                tx: 0,
                downs: 0,
                generation: 0,
                scheduled: None,
            },
        );
        self.touched.push(discr);
        Some(discr)
    }

    /// Removes a session, telling the peer first (AdminDown).
    fn remove(&mut self, discr: u32, why: &str) {
        let Some(mut e) = self.sessions.remove(&discr) else {
            return;
        };
        info!("BFD peer {}: session {discr} removed ({why})", e.spec.peer);
        if let Some(r) = e.spec.range.filter(|_| e.spec.dynamic) {
            self.admission.release(&r);
        }
        let now = Instant::now().into_std();
        e.session.admin_down(now);
        while let Some(p) = e.session.poll_transmit(now) {
            send(&mut e, &p);
        }
        // Like FRR, unconfiguring BFD does not take BGP down.
    }

    fn set_config(&mut self, cfg: Config) {
        let now = Instant::now();
        self.all_touched = true;
        let wanted = config::wanted(&cfg);
        self.running = cfg;
        // Gone or changed beyond timers: remove.
        let old: Vec<(IpAddr, u32)> = self.by_peer.iter().map(|(a, d)| (*a, *d)).collect();
        for (addr, d) in old {
            let keep = wanted.get(&addr).is_some_and(|w| {
                self.sessions
                    .get(&d)
                    .is_some_and(|e| e.spec.local == w.local && e.spec.ifname == w.ifname)
            });
            if !keep {
                self.by_peer.remove(&addr);
                self.remove(d, "no longer configured");
            }
        }
        // Dynamic sessions whose range or group lost bfd.
        let dyn_gone: Vec<u32> = self
            .sessions
            .iter()
            .filter(|(_, e)| {
                e.spec.dynamic && config::dynamic_spec(&self.running, e.spec.peer).is_none()
            })
            .map(|(d, _)| *d)
            .collect();
        for d in dyn_gone {
            self.remove(d, "listen range without bfd");
        }
        for (addr, spec) in wanted {
            match self.by_peer.get(&addr).copied() {
                Some(d) => {
                    if let Some(e) = self.sessions.get_mut(&d) {
                        if e.spec.timers != spec.timers {
                            let t = spec.timers;
                            if let Err(err) = e.session.set_timers(
                                now.into_std(),
                                ms(t.min_tx_ms),
                                ms(t.min_rx_ms),
                                t.detect_mult,
                            ) {
                                warn!("BFD peer {addr}: timers refused: {err}");
                            }
                        }
                        e.spec = spec;
                    }
                }
                None => {
                    if let Some(d) = self.add(spec, now) {
                        self.by_peer.insert(addr, d);
                    }
                }
            }
        }
    }

    /// Expires timers, sends what is due and passes state changes on, for
    /// the sessions a packet touched and those whose timers are due (all
    /// of them after a configuration change).
    fn drive(&mut self, now: Instant) {
        let mut work = std::mem::take(&mut self.touched);
        if std::mem::take(&mut self.all_touched) {
            work.extend(self.sessions.keys().copied());
        }
        while let Some(Reverse((t, d, generation))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            if let Some(e) = self.sessions.get_mut(&d) {
                if e.generation == generation {
                    e.scheduled = None;
                    work.push(d);
                }
            }
        }
        work.sort_unstable();
        work.dedup();
        let mut events: Vec<(IpAddr, bool)> = Vec::new();
        let mut idle: Vec<u32> = Vec::new();
        for d in &work {
            self.drive_one(*d, now, &mut events, &mut idle);
        }
        for d in idle {
            self.remove(d, "dynamic neighbor silent");
        }
        for (peer, up) in events {
            self.notify(peer, up);
        }
        for d in work {
            self.schedule(d, now);
        }
        // Drop stale entries from the top, so next_deadline is live.
        while let Some(Reverse((_, d, generation))) = self.timers.peek().copied() {
            if self
                .sessions
                .get(&d)
                .is_some_and(|e| e.generation == generation)
            {
                break;
            }
            self.timers.pop();
        }
        if self.timers.len() > 2 * self.sessions.len() + 64 {
            let live: Vec<_> = self
                .sessions
                .iter()
                .filter_map(|(d, e)| e.scheduled.map(|t| Reverse((t, *d, e.generation))))
                .collect();
            self.timers = BinaryHeap::from(live);
        }
    }

    fn drive_one(
        &mut self,
        d: u32,
        now: Instant,
        events: &mut Vec<(IpAddr, bool)>,
        idle: &mut Vec<u32>,
    ) {
        let std_now = now.into_std();
        let Some(e) = self.sessions.get_mut(&d) else {
            return;
        };
        if e.session.poll_timeout().is_some_and(|t| t <= std_now) {
            e.session.handle_timeout(std_now);
        }
        if e.sock.is_none() && e.next_sock_try <= now {
            e.next_sock_try = now + SOCKET_RETRY;
            let port = sock::SRC_PORTS.start().wrapping_add((d % 16384) as u16);
            match sock::sender(e.spec.peer, e.spec.local, port) {
                Ok(s) => e.sock = Some(s),
                Err(err) => debug!("BFD peer {}: no socket yet: {err}", e.spec.peer),
            }
        }
        while let Some(p) = e.session.poll_transmit(std_now) {
            send(e, &p);
        }
        while let Some(ev) = e.session.poll_event() {
            e.since = SystemTime::now();
            match ev {
                Event::Up => {
                    info!("BFD peer {}: session {d} Up", e.spec.peer);
                    events.push((e.spec.peer, true));
                }
                Event::Down { diag } => {
                    e.downs += 1;
                    warn!("BFD peer {}: session {d} Down ({diag})", e.spec.peer);
                    events.push((e.spec.peer, false));
                }
            }
        }
        if e.spec.dynamic
            && e.session.state() != State::Up
            && e.last_rx
                .is_none_or(|t| now.duration_since(t) > DYNAMIC_IDLE)
            && e.since.elapsed().unwrap_or_default() > DYNAMIC_IDLE
        {
            idle.push(d);
        }
    }

    /// Put a session's next deadline in the heap (if it changed, or its
    /// entry was taken off): the session's own timers, the socket retry,
    /// and the silence check of a dynamic neighbor that is not Up.
    fn schedule(&mut self, d: u32, now: Instant) {
        let Some(e) = self.sessions.get_mut(&d) else {
            return;
        };
        let mut t = e.session.poll_timeout().map(Instant::from_std);
        let mut consider = |x: Instant| t = Some(t.map_or(x, |y| y.min(x)));
        if e.sock.is_none() {
            consider(e.next_sock_try);
        }
        if e.spec.dynamic && e.session.state() != State::Up {
            consider(now + IDLE_CHECK);
        }
        if t != e.scheduled {
            e.scheduled = t;
            self.next_generation += 1;
            e.generation = self.next_generation;
            if let Some(t) = t {
                self.timers.push(Reverse((t, d, e.generation)));
            }
        }
    }

    fn notify(&self, peer: IpAddr, up: bool) {
        if let Some(tx) = &self.bgp {
            tx.set(peer, up);
        }
    }
}

/// An IPv4-mapped IPv6 source as IPv4.
fn canonical(a: SocketAddr) -> IpAddr {
    match a.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn send(e: &mut Entry, p: &ControlPacket) {
    let Some(s) = &e.sock else { return };
    match s.send_to(&p.to_vec(), (e.spec.peer, CONTROL_PORT)) {
        Ok(_) => e.tx += 1,
        Err(err) => debug!("BFD peer {}: send: {err}", e.spec.peer),
    }
}

#[cfg(test)]
mod tests;
