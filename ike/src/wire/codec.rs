//! Small parse and emit helpers shared by the payload modules.
//!
//! Parsing uses nom over `&[u8]` with [`WireError`] as the error type, so
//! every failure names its field. Emitting appends to a `Vec<u8>` and
//! back-patches length fields with checked conversions.

use nom::error::ParseError;
use nom::{Err, IResult, Parser};

use super::error::WireError;

/// nom's result with our error type.
pub(crate) type PResult<'a, T> = IResult<&'a [u8], T, WireError>;

/// Runs a fixed-size nom parser (built with nom's own error type `()`),
/// turning a failure into [`WireError::Truncated`] for `field`.
pub(crate) fn fixed<'a, O, P>(
    field: &'static str,
    needed: usize,
    mut p: P,
    i: &'a [u8],
) -> PResult<'a, O>
where
    P: Parser<&'a [u8], O, ()>,
{
    p.parse(i).map_err(|_| {
        Err::Error(WireError::Truncated {
            field,
            needed,
            available: i.len(),
        })
    })
}

/// Takes `n` octets for `field`.
pub(crate) fn take<'a>(field: &'static str, n: usize, i: &'a [u8]) -> PResult<'a, &'a [u8]> {
    fixed(field, n, nom::bytes::complete::take(n), i)
}

/// A semantic failure: stops parsing with `e`.
pub(crate) fn fail<T>(e: WireError) -> Result<T, Err<WireError>> {
    Err(Err::Failure(e))
}

/// Splits off a structure whose length field (counting its own fixed header
/// of `header_len` octets, already consumed) says `len`: returns the rest of
/// the input and the structure's body.
pub(crate) fn body<'a>(
    field: &'static str,
    len: usize,
    header_len: usize,
    rest: &'a [u8],
) -> PResult<'a, &'a [u8]> {
    if len < header_len || len - header_len > rest.len() {
        return fail(WireError::BadLength {
            field,
            value: len,
            min: header_len,
            max: header_len + rest.len(),
        });
    }
    let (body, rest) = rest.split_at(len - header_len);
    Ok((rest, body))
}

/// Turns a nom result into the public one.
pub(crate) fn finish<T>(r: PResult<'_, T>) -> Result<(&[u8], T), WireError> {
    r.map_err(|e| match e {
        Err::Error(e) | Err::Failure(e) => e,
        Err::Incomplete(_) => WireError::from_error_kind((), nom::error::ErrorKind::Complete),
    })
}

/// Parses all of `i` with `p`, which must consume it.
pub(crate) fn all<'a, T>(
    after: &'static str,
    i: &'a [u8],
    p: impl FnOnce(&'a [u8]) -> PResult<'a, T>,
) -> Result<T, WireError> {
    let (rest, v) = finish(p(i))?;
    if !rest.is_empty() {
        return Err(WireError::TrailingBytes {
            after,
            count: rest.len(),
        });
    }
    Ok(v)
}

/// `len` as a u8 field.
pub(crate) fn fit_u8(field: &'static str, len: usize) -> Result<u8, WireError> {
    u8::try_from(len).map_err(|_| WireError::TooLong {
        field,
        length: len,
        max: u8::MAX.into(),
    })
}

/// `len` as a u16 field.
pub(crate) fn fit_u16(field: &'static str, len: usize) -> Result<u16, WireError> {
    u16::try_from(len).map_err(|_| WireError::TooLong {
        field,
        length: len,
        max: u16::MAX.into(),
    })
}

/// Writes a two-octet length placeholder and returns its position.
pub(crate) fn len16_placeholder(out: &mut Vec<u8>) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0, 0]);
    at
}

/// Fills the placeholder at `at` with the length from `start` to the end
/// of `out`.
pub(crate) fn patch_len16(
    out: &mut [u8],
    at: usize,
    start: usize,
    field: &'static str,
) -> Result<(), WireError> {
    let len = fit_u16(field, out.len().saturating_sub(start))?;
    if let Some(slot) = out.get_mut(at..at + 2) {
        slot.copy_from_slice(&len.to_be_bytes());
    }
    Ok(())
}
