//! Interface settings over rtnetlink: up/down, MTU, addresses.

use futures::TryStreamExt;
use rtnetlink::LinkUnspec;
use std::io;
use std::net::IpAddr;

fn nl(e: rtnetlink::Error) -> io::Error {
    io::Error::other(e.to_string())
}

/// The index of an interface by name.
pub async fn index(h: &Handle, name: &str) -> io::Result<u32> {
    let missing = || io::Error::new(io::ErrorKind::NotFound, format!("no interface {name}"));
    let mut links = h.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(Some(l)) => Ok(l.header.index),
        Ok(None) => Err(missing()),
        // The kernel answers a lookup by a missing name with ENODEV.
        Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::ENODEV => Err(missing()),
        Err(e) => Err(nl(e)),
    }
}

/// Bring an interface up or down, and set its MTU when given.
pub async fn set(h: &Handle, name: &str, up: bool, mtu: Option<u32>) -> io::Result<()> {
    let idx = index(h, name).await?;
    let mut b = LinkUnspec::new_with_index(idx);
    b = if up { b.up() } else { b.down() };
    if let Some(m) = mtu {
        b = b.mtu(m);
    }
    h.link().set(b.build()).execute().await.map_err(nl)
}

/// Add an address (an existing one is not an error).
pub async fn add_address(h: &Handle, name: &str, ip: IpAddr, prefix: u8) -> io::Result<()> {
    let idx = index(h, name).await?;
    match h.address().add(idx, ip, prefix).execute().await {
        Ok(()) => Ok(()),
        Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::EEXIST => Ok(()),
        Err(e) => Err(nl(e)),
    }
}

/// Remove an address (a missing one is not an error).
pub async fn del_address(h: &Handle, name: &str, ip: IpAddr, prefix: u8) -> io::Result<()> {
    let idx = index(h, name).await?;
    let mut addrs = h
        .address()
        .get()
        .set_link_index_filter(idx)
        .set_address_filter(ip)
        .set_prefix_length_filter(prefix)
        .execute();
    while let Some(msg) = addrs.try_next().await.map_err(nl)? {
        match h.address().del(msg).execute().await {
            Ok(()) => {}
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::EADDRNOTAVAIL => {}
            Err(e) => return Err(nl(e)),
        }
    }
    Ok(())
}

/// Delete an interface (a missing one is not an error).
pub async fn delete(h: &Handle, name: &str) -> io::Result<()> {
    match index(h, name).await {
        Ok(idx) => h.link().del(idx).execute().await.map_err(nl),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

pub use rtnetlink::Handle;

/// A netlink handle, its connection running on the current tokio runtime.
pub fn connect() -> io::Result<Handle> {
    let (conn, handle, _) = rtnetlink::new_connection()?;
    tokio::spawn(conn);
    Ok(handle)
}
