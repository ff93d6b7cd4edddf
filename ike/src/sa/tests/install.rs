//! The data plane's answer to a new Child SA orders what IKE sends: a
//! responder hands the peer a new SA only once its inbound SA is
//! installed, an initiator deletes the old SA only once the new pair is in
//! place, and a failed or unanswered install fails the exchange.

use super::*;
use crate::sa::ike_sa::Task;

/// Rekey every Child SA of side A.
pub(super) fn rekey_at_a(p: &mut Pair) {
    let now = p.now;
    force(&mut p.a, now, |sa| {
        sa.children
            .iter()
            .map(|c| Task::RekeyChild { spi_in: c.spi_in })
            .collect()
    });
}

/// A standard pair, up: (the pair, A's and B's inbound SPIs).
pub(super) fn up() -> (Pair, u32, u32) {
    let mut p = standard();
    p.run(Duration::from_secs(5));
    p.assert_paired();
    let a = *p.a.children.keys().next().unwrap();
    let b = *p.b.children.keys().next().unwrap();
    (p, a, b)
}

fn logged(side: &Side, what: &str) -> bool {
    side.log.iter().any(|l| l.contains(what))
}

#[test]
fn a_responder_answers_a_rekey_only_once_its_inbound_sa_is_installed() {
    let (mut p, old_a, _) = up();
    p.b.install = Install::Manual;
    rekey_at_a(&mut p);
    // A retransmits its request meanwhile; B holds every answer.
    p.run(Duration::from_secs(3));
    assert_eq!(
        p.b.children.len(),
        2,
        "B handed the new SA to its data plane"
    );
    assert_eq!(p.b.unconfirmed.len(), 1);
    assert_eq!(
        p.a.children.keys().collect::<Vec<_>>(),
        vec![&old_a],
        "A must not get the new SA before B's inbound SA is installed"
    );
    p.confirm(false, Ok(()));
    p.run(Duration::from_secs(3));
    p.assert_paired();
    assert!(!p.a.children.contains_key(&old_a), "the old SA is gone");
}

#[test]
fn an_initiator_deletes_the_old_sa_only_once_the_new_pair_is_installed() {
    let (mut p, old_a, old_b) = up();
    p.a.install = Install::Manual;
    rekey_at_a(&mut p);
    p.run(Duration::from_secs(3));
    assert_eq!(p.a.children.len(), 2);
    assert!(
        p.b.children.contains_key(&old_b),
        "the old SA stays while A's new one is not installed"
    );
    assert_eq!(p.b.children.len(), 2);
    p.confirm(true, Ok(()));
    p.run(Duration::from_secs(3));
    p.assert_paired();
    assert!(!p.a.children.contains_key(&old_a));
    assert!(!p.b.children.contains_key(&old_b));
}

#[test]
fn a_failed_install_at_the_responder_refuses_the_rekey_and_keeps_the_old_sa() {
    let (mut p, old_a, old_b) = up();
    p.b.install = Install::Fail("netlink: No buffer space available".into());
    rekey_at_a(&mut p);
    p.run(Duration::from_secs(1));
    assert_eq!(p.a.children.keys().collect::<Vec<_>>(), vec![&old_a]);
    assert_eq!(p.b.children.keys().collect::<Vec<_>>(), vec![&old_b]);
    assert!(
        logged(
            &p.b,
            "could not be installed: netlink: No buffer space available"
        ),
        "{:#?}",
        p.b.log
    );
    assert_eq!(p.a.last(), Some(&TunnelStatus::Up));
    // The initiator tries again (TEMPORARY_FAILURE) and now it works.
    p.b.install = Install::Auto;
    p.run(Duration::from_secs(10));
    p.assert_paired();
    assert!(
        !p.a.children.contains_key(&old_a),
        "rekeyed after the retry"
    );
}

#[test]
fn a_failed_install_at_the_initiator_deletes_the_new_sa_and_keeps_the_old() {
    let (mut p, old_a, old_b) = up();
    p.a.install = Install::Fail("xfrm: File exists".into());
    rekey_at_a(&mut p);
    p.run(Duration::from_secs(2));
    assert_eq!(p.a.children.keys().collect::<Vec<_>>(), vec![&old_a]);
    assert_eq!(
        p.b.children.keys().collect::<Vec<_>>(),
        vec![&old_b],
        "the peer was told to delete the SA A could not install"
    );
    assert!(logged(&p.a, "could not be installed: xfrm: File exists"));
    p.a.install = Install::Auto;
    p.run(Duration::from_secs(10));
    p.assert_paired();
    assert!(
        !p.a.children.contains_key(&old_a),
        "rekeyed on the next try: {:#?}",
        p.a.log
    );
}

#[test]
fn an_install_the_data_plane_never_confirms_fails_after_the_timeout() {
    let (mut p, old_a, old_b) = up();
    p.b.install = Install::Manual;
    rekey_at_a(&mut p);
    p.run(INSTALL_TIMEOUT + Duration::from_secs(1));
    assert!(
        logged(&p.b, "did not confirm the install"),
        "{:#?}",
        p.b.log
    );
    assert!(p.a.children.contains_key(&old_a));
    assert!(p.b.children.contains_key(&old_b));
    // A late answer after the timeout changes nothing; later rekeys work.
    p.b.install = Install::Auto;
    p.confirm(false, Ok(()));
    p.run(Duration::from_secs(15));
    p.assert_paired();
    assert_eq!(p.a.last(), Some(&TunnelStatus::Up));
}

#[test]
fn a_responder_answers_ike_auth_only_once_the_child_sa_is_installed() {
    let mut p = standard();
    p.b.install = Install::Manual;
    p.run(Duration::from_secs(3));
    assert_eq!(p.b.children.len(), 1);
    assert!(
        p.a.children.is_empty(),
        "A got the SA before B installed it"
    );
    p.confirm(false, Ok(()));
    p.run(Duration::from_secs(3));
    p.assert_paired();
    assert_eq!(p.a.last(), Some(&TunnelStatus::Up));
}

#[test]
fn a_failed_first_install_fails_the_tunnel_with_the_reason_and_it_recovers() {
    let mut p = standard();
    p.b.install = Install::Fail("TUN: Operation not permitted".into());
    p.run(Duration::from_secs(3));
    assert!(p.b.children.is_empty());
    assert!(p.a.children.is_empty());
    match p.b.last() {
        Some(TunnelStatus::Phase2Failed(r)) => {
            assert!(r.contains("TUN: Operation not permitted"), "{r}")
        }
        s => panic!("B's status: {s:?}"),
    }
    p.b.install = Install::Auto;
    p.run(Duration::from_secs(120));
    p.assert_paired();
    assert_eq!(p.a.last(), Some(&TunnelStatus::Up));
}
