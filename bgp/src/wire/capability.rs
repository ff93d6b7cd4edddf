//! OPEN capabilities (RFC 5492): multiprotocol (RFC 4760), route refresh
//! (RFC 2918) and enhanced route refresh (RFC 7313), graceful restart
//! (RFC 4724, with the N bit of RFC 8538), 4-octet AS numbers (RFC 6793),
//! ADD-PATH (RFC 7911). Others (FQDN, extended next hop, ...) are kept as
//! raw octets.
//!
//! ```text
//! +------------------------------+
//! | Capability Code (1 octet)    |
//! +------------------------------+
//! | Capability Length (1 octet)  |
//! +------------------------------+
//! | Capability Value (variable)  |
//! +------------------------------+
//! ```

use super::codec::fit_u8;
use super::error::EmitError;
use super::family::Family;
use super::registry::{AddPathMode, Afi, CapabilityCode, Safi};

/// Graceful Restart capability value (RFC 4724 section 3).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct GracefulRestart {
    /// R (Restart State): the sender has restarted.
    pub restart_state: bool,
    /// N (RFC 8538): the sender supports graceful restart for
    /// NOTIFICATION messages.
    pub notification: bool,
    /// Restart Time in seconds (12 bits: 0..=4095; more is cut on emit).
    pub restart_time: u16,
    /// The families the sender preserves forwarding state for.
    pub families: Vec<GrFamily>,
}

/// One family of a Graceful Restart capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GrFamily {
    /// AFI/SAFI.
    pub family: Family,
    /// F: forwarding state was preserved across the restart.
    pub forwarding_preserved: bool,
}

/// One tuple of an ADD-PATH capability (RFC 7911 section 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddPathEntry {
    /// AFI/SAFI.
    pub family: Family,
    /// Send, receive or both.
    pub mode: AddPathMode,
}

/// One capability.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Capability {
    /// Multiprotocol Extensions: the sender speaks this family.
    Multiprotocol(Family),
    /// Route Refresh (code 2).
    RouteRefresh,
    /// Enhanced Route Refresh (RFC 7313).
    EnhancedRouteRefresh,
    /// Graceful Restart.
    GracefulRestart(GracefulRestart),
    /// 4-octet AS numbers, with the sender's AS number.
    FourOctetAs(u32),
    /// ADD-PATH.
    AddPath(Vec<AddPathEntry>),
    /// Any other capability (FQDN, extended next hop, the old Cisco route
    /// refresh, ...), as received.
    Unknown {
        /// Capability Code.
        code: CapabilityCode,
        /// Capability Value.
        value: Vec<u8>,
    },
}

fn family_at(c: &[u8]) -> Option<Family> {
    match c {
        [a, b, s, ..] => Some(Family::new(Afi(u16::from_be_bytes([*a, *b])), Safi(*s))),
        _ => None,
    }
}

fn tuples<T>(v: &[u8], f: impl Fn(Family, u8) -> T) -> Option<Vec<T>> {
    if !v.len().is_multiple_of(4) {
        return None;
    }
    v.chunks_exact(4)
        .map(|c| Some(f(family_at(c)?, *c.get(3)?)))
        .collect()
}

impl Capability {
    /// Its Capability Code.
    pub fn code(&self) -> CapabilityCode {
        match self {
            Capability::Multiprotocol(_) => CapabilityCode::MULTIPROTOCOL,
            Capability::RouteRefresh => CapabilityCode::ROUTE_REFRESH,
            Capability::EnhancedRouteRefresh => CapabilityCode::ENHANCED_ROUTE_REFRESH,
            Capability::GracefulRestart(_) => CapabilityCode::GRACEFUL_RESTART,
            Capability::FourOctetAs(_) => CapabilityCode::FOUR_OCTET_AS,
            Capability::AddPath(_) => CapabilityCode::ADD_PATH,
            Capability::Unknown { code, .. } => *code,
        }
    }

    /// Decodes the value of capability `code`. Codes this crate does not
    /// decode give [`Capability::Unknown`]; a known code with a malformed
    /// value is an error.
    pub fn parse(code: CapabilityCode, v: &[u8]) -> Result<Capability, &'static str> {
        Ok(match code {
            CapabilityCode::MULTIPROTOCOL => match v {
                [a, b, _reserved, s] => Capability::Multiprotocol(Family::new(
                    Afi(u16::from_be_bytes([*a, *b])),
                    Safi(*s),
                )),
                _ => return Err("multiprotocol capability length is not 4"),
            },
            CapabilityCode::ROUTE_REFRESH if v.is_empty() => Capability::RouteRefresh,
            CapabilityCode::ROUTE_REFRESH => {
                return Err("route refresh capability length is not 0")
            }
            CapabilityCode::ENHANCED_ROUTE_REFRESH if v.is_empty() => {
                Capability::EnhancedRouteRefresh
            }
            CapabilityCode::ENHANCED_ROUTE_REFRESH => {
                return Err("enhanced route refresh capability length is not 0")
            }
            CapabilityCode::FOUR_OCTET_AS => match v {
                [a, b, c, d] => Capability::FourOctetAs(u32::from_be_bytes([*a, *b, *c, *d])),
                _ => return Err("4-octet AS capability length is not 4"),
            },
            CapabilityCode::GRACEFUL_RESTART => {
                let (head, rest) = match v {
                    [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]), rest),
                    _ => return Err("graceful restart capability shorter than 2"),
                };
                let families = tuples(rest, |family, flags| GrFamily {
                    family,
                    forwarding_preserved: flags & 0x80 != 0,
                })
                .ok_or("graceful restart capability length is not 2 + 4n")?;
                Capability::GracefulRestart(GracefulRestart {
                    restart_state: head & 0x8000 != 0,
                    notification: head & 0x4000 != 0,
                    restart_time: head & 0x0fff,
                    families,
                })
            }
            CapabilityCode::ADD_PATH => Capability::AddPath(
                tuples(v, |family, mode| AddPathEntry {
                    family,
                    mode: AddPathMode(mode),
                })
                .ok_or("ADD-PATH capability length is not a multiple of 4")?,
            ),
            code => Capability::Unknown {
                code,
                value: v.to_vec(),
            },
        })
    }

    /// Appends the capability (code, length, value).
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), EmitError> {
        let start = out.len();
        out.push(self.code().0);
        out.push(0);
        match self {
            Capability::Multiprotocol(f) => {
                out.extend_from_slice(&f.afi.0.to_be_bytes());
                out.push(0);
                out.push(f.safi.0);
            }
            Capability::RouteRefresh | Capability::EnhancedRouteRefresh => {}
            Capability::FourOctetAs(asn) => out.extend_from_slice(&asn.to_be_bytes()),
            Capability::GracefulRestart(g) => {
                let mut head = g.restart_time & 0x0fff;
                if g.restart_state {
                    head |= 0x8000;
                }
                if g.notification {
                    head |= 0x4000;
                }
                out.extend_from_slice(&head.to_be_bytes());
                for f in &g.families {
                    out.extend_from_slice(&f.family.afi.0.to_be_bytes());
                    out.push(f.family.safi.0);
                    out.push(if f.forwarding_preserved { 0x80 } else { 0 });
                }
            }
            Capability::AddPath(v) => {
                for e in v {
                    out.extend_from_slice(&e.family.afi.0.to_be_bytes());
                    out.push(e.family.safi.0);
                    out.push(e.mode.0);
                }
            }
            Capability::Unknown { value, .. } => out.extend_from_slice(value),
        }
        match fit_u8("capability value", out.len() - start - 2) {
            Ok(len) => {
                if let Some(l) = out.get_mut(start + 1) {
                    *l = len;
                }
                Ok(())
            }
            Err(e) => {
                out.truncate(start);
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_one(b: &[u8]) -> Result<Capability, &'static str> {
        Capability::parse(CapabilityCode(b[0]), &b[2..2 + b[1] as usize])
    }

    /// Vectors from FRR tests/bgpd/test_capability.c ("MP4", "AS4", "GR",
    /// "MP-short" and friends), written out by hand.
    #[test]
    fn frr_vectors() {
        assert_eq!(
            parse_one(&[0x1, 0x4, 0x0, 0x1, 0x0, 0x1]),
            Ok(Capability::Multiprotocol(Family::IPV4_UNICAST))
        );
        assert_eq!(
            parse_one(&[0x41, 0x4, 0xab, 0xcd, 0xef, 0x12]),
            Ok(Capability::FourOctetAs(2882400018))
        );
        let gr = parse_one(&[
            0x40, 0xe, 0xf1, 0x12, 0x0, 0x1, 0x1, 0xf, 0x0, 0x2, 0x1, 0x0, 0x0, 0x2, 0x2, 0x1,
        ])
        .unwrap();
        assert_eq!(
            gr,
            Capability::GracefulRestart(GracefulRestart {
                restart_state: true,
                notification: true,
                restart_time: 0x112,
                families: vec![
                    GrFamily {
                        family: Family::IPV4_UNICAST,
                        forwarding_preserved: false
                    },
                    GrFamily {
                        family: Family::IPV6_UNICAST,
                        forwarding_preserved: false
                    },
                    GrFamily {
                        family: Family::IPV6_MULTICAST,
                        forwarding_preserved: false
                    },
                ],
            })
        );
        // A graceful restart value that is not 2 + 4n octets; "GR-empty",
        // "MP-empty", "AS4-empty", "MP-overflow" (length 6). (FRR's
        // "GR-short" has a valid length 10 by itself: it fails at the
        // optional parameter level, see tests/wire_vectors.rs.)
        let gr_value = [0xf1, 0x12, 0, 1, 1, 0xf, 0, 2, 1, 0];
        assert!(Capability::parse(CapabilityCode(0x40), &gr_value).is_ok());
        assert!(Capability::parse(CapabilityCode(0x40), &gr_value[..8]).is_err());
        assert!(Capability::parse(CapabilityCode(0x40), &[]).is_err());
        assert!(Capability::parse(CapabilityCode(1), &[]).is_err());
        assert!(Capability::parse(CapabilityCode(0x41), &[]).is_err());
        assert!(Capability::parse(CapabilityCode(1), &[0, 1, 0, 1, 0, 0]).is_err());
        // "caphdr": route refresh, empty. The old Cisco code is kept raw.
        assert_eq!(parse_one(&[2, 0]), Ok(Capability::RouteRefresh));
        assert_eq!(
            parse_one(&[0x80, 0]),
            Ok(Capability::Unknown {
                code: CapabilityCode::ROUTE_REFRESH_CISCO,
                value: vec![]
            })
        );
    }

    #[test]
    fn emit_add_path_and_gr() {
        let c = Capability::AddPath(vec![AddPathEntry {
            family: Family::IPV4_UNICAST,
            mode: AddPathMode::BOTH,
        }]);
        let mut out = Vec::new();
        c.emit(&mut out).unwrap();
        assert_eq!(out, [69, 4, 0, 1, 1, 3]);
        let gr = Capability::GracefulRestart(GracefulRestart {
            restart_state: false,
            notification: true,
            restart_time: 120,
            families: vec![GrFamily {
                family: Family::IPV4_UNICAST,
                forwarding_preserved: true,
            }],
        });
        let mut out = Vec::new();
        gr.emit(&mut out).unwrap();
        assert_eq!(out, [64, 6, 0x40, 120, 0, 1, 1, 0x80]);
        assert_eq!(parse_one(&out), Ok(gr));
        let big = Capability::Unknown {
            code: CapabilityCode::FQDN,
            value: vec![0; 256],
        };
        let mut out = vec![9];
        assert!(big.emit(&mut out).is_err());
        assert_eq!(out, vec![9]);
    }
}
