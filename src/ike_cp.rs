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

/// The distance of the routes configuration payloads give tunnel `name`
/// (a Virtual-Access: its template `virtual_template`): the authorization
/// policy's `route accept any distance N`, else 1, as IOS installs them.
pub fn route_distance(cfg: &Config, name: &str, virtual_template: Option<u32>) -> u8 {
    let itf_name = virtual_template
        .map(|n| format!("Virtual-Template{n}"))
        .unwrap_or_else(|| name.to_string());
    cfg.interfaces
        .get(&itf_name)
        .and_then(|i| i.tunnel.as_ref()?.protection.as_ref())
        .and_then(|p| cfg.ipsec_profiles.get(p)?.ikev2_profile.as_ref())
        .and_then(|p| cfg.ikev2_profiles.get(p))
        .and_then(|p| {
            p.aaa_authorization.iter().find_map(|a| {
                cfg.ikev2_authorization_policies
                    .get(&a.policy)?
                    .route_accept_distance
            })
        })
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::Loaded;

    fn load(name: &str) -> Config {
        let path = format!("{}/vtysh/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(path).expect("fixture");
        vtysh::load_config(&text, &Config::default()).expect("loads")
    }

    /// The hub and spoke of shared/CLI.md, as the IKE engine gets them.
    #[test]
    fn the_cli_md_hub_leases_from_its_pool_and_the_spoke_asks() {
        let hub = load("vt-hub.conf");
        let (ec, problems) = crate::ike_config::engine_config(&hub, &Loaded::new());
        assert!(problems.is_empty(), "{problems:?}");
        let t = ec
            .tunnels
            .iter()
            .find(|t| t.name == "Virtual-Template1")
            .expect("the template");
        assert_eq!(t.virtual_template, Some(1));
        assert_eq!(t.peer, ike::sa::config::Peer::Dynamic);
        assert_eq!(
            t.cp.pool4,
            Some((
                "SPOKES-POOL".into(),
                PoolRange::V4 {
                    first: "169.254.100.2".parse().unwrap(),
                    last: "169.254.103.254".parse().unwrap(),
                }
            ))
        );
        // route set interface Loopback0: its address as a host route.
        assert_eq!(t.cp.routes, vec![("169.254.100.1".parse().unwrap(), 32)]);
        assert!(!t.cp.request4);
        assert_eq!(route_distance(&hub, "Virtual-Access3", Some(1)), 1);

        let spoke = load("vt-spoke.conf");
        let (ec, problems) = crate::ike_config::engine_config(&spoke, &Loaded::new());
        assert!(problems.is_empty(), "{problems:?}");
        let t = &ec.tunnels[0];
        assert!(t.cp.request4, "ip address negotiated asks");
        assert_eq!(t.cp.pool4, None);
        assert_eq!(t.cp.routes, vec![("10.7.0.1".parse().unwrap(), 32)]);
    }

    #[test]
    fn route_accept_any_distance_sets_the_distance_of_pushed_routes() {
        let mut spoke = load("vt-spoke.conf");
        assert_eq!(route_distance(&spoke, "Tunnel1", None), 1);
        if let Some(p) = spoke.ikev2_authorization_policies.get_mut("HUB-POL") {
            p.route_accept_distance = Some(7);
        }
        assert_eq!(route_distance(&spoke, "Tunnel1", None), 7);
    }
}
