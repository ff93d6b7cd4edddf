//! Whole-configuration checks: references exist, addresses don't collide,
//! weak crypto only under `crypto allow-weak`. The running configuration
//! always passes; a change that would not is refused.

use crate::model::*;
use ipnetwork::IpNetwork;
use std::fmt;

mod hub;

/// One problem: the section it is in and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// The section header, e.g. `crypto ikev2 profile SPOKES`.
    pub section: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.section, self.message)
    }
}

/// The minimum pre-shared key length without `crypto allow-weak`.
pub const MIN_PSK_LEN: usize = 16;

struct Errors(Vec<ValidationError>);

impl Errors {
    fn add(&mut self, section: impl Into<String>, message: impl Into<String>) {
        self.0.push(ValidationError {
            section: section.into(),
            message: message.into(),
        });
    }
}

/// Every problem of a configuration; empty when it is valid.
pub fn validate(c: &Config) -> Vec<ValidationError> {
    let mut e = Errors(Vec::new());
    crypto(c, &mut e);
    interfaces(c, &mut e);
    hub::check(c, &mut e);
    if let Some(b) = &c.bgp {
        bgp(b, &mut e);
    }
    e.0
}

const WEAK_HINT: &str = "enter 'crypto allow-weak' to accept it";

fn crypto(c: &Config, e: &mut Errors) {
    // A hard limit at or under the COOKIE threshold would drop legitimate
    // initiators that a COOKIE demand would have let in.
    if let Some(limit) = c.max_in_negotiation_sa {
        let cookie = c.cookie_challenge.unwrap_or(DEFAULT_COOKIE_CHALLENGE);
        if cookie >= limit {
            let whose = if c.cookie_challenge.is_some() {
                "crypto ikev2 cookie-challenge"
            } else {
                "the default of crypto ikev2 cookie-challenge"
            };
            e.add(
                format!("crypto ikev2 limit max-in-negotiation-sa {limit}"),
                format!("COOKIEs are demanded from {cookie} half-open IKE SAs on ({whose}), which must be below this limit: set a lower cookie-challenge first"),
            );
        }
    }
    for (n, p) in &c.ikev2_proposals {
        let sec = format!("crypto ikev2 proposal {n}");
        for (what, list) in [("integrity", &p.integrity), ("prf", &p.prf)] {
            if !c.allow_weak && list.iter().any(|h| h.is_weak()) {
                e.add(
                    &sec,
                    format!("{what} sha1 is weak: use sha256, or {WEAK_HINT}"),
                );
            }
        }
    }
    for (kn, k) in &c.ikev2_keyrings {
        for (pn, p) in &k.peers {
            let sec = format!("crypto ikev2 keyring {kn} peer {pn}");
            for (what, s) in [
                ("pre-shared-key", &p.pre_shared_key),
                ("pre-shared-key local", &p.pre_shared_key_local),
                ("pre-shared-key remote", &p.pre_shared_key_remote),
            ] {
                let Some(s) = s else { continue };
                if s.expose() == crate::render::MASK {
                    e.add(&sec, format!("{what} is the mask that show running-config prints, not a key: type the key itself"));
                } else if !c.allow_weak && s.expose().chars().count() < MIN_PSK_LEN {
                    e.add(
                        &sec,
                        format!("{what} is {} characters, shorter than {MIN_PSK_LEN}: use a longer key, or {WEAK_HINT}", s.expose().chars().count()),
                    );
                }
            }
        }
    }
    for (n, p) in &c.ikev2_profiles {
        let sec = format!("crypto ikev2 profile {n}");
        if let Some(k) = &p.keyring {
            if !c.ikev2_keyrings.contains_key(k) {
                e.add(&sec, format!("keyring local {k}: no such keyring (define 'crypto ikev2 keyring {k}' first)"));
            }
        }
        for pr in &p.proposals {
            if !c.ikev2_proposals.contains_key(pr) {
                e.add(&sec, format!("proposal {pr}: no such proposal (define 'crypto ikev2 proposal {pr}' first)"));
            }
        }
        for t in &p.trustpoints {
            if !c.trustpoints.contains_key(t) {
                e.add(&sec, format!("pki trustpoint {t}: no such trustpoint (define 'crypto pki trustpoint {t}' first)"));
            }
        }
    }
    for (n, t) in &c.transform_sets {
        for tr in &t.transforms {
            if let EspTransform::Cbc { integrity, .. } = tr {
                if integrity.is_weak() && !c.allow_weak {
                    e.add(
                        format!("crypto ipsec transform-set {n}"),
                        format!(
                            "esp-sha-hmac (HMAC-SHA1) is weak: use esp-sha256-hmac, or {WEAK_HINT}"
                        ),
                    );
                }
            }
        }
    }
    for (n, p) in &c.ipsec_profiles {
        let sec = format!("crypto ipsec profile {n}");
        for t in &p.transform_sets {
            if !c.transform_sets.contains_key(t) {
                e.add(
                    &sec,
                    format!("set transform-set {t}: no such transform set"),
                );
            }
        }
        if let Some(ip) = &p.ikev2_profile {
            if !c.ikev2_profiles.contains_key(ip) {
                e.add(
                    &sec,
                    format!("set ikev2-profile {ip}: no such IKEv2 profile"),
                );
            }
        }
    }
}

fn overlaps(a: IpNetwork, b: IpNetwork) -> bool {
    a.is_ipv4() == b.is_ipv4() && (a.contains(b.network()) || b.contains(a.network()))
}

fn interfaces(c: &Config, e: &mut Errors) {
    let mut nets: Vec<(&str, IpNetwork)> = Vec::new();
    let mut names: Vec<&String> = c.interfaces.keys().collect();
    names.sort_by(|a, b| interface_order(a, b));
    for n in names {
        let i = &c.interfaces[n];
        let sec = format!("interface {n}");
        if let Some(a) = i.ipv4 {
            if a.prefix() < 31 && (a.ip() == a.network() || a.ip() == a.broadcast()) {
                e.add(
                    &sec,
                    format!(
                        "ip address {a}: the address is the {} address of its subnet",
                        if a.ip() == a.network() {
                            "network"
                        } else {
                            "broadcast"
                        }
                    ),
                );
            }
            nets.push((n, IpNetwork::V4(a)));
        }
        for a in &i.ipv6 {
            // Link-local subnets repeat on every link by design.
            if a.ip().segments()[0] & 0xffc0 != 0xfe80 {
                nets.push((n, IpNetwork::V6(*a)));
            }
        }
        if let Some(t) = &i.tunnel {
            if let Some(p) = &t.protection {
                if !c.ipsec_profiles.contains_key(p) {
                    e.add(
                        &sec,
                        format!("tunnel protection ipsec profile {p}: no such IPsec profile"),
                    );
                }
            }
            let want_v4 = t.mode != Some(TunnelMode::IpsecIpv6);
            let mode = if want_v4 { "ipv4" } else { "ipv6" };
            if let Some(TunnelSource::Address(a)) = &t.source {
                if a.is_ipv4() != want_v4 {
                    e.add(
                        &sec,
                        format!("tunnel source {a} does not match tunnel mode ipsec {mode}"),
                    );
                }
            }
            if let Some(TunnelDestination::Address(a)) = &t.destination {
                if a.is_ipv4() != want_v4 {
                    e.add(
                        &sec,
                        format!("tunnel destination {a} does not match tunnel mode ipsec {mode}"),
                    );
                }
            }
        }
    }
    for (i, (na, a)) in nets.iter().enumerate() {
        for (nb, b) in &nets[..i] {
            if overlaps(*a, *b) {
                let what = if a.ip() == b.ip() {
                    "collides with"
                } else {
                    "overlaps"
                };
                e.add(
                    format!("interface {na}"),
                    format!("{a} {what} {b} of interface {nb}"),
                );
            }
        }
    }
    // Two tunnels between the same pair of addresses cannot be told apart.
    let mut pairs: Vec<(&String, String)> = Vec::new();
    for (n, i) in &c.interfaces {
        let Some(t) = &i.tunnel else { continue };
        if let (Some(s), Some(TunnelDestination::Address(d))) = (&t.source, &t.destination) {
            let key = format!("{s:?}->{d}");
            if let Some((other, _)) = pairs.iter().find(|(_, k)| *k == key) {
                e.add(
                    format!("interface {n}"),
                    format!(
                        "tunnel source and destination {d} are the same as interface {other}'s"
                    ),
                );
            }
            pairs.push((n, key));
        }
    }
}

fn bgp(b: &Bgp, e: &mut Errors) {
    let sec = format!("router bgp {}", b.asn);
    for (a, n) in &b.neighbors {
        if let Some(g) = &n.peer_group {
            if !b.peer_groups.contains_key(g) {
                e.add(
                    &sec,
                    format!("neighbor {a} peer-group {g}: no such peer group"),
                );
            }
        }
        let group_as = n
            .peer_group
            .as_ref()
            .and_then(|g| b.peer_groups.get(g))
            .and_then(|g| g.remote_as);
        if n.remote_as.is_none() && group_as.is_none() {
            e.add(
                &sec,
                format!("neighbor {a} has no remote-as, nor has its peer group"),
            );
        }
        let p = PeerRef::Addr(*a);
        if !b.is_active(&p, Afi::Ipv4) && !b.is_active(&p, Afi::Ipv6) {
            e.add(&sec, format!("neighbor {a} is in no address family: activate it under address-family ipv4 or ipv6 unicast, or remove it"));
        }
    }
    for (p, g) in &b.listen_ranges {
        if !b.peer_groups.contains_key(g) {
            e.add(
                &sec,
                format!("bgp listen range {p} peer-group {g}: no such peer group"),
            );
        }
    }
    for afi in [Afi::Ipv4, Afi::Ipv6] {
        for who in b.af(afi).neighbors.keys() {
            let exists = match who {
                PeerRef::Addr(a) => b.neighbors.contains_key(a),
                PeerRef::Group(g) => b.peer_groups.contains_key(g),
            };
            if !exists {
                e.add(
                    &sec,
                    format!(
                        "address-family {} unicast: neighbor {who} is not configured",
                        afi.name()
                    ),
                );
            }
        }
    }
}
