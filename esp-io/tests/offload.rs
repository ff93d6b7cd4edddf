//! Segmentation (TUN read path) and coalescing (TUN write path) offloads,
//! checked against an independent checksum implementation, and MSS
//! clamping. No kernel involved: see `offload_live.rs` for that.

#[path = "common/offload_pkt.rs"]
mod pkt;

use esp_io::offload::{
    clamp_mss, complete_checksum, GroBatch, GroError, OffloadError, Segmenter, VirtioNetHdr,
};
use pkt::*;
use proptest::prelude::*;

const HEAD: usize = 64;
const TAIL: usize = 32;

/// Every wire packet of a TUN read, each written at an offset into a
/// fresh buffer whose headroom and tailroom must stay untouched.
fn split(read: &[u8]) -> Result<Vec<Vec<u8>>, OffloadError> {
    let mut seg = Segmenter::new(read)?;
    let count = seg.count();
    let mut out = Vec::new();
    let mut buf = vec![0xAAu8; HEAD + seg.max_len() + TAIL];
    while let Some(n) = seg.next_into(&mut buf[HEAD..HEAD + seg.max_len()]) {
        let n = n?;
        assert!(buf[..HEAD].iter().all(|&b| b == 0xAA), "headroom written");
        assert!(
            buf[HEAD + seg.max_len()..].iter().all(|&b| b == 0xAA),
            "tailroom written"
        );
        out.push(buf[HEAD..HEAD + n].to_vec());
    }
    assert_eq!(out.len(), count);
    Ok(out)
}

/// What a flush writes: one byte string per TUN write.
fn flush(gro: &mut GroBatch) -> Vec<Vec<u8>> {
    let mut writes = Vec::new();
    let n = gro
        .flush(|iov| {
            writes.push(
                iov.iter()
                    .flat_map(|s| s.iter().copied())
                    .collect::<Vec<u8>>(),
            );
            Ok(())
        })
        .unwrap();
    assert_eq!(n, writes.len());
    assert!(gro.is_empty());
    writes
}

fn coalesce(pkts: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut gro = GroBatch::default();
    let mut writes = Vec::new();
    for p in pkts {
        if gro.push(p) == Err(GroError::Full) {
            writes.extend(flush(&mut gro));
            gro.push(p).unwrap();
        }
    }
    writes.extend(flush(&mut gro));
    writes
}

/// What the kernel does with a TUN write: completes a partial checksum.
fn kernel_complete(write: &[u8]) -> (VirtioNetHdr, Vec<u8>) {
    let h = VirtioNetHdr::parse(write).unwrap();
    let mut p = write[10..].to_vec();
    if h.needs_csum() {
        let s = usize::from(h.csum_start);
        let at = s + usize::from(h.csum_offset);
        let c = ref_csum(&[&p[s..]]);
        p[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }
    (h, p)
}

/// A flow's consecutive TCP segments over IPv4 (ids +1 each).
fn tcp4_flow(sizes: &[usize], t: &Tcp, ip: &V4) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut seq = t.seq;
    for (i, &n) in sizes.iter().enumerate() {
        let t = Tcp { seq, ..t.clone() };
        let ip = V4 {
            id: ip.id.wrapping_add(i as u16),
            ..ip.clone()
        };
        out.push(v4(&ip, 6, &tcp(&t, &data(n, i as u8))));
        seq = seq.wrapping_add(n as u32);
    }
    out
}

fn tcp6_flow(sizes: &[usize], t: &Tcp) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut seq = t.seq;
    for (i, &n) in sizes.iter().enumerate() {
        let t = Tcp { seq, ..t.clone() };
        out.push(v6(A6, B6, 6, &[], &tcp(&t, &data(n, i as u8))));
        seq = seq.wrapping_add(n as u32);
    }
    out
}

#[test]
fn virtio_net_header_round_trips() {
    let h = VirtioNetHdr {
        flags: VirtioNetHdr::F_NEEDS_CSUM,
        gso_type: VirtioNetHdr::GSO_TCPV6,
        hdr_len: 74,
        gso_size: 1428,
        csum_start: 40,
        csum_offset: 16,
    };
    let b = h.to_bytes();
    assert_eq!(b.len(), VirtioNetHdr::LEN);
    assert_eq!(b[..2], [1, 4]);
    assert_eq!(b[4..6], 1428u16.to_ne_bytes());
    assert_eq!(VirtioNetHdr::parse(&b), Ok(h));
    let mut out = [0u8; 12];
    h.emit(&mut out).unwrap();
    assert_eq!(out[..10], b);
    assert!(h.emit(&mut [0u8; 9]).is_err());
    assert_eq!(VirtioNetHdr::parse(&b[..9]), Err(OffloadError::Truncated));
}

#[test]
fn tcp4_super_packet_splits_into_wire_packets() {
    let body = data(10000, 0);
    let t = Tcp {
        flags: ACK | PSH | FIN | CWR,
        ..Tcp::default()
    };
    let ip = V4::default();
    let read = tun_read(v4(&ip, 6, &tcp(&t, &body)), VirtioNetHdr::GSO_TCPV4, 1448);
    let segs = split(&read).unwrap();
    assert_eq!(segs.len(), 7);
    let mut got = Vec::new();
    for (i, s) in segs.iter().enumerate() {
        check(s).unwrap_or_else(|e| panic!("segment {i}: {e}"));
        assert_eq!(seq(s), t.seq.wrapping_add(1448 * i as u32), "seq wraps");
        assert_eq!(ip_id(s), ip.id.wrapping_add(i as u16), "id wraps");
        let f = flags(s);
        let last = i == 6;
        assert_eq!(f & (FIN | PSH) != 0, last, "FIN/PSH on the last only: {i}");
        assert_eq!(f & (FIN | PSH), if last { FIN | PSH } else { 0 });
        assert_eq!(f & CWR != 0, i == 0, "CWR on the first only: {i}");
        assert!(f & ACK != 0);
        assert_eq!(payload(s).len(), if last { 10000 - 6 * 1448 } else { 1448 });
        // Everything else in the headers is the super packet's.
        assert_eq!(s[..2], read[10..12]);
        assert_eq!(s[6..10], read[16..20]);
        assert_eq!(s[12..20], read[22..30]);
        assert_eq!(s[28..33], read[38..43], "ack, data offset");
        assert_eq!(s[34..36], read[44..46], "window");
        assert_eq!(s[38..52], read[48..62], "urgent pointer, options");
        got.extend_from_slice(payload(s));
    }
    assert_eq!(got, body);
}

#[test]
fn tcp6_super_packet_splits_past_an_extension_header() {
    let body = data(5000, 3);
    let t = Tcp {
        flags: ACK | PSH,
        ..Tcp::default()
    };
    // Destination options with a PadN option: 8 bytes.
    let dopts = vec![0, 0, 1, 4, 0, 0, 0, 0];
    let ip = v6(A6, B6, 6, &[(60, dopts)], &tcp(&t, &body));
    let read = tun_read(ip, VirtioNetHdr::GSO_TCPV6, 1400);
    let segs = split(&read).unwrap();
    assert_eq!(segs.len(), 4);
    let mut got = Vec::new();
    for (i, s) in segs.iter().enumerate() {
        check(s).unwrap_or_else(|e| panic!("segment {i}: {e}"));
        assert_eq!(s[6], 60, "extension header kept");
        assert_eq!(l4(s), (48, 6));
        assert_eq!(flags(s) & PSH != 0, i == 3);
        assert_eq!(seq(s), t.seq.wrapping_add(1400 * i as u32));
        got.extend_from_slice(payload(s));
    }
    assert_eq!(payload(&segs[3]).len(), 5000 - 3 * 1400);
    assert_eq!(got, body);
}

#[test]
fn udp_super_packets_split_over_ipv4_and_ipv6() {
    let body = data(5000, 9);
    for v6_ in [false, true] {
        let ip = if v6_ {
            v6(A6, B6, 17, &[], &udp(4500, 4500, &body))
        } else {
            v4(&V4::default(), 17, &udp(4500, 4500, &body))
        };
        let read = tun_read(ip, VirtioNetHdr::GSO_UDP_L4, 1200);
        let segs = split(&read).unwrap();
        assert_eq!(segs.len(), 5);
        let mut got = Vec::new();
        for (i, s) in segs.iter().enumerate() {
            check(s).unwrap_or_else(|e| panic!("v6={v6_} datagram {i}: {e}"));
            if !v6_ {
                assert_eq!(ip_id(s), 0xfffeu16.wrapping_add(i as u16));
            }
            assert_eq!(payload(s).len(), if i == 4 { 200 } else { 1200 });
            got.extend_from_slice(payload(s));
        }
        assert_eq!(got, body);
    }
}

#[test]
fn odd_and_edge_sizes_split_right() {
    for (len, gso) in [
        (1447usize, 1448u16),
        (1448, 1448),
        (2896, 1448),
        (2897, 1448),
        (5, 1),
        (1, 1000),
        (0, 1000),
        (65495 - 32, 1000),
    ] {
        let t = Tcp::default();
        let body = data(len, 1);
        let read = tun_read(
            v4(&V4::default(), 6, &tcp(&t, &body)),
            VirtioNetHdr::GSO_TCPV4,
            gso,
        );
        let segs = split(&read).unwrap();
        assert_eq!(segs.len(), len.div_ceil(gso as usize).max(1), "{len}/{gso}");
        let mut got = Vec::new();
        for s in &segs {
            check(s).unwrap_or_else(|e| panic!("{len}/{gso}: {e}"));
            got.extend_from_slice(payload(s));
        }
        assert_eq!(got, body);
        for body_len in [len.min(3000), len.min(3001)] {
            let body = data(body_len, 2);
            let read = tun_read(
                v6(A6, B6, 17, &[], &udp(1, 2, &body)),
                VirtioNetHdr::GSO_UDP_L4,
                gso,
            );
            for s in split(&read).unwrap() {
                check(&s).unwrap();
            }
        }
    }
}

#[test]
fn partial_checksums_are_completed_without_gso() {
    let tcp4 = v4(&V4::default(), 6, &tcp(&Tcp::default(), &data(1001, 4)));
    let udp6 = v6(A6, B6, 17, &[], &udp(53, 5353, &data(77, 5)));
    let udp4 = v4(&V4::default(), 17, &udp(53, 5353, &data(300, 6)));
    for good in [tcp4, udp6, udp4] {
        let read = tun_read(good.clone(), VirtioNetHdr::GSO_NONE, 0);
        assert_ne!(read[10..], good[..], "the checksum was partial");
        let segs = split(&read).unwrap();
        assert_eq!(segs.len(), 1);
        check(&segs[0]).unwrap();
        assert_eq!(segs[0], good);
        // The same in place.
        let h = VirtioNetHdr::parse(&read).unwrap();
        let mut p = read[10..].to_vec();
        complete_checksum(&mut p, h.csum_start.into(), h.csum_offset.into()).unwrap();
        assert_eq!(p, good);
        let n = p.len();
        assert!(complete_checksum(&mut p, 10, n - 11).is_err());
        assert!(complete_checksum(&mut p, n + 1, 0).is_err());
    }
}

#[test]
fn plain_packets_pass_unchanged() {
    let ip = v4(&V4::default(), 6, &tcp(&Tcp::default(), &data(100, 0)));
    for pkt in [ip, vec![0xde, 0xad, 0xbe, 0xef], vec![]] {
        let mut read = VirtioNetHdr::default().to_bytes().to_vec();
        read.extend_from_slice(&pkt);
        let mut seg = Segmenter::new(&read).unwrap();
        assert!(!seg.is_gso());
        let mut out = [0u8; 256];
        let n = seg.next_into(&mut out).unwrap().unwrap();
        assert_eq!(out[..n], pkt[..]);
        assert!(seg.next_into(&mut out).is_none());
        assert!(seg.next_into(&mut out).is_none());
    }
}

#[test]
fn malformed_input_is_refused() {
    let good4 = tun_read(
        v4(&V4::default(), 6, &tcp(&Tcp::default(), &data(3000, 0))),
        VirtioNetHdr::GSO_TCPV4,
        1000,
    );
    let good6 = tun_read(
        v6(A6, B6, 6, &[], &tcp(&Tcp::default(), &data(3000, 0))),
        VirtioNetHdr::GSO_TCPV6,
        1000,
    );
    assert_eq!(split(&good4).unwrap().len(), 3);
    assert_eq!(split(&good6).unwrap().len(), 3);
    let with = |base: &[u8], f: &dyn Fn(&mut Vec<u8>)| {
        let mut v = base.to_vec();
        f(&mut v);
        v
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("short header", good4[..9].to_vec()),
        ("header only", good4[..10].to_vec()),
        ("gso_size 0", with(&good4, &|v| v[4..6].fill(0))),
        ("unknown gso type", with(&good4, &|v| v[1] = 2)),
        ("gso type 0x7f", with(&good4, &|v| v[1] = 0x7f)),
        ("UFO", with(&good4, &|v| v[1] = VirtioNetHdr::GSO_UDP)),
        (
            "TCPv6 on IPv4",
            with(&good4, &|v| v[1] = VirtioNetHdr::GSO_TCPV6),
        ),
        (
            "TCPv4 on IPv6",
            with(&good6, &|v| v[1] = VirtioNetHdr::GSO_TCPV4),
        ),
        (
            "UDP on TCP",
            with(&good4, &|v| v[1] = VirtioNetHdr::GSO_UDP_L4),
        ),
        ("truncated IP", good4[..good4.len() - 1].to_vec()),
        ("truncated TCP header", good4[..10 + 20 + 19].to_vec()),
        (
            "IPv4 total length short",
            with(&good4, &|v| v[12..14].copy_from_slice(&30u16.to_be_bytes())),
        ),
        (
            "IPv4 total length long",
            with(&good4, &|v| {
                v[12..14].copy_from_slice(&0xfff0u16.to_be_bytes())
            }),
        ),
        ("IPv4 ihl 4", with(&good4, &|v| v[10] = 0x44)),
        ("IPv4 ihl 15", with(&good4, &|v| v[10] = 0x4f)),
        ("IPv4 fragment", with(&good4, &|v| v[16] = 0x20)),
        ("IP version 5", with(&good4, &|v| v[10] = 0x55)),
        (
            "TCP data offset 4",
            with(&good4, &|v| v[10 + 20 + 12] = 0x40),
        ),
        (
            "TCP data offset 15",
            with(&good4[..10 + 20 + 40], &|v| {
                v[10 + 20 + 12] = 0xf0;
                v[12..14].copy_from_slice(&60u16.to_be_bytes());
            }),
        ),
        (
            "csum_start off",
            with(&good4, &|v| v[6..8].copy_from_slice(&21u16.to_ne_bytes())),
        ),
        (
            "csum_offset off",
            with(&good4, &|v| v[8..10].copy_from_slice(&6u16.to_ne_bytes())),
        ),
        (
            "IPv6 payload length long",
            with(&good6, &|v| {
                v[14..16].copy_from_slice(&0xfff0u16.to_be_bytes())
            }),
        ),
        ("IPv6 jumbogram", with(&good6, &|v| v[14..16].fill(0))),
        ("IPv6 fragment header", with(&good6, &|v| v[16] = 44)),
        (
            "IPv6 routing header overrun",
            with(&good6, &|v| {
                v[16] = 43;
                v[50 + 1] = 0xff;
            }),
        ),
        ("no-GSO csum beyond packet", {
            let mut v = good4.clone();
            v[1] = 0;
            v[6..8].copy_from_slice(&(good4.len() as u16).to_ne_bytes());
            v
        }),
    ];
    for (what, read) in cases {
        assert!(split(&read).is_err(), "{what} accepted");
    }
}

#[test]
fn small_buffer_is_reported_and_retried() {
    let read = tun_read(
        v4(&V4::default(), 6, &tcp(&Tcp::default(), &data(3000, 0))),
        VirtioNetHdr::GSO_TCPV4,
        1448,
    );
    let mut seg = Segmenter::new(&read).unwrap();
    assert_eq!(seg.max_len(), 20 + 32 + 1448);
    let mut small = [0u8; 100];
    assert_eq!(
        seg.next_into(&mut small),
        Some(Err(OffloadError::BufferTooSmall {
            needed: 1500,
            available: 100
        }))
    );
    let mut big = [0u8; 1500];
    let mut n = 0;
    while let Some(r) = seg.next_into(&mut big) {
        check(&big[..r.unwrap()]).unwrap();
        n += 1;
    }
    assert_eq!(n, 3);
}

#[test]
fn gro_merges_a_flow_into_one_super_packet() {
    let mut sizes = vec![1448; 20];
    sizes.push(500);
    let t = Tcp::default();
    let mut pkts = tcp4_flow(&sizes, &t, &V4::default());
    // PSH on the last one.
    let last = pkts.last_mut().unwrap();
    let off = l4(last).0;
    last[off + 13] |= PSH;
    fix_checksums(last);
    let writes = coalesce(&pkts);
    assert_eq!(writes.len(), 1);
    let (h, sup) = kernel_complete(&writes[0]);
    assert_eq!(
        h,
        VirtioNetHdr {
            flags: VirtioNetHdr::F_NEEDS_CSUM,
            gso_type: VirtioNetHdr::GSO_TCPV4,
            hdr_len: 52,
            gso_size: 1448,
            csum_start: 20,
            csum_offset: 16,
        }
    );
    check(&sup).unwrap();
    assert_eq!(sup.len(), 52 + 20 * 1448 + 500);
    assert_eq!(flags(&sup), ACK | PSH);
    assert_eq!(seq(&sup), t.seq);
    assert_eq!(ip_id(&sup), V4::default().id);
    let all: Vec<u8> = pkts.iter().flat_map(|p| payload(p).to_vec()).collect();
    assert_eq!(payload(&sup), &all[..]);
    // Cut again, it gives back the very packets.
    assert_eq!(split(&writes[0]).unwrap(), pkts);
}

#[test]
fn gro_merges_ipv6_and_splits_back() {
    let sizes = [1428, 1428, 1428, 1000];
    let pkts = tcp6_flow(&sizes, &Tcp::default());
    let writes = coalesce(&pkts);
    assert_eq!(writes.len(), 1);
    let (h, sup) = kernel_complete(&writes[0]);
    assert_eq!(h.gso_type, VirtioNetHdr::GSO_TCPV6);
    assert_eq!((h.gso_size, h.csum_start, h.hdr_len), (1428, 40, 72));
    check(&sup).unwrap();
    assert_eq!(split(&writes[0]).unwrap(), pkts);
}

#[test]
fn split_then_coalesce_round_trips() {
    for v6_ in [false, true] {
        let body = data(40000, 7);
        let t = Tcp {
            flags: ACK | PSH,
            ..Tcp::default()
        };
        let ip = if v6_ {
            v6(A6, B6, 6, &[], &tcp(&t, &body))
        } else {
            v4(&V4::default(), 6, &tcp(&t, &body))
        };
        let gso = if v6_ {
            VirtioNetHdr::GSO_TCPV6
        } else {
            VirtioNetHdr::GSO_TCPV4
        };
        let read = tun_read(ip.clone(), gso, 1380);
        let segs = split(&read).unwrap();
        assert_eq!(segs.len(), 29);
        let writes = coalesce(&segs);
        assert_eq!(writes.len(), 1);
        let (h, sup) = kernel_complete(&writes[0]);
        assert_eq!(h.gso_size, 1380);
        assert_eq!(h.gso_type, gso);
        check(&sup).unwrap();
        assert_eq!(sup, ip, "the original super packet, byte for byte");
    }
}

#[test]
fn gro_keeps_flows_apart_and_in_order() {
    let a = tcp4_flow(&[1000; 4], &Tcp::default(), &V4::default());
    let b = tcp4_flow(
        &[1000; 2],
        &Tcp {
            sport: 40001,
            ..Tcp::default()
        },
        &V4::default(),
    );
    let c = tcp6_flow(&[1000; 2], &Tcp::default());
    // A pure ACK of flow a, in between.
    let ack = v4(
        &V4::default(),
        6,
        &tcp(
            &Tcp {
                seq: seq(&a[3]),
                ..Tcp::default()
            },
            &[],
        ),
    );
    let udp = v4(&V4::default(), 17, &udp(1, 2, b"dns"));
    let order = [
        &a[0], &b[0], &c[0], &a[1], &udp, &b[1], &a[2], &c[1], &ack, &a[3],
    ];
    let mut gro = GroBatch::default();
    for p in order {
        gro.push(p).unwrap();
    }
    assert_eq!(gro.packets(), 10);
    assert_eq!(gro.len(), 6);
    let w = flush(&mut gro);
    let plain = |p: &Vec<u8>| {
        let mut v = vec![0u8; 10];
        v.extend_from_slice(p);
        v
    };
    assert_eq!(w.len(), 6);
    // a[0..3] merged, then b, c, the UDP datagram, the ACK, then a[3].
    let (ha, sa) = kernel_complete(&w[0]);
    assert_eq!(ha.gso_type, VirtioNetHdr::GSO_TCPV4);
    check(&sa).unwrap();
    assert_eq!(split(&w[0]).unwrap(), a[..3].to_vec());
    assert_eq!(split(&w[1]).unwrap(), b);
    assert_eq!(split(&w[2]).unwrap(), c);
    assert_eq!(w[3], plain(&udp));
    assert_eq!(w[4], plain(&ack));
    assert_eq!(w[5], plain(&a[3]), "after the ACK, alone");
}

#[test]
fn gro_leaves_alone_what_it_must_not_merge() {
    let t = Tcp::default();
    let ip = V4::default();
    let base = tcp4_flow(&[1000, 1000], &t, &ip);
    let next = seq(&base[1]);
    let seg2 =
        |t2: Tcp, ip2: V4, n: usize| v4(&ip2, 6, &tcp(&Tcp { seq: next, ..t2 }, &data(n, 9)));
    let mut bad_csum = seg2(t.clone(), ip.clone(), 1000);
    let len = bad_csum.len();
    bad_csum[len - 1] ^= 1;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "sequence gap",
            v4(
                &ip,
                6,
                &tcp(
                    &Tcp {
                        seq: next + 1,
                        ..t.clone()
                    },
                    &data(1000, 0),
                ),
            ),
        ),
        (
            "other ACK",
            seg2(
                Tcp {
                    ack: 7,
                    ..t.clone()
                },
                ip.clone(),
                1000,
            ),
        ),
        (
            "other window",
            seg2(
                Tcp {
                    win: 7,
                    ..t.clone()
                },
                ip.clone(),
                1000,
            ),
        ),
        (
            "other options",
            seg2(
                Tcp {
                    opts: vec![1, 1, 8, 10, 0, 0, 0, 2, 0, 0, 0, 2],
                    ..t.clone()
                },
                ip.clone(),
                1000,
            ),
        ),
        (
            "no options",
            seg2(
                Tcp {
                    opts: vec![],
                    ..t.clone()
                },
                ip.clone(),
                1000,
            ),
        ),
        (
            "other TTL",
            seg2(
                t.clone(),
                V4 {
                    ttl: 63,
                    ..ip.clone()
                },
                1000,
            ),
        ),
        (
            "other TOS",
            seg2(
                t.clone(),
                V4 {
                    tos: 3,
                    ..ip.clone()
                },
                1000,
            ),
        ),
        (
            "no DF",
            seg2(
                t.clone(),
                V4 {
                    df: false,
                    ..ip.clone()
                },
                1000,
            ),
        ),
        (
            "IP options",
            seg2(
                t.clone(),
                V4 {
                    opts: vec![1, 1, 1, 0],
                    ..ip.clone()
                },
                1000,
            ),
        ),
        (
            "FIN",
            seg2(
                Tcp {
                    flags: ACK | FIN,
                    ..t.clone()
                },
                ip.clone(),
                1000,
            ),
        ),
        (
            "SYN",
            seg2(
                Tcp {
                    flags: ACK | SYN,
                    ..t.clone()
                },
                ip.clone(),
                1000,
            ),
        ),
        (
            "RST",
            seg2(
                Tcp {
                    flags: ACK | RST,
                    ..t.clone()
                },
                ip.clone(),
                1000,
            ),
        ),
        (
            "ECE",
            seg2(
                Tcp {
                    flags: ACK | ECE,
                    ..t.clone()
                },
                ip.clone(),
                1000,
            ),
        ),
        (
            "CWR",
            seg2(
                Tcp {
                    flags: ACK | CWR,
                    ..t.clone()
                },
                ip.clone(),
                1000,
            ),
        ),
        (
            "URG",
            seg2(
                Tcp {
                    flags: ACK | 0x20,
                    ..t.clone()
                },
                ip.clone(),
                1000,
            ),
        ),
        (
            "no ACK",
            seg2(
                Tcp {
                    flags: PSH,
                    ..t.clone()
                },
                ip.clone(),
                1000,
            ),
        ),
        ("no payload", seg2(t.clone(), ip.clone(), 0)),
        ("larger segment", seg2(t.clone(), ip.clone(), 1001)),
        (
            "other address",
            seg2(
                t.clone(),
                V4 {
                    src: [10, 1, 0, 3],
                    ..ip.clone()
                },
                1000,
            ),
        ),
        (
            "other port",
            seg2(
                Tcp {
                    dport: 1,
                    ..t.clone()
                },
                ip.clone(),
                1000,
            ),
        ),
        ("bad checksum", bad_csum),
    ];
    for (what, p2) in cases {
        let mut gro = GroBatch::default();
        gro.push(&base[0]).unwrap();
        gro.push(&base[1]).unwrap();
        gro.push(&p2).unwrap();
        let w = flush(&mut gro);
        assert_eq!(w.len(), 2, "{what}: merged");
        assert_eq!(split(&w[0]).unwrap(), base, "{what}");
        let mut plain = vec![0u8; 10];
        plain.extend_from_slice(&p2);
        assert_eq!(w[1], plain, "{what}: changed");
    }
    // After a short segment or a PSH, a super packet takes no more.
    for first_last in [500usize, 1000] {
        let mut pk = tcp4_flow(&[1000, first_last, 1000], &t, &ip);
        if first_last == 1000 {
            let off = l4(&pk[1]).0;
            pk[1][off + 13] |= PSH;
            fix_checksums(&mut pk[1]);
        }
        let w = coalesce(&pk);
        assert_eq!(w.len(), 2, "{first_last}");
        assert_eq!(split(&w[0]).unwrap(), pk[..2].to_vec());
    }
    // Without the check a bad checksum merges (the kernel trusts it).
    let mut gro = GroBatch::default();
    gro.set_verify_checksums(false);
    let mut pk = tcp4_flow(&[1000, 1000], &t, &ip);
    pk[1][100] ^= 1;
    gro.push(&pk[0]).unwrap();
    gro.push(&pk[1]).unwrap();
    assert_eq!(gro.len(), 1);
}

#[test]
fn gro_stops_at_64_kib_and_at_its_limits() {
    let pkts = tcp4_flow(&[1448; 50], &Tcp::default(), &V4::default());
    let w = coalesce(&pkts);
    assert_eq!(w.len(), 2);
    let first = split(&w[0]).unwrap();
    assert_eq!(first.len(), 45, "45 * 1448 + 52 <= 65535 < 46 * 1448 + 52");
    assert!(w[0].len() - 10 <= 65535);
    assert_eq!(split(&w[1]).unwrap(), pkts[45..].to_vec());
    // Small segments: at most 1 + GRO_MAX_SEGMENTS per super packet.
    let pkts = tcp4_flow(&[100; 70], &Tcp::default(), &V4::default());
    let w = coalesce(&pkts);
    assert_eq!(w.len(), 2);
    assert_eq!(split(&w[0]).unwrap().len(), 65);
    // Out of packet slots: Full, nothing taken; flush and go on.
    let mut gro = GroBatch::new(3, 2, 1 << 20);
    let pkts = tcp4_flow(&[1000; 4], &Tcp::default(), &V4::default());
    let udp = v4(&V4::default(), 17, &udp(1, 2, b"x"));
    for p in [&pkts[0], &pkts[1], &udp] {
        gro.push(p).unwrap();
    }
    assert_eq!(gro.push(&pkts[2]), Err(GroError::Full));
    assert_eq!(gro.packets(), 3);
    assert_eq!(flush(&mut gro).len(), 2);
    gro.push(&pkts[2]).unwrap();
    gro.push(&pkts[3]).unwrap();
    assert_eq!(split(&flush(&mut gro)[0]).unwrap(), pkts[2..].to_vec());
    // Out of bytes.
    let mut gro = GroBatch::new(100, 4, 2500);
    gro.push(&pkts[0]).unwrap();
    gro.push(&pkts[1]).unwrap();
    assert_eq!(gro.push(&pkts[2]), Err(GroError::Full));
    assert_eq!(gro.push(&vec![0x45; 2501]), Err(GroError::TooLarge));
    // Out of flow slots: more flows still pass, unmerged.
    let mut gro = GroBatch::new(100, 1, 1 << 20);
    let other = tcp4_flow(
        &[1000; 2],
        &Tcp {
            sport: 1,
            ..Tcp::default()
        },
        &V4::default(),
    );
    for p in [&pkts[0], &other[0], &pkts[1], &other[1]] {
        gro.push(p).unwrap();
    }
    assert_eq!(gro.len(), 3);
    // Empty packets are ignored; a failing write does not stop the rest.
    gro.push(&[]).unwrap();
    let mut calls = 0;
    let r = gro.flush(|_| {
        calls += 1;
        Err(std::io::Error::other("no"))
    });
    assert!(r.is_err());
    assert_eq!(calls, 3);
    assert!(gro.is_empty());
}

#[test]
fn mss_is_clamped_with_the_checksum_fixed() {
    // MSS first (even offset), or after one NOP (odd offset).
    for opts in [
        vec![2, 4, 0x05, 0xb4, 1, 3, 3, 7],
        vec![1, 2, 4, 0x05, 0xb4, 1, 1, 0],
    ] {
        let t = Tcp {
            flags: SYN,
            opts,
            ..Tcp::default()
        };
        for mut p in [
            v4(&V4::default(), 6, &tcp(&t, &[])),
            v6(A6, B6, 6, &[], &tcp(&t, &[])),
            v4(
                &V4::default(),
                6,
                &tcp(
                    &Tcp {
                        flags: SYN | ACK,
                        ..t.clone()
                    },
                    &[],
                ),
            ),
        ] {
            let orig = p.clone();
            assert!(!clamp_mss(&mut p, 1460), "equal: unchanged");
            assert!(!clamp_mss(&mut p, 9000), "larger: unchanged");
            assert_eq!(p, orig);
            assert!(clamp_mss(&mut p, 1360));
            check(&p).unwrap();
            let (off, _) = l4(&p);
            let o = &p[off + 20..off + 28];
            let i = o.iter().position(|&b| b == 2).unwrap();
            assert_eq!(o[i + 2..i + 4], 1360u16.to_be_bytes());
            assert!(!clamp_mss(&mut p, 1360));
        }
    }
    // Not a SYN, no MSS option, not TCP, truncated: untouched.
    let mut ack = v4(
        &V4::default(),
        6,
        &tcp(
            &Tcp {
                opts: vec![2, 4, 5, 0xb4],
                ..Tcp::default()
            },
            &[],
        ),
    );
    let mut nomss = v4(
        &V4::default(),
        6,
        &tcp(
            &Tcp {
                flags: SYN,
                ..Tcp::default()
            },
            &[],
        ),
    );
    let mut dgram = v4(&V4::default(), 17, &udp(1, 2, &[2, 4, 5, 0xb4]));
    for p in [&mut ack, &mut nomss, &mut dgram] {
        let o = p.clone();
        assert!(!clamp_mss(p, 536));
        assert_eq!(*p, o);
    }
    let mut cut = v4(
        &V4::default(),
        6,
        &tcp(
            &Tcp {
                flags: SYN,
                opts: vec![2, 4, 5, 0xb4],
                ..Tcp::default()
            },
            &[],
        ),
    );
    let n = cut.len();
    assert!(!clamp_mss(&mut cut[..n - 1], 536));
}

fn gso_type() -> impl Strategy<Value = u8> {
    prop_oneof![
        Just(VirtioNetHdr::GSO_NONE),
        Just(VirtioNetHdr::GSO_TCPV4),
        Just(VirtioNetHdr::GSO_TCPV6),
        Just(VirtioNetHdr::GSO_UDP_L4),
        Just(VirtioNetHdr::GSO_TCPV4 | VirtioNetHdr::GSO_ECN),
        any::<u8>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn arbitrary_bytes_never_panic(
        mut bytes in proptest::collection::vec(any::<u8>(), 0..1600),
        gso in gso_type(),
        flags in 0u8..4,
        gso_size in prop_oneof![Just(0u16), 1u16..2000, any::<u16>()],
        start in prop_oneof![Just(20u16), Just(40u16), any::<u16>()],
        off in prop_oneof![Just(16u16), Just(6u16), any::<u16>()],
        ip in prop_oneof![Just(0x45u8), Just(0x60u8), any::<u8>()],
        mss in any::<u16>(),
    ) {
        if bytes.len() > 10 {
            let h = VirtioNetHdr { flags, gso_type: gso, hdr_len: 0, gso_size, csum_start: start, csum_offset: off };
            bytes[..10].copy_from_slice(&h.to_bytes());
            bytes[10] = ip;
        }
        if let Ok(mut s) = Segmenter::new(&bytes) {
            let mut out = vec![0u8; 1600];
            let mut n = 0;
            while let Some(r) = s.next_into(&mut out) {
                if r.is_err() { break; }
                n += 1;
                prop_assert!(n <= s.count());
            }
        }
        let mut gro = GroBatch::new(8, 4, 1 << 14);
        let tail = bytes.get(10..).unwrap_or_default();
        for _ in 0..3 {
            let _ = gro.push(tail);
            let _ = gro.push(&bytes);
        }
        let _ = gro.flush(|_| Ok(()));
        clamp_mss(&mut bytes, mss);
        if bytes.len() > 10 {
            clamp_mss(&mut bytes[10..], mss);
        }
    }

    #[test]
    fn mutated_super_packets_never_panic(
        v6_ in any::<bool>(),
        len in 0usize..4000,
        muts in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        cut in proptest::option::of(any::<usize>()),
    ) {
        let body = data(len, 0);
        let (ip, gso) = if v6_ {
            (v6(A6, B6, 6, &[], &tcp(&Tcp::default(), &body)), VirtioNetHdr::GSO_TCPV6)
        } else {
            (v4(&V4::default(), 6, &tcp(&Tcp::default(), &body)), VirtioNetHdr::GSO_TCPV4)
        };
        let mut read = tun_read(ip, gso, 536);
        for (i, b) in muts {
            let n = read.len();
            read[i % n] = b;
        }
        if let Some(c) = cut {
            let n = read.len();
            read.truncate(c % (n + 1));
        }
        if let Ok(mut s) = Segmenter::new(&read) {
            let mut out = vec![0u8; 70000];
            while let Some(r) = s.next_into(&mut out) {
                if r.is_err() { break; }
            }
        }
        let mut gro = GroBatch::default();
        let _ = gro.push(read.get(10..).unwrap_or_default());
        let _ = gro.flush(|_| Ok(()));
    }

    #[test]
    fn any_super_packet_splits_and_merges_back(
        v6_ in any::<bool>(),
        udp_ in any::<bool>(),
        len in 0usize..30000,
        gso_size in 250u16..1500,
        fl in prop_oneof![Just(ACK), Just(ACK | PSH), Just(ACK | FIN), Just(ACK | PSH | CWR)],
        seq0 in any::<u32>(),
        id in any::<u16>(),
    ) {
        let body = data(len, 3);
        let t = Tcp { seq: seq0, flags: fl, ..Tcp::default() };
        let l4b = if udp_ { udp(4500, 4500, &body) } else { tcp(&t, &body) };
        let proto = if udp_ { 17 } else { 6 };
        let ip = if v6_ { v6(A6, B6, proto, &[], &l4b) } else { v4(&V4 { id, ..V4::default() }, proto, &l4b) };
        let gso = match (udp_, v6_) {
            (true, _) => VirtioNetHdr::GSO_UDP_L4,
            (false, false) => VirtioNetHdr::GSO_TCPV4,
            (false, true) => VirtioNetHdr::GSO_TCPV6,
        };
        let segs = split(&tun_read(ip.clone(), gso, gso_size)).unwrap();
        prop_assert_eq!(segs.len(), len.div_ceil(usize::from(gso_size)).max(1));
        let mut got = Vec::new();
        for s in &segs {
            prop_assert!(check(s).is_ok(), "{:?}", check(s));
            got.extend_from_slice(payload(s));
        }
        prop_assert_eq!(&got, &body);
        if !udp_ && fl & (FIN | CWR) == 0 && len > 0 {
            let w = coalesce(&segs);
            // At most 1 + GRO_MAX_SEGMENTS segments per super packet.
            prop_assert_eq!(w.len(), segs.len().div_ceil(65));
            let mut back = Vec::new();
            for x in &w {
                let (_, p) = kernel_complete(x);
                prop_assert!(check(&p).is_ok());
                back.extend_from_slice(payload(&p));
            }
            prop_assert_eq!(&back, &body);
            if w.len() > 1 {
                return Ok(());
            }
            let (_, sup) = kernel_complete(&w[0]);
            prop_assert!(check(&sup).is_ok());
            if len > usize::from(gso_size) {
                // One segment alone is written as it is (with its own
                // flags); more make the super packet again.
                prop_assert_eq!(sup, ip);
            }
        }
    }
}
