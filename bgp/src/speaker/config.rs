//! The speaker's configuration: `router bgp` resolved per neighbor (peer
//! groups filled in, the tunnel each session runs over, timers), as the
//! daemon builds it from its own configuration language.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use ipnetwork::IpNetwork;

use crate::rib::{Afi, DecisionConfig};

/// `neighbor X remote-as`: a number, or any other AS, or ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteAs {
    /// This AS number.
    As(u32),
    /// `external`: any AS but ours.
    External,
    /// `internal`: our AS.
    Internal,
}

impl fmt::Display for RemoteAs {
    /// As configured: the number, `internal` or `external`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteAs::As(n) => write!(f, "{n}"),
            RemoteAs::Internal => f.write_str("internal"),
            RemoteAs::External => f.write_str("external"),
        }
    }
}

/// What `redistribute` takes routes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Redistribute {
    /// The networks of interfaces that are up.
    Connected,
    /// The configured static routes.
    Static,
}

/// `neighbor X maximum-prefix N [THRESHOLD] [warning-only] [restart
/// MINUTES]`: how many prefixes of a family the neighbor may have in the
/// Adj-RIB-In after in-policy (FRR's count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxPrefix {
    /// The most prefixes accepted; one more closes the session (Cease,
    /// Maximum Number of Prefixes Reached, RFC 4486).
    pub max: u32,
    /// At more than this percentage of `max` a warning is logged (once
    /// until the count drops below it again).
    pub threshold: u8,
    /// Over the limit, only log; the session stays.
    pub warning_only: bool,
    /// Start the session again this many minutes after the limit closed
    /// it; without, only `clear ip bgp` does.
    pub restart_minutes: Option<u16>,
}

impl MaxPrefix {
    /// FRR's default warning threshold, in percent.
    pub const DEFAULT_THRESHOLD: u8 = 75;
}

/// Per-family settings of one neighbor (present when it is active).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AfPeer {
    /// `next-hop-self` (towards iBGP peers).
    pub next_hop_self: bool,
    /// `prefix-list NAME in`.
    pub prefix_list_in: Option<String>,
    /// `prefix-list NAME out`.
    pub prefix_list_out: Option<String>,
    /// `route-map NAME in`.
    pub route_map_in: Option<String>,
    /// `route-map NAME out`.
    pub route_map_out: Option<String>,
    /// `soft-reconfiguration inbound`: keep what was received before
    /// policy, to re-apply it without asking the peer.
    pub soft_reconfiguration_inbound: bool,
    /// `default-originate`: send a default route.
    pub default_originate: bool,
    /// `neighbor X addpath-tx-all-paths`: offer ADD-PATH and send every
    /// path, not only the best.
    pub addpath_tx_all_paths: bool,
    /// `neighbor X maximum-prefix ...`.
    pub maximum_prefix: Option<MaxPrefix>,
}

impl AfPeer {
    /// Whether an in-policy (prefix-list or route-map) is configured.
    pub fn has_in_policy(&self) -> bool {
        self.prefix_list_in.is_some() || self.route_map_in.is_some()
    }
    /// Whether an out-policy (prefix-list or route-map) is configured.
    pub fn has_out_policy(&self) -> bool {
        self.prefix_list_out.is_some() || self.route_map_out.is_some()
    }
}

/// One neighbor, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerConfig {
    /// The neighbor's address.
    pub addr: IpAddr,
    /// `remote-as`.
    pub remote_as: RemoteAs,
    /// The peer group it belongs to.
    pub group: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `password` (TCP MD5).
    pub password: Option<String>,
    /// (keepalive, hold).
    pub timers: (u16, u16),
    /// `update-source`: an address, or an interface whose address (of the
    /// neighbor's family) the session is bound to.
    pub update_source: Option<String>,
    /// `ebgp-multihop` TTL.
    pub ebgp_multihop: Option<u8>,
    /// `shutdown`.
    pub shutdown: bool,
    /// The TCP port to connect to.
    pub port: u16,
    /// The tunnel interface whose subnet holds the neighbor's address: the
    /// session runs only while that tunnel has an SA.
    pub tunnel: Option<String>,
    /// IPv4 and IPv6 unicast; `None` where the neighbor is not active.
    pub af: [Option<AfPeer>; 2],
    /// A dynamic neighbor of a listen range.
    pub dynamic: bool,
}

impl PeerConfig {
    /// The settings of family `afi`, if the neighbor is active in it.
    pub fn af(&self, afi: Afi) -> Option<&AfPeer> {
        match afi {
            Afi::V4 => self.af[0].as_ref(),
            Afi::V6 => self.af[1].as_ref(),
        }
    }
    /// Whether the peer is in another AS than `local_as` (for `external`
    /// and `internal` the answer is fixed; a number compares).
    pub fn is_ebgp(&self, local_as: u32) -> bool {
        match self.remote_as {
            RemoteAs::As(n) => n != local_as,
            RemoteAs::External => true,
            RemoteAs::Internal => false,
        }
    }
    /// The AS the OPEN must carry, if fixed.
    pub fn expected_as(&self, local_as: u32) -> Option<u32> {
        match self.remote_as {
            RemoteAs::As(n) => Some(n),
            RemoteAs::Internal => Some(local_as),
            RemoteAs::External => None,
        }
    }
    /// Whether `other` can keep this configuration's session (only policy
    /// and per-family output settings differ).
    pub fn session_same(&self, other: &PeerConfig) -> bool {
        self.remote_as == other.remote_as
            && self.password == other.password
            && self.timers == other.timers
            && self.update_source == other.update_source
            && self.ebgp_multihop == other.ebgp_multihop
            && self.shutdown == other.shutdown
            && self.port == other.port
            && self.tunnel == other.tunnel
            && self.af[0].is_some() == other.af[0].is_some()
            && self.af[1].is_some() == other.af[1].is_some()
    }
}

/// What `network` and `redistribute` contribute, per family.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AfConfig {
    /// `network PREFIX [route-map X]`.
    pub networks: BTreeMap<IpNetwork, Option<String>>,
    /// `redistribute SOURCE [route-map X]`.
    pub redistribute: BTreeMap<Redistribute, Option<String>>,
    /// `maximum-paths` and friends.
    pub decision: DecisionConfig,
}

/// The speaker's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeakerConfig {
    /// Our AS.
    pub asn: u32,
    /// Our router ID.
    pub router_id: Ipv4Addr,
    /// RFC 8212: eBGP neighbors without policy get and give nothing.
    pub ebgp_requires_policy: bool,
    /// Configured neighbors.
    pub neighbors: BTreeMap<IpAddr, PeerConfig>,
    /// Listen ranges with the peer group their neighbors get.
    pub listen_ranges: Vec<(IpNetwork, String)>,
    /// `bgp listen limit`.
    pub listen_limit: u32,
    /// Template of a dynamic neighbor per peer group.
    pub groups: BTreeMap<String, PeerConfig>,
    /// IPv4 and IPv6 unicast.
    pub af: [AfConfig; 2],
    /// The prefixes of the configured static routes (`redistribute
    /// static`).
    pub static_routes: Vec<IpNetwork>,
}

impl SpeakerConfig {
    /// The settings of family `afi`.
    pub fn af(&self, afi: Afi) -> &AfConfig {
        match afi {
            Afi::V4 => &self.af[0],
            Afi::V6 => &self.af[1],
        }
    }

    /// The configuration of a dynamic neighbor at `addr`, if a listen
    /// range takes it.
    pub fn dynamic_peer(&self, addr: IpAddr) -> Option<PeerConfig> {
        let (_, group) = self
            .listen_ranges
            .iter()
            .filter(|(r, _)| r.contains(addr))
            .max_by_key(|(r, _)| r.prefix())?;
        let mut p = self.groups.get(group)?.clone();
        p.addr = addr;
        p.dynamic = true;
        Some(p)
    }
}

/// Which policy objects a configuration change altered (the daemon
/// compares its old and new configuration): neighbors using them get their
/// routes re-evaluated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyChanges {
    /// Route-maps that behave differently now (added, removed, changed,
    /// or a list they use changed).
    pub route_maps: BTreeSet<String>,
    /// Prefix-lists (IPv4 or IPv6) added, removed or changed.
    pub prefix_lists: BTreeSet<String>,
}
