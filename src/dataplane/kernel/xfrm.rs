//! XFRM over NETLINK_XFRM: the messages this backend sends (SAs and
//! policies bound to an xfrm interface's `if_id`), the dumps it reads, and
//! one connection that sends them.
//!
//! Safety rules kept here:
//! - [`Msg`], the netlink payload type, has a `Debug` that names SPIs,
//!   addresses and directions but never key bytes (netlink-proto traces
//!   every message with `{:?}`).
//! - The socket has `NETLINK_CAP_ACK` set, so the kernel's error replies do
//!   not echo a request (and its keys) back.
//! - Decoding never fails and never panics: replies this backend does not
//!   read, too short or otherwise unparsable ones become [`Msg::Unread`]
//!   (a decode error would make netlink-proto log the raw bytes, and dumps
//!   of SAs carry keys).

use super::algs::KernelAlg;
use futures::StreamExt;
use netlink_packet_core::{
    DecodeError, Emitable, ErrorMessage, NetlinkDeserializable, NetlinkHeader, NetlinkMessage,
    NetlinkPayload, NetlinkSerializable, NlasIterator, ParseableParametrized, NLM_F_ACK,
    NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_xfrm::{
    policy, state, Address, EncapTmpl, Id, LifetimeConfig, ReplayEsn, Selector, UserPolicyId,
    UserPolicyInfo, UserPolicyInfoBuffer, UserSaId, UserSaInfo, UserSaInfoBuffer, UserTemplate,
    XfrmAttrs, XfrmMessage, AF_INET, AF_INET6, IPPROTO_ESP, UDP_ENCAP_ESPINUDP, XFRM_MODE_TUNNEL,
    XFRM_MSG_GETPOLICY, XFRM_MSG_NEWPOLICY, XFRM_MSG_NEWSA, XFRM_POLICY_ALLOW, XFRM_POLICY_FWD,
    XFRM_POLICY_IN, XFRM_POLICY_OUT, XFRM_STATE_AF_UNSPEC, XFRM_STATE_ESN,
};
use netlink_packet_xfrm::{
    XFRMNLGRP_EXPIRE, XFRMNLGRP_MAPPING, XFRM_MSG_EXPIRE, XFRM_MSG_MAPPING, XFRM_USER_EXPIRE_LEN,
    XFRM_USER_MAPPING_LEN,
};
use netlink_proto::sys::{protocols::NETLINK_XFRM, SocketAddr};
use netlink_proto::ConnectionHandle;
use std::fmt;
use std::io;
use std::mem::size_of;
use std::net::IpAddr;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long one request may take before it is given up.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest anti-replay window the kernel accepts: a bitmap of at most
/// `XFRMA_REPLAY_ESN_MAX / sizeof(u32) / 8` = 128 words.
const MAX_REPLAY_WINDOW: u32 = 128 * 32;
/// `NLMSGERR_ATTR_MSG`: the extended ACK's text.
const NLMSGERR_ATTR_MSG: u16 = 1;

/// The netlink payload of this backend's XFRM socket.
pub(super) enum Msg {
    Xfrm(Box<XfrmMessage>),
    /// A message this backend does not read, or could not parse (`why`).
    Unread {
        kind: u16,
        why: Option<String>,
    },
}

fn ip_of(a: &Address, family: u16) -> Option<IpAddr> {
    match family {
        AF_INET => Some(IpAddr::V4(a.to_ipv4())),
        AF_INET6 => Some(IpAddr::V6(a.to_ipv6())),
        _ => None,
    }
}

fn show_ip(a: &Address, family: u16) -> String {
    ip_of(a, family).map_or_else(|| format!("family {family}"), |ip| ip.to_string())
}

fn dir_name(dir: u8) -> &'static str {
    match dir {
        XFRM_POLICY_IN => "in",
        XFRM_POLICY_OUT => "out",
        XFRM_POLICY_FWD => "fwd",
        _ => "?",
    }
}

/// What a message is about, without keys.
fn summary(m: &XfrmMessage) -> String {
    match m {
        XfrmMessage::AddSa(s) | XfrmMessage::UpdateSa(s) => {
            let i = &s.user_sa_info;
            format!(
                "SA spi {:08x} {} -> {} reqid {:#x} ({} attributes)",
                i.id.spi,
                show_ip(&i.saddr, i.family),
                show_ip(&i.id.daddr, i.family),
                i.reqid,
                s.nlas.len()
            )
        }
        XfrmMessage::DeleteSa(d) | XfrmMessage::GetSa(d) => format!(
            "SA id spi {:08x} dst {}",
            d.user_sa_id.spi,
            show_ip(&d.user_sa_id.daddr, d.user_sa_id.family)
        ),
        XfrmMessage::AddPolicy(p) | XfrmMessage::UpdatePolicy(p) => format!(
            "policy dir {} family {} priority {:#x}",
            dir_name(p.user_policy_info.direction),
            p.user_policy_info.selector.family,
            p.user_policy_info.priority
        ),
        XfrmMessage::DeletePolicy(p) | XfrmMessage::GetPolicy(p) => format!(
            "policy id dir {} index {}",
            dir_name(p.user_policy_id.direction),
            p.user_policy_id.index
        ),
        other => format!("XFRM message type {}", other.message_type()),
    }
}

impl fmt::Debug for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Msg::Xfrm(m) => write!(f, "Xfrm({})", summary(m)),
            Msg::Unread { kind, why } => write!(f, "Unread(type {kind}, {why:?})"),
        }
    }
}

impl NetlinkSerializable for Msg {
    fn message_type(&self) -> u16 {
        match self {
            Msg::Xfrm(m) => m.message_type(),
            Msg::Unread { kind, .. } => *kind,
        }
    }
    fn buffer_len(&self) -> usize {
        match self {
            Msg::Xfrm(m) => Emitable::buffer_len(m.as_ref()),
            Msg::Unread { .. } => 0,
        }
    }
    fn serialize(&self, buffer: &mut [u8]) {
        if let Msg::Xfrm(m) = self {
            m.emit(buffer);
        }
    }
}

impl NetlinkDeserializable for Msg {
    type Error = DecodeError;
    fn deserialize(header: &NetlinkHeader, payload: &[u8]) -> Result<Self, DecodeError> {
        Ok(decode(header.message_type, payload))
    }
}

/// Decode the messages this backend reads (dumped SAs and policies); the
/// crate's parsers slice their fixed headers unchecked, so the length is
/// checked first, and a panic is contained all the same.
fn decode(kind: u16, payload: &[u8]) -> Msg {
    let min = match kind {
        XFRM_MSG_NEWSA => size_of::<UserSaInfoBuffer>(),
        XFRM_MSG_NEWPOLICY => size_of::<UserPolicyInfoBuffer>(),
        XFRM_MSG_EXPIRE => XFRM_USER_EXPIRE_LEN,
        XFRM_MSG_MAPPING => XFRM_USER_MAPPING_LEN,
        _ => return Msg::Unread { kind, why: None },
    };
    if payload.len() < min {
        return Msg::Unread {
            kind,
            why: Some(format!("{} bytes, at least {min} expected", payload.len())),
        };
    }
    match std::panic::catch_unwind(|| XfrmMessage::parse_with_param(payload, kind)) {
        Ok(Ok(m)) => Msg::Xfrm(Box::new(m)),
        Ok(Err(e)) => Msg::Unread {
            kind,
            why: Some(e.to_string()),
        },
        Err(_) => Msg::Unread {
            kind,
            why: Some("the parser panicked".into()),
        },
    }
}

/// A failed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NlError {
    /// The kernel refused: errno and its extended ACK text, if any.
    Kernel { errno: i32, msg: Option<String> },
    /// The transform or its keys cannot go into a request.
    Alg(super::algs::AlgError),
    /// The request could not be made or answered.
    Other(String),
}

impl NlError {
    pub(super) fn errno(&self) -> Option<i32> {
        match self {
            NlError::Kernel { errno, .. } => Some(*errno),
            NlError::Alg(_) | NlError::Other(_) => None,
        }
    }
}

impl fmt::Display for NlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NlError::Kernel { errno, msg } => {
                write!(f, "{}", io::Error::from_raw_os_error(*errno))?;
                if let Some(m) = msg {
                    write!(f, " ({m})")?;
                }
                Ok(())
            }
            NlError::Alg(e) => write!(f, "{e}"),
            NlError::Other(s) => f.write_str(s),
        }
    }
}

/// The kernel's extended ACK message of an error reply, if it sent one
/// (`flags` are the reply's netlink header flags).
pub(super) fn ext_ack_text(flags: u16, e: &ErrorMessage) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    // After the error code: the request's header (16 bytes) when capped,
    // else the whole request; then the TLVs, 4-byte aligned.
    let skip = if flags & NLM_F_CAPPED != 0 {
        16
    } else {
        let len = e.header.get(..4)?;
        let len = u32::from_ne_bytes([len[0], len[1], len[2], len[3]]) as usize;
        len.checked_add(3)? & !3
    };
    let tlvs = e.header.get(skip..)?;
    for nla in NlasIterator::new(tlvs) {
        let nla = nla.ok()?;
        if nla.kind() == NLMSGERR_ATTR_MSG {
            let text = String::from_utf8_lossy(nla.value());
            return Some(text.trim_end_matches('\0').to_string());
        }
    }
    None
}

/// Everything an SA needs; keys are borrowed and never printed.
pub(super) struct SaSpec<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub spi: u32,
    pub reqid: u32,
    pub if_id: u32,
    pub alg: KernelAlg,
    pub enc_key: &'a [u8],
    pub auth_key: &'a [u8],
    pub esn: bool,
    /// Anti-replay window in packets (0: none, unless ESN needs one).
    pub replay_window: u32,
    /// ESP in UDP: (source port, destination port).
    pub encap: Option<(u16, u16)>,
    /// The kernel's own limits on the SA.
    pub limits: Limits,
}

/// Lifetimes the kernel enforces on an SA: at a soft limit it sends
/// XFRM_MSG_EXPIRE (IKE is asked for a rekey), at a hard one it deletes
/// the SA (and says so). `None`: no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Limits {
    /// (soft, hard) bytes.
    pub bytes: Option<(u64, u64)>,
    /// (soft, hard) packets.
    pub packets: Option<(u64, u64)>,
    /// Seconds after which the kernel deletes the SA by itself (so that
    /// none outlives a daemon that died).
    pub hard_secs: Option<u64>,
}

impl Limits {
    fn config(&self) -> LifetimeConfig {
        let mut c = LifetimeConfig::default();
        if let Some((soft, hard)) = self.bytes {
            c.soft_byte_limit = soft;
            c.hard_byte_limit = hard;
        }
        if let Some((soft, hard)) = self.packets {
            c.soft_packet_limit = soft;
            c.hard_packet_limit = hard;
        }
        if let Some(h) = self.hard_secs {
            c.hard_add_expires_seconds = h;
        }
        c
    }
}

fn family(ip: IpAddr) -> u16 {
    if ip.is_ipv4() {
        AF_INET
    } else {
        AF_INET6
    }
}

/// `XFRM_MSG_NEWSA` for a tunnel-mode ESP SA bound to `if_id`.
pub(super) fn sa_message(s: &SaSpec<'_>) -> Result<XfrmMessage, NlError> {
    if s.src.is_ipv4() != s.dst.is_ipv4() {
        return Err(NlError::Other(format!(
            "SA addresses {} -> {} mix families",
            s.src, s.dst
        )));
    }
    let mut nlas = s.alg.attrs(s.enc_key, s.auth_key).map_err(NlError::Alg)?;
    // The window goes in XFRMA_REPLAY_ESN_VAL (any size, ESN or not);
    // the legacy u8 field must then be 0. ESN needs a window.
    let window = match (s.replay_window, s.esn) {
        (0, true) => 32,
        (w, _) => w.min(MAX_REPLAY_WINDOW),
    };
    if window > 0 {
        let bmp_len = window.div_ceil(32);
        nlas.push(XfrmAttrs::ReplayStateEsn(ReplayEsn {
            bmp_len,
            oseq: 0,
            seq: 0,
            oseq_hi: 0,
            seq_hi: 0,
            replay_window: window,
            bmp: vec![0; bmp_len as usize],
        }));
    }
    if let Some((sport, dport)) = s.encap {
        nlas.push(XfrmAttrs::EncapsulationTemplate(EncapTmpl {
            encap_type: UDP_ENCAP_ESPINUDP,
            encap_sport: sport,
            encap_dport: dport,
            encap_oa: Address::default(),
        }));
    }
    nlas.push(XfrmAttrs::IfId(s.if_id));
    let mut flags = XFRM_STATE_AF_UNSPEC; // any inner family (IPv4 and IPv6)
    if s.esn {
        flags |= XFRM_STATE_ESN;
    }
    let info = UserSaInfo {
        selector: Selector::default(),
        id: Id {
            daddr: Address::from_ip(&s.dst),
            spi: s.spi,
            proto: IPPROTO_ESP,
        },
        saddr: Address::from_ip(&s.src),
        lifetime_cfg: s.limits.config(),
        reqid: s.reqid,
        family: family(s.dst),
        mode: XFRM_MODE_TUNNEL,
        replay_window: 0,
        flags,
        ..UserSaInfo::default()
    };
    Ok(XfrmMessage::AddSa(state::ModifyMessage {
        user_sa_info: info,
        nlas,
    }))
}

/// `XFRM_MSG_DELSA` by (destination, SPI, ESP).
pub(super) fn del_sa_message(dst: IpAddr, spi: u32) -> XfrmMessage {
    XfrmMessage::DeleteSa(state::DelGetMessage {
        user_sa_id: UserSaId {
            daddr: Address::from_ip(&dst),
            spi,
            family: family(dst),
            proto: IPPROTO_ESP,
        },
        nlas: Vec::new(),
    })
}

/// One policy of a tunnel: every packet of one inner family, one
/// direction, through the xfrm interface `if_id`, in tunnel mode between
/// the outer addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PolicySpec {
    pub dir: u8,
    pub inner_v6: bool,
    pub local: IpAddr,
    pub remote: IpAddr,
    pub reqid: u32,
    pub if_id: u32,
    pub priority: u32,
}

fn any_selector(v6: bool) -> Selector {
    Selector {
        family: if v6 { AF_INET6 } else { AF_INET },
        ..Selector::default()
    }
}

/// `XFRM_MSG_NEWPOLICY` (or `UPDPOLICY` to replace one in place).
pub(super) fn policy_message(p: &PolicySpec, update: bool) -> XfrmMessage {
    let (src, dst) = if p.dir == XFRM_POLICY_OUT {
        (p.local, p.remote)
    } else {
        (p.remote, p.local)
    };
    let tmpl = UserTemplate {
        id: Id {
            daddr: Address::from_ip(&dst),
            spi: 0,
            proto: IPPROTO_ESP,
        },
        family: family(dst),
        saddr: Address::from_ip(&src),
        reqid: p.reqid,
        mode: XFRM_MODE_TUNNEL,
        ..UserTemplate::default() // any algorithms
    };
    let msg = policy::ModifyMessage {
        user_policy_info: UserPolicyInfo {
            selector: any_selector(p.inner_v6),
            lifetime_cfg: LifetimeConfig::default(),
            priority: p.priority,
            direction: p.dir,
            action: XFRM_POLICY_ALLOW,
            ..UserPolicyInfo::default()
        },
        nlas: vec![XfrmAttrs::Template(vec![tmpl]), XfrmAttrs::IfId(p.if_id)],
    };
    if update {
        XfrmMessage::UpdatePolicy(msg)
    } else {
        XfrmMessage::AddPolicy(msg)
    }
}

/// `XFRM_MSG_DELPOLICY` by selector (any address of one family), direction
/// and `if_id`.
pub(super) fn del_policy_message(dir: u8, inner_v6: bool, if_id: u32) -> XfrmMessage {
    XfrmMessage::DeletePolicy(policy::DelGetMessage {
        user_policy_id: UserPolicyId {
            selector: any_selector(inner_v6),
            index: 0,
            direction: dir,
        },
        nlas: vec![XfrmAttrs::IfId(if_id)],
    })
}

/// `XFRM_MSG_DELPOLICY` by index (from a dump), direction and `if_id`.
fn del_policy_by_index_message(index: u32, dir: u8, if_id: u32) -> XfrmMessage {
    XfrmMessage::DeletePolicy(policy::DelGetMessage {
        user_policy_id: UserPolicyId {
            selector: Selector::default(),
            index,
            direction: dir,
        },
        nlas: vec![XfrmAttrs::IfId(if_id)],
    })
}

/// One SA of a dump, keys left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SaEntry {
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    pub spi: u32,
    pub proto: u8,
    pub reqid: u32,
    pub if_id: u32,
    pub bytes: u64,
    pub packets: u64,
    pub replay: u32,
    pub integrity_failed: u32,
}

fn sa_entry(m: &state::ModifyMessage) -> SaEntry {
    let i = &m.user_sa_info;
    let if_id = m
        .nlas
        .iter()
        .find_map(|a| match a {
            XfrmAttrs::IfId(v) => Some(*v),
            _ => None,
        })
        .unwrap_or(0);
    SaEntry {
        src: ip_of(&i.saddr, i.family),
        dst: ip_of(&i.id.daddr, i.family),
        spi: i.id.spi,
        proto: i.id.proto,
        reqid: i.reqid,
        if_id,
        bytes: i.lifetime_cur.bytes,
        packets: i.lifetime_cur.packets,
        replay: i.stats.replay,
        integrity_failed: i.stats.integrity_failed,
    }
}

/// One policy of a dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PolicyEntry {
    pub index: u32,
    pub dir: u8,
    pub priority: u32,
    pub if_id: u32,
    pub reqids: Vec<u32>,
}

fn policy_entry(m: &policy::ModifyMessage) -> PolicyEntry {
    let mut if_id = 0;
    let mut reqids = Vec::new();
    for a in &m.nlas {
        match a {
            XfrmAttrs::IfId(v) => if_id = *v,
            XfrmAttrs::Template(t) => reqids.extend(t.iter().map(|t| t.reqid)),
            _ => {}
        }
    }
    PolicyEntry {
        index: m.user_policy_info.index,
        dir: m.user_policy_info.direction,
        priority: m.user_policy_info.priority,
        if_id,
        reqids,
    }
}

/// An SA the kernel expired (XFRM_MSG_EXPIRE): at its soft limit (`hard`
/// false: still there) or its hard one (deleted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Expired {
    pub dst: IpAddr,
    pub spi: u32,
    pub hard: bool,
}

/// Authentic ESP in UDP of an inbound SA came from another address or
/// port than the SA's (XFRM_MSG_MAPPING): the peer's NAT mapping changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Mapped {
    /// The SA: its destination (our address) and SPI.
    pub dst: IpAddr,
    pub spi: u32,
    /// Where its ESP comes from now.
    pub from: std::net::SocketAddr,
}

/// What the kernel tells about SAs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SaNotice {
    Expired(Expired),
    Mapped(Mapped),
}

/// The kernel's SA expiry and NAT mapping notices, from a NETLINK_XFRM
/// socket in the XFRMNLGRP_EXPIRE and XFRMNLGRP_MAPPING groups (its task
/// runs on the current runtime).
pub(super) fn expire_events() -> io::Result<mpsc::UnboundedReceiver<SaNotice>> {
    let (mut conn, _handle, mut notices) = netlink_proto::new_connection::<Msg>(NETLINK_XFRM)?;
    {
        let sock = netlink_sys::AsyncSocket::socket_mut(conn.socket_mut());
        // Bound to a port of its own: the kernel skips port 0 (its own)
        // when it multicasts, and this socket never sends (which would
        // bind it).
        sock.bind_auto()?;
        sock.add_membership(XFRMNLGRP_EXPIRE)?;
        sock.add_membership(XFRMNLGRP_MAPPING)?;
    }
    tokio::spawn(conn);
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        // Keep the handle (and so the connection) alive with this task.
        let _handle = _handle;
        while let Some((m, _)) = notices.next().await {
            let NetlinkPayload::InnerMessage(Msg::Xfrm(x)) = m.payload else {
                continue;
            };
            let ev = match *x {
                XfrmMessage::Expire(e) => {
                    let st = &e.expire.state;
                    let Some(dst) = ip_of(&st.id.daddr, st.family) else {
                        continue;
                    };
                    SaNotice::Expired(Expired {
                        dst,
                        spi: st.id.spi,
                        hard: e.expire.hard != 0,
                    })
                }
                XfrmMessage::Mapping(m) => {
                    let id = &m.map.id;
                    let (Some(dst), Some(src)) = (
                        ip_of(&id.daddr, id.family),
                        ip_of(&m.map.new_saddr, id.family),
                    ) else {
                        continue;
                    };
                    SaNotice::Mapped(Mapped {
                        dst,
                        spi: id.spi,
                        from: std::net::SocketAddr::new(src, m.map.new_sport),
                    })
                }
                _ => continue,
            };
            if tx.send(ev).is_err() {
                break;
            }
        }
    });
    Ok(rx)
}

/// A NETLINK_XFRM connection (its task runs on the current runtime).
pub(super) struct Xfrm {
    handle: ConnectionHandle<Msg>,
}

impl Xfrm {
    /// Open the socket; fails where the kernel has no XFRM netlink.
    pub(super) fn connect() -> io::Result<Xfrm> {
        let (mut conn, handle, _unsolicited) = netlink_proto::new_connection::<Msg>(NETLINK_XFRM)?;
        {
            let sock = netlink_sys::AsyncSocket::socket_mut(conn.socket_mut());
            // Without CAP_ACK an error reply would carry the request back,
            // keys included: refuse to run rather than risk that.
            sock.set_cap_ack(true)?;
            let _ = sock.set_ext_ack(true);
        }
        tokio::spawn(conn);
        Ok(Xfrm { handle })
    }

    async fn exchange(&self, msg: XfrmMessage, flags: u16) -> Result<Vec<XfrmMessage>, NlError> {
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        let mut nl = NetlinkMessage::new(
            header,
            NetlinkPayload::InnerMessage(Msg::Xfrm(Box::new(msg))),
        );
        nl.finalize();
        let mut replies = self
            .handle
            .request(nl, SocketAddr::new(0, 0))
            .map_err(|e| NlError::Other(format!("netlink request failed: {e}")))?;
        let collect = async {
            let mut out = Vec::new();
            let mut err = None;
            let mut unread = 0usize;
            while let Some(m) = replies.next().await {
                match m.payload {
                    NetlinkPayload::Error(e) => {
                        if let Some(code) = e.code {
                            err = Some(NlError::Kernel {
                                errno: code.get().saturating_abs(),
                                msg: ext_ack_text(m.header.flags, &e),
                            });
                        }
                    }
                    NetlinkPayload::InnerMessage(Msg::Xfrm(x)) => out.push(*x),
                    NetlinkPayload::InnerMessage(Msg::Unread { kind, why }) => {
                        if let Some(why) = why {
                            tracing::warn!(
                                "kernel data plane: skipped XFRM message type {kind}: {why}"
                            );
                        }
                        unread += 1;
                    }
                    NetlinkPayload::Overrun(_) => {
                        err = Some(NlError::Other("netlink overrun".into()));
                    }
                    _ => {}
                }
            }
            if unread > 0 {
                tracing::debug!("kernel data plane: {unread} XFRM replies not read");
            }
            err.map_or(Ok(out), Err)
        };
        tokio::time::timeout(REQUEST_TIMEOUT, collect)
            .await
            .map_err(|_| NlError::Other("no answer from the kernel within 5 s".into()))?
    }

    async fn ack(&self, msg: XfrmMessage) -> Result<(), NlError> {
        self.exchange(msg, NLM_F_REQUEST | NLM_F_ACK)
            .await
            .map(|_| ())
    }

    pub(super) async fn add_sa(&self, s: &SaSpec<'_>) -> Result<(), NlError> {
        let msg = sa_message(s)?;
        self.ack(msg).await
    }

    /// Delete an SA; `Ok(false)` when there was none.
    pub(super) async fn del_sa(&self, dst: IpAddr, spi: u32) -> Result<bool, NlError> {
        match self.ack(del_sa_message(dst, spi)).await {
            Ok(()) => Ok(true),
            Err(e) if e.errno() == Some(libc::ESRCH) => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub(super) async fn put_policy(&self, p: &PolicySpec, update: bool) -> Result<(), NlError> {
        self.ack(policy_message(p, update)).await
    }

    /// Delete a policy; `Ok(false)` when there was none.
    pub(super) async fn del_policy(
        &self,
        dir: u8,
        inner_v6: bool,
        if_id: u32,
    ) -> Result<bool, NlError> {
        match self.ack(del_policy_message(dir, inner_v6, if_id)).await {
            Ok(()) => Ok(true),
            Err(e) if e.errno() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Delete a dumped policy; `Ok(false)` when it was gone.
    pub(super) async fn del_policy_entry(&self, p: &PolicyEntry) -> Result<bool, NlError> {
        match self
            .ack(del_policy_by_index_message(p.index, p.dir, p.if_id))
            .await
        {
            Ok(()) => Ok(true),
            Err(e) if e.errno() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Every SA of this network namespace (keys are dropped here).
    pub(super) async fn dump_sas(&self) -> Result<Vec<SaEntry>, NlError> {
        let msg = XfrmMessage::GetDumpSa(state::GetDumpMessage { nlas: Vec::new() });
        let replies = self.exchange(msg, NLM_F_REQUEST | NLM_F_DUMP).await?;
        Ok(replies
            .iter()
            .filter_map(|m| match m {
                XfrmMessage::AddSa(s) => Some(sa_entry(s)),
                _ => None,
            })
            .collect())
    }

    /// Every policy of this network namespace.
    pub(super) async fn dump_policies(&self) -> Result<Vec<PolicyEntry>, NlError> {
        let msg = XfrmMessage::Other((XFRM_MSG_GETPOLICY, Vec::new()));
        let replies = self.exchange(msg, NLM_F_REQUEST | NLM_F_DUMP).await?;
        Ok(replies
            .iter()
            .filter_map(|m| match m {
                XfrmMessage::AddPolicy(p) => Some(policy_entry(p)),
                _ => None,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_xfrm::{XFRM_MSG_DELPOLICY, XFRM_MSG_NEWSA, XFRM_MSG_UPDPOLICY};
    use std::net::Ipv4Addr;

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn spec(key: &[u8]) -> SaSpec<'_> {
        SaSpec {
            src: v4("192.0.2.1"),
            dst: v4("192.0.2.2"),
            spi: 0xc0ffee01,
            reqid: 0x7276_0001,
            if_id: 2,
            alg: KernelAlg::from_iana((20, 256), None).unwrap(),
            enc_key: key,
            auth_key: &[],
            esn: false,
            replay_window: 1024,
            encap: None,
            limits: Limits::default(),
        }
    }

    /// Emit, then parse back as the kernel would read it.
    fn round_trip(m: &XfrmMessage) -> XfrmMessage {
        let mut buf = vec![0u8; Emitable::buffer_len(m)];
        m.emit(&mut buf);
        match decode(m.message_type(), &buf) {
            Msg::Xfrm(x) => *x,
            Msg::Unread { why, .. } => panic!("did not parse: {why:?}"),
        }
    }

    #[test]
    fn limits_go_into_the_lifetime_config() {
        let key = [9u8; 36];
        let mut s = spec(&key);
        s.limits = Limits {
            bytes: Some((900, 1000)),
            packets: Some((0xE000_0000, 0xFFFF_FFFF)),
            hard_secs: Some(3962),
        };
        let XfrmMessage::AddSa(m) = round_trip(&sa_message(&s).unwrap()) else {
            panic!("NEWSA")
        };
        let l = &m.user_sa_info.lifetime_cfg;
        assert_eq!((l.soft_byte_limit, l.hard_byte_limit), (900, 1000));
        assert_eq!(
            (l.soft_packet_limit, l.hard_packet_limit),
            (0xE000_0000, 0xFFFF_FFFF)
        );
        assert_eq!(l.hard_add_expires_seconds, 3962);
        assert_eq!(l.soft_add_expires_seconds, 0, "IKE rekeys by time itself");
    }

    #[test]
    fn sa_is_tunnel_mode_with_if_id_replay_and_no_limits() {
        let key = [9u8; 36];
        let m = sa_message(&spec(&key)).unwrap();
        assert_eq!(m.message_type(), XFRM_MSG_NEWSA);
        let XfrmMessage::AddSa(s) = round_trip(&m) else {
            panic!("NEWSA")
        };
        let i = &s.user_sa_info;
        assert_eq!(i.id.spi, 0xc0ffee01);
        assert_eq!(i.id.proto, IPPROTO_ESP);
        assert_eq!(i.id.daddr.to_ipv4(), Ipv4Addr::new(192, 0, 2, 2));
        assert_eq!(i.saddr.to_ipv4(), Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(i.family, AF_INET);
        assert_eq!(i.mode, XFRM_MODE_TUNNEL);
        assert_eq!(i.reqid, 0x7276_0001);
        assert_eq!(i.replay_window, 0);
        assert_eq!(i.flags, XFRM_STATE_AF_UNSPEC);
        assert_eq!(i.lifetime_cfg.hard_byte_limit, u64::MAX);
        assert_eq!(i.lifetime_cfg.hard_packet_limit, u64::MAX);
        assert!(s.nlas.contains(&XfrmAttrs::IfId(2)));
        let r = s
            .nlas
            .iter()
            .find_map(|a| match a {
                XfrmAttrs::ReplayStateEsn(r) => Some(r.clone()),
                _ => None,
            })
            .expect("replay attribute");
        assert_eq!((r.replay_window, r.bmp_len, r.bmp.len()), (1024, 32, 32));
        assert!(!s
            .nlas
            .iter()
            .any(|a| matches!(a, XfrmAttrs::EncapsulationTemplate(_))));
    }

    #[test]
    fn esn_and_udp_encapsulation() {
        let key = [9u8; 36];
        let mut s = spec(&key);
        s.esn = true;
        s.replay_window = 0;
        s.encap = Some((4500, 4501));
        let XfrmMessage::AddSa(m) = round_trip(&sa_message(&s).unwrap()) else {
            panic!("NEWSA")
        };
        assert_eq!(m.user_sa_info.flags, XFRM_STATE_AF_UNSPEC | XFRM_STATE_ESN);
        let mut saw = (false, false);
        for a in &m.nlas {
            match a {
                XfrmAttrs::ReplayStateEsn(r) => {
                    assert_eq!((r.replay_window, r.bmp_len), (32, 1));
                    saw.0 = true;
                }
                XfrmAttrs::EncapsulationTemplate(e) => {
                    assert_eq!(e.encap_type, UDP_ENCAP_ESPINUDP);
                    assert_eq!((e.encap_sport, e.encap_dport), (4500, 4501));
                    saw.1 = true;
                }
                _ => {}
            }
        }
        assert_eq!(saw, (true, true));
    }

    #[test]
    fn replay_window_is_clamped_to_what_the_kernel_takes() {
        let key = [9u8; 36];
        let mut s = spec(&key);
        s.replay_window = 100_000;
        let XfrmMessage::AddSa(m) = round_trip(&sa_message(&s).unwrap()) else {
            panic!("NEWSA")
        };
        let r = m
            .nlas
            .iter()
            .find_map(|a| match a {
                XfrmAttrs::ReplayStateEsn(r) => Some(r.clone()),
                _ => None,
            })
            .expect("replay attribute");
        assert_eq!((r.replay_window, r.bmp_len), (4096, 128));
    }

    #[test]
    fn no_window_no_replay_attribute() {
        let key = [9u8; 36];
        let mut s = spec(&key);
        s.replay_window = 0;
        let XfrmMessage::AddSa(m) = round_trip(&sa_message(&s).unwrap()) else {
            panic!("NEWSA")
        };
        assert!(!m
            .nlas
            .iter()
            .any(|a| matches!(a, XfrmAttrs::ReplayStateEsn(_))));
    }

    #[test]
    fn mixed_families_and_bad_keys_are_refused() {
        let key = [9u8; 36];
        let mut s = spec(&key);
        s.dst = "2001:db8::1".parse().unwrap();
        assert!(sa_message(&s).is_err());
        let short = [1u8; 8];
        assert!(sa_message(&spec(&short)).is_err());
    }

    #[test]
    fn debug_never_shows_keys() {
        let key = [0x5au8; 36];
        let m = Msg::Xfrm(Box::new(sa_message(&spec(&key)).unwrap()));
        let d = format!("{m:?}");
        assert!(d.contains("c0ffee01"), "{d}");
        assert!(!d.contains("90") && !d.to_lowercase().contains("5a"), "{d}");
        let nl = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::InnerMessage(m));
        let d = format!("{nl:?}");
        assert!(!d.contains("90, 90"), "{d}");
    }

    #[test]
    fn policies_out_in_and_fwd() {
        let p = PolicySpec {
            dir: XFRM_POLICY_OUT,
            inner_v6: false,
            local: v4("192.0.2.1"),
            remote: v4("192.0.2.2"),
            reqid: 0x7276_0003,
            if_id: 5,
            priority: 77,
        };
        for dir in [XFRM_POLICY_OUT, XFRM_POLICY_IN, XFRM_POLICY_FWD] {
            for v6 in [false, true] {
                let spec = PolicySpec {
                    dir,
                    inner_v6: v6,
                    ..p
                };
                let XfrmMessage::AddPolicy(m) = round_trip(&policy_message(&spec, false)) else {
                    panic!("NEWPOLICY")
                };
                let i = &m.user_policy_info;
                assert_eq!(i.direction, dir);
                assert_eq!(i.priority, 77);
                assert_eq!(i.selector.family, if v6 { AF_INET6 } else { AF_INET });
                assert_eq!((i.selector.prefixlen_d, i.selector.prefixlen_s), (0, 0));
                let e = policy_entry(&m);
                assert_eq!(e.if_id, 5);
                assert_eq!(e.reqids, vec![0x7276_0003]);
                let t = m
                    .nlas
                    .iter()
                    .find_map(|a| match a {
                        XfrmAttrs::Template(t) => t.first().copied(),
                        _ => None,
                    })
                    .unwrap();
                let (src, dst) = if dir == XFRM_POLICY_OUT {
                    ("192.0.2.1", "192.0.2.2")
                } else {
                    ("192.0.2.2", "192.0.2.1")
                };
                assert_eq!(IpAddr::V4(t.saddr.to_ipv4()), v4(src));
                assert_eq!(IpAddr::V4(t.id.daddr.to_ipv4()), v4(dst));
                assert_eq!(t.family, AF_INET);
                assert_eq!(t.mode, XFRM_MODE_TUNNEL);
                assert_eq!(t.id.proto, IPPROTO_ESP);
                assert_eq!((t.aalgos, t.ealgos, t.calgos), (!0, !0, !0));
            }
        }
        assert_eq!(policy_message(&p, true).message_type(), XFRM_MSG_UPDPOLICY);
        assert_eq!(
            del_policy_message(XFRM_POLICY_FWD, true, 5).message_type(),
            XFRM_MSG_DELPOLICY
        );
    }

    #[test]
    fn decode_never_fails_on_garbage() {
        for kind in [XFRM_MSG_NEWSA, XFRM_MSG_NEWPOLICY, 0x99] {
            for len in [0usize, 3, 100, 224, 300] {
                let buf = vec![0xffu8; len];
                let _ = decode(kind, &buf);
            }
        }
        // a valid header followed by a truncated attribute
        let key = [9u8; 36];
        let m = sa_message(&spec(&key)).unwrap();
        let mut buf = vec![0u8; Emitable::buffer_len(&m)];
        m.emit(&mut buf);
        for cut in [225, 230, 240, buf.len() - 1] {
            let _ = decode(XFRM_MSG_NEWSA, &buf[..cut]);
        }
    }

    #[test]
    fn extended_ack_text_is_found() {
        // capped error: 16-byte request header, then a MSG TLV
        let mut header = vec![0u8; 16];
        let text = b"if_id must be non zero\0";
        let nla_len = 4 + text.len();
        header.extend_from_slice(&(nla_len as u16).to_ne_bytes());
        header.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        header.extend_from_slice(text);
        while !header.len().is_multiple_of(4) {
            header.push(0);
        }
        let mut e = ErrorMessage::default();
        e.code = std::num::NonZeroI32::new(-22);
        e.header = header;
        assert_eq!(
            ext_ack_text(NLM_F_CAPPED | NLM_F_ACK_TLVS, &e).as_deref(),
            Some("if_id must be non zero")
        );
        assert_eq!(ext_ack_text(NLM_F_CAPPED, &e), None);
        let mut short = ErrorMessage::default();
        short.code = std::num::NonZeroI32::new(-22);
        short.header = vec![1, 2];
        assert_eq!(ext_ack_text(NLM_F_ACK_TLVS, &short), None);
        let err = NlError::Kernel {
            errno: 22,
            msg: Some("if_id must be non zero".into()),
        };
        assert!(err.to_string().contains("if_id must be non zero"));
    }
}
