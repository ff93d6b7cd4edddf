//! A minimal DER reader and writer for the few structures ring and
//! x509-parser do not cover for us: RFC 7427 AlgorithmIdentifiers, the
//! outer layers of keys, certificates and CRLs, and Names. Every read is
//! bounds-checked; malformed input gives None.

/// SEQUENCE.
pub(super) const SEQ: u8 = 0x30;
/// SET.
pub(super) const SET: u8 = 0x31;
/// INTEGER.
pub(super) const INT: u8 = 0x02;
/// BIT STRING.
pub(super) const BITS: u8 = 0x03;
/// OCTET STRING.
pub(super) const OCTETS: u8 = 0x04;
/// NULL.
pub(super) const NULL: u8 = 0x05;
/// OBJECT IDENTIFIER.
pub(super) const OID: u8 = 0x06;

/// One TLV: its tag, its contents and the whole encoding.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tlv<'a> {
    pub tag: u8,
    pub body: &'a [u8],
    pub raw: &'a [u8],
}

/// Read one TLV (single-byte tag, definite length up to 4 length octets,
/// minimal encoding not enforced) and the rest.
pub(super) fn read(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let (&tag, after_tag) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, mut rest) = after_tag.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let (octets, r) = split(rest, n)?;
        rest = r;
        octets
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    let (body, rest) = split(rest, len)?;
    let used = input.len() - rest.len();
    let raw = input.get(..used)?;
    Some((Tlv { tag, body, raw }, rest))
}

/// Read one TLV with this tag.
pub(super) fn expect(input: &[u8], tag: u8) -> Option<(Tlv<'_>, &[u8])> {
    let (t, rest) = read(input)?;
    (t.tag == tag).then_some((t, rest))
}

/// Exactly one TLV with this tag, nothing after it.
pub(super) fn only(input: &[u8], tag: u8) -> Option<Tlv<'_>> {
    let (t, rest) = expect(input, tag)?;
    rest.is_empty().then_some(t)
}

fn split(input: &[u8], n: usize) -> Option<(&[u8], &[u8])> {
    (input.len() >= n).then(|| input.split_at(n))
}

/// Encode a TLV.
pub(super) fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 6);
    out.push(tag);
    let len = body.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u64).to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        let sig = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | sig.len() as u8);
        out.extend_from_slice(sig);
    }
    out.extend_from_slice(body);
    out
}

/// Concatenate encodings.
pub(super) fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// The contents octets of an unsigned INTEGER without leading zeros.
pub(super) fn strip_zeros(b: &[u8]) -> &[u8] {
    let skip = b.iter().take_while(|&&x| x == 0).count();
    b.get(skip..).unwrap_or_default()
}

/// A small non-negative INTEGER's value.
pub(super) fn small_uint(body: &[u8]) -> Option<u64> {
    if body.is_empty() || body.first().is_some_and(|&b| b & 0x80 != 0) {
        return None;
    }
    let b = strip_zeros(body);
    (b.len() <= 8).then(|| b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
}

/// Object identifier contents octets (without tag and length).
pub(super) mod oid {
    pub const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    pub const SHA1_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05];
    pub const SHA256_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
    pub const SHA384_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c];
    pub const SHA512_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d];
    pub const RSASSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
    pub const MGF1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08];
    pub const SHA1: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];
    pub const SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
    pub const SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];
    pub const SHA512: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03];
    pub const ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
    pub const ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
    pub const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    pub const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    pub const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
}

/// Encode a dotted OID ("2.5.4.3"); None when it is not one.
pub(super) fn oid_from_dotted(text: &str) -> Option<Vec<u8>> {
    let arcs: Vec<u64> = text
        .split('.')
        .map(|a| {
            (!a.is_empty() && a.len() <= 18 && a.bytes().all(|b| b.is_ascii_digit()))
                .then(|| a.parse().ok())
                .flatten()
        })
        .collect::<Option<_>>()?;
    let (&a0, rest) = arcs.split_first()?;
    let (&a1, rest) = rest.split_first()?;
    if a0 > 2 || (a0 < 2 && a1 > 39) {
        return None;
    }
    let mut out = Vec::new();
    for arc in std::iter::once(a0.checked_mul(40)?.checked_add(a1)?).chain(rest.iter().copied()) {
        let mut groups = vec![(arc & 0x7f) as u8];
        let mut v = arc >> 7;
        while v > 0 {
            groups.push(0x80 | (v & 0x7f) as u8);
            v >>= 7;
        }
        out.extend(groups.iter().rev());
    }
    Some(out)
}

/// The dotted text of OID contents octets; None when malformed.
pub(super) fn oid_to_dotted(body: &[u8]) -> Option<String> {
    let mut arcs = Vec::new();
    let mut v: u64 = 0;
    let mut open = false;
    for &b in body {
        if v > (u64::MAX >> 8) {
            return None;
        }
        v = (v << 7) | u64::from(b & 0x7f);
        open = b & 0x80 != 0;
        if !open {
            arcs.push(v);
            v = 0;
        }
    }
    if open || arcs.is_empty() {
        return None;
    }
    let first = *arcs.first()?;
    let (a0, a1) = match first {
        0..=39 => (0, first),
        40..=79 => (1, first - 40),
        _ => (2, first - 80),
    };
    let mut s = format!("{a0}.{a1}");
    for a in arcs.get(1..).unwrap_or_default() {
        s.push_str(&format!(".{a}"));
    }
    Some(s)
}
