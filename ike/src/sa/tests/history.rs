//! Why a tunnel went down stays with the tunnel (`Engine::last_down`,
//! shown by `show crypto session`) and is logged once.

use super::*;

fn reason(side: &Side) -> String {
    side.e
        .last_down()
        .into_iter()
        .find(|(n, _, _)| n == "Tunnel1")
        .map(|(_, why, _)| why)
        .unwrap_or_else(|| panic!("no reason recorded; log: {:#?}", side.log))
}

fn logged_once(side: &Side, what: &str) {
    let n = side.log.iter().filter(|l| l.contains(what)).count();
    assert_eq!(n, 1, "{what:?} logged {n} times: {:#?}", side.log);
}

#[test]
fn dpd_timeout_is_the_reason() {
    let mut p = standard();
    p.run(Duration::from_secs(5));
    p.assert_paired();
    assert!(p.a.e.last_down().is_empty(), "{:?}", p.a.e.last_down());
    p.drop = Box::new(|_, _| true);
    p.run(Duration::from_secs(40));
    let why = reason(&p.a);
    assert!(why.contains("peer 10.0.0.2 not responding"), "{why}");
    assert!(why.contains("retransmits"), "{why}");
    logged_once(&p.a, "Tunnel1: down: peer 10.0.0.2 not responding");
}

#[test]
fn a_delete_from_the_peer_is_the_reason_on_one_side_and_clear_on_the_other() {
    let mut p = standard();
    p.run(Duration::from_secs(5));
    p.assert_paired();
    // B's operator clears the session: B sends a Delete; A learns why.
    // The tunnel is dynamic at B, so only A negotiates again.
    p.b.e.clear(None, p.now);
    p.run(Duration::from_millis(1));
    assert_eq!(reason(&p.a), "peer deleted the IKE SA");
    assert_eq!(reason(&p.b), "cleared (clear crypto session)");
    logged_once(&p.a, "Tunnel1: down: peer deleted the IKE SA");
    // It comes back up and the reason stays until the next time.
    p.run(Duration::from_secs(10));
    assert_eq!(p.a.last(), Some(&TunnelStatus::Up), "{:#?}", p.a.log);
    assert_eq!(reason(&p.a), "peer deleted the IKE SA");
}

#[test]
fn an_authentication_failure_is_the_reason_and_repeats_are_logged_once() {
    let mut p = wrong_psk();
    // Long enough for several retries with backoff.
    p.run(Duration::from_secs(60));
    let why = reason(&p.a);
    assert!(why.contains("AUTHENTICATION_FAILED"), "{why}");
    let why_b = reason(&p.b);
    assert!(why_b.contains("PSK mismatch"), "{why_b}");
    let tries =
        p.a.log
            .iter()
            .filter(|l| l.contains("AUTHENTICATION_FAILED"))
            .count();
    assert!(tries > 1, "the test wants retries: {:#?}", p.a.log);
    logged_once(&p.a, "Tunnel1: down: ");
}
