//! Adj-RIB-In and Loc-RIB with the decision process (RFC 4271 section 9),
//! sans-IO.
//!
//! One [`Rib`] holds, per prefix, every path that passed import policy
//! (Adj-RIB-In after policy) and marks the best one and its multipaths
//! (Loc-RIB). The speaker feeds it with [`Rib::update`] and
//! [`Rib::withdraw`], which run the decision process for that prefix at
//! once (no second lookup), then calls [`Rib::run_decision`] to learn
//! which prefixes changed (for export and the FIB).
//!
//! Memory is what a million prefixes cost: a prefix with one path keeps
//! it inline, attributes are shared `Arc`s, and the table is a B-tree
//! (ordered output for `show ip bgp`, no doubling hash table).

mod attrs;
mod decision;

use std::net::Ipv4Addr;
use std::sync::Arc;

use ipnetwork::{IpNetwork, Ipv4Network, Ipv6Network};
use rib::cow::CowMap;

pub use attrs::RouteAttrs;
pub use decision::{compare, multipath_eligible, DecisionConfig, PeerMeta, Step};

/// A peer's index in the RIB. [`LOCAL`] is this router. Two octets keep
/// a path at 16 octets; a RIB takes up to 65535 peers.
pub type PeerIdx = u16;
/// The index of locally originated paths (`network`, `redistribute`).
pub const LOCAL: PeerIdx = 0;

const BEST: u8 = 1;
const MULTIPATH: u8 = 2;
const STALE: u8 = 4;

/// One path to a prefix (16 octets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    /// Its attributes.
    pub attrs: Arc<RouteAttrs>,
    /// ADD-PATH identifier it arrived with (0 without ADD-PATH).
    pub path_id: u32,
    /// Where it came from.
    pub peer: PeerIdx,
    flags: u8,
}

impl Path {
    /// A new path (not best, not stale).
    pub fn new(peer: PeerIdx, path_id: u32, attrs: Arc<RouteAttrs>) -> Path {
        Path {
            attrs,
            path_id,
            peer,
            flags: 0,
        }
    }
    /// The best path of its prefix.
    pub fn is_best(&self) -> bool {
        self.flags & BEST != 0
    }
    /// Used for forwarding together with the best path (the best path
    /// itself counts when there is more than one).
    pub fn is_multipath(&self) -> bool {
        self.flags & MULTIPATH != 0
    }
    /// Kept from a restarting peer (RFC 4724) until it re-sends it.
    pub fn is_stale(&self) -> bool {
        self.flags & STALE != 0
    }
}

/// The paths of one prefix; a single path is kept inline, and the whole
/// is 16 octets either way (the `Arc` of `One` is never null, which tells
/// the variants apart).
#[derive(Debug, Clone)]
enum Paths {
    One(Path),
    #[allow(clippy::box_collection)]
    Many(Box<Vec<Path>>),
}

impl Paths {
    fn as_slice(&self) -> &[Path] {
        match self {
            Paths::One(p) => std::slice::from_ref(p),
            Paths::Many(v) => v.as_slice(),
        }
    }
    fn as_mut_slice(&mut self) -> &mut [Path] {
        match self {
            Paths::One(p) => std::slice::from_mut(p),
            Paths::Many(v) => v.as_mut_slice(),
        }
    }
    /// Inserts or replaces the path of (peer, path_id); whether anything
    /// changed.
    fn upsert(&mut self, path: Path) -> bool {
        if let Some(old) = self
            .as_mut_slice()
            .iter_mut()
            .find(|p| p.peer == path.peer && p.path_id == path.path_id)
        {
            let same = Arc::ptr_eq(&old.attrs, &path.attrs) || old.attrs == path.attrs;
            let was_stale = old.is_stale();
            old.flags &= !STALE;
            if !same {
                old.attrs = path.attrs;
            }
            return !same || was_stale;
        }
        match self {
            Paths::One(p) => {
                let first = p.clone();
                *self = Paths::Many(Box::new(vec![first, path]));
            }
            Paths::Many(v) => v.push(path),
        }
        true
    }
    /// Removes the paths matching `f`; whether any was removed and
    /// whether the list is now empty.
    fn remove_where(&mut self, f: impl Fn(&Path) -> bool) -> (bool, bool) {
        match self {
            Paths::One(p) => {
                let hit = f(p);
                (hit, hit)
            }
            Paths::Many(v) => {
                let before = v.len();
                v.retain(|p| !f(p));
                let removed = v.len() != before;
                if v.len() == 1 {
                    if let Some(p) = v.pop() {
                        *self = Paths::One(p);
                    }
                    return (removed, false);
                }
                (removed, v.is_empty())
            }
        }
    }
}

/// An IPv4 prefix as a table key: 5 octets, ordered by address then
/// length with integer compares (`Ipv4Network`'s own order compares the
/// address octet by octet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct K4 {
    addr: [u8; 4],
    len: u8,
}

impl From<Ipv4Network> for K4 {
    fn from(n: Ipv4Network) -> K4 {
        K4 {
            addr: n.ip().octets(),
            len: n.prefix(),
        }
    }
}

impl K4 {
    fn net(self) -> Ipv4Network {
        // The length came from a valid network.
        Ipv4Network::new(self.addr.into(), self.len)
            .unwrap_or_else(|_| Ipv4Network::from(std::net::Ipv4Addr::from(self.addr)))
    }
}

impl Ord for K4 {
    fn cmp(&self, o: &K4) -> std::cmp::Ordering {
        (u32::from_be_bytes(self.addr), self.len).cmp(&(u32::from_be_bytes(o.addr), o.len))
    }
}

impl rib::cow::Rank for K4 {
    fn rank(&self) -> u64 {
        rib::cow::rank_v4(u32::from_be_bytes(self.addr), self.len)
    }
}

impl rib::cow::Rank for K6 {
    fn rank(&self) -> u64 {
        rib::cow::rank_v6(&self.addr)
    }
}

impl PartialOrd for K4 {
    fn partial_cmp(&self, o: &K4) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

/// An IPv6 prefix as a table key: 17 octets, integer compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct K6 {
    addr: [u8; 16],
    len: u8,
}

impl From<Ipv6Network> for K6 {
    fn from(n: Ipv6Network) -> K6 {
        K6 {
            addr: n.ip().octets(),
            len: n.prefix(),
        }
    }
}

impl K6 {
    fn net(self) -> Ipv6Network {
        Ipv6Network::new(self.addr.into(), self.len)
            .unwrap_or_else(|_| Ipv6Network::from(std::net::Ipv6Addr::from(self.addr)))
    }
}

impl Ord for K6 {
    fn cmp(&self, o: &K6) -> std::cmp::Ordering {
        (u128::from_be_bytes(self.addr), self.len).cmp(&(u128::from_be_bytes(o.addr), o.len))
    }
}

impl PartialOrd for K6 {
    fn partial_cmp(&self, o: &K6) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

/// Everything known about one prefix.
#[derive(Debug, Clone)]
pub struct Dest {
    paths: Paths,
}

impl Dest {
    /// All paths, in arrival order.
    pub fn paths(&self) -> &[Path] {
        self.paths.as_slice()
    }
    /// The best path.
    pub fn best(&self) -> Option<&Path> {
        self.paths().iter().find(|p| p.is_best())
    }
    /// The paths used for forwarding: the best one and its multipaths.
    pub fn forwarding(&self) -> impl Iterator<Item = &Path> {
        self.paths()
            .iter()
            .filter(|p| p.is_best() || p.is_multipath())
    }
}

/// One address family's table: dense sorted chunks (issue 16: a
/// B-tree's nodes half fill when a table loads in order, ~41 MB at 1M
/// against 24).
#[derive(Debug, Clone)]
struct Table<K: rib::cow::Rank + Copy> {
    routes: CowMap<K, Dest>,
    dirty: Vec<K>,
    cfg: DecisionConfig,
}

impl<K: rib::cow::Rank + Copy> Default for Table<K> {
    fn default() -> Self {
        Table {
            routes: CowMap::new(),
            dirty: Vec::new(),
            cfg: DecisionConfig::default(),
        }
    }
}

/// Per-peer bookkeeping.
#[derive(Debug, Clone)]
struct PeerEntry {
    meta: PeerMeta,
    /// Paths held from this peer, IPv4 and IPv6.
    count: [u64; 2],
}

/// Address family of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Afi {
    /// IPv4 unicast.
    V4,
    /// IPv6 unicast.
    V6,
}

impl Afi {
    /// The family of a prefix.
    pub fn of(p: &IpNetwork) -> Afi {
        match p {
            IpNetwork::V4(_) => Afi::V4,
            IpNetwork::V6(_) => Afi::V6,
        }
    }
    fn idx(self) -> usize {
        match self {
            Afi::V4 => 0,
            Afi::V6 => 1,
        }
    }
}

/// Adj-RIB-In (after import policy) and Loc-RIB of both unicast families.
#[derive(Debug, Clone)]
pub struct Rib {
    v4: Table<K4>,
    v6: Table<K6>,
    peers: Vec<Option<PeerEntry>>,
}

/// Runs `$body` with `$t` bound to the table of `$prefix`'s family,
/// `$k` to the typed key and `$peers` to the peer table.
macro_rules! with_table {
    ($self:ident, $prefix:expr, |$t:ident, $k:ident, $peers:ident| $body:expr) => {
        match $prefix {
            IpNetwork::V4(n) => {
                let $k = K4::from(n);
                let $t = &mut $self.v4;
                let $peers = &$self.peers;
                $body
            }
            IpNetwork::V6(n) => {
                let $k = K6::from(n);
                let $t = &mut $self.v6;
                let $peers = &$self.peers;
                $body
            }
        }
    };
}

impl Rib {
    /// An empty RIB; `router_id` identifies locally originated paths.
    pub fn new(router_id: Ipv4Addr) -> Rib {
        Rib {
            v4: Table::default(),
            v6: Table::default(),
            peers: vec![Some(PeerEntry {
                meta: PeerMeta::local(router_id),
                count: [0; 2],
            })],
        }
    }

    /// Sets the decision settings of a family; every prefix of it is
    /// decided again (and reported by the next [`Rib::run_decision`]).
    pub fn set_config(&mut self, afi: Afi, cfg: DecisionConfig) {
        fn apply<K: rib::cow::Rank + Copy>(
            t: &mut Table<K>,
            peers: &[Option<PeerEntry>],
            cfg: DecisionConfig,
        ) {
            if t.cfg == cfg {
                return;
            }
            t.cfg = cfg;
            redecide(t, peers, |_| true);
        }
        match afi {
            Afi::V4 => apply(&mut self.v4, &self.peers, cfg),
            Afi::V6 => apply(&mut self.v6, &self.peers, cfg),
        }
    }

    /// Registers a peer and returns its index; `None` when 65535 peers
    /// are registered already.
    pub fn add_peer(&mut self, meta: PeerMeta) -> Option<PeerIdx> {
        let entry = Some(PeerEntry {
            meta,
            count: [0; 2],
        });
        if let Some(i) = self.peers.iter().skip(1).position(|p| p.is_none()) {
            let idx = i + 1;
            if let Some(slot) = self.peers.get_mut(idx) {
                *slot = entry;
            }
            return PeerIdx::try_from(idx).ok();
        }
        let idx = PeerIdx::try_from(self.peers.len()).ok()?;
        self.peers.push(entry);
        Some(idx)
    }

    /// Updates a registered peer's identity (BGP Identifier after OPEN);
    /// the prefixes it has paths for are decided again.
    pub fn set_peer_meta(&mut self, peer: PeerIdx, meta: PeerMeta) {
        let Some(Some(e)) = self.peers.get_mut(peer as usize) else {
            return;
        };
        if e.meta == meta {
            return;
        }
        e.meta = meta;
        let has = |d: &Dest| d.paths().iter().any(|p| p.peer == peer);
        if e.count.iter().any(|c| *c > 0) {
            redecide(&mut self.v4, &self.peers, has);
            redecide(&mut self.v6, &self.peers, has);
        }
    }

    /// Forgets a peer: its paths are withdrawn and its index freed.
    pub fn remove_peer(&mut self, peer: PeerIdx) {
        if peer == LOCAL {
            return;
        }
        self.withdraw_peer(peer, None);
        if let Some(slot) = self.peers.get_mut(peer as usize) {
            *slot = None;
        }
    }

    /// The peer behind an index.
    pub fn peer_meta(&self, peer: PeerIdx) -> Option<&PeerMeta> {
        self.peers
            .get(peer as usize)
            .and_then(|p| p.as_ref())
            .map(|e| &e.meta)
    }

    /// How many paths a peer has in a family.
    pub fn peer_count(&self, peer: PeerIdx, afi: Afi) -> u64 {
        self.peers
            .get(peer as usize)
            .and_then(|p| p.as_ref())
            .and_then(|e| e.count.get(afi.idx()).copied())
            .unwrap_or(0)
    }

    fn count_mut(&mut self, peer: PeerIdx, afi: Afi) -> Option<&mut u64> {
        self.peers
            .get_mut(peer as usize)
            .and_then(|p| p.as_mut())
            .and_then(|e| e.count.get_mut(afi.idx()))
    }

    /// Adds or replaces the path of (`peer`, `path_id`) to `prefix`.
    /// Returns whether anything changed.
    pub fn update(
        &mut self,
        peer: PeerIdx,
        prefix: IpNetwork,
        path_id: u32,
        attrs: Arc<RouteAttrs>,
    ) -> bool {
        let mut path = Path::new(peer, path_id, attrs);
        // Alone (a new prefix), it is the best path.
        path.flags = BEST;
        let new = Dest {
            paths: Paths::One(path),
        };
        let (changed, added) = with_table!(self, prefix, |t, k, peers| {
            // One search: a table loading is nearly all new prefixes.
            let cfg = &t.cfg;
            let (changed, added) = t
                .routes
                .upsert(k, new, |d, new| {
                    let Paths::One(mut path) = new.paths else {
                        return (false, false);
                    };
                    path.flags = 0;
                    let before = d.paths.as_slice().len();
                    let ch = d.paths.upsert(path);
                    if ch {
                        decide(d, peers, cfg);
                    }
                    (ch, d.paths.as_slice().len() > before)
                })
                .unwrap_or((true, true));
            if changed {
                t.dirty.push(k);
            }
            (changed, added)
        });
        if added {
            if let Some(c) = self.count_mut(peer, Afi::of(&prefix)) {
                *c += 1;
            }
        }
        changed
    }

    /// Removes the path of (`peer`, `path_id`) to `prefix`; whether there
    /// was one.
    pub fn withdraw(&mut self, peer: PeerIdx, prefix: IpNetwork, path_id: u32) -> bool {
        let removed = with_table!(self, prefix, |t, k, peers| {
            let Some(d) = t.routes.get_mut(&k) else {
                return false;
            };
            let (removed, empty) = d
                .paths
                .remove_where(|p| p.peer == peer && p.path_id == path_id);
            if empty {
                t.routes.remove(&k);
            } else if removed {
                decide(d, peers, &t.cfg);
            }
            if removed {
                t.dirty.push(k);
            }
            removed
        });
        if removed {
            if let Some(c) = self.count_mut(peer, Afi::of(&prefix)) {
                *c = c.saturating_sub(1);
            }
        }
        removed
    }

    /// Keeps the paths for which `keep` holds; returns how many went.
    fn retain_paths<K: rib::cow::Rank + Copy>(
        t: &mut Table<K>,
        peers: &[Option<PeerEntry>],
        keep: impl Fn(&Path) -> bool,
    ) -> u64 {
        let mut removed = 0u64;
        let mut gone = Vec::new();
        for (k, d) in t.routes.iter_mut() {
            let before = d.paths().len();
            let (hit, empty) = d.paths.remove_where(|p| !keep(p));
            if hit {
                removed += (before - if empty { 0 } else { d.paths().len() }) as u64;
                t.dirty.push(*k);
                if empty {
                    gone.push(*k);
                } else {
                    decide(d, peers, &t.cfg);
                }
            }
        }
        for k in gone {
            t.routes.remove(&k);
        }
        removed
    }

    /// Withdraws every path of `peer` (in one family, or both).
    pub fn withdraw_peer(&mut self, peer: PeerIdx, afi: Option<Afi>) -> u64 {
        let mut n = 0;
        if afi != Some(Afi::V6) {
            n += Self::retain_paths(&mut self.v4, &self.peers, |p| p.peer != peer);
            if let Some(c) = self.count_mut(peer, Afi::V4) {
                *c = 0;
            }
        }
        if afi != Some(Afi::V4) {
            n += Self::retain_paths(&mut self.v6, &self.peers, |p| p.peer != peer);
            if let Some(c) = self.count_mut(peer, Afi::V6) {
                *c = 0;
            }
        }
        n
    }

    /// Marks every path of `peer` in `afi` stale (RFC 4724: the peer is
    /// restarting; its paths stay in use until it re-sends or the restart
    /// timer ends). Returns how many.
    pub fn mark_stale(&mut self, peer: PeerIdx, afi: Afi) -> u64 {
        fn mark<K: rib::cow::Rank + Copy>(t: &mut Table<K>, peer: PeerIdx) -> u64 {
            let mut n = 0;
            for d in t.routes.values_mut() {
                for p in d.paths.as_mut_slice() {
                    if p.peer == peer {
                        p.flags |= STALE;
                        n += 1;
                    }
                }
            }
            n
        }
        match afi {
            Afi::V4 => mark(&mut self.v4, peer),
            Afi::V6 => mark(&mut self.v6, peer),
        }
    }

    /// Removes the paths of `peer` in `afi` that are still stale (after
    /// its End-of-RIB, or when the restart or stale timer ran out).
    pub fn sweep_stale(&mut self, peer: PeerIdx, afi: Afi) -> u64 {
        let n = match afi {
            Afi::V4 => Self::retain_paths(&mut self.v4, &self.peers, |p| {
                !(p.peer == peer && p.is_stale())
            }),
            Afi::V6 => Self::retain_paths(&mut self.v6, &self.peers, |p| {
                !(p.peer == peer && p.is_stale())
            }),
        };
        if let Some(c) = self.count_mut(peer, afi) {
            *c = c.saturating_sub(n);
        }
        n
    }

    /// Whether `peer` has stale paths in `afi`.
    pub fn has_stale(&self, peer: PeerIdx, afi: Afi) -> bool {
        fn any<K: rib::cow::Rank + Copy>(t: &Table<K>, peer: PeerIdx) -> bool {
            t.routes
                .values()
                .any(|d| d.paths().iter().any(|p| p.peer == peer && p.is_stale()))
        }
        match afi {
            Afi::V4 => any(&self.v4, peer),
            Afi::V6 => any(&self.v6, peer),
        }
    }

    /// Calls `changed` for every prefix changed since the last call (also
    /// when the prefix is gone: [`Rib::get`] then returns `None`). The
    /// decision process ran when each changed, so [`Rib::get`] already
    /// shows the new best path and multipaths; the caller compares with
    /// what it exported or installed before. Small batches come in prefix
    /// order without repeats; a large batch (a table transfer) comes in
    /// the order of the changes and may repeat a prefix.
    pub fn run_decision(&mut self, mut changed: impl FnMut(IpNetwork)) {
        report_changed(&mut self.v4, |k| changed(IpNetwork::V4(k.net())));
        report_changed(&mut self.v6, |k| changed(IpNetwork::V6(k.net())));
    }

    /// Whether prefixes wait for [`Rib::run_decision`].
    pub fn has_dirty(&self) -> bool {
        !self.v4.dirty.is_empty() || !self.v6.dirty.is_empty()
    }

    /// What is known about `prefix`.
    pub fn get(&self, prefix: &IpNetwork) -> Option<&Dest> {
        match prefix {
            IpNetwork::V4(k) => self.v4.routes.get(&K4::from(*k)),
            IpNetwork::V6(k) => self.v6.routes.get(&K6::from(*k)),
        }
    }

    /// Every prefix of a family with its paths, in prefix order.
    pub fn iter(&self, afi: Afi) -> Box<dyn Iterator<Item = (IpNetwork, &Dest)> + '_> {
        match afi {
            Afi::V4 => Box::new(
                self.v4
                    .routes
                    .iter()
                    .map(|(k, d)| (IpNetwork::V4(k.net()), d)),
            ),
            Afi::V6 => Box::new(
                self.v6
                    .routes
                    .iter()
                    .map(|(k, d)| (IpNetwork::V6(k.net()), d)),
            ),
        }
    }

    /// Number of prefixes in a family.
    pub fn len(&self, afi: Afi) -> usize {
        match afi {
            Afi::V4 => self.v4.routes.len(),
            Afi::V6 => self.v6.routes.len(),
        }
    }

    /// Whether both families are empty.
    pub fn is_empty(&self) -> bool {
        self.v4.routes.is_empty() && self.v6.routes.is_empty()
    }
}

fn meta(peers: &[Option<PeerEntry>], idx: PeerIdx) -> Option<&PeerMeta> {
    peers
        .get(idx as usize)
        .and_then(|p| p.as_ref())
        .map(|e| &e.meta)
}

/// Reports the prefixes changed since the last call (each was decided
/// when it changed).
fn report_changed<K: rib::cow::Rank + Copy>(t: &mut Table<K>, mut changed: impl FnMut(K)) {
    if t.dirty.is_empty() {
        return;
    }
    let mut dirty = std::mem::take(&mut t.dirty);
    // A table transfer changes each prefix once; only then is it worth
    // not sorting.
    if dirty.len() < 4096 {
        dirty.sort_unstable();
        dirty.dedup();
    }
    for k in dirty {
        changed(k);
    }
}

/// Decides again the prefixes for which `which` holds, and marks them
/// changed.
fn redecide<K: rib::cow::Rank + Copy>(
    t: &mut Table<K>,
    peers: &[Option<PeerEntry>],
    which: impl Fn(&Dest) -> bool,
) {
    for (k, d) in t.routes.iter_mut() {
        if which(d) {
            decide(d, peers, &t.cfg);
            t.dirty.push(*k);
        }
    }
}

/// Marks the best path and the multipaths of one prefix; whether the
/// marks changed.
fn decide(d: &mut Dest, peers: &[Option<PeerEntry>], cfg: &DecisionConfig) {
    let paths = d.paths.as_mut_slice();
    let unknown = PeerMeta::local(Ipv4Addr::UNSPECIFIED);
    let m = |p: &Path| meta(peers, p.peer).unwrap_or(&unknown);
    let mut best = 0usize;
    for i in 1..paths.len() {
        if let (Some(a), Some(b)) = (paths.get(i), paths.get(best)) {
            if compare(a, m(a), b, m(b)).0 == std::cmp::Ordering::Less {
                best = i;
            }
        }
    }
    for p in paths.iter_mut() {
        p.flags &= !(BEST | MULTIPATH);
    }
    let Some(b) = paths.get(best).cloned() else {
        return;
    };
    let bm = m(&b).clone();
    let limit = if bm.ebgp {
        cfg.maximum_paths
    } else {
        cfg.maximum_paths_ibgp
    };
    let mut extra: Vec<usize> = Vec::new();
    if limit > 1 {
        for (i, p) in paths.iter().enumerate() {
            if i == best {
                continue;
            }
            let (_, step) = compare(&b, &bm, p, m(p));
            if step > Step::IgpCost && multipath_eligible(&b, &bm, p, m(p), cfg) {
                extra.push(i);
            }
        }
        // The best of the candidates first, up to the limit.
        extra.sort_by(|&i, &j| match (paths.get(i), paths.get(j)) {
            (Some(a), Some(b)) => compare(a, m(a), b, m(b)).0,
            _ => std::cmp::Ordering::Equal,
        });
        extra.truncate(usize::from(limit) - 1);
    }
    if let Some(p) = paths.get_mut(best) {
        p.flags |= BEST;
        if !extra.is_empty() {
            p.flags |= MULTIPATH;
        }
    }
    for i in extra {
        if let Some(p) = paths.get_mut(i) {
            p.flags |= MULTIPATH;
        }
    }
}

const _: () = assert!(std::mem::size_of::<Paths>() == 16);

#[cfg(test)]
mod tests;
