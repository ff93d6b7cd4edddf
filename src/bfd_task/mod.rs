//! BFD in rvpnd (issue 6): one tokio task runs every session of the
//! sans-IO [`bfd::Session`] with real time and real sockets.
//!
//! - Sessions: one per BGP neighbor with `neighbor X bfd` (own or peer
//!   group), and for neighbors of a `bgp listen range` whose group has bfd
//!   on, one created when such a neighbor first sends us BFD
//!   ([`config`]).
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
mod show;
mod sock;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::time::{Duration, SystemTime};

use bfd::{ControlPacket, Event, Session, SessionConfig, State};
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
}

/// Starts the BFD task (task `bfd` of `tasks`): listeners on `port` (3784
/// unless testing), the configuration from `config`, events to the BGP
/// speaker `bgp`.
pub fn start(
    tasks: &crate::supervise::Reporter,
    port: u16,
    mut config: watch::Receiver<std::sync::Arc<Config>>,
    bgp: Option<crate::updown::Sender<IpAddr>>,
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
    let t = Task {
        running: Config::default(),
        sessions: HashMap::new(),
        by_peer: BTreeMap::new(),
        next_discr: seed.max(1),
        bgp,
        drops: Drops::default(),
        v4: open(false),
        v6: open(true),
        timers: BinaryHeap::new(),
        next_generation: 0,
        touched: Vec::new(),
        all_touched: false,
    };
    // The configuration there is now applies first.
    config.mark_changed();
    tasks.spawn("bfd", t.run(rx, config));
    tx
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
    ) {
        let mut b4 = [0u8; 512];
        let mut b6 = [0u8; 512];
        let mut config_open = true;
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

    fn received(&mut self, r: std::io::Result<sock::RecvMeta>, buf: &[u8]) {
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
            None if pkt.your_discr == 0 => match config::dynamic_spec(&self.running, src) {
                Some(spec) => match self.add(spec, now) {
                    Some(d) => d,
                    None => return,
                },
                None => {
                    self.drops.no_session += 1;
                    debug!("BFD: packet from {src} matches no session");
                    return;
                }
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
mod tests {
    use super::*;
    use bfd::Diag;

    fn task(cfg: &str) -> Task {
        let mut t = Task {
            running: Config::default(),
            sessions: HashMap::new(),
            by_peer: BTreeMap::new(),
            next_discr: 100,
            bgp: None,
            drops: Drops::default(),
            v4: None,
            v6: None,
            timers: BinaryHeap::new(),
            next_generation: 0,
            touched: Vec::new(),
            all_touched: false,
        };
        let cfg = vtysh::load_config(cfg, &Config::default()).unwrap_or_else(|e| panic!("{e:?}"));
        t.set_config(cfg);
        t
    }

    fn meta(src: &str, len: usize, ttl: Option<u8>) -> sock::RecvMeta {
        sock::RecvMeta {
            len,
            src: SocketAddr::new(src.parse().unwrap(), 49200),
            ttl,
            ifindex: Some(3),
            dst: Some("10.1.0.1".parse().unwrap()),
        }
    }

    fn pkt(my: u32, your: u32) -> Vec<u8> {
        ControlPacket {
            diag: Diag::None,
            state: State::Down,
            poll: false,
            final_: false,
            cpi: false,
            demand: false,
            detect_mult: 3,
            my_discr: my,
            your_discr: your,
            desired_min_tx_us: 1_000_000,
            required_min_rx_us: 300_000,
            required_min_echo_rx_us: 0,
            auth: None,
        }
        .to_vec()
    }

    const CFG: &str = "router bgp 65000\n neighbor D peer-group\n neighbor D remote-as external\n \
         neighbor D bfd\n bgp listen range 172.16.0.0/16 peer-group D\n \
         neighbor 10.1.0.2 remote-as 65001\n neighbor 10.1.0.2 bfd\n";

    #[test]
    fn gtsm_malformed_and_unknown_packets_are_counted_and_dropped() {
        let mut t = task(CFG);
        assert_eq!(t.sessions.len(), 1);
        let good = pkt(7, 0);
        // TTL 64 or unknown: GTSM drops it.
        t.received(Ok(meta("10.1.0.2", good.len(), Some(64))), &good);
        t.received(Ok(meta("10.1.0.2", good.len(), Some(254))), &good);
        t.received(Ok(meta("10.1.0.2", good.len(), None)), &good);
        assert_eq!(t.drops.ttl, 3);
        // Garbage, truncated, a length beyond the buffer: parse errors.
        let junk = [0xffu8; 30];
        t.received(Ok(meta("10.1.0.2", junk.len(), Some(255))), &junk);
        t.received(Ok(meta("10.1.0.2", 10, Some(255))), &good);
        t.received(Ok(meta("10.1.0.2", 4000, Some(255))), &good);
        assert_eq!(t.drops.parse, 3);
        // No session: another peer; a discriminator that is not ours.
        t.received(Ok(meta("10.1.0.9", good.len(), Some(255))), &good);
        let wrong = pkt(7, 4242);
        t.received(Ok(meta("10.1.0.2", wrong.len(), Some(255))), &wrong);
        assert_eq!(t.drops.no_session, 2);
        let e = t.sessions.values().next().unwrap();
        assert_eq!(e.rx, 0, "nothing reached the session");
        // The good one at TTL 255 does, and binds the session to the link.
        t.received(Ok(meta("10.1.0.2", good.len(), Some(255))), &good);
        let e = t.sessions.values().next().unwrap();
        assert_eq!(e.rx, 1);
        assert_eq!(e.session.remote_discr(), 7);
        assert_eq!(e.session.state(), State::Init);
        assert_eq!(e.ifindex, Some(3));
        // Then by our discriminator.
        let d = *t.sessions.keys().next().unwrap();
        let mine = pkt(7, d);
        t.received(Ok(meta("10.1.0.2", mine.len(), Some(255))), &mine);
        assert_eq!(t.sessions[&d].rx, 2);
    }

    #[test]
    fn dynamic_neighbor_gets_a_session_when_it_speaks_bfd() {
        let mut t = task(CFG);
        let p = pkt(9, 0);
        t.received(Ok(meta("172.16.3.4", p.len(), Some(255))), &p);
        assert_eq!(t.sessions.len(), 2);
        let e = t
            .sessions
            .values()
            .find(|e| e.spec.peer == "172.16.3.4".parse::<IpAddr>().unwrap())
            .unwrap();
        assert!(e.spec.dynamic);
        assert_eq!(e.rx, 1);
        // Outside every range: none.
        t.received(Ok(meta("192.0.2.1", p.len(), Some(255))), &p);
        assert_eq!(t.sessions.len(), 2);
        // The group loses bfd: the dynamic session goes, the configured stays.
        let cfg = CFG.replace(" neighbor D bfd\n", "");
        t.set_config(vtysh::load_config(&cfg, &Config::default()).unwrap());
        assert_eq!(t.sessions.len(), 1);
        // Unconfigured: gone.
        let cfg = cfg.replace(" neighbor 10.1.0.2 bfd\n", "");
        t.set_config(vtysh::load_config(&cfg, &Config::default()).unwrap());
        assert!(t.sessions.is_empty());
    }

    /// What the heap must agree with: the earliest timer over all
    /// sessions (the scan it replaces), at most 5 s away.
    fn scanned_deadline(t: &Task) -> Instant {
        let mut d = Instant::now() + Duration::from_secs(5);
        for e in t.sessions.values() {
            if let Some(x) = e.session.poll_timeout() {
                d = d.min(Instant::from_std(x));
            }
            if e.sock.is_none() {
                d = d.min(e.next_sock_try);
            }
        }
        d
    }

    #[test]
    fn the_timer_heap_agrees_with_a_scan_and_holds_one_entry_per_session() {
        let mut t = task(CFG);
        let p = pkt(9, 0);
        t.received(Ok(meta("172.16.3.4", p.len(), Some(255))), &p);
        t.received(Ok(meta("172.16.3.5", p.len(), Some(255))), &p);
        assert_eq!(t.sessions.len(), 3);
        t.drive(Instant::now());
        assert_eq!(t.timers.len(), t.sessions.len(), "one live entry each");
        assert!(t.touched.is_empty() && !t.all_touched);
        let (heap, scan) = (t.next_deadline(), scanned_deadline(&t));
        assert!(heap <= scan, "the heap must not wake later than a scan");
        // A packet for one session moves only that session's entry.
        let d = t
            .sessions
            .iter()
            .find(|(_, e)| e.spec.peer == "172.16.3.4".parse::<IpAddr>().unwrap())
            .map(|(d, _)| *d)
            .unwrap();
        let mine = pkt(9, d);
        t.received(Ok(meta("172.16.3.4", mine.len(), Some(255))), &mine);
        assert_eq!(t.touched, vec![d]);
        t.drive(Instant::now());
        assert!(t.timers.len() <= 2 * t.sessions.len() + 64);
        assert!(t.next_deadline() <= scanned_deadline(&t));
        // Sessions that are removed leave only stale entries, which go.
        let cfg = CFG.replace(" neighbor D bfd\n", "");
        t.set_config(vtysh::load_config(&cfg, &Config::default()).unwrap());
        t.drive(Instant::now());
        assert_eq!(t.sessions.len(), 1);
        let live = t
            .timers
            .iter()
            .filter(|Reverse((_, d, g))| t.sessions.get(d).is_some_and(|e| e.generation == *g))
            .count();
        assert_eq!(live, 1);
    }

    #[test]
    fn timer_changes_keep_the_session() {
        let mut t = task(CFG);
        let d = *t.sessions.keys().next().unwrap();
        let cfg = CFG.replace(
            " neighbor 10.1.0.2 bfd\n",
            " neighbor 10.1.0.2 bfd 5 100 200\n",
        );
        t.set_config(vtysh::load_config(&cfg, &Config::default()).unwrap());
        let e = &t.sessions[&d];
        assert_eq!(e.session.config().detect_mult, 5);
        assert_eq!(
            e.session.config().required_min_rx,
            Duration::from_millis(100)
        );
        assert_eq!(
            e.session.config().desired_min_tx,
            Duration::from_millis(200)
        );
    }

    /// The listener reports TTL, destination and interface (loopback).
    #[test]
    fn listener_reports_ttl_and_destination() {
        let l = sock::listener(false, 0).unwrap();
        let port = l.local_addr().unwrap().port();
        for ttl in [255u32, 17] {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            s.set_ttl(ttl).unwrap();
            s.send_to(&[1, 2, 3], ("127.0.0.1", port)).unwrap();
            let mut buf = [0u8; 64];
            let mut got = None;
            for _ in 0..100 {
                match sock::recv(l.as_fd(), &mut buf) {
                    Ok(m) => {
                        got = Some(m);
                        break;
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            let m = got.expect("datagram received");
            assert_eq!(m.len, 3);
            assert_eq!(m.ttl, Some(ttl as u8));
            assert_eq!(m.dst, Some("127.0.0.1".parse().unwrap()));
            assert_eq!(m.ifindex, Some(1));
            assert_eq!(m.src, s.local_addr().unwrap());
        }
        // A sender: TTL 255 from the BFD source port range.
        let s = sock::sender("127.0.0.1".parse().unwrap(), None, 50000).unwrap();
        assert!(sock::SRC_PORTS.contains(&s.local_addr().unwrap().port()));
        assert_eq!(s.ttl().unwrap(), 255);
    }
}
