//! Outbound and inbound ESP SAs (RFC 4303 3.3 and 3.4), tunnel mode.
//!
//! Sans-IO and allocation-free per packet: the caller owns every buffer.
//! [`OutboundSa::seal_in_place`] wraps an inner packet that already sits in
//! a buffer with headroom and tailroom (the TUN path);
//! [`InboundSa::open_in_place`] verifies and decrypts a packet where it
//! lies and hands back the inner packet as a slice of the same buffer.

use crate::crypto::Engine;
use crate::error::EspError;
use crate::lifetime::{Lifetime, LifetimeLimits, Limit};
use crate::replay::ReplayWindow;
use crate::rng::RandomSource;
use crate::transform::{SaKeys, Transform, ESP_HEADER_LEN};
use crate::wire::{NEXT_HEADER_IPV4, NEXT_HEADER_IPV6, NEXT_HEADER_NONE};
use std::fmt;
use std::ops::Range;

/// Counters of an outbound SA.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct OutboundStats {
    /// Packets sealed.
    pub packets: u64,
    /// Inner bytes sealed.
    pub bytes: u64,
    /// Seal calls refused (buffer, lifetime, sequence space, random source).
    pub errors: u64,
}

/// Counters of an inbound SA. Every refused packet counts in exactly one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct InboundStats {
    /// Packets accepted.
    pub packets: u64,
    /// Inner bytes accepted.
    pub bytes: u64,
    /// Truncated, misaligned, or another SA's SPI.
    pub malformed: u64,
    /// Refused by the anti-replay window.
    pub replay_drops: u64,
    /// ICV did not verify.
    pub auth_failures: u64,
    /// Authentic, but bad padding or an unexpected next header.
    pub decrypt_errors: u64,
    /// TFC dummy packets (next header 59) dropped.
    pub tfc_dropped: u64,
    /// Dropped because the SA reached its hard lifetime.
    pub expired_drops: u64,
}

/// A decrypted inner packet, borrowed from the buffer it was opened in.
#[derive(Debug)]
pub struct Opened<'a> {
    /// Next header: 4 (IPv4) or 41 (IPv6) in tunnel mode.
    pub next_header: u8,
    /// The 64-bit sequence number (inferred high half with ESN).
    pub seq: u64,
    /// Where the inner packet lies in the buffer passed in.
    pub range: Range<usize>,
    /// The inner packet.
    pub inner: &'a mut [u8],
}

/// The sending side of an ESP SA.
pub struct OutboundSa<R> {
    spi: u32,
    transform: Transform,
    esn: bool,
    engine: Engine,
    rng: R,
    /// Last sequence number used (0: none yet).
    seq: u64,
    limits: LifetimeLimits,
    stats: OutboundStats,
}

impl<R> fmt::Debug for OutboundSa<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboundSa")
            .field("spi", &format_args!("{:#010x}", self.spi))
            .field("transform", &self.transform)
            .field("esn", &self.esn)
            .field("seq", &self.seq)
            .field("stats", &self.stats)
            .field("keys", &"<redacted>")
            .finish()
    }
}

fn check_spi(spi: u32) -> Result<(), EspError> {
    if spi < 256 {
        return Err(EspError::InvalidSpi { spi });
    }
    Ok(())
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let bytes: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(bytes))
}

impl<R: RandomSource> OutboundSa<R> {
    /// An outbound SA. `keys` must match `transform` (see [`SaKeys`]);
    /// `esn` selects 64-bit sequence numbers; `rng` supplies AES-CBC IVs.
    pub fn new(
        spi: u32,
        transform: Transform,
        keys: SaKeys<'_>,
        esn: bool,
        rng: R,
    ) -> Result<Self, EspError> {
        check_spi(spi)?;
        Ok(OutboundSa {
            spi,
            transform,
            esn,
            engine: Engine::new(transform, keys)?,
            rng,
            seq: 0,
            limits: LifetimeLimits::UNLIMITED,
            stats: OutboundStats::default(),
        })
    }

    /// Sets byte and packet lifetimes.
    pub fn set_lifetime(&mut self, limits: LifetimeLimits) {
        self.limits = limits;
    }

    /// The SPI (the peer's inbound SPI).
    pub fn spi(&self) -> u32 {
        self.spi
    }

    /// The transform.
    pub fn transform(&self) -> Transform {
        self.transform
    }

    /// Whether extended sequence numbers are in use.
    pub fn esn(&self) -> bool {
        self.esn
    }

    /// The last sequence number used (0 before the first packet).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Moves the sequence counter forward so the next packet uses
    /// `last_used + 1` (never backwards: a number is never used twice).
    pub fn advance_seq(&mut self, last_used: u64) -> Result<(), EspError> {
        if last_used < self.seq {
            return Err(EspError::SequenceBackwards {
                current: self.seq,
                requested: last_used,
            });
        }
        self.seq = last_used;
        Ok(())
    }

    /// Counters.
    pub fn stats(&self) -> OutboundStats {
        self.stats
    }

    /// Bytes the ESP packet adds to an inner packet of `inner_len` bytes.
    pub fn overhead(&self, inner_len: usize) -> usize {
        self.transform.overhead(inner_len)
    }

    /// Room [`seal_in_place`](Self::seal_in_place) needs before the payload.
    pub fn headroom(&self) -> usize {
        self.transform.header_len()
    }

    /// Room [`seal_in_place`](Self::seal_in_place) needs after a payload
    /// of `inner_len` bytes (at most `align + 1 + ICV`).
    pub fn tailroom(&self, inner_len: usize) -> usize {
        self.transform.pad_len(inner_len) + 2 + self.transform.icv_len()
    }

    /// Soft when 90% of the byte or packet lifetime (or of the sequence
    /// space) is used, hard when all of it is.
    pub fn lifetime_state(&self) -> Lifetime {
        let space = if self.esn {
            u64::MAX
        } else {
            u64::from(u32::MAX)
        };
        let seq = Limit::new(space).state(self.seq);
        self.limits
            .state(self.stats.bytes, self.stats.packets)
            .max(seq)
    }

    /// Writes a complete ESP packet carrying `inner` (next header
    /// `next_header`: 4 for IPv4, 41 for IPv6, 59 for a dummy packet) to
    /// the start of `out`; returns its length.
    pub fn seal(
        &mut self,
        inner: &[u8],
        next_header: u8,
        out: &mut [u8],
    ) -> Result<usize, EspError> {
        let hdr = self.headroom();
        let needed = self.overhead(inner.len()).saturating_add(inner.len());
        let Some(buf) = out.get_mut(..needed) else {
            self.stats.errors += 1;
            return Err(EspError::BufferTooSmall {
                needed,
                available: out.len(),
            });
        };
        let payload = hdr..hdr + inner.len();
        if let Some(dst) = buf.get_mut(payload.clone()) {
            dst.copy_from_slice(inner);
        }
        self.seal_in_place(buf, payload, next_header).map(|r| r.end)
    }

    /// Wraps the inner packet at `buf[payload]` in ESP where it lies: the
    /// header and IV go into the [`headroom`](Self::headroom) before it,
    /// padding, trailer and ICV into the [`tailroom`](Self::tailroom)
    /// after it. Returns the range of the ESP packet in `buf`.
    pub fn seal_in_place(
        &mut self,
        buf: &mut [u8],
        payload: Range<usize>,
        next_header: u8,
    ) -> Result<Range<usize>, EspError> {
        let r = self.seal_inner(buf, payload, next_header);
        if r.is_err() {
            self.stats.errors += 1;
        }
        r
    }

    fn seal_inner(
        &mut self,
        buf: &mut [u8],
        payload: Range<usize>,
        next_header: u8,
    ) -> Result<Range<usize>, EspError> {
        let t = self.transform;
        if payload.start > payload.end || payload.end > buf.len() {
            return Err(EspError::InvalidRange {
                start: payload.start,
                end: payload.end,
                len: buf.len(),
            });
        }
        let hdr = t.header_len();
        let start = payload.start.checked_sub(hdr).ok_or(EspError::Headroom {
            needed: hdr,
            available: payload.start,
        })?;
        let plen = payload.len();
        let pad = t.pad_len(plen);
        let tail = pad + 2 + t.icv_len();
        let end = payload
            .end
            .checked_add(tail)
            .filter(|&e| e <= buf.len())
            .ok_or(EspError::Tailroom {
                needed: tail,
                available: buf.len() - payload.end,
            })?;
        if self.limits.state(self.stats.bytes, self.stats.packets) == Lifetime::Hard {
            return Err(EspError::Expired { spi: self.spi });
        }
        let limit = if self.esn {
            u64::MAX
        } else {
            u64::from(u32::MAX)
        };
        if self.seq >= limit {
            return Err(EspError::SequenceExhausted {
                spi: self.spi,
                esn: self.esn,
            });
        }
        // Used from here on, even if sealing fails: never reused.
        self.seq += 1;
        let seq = self.seq;

        let pkt = buf.get_mut(start..end).ok_or(EspError::Crypto)?;
        let (head, rest) = pkt.split_at_mut_checked(hdr).ok_or(EspError::Crypto)?;
        let (esp_hdr, iv) = head
            .split_at_mut_checked(ESP_HEADER_LEN)
            .ok_or(EspError::Crypto)?;
        let mut h = [0u8; ESP_HEADER_LEN];
        let (h_spi, h_seq) = h.split_at_mut(4);
        h_spi.copy_from_slice(&self.spi.to_be_bytes());
        h_seq.copy_from_slice(&(seq as u32).to_be_bytes());
        esp_hdr.copy_from_slice(&h);
        if t.is_aead() {
            // RFC 4106 3.1 / RFC 7634 2: the IV must never repeat under one
            // key; the 64-bit sequence number never does.
            iv.copy_from_slice(&seq.to_be_bytes());
        } else {
            self.rng.fill(iv).map_err(|_| EspError::Random)?;
        }
        // Trailer: padding 1, 2, 3, ... then pad length and next header.
        let trailer = rest.get_mut(plen..plen + pad + 2).ok_or(EspError::Crypto)?;
        for (i, b) in trailer.iter_mut().enumerate() {
            *b = (i + 1) as u8;
        }
        if let [.., pl, nh] = trailer {
            *pl = pad as u8;
            *nh = next_header;
        }
        let seq_hi = self.esn.then_some((seq >> 32) as u32);
        self.engine.seal(pkt, seq_hi)?;
        self.stats.packets += 1;
        self.stats.bytes += plen as u64;
        Ok(start..end)
    }
}

/// The receiving side of an ESP SA.
pub struct InboundSa {
    spi: u32,
    transform: Transform,
    esn: bool,
    engine: Engine,
    window: ReplayWindow,
    any_next_header: bool,
    limits: LifetimeLimits,
    stats: InboundStats,
}

impl fmt::Debug for InboundSa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboundSa")
            .field("spi", &format_args!("{:#010x}", self.spi))
            .field("transform", &self.transform)
            .field("esn", &self.esn)
            .field("window", &self.window)
            .field("stats", &self.stats)
            .field("keys", &"<redacted>")
            .finish()
    }
}

/// What [`InboundSa::open_in_place`] found, before borrowing the buffer.
struct OpenedAt {
    next_header: u8,
    seq: u64,
    range: Range<usize>,
}

impl InboundSa {
    /// An inbound SA. `keys` must match `transform`; `esn` selects 64-bit
    /// sequence numbers; `replay_window` is the anti-replay window size (a
    /// multiple of 64 up to 65536, [`crate::DEFAULT_WINDOW`] = 1024).
    pub fn new(
        spi: u32,
        transform: Transform,
        keys: SaKeys<'_>,
        esn: bool,
        replay_window: usize,
    ) -> Result<Self, EspError> {
        check_spi(spi)?;
        Ok(InboundSa {
            spi,
            transform,
            esn,
            engine: Engine::new(transform, keys)?,
            window: ReplayWindow::new(replay_window)?,
            any_next_header: false,
            limits: LifetimeLimits::UNLIMITED,
            stats: InboundStats::default(),
        })
    }

    /// Sets byte and packet lifetimes.
    pub fn set_lifetime(&mut self, limits: LifetimeLimits) {
        self.limits = limits;
    }

    /// By default only inner IPv4 (4) and IPv6 (41) packets are accepted
    /// (tunnel mode); `true` hands any next header to the caller
    /// (59, dummy, is still dropped).
    pub fn set_accept_any_next_header(&mut self, any: bool) {
        self.any_next_header = any;
    }

    /// The SPI (our inbound SPI).
    pub fn spi(&self) -> u32 {
        self.spi
    }

    /// The transform.
    pub fn transform(&self) -> Transform {
        self.transform
    }

    /// Whether extended sequence numbers are in use.
    pub fn esn(&self) -> bool {
        self.esn
    }

    /// Counters.
    pub fn stats(&self) -> InboundStats {
        self.stats
    }

    /// The anti-replay window.
    pub fn replay_window(&self) -> &ReplayWindow {
        &self.window
    }

    /// The anti-replay window, to restore state (it can only be made
    /// stricter: numbers once marked stay marked).
    pub fn replay_window_mut(&mut self) -> &mut ReplayWindow {
        &mut self.window
    }

    /// Soft when 90% of the byte or packet lifetime is used, hard when
    /// all of it is.
    pub fn lifetime_state(&self) -> Lifetime {
        self.limits.state(self.stats.bytes, self.stats.packets)
    }

    /// Verifies and decrypts the ESP packet `pkt` (from the SPI to the
    /// ICV) in place, in RFC 4303 3.4 order: length and SPI, anti-replay
    /// check, ICV, window update, then padding and next header. Every
    /// refusal is a typed error and a counter; a TFC dummy packet is
    /// [`EspError::Dummy`].
    pub fn open_in_place<'a>(&mut self, pkt: &'a mut [u8]) -> Result<Opened<'a>, EspError> {
        match self.open_inner(pkt) {
            Ok(at) => {
                let inner = pkt.get_mut(at.range.clone()).unwrap_or_default();
                Ok(Opened {
                    next_header: at.next_header,
                    seq: at.seq,
                    range: at.range,
                    inner,
                })
            }
            Err(e) => {
                let s = &mut self.stats;
                match e {
                    EspError::Replay { .. } => s.replay_drops += 1,
                    EspError::AuthFailed { .. } => s.auth_failures += 1,
                    EspError::BadPadding { .. } | EspError::NextHeader { .. } => {
                        s.decrypt_errors += 1
                    }
                    EspError::Dummy { .. } => s.tfc_dropped += 1,
                    EspError::Expired { .. } => s.expired_drops += 1,
                    _ => s.malformed += 1,
                }
                Err(e)
            }
        }
    }

    fn open_inner(&mut self, pkt: &mut [u8]) -> Result<OpenedAt, EspError> {
        let t = self.transform;
        let spi = self.spi;
        let min = t.min_packet_len();
        if pkt.len() < min {
            return Err(EspError::Truncated {
                len: pkt.len(),
                min,
            });
        }
        let hdr = t.header_len();
        let ct_len = pkt.len() - hdr - t.icv_len();
        if !t.is_aead() && !ct_len.is_multiple_of(t.align()) {
            return Err(EspError::Misaligned {
                len: ct_len,
                block: t.align(),
            });
        }
        let got = be32(pkt, 0).ok_or(EspError::Crypto)?;
        if got != spi {
            return Err(EspError::SpiMismatch { expected: spi, got });
        }
        if self.lifetime_state() == Lifetime::Hard {
            return Err(EspError::Expired { spi });
        }
        let seq_low = be32(pkt, 4).ok_or(EspError::Crypto)?;
        let seq = if self.esn {
            self.window
                .infer_esn(seq_low)
                .map_err(|reason| EspError::Replay { spi, reason })?
        } else {
            u64::from(seq_low)
        };
        self.window
            .check(seq)
            .map_err(|reason| EspError::Replay { spi, reason })?;
        let seq_hi = self.esn.then_some((seq >> 32) as u32);
        self.engine
            .open(pkt, seq_hi)
            .map_err(|()| EspError::AuthFailed { spi, seq })?;
        // Authentic: only now may the window move (RFC 4303 3.4.3).
        self.window
            .update(seq)
            .map_err(|reason| EspError::Replay { spi, reason })?;

        let ct = pkt.get(hdr..hdr + ct_len).ok_or(EspError::Crypto)?;
        let bad_pad = EspError::BadPadding { spi, seq };
        let [.., pad_len, next_header] = *ct else {
            return Err(bad_pad);
        };
        let pad = usize::from(pad_len);
        let inner_len = ct_len.checked_sub(pad + 2).ok_or(bad_pad)?;
        let padding = ct.get(inner_len..ct_len - 2).ok_or(bad_pad)?;
        if !padding.iter().enumerate().all(|(i, &b)| b == (i + 1) as u8) {
            return Err(bad_pad);
        }
        if next_header == NEXT_HEADER_NONE {
            return Err(EspError::Dummy { spi, seq });
        }
        if !self.any_next_header
            && next_header != NEXT_HEADER_IPV4
            && next_header != NEXT_HEADER_IPV6
        {
            return Err(EspError::NextHeader {
                spi,
                seq,
                value: next_header,
            });
        }
        self.stats.packets += 1;
        self.stats.bytes += inner_len as u64;
        Ok(OpenedAt {
            next_header,
            seq,
            range: hdr..hdr + inner_len,
        })
    }
}
