//! A burst of 200 tunnels coming up at once on a hub, every BGP neighbor
//! reaching Established (issue 14).
//!
//! ```text
//! spokes (one rvpnd, 200 tunnels, AS 65001) ==Tunnel1..200== hub (rvpnd, AS 65000)
//!        10.77.0.2, sources 10.77.1.1-200                     10.77.0.1
//! ```
//!
//! Each spoke tunnel has its own `tunnel source` (rvpn, like IOS, takes no
//! two tunnels with the same source and destination), and rvpnd sends
//! each tunnel's IKE from its source (IP_PKTINFO), so the hub sees 200
//! spokes at 200 addresses (routed to it over the link) and no NAT.
//!
//! The hub has 200 `tunnel destination dynamic` interfaces, each bound by
//! its IKEv2 profile to one spoke identity (`match identity remote fqdn
//! spokeN.test`), and takes the BGP sessions as dynamic neighbors of a
//! `bgp listen range`. The spokes are one rvpnd with 200 tunnel
//! interfaces to the hub, each with its own identity and its own BGP
//! neighbor (the hub's end of that tunnel), announcing its own prefix
//! 10.200.N.0/24 on tunnel N only. The spoke daemon starts with all of it
//! configured, so 200 IKE SAs, 200 Child SAs, 200 tunnel interfaces and
//! 200 BGP sessions come up at once.
//!
//! A session bound to a tunnel runs only while the tunnel has an SA, so a
//! tunnel-up event lost between IKE and BGP (a dropped control message)
//! leaves that session Idle for good: the test asserts that all 200 reach
//! Established on both ends within [`BOUND`], that the hub's BGP table
//! and RIB hold every spoke's prefix through its own tunnel, and that
//! every spoke session received the hub's prefix. It prints the time to
//! all tunnels up and to all sessions Established.
//!
//! Needs root (namespaces, TUN); no other package.

mod support;

use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::{Duration, Instant};
use support::load::{rss_kib, rvpnd_pid, tail};
use support::netns::{veth, Netns};
use support::rvpn::{Rvpnd, RvpndOpts};
use support::{figure, Scratch};

const SPOKES: usize = 200;
const HUB: &str = "10.77.0.1";
const SPOKE: &str = "10.77.0.2";
const PSK: &str = "burst-test-psk-0123456789abcdef";
/// Every session Established within this long of the spokes' start
/// (about 25 s measured on 2 busy cores). A tunnel that fails on the way
/// up waits for its IKE_AUTH retransmissions to give up (about 90 s)
/// before it starts again, so this bound catches one lost tunnel.
const BOUND: Duration = Duration::from_secs(75);
/// The hub's own prefix, announced to every spoke.
const HUB_NET: &str = "10.250.0.0/16";

/// Tunnel `i` (1..=200): the /30's hub and spoke addresses.
fn tunnel_addrs(i: usize) -> (String, String) {
    let n = i - 1;
    let (third, fourth) = (10 + n / 64, (n % 64) * 4);
    (
        format!("169.254.{third}.{}", fourth + 1),
        format!("169.254.{third}.{}", fourth + 2),
    )
}

/// Tunnel `i`'s source address on the spokes' side.
/// Where the spokes' IKE comes from: their tunnel sources.
const SPOKE_SOURCES: &str = "10.77.1.0/24";

fn spoke_source(i: usize) -> String {
    format!("10.77.1.{i}")
}

fn spoke_net(i: usize) -> String {
    format!("10.200.{i}.0/24")
}

const CRYPTO_COMMON: &str = "crypto ikev2 proposal P
 encryption aes-gcm-256
 prf sha384
 group 31
!
crypto ipsec transform-set TS esp-gcm 256
!
";

/// One end of tunnel `i`: its IKEv2 profile (one remote identity), IPsec
/// profile and interface.
struct TunnelEnd {
    remote_id: String,
    local_id: String,
    address: String,
    source: String,
    destination: String,
}

impl TunnelEnd {
    fn write(&self, c: &mut String, i: usize) {
        let TunnelEnd {
            remote_id,
            local_id,
            address,
            source,
            destination,
        } = self;
        let _ = write!(
            c,
            "crypto ikev2 profile T{i}
 match identity remote fqdn {remote_id}
 identity local fqdn {local_id}
 authentication local pre-share
 authentication remote pre-share
 keyring local K
 proposal P
!
crypto ipsec profile I{i}
 set transform-set TS
 set ikev2-profile T{i}
!
interface Tunnel{i}
 ip address {address}/30
 tunnel source {source}
 tunnel destination {destination}
 tunnel protection ipsec profile I{i}
!
"
        );
    }
}

fn hub_config() -> String {
    let mut c = String::from("hostname hub\n");
    // 200 spokes start at once: the half-open limits must let them in
    // (and would, were they behind one address: docs/CLI.md).
    c.push_str(
        "crypto ikev2 cookie-challenge 1000
crypto ikev2 limit max-in-negotiation-sa 2000
crypto ikev2 limit max-in-negotiation-sa-per-address 1000
",
    );
    c.push_str(CRYPTO_COMMON);
    let _ = write!(
        c,
        "crypto ikev2 keyring K\n peer spokes\n  address {SPOKE_SOURCES}\n  pre-shared-key 0 {PSK}\n!\n"
    );
    for i in 1..=SPOKES {
        let end = TunnelEnd {
            remote_id: format!("spoke{i}.test"),
            local_id: "hub.test".into(),
            address: tunnel_addrs(i).0,
            source: HUB.into(),
            destination: "dynamic".into(),
        };
        end.write(&mut c, i);
    }
    let _ = write!(
        c,
        "ip prefix-list HUB-OUT seq 5 permit {HUB_NET}
!
router bgp 65000
 bgp router-id 10.255.0.1
 no bgp ebgp-requires-policy
 bgp listen limit 400
 neighbor SPOKES peer-group
 neighbor SPOKES remote-as 65001
 bgp listen range 169.254.0.0/16 peer-group SPOKES
 !
 address-family ipv4 unicast
  network {HUB_NET}
  neighbor SPOKES prefix-list HUB-OUT out
 exit-address-family
!
"
    );
    c
}

fn spokes_config() -> String {
    let mut c = String::from("hostname spokes\n");
    c.push_str(CRYPTO_COMMON);
    let _ = write!(
        c,
        "crypto ikev2 keyring K\n peer hub\n  address {HUB}\n  identity fqdn hub.test\n  pre-shared-key 0 {PSK}\n!\n"
    );
    for i in 1..=SPOKES {
        let end = TunnelEnd {
            remote_id: "hub.test".into(),
            local_id: format!("spoke{i}.test"),
            address: tunnel_addrs(i).1,
            source: spoke_source(i),
            destination: HUB.into(),
        };
        end.write(&mut c, i);
        let _ = write!(
            c,
            "ip prefix-list OUT{i} seq 5 permit {}\n!\n",
            spoke_net(i)
        );
    }
    c.push_str(
        "router bgp 65001
 bgp router-id 10.255.0.2
 no bgp ebgp-requires-policy
",
    );
    for i in 1..=SPOKES {
        let _ = writeln!(c, " neighbor {} remote-as 65000", tunnel_addrs(i).0);
    }
    c.push_str(" !\n address-family ipv4 unicast\n");
    for i in 1..=SPOKES {
        let _ = writeln!(c, "  network {}", spoke_net(i));
        let _ = writeln!(c, "  neighbor {} prefix-list OUT{i} out", tunnel_addrs(i).0);
    }
    c.push_str(" exit-address-family\n!\n");
    c
}

/// Tunnels `show crypto session` has UP-ACTIVE.
fn tunnels_up(r: &Rvpnd) -> usize {
    let v = r.show_json("show crypto session");
    v["sessions"]
        .as_array()
        .map(|l| l.iter().filter(|s| s["status"] == "UP-ACTIVE").count())
        .unwrap_or(0)
}

#[test]
fn a_burst_of_200_tunnels_brings_every_bgp_neighbor_to_established() {
    support::require_interop();
    let hub_ns = Netns::new("ldhub");
    let spk_ns = Netns::new("ldspk");
    let link = veth(
        &hub_ns,
        &spk_ns,
        &format!("{HUB}/24"),
        &format!("{SPOKE}/24"),
    );
    // The spokes' tunnel sources, in one `ip -batch`.
    let scratch = Scratch::new("ldburst");
    let batch = scratch.join("addrs.batch");
    let lines: String = (1..=SPOKES)
        .map(|i| format!("address add {}/32 dev {}\n", spoke_source(i), link.b_if))
        .collect();
    std::fs::write(&batch, lines).expect("write the batch");
    spk_ns.exec_ok(&["ip", "-batch", batch.to_str().expect("utf-8 path")]);
    hub_ns.route(&[SPOKE_SOURCES, "via", SPOKE]);
    let opts = |tag: &str| RvpndOpts {
        tag: tag.into(),
        args: vec!["--dataplane".into(), "userspace".into()],
        env: Vec::new(),
        rust_log: "info".into(),
    };
    let hub = Rvpnd::start_with(&hub_ns, &hub_config(), opts("ldhub"));
    let hub_pid = rvpnd_pid(&hub);
    let rss_hub_before = rss_kib(hub_pid);

    let t0 = Instant::now();
    let mut spokes = Rvpnd::start_with(&spk_ns, &spokes_config(), opts("ldspokes"));
    let want_hub: BTreeSet<String> = (1..=SPOKES).map(|i| tunnel_addrs(i).1).collect();
    let want_spk: BTreeSet<String> = (1..=SPOKES).map(|i| tunnel_addrs(i).0).collect();
    let (mut t_tunnels, mut t_hub, mut t_spk) = (None, None, None);
    let (mut hub_est, mut spk_est, mut up) = (BTreeSet::new(), BTreeSet::new(), 0);
    let mut samples = Vec::new();
    while t0.elapsed() < BOUND && (t_hub.is_none() || t_spk.is_none()) {
        if t_tunnels.is_none() {
            up = tunnels_up(&hub);
            if up == SPOKES {
                t_tunnels = Some(t0.elapsed());
            }
        }
        hub_est = hub.bgp_established();
        spk_est = spokes.bgp_established();
        samples.push((t0.elapsed().as_secs(), up, hub_est.len()));
        if t_hub.is_none() && want_hub.is_subset(&hub_est) {
            t_hub = Some(t0.elapsed());
        }
        if t_spk.is_none() && want_spk.is_subset(&spk_est) {
            t_spk = Some(t0.elapsed());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let logs = |spokes: &Rvpnd| {
        format!(
            "--- hub:\n{}\n--- spokes:\n{}",
            tail(&hub.log()),
            tail(&spokes.log())
        )
    };
    let missing: Vec<&String> = want_hub.difference(&hub_est).collect();
    assert!(
        t_hub.is_some(),
        "{} of {SPOKES} neighbors Established on the hub after {BOUND:?} ({up} tunnels up); \
         missing {missing:?}\nprogress (s, tunnels up, established): {samples:?}\n{}",
        want_hub.intersection(&hub_est).count(),
        logs(&spokes)
    );
    let missing: Vec<&String> = want_spk.difference(&spk_est).collect();
    assert!(
        t_spk.is_some(),
        "{} of {SPOKES} neighbors Established on the spokes; missing {missing:?}\n{}",
        want_spk.intersection(&spk_est).count(),
        logs(&spokes)
    );

    // Every spoke's prefix: in the hub's BGP table from its own neighbor,
    // and in the hub's RIB through its own tunnel.
    let routes_ok = |table: &Value, rib: &Value| -> Vec<String> {
        (1..=SPOKES)
            .filter_map(|i| {
                let net = spoke_net(i);
                let (_, spoke) = tunnel_addrs(i);
                let from_spoke = table["routes"][&net]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["peerId"] == spoke.as_str()));
                let sel = &rib[&net][0];
                let via_tunnel = sel["protocol"] == "bgp"
                    && sel["nexthops"][0]["interfaceName"] == format!("Tunnel{i}").as_str();
                (!(from_spoke && via_tunnel)).then(|| format!("{net}: {}", rib[&net]))
            })
            .collect()
    };
    let mut bad = Vec::new();
    let t_routes = support::wait_for(
        || {
            let table = hub.show_json("show ip bgp");
            let rib = hub.show_json("show ip route");
            bad = routes_ok(&table, &rib);
            bad.is_empty()
        },
        Duration::from_secs(30),
    )
    .then(|| t0.elapsed());
    let hub_paths = || {
        spokes.show_json(&format!("show ip bgp {HUB_NET}"))["paths"]
            .as_array()
            .map_or(0, |a| a.len())
    };
    let got_hub_net = support::wait_for(|| hub_paths() == SPOKES, Duration::from_secs(30));
    let rss_hub_after = rss_kib(hub_pid);
    let spokes_pid = rvpnd_pid(&spokes);

    let secs = |d: Option<Duration>| d.map_or("-".into(), |d| format!("{:.1}", d.as_secs_f64()));
    figure(&format!(
        "hub_burst: {SPOKES} tunnels from one spoke rvpnd started at once: all UP-ACTIVE on the \
         hub after {} s, all {SPOKES} BGP neighbors Established on the hub after {} s (spoke \
         side {} s), every spoke prefix in the hub's BGP table and RIB through its tunnel after \
         {} s (bound {} s)",
        secs(t_tunnels),
        secs(t_hub),
        secs(t_spk),
        secs(t_routes),
        BOUND.as_secs()
    ));
    figure(&format!(
        "hub_burst: hub VmRSS {rss_hub_before} KiB before, {rss_hub_after} KiB with {SPOKES} \
         tunnels and sessions; spokes rvpnd {} KiB",
        rss_kib(spokes_pid)
    ));
    assert!(
        t_routes.is_some(),
        "spoke prefixes missing or not through their tunnel on the hub: {bad:?}\n{}",
        logs(&spokes)
    );
    assert!(
        got_hub_net,
        "the spokes have {} paths to {HUB_NET}, one per session ({SPOKES}) expected",
        hub_paths()
    );
    // And they stay up: no session went down after the burst.
    let n = hub.show_json("show ip bgp summary");
    let flapped: Vec<String> = n["ipv4Unicast"]["peers"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(_, p)| p["state"] != "Established")
                .map(|(a, p)| format!("{a}: {}", p["state"]))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        flapped.is_empty(),
        "hub sessions not Established: {flapped:?}"
    );
    // No tunnel failed on the way up because the data plane was busy
    // installing the others (ike::sa::INSTALL_TIMEOUT).
    assert!(
        !hub.log().contains("did not confirm the install")
            && !spokes.log().contains("did not confirm the install"),
        "installs timed out during the burst\n{}",
        logs(&spokes)
    );
    // SIGTERM: Cease to 200 neighbors, Delete to the hub for 200 IKE SAs,
    // 200 TUNs removed; rvpnd exits 0 by itself.
    let log_text = logs(&spokes);
    assert!(spokes.running(), "the spokes' rvpnd exited\n{log_text}");
    let t_stop = Instant::now();
    spokes.signal(libc::SIGTERM);
    let status = spokes.wait_exit(Duration::from_secs(30));
    figure(&format!(
        "hub_burst: the spokes' rvpnd stopped on SIGTERM with {SPOKES} tunnels in {:.1} s ({status:?})",
        t_stop.elapsed().as_secs_f64()
    ));
    assert!(
        status.is_some_and(|s| s.success()),
        "the spokes' rvpnd did not exit 0 within 30 s of SIGTERM: {status:?}\n{log_text}"
    );
}
