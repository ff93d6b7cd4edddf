//! Batched socket I/O for the ESP data path: many UDP datagrams per system
//! call ([`RecvBatch`] with recvmmsg(2) and UDP GRO, [`SendBatch`] with
//! sendmmsg(2) and UDP GSO), and raw ESP sockets ([`RawEsp`], IP protocol
//! 50, for peers without NAT traversal).
//!
//! Buffers and message headers are allocated once, at construction; a
//! receive or send allocates nothing.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::ops::Range;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use crate::sockopt::{self, UDP_GRO, UDP_SEGMENT};
use socket2::{Domain, Protocol, SockRef, Socket, Type};
/// Segments the kernel takes in one GSO send (`UDP_MAX_SEGMENTS`; 64 in
/// older kernels, 128 in newer ones).
pub const GSO_MAX_SEGMENTS: usize = 64;
/// Bytes of UDP payload in one GSO send, well within one IP packet.
pub const GSO_MAX_BYTES: usize = 65000;
/// A receive buffer that can hold any coalesced (GRO) message.
pub const GRO_BUF_SIZE: usize = 65535;

/// Room for a UDP_GRO and an IP(V6)_PKTINFO control message.
const CTRL_LEN: usize = 96;

/// Control message space, aligned for `cmsghdr`.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct Ctrl([u8; CTRL_LEN]);

fn zeroed_mmsghdr() -> libc::mmsghdr {
    // SAFETY: mmsghdr is plain data (integers and raw pointers): all
    // zeroes is a valid value.
    unsafe { zeroed() }
}

fn zeroed_storage() -> libc::sockaddr_storage {
    // SAFETY: as above.
    unsafe { zeroed() }
}

/// Writes `addr` into `ss`; returns its length.
pub(crate) fn to_sockaddr(addr: &SocketAddr, ss: &mut libc::sockaddr_storage) -> libc::socklen_t {
    *ss = zeroed_storage();
    match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than, and aligned for, any
            // sockaddr; we own it.
            unsafe { std::ptr::write((ss as *mut libc::sockaddr_storage).cast(), sin) };
            size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above.
            unsafe { std::ptr::write((ss as *mut libc::sockaddr_storage).cast(), sin6) };
            size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

/// Reads a socket address; an IPv4-mapped IPv6 address (from a dual-stack
/// socket) comes back as IPv4.
pub(crate) fn from_sockaddr(
    ss: &libc::sockaddr_storage,
    len: libc::socklen_t,
) -> Option<SocketAddr> {
    let len = len as usize;
    match libc::c_int::from(ss.ss_family) {
        libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says it holds a sockaddr_in, which fits.
            let sin =
                unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes()),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, a sockaddr_in6.
            let sin6 =
                unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            let port = u16::from_be(sin6.sin6_port);
            Some(match ip.to_ipv4_mapped() {
                Some(v4) => SocketAddr::V4(SocketAddrV4::new(v4, port)),
                None => SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    port,
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )),
            })
        }
        _ => None,
    }
}

/// One message of a [`RecvBatch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message {
    /// Where its bytes start in its buffer (the headroom).
    pub start: usize,
    /// Bytes received.
    pub len: usize,
    /// With UDP GRO, the size of every datagram in it but the last (which
    /// may be shorter); 0 for a single datagram.
    pub seg_size: usize,
    /// The sender.
    pub from: SocketAddr,
    /// The local address it was sent to, when the socket reports it
    /// ([`crate::pktinfo::enable`]).
    pub local: Option<IpAddr>,
    /// The datagram did not fit the buffer (its datagrams are skipped).
    pub truncated: bool,
}

impl Message {
    /// The received bytes' range in the message's buffer.
    pub fn range(&self) -> Range<usize> {
        self.start..self.start + self.len
    }

    /// The ranges of its datagrams in the message's buffer (none if
    /// truncated).
    pub fn segments(&self) -> Segments {
        let step = if self.seg_size == 0 {
            self.len.max(1)
        } else {
            self.seg_size
        };
        Segments {
            pos: self.start,
            end: if self.truncated {
                self.start
            } else {
                self.start + self.len
            },
            step,
            empty: !self.truncated && self.len == 0,
        }
    }
}

/// The datagrams of one [`Message`].
#[derive(Debug, Clone)]
pub struct Segments {
    pos: usize,
    end: usize,
    step: usize,
    /// A single empty datagram still to give.
    empty: bool,
}

impl Iterator for Segments {
    type Item = Range<usize>;

    fn next(&mut self) -> Option<Range<usize>> {
        if self.empty {
            self.empty = false;
            return Some(self.pos..self.pos);
        }
        if self.pos >= self.end {
            return None;
        }
        let r = self.pos..self.end.min(self.pos + self.step);
        self.pos = r.end;
        Some(r)
    }
}

/// Receives up to N UDP datagrams per recvmmsg(2) into N buffers allocated
/// at construction, each filled after a headroom the caller chose.
///
/// ```no_run
/// # use esp_io::batch::RecvBatch;
/// # fn f(sock: &std::net::UdpSocket) -> std::io::Result<()> {
/// let mut rx = RecvBatch::new(64, 2048, 0);
/// let n = rx.recv(sock)?;
/// for i in 0..n {
///     let Some(m) = rx.message(i) else { continue };
///     for r in m.segments() {
///         let datagram = &mut rx.buf_mut(i)[r];
///         // open the ESP packet in place
///     }
/// }
/// # Ok(()) }
/// ```
pub struct RecvBatch {
    buf: Box<[u8]>,
    stride: usize,
    headroom: usize,
    hdrs: Vec<libc::mmsghdr>,
    iovs: Vec<libc::iovec>,
    names: Vec<libc::sockaddr_storage>,
    ctrl: Vec<Ctrl>,
    msgs: Vec<Message>,
    gro: bool,
}

// SAFETY: the raw pointers in `hdrs` and `iovs` only ever point into this
// value's own heap storage, and are rewritten before every use.
unsafe impl Send for RecvBatch {}

impl std::fmt::Debug for RecvBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBatch")
            .field("count", &self.hdrs.len())
            .field("buf_size", &self.stride)
            .field("headroom", &self.headroom)
            .field("received", &self.msgs.len())
            .field("gro", &self.gro)
            .finish()
    }
}

impl RecvBatch {
    /// `count` buffers of `buf_size` bytes; datagrams land after the first
    /// `headroom` bytes of each (capped at `buf_size`).
    pub fn new(count: usize, buf_size: usize, headroom: usize) -> Self {
        let count = count.max(1);
        RecvBatch {
            buf: vec![0u8; count * buf_size].into_boxed_slice(),
            stride: buf_size,
            headroom: headroom.min(buf_size),
            hdrs: (0..count).map(|_| zeroed_mmsghdr()).collect(),
            iovs: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0,
                };
                count
            ],
            names: vec![zeroed_storage(); count],
            ctrl: vec![Ctrl([0; CTRL_LEN]); count],
            msgs: Vec::with_capacity(count),
            gro: false,
        }
    }

    /// Turns on UDP GRO on `sock`: one message may then carry many
    /// datagrams of one sender ([`Message::seg_size`]). Needs buffers with
    /// [`GRO_BUF_SIZE`] bytes after the headroom; `Ok(false)` when they are
    /// smaller or the kernel has no UDP GRO.
    pub fn enable_gro(&mut self, sock: &impl AsFd) -> io::Result<bool> {
        if self.stride - self.headroom < GRO_BUF_SIZE {
            return Ok(false);
        }
        match sockopt::set_int(sock, libc::SOL_UDP, UDP_GRO, 1) {
            Ok(()) => {
                self.gro = true;
                Ok(true)
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOPROTOOPT) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Whether UDP GRO is on.
    pub fn gro(&self) -> bool {
        self.gro
    }

    /// How many buffers there are.
    pub fn capacity(&self) -> usize {
        self.hdrs.len()
    }

    /// Receives what is queued, up to [`RecvBatch::capacity`] messages
    /// (`MSG_WAITFORONE`: a blocking socket waits for the first only);
    /// returns how many. Message `i` is in buffer `i`.
    pub fn recv(&mut self, sock: &impl AsFd) -> io::Result<usize> {
        self.msgs.clear();
        let base = self.buf.as_mut_ptr();
        let room = self.stride - self.headroom;
        let slots = self
            .hdrs
            .iter_mut()
            .zip(self.iovs.iter_mut())
            .zip(self.names.iter_mut())
            .zip(self.ctrl.iter_mut())
            .enumerate();
        for (i, (((h, iov), name), ctrl)) in slots {
            iov.iov_base = base.wrapping_add(i * self.stride + self.headroom).cast();
            iov.iov_len = room;
            *h = zeroed_mmsghdr();
            h.msg_hdr.msg_name = (name as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_hdr.msg_iov = iov;
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_control = ctrl.0.as_mut_ptr().cast();
            h.msg_hdr.msg_controllen = CTRL_LEN as _;
        }
        let n = loop {
            // SAFETY: every header points at buffers, addresses and control
            // space owned by `self`, sized as the header says.
            let r = unsafe {
                libc::recvmmsg(
                    sock.as_fd().as_raw_fd(),
                    self.hdrs.as_mut_ptr(),
                    self.hdrs.len() as libc::c_uint,
                    libc::MSG_WAITFORONE,
                    std::ptr::null_mut(),
                )
            };
            if r >= 0 {
                break r as usize;
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        };
        for (h, name) in self.hdrs.iter().zip(self.names.iter()).take(n) {
            let len = h.msg_len as usize;
            let truncated = h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
            let mut seg_size = 0;
            // SAFETY: the kernel filled the control space of this header,
            // and msg_controllen says how much of it.
            unsafe {
                let mut c = libc::CMSG_FIRSTHDR(&h.msg_hdr);
                while !c.is_null() {
                    if (*c).cmsg_level == libc::SOL_UDP && (*c).cmsg_type == UDP_GRO {
                        let v = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>());
                        seg_size = usize::try_from(v).unwrap_or(0);
                    }
                    c = libc::CMSG_NXTHDR(&h.msg_hdr, c);
                }
            }
            if seg_size >= len {
                seg_size = 0;
            }
            let from = from_sockaddr(name, h.msg_hdr.msg_namelen)
                .unwrap_or(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)));
            // SAFETY: as above.
            let local = unsafe { crate::pktinfo::local_of(&h.msg_hdr) };
            self.msgs.push(Message {
                start: self.headroom,
                len: len.min(room),
                seg_size,
                from,
                local,
                truncated,
            });
        }
        Ok(n)
    }

    /// The messages of the last [`RecvBatch::recv`].
    pub fn messages(&self) -> &[Message] {
        &self.msgs
    }

    /// Message `i` of the last [`RecvBatch::recv`].
    pub fn message(&self, i: usize) -> Option<Message> {
        self.msgs.get(i).copied()
    }

    /// Messages received by the last [`RecvBatch::recv`].
    pub fn len(&self) -> usize {
        self.msgs.len()
    }

    /// Whether the last [`RecvBatch::recv`] got nothing.
    pub fn is_empty(&self) -> bool {
        self.msgs.is_empty()
    }

    /// Buffer `i`, headroom included (empty if there is no such buffer).
    pub fn buf(&self, i: usize) -> &[u8] {
        self.buf
            .get(i * self.stride..(i + 1) * self.stride)
            .unwrap_or_default()
    }

    /// Buffer `i`, headroom included, to open packets in place.
    pub fn buf_mut(&mut self, i: usize) -> &mut [u8] {
        self.buf
            .get_mut(i * self.stride..(i + 1) * self.stride)
            .unwrap_or_default()
    }

    /// Calls `f` with every datagram received (GRO messages split), in
    /// order, mutable in place, and its sender.
    pub fn for_each_datagram(&mut self, mut f: impl FnMut(&mut [u8], SocketAddr)) {
        self.for_each_datagram_to(|d, from, _| f(d, from));
    }

    /// Like [`RecvBatch::for_each_datagram`], with the local address each
    /// datagram was sent to ([`Message::local`]).
    pub fn for_each_datagram_to(
        &mut self,
        mut f: impl FnMut(&mut [u8], SocketAddr, Option<IpAddr>),
    ) {
        for i in 0..self.msgs.len() {
            let Some(m) = self.msgs.get(i).copied() else {
                break;
            };
            for r in m.segments() {
                if let Some(d) = self.buf_mut(i).get_mut(r) {
                    f(d, m.from, m.local);
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    start: usize,
    len: usize,
    dest: SocketAddr,
    namelen: libc::socklen_t,
}

/// Sends up to N prepared UDP datagrams, each to its own destination, per
/// sendmmsg(2); with UDP GSO on, runs of equal-size datagrams (the last may
/// be shorter) to one destination go as one message with a `UDP_SEGMENT`
/// control message. The datagrams are built in place in N buffers
/// allocated at construction.
///
/// ```no_run
/// # use esp_io::batch::SendBatch;
/// # fn f(sock: &std::net::UdpSocket, peer: std::net::SocketAddr) -> std::io::Result<()> {
/// let mut tx = SendBatch::new(64, 2048);
/// tx.enable_gso(sock);
/// while let Some(buf) = tx.next_buf() {
///     buf[64..164].fill(1); // seal an ESP packet here, in place
///     tx.commit(64..164, peer);
/// }
/// tx.flush(sock)?;
/// # Ok(()) }
/// ```
pub struct SendBatch {
    buf: Box<[u8]>,
    stride: usize,
    queue: Vec<Pending>,
    names: Vec<libc::sockaddr_storage>,
    hdrs: Vec<libc::mmsghdr>,
    iovs: Vec<libc::iovec>,
    ctrl: Vec<Ctrl>,
    /// Per header: first datagram and how many.
    runs: Vec<(usize, usize)>,
    /// Datagrams before this one are sent or dropped.
    done: usize,
    gso: bool,
    sent: u64,
    dropped: u64,
    gso_sends: u64,
}

// SAFETY: the raw pointers in `hdrs` and `iovs` only ever point into this
// value's own heap storage, and are rewritten before every use.
unsafe impl Send for SendBatch {}

impl std::fmt::Debug for SendBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendBatch")
            .field("count", &self.hdrs.len())
            .field("buf_size", &self.stride)
            .field("queued", &self.queue.len())
            .field("gso", &self.gso)
            .field("sent", &self.sent)
            .field("dropped", &self.dropped)
            .finish()
    }
}

impl SendBatch {
    /// `count` buffers of `buf_size` bytes.
    pub fn new(count: usize, buf_size: usize) -> Self {
        let count = count.max(1);
        SendBatch {
            buf: vec![0u8; count * buf_size].into_boxed_slice(),
            stride: buf_size,
            queue: Vec::with_capacity(count),
            names: vec![zeroed_storage(); count],
            hdrs: (0..count).map(|_| zeroed_mmsghdr()).collect(),
            iovs: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0,
                };
                count
            ],
            ctrl: vec![Ctrl([0; CTRL_LEN]); count],
            runs: Vec::with_capacity(count),
            done: 0,
            gso: false,
            sent: 0,
            dropped: 0,
            gso_sends: 0,
        }
    }

    /// Turns UDP GSO on if the kernel has it for `sock`; returns whether it
    /// is on. It goes off by itself if a GSO send fails with `EIO` (no
    /// checksum offload on the way out).
    pub fn enable_gso(&mut self, sock: &impl AsFd) -> bool {
        self.gso = sockopt::get_int(sock, libc::SOL_UDP, UDP_SEGMENT).is_ok();
        self.gso
    }

    /// Turns UDP GSO off.
    pub fn disable_gso(&mut self) {
        self.gso = false;
    }

    /// Whether UDP GSO is on.
    pub fn gso(&self) -> bool {
        self.gso
    }

    /// How many datagrams fit.
    pub fn capacity(&self) -> usize {
        self.hdrs.len()
    }

    /// Datagrams queued.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Whether every buffer is taken.
    pub fn is_full(&self) -> bool {
        self.queue.len() >= self.hdrs.len()
    }

    /// The next free buffer, whole, to build a datagram in; `None` when
    /// full. Queue what was built with [`SendBatch::commit`].
    pub fn next_buf(&mut self) -> Option<&mut [u8]> {
        let i = self.queue.len();
        if i >= self.hdrs.len() {
            return None;
        }
        self.buf.get_mut(i * self.stride..(i + 1) * self.stride)
    }

    /// Queues bytes `range` of the buffer [`SendBatch::next_buf`] gave, for
    /// `dest`; false (nothing queued) when full or out of range.
    pub fn commit(&mut self, range: Range<usize>, dest: SocketAddr) -> bool {
        let i = self.queue.len();
        if range.start > range.end || range.end > self.stride {
            return false;
        }
        let Some(name) = self.names.get_mut(i) else {
            return false;
        };
        let namelen = to_sockaddr(&dest, name);
        self.queue.push(Pending {
            start: i * self.stride + range.start,
            len: range.len(),
            dest,
            namelen,
        });
        true
    }

    /// Copies `data` into the next buffer and queues it for `dest`; false
    /// when full or too large.
    pub fn push(&mut self, data: &[u8], dest: SocketAddr) -> bool {
        match self.next_buf().and_then(|b| b.get_mut(..data.len())) {
            Some(b) => b.copy_from_slice(data),
            None => return false,
        }
        self.commit(0..data.len(), dest)
    }

    /// Datagrams sent since construction.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Datagrams dropped on send errors since construction.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Messages sent with UDP GSO since construction.
    pub fn gso_sends(&self) -> u64 {
        self.gso_sends
    }

    /// Drops everything queued.
    pub fn clear(&mut self) {
        self.queue.clear();
        self.done = 0;
    }

    /// Fills the message headers for the datagrams from `self.done` on;
    /// returns how many headers.
    fn build(&mut self, gso: bool) -> usize {
        self.runs.clear();
        let mut i = self.done;
        while let Some(p) = self.queue.get(i).copied() {
            let mut cnt = 1;
            let mut bytes = p.len;
            if gso && p.len > 0 {
                while let Some(q) = self.queue.get(i + cnt) {
                    if cnt >= GSO_MAX_SEGMENTS
                        || q.dest != p.dest
                        || q.len == 0
                        || q.len > p.len
                        || bytes + q.len > GSO_MAX_BYTES
                    {
                        break;
                    }
                    cnt += 1;
                    bytes += q.len;
                    if q.len < p.len {
                        break;
                    }
                }
            }
            self.runs.push((i, cnt));
            i += cnt;
        }
        let base = self.buf.as_mut_ptr();
        for (p, iov) in self.queue.iter().zip(self.iovs.iter_mut()).skip(self.done) {
            iov.iov_base = base.wrapping_add(p.start).cast();
            iov.iov_len = p.len;
        }
        let iovs = self.iovs.as_mut_ptr();
        let names = self.names.as_mut_ptr();
        for ((h, ctrl), &(first, cnt)) in self
            .hdrs
            .iter_mut()
            .zip(self.ctrl.iter_mut())
            .zip(&self.runs)
        {
            let Some(p) = self.queue.get(first) else {
                break;
            };
            *h = zeroed_mmsghdr();
            h.msg_hdr.msg_name = names.wrapping_add(first).cast();
            h.msg_hdr.msg_namelen = p.namelen;
            h.msg_hdr.msg_iov = iovs.wrapping_add(first);
            h.msg_hdr.msg_iovlen = cnt as _;
            if cnt > 1 {
                // SAFETY: CMSG_SPACE of a u16 fits the aligned control
                // space; the header is written where CMSG_FIRSTHDR says.
                unsafe {
                    h.msg_hdr.msg_control = ctrl.0.as_mut_ptr().cast();
                    h.msg_hdr.msg_controllen = libc::CMSG_SPACE(size_of::<u16>() as u32) as _;
                    let c = libc::CMSG_FIRSTHDR(&h.msg_hdr);
                    if c.is_null() {
                        h.msg_hdr.msg_control = std::ptr::null_mut();
                        h.msg_hdr.msg_controllen = 0;
                        continue;
                    }
                    (*c).cmsg_level = libc::SOL_UDP;
                    (*c).cmsg_type = UDP_SEGMENT;
                    (*c).cmsg_len = libc::CMSG_LEN(size_of::<u16>() as u32) as _;
                    std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<u16>(), p.len as u16);
                }
            }
        }
        self.runs.len()
    }

    /// Sends everything queued and empties the queue. A send error drops
    /// the datagrams of that message and the rest go on; the first such
    /// error is returned at the end. A GSO message the kernel refuses
    /// (`EIO`, `EINVAL`, `EMSGSIZE`) is sent again without GSO (after `EIO`
    /// GSO stays off). `WouldBlock` stops early and keeps what is unsent
    /// queued: flush again when the socket is writable. Returns how many
    /// datagrams went out.
    pub fn flush(&mut self, sock: &impl AsFd) -> io::Result<usize> {
        let fd = sock.as_fd().as_raw_fd();
        let mut gso = self.gso;
        let mut sent = 0;
        let mut first_err = None;
        'build: while self.done < self.queue.len() {
            let nh = self.build(gso);
            let mut h = 0;
            while h < nh {
                let todo = self.hdrs.get_mut(h..nh).unwrap_or_default();
                // SAFETY: the headers point at buffers, addresses, iovecs
                // and control space owned by `self`, as `build` set them.
                let r =
                    unsafe { libc::sendmmsg(fd, todo.as_mut_ptr(), todo.len() as libc::c_uint, 0) };
                if r > 0 {
                    for &(_, cnt) in self.runs.get(h..h + r as usize).unwrap_or_default() {
                        sent += cnt;
                        self.done += cnt;
                        if cnt > 1 {
                            self.gso_sends += 1;
                        }
                    }
                    h += r as usize;
                    continue;
                }
                if r == 0 {
                    // Not for a non-empty vector; do not spin on it.
                    self.sent += sent as u64;
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                let e = io::Error::last_os_error();
                let cnt = self.runs.get(h).map_or(1, |r| r.1);
                match e.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    Some(libc::EAGAIN) => {
                        self.sent += sent as u64;
                        return Err(e);
                    }
                    Some(libc::EIO | libc::EINVAL | libc::EMSGSIZE) if cnt > 1 => {
                        if e.raw_os_error() == Some(libc::EIO) {
                            self.gso = false;
                        }
                        gso = false;
                        continue 'build;
                    }
                    _ => {
                        self.dropped += cnt as u64;
                        self.done += cnt;
                        first_err.get_or_insert(e);
                        h += 1;
                    }
                }
            }
        }
        self.sent += sent as u64;
        self.clear();
        match first_err {
            Some(e) => Err(e),
            None => Ok(sent),
        }
    }
}

/// A raw socket for IP protocol 50 (ESP without UDP encapsulation), IPv4
/// or IPv6, non-blocking. It sees every ESP packet the host receives.
#[derive(Debug)]
pub struct RawEsp {
    fd: OwnedFd,
    v6: bool,
}

impl RawEsp {
    /// Opens the socket (needs `CAP_NET_RAW`).
    pub fn new(v6: bool) -> io::Result<Self> {
        let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
        let s = Socket::new(
            domain,
            Type::RAW.nonblocking(),
            Some(Protocol::from(libc::IPPROTO_ESP)),
        )?;
        Ok(RawEsp { fd: s.into(), v6 })
    }

    /// Whether this is the IPv6 socket.
    pub fn is_v6(&self) -> bool {
        self.v6
    }

    /// Receives only what is sent to `ip`.
    pub fn bind(&self, ip: IpAddr) -> io::Result<()> {
        SockRef::from(&self.fd).bind(&SocketAddr::new(ip, 0).into())
    }

    /// Blocking or not (it starts non-blocking).
    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        SockRef::from(&self.fd).set_nonblocking(on)
    }

    /// Receives one ESP packet into `buf`; returns where it is in `buf`
    /// (past the IPv4 header, which IPv4 raw sockets include) and who sent
    /// it. A packet too large for `buf`, or a mangled IPv4 header, is
    /// `InvalidData`; no packet queued is `WouldBlock`.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<(Range<usize>, IpAddr)> {
        let mut ss = zeroed_storage();
        let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: recvfrom(2) writes at most buf.len() bytes into `buf` and
        // at most `len` into `ss`, both ours.
        let n = unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_TRUNC,
                (&mut ss as *mut libc::sockaddr_storage).cast(),
                &mut len,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
        if n > buf.len() {
            return Err(bad("ESP packet larger than the buffer"));
        }
        let from = from_sockaddr(&ss, len)
            .map(|a| a.ip())
            .ok_or_else(|| bad("no source address"))?;
        let start = if self.v6 {
            0
        } else {
            match buf.first() {
                Some(&b) if b >> 4 == 4 && usize::from(b & 0x0f) * 4 >= 20 => {
                    usize::from(b & 0x0f) * 4
                }
                _ => return Err(bad("bad IPv4 header")),
            }
        };
        if start > n {
            return Err(bad("bad IPv4 header"));
        }
        Ok((start..n, from))
    }

    /// Sends one ESP packet (the kernel adds the IP header).
    pub fn send_to(&self, pkt: &[u8], dst: IpAddr) -> io::Result<usize> {
        let mut ss = zeroed_storage();
        let len = to_sockaddr(&SocketAddr::new(dst, 0), &mut ss);
        // SAFETY: sendto(2) reads `pkt` and `len` bytes of `ss`, both ours.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                pkt.as_ptr().cast(),
                pkt.len(),
                0,
                (&ss as *const libc::sockaddr_storage).cast(),
                len,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

impl AsRawFd for RawEsp {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for RawEsp {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_addresses_round_trip() {
        let mut ss = zeroed_storage();
        for a in [
            "192.0.2.1:4500",
            "[2001:db8::1]:4500",
            "[fe80::1%3]:500",
            "0.0.0.0:0",
        ] {
            let a: SocketAddr = a.parse().unwrap();
            let len = to_sockaddr(&a, &mut ss);
            assert_eq!(from_sockaddr(&ss, len), Some(a));
        }
        let mapped: SocketAddr = "[::ffff:192.0.2.7]:9".parse().unwrap();
        let len = to_sockaddr(&mapped, &mut ss);
        assert_eq!(
            from_sockaddr(&ss, len),
            Some("192.0.2.7:9".parse().unwrap())
        );
        assert_eq!(from_sockaddr(&ss, 3), None);
    }

    #[test]
    fn gro_messages_split_into_datagrams() {
        let from = "192.0.2.1:4500".parse().unwrap();
        let m = |len, seg_size, truncated| Message {
            start: 10,
            len,
            seg_size,
            from,
            local: None,
            truncated,
        };
        let v: Vec<_> = m(2500, 1000, false).segments().collect();
        assert_eq!(v, vec![10..1010, 1010..2010, 2010..2510]);
        let v: Vec<_> = m(3000, 1000, false).segments().collect();
        assert_eq!(v, vec![10..1010, 1010..2010, 2010..3010]);
        let v: Vec<_> = m(700, 0, false).segments().collect();
        assert_eq!(v, vec![10..710]);
        let v: Vec<_> = m(0, 0, false).segments().collect();
        assert_eq!(v, vec![10..10]);
        assert_eq!(m(700, 0, true).segments().count(), 0);
    }
}
