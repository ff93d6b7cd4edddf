//! The kernel data plane: the kernel's ESP (XFRM) carries the packets.
//!
//! Each tunnel interface is an xfrm interface of its configured name
//! (`ip link add Tunnel1 type xfrm if_id N`), and each Child SA a pair of
//! tunnel-mode XFRM states bound to that `if_id`. Six policies per tunnel
//! (out, in and fwd, for inner IPv4 and IPv6, selectors `0.0.0.0/0` and
//! `::/0`, bound to the `if_id`) send whatever the routing table puts into
//! the interface through the tunnel and accept what comes out of it;
//! packets that do not cross the interface never match them.
//!
//! Make-before-break: a rekey adds the new inbound state, then the new
//! outbound state; the kernel seals with the newest state of a policy's
//! template (same reqid) from then on, while the old inbound state keeps
//! decrypting until `Remove` deletes the old pair.
//!
//! Everything created here is marked, so that a restarted daemon removes
//! what a crashed one left behind and touches nothing else: states by a
//! reqid in [`REQID_BASE`]`..+0xffff`, policies by [`POLICY_PRIORITY`] plus
//! such a reqid in their template, interfaces by kind `xfrm` plus the alias
//! `rvpn`.
//!
//! ESP in UDP (NAT-T) needs the IKE NAT-T socket marked with
//! [`set_espinudp`]: the kernel then takes ESP arriving on it and leaves IKE
//! (behind the non-ESP marker) to the socket's reader.

mod algs;
mod xfrm;

use super::{
    serve, Backend, Direction, DpCommand, DpError, DpStats, IfCounters, IfaceSpec, SaCounters,
};
pub use algs::AlgError;
use algs::KernelAlg;
use esp_io::link;
use ike::sa::{ChildMove, ChildSaParams};
use netlink_packet_xfrm::{XFRM_POLICY_FWD, XFRM_POLICY_IN, XFRM_POLICY_OUT};
use std::collections::BTreeMap;
use std::io;
use std::net::IpAddr;
use std::os::fd::RawFd;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;
use tracing::{debug, error, info, warn};
pub use xfrm::NlError;
use xfrm::{Limits, PolicySpec, SaSpec, Xfrm};

/// rvpn's XFRM reqids: this base plus a 16-bit number per tunnel.
pub const REQID_BASE: u32 = 0x7276_0000;
const REQID_MASK: u32 = 0xffff_0000;
/// The reqid of the probe's throw-away state.
const PROBE_REQID: u32 = REQID_BASE | 0xffff;
/// The priority of rvpn's policies (an unusual value, part of the mark).
pub const POLICY_PRIORITY: u32 = 0x0052_5650;
/// Directions of the policies of a tunnel.
const DIRS: [u8; 3] = [XFRM_POLICY_OUT, XFRM_POLICY_IN, XFRM_POLICY_FWD];

fn is_our_reqid(r: u32) -> bool {
    r & REQID_MASK == REQID_BASE
}

/// Let the kernel decapsulate ESP in UDP arriving on the UDP socket `fd`
/// (the IKE NAT-T socket, port 4500); IKE packets, which start with the
/// non-ESP marker, still reach the socket. A duplicated descriptor of the
/// socket works as well.
pub fn set_espinudp(fd: RawFd) -> io::Result<()> {
    if fd < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: the descriptor is only borrowed for one setsockopt(2); one
    // closed meanwhile makes the call fail, nothing else.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    esp_io::sockopt::set_espinudp(&fd)
}

/// Whether this kernel can carry ESP through xfrm interfaces: creates a
/// throw-away xfrm interface and a throw-away AES-GCM state, and removes
/// both. Says why not in one log line.
pub async fn probe() -> bool {
    match tokio::time::timeout(Duration::from_secs(5), probe_kernel()).await {
        Ok(Ok(())) => {
            debug!("kernel data plane probe: ESP, AES-GCM and xfrm interfaces work");
            true
        }
        Ok(Err(why)) => {
            info!("kernel data plane unavailable: {why}");
            false
        }
        Err(_) => {
            info!("kernel data plane unavailable: the probe got no answer within 5 s");
            false
        }
    }
}

/// Why the kernel cannot carry rvpn's ESP (the probe's step that failed).
#[derive(Debug)]
enum ProbeError {
    XfrmSocket(io::Error),
    RtnlSocket(io::Error),
    NoXfrmInterface(link::LinkError),
    Alg(algs::AlgError),
    AddState(NlError),
    DelState(NlError),
    DelInterface(link::LinkError),
}

impl std::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProbeError::XfrmSocket(e) => write!(f, "no XFRM netlink socket: {e}"),
            ProbeError::RtnlSocket(e) => write!(f, "no rtnetlink socket: {e}"),
            ProbeError::NoXfrmInterface(e) => write!(f, "no xfrm interfaces: {e}"),
            ProbeError::Alg(e) => write!(f, "{e}"),
            ProbeError::AddState(e) => {
                write!(f, "cannot add an ESP state with rfc4106(gcm(aes)): {e}")
            }
            ProbeError::DelState(e) => write!(f, "cannot delete the probe's ESP state: {e}"),
            ProbeError::DelInterface(e) => write!(f, "cannot delete the probe's interface: {e}"),
        }
    }
}

async fn probe_kernel() -> Result<(), ProbeError> {
    let x = Xfrm::connect().map_err(ProbeError::XfrmSocket)?;
    let rt = link::connect().map_err(ProbeError::RtnlSocket)?;
    let pid = std::process::id();
    let name = format!("rvpnprobe{}", pid % 100_000);
    let if_id = 0x7fff_0000 | (pid & 0xffff);
    let index = link::create_xfrm(&rt, &name, if_id)
        .await
        .map_err(ProbeError::NoXfrmInterface)?;
    let key = [0u8; 20];
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let spi = 0xc000_0000 | ((pid << 12) ^ nanos) & 0x3fff_ffff;
    let (src, dst): (IpAddr, IpAddr) = ([127, 0, 0, 1].into(), [127, 0, 0, 2].into());
    let sa = SaSpec {
        src,
        dst,
        spi,
        reqid: PROBE_REQID,
        if_id,
        alg: KernelAlg::from_iana((20, 128), None).map_err(ProbeError::Alg)?,
        enc_key: &key,
        auth_key: &[],
        esn: false,
        replay_window: 32,
        encap: None,
        limits: Limits::default(),
    };
    let added = x.add_sa(&sa).await;
    let deleted = if added.is_ok() {
        x.del_sa(dst, spi).await.map(|_| ())
    } else {
        Ok(())
    };
    let unlinked = link::delete(&rt, index).await;
    added.map_err(ProbeError::AddState)?;
    deleted.map_err(ProbeError::DelState)?;
    unlinked.map_err(ProbeError::DelInterface)
}

/// One installed SA pair.
#[derive(Debug, Clone)]
struct Pair {
    spi_in: u32,
    spi_out: u32,
    local: IpAddr,
    remote: IpAddr,
}

/// A tunnel interface and what the kernel holds for it.
#[derive(Debug)]
struct Tunnel {
    if_id: u32,
    reqid: u32,
    index: u32,
    /// Oldest first.
    pairs: Vec<Pair>,
    /// Addresses rvpn put on the interface.
    addresses: Vec<ipnetwork::IpNetwork>,
    /// The outer addresses the policies were installed for.
    policy_addrs: Option<(IpAddr, IpAddr)>,
    /// (direction, inner IPv6) of the installed policies.
    policies: Vec<(u8, bool)>,
}

/// The kernel backend's state.
struct Kernel {
    xfrm: Xfrm,
    rt: rtnetlink::Handle,
    tunnels: BTreeMap<String, Tunnel>,
    next_reqid: u32,
    /// Rekeys we answered whose outbound SA waits for the old pair's
    /// removal: (tunnel, the new Child SA).
    deferred: Vec<(String, Box<ChildSaParams>)>,
    /// (destination, SPI) of every SA installed -> its pair's inbound SPI,
    /// for the kernel's expiry notices.
    by_sa: SaIndex,
    /// The IKE task's rekey queue: a pair whose addresses changed is
    /// replaced by a rekey onto the new ones.
    rekey: tokio::sync::mpsc::UnboundedSender<u32>,
}

/// See [`Kernel::by_sa`].
type SaIndex = std::sync::Arc<std::sync::Mutex<std::collections::HashMap<(IpAddr, u32), u32>>>;

/// Turns the kernel's expiry notices into rekey requests to IKE: a soft
/// limit (bytes, packets) asks for a rekey of the pair; a hard one says
/// that the kernel deleted the SA, and asks too (IKE replaces the pair).
/// None is dropped. NAT mapping notices (ESP in UDP that passed its
/// integrity check but came from a new address or port) go to IKE, once
/// per pair and address (the kernel sends one per such packet), which
/// decides whether to follow (`Engine::handle_esp_mapping`).
async fn expiries(
    mut notices: tokio::sync::mpsc::UnboundedReceiver<xfrm::SaNotice>,
    by_sa: SaIndex,
    rekey: tokio::sync::mpsc::UnboundedSender<u32>,
    mapping: tokio::sync::mpsc::UnboundedSender<(u32, std::net::SocketAddr)>,
) {
    let mut reported: std::collections::HashMap<u32, std::net::SocketAddr> =
        std::collections::HashMap::new();
    while let Some(n) = notices.recv().await {
        let e = match n {
            xfrm::SaNotice::Expired(e) => e,
            xfrm::SaNotice::Mapped(m) => {
                let spi_in = {
                    let map = by_sa.lock().unwrap_or_else(|p| p.into_inner());
                    map.get(&(m.dst, m.spi)).copied()
                };
                let Some(spi_in) = spi_in else { continue };
                if reported.get(&spi_in) == Some(&m.from) {
                    continue;
                }
                reported.retain(|k, _| {
                    by_sa
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .values()
                        .any(|v| v == k)
                });
                reported.insert(spi_in, m.from);
                info!(
                    "SA {:08x}: the kernel saw its ESP arrive from {}: telling IKE",
                    m.spi, m.from
                );
                if mapping.send((spi_in, m.from)).is_err() {
                    return;
                }
                continue;
            }
        };
        let spi_in = {
            let mut m = by_sa.lock().unwrap_or_else(|p| p.into_inner());
            let v = m.get(&(e.dst, e.spi)).copied();
            if e.hard {
                m.remove(&(e.dst, e.spi));
            }
            v
        };
        let Some(spi_in) = spi_in else {
            debug!(
                "kernel: expiry of an SA that is not ours: {:08x} to {}",
                e.spi, e.dst
            );
            continue;
        };
        if e.hard {
            warn!(
                "SA {:08x} to {} reached its hard lifetime: the kernel deleted it; asking IKE to rekey pair {spi_in:08x}",
                e.spi, e.dst
            );
        } else {
            info!(
                "SA {:08x} to {} reached its soft lifetime in the kernel: asking IKE to rekey pair {spi_in:08x}",
                e.spi, e.dst
            );
        }
        // The IKE task's rekey queue: unbounded, and each SA asks at most
        // twice (soft, then hard), so it stays small.
        if rekey.send(spi_in).is_err() {
            return;
        }
    }
}

/// Where a Child SA's ESP goes, resolved for the kernel.
#[derive(Clone, Copy)]
struct Endpoints {
    alg: KernelAlg,
    local: IpAddr,
    remote: IpAddr,
    /// ESP in UDP: (our port, the peer's port).
    encap: Option<(u16, u16)>,
}

fn endpoints(c: &ChildSaParams) -> Result<Endpoints, DpError> {
    let alg = KernelAlg::from_iana(c.chosen.encr, c.chosen.integ).map_err(DpError::Alg)?;
    let remote = c.remote.ip().to_canonical();
    let mut local = c.local.ip().to_canonical();
    if local.is_unspecified() {
        local = source_for(remote).map_err(|source| DpError::NoSource { remote, source })?;
    }
    if local.is_ipv4() != remote.is_ipv4() {
        return Err(DpError::MixedFamilies { local, remote });
    }
    // ESP in UDP from our NAT-T port to the peer's.
    let encap = c.encap.then(|| {
        (
            port_or_default(c.local.port()),
            port_or_default(c.remote.port()),
        )
    });
    Ok(Endpoints {
        alg,
        local,
        remote,
        encap,
    })
}

/// The inbound state of pair `c` on the tunnel with `reqid` and `if_id`;
/// its outbound one is the mirror image ([`Kernel::add_outbound`]).
fn inbound_spec<'a>(c: &'a ChildSaParams, ep: &Endpoints, reqid: u32, if_id: u32) -> SaSpec<'a> {
    let (ek, ak) = c.inbound_keys();
    SaSpec {
        src: ep.remote,
        dst: ep.local,
        spi: c.spi_in,
        reqid,
        if_id,
        alg: ep.alg,
        enc_key: ek,
        auth_key: ak,
        esn: c.chosen.esn,
        replay_window: c.replay_window,
        encap: ep.encap.map(|(l, r)| (r, l)),
        limits: limits(c),
    }
}

/// How long after IKE's own hard lifetime the kernel deletes an SA by
/// itself: IKE deletes it first while it runs.
const HARD_MARGIN: Duration = Duration::from_secs(2);

/// The kernel's limits for the SAs of pair `c`: the configured kilobytes
/// (soft at 90%, as in the userspace data plane), without ESN the 32-bit
/// sequence space (soft at 7/8: a rekey well before the wrap, hard before
/// it), and IKE's hard time lifetime plus [`HARD_MARGIN`], so that a
/// daemon killed with -9 leaves no SA behind for long.
fn limits(c: &ChildSaParams) -> Limits {
    let bytes = (c.lifetime_kb > 0).then(|| {
        let hard = c.lifetime_kb.saturating_mul(1024);
        (hard - hard / 10, hard)
    });
    Limits {
        bytes,
        packets: (!c.chosen.esn).then_some((0xE000_0000, 0xFFFF_FFFF)),
        hard_secs: (!c.hard_lifetime.is_zero())
            .then(|| (c.hard_lifetime + HARD_MARGIN).as_secs_f64().ceil() as u64),
    }
}

/// Run the kernel data plane until `Shutdown` (or until the command
/// channel closes), removing everything it created before returning. At
/// start it removes what an earlier rvpnd left in the kernel.
pub async fn run(
    cmds: UnboundedReceiver<DpCommand>,
    rekey: tokio::sync::mpsc::UnboundedSender<u32>,
    mapping: tokio::sync::mpsc::UnboundedSender<(u32, std::net::SocketAddr)>,
) {
    let xfrm = match Xfrm::connect() {
        Ok(x) => x,
        Err(e) => {
            error!("kernel data plane: no XFRM netlink socket: {e}; no tunnel will carry traffic");
            return;
        }
    };
    let rt = match link::connect() {
        Ok(h) => h,
        Err(e) => {
            error!("kernel data plane: no rtnetlink socket: {e}; no tunnel will carry traffic");
            return;
        }
    };
    let mut b = Kernel {
        xfrm,
        rt,
        tunnels: BTreeMap::new(),
        next_reqid: 1,
        deferred: Vec::new(),
        by_sa: SaIndex::default(),
        rekey: rekey.clone(),
    };
    match xfrm::expire_events() {
        Ok(rx) => {
            tokio::spawn(expiries(rx, b.by_sa.clone(), rekey, mapping));
        }
        Err(e) => error!(
            "kernel data plane: no XFRM expiry notices ({e}): volume lifetimes will not rekey"
        ),
    }
    b.reconcile("left by an earlier rvpnd").await;
    info!("kernel data plane ready (XFRM + xfrm interfaces)");
    serve(b, cmds).await;
}

impl Backend for Kernel {
    const NAME: &'static str = "kernel";

    async fn install(
        &mut self,
        child: Box<ChildSaParams>,
        iface: &IfaceSpec,
    ) -> Result<(), DpError> {
        if self.install_pair(&child, iface).await? {
            self.deferred.push((iface.name.clone(), child));
        }
        Ok(())
    }

    async fn remove(&mut self, tunnel: &str, spi_in: u32, spi_out: u32) {
        self.remove_pair(tunnel, spi_in, spi_out).await;
    }

    async fn update(&mut self, iface: &IfaceSpec) {
        self.apply_config(iface).await;
    }

    /// An XFRM state's addresses are part of its identity and its
    /// sequence numbers live in the kernel, so a moved pair is replaced
    /// by a Child SA rekey onto the new addresses (make-before-break, as
    /// every rekey): IKE builds the new pair from the moved IKE SA.
    async fn moved(&mut self, m: &ChildMove) {
        let known = self
            .tunnels
            .get(&m.tunnel)
            .is_some_and(|t| t.pairs.iter().any(|p| p.spi_in == m.spi_in));
        if !known {
            return;
        }
        info!(
            "{}: SA pair in {:08x} out {:08x} moves to {}: asking IKE to rekey it onto the new addresses",
            m.tunnel, m.spi_in, m.spi_out, m.remote
        );
        let _ = self.rekey.send(m.spi_in);
    }

    async fn remove_interface(&mut self, name: &str) {
        if let Some(t) = self.tunnels.remove(name) {
            self.teardown(name, t).await;
        }
    }

    async fn stats(&mut self) -> DpStats {
        self.read_stats().await
    }

    /// One dump of the kernel's SAs ([`Kernel::sa_counters`]), without
    /// `read_stats`'s read of every interface.
    async fn inbound_packets(&mut self) -> Vec<(u32, u64)> {
        let sas = self.sa_counters().await;
        self.tunnels
            .values()
            .flat_map(|t| {
                t.pairs.iter().filter_map(|p| {
                    sas.get(&(p.local, p.spi_in, t.reqid))
                        .map(|s| (p.spi_in, s.packets))
                })
            })
            .collect()
    }

    async fn shutdown(mut self) {
        self.remove_all().await;
    }
}

/// The local address the kernel would use towards `remote` (for SAs of an
/// IKE SA that answered on a wildcard socket).
fn source_for(remote: IpAddr) -> io::Result<IpAddr> {
    let any: IpAddr = if remote.is_ipv4() {
        [0u8, 0, 0, 0].into()
    } else {
        [0u16; 8].into()
    };
    let s = std::net::UdpSocket::bind((any, 0))?;
    s.connect((remote, 4500))?;
    Ok(s.local_addr()?.ip())
}

fn port_or_default(p: u16) -> u16 {
    if p == 0 {
        4500
    } else {
        p
    }
}

impl Kernel {
    fn alloc_reqid(&mut self) -> u32 {
        for _ in 0..=0xfffe {
            let n = self.next_reqid;
            self.next_reqid = if n >= 0xfffe { 1 } else { n + 1 };
            let r = REQID_BASE | n;
            if !self.tunnels.values().any(|t| t.reqid == r) {
                return r;
            }
        }
        REQID_BASE | 0xfffe
    }

    /// Make sure the xfrm interface of `iface` exists and is ours, and
    /// that a tunnel record exists for it.
    async fn ensure_tunnel(&mut self, iface: &IfaceSpec) -> Result<(), DpError> {
        let name = &iface.name;
        if iface.if_id == 0 {
            return Err(DpError::NoIfId);
        }
        if let Some(t) = self.tunnels.get(name) {
            if t.if_id != iface.if_id {
                warn!(
                    "{name}: if_id changed from {} to {}: recreating the interface",
                    t.if_id, iface.if_id
                );
                if let Some(t) = self.tunnels.remove(name) {
                    self.teardown(name, t).await;
                }
            }
        }
        let existing = link::get(&self.rt, name).await?;
        let index = match existing {
            Some(l) if l.is_ours() && l.if_id == Some(iface.if_id) => l.index,
            Some(l) if l.is_ours() => {
                link::delete(&self.rt, l.index).await?;
                link::create_xfrm(&self.rt, name, iface.if_id).await?
            }
            Some(l) => {
                return Err(DpError::Foreign {
                    name: name.clone(),
                    kind: l.kind,
                    alias: l.alias,
                })
            }
            None => {
                let index = link::create_xfrm(&self.rt, name, iface.if_id).await?;
                info!("{name}: xfrm interface created (if_id {})", iface.if_id);
                index
            }
        };
        match self.tunnels.get_mut(name) {
            Some(t) => t.index = index,
            None => {
                let reqid = self.alloc_reqid();
                self.tunnels.insert(
                    name.clone(),
                    Tunnel {
                        if_id: iface.if_id,
                        reqid,
                        index,
                        pairs: Vec::new(),
                        addresses: Vec::new(),
                        policy_addrs: None,
                        policies: Vec::new(),
                    },
                );
            }
        }
        Ok(())
    }

    /// Install (or move) the six policies of a tunnel for these outer
    /// addresses. IPv4 ones must succeed; IPv6 ones may fail (a kernel or
    /// namespace without IPv6) with a warning.
    async fn ensure_policies(
        &mut self,
        name: &str,
        local: IpAddr,
        remote: IpAddr,
    ) -> Result<(), DpError> {
        let Some(t) = self.tunnels.get_mut(name) else {
            return Err(DpError::Vanished);
        };
        if t.policy_addrs == Some((local, remote)) {
            return Ok(());
        }
        for v6 in [false, true] {
            for dir in DIRS {
                let spec = PolicySpec {
                    dir,
                    inner_v6: v6,
                    local,
                    remote,
                    reqid: t.reqid,
                    if_id: t.if_id,
                    priority: POLICY_PRIORITY,
                };
                let update = t.policies.contains(&(dir, v6));
                match self.xfrm.put_policy(&spec, update).await {
                    Ok(()) => {
                        if !update {
                            t.policies.push((dir, v6));
                        }
                    }
                    Err(e) if v6 => {
                        warn!("{name}: no IPv6 policy (dir {dir}): {e}; IPv6 will not cross the tunnel");
                    }
                    Err(source) => {
                        return Err(DpError::Policy {
                            dir,
                            local,
                            remote,
                            if_id: t.if_id,
                            source,
                        })
                    }
                }
            }
        }
        t.policy_addrs = Some((local, remote));
        Ok(())
    }

    /// Install an SA pair. Returns true when the outbound SA was held back
    /// (see [`Kernel::deferred`]); the caller keeps the Child SA for
    /// [`Kernel::release_deferred`].
    async fn install_pair(
        &mut self,
        c: &ChildSaParams,
        iface: &IfaceSpec,
    ) -> Result<bool, DpError> {
        let ep = endpoints(c)?;
        let Endpoints {
            alg,
            local,
            remote,
            encap,
        } = ep;
        let name = iface.name.as_str();
        // A rekey adds the new inbound SA before anything else: the peer
        // may use it as soon as it sees our answer. The interface is
        // checked afterwards.
        let known = self
            .tunnels
            .get(name)
            .is_some_and(|t| t.if_id == iface.if_id);
        if !known {
            self.ensure_tunnel(iface).await?;
        }
        let (reqid, if_id) = match self.tunnels.get(name) {
            Some(t) => (t.reqid, t.if_id),
            None => return Err(DpError::Vanished),
        };
        let inbound = inbound_spec(c, &ep, reqid, if_id);
        self.xfrm
            .add_sa(&inbound)
            .await
            .map_err(|source| DpError::State {
                dir: Direction::Inbound,
                spi: c.spi_in,
                src: remote,
                dst: local,
                source,
            })?;
        if known {
            if let Err(e) = self.ensure_tunnel(iface).await {
                self.del_sa_logged(name, local, c.spi_in).await;
                return Err(e);
            }
        }
        let Some(index) = self.tunnels.get(name).map(|t| t.index) else {
            return Err(DpError::Vanished);
        };
        if let Err(e) = self.ensure_policies(name, local, remote).await {
            self.del_sa_logged(name, local, c.spi_in).await;
            return Err(e);
        }
        // The answering side of a rekey keeps sealing with the old SA (the
        // kernel seals with the newest outbound state) until the old pair
        // goes: the peer installs its new inbound SA only when our answer
        // arrives, and deletes the old pair after that.
        let defer = c.rekey_of.is_some()
            && !c.we_initiated
            && self.tunnels.get(name).is_some_and(|t| !t.pairs.is_empty());
        if !defer {
            if let Err(e) = self.add_outbound(c, &inbound).await {
                self.del_sa_logged(name, local, c.spi_in).await;
                return Err(e);
            }
        }
        {
            let mut m = self.by_sa.lock().unwrap_or_else(|p| p.into_inner());
            m.insert((local, c.spi_in), c.spi_in);
            m.insert((remote, c.spi_out), c.spi_in);
        }
        if let Some(t) = self.tunnels.get_mut(name) {
            t.pairs.push(Pair {
                spi_in: c.spi_in,
                spi_out: c.spi_out,
                local,
                remote,
            });
        }
        info!(
            "{name}: kernel SA pair installed: in {:08x} out {:08x}, {}, {}, {local} <-> {remote}, if_id {if_id}, reqid {reqid:#x}{}",
            c.spi_in,
            c.spi_out,
            alg.describe(),
            match encap {
                Some((l, r)) => format!("ESP in UDP {l}->{r}"),
                None => "ESP".into(),
            },
            c.rekey_of
                .map(|o| format!(", rekey of {o:08x}"))
                .unwrap_or_default()
        );
        // The line protocol comes up with the first pair (the SAs are in
        // place whatever happens to the interface settings).
        if let Err(e) = link::set(&self.rt, index, true, Some(iface.mtu)).await {
            error!("{name}: SA pair installed, but the interface: {e}");
        }
        self.addresses(iface).await;
        if iface.tcp_adjust_mss.is_some() {
            debug!("{name}: ip tcp adjust-mss is not applied by the kernel data plane");
        }
        Ok(defer)
    }

    /// The outbound state of pair `c`, with the settings of its inbound one.
    async fn add_outbound(&self, c: &ChildSaParams, inbound: &SaSpec<'_>) -> Result<(), DpError> {
        let (ek, ak) = c.outbound_keys();
        let outbound = SaSpec {
            src: inbound.dst,
            dst: inbound.src,
            spi: c.spi_out,
            enc_key: ek,
            auth_key: ak,
            encap: inbound.encap.map(|(r, l)| (l, r)),
            ..*inbound
        };
        self.xfrm
            .add_sa(&outbound)
            .await
            .map_err(|source| DpError::State {
                dir: Direction::Outbound,
                spi: c.spi_out,
                src: outbound.src,
                dst: outbound.dst,
                source,
            })
    }

    /// The old pair of held-back rekeys is going: seal with the new pairs.
    async fn release_deferred(&mut self, tunnel: &str, old_spi_in: u32) {
        let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.deferred)
            .into_iter()
            .partition(|(t, c)| t == tunnel && c.rekey_of == Some(old_spi_in));
        self.deferred = later;
        for (name, c) in now {
            let Some((reqid, if_id)) = self.tunnels.get(&name).map(|t| (t.reqid, t.if_id)) else {
                continue;
            };
            let r = match endpoints(&c) {
                Ok(ep) => {
                    self.add_outbound(&c, &inbound_spec(&c, &ep, reqid, if_id))
                        .await
                }
                Err(e) => Err(e),
            };
            match r {
                Ok(()) => info!(
                    "{name}: outbound SA {:08x} in use (the peer deletes {old_spi_in:08x})",
                    c.spi_out
                ),
                Err(e) => error!("{name}: {e}"),
            }
        }
    }

    /// Bring the interface's addresses to what `iface` says.
    async fn addresses(&mut self, iface: &IfaceSpec) {
        let name = &iface.name;
        let Some(t) = self.tunnels.get_mut(name) else {
            return;
        };
        for a in t.addresses.iter().filter(|a| !iface.addresses.contains(a)) {
            if let Err(e) = link::del_address(&self.rt, name, a.ip(), a.prefix()).await {
                error!("{name}: cannot remove address {a}: {e}");
            }
        }
        for a in &iface.addresses {
            if let Err(e) = link::add_address(&self.rt, t.index, a.ip(), a.prefix()).await {
                error!("{name}: cannot add address {a}: {e}");
            }
        }
        t.addresses = iface.addresses.clone();
    }

    /// A configuration change of an interface this backend has: MTU and
    /// addresses.
    async fn apply_config(&mut self, iface: &IfaceSpec) {
        let Some(t) = self.tunnels.get(&iface.name) else {
            return;
        };
        let (index, up) = (t.index, !t.pairs.is_empty());
        if let Err(e) = link::set(&self.rt, index, up, Some(iface.mtu)).await {
            error!("{}: cannot set the MTU: {e}", iface.name);
        }
        self.addresses(iface).await;
    }

    async fn del_sa_logged(&self, name: &str, dst: IpAddr, spi: u32) {
        self.by_sa
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(dst, spi));
        match self.xfrm.del_sa(dst, spi).await {
            Ok(true) => {}
            Ok(false) => debug!("{name}: SA {spi:08x} to {dst} was already gone"),
            Err(e) => error!("{name}: cannot delete SA {spi:08x} to {dst}: {e}"),
        }
    }

    async fn remove_pair(&mut self, tunnel: &str, spi_in: u32, spi_out: u32) {
        // New pairs held back for this one take over before it goes.
        self.release_deferred(tunnel, spi_in).await;
        self.deferred
            .retain(|(t, c)| !(t == tunnel && c.spi_in == spi_in));
        let Some(t) = self.tunnels.get_mut(tunnel) else {
            debug!("{tunnel}: no kernel tunnel to remove SA {spi_in:08x} from");
            return;
        };
        let Some(pos) = t
            .pairs
            .iter()
            .position(|p| p.spi_in == spi_in && p.spi_out == spi_out)
        else {
            debug!("{tunnel}: SA pair in {spi_in:08x} out {spi_out:08x} is not installed");
            return;
        };
        let p = t.pairs.remove(pos);
        let last = t.pairs.is_empty();
        let index = t.index;
        // Outbound first: new traffic already uses a newer pair, if any.
        self.del_sa_logged(tunnel, p.remote, p.spi_out).await;
        self.del_sa_logged(tunnel, p.local, p.spi_in).await;
        info!("{tunnel}: kernel SA pair in {spi_in:08x} out {spi_out:08x} removed");
        if last {
            match link::set(&self.rt, index, false, None).await {
                Ok(()) => info!("{tunnel}: no SA left, line protocol down"),
                Err(e) => error!("{tunnel}: {e}"),
            }
        }
    }

    /// Remove a tunnel's states, policies and interface.
    async fn teardown(&mut self, name: &str, t: Tunnel) {
        for p in &t.pairs {
            self.del_sa_logged(name, p.remote, p.spi_out).await;
            self.del_sa_logged(name, p.local, p.spi_in).await;
        }
        for (dir, v6) in &t.policies {
            if let Err(e) = self.xfrm.del_policy(*dir, *v6, t.if_id).await {
                error!("{name}: cannot delete policy dir {dir}: {e}");
            }
        }
        match link::get(&self.rt, t.index).await {
            Ok(Some(l)) if l.is_ours() => match link::delete(&self.rt, t.index).await {
                Ok(()) => info!("{name}: xfrm interface removed"),
                Err(e) => error!("{name}: {e}"),
            },
            Ok(_) => {}
            Err(e) => error!("{name}: {e}"),
        }
    }

    async fn remove_all(&mut self) {
        let tunnels = std::mem::take(&mut self.tunnels);
        for (name, t) in tunnels {
            self.teardown(&name, t).await;
        }
        self.reconcile("after shutdown").await;
        info!("kernel data plane stopped; its states, policies and interfaces are removed");
    }

    /// Remove every marked state, policy and interface that no tunnel of
    /// this backend owns.
    async fn reconcile(&mut self, what: &str) {
        let live_reqids: Vec<u32> = self.tunnels.values().map(|t| t.reqid).collect();
        let live_links: Vec<u32> = self.tunnels.values().map(|t| t.index).collect();
        let (mut states, mut policies, mut links) = (0, 0, 0);
        match self.xfrm.dump_policies().await {
            Ok(ps) => {
                for p in ps {
                    let ours = p.priority == POLICY_PRIORITY
                        && !p.reqids.is_empty()
                        && p.reqids.iter().all(|&r| is_our_reqid(r));
                    if !ours || p.reqids.iter().any(|r| live_reqids.contains(r)) {
                        continue;
                    }
                    match self.xfrm.del_policy_entry(&p).await {
                        Ok(true) => policies += 1,
                        Ok(false) => {}
                        Err(e) => error!(
                            "kernel data plane: cannot remove stale policy {}: {e}",
                            p.index
                        ),
                    }
                }
            }
            Err(e) => error!("kernel data plane: cannot list XFRM policies: {e}"),
        }
        match self.xfrm.dump_sas().await {
            Ok(sas) => {
                for s in sas {
                    if !is_our_reqid(s.reqid) || live_reqids.contains(&s.reqid) {
                        continue;
                    }
                    let Some(dst) = s.dst else { continue };
                    match self.xfrm.del_sa(dst, s.spi).await {
                        Ok(true) => states += 1,
                        Ok(false) => {}
                        Err(e) => error!(
                            "kernel data plane: cannot remove stale SA {:08x} to {dst}: {e}",
                            s.spi
                        ),
                    }
                }
            }
            Err(e) => error!("kernel data plane: cannot list XFRM states: {e}"),
        }
        match link::all(&self.rt).await {
            Ok(ls) => {
                for l in ls {
                    if !l.is_ours() || live_links.contains(&l.index) {
                        continue;
                    }
                    match link::delete(&self.rt, l.index).await {
                        Ok(()) => links += 1,
                        Err(e) => error!("kernel data plane: cannot remove stale {}: {e}", l.name),
                    }
                }
            }
            Err(e) => error!("kernel data plane: {e}"),
        }
        if states + policies + links > 0 {
            info!(
                "kernel data plane: removed {states} states, {policies} policies and {links} xfrm interfaces {what}"
            );
        }
    }

    /// The kernel's SAs with their counters, by (destination, SPI,
    /// reqid): one dump, looked up by key (a hub has thousands).
    async fn sa_counters(&self) -> std::collections::HashMap<(IpAddr, u32, u32), xfrm::SaEntry> {
        match self.xfrm.dump_sas().await {
            Ok(sas) => sas
                .into_iter()
                .filter_map(|s| Some(((s.dst?, s.spi, s.reqid), s)))
                .collect(),
            Err(e) => {
                warn!("kernel data plane: cannot read SA counters: {e}");
                Default::default()
            }
        }
    }

    async fn read_stats(&self) -> DpStats {
        let sas = self.sa_counters().await;
        let find = |dst: IpAddr, spi: u32, reqid: u32| sas.get(&(dst, spi, reqid));
        let mut out = DpStats {
            backend: "kernel",
            ..DpStats::default()
        };
        for (name, t) in &self.tunnels {
            for p in &t.pairs {
                let mut c = SaCounters {
                    tunnel: name.clone(),
                    spi_in: p.spi_in,
                    spi_out: p.spi_out,
                    ..SaCounters::default()
                };
                if let Some(o) = find(p.remote, p.spi_out, t.reqid) {
                    c.out_packets = o.packets;
                    c.out_bytes = o.bytes;
                }
                if let Some(i) = find(p.local, p.spi_in, t.reqid) {
                    c.in_packets = i.packets;
                    c.in_bytes = i.bytes;
                    c.auth_failures = u64::from(i.integrity_failed);
                    c.replay_drops = u64::from(i.replay);
                }
                out.sas.push(c);
            }
            let mut i = IfCounters {
                name: name.clone(),
                ..IfCounters::default()
            };
            match link::get(&self.rt, t.index).await {
                Ok(Some(l)) => {
                    i.line_up = l.up && !t.pairs.is_empty();
                    i.mtu = l.mtu;
                    if let Some(s) = l.stats {
                        i.rx_packets = s.rx_packets;
                        i.rx_bytes = s.rx_bytes;
                        i.tx_packets = s.tx_packets;
                        i.tx_bytes = s.tx_bytes;
                        i.rx_errors = s.rx_errors;
                        i.tx_errors = s.tx_errors;
                    }
                }
                Ok(None) => {}
                Err(e) => warn!("{name}: {e}"),
            }
            out.interfaces.push(i);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reqid_marks() {
        assert!(is_our_reqid(REQID_BASE | 1));
        assert!(is_our_reqid(PROBE_REQID));
        assert!(!is_our_reqid(1));
        assert!(!is_our_reqid(0x7277_0001));
    }

    #[test]
    fn espinudp_on_a_bad_descriptor_is_an_error() {
        assert!(set_espinudp(-1).is_err());
    }

    #[test]
    fn probe_answers_quickly() {
        // Whatever this kernel is, the probe answers (false where there is
        // no ESP or no xfrm interface, or without CAP_NET_ADMIN) in time.
        // It runs in a network namespace of its own thread when it can
        // (root), so that it never touches the test machine's.
        let t = std::time::Instant::now();
        let answered = std::thread::spawn(|| {
            // SAFETY: unshare(2) affects only this thread's namespaces.
            let _ = unsafe { libc::unshare(libc::CLONE_NEWNET) };
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(probe())
        })
        .join();
        assert!(answered.is_ok());
        assert!(t.elapsed() < Duration::from_secs(6));
    }
}
