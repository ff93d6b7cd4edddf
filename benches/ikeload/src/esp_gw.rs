//! `--tun NAME`: ikeload carries its spokes' traffic, so that the
//! responder sees N spokes that do more than IKE (BGP sessions over the
//! tunnels, pings).
//!
//! One TUN device for all spokes. A packet the kernel routes into it is
//! sealed with the outbound SA of the spoke whose configuration-payload
//! address is the packet's source, and sent to the responder as raw ESP
//! (IP protocol 50), or ESP in UDP 4500 where IKE found a NAT. ESP from
//! the responder (raw, or in UDP on the NAT-T port) is opened with the
//! inbound SA its SPI names and written to the TUN device. The script
//! makes the pool local (`ip route add local POOL dev lo`), so that a
//! BGP session generator can bind each session to one spoke's address.
//!
//! ESP is the `esp` crate's (rvpnd's own userspace data plane); the hub
//! side of these benchmarks is what is measured, and strongSwan interop
//! of the ESP code is tested elsewhere (tests/interop_*).

use esp::{InboundSa, OsRandom, OutboundSa, SaKeys, Transform, NEXT_HEADER_IPV4};
use esp_io::tun::Tun;
use ike::sa::ChildSaParams;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::collections::HashMap;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use tokio::io::unix::AsyncFd;
use tokio::net::UdpSocket;

/// A spoke's sending half.
struct Out {
    sa: OutboundSa<OsRandom>,
    remote: SocketAddr,
    encap: bool,
}

/// Counters, printed with the result.
#[derive(Default, Debug)]
pub struct GwStats {
    pub tun_in: u64,
    pub esp_out: u64,
    pub esp_in: u64,
    pub tun_out: u64,
    /// Packets from the TUN device whose source is no spoke's address.
    pub no_sa_out: u64,
    /// ESP whose SPI is unknown, or that failed to open.
    pub bad_in: u64,
    pub send_errors: u64,
}

pub struct Gateway {
    tun: AsyncFd<Tun>,
    raw: AsyncFd<Socket>,
    inbound: HashMap<u32, InboundSa>,
    /// By the spoke's inner address.
    outbound: HashMap<Ipv4Addr, Out>,
    /// Tunnel name -> its address (rekeyed Child SAs carry no
    /// configuration payload).
    addr_of: HashMap<String, Ipv4Addr>,
    pub stats: GwStats,
    buf: Vec<u8>,
    out: Vec<u8>,
}

fn transform(c: &ChildSaParams) -> Result<Transform, String> {
    let bits = (c.chosen.encr.1 != 0).then_some(c.chosen.encr.1);
    Transform::from_iana(c.chosen.encr.0, bits, c.chosen.integ)
        .ok_or_else(|| format!("unsupported ESP transform {}", c.chosen.describe()))
}

fn keys<'a>(t: Transform, (enc, integ): (&'a [u8], &'a [u8])) -> SaKeys<'a> {
    SaKeys::for_transform(t, enc, integ)
}

impl Gateway {
    /// Opens the TUN device `name` (the script brings it up and routes
    /// into it) and a raw ESP socket.
    pub fn new(name: &str) -> io::Result<Gateway> {
        let tun = Tun::create(name)?;
        let raw = Socket::new(
            Domain::IPV4,
            Type::RAW.nonblocking(),
            Some(Protocol::from(libc::IPPROTO_ESP)),
        )?;
        // Bursts from thousands of spokes' sessions at once.
        esp_io::sockopt::deep_recv_buffer(&raw, 8 << 20);
        esp_io::sockopt::deep_send_buffer(&raw, 8 << 20);
        // SAFETY: both own their descriptors (OwnedFd inside), which stay
        // open and the same until the AsyncFd drops them.
        let (tun, raw) = unsafe { (AsyncFd::register(tun)?, AsyncFd::register(raw)?) };
        Ok(Gateway {
            tun,
            raw,
            inbound: HashMap::new(),
            outbound: HashMap::new(),
            addr_of: HashMap::new(),
            stats: GwStats::default(),
            buf: vec![0; 65536],
            out: vec![0; 65536 + 256],
        })
    }

    /// A Child SA came up (first one of a tunnel, or a rekey).
    pub fn child_up(&mut self, c: &ChildSaParams) -> Result<(), String> {
        if let Some((IpAddr::V4(a), _)) = c.cp.local_addresses.first() {
            self.addr_of.insert(c.tunnel.clone(), *a);
        }
        let Some(addr) = self.addr_of.get(&c.tunnel).copied() else {
            return Err(format!("{}: no IPv4 address from the responder", c.tunnel));
        };
        let t = transform(c)?;
        let rx = InboundSa::new(
            c.spi_in,
            t,
            keys(t, c.inbound_keys()),
            c.chosen.esn,
            esp::DEFAULT_WINDOW,
        )
        .map_err(|e| e.to_string())?;
        let tx = OutboundSa::new(
            c.spi_out,
            t,
            keys(t, c.outbound_keys()),
            c.chosen.esn,
            OsRandom::new(),
        )
        .map_err(|e| e.to_string())?;
        self.inbound.insert(c.spi_in, rx);
        let mut remote = c.remote;
        if c.encap {
            remote.set_port(4500);
        }
        self.outbound.insert(
            addr,
            Out {
                sa: tx,
                remote,
                encap: c.encap,
            },
        );
        Ok(())
    }

    /// A Child SA went: its inbound half, and its outbound half unless a
    /// newer SA replaced it.
    pub fn child_down(&mut self, tunnel: &str, spi_in: u32, spi_out: u32) {
        self.inbound.remove(&spi_in);
        if let Some(a) = self.addr_of.get(tunnel) {
            if self.outbound.get(a).is_some_and(|o| o.sa.spi() == spi_out) {
                self.outbound.remove(a);
            }
        }
    }

    /// Waits until the TUN device or the raw socket has packets, then
    /// moves all that are queued.
    pub async fn ready(&mut self, natt: &UdpSocket) {
        tokio::select! {
            r = self.tun.readable() => if let Ok(mut g) = r { g.clear_ready() } else { return },
            r = self.raw.readable() => if let Ok(mut g) = r { g.clear_ready() } else { return },
        }
        self.drain_tun(natt).await;
        self.drain_raw();
    }

    async fn drain_tun(&mut self, natt: &UdpSocket) {
        // Bounded: the engine's timers and sockets get their turn.
        for _ in 0..256 {
            let n = match self.tun.get_ref().recv(&mut self.buf) {
                Ok(n) => n,
                Err(_) => return,
            };
            self.stats.tun_in += 1;
            let pkt = &self.buf[..n];
            if n < 20 || pkt[0] >> 4 != 4 {
                self.stats.no_sa_out += 1;
                continue;
            }
            let src = Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]);
            let Some(o) = self.outbound.get_mut(&src) else {
                self.stats.no_sa_out += 1;
                continue;
            };
            let Ok(len) = o.sa.seal(pkt, NEXT_HEADER_IPV4, &mut self.out) else {
                self.stats.send_errors += 1;
                continue;
            };
            let r = if o.encap {
                natt.send_to(&self.out[..len], o.remote).await.map(|_| ())
            } else {
                let to = SockAddr::from(SocketAddr::new(o.remote.ip(), 0));
                self.raw
                    .get_ref()
                    .send_to(&self.out[..len], &to)
                    .map(|_| ())
            };
            match r {
                Ok(()) => self.stats.esp_out += 1,
                Err(_) => self.stats.send_errors += 1,
            }
        }
    }

    fn drain_raw(&mut self) {
        for _ in 0..256 {
            let mut sock: &Socket = self.raw.get_ref();
            let n = match sock.read(&mut self.buf) {
                Ok(n) => n,
                Err(_) => return,
            };
            // Raw IPv4 sockets hand over the IP header too.
            let ihl = usize::from(self.buf[0] & 0x0f) * 4;
            if n <= ihl {
                self.stats.bad_in += 1;
                continue;
            }
            let mut pkt = std::mem::take(&mut self.buf);
            self.open(&mut pkt[ihl..n]);
            self.buf = pkt;
        }
    }

    /// ESP in UDP that arrived on the NAT-T port (no non-ESP marker).
    pub fn udp_esp(&mut self, esp: &mut [u8]) {
        self.open(esp);
    }

    fn open(&mut self, esp: &mut [u8]) {
        let Some(spi) = esp
            .get(..4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        else {
            self.stats.bad_in += 1;
            return;
        };
        let Some(sa) = self.inbound.get_mut(&spi) else {
            self.stats.bad_in += 1;
            return;
        };
        match sa.open_in_place(esp) {
            Ok(o) if o.next_header == NEXT_HEADER_IPV4 => {
                self.stats.esp_in += 1;
                if self.tun.get_ref().send(o.inner).is_ok() {
                    self.stats.tun_out += 1;
                }
            }
            _ => self.stats.bad_in += 1,
        }
    }

    /// Spokes with an outbound SA now.
    pub fn spokes(&self) -> usize {
        self.outbound.len()
    }
}
