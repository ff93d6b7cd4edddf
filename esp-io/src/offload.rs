//! Segmentation and coalescing offloads between a TUN device opened with a
//! virtio-net header ([`crate::tun::Tun::create_offload`]) and
//! the ESP data path, which works packet by packet.
//!
//! - TUN read path: the kernel hands out TCP (and, with USO, UDP) "super
//!   packets" of up to 64 KiB with a [`VirtioNetHdr`] describing how to cut
//!   them, and leaves checksums partial. A [`Segmenter`] cuts one into wire
//!   packets, each written into a buffer the caller chooses (with headroom
//!   for the ESP/UDP/IP headers and tailroom for the trailer).
//! - TUN write path: a [`GroBatch`] merges the decrypted TCP segments of one
//!   receive batch back into super packets, so the kernel's TCP stack sees
//!   a few large packets instead of many small ones.
//! - [`clamp_mss`] lowers the MSS option of TCP SYNs (`ip tcp adjust-mss`).
//!
//! Nothing here allocates after construction; nothing panics on any input.

use super::csum::{checksum, fold, pseudo_header, sum, update16};
use std::fmt;
use std::io::{self, IoSlice};

/// A `struct virtio_net_hdr` (10 bytes), in front of every packet read
/// from or written to a TUN opened with `IFF_VNET_HDR`. Multi-byte fields
/// are in host byte order (the legacy virtio layout the TUN uses unless
/// told otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct VirtioNetHdr {
    /// [`VirtioNetHdr::F_NEEDS_CSUM`], [`VirtioNetHdr::F_DATA_VALID`].
    pub flags: u8,
    /// One of the `GSO_*` constants, possibly with [`VirtioNetHdr::GSO_ECN`].
    pub gso_type: u8,
    /// Length of the headers (a hint; the kernel may give more).
    pub hdr_len: u16,
    /// Payload bytes per segment.
    pub gso_size: u16,
    /// Where checksumming starts (the L4 header), from the IP header.
    pub csum_start: u16,
    /// Where the checksum goes, from `csum_start`.
    pub csum_offset: u16,
}

impl VirtioNetHdr {
    /// Size on the wire.
    pub const LEN: usize = 10;
    /// The checksum from `csum_start` to the end is still to be computed;
    /// the field holds the pseudo-header sum.
    pub const F_NEEDS_CSUM: u8 = 1;
    /// The checksum has been verified.
    pub const F_DATA_VALID: u8 = 2;
    /// Not a GSO packet.
    pub const GSO_NONE: u8 = 0;
    /// TCP over IPv4 segmentation.
    pub const GSO_TCPV4: u8 = 1;
    /// UDP fragmentation (UFO), not supported here.
    pub const GSO_UDP: u8 = 3;
    /// TCP over IPv6 segmentation.
    pub const GSO_TCPV6: u8 = 4;
    /// UDP segmentation (USO), IPv4 or IPv6.
    pub const GSO_UDP_L4: u8 = 5;
    /// TCP with ECN (CWR on the first segment only).
    pub const GSO_ECN: u8 = 0x80;

    /// Reads the header from the start of `b`.
    pub fn parse(b: &[u8]) -> Result<Self, OffloadError> {
        match *b {
            [flags, gso_type, h0, h1, s0, s1, c0, c1, o0, o1, ..] => Ok(VirtioNetHdr {
                flags,
                gso_type,
                hdr_len: u16::from_ne_bytes([h0, h1]),
                gso_size: u16::from_ne_bytes([s0, s1]),
                csum_start: u16::from_ne_bytes([c0, c1]),
                csum_offset: u16::from_ne_bytes([o0, o1]),
            }),
            _ => Err(OffloadError::Truncated),
        }
    }

    /// The header's 10 bytes.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let [h0, h1] = self.hdr_len.to_ne_bytes();
        let [s0, s1] = self.gso_size.to_ne_bytes();
        let [c0, c1] = self.csum_start.to_ne_bytes();
        let [o0, o1] = self.csum_offset.to_ne_bytes();
        [self.flags, self.gso_type, h0, h1, s0, s1, c0, c1, o0, o1]
    }

    /// Writes the header into the first 10 bytes of `out`.
    pub fn emit(&self, out: &mut [u8]) -> Result<(), OffloadError> {
        let available = out.len();
        out.get_mut(..Self::LEN)
            .ok_or(OffloadError::BufferTooSmall {
                needed: Self::LEN,
                available,
            })?
            .copy_from_slice(&self.to_bytes());
        Ok(())
    }

    /// Whether [`VirtioNetHdr::F_NEEDS_CSUM`] is set.
    pub fn needs_csum(&self) -> bool {
        self.flags & Self::F_NEEDS_CSUM != 0
    }
}

/// Why a packet could not be segmented, or did not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffloadError {
    /// Shorter than its headers say.
    Truncated,
    /// A header field is invalid.
    Malformed(&'static str),
    /// Valid, but not handled here.
    Unsupported(&'static str),
    /// The output buffer is too small (nothing was consumed).
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        available: usize,
    },
}

impl fmt::Display for OffloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OffloadError::Truncated => write!(f, "truncated packet"),
            OffloadError::Malformed(what) => write!(f, "malformed packet: {what}"),
            OffloadError::Unsupported(what) => write!(f, "unsupported packet: {what}"),
            OffloadError::BufferTooSmall { needed, available } => {
                write!(
                    f,
                    "buffer too small: {needed} bytes needed, {available} given"
                )
            }
        }
    }
}

impl std::error::Error for OffloadError {}

const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_PSH: u8 = 0x08;
const TCP_ACK: u8 = 0x10;
const TCP_CWR: u8 = 0x80;
const TCP_CSUM_OFFSET: usize = 16;
const UDP_CSUM_OFFSET: usize = 6;
const IPV4_DF: u16 = 0x4000;
/// The largest IP packet the coalescer builds (IPv4 total length).
const MAX_SUPER: usize = 65535;

fn byte(b: &[u8], at: usize) -> Result<u8, OffloadError> {
    b.get(at).copied().ok_or(OffloadError::Truncated)
}

fn be16(b: &[u8], at: usize) -> Result<u16, OffloadError> {
    match b.get(at..at + 2) {
        Some(&[x, y]) => Ok(u16::from_be_bytes([x, y])),
        _ => Err(OffloadError::Truncated),
    }
}

fn be32(b: &[u8], at: usize) -> Result<u32, OffloadError> {
    match b.get(at..at + 4) {
        Some(&[w, x, y, z]) => Ok(u32::from_be_bytes([w, x, y, z])),
        _ => Err(OffloadError::Truncated),
    }
}

fn put8(b: &mut [u8], at: usize, v: u8) -> Result<(), OffloadError> {
    *b.get_mut(at).ok_or(OffloadError::Truncated)? = v;
    Ok(())
}

fn put16(b: &mut [u8], at: usize, v: u16) -> Result<(), OffloadError> {
    b.get_mut(at..at + 2)
        .ok_or(OffloadError::Truncated)?
        .copy_from_slice(&v.to_be_bytes());
    Ok(())
}

fn put32(b: &mut [u8], at: usize, v: u32) -> Result<(), OffloadError> {
    b.get_mut(at..at + 4)
        .ok_or(OffloadError::Truncated)?
        .copy_from_slice(&v.to_be_bytes());
    Ok(())
}

fn slice(b: &[u8], from: usize, to: usize) -> Result<&[u8], OffloadError> {
    b.get(from..to).ok_or(OffloadError::Truncated)
}

/// The IP layer of a packet.
#[derive(Debug, Clone, Copy)]
struct Ip {
    v6: bool,
    /// Length of the IP header, IPv6 extension headers included: where
    /// the L4 header starts.
    hlen: usize,
    /// The upper-layer protocol.
    proto: u8,
    /// The packet's length according to its IP header.
    len: usize,
}

impl Ip {
    /// Source and destination addresses.
    fn addrs(self, h: &[u8]) -> Result<(&[u8], &[u8]), OffloadError> {
        if self.v6 {
            Ok((slice(h, 8, 24)?, slice(h, 24, 40)?))
        } else {
            Ok((slice(h, 12, 16)?, slice(h, 16, 20)?))
        }
    }
}

/// Parses the IP header(s); IPv6 hop-by-hop, routing and destination
/// options headers are skipped when `ext_ok`.
fn parse_ip(p: &[u8], ext_ok: bool) -> Result<Ip, OffloadError> {
    match byte(p, 0)? >> 4 {
        4 => {
            let hlen = usize::from(byte(p, 0)? & 0x0f) * 4;
            if hlen < 20 {
                return Err(OffloadError::Malformed("IPv4 header length"));
            }
            let len = usize::from(be16(p, 2)?);
            if len < hlen {
                return Err(OffloadError::Malformed("IPv4 total length"));
            }
            if len > p.len() {
                return Err(OffloadError::Truncated);
            }
            if be16(p, 6)? & 0x3fff != 0 {
                return Err(OffloadError::Unsupported("IPv4 fragment"));
            }
            Ok(Ip {
                v6: false,
                hlen,
                proto: byte(p, 9)?,
                len,
            })
        }
        6 => {
            let plen = usize::from(be16(p, 4)?);
            if plen == 0 {
                return Err(OffloadError::Unsupported("IPv6 jumbogram"));
            }
            let len = 40 + plen;
            if len > p.len() {
                return Err(OffloadError::Truncated);
            }
            let mut proto = byte(p, 6)?;
            let mut hlen = 40;
            // Hop-by-hop, routing, destination options: (len + 1) * 8 bytes.
            while ext_ok && matches!(proto, 0 | 43 | 60) {
                if hlen + 8 > len {
                    return Err(OffloadError::Truncated);
                }
                let ext = (usize::from(byte(p, hlen + 1)?) + 1) * 8;
                proto = byte(p, hlen)?;
                hlen += ext;
                if hlen > len {
                    return Err(OffloadError::Truncated);
                }
            }
            Ok(Ip {
                v6: true,
                hlen,
                proto,
                len,
            })
        }
        _ => Err(OffloadError::Malformed("IP version")),
    }
}

/// Completes a partial checksum as the kernel leaves it with
/// [`VirtioNetHdr::F_NEEDS_CSUM`]: sums `pkt[csum_start..]` (the checksum
/// field holds the pseudo-header sum) and stores the result at
/// `csum_start + csum_offset`. For packets read from the TUN without GSO,
/// in place: `complete_checksum(&mut buf[10..n], h.csum_start.into(),
/// h.csum_offset.into())`.
pub fn complete_checksum(
    pkt: &mut [u8],
    csum_start: usize,
    csum_offset: usize,
) -> Result<(), OffloadError> {
    let at = csum_start + csum_offset;
    if at + 2 > pkt.len() {
        return Err(OffloadError::Malformed(
            "checksum offsets beyond the packet",
        ));
    }
    let region = pkt.get(csum_start..).ok_or(OffloadError::Truncated)?;
    let c = match !fold(sum(region, 0)) {
        0 => 0xffff,
        c => c,
    };
    put16(pkt, at, c)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// One packet, its checksum completed at (start, offset) if given.
    Whole(Option<(usize, usize)>),
    Tcp,
    Udp,
}

/// Cuts one packet read from a vnet-header TUN into wire packets: a GSO
/// super packet (TCPv4, TCPv6, UDP L4) into segments with their own IP
/// lengths, IPv4 ids, TCP sequence numbers and flags, and full checksums;
/// any other packet into itself, its checksum completed if the kernel left
/// it partial.
///
/// ```
/// # use esp_io::offload::Segmenter;
/// # fn f(read: &[u8]) -> Result<(), esp_io::offload::OffloadError> {
/// let mut seg = Segmenter::new(read)?;
/// let mut buf = [0u8; 2048];
/// while let Some(n) = seg.next_into(&mut buf[64..]) {
///     let wire = &buf[64..64 + n?];
///     // seal `wire` in place, send it
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Segmenter<'a> {
    /// The IP packet (cut to its IP length when segmenting).
    pkt: &'a [u8],
    mode: Mode,
    ip: Ip,
    /// End of the IP and L4 headers: where the payload starts.
    hdr_end: usize,
    gso: usize,
    /// Next payload byte to emit.
    pos: usize,
    index: u32,
    count: usize,
    done: bool,
}

impl<'a> Segmenter<'a> {
    /// A segmenter for `buf` = virtio-net header + IP packet, as read from
    /// the TUN. Validates all headers; the packet is not copied.
    pub fn new(buf: &'a [u8]) -> Result<Self, OffloadError> {
        let hdr = VirtioNetHdr::parse(buf)?;
        let pkt = buf
            .get(VirtioNetHdr::LEN..)
            .ok_or(OffloadError::Truncated)?;
        Self::with_header(hdr, pkt)
    }

    /// Like [`Segmenter::new`], the header and the IP packet given apart.
    pub fn with_header(hdr: VirtioNetHdr, pkt: &'a [u8]) -> Result<Self, OffloadError> {
        let gso_type = hdr.gso_type & !VirtioNetHdr::GSO_ECN;
        let ecn = hdr.gso_type & VirtioNetHdr::GSO_ECN != 0;
        let dummy = Ip {
            v6: false,
            hlen: 0,
            proto: 0,
            len: pkt.len(),
        };
        let mode = match gso_type {
            VirtioNetHdr::GSO_NONE => {
                let csum = if hdr.needs_csum() {
                    let (s, o) = (usize::from(hdr.csum_start), usize::from(hdr.csum_offset));
                    if s + o + 2 > pkt.len() {
                        return Err(OffloadError::Malformed(
                            "checksum offsets beyond the packet",
                        ));
                    }
                    Some((s, o))
                } else {
                    None
                };
                return Ok(Segmenter {
                    pkt,
                    mode: Mode::Whole(csum),
                    ip: dummy,
                    hdr_end: 0,
                    gso: 0,
                    pos: 0,
                    index: 0,
                    count: 1,
                    done: false,
                });
            }
            VirtioNetHdr::GSO_TCPV4 | VirtioNetHdr::GSO_TCPV6 => Mode::Tcp,
            VirtioNetHdr::GSO_UDP_L4 if !ecn => Mode::Udp,
            VirtioNetHdr::GSO_UDP => {
                return Err(OffloadError::Unsupported("UDP fragmentation (UFO)"))
            }
            _ => return Err(OffloadError::Unsupported("GSO type")),
        };
        let ip = parse_ip(pkt, true)?;
        let pkt = slice(pkt, 0, ip.len)?;
        let (l4_hlen, csum_offset) = match (mode, gso_type, ip.v6, ip.proto) {
            (Mode::Tcp, VirtioNetHdr::GSO_TCPV4, false, PROTO_TCP)
            | (Mode::Tcp, VirtioNetHdr::GSO_TCPV6, true, PROTO_TCP) => {
                let doff = usize::from(byte(pkt, ip.hlen + 12)? >> 4) * 4;
                if doff < 20 {
                    return Err(OffloadError::Malformed("TCP data offset"));
                }
                (doff, TCP_CSUM_OFFSET)
            }
            (Mode::Udp, _, _, PROTO_UDP) => (8, UDP_CSUM_OFFSET),
            _ => {
                return Err(OffloadError::Malformed(
                    "GSO type does not match the packet (or unsupported IPv6 extension header)",
                ))
            }
        };
        let hdr_end = ip.hlen + l4_hlen;
        if hdr_end > ip.len {
            return Err(OffloadError::Truncated);
        }
        if hdr.needs_csum()
            && (usize::from(hdr.csum_start) != ip.hlen
                || usize::from(hdr.csum_offset) != csum_offset)
        {
            return Err(OffloadError::Malformed(
                "checksum offsets do not match the L4 header",
            ));
        }
        let gso = usize::from(hdr.gso_size);
        if gso == 0 {
            return Err(OffloadError::Malformed("GSO size 0"));
        }
        let payload = ip.len - hdr_end;
        let count = payload.div_ceil(gso).max(1);
        Ok(Segmenter {
            pkt,
            mode,
            ip,
            hdr_end,
            gso,
            pos: hdr_end,
            index: 0,
            count,
            done: false,
        })
    }

    /// How many wire packets this packet makes in all.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Whether this is a GSO super packet (rather than one packet).
    pub fn is_gso(&self) -> bool {
        !matches!(self.mode, Mode::Whole(_))
    }

    /// The bytes the largest wire packet needs.
    pub fn max_len(&self) -> usize {
        match self.mode {
            Mode::Whole(_) => self.pkt.len(),
            Mode::Tcp | Mode::Udp => self.hdr_end + self.gso.min(self.ip.len - self.hdr_end),
        }
    }

    /// Writes the next wire packet to the start of `out` and returns its
    /// length; `None` when all are out. On
    /// [`OffloadError::BufferTooSmall`] nothing is consumed: call again with
    /// a larger buffer.
    pub fn next_into(&mut self, out: &mut [u8]) -> Option<Result<usize, OffloadError>> {
        if self.done {
            return None;
        }
        let r = match self.mode {
            Mode::Whole(csum) => self.whole(out, csum),
            Mode::Tcp | Mode::Udp => self.segment(out),
        };
        if r.is_err() && !matches!(r, Err(OffloadError::BufferTooSmall { .. })) {
            self.done = true;
        }
        Some(r)
    }

    fn whole(
        &mut self,
        out: &mut [u8],
        csum: Option<(usize, usize)>,
    ) -> Result<usize, OffloadError> {
        let n = self.pkt.len();
        let available = out.len();
        let dst = out.get_mut(..n).ok_or(OffloadError::BufferTooSmall {
            needed: n,
            available,
        })?;
        dst.copy_from_slice(self.pkt);
        if let Some((s, o)) = csum {
            complete_checksum(dst, s, o)?;
        }
        self.done = true;
        Ok(n)
    }

    fn segment(&mut self, out: &mut [u8]) -> Result<usize, OffloadError> {
        let rest = self.ip.len - self.pos;
        let seglen = rest.min(self.gso);
        let last = seglen == rest;
        let first = self.index == 0;
        let n = self.hdr_end + seglen;
        let available = out.len();
        let dst = out.get_mut(..n).ok_or(OffloadError::BufferTooSmall {
            needed: n,
            available,
        })?;
        let (h, payload) = dst
            .split_at_mut_checked(self.hdr_end)
            .ok_or(OffloadError::Truncated)?;
        h.copy_from_slice(slice(self.pkt, 0, self.hdr_end)?);
        payload.copy_from_slice(slice(self.pkt, self.pos, self.pos + seglen)?);
        let len16 = u16::try_from(n).map_err(|_| OffloadError::Malformed("segment too long"))?;
        if self.ip.v6 {
            put16(h, 4, len16 - 40)?;
        } else {
            put16(h, 2, len16)?;
            let id = be16(h, 4)?.wrapping_add(self.index as u16);
            put16(h, 4, id)?;
            put16(h, 10, 0)?;
            let c = checksum(slice(h, 0, self.ip.hlen)?, 0);
            put16(h, 10, c)?;
        }
        let l4 = self.ip.hlen;
        let l4_len = n - l4;
        let csum_at = if self.mode == Mode::Tcp {
            let seq = be32(h, l4 + 4)?.wrapping_add((self.pos - self.hdr_end) as u32);
            put32(h, l4 + 4, seq)?;
            let mut flags = byte(h, l4 + 13)?;
            if !last {
                flags &= !(TCP_FIN | TCP_PSH);
            }
            if !first {
                flags &= !TCP_CWR;
            }
            put8(h, l4 + 13, flags)?;
            l4 + TCP_CSUM_OFFSET
        } else {
            put16(h, l4 + 4, l4_len as u16)?;
            l4 + UDP_CSUM_OFFSET
        };
        put16(h, csum_at, 0)?;
        let (src, dst_addr) = self.ip.addrs(h)?;
        let mut s = pseudo_header(src, dst_addr, self.ip.proto, l4_len as u32);
        s = sum(slice(h, l4, self.hdr_end)?, s);
        s = sum(payload, s);
        let c = match !fold(s) {
            0 if self.mode == Mode::Udp => 0xffff,
            c => c,
        };
        put16(h, csum_at, c)?;
        self.pos += seglen;
        self.index = self.index.wrapping_add(1);
        if last {
            self.done = true;
        }
        Ok(n)
    }
}

/// Lowers the MSS option of an IPv4 or IPv6 TCP SYN (or SYN-ACK) to `mss`
/// when it is larger, fixing the TCP checksum incrementally; returns
/// whether the packet changed. Anything else (not TCP, no SYN, no MSS
/// option, malformed) is left alone. The checksum must be complete (a
/// [`Segmenter`] output, or a packet from the network), not partial.
pub fn clamp_mss(pkt: &mut [u8], mss: u16) -> bool {
    clamp(pkt, mss).unwrap_or(false)
}

fn clamp(pkt: &mut [u8], mss: u16) -> Result<bool, OffloadError> {
    let ip = parse_ip(pkt, true)?;
    if ip.proto != PROTO_TCP {
        return Ok(false);
    }
    let l4 = ip.hlen;
    let doff = usize::from(byte(pkt, l4 + 12)? >> 4) * 4;
    let end = l4 + doff;
    if doff < 20 || end > ip.len || byte(pkt, l4 + 13)? & TCP_SYN == 0 {
        return Ok(false);
    }
    let mut i = l4 + 20;
    while i < end {
        match byte(pkt, i)? {
            0 => break,
            1 => i += 1,
            kind => {
                if i + 1 >= end {
                    break;
                }
                let len = usize::from(byte(pkt, i + 1)?);
                if len < 2 || i + len > end {
                    break;
                }
                if kind == 2 && len == 4 {
                    let old = be16(pkt, i + 2)?;
                    if old <= mss {
                        return Ok(false);
                    }
                    put16(pkt, i + 2, mss)?;
                    // A word at an odd offset counts byte-swapped in the sum.
                    let (o, n) = if (i + 2 - l4) % 2 == 0 {
                        (old, mss)
                    } else {
                        (old.swap_bytes(), mss.swap_bytes())
                    };
                    let c = be16(pkt, l4 + TCP_CSUM_OFFSET)?;
                    put16(pkt, l4 + TCP_CSUM_OFFSET, update16(c, o, n))?;
                    return Ok(true);
                }
                i += len;
            }
        }
    }
    Ok(false)
}

/// Why [`GroBatch::push`] did not take a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroError {
    /// No room left: flush the batch, then push the packet again.
    Full,
    /// Larger than the whole batch storage: write it on its own.
    TooLarge,
}

impl fmt::Display for GroError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroError::Full => write!(f, "coalescing batch full"),
            GroError::TooLarge => write!(f, "packet larger than the coalescing batch"),
        }
    }
}

impl std::error::Error for GroError {}

/// At most this many packets are appended to the first one of a super
/// packet (the iovec of one write stays on the stack).
pub const GRO_MAX_SEGMENTS: usize = 64;

const NONE: usize = usize::MAX;

#[derive(Debug, Clone, Copy)]
struct TcpItem {
    v6: bool,
    ip_hlen: usize,
    /// IP and TCP header length.
    hdr_len: usize,
    /// Payload of the first packet: the segment size.
    gso: usize,
    /// Payload bytes in all.
    payload: usize,
    seq: u32,
    first_seg: usize,
    last_seg: usize,
    nsegs: usize,
    /// More segments may be appended.
    open: bool,
    psh: bool,
}

/// One output packet: the first packet's bytes in the arena, and for a
/// TCP item the payloads appended to it.
#[derive(Debug, Clone, Copy)]
struct Item {
    off: usize,
    len: usize,
    tcp: Option<TcpItem>,
}

#[derive(Debug, Clone, Copy)]
struct Seg {
    off: usize,
    len: usize,
    next: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FlowKey {
    v6: bool,
    addrs: [u8; 32],
    ports: [u8; 4],
}

#[derive(Debug, Clone, Copy)]
struct Flow {
    key: FlowKey,
    item: usize,
}

/// A TCP packet's coordinates for coalescing.
#[derive(Debug, Clone, Copy)]
struct Cand {
    key: FlowKey,
    v6: bool,
    ip_hlen: usize,
    tcp_hlen: usize,
    seq: u32,
    flags: u8,
    payload: usize,
    /// Could join or start a super packet (still subject to a checksum
    /// check).
    mergeable: bool,
}

fn tcp_cand(pkt: &[u8]) -> Option<Cand> {
    let ip = parse_ip(pkt, false).ok()?;
    if ip.proto != PROTO_TCP {
        return None;
    }
    let l4 = ip.hlen;
    let tcp_hlen = usize::from(byte(pkt, l4 + 12).ok()? >> 4) * 4;
    if tcp_hlen < 20 || l4 + tcp_hlen > ip.len {
        return None;
    }
    let mut key = FlowKey {
        v6: ip.v6,
        addrs: [0; 32],
        ports: [0; 4],
    };
    let (src, dst) = ip.addrs(pkt).ok()?;
    let (ks, kd) = key.addrs.split_at_mut(16);
    ks.get_mut(..src.len())?.copy_from_slice(src);
    kd.get_mut(..dst.len())?.copy_from_slice(dst);
    key.ports.copy_from_slice(pkt.get(l4..l4 + 4)?);
    let flags = byte(pkt, l4 + 13).ok()?;
    let payload = ip.len - l4 - tcp_hlen;
    let ip_ok = if ip.v6 {
        ip.hlen == 40
    } else {
        ip.hlen == 20 && be16(pkt, 6).ok()? & IPV4_DF != 0
    };
    let mergeable = ip_ok
        && ip.len == pkt.len()
        && payload > 0
        && flags & TCP_ACK != 0
        && flags & !(TCP_ACK | TCP_PSH) == 0;
    Some(Cand {
        key,
        v6: ip.v6,
        ip_hlen: ip.hlen,
        tcp_hlen,
        seq: be32(pkt, l4 + 4).ok()?,
        flags,
        payload,
        mergeable,
    })
}

/// Whether a TCP packet's checksum is right.
fn tcp_checksum_ok(pkt: &[u8], c: &Cand) -> bool {
    let ip = Ip {
        v6: c.v6,
        hlen: c.ip_hlen,
        proto: PROTO_TCP,
        len: pkt.len(),
    };
    let Ok((src, dst)) = ip.addrs(pkt) else {
        return false;
    };
    let Some(seg) = pkt.get(c.ip_hlen..) else {
        return false;
    };
    let s = pseudo_header(src, dst, PROTO_TCP, seg.len() as u32);
    fold(sum(seg, s)) == 0xffff
}

/// Coalesces the decrypted inner packets of one receive batch for writing
/// to a vnet-header TUN (GRO): consecutive in-order TCP segments of a flow
/// (same addresses and ports, contiguous sequence numbers, same ACK,
/// window, TCP options, TOS/traffic class and TTL, only ACK and PSH set,
/// IPv4 DF and no IP options, equal sizes but a shorter last one) become
/// one super packet of up to 64 KiB, written with a GSO virtio-net header
/// and a partial checksum; every other packet is written as it is behind
/// an all-zero header. Order within each flow is kept. Packets are copied
/// into storage allocated once, at construction.
///
/// ```
/// # use esp_io::offload::GroBatch;
/// # fn f(tun: &esp_io::tun::Tun, decrypted: &[&[u8]]) -> std::io::Result<()> {
/// let mut gro = GroBatch::new(128, 64, 128 * 2048);
/// for pkt in decrypted {
///     if gro.push(pkt).is_err() {
///         gro.flush(|iov| tun.send_vectored(iov).map(drop))?;
///         let _ = gro.push(pkt);
///     }
/// }
/// gro.flush(|iov| tun.send_vectored(iov).map(drop))?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct GroBatch {
    arena: Box<[u8]>,
    used: usize,
    items: Vec<Item>,
    segs: Vec<Seg>,
    flows: Vec<Flow>,
    max_packets: usize,
    max_flows: usize,
    verify: bool,
    pushed: usize,
}

impl Default for GroBatch {
    /// 128 packets, 64 flows, 256 KiB.
    fn default() -> Self {
        GroBatch::new(128, 64, 128 * 2048)
    }
}

impl GroBatch {
    /// A batch of up to `max_packets` packets (and `bytes` bytes of them),
    /// tracking up to `max_flows` TCP flows at once.
    pub fn new(max_packets: usize, max_flows: usize, bytes: usize) -> Self {
        GroBatch {
            arena: vec![0u8; bytes].into_boxed_slice(),
            used: 0,
            items: Vec::with_capacity(max_packets),
            segs: Vec::with_capacity(max_packets),
            flows: Vec::with_capacity(max_flows),
            max_packets,
            max_flows,
            verify: true,
            pushed: 0,
        }
    }

    /// Whether TCP checksums are checked before merging (on by default): a
    /// merged super packet goes to the kernel as checksum-partial, so a bad
    /// segment would otherwise be accepted; with the check it is written
    /// alone, and the kernel drops it.
    pub fn set_verify_checksums(&mut self, on: bool) {
        self.verify = on;
    }

    /// Packets to write at the next flush.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Packets pushed since the last flush.
    pub fn packets(&self) -> usize {
        self.pushed
    }

    /// Takes one IP packet. [`GroError::Full`]: flush, then push it again.
    pub fn push(&mut self, pkt: &[u8]) -> Result<(), GroError> {
        if pkt.is_empty() {
            return Ok(());
        }
        if pkt.len() > self.arena.len() || self.max_packets == 0 {
            return Err(GroError::TooLarge);
        }
        let cand = tcp_cand(pkt);
        let flow = cand.and_then(|c| self.flows.iter().position(|f| f.key == c.key));
        match cand {
            Some(c) if c.mergeable && (!self.verify || tcp_checksum_ok(pkt, &c)) => {
                if let Some(fi) = flow {
                    let item = self.flows.get(fi).map_or(NONE, |f| f.item);
                    if self.can_append(item, &c, pkt) {
                        return self.append(item, &c, pkt);
                    }
                }
                let tcp = TcpItem {
                    v6: c.v6,
                    ip_hlen: c.ip_hlen,
                    hdr_len: c.ip_hlen + c.tcp_hlen,
                    gso: c.payload,
                    payload: c.payload,
                    seq: c.seq,
                    first_seg: NONE,
                    last_seg: NONE,
                    nsegs: 0,
                    open: c.flags & TCP_PSH == 0,
                    psh: false,
                };
                let idx = self.new_item(pkt, Some(tcp))?;
                match flow {
                    Some(fi) => {
                        if let Some(f) = self.flows.get_mut(fi) {
                            f.item = idx;
                        }
                    }
                    None if self.flows.len() < self.max_flows => self.flows.push(Flow {
                        key: c.key,
                        item: idx,
                    }),
                    None => {}
                }
            }
            _ => {
                self.new_item(pkt, None)?;
                // Whatever of the flow comes later goes after this packet.
                if let Some(f) = flow.and_then(|fi| self.flows.get(fi)) {
                    if let Some(t) = self.items.get_mut(f.item).and_then(|i| i.tcp.as_mut()) {
                        t.open = false;
                    }
                }
            }
        }
        Ok(())
    }

    fn can_append(&self, item: usize, c: &Cand, pkt: &[u8]) -> bool {
        let Some(Item {
            off, tcp: Some(t), ..
        }) = self.items.get(item).copied()
        else {
            return false;
        };
        if !t.open
            || t.v6 != c.v6
            || t.hdr_len != c.ip_hlen + c.tcp_hlen
            || c.payload > t.gso
            || t.hdr_len + t.payload + c.payload > MAX_SUPER
            || t.nsegs >= GRO_MAX_SEGMENTS
            || c.seq != t.seq.wrapping_add(t.payload as u32)
        {
            return false;
        }
        let (Some(h), Some(p)) = (self.arena.get(off..off + t.hdr_len), pkt.get(..t.hdr_len))
        else {
            return false;
        };
        let same = |a: usize, b: usize| h.get(a..b).is_some() && h.get(a..b) == p.get(a..b);
        let ip_same = if t.v6 {
            // Version, traffic class, flow label; hop limit.
            same(0, 4) && same(7, 8)
        } else {
            // TOS; TTL.
            same(1, 2) && same(8, 9)
        };
        let l4 = t.ip_hlen;
        // ACK number; window; options.
        ip_same && same(l4 + 8, l4 + 12) && same(l4 + 14, l4 + 16) && same(l4 + 20, t.hdr_len)
    }

    fn append(&mut self, item: usize, c: &Cand, pkt: &[u8]) -> Result<(), GroError> {
        let payload = pkt.get(c.ip_hlen + c.tcp_hlen..).unwrap_or_default();
        let end = self.used + payload.len();
        if self.items.len() + self.segs.len() >= self.max_packets || end > self.arena.len() {
            return Err(GroError::Full);
        }
        let Some(t) = self.items.get_mut(item).and_then(|i| i.tcp.as_mut()) else {
            return Err(GroError::Full);
        };
        if let Some(dst) = self.arena.get_mut(self.used..end) {
            dst.copy_from_slice(payload);
        }
        let idx = self.segs.len();
        self.segs.push(Seg {
            off: self.used,
            len: payload.len(),
            next: NONE,
        });
        if t.nsegs == 0 {
            t.first_seg = idx;
        } else if let Some(prev) = self.segs.get_mut(t.last_seg) {
            prev.next = idx;
        }
        t.last_seg = idx;
        t.nsegs += 1;
        t.payload += payload.len();
        if payload.len() < t.gso || c.flags & TCP_PSH != 0 {
            t.open = false;
        }
        t.psh |= c.flags & TCP_PSH != 0;
        self.used = end;
        self.pushed += 1;
        Ok(())
    }

    fn new_item(&mut self, pkt: &[u8], tcp: Option<TcpItem>) -> Result<usize, GroError> {
        let end = self.used + pkt.len();
        if self.items.len() + self.segs.len() >= self.max_packets || end > self.arena.len() {
            return Err(GroError::Full);
        }
        if let Some(dst) = self.arena.get_mut(self.used..end) {
            dst.copy_from_slice(pkt);
        }
        self.items.push(Item {
            off: self.used,
            len: pkt.len(),
            tcp,
        });
        self.used = end;
        self.pushed += 1;
        Ok(self.items.len() - 1)
    }

    /// Finishes a merged item's headers; returns its virtio-net header.
    fn finish(&mut self, item: Item) -> Result<VirtioNetHdr, OffloadError> {
        let Some(t) = item.tcp.filter(|t| t.nsegs > 0) else {
            return Ok(VirtioNetHdr::default());
        };
        let h = self
            .arena
            .get_mut(item.off..item.off + t.hdr_len)
            .ok_or(OffloadError::Truncated)?;
        let total = t.hdr_len + t.payload;
        if t.v6 {
            put16(h, 4, (total - 40) as u16)?;
        } else {
            put16(h, 2, total as u16)?;
            put16(h, 10, 0)?;
            let c = checksum(slice(h, 0, t.ip_hlen)?, 0);
            put16(h, 10, c)?;
        }
        let l4 = t.ip_hlen;
        if t.psh {
            let f = byte(h, l4 + 13)?;
            put8(h, l4 + 13, f | TCP_PSH)?;
        }
        let ip = Ip {
            v6: t.v6,
            hlen: t.ip_hlen,
            proto: PROTO_TCP,
            len: total,
        };
        let (src, dst) = ip.addrs(h)?;
        let partial = fold(pseudo_header(src, dst, PROTO_TCP, (total - l4) as u32));
        put16(h, l4 + TCP_CSUM_OFFSET, partial)?;
        Ok(VirtioNetHdr {
            flags: VirtioNetHdr::F_NEEDS_CSUM,
            gso_type: if t.v6 {
                VirtioNetHdr::GSO_TCPV6
            } else {
                VirtioNetHdr::GSO_TCPV4
            },
            hdr_len: t.hdr_len as u16,
            gso_size: t.gso as u16,
            csum_start: l4 as u16,
            csum_offset: TCP_CSUM_OFFSET as u16,
        })
    }

    /// Hands every pending packet, in order, to `write` as the iovec of one
    /// TUN write (virtio-net header first), then empties the batch. Goes on
    /// after a failed write; returns how many were written, or the first
    /// error.
    pub fn flush<F>(&mut self, mut write: F) -> io::Result<usize>
    where
        F: FnMut(&[IoSlice<'_>]) -> io::Result<()>,
    {
        let mut written = 0;
        let mut first_err = None;
        for i in 0..self.items.len() {
            let Some(item) = self.items.get(i).copied() else {
                break;
            };
            let vnet = match self.finish(item) {
                Ok(v) => v.to_bytes(),
                Err(e) => {
                    first_err.get_or_insert(io::Error::new(io::ErrorKind::InvalidData, e));
                    continue;
                }
            };
            let arena: &[u8] = &self.arena;
            let first = arena.get(item.off..item.off + item.len).unwrap_or_default();
            let first_seg = match item.tcp {
                Some(t) if t.nsegs > 0 => self.segs.get(t.first_seg),
                _ => None,
            };
            let appended = std::iter::successors(first_seg, |s| self.segs.get(s.next))
                .map(|s| arena.get(s.off..s.off + s.len).unwrap_or_default());
            let pieces = [&vnet[..], first].into_iter().chain(appended);
            let mut iov = [IoSlice::new(&[]); GRO_MAX_SEGMENTS + 2];
            let mut n = 0;
            for (slot, piece) in iov.iter_mut().zip(pieces) {
                *slot = IoSlice::new(piece);
                n += 1;
            }
            match write(iov.get(..n).unwrap_or_default()) {
                Ok(()) => written += 1,
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        self.clear();
        match first_err {
            Some(e) => Err(e),
            None => Ok(written),
        }
    }

    /// Drops every pending packet.
    pub fn clear(&mut self) {
        self.items.clear();
        self.segs.clear();
        self.flows.clear();
        self.used = 0;
        self.pushed = 0;
    }
}
