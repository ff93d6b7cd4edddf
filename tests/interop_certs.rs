//! Certificate authentication against strongSwan (issue 15), in both IKE
//! roles: RSA-3072 (PKCS#1 v1.5 and PSS), ECDSA P-256 and P-384, a chain
//! with an intermediate CA, FQDN / e-mail / DN identities, a certificate
//! revoked by CRL, an expired one and one from another CA, refused with
//! the reason. The PKI is made with openssl when the test runs.
//! Needs root and the packages that scripts/test installs.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::netns::{veth, Netns};
use support::pki::{Issued, KeyForm, KeyType, Pki};
use support::rvpn::Rvpnd;
use support::strongswan::{IkeSaInfo, StrongSwan, SwanConn, SwanOpts};
use support::wait_for;

const RVPN: &str = "10.98.0.1";
const SWAN: &str = "10.98.0.2";

/// rvpn's trustpoint and profile for one case.
struct RvpnSide {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    crl: Option<PathBuf>,
    /// `identity local ...`
    local_id: String,
    /// `match identity remote ...`
    remote_match: String,
    /// `authentication local ...`
    auth_local: String,
    /// `authentication remote ...`
    auth_remote: String,
}

fn rvpn_config(s: &RvpnSide, destination: &str) -> String {
    let p = |p: &Path| p.display().to_string();
    format!(
        "hostname rvpn1
crypto pki trustpoint LAB-CA
 ca-certificate {ca}
 certificate {cert}
 private-key {key}
 revocation-check {rev}
!
crypto ikev2 profile PROF
 match identity remote {rm}
 identity local {lid}
 authentication local {al}
 authentication remote {ar}
 pki trustpoint LAB-CA
!
crypto ipsec transform-set TS esp-gcm 256
!
crypto ipsec profile IPS
 set transform-set TS
 set ikev2-profile PROF
!
interface Tunnel1
 ip address 169.254.100.1/30
 tunnel source {RVPN}
 tunnel destination {destination}
 tunnel protection ipsec profile IPS
!
",
        ca = p(&s.ca),
        cert = p(&s.cert),
        key = p(&s.key),
        rev = s
            .crl
            .as_ref()
            .map(|c| format!("crl {}", p(c)))
            .unwrap_or_else(|| "none".into()),
        rm = s.remote_match,
        lid = s.local_id,
        al = s.auth_local,
        ar = s.auth_remote,
    )
}

/// strongSwan's credentials for one case.
struct SwanSide {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    crl: Option<PathBuf>,
    /// More CA certificates (an intermediate it sends along).
    more_cas: Vec<PathBuf>,
    local_id: String,
    remote_id: String,
    /// `local.auth`.
    auth: String,
    /// strongswan.conf: sign RSA with PSS.
    rsa_pss: bool,
}

struct Lab {
    rvpn: Rvpnd,
    swan: StrongSwan,
    _a: Netns,
    _b: Netns,
}

fn lab(r: &RvpnSide, s: &SwanSide, rvpn_initiates: bool) -> Lab {
    lab_on(r, s, rvpn_initiates, None, "")
}

/// [`lab`] on a link of `mtu` that drops IP fragments (when given), with
/// `global` lines (e.g. `no crypto ikev2 fragmentation`) in rvpn's config.
fn lab_on(r: &RvpnSide, s: &SwanSide, rvpn_initiates: bool, mtu: Option<u16>, global: &str) -> Lab {
    support::require_interop();
    let a = Netns::new("rc");
    let b = Netns::new("sc");
    let link = veth(&a, &b, &format!("{RVPN}/24"), &format!("{SWAN}/24"));
    if let Some(mtu) = mtu {
        for (ns, dev) in [(&a, &link.a_if), (&b, &link.b_if)] {
            ns.exec_ok(&["ip", "link", "set", dev, "mtu", &mtu.to_string()]);
            ns.iptables(&["-t", "raw", "-A", "PREROUTING", "-f", "-j", "DROP"]);
        }
    }
    let mut opts = SwanOpts::tagged("sc");
    if s.rsa_pss {
        opts.extra_charon.push("rsa_pss = yes".into());
    }
    let mut swan = StrongSwan::start(&b, opts);
    swan.add_cred("x509ca", "ca.pem", &s.ca);
    for (i, c) in s.more_cas.iter().enumerate() {
        swan.add_cred("x509ca", &format!("ca{i}.pem"), c);
    }
    let certs = swan.add_cred("x509", "swan.pem", &s.cert);
    swan.add_cred("private", "swan.key", &s.key);
    if let Some(c) = &s.crl {
        swan.add_cred("x509crl", "ca.crl", c);
    }
    let mut conn = SwanConn::psk("rvpn", SWAN, RVPN, &s.local_id, &s.remote_id, "");
    conn.local_auth = s.auth.clone();
    conn.remote_auth = "pubkey".into();
    conn.local_certs = Some(certs);
    if !rvpn_initiates {
        conn.start_action = "start".into();
    }
    swan.load(&[conn]);
    let dest = if rvpn_initiates { SWAN } else { "dynamic" };
    let rvpn = Rvpnd::start(&a, &format!("{global}\n{}", rvpn_config(r, dest)));
    Lab {
        rvpn,
        swan,
        _a: a,
        _b: b,
    }
}

fn session(rvpn: &Rvpnd) -> Value {
    rvpn.show_json("show crypto session detail")["sessions"][0].clone()
}

fn status(l: &Lab) -> String {
    session(&l.rvpn)["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Both ends up; returns strongSwan's view and rvpn's IKE SA (JSON).
fn wait_up(l: &Lab) -> (IkeSaInfo, Value) {
    let ok = wait_for(|| status(l) == "UP-ACTIVE", Duration::from_secs(20));
    assert!(
        ok,
        "rvpn did not come up: {}\n--- rvpnd log:\n{}\n--- charon log:\n{}",
        status(l),
        l.rvpn.log(),
        l.swan.log()
    );
    let sa = l
        .swan
        .wait_established("rvpn", "net", Duration::from_secs(5));
    let ours = l.rvpn.show_json("show crypto ikev2 sa detail")["ike_sas"][0].clone();
    (sa, ours)
}

fn wait_failed(l: &Lab, needle: &str) -> String {
    let ok = wait_for(
        || {
            let s = status(l);
            s.contains("PHASE1-FAILED") && s.contains(needle)
        },
        Duration::from_secs(20),
    );
    let st = status(l);
    assert!(
        ok,
        "status {st:?} lacks PHASE1-FAILED with {needle:?}\n--- rvpnd log:\n{}\n--- charon log:\n{}",
        l.rvpn.log(),
        l.swan.log()
    );
    st
}

/// A PKI with one root, and certificates for both ends.
struct Setup {
    pki: Pki,
    ca: Issued,
    rvpn: Issued,
    swan: Issued,
}

fn setup(kt: KeyType, rvpn_sans: &[&str], swan_sans: &[&str]) -> Setup {
    let pki = Pki::new("pki");
    let ca = pki.root("ca", "/O=Lab/CN=Lab CA", KeyType::P256);
    let rvpn = pki.leaf(&ca, "rvpn", "/O=Lab/CN=rvpn", rvpn_sans, kt);
    let swan = pki.leaf(&ca, "swan", "/O=Lab/CN=swan", swan_sans, kt);
    Setup {
        pki,
        ca,
        rvpn,
        swan,
    }
}

fn sides(s: &Setup, auth: &str, rvpn_id: &str, swan_id: &str) -> (RvpnSide, SwanSide) {
    let r = RvpnSide {
        ca: s.ca.cert.clone(),
        cert: s.rvpn.cert.clone(),
        key: s.rvpn.key.clone(),
        crl: None,
        local_id: rvpn_id.into(),
        remote_match: "any".into(),
        auth_local: auth.into(),
        auth_remote: auth.into(),
    };
    let w = SwanSide {
        ca: s.ca.cert.clone(),
        cert: s.swan.cert.clone(),
        key: s.swan.key.clone(),
        crl: None,
        more_cas: vec![],
        local_id: swan_id.into(),
        remote_id: "%any".into(),
        auth: "pubkey".into(),
        rsa_pss: false,
    };
    (r, w)
}

fn assert_auth(ours: &Value, verify: &str, sign: &str) {
    let v = ours["auth_verify"].as_str().unwrap_or_default();
    let s = ours["auth_sign"].as_str().unwrap_or_default();
    assert!(
        v.contains(verify),
        "auth_verify {v:?} lacks {verify:?}: {ours}"
    );
    assert!(s.contains(sign), "auth_sign {s:?} lacks {sign:?}: {ours}");
}

#[test]
fn ecdsa_p256_with_fqdn_identities_in_both_roles() {
    let s = setup(KeyType::P256, &["DNS:rvpn.test"], &["DNS:swan.test"]);
    for rvpn_initiates in [true, false] {
        let (mut r, mut w) = sides(&s, "ecdsa-sig", "fqdn rvpn.test", "swan.test");
        r.remote_match = "fqdn swan.test".into();
        w.remote_id = "rvpn.test".into();
        let l = lab(&r, &w, rvpn_initiates);
        let (sa, ours) = wait_up(&l);
        assert_eq!(sa.initiator, !rvpn_initiates);
        assert_eq!(sa.remote_id, "rvpn.test");
        assert_eq!(ours["remote_id"], "swan.test");
        assert_auth(
            &ours,
            "ECDSA-P256-SHA256 (RFC 7427)",
            "ECDSA-P256-SHA256 (RFC 7427)",
        );
        assert_eq!(ours["remote_certificate"], "O=Lab, CN=swan", "{ours}");
        assert_eq!(ours["local_certificate"], "O=Lab, CN=rvpn", "{ours}");
        let log = l.swan.log();
        assert!(
            log.lines()
                .any(|x| x.contains("authentication of 'rvpn.test' with")
                    && x.contains("ECDSA")
                    && x.contains("successful")),
            "strongSwan verified our ECDSA signature:\n{log}"
        );
        let detail = l.rvpn.vtysh_ok(&["show crypto ikev2 sa detail"]);
        assert!(
            detail.contains("Remote certificate: O=Lab, CN=swan"),
            "{detail}"
        );
    }
}

#[test]
fn ecdsa_p384_with_email_identities_in_both_roles() {
    let s = setup(
        KeyType::P384,
        &["email:rvpn@lab.test"],
        &["email:swan@lab.test"],
    );
    for rvpn_initiates in [true, false] {
        let (mut r, mut w) = sides(&s, "ecdsa-sig", "email rvpn@lab.test", "swan@lab.test");
        r.remote_match = "email domain lab.test".into();
        w.remote_id = "rvpn@lab.test".into();
        let l = lab(&r, &w, rvpn_initiates);
        let (sa, ours) = wait_up(&l);
        assert_eq!(sa.remote_id, "rvpn@lab.test");
        assert_eq!(ours["remote_id"], "swan@lab.test");
        assert_auth(&ours, "ECDSA-P384-SHA384", "ECDSA-P384-SHA384");
    }
}

#[test]
fn rsa3072_pkcs1_with_dn_identities_in_both_roles() {
    let s = setup(KeyType::Rsa(3072), &[], &[]);
    for rvpn_initiates in [true, false] {
        let (r, mut w) = sides(&s, "rsa-sig", "dn", "O=Lab, CN=swan");
        w.remote_id = "O=Lab, CN=rvpn".into();
        let l = lab(&r, &w, rvpn_initiates);
        let (sa, ours) = wait_up(&l);
        assert_eq!(sa.remote_id, "O=Lab, CN=rvpn");
        assert_eq!(ours["remote_id"], "O=Lab, CN=swan");
        assert_auth(&ours, "RSA-SHA256", "RSA-SHA256");
    }
}

#[test]
fn rsa3072_pss_in_both_roles() {
    let s = setup(KeyType::Rsa(3072), &["DNS:rvpn.test"], &["DNS:swan.test"]);
    for rvpn_initiates in [true, false] {
        let (mut r, mut w) = sides(&s, "rsa-sig", "fqdn rvpn.test", "swan.test");
        r.auth_local = "rsa-sig pss".into();
        w.rsa_pss = true;
        let l = lab(&r, &w, rvpn_initiates);
        let (_, ours) = wait_up(&l);
        assert_auth(&ours, "RSA-PSS-SHA256", "RSA-PSS-SHA256");
        assert!(
            l.swan.log().contains("RSASSA-PSS")
                || l.swan.log().contains("rsassa-pss")
                || l.swan.log().contains("RSA_EMSA_PSS"),
            "strongSwan saw a PSS signature:\n{}",
            l.swan.log()
        );
    }
}

#[test]
fn chain_with_an_intermediate_ca_in_both_roles() {
    let pki = Pki::new("pki");
    let root = pki.root("root", "/O=Lab/CN=Lab Root", KeyType::P384);
    let sub = pki.intermediate(&root, "sub", "/O=Lab/CN=Lab Sub CA", KeyType::P256);
    let rv = pki.leaf(
        &sub,
        "rvpn",
        "/O=Lab/CN=rvpn",
        &["DNS:rvpn.test"],
        KeyType::P256,
    );
    let sw = pki.leaf(
        &sub,
        "swan",
        "/O=Lab/CN=swan",
        &["DNS:swan.test"],
        KeyType::P256,
    );
    // rvpn's certificate file carries the intermediate after its own.
    let bundle = pki.bundle("rvpn-chain.pem", &[&rv.cert, &sub.cert]);
    for rvpn_initiates in [true, false] {
        let r = RvpnSide {
            ca: root.cert.clone(),
            cert: bundle.clone(),
            key: pki.key_as(&rv, KeyForm::Traditional),
            crl: None,
            local_id: "fqdn rvpn.test".into(),
            remote_match: "fqdn swan.test".into(),
            auth_local: "ecdsa-sig".into(),
            auth_remote: "ecdsa-sig".into(),
        };
        let w = SwanSide {
            ca: root.cert.clone(),
            cert: sw.cert.clone(),
            key: sw.key.clone(),
            crl: None,
            more_cas: vec![sub.cert.clone()],
            local_id: "swan.test".into(),
            remote_id: "rvpn.test".into(),
            auth: "pubkey".into(),
            rsa_pss: false,
        };
        let l = lab(&r, &w, rvpn_initiates);
        let (sa, ours) = wait_up(&l);
        assert_eq!(sa.remote_id, "rvpn.test");
        assert_eq!(ours["remote_certificate"], "O=Lab, CN=swan");
    }
}

#[test]
fn a_revoked_certificate_is_refused_by_crl_in_both_roles() {
    let s = setup(KeyType::P256, &["DNS:rvpn.test"], &["DNS:swan.test"]);
    let crl = s.pki.revoke_and_crl(&s.ca, &[&s.swan]);
    for rvpn_initiates in [true, false] {
        let (mut r, w) = sides(&s, "ecdsa-sig", "fqdn rvpn.test", "swan.test");
        r.crl = Some(crl.clone());
        let l = lab(&r, &w, rvpn_initiates);
        let st = wait_failed(&l, "revoked");
        let want = format!(
            "certificate of O=Lab, CN=swan revoked (CRL of O=Lab, CN=Lab CA, serial 0x{})",
            s.swan.serial.to_lowercase().trim_start_matches('0')
        );
        assert!(st.contains(&want), "{st}\nwant {want}");
        let up = l.swan.list_sas().iter().any(|sa| sa.state == "ESTABLISHED");
        assert!(!up, "no IKE SA is up on strongSwan");
    }
    // And strongSwan refuses our revoked certificate with its CRL.
    let crl2 = s.pki.revoke_and_crl(&s.ca, &[&s.rvpn]);
    let (r, mut w) = sides(&s, "ecdsa-sig", "fqdn rvpn.test", "swan.test");
    w.crl = Some(crl2);
    let l = lab(&r, &w, true);
    let st = wait_failed(&l, "AUTHENTICATION_FAILED");
    assert!(st.contains("peer rejected our authentication"), "{st}");
    assert!(l.swan.log().contains("revoked"), "{}", l.swan.log());
}

#[test]
fn an_expired_certificate_is_refused_in_both_roles() {
    let s = setup(KeyType::P256, &["DNS:rvpn.test"], &["DNS:swan.test"]);
    let old = s.pki.expired_leaf(
        &s.ca,
        "swan-old",
        "/O=Lab/CN=swan",
        &["DNS:swan.test"],
        KeyType::P256,
    );
    for rvpn_initiates in [true, false] {
        let (r, mut w) = sides(&s, "ecdsa-sig", "fqdn rvpn.test", "swan.test");
        w.cert = old.cert.clone();
        w.key = old.key.clone();
        let l = lab(&r, &w, rvpn_initiates);
        let st = wait_failed(&l, "expired");
        assert!(st.contains("certificate expired on 2026-01-01"), "{st}");
    }
}

#[test]
fn a_certificate_from_another_ca_is_refused_in_both_roles() {
    let s = setup(KeyType::P256, &["DNS:rvpn.test"], &["DNS:swan.test"]);
    let other = s
        .pki
        .root("other", "/O=Elsewhere/CN=Other CA", KeyType::P256);
    let stranger = s.pki.leaf(
        &other,
        "stranger",
        "/O=Elsewhere/CN=swan",
        &["DNS:swan.test"],
        KeyType::P256,
    );
    for rvpn_initiates in [true, false] {
        let (r, mut w) = sides(&s, "ecdsa-sig", "fqdn rvpn.test", "swan.test");
        w.cert = stranger.cert.clone();
        w.key = stranger.key.clone();
        // strongSwan itself trusts rvpn's CA.
        let l = lab(&r, &w, rvpn_initiates);
        let st = wait_failed(&l, "chain does not reach");
        assert!(
            st.contains("chain does not reach trustpoint LAB-CA"),
            "{st}"
        );
    }
}

#[test]
fn psk_one_way_and_certificate_the_other() {
    let s = setup(KeyType::P256, &["DNS:rvpn.test"], &["DNS:swan.test"]);
    let psk = "mixed-psk-0123456789abcdef";
    for rvpn_initiates in [true, false] {
        // rvpn signs, strongSwan uses the PSK.
        let (mut r, mut w) = sides(&s, "ecdsa-sig", "fqdn rvpn.test", "swan.test");
        r.auth_remote = "pre-share".into();
        w.auth = "psk".into();
        w.remote_id = "rvpn.test".into();
        let text = rvpn_config(&r, if rvpn_initiates { SWAN } else { "dynamic" }).replace(
            "\n pki trustpoint LAB-CA\n",
            &format!("\n pki trustpoint LAB-CA\n keyring local K\n!\ncrypto ikev2 keyring K\n peer swan\n  address {SWAN}\n  identity fqdn swan.test\n  pre-shared-key 0 {psk}\n"),
        );
        let l = lab_text(&text, &w, rvpn_initiates, Some(psk));
        let (_, ours) = wait_up(&l);
        assert_eq!(ours["auth_verify"], "pre-shared key");
        assert!(
            ours["auth_sign"]
                .as_str()
                .unwrap_or_default()
                .contains("ECDSA"),
            "{ours}"
        );
    }
}

/// [`lab`] with rvpn's configuration as text and an optional PSK on
/// strongSwan's side (for the direction that uses one).
fn lab_text(rvpn_conf: &str, s: &SwanSide, rvpn_initiates: bool, psk: Option<&str>) -> Lab {
    support::require_interop();
    let a = Netns::new("rc");
    let b = Netns::new("sc");
    veth(&a, &b, &format!("{RVPN}/24"), &format!("{SWAN}/24"));
    let mut swan = StrongSwan::start(&b, SwanOpts::tagged("sc"));
    swan.add_cred("x509ca", "ca.pem", &s.ca);
    let certs = swan.add_cred("x509", "swan.pem", &s.cert);
    swan.add_cred("private", "swan.key", &s.key);
    let mut conn = SwanConn::psk(
        "rvpn",
        SWAN,
        RVPN,
        &s.local_id,
        &s.remote_id,
        psk.unwrap_or(""),
    );
    conn.local_auth = s.auth.clone();
    conn.remote_auth = "pubkey".into();
    conn.local_certs = Some(certs);
    if !rvpn_initiates {
        conn.start_action = "start".into();
    }
    swan.load(&[conn]);
    let rvpn = Rvpnd::start(&a, rvpn_conf);
    Lab {
        rvpn,
        swan,
        _a: a,
        _b: b,
    }
}

#[test]
fn bad_trustpoint_files_are_refused_with_the_reason() {
    let s = setup(KeyType::P256, &["DNS:rvpn.test"], &["DNS:swan.test"]);
    let other = s.pki.root("other", "/CN=Other CA", KeyType::P256);
    let old = s
        .pki
        .expired_leaf(&s.ca, "old", "/CN=old", &["DNS:rvpn.test"], KeyType::P256);
    support::require_interop();
    let a = Netns::new("rc");
    let rvpn = Rvpnd::start(&a, "hostname r\n");
    let try_tp = |lines: &[String]| -> String {
        let mut cmds = vec![
            "configure terminal".to_string(),
            "crypto pki trustpoint T".into(),
        ];
        cmds.extend(lines.iter().cloned());
        let refs: Vec<&str> = cmds.iter().map(String::as_str).collect();
        let o = rvpn.vtysh(&refs);
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    let d = |p: &Path| p.display().to_string();
    let out = try_tp(&[" ca-certificate /nonexistent/ca.pem".into()]);
    assert!(
        out.contains("ca-certificate /nonexistent/ca.pem: cannot read"),
        "{out}"
    );
    let out = try_tp(&[
        format!(" ca-certificate {}", d(&s.ca.cert)),
        format!(" certificate {}", d(&s.rvpn.cert)),
        format!(" private-key {}", d(&s.swan.key)),
    ]);
    assert!(out.contains("does not match"), "{out}");
    let out = try_tp(&[
        format!(" ca-certificate {}", d(&other.cert)),
        format!(" certificate {}", d(&s.rvpn.cert)),
        format!(" private-key {}", d(&s.rvpn.key)),
    ]);
    assert!(out.contains("does not chain"), "{out}");
    let out = try_tp(&[
        format!(" ca-certificate {}", d(&s.ca.cert)),
        format!(" certificate {}", d(&old.cert)),
    ]);
    assert!(out.contains("expired on 2026-01-01"), "{out}");
    // Nothing of the refused lines is in the running configuration.
    let run = rvpn.vtysh_ok(&["show running-config"]);
    assert!(
        !run.contains(&d(&old.cert)) && !run.contains("/nonexistent"),
        "{run}"
    );
    // A good trustpoint loads, and shows.
    let ok = try_tp(&[
        format!(" ca-certificate {}", d(&s.ca.cert)),
        format!(" certificate {}", d(&s.rvpn.cert)),
        format!(" private-key {}", d(&s.pki.key_as(&s.rvpn, KeyForm::Der))),
    ]);
    assert!(!ok.contains('%'), "{ok}");
    let certs = rvpn.vtysh_ok(&["show crypto pki certificates T"]);
    assert!(
        certs.contains("O=Lab, CN=rvpn") && certs.contains("ECDSA P-256"),
        "{certs}"
    );
    assert!(certs.contains("days left: "), "{certs}");
    let j = rvpn.show_json("show crypto pki certificates");
    let list = j["certificates"].as_array().expect("a list");
    assert!(
        list.iter()
            .any(|c| c["subject"] == "O=Lab, CN=rvpn" && c["type"] == "Certificate"),
        "{j}"
    );
    assert!(list.iter().any(|c| c["type"] == "CA Certificate"), "{j}");
    let tps = rvpn.vtysh_ok(&["show crypto pki trustpoints"]);
    assert!(
        tps.contains("Trustpoint T:") && tps.contains("O=Lab, CN=Lab CA"),
        "{tps}"
    );
}

#[test]
fn rsa_chains_cross_a_1280_path_that_drops_ip_fragments_only_in_ike_fragments() {
    // RSA-3072 end entities under an RSA-3072 intermediate: each IKE_AUTH
    // carries two certificates and a 384-byte signature, about 3.5 KB.
    let pki = Pki::new("pki");
    let root = pki.root("root", "/O=Lab/CN=Lab Root", KeyType::Rsa(3072));
    let sub = pki.intermediate(&root, "sub", "/O=Lab/CN=Lab Sub CA", KeyType::Rsa(3072));
    let rv = pki.leaf(
        &sub,
        "rvpn",
        "/O=Lab/CN=rvpn",
        &["DNS:rvpn.test"],
        KeyType::Rsa(3072),
    );
    let sw = pki.leaf(
        &sub,
        "swan",
        "/O=Lab/CN=swan",
        &["DNS:swan.test"],
        KeyType::Rsa(3072),
    );
    let bundle = pki.bundle("rvpn-chain.pem", &[&rv.cert, &sub.cert]);
    let sides = || {
        let r = RvpnSide {
            ca: root.cert.clone(),
            cert: bundle.clone(),
            key: rv.key.clone(),
            crl: None,
            local_id: "fqdn rvpn.test".into(),
            remote_match: "fqdn swan.test".into(),
            auth_local: "rsa-sig".into(),
            auth_remote: "rsa-sig".into(),
        };
        let w = SwanSide {
            ca: root.cert.clone(),
            cert: sw.cert.clone(),
            key: sw.key.clone(),
            crl: None,
            more_cas: vec![sub.cert.clone()],
            local_id: "swan.test".into(),
            remote_id: "rvpn.test".into(),
            auth: "pubkey".into(),
            rsa_pss: false,
        };
        (r, w)
    };
    for rvpn_initiates in [true, false] {
        let (r, w) = sides();
        let l = lab_on(
            &r,
            &w,
            rvpn_initiates,
            Some(1280),
            "crypto ikev2 fragmentation mtu 1280",
        );
        let (_, ours) = wait_up(&l);
        let (sent, received) = (
            ours["fragments_sent"].as_u64().unwrap_or(0),
            ours["fragments_received"].as_u64().unwrap_or(0),
        );
        assert!(
            sent >= 3 && received >= 3,
            "IKE_AUTH went in fragments both ways: {ours}"
        );
        assert_eq!(ours["remote_certificate"], "O=Lab, CN=swan");
    }
    // Without RFC 7383 the same path loses our IKE_AUTH.
    let (r, w) = sides();
    let l = lab_on(&r, &w, true, Some(1280), "no crypto ikev2 fragmentation");
    let up = wait_for(|| status(&l) == "UP-ACTIVE", Duration::from_secs(10));
    assert!(
        !up,
        "IKE_AUTH crossed a path that drops IP fragments without RFC 7383"
    );
    let sa = &l.rvpn.show_json("show crypto ikev2 sa")["ike_sas"][0];
    assert_eq!(sa["state"], "CONNECTING", "stuck in IKE_AUTH: {sa}");
    assert!(
        !l.swan.list_sas().iter().any(|s| s.state == "ESTABLISHED"),
        "strongSwan never saw our IKE_AUTH"
    );
}
