//! The socket options rvpn sets that `socket2` does not cover; everything
//! else goes through `socket2`. The one place rvpn calls setsockopt(2)
//! and getsockopt(2) itself.
//!
//! - UDP: `UDP_GRO`, `UDP_SEGMENT` (batched ESP in UDP), `UDP_ENCAP`
//!   (the kernel takes ESP in UDP off the IKE NAT-T socket);
//! - `SO_RCVBUFFORCE` / `SO_SNDBUFFORCE` (buffers over `rmem_max` as root);
//! - `IP_RECVTTL`, `IP_PKTINFO`, `IPV6_RECVPKTINFO` (BFD's receive
//!   envelope).
//!
//! - `TCP_MD5SIG` / `TCP_MD5SIG_EXT` (BGP passwords): a C struct, set
//!   with [`set_struct`]; the BGP TCP code (`src/bgp/tcp.rs`) fills it.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsFd, AsRawFd};

/// `SOL_UDP` (linux/udp.h).
pub const SOL_UDP: libc::c_int = 17;
/// `UDP_ENCAP` (linux/udp.h): the socket's encapsulation type.
pub const UDP_ENCAP: libc::c_int = 100;
/// `UDP_ENCAP_ESPINUDP` (linux/udp.h): ESP in UDP, RFC 3948.
pub const UDP_ENCAP_ESPINUDP: libc::c_int = 2;
/// `UDP_SEGMENT` (linux/udp.h): GSO segment size, a socket option and a
/// control message of sendmsg(2).
pub const UDP_SEGMENT: libc::c_int = 103;
/// `UDP_GRO` (linux/udp.h): receive coalesced datagrams, with their
/// segment size in a control message.
pub const UDP_GRO: libc::c_int = 104;

/// setsockopt(2) of an integer option.
pub fn set_int(
    sock: &impl AsFd,
    level: libc::c_int,
    name: libc::c_int,
    v: libc::c_int,
) -> io::Result<()> {
    // SAFETY: setsockopt(2) reads an int we own, of the size given; the
    // descriptor is open for the borrow.
    let r = unsafe {
        libc::setsockopt(
            sock.as_fd().as_raw_fd(),
            level,
            name,
            (&v as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// setsockopt(2) of an option whose value is the plain C struct `v`
/// (`Copy`: no pointers the kernel would follow, nothing to drop).
pub fn set_struct<T: Copy>(
    sock: &impl AsFd,
    level: libc::c_int,
    name: libc::c_int,
    v: &T,
) -> io::Result<()> {
    let len = libc::socklen_t::try_from(size_of::<T>())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "option value too large"))?;
    // SAFETY: setsockopt(2) reads `len` bytes of the `T` we borrow; the
    // descriptor is open for the borrow.
    let r = unsafe {
        libc::setsockopt(
            sock.as_fd().as_raw_fd(),
            level,
            name,
            (v as *const T).cast(),
            len,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// getsockopt(2) of an integer option.
pub fn get_int(sock: &impl AsFd, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut v: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt(2) writes at most `len` bytes into `v`.
    let r = unsafe {
        libc::getsockopt(
            sock.as_fd().as_raw_fd(),
            level,
            name,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(v)
}

/// Let the kernel decapsulate ESP in UDP arriving on the UDP socket (the
/// IKE NAT-T socket, port 4500); IKE packets, which start with the non-ESP
/// marker, still reach the socket.
pub fn set_espinudp(sock: &impl AsFd) -> io::Result<()> {
    set_int(sock, SOL_UDP, UDP_ENCAP, UDP_ENCAP_ESPINUDP)
}

/// Receive buffer of `size` bytes, over `rmem_max` (needs `CAP_NET_ADMIN`).
pub fn set_recv_buffer_force(sock: &impl AsFd, size: libc::c_int) -> io::Result<()> {
    set_int(sock, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, size)
}

/// Send buffer of `size` bytes, over `wmem_max` (needs `CAP_NET_ADMIN`).
pub fn set_send_buffer_force(sock: &impl AsFd, size: libc::c_int) -> io::Result<()> {
    set_int(sock, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, size)
}

/// A receive buffer of `size` bytes where we may (root), else as much of
/// it as `rmem_max` allows.
pub fn deep_recv_buffer(sock: &impl AsFd, size: libc::c_int) {
    if set_recv_buffer_force(sock, size).is_err() {
        let _ = set_int(sock, libc::SOL_SOCKET, libc::SO_RCVBUF, size);
    }
}

/// A send buffer of `size` bytes where we may (root), else as much of it
/// as `wmem_max` allows.
pub fn deep_send_buffer(sock: &impl AsFd, size: libc::c_int) {
    if set_send_buffer_force(sock, size).is_err() {
        let _ = set_int(sock, libc::SOL_SOCKET, libc::SO_SNDBUF, size);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_on_a_udp_socket() {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        set_int(&s, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1).unwrap();
        assert_ne!(
            get_int(&s, libc::SOL_SOCKET, libc::SO_REUSEADDR).unwrap(),
            0
        );
        // A TCP socket has no UDP options.
        let t = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(set_espinudp(&t).is_err());
        // A struct option: SO_LINGER.
        let l = libc::linger {
            l_onoff: 1,
            l_linger: 7,
        };
        set_struct(&t, libc::SOL_SOCKET, libc::SO_LINGER, &l).unwrap();
        assert_eq!(
            socket2::SockRef::from(&t).linger().unwrap(),
            Some(std::time::Duration::from_secs(7))
        );
    }
}
