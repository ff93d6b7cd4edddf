//! BGP-4 (RFC 4271) for rvpn.
//!
//! - [`wire`]: every message as a parse/emit pair over byte slices, with
//!   the RFC 7606 revised error handling of UPDATE messages, and an UPDATE
//!   builder that packs many prefixes into few messages.
//! - [`policy`]: prefix-lists, community and AS-path lists and route-maps
//!   as matchers run over received and advertised routes.
//! - [`session`]: the per-peer finite state machine (RFC 4271 section 8),
//!   sans-IO with time passed in: OPEN negotiation and checks, hold and
//!   keepalive timers, idle-hold backoff, collision resolution.
//! - [`speaker`]: the speaker core, sans-IO: every session, import with
//!   policy, the Loc-RIB and decision, export, Adj-RIBs-Out and UPDATE
//!   packing, collisions and the graceful-restart helper.
//!
//! ```
//! use std::net::Ipv4Addr;
//! use bgp::wire::*;
//!
//! // What the OPEN exchange decided: 4-octet AS numbers, no ADD-PATH.
//! let ctx = Ctx::new(true);
//! let attrs = PathAttrs {
//!     origin: Some(Origin::Igp),
//!     as_path: Some(AsPath::sequence([65001])),
//!     next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
//!     ..PathAttrs::default()
//! };
//! let prefixes: Vec<Nlri4> = (0..2000u32)
//!     .map(|i| Nlri::new(ipnetwork::Ipv4Network::new((0x0a00_0000 + (i << 8)).into(), 24).unwrap()))
//!     .collect();
//! let mut wire = Vec::new();
//! let messages = UpdateBuilder::ipv4_unicast(&attrs, &ctx)?.announce(&prefixes, &mut wire)?;
//! assert_eq!(messages, 2);
//!
//! // The receiving side: split the stream, parse each message.
//! let mut rest = &wire[..];
//! let mut received = 0;
//! while let Some(len) = frame(rest)? {
//!     let (msg, tail) = rest.split_at(len);
//!     match Message::parse(msg, &ctx)? {
//!         Message::Update(u) if !u.treat_as_withdraw => received += u.nlri.len(),
//!         other => panic!("unexpected {other:?}"),
//!     }
//!     rest = tail;
//! }
//! assert_eq!(received, 2000);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// Not in [workspace.lints] (root Cargo.toml): these apply to this library
// only, and only outside its unit tests; a Cargo lints table applies to
// every target of every member and cannot depend on cfg(test).
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

pub mod policy;
pub mod rib;
pub mod session;
pub mod speaker;
pub mod wire;
