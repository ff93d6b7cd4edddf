//! IKE fragmentation (RFC 7383): messages bigger than the path MTU (an
//! IKE_AUTH with certificates) go as Encrypted Fragment (SKF) messages,
//! each encrypted and integrity-protected on its own, so that no IP
//! fragment is needed on the path.
//!
//! Negotiation: IKEV2_FRAGMENTATION_SUPPORTED in both IKE_SA_INIT messages
//! (init.rs calls [`supported`] and sets [`FragState::enabled`]); a rekeyed
//! IKE SA keeps what its predecessor negotiated.
//!
//! Sending: [`seal`] returns one datagram, or, when the message does not
//! fit the fragment size ([`message_limit`] of `crypto ikev2 fragmentation
//! mtu N`), its fragments back to back: a "train". Each IKE message carries
//! its length in its header, so [`split_train`] cuts the train without
//! ambiguity where the datagrams leave the engine (`Engine::send_on`). The
//! train is what the retransmission and response caches keep, so a
//! retransmission resends every fragment, with the same bytes (RFC 7383
//! 2.6), and a retransmitted request (its fragment 1, as strongSwan) gets
//! every fragment of the cached response.
//!
//! Receiving: each fragment is checked with the IKE SA's keys *before* it
//! is kept (unauthenticated junk cannot fill memory), then held by the
//! SA's [`Reassembler`] for its direction: at most one message at a time
//! (a new Message ID replaces an incomplete one), at most
//! [`MAX_FRAGMENTS`] fragments and [`MAX_REASSEMBLY`] bytes, dropped after
//! [`REASSEMBLY_TIMEOUT`]. Memory is thus bounded by 2 x
//! [`MAX_REASSEMBLY`] per IKE SA, and only an authenticated peer can use it.

use super::codec::{self, CodecError, Header};
use super::engine::Engine;
use super::guard::Noise;
use super::ike_sa::IkeSa;
use super::msg::{notify as n, Msg, Pl, IKE_SA_INIT};
use crate::crypto::rand::Random;
use crate::crypto::sk::SkCipher;
use crate::wire::{self, Fragment, PayloadType, HEADER_LEN, SKF_HEADER_LEN, SK_HEADER_LEN};
use std::time::{Duration, Instant};

/// `crypto ikev2 fragmentation` without `mtu`: the IP MTU assumed for the
/// path (strongSwan's `fragment_size` default, IPv6's minimum MTU).
pub const DEFAULT_MTU: u16 = 1280;
/// The smallest `mtu` accepted. IOS accepts 68-1500, but an encrypted
/// fragment needs room for the IP, UDP, IKE and SKF headers, an IV, up to
/// a block of padding and an ICV (about 130 octets before any data);
/// below 256 a message would be cut into crumbs, so rvpn refuses it.
pub const MIN_MTU: u16 = 256;
/// The largest `mtu` accepted (as IOS).
pub const MAX_MTU: u16 = 1500;
/// At most this many fragments in a received message: an IKE_AUTH with a
/// certificate chain is a handful of fragments at 1280, a few dozen at
/// the smallest MTU.
pub const MAX_FRAGMENTS: u16 = 64;
/// At most this many decrypted octets held for one message being
/// reassembled: the size cap of any received message (guard.rs).
pub const MAX_REASSEMBLY: usize = super::guard::MAX_MESSAGE;
/// An incomplete message is dropped this long after its first fragment
/// (the peer retransmits every fragment well within it).
pub const REASSEMBLY_TIMEOUT: Duration = Duration::from_secs(30);

/// The IKEV2_FRAGMENTATION_SUPPORTED notify (empty) for IKE_SA_INIT.
pub(crate) fn supported() -> Pl {
    Pl::Notify {
        protocol: 0,
        spi: vec![],
        ty: n::IKEV2_FRAGMENTATION_SUPPORTED,
        data: vec![],
    }
}

/// The largest IKE message (its header included) that fits in one IP
/// packet of `mtu` octets (RFC 7383 2.5.1): minus the IP header (20 for
/// IPv4, 40 for IPv6), the UDP header (8) and the non-ESP marker (4) on
/// port 4500.
pub fn message_limit(mtu: u16, ipv6: bool, natt: bool) -> usize {
    let ip = if ipv6 { 40 } else { 20 };
    let marker = if natt { 4 } else { 0 };
    usize::from(mtu).saturating_sub(ip + 8 + marker)
}

/// Fragmentation state of one IKE SA.
#[derive(Debug, Default)]
pub struct FragState {
    /// Both ends announced IKEV2_FRAGMENTATION_SUPPORTED.
    pub enabled: bool,
    /// The peer's request being reassembled.
    pub requests: Reassembler,
    /// The response to our request being reassembled.
    pub responses: Reassembler,
    /// Fragments sent (retransmissions included).
    pub sent: u64,
    /// Authenticated fragments received.
    pub received: u64,
}

impl FragState {
    /// When an incomplete reassembly times out.
    pub fn deadline(&self) -> Option<Instant> {
        [self.requests.deadline(), self.responses.deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Drop the reassemblies that timed out; whether any was dropped.
    pub fn expire(&mut self, now: Instant) -> bool {
        let a = self.requests.expire(now);
        let b = self.responses.expire(now);
        a || b
    }

    /// Decrypted octets held for reassembly.
    pub fn buffered(&self) -> usize {
        self.requests.buffered() + self.responses.buffered()
    }
}

/// What [`Reassembler::add`] did with a fragment.
#[derive(Debug, PartialEq, Eq)]
pub enum Added {
    /// Kept; the message is not complete yet.
    Stored,
    /// The last missing fragment: the message's inner payload chain and
    /// its first payload's type (fragment 1's Next Payload).
    Complete {
        /// The first inner payload's type.
        first: PayloadType,
        /// The inner payloads, in order.
        plain: Vec<u8>,
    },
    /// Already held (a retransmission): ignored.
    Duplicate,
    /// From an older fragmentation of the message (a smaller Total
    /// Fragments than the one being reassembled, RFC 7383 2.6): ignored.
    Stale,
    /// The message would exceed [`MAX_REASSEMBLY`]: it is dropped whole.
    TooBig,
    /// Fragment number outside 1..=total, or more than [`MAX_FRAGMENTS`].
    Invalid(&'static str),
}

/// The message being reassembled, for one direction of one IKE SA.
#[derive(Debug, Default)]
pub struct Reassembler {
    cur: Option<Partial>,
}

#[derive(Debug)]
struct Partial {
    id: u32,
    first: PayloadType,
    parts: Vec<Option<Vec<u8>>>,
    have: usize,
    bytes: usize,
    started: Instant,
}

impl Reassembler {
    /// Take one fragment (already authenticated and decrypted) of message
    /// `id`. The caller has checked that `id` is one it expects; a
    /// different one than held replaces the incomplete message.
    pub fn add(
        &mut self,
        id: u32,
        frag: Fragment,
        first: PayloadType,
        plain: Vec<u8>,
        now: Instant,
    ) -> Added {
        self.expire(now);
        if frag.total == 0 || frag.number == 0 || frag.number > frag.total {
            return Added::Invalid("IKE fragment number outside 1..=Total Fragments");
        }
        if frag.total > MAX_FRAGMENTS {
            return Added::Invalid("IKE message in more than 64 fragments");
        }
        let total = usize::from(frag.total);
        let restart = match &self.cur {
            None => true,
            Some(p) if p.id != id || total > p.parts.len() => true,
            Some(p) if total < p.parts.len() => return Added::Stale,
            Some(_) => false,
        };
        let p = if restart {
            self.cur.insert(Partial {
                id,
                first: PayloadType::NONE,
                parts: vec![None; total],
                have: 0,
                bytes: 0,
                started: now,
            })
        } else {
            match self.cur.as_mut() {
                Some(p) => p,
                None => return Added::Invalid("no reassembly"),
            }
        };
        let i = usize::from(frag.number) - 1;
        let Some(slot) = p.parts.get_mut(i) else {
            return Added::Invalid("IKE fragment number outside 1..=Total Fragments");
        };
        if slot.is_some() {
            return Added::Duplicate;
        }
        if p.bytes + plain.len() > MAX_REASSEMBLY {
            self.cur = None;
            return Added::TooBig;
        }
        if frag.number == 1 {
            p.first = first;
        }
        p.bytes += plain.len();
        *slot = Some(plain);
        p.have += 1;
        if p.have < p.parts.len() {
            return Added::Stored;
        }
        let Some(done) = self.cur.take() else {
            return Added::Invalid("no reassembly");
        };
        let mut plain = Vec::with_capacity(done.bytes);
        for part in done.parts.into_iter().flatten() {
            plain.extend_from_slice(&part);
        }
        Added::Complete {
            first: done.first,
            plain,
        }
    }

    /// Decrypted octets held.
    pub fn buffered(&self) -> usize {
        self.cur.as_ref().map_or(0, |p| p.bytes)
    }

    /// Fragments held.
    pub fn fragments(&self) -> usize {
        self.cur.as_ref().map_or(0, |p| p.have)
    }

    /// When the held message times out.
    pub fn deadline(&self) -> Option<Instant> {
        self.cur.as_ref().map(|p| p.started + REASSEMBLY_TIMEOUT)
    }

    /// Drop the held message if it timed out; whether it did.
    pub fn expire(&mut self, now: Instant) -> bool {
        if self.deadline().is_some_and(|t| now >= t) {
            self.cur = None;
            return true;
        }
        false
    }
}

/// Whether a datagram is an Encrypted Fragment message (its first
/// payload is SKF).
pub(crate) fn is_fragment(data: &[u8]) -> bool {
    data.get(16) == Some(&PayloadType::SKF.0)
}

/// Whether a retransmitted request should get the cached response again:
/// a whole message always; of a fragmented one, only fragment 1 (RFC 7383
/// 2.6.1, as strongSwan), so that N fragments do not cause N answers.
pub(crate) fn answers_retransmit(data: &[u8]) -> bool {
    !is_fragment(data) || data.get(32..34) == Some(&[0, 1][..])
}

/// Encrypt a message of `sa`: one datagram, or, with fragmentation
/// negotiated and `mtu` set, the train of its fragments when the whole
/// message would not fit [`message_limit`].
pub(crate) fn seal(
    sa: &IkeSa,
    msg: Msg,
    mtu: Option<u16>,
    rng: &mut dyn Random,
) -> Result<Vec<u8>, String> {
    let keys = sa.keys.as_ref().ok_or("no keys")?;
    let c = &keys.out;
    let (header, first, plain) = codec::encode_inner(&msg).map_err(|e| e.to_string())?;
    let limit = mtu
        .filter(|_| sa.frag.enabled && msg.exchange != IKE_SA_INIT)
        .map(|m| message_limit(m, sa.remote.is_ipv6(), sa.natt));
    let whole = HEADER_LEN + SK_HEADER_LEN + c.body_len(plain.len());
    match limit {
        Some(limit) if whole > limit => {
            seal_fragments(&header, first, &plain, c, limit, rng).map_err(|e| e.to_string())
        }
        _ => codec::seal_inner(&header, first, &plain, c, rng).map_err(|e| e.to_string()),
    }
}

/// The fragments of an inner payload chain, each at most `limit` octets,
/// back to back.
pub fn seal_fragments(
    header: &wire::Header,
    first: PayloadType,
    plain: &[u8],
    c: &SkCipher,
    limit: usize,
    rng: &mut dyn Random,
) -> Result<Vec<u8>, CodecError> {
    let room = limit.saturating_sub(HEADER_LEN + SKF_HEADER_LEN);
    // The most plaintext whose sealed body fits: padding makes body_len
    // a step function, so walk down at most a block.
    let mut chunk = room.saturating_sub(c.body_len(0).saturating_sub(1));
    while chunk > 0 && c.body_len(chunk) > room {
        chunk -= 1;
    }
    if chunk == 0 {
        return Err(CodecError::NotSupported(
            "fragment MTU too small for an encrypted fragment",
        ));
    }
    // An empty chain still makes one (empty) fragment.
    let parts: Vec<&[u8]> = if plain.is_empty() {
        vec![plain]
    } else {
        plain.chunks(chunk).collect()
    };
    let total = u16::try_from(parts.len())
        .map_err(|_| CodecError::NotSupported("IKE message too big to fragment"))?;
    let mut out = Vec::with_capacity(plain.len() + parts.len() * (limit - chunk));
    for (i, part) in parts.into_iter().enumerate() {
        let number = u16::try_from(i + 1).unwrap_or(u16::MAX);
        let inner = if number == 1 {
            first
        } else {
            PayloadType::NONE
        };
        let f = Fragment { number, total };
        let prefix = wire::fragment_prefix(header, f, inner, c.body_len(part.len()))?;
        let body = c
            .seal(&prefix, part, rng)
            .map_err(|_| CodecError::NotSupported("encryption failed"))?;
        out.extend_from_slice(&prefix);
        out.extend_from_slice(&body);
    }
    Ok(out)
}

/// Cut a train from [`seal`] into its datagrams (a single message stays
/// as it is).
pub fn split_train(data: Vec<u8>) -> Vec<Vec<u8>> {
    let len_at = |off: usize| {
        data.get(off + 24..off + 28)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    if len_at(0).is_none_or(|l| l >= data.len()) {
        return vec![data];
    }
    let mut out = Vec::new();
    let mut off = 0;
    while off < data.len() {
        let l = match len_at(off) {
            Some(l) if l >= HEADER_LEN && off + l <= data.len() => l,
            _ => data.len() - off,
        };
        out.push(data[off..off + l].to_vec());
        off += l;
    }
    out
}

impl Engine {
    /// Open an encrypted message of SA `spi`. A fragment is verified and
    /// decrypted with the SA's keys, then kept: `Ok(None)` until its
    /// message is complete, which then comes back as if it had arrived in
    /// one SK payload.
    pub(crate) fn open_or_reassemble(
        &mut self,
        spi: u64,
        data: &[u8],
        hdr: Header,
        now: Instant,
    ) -> Result<Option<Msg>, CodecError> {
        if !is_fragment(data) {
            return self.open(spi, data).map(Some);
        }
        let Some(view) = wire::parse_encrypted(data)? else {
            return Err(CodecError::Wire("no encrypted payload".into()));
        };
        let Some(f) = view.fragment else {
            return Err(CodecError::Wire("no encrypted fragment".into()));
        };
        let Some(sa) = self.sas.get_mut(&spi) else {
            return Err(CodecError::NotSupported("no SA"));
        };
        if !sa.frag.enabled || hdr.exchange == IKE_SA_INIT {
            return Err(CodecError::NotSupported(
                "IKE fragment, but fragmentation was not negotiated",
            ));
        }
        let keys = sa
            .keys
            .as_ref()
            .ok_or(CodecError::NotSupported("no keys for this SA yet"))?;
        let plain = keys
            .inb
            .open(view.aad, view.body)
            .map_err(|_| CodecError::Integrity)?;
        sa.frag.received += 1;
        let r = if hdr.response {
            &mut sa.frag.responses
        } else {
            &mut sa.frag.requests
        };
        match r.add(hdr.id, f, view.inner_first, plain, now) {
            Added::Complete { first, plain } => {
                let (len, remote) = (plain.len(), sa.remote);
                self.logf(format!(
                    "received IKE message ID {} from {remote} in {} fragments ({len} bytes), reassembled",
                    hdr.id, f.total
                ));
                codec::decode_inner(hdr, first, &plain).map(Some)
            }
            Added::TooBig => Err(CodecError::NotSupported(
                "fragmented IKE message over 64 KiB, dropped",
            )),
            Added::Invalid(why) => Err(CodecError::NotSupported(why)),
            Added::Stored | Added::Duplicate | Added::Stale => Ok(None),
        }
    }

    /// Drop the incomplete fragmented messages of SA `spi` that timed out.
    pub(crate) fn expire_fragments(&mut self, spi: u64, now: Instant) {
        let Some(sa) = self.sas.get_mut(&spi) else {
            return;
        };
        if sa.frag.expire(now) {
            let remote = sa.remote;
            self.log_noise(Noise::Malformed, now, || {
                format!("incomplete fragmented IKE message from {remote} timed out, dropped")
            });
        }
    }
}

#[cfg(test)]
mod tests;
