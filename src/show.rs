//! `show` commands: text for people, JSON (the same facts) for scripts.

use crate::iface::{IfaceTable, Stamp};
use crate::info::Info;
use crate::{persist, redact};
use serde_json::{json, Value};
use std::time::{Duration, UNIX_EPOCH};
use vtysh::model::{
    interface_order, is_tunnel_name, Interface, TunnelDestination, TunnelMode, TunnelSource,
};
use vtysh::protocol::ErrorInfo;
use vtysh::{Config, ShowCmd};

/// What the data plane line of `show version` says when none runs.
const NO_DATAPLANE: &str = "none (IKE could not open its ports, so no data plane runs)";
/// Why a tunnel's line protocol is down without an SA.
const NO_SA: &str = "no IPsec SA";
/// Why a tunnel's line protocol is down with an SA the data plane lacks.
const NO_DP: &str = "IPsec SA up, not installed in the data plane";
/// Why any other interface's line protocol is down.
const NO_DEVICE: &str = "rvpn manages tunnel interfaces only";

/// Everything a show command may look at.
pub struct View<'a> {
    /// The running configuration.
    pub running: &'a Config,
    /// Runtime interface state.
    pub ifaces: &'a IfaceTable,
    /// Daemon facts.
    pub info: &'a Info,
    /// The running configuration's generation.
    pub generation: u64,
    /// The time the command runs at.
    pub now: Stamp,
    /// IKE state (tunnel status, SAs), fetched for crypto show commands.
    pub ike: &'a ike::driver::Snapshot,
    /// Protected tunnels IKE cannot negotiate, with the reason.
    pub ike_problems: &'a [(String, String)],
    /// Data plane counters (None: no data plane runs).
    pub dp: Option<&'a crate::dataplane::DpStats>,
    /// The loaded trustpoints.
    pub pki: &'a crate::pki::Loaded,
}

impl View<'_> {
    /// The IKE status label of a protected tunnel.
    fn tunnel_status(&self, name: &str, ifc: &Interface) -> String {
        if ifc.shutdown {
            return "DOWN".into();
        }
        if let Some((_, why)) = self.ike_problems.iter().find(|(n, _)| n == name) {
            return format!("DOWN: PHASE1-FAILED ({why})");
        }
        self.ike
            .tunnels
            .iter()
            .find(|(n, _, _)| n == name)
            .map_or_else(|| "DOWN-NEGOTIATING".to_string(), |(_, st, _)| st.label())
    }

    /// The data plane's view of an interface.
    pub fn dp_iface(&self, name: &str) -> Option<&crate::dataplane::IfCounters> {
        self.dp?.interfaces.iter().find(|i| i.name == name)
    }

    /// Line protocol: up while the data plane carries an SA on it.
    pub fn line_up(&self, name: &str, ifc: &Interface) -> bool {
        !ifc.shutdown && self.dp_iface(name).is_some_and(|i| i.line_up)
    }

    fn line_text(&self, name: &str, ifc: &Interface) -> &'static str {
        if self.line_up(name, ifc) {
            "up"
        } else {
            "down"
        }
    }

    fn line_reason(&self, name: &str) -> &'static str {
        if !is_tunnel_name(name) {
            return NO_DEVICE;
        }
        let up = self
            .ike
            .sas
            .iter()
            .any(|sa| sa.tunnel.as_deref() == Some(name) && !sa.children.is_empty());
        if up {
            NO_DP
        } else {
            NO_SA
        }
    }
}

fn err(message: impl Into<String>) -> ErrorInfo {
    ErrorInfo {
        message: message.into(),
        column: None,
    }
}

pub(crate) fn to_json(v: &Value) -> Result<String, ErrorInfo> {
    serde_json::to_string_pretty(v)
        .map(|s| s + "\n")
        .map_err(|e| err(format!("% Internal error: {e}")))
}

fn config_json(cfg: &Config, include_secrets: bool) -> Result<Value, ErrorInfo> {
    let mut v = serde_json::to_value(cfg).map_err(|e| err(format!("% Internal error: {e}")))?;
    if !include_secrets {
        redact::scrub_json(&mut v, &redact::secrets(cfg));
    }
    Ok(v)
}

fn with_newline(mut s: String) -> String {
    if !s.is_empty() && !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

/// Run a show command; `Err` is a refusal for the client.
pub async fn show(v: &View<'_>, cmd: &ShowCmd, json: bool) -> Result<String, ErrorInfo> {
    match cmd {
        ShowCmd::RunningConfig { include_secrets } => {
            running_config(v.running, *include_secrets, json)
        }
        ShowCmd::StartupConfig { include_secrets } => {
            startup_config(v, *include_secrets, json).await
        }
        ShowCmd::Version => version(v, json),
        ShowCmd::Interface { name, brief } => interfaces(v, name.as_deref(), *brief, json),
        ShowCmd::IpInterfaceBrief => ip_interface_brief(v, json),
        // The daemon hands these to the BGP task.
        ShowCmd::BgpSummary { .. } | ShowCmd::BgpRoutes { .. } | ShowCmd::BgpNeighbors { .. } => {
            Err(ErrorInfo {
                message: "% BGP is not running".into(),
                column: None,
            })
        }
        // And this one reads the RIB's snapshot.
        ShowCmd::IpRoute { .. } => Err(ErrorInfo {
            message: "% The routing table is not running".into(),
            column: None,
        }),
        // The daemon hands this to the BFD task.
        ShowCmd::BfdPeers { .. } => Err(ErrorInfo {
            message: "% BFD is not running".into(),
            column: None,
        }),
        ShowCmd::CryptoSession { detail } => crypto_session(v, *detail, json),
        ShowCmd::CryptoIkev2Sa { detail } => crate::show_crypto::ikev2_sa(v, *detail, json),
        ShowCmd::CryptoIkev2Stats => crate::show_crypto::ikev2_stats(v, json),
        ShowCmd::CryptoPkiCertificates { trustpoint } => {
            crate::show_pki::certificates(v, trustpoint.as_deref(), json)
        }
        ShowCmd::CryptoPkiTrustpoints => crate::show_pki::trustpoints(v, json),
        ShowCmd::CryptoIpsecSa { interface } => {
            crate::show_crypto::ipsec_sa(v, interface.as_deref(), json)
        }
    }
}

fn running_config(cfg: &Config, include_secrets: bool, json: bool) -> Result<String, ErrorInfo> {
    if json {
        return to_json(&config_json(cfg, include_secrets)?);
    }
    let text = if include_secrets {
        vtysh::render(cfg)
    } else {
        vtysh::render::render_masked(cfg)
    };
    Ok(with_newline(text))
}

async fn startup_config(
    v: &View<'_>,
    include_secrets: bool,
    json: bool,
) -> Result<String, ErrorInfo> {
    let path = v.info.startup.clone();
    let read = crate::daemon::blocking("reading the startup configuration", move || {
        persist::read_startup(&path)
    })
    .await
    .map_err(|e| err(format!("% {e}")))?;
    let shown = v.info.startup.display();
    let text = match read {
        Ok(Some(t)) => t,
        Ok(None) => return Err(err(format!("% Startup config file {shown} not found"))),
        Err(e) => return Err(err(format!("% Cannot read {shown}: {e}"))),
    };
    if include_secrets && !json {
        // Asked for by name: the file exactly as it is.
        return Ok(with_newline(text));
    }
    let cfg = vtysh::load_config(&text, &Config::default()).map_err(|errs| {
        let mut m = format!(
            "% Startup config file {shown} does not load ({} errors):",
            errs.len()
        );
        for e in &errs {
            m.push('\n');
            m.push_str(&redact::file_error(e, true));
        }
        err(m)
    })?;
    if json {
        return to_json(
            &json!({ "path": v.info.startup, "config": config_json(&cfg, include_secrets)? }),
        );
    }
    Ok(with_newline(vtysh::render::render_masked(&cfg)))
}

/// `1d02h`, `01:02:03`: how routers print ages.
fn age(d: Duration) -> String {
    let s = d.as_secs();
    let (days, h, m, sec) = (s / 86400, (s / 3600) % 24, (s / 60) % 60, s % 60);
    if days > 0 {
        format!("{days}d{h:02}h")
    } else {
        format!("{h:02}:{m:02}:{sec:02}")
    }
}

fn uptime(d: Duration) -> String {
    let s = d.as_secs();
    let (days, h, m, sec) = (s / 86400, (s / 3600) % 24, (s / 60) % 60, s % 60);
    format!("{days} days, {h} hours, {m} minutes, {sec} seconds")
}

fn version(v: &View<'_>, json: bool) -> Result<String, ErrorInfo> {
    let up = v.now.mono.saturating_duration_since(v.info.started);
    if json {
        return to_json(&json!({
            "program": "rvpnd",
            "version": env!("CARGO_PKG_VERSION"),
            "hostname": v.running.hostname(),
            "uptime_secs": up.as_secs(),
            "config_file": v.info.startup,
            "socket": v.info.socket,
            "config_generation": v.generation,
            "dataplane": { "requested": v.info.dataplane.name(), "in_use": v.dp.map(|d| d.backend) },
            "ike": { "running": v.dp.is_some() },
            "bgp": { "configured": v.running.bgp.is_some(), "asn": v.running.bgp.as_ref().map(|b| b.asn) },
        }));
    }
    Ok(format!(
        "rvpn rvpnd version {}\n\
         {} uptime is {}\n\
         Configuration file: {}\n\
         Control socket: {}\n\
         Configuration generation: {}\n\
         Data plane requested: {}\n\
         Data plane in use: {}\n\
         IKE: {}\n\
         BGP: {}\n",
        env!("CARGO_PKG_VERSION"),
        v.running.hostname(),
        uptime(up),
        v.info.startup.display(),
        v.info.socket.display(),
        v.generation,
        v.info.dataplane.name(),
        v.dp.map_or(NO_DATAPLANE, |d| match d.backend {
            "kernel" => "kernel (XFRM states and policies, xfrm interfaces)",
            _ => "userspace (TUN devices, ESP in UDP 4500 or IP protocol 50)",
        }),
        if v.dp.is_some() {
            "running"
        } else {
            "not running (UDP ports 500/4500 unavailable)"
        },
        v.running
            .bgp
            .as_ref()
            .map_or("not configured".to_string(), |b| format!(
                "router bgp {}",
                b.asn
            )),
    ))
}

/// Interfaces in router order (Tunnel2 before Tunnel10).
fn sorted(cfg: &Config) -> Vec<(&String, &Interface)> {
    let mut v: Vec<_> = cfg.interfaces.iter().collect();
    v.sort_by(|a, b| interface_order(a.0, b.0));
    v
}

/// The configured interface an operator's name refers to: exact, then
/// case-insensitive, then an abbreviation of the type (`tu1`).
fn find_interface<'c>(cfg: &'c Config, name: &str) -> Option<&'c String> {
    if let Some((k, _)) = cfg.interfaces.get_key_value(name) {
        return Some(k);
    }
    if let Some(k) = cfg.interfaces.keys().find(|k| k.eq_ignore_ascii_case(name)) {
        return Some(k);
    }
    let split = |s: &str| {
        let cut = s.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        (s[..cut].to_ascii_lowercase(), s[cut..].to_string())
    };
    let (ty, num) = split(name);
    if ty.is_empty() || num.is_empty() {
        return None;
    }
    let hits: Vec<&String> = cfg
        .interfaces
        .keys()
        .filter(|k| {
            let (kt, kn) = split(k);
            kt.starts_with(&ty) && kn == num
        })
        .collect();
    match hits.as_slice() {
        [one] => Some(one),
        _ => None,
    }
}

/// The interfaces a command is about: all, or the one named.
fn selected<'c>(
    cfg: &'c Config,
    name: Option<&str>,
) -> Result<Vec<(&'c String, &'c Interface)>, ErrorInfo> {
    match name {
        None => Ok(sorted(cfg)),
        Some(n) => {
            let key = find_interface(cfg, n)
                .ok_or_else(|| err(format!("% Interface {n} not configured")))?;
            Ok(cfg
                .interfaces
                .get_key_value(key.as_str())
                .into_iter()
                .collect())
        }
    }
}

fn status(ifc: &Interface) -> &'static str {
    if ifc.shutdown {
        "administratively down"
    } else {
        "up"
    }
}

fn source_text(t: &Option<TunnelSource>) -> Option<String> {
    t.as_ref().map(|s| match s {
        TunnelSource::Address(a) => a.to_string(),
        TunnelSource::Interface(i) => i.clone(),
    })
}

fn destination_text(t: &Option<TunnelDestination>) -> Option<String> {
    t.as_ref().map(|d| match d {
        TunnelDestination::Address(a) => a.to_string(),
        TunnelDestination::Dynamic => "dynamic".to_string(),
    })
}

fn mode_text(m: Option<TunnelMode>) -> Option<&'static str> {
    m.map(|m| match m {
        TunnelMode::IpsecIpv4 => "ipsec ipv4",
        TunnelMode::IpsecIpv6 => "ipsec ipv6",
    })
}

fn interface_json(v: &View<'_>, name: &str, ifc: &Interface) -> Value {
    let st = v.ifaces.get(name);
    let tunnel = ifc.tunnel.as_ref().map(|t| {
        json!({
            "source": source_text(&t.source),
            "destination": destination_text(&t.destination),
            "mode": mode_text(t.mode),
            "protection": t.protection,
        })
    });
    json!({
        "name": name,
        "admin_status": status(ifc),
        "line_protocol": v.line_text(name, ifc),
        "line_protocol_reason": (!v.line_up(name, ifc)).then(|| v.line_reason(name)),
        "counters": v.dp_iface(name),
        "description": ifc.description,
        "ipv4": ifc.ipv4.map(|n| n.to_string()),
        "ipv6": ifc.ipv6.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
        "mtu": ifc.mtu,
        "tcp_adjust_mss": ifc.tcp_adjust_mss,
        "tunnel": tunnel,
        "config_generation": st.map(|s| s.config_generation),
        "last_change_unix_ms": st.map(|s| s.last_change.wall.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)),
        "last_change_secs_ago": st.map(|s| v.now.mono.saturating_duration_since(s.last_change.mono).as_secs()),
    })
}

fn interface_text(v: &View<'_>, name: &str, ifc: &Interface) -> String {
    let mut s = format!(
        "{name} is {}, line protocol is {}\n",
        status(ifc),
        v.line_text(name, ifc)
    );
    if is_tunnel_name(name) {
        s.push_str("  Hardware is Tunnel\n");
    }
    if let Some(d) = &ifc.description {
        s.push_str(&format!("  Description: {d}\n"));
    }
    match &ifc.ipv4 {
        Some(a) => s.push_str(&format!("  Internet address is {a}\n")),
        None => s.push_str("  Internet address is unassigned\n"),
    }
    for a in &ifc.ipv6 {
        s.push_str(&format!("  IPv6 address is {a}\n"));
    }
    match ifc.mtu {
        Some(m) => s.push_str(&format!("  MTU {m} bytes\n")),
        None => s.push_str("  MTU not set (data plane default)\n"),
    }
    if let Some(m) = ifc.tcp_adjust_mss {
        s.push_str(&format!("  TCP MSS adjusted to {m}\n"));
    }
    if let Some(t) = &ifc.tunnel {
        let unset = || "not set".to_string();
        s.push_str(&format!(
            "  Tunnel source {}, destination {}\n",
            source_text(&t.source).unwrap_or_else(unset),
            destination_text(&t.destination).unwrap_or_else(unset)
        ));
        s.push_str(&format!(
            "  Tunnel mode {}\n",
            mode_text(t.mode).unwrap_or("not set")
        ));
        match &t.protection {
            Some(p) => s.push_str(&format!(
                "  Tunnel protection via IPsec (profile \"{p}\")\n"
            )),
            None => s.push_str("  Tunnel protection none\n"),
        }
    }
    if !v.line_up(name, ifc) {
        s.push_str(&format!("  Line protocol down: {}\n", v.line_reason(name)));
    }
    if let Some(c) = v.dp_iface(name) {
        s.push_str(&format!(
            "  {} packets input, {} bytes, {} input errors\n  {} packets output, {} bytes, {} output errors\n",
            c.rx_packets, c.rx_bytes, c.rx_errors, c.tx_packets, c.tx_bytes, c.tx_errors
        ));
        if ifc.tcp_adjust_mss.is_some() {
            s.push_str(&format!(
                "  {} TCP SYNs had their MSS clamped\n",
                c.mss_clamped
            ));
        }
    }
    if let Some(st) = v.ifaces.get(name) {
        let ago = age(v.now.mono.saturating_duration_since(st.last_change.mono));
        s.push_str(&format!(
            "  Last configuration change {ago} ago (generation {})\n",
            st.config_generation
        ));
    }
    s
}

/// Left-aligned columns, two spaces apart, the last one unpadded.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(headers.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

fn interfaces(
    v: &View<'_>,
    name: Option<&str>,
    brief: bool,
    json: bool,
) -> Result<String, ErrorInfo> {
    if let Some(va) = name.and_then(crate::show_va::canonical) {
        return crate::show_va::interface(v, &va, json);
    }
    let sel = selected(v.running, name)?;
    if json {
        let list: Vec<Value> = sel.iter().map(|(n, i)| interface_json(v, n, i)).collect();
        return to_json(&json!({ "interfaces": list }));
    }
    if brief {
        let rows: Vec<Vec<String>> = sel
            .iter()
            .map(|(n, i)| {
                vec![
                    n.to_string(),
                    i.ipv4
                        .map_or_else(|| "unassigned".to_string(), |a| a.to_string()),
                    status(i).to_string(),
                    v.line_text(n, i).to_string(),
                    i.description.clone().unwrap_or_default(),
                ]
            })
            .collect();
        return Ok(table(
            &[
                "Interface",
                "IP-Address",
                "Status",
                "Protocol",
                "Description",
            ],
            &rows,
        ));
    }
    Ok(sel.iter().map(|(n, i)| interface_text(v, n, i)).collect())
}

fn ip_interface_brief(v: &View<'_>, json: bool) -> Result<String, ErrorInfo> {
    let sel = sorted(v.running);
    if json {
        let list: Vec<Value> = sel
            .iter()
            .map(|(n, i)| {
                json!({
                    "interface": n,
                    "ip_address": i.ipv4.map(|a| a.ip().to_string()),
                    "prefix_length": i.ipv4.map(|a| a.prefix()),
                    "ok": true,
                    "method": if i.ipv4.is_some() { "manual" } else { "unset" },
                    "status": status(i),
                    "protocol": v.line_text(n, i),
                })
            })
            .chain(crate::show_va::brief(v).into_iter().map(|b| {
                json!({
                    "interface": b.name,
                    "ip_address": b.address,
                    "prefix_length": b.address.as_ref().map(|_| 32),
                    "ok": true,
                    "method": "unset",
                    "status": "up",
                    "protocol": b.protocol,
                })
            }))
            .collect();
        return to_json(&json!({ "interfaces": list }));
    }
    let mut rows: Vec<Vec<String>> = sel
        .iter()
        .map(|(n, i)| {
            vec![
                n.to_string(),
                i.ipv4
                    .map_or_else(|| "unassigned".to_string(), |a| a.ip().to_string()),
                "YES".to_string(),
                if i.ipv4.is_some() { "manual" } else { "unset" }.to_string(),
                status(i).to_string(),
                v.line_text(n, i).to_string(),
            ]
        })
        .collect();
    rows.extend(crate::show_va::brief(v).into_iter().map(|b| {
        vec![
            b.name,
            b.address.unwrap_or_else(|| "unassigned".to_string()),
            "YES".to_string(),
            "unset".to_string(),
            "up".to_string(),
            b.protocol.to_string(),
        ]
    }));
    Ok(table(
        &[
            "Interface",
            "IP-Address",
            "OK?",
            "Method",
            "Status",
            "Protocol",
        ],
        &rows,
    ))
}

/// A protected tunnel as `show crypto session` sees it.
struct CryptoSession {
    interface: String,
    status: String,
    peer: String,
    source: Option<String>,
    ipsec_profile: String,
    ikev2_profile: Option<String>,
}

fn crypto_sessions(v: &View<'_>) -> Vec<CryptoSession> {
    let cfg = v.running;
    let mut out: Vec<CryptoSession> = sorted(cfg)
        .into_iter()
        .filter(|(n, _)| is_tunnel_name(n))
        .filter_map(|(n, i)| {
            let t = i.tunnel.as_ref()?;
            let prof = t.protection.as_deref()?;
            Some(CryptoSession {
                interface: n.clone(),
                status: v.tunnel_status(n, i),
                peer: destination_text(&t.destination).unwrap_or_else(|| "dynamic".to_string()),
                source: source_text(&t.source),
                ipsec_profile: prof.to_string(),
                ikev2_profile: cfg
                    .ipsec_profiles
                    .get(prof)
                    .and_then(|p| p.ikev2_profile.clone()),
            })
        })
        .collect();
    // Virtual-Templates, then one entry per Virtual-Access (per spoke).
    out.extend(
        crate::show_va::sessions(v)
            .into_iter()
            .map(|s| CryptoSession {
                interface: s.interface,
                status: s.status,
                peer: "dynamic".to_string(),
                source: s.source,
                ipsec_profile: s.ipsec_profile,
                ikev2_profile: s.ikev2_profile,
            }),
    );
    out
}

fn crypto_session(v: &View<'_>, detail: bool, json: bool) -> Result<String, ErrorInfo> {
    let sessions = crypto_sessions(v);
    // Indexed once: a hub lists thousands of sessions.
    let downs: std::collections::HashMap<&str, (&str, std::time::Duration)> = v
        .ike
        .last_down
        .iter()
        .map(|(n, why, ago)| (n.as_str(), (why.as_str(), *ago)))
        .collect();
    let last_down = |name: &str| downs.get(name).copied();
    let mut established: std::collections::HashMap<&str, &ike::sa::IkeSaInfo> =
        std::collections::HashMap::new();
    for sa in v.ike.sas.iter().filter(|sa| sa.state == "ESTABLISHED") {
        if let Some(t) = sa.tunnel.as_deref() {
            established.entry(t).or_insert(sa);
        }
    }
    let sa_of = |name: &str| established.get(name).copied();
    if json {
        let list: Vec<Value> = sessions
            .iter()
            .map(|s| {
                let sa = sa_of(&s.interface);
                let mut o = json!({
                    "interface": s.interface,
                    "status": s.status,
                    "peer": sa.map(|x| x.remote.ip().to_string()).unwrap_or_else(|| s.peer.clone()),
                    "peer_port": sa.map(|x| x.remote.port()),
                    "profile": s.ikev2_profile,
                    "last_down": last_down(&s.interface).map(|(why, ago)| json!({"reason": why, "secs_ago": ago.as_secs()})),
                });
                if detail {
                    o["source"] = json!(s.source);
                    o["ipsec_profile"] = json!(s.ipsec_profile);
                    o["ikev2_profile"] = json!(s.ikev2_profile);
                    o["ike_sa"] = json!(sa.map(|x| json!({"spi_i": format!("{:016x}", x.spi_i), "spi_r": format!("{:016x}", x.spi_r), "proposal": x.proposal, "remote_id": x.remote_id})));
                    o["ipsec_sa"] = json!(sa.map(|x| x.children.iter().map(|c| json!({"spi_in": format!("{:08x}", c.spi_in), "spi_out": format!("{:08x}", c.spi_out), "proposal": c.proposal})).collect::<Vec<_>>()));
                }
                o
            })
            .collect();
        return to_json(&json!({ "sessions": list }));
    }
    let mut out = String::from("Crypto session current status\n");
    for s in &sessions {
        let sa = sa_of(&s.interface);
        out.push_str(&format!("\nInterface: {}\n", s.interface));
        out.push_str(&format!(
            "Profile: {}\n",
            s.ikev2_profile.as_deref().unwrap_or("none")
        ));
        out.push_str(&format!("Session status: {}\n", s.status));
        // Why it went down, while it is down (and in detail always).
        if let Some((why, ago)) = last_down(&s.interface) {
            if detail || sa.is_none() {
                out.push_str(&format!("Last down: {why}, {} ago\n", age(ago)));
            }
        }
        match sa {
            Some(x) => out.push_str(&format!(
                "Peer: {} port {}\n",
                x.remote.ip(),
                x.remote.port()
            )),
            None if s.peer == "dynamic" => out.push_str("Peer: dynamic\n"),
            None => out.push_str(&format!("Peer: {} port 500\n", s.peer)),
        }
        if let Some(x) = sa {
            out.push_str(&format!(
                "  IKEv2 SA: local {} remote {} Active\n",
                x.local, x.remote
            ));
            for c in &x.children {
                out.push_str(&format!(
                    "  IPsec FLOW: permit ip {} {}\n        Active SAs: 2, origin: crypto map\n",
                    c.ts_local.join(","),
                    c.ts_remote.join(",")
                ));
            }
        }
        if detail {
            out.push_str(&format!(
                "  Source: {}\n",
                s.source.as_deref().unwrap_or("not set")
            ));
            out.push_str(&format!("  IPsec profile: {}\n", s.ipsec_profile));
            out.push_str(&format!(
                "  IKEv2 profile: {}\n",
                s.ikev2_profile.as_deref().unwrap_or("none")
            ));
            if let Some(x) = sa {
                out.push_str(&format!(
                    "  IKEv2 SA: {:016x}/{:016x} {}{}\n",
                    x.spi_i,
                    x.spi_r,
                    x.proposal,
                    x.remote_id
                        .as_ref()
                        .map(|i| format!(", remote id {i}"))
                        .unwrap_or_default()
                ));
                for c in &x.children {
                    out.push_str(&format!(
                        "  IPsec SA: in {:08x} out {:08x} {}\n",
                        c.spi_in, c.spi_out, c.proposal
                    ));
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_print_like_a_router() {
        assert_eq!(age(Duration::from_secs(3723)), "01:02:03");
        assert_eq!(age(Duration::from_secs(2 * 86400 + 5 * 3600)), "2d05h");
    }

    #[test]
    fn tables_align() {
        let t = table(&["A", "Bee"], &[vec!["long-one".into(), "x".into()]]);
        assert_eq!(t, "A         Bee\nlong-one  x\n");
    }

    #[test]
    fn finds_interfaces_by_abbreviation() {
        let mut c = Config::default();
        c.interfaces.insert("Tunnel1".into(), Interface::default());
        c.interfaces.insert("Tunnel10".into(), Interface::default());
        assert_eq!(
            find_interface(&c, "tunnel1").map(String::as_str),
            Some("Tunnel1")
        );
        assert_eq!(
            find_interface(&c, "tu10").map(String::as_str),
            Some("Tunnel10")
        );
        assert_eq!(find_interface(&c, "Tunnel2"), None);
        assert_eq!(find_interface(&c, "10"), None);
    }
}
