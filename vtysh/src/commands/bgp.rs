//! `router bgp ASN`, its neighbors and address families.

use super::crypto::name;
use super::{num, Builder, Ctx};
use crate::grammar::Args;
use crate::mode::Mode;
use crate::model::*;
use crate::session::{CliError, Frame};
use ipnetwork::IpNetwork;
use std::net::IpAddr;

const PEER: &str = "<A.B.C.D|X:X::X:X|PEERGROUP>";
const ADDR: &str = "<A.B.C.D|X:X::X:X>";

pub(super) fn register(b: &mut Builder) {
    use Mode::*;
    b.add(Config, "router bgp (1-4294967295)", |c, a| {
        let asn: u32 = num(a, "(1-4294967295)")?;
        match &c.cfg.bgp {
            Some(b) if b.asn != asn => {
                return Err(CliError::at(
                    a.column_of("(1-4294967295)"),
                    format!("% BGP is already running; AS is {}", b.asn),
                ))
            }
            Some(_) => {}
            None => c.cfg.bgp = Some(Bgp::new(asn)),
        }
        c.push(Frame::RouterBgp);
        Ok(())
    });
    b.add(Config, "no router bgp [(1-4294967295)]", |c, a| {
        match (&c.cfg.bgp, a.get("(1-4294967295)")) {
            (None, _) => return Err(CliError::new("% BGP is not configured")),
            (Some(b), Some(n)) if b.asn.to_string() != n => {
                return Err(CliError::at(
                    a.column_of("(1-4294967295)"),
                    format!("% BGP runs AS {}, not {n}", b.asn),
                ))
            }
            _ => c.cfg.bgp = None,
        }
        Ok(())
    });

    b.add(RouterBgp, "bgp router-id A.B.C.D", |c, a| {
        let id = a
            .get("A.B.C.D")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| CliError::new("% Bad router-id"))?;
        bgp(c)?.router_id = Some(id);
        Ok(())
    });
    b.add(RouterBgp, "no bgp router-id [A.B.C.D]", |c, _| {
        bgp(c)?.router_id = None;
        Ok(())
    });
    b.add(RouterBgp, "bgp ebgp-requires-policy", |c, _| {
        bgp(c)?.ebgp_requires_policy = true;
        Ok(())
    });
    b.add(RouterBgp, "no bgp ebgp-requires-policy", |c, _| {
        bgp(c)?.ebgp_requires_policy = false;
        Ok(())
    });
    b.add(RouterBgp, "bgp bestpath as-path multipath-relax", |c, _| {
        bgp(c)?.multipath_relax = true;
        Ok(())
    });
    b.add(
        RouterBgp,
        "no bgp bestpath as-path multipath-relax",
        |c, _| {
            bgp(c)?.multipath_relax = false;
            Ok(())
        },
    );
    b.add(RouterBgp, "timers bgp (0-65535) (0-65535)", |c, a| {
        let t = timers(a)?;
        bgp(c)?.timers = Some(t);
        Ok(())
    });
    b.add(RouterBgp, "no timers bgp [LINE]", |c, _| {
        bgp(c)?.timers = None;
        Ok(())
    });
    b.add(
        RouterBgp,
        "bgp listen range <A.B.C.D/M|X:X::X:X/M> peer-group PEERGROUP",
        |c, a| {
            let p = prefix(a)?;
            let g = a.get("PEERGROUP").unwrap_or_default().to_string();
            let b = bgp(c)?;
            if !b.peer_groups.contains_key(&g) {
                return Err(CliError::at(
                    a.column_of("PEERGROUP"),
                    format!(
                        "% Peer group {g} does not exist: create it with 'neighbor {g} peer-group'"
                    ),
                ));
            }
            b.listen_ranges.insert(p, g);
            Ok(())
        },
    );
    b.add(
        RouterBgp,
        "no bgp listen range <A.B.C.D/M|X:X::X:X/M> [peer-group PEERGROUP]",
        |c, a| {
            let p = prefix(a)?;
            if bgp(c)?.listen_ranges.remove(&p).is_none() {
                return Err(CliError::new(format!("% No listen range {p}")));
            }
            Ok(())
        },
    );
    b.add(RouterBgp, "bgp listen limit (1-65535)", |c, a| {
        bgp(c)?.listen_limit = Some(num(a, "(1-65535)")?);
        Ok(())
    });
    b.add(RouterBgp, "no bgp listen limit [(1-65535)]", |c, _| {
        bgp(c)?.listen_limit = None;
        Ok(())
    });

    // ---- neighbors and peer groups
    b.add(RouterBgp, "neighbor PEERGROUP peer-group", |c, a| {
        let g = name(a, "PEERGROUP")?;
        bgp(c)?.peer_groups.entry(g).or_default();
        Ok(())
    });
    b.add(RouterBgp, "no neighbor PEERGROUP peer-group", |c, a| {
        let g = a.get("PEERGROUP").unwrap_or_default().to_string();
        let b = bgp(c)?;
        if b.peer_groups.remove(&g).is_none() {
            return Err(CliError::at(
                a.column_of("PEERGROUP"),
                format!("% No peer group {g}"),
            ));
        }
        for af in [Afi::Ipv4, Afi::Ipv6] {
            b.af_mut(af).neighbors.remove(&PeerRef::Group(g.clone()));
        }
        Ok(())
    });
    b.add(
        RouterBgp,
        &format!("neighbor {ADDR} peer-group PEERGROUP"),
        |c, a| {
            let addr = addr(a)?;
            let g = a.get("PEERGROUP").unwrap_or_default().to_string();
            let b = bgp(c)?;
            if !b.peer_groups.contains_key(&g) {
                return Err(CliError::at(
                    a.column_of("PEERGROUP"),
                    format!("% Peer group {g} does not exist"),
                ));
            }
            b.neighbors.entry(addr).or_default().peer_group = Some(g);
            Ok(())
        },
    );
    b.add(
        RouterBgp,
        &format!("no neighbor {ADDR} peer-group [PEERGROUP]"),
        |c, a| {
            let addr = addr(a)?;
            let n = neighbor(c, &PeerRef::Addr(addr))?;
            n.peer_group = None;
            if n.remote_as.is_none() {
                // It existed only as a member of the group.
                let b = bgp(c)?;
                b.neighbors.remove(&addr);
                for af in [Afi::Ipv4, Afi::Ipv6] {
                    b.af_mut(af).neighbors.remove(&PeerRef::Addr(addr));
                }
            }
            Ok(())
        },
    );
    b.add(
        RouterBgp,
        &format!("neighbor {PEER} remote-as <(1-4294967295)|internal|external>"),
        |c, a| {
            let ras = if a.has("internal") {
                RemoteAs::Internal
            } else if a.has("external") {
                RemoteAs::External
            } else {
                RemoteAs::As(num(a, "(1-4294967295)")?)
            };
            let p = peer_ref(a)?;
            let b = bgp(c)?;
            match &p {
                PeerRef::Addr(ip) => b.neighbors.entry(*ip).or_default().remote_as = Some(ras),
                PeerRef::Group(_) => neighbor(c, &p)?.remote_as = Some(ras),
            }
            Ok(())
        },
    );
    b.add(
        RouterBgp,
        &format!("no neighbor {ADDR} [remote-as [LINE]]"),
        |c, a| {
            let ip = addr(a)?;
            let b = bgp(c)?;
            if b.neighbors.remove(&ip).is_none() {
                return Err(CliError::at(
                    a.column_of("A.B.C.D").or(a.column_of("X:X::X:X")),
                    format!("% No neighbor {ip}"),
                ));
            }
            for af in [Afi::Ipv4, Afi::Ipv6] {
                b.af_mut(af).neighbors.remove(&PeerRef::Addr(ip));
            }
            Ok(())
        },
    );
    b.add(
        RouterBgp,
        "no neighbor PEERGROUP remote-as [LINE]",
        |c, a| {
            let p = peer_ref(a)?;
            neighbor(c, &p)?.remote_as = None;
            Ok(())
        },
    );
    neighbor_setting(
        b,
        "description LINE",
        "description",
        |n, a| n.description = a.get("LINE").map(String::from),
        |n| n.description = None,
    );
    neighbor_setting(
        b,
        "password SECRET",
        "password",
        |n, a| n.password = a.get("SECRET").map(|s| Secret(s.to_string())),
        |n| n.password = None,
    );
    neighbor_setting(
        b,
        "timers (0-65535) (0-65535)",
        "timers",
        |n, a| n.timers = timers(a).ok(),
        |n| n.timers = None,
    );
    neighbor_setting(
        b,
        "update-source <A.B.C.D|X:X::X:X|IFNAME>",
        "update-source",
        // The word after the keyword: `A.B.C.D` alone would find the
        // neighbor's own address first.
        |n, a| n.update_source = a.after("update-source").map(String::from),
        |n| n.update_source = None,
    );
    neighbor_setting(
        b,
        "ebgp-multihop [(1-255)]",
        "ebgp-multihop",
        |n, a| n.ebgp_multihop = Some(a.get("(1-255)").and_then(|s| s.parse().ok()).unwrap_or(255)),
        |n| n.ebgp_multihop = None,
    );
    neighbor_setting(
        b,
        "shutdown",
        "shutdown",
        |n, _| n.shutdown = true,
        |n| n.shutdown = false,
    );
    neighbor_setting(
        b,
        "bfd [(2-255) (50-60000) (50-60000)]",
        "bfd",
        |n, a| {
            n.bfd = true;
            let ms = a.all("(50-60000)");
            n.bfd_timers = match (a.get("(2-255)"), ms.first(), ms.get(1)) {
                (Some(m), Some(rx), Some(tx)) => match (m.parse(), rx.parse(), tx.parse()) {
                    (Ok(detect_mult), Ok(min_rx_ms), Ok(min_tx_ms)) => Some(BfdTimers {
                        detect_mult,
                        min_rx_ms,
                        min_tx_ms,
                    }),
                    _ => None,
                },
                _ => None,
            };
        },
        |n| {
            n.bfd = false;
            n.bfd_timers = None;
        },
    );
    neighbor_setting(
        b,
        "port (1-65535)",
        "port",
        |n, a| n.port = a.get("(1-65535)").and_then(|s| s.parse().ok()),
        |n| n.port = None,
    );

    b.add(RouterBgp, "address-family <ipv4|ipv6> [unicast]", |c, a| {
        bgp(c)?;
        let afi = if a.has("ipv6") { Afi::Ipv6 } else { Afi::Ipv4 };
        c.push(Frame::RouterBgpAf(afi));
        Ok(())
    });

    // ---- address family
    b.add(RouterBgpAf, "exit-address-family", |c, _| {
        c.frames.pop();
        Ok(())
    });
    b.add(
        RouterBgpAf,
        "network <A.B.C.D/M|X:X::X:X/M> [route-map ROUTEMAP]",
        |c, a| {
            let p = af_prefix(c, a)?;
            let rm = a.get("ROUTEMAP").map(String::from);
            af(c)?.networks.insert(p, rm);
            Ok(())
        },
    );
    b.add(
        RouterBgpAf,
        "no network <A.B.C.D/M|X:X::X:X/M> [route-map ROUTEMAP]",
        |c, a| {
            let p = af_prefix(c, a)?;
            if af(c)?.networks.remove(&p).is_none() {
                return Err(CliError::new(format!("% No network {p}")));
            }
            Ok(())
        },
    );
    b.add(
        RouterBgpAf,
        "redistribute <connected|static> [route-map ROUTEMAP]",
        |c, a| {
            let src = if a.has("static") {
                RedistSource::Static
            } else {
                RedistSource::Connected
            };
            let rm = a.get("ROUTEMAP").map(String::from);
            af(c)?.redistribute.insert(src, rm);
            Ok(())
        },
    );
    b.add(
        RouterBgpAf,
        "no redistribute <connected|static> [route-map ROUTEMAP]",
        |c, a| {
            let src = if a.has("static") {
                RedistSource::Static
            } else {
                RedistSource::Connected
            };
            af(c)?.redistribute.remove(&src);
            Ok(())
        },
    );
    b.add(RouterBgpAf, "maximum-paths [ibgp] (1-64)", |c, a| {
        let n = Some(num(a, "(1-64)")?);
        let f = af(c)?;
        if a.has("ibgp") {
            f.maximum_paths_ibgp = n;
        } else {
            f.maximum_paths = n;
        }
        Ok(())
    });
    b.add(RouterBgpAf, "no maximum-paths [ibgp] [(1-64)]", |c, a| {
        let f = af(c)?;
        if a.has("ibgp") {
            f.maximum_paths_ibgp = None;
        } else {
            f.maximum_paths = None;
        }
        Ok(())
    });
    af_setting(b, "activate", |n, _, on| n.activate = Some(on));
    af_setting(b, "next-hop-self", |n, _, on| n.next_hop_self = on);
    af_setting(b, "soft-reconfiguration inbound", |n, _, on| {
        n.soft_reconfiguration_inbound = on
    });
    af_setting(b, "default-originate", |n, _, on| n.default_originate = on);
    af_setting(b, "addpath-tx-all-paths", |n, _, on| {
        n.addpath_tx_all_paths = on
    });
    af_setting(b, "prefix-list PREFIXLIST <in|out>", |n, a, on| {
        let v = on.then(|| a.get("PREFIXLIST").unwrap_or_default().to_string());
        if a.has("in") {
            n.prefix_list_in = v;
        } else {
            n.prefix_list_out = v;
        }
    });
    // FRR's per-family command; FRR also takes it directly under `router
    // bgp` (a hidden form) for IPv4 unicast, and shows it in that family.
    let modes = [Mode::RouterBgp, Mode::RouterBgpAf];
    b.add_many(
        &modes,
        &format!("neighbor {PEER} {MAXIMUM_PREFIX}"),
        |c, a| {
            let m = maximum_prefix(a)?;
            let afi = frame_afi(c);
            af_apply_in(c, a, afi, |n, _, _| n.maximum_prefix = Some(m))
        },
    );
    b.add_many(
        &modes,
        &format!("no neighbor {PEER} maximum-prefix [LINE]"),
        |c, a| {
            let afi = frame_afi(c);
            af_apply_in(c, a, afi, |n, _, _| n.maximum_prefix = None)
        },
    );
    af_setting(b, "route-map ROUTEMAP <in|out>", |n, a, on| {
        let v = on.then(|| a.get("ROUTEMAP").unwrap_or_default().to_string());
        if a.has("in") {
            n.route_map_in = v;
        } else {
            n.route_map_out = v;
        }
    });
}

fn bgp(c: &mut Ctx) -> Result<&mut Bgp, CliError> {
    c.cfg
        .bgp
        .as_mut()
        .ok_or_else(|| CliError::new("% BGP is no longer configured; leave with 'exit'"))
}

fn af(c: &mut Ctx) -> Result<&mut BgpAf, CliError> {
    let Frame::RouterBgpAf(afi) = *c.frame() else {
        return Err(CliError::new("% Not in an address family"));
    };
    Ok(bgp(c)?.af_mut(afi))
}

fn timers(a: &Args) -> Result<(u16, u16), CliError> {
    let v = a.all("(0-65535)");
    let k: u16 = v.first().and_then(|s| s.parse().ok()).unwrap_or(0);
    let h: u16 = v.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    if h != 0 && h < 3 {
        return Err(CliError::new("% Hold time must be 0 or at least 3 seconds"));
    }
    if h != 0 && k > h {
        return Err(CliError::new("% Keepalive must not exceed the hold time"));
    }
    Ok((k, h))
}

fn prefix(a: &Args) -> Result<IpNetwork, CliError> {
    let s = a
        .get("A.B.C.D/M")
        .or(a.get("X:X::X:X/M"))
        .unwrap_or_default();
    let p: IpNetwork = s.parse().map_err(|_| CliError::new("% Bad prefix"))?;
    IpNetwork::new(p.network(), p.prefix()).map_err(|e| CliError::new(format!("% {e}")))
}

fn af_prefix(c: &Ctx, a: &Args) -> Result<IpNetwork, CliError> {
    let p = prefix(a)?;
    let Frame::RouterBgpAf(afi) = *c.frame() else {
        return Err(CliError::new("% Not in an address family"));
    };
    if p.is_ipv4() != (afi == Afi::Ipv4) {
        let col = a.column_of("A.B.C.D/M").or(a.column_of("X:X::X:X/M"));
        return Err(CliError::at(
            col,
            format!("% {p} is not an {} prefix", afi.name()),
        ));
    }
    Ok(p)
}

fn addr(a: &Args) -> Result<IpAddr, CliError> {
    a.get("A.B.C.D")
        .or(a.get("X:X::X:X"))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| CliError::new("% Bad address"))
}

fn peer_ref(a: &Args) -> Result<PeerRef, CliError> {
    if let Some(g) = a.get("PEERGROUP") {
        return Ok(PeerRef::Group(g.to_string()));
    }
    addr(a).map(PeerRef::Addr)
}

/// The session settings of an existing neighbor or peer group.
fn neighbor<'c>(c: &'c mut Ctx, p: &PeerRef) -> Result<&'c mut NeighborConfig, CliError> {
    let b = bgp(c)?;
    match p {
        PeerRef::Addr(ip) => b
            .neighbors
            .get_mut(ip)
            .ok_or_else(|| CliError::new(format!("% Specify remote-as or peer-group commands first for {ip}"))),
        PeerRef::Group(g) => b
            .peer_groups
            .get_mut(g)
            .ok_or_else(|| CliError::new(format!("% {g} is neither an address nor a peer group: create it with 'neighbor {g} peer-group'"))),
    }
}

type NSet = fn(&mut NeighborConfig, &Args);
type NUnset = fn(&mut NeighborConfig);

/// `neighbor X <rest>` and `no neighbor X <keyword> [...]`.
fn neighbor_setting(b: &mut Builder, rest: &str, kw: &str, set: NSet, unset: NUnset) {
    b.add(
        Mode::RouterBgp,
        &format!("neighbor {PEER} {rest}"),
        move |c, a| {
            let p = peer_ref(a)?;
            set(neighbor(c, &p)?, a);
            Ok(())
        },
    );
    b.add(
        Mode::RouterBgp,
        &format!("no neighbor {PEER} {kw} [LINE]"),
        move |c, a| {
            let p = peer_ref(a)?;
            unset(neighbor(c, &p)?);
            Ok(())
        },
    );
}

type AfSet = fn(&mut AfNeighbor, &Args, bool);

/// `neighbor X <rest>` and `no neighbor X <rest>` in an address family.
fn af_setting(b: &mut Builder, rest: &str, f: AfSet) {
    b.add(
        Mode::RouterBgpAf,
        &format!("neighbor {PEER} {rest}"),
        move |c, a| af_apply(c, a, f, true),
    );
    b.add(
        Mode::RouterBgpAf,
        &format!("no neighbor {PEER} {rest}"),
        move |c, a| af_apply(c, a, f, false),
    );
}

fn af_apply(c: &mut Ctx, a: &Args, f: AfSet, on: bool) -> Result<(), CliError> {
    let Frame::RouterBgpAf(afi) = *c.frame() else {
        return Err(CliError::new("% Not in an address family"));
    };
    af_apply_in(c, a, afi, move |n, a, _| f(n, a, on))
}

/// The family a neighbor line is about: the address family it is typed
/// in, IPv4 unicast directly under `router bgp` (as FRR).
fn frame_afi(c: &Ctx) -> Afi {
    match *c.frame() {
        Frame::RouterBgpAf(afi) => afi,
        _ => Afi::Ipv4,
    }
}

/// Applies `f` to the `afi` settings of the neighbor or group of the line.
fn af_apply_in(
    c: &mut Ctx,
    a: &Args,
    afi: Afi,
    f: impl FnOnce(&mut AfNeighbor, &Args, bool),
) -> Result<(), CliError> {
    let p = peer_ref(a)?;
    neighbor(c, &p)?; // must exist
    let fam = bgp(c)?.af_mut(afi);
    let n = fam.neighbors.entry(p.clone()).or_default();
    f(n, a, true);
    // Activation equal to the family's default is not stored.
    if n.activate == Some(afi == Afi::Ipv4) && matches!(p, PeerRef::Addr(_)) {
        n.activate = None;
    }
    if *n == AfNeighbor::default() {
        fam.neighbors.remove(&p);
    }
    Ok(())
}

const MAXIMUM_PREFIX: &str =
    "maximum-prefix (1-4294967295) [(1-100)] [warning-only] [restart (1-65535)]";

/// `maximum-prefix N [THRESHOLD] [warning-only] [restart MINUTES]`.
fn maximum_prefix(a: &Args) -> Result<MaxPrefix, CliError> {
    let warning_only = a.has("warning-only");
    let restart = match a.get("(1-65535)") {
        Some(_) => Some(num(a, "(1-65535)")?),
        None => None,
    };
    if warning_only && restart.is_some() {
        return Err(CliError::at(
            a.column_of("restart"),
            "% warning-only and restart exclude each other: a warning-only limit never closes \
             the session",
        ));
    }
    Ok(MaxPrefix {
        max: num(a, "(1-4294967295)")?,
        threshold: match a.get("(1-100)") {
            Some(_) => Some(num(a, "(1-100)")?),
            None => None,
        },
        warning_only,
        restart,
    })
}
