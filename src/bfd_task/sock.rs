//! BFD sockets (RFC 5881): listeners on UDP port 3784 that report each
//! datagram's TTL/hop limit, arrival interface and destination address,
//! and per-session senders from a port in 49152-65535 with TTL/hop limit
//! 255.

use std::io;
use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, BorrowedFd};

use esp_io::sockopt;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// The source ports of single-hop Control packets.
pub const SRC_PORTS: std::ops::RangeInclusive<u16> = 49152..=65535;

/// One received datagram's envelope.
#[derive(Debug, Clone, Copy)]
pub struct RecvMeta {
    pub len: usize,
    pub src: SocketAddr,
    /// TTL or hop limit, if the kernel reported it.
    pub ttl: Option<u8>,
    pub ifindex: Option<u32>,
    /// The address the datagram was sent to.
    pub dst: Option<IpAddr>,
}

/// A nonblocking listener on `port` of one family, reporting TTL or hop
/// limit, interface and destination of what it receives.
pub fn listener(v6: bool, port: u16) -> io::Result<std::net::UdpSocket> {
    let (domain, addr): (Domain, SocketAddr) = if v6 {
        (Domain::IPV6, (Ipv6Addr::UNSPECIFIED, port).into())
    } else {
        (Domain::IPV4, (Ipv4Addr::UNSPECIFIED, port).into())
    };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    // socket2 has no IPV6_RECVPKTINFO, IP_RECVTTL or IP_PKTINFO.
    if v6 {
        s.set_only_v6(true)?;
        s.set_recv_hoplimit_v6(true)?;
        sockopt::set_int(&s, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)?;
    } else {
        sockopt::set_int(&s, libc::IPPROTO_IP, libc::IP_RECVTTL, 1)?;
        sockopt::set_int(&s, libc::IPPROTO_IP, libc::IP_PKTINFO, 1)?;
    }
    s.set_nonblocking(true)?;
    s.bind(&SockAddr::from(addr))?;
    Ok(s.into())
}

/// A nonblocking sender to `peer`'s family, TTL/hop limit 255, bound to
/// `local` (when it can be: the address may not exist yet) and a source
/// port in 49152-65535, trying from `first_port` on.
pub fn sender(
    peer: IpAddr,
    local: Option<IpAddr>,
    first_port: u16,
) -> io::Result<std::net::UdpSocket> {
    let domain = if peer.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    if peer.is_ipv6() {
        s.set_only_v6(true)?;
        s.set_unicast_hops_v6(255)?;
    } else {
        s.set_ttl_v4(255)?;
    }
    s.set_nonblocking(true)?;
    let unspec = if peer.is_ipv6() {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    };
    let span = u32::from(SRC_PORTS.end() - SRC_PORTS.start()) + 1;
    let start = u32::from(first_port.max(*SRC_PORTS.start()) - SRC_PORTS.start());
    let mut last = io::Error::from(io::ErrorKind::AddrInUse);
    for ip in [
        local.filter(|l| l.is_ipv6() == peer.is_ipv6()),
        Some(unspec),
    ]
    .into_iter()
    .flatten()
    {
        for i in 0..64u32 {
            let off = (start + i * 7919) % span;
            let port = SRC_PORTS.start() + u16::try_from(off).unwrap_or(0);
            match s.bind(&SockAddr::from(SocketAddr::new(ip, port))) {
                Ok(()) => return Ok(s.into()),
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = e,
                Err(e) => {
                    last = e;
                    break;
                }
            }
        }
    }
    Err(last)
}

/// Reads one datagram with its envelope (nonblocking: WouldBlock when
/// there is none).
pub fn recv(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<RecvMeta> {
    // SAFETY: all-zero is a valid sockaddr_storage / msghdr / iovec.
    let mut name: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let mut ctrl = [0u64; 32];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast::<libc::c_void>(),
        iov_len: buf.len(),
    };
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_name = (&mut name as *mut libc::sockaddr_storage).cast::<libc::c_void>();
    msg.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctrl.as_mut_ptr().cast::<libc::c_void>();
    msg.msg_controllen = mem::size_of_val(&ctrl) as _;
    // SAFETY: msg points to live buffers of the lengths given, for the
    // duration of the call.
    let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let len = usize::try_from(n).unwrap_or(0);
    let src = sockaddr_to_std(&name).ok_or_else(|| io::Error::other("unknown source family"))?;
    let mut meta = RecvMeta {
        len,
        src,
        ttl: None,
        ifindex: None,
        dst: None,
    };
    // SAFETY: the kernel filled msg_control up to msg_controllen with
    // well-formed cmsgs; CMSG_* walk within it, and each payload is read
    // unaligned with the size its type has.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let (level, ty) = ((*c).cmsg_level, (*c).cmsg_type);
            let data = libc::CMSG_DATA(c);
            match (level, ty) {
                (libc::IPPROTO_IP, libc::IP_TTL) | (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) => {
                    let v = std::ptr::read_unaligned(data.cast::<libc::c_int>());
                    meta.ttl = u8::try_from(v).ok();
                }
                (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
                    let p = std::ptr::read_unaligned(data.cast::<libc::in_pktinfo>());
                    meta.ifindex = u32::try_from(p.ipi_ifindex).ok();
                    meta.dst = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(p.ipi_addr.s_addr))));
                }
                (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
                    let p = std::ptr::read_unaligned(data.cast::<libc::in6_pktinfo>());
                    meta.ifindex = Some(p.ipi6_ifindex);
                    meta.dst = Some(IpAddr::V6(Ipv6Addr::from(p.ipi6_addr.s6_addr)));
                }
                _ => {}
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok(meta)
}

fn sockaddr_to_std(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match libc::c_int::from(ss.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let a = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let a = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// The name of interface `ifindex`.
pub fn if_name(ifindex: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: buf has IF_NAMESIZE octets, as if_indextoname requires.
    let p = unsafe { libc::if_indextoname(ifindex, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: on success buf holds a NUL-terminated name.
    let s = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    Some(s.to_string_lossy().into_owned())
}

/// The source address the kernel would use towards `peer` (a connected
/// UDP socket's name), if there is a route.
pub fn source_for(peer: IpAddr) -> Option<IpAddr> {
    let bind: SocketAddr = if peer.is_ipv6() {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    };
    let s = std::net::UdpSocket::bind(bind).ok()?;
    s.connect((peer, crate::bfd_task::CONTROL_PORT)).ok()?;
    s.local_addr().ok().map(|a| a.ip())
}
