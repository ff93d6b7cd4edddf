//! The BGP policy engine's evaluation: prefix-lists, community-lists,
//! AS-path access-lists and route-maps as matchers that are cheap to run on
//! every received or advertised route. Building them from a configuration
//! is the daemon's business (rvpnd's `bgp::policy` compiles its running
//! configuration into a [`Policies`]).
//!
//! Semantics follow FRR:
//! - a prefix-list is searched in sequence order, the first matching entry
//!   decides; a missing list, or no matching entry, denies. `ip` and `ipv6`
//!   prefix-lists are separate name spaces and only match their family;
//! - a route-map is searched in sequence order; the first entry whose match
//!   clauses all match decides: permit applies its set clauses, deny
//!   rejects. No matching entry, or a missing route-map, denies;
//! - a standard community-list entry matches a route carrying all of its
//!   communities (`internet` matches every route); an AS-path access-list
//!   entry matches when its regular expression, with `_` standing for
//!   `(^|[,{}() ]|$)`, matches the path as FRR prints it. In both the
//!   first matching entry decides, and no matching entry is no match.
//!
//! Referenced lists are resolved when building: a route-map clause naming
//! a list that does not exist never matches.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use crate::rib::RouteAttrs;
use crate::wire::{AsPath, AsSegment, Community, SegmentType};
use ipnetwork::IpNetwork;
use regex::Regex;

/// The most AS numbers one path segment holds on the wire.
const MAX_SEGMENT_ASNS: usize = 255;

/// What FRR's `_` in an AS-path regular expression stands for.
const UNDERSCORE: &str = "(^|[,{}() ]|$)";

/// The leading `len` bits of a 128-bit value.
fn mask(len: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(len.min(128)))
        .unwrap_or(0)
}

/// A prefix as (is IPv6, address left-aligned in 128 bits, length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    v6: bool,
    bits: u128,
    len: u8,
}

impl Key {
    fn of(p: &IpNetwork) -> Key {
        match p {
            IpNetwork::V4(n) => Key {
                v6: false,
                bits: u128::from(u32::from(n.ip())) << 96,
                len: n.prefix(),
            },
            IpNetwork::V6(n) => Key {
                v6: true,
                bits: u128::from(n.ip()),
                len: n.prefix(),
            },
        }
    }
}

// ------------------------------------------------------------ prefix-lists

/// One prefix-list entry.
#[derive(Debug, Clone, Copy)]
pub struct PrefixEntry {
    permit: bool,
    /// The entry's prefix, host bits cleared.
    bits: u128,
    len: u8,
    /// Route prefix lengths accepted, inclusive.
    lo: u8,
    hi: u8,
}

impl PrefixEntry {
    /// An entry `permit|deny PREFIX [ge GE] [le LE]` of a list whose
    /// longest prefix length is `max` (32 or 128). An unset `ge`/`le` may
    /// be given as 0, as FRR stores it.
    pub fn new(
        permit: bool,
        prefix: &IpNetwork,
        ge: Option<u8>,
        le: Option<u8>,
        max: u8,
    ) -> PrefixEntry {
        let k = Key::of(prefix);
        // FRR stores an unset ge/le as 0.
        let ge = ge.filter(|&g| g != 0);
        let le = le.filter(|&l| l != 0);
        let hi = match (ge, le) {
            (_, Some(l)) => l,
            (Some(_), None) => max,
            (None, None) => k.len,
        };
        PrefixEntry {
            permit,
            bits: k.bits & mask(k.len),
            len: k.len,
            lo: ge.unwrap_or(k.len).max(k.len),
            hi: hi.min(max),
        }
    }

    fn matches(&self, k: Key) -> bool {
        k.len >= self.len
            && k.len >= self.lo
            && k.len <= self.hi
            && (k.bits ^ self.bits) & mask(self.len) == 0
    }
}

/// One family's prefix-list, entries in sequence order.
#[derive(Debug, Default)]
pub struct PrefixList {
    entries: Vec<PrefixEntry>,
}

impl PrefixList {
    /// A list of `entries`, in sequence order, all of one family.
    pub fn new(entries: Vec<PrefixEntry>) -> PrefixList {
        PrefixList { entries }
    }

    /// The first matching entry's action; deny when none matches. `k` must
    /// be of this list's family.
    fn permits(&self, k: Key) -> bool {
        self.entries
            .iter()
            .find(|e| e.matches(k))
            .is_some_and(|e| e.permit)
    }
}

// --------------------------------------------------------- community-lists

/// A community as written in the configuration: `AA:NN` or a well-known
/// name (`internet` is 0:0).
pub fn parse_community(s: &str) -> Option<Community> {
    Some(match s {
        "internet" => Community(0),
        "no-export" => Community::NO_EXPORT,
        "no-advertise" => Community::NO_ADVERTISE,
        "local-AS" => Community::NO_EXPORT_SUBCONFED,
        "no-peer" => Community::NOPEER,
        "graceful-shutdown" => Community::GRACEFUL_SHUTDOWN,
        "accept-own" => Community::ACCEPT_OWN,
        "llgr-stale" => Community::LLGR_STALE,
        "no-llgr" => Community::NO_LLGR,
        "blackhole" => Community::BLACKHOLE,
        _ => {
            let (a, v) = s.split_once(':')?;
            Community::new(a.parse().ok()?, v.parse().ok()?)
        }
    })
}

/// One community-list entry.
#[derive(Debug)]
pub struct CommunityEntry {
    permit: bool,
    /// Contains `internet`: matches every route.
    any: bool,
    /// `None`: an invalid community, never matches.
    communities: Option<Vec<Community>>,
}

impl CommunityEntry {
    /// An entry matching routes that carry all of `communities` (sorted,
    /// deduplicated; `None` if one was invalid: the entry never matches),
    /// or every route when `any` (the list held `internet`).
    pub fn new(permit: bool, any: bool, communities: Option<Vec<Community>>) -> CommunityEntry {
        CommunityEntry {
            permit,
            any,
            communities,
        }
    }

    fn matches(&self, route: &[Community]) -> bool {
        if self.any {
            return true;
        }
        match &self.communities {
            Some(cs) => cs.iter().all(|c| route.contains(c)),
            None => false,
        }
    }
}

/// A standard community-list, entries in sequence order.
#[derive(Debug, Default)]
pub struct CommunityList {
    entries: Vec<CommunityEntry>,
}

impl CommunityList {
    /// A list of `entries`, in sequence order.
    pub fn new(entries: Vec<CommunityEntry>) -> CommunityList {
        CommunityList { entries }
    }

    fn matches(&self, route: &[Community]) -> bool {
        self.entries
            .iter()
            .find(|e| e.matches(route))
            .is_some_and(|e| e.permit)
    }
}

// -------------------------------------------------- AS-path access-lists

/// An FRR AS-path regular expression for the `regex` crate: every `_`
/// becomes `(^|[,{}() ]|$)`, as FRR's `bgp_regcomp` does.
pub fn as_path_regex(re: &str) -> Result<Regex, regex::Error> {
    regex::RegexBuilder::new(&re.replace('_', UNDERSCORE))
        .size_limit(1 << 20)
        .build()
}

/// One AS-path access-list entry.
#[derive(Debug)]
pub struct AsPathEntry {
    permit: bool,
    /// `None`: the expression did not compile, never matches.
    re: Option<Regex>,
}

impl AsPathEntry {
    /// An entry with its expression compiled by [`as_path_regex`]
    /// (`None`: it did not compile, the entry never matches).
    pub fn new(permit: bool, re: Option<Regex>) -> AsPathEntry {
        AsPathEntry { permit, re }
    }
}

/// An AS-path access-list, entries in sequence order.
#[derive(Debug, Default)]
pub struct AsPathList {
    entries: Vec<AsPathEntry>,
}

impl AsPathList {
    /// A list of `entries`, in sequence order.
    pub fn new(entries: Vec<AsPathEntry>) -> AsPathList {
        AsPathList { entries }
    }

    fn matches(&self, path: &str) -> bool {
        self.entries
            .iter()
            .find(|e| e.re.as_ref().is_some_and(|r| r.is_match(path)))
            .is_some_and(|e| e.permit)
    }
}

// ------------------------------------------------------------- route-maps

/// A match clause with its list resolved (`None`: the list is missing,
/// the clause never matches).
#[derive(Debug)]
pub enum Match {
    /// `match ip address prefix-list`.
    Prefix4(Option<Arc<PrefixList>>),
    /// `match ipv6 address prefix-list`.
    Prefix6(Option<Arc<PrefixList>>),
    /// `match community`.
    Community(Option<Arc<CommunityList>>),
    /// `match as-path`.
    AsPath(Option<Arc<AsPathList>>),
}

/// A set clause, values parsed.
#[derive(Debug)]
pub enum Set {
    /// `set local-preference`.
    LocalPref(u32),
    /// `set metric`.
    Med(u32),
    /// `set weight`.
    Weight(u32),
    /// `set as-path prepend`.
    Prepend(Vec<u32>),
    /// Replace the communities; sorted, deduplicated.
    Communities(Vec<Community>),
    /// Add to the communities; sorted, deduplicated.
    AddCommunities(Vec<Community>),
    /// `set ip next-hop`.
    NextHop4(Ipv4Addr),
    /// `set ipv6 next-hop global`.
    NextHop6(Ipv6Addr),
}

fn strictly_sorted(cs: &[Community]) -> bool {
    cs.windows(2).all(|w| matches!(w, [a, b] if a < b))
}

impl Set {
    /// Whether applying this clause would change `a` (a route of family
    /// `v6`).
    fn changes(&self, v6: bool, a: &RouteAttrs) -> bool {
        match self {
            Set::LocalPref(v) => a.attrs.local_pref != Some(*v),
            Set::Med(v) => a.attrs.med != Some(*v),
            Set::Weight(v) => a.weight != *v,
            Set::Prepend(asns) => !asns.is_empty(),
            Set::Communities(cs) => a.attrs.communities != *cs,
            Set::AddCommunities(cs) => {
                let cur = &a.attrs.communities;
                !strictly_sorted(cur) || cs.iter().any(|c| cur.binary_search(c).is_err())
            }
            Set::NextHop4(n) => !v6 && a.next_hop != IpAddr::V4(*n),
            Set::NextHop6(n) => v6 && a.next_hop != IpAddr::V6(*n),
        }
    }

    /// Applies the clause; call only when [`Set::changes`].
    fn apply(&self, a: &mut RouteAttrs) {
        match self {
            Set::LocalPref(v) => a.attrs.local_pref = Some(*v),
            Set::Med(v) => a.attrs.med = Some(*v),
            Set::Weight(v) => a.weight = *v,
            Set::Prepend(asns) => {
                prepend(a.attrs.as_path.get_or_insert_with(AsPath::default), asns)
            }
            Set::Communities(cs) => a.attrs.communities.clone_from(cs),
            Set::AddCommunities(cs) => {
                let cur = &mut a.attrs.communities;
                cur.extend_from_slice(cs);
                cur.sort_unstable();
                cur.dedup();
            }
            Set::NextHop4(n) => a.next_hop = IpAddr::V4(*n),
            Set::NextHop6(n) => a.next_hop = IpAddr::V6(*n),
        }
    }
}

/// `set as-path prepend`: `asns`, in order, become the leftmost AS numbers,
/// merged into a leading AS_SEQUENCE while it stays within 255 AS numbers,
/// in new AS_SEQUENCE segments otherwise.
pub fn prepend(path: &mut AsPath, asns: &[u32]) {
    if asns.is_empty() {
        return;
    }
    let seq = |c: &[u32]| AsSegment {
        kind: SegmentType::Sequence,
        asns: c.to_vec(),
    };
    match path.segments.first_mut() {
        Some(s) if s.kind == SegmentType::Sequence => {
            if s.asns.len() + asns.len() <= MAX_SEGMENT_ASNS {
                s.asns.splice(0..0, asns.iter().copied());
            } else {
                let mut all = Vec::with_capacity(asns.len() + s.asns.len());
                all.extend_from_slice(asns);
                all.extend_from_slice(&s.asns);
                let segs: Vec<AsSegment> = all.chunks(MAX_SEGMENT_ASNS).map(seq).collect();
                path.segments.splice(0..1, segs);
            }
        }
        _ => {
            let segs: Vec<AsSegment> = asns.chunks(MAX_SEGMENT_ASNS).map(seq).collect();
            path.segments.splice(0..0, segs);
        }
    }
}

/// One route-map entry.
#[derive(Debug)]
pub struct RouteMapEntry {
    permit: bool,
    matches: Vec<Match>,
    sets: Vec<Set>,
}

impl RouteMapEntry {
    /// `route-map NAME permit|deny SEQ` with its match and set clauses.
    pub fn new(permit: bool, matches: Vec<Match>, sets: Vec<Set>) -> RouteMapEntry {
        RouteMapEntry {
            permit,
            matches,
            sets,
        }
    }
}

/// A route-map, entries in sequence order.
#[derive(Debug)]
pub struct RouteMap {
    entries: Vec<RouteMapEntry>,
}

/// The route being evaluated, with its AS path printed on first need.
struct Route<'a> {
    key: Key,
    attrs: &'a RouteAttrs,
    path: Option<String>,
}

impl Route<'_> {
    fn as_path(&mut self) -> &str {
        let attrs = self.attrs;
        self.path.get_or_insert_with(|| {
            attrs
                .attrs
                .as_path
                .as_ref()
                .map(AsPath::to_string)
                .unwrap_or_default()
        })
    }

    fn matches(&mut self, m: &Match) -> bool {
        match m {
            Match::Prefix4(l) => !self.key.v6 && l.as_ref().is_some_and(|l| l.permits(self.key)),
            Match::Prefix6(l) => self.key.v6 && l.as_ref().is_some_and(|l| l.permits(self.key)),
            Match::Community(l) => l
                .as_ref()
                .is_some_and(|l| l.matches(&self.attrs.attrs.communities)),
            Match::AsPath(l) => match l {
                Some(l) => l.matches(self.as_path()),
                None => false,
            },
        }
    }
}

impl RouteMap {
    /// A route-map of `entries`, in sequence order.
    pub fn new(entries: Vec<RouteMapEntry>) -> RouteMap {
        RouteMap { entries }
    }

    /// [`Policies::apply_route_map`] on shared attributes: copies them
    /// (`Arc::make_mut`) only when a set clause changes something, so
    /// routes that pass unchanged keep sharing one allocation.
    pub fn apply_shared(&self, prefix: &IpNetwork, attrs: &mut Arc<RouteAttrs>) -> bool {
        let key = Key::of(prefix);
        let Some(entry) = self.decide(key, attrs) else {
            return false;
        };
        if entry.sets.iter().any(|s| s.changes(key.v6, attrs)) {
            let a = Arc::make_mut(attrs);
            for s in &entry.sets {
                if s.changes(key.v6, a) {
                    s.apply(a);
                }
            }
        }
        true
    }

    /// The deciding entry if it permits; `None` denies.
    fn decide(&self, key: Key, attrs: &RouteAttrs) -> Option<&RouteMapEntry> {
        let mut route = Route {
            key,
            attrs,
            path: None,
        };
        self.entries
            .iter()
            .find(|e| e.matches.iter().all(|m| route.matches(m)))
            .filter(|e| e.permit)
    }
}

// ----------------------------------------------------------------- policies
/// Every policy object of a configuration, built. Cheap to share: wrap
/// it in an `Arc` and rebuild on configuration changes.
#[derive(Debug, Default)]
pub struct Policies {
    prefix_lists: HashMap<String, Arc<PrefixList>>,
    prefix_lists_v6: HashMap<String, Arc<PrefixList>>,
    route_maps: HashMap<String, RouteMap>,
}

impl Policies {
    /// The policies of a configuration: `ip` and `ipv6` prefix-lists and
    /// route-maps by name (community and AS-path lists live inside the
    /// route-maps that use them).
    pub fn new(
        prefix_lists: HashMap<String, Arc<PrefixList>>,
        prefix_lists_v6: HashMap<String, Arc<PrefixList>>,
        route_maps: HashMap<String, RouteMap>,
    ) -> Policies {
        Policies {
            prefix_lists,
            prefix_lists_v6,
            route_maps,
        }
    }

    /// Whether prefix-list `name` permits `prefix`: the `ip prefix-list`
    /// of that name for an IPv4 prefix, the `ipv6 prefix-list` for an IPv6
    /// one. A missing list, or one without a matching entry, denies.
    pub fn prefix_list_permits(&self, name: &str, prefix: &IpNetwork) -> bool {
        let key = Key::of(prefix);
        let lists = if key.v6 {
            &self.prefix_lists_v6
        } else {
            &self.prefix_lists
        };
        lists.get(name).is_some_and(|l| l.permits(key))
    }

    /// Runs route-map `name` over a route: `true` if it permits (`attrs`
    /// then has the set clauses applied), `false` if it denies. A missing
    /// route-map denies. `attrs` is written only where a value changes.
    pub fn apply_route_map(&self, name: &str, prefix: &IpNetwork, attrs: &mut RouteAttrs) -> bool {
        let key = Key::of(prefix);
        let Some(entry) = self
            .route_maps
            .get(name)
            .and_then(|rm| rm.decide(key, attrs))
        else {
            return false;
        };
        for s in &entry.sets {
            if s.changes(key.v6, attrs) {
                s.apply(attrs);
            }
        }
        true
    }

    /// A compiled route-map, to run over many routes without looking up
    /// its name each time.
    pub fn route_map(&self, name: &str) -> Option<&RouteMap> {
        self.route_maps.get(name)
    }

    /// Whether route-map `name` exists.
    pub fn exists_route_map(&self, name: &str) -> bool {
        self.route_maps.contains_key(name)
    }

    /// Whether a prefix-list `name` exists, IPv4 or IPv6.
    pub fn exists_prefix_list(&self, name: &str) -> bool {
        self.prefix_lists.contains_key(name) || self.prefix_lists_v6.contains_key(name)
    }
}
