//! The engine's IKE SAs with the indexes that keep every per-packet and
//! per-timer operation independent of how many SAs there are:
//!
//! - a timer heap of `(deadline, SPI, generation)` with lazy invalidation:
//!   an SA's entry is replaced (its generation bumped) whenever its next
//!   deadline changes, and stale entries are dropped when they surface;
//! - the half-open count (responder SAs that answered IKE_SA_INIT and are
//!   not authenticated yet), in total and per source address;
//! - SAs by tunnel, Child SAs by inbound SPI, and responder SAs by
//!   (peer address, peer SPI) for retransmitted IKE_SA_INITs.
//!
//! Every change to an SA goes through [`SaTable::get_mut`] or
//! [`SaTable::insert`], which mark it dirty; [`SaTable::sync`] brings the
//! indexes up to date for the dirty SAs only. The engine syncs at the end
//! of every call that can change an SA (and before it reads a counter),
//! so between events nothing is scanned. Lookups that run between a
//! change and the next sync ([`SaTable::of_tunnel`],
//! [`SaTable::sa_of_child`]) also look at the dirty SAs, so they are
//! always exact.

use super::engine::HALF_OPEN_TIMEOUT;
use super::ike_sa::{IkeSa, IkeState, Task};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

/// What the indexes last saw of an SA.
#[derive(Debug, Default)]
struct Meta {
    dirty: bool,
    /// Generation of the SA's live heap entry.
    generation: u64,
    /// The deadline of that entry (None: not in the heap).
    scheduled: Option<Instant>,
    /// Counted as half-open, from this address.
    half_open: Option<IpAddr>,
    /// Listed under this tunnel.
    tunnel: Option<String>,
    /// Listed Child SAs (inbound SPIs).
    children: Vec<u32>,
    /// Its key in `by_init` (responder SAs).
    init_key: Option<(SocketAddr, u64)>,
}

#[derive(Debug)]
struct Entry {
    sa: IkeSa,
    meta: Meta,
}

/// Work counters, for tests that check that an operation does not scan.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct Work {
    /// SAs whose indexes were brought up to date.
    pub synced: u64,
    /// Heap entries popped (live or stale).
    pub popped: u64,
    /// Times the heap was rebuilt to drop stale entries.
    pub compactions: u64,
}

/// The IKE SAs by our SPI, with their indexes.
#[derive(Debug, Default)]
pub(crate) struct SaTable {
    map: HashMap<u64, Entry>,
    dirty: Vec<u64>,
    heap: BinaryHeap<Reverse<(Instant, u64, u64)>>,
    next_gen: u64,
    half_open: usize,
    half_open_by_ip: HashMap<IpAddr, u32>,
    by_tunnel: HashMap<String, Vec<u64>>,
    by_child: HashMap<u32, u64>,
    /// Responder: (peer address, peer SPIi) -> our SPI, to answer a
    /// retransmitted IKE_SA_INIT with the same response.
    by_init: HashMap<(SocketAddr, u64), u64>,
    pub work: Work,
}

impl SaTable {
    pub fn get(&self, spi: &u64) -> Option<&IkeSa> {
        self.map.get(spi).map(|e| &e.sa)
    }

    /// The SA, marked for re-indexing at the next sync.
    pub fn get_mut(&mut self, spi: &u64) -> Option<&mut IkeSa> {
        let e = self.map.get_mut(spi)?;
        if !e.meta.dirty {
            e.meta.dirty = true;
            self.dirty.push(*spi);
        }
        Some(&mut e.sa)
    }

    /// The SA, for a field that neither its timers nor the indexes read
    /// (`last_heard`): not marked for re-indexing. Marking thousands of
    /// SAs at once (ESP heard on every tunnel) left every look-up by
    /// tunnel scanning them until the next sync: quadratic in a stop.
    pub fn get_mut_untimed(&mut self, spi: &u64) -> Option<&mut IkeSa> {
        self.map.get_mut(spi).map(|e| &mut e.sa)
    }

    /// SAs marked since the last sync (tests).
    #[cfg(test)]
    pub fn unsynced(&self) -> usize {
        self.dirty.len()
    }

    pub fn contains_key(&self, spi: &u64) -> bool {
        self.map.contains_key(spi)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    #[cfg(test)]
    pub fn keys(&self) -> impl Iterator<Item = &u64> {
        self.map.keys()
    }

    pub fn values(&self) -> impl Iterator<Item = &IkeSa> {
        self.map.values().map(|e| &e.sa)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&u64, &IkeSa)> {
        self.map.iter().map(|(k, e)| (k, &e.sa))
    }

    /// Add (or replace) an SA.
    pub fn insert(&mut self, spi: u64, sa: IkeSa) {
        if self.map.contains_key(&spi) {
            self.remove(&spi);
        }
        self.map.insert(
            spi,
            Entry {
                sa,
                meta: Meta {
                    dirty: true,
                    ..Meta::default()
                },
            },
        );
        self.dirty.push(spi);
    }

    /// Add a responder SA that answered the IKE_SA_INIT `key` = (peer
    /// address, peer SPIi).
    pub fn insert_responder(&mut self, spi: u64, sa: IkeSa, key: (SocketAddr, u64)) {
        self.insert(spi, sa);
        if let Some(e) = self.map.get_mut(&spi) {
            e.meta.init_key = Some(key);
        }
        self.by_init.insert(key, spi);
    }

    /// Our SPI for a retransmitted IKE_SA_INIT.
    pub fn by_init(&self, key: &(SocketAddr, u64)) -> Option<u64> {
        self.by_init.get(key).copied()
    }

    /// Remove an SA and everything that indexes it.
    pub fn remove(&mut self, spi: &u64) -> Option<IkeSa> {
        let e = self.map.remove(spi)?;
        let m = e.meta;
        if let Some(ip) = m.half_open {
            self.uncount(ip);
        }
        if let Some(t) = &m.tunnel {
            self.unlist_tunnel(t, *spi);
        }
        for c in &m.children {
            if self.by_child.get(c) == Some(spi) {
                self.by_child.remove(c);
            }
        }
        if let Some(k) = m.init_key {
            if self.by_init.get(&k) == Some(spi) {
                self.by_init.remove(&k);
            }
        }
        // Its heap entry (if any) is stale from now on; `dirty` may still
        // name it, which sync skips.
        self.drop_stale_tops();
        self.maybe_shrink();
        Some(e.sa)
    }

    /// Half-open SAs in total.
    pub fn half_open(&self) -> usize {
        self.half_open
    }

    /// Half-open SAs from one address.
    pub fn half_open_from(&self, ip: IpAddr) -> usize {
        self.half_open_by_ip.get(&ip).map_or(0, |n| *n as usize)
    }

    /// The SAs of a tunnel (any state).
    pub fn of_tunnel(&self, name: &str) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .by_tunnel
            .get(name)
            .into_iter()
            .flatten()
            .copied()
            .filter(|k| {
                self.get(k)
                    .is_some_and(|s| s.tunnel.as_deref() == Some(name))
            })
            .collect();
        for k in &self.dirty {
            if !v.contains(k)
                && self
                    .get(k)
                    .is_some_and(|s| s.tunnel.as_deref() == Some(name))
            {
                v.push(*k);
            }
        }
        v
    }

    /// Whether any SA of `name` satisfies `f`.
    pub fn any_of_tunnel(&self, name: &str, f: impl Fn(&IkeSa) -> bool) -> bool {
        self.of_tunnel(name)
            .iter()
            .filter_map(|k| self.get(k))
            .any(f)
    }

    /// The IKE SA (our SPI) that holds Child SA `spi_in`.
    pub fn sa_of_child(&self, spi_in: u32) -> Option<u64> {
        let has = |k: &u64| self.get(k).is_some_and(|s| s.child_by_in(spi_in).is_some());
        if let Some(k) = self.by_child.get(&spi_in) {
            if has(k) {
                return Some(*k);
            }
        }
        self.dirty.iter().copied().find(|k| has(k))
    }

    /// The earliest timer of any SA.
    pub fn next_deadline(&self) -> Option<Instant> {
        // The top is live after a sync (stale tops are popped there); SAs
        // changed since are looked at directly.
        let top = self.heap.peek().map(|Reverse((t, _, _))| *t);
        let dirty = self
            .dirty
            .iter()
            .filter_map(|k| self.get(k))
            .filter_map(deadline)
            .min();
        match (top, dirty) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The SAs whose timers are due at `now`, taken off the heap. The
    /// caller handles each through [`SaTable::get_mut`], which marks it
    /// for the next sync to schedule again (an SA is never left without
    /// its heap entry: its `scheduled` is cleared here).
    pub fn due(&mut self, now: Instant) -> Vec<u64> {
        self.sync();
        let mut out = Vec::new();
        while let Some(Reverse((t, spi, generation))) = self.heap.peek().copied() {
            if t > now {
                break;
            }
            self.heap.pop();
            self.work.popped += 1;
            if let Some(e) = self.map.get_mut(&spi) {
                if e.meta.generation == generation {
                    e.meta.scheduled = None;
                    out.push(spi);
                }
            }
        }
        out
    }

    /// Bring the indexes up to date for the SAs changed since the last sync.
    pub fn sync(&mut self) {
        if self.dirty.is_empty() {
            return;
        }
        let dirty = std::mem::take(&mut self.dirty);
        for spi in &dirty {
            self.sync_one(*spi);
        }
        // Keep the allocation: it is reused at the next event.
        self.dirty = dirty;
        self.dirty.clear();
        self.drop_stale_tops();
        if self.heap.len() > 2 * self.map.len() + 1024 {
            self.compact();
        }
    }

    fn sync_one(&mut self, spi: u64) {
        let Some(e) = self.map.get_mut(&spi) else {
            return;
        };
        self.work.synced += 1;
        e.meta.dirty = false;
        let sa = &e.sa;
        // Half-open accounting.
        let half = (!sa.initiator && sa.state == IkeState::InitAnswered).then(|| sa.remote.ip());
        let old_half = std::mem::replace(&mut e.meta.half_open, half);
        // Tunnel listing.
        let tunnel_changed = e.meta.tunnel != sa.tunnel;
        let old_tunnel = if tunnel_changed {
            std::mem::replace(&mut e.meta.tunnel, sa.tunnel.clone())
        } else {
            None
        };
        let new_tunnel = if tunnel_changed {
            sa.tunnel.clone()
        } else {
            None
        };
        // Child listing (no allocation unless it changed).
        let same = sa.children.len() == e.meta.children.len()
            && sa
                .children
                .iter()
                .zip(&e.meta.children)
                .all(|(c, m)| c.spi_in == *m);
        let changed_children = if same {
            None
        } else {
            let current: Vec<u32> = sa.children.iter().map(|c| c.spi_in).collect();
            let old = std::mem::replace(&mut e.meta.children, current.clone());
            Some((old, current))
        };
        // Timer.
        let d = deadline(sa);
        let push = if d != e.meta.scheduled {
            e.meta.scheduled = d;
            self.next_gen += 1;
            e.meta.generation = self.next_gen;
            d.map(|t| (t, self.next_gen))
        } else {
            None
        };
        if old_half != half {
            if let Some(ip) = old_half {
                self.uncount(ip);
            }
            if let Some(ip) = half {
                self.half_open += 1;
                *self.half_open_by_ip.entry(ip).or_insert(0) += 1;
            }
        }
        if tunnel_changed {
            if let Some(t) = old_tunnel {
                self.unlist_tunnel(&t, spi);
            }
            if let Some(t) = new_tunnel {
                self.by_tunnel.entry(t).or_default().push(spi);
            }
        }
        if let Some((old, children)) = changed_children {
            for c in old.iter().filter(|c| !children.contains(c)) {
                if self.by_child.get(c) == Some(&spi) {
                    self.by_child.remove(c);
                }
            }
            for c in children {
                self.by_child.insert(c, spi);
            }
        }
        if let Some((t, generation)) = push {
            self.heap.push(Reverse((t, spi, generation)));
        }
    }

    fn uncount(&mut self, ip: IpAddr) {
        self.half_open = self.half_open.saturating_sub(1);
        if let Some(n) = self.half_open_by_ip.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.half_open_by_ip.remove(&ip);
            }
        }
    }

    fn unlist_tunnel(&mut self, t: &str, spi: u64) {
        if let Some(v) = self.by_tunnel.get_mut(t) {
            v.retain(|k| *k != spi);
            if v.is_empty() {
                self.by_tunnel.remove(t);
            }
        }
    }

    fn live(&self, spi: u64, generation: u64) -> bool {
        self.map
            .get(&spi)
            .is_some_and(|e| e.meta.generation == generation)
    }

    fn drop_stale_tops(&mut self) {
        while let Some(Reverse((_, spi, generation))) = self.heap.peek().copied() {
            if self.live(spi, generation) {
                break;
            }
            self.heap.pop();
            self.work.popped += 1;
        }
    }

    /// Rebuild the heap from the live entries.
    fn compact(&mut self) {
        self.work.compactions += 1;
        let live: Vec<Reverse<(Instant, u64, u64)>> = self
            .map
            .iter()
            .filter_map(|(k, e)| {
                e.meta
                    .scheduled
                    .map(|t| Reverse((t, *k, e.meta.generation)))
            })
            .collect();
        self.heap = BinaryHeap::from(live);
    }

    /// After a flood: give memory back once the maps are far under their
    /// capacity (amortised: a map shrinks only after losing 3/4 of it).
    fn maybe_shrink(&mut self) {
        fn far_under(len: usize, cap: usize) -> bool {
            cap > 1024 && cap > 4 * len
        }
        if far_under(self.map.len(), self.map.capacity()) {
            self.map.shrink_to_fit();
            self.sync();
            self.compact();
            self.heap.shrink_to_fit();
        }
        if far_under(self.by_init.len(), self.by_init.capacity()) {
            self.by_init.shrink_to_fit();
        }
        if far_under(self.half_open_by_ip.len(), self.half_open_by_ip.capacity()) {
            self.half_open_by_ip.shrink_to_fit();
        }
        if far_under(self.by_child.len(), self.by_child.capacity()) {
            self.by_child.shrink_to_fit();
        }
        if far_under(self.by_tunnel.len(), self.by_tunnel.capacity()) {
            self.by_tunnel.shrink_to_fit();
        }
        if far_under(self.dirty.len(), self.dirty.capacity()) {
            self.dirty.shrink_to_fit();
        }
    }

    /// Heap entries, live and stale (for tests).
    #[cfg(test)]
    pub fn heap_len(&self) -> usize {
        self.heap.len()
    }

    /// Map capacity (for tests).
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.map.capacity()
    }

    /// Retransmission-cache entries (for tests).
    #[cfg(test)]
    pub fn by_init_len(&self) -> usize {
        self.by_init.len()
    }
}

/// `table[&spi]`, for tests only: engine code looks SAs up with `get` and
/// handles a missing one, so no packet can make it panic.
#[cfg(test)]
impl std::ops::Index<&u64> for SaTable {
    type Output = IkeSa;
    fn index(&self, spi: &u64) -> &IkeSa {
        self.get(spi).expect("no IKE SA with this SPI")
    }
}

/// When an SA's timers next need [`super::Engine::handle_timeout`]: only
/// the timers that the handler acts on in the SA's state, so that a timer
/// it ignores (DPD of a rekeyed SA, the expiry of a Child SA whose delete
/// is under way) never makes the driver spin.
pub(crate) fn deadline(sa: &IkeSa) -> Option<Instant> {
    let mut t: Option<Instant> = None;
    let mut consider = |x: Option<Instant>| {
        if let Some(x) = x {
            t = Some(t.map_or(x, |y| y.min(x)));
        }
    };
    consider(sa.pending.as_ref().map(|p| p.next));
    consider(sa.expire_at);
    consider(sa.frag.deadline());
    if sa.state == IkeState::InitAnswered && !sa.initiator {
        consider(Some(sa.created + HALF_OPEN_TIMEOUT));
    }
    if sa.state == IkeState::Established {
        if sa.successor.is_none() {
            consider(sa.rekey_at);
        }
        consider(sa.next_dpd);
        consider(sa.next_keepalive);
        for c in &sa.children {
            if !c.rekeyed {
                consider(Some(c.rekey_at));
            }
            let deleting = sa.queue.contains(&Task::DeleteChild { spi_in: c.spi_in })
                || sa
                    .pending
                    .as_ref()
                    .is_some_and(|p| p.task == Task::DeleteChild { spi_in: c.spi_in });
            if !deleting {
                consider(Some(c.expire_at));
            }
        }
    }
    t
}
