//! Interface addresses (getifaddrs), for the speaker core (connected
//! networks for `redistribute connected`, the address of the other family
//! on the interface a session runs over), `update-source IFNAME` and the
//! routing task.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnetwork::IpNetwork;

use bgp::speaker::IfAddr;

fn sockaddr_ip(sa: *const libc::sockaddr) -> Option<IpAddr> {
    if sa.is_null() {
        return None;
    }
    // SAFETY: getifaddrs gives valid sockaddrs of the family they name,
    // which we read only as that family.
    unsafe {
        match i32::from((*sa).sa_family) {
            libc::AF_INET => {
                let s = &*(sa as *const libc::sockaddr_in);
                Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(s.sin_addr.s_addr))))
            }
            libc::AF_INET6 => {
                let s = &*(sa as *const libc::sockaddr_in6);
                Some(IpAddr::V6(Ipv6Addr::from(s.sin6_addr.s6_addr)))
            }
            _ => None,
        }
    }
}

fn mask_len(m: IpAddr) -> u8 {
    match m {
        IpAddr::V4(a) => u32::from(a).count_ones() as u8,
        IpAddr::V6(a) => u128::from(a).count_ones() as u8,
    }
}

/// Every address of every interface that is up.
pub fn addresses() -> Vec<IfAddr> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: on success getifaddrs sets `head` to a list we walk read-only
    // and free once with freeifaddrs.
    unsafe {
        if libc::getifaddrs(&mut head) != 0 {
            return out;
        }
        let mut cur = head;
        while !cur.is_null() {
            let ifa = &*cur;
            cur = ifa.ifa_next;
            let flags = ifa.ifa_flags;
            if flags & libc::IFF_UP as u32 == 0 || ifa.ifa_name.is_null() {
                continue;
            }
            let (Some(addr), Some(mask)) =
                (sockaddr_ip(ifa.ifa_addr), sockaddr_ip(ifa.ifa_netmask))
            else {
                continue;
            };
            let name = std::ffi::CStr::from_ptr(ifa.ifa_name)
                .to_string_lossy()
                .into_owned();
            out.push(IfAddr {
                name,
                addr,
                prefix: mask_len(mask),
                running: flags & libc::IFF_RUNNING as u32 != 0,
                loopback: flags & libc::IFF_LOOPBACK as u32 != 0,
            });
        }
        libc::freeifaddrs(head);
    }
    out
}

fn link_local(a: &IpAddr) -> bool {
    match a {
        IpAddr::V4(v) => v.is_link_local(),
        IpAddr::V6(v) => (v.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// The networks of the addresses of interfaces that are up and running
/// (not loopback, not link-local), as `redistribute connected` sees them.
#[cfg(test)]
fn connected_networks() -> Vec<IpNetwork> {
    bgp::speaker::connected_networks(&addresses())
}

/// Every interface's connected networks as the RIB sees them: interfaces
/// up and running, without loopback (127/8, ::1) and IPv6 link-local
/// networks; IPv4 link-local (169.254/16, common on tunnels) is kept.
pub fn interface_networks() -> Vec<(String, IpNetwork)> {
    let mut v: Vec<(String, IpNetwork)> = addresses()
        .into_iter()
        .filter(|a| a.running && !a.addr.is_loopback())
        .filter(|a| !matches!(a.addr, IpAddr::V6(_)) || !link_local(&a.addr))
        .filter_map(|a| {
            let n = IpNetwork::new(a.addr, a.prefix).ok()?;
            Some((a.name, IpNetwork::new(n.network(), n.prefix()).ok()?))
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The first address (IPv6 when `v6`, not link-local) of interface
/// `name` (for `neighbor X update-source IFNAME`).
pub fn interface_address(name: &str, v6: bool) -> Option<IpAddr> {
    addresses()
        .into_iter()
        .find(|a| a.name == name && a.addr.is_ipv6() == v6 && !link_local(&a.addr))
        .map(|a| a.addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_seen_but_not_connected() {
        let all = addresses();
        assert!(all
            .iter()
            .any(|a| a.addr == IpAddr::V4(Ipv4Addr::LOCALHOST) && a.prefix == 8));
        assert!(!connected_networks().iter().any(|n| n.ip().is_loopback()));
        assert_eq!(
            interface_address("lo", false),
            Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
        );
        assert_eq!(interface_address("no-such-interface", false), None);
    }
}
