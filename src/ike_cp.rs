//! IKEv2 configuration payloads from the operator's configuration (IOS
//! FlexVPN): a profile's `aaa authorization group psk|cert list LIST
//! POLICY` names a `crypto ikev2 authorization policy`, whose `pool` /
//! `ipv6 pool` lease peers their addresses and whose `route set
//! interface` lines give the peer host routes to our interfaces; a
//! tunnel's `ip address negotiated` asks the responder for an address.

use ike::sa::config::{AuthKind, CpConfig, PoolRange};
use std::net::IpAddr;
use vtysh::model::{self, Config, RouteSetInterface};

/// The configuration payload settings of tunnel (or Virtual-Template)
/// `name`, whose profile is `prof` and whose peers authenticate with
/// `auth_remote`; or why they cannot be honoured.
pub fn cp_config(
    cfg: &Config,
    name: &str,
    itf: &model::Interface,
    prof: &model::Ikev2Profile,
    auth_remote: &[AuthKind],
) -> Result<CpConfig, String> {
    let mut out = CpConfig {
        request4: itf.address_negotiated,
        ..CpConfig::default()
    };
    // The policy for how peers authenticate: `group psk` for pre-shared
    // keys, `group cert` for certificates; either when only one is given.
    let psk = auth_remote.contains(&AuthKind::Psk);
    let entry = prof
        .aaa_authorization
        .iter()
        .find(|a| a.cert != psk)
        .or(prof.aaa_authorization.first());
    let Some(entry) = entry else {
        return Ok(out);
    };
    let policy = cfg
        .ikev2_authorization_policies
        .get(&entry.policy)
        .ok_or_else(|| {
            format!(
                "crypto ikev2 authorization policy {} does not exist",
                entry.policy
            )
        })?;
    if let Some(p) = &policy.pool {
        let pool = cfg
            .ip_local_pools
            .get(p)
            .ok_or_else(|| format!("ip local pool {p} does not exist"))?;
        out.pool4 = Some((
            p.clone(),
            PoolRange::V4 {
                first: pool.first,
                last: pool.last,
            },
        ));
    }
    if let Some(p) = &policy.ipv6_pool {
        let pool = cfg
            .ipv6_local_pools
            .get(p)
            .ok_or_else(|| format!("ipv6 local pool {p} does not exist"))?;
        out.pool6 = Some((
            p.clone(),
            PoolRange::V6 {
                prefix: pool.prefix.network(),
                len: pool.prefix.prefix(),
                assign_len: pool.assign_len,
            },
        ));
    }
    for r in &policy.route_set_interfaces {
        let source = match r {
            // The tunnel's own address: its `ip unnumbered` interface's.
            RouteSetInterface::Own => itf.unnumbered.as_deref().unwrap_or(name),
            RouteSetInterface::Named(n) => n.as_str(),
        };
        let routes = host_routes(cfg, source);
        if routes.is_empty() {
            return Err(format!(
                "route set interface {source}: the interface has no address to push"
            ));
        }
        for h in routes {
            if !out.routes.contains(&h) {
                out.routes.push(h);
            }
        }
    }
    Ok(out)
}

/// Host routes to the configured addresses of interface `name` (IOS
/// pushes `route set interface` as the interface's address, /32).
fn host_routes(cfg: &Config, name: &str) -> Vec<(IpAddr, u8)> {
    let Some(i) = cfg.interfaces.get(name) else {
        return Vec::new();
    };
    let mut v: Vec<(IpAddr, u8)> = i.ipv4.iter().map(|n| (IpAddr::V4(n.ip()), 32)).collect();
    v.extend(i.ipv6.iter().map(|n| (IpAddr::V6(n.ip()), 128)));
    v
}
