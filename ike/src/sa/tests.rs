//! Two engines back to back in memory with a fake clock: every exchange,
//! loss, rekeys over hours in milliseconds, collisions and failures.

use super::config::*;
use super::*;
use crate::crypto::rand::Random;
use crate::crypto::CryptoError;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

mod certs;
mod flood;
mod frag;
mod history;
mod hub;
mod install;
mod mobility;
mod rng;
mod shutdown;
mod vtemplate;

/// A deterministic random source (xorshift), so runs repeat exactly.
struct TestRng(u64);

impl Random for TestRng {
    fn fill(&mut self, out: &mut [u8]) -> Result<(), CryptoError> {
        for b in out {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            *b = self.0 as u8;
        }
        Ok(())
    }
}

const A: &str = "10.0.0.1";
const B: &str = "10.0.0.2";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn tunnel(
    local: &str,
    peer: Peer,
    me: &str,
    them: &str,
    psk_mine: &str,
    psk_theirs: &str,
) -> TunnelConfig {
    TunnelConfig {
        name: "Tunnel1".into(),
        local: Some(ip(local)),
        peer,
        local_id: Identity::Fqdn(me.into()),
        remote_match: vec![IdentityMatch::Fqdn {
            domain: false,
            value: them.into(),
        }],
        remote_id: Some(Identity::Fqdn(them.into())),
        keys: vec![PeerKey {
            name: "peer".into(),
            identity: Some(Identity::Fqdn(them.into())),
            address: None,
            psk_local: psk_mine.as_bytes().to_vec(),
            psk_remote: psk_theirs.as_bytes().to_vec(),
        }],
        ike: IkeProposal {
            encryption: vec![(20, 256)],
            integrity: vec![],
            prf: vec![6],
            groups: vec![31],
        },
        esp: EspProposal {
            transforms: vec![(20, 256, 0)],
            pfs: None,
            esn: false,
        },
        ike_lifetime: Duration::from_secs(86400),
        child_lifetime: Duration::from_secs(3600),
        child_lifetime_kb: 0,
        dpd: Some(DpdConfig {
            interval: Duration::from_secs(10),
            retries: 3,
            periodic: false,
        }),
        nat_keepalive: Duration::from_secs(20),
        mobike: true,
        replay_window: 1024,
        shutdown: false,
        auth_local: AuthKind::Psk,
        auth_remote: vec![AuthKind::Psk],
        trustpoints: vec![],
        virtual_template: None,
        cp: Default::default(),
    }
}

/// How a side's fake data plane answers installs.
#[derive(Debug, Clone, PartialEq)]
enum Install {
    /// At once, successfully.
    Auto,
    /// Not until the test calls [`Pair::confirm`].
    Manual,
    /// At once, with this error.
    Fail(String),
}

/// One side: its engine and what it has installed.
struct Side {
    e: Engine,
    addr: SocketAddr,
    /// Further addresses of this side (tests/hub.rs).
    aliases: Vec<IpAddr>,
    /// Installed Child SAs by inbound SPI.
    children: HashMap<u32, ChildSaParams>,
    install: Install,
    /// Child SAs handed out and not yet answered (Install::Manual).
    unconfirmed: Vec<u32>,
    status: Vec<TunnelStatus>,
    ups: usize,
    downs: usize,
    /// Child SAs moved to new addresses (NAT rebinding, MOBIKE).
    moves: Vec<ChildMove>,
    log: Vec<String>,
}

impl Side {
    fn new(addr: &str, seed: u64, cfg: Vec<TunnelConfig>, now: Instant) -> Side {
        let mut e = Engine::new(Box::new(TestRng(seed)), 500, 4500);
        e.set_wall_clock(now, std::time::SystemTime::now());
        e.set_config(
            EngineConfig {
                tunnels: cfg,
                ..EngineConfig::default()
            },
            now,
        );
        Side {
            e,
            addr: SocketAddr::new(ip(addr), 500),
            aliases: Vec::new(),
            children: HashMap::new(),
            install: Install::Auto,
            unconfirmed: Vec::new(),
            status: Vec::new(),
            ups: 0,
            downs: 0,
            moves: Vec::new(),
            log: Vec::new(),
        }
    }
    fn last(&self) -> Option<&TunnelStatus> {
        self.status.last()
    }
}

struct Pair {
    a: Side,
    b: Side,
    now: Instant,
    /// Drop datagrams while this returns true (from A?, datagram index).
    drop: Box<dyn FnMut(bool, usize) -> bool>,
    sent: usize,
    /// A is behind a NAT: B sees A's port 500 as this address and its
    /// port 4500 as the next port; B's datagrams reach A only when sent
    /// to the current mapping.
    nat_a: Option<SocketAddr>,
    /// Datagrams B sent to an address where A is not (a stale mapping).
    lost: usize,
}

impl Pair {
    fn new(a: Vec<TunnelConfig>, b: Vec<TunnelConfig>) -> Pair {
        let now = Instant::now();
        Pair {
            a: Side::new(A, 0x1234_5678_9abc_def1, a, now),
            b: Side::new(B, 0x0fed_cba9_8765_4321, b, now),
            now,
            drop: Box::new(|_, _| false),
            sent: 0,
            nat_a: None,
            lost: 0,
        }
    }

    /// Deliver outputs and fire timers until `dur` has passed.
    fn run(&mut self, dur: Duration) {
        let end = self.now + dur;
        for _ in 0..1_000_000 {
            let mut moved = false;
            for from_a in [true, false] {
                loop {
                    let (src, dst) = if from_a {
                        (&mut self.a, &mut self.b)
                    } else {
                        (&mut self.b, &mut self.a)
                    };
                    while let Some(l) = src.e.poll_log() {
                        src.log.push(l);
                    }
                    let Some(o) = src.e.poll_output() else { break };
                    moved = true;
                    match o {
                        Output::Send {
                            remote, natt, data, ..
                        } => {
                            self.sent += 1;
                            if data.len() == 1 || (self.drop)(from_a, self.sent) {
                                continue; // keepalive, or lost
                            }
                            let port = if natt { 4500 } else { 500 };
                            let mapped = self
                                .nat_a
                                .map(|m| SocketAddr::new(m.ip(), m.port() + u16::from(natt)));
                            let a_at = mapped.unwrap_or(SocketAddr::new(dst.addr.ip(), port));
                            if !from_a && remote != a_at || from_a && remote.ip() != dst.addr.ip() {
                                self.lost += 1;
                                continue;
                            }
                            let to = SocketAddr::new(dst.addr.ip(), port);
                            let fr = match mapped {
                                Some(m) if from_a => m,
                                _ => SocketAddr::new(src.addr.ip(), port),
                            };
                            dst.e.handle_datagram(self.now, to, fr, natt, &data);
                        }
                        Output::ChildUp(c) => {
                            src.ups += 1;
                            let spi_in = c.spi_in;
                            src.children.insert(spi_in, *c);
                            match src.install.clone() {
                                Install::Auto => src.e.child_installed(spi_in, Ok(()), self.now),
                                Install::Manual => src.unconfirmed.push(spi_in),
                                Install::Fail(why) => {
                                    src.e.child_installed(spi_in, Err(why), self.now)
                                }
                            }
                        }
                        Output::ChildDown { spi_in, .. } => {
                            src.downs += 1;
                            src.children.remove(&spi_in);
                        }
                        Output::Status { status, .. } => src.status.push(status),
                        Output::ChildMoved(m) => src.moves.push(m),
                    }
                }
            }
            if moved {
                continue;
            }
            let next = [self.a.e.poll_timeout(), self.b.e.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.a.e.handle_timeout(self.now);
                    self.b.e.handle_timeout(self.now);
                }
                _ => {
                    self.now = end;
                    return;
                }
            }
        }
        panic!("no quiescence");
    }

    /// Answer every install side A (or B) holds with `result`.
    fn confirm(&mut self, a: bool, result: Result<(), String>) {
        let side = if a { &mut self.a } else { &mut self.b };
        for spi_in in std::mem::take(&mut side.unconfirmed) {
            side.e.child_installed(spi_in, result.clone(), self.now);
        }
    }

    /// Both sides have exactly one Child SA and the keys pair up.
    fn assert_paired(&self) {
        assert_eq!(
            self.a.children.len(),
            1,
            "A children: {:?}\nA log: {:#?}",
            self.a.children.keys(),
            self.a.log
        );
        assert_eq!(
            self.b.children.len(),
            1,
            "B children: {:?}\nB log: {:#?}",
            self.b.children.keys(),
            self.b.log
        );
        let ca = self.a.children.values().next().unwrap();
        let cb = self.b.children.values().next().unwrap();
        assert_eq!(ca.spi_in, cb.spi_out);
        assert_eq!(ca.spi_out, cb.spi_in);
        assert_eq!(ca.outbound_keys(), cb.inbound_keys());
        assert_eq!(ca.inbound_keys(), cb.outbound_keys());
        assert_ne!(ca.outbound_keys(), ca.inbound_keys());
    }
}

/// An INFORMATIONAL request (header `flags`, message `id`) with the SPIs
/// of `sa` and garbage behind the header, as an attacker who saw the SPIs
/// could send.
fn forged(sa: &IkeSaInfo, flags: u8, id: u32) -> Vec<u8> {
    let mut d = vec![0u8; 80];
    d[..8].copy_from_slice(&sa.spi_i.to_be_bytes());
    d[8..16].copy_from_slice(&sa.spi_r.to_be_bytes());
    d[16] = 46; // SK
    d[17] = 0x20;
    d[18] = 37; // INFORMATIONAL
    d[19] = flags;
    d[20..24].copy_from_slice(&id.to_be_bytes());
    d[24..28].copy_from_slice(&80u32.to_be_bytes());
    d[30..32].copy_from_slice(&52u16.to_be_bytes());
    d
}

fn standard() -> Pair {
    Pair::new(vec![a_static()], vec![b_dynamic()])
}

/// A's side of [`standard`]: a tunnel to B's address.
fn a_static() -> TunnelConfig {
    tunnel(
        A,
        Peer::Address(ip(B)),
        "a.example.net",
        "b.example.net",
        "secret-of-a-0123456",
        "secret-of-b-0123456",
    )
}

/// B's side of [`standard`]: a dynamic tunnel that accepts A.
fn b_dynamic() -> TunnelConfig {
    tunnel(
        B,
        Peer::Dynamic,
        "b.example.net",
        "a.example.net",
        "secret-of-b-0123456",
        "secret-of-a-0123456",
    )
}

#[test]
fn establishes_ike_and_child_sa() {
    let mut p = standard();
    p.run(Duration::from_secs(5));
    assert_eq!(p.a.last(), Some(&TunnelStatus::Up), "{:#?}", p.a.log);
    assert_eq!(p.b.last(), Some(&TunnelStatus::Up), "{:#?}", p.b.log);
    p.assert_paired();
    let sas = p.a.e.ike_sas(p.now);
    assert_eq!(sas.len(), 1);
    assert_eq!(sas[0].state, "ESTABLISHED");
    assert_eq!(
        sas[0].proposal,
        "AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE_25519"
    );
    assert_eq!(sas[0].remote_id.as_deref(), Some("b.example.net"));
}

/// [`standard`] with A holding a wrong key for itself.
fn wrong_psk() -> Pair {
    Pair::new(
        vec![tunnel(
            A,
            Peer::Address(ip(B)),
            "a.example.net",
            "b.example.net",
            "secret-of-a-WRONG!!",
            "secret-of-b-0123456",
        )],
        vec![tunnel(
            B,
            Peer::Dynamic,
            "b.example.net",
            "a.example.net",
            "secret-of-b-0123456",
            "secret-of-a-0123456",
        )],
    )
}

#[test]
fn wrong_psk_fails_phase1_on_both_sides_with_the_reason() {
    let mut p = wrong_psk();
    p.run(Duration::from_secs(5));
    match p.a.last() {
        Some(TunnelStatus::Phase1Failed(r)) => assert!(r.contains("AUTHENTICATION_FAILED"), "{r}"),
        other => panic!("{other:?}"),
    }
    match p.b.last() {
        Some(TunnelStatus::Phase1Failed(r)) => assert!(r.contains("PSK mismatch"), "{r}"),
        other => panic!("{other:?}"),
    }
    assert!(p.a.children.is_empty() && p.b.children.is_empty());
}

#[test]
fn proposal_mismatch_names_both_offers() {
    let mut b = b_dynamic();
    b.ike = IkeProposal {
        encryption: vec![(12, 128)],
        integrity: vec![12],
        prf: vec![5],
        groups: vec![14],
    };
    let mut p = Pair::new(
        vec![tunnel(
            A,
            Peer::Address(ip(B)),
            "a.example.net",
            "b.example.net",
            "secret-of-a-0123456",
            "secret-of-b-0123456",
        )],
        vec![b],
    );
    p.run(Duration::from_secs(5));
    match p.a.last() {
        Some(TunnelStatus::Phase1Failed(r)) => assert!(
            r.contains(
                "IKE proposal mismatch: we offered AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE_25519"
            ),
            "{r}"
        ),
        other => panic!("{other:?}"),
    }
    match p.b.last() {
        Some(TunnelStatus::Phase1Failed(r)) => assert!(
            r.contains("peer offered AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE_25519")
                && r.contains("AES_CBC_128"),
            "{r}"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn invalid_ke_payload_makes_the_initiator_retry_with_the_right_group() {
    let mut a = a_static();
    a.ike.groups = vec![19, 31];
    let mut b = b_dynamic();
    b.ike.groups = vec![31];
    let mut p = Pair::new(vec![a], vec![b]);
    p.run(Duration::from_secs(5));
    assert_eq!(p.a.last(), Some(&TunnelStatus::Up), "{:#?}", p.a.log);
    assert!(
        p.a.log.iter().any(|l| l.contains("peer wants CURVE_25519")),
        "{:#?}",
        p.a.log
    );
    p.assert_paired();
}

#[test]
fn lost_packets_are_retransmitted() {
    let mut p = standard();
    // Lose the first IKE_SA_INIT and the first IKE_AUTH response.
    p.drop = Box::new(|from_a, n| (from_a && n == 1) || (!from_a && n == 4));
    p.run(Duration::from_secs(30));
    assert_eq!(p.a.last(), Some(&TunnelStatus::Up), "{:#?}", p.a.log);
    p.assert_paired();
}

#[test]
fn child_and_ike_sas_rekey_for_a_day_with_no_gap() {
    let mut a = a_static();
    let mut b = b_dynamic();
    for t in [&mut a, &mut b] {
        t.child_lifetime = Duration::from_secs(30);
        t.ike_lifetime = Duration::from_secs(120);
        t.esp.pfs = Some(31);
    }
    let mut p = Pair::new(vec![a], vec![b]);
    p.run(Duration::from_secs(5));
    p.assert_paired();
    for _ in 0..(24 * 60) {
        p.run(Duration::from_secs(60));
        // At every minute boundary both ends agree on one Child SA.
        assert!(!p.a.children.is_empty() && !p.b.children.is_empty());
        assert!(p.a.children.len() <= 2 && p.b.children.len() <= 2);
    }
    p.run(Duration::from_secs(3));
    p.assert_paired();
    assert_eq!(p.a.last(), Some(&TunnelStatus::Up));
    assert!(p.a.ups > 24 * 60, "rekeys happened: {}", p.a.ups);
    assert_eq!(p.a.e.ike_sas(p.now).len(), 1);
    assert_eq!(p.b.e.ike_sas(p.now).len(), 1);
}

#[test]
fn dpd_detects_a_dead_peer_and_the_tunnel_recovers_when_it_returns() {
    let mut p = standard();
    p.run(Duration::from_secs(5));
    p.assert_paired();
    // B dies silently.
    p.drop = Box::new(|_, _| true);
    p.run(Duration::from_secs(40));
    assert!(p.a.children.is_empty(), "DPD removed the Child SA");
    assert_ne!(p.a.last(), Some(&TunnelStatus::Up));
    // B comes back as a new process with no state.
    let b = tunnel(
        B,
        Peer::Dynamic,
        "b.example.net",
        "a.example.net",
        "secret-of-b-0123456",
        "secret-of-a-0123456",
    );
    p.b = Side::new(B, 99, vec![b], p.now);
    p.drop = Box::new(|_, _| false);
    p.run(Duration::from_secs(60));
    assert_eq!(p.a.last(), Some(&TunnelStatus::Up), "{:#?}", p.a.log);
    p.assert_paired();
}

#[test]
fn dpd_on_demand_is_quiet_while_esp_arrives_and_periodic_is_not() {
    let mut p = standard();
    p.run(Duration::from_secs(5));
    p.assert_paired();
    // Nothing flows: DPD on demand (10 s) probes.
    let s0 = p.sent;
    p.run(Duration::from_secs(60));
    let idle = p.sent - s0;
    assert!(idle >= 8, "{idle} datagrams in a silent minute");
    // ESP arrives at both ends every 3 s: not one exchange.
    let heard = |p: &mut Pair| {
        let a: Vec<u32> = p.a.children.keys().copied().collect();
        let b: Vec<u32> = p.b.children.keys().copied().collect();
        p.a.e.esp_heard(&a, p.now);
        p.b.e.esp_heard(&b, p.now);
        // Not a timer change: nothing waits for re-indexing.
        assert_eq!(p.a.e.sas.unsynced(), 0);
    };
    let s1 = p.sent;
    for _ in 0..20 {
        heard(&mut p);
        p.run(Duration::from_secs(3));
    }
    assert_eq!(p.sent - s1, 0, "{:#?}", p.a.log);
    // SPIs nobody knows change nothing.
    p.a.e.esp_heard(&[0xdead_beef, 0], p.now);
    // The ESP stops: probes again within an interval and a bit.
    let s2 = p.sent;
    p.run(Duration::from_secs(12));
    assert!(p.sent - s2 >= 2, "probed after the ESP stopped");
    p.assert_paired();
    assert_eq!(p.a.last(), Some(&TunnelStatus::Up));

    // Periodic DPD probes whatever arrives.
    let mut a = a_static();
    let mut b = b_dynamic();
    for t in [&mut a, &mut b] {
        t.dpd.as_mut().expect("set").periodic = true;
    }
    let mut p = Pair::new(vec![a], vec![b]);
    p.run(Duration::from_secs(5));
    p.assert_paired();
    let s3 = p.sent;
    for _ in 0..20 {
        heard(&mut p);
        p.run(Duration::from_secs(3));
    }
    assert!(p.sent - s3 >= 8, "{} datagrams", p.sent - s3);
}

#[test]
fn both_ends_initiating_end_with_one_ike_sa() {
    let mut p = Pair::new(
        vec![tunnel(
            A,
            Peer::Address(ip(B)),
            "a.example.net",
            "b.example.net",
            "secret-of-a-0123456",
            "secret-of-b-0123456",
        )],
        vec![tunnel(
            B,
            Peer::Address(ip(A)),
            "b.example.net",
            "a.example.net",
            "secret-of-b-0123456",
            "secret-of-a-0123456",
        )],
    );
    p.run(Duration::from_secs(10));
    assert_eq!(p.a.e.ike_sas(p.now).len(), 1, "{:#?}", p.a.log);
    assert_eq!(p.b.e.ike_sas(p.now).len(), 1, "{:#?}", p.b.log);
    p.assert_paired();
}

#[test]
fn clear_renegotiates() {
    let mut p = standard();
    p.run(Duration::from_secs(5));
    let before = p.a.children.keys().copied().collect::<Vec<_>>();
    p.a.e.clear(None, p.now);
    p.run(Duration::from_secs(10));
    p.assert_paired();
    assert_ne!(p.a.children.keys().copied().collect::<Vec<_>>(), before);
}

#[test]
fn garbage_never_panics() {
    let mut p = standard();
    p.run(Duration::from_secs(5));
    let mut rng = TestRng(7);
    for len in 0..600 {
        let mut d = vec![0u8; len % 300];
        rng.fill(&mut d).unwrap();
        if d.len() >= 28 && len % 2 == 0 {
            // Aim at the live SA so decryption paths run.
            let sa = &p.a.e.ike_sas(p.now)[0];
            d[..8].copy_from_slice(&sa.spi_i.to_be_bytes());
            d[8..16].copy_from_slice(&sa.spi_r.to_be_bytes());
        }
        p.a.e.handle_datagram(p.now, p.a.addr, p.b.addr, false, &d);
    }
    p.run(Duration::from_secs(1));
    p.assert_paired();
}

/// Queue a task on every established SA of a side and run its queue.
fn force(
    side: &mut Side,
    now: Instant,
    task: impl Fn(&super::ike_sa::IkeSa) -> Vec<super::ike_sa::Task>,
) {
    let spis: Vec<u64> = side.e.sas.keys().copied().collect();
    for spi in spis {
        let tasks = task(&side.e.sas[&spi]);
        let sa = side.e.sas.get_mut(&spi).unwrap();
        for t in tasks {
            if let super::ike_sa::Task::RekeyChild { spi_in } = t {
                if let Some(c) = sa.children.iter_mut().find(|c| c.spi_in == spi_in) {
                    c.rekeyed = true;
                }
            }
            sa.queue.push_back(t);
        }
        side.e.run_queue(spi, now);
    }
}

#[test]
fn simultaneous_child_rekey_keeps_exactly_one_pair() {
    for pfs in [None, Some(31)] {
        let mut p = standard();
        for s in
            p.a.e
                .cfg
                .tunnels
                .iter_mut()
                .chain(p.b.e.cfg.tunnels.iter_mut())
        {
            s.esp.pfs = pfs;
        }
        p.run(Duration::from_secs(5));
        let old: Vec<u32> = p.a.children.keys().copied().collect();
        let now = p.now;
        force(&mut p.a, now, |sa| {
            sa.children
                .iter()
                .map(|c| super::ike_sa::Task::RekeyChild { spi_in: c.spi_in })
                .collect()
        });
        force(&mut p.b, now, |sa| {
            sa.children
                .iter()
                .map(|c| super::ike_sa::Task::RekeyChild { spi_in: c.spi_in })
                .collect()
        });
        p.run(Duration::from_secs(20));
        p.assert_paired();
        assert!(
            !p.a.children.contains_key(&old[0]),
            "the old Child SA is gone"
        );
        assert_eq!(p.a.last(), Some(&TunnelStatus::Up));
    }
}

#[test]
fn simultaneous_ike_rekey_keeps_one_ike_sa_and_the_child() {
    let mut p = standard();
    p.run(Duration::from_secs(5));
    let now = p.now;
    force(&mut p.a, now, |_| vec![super::ike_sa::Task::RekeyIke]);
    force(&mut p.b, now, |_| vec![super::ike_sa::Task::RekeyIke]);
    p.run(Duration::from_secs(30));
    assert_eq!(p.a.e.ike_sas(p.now).len(), 1, "{:#?}", p.a.log);
    assert_eq!(p.b.e.ike_sas(p.now).len(), 1, "{:#?}", p.b.log);
    p.assert_paired();
    // The surviving IKE SA still works: a Child rekey over it succeeds.
    let now = p.now;
    force(&mut p.a, now, |sa| {
        sa.children
            .iter()
            .map(|c| super::ike_sa::Task::RekeyChild { spi_in: c.spi_in })
            .collect()
    });
    p.run(Duration::from_secs(10));
    p.assert_paired();
}

#[test]
fn cookie_demanded_under_load_is_returned_and_the_sa_comes_up() {
    let mut p = standard();
    // Every IKE_SA_INIT counts as "too many half-open SAs".
    p.b.e.cfg.cookie_threshold = 0;
    p.run(Duration::from_secs(5));
    assert!(
        p.a.log.iter().any(|l| l.contains("asks for a COOKIE")),
        "{:#?}",
        p.a.log
    );
    assert_eq!(p.a.last(), Some(&TunnelStatus::Up));
    p.assert_paired();
}

#[test]
fn unknown_critical_payload_gets_unsupported_critical_payload() {
    use crate::wire::{encrypted_prefix, ExchangeType, Flags, Header as WHeader, PayloadType};
    let mut p = standard();
    p.run(Duration::from_secs(5));
    // B sends A an INFORMATIONAL request whose only payload is of the
    // unassigned type 200 with the critical bit set.
    let spi_b = *p.b.e.sas.keys().next().unwrap();
    let sa = p.b.e.sas.get_mut(&spi_b).unwrap();
    let id = sa.next_id;
    sa.next_id += 1;
    let plain = [0u8, 0x80, 0, 6, 0xde, 0xad];
    let h = WHeader::new(sa.spi_i, sa.spi_r, ExchangeType(37), Flags::NONE, id);
    let keys = sa.keys.as_ref().unwrap();
    let mut msg = encrypted_prefix(&h, PayloadType(200), keys.out.body_len(plain.len())).unwrap();
    let body = keys.out.seal(&msg, &plain, &mut TestRng(5)).unwrap();
    msg.extend_from_slice(&body);
    p.a.e
        .handle_datagram(p.now, p.a.addr, p.b.addr, false, &msg);
    let mut answer = None;
    while let Some(o) = p.a.e.poll_output() {
        if let Output::Send { data, .. } = o {
            answer = Some(data);
        }
    }
    let data = answer.expect("A answers");
    let sa = &p.b.e.sas[&spi_b];
    let m = super::codec::decode(&data, Some(&sa.keys.as_ref().unwrap().inb)).expect("decodes");
    assert!(m.response);
    assert_eq!(
        m.notify(super::msg::notify::UNSUPPORTED_CRITICAL_PAYLOAD),
        Some(&[200u8][..])
    );
}

#[test]
fn forged_packets_with_valid_spis_do_not_move_the_sa() {
    let mut p = standard();
    p.run(Duration::from_secs(5));
    let sa = p.a.e.ike_sas(p.now)[0].clone();
    // An attacker at another address replays a header with the real SPIs
    // and garbage behind it, as a request from the responder side.
    let d = forged(&sa, 0x00, 0);
    let attacker: SocketAddr = "192.0.2.66:4500".parse().unwrap();
    p.a.e.handle_datagram(p.now, p.a.addr, attacker, true, &d);
    let after = p.a.e.ike_sas(p.now)[0].clone();
    assert_eq!(
        after.remote, sa.remote,
        "the SA still points at the real peer"
    );
    assert_eq!(after.natt, sa.natt);
    p.run(Duration::from_secs(1));
    p.assert_paired();
}

#[test]
fn a_strangers_failed_authentication_does_not_mark_an_up_tunnel_failed() {
    let mut p = standard();
    p.run(Duration::from_secs(5));
    assert_eq!(p.b.last(), Some(&TunnelStatus::Up));
    // A third party with the wrong key tries the same dynamic tunnel on B.
    let mut c = Side::new(
        "10.0.0.3",
        42,
        vec![tunnel(
            "10.0.0.3",
            Peer::Address(ip(B)),
            "a.example.net",
            "b.example.net",
            "not-the-right-key-000",
            "secret-of-b-0123456",
        )],
        p.now,
    );
    for _ in 0..20 {
        c.e.handle_timeout(p.now);
        let mut moved = false;
        while let Some(o) = c.e.poll_output() {
            if let Output::Send { natt, data, .. } = o {
                moved = true;
                let port = if natt { 4500 } else { 500 };
                p.b.e.handle_datagram(
                    p.now,
                    SocketAddr::new(ip(B), port),
                    SocketAddr::new(ip("10.0.0.3"), port),
                    natt,
                    &data,
                );
            }
        }
        while let Some(o) = p.b.e.poll_output() {
            match o {
                Output::Send {
                    remote, natt, data, ..
                } if remote.ip() == ip("10.0.0.3") => {
                    moved = true;
                    c.e.handle_datagram(
                        p.now,
                        SocketAddr::new(ip("10.0.0.3"), remote.port()),
                        SocketAddr::new(ip(B), remote.port()),
                        natt,
                        &data,
                    );
                }
                Output::Status { status, .. } => p.b.status.push(status),
                _ => {}
            }
        }
        if !moved {
            break;
        }
    }
    assert!(
        p.b.log
            .iter()
            .chain(p.b.e.log.iter())
            .any(|l| l.contains("established SA stays"))
            || p.b
                .e
                .log
                .iter()
                .any(|l| l.contains("AUTHENTICATION_FAILED")),
        "the attempt was refused"
    );
    assert_eq!(p.b.last(), Some(&TunnelStatus::Up), "{:?}", p.b.status);
    p.run(Duration::from_secs(1));
    p.assert_paired();
}
