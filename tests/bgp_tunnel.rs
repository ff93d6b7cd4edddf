//! BGP sessions bound to tunnel interfaces (issue 5, point 5): a session
//! to a neighbor on a tunnel's subnet runs over that tunnel, and when the
//! tunnel loses its IPsec SA the session and its routes go at once, not
//! after the hold timer; when the SA returns, so does the session.
//!
//! ```text
//! hostA -- gwA (rvpnd, AS 65000) ==Tunnel1== gwB (rvpnd, AS 65001) -- hostB
//! ```
//!
//! Needs root and the packages scripts/test installs. Run with
//! `cargo test -p rvpnd --test bgp_tunnel`.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::hosts::{DpLab, LabOpts, Path, PeerKind, NET_A, NET_B};
use support::rvpn::Rvpnd;

const A_TUN: &str = "169.254.100.1";
const B_TUN: &str = "169.254.100.2";

fn state(r: &Rvpnd, neighbor: &str) -> String {
    let v = r.show_json("show ip bgp summary json");
    v["ipv4Unicast"]["peers"][neighbor]["state"]
        .as_str()
        .unwrap_or("?")
        .to_string()
}

fn has_route(r: &Rvpnd, prefix: &str) -> bool {
    let v = r.show_json("show ip bgp json");
    v["routes"][prefix]
        .as_array()
        .is_some_and(|a| !a.is_empty())
}

fn wait(what: &str, timeout: Duration, l: &DpLab, mut f: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while t0.elapsed() < timeout {
        if f() {
            return t0.elapsed();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "timed out after {timeout:?} waiting for: {what}\n{}",
        l.logs(60)
    );
}

#[test]
fn tunnel_loss_takes_the_bgp_session_down_at_once() {
    let mut o = LabOpts::new("bgt", PeerKind::Rvpn, Path::Direct);
    o.rust_log = "info".into();
    let l = DpLab::start(o);
    let b = l.rvpn_b().expect("gwB runs rvpnd");
    let a = &l.rvpn;
    a.vtysh_ok(&[
        "configure terminal",
        "router bgp 65000",
        "bgp router-id 10.255.0.1",
        "no bgp ebgp-requires-policy",
        &format!("neighbor {B_TUN} remote-as 65001"),
        "address-family ipv4 unicast",
        &format!("network {NET_A}"),
        "end",
    ]);
    b.vtysh_ok(&[
        "configure terminal",
        "router bgp 65001",
        "bgp router-id 10.255.0.2",
        "no bgp ebgp-requires-policy",
        &format!("neighbor {A_TUN} remote-as 65000"),
        "address-family ipv4 unicast",
        &format!("network {NET_B}"),
        "end",
    ]);
    wait(
        "both sessions Established",
        Duration::from_secs(30),
        &l,
        || state(a, B_TUN) == "Established" && state(b, A_TUN) == "Established",
    );
    wait("routes exchanged", Duration::from_secs(10), &l, || {
        has_route(a, NET_B) && has_route(b, NET_A)
    });
    // The session knows which tunnel it runs over, with 9 s hold time.
    let n = a.show_json(&format!("show ip bgp neighbors {B_TUN} json"));
    assert_eq!(n[B_TUN]["interface"], Value::from("Tunnel1"), "{n:#}");
    assert_eq!(
        n[B_TUN]["bgpTimerHoldTimeMsecs"],
        Value::from(9000),
        "{n:#}"
    );
    let route = a.show_json(&format!("show ip bgp {NET_B} json"));
    assert_eq!(
        route["paths"][0]["nexthops"][0]["ip"],
        Value::from(B_TUN),
        "{route:#}"
    );

    // Shut the tunnel on A: IKE deletes the SA, both ends lose it.
    let t0 = Instant::now();
    a.vtysh_ok(&["configure terminal", "interface Tunnel1", "shutdown", "end"]);
    let down_a = wait("A's session down", Duration::from_secs(8), &l, || {
        state(a, B_TUN) != "Established" && !has_route(a, NET_B)
    });
    let down_b = wait("B's session down", Duration::from_secs(8), &l, || {
        state(b, A_TUN) != "Established" && !has_route(b, NET_A)
    });
    eprintln!(
        "METRIC bgp_down_after_tunnel_shutdown_ms a={} b={} (hold time 9000)",
        down_a.as_millis(),
        (down_a + down_b).as_millis()
    );
    // Well inside the 9 s hold time: the tunnel event, not the timer.
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "sessions went down only after {:?}\n{}",
        t0.elapsed(),
        l.logs(60)
    );
    assert!(
        state(a, B_TUN).contains("Tunnel down") || state(a, B_TUN).contains("Idle"),
        "A's state: {}",
        state(a, B_TUN)
    );

    // And back.
    a.vtysh_ok(&[
        "configure terminal",
        "interface Tunnel1",
        "no shutdown",
        "end",
    ]);
    let up = wait("sessions back", Duration::from_secs(45), &l, || {
        state(a, B_TUN) == "Established" && state(b, A_TUN) == "Established"
    });
    wait("routes back", Duration::from_secs(10), &l, || {
        has_route(a, NET_B) && has_route(b, NET_A)
    });
    eprintln!("METRIC bgp_up_after_no_shutdown_ms {}", up.as_millis());
}
