//! The offloads against the kernel: a vnet-header TUN hands out TCP and
//! UDP super packets that the Segmenter cuts right, takes the GroBatch's
//! super packets (delivered to a local socket, or forwarded and cut by the
//! kernel itself), and batched UDP I/O (recvmmsg, sendmmsg, UDP GSO/GRO)
//! and raw ESP sockets work. Each test runs in a network namespace of its
//! own (this test thread only); needs root.

#[path = "common/offload_pkt.rs"]
mod pkt;

use esp_io::batch::{RawEsp, RecvBatch, SendBatch, GRO_BUF_SIZE};
use esp_io::offload::{GroBatch, Segmenter};
use esp_io::{link, tun::Tun};
use pkt::*;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// Move this test thread into a network namespace of its own.
fn private_netns() {
    // SAFETY: unshare(2) with a constant flag; it affects this thread only.
    let r = unsafe { libc::unshare(libc::CLONE_NEWNET) };
    assert_eq!(
        r,
        0,
        "unshare(CLONE_NEWNET) needs root: {}",
        std::io::Error::last_os_error()
    );
}

/// Runs `f` with a netlink handle in a fresh namespace.
fn in_netns<F: std::future::Future<Output = ()>>(f: impl FnOnce(link::Handle) -> F) {
    private_netns();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let h = link::connect().unwrap();
        f(h).await
    });
}

/// An offload TUN with two queues, up, with `addr`/`prefix`.
async fn offload_tun(h: &link::Handle, name: &str, addr: &str, prefix: u8) -> (Tun, Tun) {
    let (t, on) = Tun::create_offload(name).unwrap();
    eprintln!(
        "{name}: offloads on: {on}, TUN_F bits {:#x}, USO: {}",
        t.offloads(),
        t.uso()
    );
    assert!(t.vnet_hdr());
    assert!(on, "this kernel takes TUN_F_CSUM|TSO4|TSO6");
    let q = t.open_queue().unwrap();
    assert!(q.vnet_hdr());
    assert_eq!(q.offloads(), t.offloads());
    link::set(h, name, true, Some(1500)).await.unwrap();
    link::add_address(h, name, addr.parse().unwrap(), prefix)
        .await
        .unwrap();
    (t, q)
}

/// The next packet from any of `qs` (vnet header included if they have
/// one), or None after `wait`.
fn read_any(qs: &[&Tun], buf: &mut [u8], wait: Duration) -> Option<usize> {
    let end = Instant::now() + wait;
    loop {
        for q in qs {
            match q.recv(buf) {
                Ok(n) => return Some(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("TUN read: {e}"),
            }
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Every wire packet of one vnet-header read, checksums checked.
fn cut(read: &[u8]) -> (bool, Vec<Vec<u8>>) {
    let mut s = Segmenter::new(read).unwrap();
    let gso = s.is_gso();
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Some(n) = s.next_into(&mut buf) {
        let p = buf[..n.unwrap()].to_vec();
        out.push(p);
    }
    (gso, out)
}

fn vnet_plain(p: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8; 10];
    v.extend_from_slice(p);
    v
}

fn tcp_port(p: &[u8], dst: bool) -> u16 {
    let (off, _) = l4(p);
    let at = if dst { off + 2 } else { off };
    u16::from_be_bytes([p[at], p[at + 1]])
}

/// A TCP segment from `src` to `dst` (IPv4), checksums right.
fn seg4(src: [u8; 4], dst: [u8; 4], id: u16, t: &Tcp, payload: &[u8]) -> Vec<u8> {
    v4(
        &V4 {
            src,
            dst,
            id,
            ..V4::default()
        },
        6,
        &tcp(t, payload),
    )
}

#[test]
fn kernel_tcp_super_packets_out_of_the_tun_are_cut_right() {
    in_netns(|h| async move {
        let (t, q) = offload_tun(&h, "offl0", "10.1.0.1", 24).await;
        let total = 300_000;
        let sent = data(total, 0x5a);
        let to_send = sent.clone();
        let client = std::thread::spawn(move || {
            let addr: SocketAddr = "10.1.0.2:80".parse().unwrap();
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
            s.write_all(&to_send)?;
            std::thread::sleep(Duration::from_millis(300));
            Ok::<_, std::io::Error>(())
        });
        // Play the far end: answer the SYN, take the data, ACK each read.
        let (peer, me) = ([10, 1, 0, 2], [10, 1, 0, 1]);
        let iss: u32 = 77_000;
        let mut expect: Option<u32> = None;
        let mut cport = 0;
        let mut got = Vec::new();
        let (mut reads, mut gso_reads, mut largest) = (0, 0, 0);
        let mut buf = vec![0u8; 65536 + 10];
        let end = Instant::now() + Duration::from_secs(30);
        while got.len() < total && Instant::now() < end {
            let Some(n) = read_any(&[&t, &q], &mut buf, Duration::from_millis(100)) else {
                continue;
            };
            let (gso, segs) = cut(&buf[..n]);
            reads += 1;
            let mut new_data = false;
            for s in &segs {
                if s[0] >> 4 != 4 || s[9] != 6 || tcp_port(s, true) != 80 {
                    continue;
                }
                check(s).unwrap_or_else(|e| panic!("segment out of the TUN: {e}"));
                if flags(s) & SYN != 0 {
                    cport = tcp_port(s, false);
                    expect = Some(seq(s).wrapping_add(1));
                    let synack = Tcp {
                        sport: 80,
                        dport: cport,
                        seq: iss,
                        ack: seq(s).wrapping_add(1),
                        flags: SYN | ACK,
                        win: 65535,
                        opts: vec![2, 4, 0x05, 0xb4],
                    };
                    t.send(&vnet_plain(&seg4(peer, me, 1, &synack, &[])))
                        .unwrap();
                    continue;
                }
                if gso {
                    gso_reads += 1;
                    largest = largest.max(n - 10);
                }
                if Some(seq(s)) == expect && !payload(s).is_empty() {
                    got.extend_from_slice(payload(s));
                    expect = Some(seq(s).wrapping_add(payload(s).len() as u32));
                    new_data = true;
                }
            }
            if let (true, Some(ack)) = (new_data, expect) {
                let a = Tcp {
                    sport: 80,
                    dport: cport,
                    seq: iss + 1,
                    ack,
                    flags: ACK,
                    win: 65535,
                    opts: vec![],
                };
                t.send(&vnet_plain(&seg4(peer, me, 2, &a, &[]))).unwrap();
            }
        }
        client.join().unwrap().unwrap();
        eprintln!("{reads} reads, {gso_reads} segments from GSO reads, largest {largest} bytes");
        assert_eq!(got.len(), total);
        assert!(got == sent, "the stream arrived intact");
        assert!(gso_reads > 0, "the kernel handed out TSO super packets");
        assert!(largest > 1500);
    });
}

#[test]
fn gro_super_packets_into_the_tun_reach_a_local_socket() {
    in_netns(|h| async move {
        let (t, q) = offload_tun(&h, "offl1", "10.1.0.1", 24).await;
        let listener = TcpListener::bind("10.1.0.1:5001").unwrap();
        listener.set_nonblocking(true).unwrap();
        let (peer, me) = ([10, 1, 0, 2], [10, 1, 0, 1]);
        let isn: u32 = 0xffff_0000;
        let syn = Tcp {
            sport: 40000,
            dport: 5001,
            seq: isn,
            ack: 0,
            flags: SYN,
            win: 65535,
            opts: vec![2, 4, 0x05, 0x78],
        };
        t.send(&vnet_plain(&seg4(peer, me, 1, &syn, &[]))).unwrap();
        let mut buf = vec![0u8; 65536 + 10];
        let mut server_isn = None;
        while server_isn.is_none() {
            let n = read_any(&[&t, &q], &mut buf, Duration::from_secs(3)).expect("SYN-ACK");
            for s in cut(&buf[..n]).1 {
                if s[0] >> 4 == 4 && s[9] == 6 && flags(&s) == SYN | ACK {
                    check(&s).unwrap();
                    server_isn = Some(seq(&s));
                }
            }
        }
        let ack = server_isn.unwrap().wrapping_add(1);
        let base = Tcp {
            sport: 40000,
            dport: 5001,
            seq: isn.wrapping_add(1),
            ack,
            flags: ACK,
            win: 65535,
            opts: vec![],
        };
        t.send(&vnet_plain(&seg4(peer, me, 2, &base, &[]))).unwrap();
        let end = Instant::now() + Duration::from_secs(3);
        let mut conn = loop {
            match listener.accept() {
                Ok((c, from)) => {
                    assert_eq!(from, "10.1.0.2:40000".parse().unwrap());
                    break c;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < end => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(e) => panic!("accept: {e}"),
            }
        };
        conn.set_nonblocking(false).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        // 8 chunks of 28 segments (well within the 64 KiB window), each
        // chunk coalesced into one super packet.
        let mut gro = GroBatch::default();
        let mut seq0 = isn.wrapping_add(1);
        let mut id = 3u16;
        let (mut pushed, mut writes) = (0, 0);
        for chunk in 0..8u8 {
            let body = data(28 * 1400, chunk);
            for (i, piece) in body.chunks(1400).enumerate() {
                let tcp_ = Tcp {
                    seq: seq0,
                    flags: if i == 27 { ACK | PSH } else { ACK },
                    ..base.clone()
                };
                gro.push(&seg4(peer, me, id, &tcp_, piece)).unwrap();
                pushed += 1;
                id = id.wrapping_add(1);
                seq0 = seq0.wrapping_add(piece.len() as u32);
            }
            writes += gro.flush(|iov| t.send_vectored(iov).map(drop)).unwrap();
            let mut rx = vec![0u8; body.len()];
            conn.read_exact(&mut rx).unwrap();
            assert!(rx == body, "chunk {chunk} arrived intact");
            // The kernel's ACKs: drain them.
            while read_any(&[&t, &q], &mut buf, Duration::ZERO).is_some() {}
        }
        assert_eq!(pushed, 8 * 28);
        assert_eq!(writes, 8, "one super packet per chunk");
    });
}

/// Writes GRO super packets into `a` (from `src` to `dst`, one address
/// family, TCP source port `sport`), lets the kernel forward them out of
/// the device whose queues are `b`, and checks what comes out: cut by the
/// kernel (plain TUN) or by a Segmenter (offload TUN).
///
/// A multiqueue TUN hands each flow to the queue its flow hash picks, and
/// that hash is seeded at random on every boot: the packets may come out of
/// any of the queues, so every queue is read (as rvpn's workers do).
fn forward_through(a: &Tun, b: &[&Tun], src: &[u8], dst: &[u8], sport: u16) -> (usize, usize) {
    let v6_ = src.len() == 16;
    let mut gro = GroBatch::default();
    let mut pkts = Vec::new();
    let mut seq0 = 1000u32;
    for i in 0..20u16 {
        let t = Tcp {
            sport,
            dport: 8080,
            seq: seq0,
            flags: if i == 19 { ACK | PSH } else { ACK },
            ..Tcp::default()
        };
        let body = data(if i == 19 { 700 } else { 1380 }, i as u8);
        let p = if v6_ {
            v6(
                src.try_into().unwrap(),
                dst.try_into().unwrap(),
                6,
                &[],
                &tcp(&t, &body),
            )
        } else {
            v4(
                &V4 {
                    src: src.try_into().unwrap(),
                    dst: dst.try_into().unwrap(),
                    id: 100 + i,
                    ..V4::default()
                },
                6,
                &tcp(&t, &body),
            )
        };
        seq0 += body.len() as u32;
        gro.push(&p).unwrap();
        pkts.push(p);
    }
    assert_eq!(gro.len(), 1);
    assert_eq!(gro.flush(|iov| a.send_vectored(iov).map(drop)).unwrap(), 1);
    let mut buf = vec![0u8; 65536 + 10];
    let mut got = Vec::new();
    let (mut reads, mut gso_reads) = (0, 0);
    let want: Vec<u8> = pkts.iter().flat_map(|p| payload(p).to_vec()).collect();
    while got.len() < want.len() {
        let vnet = b[0].vnet_hdr();
        let n = if vnet {
            read_any(b, &mut buf, Duration::from_secs(3))
        } else {
            read_any(b, &mut buf[10..], Duration::from_secs(3)).map(|n| n + 10)
        }
        .expect("forwarded packets");
        if !vnet {
            buf[..10].fill(0);
        }
        let (gso, segs) = cut(&buf[..n]);
        for s in segs {
            let (off, proto) = l4(&s);
            if proto != 6 || u16::from_be_bytes([s[off + 2], s[off + 3]]) != 8080 {
                continue;
            }
            // From scratch: the kernel completed our partial checksum.
            check(&s).unwrap_or_else(|e| panic!("forwarded segment: {e}"));
            if v6_ {
                assert_eq!(s[7], 63, "hop limit decremented");
            } else {
                assert_eq!(s[8], 63, "TTL decremented");
            }
            reads += 1;
            if gso {
                gso_reads += 1;
            }
            got.extend_from_slice(payload(&s));
        }
    }
    assert!(got == want, "the forwarded stream is the one written");
    (reads, gso_reads)
}

#[test]
fn gro_super_packets_are_forwarded_and_cut_by_the_kernel() {
    in_netns(|h| async move {
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").unwrap();
        std::fs::write("/proc/sys/net/ipv6/conf/all/forwarding", "1").unwrap();
        let (a, _qa) = offload_tun(&h, "offla", "10.1.0.1", 24).await;
        link::add_address(&h, "offla", "fd01::1".parse().unwrap(), 64)
            .await
            .unwrap();
        // A plain TUN: no checksum offload, no TSO: the kernel cuts the
        // super packets itself, completing our partial checksum.
        let b = Tun::create("offlb").unwrap();
        link::set(&h, "offlb", true, Some(1500)).await.unwrap();
        link::add_address(&h, "offlb", "10.2.0.1".parse().unwrap(), 24)
            .await
            .unwrap();
        link::add_address(&h, "offlb", "fd02::1".parse().unwrap(), 64)
            .await
            .unwrap();
        // An offload TUN: the super packet goes out whole.
        let (c, qc) = offload_tun(&h, "offlc", "10.3.0.1", 24).await;
        link::add_address(&h, "offlc", "fd03::1".parse().unwrap(), 64)
            .await
            .unwrap();
        let a6: IpAddr = "fd01::2".parse().unwrap();
        let b6: IpAddr = "fd02::2".parse().unwrap();
        let c6: IpAddr = "fd03::2".parse().unwrap();
        let oct = |ip: IpAddr| match ip {
            IpAddr::V4(x) => x.octets().to_vec(),
            IpAddr::V6(x) => x.octets().to_vec(),
        };
        std::thread::sleep(Duration::from_millis(100));
        // Several flows, so that the offload TUN's two queues both get some
        // whichever way this boot's flow hash falls.
        for sport in [33000, 33001, 33002, 33003] {
            let (r, g) = forward_through(&a, &[&b], &[10, 1, 0, 2], &[10, 2, 0, 2], sport);
            assert_eq!((r, g), (20, 0), "IPv4, cut by the kernel");
            let (r, g) = forward_through(&a, &[&b], &oct(a6), &oct(b6), sport);
            assert_eq!((r, g), (20, 0), "IPv6, cut by the kernel");
            let (r, g) = forward_through(&a, &[&c, &qc], &[10, 1, 0, 2], &[10, 3, 0, 2], sport);
            assert_eq!((r, g), (20, 20), "IPv4, one super packet");
            let (r, g) = forward_through(&a, &[&c, &qc], &oct(a6), &oct(c6), sport);
            assert_eq!((r, g), (20, 20), "IPv6, one super packet");
        }
    });
}

#[test]
fn udp_gso_through_an_offload_tun_and_the_fallback() {
    in_netns(|h| async move {
        let (t, q) = offload_tun(&h, "offlu", "10.1.0.1", 24).await;
        let plain = Tun::create("offlp").unwrap();
        link::set(&h, "offlp", true, Some(1500)).await.unwrap();
        link::add_address(&h, "offlp", "10.2.0.1".parse().unwrap(), 24)
            .await
            .unwrap();
        let sock = UdpSocket::bind("0.0.0.0:4500").unwrap();
        let mut tx = SendBatch::new(32, 2048);
        assert!(tx.enable_gso(&sock), "this kernel has UDP GSO");
        let dgrams: Vec<Vec<u8>> = (0..12)
            .map(|i| data(if i == 11 { 333 } else { 1200 }, i))
            .collect();
        // Out of the offload TUN: one USO super packet if the TUN took USO.
        for d in &dgrams {
            assert!(tx.push(d, "10.1.0.2:4500".parse().unwrap()));
        }
        assert_eq!(tx.flush(&sock).unwrap(), 12);
        assert_eq!(tx.gso_sends(), 1);
        let mut buf = vec![0u8; 65536 + 10];
        let mut got = Vec::new();
        let mut gso_reads = 0;
        while got.len() < dgrams.len() {
            let n = read_any(&[&t, &q], &mut buf, Duration::from_secs(3)).expect("datagrams");
            let (gso, segs) = cut(&buf[..n]);
            for s in segs {
                let (off, proto) = l4(&s);
                if s[0] >> 4 != 4 || proto != 17 || s[off + 2..off + 4] != 4500u16.to_be_bytes() {
                    continue;
                }
                check(&s).unwrap();
                gso_reads += usize::from(gso);
                got.push(payload(&s).to_vec());
            }
        }
        assert_eq!(got, dgrams);
        assert_eq!(
            gso_reads > 0,
            t.uso(),
            "USO super packets iff the TUN took USO"
        );
        // Into a TUN without checksum offload: the kernel cuts the run.
        for d in &dgrams {
            assert!(tx.push(d, "10.2.0.2:4500".parse().unwrap()));
        }
        assert_eq!(tx.flush(&sock).unwrap(), 12);
        assert_eq!(tx.gso_sends(), 2);
        let from_plain = |proto: u8, csum: bool| {
            let mut buf = vec![0u8; 65536];
            let mut got = Vec::new();
            while got.len() < 12 {
                let n = read_any(&[&plain], &mut buf, Duration::from_secs(3)).expect("datagrams");
                let s = &buf[..n];
                if s[0] >> 4 == 4 && s[9] == proto && s[22..24] == 4500u16.to_be_bytes() {
                    if csum {
                        check(s).unwrap();
                    }
                    got.push(s[28..].to_vec());
                }
            }
            got
        };
        assert_eq!(from_plain(17, true), dgrams);
        // A GSO send the kernel refuses with EINVAL (no UDP checksums,
        // SO_NO_CHECK) goes out without GSO; GSO stays on.
        let nocheck = UdpSocket::bind("0.0.0.0:0").unwrap();
        let one: libc::c_int = 1;
        // SAFETY: setsockopt(2) reads an int we own.
        let r = unsafe {
            libc::setsockopt(
                nocheck.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_NO_CHECK,
                (&one as *const libc::c_int).cast(),
                4,
            )
        };
        assert_eq!(r, 0);
        let mut tx2 = SendBatch::new(32, 2048);
        assert!(tx2.enable_gso(&nocheck));
        for d in &dgrams {
            assert!(tx2.push(d, "10.2.0.2:4500".parse().unwrap()));
        }
        assert_eq!(tx2.flush(&nocheck).unwrap(), 12);
        assert!(tx2.gso(), "EINVAL does not turn GSO off");
        assert_eq!(tx2.gso_sends(), 0);
        assert_eq!(from_plain(17, false), dgrams);
        // One refused with EIO (UDP-Lite) goes out without GSO, and GSO
        // goes off for good.
        // SAFETY: socket(2) with constant arguments.
        let lite = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, libc::IPPROTO_UDPLITE) };
        if lite < 0 {
            eprintln!("no UDP-Lite here: the EIO fallback is not exercised");
            return;
        }
        // SAFETY: a fresh descriptor we own.
        let lite = unsafe { OwnedFd::from_raw_fd(lite) };
        let mut tx3 = SendBatch::new(32, 2048);
        assert!(tx3.enable_gso(&lite));
        for d in &dgrams {
            assert!(tx3.push(d, "10.2.0.2:4500".parse().unwrap()));
        }
        assert_eq!(tx3.flush(&lite).unwrap(), 12);
        assert!(!tx3.gso(), "GSO is off after EIO");
        assert_eq!(tx3.gso_sends(), 0);
        assert_eq!(from_plain(libc::IPPROTO_UDPLITE as u8, false), dgrams);
    });
}

#[test]
fn batched_udp_over_loopback_with_gso_and_gro() {
    in_netns(|h| async move {
        link::set(&h, "lo", true, None).await.unwrap();
        let tx4 = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx6 = UdpSocket::bind("[::1]:0").unwrap();
        let plain = UdpSocket::bind("127.0.0.1:0").unwrap();
        let gro = UdpSocket::bind("127.0.0.1:0").unwrap();
        let six = UdpSocket::bind("[::1]:0").unwrap();
        for s in [&plain, &gro, &six] {
            s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        }
        let mut tx = SendBatch::new(64, 2048);
        assert!(tx.enable_gso(&tx4));
        let run: Vec<Vec<u8>> = (0..11)
            .map(|i| data(if i == 10 { 300 } else { 1200 }, i))
            .collect();
        let odd: Vec<Vec<u8>> = [10usize, 2000, 0, 555]
            .iter()
            .map(|&n| data(n, 99))
            .collect();
        // To `plain`: a GSO run, then datagrams of other sizes; to `gro`
        // the same run; in between, one to `plain` again.
        for d in &run {
            assert!(tx.push(d, plain.local_addr().unwrap()));
        }
        for d in &odd {
            assert!(tx.push(d, plain.local_addr().unwrap()));
        }
        for d in &run {
            assert!(tx.push(d, gro.local_addr().unwrap()));
        }
        assert_eq!(tx.len(), 26);
        // With headroom: the datagram is built in place after 64 bytes.
        let b = tx.next_buf().unwrap();
        b[64..64 + 5].copy_from_slice(b"tail!");
        assert!(tx.commit(64..69, plain.local_addr().unwrap()));
        assert!(!tx.commit(0..4096, plain.local_addr().unwrap()));
        let mut rx_gro = RecvBatch::new(8, GRO_BUF_SIZE + 16, 16);
        assert!(rx_gro.enable_gro(&gro).unwrap(), "this kernel has UDP GRO");
        assert!(
            !RecvBatch::new(8, 2048, 0).enable_gro(&plain).unwrap(),
            "small buffers"
        );
        assert_eq!(tx.flush(&tx4).unwrap(), 27);
        assert!(tx.is_empty());
        assert_eq!(tx.gso_sends(), 2, "the two runs");
        assert_eq!(tx.sent(), 27);
        // Without GRO: each datagram alone (the kernel cut the GSO runs).
        let mut rx = RecvBatch::new(64, 2048, 32);
        let mut got = Vec::new();
        while got.len() < 16 {
            let n = rx.recv(&plain).unwrap();
            assert!(n > 0);
            for m in rx.messages() {
                assert_eq!(m.from, tx4.local_addr().unwrap());
                assert_eq!(m.seg_size, 0);
                assert!(!m.truncated);
                assert_eq!(m.start, 32);
            }
            rx.for_each_datagram(|d, from| {
                assert_eq!(from, tx4.local_addr().unwrap());
                got.push(d.to_vec());
            });
        }
        let mut want: Vec<Vec<u8>> = run.iter().chain(&odd).cloned().collect();
        want.push(b"tail!".to_vec());
        assert_eq!(got, want);
        // With GRO: the run in one message, cut by its segment size.
        let n = rx_gro.recv(&gro).unwrap();
        let mut got = Vec::new();
        for i in 0..n {
            let m = rx_gro.message(i).unwrap();
            eprintln!("GRO message: {} bytes, segments of {}", m.len, m.seg_size);
            for r in m.segments() {
                got.push(rx_gro.buf(i)[r].to_vec());
            }
        }
        while got.len() < run.len() {
            rx_gro.recv(&gro).unwrap();
            rx_gro.for_each_datagram(|d, _| got.push(d.to_vec()));
        }
        assert_eq!(got, run);
        assert_eq!(rx_gro.message(0).unwrap().seg_size, 1200, "coalesced");
        // IPv6, without GSO.
        tx.disable_gso();
        for d in &odd {
            assert!(tx.push(d, six.local_addr().unwrap()));
        }
        assert_eq!(tx.flush(&tx6).unwrap(), 4);
        let mut rx6 = RecvBatch::new(4, 4096, 0);
        let mut got = Vec::new();
        while got.len() < 4 {
            rx6.recv(&six).unwrap();
            rx6.for_each_datagram(|d, from| {
                assert_eq!(from, tx6.local_addr().unwrap());
                got.push(d.to_vec());
            });
        }
        assert_eq!(got, odd);
        // Nothing queued: WouldBlock on a non-blocking socket.
        six.set_nonblocking(true).unwrap();
        assert_eq!(rx6.recv(&six).unwrap_err().kind(), ErrorKind::WouldBlock);
        // A send error drops that datagram, the rest go out.
        assert!(tx.push(b"x", "[::1]:9".parse().unwrap()));
        assert!(tx.push(b"y", plain.local_addr().unwrap()));
        let e = tx.flush(&tx4).unwrap_err();
        assert_eq!(
            e.raw_os_error(),
            Some(libc::EAFNOSUPPORT),
            "IPv6 destination, IPv4 socket"
        );
        assert_eq!(tx.dropped(), 1);
        assert!(tx.is_empty());
        assert_eq!(rx.recv(&plain).unwrap(), 1);
        assert_eq!(&rx.buf(0)[rx.message(0).unwrap().range()], b"y");
    });
}

#[test]
fn raw_esp_sockets_carry_esp_packets() {
    in_netns(|h| async move {
        link::set(&h, "lo", true, None).await.unwrap();
        for (v6_, addr) in [(false, "127.0.0.1"), (true, "::1")] {
            let ip: IpAddr = addr.parse().unwrap();
            let rx = RawEsp::new(v6_).unwrap();
            rx.bind(ip).unwrap();
            assert_eq!(rx.is_v6(), v6_);
            let tx = RawEsp::new(v6_).unwrap();
            let mut pkt = vec![0, 0, 0x10, 0x01, 0, 0, 0, 1];
            pkt.extend_from_slice(&data(100, 1));
            assert_eq!(tx.send_to(&pkt, ip).unwrap(), pkt.len());
            let mut buf = [0u8; 2048];
            let end = Instant::now() + Duration::from_secs(3);
            let (r, from) = loop {
                match rx.recv(&mut buf) {
                    Ok(x) => break x,
                    Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < end => {
                        std::thread::sleep(Duration::from_millis(2))
                    }
                    Err(e) => panic!("{e}"),
                }
            };
            assert_eq!(&buf[r], &pkt[..], "v6={v6_}");
            assert_eq!(from, ip);
            let mut small = [0u8; 16];
            tx.send_to(&pkt, ip).unwrap();
            rx.set_nonblocking(false).unwrap();
            assert_eq!(
                rx.recv(&mut small).unwrap_err().kind(),
                ErrorKind::InvalidData
            );
        }
    });
}
