//! Interfaces over rtnetlink, for both data planes: look one up by name or
//! index, create an xfrm interface (kind `xfrm`, `IFLA_XFRM_IF_ID`) marked
//! with the alias [`ALIAS`], set it up or down with its MTU, add and remove
//! addresses, read its counters, delete it; list every link and every
//! address (the routing task's view of the interfaces).
//!
//! Every function takes the interface as a [`Dev`]: a name (`"Tunnel1"`)
//! or an index. Adding an address that is there, removing one that is not
//! and deleting an interface that is gone are not errors.

use futures::TryStreamExt;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoXfrm, LinkAttribute, LinkFlags, LinkInfo, LinkMessage, Stats64,
};
use rtnetlink::{LinkMessageBuilder, LinkUnspec, LinkXfrm};
use std::fmt;
use std::io;
use std::net::IpAddr;

pub use rtnetlink::Handle;

/// The operator's name prefix of a Virtual-Access interface.
pub const VIRTUAL_ACCESS: &str = "Virtual-Access";

/// The Linux prefix of a Virtual-Access interface: `Virtual-Access17` is
/// 16 characters, over Linux's 15, so it is `rvpn-va17` in the kernel,
/// with the operator's name as its alias.
pub const VIRTUAL_ACCESS_LINUX: &str = "rvpn-va";

/// The kernel's name of interface `name` (the operator's): the same but
/// for Virtual-Access interfaces.
pub fn linux_name(name: &str) -> std::borrow::Cow<'_, str> {
    match name.strip_prefix(VIRTUAL_ACCESS) {
        Some(n) if n.parse::<u32>().is_ok() => format!("{VIRTUAL_ACCESS_LINUX}{n}").into(),
        _ => name.into(),
    }
}

/// The operator's name of kernel interface `name` ([`linux_name`]
/// undone).
pub fn operator_name(name: &str) -> std::borrow::Cow<'_, str> {
    match name.strip_prefix(VIRTUAL_ACCESS_LINUX) {
        Some(n) if n.parse::<u32>().is_ok() => format!("{VIRTUAL_ACCESS}{n}").into(),
        _ => name.into(),
    }
}

/// Set the alias (`IFLA_IFALIAS`, `ip link set DEV alias A`) of a link.
pub async fn set_alias(h: &Handle, index: u32, alias: &str) -> Result<(), LinkError> {
    h.link()
        .set(LinkUnspec::new_with_index(index).alias(alias).build())
        .execute()
        .await
        .map_err(LinkError::netlink(format!(
            "set the alias of interface {index}"
        )))
}

/// The interface alias that marks an xfrm interface as rvpn's.
pub const ALIAS: &str = "rvpn";

/// An interface, by name or by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dev<'a> {
    /// The interface's name.
    Name(&'a str),
    /// The interface's index.
    Index(u32),
}

impl<'a> From<&'a str> for Dev<'a> {
    fn from(name: &'a str) -> Self {
        Dev::Name(name)
    }
}

impl<'a> From<&'a String> for Dev<'a> {
    fn from(name: &'a String) -> Self {
        Dev::Name(name)
    }
}

impl From<u32> for Dev<'_> {
    fn from(index: u32) -> Self {
        Dev::Index(index)
    }
}

impl fmt::Display for Dev<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dev::Name(n) => f.write_str(n),
            Dev::Index(i) => write!(f, "interface {i}"),
        }
    }
}

/// A failed interface request.
#[derive(Debug)]
pub enum LinkError {
    /// No interface of that name or index.
    NotFound(String),
    /// The kernel refused the request or did not answer it: what was asked
    /// (`"adding 10.0.0.1/30 to Tunnel1"`), and why.
    Netlink {
        /// What was asked.
        what: String,
        /// Why it failed.
        source: rtnetlink::Error,
    },
}

impl LinkError {
    fn netlink(what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> LinkError {
        let what = what.into();
        move |source| LinkError::Netlink { what, source }
    }

    /// The kernel's errno, when the kernel refused.
    pub fn errno(&self) -> Option<i32> {
        match self {
            LinkError::Netlink { source, .. } => errno(source),
            LinkError::NotFound(_) => None,
        }
    }
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::NotFound(dev) => write!(f, "no interface {dev}"),
            LinkError::Netlink { what, source } => match source {
                rtnetlink::Error::NetlinkError(m) => write!(f, "{what}: {}", m.to_io()),
                other => write!(f, "{what}: {other}"),
            },
        }
    }
}

impl std::error::Error for LinkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LinkError::Netlink { source, .. } => Some(source),
            LinkError::NotFound(_) => None,
        }
    }
}

impl From<LinkError> for io::Error {
    fn from(e: LinkError) -> io::Error {
        let kind = match e {
            LinkError::NotFound(_) => io::ErrorKind::NotFound,
            LinkError::Netlink { .. } => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(m.raw_code().saturating_abs()),
        _ => None,
    }
}

/// What the data planes read of a link.
#[derive(Debug, Clone, Default)]
pub struct Link {
    /// Interface index.
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// Link kind (`xfrm`, `tun`, ...), if the kernel says.
    pub kind: Option<String>,
    /// `IFLA_IFALIAS`.
    pub alias: Option<String>,
    /// The xfrm interface id, for xfrm interfaces.
    pub if_id: Option<u32>,
    /// Administratively up.
    pub up: bool,
    /// Up and running (`IFF_RUNNING`: carrier, or a TUN with a reader).
    pub running: bool,
    /// A loopback interface.
    pub loopback: bool,
    /// MTU.
    pub mtu: u32,
    /// Counters.
    pub stats: Option<Stats64>,
}

impl Link {
    /// An xfrm interface that rvpn created (now or in an earlier run).
    pub fn is_ours(&self) -> bool {
        self.kind.as_deref() == Some("xfrm")
            && (self.alias.as_deref() == Some(ALIAS)
                || (self.name.starts_with(VIRTUAL_ACCESS_LINUX)
                    && self
                        .alias
                        .as_deref()
                        .is_some_and(|a| a.starts_with(VIRTUAL_ACCESS))))
    }

    /// What a link message (an answer, or an RTM_NEWLINK/DELLINK event)
    /// says of its link.
    pub fn from_message(m: &LinkMessage) -> Link {
        let mut l = Link {
            index: m.header.index,
            up: m.header.flags.contains(LinkFlags::Up),
            running: m.header.flags.contains(LinkFlags::Running),
            loopback: m.header.flags.contains(LinkFlags::Loopback),
            ..Link::default()
        };
        for a in &m.attributes {
            match a {
                LinkAttribute::IfName(n) => l.name = n.clone(),
                LinkAttribute::IfAlias(n) => l.alias = Some(n.clone()),
                LinkAttribute::Mtu(m) => l.mtu = *m,
                LinkAttribute::Stats64(s) => l.stats = Some(*s),
                LinkAttribute::LinkInfo(infos) => {
                    for i in infos {
                        match i {
                            LinkInfo::Kind(k) => l.kind = Some(kind_name(k)),
                            LinkInfo::Data(InfoData::Xfrm(x)) => {
                                for v in x {
                                    if let InfoXfrm::IfId(id) = v {
                                        l.if_id = Some(*id);
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        l
    }
}

fn kind_name(k: &InfoKind) -> String {
    match k {
        InfoKind::Xfrm => "xfrm".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// A netlink handle, its connection running on the current tokio runtime.
pub fn connect() -> io::Result<Handle> {
    let (conn, handle, _) = rtnetlink::new_connection()?;
    tokio::spawn(conn);
    Ok(handle)
}

/// The link `dev`, if there is one.
pub async fn get<'a>(h: &Handle, dev: impl Into<Dev<'a>>) -> Result<Option<Link>, LinkError> {
    let dev = dev.into();
    let req = h.link().get();
    let req = match dev {
        Dev::Name(n) => req.match_name(n.to_string()),
        Dev::Index(i) => req.match_index(i),
    };
    let mut s = req.execute();
    match s.try_next().await {
        Ok(Some(m)) => Ok(Some(Link::from_message(&m))),
        Ok(None) => Ok(None),
        // The kernel answers a lookup of a missing interface with ENODEV.
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(LinkError::netlink(format!("looking up {dev}"))(e)),
    }
}

/// The index of `dev`.
pub async fn index<'a>(h: &Handle, dev: impl Into<Dev<'a>>) -> Result<u32, LinkError> {
    match dev.into() {
        Dev::Index(i) => Ok(i),
        dev @ Dev::Name(n) => match get(h, dev).await? {
            Some(l) => Ok(l.index),
            None => Err(LinkError::NotFound(n.to_string())),
        },
    }
}

/// Every link of this network namespace.
pub async fn all(h: &Handle) -> Result<Vec<Link>, LinkError> {
    h.link()
        .get()
        .execute()
        .map_ok(|m| Link::from_message(&m))
        .try_collect()
        .await
        .map_err(LinkError::netlink("listing interfaces"))
}

/// An address of an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Address {
    /// The interface's index.
    pub index: u32,
    /// The address (`IFA_LOCAL` when the kernel gives one, as on a
    /// point-to-point link, else `IFA_ADDRESS`; as getifaddrs reads it).
    pub addr: IpAddr,
    /// Its prefix length.
    pub prefix: u8,
}

impl Address {
    /// What an address message (an answer, or an RTM_NEWADDR/DELADDR
    /// event) says of its address; `None` without one.
    pub fn from_message(m: &AddressMessage) -> Option<Address> {
        let mut local = None;
        let mut address = None;
        for a in &m.attributes {
            match a {
                AddressAttribute::Local(ip) => local = Some(*ip),
                AddressAttribute::Address(ip) => address = Some(*ip),
                _ => {}
            }
        }
        local.or(address).map(|addr| Address {
            index: m.header.index,
            addr,
            prefix: m.header.prefix_len,
        })
    }
}

/// Every address of every interface of this network namespace.
pub async fn addresses(h: &Handle) -> Result<Vec<Address>, LinkError> {
    h.address()
        .get()
        .execute()
        .try_filter_map(|m| async move { Ok(Address::from_message(&m)) })
        .try_collect()
        .await
        .map_err(LinkError::netlink("listing addresses"))
}

/// Create a dummy interface (the kernel's loopback-like device, for IOS
/// `interface LoopbackN`), mark it as rvpn's, and return its index.
pub async fn create_dummy(h: &Handle, name: &str) -> Result<u32, LinkError> {
    let msg = LinkMessageBuilder::<rtnetlink::LinkDummy>::new(name).build();
    h.link()
        .add(msg)
        .execute()
        .await
        .map_err(LinkError::netlink(format!(
            "creating dummy interface {name}"
        )))?;
    let index = index(h, name).await?;
    set_alias(h, index, ALIAS).await?;
    Ok(index)
}

/// Create an xfrm interface with `if_id` (no underlying device), mark it
/// as rvpn's, and return its index. It stays down.
pub async fn create_xfrm(h: &Handle, name: &str, if_id: u32) -> Result<u32, LinkError> {
    let msg = LinkMessageBuilder::<LinkXfrm>::new(name)
        .if_id(if_id)
        .build();
    h.link()
        .add(msg)
        .execute()
        .await
        .map_err(LinkError::netlink(format!(
            "creating xfrm interface {name} (if_id {if_id:#x})"
        )))?;
    let index = index(h, name).await?;
    // The alias cannot be given at creation (the kernel applies
    // IFLA_IFALIAS only when changing a link). An unmarked interface would
    // never be cleaned up, so it does not stay.
    let marked = h
        .link()
        .set(LinkUnspec::new_with_index(index).alias(ALIAS).build())
        .execute()
        .await;
    if let Err(e) = marked {
        let _ = delete(h, index).await;
        return Err(LinkError::netlink(format!("marking {name} as rvpn's"))(e));
    }
    Ok(index)
}

/// Bring an interface up or down, and set its MTU when given.
pub async fn set<'a>(
    h: &Handle,
    dev: impl Into<Dev<'a>>,
    up: bool,
    mtu: Option<u32>,
) -> Result<(), LinkError> {
    set_in_group(h, dev, up, mtu, None).await
}

/// Like [`set`], and when `group` is given, put the interface in that
/// interface group (`IFLA_GROUP`, as `ip link set DEV group N`), in the
/// same request: [`delete_group`] removes a whole group at once.
pub async fn set_in_group<'a>(
    h: &Handle,
    dev: impl Into<Dev<'a>>,
    up: bool,
    mtu: Option<u32>,
    group: Option<u32>,
) -> Result<(), LinkError> {
    let dev = dev.into();
    let mut b = LinkUnspec::new_with_index(index(h, dev).await?);
    b = if up { b.up() } else { b.down() };
    if let Some(m) = mtu {
        b = b.mtu(m);
    }
    if let Some(g) = group {
        b = b.link_group(g);
    }
    h.link()
        .set(b.build())
        .execute()
        .await
        .map_err(LinkError::netlink(format!(
            "setting {dev} {}{}",
            if up { "up" } else { "down" },
            mtu.map(|m| format!(", MTU {m}")).unwrap_or_default(),
        )))
}

/// Add an address (an existing one is not an error).
pub async fn add_address<'a>(
    h: &Handle,
    dev: impl Into<Dev<'a>>,
    ip: IpAddr,
    prefix: u8,
) -> Result<(), LinkError> {
    let dev = dev.into();
    let idx = index(h, dev).await?;
    match h.address().add(idx, ip, prefix).execute().await {
        Ok(()) => Ok(()),
        Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(()),
        Err(e) => Err(LinkError::netlink(format!("adding {ip}/{prefix} to {dev}"))(e)),
    }
}

/// Remove an address (a missing one is not an error).
pub async fn del_address<'a>(
    h: &Handle,
    dev: impl Into<Dev<'a>>,
    ip: IpAddr,
    prefix: u8,
) -> Result<(), LinkError> {
    let dev = dev.into();
    let idx = index(h, dev).await?;
    let what = || format!("removing {ip}/{prefix} from {dev}");
    let mut addrs = h
        .address()
        .get()
        .set_link_index_filter(idx)
        .set_address_filter(ip)
        .set_prefix_length_filter(prefix)
        .execute();
    while let Some(msg) = addrs.try_next().await.map_err(LinkError::netlink(what()))? {
        match h.address().del(msg).execute().await {
            Ok(()) => {}
            Err(e) if errno(&e) == Some(libc::EADDRNOTAVAIL) => {}
            Err(e) => return Err(LinkError::netlink(what())(e)),
        }
    }
    Ok(())
}

/// Delete an interface (a missing one is not an error).
pub async fn delete<'a>(h: &Handle, dev: impl Into<Dev<'a>>) -> Result<(), LinkError> {
    let dev = dev.into();
    let idx = match index(h, dev).await {
        Ok(i) => i,
        Err(LinkError::NotFound(_)) => return Ok(()),
        Err(e) => return Err(e),
    };
    match h.link().del(idx).execute().await {
        Ok(()) => Ok(()),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(()),
        Err(e) => Err(LinkError::netlink(format!("deleting {dev}"))(e)),
    }
}

/// Delete every interface of interface group `group` in one request (as
/// `ip link delete group N`). The kernel unregisters them as one batch,
/// with one wait for readers (RCU) for all of them: deleting 500 TUN
/// devices one by one (or by closing their descriptors) takes about 10 s,
/// as a group 0.4 s. An empty group is not an error. Group 0 (every
/// interface's default) is refused.
pub async fn delete_group(h: &Handle, group: u32) -> Result<(), LinkError> {
    let what = || format!("deleting interface group {group}");
    if group == 0 {
        return Err(LinkError::NotFound(what()));
    }
    let mut req = h.link().del(0);
    req.message_mut()
        .attributes
        .push(LinkAttribute::Group(group));
    match req.execute().await {
        Ok(()) => Ok(()),
        // Nothing in the group.
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(()),
        Err(e) => Err(LinkError::netlink(what())(e)),
    }
}

/// Turn IPv6 on or off on interface `name` (`net.ipv6.conf.NAME.disable_ipv6`,
/// in the caller's network namespace). An interface with IPv6 off gets no
/// link-local address and no IPv6 routes, so the kernel's per-link IPv6
/// work (a walk of the whole IPv6 routing table when it comes up or its
/// MTU changes, each interface adding routes to that table) stays out of
/// a hub with a thousand IPv4 tunnels. Without IPv6 in the kernel there
/// is nothing to turn off: not an error.
pub fn set_ipv6(name: &str, on: bool) -> io::Result<()> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad interface name {name:?}"),
        ));
    }
    let path = format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6");
    match std::fs::write(&path, if on { "0" } else { "1" }) {
        Ok(()) => Ok(()),
        Err(e)
            if e.kind() == io::ErrorKind::NotFound
                && !std::path::Path::new("/proc/sys/net/ipv6").exists() =>
        {
            Ok(())
        }
        Err(e) => Err(io::Error::new(e.kind(), format!("{path}: {e}"))),
    }
}
