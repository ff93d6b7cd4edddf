//! The kernel FIB over rtnetlink (issue 6): installs what the `rib`
//! crate selected, marked with rvpn's own route protocol number
//! ([`RTPROT_RVPN`]) so that a restart can find and remove its stale
//! routes without ever touching anyone else's.
//!
//! An ECMP set goes in as one route with RTA_MULTIPATH; a single next hop
//! as a plain route; an IPv4 route through an IPv6 next hop (RFC 8950)
//! with RTA_VIA. Every write is a replace, so applying a change twice is
//! harmless. Kernel nexthop objects (RTM_NEWNEXTHOP) are the next step.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use crate::{FibChange, Resolved, Selected};
use futures::TryStreamExt;
use ipnetwork::IpNetwork;
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteNextHop, RouteProtocol, RouteType, RouteVia,
};
use rtnetlink::{Handle, RouteMessageBuilder};

/// rvpn's route protocol number (`ip route ... proto 196`; FRR's are
/// 186-192, the kernel's below 20).
pub const RTPROT_RVPN: u8 = 196;

fn nl(e: rtnetlink::Error) -> String {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.to_io().to_string(),
        other => other.to_string(),
    }
}

/// The FIB writer.
pub struct Fib {
    handle: Handle,
    /// What is in the kernel (as far as we know).
    installed: BTreeMap<IpNetwork, Selected>,
}

impl Fib {
    /// Opens a netlink connection in the current network namespace.
    pub fn open() -> std::io::Result<Fib> {
        let (conn, handle, _) = rtnetlink::new_connection()?;
        tokio::spawn(conn);
        Ok(Fib {
            handle,
            installed: BTreeMap::new(),
        })
    }

    /// What is installed (for `show ip route`'s installed marks).
    pub fn installed(&self) -> &BTreeMap<IpNetwork, Selected> {
        &self.installed
    }

    /// Removes every route with rvpn's protocol that is not in
    /// `installed` (leftovers of an earlier run); returns how many.
    pub async fn reconcile(&mut self) -> Result<usize, String> {
        let mut stale: Vec<RouteMessage> = Vec::new();
        for v6 in [false, true] {
            let filter = if v6 {
                RouteMessageBuilder::<std::net::Ipv6Addr>::new().build()
            } else {
                RouteMessageBuilder::<std::net::Ipv4Addr>::new().build()
            };
            let mut routes = self.handle.route().get(filter).execute();
            while let Some(m) = routes.try_next().await.map_err(nl)? {
                if u8::from(m.header.protocol) != RTPROT_RVPN {
                    continue;
                }
                let dst = m.attributes.iter().find_map(|a| match a {
                    RouteAttribute::Destination(RouteAddress::Inet(a)) => Some(IpAddr::V4(*a)),
                    RouteAttribute::Destination(RouteAddress::Inet6(a)) => Some(IpAddr::V6(*a)),
                    _ => None,
                });
                let len = m.header.destination_prefix_length;
                let prefix = match dst {
                    Some(a) => IpNetwork::new(a, len).ok(),
                    None if v6 => {
                        IpNetwork::new(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED), 0).ok()
                    }
                    None => IpNetwork::new(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0).ok(),
                };
                if prefix.is_some_and(|p| !self.installed.contains_key(&p)) {
                    stale.push(m);
                }
            }
        }
        let n = stale.len();
        for m in stale {
            self.handle.route().del(m).execute().await.map_err(nl)?;
        }
        Ok(n)
    }

    async fn ifindex(&self, cache: &mut HashMap<String, u32>, name: &str) -> Result<u32, String> {
        if let Some(i) = cache.get(name) {
            return Ok(*i);
        }
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        let m = links
            .try_next()
            .await
            .map_err(|e| format!("interface {name}: {}", nl(e)))?
            .ok_or_else(|| format!("interface {name} does not exist"))?;
        cache.insert(name.to_string(), m.header.index);
        Ok(m.header.index)
    }

    fn message(prefix: &IpNetwork) -> Result<RouteMessageBuilder<IpAddr>, String> {
        RouteMessageBuilder::<IpAddr>::new()
            .destination_prefix(prefix.network(), prefix.prefix())
            .map(|b| b.protocol(RouteProtocol::Other(RTPROT_RVPN)))
            .map_err(|e| format!("{prefix}: {e}"))
    }

    async fn build(
        &self,
        cache: &mut HashMap<String, u32>,
        prefix: &IpNetwork,
        sel: &Selected,
    ) -> Result<RouteMessage, String> {
        let mut b = Self::message(prefix)?;
        if sel.nexthops.contains(&Resolved::Blackhole) {
            return Ok(b.kind(RouteType::BlackHole).build());
        }
        let gw_attr = |g: IpAddr| match (prefix.is_ipv4(), g) {
            (true, IpAddr::V4(a)) => RouteAttribute::Gateway(RouteAddress::Inet(a)),
            (false, IpAddr::V6(a)) => RouteAttribute::Gateway(RouteAddress::Inet6(a)),
            (_, IpAddr::V6(a)) => RouteAttribute::Via(RouteVia::Inet6(a)),
            (_, IpAddr::V4(a)) => RouteAttribute::Via(RouteVia::Inet(a)),
        };
        let mut hops: Vec<RouteNextHop> = Vec::new();
        for h in &sel.nexthops {
            if let Resolved::Via { gateway, ifname } = h {
                let index = self.ifindex(cache, ifname).await?;
                let mut nh = RouteNextHop::default();
                nh.interface_index = index;
                nh.attributes = gateway.map(gw_attr).into_iter().collect();
                hops.push(nh);
            }
        }
        match hops.as_slice() {
            [] => Err(format!("{prefix}: no next hop")),
            [one] => {
                b = b.output_interface(one.interface_index);
                let mut m = b.build();
                m.attributes.extend(one.attributes.iter().cloned());
                Ok(m)
            }
            _ => Ok(b.multipath(hops).build()),
        }
    }

    /// Applies FIB changes. Returns the ones the kernel refused, with why
    /// (they stay out of [`Fib::installed`], to be retried).
    pub async fn apply(&mut self, changes: &[FibChange]) -> Vec<(IpNetwork, String)> {
        let mut cache = HashMap::new();
        let mut failed = Vec::new();
        for c in changes {
            match c {
                FibChange::Set(p, sel) => {
                    let res = match self.build(&mut cache, p, sel).await {
                        Ok(m) => self
                            .handle
                            .route()
                            .add(m)
                            .replace()
                            .execute()
                            .await
                            .map_err(nl),
                        Err(e) => Err(e),
                    };
                    match res {
                        Ok(()) => {
                            self.installed.insert(*p, sel.clone());
                        }
                        Err(e) => {
                            self.installed.remove(p);
                            failed.push((*p, e));
                        }
                    }
                }
                FibChange::Remove(p) => {
                    if self.installed.remove(p).is_none() {
                        continue;
                    }
                    let m = match Self::message(p) {
                        Ok(b) => b.build(),
                        Err(e) => {
                            failed.push((*p, e));
                            continue;
                        }
                    };
                    if let Err(e) = self.handle.route().del(m).execute().await.map_err(nl) {
                        // Already gone (e.g. with its interface) is fine.
                        if !e.contains("No such process") {
                            failed.push((*p, e));
                        }
                    }
                }
            }
        }
        failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Candidate, NextHop, Rib, Source};
    use std::process::Command;

    fn sh(args: &[&str]) -> String {
        let o = Command::new(args[0]).args(&args[1..]).output().unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Runs `f` on a thread inside network namespace `ns` with its own
    /// runtime (netlink sockets belong to the namespace they were opened
    /// in).
    fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{ns}");
        std::thread::spawn(move || {
            let fd = std::fs::File::open(&path).unwrap();
            use std::os::fd::AsRawFd;
            // SAFETY: setns on a valid namespace fd affects only this thread.
            let r = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(r, 0, "setns");
            f()
        })
        .join()
        .unwrap()
    }

    struct Ns(String);
    impl Drop for Ns {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }

    /// Two tunnels' worth of connected networks, a BGP route through both:
    /// the kernel gets one route with two next hops, marked proto 196; it
    /// shrinks to one when a tunnel goes; a restart's reconcile removes
    /// our leftovers and leaves a route of another protocol alone.
    #[test]
    fn ecmp_route_in_the_kernel_and_reconcile() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIPPED: needs root");
            return;
        }
        let name = format!("rvfib{}", std::process::id());
        sh(&["ip", "netns", "add", &name]);
        let ns = Ns(name.clone());
        // Veth pairs inside the namespace stand in for two tunnels.
        for (i, a) in [("d1", "169.254.11.2/30"), ("d2", "169.254.12.2/30")] {
            let peer = format!("{i}p");
            sh(&[
                "ip", "-n", &ns.0, "link", "add", i, "type", "veth", "peer", "name", &peer,
            ]);
            sh(&["ip", "-n", &ns.0, "addr", "add", a, "dev", i]);
            sh(&["ip", "-n", &ns.0, "link", "set", i, "up"]);
            sh(&["ip", "-n", &ns.0, "link", "set", &peer, "up"]);
        }
        // Someone else's route, which reconcile must leave alone.
        sh(&[
            "ip",
            "-n",
            &ns.0,
            "route",
            "add",
            "10.77.0.0/16",
            "via",
            "169.254.11.1",
            "proto",
            "static",
        ]);
        let mut rib = Rib::new();
        for (p, i) in [("169.254.11.0/30", "d1"), ("169.254.12.0/30", "d2")] {
            rib.set(
                Source::Connected,
                p.parse().unwrap(),
                Some(Candidate {
                    distance: 0,
                    metric: 0,
                    nexthops: vec![NextHop::Interface(i.into())],
                }),
            );
        }
        rib.set(
            Source::Bgp,
            "10.2.0.0/24".parse().unwrap(),
            Some(Candidate {
                distance: 20,
                metric: 0,
                nexthops: vec![
                    NextHop::Gateway("169.254.11.1".parse().unwrap()),
                    NextHop::Gateway("169.254.12.1".parse().unwrap()),
                ],
            }),
        );
        // Only the BGP route is ours to install (connected ones are the
        // kernel's own).
        let changes: Vec<FibChange> = rib
            .resolve()
            .into_iter()
            .filter(|c| matches!(c, FibChange::Set(_, s) if s.source == Source::Bgp))
            .collect();
        assert_eq!(changes.len(), 1);
        let failed = in_ns(&name, move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let mut fib = Fib::open().unwrap();
                let failed = fib.apply(&changes).await;
                (failed, fib.installed().keys().copied().collect::<Vec<_>>())
            })
        });
        let (failed, installed) = failed;
        assert!(failed.is_empty(), "{failed:?}");
        assert_eq!(installed, vec!["10.2.0.0/24".parse::<IpNetwork>().unwrap()]);
        let out = sh(&["ip", "-n", &ns.0, "route", "show", "proto", "196"]);
        assert!(out.contains("10.2.0.0/24"), "{out}");
        assert!(out.contains("nexthop via 169.254.11.1 dev d1"), "{out}");
        assert!(out.contains("nexthop via 169.254.12.1 dev d2"), "{out}");

        // Tunnel 2 goes: one next hop left.
        rib.set(Source::Connected, "169.254.12.0/30".parse().unwrap(), None);
        let changes: Vec<FibChange> = rib
            .resolve()
            .into_iter()
            .filter(|c| match c {
                FibChange::Set(_, s) => s.source == Source::Bgp,
                FibChange::Remove(p) => p.prefix() != 30,
            })
            .collect();
        let failed = in_ns(&name, move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let mut fib = Fib::open().unwrap();
                let f = fib.apply(&changes).await;
                // A new process: nothing installed yet, so reconcile
                // removes our route and nothing else.
                let mut fresh = Fib::open().unwrap();
                let n = fresh.reconcile().await.unwrap();
                (f, n)
            })
        });
        assert!(failed.0.is_empty(), "{:?}", failed.0);
        assert_eq!(failed.1, 1, "one leftover of ours removed");
        let out = sh(&["ip", "-n", &ns.0, "route", "show"]);
        assert!(!out.contains("10.2.0.0/24"), "{out}");
        assert!(
            out.contains("10.77.0.0/16"),
            "the static route stays: {out}"
        );
    }
}
