//! What the workers read: inbound SAs by SPI and the tunnels with their
//! TUN queues and current outbound SA. The control task builds a new
//! [`Tables`] for every change and publishes it with arc-swap; workers load
//! it once per wake-up and never wait for the control task.

use esp::userspace::tun::Tun;
use esp::{InboundSa, OsRandom, OutboundSa};
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

    /// Forget pair `spi_in`; a pending pair takes over a removed current.
    pub fn remove(&mut self, spi_in: u32) {
        self.retired.retain(|o| o.spi_in != spi_in);
        if self.pending.as_ref().is_some_and(|p| p.spi_in == spi_in) {
            self.pending = None;
        }
        if self.current.as_ref().is_some_and(|c| c.spi_in == spi_in) {
            self.current = None;
            self.promote();
        }
    }
}

/// A tunnel interface of the userspace data plane.
pub struct TunnelDp {
    pub name: String,
    /// One TUN queue per worker.
    pub queues: Vec<Tun>,
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

/// An inbound SA and the tunnel it delivers to.
pub struct InSa {
    pub sa: Mutex<InboundSa>,
    /// A rekey was asked for (soft lifetime reached).
    pub rekey_asked: AtomicBool,
    pub tunnel: Arc<TunnelDp>,
}

/// One published state of the data plane.
#[derive(Clone, Default)]
pub struct Tables {
    /// Changes whenever the set of TUN queues changes (workers re-poll).
    pub generation: u64,
    pub inbound: HashMap<u32, Arc<InSa>>,
    pub tunnels: HashMap<String, Arc<TunnelDp>>,
}
