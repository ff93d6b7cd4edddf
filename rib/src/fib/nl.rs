//! A small batching netlink client for the FIB writer: many requests go
//! out in one `sendmsg`, without NLM_F_ACK, followed by an NLMSG_NOOP
//! that does ask for one. The kernel handles the messages of a send in
//! order before the call returns and answers only the ones it refused
//! (each with its errno and extended-ack text), so the NOOP's ack closes
//! the batch: every refusal of the batch has arrived before it.
//!
//! The messages themselves (rtmsg, nhmsg and their attributes) are
//! encoded by the caller; see [`Msg`].

use std::io;
use std::os::fd::AsRawFd;

use rtnetlink::sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use tokio::io::unix::AsyncFd;

pub(super) const NLMSG_HDRLEN: usize = 16;
pub(super) const NLMSG_NOOP: u16 = 1;
pub(super) const NLMSG_ERROR: u16 = 2;
pub(super) const NLMSG_DONE: u16 = 3;
pub(super) const NLM_F_REQUEST: u16 = 1;
pub(super) const NLM_F_ACK: u16 = 4;
pub(super) const NLM_F_DUMP: u16 = 0x300;
pub(super) const NLM_F_REPLACE: u16 = 0x100;
pub(super) const NLM_F_EXCL: u16 = 0x200;
pub(super) const NLM_F_CREATE: u16 = 0x400;
const NLM_F_CAPPED: u16 = 0x100;
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;

/// Requests per `sendmsg` (and so the most refusals that can queue up in
/// the receive buffer before we read them).
const CHUNK: usize = 512;
/// Receive buffer asked for (SO_RCVBUFFORCE as root, else SO_RCVBUF).
const RCVBUF: usize = 8 << 20;

/// One netlink message being built: header, fixed part, attributes.
pub(super) struct Msg(Vec<u8>);

impl Msg {
    /// A request of `kind` with `flags` (NLM_F_REQUEST is added).
    pub(super) fn new(kind: u16, flags: u16) -> Msg {
        let mut v = Vec::with_capacity(64);
        v.extend_from_slice(&0u32.to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        v.extend_from_slice(&[0u8; 8]);
        Msg(v)
    }
    /// Appends raw bytes (the fixed part of the message).
    pub(super) fn raw(mut self, b: &[u8]) -> Msg {
        self.0.extend_from_slice(b);
        self
    }
    /// Appends an attribute (padded to 4 bytes).
    pub(super) fn attr(mut self, kind: u16, data: &[u8]) -> Msg {
        let len = 4 + data.len();
        self.0.extend_from_slice(&(len as u16).to_ne_bytes());
        self.0.extend_from_slice(&kind.to_ne_bytes());
        self.0.extend_from_slice(data);
        self.pad();
        self
    }
    fn pad(&mut self) {
        while !self.0.len().is_multiple_of(4) {
            self.0.push(0);
        }
    }
    /// The finished message (length filled in; the sequence number is
    /// set when it is sent).
    pub(super) fn done(mut self) -> Vec<u8> {
        self.pad();
        let len = self.0.len() as u32;
        if let Some(h) = self.0.get_mut(0..4) {
            h.copy_from_slice(&len.to_ne_bytes());
        }
        self.0
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2)
        .and_then(|s| s.try_into().ok())
        .map(u16::from_ne_bytes)
}
pub(super) fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_ne_bytes)
}

/// The netlink messages of a datagram: (type, flags, seq, payload).
pub(super) fn messages(mut b: &[u8]) -> impl Iterator<Item = (u16, u16, u32, &[u8])> {
    std::iter::from_fn(move || {
        let len = u32_at(b, 0)? as usize;
        let kind = u16_at(b, 4)?;
        let flags = u16_at(b, 6)?;
        let seq = u32_at(b, 8)?;
        if len < NLMSG_HDRLEN {
            return None;
        }
        let payload = b.get(NLMSG_HDRLEN..len)?;
        b = b.get((len + 3) & !3..).unwrap_or(&[]);
        Some((kind, flags, seq, payload))
    })
}

/// Attributes (type without its flag bits, payload) from `b`.
pub(super) fn attrs(mut b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let len = u16_at(b, 0)? as usize;
        let kind = u16_at(b, 2)? & 0x3fff;
        if len < 4 {
            return None;
        }
        let data = b.get(4..len)?;
        b = b.get((len + 3) & !3..).unwrap_or(&[]);
        Some((kind, data))
    })
}

/// The errno of an NLMSG_ERROR payload (0: an ack) and the kernel's
/// reason as text ("Network is unreachable (os error 101): Nexthop has
/// invalid gateway").
fn error_of(flags: u16, payload: &[u8]) -> (i32, String) {
    let code = u32_at(payload, 0).map(|c| c as i32).unwrap_or(0);
    if code == 0 {
        return (0, String::new());
    }
    let errno = -code;
    let mut text = io::Error::from_raw_os_error(errno).to_string();
    if flags & NLM_F_ACK_TLVS != 0 {
        // The original header (capped) or the whole original message.
        let orig = if flags & NLM_F_CAPPED != 0 {
            NLMSG_HDRLEN
        } else {
            u32_at(payload, 4)
                .map(|l| l as usize)
                .unwrap_or(NLMSG_HDRLEN)
        };
        let tlvs = payload.get(4 + ((orig + 3) & !3)..).unwrap_or(&[]);
        for (kind, data) in attrs(tlvs) {
            if kind == NLMSGERR_ATTR_MSG {
                let msg = data.split(|c| *c == 0).next().unwrap_or(&[]);
                text.push_str(": ");
                text.push_str(&String::from_utf8_lossy(msg));
            }
        }
    }
    (errno, text)
}

/// What became of one request.
pub(super) type Outcome = Result<(), (i32, String)>;

/// Collects the answers to one batch.
struct Batch {
    first: u32,
    end: u32,
    res: Vec<Outcome>,
    lost: bool,
}

impl Batch {
    /// Takes one datagram; true once the batch is complete.
    fn feed(&mut self, b: &[u8]) -> bool {
        let mut complete = false;
        for (kind, flags, seq, payload) in messages(b) {
            if kind != NLMSG_ERROR {
                continue;
            }
            if seq == self.end {
                complete = true;
                continue;
            }
            let i = seq.wrapping_sub(self.first) as usize;
            let (errno, text) = error_of(flags, payload);
            if errno != 0 {
                if let Some(r) = self.res.get_mut(i) {
                    *r = Err((errno, text));
                }
            }
        }
        complete
    }
}

/// The end of a dump: a dump that failed says why in its NLMSG_DONE.
fn done(out: Vec<Vec<u8>>, payload: &[u8]) -> io::Result<Vec<Vec<u8>>> {
    match u32_at(payload, 0).map(|c| c as i32) {
        Some(c) if c < 0 => Err(io::Error::from_raw_os_error(-c)),
        _ => Ok(out),
    }
}

/// A NETLINK_ROUTE socket for batched requests and dumps.
pub(super) struct Nl {
    fd: AsyncFd<Socket>,
    seq: u32,
    rbuf: Vec<u8>,
}

fn socket() -> io::Result<Socket> {
    let mut s = Socket::new(NETLINK_ROUTE)?;
    s.bind_auto()?;
    s.connect(&SocketAddr::new(0, 0))?;
    // Refusals carry only the header of the refused message, and the
    // kernel's reason as text.
    s.set_cap_ack(true)?;
    s.set_ext_ack(true)?;
    set_bufs(&s);
    Ok(s)
}

fn set_bufs(s: &Socket) {
    let fd = s.as_raw_fd();
    for (force, plain) in [
        (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
        (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
    ] {
        let v: libc::c_int = RCVBUF as libc::c_int;
        let sz = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        let p = (&v as *const libc::c_int).cast::<libc::c_void>();
        // SAFETY: setsockopt on our own socket with a c_int option value
        // of the size given.
        let r = unsafe { libc::setsockopt(fd, libc::SOL_SOCKET, force, p, sz) };
        if r != 0 {
            // Not root: the plain option, capped by net.core.*mem_max.
            // SAFETY: as above.
            unsafe { libc::setsockopt(fd, libc::SOL_SOCKET, plain, p, sz) };
        }
    }
}

impl Nl {
    /// A socket in the current network namespace. Needs a tokio runtime
    /// with I/O enabled.
    pub(super) fn open() -> io::Result<Nl> {
        let s = socket()?;
        s.set_non_blocking(true)?;
        // SAFETY: the Socket owns its descriptor (closed when it is
        // dropped, which is when the AsyncFd is) and never changes it.
        let fd = unsafe { AsyncFd::register(s) }?;
        Ok(Nl {
            fd,
            seq: 0,
            rbuf: Vec::with_capacity(1 << 16),
        })
    }

    async fn send(&self, buf: &[u8]) -> io::Result<()> {
        loop {
            let mut g = self.fd.writable().await?;
            match g.try_io(|s| s.get_ref().send(buf, 0)) {
                Ok(r) => return r.map(|_| ()),
                Err(_) => continue,
            }
        }
    }

    async fn recv(&mut self) -> io::Result<()> {
        let rbuf = &mut self.rbuf;
        loop {
            let mut g = self.fd.readable().await?;
            rbuf.clear();
            match g.try_io(|s| s.get_ref().recv(rbuf, 0)) {
                Ok(r) => return r.map(|_| ()),
                Err(_) => continue,
            }
        }
    }

    /// Sends `msgs` (each from [`Msg::done`]) in batches, in order, and
    /// returns what became of each.
    pub(super) async fn write(&mut self, msgs: &[Vec<u8>]) -> Vec<Outcome> {
        let mut out = Vec::with_capacity(msgs.len());
        let mut buf = Vec::with_capacity(64 << 10);
        for chunk in msgs.chunks(CHUNK) {
            out.extend(self.write_chunk(chunk, &mut buf).await);
        }
        out
    }

    fn noop(&mut self, buf: &mut Vec<u8>) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        let mut m = Msg::new(NLMSG_NOOP, NLM_F_ACK).done();
        if let Some(s) = m.get_mut(8..12) {
            s.copy_from_slice(&self.seq.to_ne_bytes());
        }
        buf.extend_from_slice(&m);
        self.seq
    }

    async fn write_chunk(&mut self, chunk: &[Vec<u8>], buf: &mut Vec<u8>) -> Vec<Outcome> {
        buf.clear();
        let first = self.seq.wrapping_add(1);
        for m in chunk {
            self.seq = self.seq.wrapping_add(1);
            let at = buf.len();
            buf.extend_from_slice(m);
            if let Some(s) = buf.get_mut(at + 8..at + 12) {
                s.copy_from_slice(&self.seq.to_ne_bytes());
            }
        }
        let end = self.noop(buf);
        let mut b = Batch {
            first,
            end,
            res: vec![Ok(()); chunk.len()],
            lost: false,
        };
        if let Err(e) = self.send(buf).await {
            return vec![Err((e.raw_os_error().unwrap_or(0), e.to_string())); chunk.len()];
        }
        loop {
            match self.recv().await {
                Ok(()) => {
                    if b.feed(&self.rbuf) {
                        break;
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    // Answers were dropped: which ones is unknown. Close
                    // the batch with a new NOOP and report the requests
                    // with no answer as unknown (the caller retries them).
                    b.lost = true;
                    buf.clear();
                    b.end = self.noop(buf);
                    if let Err(e) = self.send(buf).await {
                        return vec![Err((0, e.to_string())); chunk.len()];
                    }
                }
                Err(e) => {
                    return vec![Err((e.raw_os_error().unwrap_or(0), e.to_string())); chunk.len()];
                }
            }
        }
        if b.lost {
            for r in b.res.iter_mut().filter(|r| r.is_ok()) {
                *r = Err((
                    libc::ENOBUFS,
                    "netlink receive buffer overrun: outcome unknown".into(),
                ));
            }
        }
        b.res
    }

    /// A dump request: the payload of every message of the answer.
    pub(super) async fn dump(&mut self, msg: Vec<u8>) -> io::Result<Vec<Vec<u8>>> {
        let mut m = msg;
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        if let Some(s) = m.get_mut(8..12) {
            s.copy_from_slice(&seq.to_ne_bytes());
        }
        self.send(&m).await?;
        let mut out = Vec::new();
        loop {
            self.recv().await?;
            for (kind, flags, s, payload) in messages(&self.rbuf) {
                if s != seq {
                    continue;
                }
                match kind {
                    NLMSG_DONE => return done(out, payload),
                    NLMSG_ERROR => {
                        let (errno, text) = error_of(flags, payload);
                        if errno == 0 {
                            return Ok(out);
                        }
                        return Err(io::Error::new(
                            io::Error::from_raw_os_error(errno).kind(),
                            text,
                        ));
                    }
                    _ => out.push(payload.to_vec()),
                }
            }
        }
    }
}

/// A socket subscribed to nexthop and link notifications: how the writer
/// learns of objects the kernel removed or changed on its own. (When an
/// interface goes down the kernel flushes its nexthop objects and shrinks
/// the groups holding them without a nexthop notification; the link
/// notification is the sign to look.) Read without blocking.
pub(super) struct Watch {
    s: Socket,
    rbuf: Vec<u8>,
}

/// What a read of [`Watch`] found.
pub(super) enum Seen {
    /// A notification: (type, payload).
    Msg(u16, Vec<u8>),
    /// Notifications were dropped: resynchronise.
    Overrun,
}

impl Watch {
    pub(super) fn open() -> io::Result<Watch> {
        const RTNLGRP_LINK: u32 = 1;
        const RTNLGRP_NEXTHOP: u32 = 32;
        let mut s = Socket::new(NETLINK_ROUTE)?;
        s.bind_auto()?;
        s.add_membership(RTNLGRP_LINK)?;
        s.add_membership(RTNLGRP_NEXTHOP)?;
        set_bufs(&s);
        s.set_non_blocking(true)?;
        Ok(Watch {
            s,
            rbuf: Vec::with_capacity(1 << 16),
        })
    }

    /// Everything pending.
    pub(super) fn drain(&mut self) -> Vec<Seen> {
        let mut out = Vec::new();
        loop {
            self.rbuf.clear();
            match self.s.recv(&mut self.rbuf, 0) {
                Ok(_) => {
                    for (kind, _, _, payload) in messages(&self.rbuf) {
                        out.push(Seen::Msg(kind, payload.to_vec()));
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => out.push(Seen::Overrun),
                Err(_) => return out,
            }
        }
    }
}

/// Blocking request/answer on a fresh socket, for [`super::Fib::open`]
/// (which is not async): sends `msgs` with NLM_F_ACK each and returns
/// the errno of each (0: accepted).
pub(super) fn blocking_acks(msgs: &[Vec<u8>]) -> io::Result<Vec<i32>> {
    let s = socket()?;
    let mut out = Vec::new();
    let mut rbuf: Vec<u8> = Vec::with_capacity(1 << 16);
    for (i, m) in msgs.iter().enumerate() {
        let mut m = m.clone();
        let seq = i as u32 + 1;
        if let Some(s) = m.get_mut(8..12) {
            s.copy_from_slice(&seq.to_ne_bytes());
        }
        if let Some(f) = m.get_mut(6..8) {
            let flags = u16_at(f, 0).unwrap_or(0) | NLM_F_ACK;
            f.copy_from_slice(&flags.to_ne_bytes());
        }
        s.send(&m, 0)?;
        let mut errno = None;
        while errno.is_none() {
            rbuf.clear();
            s.recv(&mut rbuf, 0)?;
            for (kind, flags, sq, payload) in messages(&rbuf) {
                if sq == seq && kind == NLMSG_ERROR {
                    errno = Some(error_of(flags, payload).0);
                }
            }
        }
        out.push(errno.unwrap_or(0));
    }
    Ok(out)
}

/// Blocking dump on a fresh socket (for [`super::Fib::open`]).
pub(super) fn blocking_dump(msg: &[u8]) -> io::Result<Vec<Vec<u8>>> {
    let s = socket()?;
    let mut m = msg.to_vec();
    if let Some(s) = m.get_mut(8..12) {
        s.copy_from_slice(&1u32.to_ne_bytes());
    }
    s.send(&m, 0)?;
    let mut rbuf: Vec<u8> = Vec::with_capacity(1 << 16);
    let mut out = Vec::new();
    loop {
        rbuf.clear();
        s.recv(&mut rbuf, 0)?;
        for (kind, flags, _, payload) in messages(&rbuf) {
            match kind {
                NLMSG_DONE => return done(out, payload),
                NLMSG_ERROR => {
                    let (errno, text) = error_of(flags, payload);
                    if errno == 0 {
                        return Ok(out);
                    }
                    return Err(io::Error::new(
                        io::Error::from_raw_os_error(errno).kind(),
                        text,
                    ));
                }
                _ => out.push(payload.to_vec()),
            }
        }
    }
}
