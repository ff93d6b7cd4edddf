//! Helpers of the load tests (tests/ike_flood.rs, tests/natt_junk.rs,
//! tests/hub_burst.rs): traffic generators that enter a namespace, the
//! daemon's memory, ping summaries.

use super::rvpn::Rvpnd;
use super::strongswan::SwanConn;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Move the calling thread into namespace `ns` (sockets it opens live
/// there); for generator threads.
pub fn enter_netns(ns: &str) {
    let f = std::fs::File::open(format!("/run/netns/{ns}"))
        .unwrap_or_else(|e| panic!("open /run/netns/{ns}: {e}"));
    // SAFETY: setns(2) on a namespace file we just opened; it only moves
    // this thread.
    let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(r, 0, "setns {ns}: {}", std::io::Error::last_os_error());
}

/// Shrink a socket's receive buffer to the kernel's minimum: for sources
/// whose answers nobody reads.
pub fn tiny_rcvbuf(s: &impl AsRawFd) {
    let one: libc::c_int = 1;
    // SAFETY: setsockopt(2) with a valid descriptor and an int.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &one as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// VmRSS of a process, in KiB (0 once it is gone).
pub fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The rvpnd process (`ip netns exec` execs it, so normally the same pid).
pub fn rvpnd_pid(rvpn: &Rvpnd) -> u32 {
    let pid = rvpn.pid().expect("rvpnd runs");
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if comm.trim() == "rvpnd" {
        return pid;
    }
    let kids =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    kids.split_whitespace()
        .filter_map(|k| k.parse().ok())
        .find(|k: &u32| {
            std::fs::read_to_string(format!("/proc/{k}/comm")).is_ok_and(|c| c.trim() == "rvpnd")
        })
        .unwrap_or_else(|| panic!("no rvpnd process under pid {pid} ({comm:?})"))
}

/// "N received" of ping's summary.
pub fn ping_received(ping_out: &str) -> u32 {
    ping_out
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|p| p.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The last 60 lines of a log.
pub fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// The status `show crypto session` gives a tunnel interface
/// (`UP-ACTIVE`, ...; empty if it lists no such interface).
pub fn session_status(rvpn: &Rvpnd, interface: &str) -> String {
    let v = rvpn.show_json("show crypto session");
    v["sessions"]
        .as_array()
        .and_then(|l| l.iter().find(|s| s["interface"] == interface))
        .map(|s| s["status"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

/// rvpnd facing two strongSwan peers (identities swan1.test and
/// swan2.test, one pre-shared key, AES-GCM-256, PRF SHA-384, x25519):
/// Tunnel1 from `rvpn[0]` initiates to `swan[0]`, Tunnel2 on `rvpn[1]`
/// takes a dynamic peer. `net` is the first three octets of the tunnels'
/// /30s; `globals` goes before everything else.
pub struct SwanPair<'a> {
    pub hostname: &'a str,
    pub globals: String,
    pub psk: &'a str,
    pub rvpn: [&'a str; 2],
    pub swan: [&'a str; 2],
    pub net: &'a str,
}

impl SwanPair<'_> {
    pub fn config(&self) -> String {
        let SwanPair {
            hostname,
            globals,
            psk,
            rvpn: [rvpn1, rvpn2],
            swan: [swan1, swan2],
            net,
        } = self;
        format!(
            "hostname {hostname}
{globals}crypto ikev2 proposal P
 encryption aes-gcm-256
 prf sha384
 group 31
!
crypto ikev2 keyring K
 peer swan1
  address {swan1}
  identity fqdn swan1.test
  pre-shared-key 0 {psk}
 peer swan2
  address {swan2}
  identity fqdn swan2.test
  pre-shared-key 0 {psk}
!
crypto ikev2 profile PROF
 match identity remote fqdn domain test
 identity local fqdn rvpn.test
 authentication local pre-share
 authentication remote pre-share
 keyring local K
 proposal P
!
crypto ipsec transform-set TS esp-gcm 256
!
crypto ipsec profile IPS
 set transform-set TS
 set ikev2-profile PROF
!
interface Tunnel1
 ip address {net}.1/30
 tunnel source {rvpn1}
 tunnel destination {swan1}
 tunnel protection ipsec profile IPS
!
interface Tunnel2
 ip address {net}.5/30
 tunnel source {rvpn2}
 tunnel destination dynamic
 tunnel protection ipsec profile IPS
!
"
        )
    }

    /// strongSwan's side of it for peer `n` (1 or 2).
    pub fn swan_conn(&self, n: usize) -> SwanConn {
        let id = format!("swan{n}.test");
        let mut c = SwanConn::psk(
            "rvpn",
            self.swan[n - 1],
            self.rvpn[n - 1],
            &id,
            "rvpn.test",
            self.psk,
        );
        c.proposals = "aes256gcm16-prfsha384-x25519".into();
        c.esp_proposals = "aes256gcm16".into();
        c
    }
}

/// UDP sockets bound to `count` addresses `a.b.0.1`, `a.b.0.2`, ... of a
/// local route in the calling thread's namespace (`ip route add local
/// a.b.0.0/16 dev lo`): non-blocking, with the smallest receive buffer
/// (nobody reads what comes back to spoofed sources).
pub fn spoofed_sockets(a: u8, b: u8, count: u32) -> Vec<UdpSocket> {
    (1..=count)
        .map(|i| {
            let ip = Ipv4Addr::new(a, b, (i >> 8) as u8, (i & 0xff) as u8);
            let s = UdpSocket::bind(SocketAddr::new(IpAddr::V4(ip), 0))
                .unwrap_or_else(|e| panic!("bind {ip}: {e}"));
            s.set_nonblocking(true).expect("nonblocking");
            tiny_rcvbuf(&s);
            s
        })
        .collect()
}

/// Paces a generator at `rate` a second: every 10 ms `tick` gets the
/// numbers of the next `rate / 100` datagrams (1, 2, ...), until `stop`
/// or `max`. How long it ran.
pub fn paced(
    rate: u32,
    max: Duration,
    stop: &AtomicBool,
    mut tick: impl FnMut(std::ops::Range<u64>),
) -> Duration {
    let start = Instant::now();
    let end = start + max;
    let per_tick = u64::from(rate / 100);
    let mut n: u64 = 1;
    let mut at = start;
    while !stop.load(Ordering::Relaxed) && Instant::now() < end {
        tick(n..n + per_tick);
        n += per_tick;
        at += Duration::from_millis(10);
        if let Some(d) = at.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
    }
    start.elapsed()
}
