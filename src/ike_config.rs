//! The operator's configuration (vtysh model) turned into what the IKE
//! engine needs per protected tunnel: addresses, identities, keys,
//! algorithms (IANA numbers) and timers. A tunnel that cannot negotiate
//! (no destination, no key, a trustpoint that does not load) is left out
//! with a reason that `show crypto session` prints.

use crate::pki::Loaded;
use ike::sa::config::{
    AuthKind, DpdConfig, EngineConfig, EspProposal, Identity, IdentityMatch, IkeProposal, Peer,
    PeerKey, TunnelConfig,
};
use std::time::Duration;
use vtysh::model::{self, AuthMethod, Config, EspTransform, Hash, TunnelDestination, TunnelSource};

/// IANA ENCR id and key bits.
pub fn encr(e: model::Encryption) -> (u16, u16) {
    match e {
        model::Encryption::AesGcm128 => (20, 128),
        model::Encryption::AesGcm256 => (20, 256),
        model::Encryption::Chacha20Poly1305 => (28, 0),
        model::Encryption::AesCbc128 => (12, 128),
        model::Encryption::AesCbc256 => (12, 256),
    }
}

/// IANA INTEG id of a hash.
pub fn integ(h: Hash) -> u16 {
    match h {
        Hash::Sha1 => 2,
        Hash::Sha256 => 12,
        Hash::Sha384 => 13,
        Hash::Sha512 => 14,
    }
}

/// IANA PRF id of a hash.
pub fn prf(h: Hash) -> u16 {
    match h {
        Hash::Sha1 => 2,
        Hash::Sha256 => 5,
        Hash::Sha384 => 6,
        Hash::Sha512 => 7,
    }
}

/// The IKE proposal used when a profile names none (strong, widely
/// interoperable: strongSwan's defaults minus the weak choices).
pub fn default_ike() -> IkeProposal {
    IkeProposal {
        encryption: vec![(20, 256), (20, 128), (28, 0), (12, 256), (12, 128)],
        integrity: vec![12, 13, 14],
        prf: vec![5, 6, 7],
        groups: vec![31, 19, 20, 14],
    }
}

/// The ESP transforms used when a profile names no transform set.
pub fn default_esp() -> Vec<(u16, u16, u16)> {
    vec![
        (20, 256, 0),
        (20, 128, 0),
        (28, 0, 0),
        (12, 256, 12),
        (12, 128, 12),
    ]
}

fn identity(id: &model::Identity) -> Identity {
    match id {
        // Resolved against the certificate by the caller.
        model::Identity::Dn => Identity::Dn(Vec::new()),
        model::Identity::Address(a) => Identity::Address(*a),
        model::Identity::Fqdn(s) => Identity::Fqdn(s.clone()),
        model::Identity::Email(s) => Identity::Email(s.clone()),
        model::Identity::KeyId(s) => Identity::KeyId(s.as_bytes().to_vec()),
    }
}

fn id_match(m: &model::IdentityMatch) -> IdentityMatch {
    match m {
        model::IdentityMatch::Fqdn { domain, value } => IdentityMatch::Fqdn {
            domain: *domain,
            value: value.clone(),
        },
        model::IdentityMatch::Email { domain, value } => IdentityMatch::Email {
            domain: *domain,
            value: value.clone(),
        },
        model::IdentityMatch::Address { network } => IdentityMatch::Address {
            network: network.ip(),
            prefix: network.prefix(),
        },
        model::IdentityMatch::KeyId { value } => IdentityMatch::KeyId(value.as_bytes().to_vec()),
        model::IdentityMatch::Any => IdentityMatch::Any,
    }
}

/// The engine configuration and, per tunnel left out, why.
pub fn engine_config(cfg: &Config, pki: &Loaded) -> (EngineConfig, Vec<(String, String)>) {
    let mut out = EngineConfig {
        allow_weak: cfg.allow_weak,
        ..EngineConfig::default()
    };
    if let Some(n) = cfg.cookie_challenge {
        out.cookie_threshold = n as usize;
    }
    if let Some(n) = cfg.max_in_negotiation_sa {
        out.max_half_open = n as usize;
    }
    if let Some(n) = cfg.max_in_negotiation_sa_per_address {
        out.max_half_open_per_address = n as usize;
    }
    out.fragment_mtu = cfg.fragmentation.mtu();
    let mut problems = Vec::new();
    let mut names: Vec<&String> = cfg.interfaces.keys().collect();
    names.sort_by(|a, b| model::interface_order(a, b));
    for name in names {
        let itf = &cfg.interfaces[name];
        let Some(t) = &itf.tunnel else { continue };
        let Some(prot) = &t.protection else { continue };
        match tunnel(cfg, pki, name, itf, t, prot) {
            Ok(tc) => out.tunnels.push(tc),
            Err(why) => problems.push((name.clone(), why)),
        }
    }
    (out, problems)
}

fn tunnel(
    cfg: &Config,
    pki: &Loaded,
    name: &str,
    itf: &model::Interface,
    t: &model::Tunnel,
    prot: &str,
) -> Result<TunnelConfig, String> {
    let ipsec = cfg
        .ipsec_profiles
        .get(prot)
        .ok_or_else(|| format!("IPsec profile {prot} does not exist"))?;
    let pname = ipsec
        .ikev2_profile
        .as_deref()
        .ok_or_else(|| format!("IPsec profile {prot} has no 'set ikev2-profile'"))?;
    let prof = cfg
        .ikev2_profiles
        .get(pname)
        .ok_or_else(|| format!("IKEv2 profile {pname} does not exist"))?;
    let auth_local = match prof.authentication_local.unwrap_or(AuthMethod::PreShare) {
        AuthMethod::PreShare => AuthKind::Psk,
        AuthMethod::RsaSig => AuthKind::Rsa { pss: prof.rsa_pss },
        AuthMethod::EcdsaSig => AuthKind::Ecdsa,
    };
    let mut auth_remote: Vec<AuthKind> = prof
        .authentication_remote
        .iter()
        .map(|m| match m {
            AuthMethod::PreShare => AuthKind::Psk,
            AuthMethod::RsaSig => AuthKind::Rsa { pss: false },
            AuthMethod::EcdsaSig => AuthKind::Ecdsa,
        })
        .collect();
    if auth_remote.is_empty() {
        auth_remote.push(AuthKind::Psk);
    }
    let uses_psk = auth_local == AuthKind::Psk || auth_remote.contains(&AuthKind::Psk);
    let uses_cert = auth_local.is_signature() || auth_remote.iter().any(|k| k.is_signature());
    let mut trustpoints = Vec::new();
    if uses_cert {
        if prof.trustpoints.is_empty() {
            return Err(format!(
                "IKEv2 profile {pname} authenticates with certificates but has no 'pki trustpoint'"
            ));
        }
        for tp in &prof.trustpoints {
            match pki.get(tp) {
                Some(Ok(l)) => trustpoints.push(l.clone()),
                Some(Err(e)) => return Err(format!("trustpoint {tp}: {e}")),
                None => return Err(format!("trustpoint {tp} does not exist")),
            }
        }
    }
    let signer = trustpoints
        .iter()
        .find(|tp| tp.key.is_some() && !tp.chain.is_empty());
    let our_cert = signer.and_then(|tp| tp.chain.first().map(|c| (tp, c)));
    if auth_local.is_signature() && our_cert.is_none() {
        return Err(format!(
            "authentication local {}: no trustpoint of IKEv2 profile {pname} has a certificate and private-key",
            auth_local.name()
        ));
    }
    let virtual_template = match model::InterfaceKind::of(name) {
        model::InterfaceKind::VirtualTemplate(n) => Some(n),
        _ => None,
    };
    let peer = match (&t.destination, virtual_template) {
        // A template serves whoever authenticates.
        (_, Some(_)) => Peer::Dynamic,
        (Some(TunnelDestination::Address(a)), None) => Peer::Address(*a),
        (Some(TunnelDestination::Dynamic), None) => Peer::Dynamic,
        (None, None) => return Err("no tunnel destination".into()),
    };
    let cp = crate::ike_cp::cp_config(cfg, name, itf, prof, &auth_remote)?;
    let local = match &t.source {
        Some(TunnelSource::Address(a)) => Some(*a),
        Some(TunnelSource::Interface(_)) | None => None,
    };
    // With a certificate, as strongSwan: the subject DN unless the
    // profile names another identity, which the certificate must hold.
    let local_id = match (&prof.identity_local, local, our_cert) {
        (Some(model::Identity::Dn), _, Some((_, c))) | (None, _, Some((_, c))) => {
            Identity::Dn(c.subject_der.clone())
        }
        (Some(model::Identity::Dn), _, None) => {
            return Err("identity local dn needs 'authentication local rsa-sig|ecdsa-sig' with a certificate".into())
        }
        (Some(id), _, _) => identity(id),
        (None, Some(a), None) => Identity::Address(a),
        (None, None, None) => return Err("no 'identity local' in the IKEv2 profile and no tunnel source address to use as identity".into()),
    };
    if let (Some((tp, c)), true) = (our_cert, auth_local.is_signature()) {
        if !c.contains_identity(&local_id) {
            return Err(format!(
                "identity local {local_id} is not in the certificate of trustpoint {} ({})",
                tp.name, c.subject
            ));
        }
    }
    let keyring = prof
        .keyring
        .as_deref()
        .and_then(|k| cfg.ikev2_keyrings.get(k));
    let keys: Vec<PeerKey> = keyring
        .map(|k| {
            k.peers
                .iter()
                .filter_map(|(pn, p)| {
                    let both = p
                        .pre_shared_key
                        .as_ref()
                        .map(|s| s.expose().as_bytes().to_vec());
                    let local = p
                        .pre_shared_key_local
                        .as_ref()
                        .map(|s| s.expose().as_bytes().to_vec())
                        .or(both.clone())?;
                    let remote = p
                        .pre_shared_key_remote
                        .as_ref()
                        .map(|s| s.expose().as_bytes().to_vec())
                        .or(both)?;
                    Some(PeerKey {
                        name: pn.clone(),
                        identity: p.identity.as_ref().map(identity),
                        address: p.address.map(|n| (n.ip(), n.prefix())),
                        psk_local: local,
                        psk_remote: remote,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    if keys.is_empty() && uses_psk {
        return Err(match &prof.keyring {
            None => format!("IKEv2 profile {pname} has no 'keyring local'"),
            Some(k) => format!("keyring {k} has no peer with a pre-shared key"),
        });
    }
    let remote_match: Vec<IdentityMatch> = prof.match_identities.iter().map(id_match).collect();
    let remote_id = match &peer {
        Peer::Address(a) => keys
            .iter()
            .find(|k| {
                k.address
                    .is_some_and(|(n, p)| ike::sa::config::prefix_match(*a, n, p))
            })
            .and_then(|k| k.identity.clone()),
        Peer::Dynamic => None,
    };
    if let (Peer::Address(a), true) = (&peer, uses_psk) {
        let probe = TunnelConfig {
            name: String::new(),
            local,
            peer: peer.clone(),
            local_id: local_id.clone(),
            remote_match: vec![],
            remote_id: remote_id.clone(),
            keys: keys.clone(),
            ike: IkeProposal::default(),
            esp: EspProposal {
                transforms: vec![],
                pfs: None,
                esn: false,
            },
            ike_lifetime: Duration::ZERO,
            child_lifetime: Duration::ZERO,
            child_lifetime_kb: 0,
            dpd: None,
            nat_keepalive: Duration::ZERO,
            mobike: false,
            replay_window: 0,
            shutdown: false,
            auth_local: AuthKind::Psk,
            auth_remote: vec![],
            trustpoints: vec![],
            virtual_template: None,
            cp: Default::default(),
        };
        if probe.find_key(*a, remote_id.as_ref()).is_none() {
            return Err(format!("no keyring peer matches destination {a}"));
        }
    }
    let mut ike = IkeProposal::default();
    for pn in &prof.proposals {
        let Some(p) = cfg.ikev2_proposals.get(pn) else {
            continue;
        };
        for e in &p.encryption {
            push(&mut ike.encryption, encr(*e));
        }
        for h in &p.integrity {
            push(&mut ike.integrity, integ(*h));
        }
        for h in &p.prf {
            push(&mut ike.prf, prf(*h));
        }
        for g in &p.groups {
            push(&mut ike.groups, g.0);
        }
    }
    let def = default_ike();
    if ike.encryption.is_empty() {
        ike.encryption = def.encryption.clone();
    }
    if ike.prf.is_empty() {
        ike.prf = def.prf.clone();
    }
    if ike.groups.is_empty() {
        ike.groups = def.groups.clone();
    }
    if ike.integrity.is_empty() && ike.encryption.iter().any(|e| e.0 == 12) {
        ike.integrity = ike
            .prf
            .iter()
            .map(|p| match p {
                2 => 2,
                5 => 12,
                6 => 13,
                _ => 14,
            })
            .collect();
    }
    let mut esp: Vec<(u16, u16, u16)> = Vec::new();
    for ts in &ipsec.transform_sets {
        let Some(set) = cfg.transform_sets.get(ts) else {
            continue;
        };
        for tr in &set.transforms {
            push(
                &mut esp,
                match tr {
                    EspTransform::Gcm { bits } => (20, *bits, 0),
                    EspTransform::Chacha20Poly1305 => (28, 0, 0),
                    EspTransform::Cbc { bits, integrity } => (12, *bits, integ(*integrity)),
                },
            );
        }
    }
    if esp.is_empty() {
        esp = default_esp();
    }
    Ok(TunnelConfig {
        name: name.to_string(),
        local,
        peer,
        local_id,
        remote_match,
        remote_id,
        keys,
        ike,
        esp: EspProposal {
            transforms: esp,
            pfs: ipsec.pfs.map(|g| g.0),
            esn: false,
        },
        ike_lifetime: Duration::from_secs(u64::from(prof.lifetime.unwrap_or(86400))),
        child_lifetime: Duration::from_secs(u64::from(ipsec.lifetime_seconds.unwrap_or(3600))),
        child_lifetime_kb: ipsec.lifetime_kilobytes.unwrap_or(0),
        dpd: prof.dpd.map(|d| DpdConfig {
            interval: Duration::from_secs(u64::from(d.interval)),
            retries: d.retry,
            periodic: d.mode == model::DpdMode::Periodic,
        }),
        nat_keepalive: Duration::from_secs(u64::from(prof.nat_keepalive.unwrap_or(20))),
        mobike: !prof.no_mobike,
        replay_window: ipsec.replay_window.unwrap_or(1024),
        shutdown: itf.shutdown,
        auth_local,
        auth_remote,
        trustpoints,
        virtual_template,
        cp,
    })
}

fn push<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub1_tunnels_resolve_with_keys_ids_and_algorithms() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/configs/hub1.conf"))
                .unwrap();
        let cfg = vtysh::load_config(&text, &Config::default()).unwrap();
        let (ec, problems) = engine_config(&cfg, &Loaded::new());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(ec.tunnels.len(), 2);
        let t1 = &ec.tunnels[0];
        assert_eq!(t1.name, "Tunnel1");
        assert_eq!(t1.peer, Peer::Address("172.16.1.2".parse().unwrap()));
        assert_eq!(t1.local_id, Identity::Fqdn("hub1.lab.rvpn".into()));
        assert_eq!(t1.remote_id, Some(Identity::Fqdn("spoke1.lab.rvpn".into())));
        let k = t1
            .find_key("172.16.1.2".parse().unwrap(), t1.remote_id.as_ref())
            .unwrap();
        // spoke1's key: the first of the keyring in the file.
        let psk = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("pre-shared-key 0 "))
            .unwrap();
        assert_eq!(k.psk_local, psk.as_bytes());
        assert_eq!(t1.ike.encryption, vec![(20, 256), (28, 0)]);
        assert_eq!(t1.ike.prf, vec![6, 5]);
        assert_eq!(t1.ike.groups, vec![31, 19]);
        assert_eq!(t1.esp.transforms, vec![(20, 256, 0)]);
        assert_eq!(t1.esp.pfs, Some(19));
        assert_eq!(t1.dpd.unwrap().interval, Duration::from_secs(10));
        assert!(!format!("{t1:?}").contains(psk), "keys stay out of Debug");
    }

    #[test]
    fn cookie_challenge_sets_the_half_open_threshold() {
        let (ec, _) = engine_config(&Config::default(), &Loaded::new());
        assert_eq!(ec.cookie_threshold, 32, "rvpn's default");
        let cfg =
            vtysh::load_config("crypto ikev2 cookie-challenge 5\n", &Config::default()).unwrap();
        let (ec, _) = engine_config(&cfg, &Loaded::new());
        assert_eq!(ec.cookie_threshold, 5);
    }

    #[test]
    fn fragmentation_reaches_the_engine() {
        let (ec, _) = engine_config(&Config::default(), &Loaded::new());
        assert_eq!(ec.fragment_mtu, Some(1280), "on by default, as documented");
        assert_eq!(ec.fragment_mtu, Some(ike::sa::frag::DEFAULT_MTU));
        assert_eq!(
            vtysh::model::MIN_FRAGMENTATION_MTU,
            ike::sa::frag::MIN_MTU,
            "the shell and the engine agree"
        );
        for (text, mtu) in [
            ("crypto ikev2 fragmentation mtu 576\n", Some(576)),
            ("no crypto ikev2 fragmentation\n", None),
            ("crypto ikev2 fragmentation\n", Some(1280)),
        ] {
            let cfg = vtysh::load_config(text, &Config::default()).unwrap();
            assert_eq!(
                engine_config(&cfg, &Loaded::new()).0.fragment_mtu,
                mtu,
                "{text}"
            );
        }
    }

    #[test]
    fn in_negotiation_limits_reach_the_engine() {
        let (ec, _) = engine_config(&Config::default(), &Loaded::new());
        // The defaults the shell documents are the engine's.
        assert_eq!(
            ec.cookie_threshold,
            vtysh::model::DEFAULT_COOKIE_CHALLENGE as usize
        );
        assert_eq!(
            ec.max_half_open,
            vtysh::model::DEFAULT_MAX_IN_NEGOTIATION_SA as usize
        );
        assert_eq!(
            ec.max_half_open_per_address,
            vtysh::model::DEFAULT_MAX_IN_NEGOTIATION_SA_PER_ADDRESS as usize
        );
        let cfg = vtysh::load_config(
            "crypto ikev2 cookie-challenge 20\ncrypto ikev2 limit max-in-negotiation-sa 300\ncrypto ikev2 limit max-in-negotiation-sa-per-address 4\n",
            &Config::default(),
        )
        .unwrap();
        let (ec, _) = engine_config(&cfg, &Loaded::new());
        assert_eq!(
            (
                ec.cookie_threshold,
                ec.max_half_open,
                ec.max_half_open_per_address
            ),
            (20, 300, 4)
        );
    }

    #[test]
    fn unusable_tunnels_say_why() {
        let text = "crypto ikev2 keyring K\n peer p\n  address 192.0.2.9\n  pre-shared-key 0 0123456789abcdef0\ncrypto ikev2 profile P\n keyring local K\n authentication local rsa-sig\ncrypto ipsec profile I\n set ikev2-profile P\ninterface Tunnel1\n tunnel source 192.0.2.1\n tunnel destination 192.0.2.2\n tunnel protection ipsec profile I\n";
        let cfg = vtysh::load_config(text, &Config::default()).unwrap();
        let (ec, problems) = engine_config(&cfg, &Loaded::new());
        assert!(ec.tunnels.is_empty());
        assert!(
            problems[0]
                .1
                .contains("authenticates with certificates but has no 'pki trustpoint'"),
            "{problems:?}"
        );
        // A trustpoint that did not load: its reason.
        let with_tp = text.replace(
            " authentication local rsa-sig\n",
            " authentication local rsa-sig\n pki trustpoint T\n",
        );
        let with_tp =
            format!("crypto pki trustpoint T\n ca-certificate /nonexistent/ca.pem\n{with_tp}");
        let cfg = vtysh::load_config(&with_tp, &Config::default()).unwrap();
        let mut loaded = Loaded::new();
        loaded.insert(
            "T".into(),
            Err("ca-certificate /nonexistent/ca.pem: cannot read".into()),
        );
        let (_, problems) = engine_config(&cfg, &loaded);
        assert!(
            problems[0]
                .1
                .contains("trustpoint T: ca-certificate /nonexistent/ca.pem: cannot read"),
            "{problems:?}"
        );
        let text = text.replace(" authentication local rsa-sig\n", "");
        let cfg = vtysh::load_config(&text, &Config::default()).unwrap();
        let (_, problems) = engine_config(&cfg, &Loaded::new());
        assert!(
            problems[0]
                .1
                .contains("no keyring peer matches destination 192.0.2.2"),
            "{problems:?}"
        );
    }
}
