//! A TUN device named like a tunnel interface carries packets between the
//! kernel and rvpn, configured over rtnetlink. Runs in a network namespace
//! of its own (this test thread only); needs root.

use esp_io::{link, tun::Tun};
use std::net::IpAddr;
use std::time::Duration;

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

fn ipv4_udp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut udp = Vec::new();
    udp.extend_from_slice(&sport.to_be_bytes());
    udp.extend_from_slice(&dport.to_be_bytes());
    udp.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let total = (20 + udp.len()) as u16;
    let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let mut sum: u32 = ip
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    ip.extend_from_slice(&udp);
    ip
}

#[test]
fn tun_carries_packets_to_and_from_the_kernel() {
    private_netns();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (conn, h, _) = rtnetlink::new_connection().unwrap();
        tokio::spawn(conn);
        let t = Tun::create("Tunnel7").unwrap();
        let q2 = t.open_queue().unwrap();
        link::set(&h, "Tunnel7", true, Some(1400)).await.unwrap();
        let addr: IpAddr = "169.254.7.1".parse().unwrap();
        link::add_address(&h, "Tunnel7", addr, 30).await.unwrap();
        link::add_address(&h, "Tunnel7", addr, 30)
            .await
            .expect("adding it again is not an error");
        // A datagram to the far end of the /30 comes out of the TUN (on
        // one of its queues), after whatever the kernel sends by itself.
        let s = std::net::UdpSocket::bind("169.254.7.1:0").unwrap();
        s.send_to(b"hello", "169.254.7.2:9").unwrap();
        let mut buf = [0u8; 2000];
        let mut got = None;
        for _ in 0..100 {
            for q in [&t, &q2] {
                while let Ok(n) = q.recv(&mut buf) {
                    if n > 20 && buf[0] >> 4 == 4 && buf[16..20] == [169, 254, 7, 2] {
                        got = Some(buf[..n].to_vec());
                    }
                }
            }
            if got.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let pkt = got.expect("the datagram came out of the TUN");
        assert!(pkt.ends_with(b"hello"));
        // A packet written into the TUN reaches a local socket.
        let rx = std::net::UdpSocket::bind("169.254.7.1:4000").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        t.send(&ipv4_udp(
            [169, 254, 7, 2],
            [169, 254, 7, 1],
            12345,
            4000,
            b"world",
        ))
        .unwrap();
        let mut b2 = [0u8; 64];
        let (n, from) = rx.recv_from(&mut b2).unwrap();
        assert_eq!(&b2[..n], b"world");
        assert_eq!(from.ip().to_string(), "169.254.7.2");
        link::delete(&h, "Tunnel7").await.unwrap();
        assert!(link::index(&h, "Tunnel7").await.is_err(), "deleted");
        link::delete(&h, "Tunnel7")
            .await
            .expect("deleting a missing one is not an error");
        assert!(Tun::create("bad/name").is_err());
    });
}

/// A hub's spoke TUN: single-queue (no second queue), IPv6 off on request
/// (no link-local address when it comes up), and deleted with the rest of
/// its interface group in one request while its descriptor is still open.
#[test]
fn single_queue_tuns_go_as_a_group() {
    private_netns();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (conn, h, _) = rtnetlink::new_connection().unwrap();
        tokio::spawn(conn);
        let group = 0x7276_0001;
        let mut tuns = Vec::new();
        for i in 0..3 {
            let name = format!("Tunnel{i}");
            let (t, _) = Tun::create_offload_single(&name).unwrap();
            assert!(t.open_queue().is_err(), "a single-queue TUN has one queue");
            link::set_ipv6(&name, i != 0).unwrap();
            link::set_in_group(&h, name.as_str(), true, Some(1400), Some(group))
                .await
                .unwrap();
            tuns.push(t);
        }
        // One outside the group stays.
        let (_other, _) = Tun::create_offload_single("Tunnel9").unwrap();
        let ip = std::process::Command::new("ip")
            .args(["-6", "addr", "show", "dev", "Tunnel0"])
            .output()
            .unwrap();
        let v6 = String::from_utf8_lossy(&ip.stdout).to_string();
        assert!(!v6.contains("inet6"), "IPv6 is off on Tunnel0: {v6}");
        assert!(link::get(&h, "Tunnel1").await.unwrap().is_some());
        link::delete_group(&h, group).await.unwrap();
        for i in 0..3 {
            let name = format!("Tunnel{i}");
            assert!(
                link::get(&h, name.as_str()).await.unwrap().is_none(),
                "{name} is gone"
            );
        }
        assert!(link::get(&h, "Tunnel9").await.unwrap().is_some());
        // An empty group is not an error; group 0 is refused.
        link::delete_group(&h, group).await.unwrap();
        assert!(link::delete_group(&h, 0).await.is_err());
        drop(tuns);
    });
}
