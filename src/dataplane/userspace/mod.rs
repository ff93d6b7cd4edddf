//! The userspace data plane: a TUN device per tunnel interface and ESP in
//! UDP on the NAT-T port (or raw IP protocol 50), sealed and opened by one
//! worker thread per core.
//!
//! - Port 4500 belongs to the data plane: every worker has its own socket
//!   on it (SO_REUSEPORT, so the kernel spreads peers over workers) and
//!   forwards IKE datagrams (non-ESP marker) to the IKE task, which sends
//!   through a copy of one of these sockets.
//! - A point-to-point tunnel's TUN is multi-queue with one queue per
//!   worker; a `tunnel destination dynamic` interface (a hub has many)
//!   gets a single-queue TUN, read by one worker (they take turns). Every
//!   worker watches only the queues it reads, in an epoll set.
//! - The TUNs are in one interface group per daemon: stopping deletes them
//!   with one request.
//! - The control task (this module's [`run`]) owns interface setup over
//!   rtnetlink and publishes [`tables::Tables`] with arc-swap; workers never
//!   wait for it.
//! - Make-before-break: a rekeyed inbound SA is added before the old one is
//!   removed. The side that initiated the rekey seals with the new SA at
//!   once; the side that answered keeps the old one until the peer's first
//!   packet on the new SA (or the old SA's deletion), so nothing is sent on
//!   an SA the peer has not installed yet. When IKE removes the old pair,
//!   its inbound SA still opens packets for [`tables::LINGER`] (ESP sealed
//!   just before the peer switched may still wait in a socket while the
//!   Delete, on another socket, was already handled).

mod net;
mod tables;
mod worker;

use super::{serve, Backend, DpCommand, DpError, DpStats, IfCounters, IfaceSpec, SaCounters};
use arc_swap::ArcSwap;
use esp::{InboundSa, Lifetime, LifetimeLimits, Limit, OsRandom, OutboundSa, SaKeys, Transform};
use esp_io::batch::RawEsp;
use esp_io::{link, tun::Tun};
use ike::driver::{ExternalNatt, NattIn};
use ike::sa::{ChildMove, ChildSaParams};
use net::EventFd;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tables::{lock, peer_key, IfCtr, InSa, OutSlot, Outbound, Tables, TunnelDp};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

/// What the workers share.
pub struct Shared {
    tables: ArcSwap<Tables>,
    stop: AtomicBool,
    /// IKE datagrams from port 4500, to the IKE task.
    ike: mpsc::Sender<NattIn>,
    raw4: Option<RawEsp>,
    raw6: Option<RawEsp>,
    /// ESP whose SPI no SA has.
    unknown_spi: AtomicU64,
    /// The IKE task: ESP that opened but came from another address than
    /// its pair sends to (`ike::driver::Control::mappings`; once per SA
    /// and address).
    mapping: mpsc::UnboundedSender<(u32, SocketAddr)>,
    /// The IKE task, for rekeys at the volume lifetime (see
    /// `ike::driver::Control::rekeys`: unbounded, and at most one request
    /// per SA, so a worker never waits and no request is dropped).
    rekey: mpsc::UnboundedSender<u32>,
}

impl Shared {
    /// Tell IKE that authentic ESP of pair `spi_in` came from `from`.
    fn report_mapping(&self, spi_in: u32, from: SocketAddr) {
        debug!("SA {spi_in:08x}: ESP from {from}, not where the pair sends: telling IKE");
        let _ = self.mapping.send((spi_in, from));
    }

    /// Ask IKE for a rekey of the pair with inbound SPI `spi_in`.
    fn ask_rekey(&self, spi_in: u32) {
        info!("SA {spi_in:08x} reached its soft volume lifetime: asking for a rekey");
        if self.rekey.send(spi_in).is_err() {
            warn!("SA {spi_in:08x}: IKE is not running; no rekey");
        }
    }
}

/// Byte and packet lifetimes of a Child SA: the configured kilobytes, and
/// without ESN the 32-bit sequence space (rekey at 7/8 of it).
fn limits(c: &ChildSaParams) -> LifetimeLimits {
    LifetimeLimits {
        bytes: (c.lifetime_kb > 0).then(|| Limit::new(c.lifetime_kb.saturating_mul(1024))),
        packets: (!c.chosen.esn).then(|| Limit::with_soft(0xE000_0000, 0xFFFF_FFFF)),
    }
}

/// The started data plane, before its control task runs.
pub struct Userspace {
    shared: Arc<Shared>,
    wakes: Vec<Arc<EventFd>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    /// The interface group of this daemon's TUN devices ([`tun_group`]).
    group: u32,
    /// The worker that reads the next single-queue TUN.
    next_owner: AtomicUsize,
    /// The daemon is stopping: lines stay as they are until shutdown.
    stopping: bool,
}

/// Whether a tunnel interface keeps IPv6 on: a `tunnel destination
/// dynamic` one (a hub has one per spoke) only with an IPv6 address,
/// which keeps the kernel's per-link IPv6 work (a walk of the whole IPv6
/// routing table when a link comes up or changes its MTU, two routes
/// added per link) out of a hub with many IPv4 spokes; a point-to-point
/// one always, as the kernel has it.
fn wants_ipv6(iface: &IfaceSpec) -> bool {
    !iface.dynamic || iface.addresses.iter().any(|a| a.is_ipv6())
}

/// The interface group (`ip link ... group N`) rvpnd puts its TUN devices
/// in, so that stopping removes them all with one request: `0x7276` ("rv")
/// and the low 16 bits of the process id (two daemons in one namespace
/// keep apart).
fn tun_group() -> u32 {
    0x7276_0000 | (std::process::id() & 0xffff)
}

/// Open the NAT-T port and raw ESP sockets and start one worker per core
/// (tasks `dataplane-workerN` of `tasks`). The returned [`ExternalNatt`]
/// is for the IKE task (see `ike::driver::bind_external`).
pub fn start(
    tasks: &crate::supervise::Reporter,
    natt_port: u16,
    rekey: mpsc::UnboundedSender<u32>,
    mapping: mpsc::UnboundedSender<(u32, SocketAddr)>,
) -> io::Result<(Userspace, ExternalNatt)> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let (ike_tx, ike_rx) = mpsc::channel(ike::driver::EXTERNAL_QUEUE);
    let any4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), natt_port);
    let any6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), natt_port);
    let mut socks4 = Vec::new();
    let mut socks6 = Vec::new();
    for _ in 0..workers {
        socks4.push(net::udp_reuseport(any4)?);
        // IPv6 is optional (a namespace may have it disabled).
        socks6.push(net::udp_reuseport(any6).ok());
    }
    let raw4 = RawEsp::new(false)
        .map_err(|e| warn!("no raw ESP socket (IPv4): {e}; ESP only in UDP"))
        .ok();
    let raw6 = RawEsp::new(true).ok();
    for r in raw4.iter().chain(raw6.iter()) {
        net::deep_buffers(r);
    }
    let ext = ExternalNatt {
        rx: ike_rx,
        v4: socks4
            .first()
            .ok_or_else(|| io::Error::other("no workers"))?
            .try_clone()?,
        v6: socks6
            .first()
            .and_then(|s| s.as_ref())
            .and_then(|s| s.try_clone().ok()),
    };
    let shared = Arc::new(Shared {
        tables: ArcSwap::from_pointee(Tables::default()),
        stop: AtomicBool::new(false),
        ike: ike_tx,
        raw4,
        raw6,
        unknown_spi: AtomicU64::new(0),
        rekey,
        mapping,
    });
    let mut wakes = Vec::new();
    let mut threads = Vec::new();
    for (id, (udp4, udp6)) in socks4.into_iter().zip(socks6).enumerate() {
        let wake = Arc::new(EventFd::new()?);
        wakes.push(wake.clone());
        let w = worker::Worker {
            id,
            shared: shared.clone(),
            udp4,
            udp6,
            wake,
        };
        threads.push(tasks.thread(
            format!("dataplane-worker{id}"),
            format!("rvpn-dp{id}"),
            move || w.run(),
        )?);
    }
    info!(workers, "userspace data plane started");
    Ok((
        Userspace {
            shared,
            wakes,
            threads,
            group: tun_group(),
            next_owner: AtomicUsize::new(0),
            stopping: false,
        },
        ext,
    ))
}

fn transform(c: &ChildSaParams) -> Result<Transform, DpError> {
    let bits = (c.chosen.encr.1 != 0).then_some(c.chosen.encr.1);
    Transform::from_iana(c.chosen.encr.0, bits, c.chosen.integ).ok_or_else(|| {
        DpError::Unsupported(format!("unsupported ESP transform {}", c.chosen.describe()))
    })
}

fn keys<'a>(t: Transform, (enc, integ): (&'a [u8], &'a [u8])) -> SaKeys<'a> {
    SaKeys::for_transform(t, enc, integ)
}

impl Userspace {
    /// Publish a changed copy of the tables and wake every worker.
    fn publish(&self, change: impl FnOnce(&mut Tables)) {
        let mut t = (**self.shared.tables.load()).clone();
        change(&mut t);
        // Inbound SAs of replaced pairs whose grace is over.
        t.inbound.retain(|_, s| s.opens());
        t.generation = t.generation.wrapping_add(1);
        self.shared.tables.store(Arc::new(t));
        for w in &self.wakes {
            w.notify();
        }
    }

    async fn install(
        &self,
        h: &link::Handle,
        c: &ChildSaParams,
        iface: &IfaceSpec,
    ) -> Result<(), DpError> {
        let t = transform(c)?;
        let window = c.replay_window.clamp(64, esp::MAX_WINDOW as u32) as usize;
        let rx = InboundSa::new(
            c.spi_in,
            t,
            keys(t, c.inbound_keys()),
            c.chosen.esn,
            window.div_ceil(64) * 64,
        )?;
        let mut rx = rx;
        rx.set_lifetime(limits(c));
        let tx = OutboundSa::new(
            c.spi_out,
            t,
            keys(t, c.outbound_keys()),
            c.chosen.esn,
            OsRandom::new(),
        )?;
        let mut tx = tx;
        tx.set_lifetime(limits(c));
        let (tunnel, new) = self.tunnel(h, iface).await?;
        let (encap, remote) = self.path(c.encap, c.remote);
        let out = Outbound {
            sa: tx,
            spi_in: c.spi_in,
            remote,
            encap,
            rekey_asked: false,
        };
        {
            let mut slot = lock(&tunnel.out);
            if c.rekey_of.is_some() && !c.we_initiated && slot.current.is_some() {
                if let Some(old) = slot.pending.replace(out) {
                    slot.retired.push(old);
                }
                tunnel.pending_spi.store(c.spi_in, Ordering::Relaxed);
            } else {
                if let Some(old) = slot.current.replace(out) {
                    slot.retired.push(old);
                }
                // A pending pair was superseded by a newer one.
                if let Some(p) = slot.pending.take() {
                    slot.retired.push(p);
                }
                tunnel.pending_spi.store(0, Ordering::Relaxed);
            }
        }
        let insa = Arc::new(InSa {
            sa: Mutex::new(rx),
            rekey_asked: AtomicBool::new(false),
            tunnel: tunnel.clone(),
            peer: AtomicU64::new(if encap { peer_key(remote) } else { 0 }),
            reported: AtomicU64::new(0),
            retired: AtomicU64::new(0),
        });
        // One publication for a new tunnel and its first SA (each copies
        // the tables).
        self.publish(|tb| {
            if new {
                tb.tunnels.insert(iface.name.clone(), tunnel.clone());
            }
            tb.inbound.insert(c.spi_in, insa);
        });
        info!(
            "{}: SA pair in {:08x} out {:08x} installed ({} to {}{})",
            c.tunnel,
            c.spi_in,
            c.spi_out,
            c.chosen.describe(),
            remote,
            if encap { ", UDP-encapsulated" } else { "" }
        );
        Ok(())
    }

    /// How a pair's ESP goes to `remote`: in UDP to the peer's NAT-T port
    /// when NAT was found (or the peer forces it), as raw protocol 50
    /// otherwise; without a raw socket (no CAP_NET_RAW) UDP is the only
    /// way. (in UDP, destination)
    fn path(&self, encap: bool, remote: SocketAddr) -> (bool, SocketAddr) {
        let udp = encap || self.shared.raw_for(remote).is_none();
        let mut to = remote;
        if !encap {
            to.set_port(4500);
        }
        (udp, to)
    }

    /// IKE moved a Child SA (NAT rebinding, MOBIKE): its outbound half
    /// sends to the new address from now on, and ESP from there is
    /// expected.
    fn moved(&self, m: &ChildMove) {
        let tables = self.shared.tables.load_full();
        let Some(insa) = tables.inbound.get(&m.spi_in) else {
            return;
        };
        let (encap, remote) = self.path(m.encap, m.remote);
        let old = {
            let mut slot = lock(&insa.tunnel.out);
            slot.find_mut(m.spi_in).map(|o| {
                let old = o.remote;
                o.remote = remote;
                o.encap = encap;
                old
            })
        };
        insa.peer
            .store(if encap { peer_key(remote) } else { 0 }, Ordering::Relaxed);
        insa.reported.store(0, Ordering::Relaxed);
        if let Some(old) = old {
            info!(
                "{}: SA pair in {:08x} out {:08x} moved: {} -> {remote} (was to {old}){}",
                m.tunnel,
                m.spi_in,
                m.spi_out,
                m.local.ip(),
                if encap { ", UDP-encapsulated" } else { "" }
            );
        }
    }

    /// The tunnel's data-plane state, creating its TUN on first use and
    /// bringing its line protocol up as `iface` says; whether it is new
    /// (not published yet: the caller publishes it with its SA).
    async fn tunnel(
        &self,
        h: &link::Handle,
        iface: &IfaceSpec,
    ) -> Result<(Arc<TunnelDp>, bool), DpError> {
        let existing = self.shared.tables.load().tunnels.get(&iface.name).cloned();
        let new = existing.is_none();
        let tunnel = match existing {
            Some(t) => t,
            None => {
                // A hub's spoke interface: one queue, read by one worker
                // (spokes take turns), cheap to create. A point-to-point
                // tunnel: a queue per worker, so its flows spread.
                let single = iface.dynamic || self.wakes.len() == 1;
                let (first, offload) = if single {
                    Tun::create_offload_single(&iface.name)?
                } else {
                    Tun::create_offload(&iface.name)?
                };
                debug!(
                    "{}: TUN offloads {}, {}",
                    iface.name,
                    if offload { "on" } else { "off" },
                    if single {
                        "single queue"
                    } else {
                        "a queue per worker"
                    }
                );
                let mut queues = Vec::with_capacity(self.wakes.len());
                if !single {
                    for _ in 1..self.wakes.len() {
                        queues.push(first.open_queue()?);
                    }
                }
                queues.insert(0, first);
                // A spoke interface has IPv6 only with IPv6 addresses (as
                // on IOS), set before the link first comes up.
                if !wants_ipv6(iface) {
                    if let Err(e) = link::set_ipv6(&iface.name, false) {
                        warn!("{}: cannot turn IPv6 off: {e}", iface.name);
                    }
                }
                let owner =
                    self.next_owner.fetch_add(1, Ordering::Relaxed) % self.wakes.len().max(1);
                // Looked up once: every later request names it by index.
                let ifindex = link::index(h, iface.name.as_str()).await?;
                if let Some(a) = &iface.alias {
                    if let Err(e) = link::set_alias(h, ifindex, a).await {
                        warn!("{}: cannot set the alias {a}: {e}", iface.name);
                    }
                }
                Arc::new(TunnelDp {
                    name: iface.name.clone(),
                    ifindex,
                    queues,
                    owner,
                    out: Mutex::new(OutSlot::default()),
                    pending_spi: AtomicU32::new(0),
                    mss: AtomicU16::new(0),
                    mtu: AtomicU32::new(iface.mtu),
                    addresses: Mutex::new(Vec::new()),
                    line_up: AtomicBool::new(false),
                    ctr: IfCtr::default(),
                })
            }
        };
        if !tunnel.line_up.load(Ordering::Relaxed) {
            link::set_in_group(h, tunnel.ifindex, true, Some(iface.mtu), Some(self.group)).await?;
            tunnel.line_up.store(true, Ordering::Relaxed);
            self.apply(h, &tunnel, iface).await?;
            info!(
                "{}: line protocol up (userspace TUN, MTU {})",
                iface.name, iface.mtu
            );
        }
        Ok((tunnel, new))
    }

    /// Bring a tunnel's MTU, addresses and MSS clamp to what `iface` says.
    async fn apply(
        &self,
        h: &link::Handle,
        t: &TunnelDp,
        iface: &IfaceSpec,
    ) -> Result<(), DpError> {
        t.mss
            .store(iface.tcp_adjust_mss.unwrap_or(0), Ordering::Relaxed);
        if t.mtu.swap(iface.mtu, Ordering::Relaxed) != iface.mtu {
            link::set(
                h,
                t.ifindex,
                t.line_up.load(Ordering::Relaxed),
                Some(iface.mtu),
            )
            .await?;
        }
        let have = lock(&t.addresses).clone();
        let v6 = wants_ipv6(iface);
        if iface.dynamic && v6 != have.iter().any(|a| a.is_ipv6()) {
            if let Err(e) = link::set_ipv6(&iface.name, v6) {
                warn!(
                    "{}: cannot turn IPv6 {}: {e}",
                    iface.name,
                    if v6 { "on" } else { "off" }
                );
            }
        }
        for a in have.iter().filter(|a| !iface.addresses.contains(a)) {
            link::del_address(h, t.ifindex, a.ip(), a.prefix()).await?;
        }
        for a in iface.addresses.iter().filter(|a| !have.contains(a)) {
            link::add_address(h, t.ifindex, a.ip(), a.prefix()).await?;
        }
        *lock(&t.addresses) = iface.addresses.clone();
        Ok(())
    }

    /// A configuration change of an interface the data plane has.
    async fn update(&self, h: &link::Handle, iface: &IfaceSpec) {
        let Some(t) = self.shared.tables.load().tunnels.get(&iface.name).cloned() else {
            return;
        };
        if let Err(e) = self.apply(h, &t, iface).await {
            warn!(
                "{}: cannot apply the interface configuration: {e}",
                iface.name
            );
        }
    }

    async fn remove(&self, h: &link::Handle, tunnel: &str, spi_in: u32) {
        let tables = self.shared.tables.load_full();
        let Some(t) = tables.tunnels.get(tunnel) else {
            return;
        };
        {
            let mut slot = lock(&t.out);
            slot.remove(spi_in);
            if slot.pending.is_none() {
                t.pending_spi.store(0, Ordering::Relaxed);
            }
        }
        // A pair replaced by a rekey (the tunnel keeps a live one): its
        // inbound SA opens late packets a little longer (LINGER).
        let replaced = tables
            .inbound
            .iter()
            .any(|(s, sa)| *s != spi_in && sa.tunnel.name == tunnel && sa.live());
        match tables.inbound.get(&spi_in) {
            Some(sa) if replaced => {
                sa.retire();
                self.publish(|_| {});
            }
            _ => self.publish(|tb| {
                tb.inbound.remove(&spi_in);
            }),
        }
        let last = !self
            .shared
            .tables
            .load()
            .inbound
            .values()
            .any(|s| s.tunnel.name == tunnel && s.live());
        if last && !self.stopping && t.line_up.swap(false, Ordering::Relaxed) {
            if let Err(e) = link::set(h, t.ifindex, false, None).await {
                warn!("{tunnel}: cannot set line protocol down: {e}");
            }
            info!("{tunnel}: line protocol down (no IPsec SA)");
        }
    }

    async fn remove_interface(&self, h: &link::Handle, name: &str) {
        // While stopping, the Virtual-Access interfaces that lose their
        // last SA stay for shutdown's one group delete: deleting a
        // thousand of them one by one here waits for RCU once each
        // (17 s for a hub's thousand spokes).
        if self.stopping || !self.shared.tables.load().tunnels.contains_key(name) {
            return;
        }
        self.publish(|tb| {
            tb.tunnels.remove(name);
            tb.inbound.retain(|_, s| s.tunnel.name != name);
        });
        if let Err(e) = link::delete(h, name).await {
            warn!("{name}: cannot delete the interface: {e}");
        }
        info!("{name}: removed from the data plane");
    }

    /// Packets opened by each live inbound SA, without the rest of
    /// [`Userspace::stats`].
    fn inbound_packets(&self) -> Vec<(u32, u64)> {
        let tables = self.shared.tables.load();
        tables
            .inbound
            .iter()
            .filter(|(_, s)| s.live())
            .map(|(spi, s)| (*spi, lock(&s.sa).stats().packets))
            .collect()
    }

    fn stats(&self) -> DpStats {
        let tables = self.shared.tables.load_full();
        let mut sas: Vec<SaCounters> = tables
            .inbound
            .iter()
            .filter(|(_, s)| s.live())
            .map(|(spi, s)| {
                let i = lock(&s.sa).stats();
                let slot = lock(&s.tunnel.out);
                let o = slot.find(*spi);
                let os = o.map(|o| o.sa.stats()).unwrap_or_default();
                SaCounters {
                    tunnel: s.tunnel.name.clone(),
                    spi_in: *spi,
                    spi_out: o.map_or(0, |o| o.sa.spi()),
                    out_packets: os.packets,
                    out_bytes: os.bytes,
                    out_errors: os.errors,
                    in_packets: i.packets,
                    in_bytes: i.bytes,
                    auth_failures: i.auth_failures,
                    replay_drops: i.replay_drops,
                    decrypt_errors: i.decrypt_errors,
                    malformed: i.malformed,
                }
            })
            .collect();
        sas.sort_by(|a, b| (&a.tunnel, a.spi_in).cmp(&(&b.tunnel, b.spi_in)));
        let mut interfaces: Vec<IfCounters> = tables
            .tunnels
            .values()
            .map(|t| IfCounters {
                name: t.name.clone(),
                line_up: t.line_up.load(Ordering::Relaxed),
                mtu: t.mtu.load(Ordering::Relaxed),
                rx_packets: IfCtr::get(&t.ctr.rx_packets),
                rx_bytes: IfCtr::get(&t.ctr.rx_bytes),
                tx_packets: IfCtr::get(&t.ctr.tx_packets),
                tx_bytes: IfCtr::get(&t.ctr.tx_bytes),
                rx_errors: IfCtr::get(&t.ctr.rx_errors),
                tx_errors: IfCtr::get(&t.ctr.tx_errors),
                mss_clamped: IfCtr::get(&t.ctr.mss_clamped),
            })
            .collect();
        interfaces.sort_by(|a, b| a.name.cmp(&b.name));
        DpStats {
            backend: "userspace",
            sas,
            interfaces,
        }
    }

    /// Stop the workers and remove every interface.
    async fn shutdown(mut self, h: &link::Handle) {
        let names: Vec<String> = self.shared.tables.load().tunnels.keys().cloned().collect();
        self.shared.stop.store(true, Ordering::Relaxed);
        for w in &self.wakes {
            w.notify();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        // Every TUN that came up is in the group: one batch for the
        // kernel, while their descriptors are still open. Deleting them
        // one at a time, or letting the last descriptor of each close,
        // waits for RCU once per device: seconds for a hub's thousand
        // spokes.
        if let Err(e) = link::delete_group(h, self.group).await {
            warn!("cannot delete the tunnel interfaces as a group: {e}");
        }
        // Those that never came up (not in the group).
        for n in names {
            if let Err(e) = link::delete(h, &n).await {
                debug!("{n}: delete at shutdown: {e}");
            }
        }
        self.publish(|tb| *tb = Tables::default());
        info!("userspace data plane stopped");
    }
}

impl Shared {
    /// Whether a counter state calls for a rekey now (once per SA).
    fn soft(state: Lifetime, asked: &AtomicBool) -> bool {
        state != Lifetime::Ok && !asked.swap(true, Ordering::Relaxed)
    }

    fn raw_for(&self, remote: SocketAddr) -> Option<&RawEsp> {
        match remote {
            SocketAddr::V4(_) => self.raw4.as_ref(),
            SocketAddr::V6(_) => self.raw6.as_ref(),
        }
    }
}

/// The userspace data plane under the control task: the workers' state
/// plus the rtnetlink handle that sets up its interfaces.
struct Control {
    dp: Userspace,
    h: link::Handle,
}

impl Backend for Control {
    const NAME: &'static str = "userspace";

    async fn install(
        &mut self,
        child: Box<ChildSaParams>,
        iface: &IfaceSpec,
    ) -> Result<(), DpError> {
        self.dp.install(&self.h, &child, iface).await
    }

    async fn remove(&mut self, tunnel: &str, spi_in: u32, spi_out: u32) {
        self.dp.remove(&self.h, tunnel, spi_in).await;
        debug!("{tunnel}: SA pair in {spi_in:08x} out {spi_out:08x} removed");
    }

    async fn update(&mut self, iface: &IfaceSpec) {
        self.dp.update(&self.h, iface).await;
    }

    async fn moved(&mut self, m: &ChildMove) {
        self.dp.moved(m);
    }

    async fn remove_interface(&mut self, name: &str) {
        self.dp.remove_interface(&self.h, name).await;
    }

    async fn stats(&mut self) -> DpStats {
        self.dp.stats()
    }

    async fn inbound_packets(&mut self) -> Vec<(u32, u64)> {
        self.dp.inbound_packets()
    }

    fn stopping(&mut self) {
        self.dp.stopping = true;
    }

    async fn shutdown(self) {
        self.dp.shutdown(&self.h).await;
    }
}

/// The control task: apply the daemon's commands until the channel closes
/// or a shutdown is asked for.
pub async fn run(dp: Userspace, cmds: mpsc::UnboundedReceiver<DpCommand>) {
    let h = match link::connect() {
        Ok(h) => h,
        Err(e) => {
            warn!("data plane: no netlink: {e}");
            return;
        }
    };
    serve(Control { dp, h }, cmds).await;
}
