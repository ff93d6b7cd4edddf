//! A deterministic BGP network for tests: N speaker cores wired in memory
//! with a fake clock, as `Pair` does for the IKE engine. Connections are
//! pipes between cores; bytes and closes are delivered in the order they
//! were sent; timers fire when the clock is advanced to them.

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipnetwork::IpNetwork;

use super::{
    AfConfig, AfPeer, ConnId, Forwarding, Output, PeerConfig, PolicyChanges, RemoteAs, Speaker,
    SpeakerConfig,
};
use crate::policy::Policies;
use crate::wire::{frame, MessageType, Notification, HEADER_LEN};

/// One simulated router.
pub(crate) struct Node {
    pub sp: Speaker,
    /// What BGP forwards, as last reported.
    pub fib: BTreeMap<IpNetwork, Forwarding>,
    /// Session events, in order.
    pub events: Vec<Output>,
    /// The configuration last given (to change it a bit).
    pub cfg: Option<SpeakerConfig>,
    pub policies: Arc<Policies>,
}

/// One end of a pipe: the node, the remote address it sees, its
/// connection id.
type End = (usize, IpAddr, ConnId);

enum Delivery {
    /// Bytes from the first end to the second.
    Data(End, End, Vec<u8>),
    Closed(End),
}

/// A whole KEEPALIVE message.
const KEEPALIVE: [u8; 19] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0, 19, 4,
];

/// The network.
pub(crate) struct Net {
    pub now: Instant,
    pub nodes: Vec<Node>,
    /// Which node has which address.
    addrs: BTreeMap<IpAddr, usize>,
    /// Address pairs that can reach each other (both ways).
    links: Vec<(IpAddr, IpAddr)>,
    pipes: Vec<(End, End)>,
    wire: VecDeque<Delivery>,
    /// Connection attempts, not yet connected.
    connects: VecDeque<(usize, IpAddr, ConnId)>,
    /// Connections up at the connecting end, not yet accepted at the
    /// other: (connecting end, its local address, whether it took it).
    accepts: VecDeque<(End, IpAddr, bool)>,
    /// Nodes that take no bytes from their connections (see
    /// [`Net::deafen`]), and what waits for them.
    deaf: Vec<usize>,
    parked: Vec<(End, End, Vec<u8>)>,
    /// NOTIFICATIONs delivered: (from node, to node, message).
    pub notifications: Vec<(usize, usize, Notification)>,
    /// Every message delivered: (from node, to node, type, length).
    pub messages: Vec<(usize, usize, u8, usize)>,
}

impl Net {
    pub fn new() -> Net {
        Net {
            now: Instant::now(),
            nodes: Vec::new(),
            addrs: BTreeMap::new(),
            links: Vec::new(),
            pipes: Vec::new(),
            wire: VecDeque::new(),
            connects: VecDeque::new(),
            accepts: VecDeque::new(),
            deaf: Vec::new(),
            parked: Vec::new(),
            notifications: Vec::new(),
            messages: Vec::new(),
        }
    }

    /// Node `n` stops taking bytes from its connections: what is sent to
    /// it waits, and its senders see no progress. Its sessions hear a
    /// KEEPALIVE every second all the same (its reader is stuck, its
    /// timers run), so only the senders' send hold timers can end them.
    pub fn deafen(&mut self, n: usize) {
        if !self.deaf.contains(&n) {
            self.deaf.push(n);
        }
    }

    /// Node `n` reads again: what waited is delivered.
    pub fn undeafen(&mut self, n: usize) {
        self.deaf.retain(|d| *d != n);
        let (now_deliver, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.parked)
            .into_iter()
            .partition(|(_, to, _)| to.0 == n);
        self.parked = keep;
        for (from, to, bytes) in now_deliver {
            self.wire.push_back(Delivery::Data(from, to, bytes));
        }
    }

    /// Bytes waiting for deaf node `n`.
    pub fn parked_for(&self, n: usize) -> usize {
        self.parked
            .iter()
            .filter(|(_, to, _)| to.0 == n)
            .map(|(_, _, b)| b.len())
            .sum()
    }

    /// Every second, each connection of a deaf node hears a KEEPALIVE.
    fn tick_deaf(&mut self) {
        let now = self.now;
        let ends: Vec<End> = self
            .pipes
            .iter()
            .flat_map(|(a, b)| [*a, *b])
            .filter(|e| self.deaf.contains(&e.0))
            .collect();
        for (n, peer, conn) in ends {
            let Some(node) = self.nodes.get_mut(n) else {
                continue;
            };
            let established = node
                .sp
                .peers()
                .get(&peer)
                .and_then(|p| p.est.as_ref())
                .is_some_and(|e| e.conn == conn);
            if established {
                node.sp.handle_data(peer, conn, &KEEPALIVE, now);
            }
        }
    }

    /// Adds a router with these addresses; returns its index.
    pub fn node(&mut self, addrs: &[&str]) -> usize {
        let i = self.nodes.len();
        for a in addrs {
            self.addrs.insert(ip(a), i);
        }
        self.nodes.push(Node {
            sp: Speaker::new(true, self.now),
            fib: BTreeMap::new(),
            events: Vec::new(),
            cfg: None,
            policies: Arc::new(Policies::default()),
        });
        i
    }

    /// Lets `a` and `b` reach each other.
    pub fn link(&mut self, a: &str, b: &str) {
        self.links.push((ip(a), ip(b)));
    }

    /// Configures node `n`.
    pub fn configure(&mut self, n: usize, cfg: SpeakerConfig, policies: Policies) {
        self.configure_changed(n, cfg, policies, &PolicyChanges::default());
    }

    /// Configures node `n`, saying which policy objects changed.
    pub fn configure_changed(
        &mut self,
        n: usize,
        cfg: SpeakerConfig,
        policies: Policies,
        changes: &PolicyChanges,
    ) {
        let now = self.now;
        if let Some(node) = self.nodes.get_mut(n) {
            let policies = Arc::new(policies);
            node.cfg = Some(cfg.clone());
            node.policies = policies.clone();
            node.sp.handle_config(Some(cfg), policies, changes, now);
        }
    }

    /// Changes node `n`'s configuration with `f`, keeping its policies.
    pub fn reconfigure(&mut self, n: usize, f: impl FnOnce(&mut SpeakerConfig)) {
        let Some(node) = self.nodes.get_mut(n) else {
            return;
        };
        let Some(mut cfg) = node.cfg.clone() else {
            return;
        };
        f(&mut cfg);
        node.cfg = Some(cfg.clone());
        let policies = node.policies.clone();
        node.sp
            .handle_config(Some(cfg), policies, &PolicyChanges::default(), self.now);
    }

    /// Node `n` dies silently (its connections just close, as when its
    /// process is killed) and starts again with the same configuration,
    /// or with `cfg` when given.
    pub fn restart(&mut self, n: usize, cfg: Option<SpeakerConfig>) {
        let now = self.now;
        let mine: Vec<(End, End)> = self
            .pipes
            .iter()
            .filter(|(a, b)| a.0 == n || b.0 == n)
            .copied()
            .collect();
        self.pipes.retain(|(a, b)| a.0 != n && b.0 != n);
        for (a, b) in mine {
            let other = if a.0 == n { b } else { a };
            self.wire.push_back(Delivery::Closed(other));
        }
        self.wire.retain(|d| match d {
            Delivery::Data(_, e, _) | Delivery::Closed(e) => e.0 != n,
        });
        self.parked.retain(|(_, to, _)| to.0 != n);
        let Some(node) = self.nodes.get_mut(n) else {
            return;
        };
        node.sp = Speaker::new(true, now);
        node.fib.clear();
        node.events.clear();
        if let Some(cfg) = cfg.or_else(|| node.cfg.clone()) {
            node.cfg = Some(cfg.clone());
            node.sp.handle_config(
                Some(cfg),
                node.policies.clone(),
                &PolicyChanges::default(),
                now,
            );
        }
    }

    /// Runs events and timers for `dur` of simulated time.
    pub fn run(&mut self, dur: Duration) {
        let end = self.now + dur;
        let mut tick = self.now + Duration::from_secs(1);
        for _ in 0..1_000_000 {
            self.settle();
            let timers = self.nodes.iter().filter_map(|n| n.sp.poll_timeout()).min();
            let ticks = (!self.deaf.is_empty()).then_some(tick);
            let next = timers.into_iter().chain(ticks).min().filter(|t| *t <= end);
            let Some(t) = next else { break };
            self.now = self.now.max(t);
            let now = self.now;
            if now >= tick {
                tick = now + Duration::from_secs(1);
                self.tick_deaf();
            }
            for n in &mut self.nodes {
                if n.sp.poll_timeout().is_some_and(|t| t <= now) {
                    n.sp.handle_timeout(now);
                }
            }
        }
        self.now = end;
        self.settle();
    }

    /// Delivers everything in flight, without moving the clock.
    pub fn settle(&mut self) {
        for _ in 0..100_000 {
            let mut moved = false;
            for i in 0..self.nodes.len() {
                while let Some(o) = self.nodes.get_mut(i).and_then(|n| n.sp.poll_output()) {
                    moved = true;
                    self.output(i, o);
                }
            }
            // Every connection in flight connects at its end before any is
            // accepted at the other: simultaneous opens collide.
            while let Some((i, peer, conn)) = self.connects.pop_front() {
                moved = true;
                self.connect(i, peer, conn);
            }
            while let Some((end, local, taken)) = self.accepts.pop_front() {
                moved = true;
                self.accept(end, local, taken);
            }
            while let Some(d) = self.wire.pop_front() {
                moved = true;
                self.deliver(d);
            }
            if !moved {
                // The timer heap agrees with a scan of every neighbor.
                for n in &self.nodes {
                    n.sp.assert_timer_heap();
                }
                return;
            }
        }
        panic!("the simulated network does not settle");
    }

    fn output(&mut self, i: usize, o: Output) {
        match o {
            Output::Transmit { peer, conn, bytes } => {
                if let Some(to) = self.other_end((i, peer, conn)) {
                    self.wire
                        .push_back(Delivery::Data((i, peer, conn), to, bytes));
                }
            }
            Output::Connect { peer, conn } => self.connects.push_back((i, peer, conn)),
            Output::Disconnect { peer, conn } => {
                if let Some(to) = self.other_end((i, peer, conn)) {
                    self.wire.push_back(Delivery::Closed(to));
                }
                self.pipes
                    .retain(|(a, b)| *a != (i, peer, conn) && *b != (i, peer, conn));
            }
            Output::Routes(batch) => {
                if let Some(n) = self.nodes.get_mut(i) {
                    for (p, f) in batch {
                        match f {
                            Some(f) => n.fib.insert(p, f),
                            None => n.fib.remove(&p),
                        };
                    }
                }
            }
            e @ (Output::Established { .. } | Output::Down { .. }) => {
                if let Some(n) = self.nodes.get_mut(i) {
                    n.events.push(e);
                }
            }
        }
    }

    fn other_end(&self, end: End) -> Option<End> {
        self.pipes.iter().find_map(|(a, b)| {
            if *a == end {
                Some(*b)
            } else if *b == end {
                Some(*a)
            } else {
                None
            }
        })
    }

    /// The local address of node `i` that reaches `peer`.
    fn route(&self, i: usize, peer: IpAddr) -> Option<IpAddr> {
        self.links.iter().find_map(|(a, b)| {
            if *b == peer && self.addrs.get(a) == Some(&i) {
                Some(*a)
            } else if *a == peer && self.addrs.get(b) == Some(&i) {
                Some(*b)
            } else {
                None
            }
        })
    }

    fn connect(&mut self, i: usize, peer: IpAddr, conn: ConnId) {
        let now = self.now;
        let local = self
            .route(i, peer)
            .filter(|_| self.addrs.contains_key(&peer));
        let Some(n) = self.nodes.get_mut(i) else {
            return;
        };
        let Some(local) = local else {
            n.sp.handle_connect_failed(peer, conn, now);
            return;
        };
        let taken =
            n.sp.handle_connected(peer, conn, Some(SocketAddr::new(local, 40000)), now);
        self.accepts.push_back(((i, peer, conn), local, taken));
    }

    /// The other end's listener takes the connection (or refuses it: then
    /// the connecting end sees it closed).
    fn accept(&mut self, (i, peer, conn): End, local: IpAddr, taken: bool) {
        let now = self.now;
        let Some(&j) = self.addrs.get(&peer) else {
            return;
        };
        let accepted = self.nodes.get_mut(j).map(|n| {
            n.sp.handle_accepted(local, Some(SocketAddr::new(peer, 179)), now)
        });
        match accepted {
            Some(Ok(their)) if taken => self.pipes.push(((i, peer, conn), (j, local, their))),
            Some(Ok(their)) => self.wire.push_back(Delivery::Closed((j, local, their))),
            _ if taken => self.wire.push_back(Delivery::Closed((i, peer, conn))),
            _ => {}
        }
    }

    fn deliver(&mut self, d: Delivery) {
        let now = self.now;
        match d {
            Delivery::Data(from, to, bytes) => {
                if self.deaf.contains(&to.0) {
                    self.parked.push((from, to, bytes));
                    return;
                }
                // The sender's bytes left: it may produce more.
                if let Some(n) = self.nodes.get_mut(from.0) {
                    n.sp.handle_written(from.1, from.2, bytes.len(), now);
                }
                let mut rest = bytes.as_slice();
                while let Ok(Some(len)) = frame(rest) {
                    let msg = rest.get(..len).unwrap_or_default();
                    let ty = msg.get(HEADER_LEN - 1).copied().unwrap_or_default();
                    self.messages.push((from.0, to.0, ty, len));
                    if ty == MessageType::NOTIFICATION.0 {
                        if let Ok(n) =
                            Notification::parse(msg.get(HEADER_LEN..).unwrap_or_default())
                        {
                            self.notifications.push((from.0, to.0, n));
                        }
                    }
                    rest = rest.get(len..).unwrap_or_default();
                }
                let (n, peer, conn) = to;
                if let Some(n) = self.nodes.get_mut(n) {
                    n.sp.handle_data(peer, conn, &bytes, now);
                }
            }
            Delivery::Closed((n, peer, conn)) => {
                self.pipes
                    .retain(|(a, b)| *a != (n, peer, conn) && *b != (n, peer, conn));
                if let Some(n) = self.nodes.get_mut(n) {
                    n.sp.handle_closed(peer, conn, now);
                }
            }
        }
    }

    /// Whether node `n` has an Established session with `peer`.
    pub fn established(&self, n: usize, peer: &str) -> bool {
        self.nodes
            .get(n)
            .and_then(|n| n.sp.peers().get(&ip(peer)))
            .is_some_and(|p| p.est.is_some())
    }

    /// What node `n` forwards for `prefix`.
    pub fn fib(&self, n: usize, prefix: &str) -> Option<&Forwarding> {
        self.nodes.get(n).and_then(|n| n.fib.get(&net(prefix)))
    }

    /// The best path node `n` has for `prefix`.
    pub fn best(&self, n: usize, prefix: &str) -> Option<&crate::rib::Path> {
        self.nodes
            .get(n)
            .and_then(|n| n.sp.rib().get(&net(prefix)))
            .and_then(|d| d.best())
    }
}

pub(crate) fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

pub(crate) fn net(s: &str) -> IpNetwork {
    s.parse()
        .unwrap_or_else(|e| panic!("not a prefix: {s}: {e:?}"))
}

/// A speaker configuration of AS `asn` without neighbors; RFC 8212 off.
pub(crate) fn speaker(asn: u32, router_id: &str) -> SpeakerConfig {
    SpeakerConfig {
        asn,
        router_id: router_id.parse().unwrap_or(Ipv4Addr::UNSPECIFIED),
        ebgp_requires_policy: false,
        neighbors: BTreeMap::new(),
        listen_ranges: Vec::new(),
        listen_limit: 100,
        groups: BTreeMap::new(),
        af: [AfConfig::default(), AfConfig::default()],
        static_routes: Vec::new(),
    }
}

/// A neighbor active in IPv4 unicast, FRR's timers.
pub(crate) fn neighbor(addr: &str, remote_as: RemoteAs) -> PeerConfig {
    PeerConfig {
        addr: ip(addr),
        remote_as,
        group: None,
        description: None,
        password: None,
        timers: (60, 180),
        update_source: None,
        ebgp_multihop: None,
        shutdown: false,
        port: 179,
        tunnel: None,
        af: [Some(AfPeer::default()), None],
        dynamic: false,
    }
}

/// Adds `n` to `cfg`.
pub(crate) fn with(mut cfg: SpeakerConfig, n: PeerConfig) -> SpeakerConfig {
    cfg.neighbors.insert(n.addr, n);
    cfg
}

/// Adds `network PREFIX` to `cfg`.
pub(crate) fn network(mut cfg: SpeakerConfig, prefix: &str) -> SpeakerConfig {
    cfg.af[0].networks.insert(net(prefix), None);
    cfg
}
