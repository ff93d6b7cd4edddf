//! Up/down states by key, from tasks that must never wait (SA events, BFD)
//! to one that may be busy for seconds (BGP taking in a full table).
//!
//! A bounded queue would make the sender wait or drop a message (the
//! final state of a tunnel lost in a burst); an unbounded one would grow
//! with the burst. Here the sender only records the latest state of each
//! key and rings a bell; the receiver takes, per key, the final state,
//! preceded by a down when the key went down in between, so a flap (up ->
//! down -> up) still takes BGP's sessions down and up again. Memory is one
//! entry per key, whatever the burst, and the sender never waits or fails.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::mpsc;

/// What is pending for one key.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// Order of first arrival since the last take.
    seq: u64,
    /// The key went down since the last take.
    went_down: bool,
    /// Its latest state.
    up: bool,
}

#[derive(Debug)]
struct Pending<K> {
    slots: HashMap<K, Slot>,
    next: u64,
}

type Shared<K> = Arc<Mutex<Pending<K>>>;

fn lock<K>(s: &Shared<K>) -> MutexGuard<'_, Pending<K>> {
    // Nothing can be left half-updated: a slot is written in one go.
    s.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The sending side; clone it for several senders.
#[derive(Debug)]
pub struct Sender<K> {
    shared: Shared<K>,
    bell: mpsc::Sender<()>,
}

impl<K> Clone for Sender<K> {
    fn clone(&self) -> Self {
        Sender {
            shared: self.shared.clone(),
            bell: self.bell.clone(),
        }
    }
}

/// The receiving side.
#[derive(Debug)]
pub struct Receiver<K> {
    shared: Shared<K>,
    bell: mpsc::Receiver<()>,
}

/// A new channel of up/down states keyed by `K`.
pub fn channel<K: Eq + Hash + Clone>() -> (Sender<K>, Receiver<K>) {
    let shared = Arc::new(Mutex::new(Pending {
        slots: HashMap::new(),
        next: 0,
    }));
    // One pending ring is enough: the receiver takes everything at once.
    let (tx, rx) = mpsc::channel(1);
    (
        Sender {
            shared: shared.clone(),
            bell: tx,
        },
        Receiver { shared, bell: rx },
    )
}

impl<K: Eq + Hash + Clone> Sender<K> {
    /// Record that `key` is now up (or down). Never waits, never fails.
    pub fn set(&self, key: K, up: bool) {
        {
            let mut p = lock(&self.shared);
            let seq = p.next;
            match p.slots.entry(key) {
                Entry::Occupied(mut e) => {
                    let s = e.get_mut();
                    s.went_down |= !up;
                    s.up = up;
                }
                Entry::Vacant(e) => {
                    e.insert(Slot {
                        seq,
                        went_down: !up,
                        up,
                    });
                    p.next += 1;
                }
            }
        }
        // Full: a ring is pending already and will find this entry too.
        let _ = self.bell.try_send(());
    }
}

impl<K: Eq + Hash + Clone> Receiver<K> {
    /// Wait until something may be pending; false once every sender is
    /// gone (take what is left with [`Receiver::take`]). Cancel-safe.
    pub async fn changed(&mut self) -> bool {
        self.bell.recv().await.is_some()
    }

    /// Everything pending, keys in the order they first changed: per key
    /// its final state, preceded by a down when it went down in between.
    pub fn take(&mut self) -> Vec<(K, bool)> {
        let taken = {
            let mut p = lock(&self.shared);
            p.next = 0;
            std::mem::take(&mut p.slots)
        };
        let mut slots: Vec<(K, Slot)> = taken.into_iter().collect();
        slots.sort_by_key(|(_, s)| s.seq);
        let mut out = Vec::with_capacity(slots.len());
        for (k, s) in slots {
            if s.went_down && s.up {
                out.push((k.clone(), false));
            }
            out.push((k, s.up));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_final_state_of_each_key_survives_any_burst() {
        let (tx, mut rx) = channel::<u32>();
        let mut expect = HashMap::new();
        let mut r: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..100_000 {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            let key = (r % 500) as u32;
            let up = r & (1 << 40) != 0;
            tx.set(key, up);
            expect.insert(key, up);
        }
        let mut got = HashMap::new();
        for (k, up) in rx.take() {
            got.insert(k, up);
        }
        assert_eq!(got, expect);
        assert!(rx.take().is_empty(), "taken once");
    }

    #[test]
    fn a_flap_is_delivered_as_down_then_up() {
        let (tx, mut rx) = channel::<&str>();
        tx.set("Tunnel1", true);
        tx.set("Tunnel2", true);
        tx.set("Tunnel1", false);
        tx.set("Tunnel1", true);
        tx.set("Tunnel3", false);
        tx.set("Tunnel2", false);
        assert_eq!(
            rx.take(),
            vec![
                ("Tunnel1", false),
                ("Tunnel1", true),
                ("Tunnel2", false),
                ("Tunnel3", false),
            ]
        );
    }

    #[tokio::test]
    async fn the_receiver_wakes_and_sees_the_end_of_the_senders() {
        let (tx, mut rx) = channel::<u8>();
        let tx2 = tx.clone();
        let t = tokio::spawn(async move {
            for i in 0..10u8 {
                tx2.set(i, true);
                tokio::task::yield_now().await;
            }
        });
        let mut seen = HashMap::new();
        drop(tx);
        while rx.changed().await {
            seen.extend(rx.take());
        }
        seen.extend(rx.take());
        t.await.expect("sender task");
        assert_eq!(seen.len(), 10);
        assert!(seen.values().all(|up| *up));
    }
}
