//! The message model the state machines work with: an IKE header and
//! payloads, independent of byte layout (see [`super::codec`]).

use super::proposal::Proposal;
use std::net::IpAddr;

/// Exchange types.
pub const IKE_SA_INIT: u8 = 34;
/// Exchange type IKE_AUTH.
pub const IKE_AUTH: u8 = 35;
/// Exchange type CREATE_CHILD_SA.
pub const CREATE_CHILD_SA: u8 = 36;
/// Exchange type INFORMATIONAL.
pub const INFORMATIONAL: u8 = 37;

/// Notify types used here (RFC 7296 3.10.1).
pub mod notify {
    /// Error: a payload with the critical bit that the receiver does not know.
    pub const UNSUPPORTED_CRITICAL_PAYLOAD: u16 = 1;
    /// Error: a message for an IKE SA that the receiver does not have.
    pub const INVALID_IKE_SPI: u16 = 4;
    /// Error: an IKE major version that the receiver cannot handle.
    pub const INVALID_MAJOR_VERSION: u16 = 5;
    /// Error: a malformed or unacceptable message.
    pub const INVALID_SYNTAX: u16 = 7;
    /// Error: a Message ID outside the window.
    pub const INVALID_MESSAGE_ID: u16 = 9;
    /// Error: an ESP or AH packet for an SA that the receiver does not have.
    pub const INVALID_SPI: u16 = 11;
    /// Error: none of the proposals offered is acceptable.
    pub const NO_PROPOSAL_CHOSEN: u16 = 14;
    /// Error: the KE payload is not of the selected group; data: the group wanted.
    pub const INVALID_KE_PAYLOAD: u16 = 17;
    /// Error: the peer could not be authenticated.
    pub const AUTHENTICATION_FAILED: u16 = 24;
    /// Error: only a single pair of traffic selectors is acceptable.
    pub const SINGLE_PAIR_REQUIRED: u16 = 34;
    /// Error: the responder accepts no more Child SAs on this IKE SA.
    pub const NO_ADDITIONAL_SAS: u16 = 35;
    /// Error: no internal address could be assigned.
    pub const INTERNAL_ADDRESS_FAILURE: u16 = 36;
    /// Error: a configuration payload was required but not sent.
    pub const FAILED_CP_REQUIRED: u16 = 37;
    /// Error: none of the traffic selectors is acceptable.
    pub const TS_UNACCEPTABLE: u16 = 38;
    /// Error: an ESP or AH packet outside the SA's traffic selectors.
    pub const INVALID_SELECTORS: u16 = 39;
    /// Error: the request cannot be served now (say, a rekey collision); retry later.
    pub const TEMPORARY_FAILURE: u16 = 43;
    /// Error: the Child SA to rekey does not exist.
    pub const CHILD_SA_NOT_FOUND: u16 = 44;
    /// Status: the sender has no other IKE SA with the receiver, which may drop old ones.
    pub const INITIAL_CONTACT: u16 = 16384;
    /// Status: a hash of the SPIs and the sender's address and port (NAT detection).
    pub const NAT_DETECTION_SOURCE_IP: u16 = 16388;
    /// Status: a hash of the SPIs and the receiver's address and port (NAT detection).
    pub const NAT_DETECTION_DESTINATION_IP: u16 = 16389;
    /// Status: the responder's stateless cookie, to send back in a retried IKE_SA_INIT.
    pub const COOKIE: u16 = 16390;
    /// Status: the sender asks for transport mode.
    pub const USE_TRANSPORT_MODE: u16 = 16391;
    /// Status: this CREATE_CHILD_SA rekeys the Child SA whose SPI it carries.
    pub const REKEY_SA: u16 = 16393;
    /// Error: NO_NATS_ALLOWED was sent and a NAT changed the addresses (RFC 4555 3.9).
    pub const UNEXPECTED_NAT_DETECTED: u16 = 41;
    /// Status: the sender supports MOBIKE (RFC 4555).
    pub const MOBIKE_SUPPORTED: u16 = 16396;
    /// Status: move the IKE SA and its Child SAs to this message's addresses (RFC 4555 3.5).
    pub const UPDATE_SA_ADDRESSES: u16 = 16400;
    /// Status: a value the responder echoes, for return routability (RFC 4555 3.8).
    pub const COOKIE2: u16 = 16401;
    /// Status: the addresses and ports the sender used; no NAT may change them (RFC 4555 3.9).
    pub const NO_NATS_ALLOWED: u16 = 16402;
    /// Status: the hash algorithms the sender verifies signatures with
    /// (RFC 7427 4): 16-bit numbers.
    pub const SIGNATURE_HASH_ALGORITHMS: u16 = 16431;
    /// Status: the sender supports IKE fragmentation (RFC 7383).
    pub const IKEV2_FRAGMENTATION_SUPPORTED: u16 = 16430;

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
            41 => "UNEXPECTED_NAT_DETECTED".into(),
            _ => format!("NOTIFY_{t}"),
        }
    }
}

/// A traffic selector: any-protocol address range with all ports unless
/// the peer narrowed further.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selector {
    /// IP protocol number; 0: any.
    pub protocol: u8,
    /// First port of the range.
    pub start_port: u16,
    /// Last port of the range.
    pub end_port: u16,
    /// First address of the range.
    pub start: IpAddr,
    /// Last address of the range.
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
    /// Security Association: the proposals.
    Sa(Vec<Proposal>),
    /// Key Exchange.
    Ke {
        /// The Diffie-Hellman group.
        group: u16,
        /// The public value.
        data: Vec<u8>,
    },
    /// Nonce: its data.
    Nonce(Vec<u8>),
    /// Identification - Initiator.
    IdI {
        /// The ID type.
        id_type: u8,
        /// The identification data.
        data: Vec<u8>,
    },
    /// Identification - Responder.
    IdR {
        /// The ID type.
        id_type: u8,
        /// The identification data.
        data: Vec<u8>,
    },
    /// Authentication.
    Auth {
        /// The authentication method.
        method: u8,
        /// The authentication data.
        data: Vec<u8>,
    },
    /// Notify.
    Notify {
        /// The protocol ID of the SA concerned (0: none).
        protocol: u8,
        /// The SPI of the SA concerned (may be empty).
        spi: Vec<u8>,
        /// The notify message type.
        ty: u16,
        /// The notification data.
        data: Vec<u8>,
    },
    /// Delete.
    Delete {
        /// The protocol ID (IKE, AH or ESP).
        protocol: u8,
        /// The SPIs of the SAs to delete (none for the IKE SA).
        spis: Vec<Vec<u8>>,
    },
    /// Traffic Selector - Initiator.
    TsI(Vec<Selector>),
    /// Traffic Selector - Responder.
    TsR(Vec<Selector>),
    /// Certificate.
    Cert {
        /// Certificate Encoding (4: X.509 Certificate - Signature).
        encoding: u8,
        /// The certificate (DER for encoding 4).
        data: Vec<u8>,
    },
    /// Certificate Request.
    CertReq {
        /// Certificate Encoding (4: X.509 Certificate - Signature).
        encoding: u8,
        /// Concatenated SHA-1 hashes of trusted CAs' public keys.
        data: Vec<u8>,
    },
    /// Configuration (RFC 7296 3.15): address requests and replies.
    Cp(crate::wire::CpPayload),
    /// Anything else that was skipped (vendor IDs, ...).
    Other(u8),
}

/// A whole message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    /// The initiator's SPI.
    pub spi_i: u64,
    /// The responder's SPI.
    pub spi_r: u64,
    /// The exchange type.
    pub exchange: u8,
    /// Sent by the original initiator of the IKE SA.
    pub initiator: bool,
    /// Whether this is a response.
    pub response: bool,
    /// The Message ID.
    pub id: u32,
    /// The payloads, in order.
    pub payloads: Vec<Pl>,
}

impl Msg {
    /// The data of the first notify of type `ty`, if any.
    pub fn notify(&self, ty: u16) -> Option<&[u8]> {
        self.payloads.iter().find_map(|p| match p {
            Pl::Notify { ty: t, data, .. } if *t == ty => Some(data.as_slice()),
            _ => None,
        })
    }
    /// The SPI of the first notify of type `ty`, if any.
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
    /// The proposals of the SA payload, if any.
    pub fn sa(&self) -> Option<&[Proposal]> {
        self.payloads.iter().find_map(|p| {
            if let Pl::Sa(v) = p {
                Some(v.as_slice())
            } else {
                None
            }
        })
    }
    /// The KE payload: (group, public value).
    pub fn ke(&self) -> Option<(u16, &[u8])> {
        self.payloads.iter().find_map(|p| {
            if let Pl::Ke { group, data } = p {
                Some((*group, data.as_slice()))
            } else {
                None
            }
        })
    }
    /// The nonce's data.
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
    /// The X.509 certificates (encoding 4) of the CERT payloads, in order:
    /// the end entity first, then intermediates.
    pub fn x509_certs(&self) -> Vec<Vec<u8>> {
        self.payloads
            .iter()
            .filter_map(|p| match p {
                Pl::Cert { encoding: 4, data } => Some(data.clone()),
                _ => None,
            })
            .collect()
    }
    /// The CERTREQ payloads for X.509 (encoding 4), their data
    /// concatenated; None when there is none.
    pub fn x509_certreq(&self) -> Option<Vec<u8>> {
        let mut out: Option<Vec<u8>> = None;
        for p in &self.payloads {
            if let Pl::CertReq { encoding: 4, data } = p {
                out.get_or_insert_with(Vec::new).extend_from_slice(data);
            }
        }
        out
    }
    /// SIGNATURE_HASH_ALGORITHMS (RFC 7427): None when absent.
    pub fn signature_hashes(&self) -> Option<Vec<u16>> {
        self.notify(notify::SIGNATURE_HASH_ALGORITHMS).map(|d| {
            d.chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect()
        })
    }
    /// The TSi and TSr selectors, if both are present.
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
