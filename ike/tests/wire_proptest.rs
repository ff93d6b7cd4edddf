//! Property tests of the wire format: generated messages round-trip
//! (Repr -> emit -> parse -> emit gives the same octets and the same Repr),
//! and arbitrary or mutated octets never panic the parsers.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ike::wire::*;
use proptest::collection::vec;
use proptest::prelude::*;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> + Clone {
    vec(any::<u8>(), 0..max)
}

fn attribute() -> impl Strategy<Value = Attribute> {
    prop_oneof![
        (0u16..0x8000, any::<u16>()).prop_map(|(t, value)| Attribute::Tv {
            attr_type: AttributeType(t),
            value
        }),
        (0u16..0x8000, bytes(8)).prop_map(|(t, value)| Attribute::Tlv {
            attr_type: AttributeType(t),
            value
        }),
    ]
}

fn transform() -> impl Strategy<Value = Transform> {
    (any::<u8>(), any::<u16>(), vec(attribute(), 0..3)).prop_map(|(t, id, attributes)| Transform {
        transform_type: TransformType(t),
        id,
        attributes,
    })
}

fn proposal() -> impl Strategy<Value = Proposal> {
    let spi = prop_oneof![
        Just(vec![]),
        vec(any::<u8>(), 4),
        vec(any::<u8>(), 8),
        bytes(12)
    ];
    (any::<u8>(), any::<u8>(), spi, vec(transform(), 0..6))
        .prop_map(|(n, p, spi, t)| Proposal::new(n, ProtocolId(p), spi, t))
}

fn selector() -> impl Strategy<Value = TrafficSelector> + Clone {
    let ports = (any::<u8>(), any::<u16>(), any::<u16>());
    prop_oneof![
        (ports, any::<u32>(), any::<u32>()).prop_map(|((p, s, e), a, b)| {
            TrafficSelector::Range(TsRange {
                ip_protocol: p,
                start_port: s,
                end_port: e,
                start: IpAddr::V4(Ipv4Addr::from(a)),
                end: IpAddr::V4(Ipv4Addr::from(b)),
            })
        }),
        (ports, any::<u128>(), any::<u128>()).prop_map(|((p, s, e), a, b)| {
            TrafficSelector::Range(TsRange {
                ip_protocol: p,
                start_port: s,
                end_port: e,
                start: IpAddr::V6(Ipv6Addr::from(a)),
                end: IpAddr::V6(Ipv6Addr::from(b)),
            })
        }),
        (
            any::<u8>().prop_filter("not a range type", |t| *t != 7 && *t != 8),
            any::<u8>(),
            bytes(20)
        )
            .prop_map(|(t, second, data)| TrafficSelector::Other {
                ts_type: TsType(t),
                second,
                data
            }),
    ]
}

fn delete() -> impl Strategy<Value = DeletePayload> {
    (any::<u8>(), 0u8..=8).prop_flat_map(|(p, size)| {
        let spis = if size == 0 {
            Just(vec![]).boxed()
        } else {
            vec(vec(any::<u8>(), usize::from(size)), 0..4).boxed()
        };
        spis.prop_map(move |spis| DeletePayload {
            protocol: ProtocolId(p),
            spi_size: size,
            spis,
        })
    })
}

/// Any payload but SK/SKF.
fn plain_payload() -> impl Strategy<Value = Payload> {
    let id = (any::<u8>(), bytes(40)).prop_map(|(t, data)| IdPayload {
        id_type: IdType(t),
        data,
    });
    let cert = (any::<u8>(), bytes(60)).prop_map(|(e, data)| CertPayload {
        encoding: CertEncoding(e),
        data,
    });
    let ts = vec(selector(), 0..4).prop_map(TsPayload::new);
    let unknown_type = any::<u8>().prop_filter("unknown, not NONE", |t| {
        *t != 0 && !Payload::is_known_type(PayloadType(*t))
    });
    prop_oneof![
        vec(proposal(), 1..4).prop_map(|p| Payload::Sa(SaPayload::new(p))),
        (any::<u16>(), bytes(64)).prop_map(|(g, data)| Payload::Ke(KePayload {
            group: DhGroup(g),
            data
        })),
        id.clone().prop_map(Payload::IdI),
        id.prop_map(Payload::IdR),
        cert.clone().prop_map(Payload::Cert),
        cert.prop_map(Payload::CertReq),
        (any::<u8>(), bytes(64)).prop_map(|(m, data)| Payload::Auth(AuthPayload {
            method: AuthMethod(m),
            data
        })),
        vec(any::<u8>(), NONCE_MIN..=NONCE_MAX)
            .prop_map(|data| Payload::Nonce(NoncePayload { data })),
        (any::<u8>(), bytes(9), any::<u16>(), bytes(40)).prop_map(|(p, spi, t, data)| {
            Payload::Notify(NotifyPayload {
                protocol: ProtocolId(p),
                spi,
                notify_type: NotifyType(t),
                data,
            })
        }),
        delete().prop_map(Payload::Delete),
        bytes(20).prop_map(Payload::VendorId),
        ts.clone().prop_map(Payload::TsI),
        ts.prop_map(Payload::TsR),
        (any::<u8>(), vec((0u16..0x8000, bytes(16)), 0..4)).prop_map(|(t, a)| {
            Payload::Cp(CpPayload {
                cfg_type: CfgType(t),
                attributes: a
                    .into_iter()
                    .map(|(t, value)| CfgAttribute {
                        attr_type: CfgAttrType(t),
                        value,
                    })
                    .collect(),
            })
        }),
        bytes(30).prop_map(Payload::Eap),
        (unknown_type, bytes(30)).prop_map(|(t, body)| Payload::Unknown {
            payload_type: PayloadType(t),
            body
        }),
    ]
}

fn encrypted_payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        (any::<u8>(), bytes(80)).prop_map(|(t, body)| Payload::Sk(SkPayload {
            inner_first: PayloadType(t),
            body
        })),
        (1u16..=u16::MAX, any::<u16>(), any::<u8>(), bytes(80)).prop_map(|(total, n, t, body)| {
            Payload::Skf(SkfPayload {
                fragment_number: 1 + n % total,
                total_fragments: total,
                inner_first: PayloadType(t),
                body,
            })
        }),
    ]
}

fn payloads() -> impl Strategy<Value = Vec<Payload>> {
    (
        vec(plain_payload(), 0..6),
        proptest::option::of(encrypted_payload()),
    )
        .prop_map(|(mut v, e)| {
            v.extend(e);
            v
        })
}

fn message() -> impl Strategy<Value = Message> {
    (
        any::<u64>(),
        any::<u64>(),
        0u8..16,
        any::<u8>(),
        any::<u8>(),
        any::<u32>(),
        payloads(),
    )
        .prop_map(|(i, r, minor, x, f, id, payloads)| {
            let mut header = Header::new(i, r, ExchangeType(x), Flags(f), id);
            header.version = 0x20 | minor;
            Message::new(header, payloads)
        })
}

/// A parse that succeeded must emit, and re-parse to the same value.
fn check_idempotent(m: &Message) -> Result<(), TestCaseError> {
    let out = m
        .emit()
        .map_err(|e| TestCaseError::fail(format!("emit after parse: {e}")))?;
    let again = Message::parse(&out).map_err(|e| TestCaseError::fail(format!("re-parse: {e}")))?;
    prop_assert_eq!(&again.payloads, &m.payloads);
    prop_assert_eq!(again.emit().ok(), Some(out));
    Ok(())
}

proptest! {
    #[test]
    fn message_round_trip(m in message()) {
        let bytes = m.emit().unwrap();
        let parsed = Message::parse(&bytes).unwrap();
        let mut expected = m.clone();
        expected.header.next_payload = m.payloads.first().map_or(PayloadType::NONE, Payload::payload_type);
        expected.header.length = bytes.len() as u32;
        prop_assert_eq!(&parsed, &expected);
        prop_assert_eq!(parsed.emit().unwrap(), bytes);
    }

    #[test]
    fn chain_round_trip(p in vec(plain_payload(), 0..8)) {
        let (first, bytes) = emit_payloads(&p).unwrap();
        let parsed = parse_decrypted(first, &bytes).unwrap();
        prop_assert_eq!(&parsed, &p);
        prop_assert_eq!(emit_payloads(&parsed).unwrap(), (first, bytes));
    }

    #[test]
    fn encrypted_view_matches_prefix(m in message(), body in bytes(100), t in any::<u8>()) {
        let msg = emit_encrypted(&m.header, PayloadType(t), &body).unwrap();
        let v = parse_encrypted(&msg).unwrap().unwrap();
        prop_assert_eq!(v.body, &body[..]);
        prop_assert_eq!(v.inner_first, PayloadType(t));
        prop_assert_eq!(v.aad, &encrypted_prefix(&m.header, PayloadType(t), body.len()).unwrap()[..]);
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in bytes(400), first in any::<u8>()) {
        if let Ok(m) = Message::parse(&b) {
            check_idempotent(&m)?;
        }
        let _ = parse_encrypted(&b);
        let _ = parse_payloads(PayloadType(first), &b);
        let _ = parse_decrypted(PayloadType(first), &b);
    }

    #[test]
    fn arbitrary_body_after_valid_header(m in message(), b in bytes(300), np in 0u8..60) {
        // A valid header with the right length over a random chain.
        let mut h = m.header;
        h.next_payload = PayloadType(np);
        h.length = (HEADER_LEN + b.len()) as u32;
        let mut msg = h.to_bytes().to_vec();
        msg.extend_from_slice(&b);
        if let Ok(m) = Message::parse(&msg) {
            check_idempotent(&m)?;
        }
    }

    #[test]
    fn mutated_messages_never_panic(
        m in message(),
        edits in vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..6),
    ) {
        let mut b = m.emit().unwrap();
        for (at, v, kind) in edits {
            if b.is_empty() { break; }
            let i = at.index(b.len());
            match kind {
                0 => b[i] = v,
                1 => b[i] ^= 1 << (v % 8),
                2 => b.truncate(i),
                _ => b.insert(i, v),
            }
        }
        // Keep the header length consistent half of the time, so mutations
        // reach the payload parsers.
        if b.len() >= HEADER_LEN && b[0] & 1 == 0 {
            let len = (b.len() as u32).to_be_bytes();
            b[24..28].copy_from_slice(&len);
        }
        if let Ok(m) = Message::parse(&b) {
            check_idempotent(&m)?;
        }
        let _ = parse_encrypted(&b);
    }
}
