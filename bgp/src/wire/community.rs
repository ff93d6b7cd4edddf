//! Communities (RFC 1997), extended communities (RFC 4360) and large
//! communities (RFC 8092).

use std::fmt;

/// A community (RFC 1997): `AS:value` in four octets.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Community(pub u32);

impl Community {
    /// GRACEFUL_SHUTDOWN (RFC 8326).
    pub const GRACEFUL_SHUTDOWN: Community = Community(0xffff_0000);
    /// ACCEPT_OWN (RFC 7611).
    pub const ACCEPT_OWN: Community = Community(0xffff_0001);
    /// LLGR_STALE (RFC 9494).
    pub const LLGR_STALE: Community = Community(0xffff_0006);
    /// NO_LLGR (RFC 9494).
    pub const NO_LLGR: Community = Community(0xffff_0007);
    /// BLACKHOLE (RFC 7999).
    pub const BLACKHOLE: Community = Community(0xffff_029a);
    /// NO_EXPORT: do not advertise outside the AS (or confederation).
    pub const NO_EXPORT: Community = Community(0xffff_ff01);
    /// NO_ADVERTISE: do not advertise to any peer.
    pub const NO_ADVERTISE: Community = Community(0xffff_ff02);
    /// NO_EXPORT_SUBCONFED: do not advertise to external peers, not even
    /// to other members of the confederation.
    pub const NO_EXPORT_SUBCONFED: Community = Community(0xffff_ff03);
    /// NOPEER (RFC 3765).
    pub const NOPEER: Community = Community(0xffff_ff04);

    /// `asn:value`.
    pub const fn new(asn: u16, value: u16) -> Community {
        Community((asn as u32) << 16 | value as u32)
    }

    /// The high two octets.
    pub fn asn(self) -> u16 {
        (self.0 >> 16) as u16
    }

    /// The low two octets.
    pub fn value(self) -> u16 {
        self.0 as u16
    }

    /// The name of a well-known community.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Community::GRACEFUL_SHUTDOWN => "graceful-shutdown",
            Community::ACCEPT_OWN => "accept-own",
            Community::LLGR_STALE => "llgr-stale",
            Community::NO_LLGR => "no-llgr",
            Community::BLACKHOLE => "blackhole",
            Community::NO_EXPORT => "no-export",
            Community::NO_ADVERTISE => "no-advertise",
            Community::NO_EXPORT_SUBCONFED => "local-AS",
            Community::NOPEER => "no-peer",
            _ => return None,
        })
    }
}

impl fmt::Display for Community {
    /// The well-known name (as FRR prints it), or `AS:value`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "{}:{}", self.asn(), self.value()),
        }
    }
}

impl fmt::Debug for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A large community (RFC 8092): `global:local1:local2`, twelve octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LargeCommunity {
    /// Global Administrator (an AS number).
    pub global: u32,
    /// Local Data Part 1.
    pub local1: u32,
    /// Local Data Part 2.
    pub local2: u32,
}

impl LargeCommunity {
    /// `global:local1:local2`.
    pub const fn new(global: u32, local1: u32, local2: u32) -> LargeCommunity {
        LargeCommunity {
            global,
            local1,
            local2,
        }
    }
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.global, self.local1, self.local2)
    }
}

/// An extended community (RFC 4360): eight octets, kept as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExtCommunity(pub [u8; 8]);

impl ExtCommunity {
    /// The Type octet (high-order octet).
    pub fn type_high(&self) -> u8 {
        self.0.first().copied().unwrap_or(0)
    }

    /// Whether the community may leave the AS (the T bit of the Type is
    /// clear).
    pub fn is_transitive(&self) -> bool {
        self.type_high() & 0x40 == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display() {
        assert_eq!(Community::new(65000, 100).to_string(), "65000:100");
        assert_eq!(Community(0xffff_ff01).to_string(), "no-export");
        assert_eq!(Community::NO_ADVERTISE.asn(), 0xffff);
        assert_eq!(LargeCommunity::new(1, 2, 3).to_string(), "1:2:3");
        let rt = ExtCommunity([0, 2, 0xfd, 0xe8, 0, 0, 0, 1]);
        assert!(rt.is_transitive());
        assert!(!ExtCommunity([0x40, 0, 0, 0, 0, 0, 0, 0]).is_transitive());
    }
}
