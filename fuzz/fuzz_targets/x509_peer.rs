//! What a peer sends for certificate authentication: CERT payload data
//! (certificates and CRLs, DER or PEM), RFC 7427 AUTH data, and a chain to
//! validate against a trustpoint. Never a panic; what parses re-parses
//! the same.
#![no_main]

use ike::pki::{Cert, Crl, SigScheme, TrustPoint};
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const CA: &[u8] = include_bytes!("../../ike/src/pki/testdata/ca.pem");
const SUBCA: &[u8] = include_bytes!("../../ike/src/pki/testdata/subca.pem");
const CRL: &[u8] = include_bytes!("../../ike/src/pki/testdata/ca.crl");

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_798_761_600)
}

fn trustpoint() -> Option<TrustPoint> {
    let ca = Cert::parse_all(CA).ok()?;
    let crl = Crl::parse(CRL).ok();
    TrustPoint::from_parts("FUZZ", ca, vec![], None, crl, now()).ok()
}

fuzz_target!(|data: &[u8]| {
    if let Ok(certs) = Cert::parse_all(data) {
        for c in certs {
            assert_eq!(Cert::from_der(&c.der).as_ref(), Ok(&c));
        }
    }
    if let Ok(crl) = Crl::parse(data) {
        assert_eq!(Crl::parse(&crl.der).as_ref(), Ok(&crl));
    }
    if let Some((scheme, sig)) = SigScheme::split_auth_data(data) {
        assert!(data.ends_with(sig));
        let mut again = vec![scheme.algorithm_identifier().len() as u8];
        again.extend(scheme.algorithm_identifier());
        again.extend_from_slice(sig);
        assert_eq!(SigScheme::split_auth_data(&again), Some((scheme, sig)));
    }
    // A chain: the first byte says how many intermediates follow, each
    // with a two-byte length; the rest is the end entity. The lab's real
    // intermediate is offered too, so fuzzed end entities can get far.
    let Some((&n, mut rest)) = data.split_first() else {
        return;
    };
    let mut intermediates = vec![Cert::parse_all(SUBCA)
        .ok()
        .and_then(|c| c.first().map(|c| c.der.clone()))
        .unwrap_or_default()];
    for _ in 0..n % 20 {
        let Some((len, r)) = rest.split_first_chunk::<2>() else {
            break;
        };
        let len = usize::from(u16::from_be_bytes(*len)).min(r.len());
        let (one, r) = r.split_at(len);
        intermediates.push(one.to_vec());
        rest = r;
    }
    if let Some(tp) = trustpoint() {
        for allow_weak in [false, true] {
            if let Ok(c) = tp.validate_peer(rest, &intermediates, now(), allow_weak) {
                assert_eq!(Cert::from_der(rest).as_ref(), Ok(&c));
            }
        }
    }
});
