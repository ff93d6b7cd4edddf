//! Certificate authentication between two engines (the PKI of
//! ike/src/pki/testdata): ECDSA and RSA both ways, PSK one way and a
//! certificate the other, and each refusal with its reason.

use super::*;
use crate::pki::{TrustPoint, TrustPointFiles};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

fn data(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src/pki/testdata")).join(name)
}

fn trustpoint(
    ca: &str,
    cert: Option<&str>,
    key: Option<&str>,
    crl: Option<&str>,
) -> Arc<TrustPoint> {
    let (ca, cert, key, crl) = (data(ca), cert.map(data), key.map(data), crl.map(data));
    let files = TrustPointFiles {
        ca: Some(&ca),
        certificate: cert.as_deref(),
        key: key.as_deref(),
        crl: crl.as_deref(),
    };
    Arc::new(TrustPoint::load("LAB-CA", &files, SystemTime::now()).expect("test trustpoint loads"))
}

/// A side that signs with `cert`/`key` as `me` and verifies the peer
/// `them` with certificates of the lab CA.
fn cert_tunnel(
    local: &str,
    peer: Peer,
    me: Identity,
    them: &str,
    cert: &str,
    key: &str,
    kind: AuthKind,
) -> TunnelConfig {
    let mut t = tunnel(local, peer, "unused", them, "", "");
    t.local_id = me;
    t.keys.clear();
    t.auth_local = kind;
    t.auth_remote = vec![AuthKind::Ecdsa, AuthKind::Rsa { pss: false }];
    t.trustpoints = vec![trustpoint("ca.pem", Some(cert), Some(key), None)];
    t
}

/// One pre-shared key for any address, for the PSK direction of mixed
/// tests.
fn shared_psk() -> PeerKey {
    PeerKey {
        name: "p".into(),
        identity: None,
        address: Some((ip("0.0.0.0"), 0)),
        psk_local: b"hub-to-spoke-psk-0123".to_vec(),
        psk_remote: b"hub-to-spoke-psk-0123".to_vec(),
    }
}

fn hub1_id() -> Identity {
    Identity::Fqdn("hub1.example.net".into())
}
fn spoke1_id() -> Identity {
    Identity::Fqdn("spoke1.example.net".into())
}

/// A (spoke1, ECDSA) initiates to B (hub1, RSA).
fn ecdsa_to_rsa() -> Pair {
    let a = cert_tunnel(
        A,
        Peer::Address(ip(B)),
        spoke1_id(),
        "hub1.example.net",
        "spoke1.pem",
        "spoke1.key",
        AuthKind::Ecdsa,
    );
    let b = cert_tunnel(
        B,
        Peer::Dynamic,
        hub1_id(),
        "spoke1.example.net",
        "hub1-chain.pem",
        "hub1.key",
        AuthKind::Rsa { pss: true },
    );
    Pair::new(vec![a], vec![b])
}

fn auth_of(s: &Side) -> (Option<crate::sa::AuthInfo>, Option<crate::sa::AuthInfo>) {
    let sas = s.e.ike_sas(Instant::now());
    let sa = sas.first().expect("an IKE SA");
    (sa.auth_local.clone(), sa.auth_remote.clone())
}

#[test]
fn ecdsa_and_rsa_pss_certificates_authenticate_both_ways() {
    let mut p = ecdsa_to_rsa();
    p.run(Duration::from_secs(5));
    assert_eq!(p.a.last(), Some(&TunnelStatus::Up), "{:?}", p.a.log);
    assert_eq!(p.b.last(), Some(&TunnelStatus::Up), "{:?}", p.b.log);
    p.assert_paired();
    let (sign, verify) = auth_of(&p.a);
    let (sign, verify) = (sign.unwrap(), verify.unwrap());
    assert!(
        sign.method.starts_with("ECDSA-P256-SHA256 (RFC 7427)"),
        "{sign:?}"
    );
    assert!(
        verify.method.starts_with("RSA-PSS-SHA256 (RFC 7427)"),
        "{verify:?}"
    );
    assert_eq!(verify.cert.as_deref(), Some("C=CH, O=Lab, CN=hub1"));
    let (bsign, bverify) = auth_of(&p.b);
    assert!(bsign.unwrap().method.contains("RSA-PSS"));
    assert_eq!(bverify.unwrap().cert.as_deref(), Some("CN=spoke1"));
}

#[test]
fn rsa_pkcs1_is_the_default_padding() {
    let a = cert_tunnel(
        A,
        Peer::Address(ip(B)),
        spoke1_id(),
        "hub1.example.net",
        "spoke1.pem",
        "spoke1.key",
        AuthKind::Ecdsa,
    );
    let b = cert_tunnel(
        B,
        Peer::Dynamic,
        hub1_id(),
        "spoke1.example.net",
        "hub1-chain.pem",
        "hub1.key",
        AuthKind::Rsa { pss: false },
    );
    let mut p = Pair::new(vec![a], vec![b]);
    p.run(Duration::from_secs(5));
    assert_eq!(p.a.last(), Some(&TunnelStatus::Up), "{:?}", p.a.log);
    let (_, verify) = auth_of(&p.a);
    assert!(verify.unwrap().method.starts_with("RSA-SHA256"));
}

#[test]
fn a_dn_identity_is_matched_against_the_subject() {
    let tp = trustpoint("ca.pem", Some("spoke1.pem"), Some("spoke1.key"), None);
    let dn = Identity::Dn(tp.chain[0].subject_der.clone());
    let a = cert_tunnel(
        A,
        Peer::Address(ip(B)),
        dn,
        "hub1.example.net",
        "spoke1.pem",
        "spoke1.key",
        AuthKind::Ecdsa,
    );
    let mut b = cert_tunnel(
        B,
        Peer::Dynamic,
        hub1_id(),
        "x",
        "hub1-chain.pem",
        "hub1.key",
        AuthKind::Rsa { pss: false },
    );
    b.remote_match = vec![IdentityMatch::Any];
    b.remote_id = None;
    let mut p = Pair::new(vec![a], vec![b]);
    p.run(Duration::from_secs(5));
    assert_eq!(p.b.last(), Some(&TunnelStatus::Up), "{:?}", p.b.log);
    let sas = p.b.e.ike_sas(p.now);
    assert_eq!(sas[0].remote_id.as_deref(), Some("CN=spoke1"));
}

#[test]
fn an_identity_not_in_the_certificate_is_refused() {
    // spoke1 claims to be spoke2: its certificate does not say so.
    let a = cert_tunnel(
        A,
        Peer::Address(ip(B)),
        Identity::Fqdn("spoke2.example.net".into()),
        "hub1.example.net",
        "spoke1.pem",
        "spoke1.key",
        AuthKind::Ecdsa,
    );
    let mut b = cert_tunnel(
        B,
        Peer::Dynamic,
        hub1_id(),
        "x",
        "hub1-chain.pem",
        "hub1.key",
        AuthKind::Rsa { pss: false },
    );
    b.remote_match = vec![IdentityMatch::Any];
    b.remote_id = None;
    let mut p = Pair::new(vec![a], vec![b]);
    p.run(Duration::from_secs(5));
    match p.b.last() {
        Some(TunnelStatus::Phase1Failed(why)) => {
            assert_eq!(why, "ID spoke2.example.net not in certificate")
        }
        other => panic!("{other:?} {:?}", p.b.log),
    }
    assert!(
        matches!(p.a.last(), Some(TunnelStatus::Phase1Failed(w)) if w.contains("AUTHENTICATION_FAILED"))
    );
}

#[test]
fn an_expired_peer_certificate_is_refused_with_its_date() {
    let mut p = ecdsa_to_rsa();
    // B lives 30 years on: A's certificate has expired by then.
    let later = SystemTime::now() + Duration::from_secs(30 * 365 * 86400);
    p.b.e.set_wall_clock(p.now, later);
    p.run(Duration::from_secs(5));
    match p.b.last() {
        Some(TunnelStatus::Phase1Failed(why)) => {
            assert!(
                why.starts_with("certificate expired on ") || why.contains("expired on"),
                "{why}"
            )
        }
        other => panic!("{other:?} {:?}", p.b.log),
    }
}

#[test]
fn a_certificate_of_another_ca_is_refused() {
    // B trusts only the other CA (and answers with a PSK); A's
    // certificate comes from the lab CA.
    let mut a = cert_tunnel(
        A,
        Peer::Address(ip(B)),
        spoke1_id(),
        "hub1.example.net",
        "spoke1.pem",
        "spoke1.key",
        AuthKind::Ecdsa,
    );
    let mut b = cert_tunnel(
        B,
        Peer::Dynamic,
        hub1_id(),
        "spoke1.example.net",
        "hub1-chain.pem",
        "hub1.key",
        AuthKind::Psk,
    );
    b.trustpoints = vec![trustpoint("other.pem", None, None, None)];
    let key = shared_psk();
    b.keys = vec![key.clone()];
    a.keys = vec![key];
    a.auth_remote = vec![AuthKind::Psk];
    let mut p = Pair::new(vec![a], vec![b]);
    p.run(Duration::from_secs(5));
    match p.b.last() {
        Some(TunnelStatus::Phase1Failed(why)) => {
            assert_eq!(why, "chain does not reach trustpoint LAB-CA")
        }
        other => panic!("{other:?} {:?}", p.b.log),
    }
}

#[test]
fn a_revoked_certificate_is_refused_by_the_crl() {
    // spoke7 is revoked in ca.crl.
    let a = cert_tunnel(
        A,
        Peer::Address(ip(B)),
        Identity::Fqdn("x".into()),
        "hub1.example.net",
        "spoke7.pem",
        "spoke7.key",
        AuthKind::Ecdsa,
    );
    let mut a = a;
    a.local_id = Identity::Dn(a.trustpoints[0].chain[0].subject_der.clone());
    let mut b = cert_tunnel(
        B,
        Peer::Dynamic,
        hub1_id(),
        "x",
        "hub1-chain.pem",
        "hub1.key",
        AuthKind::Rsa { pss: false },
    );
    b.remote_match = vec![IdentityMatch::Any];
    b.remote_id = None;
    b.trustpoints = vec![trustpoint(
        "ca.pem",
        Some("hub1-chain.pem"),
        Some("hub1.key"),
        Some("ca.crl"),
    )];
    let mut p = Pair::new(vec![a], vec![b]);
    p.run(Duration::from_secs(5));
    match p.b.last() {
        Some(TunnelStatus::Phase1Failed(why)) => {
            assert!(
                why.starts_with("certificate of CN=spoke7 revoked (CRL of CN=Lab CA, serial 0x"),
                "{why}"
            )
        }
        other => panic!("{other:?} {:?}", p.b.log),
    }
}

#[test]
fn psk_one_way_and_a_certificate_the_other() {
    let mut a = cert_tunnel(
        A,
        Peer::Address(ip(B)),
        spoke1_id(),
        "hub1.example.net",
        "spoke1.pem",
        "spoke1.key",
        AuthKind::Ecdsa,
    );
    let mut b = cert_tunnel(
        B,
        Peer::Dynamic,
        hub1_id(),
        "spoke1.example.net",
        "hub1-chain.pem",
        "hub1.key",
        AuthKind::Psk,
    );
    // B authenticates with a PSK, A with its certificate.
    let key = shared_psk();
    b.keys = vec![key.clone()];
    a.keys = vec![key];
    a.auth_remote = vec![AuthKind::Psk];
    let mut p = Pair::new(vec![a], vec![b]);
    p.run(Duration::from_secs(5));
    assert_eq!(p.a.last(), Some(&TunnelStatus::Up), "{:?}", p.a.log);
    let (sign, verify) = auth_of(&p.a);
    assert!(sign.unwrap().method.contains("ECDSA"));
    assert_eq!(verify.unwrap().method, "pre-shared key");
    // A profile that wants a certificate refuses the PSK, naming both.
    let mut b2 = p.b.e.cfg.tunnels[0].clone();
    b2.auth_remote = vec![AuthKind::Rsa { pss: false }];
    let mut a2 = p.a.e.cfg.tunnels[0].clone();
    a2.auth_local = AuthKind::Psk;
    let mut q = Pair::new(vec![a2], vec![b2]);
    q.run(Duration::from_secs(5));
    match q.b.last() {
        Some(TunnelStatus::Phase1Failed(why)) => assert!(
            why.contains("authenticated with a pre-shared key, but the profile allows authentication remote rsa-sig"),
            "{why}"
        ),
        other => panic!("{other:?} {:?}", q.b.log),
    }
}

#[test]
fn the_init_exchange_announces_hashes_and_names_the_ca() {
    let mut p = ecdsa_to_rsa();
    p.run(Duration::from_secs(5));
    let sa_b = p.b.e.sas.values().next().expect("B's SA");
    assert_eq!(sa_b.peer_hashes.as_deref(), Some(&[2u16, 3, 4][..]));
    let sa_a = p.a.e.sas.values().next().expect("A's SA");
    let req = sa_a.peer_certreq.as_ref().expect("B sent a CERTREQ");
    let tp = trustpoint("ca.pem", None, None, None);
    assert_eq!(req, &tp.certreq_data());
}

#[test]
fn without_a_wall_clock_a_certificate_is_not_yet_valid() {
    // The core reads no clock: a driver that never set one gets every
    // peer certificate refused, never accepted.
    let mut p = ecdsa_to_rsa();
    p.b.e.wall_anchor = None;
    p.run(Duration::from_secs(5));
    match p.b.last() {
        Some(TunnelStatus::Phase1Failed(why)) => assert!(why.contains("not valid before"), "{why}"),
        other => panic!("{other:?} {:?}", p.b.log),
    }
}
