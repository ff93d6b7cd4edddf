//! Checks of a Virtual-Template hub and its spokes: the references between
//! `aaa authorization`, authorization policies, pools, `ip unnumbered`
//! and Virtual-Templates exist, and pools overlap neither each other nor
//! an address of this router.

use super::Errors;
use crate::model::*;

pub(super) fn check(c: &Config, e: &mut Errors) {
    aaa(c, e);
    policies(c, e);
    pools(c, e);
    unnumbered(c, e);
    templates(c, e);
}

fn aaa(c: &Config, e: &mut Errors) {
    if !c.aaa_new_model {
        for l in &c.aaa_authorization_network {
            e.add(
                format!("aaa authorization network {l}"),
                "needs aaa new-model (enter 'aaa new-model' first)",
            );
        }
    }
    for (n, p) in &c.ikev2_profiles {
        let sec = format!("crypto ikev2 profile {n}");
        for a in &p.aaa_authorization {
            let kind = if a.cert { "cert" } else { "psk" };
            let line = format!(
                "aaa authorization group {kind} list {} {}",
                a.list, a.policy
            );
            if !c.aaa_authorization_network.contains(&a.list) {
                e.add(
                    &sec,
                    format!(
                        "{line}: no such list (define 'aaa authorization network {} local' first)",
                        a.list
                    ),
                );
            }
            if !c.ikev2_authorization_policies.contains_key(&a.policy) {
                e.add(
                    &sec,
                    format!("{line}: no such policy (define 'crypto ikev2 authorization policy {}' first)", a.policy),
                );
            }
        }
        if let Some(v) = p.virtual_template {
            if !c.interfaces.contains_key(&format!("Virtual-Template{v}")) {
                e.add(
                    &sec,
                    format!("virtual-template {v}: no such interface (define 'interface Virtual-Template{v} type tunnel' first)"),
                );
            }
        }
    }
}

fn policies(c: &Config, e: &mut Errors) {
    for (n, p) in &c.ikev2_authorization_policies {
        let sec = format!("crypto ikev2 authorization policy {n}");
        if let Some(v) = &p.pool {
            if !c.ip_local_pools.contains_key(v) {
                e.add(
                    &sec,
                    format!("pool {v}: no such pool (define 'ip local pool {v} FIRST LAST' first)"),
                );
            }
        }
        if let Some(v) = &p.ipv6_pool {
            if !c.ipv6_local_pools.contains_key(v) {
                e.add(
                    &sec,
                    format!("ipv6 pool {v}: no such pool (define 'ipv6 local pool {v} PREFIX/LEN ASSIGN-LEN' first)"),
                );
            }
        }
        for r in &p.route_set_interfaces {
            if let RouteSetInterface::Named(i) = r {
                if !c.interfaces.contains_key(i) {
                    e.add(&sec, format!("route set interface {i}: no such interface"));
                }
            }
        }
    }
}

fn pools(c: &Config, e: &mut Errors) {
    let v4: Vec<(&String, &LocalPool)> = c.ip_local_pools.iter().collect();
    for (i, (na, a)) in v4.iter().enumerate() {
        for (nb, b) in &v4[..i] {
            if a.first <= b.last && b.first <= a.last {
                e.add(
                    format!("ip local pool {na}"),
                    format!(
                        "{}-{} overlaps ip local pool {nb} ({}-{})",
                        a.first, a.last, b.first, b.last
                    ),
                );
            }
        }
        for (ifn, ifc) in &c.interfaces {
            if let Some(addr) = ifc.ipv4 {
                if (a.first..=a.last).contains(&addr.ip()) {
                    e.add(
                        format!("ip local pool {na}"),
                        format!("{}-{} holds {}, the address of interface {ifn}: a peer would be given this router's own address", a.first, a.last, addr.ip()),
                    );
                }
            }
        }
    }
    let v6: Vec<(&String, &Ipv6LocalPool)> = c.ipv6_local_pools.iter().collect();
    for (i, (na, a)) in v6.iter().enumerate() {
        for (nb, b) in &v6[..i] {
            if a.prefix.contains(b.prefix.network()) || b.prefix.contains(a.prefix.network()) {
                e.add(
                    format!("ipv6 local pool {na}"),
                    format!("{} overlaps ipv6 local pool {nb} ({})", a.prefix, b.prefix),
                );
            }
        }
        for (ifn, ifc) in &c.interfaces {
            for addr in &ifc.ipv6 {
                if a.prefix.contains(addr.ip()) {
                    e.add(
                        format!("ipv6 local pool {na}"),
                        format!("{} holds {}, the address of interface {ifn}: a peer could be given this router's own address", a.prefix, addr.ip()),
                    );
                }
            }
        }
    }
}

fn unnumbered(c: &Config, e: &mut Errors) {
    for (n, i) in &c.interfaces {
        let Some(u) = &i.unnumbered else { continue };
        let sec = format!("interface {n}");
        match c.interfaces.get(u) {
            None => e.add(
                &sec,
                format!("ip unnumbered {u}: no such interface (define 'interface {u}' with an ip address first)"),
            ),
            Some(b) if b.ipv4.is_none() => e.add(
                &sec,
                format!("ip unnumbered {u}: {u} has no ip address to borrow"),
            ),
            Some(_) => {}
        }
    }
}

fn templates(c: &Config, e: &mut Errors) {
    for (n, i) in &c.interfaces {
        let InterfaceKind::VirtualTemplate(v) = InterfaceKind::of(n) else {
            continue;
        };
        let sec = format!("interface {n}");
        let Some(t) = &i.tunnel else {
            e.add(
                &sec,
                "a Virtual-Template is a tunnel template (type tunnel)",
            );
            continue;
        };
        if i.ipv4.is_some() || i.address_negotiated {
            e.add(
                &sec,
                "a Virtual-Template has no address of its own: use ip unnumbered LoopbackN",
            );
        }
        if matches!(t.destination, Some(TunnelDestination::Address(_))) {
            e.add(&sec, "a Virtual-Template has no tunnel destination: the peer of each Virtual-Access is whoever authenticates");
        }
        let Some(p) = &t.protection else {
            e.add(&sec, "needs tunnel protection ipsec profile PROFILE: a Virtual-Access without IPsec would carry nothing");
            continue;
        };
        let ike = c
            .ipsec_profiles
            .get(p)
            .and_then(|ip| ip.ikev2_profile.as_ref());
        if let Some(ike) = ike {
            if let Some(prof) = c.ikev2_profiles.get(ike) {
                if prof.virtual_template != Some(v) {
                    e.add(
                        &sec,
                        format!("tunnel protection ipsec profile {p}: its IKEv2 profile {ike} has no 'virtual-template {v}', so no peer would ever get a Virtual-Access from this template"),
                    );
                }
            }
        }
    }
    for (n, p) in &c.ikev2_profiles {
        let Some(v) = p.virtual_template else {
            continue;
        };
        let vt = format!("Virtual-Template{v}");
        let ike = c
            .interfaces
            .get(&vt)
            .and_then(|i| i.tunnel.as_ref())
            .and_then(|t| t.protection.as_ref())
            .and_then(|ip| c.ipsec_profiles.get(ip))
            .and_then(|ip| ip.ikev2_profile.as_ref());
        if let Some(other) = ike {
            if other != n {
                e.add(
                    format!("crypto ikev2 profile {n}"),
                    format!("virtual-template {v}: interface {vt} is protected by IKEv2 profile {other}, not this one"),
                );
            }
        }
    }
}
