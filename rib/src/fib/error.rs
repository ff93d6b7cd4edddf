//! Why the FIB writer could not read or clean the kernel's tables.

use std::fmt;
use std::io;

/// A failed FIB request (a refused route write is reported per prefix by
/// [`super::Fib::apply`] instead).
#[derive(Debug)]
pub enum FibError {
    /// A raw netlink request could not be made or answered.
    Io {
        /// What was asked (`"nexthop dump"`).
        what: &'static str,
        /// Why it failed.
        source: io::Error,
    },
    /// An rtnetlink request failed.
    Netlink {
        /// What was asked (`"route dump"`, `"interface Tunnel1"`).
        what: String,
        /// Why it failed.
        source: rtnetlink::Error,
    },
    /// No interface of that name.
    NoInterface(String),
    /// The kernel refused to create and delete a nexthop object.
    ProbeRefused(i32),
    /// The kernel did not answer the nexthop probe.
    ProbeUnanswered,
    /// Reconciliation could not remove some stale routes or objects.
    Removals {
        /// How many removals were refused.
        count: usize,
        /// The first: what and why.
        first: String,
    },
}

impl fmt::Display for FibError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FibError::Io { what, source } => write!(f, "{what}: {source}"),
            FibError::Netlink { what, source } => match source {
                rtnetlink::Error::NetlinkError(m) => write!(f, "{what}: {}", m.to_io()),
                other => write!(f, "{what}: {other}"),
            },
            FibError::NoInterface(name) => write!(f, "interface {name} does not exist"),
            FibError::ProbeRefused(errno) => write!(
                f,
                "nexthop probe refused: {}",
                io::Error::from_raw_os_error(*errno)
            ),
            FibError::ProbeUnanswered => f.write_str("nexthop probe: no answer"),
            FibError::Removals { count, first } => {
                write!(f, "reconcile: {count} removals refused, first: {first}")
            }
        }
    }
}

impl std::error::Error for FibError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FibError::Io { source, .. } => Some(source),
            FibError::Netlink { source, .. } => Some(source),
            _ => None,
        }
    }
}
