//! Real strongSwan messages (see src/wire/fixtures/README.md): every one
//! parses, re-emits to the same octets, and holds what strongSwan logged.

use ike::wire::*;

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("../src/wire/fixtures/", $name)).as_slice()
    };
}

const MESSAGES: &[(&str, &[u8])] = &[
    ("01", fixture!("01_ike_sa_init_req.bin")),
    ("02", fixture!("02_ike_sa_init_resp.bin")),
    ("03", fixture!("03_ike_sa_init_req.bin")),
    ("04", fixture!("04_ike_sa_init_resp.bin")),
    ("05", fixture!("05_ike_auth_req_skf.bin")),
    ("06", fixture!("06_ike_auth_req_skf.bin")),
    ("07", fixture!("07_ike_auth_resp.bin")),
    ("08", fixture!("08_create_child_sa_req_skf.bin")),
    ("09", fixture!("09_create_child_sa_req_skf.bin")),
    ("10", fixture!("10_create_child_sa_resp.bin")),
    ("11", fixture!("11_informational_req.bin")),
    ("12", fixture!("12_informational_resp.bin")),
    ("13", fixture!("13_informational_req.bin")),
    ("14", fixture!("14_informational_resp.bin")),
];

/// Decrypted SK contents and the type of their first payload.
const PLAIN: &[(&str, u8, &[u8])] = &[
    (
        "05+06",
        35,
        fixture!("05_ike_auth_req_reassembled_plain_35.bin"),
    ),
    ("07", 36, fixture!("07_ike_auth_resp_plain_36.bin")),
    (
        "08+09",
        41,
        fixture!("08_create_child_sa_req_reassembled_plain_41.bin"),
    ),
    ("10", 33, fixture!("10_create_child_sa_resp_plain_33.bin")),
    ("11", 42, fixture!("11_informational_req_plain_42.bin")),
    ("12", 42, fixture!("12_informational_resp_plain_42.bin")),
    ("13", 42, fixture!("13_informational_req_plain_42.bin")),
    ("14", 0, fixture!("14_informational_resp_plain_0.bin")),
];

fn msg(n: usize) -> Message {
    Message::parse(MESSAGES[n - 1].1).unwrap()
}

fn plain(k: usize) -> Vec<Payload> {
    let (_, first, b) = PLAIN[k];
    parse_decrypted(PayloadType(first), b).unwrap()
}

#[test]
fn every_message_round_trips() {
    for (name, bytes) in MESSAGES {
        let m = Message::parse(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(m.emit().unwrap(), *bytes, "{name}");
        assert_eq!(m.header.length as usize, bytes.len());
    }
    for (name, first, bytes) in PLAIN {
        let p =
            parse_decrypted(PayloadType(*first), bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (f, out) = emit_payloads(&p).unwrap();
        assert_eq!(f, PayloadType(*first), "{name}");
        assert_eq!(out, *bytes, "{name}");
    }
}

#[test]
fn ike_sa_init_request() {
    let m = msg(1);
    assert_eq!(m.header.exchange, ExchangeType::IKE_SA_INIT);
    assert!(m.header.flags.initiator() && !m.header.flags.response());
    assert_eq!((m.header.spi_r, m.header.message_id), (0, 0));
    let sa = m.sa().unwrap();
    assert_eq!(sa.proposals.len(), 2);
    assert_eq!(
        sa.proposals[0].to_string(),
        "AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE25519/ECP_256"
    );
    assert_eq!(
        sa.proposals[1].to_string(),
        "AES_CBC_128/HMAC_SHA2_256_128/HMAC_SHA1_96/PRF_HMAC_SHA2_256/PRF_HMAC_SHA1/MODP_2048"
    );
    assert!(sa
        .proposals
        .iter()
        .all(|p| p.protocol == ProtocolId::IKE && p.spi.is_empty()));
    let ke = m.payloads.iter().find_map(|p| match p {
        Payload::Ke(k) => Some(k),
        _ => None,
    });
    assert_eq!(
        ke.map(|k| (k.group, k.data.len())),
        Some((DhGroup::CURVE25519, 32))
    );
    assert_eq!(
        m.notify(NotifyType::NAT_DETECTION_SOURCE_IP)
            .map(|n| n.data.len()),
        Some(20)
    );
    assert!(m
        .notify(NotifyType::IKEV2_FRAGMENTATION_SUPPORTED)
        .is_some());
    let hashes = m
        .notify(NotifyType::SIGNATURE_HASH_ALGORITHMS)
        .and_then(NotifyPayload::data_u16s);
    assert!(hashes.is_some_and(|h| h.contains(&2)));
}

#[test]
fn invalid_ke_and_retry() {
    let m = msg(2);
    assert!(m.header.flags.response());
    assert_eq!(m.payloads.len(), 1);
    assert_eq!(
        m.notify(NotifyType::INVALID_KE_PAYLOAD)
            .and_then(NotifyPayload::invalid_ke_group),
        Some(DhGroup::MODP_2048)
    );
    let retry = msg(3);
    assert_eq!(retry.header.spi_i, msg(1).header.spi_i);
    let resp = msg(4);
    assert_ne!(resp.header.spi_r, 0);
    let chosen = &resp.sa().unwrap().proposals;
    assert_eq!(chosen.len(), 1);
    assert_eq!(
        chosen[0].to_string(),
        "AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048"
    );
    assert_eq!(chosen[0].encrs(), vec![(EncrId::ENCR_AES_CBC, Some(128))]);
    let nonce = resp.payloads.iter().find_map(|p| match p {
        Payload::Nonce(n) => Some(n.data.len()),
        _ => None,
    });
    assert_eq!(nonce, Some(32));
}

#[test]
fn ike_auth_fragments() {
    let (f1, f2) = (MESSAGES[4].1, MESSAGES[5].1);
    let v1 = parse_encrypted(f1).unwrap().unwrap();
    let v2 = parse_encrypted(f2).unwrap().unwrap();
    assert_eq!(
        v1.fragment,
        Some(Fragment {
            number: 1,
            total: 2
        })
    );
    assert_eq!(
        v2.fragment,
        Some(Fragment {
            number: 2,
            total: 2
        })
    );
    assert_eq!(v1.inner_first, PayloadType::IDI);
    assert_eq!(v2.inner_first, PayloadType::NONE);
    assert_eq!(v1.aad.len(), HEADER_LEN + SKF_HEADER_LEN);
    assert_eq!(v1.aad.len() + v1.body.len(), f1.len());
    // Re-framing the body with the prefix helper gives the same message.
    let again = emit_fragment(
        &v1.header,
        Fragment {
            number: 1,
            total: 2,
        },
        PayloadType::IDI,
        v1.body,
    )
    .unwrap();
    assert_eq!(again, f1);

    let p = plain(0);
    let id =
        |want: fn(&Payload) -> Option<&IdPayload>| p.iter().find_map(want).map(ToString::to_string);
    assert_eq!(
        id(|p| if let Payload::IdI(i) = p {
            Some(i)
        } else {
            None
        }),
        Some("FQDN:spoke1.example.net".into())
    );
    assert_eq!(
        id(|p| if let Payload::IdR(i) = p {
            Some(i)
        } else {
            None
        }),
        Some("FQDN:hub1.example.net".into())
    );
    assert!(find_notify(&p, NotifyType::INITIAL_CONTACT).is_some());
    let auth = p
        .iter()
        .find_map(|p| {
            if let Payload::Auth(a) = p {
                Some(a)
            } else {
                None
            }
        })
        .unwrap();
    assert_eq!((auth.method, auth.data.len()), (AuthMethod::PSK, 32));
    let sa = p
        .iter()
        .find_map(|p| {
            if let Payload::Sa(s) = p {
                Some(s)
            } else {
                None
            }
        })
        .unwrap();
    assert_eq!(sa.proposals[0].protocol, ProtocolId::ESP);
    assert!(sa.proposals[0].spi_u32().is_some());
    assert_eq!(
        sa.proposals[0].to_string(),
        "AES_CBC_128/HMAC_SHA2_256_128/NO_ESN"
    );
    assert_eq!(sa.proposals[1].to_string(), "AES_GCM_16_256/NO_ESN");
    // strongSwan's 0.0.0.0/0,::/0 are exactly our "any" selectors.
    for p in &p {
        if let Payload::TsI(ts) | Payload::TsR(ts) = p {
            assert_eq!(*ts, TsPayload::any());
        }
    }
}

#[test]
fn ike_auth_response_sk() {
    let bytes = MESSAGES[6].1;
    let v = parse_encrypted(bytes).unwrap().unwrap();
    assert_eq!(v.inner_first, PayloadType::IDR);
    assert_eq!(v.fragment, None);
    assert_eq!(v.aad, &bytes[..HEADER_LEN + SK_HEADER_LEN]);
    assert_eq!(
        encrypted_prefix(&v.header, PayloadType::IDR, v.body.len()).unwrap(),
        v.aad
    );
    let p = plain(1);
    let types: Vec<_> = p.iter().map(Payload::payload_type).collect();
    assert_eq!(
        types,
        [
            PayloadType::IDR,
            PayloadType::AUTH,
            PayloadType::SA,
            PayloadType::TSI,
            PayloadType::TSR
        ]
    );
}

#[test]
fn rekey_and_deletes() {
    let p = plain(2);
    let rekey = find_notify(&p, NotifyType::REKEY_SA).unwrap();
    assert_eq!(rekey.protocol, ProtocolId::ESP);
    assert!(rekey.spi_u32().is_some());
    assert_eq!(msg(10).header.exchange, ExchangeType::CREATE_CHILD_SA);
    let deletes = |k| -> Vec<DeletePayload> {
        plain(k)
            .into_iter()
            .filter_map(|p| {
                if let Payload::Delete(d) = p {
                    Some(d)
                } else {
                    None
                }
            })
            .collect()
    };
    let d = deletes(4);
    assert_eq!(
        (d.len(), d[0].protocol, d[0].spis_u32().len()),
        (1, ProtocolId::ESP, 1)
    );
    assert_eq!(deletes(6), vec![DeletePayload::ike()]);
    assert!(plain(7).is_empty());
}

#[test]
fn every_prefix_truncation_is_an_error() {
    for (name, bytes) in MESSAGES {
        for cut in 0..bytes.len() {
            assert!(
                Message::parse(&bytes[..cut]).is_err(),
                "{name} cut at {cut}"
            );
        }
    }
}
