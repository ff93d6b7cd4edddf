//! Reading the FRR-style BGP JSON both rvpnd and FRR print (`show ip
//! bgp [PREFIX] json`, `show bgp ipv6 unicast json`, `show bgp neighbors
//! ADDR json`): the paths of a prefix and their attributes, in table and
//! detail views alike, and FRR's paths and neighbors.

use super::bgp_peers::Frr;
use super::wait_until;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Compact JSON for messages (cut at 1500 characters).
pub fn short(v: &Value) -> String {
    let mut s = v.to_string();
    if s.len() > 1500 {
        let mut cut = 1500;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

/// The show command of the table holding `prefix`.
pub fn table_cmd(prefix: &str) -> &'static str {
    if prefix.contains(':') {
        "show bgp ipv6 unicast json"
    } else {
        "show ip bgp json"
    }
}

/// The paths of `prefix` in a `show ... json` table.
pub fn paths_in(table: &Value, prefix: &str) -> Vec<Value> {
    table["routes"][prefix]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The AS path: `path` in tables, `aspath.string` in FRR's detail view.
pub fn p_path(p: &Value) -> String {
    p["path"]
        .as_str()
        .or_else(|| p["aspath"]["string"].as_str())
        .unwrap_or("<none>")
        .to_string()
}

/// `bestpath` is a bool in tables, `{"overall":true}` in FRR's detail view.
pub fn p_best(p: &Value) -> bool {
    p["bestpath"]
        .as_bool()
        .or_else(|| p["bestpath"]["overall"].as_bool())
        .unwrap_or(false)
}

pub fn p_flag(p: &Value, key: &str) -> bool {
    p[key].as_bool().unwrap_or(false)
}

/// The peer it came from: `peerId`, or `peer.peerId` in detail views.
pub fn p_peer(p: &Value) -> String {
    p["peerId"]
        .as_str()
        .or_else(|| p["peer"]["peerId"].as_str())
        .unwrap_or_default()
        .to_string()
}

pub fn p_nexthops(p: &Value) -> Vec<String> {
    p["nexthops"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|n| n["ip"].as_str().map(str::to_string))
        .collect()
}

/// Communities: a string, or `{"string": ...}` in FRR's detail view.
pub fn p_communities(p: &Value) -> BTreeSet<String> {
    p["community"]
        .as_str()
        .or_else(|| p["community"]["string"].as_str())
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

pub fn p_u64(p: &Value, key: &str) -> Option<u64> {
    p[key].as_u64()
}

/// The path of `prefix` learnt from `from` in a table.
pub fn path_from(table: &Value, prefix: &str, from: &str) -> Option<Value> {
    paths_in(table, prefix)
        .into_iter()
        .find(|p| p_peer(p) == from)
}

/// FRR's path of `prefix` learnt from `from`.
pub fn frr_path(frr: &Frr, prefix: &str, from: &str) -> Result<Value, String> {
    let cmd = if prefix.contains(':') {
        "show bgp ipv6 unicast json"
    } else {
        "show bgp ipv4 unicast json"
    };
    let t = frr
        .try_json(cmd)
        .ok_or_else(|| format!("FRR {}: `{cmd}` failed", frr.tag()))?;
    path_from(&t, prefix, from)
        .ok_or_else(|| format!("paths of {prefix}: {:?}", paths_in(&t, prefix)))
}

pub fn wait_frr_path(frr: &Frr, prefix: &str, from: &str, timeout: Duration) -> Value {
    wait_until(
        &format!("FRR {}: {prefix} learnt from {from}", frr.tag()),
        timeout,
        || frr_path(frr, prefix, from),
    )
}

/// Whether an uptime in ms went from `before` to `after` by at least the
/// time since `since` (less a second: FRR counts whole seconds), i.e. the
/// session was not reset in between.
pub fn uptime_grew(before: &Value, after: &Value, since: Instant) -> bool {
    let (b, a) = (before.as_u64(), after.as_u64());
    match (b, a) {
        (Some(b), Some(a)) => u128::from(a) + 1000 >= u128::from(b) + since.elapsed().as_millis(),
        _ => false,
    }
}

/// FRR's neighbor entry (`show bgp neighbors ADDR json`).
pub fn frr_neighbor(frr: &Frr, addr: &str) -> Value {
    frr.show_json(&format!("show bgp neighbors {addr} json"))[addr].clone()
}
