//! Property tests of the wire format:
//!
//! - every message type round-trips: `parse(emit(x)) == x`, and emitting
//!   the parsed value gives the same octets;
//! - arbitrary octets, and valid messages with octets flipped or cut,
//!   never panic the parsers, and whatever parses re-emits and parses
//!   again to the same value;
//! - the UPDATE builder's messages parse back to the prefixes it was given.

use std::net::{Ipv4Addr, Ipv6Addr};

use bgp::wire::*;
use ipnetwork::{Ipv4Network, Ipv6Network};
use proptest::collection::vec;
use proptest::prelude::*;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> + Clone {
    vec(any::<u8>(), 0..max)
}

fn ctx() -> impl Strategy<Value = Ctx> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(four, a4, a6)| {
        Ctx::new(four)
            .with_add_path(Family::IPV4_UNICAST, a4)
            .with_add_path(Family::IPV6_UNICAST, a6)
            .with_add_path(Family::IPV4_MULTICAST, a6)
    })
}

fn path_id(on: bool) -> impl Strategy<Value = Option<u32>> {
    any::<u32>().prop_map(move |id| on.then_some(id))
}

fn nlri4(add_path: bool) -> impl Strategy<Value = Nlri4> {
    (any::<u32>(), 0u8..=32, path_id(add_path)).prop_map(|(a, len, path_id)| {
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        Nlri {
            path_id,
            prefix: Ipv4Network::new(Ipv4Addr::from(a & mask), len).unwrap(),
        }
    })
}

fn nlri6(add_path: bool) -> impl Strategy<Value = Nlri6> {
    (any::<u128>(), 0u8..=128, path_id(add_path)).prop_map(|(a, len, path_id)| {
        let mask = if len == 0 {
            0
        } else {
            u128::MAX << (128 - len)
        };
        Nlri {
            path_id,
            prefix: Ipv6Network::new(Ipv6Addr::from(a & mask), len).unwrap(),
        }
    })
}

fn asn(four: bool) -> BoxedStrategy<u32> {
    if four {
        any::<u32>().boxed()
    } else {
        (0u32..=0xffff).boxed()
    }
}

fn as_path(four: bool, confed: bool) -> impl Strategy<Value = AsPath> {
    let kinds = if confed {
        vec![
            SegmentType::Set,
            SegmentType::Sequence,
            SegmentType::ConfedSequence,
            SegmentType::ConfedSet,
        ]
    } else {
        vec![SegmentType::Set, SegmentType::Sequence]
    };
    vec(
        (proptest::sample::select(kinds), vec(asn(four), 1..8))
            .prop_map(|(kind, asns)| AsSegment { kind, asns }),
        0..4,
    )
    .prop_map(|segments| AsPath { segments })
}

fn aggregator(four: bool) -> impl Strategy<Value = Aggregator> {
    (asn(four), any::<u32>()).prop_map(|(asn, a)| Aggregator {
        asn,
        address: Ipv4Addr::from(a),
    })
}

fn ipv4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

const OPT_TRANS_KNOWN: [AttrType; 6] = [
    AttrType::AGGREGATOR,
    AttrType::COMMUNITIES,
    AttrType::EXTENDED_COMMUNITIES,
    AttrType::AS4_PATH,
    AttrType::AS4_AGGREGATOR,
    AttrType::LARGE_COMMUNITY,
];

fn raw_attr() -> impl Strategy<Value = RawAttr> {
    (
        any::<u8>().prop_filter("unknown type", |t| expected_flags(AttrType(*t)).is_none()),
        bytes(300),
    )
        .prop_map(|(t, value)| RawAttr {
            flags: FLAG_OPTIONAL | FLAG_TRANSITIVE | FLAG_PARTIAL,
            type_code: AttrType(t),
            value,
        })
}

fn path_attrs(four: bool) -> impl Strategy<Value = PathAttrs> {
    let base = (
        proptest::option::of(proptest::sample::select(vec![
            Origin::Igp,
            Origin::Egp,
            Origin::Incomplete,
        ])),
        proptest::option::of(as_path(four, true)),
        proptest::option::of(ipv4()),
        proptest::option::of(any::<u32>()),
        proptest::option::of(any::<u32>()),
        any::<bool>(),
        proptest::option::of(aggregator(four)),
        vec(any::<u32>().prop_map(Community), 0..5),
    );
    let more = (
        proptest::option::of(ipv4()),
        vec(ipv4(), 0..4),
        vec(any::<[u8; 8]>().prop_map(ExtCommunity), 0..3),
        // AS4_* only on 2-octet sessions (a 4-octet receiver discards
        // them): a non-empty path without confederation segments.
        proptest::option::of(
            as_path(true, false).prop_filter("non-empty", |p| !p.segments.is_empty()),
        ),
        proptest::option::of(aggregator(true)),
        vec(
            any::<(u32, u32, u32)>().prop_map(|(g, a, b)| LargeCommunity::new(g, a, b)),
            0..3,
        ),
        vec(raw_attr(), 0..3),
        vec(proptest::sample::select(OPT_TRANS_KNOWN.to_vec()), 0..3),
    );
    (base, more).prop_map(
        move |(
            (origin, as_path, next_hop, med, local_pref, atomic_aggregate, aggregator, communities),
            (
                originator_id,
                cluster_list,
                ext_communities,
                as4_path,
                as4_aggregator,
                large,
                mut unknown,
                partial,
            ),
        )| {
            // One attribute of a type at most.
            unknown.sort_by_key(|r| r.type_code);
            unknown.dedup_by_key(|r| r.type_code);
            let mut a = PathAttrs {
                origin,
                as_path,
                next_hop,
                med,
                local_pref,
                atomic_aggregate,
                aggregator,
                communities,
                originator_id,
                cluster_list,
                ext_communities,
                as4_path: if four { None } else { as4_path },
                as4_aggregator: if four { None } else { as4_aggregator },
                large_communities: large,
                unknown,
                partial: AttrTypeSet::default(),
            };
            for t in partial {
                let present = match t {
                    AttrType::AGGREGATOR => a.aggregator.is_some(),
                    AttrType::COMMUNITIES => !a.communities.is_empty(),
                    AttrType::EXTENDED_COMMUNITIES => !a.ext_communities.is_empty(),
                    AttrType::AS4_PATH => a.as4_path.is_some(),
                    AttrType::AS4_AGGREGATOR => a.as4_aggregator.is_some(),
                    _ => !a.large_communities.is_empty(),
                };
                if present {
                    a.partial.insert(t);
                }
            }
            a
        },
    )
}

fn family_other() -> impl Strategy<Value = Family> {
    (any::<u16>(), any::<u8>())
        .prop_map(|(a, s)| Family::new(Afi(a), Safi(s)))
        .prop_filter("not a prefix family", |f| !f.is_prefix_family())
}

fn next_hop6() -> impl Strategy<Value = MpNextHop> {
    (any::<u128>(), proptest::option::of(any::<u128>())).prop_map(|(g, ll)| MpNextHop::Ipv6 {
        global: g.into(),
        link_local: ll.map(Into::into),
    })
}

fn mp_reach(c: Ctx) -> impl Strategy<Value = MpReach> {
    let v4 = |f: Family| {
        (
            prop_oneof![ipv4().prop_map(MpNextHop::Ipv4), next_hop6()],
            vec(nlri4(c.add_path(f)), 0..20),
        )
            .prop_map(move |(next_hop, v)| MpReach {
                family: f,
                next_hop,
                nlri: MpNlri::Ipv4(v),
            })
    };
    prop_oneof![
        v4(Family::IPV4_UNICAST),
        v4(Family::IPV4_MULTICAST),
        (
            next_hop6(),
            vec(nlri6(c.add_path(Family::IPV6_UNICAST)), 0..20)
        )
            .prop_map(|(next_hop, v)| MpReach {
                family: Family::IPV6_UNICAST,
                next_hop,
                nlri: MpNlri::Ipv6(v),
            }),
        (family_other(), bytes(40), bytes(100)).prop_map(|(family, nh, v)| MpReach {
            family,
            next_hop: MpNextHop::Other(nh),
            nlri: MpNlri::Other(v),
        }),
    ]
}

fn mp_unreach(c: Ctx) -> impl Strategy<Value = MpUnreach> {
    prop_oneof![
        vec(nlri6(c.add_path(Family::IPV6_UNICAST)), 0..20).prop_map(|v| MpUnreach {
            family: Family::IPV6_UNICAST,
            withdrawn: MpNlri::Ipv6(v),
        }),
        vec(nlri4(c.add_path(Family::IPV4_UNICAST)), 0..20).prop_map(|v| MpUnreach {
            family: Family::IPV4_UNICAST,
            withdrawn: MpNlri::Ipv4(v),
        }),
        (family_other(), bytes(100)).prop_map(|(family, v)| MpUnreach {
            family,
            withdrawn: MpNlri::Other(v),
        }),
    ]
}

fn update_in(c: Ctx) -> impl Strategy<Value = Update> {
    let ap = c.add_path(Family::IPV4_UNICAST);
    (
        vec(nlri4(ap), 0..20),
        path_attrs(c.four_octet_as),
        proptest::option::of(mp_reach(c)),
        proptest::option::of(mp_unreach(c)),
        vec(nlri4(ap), 0..20),
    )
        .prop_map(|(withdrawn, attrs, mp_reach, mp_unreach, nlri)| Update {
            withdrawn,
            attrs,
            mp_reach,
            mp_unreach,
            nlri,
            ..Update::default()
        })
}

fn ctx_and_update() -> impl Strategy<Value = (Ctx, Update)> {
    ctx().prop_flat_map(|c| (Just(c), update_in(c)))
}

fn capability() -> impl Strategy<Value = Capability> {
    let fam = (any::<u16>(), any::<u8>()).prop_map(|(a, s)| Family::new(Afi(a), Safi(s)));
    prop_oneof![
        fam.clone().prop_map(Capability::Multiprotocol),
        Just(Capability::RouteRefresh),
        Just(Capability::EnhancedRouteRefresh),
        any::<u32>().prop_map(Capability::FourOctetAs),
        (
            any::<(bool, bool)>(),
            0u16..4096,
            vec((fam.clone(), any::<bool>()), 0..4)
        )
            .prop_map(|((r, n), restart_time, fs)| {
                Capability::GracefulRestart(GracefulRestart {
                    restart_state: r,
                    notification: n,
                    restart_time,
                    families: fs
                        .into_iter()
                        .map(|(family, f)| GrFamily {
                            family,
                            forwarding_preserved: f,
                        })
                        .collect(),
                })
            }),
        vec((fam, any::<u8>()), 0..4).prop_map(|v| Capability::AddPath(
            v.into_iter()
                .map(|(family, m)| AddPathEntry {
                    family,
                    mode: AddPathMode(m),
                })
                .collect()
        )),
        (
            any::<u8>().prop_filter("not decoded", |c| ![1, 2, 64, 65, 69, 70].contains(c)),
            bytes(20)
        )
            .prop_map(|(c, value)| Capability::Unknown {
                code: CapabilityCode(c),
                value
            }),
    ]
}

fn open() -> impl Strategy<Value = Open> {
    (
        any::<u16>(),
        any::<u16>().prop_filter("acceptable", |h| *h != 1 && *h != 2),
        1u32..,
        prop_oneof![vec(capability(), 0..8), vec(capability(), 40..90)],
    )
        .prop_map(|(my_as, hold_time, id, capabilities)| Open {
            my_as,
            hold_time,
            bgp_id: Ipv4Addr::from(id),
            capabilities,
        })
}

fn message(c: Ctx) -> impl Strategy<Value = Message> {
    prop_oneof![
        open().prop_map(Message::Open),
        update_in(c).prop_map(|u| Message::Update(Box::new(u))),
        (any::<u8>(), any::<u8>(), bytes(200)).prop_map(|(code, sub, data)| {
            Message::Notification(Notification::new(ErrorCode(code), sub, data))
        }),
        Just(Message::Keepalive),
        (any::<u16>(), any::<u8>(), any::<u8>()).prop_map(|(a, sub, s)| {
            Message::RouteRefresh(RouteRefresh {
                family: Family::new(Afi(a), Safi(s)),
                subtype: RouteRefreshSubtype(sub),
            })
        }),
    ]
}

/// An UPDATE's content, without the parse diagnostics.
fn content(m: Message) -> Message {
    match m {
        Message::Update(mut u) => {
            u.treat_as_withdraw = false;
            u.issues.clear();
            Message::Update(u)
        }
        other => other,
    }
}

/// The property the fuzz target checks too: what parses emits, and parses
/// again to the same content and the same octets.
fn reparse(m: Message, c: &Ctx) {
    let mut out = Vec::new();
    m.emit(c, &mut out).expect("a parsed message emits");
    let again = Message::parse(&out, c).expect("an emitted message parses");
    let mut out2 = Vec::new();
    again.emit(c, &mut out2).expect("emits again");
    assert_eq!(out, out2);
    assert_eq!(content(again), content(m));
}

proptest! {
    #[test]
    fn update_round_trip((c, u) in ctx_and_update()) {
        let mut out = Vec::new();
        let len = u.emit(&c, &mut out).unwrap();
        prop_assert_eq!(len, out.len());
        let back = match Message::parse(&out, &c).unwrap() {
            Message::Update(b) => *b,
            other => panic!("{other:?}"),
        };
        // The only issues an UPDATE built from valid parts can have are
        // missing mandatory attributes.
        for i in &back.issues {
            prop_assert!(i.reason.contains("missing"), "{:?}", i);
        }
        let mut plain = back.clone();
        plain.treat_as_withdraw = false;
        plain.issues.clear();
        prop_assert_eq!(&plain, &u);
        let mut out2 = Vec::new();
        back.emit(&c, &mut out2).unwrap();
        prop_assert_eq!(out, out2);
    }

    #[test]
    fn message_round_trip((c, m) in ctx().prop_flat_map(|c| (Just(c), message(c)))) {
        let mut out = Vec::new();
        m.emit(&c, &mut out).unwrap();
        prop_assert_eq!(frame(&out).unwrap(), Some(out.len()));
        let back = Message::parse(&out, &c).unwrap();
        prop_assert_eq!(content(back.clone()), m);
        reparse(back, &c);
    }

    #[test]
    fn nlri_round_trip(v in vec(nlri4(true), 0..50), w in vec(nlri6(false), 0..50)) {
        let mut out = Vec::new();
        emit_nlri(&v, true, &mut out);
        prop_assert_eq!(parse_nlri::<Ipv4Network>(&out, true).unwrap(), v);
        let mut out = Vec::new();
        emit_nlri(&w, false, &mut out);
        prop_assert_eq!(parse_nlri::<Ipv6Network>(&out, false).unwrap(), w);
    }

    #[test]
    fn as4_split_and_merge(p in as_path(true, false)) {
        // Sending to a 2-octet speaker and reconstructing gives the path
        // back (RFC 6793 4.2.2 then 4.2.3).
        let mut two = Vec::new();
        p.emit(false, &mut two);
        let as_path = AsPath::parse(&two, false).unwrap();
        let merged = match p.to_as4_path() {
            Some(as4) => as_path.merge_as4(&as4),
            None => as_path,
        };
        prop_assert_eq!(merged, p);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn random_octets_never_panic(b in bytes(600)) {
        for c in [Ctx::new(false), Ctx::new(true),
                  Ctx::new(true).with_add_path(Family::IPV4_UNICAST, true)
                      .with_add_path(Family::IPV6_UNICAST, true)] {
            if let Ok(m) = Message::parse(&b, &c) {
                reparse(m, &c);
            }
            if let Ok(u) = parse_update(&b, &c) {
                reparse(Message::Update(Box::new(u)), &c);
            }
            let _ = Open::parse(&b);
            let _ = Notification::parse(&b);
            let _ = RouteRefresh::parse(&b);
            let _ = frame(&b);
            let _ = MpReach::parse(&b, &c);
            let _ = MpUnreach::parse(&b, &c);
            let _ = AsPath::parse(&b, c.four_octet_as);
            if let Some((&code, rest)) = b.split_first() {
                let _ = Capability::parse(CapabilityCode(code), rest);
            }
        }
    }

    /// Random bodies behind a valid header, so the body parsers are
    /// reached every time.
    #[test]
    fn random_bodies_never_panic(t in 1u8..=5, body in bytes(900), c in ctx()) {
        let mut msg = vec![0xff; 16];
        msg.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
        msg.push(t);
        msg.extend_from_slice(&body);
        if let Ok(m) = Message::parse(&msg, &c) {
            reparse(m, &c);
        }
    }

    /// Valid messages with octets changed or cut.
    #[test]
    fn mutated_messages_never_panic(
        (c, m) in ctx().prop_flat_map(|c| (Just(c), message(c))),
        flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        fix_len in any::<bool>(),
    ) {
        let mut out = Vec::new();
        m.emit(&c, &mut out).unwrap();
        for (i, v) in flips {
            let i = i.index(out.len());
            if i >= 19 || !fix_len {
                out[i] = v;
            }
        }
        if cut.index(4) == 0 {
            out.truncate(cut.index(out.len() + 1));
        }
        if fix_len && out.len() >= 19 {
            let n = out.len() as u16;
            out[16..18].copy_from_slice(&n.to_be_bytes());
        }
        if let Ok(m) = Message::parse(&out, &c) {
            reparse(m, &c);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn builder_packs_and_parses_back(
        c in ctx(),
        v4 in vec(nlri4(false), 0..3000),
        v6 in vec(nlri6(false), 0..600),
    ) {
        let ap4 = c.add_path(Family::IPV4_UNICAST);
        let v4: Vec<Nlri4> = v4.into_iter()
            .map(|n| Nlri { path_id: ap4.then_some(7), ..n })
            .collect();
        let ap6 = c.add_path(Family::IPV6_UNICAST);
        let v6: Vec<Nlri6> = v6.into_iter()
            .map(|n| Nlri { path_id: ap6.then_some(9), ..n })
            .collect();
        let attrs = PathAttrs {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::sequence([65001, 65002])),
            next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
            communities: vec![Community::NO_EXPORT],
            ..PathAttrs::default()
        };
        let mut out = Vec::new();
        let b = UpdateBuilder::ipv4_unicast(&attrs, &c).unwrap();
        let n4 = b.announce(&v4, &mut out).unwrap();
        let mut attrs6 = attrs.clone();
        attrs6.next_hop = None;
        let nh = MpNextHop::Ipv6 { global: Ipv6Addr::LOCALHOST, link_local: None };
        let b6 = UpdateBuilder::mp(Family::IPV6_UNICAST, &nh, &attrs6, &c).unwrap();
        let n6 = b6.announce(&v6, &mut out).unwrap();
        let nw = UpdateBuilder::withdraw(Family::IPV4_UNICAST, &v4, &c, &mut out).unwrap();

        let (mut got4, mut got6, mut gotw, mut msgs) = (Vec::new(), Vec::new(), Vec::new(), 0);
        let mut rest = &out[..];
        while let Some(len) = frame(rest).unwrap() {
            let m = match Message::parse(&rest[..len], &c).unwrap() {
                Message::Update(u) => u,
                other => panic!("{other:?}"),
            };
            prop_assert!(!m.treat_as_withdraw);
            got4.extend(m.nlri);
            gotw.extend(m.withdrawn);
            if let Some(MpReach { nlri: MpNlri::Ipv6(v), .. }) = m.mp_reach {
                got6.extend(v);
            }
            rest = &rest[len..];
            msgs += 1;
        }
        prop_assert!(rest.is_empty());
        prop_assert_eq!(msgs, n4 + n6 + nw);
        prop_assert_eq!(&got4, &v4);
        prop_assert_eq!(&gotw, &v4);
        prop_assert_eq!(got6, v6);
        // Packed: every message but the last of a run is nearly full.
        let per_msg = if ap4 { 9 } else { 5 };
        prop_assert!(n4 <= v4.len() * per_msg / (4096 - 60) + 1);
    }
}
