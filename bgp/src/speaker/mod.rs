//! The BGP speaker core, sans-IO: every session of every neighbor, import
//! with policy, the Loc-RIB and its decision process, export, the
//! Adj-RIBs-Out and UPDATE packing, connection collisions and the
//! graceful-restart helper.
//!
//! It has the shape of the IKE engine and quinn-proto: events go in
//! through `handle_*` methods with the current time, actions come out of
//! [`Speaker::poll_output`] (bytes for a connection, a connection to open
//! or close, forwarding changes for the routing table, session events),
//! and [`Speaker::poll_timeout`] says when to call
//! [`Speaker::handle_timeout`]. The core never reads the clock and owns no
//! socket: the daemon's driver does the TCP (and TCP-MD5) and feeds it.
//!
//! ```
//! use std::time::Instant;
//! use bgp::speaker::{Output, Speaker};
//!
//! let now = Instant::now();
//! let mut sp = Speaker::new(true, now);
//! // Without configuration it has nothing to do.
//! assert!(sp.poll_output().is_none());
//! assert_eq!(sp.poll_timeout(), None);
//! # let _: Option<Output> = None;
//! ```

mod adj_out;
mod collision;
pub mod config;
mod control;
mod errors;
mod events;
mod export;
mod import;
mod maxprefix;
mod originate;
mod peer;
mod timers;
mod updown;

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use ipnetwork::IpNetwork;

use crate::policy::Policies;
use crate::rib::{Afi, Rib, RouteAttrs};
use crate::wire::Family;

pub use adj_out::AdjOut;
pub use adj_out::{WRITE_CHUNKS, WRITE_WINDOW};
pub use config::{
    AfConfig, AfPeer, MaxPrefix, PeerConfig, PolicyChanges, Redistribute, RemoteAs, SpeakerConfig,
};
pub use errors::{AcceptError, ClearError};
pub use originate::{connected_networks, sibling_address};
pub use peer::{Conn, Est, Peer, PrefixOverflow, Restarting};

/// A connection of a neighbor, as the core numbers them (unique over the
/// speaker's life).
pub type ConnId = u64;

/// An address of a local interface, as the daemon's interface view sees
/// it: `redistribute connected` and next hops of the other family come
/// from these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfAddr {
    /// The interface's name.
    pub name: String,
    /// The address.
    pub addr: IpAddr,
    /// Its prefix length.
    pub prefix: u8,
    /// The interface is up and running.
    pub running: bool,
    /// The interface is a loopback.
    pub loopback: bool,
}

/// A next hop BGP offers the routing table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NextHop {
    /// A gateway address, resolved by the routing table.
    Gateway(IpAddr),
    /// A gateway on this interface (an IPv6 link-local next hop on the
    /// tunnel the session runs over).
    GatewayOn(IpAddr, String),
}

/// What BGP forwards for a prefix: the best path and its multipaths, one
/// next hop each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarding {
    /// The best path was learned over eBGP (the routing table's distance
    /// depends on it).
    pub ebgp: bool,
    /// The best path's MED.
    pub metric: u32,
    /// The next hops (shared by the prefixes of a batch that have the
    /// same).
    pub nexthops: Arc<[NextHop]>,
}

/// The most prefixes one [`Output::Routes`] carries.
pub const FORWARD_BATCH: usize = 8192;

/// Forwarding changes of some prefixes after a decision run: `None`
/// withdraws the prefix.
pub type RouteBatch = Vec<(IpNetwork, Option<Forwarding>)>;

/// What the core asks of its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Write these bytes on connection `conn` of neighbor `peer`, and
    /// report them with [`Speaker::handle_written`] once the socket took
    /// them.
    Transmit {
        /// The neighbor.
        peer: IpAddr,
        /// The connection.
        conn: ConnId,
        /// One or more whole BGP messages.
        bytes: Vec<u8>,
    },
    /// Open a TCP connection to `peer` (with the neighbor's
    /// [`PeerConfig`]: port, MD5, TTL, update-source) and report with
    /// [`Speaker::handle_connected`] or [`Speaker::handle_connect_failed`].
    Connect {
        /// The neighbor.
        peer: IpAddr,
        /// The connection the socket is for.
        conn: ConnId,
    },
    /// Close connection `conn` of `peer` (after writing what was queued)
    /// and report nothing more of it.
    Disconnect {
        /// The neighbor.
        peer: IpAddr,
        /// The connection.
        conn: ConnId,
    },
    /// Forwarding changes for the routing table (only when the core was
    /// made with `forwarding`).
    Routes(RouteBatch),
    /// A session with `peer` reached Established.
    Established {
        /// The neighbor.
        peer: IpAddr,
    },
    /// The Established session with `peer` went down.
    Down {
        /// The neighbor.
        peer: IpAddr,
        /// Why, as `show ip bgp neighbors` prints it.
        reason: String,
    },
}

/// `clear ip bgp X soft in|out`: re-apply policy without a reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Soft {
    /// Re-apply in-policy.
    In,
    /// Send everything again through out-policy.
    Out,
    /// Both.
    Both,
}

pub(crate) const AFIS: [Afi; 2] = [Afi::V4, Afi::V6];

pub(crate) fn family_of(afi: Afi) -> Family {
    match afi {
        Afi::V4 => Family::IPV4_UNICAST,
        Afi::V6 => Family::IPV6_UNICAST,
    }
}

pub(crate) fn afi_of_family(f: Family) -> Option<Afi> {
    if f == Family::IPV4_UNICAST {
        Some(Afi::V4)
    } else if f == Family::IPV6_UNICAST {
        Some(Afi::V6)
    } else {
        None
    }
}

/// The speaker core: sessions, RIB, Adj-RIBs-Out.
#[derive(Debug)]
pub struct Speaker {
    cfg: Option<SpeakerConfig>,
    policies: Arc<Policies>,
    rib: Rib,
    peers: BTreeMap<IpAddr, Peer>,
    /// Locally originated paths as last put in the RIB.
    local: BTreeMap<IpNetwork, Arc<RouteAttrs>>,
    tunnels_up: HashSet<String>,
    /// The local interface addresses last reported.
    addrs: Vec<IfAddr>,
    next_conn: ConnId,
    queue: VecDeque<Output>,
    /// Whether forwarding changes are reported ([`Output::Routes`]).
    forwarding: bool,
    /// The time of the event being handled.
    now: Instant,
    /// When each neighbor next needs a timeout ([`timers`]).
    timers: timers::Timers,
    /// The dynamic neighbors (of `bgp listen range`s).
    dynamic: std::collections::BTreeSet<IpAddr>,
    /// Changes of `dynamic` so far.
    dynamic_changes: u64,
}

impl Speaker {
    /// A speaker without configuration. With `forwarding`, it reports
    /// what BGP forwards ([`Output::Routes`]).
    pub fn new(forwarding: bool, now: Instant) -> Speaker {
        Speaker {
            cfg: None,
            policies: Arc::new(Policies::default()),
            rib: Rib::new(Ipv4Addr::UNSPECIFIED),
            peers: BTreeMap::new(),
            local: BTreeMap::new(),
            tunnels_up: HashSet::new(),
            addrs: Vec::new(),
            next_conn: 1,
            queue: VecDeque::new(),
            forwarding,
            now,
            timers: timers::Timers::default(),
            dynamic: std::collections::BTreeSet::new(),
            dynamic_changes: 0,
        }
    }

    /// The configuration changed (or is the startup one); `None` is `no
    /// router bgp`. `policies` is the new configuration's policy objects,
    /// `changes` says which of them differ from the previous ones.
    pub fn handle_config(
        &mut self,
        cfg: Option<SpeakerConfig>,
        policies: Arc<Policies>,
        changes: &PolicyChanges,
        now: Instant,
    ) {
        self.now = now;
        self.set_config(cfg, policies, changes);
        self.touch_all();
        self.reschedule();
    }

    /// Tunnel interface `name` gained its first (`up`) or lost its last
    /// IPsec SA: sessions over it start, or stop at once taking their
    /// routes with them.
    pub fn handle_tunnel(&mut self, name: &str, up: bool, now: Instant) {
        self.handle_tunnel_over(name, up, &[], now);
    }

    /// The same, for a tunnel whose peer was leased addresses `over`
    /// (a Virtual-Access): dynamic neighbors at those addresses go down
    /// with it at once, as configured ones on a tunnel do.
    pub fn handle_tunnel_over(&mut self, name: &str, up: bool, over: &[IpAddr], now: Instant) {
        self.now = now;
        self.tunnel(name, up, over);
        self.touch_all();
        self.reschedule();
    }

    /// BFD to `peer` went Up, or from Up to Down.
    pub fn handle_bfd(&mut self, peer: IpAddr, up: bool, now: Instant) {
        self.now = now;
        self.bfd(peer, up);
        self.reschedule();
    }

    /// `clear ip bgp [PEER] [soft in|out]`.
    pub fn handle_clear(
        &mut self,
        peer: Option<IpAddr>,
        soft: Option<Soft>,
        now: Instant,
    ) -> Result<(), ClearError> {
        self.now = now;
        let r = self.clear(peer, soft);
        self.touch_all();
        self.reschedule();
        r
    }

    /// The local interface addresses (at start, when they change, and
    /// now and then): `redistribute connected` is recomputed.
    pub fn handle_addresses(&mut self, addrs: Vec<IfAddr>, now: Instant) {
        self.now = now;
        self.addrs = addrs;
        self.originate();
        self.reschedule();
    }

    /// The TCP connection asked for by [`Output::Connect`] is up, with
    /// local address `local`. Returns whether the core takes it: if not,
    /// close it.
    pub fn handle_connected(
        &mut self,
        peer: IpAddr,
        conn: ConnId,
        local: Option<std::net::SocketAddr>,
        now: Instant,
    ) -> bool {
        self.now = now;
        let taken = self.connected(peer, conn, local);
        self.reschedule();
        taken
    }

    /// The TCP connection asked for by [`Output::Connect`] failed.
    pub fn handle_connect_failed(&mut self, peer: IpAddr, conn: ConnId, now: Instant) {
        self.now = now;
        self.connect_failed(peer, conn);
        self.reschedule();
    }

    /// A connection from `remote` was accepted (an IPv4-mapped IPv6
    /// address is taken as IPv4); `local` is its local address. Returns
    /// the connection it is now, or why it is refused (close it then).
    pub fn handle_accepted(
        &mut self,
        remote: IpAddr,
        local: Option<std::net::SocketAddr>,
        now: Instant,
    ) -> Result<ConnId, AcceptError> {
        self.now = now;
        let r = self.accepted(remote, local);
        self.reschedule();
        r
    }

    /// Bytes arrived on connection `conn` of `peer`.
    pub fn handle_data(&mut self, peer: IpAddr, conn: ConnId, bytes: &[u8], now: Instant) {
        self.now = now;
        self.data(peer, conn, bytes);
        self.reschedule();
    }

    /// The driver wrote `bytes` more of what [`Output::Transmit`] gave it
    /// for connection `conn` of `peer` to the socket. Every byte must be
    /// reported: UPDATEs stop being produced for a connection while
    /// [`WRITE_WINDOW`] bytes are unreported, and one that reports no
    /// progress for the hold time is closed (send hold timer, RFC 9687).
    pub fn handle_written(&mut self, peer: IpAddr, conn: ConnId, bytes: usize, now: Instant) {
        self.now = now;
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let Some(c) = p.conns.iter_mut().find(|c| c.id == conn) else {
            return;
        };
        c.written(bytes, now);
        if p.est.as_ref().is_some_and(|e| e.conn == conn) {
            self.flush(peer);
        }
        self.touch(peer);
        self.reschedule();
    }

    /// Connection `conn` of `peer` was closed by the other end (or
    /// failed).
    pub fn handle_closed(&mut self, peer: IpAddr, conn: ConnId, now: Instant) {
        self.now = now;
        self.closed(peer, conn);
        self.reschedule();
    }

    /// Runs the timers that are due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        self.run_timers();
    }

    /// Closes every session (Cease, Administrative Shutdown): the
    /// NOTIFICATIONs come out of [`Speaker::poll_output`]; then drop the
    /// connections.
    pub fn handle_shutdown(&mut self, now: Instant) {
        self.now = now;
        self.shutdown();
        self.touch_all();
        self.reschedule();
    }

    /// The next action. When nothing else is queued, runs the decision
    /// process over what the events since the last call changed, and
    /// returns what that produced (forwarding changes, UPDATEs).
    pub fn poll_output(&mut self) -> Option<Output> {
        if self.queue.is_empty() {
            self.settle();
            self.reschedule();
        }
        self.queue.pop_front()
    }

    /// When [`Speaker::handle_timeout`] is next due (the top of a timer
    /// heap: no scan over the neighbors).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_timeout()
    }

    /// The dynamic neighbors (accepted from a `bgp listen range`) there
    /// are now.
    pub fn dynamic_peers(&self) -> &std::collections::BTreeSet<IpAddr> {
        &self.dynamic
    }

    /// How often the dynamic neighbors changed so far (a driver that
    /// publishes them compares this instead of the sets).
    pub fn dynamic_changes(&self) -> u64 {
        self.dynamic_changes
    }

    /// The configuration in force.
    pub fn config(&self) -> Option<&SpeakerConfig> {
        self.cfg.as_ref()
    }

    /// The neighbors, configured and dynamic.
    pub fn peers(&self) -> &BTreeMap<IpAddr, Peer> {
        &self.peers
    }

    /// The Loc-RIB (with every received path).
    pub fn rib(&self) -> &Rib {
        &self.rib
    }

    /// Locally originated paths (`network`, `redistribute`).
    pub fn local_routes(&self) -> &BTreeMap<IpNetwork, Arc<RouteAttrs>> {
        &self.local
    }

    fn conn_id(&mut self) -> ConnId {
        self.next_conn += 1;
        self.next_conn
    }
}

#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_limits;
#[cfg(test)]
mod tests_timers;
