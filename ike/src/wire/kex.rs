//! Key Exchange (RFC 7296 section 3.4) and Nonce (section 3.9) payloads.
//!
//! ```text
//! KE:    Diffie-Hellman Group Num(2) RESERVED(2) Key Exchange Data...
//! Nonce: Nonce Data (16 to 256 octets)
//! ```

use nom::number::complete::be_u16;
use nom::sequence::tuple;

use super::codec::{finish, fixed};
use super::error::WireError;
use super::registry::DhGroup;

/// Smallest Nonce Data allowed (RFC 7296 section 3.9).
pub const NONCE_MIN: usize = 16;
/// Largest Nonce Data allowed.
pub const NONCE_MAX: usize = 256;

/// The body of a KE payload.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KePayload {
    /// The group the key exchange data belongs to.
    pub group: DhGroup,
    /// The public value.
    pub data: Vec<u8>,
}

impl KePayload {
    /// Parses a KE payload body.
    pub fn parse(b: &[u8]) -> Result<KePayload, WireError> {
        let (data, (group, _)) = finish(fixed("KE header", 4, tuple((be_u16, be_u16)), b))?;
        Ok(KePayload {
            group: DhGroup(group),
            data: data.to_vec(),
        })
    }

    /// Appends the KE payload body.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.group.0.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.data);
    }
}

/// The body of a Nonce payload.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NoncePayload {
    /// Nonce Data.
    pub data: Vec<u8>,
}

impl NoncePayload {
    /// Parses a Nonce payload body, which must be 16 to 256 octets.
    pub fn parse(b: &[u8]) -> Result<NoncePayload, WireError> {
        if !(NONCE_MIN..=NONCE_MAX).contains(&b.len()) {
            return Err(WireError::BadLength {
                field: "Nonce Data",
                value: b.len(),
                min: NONCE_MIN,
                max: NONCE_MAX,
            });
        }
        Ok(NoncePayload { data: b.to_vec() })
    }

    /// Appends the Nonce payload body; its length must be 16 to 256.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        if !(NONCE_MIN..=NONCE_MAX).contains(&self.data.len()) {
            return Err(WireError::BadLength {
                field: "Nonce Data",
                value: self.data.len(),
                min: NONCE_MIN,
                max: NONCE_MAX,
            });
        }
        out.extend_from_slice(&self.data);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ke_round_trip() {
        let ke = KePayload {
            group: DhGroup::CURVE25519,
            data: vec![9; 32],
        };
        let mut out = Vec::new();
        ke.emit(&mut out);
        assert_eq!(&out[..4], &[0, 31, 0, 0]);
        assert_eq!(KePayload::parse(&out).unwrap(), ke);
        assert!(matches!(
            KePayload::parse(&[0, 31, 0]),
            Err(WireError::Truncated {
                field: "KE header",
                ..
            })
        ));
    }

    #[test]
    fn nonce_bounds() {
        assert!(NoncePayload::parse(&[0; 15]).is_err());
        assert!(NoncePayload::parse(&[0; 257]).is_err());
        let n = NoncePayload::parse(&[5; 32]).unwrap();
        let mut out = Vec::new();
        n.emit(&mut out).unwrap();
        assert_eq!(out, [5; 32]);
        assert!(NoncePayload { data: vec![1] }.emit(&mut out).is_err());
    }
}
