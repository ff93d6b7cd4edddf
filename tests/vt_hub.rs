//! A Virtual-Template hub (IOS FlexVPN, issue 16) with rvpn spokes: one
//! hub stanza serves every spoke; each spoke gets a Virtual-Access
//! interface on the hub, an address from the pool through IKEv2
//! configuration payloads (`ip address negotiated`), the hub's loopback
//! as a pushed route, and the hub a host route to the spoke's address;
//! the tunnel carries pings between the spoke's pool address and the
//! hub's loopback; a spoke that goes away takes its Virtual-Access and
//! host route with it within a second and gives its address back.

mod support;

use serde_json::Value;
use std::time::Duration;
use support::netns::{veth, Netns};
use support::rvpn::Rvpnd;
use support::vt::{self, has_route};
use support::wait_for;

const PSK: &str = "vt-hub-lab-secret-0123";

fn hub_config(pool_last: &str) -> String {
    vt::hub_config(PSK, pool_last)
}

fn spoke_config(n: u8) -> String {
    vt::spoke_config(PSK, n, &format!("10.96.{n}.2"), vt::HUB)
}

fn sessions(r: &Rvpnd) -> Vec<Value> {
    r.show_json("show crypto session")["sessions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn up_names(r: &Rvpnd) -> Vec<String> {
    let mut v: Vec<String> = sessions(r)
        .iter()
        .filter(|s| s["status"] == "UP-ACTIVE")
        .filter_map(|s| s["interface"].as_str().map(String::from))
        .collect();
    v.sort();
    v
}

/// The IPv4 address the kernel has on `ifname` in `ns`, if any.
fn addr_of(ns: &Netns, ifname: &str) -> Option<String> {
    vt::addrs_of(ns, Some(ifname)).into_iter().next()
}

#[test]
fn virtual_template_hub_gives_each_spoke_an_interface_an_address_and_routes() {
    support::require_interop();
    let hub_ns = Netns::new("vth");
    let s1 = Netns::new("vt1");
    let s2 = Netns::new("vt2");
    veth(&hub_ns, &s1, "10.96.1.1/24", "10.96.1.2/24");
    veth(&hub_ns, &s2, "10.96.2.1/24", "10.96.2.2/24");
    // The hub's public address, as on an Internet hub.
    hub_ns.add_lo_addr("192.0.2.1/32");
    s1.route(&["192.0.2.1/32", "via", "10.96.1.1"]);
    s2.route(&["192.0.2.1/32", "via", "10.96.2.1"]);
    let hub = Rvpnd::start(&hub_ns, &hub_config("169.254.100.254"));
    let sp1 = Rvpnd::start(&s1, &spoke_config(1));
    let sp2 = Rvpnd::start(&s2, &spoke_config(2));
    let ok = wait_for(
        || {
            up_names(&hub) == ["Virtual-Access1", "Virtual-Access2"]
                && up_names(&sp1) == ["Tunnel1"]
                && up_names(&sp2) == ["Tunnel1"]
        },
        Duration::from_secs(40),
    );
    assert!(
        ok,
        "hub {:?} spokes {:?} {:?}\n--- hub log:\n{}\n--- spoke1 log:\n{}",
        sessions(&hub),
        up_names(&sp1),
        up_names(&sp2),
        hub.log(),
        sp1.log()
    );
    // Each spoke took a distinct pool address onto its Tunnel1.
    let mut got = Vec::new();
    for ns in [&s1, &s2] {
        let ok = wait_for(|| addr_of(ns, "Tunnel1").is_some(), Duration::from_secs(10));
        assert!(ok, "no address on {}'s Tunnel1", ns.name());
        got.push(addr_of(ns, "Tunnel1").unwrap_or_default());
    }
    got.sort();
    assert_eq!(got, ["169.254.100.2", "169.254.100.3"]);
    // The hub has a host route to each through its Virtual-Access (the
    // kernel name rvpn-vaN, the operator's as alias), and each spoke a
    // route to the hub's loopback through Tunnel1.
    let routes = |ns: &Netns| {
        String::from_utf8_lossy(&ns.exec(&["ip", "-4", "route", "show"]).stdout).to_string()
    };
    let ok = wait_for(
        || {
            let r = routes(&hub_ns);
            has_route(&r, "169.254.100.2", "rvpn-va") && has_route(&r, "169.254.100.3", "rvpn-va")
        },
        Duration::from_secs(10),
    );
    assert!(ok, "hub routes:\n{}", routes(&hub_ns));
    let link = String::from_utf8_lossy(&hub_ns.exec(&["ip", "link", "show"]).stdout).to_string();
    assert!(link.contains("alias Virtual-Access1"), "{link}");
    for ns in [&s1, &s2] {
        let ok = wait_for(
            || has_route(&routes(ns), "169.254.100.1", "Tunnel1"),
            Duration::from_secs(10),
        );
        assert!(ok, "{} routes:\n{}", ns.name(), routes(ns));
    }
    // The tunnels carry packets, spoke pool address to hub loopback.
    let a1 = addr_of(&s1, "Tunnel1").unwrap_or_default();
    s1.ping_ok(&a1, "169.254.100.1", 3);
    let a2 = addr_of(&s2, "Tunnel1").unwrap_or_default();
    s2.ping_ok(&a2, "169.254.100.1", 3);
    // show ip route on the hub names the Virtual-Access.
    let text = hub.vtysh_ok(&["show ip route"]);
    assert!(
        text.contains("169.254.100.2/32 is directly connected, Virtual-Access")
            || text.contains("Virtual-Access1"),
        "{text}"
    );

    // One entry per spoke in the show commands, text and JSON.
    let va = hub.show_json("show interface virtual-access 1 json");
    let va1 = &va["interfaces"][0];
    assert_eq!(va1["name"], "Virtual-Access1", "{va}");
    assert_eq!(va1["linux_name"], "rvpn-va1", "{va}");
    assert_eq!(va1["virtual_template"], "Virtual-Template1", "{va}");
    assert_eq!(va1["line_protocol"], "up", "{va}");
    let leased = va1["assigned"][0].as_str().unwrap_or_default().to_string();
    assert!(got.iter().any(|a| leased == format!("{a}/32")), "{va}");
    let text = hub.vtysh_ok(&["show interface virtual-access 2"]);
    assert!(
        text.starts_with("Virtual-Access2 is up, line protocol is up")
            && text.contains("cloned from Virtual-Template1")
            && text.contains("Using address of Loopback0 (169.254.100.1)"),
        "{text}"
    );
    let brief = hub.vtysh_ok(&["show ip interface brief"]);
    for n in ["Virtual-Access1", "Virtual-Access2"] {
        assert!(
            brief
                .lines()
                .any(|l| l.starts_with(n) && l.contains("169.254.100.1") && l.ends_with("up")),
            "{brief}"
        );
    }
    let det = hub.vtysh_ok(&["show crypto ikev2 sa detail"]);
    for a in &got {
        assert!(det.contains(&format!("Assigned host addr: {a}")), "{det}");
    }
    let sess = hub.vtysh_ok(&["show crypto session"]);
    assert!(
        sess.contains("Interface: Virtual-Access1") && sess.contains("Interface: Virtual-Access2"),
        "{sess}"
    );

    // Spoke 1 goes away for good: its Virtual-Access, host route and
    // lease go within a second of the delete.
    let mut sp1 = sp1;
    sp1.stop();
    let gone = wait_for(
        || {
            let links = String::from_utf8_lossy(&hub_ns.exec(&["ip", "link", "show"]).stdout)
                .matches("alias Virtual-Access")
                .count();
            !routes(&hub_ns).contains(&format!("{a1} dev"))
                && up_names(&hub).len() == 1
                && links == 1
        },
        Duration::from_secs(1),
    );
    assert!(
        gone,
        "after spoke1 left: hub {:?}\n{}",
        sessions(&hub),
        routes(&hub_ns)
    );
}
