//! Why the speaker refused a connection or a `clear ip bgp`.

use std::fmt;
use std::net::IpAddr;

/// Why an incoming connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptError {
    /// BGP is not configured.
    NotConfigured,
    /// The address is no neighbor and in no listen range.
    NotNeighbor,
    /// A listen range takes it but `bgp listen limit` is reached.
    ListenLimit(u32),
    /// The neighbor is shut down or its tunnel has no SA.
    NeighborDown,
    /// A session with the neighbor is established (RFC 4271 6.8).
    Established,
}

impl fmt::Display for AcceptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcceptError::NotConfigured => f.write_str("BGP is not configured"),
            AcceptError::NotNeighbor => f.write_str("not a neighbor"),
            AcceptError::ListenLimit(n) => write!(f, "bgp listen limit {n} reached"),
            AcceptError::NeighborDown => f.write_str("neighbor is down"),
            AcceptError::Established => f.write_str("a session is established"),
        }
    }
}

impl std::error::Error for AcceptError {}

/// Why `clear ip bgp` did nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClearError {
    /// BGP is not configured.
    NotConfigured,
    /// No such neighbor.
    UnknownNeighbor(IpAddr),
}

impl fmt::Display for ClearError {
    /// The text vtysh shows (FRR's).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClearError::NotConfigured => f.write_str("% BGP is not configured"),
            ClearError::UnknownNeighbor(a) => write!(f, "% BGP: Unknown neighbor - \"{a}\""),
        }
    }
}

impl std::error::Error for ClearError {}
