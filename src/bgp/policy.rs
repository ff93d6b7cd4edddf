//! The BGP policy of the running configuration: prefix-lists,
//! community-lists, AS-path access-lists and route-maps compiled once per
//! configuration change into the `bgp` crate's matchers
//! ([`bgp::policy`]), which the speaker core runs on every received or
//! advertised route. Invalid parts (a regular expression that does not
//! compile, a malformed community) are logged here and never match.
//!
//! Referenced lists are resolved when compiling: a route-map clause naming
//! a list that does not exist never matches.

#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

use std::collections::HashMap;
use std::sync::Arc;

use ::bgp::policy::{
    as_path_regex, parse_community, AsPathEntry, AsPathList, CommunityEntry, CommunityList, Match,
    Policies, PrefixEntry, PrefixList, RouteMap, RouteMapEntry, Set,
};
use ::bgp::wire::Community;
use tracing::warn;
use vtysh::model::{self, Action, Config, RouteMapMatch, RouteMapSet};

fn prefix_list(name: &str, l: &model::PrefixList, v6: bool) -> PrefixList {
    let max = if v6 { 128 } else { 32 };
    let mut entries = Vec::with_capacity(l.entries.len());
    for (seq, e) in &l.entries {
        if e.prefix.is_ipv6() != v6 {
            warn!(
                list = name,
                seq, "prefix-list entry of the other address family ignored"
            );
            continue;
        }
        entries.push(PrefixEntry::new(
            e.action == Action::Permit,
            &e.prefix,
            e.ge,
            e.le,
            max,
        ));
    }
    PrefixList::new(entries)
}

/// Communities sorted and without duplicates; invalid ones logged and left
/// out. `None` if any was invalid.
fn parse_communities(what: &str, name: &str, seq: u32, list: &[String]) -> Option<Vec<Community>> {
    let mut out = Vec::with_capacity(list.len());
    let mut ok = true;
    for s in list {
        match parse_community(s) {
            Some(c) => out.push(c),
            None => {
                warn!(
                    list = name,
                    seq,
                    community = s.as_str(),
                    "invalid community in {what}"
                );
                ok = false;
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    ok.then_some(out)
}

fn community_list(name: &str, l: &model::CommunityList) -> CommunityList {
    let entries = l
        .entries
        .iter()
        .map(|(&seq, e)| {
            let communities = parse_communities("community-list", name, seq, &e.communities);
            CommunityEntry::new(
                e.action == Action::Permit,
                communities.is_some() && e.communities.iter().any(|c| c == "internet"),
                communities,
            )
        })
        .collect();
    CommunityList::new(entries)
}

fn as_path_list(name: &str, l: &model::AsPathList) -> AsPathList {
    let entries = l
        .entries
        .iter()
        .map(|(&seq, e)| {
            AsPathEntry::new(
                e.action == Action::Permit,
                match as_path_regex(&e.regex) {
                    Ok(r) => Some(r),
                    Err(err) => {
                        warn!(
                            list = name,
                            seq,
                            error = %err,
                            "invalid as-path regular expression; the entry never matches"
                        );
                        None
                    }
                },
            )
        })
        .collect();
    AsPathList::new(entries)
}

/// Compiles the policy objects of `cfg`. Invalid parts (a regular
/// expression that does not compile, a malformed community) are logged
/// and never match.
pub fn compile(cfg: &Config) -> Policies {
    let prefix_lists: HashMap<String, Arc<PrefixList>> = cfg
        .prefix_lists
        .iter()
        .map(|(n, l)| (n.clone(), Arc::new(prefix_list(n, l, false))))
        .collect();
    let prefix_lists_v6: HashMap<String, Arc<PrefixList>> = cfg
        .prefix_lists_v6
        .iter()
        .map(|(n, l)| (n.clone(), Arc::new(prefix_list(n, l, true))))
        .collect();
    let community_lists: HashMap<String, Arc<CommunityList>> = cfg
        .community_lists
        .iter()
        .map(|(n, l)| (n.clone(), Arc::new(community_list(n, l))))
        .collect();
    let as_path_lists: HashMap<String, Arc<AsPathList>> = cfg
        .as_path_lists
        .iter()
        .map(|(n, l)| (n.clone(), Arc::new(as_path_list(n, l))))
        .collect();

    let compile_match = |m: &RouteMapMatch| match m {
        RouteMapMatch::IpAddressPrefixList(n) => Match::Prefix4(prefix_lists.get(n).cloned()),
        RouteMapMatch::Ipv6AddressPrefixList(n) => Match::Prefix6(prefix_lists_v6.get(n).cloned()),
        RouteMapMatch::Community(n) => Match::Community(community_lists.get(n).cloned()),
        RouteMapMatch::AsPath(n) => Match::AsPath(as_path_lists.get(n).cloned()),
    };
    let compile_set = |name: &str, seq: u32, s: &RouteMapSet| match s {
        RouteMapSet::LocalPreference(v) => Set::LocalPref(*v),
        RouteMapSet::Metric(v) => Set::Med(*v),
        RouteMapSet::Weight(v) => Set::Weight(*v),
        RouteMapSet::AsPathPrepend(v) => Set::Prepend(v.clone()),
        RouteMapSet::Community {
            communities,
            additive,
        } => {
            let mut cs: Vec<Community> = communities
                .iter()
                .filter_map(|c| parse_community(c))
                .collect();
            if cs.len() != communities.len() {
                warn!(
                    route_map = name,
                    seq, "invalid community in set community left out"
                );
            }
            cs.sort_unstable();
            cs.dedup();
            if *additive {
                Set::AddCommunities(cs)
            } else {
                Set::Communities(cs)
            }
        }
        RouteMapSet::IpNextHop(a) => Set::NextHop4(*a),
        RouteMapSet::Ipv6NextHop(a) => Set::NextHop6(*a),
    };
    let route_maps = cfg
        .route_maps
        .iter()
        .map(|(n, rm)| {
            let entries = rm
                .entries
                .iter()
                .map(|(&seq, e)| {
                    RouteMapEntry::new(
                        e.action == Action::Permit,
                        e.matches.iter().map(compile_match).collect(),
                        e.sets.iter().map(|s| compile_set(n, seq, s)).collect(),
                    )
                })
                .collect();
            (n.clone(), RouteMap::new(entries))
        })
        .collect();

    Policies::new(prefix_lists, prefix_lists_v6, route_maps)
}

/// Whether route-map `name` behaves differently under `new` than under
/// `old`: the route-map itself, or a list it refers to, was added, removed
/// or changed. Neighbors using it then need their routes re-evaluated.
pub fn route_map_changed(old: &Config, new: &Config, name: &str) -> bool {
    let rm = new.route_maps.get(name);
    if old.route_maps.get(name) != rm {
        return true;
    }
    let Some(rm) = rm else {
        return false;
    };
    rm.entries
        .values()
        .flat_map(|e| &e.matches)
        .any(|m| match m {
            RouteMapMatch::IpAddressPrefixList(n) => {
                old.prefix_lists.get(n) != new.prefix_lists.get(n)
            }
            RouteMapMatch::Ipv6AddressPrefixList(n) => {
                old.prefix_lists_v6.get(n) != new.prefix_lists_v6.get(n)
            }
            RouteMapMatch::Community(n) => old.community_lists.get(n) != new.community_lists.get(n),
            RouteMapMatch::AsPath(n) => old.as_path_lists.get(n) != new.as_path_lists.get(n),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::bgp::policy::prepend;
    use ::bgp::rib::RouteAttrs;
    use ::bgp::wire::{AsPath, AsSegment, PathAttrs, SegmentType};
    use ipnetwork::IpNetwork;
    use std::net::IpAddr;

    fn cfg(text: &str) -> Config {
        match vtysh::load_config(text, &Config::default()) {
            Ok(c) => c,
            Err(e) => panic!("config does not load: {e:?}"),
        }
    }

    fn pol(text: &str) -> Policies {
        compile(&cfg(text))
    }

    fn net(s: &str) -> IpNetwork {
        s.parse().unwrap()
    }

    fn attrs(path: &[u32], comms: &[Community]) -> RouteAttrs {
        RouteAttrs::new(
            PathAttrs {
                as_path: Some(AsPath::sequence(path.iter().copied())),
                communities: comms.to_vec(),
                ..PathAttrs::default()
            },
            "192.0.2.1".parse().unwrap(),
        )
    }

    fn plain() -> RouteAttrs {
        attrs(&[65001], &[])
    }

    fn c(a: u16, v: u16) -> Community {
        Community::new(a, v)
    }

    // ------------------------------------------------------ prefix-lists

    #[test]
    fn prefix_list_exact() {
        let p = pol("ip prefix-list L seq 5 permit 10.0.0.0/8\n");
        assert!(p.prefix_list_permits("L", &net("10.0.0.0/8")));
        assert!(!p.prefix_list_permits("L", &net("10.1.0.0/16")));
        assert!(!p.prefix_list_permits("L", &net("11.0.0.0/8")));
        assert!(!p.prefix_list_permits("L", &net("0.0.0.0/0")));
        assert!(!p.prefix_list_permits("L", &net("10.0.0.0/7")));
    }

    #[test]
    fn prefix_list_ge_only() {
        let p = pol("ip prefix-list L permit 10.0.0.0/8 ge 24\n");
        assert!(!p.prefix_list_permits("L", &net("10.0.0.0/8")));
        assert!(!p.prefix_list_permits("L", &net("10.1.0.0/23")));
        assert!(p.prefix_list_permits("L", &net("10.1.2.0/24")));
        assert!(p.prefix_list_permits("L", &net("10.1.2.3/32")));
        assert!(!p.prefix_list_permits("L", &net("11.1.2.0/24")));
    }

    #[test]
    fn prefix_list_le_only() {
        let p = pol("ip prefix-list L permit 10.0.0.0/8 le 16\n");
        assert!(p.prefix_list_permits("L", &net("10.0.0.0/8")));
        assert!(p.prefix_list_permits("L", &net("10.200.0.0/16")));
        assert!(!p.prefix_list_permits("L", &net("10.200.1.0/24")));
        assert!(!p.prefix_list_permits("L", &net("0.0.0.0/0")));
    }

    #[test]
    fn prefix_list_ge_and_le() {
        let p = pol("ip prefix-list L permit 172.16.0.0/12 ge 16 le 24\n");
        assert!(!p.prefix_list_permits("L", &net("172.16.0.0/12")));
        assert!(!p.prefix_list_permits("L", &net("172.16.0.0/15")));
        assert!(p.prefix_list_permits("L", &net("172.16.0.0/16")));
        assert!(p.prefix_list_permits("L", &net("172.31.255.0/24")));
        assert!(!p.prefix_list_permits("L", &net("172.31.255.128/25")));
        assert!(!p.prefix_list_permits("L", &net("172.32.0.0/16")));
    }

    #[test]
    fn prefix_list_edges_and_order() {
        let p = pol("ip prefix-list H permit 192.0.2.1/32\n\
             ip prefix-list D permit 0.0.0.0/0\n\
             ip prefix-list A permit any\n\
             ip prefix-list O seq 5 deny 10.0.0.0/8 le 32\n\
             ip prefix-list O seq 10 permit any\n");
        assert!(p.prefix_list_permits("H", &net("192.0.2.1/32")));
        assert!(!p.prefix_list_permits("H", &net("192.0.2.2/32")));
        assert!(p.prefix_list_permits("D", &net("0.0.0.0/0")));
        assert!(!p.prefix_list_permits("D", &net("10.0.0.0/8")));
        assert!(p.prefix_list_permits("A", &net("0.0.0.0/0")));
        assert!(p.prefix_list_permits("A", &net("203.0.113.7/32")));
        // First match wins.
        assert!(!p.prefix_list_permits("O", &net("10.9.0.0/16")));
        assert!(p.prefix_list_permits("O", &net("11.9.0.0/16")));
        // Host bits of the route beyond its length do not matter.
        assert!(p.prefix_list_permits("H", &IpNetwork::new([192, 0, 2, 1].into(), 32).unwrap()));
        // `any` is stored as 0.0.0.0/0 le 32.
        let c = cfg("ip prefix-list A permit any\n");
        let e = c.prefix_lists["A"].entries.values().next().unwrap();
        assert_eq!((e.prefix, e.ge, e.le), (net("0.0.0.0/0"), None, Some(32)));
    }

    #[test]
    fn prefix_list_v6_and_families() {
        let p = pol("ipv6 prefix-list L permit 2001:db8::/32 ge 48 le 64\n\
             ipv6 prefix-list A permit any\n\
             ipv6 prefix-list H permit 2001:db8::1/128\n\
             ip prefix-list A4 permit any\n");
        assert!(p.prefix_list_permits("L", &net("2001:db8:1::/48")));
        assert!(p.prefix_list_permits("L", &net("2001:db8:1:2::/64")));
        assert!(!p.prefix_list_permits("L", &net("2001:db8::/32")));
        assert!(!p.prefix_list_permits("L", &net("2001:db8:1:2:3::/80")));
        assert!(!p.prefix_list_permits("L", &net("2001:db9::/48")));
        assert!(p.prefix_list_permits("A", &net("::/0")));
        assert!(p.prefix_list_permits("A", &net("2001:db8::1/128")));
        assert!(p.prefix_list_permits("H", &net("2001:db8::1/128")));
        assert!(!p.prefix_list_permits("H", &net("2001:db8::2/128")));
        // Families do not cross: an IPv6 list never matches IPv4 and back.
        assert!(!p.prefix_list_permits("A", &net("10.0.0.0/8")));
        assert!(!p.prefix_list_permits("A4", &net("2001:db8::/32")));
        assert!(p.prefix_list_permits("A4", &net("10.0.0.0/8")));
    }

    #[test]
    fn missing_prefix_list_denies() {
        let p = pol("ip prefix-list L permit any\n");
        assert!(!p.prefix_list_permits("NOPE", &net("10.0.0.0/8")));
        assert!(p.exists_prefix_list("L"));
        assert!(!p.exists_prefix_list("NOPE"));
        // A list whose only entry is a deny denies everything.
        let p = pol("ip prefix-list L deny 10.0.0.0/8\n");
        assert!(!p.prefix_list_permits("L", &net("10.0.0.0/8")));
        assert!(!p.prefix_list_permits("L", &net("11.0.0.0/8")));
    }

    // -------------------------------------------------------- route-maps

    const LISTS: &str = "ip prefix-list TEN permit 10.0.0.0/8 le 32\n\
                         ipv6 prefix-list DOC permit 2001:db8::/32 le 128\n\
                         bgp community-list standard C1 permit 65000:1 65000:2\n\
                         bgp as-path access-list P1 permit _65001_\n";

    #[test]
    fn route_map_permit_deny_implicit_deny() {
        let p = pol(&format!(
            "{LISTS}route-map RM deny 5\n match ip address prefix-list TEN\n\
             route-map RM permit 10\n match ipv6 address prefix-list DOC\n\
             route-map ALL permit 10\n\
             route-map NONE deny 10\n"
        ));
        let mut a = plain();
        assert!(!p.apply_route_map("RM", &net("10.1.0.0/16"), &mut a));
        assert!(p.apply_route_map("RM", &net("2001:db8:5::/48"), &mut a));
        // Neither entry matches: implicit deny.
        assert!(!p.apply_route_map("RM", &net("192.0.2.0/24"), &mut a));
        assert!(!p.apply_route_map("RM", &net("2001:db9::/48"), &mut a));
        assert!(p.apply_route_map("ALL", &net("192.0.2.0/24"), &mut a));
        assert!(!p.apply_route_map("NONE", &net("192.0.2.0/24"), &mut a));
        assert!(!p.apply_route_map("MISSING", &net("192.0.2.0/24"), &mut a));
        assert_eq!(a, plain());
        assert!(p.exists_route_map("RM") && !p.exists_route_map("MISSING"));
    }

    #[test]
    fn route_map_sequence_order_and_missing_list() {
        let p = pol(&format!(
            "{LISTS}route-map RM permit 20\n set local-preference 20\n\
             route-map RM permit 10\n match ip address prefix-list TEN\n set local-preference 10\n\
             route-map X permit 10\n match ip address prefix-list NOPE\n"
        ));
        let mut a = plain();
        assert!(p.apply_route_map("RM", &net("10.0.0.0/8"), &mut a));
        assert_eq!(a.attrs.local_pref, Some(10));
        let mut a = plain();
        assert!(p.apply_route_map("RM", &net("11.0.0.0/8"), &mut a));
        assert_eq!(a.attrs.local_pref, Some(20));
        // A match on a missing list never matches.
        assert!(!p.apply_route_map("X", &net("10.0.0.0/8"), &mut plain()));
    }

    #[test]
    fn route_map_matches_are_anded() {
        let p = pol(&format!(
            "{LISTS}route-map RM permit 10\n match ip address prefix-list TEN\n \
             match community C1\n match as-path P1\n"
        ));
        let both = [c(65000, 1), c(65000, 2)];
        let ok = attrs(&[65000, 65001], &both);
        assert!(p.apply_route_map("RM", &net("10.0.0.0/8"), &mut ok.clone()));
        assert!(!p.apply_route_map("RM", &net("11.0.0.0/8"), &mut ok.clone()));
        let no_path = attrs(&[65000], &both);
        assert!(!p.apply_route_map("RM", &net("10.0.0.0/8"), &mut no_path.clone()));
        let no_comm = attrs(&[65001], &[c(65000, 1)]);
        assert!(!p.apply_route_map("RM", &net("10.0.0.0/8"), &mut no_comm.clone()));
        // `match ip address` never matches IPv6 routes.
        assert!(!p.apply_route_map("RM", &net("2001:db8::/32"), &mut ok.clone()));
    }

    #[test]
    fn set_clauses() {
        let p = pol(
            "route-map RM permit 10\n set local-preference 250\n set metric 7\n \
             set weight 100\n",
        );
        let mut a = plain();
        assert!(p.apply_route_map("RM", &net("10.0.0.0/8"), &mut a));
        assert_eq!(a.attrs.local_pref, Some(250));
        assert_eq!(a.attrs.med, Some(7));
        assert_eq!(a.weight, 100);
        assert_eq!(a.attrs.as_path, Some(AsPath::sequence([65001])));
        // Deny entries set nothing.
        let p = pol("route-map RM deny 10\n set local-preference 250\n");
        let mut a = plain();
        assert!(!p.apply_route_map("RM", &net("10.0.0.0/8"), &mut a));
        assert_eq!(a, plain());
    }

    #[test]
    fn prepend_into_sequence_and_empty() {
        let p = pol("route-map RM permit 10\n set as-path prepend 1 2 3\n");
        let mut a = attrs(&[65001, 65002], &[]);
        assert!(p.apply_route_map("RM", &net("10.0.0.0/8"), &mut a));
        assert_eq!(
            a.attrs.as_path,
            Some(AsPath::sequence([1, 2, 3, 65001, 65002]))
        );
        let mut a = attrs(&[], &[]);
        assert_eq!(a.attrs.as_path, Some(AsPath::default()));
        p.apply_route_map("RM", &net("10.0.0.0/8"), &mut a);
        assert_eq!(a.attrs.as_path, Some(AsPath::sequence([1, 2, 3])));
        let mut a = plain();
        a.attrs.as_path = None;
        p.apply_route_map("RM", &net("10.0.0.0/8"), &mut a);
        assert_eq!(a.attrs.as_path, Some(AsPath::sequence([1, 2, 3])));
        // In front of a leading AS_SET: a new sequence.
        let mut a = plain();
        a.attrs.as_path = Some(AsPath {
            segments: vec![AsSegment {
                kind: SegmentType::Set,
                asns: vec![7, 8],
            }],
        });
        p.apply_route_map("RM", &net("10.0.0.0/8"), &mut a);
        assert_eq!(a.attrs.as_path.unwrap().to_string(), "1 2 3 {7,8}");
    }

    #[test]
    fn prepend_respects_segment_limit() {
        let mut path = AsPath::sequence(1000..1254); // 254 ASNs
        prepend(&mut path, &[1, 2, 3]);
        assert!(path.segments.iter().all(|s| s.asns.len() <= 255));
        assert_eq!(path.segments.len(), 2);
        let flat: Vec<u32> = path.segments.iter().flat_map(|s| s.asns.clone()).collect();
        let want: Vec<u32> = [1, 2, 3].into_iter().chain(1000..1254).collect();
        assert_eq!(flat, want);
        let mut path = AsPath::default();
        prepend(&mut path, &(0..600).collect::<Vec<u32>>());
        assert_eq!(path.segments.len(), 3);
        assert_eq!(path.path_len(), 600);
        assert_eq!(path.first_as(), Some(0));
    }

    #[test]
    fn community_set_replace_and_additive() {
        let p = pol(
            "route-map R permit 10\n set community 65000:9 no-export 65000:1 65000:9\n\
             route-map A permit 10\n set community 65000:5 65000:1 additive\n",
        );
        let mut a = attrs(&[65001], &[c(65000, 7), c(1, 1)]);
        assert!(p.apply_route_map("R", &net("10.0.0.0/8"), &mut a));
        assert_eq!(
            a.attrs.communities,
            vec![c(65000, 1), c(65000, 9), Community::NO_EXPORT]
        );
        let mut a = attrs(&[65001], &[c(65000, 7), c(65000, 1)]);
        assert!(p.apply_route_map("A", &net("10.0.0.0/8"), &mut a));
        assert_eq!(
            a.attrs.communities,
            vec![c(65000, 1), c(65000, 5), c(65000, 7)]
        );
        let mut a = plain();
        assert!(p.apply_route_map("A", &net("10.0.0.0/8"), &mut a));
        assert_eq!(a.attrs.communities, vec![c(65000, 1), c(65000, 5)]);
    }

    #[test]
    fn community_match_all_of() {
        let p = pol("bgp community-list standard C seq 5 deny 65000:666\n\
             bgp community-list standard C seq 10 permit 65000:1 no-export\n\
             bgp community-list standard I permit internet\n\
             bgp community-list standard W permit local-AS graceful-shutdown blackhole\n\
             route-map RM permit 10\n match community C\n\
             route-map RI permit 10\n match community I\n\
             route-map RW permit 10\n match community W\n\
             route-map RX permit 10\n match community NOPE\n");
        let n = net("10.0.0.0/8");
        let ok = [c(1, 1), Community::NO_EXPORT, c(65000, 1)];
        assert!(p.apply_route_map("RM", &n, &mut attrs(&[1], &ok)));
        assert!(!p.apply_route_map("RM", &n, &mut attrs(&[1], &[c(65000, 1)])));
        // The deny entry comes first.
        let bad = [c(65000, 666), c(65000, 1), Community::NO_EXPORT];
        assert!(!p.apply_route_map("RM", &n, &mut attrs(&[1], &bad)));
        assert!(!p.apply_route_map("RM", &n, &mut plain()));
        // `internet` matches every route, even one without communities.
        assert!(p.apply_route_map("RI", &n, &mut plain()));
        let w = [
            Community::BLACKHOLE,
            Community::GRACEFUL_SHUTDOWN,
            Community(0xffff_ff03),
        ];
        assert!(p.apply_route_map("RW", &n, &mut attrs(&[1], &w)));
        assert!(!p.apply_route_map("RW", &n, &mut attrs(&[1], &w[..2])));
        assert!(!p.apply_route_map("RX", &n, &mut attrs(&[1], &ok)));
    }

    fn path_matches(re: &str, path: &AsPath) -> bool {
        let p = pol(&format!(
            "bgp as-path access-list L permit {re}\n\
             route-map RM permit 10\n match as-path L\n"
        ));
        let mut a = plain();
        a.attrs.as_path = Some(path.clone());
        p.apply_route_map("RM", &net("10.0.0.0/8"), &mut a)
    }

    #[test]
    fn as_path_regex() {
        let seq = |v: &[u32]| AsPath::sequence(v.iter().copied());
        assert!(path_matches("_65001_", &seq(&[65000, 65001, 65002])));
        assert!(path_matches("_65001_", &seq(&[65001])));
        assert!(!path_matches("_65001_", &seq(&[650011])));
        assert!(!path_matches("_65001_", &seq(&[165001, 65000])));
        assert!(path_matches("^65001$", &seq(&[65001])));
        assert!(!path_matches("^65001$", &seq(&[65001, 65002])));
        assert!(path_matches("^$", &AsPath::default()));
        assert!(!path_matches("^$", &seq(&[65001])));
        assert!(path_matches("^65001_", &seq(&[65001, 3])));
        assert!(path_matches("_3$", &seq(&[65001, 3])));
        // `_` also delimits sets and confederation segments.
        let mut p = seq(&[65000]);
        p.segments.push(AsSegment {
            kind: SegmentType::Set,
            asns: vec![1, 65001],
        });
        assert_eq!(p.to_string(), "65000 {1,65001}");
        assert!(path_matches("_65001_", &p));
        let mut p = seq(&[65000]);
        p.segments.insert(
            0,
            AsSegment {
                kind: SegmentType::ConfedSequence,
                asns: vec![64512, 64513],
            },
        );
        assert!(path_matches("_64513_", &p));
        assert!(path_matches(r"^\(64512 64513\) 65000$", &p));
    }

    #[test]
    fn as_path_list_order_and_absent_path() {
        let p = pol("bgp as-path access-list L seq 5 deny _666_\n\
             bgp as-path access-list L seq 10 permit .*\n\
             bgp as-path access-list E permit ^$\n\
             route-map RM permit 10\n match as-path L\n\
             route-map RE permit 10\n match as-path E\n");
        let n = net("10.0.0.0/8");
        assert!(!p.apply_route_map("RM", &n, &mut attrs(&[1, 666, 2], &[])));
        assert!(p.apply_route_map("RM", &n, &mut attrs(&[1, 6666, 2], &[])));
        let mut a = plain();
        a.attrs.as_path = None;
        assert!(p.apply_route_map("RE", &n, &mut a));
    }

    #[test]
    fn invalid_regex_never_matches() {
        let p = pol("bgp as-path access-list L seq 5 permit (65001\n\
             bgp as-path access-list L seq 10 deny .*\n\
             bgp as-path access-list B permit [\n\
             route-map RM permit 10\n match as-path L\n\
             route-map RB permit 10\n match as-path B\n");
        let n = net("10.0.0.0/8");
        assert!(!p.apply_route_map("RM", &n, &mut attrs(&[65001], &[])));
        assert!(!p.apply_route_map("RB", &n, &mut attrs(&[65001], &[])));
    }

    #[test]
    fn next_hop_family() {
        let p = pol("route-map R4 permit 10\n set ip next-hop 198.51.100.1\n\
             route-map R6 permit 10\n set ipv6 next-hop global 2001:db8::1\n");
        let v4: IpAddr = "198.51.100.1".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let mut a = plain();
        assert!(p.apply_route_map("R4", &net("10.0.0.0/8"), &mut a));
        assert_eq!(a.next_hop, v4);
        let mut a = plain();
        assert!(p.apply_route_map("R4", &net("2001:db8::/32"), &mut a));
        assert_eq!(a, plain());
        assert!(p.apply_route_map("R6", &net("10.0.0.0/8"), &mut a));
        assert_eq!(a, plain());
        assert!(p.apply_route_map("R6", &net("2001:db8::/32"), &mut a));
        assert_eq!(a.next_hop, v6);
    }

    #[test]
    fn shared_attrs_copied_only_on_change() {
        let p = pol("route-map N permit 10\n\
             route-map S permit 10\n set local-preference 100\n\
             route-map C permit 10\n set local-preference 200\n");
        let mut a = plain();
        a.attrs.local_pref = Some(100);
        let orig = Arc::new(a);
        let n = net("10.0.0.0/8");
        for rm in ["N", "S"] {
            let mut s = Arc::clone(&orig);
            assert!(p
                .route_map(rm)
                .is_some_and(|rm| rm.apply_shared(&n, &mut s)));
            assert!(Arc::ptr_eq(&s, &orig));
        }
        let mut s = Arc::clone(&orig);
        assert!(p
            .route_map("C")
            .is_some_and(|rm| rm.apply_shared(&n, &mut s)));
        assert!(!Arc::ptr_eq(&s, &orig));
        assert_eq!(s.attrs.local_pref, Some(200));
        assert_eq!(orig.attrs.local_pref, Some(100));
        let mut s = Arc::clone(&orig);
        assert!(!p
            .route_map("MISSING")
            .is_some_and(|rm| rm.apply_shared(&n, &mut s)));
    }

    #[test]
    fn refs_and_changes() {
        let text = format!(
            "{LISTS}route-map RM permit 10\n match ip address prefix-list TEN\n \
             match community C1\n\
             route-map RM permit 20\n match as-path P1\n"
        );
        let old = cfg(&text);

        assert!(!route_map_changed(&old, &old, "RM"));
        let new = cfg(&format!("{text}ip prefix-list TEN permit 11.0.0.0/8\n"));
        assert!(route_map_changed(&old, &new, "RM"));
        let new = cfg(&format!("{text}ipv6 prefix-list DOC permit ::/0\n"));
        assert!(!route_map_changed(&old, &new, "RM"));
        let new = cfg(&format!("{text}bgp as-path access-list P1 deny _1_\n"));
        assert!(route_map_changed(&old, &new, "RM"));
        let new = cfg(&format!("{text}route-map RM permit 30\n"));
        assert!(route_map_changed(&old, &new, "RM"));
        assert!(route_map_changed(&old, &Config::default(), "RM"));
        assert!(!route_map_changed(&old, &old, "NOPE"));
    }

    #[test]
    fn community_parsing() {
        assert_eq!(parse_community("65000:100"), Some(c(65000, 100)));
        assert_eq!(parse_community("internet"), Some(Community(0)));
        assert_eq!(parse_community("local-AS"), Some(Community(0xffff_ff03)));
        assert_eq!(
            parse_community("no-advertise"),
            Some(Community::NO_ADVERTISE)
        );
        assert_eq!(parse_community("65536:1"), None);
        assert_eq!(parse_community("1:2:3"), None);
        assert_eq!(parse_community("bogus"), None);
    }

    #[test]
    fn direct_model_never_panics() {
        // Entries the parser would refuse: ge/le out of range or inverted,
        // wrong-family prefix, bad communities.
        let mut cfg = Config::default();
        let mut l = model::PrefixList::default();
        for (i, (p, ge, le)) in [
            ("10.0.0.0/8", Some(200), None),
            ("10.0.0.0/8", Some(30), Some(20)),
            ("2001:db8::/32", None, None),
            ("10.0.0.0/8", Some(4), Some(255)),
        ]
        .into_iter()
        .enumerate()
        {
            l.entries.insert(
                i as u32,
                model::PrefixListEntry {
                    action: Action::Permit,
                    prefix: net(p),
                    ge,
                    le,
                },
            );
        }
        cfg.prefix_lists.insert("L".into(), l);
        let mut cl = model::CommunityList::default();
        cl.entries.insert(
            1,
            model::CommunityListEntry {
                action: Action::Permit,
                communities: vec!["internet".into(), "x:y".into()],
            },
        );
        cfg.community_lists.insert("C".into(), cl);
        let mut rm = model::RouteMap::default();
        rm.entries.insert(
            10,
            model::RouteMapEntry {
                action: Action::Permit,
                description: None,
                matches: vec![RouteMapMatch::Community("C".into())],
                sets: vec![],
            },
        );
        cfg.route_maps.insert("RMC".into(), rm);
        let p = compile(&cfg);
        assert!(!p.prefix_list_permits("L", &net("2001:db8::/32")));
        // Only the last entry (ge 4 → at least /8, le clamped to 32).
        assert!(p.prefix_list_permits("L", &net("10.0.0.0/8")));
        assert!(p.prefix_list_permits("L", &net("10.1.2.3/32")));
        // The entry with a malformed community never matches.
        let mut a = Arc::new(RouteAttrs::new(
            PathAttrs::default(),
            "10.0.0.1".parse().unwrap(),
        ));
        let rmc = p.route_map("RMC").unwrap();
        assert!(!rmc.apply_shared(&net("10.0.0.0/8"), &mut a));
    }
}
