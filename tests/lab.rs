//! The hub-and-spoke lab (issue 6): two hubs, two spokes, each spoke with a
//! tunnel and an eBGP session to each hub and a LAN with a host behind it,
//! built by `topologies/rvpn-lab` from namespaces and veths and configured
//! from configs/*.conf.
//!
//! ```text
//! host1 -- spoke1 ==Tunnel1== hub1 ==Tunnel1== spoke2 -- host2
//!             \\=====Tunnel2== hub2 ==Tunnel2=====//
//! ```
//! (tunnels named as the spokes call them; a hub's TunnelN goes to spokeN)
//!
//! What each test needs of rvpnd:
//! - `control_plane_*`: tunnels and BGP (there today).
//! - `data_plane_*`, `ecmp_*`: the RIB task installing BGP routes in the
//!   kernel, with ECMP (issue 6, in progress): until then they fail naming
//!   the missing kernel route.
//! - `failover_*`: that, plus BFD 100 ms x 3 on the sessions for the loss
//!   target ([`HUB_DEATH_LOSS_MAX`]); without BFD the hold timer (9 s)
//!   decides and the test fails printing the measured window.
//! - `planned_*`: a shutdown tunnel's routes leave the kernel before its
//!   SAs go (no probe lost).
//! - `rekeys_*`: kernel routes; Child SA rekeys (20 s lifetime at spoke1)
//!   lose no probe.
//!
//! Needs root; skipped with a message otherwise. The tests run one at a
//! time (they share the lab's namespace names, `rvlt-*`). Run with
//! `cargo test -p rvpnd --test lab -- --nocapture` to see the figures.

#[path = "support/lab.rs"]
mod lab;
mod support;

use lab::{
    lock, probe, unavailable, wait_until, Lab, ProbeOpts, ProbeResult, HOST2, LAN1, LAN2, ROUTERS,
    SPOKE1_VIA_HUB1, SPOKE1_VIA_HUB2,
};
use std::collections::BTreeSet;
use std::time::Duration;

/// The longest loss allowed when a hub dies unannounced (kill -9 and its
/// links cut), with BFD 100 ms x 3 on the BGP sessions.
const HUB_DEATH_LOSS_MAX: Duration = Duration::from_millis(300);
/// Probes a planned `shutdown` of a tunnel may lose.
const PLANNED_SHUTDOWN_LOSS_MAX: usize = 0;
/// One probe per millisecond...
const PROBE_INTERVAL: Duration = Duration::from_millis(1);
/// ...over this many flows (source ports), so that both hubs carry some.
const PROBE_FLOWS: u16 = 16;
/// How long routes may take to reach the kernel after BGP converged.
const ROUTE_WAIT: Duration = Duration::from_secs(15);

/// The lab, or None (and a message) when it cannot run here.
macro_rules! lab_or_skip {
    ($guard:ident, $lab:ident) => {
        if let Some(why) = unavailable() {
            eprintln!("SKIPPED: the lab test {why}");
            return;
        }
        let $guard = lock();
        let $lab = Lab::up();
    };
}

fn tunnels_and_sessions_up(lab: &Lab) -> Result<(), String> {
    let mut bad = Vec::new();
    for r in ROUTERS {
        let t = lab.tunnels(r);
        if t.len() != 2 || t.iter().any(|(_, s)| s != "UP-ACTIVE") {
            bad.push(format!("{r}: tunnels {t:?}"));
        }
        let p = lab.bgp_peers(r);
        if p.len() != 2 || p.iter().any(|(_, s)| s != "Established") {
            bad.push(format!("{r}: BGP sessions {p:?}"));
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(bad.join("\n"))
    }
}

/// The next hops of a spoke's BGP paths to `prefix`: (next hop, best,
/// multipath).
fn bgp_paths(lab: &Lab, node: &str, prefix: &str) -> Vec<(String, bool, bool)> {
    let v = lab.show_json(node, &format!("show ip bgp {prefix}"));
    v["paths"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    (
                        p["nexthops"][0]["ip"].as_str().unwrap_or("?").to_string(),
                        p["bestpath"].as_bool().unwrap_or(false),
                        p["multipath"].as_bool().unwrap_or(false),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn two_multipaths(paths: &[(String, bool, bool)], want: [&str; 2]) -> bool {
    let hops: BTreeSet<&str> = paths.iter().map(|(h, _, _)| h.as_str()).collect();
    hops == want.into_iter().collect()
        && paths.iter().filter(|(_, b, _)| *b).count() == 1
        && paths.iter().all(|(_, _, m)| *m)
}

/// Panic, explaining what is missing, unless spoke1 has its ECMP kernel
/// route to spoke2's LAN within [`ROUTE_WAIT`].
fn require_ecmp(lab: &Lab) {
    if wait_until(ROUTE_WAIT, || lab.spoke1_has_ecmp()).is_none() {
        panic!(
            "spoke1's kernel route to {LAN2} does not use both tunnels after {ROUTE_WAIT:?}:\n  \
             {}\nBGP has: {:?}\n(needs rvpnd's RIB task to install BGP multipath routes in the \
             kernel, issue 6)",
            lab.kernel_route_text("spoke1", LAN2),
            bgp_paths(lab, "spoke1", LAN2)
        );
    }
}

/// Packets hub1 sends into its tunnel to spoke2 in half a second: a few
/// hundred while some probe flows cross hub1, about none (BGP keepalives)
/// otherwise. None when the counter cannot be read.
fn hub1_forwarding(lab: &Lab) -> Option<u64> {
    let tx = || -> Option<u64> {
        let o = support::run_timeout(
            std::process::Command::new("ip").args([
                "-n",
                &lab.ns("hub1"),
                "-j",
                "-s",
                "link",
                "show",
                "dev",
                "Tunnel2",
            ]),
            Duration::from_secs(5),
        );
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).ok()?;
        v[0]["stats64"]["tx"]["packets"].as_u64()
    };
    let before = tx()?;
    std::thread::sleep(Duration::from_millis(500));
    Some(tx()?.saturating_sub(before))
}

/// More than BGP's own packets: some probe flows cross hub1.
const HUB1_CARRIES: u64 = 50;

/// Loss among the probes sent in `[from, to)`: (window from the first to
/// the last lost probe plus one interval, lost, longest run of
/// consecutive lost sequence numbers).
fn loss_between(r: &ProbeResult, from: Duration, to: Duration) -> (Duration, usize, u32) {
    let lost: Vec<u32> = r
        .lost
        .iter()
        .copied()
        .filter(|&s| r.sent_at[s as usize] >= from && r.sent_at[s as usize] < to)
        .collect();
    let (Some(&first), Some(&last)) = (lost.first(), lost.last()) else {
        return (Duration::ZERO, 0, 0);
    };
    let window = r.sent_at[last as usize] - r.sent_at[first as usize] + r.opts.interval;
    let longest = r
        .bursts_between(from, to)
        .iter()
        .map(|b| b.longest_run)
        .max()
        .unwrap_or(0);
    (window, lost.len(), longest)
}

#[test]
fn control_plane_tunnels_bgp_and_two_paths() {
    lab_or_skip!(_g, lab);
    // `up` waited for all of it; check it as the operator sees it.
    if wait_until(Duration::from_secs(10), || {
        tunnels_and_sessions_up(&lab).is_ok()
    })
    .is_none()
    {
        let e = tunnels_and_sessions_up(&lab).err().unwrap_or_default();
        panic!("not every tunnel UP-ACTIVE and session Established:\n{e}");
    }
    // Each spoke learns the other's LAN from both hubs: two paths, one
    // best, both multipath (maximum-paths 2).
    let want = [
        ("spoke1", LAN2, [SPOKE1_VIA_HUB1, SPOKE1_VIA_HUB2]),
        ("spoke2", LAN1, ["169.254.12.1", "169.254.22.1"]),
    ];
    for (node, prefix, hops) in want {
        let ok = wait_until(Duration::from_secs(10), || {
            two_multipaths(&bgp_paths(&lab, node, prefix), hops)
        });
        assert!(
            ok.is_some(),
            "{node}: show ip bgp {prefix} should have two multipaths via {hops:?}, has {:?}:\n{}",
            bgp_paths(&lab, node, prefix),
            lab.vtysh_ok(node, &["show ip bgp"])
        );
    }
    eprintln!(
        "{}",
        lab.vtysh_ok("spoke1", &[&format!("show ip bgp {LAN2}")])
    );
}

#[test]
fn data_plane_host1_pings_host2() {
    lab_or_skip!(_g, lab);
    let routed = wait_until(ROUTE_WAIT, || {
        !lab.kernel_nexthops("spoke1", LAN2).is_empty()
            && !lab.kernel_nexthops("hub1", LAN2).is_empty()
            && !lab.kernel_nexthops("spoke2", LAN1).is_empty()
            && !lab.kernel_nexthops("hub1", LAN1).is_empty()
    });
    assert!(
        routed.is_some(),
        "no kernel routes between the LANs after {ROUTE_WAIT:?} (needs rvpnd's RIB task to \
         install BGP routes, issue 6):\n  spoke1: {}\n  hub1: {} / {}\n  spoke2: {}",
        lab.kernel_route_text("spoke1", LAN2),
        lab.kernel_route_text("hub1", LAN2),
        lab.kernel_route_text("hub1", LAN1),
        lab.kernel_route_text("spoke2", LAN1),
    );
    let o = lab.exec(
        "host1",
        &["ping", "-n", "-c", "5", "-i", "0.2", "-W", "1", HOST2],
    );
    let text = support::output_text(&o);
    assert!(
        o.status.success() && text.contains(" 0% packet loss"),
        "ping host1 -> host2 failed:\n{text}"
    );
}

#[test]
fn ecmp_spoke_routes_over_both_hubs() {
    lab_or_skip!(_g, lab);
    require_ecmp(&lab);
    let hops = lab.kernel_nexthops("spoke1", LAN2);
    eprintln!("spoke1: {}", lab.kernel_route_text("spoke1", LAN2));
    // Where the kernel route names gateways, they are the hubs' tunnel ends.
    for (gw, dev) in &hops {
        let want = if dev == "Tunnel1" {
            SPOKE1_VIA_HUB1
        } else {
            SPOKE1_VIA_HUB2
        };
        assert!(
            gw.is_empty() || gw == want,
            "spoke1: next hop {gw} on {dev}, expected {want}: {hops:?}"
        );
    }
    assert_eq!(
        hops.len(),
        2,
        "spoke1: exactly one next hop per hub: {hops:?}"
    );
    let devs: BTreeSet<String> = lab
        .kernel_nexthops("spoke2", LAN1)
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    assert_eq!(
        devs,
        ["Tunnel1", "Tunnel2"]
            .map(String::from)
            .into_iter()
            .collect(),
        "spoke2's route to {LAN1}: {}",
        lab.kernel_route_text("spoke2", LAN1)
    );
}

#[test]
fn failover_hub1_killed_then_back() {
    lab_or_skip!(_g, lab);
    require_ecmp(&lab);
    let kill_after = Duration::from_secs(3);
    let opts = ProbeOpts {
        count: 25_000,
        interval: PROBE_INTERVAL,
        flows: PROBE_FLOWS,
    };
    let stream_len = PROBE_INTERVAL * opts.count;
    let p = probe(&lab.ns("host1"), &lab.ns("host2"), opts);
    std::thread::sleep(Duration::from_secs(1));
    let hub1_rate = hub1_forwarding(&lab);
    std::thread::sleep(kill_after.saturating_sub(p.elapsed()));

    // Unplanned: kill -9 of hub1's rvpnd, then its links cut.
    let kill_at = p.elapsed();
    lab.kill("hub1");
    lab.links("hub1", false);
    let withdrawn = wait_until(Duration::from_secs(12), || {
        !lab.kernel_nexthops("spoke1", LAN2)
            .iter()
            .any(|(_, d)| d == "Tunnel1")
    });
    // Unknown (counter unreadable) counts as carried: the loss figures
    // still tell.
    let hub1_carried = hub1_rate.is_none_or(|n| n > HUB1_CARRIES);
    eprintln!(
        "spoke1 dropped hub1's next hop {} after the kill",
        withdrawn.map_or("not within 12 s".to_string(), |d| format!(
            "{} ms",
            d.as_millis()
        ))
    );

    // Back: links up, rvpnd started again.
    std::thread::sleep(Duration::from_millis(500));
    let restore_at = p.elapsed();
    lab.links("hub1", true);
    lab.start("hub1");
    let ecmp_back = wait_until(Duration::from_secs(30), || lab.spoke1_has_ecmp());
    eprintln!(
        "ECMP back {} after hub1's restart",
        ecmp_back.map_or("not within 30 s".to_string(), |d| format!(
            "{} ms",
            d.as_millis()
        ))
    );
    let r = p.finish(Duration::from_secs(1));
    eprintln!("probes: {}", r.summary());

    let (base_w, base_lost, _) = loss_between(&r, Duration::ZERO, kill_at);
    let (win, lost, run) = loss_between(&r, kill_at, restore_at);
    let (back_w, back_lost, back_run) = loss_between(&r, restore_at, stream_len * 2);
    support::figure(&format!(
        "loss window: {} ms (hub1 killed: {lost} probes lost, longest run {run}; target < {} ms)",
        win.as_millis(),
        HUB_DEATH_LOSS_MAX.as_millis()
    ));
    support::figure(&format!(
        "loss on hub1's return: {} ms ({back_lost} probes lost, longest run {back_run})",
        back_w.as_millis()
    ));

    let mut fails = Vec::new();
    if base_lost > 0 {
        fails.push(format!(
            "{base_lost} probes lost before the kill (window {} ms): the lab did not forward \
             cleanly",
            base_w.as_millis()
        ));
    }
    if !hub1_carried {
        fails.push(format!(
            "hub1 forwarded {hub1_rate:?} packets in 0.5 s before the kill: no probe flow \
             crossed it"
        ));
    }
    if ecmp_back.is_none() {
        fails.push(format!(
            "ECMP did not return within 30 s of hub1's restart: spoke1 has {}",
            lab.kernel_route_text("spoke1", LAN2)
        ));
    }
    if win >= HUB_DEATH_LOSS_MAX {
        fails.push(format!(
            "loss window {} ms when hub1 died, target < {} ms (needs BFD 100 ms x 3 on the \
             sessions, configs' TODO(bfd); without BFD the BGP hold time, 9 s, decides)",
            win.as_millis(),
            HUB_DEATH_LOSS_MAX.as_millis()
        ));
    }
    assert!(fails.is_empty(), "{}", fails.join("\n"));
}

#[test]
fn planned_tunnel_shutdown_loses_nothing() {
    lab_or_skip!(_g, lab);
    require_ecmp(&lab);
    let opts = ProbeOpts {
        count: 8_000,
        interval: PROBE_INTERVAL,
        flows: PROBE_FLOWS,
    };
    let p = probe(&lab.ns("host1"), &lab.ns("host2"), opts);
    std::thread::sleep(Duration::from_secs(1));
    let hub1_rate = hub1_forwarding(&lab);
    std::thread::sleep(Duration::from_secs(2).saturating_sub(p.elapsed()));
    let shut_at = p.elapsed();
    lab.vtysh_ok(
        "spoke1",
        &["configure terminal", "interface Tunnel1", "shutdown", "end"],
    );
    let withdrawn = wait_until(Duration::from_secs(5), || {
        !lab.kernel_nexthops("spoke1", LAN2)
            .iter()
            .any(|(_, d)| d == "Tunnel1")
    });
    let r = p.finish(Duration::from_secs(1));
    eprintln!("probes: {}", r.summary());
    let (win, lost, _) = loss_between(&r, shut_at, PROBE_INTERVAL * r.opts.count * 2);
    let (_, before, _) = loss_between(&r, Duration::ZERO, shut_at);
    support::figure(&format!(
        "planned shutdown of spoke1's Tunnel1: {lost} probes lost (window {} ms), hub1's next \
         hop gone from the kernel {}",
        win.as_millis(),
        withdrawn.map_or("not within 5 s".to_string(), |d| format!(
            "after {} ms",
            d.as_millis()
        ))
    ));
    assert!(
        hub1_rate.is_none_or(|n| n > HUB1_CARRIES),
        "hub1 forwarded {hub1_rate:?} packets in 0.5 s before the shutdown: no probe flow \
         crossed it"
    );
    assert_eq!(
        before,
        0,
        "probes lost before the shutdown: {}",
        r.summary()
    );
    assert!(
        withdrawn.is_some(),
        "spoke1 still routes into the shut Tunnel1: {}",
        lab.kernel_route_text("spoke1", LAN2)
    );
    // The allowance is 0 today; it is a constant so it can be changed.
    #[allow(clippy::absurd_extreme_comparisons)]
    let within = lost <= PLANNED_SHUTDOWN_LOSS_MAX;
    assert!(
        within,
        "a planned shutdown lost {lost} probes (window {} ms), allowed {PLANNED_SHUTDOWN_LOSS_MAX}",
        win.as_millis()
    );
}

/// One end of a link: (node, interface, address/len).
type End = (String, String, String);

/// The links of topologies/rvpn-lab (its `LINKS=(...)` lines).
fn rvpn_lab_links(script: &str) -> Vec<(End, End)> {
    let body = script
        .split("\nLINKS=(\n")
        .nth(1)
        .and_then(|s| s.split("\n)").next())
        .expect("rvpn-lab has a LINKS=( ... ) array");
    let end = |s: &str| -> End {
        let mut f = s.split(':').map(String::from);
        let mut next = || f.next().expect("node:interface:address");
        (next(), next(), next())
    };
    body.lines()
        .map(|l| l.trim().trim_matches('"'))
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (a, b) = l.split_once(' ').expect("two ends");
            (end(a), end(b))
        })
        .collect()
}

/// Every node's `exec:` lines and binds in the containerlab file.
fn clab_nodes(yml: &str) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut nodes = std::collections::BTreeMap::new();
    let mut cur: Option<String> = None;
    let mut in_nodes = false;
    for line in yml.lines() {
        if line == "  nodes:" {
            in_nodes = true;
            continue;
        }
        if line == "  links:" {
            in_nodes = false;
        }
        if !in_nodes {
            continue;
        }
        let t = line.trim();
        if line.starts_with("    ") && !line.starts_with("     ") && t.ends_with(':') {
            cur = Some(t.trim_end_matches(':').to_string());
        } else if let (Some(n), Some(item)) = (&cur, t.strip_prefix("- ")) {
            nodes
                .entry(n.clone())
                .or_insert_with(Vec::new)
                .push(item.to_string());
        }
    }
    nodes
}

/// The namespace lab, the containerlab file and the configs describe the
/// same topology: links, addresses, gateways, and tunnel endpoints that
/// are the two ends of one link. Needs no root.
#[test]
fn topologies_agree_with_each_other_and_the_configs() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let read =
        |p: &str| std::fs::read_to_string(root.join(p)).unwrap_or_else(|e| panic!("read {p}: {e}"));
    let links = rvpn_lab_links(&read("topologies/rvpn-lab"));
    let yml = read("topologies/hub-spoke.clab.yml");
    let nodes = clab_nodes(&yml);
    assert_eq!(links.len(), 6, "{links:?}");
    assert_eq!(
        nodes.keys().map(String::as_str).collect::<Vec<_>>(),
        ["host1", "host2", "hub1", "hub2", "spoke1", "spoke2"]
    );
    let mut errors = Vec::new();
    for ((an, ai, aa), (bn, bi, ba)) in &links {
        let ep = format!("[\"{an}:{ai}\", \"{bn}:{bi}\"]");
        if !yml.contains(&format!("- endpoints: {ep}")) {
            errors.push(format!("hub-spoke.clab.yml lacks the link {ep}"));
        }
        for (n, i, a) in [(an, ai, aa), (bn, bi, ba)] {
            let want = format!("ip addr add {a} dev {i}");
            if !nodes[n.as_str()].contains(&want) {
                errors.push(format!("hub-spoke.clab.yml: {n} lacks '{want}'"));
            }
        }
    }
    for (host, gw) in [("host1", "10.1.0.1"), ("host2", "10.2.0.1")] {
        let want = format!("ip route replace default via {gw}");
        if !nodes[host].contains(&want) {
            errors.push(format!("hub-spoke.clab.yml: {host} lacks '{want}'"));
        }
        if !read("topologies/rvpn-lab").contains(&format!("\"{host}:{gw}\"")) {
            errors.push(format!("rvpn-lab: {host}'s gateway is not {gw}"));
        }
    }
    // Each router's tunnels run between the two ends of one of its links.
    let addr = |a: &str| a.split('/').next().unwrap_or("").to_string();
    for r in ROUTERS {
        let bind = format!("../configs/{r}.conf:/etc/rvpn/startup.conf:ro");
        if !nodes[r].contains(&bind) {
            errors.push(format!("hub-spoke.clab.yml: {r} does not bind {bind}"));
        }
        let conf = read(&format!("configs/{r}.conf"));
        let words = |kw: &str| -> Vec<String> {
            conf.lines()
                .filter_map(|l| l.trim().strip_prefix(kw).map(|s| s.trim().to_string()))
                .collect()
        };
        let (srcs, dsts) = (words("tunnel source "), words("tunnel destination "));
        assert_eq!(srcs.len(), 2, "configs/{r}.conf: {srcs:?}");
        for (s, d) in srcs.iter().zip(&dsts) {
            let ok = links.iter().any(|((an, _, aa), (bn, _, ba))| {
                (an == r && &addr(aa) == s && &addr(ba) == d)
                    || (bn == r && &addr(ba) == s && &addr(aa) == d)
            });
            if !ok {
                errors.push(format!(
                    "configs/{r}.conf: tunnel {s} -> {d} is not a link of {r} in rvpn-lab"
                ));
            }
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

/// Child SA lifetime for the rekey test: spoke1 rekeys both tunnels about
/// 17-19 s after they come up.
const REKEY_LIFETIME_S: u32 = 20;
/// Probes the rekeys may lose.
const REKEY_LOSS_MAX: usize = 0;

#[test]
fn rekeys_lose_nothing() {
    lab_or_skip!(_g, lab);
    require_ecmp(&lab);
    let rekeys = || {
        lab.log_tail("spoke1", 100_000)
            .matches("rekeying CHILD_SA")
            .count()
    };
    let sas_up = || {
        lab.log_tail("spoke1", 100_000)
            .matches("IPsec SA up")
            .count()
    };
    let sas_before = sas_up();
    // A short lifetime, and new SAs that have it (a lifetime change may or
    // may not renegotiate by itself: clear makes sure); the tunnels then
    // rekey (make-before-break) within the probe stream below.
    lab.vtysh_ok(
        "spoke1",
        &[
            "configure terminal",
            "crypto ipsec profile VTI",
            &format!("set security-association lifetime seconds {REKEY_LIFETIME_S}"),
            "end",
            "clear crypto session",
        ],
    );
    let back = wait_until(Duration::from_secs(20), || {
        sas_up() >= sas_before + 2 && tunnels_and_sessions_up(&lab).is_ok() && lab.spoke1_has_ecmp()
    });
    assert!(
        back.is_some(),
        "spoke1's new SAs, sessions and ECMP route not up after the lifetime change: {}",
        lab.kernel_route_text("spoke1", LAN2)
    );
    let before = rekeys();
    let opts = ProbeOpts {
        count: 22_000,
        interval: PROBE_INTERVAL,
        flows: PROBE_FLOWS,
    };
    let r = probe(&lab.ns("host1"), &lab.ns("host2"), opts).finish(Duration::from_secs(1));
    let done = rekeys() - before;
    eprintln!("probes: {}", r.summary());
    let (win, lost, _) = loss_between(&r, Duration::ZERO, PROBE_INTERVAL * r.opts.count * 2);
    support::figure(&format!(
        "rekeys: {lost} probes lost (window {} ms) across {done} Child SA rekeys at spoke1",
        win.as_millis()
    ));
    assert!(
        done >= 2,
        "spoke1 rekeyed {done} Child SAs during the stream, expected both tunnels'"
    );
    // The allowance is 0 today; it is a constant so it can be changed.
    #[allow(clippy::absurd_extreme_comparisons)]
    let within = lost <= REKEY_LOSS_MAX;
    assert!(
        within,
        "rekeys lost {lost} probes (window {} ms), allowed {REKEY_LOSS_MAX}",
        win.as_millis()
    );
}
