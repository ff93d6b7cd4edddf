//! IKEv2 (RFC 7296) for rvpn.
//!
//! - [`wire`]: every payload as a parse/emit pair over byte slices.
//! - [`crypto`]: PRFs and prf+, key derivation, the SK payload ciphers,
//!   Diffie-Hellman groups, PSK authentication.
//! - [`pki`]: X.509 trustpoints, certificate validation and signatures.
//! - [`sa`]: the sans-IO IKE SA and Child SA state machines, driven by
//!   events and an injected clock.
//! - `driver` (cargo feature `driver`, off by default): the tokio task that
//!   runs one engine on the IKE and NAT-T UDP ports.

pub mod crypto;
#[cfg(feature = "driver")]
pub mod driver;
pub mod pki;
pub mod sa;
pub mod wire;
