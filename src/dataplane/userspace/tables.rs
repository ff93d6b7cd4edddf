//! What the workers read: inbound SAs by SPI and the tunnels with their
//! TUN queues and current outbound SA. The control task builds a new
//! [`Tables`] for every change and publishes it with arc-swap; workers load
//! it once per wake-up and never wait for the control task.

use esp::{InboundSa, OsRandom, OutboundSa};
use esp_io::tun::Tun;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Lock a mutex, taking over a poisoned one (a worker that panicked while
/// holding it left an SA whose counters may be off by one, nothing worse).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Counters of a tunnel interface, updated by every worker.
#[derive(Debug, Default)]
pub struct IfCtr {
    pub rx_packets: AtomicU64,
    pub rx_bytes: AtomicU64,
    pub tx_packets: AtomicU64,
    pub tx_bytes: AtomicU64,
    pub rx_errors: AtomicU64,
    pub tx_errors: AtomicU64,
    pub mss_clamped: AtomicU64,
}

impl IfCtr {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// The sending half of an SA pair.
pub struct Outbound {
    pub sa: OutboundSa<OsRandom>,
    /// The pair's inbound SPI (what the daemon names the pair by).
    pub spi_in: u32,
    pub remote: SocketAddr,
    /// ESP in UDP (RFC 3948) rather than IP protocol 50.
    pub encap: bool,
    /// A rekey was asked for (soft lifetime reached).
    pub rekey_asked: bool,
}

/// Which outbound SA seals a tunnel's packets.
#[derive(Default)]
pub struct OutSlot {
    pub current: Option<Outbound>,
    /// A rekeyed pair we answered: the peer may not have installed its
    /// inbound SA yet, so we keep sealing with `current` until a packet
    /// arrives on the new pair or the old pair is removed.
    pub pending: Option<Outbound>,
    /// Replaced pairs whose inbound SA still lives (for counters).
    pub retired: Vec<Outbound>,
}

impl OutSlot {
    /// Make the pending pair current.
    pub fn promote(&mut self) {
        if let Some(p) = self.pending.take() {
            if let Some(old) = self.current.replace(p) {
                self.retired.push(old);
            }
        }
    }

    /// The outbound half of pair `spi_in`, wherever it is.
    pub fn find(&self, spi_in: u32) -> Option<&Outbound> {
        self.current
            .iter()
            .chain(self.pending.iter())
            .chain(self.retired.iter())
            .find(|o| o.spi_in == spi_in)
    }

    /// The outbound half of pair `spi_in`, to change where it sends.
    pub fn find_mut(&mut self, spi_in: u32) -> Option<&mut Outbound> {
        self.current
            .iter_mut()
            .chain(self.pending.iter_mut())
            .chain(self.retired.iter_mut())
            .find(|o| o.spi_in == spi_in)
    }

    /// Forget pair `spi_in`. A removed current pair is replaced by the
    /// pending one, else by the newest pair still installed (two Child SAs
    /// of a simultaneous initiation: the one kept may be the older).
    pub fn remove(&mut self, spi_in: u32) {
        self.retired.retain(|o| o.spi_in != spi_in);
        if self.pending.as_ref().is_some_and(|p| p.spi_in == spi_in) {
            self.pending = None;
        }
        if self.current.as_ref().is_some_and(|c| c.spi_in == spi_in) {
            self.current = None;
            if self.pending.is_some() {
                self.promote();
            } else {
                self.current = self.retired.pop();
            }
        }
    }
}

/// A tunnel interface of the userspace data plane.
pub struct TunnelDp {
    pub name: String,
    /// The TUN device's interface index.
    pub ifindex: u32,
    /// One TUN queue per worker (a multi-queue device), or the one queue
    /// of a single-queue device, which worker `owner` reads.
    pub queues: Vec<Tun>,
    /// The worker that reads a single-queue device.
    pub owner: usize,
    pub out: Mutex<OutSlot>,
    /// The inbound SPI of `out.pending` (0: none), checked without the lock
    /// on every received packet.
    pub pending_spi: AtomicU32,
    /// `ip tcp adjust-mss` (0: off).
    pub mss: AtomicU16,
    pub mtu: AtomicU32,
    /// Addresses rvpn put on the interface.
    pub addresses: Mutex<Vec<ipnetwork::IpNetwork>>,
    pub line_up: AtomicBool,
    pub ctr: IfCtr,
}

impl TunnelDp {
    /// The queue worker `id` reads, if any: its own of a multi-queue
    /// device; the only one of a single-queue device if it owns it. Every
    /// queue is read by exactly one worker.
    pub fn read_queue(&self, id: usize) -> Option<&Tun> {
        match self.queues.as_slice() {
            [only] => (id == self.owner).then_some(only),
            qs => qs.get(id),
        }
    }

    /// The queue worker `id` writes decrypted packets into: its own, or
    /// the only one (writes from several threads are fine).
    pub fn write_queue(&self, id: usize) -> Option<&Tun> {
        self.queues.get(id).or_else(|| self.queues.first())
    }
}

/// An inbound SA and the tunnel it delivers to.
pub struct InSa {
    pub sa: Mutex<InboundSa>,
    /// A rekey was asked for (soft lifetime reached).
    pub rekey_asked: AtomicBool,
    pub tunnel: Arc<TunnelDp>,
    /// [`peer_key`] of where the pair sends its ESP in UDP (0: raw ESP,
    /// not checked): ESP that opens but came from elsewhere is reported
    /// to IKE (the peer's NAT mapping may have changed).
    pub peer: AtomicU64,
    /// [`peer_key`] of the last address reported, so each new one is
    /// reported once.
    pub reported: AtomicU64,
    /// When IKE removed the pair while the tunnel kept another one (a
    /// rekey), in [`clock_ms`] (0: not removed). See [`LINGER`].
    pub retired: AtomicU64,
}

/// How long the inbound SA of a pair that a rekey replaced still opens
/// packets after IKE removed it. ESP the peer sealed just before it
/// switched to the new pair may still wait in a socket when the Delete
/// (which travels on another socket, to another task) has already removed
/// the pair; without this those packets are lost at every rekey on a
/// loaded machine. The outbound half goes at once.
pub const LINGER: std::time::Duration = std::time::Duration::from_secs(2);

/// Milliseconds on a monotonic clock that starts with the first call
/// (never 0 afterwards: see [`InSa::retire`]).
pub fn clock_ms() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let ms = START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_millis();
    u64::try_from(ms).unwrap_or(u64::MAX)
}

impl InSa {
    /// IKE removed the pair but the tunnel keeps another: the inbound SA
    /// opens packets for [`LINGER`] more, then goes with the next change
    /// of the tables.
    pub fn retire(&self) {
        self.retired.store(clock_ms().max(1), Ordering::Relaxed);
    }

    /// Not removed by IKE (what show and the line protocol count).
    pub fn live(&self) -> bool {
        self.retired.load(Ordering::Relaxed) == 0
    }

    /// Still opens packets: live, or removed less than [`LINGER`] ago.
    pub fn opens(&self) -> bool {
        self.opens_at(clock_ms())
    }

    /// [`InSa::opens`] at `now` ([`clock_ms`]).
    pub fn opens_at(&self, now: u64) -> bool {
        let r = self.retired.load(Ordering::Relaxed);
        r == 0 || now.saturating_sub(r) < LINGER.as_millis() as u64
    }
}

/// A number for an address and port, compared per packet without a lock
/// (never 0).
pub fn peer_key(a: SocketAddr) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: &[u8]| {
        for x in b {
            h ^= u64::from(*x);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    match a.ip() {
        std::net::IpAddr::V4(v) => eat(&v.octets()),
        std::net::IpAddr::V6(v) => eat(&v.octets()),
    }
    eat(&a.port().to_be_bytes());
    h.max(1)
}

/// One published state of the data plane.
#[derive(Clone, Default)]
pub struct Tables {
    /// Changes whenever the set of TUN queues changes (workers re-poll).
    pub generation: u64,
    pub inbound: HashMap<u32, Arc<InSa>>,
    pub tunnels: HashMap<String, Arc<TunnelDp>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use esp::{SaKeys, Transform};

    fn pair(spi_in: u32) -> Outbound {
        let key = [7u8; 36];
        Outbound {
            sa: OutboundSa::new(
                spi_in + 1,
                Transform::AesGcm16_256,
                SaKeys::aead(&key),
                false,
                OsRandom::new(),
            )
            .unwrap(),
            spi_in,
            remote: "192.0.2.1:4500".parse().unwrap(),
            encap: true,
            rekey_asked: false,
        }
    }

    fn current(s: &OutSlot) -> Option<u32> {
        s.current.as_ref().map(|o| o.spi_in)
    }

    #[test]
    fn answered_rekey_waits_until_promoted_or_old_pair_removed() {
        let mut s = OutSlot {
            current: Some(pair(0x100)),
            pending: Some(pair(0x200)),
            ..OutSlot::default()
        };
        assert_eq!(current(&s), Some(0x100));
        s.promote();
        assert_eq!(current(&s), Some(0x200));
        assert!(s.find(0x100).is_some(), "old pair kept for its counters");
        s.remove(0x100);
        assert!(s.find(0x100).is_none());
        assert_eq!(current(&s), Some(0x200));

        // Removing the old pair first also switches to the pending one.
        let mut s = OutSlot {
            current: Some(pair(0x100)),
            pending: Some(pair(0x200)),
            ..OutSlot::default()
        };
        s.remove(0x100);
        assert_eq!(current(&s), Some(0x200));
        assert!(s.pending.is_none());
    }

    #[test]
    fn removing_the_current_pair_falls_back_to_the_newest_installed_one() {
        // Both ends initiated: two pairs installed, the first one is kept
        // by IKE and the second deleted.
        let mut s = OutSlot {
            current: Some(pair(0x200)),
            retired: vec![pair(0x100)],
            ..OutSlot::default()
        };
        s.remove(0x200);
        assert_eq!(current(&s), Some(0x100));
        s.remove(0x100);
        assert_eq!(current(&s), None);
    }

    fn insa() -> InSa {
        let key = [7u8; 36];
        InSa {
            sa: Mutex::new(
                InboundSa::new(
                    0x300,
                    Transform::AesGcm16_256,
                    SaKeys::aead(&key),
                    false,
                    1024,
                )
                .unwrap(),
            ),
            rekey_asked: AtomicBool::new(false),
            tunnel: Arc::new(TunnelDp {
                name: "Tunnel1".into(),
                ifindex: 0,
                queues: Vec::new(),
                owner: 0,
                out: Mutex::new(OutSlot::default()),
                pending_spi: AtomicU32::new(0),
                mss: AtomicU16::new(0),
                mtu: AtomicU32::new(1400),
                addresses: Mutex::new(Vec::new()),
                line_up: AtomicBool::new(true),
                ctr: IfCtr::default(),
            }),
            peer: AtomicU64::new(0),
            reported: AtomicU64::new(0),
            retired: AtomicU64::new(0),
        }
    }

    #[test]
    fn a_replaced_inbound_sa_opens_packets_for_the_linger_time_only() {
        let s = insa();
        assert!(s.live() && s.opens());
        s.retire();
        let at = s.retired.load(Ordering::Relaxed);
        assert!(at > 0);
        assert!(!s.live(), "no longer counted as the tunnel's SA");
        let linger = LINGER.as_millis() as u64;
        assert!(s.opens_at(at) && s.opens_at(at + linger - 1));
        assert!(!s.opens_at(at + linger), "gone after {LINGER:?}");
    }
}
