//! rvpn against rvpn with certificates (issue 15): a hub with two
//! `tunnel destination dynamic` interfaces and two spokes, each spoke with
//! its own ECDSA certificate from the lab CA; both tunnels come up and
//! carry pings, the hub shows each spoke's certificate, and a reload that
//! replaces one spoke's certificate files renegotiates only that spoke.

mod support;

use serde_json::Value;
use std::time::Duration;
use support::netns::{veth, Netns};
use support::pki::{KeyType, Pki};
use support::rvpn::Rvpnd;
use support::wait_for;

fn hub_config(ca: &str, cert: &str, key: &str) -> String {
    let mut c = format!(
        "hostname hub
crypto pki trustpoint LAB-CA
 ca-certificate {ca}
 certificate {cert}
 private-key {key}
 revocation-check none
!
"
    );
    for n in 1..=2 {
        c.push_str(&format!(
            "crypto ikev2 profile SPOKE{n}
 match identity remote fqdn spoke{n}.spokes.test
 identity local fqdn hub.test
 authentication local ecdsa-sig
 authentication remote ecdsa-sig
 pki trustpoint LAB-CA
!
crypto ipsec profile IPS{n}
 set ikev2-profile SPOKE{n}
!
interface Tunnel{n}
 ip address 169.254.{n}.1/30
 tunnel source 10.97.{n}.1
 tunnel destination dynamic
 tunnel protection ipsec profile IPS{n}
!
"
        ));
    }
    c
}

fn spoke_config(n: u8, ca: &str, cert: &str, key: &str) -> String {
    format!(
        "hostname spoke{n}
crypto pki trustpoint LAB-CA
 ca-certificate {ca}
 certificate {cert}
 private-key {key}
!
crypto ikev2 profile HUB
 match identity remote fqdn hub.test
 identity local fqdn spoke{n}.spokes.test
 authentication local ecdsa-sig
 authentication remote ecdsa-sig
 pki trustpoint LAB-CA
!
crypto ipsec profile IPS
 set ikev2-profile HUB
!
interface Tunnel1
 ip address 169.254.{n}.2/30
 tunnel source 10.97.{n}.2
 tunnel destination 10.97.{n}.1
 tunnel protection ipsec profile IPS
!
"
    )
}

fn ike_sas(r: &Rvpnd) -> Vec<Value> {
    r.show_json("show crypto ikev2 sa detail")["ike_sas"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_hub_with_two_certificate_spokes() {
    support::require_interop();
    let pki = Pki::new("pki");
    let ca = pki.root("ca", "/O=Lab/CN=Lab CA", KeyType::P256);
    let hub_c = pki.leaf(
        &ca,
        "hub",
        "/O=Lab/CN=hub",
        &["DNS:hub.test"],
        KeyType::P256,
    );
    let s1 = pki.leaf(
        &ca,
        "s1",
        "/O=Lab/CN=spoke1",
        &["DNS:spoke1.spokes.test"],
        KeyType::P256,
    );
    let s2 = pki.leaf(
        &ca,
        "s2",
        "/O=Lab/CN=spoke2",
        &["DNS:spoke2.spokes.test"],
        KeyType::P384,
    );
    let d = |p: &std::path::Path| p.display().to_string();
    let hub_ns = Netns::new("ch");
    let n1 = Netns::new("c1");
    let n2 = Netns::new("c2");
    veth(&hub_ns, &n1, "10.97.1.1/24", "10.97.1.2/24");
    veth(&hub_ns, &n2, "10.97.2.1/24", "10.97.2.2/24");
    let hub = Rvpnd::start(
        &hub_ns,
        &hub_config(&d(&ca.cert), &d(&hub_c.cert), &d(&hub_c.key)),
    );
    let sp1 = Rvpnd::start(
        &n1,
        &spoke_config(1, &d(&ca.cert), &d(&s1.cert), &d(&s1.key)),
    );
    let sp2 = Rvpnd::start(
        &n2,
        &spoke_config(2, &d(&ca.cert), &d(&s2.cert), &d(&s2.key)),
    );
    let up = |r: &Rvpnd| {
        r.show_json("show crypto session")["sessions"]
            .as_array()
            .map(|v| v.iter().filter(|s| s["status"] == "UP-ACTIVE").count())
            .unwrap_or(0)
    };
    let ok = wait_for(
        || up(&hub) == 2 && up(&sp1) == 1 && up(&sp2) == 1,
        Duration::from_secs(30),
    );
    assert!(
        ok,
        "hub {} / spokes {} {}\n--- hub log:\n{}\n--- spoke1 log:\n{}",
        hub.show_json("show crypto session"),
        up(&sp1),
        up(&sp2),
        hub.log(),
        sp1.log()
    );
    // Each tunnel carries packets.
    n1.ping_ok("169.254.1.2", "169.254.1.1", 3);
    n2.ping_ok("169.254.2.2", "169.254.2.1", 3);
    // The hub knows each spoke by its certificate.
    let sas = ike_sas(&hub);
    let certs: Vec<String> = sas
        .iter()
        .filter_map(|s| s["remote_certificate"].as_str().map(String::from))
        .collect();
    assert!(
        certs.contains(&"O=Lab, CN=spoke1".to_string())
            && certs.contains(&"O=Lab, CN=spoke2".to_string()),
        "{sas:?}"
    );
    assert!(
        sas.iter().any(|s| s["auth_verify"]
            .as_str()
            .unwrap_or_default()
            .contains("ECDSA-P384")),
        "spoke2 signs with P-384: {sas:?}"
    );

    // Replace spoke2's certificate files with a new certificate and
    // reload: only spoke2's tunnel on the spoke is renegotiated; the
    // hub's SA with spoke1 stays the same.
    let before1: Vec<String> = ike_sas(&hub)
        .iter()
        .filter(|s| s["remote_certificate"] == "O=Lab, CN=spoke1")
        .map(|s| s["spi_i"].as_str().unwrap_or_default().to_string())
        .collect();
    let before2 = ike_sas(&sp2)[0]["spi_i"].clone();
    let renewed = pki.leaf(
        &ca,
        "s2b",
        "/O=Lab/CN=spoke2",
        &["DNS:spoke2.spokes.test"],
        KeyType::P256,
    );
    std::fs::copy(&renewed.cert, &s2.cert).expect("replace cert");
    std::fs::copy(&renewed.key, &s2.key).expect("replace key");
    sp2.signal(libc::SIGHUP);
    let renegotiated = wait_for(
        || {
            let sas = ike_sas(&sp2);
            sas.iter()
                .any(|s| s["spi_i"] != before2 && s["state"] == "ESTABLISHED")
                && up(&sp2) == 1
        },
        Duration::from_secs(30),
    );
    assert!(
        renegotiated,
        "spoke2 renegotiated with its new certificate:\n{}",
        sp2.log()
    );
    let hub_sas = ike_sas(&hub);
    assert!(
        hub_sas
            .iter()
            .any(|s| s["remote_certificate"] == "O=Lab, CN=spoke2"
                && s["auth_verify"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("ECDSA-P256")),
        "the hub sees spoke2's new P-256 certificate: {hub_sas:?}"
    );
    let after1: Vec<String> = hub_sas
        .iter()
        .filter(|s| s["remote_certificate"] == "O=Lab, CN=spoke1")
        .map(|s| s["spi_i"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(before1, after1, "spoke1's IKE SA was not touched");
    n2.ping_ok("169.254.2.2", "169.254.2.1", 3);
}
