//! Limits in simulated networks (see [`super::sim`]): `neighbor X
//! maximum-prefix` (RFC 4486, FRR's semantics) and the bounded write
//! window with the send hold timer (RFC 9687) for a peer that stops
//! reading.

use std::io::Write;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::sim::{ip, neighbor, net, speaker, with, Net};
use super::{AfPeer, MaxPrefix, Output, RemoteAs, WRITE_WINDOW};
use crate::policy::Policies;
use crate::rib::Afi;
use crate::wire::{subcode, ErrorCode, MessageType, HEADER_LEN};

const SECS: Duration = Duration::from_secs(1);
const A: usize = 0;
const B: usize = 1;
const A_ADDR: &str = "192.0.2.1";
const B_ADDR: &str = "192.0.2.2";

/// `k` distinct /24s from 10.0.0.0.
fn prefixes(k: usize) -> Vec<String> {
    (0..k as u32)
        .map(|i| format!("{}/24", Ipv4Addr::from(0x0a00_0000 + (i << 8))))
        .collect()
}

/// B (AS 65002) announces `k` prefixes to A (AS 65001); A's neighbor B
/// has `limit` and the timers `timers`.
fn limited_pair(k: usize, limit: Option<MaxPrefix>, timers: (u16, u16)) -> Net {
    let mut n = Net::new();
    let a = n.node(&[A_ADDR]);
    let b = n.node(&[B_ADDR]);
    n.link(A_ADDR, B_ADDR);
    let mut nb = neighbor(B_ADDR, RemoteAs::As(65002));
    nb.af[0] = Some(AfPeer {
        maximum_prefix: limit,
        ..AfPeer::default()
    });
    nb.timers = timers;
    let mut na = neighbor(A_ADDR, RemoteAs::As(65001));
    na.timers = timers;
    n.configure(a, with(speaker(65001, "1.1.1.1"), nb), Policies::default());
    n.configure(b, with(speaker(65002, "2.2.2.2"), na), Policies::default());
    announce(&mut n, B, k);
    n
}

/// Node `node` now originates exactly `k` prefixes.
fn announce(n: &mut Net, node: usize, k: usize) {
    n.reconfigure(node, |c| {
        c.af[0].networks = prefixes(k).iter().map(|p| (net(p), None)).collect();
    });
}

fn limit(max: u32, threshold: u8, warning_only: bool, restart: Option<u16>) -> MaxPrefix {
    MaxPrefix {
        max,
        threshold,
        warning_only,
        restart_minutes: restart,
    }
}

/// How many prefixes node `node` has from its neighbor `peer`.
fn accepted(n: &Net, node: usize, peer: &str) -> u64 {
    let sp = &n.nodes[node].sp;
    sp.peers()
        .get(&ip(peer))
        .map_or(0, |p| sp.rib().peer_count(p.idx, Afi::V4))
}

/// Runs `f` with the log lines of this thread captured.
fn logged<R>(f: impl FnOnce() -> R) -> (R, String) {
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::ErrorKind::Other)?
                .extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let sub = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let r = tracing::subscriber::with_default(sub, f);
    let text =
        String::from_utf8_lossy(&buf.0.lock().map(|b| b.clone()).unwrap_or_default()).into_owned();
    (r, text)
}

/// The Cease/Maximum Number of Prefixes Reached A sent B (collisions
/// send other Ceases).
fn max_prefix_ceases(n: &Net) -> Vec<crate::wire::Notification> {
    n.notifications
        .iter()
        .filter(|(f, t, m)| {
            *f == A
                && *t == B
                && m.code == ErrorCode::CEASE
                && m.subcode == subcode::cease::MAXIMUM_PREFIXES_REACHED
        })
        .map(|(_, _, m)| m.clone())
        .collect()
}

#[test]
fn over_the_limit_a_cease_then_down_until_the_restart_time() {
    let mut n = limited_pair(12, Some(limit(10, 75, false, Some(2))), (60, 180));
    n.run(10 * SECS);
    let p = &n.nodes[A].sp.peers()[&ip(B_ADDR)];
    let o = p.overflow.clone().expect("over its limit");
    assert_eq!((o.afi, o.count, o.max), (Afi::V4, 12, 10));
    assert!(!n.established(A, B_ADDR) && !n.established(B, A_ADDR));
    let reset = p.last_reset.clone().unwrap_or_default();
    assert!(reset.contains("Reached received prefix count"), "{reset}");
    // B heard why (RFC 4486): Cease/1 with AFI 1, SAFI 1 and the limit.
    let sent = max_prefix_ceases(&n);
    assert_eq!(sent.len(), 1, "{:?}", n.notifications);
    assert_eq!(sent[0].data, vec![0, 1, 1, 0, 0, 0, 10]);
    assert_eq!(accepted(&n, A, B_ADDR), 0, "its routes went with it");
    assert!(n.fib(A, "10.0.0.0/24").is_none());
    // B keeps trying; A takes nothing until 2 minutes have passed.
    n.run(100 * SECS);
    assert!(!n.established(A, B_ADDR));
    assert_eq!(n.nodes[A].sp.peers()[&ip(B_ADDR)].established_count, 1);
    assert!(n.now < o.since + 120 * SECS);
    // B sends fewer now; after the restart time the session comes back.
    announce(&mut n, B, 8);
    n.run(30 * SECS);
    assert!(n.established(A, B_ADDR));
    let p = &n.nodes[A].sp.peers()[&ip(B_ADDR)];
    assert!(p.overflow.is_none());
    assert_eq!(p.established_count, 2);
    assert_eq!(accepted(&n, A, B_ADDR), 8);
    assert!(n.fib(A, "10.0.0.0/24").is_some());
}

#[test]
fn without_restart_only_clear_brings_it_back() {
    let mut n = limited_pair(12, Some(limit(10, 75, false, None)), (60, 180));
    n.run(10 * SECS);
    let o = n.nodes[A].sp.peers()[&ip(B_ADDR)]
        .overflow
        .clone()
        .expect("over its limit");
    assert_eq!(o.restart_at, None);
    n.run(3600 * SECS);
    assert!(!n.established(A, B_ADDR), "an hour later still down");
    announce(&mut n, B, 5);
    let now = n.now;
    assert_eq!(
        n.nodes[A].sp.handle_clear(Some(ip(B_ADDR)), None, now),
        Ok(())
    );
    n.run(20 * SECS);
    assert!(n.established(A, B_ADDR));
    assert_eq!(accepted(&n, A, B_ADDR), 5);
}

#[test]
fn warning_only_keeps_the_session_and_logs_once() {
    let mut n = limited_pair(12, Some(limit(10, 75, true, None)), (60, 180));
    let ((), log) = logged(|| {
        n.run(10 * SECS);
        announce(&mut n, B, 14);
        n.run(SECS);
    });
    assert!(n.established(A, B_ADDR));
    assert_eq!(accepted(&n, A, B_ADDR), 14, "nothing refused");
    assert!(max_prefix_ceases(&n).is_empty());
    assert!(n.nodes[A].sp.peers()[&ip(B_ADDR)].overflow.is_none());
    assert_eq!(log.matches("%MAXPFXEXCEED").count(), 1, "{log}");
    assert!(
        log.contains("12 IPv4 Unicast prefixes accepted, limit 10"),
        "{log}"
    );
    assert_eq!(n.nodes[A].events.len(), 1, "one session, never down");
}

#[test]
fn threshold_warns_once_until_the_count_drops_back() {
    let mut n = limited_pair(5, Some(limit(10, 50, false, None)), (60, 180));
    let ((), log) = logged(|| {
        n.run(10 * SECS);
        assert_eq!(accepted(&n, A, B_ADDR), 5);
    });
    // 5 of 10 is not more than 50 %.
    assert!(!log.contains("%MAXPFX:"), "{log}");
    let ((), log) = logged(|| {
        for k in [6, 7, 3, 6] {
            announce(&mut n, B, k);
            n.run(SECS);
        }
    });
    assert_eq!(
        log.matches("%MAXPFX:").count(),
        2,
        "6, then 6 again after 3:\n{log}"
    );
    assert!(log.contains("6 IPv4 Unicast prefixes accepted, reaching 50% of the limit 10"));
    assert!(!log.contains("%MAXPFXEXCEED"));
    assert!(n.established(A, B_ADDR));
}

#[test]
fn a_lowered_limit_applies_at_once_and_a_raised_one_lifts_it() {
    let mut n = limited_pair(12, Some(limit(100, 75, false, None)), (60, 180));
    n.run(10 * SECS);
    assert_eq!(accepted(&n, A, B_ADDR), 12);
    let set = |n: &mut Net, max: u32| {
        n.reconfigure(A, |c| {
            if let Some(af) = c
                .neighbors
                .get_mut(&ip(B_ADDR))
                .and_then(|p| p.af[0].as_mut())
            {
                af.maximum_prefix = Some(limit(max, 75, false, None));
            }
        })
    };
    set(&mut n, 10);
    n.settle();
    assert!(!n.established(A, B_ADDR), "closed without waiting");
    assert!(n.nodes[A].sp.peers()[&ip(B_ADDR)].overflow.is_some());
    assert_eq!(max_prefix_ceases(&n).len(), 1);
    // A higher limit lifts the overflow (FRR does too).
    set(&mut n, 20);
    n.run(20 * SECS);
    assert!(n.established(A, B_ADDR));
    assert_eq!(accepted(&n, A, B_ADDR), 12);
}

// ------------------------------------------------ a peer that stops reading

/// A originates `k` prefixes... to B, which stops reading once the session
/// is up. Timers 3/9.
fn stalled_receiver(k: usize) -> Net {
    let mut n = limited_pair(0, None, (3, 9));
    n.run(10 * SECS);
    assert!(n.established(A, B_ADDR));
    n.deafen(B);
    announce(&mut n, A, k);
    n.settle();
    n
}

#[test]
fn a_peer_that_stops_reading_costs_one_window_and_the_send_hold_time() {
    let mut n = stalled_receiver(100_000);
    let waiting = n.parked_for(B);
    let p = &n.nodes[A].sp.peers()[&ip(B_ADDR)];
    assert!(n.established(A, B_ADDR));
    assert_eq!(p.unwritten_bytes(), waiting);
    assert!(
        (WRITE_WINDOW..WRITE_WINDOW + 128 * 1024).contains(&waiting),
        "{waiting} bytes wait for B"
    );
    // The rest is held back, not encoded (a /24 takes 4 octets: about
    // 65,000 fit in the window).
    assert_eq!(p.out.pending() + p.out.adj.len(), 100_000);
    assert!(p.out.pending() > 20_000, "{} held back", p.out.pending());
    assert!(p.out_queue() > 0);
    // The table flaps while B does not read: nothing more is produced,
    // the held-back changes replace each other.
    for _ in 0..5 {
        announce(&mut n, A, 0);
        n.settle();
        announce(&mut n, A, 100_000);
        n.settle();
    }
    assert_eq!(n.parked_for(B), waiting);
    assert!(n.nodes[A].sp.peers()[&ip(B_ADDR)].out.pending() <= 100_000);
    // B's KEEPALIVEs keep A's hold timer happy; the send hold timer (the
    // hold time, 9 s) ends the session all the same.
    n.run(8 * SECS);
    assert!(n.established(A, B_ADDR));
    assert!(n.parked_for(B) < waiting + 1024, "only KEEPALIVEs more");
    n.run(2 * SECS);
    assert!(!n.established(A, B_ADDR));
    assert!(n.nodes[A].events.iter().any(|e| matches!(
        e,
        Output::Down { reason, .. } if reason == "send hold timer expired"
    )));
    let p = &n.nodes[A].sp.peers()[&ip(B_ADDR)];
    assert_eq!(p.unwritten_bytes(), 0);
    assert_eq!(p.out.pending(), 0);
    assert!(!n.established(B, A_ADDR), "the connection closed");
}

#[test]
fn a_reader_that_comes_back_gets_the_last_table_then_end_of_rib() {
    let mut n = stalled_receiver(100_000);
    announce(&mut n, A, 0);
    n.settle();
    announce(&mut n, A, 60_000);
    n.settle();
    n.messages.clear();
    n.undeafen(B);
    n.run(SECS);
    assert!(n.established(A, B_ADDR) && n.established(B, A_ADDR));
    assert_eq!(accepted(&n, B, A_ADDR), 60_000);
    assert_eq!(n.nodes[B].sp.rib().len(Afi::V4), 60_000);
    assert!(n.best(B, "10.0.0.0/24").is_some());
    // A fresh session gets its table in windows, End-of-RIB last.
    let now = n.now;
    assert_eq!(
        n.nodes[A].sp.handle_clear(Some(ip(B_ADDR)), None, now),
        Ok(())
    );
    n.messages.clear();
    n.run(20 * SECS);
    assert!(n.established(B, A_ADDR));
    assert_eq!(accepted(&n, B, A_ADDR), 60_000);
    let updates: Vec<usize> = n
        .messages
        .iter()
        .filter(|m| m.0 == A && m.1 == B && m.2 == MessageType::UPDATE.0)
        .map(|m| m.3)
        .collect();
    // End-of-RIB: an UPDATE of 23 octets (nothing withdrawn, no
    // attributes).
    let eor = updates.iter().position(|l| *l == HEADER_LEN + 4);
    assert_eq!(eor, Some(updates.len() - 1), "{updates:?}");
    assert!(updates.len() > 20, "{} UPDATEs", updates.len());
}

#[test]
fn changes_one_by_one_queue_at_most_write_chunks_transmissions() {
    let mut n = limited_pair(0, None, (3, 9));
    n.run(10 * SECS);
    n.deafen(B);
    // A hundred small changes, each its own decision run.
    for k in 1..=100 {
        announce(&mut n, A, k);
        n.settle();
    }
    let p = &n.nodes[A].sp.peers()[&ip(B_ADDR)];
    let c = p.est_conn().expect("established");
    assert_eq!(c.chunks_in_flight(), super::WRITE_CHUNKS);
    assert_eq!(p.out.pending(), 100 - super::WRITE_CHUNKS);
    n.undeafen(B);
    n.run(SECS);
    assert_eq!(accepted(&n, B, A_ADDR), 100);
    assert_eq!(n.nodes[A].sp.peers()[&ip(B_ADDR)].out.pending(), 0);
}
