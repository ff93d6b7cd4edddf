//! The trustpoints of the running configuration, loaded from their files:
//! checked when a line or file sets them (a bad file refuses the change),
//! re-read on every commit that touches them and on every reload (SIGHUP,
//! `vtysh -f`), and watched for local certificates near expiry.

use ike::pki::{Cert, Crl, PrivateKey, TrustPoint, TrustPointFiles};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;
use tracing::{info, warn};
use vtysh::model::{Config, Revocation, Trustpoint};

/// Days before expiry from which a local certificate is warned about.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// Each trustpoint of the configuration: loaded, or why not.
pub type Loaded = BTreeMap<String, Result<Arc<TrustPoint>, String>>;

fn files(tp: &Trustpoint) -> TrustPointFiles<'_> {
    TrustPointFiles {
        ca: tp.ca_certificate.as_deref().map(Path::new),
        certificate: tp.certificate.as_deref().map(Path::new),
        key: tp.private_key.as_deref().map(Path::new),
        crl: match &tp.revocation {
            Some(Revocation::Crl(p)) => Some(Path::new(p)),
            _ => None,
        },
    }
}

/// Load one trustpoint.
pub fn load(name: &str, tp: &Trustpoint, now: SystemTime) -> Result<TrustPoint, String> {
    if tp.ca_certificate.is_none() {
        return Err(format!("trustpoint {name} has no ca-certificate"));
    }
    TrustPoint::load(name, &files(tp), now)
}

/// Load every trustpoint of `cfg`, keeping the loaded value of those
/// whose files did not change (so tunnels using them stay untouched).
pub fn load_all(cfg: &Config, old: &Loaded, now: SystemTime) -> Loaded {
    let mut out = Loaded::new();
    for (name, tp) in &cfg.trustpoints {
        let new = load(name, tp, now);
        let v = match (new, old.get(name)) {
            (Ok(n), Some(Ok(o))) if **o == n => Ok(o.clone()),
            (Ok(n), prev) => {
                if prev.is_some() {
                    info!("trustpoint {name}: files changed, loaded again");
                }
                Ok(Arc::new(n))
            }
            (Err(e), _) => Err(e),
        };
        out.insert(name.clone(), v);
    }
    out
}

fn read(what: &str, path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{what} {path}: cannot read: {e}"))
}

/// Check the trustpoints that `new` adds or changes against `old`, as far
/// as they are configured: every file set must be readable and parse, a
/// key must match its certificate, the certificate must chain to the CA
/// and not be expired, a CRL must come from the CA. A trustpoint still
/// being typed in (a certificate without its key yet) is checked as far
/// as it goes. Err refuses the change, with the reason.
pub fn check_changed(old: &Config, new: &Config, now: SystemTime) -> Result<(), String> {
    for (name, tp) in &new.trustpoints {
        if old.trustpoints.get(name) == Some(tp) {
            continue;
        }
        check(name, tp, now).map_err(|e| format!("% Trustpoint {name}: {e}"))?;
    }
    Ok(())
}

fn check(name: &str, tp: &Trustpoint, now: SystemTime) -> Result<(), String> {
    let chain = match &tp.certificate {
        Some(p) => Some(
            Cert::parse_all(&read("certificate", p)?)
                .map_err(|e| format!("certificate {p}: {e}"))?,
        ),
        None => None,
    };
    let key = match &tp.private_key {
        Some(p) => Some(
            PrivateKey::parse(&read("private-key", p)?)
                .map_err(|e| format!("private-key {p}: {e}"))?,
        ),
        None => None,
    };
    if let Some(Revocation::Crl(p)) = &tp.revocation {
        Crl::parse(&read("revocation-check crl", p)?).map_err(|e| format!("CRL {p}: {e}"))?;
    }
    if let (Some(chain), Some(key), Some(cp), Some(kp)) =
        (&chain, &key, &tp.certificate, &tp.private_key)
    {
        if let Some(c) = chain.first() {
            if !key.matches(c) {
                return Err(format!("private-key {kp} does not match certificate {cp}"));
            }
        }
    }
    if let (Some(chain), Some(cp)) = (&chain, &tp.certificate) {
        if let Some(c) = chain.first() {
            if c.days_left(now) < 0 || c.not_after < now {
                return Err(format!(
                    "certificate {cp} ({}) expired on {}",
                    c.subject,
                    ike::pki::date(c.not_after)
                ));
            }
        }
    }
    let Some(ca) = &tp.ca_certificate else {
        return Ok(());
    };
    Cert::parse_all(&read("ca-certificate", ca)?)
        .map_err(|e| format!("ca-certificate {ca}: {e}"))?;
    // Everything that belongs together is there: the whole check.
    let mut partial = tp.clone();
    if chain.is_some() != key.is_some() {
        partial.certificate = None;
        partial.private_key = None;
    }
    load(name, &partial, now).map(|_| ())
}

/// Warn about local certificates that expire within
/// [`EXPIRY_WARNING_DAYS`] (or have expired); returns how many.
pub fn warn_expiring(loaded: &Loaded, now: SystemTime) -> usize {
    let mut n = 0;
    for (name, tp) in loaded {
        let Ok(tp) = tp else { continue };
        for (i, c) in tp.chain.iter().enumerate() {
            let days = c.days_left(now);
            let what = if i == 0 {
                "certificate"
            } else {
                "intermediate CA certificate"
            };
            if days < 0 {
                warn!(
                    "trustpoint {name}: {what} {} expired on {}",
                    c.subject,
                    ike::pki::date(c.not_after)
                );
                n += 1;
            } else if days <= EXPIRY_WARNING_DAYS {
                warn!(
                    "trustpoint {name}: {what} {} expires in {days} days, on {}; renew it",
                    c.subject,
                    ike::pki::date(c.not_after)
                );
                n += 1;
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn data(name: &str) -> String {
        format!("{}/ike/src/pki/testdata/{name}", env!("CARGO_MANIFEST_DIR"))
    }

    fn tp(cert: &str, key: &str) -> Trustpoint {
        Trustpoint {
            ca_certificate: Some(data("ca.pem")),
            certificate: Some(data(cert)),
            private_key: Some(data(key)),
            revocation: None,
        }
    }

    #[test]
    fn local_certificates_near_expiry_are_counted_from_30_days_on() {
        let mut cfg = Config::default();
        cfg.trustpoints
            .insert("T".into(), tp("spoke1.pem", "spoke1.key"));
        let now = SystemTime::now();
        let loaded = load_all(&cfg, &Loaded::new(), now);
        let t = loaded["T"].as_ref().expect("loads");
        let end = t.chain[0].not_after;
        assert_eq!(warn_expiring(&loaded, now), 0, "20 years left");
        assert_eq!(
            warn_expiring(&loaded, end - Duration::from_secs(31 * 86400)),
            0
        );
        assert_eq!(
            warn_expiring(&loaded, end - Duration::from_secs(29 * 86400)),
            1
        );
        assert_eq!(
            warn_expiring(&loaded, end + Duration::from_secs(86400)),
            1,
            "expired"
        );
    }

    #[test]
    fn unchanged_files_keep_the_loaded_trustpoint() {
        let mut cfg = Config::default();
        cfg.trustpoints
            .insert("T".into(), tp("spoke1.pem", "spoke1.key"));
        let now = SystemTime::now();
        let first = load_all(&cfg, &Loaded::new(), now);
        let again = load_all(&cfg, &first, now);
        let (a, b) = (first["T"].as_ref().unwrap(), again["T"].as_ref().unwrap());
        assert!(
            Arc::ptr_eq(a, b),
            "the same Arc: tunnels using it see no change"
        );
    }

    #[test]
    fn a_trustpoint_being_typed_in_is_checked_as_far_as_it_goes() {
        let old = Config::default();
        let mut new = Config::default();
        let mut t = tp("spoke1.pem", "spoke1.key");
        t.private_key = None;
        new.trustpoints.insert("T".into(), t.clone());
        assert_eq!(check_changed(&old, &new, SystemTime::now()), Ok(()));
        t.private_key = Some(data("hub1.key"));
        new.trustpoints.insert("T".into(), t.clone());
        let e = check_changed(&old, &new, SystemTime::now()).unwrap_err();
        assert!(e.contains("does not match certificate"), "{e}");
        t.certificate = Some(data("old.pem"));
        t.private_key = None;
        new.trustpoints.insert("T".into(), t);
        let e = check_changed(&old, &new, SystemTime::now()).unwrap_err();
        assert!(e.contains("expired on"), "{e}");
    }
}
