//! A whole BGP message of any type.

use super::codec::{begin_message, finish_message, HEADER_LEN};
use super::error::{EmitError, WireError};
use super::family::Ctx;
use super::header::{Header, ROUTE_REFRESH_LEN};
use super::notification::Notification;
use super::open::Open;
use super::registry::{subcode, ErrorCode, MessageType};
use super::route_refresh::RouteRefresh;
use super::update::{parse_update, Update};

/// A BGP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// OPEN.
    Open(Open),
    /// UPDATE (possibly with RFC 7606 treat-as-withdraw or discarded
    /// attributes: see [`Update`]); boxed, as it is much larger than the
    /// others.
    Update(Box<Update>),
    /// NOTIFICATION.
    Notification(Notification),
    /// KEEPALIVE.
    Keepalive,
    /// ROUTE-REFRESH.
    RouteRefresh(RouteRefresh),
}

impl Message {
    /// Its type.
    pub fn msg_type(&self) -> MessageType {
        match self {
            Message::Open(_) => MessageType::OPEN,
            Message::Update(_) => MessageType::UPDATE,
            Message::Notification(_) => MessageType::NOTIFICATION,
            Message::Keepalive => MessageType::KEEPALIVE,
            Message::RouteRefresh(_) => MessageType::ROUTE_REFRESH,
        }
    }

    /// Parses exactly one message, header included (as split off by
    /// [`frame`](super::frame)); UPDATEs with the decode context `ctx`.
    /// Every error carries the NOTIFICATION that answers it.
    pub fn parse(msg: &[u8], ctx: &Ctx) -> Result<Message, WireError> {
        let h = Header::parse(msg)?;
        if usize::from(h.length) != msg.len() {
            return Err(WireError::new(
                ErrorCode::MESSAGE_HEADER_ERROR,
                subcode::header::BAD_MESSAGE_LENGTH,
                format!("length field {}, message of {} octets", h.length, msg.len()),
            )
            .with_data(h.length.to_be_bytes()));
        }
        let body = msg.get(HEADER_LEN..).unwrap_or_default();
        Ok(match h.msg_type {
            MessageType::OPEN => Message::Open(Open::parse(body)?),
            MessageType::UPDATE => Message::Update(Box::new(parse_update(body, ctx)?)),
            MessageType::NOTIFICATION => Message::Notification(Notification::parse(body)?),
            MessageType::ROUTE_REFRESH => {
                if msg.len() != ROUTE_REFRESH_LEN {
                    // RFC 7313 section 5: the data is the whole message.
                    return Err(RouteRefresh::parse(body)
                        .err()
                        .unwrap_or_else(|| {
                            WireError::new(
                                ErrorCode::ROUTE_REFRESH_MESSAGE_ERROR,
                                subcode::route_refresh::INVALID_MESSAGE_LENGTH,
                                "bad ROUTE-REFRESH length",
                            )
                        })
                        .with_data(msg));
                }
                Message::RouteRefresh(RouteRefresh::parse(body)?)
            }
            // Header::parse lets only the five types through; a KEEPALIVE
            // is exactly a header.
            _ => Message::Keepalive,
        })
    }

    /// Appends the whole message (UPDATEs with the encode context `ctx`);
    /// returns its length. On error `out` is left as it was.
    pub fn emit(&self, ctx: &Ctx, out: &mut Vec<u8>) -> Result<usize, EmitError> {
        match self {
            Message::Open(o) => o.emit(out),
            Message::Update(u) => u.emit(ctx, out),
            Message::Notification(n) => n.emit(out),
            Message::Keepalive => {
                let start = begin_message(out, MessageType::KEEPALIVE);
                finish_message(out, start)
            }
            Message::RouteRefresh(r) => r.emit(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::header::KEEPALIVE;

    #[test]
    fn keepalive_and_lengths() {
        let c = Ctx::default();
        assert_eq!(Message::parse(&KEEPALIVE, &c), Ok(Message::Keepalive));
        let mut out = Vec::new();
        Message::Keepalive.emit(&c, &mut out).unwrap();
        assert_eq!(out, KEEPALIVE);
        let mut long = KEEPALIVE.to_vec();
        long.push(0);
        assert_eq!(
            Message::parse(&long, &c).unwrap_err().subcode,
            subcode::header::BAD_MESSAGE_LENGTH
        );
        // A 24-octet ROUTE-REFRESH: RFC 7313 error with the whole message.
        let mut rr = KEEPALIVE.to_vec();
        rr[17] = 24;
        rr[18] = 5;
        rr.extend_from_slice(&[0, 1, 0, 1, 0]);
        let e = Message::parse(&rr, &c).unwrap_err();
        assert_eq!(e.code, ErrorCode::ROUTE_REFRESH_MESSAGE_ERROR);
        assert_eq!(e.data, rr);
    }
}
