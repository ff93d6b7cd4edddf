//! The I/O around the sans-IO [`Engine`]: UDP sockets on the IKE ports
//! (500 and 4500 with the non-ESP marker), the timer, and channels to the
//! daemon. One task owns the engine and every SA; nothing is locked.

use crate::crypto::rand::SystemRandom;
use crate::sa::config::EngineConfig;
use crate::sa::{ChildMove, ChildSaParams, Engine, GuardStats, IkeSaInfo, Output, TunnelStatus};
use esp_io::pktinfo;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};

/// The non-ESP marker that precedes IKE on port 4500 (RFC 3948).
const NON_ESP_MARKER: [u8; 4] = [0; 4];

/// Where the driver listens.
#[derive(Debug, Clone, Copy)]
pub struct DriverConfig {
    /// The IKE port (500 by default).
    pub port: u16,
    /// The NAT-T port (4500 by default), where IKE follows the non-ESP marker.
    pub natt_port: u16,
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig {
            port: 500,
            natt_port: 4500,
        }
    }
}

/// What the daemon asks of the IKE task.
#[derive(Debug)]
pub enum Command {
    /// `clear crypto session [peer ADDR]`.
    Clear(Option<IpAddr>),
    /// A snapshot for show commands.
    Snapshot(oneshot::Sender<Snapshot>),
    /// The daemon is stopping: send every peer a Delete for its IKE SA
    /// ([`Engine::shutdown`]) and end the task. Answered with the number
    /// of Deletes sent, once they are sent (their answers are not
    /// awaited).
    Shutdown(oneshot::Sender<usize>),
}

/// Everything the IKE task takes besides datagrams.
#[derive(Debug)]
pub struct Control {
    /// The tunnel configuration. A watch channel: only the latest one
    /// counts (unchanged tunnels keep their SAs), so a burst of commits
    /// neither queues nor loses one. A configuration published before a
    /// [`Command`] was sent is applied before that command.
    pub config: watch::Receiver<EngineConfig>,
    /// Requests of the daemon (bounded: a sender waits for room).
    pub cmds: mpsc::Receiver<Command>,
    /// The data plane asks for a rekey of the Child SA with this inbound
    /// SPI (volume lifetime or sequence numbers nearly used up). It asks
    /// at most once per SA, so this queue is bounded by the number of SAs,
    /// and a data-plane thread never waits on it.
    pub rekeys: mpsc::UnboundedReceiver<u32>,
    /// The data plane opened ESP of the Child SA with this inbound SPI
    /// (integrity verified) that came from another address or port than
    /// the SA sends to: the peer's NAT mapping may have changed
    /// ([`Engine::handle_esp_mapping`]). Reported once per SA and new
    /// address, so bounded like `rekeys`.
    pub mappings: mpsc::UnboundedReceiver<(u32, SocketAddr)>,
    /// The inbound SPIs of the Child SAs whose ESP the data plane opened
    /// since its last report ([`Engine::esp_heard`]); the daemon reports
    /// every few seconds while a tunnel has DPD on demand.
    pub heard: mpsc::UnboundedReceiver<Vec<u32>>,
}

/// What the IKE task tells the daemon.
#[derive(Debug)]
pub enum Event {
    /// A Child SA is up: install it and answer `installed`. IKE holds
    /// back what it would send next on the IKE SA (the response that lets
    /// the peer use the SA, the delete of the SA it replaces) until then,
    /// so that the peer's first packets on the new SA find it installed.
    /// A failed install fails the exchange.
    ChildUp {
        /// The Child SA's parameters and keys, for the data plane.
        child: Box<ChildSaParams>,
        /// Answer with the outcome of the install.
        installed: InstallAck,
    },
    /// A Child SA is gone: remove it from the data plane.
    ChildDown {
        /// The tunnel it belonged to.
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
    /// A Child SA's addresses changed (NAT rebinding or MOBIKE): the data
    /// plane sends its ESP there from now on.
    ChildMoved(ChildMove),
}

/// How often the driver asks the kernel which local address reaches each
/// MOBIKE peer (our IKE SAs follow a route or address change within it).
pub const PATH_CHECK: Duration = Duration::from_secs(1);

/// The local address the kernel's routes pick for packets to `remote`
/// (a connected UDP socket sends nothing).
fn source_for(remote: IpAddr) -> Option<IpAddr> {
    let any: SocketAddr = if remote.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let s = std::net::UdpSocket::bind(any).ok()?;
    s.connect(SocketAddr::new(remote, 500)).ok()?;
    s.local_addr().ok().map(|a| a.ip())
}

/// The answer to [`Event::ChildUp`]. Dropping it unanswered counts as a
/// failed install.
#[derive(Debug)]
pub struct InstallAck {
    spi_in: u32,
    tx: Option<mpsc::UnboundedSender<(u32, Result<(), String>)>>,
}

impl InstallAck {
    /// An answer that reports Child SA `spi_in`'s install on `tx`.
    pub fn new(spi_in: u32, tx: mpsc::UnboundedSender<(u32, Result<(), String>)>) -> Self {
        InstallAck {
            spi_in,
            tx: Some(tx),
        }
    }

    /// The install is done (`Ok`: the inbound SA takes packets), or why it
    /// is not.
    pub fn done(mut self, result: Result<(), String>) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send((self.spi_in, result));
        }
    }
}

impl Drop for InstallAck {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send((self.spi_in, Err("the data plane did not answer".into())));
        }
    }
}

/// State for show commands.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// (tunnel, status, time in that status)
    pub tunnels: Vec<(String, TunnelStatus, Duration)>,
    /// Every IKE SA, with its Child SAs.
    pub sas: Vec<IkeSaInfo>,
    /// (tunnel, why it last went down, how long ago), for the tunnels
    /// that went down since rvpnd started.
    pub last_down: Vec<(String, String, Duration)>,
    /// Half-open IKE SAs now.
    pub half_open: usize,
    /// What the engine did with unauthenticated traffic.
    pub guard: GuardStats,
}

struct Sockets {
    v4: UdpSocket,
    v4_natt: Option<UdpSocket>,
    v6: Option<UdpSocket>,
    v6_natt: Option<UdpSocket>,
    /// The NAT-T port belongs to the data plane, which forwards IKE from
    /// it here.
    external: Option<mpsc::Receiver<NattIn>>,
    /// Copies of the data plane's NAT-T sockets to send IKE from. Plain
    /// (not registered with the runtime): every ESP packet arriving on them
    /// would otherwise wake the runtime for nothing.
    ext_send4: Option<std::net::UdpSocket>,
    ext_send6: Option<std::net::UdpSocket>,
}

/// Port 4500 owned by the userspace data plane (it also carries ESP): IKE
/// datagrams arrive over a channel and IKE sends on copies of its sockets.
pub struct ExternalNatt {
    /// IKE datagrams from port 4500, without the non-ESP marker. Bounded
    /// ([`EXTERNAL_QUEUE`]): the data plane drops what does not fit, so a
    /// flood on 4500 cannot queue up memory in front of the IKE task.
    pub rx: mpsc::Receiver<NattIn>,
    /// Sockets bound to the NAT-T port (non-blocking), for sending.
    pub v4: std::net::UdpSocket,
    /// The IPv6 socket bound to the NAT-T port, if IPv6 is available.
    pub v6: Option<std::net::UdpSocket>,
}

/// How many IKE datagrams from the data plane's NAT-T port may wait for
/// the IKE task; more are dropped (IKE retransmits).
pub const EXTERNAL_QUEUE: usize = 1024;

/// Whether a datagram received on the NAT-T port (non-ESP marker
/// included) is small enough to hand to IKE: checked before it is
/// copied, so an oversized one costs nothing (the engine checks the IKE
/// Length field again).
pub fn natt_ike_fits(datagram_len: usize) -> bool {
    datagram_len.saturating_sub(NON_ESP_MARKER.len()) <= crate::sa::guard::MAX_MESSAGE
}

/// Whether a datagram received on the NAT-T port (non-ESP marker
/// included) can be an IKE message at all: small enough
/// ([`natt_ike_fits`]), a whole IKE header, a non-zero initiator SPI and
/// a Length field equal to what arrived (RFC 7296 3.1). Checked in the
/// data plane before the datagram is copied and queued, so random junk
/// on port 4500 never takes a place in the bounded queue that a peer's
/// real IKE message (a DPD answer, a rekey) needs.
pub fn natt_ike_plausible(datagram: &[u8]) -> bool {
    let Some(ike) = datagram.get(NON_ESP_MARKER.len()..) else {
        return false;
    };
    if !natt_ike_fits(datagram.len()) || ike.len() < 28 {
        return false;
    }
    let spi_i_zero = ike.get(..8).is_none_or(|s| s.iter().all(|b| *b == 0));
    let length = ike
        .get(24..28)
        .map(|l| u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize);
    !spi_i_zero && length == Some(ike.len())
}

/// An IKE datagram that arrived on the NAT-T port.
#[derive(Debug)]
pub struct NattIn {
    /// Where the datagram came from.
    pub from: SocketAddr,
    /// The local address it was sent to (`IP_PKTINFO` /
    /// `IPV6_PKTINFO` on the data plane's socket), if known.
    pub local: Option<IpAddr>,
    /// The IKE message (the non-ESP marker removed).
    pub data: Vec<u8>,
}

/// A socket bound to the wildcard address that reports each datagram's
/// local address (strongSwan's way: IKE must know which of the host's
/// addresses a peer reached, and answer from it).
async fn bind_one(ip: IpAddr, port: u16) -> io::Result<UdpSocket> {
    let s = UdpSocket::bind(SocketAddr::new(ip, port)).await?;
    pktinfo::enable(&s, ip.is_ipv6())?;
    esp_io::sockopt::deep_recv_buffer(&s, IKE_RECV_BUFFER);
    Ok(s)
}

/// How much an IKE socket may hold unread: thousands of spokes that
/// re-initiate at once (a hub restarted, each got its Delete) send their
/// IKE_SA_INITs in one burst; the default buffer (about 200 KiB, a few
/// hundred messages) dropped most of 3,000 and their retransmissions,
/// backing off, took a minute and more to come back. 8 MiB took 3,000
/// (6.6 s to all up again) but about 4,000 of 9,950: each datagram costs
/// its buffer's truesize (~2 KiB), not its length. 32 MiB holds 10,000
/// and more; the memory is used only while a burst waits.
const IKE_RECV_BUFFER: libc::c_int = 32 << 20;

impl Sockets {
    async fn open(cfg: DriverConfig) -> io::Result<Sockets> {
        let any4 = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        let any6 = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
        Ok(Sockets {
            v4: bind_one(any4, cfg.port).await?,
            v4_natt: Some(bind_one(any4, cfg.natt_port).await?),
            // IPv6 is optional (a namespace may have it disabled).
            v6: bind6(any6, cfg.port).await,
            v6_natt: bind6(any6, cfg.natt_port).await,
            external: None,
            ext_send4: None,
            ext_send6: None,
        })
    }

    async fn open_external(cfg: DriverConfig, ext: ExternalNatt) -> io::Result<Sockets> {
        let any4 = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        let any6 = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
        Ok(Sockets {
            v4: bind_one(any4, cfg.port).await?,
            v4_natt: None,
            v6: bind6(any6, cfg.port).await,
            v6_natt: None,
            external: Some(ext.rx),
            ext_send4: Some(ext.v4),
            ext_send6: ext.v6,
        })
    }

    /// Send `data` to `remote` from the SA's `local` address (the
    /// kernel's choice when it is unspecified).
    async fn send(&self, local: SocketAddr, remote: SocketAddr, natt: bool, data: &[u8]) {
        let src = local.ip();
        if natt && self.ext_send4.is_some() {
            let sock = if remote.is_ipv4() {
                self.ext_send4.as_ref()
            } else {
                self.ext_send6.as_ref()
            };
            let mut buf = Vec::with_capacity(data.len() + 4);
            if data.len() > 1 {
                buf.extend_from_slice(&NON_ESP_MARKER);
            }
            buf.extend_from_slice(data);
            // Non-blocking: a full socket buffer loses this message, which
            // retransmission covers.
            if let Some(Err(e)) = sock.map(|s| send_now(s, &buf, remote, src)) {
                tracing::debug!("sending {} bytes to {remote}: {e}", data.len());
            }
            return;
        }
        let sock = match (remote.is_ipv4(), natt) {
            (true, false) => Some(&self.v4),
            (true, true) => self.v4_natt.as_ref(),
            (false, false) => self.v6.as_ref(),
            (false, true) => self.v6_natt.as_ref(),
        };
        let Some(sock) = sock else { return };
        let r = if natt && data.len() > 1 {
            let mut buf = Vec::with_capacity(data.len() + 4);
            buf.extend_from_slice(&NON_ESP_MARKER);
            buf.extend_from_slice(data);
            send_async(sock, &buf, remote, src).await
        } else {
            send_async(sock, data, remote, src).await
        };
        if let Err(e) = r {
            tracing::debug!("sending {} bytes to {remote}: {e}", data.len());
        }
    }
}

async fn bind6(ip: IpAddr, port: u16) -> Option<UdpSocket> {
    let s = socket2_v6only(ip, port).ok()?;
    pktinfo::enable(&s, true).ok()?;
    esp_io::sockopt::deep_recv_buffer(&s, IKE_RECV_BUFFER);
    UdpSocket::from_std(s).ok()
}

/// Send one datagram from `src` without waiting (`WouldBlock` when the
/// socket buffer is full). A source the kernel refuses (a `tunnel source`
/// the host does not have) falls back to the kernel's choice, as before
/// sources were set.
fn send_now(sock: &impl AsFd, data: &[u8], remote: SocketAddr, src: IpAddr) -> io::Result<usize> {
    match pktinfo::send_from(sock, data, remote, src) {
        Err(e) if e.kind() != io::ErrorKind::WouldBlock && !src.is_unspecified() => {
            tracing::debug!(
                "sending from {src} to {remote}: {e}; from the kernel's choice instead"
            );
            let any = if remote.is_ipv4() {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            } else {
                IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            };
            pktinfo::send_from(sock, data, remote, any)
        }
        r => r,
    }
}

/// [`send_now`], waiting for room in the socket buffer.
async fn send_async(
    sock: &UdpSocket,
    data: &[u8],
    remote: SocketAddr,
    src: IpAddr,
) -> io::Result<usize> {
    sock.async_io(Interest::WRITABLE, || send_now(sock, data, remote, src))
        .await
}

/// An IPv6-only socket, so it does not collide with the IPv4 one.
fn socket2_v6only(ip: IpAddr, port: u16) -> io::Result<std::net::UdpSocket> {
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket(2)/setsockopt(2)/bind(2) on a descriptor we own;
    // on any failure it is closed by the File/UdpSocket wrapper.
    unsafe {
        let fd = libc::socket(
            libc::AF_INET6,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        );
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let sock = std::net::UdpSocket::from_raw_fd(fd);
        let one: libc::c_int = 1;
        let r = libc::setsockopt(
            fd,
            libc::IPPROTO_IPV6,
            libc::IPV6_V6ONLY,
            &one as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        let IpAddr::V6(v6) = ip else {
            return Err(io::Error::other("not IPv6"));
        };
        let mut sa: libc::sockaddr_in6 = std::mem::zeroed();
        sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
        sa.sin6_port = port.to_be();
        sa.sin6_addr.s6_addr = v6.octets();
        let r = libc::bind(
            fd,
            &sa as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
        );
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(sock)
    }
}

/// The IKE sockets, opened before the task starts so that a port in
/// use is reported at once.
pub struct Bound(Sockets);

/// Open the IKE ports.
pub async fn bind(cfg: DriverConfig) -> io::Result<Bound> {
    Ok(Bound(Sockets::open(cfg).await?))
}

/// Open the IKE port; the NAT-T port is the data plane's (see
/// [`ExternalNatt`]).
pub async fn bind_external(cfg: DriverConfig, ext: ExternalNatt) -> io::Result<Bound> {
    Ok(Bound(Sockets::open_external(cfg, ext).await?))
}

impl Bound {
    /// The descriptors of IKE's own NAT-T sockets (IPv4 and IPv6), e.g. to
    /// let the kernel take ESP in UDP off them (UDP_ENCAP_ESPINUDP).
    pub fn natt_fds(&self) -> Vec<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        [self.0.v4_natt.as_ref(), self.0.v6_natt.as_ref()]
            .into_iter()
            .flatten()
            .map(|s| s.as_raw_fd())
            .collect()
    }
}

/// Run the IKE task until [`Command::Shutdown`] or until the command
/// channel closes.
pub async fn run(
    cfg: DriverConfig,
    control: Control,
    events: mpsc::UnboundedSender<Event>,
) -> io::Result<()> {
    run_with(bind(cfg).await?, cfg, control, events).await
}

/// Run the IKE task on already opened sockets.
pub async fn run_with(
    bound: Bound,
    cfg: DriverConfig,
    control: Control,
    events: mpsc::UnboundedSender<Event>,
) -> io::Result<()> {
    let Control {
        config: mut config_rx,
        mut cmds,
        mut rekeys,
        mut mappings,
        mut heard,
    } = control;
    let mut paths = tokio::time::interval(PATH_CHECK);
    paths.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The configuration there is now applies at once.
    config_rx.mark_changed();
    let mut config_open = true;
    let mut socks = bound.0;
    let mut external = socks.external.take();
    let mut engine = Engine::new(Box::new(SystemRandom::new()), cfg.port, cfg.natt_port);
    let mut b4 = vec![0u8; 65536];
    let mut b4n = vec![0u8; 65536];
    let mut b6 = vec![0u8; 65536];
    let mut b6n = vec![0u8; 65536];
    let local4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), cfg.port);
    let local4n = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), cfg.natt_port);
    let local6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), cfg.port);
    let local6n = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), cfg.natt_port);
    // The data plane's answers to ChildUp.
    let (ack_tx, mut acks) = mpsc::unbounded_channel();
    let mut trim = Trim::default();
    let slow = test_slow();
    let mut inits = Inits::default();
    loop {
        // The engine judges certificate validity by the wall clock it is
        // given; tie it to the monotonic clock afresh each turn, so a
        // stepped system clock is followed.
        engine.set_wall_clock(Instant::now(), std::time::SystemTime::now());
        let deadline = engine.poll_timeout().map(tokio::time::Instant::from_std);
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            changed = config_rx.changed(), if config_open => match changed {
                Ok(()) => {
                    let c = config_rx.borrow_and_update().clone();
                    engine.set_config(c, Instant::now());
                }
                Err(_) => config_open = false,
            },
            cmd = cmds.recv() => {
                // A configuration committed before this command was sent
                // (a show right after a change) applies first.
                if config_rx.has_changed().unwrap_or(false) {
                    let c = config_rx.borrow_and_update().clone();
                    engine.set_config(c, Instant::now());
                }
                let now = Instant::now();
                match cmd {
                    None => return Ok(()),
                    Some(Command::Clear(peer)) => engine.clear(peer, now),
                    Some(Command::Snapshot(tx)) => {
                        let tunnels = engine.tunnel_status().into_iter().map(|(n, s, since)| (n, s, now.saturating_duration_since(since))).collect();
                        let last_down = engine.last_down().into_iter().map(|(n, w, at)| (n, w, now.saturating_duration_since(at))).collect();
                        let _ = tx.send(Snapshot {
                            tunnels,
                            sas: engine.ike_sas(now),
                            half_open: engine.half_open(),
                            guard: engine.guard_stats(),
                            last_down,
                        });
                    }
                    Some(Command::Shutdown(done)) => {
                        let told = engine.shutdown(now);
                        flush(&mut engine, &socks, &events, &ack_tx).await;
                        let _ = done.send(told);
                        return Ok(());
                    }
                }
            }
            Some(spi_in) = rekeys.recv() => engine.rekey_child(spi_in, Instant::now()),
            Some((spi_in, from)) = mappings.recv() => engine.handle_esp_mapping(spi_in, from, Instant::now()),
            Some(spis) = heard.recv() => engine.esp_heard(&spis, Instant::now()),
            _ = paths.tick() => {
                for remote in engine.mobile_peers() {
                    if let Some(local) = source_for(remote) {
                        engine.handle_path(remote, local, Instant::now());
                    }
                }
            }
            r = recv_opt(Some(&socks.v4), &mut b4, local4) => if let Ok((n, from, local)) = r {
                inits.intake(&mut engine, local, from, false, &b4[..n]);
            },
            r = recv_opt(socks.v4_natt.as_ref(), &mut b4n, local4n) => if let Ok((n, from, local)) = r {
                natt_in(&mut engine, &mut inits, local, from, &b4n[..n]);
            },
            Some(d) = recv_ext(external.as_mut()) => {
                let any = if d.from.is_ipv4() { local4n } else { local6n };
                let local = d.local.map_or(any, |ip| SocketAddr::new(ip, cfg.natt_port));
                engine.handle_datagram(Instant::now(), local, d.from, true, &d.data);
            },
            r = recv_opt(socks.v6.as_ref(), &mut b6, local6) => if let Ok((n, from, local)) = r {
                inits.intake(&mut engine, local, from, false, &b6[..n]);
            },
            r = recv_opt(socks.v6_natt.as_ref(), &mut b6n, local6n) => if let Ok((n, from, local)) = r {
                natt_in(&mut engine, &mut inits, local, from, &b6n[..n]);
            },
            Some((spi_in, r)) = acks.recv() => engine.child_installed(spi_in, r, Instant::now()),
            _ = sleep => engine.handle_timeout(Instant::now()),
            // New negotiations wait in the queue below: do not sleep.
            () = tokio::task::yield_now(), if !inits.is_empty() => {}
        }
        // Everything else queued on the sockets before more new
        // negotiations: the exchanges of SAs under way (IKE_AUTH above
        // all) finish, where a burst of IKE_SA_INITs in front of them
        // (thousands of spokes re-initiating after a hub restart) held
        // them back past their initiators' retransmission timers.
        if !inits.is_empty() {
            let sockets = [
                (Some(&socks.v4), false, local4),
                (socks.v4_natt.as_ref(), true, local4n),
                (socks.v6.as_ref(), false, local6),
                (socks.v6_natt.as_ref(), true, local6n),
            ];
            for (sock, natt, any) in sockets {
                let Some(sock) = sock else { continue };
                for _ in 0..DRAIN {
                    let Ok((n, from, local)) = pktinfo::recv_from(sock, &mut b4) else {
                        break;
                    };
                    let local = local.map_or(any, |ip| SocketAddr::new(ip, any.port()));
                    let data = b4.get(..n).unwrap_or_default();
                    if natt {
                        natt_in(&mut engine, &mut inits, local, from, data);
                    } else {
                        inits.intake(&mut engine, local, from, false, data);
                    }
                }
            }
            for _ in 0..INITS_PER_TURN {
                let Some(q) = inits.q.pop_front() else { break };
                engine.handle_datagram(Instant::now(), q.local, q.from, q.natt, &q.data);
            }
        }
        flush(&mut engine, &socks, &events, &ack_tx).await;
        trim.after_event(&engine);
        if let Some(d) = slow {
            tokio::time::sleep(d).await;
        }
    }
}

/// The environment variable of the test hook that slows the IKE task
/// down (debug builds only).
#[cfg(debug_assertions)]
pub const TEST_SLOW_ENV: &str = "RVPND_TEST_IKE_SLOW_MS";

/// Debug builds: with `RVPND_TEST_IKE_SLOW_MS=N` (1-1000) the IKE task
/// sleeps N ms after every event, as on a machine too busy to run it: the
/// tests' way to let the queue from the data plane's NAT-T port fill up.
/// Release builds (`cfg(not(debug_assertions))`) compile none of this.
#[cfg(debug_assertions)]
fn test_slow() -> Option<Duration> {
    let ms: u64 = std::env::var(TEST_SLOW_ENV).ok()?.parse().ok()?;
    let ms = ms.clamp(1, 1000);
    tracing::warn!("test hook: the IKE task sleeps {ms} ms after every event ({TEST_SLOW_ENV})");
    Some(Duration::from_millis(ms))
}

/// Release builds: never slowed.
#[cfg(not(debug_assertions))]
fn test_slow() -> Option<Duration> {
    None
}

/// Hands memory back to the system once a flood of half-open SAs is over:
/// the engine shrinks its maps, and glibc's allocator is asked to release
/// the pages freed inside its heaps (it keeps them otherwise, and RSS
/// would stay at the flood's peak).
#[derive(Default)]
struct Trim {
    /// Most SAs held since the last trim.
    peak: usize,
}

impl Trim {
    /// Trim when the SA count fell to a quarter of a peak of 1000 or more.
    const MIN_PEAK: usize = 1000;

    fn after_event(&mut self, engine: &Engine) {
        let n = engine.sa_count();
        self.peak = self.peak.max(n);
        if self.peak >= Self::MIN_PEAK && n * 4 <= self.peak {
            self.peak = n;
            release_free_memory();
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_memory() {
    // SAFETY: malloc_trim(3) only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() {}

/// A datagram on IKE's own NAT-T socket: IKE after the non-ESP marker;
/// anything else (keepalives; ESP, which the kernel data plane takes off
/// the socket before it gets here) is not for IKE.
fn natt_in(
    engine: &mut Engine,
    inits: &mut Inits,
    local: SocketAddr,
    from: SocketAddr,
    data: &[u8],
) {
    if data.len() > 4 && data[..4] == NON_ESP_MARKER {
        inits.intake(engine, local, from, true, &data[4..]);
    }
}

/// Datagrams read from the sockets per socket and turn while new
/// negotiations wait.
const DRAIN: usize = 256;
/// New negotiations (IKE_SA_INIT requests) started per turn while others
/// wait.
const INITS_PER_TURN: usize = 16;
/// New negotiations the queue holds at most; more are dropped, as a full
/// socket buffer drops them (their initiators retransmit).
const INITS_MAX: usize = 32_768;

/// An IKE_SA_INIT request waiting for its turn.
struct QueuedInit {
    local: SocketAddr,
    from: SocketAddr,
    natt: bool,
    data: Vec<u8>,
}

/// The queue of new negotiations: a request that starts an IKE SA waits
/// here while anything else on the sockets is handled first.
#[derive(Default)]
struct Inits {
    q: std::collections::VecDeque<QueuedInit>,
}

impl Inits {
    fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    /// Handles `data` now, or queues it if it starts a new IKE SA.
    fn intake(
        &mut self,
        engine: &mut Engine,
        local: SocketAddr,
        from: SocketAddr,
        natt: bool,
        data: &[u8],
    ) {
        if !is_init_request(data) {
            engine.handle_datagram(Instant::now(), local, from, natt, data);
            return;
        }
        if self.q.len() < INITS_MAX {
            self.q.push_back(QueuedInit {
                local,
                from,
                natt,
                data: data.to_vec(),
            });
        }
    }
}

/// Whether an IKE message is an IKE_SA_INIT request (RFC 7296 3.1:
/// exchange type 34, the Response flag clear, responder SPI zero).
fn is_init_request(data: &[u8]) -> bool {
    const IKE_SA_INIT: u8 = 34;
    const RESPONSE: u8 = 0x20;
    data.len() >= 28
        && data.get(8..16).is_some_and(|r| r.iter().all(|b| *b == 0))
        && data.get(18) == Some(&IKE_SA_INIT)
        && data.get(19).is_some_and(|f| f & RESPONSE == 0)
}

async fn recv_ext(rx: Option<&mut mpsc::Receiver<NattIn>>) -> Option<NattIn> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// One datagram: its length, sender, and the local address and port it
/// was sent to (`any`, the socket's wildcard address and port, when the
/// kernel did not say).
async fn recv_opt(
    sock: Option<&UdpSocket>,
    buf: &mut [u8],
    any: SocketAddr,
) -> io::Result<(usize, SocketAddr, SocketAddr)> {
    let Some(s) = sock else {
        return std::future::pending().await;
    };
    let (n, from, local) = s
        .async_io(Interest::READABLE | Interest::ERROR, || {
            pktinfo::recv_from(s, buf)
        })
        .await?;
    let local = local.map_or(any, |ip| SocketAddr::new(ip, any.port()));
    Ok((n, from, local))
}

async fn flush(
    engine: &mut Engine,
    socks: &Sockets,
    events: &mpsc::UnboundedSender<Event>,
    acks: &mpsc::UnboundedSender<(u32, Result<(), String>)>,
) {
    while let Some(line) = engine.poll_log() {
        if line.contains(crate::sa::RNG_FAILURE) {
            tracing::error!(target: "ike", "{line}");
        } else {
            tracing::info!(target: "ike", "{line}");
        }
    }
    // The engine itself holds back what must wait for an install, so
    // outputs go out in order.
    while let Some(o) = engine.poll_output() {
        match o {
            Output::Send {
                local,
                remote,
                natt,
                data,
            } => socks.send(local, remote, natt, &data).await,
            Output::ChildUp(child) => {
                let installed = InstallAck::new(child.spi_in, acks.clone());
                // If the daemon is gone, the dropped answer fails the install.
                let _ = events.send(Event::ChildUp { child, installed });
            }
            Output::ChildDown {
                tunnel,
                spi_in,
                spi_out,
            } => {
                let _ = events.send(Event::ChildDown {
                    tunnel,
                    spi_in,
                    spi_out,
                });
            }
            Output::Status { tunnel, status } => {
                let _ = events.send(Event::Status { tunnel, status });
            }
            Output::ChildMoved(m) => {
                let _ = events.send(Event::ChildMoved(m));
            }
        }
    }
}

#[cfg(test)]
mod natt_filter_tests {
    use super::natt_ike_plausible;

    fn ike(len: usize, spi_i: u8) -> Vec<u8> {
        let mut d = vec![0u8; 4 + len];
        d[4] = spi_i;
        d[4 + 17] = 0x20;
        d[4 + 18] = 37;
        d[4 + 24..4 + 28].copy_from_slice(&(len as u32).to_be_bytes());
        d
    }

    #[test]
    fn only_whole_ike_messages_are_queued_for_ike() {
        assert!(natt_ike_plausible(&ike(28, 1)));
        assert!(natt_ike_plausible(&ike(300, 9)));
        // A zero initiator SPI, a Length that is not what arrived, a
        // truncated header, nothing after the marker.
        assert!(!natt_ike_plausible(&ike(300, 0)));
        let mut short = ike(300, 9);
        short.truncate(200);
        assert!(!natt_ike_plausible(&short));
        let mut long = ike(300, 9);
        long.extend_from_slice(&[0; 8]);
        assert!(!natt_ike_plausible(&long));
        assert!(!natt_ike_plausible(&ike(28, 1)[..20]));
        assert!(!natt_ike_plausible(&[0, 0, 0, 0]));
        assert!(!natt_ike_plausible(&[]));
        // Over the size limit, even when consistent.
        assert!(!natt_ike_plausible(&ike(70_000, 1)));
    }
}

#[cfg(test)]
mod init_queue_tests {
    use super::*;

    /// An IKE header: exchange type, flags, responder SPI.
    fn hdr(exch: u8, flags: u8, spi_r: u8) -> Vec<u8> {
        let mut d = vec![0u8; 28];
        d[0] = 7;
        d[8] = spi_r;
        d[17] = 0x20;
        d[18] = exch;
        d[19] = flags;
        d[24..28].copy_from_slice(&28u32.to_be_bytes());
        d
    }

    #[test]
    fn only_init_requests_wait_in_the_queue() {
        assert!(is_init_request(&hdr(34, 0x08, 0)));
        // Its response, an IKE_AUTH, an INFORMATIONAL, an INIT that names
        // a responder SPI, a truncated header.
        assert!(!is_init_request(&hdr(34, 0x20, 0)));
        assert!(!is_init_request(&hdr(35, 0x08, 5)));
        assert!(!is_init_request(&hdr(37, 0x08, 5)));
        assert!(!is_init_request(&hdr(34, 0x08, 5)));
        assert!(!is_init_request(&hdr(34, 0x08, 0)[..20]));

        let mut engine = Engine::new(Box::new(SystemRandom::new()), 500, 4500);
        let mut inits = Inits::default();
        let a: SocketAddr = "192.0.2.1:500".parse().unwrap();
        let b: SocketAddr = "192.0.2.2:500".parse().unwrap();
        inits.intake(&mut engine, a, b, false, &hdr(35, 0x08, 5));
        assert!(inits.is_empty(), "an IKE_AUTH is handled at once");
        for _ in 0..INITS_MAX + 10 {
            inits.intake(&mut engine, a, b, false, &hdr(34, 0x08, 0));
        }
        assert_eq!(inits.q.len(), INITS_MAX, "the queue is bounded");
    }
}
