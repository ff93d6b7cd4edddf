//! Virtual-Template labs (IOS FlexVPN, issue 16): an rvpn hub whose
//! Virtual-Template1 leases spokes addresses from a pool and pushes its
//! Loopback0, rvpn spokes with `ip address negotiated`, and reading what
//! the kernel made of them (addresses, routes).

use super::netns::Netns;

/// The hub's public address (on its loopback), its tunnels' source.
pub const HUB: &str = "192.0.2.1";
/// The hub's Loopback0, pushed to spokes as a host route.
pub const HUB_LOOPBACK: &str = "169.254.100.1";

/// An rvpn hub (`hub.test`, PSK `psk`) with Virtual-Template1 for any
/// spoke in spokes.test: pool SPOKES-POOL 169.254.100.2 to `pool_last`
/// through authorization policy SPOKES-POL, which pushes Loopback0
/// ([`HUB_LOOPBACK`]); tunnels from [`HUB`].
pub fn hub_config(psk: &str, pool_last: &str) -> String {
    format!(
        "hostname hub
aaa new-model
aaa authorization network SPOKES-AUTH local
ip local pool SPOKES-POOL 169.254.100.2 {pool_last}
!
crypto ikev2 authorization policy SPOKES-POL
 pool SPOKES-POOL
 route set interface Loopback0
!
{profile}!
crypto ipsec profile VTI
 set ikev2-profile SPOKES
!
interface Loopback0
 ip address {HUB_LOOPBACK}/32
!
interface Virtual-Template1 type tunnel
 ip unnumbered Loopback0
 tunnel source {HUB}
 tunnel mode ipsec ipv4
 tunnel protection ipsec profile VTI
!
",
        profile = super::rvpn::spokes_profile(
            psk,
            " dpd 2 1 periodic
 aaa authorization group psk list SPOKES-AUTH SPOKES-POL
 virtual-template 1
"
        )
    )
}

/// An rvpn spoke `spokeN.spokes.test` (PSK `psk`) whose Tunnel1, from
/// `source` to the hub `hub` (`hub.test`), asks for its address
/// (`ip address negotiated`).
pub fn spoke_config(psk: &str, n: u8, source: &str, hub: &str) -> String {
    format!(
        "hostname spoke{n}
crypto ikev2 keyring HUB
 peer HUB
  address {hub}
  pre-shared-key {psk}
!
crypto ikev2 profile HUB
 match identity remote fqdn hub.test
 identity local fqdn spoke{n}.spokes.test
 authentication local pre-share
 authentication remote pre-share
 keyring local HUB
 dpd 2 1 periodic
!
crypto ipsec profile VTI
 set ikev2-profile HUB
!
interface Tunnel1
 ip address negotiated
 tunnel source {source}
 tunnel destination {hub}
 tunnel mode ipsec ipv4
 tunnel protection ipsec profile VTI
!
"
    )
}

/// `ip -4 route show` in `ns`.
pub fn routes(ns: &Netns) -> String {
    String::from_utf8_lossy(&ns.exec(&["ip", "-4", "route", "show"]).stdout).to_string()
}

/// Whether `ip route show` output has a route to `dst` out of a device
/// whose name starts with `dev`.
pub fn has_route(text: &str, dst: &str, dev: &str) -> bool {
    text.lines().any(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        w.first() == Some(&dst) && w.windows(2).any(|p| p[0] == "dev" && p[1].starts_with(dev))
    })
}

/// The IPv4 addresses the kernel has on `ifname` in `ns` (on every
/// interface when None).
pub fn addrs_of(ns: &Netns, ifname: Option<&str>) -> Vec<String> {
    let mut argv = vec!["ip", "-o", "-4", "addr", "show"];
    if let Some(i) = ifname {
        argv.extend(["dev", i]);
    }
    let o = ns.exec(&argv);
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .skip_while(|w| *w != "inet")
                .nth(1)
                .map(|a| a.split('/').next().unwrap_or_default().to_string())
        })
        .collect()
}
