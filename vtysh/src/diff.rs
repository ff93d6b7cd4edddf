//! The difference between two configurations, section by section, so
//! that rvpnd applies only what changed and leaves the rest untouched.

use crate::model::*;
use ipnetwork::IpNetwork;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// A top-level piece of configuration that is applied as a unit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Section {
    /// `hostname NAME`.
    Hostname,
    /// `crypto allow-weak`.
    AllowWeak,
    /// `aaa new-model` and the `aaa authorization network` lists.
    Aaa,
    /// `ip local pool NAME`.
    LocalPool(String),
    /// `ipv6 local pool NAME`.
    Ipv6LocalPool(String),
    /// `crypto ikev2 authorization policy NAME`.
    AuthorizationPolicy(String),
    /// `crypto ikev2 cookie-challenge N`.
    CookieChallenge,
    /// `crypto ikev2 limit max-in-negotiation-sa N`.
    MaxInNegotiationSa,
    /// `crypto ikev2 limit max-in-negotiation-sa-per-address N`.
    MaxInNegotiationSaPerAddress,
    /// `crypto ikev2 fragmentation`.
    Fragmentation,
    /// `crypto ikev2 proposal NAME`.
    Ikev2Proposal(String),
    /// `crypto ikev2 keyring NAME`.
    Ikev2Keyring(String),
    /// `crypto pki trustpoint NAME`.
    Trustpoint(String),
    /// `crypto ikev2 profile NAME`.
    Ikev2Profile(String),
    /// `crypto ipsec transform-set NAME`.
    TransformSet(String),
    /// `crypto ipsec profile NAME`.
    IpsecProfile(String),
    /// `interface NAME`.
    Interface(String),
    /// `router bgp` (one section for the whole BGP configuration).
    Bgp,
    /// `ip prefix-list NAME`.
    PrefixList(String),
    /// `ipv6 prefix-list NAME`.
    PrefixListV6(String),
    /// `bgp community-list NAME`.
    CommunityList(String),
    /// `bgp as-path access-list NAME`.
    AsPathList(String),
    /// `route-map NAME` (all its entries).
    RouteMap(String),
    /// One `ip route` or `ipv6 route`: prefix and next hop.
    StaticRoute(IpNetwork, NextHop),
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Section::Hostname => f.write_str("hostname"),
            Section::AllowWeak => f.write_str("crypto allow-weak"),
            Section::Aaa => f.write_str("aaa"),
            Section::LocalPool(n) => write!(f, "ip local pool {n}"),
            Section::Ipv6LocalPool(n) => write!(f, "ipv6 local pool {n}"),
            Section::AuthorizationPolicy(n) => write!(f, "crypto ikev2 authorization policy {n}"),
            Section::CookieChallenge => f.write_str("crypto ikev2 cookie-challenge"),
            Section::MaxInNegotiationSa => f.write_str("crypto ikev2 limit max-in-negotiation-sa"),
            Section::MaxInNegotiationSaPerAddress => {
                f.write_str("crypto ikev2 limit max-in-negotiation-sa-per-address")
            }
            Section::Fragmentation => f.write_str("crypto ikev2 fragmentation"),
            Section::Ikev2Proposal(n) => write!(f, "crypto ikev2 proposal {n}"),
            Section::Ikev2Keyring(n) => write!(f, "crypto ikev2 keyring {n}"),
            Section::Trustpoint(n) => write!(f, "crypto pki trustpoint {n}"),
            Section::Ikev2Profile(n) => write!(f, "crypto ikev2 profile {n}"),
            Section::TransformSet(n) => write!(f, "crypto ipsec transform-set {n}"),
            Section::IpsecProfile(n) => write!(f, "crypto ipsec profile {n}"),
            Section::Interface(n) => write!(f, "interface {n}"),
            Section::Bgp => f.write_str("router bgp"),
            Section::PrefixList(n) => write!(f, "ip prefix-list {n}"),
            Section::PrefixListV6(n) => write!(f, "ipv6 prefix-list {n}"),
            Section::CommunityList(n) => write!(f, "bgp community-list {n}"),
            Section::AsPathList(n) => write!(f, "bgp as-path access-list {n}"),
            Section::RouteMap(n) => write!(f, "route-map {n}"),
            Section::StaticRoute(p, nh) => {
                write!(
                    f,
                    "{} route {p} {nh}",
                    if p.is_ipv4() { "ip" } else { "ipv6" }
                )
            }
        }
    }
}

/// How a section changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ChangeKind {
    /// In the new configuration only.
    Added,
    /// In the old configuration only.
    Removed,
    /// In both, different.
    Modified,
}

/// One changed section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The section.
    pub section: Section,
    /// How it changed.
    pub kind: ChangeKind,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let k = match self.kind {
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
            ChangeKind::Modified => "modified",
        };
        write!(f, "{} {k}", self.section)
    }
}

fn maps<T: PartialEq>(
    out: &mut Vec<Change>,
    a: &BTreeMap<String, T>,
    b: &BTreeMap<String, T>,
    mk: fn(String) -> Section,
) {
    for (k, v) in a {
        match b.get(k) {
            None => out.push(Change {
                section: mk(k.clone()),
                kind: ChangeKind::Removed,
            }),
            Some(w) if w != v => out.push(Change {
                section: mk(k.clone()),
                kind: ChangeKind::Modified,
            }),
            _ => {}
        }
    }
    for k in b.keys().filter(|k| !a.contains_key(*k)) {
        out.push(Change {
            section: mk(k.clone()),
            kind: ChangeKind::Added,
        });
    }
}

fn single<T: PartialEq>(out: &mut Vec<Change>, a: &Option<T>, b: &Option<T>, s: Section) {
    let kind = match (a, b) {
        (None, Some(_)) => ChangeKind::Added,
        (Some(_), None) => ChangeKind::Removed,
        (Some(x), Some(y)) if x != y => ChangeKind::Modified,
        _ => return,
    };
    out.push(Change { section: s, kind });
}

/// What changed from `old` to `new`, section by section; empty when equal.
pub fn diff(old: &Config, new: &Config) -> Vec<Change> {
    let mut out = Vec::new();
    single(&mut out, &old.hostname, &new.hostname, Section::Hostname);
    single(
        &mut out,
        &old.allow_weak.then_some(()),
        &new.allow_weak.then_some(()),
        Section::AllowWeak,
    );
    single(
        &mut out,
        &old.cookie_challenge,
        &new.cookie_challenge,
        Section::CookieChallenge,
    );
    single(
        &mut out,
        &old.max_in_negotiation_sa,
        &new.max_in_negotiation_sa,
        Section::MaxInNegotiationSa,
    );
    single(
        &mut out,
        &old.max_in_negotiation_sa_per_address,
        &new.max_in_negotiation_sa_per_address,
        Section::MaxInNegotiationSaPerAddress,
    );
    single(
        &mut out,
        &(old.fragmentation != Fragmentation::Default).then_some(old.fragmentation),
        &(new.fragmentation != Fragmentation::Default).then_some(new.fragmentation),
        Section::Fragmentation,
    );
    let aaa = |c: &Config| {
        (c.aaa_new_model || !c.aaa_authorization_network.is_empty())
            .then(|| (c.aaa_new_model, c.aaa_authorization_network.clone()))
    };
    single(&mut out, &aaa(old), &aaa(new), Section::Aaa);
    maps(
        &mut out,
        &old.ip_local_pools,
        &new.ip_local_pools,
        Section::LocalPool,
    );
    maps(
        &mut out,
        &old.ipv6_local_pools,
        &new.ipv6_local_pools,
        Section::Ipv6LocalPool,
    );
    maps(
        &mut out,
        &old.ikev2_authorization_policies,
        &new.ikev2_authorization_policies,
        Section::AuthorizationPolicy,
    );
    maps(
        &mut out,
        &old.ikev2_proposals,
        &new.ikev2_proposals,
        Section::Ikev2Proposal,
    );
    maps(
        &mut out,
        &old.ikev2_keyrings,
        &new.ikev2_keyrings,
        Section::Ikev2Keyring,
    );
    maps(
        &mut out,
        &old.trustpoints,
        &new.trustpoints,
        Section::Trustpoint,
    );
    maps(
        &mut out,
        &old.ikev2_profiles,
        &new.ikev2_profiles,
        Section::Ikev2Profile,
    );
    maps(
        &mut out,
        &old.transform_sets,
        &new.transform_sets,
        Section::TransformSet,
    );
    maps(
        &mut out,
        &old.ipsec_profiles,
        &new.ipsec_profiles,
        Section::IpsecProfile,
    );
    maps(
        &mut out,
        &old.interfaces,
        &new.interfaces,
        Section::Interface,
    );
    single(&mut out, &old.bgp, &new.bgp, Section::Bgp);
    maps(
        &mut out,
        &old.prefix_lists,
        &new.prefix_lists,
        Section::PrefixList,
    );
    maps(
        &mut out,
        &old.prefix_lists_v6,
        &new.prefix_lists_v6,
        Section::PrefixListV6,
    );
    maps(
        &mut out,
        &old.community_lists,
        &new.community_lists,
        Section::CommunityList,
    );
    maps(
        &mut out,
        &old.as_path_lists,
        &new.as_path_lists,
        Section::AsPathList,
    );
    maps(
        &mut out,
        &old.route_maps,
        &new.route_maps,
        Section::RouteMap,
    );
    let key = |r: &StaticRoute| (r.prefix, r.next_hop.clone());
    let a: BTreeMap<_, _> = old.static_routes.iter().map(|r| (key(r), r)).collect();
    let b: BTreeMap<_, _> = new.static_routes.iter().map(|r| (key(r), r)).collect();
    for (k, v) in &a {
        match b.get(k) {
            None => out.push(Change {
                section: Section::StaticRoute(k.0, k.1.clone()),
                kind: ChangeKind::Removed,
            }),
            Some(w) if w != v => out.push(Change {
                section: Section::StaticRoute(k.0, k.1.clone()),
                kind: ChangeKind::Modified,
            }),
            _ => {}
        }
    }
    for k in b.keys().filter(|k| !a.contains_key(*k)) {
        out.push(Change {
            section: Section::StaticRoute(k.0, k.1.clone()),
            kind: ChangeKind::Added,
        });
    }
    out
}
