//! The BGP message header (RFC 4271 section 4.1), and framing of a TCP
//! byte stream into messages.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                                                               +
//! |                           Marker                              |
//! +                                                               +
//! |                                                               |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Length               |      Type     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use nom::sequence::tuple;

use super::codec::{takep, u16p, u8p, HEADER_LEN, MARKER, MAX_MESSAGE_LEN};
use super::error::WireError;
use super::registry::{subcode, ErrorCode, MessageType};

/// Smallest OPEN.
pub const MIN_OPEN_LEN: usize = 29;
/// Smallest UPDATE.
pub const MIN_UPDATE_LEN: usize = 23;
/// Smallest NOTIFICATION.
pub const MIN_NOTIFICATION_LEN: usize = 21;
/// Length of a ROUTE-REFRESH.
pub const ROUTE_REFRESH_LEN: usize = 23;
/// A whole KEEPALIVE message.
pub const KEEPALIVE: [u8; HEADER_LEN] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0, 19, 4,
];

/// A message header as received: the Length and Type fields (the Marker is
/// checked and not kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Length of the whole message, header included.
    pub length: u16,
    /// Message type.
    pub msg_type: MessageType,
}

impl Header {
    /// Reads and checks the first [`HEADER_LEN`] octets of `bytes` (the
    /// rest is not looked at): the Marker, the Length against 19..=4096
    /// and the per-type minimum (RFC 4271 section 6.1), and the Type.
    /// Errors are Message Header Errors with the data RFC 4271 asks for.
    pub fn parse(bytes: &[u8]) -> Result<Header, WireError> {
        let (_, (marker, length, t)) = tuple((takep(16), u16p, u8p))(bytes).map_err(|_| {
            WireError::new(
                ErrorCode::MESSAGE_HEADER_ERROR,
                subcode::header::BAD_MESSAGE_LENGTH,
                format!("{} octets, shorter than a header", bytes.len()),
            )
        })?;
        if marker != MARKER {
            return Err(WireError::new(
                ErrorCode::MESSAGE_HEADER_ERROR,
                subcode::header::CONNECTION_NOT_SYNCHRONIZED,
                "marker is not all ones",
            ));
        }
        let msg_type = MessageType(t);
        let len = usize::from(length);
        let ok = match msg_type {
            MessageType::OPEN => len >= MIN_OPEN_LEN,
            MessageType::UPDATE => len >= MIN_UPDATE_LEN,
            MessageType::NOTIFICATION => len >= MIN_NOTIFICATION_LEN,
            MessageType::KEEPALIVE => len == HEADER_LEN,
            // RFC 7313: a ROUTE-REFRESH of the wrong length has its own
            // error (see Message::parse); only the general bounds here.
            MessageType::ROUTE_REFRESH => len >= HEADER_LEN,
            _ => {
                return Err(WireError::new(
                    ErrorCode::MESSAGE_HEADER_ERROR,
                    subcode::header::BAD_MESSAGE_TYPE,
                    format!("unknown message type {t}"),
                )
                .with_data([t]))
            }
        };
        if !ok || len > MAX_MESSAGE_LEN {
            return Err(WireError::new(
                ErrorCode::MESSAGE_HEADER_ERROR,
                subcode::header::BAD_MESSAGE_LENGTH,
                format!("length {len} for a {msg_type:?} message"),
            )
            .with_data(length.to_be_bytes()));
        }
        Ok(Header { length, msg_type })
    }

    /// Appends the header's 19 octets.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&MARKER);
        out.extend_from_slice(&self.length.to_be_bytes());
        out.push(self.msg_type.0);
    }
}

/// Framing of a TCP byte stream: the length of the first message of `buf`
/// once all of it is there, `Ok(None)` while it is incomplete, or the
/// Message Header Error that ends the session as soon as the header is
/// known to be bad.
pub fn frame(buf: &[u8]) -> Result<Option<usize>, WireError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let h = Header::parse(buf)?;
    let len = usize::from(h.length);
    Ok((buf.len() >= len).then_some(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalive_and_framing() {
        let h = Header::parse(&KEEPALIVE).unwrap();
        assert_eq!(h.msg_type, MessageType::KEEPALIVE);
        assert_eq!(h.length, 19);
        let mut v = Vec::new();
        h.emit(&mut v);
        assert_eq!(v, KEEPALIVE);
        assert_eq!(frame(&KEEPALIVE[..10]), Ok(None));
        let mut two = KEEPALIVE.to_vec();
        two.extend_from_slice(&KEEPALIVE[..5]);
        assert_eq!(frame(&two), Ok(Some(19)));
    }

    #[test]
    fn header_errors() {
        let mut b = KEEPALIVE;
        b[3] = 0;
        let e = Header::parse(&b).unwrap_err();
        assert_eq!(e.subcode, subcode::header::CONNECTION_NOT_SYNCHRONIZED);

        let mut b = KEEPALIVE;
        b[17] = 20;
        let e = Header::parse(&b).unwrap_err();
        assert_eq!(e.subcode, subcode::header::BAD_MESSAGE_LENGTH);
        assert_eq!(e.data, vec![0, 20]);

        let mut b = KEEPALIVE;
        b[18] = 9;
        let e = Header::parse(&b).unwrap_err();
        assert_eq!(e.subcode, subcode::header::BAD_MESSAGE_TYPE);
        assert_eq!(e.data, vec![9]);

        // UPDATE shorter than 23, OPEN longer than 4096.
        let mut b = KEEPALIVE;
        b[17] = 22;
        b[18] = 2;
        assert_eq!(
            Header::parse(&b).unwrap_err().subcode,
            subcode::header::BAD_MESSAGE_LENGTH
        );
        b[16] = 0x10;
        b[17] = 0x01;
        b[18] = 1;
        assert_eq!(Header::parse(&b).unwrap_err().data, vec![0x10, 0x01]);
        assert!(Header::parse(&b[..18]).is_err());
    }
}
