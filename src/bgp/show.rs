//! `show ip bgp ...` in FRR's layout, and its JSON.

use std::fmt::Write as _;
use std::net::IpAddr;

use bgp::rib::{Afi, Path, RouteAttrs, LOCAL};
use bgp::wire::{AsPath, Origin, SegmentType};
use ipnetwork::IpNetwork;
use serde_json::{json, Map, Value};
use std::time::Instant;
use vtysh::model;
use vtysh::{BgpRoutesDir, ShowCmd};

use bgp::speaker::{Peer, RemoteAs, Speaker};

fn afi_from(a: model::Afi) -> Afi {
    match a {
        model::Afi::Ipv4 => Afi::V4,
        model::Afi::Ipv6 => Afi::V6,
    }
}

fn fam_key(a: Afi) -> &'static str {
    match a {
        Afi::V4 => "ipv4Unicast",
        Afi::V6 => "ipv6Unicast",
    }
}

fn fam_title(a: Afi) -> &'static str {
    match a {
        Afi::V4 => "IPv4 Unicast",
        Afi::V6 => "IPv6 Unicast",
    }
}

fn to_json(v: &Value) -> Result<String, String> {
    serde_json::to_string_pretty(v)
        .map(|s| s + "\n")
        .map_err(|e| format!("% JSON: {e}"))
}

/// FRR's up/down time: hh:mm:ss below a day, then 1d02h03m, 1w2d03h.
pub fn uptime(secs: u64) -> String {
    let (w, d, h, m, s) = (
        secs / 604_800,
        (secs / 86_400) % 7,
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60,
    );
    if secs < 86_400 {
        format!("{h:02}:{m:02}:{s:02}")
    } else if secs < 604_800 {
        format!("{d}d{h:02}h{m:02}m")
    } else {
        format!("{w:02}w{d}d{h:02}h")
    }
}

pub(super) fn show(sp: &Speaker, cmd: &ShowCmd, json: bool) -> Result<String, String> {
    let Some(_) = sp.config() else {
        return if json {
            to_json(&json!({}))
        } else {
            Err("% BGP instance not found".into())
        };
    };
    match cmd {
        ShowCmd::BgpSummary { afi } => summary(sp, afi.map(afi_from), json),
        ShowCmd::BgpRoutes { afi, prefix } => routes(sp, afi_from(*afi), prefix.as_deref(), json),
        ShowCmd::BgpNeighbors { addr, routes } => neighbors(sp, *addr, *routes, json),
        _ => Err("% Not a BGP command".into()),
    }
}

fn peer_afis(p: &Peer) -> Vec<Afi> {
    [Afi::V4, Afi::V6]
        .into_iter()
        .filter(|a| p.cfg.af(*a).is_some())
        .collect()
}

/// The peer's AS as text and as JSON: what its OPEN said once
/// established, else what is configured (a number, `internal`,
/// `external`).
fn remote_as(p: &Peer) -> (String, Value) {
    match (&p.est, p.cfg.remote_as) {
        (Some(e), _) => (e.peer_as.to_string(), json!(e.peer_as)),
        (None, RemoteAs::As(n)) => (n.to_string(), json!(n)),
        (None, other) => (other.to_string(), json!(other.to_string())),
    }
}

fn state_text(p: &Peer) -> String {
    if p.cfg.shutdown {
        return "Idle (Admin)".into();
    }
    if p.overflow.is_some() {
        // Closed by `maximum-prefix`, waiting (FRR's words).
        return "Idle (PfxCt)".into();
    }
    if p.tunnel_down {
        return "Idle (Tunnel down)".into();
    }
    p.state().to_string()
}

fn summary(sp: &Speaker, only: Option<Afi>, json: bool) -> Result<String, String> {
    let Some(cfg) = sp.config() else {
        return Err("% BGP instance not found".into());
    };
    let now = Instant::now();
    let afis: Vec<Afi> = match only {
        Some(a) => vec![a],
        None => [Afi::V4, Afi::V6]
            .into_iter()
            .filter(|a| *a == Afi::V4 || sp.peers().values().any(|p| p.cfg.af(*a).is_some()))
            .collect(),
    };
    let mut root = Map::new();
    let mut text = String::new();
    for afi in afis {
        let peers: Vec<(&IpAddr, &Peer)> = sp
            .peers()
            .iter()
            .filter(|(_, p)| p.cfg.af(afi).is_some())
            .collect();
        let rib_count = sp.rib().len(afi);
        let mut pj = Map::new();
        let _ = writeln!(text, "{} Summary:", fam_title(afi));
        let _ = writeln!(
            text,
            "BGP router identifier {}, local AS number {} vrf-id 0",
            cfg.router_id, cfg.asn
        );
        let _ = writeln!(text, "RIB entries {rib_count}");
        let _ = writeln!(text, "Peers {}\n", peers.len());
        let _ = writeln!(
            text,
            "Neighbor        V         AS   MsgRcvd   MsgSent   TblVer  InQ OutQ  Up/Down State/PfxRcd   PfxSnt Desc"
        );
        for (a, p) in &peers {
            let (rcvd, sent) = p.counters();
            let pfx_rcd = sp.rib().peer_count(p.idx, afi);
            let pfx_snt = p.out.adj.keys().filter(|k| Afi::of(&k.0) == afi).count() as u64;
            let up = p
                .est
                .as_ref()
                .map(|e| now.saturating_duration_since(e.since))
                .unwrap_or_default();
            let (remote_as, remote_as_json) = remote_as(p);
            let state = if p.est.is_some() {
                "Established".to_string()
            } else {
                state_text(p)
            };
            let mut o = Map::new();
            o.insert("remoteAs".into(), remote_as_json);
            o.insert("localAs".into(), json!(cfg.asn));
            o.insert("version".into(), json!(4));
            o.insert("msgRcvd".into(), json!(rcvd));
            o.insert("msgSent".into(), json!(sent));
            o.insert(
                "peerUptime".into(),
                json!(if p.est.is_some() {
                    uptime(up.as_secs())
                } else {
                    "never".into()
                }),
            );
            o.insert("peerUptimeMsec".into(), json!(up.as_millis() as u64));
            o.insert("pfxRcd".into(), json!(pfx_rcd));
            o.insert("pfxSnt".into(), json!(pfx_snt));
            o.insert("inq".into(), json!(0));
            o.insert("outq".into(), json!(p.out_queue()));
            o.insert("state".into(), json!(state));
            if p.overflow.is_some() {
                o.insert("peerState".into(), json!("PfxCt"));
            }
            o.insert("connectionsEstablished".into(), json!(p.established_count));
            o.insert("connectionsDropped".into(), json!(p.dropped_count));
            o.insert(
                "idType".into(),
                json!(if a.is_ipv4() { "ipv4" } else { "ipv6" }),
            );
            o.insert("dynamicPeer".into(), json!(p.cfg.dynamic));
            if let Some(t) = &p.cfg.tunnel {
                o.insert("interface".into(), json!(t));
            }
            if let Some(d) = &p.cfg.description {
                o.insert("desc".into(), json!(d));
            }
            pj.insert(a.to_string(), Value::Object(o));
            let name = if p.cfg.dynamic {
                format!("*{a}")
            } else {
                a.to_string()
            };
            let state_col = if p.est.is_some() {
                pfx_rcd.to_string()
            } else {
                state
            };
            let _ = writeln!(
                text,
                "{name:<15} 4 {remote_as:>10} {rcvd:>9} {sent:>9} {:>8} {:>4} {:>4} {:>8} {state_col:>12} {pfx_snt:>8} {}",
                0,
                0,
                p.out_queue(),
                if p.est.is_some() { uptime(up.as_secs()) } else { "never".into() },
                p.cfg.description.as_deref().unwrap_or("N/A"),
            );
        }
        let _ = writeln!(text, "\nTotal number of neighbors {}\n", peers.len());
        root.insert(
            fam_key(afi).into(),
            json!({
                "routerId": cfg.router_id.to_string(),
                "as": cfg.asn,
                "vrfName": "default",
                "ribCount": rib_count,
                "peerCount": peers.len(),
                "dynamicPeers": peers.iter().filter(|(_, p)| p.cfg.dynamic).count(),
                "peers": Value::Object(pj),
            }),
        );
    }
    if json {
        to_json(&Value::Object(root))
    } else {
        Ok(text)
    }
}

fn origin_char(o: Option<Origin>) -> &'static str {
    match o {
        Some(Origin::Igp) => "i",
        Some(Origin::Egp) => "e",
        Some(Origin::Incomplete) | None => "?",
    }
}

fn origin_name(o: Option<Origin>) -> &'static str {
    match o {
        Some(Origin::Igp) => "IGP",
        Some(Origin::Egp) => "EGP",
        Some(Origin::Incomplete) | None => "incomplete",
    }
}

/// An AS path as FRR prints it.
pub fn path_text(p: Option<&AsPath>) -> String {
    let Some(p) = p else { return String::new() };
    let mut parts = Vec::new();
    for s in &p.segments {
        let asns: Vec<String> = s.asns.iter().map(u32::to_string).collect();
        parts.push(match s.kind {
            SegmentType::Sequence => asns.join(" "),
            SegmentType::Set => format!("{{{}}}", asns.join(",")),
            SegmentType::ConfedSequence => format!("({})", asns.join(" ")),
            SegmentType::ConfedSet => format!("[{}]", asns.join(",")),
        });
    }
    parts.join(" ")
}

fn communities(a: &RouteAttrs) -> Option<String> {
    let c = &a.attrs.communities;
    if c.is_empty() {
        return None;
    }
    Some(
        c.iter()
            .map(|c| {
                c.name()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("{}:{}", c.asn(), c.value()))
            })
            .collect::<Vec<_>>()
            .join(" "),
    )
}

fn large_communities(a: &RouteAttrs) -> Option<String> {
    let c = &a.attrs.large_communities;
    if c.is_empty() {
        return None;
    }
    Some(
        c.iter()
            .map(|c| format!("{}:{}:{}", c.global, c.local1, c.local2))
            .collect::<Vec<_>>()
            .join(" "),
    )
}

fn path_json(sp: &Speaker, prefix: &IpNetwork, p: &Path) -> Value {
    let a = &p.attrs;
    let meta = sp.rib().peer_meta(p.peer);
    let from = if p.peer == LOCAL {
        "local"
    } else if meta.is_some_and(|m| m.ebgp) {
        "external"
    } else {
        "internal"
    };
    let mut o = Map::new();
    o.insert("valid".into(), json!(true));
    o.insert("bestpath".into(), json!(p.is_best()));
    o.insert("multipath".into(), json!(p.is_multipath()));
    o.insert("stale".into(), json!(p.is_stale()));
    o.insert("pathFrom".into(), json!(from));
    o.insert("prefix".into(), json!(prefix.network().to_string()));
    o.insert("prefixLen".into(), json!(prefix.prefix()));
    o.insert("network".into(), json!(prefix.to_string()));
    if let Some(m) = a.attrs.med {
        o.insert("metric".into(), json!(m));
    }
    if p.peer == LOCAL || !meta.is_some_and(|m| m.ebgp) || a.attrs.local_pref.is_some() {
        o.insert("locPrf".into(), json!(a.local_pref()));
    }
    o.insert("weight".into(), json!(a.weight));
    o.insert("path".into(), json!(path_text(a.attrs.as_path.as_ref())));
    o.insert("origin".into(), json!(origin_name(a.attrs.origin)));
    if let Some(c) = communities(a) {
        o.insert("community".into(), json!(c));
    }
    if let Some(c) = large_communities(a) {
        o.insert("largeCommunity".into(), json!(c));
    }
    let peer_id = if p.peer == LOCAL {
        "0.0.0.0".to_string()
    } else {
        meta.map(|m| m.addr.to_string()).unwrap_or_default()
    };
    o.insert("peerId".into(), json!(peer_id));
    let mut nh = vec![json!({
        "ip": a.next_hop.to_string(),
        "afi": if a.next_hop.is_ipv4() { "ipv4" } else { "ipv6" },
        "scope": "global",
        "used": true,
    })];
    if let Some(ll) = a.link_local {
        nh.push(json!({"ip": ll.to_string(), "afi": "ipv6", "scope": "link-local"}));
    }
    o.insert("nexthops".into(), Value::Array(nh));
    Value::Object(o)
}

fn status_codes(p: &Path, sp: &Speaker) -> String {
    let mut s = String::new();
    s.push(if p.is_stale() { 'S' } else { '*' });
    s.push(if p.is_best() {
        '>'
    } else if p.is_multipath() {
        '='
    } else {
        ' '
    });
    let internal = p.peer != LOCAL && !sp.rib().peer_meta(p.peer).is_some_and(|m| m.ebgp);
    s.push(if internal { 'i' } else { ' ' });
    s
}

fn route_line(sp: &Speaker, prefix: Option<&IpNetwork>, p: &Path, out: &mut String) {
    table_row(out, &status_codes(p, sp), prefix, &p.attrs);
}

/// One row of FRR's route table: status codes, network (blank for a
/// second path), next hop, metric, local preference, weight, path, origin.
fn table_row(out: &mut String, codes: &str, prefix: Option<&IpNetwork>, a: &RouteAttrs) {
    let net = prefix.map(|x| x.to_string()).unwrap_or_default();
    let nh = if a.next_hop.is_unspecified() {
        if a.next_hop.is_ipv4() {
            "0.0.0.0"
        } else {
            "::"
        }
        .to_string()
    } else {
        a.next_hop.to_string()
    };
    let metric = a.attrs.med.map(|m| m.to_string()).unwrap_or_default();
    let lp = a
        .attrs
        .local_pref
        .map(|m| m.to_string())
        .unwrap_or_default();
    let path = path_text(a.attrs.as_path.as_ref());
    let sep = if path.is_empty() { "" } else { " " };
    let _ = write!(out, "{codes}{net:<16} {nh:<19}");
    if net.len() > 16 || nh.len() > 19 {
        let _ = write!(out, "\n{:>40}", "");
    }
    let _ = writeln!(
        out,
        " {metric:>6} {lp:>6} {:>6} {path}{sep}{}",
        a.weight,
        origin_char(a.attrs.origin)
    );
}

fn routes(sp: &Speaker, afi: Afi, prefix: Option<&str>, json: bool) -> Result<String, String> {
    let Some(cfg) = sp.config() else {
        return Err("% BGP instance not found".into());
    };
    if let Some(q) = prefix {
        return one_prefix(sp, afi, q, json);
    }
    if json {
        let mut routes = Map::new();
        for (k, d) in sp.rib().iter(afi) {
            let v: Vec<Value> = d.paths().iter().map(|p| path_json(sp, &k, p)).collect();
            routes.insert(k.to_string(), Value::Array(v));
        }
        return to_json(&json!({
            "vrfId": 0,
            "vrfName": "default",
            "tableVersion": 0,
            "routerId": cfg.router_id.to_string(),
            "defaultLocPrf": 100,
            "localAS": cfg.asn,
            "routes": Value::Object(routes),
        }));
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "BGP table version is 0, local router ID is {}, vrf id 0",
        cfg.router_id
    );
    let _ = writeln!(out, "Default local pref 100, local AS {}", cfg.asn);
    out.push_str(
        "Status codes:  s suppressed, d damped, h history, * valid, > best, = multipath,\n\
         \x20              i internal, r RIB-failure, S Stale, R Removed\n\
         Origin codes:  i - IGP, e - EGP, ? - incomplete\n\n\
         \x20  Network          Next Hop            Metric LocPrf Weight Path\n",
    );
    let mut n = 0;
    for (k, d) in sp.rib().iter(afi) {
        for (i, p) in d.paths().iter().enumerate() {
            route_line(sp, (i == 0).then_some(&k), p, &mut out);
        }
        n += 1;
    }
    let _ = writeln!(
        out,
        "\nDisplayed  {n} routes and {} total paths",
        count_paths(sp, afi)
    );
    Ok(out)
}

fn count_paths(sp: &Speaker, afi: Afi) -> usize {
    sp.rib().iter(afi).map(|(_, d)| d.paths().len()).sum()
}

/// A prefix, or the longest match of an address.
fn one_prefix(sp: &Speaker, afi: Afi, q: &str, json: bool) -> Result<String, String> {
    let found = if q.contains('/') {
        let n: IpNetwork = q.parse().map_err(|_| format!("% Malformed prefix {q}"))?;
        let n = IpNetwork::new(n.network(), n.prefix()).map_err(|e| format!("% {e}"))?;
        sp.rib().get(&n).map(|d| (n, d))
    } else {
        let a: IpAddr = q.parse().map_err(|_| format!("% Malformed address {q}"))?;
        sp.rib()
            .iter(afi)
            .filter(|(k, _)| k.contains(a))
            .max_by_key(|(k, _)| k.prefix())
    };
    let Some((k, d)) = found else {
        return if json {
            to_json(&json!({}))
        } else {
            Err("% Network not in table".into())
        };
    };
    if json {
        let v: Vec<Value> = d.paths().iter().map(|p| path_json(sp, &k, p)).collect();
        return to_json(&json!({"prefix": k.to_string(), "paths": v}));
    }
    let mut out = String::new();
    let best = d
        .paths()
        .iter()
        .position(|p| p.is_best())
        .map_or(0, |i| i + 1);
    let _ = writeln!(out, "BGP routing table entry for {k}");
    let _ = writeln!(
        out,
        "Paths: ({} available, best #{best}, table default)",
        d.paths().len()
    );
    for p in d.paths() {
        let a = &p.attrs;
        let path = path_text(a.attrs.as_path.as_ref());
        let _ = writeln!(
            out,
            "  {}",
            if path.is_empty() {
                "Local".to_string()
            } else {
                path
            }
        );
        let from = if p.peer == LOCAL {
            "0.0.0.0 from 0.0.0.0".to_string()
        } else {
            let m = sp.rib().peer_meta(p.peer);
            format!(
                "{} from {} ({})",
                a.next_hop,
                m.map(|m| m.addr.to_string()).unwrap_or_default(),
                m.map(|m| m.router_id.to_string()).unwrap_or_default()
            )
        };
        let _ = writeln!(out, "    {from}");
        let mut l = format!(
            "      Origin {}",
            match a.attrs.origin {
                Some(Origin::Igp) => "IGP",
                Some(Origin::Egp) => "EGP",
                _ => "incomplete",
            }
        );
        if let Some(m) = a.attrs.med {
            let _ = write!(l, ", metric {m}");
        }
        let _ = write!(
            l,
            ", localpref {}, weight {}, valid",
            a.local_pref(),
            a.weight
        );
        let _ = write!(
            l,
            ", {}",
            if p.peer == LOCAL {
                "sourced, local"
            } else if sp.rib().peer_meta(p.peer).is_some_and(|m| m.ebgp) {
                "external"
            } else {
                "internal"
            }
        );
        if p.is_multipath() {
            l.push_str(", multipath");
        }
        if p.is_best() {
            l.push_str(", best");
        }
        if p.is_stale() {
            l.push_str(", stale");
        }
        let _ = writeln!(out, "{l}");
        if let Some(c) = communities(a) {
            let _ = writeln!(out, "      Community: {c}");
        }
        if let Some(c) = large_communities(a) {
            let _ = writeln!(out, "      Large Community: {c}");
        }
    }
    Ok(out)
}

fn adj_json(prefix: &IpNetwork, a: &RouteAttrs) -> Value {
    let mut o = Map::new();
    o.insert("prefix".into(), json!(prefix.to_string()));
    o.insert("nextHop".into(), json!(a.next_hop.to_string()));
    if let Some(m) = a.attrs.med {
        o.insert("metric".into(), json!(m));
    }
    if let Some(l) = a.attrs.local_pref {
        o.insert("locPrf".into(), json!(l));
    }
    o.insert("weight".into(), json!(a.weight));
    o.insert("path".into(), json!(path_text(a.attrs.as_path.as_ref())));
    o.insert("origin".into(), json!(origin_name(a.attrs.origin)));
    if let Some(c) = communities(a) {
        o.insert("community".into(), json!(c));
    }
    Value::Object(o)
}

fn neighbors(
    sp: &Speaker,
    addr: Option<IpAddr>,
    routes: Option<BgpRoutesDir>,
    json: bool,
) -> Result<String, String> {
    let Some(cfg) = sp.config() else {
        return Err("% BGP instance not found".into());
    };
    let selected: Vec<(&IpAddr, &Peer)> = match addr {
        Some(a) => match sp.peers().get_key_value(&a) {
            Some(x) => vec![x],
            None => {
                return if json {
                    to_json(&json!({"bgpNoSuchNeighbor": true}))
                } else {
                    Err(format!("% No such neighbor in this view/vrf: {a}"))
                }
            }
        },
        None => sp.peers().iter().collect(),
    };
    if let (Some(dir), Some((_, p))) = (routes, selected.first()) {
        let mut list: Vec<(IpNetwork, std::sync::Arc<RouteAttrs>)> = match dir {
            BgpRoutesDir::Advertised => p.out.adj.iter().map(|(k, v)| (k.0, v.clone())).collect(),
            BgpRoutesDir::Received => {
                if p.adj_in_raw.is_empty() {
                    // Without soft-reconfiguration inbound: what was accepted.
                    let mut v = Vec::new();
                    for afi in [Afi::V4, Afi::V6] {
                        for (k, d) in sp.rib().iter(afi) {
                            for path in d.paths().iter().filter(|x| x.peer == p.idx) {
                                v.push((k, path.attrs.clone()));
                            }
                        }
                    }
                    v
                } else {
                    p.adj_in_raw
                        .iter()
                        .map(|((k, _), v)| (*k, v.clone()))
                        .collect()
                }
            }
        };
        list.sort_by_key(|x| x.0);
        let key = match dir {
            BgpRoutesDir::Advertised => "advertisedRoutes",
            BgpRoutesDir::Received => "receivedRoutes",
        };
        if json {
            let mut m = Map::new();
            for (k, a) in &list {
                m.insert(k.to_string(), adj_json(k, a));
            }
            return to_json(&json!({
                "bgpTableVersion": 0,
                "bgpLocalRouterId": cfg.router_id.to_string(),
                "localAS": cfg.asn,
                key: Value::Object(m),
                "totalPrefixCounter": list.len(),
            }));
        }
        let mut out = format!(
            "BGP table version is 0, local router ID is {}, vrf id 0\n\
             Default local pref 100, local AS {}\n\n\
             \x20  Network          Next Hop            Metric LocPrf Weight Path\n",
            cfg.router_id, cfg.asn
        );
        for (k, a) in &list {
            table_row(&mut out, "*> ", Some(k), a);
        }
        let _ = writeln!(out, "\nTotal number of prefixes {}", list.len());
        return Ok(out);
    }
    let now = Instant::now();
    let mut root = Map::new();
    let mut text = String::new();
    for (a, p) in selected {
        let (rcvd, sent) = p.counters();
        let state = if p.est.is_some() {
            "Established".to_string()
        } else {
            state_text(p)
        };
        let ebgp = p.cfg.is_ebgp(cfg.asn);
        let (remote_as, remote_as_json) = remote_as(p);
        let mut o = Map::new();
        o.insert("remoteAs".into(), remote_as_json);
        o.insert("localAs".into(), json!(cfg.asn));
        o.insert("nbrExternalLink".into(), json!(ebgp));
        o.insert("nbrInternalLink".into(), json!(!ebgp));
        if let Some(g) = &p.cfg.group {
            o.insert("peerGroup".into(), json!(g));
        }
        o.insert("bgpVersion".into(), json!(4));
        o.insert("localRouterId".into(), json!(cfg.router_id.to_string()));
        o.insert("bgpState".into(), json!(state));
        o.insert("dynamicPeer".into(), json!(p.cfg.dynamic));
        if let Some(t) = &p.cfg.tunnel {
            o.insert("interface".into(), json!(t));
        }
        o.insert("connectionsEstablished".into(), json!(p.established_count));
        o.insert("connectionsDropped".into(), json!(p.dropped_count));
        if let Some(r) = &p.last_reset {
            o.insert("lastResetDueTo".into(), json!(r));
        }
        if let Some(t) = p.last_reset_at {
            o.insert(
                "lastResetTimerMsecs".into(),
                json!(now.saturating_duration_since(t).as_millis() as u64),
            );
        }
        if let Some(ov) = &p.overflow {
            o.insert("prefixesConfigExceedMax".into(), json!(true));
            o.insert(
                "lastNotificationReason".into(),
                json!("Cease/Maximum Number of Prefixes Reached"),
            );
            o.insert("lastErrorCodeSubcode".into(), json!("0601"));
            match ov.restart_at {
                Some(t) => {
                    o.insert("reducePrefixNumFrom".into(), json!(true));
                    o.insert(
                        "restartInTimerMsec".into(),
                        json!(t.saturating_duration_since(now).as_millis() as u64),
                    );
                }
                None => {
                    o.insert("reducePrefixNumAndClearIpBgp".into(), json!(true));
                }
            }
        }
        o.insert(
            "messageStats".into(),
            json!({
                "depthInq": 0,
                "depthOutq": p.out_queue(),
                "outqBytes": p.unwritten_bytes(),
                "updatesHeldBack": p.out.pending(),
            }),
        );
        o.insert("msgRcvd".into(), json!(rcvd));
        o.insert("msgSent".into(), json!(sent));
        o.insert(
            "bgpTimerConfiguredHoldTimeMsecs".into(),
            json!(u64::from(p.cfg.timers.1) * 1000),
        );
        o.insert(
            "bgpTimerConfiguredKeepAliveIntervalMsecs".into(),
            json!(u64::from(p.cfg.timers.0) * 1000),
        );
        o.insert("tcpMd5".into(), json!(p.cfg.password.is_some()));
        if let Some(e) = &p.est {
            o.insert("remoteRouterId".into(), json!(e.peer_id.to_string()));
            o.insert(
                "bgpTimerUpMsec".into(),
                json!(now.saturating_duration_since(e.since).as_millis() as u64),
            );
            o.insert(
                "bgpTimerHoldTimeMsecs".into(),
                json!(u64::from(e.hold) * 1000),
            );
            let both = |peer_has: bool| {
                if peer_has {
                    "advertisedAndReceived"
                } else {
                    "advertised"
                }
            };
            o.insert(
                "neighborCapabilities".into(),
                json!({
                    "4byteAs": both(e.caps.four_octet_as),
                    "routeRefresh": both(e.caps.route_refresh),
                    "gracefulRestart": both(e.caps.graceful_restart.is_some()),
                    "enhancedRouteRefresh": if e.caps.enhanced_route_refresh { "received" } else { "none" },
                    "multiprotocolExtensions": e.families.iter().map(|f| fam_key(*f)).collect::<Vec<_>>(),
                }),
            );
            if let Some(l) = e.local {
                o.insert("hostLocal".into(), json!(l.ip().to_string()));
                o.insert("portLocal".into(), json!(l.port()));
            }
        }
        if let Some(r) = &p.restarting {
            o.insert(
                "gracefulRestartInfo".into(),
                json!({
                    "restarting": true,
                    "staleFamilies": r.families.iter().map(|f| fam_key(*f)).collect::<Vec<_>>(),
                    "restartTimerRemainingSecs": r.deadline.saturating_duration_since(now).as_secs(),
                }),
            );
        }
        let mut afi_info = Map::new();
        for afi in peer_afis(p) {
            let af = p.cfg.af(afi);
            let mut x = Map::new();
            x.insert(
                "acceptedPrefixCounter".into(),
                json!(sp.rib().peer_count(p.idx, afi)),
            );
            x.insert(
                "sentPrefixCounter".into(),
                json!(p.out.adj.keys().filter(|k| Afi::of(&k.0) == afi).count()),
            );
            if let Some(af) = af {
                if let Some(r) = &af.route_map_in {
                    x.insert("routeMapForIncomingAdvertisements".into(), json!(r));
                }
                if let Some(r) = &af.route_map_out {
                    x.insert("routeMapForOutgoingAdvertisements".into(), json!(r));
                }
                if let Some(r) = &af.prefix_list_in {
                    x.insert("incomingUpdatePrefixFilterList".into(), json!(r));
                }
                if let Some(r) = &af.prefix_list_out {
                    x.insert("outgoingUpdatePrefixFilterList".into(), json!(r));
                }
                x.insert("nextHopSelf".into(), json!(af.next_hop_self));
                if let Some(m) = &af.maximum_prefix {
                    x.insert("prefixAllowedMax".into(), json!(m.max));
                    if m.warning_only {
                        x.insert("prefixAllowedMaxWarning".into(), json!(true));
                    }
                    x.insert("prefixAllowedWarningThresh".into(), json!(m.threshold));
                    if let Some(r) = m.restart_minutes {
                        x.insert(
                            "prefixAllowedRestartIntervalMsecs".into(),
                            json!(u64::from(r) * 60_000),
                        );
                    }
                }
                x.insert(
                    "inboundSoftConfigPermit".into(),
                    json!(af.soft_reconfiguration_inbound),
                );
            }
            afi_info.insert(fam_key(afi).into(), Value::Object(x));
        }
        o.insert("addressFamilyInfo".into(), Value::Object(afi_info));
        root.insert(a.to_string(), Value::Object(o));

        let _ = writeln!(
            text,
            "BGP neighbor is {a}, remote AS {remote_as}, local AS {}, {} link",
            cfg.asn,
            if ebgp { "external" } else { "internal" }
        );
        if let Some(g) = &p.cfg.group {
            let _ = writeln!(text, " Member of peer-group {g} for session parameters");
        }
        if let Some(d) = &p.cfg.description {
            let _ = writeln!(text, " Description: {d}");
        }
        let rid = p
            .est
            .as_ref()
            .map_or("0.0.0.0".to_string(), |e| e.peer_id.to_string());
        let _ = writeln!(
            text,
            "  BGP version 4, remote router ID {rid}, local router ID {}",
            cfg.router_id
        );
        let up = p
            .est
            .as_ref()
            .map(|e| {
                format!(
                    ", up for {}",
                    uptime(now.saturating_duration_since(e.since).as_secs())
                )
            })
            .unwrap_or_default();
        let _ = writeln!(text, "  BGP state = {state}{up}");
        if let Some(t) = &p.cfg.tunnel {
            let _ = writeln!(text, "  Bound to tunnel {t}");
        }
        let _ = writeln!(
            text,
            "  Hold time is {}, keepalive interval is {} seconds",
            p.est.as_ref().map_or(p.cfg.timers.1, |e| e.hold),
            p.cfg.timers.0
        );
        if let Some(e) = &p.est {
            let _ = writeln!(text, "  Neighbor capabilities:");
            let _ = writeln!(
                text,
                "    4 Byte AS: advertised{}",
                if e.caps.four_octet_as {
                    " and received"
                } else {
                    ""
                }
            );
            let _ = writeln!(
                text,
                "    Route refresh: advertised{}",
                if e.caps.route_refresh {
                    " and received"
                } else {
                    ""
                }
            );
            let _ = writeln!(
                text,
                "    Graceful Restart: advertised{}",
                if e.caps.graceful_restart.is_some() {
                    " and received"
                } else {
                    ""
                }
            );
            for f in &e.families {
                let _ = writeln!(
                    text,
                    "    Address Family {}: advertised and received",
                    fam_title(*f)
                );
            }
        }
        let _ = writeln!(text, "  Message statistics: received {rcvd}, sent {sent}");
        let _ = writeln!(
            text,
            "    Outq depth is {} ({} bytes unwritten, {} updates held back)",
            p.out_queue(),
            p.unwritten_bytes(),
            p.out.pending()
        );
        for afi in peer_afis(p) {
            let _ = writeln!(text, "\n For address family: {}", fam_title(afi));
            if let Some(af) = p.cfg.af(afi) {
                if af.next_hop_self {
                    let _ = writeln!(text, "  NEXT_HOP is always this router");
                }
                if let Some(r) = &af.prefix_list_in {
                    let _ = writeln!(text, "  Incoming update prefix filter list is *{r}");
                }
                if let Some(r) = &af.prefix_list_out {
                    let _ = writeln!(text, "  Outgoing update prefix filter list is *{r}");
                }
                if let Some(r) = &af.route_map_in {
                    let _ = writeln!(text, "  Route map for incoming advertisements is *{r}");
                }
                if let Some(r) = &af.route_map_out {
                    let _ = writeln!(text, "  Route map for outgoing advertisements is *{r}");
                }
                if let Some(m) = &af.maximum_prefix {
                    let _ = writeln!(
                        text,
                        "  Maximum prefixes allowed {}{}",
                        m.max,
                        if m.warning_only {
                            " (warning-only)"
                        } else {
                            ""
                        }
                    );
                    let restart = m
                        .restart_minutes
                        .map(|r| format!(", restart interval {r} min"))
                        .unwrap_or_default();
                    let _ = writeln!(
                        text,
                        "  Threshold for warning message {}%{restart}",
                        m.threshold
                    );
                }
            }
            let _ = writeln!(
                text,
                "  {} accepted prefixes, {} sent",
                sp.rib().peer_count(p.idx, afi),
                p.out.adj.keys().filter(|k| Afi::of(&k.0) == afi).count()
            );
        }
        let _ = writeln!(
            text,
            "\n  Connections established {}; dropped {}",
            p.established_count, p.dropped_count
        );
        if let Some(r) = &p.last_reset {
            let ago = p
                .last_reset_at
                .map(|t| uptime(now.saturating_duration_since(t).as_secs()))
                .unwrap_or_else(|| "never".into());
            let _ = writeln!(text, "  Last reset {ago}, due to {r}");
        }
        if let Some(ov) = &p.overflow {
            let _ = writeln!(
                text,
                "  Peer had exceeded the max. no. of prefixes configured."
            );
            match ov.restart_at {
                Some(t) => {
                    let _ = writeln!(
                        text,
                        "  Reduce the no. of prefix from {a}, will restart in {} seconds",
                        t.saturating_duration_since(now).as_secs()
                    );
                }
                None => {
                    let _ = writeln!(
                        text,
                        "  Reduce the no. of prefix and clear ip bgp {a} to restore peering"
                    );
                }
            }
        }
        if p.cfg.password.is_some() {
            let _ = writeln!(text, "  Peer authentication enabled (TCP MD5)");
        }
        text.push('\n');
    }
    if json {
        to_json(&Value::Object(root))
    } else {
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_like_frr() {
        assert_eq!(uptime(62), "00:01:02");
        assert_eq!(uptime(86_400 + 7_380), "1d02h03m");
        assert_eq!(uptime(2 * 604_800 + 86_400 + 3600), "02w1d01h");
    }

    #[test]
    fn as_path_text() {
        use bgp::wire::AsSegment;
        let p = AsPath {
            segments: vec![
                AsSegment {
                    kind: SegmentType::Sequence,
                    asns: vec![65001, 65002],
                },
                AsSegment {
                    kind: SegmentType::Set,
                    asns: vec![1, 2],
                },
            ],
        };
        assert_eq!(path_text(Some(&p)), "65001 65002 {1,2}");
        assert_eq!(path_text(None), "");
    }
}
