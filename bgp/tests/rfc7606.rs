//! RFC 7606 revised error handling: every class (session reset,
//! treat-as-withdraw, attribute discard), duplicates, missing mandatory
//! attributes, attribute lengths in conflict with the total, and the rule
//! that the strongest action wins. UPDATE bodies are laid out by hand.

use bgp::wire::{subcode::update as sub, *};

/// ORIGIN IGP, AS_PATH 65001 (4-octet), NEXT_HOP 10.0.0.1.
const BASE: [u8; 20] = [
    0x40, 1, 1, 0, 0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9, 0x40, 3, 4, 10, 0, 0, 1,
];
/// 10.0.0.0/24.
const NLRI: [u8; 4] = [24, 10, 0, 0];

fn ctx() -> Ctx {
    Ctx::new(true)
}

fn body(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut b = (withdrawn.len() as u16).to_be_bytes().to_vec();
    b.extend_from_slice(withdrawn);
    b.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    b.extend_from_slice(attrs);
    b.extend_from_slice(nlri);
    b
}

/// BASE plus `extra` attributes, announcing NLRI.
fn with(extra: &[u8]) -> Vec<u8> {
    let mut a = BASE.to_vec();
    a.extend_from_slice(extra);
    body(&[], &a, &NLRI)
}

/// BASE with the attribute starting at `at` (of `len` octets) replaced.
fn replace(at: usize, len: usize, by: &[u8]) -> Vec<u8> {
    let mut a = BASE.to_vec();
    a.splice(at..at + len, by.iter().copied());
    body(&[], &a, &NLRI)
}

fn parse(b: &[u8]) -> Update {
    parse_update(b, &ctx()).expect("no session reset")
}

fn reset(b: &[u8]) -> UpdateError {
    let e = parse_update(b, &ctx()).expect_err("session reset");
    assert_eq!(e.code, ErrorCode::UPDATE_MESSAGE_ERROR);
    e
}

fn assert_taw(u: &Update, t: AttrType) {
    assert!(u.treat_as_withdraw, "{:?}", u.issues);
    assert!(
        u.issues
            .iter()
            .any(|i| i.attr_type == t && i.action == AttrError::TreatAsWithdraw),
        "{t:?} not in {:?}",
        u.issues
    );
    // The NLRI are still there, to be withdrawn.
    assert_eq!(u.nlri.len(), 1);
}

fn assert_discarded(u: &Update, t: AttrType) {
    assert!(!u.treat_as_withdraw, "{:?}", u.issues);
    assert!(u.discarded().any(|d| d == t), "{t:?} not in {:?}", u.issues);
}

#[test]
fn valid_base() {
    let u = parse(&with(&[]));
    assert!(!u.treat_as_withdraw && u.issues.is_empty());
    assert_eq!(u.attrs.as_path, Some(AsPath::sequence([65001])));
}

#[test]
fn treat_as_withdraw_per_attribute() {
    let cases: Vec<(AttrType, Vec<u8>)> = vec![
        (AttrType::ORIGIN, replace(0, 4, &[0x40, 1, 2, 0, 0])),
        (AttrType::ORIGIN, replace(0, 4, &[0x40, 1, 1, 3])),
        (AttrType::AS_PATH, replace(4, 9, &[0x40, 2, 2, 7, 0])),
        (AttrType::AS_PATH, replace(4, 9, &[0x40, 2, 2, 2, 0])),
        (
            AttrType::AS_PATH,
            replace(4, 9, &[0x40, 2, 6, 2, 2, 0, 0, 0xfd, 0xe9]),
        ),
        (
            AttrType::AS_PATH,
            replace(4, 9, &[0x40, 2, 7, 2, 1, 0, 0, 0xfd, 0xe9, 2]),
        ),
        (
            AttrType::NEXT_HOP,
            replace(13, 7, &[0x40, 3, 5, 10, 0, 0, 1, 1]),
        ),
        (AttrType::MULTI_EXIT_DISC, with(&[0x80, 4, 3, 0, 0, 1])),
        (AttrType::LOCAL_PREF, with(&[0x40, 5, 5, 0, 0, 0, 1, 0])),
        (AttrType::COMMUNITIES, with(&[0xc0, 8, 0])),
        (AttrType::COMMUNITIES, with(&[0xc0, 8, 5, 1, 2, 3, 4, 5])),
        (AttrType::ORIGINATOR_ID, with(&[0x80, 9, 3, 1, 2, 3])),
        (
            AttrType::CLUSTER_LIST,
            with(&[0x80, 10, 6, 1, 2, 3, 4, 5, 6]),
        ),
        (
            AttrType::EXTENDED_COMMUNITIES,
            with(&[0xc0, 16, 7, 0, 0, 0, 0, 0, 0, 0]),
        ),
        (
            AttrType::LARGE_COMMUNITY,
            with(&[0xc0, 32, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        ),
        // Optional/Transitive flags in conflict with the type.
        (AttrType::ORIGIN, replace(0, 4, &[0xc0, 1, 1, 0])),
        (AttrType::MULTI_EXIT_DISC, with(&[0xc0, 4, 4, 0, 0, 0, 1])),
        (AttrType::COMMUNITIES, with(&[0x40, 8, 4, 0, 0, 0, 1])),
    ];
    for (t, b) in cases {
        let u = parse(&b);
        assert_taw(&u, t);
    }
    // The malformed attribute is not in the result.
    let u = parse(&replace(0, 4, &[0x40, 1, 1, 3]));
    assert_eq!(u.attrs.origin, None);
    assert_eq!(u.issues.len(), 1); // not also reported missing
}

#[test]
fn attribute_discard() {
    let cases: Vec<(AttrType, Vec<u8>)> = vec![
        (AttrType::ATOMIC_AGGREGATE, with(&[0x40, 6, 1, 0])),
        (
            AttrType::AGGREGATOR,
            with(&[0xc0, 7, 6, 0xfd, 0xe9, 10, 0, 0, 1]),
        ),
        (AttrType::ATOMIC_AGGREGATE, with(&[0xc0, 6, 0])), // flags
        (
            AttrType::AGGREGATOR,
            with(&[0x40, 7, 8, 0, 0, 0xfd, 0xe9, 10, 0, 0, 1]),
        ),
        // AS4_PATH / AS4_AGGREGATOR from a 4-octet speaker.
        (
            AttrType::AS4_PATH,
            with(&[0xc0, 17, 6, 2, 1, 0, 0, 0xfd, 0xe9]),
        ),
        (
            AttrType::AS4_AGGREGATOR,
            with(&[0xc0, 18, 8, 0, 0, 0xfd, 0xe9, 10, 0, 0, 1]),
        ),
        // Unknown optional non-transitive: quietly ignored.
        (AttrType(200), with(&[0x80, 200, 1, 0])),
    ];
    for (t, b) in cases {
        let u = parse(&b);
        assert_discarded(&u, t);
        assert_eq!(u.attrs.aggregator, None);
        assert!(!u.attrs.atomic_aggregate);
        assert_eq!(u.attrs.as4_path, None);
    }
    // On a 2-octet session: malformed AS4_PATH (confederation segment,
    // empty) and AS4_AGGREGATOR (length) are discarded too.
    let two = Ctx::new(false);
    let base2 = [
        0x40, 1, 1, 0, 0x40, 2, 4, 2, 1, 0xfd, 0xe9, 0x40, 3, 4, 10, 0, 0, 1,
    ];
    for (t, extra) in [
        (
            AttrType::AS4_PATH,
            vec![0xc0, 17, 6, 3, 1, 0, 0, 0xfd, 0xe9],
        ),
        (AttrType::AS4_PATH, vec![0xc0, 17, 0]),
        (
            AttrType::AS4_AGGREGATOR,
            vec![0xc0, 18, 6, 0xfd, 0xe9, 10, 0, 0, 1],
        ),
    ] {
        let mut a = base2.to_vec();
        a.extend_from_slice(&extra);
        let u = parse_update(&body(&[], &a, &NLRI), &two).unwrap();
        assert_discarded(&u, t);
        assert_eq!(u.attrs.as4_path, None);
    }
}

#[test]
fn session_reset_classes() {
    // MP_REACH_NLRI: IPv6 next hop of 4 octets.
    let mp_bad_nh = [0x80, 14, 9, 0, 2, 1, 4, 1, 2, 3, 4, 0];
    let e = reset(&with(&mp_bad_nh));
    assert_eq!(e.subcode, sub::OPTIONAL_ATTRIBUTE_ERROR);
    assert_eq!(e.data, mp_bad_nh);
    // MP_REACH_NLRI: a prefix overrunning the attribute.
    let mut mp = vec![0x80, 14, 23, 0, 2, 1, 16];
    mp.extend_from_slice(&[0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
    mp.extend_from_slice(&[64, 0x20, 1, 0x0d]);
    assert_eq!(reset(&with(&mp)).subcode, sub::OPTIONAL_ATTRIBUTE_ERROR);
    // MP_UNREACH_NLRI: prefix length 129; and shorter than AFI/SAFI.
    assert_eq!(
        reset(&with(&[0x80, 15, 4, 0, 2, 1, 129])).subcode,
        sub::OPTIONAL_ATTRIBUTE_ERROR
    );
    assert!(parse_update(&body(&[], &[0x80, 15, 2, 0, 2], &[]), &ctx()).is_err());
    // MP flags in conflict (transitive set): Attribute Flags Error.
    let e = reset(&with(&[0xc0, 15, 3, 0, 2, 1]));
    assert_eq!(e.subcode, sub::ATTRIBUTE_FLAGS_ERROR);
    assert_eq!(e.data, [0xc0, 15, 3, 0, 2, 1]);
    // MP attribute length overrunning the path attributes.
    let e = reset(&with(&[0x80, 15, 9, 0, 2, 1]));
    assert_eq!(e.subcode, sub::ATTRIBUTE_LENGTH_ERROR);
    // MP attribute header cut short.
    assert_eq!(
        reset(&with(&[0x90, 15, 0])).subcode,
        sub::ATTRIBUTE_LENGTH_ERROR
    );
    // MP_UNREACH_NLRI twice.
    let e = reset(&with(&[0x80, 15, 3, 0, 2, 1, 0x80, 15, 3, 0, 2, 1]));
    assert_eq!(e.subcode, sub::MALFORMED_ATTRIBUTE_LIST);
    // Withdrawn Routes Length and Total Path Attribute Length overrunning
    // the message.
    let mut b = with(&[]);
    b[1] = 200;
    assert_eq!(reset(&b).subcode, sub::MALFORMED_ATTRIBUTE_LIST);
    let mut b = with(&[]);
    b[3] += 5;
    assert_eq!(reset(&b).subcode, sub::MALFORMED_ATTRIBUTE_LIST);
    assert_eq!(reset(&[0, 0, 0]).subcode, sub::MALFORMED_ATTRIBUTE_LIST);
    // Bad prefix length in NLRI, truncated prefix in Withdrawn Routes.
    let b = body(&[], &BASE, &[33, 10, 0, 0, 0, 0]);
    assert_eq!(reset(&b).subcode, sub::INVALID_NETWORK_FIELD);
    let b = body(&[24, 10, 0], &[], &[]);
    assert_eq!(reset(&b).subcode, sub::INVALID_NETWORK_FIELD);
    // ADD-PATH NLRI read without ADD-PATH: /0 three times, then a /48
    // with four octets left.
    let b = body(&[], &BASE, &[0, 0, 0, 48, 24, 10, 0, 0]);
    assert_eq!(reset(&b).subcode, sub::INVALID_NETWORK_FIELD);
    // An unrecognized well-known attribute, returned in the data.
    let e = reset(&with(&[0x40, 250, 2, 1, 2]));
    assert_eq!(e.subcode, sub::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE);
    assert_eq!(e.data, [0x40, 250, 2, 1, 2]);
    assert_eq!(
        e.to_notification().to_string(),
        "UPDATE_MESSAGE_ERROR/Unrecognized Well-known Attribute (5 octets of data)"
    );
}

#[test]
fn duplicates() {
    // A second ORIGIN (INCOMPLETE) is discarded, the first (IGP) kept.
    let u = parse(&with(&[0x40, 1, 1, 2]));
    assert_eq!(u.attrs.origin, Some(Origin::Igp));
    assert_discarded(&u, AttrType::ORIGIN);
    // Even a malformed second copy costs nothing.
    let u = parse(&with(&[0x40, 1, 3, 9, 9, 9]));
    assert_discarded(&u, AttrType::ORIGIN);
    // A duplicate unknown transitive attribute: only the first kept.
    let u = parse(&with(&[0xc0, 99, 1, 1, 0xc0, 99, 1, 2]));
    assert_eq!(u.attrs.unknown.len(), 1);
    assert_eq!(u.attrs.unknown[0].value, vec![1]);
    // MP_REACH_NLRI twice resets.
    let mut mp = vec![0x80, 14, 21, 0, 2, 1, 16];
    mp.extend_from_slice(&[0; 17]);
    assert!(!parse(&with(&mp)).treat_as_withdraw);
    let two = [mp.clone(), mp].concat();
    assert_eq!(reset(&with(&two)).subcode, sub::MALFORMED_ATTRIBUTE_LIST);
}

#[test]
fn missing_mandatory() {
    // No ORIGIN.
    let u = parse(&body(&[], &BASE[4..], &NLRI));
    assert_taw(&u, AttrType::ORIGIN);
    // No NEXT_HOP with NLRI.
    let u = parse(&body(&[], &BASE[..13], &NLRI));
    assert_taw(&u, AttrType::NEXT_HOP);
    // No attributes at all with NLRI: three missing.
    let u = parse(&body(&[], &[], &NLRI));
    assert_eq!(u.issues.len(), 3);
    assert!(u.treat_as_withdraw);
    // MP_REACH_NLRI with NLRI but no AS_PATH; NEXT_HOP is not needed.
    let mut a = vec![0x80, 14, 30, 0, 2, 1, 16];
    a.extend_from_slice(&[0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
    a.extend_from_slice(&[64, 0x20, 1, 0x0d, 0xb8, 0, 0, 0, 1]);
    let mut no_path = a.clone();
    no_path.extend_from_slice(&BASE[..4]);
    let u = parse_update(&body(&[], &no_path, &[]), &ctx()).unwrap();
    assert!(u.treat_as_withdraw);
    assert_eq!(u.issues[0].attr_type, AttrType::AS_PATH);
    let mut fine = a.clone();
    fine.extend_from_slice(&BASE[..13]);
    let u = parse_update(&body(&[], &fine, &[]), &ctx()).unwrap();
    assert!(!u.treat_as_withdraw, "{:?}", u.issues);
    // Withdrawals need no attributes.
    let u = parse(&body(&NLRI, &[], &[]));
    assert!(!u.treat_as_withdraw && u.issues.is_empty());
    let u = parse(&body(&[], &[0x80, 15, 7, 0, 1, 1, 24, 10, 0, 0], &[]));
    assert!(!u.treat_as_withdraw && u.issues.is_empty());
}

#[test]
fn attribute_lengths_against_the_total() {
    // RFC 7606 section 4: the last attribute overruns the path attributes
    // (here a COMMUNITIES claiming 8 octets with 4 left), or fewer octets
    // than a header remain: treat-as-withdraw, NLRI still found.
    let u = parse(&with(&[0xc0, 8, 8, 0, 0, 0, 1]));
    assert_taw(&u, AttrType::COMMUNITIES);
    assert_eq!(u.nlri[0].prefix.to_string(), "10.0.0.0/24");
    let u = parse(&with(&[0xc0, 8]));
    assert_taw(&u, AttrType::COMMUNITIES);
    let u = parse(&with(&[0xd0, 8, 0]));
    assert_taw(&u, AttrType::COMMUNITIES);
    let u = parse(&with(&[0x40]));
    assert!(u.treat_as_withdraw);
    // An Extended Length attribute is read with its 2-octet length.
    let u = parse(&with(&[0xd0, 8, 0, 4, 0xff, 0xff, 0xff, 0x01]));
    assert_eq!(u.attrs.communities, vec![Community::NO_EXPORT]);
    assert!(u.issues.is_empty());
}

#[test]
fn strongest_action_wins() {
    // Discard + treat-as-withdraw: treat-as-withdraw, both listed.
    let u = parse(&with(&[0x40, 6, 1, 0, 0x80, 4, 1, 0]));
    assert!(u.treat_as_withdraw);
    assert_eq!(u.issues.len(), 2);
    assert_eq!(
        u.discarded().collect::<Vec<_>>(),
        vec![AttrType::ATOMIC_AGGREGATE]
    );
    // Treat-as-withdraw + session reset: reset.
    let e = reset(&with(&[0x80, 4, 1, 0, 0x80, 15, 2, 0, 2]));
    assert_eq!(e.subcode, sub::OPTIONAL_ATTRIBUTE_ERROR);
}

#[test]
fn partial_bit_and_extended_length_on_emit() {
    // An unknown optional transitive attribute comes back with Partial.
    let u = parse(&with(&[0xc0, 99, 1, 7]));
    assert_eq!(u.attrs.unknown[0].flags, 0xe0);
    let mut out = Vec::new();
    u.emit_body(&ctx(), &mut out).unwrap();
    assert!(out.windows(4).any(|w| w == [0xe0, 99, 1, 7]));
    // A 300-octet unknown value and a long MP_REACH_NLRI use Extended
    // Length; both parse back.
    let mut u = parse(&with(&[]));
    u.attrs.unknown = vec![RawAttr {
        flags: 0xe0,
        type_code: AttrType(99),
        value: vec![1; 300],
    }];
    u.mp_reach = Some(MpReach {
        family: Family::IPV6_UNICAST,
        next_hop: MpNextHop::Ipv6 {
            global: "2001:db8::1".parse().unwrap(),
            link_local: None,
        },
        nlri: MpNlri::Ipv6(
            (0..40u128)
                .map(|i| Nlri::new(ipnetwork::Ipv6Network::new((i << 64).into(), 64).unwrap()))
                .collect(),
        ),
    });
    let mut out = Vec::new();
    u.emit_body(&ctx(), &mut out).unwrap();
    assert_eq!(out[4..6], [0x90, 14]);
    assert!(out.windows(4).any(|w| w == [0xf0, 99, 1, 44]));
    assert_eq!(parse(&out), u);
}
