//! ADD-PATH send (RFC 7911, `neighbor X addpath-tx-all-paths`) and
//! `neighbor X default-originate`, against FRR:
//!
//! ```text
//!   FRR b (AS 65001) --\
//!                        rvpnd (AS 65000) -- FRR d (AS 65003)
//!   FRR c (AS 65002) --/
//! ```
//!
//! b and c announce the same prefix; rvpn sends d both paths, each with
//! its own path identifier, plus a default route; a second receiver
//! without `addpath-tx-all-paths` gets the best path only.
//!
//! Needs root and FRR (scripts/test installs it). Run with
//! `cargo test -p rvpnd --test bgp_addpath`.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::bgp_peers::{require_bgp_peers, Frr};
use support::netns::{veth, Netns};
use support::rvpn::Rvpnd;

const PREFIX: &str = "10.50.0.0/24";

fn frr_config(asn: u32, id: &str, rvpn: &str, network: bool) -> String {
    let mut c = format!(
        "router bgp {asn}\n bgp router-id {id}\n no bgp ebgp-requires-policy\n \
         no bgp network import-check\n neighbor {rvpn} remote-as 65000\n \
         neighbor {rvpn} timers connect 2\n"
    );
    if network {
        c.push_str(&format!(
            " address-family ipv4 unicast\n  network {PREFIX}\n exit-address-family\n"
        ));
    }
    c
}

/// FRR's paths for a prefix (empty while it has none).
fn frr_paths(frr: &Frr, prefix: &str) -> Vec<Value> {
    frr.try_json(&format!("show bgp ipv4 unicast {prefix} json"))
        .and_then(|v| v["paths"].as_array().cloned())
        .unwrap_or_default()
}

fn wait(what: &str, timeout: Duration, diag: impl Fn() -> String, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while t0.elapsed() < timeout {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out after {timeout:?}: {what}\n{}", diag());
}

#[test]
fn add_path_send_and_default_originate_to_frr() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: needs root (network namespaces, FRR)");
        return;
    }
    require_bgp_peers();
    let r = Netns::new("apr");
    let (b, c, d, e) = (
        Netns::new("apb"),
        Netns::new("apc"),
        Netns::new("apd"),
        Netns::new("ape"),
    );
    veth(&r, &b, "10.1.0.1/24", "10.1.0.2/24");
    veth(&r, &c, "10.2.0.1/24", "10.2.0.2/24");
    veth(&r, &d, "10.3.0.1/24", "10.3.0.2/24");
    veth(&r, &e, "10.4.0.1/24", "10.4.0.2/24");
    let rvpn = Rvpnd::start(
        &r,
        "router bgp 65000
 bgp router-id 10.0.0.1
 no bgp ebgp-requires-policy
 neighbor 10.1.0.2 remote-as 65001
 neighbor 10.2.0.2 remote-as 65002
 neighbor 10.3.0.2 remote-as 65003
 neighbor 10.4.0.2 remote-as 65004
 address-family ipv4 unicast
  neighbor 10.3.0.2 addpath-tx-all-paths
  neighbor 10.3.0.2 default-originate
 exit-address-family
",
    );
    let fb = Frr::start(&b, &frr_config(65001, "10.0.0.2", "10.1.0.1", true));
    let fc = Frr::start(&c, &frr_config(65002, "10.0.0.3", "10.2.0.1", true));
    let fd = Frr::start(&d, &frr_config(65003, "10.0.0.4", "10.3.0.1", false));
    let fe = Frr::start(&e, &frr_config(65004, "10.0.0.5", "10.4.0.1", false));
    let diag = || {
        format!(
            "rvpn:\n{}\nd:\n{}\n--- rvpnd log\n{}",
            rvpn.vtysh_ok(&["show ip bgp", "show ip bgp summary"]),
            fd.vtysh_ok(&["show bgp ipv4 unicast", "show bgp neighbors 10.3.0.1"]),
            rvpn.log()
        )
    };
    for (f, rv) in [
        (&fb, "10.1.0.1"),
        (&fc, "10.2.0.1"),
        (&fd, "10.3.0.1"),
        (&fe, "10.4.0.1"),
    ] {
        f.wait_established(rv, Duration::from_secs(40));
    }
    // rvpn has both paths.
    wait("rvpn has two paths", Duration::from_secs(20), diag, || {
        rvpn.show_json(&format!("show ip bgp {PREFIX} json"))["paths"]
            .as_array()
            .is_some_and(|p| p.len() == 2)
    });
    // d gets both, with two different path identifiers, through rvpn.
    wait("d has both paths", Duration::from_secs(20), diag, || {
        frr_paths(&fd, PREFIX).len() == 2
    });
    let paths = frr_paths(&fd, PREFIX);
    let ids: Vec<u64> = paths
        .iter()
        .filter_map(|p| p["addpathRxId"].as_u64())
        .collect();
    assert_eq!(ids.len(), 2, "path ids at d: {paths:#?}");
    assert_ne!(ids[0], ids[1], "{paths:#?}");
    let as_paths: Vec<String> = paths
        .iter()
        .map(|p| p["aspath"]["string"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        as_paths.contains(&"65000 65001".to_string()),
        "{as_paths:?}"
    );
    assert!(
        as_paths.contains(&"65000 65002".to_string()),
        "{as_paths:?}"
    );
    // d negotiated ADD-PATH with rvpn as sender.
    let n = fd.show_json("show bgp neighbors 10.3.0.1 json");
    let caps = n["10.3.0.1"]["neighborCapabilities"].to_string();
    assert!(caps.contains("addPath"), "{caps}");
    // And a default route from rvpn, d only.
    wait("default route at d", Duration::from_secs(20), diag, || {
        !frr_paths(&fd, "0.0.0.0/0").is_empty()
    });
    assert_eq!(
        frr_paths(&fd, "0.0.0.0/0")[0]["aspath"]["string"],
        Value::from("65000")
    );
    // e, without addpath-tx-all-paths and default-originate: the best path only.
    wait("e has the prefix", Duration::from_secs(20), diag, || {
        !frr_paths(&fe, PREFIX).is_empty()
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(frr_paths(&fe, PREFIX).len(), 1, "{}", diag());
    assert!(frr_paths(&fe, "0.0.0.0/0").is_empty(), "{}", diag());

    // One announcer withdraws: d keeps exactly the other path.
    fb.configure(&[
        "router bgp 65001",
        "address-family ipv4 unicast",
        &format!("no network {PREFIX}"),
    ]);
    wait("d down to one path", Duration::from_secs(20), diag, || {
        let p = frr_paths(&fd, PREFIX);
        p.len() == 1 && p[0]["aspath"]["string"] == "65000 65002"
    });
}
