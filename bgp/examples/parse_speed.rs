//! How fast UPDATEs parse: packs 1,000,000 IPv4 /24s sharing one
//! attribute set into ~4 KB UPDATEs with [`UpdateBuilder`], then frames and
//! parses them all, with and without ADD-PATH.
//!
//! `cargo run --release --example parse_speed`

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::Instant;

use bgp::wire::*;
use ipnetwork::Ipv4Network;

const PREFIXES: u32 = 1_000_000;

fn main() {
    for add_path in [false, true] {
        let (ms_build, ms_parse, msgs, bytes) = run(add_path);
        println!(
            "ADD-PATH {}: {PREFIXES} prefixes in {msgs} UPDATEs ({:.1} MB): \
             build {ms_build:.1} ms, parse {ms_parse:.1} ms ({:.1} M prefixes/s)",
            if add_path { "on " } else { "off" },
            bytes as f64 / 1e6,
            f64::from(PREFIXES) / ms_parse / 1e3,
        );
    }
}

/// Builds and parses; returns (build ms, parse ms, messages, octets).
pub fn run(add_path: bool) -> (f64, f64, usize, usize) {
    let ctx = Ctx::new(true).with_add_path(Family::IPV4_UNICAST, add_path);
    let attrs = PathAttrs {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::sequence([65001, 65002, 4_200_000_000])),
        next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
        med: Some(10),
        local_pref: Some(100),
        communities: vec![Community::new(65001, 1), Community::NO_EXPORT],
        ..PathAttrs::default()
    };
    let prefixes: Vec<Nlri4> = (0..PREFIXES)
        .map(|i| Nlri {
            path_id: add_path.then_some(i % 4),
            prefix: Ipv4Network::new(Ipv4Addr::from(0x0100_0000 + (i << 8)), 24).unwrap(),
        })
        .collect();

    let t = Instant::now();
    let mut wire = Vec::with_capacity(PREFIXES as usize * 9);
    let msgs = UpdateBuilder::ipv4_unicast(&attrs, &ctx)
        .unwrap()
        .announce(&prefixes, &mut wire)
        .unwrap();
    let build = t.elapsed().as_secs_f64() * 1e3;

    let t = Instant::now();
    let mut rest = &wire[..];
    let mut n = 0usize;
    while let Some(len) = frame(rest).unwrap() {
        let (msg, tail) = rest.split_at(len);
        match Message::parse(msg, &ctx).unwrap() {
            Message::Update(u) => n += black_box(u).nlri.len(),
            other => panic!("{other:?}"),
        }
        rest = tail;
    }
    let parse = t.elapsed().as_secs_f64() * 1e3;
    assert_eq!(n, PREFIXES as usize);
    (build, parse, msgs, wire.len())
}
