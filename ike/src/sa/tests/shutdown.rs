//! [`Engine::shutdown`]: a stopping daemon tells every peer that its IKE
//! SA is gone, so the peer fails over at once instead of waiting for DPD.

use super::*;

const PSK_A: &str = "secret-of-a-0123456";
const PSK_B: &str = "secret-of-b-0123456";

/// A with two tunnels to B (two identities, so two IKE SAs between the
/// same addresses), B answering both.
fn two_tunnels() -> Pair {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for n in 1..=2 {
        let id = format!("a{n}.example.net");
        let mut at = tunnel(A, Peer::Address(ip(B)), &id, "b.example.net", PSK_A, PSK_B);
        let mut bt = tunnel(B, Peer::Dynamic, "b.example.net", &id, PSK_B, PSK_A);
        at.name = format!("Tunnel{n}");
        bt.name = format!("Tunnel{n}");
        a.push(at);
        b.push(bt);
    }
    Pair::new(a, b)
}

fn logged(side: &Side, what: &str) -> usize {
    side.log.iter().filter(|l| l.contains(what)).count()
}

#[test]
fn shutdown_sends_a_delete_for_every_ike_sa() {
    let mut p = two_tunnels();
    p.run(Duration::from_secs(5));
    assert_eq!(p.a.e.ike_sas(p.now).len(), 2, "{:#?}", p.a.log);
    assert_eq!(p.b.e.ike_sas(p.now).len(), 2, "{:#?}", p.b.log);
    assert_eq!(p.b.children.len(), 2);

    let told = p.a.e.shutdown(p.now);
    assert_eq!(told, 2);
    // A forgets its SAs at once: its Child SAs go to the data plane as down.
    assert!(p.a.e.ike_sas(p.now).is_empty());
    p.run(Duration::from_millis(1));
    assert!(p.a.children.is_empty(), "{:#?}", p.a.log);
    // B heard a Delete for each IKE SA and dropped it with its Child SA,
    // well before DPD (10 s here) could have noticed anything.
    assert_eq!(logged(&p.b, "peer deleted IKE_SA"), 2, "{:#?}", p.b.log);
    assert!(p.b.e.ike_sas(p.now).is_empty(), "{:#?}", p.b.log);
    assert!(p.b.children.is_empty());
    assert_eq!(p.b.downs, 2);
    assert_eq!(logged(&p.a, "shutting down, sending DELETE for IKE_SA"), 2);
}

#[test]
fn a_stopped_engine_negotiates_nothing_more() {
    let mut p = standard();
    p.run(Duration::from_secs(5));
    p.assert_paired();
    // B (the responder) stops; A hears the Delete and, as it initiates,
    // tries again and again: B answers nothing and sends nothing.
    assert_eq!(p.b.e.shutdown(p.now), 1);
    let from_b = std::rc::Rc::new(std::cell::Cell::new(0usize));
    let count = from_b.clone();
    p.drop = Box::new(move |from_a, _| {
        if !from_a {
            count.set(count.get() + 1);
        }
        false
    });
    p.run(Duration::from_secs(180));
    assert_eq!(from_b.get(), 1, "B sent only its Delete: {:#?}", p.b.log);
    assert_eq!(logged(&p.a, "peer deleted IKE_SA"), 1, "{:#?}", p.a.log);
    assert!(
        logged(&p.a, "giving up") > 0,
        "A tried again and got no answer: {:#?}",
        p.a.log
    );
    assert!(p.b.e.ike_sas(p.now).is_empty(), "{:#?}", p.b.log);
    assert_eq!(p.b.e.poll_timeout(), None);
    assert!(p.a.children.is_empty() && p.b.children.is_empty());
}

#[test]
fn the_delete_is_not_held_back_by_a_pending_install() {
    let (mut p, _, _) = super::install::up();
    // A rekeys its Child SA and its data plane does not confirm the new
    // one: every datagram of the IKE SA is held meanwhile.
    p.a.install = Install::Manual;
    super::install::rekey_at_a(&mut p);
    p.run(Duration::from_millis(500));
    assert_eq!(p.a.unconfirmed.len(), 1, "{:#?}", p.a.log);
    assert_eq!(p.a.e.shutdown(p.now), 1);
    p.run(Duration::from_millis(1));
    assert_eq!(logged(&p.b, "peer deleted IKE_SA"), 1, "{:#?}", p.b.log);
    assert!(p.b.e.ike_sas(p.now).is_empty(), "{:#?}", p.b.log);
}
