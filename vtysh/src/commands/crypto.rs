//! `crypto ...` commands and their sub-modes, and `hostname`.

use super::{num, Builder, Ctx};
use crate::grammar::{Args, Token};
use crate::mode::Mode;
use crate::model::*;
use crate::session::{CliError, Frame};
use ipnetwork::IpNetwork;

const ADDR_OR_NET: &str = "<A.B.C.D|X:X::X:X|A.B.C.D/M|X:X::X:X/M>";
const ID: &str = "<address <A.B.C.D|X:X::X:X>|fqdn FQDN|email EMAIL|key-id KEYID>";
/// `identity local` also takes `dn`: our certificate's subject.
const ID_LOCAL: &str = "<address <A.B.C.D|X:X::X:X>|fqdn FQDN|email EMAIL|key-id KEYID|dn>";

pub(super) fn register(b: &mut Builder) {
    use Mode::*;
    b.add(Config, "hostname HOSTNAME", |c, a| {
        let h = a.get("HOSTNAME").unwrap_or_default();
        if h.len() > 63
            || !h
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_' || ch == '.')
        {
            return Err(CliError::at(
                a.column_of("HOSTNAME"),
                "% Hostname: up to 63 letters, digits, '-', '_' or '.'",
            ));
        }
        c.cfg.hostname = Some(h.to_string());
        Ok(())
    });
    b.add(Config, "no hostname [HOSTNAME]", |c, _| {
        c.cfg.hostname = None;
        Ok(())
    });
    b.add(Config, "crypto allow-weak", |c, _| {
        c.cfg.allow_weak = true;
        Ok(())
    });
    b.add(Config, "no crypto allow-weak", |c, _| {
        c.cfg.allow_weak = false;
        Ok(())
    });

    b.add(Config, "crypto ikev2 cookie-challenge (1-65535)", |c, a| {
        c.cfg.cookie_challenge = Some(num(a, "(1-65535)")?);
        Ok(())
    });
    b.add(
        Config,
        "no crypto ikev2 cookie-challenge [(1-65535)]",
        |c, _| {
            c.cfg.cookie_challenge = None;
            Ok(())
        },
    );
    b.add(
        Config,
        "crypto ikev2 limit max-in-negotiation-sa (1-100000)",
        |c, a| {
            c.cfg.max_in_negotiation_sa = Some(num(a, "(1-100000)")?);
            Ok(())
        },
    );
    b.add(
        Config,
        "no crypto ikev2 limit max-in-negotiation-sa [(1-100000)]",
        |c, _| {
            c.cfg.max_in_negotiation_sa = None;
            Ok(())
        },
    );
    b.add(
        Config,
        "crypto ikev2 limit max-in-negotiation-sa-per-address (1-100000)",
        |c, a| {
            c.cfg.max_in_negotiation_sa_per_address = Some(num(a, "(1-100000)")?);
            Ok(())
        },
    );
    b.add(
        Config,
        "no crypto ikev2 limit max-in-negotiation-sa-per-address [(1-100000)]",
        |c, _| {
            c.cfg.max_in_negotiation_sa_per_address = None;
            Ok(())
        },
    );
    b.add(Config, "crypto ikev2 fragmentation [mtu (68-1500)]", |c, a| {
        c.cfg.fragmentation = if a.has("mtu") {
            let m: u16 = num(a, "(68-1500)")?;
            if m < MIN_FRAGMENTATION_MTU {
                return Err(CliError::at(
                    a.column_of("(68-1500)"),
                    format!(
                        "% MTU {m} leaves no room in an encrypted IKE fragment (IP, UDP, IKE and SKF headers, IV, padding and ICV): rvpn needs at least {MIN_FRAGMENTATION_MTU}"
                    ),
                ));
            }
            Fragmentation::Mtu(m)
        } else {
            Fragmentation::Default
        };
        Ok(())
    });
    b.add(
        Config,
        "no crypto ikev2 fragmentation [mtu (68-1500)]",
        |c, _| {
            c.cfg.fragmentation = Fragmentation::Off;
            Ok(())
        },
    );

    // ---- proposals
    b.add(Config, "crypto ikev2 proposal PROPOSAL", |c, a| {
        let n = name(a, "PROPOSAL")?;
        c.cfg.ikev2_proposals.entry(n.clone()).or_default();
        c.push(Frame::Ikev2Proposal(n));
        Ok(())
    });
    b.add(Config, "no crypto ikev2 proposal PROPOSAL", |c, a| {
        remove(&mut c.cfg.ikev2_proposals, a, "PROPOSAL", "IKEv2 proposal")
    });
    b.add(
        Ikev2Proposal,
        "encryption {aes-gcm-128|aes-gcm-256|chacha20-poly1305|aes-cbc-128|aes-cbc-256|des|3des}",
        |c, a| {
            let mut v = Vec::new();
            for it in a.items.iter().skip(1) {
                match it.value.as_str() {
                    "des" | "3des" => {
                        return Err(CliError::at(
                            Some(it.column),
                            format!(
                                "% {} is refused as insecure: use aes-gcm-256 (or aes-cbc-256)",
                                it.value.to_uppercase()
                            ),
                        ))
                    }
                    s => push_unique(
                        &mut v,
                        Encryption::from_name(s)
                            .ok_or_else(|| CliError::new("% Unknown algorithm"))?,
                    ),
                }
            }
            proposal(c)?.encryption = v;
            Ok(())
        },
    );
    b.add(
        Ikev2Proposal,
        "integrity {sha1|sha256|sha384|sha512|md5}",
        |c, a| {
            let v = hashes(a)?;
            proposal(c)?.integrity = v;
            Ok(())
        },
    );
    b.add(
        Ikev2Proposal,
        "prf {sha1|sha256|sha384|sha512|md5}",
        |c, a| {
            let v = hashes(a)?;
            proposal(c)?.prf = v;
            Ok(())
        },
    );
    b.add(Ikev2Proposal, "group {(1-65535)}", |c, a| {
        let mut v = Vec::new();
        for it in a.items.iter().skip(1) {
            let g = DhGroup(it.value.parse().unwrap_or(0));
            check_group(g, Some(it.column))?;
            push_unique(&mut v, g);
        }
        proposal(c)?.groups = v;
        Ok(())
    });
    b.add(
        Ikev2Proposal,
        "no <encryption|integrity|prf|group> [LINE]",
        |c, a| {
            let p = proposal(c)?;
            match a.items[1].value.as_str() {
                "encryption" => p.encryption.clear(),
                "integrity" => p.integrity.clear(),
                "prf" => p.prf.clear(),
                _ => p.groups.clear(),
            }
            Ok(())
        },
    );

    // ---- keyrings
    b.add(Config, "crypto ikev2 keyring KEYRING", |c, a| {
        let n = name(a, "KEYRING")?;
        c.cfg.ikev2_keyrings.entry(n.clone()).or_default();
        c.push(Frame::Ikev2Keyring(n));
        Ok(())
    });
    b.add(Config, "no crypto ikev2 keyring KEYRING", |c, a| {
        remove(&mut c.cfg.ikev2_keyrings, a, "KEYRING", "keyring")
    });
    b.add(Ikev2Keyring, "peer PEER", |c, a| {
        let kr = frame_name(c);
        let p = name(a, "PEER")?;
        keyring(c)?.peers.entry(p.clone()).or_default();
        c.push(Frame::Ikev2KeyringPeer {
            keyring: kr,
            peer: p,
        });
        Ok(())
    });
    b.add(Ikev2Keyring, "no peer PEER", |c, a| {
        let p = a.get("PEER").unwrap_or_default().to_string();
        if keyring(c)?.peers.remove(&p).is_none() {
            return Err(CliError::at(
                a.column_of("PEER"),
                format!("% No peer {p} in this keyring"),
            ));
        }
        Ok(())
    });
    b.add(
        Ikev2KeyringPeer,
        &format!("address {ADDR_OR_NET}"),
        |c, a| {
            let n = net(a)?;
            peer(c)?.address = Some(n);
            Ok(())
        },
    );
    b.add(Ikev2KeyringPeer, "no address [LINE]", |c, _| {
        peer(c)?.address = None;
        Ok(())
    });
    b.add(Ikev2KeyringPeer, &format!("identity {ID}"), |c, a| {
        let id = identity(a, 1)?;
        peer(c)?.identity = Some(id);
        Ok(())
    });
    b.add(Ikev2KeyringPeer, "no identity [LINE]", |c, _| {
        peer(c)?.identity = None;
        Ok(())
    });
    b.add(
        Ikev2KeyringPeer,
        "pre-shared-key [local|remote] [0] SECRET",
        |c, a| {
            let s = Some(Secret(a.get("SECRET").unwrap_or_default().to_string()));
            let p = peer(c)?;
            if a.has("local") {
                p.pre_shared_key_local = s;
            } else if a.has("remote") {
                p.pre_shared_key_remote = s;
            } else {
                p.pre_shared_key = s;
            }
            Ok(())
        },
    );
    b.add(
        Ikev2KeyringPeer,
        "no pre-shared-key [local|remote] [LINE]",
        |c, a| {
            let p = peer(c)?;
            if a.has("local") {
                p.pre_shared_key_local = None;
            } else if a.has("remote") {
                p.pre_shared_key_remote = None;
            } else {
                p.pre_shared_key = None;
                p.pre_shared_key_local = None;
                p.pre_shared_key_remote = None;
            }
            Ok(())
        },
    );
    b.add(Ikev2KeyringPeer, "description LINE", |c, a| {
        peer(c)?.description = a.get("LINE").map(String::from);
        Ok(())
    });
    b.add(Ikev2KeyringPeer, "no description [LINE]", |c, _| {
        peer(c)?.description = None;
        Ok(())
    });

    // ---- trustpoints
    b.add(Config, "crypto pki trustpoint TRUSTPOINT", |c, a| {
        let n = name(a, "TRUSTPOINT")?;
        c.cfg.trustpoints.entry(n.clone()).or_default();
        c.push(Frame::PkiTrustpoint(n));
        Ok(())
    });
    b.add(Config, "no crypto pki trustpoint TRUSTPOINT", |c, a| {
        remove(&mut c.cfg.trustpoints, a, "TRUSTPOINT", "trustpoint")
    });
    b.add(
        PkiTrustpoint,
        "<ca-certificate|certificate|private-key> PATH",
        |c, a| {
            let path = Some(a.get("PATH").unwrap_or_default().to_string());
            let which = a.items[0].value.clone();
            let t = trustpoint(c)?;
            match which.as_str() {
                "ca-certificate" => t.ca_certificate = path,
                "certificate" => t.certificate = path,
                _ => t.private_key = path,
            }
            Ok(())
        },
    );
    b.add(
        PkiTrustpoint,
        "no <ca-certificate|certificate|private-key> [PATH]",
        |c, a| {
            let which = a.items[1].value.clone();
            let t = trustpoint(c)?;
            match which.as_str() {
                "ca-certificate" => t.ca_certificate = None,
                "certificate" => t.certificate = None,
                _ => t.private_key = None,
            }
            Ok(())
        },
    );
    b.add(PkiTrustpoint, "revocation-check <crl PATH|none>", |c, a| {
        let r = match a.get("PATH") {
            Some(p) => Revocation::Crl(p.to_string()),
            None => Revocation::None,
        };
        trustpoint(c)?.revocation = Some(r);
        Ok(())
    });
    b.add(PkiTrustpoint, "no revocation-check [LINE]", |c, _| {
        trustpoint(c)?.revocation = None;
        Ok(())
    });

    // ---- IKEv2 profiles
    b.add(Config, "crypto ikev2 profile PROFILE", |c, a| {
        let n = name(a, "PROFILE")?;
        c.cfg.ikev2_profiles.entry(n.clone()).or_default();
        c.push(Frame::Ikev2Profile(n));
        Ok(())
    });
    b.add(Config, "no crypto ikev2 profile PROFILE", |c, a| {
        remove(&mut c.cfg.ikev2_profiles, a, "PROFILE", "IKEv2 profile")
    });
    b.add(Ikev2Profile, "description LINE", |c, a| {
        profile(c)?.description = a.get("LINE").map(String::from);
        Ok(())
    });
    b.add(Ikev2Profile, "no description [LINE]", |c, _| {
        profile(c)?.description = None;
        Ok(())
    });
    let idm =
        format!("<fqdn [domain] FQDN|email [domain] EMAIL|address {ADDR_OR_NET}|key-id KEYID|any>");
    b.add(
        Ikev2Profile,
        &format!("match identity remote {idm}"),
        |c, a| {
            let m = identity_match(a)?;
            push_unique(&mut profile(c)?.match_identities, m);
            Ok(())
        },
    );
    b.add(
        Ikev2Profile,
        &format!("no match identity remote [{idm}]"),
        |c, a| {
            if a.items.len() <= 4 {
                profile(c)?.match_identities.clear();
                return Ok(());
            }
            let m = identity_match(a)?;
            let p = profile(c)?;
            let before = p.match_identities.len();
            p.match_identities.retain(|x| x != &m);
            if p.match_identities.len() == before {
                return Err(CliError::new(format!(
                    "% No 'match identity remote {m}' in this profile"
                )));
            }
            Ok(())
        },
    );
    b.add(
        Ikev2Profile,
        &format!("identity local {ID_LOCAL}"),
        |c, a| {
            let id = if a.items.get(2).is_some_and(|i| i.value == "dn") {
                Identity::Dn
            } else {
                identity(a, 2)?
            };
            profile(c)?.identity_local = Some(id);
            Ok(())
        },
    );
    b.add(Ikev2Profile, "no identity local [LINE]", |c, _| {
        profile(c)?.identity_local = None;
        Ok(())
    });
    b.add(
        Ikev2Profile,
        "authentication <local|remote> <pre-share|rsa-sig|ecdsa-sig> [pss]",
        |c, a| {
            let m = auth(a.items[2].value.as_str());
            let pss = a.has("pss");
            if pss && !(a.has("local") && m == AuthMethod::RsaSig) {
                return Err(CliError::at(
                    a.column_of("pss"),
                    "% 'pss' applies to 'authentication local rsa-sig' only (how we sign); a peer's PSS signatures are always accepted",
                ));
            }
            let p = profile(c)?;
            if a.has("local") {
                p.authentication_local = Some(m);
                p.rsa_pss = pss;
            } else {
                push_unique(&mut p.authentication_remote, m);
            }
            Ok(())
        },
    );
    b.add(
        Ikev2Profile,
        "no authentication <local|remote> [pre-share|rsa-sig|ecdsa-sig]",
        |c, a| {
            let m = a.items.get(3).map(|i| auth(&i.value));
            let p = profile(c)?;
            if a.has("local") {
                p.authentication_local = None;
                p.rsa_pss = false;
            } else {
                match m {
                    Some(m) => p.authentication_remote.retain(|x| *x != m),
                    None => p.authentication_remote.clear(),
                }
            }
            Ok(())
        },
    );
    b.add(Ikev2Profile, "keyring local KEYRING", |c, a| {
        let k = a.get("KEYRING").unwrap_or_default().to_string();
        profile(c)?.keyring = Some(k);
        Ok(())
    });
    b.add(Ikev2Profile, "no keyring [local] [KEYRING]", |c, _| {
        profile(c)?.keyring = None;
        Ok(())
    });
    b.add(Ikev2Profile, "pki trustpoint TRUSTPOINT", |c, a| {
        let t = a.get("TRUSTPOINT").unwrap_or_default().to_string();
        push_unique(&mut profile(c)?.trustpoints, t);
        Ok(())
    });
    b.add(Ikev2Profile, "no pki trustpoint [TRUSTPOINT]", |c, a| {
        let p = profile(c)?;
        match a.get("TRUSTPOINT") {
            Some(t) => p.trustpoints.retain(|x| x != t),
            None => p.trustpoints.clear(),
        }
        Ok(())
    });
    b.add(Ikev2Profile, "proposal {PROPOSAL}", |c, a| {
        let names: Vec<String> = a.all("PROPOSAL").into_iter().map(String::from).collect();
        let p = profile(c)?;
        for n in names {
            push_unique(&mut p.proposals, n);
        }
        Ok(())
    });
    b.add(Ikev2Profile, "no proposal [{PROPOSAL}]", |c, a| {
        let names: Vec<String> = a.all("PROPOSAL").into_iter().map(String::from).collect();
        let p = profile(c)?;
        if names.is_empty() {
            p.proposals.clear();
        } else {
            p.proposals.retain(|x| !names.contains(x));
        }
        Ok(())
    });
    b.add(
        Ikev2Profile,
        "dpd (2-3600) (1-100) <periodic|on-demand>",
        |c, a| {
            let vals = a.all("(2-3600)");
            let interval: u32 = vals.first().and_then(|v| v.parse().ok()).unwrap_or(10);
            let retry: u32 = num(a, "(1-100)")?;
            let mode = if a.has("periodic") {
                DpdMode::Periodic
            } else {
                DpdMode::OnDemand
            };
            profile(c)?.dpd = Some(Dpd {
                interval,
                retry,
                mode,
            });
            Ok(())
        },
    );
    b.add(Ikev2Profile, "no dpd [LINE]", |c, _| {
        profile(c)?.dpd = None;
        Ok(())
    });
    b.add(Ikev2Profile, "lifetime (10-86400)", |c, a| {
        profile(c)?.lifetime = Some(num(a, "(10-86400)")?);
        Ok(())
    });
    b.add(Ikev2Profile, "no lifetime [(10-86400)]", |c, _| {
        profile(c)?.lifetime = None;
        Ok(())
    });
    b.add(Ikev2Profile, "nat keepalive (5-3600)", |c, a| {
        profile(c)?.nat_keepalive = Some(num(a, "(5-3600)")?);
        Ok(())
    });
    b.add(Ikev2Profile, "no nat keepalive [(5-3600)]", |c, _| {
        profile(c)?.nat_keepalive = None;
        Ok(())
    });
    b.add(Ikev2Profile, "mobike", |c, _| {
        profile(c)?.no_mobike = false;
        Ok(())
    });
    b.add(Ikev2Profile, "no mobike", |c, _| {
        profile(c)?.no_mobike = true;
        Ok(())
    });

    // ---- transform sets
    b.add(
        Config,
        "crypto ipsec transform-set TRANSFORMSET [{esp-gcm|esp-chacha20-poly1305|esp-aes|128|192|256|esp-sha-hmac|esp-sha256-hmac|esp-sha384-hmac|esp-sha512-hmac|esp-des|esp-3des|esp-md5-hmac}]",
        |c, a| {
            let n = name(a, "TRANSFORMSET")?;
            let ts = transforms(a)?;
            if ts.is_empty() {
                if !c.cfg.transform_sets.contains_key(&n) {
                    return Err(CliError::new("% A new transform set needs its transforms, e.g. esp-gcm 256"));
                }
            } else {
                c.cfg.transform_sets.entry(n.clone()).or_default().transforms = ts;
            }
            c.push(Frame::IpsecTransformSet(n));
            Ok(())
        },
    );
    b.add(
        Config,
        "no crypto ipsec transform-set TRANSFORMSET [LINE]",
        |c, a| {
            remove(
                &mut c.cfg.transform_sets,
                a,
                "TRANSFORMSET",
                "transform set",
            )
        },
    );
    b.add(IpsecTransformSet, "mode <tunnel|transport>", |c, a| {
        let m = if a.has("transport") {
            EspMode::Transport
        } else {
            EspMode::Tunnel
        };
        transform_set(c)?.mode = m;
        Ok(())
    });
    b.add(IpsecTransformSet, "no mode [tunnel|transport]", |c, _| {
        transform_set(c)?.mode = EspMode::Tunnel;
        Ok(())
    });

    // ---- IPsec profiles
    b.add(Config, "crypto ipsec profile PROFILE", |c, a| {
        let n = name(a, "PROFILE")?;
        c.cfg.ipsec_profiles.entry(n.clone()).or_default();
        c.push(Frame::IpsecProfile(n));
        Ok(())
    });
    b.add(Config, "no crypto ipsec profile PROFILE", |c, a| {
        remove(&mut c.cfg.ipsec_profiles, a, "PROFILE", "IPsec profile")
    });
    b.add(IpsecProfile, "description LINE", |c, a| {
        ipsec_profile(c)?.description = a.get("LINE").map(String::from);
        Ok(())
    });
    b.add(IpsecProfile, "no description [LINE]", |c, _| {
        ipsec_profile(c)?.description = None;
        Ok(())
    });
    b.add(IpsecProfile, "set transform-set {TRANSFORMSET}", |c, a| {
        let mut v: Vec<String> = Vec::new();
        for n in a.all("TRANSFORMSET") {
            push_unique(&mut v, n.to_string());
        }
        ipsec_profile(c)?.transform_sets = v;
        Ok(())
    });
    b.add(IpsecProfile, "no set transform-set [LINE]", |c, _| {
        ipsec_profile(c)?.transform_sets.clear();
        Ok(())
    });
    b.add(IpsecProfile, "set ikev2-profile PROFILE", |c, a| {
        ipsec_profile(c)?.ikev2_profile = a.get("PROFILE").map(String::from);
        Ok(())
    });
    b.add(IpsecProfile, "no set ikev2-profile [PROFILE]", |c, _| {
        ipsec_profile(c)?.ikev2_profile = None;
        Ok(())
    });
    b.add(
        IpsecProfile,
        "set pfs <group1|group2|group5|group14|group15|group16|group19|group20|group21|group24|group31>",
        |c, a| {
            let it = &a.items[2];
            let g = DhGroup(it.value.trim_start_matches("group").parse().unwrap_or(0));
            check_group(g, Some(it.column))?;
            ipsec_profile(c)?.pfs = Some(g);
            Ok(())
        },
    );
    b.add(IpsecProfile, "no set pfs [LINE]", |c, _| {
        ipsec_profile(c)?.pfs = None;
        Ok(())
    });
    b.add(
        IpsecProfile,
        "set security-association lifetime <seconds (10-86400)|kilobytes (2560-4294967295)>",
        |c, a| {
            let p = ipsec_profile(c)?;
            if a.has("seconds") {
                p.lifetime_seconds = Some(num(a, "(10-86400)")?);
            } else {
                p.lifetime_kilobytes = Some(num(a, "(2560-4294967295)")?);
            }
            Ok(())
        },
    );
    b.add(
        IpsecProfile,
        "no set security-association lifetime <seconds|kilobytes> [LINE]",
        |c, a| {
            let p = ipsec_profile(c)?;
            if a.has("seconds") {
                p.lifetime_seconds = None;
            } else {
                p.lifetime_kilobytes = None;
            }
            Ok(())
        },
    );
    b.add(
        IpsecProfile,
        "set security-association replay window-size (32-65536)",
        |c, a| {
            ipsec_profile(c)?.replay_window = Some(num(a, "(32-65536)")?);
            Ok(())
        },
    );
    b.add(
        IpsecProfile,
        "no set security-association replay window-size [(32-65536)]",
        |c, _| {
            ipsec_profile(c)?.replay_window = None;
            Ok(())
        },
    );
}

/// A configuration object name: letters, digits and `-_.:/`, up to 63.
pub(super) fn name(a: &Args, var: &str) -> Result<String, CliError> {
    let n = a.get(var).unwrap_or_default();
    if n.is_empty()
        || n.len() > 63
        || !n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:/".contains(c))
    {
        return Err(CliError::at(
            a.column_of(var),
            "% Names are up to 63 letters, digits, '-', '_', '.', ':' or '/'",
        ));
    }
    Ok(n.to_string())
}

pub(super) fn remove<T>(
    map: &mut std::collections::BTreeMap<String, T>,
    a: &Args,
    var: &str,
    what: &str,
) -> Result<(), CliError> {
    let n = a.get(var).unwrap_or_default();
    if map.remove(n).is_none() {
        return Err(CliError::at(
            a.column_of(var),
            format!("% No {what} named {n}"),
        ));
    }
    Ok(())
}

pub(super) fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

pub(super) fn frame_name(c: &Ctx) -> String {
    match c.frame() {
        Frame::Ikev2Proposal(n)
        | Frame::Ikev2Keyring(n)
        | Frame::PkiTrustpoint(n)
        | Frame::Ikev2Profile(n)
        | Frame::Ikev2AuthorizationPolicy(n)
        | Frame::IpsecTransformSet(n)
        | Frame::IpsecProfile(n)
        | Frame::Interface(n) => n.clone(),
        Frame::Ikev2KeyringPeer { peer, .. } => peer.clone(),
        _ => String::new(),
    }
}

pub(super) fn gone(what: &str) -> CliError {
    CliError::new(format!(
        "% The {what} of this mode no longer exists; leave the mode with 'exit'"
    ))
}

fn proposal(c: &mut Ctx) -> Result<&mut Ikev2Proposal, CliError> {
    let n = frame_name(c);
    c.cfg
        .ikev2_proposals
        .get_mut(&n)
        .ok_or_else(|| gone("proposal"))
}

fn keyring(c: &mut Ctx) -> Result<&mut Keyring, CliError> {
    let n = frame_name(c);
    c.cfg
        .ikev2_keyrings
        .get_mut(&n)
        .ok_or_else(|| gone("keyring"))
}

fn peer(c: &mut Ctx) -> Result<&mut KeyringPeer, CliError> {
    let Frame::Ikev2KeyringPeer { keyring, peer } = c.frame().clone() else {
        return Err(gone("keyring peer"));
    };
    c.cfg
        .ikev2_keyrings
        .get_mut(&keyring)
        .and_then(|k| k.peers.get_mut(&peer))
        .ok_or_else(|| gone("keyring peer"))
}

fn trustpoint(c: &mut Ctx) -> Result<&mut Trustpoint, CliError> {
    let n = frame_name(c);
    c.cfg
        .trustpoints
        .get_mut(&n)
        .ok_or_else(|| gone("trustpoint"))
}

pub(super) fn profile(c: &mut Ctx) -> Result<&mut Ikev2Profile, CliError> {
    let n = frame_name(c);
    c.cfg
        .ikev2_profiles
        .get_mut(&n)
        .ok_or_else(|| gone("IKEv2 profile"))
}

fn transform_set(c: &mut Ctx) -> Result<&mut TransformSet, CliError> {
    let n = frame_name(c);
    c.cfg
        .transform_sets
        .get_mut(&n)
        .ok_or_else(|| gone("transform set"))
}

fn ipsec_profile(c: &mut Ctx) -> Result<&mut IpsecProfile, CliError> {
    let n = frame_name(c);
    c.cfg
        .ipsec_profiles
        .get_mut(&n)
        .ok_or_else(|| gone("IPsec profile"))
}

fn hashes(a: &Args) -> Result<Vec<Hash>, CliError> {
    let mut v = Vec::new();
    for it in a.items.iter().skip(1) {
        if it.value == "md5" {
            return Err(CliError::at(
                Some(it.column),
                "% MD5 is refused as insecure: use sha256",
            ));
        }
        let h = Hash::from_name(&it.value)
            .ok_or_else(|| CliError::at(Some(it.column), "% Unknown hash"))?;
        push_unique(&mut v, h);
    }
    Ok(v)
}

/// Refuse groups that are insecure or that rvpn does not implement.
fn check_group(g: DhGroup, col: Option<usize>) -> Result<(), CliError> {
    if DhGroup::REFUSED.contains(&g.0) {
        return Err(CliError::at(
            col,
            format!("% Group {} ({}) is refused as insecure: use group 19 (ECP 256) or 31 (Curve25519), or 14 for MODP peers", g.0, g.describe()),
        ));
    }
    if !DhGroup::SUPPORTED.contains(&g.0) {
        return Err(CliError::at(
            col,
            format!(
                "% Group {} is not supported: use 14, 15, 16, 19, 20, 21 or 31",
                g.0
            ),
        ));
    }
    Ok(())
}

fn net(a: &Args) -> Result<IpNetwork, CliError> {
    for v in ["A.B.C.D", "X:X::X:X"] {
        if let Some(s) = a.get(v) {
            let ip: std::net::IpAddr = s
                .parse()
                .map_err(|_| CliError::at(a.column_of(v), "% Bad address"))?;
            return IpNetwork::new(ip, max_prefix(ip)).map_err(|e| CliError::new(format!("% {e}")));
        }
    }
    for v in ["A.B.C.D/M", "X:X::X:X/M"] {
        if let Some(s) = a.get(v) {
            let n: IpNetwork = s
                .parse()
                .map_err(|_| CliError::at(a.column_of(v), "% Bad prefix"))?;
            // Keep the network address only.
            return IpNetwork::new(n.network(), n.prefix())
                .map_err(|e| CliError::new(format!("% {e}")));
        }
    }
    Err(CliError::new("% An address is required"))
}

/// An identity from `<address A|fqdn F|email E|key-id K>` starting at item `at`.
fn identity(a: &Args, at: usize) -> Result<Identity, CliError> {
    let kind = a
        .items
        .get(at)
        .map(|i| i.value.as_str())
        .unwrap_or_default();
    let it = a
        .items
        .get(at + 1)
        .ok_or_else(|| CliError::new("% Identity value missing"))?;
    let v = it.value.clone();
    Ok(match kind {
        "address" => Identity::Address(
            v.parse()
                .map_err(|_| CliError::at(Some(it.column), "% Bad address"))?,
        ),
        "fqdn" => Identity::Fqdn(v),
        "email" => {
            if !v.contains('@') {
                return Err(CliError::at(
                    Some(it.column),
                    "% An e-mail identity needs an '@'",
                ));
            }
            Identity::Email(v)
        }
        _ => Identity::KeyId(v),
    })
}

fn identity_match(a: &Args) -> Result<IdentityMatch, CliError> {
    let domain = a.has("domain");
    Ok(if a.has("any") {
        IdentityMatch::Any
    } else if let Some(v) = a.get("FQDN") {
        IdentityMatch::Fqdn {
            domain,
            value: v.to_string(),
        }
    } else if let Some(v) = a.get("EMAIL") {
        IdentityMatch::Email {
            domain,
            value: v.to_string(),
        }
    } else if let Some(v) = a.get("KEYID") {
        IdentityMatch::KeyId {
            value: v.to_string(),
        }
    } else {
        IdentityMatch::Address { network: net(a)? }
    })
}

fn auth(s: &str) -> AuthMethod {
    match s {
        "rsa-sig" => AuthMethod::RsaSig,
        "ecdsa-sig" => AuthMethod::EcdsaSig,
        _ => AuthMethod::PreShare,
    }
}

/// Group the transform-set words into transforms.
fn transforms(a: &Args) -> Result<Vec<EspTransform>, CliError> {
    let words: Vec<(&str, usize)> = a
        .items
        .iter()
        .filter(|i| matches!(i.token, Token::Keyword(_)))
        .skip(3)
        .map(|i| (i.value.as_str(), i.column))
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let (w, col) = words[i];
        i += 1;
        let bits = |i: &mut usize| -> Result<u16, CliError> {
            match words.get(*i) {
                Some(("128", _)) | Some(("256", _)) => {
                    *i += 1;
                    Ok(words[*i - 1].0.parse().unwrap_or(128))
                }
                Some(("192", c)) => Err(CliError::at(
                    Some(*c),
                    "% 192-bit AES is not supported: use 128 or 256",
                )),
                _ => Ok(128),
            }
        };
        match w {
            "esp-gcm" => out.push(EspTransform::Gcm {
                bits: bits(&mut i)?,
            }),
            "esp-chacha20-poly1305" => out.push(EspTransform::Chacha20Poly1305),
            "esp-aes" => {
                let b = bits(&mut i)?;
                let integ =
                    match words.get(i) {
                        Some(("esp-sha-hmac", _)) => Hash::Sha1,
                        Some(("esp-sha256-hmac", _)) => Hash::Sha256,
                        Some(("esp-sha384-hmac", _)) => Hash::Sha384,
                        Some(("esp-sha512-hmac", _)) => Hash::Sha512,
                        Some(("esp-md5-hmac", c)) => {
                            return Err(CliError::at(
                                Some(*c),
                                "% MD5 is refused as insecure: use esp-sha256-hmac",
                            ))
                        }
                        _ => return Err(CliError::at(
                            Some(col),
                            "% esp-aes needs an HMAC after it, e.g. esp-aes 256 esp-sha256-hmac",
                        )),
                    };
                i += 1;
                out.push(EspTransform::Cbc {
                    bits: b,
                    integrity: integ,
                });
            }
            "esp-des" | "esp-3des" => {
                return Err(CliError::at(
                    Some(col),
                    format!("% {w} is refused as insecure: use esp-gcm 256"),
                ));
            }
            "esp-md5-hmac" => {
                return Err(CliError::at(
                    Some(col),
                    "% MD5 is refused as insecure: use esp-sha256-hmac",
                ))
            }
            _ => {
                return Err(CliError::at(
                    Some(col),
                    format!("% '{w}' must follow esp-gcm or esp-aes"),
                ))
            }
        }
        if out.len() > 1 && out[..out.len() - 1].contains(out.last().expect("just pushed")) {
            out.pop();
        }
    }
    Ok(out)
}
