//! `show ip route` / `show ipv6 route` in FRR's layout and JSON.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Instant;

use ipnetwork::IpNetwork;
use rib::Source;
use serde_json::{json, Map, Value};

use super::{Entry, Fibbed, Hop, Table};
use crate::bgp::show::uptime;

const CODES: &str = "Codes: C - connected, S - static, B - BGP,\n       > - selected route, * - FIB route, q - queued, r - rejected\n\n";

fn protocol(s: Source) -> &'static str {
    match s {
        Source::Connected => "connected",
        Source::Static => "static",
        Source::Bgp => "bgp",
    }
}

/// `show ip route [PREFIX|ADDR] [json]` (`v6`: `show ipv6 route`).
pub fn show(
    table: &Table,
    v6: bool,
    prefix: Option<&str>,
    json: bool,
    now: Instant,
) -> Result<String, String> {
    let one = match prefix {
        None => None,
        Some(s) => Some(lookup(table, v6, s)?),
    };
    let family = |p: &IpNetwork| p.is_ipv6() == v6;
    if json {
        let mut m = Map::new();
        let keys: Vec<IpNetwork> = match one {
            Some(p) => vec![p],
            None => table.prefixes().filter(family).collect(),
        };
        for p in keys {
            if let Some(es) = table.entries(&p) {
                let v: Vec<Value> = es.iter().map(|e| entry_json(&p, e, now)).collect();
                m.insert(p.to_string(), Value::Array(v));
            }
        }
        return serde_json::to_string_pretty(&Value::Object(m))
            .map(|s| s + "\n")
            .map_err(|e| format!("% JSON: {e}"));
    }
    let mut out = String::new();
    match one {
        Some(p) => {
            if let Some(es) = table.entries(&p) {
                detail(&mut out, &p, &es, now);
            }
        }
        None => {
            out.push_str(CODES);
            for (p, es) in table.iter().filter(|(p, _)| family(p)) {
                for e in es.iter() {
                    line(&mut out, &p, e, now);
                }
            }
        }
    }
    Ok(out)
}

/// The prefix a `show ip route X` argument names: a prefix exactly, or
/// an address by longest match.
fn lookup(table: &Table, v6: bool, arg: &str) -> Result<IpNetwork, String> {
    let not_found = || "% Network not in table".to_string();
    if arg.contains('/') {
        let p: IpNetwork = arg
            .parse()
            .map_err(|_| format!("% Malformed prefix {arg}"))?;
        if p.is_ipv6() != v6 {
            return Err(not_found());
        }
        let p = IpNetwork::new(p.network(), p.prefix()).map_err(|_| not_found())?;
        return Some(p).filter(|p| table.contains(p)).ok_or_else(not_found);
    }
    let a: IpAddr = arg
        .parse()
        .map_err(|_| format!("% Malformed address {arg}"))?;
    if a.is_ipv6() != v6 {
        return Err(not_found());
    }
    let max = if v6 { 128 } else { 32 };
    (0..=max)
        .rev()
        .find_map(|len| {
            let q = IpNetwork::new(a, len).ok()?;
            let q = IpNetwork::new(q.network(), len).ok()?;
            Some(q).filter(|q| table.has_selected(q))
        })
        .ok_or_else(not_found)
}

fn flag(e: &Entry) -> (char, char) {
    let sel = if e.selected { '>' } else { ' ' };
    let fib = match &e.fib {
        Some(Fibbed::Installed) | Some(Fibbed::Kernel) => '*',
        Some(Fibbed::Queued) => 'q',
        Some(Fibbed::Rejected(_)) => 'r',
        None => ' ',
    };
    (sel, fib)
}

fn hop_text(h: &Hop, connected: bool) -> String {
    if h.blackhole {
        return "unreachable (blackhole)".into();
    }
    match (&h.gateway, &h.ifname) {
        (Some(g), Some(i)) => format!("via {g}, {i}"),
        (Some(g), None) => format!("via {g} inactive"),
        (None, Some(i)) if connected => format!("is directly connected, {i}"),
        (None, Some(i)) => format!("is directly connected, {i}"),
        (None, None) => "unreachable".into(),
    }
}

/// One route in the table view (FRR: one line per next hop, the later
/// ones aligned under the first).
fn line(out: &mut String, p: &IpNetwork, e: &Entry, now: Instant) {
    let (sel, fib) = flag(e);
    let up = uptime(now.saturating_duration_since(e.since).as_secs());
    let connected = e.source == Source::Connected;
    let mut head = format!("{}{sel}{fib} {p}", e.source.code());
    if !connected {
        let _ = write!(head, " [{}/{}]", e.distance, e.metric);
    }
    head.push(' ');
    let indent = head.len();
    for (i, h) in e.nexthops.iter().enumerate() {
        let weight = if connected { "" } else { ", weight 1" };
        let text = hop_text(h, connected);
        if i == 0 {
            let _ = writeln!(out, "{head}{text}{weight}, {up}");
        } else {
            let star = if h.active && fib == '*' { '*' } else { ' ' };
            let pad = indent.saturating_sub(3);
            let _ = writeln!(out, "  {star}{:pad$}{text}{weight}, {up}", "");
        }
    }
    if e.nexthops.is_empty() {
        let _ = writeln!(out, "{head}inactive, {up}");
    }
}

/// `show ip route PREFIX`.
fn detail(out: &mut String, p: &IpNetwork, es: &[Entry], now: Instant) {
    let _ = writeln!(out, "Routing entry for {p}");
    for e in es {
        let mut known = format!(
            "  Known via \"{}\", distance {}, metric {}",
            protocol(e.source),
            e.distance,
            e.metric
        );
        if e.selected {
            known.push_str(", best");
        }
        let _ = writeln!(out, "{known}");
        let up = uptime(now.saturating_duration_since(e.since).as_secs());
        let _ = writeln!(out, "  Last update {up} ago");
        match &e.fib {
            Some(Fibbed::Rejected(why)) => {
                let _ = writeln!(out, "  Not installed: {why}");
            }
            Some(Fibbed::Queued) => {
                let _ = writeln!(out, "  Queued for installation");
            }
            _ => {}
        }
        let installed = matches!(e.fib, Some(Fibbed::Installed) | Some(Fibbed::Kernel));
        for h in &e.nexthops {
            let star = if installed && h.active { '*' } else { ' ' };
            let text = if h.blackhole {
                "unreachable (blackhole)".to_string()
            } else {
                match (&h.gateway, &h.ifname) {
                    (Some(g), Some(i)) => format!("{g}, via {i}"),
                    (Some(g), None) => format!("{g} inactive"),
                    (None, Some(i)) => format!("directly connected, {i}"),
                    (None, None) => "unreachable".into(),
                }
            };
            let weight = if e.source == Source::Connected {
                ""
            } else {
                ", weight 1"
            };
            let _ = writeln!(out, "  {star} {text}{weight}");
        }
        out.push('\n');
    }
}

fn entry_json(p: &IpNetwork, e: &Entry, now: Instant) -> Value {
    let installed = matches!(e.fib, Some(Fibbed::Installed) | Some(Fibbed::Kernel));
    let hops: Vec<Value> = e
        .nexthops
        .iter()
        .map(|h| {
            let mut m = Map::new();
            m.insert("fib".into(), json!(installed && h.active));
            if let Some(g) = h.gateway {
                m.insert("ip".into(), json!(g.to_string()));
                m.insert(
                    "afi".into(),
                    json!(if g.is_ipv6() { "ipv6" } else { "ipv4" }),
                );
            }
            if h.gateway.is_none() && h.ifname.is_some() {
                m.insert("directlyConnected".into(), json!(true));
            }
            if let Some(i) = &h.ifname {
                m.insert("interfaceName".into(), json!(&**i));
            }
            if h.blackhole {
                m.insert("unreachable".into(), json!(true));
                m.insert("blackhole".into(), json!(true));
            }
            m.insert("active".into(), json!(h.active));
            if e.source != Source::Connected {
                m.insert("weight".into(), json!(1));
            }
            Value::Object(m)
        })
        .collect();
    let mut m = Map::new();
    m.insert("prefix".into(), json!(p.to_string()));
    m.insert("prefixLen".into(), json!(p.prefix()));
    m.insert("protocol".into(), json!(protocol(e.source)));
    m.insert("vrfName".into(), json!("default"));
    m.insert("selected".into(), json!(e.selected));
    m.insert("destSelected".into(), json!(e.selected));
    m.insert("distance".into(), json!(e.distance));
    m.insert("metric".into(), json!(e.metric));
    if installed {
        m.insert("installed".into(), json!(true));
    }
    match &e.fib {
        Some(Fibbed::Queued) => {
            m.insert("queued".into(), json!(true));
        }
        Some(Fibbed::Rejected(why)) => {
            m.insert("failed".into(), json!(true));
            m.insert("failedReason".into(), json!(why));
        }
        _ => {}
    }
    m.insert("table".into(), json!(254));
    m.insert("internalNextHopNum".into(), json!(e.nexthops.len() as u64));
    m.insert(
        "internalNextHopActiveNum".into(),
        json!(e.nexthops.iter().filter(|h| h.active).count() as u64),
    );
    m.insert(
        "uptime".into(),
        json!(uptime(now.saturating_duration_since(e.since).as_secs())),
    );
    m.insert("nexthops".into(), Value::Array(hops));
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    fn hop(g: &str, i: &str) -> Hop {
        Hop {
            gateway: Some(g.parse().unwrap()),
            ifname: Some(Arc::from(i)),
            blackhole: false,
            active: true,
        }
    }

    fn table(now: Instant) -> Table {
        let since = now - Duration::from_secs(65);
        let mut t = Table::default();
        let mut sets = super::super::HopSets::default();
        t.set(
            "10.2.0.0/24".parse().unwrap(),
            vec![Entry {
                source: Source::Bgp,
                distance: 20,
                metric: 0,
                selected: true,
                fib: Some(Fibbed::Installed),
                nexthops: vec![
                    hop("169.254.11.1", "Tunnel1"),
                    hop("169.254.21.1", "Tunnel2"),
                ],
                since,
            }],
            &mut sets,
        );
        t.set(
            "169.254.11.0/30".parse().unwrap(),
            vec![Entry {
                source: Source::Connected,
                distance: 0,
                metric: 0,
                selected: true,
                fib: Some(Fibbed::Kernel),
                nexthops: vec![Hop {
                    gateway: None,
                    ifname: Some(Arc::from("Tunnel1")),
                    blackhole: false,
                    active: true,
                }],
                since,
            }],
            &mut sets,
        );
        t.set(
            "10.9.0.0/16".parse().unwrap(),
            vec![Entry {
                source: Source::Static,
                distance: 1,
                metric: 0,
                selected: true,
                fib: Some(Fibbed::Rejected("Network is unreachable".into())),
                nexthops: vec![hop("192.0.2.1", "eth0")],
                since,
            }],
            &mut sets,
        );
        t
    }

    #[test]
    fn table_layout_like_frr() {
        let now = Instant::now();
        let out = show(&table(now), false, None, false, now).unwrap();
        assert!(out.starts_with("Codes: C - connected"), "{out}");
        assert!(
            out.contains(
                "B>* 10.2.0.0/24 [20/0] via 169.254.11.1, Tunnel1, weight 1, 00:01:05\n  *                    via 169.254.21.1, Tunnel2, weight 1, 00:01:05\n"
            ),
            "{out}"
        );
        assert!(
            out.contains("C>* 169.254.11.0/30 is directly connected, Tunnel1, 00:01:05\n"),
            "{out}"
        );
        assert!(
            out.contains("S>r 10.9.0.0/16 [1/0] via 192.0.2.1, eth0, weight 1"),
            "{out}"
        );
        // IPv6 view has none of them.
        let v6 = show(&table(now), true, None, false, now).unwrap();
        assert!(!v6.contains("10.2.0.0"), "{v6}");
    }

    #[test]
    fn prefix_detail_and_longest_match() {
        let now = Instant::now();
        let t = table(now);
        let out = show(&t, false, Some("10.2.0.77"), false, now).unwrap();
        assert!(out.starts_with("Routing entry for 10.2.0.0/24\n"), "{out}");
        assert!(
            out.contains("  Known via \"bgp\", distance 20, metric 0, best"),
            "{out}"
        );
        assert!(
            out.contains("  * 169.254.21.1, via Tunnel2, weight 1"),
            "{out}"
        );
        let out = show(&t, false, Some("10.9.0.0/16"), false, now).unwrap();
        assert!(
            out.contains("Not installed: Network is unreachable"),
            "{out}"
        );
        assert!(!out.contains("  * "), "{out}");
        assert_eq!(
            show(&t, false, Some("10.3.0.1"), false, now).unwrap_err(),
            "% Network not in table"
        );
        assert!(show(&t, false, Some("10.2.0.0/23"), false, now).is_err());
    }

    #[test]
    fn json_like_frr() {
        let now = Instant::now();
        let out = show(&table(now), false, None, true, now).unwrap();
        let v: Value = serde_json::from_str(&out).unwrap();
        let r = &v["10.2.0.0/24"][0];
        assert_eq!(r["protocol"], "bgp");
        assert_eq!(r["installed"], true);
        assert_eq!(r["nexthops"].as_array().unwrap().len(), 2);
        assert_eq!(r["nexthops"][1]["ip"], "169.254.21.1");
        assert_eq!(r["nexthops"][1]["fib"], true);
        let s = &v["10.9.0.0/16"][0];
        assert_eq!(s["failed"], true);
        assert_eq!(s["nexthops"][0]["fib"], false);
        assert!(s.get("installed").is_none());
        assert_eq!(
            v["169.254.11.0/30"][0]["nexthops"][0]["directlyConnected"],
            true
        );
    }
}
