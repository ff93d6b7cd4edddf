//! NOTIFICATION (RFC 4271 section 4.5), with the shutdown communication
//! of RFC 9003 and the Hard Reset of RFC 8538.
//!
//! ```text
//! +---------------+---------------+---------------------------+
//! | Error code    | Error subcode |   Data (variable)         |
//! +---------------+---------------+---------------------------+
//! ```

use std::fmt;

use nom::sequence::tuple;

use super::codec::{begin_message, finish_message, u8p, MAX_MESSAGE_LEN};
use super::error::{EmitError, WireError};
use super::header::MIN_NOTIFICATION_LEN;
use super::registry::{subcode, ErrorCode, MessageType};

/// A NOTIFICATION message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Notification {
    /// Error Code.
    pub code: ErrorCode,
    /// Error Subcode (see [`subcode`]).
    pub subcode: u8,
    /// Data.
    pub data: Vec<u8>,
}

/// Most data octets a NOTIFICATION can carry.
pub const MAX_NOTIFICATION_DATA: usize = MAX_MESSAGE_LEN - MIN_NOTIFICATION_LEN;

// Here rather than in error.rs, which this file imports: no two wire
// files import each other.
impl WireError {
    /// The NOTIFICATION that answers this error.
    pub fn to_notification(&self) -> Notification {
        Notification::new(self.code, self.subcode, self.data.clone())
    }
}

impl Notification {
    /// A NOTIFICATION.
    pub fn new(code: ErrorCode, subcode: u8, data: impl Into<Vec<u8>>) -> Notification {
        Notification {
            code,
            subcode,
            data: data.into(),
        }
    }

    /// A Cease with `subcode` (see [`subcode::cease`]) and no data.
    pub fn cease(subcode: u8) -> Notification {
        Notification::new(ErrorCode::CEASE, subcode, Vec::new())
    }

    /// A Cease carrying an RFC 9003 shutdown communication: a length
    /// octet and up to 255 octets of UTF-8 (`message` is cut at a
    /// character boundary to fit). Meant for Administrative Shutdown and
    /// Administrative Reset.
    pub fn cease_with_message(subcode: u8, message: &str) -> Notification {
        let mut end = message.len().min(255);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let text = message.as_bytes().get(..end).unwrap_or_default();
        let mut data = Vec::with_capacity(1 + text.len());
        data.push(text.len() as u8);
        data.extend_from_slice(text);
        Notification::new(ErrorCode::CEASE, subcode, data)
    }

    /// The RFC 9003 shutdown communication of an Administrative Shutdown
    /// or Reset, if the data holds a well-formed one.
    pub fn shutdown_message(&self) -> Option<&str> {
        if self.code != ErrorCode::CEASE
            || !matches!(
                self.subcode,
                subcode::cease::ADMINISTRATIVE_SHUTDOWN | subcode::cease::ADMINISTRATIVE_RESET
            )
        {
            return None;
        }
        let (&len, text) = self.data.split_first()?;
        std::str::from_utf8(text.get(..usize::from(len))?).ok()
    }

    /// The RFC 8538 Hard Reset wrapping `inner`: Cease / Hard Reset, with
    /// the inner code, subcode and data (cut to fit) as data.
    pub fn hard_reset(inner: &Notification) -> Notification {
        let mut data = Vec::with_capacity(2 + inner.data.len());
        data.push(inner.code.0);
        data.push(inner.subcode);
        let room = MAX_NOTIFICATION_DATA - 2;
        data.extend_from_slice(inner.data.get(..room).unwrap_or(&inner.data));
        Notification::new(ErrorCode::CEASE, subcode::cease::HARD_RESET, data)
    }

    /// The NOTIFICATION inside a Hard Reset, if this is one.
    pub fn hard_reset_inner(&self) -> Option<Notification> {
        if self.code != ErrorCode::CEASE || self.subcode != subcode::cease::HARD_RESET {
            return None;
        }
        match self.data.as_slice() {
            [code, sub, data @ ..] => Some(Notification::new(ErrorCode(*code), *sub, data)),
            _ => None,
        }
    }

    /// The IANA name of the subcode under this code.
    pub fn subcode_name(&self) -> Option<&'static str> {
        subcode::name(self.code, self.subcode)
    }

    /// Parses a NOTIFICATION body (after the header).
    pub fn parse(body: &[u8]) -> Result<Notification, WireError> {
        let (data, (code, sub)) = tuple((u8p, u8p))(body).map_err(|_| {
            WireError::new(
                ErrorCode::MESSAGE_HEADER_ERROR,
                subcode::header::BAD_MESSAGE_LENGTH,
                "NOTIFICATION body shorter than 2 octets",
            )
        })?;
        Ok(Notification::new(ErrorCode(code), sub, data))
    }

    /// Appends the whole message; returns its length.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<usize, EmitError> {
        let start = begin_message(out, MessageType::NOTIFICATION);
        out.push(self.code.0);
        out.push(self.subcode);
        out.extend_from_slice(&self.data);
        finish_message(out, start)
    }
}

impl fmt::Display for Notification {
    /// `Cease/Administrative Shutdown "maintenance"`, `UPDATE_MESSAGE_ERROR/
    /// Malformed AS_PATH (3 octets of data)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.subcode_name() {
            Some(s) => write!(f, "{:?}/{s}", self.code)?,
            None => write!(f, "{:?}/{}", self.code, self.subcode)?,
        }
        if let Some(inner) = self.hard_reset_inner() {
            return write!(f, " [{inner}]");
        }
        if let Some(m) = self.shutdown_message() {
            return write!(f, " {m:?}");
        }
        if !self.data.is_empty() {
            write!(f, " ({} octets of data)", self.data.len())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cease_message_round_trip() {
        let n = Notification::cease_with_message(
            subcode::cease::ADMINISTRATIVE_SHUTDOWN,
            "maintenance",
        );
        let mut out = Vec::new();
        assert_eq!(n.emit(&mut out).unwrap(), 33);
        assert_eq!(&out[16..21], &[0, 33, 3, 6, 2]);
        assert_eq!(out[21], 11);
        let back = Notification::parse(&out[19..]).unwrap();
        assert_eq!(back, n);
        assert_eq!(back.shutdown_message(), Some("maintenance"));
        assert_eq!(
            back.to_string(),
            "CEASE/Administrative Shutdown \"maintenance\""
        );
        let long = "é".repeat(200);
        let n = Notification::cease_with_message(2, &long);
        assert_eq!(n.data[0], 254);
        assert!(n.shutdown_message().is_some());
    }

    #[test]
    fn hard_reset() {
        let inner = Notification::new(ErrorCode::HOLD_TIMER_EXPIRED, 0, vec![]);
        let h = Notification::hard_reset(&inner);
        assert_eq!(h.data, vec![4, 0]);
        assert_eq!(h.hard_reset_inner(), Some(inner));
        assert_eq!(
            h.to_string(),
            "CEASE/Hard Reset [HOLD_TIMER_EXPIRED/Unspecific]"
        );
        assert!(Notification::parse(&[6]).is_err());
        let big = Notification::new(ErrorCode::CEASE, 0, vec![0; MAX_NOTIFICATION_DATA + 1]);
        assert!(big.emit(&mut Vec::new()).is_err());
        let hr = Notification::hard_reset(&big);
        assert_eq!(hr.data.len(), MAX_NOTIFICATION_DATA);
        assert!(hr.emit(&mut Vec::new()).is_ok());
    }
}
