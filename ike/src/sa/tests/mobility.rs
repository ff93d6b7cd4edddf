//! Addresses that change under established SAs: NAT rebinding (RFC 7296
//! 2.23, followed only on authenticated messages and only when the peer
//! is behind a NAT), ESP mapping reports from the data plane, and MOBIKE
//! (RFC 4555) UPDATE_SA_ADDRESSES in both roles.

use super::ike_sa::Task;
use super::*;

const NAT: &str = "198.51.100.7:20000";

/// [`standard`] with MOBIKE on or off at both ends.
fn pair(mobike: bool) -> Pair {
    let mut p = standard();
    for s in [&mut p.a, &mut p.b] {
        let mut cfg = s.e.cfg.clone();
        for t in &mut cfg.tunnels {
            t.mobike = mobike;
        }
        s.e.set_config(cfg, p.now);
    }
    p
}

fn sa_of(side: &Side, now: Instant) -> IkeSaInfo {
    let sas = side.e.ike_sas(now);
    assert_eq!(sas.len(), 1, "{sas:#?}");
    sas[0].clone()
}

/// Let A send an authenticated request (a liveness check).
fn a_speaks(p: &mut Pair) {
    let now = p.now;
    force(&mut p.a, now, |_| vec![Task::Dpd]);
    p.run(Duration::from_millis(100));
}

#[test]
fn nat_rebinding_is_followed_only_on_authenticated_messages() {
    let mut p = pair(false);
    p.nat_a = Some(NAT.parse().unwrap());
    p.run(Duration::from_secs(5));
    p.assert_paired();
    let before = sa_of(&p.b, p.now);
    assert!(before.nat_remote && before.natt, "{before:#?}");
    assert_eq!(before.remote, "198.51.100.7:20001".parse().unwrap());

    // The NAT forgets A: a new mapping on a new port.
    p.nat_a = Some("198.51.100.7:31000".parse().unwrap());
    let new: SocketAddr = "198.51.100.7:31001".parse().unwrap();
    // A forged packet from the new mapping moves nothing.
    let to = SocketAddr::new(ip(B), 4500);
    // (a request from the original initiator)
    p.b.e
        .handle_datagram(p.now, to, new, true, &forged(&before, 0x08, 2));
    assert_eq!(sa_of(&p.b, p.now).remote, before.remote);
    assert!(p.b.e.poll_output().is_none(), "no answer, no move");
    assert!(p.b.moves.is_empty());

    // A's next authenticated request comes from the new mapping: B
    // follows, answers there, and moves its Child SA with it.
    let lost = p.lost;
    a_speaks(&mut p);
    let after = sa_of(&p.b, p.now);
    assert_eq!(after.remote, new, "{:#?}", p.b.log);
    assert_eq!((after.spi_i, after.spi_r), (before.spi_i, before.spi_r));
    assert_eq!(p.lost, lost, "the answer went to the new mapping");
    let spi_in = *p.b.children.keys().next().unwrap();
    assert_eq!(
        p.b.moves,
        vec![ChildMove {
            tunnel: "Tunnel1".into(),
            spi_in,
            spi_out: p.b.children[&spi_in].spi_out,
            local: after.local,
            remote: new,
            encap: true,
        }]
    );
    assert_eq!(p.b.ups, 1, "no new Child SA");
    assert!(p.b.log.iter().any(|l| l.contains("NAT mapping of IKE_SA")));
}

#[test]
fn without_a_nat_a_new_source_is_not_followed() {
    let mut p = pair(false);
    p.run(Duration::from_secs(5));
    let before = sa_of(&p.b, p.now);
    assert!(!before.nat_remote);
    // An authenticated request from another address (A's messages are
    // rewritten as if a NAT appeared): B keeps the SA where it is.
    p.nat_a = Some(NAT.parse().unwrap());
    a_speaks(&mut p);
    assert_eq!(sa_of(&p.b, p.now).remote, before.remote);
    assert!(p.b.moves.is_empty());
}

#[test]
fn esp_from_a_new_nat_mapping_moves_the_sas_when_the_peer_is_behind_nat() {
    let mut p = pair(true);
    p.nat_a = Some(NAT.parse().unwrap());
    p.run(Duration::from_secs(5));
    let spi_in = *p.b.children.keys().next().unwrap();
    let new: SocketAddr = "198.51.100.7:40001".parse().unwrap();
    p.b.e.handle_esp_mapping(spi_in, new, p.now);
    p.nat_a = Some("198.51.100.7:40000".parse().unwrap());
    p.run(Duration::from_millis(10));
    assert_eq!(sa_of(&p.b, p.now).remote, new);
    assert_eq!(p.b.moves.len(), 1);
    assert_eq!(p.b.moves[0].remote, new);
    // IKE follows too: a liveness check over the new mapping works.
    let lost = p.lost;
    a_speaks(&mut p);
    assert_eq!(p.lost, lost);

    // A is the one behind the NAT: ESP "from elsewhere" at A is not
    // followed (its peer does not move).
    let a_in = *p.a.children.keys().next().unwrap();
    let a_before = sa_of(&p.a, p.now).remote;
    p.a.e
        .handle_esp_mapping(a_in, "203.0.113.9:4500".parse().unwrap(), p.now);
    assert_eq!(sa_of(&p.a, p.now).remote, a_before);
    assert!(p.a.moves.is_empty());
}

#[test]
fn mobike_is_negotiated_and_update_sa_addresses_moves_both_ends() {
    let mut p = pair(true);
    p.run(Duration::from_secs(5));
    p.assert_paired();
    let a0 = sa_of(&p.a, p.now);
    let b0 = sa_of(&p.b, p.now);
    assert!(a0.mobike && b0.mobike);
    let ups = (p.a.ups, p.b.ups);

    // A's route to B now leaves from another address.
    let new_a = ip("10.0.1.1");
    p.a.addr = SocketAddr::new(new_a, 500);
    let now = p.now;
    p.a.e.handle_path(ip(B), new_a, now);
    p.run(Duration::from_millis(100));

    let a1 = sa_of(&p.a, p.now);
    let b1 = sa_of(&p.b, p.now);
    assert_eq!(a1.local.ip(), new_a);
    assert_eq!(b1.remote, SocketAddr::new(new_a, 500), "{:#?}", p.b.log);
    // Same IKE SA, same Child SA: nothing renegotiated.
    assert_eq!((a1.spi_i, a1.spi_r), (a0.spi_i, a0.spi_r));
    assert_eq!((b1.spi_i, b1.spi_r), (b0.spi_i, b0.spi_r));
    assert_eq!((p.a.ups, p.b.ups), ups);
    p.assert_paired();
    // Both data planes hear of the move.
    assert_eq!(p.b.moves.len(), 1, "{:#?}", p.b.log);
    assert_eq!(p.b.moves[0].remote, SocketAddr::new(new_a, 500));
    assert_eq!(p.a.moves.len(), 1);
    assert_eq!(p.a.moves[0].local.ip(), new_a);
    assert!(
        p.a.log
            .iter()
            .any(|l| l.contains("with UPDATE_SA_ADDRESSES")),
        "{:#?}",
        p.a.log
    );
    assert!(p.b.log.iter().any(|l| l.contains("peer moved IKE_SA")));

    // With MOBIKE, an authenticated message from yet another address does
    // not move B implicitly (RFC 4555 3.5), even behind a NAT.
    p.nat_a = Some(NAT.parse().unwrap());
    let lost = p.lost;
    a_speaks(&mut p);
    assert_eq!(sa_of(&p.b, p.now).remote, SocketAddr::new(new_a, 500));
    // ... but its answer went back to where the request came from.
    assert_eq!(p.lost, lost, "the answer reached A through the NAT");
}

#[test]
fn without_mobike_at_one_end_it_is_not_used() {
    let mut p = standard();
    let mut cfg = p.b.e.cfg.clone();
    cfg.tunnels[0].mobike = false;
    p.b.e.set_config(cfg, p.now);
    p.run(Duration::from_secs(5));
    assert!(!sa_of(&p.a, p.now).mobike);
    assert!(!sa_of(&p.b, p.now).mobike);
    assert!(p.a.e.mobile_peers().is_empty());
}

#[test]
fn no_nats_allowed_mismatch_is_refused() {
    let mut p = pair(true);
    p.run(Duration::from_secs(5));
    let b0 = sa_of(&p.b, p.now);
    let spi = b0.spi_r;
    // A's UPDATE_SA_ADDRESSES claims it was sent from 10.0.0.1:500, but
    // it arrives from a NAT's address.
    let v4 = |s: &str| s.parse::<std::net::Ipv4Addr>().unwrap().octets();
    let mut nn = v4(A).to_vec();
    nn.extend(v4(B));
    nn.extend(500u16.to_be_bytes());
    nn.extend(500u16.to_be_bytes());
    let a_spi = sa_of(&p.a, p.now).spi_i;
    let sa = p.a.e.sas.get(&a_spi).unwrap();
    let id = sa.next_id;
    let payloads = vec![
        msg::Pl::Notify {
            protocol: 0,
            spi: vec![],
            ty: msg::notify::UPDATE_SA_ADDRESSES,
            data: vec![],
        },
        msg::Pl::Notify {
            protocol: 0,
            spi: vec![],
            ty: msg::notify::NO_NATS_ALLOWED,
            data: nn,
        },
    ];
    let d =
        p.a.e
            .seal(a_spi, msg::INFORMATIONAL, false, id, payloads)
            .unwrap();
    let from: SocketAddr = NAT.parse().unwrap();
    p.b.e
        .handle_datagram(p.now, SocketAddr::new(ip(B), 500), from, false, &d);
    let mut answered = false;
    while let Some(o) = p.b.e.poll_output() {
        if let Output::Send { remote, data, .. } = o {
            assert_eq!(remote, from, "answered where the request came from");
            let m = p.a.e.open(a_spi, &data).unwrap();
            assert!(m.notify(msg::notify::UNEXPECTED_NAT_DETECTED).is_some());
            answered = true;
        }
    }
    assert!(answered);
    let b1 = sa_of(&p.b, p.now);
    assert_eq!(b1.remote, b0.remote, "not moved");
    assert_eq!(b1.spi_r, spi);
}
