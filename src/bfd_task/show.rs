//! `show bfd peers [brief] [json]` in FRR's layout and with FRR's JSON
//! field names.

use std::fmt::Write;

use bfd::{Diag, State};
use serde_json::{json, Value};

use super::{Entry, Task};

fn status(s: State) -> &'static str {
    match s {
        State::Up => "up",
        State::Down => "down",
        State::Init => "init",
        State::AdminDown => "shutdown",
    }
}

/// FRR's wording of diagnostics (bfdd's diag2str).
fn diag(d: Diag) -> &'static str {
    match d.bits() {
        0 => "ok",
        1 => "control detection time expired",
        2 => "echo function failed",
        3 => "neighbor signaled session down",
        4 => "forwarding plane reset",
        5 => "path down",
        6 => "concatenated path down",
        7 => "administratively down",
        8 => "reverse concatenated path down",
        _ => "unknown",
    }
}

/// "1 hour(s), 2 minute(s), 3 second(s)" as FRR prints it.
fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let mut out = Vec::new();
    if d > 0 {
        out.push(format!("{d} day(s)"));
    }
    if d > 0 || h > 0 {
        out.push(format!("{h} hour(s)"));
    }
    if d > 0 || h > 0 || m > 0 {
        out.push(format!("{m} minute(s)"));
    }
    out.push(format!("{s} second(s)"));
    out.join(", ")
}

fn ms(us: u32) -> u64 {
    u64::from(us) / 1000
}

fn ifname(e: &Entry) -> Option<String> {
    e.spec
        .ifname
        .clone()
        .or_else(|| e.ifindex.and_then(super::sock::if_name))
}

fn local(e: &Entry) -> Option<std::net::IpAddr> {
    e.local.or_else(|| super::sock::source_for(e.spec.peer))
}

fn sorted(t: &Task) -> Vec<(&u32, &Entry)> {
    let mut v: Vec<(&u32, &Entry)> = t.sessions.iter().collect();
    v.sort_by_key(|(_, e)| e.spec.peer);
    v
}

fn entry_json(d: u32, e: &Entry) -> Value {
    let s = &e.session;
    let c = s.config();
    let secs = e.since.elapsed().unwrap_or_default().as_secs();
    let mut v = json!({
        "multihop": false,
        "peer": e.spec.peer.to_string(),
        "vrf": "default",
        "id": d,
        "remote-id": s.remote_discr(),
        "passive-mode": false,
        "status": status(s.state()),
        "diagnostic": diag(s.local_diag()),
        "remote-diagnostic": e.remote.map_or("ok", |r| diag(Diag::from_bits(r.diag))),
        "peer-type": "dynamic",
        "receive-interval": c.required_min_rx.as_millis(),
        "transmit-interval": c.desired_min_tx.as_millis(),
        "echo-receive-interval": 0,
        "echo-transmit-interval": 0,
        "detect-multiplier": c.detect_mult,
        "remote-receive-interval": e.remote.map_or(0, |r| ms(r.required_min_rx_us)),
        "remote-transmit-interval": e.remote.map_or(0, |r| ms(r.desired_min_tx_us)),
        "remote-echo-receive-interval": 0,
        "remote-detect-multiplier": e.remote.map_or(0, |r| r.detect_mult),
        "packets-received": e.rx,
        "packets-sent": e.tx,
        "session-down-count": e.downs,
    });
    if let Some(o) = v.as_object_mut() {
        if let Some(l) = local(e) {
            o.insert("local".into(), l.to_string().into());
        }
        if let Some(i) = ifname(e) {
            o.insert("interface".into(), i.into());
        }
        let key = if s.state() == State::Up {
            "uptime"
        } else {
            "downtime"
        };
        o.insert(key.into(), secs.into());
    }
    v
}

pub(super) fn show(t: &Task, brief: bool, json: bool) -> String {
    let list = sorted(t);
    if json {
        let v: Vec<Value> = list.iter().map(|(d, e)| entry_json(**d, e)).collect();
        return serde_json::to_string_pretty(&Value::Array(v)).unwrap_or_default() + "\n";
    }
    let mut out = String::new();
    if brief {
        let _ = writeln!(out, "Session count: {}", list.len());
        let _ = writeln!(
            out,
            "{:<11}{:<40}{:<40}Status",
            "SessionId", "LocalAddress", "PeerAddress"
        );
        let _ = writeln!(
            out,
            "{:<11}{:<40}{:<40}======",
            "=========", "============", "==========="
        );
        for (d, e) in list {
            let l = local(e).map_or("unknown".to_string(), |a| a.to_string());
            let _ = writeln!(
                out,
                "{:<11}{:<40}{:<40}{}",
                d,
                l,
                e.spec.peer,
                status(e.session.state())
            );
        }
        return out;
    }
    out.push_str("BFD Peers:\n");
    for (d, e) in list {
        let s = &e.session;
        let c = s.config();
        let _ = write!(out, "\tpeer {}", e.spec.peer);
        if let Some(l) = local(e) {
            let _ = write!(out, " local-address {l}");
        }
        out.push_str(" vrf default");
        if let Some(i) = ifname(e) {
            let _ = write!(out, " interface {i}");
        }
        out.push('\n');
        let _ = writeln!(out, "\t\tID: {d}");
        let _ = writeln!(out, "\t\tRemote ID: {}", s.remote_discr());
        out.push_str("\t\tActive mode\n");
        let _ = writeln!(out, "\t\tStatus: {}", status(s.state()));
        let secs = e.since.elapsed().unwrap_or_default().as_secs();
        let _ = writeln!(
            out,
            "\t\t{}: {}",
            if s.state() == State::Up {
                "Uptime"
            } else {
                "Downtime"
            },
            duration(secs)
        );
        let _ = writeln!(out, "\t\tDiagnostics: {}", diag(s.local_diag()));
        let _ = writeln!(
            out,
            "\t\tRemote diagnostics: {}",
            e.remote.map_or("ok", |r| diag(Diag::from_bits(r.diag)))
        );
        let _ = writeln!(
            out,
            "\t\tPeer Type: {}",
            if e.spec.dynamic {
                "dynamic"
            } else {
                "configured"
            }
        );
        out.push_str("\t\tLocal timers:\n");
        let _ = writeln!(out, "\t\t\tDetect-multiplier: {}", c.detect_mult);
        let _ = writeln!(
            out,
            "\t\t\tReceive interval: {}ms",
            c.required_min_rx.as_millis()
        );
        let _ = writeln!(
            out,
            "\t\t\tTransmission interval: {}ms",
            c.desired_min_tx.as_millis()
        );
        out.push_str("\t\t\tEcho receive interval: disabled\n");
        out.push_str("\t\t\tEcho transmission interval: disabled\n");
        out.push_str("\t\tRemote timers:\n");
        match e.remote {
            Some(r) => {
                let _ = writeln!(out, "\t\t\tDetect-multiplier: {}", r.detect_mult);
                let _ = writeln!(
                    out,
                    "\t\t\tReceive interval: {}ms",
                    ms(r.required_min_rx_us)
                );
                let _ = writeln!(
                    out,
                    "\t\t\tTransmission interval: {}ms",
                    ms(r.desired_min_tx_us)
                );
            }
            None => out.push_str("\t\t\tnot heard yet\n"),
        }
        out.push_str("\t\t\tEcho receive interval: disabled\n");
        out.push('\n');
    }
    let (a, r) = (&t.admission, t.admission.refusals());
    if a.total() > 0 || r.total() > 0 {
        let _ = writeln!(
            out,
            "Passive sessions: {} (at most {} per listen range, {} in all); refused {} packets: \
             {} not a BGP neighbor, {} listen range full, {} over the cap",
            a.total(),
            super::config::listen_limit(&t.running),
            a.global_cap(),
            r.total(),
            r.not_neighbor,
            r.range_full,
            r.global_full
        );
    }
    let dr = t.drops;
    if dr.ttl + dr.parse + dr.no_session + dr.discarded > 0 {
        let _ = writeln!(
            out,
            "Dropped packets: {} TTL not 255, {} malformed, {} no session, {} discarded",
            dr.ttl, dr.parse, dr.no_session, dr.discarded
        );
    }
    out
}
