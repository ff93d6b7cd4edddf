//! Descriptors the workers poll: UDP sockets sharing the NAT-T port
//! (SO_REUSEPORT, one per worker, so the kernel spreads peers over them),
//! and an eventfd that wakes a worker when the tables change.

use esp_io::sockopt;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Bursts of ESP (a 64 KiB TSO packet is 47 datagrams) need deeper socket
/// buffers than the default; as root the `rmem_max` cap does not apply.
pub fn deep_buffers(sock: &impl AsFd) {
    const SIZE: libc::c_int = 8 << 20;
    sockopt::deep_recv_buffer(sock, SIZE);
    sockopt::deep_send_buffer(sock, SIZE);
}

/// A non-blocking UDP socket on `addr` with SO_REUSEPORT (IPv6 ones are
/// v6-only, so that the IPv4 group stays separate).
pub fn udp_reuseport(addr: SocketAddr) -> io::Result<UdpSocket> {
    let s = Socket::new(
        Domain::for_address(addr),
        Type::DGRAM.nonblocking(),
        Some(Protocol::UDP),
    )?;
    s.set_reuse_port(true)?;
    deep_buffers(&s);
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    // Each datagram's local address, for IKE (which peer reached which of
    // the host's addresses; replies go out from it).
    esp_io::pktinfo::enable(&s, addr.is_ipv6())?;
    s.bind(&addr.into())?;
    Ok(s.into())
}

/// An eventfd: `notify` from any thread wakes whoever polls it.
#[derive(Debug)]
pub struct EventFd(OwnedFd);

impl EventFd {
    pub fn new() -> io::Result<EventFd> {
        // SAFETY: eventfd(2); the descriptor is owned at once.
        let fd = check(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
        // SAFETY: a fresh descriptor we own.
        Ok(EventFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    pub fn notify(&self) {
        let one: u64 = 1;
        // SAFETY: write(2) of 8 bytes we own. A full counter (EAGAIN) still
        // leaves the descriptor readable, which is all a wake-up needs.
        unsafe { libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    pub fn clear(&self) {
        let mut v: u64 = 0;
        // SAFETY: read(2) of 8 bytes into a u64 we own.
        unsafe { libc::read(self.0.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
    }
}

impl AsRawFd for EventFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// An epoll set: a worker registers each descriptor once, with a token,
/// and a wait costs the kernel only the descriptors that are ready (poll(2)
/// asks every descriptor each time: with a TUN per tunnel that is O(tunnels)
/// per wake-up).
#[derive(Debug)]
pub struct Epoll(OwnedFd);

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1(2); the descriptor is owned at once.
        let fd = check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: a fresh descriptor we own.
        Ok(Epoll(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: epoll_ctl(2) reads an epoll_event we own.
        check(unsafe { libc::epoll_ctl(self.0.as_raw_fd(), op, fd, &mut ev) }).map(drop)
    }

    /// Watch `fd` for input (level-triggered, as poll(2)), reported as `token`.
    pub fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, token)
    }

    /// Stop watching `fd` (before it is closed elsewhere or dropped).
    pub fn del(&self, fd: RawFd) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd, 0)
    }

    /// Waits up to `timeout_ms` for input; fills `events` and returns how
    /// many are ready (0 on timeout or EINTR).
    pub fn wait(&self, events: &mut [libc::epoll_event], timeout_ms: i32) -> io::Result<usize> {
        let max = libc::c_int::try_from(events.len()).unwrap_or(libc::c_int::MAX);
        // SAFETY: epoll_wait(2) writes at most `max` events into the slice.
        let r =
            unsafe { libc::epoll_wait(self.0.as_raw_fd(), events.as_mut_ptr(), max, timeout_ms) };
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(0);
        }
        Err(e)
    }
}
