//! Packet builders and an independent (textbook) checksum check for the
//! offload tests; included as a module by `offload.rs` and
//! `offload_live.rs`.
#![allow(dead_code)]

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;
pub const ECE: u8 = 0x40;
pub const CWR: u8 = 0x80;

/// The RFC 1071 checksum, the slow way, over the concatenation of `parts`.
pub fn ref_csum(parts: &[&[u8]]) -> u16 {
    let all: Vec<u8> = parts.concat();
    let mut s: u32 = 0;
    for c in all.chunks(2) {
        let hi = u32::from(c[0]) << 8;
        let lo = if c.len() > 1 { u32::from(c[1]) } else { 0 };
        s += hi | lo;
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

#[derive(Clone, Debug)]
pub struct Tcp {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub win: u16,
    pub opts: Vec<u8>,
}

impl Default for Tcp {
    fn default() -> Self {
        Tcp {
            sport: 40000,
            dport: 5001,
            seq: 0xfffff000,
            ack: 0x01020304,
            flags: ACK,
            win: 501,
            // NOP NOP timestamps
            opts: vec![1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2],
        }
    }
}

/// A TCP header (checksum 0) and payload.
pub fn tcp(t: &Tcp, payload: &[u8]) -> Vec<u8> {
    assert_eq!(t.opts.len() % 4, 0);
    let doff = (20 + t.opts.len()) / 4;
    let mut h = Vec::new();
    h.extend_from_slice(&t.sport.to_be_bytes());
    h.extend_from_slice(&t.dport.to_be_bytes());
    h.extend_from_slice(&t.seq.to_be_bytes());
    h.extend_from_slice(&t.ack.to_be_bytes());
    h.push((doff as u8) << 4);
    h.push(t.flags);
    h.extend_from_slice(&t.win.to_be_bytes());
    h.extend_from_slice(&[0, 0, 0, 0]);
    h.extend_from_slice(&t.opts);
    h.extend_from_slice(payload);
    h
}

/// A UDP header (checksum 0) and payload.
pub fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    h.extend_from_slice(&[0, 0]);
    h.extend_from_slice(payload);
    h
}

pub const A4: [u8; 4] = [10, 1, 0, 2];
pub const B4: [u8; 4] = [10, 2, 0, 2];
pub const A6: [u8; 16] = [0x20, 0x01, 0xd, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
pub const B6: [u8; 16] = [0x20, 0x01, 0xd, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

#[derive(Clone, Debug)]
pub struct V4 {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub id: u16,
    pub df: bool,
    pub ttl: u8,
    pub tos: u8,
    pub opts: Vec<u8>,
}

impl Default for V4 {
    fn default() -> Self {
        V4 {
            src: A4,
            dst: B4,
            id: 0xfffe,
            df: true,
            ttl: 64,
            tos: 0,
            opts: vec![],
        }
    }
}

/// An IPv4 packet around `l4`, all checksums right.
pub fn v4(ip: &V4, proto: u8, l4: &[u8]) -> Vec<u8> {
    let hlen = 20 + ip.opts.len();
    let mut p = vec![0x40 | (hlen / 4) as u8, ip.tos];
    p.extend_from_slice(&((hlen + l4.len()) as u16).to_be_bytes());
    p.extend_from_slice(&ip.id.to_be_bytes());
    p.extend_from_slice(if ip.df { &[0x40, 0] } else { &[0, 0] });
    p.push(ip.ttl);
    p.push(proto);
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&ip.src);
    p.extend_from_slice(&ip.dst);
    p.extend_from_slice(&ip.opts);
    p.extend_from_slice(l4);
    fix_checksums(&mut p);
    p
}

/// An IPv6 packet around `l4` (after extension headers `ext`, given as
/// (next header, bytes) pairs), all checksums right.
pub fn v6(src: [u8; 16], dst: [u8; 16], proto: u8, ext: &[(u8, Vec<u8>)], l4: &[u8]) -> Vec<u8> {
    let ext_len: usize = ext.iter().map(|e| e.1.len()).sum();
    let first = ext.first().map_or(proto, |e| e.0);
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&((ext_len + l4.len()) as u16).to_be_bytes());
    p.push(first);
    p.push(64);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    for (i, (_, bytes)) in ext.iter().enumerate() {
        let mut b = bytes.clone();
        b[0] = ext.get(i + 1).map_or(proto, |e| e.0);
        p.extend_from_slice(&b);
    }
    p.extend_from_slice(l4);
    fix_checksums(&mut p);
    p
}

/// (L4 offset, protocol) of an IPv4/IPv6 packet, skipping IPv6 options
/// headers.
pub fn l4(p: &[u8]) -> (usize, u8) {
    if p[0] >> 4 == 4 {
        (usize::from(p[0] & 15) * 4, p[9])
    } else {
        let mut nh = p[6];
        let mut off = 40;
        while matches!(nh, 0 | 43 | 60) {
            nh = p[off];
            off += (usize::from(p[off + 1]) + 1) * 8;
        }
        (off, nh)
    }
}

fn csum_at(proto: u8) -> usize {
    if proto == 6 {
        16
    } else {
        6
    }
}

fn pseudo(p: &[u8], proto: u8, l4_len: usize) -> Vec<u8> {
    let mut ph = Vec::new();
    if p[0] >> 4 == 4 {
        ph.extend_from_slice(&p[12..20]);
    } else {
        ph.extend_from_slice(&p[8..40]);
    }
    ph.extend_from_slice(&(l4_len as u32).to_be_bytes());
    ph.extend_from_slice(&[0, 0, 0, proto]);
    ph
}

/// Recomputes the IPv4 header and TCP/UDP checksums from scratch.
pub fn fix_checksums(p: &mut [u8]) {
    if p[0] >> 4 == 4 {
        let hlen = usize::from(p[0] & 15) * 4;
        p[10..12].fill(0);
        let c = ref_csum(&[&p[..hlen]]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
    }
    let (off, proto) = l4(p);
    let at = off + csum_at(proto);
    p[at..at + 2].fill(0);
    let ph = pseudo(p, proto, p.len() - off);
    let mut c = ref_csum(&[&ph, &p[off..]]);
    if proto == 17 && c == 0 {
        c = 0xffff;
    }
    p[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

/// Checks lengths and every checksum of a wire packet from scratch.
pub fn check(p: &[u8]) -> Result<(), String> {
    if p[0] >> 4 == 4 {
        let hlen = usize::from(p[0] & 15) * 4;
        if usize::from(u16::from_be_bytes([p[2], p[3]])) != p.len() {
            return Err(format!("IPv4 total length {:?} vs {}", &p[2..4], p.len()));
        }
        if ref_csum(&[&p[..hlen]]) != 0 {
            return Err("IPv4 header checksum".into());
        }
    } else if usize::from(u16::from_be_bytes([p[4], p[5]])) + 40 != p.len() {
        return Err("IPv6 payload length".into());
    }
    let (off, proto) = l4(p);
    if proto == 17 && usize::from(u16::from_be_bytes([p[off + 4], p[off + 5]])) != p.len() - off {
        return Err("UDP length".into());
    }
    let ph = pseudo(p, proto, p.len() - off);
    if ref_csum(&[&ph, &p[off..]]) != 0 {
        return Err(format!("L4 checksum (proto {proto})"));
    }
    Ok(())
}

/// The L4 payload (after the TCP/UDP header).
pub fn payload(p: &[u8]) -> &[u8] {
    let (off, proto) = l4(p);
    let hl = if proto == 6 {
        usize::from(p[off + 12] >> 4) * 4
    } else {
        8
    };
    &p[off + hl..]
}

pub fn seq(p: &[u8]) -> u32 {
    let (off, _) = l4(p);
    u32::from_be_bytes(p[off + 4..off + 8].try_into().unwrap())
}

pub fn flags(p: &[u8]) -> u8 {
    let (off, _) = l4(p);
    p[off + 13]
}

pub fn ip_id(p: &[u8]) -> u16 {
    u16::from_be_bytes([p[4], p[5]])
}

/// Replaces the L4 checksum by the folded pseudo-header sum, as the kernel
/// leaves it for checksum offload; returns (csum_start, csum_offset).
pub fn make_partial(p: &mut [u8]) -> (u16, u16) {
    let (off, proto) = l4(p);
    let at = off + csum_at(proto);
    let ph = pseudo(p, proto, p.len() - off);
    let partial = !ref_csum(&[&ph]);
    p[at..at + 2].copy_from_slice(&partial.to_be_bytes());
    (off as u16, csum_at(proto) as u16)
}

/// What a vnet-header TUN read gives for `ip`: GSO `gso_type` (0: none)
/// with `gso_size`, checksum partial.
pub fn tun_read(mut ip: Vec<u8>, gso_type: u8, gso_size: u16) -> Vec<u8> {
    let (start, off) = make_partial(&mut ip);
    let (l4off, proto) = l4(&ip);
    let hl = if proto == 6 {
        usize::from(ip[l4off + 12] >> 4) * 4
    } else {
        8
    };
    let h = esp_io::offload::VirtioNetHdr {
        flags: esp_io::offload::VirtioNetHdr::F_NEEDS_CSUM,
        gso_type,
        hdr_len: (l4off + hl) as u16,
        gso_size,
        csum_start: start,
        csum_offset: off,
    };
    let mut v = h.to_bytes().to_vec();
    v.extend_from_slice(&ip);
    v
}

/// A deterministic payload.
pub fn data(n: usize, salt: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u32).wrapping_mul(2654435761).rotate_left(7) as u8 ^ salt)
        .collect()
}
