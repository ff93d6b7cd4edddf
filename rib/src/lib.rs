//! The routing table of rvpnd (issue 6), sans-IO: routes from every
//! source (connected networks, `ip route` / `ipv6 route`, BGP), selection
//! by administrative distance, recursive next-hop resolution, and ECMP
//! sets: what the FIB installs.
//!
//! The owner feeds candidates with [`Rib::set`] (one per source and
//! prefix; `None` removes it) and calls [`Rib::resolve`], which recomputes
//! exactly the prefixes that may have changed (the ones set, and those
//! whose gateways fall inside a changed prefix) and returns the FIB
//! changes. [`Rib::fib`] is the installed view for `show ip route`.
//!
//! Selection (as FRR's zebra): per prefix the candidate with the lowest
//! distance whose next hops resolve wins (ties: the lower metric, then the
//! source order connected, static, BGP). A gateway resolves through the
//! longest selected prefix that contains it (not the route itself), down
//! to a connected network, at most [`MAX_DEPTH`] levels; its interface is
//! then the connected network's. The winner's resolved next hops, with
//! duplicates removed, are its ECMP set.

// Not in [workspace.lints] (root Cargo.toml): these apply to this library
// only, and only outside its unit tests; a Cargo lints table applies to
// every target of every member and cannot depend on cfg(test).
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use pmap::PrefixMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use ipnetwork::IpNetwork;

/// How deep recursive next hops are followed.
pub const MAX_DEPTH: usize = 8;

/// Where a route comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// An interface's own network (code C).
    Connected,
    /// `ip route` / `ipv6 route` (code S).
    Static,
    /// BGP (code B).
    Bgp,
}

impl Source {
    /// FRR's one-letter code.
    pub fn code(self) -> char {
        match self {
            Source::Connected => 'C',
            Source::Static => 'S',
            Source::Bgp => 'B',
        }
    }
    /// The default administrative distance (BGP: eBGP's; iBGP is 200).
    pub fn default_distance(self) -> u8 {
        match self {
            Source::Connected => 0,
            Source::Static => 1,
            Source::Bgp => 20,
        }
    }
}

/// A next hop as a source gives it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NextHop {
    /// Through a gateway, resolved recursively.
    Gateway(IpAddr),
    /// Out of an interface (connected networks, `ip route P Tunnel1`).
    Interface(String),
    /// Through a gateway on a given interface (no resolution needed).
    GatewayOn(IpAddr, String),
    /// Dropped (`Null0`).
    Blackhole,
}

/// A resolved next hop: what the kernel gets.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resolved {
    /// Via `gateway` (if any) out of `ifname`.
    Via {
        /// The gateway; `None` for an on-link route.
        gateway: Option<IpAddr>,
        /// The outgoing interface.
        ifname: String,
    },
    /// Dropped.
    Blackhole,
}

impl fmt::Display for Resolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resolved::Via {
                gateway: Some(g),
                ifname,
            } => write!(f, "via {g}, {ifname}"),
            Resolved::Via {
                gateway: None,
                ifname,
            } => write!(f, "is directly connected, {ifname}"),
            Resolved::Blackhole => f.write_str("unreachable (blackhole)"),
        }
    }
}

/// What a routing protocol offers the RIB for some prefixes at once (BGP
/// after a decision run): `None` withdraws its candidate for the prefix.
pub type RouteBatch = Vec<(IpNetwork, Option<Candidate>)>;

/// A shared next-hop list behind a thin pointer: 8 octets where an
/// `Arc<[NextHop]>` takes 16, in every candidate of a full table.
pub type NextHops = Arc<Vec<NextHop>>;

/// A route offered by one source for one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Administrative distance (lower wins).
    pub distance: u8,
    /// Metric within the source (lower wins among equal distances).
    pub metric: u32,
    /// Next hops (more than one: ECMP); share one copy between
    /// candidates with the same set where there are many.
    pub nexthops: NextHops,
}

/// The route selected for a prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Selected {
    /// Its source.
    pub source: Source,
    /// Its distance.
    pub distance: u8,
    /// Its metric.
    pub metric: u32,
    /// The ECMP set, sorted, without duplicates; shared by every route
    /// with the same set (a full table through two tunnels has one).
    pub nexthops: Arc<[Resolved]>,
}

/// One change for the FIB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FibChange {
    /// Install or replace the route of a prefix.
    Set(IpNetwork, Selected),
    /// Remove the route of a prefix.
    Remove(IpNetwork),
}

impl FibChange {
    /// The prefix it changes.
    pub fn prefix(&self) -> IpNetwork {
        match self {
            FibChange::Set(p, _) | FibChange::Remove(p) => *p,
        }
    }
}

/// Candidates and selection of both families.
///
/// Per prefix the table keeps its candidates and its selection in dense
/// sorted chunks keyed by compact prefixes ([`pmap::PrefixMap`]): a BGP prefix costs its key, one
/// inline candidate and one selection, with next-hop lists and ECMP sets
/// shared (issue 16: a million prefixes in tens of megabytes).
#[derive(Debug, Clone, Default)]
pub struct Rib {
    candidates: PrefixMap<BySource>,
    /// The selections, shared: a full table through one set of next
    /// hops has one (an 8-octet pointer a prefix, not 24 octets).
    fib: PrefixMap<Arc<Selected>>,
    /// The distinct selections in use.
    selections: HashSet<Arc<Selected>>,
    dirty: BTreeSet<IpNetwork>,
    /// The distinct ECMP sets in use, shared by the routes that have them.
    hopsets: HashSet<Arc<[Resolved]>>,
    /// How many prefixes have a candidate through each gateway. When a
    /// prefix containing one of them moves, the candidates are scanned
    /// for the routes to recompute (rare: a connected network or the
    /// route to a next hop moving), which costs no set of prefixes per
    /// gateway (a full table through one gateway would keep a million).
    gateways: BTreeMap<IpAddr, usize>,
}

/// The candidates of one prefix by source. One candidate of one source
/// (every BGP prefix) is kept inline; otherwise a short sorted vector (a
/// prefix has one source or two).
#[derive(Debug, Clone)]
enum BySource {
    One(Candidate, Source),
    /// Boxed: the inline form then fits in 24 octets.
    Many(Box<[(Source, Vec<Candidate>)]>),
}

impl Default for BySource {
    fn default() -> Self {
        BySource::Many(Box::default())
    }
}

impl BySource {
    fn get(&self, s: &Source) -> Option<&[Candidate]> {
        self.iter().find(|(k, _)| *k == s).map(|(_, v)| v)
    }
    /// The vector form, leaving `self` empty.
    fn take(&mut self) -> Vec<(Source, Vec<Candidate>)> {
        match std::mem::take(self) {
            BySource::One(c, s) => vec![(s, vec![c])],
            BySource::Many(v) => v.into_vec(),
        }
    }
    /// From the vector form: inline where it fits.
    fn from_vec(mut v: Vec<(Source, Vec<Candidate>)>) -> BySource {
        if let [(s, list)] = v.as_mut_slice() {
            if list.len() == 1 {
                if let Some(c) = list.pop() {
                    return BySource::One(c, *s);
                }
            }
        }
        BySource::Many(v.into_boxed_slice())
    }
    fn insert(&mut self, s: Source, v: Vec<Candidate>) -> Option<Vec<Candidate>> {
        let mut m = self.take();
        let old = match m.binary_search_by_key(&s, |(k, _)| *k) {
            Ok(i) => m.get_mut(i).map(|slot| std::mem::replace(&mut slot.1, v)),
            Err(i) => {
                m.insert(i, (s, v));
                None
            }
        };
        *self = BySource::from_vec(m);
        old
    }
    fn remove(&mut self, s: &Source) -> Option<Vec<Candidate>> {
        let mut m = self.take();
        let old = m.iter().position(|(k, _)| k == s).map(|i| m.remove(i).1);
        *self = BySource::from_vec(m);
        old
    }
    fn is_empty(&self) -> bool {
        matches!(self, BySource::Many(v) if v.is_empty())
    }
    fn values(&self) -> impl Iterator<Item = &[Candidate]> {
        self.iter().map(|(_, v)| v)
    }
    fn iter(&self) -> impl Iterator<Item = (&Source, &[Candidate])> {
        let (one, many) = match self {
            BySource::One(c, s) => (Some((s, std::slice::from_ref(c))), &[][..]),
            BySource::Many(v) => (None, &v[..]),
        };
        one.into_iter()
            .chain(many.iter().map(|(k, v)| (k, v.as_slice())))
    }
    /// The distinct gateways of all its candidates.
    fn gateways(&self) -> Vec<IpAddr> {
        let mut g: Vec<IpAddr> = self.values().flatten().flat_map(gateways).collect();
        g.sort_unstable();
        g.dedup();
        g
    }
}

fn gateways(c: &Candidate) -> impl Iterator<Item = IpAddr> + '_ {
    c.nexthops.iter().filter_map(|n| match n {
        NextHop::Gateway(g) => Some(*g),
        _ => None,
    })
}

fn canonical(p: IpNetwork) -> IpNetwork {
    IpNetwork::new(p.network(), p.prefix()).unwrap_or(p)
}

impl Rib {
    /// An empty table.
    pub fn new() -> Rib {
        Rib::default()
    }

    /// Sets (or with `None` removes) what `source` offers for `prefix`.
    pub fn set(&mut self, source: Source, prefix: IpNetwork, candidate: Option<Candidate>) {
        self.set_all(source, prefix, candidate.into_iter().collect());
    }

    /// Sets everything `source` offers for `prefix` (several candidates:
    /// e.g. `ip route P A` and a floating `ip route P B 250`); an empty
    /// list removes them.
    pub fn set_all(&mut self, source: Source, prefix: IpNetwork, mut list: Vec<Candidate>) {
        let prefix = canonical(prefix);
        list.sort_by_key(|c| (c.distance, c.metric));
        let before = self
            .candidates
            .get(&prefix)
            .map(BySource::gateways)
            .unwrap_or_default();
        let old = match self.candidates.get_mut(&prefix) {
            Some(entry) => {
                let old = if list.is_empty() {
                    entry.remove(&source)
                } else {
                    entry.insert(source, list.clone())
                };
                if entry.is_empty() {
                    self.candidates.remove(&prefix);
                }
                old
            }
            None if list.is_empty() => None,
            None => {
                let mut entry = BySource::default();
                entry.insert(source, list.clone());
                self.candidates.insert(prefix, entry);
                None
            }
        }
        .unwrap_or_default();
        if old == list {
            return;
        }
        let after = self
            .candidates
            .get(&prefix)
            .map(BySource::gateways)
            .unwrap_or_default();
        for g in before.iter().filter(|g| !after.contains(g)) {
            if let Some(n) = self.gateways.get_mut(g) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.gateways.remove(g);
                }
            }
        }
        for g in after.iter().filter(|g| !before.contains(g)) {
            *self.gateways.entry(*g).or_default() += 1;
        }
        self.dirty.insert(prefix);
    }

    /// What `source` offers for `prefix` (its best candidate).
    pub fn candidate(&self, source: Source, prefix: &IpNetwork) -> Option<&Candidate> {
        self.candidates
            .get(prefix)
            .and_then(|m| m.get(&source))
            .and_then(|v| v.first())
    }

    /// Every candidate of a prefix, by source, lowest distance first.
    pub fn candidates(&self, prefix: &IpNetwork) -> impl Iterator<Item = (Source, &Candidate)> {
        self.candidates
            .get(prefix)
            .into_iter()
            .flat_map(|m| m.iter().flat_map(|(s, v)| v.iter().map(move |c| (*s, c))))
    }

    /// The selected routes, by prefix.
    pub fn fib(&self) -> &PrefixMap<Arc<Selected>> {
        &self.fib
    }

    /// The selections in use (held by a selected route) that go out of
    /// one of `ifnames`, by address (for [`std::sync::Arc::as_ptr`]
    /// comparisons against [`Rib::fib`]'s entries). There are few distinct
    /// selections (a full table through two tunnels has one), so this
    /// tells without a walk of the FIB whether a link carries any route.
    pub fn selections_through(&self, ifnames: &BTreeSet<String>) -> HashSet<usize> {
        self.selections
            .iter()
            .filter(|s| Arc::strong_count(s) > 1)
            .filter(|s| {
                s.nexthops.iter().any(|h| match h {
                    Resolved::Via { ifname, .. } => ifnames.contains(ifname),
                    Resolved::Blackhole => false,
                })
            })
            .map(|s| Arc::as_ptr(s) as usize)
            .collect()
    }

    /// Every prefix with a candidate, in order.
    pub fn prefixes(&self) -> impl Iterator<Item = IpNetwork> + '_ {
        self.candidates.keys()
    }

    /// Whether [`Rib::resolve`] has work.
    pub fn has_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// Recomputes what changed and returns the FIB changes. A prefix
    /// whose selection changed can change the resolution of gateways
    /// inside it, so those routes are recomputed too, until nothing moves.
    pub fn resolve(&mut self) -> Vec<FibChange> {
        // In the order computed: each round goes through its prefixes in
        // order; a later round's change of a prefix replaces an earlier
        // one (sorted and deduplicated at the end, which costs less than
        // a map of them: a full table can change in one call).
        let mut out: Vec<FibChange> = Vec::new();
        let mut rounds = 0;
        while !self.dirty.is_empty() && rounds <= MAX_DEPTH {
            rounds += 1;
            let dirty = std::mem::take(&mut self.dirty);
            let mut moved: Vec<IpNetwork> = Vec::new();
            // Many routes share few gateways (a full table through two
            // tunnels): resolve each once, and forget it when a prefix
            // holding it moves.
            let mut cache: HashMap<IpAddr, Vec<Resolved>> = HashMap::new();
            for p in dirty {
                let new = self.select(&p, &mut cache);
                let old = self.fib.get(&p).map(|s| &**s);
                if old == new.as_ref() {
                    continue;
                }
                cache.retain(|g, _| !p.contains(*g));
                moved.push(p);
                match new {
                    Some(s) => {
                        if !self.hopsets.contains(&*s.nexthops) {
                            self.hopsets.insert(s.nexthops.clone());
                        }
                        let shared = match self.selections.get(&s) {
                            Some(a) => a.clone(),
                            None => {
                                let a = Arc::new(s.clone());
                                self.selections.insert(a.clone());
                                a
                            }
                        };
                        self.fib.insert(p, shared);
                        out.push(FibChange::Set(p, s));
                    }
                    None => {
                        self.fib.remove(&p);
                        out.push(FibChange::Remove(p));
                    }
                }
            }
            // Routes whose gateway lies inside a prefix that moved (not
            // through that prefix itself): the gateways first, then one
            // scan of the candidates if any.
            let mut hit: BTreeMap<IpAddr, Vec<IpNetwork>> = BTreeMap::new();
            for q in &moved {
                let (lo, hi) = (q.network(), q.broadcast());
                for (g, _) in self.gateways.range(lo..=hi) {
                    hit.entry(*g).or_default().push(*q);
                }
            }
            if !hit.is_empty() {
                for (p, m) in self.candidates.iter() {
                    let again = m
                        .values()
                        .flatten()
                        .flat_map(gateways)
                        .any(|g| hit.get(&g).is_some_and(|qs| qs.iter().any(|q| *q != p)));
                    if again {
                        self.dirty.insert(p);
                    }
                }
            }
        }
        if self.hopsets.len() > 1024 {
            self.hopsets.retain(|h| Arc::strong_count(h) > 1);
        }
        if self.selections.len() > 1024 {
            self.selections.retain(|s| Arc::strong_count(s) > 1);
        }
        // A loop deeper than MAX_DEPTH rounds stops here; what is left
        // is retried at the next call.
        if rounds > 1 {
            // Stable: the later change of a prefix comes last of its run.
            out.sort_by_key(FibChange::prefix);
            out.reverse();
            out.dedup_by_key(|c| c.prefix());
            out.reverse();
        }
        out
    }

    /// The selection for `p` from its candidates and the current FIB.
    fn select(
        &self,
        p: &IpNetwork,
        cache: &mut HashMap<IpAddr, Vec<Resolved>>,
    ) -> Option<Selected> {
        let m = self.candidates.get(p)?;
        let mut order: Vec<(&Source, &Candidate)> = m
            .iter()
            .flat_map(|(s, v)| v.iter().map(move |c| (s, c)))
            .collect();
        order.sort_by_key(|(s, c)| (c.distance, c.metric, **s));
        for (s, c) in order {
            // Distance 255 is never installed (as in IOS/FRR).
            if c.distance == 255 {
                continue;
            }
            let mut hops: Vec<Resolved> = Vec::new();
            for n in c.nexthops.iter() {
                match n {
                    NextHop::Blackhole => hops.push(Resolved::Blackhole),
                    NextHop::Interface(i) => hops.push(Resolved::Via {
                        gateway: None,
                        ifname: i.clone(),
                    }),
                    NextHop::GatewayOn(g, i) => hops.push(Resolved::Via {
                        gateway: Some(*g),
                        ifname: i.clone(),
                    }),
                    // A route containing its own gateway resolves it
                    // differently (never through itself): not cached.
                    NextHop::Gateway(g) if p.contains(*g) => {
                        hops.extend(self.resolve_gateway(p, *g))
                    }
                    NextHop::Gateway(g) => {
                        let r = cache
                            .entry(*g)
                            .or_insert_with(|| self.resolve_gateway(p, *g));
                        hops.extend(r.iter().cloned())
                    }
                }
            }
            hops.sort();
            hops.dedup();
            if !hops.is_empty() {
                return Some(Selected {
                    source: s.to_owned(),
                    distance: c.distance,
                    metric: c.metric,
                    nexthops: self.hopset(hops),
                });
            }
        }
        None
    }

    /// The shared copy of an ECMP set. Sets no route uses any more are
    /// dropped once the table of them has grown.
    fn hopset(&self, hops: Vec<Resolved>) -> Arc<[Resolved]> {
        match self.hopsets.get(hops.as_slice()) {
            Some(h) => h.clone(),
            None => hops.into(),
        }
    }

    /// Resolves `gateway` (a next hop of `for_prefix`) through the FIB:
    /// the longest selected prefix containing it, other than `for_prefix`
    /// (one B-tree lookup per prefix length). Its next hops are already
    /// resolved, so one level is enough: a connected network puts the
    /// gateway on its interface; a route through another gateway makes
    /// that one the next hop.
    fn resolve_gateway(&self, for_prefix: &IpNetwork, gateway: IpAddr) -> Vec<Resolved> {
        let max = if gateway.is_ipv4() { 32 } else { 128 };
        let found = (0..=max).rev().find_map(|len| {
            let q = IpNetwork::new(gateway, len).ok().map(canonical)?;
            if &q == for_prefix {
                return None;
            }
            self.fib.get(&q)
        });
        let Some(sel) = found else {
            return Vec::new();
        };
        sel.nexthops
            .iter()
            .map(|h| match h {
                Resolved::Via {
                    gateway: None,
                    ifname,
                } => Resolved::Via {
                    gateway: Some(gateway),
                    ifname: ifname.clone(),
                },
                other => other.clone(),
            })
            .collect()
    }
}

pub mod cow;
pub mod pmap;

#[cfg(feature = "kernel")]
pub mod fib;

#[cfg(test)]
mod tests;
