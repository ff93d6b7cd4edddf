//! Traffic Selector payloads TSi/TSr (RFC 7296 section 3.13).
//!
//! ```text
//! Payload body: Number of TSs(1) RESERVED(3) Traffic Selectors...
//! Selector:     TS Type(1) IP Protocol ID(1) Selector Length(2)
//!               Start Port(2) End Port(2) Starting Address End Address
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use nom::number::complete::{be_u16, be_u8};
use nom::sequence::tuple;

use super::codec::{all, body, fail, fit_u8, fixed, len16_placeholder, patch_len16, take, PResult};
use super::error::WireError;
use super::registry::TsType;

/// A TS_IPV4_ADDR_RANGE or TS_IPV6_ADDR_RANGE selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TsRange {
    /// IP protocol number, 0 for any.
    pub ip_protocol: u8,
    /// First port of the range.
    pub start_port: u16,
    /// Last port of the range.
    pub end_port: u16,
    /// First address; its family decides the TS Type.
    pub start: IpAddr,
    /// Last address; must be of the same family as `start`.
    pub end: IpAddr,
}

/// One traffic selector.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TrafficSelector {
    /// An address range (TS Type 7 or 8).
    Range(TsRange),
    /// A selector of another type (e.g. TS_SECLABEL), kept as octets.
    Other {
        /// TS Type.
        ts_type: TsType,
        /// The octet after the type (IP Protocol ID for the range types,
        /// reserved in others).
        second: u8,
        /// Everything after the four-octet selector header.
        data: Vec<u8>,
    },
}

impl TrafficSelector {
    /// 0.0.0.0-255.255.255.255, any protocol, ports 0-65535.
    pub fn ipv4_any() -> TrafficSelector {
        TrafficSelector::Range(TsRange {
            ip_protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            start: Ipv4Addr::UNSPECIFIED.into(),
            end: Ipv4Addr::BROADCAST.into(),
        })
    }

    /// ::-ffff:..:ffff, any protocol, ports 0-65535.
    pub fn ipv6_any() -> TrafficSelector {
        TrafficSelector::Range(TsRange {
            ip_protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            start: Ipv6Addr::UNSPECIFIED.into(),
            end: Ipv6Addr::from(u128::MAX).into(),
        })
    }

    /// An address range selector, all ports, any protocol.
    pub fn range(start: IpAddr, end: IpAddr) -> TrafficSelector {
        TrafficSelector::Range(TsRange {
            ip_protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            start,
            end,
        })
    }

    /// The TS Type.
    pub fn ts_type(&self) -> TsType {
        match self {
            TrafficSelector::Range(r) => match r.start {
                IpAddr::V4(_) => TsType::TS_IPV4_ADDR_RANGE,
                IpAddr::V6(_) => TsType::TS_IPV6_ADDR_RANGE,
            },
            TrafficSelector::Other { ts_type, .. } => *ts_type,
        }
    }

    /// The address range, if this is one.
    pub fn as_range(&self) -> Option<&TsRange> {
        match self {
            TrafficSelector::Range(r) => Some(r),
            TrafficSelector::Other { .. } => None,
        }
    }

    /// Whether this selects all addresses of its family, all protocols and
    /// all ports (the 0.0.0.0/0 and ::/0 selectors of a route-based tunnel).
    pub fn is_any(&self) -> bool {
        *self == TrafficSelector::ipv4_any() || *self == TrafficSelector::ipv6_any()
    }

    fn parse(i: &[u8]) -> PResult<'_, TrafficSelector> {
        let (i, (ts_type, second, len)) = fixed(
            "traffic selector header",
            4,
            tuple((be_u8, be_u8, be_u16)),
            i,
        )?;
        let ts_type = TsType(ts_type);
        let (rest, b) = body("TS Selector Length", usize::from(len), 4, i)?;
        let alen = match ts_type {
            TsType::TS_IPV4_ADDR_RANGE => 4,
            TsType::TS_IPV6_ADDR_RANGE => 16,
            _ => {
                return Ok((
                    rest,
                    TrafficSelector::Other {
                        ts_type,
                        second,
                        data: b.to_vec(),
                    },
                ))
            }
        };
        let want = 8 + 2 * alen;
        if usize::from(len) != want {
            return fail(WireError::BadLength {
                field: "TS Selector Length",
                value: len.into(),
                min: want,
                max: want,
            });
        }
        let (b, (start_port, end_port)) =
            fixed("traffic selector ports", 4, tuple((be_u16, be_u16)), b)?;
        let (b, start) = take("traffic selector Starting Address", alen, b)?;
        let (_, end) = take("traffic selector Ending Address", alen, b)?;
        let (start, end) = match (<[u8; 4]>::try_from(start), <[u8; 4]>::try_from(end)) {
            (Ok(s), Ok(e)) => (IpAddr::from(s), IpAddr::from(e)),
            _ => match (<[u8; 16]>::try_from(start), <[u8; 16]>::try_from(end)) {
                (Ok(s), Ok(e)) => (IpAddr::from(s), IpAddr::from(e)),
                _ => {
                    return fail(WireError::BadLength {
                        field: "TS address",
                        value: start.len(),
                        min: 4,
                        max: 16,
                    })
                }
            },
        };
        Ok((
            rest,
            TrafficSelector::Range(TsRange {
                ip_protocol: second,
                start_port,
                end_port,
                start,
                end,
            }),
        ))
    }

    fn emit(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        let start_pos = out.len();
        out.push(self.ts_type().0);
        match self {
            TrafficSelector::Range(r) => {
                out.push(r.ip_protocol);
                let at = len16_placeholder(out);
                out.extend_from_slice(&r.start_port.to_be_bytes());
                out.extend_from_slice(&r.end_port.to_be_bytes());
                match (r.start, r.end) {
                    (IpAddr::V4(s), IpAddr::V4(e)) => {
                        out.extend_from_slice(&s.octets());
                        out.extend_from_slice(&e.octets());
                    }
                    (IpAddr::V6(s), IpAddr::V6(e)) => {
                        out.extend_from_slice(&s.octets());
                        out.extend_from_slice(&e.octets());
                    }
                    (_, e) => {
                        return Err(WireError::InvalidValue {
                            field: "traffic selector Ending Address family",
                            value: if e.is_ipv4() { 4 } else { 6 },
                            reason: "start and end addresses must be of one family",
                        })
                    }
                }
                patch_len16(out, at, start_pos, "TS Selector Length")
            }
            TrafficSelector::Other { second, data, .. } => {
                out.push(*second);
                let at = len16_placeholder(out);
                out.extend_from_slice(data);
                patch_len16(out, at, start_pos, "TS Selector Length")
            }
        }
    }
}

/// The body of a TSi or TSr payload.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TsPayload {
    /// The selectors, in order.
    pub selectors: Vec<TrafficSelector>,
}

impl TsPayload {
    /// A TS payload with the given selectors.
    pub fn new(selectors: Vec<TrafficSelector>) -> TsPayload {
        TsPayload { selectors }
    }

    /// The selectors of a route-based tunnel: 0.0.0.0/0 and ::/0, any
    /// protocol, all ports.
    pub fn any() -> TsPayload {
        TsPayload::new(vec![
            TrafficSelector::ipv4_any(),
            TrafficSelector::ipv6_any(),
        ])
    }

    /// Parses a TS payload body.
    pub fn parse(b: &[u8]) -> Result<TsPayload, WireError> {
        all("traffic selectors", b, |b| {
            let (mut b, (count, _)) = fixed(
                "TS payload header",
                4,
                tuple((be_u8, nom::bytes::complete::take(3usize))),
                b,
            )?;
            let mut selectors = Vec::with_capacity(usize::from(count));
            while !b.is_empty() {
                let (r, ts) = TrafficSelector::parse(b)?;
                selectors.push(ts);
                b = r;
            }
            if selectors.len() != usize::from(count) {
                return fail(WireError::CountMismatch {
                    field: "Number of TSs",
                    declared: count.into(),
                    found: selectors.len(),
                });
            }
            Ok((b, TsPayload { selectors }))
        })
    }

    /// Appends the TS payload body.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        out.push(fit_u8("Number of TSs", self.selectors.len())?);
        out.extend_from_slice(&[0, 0, 0]);
        for ts in &self.selectors {
            ts.emit(out)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_selectors_bytes() {
        let mut out = Vec::new();
        TsPayload::any().emit(&mut out).unwrap();
        let mut expected = vec![
            2, 0, 0, 0, 7, 0, 0, 16, 0, 0, 0xff, 0xff, 0, 0, 0, 0, 255, 255, 255, 255,
        ];
        expected.extend_from_slice(&[8, 0, 0, 40, 0, 0, 0xff, 0xff]);
        expected.extend_from_slice(&[0; 16]);
        expected.extend_from_slice(&[0xff; 16]);
        assert_eq!(out, expected);
        let back = TsPayload::parse(&out).unwrap();
        assert_eq!(back, TsPayload::any());
        assert!(back.selectors.iter().all(TrafficSelector::is_any));
    }

    #[test]
    fn other_type_survives() {
        let ts = TsPayload::new(vec![
            TrafficSelector::Other {
                ts_type: TsType::TS_SECLABEL,
                second: 0,
                data: b"system_u:object_r".to_vec(),
            },
            TrafficSelector::range("10.0.0.1".parse().unwrap(), "10.0.0.9".parse().unwrap()),
        ]);
        let mut out = Vec::new();
        ts.emit(&mut out).unwrap();
        assert_eq!(TsPayload::parse(&out).unwrap(), ts);
    }

    #[test]
    fn errors() {
        let mut out = Vec::new();
        TsPayload::any().emit(&mut out).unwrap();
        let mut b = out.clone();
        b[0] = 3;
        assert!(matches!(
            TsPayload::parse(&b),
            Err(WireError::CountMismatch {
                declared: 3,
                found: 2,
                ..
            })
        ));
        let mut b = out.clone();
        b[7] = 20; // a v4 selector of length 20
        assert!(matches!(
            TsPayload::parse(&b),
            Err(WireError::BadLength {
                field: "TS Selector Length",
                value: 20,
                ..
            })
        ));
        assert!(matches!(
            TsPayload::parse(&out[..30]),
            Err(WireError::BadLength { .. })
        ));
        let mixed = TsPayload::new(vec![TrafficSelector::range(
            "10.0.0.1".parse().unwrap(),
            "::1".parse().unwrap(),
        )]);
        assert!(matches!(
            mixed.emit(&mut Vec::new()),
            Err(WireError::InvalidValue { .. })
        ));
    }
}
