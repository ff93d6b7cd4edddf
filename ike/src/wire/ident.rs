//! Identity and authentication payloads: IDi/IDr (RFC 7296 section 3.5),
//! CERT (3.6), CERTREQ (3.7), AUTH (3.8).
//!
//! ```text
//! ID:      ID Type(1) RESERVED(3) Identification Data...
//! CERT:    Cert Encoding(1) Certificate Data...
//! CERTREQ: Cert Encoding(1) Certification Authority...
//! AUTH:    Auth Method(1) RESERVED(3) Authentication Data...
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use nom::bytes::complete::take as nom_take;
use nom::number::complete::be_u8;
use nom::sequence::tuple;

use super::codec::{finish, fixed};
use super::error::WireError;
use super::registry::{AuthMethod, CertEncoding, IdType};

/// The body of an IDi or IDr payload.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdPayload {
    /// ID Type.
    pub id_type: IdType,
    /// Identification Data.
    pub data: Vec<u8>,
}

impl IdPayload {
    /// ID_IPV4_ADDR.
    pub fn ipv4(a: Ipv4Addr) -> IdPayload {
        IdPayload {
            id_type: IdType::ID_IPV4_ADDR,
            data: a.octets().to_vec(),
        }
    }

    /// ID_IPV6_ADDR.
    pub fn ipv6(a: Ipv6Addr) -> IdPayload {
        IdPayload {
            id_type: IdType::ID_IPV6_ADDR,
            data: a.octets().to_vec(),
        }
    }

    /// ID_IPV4_ADDR or ID_IPV6_ADDR.
    pub fn ip(a: IpAddr) -> IdPayload {
        match a {
            IpAddr::V4(a) => IdPayload::ipv4(a),
            IpAddr::V6(a) => IdPayload::ipv6(a),
        }
    }

    /// ID_FQDN.
    pub fn fqdn(name: &str) -> IdPayload {
        IdPayload {
            id_type: IdType::ID_FQDN,
            data: name.as_bytes().to_vec(),
        }
    }

    /// ID_RFC822_ADDR.
    pub fn rfc822(addr: &str) -> IdPayload {
        IdPayload {
            id_type: IdType::ID_RFC822_ADDR,
            data: addr.as_bytes().to_vec(),
        }
    }

    /// ID_KEY_ID.
    pub fn key_id(id: &[u8]) -> IdPayload {
        IdPayload {
            id_type: IdType::ID_KEY_ID,
            data: id.to_vec(),
        }
    }

    /// ID_DER_ASN1_DN, from the DER of a Name.
    pub fn der_dn(der: &[u8]) -> IdPayload {
        IdPayload {
            id_type: IdType::ID_DER_ASN1_DN,
            data: der.to_vec(),
        }
    }

    /// The address of an ID_IPV4_ADDR or ID_IPV6_ADDR identity.
    pub fn ip_addr(&self) -> Option<IpAddr> {
        match self.id_type {
            IdType::ID_IPV4_ADDR => <[u8; 4]>::try_from(self.data.as_slice())
                .ok()
                .map(IpAddr::from),
            IdType::ID_IPV6_ADDR => <[u8; 16]>::try_from(self.data.as_slice())
                .ok()
                .map(IpAddr::from),
            _ => None,
        }
    }

    /// The payload body as sent: ID Type, three reserved octets, data. This
    /// is RestOfInitIDPayload / RestOfRespIDPayload, which the AUTH
    /// computation MACs (RFC 7296 section 2.15).
    pub fn body_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.data.len());
        self.emit(&mut out);
        out
    }

    /// Parses an ID payload body.
    pub fn parse(b: &[u8]) -> Result<IdPayload, WireError> {
        let (data, (id_type, _)) =
            finish(fixed("ID header", 4, tuple((be_u8, nom_take(3usize))), b))?;
        Ok(IdPayload {
            id_type: IdType(id_type),
            data: data.to_vec(),
        })
    }

    /// Appends the ID payload body.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.id_type.0, 0, 0, 0]);
        out.extend_from_slice(&self.data);
    }
}

/// For logs: `FQDN:hub.example.net`, `IPV4:192.0.2.1`, `KEY_ID:0a0b`...
impl fmt::Display for IdPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.id_type {
            IdType::ID_IPV4_ADDR | IdType::ID_IPV6_ADDR => match self.ip_addr() {
                Some(a) if a.is_ipv4() => write!(f, "IPV4:{a}"),
                Some(a) => write!(f, "IPV6:{a}"),
                None => write!(f, "{:?}:<{} octets>", self.id_type, self.data.len()),
            },
            IdType::ID_FQDN | IdType::ID_RFC822_ADDR => {
                let tag = if self.id_type == IdType::ID_FQDN {
                    "FQDN"
                } else {
                    "RFC822"
                };
                write!(
                    f,
                    "{tag}:{}",
                    String::from_utf8_lossy(&self.data).escape_debug()
                )
            }
            t => {
                write!(f, "{t:?}:")?;
                for b in &self.data {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
        }
    }
}

/// The body of an AUTH payload.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AuthPayload {
    /// Auth Method.
    pub method: AuthMethod,
    /// Authentication Data.
    pub data: Vec<u8>,
}

impl AuthPayload {
    /// Parses an AUTH payload body.
    pub fn parse(b: &[u8]) -> Result<AuthPayload, WireError> {
        let (data, (method, _)) =
            finish(fixed("AUTH header", 4, tuple((be_u8, nom_take(3usize))), b))?;
        Ok(AuthPayload {
            method: AuthMethod(method),
            data: data.to_vec(),
        })
    }

    /// Appends the AUTH payload body.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.method.0, 0, 0, 0]);
        out.extend_from_slice(&self.data);
    }
}

/// The body of a CERT or CERTREQ payload: an encoding and data (for
/// CERTREQ with X.509, concatenated SHA-1 hashes of trusted CA keys).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CertPayload {
    /// Cert Encoding.
    pub encoding: CertEncoding,
    /// Certificate Data or Certification Authority.
    pub data: Vec<u8>,
}

impl CertPayload {
    /// Parses a CERT or CERTREQ payload body.
    pub fn parse(b: &[u8]) -> Result<CertPayload, WireError> {
        let (data, encoding) = finish(fixed("CERT header", 1, be_u8, b))?;
        Ok(CertPayload {
            encoding: CertEncoding(encoding),
            data: data.to_vec(),
        })
    }

    /// Appends the CERT or CERTREQ payload body.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(self.encoding.0);
        out.extend_from_slice(&self.data);
    }

    /// The 20-octet CA key hashes of an X.509 CERTREQ; `None` if the data
    /// is not a whole number of them.
    pub fn ca_hashes(&self) -> Option<Vec<[u8; 20]>> {
        let chunks = self.data.chunks_exact(20);
        if !chunks.remainder().is_empty() {
            return None;
        }
        Some(
            chunks
                .filter_map(|c| <[u8; 20]>::try_from(c).ok())
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_round_trip_and_display() {
        let id = IdPayload::fqdn("hub1.example.net");
        assert_eq!(&id.body_bytes()[..4], &[2, 0, 0, 0]);
        assert_eq!(IdPayload::parse(&id.body_bytes()).unwrap(), id);
        assert_eq!(id.to_string(), "FQDN:hub1.example.net");
        let ip = IdPayload::ipv4(Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(ip.body_bytes(), [1, 0, 0, 0, 192, 0, 2, 1]);
        assert_eq!(ip.to_string(), "IPV4:192.0.2.1");
        assert_eq!(IdPayload::key_id(&[10, 11]).to_string(), "ID_KEY_ID:0a0b");
        assert!(matches!(
            IdPayload::parse(&[1, 0]),
            Err(WireError::Truncated {
                field: "ID header",
                ..
            })
        ));
    }

    #[test]
    fn auth_and_cert() {
        let a = AuthPayload {
            method: AuthMethod::PSK,
            data: vec![7; 32],
        };
        let mut out = Vec::new();
        a.emit(&mut out);
        assert_eq!(&out[..4], &[2, 0, 0, 0]);
        assert_eq!(AuthPayload::parse(&out).unwrap(), a);
        let c = CertPayload {
            encoding: CertEncoding::X509_SIGNATURE,
            data: vec![1; 40],
        };
        let mut out = Vec::new();
        c.emit(&mut out);
        assert_eq!(CertPayload::parse(&out).unwrap(), c);
        assert_eq!(c.ca_hashes().map(|h| h.len()), Some(2));
        assert!(CertPayload::parse(&[]).is_err());
    }
}
