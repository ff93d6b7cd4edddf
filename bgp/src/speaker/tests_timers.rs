//! The timer heap of the speaker core ([`super::timers`]) with many
//! neighbors and a fake clock: timeouts fire for the neighbors that are
//! due and only for them (counted, not timed), and the heap agrees with a
//! scan of every neighbor.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::sim::{neighbor, speaker, with, Net};
use super::{Output, PolicyChanges, RemoteAs, Speaker, SpeakerConfig};
use crate::policy::Policies;

const PEERS: u32 = 10_000;
const BATCH: u32 = 100;
/// Between batches: the 100 batches' timers all fall within the first
/// connect-retry interval (2 s), so each is due on its own.
const STEP: Duration = Duration::from_millis(15);

fn addr(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i + 1))
}

/// The peers each Connect of the queue is for.
fn connects(sp: &mut Speaker) -> BTreeSet<IpAddr> {
    let mut out = BTreeSet::new();
    while let Some(o) = sp.poll_output() {
        if let Output::Connect { peer, .. } = o {
            out.insert(peer);
        }
    }
    out
}

fn configure(sp: &mut Speaker, cfg: &SpeakerConfig, now: Instant) {
    sp.handle_config(
        Some(cfg.clone()),
        Arc::new(Policies::default()),
        &PolicyChanges::default(),
        now,
    );
}

#[test]
fn ten_thousand_neighbors_timeouts_visit_only_the_due_ones() {
    let t0 = Instant::now();
    let mut sp = Speaker::new(false, t0);
    let mut cfg = speaker(65000, "10.255.0.1");
    // Batch k of 100 neighbors is configured at t0 + k * STEP: each
    // starts a connection (never answered), whose connect-retry timer
    // expires 2 s later.
    for k in 0..PEERS / BATCH {
        let now = t0 + STEP * k;
        for i in k * BATCH..(k + 1) * BATCH {
            cfg = with(cfg, neighbor(&addr(i).to_string(), RemoteAs::As(65001)));
        }
        configure(&mut sp, &cfg, now);
        let started = connects(&mut sp);
        assert_eq!(started.len(), BATCH as usize, "batch {k}");
        assert!(started
            .iter()
            .all(|a| (k * BATCH..(k + 1) * BATCH).any(|i| addr(i) == *a)));
        sp.assert_timer_heap();
    }
    assert_eq!(sp.peers().len(), PEERS as usize);
    assert_eq!(sp.timer_visits(), 0, "no timeout ran yet");
    // Nothing is due before the first batch's timer: a timeout then
    // visits nobody.
    let first = sp.poll_timeout().expect("a timer");
    assert_eq!(first, t0 + Duration::from_secs(2));
    sp.handle_timeout(first - Duration::from_millis(1));
    assert_eq!(sp.timer_visits(), 0);
    assert!(connects(&mut sp).is_empty());
    // Each timeout runs one batch: its 100 neighbors, not the 10,000.
    for k in 0..PEERS / BATCH {
        let due = sp.poll_timeout().expect("a timer");
        assert_eq!(due, t0 + STEP * k + Duration::from_secs(2), "batch {k}");
        let before = sp.timer_visits();
        sp.handle_timeout(due);
        assert_eq!(sp.timer_visits() - before, u64::from(BATCH), "batch {k}");
        let again = connects(&mut sp);
        let want: BTreeSet<IpAddr> = (k * BATCH..(k + 1) * BATCH).map(addr).collect();
        assert_eq!(again, want, "batch {k} retries, and only it");
        sp.assert_timer_heap();
        assert!(sp.timer_heap_len() <= 2 * PEERS as usize + 64);
    }
    // The first batch is next again, 2 s after its retry.
    assert_eq!(
        sp.poll_timeout(),
        Some(t0 + Duration::from_secs(4)),
        "retried timers are rescheduled"
    );
    // An event for one neighbor moves its entry alone.
    let before = sp.timer_visits();
    let one = addr(PEERS - 1);
    sp.handle_bfd(one, false, t0 + Duration::from_secs(3));
    assert_eq!(sp.timer_visits(), before);
    sp.assert_timer_heap();
}

#[test]
fn removed_neighbors_leave_no_live_entries() {
    let t0 = Instant::now();
    let mut sp = Speaker::new(false, t0);
    let mut cfg = speaker(65000, "10.255.0.1");
    for i in 0..1000 {
        cfg = with(cfg, neighbor(&addr(i).to_string(), RemoteAs::As(65001)));
    }
    configure(&mut sp, &cfg, t0);
    connects(&mut sp);
    // All but one go.
    cfg.neighbors.retain(|a, _| *a == addr(7));
    configure(&mut sp, &cfg, t0 + Duration::from_millis(500));
    connects(&mut sp);
    sp.assert_timer_heap();
    let due = sp.poll_timeout().expect("a timer");
    sp.handle_timeout(due + Duration::from_secs(2));
    assert_eq!(sp.timer_visits(), 1, "only the neighbor that is left");
    assert!(sp.timer_heap_len() <= 2 + 64);
}

/// Sessions in a simulated network: the checks of the heap against a
/// scan run after every delivery (see `Net::settle`).
#[test]
fn the_heap_agrees_with_a_scan_in_a_network() {
    let mut n = Net::new();
    let a = n.node(&["192.0.2.1"]);
    let b = n.node(&["192.0.2.2"]);
    n.link("192.0.2.1", "192.0.2.2");
    n.configure(
        a,
        with(
            speaker(65001, "1.1.1.1"),
            neighbor("192.0.2.2", RemoteAs::As(65002)),
        ),
        Policies::default(),
    );
    n.configure(
        b,
        with(
            speaker(65002, "2.2.2.2"),
            neighbor("192.0.2.1", RemoteAs::As(65001)),
        ),
        Policies::default(),
    );
    n.run(Duration::from_secs(10));
    assert!(n.established(a, "192.0.2.2"));
    // Keepalives for an hour: a handful of visits a minute, not a scan.
    let before = n.nodes[a].sp.timer_visits();
    n.run(Duration::from_secs(3600));
    assert!(n.established(a, "192.0.2.2"));
    let visits = n.nodes[a].sp.timer_visits() - before;
    assert!((60..=200).contains(&visits), "{visits} visits in an hour");
}
