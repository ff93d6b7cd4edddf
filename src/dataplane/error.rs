//! Why the data plane could not do what it was asked.

use esp_io::link::LinkError;
use std::fmt;
use std::io;
use std::net::IpAddr;

/// Which SA of a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The SA that opens what the peer sends.
    Inbound,
    /// The SA that seals what we send.
    Outbound,
}

/// A failed data-plane operation. `Display` gives the reason IKE reports
/// (`show crypto session`: `PHASE2-FAILED (data plane: <reason>)`).
#[derive(Debug)]
pub enum DpError {
    /// The negotiated ESP transform is not one the userspace backend
    /// carries (its IKE description).
    Unsupported(String),
    /// The kernel backend has no XFRM algorithm for the transform.
    Alg(super::kernel::AlgError),
    /// The esp crate refused the SA.
    Esp(esp::EspError),
    /// No local address towards the peer (an IKE SA on a wildcard socket).
    NoSource { remote: IpAddr, source: io::Error },
    /// The outer addresses are of different families.
    MixedFamilies { local: IpAddr, remote: IpAddr },
    /// An interface could not be looked up, created or set.
    Link(LinkError),
    /// An interface of the tunnel's name exists and is not ours.
    Foreign {
        name: String,
        kind: Option<String>,
        alias: Option<String>,
    },
    /// `if_id` 0 cannot bind an xfrm interface.
    NoIfId,
    /// The kernel refused an XFRM state.
    State {
        dir: Direction,
        spi: u32,
        src: IpAddr,
        dst: IpAddr,
        source: super::kernel::NlError,
    },
    /// The kernel refused an XFRM policy.
    Policy {
        dir: u8,
        local: IpAddr,
        remote: IpAddr,
        if_id: u32,
        source: super::kernel::NlError,
    },
    /// A TUN device or socket.
    Io(io::Error),
    /// The tunnel's record went away while its SA pair was installed.
    Vanished,
}

impl fmt::Display for DpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DpError::Unsupported(why) => f.write_str(why),
            DpError::Alg(e) => write!(f, "{e}"),
            DpError::Esp(e) => write!(f, "{e}"),
            DpError::NoSource { remote, source } => {
                write!(f, "no local address towards {remote}: {source}")
            }
            DpError::MixedFamilies { local, remote } => {
                write!(f, "outer addresses {local} and {remote} mix families")
            }
            DpError::Link(e) => write!(f, "{e}"),
            DpError::Foreign { name, kind, alias } => write!(
                f,
                "interface {name} exists and is not an xfrm interface of rvpn's \
                 (kind {}, alias {}); leaving it alone",
                kind.as_deref().unwrap_or("none"),
                alias.as_deref().unwrap_or("none")
            ),
            DpError::NoIfId => f.write_str("if_id 0 cannot bind an xfrm interface"),
            DpError::State {
                dir,
                spi,
                src,
                dst,
                source,
            } => {
                let d = match dir {
                    Direction::Inbound => "inbound",
                    Direction::Outbound => "outbound",
                };
                write!(f, "{d} SA {spi:08x} {src} -> {dst}: {source}")
            }
            DpError::Policy {
                dir,
                local,
                remote,
                if_id,
                source,
            } => write!(
                f,
                "policy dir {dir} {local} <-> {remote} if_id {if_id}: {source}"
            ),
            DpError::Io(e) => write!(f, "{e}"),
            DpError::Vanished => f.write_str("tunnel record vanished"),
        }
    }
}

impl std::error::Error for DpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DpError::Alg(e) => Some(e),
            DpError::Esp(e) => Some(e),
            DpError::NoSource { source, .. } | DpError::Io(source) => Some(source),
            DpError::Link(e) => Some(e),
            _ => None,
        }
    }
}

impl From<LinkError> for DpError {
    fn from(e: LinkError) -> Self {
        DpError::Link(e)
    }
}

impl From<io::Error> for DpError {
    fn from(e: io::Error) -> Self {
        DpError::Io(e)
    }
}

impl From<esp::EspError> for DpError {
    fn from(e: esp::EspError) -> Self {
        DpError::Esp(e)
    }
}
