//! When the speaker next needs [`Speaker::handle_timeout`], without a
//! scan over every neighbor: a heap of (deadline, neighbor, generation)
//! with lazy deletion, one live entry per neighbor that has a timer.
//!
//! Every path that can move a neighbor's timers marks it (`touch`: the
//! session pump, flush, written bytes, a new neighbor) or all of them
//! (`touch_all`: configuration, tunnels, clear, shutdown); at the end of
//! each event [`Speaker::reschedule`] recomputes the deadlines of the
//! marked neighbors only and pushes an entry where one changed (the old
//! entry goes stale and is skipped when it comes up). A timeout pops the
//! due entries and runs the timers of those neighbors alone. So 10,000
//! idle neighbors cost nothing between events.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::IpAddr;
use std::time::Instant;

use tracing::warn;

use super::{Peer, Speaker};

/// The heap and what is live in it.
#[derive(Debug, Default)]
pub(super) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, IpAddr, u64)>>,
    /// Per neighbor: the deadline and generation of its live entry.
    live: HashMap<IpAddr, (Instant, u64)>,
    next_generation: u64,
    /// Neighbors whose deadline may have moved since the last reschedule.
    touched: Vec<IpAddr>,
    /// Every neighbor's may have.
    all: bool,
    /// Neighbors whose timers a timeout ran, since the start (a debug
    /// counter: it grows with the due entries, not with the neighbors).
    visited: u64,
}

impl Peer {
    /// The earliest of its timers: its sessions', the graceful-restart
    /// timer, the send hold timer, the maximum-prefix restart timer.
    pub fn next_deadline(&self) -> Option<Instant> {
        let sessions = self.conns.iter().filter_map(|c| c.session.poll_timeout());
        let others = [
            self.restarting.as_ref().map(|r| r.deadline),
            self.send_hold_deadline(),
            self.overflow.as_ref().and_then(|o| o.restart_at),
        ];
        sessions.chain(others.into_iter().flatten()).min()
    }
}

impl Speaker {
    /// `addr`'s timers may have moved.
    pub(super) fn touch(&mut self, addr: IpAddr) {
        self.timers.touched.push(addr);
    }

    /// Every neighbor's timers may have moved.
    pub(super) fn touch_all(&mut self) {
        self.timers.all = true;
    }

    /// Brings the heap up to date with the touched neighbors.
    pub(super) fn reschedule(&mut self) {
        let t = &mut self.timers;
        let mut work = std::mem::take(&mut t.touched);
        if std::mem::take(&mut t.all) {
            work.clear();
            work.extend(self.peers.keys().copied());
            t.live.retain(|a, _| self.peers.contains_key(a));
        }
        work.sort_unstable();
        work.dedup();
        for a in work {
            let Some(p) = self.peers.get(&a) else {
                t.live.remove(&a);
                continue;
            };
            let next = p.next_deadline();
            if next == t.live.get(&a).map(|(d, _)| *d) {
                continue;
            }
            match next {
                Some(d) => {
                    t.next_generation += 1;
                    t.live.insert(a, (d, t.next_generation));
                    t.heap.push(Reverse((d, a, t.next_generation)));
                }
                None => {
                    t.live.remove(&a);
                }
            }
        }
        // Stale entries off the top, so poll_timeout reads a live one.
        while let Some(Reverse((_, a, g))) = t.heap.peek() {
            if t.live.get(a).is_some_and(|(_, lg)| lg == g) {
                break;
            }
            t.heap.pop();
        }
        if t.heap.len() > 2 * t.live.len() + 64 {
            t.heap = t
                .live
                .iter()
                .map(|(a, (d, g))| Reverse((*d, *a, *g)))
                .collect();
        }
    }

    /// The earliest live deadline (the top of the heap, and neighbors
    /// touched since the last reschedule).
    pub(super) fn next_timeout(&self) -> Option<Instant> {
        let top = self.timers.heap.peek().map(|Reverse((d, _, _))| *d);
        let pending = self
            .timers
            .touched
            .iter()
            .filter_map(|a| self.peers.get(a).and_then(Peer::next_deadline));
        let all = self
            .timers
            .all
            .then(|| self.peers.values().filter_map(Peer::next_deadline).min())
            .flatten();
        top.into_iter().chain(pending).chain(all).min()
    }

    /// Runs the timers of the neighbors whose entries are due.
    pub(super) fn run_timers(&mut self) {
        self.reschedule();
        let now = self.now;
        let mut due = Vec::new();
        while let Some(&Reverse((d, a, g))) = self.timers.heap.peek() {
            if d > now {
                break;
            }
            self.timers.heap.pop();
            if self.timers.live.get(&a).is_some_and(|(_, lg)| *lg == g) {
                self.timers.live.remove(&a);
                due.push(a);
            }
        }
        for a in due {
            self.timers.visited += 1;
            self.fire(a);
            self.touch(a);
        }
        self.reschedule();
    }

    /// The timers of one neighbor that are due.
    fn fire(&mut self, a: IpAddr) {
        let now = self.now;
        let mut expired = None;
        let mut lift = false;
        if let Some(p) = self.peers.get_mut(&a) {
            // RFC 9687: the peer took none of our bytes for the hold time
            // (it stopped reading; if it still sends KEEPALIVEs our hold
            // timer never fires).
            if let (Some(at), Some(est)) = (p.send_hold_deadline(), &p.est) {
                if at <= now {
                    let (conn, hold) = (est.conn, est.hold);
                    if let Some(c) = p.conns.iter_mut().find(|c| c.id == conn) {
                        warn!(
                            "bgp neighbor {a}: took none of our data for {hold}s ({} bytes \
                             unwritten): send hold timer expired, closing the session",
                            c.unacked
                        );
                        c.session.send_hold_expired(now);
                    }
                }
            }
            for c in &mut p.conns {
                if c.session.poll_timeout().is_some_and(|t| t <= now) {
                    c.session.handle_timeout(now);
                }
            }
            if p.restarting.as_ref().is_some_and(|r| r.deadline <= now) {
                expired = p.restarting.take();
            }
            lift = p
                .overflow
                .as_ref()
                .and_then(|o| o.restart_at)
                .is_some_and(|t| t <= now);
        }
        if let Some(r) = expired {
            self.end_restart(a, &r.families, "restart timer expired");
        }
        self.pump(a);
        if lift {
            self.end_overflow(a, "maximum-prefix restart timer expired");
        }
    }

    /// Neighbors whose timers a timeout ran, since the start: it grows
    /// with the entries that were due, not with the number of neighbors.
    pub fn timer_visits(&self) -> u64 {
        self.timers.visited
    }

    /// Entries in the timer heap, stale ones included (bounded by twice
    /// the neighbors with a timer, plus 64).
    pub fn timer_heap_len(&self) -> usize {
        self.timers.heap.len()
    }

    /// Checks the heap against a scan of every neighbor: each one's
    /// timers are due no earlier than its live entry (the heap never
    /// wakes later than a scan would).
    #[cfg(test)]
    pub(crate) fn assert_timer_heap(&self) {
        if self.timers.all {
            return;
        }
        for (a, p) in &self.peers {
            let Some(want) = p.next_deadline() else {
                continue;
            };
            if self.timers.touched.contains(a) {
                continue;
            }
            let live = self.timers.live.get(a).map(|(d, _)| *d);
            assert!(
                live.is_some_and(|d| d <= want),
                "neighbor {a}: due at {want:?}, heap says {live:?}"
            );
        }
    }
}
