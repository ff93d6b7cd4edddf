//! BGP messages: arbitrary octets parsed as a whole message of any type,
//! as an UPDATE body, and behind a valid header of each type, with 2- and
//! 4-octet AS numbers and ADD-PATH off and on, never panic. What parses
//! emits, and parses again to the same content and the same octets.
#![no_main]

use bgp::wire::{
    frame, parse_update, AsPath, Capability, CapabilityCode, Ctx, Family, Message, MpReach,
    MpUnreach, Notification, Open, RouteRefresh,
};
use libfuzzer_sys::fuzz_target;

fn contexts() -> [Ctx; 4] {
    let ap = |c: Ctx| {
        c.with_add_path(Family::IPV4_UNICAST, true)
            .with_add_path(Family::IPV6_UNICAST, true)
            .with_add_path(Family::IPV4_MULTICAST, true)
            .with_add_path(Family::IPV6_MULTICAST, true)
    };
    [
        Ctx::new(false),
        Ctx::new(true),
        ap(Ctx::new(false)),
        ap(Ctx::new(true)),
    ]
}

/// An UPDATE's content, without the parse diagnostics (treat-as-withdraw,
/// issues), which re-emission legitimately changes.
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

fn round_trip(m: Message, c: &Ctx) {
    let mut out = Vec::new();
    m.emit(c, &mut out).expect("a parsed message emits");
    assert_eq!(frame(&out).ok(), Some(Some(out.len())));
    let again = Message::parse(&out, c).expect("an emitted message parses");
    let mut out2 = Vec::new();
    again.emit(c, &mut out2).expect("it emits again");
    assert_eq!(out, out2);
    assert_eq!(content(again), content(m));
}

fuzz_target!(|data: &[u8]| {
    let _ = frame(data);
    let _ = Open::parse(data);
    let _ = Notification::parse(data);
    let _ = RouteRefresh::parse(data);
    if let Some((&code, rest)) = data.split_first() {
        let _ = Capability::parse(CapabilityCode(code), rest);
    }
    for c in contexts() {
        if let Ok(m) = Message::parse(data, &c) {
            round_trip(m, &c);
        }
        if let Ok(u) = parse_update(data, &c) {
            round_trip(Message::Update(Box::new(u)), &c);
        }
        let _ = MpReach::parse(data, &c);
        let _ = MpUnreach::parse(data, &c);
        let _ = AsPath::parse(data, c.four_octet_as);
    }
    // The first octet picks a message type; the rest is its body behind a
    // valid header, so every body parser is reached without the fuzzer
    // having to find the marker first.
    if let Some((&t, body)) = data.split_first() {
        if body.len() <= 4096 - 19 {
            let mut msg = vec![0xff; 16];
            msg.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
            msg.push(1 + t % 5);
            msg.extend_from_slice(body);
            let c = contexts()[usize::from(t >> 6)];
            if let Ok(m) = Message::parse(&msg, &c) {
                round_trip(m, &c);
            }
        }
    }
});
