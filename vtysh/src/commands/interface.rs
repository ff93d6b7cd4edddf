//! `interface NAME` and its sub-mode, and static routes.

use super::{num, Builder, Ctx};
use crate::grammar::Args;
use crate::mode::Mode;
use crate::model::*;
use crate::session::{CliError, Frame};
use ipnetwork::{IpNetwork, Ipv4Network, Ipv6Network};
use std::net::{IpAddr, Ipv4Addr};

pub(super) fn register(b: &mut Builder) {
    use Mode::*;
    b.add(Config, "interface IFNAME [type TYPE]", |c, a| {
        let n = a.get("IFNAME").unwrap_or_default().to_string();
        let kind = InterfaceKind::of(&n);
        if n.starts_with(VIRTUAL_ACCESS) {
            return Err(CliError::at(
                a.column_of("IFNAME"),
                "% Virtual-Access interfaces are created from a Virtual-Template when a peer authenticates; configure interface Virtual-TemplateN",
            ));
        }
        match (kind, a.get("TYPE")) {
            (InterfaceKind::VirtualTemplate(v), _)
                if !(1..=MAX_VIRTUAL_TEMPLATE).contains(&v)
                    || n != format!("Virtual-Template{v}") =>
            {
                return Err(CliError::at(
                    a.column_of("IFNAME"),
                    format!("% Virtual-Template numbers are 1 to {MAX_VIRTUAL_TEMPLATE}, without leading zeros"),
                ));
            }
            (InterfaceKind::VirtualTemplate(_), Some(t)) if !t.eq_ignore_ascii_case("tunnel") => {
                return Err(CliError::at(
                    a.column_of("TYPE"),
                    format!("% type {t}: rvpn's Virtual-Templates are IPsec tunnel templates only (type tunnel)"),
                ));
            }
            (InterfaceKind::VirtualTemplate(_), None) if !c.cfg.interfaces.contains_key(&n) => {
                return Err(CliError::at(
                    a.column_of("IFNAME"),
                    format!("% {n} needs 'type tunnel': rvpn's Virtual-Templates are IPsec tunnel templates only (interface {n} type tunnel)"),
                ));
            }
            (InterfaceKind::VirtualTemplate(_), _) => {}
            (_, Some(_)) => {
                return Err(CliError::at(
                    a.column_of("type"),
                    "% 'type' applies to Virtual-Template interfaces only",
                ));
            }
            _ => check_ifname(&n, a.column_of("IFNAME"))?,
        }
        let e = c.cfg.interfaces.entry(n.clone()).or_default();
        let tunnelled = matches!(
            kind,
            InterfaceKind::Tunnel(_) | InterfaceKind::VirtualTemplate(_)
        );
        if tunnelled && e.tunnel.is_none() {
            e.tunnel = Some(Tunnel::default());
        }
        c.push(Frame::Interface(n));
        Ok(())
    });
    b.add(Config, "no interface IFNAME [type TYPE]", |c, a| {
        let n = a.get("IFNAME").unwrap_or_default();
        if c.cfg.interfaces.remove(n).is_none() {
            return Err(CliError::at(
                a.column_of("IFNAME"),
                format!("% Interface {n} is not configured"),
            ));
        }
        Ok(())
    });
    b.add(Interface, "description LINE", |c, a| {
        iface(c)?.description = a.get("LINE").map(String::from);
        Ok(())
    });
    b.add(Interface, "no description [LINE]", |c, _| {
        iface(c)?.description = None;
        Ok(())
    });
    b.add(Interface, "shutdown", |c, _| {
        iface(c)?.shutdown = true;
        Ok(())
    });
    b.add(Interface, "no shutdown", |c, _| {
        iface(c)?.shutdown = false;
        Ok(())
    });
    b.add(Interface, "ip address <A.B.C.D/M|A.B.C.D MASK>", |c, a| {
        let n = v4_addr(a)?;
        not_on_template(
            c,
            "ip address",
            "use ip unnumbered LoopbackN; each Virtual-Access borrows the Loopback's address",
        )?;
        let i = iface(c)?;
        i.ipv4 = Some(n);
        i.unnumbered = None;
        i.address_negotiated = false;
        Ok(())
    });
    b.add(Interface, "no ip address [LINE]", |c, a| {
        let i = iface(c)?;
        match a.get("LINE") {
            Some("negotiated") => i.address_negotiated = false,
            Some(_) => i.ipv4 = None,
            None => {
                i.ipv4 = None;
                i.address_negotiated = false;
            }
        }
        Ok(())
    });
    b.add(Interface, "ip address negotiated", |c, _| {
        if !matches!(InterfaceKind::of(&if_name(c)?), InterfaceKind::Tunnel(_)) {
            return Err(CliError::new(
                "% ip address negotiated applies to tunnel interfaces (TunnelN): the tunnel takes its address from the hub's IKEv2 configuration payload",
            ));
        }
        let i = iface(c)?;
        i.address_negotiated = true;
        i.ipv4 = None;
        i.unnumbered = None;
        Ok(())
    });
    b.add(Interface, "ip unnumbered IFNAME", |c, a| {
        let me = if_name(c)?;
        if !matches!(
            InterfaceKind::of(&me),
            InterfaceKind::Tunnel(_) | InterfaceKind::VirtualTemplate(_)
        ) {
            return Err(CliError::new(
                "% ip unnumbered applies to tunnel and Virtual-Template interfaces",
            ));
        }
        let n = a.get("IFNAME").unwrap_or_default().to_string();
        if n == me {
            return Err(CliError::at(
                a.column_of("IFNAME"),
                "% An interface cannot borrow its own address",
            ));
        }
        let i = iface(c)?;
        i.unnumbered = Some(n);
        i.ipv4 = None;
        i.address_negotiated = false;
        Ok(())
    });
    b.add(Interface, "no ip unnumbered [IFNAME]", |c, _| {
        iface(c)?.unnumbered = None;
        Ok(())
    });
    b.add(Interface, "ipv6 unnumbered LINE", |_, a| {
        Err(CliError::at(
            a.column_of("unnumbered"),
            "% ipv6 unnumbered: rvpn borrows IPv4 addresses only (ip unnumbered); peers get IPv6 addresses from an ipv6 local pool (ipv6 pool in the authorization policy)",
        ))
    });
    b.add(Interface, "ipv6 address X:X::X:X/M", |c, a| {
        not_on_template(c, "ipv6 address", "every Virtual-Access would carry the same address; hand peers addresses with ipv6 pool in the authorization policy")?;
        let s = a.get("X:X::X:X/M").unwrap_or_default();
        let n: Ipv6Network = s
            .parse()
            .map_err(|_| CliError::at(a.column_of("X:X::X:X/M"), "% Bad IPv6 prefix"))?;
        let i = iface(c)?;
        if !i.ipv6.contains(&n) {
            i.ipv6.push(n);
        }
        Ok(())
    });
    b.add(Interface, "no ipv6 address [X:X::X:X/M]", |c, a| {
        let s = a.get("X:X::X:X/M").map(|s| s.parse::<Ipv6Network>());
        let i = iface(c)?;
        match s {
            None => i.ipv6.clear(),
            Some(Ok(n)) if i.ipv6.contains(&n) => i.ipv6.retain(|x| *x != n),
            _ => {
                return Err(CliError::at(
                    a.column_of("X:X::X:X/M"),
                    "% No such address on this interface",
                ))
            }
        }
        Ok(())
    });
    b.add(Interface, "mtu (576-9216)", |c, a| {
        iface(c)?.mtu = Some(num(a, "(576-9216)")?);
        Ok(())
    });
    b.add(Interface, "no mtu [(576-9216)]", |c, _| {
        iface(c)?.mtu = None;
        Ok(())
    });
    b.add(Interface, "ip tcp adjust-mss (500-1460)", |c, a| {
        iface(c)?.tcp_adjust_mss = Some(num(a, "(500-1460)")?);
        Ok(())
    });
    b.add(Interface, "no ip tcp adjust-mss [(500-1460)]", |c, _| {
        iface(c)?.tcp_adjust_mss = None;
        Ok(())
    });
    b.add(
        Interface,
        "bfd interval (50-60000) min_rx (50-60000) multiplier (2-255)",
        |c, a| {
            let ms = a.all("(50-60000)");
            let ms = |i: usize| -> Result<u32, CliError> {
                ms.get(i)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| CliError::new("% Bad interval"))
            };
            let t = BfdTimers {
                min_tx_ms: ms(0)?,
                min_rx_ms: ms(1)?,
                detect_mult: num(a, "(2-255)")?,
            };
            iface(c)?.bfd = Some(t);
            Ok(())
        },
    );
    b.add(Interface, "no bfd interval [LINE]", |c, _| {
        iface(c)?.bfd = None;
        Ok(())
    });
    b.add(
        Interface,
        "tunnel source <A.B.C.D|X:X::X:X|IFNAME>",
        |c, a| {
            let s = match a.get("A.B.C.D").or(a.get("X:X::X:X")) {
                Some(ip) => {
                    TunnelSource::Address(ip.parse().map_err(|_| CliError::new("% Bad address"))?)
                }
                None => {
                    let n = a.get("IFNAME").unwrap_or_default();
                    check_ifname(n, a.column_of("IFNAME"))?;
                    TunnelSource::Interface(n.to_string())
                }
            };
            tunnel(c)?.source = Some(s);
            Ok(())
        },
    );
    b.add(
        Interface,
        "tunnel destination <A.B.C.D|X:X::X:X|dynamic>",
        |c, a| {
            not_on_template(
                c,
                "tunnel destination",
                "the peer of each Virtual-Access is whoever authenticates",
            )?;
            let d = match a.get("A.B.C.D").or(a.get("X:X::X:X")) {
                Some(ip) => TunnelDestination::Address(
                    ip.parse().map_err(|_| CliError::new("% Bad address"))?,
                ),
                None => TunnelDestination::Dynamic,
            };
            tunnel(c)?.destination = Some(d);
            Ok(())
        },
    );
    b.add(Interface, "tunnel mode ipsec <ipv4|ipv6>", |c, a| {
        let m = if a.has("ipv6") {
            TunnelMode::IpsecIpv6
        } else {
            TunnelMode::IpsecIpv4
        };
        tunnel(c)?.mode = Some(m);
        Ok(())
    });
    b.add(
        Interface,
        "tunnel protection ipsec profile PROFILE",
        |c, a| {
            let p = a.get("PROFILE").unwrap_or_default().to_string();
            tunnel(c)?.protection = Some(p);
            Ok(())
        },
    );
    b.add(
        Interface,
        "no tunnel <source|destination|mode|protection> [LINE]",
        |c, a| {
            let which = a.items[2].value.clone();
            let t = tunnel(c)?;
            match which.as_str() {
                "source" => t.source = None,
                "destination" => t.destination = None,
                "mode" => t.mode = None,
                _ => t.protection = None,
            }
            Ok(())
        },
    );

    // ---- static routes
    let v4 = "ip route A.B.C.D/M <A.B.C.D|Null0|blackhole|IFNAME> [(1-255)]";
    let v6 = "ipv6 route X:X::X:X/M <X:X::X:X|Null0|blackhole|IFNAME> [(1-255)]";
    b.add(Config, v4, static_route);
    b.add(Config, v6, static_route);
    b.add(
        Config,
        "no ip route A.B.C.D/M [<A.B.C.D|Null0|blackhole|IFNAME>] [(1-255)]",
        no_static_route,
    );
    b.add(
        Config,
        "no ipv6 route X:X::X:X/M [<X:X::X:X|Null0|blackhole|IFNAME>] [(1-255)]",
        no_static_route,
    );
}

fn check_ifname(n: &str, col: Option<usize>) -> Result<(), CliError> {
    let ok = !n.is_empty()
        && n.len() <= 15
        && n.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
        && n != "Null0";
    if !ok {
        return Err(CliError::at(
            col,
            "% Interface names are 1 to 15 letters, digits, '-', '_' or '.'",
        ));
    }
    Ok(())
}

fn if_name(c: &Ctx) -> Result<String, CliError> {
    match c.frame() {
        Frame::Interface(n) => Ok(n.clone()),
        _ => Err(CliError::new("% Not in interface mode")),
    }
}

/// Refuse a line on a Virtual-Template, with the reason.
fn not_on_template(c: &Ctx, what: &str, why: &str) -> Result<(), CliError> {
    let n = if_name(c)?;
    if matches!(InterfaceKind::of(&n), InterfaceKind::VirtualTemplate(_)) {
        return Err(CliError::new(format!(
            "% {what} on a Virtual-Template: {why}"
        )));
    }
    Ok(())
}

fn iface(c: &mut Ctx) -> Result<&mut Interface, CliError> {
    let Frame::Interface(n) = c.frame().clone() else {
        return Err(CliError::new("% Not in interface mode"));
    };
    c.cfg
        .interfaces
        .get_mut(&n)
        .ok_or_else(|| CliError::new("% This interface no longer exists; leave with 'exit'"))
}

fn tunnel(c: &mut Ctx) -> Result<&mut Tunnel, CliError> {
    let i = iface(c)?;
    i.tunnel.as_mut().ok_or_else(|| {
        CliError::new(
            "% Tunnel commands apply to tunnel interfaces (TunnelN, Virtual-TemplateN) only",
        )
    })
}

fn v4_addr(a: &Args) -> Result<Ipv4Network, CliError> {
    if let Some(s) = a.get("A.B.C.D/M") {
        return s
            .parse()
            .map_err(|_| CliError::at(a.column_of("A.B.C.D/M"), "% Bad prefix"));
    }
    let ip: Ipv4Addr = a
        .get("A.B.C.D")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| CliError::new("% Bad address"))?;
    let mask = a.get("MASK").unwrap_or_default();
    let m: Ipv4Addr = mask
        .parse()
        .map_err(|_| CliError::at(a.column_of("MASK"), "% Bad mask"))?;
    let bits = u32::from(m);
    if bits.leading_ones() + bits.trailing_zeros() != 32 {
        return Err(CliError::at(
            a.column_of("MASK"),
            "% Bad mask: not contiguous",
        ));
    }
    Ipv4Network::new(ip, bits.leading_ones() as u8).map_err(|e| CliError::new(format!("% {e}")))
}

fn route_parts(a: &Args) -> Result<(IpNetwork, Option<NextHop>, Option<u8>), CliError> {
    let pv = if a.has("ipv6") {
        "X:X::X:X/M"
    } else {
        "A.B.C.D/M"
    };
    let p: IpNetwork = a
        .get(pv)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| CliError::new("% Bad prefix"))?;
    let prefix =
        IpNetwork::new(p.network(), p.prefix()).map_err(|e| CliError::new(format!("% {e}")))?;
    let gw = a.get("A.B.C.D").or(a.get("X:X::X:X"));
    let nh = if a.has("Null0") || a.has("blackhole") {
        Some(NextHop::Blackhole)
    } else if let Some(g) = gw {
        let ip: IpAddr = g.parse().map_err(|_| CliError::new("% Bad next hop"))?;
        Some(NextHop::Gateway(ip))
    } else if let Some(i) = a.get("IFNAME") {
        check_ifname(i, a.column_of("IFNAME"))?;
        Some(NextHop::Interface(i.to_string()))
    } else {
        None
    };
    let dist = a.get("(1-255)").and_then(|s| s.parse().ok());
    Ok((prefix, nh, dist))
}

fn static_route(c: &mut Ctx, a: &Args) -> Result<(), CliError> {
    let (prefix, nh, dist) = route_parts(a)?;
    let next_hop = nh.ok_or_else(|| CliError::new("% A next hop is required"))?;
    let r = StaticRoute {
        prefix,
        next_hop,
        distance: dist.unwrap_or(1),
    };
    let routes = &mut c.cfg.static_routes;
    routes.retain(|x| !(x.prefix == r.prefix && x.next_hop == r.next_hop));
    routes.push(r);
    routes.sort();
    Ok(())
}

fn no_static_route(c: &mut Ctx, a: &Args) -> Result<(), CliError> {
    let (prefix, nh, _) = route_parts(a)?;
    let before = c.cfg.static_routes.len();
    c.cfg
        .static_routes
        .retain(|x| !(x.prefix == prefix && nh.as_ref().is_none_or(|n| *n == x.next_hop)));
    if c.cfg.static_routes.len() == before {
        return Err(CliError::new(format!(
            "% No static route to {prefix}{}",
            nh.map(|n| format!(" via {n}")).unwrap_or_default()
        )));
    }
    Ok(())
}
