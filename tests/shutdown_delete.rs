//! SIGTERM makes rvpnd tell every IKE peer that its SA is gone (an
//! INFORMATIONAL request with a Delete payload for the IKE SA) before it
//! exits, so the peer drops the SA at once instead of waiting for DPD (no
//! DPD runs in these labs: without the Delete the peer would keep the SA).
//! Against strongSwan (charon with kernel-libipsec) and against a second
//! rvpnd, each in network namespaces (tests/support/hosts.rs). Needs root,
//! the packages scripts/test installs, and python3 (the labs' tools).

mod support;

use std::time::{Duration, Instant};
use support::hosts::{session, DpLab, LabOpts, Path, PeerKind};
use support::wait_for;

/// How soon after SIGTERM the peer must have dropped the SA.
const WITHIN: Duration = Duration::from_secs(2);

/// SIGTERM gwA's rvpnd; it must exit 0 within 5 s after saying it sent a
/// Delete for its one IKE SA. When it was signalled.
fn sigterm(l: &mut DpLab) -> Instant {
    let t = Instant::now();
    l.rvpn.signal(libc::SIGTERM);
    let st = l.rvpn.wait_exit(Duration::from_secs(5));
    let log = l.rvpn.log();
    let st = st.unwrap_or_else(|| panic!("rvpnd still runs 5 s after SIGTERM:\n{log}"));
    assert_eq!(st.code(), Some(0), "rvpnd's exit status:\n{log}");
    assert!(
        log.contains("shutting down, sending DELETE for IKE_SA")
            && log.contains("IKE: sent DELETE for 1 IKE SA(s)"),
        "rvpnd did not send the Delete:\n{log}"
    );
    t
}

#[test]
fn strongswan_hears_the_delete_on_sigterm() {
    let mut l = DpLab::start(LabOpts::new("sd", PeerKind::StrongSwan, Path::Direct));
    let before = l.swan().expect("strongSwan").list_sas();
    assert_eq!(before.len(), 1, "{before:#?}");
    let t = sigterm(&mut l);
    let swan = l.swan().expect("strongSwan");
    let heard = swan.wait_log("received DELETE for IKE_SA", WITHIN);
    let gone = wait_for(
        || swan.list_sas().is_empty(),
        WITHIN.saturating_sub(t.elapsed()),
    );
    let took = t.elapsed();
    assert!(
        heard && gone,
        "charon did not drop the IKE SA within {WITHIN:?} of SIGTERM (heard DELETE: {heard}): \
         {:#?}\n--- charon log:\n{}",
        swan.list_sas(),
        swan.log()
    );
    assert!(
        swan.log().contains("deleting IKE_SA"),
        "charon did not delete the IKE SA:\n{}",
        swan.log()
    );
    support::figure(&format!(
        "shutdown_delete: strongSwan dropped the IKE SA {took:?} after SIGTERM to rvpnd"
    ));
}

#[test]
fn a_peer_rvpnd_hears_the_delete_on_sigterm() {
    let mut l = DpLab::start(LabOpts::new("sd", PeerKind::Rvpn, Path::Direct));
    let t = sigterm(&mut l);
    let peer = l.rvpn_b().expect("rvpnd on gwB");
    let down = wait_for(
        || session(peer)["status"] != "UP-ACTIVE",
        WITHIN.saturating_sub(t.elapsed()),
    );
    let took = t.elapsed();
    assert!(
        down && peer.log().contains("peer deleted IKE_SA"),
        "the peer did not drop the tunnel within {WITHIN:?} of SIGTERM: {}\n--- peer log:\n{}",
        session(peer),
        peer.log()
    );
    let sas = peer.show_json("show crypto ikev2 sa");
    assert_eq!(sas["ike_sas"].as_array().map(Vec::len), Some(0), "{sas}");
    support::figure(&format!(
        "shutdown_delete: the peer rvpnd dropped the IKE SA {took:?} after SIGTERM"
    ));
}
