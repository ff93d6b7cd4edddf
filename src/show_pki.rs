//! `show crypto pki certificates [TRUSTPOINT]` and `show crypto pki
//! trustpoints`, in IOS's layout, from the loaded trustpoints.

use crate::show::View;
use ike::pki::{date, serial_hex, Cert, TrustPoint};
use serde_json::{json, Value};
use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};
use vtysh::model::Revocation;
use vtysh::protocol::ErrorInfo;

fn to_json(v: &Value) -> Result<String, ErrorInfo> {
    serde_json::to_string_pretty(v)
        .map(|s| s + "\n")
        .map_err(|e| ErrorInfo {
            message: format!("% Internal error: {e}"),
            column: None,
        })
}

/// IOS's date form: "10:00:00 UTC Jan 1 2026".
fn ios_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_else(|e| -(e.duration().as_secs() as i64));
    let rem = secs.rem_euclid(86400);
    let ymd = date(t);
    let mut parts = ymd.split('-');
    let (y, m, d) = (
        parts.next().unwrap_or("0"),
        parts
            .next()
            .and_then(|m| m.parse::<usize>().ok())
            .unwrap_or(1),
        parts
            .next()
            .and_then(|d| d.parse::<u32>().ok())
            .unwrap_or(1),
    );
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mon = MONTHS.get(m.saturating_sub(1)).copied().unwrap_or("Jan");
    format!(
        "{:02}:{:02}:{:02} UTC {mon} {d} {y}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn status(c: &Cert, now: SystemTime) -> &'static str {
    if c.not_after < now {
        "Expired"
    } else if c.not_before > now {
        "Pending"
    } else {
        "Available"
    }
}

fn cert_json(kind: &str, c: &Cert, tp: &str, now: SystemTime) -> Value {
    json!({
        "type": kind,
        "status": status(c, now),
        "serial": serial_hex(&c.serial),
        "subject": c.subject,
        "issuer": c.issuer,
        "not_before": date(c.not_before),
        "not_after": date(c.not_after),
        "days_left": c.days_left(now),
        "key": c.key.to_string(),
        "san_dns": c.san_dns,
        "san_email": c.san_email,
        "san_ip": c.san_ip,
        "trustpoint": tp,
    })
}

fn cert_text(out: &mut String, kind: &str, c: &Cert, tp: &str, now: SystemTime) {
    let _ = writeln!(out, "{kind}");
    let _ = writeln!(out, "  Status: {}", status(c, now));
    let serial = serial_hex(&c.serial);
    let _ = writeln!(
        out,
        "  Certificate Serial Number (hex): {}",
        serial.trim_start_matches("0x").to_uppercase()
    );
    let _ = writeln!(
        out,
        "  Certificate Usage: {}",
        if c.is_ca {
            "Signature"
        } else {
            "General Purpose"
        }
    );
    let _ = writeln!(out, "  Issuer: \n    {}", c.issuer);
    let _ = writeln!(out, "  Subject:\n    {}", c.subject);
    let mut alt: Vec<String> = Vec::new();
    alt.extend(c.san_dns.iter().map(|d| format!("DNS:{d}")));
    alt.extend(c.san_email.iter().map(|e| format!("email:{e}")));
    alt.extend(c.san_ip.iter().map(|i| format!("IP:{i}")));
    if !alt.is_empty() {
        let _ = writeln!(out, "  Subject Alternative Names: {}", alt.join(", "));
    }
    let _ = writeln!(out, "  Validity Date: ");
    let _ = writeln!(out, "    start date: {}", ios_date(c.not_before));
    let _ = writeln!(out, "    end   date: {}", ios_date(c.not_after));
    let _ = writeln!(out, "    days left: {}", c.days_left(now));
    let _ = writeln!(out, "  Key: {}", c.key);
    let _ = writeln!(out, "  Associated Trustpoints: {tp} \n");
}

/// Every certificate of a trustpoint: ours, intermediates, the CA(s).
fn certs_of(tp: &TrustPoint) -> Vec<(&'static str, &Cert)> {
    let mut v = Vec::new();
    for (i, c) in tp.chain.iter().enumerate() {
        v.push((
            if i == 0 {
                "Certificate"
            } else {
                "CA Certificate (intermediate)"
            },
            c,
        ));
    }
    for c in &tp.ca {
        v.push(("CA Certificate", c));
    }
    v
}

/// `show crypto pki certificates [TRUSTPOINT]`.
pub fn certificates(v: &View<'_>, only: Option<&str>, json: bool) -> Result<String, ErrorInfo> {
    if let Some(n) = only {
        if !v.running.trustpoints.contains_key(n) {
            return Err(ErrorInfo {
                message: format!("% Trustpoint {n} does not exist"),
                column: None,
            });
        }
    }
    let now = SystemTime::now();
    let mut text = String::new();
    let mut list = Vec::new();
    for (name, tp) in v.pki {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        match tp {
            Ok(tp) => {
                for (kind, c) in certs_of(tp) {
                    if json {
                        list.push(cert_json(kind, c, name, now));
                    } else {
                        cert_text(&mut text, kind, c, name, now);
                    }
                }
            }
            Err(e) => {
                if json {
                    list.push(json!({"trustpoint": name, "error": e}));
                } else {
                    let _ = writeln!(text, "Trustpoint {name}: not loaded: {e}\n");
                }
            }
        }
    }
    if json {
        return to_json(&json!({ "certificates": list }));
    }
    Ok(text)
}

/// `show crypto pki trustpoints`.
pub fn trustpoints(v: &View<'_>, json: bool) -> Result<String, ErrorInfo> {
    let now = SystemTime::now();
    let mut text = String::new();
    let mut list = Vec::new();
    for (name, cfg) in &v.running.trustpoints {
        let loaded = v.pki.get(name);
        let revocation = match &cfg.revocation {
            Some(Revocation::Crl(p)) => format!("crl {p}"),
            Some(Revocation::None) | None => "none".into(),
        };
        match loaded {
            Some(Ok(tp)) => {
                let ca = tp.ca.first();
                let own = tp.chain.first();
                if json {
                    list.push(json!({
                        "name": name,
                        "ca_subject": ca.map(|c| c.subject.clone()),
                        "ca_serial": ca.map(|c| serial_hex(&c.serial)),
                        "ca_not_after": ca.map(|c| date(c.not_after)),
                        "certificate": own.map(|c| cert_json("Certificate", c, name, now)),
                        "revocation_check": revocation,
                        "crl_revoked": tp.crl.as_ref().map(|c| c.revoked.len()),
                        "crl_next_update": tp.crl.as_ref().and_then(|c| c.next_update).map(date),
                    }));
                    continue;
                }
                let _ = writeln!(text, "Trustpoint {name}:");
                if let Some(ca) = ca {
                    let _ = writeln!(text, "    Subject Name: \n    {}", ca.subject);
                    let _ = writeln!(
                        text,
                        "          Serial Number (hex): {}",
                        serial_hex(&ca.serial)
                            .trim_start_matches("0x")
                            .to_uppercase()
                    );
                    let _ = writeln!(text, "    Certificate configured.");
                }
                match own {
                    Some(c) => {
                        let _ = writeln!(
                            text,
                            "    Router certificate: {} ({}, expires {}, {} days left)",
                            c.subject,
                            c.key,
                            date(c.not_after),
                            c.days_left(now)
                        );
                    }
                    None => {
                        let _ = writeln!(text, "    No router certificate (verification only).");
                    }
                }
                let _ = writeln!(text, "    Revocation check: {revocation}");
                if let Some(crl) = &tp.crl {
                    let _ = writeln!(
                        text,
                        "    CRL of {}: {} revoked, next update {}",
                        crl.issuer,
                        crl.revoked.len(),
                        crl.next_update.map(date).unwrap_or_else(|| "none".into())
                    );
                }
                text.push('\n');
            }
            _ if json => {
                let e = loaded
                    .and_then(|r| r.as_ref().err().cloned())
                    .unwrap_or_else(|| "not loaded".into());
                list.push(json!({"name": name, "error": e, "revocation_check": revocation}));
            }
            Some(Err(e)) => {
                let _ = writeln!(text, "Trustpoint {name}:\n    Not loaded: {e}\n");
            }
            None => {
                let _ = writeln!(text, "Trustpoint {name}:\n    Not loaded\n");
            }
        }
    }
    if json {
        return to_json(&json!({ "trustpoints": list }));
    }
    Ok(text)
}
