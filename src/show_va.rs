//! Virtual-Access interfaces in show commands (IOS FlexVPN): one entry per
//! spoke, under the operator's name (`Virtual-Access17`; the kernel's is
//! `rvpn-va17`), with its template, peer, and what configuration payloads
//! gave it; and the Virtual-Templates themselves in `show crypto session`,
//! where a spoke they refused (an exhausted pool) says why.

use crate::show::{to_json, View};
use ike::sa::IkeSaInfo;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use vtysh::protocol::ErrorInfo;

/// The number of a Virtual-Access name.
fn number(name: &str) -> Option<u32> {
    name.strip_prefix(esp_io::link::VIRTUAL_ACCESS)?
        .parse()
        .ok()
}

/// The operator's name for what the user typed: `Virtual-Access17`,
/// `virtual-access 17`, `virtual-access17`, `vi17`.
pub fn canonical(name: &str) -> Option<String> {
    let lower = name.to_ascii_lowercase().replace(' ', "");
    let digits = lower.trim_start_matches(|c: char| !c.is_ascii_digit());
    let word = &lower[..lower.len() - digits.len()];
    let n: u32 = digits.parse().ok()?;
    (word.len() >= 2 && "virtual-access".starts_with(word))
        .then(|| format!("{}{n}", esp_io::link::VIRTUAL_ACCESS))
}

/// Every Virtual-Access with its newest established IKE SA (or its newest
/// SA), by number.
pub fn accesses<'a>(v: &View<'a>) -> BTreeMap<u32, (&'a str, &'a IkeSaInfo)> {
    let mut out: BTreeMap<u32, (&'a str, &'a IkeSaInfo)> = BTreeMap::new();
    for sa in &v.ike.sas {
        let Some(name) = sa.tunnel.as_deref() else {
            continue;
        };
        let Some(n) = number(name) else { continue };
        let better = out
            .get(&n)
            .is_none_or(|(_, o)| o.state != "ESTABLISHED" && sa.state == "ESTABLISHED");
        if better {
            out.insert(n, (name, sa));
        }
    }
    out
}

/// The status label of a tunnel from IKE's snapshot.
fn status_of(v: &View<'_>, name: &str) -> String {
    // The snapshot lists tunnels sorted by name (the engine's BTreeMap).
    let t = &v.ike.tunnels;
    match t.binary_search_by(|(n, _, _)| n.as_str().cmp(name)) {
        Ok(i) => t[i].1.label(),
        Err(_) => t
            .iter()
            .find(|(n, _, _)| n == name)
            .map_or_else(|| "DOWN-NEGOTIATING".into(), |(_, st, _)| st.label()),
    }
}

/// What the template a Virtual-Access was cloned from configures.
fn template<'a>(v: &View<'a>, sa: &IkeSaInfo) -> Option<(String, &'a vtysh::model::Interface)> {
    let name = format!("Virtual-Template{}", sa.virtual_template?);
    let itf = v.running.interfaces.get(&name)?;
    Some((name, itf))
}

fn addrs(list: &[(std::net::IpAddr, u8)]) -> Vec<String> {
    list.iter().map(|(a, l)| format!("{a}/{l}")).collect()
}

fn entry_json(v: &View<'_>, name: &str, sa: &IkeSaInfo) -> Value {
    let tpl = template(v, sa);
    json!({
        "name": name,
        "linux_name": esp_io::link::linux_name(name),
        "virtual_template": tpl.as_ref().map(|t| t.0.clone()),
        "admin_status": "up",
        "line_protocol": if v.dp_iface(name).is_some_and(|i| i.line_up) { "up" } else { "down" },
        "status": status_of(v, name),
        "unnumbered": tpl.as_ref().and_then(|t| t.1.unnumbered.clone()),
        "peer": sa.remote.ip().to_string(),
        "peer_port": sa.remote.port(),
        "peer_id": sa.remote_id,
        "local": sa.local.to_string(),
        "assigned": addrs(&sa.cp.peer_addresses),
        "routes": addrs(&sa.cp.routes),
        "counters": v.dp_iface(name),
    })
}

/// `show interface virtual-access N [json]`.
pub fn interface(v: &View<'_>, name: &str, json: bool) -> Result<String, ErrorInfo> {
    let all = accesses(v);
    let found = number(name).and_then(|n| all.get(&n));
    let Some((name, sa)) = found else {
        return Err(ErrorInfo {
            message: format!(
                "% {name} does not exist (a Virtual-Access exists while its peer has an IKE SA)"
            ),
            column: None,
        });
    };
    if json {
        return to_json(&json!({ "interfaces": [entry_json(v, name, sa)] }));
    }
    let tpl = template(v, sa);
    let line = if v.dp_iface(name).is_some_and(|i| i.line_up) {
        "up"
    } else {
        "down"
    };
    let mut s = format!("{name} is up, line protocol is {line}\n");
    s.push_str("  Hardware is Virtual Access interface\n");
    match tpl.as_ref().and_then(|t| t.1.unnumbered.as_ref()) {
        Some(u) => {
            let a = v
                .running
                .interfaces
                .get(u)
                .and_then(|i| i.ipv4)
                .map(|a| a.ip().to_string())
                .unwrap_or_else(|| "unassigned".into());
            s.push_str(&format!(
                "  Interface is unnumbered. Using address of {u} ({a})\n"
            ));
        }
        None => s.push_str("  Internet address is unassigned\n"),
    }
    let mtu = tpl.as_ref().and_then(|t| t.1.mtu).unwrap_or(1400);
    s.push_str(&format!("  MTU {mtu} bytes\n"));
    if let Some((t, itf)) = &tpl {
        s.push_str(&format!("  Tunnel vaccess, cloned from {t}\n"));
        if let Some(p) = itf.tunnel.as_ref().and_then(|x| x.protection.as_deref()) {
            s.push_str(&format!(
                "  Tunnel protection via IPsec (profile \"{p}\")\n"
            ));
        }
    }
    s.push_str(&format!(
        "  Tunnel source {}, destination {}\n",
        sa.local.ip(),
        sa.remote.ip()
    ));
    s.push_str(&format!(
        "  Peer {}, assigned {}, routes {}\n",
        sa.remote_id.as_deref().unwrap_or("unknown"),
        join_or_none(&addrs(&sa.cp.peer_addresses)),
        join_or_none(&addrs(&sa.cp.routes))
    ));
    s.push_str(&format!(
        "  Linux interface {}\n",
        esp_io::link::linux_name(name)
    ));
    if let Some(c) = v.dp_iface(name) {
        s.push_str(&format!(
            "  {} packets input, {} bytes, {} input errors\n  {} packets output, {} bytes, {} output errors\n",
            c.rx_packets, c.rx_bytes, c.rx_errors, c.tx_packets, c.tx_bytes, c.tx_errors
        ));
    }
    Ok(s)
}

fn join_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(" ")
    }
}

/// A Virtual-Access or Virtual-Template as `show crypto session` lists it:
/// (interface, status, ipsec profile, ikev2 profile, source).
pub struct VaSession {
    /// `Virtual-AccessN` or `Virtual-TemplateN`.
    pub interface: String,
    /// The status label; a template that refused a peer says why.
    pub status: String,
    /// The IPsec profile of its template.
    pub ipsec_profile: String,
    /// The IKEv2 profile of that.
    pub ikev2_profile: Option<String>,
    /// Its template's tunnel source.
    pub source: Option<String>,
}

/// The templates (first) and their Virtual-Access interfaces, by number.
pub fn sessions(v: &View<'_>) -> Vec<VaSession> {
    let cfg = v.running;
    let prof = |itf: &vtysh::model::Interface| {
        let p = itf.tunnel.as_ref()?.protection.clone()?;
        let ike = cfg
            .ipsec_profiles
            .get(&p)
            .and_then(|x| x.ikev2_profile.clone());
        let src = itf.tunnel.as_ref().and_then(|t| match &t.source {
            Some(vtysh::model::TunnelSource::Address(a)) => Some(a.to_string()),
            Some(vtysh::model::TunnelSource::Interface(i)) => Some(i.clone()),
            None => None,
        });
        Some((p, ike, src))
    };
    let mut out = Vec::new();
    for (name, itf) in &cfg.interfaces {
        if !name.starts_with("Virtual-Template") {
            continue;
        }
        let Some((p, ike, src)) = prof(itf) else {
            continue;
        };
        let st = status_of(v, name);
        out.push(VaSession {
            interface: name.clone(),
            status: if st == "DOWN-NEGOTIATING" {
                "TEMPLATE".into()
            } else {
                st
            },
            ipsec_profile: p,
            ikev2_profile: ike,
            source: src,
        });
    }
    for (name, sa) in accesses(v).into_values() {
        let Some((_, itf)) = template(v, sa) else {
            continue;
        };
        let Some((p, ike, src)) = prof(itf) else {
            continue;
        };
        out.push(VaSession {
            interface: name.to_string(),
            status: status_of(v, name),
            ipsec_profile: p,
            ikev2_profile: ike,
            source: src,
        });
    }
    out
}

/// A Virtual-Access as `show ip interface brief` lists it.
pub struct Brief {
    /// `Virtual-AccessN`.
    pub name: String,
    /// The address it borrows (`ip unnumbered` on its template).
    pub address: Option<String>,
    /// Line protocol: up while the data plane carries an SA on it.
    pub protocol: &'static str,
}

/// Every Virtual-Access, by number, for `show ip interface brief`.
pub fn brief(v: &View<'_>) -> Vec<Brief> {
    accesses(v)
        .into_values()
        .map(|(name, sa)| Brief {
            name: name.to_string(),
            address: template(v, sa)
                .and_then(|(_, t)| t.unnumbered.clone())
                .and_then(|u| v.running.interfaces.get(&u).and_then(|i| i.ipv4))
                .map(|a| a.ip().to_string()),
            protocol: if v.dp_iface(name).is_some_and(|i| i.line_up) {
                "up"
            } else {
                "down"
            },
        })
        .collect()
}
