//! IANA "Border Gateway Protocol (BGP) Parameters" (and "Address Family
//! Numbers", "SAFI Values", "Capability Codes") registries as newtypes with
//! named constants, so values this code does not know survive decoding and
//! can be logged and re-emitted.

use iana::registry;

registry! {
    /// Message Type in the BGP header (RFC 4271 section 4.1).
    MessageType(u8) {
        /// OPEN (RFC 4271 section 4.2).
        OPEN = 1,
        /// UPDATE (RFC 4271 section 4.3).
        UPDATE = 2,
        /// NOTIFICATION (RFC 4271 section 4.5).
        NOTIFICATION = 3,
        /// KEEPALIVE (RFC 4271 section 4.4).
        KEEPALIVE = 4,
        /// ROUTE-REFRESH (RFC 2918, RFC 7313).
        ROUTE_REFRESH = 5,
    }
}

registry! {
    /// Address Family Identifier (IANA "Address Family Numbers").
    Afi(u16) {
        /// IPv4.
        IPV4 = 1,
        /// IPv6.
        IPV6 = 2,
        /// Layer-2 VPN (RFC 4761, EVPN).
        L2VPN = 25,
        /// BGP-LS (RFC 7752).
        BGP_LS = 16388,
    }
}

registry! {
    /// Subsequent Address Family Identifier (IANA "SAFI Values").
    Safi(u8) {
        /// Unicast forwarding.
        UNICAST = 1,
        /// Multicast forwarding.
        MULTICAST = 2,
        /// NLRI with MPLS labels (RFC 8277).
        MPLS_LABEL = 4,
        /// Ethernet VPN (RFC 7432).
        EVPN = 70,
        /// BGP-LS (RFC 7752).
        BGP_LS = 71,
        /// SR TE Policy.
        SR_POLICY = 73,
        /// MPLS-labeled VPN address (RFC 4364).
        MPLS_VPN = 128,
        /// Route Target constraint (RFC 4684).
        ROUTE_TARGET = 132,
        /// Flow specification (RFC 8955).
        FLOWSPEC = 133,
        /// L3VPN flow specification (RFC 8955).
        FLOWSPEC_VPN = 134,
    }
}

registry! {
    /// Path attribute type code (IANA "BGP Path Attributes").
    AttrType(u8) {
        /// ORIGIN (RFC 4271).
        ORIGIN = 1,
        /// AS_PATH (RFC 4271).
        AS_PATH = 2,
        /// NEXT_HOP (RFC 4271).
        NEXT_HOP = 3,
        /// MULTI_EXIT_DISC (RFC 4271).
        MULTI_EXIT_DISC = 4,
        /// LOCAL_PREF (RFC 4271).
        LOCAL_PREF = 5,
        /// ATOMIC_AGGREGATE (RFC 4271).
        ATOMIC_AGGREGATE = 6,
        /// AGGREGATOR (RFC 4271).
        AGGREGATOR = 7,
        /// COMMUNITIES (RFC 1997).
        COMMUNITIES = 8,
        /// ORIGINATOR_ID (RFC 4456).
        ORIGINATOR_ID = 9,
        /// CLUSTER_LIST (RFC 4456).
        CLUSTER_LIST = 10,
        /// MP_REACH_NLRI (RFC 4760).
        MP_REACH_NLRI = 14,
        /// MP_UNREACH_NLRI (RFC 4760).
        MP_UNREACH_NLRI = 15,
        /// EXTENDED COMMUNITIES (RFC 4360).
        EXTENDED_COMMUNITIES = 16,
        /// AS4_PATH (RFC 6793).
        AS4_PATH = 17,
        /// AS4_AGGREGATOR (RFC 6793).
        AS4_AGGREGATOR = 18,
        /// PMSI_TUNNEL (RFC 6514).
        PMSI_TUNNEL = 22,
        /// Tunnel Encapsulation (RFC 9012).
        TUNNEL_ENCAPSULATION = 23,
        /// IPv6 Address Specific Extended Community (RFC 5701).
        IPV6_EXTENDED_COMMUNITIES = 25,
        /// AIGP (RFC 7311).
        AIGP = 26,
        /// BGP-LS Attribute (RFC 7752).
        BGP_LS = 29,
        /// LARGE_COMMUNITY (RFC 8092).
        LARGE_COMMUNITY = 32,
        /// BGPsec_Path (RFC 8205).
        BGPSEC_PATH = 33,
        /// Only to Customer (RFC 9234).
        OTC = 35,
        /// Prefix-SID (RFC 8669).
        PREFIX_SID = 40,
        /// ATTR_SET (RFC 6368).
        ATTR_SET = 128,
    }
}

/// Attribute flag: optional (clear: well-known).
pub const FLAG_OPTIONAL: u8 = 0x80;
/// Attribute flag: transitive.
pub const FLAG_TRANSITIVE: u8 = 0x40;
/// Attribute flag: partial (some speaker on the way did not know an
/// optional transitive attribute).
pub const FLAG_PARTIAL: u8 = 0x20;
/// Attribute flag: the length takes two octets.
pub const FLAG_EXTENDED_LENGTH: u8 = 0x10;

registry! {
    /// Capability Code of an OPEN capability (RFC 5492, IANA "Capability
    /// Codes").
    CapabilityCode(u8) {
        /// Multiprotocol Extensions (RFC 4760).
        MULTIPROTOCOL = 1,
        /// Route Refresh (RFC 2918).
        ROUTE_REFRESH = 2,
        /// Outbound Route Filtering (RFC 5291).
        OUTBOUND_ROUTE_FILTERING = 3,
        /// Extended Next Hop Encoding (RFC 8950).
        EXTENDED_NEXT_HOP = 5,
        /// Extended Message (RFC 8654).
        EXTENDED_MESSAGE = 6,
        /// BGPsec (RFC 8205).
        BGPSEC = 7,
        /// Multiple Labels (RFC 8277).
        MULTIPLE_LABELS = 8,
        /// BGP Role (RFC 9234).
        ROLE = 9,
        /// Graceful Restart (RFC 4724).
        GRACEFUL_RESTART = 64,
        /// Support for 4-octet AS numbers (RFC 6793).
        FOUR_OCTET_AS = 65,
        /// Dynamic Capability (draft).
        DYNAMIC = 67,
        /// Multisession (draft).
        MULTISESSION = 68,
        /// ADD-PATH (RFC 7911).
        ADD_PATH = 69,
        /// Enhanced Route Refresh (RFC 7313).
        ENHANCED_ROUTE_REFRESH = 70,
        /// Long-Lived Graceful Restart (RFC 9494).
        LONG_LIVED_GRACEFUL_RESTART = 71,
        /// FQDN (draft-walton-bgp-hostname-capability), sent by FRR.
        FQDN = 73,
        /// Software Version (draft), sent by FRR.
        SOFTWARE_VERSION = 75,
        /// Route Refresh, pre-standard code used by Cisco.
        ROUTE_REFRESH_CISCO = 128,
        /// Outbound Route Filtering, pre-standard code used by Cisco.
        ORF_CISCO = 130,
    }
}

registry! {
    /// NOTIFICATION Error Code (RFC 4271 section 4.5, IANA "BGP Error
    /// (Notification) Codes").
    ErrorCode(u8) {
        /// Message Header Error.
        MESSAGE_HEADER_ERROR = 1,
        /// OPEN Message Error.
        OPEN_MESSAGE_ERROR = 2,
        /// UPDATE Message Error.
        UPDATE_MESSAGE_ERROR = 3,
        /// Hold Timer Expired.
        HOLD_TIMER_EXPIRED = 4,
        /// Finite State Machine Error.
        FSM_ERROR = 5,
        /// Cease.
        CEASE = 6,
        /// ROUTE-REFRESH Message Error (RFC 7313).
        ROUTE_REFRESH_MESSAGE_ERROR = 7,
        /// Send Hold Timer Expired (RFC 9687).
        SEND_HOLD_TIMER_EXPIRED = 8,
    }
}

registry! {
    /// Message Subtype of ROUTE-REFRESH (RFC 7313 section 3.2); the octet
    /// RFC 2918 called Reserved.
    RouteRefreshSubtype(u8) {
        /// A normal route refresh request (RFC 2918).
        NORMAL = 0,
        /// Beginning of Route Refresh (RFC 7313).
        BORR = 1,
        /// End of Route Refresh (RFC 7313).
        EORR = 2,
    }
}

registry! {
    /// Send/Receive field of an ADD-PATH capability tuple (RFC 7911
    /// section 4). Other values are kept; RFC 7911 says to ignore them.
    AddPathMode(u8) {
        /// The sender can receive multiple paths.
        RECEIVE = 1,
        /// The sender can send multiple paths.
        SEND = 2,
        /// Both.
        BOTH = 3,
    }
}

impl AddPathMode {
    /// Whether the advertiser will send path identifiers.
    pub fn can_send(self) -> bool {
        self == AddPathMode::SEND || self == AddPathMode::BOTH
    }

    /// Whether the advertiser accepts path identifiers.
    pub fn can_receive(self) -> bool {
        self == AddPathMode::RECEIVE || self == AddPathMode::BOTH
    }
}

/// NOTIFICATION Error Subcodes, one module per Error Code (IANA "BGP
/// Error Subcodes"). A subcode means something only with its code.
pub mod subcode {
    /// Subcode 0, valid with every code: no more specific reason.
    pub const UNSPECIFIC: u8 = 0;

    /// Message Header Error subcodes (RFC 4271).
    pub mod header {
        /// Connection Not Synchronized (bad marker).
        pub const CONNECTION_NOT_SYNCHRONIZED: u8 = 1;
        /// Bad Message Length; data: the erroneous Length field.
        pub const BAD_MESSAGE_LENGTH: u8 = 2;
        /// Bad Message Type; data: the erroneous Type field.
        pub const BAD_MESSAGE_TYPE: u8 = 3;
    }

    /// OPEN Message Error subcodes (RFC 4271, RFC 5492, RFC 9234).
    pub mod open {
        /// Unsupported Version Number; data: the largest version supported.
        pub const UNSUPPORTED_VERSION_NUMBER: u8 = 1;
        /// Bad Peer AS.
        pub const BAD_PEER_AS: u8 = 2;
        /// Bad BGP Identifier.
        pub const BAD_BGP_IDENTIFIER: u8 = 3;
        /// Unsupported Optional Parameter.
        pub const UNSUPPORTED_OPTIONAL_PARAMETER: u8 = 4;
        /// Unacceptable Hold Time.
        pub const UNACCEPTABLE_HOLD_TIME: u8 = 6;
        /// Unsupported Capability (RFC 5492).
        pub const UNSUPPORTED_CAPABILITY: u8 = 7;
        /// Role Mismatch (RFC 9234).
        pub const ROLE_MISMATCH: u8 = 11;
    }

    /// UPDATE Message Error subcodes (RFC 4271).
    pub mod update {
        /// Malformed Attribute List.
        pub const MALFORMED_ATTRIBUTE_LIST: u8 = 1;
        /// Unrecognized Well-known Attribute; data: the attribute.
        pub const UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE: u8 = 2;
        /// Missing Well-known Attribute; data: its type code.
        pub const MISSING_WELL_KNOWN_ATTRIBUTE: u8 = 3;
        /// Attribute Flags Error; data: the attribute.
        pub const ATTRIBUTE_FLAGS_ERROR: u8 = 4;
        /// Attribute Length Error; data: the attribute.
        pub const ATTRIBUTE_LENGTH_ERROR: u8 = 5;
        /// Invalid ORIGIN Attribute.
        pub const INVALID_ORIGIN_ATTRIBUTE: u8 = 6;
        /// Invalid NEXT_HOP Attribute.
        pub const INVALID_NEXT_HOP_ATTRIBUTE: u8 = 8;
        /// Optional Attribute Error; data: the attribute.
        pub const OPTIONAL_ATTRIBUTE_ERROR: u8 = 9;
        /// Invalid Network Field.
        pub const INVALID_NETWORK_FIELD: u8 = 10;
        /// Malformed AS_PATH.
        pub const MALFORMED_AS_PATH: u8 = 11;
    }

    /// Finite State Machine Error subcodes (RFC 6608).
    pub mod fsm {
        /// Receive Unexpected Message in OpenSent State.
        pub const UNEXPECTED_IN_OPENSENT: u8 = 1;
        /// Receive Unexpected Message in OpenConfirm State.
        pub const UNEXPECTED_IN_OPENCONFIRM: u8 = 2;
        /// Receive Unexpected Message in Established State.
        pub const UNEXPECTED_IN_ESTABLISHED: u8 = 3;
    }

    /// Cease subcodes (RFC 4486, RFC 8538, RFC 9384).
    pub mod cease {
        /// Maximum Number of Prefixes Reached.
        pub const MAXIMUM_PREFIXES_REACHED: u8 = 1;
        /// Administrative Shutdown (data: RFC 9003 shutdown communication).
        pub const ADMINISTRATIVE_SHUTDOWN: u8 = 2;
        /// Peer De-configured.
        pub const PEER_DECONFIGURED: u8 = 3;
        /// Administrative Reset (data: RFC 9003 shutdown communication).
        pub const ADMINISTRATIVE_RESET: u8 = 4;
        /// Connection Rejected.
        pub const CONNECTION_REJECTED: u8 = 5;
        /// Other Configuration Change.
        pub const OTHER_CONFIGURATION_CHANGE: u8 = 6;
        /// Connection Collision Resolution.
        pub const CONNECTION_COLLISION_RESOLUTION: u8 = 7;
        /// Out of Resources.
        pub const OUT_OF_RESOURCES: u8 = 8;
        /// Hard Reset (RFC 8538): the data carries the inner code, subcode
        /// and data; graceful restart does not apply.
        pub const HARD_RESET: u8 = 9;
        /// BFD Down (RFC 9384).
        pub const BFD_DOWN: u8 = 10;
    }

    /// ROUTE-REFRESH Message Error subcodes (RFC 7313).
    pub mod route_refresh {
        /// Invalid Message Length; data: the whole ROUTE-REFRESH message.
        pub const INVALID_MESSAGE_LENGTH: u8 = 1;
    }

    use super::ErrorCode;

    /// The IANA name of `subcode` under `code`, if this code knows it.
    pub fn name(code: ErrorCode, subcode: u8) -> Option<&'static str> {
        Some(match (code, subcode) {
            (_, UNSPECIFIC) => "Unspecific",
            (ErrorCode::MESSAGE_HEADER_ERROR, 1) => "Connection Not Synchronized",
            (ErrorCode::MESSAGE_HEADER_ERROR, 2) => "Bad Message Length",
            (ErrorCode::MESSAGE_HEADER_ERROR, 3) => "Bad Message Type",
            (ErrorCode::OPEN_MESSAGE_ERROR, 1) => "Unsupported Version Number",
            (ErrorCode::OPEN_MESSAGE_ERROR, 2) => "Bad Peer AS",
            (ErrorCode::OPEN_MESSAGE_ERROR, 3) => "Bad BGP Identifier",
            (ErrorCode::OPEN_MESSAGE_ERROR, 4) => "Unsupported Optional Parameter",
            (ErrorCode::OPEN_MESSAGE_ERROR, 6) => "Unacceptable Hold Time",
            (ErrorCode::OPEN_MESSAGE_ERROR, 7) => "Unsupported Capability",
            (ErrorCode::OPEN_MESSAGE_ERROR, 11) => "Role Mismatch",
            (ErrorCode::UPDATE_MESSAGE_ERROR, 1) => "Malformed Attribute List",
            (ErrorCode::UPDATE_MESSAGE_ERROR, 2) => "Unrecognized Well-known Attribute",
            (ErrorCode::UPDATE_MESSAGE_ERROR, 3) => "Missing Well-known Attribute",
            (ErrorCode::UPDATE_MESSAGE_ERROR, 4) => "Attribute Flags Error",
            (ErrorCode::UPDATE_MESSAGE_ERROR, 5) => "Attribute Length Error",
            (ErrorCode::UPDATE_MESSAGE_ERROR, 6) => "Invalid ORIGIN Attribute",
            (ErrorCode::UPDATE_MESSAGE_ERROR, 8) => "Invalid NEXT_HOP Attribute",
            (ErrorCode::UPDATE_MESSAGE_ERROR, 9) => "Optional Attribute Error",
            (ErrorCode::UPDATE_MESSAGE_ERROR, 10) => "Invalid Network Field",
            (ErrorCode::UPDATE_MESSAGE_ERROR, 11) => "Malformed AS_PATH",
            (ErrorCode::FSM_ERROR, 1) => "Receive Unexpected Message in OpenSent State",
            (ErrorCode::FSM_ERROR, 2) => "Receive Unexpected Message in OpenConfirm State",
            (ErrorCode::FSM_ERROR, 3) => "Receive Unexpected Message in Established State",
            (ErrorCode::CEASE, 1) => "Maximum Number of Prefixes Reached",
            (ErrorCode::CEASE, 2) => "Administrative Shutdown",
            (ErrorCode::CEASE, 3) => "Peer De-configured",
            (ErrorCode::CEASE, 4) => "Administrative Reset",
            (ErrorCode::CEASE, 5) => "Connection Rejected",
            (ErrorCode::CEASE, 6) => "Other Configuration Change",
            (ErrorCode::CEASE, 7) => "Connection Collision Resolution",
            (ErrorCode::CEASE, 8) => "Out of Resources",
            (ErrorCode::CEASE, 9) => "Hard Reset",
            (ErrorCode::CEASE, 10) => "BFD Down",
            (ErrorCode::ROUTE_REFRESH_MESSAGE_ERROR, 1) => "Invalid Message Length",
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_unknown_values() {
        assert_eq!(
            format!("{:?}", AttrType::LARGE_COMMUNITY),
            "LARGE_COMMUNITY"
        );
        assert_eq!(format!("{:?}", AttrType(99)), "AttrType(99)");
        assert_eq!(u16::from(Afi::IPV6), 2);
        assert!(AddPathMode::BOTH.can_send() && AddPathMode::BOTH.can_receive());
        assert!(!AddPathMode::RECEIVE.can_send());
        assert_eq!(
            subcode::name(ErrorCode::CEASE, subcode::cease::HARD_RESET),
            Some("Hard Reset")
        );
        assert_eq!(subcode::name(ErrorCode::CEASE, 200), None);
    }
}
