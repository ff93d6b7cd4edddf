//! The readers' view of the routing table (`show ip route`), compact
//! (issue 16): per prefix a small row whose next hops are a shared list
//! (a full table through two tunnels has a handful), in a copy-on-write
//! chunked map ([`rib::pmap::PrefixMap`]) that the task updates in place and
//! publishes by cloning: the task's copy and the published one share
//! every chunk that did not change since.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipnetwork::IpNetwork;
use rib::pmap::PrefixMap;
use rib::Source;

/// Whether a selected route is in the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fibbed {
    /// Installed by rvpn.
    Installed,
    /// The kernel's own (connected networks).
    Kernel,
    /// Not written: the kernel refused it (why), or it is not tried
    /// (`--no-kernel-routes`).
    Rejected(String),
    /// Waiting to be written.
    Queued,
}

/// Why a route is not written when rvpnd keeps routes out of the kernel.
pub const NOT_WRITTEN: &str = "not written (no kernel routes)";

/// One route of a prefix as `show ip route` lists it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its source.
    pub source: Source,
    /// Administrative distance.
    pub distance: u8,
    /// Metric.
    pub metric: u32,
    /// Whether it is the selected route of its prefix.
    pub selected: bool,
    /// For the selected route: whether it is in the kernel.
    pub fib: Option<Fibbed>,
    /// Next hops: resolved ones for the selected route, as configured
    /// or learned otherwise.
    pub nexthops: Vec<Hop>,
    /// When the prefix's selection last changed.
    pub since: Instant,
}

/// A next hop for display.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Hop {
    /// The gateway, if any.
    pub gateway: Option<IpAddr>,
    /// The outgoing interface, if known (shared: a full table has a
    /// handful of interface names).
    pub ifname: Option<Arc<str>>,
    /// Dropped (Null0).
    pub blackhole: bool,
    /// Resolved and in use.
    pub active: bool,
}

/// [`Fibbed`] in one octet; the reason of a rejection is in
/// [`Table::rejected`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FibCode {
    None,
    Installed,
    Kernel,
    Queued,
    Rejected,
    NotWritten,
}

/// A shared next-hop list behind a thin pointer (8 octets, where an
/// `Arc<[Hop]>` takes 16: a million rows save 8 MB).
type Hops = Arc<Vec<Hop>>;

/// An [`Entry`] as the table keeps it (24 octets): next hops shared,
/// the time as nanoseconds from the table's base (exact: `show`
/// rounds uptimes down to the second).
#[derive(Debug, Clone)]
struct Slim {
    hops: Hops,
    since_ns: i64,
    metric: u32,
    source: Source,
    distance: u8,
    selected: bool,
    fib: FibCode,
}

/// The routes of one prefix: nearly always one.
#[derive(Debug, Clone)]
enum Routes {
    One(Slim),
    Many(Arc<[Slim]>),
}

impl Routes {
    fn as_slice(&self) -> &[Slim] {
        match self {
            Routes::One(s) => std::slice::from_ref(s),
            Routes::Many(v) => v,
        }
    }
}

/// The shared copies of next-hop lists.
#[derive(Debug, Default)]
pub struct HopSets(HashSet<Hops>);

impl HopSets {
    /// The shared copy of `hops`. Lists no entry uses any more are
    /// dropped once there are many.
    fn share(&mut self, hops: Vec<Hop>) -> Hops {
        if let Some(h) = self.0.get(&hops) {
            return h.clone();
        }
        if self.0.len() > 1024 {
            self.0.retain(|h| Arc::strong_count(h) > 1);
        }
        let h: Hops = Arc::new(hops);
        self.0.insert(h.clone());
        h
    }
}

/// What readers see: every prefix with its routes, selected first.
#[derive(Debug, Clone)]
pub struct Table {
    routes: PrefixMap<Routes>,
    /// Why the kernel refused the selected route of a prefix.
    rejected: PrefixMap<Arc<str>>,
    /// What the entries' times count from.
    base: Instant,
}

impl Default for Table {
    fn default() -> Self {
        Table {
            routes: PrefixMap::new(),
            rejected: PrefixMap::new(),
            base: Instant::now(),
        }
    }
}

impl Table {
    /// How many prefixes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Every prefix, in order.
    pub fn prefixes(&self) -> impl Iterator<Item = IpNetwork> + '_ {
        self.routes.keys()
    }

    /// Whether `p` has routes.
    pub fn contains(&self, p: &IpNetwork) -> bool {
        self.routes.contains_key(p)
    }

    /// Whether `p` has a selected route.
    pub fn has_selected(&self, p: &IpNetwork) -> bool {
        self.routes
            .get(p)
            .is_some_and(|r| r.as_slice().iter().any(|s| s.selected))
    }

    /// When the selection of `p` last changed, if it has routes.
    pub fn since(&self, p: &IpNetwork) -> Option<Instant> {
        let r = self.routes.get(p)?;
        r.as_slice().first().map(|s| self.instant(s.since_ns))
    }

    /// The routes of `p`, selected first.
    pub fn entries(&self, p: &IpNetwork) -> Option<Vec<Entry>> {
        let r = self.routes.get(p)?;
        Some(r.as_slice().iter().map(|s| self.entry(p, s)).collect())
    }

    /// Every prefix with its routes, in order.
    pub fn iter(&self) -> impl Iterator<Item = (IpNetwork, Vec<Entry>)> + '_ {
        self.routes.iter().map(|(p, r)| {
            let es = r.as_slice().iter().map(|s| self.entry(&p, s)).collect();
            (p, es)
        })
    }

    /// Sets the routes of `p` (none: removes it), sharing next-hop lists
    /// through `sets`.
    pub fn set(&mut self, p: IpNetwork, entries: Vec<Entry>, sets: &mut HopSets) {
        let mut why: Option<Arc<str>> = None;
        let mut slims: Vec<Slim> = Vec::with_capacity(entries.len());
        for e in entries {
            let fib = match e.fib {
                None => FibCode::None,
                Some(Fibbed::Installed) => FibCode::Installed,
                Some(Fibbed::Kernel) => FibCode::Kernel,
                Some(Fibbed::Queued) => FibCode::Queued,
                Some(Fibbed::Rejected(w)) if w == NOT_WRITTEN => FibCode::NotWritten,
                Some(Fibbed::Rejected(w)) => {
                    why = Some(match self.rejected.get(&p) {
                        Some(old) if **old == *w => old.clone(),
                        _ => Arc::from(w),
                    });
                    FibCode::Rejected
                }
            };
            slims.push(Slim {
                hops: sets.share(e.nexthops),
                since_ns: self.nanos(e.since),
                metric: e.metric,
                source: e.source,
                distance: e.distance,
                selected: e.selected,
                fib,
            });
        }
        match why {
            Some(w) => {
                if self.rejected.get(&p) != Some(&w) {
                    self.rejected.insert(p, w);
                }
            }
            None => {
                if self.rejected.contains_key(&p) {
                    self.rejected.remove(&p);
                }
            }
        }
        let routes = match slims.len() {
            0 => {
                self.routes.remove(&p);
                return;
            }
            1 => match slims.pop() {
                Some(s) => Routes::One(s),
                None => return,
            },
            _ => Routes::Many(slims.into()),
        };
        self.routes.insert(p, routes);
    }

    fn nanos(&self, t: Instant) -> i64 {
        match t.checked_duration_since(self.base) {
            Some(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
            None => i64::try_from(self.base.saturating_duration_since(t).as_nanos())
                .map(|m| -m)
                .unwrap_or(i64::MIN + 1),
        }
    }

    fn instant(&self, ns: i64) -> Instant {
        let d = Duration::from_nanos(ns.unsigned_abs());
        let t = if ns >= 0 {
            self.base.checked_add(d)
        } else {
            self.base.checked_sub(d)
        };
        t.unwrap_or(self.base)
    }

    fn entry(&self, p: &IpNetwork, s: &Slim) -> Entry {
        let fib = match s.fib {
            FibCode::None => None,
            FibCode::Installed => Some(Fibbed::Installed),
            FibCode::Kernel => Some(Fibbed::Kernel),
            FibCode::Queued => Some(Fibbed::Queued),
            FibCode::NotWritten => Some(Fibbed::Rejected(NOT_WRITTEN.into())),
            FibCode::Rejected => Some(Fibbed::Rejected(
                self.rejected
                    .get(p)
                    .map(|w| w.to_string())
                    .unwrap_or_default(),
            )),
        };
        Entry {
            source: s.source,
            distance: s.distance,
            metric: s.metric,
            selected: s.selected,
            fib,
            nexthops: s.hops.as_ref().clone(),
            since: self.instant(s.since_ns),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_is_small() {
        // A row in the map: the prefix's 8-octet key and this.
        assert!(std::mem::size_of::<Slim>() <= 24);
        assert!(std::mem::size_of::<Routes>() <= 24);
    }

    #[test]
    fn entries_come_back_as_set() {
        let mut t = Table::default();
        let mut sets = HopSets::default();
        let p: IpNetwork = "10.0.0.0/24".parse().unwrap();
        let now = Instant::now();
        let hop = Hop {
            gateway: Some("192.0.2.1".parse().unwrap()),
            ifname: Some(Arc::from("eth0")),
            blackhole: false,
            active: true,
        };
        let e = |fib, since| Entry {
            source: Source::Static,
            distance: 1,
            metric: 7,
            selected: true,
            fib,
            nexthops: vec![hop.clone()],
            since,
        };
        for fib in [
            Some(Fibbed::Rejected("Network is unreachable".into())),
            Some(Fibbed::Rejected(NOT_WRITTEN.into())),
            Some(Fibbed::Queued),
            None,
        ] {
            let since = now - Duration::from_secs(90);
            t.set(p, vec![e(fib.clone(), since)], &mut sets);
            let got = t.entries(&p).unwrap();
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].fib, fib);
            assert_eq!(got[0].nexthops, vec![hop.clone()]);
            assert_eq!(got[0].metric, 7);
            assert_eq!(t.since(&p), Some(since));
        }
        // A snapshot does not see later changes.
        let snap = t.clone();
        t.set(p, Vec::new(), &mut sets);
        assert!(t.entries(&p).is_none() && t.len() == 0);
        assert_eq!(snap.entries(&p).unwrap().len(), 1);
        assert!(t.rejected.is_empty());
    }
}
