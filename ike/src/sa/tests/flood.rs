//! Unauthenticated floods: the half-open caps (total and per address),
//! COOKIE demands and their secret rotation, oversized messages, and the
//! structure that keeps expiry and idle time free of scans.

use super::*;
use crate::sa::codec;
use crate::sa::guard::{COOKIE_GRACE, COOKIE_ROTATE, LOG_LINES_PER_SECOND};
use crate::sa::msg::notify as n;

/// A responder (B, dynamic tunnel) with the given limits.
fn responder(cookie: usize, total: usize, per_address: usize) -> (Side, Instant) {
    let now = Instant::now();
    let mut side = Side::new(B, 0x0fed_cba9_8765_4321, vec![b_dynamic()], now);
    side.e.set_config(
        EngineConfig {
            cookie_threshold: cookie,
            max_half_open: total,
            max_half_open_per_address: per_address,
            ..side.e.cfg.clone()
        },
        now,
    );
    drain(&mut side.e);
    (side, now)
}

/// An initiator's first IKE_SA_INIT request (x25519, AES-GCM), with a
/// COOKIE when given one; the same SPI gives the same nonce and KE.
fn init_request(spi_i: u64, cookie: Option<&[u8]>) -> Vec<u8> {
    let mut rng = TestRng(spi_i | 1);
    let mut ke = [0u8; 32];
    let mut ni = [0u8; 32];
    rng.fill(&mut ke).unwrap();
    rng.fill(&mut ni).unwrap();
    let prop = IkeProposal {
        encryption: vec![(20, 256)],
        integrity: vec![],
        prf: vec![6],
        groups: vec![31],
    };
    let msg = crate::sa::first_init_request(spi_i, cookie, &prop, (31, &ke), &ni);
    codec::encode(&msg, None, &mut rng).unwrap()
}

/// What the responder answered.
#[derive(Debug, PartialEq)]
enum Reply {
    /// Nothing: dropped.
    Dropped,
    /// A COOKIE demand with the cookie.
    Cookie(Vec<u8>),
    /// An IKE_SA_INIT response that creates the SA.
    Sa,
    /// Something else (a notify type).
    Other(u16),
}

fn drain(e: &mut Engine) -> Vec<Vec<u8>> {
    let mut sent = Vec::new();
    while let Some(o) = e.poll_output() {
        if let Output::Send { data, .. } = o {
            sent.push(data);
        }
    }
    sent
}

fn peer(i: u32) -> SocketAddr {
    SocketAddr::new(
        IpAddr::V4(std::net::Ipv4Addr::from(0xc633_6400 + i)), // 198.51.100.0 + i
        500,
    )
}

fn send(side: &mut Side, now: Instant, from: SocketAddr, data: &[u8]) -> Reply {
    let to = side.addr;
    side.e.handle_datagram(now, to, from, false, data);
    let sent = drain(&mut side.e);
    assert!(sent.len() <= 1, "one answer at most: {sent:?}");
    let Some(d) = sent.first() else {
        return Reply::Dropped;
    };
    let m = codec::decode(d, None).unwrap();
    if let Some(c) = m.notify(n::COOKIE) {
        return Reply::Cookie(c.to_vec());
    }
    if m.sa().is_some() {
        return Reply::Sa;
    }
    Reply::Other(m.error().map(|(t, _)| t).unwrap_or(0))
}

#[test]
fn a_cookie_is_demanded_from_the_threshold_on_and_only_the_right_one_passes() {
    let (mut b, now) = responder(3, 100, 100);
    for i in 0..3 {
        assert_eq!(
            send(&mut b, now, peer(i), &init_request(100 + i as u64, None)),
            Reply::Sa
        );
    }
    assert_eq!(b.e.half_open(), 3);
    let req = init_request(200, None);
    let Reply::Cookie(c) = send(&mut b, now, peer(9), &req) else {
        panic!("the 4th initiator must be asked for a COOKIE")
    };
    assert_eq!(b.e.half_open(), 3, "a COOKIE demand keeps no state");
    // A wrong cookie, or the right one from another address, is asked again.
    let mut wrong = c.clone();
    *wrong.last_mut().unwrap() ^= 1;
    assert!(matches!(
        send(&mut b, now, peer(9), &init_request(200, Some(&wrong))),
        Reply::Cookie(_)
    ));
    assert!(matches!(
        send(&mut b, now, peer(10), &init_request(200, Some(&c))),
        Reply::Cookie(_)
    ));
    assert_eq!(
        send(&mut b, now, peer(9), &init_request(200, Some(&c))),
        Reply::Sa
    );
    assert_eq!(b.e.half_open(), 4);
    assert_eq!(b.e.guard_stats().cookies_sent, 3);
}

#[test]
fn half_open_caps_drop_silently_in_total_and_per_address_until_sas_expire() {
    let (mut b, now) = responder(1000, 5, 2);
    let x = peer(1);
    assert_eq!(send(&mut b, now, x, &init_request(1, None)), Reply::Sa);
    assert_eq!(send(&mut b, now, x, &init_request(2, None)), Reply::Sa);
    assert_eq!(send(&mut b, now, x, &init_request(3, None)), Reply::Dropped);
    assert_eq!(b.e.guard_stats().dropped_address_limit, 1);
    // A retransmission of an answered request still gets its answer.
    assert_eq!(send(&mut b, now, x, &init_request(2, None)), Reply::Sa);
    for i in 2..5 {
        assert_eq!(
            send(&mut b, now, peer(i), &init_request(10 + i as u64, None)),
            Reply::Sa
        );
    }
    assert_eq!(b.e.half_open(), 5);
    assert_eq!(
        send(&mut b, now, peer(7), &init_request(70, None)),
        Reply::Dropped
    );
    assert_eq!(b.e.guard_stats().dropped_total_limit, 1);
    assert_eq!(b.e.half_open(), 5, "nothing was created over the cap");
    assert_eq!(b.e.sa_count(), 5);
    // They expire; the caps free up.
    let later = now + HALF_OPEN_TIMEOUT;
    assert_eq!(b.e.poll_timeout(), Some(later));
    b.e.handle_timeout(later);
    assert_eq!((b.e.half_open(), b.e.sa_count()), (0, 0));
    assert_eq!(b.e.guard_stats().half_open_expired, 5);
    assert_eq!(send(&mut b, later, x, &init_request(3, None)), Reply::Sa);
    // A lower limit applies at once, without touching what exists.
    let cfg = EngineConfig {
        max_half_open: 1,
        ..b.e.cfg.clone()
    };
    b.e.set_config(cfg, later);
    assert_eq!(b.e.sa_count(), 1);
    assert_eq!(
        send(&mut b, later, peer(8), &init_request(80, None)),
        Reply::Dropped
    );
}

#[test]
fn an_old_cookie_is_accepted_during_the_grace_period_then_refused() {
    let (mut b, t0) = responder(0, 100, 100);
    let Reply::Cookie(c1) = send(&mut b, t0, peer(1), &init_request(1, None)) else {
        panic!("threshold 0 demands a COOKIE")
    };
    let Reply::Cookie(c2) = send(&mut b, t0, peer(2), &init_request(2, None)) else {
        panic!()
    };
    // The secret changes; the previous one is still good for a while.
    let t1 = t0 + COOKIE_ROTATE + Duration::from_secs(1);
    assert_eq!(
        send(&mut b, t1, peer(1), &init_request(1, Some(&c1))),
        Reply::Sa
    );
    let Reply::Cookie(c3) = send(&mut b, t1, peer(3), &init_request(3, None)) else {
        panic!()
    };
    assert_ne!(c3[0], c1[0], "the new secret has a new version");
    // After the grace period the old one is refused and a new one handed out.
    let t2 = t1 + COOKIE_GRACE;
    match send(&mut b, t2, peer(2), &init_request(2, Some(&c2))) {
        Reply::Cookie(c) => assert_ne!(c, c2),
        other => panic!("an expired cookie must not pass: {other:?}"),
    }
    // The current secret keeps working.
    assert_eq!(
        send(&mut b, t2, peer(3), &init_request(3, Some(&c3))),
        Reply::Sa
    );
}

#[test]
fn oversized_messages_are_dropped_from_the_header() {
    let (mut b, now) = responder(1000, 100, 100);
    // An IKE_SA_INIT request over 8 KiB (the header says so too).
    let mut big = init_request(1, None);
    big.resize(9000, 0);
    big[24..28].copy_from_slice(&9000u32.to_be_bytes());
    assert_eq!(send(&mut b, now, peer(1), &big), Reply::Dropped);
    // Any message whose Length field claims more than 64 KiB.
    let mut claim = init_request(2, None);
    claim[8..16].copy_from_slice(&7u64.to_be_bytes()); // SPIr: not a first request
    claim[24..28].copy_from_slice(&100_000u32.to_be_bytes());
    assert_eq!(send(&mut b, now, peer(1), &claim), Reply::Dropped);
    assert_eq!(b.e.guard_stats().dropped_oversize, 2);
    assert_eq!(b.e.sa_count(), 0);
    let logged: Vec<String> = std::iter::from_fn(|| b.e.poll_log()).collect();
    assert!(
        logged
            .iter()
            .filter(|l| l.contains("dropped an IKE message of"))
            .count()
            == 2,
        "{logged:#?}"
    );
    // The same request at a normal size is answered.
    assert_eq!(
        send(&mut b, now, peer(1), &init_request(1, None)),
        Reply::Sa
    );
}

#[test]
fn ten_thousand_half_open_sas_expire_without_scans_and_the_memory_goes() {
    const N: u32 = 10_000;
    let (mut b, now) = responder(1000, 100_000, 100_000);
    let local = b.addr;
    for i in 0..N {
        let remote = peer(i % 100);
        let spi_r = 0x1000_0000 + u64::from(i);
        let sa = crate::sa::ike_sa::IkeSa::new(false, u64::from(i) + 1, spi_r, local, remote, now);
        b.e.sas
            .insert_responder(spi_r, sa, (remote, u64::from(i) + 1));
    }
    b.e.sync();
    assert_eq!(b.e.half_open(), N as usize);
    assert_eq!(b.e.sas.half_open_from(peer(7).ip()), 100);
    assert_eq!(b.e.sas.heap_len(), N as usize, "one timer each");
    assert_eq!(b.e.poll_timeout(), Some(now + HALF_OPEN_TIMEOUT));
    // Between events, nothing is looked at.
    let before = b.e.sas.work;
    b.e.handle_timeout(now + Duration::from_secs(10));
    assert_eq!(b.e.sas.work, before, "an idle timer tick touched SAs");
    // Expiry touches each SA a bounded number of times.
    b.e.handle_timeout(now + HALF_OPEN_TIMEOUT);
    let w = b.e.sas.work;
    assert_eq!((b.e.half_open(), b.e.sa_count()), (0, 0));
    assert!(w.popped - before.popped <= u64::from(N), "{w:?}");
    assert!(w.synced - before.synced <= 2 * u64::from(N), "{w:?}");
    assert_eq!(b.e.sas.by_init_len(), 0);
    assert_eq!(b.e.sas.heap_len(), 0);
    assert!(b.e.sas.capacity() <= 1024, "{}", b.e.sas.capacity());
    // Only the log summary still wants a tick.
    assert_eq!(
        b.e.poll_timeout(),
        Some(now + HALF_OPEN_TIMEOUT + Duration::from_secs(1))
    );
    // 10,000 expiries log a few lines and one summary, not 10,000.
    b.e.handle_timeout(now + HALF_OPEN_TIMEOUT + Duration::from_secs(1));
    let logged: Vec<String> = std::iter::from_fn(|| b.e.poll_log()).collect();
    let shown = logged
        .iter()
        .filter(|l| l.starts_with("half-open IKE SA with"))
        .count();
    assert_eq!(shown, LOG_LINES_PER_SECOND as usize, "{logged:#?}");
    assert!(
        logged.iter().any(|l| l.contains(&format!(
            "suppressed {} more log lines",
            N - LOG_LINES_PER_SECOND
        ))),
        "{logged:#?}"
    );
}

#[test]
fn a_legitimate_peer_gets_in_during_a_flood_of_strangers() {
    let mut p = standard();
    let now = p.now;
    // 300 spoofed initiators that never answer a COOKIE.
    let mut cookies = 0;
    for i in 0..300 {
        match send(
            &mut p.b,
            now,
            peer(i),
            &init_request(5000 + u64::from(i), None),
        ) {
            Reply::Cookie(_) => cookies += 1,
            Reply::Sa => {}
            other => panic!("{other:?}"),
        }
    }
    let threshold = p.b.e.cfg.cookie_threshold;
    assert_eq!(cookies, 300 - threshold);
    assert_eq!(p.b.e.half_open(), threshold);
    p.run(Duration::from_secs(5));
    assert_eq!(p.a.last(), Some(&TunnelStatus::Up), "{:#?}", p.a.log);
    assert!(p.a.log.iter().any(|l| l.contains("asks for a COOKIE")));
    p.assert_paired();
    // The strangers' SAs expire, the tunnel stays.
    p.run(HALF_OPEN_TIMEOUT);
    assert_eq!(p.b.e.half_open(), 0);
    assert_eq!(p.b.e.sa_count(), 1);
    assert_eq!(p.b.last(), Some(&TunnelStatus::Up));
}

#[test]
fn the_cookie_check_walks_the_payload_headers_like_the_parser() {
    let plain = init_request(1, None);
    let s = codec::scan_init(&plain).unwrap();
    assert_eq!((s.cookie, s.nonce.len()), (None, 32));
    let c = [0u8, 0xab, 0xcd, 0xef];
    let with = init_request(1, Some(&c));
    let s2 = codec::scan_init(&with).unwrap();
    assert_eq!(s2.cookie, Some(&c[..]));
    assert_eq!(s2.nonce, s.nonce, "same SPI, same nonce");
    let m = codec::decode(&with, None).unwrap();
    assert_eq!(m.nonce(), Some(s2.nonce));
    assert_eq!(m.notify(n::COOKIE), s2.cookie);
    // A chain cut anywhere is refused, never read past its end.
    for cut in 0..with.len() {
        assert_eq!(codec::scan_init(&with[..cut]), None, "cut at {cut}");
    }
    // Garbage never panics.
    let mut rng = TestRng(99);
    for len in 0..400 {
        let mut junk = vec![0u8; len];
        rng.fill(&mut junk).unwrap();
        let _ = codec::scan_init(&junk);
    }
}

#[test]
fn a_timer_tick_costs_the_due_sas_only_among_ten_thousand_idle_ones() {
    const N: u64 = 10_000;
    let (mut b, now) = responder(1000, 1000, 10);
    let local = b.addr;
    for i in 0..N {
        let remote = peer((i % 5000) as u32);
        let mut sa = crate::sa::ike_sa::IkeSa::new(true, 1 + i, 0x9000 + i, local, remote, now);
        sa.state = crate::sa::ike_sa::IkeState::Established;
        sa.rekey_at = Some(now + Duration::from_secs(86_400));
        sa.expire_at = Some(now + Duration::from_secs(95_000));
        // DPD probes spread over 100 s: 100 due each second.
        sa.next_dpd = Some(now + Duration::from_secs(1 + i % 100));
        b.e.sas.insert(1 + i, sa);
    }
    b.e.sync();
    assert_eq!(b.e.half_open(), 0, "initiator SAs are not half-open");
    assert_eq!(b.e.sas.heap_len(), N as usize);
    let before = b.e.sas.work;
    b.e.handle_timeout(now + Duration::from_millis(500));
    assert_eq!(b.e.sas.work, before, "nothing due, nothing touched");
    b.e.handle_timeout(now + Duration::from_secs(1));
    let w = b.e.sas.work;
    assert_eq!(w.popped - before.popped, 100);
    assert_eq!(w.synced - before.synced, 100);
    assert_eq!(b.e.sa_count(), N as usize);
    assert!(b.e.sas.heap_len() <= 2 * N as usize + 1024);
    assert_eq!(
        b.e.poll_timeout(),
        Some(now + Duration::from_secs(2)),
        "the next second's probes"
    );
}
