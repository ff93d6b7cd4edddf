//! ROUTE-REFRESH (RFC 2918 section 3, RFC 7313 section 3.2).
//!
//! ```text
//! 0       7      15      23      31
//! +-------+-------+-------+-------+
//! |      AFI      |Subtyp.| SAFI  |
//! +-------+-------+-------+-------+
//! ```

use nom::sequence::tuple;

use super::codec::{begin_message, finish_message, u16p, u8p};
use super::error::{EmitError, WireError};
use super::family::Family;
use super::registry::{subcode, Afi, ErrorCode, MessageType, RouteRefreshSubtype, Safi};

/// A ROUTE-REFRESH message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouteRefresh {
    /// The family to re-send.
    pub family: Family,
    /// Message Subtype (RFC 7313): normal request, BoRR or EoRR; the
    /// Reserved octet of RFC 2918.
    pub subtype: RouteRefreshSubtype,
}

impl RouteRefresh {
    /// A normal request for `family`.
    pub fn request(family: Family) -> RouteRefresh {
        RouteRefresh {
            family,
            subtype: RouteRefreshSubtype::NORMAL,
        }
    }

    /// Parses a ROUTE-REFRESH body. A body that is not four octets is a
    /// ROUTE-REFRESH Message Error / Invalid Message Length (RFC 7313
    /// section 5), whose data should be the whole message:
    /// [`Message::parse`](super::Message::parse) puts it there.
    pub fn parse(body: &[u8]) -> Result<RouteRefresh, WireError> {
        match tuple((u16p, u8p, u8p))(body) {
            Ok(([], (afi, sub, safi))) => Ok(RouteRefresh {
                family: Family::new(Afi(afi), Safi(safi)),
                subtype: RouteRefreshSubtype(sub),
            }),
            _ => Err(WireError::new(
                ErrorCode::ROUTE_REFRESH_MESSAGE_ERROR,
                subcode::route_refresh::INVALID_MESSAGE_LENGTH,
                format!("ROUTE-REFRESH body of {} octets, not 4", body.len()),
            )
            .with_data(body)),
        }
    }

    /// Appends the whole message; returns its length (23).
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<usize, EmitError> {
        let start = begin_message(out, MessageType::ROUTE_REFRESH);
        out.extend_from_slice(&self.family.afi.0.to_be_bytes());
        out.push(self.subtype.0);
        out.push(self.family.safi.0);
        finish_message(out, start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let r = RouteRefresh {
            family: Family::IPV6_UNICAST,
            subtype: RouteRefreshSubtype::EORR,
        };
        let mut out = Vec::new();
        assert_eq!(r.emit(&mut out).unwrap(), 23);
        assert_eq!(&out[16..], &[0, 23, 5, 0, 2, 2, 1]);
        assert_eq!(RouteRefresh::parse(&out[19..]).unwrap(), r);
        let e = RouteRefresh::parse(&out[19..22]).unwrap_err();
        assert_eq!(e.code, ErrorCode::ROUTE_REFRESH_MESSAGE_ERROR);
        assert!(RouteRefresh::parse(&[0, 1, 0, 1, 0]).is_err());
    }
}
