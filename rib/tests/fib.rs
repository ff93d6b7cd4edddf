//! The FIB writer against the kernel: ECMP routes by nexthop objects and
//! inline, reconciliation after a restart, refused writes, objects the
//! kernel removes on its own, and many routes pipelined. Each test runs in
//! a network namespace of its own (skipped without root).

use ipnetwork::IpNetwork;
use rib::fib::*;
use rib::{Candidate, FibChange, NextHop, Resolved, Rib, Selected, Source};
use std::net::IpAddr;
use std::process::Command;

fn sh(args: &[&str]) -> String {
    let o = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `ip -n NS ARGS...`
fn ip(ns: &str, args: &[&str]) -> String {
    let mut a = vec!["ip", "-n", ns];
    a.extend_from_slice(args);
    sh(&a)
}

/// Runs `f` on a thread inside network namespace `ns` with its own
/// runtime (netlink sockets belong to the namespace they were opened
/// in). A failed assertion inside fails the test.
fn in_ns<T: Send + 'static, F: std::future::Future<Output = T>>(
    ns: &str,
    f: impl FnOnce() -> F + Send + 'static,
) -> T {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let fd = std::fs::File::open(&path).unwrap();
        use std::os::fd::AsRawFd;
        // SAFETY: setns on a valid namespace fd affects only this thread.
        let r = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns");
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f())
    })
    .join()
    .unwrap()
}

struct Ns(String);
impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// A fresh namespace with two veth pairs standing in for two tunnels:
/// d1 169.254.11.2/30 + fd00:11::2/64, d2 169.254.12.2/30 +
/// fd00:12::2/64 (the peers .1 / ::1 are the next hops). None (and a
/// SKIPPED line) when not root.
fn setup(tag: &str) -> Option<Ns> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: needs root (network namespaces)");
        return None;
    }
    let name = format!("rvfib{}{tag}", std::process::id());
    sh(&["ip", "netns", "add", &name]);
    let ns = Ns(name);
    ip(&ns.0, &["link", "set", "lo", "up"]);
    for (i, a, a6) in [
        ("d1", "169.254.11.2/30", "fd00:11::2/64"),
        ("d2", "169.254.12.2/30", "fd00:12::2/64"),
    ] {
        let peer = format!("{i}p");
        ip(
            &ns.0,
            &["link", "add", i, "type", "veth", "peer", "name", &peer],
        );
        ip(&ns.0, &["addr", "add", a, "dev", i]);
        ip(&ns.0, &["addr", "add", a6, "dev", i, "nodad"]);
        ip(&ns.0, &["link", "set", i, "up"]);
        ip(&ns.0, &["link", "set", &peer, "up"]);
    }
    Some(ns)
}

fn via(gw: &str, ifname: &str) -> Resolved {
    Resolved::Via {
        gateway: Some(gw.parse().unwrap()),
        ifname: ifname.into(),
    }
}
fn set(p: &str, nexthops: Vec<Resolved>) -> FibChange {
    FibChange::Set(
        p.parse().unwrap(),
        Selected {
            source: Source::Bgp,
            distance: 20,
            metric: 0,
            nexthops: nexthops.into(),
        },
    )
}
fn ecmp() -> Vec<Resolved> {
    vec![via("169.254.11.1", "d1"), via("169.254.12.1", "d2")]
}
fn net(p: &str) -> IpNetwork {
    p.parse().unwrap()
}
/// The nhid of `prefix` in `ip route show` output.
fn nhid_of(out: &str, prefix: &str) -> Option<u32> {
    let line = out
        .lines()
        .find(|l| l.split_whitespace().any(|w| w == prefix))?;
    let mut w = line.split_whitespace();
    w.find(|x| *x == "nhid")?;
    w.next()?.parse().ok()
}
/// The member ids of group `id` (`ip nexthop show id ID`).
fn group_members(ns: &str, id: u32) -> Vec<u32> {
    let out = ip(ns, &["nexthop", "show", "id", &id.to_string()]);
    let mut w = out.split_whitespace();
    assert!(w.any(|x| x == "group"), "{out}");
    w.next()
        .unwrap()
        .split('/')
        .map(|m| m.split(',').next().unwrap().parse().unwrap())
        .collect()
}

/// Two tunnels' worth of connected networks, a BGP route through both:
/// the kernel gets one route with two next hops, marked proto 202; it
/// shrinks to one when a tunnel goes; a restart's reconcile removes
/// our leftovers and leaves a route of another protocol alone. In
/// both modes.
fn ecmp_route_and_reconcile(mode: Mode) {
    let Some(ns) = setup(if mode == Mode::Multipath { "m" } else { "o" }) else {
        return;
    };
    // Someone else's route, which reconcile must leave alone.
    ip(
        &ns.0,
        &[
            "route",
            "add",
            "10.77.0.0/16",
            "via",
            "169.254.11.1",
            "proto",
            "static",
        ],
    );
    let mut rib = Rib::new();
    for (p, i) in [("169.254.11.0/30", "d1"), ("169.254.12.0/30", "d2")] {
        rib.set(
            Source::Connected,
            p.parse().unwrap(),
            Some(Candidate {
                distance: 0,
                metric: 0,
                nexthops: vec![NextHop::Interface(i.into())].into(),
            }),
        );
    }
    rib.set(
        Source::Bgp,
        "10.2.0.0/24".parse().unwrap(),
        Some(Candidate {
            distance: 20,
            metric: 0,
            nexthops: vec![
                NextHop::Gateway("169.254.11.1".parse().unwrap()),
                NextHop::Gateway("169.254.12.1".parse().unwrap()),
            ]
            .into(),
        }),
    );
    // Only the BGP route is ours to install (connected ones are the
    // kernel's own).
    let changes: Vec<FibChange> = rib
        .resolve()
        .into_iter()
        .filter(|c| matches!(c, FibChange::Set(_, s) if s.source == Source::Bgp))
        .collect();
    assert_eq!(changes.len(), 1);
    let (failed, installed, used) = in_ns(&ns.0, move || async move {
        let mut fib = Fib::open_with(mode).unwrap();
        let failed = fib.apply(&changes).await;
        let installed = fib.installed().collect::<Vec<_>>();
        (failed, installed, fib.mode())
    });
    assert_eq!(used, mode);
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(installed, vec![net("10.2.0.0/24")]);
    let out = ip(&ns.0, &["route", "show", "proto", "202"]);
    assert!(out.contains("10.2.0.0/24"), "{out}");
    assert!(out.contains("nexthop via 169.254.11.1 dev d1"), "{out}");
    assert!(out.contains("nexthop via 169.254.12.1 dev d2"), "{out}");
    assert_eq!(out.contains("nhid"), mode == Mode::NexthopObjects, "{out}");

    // Tunnel 2 goes: one next hop left.
    rib.set(Source::Connected, "169.254.12.0/30".parse().unwrap(), None);
    let changes: Vec<FibChange> = rib
        .resolve()
        .into_iter()
        .filter(|c| match c {
            FibChange::Set(_, s) => s.source == Source::Bgp,
            FibChange::Remove(p) => p.prefix() != 30,
        })
        .collect();
    let name = ns.0.clone();
    let (failed, n) = in_ns(&ns.0, move || async move {
        let mut fib = Fib::open_with(mode).unwrap();
        let f = fib.apply(&changes).await;
        let out = ip(&name, &["route", "show", "proto", "202"]);
        assert!(
            out.contains("10.2.0.0/24")
                && out.contains("via 169.254.11.1 dev d1")
                && !out.contains("169.254.12.1"),
            "{out}"
        );
        // A new process: nothing installed yet, so reconcile
        // removes our route and nothing else.
        let mut fresh = Fib::open_with(mode).unwrap();
        let n = fresh.reconcile().await.unwrap();
        (f, n)
    });
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(n, 1, "one leftover of ours removed");
    let out = ip(&ns.0, &["route", "show"]);
    assert!(!out.contains("10.2.0.0/24"), "{out}");
    assert!(
        out.contains("10.77.0.0/16"),
        "the static route stays: {out}"
    );
    let out = ip(&ns.0, &["nexthop", "show"]);
    assert!(out.trim().is_empty(), "no nexthop object left: {out}");
}

#[test]
fn ecmp_route_in_the_kernel_and_reconcile() {
    ecmp_route_and_reconcile(Mode::NexthopObjects);
}

#[test]
fn ecmp_route_in_the_kernel_and_reconcile_multipath() {
    ecmp_route_and_reconcile(Mode::Multipath);
}

/// Group objects: two ECMP routes share one group of two next-hop
/// objects; shrinking both to one next hop makes them name that
/// object and deletes the group and the other object; blackhole,
/// IPv6 and IPv4-via-IPv6 routes use objects too; removing every
/// route deletes every object.
#[test]
fn nexthop_objects_groups_shrink_blackhole_v6() {
    let Some(ns) = setup("g") else {
        return;
    };
    let name = ns.0.clone();
    in_ns(&ns.0, move || async move {
        let n = name.as_str();
        let mut fib = Fib::open().unwrap();
        assert_eq!(fib.mode(), Mode::NexthopObjects, "this kernel has them");
        let failed = fib
            .apply(&[
                set("10.2.0.0/24", ecmp()),
                set("10.3.0.0/24", ecmp()),
                set("10.4.0.0/24", vec![Resolved::Blackhole]),
                set("fd00:99::/64", vec![via("fd00:11::1", "d1")]),
                set("10.5.0.0/24", vec![via("fd00:11::1", "d1")]),
                set("fd00:98::/64", vec![Resolved::Blackhole]),
            ])
            .await;
        assert!(failed.is_empty(), "{failed:?}");
        assert_eq!(fib.installed().count(), 6);
        let out = ip(n, &["route", "show", "proto", "202"]);
        let g = nhid_of(&out, "10.2.0.0/24").expect(&out);
        assert_eq!(nhid_of(&out, "10.3.0.0/24"), Some(g), "one group: {out}");
        let members = group_members(n, g);
        assert_eq!(members.len(), 2, "{members:?}");
        let all = ip(n, &["nexthop", "show"]);
        for (m, want) in members
            .iter()
            .zip(["via 169.254.11.1 dev d1", "via 169.254.12.1 dev d2"])
        {
            let o = ip(n, &["nexthop", "show", "id", &m.to_string()]);
            assert!(o.contains(want), "{o}\n{all}");
        }
        assert!(out.contains("blackhole 10.4.0.0/24 nhid"), "{out}");
        assert!(out.contains("via inet6 fd00:11::1 dev d1"), "{out}");
        assert!(nhid_of(&out, "10.5.0.0/24").is_some(), "{out}");
        let out6 = ip(n, &["-6", "route", "show", "proto", "202"]);
        assert!(nhid_of(&out6, "fd00:99::/64").is_some(), "{out6}");
        assert!(out6.contains("via fd00:11::1 dev d1"), "{out6}");
        assert!(out6.contains("blackhole fd00:98::/64"), "{out6}");
        // d1, d2, group, v4 blackhole, v6 gateway, v6 blackhole.
        assert_eq!(fib.nexthop_objects(), 6, "{all}");
        assert_eq!(all.lines().count(), 6, "{all}");

        // Tunnel 2 goes: both routes through d1 only.
        let one = vec![via("169.254.11.1", "d1")];
        let failed = fib
            .apply(&[set("10.2.0.0/24", one.clone()), set("10.3.0.0/24", one)])
            .await;
        assert!(failed.is_empty(), "{failed:?}");
        let out = ip(n, &["route", "show", "proto", "202"]);
        let a = nhid_of(&out, "10.2.0.0/24").expect(&out);
        assert_eq!(nhid_of(&out, "10.3.0.0/24"), Some(a), "{out}");
        assert!(members.contains(&a), "the d1 object stays: {out}");
        assert!(!out.contains("169.254.12.1"), "{out}");
        let all = ip(n, &["nexthop", "show"]);
        assert!(!all.contains("group"), "group deleted: {all}");
        assert!(!all.contains("169.254.12.1"), "d2 object deleted: {all}");
        assert_eq!(fib.nexthop_objects(), 4, "{all}");

        // Everything goes.
        let failed = fib
            .apply(
                &[
                    "10.2.0.0/24",
                    "10.3.0.0/24",
                    "10.4.0.0/24",
                    "10.5.0.0/24",
                    "fd00:99::/64",
                    "fd00:98::/64",
                ]
                .map(|p| FibChange::Remove(net(p))),
            )
            .await;
        assert!(failed.is_empty(), "{failed:?}");
        assert!(fib.installed().next().is_none());
        assert_eq!(ip(n, &["route", "show", "proto", "202"]), "");
        assert_eq!(ip(n, &["-6", "route", "show", "proto", "202"]), "");
        assert_eq!(ip(n, &["nexthop", "show"]), "");
        assert_eq!(fib.nexthop_objects(), 0);
    });
}

/// Blackhole, IPv6 and IPv4-via-IPv6 routes in the RTA_MULTIPATH mode.
#[test]
fn multipath_mode_blackhole_v6_and_v4_via_v6() {
    let Some(ns) = setup("b") else {
        return;
    };
    let name = ns.0.clone();
    in_ns(&ns.0, move || async move {
        let n = name.as_str();
        let mut fib = Fib::open_with(Mode::Multipath).unwrap();
        let failed = fib
            .apply(&[
                set("10.4.0.0/24", vec![Resolved::Blackhole]),
                set("fd00:99::/64", vec![via("fd00:11::1", "d1")]),
                set(
                    "fd00:97::/64",
                    vec![via("fd00:11::1", "d1"), via("fd00:12::1", "d2")],
                ),
                set("10.5.0.0/24", vec![via("fd00:11::1", "d1")]),
                set("fd00:98::/64", vec![Resolved::Blackhole]),
            ])
            .await;
        assert!(failed.is_empty(), "{failed:?}");
        let out = ip(n, &["route", "show", "proto", "202"]);
        assert!(out.contains("blackhole 10.4.0.0/24"), "{out}");
        assert!(
            out.contains("10.5.0.0/24 via inet6 fd00:11::1 dev d1"),
            "{out}"
        );
        assert!(!out.contains("nhid"), "{out}");
        let out6 = ip(n, &["-6", "route", "show", "proto", "202"]);
        assert!(
            out6.contains("fd00:99::/64 via fd00:11::1 dev d1"),
            "{out6}"
        );
        assert!(out6.contains("nexthop via fd00:12::1 dev d2"), "{out6}");
        assert!(out6.contains("blackhole fd00:98::/64"), "{out6}");
        assert_eq!(ip(n, &["nexthop", "show"]), "");
        let failed = fib
            .apply(&["10.4.0.0/24", "fd00:98::/64"].map(|p| FibChange::Remove(net(p))))
            .await;
        assert!(failed.is_empty(), "{failed:?}");
        let out = ip(n, &["route", "show", "proto", "202"]);
        assert!(!out.contains("10.4.0.0"), "blackhole removed: {out}");
    });
}

/// A write the kernel refuses (a gateway not on the interface's
/// network) is reported for its prefix with the kernel's reason, as
/// is a next hop on an interface that does not exist, while the
/// rest of the same batch goes in; once the cause is gone, the retry
/// succeeds.
fn refused_write(mode: Mode) {
    let Some(ns) = setup(if mode == Mode::Multipath { "rm" } else { "ro" }) else {
        return;
    };
    let name = ns.0.clone();
    in_ns(&ns.0, move || async move {
        let n = name.as_str();
        let mut fib = Fib::open_with(mode).unwrap();
        let changes = [
            set("10.6.0.0/24", vec![via("169.254.11.1", "d1")]),
            set("10.7.0.0/24", vec![via("192.0.2.1", "d1")]),
            set("10.8.0.0/24", ecmp()),
            set("10.9.0.0/24", vec![via("169.254.11.1", "nosuch0")]),
            set(
                "10.10.0.0/24",
                vec![via("169.254.11.1", "d1"), via("192.0.2.1", "d2")],
            ),
            set("10.11.0.0/24", ecmp()),
        ];
        let mut failed = fib.apply(&changes).await;
        failed.sort();
        let prefixes: Vec<IpNetwork> = failed.iter().map(|(p, _)| *p).collect();
        assert_eq!(
            prefixes,
            vec![net("10.7.0.0/24"), net("10.9.0.0/24"), net("10.10.0.0/24")],
            "{failed:?}"
        );
        for (p, why) in &failed {
            let want = if *p == net("10.9.0.0/24") {
                "interface nosuch0"
            } else {
                "gateway"
            };
            assert!(why.contains(want), "{p}: {why}");
        }
        let out = ip(n, &["route", "show", "proto", "202"]);
        for p in ["10.6.0.0/24", "10.8.0.0/24", "10.11.0.0/24"] {
            assert!(out.contains(p), "{p}: {out}");
            assert!(fib.is_installed(&net(p)));
        }
        for p in ["10.7.0.0/24", "10.9.0.0/24", "10.10.0.0/24"] {
            assert!(!out.contains(p), "{p}: {out}");
            assert!(!fib.is_installed(&net(p)));
        }
        // 192.0.2.0/24 becomes reachable on d1: the retry goes in.
        ip(n, &["addr", "add", "192.0.2.2/24", "dev", "d1"]);
        let retry: Vec<FibChange> = changes
            .iter()
            .filter(|c| matches!(c, FibChange::Set(p, _) if *p == net("10.7.0.0/24")))
            .cloned()
            .collect();
        let failed = fib.apply(&retry).await;
        assert!(failed.is_empty(), "{failed:?}");
        let out = ip(n, &["route", "show", "proto", "202"]);
        assert!(out.contains("10.7.0.0/24"), "{out}");
        if mode == Mode::NexthopObjects {
            // Refused objects were not left behind: d1, d2, their
            // group, 192.0.2.1 on d1.
            let all = ip(n, &["nexthop", "show"]);
            assert_eq!(all.lines().count(), 4, "{all}");
            assert_eq!(fib.nexthop_objects(), 4, "{all}");
        }
    });
}

#[test]
fn refused_write_reported_others_installed() {
    refused_write(Mode::NexthopObjects);
}

#[test]
fn refused_write_reported_others_installed_multipath() {
    refused_write(Mode::Multipath);
}

/// A restart: stale routes of ours (inline and through a stale
/// object) and stale objects of ours go; a `proto static` route and
/// a nexthop object of someone else (with a route using it) stay, as
/// does what the new writer installed.
#[test]
fn reconcile_removes_stale_routes_and_objects_only() {
    let Some(ns) = setup("c") else {
        return;
    };
    let n = ns.0.as_str();
    ip(
        n,
        &[
            "route",
            "add",
            "10.9.0.0/24",
            "via",
            "169.254.11.1",
            "proto",
            "202",
        ],
    );
    ip(
        n,
        &[
            "nexthop",
            "add",
            "id",
            "900",
            "via",
            "169.254.12.1",
            "dev",
            "d2",
            "proto",
            "202",
        ],
    );
    ip(
        n,
        &["nexthop", "add", "id", "903", "blackhole", "proto", "202"],
    );
    ip(
        n,
        &[
            "route",
            "add",
            "10.10.0.0/24",
            "nhid",
            "900",
            "proto",
            "202",
        ],
    );
    ip(
        n,
        &[
            "nexthop",
            "add",
            "id",
            "901",
            "via",
            "169.254.11.1",
            "dev",
            "d1",
        ],
    );
    ip(
        n,
        &[
            "route",
            "add",
            "10.77.0.0/16",
            "via",
            "169.254.11.1",
            "proto",
            "static",
        ],
    );
    ip(
        n,
        &[
            "route",
            "add",
            "10.78.0.0/16",
            "nhid",
            "901",
            "proto",
            "static",
        ],
    );
    let name = ns.0.clone();
    let (counts, installed) = in_ns(&ns.0, move || async move {
        let mut fib = Fib::open().unwrap();
        let failed = fib
            .apply(&[set("10.2.0.0/24", ecmp()), set("10.9.0.0/24", ecmp())])
            .await;
        assert!(failed.is_empty(), "{failed:?}");
        let out = ip(&name, &["route", "show", "proto", "202"]);
        let g = nhid_of(&out, "10.2.0.0/24").expect(&out);
        assert_eq!(nhid_of(&out, "10.9.0.0/24"), Some(g), "{out}");
        assert!(g > 903, "a fresh id, not one in use: {g}");
        let counts = fib.reconcile_counts().await.unwrap();
        (counts, fib.installed().count())
    });
    assert_eq!(counts, (1, 2), "10.10.0.0/24; objects 900 and 903");
    assert_eq!(installed, 2);
    let out = ip(n, &["route", "show"]);
    assert!(
        out.contains("10.2.0.0/24") && out.contains("10.9.0.0/24"),
        "{out}"
    );
    assert!(!out.contains("10.10.0.0/24"), "{out}");
    assert!(
        out.contains("10.77.0.0/16") && out.contains("10.78.0.0/16"),
        "{out}"
    );
    let all = ip(n, &["nexthop", "show"]);
    assert!(
        !all.contains("id 900 ") && !all.contains("id 903 "),
        "{all}"
    );
    assert!(
        all.contains("id 901 "),
        "someone else's object stays: {all}"
    );
    assert!(all.contains("group"), "ours stay: {all}");
}

/// The kernel removes the objects of an interface that goes down and
/// shrinks the groups holding them: the writer hears of it and makes
/// new objects for the next routes instead of naming the shrunk
/// group.
#[test]
fn objects_the_kernel_removed_are_not_reused() {
    let Some(ns) = setup("w") else {
        return;
    };
    let name = ns.0.clone();
    in_ns(&ns.0, move || async move {
        let n = name.as_str();
        let mut fib = Fib::open().unwrap();
        let failed = fib.apply(&[set("10.2.0.0/24", ecmp())]).await;
        assert!(failed.is_empty(), "{failed:?}");
        let out = ip(n, &["route", "show", "proto", "202"]);
        let g = nhid_of(&out, "10.2.0.0/24").expect(&out);
        ip(n, &["link", "set", "d2", "down"]);
        ip(n, &["link", "set", "d2", "up"]);
        assert_eq!(group_members(n, g).len(), 1, "the kernel shrank it");
        let failed = fib.apply(&[set("10.3.0.0/24", ecmp())]).await;
        assert!(failed.is_empty(), "{failed:?}");
        let out = ip(n, &["route", "show", "proto", "202"]);
        let g2 = nhid_of(&out, "10.3.0.0/24").expect(&out);
        assert_ne!(g, g2, "{out}");
        assert_eq!(group_members(n, g2).len(), 2, "{out}");
        // The RIB moves the old route too: the shrunk group goes.
        let failed = fib.apply(&[set("10.2.0.0/24", ecmp())]).await;
        assert!(failed.is_empty(), "{failed:?}");
        let out = ip(n, &["route", "show", "proto", "202"]);
        assert_eq!(nhid_of(&out, "10.2.0.0/24"), Some(g2), "{out}");
        let all = ip(n, &["nexthop", "show"]);
        assert!(!all.contains(&format!("id {g} ")), "{all}");
        assert_eq!(all.lines().count(), 3, "{all}");
    });
}

/// Enough routes for the pipelined path (several batches, a second
/// thread sending): every route is in the kernel, the refused ones
/// (a gateway off-link, refused by the route write itself in the
/// inline mode) are reported for exactly their prefixes, and a
/// second apply removes them all.
fn many_routes(mode: Mode) {
    let Some(ns) = setup(if mode == Mode::Multipath { "pm" } else { "po" }) else {
        return;
    };
    let name = ns.0.clone();
    in_ns(&ns.0, move || async move {
        let n = name.as_str();
        let total: u32 = 6000;
        let bad = |i: u32| i % 1000 == 999;
        let prefix = |i: u32| {
            let a = std::net::Ipv4Addr::from(0x2000_0000u32 + (i << 8));
            IpNetwork::new(IpAddr::V4(a), 24).unwrap()
        };
        let changes: Vec<FibChange> = (0..total)
            .map(|i| {
                let hops = if bad(i) {
                    vec![via("192.0.2.1", "d1"), via("169.254.12.1", "d2")]
                } else {
                    ecmp()
                };
                FibChange::Set(
                    prefix(i),
                    Selected {
                        source: Source::Bgp,
                        distance: 20,
                        metric: 0,
                        nexthops: hops.into(),
                    },
                )
            })
            .collect();
        let mut fib = Fib::open_with(mode).unwrap();
        let mut failed: Vec<IpNetwork> = fib
            .apply(&changes)
            .await
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        failed.sort();
        let want: Vec<IpNetwork> = (0..total).filter(|i| bad(*i)).map(prefix).collect();
        assert_eq!(failed, want);
        let good = (total - want.len() as u32) as usize;
        assert_eq!(fib.installed().count(), good);
        let out = ip(n, &["-o", "route", "show", "proto", "202"]);
        assert_eq!(out.lines().count(), good);
        for p in &want {
            assert!(!out.contains(&format!("{p} ")), "{p}");
        }
        let removes: Vec<FibChange> = (0..total).map(|i| FibChange::Remove(prefix(i))).collect();
        let failed = fib.apply(&removes).await;
        assert!(failed.is_empty(), "{failed:?}");
        assert_eq!(ip(n, &["route", "show", "proto", "202"]), "");
        assert!(fib.installed().next().is_none());
        assert_eq!(ip(n, &["nexthop", "show"]), "");
    });
}

#[test]
fn many_routes_pipelined_with_refusals() {
    many_routes(Mode::NexthopObjects);
}

#[test]
fn many_routes_pipelined_with_refusals_multipath() {
    many_routes(Mode::Multipath);
}
