//! BFD, Bidirectional Forwarding Detection, for rvpn: RFC 5880 in
//! asynchronous mode, for single-hop sessions over IPv4 and IPv6 (RFC
//! 5881: UDP destination port [`CONTROL_PORT`], source port in
//! 49152-65535, TTL/hop limit 255 sent and required on receipt).
//!
//! - [`packet`]: the Control packet as a parse/emit pair that never
//!   panics; parsing applies the reception checks on the packet alone.
//! - [`session`]: one session's state machine, sans-IO: time is passed in,
//!   packets and events are polled out, jitter comes from a seeded
//!   generator.
//! - [`admit`]: which unknown sources get a passive session (known BGP
//!   neighbors only, within a cap per listen range and a global one), and
//!   the rate limit of the log lines about the others.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use bfd::{ControlPacket, Event, Session, SessionConfig, State};
//!
//! let t0 = Instant::now();
//! let mut a = Session::new(SessionConfig { local_discr: 1, ..Default::default() }, t0)?;
//! let mut b = Session::new(SessionConfig { local_discr: 2, ..Default::default() }, t0)?;
//! // Shuttle packets (through the wire format) until both are Up.
//! for _ in 0..4 {
//!     while let Some(p) = a.poll_transmit(t0) {
//!         b.receive(t0, &ControlPacket::parse(&p.to_vec())?).ok();
//!     }
//!     while let Some(p) = b.poll_transmit(t0) {
//!         a.receive(t0, &ControlPacket::parse(&p.to_vec())?).ok();
//!     }
//! }
//! assert_eq!((a.state(), b.state()), (State::Up, State::Up));
//! assert_eq!(a.poll_event(), Some(Event::Up));
//! // Detection time: 3 x max(300 ms, the peer's Desired Min TX).
//! assert_eq!(a.detection_time(), Some(Duration::from_millis(900)));
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

pub mod admit;
pub mod packet;
pub mod session;

pub use admit::{Admission, LogLimit, Refusal, Refusals};
pub use packet::{Auth, ControlPacket, Diag, PacketError, State};
pub use session::{ConfigError, Discard, Event, Session, SessionConfig, SLOW_TX};

/// The UDP destination port of single-hop Control packets (RFC 5881).
pub const CONTROL_PORT: u16 = 3784;
/// The UDP destination port of Echo packets (RFC 5881), unused here.
pub const ECHO_PORT: u16 = 3785;
