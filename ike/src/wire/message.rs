//! A whole IKE message: header and payload chain.

use super::encrypted::SkPayload;
use super::error::WireError;
use super::header::{Header, HEADER_LEN};
use super::notify::{NotifyPayload, NotifyType};
use super::payload::{emit_payloads_into, find_notify, notifies, parse_payloads, Payload};
use super::sa::SaPayload;

/// An IKE message with its payloads decoded (SK/SKF still encrypted).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Message {
    /// The header. On emit, `next_payload` and `length` are recomputed.
    pub header: Header,
    /// The payloads, in order.
    pub payloads: Vec<Payload>,
}

impl Message {
    /// A message of `header` and `payloads`.
    pub fn new(header: Header, payloads: Vec<Payload>) -> Message {
        Message { header, payloads }
    }

    /// Parses a whole message (without the port-4500 non-ESP marker). The
    /// header's Length must equal `bytes.len()`, the payload chain must fill
    /// the rest exactly.
    pub fn parse(bytes: &[u8]) -> Result<Message, WireError> {
        let header = Header::parse(bytes)?;
        let length = usize::try_from(header.length).unwrap_or(usize::MAX);
        if length < HEADER_LEN {
            return Err(WireError::BadLength {
                field: "IKE header Length",
                value: length,
                min: HEADER_LEN,
                max: bytes.len(),
            });
        }
        if length > bytes.len() {
            return Err(WireError::Truncated {
                field: "IKE message",
                needed: length,
                available: bytes.len(),
            });
        }
        if length < bytes.len() {
            return Err(WireError::TrailingBytes {
                after: "IKE message (header Length)",
                count: bytes.len() - length,
            });
        }
        let rest = bytes.get(HEADER_LEN..).unwrap_or_default();
        let payloads = parse_payloads(header.next_payload, rest)?;
        Ok(Message { header, payloads })
    }

    /// Emits the message, filling the header's Next Payload and Length and
    /// every payload's Next Payload and length fields.
    pub fn emit(&self) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::with_capacity(256);
        let mut header = self.header;
        header.emit(&mut out);
        header.next_payload = emit_payloads_into(&self.payloads, &mut out)?;
        let total = out.len();
        header.length = u32::try_from(total).map_err(|_| WireError::TooLong {
            field: "IKE message",
            length: total,
            max: u32::MAX as usize,
        })?;
        if let Some(h) = out.get_mut(..HEADER_LEN) {
            h.copy_from_slice(&header.to_bytes());
        }
        Ok(out)
    }

    /// The Notify payloads, in order.
    pub fn notifies(&self) -> impl Iterator<Item = &NotifyPayload> {
        notifies(&self.payloads)
    }

    /// The first Notify of type `t`.
    pub fn notify(&self, t: NotifyType) -> Option<&NotifyPayload> {
        find_notify(&self.payloads, t)
    }

    /// The first SA payload.
    pub fn sa(&self) -> Option<&SaPayload> {
        self.payloads.iter().find_map(|p| match p {
            Payload::Sa(s) => Some(s),
            _ => None,
        })
    }

    /// The SK payload, if the message has one.
    pub fn sk(&self) -> Option<&SkPayload> {
        self.payloads.iter().find_map(|p| match p {
            Payload::Sk(s) => Some(s),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::header::Flags;
    use crate::wire::kex::NoncePayload;
    use crate::wire::registry::{ExchangeType, PayloadType};

    fn msg() -> Message {
        Message::new(
            Header::new(7, 0, ExchangeType::IKE_SA_INIT, Flags::INITIATOR, 0),
            vec![
                Payload::Nonce(NoncePayload { data: vec![3; 16] }),
                Payload::Notify(NotifyPayload::new(NotifyType::COOKIE, vec![1; 8])),
            ],
        )
    }

    #[test]
    fn emit_fills_header() {
        let b = msg().emit().unwrap();
        assert_eq!(b.len(), 28 + 20 + 16);
        assert_eq!(b[16], 40);
        assert_eq!(&b[24..28], &64u32.to_be_bytes());
        let back = Message::parse(&b).unwrap();
        assert_eq!(back.header.length, 64);
        assert_eq!(back.header.next_payload, PayloadType::NONCE);
        assert_eq!(back.payloads, msg().payloads);
        assert_eq!(back.emit().unwrap(), b);
        assert_eq!(
            back.notify(NotifyType::COOKIE).map(|n| n.data.len()),
            Some(8)
        );
    }

    #[test]
    fn length_checks() {
        let b = msg().emit().unwrap();
        assert!(matches!(
            Message::parse(&b[..60]),
            Err(WireError::Truncated {
                field: "IKE message",
                needed: 64,
                available: 60
            })
        ));
        let mut long = b.clone();
        long.push(0);
        assert!(matches!(
            Message::parse(&long),
            Err(WireError::TrailingBytes { count: 1, .. })
        ));
        let mut small = b.clone();
        small[27] = 20;
        assert!(matches!(
            Message::parse(&small),
            Err(WireError::BadLength { value: 20, .. })
        ));
        let mut v1 = b.clone();
        v1[17] = 0x10;
        assert_eq!(
            Message::parse(&v1).unwrap_err().notify_type(),
            NotifyType::INVALID_MAJOR_VERSION
        );
    }
}
