//! Between bytes and the state machines' [`Msg`]: parsing and emitting
//! with the wire module, and protecting the SK payload with the crypto
//! module.

use super::msg::{Msg, Pl, Selector};
use super::proposal::{Proposal, Transform};
use crate::crypto::rand::Random;
use crate::crypto::sk::SkCipher;
use crate::wire::{
    self, encrypted_prefix, parse_decrypted, parse_encrypted, Attribute, AuthMethod, AuthPayload,
    CertEncoding, CertPayload, DeletePayload, DhGroup, ExchangeType, Flags, IdPayload, IdType,
    KePayload, Message, NoncePayload, NotifyPayload, NotifyType, Payload, ProtocolId,
    TrafficSelector, TransformType, TsPayload, TsRange, WireError,
};
use std::fmt;

/// The header fields the engine dispatches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The IKE SA initiator's SPI.
    pub spi_i: u64,
    /// The IKE SA responder's SPI (zero in a first IKE_SA_INIT request).
    pub spi_r: u64,
    /// The Exchange Type.
    pub exchange: u8,
    /// The Initiator flag: the sender is the IKE SA's original initiator.
    pub initiator: bool,
    /// The Response flag.
    pub response: bool,
    /// The Message ID.
    pub id: u32,
    /// The Length field: the whole message, header included, as the sender
    /// claims it (checked against the datagram by [`decode`]).
    pub length: u32,
}

/// Why a message could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodecError {
    /// The wire format is malformed (the parser's message).
    Wire(String),
    /// An unknown payload with the critical bit (its type).
    UnsupportedCritical(u8),
    /// The SK payload did not verify or decrypt.
    Integrity,
    /// Encrypted, but no keys; or fragmented (not supported).
    NotSupported(&'static str),
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodecError::Wire(e) => write!(f, "malformed: {e}"),
            CodecError::UnsupportedCritical(t) => write!(f, "unsupported critical payload {t}"),
            CodecError::Integrity => write!(f, "integrity check of the encrypted payload failed"),
            CodecError::NotSupported(w) => write!(f, "{w}"),
        }
    }
}

impl From<WireError> for CodecError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::UnsupportedCritical(t) => CodecError::UnsupportedCritical(t.0),
            other => CodecError::Wire(other.to_string()),
        }
    }
}

/// Read just the header.
pub fn peek(data: &[u8]) -> Result<Header, CodecError> {
    let h = wire::Header::parse(data)?;
    Ok(Header {
        spi_i: h.spi_i,
        spi_r: h.spi_r,
        exchange: h.exchange.0,
        initiator: h.flags.initiator(),
        response: h.flags.response(),
        id: h.message_id,
        length: h.length,
    })
}

/// What the COOKIE check needs of a first IKE_SA_INIT request, found by
/// walking the generic payload headers without parsing (or allocating)
/// anything: a flood of requests without a valid COOKIE costs this walk
/// and one HMAC each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitScan<'a> {
    /// The Nonce payload's data.
    pub nonce: &'a [u8],
    /// The COOKIE notify's data, if there is one.
    pub cookie: Option<&'a [u8]>,
}

/// The nonce and COOKIE of an unencrypted message (see [`InitScan`]);
/// None when the payload chain is malformed or has no nonce.
pub fn scan_init(data: &[u8]) -> Option<InitScan<'_>> {
    const HDR: usize = wire::HEADER_LEN;
    let mut next = *data.get(16)?;
    let mut off = HDR;
    let mut nonce = None;
    let mut cookie = None;
    while next != 0 {
        let g = data.get(off..off + 4)?;
        let len = usize::from(u16::from_be_bytes([g[2], g[3]]));
        let body = data.get(off + 4..off.checked_add(len)?)?;
        if len < 4 {
            return None;
        }
        match wire::PayloadType(next) {
            wire::PayloadType::NONCE => nonce = Some(body),
            wire::PayloadType::NOTIFY if body.len() >= 4 => {
                let ty = u16::from_be_bytes([body[2], body[3]]);
                let spi = usize::from(body[1]);
                if ty == super::msg::notify::COOKIE {
                    cookie = Some(body.get(4 + spi..)?);
                }
            }
            _ => {}
        }
        next = g[0];
        off += len;
    }
    Some(InitScan {
        nonce: nonce?,
        cookie,
    })
}

/// Parse a message; an encrypted one is opened with `cipher`.
pub fn decode(data: &[u8], cipher: Option<&SkCipher>) -> Result<Msg, CodecError> {
    let hdr = peek(data)?;
    let payloads = match parse_encrypted(data)? {
        None => Message::parse(data)?.payloads,
        Some(view) => {
            if view.fragment.is_some() {
                // Fragments are verified and reassembled per SA (frag.rs).
                return Err(CodecError::NotSupported(
                    "IKE fragment (RFC 7383) outside a negotiated reassembly",
                ));
            }
            let c = cipher.ok_or(CodecError::NotSupported(
                "encrypted message before keys exist",
            ))?;
            let plain = c
                .open(view.aad, view.body)
                .map_err(|_| CodecError::Integrity)?;
            let mut all = view.before;
            all.extend(parse_decrypted(view.inner_first, &plain)?);
            all
        }
    };
    Ok(msg_of(hdr, payloads))
}

fn msg_of(hdr: Header, payloads: Vec<Payload>) -> Msg {
    Msg {
        spi_i: hdr.spi_i,
        spi_r: hdr.spi_r,
        exchange: hdr.exchange,
        initiator: hdr.initiator,
        response: hdr.response,
        id: hdr.id,
        payloads: payloads.into_iter().map(from_wire).collect(),
    }
}

/// A message from the decrypted inner payload chain of a reassembled
/// fragmented message (RFC 7383): `first` is fragment 1's Next Payload.
pub(crate) fn decode_inner(
    hdr: Header,
    first: wire::PayloadType,
    plain: &[u8],
) -> Result<Msg, CodecError> {
    Ok(msg_of(hdr, parse_decrypted(first, plain)?))
}

/// The IKE header of `msg` and its payloads as the plaintext inner chain
/// of an SK (or SKF) payload: the first payload's type and the octets.
pub(crate) fn encode_inner(
    msg: &Msg,
) -> Result<(wire::Header, wire::PayloadType, Vec<u8>), CodecError> {
    let (header, payloads) = wire_parts(msg);
    let (first, plain) = wire::emit_payloads(&payloads)?;
    Ok((header, first, plain))
}

/// Emit a message; with `cipher`, every payload goes inside an SK payload.
pub fn encode(
    msg: &Msg,
    cipher: Option<&SkCipher>,
    rng: &mut dyn Random,
) -> Result<Vec<u8>, CodecError> {
    match cipher {
        None => {
            let (header, payloads) = wire_parts(msg);
            Ok(Message::new(header, payloads).emit()?)
        }
        Some(c) => {
            let (header, first, plain) = encode_inner(msg)?;
            seal_inner(&header, first, &plain, c, rng)
        }
    }
}

/// One message of `header` and an SK payload holding the inner payload
/// chain `plain` (see [`encode_inner`]).
pub(crate) fn seal_inner(
    header: &wire::Header,
    first: wire::PayloadType,
    plain: &[u8],
    c: &SkCipher,
    rng: &mut dyn Random,
) -> Result<Vec<u8>, CodecError> {
    let mut out = encrypted_prefix(header, first, c.body_len(plain.len()))?;
    let body = c
        .seal(&out, plain, rng)
        .map_err(|_| CodecError::NotSupported("encryption failed"))?;
    out.extend_from_slice(&body);
    Ok(out)
}

fn wire_parts(msg: &Msg) -> (wire::Header, Vec<Payload>) {
    let mut flags = Flags::NONE;
    if msg.initiator {
        flags = flags | Flags::INITIATOR;
    }
    if msg.response {
        flags = flags | Flags::RESPONSE;
    }
    let header = wire::Header::new(
        msg.spi_i,
        msg.spi_r,
        ExchangeType(msg.exchange),
        flags,
        msg.id,
    );
    (header, msg.payloads.iter().filter_map(to_wire).collect())
}

fn to_wire(p: &Pl) -> Option<Payload> {
    Some(match p {
        Pl::Sa(props) => Payload::Sa(wire::SaPayload::new(
            props.iter().map(proposal_to_wire).collect(),
        )),
        Pl::Ke { group, data } => Payload::Ke(KePayload {
            group: DhGroup(*group),
            data: data.clone(),
        }),
        Pl::Nonce(n) => Payload::Nonce(NoncePayload { data: n.clone() }),
        Pl::IdI { id_type, data } => Payload::IdI(IdPayload {
            id_type: IdType(*id_type),
            data: data.clone(),
        }),
        Pl::IdR { id_type, data } => Payload::IdR(IdPayload {
            id_type: IdType(*id_type),
            data: data.clone(),
        }),
        Pl::Auth { method, data } => Payload::Auth(AuthPayload {
            method: AuthMethod(*method),
            data: data.clone(),
        }),
        Pl::Notify {
            protocol,
            spi,
            ty,
            data,
        } => Payload::Notify(NotifyPayload {
            protocol: ProtocolId(*protocol),
            spi: spi.clone(),
            notify_type: NotifyType(*ty),
            data: data.clone(),
        }),
        Pl::Delete { protocol, spis } => Payload::Delete(DeletePayload {
            protocol: ProtocolId(*protocol),
            spi_size: if *protocol == 1 { 0 } else { 4 },
            spis: spis.clone(),
        }),
        Pl::TsI(v) => Payload::TsI(ts_to_wire(v)),
        Pl::TsR(v) => Payload::TsR(ts_to_wire(v)),
        Pl::Cert { encoding, data } => Payload::Cert(CertPayload {
            encoding: CertEncoding(*encoding),
            data: data.clone(),
        }),
        Pl::CertReq { encoding, data } => Payload::CertReq(CertPayload {
            encoding: CertEncoding(*encoding),
            data: data.clone(),
        }),
        Pl::Cp(c) => Payload::Cp(c.clone()),
        Pl::Other(_) => return None,
    })
}

fn ts_to_wire(v: &[Selector]) -> TsPayload {
    TsPayload::new(
        v.iter()
            .map(|s| {
                TrafficSelector::Range(TsRange {
                    ip_protocol: s.protocol,
                    start_port: s.start_port,
                    end_port: s.end_port,
                    start: s.start,
                    end: s.end,
                })
            })
            .collect(),
    )
}

fn proposal_to_wire(p: &Proposal) -> wire::Proposal {
    wire::Proposal::new(
        p.num,
        ProtocolId(p.protocol),
        p.spi.clone(),
        p.transforms
            .iter()
            .map(|t| wire::Transform {
                transform_type: TransformType(t.ttype),
                id: t.id,
                attributes: t
                    .key_bits
                    .map(|b| vec![Attribute::key_length(b)])
                    .unwrap_or_default(),
            })
            .collect(),
    )
}

fn from_wire(p: Payload) -> Pl {
    match p {
        Payload::Sa(sa) => Pl::Sa(
            sa.proposals
                .into_iter()
                .map(|p| Proposal {
                    num: p.number,
                    protocol: p.protocol.0,
                    spi: p.spi.clone(),
                    transforms: p
                        .transforms
                        .iter()
                        .map(|t| Transform {
                            ttype: t.transform_type.0,
                            id: t.id,
                            key_bits: t.key_length(),
                        })
                        .collect(),
                })
                .collect(),
        ),
        Payload::Ke(k) => Pl::Ke {
            group: k.group.0,
            data: k.data,
        },
        Payload::Nonce(n) => Pl::Nonce(n.data),
        Payload::IdI(i) => Pl::IdI {
            id_type: i.id_type.0,
            data: i.data,
        },
        Payload::IdR(i) => Pl::IdR {
            id_type: i.id_type.0,
            data: i.data,
        },
        Payload::Auth(a) => Pl::Auth {
            method: a.method.0,
            data: a.data,
        },
        Payload::Notify(n) => Pl::Notify {
            protocol: n.protocol.0,
            spi: n.spi,
            ty: n.notify_type.0,
            data: n.data,
        },
        Payload::Delete(d) => Pl::Delete {
            protocol: d.protocol.0,
            spis: d.spis,
        },
        Payload::TsI(t) => Pl::TsI(ts_from_wire(t)),
        Payload::TsR(t) => Pl::TsR(ts_from_wire(t)),
        Payload::Cert(c) => Pl::Cert {
            encoding: c.encoding.0,
            data: c.data,
        },
        Payload::CertReq(c) => Pl::CertReq {
            encoding: c.encoding.0,
            data: c.data,
        },
        Payload::Cp(c) => Pl::Cp(c),
        other => Pl::Other(other.payload_type().0),
    }
}

fn ts_from_wire(t: TsPayload) -> Vec<Selector> {
    t.selectors
        .into_iter()
        .filter_map(|s| match s {
            TrafficSelector::Range(r) => Some(Selector {
                protocol: r.ip_protocol,
                start_port: r.start_port,
                end_port: r.end_port,
                start: r.start,
                end: r.end,
            }),
            TrafficSelector::Other { .. } => None,
        })
        .collect()
}
