//! The BGP part of the configuration model: `router bgp`, neighbors,
//! peer groups, address families, maximum-prefix.

use super::*;

/// `neighbor X remote-as ...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "asn", rename_all = "kebab-case")]
pub enum RemoteAs {
    /// A fixed AS number.
    As(u32),
    /// `internal`: the peer is in our AS.
    Internal,
    /// `external`: the peer is in any other AS.
    External,
}

impl fmt::Display for RemoteAs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteAs::As(n) => write!(f, "{n}"),
            RemoteAs::Internal => f.write_str("internal"),
            RemoteAs::External => f.write_str("external"),
        }
    }
}

/// Session settings shared by neighbors and peer groups.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighborConfig {
    /// `neighbor X remote-as ...`.
    pub remote_as: Option<RemoteAs>,
    /// Member of this peer group (neighbors only).
    pub peer_group: Option<String>,
    /// `neighbor X description LINE`.
    pub description: Option<String>,
    /// TCP MD5 password (RFC 2385).
    pub password: Option<Secret>,
    /// `neighbor X timers KEEPALIVE HOLD`.
    pub timers: Option<(u16, u16)>,
    /// `neighbor X update-source ADDR
    /// IFNAME`: the local end of the session.
    pub update_source: Option<String>,
    /// `neighbor X ebgp-multihop [N]`: the TTL for eBGP (255 without N).
    pub ebgp_multihop: Option<u8>,
    /// `neighbor X shutdown`.
    pub shutdown: bool,
    /// `neighbor X bfd`: BFD watches the session.
    pub bfd: bool,
    /// `neighbor X bfd MULT RX TX` (bfd is then on too).
    #[serde(default)]
    pub bfd_timers: Option<BfdTimers>,
    /// `neighbor X port N`: the peer's TCP port (179 when None).
    pub port: Option<u16>,
}

/// Per-address-family settings of a neighbor or peer group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AfNeighbor {
    /// `neighbor X activate` / `no neighbor X activate`; None is the
    /// default (active in ipv4 unicast, inactive in ipv6 unicast).
    pub activate: Option<bool>,
    /// `neighbor X next-hop-self`.
    pub next_hop_self: bool,
    /// `neighbor X prefix-list NAME in`.
    pub prefix_list_in: Option<String>,
    /// `neighbor X prefix-list NAME out`.
    pub prefix_list_out: Option<String>,
    /// `neighbor X route-map NAME in`.
    pub route_map_in: Option<String>,
    /// `neighbor X route-map NAME out`.
    pub route_map_out: Option<String>,
    /// `neighbor X soft-reconfiguration inbound`.
    pub soft_reconfiguration_inbound: bool,
    /// `neighbor X default-originate`.
    pub default_originate: bool,
    /// `neighbor X addpath-tx-all-paths`.
    pub addpath_tx_all_paths: bool,
    /// `neighbor X maximum-prefix N [THRESHOLD] [warning-only] [restart
    /// MINUTES]`.
    #[serde(default)]
    pub maximum_prefix: Option<MaxPrefix>,
}

/// `neighbor X maximum-prefix N [THRESHOLD] [warning-only] [restart
/// MINUTES]`, as entered: at most N prefixes accepted (after in-policy)
/// in the family; a warning above THRESHOLD percent of N; above N the
/// session closes (Cease, Maximum Number of Prefixes Reached) unless
/// `warning-only`, and starts again after MINUTES if given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaxPrefix {
    /// N (1-4294967295).
    pub max: u32,
    /// THRESHOLD in percent (1-100) if typed; FRR's 75 applies otherwise.
    pub threshold: Option<u8>,
    /// `warning-only`: log, keep the session.
    pub warning_only: bool,
    /// `restart MINUTES` (1-65535).
    pub restart: Option<u16>,
}

impl MaxPrefix {
    /// The warning threshold when none is typed (FRR's).
    pub const DEFAULT_THRESHOLD: u8 = 75;

    /// The words after `maximum-prefix`, as entered.
    pub fn args(&self) -> String {
        let mut s = self.max.to_string();
        if let Some(t) = self.threshold {
            s.push_str(&format!(" {t}"));
        }
        if self.warning_only {
            s.push_str(" warning-only");
        }
        if let Some(m) = self.restart {
            s.push_str(&format!(" restart {m}"));
        }
        s
    }
}

/// Who a neighbor line is about: an address or a peer group. Serialized
/// as its text (an address or a group name), so it can key JSON objects.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PeerRef {
    /// A neighbor's address.
    Addr(IpAddr),
    /// A peer group's name.
    Group(String),
}

impl PeerRef {
    /// An address if the text is one, else a group name.
    pub fn parse(s: &str) -> PeerRef {
        match s.parse() {
            Ok(a) => PeerRef::Addr(a),
            Err(_) => PeerRef::Group(s.to_string()),
        }
    }
}

impl Serialize for PeerRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PeerRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(PeerRef::parse(&s))
    }
}

impl fmt::Display for PeerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerRef::Addr(a) => write!(f, "{a}"),
            PeerRef::Group(g) => f.write_str(g),
        }
    }
}

/// Route sources for `redistribute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RedistSource {
    /// `connected`: the networks of the interfaces.
    Connected,
    /// `static`: `ip route` and `ipv6 route`.
    Static,
}

impl RedistSource {
    /// The configuration keyword.
    pub fn name(self) -> &'static str {
        match self {
            RedistSource::Connected => "connected",
            RedistSource::Static => "static",
        }
    }
}

/// `address-family ipv4|ipv6 unicast`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Afi {
    /// IPv4 unicast.
    Ipv4,
    /// IPv6 unicast.
    Ipv6,
}

impl Afi {
    /// The configuration keyword.
    pub fn name(self) -> &'static str {
        match self {
            Afi::Ipv4 => "ipv4",
            Afi::Ipv6 => "ipv6",
        }
    }
}

/// Settings of one address family under `router bgp`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgpAf {
    /// `network PREFIX [route-map NAME]`.
    pub networks: BTreeMap<IpNetwork, Option<String>>,
    /// `redistribute SOURCE [route-map NAME]`.
    pub redistribute: BTreeMap<RedistSource, Option<String>>,
    /// `maximum-paths N`: eBGP ECMP paths.
    pub maximum_paths: Option<u16>,
    /// `maximum-paths ibgp N`: iBGP ECMP paths.
    pub maximum_paths_ibgp: Option<u16>,
    /// Per-neighbor and per-peer-group settings in this family.
    pub neighbors: BTreeMap<PeerRef, AfNeighbor>,
}

impl BgpAf {
    /// Whether nothing is configured in it (it is then not rendered).
    pub fn is_empty(&self) -> bool {
        self == &BgpAf::default()
    }
}

/// `router bgp ASN`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bgp {
    /// The local AS number.
    pub asn: u32,
    /// `bgp router-id A.B.C.D`.
    pub router_id: Option<Ipv4Addr>,
    /// RFC 8212 behaviour; on by default as in FRR.
    pub ebgp_requires_policy: bool,
    /// `bgp bestpath as-path multipath-relax`.
    pub multipath_relax: bool,
    /// `timers bgp KEEPALIVE HOLD`.
    pub timers: Option<(u16, u16)>,
    /// `bgp listen range PREFIX peer-group NAME`.
    pub listen_ranges: BTreeMap<IpNetwork, String>,
    /// `bgp listen limit N`.
    pub listen_limit: Option<u32>,
    /// `neighbor NAME peer-group` and the groups' settings, by name.
    pub peer_groups: BTreeMap<String, NeighborConfig>,
    /// `neighbor ADDR ...` settings, by address.
    pub neighbors: BTreeMap<IpAddr, NeighborConfig>,
    /// `address-family ipv4 unicast`.
    pub ipv4_unicast: BgpAf,
    /// `address-family ipv6 unicast`.
    pub ipv6_unicast: BgpAf,
}

impl Bgp {
    /// `router bgp ASN` with every setting at its default.
    pub fn new(asn: u32) -> Self {
        Bgp {
            asn,
            router_id: None,
            ebgp_requires_policy: true,
            multipath_relax: false,
            timers: None,
            listen_ranges: BTreeMap::new(),
            listen_limit: None,
            peer_groups: BTreeMap::new(),
            neighbors: BTreeMap::new(),
            ipv4_unicast: BgpAf::default(),
            ipv6_unicast: BgpAf::default(),
        }
    }
    /// The settings of an address family.
    pub fn af(&self, afi: Afi) -> &BgpAf {
        match afi {
            Afi::Ipv4 => &self.ipv4_unicast,
            Afi::Ipv6 => &self.ipv6_unicast,
        }
    }
    /// The settings of an address family, to change them.
    pub fn af_mut(&mut self, afi: Afi) -> &mut BgpAf {
        match afi {
            Afi::Ipv4 => &mut self.ipv4_unicast,
            Afi::Ipv6 => &mut self.ipv6_unicast,
        }
    }
    /// Whether a neighbor (or group) is active in an address family,
    /// following its own setting, then its peer group's, then the default.
    pub fn is_active(&self, peer: &PeerRef, afi: Afi) -> bool {
        let af = self.af(afi);
        if let Some(a) = af.neighbors.get(peer).and_then(|n| n.activate) {
            return a;
        }
        if let PeerRef::Addr(addr) = peer {
            if let Some(g) = self.neighbors.get(addr).and_then(|n| n.peer_group.clone()) {
                if let Some(a) = af
                    .neighbors
                    .get(&PeerRef::Group(g))
                    .and_then(|n| n.activate)
                {
                    return a;
                }
            }
        }
        afi == Afi::Ipv4
    }
}
