//! The interfaces and their addresses, as the kernel reports them over
//! rtnetlink: one view, kept by the routing task and read by everyone
//! else. The task reads it at start, again after every link or address
//! event (RTM_NEWLINK/DELLINK, RTM_NEWADDR/DELADDR) and at each rescan,
//! and publishes it when it changed. The RIB takes its connected networks
//! from it; the BGP speaker its addresses (`redistribute connected`, the
//! other family's next hop, `update-source IFNAME`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use bgp::speaker::IfAddr;
use esp_io::link::{self, Handle, LinkError};
use ipnetwork::IpNetwork;
use tokio::sync::{mpsc, watch};
use tracing::warn;

/// A reader of the view. Cloning is cheap; every clone sees every change.
#[derive(Clone, Debug)]
pub struct Interfaces {
    rx: watch::Receiver<Arc<Vec<IfAddr>>>,
}

impl Interfaces {
    /// Every address of every interface that is up, as last read.
    pub fn addresses(&self) -> Vec<IfAddr> {
        self.rx.borrow().as_ref().clone()
    }

    /// Waits until the view changes after the last `changed` of this
    /// reader. `false` when the routing task is gone (it never changes
    /// again).
    pub async fn changed(&mut self) -> bool {
        self.rx.changed().await.is_ok()
    }

    /// The first address (IPv6 when `v6`, not link-local) of interface
    /// `name` (for `neighbor X update-source IFNAME`).
    pub fn address_of(&self, name: &str, v6: bool) -> Option<IpAddr> {
        self.rx
            .borrow()
            .iter()
            .find(|a| a.name == name && a.addr.is_ipv6() == v6 && !link_local(&a.addr))
            .map(|a| a.addr)
    }
}

/// The writing side, owned by the routing task.
pub(crate) struct Publisher {
    tx: watch::Sender<Arc<Vec<IfAddr>>>,
}

impl Publisher {
    /// A publisher and its first reader, with an empty view.
    pub(crate) fn new() -> (Publisher, Interfaces) {
        let (tx, rx) = watch::channel(Arc::new(Vec::new()));
        (Publisher { tx }, Interfaces { rx })
    }

    /// The view as last published.
    pub(crate) fn current(&self) -> Arc<Vec<IfAddr>> {
        self.tx.borrow().clone()
    }

    /// Reads the kernel's interfaces again and publishes them if they
    /// changed. Returns whether they did. On a netlink error the last
    /// view stays.
    pub(crate) async fn refresh(&self, h: &Handle) -> bool {
        match read(h).await {
            Ok(addrs) => self.tx.send_if_modified(|cur| {
                if **cur == addrs {
                    return false;
                }
                *cur = Arc::new(addrs);
                true
            }),
            Err(e) => {
                warn!("cannot read the interfaces: {e}");
                false
            }
        }
    }
}

/// Every address of every interface that is up, in the kernel's order
/// (an interface's primary address before its secondaries, as getifaddrs
/// gives them; two reads of the same state compare equal).
pub(crate) async fn read(h: &Handle) -> Result<Vec<IfAddr>, LinkError> {
    let links: HashMap<u32, link::Link> = link::all(h)
        .await?
        .into_iter()
        .filter(|l| l.up)
        .map(|l| (l.index, l))
        .collect();
    let out: Vec<IfAddr> = link::addresses(h)
        .await?
        .into_iter()
        .filter_map(|a| {
            let l = links.get(&a.index)?;
            Some(IfAddr {
                name: l.name.clone(),
                addr: a.addr,
                prefix: a.prefix,
                running: l.running,
                loopback: l.loopback,
            })
        })
        .collect();
    Ok(out)
}

fn link_local(a: &IpAddr) -> bool {
    match a {
        IpAddr::V4(v) => v.is_link_local(),
        IpAddr::V6(v) => (v.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// Every interface's connected networks as the RIB sees them: interfaces
/// up and running, without loopback (127/8, ::1) and IPv6 link-local
/// networks; IPv4 link-local (169.254/16, common on tunnels) is kept.
pub(crate) fn networks(addrs: &[IfAddr]) -> Vec<(String, IpNetwork)> {
    let mut v: Vec<(String, IpNetwork)> = addrs
        .iter()
        .filter(|a| a.running && !a.addr.is_loopback())
        .filter(|a| !matches!(a.addr, IpAddr::V6(_)) || !link_local(&a.addr))
        .filter_map(|a| {
            let n = IpNetwork::new(a.addr, a.prefix).ok()?;
            Some((
                a.name.clone(),
                IpNetwork::new(n.network(), n.prefix()).ok()?,
            ))
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// What the kernel says changed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// A link was created, changed (up, down) or deleted.
    Link(String),
    /// An address was added or removed.
    Address,
}

/// The kernel's link and address events, from a netlink socket in the
/// link and address multicast groups, with a handle for reading the
/// view. If the socket cannot be opened the channel is closed and only
/// the periodic rescan remains (which then needs a handle of its own:
/// `None` here means no netlink at all).
pub(crate) fn events() -> (Option<Handle>, mpsc::UnboundedReceiver<Event>) {
    use futures::StreamExt;
    use rtnetlink::packet_core::NetlinkPayload;
    use rtnetlink::packet_route::link::LinkAttribute;
    use rtnetlink::packet_route::RouteNetlinkMessage;
    use rtnetlink::sys::{AsyncSocket, SocketAddr};
    const RTMGRP_LINK: u32 = 0x1;
    const RTMGRP_IPV4_IFADDR: u32 = 0x10;
    const RTMGRP_IPV6_IFADDR: u32 = 0x100;
    let (tx, rx) = mpsc::unbounded_channel();
    let (mut conn, handle, mut messages) = match rtnetlink::new_connection() {
        Ok(c) => c,
        Err(e) => {
            warn!("RIB: no rtnetlink ({e}); interfaces are not read");
            return (None, rx);
        }
    };
    let groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
    if let Err(e) = conn
        .socket_mut()
        .socket_mut()
        .bind(&SocketAddr::new(0, groups))
    {
        warn!("RIB: no link events ({e}); interfaces are rescanned periodically");
        drop(conn);
        return (link::connect().ok(), rx);
    }
    tokio::spawn(conn);
    tokio::spawn(async move {
        while let Some((m, _)) = messages.next().await {
            let ev = match m.payload {
                NetlinkPayload::InnerMessage(
                    RouteNetlinkMessage::NewLink(l) | RouteNetlinkMessage::DelLink(l),
                ) => l.attributes.iter().find_map(|a| match a {
                    LinkAttribute::IfName(n) => Some(Event::Link(n.clone())),
                    _ => None,
                }),
                NetlinkPayload::InnerMessage(
                    RouteNetlinkMessage::NewAddress(_) | RouteNetlinkMessage::DelAddress(_),
                ) => Some(Event::Address),
                _ => None,
            };
            if let Some(ev) = ev {
                if tx.send(ev).is_err() {
                    break;
                }
            }
        }
    });
    (Some(handle), rx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn loopback_is_seen_but_not_connected() {
        rt().block_on(async {
            let (h, _events) = events();
            let h = h.expect("rtnetlink");
            let (publisher, view) = Publisher::new();
            assert!(publisher.refresh(&h).await);
            let all = view.addresses();
            assert!(all
                .iter()
                .any(|a| a.addr == IpAddr::V4(Ipv4Addr::LOCALHOST) && a.prefix == 8 && a.loopback));
            assert!(!networks(&all).iter().any(|(_, n)| n.ip().is_loopback()));
            assert_eq!(
                view.address_of("lo", false),
                Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
            );
            assert_eq!(view.address_of("no-such-interface", false), None);
            // Nothing changed: nothing is published.
            assert!(!publisher.refresh(&h).await);
        });
    }

    /// In a network namespace of its own (this thread only): an address
    /// added to an interface is an event, and the view read after it has
    /// the address and its network.
    #[test]
    fn an_address_added_is_an_event_and_in_the_view() {
        // SAFETY: unshare affects only this thread's namespaces.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: needs root for a network namespace");
            return;
        }
        let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "unshare: {}", std::io::Error::last_os_error());
        rt().block_on(async {
            let (h, mut events) = events();
            let h = h.expect("rtnetlink");
            let (publisher, mut view) = Publisher::new();
            publisher.refresh(&h).await;
            // A fresh namespace: lo is down, so nothing is in the view.
            assert!(view.addresses().is_empty(), "{:?}", view.addresses());
            link::set(&h, "lo", true, None).await.unwrap();
            let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9));
            link::add_address(&h, "lo", ip, 24).await.unwrap();
            let ev = tokio::time::timeout(Duration::from_secs(5), async {
                loop {
                    if events.recv().await? == Event::Address {
                        return Some(());
                    }
                }
            })
            .await;
            assert_eq!(ev, Ok(Some(())), "no address event");
            assert!(publisher.refresh(&h).await);
            assert!(view.changed().await);
            let addrs = view.addresses();
            assert!(
                addrs.iter().any(|a| a.name == "lo" && a.addr == ip && a.prefix == 24),
                "{addrs:?}"
            );
            assert_eq!(view.address_of("lo", false), Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
            assert!(networks(&addrs).contains(&("lo".to_string(), "192.0.2.0/24".parse().unwrap())));
            link::del_address(&h, "lo", ip, 24).await.unwrap();
            assert!(publisher.refresh(&h).await);
            assert!(!view.addresses().iter().any(|a| a.addr == ip));
        });
    }
}
