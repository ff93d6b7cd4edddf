//! The prefix table of one address family: a hash table split into
//! shards.
//!
//! A real sender announces a table in its own order (BIRD and GoBGP walk
//! their hash tables: the prefixes of consecutive UPDATEs are scattered
//! over the whole address space). In a B-tree of a million prefixes every
//! such insert walks down to a leaf that is not in the cache (several
//! cache misses a prefix); a hash table finds the slot in about one,
//! whatever the order. The shards keep memory at what the entries need:
//! each grows on its own, so the table never holds an old and a new copy
//! of all its slots at once (the peak of one doubling hash table is about
//! twice the B-tree's). Ordered walks (`show ip bgp`, a table sent to a
//! new peer) sort the keys first.

use std::collections::hash_map::{Entry, RandomState};
use std::collections::HashMap;
use std::hash::Hash;

/// How many shards: enough that one shard's doubling is a small part of
/// the table.
const SHARDS: usize = 64;

/// A table key: hashable, ordered, and able to pick its shard.
pub(super) trait Key: Hash + Eq + Ord + Copy {
    /// A well-mixed 64-bit value of the key (the shard is its top bits).
    fn mix(&self) -> u64;
}

/// A prefix table (see the module doc).
#[derive(Debug, Clone)]
pub(super) struct Routes<K, V> {
    shards: Vec<HashMap<K, V, RandomState>>,
}

impl<K: Key, V> Default for Routes<K, V> {
    fn default() -> Self {
        // One hasher for all shards: the shard choice does not depend on
        // it, and the keys are spread within a shard by it.
        let s = RandomState::new();
        Routes {
            shards: (0..SHARDS)
                .map(|_| HashMap::with_hasher(s.clone()))
                .collect(),
        }
    }
}

fn shard_of<K: Key>(k: &K) -> usize {
    // SHARDS is a power of two; the top bits of the mix choose.
    (k.mix() >> (64 - SHARDS.trailing_zeros())) as usize
}

impl<K: Key, V> Routes<K, V> {
    fn shard(&self, k: &K) -> Option<&HashMap<K, V, RandomState>> {
        self.shards.get(shard_of(k))
    }

    fn shard_mut(&mut self, k: &K) -> Option<&mut HashMap<K, V, RandomState>> {
        self.shards.get_mut(shard_of(k))
    }

    /// The value of `k`.
    pub(super) fn get(&self, k: &K) -> Option<&V> {
        self.shard(k)?.get(k)
    }

    /// The value of `k`, to change it.
    pub(super) fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        self.shard_mut(k)?.get_mut(k)
    }

    /// The entry of `k`, to insert or change it.
    pub(super) fn entry(&mut self, k: K) -> Option<Entry<'_, K, V>> {
        Some(self.shard_mut(&k)?.entry(k))
    }

    /// Removes `k`.
    pub(super) fn remove(&mut self, k: &K) -> Option<V> {
        self.shard_mut(k)?.remove(k)
    }

    /// Every entry, in no particular order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.shards.iter().flat_map(|s| s.iter())
    }

    /// Every entry, in no particular order, to change the values.
    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> {
        self.shards.iter_mut().flat_map(|s| s.iter_mut())
    }

    /// Every value, in no particular order.
    pub(super) fn values(&self) -> impl Iterator<Item = &V> {
        self.shards.iter().flat_map(|s| s.values())
    }

    /// Every value, in no particular order, to change them.
    pub(super) fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.shards.iter_mut().flat_map(|s| s.values_mut())
    }

    /// Every entry in key order (the keys are sorted first).
    pub(super) fn sorted(&self) -> Vec<(K, &V)> {
        let mut v: Vec<(K, &V)> = self.iter().map(|(k, d)| (*k, d)).collect();
        v.sort_unstable_by_key(|e| e.0);
        v
    }

    /// Number of entries.
    pub(super) fn len(&self) -> usize {
        self.shards.iter().map(HashMap::len).sum()
    }

    /// Whether there are none.
    pub(super) fn is_empty(&self) -> bool {
        self.shards.iter().all(HashMap::is_empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    struct U(u32);
    impl Key for U {
        fn mix(&self) -> u64 {
            u64::from(self.0).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        }
    }

    #[test]
    fn insert_get_remove_sorted() {
        let mut r: Routes<U, u32> = Routes::default();
        // Scattered order in, key order out.
        for i in 0..5000u32 {
            let k = U(i.wrapping_mul(2_654_435_761));
            assert!(matches!(r.entry(k), Some(Entry::Vacant(_))));
            r.entry(k).unwrap().or_insert(i);
            assert_eq!(r.get(&k), Some(&i));
        }
        assert_eq!(r.len(), 5000);
        let s = r.sorted();
        assert_eq!(s.len(), 5000);
        assert!(s.windows(2).all(|w| w[0].0 < w[1].0));
        let k = s[17].0;
        assert!(matches!(r.entry(k), Some(Entry::Occupied(_))));
        *r.get_mut(&k).unwrap() = 7;
        assert_eq!(r.get(&k), Some(&7));
        assert_eq!(r.remove(&k), Some(7));
        assert_eq!(r.remove(&k), None);
        assert_eq!(r.get(&k), None);
        assert_eq!(r.len(), 4999);
        assert_eq!(r.iter().count(), 4999);
        assert!(r.shards.iter().filter(|s| !s.is_empty()).count() > SHARDS / 2);
    }
}
