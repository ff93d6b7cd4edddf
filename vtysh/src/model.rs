//! The typed configuration model. The parser builds it, the validator checks
//! it, the renderer prints it back, and rvpnd applies differences between
//! two of them.

use ipnetwork::{IpNetwork, Ipv4Network, Ipv6Network};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// Half-open IKE SAs from which on a COOKIE is demanded when
/// `crypto ikev2 cookie-challenge` is not configured.
pub const DEFAULT_COOKIE_CHALLENGE: u32 = 32;

/// Half-open IKE SAs at which new IKE_SA_INIT requests are dropped when
/// `crypto ikev2 limit max-in-negotiation-sa` is not configured.
pub const DEFAULT_MAX_IN_NEGOTIATION_SA: u32 = 1000;

/// Half-open IKE SAs from one address at which its new IKE_SA_INIT
/// requests are dropped when `crypto ikev2 limit
/// max-in-negotiation-sa-per-address` is not configured.
pub const DEFAULT_MAX_IN_NEGOTIATION_SA_PER_ADDRESS: u32 = 10;

/// The IP MTU IKE fragmentation (RFC 7383) assumes when `crypto ikev2
/// fragmentation mtu` is not configured.
pub const DEFAULT_FRAGMENTATION_MTU: u16 = 1280;

/// The smallest `crypto ikev2 fragmentation mtu` rvpn accepts: IOS's
/// syntax takes 68-1500, but an encrypted fragment needs about 130
/// octets of headers, IV, padding and ICV before any data.
pub const MIN_FRAGMENTATION_MTU: u16 = 256;

/// `crypto ikev2 fragmentation`: IKE fragmentation (RFC 7383).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fragmentation {
    /// Not configured: announced, with [`DEFAULT_FRAGMENTATION_MTU`].
    #[default]
    Default,
    /// `crypto ikev2 fragmentation mtu N`.
    Mtu(u16),
    /// `no crypto ikev2 fragmentation`: not announced, never used.
    Off,
}

impl Fragmentation {
    /// The IP MTU fragments are cut for; None when off.
    pub fn mtu(self) -> Option<u16> {
        match self {
            Fragmentation::Default => Some(DEFAULT_FRAGMENTATION_MTU),
            Fragmentation::Mtu(m) => Some(m),
            Fragmentation::Off => None,
        }
    }
}

/// The whole configuration of one rvpnd.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// `hostname NAME`; None: the default, `rvpn`.
    pub hostname: Option<String>,
    /// `crypto allow-weak`: sha1 and short PSKs are accepted.
    pub allow_weak: bool,
    /// `crypto ikev2 cookie-challenge N`: demand a COOKIE once N IKE SAs
    /// are half-open (None: rvpn's default, [`DEFAULT_COOKIE_CHALLENGE`]).
    #[serde(default)]
    pub cookie_challenge: Option<u32>,
    /// `crypto ikev2 limit max-in-negotiation-sa N`: drop new IKE_SA_INIT
    /// requests while N IKE SAs are half-open (None: rvpn's default,
    /// [`DEFAULT_MAX_IN_NEGOTIATION_SA`]).
    #[serde(default)]
    pub max_in_negotiation_sa: Option<u32>,
    /// `crypto ikev2 limit max-in-negotiation-sa-per-address N`: the same
    /// per source address (None: rvpn's default,
    /// [`DEFAULT_MAX_IN_NEGOTIATION_SA_PER_ADDRESS`]).
    #[serde(default)]
    pub max_in_negotiation_sa_per_address: Option<u32>,
    /// `crypto ikev2 fragmentation [mtu N]` / `no crypto ikev2
    /// fragmentation`: IKE fragmentation, on by default.
    #[serde(default)]
    pub fragmentation: Fragmentation,
    /// `crypto ikev2 proposal NAME`, by name.
    pub ikev2_proposals: BTreeMap<String, Ikev2Proposal>,
    /// `crypto ikev2 keyring NAME`, by name.
    pub ikev2_keyrings: BTreeMap<String, Keyring>,
    /// `crypto pki trustpoint NAME`, by name.
    pub trustpoints: BTreeMap<String, Trustpoint>,
    /// `crypto ikev2 profile NAME`, by name.
    pub ikev2_profiles: BTreeMap<String, Ikev2Profile>,
    /// `crypto ipsec transform-set NAME`, by name.
    pub transform_sets: BTreeMap<String, TransformSet>,
    /// `crypto ipsec profile NAME`, by name.
    pub ipsec_profiles: BTreeMap<String, IpsecProfile>,
    /// `interface NAME`, by name.
    pub interfaces: BTreeMap<String, Interface>,
    /// `router bgp ASN`, if configured.
    pub bgp: Option<Bgp>,
    /// `ip prefix-list NAME`, by name.
    pub prefix_lists: BTreeMap<String, PrefixList>,
    /// `ipv6 prefix-list NAME`, by name.
    pub prefix_lists_v6: BTreeMap<String, PrefixList>,
    /// `bgp community-list NAME`, by name.
    pub community_lists: BTreeMap<String, CommunityList>,
    /// `bgp as-path access-list NAME`, by name.
    pub as_path_lists: BTreeMap<String, AsPathList>,
    /// `route-map NAME`, by name.
    pub route_maps: BTreeMap<String, RouteMap>,
    /// `ip route` and `ipv6 route`, sorted by (prefix, next hop), one per pair.
    pub static_routes: Vec<StaticRoute>,
    /// `aaa new-model`: IOS needs it before `aaa authorization`; rvpn
    /// keeps it so a pasted configuration renders back as it was.
    #[serde(default)]
    pub aaa_new_model: bool,
    /// `aaa authorization network LIST local`: the method lists a profile's
    /// `aaa authorization group ... list LIST POLICY` may name (rvpn's
    /// only method is `local`: the policy in this configuration).
    #[serde(default)]
    pub aaa_authorization_network: std::collections::BTreeSet<String>,
    /// `ip local pool NAME FIRST [LAST]`, by name.
    #[serde(default)]
    pub ip_local_pools: BTreeMap<String, LocalPool>,
    /// `ipv6 local pool NAME PREFIX/LEN ASSIGN-LEN`, by name.
    #[serde(default)]
    pub ipv6_local_pools: BTreeMap<String, Ipv6LocalPool>,
    /// `crypto ikev2 authorization policy NAME`, by name.
    #[serde(default)]
    pub ikev2_authorization_policies: BTreeMap<String, AuthorizationPolicy>,
}

/// `ip local pool NAME FIRST [LAST]`: the IPv4 addresses handed to peers
/// in IKEv2 configuration payloads (INTERNAL_IP4_ADDRESS), FIRST to LAST
/// inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalPool {
    /// The first address handed out.
    pub first: Ipv4Addr,
    /// The last address handed out (FIRST when only one was given).
    pub last: Ipv4Addr,
}

/// The most addresses one `ip local pool` holds (a /12), and the most
/// prefixes one `ipv6 local pool` hands out: bounds the allocator.
pub const MAX_LOCAL_POOL_ADDRESSES: u64 = 1 << 20;

impl LocalPool {
    /// How many addresses the pool holds.
    pub fn size(&self) -> u64 {
        (u64::from(u32::from(self.last)) + 1).saturating_sub(u64::from(u32::from(self.first)))
    }
}

/// `ipv6 local pool NAME PREFIX/LEN ASSIGN-LEN`: IPv6 prefixes of length
/// ASSIGN-LEN cut from PREFIX, one per peer (INTERNAL_IP6_ADDRESS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ipv6LocalPool {
    /// The prefix the assignments are cut from.
    pub prefix: Ipv6Network,
    /// The length of each assignment (IOS: 48-128).
    pub assign_len: u8,
}

/// One `route set interface [NAME]` of an authorization policy: the
/// addresses of an interface, pushed to the peer as INTERNAL_IP4_SUBNET /
/// INTERNAL_IP6_SUBNET routes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "kebab-case")]
pub enum RouteSetInterface {
    /// `route set interface`: the tunnel's own address (its `ip
    /// unnumbered` interface's address on a Virtual-Template).
    Own,
    /// `route set interface NAME`.
    Named(String),
}

/// `crypto ikev2 authorization policy NAME`: what a peer authorized by a
/// profile's `aaa authorization group ... list LIST NAME` is given in
/// IKEv2 configuration payloads (RFC 7296 3.15).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationPolicy {
    /// `pool NAME`: an `ip local pool` the peer's IPv4 address comes from.
    pub pool: Option<String>,
    /// `ipv6 pool NAME`: an `ipv6 local pool` the peer's IPv6 address
    /// comes from.
    pub ipv6_pool: Option<String>,
    /// `route set interface [NAME]` lines, in order.
    pub route_set_interfaces: Vec<RouteSetInterface>,
    /// `route accept any [distance N]` on an initiator: install the routes
    /// the responder pushes (None: rvpn's default, accepted at distance 1,
    /// as IOS installs them).
    pub route_accept_distance: Option<u8>,
}

/// `aaa authorization group psk|cert list LIST POLICY` of a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AaaAuthorization {
    /// `cert` (peers authenticated by certificate) rather than `psk`.
    pub cert: bool,
    /// The `aaa authorization network` list.
    pub list: String,
    /// The `crypto ikev2 authorization policy`.
    pub policy: String,
}

impl Config {
    /// The configured hostname, or `rvpn`.
    pub fn hostname(&self) -> &str {
        self.hostname.as_deref().unwrap_or("rvpn")
    }
}

// ---------------------------------------------------------------- crypto

/// IKE and ESP encryption algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Encryption {
    /// `aes-gcm-128`.
    #[serde(rename = "aes-gcm-128")]
    AesGcm128,
    /// `aes-gcm-256`.
    #[serde(rename = "aes-gcm-256")]
    AesGcm256,
    /// `chacha20-poly1305`.
    #[serde(rename = "chacha20-poly1305")]
    Chacha20Poly1305,
    /// `aes-cbc-128`.
    #[serde(rename = "aes-cbc-128")]
    AesCbc128,
    /// `aes-cbc-256`.
    #[serde(rename = "aes-cbc-256")]
    AesCbc256,
}

impl Encryption {
    /// Every algorithm, in the order of the configuration keywords.
    pub const ALL: [Encryption; 5] = [
        Encryption::AesGcm128,
        Encryption::AesGcm256,
        Encryption::Chacha20Poly1305,
        Encryption::AesCbc128,
        Encryption::AesCbc256,
    ];
    /// The configuration keyword.
    pub fn name(self) -> &'static str {
        match self {
            Encryption::AesGcm128 => "aes-gcm-128",
            Encryption::AesGcm256 => "aes-gcm-256",
            Encryption::Chacha20Poly1305 => "chacha20-poly1305",
            Encryption::AesCbc128 => "aes-cbc-128",
            Encryption::AesCbc256 => "aes-cbc-256",
        }
    }
    /// AEAD ciphers need no integrity algorithm.
    pub fn is_aead(self) -> bool {
        !matches!(self, Encryption::AesCbc128 | Encryption::AesCbc256)
    }
    /// The algorithm with this configuration keyword.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.name() == s)
    }
}

/// Hash algorithms used as IKE integrity, PRF and ESP HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hash {
    /// SHA-1 (`sha1`).
    Sha1,
    /// SHA-256 (`sha256`).
    Sha256,
    /// SHA-384 (`sha384`).
    Sha384,
    /// SHA-512 (`sha512`).
    Sha512,
}

impl Hash {
    /// Every algorithm.
    pub const ALL: [Hash; 4] = [Hash::Sha1, Hash::Sha256, Hash::Sha384, Hash::Sha512];
    /// The configuration keyword.
    pub fn name(self) -> &'static str {
        match self {
            Hash::Sha1 => "sha1",
            Hash::Sha256 => "sha256",
            Hash::Sha384 => "sha384",
            Hash::Sha512 => "sha512",
        }
    }
    /// The algorithm with this configuration keyword.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.name() == s)
    }
    /// sha1 is accepted only under `crypto allow-weak`.
    pub fn is_weak(self) -> bool {
        self == Hash::Sha1
    }
}

/// Diffie-Hellman groups that rvpn implements (IANA numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DhGroup(pub u16);

impl DhGroup {
    /// Groups rvpn implements.
    pub const SUPPORTED: [u16; 7] = [14, 15, 16, 19, 20, 21, 31];
    /// Groups that are refused outright.
    pub const REFUSED: [u16; 6] = [1, 2, 5, 22, 23, 24];
    /// The group's name (`MODP 2048`, `ECP 256`, ...).
    pub fn describe(self) -> &'static str {
        match self.0 {
            1 => "MODP 768",
            2 => "MODP 1024",
            5 => "MODP 1536",
            14 => "MODP 2048",
            15 => "MODP 3072",
            16 => "MODP 4096",
            19 => "ECP 256",
            20 => "ECP 384",
            21 => "ECP 521",
            22 => "MODP 1024 with 160-bit subgroup",
            23 => "MODP 2048 with 224-bit subgroup",
            24 => "MODP 2048 with 256-bit subgroup",
            31 => "Curve25519",
            _ => "unknown group",
        }
    }
}

/// `crypto ikev2 proposal NAME`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ikev2Proposal {
    /// `encryption ...`, in order of preference.
    pub encryption: Vec<Encryption>,
    /// `integrity ...`, in order of preference.
    pub integrity: Vec<Hash>,
    /// `prf ...`, in order of preference.
    pub prf: Vec<Hash>,
    /// `group ...`, in order of preference.
    pub groups: Vec<DhGroup>,
}

/// An IKE identity (`identity local ...`, keyring peer `identity ...`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "kebab-case")]
pub enum Identity {
    /// `address A.B.C.D
    /// X:X::X:X`.
    Address(IpAddr),
    /// `fqdn NAME`.
    Fqdn(String),
    /// `email NAME`.
    Email(String),
    /// `key-id KEYID`.
    KeyId(String),
    /// `dn`: the subject of our certificate (`identity local dn` only).
    Dn,
}

impl fmt::Display for Identity {
    /// The configuration form, e.g. `fqdn hub1.example.net`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Address(a) => write!(f, "address {a}"),
            Identity::Fqdn(s) => write!(f, "fqdn {s}"),
            Identity::Email(s) => write!(f, "email {s}"),
            Identity::KeyId(s) => write!(f, "key-id {s}"),
            Identity::Dn => f.write_str("dn"),
        }
    }
}

/// A pre-shared key or password. Debug and Serialize never show it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct Secret(pub String);

impl Secret {
    /// The secret itself; call only where it is needed (IKE, rendering the
    /// config for `show running-config` or `write memory`).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Serialize for Secret {
    /// Always masked: JSON output never carries a secret.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(crate::render::MASK)
    }
}

/// `peer NAME` inside a keyring.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyringPeer {
    /// `description LINE`.
    pub description: Option<String>,
    /// The peer's address or a range of them.
    pub address: Option<IpNetwork>,
    /// `identity ...`: the peer's identity.
    pub identity: Option<Identity>,
    /// `pre-shared-key SECRET`: the key for both directions.
    pub pre_shared_key: Option<Secret>,
    /// `pre-shared-key local SECRET`: the key that authenticates us to the peer.
    pub pre_shared_key_local: Option<Secret>,
    /// `pre-shared-key remote SECRET`: the key that authenticates the peer to us.
    pub pre_shared_key_remote: Option<Secret>,
}

/// `crypto ikev2 keyring NAME`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keyring {
    /// `peer NAME` entries, by name.
    pub peers: BTreeMap<String, KeyringPeer>,
}

/// `revocation-check ...` of a trustpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "path", rename_all = "kebab-case")]
pub enum Revocation {
    /// `revocation-check none`.
    None,
    /// `revocation-check crl PATH`: the CRL file.
    Crl(String),
}

/// `crypto pki trustpoint NAME`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trustpoint {
    /// `ca-certificate PATH`.
    pub ca_certificate: Option<String>,
    /// `certificate PATH`: our certificate.
    pub certificate: Option<String>,
    /// `private-key PATH`: our private key.
    pub private_key: Option<String>,
    /// `revocation-check ...`.
    pub revocation: Option<Revocation>,
}

/// How one side authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMethod {
    /// `pre-share`: a pre-shared key.
    PreShare,
    /// `rsa-sig`: an RSA signature.
    RsaSig,
    /// `ecdsa-sig`: an ECDSA signature.
    EcdsaSig,
}

impl AuthMethod {
    /// The configuration keyword.
    pub fn name(self) -> &'static str {
        match self {
            AuthMethod::PreShare => "pre-share",
            AuthMethod::RsaSig => "rsa-sig",
            AuthMethod::EcdsaSig => "ecdsa-sig",
        }
    }
}

/// `match identity remote ...` of a profile.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum IdentityMatch {
    /// `fqdn NAME` (exact) or `fqdn domain NAME` (NAME or any name under it).
    Fqdn {
        /// Match names under `value` too.
        domain: bool,
        /// The name or domain.
        value: String,
    },
    /// `email NAME` or `email domain DOMAIN`.
    Email {
        /// Match every address in the domain `value`.
        domain: bool,
        /// The address or domain.
        value: String,
    },
    /// `address A.B.C.D[/M]`.
    Address {
        /// The address or network.
        network: IpNetwork,
    },
    /// `key-id KEYID`.
    KeyId {
        /// The key ID.
        value: String,
    },
    /// `any`.
    Any,
}

impl fmt::Display for IdentityMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentityMatch::Fqdn { domain, value } => {
                write!(f, "fqdn {}{value}", if *domain { "domain " } else { "" })
            }
            IdentityMatch::Email { domain, value } => {
                write!(f, "email {}{value}", if *domain { "domain " } else { "" })
            }
            IdentityMatch::Address { network } => {
                if network.prefix() == max_prefix(network.ip()) {
                    write!(f, "address {}", network.ip())
                } else {
                    write!(f, "address {network}")
                }
            }
            IdentityMatch::KeyId { value } => write!(f, "key-id {value}"),
            IdentityMatch::Any => write!(f, "any"),
        }
    }
}

/// The host prefix length of an address family.
pub fn max_prefix(ip: IpAddr) -> u8 {
    if ip.is_ipv4() {
        32
    } else {
        128
    }
}

/// DPD behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DpdMode {
    /// `periodic`: probe at every interval, even when traffic flows.
    Periodic,
    /// `on-demand`: probe only when no traffic came from the peer.
    OnDemand,
}

/// `dpd INTERVAL RETRY periodic|on-demand`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dpd {
    /// Seconds between probes.
    pub interval: u32,
    /// Seconds between retransmissions of an unanswered probe.
    pub retry: u32,
    /// `periodic` or `on-demand`.
    pub mode: DpdMode,
}

/// `crypto ikev2 profile NAME`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ikev2Profile {
    /// `description LINE`.
    pub description: Option<String>,
    /// `match identity remote ...` rules.
    pub match_identities: Vec<IdentityMatch>,
    /// `identity local ...`.
    pub identity_local: Option<Identity>,
    /// `authentication local ...`: how we authenticate.
    pub authentication_local: Option<AuthMethod>,
    /// `authentication remote ...`: the methods the peer may use.
    pub authentication_remote: Vec<AuthMethod>,
    /// `keyring local NAME`.
    pub keyring: Option<String>,
    /// `pki trustpoint NAME` entries.
    pub trustpoints: Vec<String>,
    /// `proposal NAME ...`, in order.
    pub proposals: Vec<String>,
    /// `dpd INTERVAL RETRY periodic
    /// on-demand`.
    pub dpd: Option<Dpd>,
    /// IKE SA lifetime in seconds.
    pub lifetime: Option<u32>,
    /// NAT keepalive interval in seconds.
    pub nat_keepalive: Option<u32>,
    /// `no mobike`: neither offer nor accept MOBIKE (RFC 4555), which is
    /// on by default as in strongSwan.
    #[serde(default)]
    pub no_mobike: bool,
    /// `authentication local rsa-sig pss`: sign with RSASSA-PSS rather
    /// than PKCS#1 v1.5.
    #[serde(default)]
    pub rsa_pss: bool,
    /// `aaa authorization group psk|cert list LIST POLICY` lines (at most
    /// one per `psk` and `cert`).
    #[serde(default)]
    pub aaa_authorization: Vec<AaaAuthorization>,
    /// `virtual-template N`: each peer this profile authenticates gets a
    /// Virtual-Access interface cloned from `interface Virtual-TemplateN`.
    #[serde(default)]
    pub virtual_template: Option<u32>,
}

/// One ESP transform of a transform set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum EspTransform {
    /// `esp-gcm 128|256`
    Gcm {
        /// Key length: 128 or 256.
        bits: u16,
    },
    /// `esp-chacha20-poly1305`
    Chacha20Poly1305,
    /// `esp-aes 128|256 esp-sha*-hmac`
    Cbc {
        /// Key length: 128 or 256.
        bits: u16,
        /// The HMAC.
        integrity: Hash,
    },
}

impl fmt::Display for EspTransform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EspTransform::Gcm { bits } => write!(f, "esp-gcm {bits}"),
            EspTransform::Chacha20Poly1305 => write!(f, "esp-chacha20-poly1305"),
            EspTransform::Cbc { bits, integrity } => {
                write!(f, "esp-aes {bits} {}", esp_hmac_name(*integrity))
            }
        }
    }
}

/// The transform-set keyword for an ESP HMAC.
pub fn esp_hmac_name(h: Hash) -> &'static str {
    match h {
        Hash::Sha1 => "esp-sha-hmac",
        Hash::Sha256 => "esp-sha256-hmac",
        Hash::Sha384 => "esp-sha384-hmac",
        Hash::Sha512 => "esp-sha512-hmac",
    }
}

/// ESP mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EspMode {
    /// Tunnel mode (the default).
    #[default]
    Tunnel,
    /// Transport mode.
    Transport,
}

/// `crypto ipsec transform-set NAME ...`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransformSet {
    /// The ESP transforms, in order.
    pub transforms: Vec<EspTransform>,
    /// `mode tunnel
    /// transport`.
    pub mode: EspMode,
}

/// `crypto ipsec profile NAME`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpsecProfile {
    /// `description LINE`.
    pub description: Option<String>,
    /// `set transform-set NAME ...`, in order.
    pub transform_sets: Vec<String>,
    /// `set ikev2-profile NAME`.
    pub ikev2_profile: Option<String>,
    /// `set pfs groupN`.
    pub pfs: Option<DhGroup>,
    /// `set security-association lifetime seconds N`.
    pub lifetime_seconds: Option<u32>,
    /// `set security-association lifetime kilobytes N`.
    pub lifetime_kilobytes: Option<u64>,
    /// `set security-association replay window-size N`.
    pub replay_window: Option<u32>,
}

// ------------------------------------------------------------ interfaces

/// `tunnel source ...`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "kebab-case")]
pub enum TunnelSource {
    /// An address.
    Address(IpAddr),
    /// An interface, by name.
    Interface(String),
}

/// `tunnel destination ...`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "kebab-case")]
pub enum TunnelDestination {
    /// A fixed peer address.
    Address(IpAddr),
    /// Any peer that authenticates against the profile.
    Dynamic,
}

/// `tunnel mode ipsec ipv4|ipv6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TunnelMode {
    /// `tunnel mode ipsec ipv4`.
    IpsecIpv4,
    /// `tunnel mode ipsec ipv6`.
    IpsecIpv6,
}

/// Tunnel settings of a `TunnelN` interface.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tunnel {
    /// `tunnel source ...`.
    pub source: Option<TunnelSource>,
    /// `tunnel destination ...`.
    pub destination: Option<TunnelDestination>,
    /// `tunnel mode ipsec ...`.
    pub mode: Option<TunnelMode>,
    /// `tunnel protection ipsec profile NAME`.
    pub protection: Option<String>,
}

/// `interface NAME`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    /// `description LINE`.
    pub description: Option<String>,
    /// `shutdown`.
    pub shutdown: bool,
    /// `ip address A.B.C.D/M`.
    pub ipv4: Option<Ipv4Network>,
    /// `ipv6 address X:X::X:X/M`, every one configured.
    pub ipv6: Vec<Ipv6Network>,
    /// `mtu N`.
    pub mtu: Option<u32>,
    /// `ip tcp adjust-mss N`.
    pub tcp_adjust_mss: Option<u16>,
    /// Present on tunnel interfaces.
    pub tunnel: Option<Tunnel>,
    /// `bfd interval TX min_rx RX multiplier N`: BFD timers of sessions
    /// to neighbors on this interface (a neighbor's own timers win).
    #[serde(default)]
    pub bfd: Option<BfdTimers>,
    /// `ip unnumbered NAME`: the interface borrows NAME's IPv4 address
    /// (a Loopback) as its source, instead of an `ip address` of its own.
    #[serde(default)]
    pub unnumbered: Option<String>,
    /// `ip address negotiated`: the tunnel takes its IPv4 address (and
    /// routes) from the responder's IKEv2 configuration payload.
    #[serde(default)]
    pub address_negotiated: bool,
}

/// The kind of interface a name denotes, from its IOS name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterfaceKind {
    /// `TunnelN`: one IPsec tunnel.
    Tunnel(u32),
    /// `LoopbackN`: a loopback (a Linux dummy interface).
    Loopback(u32),
    /// `Virtual-TemplateN`: a template Virtual-Access interfaces are
    /// cloned from; never a Linux interface itself.
    VirtualTemplate(u32),
    /// Any other name (a Linux interface such as eth0).
    Other,
}

impl InterfaceKind {
    /// The kind of interface `name` is.
    pub fn of(name: &str) -> InterfaceKind {
        let num = |p: &str| name.strip_prefix(p).and_then(|n| n.parse::<u32>().ok());
        if let Some(n) = num("Tunnel") {
            InterfaceKind::Tunnel(n)
        } else if let Some(n) = num("Loopback") {
            InterfaceKind::Loopback(n)
        } else if let Some(n) = num("Virtual-Template") {
            InterfaceKind::VirtualTemplate(n)
        } else {
            InterfaceKind::Other
        }
    }
}

/// The highest Virtual-Template number (IOS's range, 1 to 4095).
pub const MAX_VIRTUAL_TEMPLATE: u32 = 4095;

/// The prefix of a Virtual-Access interface's operator name.
pub const VIRTUAL_ACCESS: &str = "Virtual-Access";

/// BFD timers in milliseconds (RFC 5880 Desired Min TX, Required Min RX,
/// Detect Mult), from `neighbor X bfd MULT RX TX` or `bfd interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BfdTimers {
    /// Detect Mult: missed packets before the session goes down.
    pub detect_mult: u8,
    /// Required Min RX interval, in milliseconds.
    pub min_rx_ms: u32,
    /// Desired Min TX interval, in milliseconds.
    pub min_tx_ms: u32,
}

impl BfdTimers {
    /// 300 ms x 3 (FRR's and rvpn's default).
    pub const DEFAULT: BfdTimers = BfdTimers {
        detect_mult: 3,
        min_rx_ms: 300,
        min_tx_ms: 300,
    };
}

/// Whether a name is a tunnel interface (`TunnelN`).
pub fn is_tunnel_name(name: &str) -> bool {
    name.strip_prefix("Tunnel")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Order interface names the way routers list them: by name with the
/// trailing number compared as a number (Tunnel2 before Tunnel10).
pub fn interface_order(a: &str, b: &str) -> std::cmp::Ordering {
    fn split(s: &str) -> (&str, Option<u64>) {
        let cut = s.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        (&s[..cut], s[cut..].parse().ok())
    }
    let (pa, na) = split(a);
    let (pb, nb) = split(b);
    pa.cmp(pb).then(na.cmp(&nb)).then(a.cmp(b))
}

// ------------------------------------------------------------------- BGP

mod bgp;
pub use bgp::*;

// ---------------------------------------------------------------- policy

/// permit or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// `permit`.
    Permit,
    /// `deny`.
    Deny,
}

impl Action {
    /// The configuration keyword.
    pub fn name(self) -> &'static str {
        match self {
            Action::Permit => "permit",
            Action::Deny => "deny",
        }
    }
}

/// One `ip prefix-list NAME seq N permit|deny PREFIX [ge N] [le N]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrefixListEntry {
    /// `permit` or `deny`.
    pub action: Action,
    /// The prefix.
    pub prefix: IpNetwork,
    /// `ge N`: the minimum prefix length matched.
    pub ge: Option<u8>,
    /// `le N`: the maximum prefix length matched.
    pub le: Option<u8>,
}

/// A prefix list: entries by sequence number.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrefixList {
    /// The entries, by sequence number.
    pub entries: BTreeMap<u32, PrefixListEntry>,
}

/// One community-list entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommunityListEntry {
    /// `permit` or `deny`.
    pub action: Action,
    /// Communities as written (`65000:100`, `no-export`, ...); an entry
    /// matches a route carrying all of them.
    pub communities: Vec<String>,
}

/// `bgp community-list standard NAME seq N permit|deny COMMUNITY...`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommunityList {
    /// The entries, by sequence number.
    pub entries: BTreeMap<u32, CommunityListEntry>,
}

/// One as-path access-list entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AsPathEntry {
    /// `permit` or `deny`.
    pub action: Action,
    /// The regular expression, matched against the AS path.
    pub regex: String,
}

/// `bgp as-path access-list NAME seq N permit|deny REGEX`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AsPathList {
    /// The entries, by sequence number.
    pub entries: BTreeMap<u32, AsPathEntry>,
}

/// A route-map match clause.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "kebab-case")]
pub enum RouteMapMatch {
    /// `match ip address prefix-list NAME`.
    IpAddressPrefixList(String),
    /// `match ipv6 address prefix-list NAME`.
    Ipv6AddressPrefixList(String),
    /// `match community NAME`.
    Community(String),
    /// `match as-path NAME`.
    AsPath(String),
}

impl fmt::Display for RouteMapMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteMapMatch::IpAddressPrefixList(n) => write!(f, "match ip address prefix-list {n}"),
            RouteMapMatch::Ipv6AddressPrefixList(n) => {
                write!(f, "match ipv6 address prefix-list {n}")
            }
            RouteMapMatch::Community(n) => write!(f, "match community {n}"),
            RouteMapMatch::AsPath(n) => write!(f, "match as-path {n}"),
        }
    }
}

/// A route-map set clause.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "kebab-case")]
pub enum RouteMapSet {
    /// `set local-preference N`.
    LocalPreference(u32),
    /// `set metric N`.
    Metric(u32),
    /// `set weight N`.
    Weight(u32),
    /// `set as-path prepend ASN...`.
    AsPathPrepend(Vec<u32>),
    /// `set community COMMUNITY... [additive]`.
    Community {
        /// The communities, as written.
        communities: Vec<String>,
        /// Add them to the route's communities instead of replacing those.
        additive: bool,
    },
    /// `set ip next-hop A.B.C.D`.
    IpNextHop(Ipv4Addr),
    /// `set ipv6 next-hop global X:X::X:X`.
    Ipv6NextHop(std::net::Ipv6Addr),
}

impl RouteMapSet {
    /// Clauses of the same kind replace each other.
    pub fn kind(&self) -> u8 {
        match self {
            RouteMapSet::LocalPreference(_) => 0,
            RouteMapSet::Metric(_) => 1,
            RouteMapSet::Weight(_) => 2,
            RouteMapSet::AsPathPrepend(_) => 3,
            RouteMapSet::Community { .. } => 4,
            RouteMapSet::IpNextHop(_) => 5,
            RouteMapSet::Ipv6NextHop(_) => 6,
        }
    }
}

impl fmt::Display for RouteMapSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteMapSet::LocalPreference(v) => write!(f, "set local-preference {v}"),
            RouteMapSet::Metric(v) => write!(f, "set metric {v}"),
            RouteMapSet::Weight(v) => write!(f, "set weight {v}"),
            RouteMapSet::AsPathPrepend(v) => {
                let s: Vec<String> = v.iter().map(|a| a.to_string()).collect();
                write!(f, "set as-path prepend {}", s.join(" "))
            }
            RouteMapSet::Community {
                communities,
                additive,
            } => write!(
                f,
                "set community {}{}",
                communities.join(" "),
                if *additive { " additive" } else { "" }
            ),
            RouteMapSet::IpNextHop(a) => write!(f, "set ip next-hop {a}"),
            RouteMapSet::Ipv6NextHop(a) => write!(f, "set ipv6 next-hop global {a}"),
        }
    }
}

/// One `route-map NAME permit|deny SEQ` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteMapEntry {
    /// `permit` or `deny`.
    pub action: Action,
    /// `description LINE`.
    pub description: Option<String>,
    /// The `match` clauses.
    pub matches: Vec<RouteMapMatch>,
    /// The `set` clauses.
    pub sets: Vec<RouteMapSet>,
}

/// A route map: entries by sequence number.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteMap {
    /// The entries, by sequence number.
    pub entries: BTreeMap<u32, RouteMapEntry>,
}

// -------------------------------------------------------- static routes

/// Next hop of a static route.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "kebab-case")]
pub enum NextHop {
    /// A gateway address.
    Gateway(IpAddr),
    /// An interface, by name.
    Interface(String),
    /// `Null0` / `blackhole`.
    Blackhole,
}

impl fmt::Display for NextHop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NextHop::Gateway(a) => write!(f, "{a}"),
            NextHop::Interface(i) => f.write_str(i),
            NextHop::Blackhole => f.write_str("Null0"),
        }
    }
}

/// `ip route PREFIX NEXTHOP [DISTANCE]` / `ipv6 route ...`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StaticRoute {
    /// The destination prefix.
    pub prefix: IpNetwork,
    /// The next hop.
    pub next_hop: NextHop,
    /// Administrative distance, 1 by default.
    pub distance: u8,
}
