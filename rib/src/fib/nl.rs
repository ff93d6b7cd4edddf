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
/// From this many batches on, writes are pipelined over two threads.
const THREAD_FROM: usize = 4;
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
        put_attr(&mut self.0, kind, data);
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

/// A refused request: its index, the errno and the kernel's reason.
pub(super) type Refusal = (usize, i32, String);

/// Appends an attribute (padded to 4 bytes) to `buf`.
pub(super) fn put_attr(buf: &mut Vec<u8>, kind: u16, data: &[u8]) {
    let len = 4 + data.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(data);
    while !buf.len().is_multiple_of(4) {
        buf.push(0);
    }
}

fn push_noop(seq: &mut u32, buf: &mut Vec<u8>) -> u32 {
    *seq = seq.wrapping_add(1);
    buf.extend_from_slice(&(NLMSG_HDRLEN as u32).to_ne_bytes());
    buf.extend_from_slice(&NLMSG_NOOP.to_ne_bytes());
    buf.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    buf.extend_from_slice(&seq.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes());
    *seq
}

/// Waits up to a second for `s` to be readable.
fn wait_readable(s: &Socket) -> bool {
    let mut p = libc::pollfd {
        fd: s.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    unsafe { libc::poll(&mut p, 1, 1000) > 0 }
}

/// Sends one batch (`count` requests from index `first`, encoded in
/// `buf` with sequence number 0) and collects its refusals into `out`.
/// The kernel handles the whole send before `send` returns and queues
/// its answers to us, the NOOP's ack last.
fn send_chunk(
    sock: &Socket,
    seq: &mut u32,
    buf: &mut Vec<u8>,
    (first, count): (usize, usize),
    rbuf: &mut Vec<u8>,
    out: &mut Vec<Refusal>,
) {
    let seq0 = seq.wrapping_add(1);
    let mut at = 0;
    while let Some(len) = u32_at(buf, at) {
        *seq = seq.wrapping_add(1);
        if let Some(s) = buf.get_mut(at + 8..at + 12) {
            s.copy_from_slice(&seq.to_ne_bytes());
        }
        if len < NLMSG_HDRLEN as u32 {
            break;
        }
        at += (len as usize + 3) & !3;
    }
    let mut end = push_noop(seq, buf);
    let start = out.len();
    let fail_rest = |out: &mut Vec<Refusal>, errno: i32, why: &str| {
        let known: std::collections::HashSet<usize> = out
            .get(start..)
            .unwrap_or(&[])
            .iter()
            .map(|r| r.0)
            .collect();
        for i in first..first + count {
            if !known.contains(&i) {
                out.push((i, errno, why.to_string()));
            }
        }
    };
    let send = |buf: &[u8]| loop {
        match sock.send(buf, 0) {
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            r => return r,
        }
    };
    if let Err(e) = send(buf) {
        fail_rest(out, e.raw_os_error().unwrap_or(0), &e.to_string());
        return;
    }
    let mut lost = false;
    let mut idle = 0;
    loop {
        rbuf.clear();
        match sock.recv(rbuf, libc::MSG_DONTWAIT) {
            Ok(_) => {
                idle = 0;
                let mut complete = false;
                for (kind, flags, s, payload) in messages(rbuf) {
                    if kind != NLMSG_ERROR {
                        continue;
                    }
                    if s == end {
                        complete = true;
                        continue;
                    }
                    let k = s.wrapping_sub(seq0) as usize;
                    let (errno, text) = error_of(flags, payload);
                    if k < count && errno != 0 {
                        out.push((first + k, errno, text));
                    }
                }
                if complete {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                idle += 1;
                if idle > 30 && !wait_readable(sock) {
                    fail_rest(out, libc::ETIMEDOUT, "no answer from the kernel");
                    return;
                }
                wait_readable(sock);
            }
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                // Answers were dropped: which ones is unknown. Close the
                // batch with a new NOOP; the requests without an answer
                // are reported as unknown (the caller retries them).
                lost = true;
                buf.clear();
                end = push_noop(seq, buf);
                if let Err(e) = send(buf) {
                    fail_rest(out, e.raw_os_error().unwrap_or(0), &e.to_string());
                    return;
                }
            }
            Err(e) => {
                fail_rest(out, e.raw_os_error().unwrap_or(0), &e.to_string());
                return;
            }
        }
    }
    if lost {
        fail_rest(
            out,
            libc::ENOBUFS,
            "netlink receive buffer overrun: outcome unknown",
        );
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

    /// Sends `n` requests, `fill(i, buf)` appending request `i` to
    /// `buf` (from [`Msg::done`], or in the same form), in batches of
    /// [`CHUNK`], in order; returns the refused ones. From
    /// [`THREAD_FROM`] batches on, a second thread sends (the kernel does
    /// its work inside that thread's `sendmsg`) while `fill` encodes the
    /// next batches on this one. Blocks: netlink to the kernel does not
    /// wait for anything but the kernel's own work.
    pub(super) fn write_with(
        &mut self,
        n: usize,
        mut fill: impl FnMut(usize, &mut Vec<u8>),
    ) -> Vec<Refusal> {
        let sock = self.fd.get_ref();
        let seq = &mut self.seq;
        let mut out = Vec::new();
        if n <= CHUNK * THREAD_FROM {
            let mut buf = Vec::with_capacity(CHUNK * 64);
            let mut rbuf = Vec::with_capacity(1 << 16);
            let mut i = 0;
            while i < n {
                buf.clear();
                let end = (i + CHUNK).min(n);
                for j in i..end {
                    fill(j, &mut buf);
                }
                send_chunk(sock, seq, &mut buf, (i, end - i), &mut rbuf, &mut out);
                i = end;
            }
            return out;
        }
        std::thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<(Vec<u8>, usize, usize)>(4);
            let (back, reuse) = std::sync::mpsc::channel::<Vec<u8>>();
            let sender = s.spawn(move || {
                let mut out = Vec::new();
                let mut rbuf = Vec::with_capacity(1 << 16);
                for (mut buf, first, count) in rx {
                    send_chunk(sock, seq, &mut buf, (first, count), &mut rbuf, &mut out);
                    let _ = back.send(buf);
                }
                out
            });
            let mut i = 0;
            while i < n {
                let mut buf = reuse
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(CHUNK * 64));
                buf.clear();
                let end = (i + CHUNK).min(n);
                for j in i..end {
                    fill(j, &mut buf);
                }
                if tx.send((buf, i, end - i)).is_err() {
                    break;
                }
                i = end;
            }
            drop(tx);
            match sender.join() {
                Ok(mut o) => {
                    // Not sent (the sender stopped early): refused.
                    o.extend((i..n).map(|j| (j, 0, "not sent".to_string())));
                    o
                }
                Err(_) => (0..n)
                    .map(|j| (j, 0, "sender failed".to_string()))
                    .collect(),
            }
        })
    }

    /// [`Nl::write_with`] for ready messages: what became of each.
    pub(super) fn write(&mut self, msgs: &[Vec<u8>]) -> Vec<Outcome> {
        let mut res: Vec<Outcome> = vec![Ok(()); msgs.len()];
        let refused = self.write_with(msgs.len(), |i, buf| {
            if let Some(m) = msgs.get(i) {
                buf.extend_from_slice(m);
            }
        });
        for (i, errno, text) in refused {
            if let Some(r) = res.get_mut(i) {
                *r = Err((errno, text));
            }
        }
        res
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
