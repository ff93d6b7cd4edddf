//! What the IKE engine is told to do: one entry per protected tunnel
//! interface, with everything resolved from the operator's configuration
//! (profiles, keyrings, proposals). rvpnd builds this from the vtysh model.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

/// An IKE identity as sent in IDi/IDr.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    /// An IP address (ID_IPV4_ADDR or ID_IPV6_ADDR).
    Address(IpAddr),
    /// A fully qualified domain name (ID_FQDN).
    Fqdn(String),
    /// An RFC 822 email address (ID_RFC822_ADDR).
    Email(String),
    /// Opaque bytes (ID_KEY_ID).
    KeyId(Vec<u8>),
    /// A distinguished name, the DER of an X.501 Name (ID_DER_ASN1_DN).
    Dn(Vec<u8>),
}

impl Identity {
    /// IANA ID type and the payload data.
    pub fn encode(&self) -> (u8, Vec<u8>) {
        match self {
            Identity::Address(IpAddr::V4(a)) => (1, a.octets().to_vec()),
            Identity::Address(IpAddr::V6(a)) => (5, a.octets().to_vec()),
            Identity::Fqdn(s) => (2, s.as_bytes().to_vec()),
            Identity::Email(s) => (3, s.as_bytes().to_vec()),
            Identity::KeyId(k) => (11, k.clone()),
            Identity::Dn(d) => (9, d.clone()),
        }
    }

    /// Decode an ID payload; None for types rvpn does not match on.
    pub fn decode(id_type: u8, data: &[u8]) -> Option<Identity> {
        Some(match id_type {
            1 => Identity::Address(IpAddr::from(<[u8; 4]>::try_from(data).ok()?)),
            5 => Identity::Address(IpAddr::from(<[u8; 16]>::try_from(data).ok()?)),
            2 => Identity::Fqdn(String::from_utf8(data.to_vec()).ok()?),
            3 => Identity::Email(String::from_utf8(data.to_vec()).ok()?),
            11 => Identity::KeyId(data.to_vec()),
            9 => Identity::Dn(data.to_vec()),
            _ => return None,
        })
    }
}

/// Writes a peer-supplied name with everything a terminal or a log reader
/// could take for something else escaped: control characters (`\x1b`,
/// `\n`, ...) and other non-printing characters as `\xNN` / `\u{...}`,
/// and the backslash itself as `\\`. Printable text, including non-ASCII
/// letters, is written as it is.
fn write_escaped(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    use fmt::Write;
    for c in s.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            c if u32::from(c) < 0x80 && (c.is_ascii_control()) => {
                write!(f, "\\x{:02x}", u32::from(c))?
            }
            c if c.is_control() || is_invisible(c) => write!(f, "\\u{{{:x}}}", u32::from(c))?,
            c => f.write_char(c)?,
        }
    }
    Ok(())
}

/// Format characters that change how a line reads without printing
/// anything (bidirectional overrides, zero-width characters).
fn is_invisible(c: char) -> bool {
    matches!(
        u32::from(c),
        0x200b..=0x200f | 0x202a..=0x202e | 0x2060..=0x2064 | 0x2066..=0x2069 | 0xfeff
    )
}

impl fmt::Display for Identity {
    /// Fit for a terminal and a log line: peer-supplied names have their
    /// control characters escaped (see [`write_escaped`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Address(a) => write!(f, "{a}"),
            Identity::Fqdn(s) | Identity::Email(s) => write_escaped(f, s),
            Identity::Dn(d) => match crate::pki::dn_to_string(d) {
                Some(s) => write_escaped(f, &s),
                None => write!(f, "dn:(unparsable, {} bytes)", d.len()),
            },
            Identity::KeyId(k) => match std::str::from_utf8(k) {
                Ok(s) if s.chars().all(|c| c.is_ascii_graphic()) => write!(f, "keyid:{s}"),
                _ => write!(
                    f,
                    "keyid:{}",
                    k.iter().map(|b| format!("{b:02x}")).collect::<String>()
                ),
            },
        }
    }
}

/// A rule for accepting a remote identity (`match identity remote ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityMatch {
    /// An FQDN identity (compared without case).
    Fqdn {
        /// Match `value` and every name below it, not only `value`.
        domain: bool,
        /// The name or domain.
        value: String,
    },
    /// An RFC 822 (email) identity (compared without case).
    Email {
        /// Match every address whose domain is `value` or below it, not
        /// only the address `value`.
        domain: bool,
        /// The address or domain.
        value: String,
    },
    /// An IP address identity inside a prefix.
    Address {
        /// The network address.
        network: IpAddr,
        /// The prefix length.
        prefix: u8,
    },
    /// A KEY_ID identity with exactly these bytes.
    KeyId(Vec<u8>),
    /// Any identity.
    Any,
}

fn in_domain(name: &str, domain: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let domain = domain
        .trim_end_matches('.')
        .trim_start_matches('.')
        .to_ascii_lowercase();
    name == domain || name.ends_with(&format!(".{domain}"))
}

/// Whether `a` lies in `net`/`prefix` (false across address families).
pub fn prefix_match(a: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (a, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix.min(32)))
            };
            u32::from(a) & m == u32::from(n) & m
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix.min(128)))
            };
            u128::from(a) & m == u128::from(n) & m
        }
        _ => false,
    }
}

impl IdentityMatch {
    /// Whether a received identity satisfies this rule.
    pub fn matches(&self, id: &Identity) -> bool {
        match (self, id) {
            (IdentityMatch::Any, _) => true,
            (
                IdentityMatch::Fqdn {
                    domain: false,
                    value,
                },
                Identity::Fqdn(n),
            ) => n.eq_ignore_ascii_case(value),
            (
                IdentityMatch::Fqdn {
                    domain: true,
                    value,
                },
                Identity::Fqdn(n),
            ) => in_domain(n, value),
            (
                IdentityMatch::Email {
                    domain: false,
                    value,
                },
                Identity::Email(e),
            ) => e.eq_ignore_ascii_case(value),
            (
                IdentityMatch::Email {
                    domain: true,
                    value,
                },
                Identity::Email(e),
            ) => e.rsplit_once('@').is_some_and(|(_, d)| in_domain(d, value)),
            (IdentityMatch::Address { network, prefix }, Identity::Address(a)) => {
                prefix_match(*a, *network, *prefix)
            }
            (IdentityMatch::KeyId(k), Identity::KeyId(v)) => k == v,
            _ => false,
        }
    }
}

/// IKE SA algorithms, IANA numbers, in order of preference. Each
/// combination of one of each is acceptable (as strongSwan builds one
/// proposal from an IOS-style list).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IkeProposal {
    /// (ENCR transform id, key bits or 0)
    pub encryption: Vec<(u16, u16)>,
    /// INTEG transform ids (used with non-AEAD ciphers only).
    pub integrity: Vec<u16>,
    /// PRF transform ids.
    pub prf: Vec<u16>,
    /// Diffie-Hellman group (key exchange method) ids.
    pub groups: Vec<u16>,
}

/// ESP algorithms for Child SAs, in order of preference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspProposal {
    /// (ENCR transform id, key bits or 0, INTEG transform id or 0 for AEAD)
    pub transforms: Vec<(u16, u16, u16)>,
    /// The PFS group for CREATE_CHILD_SA rekeys (None: no PFS).
    pub pfs: Option<u16>,
    /// Accept/offer extended sequence numbers.
    pub esn: bool,
}

/// Where the peer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// A fixed address (`tunnel destination A`): we initiate.
    Address(IpAddr),
    /// `tunnel destination dynamic`: we only respond.
    Dynamic,
}

/// Dead peer detection settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DpdConfig {
    /// Time between liveness checks (see `periodic`).
    pub interval: Duration,
    /// Seconds between retransmissions of an unanswered check (IOS `dpd INTERVAL RETRY`).
    pub retries: u32,
    /// Probe even when traffic flows (IOS `periodic`); otherwise only when idle.
    pub periodic: bool,
}

/// How one side authenticates (`authentication local|remote ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// `pre-share`: AUTH method 2 with a keyring key.
    Psk,
    /// `rsa-sig`: an RSA signature with a certificate (AUTH method 14 or 1).
    /// `pss`: sign with RSASSA-PSS rather than PKCS#1 v1.5 (local side).
    Rsa {
        /// Sign with RSASSA-PSS.
        pss: bool,
    },
    /// `ecdsa-sig`: an ECDSA signature with a certificate (AUTH method 14,
    /// 9 or 10).
    Ecdsa,
}

impl AuthKind {
    /// Whether it needs a certificate.
    pub fn is_signature(self) -> bool {
        !matches!(self, AuthKind::Psk)
    }

    /// The configuration keyword.
    pub fn name(self) -> &'static str {
        match self {
            AuthKind::Psk => "pre-share",
            AuthKind::Rsa { .. } => "rsa-sig",
            AuthKind::Ecdsa => "ecdsa-sig",
        }
    }
}

/// One protected tunnel interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelConfig {
    /// Interface name, e.g. `Tunnel1`.
    pub name: String,
    /// Our address for IKE (`tunnel source`); None: any local address.
    pub local: Option<IpAddr>,
    /// Where the peer is, and so whether we initiate.
    pub peer: Peer,
    /// The identity we send.
    pub local_id: Identity,
    /// Remote identity rules; empty: any identity whose PSK we find.
    pub remote_match: Vec<IdentityMatch>,
    /// The identity we expect (and send as IDr hint) when known.
    pub remote_id: Option<Identity>,
    /// Keys from the keyring; the one for a peer is found by its identity,
    /// else by its address ([`TunnelConfig::find_key`]).
    pub keys: Vec<PeerKey>,
    /// IKE SA algorithms.
    pub ike: IkeProposal,
    /// Child SA algorithms.
    pub esp: EspProposal,
    /// IKE SA lifetime: rekeyed near this age (with jitter), expired at 110% of it.
    pub ike_lifetime: Duration,
    /// Child SA lifetime: rekeyed near this age (with jitter), expired at 110% of it.
    pub child_lifetime: Duration,
    /// Child SA soft lifetime in kilobytes (0: none).
    pub child_lifetime_kb: u64,
    /// Dead peer detection; None: off.
    pub dpd: Option<DpdConfig>,
    /// Interval of NAT-T keepalives while we are behind a NAT (zero: none).
    pub nat_keepalive: Duration,
    /// Offer and accept MOBIKE (RFC 4555; strongSwan's `mobike = yes`).
    pub mobike: bool,
    /// ESP anti-replay window size, in packets.
    pub replay_window: u32,
    /// Administratively down: no negotiation.
    pub shutdown: bool,
    /// How we authenticate.
    pub auth_local: AuthKind,
    /// How the peer may authenticate (`Rsa`'s `pss` is ignored here:
    /// both paddings verify).
    pub auth_remote: Vec<AuthKind>,
    /// The profile's trustpoints (`pki trustpoint`): we sign with the
    /// first that has a key, and accept a peer chain that reaches any.
    pub trustpoints: Vec<std::sync::Arc<crate::pki::TrustPoint>>,
    /// `Some(N)`: this is `interface Virtual-TemplateN`. Each peer it
    /// authenticates gets its own tunnel, `Virtual-AccessM`, cloned from
    /// it (IOS FlexVPN); the template itself never carries an SA.
    pub virtual_template: Option<u32>,
    /// IKEv2 configuration payloads (RFC 7296 3.15): addresses and routes
    /// handed out as responder, or asked for as initiator.
    pub cp: CpConfig,
}

/// IKEv2 configuration payloads of a tunnel (RFC 7296 3.15): as
/// responder, the pools a peer's addresses come from and the routes it is
/// given (`crypto ikev2 authorization policy`); as initiator, whether to
/// ask for an address (`ip address negotiated`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpConfig {
    /// Responder: the IPv4 pool, by name, with its range.
    pub pool4: Option<(String, PoolRange)>,
    /// Responder: the IPv6 pool, by name, with its range.
    pub pool6: Option<(String, PoolRange)>,
    /// Routes given to the peer as INTERNAL_IP4_SUBNET /
    /// INTERNAL_IP6_SUBNET, (network, prefix length): in the responder's
    /// reply, or in the initiator's request.
    pub routes: Vec<(IpAddr, u8)>,
    /// Initiator: ask for an IPv4 address (INTERNAL_IP4_ADDRESS).
    pub request4: bool,
    /// Initiator: ask for an IPv6 address (INTERNAL_IP6_ADDRESS).
    pub request6: bool,
}

/// The addresses of an address pool (`ip local pool`, `ipv6 local pool`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolRange {
    /// IPv4 addresses FIRST to LAST, inclusive.
    V4 {
        /// The first address.
        first: std::net::Ipv4Addr,
        /// The last address.
        last: std::net::Ipv4Addr,
    },
    /// IPv6 prefixes of `assign_len` cut from `prefix`/`len`.
    V6 {
        /// The pool's prefix.
        prefix: std::net::Ipv6Addr,
        /// Its length.
        len: u8,
        /// The length of each assignment.
        assign_len: u8,
    },
}

impl PoolRange {
    /// How many assignments the pool holds (at most 2^32 - 1).
    pub fn size(&self) -> u32 {
        match *self {
            PoolRange::V4 { first, last } => {
                let (f, l) = (u32::from(first), u32::from(last));
                if l < f {
                    0
                } else {
                    (l - f).saturating_add(1)
                }
            }
            PoolRange::V6 {
                len, assign_len, ..
            } => {
                let bits = u32::from(assign_len.saturating_sub(len)).min(32);
                if bits >= 32 {
                    u32::MAX
                } else {
                    1u32 << bits
                }
            }
        }
    }

    /// The `i`th assignment: (address, prefix length); None past the end.
    pub fn nth(&self, i: u32) -> Option<(IpAddr, u8)> {
        if i >= self.size() {
            return None;
        }
        match *self {
            PoolRange::V4 { first, .. } => Some((
                IpAddr::V4(std::net::Ipv4Addr::from(u32::from(first).checked_add(i)?)),
                32,
            )),
            PoolRange::V6 {
                prefix, assign_len, ..
            } => {
                let shift = 128u32.checked_sub(u32::from(assign_len))?;
                let off = if shift >= 128 {
                    0
                } else {
                    u128::from(i) << shift
                };
                // The first address of the assigned prefix past its
                // all-zeros one, unless the assignment is one address.
                let host = u128::from(assign_len < 128);
                let a = u128::from(prefix).checked_add(off)?.checked_add(host)?;
                Some((IpAddr::V6(std::net::Ipv6Addr::from(a)), assign_len))
            }
        }
    }
}

/// One keyring peer: who it is and the pre-shared keys.
#[derive(Clone, PartialEq, Eq)]
pub struct PeerKey {
    /// The keyring peer's name (for messages).
    pub name: String,
    /// The peer's identity, if the keyring gives one.
    pub identity: Option<Identity>,
    /// Address range: (network, prefix length).
    pub address: Option<(IpAddr, u8)>,
    /// Key that authenticates us to the peer.
    pub psk_local: Vec<u8>,
    /// Key that authenticates the peer to us.
    pub psk_remote: Vec<u8>,
}

impl fmt::Debug for PeerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerKey")
            .field("name", &self.name)
            .field("identity", &self.identity)
            .field("address", &self.address)
            .field("psk", &"<redacted>")
            .finish()
    }
}

impl TunnelConfig {
    /// The key for a peer: by identity first, then by address.
    pub fn find_key(&self, addr: IpAddr, id: Option<&Identity>) -> Option<&PeerKey> {
        if let Some(id) = id {
            if let Some(k) = self.keys.iter().find(|k| k.identity.as_ref() == Some(id)) {
                return Some(k);
            }
        }
        self.keys
            .iter()
            .find(|k| k.address.is_some_and(|(n, p)| prefix_match(addr, n, p)))
    }

    /// Whether a remote identity is acceptable for this tunnel.
    pub fn accepts(&self, id: &Identity) -> bool {
        if self.remote_match.is_empty() {
            return self.remote_id.as_ref().is_none_or(|r| r == id)
                || self.keys.iter().any(|k| k.identity.as_ref() == Some(id));
        }
        self.remote_match.iter().any(|m| m.matches(id))
    }
}

/// Half-open SAs from which on a COOKIE is demanded, by default (IOS has
/// no cookie challenge unless configured; strongSwan starts at 30).
pub const DEFAULT_COOKIE_THRESHOLD: usize = 32;

/// The default cap on half-open SAs (about 4 MB of state at most).
pub const DEFAULT_MAX_HALF_OPEN: usize = 1000;

/// The default cap on half-open SAs from one address (strongSwan's
/// `block_threshold` is 5; a little more for many peers behind one NAT).
pub const DEFAULT_MAX_HALF_OPEN_PER_ADDRESS: usize = 10;

/// Engine-wide settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// The tunnels, one per protected tunnel interface.
    pub tunnels: Vec<TunnelConfig>,
    /// Half-open SAs (responder SAs that answered IKE_SA_INIT and are not
    /// authenticated yet) from which on a COOKIE is demanded (RFC 7296
    /// 2.6): `crypto ikev2 cookie-challenge N`, default
    /// [`DEFAULT_COOKIE_THRESHOLD`].
    pub cookie_threshold: usize,
    /// Hard cap on half-open SAs: past it, new IKE_SA_INIT requests are
    /// dropped without an answer (`crypto ikev2 limit
    /// max-in-negotiation-sa N`, default [`DEFAULT_MAX_HALF_OPEN`]).
    pub max_half_open: usize,
    /// Hard cap on half-open SAs from one address (`crypto ikev2 limit
    /// max-in-negotiation-sa-per-address N`, default
    /// [`DEFAULT_MAX_HALF_OPEN_PER_ADDRESS`]).
    pub max_half_open_per_address: usize,
    /// First retransmission timeout; doubles (x1.8 as strongSwan) per try.
    pub retransmit_base: Duration,
    /// Retransmissions before an exchange is given up.
    pub retransmit_tries: u32,
    /// `crypto allow-weak`: SHA-1 signatures (RSA auth method 1, SHA-1
    /// certificate signatures) are accepted.
    pub allow_weak: bool,
    /// IKE fragmentation (RFC 7383): None: not announced
    /// (`no crypto ikev2 fragmentation`); Some(mtu): announced, and an
    /// encrypted message that does not fit an IP packet of `mtu` octets
    /// goes in fragments (`crypto ikev2 fragmentation [mtu N]`, default
    /// [`super::frag::DEFAULT_MTU`]).
    pub fragment_mtu: Option<u16>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            tunnels: Vec::new(),
            cookie_threshold: DEFAULT_COOKIE_THRESHOLD,
            max_half_open: DEFAULT_MAX_HALF_OPEN,
            max_half_open_per_address: DEFAULT_MAX_HALF_OPEN_PER_ADDRESS,
            retransmit_base: Duration::from_secs(4),
            retransmit_tries: 5,
            allow_weak: false,
            fragment_mtu: Some(super::frag::DEFAULT_MTU),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_are_shown_with_control_characters_escaped() {
        let evil = Identity::Fqdn("\x1b]0;x\x07\nSession status: UP-ACTIVE".into());
        let shown = evil.to_string();
        assert_eq!(shown, "\\x1b]0;x\\x07\\x0aSession status: UP-ACTIVE");
        assert!(!shown.chars().any(|c| c.is_control()), "{shown:?}");
        assert_eq!(
            Identity::Email("a\\b\u{202e}@x".into()).to_string(),
            "a\\\\b\\u{202e}@x"
        );
        // Ordinary names, also non-ASCII ones, are shown as they are.
        assert_eq!(
            Identity::Fqdn("spoke1.example.net".into()).to_string(),
            "spoke1.example.net"
        );
        assert_eq!(
            Identity::Fqdn("zürich.example".into()).to_string(),
            "zürich.example"
        );
        assert_eq!(
            Identity::KeyId(b"a\x1bb".to_vec()).to_string(),
            "keyid:611b62"
        );
    }

    #[test]
    fn identity_rules() {
        let m = IdentityMatch::Fqdn {
            domain: true,
            value: "example.net".into(),
        };
        assert!(m.matches(&Identity::Fqdn("spoke1.example.net".into())));
        assert!(m.matches(&Identity::Fqdn("EXAMPLE.net".into())));
        assert!(!m.matches(&Identity::Fqdn("badexample.net".into())));
        assert!(!m.matches(&Identity::Email("a@example.net".into())));
        let e = IdentityMatch::Email {
            domain: true,
            value: "example.net".into(),
        };
        assert!(e.matches(&Identity::Email("ops@example.net".into())));
        let a = IdentityMatch::Address {
            network: "10.0.0.0".parse().unwrap(),
            prefix: 8,
        };
        assert!(a.matches(&Identity::Address("10.1.2.3".parse().unwrap())));
        assert!(!a.matches(&Identity::Address("11.1.2.3".parse().unwrap())));
        assert!(!a.matches(&Identity::Address("::1".parse().unwrap())));
        assert!(IdentityMatch::Any.matches(&Identity::KeyId(vec![1])));
    }

    #[test]
    fn identity_encoding_round_trips() {
        for id in [
            Identity::Address("192.0.2.1".parse().unwrap()),
            Identity::Address("2001:db8::1".parse().unwrap()),
            Identity::Fqdn("hub1.example.net".into()),
            Identity::Email("a@b.c".into()),
            Identity::KeyId(b"key".to_vec()),
        ] {
            let (t, d) = id.encode();
            assert_eq!(Identity::decode(t, &d), Some(id));
        }
        assert_eq!(Identity::decode(1, &[1, 2, 3]), None);
    }
}
