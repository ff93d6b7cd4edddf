//! IKEv2 wire format (RFC 7296 section 3, RFC 7383 fragments).
//!
//! Every structure is an owned `Repr` with `parse` (from the octets of its
//! body) and `emit` (appending to a `Vec<u8>`); chains and messages fill
//! the Next Payload and length fields on emit. For valid input
//! `emit(parse(x)) == x`; reserved fields and the critical bit of known
//! payload types are ignored on receipt and sent as zero, as RFC 7296
//! requires. Any malformed input gives a [`WireError`] naming the field,
//! never a panic; [`WireError::to_notify`] gives the Notify that answers it.
//!
//! Receiving: [`Message::parse`], then for encrypted messages
//! [`parse_encrypted`] (AAD and body slices for the crypto layer), and
//! [`parse_decrypted`] on the plaintext. Sending: [`Message::emit`], or
//! [`emit_payloads`] for the plaintext, [`encrypted_prefix`] for the header
//! and SK header of a body of known length, then append the body.

mod codec;
mod cp;
mod delete;
mod encrypted;
mod error;
mod header;
mod ident;
mod kex;
mod message;
mod notify;
mod payload;
mod registry;
mod sa;
mod ts;

pub use cp::{CfgAttribute, CpPayload};
pub use delete::DeletePayload;
pub use encrypted::{
    emit_encrypted, emit_fragment, encrypted_prefix, fragment_prefix, parse_encrypted,
    EncryptedView, Fragment, SkPayload, SkfPayload, SKF_HEADER_LEN, SK_HEADER_LEN,
};
pub use error::WireError;
pub use header::{Flags, Header, HEADER_LEN, NON_ESP_MARKER};
pub use ident::{AuthPayload, CertPayload, IdPayload};
pub use kex::{KePayload, NoncePayload, NONCE_MAX, NONCE_MIN};
pub use message::Message;
pub use notify::{NotifyPayload, NotifyType};
pub use payload::{
    emit_payloads, emit_payloads_into, find_notify, notifies, parse_decrypted, parse_payloads,
    Payload, GENERIC_HEADER_LEN,
};
pub use registry::{
    AttributeType, AuthMethod, CertEncoding, CfgAttrType, CfgType, DhGroup, EncrId, EsnId,
    ExchangeType, IdType, IntegId, PayloadType, PrfId, ProtocolId, TransformType, TsType,
};
pub use sa::{Attribute, Proposal, SaPayload, Transform};
pub use ts::{TrafficSelector, TsPayload, TsRange};
