//! What a Virtual-Template hub hands its peers (IOS FlexVPN): `aaa`,
//! `ip local pool`, `ipv6 local pool`, `crypto ikev2 authorization policy`
//! and its sub-mode, and the IKEv2 profile's `aaa authorization` and
//! `virtual-template`. Lines IOS has that rvpn cannot honour are refused
//! with the reason rather than accepted and ignored.

use super::crypto::{frame_name, gone, name, profile, push_unique, remove};
use super::{num, Builder, Ctx};
use crate::grammar::Args;
use crate::mode::Mode;
use crate::model::*;
use crate::session::{CliError, Frame};
use ipnetwork::Ipv6Network;
use std::net::Ipv4Addr;

pub(super) fn register(b: &mut Builder) {
    use Mode::*;
    b.add(Config, "aaa new-model", |c, _| {
        c.cfg.aaa_new_model = true;
        Ok(())
    });
    b.add(Config, "no aaa new-model", |c, _| {
        if let Some(l) = c.cfg.aaa_authorization_network.iter().next() {
            return Err(CliError::new(format!(
                "% aaa authorization network {l} needs aaa new-model: remove the aaa authorization lines first"
            )));
        }
        c.cfg.aaa_new_model = false;
        Ok(())
    });
    b.add(Config, "aaa authorization network LIST local", |c, a| {
        let l = name(a, "LIST")?;
        if !c.cfg.aaa_new_model {
            return Err(CliError::new(
                "% aaa authorization needs aaa new-model first (IOS refuses it before aaa new-model too)",
            ));
        }
        c.cfg.aaa_authorization_network.insert(l);
        Ok(())
    });
    b.add(Config, "aaa authorization network LIST LINE", |_, a| {
        Err(CliError::at(
            a.column_of("LINE"),
            format!(
                "% aaa authorization network ... {}: rvpn has no AAA server (RADIUS, TACACS+); use 'local', the authorization policies of this configuration",
                a.get("LINE").unwrap_or_default()
            ),
        ))
    });
    b.add(
        Config,
        "no aaa authorization network LIST [LINE]",
        |c, a| {
            let l = a.get("LIST").unwrap_or_default();
            if !c.cfg.aaa_authorization_network.remove(l) {
                return Err(CliError::at(
                    a.column_of("LIST"),
                    format!("% No aaa authorization network list named {l}"),
                ));
            }
            Ok(())
        },
    );

    // ---- address pools
    b.add(Config, "ip local pool NAME A.B.C.D [A.B.C.D]", |c, a| {
        let n = name(a, "NAME")?;
        let addrs: Vec<Ipv4Addr> = a
            .all("A.B.C.D")
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect();
        let (Some(&first), last) = (addrs.first(), addrs.get(1).copied()) else {
            return Err(CliError::new("% Bad address"));
        };
        let p = LocalPool {
            first,
            last: last.unwrap_or(first),
        };
        if p.last < p.first {
            return Err(CliError::new(format!(
                "% ip local pool {n}: the last address {} is below the first {}",
                p.last, p.first
            )));
        }
        if p.size() > MAX_LOCAL_POOL_ADDRESSES {
            return Err(CliError::new(format!(
                "% ip local pool {n}: {} addresses, more than rvpn's {MAX_LOCAL_POOL_ADDRESSES} (a /12) per pool",
                p.size()
            )));
        }
        c.cfg.ip_local_pools.insert(n, p);
        Ok(())
    });
    b.add(Config, "no ip local pool NAME [LINE]", |c, a| {
        remove(&mut c.cfg.ip_local_pools, a, "NAME", "ip local pool")
    });
    b.add(Config, "ipv6 local pool NAME X:X::X:X/M (1-128)", |c, a| {
        let n = name(a, "NAME")?;
        let p: Ipv6Network = a
            .get("X:X::X:X/M")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| CliError::at(a.column_of("X:X::X:X/M"), "% Bad IPv6 prefix"))?;
        let prefix = Ipv6Network::new(p.network(), p.prefix())
            .map_err(|e| CliError::new(format!("% {e}")))?;
        let assign_len: u8 = num(a, "(1-128)")?;
        if assign_len < prefix.prefix() {
            return Err(CliError::at(
                a.column_of("(1-128)"),
                format!(
                    "% ipv6 local pool {n}: the assigned length {assign_len} is shorter than the pool's /{}",
                    prefix.prefix()
                ),
            ));
        }
        if u32::from(assign_len - prefix.prefix()) > MAX_LOCAL_POOL_ADDRESSES.trailing_zeros() {
            return Err(CliError::at(
                a.column_of("(1-128)"),
                format!(
                    "% ipv6 local pool {n}: 2^{} prefixes, more than rvpn's {MAX_LOCAL_POOL_ADDRESSES} per pool",
                    assign_len - prefix.prefix()
                ),
            ));
        }
        c.cfg
            .ipv6_local_pools
            .insert(n, Ipv6LocalPool { prefix, assign_len });
        Ok(())
    });
    b.add(Config, "no ipv6 local pool NAME [LINE]", |c, a| {
        remove(&mut c.cfg.ipv6_local_pools, a, "NAME", "ipv6 local pool")
    });

    // ---- crypto ikev2 authorization policy
    b.add(
        Config,
        "crypto ikev2 authorization policy POLICY",
        |c, a| {
            let n = name(a, "POLICY")?;
            c.cfg
                .ikev2_authorization_policies
                .entry(n.clone())
                .or_default();
            c.push(Frame::Ikev2AuthorizationPolicy(n));
            Ok(())
        },
    );
    b.add(
        Config,
        "no crypto ikev2 authorization policy POLICY",
        |c, a| {
            remove(
                &mut c.cfg.ikev2_authorization_policies,
                a,
                "POLICY",
                "IKEv2 authorization policy",
            )
        },
    );
    let ap = Ikev2AuthorizationPolicy;
    b.add(ap, "pool NAME", |c, a| {
        policy(c)?.pool = Some(name(a, "NAME")?);
        Ok(())
    });
    b.add(ap, "no pool [NAME]", |c, _| {
        policy(c)?.pool = None;
        Ok(())
    });
    b.add(ap, "ipv6 pool NAME", |c, a| {
        policy(c)?.ipv6_pool = Some(name(a, "NAME")?);
        Ok(())
    });
    b.add(ap, "no ipv6 pool [NAME]", |c, _| {
        policy(c)?.ipv6_pool = None;
        Ok(())
    });
    b.add(ap, "route set interface [IFNAME]", |c, a| {
        let r = route_set(a);
        push_unique(&mut policy(c)?.route_set_interfaces, r);
        Ok(())
    });
    b.add(ap, "no route set interface [IFNAME]", |c, a| {
        let r = route_set(a);
        let p = policy(c)?;
        if !p.route_set_interfaces.contains(&r) {
            return Err(CliError::new(
                "% No such route set interface line in this policy",
            ));
        }
        p.route_set_interfaces.retain(|x| *x != r);
        Ok(())
    });
    b.add(ap, "route accept any [distance (1-255)]", |c, a| {
        let d = match a.get("(1-255)") {
            Some(_) => Some(num(a, "(1-255)")?),
            None => None,
        };
        policy(c)?.route_accept_distance = d;
        Ok(())
    });
    b.add(ap, "no route accept any distance [(1-255)]", |c, _| {
        policy(c)?.route_accept_distance = None;
        Ok(())
    });
    b.add(ap, "no route accept any", |_, _| {
        Err(CliError::new(
            "% rvpn always installs the routes the responder pushes (at distance 1 unless 'route accept any distance N'); to take none, push none from the hub",
        ))
    });
    b.add(ap, "route accept any tag LINE", |_, a| {
        Err(CliError::at(
            a.column_of("tag"),
            "% route accept any tag: rvpn's routes carry no tags; use route accept any [distance N]",
        ))
    });
    for (template, why) in REFUSED_POLICY_LINES {
        b.add(ap, template, move |_, a| {
            let what: Vec<&str> = a
                .items
                .iter()
                .take_while(|i| i.token.display() != "LINE")
                .map(|i| i.value.as_str())
                .collect();
            let what = what.join(" ");
            Err(CliError::new(format!("% {what}: {why}")))
        });
    }

    // ---- in crypto ikev2 profile
    b.add(
        Ikev2Profile,
        "aaa authorization group <psk|cert> list LIST POLICY",
        |c, a| {
            let e = AaaAuthorization {
                cert: a.has("cert"),
                list: name(a, "LIST")?,
                policy: name(a, "POLICY")?,
            };
            let p = profile(c)?;
            p.aaa_authorization.retain(|x| x.cert != e.cert);
            p.aaa_authorization.push(e);
            Ok(())
        },
    );
    b.add(
        Ikev2Profile,
        "aaa authorization group <psk|cert> list LIST name-mangler LINE",
        |_, a| {
            Err(CliError::at(
                a.column_of("name-mangler"),
                "% name-mangler: rvpn gives every peer of the profile the one policy named on this line; name the policy instead (aaa authorization group psk|cert list LIST POLICY)",
            ))
        },
    );
    b.add(Ikev2Profile, "aaa authorization user LINE", |_, a| {
        Err(CliError::at(
            a.column_of("user"),
            "% aaa authorization user: rvpn authorizes groups only, from local policies; use aaa authorization group psk|cert list LIST POLICY",
        ))
    });
    b.add(
        Ikev2Profile,
        "no aaa authorization group <psk|cert> [LINE]",
        |c, a| {
            let cert = a.has("cert");
            let p = profile(c)?;
            if !p.aaa_authorization.iter().any(|x| x.cert == cert) {
                return Err(CliError::new(format!(
                    "% No aaa authorization group {} in this profile",
                    if cert { "cert" } else { "psk" }
                )));
            }
            p.aaa_authorization.retain(|x| x.cert != cert);
            Ok(())
        },
    );
    b.add(Ikev2Profile, "virtual-template (1-4095)", |c, a| {
        profile(c)?.virtual_template = Some(num(a, "(1-4095)")?);
        Ok(())
    });
    b.add(Ikev2Profile, "no virtual-template [(1-4095)]", |c, _| {
        profile(c)?.virtual_template = None;
        Ok(())
    });
}

/// Lines of IOS's `(config-ikev2-profile-author-policy)` mode that rvpn
/// cannot honour, each with the reason.
const REFUSED_POLICY_LINES: [(&str, &str); 12] = [
    ("dns LINE", "rvpn pushes no DNS servers; configure the peers' resolvers on the peers"),
    ("ipv6 dns LINE", "rvpn pushes no DNS servers; configure the peers' resolvers on the peers"),
    ("wins LINE", "rvpn pushes no WINS servers"),
    ("netmask LINE", "rvpn hands each peer a single address (a /32) from the pool; the routes it pushes come from route set interface"),
    ("route set access-list LINE", "rvpn has no access lists; push routes with route set interface, or run BGP over the tunnel"),
    ("route set remote LINE", "rvpn pushes no routes to the peer's own networks; run BGP over the tunnel"),
    ("route set local LINE", "rvpn pushes the prefixes of interfaces only; use route set interface, or run BGP over the tunnel"),
    ("def-domain LINE", "rvpn pushes no DNS domain"),
    ("banner LINE", "rvpn pushes no banner"),
    ("split-dns LINE", "rvpn pushes no DNS settings"),
    ("subnet-acl LINE", "rvpn has no access lists; push routes with route set interface, or run BGP over the tunnel"),
    ("ipv6 subnet-acl LINE", "rvpn has no access lists; push routes with route set interface, or run BGP over the tunnel"),
];

fn route_set(a: &Args) -> RouteSetInterface {
    match a.get("IFNAME") {
        Some(n) => RouteSetInterface::Named(n.to_string()),
        None => RouteSetInterface::Own,
    }
}

fn policy(c: &mut Ctx) -> Result<&mut AuthorizationPolicy, CliError> {
    let n = frame_name(c);
    c.cfg
        .ikev2_authorization_policies
        .get_mut(&n)
        .ok_or_else(|| gone("IKEv2 authorization policy"))
}
