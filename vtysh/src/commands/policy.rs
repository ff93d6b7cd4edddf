//! Prefix lists, community lists, AS-path lists and route maps.

use super::crypto::name;
use super::{num, Builder, Ctx};
use crate::grammar::Args;
use crate::mode::Mode;
use crate::model::*;
use crate::session::{CliError, Frame};
use ipnetwork::IpNetwork;
use std::collections::BTreeMap;

pub(super) fn register(b: &mut Builder) {
    use Mode::*;
    for v6 in [false, true] {
        let (ip, pfx, max) = if v6 {
            ("ipv6", "X:X::X:X/M", 128)
        } else {
            ("ip", "A.B.C.D/M", 32)
        };
        let entry = format!("<permit|deny> <{pfx}|any> [ge (0-{max})] [le (0-{max})]");
        b.add(
            Config,
            &format!("{ip} prefix-list PREFIXLIST [seq (1-4294967295)] {entry}"),
            move |c, a| {
                let n = name(a, "PREFIXLIST")?;
                let e = prefix_entry(a, pfx, max)?;
                let list = lists(c, v6).entry(n).or_default();
                let seq = match a.get("(1-4294967295)") {
                    Some(s) => s
                        .parse()
                        .map_err(|_| CliError::new("% Bad sequence number"))?,
                    None => {
                        if list.entries.values().any(|x| *x == e) {
                            return Ok(());
                        }
                        next_seq(&list.entries)
                    }
                };
                list.entries.insert(seq, e);
                Ok(())
            },
        );
        b.add(
            Config,
            &format!("no {ip} prefix-list PREFIXLIST [seq (1-4294967295)] [{entry}]"),
            move |c, a| {
                let n = a.get("PREFIXLIST").unwrap_or_default().to_string();
                let seq: Option<u32> = a.get("(1-4294967295)").and_then(|s| s.parse().ok());
                let spec = if a.has("permit") || a.has("deny") {
                    Some(prefix_entry(a, pfx, max)?)
                } else {
                    None
                };
                let all = lists(c, v6);
                let list = all.get_mut(&n).ok_or_else(|| {
                    CliError::at(a.column_of("PREFIXLIST"), format!("% No prefix list {n}"))
                })?;
                match (seq, spec) {
                    (None, None) => {
                        all.remove(&n);
                        return Ok(());
                    }
                    (Some(s), _) => {
                        list.entries.remove(&s).ok_or_else(|| {
                            CliError::new(format!("% No sequence {s} in prefix list {n}"))
                        })?;
                    }
                    (None, Some(e)) => {
                        let before = list.entries.len();
                        list.entries.retain(|_, x| *x != e);
                        if before == list.entries.len() {
                            return Err(CliError::new(format!(
                                "% No such entry in prefix list {n}"
                            )));
                        }
                    }
                }
                if list.entries.is_empty() {
                    all.remove(&n);
                }
                Ok(())
            },
        );
    }

    b.add(
        Config,
        "bgp community-list standard NAME [seq (1-4294967295)] <permit|deny> {AA:NN}",
        |c, a| {
            let n = name(a, "NAME")?;
            let e = CommunityListEntry {
                action: action(a),
                communities: a.all("AA:NN").into_iter().map(String::from).collect(),
            };
            let list = c.cfg.community_lists.entry(n).or_default();
            let seq = seq_or_next(a, &list.entries, &e)?;
            if let Some(s) = seq {
                list.entries.insert(s, e);
            }
            Ok(())
        },
    );
    b.add(
        Config,
        "no bgp community-list standard NAME [seq (1-4294967295)] [LINE]",
        |c, a| remove_entry(&mut c.cfg.community_lists, a, "community list"),
    );
    b.add(
        Config,
        "bgp as-path access-list NAME [seq (1-4294967295)] <permit|deny> LINE",
        |c, a| {
            let n = name(a, "NAME")?;
            let e = AsPathEntry {
                action: action(a),
                regex: a.get("LINE").unwrap_or_default().to_string(),
            };
            let list = c.cfg.as_path_lists.entry(n).or_default();
            if let Some(s) = seq_or_next(a, &list.entries, &e)? {
                list.entries.insert(s, e);
            }
            Ok(())
        },
    );
    b.add(
        Config,
        "no bgp as-path access-list NAME [seq (1-4294967295)] [LINE]",
        |c, a| remove_entry(&mut c.cfg.as_path_lists, a, "as-path access list"),
    );

    // ---- route maps
    b.add(
        Config,
        "route-map ROUTEMAP <permit|deny> (1-65535)",
        |c, a| {
            let n = name(a, "ROUTEMAP")?;
            let seq: u32 = num(a, "(1-65535)")?;
            let act = action(a);
            let e = c
                .cfg
                .route_maps
                .entry(n.clone())
                .or_default()
                .entries
                .entry(seq)
                .or_insert(RouteMapEntry {
                    action: act,
                    description: None,
                    matches: Vec::new(),
                    sets: Vec::new(),
                });
            e.action = act;
            c.push(Frame::RouteMap { name: n, seq });
            Ok(())
        },
    );
    b.add(
        Config,
        "no route-map ROUTEMAP [<permit|deny> (1-65535)]",
        |c, a| {
            let n = a.get("ROUTEMAP").unwrap_or_default().to_string();
            let rm = c.cfg.route_maps.get_mut(&n).ok_or_else(|| {
                CliError::at(a.column_of("ROUTEMAP"), format!("% No route map {n}"))
            })?;
            match a.get("(1-65535)") {
                None => {
                    c.cfg.route_maps.remove(&n);
                }
                Some(s) => {
                    let seq: u32 = s.parse().unwrap_or(0);
                    rm.entries.remove(&seq).ok_or_else(|| {
                        CliError::new(format!("% No entry {seq} in route map {n}"))
                    })?;
                    if rm.entries.is_empty() {
                        c.cfg.route_maps.remove(&n);
                    }
                }
            }
            Ok(())
        },
    );
    b.add(RouteMap, "description LINE", |c, a| {
        entry(c)?.description = a.get("LINE").map(String::from);
        Ok(())
    });
    b.add(RouteMap, "no description [LINE]", |c, _| {
        entry(c)?.description = None;
        Ok(())
    });
    let matches = "<ip address prefix-list PREFIXLIST|ipv6 address prefix-list PREFIXLIST|community NAME|as-path NAME>";
    b.add(RouteMap, &format!("match {matches}"), |c, a| {
        let m = route_map_match(a)?;
        let e = entry(c)?;
        e.matches
            .retain(|x| std::mem::discriminant(x) != std::mem::discriminant(&m));
        e.matches.push(m);
        e.matches.sort();
        Ok(())
    });
    b.add(
        RouteMap,
        "no match <ip address prefix-list|ipv6 address prefix-list|community|as-path> [LINE]",
        |c, a| {
            let probe = match a.items[2].value.as_str() {
                "ip" => RouteMapMatch::IpAddressPrefixList(String::new()),
                "ipv6" => RouteMapMatch::Ipv6AddressPrefixList(String::new()),
                "community" => RouteMapMatch::Community(String::new()),
                _ => RouteMapMatch::AsPath(String::new()),
            };
            entry(c)?
                .matches
                .retain(|x| std::mem::discriminant(x) != std::mem::discriminant(&probe));
            Ok(())
        },
    );
    let sets = "<local-preference (0-4294967295)|metric (0-4294967295)|weight (0-4294967295)|as-path prepend {(1-4294967295)}|community {AA:NN} [additive]|ip next-hop A.B.C.D|ipv6 next-hop global X:X::X:X>";
    b.add(RouteMap, &format!("set {sets}"), |c, a| {
        let s = route_map_set(a)?;
        let e = entry(c)?;
        e.sets.retain(|x| x.kind() != s.kind());
        e.sets.push(s);
        e.sets.sort_by_key(RouteMapSet::kind);
        Ok(())
    });
    b.add(
        RouteMap,
        "no set <local-preference|metric|weight|as-path prepend|community|ip next-hop|ipv6 next-hop global> [LINE]",
        |c, a| {
            let kind = match a.items[2].value.as_str() {
                "local-preference" => 0,
                "metric" => 1,
                "weight" => 2,
                "as-path" => 3,
                "community" => 4,
                "ip" => 5,
                _ => 6,
            };
            entry(c)?.sets.retain(|x| x.kind() != kind);
            Ok(())
        },
    );
}

fn lists(c: &mut Ctx, v6: bool) -> &mut BTreeMap<String, PrefixList> {
    if v6 {
        &mut c.cfg.prefix_lists_v6
    } else {
        &mut c.cfg.prefix_lists
    }
}

fn action(a: &Args) -> Action {
    if a.has("deny") {
        Action::Deny
    } else {
        Action::Permit
    }
}

/// FRR numbering: the next multiple of 5 above the highest.
fn next_seq<T>(m: &BTreeMap<u32, T>) -> u32 {
    m.keys().next_back().map_or(5, |k| (k / 5 + 1) * 5)
}

/// The sequence number for a new list entry; None when the same entry
/// already exists and no number was given.
fn seq_or_next<T: PartialEq>(
    a: &Args,
    m: &BTreeMap<u32, T>,
    e: &T,
) -> Result<Option<u32>, CliError> {
    match a.get("(1-4294967295)") {
        Some(s) => Ok(Some(
            s.parse()
                .map_err(|_| CliError::new("% Bad sequence number"))?,
        )),
        None if m.values().any(|x| x == e) => Ok(None),
        None => Ok(Some(next_seq(m))),
    }
}

trait Entries {
    fn entries(&mut self) -> &mut BTreeMap<u32, Self::E>;
    type E;
}
impl Entries for CommunityList {
    type E = CommunityListEntry;
    fn entries(&mut self) -> &mut BTreeMap<u32, CommunityListEntry> {
        &mut self.entries
    }
}
impl Entries for AsPathList {
    type E = AsPathEntry;
    fn entries(&mut self) -> &mut BTreeMap<u32, AsPathEntry> {
        &mut self.entries
    }
}

/// `no ... NAME [seq N]`: the whole list, or one entry.
fn remove_entry<L: Entries>(
    all: &mut BTreeMap<String, L>,
    a: &Args,
    what: &str,
) -> Result<(), CliError> {
    let n = a.get("NAME").unwrap_or_default().to_string();
    let list = all
        .get_mut(&n)
        .ok_or_else(|| CliError::at(a.column_of("NAME"), format!("% No {what} {n}")))?;
    match a.get("(1-4294967295)").and_then(|s| s.parse::<u32>().ok()) {
        None => {
            all.remove(&n);
        }
        Some(s) => {
            list.entries()
                .remove(&s)
                .ok_or_else(|| CliError::new(format!("% No sequence {s} in {what} {n}")))?;
            if list.entries().is_empty() {
                all.remove(&n);
            }
        }
    }
    Ok(())
}

fn prefix_entry(a: &Args, pfx: &str, max: u8) -> Result<PrefixListEntry, CliError> {
    let (prefix, mut ge, mut le) = match a.get(pfx) {
        Some(s) => {
            let p: IpNetwork = s
                .parse()
                .map_err(|_| CliError::at(a.column_of(pfx), "% Bad prefix"))?;
            let p = IpNetwork::new(p.network(), p.prefix())
                .map_err(|e| CliError::new(format!("% {e}")))?;
            (p, None, None)
        }
        None => {
            let any: IpNetwork = if max == 32 { "0.0.0.0/0" } else { "::/0" }
                .parse()
                .map_err(|_| CliError::new("% internal"))?;
            (any, None, Some(max))
        }
    };
    let range = format!("(0-{max})");
    let vals = a.all(&range);
    let mut it = vals.iter();
    if a.has("ge") {
        ge = it.next().and_then(|s| s.parse().ok());
    }
    if a.has("le") {
        le = it.next().and_then(|s| s.parse().ok());
    }
    let len = prefix.prefix();
    if let Some(g) = ge {
        if g <= len {
            return Err(CliError::at(
                a.column_of("ge"),
                format!("% ge {g} must be greater than the prefix length {len}"),
            ));
        }
    }
    if let Some(l) = le {
        if l <= len || ge.is_some_and(|g| g > l) {
            return Err(CliError::at(
                a.column_of("le"),
                format!(
                    "% Invalid prefix range for {prefix}: make sure prefix length {len} < ge <= le"
                ),
            ));
        }
    }
    Ok(PrefixListEntry {
        action: action(a),
        prefix,
        ge,
        le,
    })
}

fn entry(c: &mut Ctx) -> Result<&mut RouteMapEntry, CliError> {
    let Frame::RouteMap { name, seq } = c.frame().clone() else {
        return Err(CliError::new("% Not in route-map mode"));
    };
    c.cfg
        .route_maps
        .get_mut(&name)
        .and_then(|r| r.entries.get_mut(&seq))
        .ok_or_else(|| CliError::new("% This route-map entry no longer exists; leave with 'exit'"))
}

fn route_map_match(a: &Args) -> Result<RouteMapMatch, CliError> {
    Ok(if a.has("ipv6") {
        RouteMapMatch::Ipv6AddressPrefixList(a.get("PREFIXLIST").unwrap_or_default().into())
    } else if a.has("ip") {
        RouteMapMatch::IpAddressPrefixList(a.get("PREFIXLIST").unwrap_or_default().into())
    } else if a.has("community") {
        RouteMapMatch::Community(a.get("NAME").unwrap_or_default().into())
    } else {
        RouteMapMatch::AsPath(a.get("NAME").unwrap_or_default().into())
    })
}

fn route_map_set(a: &Args) -> Result<RouteMapSet, CliError> {
    let u32v = || -> Result<u32, CliError> { num(a, "(0-4294967295)") };
    Ok(match a.items[1].value.as_str() {
        "local-preference" => RouteMapSet::LocalPreference(u32v()?),
        "metric" => RouteMapSet::Metric(u32v()?),
        "weight" => RouteMapSet::Weight(u32v()?),
        "as-path" => RouteMapSet::AsPathPrepend(
            a.all("(1-4294967295)")
                .iter()
                .filter_map(|s| s.parse().ok())
                .collect(),
        ),
        "community" => RouteMapSet::Community {
            communities: a.all("AA:NN").into_iter().map(String::from).collect(),
            additive: a.has("additive"),
        },
        "ip" => RouteMapSet::IpNextHop(
            a.get("A.B.C.D")
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| CliError::new("% Bad address"))?,
        ),
        _ => RouteMapSet::Ipv6NextHop(
            a.get("X:X::X:X")
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| CliError::new("% Bad address"))?,
        ),
    })
}
