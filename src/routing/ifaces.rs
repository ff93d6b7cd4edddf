//! The interfaces and their addresses, as the kernel reports them over
//! rtnetlink: one view, kept by the routing task and read by everyone
//! else. The task reads it whole at start and at each rescan, applies
//! every link or address event (RTM_NEWLINK/DELLINK, RTM_NEWADDR/DELADDR)
//! to it in between (the event says what changed: no dump per event), and
//! publishes it when it changed. The RIB takes its connected networks
//! from it; the BGP speaker its addresses (`redistribute connected`, the
//! other family's next hop, `update-source IFNAME`).

use std::collections::{BTreeMap, HashMap};
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

    /// Publishes `model`'s view if it differs from the last one. Returns
    /// whether it did.
    pub(crate) fn publish(&self, model: &Model) -> bool {
        let addrs = model.addresses();
        self.tx.send_if_modified(|cur| {
            if **cur == addrs {
                return false;
            }
            *cur = Arc::new(addrs);
            true
        })
    }
}

/// A link as the view needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LinkState {
    name: String,
    up: bool,
    running: bool,
    loopback: bool,
}

/// The kernel's interfaces and their addresses as the routing task keeps
/// them: read whole at start and at each rescan ([`Model::read`]), and
/// brought up to date by each link or address event in between
/// ([`Model::apply`]: the one link or address the event names, so an
/// event costs the same with a thousand interfaces as with one).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Model {
    links: HashMap<u32, LinkState>,
    by_name: HashMap<String, u32>,
    /// Addresses by (IPv6, interface index), each interface's in the
    /// kernel's order (IPv4 first, then IPv6, interfaces by index, as a
    /// dump gives them).
    addrs: BTreeMap<(bool, u32), Vec<(IpAddr, u8)>>,
}

/// The link under the operator's name (`rvpn-va17` is
/// `Virtual-Access17`): the view, the RIB and BGP use those.
fn operator_named(mut l: link::Link) -> link::Link {
    if let std::borrow::Cow::Owned(n) = link::operator_name(&l.name) {
        l.name = n;
    }
    l
}

impl Model {
    /// Every link and address, read from the kernel.
    pub(crate) async fn read(h: &Handle) -> Result<Model, LinkError> {
        let mut m = Model::default();
        for l in link::all(h).await? {
            m.apply(&Event::Link(operator_named(l)));
        }
        for a in link::addresses(h).await? {
            m.apply(&Event::Address(a));
        }
        Ok(m)
    }

    /// Applies one event. Returns the interfaces whose part of the view
    /// changed (a renamed link: both names).
    pub(crate) fn apply(&mut self, ev: &Event) -> Vec<String> {
        match ev {
            Event::Link(l) => {
                let new = LinkState {
                    name: l.name.clone(),
                    up: l.up,
                    running: l.running,
                    loopback: l.loopback,
                };
                if l.name.is_empty() {
                    return Vec::new();
                }
                let old = self.links.insert(l.index, new);
                if old.as_ref().is_some_and(|o| {
                    o.name == l.name
                        && o.up == l.up
                        && o.running == l.running
                        && o.loopback == l.loopback
                }) {
                    return Vec::new();
                }
                let mut changed = vec![l.name.clone()];
                if let Some(o) = old.filter(|o| o.name != l.name) {
                    if self.by_name.get(&o.name) == Some(&l.index) {
                        self.by_name.remove(&o.name);
                    }
                    changed.push(o.name);
                }
                self.by_name.insert(l.name.clone(), l.index);
                changed
            }
            Event::LinkGone(l) => {
                self.addrs.remove(&(false, l.index));
                self.addrs.remove(&(true, l.index));
                let Some(o) = self.links.remove(&l.index) else {
                    return Vec::new();
                };
                if self.by_name.get(&o.name) == Some(&l.index) {
                    self.by_name.remove(&o.name);
                }
                vec![o.name]
            }
            Event::Address(a) => {
                let v6 = a.addr.is_ipv6();
                let list = self.addrs.entry((v6, a.index)).or_default();
                let entry = (a.addr, a.prefix);
                if list.contains(&entry) {
                    return Vec::new();
                }
                // IPv6: the kernel keeps an interface's addresses by
                // scope, link-local ones last.
                let at = if v6 && !link_local(&a.addr) {
                    list.iter()
                        .position(|(x, _)| link_local(x))
                        .unwrap_or(list.len())
                } else {
                    list.len()
                };
                list.insert(at, entry);
                self.name_of(a.index).into_iter().collect()
            }
            Event::AddressGone(a) => {
                let key = (a.addr.is_ipv6(), a.index);
                let Some(list) = self.addrs.get_mut(&key) else {
                    return Vec::new();
                };
                let before = list.len();
                list.retain(|e| *e != (a.addr, a.prefix));
                if list.len() == before {
                    return Vec::new();
                }
                if list.is_empty() {
                    self.addrs.remove(&key);
                }
                self.name_of(a.index).into_iter().collect()
            }
            Event::Overrun => Vec::new(),
        }
    }

    fn name_of(&self, index: u32) -> Option<String> {
        self.links.get(&index).map(|l| l.name.clone())
    }

    /// The names of every link.
    pub(crate) fn names(&self) -> impl Iterator<Item = &String> {
        self.by_name.keys()
    }

    /// The view: every address of every interface that is up.
    pub(crate) fn addresses(&self) -> Vec<IfAddr> {
        let mut out = Vec::new();
        for ((_, index), list) in &self.addrs {
            let Some(l) = self.links.get(index).filter(|l| l.up) else {
                continue;
            };
            out.extend(list.iter().map(|(addr, prefix)| IfAddr {
                name: l.name.clone(),
                addr: *addr,
                prefix: *prefix,
                running: l.running,
                loopback: l.loopback,
            }));
        }
        out
    }

    /// The connected networks of interface `name`, as [`networks`] gives
    /// them for the whole view.
    pub(crate) fn networks_of(&self, name: &str) -> Vec<IpNetwork> {
        let Some(index) = self.by_name.get(name) else {
            return Vec::new();
        };
        if !self.links.get(index).is_some_and(|l| l.up && l.running) {
            return Vec::new();
        }
        let mut v: Vec<IpNetwork> = [false, true]
            .iter()
            .filter_map(|v6| self.addrs.get(&(*v6, *index)))
            .flatten()
            .filter_map(|(a, p)| connected(a, *p))
            .collect();
        v.sort();
        v.dedup();
        v
    }
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
#[cfg(test)]
pub(crate) fn networks(addrs: &[IfAddr]) -> Vec<(String, IpNetwork)> {
    let mut v: Vec<(String, IpNetwork)> = addrs
        .iter()
        .filter(|a| a.running)
        .filter_map(|a| Some((a.name.clone(), connected(&a.addr, a.prefix)?)))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The connected network of one address, unless it has none (loopback,
/// IPv6 link-local).
fn connected(addr: &IpAddr, prefix: u8) -> Option<IpNetwork> {
    if addr.is_loopback() || (addr.is_ipv6() && link_local(addr)) {
        return None;
    }
    let n = IpNetwork::new(*addr, prefix).ok()?;
    IpNetwork::new(n.network(), n.prefix()).ok()
}

/// What the kernel says changed.
#[derive(Debug)]
pub(crate) enum Event {
    /// A link was created or changed (up, down, renamed).
    Link(link::Link),
    /// A link was deleted.
    LinkGone(link::Link),
    /// An address was added (or changed).
    Address(link::Address),
    /// An address was removed.
    AddressGone(link::Address),
    /// The kernel dropped events (the socket's buffer was full): the view
    /// must be read again.
    Overrun,
}

impl Event {
    /// The link a link event names.
    pub(crate) fn link_name(&self) -> Option<&str> {
        match self {
            Event::Link(l) | Event::LinkGone(l) => Some(&l.name),
            Event::Address(_) | Event::AddressGone(_) | Event::Overrun => None,
        }
    }
}

/// The kernel's link and address events, from a netlink socket in the
/// link and address multicast groups, with a handle for reading the
/// view. If the socket cannot be opened the channel is closed and only
/// the periodic rescan remains (which then needs a handle of its own:
/// `None` here means no netlink at all).
pub(crate) fn events() -> (Option<Handle>, mpsc::UnboundedReceiver<Event>) {
    use futures::StreamExt;
    use rtnetlink::packet_core::NetlinkPayload;
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
    // A hub creating thousands of Virtual-Access interfaces at once sends
    // bursts of events; a deep buffer makes an overrun (and the full read
    // it then takes) rare.
    let _ = conn.socket_mut().socket_mut().set_rx_buf_sz(4usize << 20);
    tokio::spawn(conn);
    tokio::spawn(async move {
        while let Some((m, _)) = messages.next().await {
            let ev = match m.payload {
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) => {
                    Some(Event::Link(operator_named(link::Link::from_message(&l))))
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(l)) => Some(
                    Event::LinkGone(operator_named(link::Link::from_message(&l))),
                ),
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewAddress(a)) => {
                    link::Address::from_message(&a).map(Event::Address)
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelAddress(a)) => {
                    link::Address::from_message(&a).map(Event::AddressGone)
                }
                NetlinkPayload::Overrun(_) => Some(Event::Overrun),
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
            let model = Model::read(&h).await.unwrap();
            assert!(publisher.publish(&model));
            let all = view.addresses();
            assert!(all
                .iter()
                .any(|a| a.addr == IpAddr::V4(Ipv4Addr::LOCALHOST) && a.prefix == 8 && a.loopback));
            assert!(!networks(&all).iter().any(|(_, n)| n.ip().is_loopback()));
            assert!(model.networks_of("lo").is_empty());
            assert_eq!(
                view.address_of("lo", false),
                Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
            );
            assert_eq!(view.address_of("no-such-interface", false), None);
            // Nothing changed: nothing is published.
            assert!(!publisher.publish(&Model::read(&h).await.unwrap()));
        });
    }

    fn link(index: u32, name: &str, up: bool) -> link::Link {
        link::Link {
            index,
            name: name.into(),
            up,
            running: up,
            ..link::Link::default()
        }
    }

    fn addr(index: u32, a: &str, prefix: u8) -> link::Address {
        link::Address {
            index,
            addr: a.parse().unwrap(),
            prefix,
        }
    }

    /// Events change the one interface they name, and say which.
    #[test]
    fn events_update_the_model_one_interface_at_a_time() {
        let mut m = Model::default();
        assert_eq!(
            m.apply(&Event::Link(link(5, "Tunnel1", false))),
            ["Tunnel1"]
        );
        assert_eq!(m.apply(&Event::Link(link(6, "eth0", true))), ["eth0"]);
        // The same state again: nothing changed.
        assert!(m.apply(&Event::Link(link(6, "eth0", true))).is_empty());
        // An overrun names no interface and changes nothing by itself (the
        // task reads everything again).
        let before = m.clone();
        assert!(m.apply(&Event::Overrun).is_empty());
        assert_eq!(Event::Overrun.link_name(), None);
        assert!(m == before);
        assert_eq!(m.apply(&Event::Address(addr(6, "192.0.2.1", 24))), ["eth0"]);
        assert!(m
            .apply(&Event::Address(addr(6, "192.0.2.1", 24)))
            .is_empty());
        assert_eq!(m.apply(&Event::Address(addr(6, "fe80::1", 64))), ["eth0"]);
        assert_eq!(
            m.apply(&Event::Address(addr(6, "2001:db8::1", 64))),
            ["eth0"]
        );
        assert_eq!(
            m.apply(&Event::Address(addr(5, "169.254.0.1", 30))),
            ["Tunnel1"]
        );
        // Tunnel1 is down: its address is not in the view, no network.
        let view: Vec<(String, IpAddr)> = m
            .addresses()
            .into_iter()
            .map(|a| (a.name, a.addr))
            .collect();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // IPv4 first, IPv6 by scope (link-local last), as a dump has them.
        assert_eq!(
            view,
            [
                ("eth0".to_string(), ip("192.0.2.1")),
                ("eth0".to_string(), ip("2001:db8::1")),
                ("eth0".to_string(), ip("fe80::1")),
            ]
        );
        assert!(m.networks_of("Tunnel1").is_empty());
        assert_eq!(
            m.networks_of("eth0"),
            [
                "192.0.2.0/24".parse::<IpNetwork>().unwrap(),
                "2001:db8::/64".parse().unwrap()
            ]
        );
        assert_eq!(m.apply(&Event::Link(link(5, "Tunnel1", true))), ["Tunnel1"]);
        assert_eq!(
            m.networks_of("Tunnel1"),
            ["169.254.0.0/30".parse::<IpNetwork>().unwrap()]
        );
        // A rename names both.
        assert_eq!(
            m.apply(&Event::Link(link(5, "Tunnel9", true))),
            ["Tunnel9", "Tunnel1"]
        );
        assert!(m.networks_of("Tunnel1").is_empty());
        assert_eq!(m.networks_of("Tunnel9").len(), 1);
        assert_eq!(
            m.apply(&Event::AddressGone(addr(6, "192.0.2.1", 24))),
            ["eth0"]
        );
        assert!(m
            .apply(&Event::AddressGone(addr(6, "192.0.2.1", 24)))
            .is_empty());
        assert_eq!(
            m.apply(&Event::LinkGone(link(5, "Tunnel9", true))),
            ["Tunnel9"]
        );
        assert!(m.networks_of("Tunnel9").is_empty());
        assert!(!m.addresses().iter().any(|a| a.name == "Tunnel9"));
        let mut names: Vec<&String> = m.names().collect();
        names.sort();
        assert_eq!(names, ["eth0"]);
    }

    /// Applies events to `model` until one satisfies `done` (false after
    /// 5 s without it).
    async fn apply_until(
        events: &mut mpsc::UnboundedReceiver<Event>,
        model: &mut Model,
        done: impl Fn(&Event) -> bool,
    ) -> bool {
        let wait = async {
            while let Some(ev) = events.recv().await {
                model.apply(&ev);
                if done(&ev) {
                    return true;
                }
            }
            false
        };
        tokio::time::timeout(Duration::from_secs(5), wait)
            .await
            .unwrap_or(false)
    }

    /// In a network namespace of its own (this thread only): an address
    /// added to an interface is an event, and the model it is applied to
    /// is what a fresh read gives.
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
            let mut model = Model::read(&h).await.unwrap();
            publisher.publish(&model);
            // A fresh namespace: lo is down, so nothing is in the view.
            assert!(view.addresses().is_empty(), "{:?}", view.addresses());
            // Changes made through another socket, as the data plane's.
            let other = link::connect().unwrap();
            link::set(&other, "lo", true, None).await.unwrap();
            let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9));
            link::add_address(&other, "lo", ip, 24).await.unwrap();
            // Apply events until the model has the address.
            let added = |ev: &Event| matches!(ev, Event::Address(a) if a.addr == ip);
            assert!(apply_until(&mut events, &mut model, added).await, "no address event");
            assert!(publisher.publish(&model));
            assert!(view.changed().await);
            let addrs = view.addresses();
            assert!(
                addrs.iter().any(|a| a.name == "lo" && a.addr == ip && a.prefix == 24),
                "{addrs:?}"
            );
            assert_eq!(view.address_of("lo", false), Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
            assert!(networks(&addrs).contains(&("lo".to_string(), "192.0.2.0/24".parse().unwrap())));
            assert_eq!(model.addresses(), Model::read(&h).await.unwrap().addresses());
            link::del_address(&other, "lo", ip, 24).await.unwrap();
            let gone = |ev: &Event| matches!(ev, Event::AddressGone(a) if a.addr == ip);
            assert!(apply_until(&mut events, &mut model, gone).await, "no address removal event");
            assert!(publisher.publish(&model));
            assert!(!view.addresses().iter().any(|a| a.addr == ip));
        });
    }
}
