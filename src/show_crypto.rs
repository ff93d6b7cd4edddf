//! `show crypto ikev2 sa` and `show crypto ipsec sa`, from the IKE
//! task's snapshot.

use crate::show::View;
use serde_json::{json, Value};
use std::time::Duration;
use vtysh::protocol::ErrorInfo;

fn secs(d: Duration) -> u64 {
    d.as_secs()
}

fn to_json(v: &Value) -> Result<String, ErrorInfo> {
    serde_json::to_string_pretty(v)
        .map(|s| s + "\n")
        .map_err(|e| ErrorInfo {
            message: format!("% Internal error: {e}"),
            column: None,
        })
}

/// `show crypto ikev2 stats`: the half-open SAs against their limits and
/// what unauthenticated IKE_SA_INIT requests cost.
pub fn ikev2_stats(v: &View<'_>, json: bool) -> Result<String, ErrorInfo> {
    use vtysh::model as m;
    let c = v.running;
    let cookie = c.cookie_challenge.unwrap_or(m::DEFAULT_COOKIE_CHALLENGE);
    let total = c
        .max_in_negotiation_sa
        .unwrap_or(m::DEFAULT_MAX_IN_NEGOTIATION_SA);
    let per_address = c
        .max_in_negotiation_sa_per_address
        .unwrap_or(m::DEFAULT_MAX_IN_NEGOTIATION_SA_PER_ADDRESS);
    let g = &v.ike.guard;
    if json {
        return to_json(&json!({
            "ike_sas": v.ike.sas.len(),
            "half_open": v.ike.half_open,
            "cookie_challenge": cookie,
            "max_in_negotiation_sa": total,
            "max_in_negotiation_sa_per_address": per_address,
            "half_open_created": g.half_open_created,
            "half_open_expired": g.half_open_expired,
            "cookies_sent": g.cookies_sent,
            "dropped_total_limit": g.dropped_total_limit,
            "dropped_address_limit": g.dropped_address_limit,
            "dropped_oversize": g.dropped_oversize,
        }));
    }
    Ok(format!(
        "IKEv2 SAs: {}, half-open (in negotiation as responder): {}
         Limits: cookie-challenge {cookie}, max-in-negotiation-sa {total}, per address {per_address}
         Half-open SAs created: {}, timed out: {}
         IKE_SA_INIT answered with a COOKIE demand: {}
         IKE_SA_INIT dropped: {} over max-in-negotiation-sa, {} over the per-address limit
         IKE messages dropped for their size: {}
",
        v.ike.sas.len(),
        v.ike.half_open,
        g.half_open_created,
        g.half_open_expired,
        g.cookies_sent,
        g.dropped_total_limit,
        g.dropped_address_limit,
        g.dropped_oversize,
    ))
}

/// `show crypto ikev2 sa [detail]`.
pub fn ikev2_sa(v: &View<'_>, detail: bool, json: bool) -> Result<String, ErrorInfo> {
    if json {
        let list: Vec<Value> = v
            .ike
            .sas
            .iter()
            .map(|sa| {
                json!({
                    "tunnel": sa.tunnel,
                    "local": sa.local.to_string(),
                    "remote": sa.remote.to_string(),
                    "spi_i": format!("{:016x}", sa.spi_i),
                    "spi_r": format!("{:016x}", sa.spi_r),
                    "role": if sa.initiator { "initiator" } else { "responder" },
                    "state": sa.state,
                    "proposal": sa.proposal,
                    "remote_id": sa.remote_id,
                    "age_secs": secs(sa.age),
                    "rekey_in_secs": sa.rekey_in.map(secs),
                    "nat_t": sa.natt,
                    "nat_remote": sa.nat_remote,
                    "nat_local": sa.nat_local,
                    "mobike": sa.mobike,
                    "auth_sign": sa.auth_local.as_ref().map(|a| a.method.clone()),
                    "local_certificate": sa.auth_local.as_ref().and_then(|a| a.cert.clone()),
                    "auth_verify": sa.auth_remote.as_ref().map(|a| a.method.clone()),
                    "remote_certificate": sa.auth_remote.as_ref().and_then(|a| a.cert.clone()),
                    "fragmentation": sa.fragmentation,
                    "fragments_sent": sa.fragments.0,
                    "fragments_received": sa.fragments.1,
                    "child_sas": sa.children.len(),
                    "assigned_host_addr": sa.cp.peer_addresses.iter().map(|(a, _)| a.to_string()).collect::<Vec<_>>(),
                    "assigned_local_addr": sa.cp.local_addresses.iter().map(|(a, l)| format!("{a}/{l}")).collect::<Vec<_>>(),
                    "cp_routes": sa.cp.routes.iter().map(|(a, l)| format!("{a}/{l}")).collect::<Vec<_>>(),
                })
            })
            .collect();
        return to_json(&json!({ "ike_sas": list }));
    }
    let mut out = String::from(" IPv4 Crypto IKEv2  SA\n");
    for (i, sa) in v.ike.sas.iter().enumerate() {
        out.push_str(&format!(
            "\nTunnel-id  Local                 Remote                fvrf/ivrf            Status\n{:<10} {:<21} {:<21} none/none            {}\n",
            i + 1,
            sa.local.to_string(),
            sa.remote.to_string(),
            if sa.state == "ESTABLISHED" { "READY" } else { sa.state }
        ));
        out.push_str(&format!("      Encr/Hash/DH: {}\n", sa.proposal));
        out.push_str(&format!(
            "      Role: {}, Life/Active Time: {}/{} sec\n",
            if sa.initiator {
                "Initiator"
            } else {
                "Responder"
            },
            secs(sa.age) + sa.rekey_in.map(secs).unwrap_or(0),
            secs(sa.age)
        ));
        if detail {
            out.push_str(&format!(
                "      Interface: {}\n",
                sa.tunnel.as_deref().unwrap_or("none")
            ));
            out.push_str(&format!(
                "      Local spi: {:016X}  Remote spi: {:016X}\n",
                if sa.initiator { sa.spi_i } else { sa.spi_r },
                if sa.initiator { sa.spi_r } else { sa.spi_i }
            ));
            out.push_str(&format!(
                "      Remote id: {}\n",
                sa.remote_id.as_deref().unwrap_or("unknown")
            ));
            // IOS's "Auth sign" / "Auth verify", with the certificates.
            for (what, a) in [("sign", &sa.auth_local), ("verify", &sa.auth_remote)] {
                if let Some(a) = a {
                    out.push_str(&format!("      Auth {what}: {}\n", a.method));
                    if let Some(c) = &a.cert {
                        let whose = if what == "sign" { "Local" } else { "Remote" };
                        out.push_str(&format!("      {whose} certificate: {c}\n"));
                    }
                }
            }
            out.push_str(&format!(
                "      Rekey in: {} sec\n",
                sa.rekey_in.map(secs).unwrap_or(0)
            ));
            out.push_str(&format!(
                "      NAT-T is {}\n",
                if sa.natt {
                    "detected (UDP 4500)"
                } else {
                    "not detected"
                }
            ));
            out.push_str(&format!(
                "      Mobike is {}\n",
                if sa.mobike { "enabled" } else { "disabled" }
            ));
            // RFC 7383, negotiated in IKE_SA_INIT.
            if sa.fragmentation {
                out.push_str(&format!(
                    "      Fragmentation: yes, fragments sent/received: {}/{}\n",
                    sa.fragments.0, sa.fragments.1
                ));
            } else {
                out.push_str("      Fragmentation: no\n");
            }
            out.push_str(&format!("      Child sa count: {}\n", sa.children.len()));
            // IOS: what IKEv2 configuration payloads gave.
            for (a, _) in &sa.cp.peer_addresses {
                out.push_str(&format!("      Assigned host addr: {a}\n"));
            }
            for (a, l) in &sa.cp.local_addresses {
                out.push_str(&format!("      Assigned local addr: {a}/{l}\n"));
            }
        }
    }
    Ok(out)
}

/// The data plane's counters of the pair with inbound SPI `spi_in`.
fn counters<'v>(v: &View<'v>, spi_in: u32) -> Option<&'v crate::dataplane::SaCounters> {
    v.dp?.sas.iter().find(|s| s.spi_in == spi_in)
}

/// `show crypto ipsec sa [interface NAME]`.
pub fn ipsec_sa(v: &View<'_>, interface: Option<&str>, json: bool) -> Result<String, ErrorInfo> {
    let sas: Vec<_> = v
        .ike
        .sas
        .iter()
        .filter(|sa| {
            interface.is_none_or(|i| {
                sa.tunnel
                    .as_deref()
                    .is_some_and(|t| t.eq_ignore_ascii_case(i))
            })
        })
        .collect();
    if json {
        let mut list = Vec::new();
        for sa in &sas {
            for c in &sa.children {
                list.push(json!({
                    "interface": sa.tunnel,
                    "local": sa.local.ip().to_string(),
                    "remote": sa.remote.ip().to_string(),
                    "spi_in": format!("{:08x}", c.spi_in),
                    "spi_out": format!("{:08x}", c.spi_out),
                    "transform": c.proposal,
                    "local_ts": c.ts_local,
                    "remote_ts": c.ts_remote,
                    "age_secs": secs(c.age),
                    "rekey_in_secs": secs(c.rekey_in),
                    "encap": if sa.natt { "udp-4500" } else { "esp" },
                    "counters": counters(v, c.spi_in),
                }));
            }
        }
        return to_json(&json!({ "ipsec_sas": list }));
    }
    let mut out = String::new();
    for sa in &sas {
        out.push_str(&format!(
            "\ninterface: {}\n",
            sa.tunnel.as_deref().unwrap_or("none")
        ));
        out.push_str(&format!(
            "    local crypto endpt.: {}, remote crypto endpt.: {}\n",
            sa.local.ip(),
            sa.remote.ip()
        ));
        for c in &sa.children {
            out.push_str(&format!(
                "    local  ident: {}\n    remote ident: {}\n",
                c.ts_local.join(", "),
                c.ts_remote.join(", ")
            ));
            out.push_str(&format!("     current outbound spi: 0x{:08X}\n", c.spi_out));
            if let Some(k) = counters(v, c.spi_in) {
                out.push_str(&format!(
                    "    #pkts encaps: {}, #bytes encaps: {}, #send errors: {}\n    #pkts decaps: {}, #bytes decaps: {}\n    #pkts replay drops: {}, #auth failures: {}, #decrypt errors: {}, #malformed: {}\n",
                    k.out_packets, k.out_bytes, k.out_errors, k.in_packets, k.in_bytes,
                    k.replay_drops, k.auth_failures, k.decrypt_errors, k.malformed
                ));
            } else {
                out.push_str("    not installed in the data plane\n");
            }
            out.push_str(&format!("     inbound esp sas:\n      spi: 0x{:08X}\n        transform: {}\n        in use settings = {{Tunnel{}}}\n        sa timing: remaining key lifetime (sec): ({})\n", c.spi_in, c.proposal, if sa.natt { " UDP-Encaps" } else { "" }, secs(c.rekey_in)));
            out.push_str(&format!(
                "     outbound esp sas:\n      spi: 0x{:08X}\n        transform: {}\n",
                c.spi_out, c.proposal
            ));
        }
    }
    if out.is_empty() {
        out.push_str("No IPsec SAs\n");
    }
    Ok(out)
}
