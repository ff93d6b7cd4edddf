//! IKE fragmentation (RFC 7383) between two engines: negotiation, sizes,
//! loss and retransmission of fragments, reordering, duplicates, the
//! reassembly timeout, and a flood of authenticated junk fragments.

use super::*;
use crate::sa::frag::{self, message_limit, MAX_REASSEMBLY};
use crate::sa::msg::INFORMATIONAL;
use crate::wire::{self, ExchangeType, Flags, PayloadType};

/// Forces a PSK IKE_AUTH (about 300-400 octets) into fragments.
const MTU: u16 = 300;

fn pair(a: Option<u16>, b: Option<u16>) -> Pair {
    let mut p = standard();
    p.a.e.cfg.fragment_mtu = a;
    p.b.e.cfg.fragment_mtu = b;
    p
}

/// One datagram in flight: from A?, the bytes.
type Wire = (bool, Vec<u8>);

/// Like [`Pair::run`] without NAT, with every datagram passed through
/// `net`, which returns what to deliver instead (nothing: lost; twice:
/// duplicated; reordered within the batch it sees).
fn pump(p: &mut Pair, dur: Duration, net: &mut dyn FnMut(Vec<Wire>) -> Vec<Wire>) {
    let end = p.now + dur;
    for _ in 0..100_000 {
        let mut batch = Vec::new();
        for from_a in [true, false] {
            let src = if from_a { &mut p.a } else { &mut p.b };
            while let Some(l) = src.e.poll_log() {
                src.log.push(l);
            }
            while let Some(o) = src.e.poll_output() {
                match o {
                    Output::Send { data, .. } if data.len() > 1 => batch.push((from_a, data)),
                    Output::Send { .. } => {}
                    Output::ChildUp(c) => {
                        src.ups += 1;
                        let spi = c.spi_in;
                        src.children.insert(spi, *c);
                        src.e.child_installed(spi, Ok(()), p.now);
                    }
                    Output::ChildDown { spi_in, .. } => {
                        src.children.remove(&spi_in);
                    }
                    Output::Status { status, .. } => src.status.push(status),
                    Output::ChildMoved(_) => {}
                }
            }
        }
        if !batch.is_empty() {
            for (from_a, data) in net(batch) {
                let (dst, fr) = if from_a {
                    (&mut p.b, p.a.addr)
                } else {
                    (&mut p.a, p.b.addr)
                };
                dst.e.handle_datagram(p.now, dst.addr, fr, false, &data);
            }
            continue;
        }
        let next = [p.a.e.poll_timeout(), p.b.e.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        match next {
            Some(t) if t <= end => {
                p.now = p.now.max(t);
                p.a.e.handle_timeout(p.now);
                p.b.e.handle_timeout(p.now);
            }
            _ => {
                p.now = end;
                return;
            }
        }
    }
    panic!("no quiescence");
}

/// (Fragment Number, Total Fragments) of an SKF datagram.
fn frag_of(d: &[u8]) -> Option<(u16, u16)> {
    let v = wire::parse_encrypted(d).ok()??;
    v.fragment.map(|f| (f.number, f.total))
}

fn info(side: &Side, now: Instant) -> IkeSaInfo {
    side.e.ike_sas(now).into_iter().next().expect("an IKE SA")
}

fn assert_up(p: &Pair) {
    assert_eq!(p.a.last(), Some(&TunnelStatus::Up), "A: {:#?}", p.a.log);
    assert_eq!(p.b.last(), Some(&TunnelStatus::Up), "B: {:#?}", p.b.log);
    p.assert_paired();
}

#[test]
fn ike_auth_in_fragments_both_ways_each_within_the_mtu() {
    let mut p = pair(Some(MTU), Some(MTU));
    let limit = message_limit(MTU, false, false);
    let mut frags = Vec::new();
    let mut biggest = 0;
    pump(&mut p, Duration::from_secs(5), &mut |b| {
        for (from_a, d) in &b {
            if d[18] != ExchangeType::IKE_SA_INIT.0 {
                biggest = biggest.max(d.len());
            }
            if let Some(f) = frag_of(d) {
                frags.push((*from_a, d[18], f));
            }
        }
        b
    });
    assert_up(&p);
    assert!(biggest <= limit, "{biggest} > {limit}");
    // Both IKE_AUTH messages went in fragments, numbered 1..=N.
    for from_a in [true, false] {
        let mine: Vec<(u16, u16)> = frags
            .iter()
            .filter(|(a, ex, _)| *a == from_a && *ex == ExchangeType::IKE_AUTH.0)
            .map(|(_, _, f)| *f)
            .collect();
        assert!(mine.len() >= 2, "{frags:?}");
        let n = mine[0].1;
        assert_eq!(mine, (1..=n).map(|i| (i, n)).collect::<Vec<_>>());
    }
    let (a, b) = (info(&p.a, p.now), info(&p.b, p.now));
    assert!(a.fragmentation && b.fragmentation);
    assert!(
        a.fragments.0 >= 2 && a.fragments.1 >= 2,
        "{:?}",
        a.fragments
    );
    assert_eq!(a.fragments.0, b.fragments.1);
    assert_eq!(b.fragments.0, a.fragments.1);
    assert!(p
        .b
        .log
        .iter()
        .any(|l| l.contains("fragments") && l.contains("reassembled")));
}

#[test]
fn the_default_mtu_fragments_nothing_small() {
    let mut p = pair(Some(frag::DEFAULT_MTU), Some(frag::DEFAULT_MTU));
    let mut n = 0;
    pump(&mut p, Duration::from_secs(5), &mut |b| {
        n += b.iter().filter(|(_, d)| frag_of(d).is_some()).count();
        b
    });
    assert_up(&p);
    assert_eq!(n, 0);
    assert!(info(&p.a, p.now).fragmentation, "negotiated all the same");
}

#[test]
fn a_peer_without_fragmentation_gets_whole_messages() {
    for (a, b) in [(Some(MTU), None), (None, Some(MTU))] {
        let mut p = pair(a, b);
        let mut n = 0;
        let mut announced = 0;
        pump(&mut p, Duration::from_secs(5), &mut |b| {
            n += b.iter().filter(|(_, d)| frag_of(d).is_some()).count();
            for (_, d) in &b {
                if d[18] == ExchangeType::IKE_SA_INIT.0 {
                    let m = crate::sa::codec::decode(d, None).unwrap();
                    announced += usize::from(
                        m.notify(crate::sa::msg::notify::IKEV2_FRAGMENTATION_SUPPORTED)
                            .is_some(),
                    );
                }
            }
            b
        });
        assert_up(&p);
        assert_eq!(n, 0, "{a:?} {b:?}");
        // Only the side that has it on announces it; the responder
        // answers it only when asked.
        assert_eq!(
            announced,
            usize::from(a.is_some()) * usize::from(b.is_some()) + usize::from(a.is_some())
        );
        assert!(!info(&p.a, p.now).fragmentation);
        assert!(!info(&p.b, p.now).fragmentation);
    }
}

#[test]
fn a_lost_fragment_is_recovered_by_retransmitting_all_of_them() {
    let mut p = pair(Some(MTU), Some(MTU));
    let mut dropped = false;
    let mut sent_by_a = Vec::new();
    pump(&mut p, Duration::from_secs(30), &mut |b| {
        b.into_iter()
            .filter(|(from_a, d)| {
                let f = frag_of(d);
                if let (true, Some(f)) = (*from_a, f) {
                    sent_by_a.push(f);
                }
                // Fragment 2 of A's IKE_AUTH, the first time.
                if *from_a && !dropped && f.is_some_and(|f| f.0 == 2) {
                    dropped = true;
                    return false;
                }
                true
            })
            .collect()
    });
    assert!(dropped);
    assert_up(&p);
    // The retransmission repeated every fragment (RFC 7383 2.6).
    let n = sent_by_a[0].1 as usize;
    assert_eq!(sent_by_a.len(), 2 * n, "{sent_by_a:?}");
    assert_eq!(sent_by_a[..n], sent_by_a[n..]);
}

#[test]
fn a_lost_fragmented_response_is_sent_again_once_per_retransmission() {
    let mut p = pair(Some(MTU), Some(MTU));
    let mut from_b = Vec::new();
    let mut drop_b = true;
    pump(&mut p, Duration::from_secs(30), &mut |b| {
        b.into_iter()
            .filter(|(from_a, d)| {
                if !*from_a && d[18] == ExchangeType::IKE_AUTH.0 {
                    from_b.push(frag_of(d).expect("B's IKE_AUTH is fragmented"));
                    if drop_b {
                        // Every fragment of B's first answer is lost.
                        return from_b.len() > from_b[0].1 as usize && {
                            drop_b = false;
                            true
                        };
                    }
                }
                true
            })
            .collect()
    });
    assert_up(&p);
    // A resent all its fragments; B answered its fragment 1 only, with
    // all of its response fragments: exactly two copies, not N + N*N.
    let n = from_b[0].1 as usize;
    assert_eq!(from_b.len(), 2 * n, "{from_b:?}");
}

#[test]
fn reordered_and_duplicated_fragments_are_reassembled_once() {
    let mut p = pair(Some(MTU), Some(MTU));
    let mut n = 0;
    pump(&mut p, Duration::from_secs(5), &mut |b| {
        // Reverse each batch and deliver every fragment twice.
        let mut out = Vec::new();
        for (from_a, d) in b.into_iter().rev() {
            if frag_of(&d).is_some() {
                n += 1;
                out.push((from_a, d.clone()));
            }
            out.push((from_a, d));
        }
        out
    });
    assert!(n >= 4);
    assert_up(&p);
    assert_eq!(p.a.ups, 1);
    assert_eq!(p.b.ups, 1);
}

/// Fragments of an INFORMATIONAL request from A to B on the established
/// SA, sealed with A's keys: as an authenticated peer could send.
fn a_fragments(p: &Pair, id: u32, plain: &[u8], limit: usize) -> Vec<Vec<u8>> {
    let a = info(&p.a, p.now);
    let spi = a.spi_i;
    let sa = p.a.e.sas.get(&spi).unwrap();
    let c = &sa.keys.as_ref().unwrap().out;
    let h = request_header(&a, id);
    let train =
        frag::seal_fragments(&h, PayloadType::NONE, plain, c, limit, &mut TestRng(5)).unwrap();
    frag::split_train(train)
}

/// The header of an INFORMATIONAL request from A on SA `a`.
fn request_header(a: &IkeSaInfo, id: u32) -> wire::Header {
    wire::Header::new(
        a.spi_i,
        a.spi_r,
        ExchangeType(INFORMATIONAL),
        Flags::INITIATOR,
        id,
    )
}

fn b_buffered(p: &Pair) -> usize {
    p.b.e.sas.values().map(|s| s.frag.buffered()).sum()
}

#[test]
fn an_incomplete_message_is_dropped_after_the_timeout() {
    let mut p = pair(Some(MTU), Some(MTU));
    pump(&mut p, Duration::from_secs(5), &mut |b| b);
    assert_up(&p);
    let next = p.a.e.sas.values().next().unwrap().next_id;
    let frags = a_fragments(&p, next, &[0u8; 600], 200);
    assert!(frags.len() >= 3);
    let (to, fr) = (p.b.addr, p.a.addr);
    p.b.e.handle_datagram(p.now, to, fr, false, &frags[0]);
    assert!(b_buffered(&p) > 0);
    let deadline = p.b.e.poll_timeout().unwrap();
    assert!(deadline <= p.now + frag::REASSEMBLY_TIMEOUT);
    pump(
        &mut p,
        frag::REASSEMBLY_TIMEOUT + Duration::from_secs(1),
        &mut |b| b,
    );
    assert_eq!(b_buffered(&p), 0);
    assert!(
        p.b.log.iter().any(|l| l.contains("timed out")),
        "{:#?}",
        p.b.log
    );
    assert_eq!(p.b.last(), Some(&TunnelStatus::Up), "the SA is unharmed");
}

#[test]
fn unauthenticated_fragments_are_dropped_before_they_are_kept() {
    let mut p = pair(Some(MTU), Some(MTU));
    pump(&mut p, Duration::from_secs(5), &mut |b| b);
    let next = p.a.e.sas.values().next().unwrap().next_id;
    let (to, fr) = (p.b.addr, p.a.addr);
    let before = info(&p.b, p.now).fragments.1;
    for mut d in a_fragments(&p, next, &[0u8; 2000], 200) {
        let last = d.len() - 1;
        d[last] ^= 1; // ICV broken
        p.b.e.handle_datagram(p.now, to, fr, false, &d);
    }
    assert_eq!(b_buffered(&p), 0);
    assert_eq!(info(&p.b, p.now).fragments.1, before);
}

/// 10,000 authenticated but bogus fragments on one SA (random Message
/// IDs near the window, random totals, numbers and sizes): B holds at
/// most one message per direction within the byte cap, never panics,
/// and the SA stays up.
#[test]
fn a_flood_of_authenticated_fragments_stays_bounded() {
    let mut p = pair(Some(MTU), Some(MTU));
    pump(&mut p, Duration::from_secs(5), &mut |b| b);
    assert_up(&p);
    let a = info(&p.a, p.now);
    let next = p.a.e.sas.get(&a.spi_i).unwrap().next_id;
    let mut x = TestRng(0xdead_beef);
    let mut r = |m: u64| {
        let mut b = [0u8; 8];
        x.fill(&mut b).unwrap();
        u64::from_le_bytes(b) % m
    };
    let (to, fr) = (p.b.addr, p.a.addr);
    let c = &p.a.e.sas.get(&a.spi_i).unwrap().keys.as_ref().unwrap().out;
    let mut peak = 0;
    for _ in 0..10_000 {
        let id = if r(4) == 0 { r(1 << 32) as u32 } else { next };
        let total = r(80) as u16 + 1;
        let number = r(u64::from(total) + 1) as u16 + 1;
        let len = r(1100) as usize;
        let h = request_header(&a, id);
        let f = wire::Fragment {
            number: number.min(total),
            total,
        };
        let plain = vec![0x5a; len];
        let prefix = wire::fragment_prefix(&h, f, PayloadType::NONE, c.body_len(len)).unwrap();
        let mut d = prefix.clone();
        d.extend(c.seal(&prefix, &plain, &mut TestRng(9)).unwrap());
        p.b.e.handle_datagram(p.now, to, fr, false, &d);
        while p.b.e.poll_output().is_some() {}
        while p.b.e.poll_log().is_some() {}
        let held = b_buffered(&p);
        assert!(held <= MAX_REASSEMBLY, "{held}");
        peak = peak.max(held);
    }
    assert!(peak > 10_000, "the flood reached the reassembly: {peak}");
    pump(&mut p, Duration::from_secs(60), &mut |b| b);
    assert_eq!(b_buffered(&p), 0, "timed out");
    assert!(info(&p.b, p.now).state == "ESTABLISHED");
}

/// A rekeyed IKE SA keeps what IKE_SA_INIT negotiated, and its exchanges
/// (CREATE_CHILD_SA with a KE payload) go in fragments at a small MTU,
/// changed while the SA is up.
#[test]
fn a_rekeyed_ike_sa_keeps_fragmentation() {
    let mut p = pair(Some(frag::MIN_MTU), Some(frag::MIN_MTU));
    for s in [&mut p.a, &mut p.b] {
        let mut cfg = s.e.cfg.clone();
        for t in &mut cfg.tunnels {
            t.ike_lifetime = Duration::from_secs(120);
            t.esp.pfs = Some(31);
        }
        s.e.set_config(cfg, p.now);
    }
    pump(&mut p, Duration::from_secs(5), &mut |b| b);
    assert_up(&p);
    let first = info(&p.a, p.now);
    // Lowered live (below what the shell accepts) so that the rekey
    // exchanges, a couple of hundred octets, need fragments too.
    p.a.e.cfg.fragment_mtu = Some(180);
    p.b.e.cfg.fragment_mtu = Some(180);
    let mut rekey_frags = 0;
    pump(&mut p, Duration::from_secs(200), &mut |b| {
        rekey_frags += b
            .iter()
            .filter(|(_, d)| d[18] == crate::sa::msg::CREATE_CHILD_SA && frag_of(d).is_some())
            .count();
        b
    });
    let now = info(&p.a, p.now);
    assert_ne!(now.spi_i, first.spi_i, "the IKE SA was rekeyed");
    assert!(now.fragmentation && info(&p.b, p.now).fragmentation);
    assert!(rekey_frags > 0, "CREATE_CHILD_SA went in fragments");
    assert_eq!(p.a.last(), Some(&TunnelStatus::Up));
}
