//! Small parse and emit helpers shared by the message modules.
//!
//! Parsing uses nom's number and byte parsers over `&[u8]` with the unit
//! error type: callers know which field they read and turn a failure into
//! the [`WireError`](super::WireError) (and NOTIFICATION) that fits it.
//! Emitting appends to a `Vec<u8>` and back-patches length fields, or,
//! for the UPDATE builder, writes into a caller's `&mut [u8]`.

use nom::number::complete::{be_u16, be_u32, be_u8};
use nom::IResult;

use super::error::EmitError;
use super::registry::{AttrType, MessageType, FLAG_EXTENDED_LENGTH};

// The message frame (RFC 4271 section 4.1), which begin_message,
// finish_message and SliceWriter write. header.rs, which parses it, takes
// these from here: it imports this file, so this file does not import it.

/// The Marker: sixteen all-ones octets.
pub const MARKER: [u8; 16] = [0xff; 16];
/// Length of the header, and of a KEEPALIVE.
pub const HEADER_LEN: usize = 19;
/// Largest message (RFC 4271; RFC 8654 extended messages are not
/// supported).
pub const MAX_MESSAGE_LEN: usize = 4096;

/// nom's result with the unit error: the caller names the field.
pub(crate) type Res<'a, T> = IResult<&'a [u8], T, ()>;

/// One octet.
pub(crate) fn u8p(i: &[u8]) -> Res<'_, u8> {
    be_u8(i)
}

/// Two octets, network order.
pub(crate) fn u16p(i: &[u8]) -> Res<'_, u16> {
    be_u16(i)
}

/// `n` octets.
pub(crate) fn takep(n: usize) -> impl Fn(&[u8]) -> Res<'_, &[u8]> {
    move |i| nom::bytes::complete::take(n)(i)
}

/// An IPv4 address.
pub(crate) fn ipv4p(i: &[u8]) -> Res<'_, std::net::Ipv4Addr> {
    let (i, v) = be_u32(i)?;
    Ok((i, std::net::Ipv4Addr::from(v)))
}

/// An IPv6 address.
pub(crate) fn ipv6p(i: &[u8]) -> Res<'_, std::net::Ipv6Addr> {
    let (i, v) = nom::number::complete::be_u128(i)?;
    Ok((i, std::net::Ipv6Addr::from(v)))
}

/// `len` as a u16 field of `what`.
pub(crate) fn fit_u16(what: &'static str, len: usize) -> Result<u16, EmitError> {
    u16::try_from(len).map_err(|_| EmitError::TooLong {
        what,
        length: len,
        max: u16::MAX.into(),
    })
}

/// `len` as a u8 field of `what`.
pub(crate) fn fit_u8(what: &'static str, len: usize) -> Result<u8, EmitError> {
    u8::try_from(len).map_err(|_| EmitError::TooLong {
        what,
        length: len,
        max: u8::MAX.into(),
    })
}

/// Appends a message header with a zero length; returns where the
/// message starts, for [`finish_message`].
pub(crate) fn begin_message(out: &mut Vec<u8>, t: MessageType) -> usize {
    let start = out.len();
    out.extend_from_slice(&MARKER);
    out.extend_from_slice(&[0, 0, t.0]);
    start
}

/// Fills in the length of the message that starts at `start` and runs to
/// the end of `out`; returns that length. A message over 4096 octets is
/// removed again and reported.
pub(crate) fn finish_message(out: &mut Vec<u8>, start: usize) -> Result<usize, EmitError> {
    let len = out.len().saturating_sub(start);
    if len > MAX_MESSAGE_LEN {
        out.truncate(start);
        return Err(EmitError::TooLong {
            what: "BGP message",
            length: len,
            max: MAX_MESSAGE_LEN,
        });
    }
    patch_u16(out, start + 16, len as u16);
    Ok(len)
}

/// Overwrites two octets at `at` (which the caller has written before).
pub(crate) fn patch_u16(out: &mut [u8], at: usize, v: u16) {
    if let Some(slot) = out.get_mut(at..at + 2) {
        slot.copy_from_slice(&v.to_be_bytes());
    }
}

/// Appends a path attribute header for a value of `len` octets: the
/// Extended Length flag is set when `len` needs it (> 255) or `flags`
/// already has it.
pub(crate) fn attr_header(
    out: &mut Vec<u8>,
    flags: u8,
    t: AttrType,
    len: usize,
) -> Result<(), EmitError> {
    let len16 = fit_u16("path attribute", len)?;
    if len > 255 || flags & FLAG_EXTENDED_LENGTH != 0 {
        out.push(flags | FLAG_EXTENDED_LENGTH);
        out.push(t.0);
        out.extend_from_slice(&len16.to_be_bytes());
    } else {
        out.push(flags);
        out.push(t.0);
        out.push(len as u8);
    }
    Ok(())
}

/// A cursor over a caller's buffer: every write is bounds-checked and a
/// short buffer is an [`EmitError`], never a panic.
pub(crate) struct SliceWriter<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> SliceWriter<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        SliceWriter { buf, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    fn short(&self, need: usize) -> EmitError {
        EmitError::TooLong {
            what: "output buffer",
            length: self.pos + need,
            max: self.buf.len(),
        }
    }

    pub(crate) fn put(&mut self, bytes: &[u8]) -> Result<(), EmitError> {
        let end = self.pos + bytes.len();
        match self.buf.get_mut(self.pos..end) {
            Some(slot) => {
                slot.copy_from_slice(bytes);
                self.pos = end;
                Ok(())
            }
            None => Err(self.short(bytes.len())),
        }
    }

    pub(crate) fn put_u8(&mut self, v: u8) -> Result<(), EmitError> {
        self.put(&[v])
    }

    pub(crate) fn put_u16(&mut self, v: u16) -> Result<(), EmitError> {
        self.put(&v.to_be_bytes())
    }

    /// Overwrites two octets already written at `at`.
    pub(crate) fn patch_u16(&mut self, at: usize, v: u16) {
        if at + 2 <= self.pos {
            patch_u16(self.buf, at, v);
        }
    }

    /// Writes a message header with a zero length.
    pub(crate) fn begin_message(&mut self, t: MessageType) -> Result<(), EmitError> {
        self.put(&MARKER)?;
        self.put(&[0, 0, t.0])
    }

    /// Fills in the length of the message written so far (which began at
    /// offset 0) and returns it.
    pub(crate) fn finish_message(&mut self) -> Result<usize, EmitError> {
        let len = self.pos;
        if !(HEADER_LEN..=MAX_MESSAGE_LEN).contains(&len) {
            return Err(EmitError::TooLong {
                what: "BGP message",
                length: len,
                max: MAX_MESSAGE_LEN,
            });
        }
        self.patch_u16(16, len as u16);
        Ok(len)
    }
}
