//! The RIB task of rvpnd (issue 6): the one writer of the routing table.
//!
//! It gathers the candidates of every source, lets the `rib` crate
//! select and resolve them, and drives the kernel FIB:
//! - connected: the networks of the kernel's interfaces (the task's
//!   rtnetlink view of them, [`Interfaces`], kept up to date from each
//!   link or address event and read whole every few seconds) and, for tunnel interfaces, their configured networks
//!   while the tunnel is up: not `shutdown` and holding an IPsec SA. The
//!   daemon reports a tunnel's first and last SA ([`Command::Tunnel`]),
//!   so when a tunnel dies its connected network leaves and with it every
//!   next hop through the tunnel, in one resolve, before BGP notices;
//! - static: `ip route` / `ipv6 route` with their distances;
//! - BGP: the best path and multipaths of each prefix, from the speaker.
//!
//! Readers (`show ip route`) never talk to the task: they load the
//! [`Table`] it publishes through an `arc-swap`.
//!
//! The kernel gets every selected route except connected ones (the
//! kernel has those itself), marked with rvpn's protocol number; at start
//! the leftovers of an earlier run are removed. A refused write is logged,
//! shown as rejected and retried every second. On shutdown rvpn's routes
//! are removed, as FRR's zebra does.

mod ifaces;
pub mod show;
mod table;

pub use ifaces::Interfaces;
pub use table::{Entry, Fibbed, Hop, HopSets, Table, NOT_WRITTEN};

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use ipnetwork::IpNetwork;
use rib::fib::Fib;
use rib::{Candidate, FibChange, NextHop, Resolved, Rib, Source};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};
use vtysh::Config;

use rib::RouteBatch;

use ifaces::{Model, Publisher};

/// How often the kernel's interfaces and addresses are read again when
/// no link events arrive (the event socket could not be opened).
const RESCAN: Duration = Duration::from_secs(2);
/// How often they are read again while link events keep the view
/// current (an overrun of the event socket reads them at once): a safety
/// net only, since a read costs O(interfaces) of kernel and task time (a
/// hub with 2,000 Virtual-Access interfaces spent a fifth of its idle CPU
/// re-reading them every 2 s).
const RESCAN_WITH_EVENTS: Duration = Duration::from_secs(60);
/// How long starting the task waits for its first read of them.
const FIRST_READ: Duration = Duration::from_secs(2);
/// How often refused kernel writes are tried again.
const RETRY: Duration = Duration::from_secs(1);
/// Tables larger than this are published at most once per
/// [`PUBLISH_EVERY`] (copying them costs time); smaller ones at once.
const PUBLISH_AT_ONCE: usize = 20_000;
const PUBLISH_EVERY: Duration = Duration::from_secs(1);
/// Links that changed have their routes written again at most this often
/// (the names gathered meanwhile go together): finding those routes walks
/// the FIB, and 1,000 flapping Virtual-Access interfaces send hundreds
/// of link events a second.
const LINKS_EVERY: Duration = Duration::from_millis(100);
/// The interfaces' view is published at most this often while events
/// keep changing it (building it copies every address: a hub bringing up
/// a thousand tunnels would copy it a thousand times).
const PUBLISH_IFACES_EVERY: Duration = Duration::from_millis(100);
/// How many changed prefixes one settle takes from BGP's queue at most.
const SLICE: usize = 50_000;

/// A message to the RIB task.
#[derive(Debug)]
pub enum Command {
    /// The running configuration (static routes, tunnel interfaces).
    SetConfig(Box<Config>),
    /// The same, answered once the kernel has the result: a planned
    /// tunnel shutdown moves traffic off the tunnel before its SAs go.
    SetConfigAck(Box<Config>, oneshot::Sender<()>),
    /// A tunnel interface gained its first or lost its last IPsec SA.
    Tunnel {
        /// The tunnel interface.
        name: String,
        /// Whether it has an SA now.
        up: bool,
    },
    /// The routes IKEv2 configuration payloads give through a tunnel (a
    /// hub's host routes to its spokes' pool addresses, a spoke's routes
    /// from its hub): static routes (distance 1, as IOS installs them),
    /// active while the tunnel has an SA; empty: none any more.
    IkeRoutes {
        /// The tunnel interface.
        tunnel: String,
        /// The networks.
        routes: Vec<IpNetwork>,
        /// Their administrative distance (`route accept any distance N`;
        /// 1 by default, as IOS).
        distance: u8,
    },
    /// Remove rvpn's routes from the kernel and stop.
    Shutdown(oneshot::Sender<()>),
}

/// The task's handles.
#[derive(Clone)]
pub struct RibHandle {
    /// Commands.
    pub tx: mpsc::UnboundedSender<Command>,
    /// The published table.
    pub view: Arc<ArcSwap<Table>>,
    /// The interfaces and their addresses.
    pub interfaces: Interfaces,
}

/// Starts the RIB task (task `rib` of `tasks`, on its own thread).
/// `bgp_rx` brings BGP's forwarding changes; `kernel` false keeps the
/// table out of the kernel (benchmarks, `--no-kernel-routes`).
pub fn start(
    tasks: &crate::supervise::Reporter,
    bgp_rx: mpsc::UnboundedReceiver<RouteBatch>,
    kernel: bool,
) -> RibHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let view = Arc::new(ArcSwap::from_pointee(Table::default()));
    let (ifaces, interfaces) = Publisher::new();
    let task = Task {
        ifaces,
        model: Model::default(),
        model_dirty: false,
        model_published: Instant::now(),
        links_pending: BTreeSet::new(),
        links_done: Instant::now(),
        netlink: None,
        rib: Rib::new(),
        fib: None,
        kernel,
        running: Config::default(),
        statics: BTreeMap::new(),
        connected: BTreeMap::new(),
        contrib: HashMap::new(),
        tunnels_up: HashSet::new(),
        ike_routes: BTreeMap::new(),
        ike_by_prefix: BTreeMap::new(),
        static_cfg: BTreeMap::new(),
        static_ifaces: HashSet::new(),
        statics_dirty: false,
        statics_touched: BTreeSet::new(),
        refused: BTreeMap::new(),
        pending_retry: Vec::new(),
        acks: Vec::new(),
        touched: BTreeSet::new(),
        table: Table::default(),
        hop_lists: HopSets::default(),
        names: HashMap::new(),
        hopsets: HashSet::new(),
        backlog: VecDeque::new(),
        view: view.clone(),
        view_dirty: false,
        published: Instant::now(),
    };
    // Its own thread and runtime: a large kernel write blocks (a million
    // routes take seconds) and must not hold up BGP, BFD or IKE.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let spawned =
        tasks.thread(
            "rib",
            "rib",
            move || match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(async move {
                    crate::supervise::armed("rib", task.run(rx, bgp_rx, ready_tx)).await
                }),
                Err(e) => tracing::error!("RIB: cannot start its runtime: {e}"),
            },
        );
    match spawned {
        // The first read of the interfaces, so that whoever starts next
        // (BGP: `update-source IFNAME`) finds them.
        Ok(_) => {
            if ready_rx.recv_timeout(FIRST_READ).is_err() {
                warn!("RIB: the interfaces were not read within {FIRST_READ:?}");
            }
        }
        Err(e) => tracing::error!("RIB: cannot start its thread: {e}"),
    }
    RibHandle {
        tx,
        view,
        interfaces,
    }
}

struct Task {
    /// The interfaces as the kernel reports them, for readers.
    ifaces: Publisher,
    /// The same, as the task keeps them from the kernel's events.
    model: Model,
    /// `model` changed since it was last published.
    model_dirty: bool,
    model_published: Instant,
    /// Links whose routes are to be written again ([`LINKS_EVERY`]), and
    /// when that was last done.
    links_pending: BTreeSet<String>,
    links_done: Instant,
    /// For reading them.
    netlink: Option<esp_io::link::Handle>,
    rib: Rib,
    fib: Option<Fib>,
    kernel: bool,
    running: Config,
    /// Static candidates as last given to the RIB.
    statics: BTreeMap<IpNetwork, Vec<Candidate>>,
    /// Connected networks as last given to the RIB, with their interfaces.
    connected: BTreeMap<IpNetwork, BTreeSet<String>>,
    /// What each interface gives `connected` (the same, by interface).
    contrib: HashMap<String, Vec<IpNetwork>>,
    tunnels_up: HashSet<String>,
    /// Routes from IKEv2 configuration payloads, by tunnel, with their
    /// distance.
    ike_routes: BTreeMap<String, (Vec<IpNetwork>, u8)>,
    /// The same by prefix: the tunnels that were given it.
    ike_by_prefix: BTreeMap<IpNetwork, BTreeSet<String>>,
    /// The configuration's static routes by prefix: (distance, next hop),
    /// in the configuration's order.
    static_cfg: BTreeMap<IpNetwork, Vec<(u8, vtysh::model::NextHop)>>,
    /// The interfaces those static routes go out of.
    static_ifaces: HashSet<String>,
    /// Every static candidate to compute again before the next settle
    /// (the configuration changed, or a tunnel that static routes use).
    statics_dirty: bool,
    /// The prefixes whose static candidates to compute again (a tunnel
    /// with IKE routes came or went): a hub with thousands of spokes
    /// recomputes one spoke's routes per event, not every spoke's.
    statics_touched: BTreeSet<IpNetwork>,
    /// Selected routes the kernel refused, and why.
    refused: BTreeMap<IpNetwork, String>,
    /// Refused routes to write again at the next settle.
    pending_retry: Vec<FibChange>,
    /// Whom to tell when the next settle is done.
    acks: Vec<oneshot::Sender<()>>,
    /// Prefixes whose candidates, selection or kernel state changed since
    /// the table was last brought up to date.
    touched: BTreeSet<IpNetwork>,
    /// The readers' view, kept up to date incrementally; published as a
    /// clone that shares its unchanged chunks.
    table: Table,
    /// Its next-hop lists, shared.
    hop_lists: HopSets,
    /// Interface names, shared by the table's next hops.
    names: HashMap<String, Arc<str>>,
    /// BGP's next-hop lists, shared by the candidates that have them.
    hopsets: HashSet<rib::NextHops>,
    /// BGP's batches, taken a slice at a time.
    backlog: VecDeque<std::vec::IntoIter<(IpNetwork, Option<Candidate>)>>,
    view: Arc<ArcSwap<Table>>,
    view_dirty: bool,
    published: Instant,
}

impl Task {
    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Command>,
        mut bgp_rx: mpsc::UnboundedReceiver<RouteBatch>,
        ready: std::sync::mpsc::Sender<()>,
    ) {
        // Link events: the kernel deletes the routes through an interface
        // that goes down, and a flap shorter than the rescan would leave
        // them gone; every event re-writes the routes through the link.
        // Address events change the connected networks.
        let (netlink, mut links) = ifaces::events();
        self.netlink = netlink;
        let mut links_open = true;
        self.rescan().await;
        let _ = ready.send(());
        if self.kernel {
            match Fib::open() {
                Ok(mut f) => {
                    match f.reconcile().await {
                        Ok(0) => {}
                        Ok(n) => info!("removed {n} stale rvpn route(s) from the kernel"),
                        Err(e) => warn!("cannot read the kernel's routes: {e}"),
                    }
                    self.fib = Some(f);
                }
                Err(e) => warn!("cannot open rtnetlink; routes stay out of the kernel: {e}"),
            }
        }
        let mut next_rescan = tokio::time::Instant::now() + RESCAN_WITH_EVENTS;
        let mut retry = tokio::time::interval(RETRY);
        let mut bgp_open = true;
        loop {
            let publish_at = self.published + PUBLISH_EVERY;
            tokio::select! {
                cmd = rx.recv() => {
                    let Some(cmd) = cmd else { break };
                    if let Command::Shutdown(done) = cmd {
                        self.shutdown().await;
                        let _ = done.send(());
                        return;
                    }
                    self.command(cmd);
                }
                batch = bgp_rx.recv(), if bgp_open => match batch {
                    Some(b) => {
                        self.backlog.push_back(b.into_iter());
                        self.bgp();
                    }
                    None => bgp_open = false,
                },
                // More of a batch to take (after the commands above).
                _ = tokio::task::yield_now(), if !self.backlog.is_empty() => {}
                _ = tokio::time::sleep_until(next_rescan) => {
                    self.rescan().await;
                    let every = if links_open { RESCAN_WITH_EVENTS } else { RESCAN };
                    next_rescan = tokio::time::Instant::now() + every;
                }
                ev = links.recv(), if links_open => match ev {
                    Some(ev) => {
                        // Each event changes the interface it names; one
                        // publication for a burst.
                        let mut evs = vec![ev];
                        while let Ok(ev) = links.try_recv() {
                            evs.push(ev);
                        }
                        let mut changed: BTreeSet<String> = BTreeSet::new();
                        let mut links_seen: BTreeSet<String> = BTreeSet::new();
                        for ev in &evs {
                            changed.extend(self.model.apply(ev));
                            if let Some(n) = ev.link_name() {
                                links_seen.insert(n.to_string());
                            }
                        }
                        if !changed.is_empty() {
                            self.model_dirty = true;
                        }
                        for n in &changed {
                            self.sync_iface(n);
                        }
                        self.links_pending.extend(links_seen);
                        if evs.iter().any(|e| matches!(e, ifaces::Event::Overrun)) {
                            warn!("RIB: link events were lost; reading the interfaces again");
                            self.rescan().await;
                        }
                    }
                    None => {
                        links_open = false;
                        next_rescan = tokio::time::Instant::now();
                    }
                },
                _ = retry.tick(), if !self.refused.is_empty() => self.retry(),
                _ = tokio::time::sleep_until(publish_at.into()), if self.view_dirty => {}
                _ = tokio::time::sleep_until((self.model_published + PUBLISH_IFACES_EVERY).into()),
                    if self.model_dirty => {}
                _ = tokio::time::sleep_until((self.links_done + LINKS_EVERY).into()),
                    if !self.links_pending.is_empty() => {}
            }
            if !self.links_pending.is_empty() && self.links_done.elapsed() >= LINKS_EVERY {
                let names = std::mem::take(&mut self.links_pending);
                self.links_changed(&names);
                self.links_done = Instant::now();
            }
            if self.model_dirty && self.model_published.elapsed() >= PUBLISH_IFACES_EVERY {
                self.publish_model();
            }
            // Take whatever else is queued before resolving: one resolve
            // and one kernel batch for a burst of events.
            while let Ok(cmd) = rx.try_recv() {
                if let Command::Shutdown(done) = cmd {
                    self.shutdown().await;
                    let _ = done.send(());
                    return;
                }
                self.command(cmd);
            }
            // BGP's changes in slices: a full table goes to the kernel
            // while the rest still arrives, and what one settle holds
            // (changes, encoded messages) stays bounded.
            while self.touched.len() < SLICE {
                if self.backlog.is_empty() {
                    let Ok(b) = bgp_rx.try_recv() else { break };
                    self.backlog.push_back(b.into_iter());
                }
                self.bgp();
            }
            // Once per burst: a thousand tunnels coming up cost one pass.
            if std::mem::take(&mut self.statics_dirty) {
                self.sync_statics();
            } else {
                for p in std::mem::take(&mut self.statics_touched) {
                    self.sync_static_prefix(p);
                }
            }
            self.settle().await;
            for a in self.acks.drain(..) {
                let _ = a.send(());
            }
        }
        debug!("RIB task stopping");
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::SetConfig(cfg) => {
                self.running = *cfg;
                self.sync_statics();
                self.sync_connected();
            }
            Command::SetConfigAck(cfg, done) => {
                self.running = *cfg;
                self.sync_statics();
                self.sync_connected();
                self.acks.push(done);
            }
            Command::Tunnel { name, up } => {
                if up {
                    self.tunnels_up.insert(name.clone());
                } else {
                    self.tunnels_up.remove(&name);
                }
                self.sync_iface(&name);
                if self.static_ifaces.contains(&name) {
                    self.statics_dirty = true;
                } else if let Some(routes) = self.ike_routes.get(&name) {
                    self.statics_touched.extend(routes.0.iter().copied());
                }
            }
            Command::IkeRoutes {
                tunnel,
                routes,
                distance,
            } => {
                let old = if routes.is_empty() {
                    self.ike_routes.remove(&tunnel)
                } else {
                    self.ike_routes
                        .insert(tunnel.clone(), (routes.clone(), distance))
                };
                let (old, old_distance) = match old {
                    Some((r, d)) => (Some(r), Some(d)),
                    None => (None, None),
                };
                if old_distance.is_some_and(|d| d != distance) {
                    // Same routes, another distance: recompute them all.
                    self.statics_touched.extend(routes.iter().copied());
                }
                if old.as_ref() != Some(&routes) {
                    for p in old.iter().flatten() {
                        if let Some(ts) = self.ike_by_prefix.get_mut(p) {
                            ts.remove(&tunnel);
                            if ts.is_empty() {
                                self.ike_by_prefix.remove(p);
                            }
                        }
                        self.statics_touched.insert(*p);
                    }
                    for p in &routes {
                        self.ike_by_prefix
                            .entry(*p)
                            .or_default()
                            .insert(tunnel.clone());
                        self.statics_touched.insert(*p);
                    }
                }
            }
            Command::Shutdown(_) => {}
        }
    }

    /// Takes BGP's changes from the backlog into the RIB until a slice
    /// is touched: what one settle resolves, writes and refreshes stays
    /// bounded even when one batch holds a full table (issue 16: the
    /// per-settle sets and change lists of a million prefixes cost
    /// hundreds of megabytes at once).
    fn bgp(&mut self) {
        while self.touched.len() < SLICE {
            let Some(batch) = self.backlog.front_mut() else {
                break;
            };
            let Some((prefix, mut cand)) = batch.next() else {
                self.backlog.pop_front();
                continue;
            };
            if let Some(c) = &mut cand {
                c.nexthops = self.share(&c.nexthops);
            }
            self.touched.insert(prefix);
            self.rib.set(Source::Bgp, prefix, cand);
        }
        if self.hopsets.len() > 1024 {
            self.hopsets.retain(|h| Arc::strong_count(h) > 1);
        }
    }

    /// The shared copy of a next-hop list (a full table from two peers
    /// has two or three distinct ones).
    fn share(&mut self, hops: &rib::NextHops) -> rib::NextHops {
        if let Some(h) = self.hopsets.get(&**hops) {
            return h.clone();
        }
        self.hopsets.insert(hops.clone());
        hops.clone()
    }

    /// Static routes from the configuration and IKE, every prefix.
    fn sync_statics(&mut self) {
        self.static_cfg.clear();
        self.static_ifaces.clear();
        for r in &self.running.static_routes {
            if let vtysh::model::NextHop::Interface(i) = &r.next_hop {
                self.static_ifaces.insert(i.clone());
            }
            self.static_cfg
                .entry(r.prefix)
                .or_default()
                .push((r.distance, r.next_hop.clone()));
        }
        self.statics_touched.clear();
        let mut all: BTreeSet<IpNetwork> = self.statics.keys().copied().collect();
        all.extend(self.static_cfg.keys().copied());
        all.extend(self.ike_by_prefix.keys().copied());
        for p in all {
            self.sync_static_prefix(p);
        }
    }

    /// The static candidates of one prefix, from the configuration and
    /// IKE, given to the RIB if they changed.
    fn sync_static_prefix(&mut self, p: IpNetwork) {
        // Equal distance: one candidate with several next hops (ECMP).
        let mut by_distance: BTreeMap<u8, Vec<NextHop>> = BTreeMap::new();
        for (distance, hop) in self.static_cfg.get(&p).into_iter().flatten() {
            let hop = match hop {
                vtysh::model::NextHop::Gateway(g) => NextHop::Gateway(*g),
                // A tunnel without an SA is down (line protocol down on
                // IOS): routes out of it are inactive until it is up.
                vtysh::model::NextHop::Interface(i) if !self.link_up(i) => continue,
                vtysh::model::NextHop::Interface(i) => NextHop::Interface(i.clone()),
                vtysh::model::NextHop::Blackhole => NextHop::Blackhole,
            };
            by_distance.entry(*distance).or_default().push(hop);
        }
        for tunnel in self.ike_by_prefix.get(&p).into_iter().flatten() {
            if self.link_up(tunnel) {
                let distance = self.ike_routes.get(tunnel).map_or(1, |r| r.1);
                by_distance
                    .entry(distance)
                    .or_default()
                    .push(NextHop::Interface(tunnel.clone()));
            }
        }
        let list: Vec<Candidate> = by_distance
            .into_iter()
            .map(|(distance, hops)| Candidate {
                distance,
                metric: 0,
                nexthops: hops.into(),
            })
            .collect();
        if list.is_empty() {
            if self.statics.remove(&p).is_some() {
                self.touched.insert(p);
                self.rib.set_all(Source::Static, p, Vec::new());
            }
        } else if self.statics.get(&p) != Some(&list) {
            self.touched.insert(p);
            self.rib.set_all(Source::Static, p, list.clone());
            self.statics.insert(p, list);
        }
    }

    /// Whether an interface can carry routes: a configured tunnel only
    /// while it is not shut down and has an SA; others always (the kernel
    /// refuses a route out of an interface that is down).
    fn link_up(&self, name: &str) -> bool {
        if name.starts_with(esp_io::link::VIRTUAL_ACCESS) {
            return self.tunnels_up.contains(name);
        }
        match self.running.interfaces.get(name) {
            Some(itf) if itf.tunnel.is_some() => !itf.shutdown && self.tunnels_up.contains(name),
            _ => true,
        }
    }

    /// Links changed (up, down, created; the interfaces have been read
    /// again): write every selected route through them once more (the
    /// kernel may have deleted them; writes are replaces, so this is
    /// harmless when it did not). The selections through a link are
    /// found among the few distinct ones, and the FIB is walked only when
    /// one of them is in use: no per-prefix index of interfaces (which
    /// cost a full table ~300 MB).
    fn links_changed(&mut self, names: &BTreeSet<String>) {
        if names.is_empty() {
            return;
        }
        let through = self.rib.selections_through(names);
        if through.is_empty() {
            return;
        }
        let again: Vec<FibChange> = self
            .rib
            .fib()
            .iter()
            .filter(|(_, sel)| through.contains(&(Arc::as_ptr(sel) as usize)))
            .filter(|(_, sel)| sel.source != Source::Connected)
            .map(|(p, sel)| FibChange::Set(p, (**sel).clone()))
            .collect();
        if !again.is_empty() {
            debug!(
                links = names.len(),
                routes = again.len(),
                "link events: writing their routes again"
            );
        }
        self.pending_retry.extend(again);
    }

    /// Reads the kernel's interfaces again (publishing them when they
    /// changed) and brings the connected networks up to date. Between
    /// rescans the kernel's events keep the model current; this catches
    /// what a lost event (a full socket buffer) would miss.
    async fn rescan(&mut self) {
        if let Some(h) = &self.netlink {
            match Model::read(h).await {
                Ok(m) => {
                    if m != self.model {
                        self.model = m;
                        self.model_dirty = true;
                    }
                    if self.model_dirty {
                        self.publish_model();
                    }
                }
                Err(e) => warn!("cannot read the interfaces: {e}"),
            }
        }
        self.sync_connected();
    }

    /// Publishes the interfaces' view (if it changed).
    fn publish_model(&mut self) {
        self.ifaces.publish(&self.model);
        self.model_dirty = false;
        self.model_published = Instant::now();
    }

    /// Connected networks of every interface (after a configuration
    /// change or a rescan).
    fn sync_connected(&mut self) {
        let mut names: BTreeSet<String> = self.contrib.keys().cloned().collect();
        names.extend(self.model.names().cloned());
        names.extend(
            self.running
                .interfaces
                .iter()
                .filter(|(_, i)| i.tunnel.is_some())
                .map(|(n, _)| n.clone()),
        );
        for n in &names {
            self.sync_iface(n);
        }
    }

    /// The connected networks interface `name` gives: a configured
    /// tunnel interface its configured networks while it is up (the
    /// kernel's view of it does not count); any other interface those of
    /// its addresses while it is up and running.
    fn networks_of(&self, name: &str) -> Vec<IpNetwork> {
        let configured = self.running.interfaces.get(name);
        let mut v = Vec::new();
        if !(configured.is_some() && vtysh::model::is_tunnel_name(name)) {
            v.extend(self.model.networks_of(name));
        }
        if let Some(itf) = configured {
            if itf.tunnel.is_some() && self.link_up(name) {
                let nets = itf
                    .ipv4
                    .map(IpNetwork::V4)
                    .into_iter()
                    .chain(itf.ipv6.iter().copied().map(IpNetwork::V6));
                v.extend(nets.filter_map(|n| IpNetwork::new(n.network(), n.prefix()).ok()));
            }
        }
        v.sort();
        v.dedup();
        v
    }

    /// Brings the connected networks of one interface up to date: only
    /// the prefixes it gains or loses are touched.
    fn sync_iface(&mut self, name: &str) {
        let new = self.networks_of(name);
        let old = self.contrib.get(name).cloned().unwrap_or_default();
        if new == old {
            return;
        }
        for p in old.iter().filter(|p| !new.contains(p)) {
            if let Some(names) = self.connected.get_mut(p) {
                names.remove(name);
                if names.is_empty() {
                    self.connected.remove(p);
                }
            }
            self.set_connected(*p);
        }
        for p in new.iter().filter(|p| !old.contains(p)) {
            self.connected
                .entry(*p)
                .or_default()
                .insert(name.to_string());
            self.set_connected(*p);
        }
        if new.is_empty() {
            self.contrib.remove(name);
        } else {
            self.contrib.insert(name.to_string(), new);
        }
    }

    /// Gives the RIB the connected candidate of `p` as `connected` has it.
    fn set_connected(&mut self, p: IpNetwork) {
        let cand = self.connected.get(&p).map(|names| Candidate {
            distance: Source::Connected.default_distance(),
            metric: 0,
            nexthops: names
                .iter()
                .cloned()
                .map(NextHop::Interface)
                .collect::<Vec<_>>()
                .into(),
        });
        self.touched.insert(p);
        self.rib.set(Source::Connected, p, cand);
    }

    /// Marks every refused route for another try.
    fn retry(&mut self) {
        let again: Vec<IpNetwork> = self.refused.keys().copied().collect();
        let changes: Vec<FibChange> = again
            .iter()
            .filter_map(|p| {
                self.rib
                    .fib()
                    .get(p)
                    .map(|s| FibChange::Set(*p, (**s).clone()))
            })
            .collect();
        self.pending_retry = changes;
    }

    /// Resolves, writes the kernel, publishes.
    async fn settle(&mut self) {
        let mut changes = if self.rib.has_dirty() {
            self.rib.resolve()
        } else {
            Vec::new()
        };
        let now = Instant::now();
        let mut moved: BTreeSet<IpNetwork> = BTreeSet::new();
        for c in &changes {
            let (FibChange::Set(p, _) | FibChange::Remove(p)) = c;
            moved.insert(*p);
        }
        changes.append(&mut std::mem::take(&mut self.pending_retry));
        if !changes.is_empty() {
            for c in &changes {
                let (FibChange::Set(p, _) | FibChange::Remove(p)) = c;
                self.touched.insert(*p);
            }
            self.write_kernel(changes).await;
        }
        if !self.touched.is_empty() || !moved.is_empty() {
            let touched = std::mem::take(&mut self.touched);
            for p in touched.union(&moved) {
                self.refresh(p, moved.contains(p), now);
            }
            self.view_dirty = true;
        }
        if self.view_dirty
            && (self.table.len() < PUBLISH_AT_ONCE || now >= self.published + PUBLISH_EVERY)
        {
            self.view.store(Arc::new(self.table.clone()));
            self.view_dirty = false;
            self.published = now;
        }
    }

    /// Writes FIB changes: connected routes are the kernel's, so a
    /// connected selection removes any route of ours for the prefix.
    async fn write_kernel(&mut self, changes: Vec<FibChange>) {
        let Some(fib) = &mut self.fib else { return };
        let changes: Vec<FibChange> = changes
            .into_iter()
            .map(|c| match c {
                FibChange::Set(p, s) if s.source == Source::Connected => FibChange::Remove(p),
                other => other,
            })
            .collect();
        // Why each was refused before: a retry refused for the same reason
        // is not logged again (a route through a missing interface would
        // log every second until it appears).
        let mut was: HashMap<IpNetwork, String> = HashMap::new();
        for c in &changes {
            let (FibChange::Remove(p) | FibChange::Set(p, _)) = c;
            if let Some(why) = self.refused.remove(p) {
                was.insert(*p, why);
            }
        }
        let t0 = Instant::now();
        let failed = fib.apply(&changes).await;
        debug!(
            changes = changes.len(),
            failed = failed.len(),
            ms = t0.elapsed().as_millis() as u64,
            "kernel routes written"
        );
        for (p, why) in failed {
            if was.get(&p) != Some(&why) {
                warn!("kernel refused route {p}: {why}; retrying every second");
            }
            self.refused.insert(p, why);
        }
        self.view_dirty = true;
    }

    /// Brings the readers' entries of one prefix up to date; `moved`:
    /// its selection changed now.
    fn refresh(&mut self, p: &IpNetwork, moved: bool, now: Instant) {
        let since = match self.table.since(p) {
            Some(t) if !moved => t,
            _ => now,
        };
        let sel = self.rib.fib().get(p);
        let installed = self.fib.as_ref().is_some_and(|f| f.is_installed(p));
        let mut entries: Vec<Entry> = Vec::new();
        let mut selected_done = false;
        for (source, c) in self.rib.candidates(p) {
            let is_sel = !selected_done
                && sel.is_some_and(|s| {
                    s.source == source && s.distance == c.distance && s.metric == c.metric
                });
            let (nexthops, fibbed) = match (is_sel, sel) {
                (true, Some(s)) => {
                    selected_done = true;
                    let fibbed = if source == Source::Connected {
                        Fibbed::Kernel
                    } else if let Some(why) = self.refused.get(p) {
                        Fibbed::Rejected(why.clone())
                    } else if self.fib.is_none() {
                        Fibbed::Rejected(NOT_WRITTEN.into())
                    } else if installed {
                        Fibbed::Installed
                    } else {
                        Fibbed::Queued
                    };
                    let names = &mut self.names;
                    let hops = s.nexthops.iter().map(|h| resolved_hop(h, names)).collect();
                    (hops, Some(fibbed))
                }
                _ => {
                    let names = &mut self.names;
                    let hops = c.nexthops.iter().map(|h| candidate_hop(h, names)).collect();
                    (hops, None)
                }
            };
            entries.push(Entry {
                source,
                distance: c.distance,
                metric: c.metric,
                selected: fibbed.is_some(),
                fib: fibbed,
                nexthops,
                since,
            });
        }
        // Selected first, as FRR lists them.
        entries.sort_by_key(|e| !e.selected);
        self.table.set(*p, entries, &mut self.hop_lists);
    }

    /// Removes rvpn's routes from the kernel (daemon shutdown).
    async fn shutdown(&mut self) {
        let Some(fib) = &mut self.fib else { return };
        let all: Vec<FibChange> = fib.installed().map(FibChange::Remove).collect();
        let n = all.len();
        let failed = fib.apply(&all).await;
        info!(
            removed = n - failed.len(),
            "rvpn routes removed from the kernel"
        );
    }
}

fn intern(names: &mut HashMap<String, Arc<str>>, name: &str) -> Arc<str> {
    if let Some(n) = names.get(name) {
        return n.clone();
    }
    let n: Arc<str> = Arc::from(name);
    names.insert(name.to_string(), n.clone());
    n
}

fn resolved_hop(r: &Resolved, names: &mut HashMap<String, Arc<str>>) -> Hop {
    match r {
        Resolved::Via { gateway, ifname } => Hop {
            gateway: *gateway,
            ifname: Some(intern(names, ifname)),
            blackhole: false,
            active: true,
        },
        Resolved::Blackhole => Hop {
            gateway: None,
            ifname: None,
            blackhole: true,
            active: true,
        },
    }
}

fn candidate_hop(n: &NextHop, names: &mut HashMap<String, Arc<str>>) -> Hop {
    let (gateway, ifname, blackhole) = match n {
        NextHop::Gateway(g) => (Some(*g), None, false),
        NextHop::Interface(i) => (None, Some(intern(names, i)), false),
        NextHop::GatewayOn(g, i) => (Some(*g), Some(intern(names, i)), false),
        NextHop::Blackhole => (None, None, true),
    };
    Hop {
        gateway,
        ifname,
        blackhole,
        active: false,
    }
}
