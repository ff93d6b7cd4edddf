//! AS_PATH and AS4_PATH (RFC 4271 section 4.3, RFC 6793, RFC 5065
//! confederation segments), and the AS_TRANS helpers of RFC 6793.
//!
//! ```text
//! +-----------------+------------------+----------------------------+
//! | segment type(1) | segment length(1)| segment length AS numbers  |
//! +-----------------+------------------+----------------------------+
//! ```
//!
//! AS numbers take two octets on a session without the 4-octet AS
//! capability, four otherwise; AS4_PATH always uses four.

use std::fmt;

/// AS_TRANS (RFC 6793): stands for a 4-octet AS number where only two
/// octets fit.
pub const AS_TRANS: u32 = 23456;

/// `asn` as a 2-octet AS number: itself if it fits, [`AS_TRANS`] if not.
pub fn as2(asn: u32) -> u16 {
    u16::try_from(asn).unwrap_or(AS_TRANS as u16)
}

/// Path segment type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SegmentType {
    /// AS_SET: unordered, counts as one AS in the path length.
    Set = 1,
    /// AS_SEQUENCE: ordered.
    Sequence = 2,
    /// AS_CONFED_SEQUENCE (RFC 5065): not counted in the path length.
    ConfedSequence = 3,
    /// AS_CONFED_SET (RFC 5065): not counted in the path length.
    ConfedSet = 4,
}

impl SegmentType {
    /// The segment type of a type octet, if it is one.
    pub fn from_u8(v: u8) -> Option<SegmentType> {
        match v {
            1 => Some(SegmentType::Set),
            2 => Some(SegmentType::Sequence),
            3 => Some(SegmentType::ConfedSequence),
            4 => Some(SegmentType::ConfedSet),
            _ => None,
        }
    }

    /// Whether this is a confederation segment.
    pub fn is_confed(self) -> bool {
        matches!(self, SegmentType::ConfedSequence | SegmentType::ConfedSet)
    }
}

/// One path segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AsSegment {
    /// Its type.
    pub kind: SegmentType,
    /// Its AS numbers; never empty after parsing. Longer than 255 is split
    /// into several segments of the same type on emission.
    pub asns: Vec<u32>,
}

/// An AS_PATH (or AS4_PATH). An empty path (no segments) is valid: it is
/// what a route originated inside the AS carries over iBGP.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct AsPath {
    /// The segments, leftmost (most recently added) first.
    pub segments: Vec<AsSegment>,
}

fn be(octets: &[u8]) -> u32 {
    octets.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b))
}

impl AsPath {
    /// A path of one AS_SEQUENCE (empty if `asns` is).
    pub fn sequence(asns: impl IntoIterator<Item = u32>) -> AsPath {
        let asns: Vec<u32> = asns.into_iter().collect();
        if asns.is_empty() {
            return AsPath::default();
        }
        AsPath {
            segments: vec![AsSegment {
                kind: SegmentType::Sequence,
                asns,
            }],
        }
    }

    /// Decodes an attribute value. Malformed (RFC 7606 section 7.2): an
    /// unknown segment type, a segment overrunning the attribute, a lone
    /// octet after the last segment, a segment of length zero.
    pub fn parse(mut v: &[u8], four_octet: bool) -> Result<AsPath, &'static str> {
        let w = if four_octet { 4 } else { 2 };
        let mut segments = Vec::new();
        while !v.is_empty() {
            let (t, n, rest) = match v {
                [t, n, rest @ ..] => (*t, *n, rest),
                _ => return Err("truncated path segment header"),
            };
            let kind = SegmentType::from_u8(t).ok_or("unknown path segment type")?;
            if n == 0 {
                return Err("path segment of length zero");
            }
            let need = usize::from(n) * w;
            let (body, rest) = match (rest.get(..need), rest.get(need..)) {
                (Some(b), Some(r)) => (b, r),
                _ => return Err("path segment overruns the attribute"),
            };
            segments.push(AsSegment {
                kind,
                asns: body.chunks_exact(w).map(be).collect(),
            });
            v = rest;
        }
        Ok(AsPath { segments })
    }

    /// Octets of the encoded value.
    pub fn wire_len(&self, four_octet: bool) -> usize {
        let w = if four_octet { 4 } else { 2 };
        self.segments
            .iter()
            .map(|s| s.asns.len().div_ceil(255) * 2 + s.asns.len() * w)
            .sum()
    }

    /// Appends the encoded value. In 2-octet mode AS numbers that do not
    /// fit are sent as [`AS_TRANS`]; segments over 255 AS numbers are
    /// split, empty segments are left out.
    pub fn emit(&self, four_octet: bool, out: &mut Vec<u8>) {
        for s in &self.segments {
            for chunk in s.asns.chunks(255) {
                out.push(s.kind as u8);
                out.push(chunk.len() as u8);
                for &a in chunk {
                    if four_octet {
                        out.extend_from_slice(&a.to_be_bytes());
                    } else {
                        out.extend_from_slice(&as2(a).to_be_bytes());
                    }
                }
            }
        }
    }

    /// Path length for the decision process (RFC 4271 9.1.2.2 a, RFC
    /// 5065): each AS of a sequence counts one, each set one, confederation
    /// segments nothing.
    pub fn path_len(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s.kind {
                SegmentType::Sequence => s.asns.len(),
                SegmentType::Set => 1,
                _ => 0,
            })
            .sum()
    }

    /// The neighbor AS: the first AS of a leading AS_SEQUENCE.
    pub fn first_as(&self) -> Option<u32> {
        match self.segments.first() {
            Some(s) if s.kind == SegmentType::Sequence => s.asns.first().copied(),
            _ => None,
        }
    }

    /// The originating AS: the last AS of a trailing AS_SEQUENCE.
    pub fn origin_as(&self) -> Option<u32> {
        match self.segments.last() {
            Some(s) if s.kind == SegmentType::Sequence => s.asns.last().copied(),
            _ => None,
        }
    }

    /// Whether `asn` appears anywhere (loop detection).
    pub fn contains(&self, asn: u32) -> bool {
        self.segments.iter().any(|s| s.asns.contains(&asn))
    }

    /// Prepends `asn` as a new leftmost AS (RFC 4271 5.1.2).
    pub fn prepend(&mut self, asn: u32) {
        match self.segments.first_mut() {
            Some(s) if s.kind == SegmentType::Sequence => s.asns.insert(0, asn),
            _ => self.segments.insert(
                0,
                AsSegment {
                    kind: SegmentType::Sequence,
                    asns: vec![asn],
                },
            ),
        }
    }

    /// Whether an AS number outside confederation segments does not fit
    /// in two octets: sending this path to a 2-octet speaker needs an
    /// AS4_PATH.
    pub fn needs_as4(&self) -> bool {
        self.segments
            .iter()
            .filter(|s| !s.kind.is_confed())
            .any(|s| s.asns.iter().any(|&a| a > 0xffff))
    }

    /// The AS4_PATH to send with this path to a 2-octet speaker (RFC 6793
    /// section 4.2.2): the path without confederation segments, or `None`
    /// if every AS fits in two octets.
    pub fn to_as4_path(&self) -> Option<AsPath> {
        self.needs_as4().then(|| AsPath {
            segments: self
                .segments
                .iter()
                .filter(|s| !s.kind.is_confed())
                .cloned()
                .collect(),
        })
    }

    /// The path a 2-octet speaker really meant (RFC 6793 section 4.2.3),
    /// from this AS_PATH and the AS4_PATH received with it: leading
    /// confederation segments, then as many leading AS numbers of this path
    /// as it has more than `as4`, then `as4`. If `as4` is the longer, it is
    /// ignored and this path is returned.
    pub fn merge_as4(&self, as4: &AsPath) -> AsPath {
        let (n, n4) = (self.path_len(), as4.path_len());
        if n < n4 {
            return self.clone();
        }
        let mut keep = n - n4;
        let mut segments: Vec<AsSegment> = Vec::new();
        for s in &self.segments {
            if s.kind.is_confed() {
                segments.push(s.clone());
                continue;
            }
            if keep == 0 {
                break;
            }
            match s.kind {
                SegmentType::Set => {
                    segments.push(s.clone());
                    keep -= 1;
                }
                _ => {
                    let take = keep.min(s.asns.len());
                    segments.push(AsSegment {
                        kind: s.kind,
                        asns: s.asns.iter().take(take).copied().collect(),
                    });
                    keep -= take;
                }
            }
        }
        // Where the kept part ends in a sequence and AS4_PATH starts with
        // one, they are one sequence.
        let mut rest = as4.segments.as_slice();
        if let (Some(last), Some((first, tail))) = (segments.last_mut(), rest.split_first()) {
            if last.kind == SegmentType::Sequence && first.kind == SegmentType::Sequence {
                last.asns.extend_from_slice(&first.asns);
                rest = tail;
            }
        }
        segments.extend_from_slice(rest);
        AsPath { segments }
    }
}

impl fmt::Display for AsPath {
    /// `65001 65002 {65003,65004} (65010 65011) [65012,65013]`: sets in
    /// braces, confederation sequences in parentheses, confederation sets
    /// in brackets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.segments.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            let (open, sep, close) = match s.kind {
                SegmentType::Sequence => ("", " ", ""),
                SegmentType::Set => ("{", ",", "}"),
                SegmentType::ConfedSequence => ("(", " ", ")"),
                SegmentType::ConfedSet => ("[", ",", "]"),
            };
            f.write_str(open)?;
            for (j, a) in s.asns.iter().enumerate() {
                if j > 0 {
                    f.write_str(sep)?;
                }
                write!(f, "{a}")?;
            }
            f.write_str(close)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(kind: SegmentType, asns: &[u32]) -> AsSegment {
        AsSegment {
            kind,
            asns: asns.to_vec(),
        }
    }

    #[test]
    fn two_and_four_octet() {
        // AS_SEQUENCE 65001 65002, AS_SET {1 2}, 2-octet.
        let b = [2, 2, 0xfd, 0xe9, 0xfd, 0xea, 1, 2, 0, 1, 0, 2];
        let p = AsPath::parse(&b, false).unwrap();
        assert_eq!(
            p.segments,
            vec![
                seg(SegmentType::Sequence, &[65001, 65002]),
                seg(SegmentType::Set, &[1, 2])
            ]
        );
        assert_eq!(p.path_len(), 3);
        assert_eq!(p.to_string(), "65001 65002 {1,2}");
        let mut out = Vec::new();
        p.emit(false, &mut out);
        assert_eq!(out, b);
        assert_eq!(p.wire_len(false), b.len());

        let p = AsPath::sequence([4_200_000_000, 65001]);
        let mut out = Vec::new();
        p.emit(true, &mut out);
        assert_eq!(out, [2, 2, 0xfa, 0x56, 0xea, 0x00, 0, 0, 0xfd, 0xe9]);
        assert_eq!(AsPath::parse(&out, true).unwrap(), p);
        let mut out = Vec::new();
        p.emit(false, &mut out);
        assert_eq!(out, [2, 2, 0x5b, 0xa0, 0xfd, 0xe9]);
    }

    #[test]
    fn malformed() {
        assert!(AsPath::parse(&[2], false).is_err());
        assert!(AsPath::parse(&[5, 1, 0, 1], false).is_err());
        assert!(AsPath::parse(&[2, 0], false).is_err());
        assert!(AsPath::parse(&[2, 2, 0, 1, 0], false).is_err());
        assert!(AsPath::parse(&[2, 1, 0, 1, 0], false).is_err());
        assert_eq!(AsPath::parse(&[], true), Ok(AsPath::default()));
    }

    #[test]
    fn long_segments_split() {
        let p = AsPath::sequence(1..=300);
        let mut out = Vec::new();
        p.emit(true, &mut out);
        assert_eq!(out.len(), p.wire_len(true));
        let back = AsPath::parse(&out, true).unwrap();
        assert_eq!(back.segments.len(), 2);
        assert_eq!(back.path_len(), 300);
    }

    #[test]
    fn as4_reconstruction() {
        // RFC 6793 4.2.3: 2-octet path "65001 23456 23456 65002", AS4_PATH
        // "4200000000 4200000001 65002": result keeps the first AS.
        let p = AsPath::sequence([65001, AS_TRANS, AS_TRANS, 65002]);
        let as4 = AsPath::sequence([4_200_000_000, 4_200_000_001, 65002]);
        assert_eq!(
            p.merge_as4(&as4),
            AsPath::sequence([65001, 4_200_000_000, 4_200_000_001, 65002])
        );
        // An AS4_PATH longer than the AS_PATH is ignored.
        let short = AsPath::sequence([65001]);
        assert_eq!(short.merge_as4(&as4), short);
        // Leading confederation segments survive.
        let mut c = AsPath::sequence([AS_TRANS]);
        c.segments
            .insert(0, seg(SegmentType::ConfedSequence, &[64512]));
        let m = c.merge_as4(&AsPath::sequence([4_200_000_000]));
        assert_eq!(m.to_string(), "(64512) 4200000000");

        let full = AsPath::sequence([65001, 4_200_000_000]);
        assert!(full.needs_as4());
        assert_eq!(full.to_as4_path(), Some(full.clone()));
        assert_eq!(AsPath::sequence([65001]).to_as4_path(), None);
        assert_eq!(as2(4_200_000_000), 23456);
        assert_eq!(as2(65000), 65000);
    }

    #[test]
    fn helpers() {
        let mut p = AsPath::default();
        p.prepend(65002);
        p.prepend(65001);
        assert_eq!(p, AsPath::sequence([65001, 65002]));
        assert_eq!(p.first_as(), Some(65001));
        assert_eq!(p.origin_as(), Some(65002));
        assert!(p.contains(65002) && !p.contains(1));
    }
}
