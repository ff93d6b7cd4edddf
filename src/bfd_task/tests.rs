//! The BFD task's reception, demultiplexing, passive sessions and timer
//! heap, driven by hand (no sockets, no BGP).

use super::*;
use bfd::Diag;

fn task(cfg: &str) -> Task {
    let mut t = Task::new(100, None);
    let cfg = vtysh::load_config(cfg, &Config::default()).unwrap_or_else(|e| panic!("{e:?}"));
    t.set_config(cfg);
    t
}

/// `task`, with the BGP speaker knowing `known` as dynamic neighbors.
fn task_knowing(cfg: &str, known: &[&str]) -> Task {
    let mut t = task(cfg);
    t.set_known(Arc::new(known.iter().map(|a| a.parse().unwrap()).collect()));
    t
}

fn meta(src: &str, len: usize, ttl: Option<u8>) -> sock::RecvMeta {
    sock::RecvMeta {
        len,
        src: SocketAddr::new(src.parse().unwrap(), 49200),
        ttl,
        ifindex: Some(3),
        dst: Some("10.1.0.1".parse().unwrap()),
    }
}

fn pkt(my: u32, your: u32) -> Vec<u8> {
    ControlPacket {
        diag: Diag::None,
        state: State::Down,
        poll: false,
        final_: false,
        cpi: false,
        demand: false,
        detect_mult: 3,
        my_discr: my,
        your_discr: your,
        desired_min_tx_us: 1_000_000,
        required_min_rx_us: 300_000,
        required_min_echo_rx_us: 0,
        auth: None,
    }
    .to_vec()
}

const CFG: &str = "router bgp 65000\n neighbor D peer-group\n neighbor D remote-as external\n \
     neighbor D bfd\n bgp listen range 172.16.0.0/16 peer-group D\n \
     neighbor 10.1.0.2 remote-as 65001\n neighbor 10.1.0.2 bfd\n";

#[test]
fn gtsm_malformed_and_unknown_packets_are_counted_and_dropped() {
    let mut t = task(CFG);
    assert_eq!(t.sessions.len(), 1);
    let good = pkt(7, 0);
    // TTL 64 or unknown: GTSM drops it.
    t.received(Ok(meta("10.1.0.2", good.len(), Some(64))), &good);
    t.received(Ok(meta("10.1.0.2", good.len(), Some(254))), &good);
    t.received(Ok(meta("10.1.0.2", good.len(), None)), &good);
    assert_eq!(t.drops.ttl, 3);
    // Garbage, truncated, a length beyond the buffer: parse errors.
    let junk = [0xffu8; 30];
    t.received(Ok(meta("10.1.0.2", junk.len(), Some(255))), &junk);
    t.received(Ok(meta("10.1.0.2", 10, Some(255))), &good);
    t.received(Ok(meta("10.1.0.2", 4000, Some(255))), &good);
    assert_eq!(t.drops.parse, 3);
    // No session: another peer; a discriminator that is not ours.
    t.received(Ok(meta("10.1.0.9", good.len(), Some(255))), &good);
    let wrong = pkt(7, 4242);
    t.received(Ok(meta("10.1.0.2", wrong.len(), Some(255))), &wrong);
    assert_eq!(t.drops.no_session, 2);
    let e = t.sessions.values().next().unwrap();
    assert_eq!(e.rx, 0, "nothing reached the session");
    // The good one at TTL 255 does, and binds the session to the link.
    t.received(Ok(meta("10.1.0.2", good.len(), Some(255))), &good);
    let e = t.sessions.values().next().unwrap();
    assert_eq!(e.rx, 1);
    assert_eq!(e.session.remote_discr(), 7);
    assert_eq!(e.session.state(), State::Init);
    assert_eq!(e.ifindex, Some(3));
    // Then by our discriminator.
    let d = *t.sessions.keys().next().unwrap();
    let mine = pkt(7, d);
    t.received(Ok(meta("10.1.0.2", mine.len(), Some(255))), &mine);
    assert_eq!(t.sessions[&d].rx, 2);
}

#[test]
fn dynamic_neighbor_gets_a_session_when_it_speaks_bfd() {
    let mut t = task_knowing(CFG, &["172.16.3.4"]);
    let p = pkt(9, 0);
    t.received(Ok(meta("172.16.3.4", p.len(), Some(255))), &p);
    assert_eq!(t.sessions.len(), 2);
    let e = t
        .sessions
        .values()
        .find(|e| e.spec.peer == "172.16.3.4".parse::<IpAddr>().unwrap())
        .unwrap();
    assert!(e.spec.dynamic);
    assert_eq!(e.rx, 1);
    // It answers from the address the neighbor sent to (a hub's loopback,
    // not the kernel's choice of source), which the neighbor expects.
    assert_eq!(e.spec.local, Some("10.1.0.1".parse().unwrap()));
    // Outside every range: none.
    t.received(Ok(meta("192.0.2.1", p.len(), Some(255))), &p);
    assert_eq!(t.sessions.len(), 2);
    // The group loses bfd: the dynamic session goes, the configured stays.
    let cfg = CFG.replace(" neighbor D bfd\n", "");
    t.set_config(vtysh::load_config(&cfg, &Config::default()).unwrap());
    assert_eq!(t.sessions.len(), 1);
    // Unconfigured: gone.
    let cfg = cfg.replace(" neighbor 10.1.0.2 bfd\n", "");
    t.set_config(vtysh::load_config(&cfg, &Config::default()).unwrap());
    assert!(t.sessions.is_empty());
}

#[test]
fn sources_the_bgp_speaker_does_not_know_get_no_session() {
    let mut t = task_knowing(CFG, &["172.16.9.9"]);
    let p = pkt(9, 0);
    // A flood from every address of a /24 of the listen range.
    for i in 1..=254u32 {
        let src = format!("172.16.7.{i}");
        for _ in 0..3 {
            t.received(Ok(meta(&src, p.len(), Some(255))), &p);
        }
    }
    assert_eq!(t.sessions.len(), 1, "only the configured neighbor's");
    assert_eq!(t.admission.refusals().not_neighbor, 254 * 3);
    assert_eq!(t.admission.total(), 0);
    // The neighbor BGP knows gets one.
    t.received(Ok(meta("172.16.9.9", p.len(), Some(255))), &p);
    assert_eq!(t.sessions.len(), 2);
    assert_eq!(t.admission.total(), 1);
    // Show says what was dropped.
    let text = show::show(&t, false, false);
    assert!(
        text.contains("Passive sessions: 1 (at most 100 per listen range, 1024 in all); refused 762 packets: 762 not a BGP neighbor, 0 listen range full, 0 over the cap"),
        "{text}"
    );
    // BGP forgets it while it is not Up: its session goes, and the count.
    t.set_known(Arc::new(BTreeSet::new()));
    assert_eq!(t.sessions.len(), 1);
    assert_eq!(t.admission.total(), 0);
}

#[test]
fn passive_sessions_stop_at_the_listen_limit() {
    let cfg = format!("{CFG} bgp listen limit 5\n");
    let known: Vec<String> = (1..=50).map(|i| format!("172.16.1.{i}")).collect();
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    let mut t = task_knowing(&cfg, &known);
    let p = pkt(9, 0);
    for src in &known {
        t.received(Ok(meta(src, p.len(), Some(255))), &p);
    }
    assert_eq!(t.admission.in_range(&"172.16.0.0/16".parse().unwrap()), 5);
    assert_eq!(t.sessions.len(), 1 + 5);
    assert_eq!(t.admission.refusals().range_full, 45);
    // One goes (its range loses bfd and gets it back): room again.
    let cfg2 = cfg.replace(" neighbor D bfd\n", "");
    t.set_config(vtysh::load_config(&cfg2, &Config::default()).unwrap());
    assert_eq!(t.admission.total(), 0);
    t.set_config(vtysh::load_config(&cfg, &Config::default()).unwrap());
    t.received(Ok(meta("172.16.1.50", p.len(), Some(255))), &p);
    assert_eq!(t.admission.total(), 1);
}

#[test]
fn passive_sessions_stop_at_the_global_cap() {
    // Limits per range far above the global cap: the cap holds.
    let cfg = format!("{CFG} bgp listen limit 65535\n");
    let mut t = task(&cfg);
    let n = MAX_PASSIVE_SESSIONS + 200;
    let known: BTreeSet<IpAddr> = (0..n as u32)
        .map(|i| IpAddr::V4(std::net::Ipv4Addr::from(0xac10_0000 + i + 1)))
        .collect();
    t.set_known(Arc::new(known.clone()));
    let p = pkt(9, 0);
    for a in &known {
        t.received(Ok(meta(&a.to_string(), p.len(), Some(255))), &p);
    }
    assert_eq!(t.admission.total(), MAX_PASSIVE_SESSIONS);
    assert_eq!(t.sessions.len(), 1 + MAX_PASSIVE_SESSIONS);
    assert_eq!(t.admission.refusals().global_full, 200);
}

/// What the heap must agree with: the earliest timer over all
/// sessions (the scan it replaces), at most 5 s away.
fn scanned_deadline(t: &Task) -> Instant {
    let mut d = Instant::now() + Duration::from_secs(5);
    for e in t.sessions.values() {
        if let Some(x) = e.session.poll_timeout() {
            d = d.min(Instant::from_std(x));
        }
        if e.sock.is_none() {
            d = d.min(e.next_sock_try);
        }
    }
    d
}

#[test]
fn the_timer_heap_agrees_with_a_scan_and_holds_one_entry_per_session() {
    let mut t = task_knowing(CFG, &["172.16.3.4", "172.16.3.5"]);
    let p = pkt(9, 0);
    t.received(Ok(meta("172.16.3.4", p.len(), Some(255))), &p);
    t.received(Ok(meta("172.16.3.5", p.len(), Some(255))), &p);
    assert_eq!(t.sessions.len(), 3);
    t.drive(Instant::now());
    assert_eq!(t.timers.len(), t.sessions.len(), "one live entry each");
    assert!(t.touched.is_empty() && !t.all_touched);
    let (heap, scan) = (t.next_deadline(), scanned_deadline(&t));
    assert!(heap <= scan, "the heap must not wake later than a scan");
    // A packet for one session moves only that session's entry.
    let d = t
        .sessions
        .iter()
        .find(|(_, e)| e.spec.peer == "172.16.3.4".parse::<IpAddr>().unwrap())
        .map(|(d, _)| *d)
        .unwrap();
    let mine = pkt(9, d);
    t.received(Ok(meta("172.16.3.4", mine.len(), Some(255))), &mine);
    assert_eq!(t.touched, vec![d]);
    t.drive(Instant::now());
    assert!(t.timers.len() <= 2 * t.sessions.len() + 64);
    assert!(t.next_deadline() <= scanned_deadline(&t));
    // Sessions that are removed leave only stale entries, which go.
    let cfg = CFG.replace(" neighbor D bfd\n", "");
    t.set_config(vtysh::load_config(&cfg, &Config::default()).unwrap());
    t.drive(Instant::now());
    assert_eq!(t.sessions.len(), 1);
    let live = t
        .timers
        .iter()
        .filter(|Reverse((_, d, g))| t.sessions.get(d).is_some_and(|e| e.generation == *g))
        .count();
    assert_eq!(live, 1);
}

#[test]
fn timer_changes_keep_the_session() {
    let mut t = task(CFG);
    let d = *t.sessions.keys().next().unwrap();
    let cfg = CFG.replace(
        " neighbor 10.1.0.2 bfd\n",
        " neighbor 10.1.0.2 bfd 5 100 200\n",
    );
    t.set_config(vtysh::load_config(&cfg, &Config::default()).unwrap());
    let e = &t.sessions[&d];
    assert_eq!(e.session.config().detect_mult, 5);
    assert_eq!(
        e.session.config().required_min_rx,
        Duration::from_millis(100)
    );
    assert_eq!(
        e.session.config().desired_min_tx,
        Duration::from_millis(200)
    );
}

/// The listener reports TTL, destination and interface (loopback).
#[test]
fn listener_reports_ttl_and_destination() {
    let l = sock::listener(false, 0).unwrap();
    let port = l.local_addr().unwrap().port();
    for ttl in [255u32, 17] {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_ttl(ttl).unwrap();
        s.send_to(&[1, 2, 3], ("127.0.0.1", port)).unwrap();
        let mut buf = [0u8; 64];
        let mut got = None;
        for _ in 0..100 {
            match sock::recv(l.as_fd(), &mut buf) {
                Ok(m) => {
                    got = Some(m);
                    break;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        let m = got.expect("datagram received");
        assert_eq!(m.len, 3);
        assert_eq!(m.ttl, Some(ttl as u8));
        assert_eq!(m.dst, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(m.ifindex, Some(1));
        assert_eq!(m.src, s.local_addr().unwrap());
    }
    // A sender: TTL 255 from the BFD source port range.
    let s = sock::sender("127.0.0.1".parse().unwrap(), None, 50000).unwrap();
    assert!(sock::SRC_PORTS.contains(&s.local_addr().unwrap().port()));
    assert_eq!(s.ttl().unwrap(), 255);
}
