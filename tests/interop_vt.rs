//! Virtual-Template hubs and IKEv2 configuration payloads (issue 16)
//! against strongSwan (charon 5.9.x, kernel-libipsec) in network
//! namespaces: strongSwan spokes with `vips = 0.0.0.0` take addresses
//! from an rvpn hub's pool, each on a Virtual-Access of its own, and
//! carry pings from that address to the hub's loopback; a spoke that
//! leaves takes its Virtual-Access and host route with it and gives its
//! address back; an exhausted pool refuses a spoke with
//! INTERNAL_ADDRESS_FAILURE and says why; and strongSwan as the hub
//! (a connection with `pools`) gives an rvpn spoke with `ip address
//! negotiated` its address and a subnet. Needs root and the packages
//! that scripts/test installs.

mod support;

use serde_json::Value;
use std::time::{Duration, Instant};
use support::netns::{veth, Netns};
use support::rvpn::Rvpnd;
use support::strongswan::{IkeSaInfo, StrongSwan, SwanConn, SwanOpts};
use support::vt::{addrs_of, has_route, routes, HUB, HUB_LOOPBACK};
use support::wait_for;

const PSK: &str = "vt-swan-lab-secret-0123";

/// strongSwan spoke `n` (at 10.95.n.2) as `swanID.spokes.test`, asking
/// for a virtual IP; route-based (0.0.0.0/0 both ways), as rvpn is.
fn spoke_conn(n: u8, id: u8) -> SwanConn {
    let mut c = SwanConn::psk(
        "hub",
        &format!("10.95.{n}.2"),
        HUB,
        &format!("swan{id}.spokes.test"),
        "hub.test",
        PSK,
    );
    c.extra.push("vips = 0.0.0.0".into());
    c.local_ts = "0.0.0.0/0".into();
    c.remote_ts = "0.0.0.0/0".into();
    c
}

/// One strongSwan spoke in its namespace.
struct Spoke {
    swan: StrongSwan,
    ns: Netns,
}

/// An rvpn hub and `spokes` strongSwan spokes (none initiated yet).
struct Lab {
    spokes: Vec<Spoke>,
    hub: Rvpnd,
    hub_ns: Netns,
}

impl Lab {
    fn new(spokes: u8, pool_last: &str) -> Lab {
        support::require_interop();
        let hub_ns = Netns::new("vsh");
        hub_ns.add_lo_addr(&format!("{HUB}/32"));
        let mut nss = Vec::new();
        for n in 1..=spokes {
            let ns = Netns::new(&format!("vs{n}"));
            veth(
                &hub_ns,
                &ns,
                &format!("10.95.{n}.1/24"),
                &format!("10.95.{n}.2/24"),
            );
            ns.route(&[&format!("{HUB}/32"), "via", &format!("10.95.{n}.1")]);
            nss.push(ns);
        }
        let hub = Rvpnd::start(&hub_ns, &support::vt::hub_config(PSK, pool_last));
        let spokes = nss
            .into_iter()
            .enumerate()
            .map(|(i, ns)| {
                let n = i as u8 + 1;
                let mut opts = SwanOpts::tagged(&format!("vs{n}"));
                // The harness turns this off; a spoke's virtual IP is
                // what it sources its tunnel traffic from.
                opts.extra_charon.push("install_virtual_ip = yes".into());
                let mut swan = StrongSwan::start(&ns, opts);
                swan.load(&[spoke_conn(n, n)]);
                Spoke { swan, ns }
            })
            .collect();
        Lab {
            spokes,
            hub,
            hub_ns,
        }
    }

    /// Spoke `i` (0-based) initiates and comes up; its IKE SA.
    fn up(&self, i: usize) -> IkeSaInfo {
        let s = &self.spokes[i];
        if let Err(e) = s.swan.initiate("net") {
            panic!(
                "spoke {} did not come up: {e}\n--- charon log:\n{}\n--- hub log:\n{}",
                i + 1,
                s.swan.log(),
                self.hub.log()
            );
        }
        s.swan
            .wait_established("hub", "net", Duration::from_secs(10))
    }

    fn sessions(&self) -> Vec<Value> {
        self.hub.show_json("show crypto session")["sessions"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The Virtual-Access interfaces that are UP-ACTIVE on the hub.
    fn up_accesses(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .sessions()
            .iter()
            .filter(|s| s["status"] == "UP-ACTIVE")
            .filter_map(|s| s["interface"].as_str().map(String::from))
            .filter(|n| n.starts_with("Virtual-Access"))
            .collect();
        v.sort();
        v
    }

    fn hub_routes(&self) -> String {
        routes(&self.hub_ns)
    }

    /// How many kernel links carry a Virtual-Access alias on the hub.
    fn va_links(&self) -> usize {
        let o = self.hub_ns.exec(&["ip", "link", "show"]);
        String::from_utf8_lossy(&o.stdout)
            .matches("alias Virtual-Access")
            .count()
    }
}

/// The virtual IP strongSwan got (`local-vips` of `swanctl --list-sas`).
fn vip_of(sa: &IkeSaInfo) -> Option<String> {
    sa.raw
        .iter()
        .find(|(k, _)| k == "local-vips")
        .and_then(|(_, v)| v.split_whitespace().next().map(String::from))
}

#[test]
fn strongswan_spoke_gets_a_pool_address_and_a_virtual_access() {
    let lab = Lab::new(1, "169.254.100.254");
    let sa = lab.up(0);
    let sp = &lab.spokes[0];
    let vip = vip_of(&sa).unwrap_or_else(|| panic!("no virtual IP: {sa:#?}\n{}", sp.swan.log()));
    assert_eq!(vip, "169.254.100.2", "the pool's first address");
    // charon installed it (install_virtual_ip): kernel-libipsec puts
    // virtual IPs on its TUN device.
    let tun = support::strongswan::TUN;
    let ok = wait_for(
        || addrs_of(&sp.ns, Some(tun)) == [vip.clone()],
        Duration::from_secs(5),
    );
    assert!(ok, "VIP {vip} not on {tun}: {:?}", addrs_of(&sp.ns, None));

    // The hub: one session per spoke, on Virtual-Access1, and the
    // interface shows the address it gave.
    let ok = wait_for(
        || lab.up_accesses() == ["Virtual-Access1"],
        Duration::from_secs(5),
    );
    assert!(ok, "{:?}\n{}", lab.sessions(), lab.hub.log());
    let s = lab
        .sessions()
        .into_iter()
        .find(|s| s["interface"] == "Virtual-Access1")
        .unwrap_or_default();
    assert_eq!(s["peer"], "10.95.1.2", "{s}");
    assert_eq!(s["profile"], "SPOKES", "{s}");
    let va = lab.hub.show_json("show interface virtual-access 1");
    let va = &va["interfaces"][0];
    assert_eq!(va["name"], "Virtual-Access1", "{va}");
    assert_eq!(va["linux_name"], "rvpn-va1", "{va}");
    assert_eq!(va["virtual_template"], "Virtual-Template1", "{va}");
    assert_eq!(va["peer_id"], "swan1.spokes.test", "{va}");
    assert_eq!(
        va["assigned"],
        serde_json::json!([format!("{vip}/32")]),
        "{va}"
    );

    // The hub routes the address into the spoke's Virtual-Access.
    let ok = wait_for(
        || has_route(&lab.hub_routes(), &vip, "rvpn-va1"),
        Duration::from_secs(5),
    );
    assert!(ok, "hub routes:\n{}", lab.hub_routes());

    // The tunnel carries a ping from the VIP to the hub's loopback.
    let mut sp = lab.spokes.into_iter().next().expect("one spoke");
    sp.swan
        .route_via_tunnel(&format!("{HUB_LOOPBACK}/32"), &vip);
    sp.ns.ping_ok(&vip, HUB_LOOPBACK, 3);

    // The hub pushed its loopback as INTERNAL_IP4_SUBNET; charon 5.9
    // has no handler for it (the attribute handlers are DNS/NBNS and
    // unity's split-include; routes follow traffic selectors only): it
    // says so and installs nothing for it, so the route above is ours.
    let log = sp.swan.log();
    assert!(
        log.contains("CPRP(ADDR SUBNET)")
            && log.contains("handling INTERNAL_IP4_SUBNET attribute failed"),
        "charon's log:\n{log}"
    );
    let t220 = sp
        .ns
        .exec_ok(&["ip", "-4", "route", "show", "table", "220"]);
    assert!(!t220.contains(HUB_LOOPBACK), "table 220:\n{t220}");
}

#[test]
fn two_strongswan_spokes_get_distinct_addresses_and_a_leaving_one_gives_its_back() {
    // A pool of two: only a returned address lets a third spoke in.
    let lab = Lab::new(2, "169.254.100.3");
    let sa1 = lab.up(0);
    let sa2 = lab.up(1);
    let v1 = vip_of(&sa1).unwrap_or_default();
    let v2 = vip_of(&sa2).unwrap_or_default();
    let mut got = vec![v1.clone(), v2.clone()];
    got.sort();
    assert_eq!(got, ["169.254.100.2", "169.254.100.3"]);
    let ok = wait_for(
        || {
            let r = lab.hub_routes();
            lab.up_accesses() == ["Virtual-Access1", "Virtual-Access2"]
                && has_route(&r, &v1, "rvpn-va1")
                && has_route(&r, &v2, "rvpn-va2")
        },
        Duration::from_secs(5),
    );
    assert!(
        ok,
        "{:?}\n{}\n{}",
        lab.sessions(),
        lab.hub_routes(),
        lab.hub.log()
    );
    for (i, vip) in [&v1, &v2].into_iter().enumerate() {
        let sp = &lab.spokes[i];
        sp.ns.exec_ok(&[
            "ip",
            "route",
            "replace",
            &format!("{HUB_LOOPBACK}/32"),
            "dev",
            support::strongswan::TUN,
            "src",
            vip,
        ]);
        sp.ns.ping_ok(vip, HUB_LOOPBACK, 2);
    }

    // Spoke 1 closes its IKE SA: its Virtual-Access, host route and
    // kernel link go within a second of the delete.
    let t0 = Instant::now();
    if let Err(e) = lab.spokes[0].swan.terminate_ike("hub") {
        panic!("terminate: {e}\n{}", lab.spokes[0].swan.log());
    }
    let gone = wait_for(
        || {
            !lab.hub_routes().contains(&format!("{v1} dev"))
                && lab.up_accesses() == ["Virtual-Access2"]
                && lab.va_links() == 1
        },
        Duration::from_secs(1),
    );
    let took = t0.elapsed();
    assert!(
        gone,
        "after spoke 1 left: {:?}\n{}\n{}",
        lab.sessions(),
        lab.hub_routes(),
        lab.hub.log()
    );
    support::figure(&format!(
        "interop_vt: strongSwan spoke's Virtual-Access and host route gone {} ms after swanctl --terminate was started",
        took.as_millis()
    ));
    // Spoke 2 is untouched.
    lab.spokes[1].ns.ping_ok(&v2, HUB_LOOPBACK, 2);

    // A new spoke (another identity, from spoke 1's namespace) gets the
    // address spoke 1 gave back, and the lowest free Virtual-Access.
    let mut lab = lab;
    lab.spokes[0].swan.load(&[spoke_conn(1, 3)]);
    let sa3 = lab.up(0);
    assert_eq!(vip_of(&sa3).as_deref(), Some(v1.as_str()), "{sa3:#?}");
    let ok = wait_for(
        || {
            lab.up_accesses() == ["Virtual-Access1", "Virtual-Access2"]
                && has_route(&lab.hub_routes(), &v1, "rvpn-va1")
        },
        Duration::from_secs(5),
    );
    assert!(ok, "{:?}\n{}", lab.sessions(), lab.hub_routes());
    let va = lab.hub.show_json("show interface virtual-access 1");
    assert_eq!(va["interfaces"][0]["peer_id"], "swan3.spokes.test", "{va}");
}

#[test]
fn an_exhausted_pool_refuses_a_strongswan_spoke_and_says_why() {
    // A pool of one address.
    let lab = Lab::new(2, "169.254.100.2");
    let sa1 = lab.up(0);
    assert_eq!(vip_of(&sa1).as_deref(), Some("169.254.100.2"));
    let second = lab.spokes[1].swan.initiate("net");
    assert!(
        second.is_err(),
        "the second spoke came up: {second:?}\n{:#?}",
        lab.spokes[1].swan.list_sas()
    );
    let log2 = lab.spokes[1].swan.log();
    assert!(
        log2.contains("INTERNAL_ADDRESS_FAILURE"),
        "charon 2's log:\n{log2}"
    );
    // The hub says why on the template, and kept spoke 1 alone.
    let tpl = lab
        .sessions()
        .into_iter()
        .find(|s| s["interface"] == "Virtual-Template1")
        .unwrap_or_default();
    let why = tpl["last_down"]["reason"]
        .as_str()
        .or(tpl["status"].as_str())
        .unwrap_or_default()
        .to_string();
    assert!(
        why.contains("pool SPOKES-POOL exhausted"),
        "template: {tpl}\n{}",
        lab.hub.log()
    );
    let text = lab.hub.vtysh_ok(&["show crypto session"]);
    assert!(text.contains("exhausted"), "{text}");
    assert_eq!(lab.up_accesses(), ["Virtual-Access1"]);
    assert_eq!(lab.va_links(), 1);
    // RFC 7296 3.15.4 keeps the IKE SA without a Child SA, and charon
    // does ("failed to establish CHILD_SA, keeping IKE_SA"); the hub
    // keeps nothing for a refused spoke, so it deletes the IKE SA and
    // charon is left with no half-open SA.
    let ok = wait_for(
        || {
            lab.spokes[1].swan.list_sas().is_empty()
                && lab
                    .sessions()
                    .iter()
                    .all(|s| s["interface"] != "Virtual-Access2")
        },
        Duration::from_secs(3),
    );
    assert!(
        ok,
        "spoke 2 still has {:#?}\n{}",
        lab.spokes[1].swan.list_sas(),
        lab.spokes[1].swan.log()
    );
    assert!(lab.spokes[1]
        .swan
        .log()
        .contains("received DELETE for IKE_SA hub"));
}

/// strongSwan as the hub: a connection with a pool of addresses (and a
/// subnet pushed as INTERNAL_IP4_SUBNET) for any spoke; rvpn as a spoke
/// with `ip address negotiated`.
#[test]
fn rvpn_spoke_gets_its_address_from_a_strongswan_pool() {
    support::require_interop();
    let hub_ns = Netns::new("vsg");
    let sp_ns = Netns::new("vsr");
    veth(&hub_ns, &sp_ns, "10.95.9.1/24", "10.95.9.2/24");
    // What the strongSwan hub has behind it.
    hub_ns.add_lo_addr("10.10.2.1/32");
    let mut swan = StrongSwan::start(&hub_ns, SwanOpts::tagged("vsg"));
    swan.set_pools(&[(
        "spokes",
        &["addrs = 10.200.0.10-10.200.0.20", "subnet = 10.10.2.0/24"],
    )]);
    let mut c = SwanConn::psk(
        "spokes",
        "10.95.9.1",
        "%any",
        "hub.test",
        "spoke1.spokes.test",
        PSK,
    );
    c.extra.push("pools = spokes".into());
    c.local_ts = "0.0.0.0/0".into();
    c.remote_ts = "0.0.0.0/0".into();
    swan.load(&[c]);
    let spoke = Rvpnd::start(
        &sp_ns,
        &support::vt::spoke_config(PSK, 1, "10.95.9.2", "10.95.9.1"),
    );
    let sa = swan.wait_established("spokes", "net", Duration::from_secs(20));
    let remote_vip = sa
        .raw
        .iter()
        .find(|(k, _)| k == "remote-vips")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    assert_eq!(remote_vip, "10.200.0.10", "{sa:#?}");
    // rvpn put it on Tunnel1 and routes the pushed subnet into it.
    let ok = wait_for(
        || addrs_of(&sp_ns, Some("Tunnel1")) == [remote_vip.clone()],
        Duration::from_secs(10),
    );
    assert!(
        ok,
        "Tunnel1 has {:?}\n{}",
        addrs_of(&sp_ns, Some("Tunnel1")),
        spoke.log()
    );
    let ok = wait_for(
        || has_route(&routes(&sp_ns), "10.10.2.0/24", "Tunnel1"),
        Duration::from_secs(10),
    );
    assert!(ok, "spoke routes:\n{}\n{}", routes(&sp_ns), spoke.log());
    // strongSwan routes the pool back into its tunnel; a ping from the
    // assigned address reaches the address behind it.
    swan.route_via_tunnel("10.200.0.0/24", "10.10.2.1");
    sp_ns.ping_ok(&remote_vip, "10.10.2.1", 3);
}
