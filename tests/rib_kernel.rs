//! rvpnd's routing table and the kernel (issue 6, points 1 and 2), with
//! rvpnd in a network namespace of its own: static routes with distances
//! (ECMP, floating backup, blackhole), a route the kernel refuses shown as
//! rejected and retried until it goes in, the reconcile at start (stale
//! proto-202 routes removed, other protocols' routes untouched) and the
//! clean-up on stop.
//!
//! Needs root. Run with `cargo test -p rvpnd --test rib_kernel`.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::netns::Netns;
use support::rvpn::Rvpnd;

fn wait(what: &str, timeout: Duration, mut f: impl FnMut() -> Result<(), String>) {
    let t0 = Instant::now();
    let mut last = String::new();
    while t0.elapsed() < timeout {
        match f() {
            Ok(()) => return,
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out after {timeout:?} waiting for {what}; last: {last}");
}

fn route(ns: &Netns, prefix: &str) -> String {
    ns.exec_ok(&["ip", "route", "show", prefix])
}

/// A blackhole route of ours (inline, or through a blackhole nexthop
/// object: `blackhole P nhid N dev lo proto 202`).
fn is_blackhole(k: &str, prefix: &str) -> bool {
    k.starts_with(&format!("blackhole {prefix} ")) && k.contains("proto 202")
}

fn entry(r: &Rvpnd, prefix: &str) -> Value {
    let v = r.show_json(&format!("show ip route {prefix} json"));
    v[prefix][0].clone()
}

const CONFIG: &str = "hostname rib1
!
ip route 10.9.0.0/16 192.0.2.254
ip route 10.9.0.0/16 192.0.2.253
ip route 10.9.0.0/16 Null0 250
ip route 10.8.0.0/16 dum9
ip route 10.7.0.0/16 Null0
ip route 10.4.0.0/16 e0
ip route 10.3.0.0/16 10.4.0.1
ipv6 route 2001:db8:9::/48 2001:db8:2::fe
!
";

#[test]
fn statics_ecmp_floating_refused_retried_reconciled() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let ns = Netns::new("rib");
    ns.exec_ok(&[
        "ip", "link", "add", "e0", "type", "veth", "peer", "name", "e0p",
    ]);
    ns.add_addr("e0", "192.0.2.1/24");
    ns.add_addr("e0", "2001:db8:2::1/64");
    ns.link_up("e0");
    ns.link_up("e0p");
    // Another daemon's route, and a leftover of a crashed rvpnd.
    ns.route(&["blackhole", "10.6.0.0/16", "proto", "static"]);
    ns.route(&["10.5.0.0/16", "via", "192.0.2.251", "proto", "202"]);

    let mut r = Rvpnd::start(&ns, CONFIG);
    // Two statics of distance 1: one kernel route with two next hops.
    wait("the ECMP static route", Duration::from_secs(5), || {
        let k = route(&ns, "10.9.0.0/16");
        (k.contains("proto 202")
            && k.contains("nexthop via 192.0.2.253 dev e0")
            && k.contains("nexthop via 192.0.2.254 dev e0"))
        .then_some(())
        .ok_or(k)
    });
    // A route through an interface alone has link scope (as ip route gives
    // it), so the kernel takes a gateway reached through it.
    wait(
        "the gateway behind an interface route",
        Duration::from_secs(5),
        || {
            let k4 = route(&ns, "10.4.0.0/16");
            let k3 = route(&ns, "10.3.0.0/16");
            (k4.contains("dev e0 proto 202 scope link")
                && k3.contains("via 10.4.0.1 dev e0 proto 202"))
            .then_some(())
            .ok_or(format!("{k4}\n{k3}"))
        },
    );
    let k7 = route(&ns, "10.7.0.0/16");
    assert!(is_blackhole(&k7, "10.7.0.0/16"), "{k7}");
    let k6 = ns.exec_ok(&["ip", "-6", "route", "show", "2001:db8:9::/48"]);
    assert!(k6.contains("via 2001:db8:2::fe dev e0 proto 202"), "{k6}");
    // Reconcile: our leftover gone, the other protocol's route kept.
    assert_eq!(
        route(&ns, "10.5.0.0/16"),
        "",
        "stale proto 202 route removed"
    );
    assert!(route(&ns, "10.6.0.0/16").contains("proto static"));

    // dum9 does not exist: refused, shown as rejected, retried.
    let e = entry(&r, "10.8.0.0/16");
    assert_eq!(e["failed"], true, "{e:#}");
    assert_eq!(e["selected"], true, "{e:#}");
    let text = r.vtysh_ok(&["show ip route"]);
    assert!(
        text.contains("S>r 10.8.0.0/16 [1/0] is directly connected, dum9"),
        "{text}"
    );
    assert!(
        text.contains("S>* 10.7.0.0/16 [1/0] unreachable (blackhole)"),
        "{text}"
    );
    assert!(
        text.contains("S>* 10.9.0.0/16 [1/0] via 192.0.2.253, e0, weight 1"),
        "{text}"
    );
    assert!(
        text.contains("S   10.9.0.0/16 [250/0] unreachable (blackhole)"),
        "{text}"
    );
    assert!(
        text.contains("C>* 192.0.2.0/24 is directly connected, e0"),
        "{text}"
    );
    ns.exec_ok(&[
        "ip", "link", "add", "dum9", "type", "veth", "peer", "name", "dum9p",
    ]);
    ns.link_up("dum9p");
    ns.link_up("dum9");
    wait("the refused route retried", Duration::from_secs(5), || {
        let k = route(&ns, "10.8.0.0/16");
        k.contains("dev dum9 proto 202").then_some(()).ok_or(k)
    });
    wait("shown installed", Duration::from_secs(3), || {
        let e = entry(&r, "10.8.0.0/16");
        (e["installed"] == true).then_some(()).ok_or(e.to_string())
    });

    // e0 goes down: its network leaves, both gateways are unreachable and
    // the floating blackhole (distance 250) takes over; back when it
    // comes up.
    ns.link_down("e0");
    wait("the floating static", Duration::from_secs(6), || {
        let k = route(&ns, "10.9.0.0/16");
        is_blackhole(&k, "10.9.0.0/16").then_some(()).ok_or(k)
    });
    assert_eq!(entry(&r, "10.9.0.0/16")["distance"], 250);
    ns.link_up("e0");
    wait("the primary back", Duration::from_secs(6), || {
        let k = route(&ns, "10.9.0.0/16");
        k.contains("nexthop via 192.0.2.254").then_some(()).ok_or(k)
    });

    // A flap shorter than the 2 s interface rescan: the kernel deletes
    // the routes through e0 when it goes down; the link event brings
    // them back.
    ns.link_down("e0");
    std::thread::sleep(Duration::from_millis(30));
    ns.link_up("e0");
    wait(
        "the routes back after a short flap",
        Duration::from_secs(3),
        || {
            let k = route(&ns, "10.9.0.0/16");
            k.contains("nexthop via 192.0.2.254").then_some(()).ok_or(k)
        },
    );

    // A config change: one static removed, the ECMP set shrinks.
    r.vtysh_ok(&[
        "configure terminal",
        "no ip route 10.9.0.0/16 192.0.2.253",
        "end",
    ]);
    wait("one next hop left", Duration::from_secs(3), || {
        let k = route(&ns, "10.9.0.0/16");
        (k.contains("via 192.0.2.254 dev e0 proto 202") && !k.contains("192.0.2.253"))
            .then_some(())
            .ok_or(k)
    });

    // Killed: the routes stay (forwarding goes on); a restart finds them,
    // keeps what is still wanted and removes the rest.
    r.kill();
    assert!(route(&ns, "10.7.0.0/16").contains("proto 202"));
    std::fs::write(
        r.config_path(),
        CONFIG.replace("ip route 10.7.0.0/16 Null0\n", ""),
    )
    .unwrap();
    r.restart();
    wait(
        "10.7.0.0/16 removed at restart",
        Duration::from_secs(5),
        || {
            let k = route(&ns, "10.7.0.0/16");
            k.is_empty().then_some(()).ok_or(k)
        },
    );
    wait("10.9.0.0/16 kept", Duration::from_secs(5), || {
        let k = route(&ns, "10.9.0.0/16");
        k.contains("proto 202").then_some(()).ok_or(k)
    });

    // A clean stop removes every route of ours and nothing else.
    assert!(r.stop(), "rvpnd exits on SIGTERM");
    let all = ns.exec_ok(&["ip", "route", "show", "proto", "202"]);
    assert_eq!(all, "", "no rvpn route left after stop");
    assert!(route(&ns, "10.6.0.0/16").contains("proto static"));
}
