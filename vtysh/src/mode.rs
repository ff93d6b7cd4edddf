//! CLI modes (exec, config and its sub-modes) and their prompts.

use serde::{Deserialize, Serialize};

/// The kind of mode a shell session is in; decides which commands parse
/// and what the prompt looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Exec mode (`#`): show, clear, write, configure.
    Exec,
    /// Global configuration (`configure terminal`).
    Config,
    /// `interface IFNAME`.
    Interface,
    /// `crypto ikev2 proposal PROPOSAL`.
    Ikev2Proposal,
    /// `crypto ikev2 keyring KEYRING`.
    Ikev2Keyring,
    /// `peer PEER` inside a keyring.
    Ikev2KeyringPeer,
    /// `crypto pki trustpoint TRUSTPOINT`.
    PkiTrustpoint,
    /// `crypto ikev2 profile PROFILE`.
    Ikev2Profile,
    /// `crypto ikev2 authorization policy POLICY`.
    Ikev2AuthorizationPolicy,
    /// `crypto ipsec transform-set TRANSFORMSET ...`.
    IpsecTransformSet,
    /// `crypto ipsec profile PROFILE`.
    IpsecProfile,
    /// `router bgp ASN`.
    RouterBgp,
    /// `address-family ...` inside `router bgp`.
    RouterBgpAf,
    /// `route-map ROUTEMAP <permit
    /// deny> SEQ`.
    RouteMap,
}

impl Mode {
    /// Every mode, for tables and tests.
    pub const ALL: [Mode; 14] = [
        Mode::Exec,
        Mode::Config,
        Mode::Interface,
        Mode::Ikev2Proposal,
        Mode::Ikev2Keyring,
        Mode::Ikev2KeyringPeer,
        Mode::PkiTrustpoint,
        Mode::Ikev2Profile,
        Mode::Ikev2AuthorizationPolicy,
        Mode::IpsecTransformSet,
        Mode::IpsecProfile,
        Mode::RouterBgp,
        Mode::RouterBgpAf,
        Mode::RouteMap,
    ];

    /// The part of the prompt after the hostname, e.g. `(config-if)#`.
    pub fn prompt_suffix(self) -> &'static str {
        match self {
            Mode::Exec => "#",
            Mode::Config => "(config)#",
            Mode::Interface => "(config-if)#",
            Mode::Ikev2Proposal => "(config-ikev2-proposal)#",
            Mode::Ikev2Keyring => "(config-ikev2-keyring)#",
            Mode::Ikev2KeyringPeer => "(config-ikev2-keyring-peer)#",
            Mode::PkiTrustpoint => "(ca-trustpoint)#",
            Mode::Ikev2Profile => "(config-ikev2-profile)#",
            Mode::Ikev2AuthorizationPolicy => "(config-ikev2-profile-author-policy)#",
            Mode::IpsecTransformSet => "(cfg-crypto-trans)#",
            Mode::IpsecProfile => "(ipsec-profile)#",
            Mode::RouterBgp => "(config-router)#",
            Mode::RouterBgpAf => "(config-router-af)#",
            Mode::RouteMap => "(config-route-map)#",
        }
    }

    /// The full prompt for a hostname.
    pub fn prompt(self, hostname: &str) -> String {
        format!("{hostname}{}", self.prompt_suffix())
    }

    /// Whether this is a configuration mode (anything but exec).
    pub fn is_config(self) -> bool {
        self != Mode::Exec
    }
}
