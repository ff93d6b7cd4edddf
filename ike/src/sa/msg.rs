//! The message model the state machines work with: an IKE header and
//! payloads, independent of byte layout (see [`super::codec`]).

use super::proposal::Proposal;
use std::net::IpAddr;

/// Exchange types.
pub const IKE_SA_INIT: u8 = 34;
pub const IKE_AUTH: u8 = 35;
pub const CREATE_CHILD_SA: u8 = 36;
pub const INFORMATIONAL: u8 = 37;

/// Notify types used here (RFC 7296 3.10.1).
pub mod notify {
    pub const UNSUPPORTED_CRITICAL_PAYLOAD: u16 = 1;
    pub const INVALID_IKE_SPI: u16 = 4;
    pub const INVALID_MAJOR_VERSION: u16 = 5;
    pub const INVALID_SYNTAX: u16 = 7;
    pub const INVALID_MESSAGE_ID: u16 = 9;
    pub const INVALID_SPI: u16 = 11;
    pub const NO_PROPOSAL_CHOSEN: u16 = 14;
    pub const INVALID_KE_PAYLOAD: u16 = 17;
    pub const AUTHENTICATION_FAILED: u16 = 24;
    pub const SINGLE_PAIR_REQUIRED: u16 = 34;
    pub const NO_ADDITIONAL_SAS: u16 = 35;
    pub const INTERNAL_ADDRESS_FAILURE: u16 = 36;
    pub const FAILED_CP_REQUIRED: u16 = 37;
    pub const TS_UNACCEPTABLE: u16 = 38;
    pub const INVALID_SELECTORS: u16 = 39;
    pub const TEMPORARY_FAILURE: u16 = 43;
    pub const CHILD_SA_NOT_FOUND: u16 = 44;
    pub const INITIAL_CONTACT: u16 = 16384;
    pub const NAT_DETECTION_SOURCE_IP: u16 = 16388;
    pub const NAT_DETECTION_DESTINATION_IP: u16 = 16389;
    pub const COOKIE: u16 = 16390;
    pub const USE_TRANSPORT_MODE: u16 = 16391;
    pub const REKEY_SA: u16 = 16393;

    /// A name for logs and show output.
    pub fn name(t: u16) -> String {
        match t {
            1 => "UNSUPPORTED_CRITICAL_PAYLOAD".into(),
            4 => "INVALID_IKE_SPI".into(),
            5 => "INVALID_MAJOR_VERSION".into(),
            7 => "INVALID_SYNTAX".into(),
            9 => "INVALID_MESSAGE_ID".into(),
            11 => "INVALID_SPI".into(),
            14 => "NO_PROPOSAL_CHOSEN".into(),
            17 => "INVALID_KE_PAYLOAD".into(),
            24 => "AUTHENTICATION_FAILED".into(),
            34 => "SINGLE_PAIR_REQUIRED".into(),
            35 => "NO_ADDITIONAL_SAS".into(),
            36 => "INTERNAL_ADDRESS_FAILURE".into(),
            37 => "FAILED_CP_REQUIRED".into(),
            38 => "TS_UNACCEPTABLE".into(),
            39 => "INVALID_SELECTORS".into(),
            43 => "TEMPORARY_FAILURE".into(),
            44 => "CHILD_SA_NOT_FOUND".into(),
            _ => format!("NOTIFY_{t}"),
        }
    }
}

/// A traffic selector: any-protocol address range with all ports unless
/// the peer narrowed further.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selector {
    pub protocol: u8,
    pub start_port: u16,
    pub end_port: u16,
    pub start: IpAddr,
    pub end: IpAddr,
}

impl Selector {
    /// 0.0.0.0/0 and ::/0 (route-based: the routing table decides).
    pub fn any() -> Vec<Selector> {
        vec![
            Selector {
                protocol: 0,
                start_port: 0,
                end_port: 65535,
                start: IpAddr::from([0u8; 4]),
                end: IpAddr::from([255u8; 4]),
            },
            Selector {
                protocol: 0,
                start_port: 0,
                end_port: 65535,
                start: IpAddr::from([0u8; 16]),
                end: IpAddr::from([255u8; 16]),
            },
        ]
    }

    /// Whether traffic of any protocol and port fits (needed for a routed
    /// interface).
    pub fn all_traffic(&self) -> bool {
        self.protocol == 0 && self.start_port == 0 && self.end_port == 65535
    }
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.start, self.end)?;
        if !self.all_traffic() {
            write!(
                f,
                " proto {} ports {}-{}",
                self.protocol, self.start_port, self.end_port
            )?;
        }
        Ok(())
    }
}

/// A payload, as the state machines see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pl {
    Sa(Vec<Proposal>),
    Ke {
        group: u16,
        data: Vec<u8>,
    },
    Nonce(Vec<u8>),
    IdI {
        id_type: u8,
        data: Vec<u8>,
    },
    IdR {
        id_type: u8,
        data: Vec<u8>,
    },
    Auth {
        method: u8,
        data: Vec<u8>,
    },
    Notify {
        protocol: u8,
        spi: Vec<u8>,
        ty: u16,
        data: Vec<u8>,
    },
    Delete {
        protocol: u8,
        spis: Vec<Vec<u8>>,
    },
    TsI(Vec<Selector>),
    TsR(Vec<Selector>),
    /// Anything else that was skipped (vendor IDs, CERTREQ, CP, ...).
    Other(u8),
}

/// A whole message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    pub spi_i: u64,
    pub spi_r: u64,
    pub exchange: u8,
    /// Sent by the original initiator of the IKE SA.
    pub initiator: bool,
    pub response: bool,
    pub id: u32,
    pub payloads: Vec<Pl>,
}

impl Msg {
    pub fn notify(&self, ty: u16) -> Option<&[u8]> {
        self.payloads.iter().find_map(|p| match p {
            Pl::Notify { ty: t, data, .. } if *t == ty => Some(data.as_slice()),
            _ => None,
        })
    }
    pub fn notify_spi(&self, ty: u16) -> Option<&[u8]> {
        self.payloads.iter().find_map(|p| match p {
            Pl::Notify { ty: t, spi, .. } if *t == ty => Some(spi.as_slice()),
            _ => None,
        })
    }
    /// The first error notify (type below 16384), if any.
    pub fn error(&self) -> Option<(u16, &[u8])> {
        self.payloads.iter().find_map(|p| match p {
            Pl::Notify { ty, data, .. } if *ty < 16384 => Some((*ty, data.as_slice())),
            _ => None,
        })
    }
    pub fn sa(&self) -> Option<&[Proposal]> {
        self.payloads.iter().find_map(|p| {
            if let Pl::Sa(v) = p {
                Some(v.as_slice())
            } else {
                None
            }
        })
    }
    pub fn ke(&self) -> Option<(u16, &[u8])> {
        self.payloads.iter().find_map(|p| {
            if let Pl::Ke { group, data } = p {
                Some((*group, data.as_slice()))
            } else {
                None
            }
        })
    }
    pub fn nonce(&self) -> Option<&[u8]> {
        self.payloads.iter().find_map(|p| {
            if let Pl::Nonce(n) = p {
                Some(n.as_slice())
            } else {
                None
            }
        })
    }
    /// IDi (`initiator`) or IDr: (ID type, data).
    pub fn id(&self, initiator: bool) -> Option<(u8, Vec<u8>)> {
        self.payloads.iter().find_map(|p| match p {
            Pl::IdI { id_type, data } if initiator => Some((*id_type, data.clone())),
            Pl::IdR { id_type, data } if !initiator => Some((*id_type, data.clone())),
            _ => None,
        })
    }
    /// AUTH: (method, data).
    pub fn auth(&self) -> Option<(u8, Vec<u8>)> {
        self.payloads.iter().find_map(|p| {
            if let Pl::Auth { method, data } = p {
                Some((*method, data.clone()))
            } else {
                None
            }
        })
    }
    pub fn ts(&self) -> Option<(&[Selector], &[Selector])> {
        let i = self.payloads.iter().find_map(|p| {
            if let Pl::TsI(v) = p {
                Some(v.as_slice())
            } else {
                None
            }
        })?;
        let r = self.payloads.iter().find_map(|p| {
            if let Pl::TsR(v) = p {
                Some(v.as_slice())
            } else {
                None
            }
        })?;
        Some((i, r))
    }
}
