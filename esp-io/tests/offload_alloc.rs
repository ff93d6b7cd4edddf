//! The per-packet offload and batch I/O paths never allocate (a counting
//! global allocator): segmenting, coalescing and flushing, MSS clamping,
//! sendmmsg with UDP GSO and recvmmsg with UDP GRO over loopback.

#[path = "common/offload_pkt.rs"]
mod pkt;

use esp_io::batch::{RecvBatch, SendBatch, GRO_BUF_SIZE};
use esp_io::offload::{clamp_mss, GroBatch, Segmenter, VirtioNetHdr};
use pkt::*;
use std::net::UdpSocket;

#[path = "../../esp/tests/common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocs;

#[test]
fn offload_paths_do_not_allocate() {
    let before = allocs();
    let v = std::hint::black_box(vec![1u8; 10]);
    assert_eq!(allocs() - before, 1, "the counter works");
    drop(v);

    let body = data(60000, 1);
    let reads = [
        tun_read(
            v4(&V4::default(), 6, &tcp(&Tcp::default(), &body)),
            VirtioNetHdr::GSO_TCPV4,
            1448,
        ),
        tun_read(
            v6(A6, B6, 17, &[], &udp(4500, 4500, &body[..30000])),
            VirtioNetHdr::GSO_UDP_L4,
            1200,
        ),
        tun_read(
            v4(&V4::default(), 6, &tcp(&Tcp::default(), &body[..1000])),
            VirtioNetHdr::GSO_NONE,
            0,
        ),
    ];
    let mut syn = v4(
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
    let mut out = vec![0u8; 2048];
    let mut segs = vec![vec![0u8; 2048]; 64];
    let mut lens = vec![0usize; 64];
    let mut gro = GroBatch::default();
    let mut written = 0usize;

    let before = allocs();
    for read in &reads {
        let mut s = Segmenter::new(read).unwrap();
        let mut k = 0;
        while let Some(n) = s.next_into(&mut out[64..]) {
            let n = n.unwrap();
            if let (Some(b), Some(l)) = (segs.get_mut(k), lens.get_mut(k)) {
                b[..n].copy_from_slice(&out[64..64 + n]);
                *l = n;
            }
            k += 1;
        }
        for (b, &l) in segs.iter().zip(&lens).take(k) {
            gro.push(&b[..l]).unwrap();
        }
        gro.flush(|iov| {
            written += iov.iter().map(|s| s.len()).sum::<usize>();
            Ok(())
        })
        .unwrap();
    }
    assert!(clamp_mss(&mut syn, 1360));
    assert_eq!(allocs() - before, 0);
    assert!(written > 60000);
}

#[test]
fn batched_udp_does_not_allocate() {
    let rx_sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let tx_sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dest = rx_sock.local_addr().unwrap();
    let mut tx = SendBatch::new(32, 2048);
    tx.enable_gso(&tx_sock);
    let mut rx = RecvBatch::new(8, GRO_BUF_SIZE, 0);
    let _ = rx.enable_gro(&rx_sock).unwrap();
    let payload = data(1200, 3);
    let mut got = 0;

    let before = allocs();
    for _ in 0..3 {
        while let Some(b) = tx.next_buf() {
            b[16..16 + payload.len()].copy_from_slice(&payload);
            assert!(tx.commit(16..16 + payload.len(), dest));
        }
        assert_eq!(tx.flush(&tx_sock).unwrap(), 32);
        let mut n = 0;
        while n < 32 {
            rx.recv(&rx_sock).unwrap();
            rx.for_each_datagram(|d, _| {
                assert_eq!(d.len(), 1200);
                n += 1;
            });
        }
        got += n;
    }
    assert_eq!(allocs() - before, 0);
    assert_eq!(got, 96);
}
