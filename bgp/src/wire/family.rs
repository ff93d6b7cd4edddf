//! Address families (AFI/SAFI pairs) and the decode/encode context that
//! the capabilities negotiated in the OPEN exchange set.

use std::fmt;

use super::registry::{Afi, Safi};

/// An address family: AFI and SAFI (RFC 4760).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Family {
    /// Address Family Identifier.
    pub afi: Afi,
    /// Subsequent Address Family Identifier.
    pub safi: Safi,
}

/// How the NLRI of a family is encoded, for the families whose NLRI this
/// crate decodes (plain prefixes, RFC 4271 section 4.3 / RFC 4760 section 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PrefixKind {
    V4,
    V6,
}

impl Family {
    /// IPv4 unicast: the family of the UPDATE's own NLRI fields.
    pub const IPV4_UNICAST: Family = Family::new(Afi::IPV4, Safi::UNICAST);
    /// IPv6 unicast.
    pub const IPV6_UNICAST: Family = Family::new(Afi::IPV6, Safi::UNICAST);
    /// IPv4 multicast.
    pub const IPV4_MULTICAST: Family = Family::new(Afi::IPV4, Safi::MULTICAST);
    /// IPv6 multicast.
    pub const IPV6_MULTICAST: Family = Family::new(Afi::IPV6, Safi::MULTICAST);

    /// The family `afi`/`safi`.
    pub const fn new(afi: Afi, safi: Safi) -> Family {
        Family { afi, safi }
    }

    /// IPv4 or IPv6, unicast or multicast: families whose NLRI are plain
    /// prefixes, which this crate decodes. Others are kept as raw octets.
    pub fn is_prefix_family(self) -> bool {
        self.prefix_kind().is_some()
    }

    pub(crate) fn prefix_kind(self) -> Option<PrefixKind> {
        match (self.afi, self.safi) {
            (Afi::IPV4, Safi::UNICAST | Safi::MULTICAST) => Some(PrefixKind::V4),
            (Afi::IPV6, Safi::UNICAST | Safi::MULTICAST) => Some(PrefixKind::V6),
            _ => None,
        }
    }

    /// Bit of this family in [`Ctx`]'s ADD-PATH set.
    fn add_path_bit(self) -> u8 {
        match (self.afi, self.safi) {
            (Afi::IPV4, Safi::UNICAST) => 1,
            (Afi::IPV4, Safi::MULTICAST) => 2,
            (Afi::IPV6, Safi::UNICAST) => 4,
            (Afi::IPV6, Safi::MULTICAST) => 8,
            _ => 0,
        }
    }
}

impl fmt::Debug for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}/{:?}", self.afi, self.safi)
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// What the OPEN exchange decided about the encoding of UPDATEs in one
/// direction: whether AS numbers take four octets (RFC 6793), and for
/// which families NLRI carry an ADD-PATH Path Identifier (RFC 7911).
///
/// ADD-PATH is negotiated per direction, so a session has two: one to
/// decode what the peer sends, one to encode what we send
/// ([`Ctx::negotiate`]). The default is a plain RFC 4271 session: 2-octet
/// AS numbers, no path identifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Ctx {
    /// AS numbers in AS_PATH and AGGREGATOR take four octets.
    pub four_octet_as: bool,
    add_path: u8,
}

impl Ctx {
    /// A context without ADD-PATH.
    pub const fn new(four_octet_as: bool) -> Ctx {
        Ctx {
            four_octet_as,
            add_path: 0,
        }
    }

    /// The same context with path identifiers on (or off) for `family`.
    /// Only IPv4/IPv6 unicast/multicast can be set; NLRI of other families
    /// are raw octets to this crate anyway.
    pub fn with_add_path(mut self, family: Family, on: bool) -> Ctx {
        let bit = family.add_path_bit();
        if on {
            self.add_path |= bit;
        } else {
            self.add_path &= !bit;
        }
        self
    }

    /// Whether NLRI of `family` carry a Path Identifier.
    pub fn add_path(&self, family: Family) -> bool {
        let bit = family.add_path_bit();
        bit != 0 && self.add_path & bit != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_path_bits() {
        let c = Ctx::new(true)
            .with_add_path(Family::IPV6_UNICAST, true)
            .with_add_path(Family::new(Afi::L2VPN, Safi::EVPN), true);
        assert!(c.add_path(Family::IPV6_UNICAST));
        assert!(!c.add_path(Family::IPV4_UNICAST));
        assert!(!c.add_path(Family::new(Afi::L2VPN, Safi::EVPN)));
        let c = c.with_add_path(Family::IPV6_UNICAST, false);
        assert_eq!(c, Ctx::new(true));
        assert_eq!(format!("{}", Family::IPV6_UNICAST), "IPV6/UNICAST");
        assert!(!Family::new(Afi::IPV4, Safi::MPLS_VPN).is_prefix_family());
    }
}
