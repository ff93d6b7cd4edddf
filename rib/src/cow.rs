//! A sorted map in copy-on-write chunks (issue 16): cloning it copies a
//! vector of chunk pointers, not its entries, and a write copies only the
//! chunk it touches while a clone still shares that chunk.
//!
//! The routing task keeps the readers' view of a full table in one of
//! these and publishes a clone of it: the writer and every snapshot a
//! reader holds share all unchanged chunks, so a million prefixes are
//! kept once, not once per copy. Entries sit inline in their chunk (a
//! sorted vector of at most [`CHUNK`]), so a small entry costs its own
//! size plus little: no node or allocation per entry.

use std::sync::Arc;

/// A key with a numeric rank in its order (`a < b` implies `a.rank() <=
/// b.rank()`): a lookup guesses where a key sits inside its chunk from
/// the ranks of the chunk's first and last keys (prefixes spread evenly),
/// instead of a binary search that takes a cache miss at each of its 8
/// steps in a cold chunk.
pub trait Rank: Ord + Clone {
    /// The rank.
    fn rank(&self) -> u64;
}

/// The rank of an IPv4 prefix (address, then length): strictly monotonic.
pub fn rank_v4(addr: u32, len: u8) -> u64 {
    (u64::from(addr) << 8) | u64::from(len)
}

/// The rank of an IPv6 prefix: the top half of its address, monotonic
/// in the (address, length) order.
pub fn rank_v6(addr: &[u8; 16]) -> u64 {
    let mut top = [0u8; 8];
    top.copy_from_slice(&addr[..8]);
    u64::from_be_bytes(top)
}

/// Where `k` is in the sorted `c`, or would go (as `binary_search`):
/// an interpolated first probe, then galloping towards `k` and a binary
/// search of the last step.
fn search<K: Rank, V>(c: &[(K, V)], k: &K) -> Result<usize, usize> {
    use std::cmp::Ordering;
    let n = c.len();
    let (Some(first), Some(last)) = (c.first(), c.last()) else {
        return Err(0);
    };
    if n <= 8 {
        return c.binary_search_by(|(x, _)| x.cmp(k));
    }
    let (lo_r, hi_r, r) = (first.0.rank(), last.0.rank(), k.rank());
    let guess = if r <= lo_r {
        0
    } else if r >= hi_r {
        n - 1
    } else {
        let g = u128::from(r - lo_r) * (n as u128 - 1) / u128::from(hi_r - lo_r);
        usize::try_from(g).unwrap_or(n - 1).min(n - 1)
    };
    let at = |i: usize| c.get(i).map(|(x, _)| x.cmp(k));
    let within = |lo: usize, hi: usize| -> Result<usize, usize> {
        let part = c.get(lo..hi).unwrap_or_default();
        match part.binary_search_by(|(x, _)| x.cmp(k)) {
            Ok(i) => Ok(lo + i),
            Err(i) => Err(lo + i),
        }
    };
    match at(guess) {
        Some(Ordering::Equal) => Ok(guess),
        Some(Ordering::Less) => {
            // k is right of guess: widen until an entry not below it.
            let mut lo = guess + 1;
            let mut step = 1;
            loop {
                let hi = guess + step;
                if hi >= n {
                    return within(lo, n);
                }
                if at(hi) != Some(Ordering::Less) {
                    return within(lo, hi + 1);
                }
                lo = hi + 1;
                step *= 2;
            }
        }
        _ => {
            // k is left of guess.
            let mut hi = guess;
            let mut step = 1;
            loop {
                let Some(lo) = guess.checked_sub(step) else {
                    return within(0, hi);
                };
                if at(lo) != Some(Ordering::Greater) {
                    return within(lo, hi);
                }
                hi = lo;
                step *= 2;
            }
        }
    }
}

/// Entries per chunk at most. A write into a shared chunk copies this
/// many entries; a lookup searches the chunks, then one chunk.
pub const CHUNK: usize = 256;

/// A sorted map of `K` to `V` in shared chunks. `Clone` is cheap
/// (one pointer per [`CHUNK`] entries).
#[derive(Debug)]
pub struct CowMap<K, V> {
    chunks: Vec<Arc<Vec<(K, V)>>>,
    /// Each chunk's last key, side by side: finding a key's chunk reads
    /// this one array (32 KB for a million IPv4 prefixes) instead of
    /// following a pointer into every chunk it compares with, which cost
    /// a cache miss per step when a sender's UPDATEs come in its hash
    /// order (CowMap::get_mut was 54% of rvpnd's CPU taking a full table
    /// from BIRD).
    lasts: Vec<K>,
    len: usize,
}

impl<K: Clone, V> Clone for CowMap<K, V> {
    fn clone(&self) -> Self {
        CowMap {
            chunks: self.chunks.clone(),
            lasts: self.lasts.clone(),
            len: self.len,
        }
    }
}

impl<K, V> Default for CowMap<K, V> {
    fn default() -> Self {
        CowMap {
            chunks: Vec::new(),
            lasts: Vec::new(),
            len: 0,
        }
    }
}

/// A fresh chunk with room for [`CHUNK`] entries (one allocation for its
/// life: a chunk never grows past that).
fn fresh<K, V>() -> Vec<(K, V)> {
    Vec::with_capacity(CHUNK)
}

/// The chunk's entries, mutable; a shared chunk is copied first, into a
/// chunk with room for [`CHUNK`] entries.
fn own<K: Clone, V: Clone>(c: &mut Arc<Vec<(K, V)>>) -> &mut Vec<(K, V)> {
    if Arc::get_mut(c).is_none() {
        let mut v = fresh();
        v.extend(c.iter().cloned());
        *c = Arc::new(v);
    }
    // Unique now: `make_mut` does not copy.
    Arc::make_mut(c)
}

impl<K: Rank, V: Clone> CowMap<K, V> {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it has no entry.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The chunk that holds `k` or would: the first whose last key is not
    /// below `k` (the last chunk for a key above all).
    fn chunk_of(&self, k: &K) -> usize {
        let i = self.lasts.partition_point(|l| l < k);
        i.min(self.chunks.len().saturating_sub(1))
    }

    /// Sets the last key of chunk `ci` from the chunk.
    fn fix_last(&mut self, ci: usize) {
        if let (Some(c), Some(l)) = (self.chunks.get(ci), self.lasts.get_mut(ci)) {
            if let Some((k, _)) = c.last() {
                *l = k.clone();
            }
        }
    }

    /// The value of `k`.
    pub fn get(&self, k: &K) -> Option<&V> {
        self.get_key_value(k).map(|(_, v)| v)
    }

    /// The stored key and value of `k`.
    pub fn get_key_value(&self, k: &K) -> Option<(&K, &V)> {
        let (ci, Ok(i)) = self.find(k)? else {
            return None;
        };
        self.chunks.get(ci)?.get(i).map(|(k, v)| (k, v))
    }

    /// Whether `k` has a value.
    pub fn contains_key(&self, k: &K) -> bool {
        self.get(k).is_some()
    }

    /// The value of `k`, mutable (its chunk is copied if shared).
    pub fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        let (ci, Ok(i)) = self.find(k)? else {
            return None;
        };
        let c = self.chunks.get_mut(ci)?;
        own(c).get_mut(i).map(|(_, v)| v)
    }

    /// One search for "change it if present, else add it": `merge(old, v)`
    /// when `k` has a value (its result returned), else `k` gets `v`
    /// (None). A table loading is nearly all misses, each of which cost a
    /// `get_mut` and an `insert`, two searches.
    pub fn upsert<R>(&mut self, k: K, v: V, merge: impl FnOnce(&mut V, V) -> R) -> Option<R> {
        match self.find(&k) {
            Some((ci, Ok(i))) => {
                let chunk = self.chunks.get_mut(ci)?;
                let slot = own(chunk).get_mut(i)?;
                Some(merge(&mut slot.1, v))
            }
            Some((ci, Err(pos))) => {
                self.insert_new(ci, pos, k, v);
                None
            }
            None => {
                self.insert_first(k, v);
                None
            }
        }
    }

    /// Sets the value of `k`; returns the one it replaces.
    pub fn insert(&mut self, k: K, v: V) -> Option<V> {
        self.upsert(k, v, std::mem::replace)
    }

    /// Where `k` is (chunk, index) or would go (chunk, `Err(position)`);
    /// None when the map is empty.
    fn find(&self, k: &K) -> Option<(usize, Result<usize, usize>)> {
        if self.chunks.is_empty() {
            return None;
        }
        let ci = self.chunk_of(k);
        let chunk = self.chunks.get(ci)?;
        Some((ci, search(chunk, k)))
    }

    /// The first entry of an empty map.
    fn insert_first(&mut self, k: K, v: V) {
        let mut c = fresh();
        self.lasts.push(k.clone());
        c.push((k, v));
        self.chunks.push(Arc::new(c));
        self.len = 1;
    }

    /// A new key at `pos` of chunk `ci` (where [`CowMap::find`] put it).
    fn insert_new(&mut self, ci: usize, pos: usize, k: K, v: V) {
        let last = ci + 1 == self.chunks.len();
        let Some(chunk) = self.chunks.get_mut(ci) else {
            return;
        };
        self.len += 1;
        if chunk.len() < CHUNK {
            let at_end = pos == chunk.len();
            own(chunk).insert(pos, (k, v));
            if at_end {
                self.fix_last(ci);
            }
            return;
        }
        // Full. Past the end of the last chunk (a table loaded in order):
        // a new chunk, leaving this one full; otherwise split in halves.
        if pos == chunk.len() && last {
            let mut c = fresh();
            self.lasts.push(k.clone());
            c.push((k, v));
            self.chunks.push(Arc::new(c));
            return;
        }
        let left = own(chunk);
        let mut right = fresh();
        right.extend(left.drain(CHUNK / 2..));
        if pos <= CHUNK / 2 {
            left.insert(pos, (k, v));
        } else {
            right.insert(pos - CHUNK / 2, (k, v));
        }
        let right_last = right.last().map(|(k, _)| k.clone());
        self.chunks.insert(ci + 1, Arc::new(right));
        if let Some(l) = right_last {
            self.lasts.insert(ci + 1, l);
        }
        self.fix_last(ci);
    }

    /// Removes `k`; returns its value.
    pub fn remove(&mut self, k: &K) -> Option<V> {
        let (ci, Ok(i)) = self.find(k)? else {
            return None;
        };
        let chunk = self.chunks.get_mut(ci)?;
        let (_, v) = own(chunk).remove(i);
        self.len -= 1;
        let n = chunk.len();
        if n == 0 {
            self.chunks.remove(ci);
            self.lasts.remove(ci);
        } else if n < CHUNK / 4 {
            // Few left: merge with the next chunk when they fit in one,
            // so that a table emptied piecemeal does not keep a chunk
            // per few entries.
            let next = self.chunks.get(ci + 1).map(|c| c.len());
            if next.is_some_and(|m| m + n <= CHUNK) && ci + 1 < self.chunks.len() {
                let right = self.chunks.remove(ci + 1);
                self.lasts.remove(ci + 1);
                if let Some(c) = self.chunks.get_mut(ci) {
                    let left = own(c);
                    match Arc::try_unwrap(right) {
                        Ok(r) => left.extend(r),
                        Err(r) => left.extend(r.iter().cloned()),
                    }
                }
            }
        }
        self.fix_last(ci);
        Some(v)
    }

    /// Every entry, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.chunks
            .iter()
            .flat_map(|c| c.iter().map(|(k, v)| (k, v)))
    }

    /// Every key, in order.
    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.iter().map(|(k, _)| k)
    }

    /// Every value, in key order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }

    /// Every entry, in order, values mutable (shared chunks are copied).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> {
        self.chunks
            .iter_mut()
            .flat_map(|c| own(c).iter_mut().map(|(k, v)| (&*k, v)))
    }

    /// Every value, in key order, mutable.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.iter_mut().map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The same operations on a `CowMap` and a `BTreeMap`, with snapshots
    /// taken along the way that must not see later writes.
    #[test]
    fn matches_a_btreemap_and_snapshots_stay_put() {
        let mut m: CowMap<u32, u64> = CowMap::new();
        let mut model: BTreeMap<u32, u64> = BTreeMap::new();
        let mut snaps: Vec<(CowMap<u32, u64>, BTreeMap<u32, u64>)> = Vec::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for step in 0..60_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // In order for a while (a table loading), then at random.
            let k = if step < 5_000 {
                step as u32 * 3
            } else {
                (x % 20_000) as u32
            };
            match x % 7 {
                0 | 1 => assert_eq!(m.remove(&k), model.remove(&k)),
                2 => {
                    if let Some(v) = m.get_mut(&k) {
                        *v += 1;
                    }
                    if let Some(v) = model.get_mut(&k) {
                        *v += 1;
                    }
                }
                3 => {
                    let merged = m.upsert(k, step, |old, v| std::mem::replace(old, v) + 1);
                    assert_eq!(merged, model.insert(k, step).map(|o| o + 1));
                }
                _ => assert_eq!(m.insert(k, step), model.insert(k, step)),
            }
            assert_eq!(m.len(), model.len());
            if step % 97 == 0 {
                let lasts: Vec<u32> = m
                    .chunks
                    .iter()
                    .filter_map(|c| c.last())
                    .map(|e| e.0)
                    .collect();
                assert_eq!(m.lasts, lasts, "the last keys follow the chunks");
            }
            if step % 9_000 == 0 {
                snaps.push((m.clone(), model.clone()));
            }
        }
        assert!(m.iter().map(|(k, v)| (*k, *v)).eq(model.clone()));
        let snap = m.clone();
        for (k, v) in m.iter_mut() {
            *v += u64::from(*k);
        }
        for v in model.values_mut() {
            *v += 0;
        }
        for (k, v) in model.iter_mut() {
            *v += u64::from(*k);
        }
        assert!(m.values().copied().eq(model.values().copied()));
        assert!(snap
            .iter()
            .map(|(k, v)| (*k, *v))
            .ne(m.iter().map(|(k, v)| (*k, *v))));
        for k in 0..20_001 {
            assert_eq!(m.get(&k), model.get(&k));
            assert_eq!(m.contains_key(&k), model.contains_key(&k));
        }
        for (s, sm) in &snaps {
            assert_eq!(s.len(), sm.len());
            assert!(s.iter().map(|(k, v)| (*k, *v)).eq(sm.clone()));
        }
        // Emptied piecemeal: no chunk is left behind.
        let keys: Vec<u32> = m.keys().copied().collect();
        for k in keys {
            assert!(m.remove(&k).is_some());
        }
        assert!(m.is_empty());
        assert!(m.chunks.is_empty());
    }

    impl Rank for u32 {
        fn rank(&self) -> u64 {
            u64::from(*self)
        }
    }

    /// A key whose rank ties across many keys (as an IPv6 key's top
    /// half does) and a skewed spread: the guess is often far off.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    struct Coarse(u32);

    impl Rank for Coarse {
        fn rank(&self) -> u64 {
            u64::from(self.0 / 1000)
        }
    }

    #[test]
    fn the_guessed_search_finds_what_a_binary_search_finds() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for round in 0..300u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = (x % 300) as usize;
            // Half the keys crowded at the bottom, a few far up.
            let mut keys: Vec<u32> = (0..n)
                .map(|i| {
                    let v = x.rotate_left(i as u32 % 64) as u32;
                    if i % 2 == 0 {
                        v % 5_000
                    } else {
                        v % 3_000_000
                    }
                })
                .collect();
            keys.sort_unstable();
            keys.dedup();
            let c: Vec<(Coarse, u32)> = keys.iter().map(|k| (Coarse(*k), round)).collect();
            let u: Vec<(u32, u32)> = keys.iter().map(|k| (*k, round)).collect();
            for probe in keys
                .iter()
                .flat_map(|k| [k.saturating_sub(1), *k, k + 1])
                .chain([0, u32::MAX])
            {
                let want = c.binary_search_by(|(k, _)| k.cmp(&Coarse(probe)));
                assert_eq!(search(&c, &Coarse(probe)), want, "{probe} in {keys:?}");
                assert_eq!(search(&u, &probe), want);
            }
        }
    }

    #[test]
    fn loading_in_order_fills_chunks() {
        let mut m: CowMap<u32, u32> = CowMap::new();
        for k in 0..(CHUNK as u32 * 10) {
            m.insert(k, k);
        }
        assert_eq!(m.chunks.len(), 10);
        assert!(m.chunks.iter().all(|c| c.len() == CHUNK));
    }
}
