//! The Notify payload (RFC 7296 section 3.10) and its type registry.
//!
//! ```text
//! Protocol ID(1) SPI Size(1) Notify Message Type(2) SPI(SPI Size) Data...
//! ```

use nom::number::complete::{be_u16, be_u8};
use nom::sequence::tuple;

use super::codec::{finish, fit_u8, fixed, take};
use super::error::WireError;
use super::registry::{DhGroup, PayloadType, ProtocolId};
use iana::registry;

registry! {
    /// Notify Message Type: error types below 16384, status types above.
    NotifyType(u16) {
        /// A critical payload of unknown type was received; data: its type.
        UNSUPPORTED_CRITICAL_PAYLOAD = 1,
        /// A message for an IKE SA that does not exist.
        INVALID_IKE_SPI = 4,
        /// The major version cannot be handled.
        INVALID_MAJOR_VERSION = 5,
        /// A malformed message.
        INVALID_SYNTAX = 7,
        /// A message ID outside the window.
        INVALID_MESSAGE_ID = 9,
        /// An ESP/AH packet for an SA that does not exist.
        INVALID_SPI = 11,
        /// None of the proposals is acceptable.
        NO_PROPOSAL_CHOSEN = 14,
        /// The KE group is not the one wanted; data: the wanted group.
        INVALID_KE_PAYLOAD = 17,
        /// AUTH did not verify.
        AUTHENTICATION_FAILED = 24,
        /// Only one pair of traffic selectors is acceptable.
        SINGLE_PAIR_REQUIRED = 34,
        /// No more Child SAs are accepted on this IKE SA.
        NO_ADDITIONAL_SAS = 35,
        /// No internal address could be assigned.
        INTERNAL_ADDRESS_FAILURE = 36,
        /// A CP payload was required.
        FAILED_CP_REQUIRED = 37,
        /// The traffic selectors are not acceptable.
        TS_UNACCEPTABLE = 38,
        /// A packet arrived with selectors not matching its SA.
        INVALID_SELECTORS = 39,
        /// Unacceptable addresses (RFC 4555).
        UNACCEPTABLE_ADDRESSES = 40,
        /// Unexpected NAT detected (RFC 4555).
        UNEXPECTED_NAT_DETECTED = 41,
        /// Use assigned home address (RFC 5026).
        USE_ASSIGNED_HOA = 42,
        /// A temporary failure: retry later.
        TEMPORARY_FAILURE = 43,
        /// The Child SA to rekey or delete does not exist.
        CHILD_SA_NOT_FOUND = 44,
        /// Invalid group ID (RFC 6407).
        INVALID_GROUP_ID = 45,
        /// Authorization failed (RFC 6407).
        AUTHORIZATION_FAILED = 46,
        /// State not found (RFC 7296 errata / RFC 8019 resumption).
        STATE_NOT_FOUND = 47,
        /// First contact: delete other IKE SAs with this peer.
        INITIAL_CONTACT = 16384,
        /// The sender's window size; data: four octets.
        SET_WINDOW_SIZE = 16385,
        /// More traffic selectors could be acceptable.
        ADDITIONAL_TS_POSSIBLE = 16386,
        /// IPComp is supported.
        IPCOMP_SUPPORTED = 16387,
        /// NAT-D hash of the source address and port.
        NAT_DETECTION_SOURCE_IP = 16388,
        /// NAT-D hash of the destination address and port.
        NAT_DETECTION_DESTINATION_IP = 16389,
        /// A stateless cookie.
        COOKIE = 16390,
        /// Transport mode is requested.
        USE_TRANSPORT_MODE = 16391,
        /// Certificates may be looked up over HTTP.
        HTTP_CERT_LOOKUP_SUPPORTED = 16392,
        /// This CREATE_CHILD_SA rekeys the SA whose SPI is given.
        REKEY_SA = 16393,
        /// TFC padding is not supported.
        ESP_TFC_PADDING_NOT_SUPPORTED = 16394,
        /// Non-first fragments are sent too.
        NON_FIRST_FRAGMENTS_ALSO = 16395,
        /// MOBIKE is supported (RFC 4555).
        MOBIKE_SUPPORTED = 16396,
        /// Additional IPv4 address (RFC 4555).
        ADDITIONAL_IP4_ADDRESS = 16397,
        /// Additional IPv6 address (RFC 4555).
        ADDITIONAL_IP6_ADDRESS = 16398,
        /// No additional addresses (RFC 4555).
        NO_ADDITIONAL_ADDRESSES = 16399,
        /// Update SA addresses (RFC 4555).
        UPDATE_SA_ADDRESSES = 16400,
        /// Return routability cookie (RFC 4555).
        COOKIE2 = 16401,
        /// No NATs allowed (RFC 4555).
        NO_NATS_ALLOWED = 16402,
        /// Authentication lifetime (RFC 4478).
        AUTH_LIFETIME = 16403,
        /// Multiple authentication supported (RFC 4739).
        MULTIPLE_AUTH_SUPPORTED = 16404,
        /// Another authentication follows (RFC 4739).
        ANOTHER_AUTH_FOLLOWS = 16405,
        /// Redirect supported (RFC 5685).
        REDIRECT_SUPPORTED = 16406,
        /// Redirect (RFC 5685).
        REDIRECT = 16407,
        /// Redirected from (RFC 5685).
        REDIRECTED_FROM = 16408,
        /// EAP-only authentication (RFC 5998).
        EAP_ONLY_AUTHENTICATION = 16417,
        /// Childless IKE SA supported (RFC 6023).
        CHILDLESS_IKEV2_SUPPORTED = 16418,
        /// Message ID synchronization supported (RFC 6311).
        IKEV2_MESSAGE_ID_SYNC_SUPPORTED = 16420,
        /// IPsec replay counter synchronization supported (RFC 6311).
        IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED = 16421,
        /// Message ID synchronization (RFC 6311).
        IKEV2_MESSAGE_ID_SYNC = 16422,
        /// IPsec replay counter synchronization (RFC 6311).
        IPSEC_REPLAY_COUNTER_SYNC = 16423,
        /// IKE fragmentation is supported (RFC 7383).
        IKEV2_FRAGMENTATION_SUPPORTED = 16430,
        /// Hash algorithms for digital signatures (RFC 7427); data: u16s.
        SIGNATURE_HASH_ALGORITHMS = 16431,
        /// IKE_INTERMEDIATE exchange supported (RFC 9242).
        INTERMEDIATE_EXCHANGE_SUPPORTED = 16438,
    }
}

impl NotifyType {
    /// Whether this is an error type (below 16384).
    pub fn is_error(self) -> bool {
        self.0 < 16384
    }
}

/// The body of a Notify payload.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NotifyPayload {
    /// Protocol ID: [`ProtocolId::NONE`] when there is no SPI.
    pub protocol: ProtocolId,
    /// The SPI the notification is about (SPI Size is its length).
    pub spi: Vec<u8>,
    /// Notify Message Type.
    pub notify_type: NotifyType,
    /// Notification Data.
    pub data: Vec<u8>,
}

impl NotifyPayload {
    /// A notification about no particular SA (Protocol ID 0, no SPI).
    pub fn new(notify_type: NotifyType, data: Vec<u8>) -> NotifyPayload {
        NotifyPayload {
            protocol: ProtocolId::NONE,
            spi: Vec::new(),
            notify_type,
            data,
        }
    }

    /// A notification about an ESP or AH SA with a four-octet SPI (e.g.
    /// REKEY_SA, CHILD_SA_NOT_FOUND).
    pub fn for_child(
        protocol: ProtocolId,
        spi: u32,
        notify_type: NotifyType,
        data: Vec<u8>,
    ) -> NotifyPayload {
        NotifyPayload {
            protocol,
            spi: spi.to_be_bytes().to_vec(),
            notify_type,
            data,
        }
    }

    /// UNSUPPORTED_CRITICAL_PAYLOAD carrying the one-octet payload type.
    pub fn unsupported_critical(t: PayloadType) -> NotifyPayload {
        NotifyPayload::new(NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD, vec![t.0])
    }

    /// INVALID_KE_PAYLOAD carrying the group the responder wants.
    pub fn invalid_ke(group: DhGroup) -> NotifyPayload {
        NotifyPayload::new(
            NotifyType::INVALID_KE_PAYLOAD,
            group.0.to_be_bytes().to_vec(),
        )
    }

    /// SIGNATURE_HASH_ALGORITHMS with the given hash algorithm IDs.
    pub fn signature_hash_algorithms(ids: &[u16]) -> NotifyPayload {
        NotifyPayload::new(
            NotifyType::SIGNATURE_HASH_ALGORITHMS,
            ids.iter().flat_map(|i| i.to_be_bytes()).collect(),
        )
    }

    /// The group of an INVALID_KE_PAYLOAD notification (two octets of data).
    pub fn invalid_ke_group(&self) -> Option<DhGroup> {
        if self.notify_type != NotifyType::INVALID_KE_PAYLOAD {
            return None;
        }
        <[u8; 2]>::try_from(self.data.as_slice())
            .ok()
            .map(|b| DhGroup(u16::from_be_bytes(b)))
    }

    /// The data as a list of u16 (SIGNATURE_HASH_ALGORITHMS); `None` if its
    /// length is odd.
    pub fn data_u16s(&self) -> Option<Vec<u16>> {
        let chunks = self.data.chunks_exact(2);
        if !chunks.remainder().is_empty() {
            return None;
        }
        Some(
            chunks
                .filter_map(|c| <[u8; 2]>::try_from(c).ok().map(u16::from_be_bytes))
                .collect(),
        )
    }

    /// The SPI as a u32, if it is four octets.
    pub fn spi_u32(&self) -> Option<u32> {
        <[u8; 4]>::try_from(self.spi.as_slice())
            .ok()
            .map(u32::from_be_bytes)
    }

    /// Parses a Notify payload body.
    pub fn parse(b: &[u8]) -> Result<NotifyPayload, WireError> {
        let (b, (protocol, spi_size, notify_type)) =
            finish(fixed("Notify header", 4, tuple((be_u8, be_u8, be_u16)), b))?;
        let (data, spi) = finish(take("Notify SPI", usize::from(spi_size), b))?;
        Ok(NotifyPayload {
            protocol: ProtocolId(protocol),
            spi: spi.to_vec(),
            notify_type: NotifyType(notify_type),
            data: data.to_vec(),
        })
    }

    /// Appends the Notify payload body.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        out.push(self.protocol.0);
        out.push(fit_u8("Notify SPI", self.spi.len())?);
        out.extend_from_slice(&self.notify_type.0.to_be_bytes());
        out.extend_from_slice(&self.spi);
        out.extend_from_slice(&self.data);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for n in [
            NotifyPayload::new(NotifyType::COOKIE, vec![1; 20]),
            NotifyPayload::for_child(ProtocolId::ESP, 0xdeadbeef, NotifyType::REKEY_SA, vec![]),
            NotifyPayload::invalid_ke(DhGroup::ECP_256),
            NotifyPayload::new(NotifyType(40000), vec![]),
        ] {
            let mut out = Vec::new();
            n.emit(&mut out).unwrap();
            assert_eq!(NotifyPayload::parse(&out).unwrap(), n);
        }
        let mut out = Vec::new();
        NotifyPayload::for_child(ProtocolId::ESP, 0xdeadbeef, NotifyType::REKEY_SA, vec![])
            .emit(&mut out)
            .unwrap();
        assert_eq!(out, [3, 4, 0x40, 0x09, 0xde, 0xad, 0xbe, 0xef]);
        let ike = NotifyPayload::invalid_ke(DhGroup::ECP_256);
        assert_eq!(ike.invalid_ke_group(), Some(DhGroup::ECP_256));
        assert!(ike.notify_type.is_error());
        let sha = NotifyPayload::signature_hash_algorithms(&[2, 3, 4]);
        assert_eq!(sha.data_u16s(), Some(vec![2, 3, 4]));
    }

    #[test]
    fn truncated() {
        assert!(matches!(
            NotifyPayload::parse(&[0, 0, 0]),
            Err(WireError::Truncated {
                field: "Notify header",
                ..
            })
        ));
        assert!(matches!(
            NotifyPayload::parse(&[3, 4, 0x40, 0x09, 1]),
            Err(WireError::Truncated {
                field: "Notify SPI",
                needed: 4,
                available: 1
            })
        ));
    }
}
