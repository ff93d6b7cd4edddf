//! Shared-key AUTH (RFC 7296 2.15) and a constant-time compare.

use super::alg::PrfAlg;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// The key pad of RFC 7296 2.15 (17 ASCII bytes, no terminator).
pub const KEY_PAD: &[u8] = b"Key Pad for IKEv2";

/// `AUTH = prf(prf(PSK, "Key Pad for IKEv2"), <SignedOctets>)` with
/// `SignedOctets = RealMessage | Nonce(peer) | prf(SK_p, RestOfIDPayload)`.
///
/// For the initiator's AUTH: `real_message` is its IKE_SA_INIT request,
/// `peer_nonce` the responder's Nr, `sk_p` = SK_pi and the ID is IDi; for
/// the responder's: its IKE_SA_INIT response, Ni, SK_pr and IDr.
/// `RestOfIDPayload` is `id_type | 3 zero bytes | id_data`. Verifying a
/// peer's AUTH: compute it the same way with the peer's values and compare
/// with [`ct_eq`].
pub fn psk_auth(
    prf: PrfAlg,
    psk: &[u8],
    real_message: &[u8],
    peer_nonce: &[u8],
    sk_p: &[u8],
    id_type: u8,
    id_data: &[u8],
) -> Vec<u8> {
    let key = Zeroizing::new(prf.prf(psk, KEY_PAD));
    let octets = signed_octets(prf, real_message, peer_nonce, sk_p, id_type, id_data);
    prf.prf(&key, &octets)
}

/// `SignedOctets = RealMessage | Nonce(peer) | prf(SK_p, RestOfIDPayload)`
/// (RFC 7296 2.15): what a PSK AUTH is a MAC of and a signature covers.
pub fn signed_octets(
    prf: PrfAlg,
    real_message: &[u8],
    peer_nonce: &[u8],
    sk_p: &[u8],
    id_type: u8,
    id_data: &[u8],
) -> Vec<u8> {
    let maced_id = prf.prf_parts(sk_p, &[&[id_type, 0, 0, 0], id_data]);
    let mut out = Vec::with_capacity(real_message.len() + peer_nonce.len() + maced_id.len());
    out.extend_from_slice(real_message);
    out.extend_from_slice(peer_nonce);
    out.extend_from_slice(&maced_id);
    out
}

/// Constant-time equality (time depends only on the lengths).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
