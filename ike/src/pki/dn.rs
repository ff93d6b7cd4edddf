//! Distinguished names as text (RFC 4514 style, in certificate order, as
//! strongSwan writes them) and back, and dates.

use super::der;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Attribute types by name: (name, OID contents). The first name of an
/// OID is the one written.
const ATTRS: &[(&str, &[u8])] = &[
    ("C", &[0x55, 0x04, 0x06]),
    ("ST", &[0x55, 0x04, 0x08]),
    ("L", &[0x55, 0x04, 0x07]),
    ("O", &[0x55, 0x04, 0x0a]),
    ("OU", &[0x55, 0x04, 0x0b]),
    ("CN", &[0x55, 0x04, 0x03]),
    ("SN", &[0x55, 0x04, 0x04]),
    ("serialNumber", &[0x55, 0x04, 0x05]),
    ("street", &[0x55, 0x04, 0x09]),
    ("T", &[0x55, 0x04, 0x0c]),
    ("title", &[0x55, 0x04, 0x0c]),
    ("postalCode", &[0x55, 0x04, 0x11]),
    ("G", &[0x55, 0x04, 0x2a]),
    ("GN", &[0x55, 0x04, 0x2a]),
    ("initials", &[0x55, 0x04, 0x2b]),
    ("dnQualifier", &[0x55, 0x04, 0x2e]),
    ("pseudonym", &[0x55, 0x04, 0x41]),
    ("E", EMAIL),
    ("emailAddress", EMAIL),
    ("Email", EMAIL),
    ("DC", DC),
    (
        "UID",
        &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01],
    ),
];

/// emailAddress (PKCS#9).
pub(super) const EMAIL: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01];
/// domainComponent.
const DC: &[u8] = &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19];
/// commonName.
pub(super) const CN: &[u8] = &[0x55, 0x04, 0x03];

const UTF8: u8 = 0x0c;
const PRINTABLE: u8 = 0x13;
const T61: u8 = 0x14;
const IA5: u8 = 0x16;
const UNIVERSAL: u8 = 0x1c;
const BMP: u8 = 0x1e;

/// One attribute: OID contents and the value TLV.
pub(super) struct Attr<'a> {
    pub oid: &'a [u8],
    pub value: der::Tlv<'a>,
}

/// The RDNs of a DER Name; None when it does not parse.
pub(super) fn rdns(name: &[u8]) -> Option<Vec<Vec<Attr<'_>>>> {
    let seq = der::only(name, der::SEQ)?;
    let mut out = Vec::new();
    let mut rest = seq.body;
    while !rest.is_empty() {
        let (set, r) = der::expect(rest, der::SET)?;
        rest = r;
        let mut rdn = Vec::new();
        let mut body = set.body;
        while !body.is_empty() {
            let (atv, b) = der::expect(body, der::SEQ)?;
            body = b;
            let (o, v) = der::expect(atv.body, der::OID)?;
            der::oid_to_dotted(o.body)?;
            let (value, end) = der::read(v)?;
            end.is_empty().then_some(())?;
            rdn.push(Attr { oid: o.body, value });
        }
        if rdn.is_empty() {
            return None;
        }
        out.push(rdn);
    }
    Some(out)
}

/// The text of a string value; None for non-string types.
pub(super) fn value_text(v: &der::Tlv<'_>) -> Option<String> {
    match v.tag {
        UTF8 | PRINTABLE | IA5 | 0x12 | 0x1a => std::str::from_utf8(v.body).ok().map(str::to_owned),
        T61 => Some(v.body.iter().map(|&b| char::from(b)).collect()),
        BMP => {
            let units: Vec<u16> = v
                .body
                .chunks(2)
                .map(|c| match c {
                    [a, b] => Some(u16::from_be_bytes([*a, *b])),
                    _ => None,
                })
                .collect::<Option<_>>()?;
            String::from_utf16(&units).ok()
        }
        UNIVERSAL => v
            .body
            .chunks(4)
            .map(|c| match c {
                [a, b, x, y] => char::from_u32(u32::from_be_bytes([*a, *b, *x, *y])),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

fn attr_name(oid: &[u8]) -> String {
    ATTRS
        .iter()
        .find(|(_, o)| *o == oid)
        .map(|(n, _)| (*n).to_string())
        .or_else(|| der::oid_to_dotted(oid))
        .unwrap_or_default()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// RFC 4514 escaping, plus every control or invisible character as \XX
/// bytes, so that a peer's name is safe on a terminal.
fn escape(s: &str, out: &mut String) {
    let last = s.chars().count().saturating_sub(1);
    for (i, c) in s.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
            out.push(c);
        } else if c.is_control()
            || matches!(u32::from(c), 0x200b..=0x200f | 0x202a..=0x202e | 0x2066..=0x2069 | 0xfeff)
        {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
}

pub(super) fn dn_to_string(name: &[u8]) -> Option<String> {
    let mut out = String::new();
    for (i, rdn) in rdns(name)?.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        for (j, a) in rdn.iter().enumerate() {
            if j > 0 {
                out.push_str(" + ");
            }
            out.push_str(&attr_name(a.oid));
            out.push('=');
            match value_text(&a.value) {
                Some(t) => escape(&t, &mut out),
                None => {
                    out.push('#');
                    out.push_str(&hex(a.value.raw));
                }
            }
        }
    }
    Some(out)
}

/// A Name's RDNs reduced for comparison: OIDs and case-folded values.
/// RDNs of (OID, case-folded value).
type Normalized = Vec<Vec<(Vec<u8>, String)>>;

pub(super) fn normalized(name: &[u8]) -> Option<Normalized> {
    Some(
        rdns(name)?
            .iter()
            .map(|rdn| {
                rdn.iter()
                    .map(|a| {
                        let v = value_text(&a.value)
                            .map_or_else(|| hex(a.value.raw), |t| t.to_lowercase());
                        (a.oid.to_vec(), v)
                    })
                    .collect()
            })
            .collect(),
    )
}

/// Whether two DER Names are the same name (same RDNs in the same order,
/// values compared case-insensitively whatever their string type).
pub(super) fn same_name(a: &[u8], b: &[u8]) -> bool {
    a == b || matches!((normalized(a), normalized(b)), (Some(x), Some(y)) if x == y)
}

/// Split on an unescaped separator.
fn split_unescaped(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut escaped) = (0, false);
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            parts.push(s.get(start..i).unwrap_or_default());
            start = i + c.len_utf8();
        }
    }
    parts.push(s.get(start..).unwrap_or_default());
    parts
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

/// An attribute value as written: "#hex" (a DER TLV) or escaped text.
fn parse_value(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let Some(n) = chars.next() else {
            return Err(format!("dangling \\ in \"{text}\""));
        };
        if n.is_ascii_hexdigit() && chars.peek().is_some_and(char::is_ascii_hexdigit) {
            let m = chars.next().unwrap_or('0');
            let v = n.to_digit(16).unwrap_or(0) * 16 + m.to_digit(16).unwrap_or(0);
            out.push(v as u8);
        } else {
            let mut buf = [0u8; 4];
            out.extend_from_slice(n.encode_utf8(&mut buf).as_bytes());
        }
    }
    Ok(out)
}

fn is_printable(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b))
}

pub(super) fn dn_from_string(text: &str) -> Result<Vec<u8>, String> {
    if text.trim().is_empty() {
        return Err("empty distinguished name".into());
    }
    let mut name = Vec::new();
    for rdn_text in split_unescaped(text, ',') {
        let mut set = Vec::new();
        for atv in split_unescaped(rdn_text, '+') {
            let (ty, value) = atv
                .split_once('=')
                .ok_or_else(|| format!("\"{}\" is not TYPE=value", atv.trim()))?;
            let ty = ty.trim();
            let oid = ATTRS
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(ty))
                .map(|(_, o)| o.to_vec())
                .or_else(|| {
                    let dotted = ty
                        .strip_prefix("OID.")
                        .or_else(|| ty.strip_prefix("oid."))
                        .unwrap_or(ty);
                    der::oid_from_dotted(dotted)
                })
                .ok_or_else(|| format!("unknown attribute type \"{ty}\""))?;
            let value = value.trim_start();
            // Trailing blanks are cut unless escaped.
            let value = match value.strip_suffix(' ') {
                Some(_) if !value.trim_end().ends_with('\\') => value.trim_end(),
                _ => value,
            };
            let encoded = if let Some(h) = value.strip_prefix('#') {
                let raw = unhex(h).ok_or_else(|| format!("bad hex value \"{value}\""))?;
                der::only(&raw, der::read(&raw).map_or(0, |(t, _)| t.tag))
                    .ok_or_else(|| format!("bad hex value \"{value}\""))?;
                raw
            } else {
                let bytes = parse_value(value)?;
                let s = String::from_utf8(bytes)
                    .map_err(|_| format!("value \"{value}\" is not UTF-8"))?;
                if s.is_empty() {
                    return Err(format!("empty value for {ty}"));
                }
                let tag = if oid == EMAIL || oid == DC {
                    if s.is_ascii() {
                        IA5
                    } else {
                        UTF8
                    }
                } else if is_printable(&s) {
                    PRINTABLE
                } else {
                    UTF8
                };
                der::tlv(tag, s.as_bytes())
            };
            set.push(der::tlv(
                der::SEQ,
                &der::cat(&[&der::tlv(der::OID, &oid), &encoded]),
            ));
        }
        name.extend(der::tlv(der::SET, &set.concat()));
    }
    Ok(der::tlv(der::SEQ, &name))
}

/// Seconds since the epoch (negative before it).
pub(super) fn unix(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// The time of seconds since the epoch.
pub(super) fn from_unix(secs: i64) -> SystemTime {
    let d = Duration::from_secs(secs.unsigned_abs());
    if secs >= 0 {
        UNIX_EPOCH.checked_add(d).unwrap_or(UNIX_EPOCH)
    } else {
        UNIX_EPOCH.checked_sub(d).unwrap_or(UNIX_EPOCH)
    }
}

/// "YYYY-MM-DD" (UTC), civil-from-days (proleptic Gregorian).
pub(super) fn date(t: SystemTime) -> String {
    let days = unix(t).div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}
