//! The rvpn configuration of a lab gateway.

use super::PSK;
use std::fmt::Write as _;

/// The rvpn configuration of one gateway.
#[derive(Debug, Clone)]
pub struct GwSpec {
    pub hostname: String,
    pub local_id: String,
    pub remote_id: String,
    /// The keyring peer's address.
    pub peer_addr: String,
    pub source: String,
    /// An address or `dynamic`.
    pub destination: String,
    pub tun4: String,
    pub tun6: String,
    pub mtu: Option<u32>,
    pub child_lifetime: Option<u32>,
    pub ike_lifetime: Option<u32>,
    pub nat_keepalive: Option<u32>,
    /// Prefixes behind the other end (`ip route` / `ipv6 route` into Tunnel1).
    pub routes: Vec<String>,
}

impl GwSpec {
    /// The configuration text (AES-256-GCM, SHA-384, x25519 for IKE,
    /// `esp-gcm 256` for ESP, PSK).
    pub fn render(&self) -> String {
        let mut c = String::new();
        let w = &mut c;
        let _ = writeln!(w, "hostname {}", self.hostname);
        let _ = write!(
            w,
            "crypto ikev2 proposal P
 encryption aes-gcm-256
 prf sha384
 group 31
!
crypto ikev2 keyring K
 peer other
  address {peer}
  identity fqdn {rid}
  pre-shared-key 0 {PSK}
!
crypto ikev2 profile PROF
 match identity remote fqdn {rid}
 identity local fqdn {lid}
 authentication local pre-share
 authentication remote pre-share
 keyring local K
 proposal P
",
            peer = self.peer_addr,
            rid = self.remote_id,
            lid = self.local_id,
        );
        if let Some(l) = self.ike_lifetime {
            let _ = writeln!(w, " lifetime {l}");
        }
        if let Some(k) = self.nat_keepalive {
            let _ = writeln!(w, " nat keepalive {k}");
        }
        let _ = write!(
            w,
            "!
crypto ipsec transform-set TS esp-gcm 256
!
crypto ipsec profile IPS
 set transform-set TS
 set ikev2-profile PROF
"
        );
        if let Some(l) = self.child_lifetime {
            let _ = writeln!(w, " set security-association lifetime seconds {l}");
        }
        let _ = write!(
            w,
            "!
interface Tunnel1
 ip address {}
 ipv6 address {}
",
            self.tun4, self.tun6
        );
        if let Some(m) = self.mtu {
            let _ = writeln!(w, " mtu {m}");
        }
        let _ = write!(
            w,
            " tunnel source {}
 tunnel destination {}
 tunnel protection ipsec profile IPS
!
",
            self.source, self.destination
        );
        for r in &self.routes {
            let fam = if r.contains(':') { "ipv6" } else { "ip" };
            let _ = writeln!(w, "{fam} route {r} Tunnel1");
        }
        c
    }
}
