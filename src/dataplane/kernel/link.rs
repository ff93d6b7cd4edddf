//! xfrm interfaces over rtnetlink: create one per tunnel (kind `xfrm`,
//! `IFLA_XFRM_IF_ID`), mark it with the alias [`ALIAS`], set it up or
//! down, give it addresses, read its counters, delete it.

use futures::TryStreamExt;
use ipnetwork::IpNetwork;
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoXfrm, LinkAttribute, LinkFlags, LinkInfo, LinkMessage, Stats64,
};
use rtnetlink::{Handle, LinkMessageBuilder, LinkUnspec, LinkXfrm};

/// The interface alias that marks an xfrm interface as rvpn's.
pub(super) const ALIAS: &str = "rvpn";

/// What this backend reads of a link.
#[derive(Debug, Clone, Default)]
pub(super) struct Link {
    pub index: u32,
    pub name: String,
    pub kind: Option<String>,
    pub alias: Option<String>,
    pub if_id: Option<u32>,
    pub up: bool,
    pub mtu: u32,
    pub stats: Option<Stats64>,
}

impl Link {
    /// An xfrm interface that rvpn created (now or in an earlier run).
    pub(super) fn is_ours(&self) -> bool {
        self.kind.as_deref() == Some("xfrm") && self.alias.as_deref() == Some(ALIAS)
    }

    fn from_message(m: &LinkMessage) -> Link {
        let mut l = Link {
            index: m.header.index,
            up: m.header.flags.contains(LinkFlags::Up),
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

fn nl(e: rtnetlink::Error) -> String {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.to_io().to_string(),
        other => other.to_string(),
    }
}

fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(m.raw_code().saturating_abs()),
        _ => None,
    }
}

/// An rtnetlink handle, its connection running on the current runtime.
pub(super) fn connect() -> std::io::Result<Handle> {
    let (conn, handle, _) = rtnetlink::new_connection()?;
    tokio::spawn(conn);
    Ok(handle)
}

/// The link named `name`, if any.
pub(super) async fn by_name(h: &Handle, name: &str) -> Result<Option<Link>, String> {
    let mut s = h.link().get().match_name(name.to_string()).execute();
    match s.try_next().await {
        Ok(Some(m)) => Ok(Some(Link::from_message(&m))),
        Ok(None) => Ok(None),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(format!("looking up {name}: {}", nl(e))),
    }
}

/// The link with index `index`, if any.
pub(super) async fn by_index(h: &Handle, index: u32) -> Result<Option<Link>, String> {
    let mut s = h.link().get().match_index(index).execute();
    match s.try_next().await {
        Ok(Some(m)) => Ok(Some(Link::from_message(&m))),
        Ok(None) => Ok(None),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(format!("looking up interface {index}: {}", nl(e))),
    }
}

/// Every link of this network namespace.
pub(super) async fn all(h: &Handle) -> Result<Vec<Link>, String> {
    let mut s = h.link().get().execute();
    let mut out = Vec::new();
    loop {
        match s.try_next().await {
            Ok(Some(m)) => out.push(Link::from_message(&m)),
            Ok(None) => return Ok(out),
            Err(e) => return Err(format!("listing interfaces: {}", nl(e))),
        }
    }
}

/// Create an xfrm interface with `if_id` (no underlying device), mark it
/// as rvpn's, and return its index. It stays down.
pub(super) async fn create_xfrm(h: &Handle, name: &str, if_id: u32) -> Result<u32, String> {
    let msg = LinkMessageBuilder::<LinkXfrm>::new(name)
        .if_id(if_id)
        .build();
    h.link().add(msg).execute().await.map_err(|e| {
        format!(
            "creating xfrm interface {name} (if_id {if_id:#x}): {}",
            nl(e)
        )
    })?;
    let link = by_name(h, name)
        .await?
        .ok_or_else(|| format!("xfrm interface {name} vanished after creation"))?;
    // The alias cannot be given at creation (the kernel applies
    // IFLA_IFALIAS only when changing a link). An unmarked interface would
    // never be cleaned up, so it does not stay.
    let marked = h
        .link()
        .set(LinkUnspec::new_with_index(link.index).alias(ALIAS).build())
        .execute()
        .await;
    if let Err(e) = marked {
        let _ = delete(h, link.index).await;
        return Err(format!("marking {name} as rvpn's: {}", nl(e)));
    }
    Ok(link.index)
}

/// Set a link up or down, with its MTU when given.
pub(super) async fn set(h: &Handle, index: u32, up: bool, mtu: Option<u32>) -> Result<(), String> {
    let mut b = LinkUnspec::new_with_index(index);
    b = if up { b.up() } else { b.down() };
    if let Some(m) = mtu {
        b = b.mtu(m);
    }
    h.link().set(b.build()).execute().await.map_err(|e| {
        format!(
            "setting interface {index} {}{}: {}",
            if up { "up" } else { "down" },
            mtu.map(|m| format!(", MTU {m}")).unwrap_or_default(),
            nl(e)
        )
    })
}

/// Add an address (one already there is fine).
pub(super) async fn add_address(h: &Handle, index: u32, a: IpNetwork) -> Result<(), String> {
    match h.address().add(index, a.ip(), a.prefix()).execute().await {
        Ok(()) => Ok(()),
        Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(()),
        Err(e) => Err(format!("adding {a}: {}", nl(e))),
    }
}

/// Delete a link (one already gone is fine).
pub(super) async fn delete(h: &Handle, index: u32) -> Result<(), String> {
    match h.link().del(index).execute().await {
        Ok(()) => Ok(()),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(()),
        Err(e) => Err(format!("deleting interface {index}: {}", nl(e))),
    }
}
