//! `neighbor X maximum-prefix N restart M` against GoBGP (a module of
//! tests/bgp_limits.rs): GoBGP (gobgpd, routes added with `gobgp global
//! rib add`) announces more prefixes than the limit; rvpnd ends the
//! session with a NOTIFICATION Cease/Maximum Number of Prefixes Reached
//! (RFC 4486 subcode 1), which GoBGP counts and logs with its data;
//! `show ip bgp neighbors` on rvpn says why and when it restarts; once
//! GoBGP announces fewer, the session comes back by itself when the
//! restart timer expires.

use std::time::Duration;

use serde_json::Value;

use super::support::bgp_peers::{require_bgp_peers, tail, GoBgp, GoBgpOpts};
use super::support::netns::{veth, Netns};
use super::support::rvpn::Rvpnd;
use super::{root, wait, PEER, RV};

fn gobgp_config() -> String {
    format!(
        r#"
[global.config]
  as = 65001
  router-id = "10.0.0.2"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "{RV}"
    peer-as = 65000
  [neighbors.timers.config]
    connect-retry = 2
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
"#
    )
}

/// The NOTIFICATIONs GoBGP counted as received from rvpn.
fn notifications_received(g: &GoBgp) -> u64 {
    let v = g.gobgp_json(&["neighbor", RV]);
    let n = if v.is_array() { &v[0] } else { &v };
    n["state"]["messages"]["received"]["notification"]
        .as_u64()
        .unwrap_or(0)
}

fn prefix(i: usize) -> String {
    format!("10.60.{i}.0/24")
}

#[test]
fn maximum_prefix_against_gobgp() {
    if !root() {
        return;
    }
    require_bgp_peers();
    let (a, b) = (Netns::new("bbmpr"), Netns::new("bbmpg"));
    veth(&a, &b, &format!("{RV}/24"), &format!("{PEER}/24"));
    let rv = Rvpnd::start(
        &a,
        &format!(
            "router bgp 65000\n bgp router-id 10.0.0.1\n no bgp ebgp-requires-policy\n \
             neighbor {PEER} remote-as 65001\n address-family ipv4 unicast\n  \
             neighbor {PEER} maximum-prefix 5 restart 1\n exit-address-family\n"
        ),
    );
    let g = GoBgp::start_with(&b, &gobgp_config(), GoBgpOpts::tagged("bbgobgp"));
    let summary = || rv.show_json("show ip bgp summary")["ipv4Unicast"]["peers"][PEER].clone();
    let diag = || {
        format!(
            "--- rvpn:\n{}\n--- gobgp:\n{}\n--- gobgpd log:\n{}\n--- rvpnd log:\n{}",
            String::from_utf8_lossy(
                &rv.vtysh(&[
                    "show ip bgp summary",
                    &format!("show ip bgp neighbors {PEER}")
                ])
                .stdout
            ),
            String::from_utf8_lossy(&g.gobgp(&["neighbor", RV]).stdout),
            tail(&g.log(), 40),
            tail(&rv.log(), 60)
        )
    };
    for i in 0..4 {
        g.add_route(&prefix(i), PEER);
    }
    g.wait_established(RV, Duration::from_secs(40));
    wait("4 prefixes at rvpn", Duration::from_secs(20), diag, || {
        summary()["pfxRcd"] == 4
    });
    assert_eq!(notifications_received(&g), 0, "{}", diag());

    // GoBGP goes over the limit: 8 of 5.
    for i in 4..8 {
        g.add_route(&prefix(i), PEER);
    }
    wait(
        "rvpn ends the session",
        Duration::from_secs(20),
        diag,
        || summary()["state"] == "Idle (PfxCt)",
    );
    assert!(rv.log().contains("%MAXPFXEXCEED"), "{}", diag());
    // GoBGP received the Cease/1 and says so: it counts the NOTIFICATION
    // and logs code 6, subcode 1.
    wait(
        "GoBGP counts the NOTIFICATION",
        Duration::from_secs(10),
        diag,
        || notifications_received(&g) >= 1,
    );
    wait(
        "GoBGP logs Cease/Maximum Number of Prefixes Reached",
        Duration::from_secs(10),
        diag,
        || {
            // `level=info msg="Peer Down" Key=10.1.0.1 Reason="notification-received
            // code 6(cease) subcode 1(maximum number of prefixes reached)"`
            g.log().lines().any(|l| {
                l.contains("Peer Down")
                    && l.contains(&format!("Key={RV}"))
                    && l.contains("code 6(cease) subcode 1(maximum number of prefixes reached)")
            })
        },
    );
    // The data (RFC 4486): AFI 1, SAFI 1, the limit 5.
    assert!(
        g.log().lines().any(|l| l.contains("received notification")
            && l.contains("Code=6")
            && l.contains("Subcode=1")
            && l.contains("Data=\"[0 1 1 0 0 0 5]\"")),
        "{}",
        diag()
    );
    assert!(!g.established(RV), "{}", diag());
    // rvpn says why and when it restarts.
    let n: Value = rv.show_json(&format!("show ip bgp neighbors {PEER}"))[PEER].clone();
    assert_eq!(n["bgpState"], "Idle (PfxCt)", "{n:#}");
    assert_eq!(n["prefixesConfigExceedMax"], true, "{n:#}");
    let why = n["lastResetDueTo"].as_str().unwrap_or_default();
    assert!(
        why.starts_with("Reached received prefix count (") && why.ends_with(", limit 5)"),
        "{why}"
    );
    let ms = n["restartInTimerMsec"].as_u64().unwrap_or(0);
    assert!((1..=60_000).contains(&ms), "{n:#}");
    let text = rv.vtysh_ok(&[&format!("show ip bgp neighbors {PEER}")]);
    for want in [
        "BGP state = Idle (PfxCt)",
        ", due to Reached received prefix count (",
        "Peer had exceeded the max. no. of prefixes configured.",
        &format!("Reduce the no. of prefix from {PEER}, will restart in "),
        "Maximum prefixes allowed 5",
        "restart interval 1 min",
    ] {
        assert!(text.contains(want), "{want:?} missing:\n{text}");
    }

    // GoBGP announces fewer; the session stays down until the restart
    // timer (1 minute) expires, then comes back by itself.
    for i in 4..8 {
        g.del_route(&prefix(i));
    }
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(summary()["state"], "Idle (PfxCt)", "{}", diag());
    wait(
        "back after the restart timer",
        Duration::from_secs(120),
        diag,
        || {
            let s = summary();
            s["state"] == "Established" && s["pfxRcd"] == 4
        },
    );
    g.wait_established(RV, Duration::from_secs(10));
    assert!(
        rv.log().contains("maximum-prefix restart timer expired"),
        "{}",
        diag()
    );
}
