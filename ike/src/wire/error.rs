//! The one error type of the wire layer, and its mapping to the Notify
//! that answers it (RFC 7296 section 2.21).

use std::fmt;

use super::header::Header;
use super::notify::{NotifyPayload, NotifyType};
use super::registry::PayloadType;

/// Why bytes could not be parsed, or a value could not be emitted.
///
/// Each variant names the field at fault and the values involved, so a log
/// line says what was wrong without a packet dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// The input ended inside `field`: it needs `needed` octets, `available`
    /// were left.
    Truncated {
        /// The field or structure being read.
        field: &'static str,
        /// Octets the field needs.
        needed: usize,
        /// Octets that were left.
        available: usize,
    },
    /// A length field holds `value`, outside the range `min..=max` allowed by
    /// the structure and its container.
    BadLength {
        /// The length field.
        field: &'static str,
        /// The value found.
        value: usize,
        /// Smallest value allowed here.
        min: usize,
        /// Largest value allowed here.
        max: usize,
    },
    /// `count` octets follow the end of `after`, where nothing may.
    TrailingBytes {
        /// The structure that should have been the last thing.
        after: &'static str,
        /// How many octets are left over.
        count: usize,
    },
    /// A count field disagrees with the number of substructures present.
    CountMismatch {
        /// The count field.
        field: &'static str,
        /// What the field says.
        declared: usize,
        /// What was found.
        found: usize,
    },
    /// A field holds a value the format forbids.
    InvalidValue {
        /// The field.
        field: &'static str,
        /// The value found (or being emitted).
        value: u64,
        /// What the format requires.
        reason: &'static str,
    },
    /// The IKE header's major version is not 2. The SA layer answers with
    /// INVALID_MAJOR_VERSION, using the SPIs and message ID of `header`.
    InvalidMajorVersion {
        /// The header as read (its `version` octet holds the offending value).
        header: Header,
    },
    /// A payload of a type this implementation does not know has its
    /// critical bit set; the SA layer answers with
    /// UNSUPPORTED_CRITICAL_PAYLOAD carrying the type.
    UnsupportedCritical(PayloadType),
    /// A payload follows an Encrypted (SK/SKF) payload, which must be last;
    /// or, on emit, an Encrypted payload is not the last one.
    PayloadAfterEncrypted {
        /// The encrypted payload's type (SK or SKF).
        encrypted: PayloadType,
    },
    /// Decrypted SK contents hold another SK or SKF payload.
    NestedEncrypted(PayloadType),
    /// On emit: `field` would need `length`, more than its length field can
    /// say (`max`).
    TooLong {
        /// The structure or field.
        field: &'static str,
        /// The length it would have.
        length: usize,
        /// The largest that can be encoded.
        max: usize,
    },
    /// A parser error without a more specific cause (a nom combinator
    /// failed); `kind` is nom's description of it.
    Parse {
        /// nom's name of the failing combinator.
        kind: String,
    },
}

impl WireError {
    /// The Notify type that answers this error: INVALID_MAJOR_VERSION,
    /// UNSUPPORTED_CRITICAL_PAYLOAD, or INVALID_SYNTAX for everything else.
    pub fn notify_type(&self) -> NotifyType {
        match self {
            WireError::InvalidMajorVersion { .. } => NotifyType::INVALID_MAJOR_VERSION,
            WireError::UnsupportedCritical(_) => NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD,
            _ => NotifyType::INVALID_SYNTAX,
        }
    }

    /// The Notify payload that answers this error (RFC 7296 section 3.10.1):
    /// UNSUPPORTED_CRITICAL_PAYLOAD carries the one-octet payload type.
    pub fn to_notify(&self) -> NotifyPayload {
        match self {
            WireError::UnsupportedCritical(t) => NotifyPayload::unsupported_critical(*t),
            other => NotifyPayload::new(other.notify_type(), Vec::new()),
        }
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Truncated {
                field,
                needed,
                available,
            } => write!(
                f,
                "truncated {field}: needs {needed} octets, {available} left"
            ),
            WireError::BadLength {
                field,
                value,
                min,
                max,
            } => write!(f, "bad {field}: {value}, allowed {min}..={max}"),
            WireError::TrailingBytes { after, count } => {
                write!(f, "{count} trailing octets after {after}")
            }
            WireError::CountMismatch {
                field,
                declared,
                found,
            } => write!(f, "{field} says {declared}, found {found}"),
            WireError::InvalidValue {
                field,
                value,
                reason,
            } => write!(f, "invalid {field} {value}: {reason}"),
            WireError::InvalidMajorVersion { header } => write!(
                f,
                "unsupported IKE major version {} (only 2)",
                header.version >> 4
            ),
            WireError::UnsupportedCritical(t) => {
                write!(f, "unsupported critical payload {t:?}")
            }
            WireError::PayloadAfterEncrypted { encrypted } => {
                write!(f, "payload after {encrypted:?}, which must be last")
            }
            WireError::NestedEncrypted(t) => {
                write!(f, "{t:?} payload inside encrypted contents")
            }
            WireError::TooLong { field, length, max } => {
                write!(f, "{field} too long to emit: {length} octets, max {max}")
            }
            WireError::Parse { kind } => write!(f, "parse error: {kind}"),
        }
    }
}

impl std::error::Error for WireError {}

impl<I> nom::error::ParseError<I> for WireError {
    fn from_error_kind(_input: I, kind: nom::error::ErrorKind) -> Self {
        WireError::Parse {
            kind: format!("{kind:?}"),
        }
    }

    fn append(_input: I, _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}
