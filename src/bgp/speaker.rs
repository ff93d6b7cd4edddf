//! The BGP speaker's driver: one tokio task feeds the sans-IO speaker core
//! ([`bgp::speaker::Speaker`]) and does what it asks. Sockets live in
//! small I/O tasks that only move bytes (a reader per connection with a
//! bounded queue, so a peer that sends faster than we decide is slowed
//! down by TCP, and a writer); listeners carry the TCP MD5 keys.
//!
//! Inputs ([`Inputs`]) are built so that no sender waits on a busy
//! speaker and nothing is lost: the running configuration through a
//! `watch` channel (the latest counts), tunnel and BFD up/down through
//! [`crate::updown`] (the final state of each, flaps kept), requests
//! (show, clear, shutdown) on a bounded queue whose senders wait with a
//! time limit. A request sees every configuration and state published
//! before it was sent.
//!
//! Writing is bounded too. The writer reports every write to the socket
//! ([`Speaker::handle_written`]); the core stops producing UPDATEs for a
//! connection while [`bgp::speaker::WRITE_WINDOW`] bytes (or
//! [`bgp::speaker::WRITE_CHUNKS`] transmissions) are unreported: the
//! rest waits in its Adj-RIB-Out as pending changes, which a newer change
//! of the same prefix replaces. It closes a session whose peer takes
//! nothing for the hold time (send hold timer, RFC 9687), KEEPALIVEs from
//! the peer or not. The writer's queue holds [`WRITE_QUEUE`]
//! transmissions; reaching that would mean the accounting is broken, and
//! the connection is closed instead of buffering more. A closed
//! connection's writer gets [`LINGER`] to deliver what it has (a
//! NOTIFICATION) before the socket goes.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use bgp::speaker::{ConnId, Forwarding, NextHop, Output, PolicyChanges, Soft, Speaker};
use rib::RouteBatch;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tracing::{debug, warn};
use vtysh::{Config, ShowCmd, SoftDir};

use crate::routing::Interfaces;
use crate::supervise::Reporter;
use crate::updown;

use super::config::speaker_config;
use super::policy::{compile, route_map_changed};
use super::tcp;

/// What the rest of rvpnd asks of the speaker.
#[derive(Debug)]
pub enum Command {
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
}

/// What the speaker follows besides requests.
#[derive(Debug)]
pub struct Inputs {
    /// The running configuration (the latest counts).
    pub config: watch::Receiver<Arc<Config>>,
    /// Tunnel interfaces that gained their first or lost their last IPsec
    /// SA.
    pub tunnels: updown::Receiver<String>,
    /// BFD to a neighbor that went Up, or from Up to Down.
    pub bfd: updown::Receiver<IpAddr>,
    /// The addresses each tunnel leased its peer (a Virtual-Access's
    /// spoke): its dynamic neighbors there go with the tunnel.
    pub leased: crate::sa_events::Leased,
}

/// Events of the I/O tasks.
#[derive(Debug)]
enum Ev {
    Connected {
        peer: IpAddr,
        conn: ConnId,
        stream: TcpStream,
    },
    ConnectFailed {
        peer: IpAddr,
        conn: ConnId,
        error: String,
    },
    Accepted {
        stream: TcpStream,
        remote: SocketAddr,
    },
    Data {
        peer: IpAddr,
        conn: ConnId,
        bytes: Vec<u8>,
    },
    Closed {
        peer: IpAddr,
        conn: ConnId,
    },
    /// The writer put `bytes` more on the socket.
    Written {
        peer: IpAddr,
        conn: ConnId,
        bytes: usize,
    },
}

/// The I/O tasks of one connection.
struct ConnIo {
    /// The socket's write side, shared with the writer task: while the
    /// writer holds nothing, the driver writes itself (a KEEPALIVE is one
    /// system call, not a hop to the writer task and a report back: with
    /// 10,000 sessions that was 3,333 task wake-ups a second each way).
    wr: Arc<tokio::net::tcp::OwnedWriteHalf>,
    /// Bytes handed to the writer task and not yet reported written.
    handed: usize,
    writer: mpsc::Sender<Vec<u8>>,
    reader: tokio::task::JoinHandle<()>,
    /// Dropped with the connection: the writer then has [`LINGER`] to
    /// write what it holds.
    _closing: oneshot::Sender<()>,
}

impl Drop for ConnIo {
    fn drop(&mut self) {
        // The writer ends (flushing what it has, for at most LINGER) when
        // its sender goes.
        self.reader.abort();
    }
}

/// Transmissions (each one or more messages) a connection's writer may
/// hold: the core keeps at most `WRITE_CHUNKS` of UPDATEs (and
/// `WRITE_WINDOW` bytes) unwritten, plus the session's own few messages
/// (KEEPALIVEs until the send hold timer, a NOTIFICATION), so this is
/// never reached while the accounting holds; if it is, the connection is
/// closed rather than buffered.
pub const WRITE_QUEUE: usize = 2 * bgp::speaker::WRITE_CHUNKS;
/// How long the writer of a closed connection may still try to deliver
/// what it holds (a NOTIFICATION) to a peer that does not read.
pub const LINGER: Duration = Duration::from_secs(5);

thread_local! {
    /// Where a connection's reader reads (one per runtime thread, never
    /// held across an await).
    static READ_BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; 65536]);
}

/// Events (mostly 64 KiB reads) queued for the speaker: few, so that a
/// peer sending faster than the RIB takes it in waits in TCP, not in our
/// memory.
const EV_QUEUE: usize = 16;
/// When the core has no timer: the loop wakes at least this often.
const IDLE: Duration = Duration::from_secs(3600);

/// iBGP's administrative distance (eBGP's is `rib::Source::Bgp`'s
/// default, 20), as in FRR and IOS.
pub const IBGP_DISTANCE: u8 = 200;

/// The driver's state.
struct Driver {
    core: Speaker,
    running: Config,
    port: u16,
    listeners: Vec<(SocketAddr, TcpListener)>,
    listener_tasks: Vec<tokio::task::JoinHandle<()>>,
    ev_tx: mpsc::Sender<Ev>,
    conns: HashMap<(IpAddr, ConnId), ConnIo>,
    /// The interfaces and their addresses (the routing task's view).
    ifaces: Interfaces,
    /// Where forwarding changes go (the RIB task).
    routes_tx: Option<mpsc::UnboundedSender<RouteBatch>>,
    /// Where the dynamic neighbors go (the BFD task), and the core's
    /// count of their changes last published.
    known_tx: Option<(watch::Sender<Arc<BTreeSet<IpAddr>>>, u64)>,
}

/// Starts the speaker (task `bgp` of `tasks`) on BGP port `port`;
/// forwarding changes (best path and multipaths of each changed prefix) go
/// to `routes`. Interface addresses come from `ifaces`, and every change
/// of them reaches the core. The dynamic neighbors it has go to `known`
/// (the BFD task gives only those a passive session).
pub fn start(
    tasks: &Reporter,
    port: u16,
    routes: Option<mpsc::UnboundedSender<RouteBatch>>,
    ifaces: Interfaces,
    mut inputs: Inputs,
    known: Option<watch::Sender<Arc<BTreeSet<IpAddr>>>>,
) -> mpsc::Sender<Command> {
    let (tx, rx) = mpsc::channel(64);
    let (ev_tx, ev_rx) = mpsc::channel(EV_QUEUE);
    let now = Instant::now();
    let d = Driver {
        core: Speaker::new(routes.is_some(), now.into_std()),
        running: Config::default(),
        port,
        listeners: Vec::new(),
        listener_tasks: Vec::new(),
        ev_tx,
        conns: HashMap::new(),
        ifaces,
        routes_tx: routes,
        known_tx: known.map(|k| (k, 0)),
    };
    // The configuration there is now applies first.
    inputs.config.mark_changed();
    tasks.spawn("bgp", d.run(rx, ev_rx, inputs));
    tx
}

/// The candidate the RIB gets for what BGP forwards: eBGP distance 20,
/// iBGP 200, metric the MED. `last` is the previous candidate's list, as
/// BGP gave it and converted: a batch of a full table has a handful of
/// lists, shared by BGP, and converting each prefix's anew would cost an
/// allocation per prefix while the batches wait for the RIB task.
type LastHops = Option<(Arc<[NextHop]>, rib::NextHops)>;

fn candidate(f: Forwarding, last: &mut LastHops) -> rib::Candidate {
    let nexthops = match last {
        Some((src, out)) if Arc::ptr_eq(src, &f.nexthops) || **src == *f.nexthops => out.clone(),
        _ => {
            let out: rib::NextHops = Arc::new(
                f.nexthops
                    .iter()
                    .map(|h| match h {
                        NextHop::Gateway(a) => rib::NextHop::Gateway(*a),
                        NextHop::GatewayOn(a, dev) => rib::NextHop::GatewayOn(*a, dev.clone()),
                    })
                    .collect(),
            );
            *last = Some((f.nexthops.clone(), out.clone()));
            out
        }
    };
    rib::Candidate {
        distance: if f.ebgp {
            rib::Source::Bgp.default_distance()
        } else {
            IBGP_DISTANCE
        },
        metric: f.metric,
        nexthops,
    }
}

/// Which route-maps and prefix-lists behave differently under `new`.
fn policy_changes(old: &Config, new: &Config) -> PolicyChanges {
    let route_maps: BTreeSet<String> = old
        .route_maps
        .keys()
        .chain(new.route_maps.keys())
        .filter(|n| route_map_changed(old, new, n))
        .cloned()
        .collect();
    let prefix_lists: BTreeSet<String> = old
        .prefix_lists
        .keys()
        .chain(new.prefix_lists.keys())
        .chain(old.prefix_lists_v6.keys())
        .chain(new.prefix_lists_v6.keys())
        .filter(|n| {
            old.prefix_lists.get(*n) != new.prefix_lists.get(*n)
                || old.prefix_lists_v6.get(*n) != new.prefix_lists_v6.get(*n)
        })
        .cloned()
        .collect();
    PolicyChanges {
        route_maps,
        prefix_lists,
    }
}

impl Driver {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Command>,
        mut ev_rx: mpsc::Receiver<Ev>,
        mut inputs: Inputs,
    ) {
        let mut ifaces = self.ifaces.clone();
        let mut ifaces_open = true;
        let (mut config_open, mut tunnels_open, mut bfd_open) = (true, true, true);
        loop {
            let deadline = self.next_deadline();
            tokio::select! {
                changed = inputs.config.changed(), if config_open => match changed {
                    Ok(()) => {
                        let cfg = inputs.config.borrow_and_update().clone();
                        self.set_config((*cfg).clone());
                    }
                    Err(_) => config_open = false,
                },
                open = inputs.tunnels.changed(), if tunnels_open => tunnels_open = open,
                open = inputs.bfd.changed(), if bfd_open => bfd_open = open,
                cmd = rx.recv() => {
                    let Some(cmd) = cmd else { break };
                    // What was published before this request was sent
                    // applies first (a show right after a change sees it).
                    self.inputs(&mut inputs);
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
                open = ifaces.changed(), if ifaces_open => {
                    ifaces_open = open;
                    self.core.handle_addresses(self.ifaces.addresses(), std::time::Instant::now());
                }
                _ = tokio::time::sleep_until(deadline) => self.timers(),
            }
            self.inputs(&mut inputs);
            self.drive();
            self.publish_known();
        }
        debug!("bgp speaker stopping");
    }

    /// Takes a pending configuration and the pending tunnel and BFD
    /// states (cheap when there are none).
    fn inputs(&mut self, inputs: &mut Inputs) {
        if inputs.config.has_changed().unwrap_or(false) {
            let cfg = inputs.config.borrow_and_update().clone();
            self.set_config((*cfg).clone());
        }
        let tunnels = inputs.tunnels.take();
        let bfd = inputs.bfd.take();
        if tunnels.is_empty() && bfd.is_empty() {
            return;
        }
        let now = Instant::now().into_std();
        if !tunnels.is_empty() {
            self.core.handle_addresses(self.ifaces.addresses(), now);
        }
        for (name, up) in tunnels {
            let over = inputs
                .leased
                .lock()
                .ok()
                .and_then(|m| m.get(&name).cloned())
                .unwrap_or_default();
            self.core.handle_tunnel_over(&name, up, &over, now);
        }
        for (peer, up) in bfd {
            self.core.handle_bfd(peer, up, now);
        }
    }

    /// Publishes the dynamic neighbors when they changed.
    fn publish_known(&mut self) {
        let changes = self.core.dynamic_changes();
        if let Some((tx, seen)) = &mut self.known_tx {
            if *seen != changes {
                *seen = changes;
                tx.send_replace(Arc::new(self.core.dynamic_peers().clone()));
            }
        }
    }

    fn next_deadline(&self) -> Instant {
        self.core
            .poll_timeout()
            .map_or(Instant::now() + IDLE, Instant::from_std)
    }

    fn timers(&mut self) {
        let now = Instant::now();
        self.core.handle_timeout(now.into_std());
    }

    /// Does what the core asks: bytes out, connections opened and closed,
    /// forwarding changes to the RIB task.
    fn drive(&mut self) {
        while let Some(o) = self.core.poll_output() {
            match o {
                Output::Transmit { peer, conn, bytes } => {
                    let Some(io) = self.conns.get_mut(&(peer, conn)) else {
                        continue;
                    };
                    // Straight onto the socket when nothing waits before
                    // it; what the socket does not take goes to the writer.
                    let mut bytes = bytes;
                    if io.handed == 0 {
                        if let Ok(n) = io.wr.try_write(&bytes) {
                            if n > 0 {
                                let now = Instant::now().into_std();
                                self.core.handle_written(peer, conn, n, now);
                            }
                            if n >= bytes.len() {
                                continue;
                            }
                            bytes.drain(..n);
                        }
                    }
                    let Some(io) = self.conns.get_mut(&(peer, conn)) else {
                        continue;
                    };
                    io.handed += bytes.len();
                    // Closed: the writer failed; the reader reports the
                    // connection closed.
                    let full = matches!(
                        io.writer.try_send(bytes),
                        Err(mpsc::error::TrySendError::Full(_))
                    );
                    if full {
                        warn!(
                            "bgp neighbor {peer}: {WRITE_QUEUE} messages wait to be written; \
                             closing the connection"
                        );
                        self.conns.remove(&(peer, conn));
                        self.core
                            .handle_closed(peer, conn, Instant::now().into_std());
                    }
                }
                Output::Connect { peer, conn } => self.spawn_connect(peer, conn),
                Output::Disconnect { peer, conn } => {
                    self.conns.remove(&(peer, conn));
                }
                Output::Routes(batch) => {
                    if let Some(tx) = &self.routes_tx {
                        let mut last = None;
                        let batch: RouteBatch = batch
                            .into_iter()
                            .map(|(p, f)| (p, f.map(|f| candidate(f, &mut last))))
                            .collect();
                        // The RIB task is gone only while shutting down.
                        let _ = tx.send(batch);
                    }
                }
                Output::Established { .. } | Output::Down { .. } => {}
            }
        }
    }

    fn command(&mut self, cmd: Command) {
        let now = Instant::now().into_std();
        match cmd {
            Command::Show { cmd, json, reply } => {
                let _ = reply.send(super::show::show(&self.core, &cmd, json));
            }
            Command::Clear { peer, soft, reply } => {
                let soft = soft.map(|s| match s {
                    SoftDir::In => Soft::In,
                    SoftDir::Out => Soft::Out,
                    SoftDir::Both => Soft::Both,
                });
                let r = self.core.handle_clear(peer, soft, now);
                let _ = reply.send(r.map(|()| String::new()).map_err(|e| e.to_string()));
            }
            Command::Shutdown(_) => {}
        }
    }

    fn set_config(&mut self, running: Config) {
        let now = Instant::now().into_std();
        let new = speaker_config(&running);
        let changes = policy_changes(&self.running, &running);
        self.running = running;
        let policies = Arc::new(compile(&self.running));
        self.core.handle_addresses(self.ifaces.addresses(), now);
        let configured = new.is_some();
        self.core.handle_config(new, policies, &changes, now);
        if !configured {
            self.close_listeners();
            return;
        }
        if self.listeners.is_empty() {
            self.open_listeners();
        }
        self.sync_md5();
    }

    async fn shutdown(&mut self) {
        self.core.handle_shutdown(Instant::now().into_std());
        // The NOTIFICATIONs go to the writers, then every connection is
        // dropped: its writer flushes and closes.
        self.drive();
        self.conns.clear();
        self.close_listeners();
        // Give the writers a moment to put the NOTIFICATIONs on the wire.
        tokio::time::sleep(Duration::from_millis(50)).await;
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
        let Some(cfg) = self.core.config() else {
            return;
        };
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

    fn spawn_connect(&mut self, addr: IpAddr, conn: ConnId) {
        let Some(p) = self.core.peers().get(&addr) else {
            return;
        };
        let c = &p.cfg;
        let ebgp = self.core.config().is_some_and(|s| c.is_ebgp(s.asn));
        let opts = tcp::ConnectOpts {
            local: c.update_source.as_deref().and_then(|s| {
                let a = s
                    .parse::<IpAddr>()
                    .ok()
                    .or_else(|| self.ifaces.address_of(s, addr.is_ipv6()));
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
    fn attach(&mut self, peer: IpAddr, conn: ConnId, stream: TcpStream) {
        let (rd, wr) = stream.into_split();
        let wr = Arc::new(wr);
        let wr_task = wr.clone();
        let (wtx, mut wrx) = mpsc::channel::<Vec<u8>>(WRITE_QUEUE);
        let (closing, closed) = oneshot::channel::<()>();
        let tx = self.ev_tx.clone();
        let written = self.ev_tx.clone();
        let reader = tokio::spawn(async move {
            loop {
                // Wait holding no buffer: a hub with 10,000 sessions kept
                // 10,000 idle 64 KiB buffers (640 MB) otherwise. The read
                // goes into the worker thread's buffer and is copied out.
                if rd.readable().await.is_err() {
                    break;
                }
                let read = READ_BUF.with(|b| {
                    let mut b = b.borrow_mut();
                    rd.try_read(&mut b[..])
                        .map(|n| b.get(..n).map(<[u8]>::to_vec).unwrap_or_default())
                });
                match read {
                    Ok(bytes) if bytes.is_empty() => break,
                    Ok(bytes) => {
                        if tx.send(Ev::Data { peer, conn, bytes }).await.is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => break,
                }
            }
            let _ = tx.send(Ev::Closed { peer, conn }).await;
        });
        tokio::spawn(async move {
            let work = async {
                while let Some(b) = wrx.recv().await {
                    // Each partial write is progress (a slow reader is
                    // no stuck one), reported so the core produces more.
                    let mut rest = b.as_slice();
                    while !rest.is_empty() {
                        let n = match wr_task.try_write(rest) {
                            Ok(0) => return,
                            Ok(n) => n,
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                                if wr_task.writable().await.is_err() {
                                    return;
                                }
                                continue;
                            }
                            Err(_) => return,
                        };
                        rest = rest.get(n..).unwrap_or_default();
                        let ev = Ev::Written {
                            peer,
                            conn,
                            bytes: n,
                        };
                        if written.send(ev).await.is_err() {
                            return;
                        }
                    }
                }
                // The write side shuts down (FIN) when its last holder,
                // this task or the driver's ConnIo, drops it.
            };
            let linger = async {
                let _ = closed.await;
                tokio::time::sleep(LINGER).await;
            };
            tokio::select! {
                () = work => {}
                () = linger => debug!(
                    "bgp neighbor {peer}: the peer took nothing for {LINGER:?} after the \
                     connection was closed; dropping what was left to write"
                ),
            }
        });
        self.conns.insert(
            (peer, conn),
            ConnIo {
                wr,
                handed: 0,
                writer: wtx,
                reader,
                _closing: closing,
            },
        );
    }

    // ------------------------------------------------------------- events

    fn event(&mut self, ev: Ev) {
        let now = Instant::now().into_std();
        match ev {
            Ev::Connected { peer, conn, stream } => {
                // Our next hop of the other family is read off the
                // interface addresses: have them fresh for the session.
                self.core.handle_addresses(self.ifaces.addresses(), now);
                let local = stream.local_addr().ok();
                if self.core.handle_connected(peer, conn, local, now) {
                    self.attach(peer, conn, stream);
                }
            }
            Ev::ConnectFailed { peer, conn, error } => {
                debug!("bgp neighbor {peer}: connect failed: {error}");
                self.core.handle_connect_failed(peer, conn, now);
            }
            Ev::Accepted { stream, remote } => {
                let peer = match remote.ip() {
                    IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
                    a => a,
                };
                self.core.handle_addresses(self.ifaces.addresses(), now);
                let local = stream.local_addr().ok();
                if let Ok(conn) = self.core.handle_accepted(peer, local, now) {
                    self.attach(peer, conn, stream);
                }
            }
            Ev::Data { peer, conn, bytes } => self.core.handle_data(peer, conn, &bytes, now),
            Ev::Closed { peer, conn } => self.core.handle_closed(peer, conn, now),
            Ev::Written { peer, conn, bytes } => {
                if let Some(io) = self.conns.get_mut(&(peer, conn)) {
                    io.handed = io.handed.saturating_sub(bytes);
                }
                self.core.handle_written(peer, conn, bytes, now);
            }
        }
    }
}
