//! A data-plane worker thread: it polls its own UDP sockets on the NAT-T
//! port and its own queue of every tunnel's TUN, opens ESP into the TUN and
//! seals TUN packets into ESP. Buffers are allocated once per worker.

use super::net::{self, EventFd};
use super::tables::{lock, IfCtr, InSa, Tables, TunnelDp};
use super::Shared;
use esp::udp::{classify, Kind};
use esp::Lifetime;
use ike::driver::NattIn;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tracing::debug;

/// Room before an inner packet for the outer headers, and after it for
/// padding and ICV.
const HEADROOM: usize = 64;
const TAILROOM: usize = 64;
const MAX_PACKET: usize = 65535;
/// Packets taken from one descriptor before looking at the others.
const BURST: usize = 64;

/// What one worker owns.
pub struct Worker {
    pub id: usize,
    pub shared: Arc<Shared>,
    pub udp4: UdpSocket,
    pub udp6: Option<UdpSocket>,
    pub wake: Arc<EventFd>,
}

/// A descriptor in the poll set.
enum Source {
    Wake,
    Udp4,
    Udp6,
    Raw4,
    Raw6,
    Tun(Arc<TunnelDp>),
}

struct Bufs {
    rx: Vec<u8>,
    tun: Vec<u8>,
    sealed: Vec<u8>,
}

impl Worker {
    pub fn run(self) {
        let mut bufs = Bufs {
            rx: vec![0u8; MAX_PACKET + HEADROOM],
            tun: vec![0u8; MAX_PACKET + HEADROOM + TAILROOM],
            sealed: vec![0u8; MAX_PACKET + HEADROOM + TAILROOM],
        };
        let mut generation = u64::MAX;
        let mut fds: Vec<libc::pollfd> = Vec::new();
        let mut sources: Vec<Source> = Vec::new();
        let mut tables = self.shared.tables.load_full();
        while !self.shared.stop.load(Ordering::Relaxed) {
            let now = self.shared.tables.load_full();
            if now.generation != generation || fds.is_empty() {
                generation = now.generation;
                self.poll_set(&now, &mut fds, &mut sources);
            }
            tables = now;
            if let Err(e) = net::poll(&mut fds, 1000) {
                debug!("worker {}: poll: {e}", self.id);
                continue;
            }
            for i in 0..fds.len() {
                let Some(pfd) = fds.get(i) else { break };
                if pfd.revents == 0 {
                    continue;
                }
                match sources.get(i) {
                    Some(Source::Wake) => self.wake.clear(),
                    Some(Source::Udp4) => self.udp_in(&self.udp4, &tables, &mut bufs),
                    Some(Source::Udp6) => {
                        if let Some(s) = &self.udp6 {
                            self.udp_in(s, &tables, &mut bufs)
                        }
                    }
                    Some(Source::Raw4) => self.raw_in(false, &tables, &mut bufs),
                    Some(Source::Raw6) => self.raw_in(true, &tables, &mut bufs),
                    Some(Source::Tun(t)) => self.tun_in(t, &mut bufs),
                    None => {}
                }
            }
        }
        drop(tables);
    }

    fn poll_set(&self, t: &Tables, fds: &mut Vec<libc::pollfd>, sources: &mut Vec<Source>) {
        fds.clear();
        sources.clear();
        let mut add = |fd: i32, s: Source| {
            fds.push(libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            });
            sources.push(s);
        };
        add(self.wake.as_raw_fd(), Source::Wake);
        add(self.udp4.as_raw_fd(), Source::Udp4);
        if let Some(s) = &self.udp6 {
            add(s.as_raw_fd(), Source::Udp6);
        }
        // One worker reads raw ESP: every raw socket gets a copy of each
        // packet.
        if self.id == 0 {
            if let Some(r) = &self.shared.raw4 {
                add(r.as_raw_fd(), Source::Raw4);
            }
            if let Some(r) = &self.shared.raw6 {
                add(r.as_raw_fd(), Source::Raw6);
            }
        }
        for tunnel in t.tunnels.values() {
            if let Some(q) = tunnel.queues.get(self.id) {
                add(q.as_raw_fd(), Source::Tun(tunnel.clone()));
            }
        }
    }

    /// Datagrams on the NAT-T port: ESP, IKE (after the non-ESP marker)
    /// or keepalives.
    fn udp_in(&self, sock: &UdpSocket, t: &Tables, b: &mut Bufs) {
        for _ in 0..BURST {
            let (n, from) = match sock.recv_from(&mut b.rx) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    debug!("worker {}: UDP receive: {e}", self.id);
                    return;
                }
            };
            let Some(payload) = b.rx.get_mut(..n) else {
                continue;
            };
            match classify(payload) {
                Ok(Kind::Esp) => self.esp_in(payload, from, t),
                Ok(Kind::Ike) => {
                    let data = payload.get(4..).unwrap_or_default().to_vec();
                    let _ = self.shared.ike.send(NattIn { from, data });
                }
                Ok(Kind::Keepalive) | Err(_) => {}
            }
        }
    }

    /// Raw ESP (IP protocol 50); an IPv4 raw socket hands over the IP
    /// header too.
    fn raw_in(&self, v6: bool, t: &Tables, b: &mut Bufs) {
        let Some(sock) = (if v6 {
            &self.shared.raw6
        } else {
            &self.shared.raw4
        }) else {
            return;
        };
        for _ in 0..BURST {
            let (n, from) = match sock.recv_from(&mut b.rx) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    debug!("worker {}: raw ESP receive: {e}", self.id);
                    return;
                }
            };
            let skip = if v6 {
                0
            } else {
                b.rx.first().map_or(0, |v| usize::from(v & 0x0f) * 4)
            };
            if let Some(esp) = b.rx.get_mut(skip..n) {
                self.esp_in(esp, from, t);
            }
        }
    }

    /// Open one ESP packet and hand the inner packet to its tunnel.
    fn esp_in(&self, pkt: &mut [u8], from: SocketAddr, t: &Tables) {
        let Ok(spi) = esp::peek_spi(pkt) else {
            return;
        };
        let Some(insa) = t.inbound.get(&spi) else {
            self.shared.unknown_spi.fetch_add(1, Ordering::Relaxed);
            debug!("ESP for unknown SPI {spi:08x} from {from}");
            return;
        };
        let InSa {
            sa,
            tunnel,
            rekey_asked,
        } = &**insa;
        let (opened, state) = {
            let mut sa = lock(sa);
            let r = sa.open_in_place(pkt).map(|o| o.range);
            (r, sa.lifetime_state())
        };
        if Shared::soft(state, rekey_asked) {
            self.shared.ask_rekey(spi);
        }
        let range = match opened {
            Ok(r) => r,
            Err(e) => {
                IfCtr::add(&tunnel.ctr.rx_errors, 1);
                debug!("{}: ESP from {from} dropped: {e}", tunnel.name);
                return;
            }
        };
        // The peer sends on the pair we answered: it has installed it, so
        // we may seal with it too.
        if tunnel.pending_spi.load(Ordering::Relaxed) == spi {
            lock(&tunnel.out).promote();
            tunnel.pending_spi.store(0, Ordering::Relaxed);
        }
        let Some(inner) = pkt.get_mut(range) else {
            return;
        };
        IfCtr::add(&tunnel.ctr.rx_packets, 1);
        IfCtr::add(&tunnel.ctr.rx_bytes, inner.len() as u64);
        clamp(tunnel, inner);
        if let Some(q) = tunnel.queues.get(self.id) {
            if let Err(e) = q.send(inner) {
                IfCtr::add(&tunnel.ctr.rx_errors, 1);
                debug!("{}: TUN write: {e}", tunnel.name);
            }
        }
    }

    /// Packets routed into a tunnel: seal and send to the peer.
    fn tun_in(&self, tunnel: &TunnelDp, b: &mut Bufs) {
        let Some(q) = tunnel.queues.get(self.id) else {
            return;
        };
        for _ in 0..BURST {
            let n = match q.recv(&mut b.tun) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    debug!("{}: TUN read: {e}", tunnel.name);
                    return;
                }
            };
            let Some(inner) = b.tun.get_mut(..n) else {
                continue;
            };
            let nh = match inner.first().map(|v| v >> 4) {
                Some(4) => esp::NEXT_HEADER_IPV4,
                Some(6) => esp::NEXT_HEADER_IPV6,
                _ => continue,
            };
            clamp(tunnel, inner);
            let sealed = {
                let mut slot = lock(&tunnel.out);
                let Some(o) = slot.current.as_mut() else {
                    IfCtr::add(&tunnel.ctr.tx_errors, 1);
                    continue;
                };
                let r =
                    o.sa.seal(inner, nh, &mut b.sealed)
                        .map(|len| (len, o.remote, o.encap));
                if o.sa.lifetime_state() != Lifetime::Ok && !o.rekey_asked {
                    o.rekey_asked = true;
                    self.shared.ask_rekey(o.spi_in);
                }
                r
            };
            let (len, remote, encap) = match sealed {
                Ok(s) => s,
                Err(e) => {
                    IfCtr::add(&tunnel.ctr.tx_errors, 1);
                    debug!("{}: cannot seal: {e}", tunnel.name);
                    continue;
                }
            };
            let Some(esp) = b.sealed.get(..len) else {
                continue;
            };
            match self.send(esp, remote, encap) {
                Ok(()) => {
                    IfCtr::add(&tunnel.ctr.tx_packets, 1);
                    IfCtr::add(&tunnel.ctr.tx_bytes, n as u64);
                }
                Err(e) => {
                    IfCtr::add(&tunnel.ctr.tx_errors, 1);
                    debug!("{}: sending ESP to {remote}: {e}", tunnel.name);
                }
            }
        }
    }

    fn send(&self, esp: &[u8], remote: SocketAddr, encap: bool) -> io::Result<()> {
        if encap {
            let sock = match remote {
                SocketAddr::V4(_) => Some(&self.udp4),
                SocketAddr::V6(_) => self.udp6.as_ref(),
            };
            let sock = sock.ok_or_else(|| io::Error::other("no IPv6 NAT-T socket"))?;
            sock.send_to(esp, remote).map(|_| ())
        } else {
            let raw = match remote {
                SocketAddr::V4(_) => &self.shared.raw4,
                SocketAddr::V6(_) => &self.shared.raw6,
            };
            let raw = raw
                .as_ref()
                .ok_or_else(|| io::Error::other("no raw ESP socket"))?;
            raw.send_to(esp, SocketAddr::new(remote.ip(), 0))
                .map(|_| ())
        }
    }
}

/// `ip tcp adjust-mss`: clamp the MSS option of TCP SYNs both ways.
fn clamp(tunnel: &TunnelDp, pkt: &mut [u8]) {
    let mss = tunnel.mss.load(Ordering::Relaxed);
    if mss != 0 && esp::userspace::offload::clamp_mss(pkt, mss) {
        IfCtr::add(&tunnel.ctr.mss_clamped, 1);
    }
}
