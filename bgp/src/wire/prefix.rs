//! Prefix NLRI (RFC 4271 section 4.3, RFC 4760 section 5), optionally
//! preceded by an ADD-PATH Path Identifier (RFC 7911 section 3).
//!
//! ```text
//! +---------------------------+
//! |   Path Identifier (4)     |   only when ADD-PATH was negotiated
//! +---------------------------+
//! |   Length (1 octet, bits)  |
//! +---------------------------+
//! |   Prefix (variable)       |   ceil(Length / 8) octets
//! +---------------------------+
//! ```
//!
//! This is the hot loop of UPDATE parsing, so it is written by hand over
//! slices rather than with nom combinators. Bits past the prefix length
//! in the last octet are cleared on receipt ("irrelevant", RFC 4271) and
//! never sent.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnetwork::{Ipv4Network, Ipv6Network};

use super::codec::SliceWriter;
use super::error::EmitError;
use super::registry::Afi;

mod sealed {
    pub trait Sealed {}
    impl Sealed for ipnetwork::Ipv4Network {}
    impl Sealed for ipnetwork::Ipv6Network {}
}

/// An IPv4 or IPv6 prefix as NLRI encodes it: implemented for
/// [`Ipv4Network`] and [`Ipv6Network`] only.
pub trait Prefix: sealed::Sealed + Copy + Eq + Ord + std::hash::Hash + std::fmt::Debug {
    /// The address family.
    const AFI: Afi;
    /// Longest prefix length: 32 or 128.
    const MAX_LEN: u8;
    /// The prefix length in bits.
    fn prefix_len(&self) -> u8;
    /// The address, masked to the prefix length, in network order (IPv4
    /// uses the first four octets).
    fn masked_octets(&self) -> [u8; 16];
    /// Builds a prefix from its length and its `ceil(len / 8)` octets
    /// (masked here); `None` if `len` is too long.
    fn from_wire(len: u8, octets: &[u8]) -> Option<Self>;

    /// Octets this prefix takes in NLRI, with or without a Path Identifier.
    fn wire_len(&self, add_path: bool) -> usize {
        1 + usize::from(self.prefix_len()).div_ceil(8) + if add_path { 4 } else { 0 }
    }
}

fn mask32(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    }
}

fn mask128(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len.min(128)))
    }
}

impl Prefix for Ipv4Network {
    const AFI: Afi = Afi::IPV4;
    const MAX_LEN: u8 = 32;

    fn prefix_len(&self) -> u8 {
        self.prefix()
    }

    fn masked_octets(&self) -> [u8; 16] {
        let v = u32::from(self.ip()) & mask32(self.prefix());
        let mut out = [0u8; 16];
        if let Some(s) = out.get_mut(..4) {
            s.copy_from_slice(&v.to_be_bytes());
        }
        out
    }

    #[inline]
    fn from_wire(len: u8, octets: &[u8]) -> Option<Self> {
        let mut a = [0u8; 4];
        a.get_mut(..octets.len())?.copy_from_slice(octets);
        let v = u32::from_be_bytes(a) & mask32(len);
        Ipv4Network::new_checked(Ipv4Addr::from(v), len)
    }
}

impl Prefix for Ipv6Network {
    const AFI: Afi = Afi::IPV6;
    const MAX_LEN: u8 = 128;

    fn prefix_len(&self) -> u8 {
        self.prefix()
    }

    fn masked_octets(&self) -> [u8; 16] {
        (u128::from(self.ip()) & mask128(self.prefix())).to_be_bytes()
    }

    #[inline]
    fn from_wire(len: u8, octets: &[u8]) -> Option<Self> {
        let mut a = [0u8; 16];
        a.get_mut(..octets.len())?.copy_from_slice(octets);
        let v = u128::from_be_bytes(a) & mask128(len);
        Ipv6Network::new(Ipv6Addr::from(v), len).ok()
    }
}

/// One NLRI entry: a prefix and, on ADD-PATH sessions, its Path
/// Identifier.
///
/// On receipt `path_id` is `Some` exactly when the decode
/// [`Ctx`](super::Ctx) has ADD-PATH for the family. On emission the encode
/// context decides: with ADD-PATH the identifier is sent (`None` as 0),
/// without it `path_id` is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nlri<P> {
    /// ADD-PATH Path Identifier.
    pub path_id: Option<u32>,
    /// The prefix.
    pub prefix: P,
}

/// An IPv4 NLRI entry.
pub type Nlri4 = Nlri<Ipv4Network>;
/// An IPv6 NLRI entry.
pub type Nlri6 = Nlri<Ipv6Network>;

impl<P> Nlri<P> {
    /// A prefix without Path Identifier.
    pub fn new(prefix: P) -> Self {
        Nlri {
            path_id: None,
            prefix,
        }
    }

    /// A prefix with Path Identifier `id`.
    pub fn with_path_id(prefix: P, id: u32) -> Self {
        Nlri {
            path_id: Some(id),
            prefix,
        }
    }
}

/// Why an NLRI field could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NlriError {
    /// Fewer than four octets where a Path Identifier should be.
    TruncatedPathId,
    /// A prefix length over 32 or 128.
    BadLength(u8),
    /// The prefix octets run past the end of the field.
    Truncated(u8),
}

impl NlriError {
    pub(crate) fn describe(self, field: &str) -> String {
        match self {
            NlriError::TruncatedPathId => format!("{field}: truncated path identifier"),
            NlriError::BadLength(l) => format!("{field}: prefix length {l} too long"),
            NlriError::Truncated(l) => {
                format!("{field}: /{l} prefix runs past the end of the field")
            }
        }
    }
}

/// Decodes a whole NLRI field (withdrawn routes, NLRI, or the NLRI of an
/// MP attribute), appending to `out`.
pub(crate) fn parse_prefixes<P: Prefix>(
    mut b: &[u8],
    add_path: bool,
    out: &mut Vec<Nlri<P>>,
) -> Result<(), NlriError> {
    // A /24 takes four octets: a good guess for the common case.
    out.reserve(b.len() / if add_path { 8 } else { 4 });
    while let Some((&first, rest)) = b.split_first() {
        let (path_id, len, rest) = if add_path {
            let (id, rest) = match (b.get(..4), b.get(4..)) {
                (Some(id), Some(rest)) => (id, rest),
                _ => return Err(NlriError::TruncatedPathId),
            };
            let (&len, rest) = rest.split_first().ok_or(NlriError::TruncatedPathId)?;
            let mut a = [0u8; 4];
            a.copy_from_slice(id);
            (Some(u32::from_be_bytes(a)), len, rest)
        } else {
            (None, first, rest)
        };
        if len > P::MAX_LEN {
            return Err(NlriError::BadLength(len));
        }
        let n = usize::from(len).div_ceil(8);
        let (octets, rest) = match (rest.get(..n), rest.get(n..)) {
            (Some(o), Some(r)) => (o, r),
            _ => return Err(NlriError::Truncated(len)),
        };
        let prefix = P::from_wire(len, octets).ok_or(NlriError::BadLength(len))?;
        out.push(Nlri { path_id, prefix });
        b = rest;
    }
    Ok(())
}

/// Decodes a whole NLRI field of `P` prefixes.
pub fn parse_nlri<P: Prefix>(bytes: &[u8], add_path: bool) -> Result<Vec<Nlri<P>>, String> {
    let mut v = Vec::new();
    parse_prefixes(bytes, add_path, &mut v).map_err(|e| e.describe("NLRI"))?;
    Ok(v)
}

/// Appends one NLRI entry.
#[inline]
pub(crate) fn emit_prefix<P: Prefix>(n: &Nlri<P>, add_path: bool, out: &mut Vec<u8>) {
    if add_path {
        out.extend_from_slice(&n.path_id.unwrap_or(0).to_be_bytes());
    }
    let len = n.prefix.prefix_len();
    out.push(len);
    let octets = n.prefix.masked_octets();
    out.extend_from_slice(octets.get(..usize::from(len).div_ceil(8)).unwrap_or(&[]));
}

/// Appends a whole NLRI field: the emit half of [`parse_nlri`].
pub fn emit_nlri<P: Prefix>(list: &[Nlri<P>], add_path: bool, out: &mut Vec<u8>) {
    for n in list {
        emit_prefix(n, add_path, out);
    }
}

/// Writes one NLRI entry into a caller's buffer.
#[inline]
pub(crate) fn write_prefix<P: Prefix>(
    n: &Nlri<P>,
    add_path: bool,
    w: &mut SliceWriter<'_>,
) -> Result<(), EmitError> {
    if add_path {
        w.put(&n.path_id.unwrap_or(0).to_be_bytes())?;
    }
    let len = n.prefix.prefix_len();
    w.put_u8(len)?;
    let octets = n.prefix.masked_octets();
    w.put(octets.get(..usize::from(len).div_ceil(8)).unwrap_or(&[]))
}

/// Octets a list of NLRI takes.
pub(crate) fn nlri_len<P: Prefix>(list: &[Nlri<P>], add_path: bool) -> usize {
    list.iter().map(|n| n.prefix.wire_len(add_path)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> Nlri4 {
        Nlri::new(s.parse().unwrap())
    }

    #[test]
    fn rfc4271_examples() {
        // 10.1/16, 10.2.3/17 with a stray bit, 0/0 (FRR test_mp_attr.c
        // "IPv4" NLRI tuples, with the last octet of the /17 set to 0xff).
        let b = [16, 10, 1, 17, 10, 2, 0xff, 0];
        let v: Vec<Nlri4> = parse_nlri(&b, false).unwrap();
        assert_eq!(
            v,
            vec![v4("10.1.0.0/16"), v4("10.2.128.0/17"), v4("0.0.0.0/0")]
        );
        let mut out = Vec::new();
        emit_nlri(&v, false, &mut out);
        assert_eq!(out, [16, 10, 1, 17, 10, 2, 0x80, 0]);

        assert_eq!(
            parse_prefixes::<Ipv4Network>(&[33, 1, 2, 3, 4, 5], false, &mut Vec::new()),
            Err(NlriError::BadLength(33))
        );
        assert_eq!(
            parse_prefixes::<Ipv4Network>(&[16, 10, 1, 30, 10, 0], false, &mut Vec::new()),
            Err(NlriError::Truncated(30))
        );
    }

    #[test]
    fn add_path_and_v6() {
        let b = [0, 0, 0, 7, 24, 192, 0, 2, 0, 0, 0, 1, 0];
        let v: Vec<Nlri4> = parse_nlri(&b, true).unwrap();
        assert_eq!(v[0], Nlri::with_path_id("192.0.2.0/24".parse().unwrap(), 7));
        assert_eq!(v[1], Nlri::with_path_id("0.0.0.0/0".parse().unwrap(), 1));
        let mut out = Vec::new();
        emit_nlri(&v, true, &mut out);
        assert_eq!(out, b);
        assert_eq!(
            parse_prefixes::<Ipv4Network>(&[0, 0, 0], true, &mut Vec::new()),
            Err(NlriError::TruncatedPathId)
        );

        let b = [64, 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2, 128];
        let e = parse_prefixes::<Ipv6Network>(&b, false, &mut Vec::new());
        assert_eq!(e, Err(NlriError::Truncated(128)));
        let v: Vec<Nlri6> = parse_nlri(&b[..9], false).unwrap();
        assert_eq!(v, vec![Nlri::new("2001:db8:1:2::/64".parse().unwrap())]);
        assert!(parse_nlri::<Ipv6Network>(&[129], false).is_err());
    }
}
