//! The local address of UDP datagrams on sockets bound to the wildcard
//! address, as strongSwan does it (`IP_PKTINFO` / `IPV6_RECVPKTINFO`):
//! [`enable`] makes the kernel report, with every datagram, the address
//! it was sent to; [`recv_from`] reads one datagram with that address;
//! [`send_from`] sends one with a chosen source address
//! (`ipi_spec_dst` / `ipi6_addr`), so that a host with several addresses
//! answers from the one the peer knows. [`local_of`] reads the address
//! from the control messages of a `recvmsg`/`recvmmsg` header (the
//! batched receive of [`crate::batch::RecvBatch`]).

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd};

use crate::batch::{from_sockaddr, to_sockaddr};
use crate::sockopt;

/// Control space for one `in6_pktinfo` (the larger of the two), aligned
/// for `cmsghdr`.
#[repr(C, align(8))]
struct Ctrl([u8; 64]);

/// Asks the kernel to report each datagram's destination address on
/// `sock` (IPv4: `IP_PKTINFO`, IPv6: `IPV6_RECVPKTINFO`).
pub fn enable(sock: &impl AsFd, v6: bool) -> io::Result<()> {
    if v6 {
        sockopt::set_int(sock, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)
    } else {
        sockopt::set_int(sock, libc::IPPROTO_IP, libc::IP_PKTINFO, 1)
    }
}

/// The destination address a received message was sent to, from its
/// `IP_PKTINFO` or `IPV6_PKTINFO` control message (None without one).
///
/// # Safety
///
/// `msg` must be a header that recvmsg(2) or recvmmsg(2) just filled:
/// `msg_control` points at `msg_controllen` valid bytes.
pub unsafe fn local_of(msg: &libc::msghdr) -> Option<IpAddr> {
    let mut found = None;
    // SAFETY: the caller vouches for the control space; CMSG_* stay
    // within it, and each payload is read unaligned at its type's size.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            let data = libc::CMSG_DATA(c);
            let len = (*c).cmsg_len as usize;
            match ((*c).cmsg_level, (*c).cmsg_type) {
                (libc::IPPROTO_IP, libc::IP_PKTINFO)
                    if len >= libc::CMSG_LEN(size_of::<libc::in_pktinfo>() as u32) as usize =>
                {
                    let p = std::ptr::read_unaligned(data.cast::<libc::in_pktinfo>());
                    found = Some(IpAddr::V4(Ipv4Addr::from(p.ipi_addr.s_addr.to_ne_bytes())));
                }
                (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO)
                    if len >= libc::CMSG_LEN(size_of::<libc::in6_pktinfo>() as u32) as usize =>
                {
                    let p = std::ptr::read_unaligned(data.cast::<libc::in6_pktinfo>());
                    let ip = Ipv6Addr::from(p.ipi6_addr.s6_addr);
                    // A dual-stack socket reports IPv4 as mapped.
                    found = Some(match ip.to_ipv4_mapped() {
                        Some(v4) => IpAddr::V4(v4),
                        None => IpAddr::V6(ip),
                    });
                }
                _ => {}
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
    found
}

/// Reads one datagram (non-blocking: `WouldBlock` when none is queued):
/// its length, sender, and the local address it was sent to (None if the
/// socket does not report it, see [`enable`]).
pub fn recv_from(
    sock: &impl AsFd,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr, Option<IpAddr>)> {
    // SAFETY: all zeroes is a valid sockaddr_storage and msghdr.
    let mut name: libc::sockaddr_storage = unsafe { zeroed() };
    let mut ctrl = Ctrl([0; 64]);
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = (&mut name as *mut libc::sockaddr_storage).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctrl.0.as_mut_ptr().cast();
    msg.msg_controllen = ctrl.0.len() as _;
    // SAFETY: msg points at live buffers of the sizes it gives, for the
    // duration of the call.
    let n = unsafe { libc::recvmsg(sock.as_fd().as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let from = from_sockaddr(&name, msg.msg_namelen)
        .ok_or_else(|| io::Error::other("datagram from an unknown address family"))?;
    // SAFETY: recvmsg(2) just filled msg's control space.
    let local = unsafe { local_of(&msg) };
    Ok((usize::try_from(n).unwrap_or(0), from, local))
}

/// Sends `data` to `to` from local address `src` (non-blocking:
/// `WouldBlock` when the socket buffer is full). An unspecified `src`, or
/// one of the other family, leaves the choice to the kernel, as a plain
/// sendto(2) does.
pub fn send_from(sock: &impl AsFd, data: &[u8], to: SocketAddr, src: IpAddr) -> io::Result<usize> {
    // SAFETY: all zeroes is a valid sockaddr_storage and msghdr.
    let mut name: libc::sockaddr_storage = unsafe { zeroed() };
    let namelen = to_sockaddr(&to, &mut name);
    let mut ctrl = Ctrl([0; 64]);
    let mut iov = libc::iovec {
        iov_base: data.as_ptr().cast_mut().cast(),
        iov_len: data.len(),
    };
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = (&mut name as *mut libc::sockaddr_storage).cast();
    msg.msg_namelen = namelen;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    let with_src = !src.is_unspecified() && src.is_ipv4() == to.is_ipv4();
    if with_src {
        msg.msg_control = ctrl.0.as_mut_ptr().cast();
        // SAFETY: the control space is larger than either message, aligned
        // for cmsghdr, and ours; CMSG_FIRSTHDR is within it (controllen set
        // first), and the payload is written unaligned at its type's size.
        unsafe {
            match src {
                IpAddr::V4(a) => {
                    msg.msg_controllen =
                        libc::CMSG_SPACE(size_of::<libc::in_pktinfo>() as u32) as _;
                    let c = libc::CMSG_FIRSTHDR(&msg);
                    (*c).cmsg_level = libc::IPPROTO_IP;
                    (*c).cmsg_type = libc::IP_PKTINFO;
                    (*c).cmsg_len = libc::CMSG_LEN(size_of::<libc::in_pktinfo>() as u32) as _;
                    let p = libc::in_pktinfo {
                        ipi_ifindex: 0,
                        ipi_spec_dst: libc::in_addr {
                            s_addr: u32::from_ne_bytes(a.octets()),
                        },
                        ipi_addr: libc::in_addr { s_addr: 0 },
                    };
                    std::ptr::write_unaligned(libc::CMSG_DATA(c).cast(), p);
                }
                IpAddr::V6(a) => {
                    msg.msg_controllen =
                        libc::CMSG_SPACE(size_of::<libc::in6_pktinfo>() as u32) as _;
                    let c = libc::CMSG_FIRSTHDR(&msg);
                    (*c).cmsg_level = libc::IPPROTO_IPV6;
                    (*c).cmsg_type = libc::IPV6_PKTINFO;
                    (*c).cmsg_len = libc::CMSG_LEN(size_of::<libc::in6_pktinfo>() as u32) as _;
                    let p = libc::in6_pktinfo {
                        ipi6_addr: libc::in6_addr {
                            s6_addr: a.octets(),
                        },
                        ipi6_ifindex: 0,
                    };
                    std::ptr::write_unaligned(libc::CMSG_DATA(c).cast(), p);
                }
            }
        }
    }
    // SAFETY: msg points at live buffers of the sizes it gives.
    let n = unsafe {
        libc::sendmsg(
            sock.as_fd().as_raw_fd(),
            &msg,
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(usize::try_from(n).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::time::Duration;

    fn wildcard4() -> UdpSocket {
        let s = UdpSocket::bind("0.0.0.0:0").expect("bind");
        enable(&s, false).expect("IP_PKTINFO");
        s
    }

    fn recv_blocking(s: &UdpSocket, buf: &mut [u8]) -> (usize, SocketAddr, Option<IpAddr>) {
        for _ in 0..200 {
            match recv_from(s, buf) {
                Ok(r) => return r,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(e) => panic!("recv: {e}"),
            }
        }
        panic!("nothing received in 2 s");
    }

    /// 127.0.0.0/8 is all local on lo: a datagram to 127.0.0.2 reports
    /// 127.0.0.2 (not the wildcard, not 127.0.0.1), and a reply sent from
    /// 127.0.0.2 arrives from 127.0.0.2 (the kernel would pick 127.0.0.1
    /// for a plain send to 127.0.0.1).
    #[test]
    fn loopback_reports_the_local_address_and_sends_from_the_chosen_one() {
        let server = wildcard4();
        let port = server.local_addr().expect("addr").port();
        let client = UdpSocket::bind("127.0.0.1:0").expect("bind client");
        client
            .set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        let mut buf = [0u8; 64];
        for dst in ["127.0.0.2", "127.0.0.1", "127.0.0.3"] {
            let dst: Ipv4Addr = dst.parse().expect("ip");
            client.send_to(b"ping", (dst, port)).expect("send");
            let (n, from, local) = recv_blocking(&server, &mut buf);
            assert_eq!(&buf[..n], b"ping");
            assert_eq!(from, client.local_addr().expect("addr"));
            assert_eq!(local, Some(IpAddr::V4(dst)), "sent to {dst}");
            // The reply from the address the request was sent to.
            send_from(&server, b"pong", from, IpAddr::V4(dst)).expect("send_from");
            let (n, replier) = client.recv_from(&mut buf).expect("reply");
            assert_eq!(&buf[..n], b"pong");
            assert_eq!(replier, SocketAddr::new(IpAddr::V4(dst), port));
        }
        // Unspecified: the kernel's choice, as with send_to.
        send_from(
            &server,
            b"any",
            client.local_addr().expect("a"),
            Ipv4Addr::UNSPECIFIED.into(),
        )
        .expect("send");
        let (_, replier) = client.recv_from(&mut buf).expect("reply");
        assert_eq!(replier.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    }

    /// Without [`enable`] no address is reported.
    #[test]
    fn without_pktinfo_no_local_address() {
        let server = UdpSocket::bind("0.0.0.0:0").expect("bind");
        let port = server.local_addr().expect("addr").port();
        let client = UdpSocket::bind("127.0.0.1:0").expect("bind client");
        client.send_to(b"x", ("127.0.0.2", port)).expect("send");
        let mut buf = [0u8; 8];
        let (_, _, local) = recv_blocking(&server, &mut buf);
        assert_eq!(local, None);
    }

    /// IPv6 loopback, when the host has it: ::1 is reported and a reply
    /// from ::1 arrives from ::1.
    #[test]
    fn ipv6_loopback() {
        let Ok(server) = UdpSocket::bind("[::]:0") else {
            return;
        };
        enable(&server, true).expect("IPV6_RECVPKTINFO");
        let port = server.local_addr().expect("addr").port();
        let Ok(client) = UdpSocket::bind("[::1]:0") else {
            return;
        };
        client
            .set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        client.send_to(b"six", ("::1", port)).expect("send");
        let mut buf = [0u8; 8];
        let (n, from, local) = recv_blocking(&server, &mut buf);
        assert_eq!(&buf[..n], b"six");
        assert_eq!(local, Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        send_from(&server, b"back", from, IpAddr::V6(Ipv6Addr::LOCALHOST)).expect("send_from");
        let (_, replier) = client.recv_from(&mut buf).expect("reply");
        assert_eq!(
            replier,
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port)
        );
    }

    /// A source address the host does not have is refused by the kernel
    /// (the caller decides whether to fall back).
    #[test]
    fn foreign_source_is_refused() {
        let server = wildcard4();
        let client = UdpSocket::bind("127.0.0.1:0").expect("bind client");
        let r = send_from(
            &server,
            b"x",
            client.local_addr().expect("a"),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 77)),
        );
        assert!(r.is_err(), "{r:?}");
    }
}
