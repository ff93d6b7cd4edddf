//! Errors of the wire layer: [`WireError`] for input that ends the session
//! (it carries the NOTIFICATION that answers it), [`AttrError`] and
//! [`AttrIssue`] for the RFC 7606 classes of a malformed path attribute
//! that does not, and [`EmitError`] for values that cannot be encoded.

use std::fmt;

use super::registry::{subcode, AttrType, ErrorCode};

/// Received octets that cannot be accepted: the session must be reset with
/// the NOTIFICATION this error carries (RFC 4271 section 6, RFC 7606
/// "session reset").
///
/// `detail` says what was wrong, with the values involved, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    /// NOTIFICATION Error Code.
    pub code: ErrorCode,
    /// NOTIFICATION Error Subcode (see [`subcode`]).
    pub subcode: u8,
    /// NOTIFICATION Data, as the RFC prescribes for this subcode.
    pub data: Vec<u8>,
    /// What was wrong, for humans.
    pub detail: String,
}

/// The session-reset error of [`parse_update`](super::parse_update): the
/// NOTIFICATION (always an UPDATE Message Error) to send.
pub type UpdateError = WireError;

impl WireError {
    /// An error answered by `code`/`subcode` with empty data.
    pub fn new(code: ErrorCode, subcode: u8, detail: impl Into<String>) -> WireError {
        WireError {
            code,
            subcode,
            data: Vec::new(),
            detail: detail.into(),
        }
    }

    /// An UPDATE Message Error.
    pub(crate) fn update(subcode: u8, detail: impl Into<String>) -> WireError {
        WireError::new(ErrorCode::UPDATE_MESSAGE_ERROR, subcode, detail)
    }

    /// An OPEN Message Error.
    pub(crate) fn open(subcode: u8, detail: impl Into<String>) -> WireError {
        WireError::new(ErrorCode::OPEN_MESSAGE_ERROR, subcode, detail)
    }

    /// The same error with NOTIFICATION data.
    pub fn with_data(mut self, data: impl Into<Vec<u8>>) -> WireError {
        self.data = data.into();
        self
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match subcode::name(self.code, self.subcode) {
            Some(s) => write!(f, "{:?}/{s}: {}", self.code, self.detail),
            None => write!(f, "{:?}/{}: {}", self.code, self.subcode, self.detail),
        }
    }
}

impl std::error::Error for WireError {}

/// What RFC 7606 says to do with an UPDATE that carries a malformed path
/// attribute, weakest first: when several apply, the strongest wins
/// (RFC 7606 section 3 (f)), which is the order of this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AttrError {
    /// "Attribute discard": drop the attribute, process the rest.
    Discard,
    /// "Treat-as-withdraw": the UPDATE's NLRI (field and MP_REACH_NLRI)
    /// are withdrawn, whatever else it says.
    TreatAsWithdraw,
    /// "Session reset": send the NOTIFICATION and close the session;
    /// [`parse_update`](super::parse_update) returns it as an
    /// [`UpdateError`] instead of an `Update`.
    SessionReset,
}

impl AttrError {
    /// The RFC 7606 class of a malformed attribute of type `t`
    /// (flags in conflict with the type, wrong length, bad contents):
    ///
    /// - session reset: MP_REACH_NLRI, MP_UNREACH_NLRI (section 7.11; "AFI/
    ///   SAFI disable" is not offered), and well-known types this code does
    ///   not know (RFC 4271 Unrecognized Well-known Attribute);
    /// - attribute discard: ATOMIC_AGGREGATE, AGGREGATOR (7.6, 7.7),
    ///   AS4_PATH, AS4_AGGREGATOR (RFC 6793 section 6);
    /// - treat-as-withdraw: everything else (ORIGIN, AS_PATH, NEXT_HOP,
    ///   MULTI_EXIT_DISC, LOCAL_PREF, COMMUNITIES, ORIGINATOR_ID,
    ///   CLUSTER_LIST, EXTENDED_COMMUNITIES, LARGE_COMMUNITY, ...).
    pub fn for_malformed(t: AttrType) -> AttrError {
        match t {
            AttrType::MP_REACH_NLRI | AttrType::MP_UNREACH_NLRI => AttrError::SessionReset,
            AttrType::ATOMIC_AGGREGATE
            | AttrType::AGGREGATOR
            | AttrType::AS4_PATH
            | AttrType::AS4_AGGREGATOR => AttrError::Discard,
            _ => AttrError::TreatAsWithdraw,
        }
    }
}

/// One attribute-level problem of an UPDATE that did not reset the
/// session: kept in [`Update::issues`](super::Update::issues) for logging.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrIssue {
    /// The attribute's type code.
    pub attr_type: AttrType,
    /// What was done: [`AttrError::Discard`] (the attribute is not in the
    /// result) or [`AttrError::TreatAsWithdraw`].
    pub action: AttrError,
    /// Why.
    pub reason: &'static str,
}

impl fmt::Display for AttrIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?}: {} ({:?})",
            self.attr_type, self.reason, self.action
        )
    }
}

/// A value that cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmitError {
    /// `what` would need `length` octets, more than fit (`max`): a message
    /// over 4096 octets, an attribute over 65535, a capability over 255, a
    /// caller buffer too small for one message.
    TooLong {
        /// The structure or field.
        what: &'static str,
        /// The length it would have.
        length: usize,
        /// The most that fits.
        max: usize,
    },
    /// The value is inconsistent and would be sent malformed.
    Invalid {
        /// The structure or field.
        what: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmitError::TooLong { what, length, max } => {
                write!(f, "{what} too long to emit: {length} octets, max {max}")
            }
            EmitError::Invalid { what, reason } => write!(f, "cannot emit {what}: {reason}"),
        }
    }
}

impl std::error::Error for EmitError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_and_display() {
        assert_eq!(
            AttrError::for_malformed(AttrType::MP_REACH_NLRI),
            AttrError::SessionReset
        );
        assert_eq!(
            AttrError::for_malformed(AttrType::AGGREGATOR),
            AttrError::Discard
        );
        assert_eq!(
            AttrError::for_malformed(AttrType::LARGE_COMMUNITY),
            AttrError::TreatAsWithdraw
        );
        assert!(AttrError::SessionReset > AttrError::TreatAsWithdraw);
        assert!(AttrError::TreatAsWithdraw > AttrError::Discard);
        let e = WireError::update(subcode::update::INVALID_NETWORK_FIELD, "prefix length 33");
        assert_eq!(
            e.to_string(),
            "UPDATE_MESSAGE_ERROR/Invalid Network Field: prefix length 33"
        );
        let n = e.with_data([1u8]).to_notification();
        assert_eq!(n.data, vec![1]);
    }
}
