//! BGP-4 wire format (RFC 4271 section 4 and extensions).
//!
//! Every message is an owned value with `parse` (from the octets of its
//! body, or [`Message::parse`] for a whole message) and `emit` (appending
//! the whole message to a `Vec<u8>`, filling in the length). For valid
//! input `parse(emit(x)) == x`; fields that RFCs say to ignore on receipt
//! (reserved octets, the Extended Length bit of short attributes, bits past
//! a prefix length) are sent in their canonical form. Malformed input gives
//! a [`WireError`] carrying the NOTIFICATION that answers it, never a
//! panic; malformed UPDATE attributes that RFC 7606 lets the session
//! survive are reported inside the [`Update`] instead ([`parse_update`]).
//!
//! UPDATE encoding depends on the session: [`Ctx`] says whether AS numbers
//! take four octets and which families carry ADD-PATH identifiers.
//!
//! Receiving: [`frame`] splits the TCP stream, [`Message::parse`] decodes.
//! Sending: `emit` of each message, and [`UpdateBuilder`] to pack many
//! prefixes into few UPDATEs, into a `Vec<u8>` or a `&mut [u8]`.

mod aspath;
mod attrs;
mod builder;
mod capability;
mod codec;
mod community;
mod error;
mod family;
mod header;
mod message;
mod mp;
mod notification;
mod open;
mod prefix;
mod registry;
mod route_refresh;
mod update;

pub use aspath::{as2, AsPath, AsSegment, SegmentType, AS_TRANS};
pub use attrs::{expected_flags, Aggregator, AttrTypeSet, Origin, PathAttrs, RawAttr};
pub use builder::UpdateBuilder;
pub use capability::{AddPathEntry, Capability, GrFamily, GracefulRestart};
pub use codec::{HEADER_LEN, MARKER, MAX_MESSAGE_LEN};
pub use community::{Community, ExtCommunity, LargeCommunity};
pub use error::{AttrError, AttrIssue, EmitError, UpdateError, WireError};
pub use family::{Ctx, Family};
pub use header::{
    frame, Header, KEEPALIVE, MIN_NOTIFICATION_LEN, MIN_OPEN_LEN, MIN_UPDATE_LEN, ROUTE_REFRESH_LEN,
};
pub use message::Message;
pub use mp::{MpNextHop, MpNlri, MpReach, MpUnreach};
pub use notification::{Notification, MAX_NOTIFICATION_DATA};
pub use open::{Open, BGP_VERSION, OPT_PARAM_CAPABILITIES, OPT_PARAM_EXTENDED_LENGTH};
pub use prefix::{emit_nlri, parse_nlri, Nlri, Nlri4, Nlri6, Prefix};
pub use registry::{
    subcode, AddPathMode, Afi, AttrType, CapabilityCode, ErrorCode, MessageType,
    RouteRefreshSubtype, Safi, FLAG_EXTENDED_LENGTH, FLAG_OPTIONAL, FLAG_PARTIAL, FLAG_TRANSITIVE,
};
pub use route_refresh::RouteRefresh;
pub use update::{parse_update, Update};
