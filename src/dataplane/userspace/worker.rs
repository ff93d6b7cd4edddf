//! A data-plane worker thread: it polls its own UDP sockets on the NAT-T
//! port and its own queue of every tunnel's TUN, opens ESP into the TUN and
//! seals TUN packets into ESP. Buffers are allocated once per worker.
//!
//! Batching, as far as the kernel offers it:
//! - TUN read: with virtio-net headers the kernel hands out TCP/UDP super
//!   packets of up to 64 KiB; they are cut into wire packets right into the
//!   send buffers, sealed in place, and sent with UDP GSO (one sendmsg for
//!   a run of equal-size datagrams to one peer) or sendmmsg.
//! - UDP receive: recvmmsg with UDP GRO (many datagrams per message); the
//!   decrypted TCP segments of one batch are merged back into super packets
//!   (GRO) so that one TUN write carries up to 64 KiB.

use super::net::{Epoll, EventFd};
use super::tables::{self, lock, IfCtr, InSa, Outbound, Tables, TunnelDp};
use super::Shared;
use esp::udp::{classify, Kind};
use esp::Lifetime;
use esp_io::batch::{RecvBatch, SendBatch, GRO_BUF_SIZE};
use esp_io::offload::{clamp_mss, GroBatch, GroError, Segmenter, VirtioNetHdr};
use ike::driver::NattIn;
use std::collections::{HashMap, HashSet};
use std::io::{self, IoSlice};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tracing::{debug, warn};

/// Room before an inner packet for the ESP header and IV.
const HEADROOM: usize = 64;
/// The largest inner packet (tunnel MTU) the send buffers hold.
const MAX_INNER: usize = 9216;
/// One send buffer: ESP header, inner packet, padding, trailer and ICV.
const SEND_BUF: usize = HEADROOM + MAX_INNER + 128;
/// Datagrams per send batch (one TSO super packet of 64 KiB at MTU 1400
/// is 47 of them).
const SEND_BATCH: usize = 64;
/// Messages per receive batch.
const RECV_BATCH: usize = 16;
/// A TUN read: virtio-net header plus a 64 KiB super packet.
const TUN_BUF: usize = VirtioNetHdr::LEN + 65535 + 64;
/// TUN reads (or receive batches) before looking at the other descriptors.
const BURST: usize = 16;

/// What one worker owns.
pub struct Worker {
    pub id: usize,
    pub shared: Arc<Shared>,
    pub udp4: UdpSocket,
    pub udp6: Option<UdpSocket>,
    pub wake: Arc<EventFd>,
}

/// Epoll tokens of the descriptors every worker has; a TUN queue's token
/// is the address of its tunnel (never one of these).
const TOKEN_WAKE: u64 = 0;
const TOKEN_UDP4: u64 = 1;
const TOKEN_UDP6: u64 = 2;
const TOKEN_RAW4: u64 = 3;
const TOKEN_RAW6: u64 = 4;

/// The TUN queues a worker watches, by token, each with the last epoll
/// round it was ready in. Holding the tunnel keeps its descriptors open
/// while they are in the epoll set.
struct PollSet {
    tuns: HashMap<u64, (Arc<TunnelDp>, u64)>,
}

/// Where sealed packets wait to be sent.
struct Out {
    udp4: SendBatch,
    udp6: SendBatch,
    raw4: SendBatch,
    raw6: SendBatch,
}

/// Decrypted packets on their way into one tunnel's TUN queue.
struct In {
    gro: GroBatch,
    /// The tunnel the GRO batch belongs to.
    tunnel: Option<Arc<TunnelDp>>,
}

struct Bufs {
    recv: RecvBatch,
    raw: RecvBatch,
    tun: Vec<u8>,
    out: Out,
    inb: In,
}

impl Worker {
    pub fn run(self) {
        let mut recv = RecvBatch::new(RECV_BATCH, GRO_BUF_SIZE, 0);
        let gro4 = recv.enable_gro(&self.udp4).unwrap_or(false);
        if let Some(s) = &self.udp6 {
            // One setting for both sockets: GRO is per socket, the batch
            // splits whatever arrives.
            let _ = recv.enable_gro(s);
        }
        let mut out = Out {
            udp4: SendBatch::new(SEND_BATCH, SEND_BUF),
            udp6: SendBatch::new(SEND_BATCH, SEND_BUF),
            raw4: SendBatch::new(SEND_BATCH, SEND_BUF),
            raw6: SendBatch::new(SEND_BATCH, SEND_BUF),
        };
        let gso4 = out.udp4.enable_gso(&self.udp4);
        if let Some(s) = &self.udp6 {
            out.udp6.enable_gso(s);
        }
        debug!(
            "data plane worker {}: UDP GRO {gro4}, UDP GSO {gso4}",
            self.id
        );
        let mut b = Bufs {
            recv,
            raw: RecvBatch::new(SEND_BATCH, SEND_BUF, 0),
            tun: vec![0u8; TUN_BUF],
            out,
            inb: In {
                gro: GroBatch::default(),
                tunnel: None,
            },
        };
        let ep = match Epoll::new() {
            Ok(e) => e,
            Err(e) => {
                warn!("data plane worker {}: no epoll: {e}", self.id);
                return;
            }
        };
        let mut set = PollSet {
            tuns: HashMap::new(),
        };
        if let Err(e) = self.fixed(&ep) {
            warn!(
                "data plane worker {}: cannot watch its sockets: {e}",
                self.id
            );
            return;
        }
        let mut generation = u64::MAX;
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 64];
        let mut round: u64 = 0;
        while !self.shared.stop.load(Ordering::Relaxed) {
            round += 1;
            let tables = self.shared.tables.load_full();
            if tables.generation != generation {
                generation = tables.generation;
                self.sync_tuns(&ep, &tables, &mut set);
            }
            let n = match ep.wait(&mut events, 1000) {
                Ok(n) => n,
                Err(e) => {
                    debug!("worker {}: epoll: {e}", self.id);
                    continue;
                }
            };
            // The tables as they are now, not as they were before the
            // wait: an SA installed meanwhile (its install already
            // confirmed to IKE, so the peer may be using it) must open the
            // packets that woke us. The TUNs watched catch up next round.
            let tables = self.shared.tables.load_full();
            for ev in events.iter().take(n) {
                match ev.u64 {
                    TOKEN_WAKE => self.wake.clear(),
                    TOKEN_UDP4 => self.udp_in(&self.udp4, &tables, &mut b),
                    TOKEN_UDP6 => {
                        if let Some(s) = &self.udp6 {
                            self.udp_in(s, &tables, &mut b)
                        }
                    }
                    TOKEN_RAW4 => self.raw_in(false, &tables, &mut b),
                    TOKEN_RAW6 => self.raw_in(true, &tables, &mut b),
                    token => {
                        if let Some((t, seen)) = set.tuns.get_mut(&token) {
                            // Ready in the round before too: busy, read it
                            // dry. Otherwise one packet (a keepalive, an
                            // ACK), with no read that only says "empty":
                            // level-triggered epoll reports what is left.
                            let busy = *seen + 1 >= round;
                            *seen = round;
                            self.tun_in(t, busy, &mut b);
                        }
                    }
                }
            }
        }
        // Unwatch before the TUNs close elsewhere.
        for (t, _) in set.tuns.values() {
            if let Some(q) = t.read_queue(self.id) {
                let _ = ep.del(q.as_raw_fd());
            }
        }
    }

    /// The descriptors every worker watches for its whole life.
    fn fixed(&self, ep: &Epoll) -> io::Result<()> {
        ep.add(self.wake.as_raw_fd(), TOKEN_WAKE)?;
        ep.add(self.udp4.as_raw_fd(), TOKEN_UDP4)?;
        if let Some(s) = &self.udp6 {
            ep.add(s.as_raw_fd(), TOKEN_UDP6)?;
        }
        // One worker reads raw ESP: every raw socket gets a copy of each
        // packet.
        if self.id == 0 {
            if let Some(r) = &self.shared.raw4 {
                ep.add(r.as_raw_fd(), TOKEN_RAW4)?;
            }
            if let Some(r) = &self.shared.raw6 {
                ep.add(r.as_raw_fd(), TOKEN_RAW6)?;
            }
        }
        Ok(())
    }

    /// Watches the TUN queues this worker reads in `t` and no others: new
    /// tunnels are added, removed ones dropped (a look-up per tunnel, no
    /// system call for those that stay).
    fn sync_tuns(&self, ep: &Epoll, t: &Tables, set: &mut PollSet) {
        let mut keep: HashSet<u64> = HashSet::with_capacity(set.tuns.len() + 1);
        for tunnel in t.tunnels.values() {
            let Some(q) = tunnel.read_queue(self.id) else {
                continue;
            };
            let token = Arc::as_ptr(tunnel) as usize as u64;
            keep.insert(token);
            if set.tuns.contains_key(&token) {
                continue;
            }
            match ep.add(q.as_raw_fd(), token) {
                Ok(()) => {
                    set.tuns.insert(token, (tunnel.clone(), 0));
                }
                Err(e) => warn!("worker {}: cannot watch {}: {e}", self.id, tunnel.name),
            }
        }
        if keep.len() == set.tuns.len() {
            return;
        }
        set.tuns.retain(|token, (tunnel, _)| {
            if keep.contains(token) {
                return true;
            }
            if let Some(q) = tunnel.read_queue(self.id) {
                let _ = ep.del(q.as_raw_fd());
            }
            false
        });
    }

    /// Datagrams on the NAT-T port: ESP, IKE (after the non-ESP marker)
    /// or keepalives.
    fn udp_in(&self, sock: &UdpSocket, t: &Tables, b: &mut Bufs) {
        for _ in 0..BURST {
            let got = match b.recv.recv(sock) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    debug!("worker {}: UDP receive: {e}", self.id);
                    break;
                }
            };
            let inb = &mut b.inb;
            b.recv
                .for_each_datagram_to(|payload, from, local| match classify(payload) {
                    Ok(Kind::Esp) => self.esp_in(payload, from, true, t, inb),
                    // IKE: dropped when it cannot be an IKE message
                    // (oversized, Length not what arrived) or when the IKE
                    // task is behind (a full queue), never queued without
                    // bound.
                    Ok(Kind::Ike) if ike::driver::natt_ike_plausible(payload) => {
                        let data = payload.get(4..).unwrap_or_default().to_vec();
                        let _ = self.shared.ike.try_send(NattIn { from, local, data });
                    }
                    Ok(Kind::Ike) => {}
                    Ok(Kind::Keepalive) | Err(_) => {}
                });
            self.flush_in(&mut b.inb);
            // Fewer than asked for: the queue was empty (a quiet hub gets
            // one datagram per wake-up, and a second recvmmsg only to hear
            // "empty" was a system call per packet).
            if got < b.recv.capacity() {
                break;
            }
        }
    }

    /// Raw ESP (IP protocol 50), a batch per recvmmsg(2); IPv4 raw
    /// sockets hand over the IP header too.
    fn raw_in(&self, v6: bool, t: &Tables, b: &mut Bufs) {
        let sock = if v6 {
            &self.shared.raw6
        } else {
            &self.shared.raw4
        };
        let Some(sock) = sock else {
            return;
        };
        for _ in 0..BURST {
            let got = match b.raw.recv(sock) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    debug!("worker {}: raw ESP receive: {e}", self.id);
                    break;
                }
            };
            let inb = &mut b.inb;
            b.raw.for_each_datagram(|pkt, from| {
                let skip = if v6 {
                    0
                } else {
                    pkt.first().map_or(0, |v| usize::from(v & 0x0f) * 4)
                };
                if let Some(esp) = pkt.get_mut(skip..) {
                    self.esp_in(esp, from, false, t, inb);
                }
            });
            self.flush_in(&mut b.inb);
            if got < b.raw.capacity() {
                break;
            }
        }
    }

    /// Open one ESP packet (`udp`: it came in UDP) and queue the inner
    /// packet for its tunnel.
    fn esp_in(&self, pkt: &mut [u8], from: SocketAddr, udp: bool, t: &Tables, inb: &mut In) {
        let Ok(spi) = esp::peek_spi(pkt) else {
            return;
        };
        let Some(insa) = t.inbound.get(&spi).filter(|s| s.opens()) else {
            self.shared.unknown_spi.fetch_add(1, Ordering::Relaxed);
            debug!("ESP for unknown SPI {spi:08x} from {from}");
            return;
        };
        let InSa {
            sa,
            tunnel,
            rekey_asked,
            peer,
            reported,
            retired: _,
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
        // Authentic ESP from another address or port than the pair sends
        // to: the peer's NAT mapping changed (the kernel's XFRM mapping
        // event); IKE decides whether to follow. Once per new address.
        if udp {
            let expect = peer.load(Ordering::Relaxed);
            if expect != 0 {
                let k = tables::peer_key(from);
                if k != expect && reported.swap(k, Ordering::Relaxed) != k {
                    self.shared.report_mapping(spi, from);
                }
            }
        }
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
        self.deliver(tunnel, inner, inb);
    }

    /// Queue a decrypted packet for its tunnel's TUN (merging TCP segments
    /// when the TUN takes offloads), or write it at once.
    fn deliver(&self, tunnel: &Arc<TunnelDp>, inner: &[u8], inb: &mut In) {
        let Some(q) = tunnel.write_queue(self.id) else {
            return;
        };
        if !q.vnet_hdr() {
            if let Err(e) = q.send(inner) {
                IfCtr::add(&tunnel.ctr.rx_errors, 1);
                debug!("{}: TUN write: {e}", tunnel.name);
            }
            return;
        }
        if inb.tunnel.as_ref().is_some_and(|t| !Arc::ptr_eq(t, tunnel)) {
            self.flush_in(inb);
        }
        inb.tunnel = Some(tunnel.clone());
        let pushed = match inb.gro.push(inner) {
            Err(GroError::Full) => {
                self.flush_in(inb);
                inb.tunnel = Some(tunnel.clone());
                inb.gro.push(inner)
            }
            r => r,
        };
        if pushed.is_err() {
            // Too large to merge: on its own, behind an empty header.
            let hdr = VirtioNetHdr::default().to_bytes();
            if let Err(e) = q.send_vectored(&[IoSlice::new(&hdr), IoSlice::new(inner)]) {
                IfCtr::add(&tunnel.ctr.rx_errors, 1);
                debug!("{}: TUN write: {e}", tunnel.name);
            }
        }
    }

    /// Write what the GRO batch holds to its tunnel.
    fn flush_in(&self, inb: &mut In) {
        let Some(tunnel) = inb.tunnel.take() else {
            inb.gro.clear();
            return;
        };
        let Some(q) = tunnel.write_queue(self.id) else {
            inb.gro.clear();
            return;
        };
        if let Err(e) = inb.gro.flush(|iov| q.send_vectored(iov).map(drop)) {
            IfCtr::add(&tunnel.ctr.rx_errors, 1);
            debug!("{}: TUN write: {e}", tunnel.name);
        }
    }

    /// Packets routed into a tunnel: seal and send to the peer. `busy`:
    /// read until the queue is empty (at most [`BURST`]); else one read.
    fn tun_in(&self, tunnel: &TunnelDp, busy: bool, b: &mut Bufs) {
        let Some(q) = tunnel.read_queue(self.id) else {
            return;
        };
        let reads = if busy { BURST } else { 1 };
        for _ in 0..reads {
            let n = match q.recv(&mut b.tun) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    debug!("{}: TUN read: {e}", tunnel.name);
                    break;
                }
            };
            let Some(read) = b.tun.get(..n) else {
                continue;
            };
            let seg = if q.vnet_hdr() {
                Segmenter::new(read)
            } else {
                Segmenter::with_header(VirtioNetHdr::default(), read)
            };
            match seg {
                Ok(seg) => self.seal_all(tunnel, seg, &mut b.out),
                Err(e) => {
                    IfCtr::add(&tunnel.ctr.tx_errors, 1);
                    debug!("{}: unusable packet from the TUN: {e}", tunnel.name);
                }
            }
        }
        self.flush_out(tunnel, &mut b.out);
    }

    /// Cut a (super) packet into wire packets, seal each in place in the
    /// send buffers, and queue it.
    fn seal_all(&self, tunnel: &TunnelDp, mut seg: Segmenter<'_>, out: &mut Out) {
        let mut slot = lock(&tunnel.out);
        let Some(o) = slot.current.as_mut() else {
            IfCtr::add(&tunnel.ctr.tx_errors, seg.count() as u64);
            return;
        };
        loop {
            let batch = out.for_peer(o);
            if batch.is_full() {
                // Sending under the SA lock keeps the sequence order.
                self.flush_out(tunnel, out);
                continue;
            }
            let Some(buf) = out.for_peer(o).next_buf() else {
                break;
            };
            let Some(room) = buf.get_mut(HEADROOM..HEADROOM + MAX_INNER) else {
                break;
            };
            let len = match seg.next_into(room) {
                None => break,
                Some(Ok(len)) => len,
                Some(Err(e)) => {
                    IfCtr::add(&tunnel.ctr.tx_errors, 1);
                    debug!("{}: cannot segment: {e}", tunnel.name);
                    break;
                }
            };
            let nh = match room.first().map(|v| v >> 4) {
                Some(4) => esp::NEXT_HEADER_IPV4,
                Some(6) => esp::NEXT_HEADER_IPV6,
                _ => continue,
            };
            if let Some(inner) = room.get_mut(..len) {
                clamp(tunnel, inner);
            }
            match o.sa.seal_in_place(buf, HEADROOM..HEADROOM + len, nh) {
                Ok(range) => {
                    // Raw sockets take no port (IPv6 ones refuse one).
                    let dest = if o.encap {
                        o.remote
                    } else {
                        SocketAddr::new(o.remote.ip(), 0)
                    };
                    out.for_peer(o).commit(range, dest);
                    IfCtr::add(&tunnel.ctr.tx_bytes, len as u64);
                    IfCtr::add(&tunnel.ctr.tx_packets, 1);
                }
                Err(e) => {
                    IfCtr::add(&tunnel.ctr.tx_errors, 1);
                    debug!("{}: cannot seal: {e}", tunnel.name);
                }
            }
        }
        if o.sa.lifetime_state() != Lifetime::Ok && !o.rekey_asked {
            o.rekey_asked = true;
            self.shared.ask_rekey(o.spi_in);
        }
    }

    /// Send everything queued for the tunnel's peers.
    fn flush_out(&self, tunnel: &TunnelDp, out: &mut Out) {
        let socks: [(&mut SendBatch, Option<&dyn AsFd>); 4] = [
            (&mut out.udp4, Some(&self.udp4)),
            (&mut out.udp6, self.udp6.as_ref().map(|s| s as &dyn AsFd)),
            (
                &mut out.raw4,
                self.shared.raw4.as_ref().map(|s| s as &dyn AsFd),
            ),
            (
                &mut out.raw6,
                self.shared.raw6.as_ref().map(|s| s as &dyn AsFd),
            ),
        ];
        for (batch, sock) in socks {
            if batch.is_empty() {
                continue;
            }
            let r = match sock {
                Some(s) => batch.flush(&s.as_fd()),
                None => Err(io::Error::other("no socket for this address family")),
            };
            if let Err(e) = r {
                IfCtr::add(&tunnel.ctr.tx_errors, 1);
                debug!("{}: sending ESP: {e}", tunnel.name);
                // What the socket would not take now is dropped, as a full
                // interface queue would.
                batch.clear();
            }
        }
    }
}

impl Out {
    /// The batch a peer's packets go into.
    fn for_peer(&mut self, o: &Outbound) -> &mut SendBatch {
        match (o.encap, o.remote) {
            (false, SocketAddr::V4(_)) => &mut self.raw4,
            (false, SocketAddr::V6(_)) => &mut self.raw6,
            (true, SocketAddr::V4(_)) => &mut self.udp4,
            (true, SocketAddr::V6(_)) => &mut self.udp6,
        }
    }
}

/// `ip tcp adjust-mss`: clamp the MSS option of TCP SYNs both ways.
fn clamp(tunnel: &TunnelDp, pkt: &mut [u8]) {
    let mss = tunnel.mss.load(Ordering::Relaxed);
    if mss != 0 && clamp_mss(pkt, mss) {
        IfCtr::add(&tunnel.ctr.mss_clamped, 1);
    }
}
