//! TCP for BGP sessions: outgoing connections and the listener, with the
//! socket options BGP peers need.
//!
//! - TCP MD5 signatures (RFC 2385, `neighbor X password`): [`set_md5`] on
//!   the listener for every peer with a password (the kernel copies the
//!   keys to accepted connections), and [`ConnectOpts::md5`] for outgoing
//!   connections, set before the SYN. A segment without the right
//!   signature is dropped silently by the kernel, so a password mismatch
//!   shows as a connection that never completes, not as an error.
//! - TTL (`ebgp-multihop`, or 1 for directly connected eBGP peers):
//!   [`ConnectOpts::ttl`], set before the SYN, and [`set_ttl`] for accepted
//!   connections.
//! - Source address and VRF/interface binding ([`ConnectOpts::local`],
//!   [`ConnectOpts::bind_device`]).
//!
//! Errors keep the [`io::ErrorKind`] of the system call and say which peer
//! and which option failed. Options go through socket2; the TCP MD5
//! struct through `esp_io::sockopt`, the one module of raw setsockopt.

#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

use std::fmt;
use std::io;
use std::mem;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use esp_io::sockopt;
use socket2::SockRef;

use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// The longest TCP MD5 key the kernel accepts (`TCP_MD5SIG_MAXKEYLEN`).
pub const MD5_MAX_KEY_LEN: usize = 80;
/// The listen backlog (the kernel caps it at `net.core.somaxconn`, 4096
/// by default; FRR asks for SOMAXCONN too): a hub whose thousands of
/// spokes connect at once overflowed 128 (67,570 listen drops while
/// 10,000 spokes connected, each a retransmission on the spoke).
pub const BACKLOG: u32 = 4096;

/// `TCP_MD5SIG_FLAG_PREFIX` (linux/tcp.h): `tcpm_prefixlen` is valid.
const TCP_MD5SIG_FLAG_PREFIX: u8 = 1;

/// `struct tcp_md5sig` (linux/tcp.h); the libc crate does not have it.
#[repr(C)]
#[derive(Clone, Copy)]
struct TcpMd5Sig {
    /// The peer address: a `sockaddr_in` or `sockaddr_in6` of the socket's
    /// family.
    addr: libc::sockaddr_storage,
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: libc::c_int,
    key: [u8; MD5_MAX_KEY_LEN],
}

const _: () = assert!(mem::size_of::<TcpMd5Sig>() == 216);

/// How to connect to a peer.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectOpts {
    /// Source address (`update-source`); the kernel picks one if `None`.
    pub local: Option<IpAddr>,
    /// Interface or VRF device to bind to (`SO_BINDTODEVICE`).
    pub bind_device: Option<String>,
    /// TCP MD5 key (RFC 2385), at most [`MD5_MAX_KEY_LEN`] octets; `None`
    /// or empty: no signature.
    pub md5: Option<Vec<u8>>,
    /// IP TTL / IPv6 hop limit of our segments (1..=255); the system
    /// default if `None`.
    pub ttl: Option<u8>,
    /// Give up on the connection attempt after this long.
    pub timeout: Duration,
}

impl Default for ConnectOpts {
    fn default() -> ConnectOpts {
        ConnectOpts {
            local: None,
            bind_device: None,
            md5: None,
            ttl: None,
            timeout: Duration::from_secs(30),
        }
    }
}

impl fmt::Debug for ConnectOpts {
    /// The key is never shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectOpts")
            .field("local", &self.local)
            .field("bind_device", &self.bind_device)
            .field("md5", &self.md5.as_ref().map(|_| crate::redact::MASK))
            .field("ttl", &self.ttl)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// `e` with `what` in front of its message, same kind.
fn context(e: io::Error, what: fmt::Arguments<'_>) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// The address family of the socket (`AF_INET` or `AF_INET6`).
fn domain(fd: BorrowedFd<'_>) -> io::Result<libc::c_int> {
    Ok(SockRef::from(&fd).domain()?.into())
}

/// Writes `sa` at the start of `storage`.
fn put_sockaddr<T>(storage: &mut libc::sockaddr_storage, sa: T) {
    const { assert!(mem::size_of::<T>() <= mem::size_of::<libc::sockaddr_storage>()) };
    // SAFETY: `sockaddr_storage` is large and aligned enough for any
    // socket address type (checked above for size), and `T` is plain
    // data.
    unsafe { std::ptr::write((storage as *mut libc::sockaddr_storage).cast::<T>(), sa) }
}

/// Sets (or, with `key` `None` or empty, deletes) the TCP MD5 signature
/// key (RFC 2385) for segments to and from `peer` on socket `fd`, before
/// it connects or on a listener (accepted connections inherit the keys).
///
/// With `prefix_len`, the key covers all of `peer`/`prefix_len`
/// (`TCP_MD5SIG_EXT`; Linux 4.13 and later); a key is deleted with the same
/// address and prefix length it was set with. On an IPv6 socket an IPv4
/// peer is given as a v4-mapped address (its prefix length still counts
/// IPv4 bits); on an IPv4 socket an IPv6 peer is refused unless v4-mapped.
/// Deleting a key that is not there is not an error. Keys longer than
/// [`MD5_MAX_KEY_LEN`] octets are [`io::ErrorKind::InvalidInput`].
pub fn set_md5(
    fd: BorrowedFd<'_>,
    peer: IpAddr,
    prefix_len: Option<u8>,
    key: Option<&[u8]>,
) -> io::Result<()> {
    let key = key.unwrap_or_default();
    let keylen = match u16::try_from(key.len()) {
        Ok(l) if key.len() <= MD5_MAX_KEY_LEN => l,
        _ => {
            return Err(invalid(format!(
                "TCP MD5 key for {peer}: {} octets, at most {MD5_MAX_KEY_LEN}",
                key.len()
            )))
        }
    };
    let family = domain(fd).map_err(|e| {
        context(
            e,
            format_args!("TCP MD5 key for {peer}: socket address family"),
        )
    })?;
    // SAFETY: all-zero is a valid value of this plain C struct.
    let mut sig: TcpMd5Sig = unsafe { mem::zeroed() };
    let v4 = match (family, peer) {
        (libc::AF_INET, _) => {
            let a = match peer {
                IpAddr::V4(a) => a,
                IpAddr::V6(a) => a.to_ipv4_mapped().ok_or_else(|| {
                    invalid(format!(
                        "TCP MD5 key for {peer}: IPv6 peer on an IPv4 socket"
                    ))
                })?,
            };
            put_sockaddr(
                &mut sig.addr,
                libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: 0,
                    sin_addr: libc::in_addr {
                        s_addr: u32::from(a).to_be(),
                    },
                    sin_zero: [0; 8],
                },
            );
            true
        }
        (libc::AF_INET6, _) => {
            let a = match peer {
                IpAddr::V4(a) => a.to_ipv6_mapped(),
                IpAddr::V6(a) => a,
            };
            put_sockaddr(
                &mut sig.addr,
                libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: 0,
                    sin6_flowinfo: 0,
                    sin6_addr: libc::in6_addr {
                        s6_addr: a.octets(),
                    },
                    sin6_scope_id: 0,
                },
            );
            a.to_ipv4_mapped().is_some()
        }
        (other, _) => {
            return Err(invalid(format!(
                "TCP MD5 key for {peer}: socket of address family {other}"
            )))
        }
    };
    let mut optname = libc::TCP_MD5SIG;
    if let Some(len) = prefix_len {
        let max = if v4 { 32 } else { 128 };
        if len > max {
            return Err(invalid(format!(
                "TCP MD5 key for {peer}/{len}: prefix length over {max}"
            )));
        }
        optname = libc::TCP_MD5SIG_EXT;
        sig.flags = TCP_MD5SIG_FLAG_PREFIX;
        sig.prefixlen = len;
    }
    sig.keylen = keylen;
    for (d, s) in sig.key.iter_mut().zip(key) {
        *d = *s;
    }
    let what = match prefix_len {
        Some(l) => format!("{peer}/{l}"),
        None => peer.to_string(),
    };
    match sockopt::set_struct(&fd, libc::IPPROTO_TCP, optname, &sig) {
        Ok(()) => Ok(()),
        // Deleting a key that is not there.
        Err(e) if key.is_empty() && e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        Err(e) => {
            let op = if key.is_empty() {
                "deleting"
            } else {
                "setting"
            };
            let name = if prefix_len.is_some() {
                "TCP_MD5SIG_EXT"
            } else {
                "TCP_MD5SIG"
            };
            Err(context(e, format_args!("{op} {name} for {what}")))
        }
    }
}

/// Sets the TTL (IPv4) or hop limit (IPv6) of what `fd` sends; on an IPv6
/// socket both, for v4-mapped peers. TTL 0 is
/// [`io::ErrorKind::InvalidInput`].
fn set_ttl_fd(fd: BorrowedFd<'_>, ttl: u8) -> io::Result<()> {
    if ttl == 0 {
        return Err(invalid("TTL 0".into()));
    }
    let ttl = u32::from(ttl);
    let sock = SockRef::from(&fd);
    if domain(fd)? == libc::AF_INET6 {
        sock.set_unicast_hops_v6(ttl)
            .map_err(|e| context(e, format_args!("IPV6_UNICAST_HOPS {ttl}")))?;
    }
    sock.set_ttl_v4(ttl)
        .map_err(|e| context(e, format_args!("IP_TTL {ttl}")))
}

/// Sets the TTL / hop limit (1..=255) of an accepted connection
/// (`ebgp-multihop`). The speaker leaves accepted connections at the
/// kernel's default TTL today; this is for when it does not.
#[allow(dead_code)]
pub fn set_ttl(stream: &TcpStream, ttl: u8) -> io::Result<()> {
    set_ttl_fd(stream.as_fd(), ttl).map_err(|e| match stream.peer_addr() {
        Ok(p) => context(e, format_args!("BGP peer {p}")),
        Err(_) => e,
    })
}

fn new_socket(addr: SocketAddr) -> io::Result<TcpSocket> {
    if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
}

/// Connects to `peer` with `opts` (TCP_NODELAY on: BGP writes whole
/// messages). Must be polled within a Tokio runtime.
pub async fn connect(peer: SocketAddr, opts: &ConnectOpts) -> io::Result<TcpStream> {
    let err = |what: &'static str| {
        move |e: io::Error| context(e, format_args!("BGP peer {peer}: {what}"))
    };
    let sock = new_socket(peer).map_err(err("socket"))?;
    if let Some(dev) = &opts.bind_device {
        sock.bind_device(Some(dev.as_bytes()))
            .map_err(|e| context(e, format_args!("BGP peer {peer}: SO_BINDTODEVICE {dev}")))?;
    }
    if let Some(local) = opts.local {
        sock.bind(SocketAddr::new(local, 0))
            .map_err(|e| context(e, format_args!("BGP peer {peer}: binding to {local}")))?;
    }
    if let Some(key) = opts.md5.as_deref().filter(|k| !k.is_empty()) {
        set_md5(sock.as_fd(), peer.ip(), None, Some(key)).map_err(err("password"))?;
    }
    if let Some(ttl) = opts.ttl {
        set_ttl_fd(sock.as_fd(), ttl).map_err(err("ttl"))?;
    }
    sock.set_nodelay(true).map_err(err("TCP_NODELAY"))?;
    match tokio::time::timeout(opts.timeout, sock.connect(peer)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(err("connect")(e)),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "BGP peer {peer}: connect timed out after {:?}",
                opts.timeout
            ),
        )),
    }
}

/// A listener on `addr` (normally port 179) with SO_REUSEADDR, IPv6 only
/// for an IPv6 address (listen on an IPv4 address too for IPv4 peers),
/// optionally bound to a device (VRF). Must be called within a Tokio
/// runtime (an error otherwise). Set peers' MD5 keys on it with
/// [`set_md5`]`(listener.as_fd(), ...)`.
pub fn listen(addr: SocketAddr, bind_device: Option<&str>) -> io::Result<TcpListener> {
    let err = |what: &'static str| {
        move |e: io::Error| context(e, format_args!("BGP listener {addr}: {what}"))
    };
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(io::Error::other(format!(
            "BGP listener {addr}: not within a Tokio runtime"
        )));
    }
    let sock = new_socket(addr).map_err(err("socket"))?;
    sock.set_reuseaddr(true).map_err(err("SO_REUSEADDR"))?;
    if addr.is_ipv6() {
        SockRef::from(&sock)
            .set_only_v6(true)
            .map_err(err("IPV6_V6ONLY"))?;
    }
    if let Some(dev) = bind_device {
        sock.bind_device(Some(dev.as_bytes())).map_err(|e| {
            context(
                e,
                format_args!("BGP listener {addr}: SO_BINDTODEVICE {dev}"),
            )
        })?;
    }
    sock.bind(addr).map_err(err("bind"))?;
    sock.listen(BACKLOG).map_err(err("listen"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const LO4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
    const LO6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

    fn opts(md5: Option<&[u8]>) -> ConnectOpts {
        ConnectOpts {
            md5: md5.map(<[u8]>::to_vec),
            timeout: Duration::from_secs(5),
            ..ConnectOpts::default()
        }
    }

    /// A listener on `ip`, port 0, and its address.
    fn listener(ip: IpAddr) -> (TcpListener, SocketAddr) {
        let l = listen(SocketAddr::new(ip, 0), None).unwrap();
        let a = l.local_addr().unwrap();
        (l, a)
    }

    /// Connects, accepts, and sends a few octets each way.
    async fn exchange(l: &TcpListener, addr: SocketAddr, o: &ConnectOpts) -> TcpStream {
        let (c, a) = tokio::join!(connect(addr, o), l.accept());
        let mut c = c.unwrap();
        let (mut s, _) = a.unwrap();
        c.write_all(b"OPEN").await.unwrap();
        let mut buf = [0; 4];
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"OPEN");
        s.write_all(b"KEEP").await.unwrap();
        c.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"KEEP");
        assert!(c.nodelay().unwrap());
        c
    }

    /// Connecting must not complete (and the listener must accept
    /// nothing).
    async fn refused(l: &TcpListener, addr: SocketAddr, mut o: ConnectOpts) {
        o.timeout = Duration::from_millis(1500);
        let r = tokio::select! {
            r = connect(addr, &o) => r.map(|_| ()),
            a = l.accept() => panic!("accepted {a:?}"),
        };
        let e = r.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
        assert!(e.to_string().contains(&addr.to_string()), "{e}");
    }

    #[tokio::test]
    async fn md5_matching_keys() {
        let (l, addr) = listener(LO4);
        set_md5(l.as_fd(), LO4, None, Some(b"s3cret")).unwrap();
        exchange(&l, addr, &opts(Some(b"s3cret"))).await;
        // The longest key.
        let key = [0x5a; MD5_MAX_KEY_LEN];
        set_md5(l.as_fd(), LO4, None, Some(&key)).unwrap();
        exchange(&l, addr, &opts(Some(&key))).await;
    }

    #[tokio::test]
    async fn md5_mismatch_times_out() {
        let (l, addr) = listener(LO4);
        set_md5(l.as_fd(), LO4, None, Some(b"s3cret")).unwrap();
        refused(&l, addr, opts(None)).await;
        refused(&l, addr, opts(Some(b"wrong"))).await;
        // A key on our side only.
        let (l, addr) = listener(LO4);
        refused(&l, addr, opts(Some(b"s3cret"))).await;
        // Deleting the key opens the listener to unsigned connections;
        // deleting it again is fine.
        let (l, addr) = listener(LO4);
        set_md5(l.as_fd(), LO4, None, Some(b"s3cret")).unwrap();
        set_md5(l.as_fd(), LO4, None, None).unwrap();
        set_md5(l.as_fd(), LO4, None, Some(b"")).unwrap();
        exchange(&l, addr, &opts(None)).await;
    }

    #[tokio::test]
    async fn md5_prefix_key() {
        let (l, addr) = listener(LO4);
        let net = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0));
        set_md5(l.as_fd(), net, Some(8), Some(b"pfx")).unwrap();
        let mut o = opts(Some(b"pfx"));
        exchange(&l, addr, &o).await;
        // Another source in 127/8.
        o.local = Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
        let c = exchange(&l, addr, &o).await;
        assert_eq!(c.local_addr().unwrap().ip(), o.local.unwrap());
        refused(&l, addr, opts(None)).await;
        // Deleted with the same prefix.
        set_md5(l.as_fd(), net, Some(8), None).unwrap();
        exchange(&l, addr, &opts(None)).await;
        let e = set_md5(l.as_fd(), net, Some(33), Some(b"pfx")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }

    #[tokio::test]
    async fn ipv6_loopback() {
        let (l, addr) = listener(LO6);
        assert_eq!(
            sockopt::get_int(&l, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY).unwrap(),
            1
        );
        assert_eq!(
            sockopt::get_int(&l, libc::SOL_SOCKET, libc::SO_REUSEADDR).unwrap(),
            1
        );
        set_md5(l.as_fd(), LO6, None, Some(b"v6key")).unwrap();
        exchange(&l, addr, &opts(Some(b"v6key"))).await;
        refused(&l, addr, opts(Some(b"other"))).await;
        set_md5(l.as_fd(), LO6, Some(64), Some(b"v6pfx")).unwrap();
        // An IPv4 peer on an IPv6 socket goes in v4-mapped; an IPv6 one on
        // an IPv4 socket is refused.
        set_md5(l.as_fd(), LO4, Some(8), Some(b"x")).unwrap();
        set_md5(l.as_fd(), LO4, None, None).unwrap();
        let (l4, _) = listener(LO4);
        let e = set_md5(l4.as_fd(), LO6, None, Some(b"x")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }

    #[tokio::test]
    async fn ttl_set_and_read_back() {
        let (l, addr) = listener(LO4);
        let mut o = opts(None);
        o.ttl = Some(7);
        let c = exchange(&l, addr, &o).await;
        assert_eq!(
            sockopt::get_int(&c, libc::IPPROTO_IP, libc::IP_TTL).unwrap(),
            7
        );
        let (c2, a) = tokio::join!(connect(addr, &o), l.accept());
        let (s, _) = a.unwrap();
        drop(c2);
        set_ttl(&s, 255).unwrap();
        assert_eq!(
            sockopt::get_int(&s, libc::IPPROTO_IP, libc::IP_TTL).unwrap(),
            255
        );
        let (l6, addr6) = listener(LO6);
        o.ttl = Some(1);
        let c = exchange(&l6, addr6, &o).await;
        assert_eq!(
            sockopt::get_int(&c, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS).unwrap(),
            1
        );
        // TTL 0 is refused, with context.
        let e = set_ttl(&c, 0).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("TTL 0"), "{e}");
        assert!(e.to_string().contains(&addr6.to_string()), "{e}");
    }

    #[tokio::test]
    async fn key_too_long() {
        let (l, addr) = listener(LO4);
        let key = [1; MD5_MAX_KEY_LEN + 1];
        let e = set_md5(l.as_fd(), LO4, None, Some(&key)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        let e = connect(addr, &opts(Some(&key))).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("127.0.0.1"), "{e}");
        // The key is never printed.
        let o = opts(Some(b"hunter2"));
        assert!(!format!("{o:?}").contains("hunter2"));
    }

    #[test]
    fn listen_outside_runtime_is_an_error() {
        let e = listen(SocketAddr::new(LO4, 0), None).unwrap_err();
        assert!(e.to_string().contains("runtime"), "{e}");
    }
}
