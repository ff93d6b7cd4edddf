//! The BGP speaker of rvpnd (issue 5): sessions over tunnels and plain
//! links, the RIB and its policy, and `show ip bgp`.
//!
//! - [`config`]: `router bgp` resolved per neighbor (peer groups, tunnel
//!   binding, timers).
//! - [`policy`]: prefix-lists, route-maps, community and AS-path lists
//!   of the configuration compiled into the `bgp` crate's matchers.
//! - [`speaker`]: the task that feeds the sans-IO speaker core
//!   (`bgp::speaker`): sockets, listeners, TCP MD5.
//! - [`tcp`]: sockets with TCP MD5 (RFC 2385), TTL and binding.
//! - [`show`]: FRR-style show output and JSON.

pub mod config;
pub mod policy;
pub(crate) mod show;
pub mod speaker;
pub mod tcp;

pub use speaker::{start, Command, Inputs};
