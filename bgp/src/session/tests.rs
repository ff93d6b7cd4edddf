//! Tests of the session FSM (moved out of session.rs to keep it readable).

use super::*;
use crate::wire::{AddPathMode, Afi, CapabilityCode, Safi};

const T0_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const T1_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn cfg(local_as: u32, peer_as: u32, id: Ipv4Addr, passive: bool) -> SessionConfig {
    SessionConfig {
        local_as,
        peer_as: Some(peer_as),
        router_id: id,
        passive,
        ..SessionConfig::default()
    }
}

fn parse(bytes: &[u8]) -> Message {
    Message::parse(bytes, &Ctx::new(true)).unwrap()
}

/// Two sessions back to back: `a` connects, `b` is passive.
struct Pipe {
    now: Instant,
    s: [Session; 2],
    log: [Vec<(Instant, Output)>; 2],
    /// Drop what side i sends.
    mute: [bool; 2],
    up: bool,
}

impl Pipe {
    fn new(a: SessionConfig, b: SessionConfig) -> Pipe {
        let now = Instant::now();
        Pipe {
            now,
            s: [Session::new(a, now), Session::new(b, now)],
            log: [Vec::new(), Vec::new()],
            mute: [false, false],
            up: false,
        }
    }

    fn start(&mut self) {
        let now = self.now;
        self.s[1].start(now);
        self.s[0].start(now);
        self.pump();
    }

    /// Delivers outputs until both are quiet.
    fn pump(&mut self) {
        let now = self.now;
        loop {
            let mut moved = false;
            for i in 0..2 {
                let j = 1 - i;
                while let Some(o) = self.s[i].poll_output() {
                    moved = true;
                    match &o {
                        Output::Connect => {
                            if !self.up && self.s[j].state() == State::Active {
                                self.up = true;
                                self.s[i].tcp_connected(now);
                                self.s[j].tcp_connected(now);
                            } else {
                                self.s[i].tcp_failed(now);
                            }
                        }
                        Output::Send(b) if self.up && !self.mute[i] => {
                            self.s[j].bytes_received(now, b)
                        }
                        Output::Disconnect if self.up => {
                            self.up = false;
                            self.s[j].tcp_closed(now);
                        }
                        _ => {}
                    }
                    self.log[i].push((now, o));
                }
            }
            if !moved {
                break;
            }
        }
    }

    /// Runs timers until `until`.
    fn run(&mut self, d: Duration) {
        let until = self.now + d;
        loop {
            self.pump();
            let next = [self.s[0].poll_timeout(), self.s[1].poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    let now = self.now;
                    self.s[0].handle_timeout(now);
                    self.s[1].handle_timeout(now);
                }
                _ => break,
            }
        }
        self.now = until;
    }

    fn sent(&self, i: usize) -> Vec<(Instant, Message)> {
        self.log[i]
            .iter()
            .filter_map(|(t, o)| match o {
                Output::Send(b) => Some((*t, parse(b))),
                _ => None,
            })
            .collect()
    }

    fn notifications(&self, i: usize) -> Vec<Notification> {
        self.sent(i)
            .into_iter()
            .filter_map(|(_, m)| match m {
                Message::Notification(n) => Some(n),
                _ => None,
            })
            .collect()
    }

    fn downs(&self, i: usize) -> Vec<(Instant, String)> {
        self.log[i]
            .iter()
            .filter_map(|(t, o)| match o {
                Output::Down { reason, .. } => Some((*t, reason.clone())),
                _ => None,
            })
            .collect()
    }
}

fn established_pipe() -> Pipe {
    let mut p = Pipe::new(
        cfg(65001, 65002, T0_ID, false),
        cfg(65002, 65001, T1_ID, true),
    );
    p.start();
    assert_eq!(p.s[0].state(), State::Established);
    assert_eq!(p.s[1].state(), State::Established);
    p
}

#[test]
fn both_reach_established_and_stay_up() {
    let mut p = established_pipe();
    let est = p.log[0]
        .iter()
        .find_map(|(_, o)| match o {
            Output::Established {
                peer_as,
                peer_id,
                hold_time,
                rx_ctx,
                tx_ctx,
                families,
                ..
            } => Some((
                *peer_as,
                *peer_id,
                *hold_time,
                *rx_ctx,
                *tx_ctx,
                families.clone(),
            )),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        est,
        (
            65002,
            T1_ID,
            9,
            Ctx::new(true),
            Ctx::new(true),
            vec![Family::IPV4_UNICAST]
        )
    );
    assert_eq!(p.s[0].peer_id(), Some(T1_ID));
    let before = p.sent(0).len();
    p.run(Duration::from_secs(60));
    assert_eq!(p.s[0].state(), State::Established);
    assert_eq!(p.s[1].state(), State::Established);
    let kas = p.sent(0).len() - before;
    // Every 3 s over 60 s.
    assert!((19..=21).contains(&kas), "{kas} keepalives");
    assert!(p.downs(0).is_empty() && p.downs(1).is_empty());
}

#[test]
fn hold_timer_expires_after_9s() {
    let mut p = established_pipe();
    p.run(Duration::from_secs(10));
    p.mute[0] = true;
    let muted_at = p.now;
    p.run(Duration::from_secs(20));
    let downs = p.downs(1);
    assert_eq!(downs.len(), 1);
    let (t, reason) = &downs[0];
    assert_eq!(reason, "hold timer expired");
    let since = t.duration_since(muted_at);
    assert!(since <= Duration::from_secs(9) && since > Duration::from_secs(6));
    let n = p.notifications(1);
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].code, ErrorCode::HOLD_TIMER_EXPIRED);
    assert_eq!(n[0].subcode, 0);
    // a went down when the connection closed.
    assert_eq!(p.downs(0).len(), 1);
}

#[test]
fn hold_expiry_exactly_9s_after_last_message() {
    let now = Instant::now();
    let mut s = Session::new(cfg(65001, 65002, T0_ID, false), now);
    s.start(now);
    s.tcp_connected(now);
    let mut bytes = Vec::new();
    Open::new(65002, 9, T1_ID, vec![]).emit(&mut bytes).unwrap();
    Message::Keepalive
        .emit(&Ctx::default(), &mut bytes)
        .unwrap();
    s.bytes_received(now, &bytes);
    assert_eq!(s.state(), State::Established);
    let t = now + Duration::from_secs(5);
    s.bytes_received(t, &crate::wire::KEEPALIVE);
    while s.poll_output().is_some() {}
    let mut clock = t;
    while let Some(next) = s.poll_timeout() {
        clock = next;
        s.handle_timeout(clock);
        if s.state() == State::Idle {
            break;
        }
    }
    assert_eq!(clock, t + Duration::from_secs(9));
    let outs: Vec<Output> = std::iter::from_fn(|| s.poll_output()).collect();
    let n = outs
        .iter()
        .find_map(|o| match o {
            Output::Send(b) => match parse(b) {
                Message::Notification(n) => Some(n),
                _ => None,
            },
            _ => None,
        })
        .unwrap();
    assert_eq!(n.code, ErrorCode::HOLD_TIMER_EXPIRED);
    assert!(outs.contains(&Output::Disconnect));
    assert!(matches!(outs.last(), Some(Output::Down { .. })));
}

fn open_failure(a: SessionConfig, b: SessionConfig, sub: u8) {
    let mut p = Pipe::new(a, b);
    p.start();
    let n = p.notifications(0);
    assert_eq!(n.len(), 1, "{:?}", p.log);
    assert_eq!(n[0].code, ErrorCode::OPEN_MESSAGE_ERROR);
    assert_eq!(n[0].subcode, sub);
    assert_eq!(p.s[0].state(), State::Idle);
    assert_ne!(p.s[1].state(), State::Established);
    assert!(p.downs(0).is_empty());
    assert!(p.s[0].last_error().is_some());
}

#[test]
fn bad_peer_as() {
    open_failure(
        cfg(65001, 65099, T0_ID, false),
        cfg(65002, 65001, T1_ID, true),
        subcode::open::BAD_PEER_AS,
    );
    // A 4-octet AS: My AS is AS_TRANS, the capability carries it.
    let mut p = Pipe::new(
        cfg(65001, 4_200_000_000, T0_ID, false),
        cfg(4_200_000_000, 65001, T1_ID, true),
    );
    p.start();
    assert_eq!(p.s[0].state(), State::Established);
    // Dynamic neighbor: any AS.
    let mut any = cfg(65001, 0, T0_ID, false);
    any.peer_as = None;
    let mut p = Pipe::new(any, cfg(65007, 65001, T1_ID, true));
    p.start();
    assert_eq!(p.s[0].state(), State::Established);
}

#[test]
fn as_trans_mismatch() {
    let now = Instant::now();
    let mut s = Session::new(cfg(65001, 65002, T0_ID, false), now);
    s.start(now);
    s.tcp_connected(now);
    let mut o = Open::new(65002, 9, T1_ID, vec![]);
    o.my_as = 65003;
    let mut bytes = Vec::new();
    o.emit(&mut bytes).unwrap();
    s.bytes_received(now, &bytes);
    let n = first_notification(&mut s);
    assert_eq!(n.subcode, subcode::open::BAD_PEER_AS);
}

fn first_notification(s: &mut Session) -> Notification {
    std::iter::from_fn(|| s.poll_output())
        .find_map(|o| match o {
            Output::Send(b) => match parse(&b) {
                Message::Notification(n) => Some(n),
                _ => None,
            },
            _ => None,
        })
        .unwrap()
}

#[test]
fn bad_hold_time_1() {
    let now = Instant::now();
    let mut s = Session::new(cfg(65001, 65002, T0_ID, false), now);
    s.start(now);
    s.tcp_connected(now);
    let mut bytes = Vec::new();
    Open::new(65002, 1, T1_ID, vec![]).emit(&mut bytes).unwrap();
    s.bytes_received(now, &bytes);
    let n = first_notification(&mut s);
    assert_eq!(n.code, ErrorCode::OPEN_MESSAGE_ERROR);
    assert_eq!(n.subcode, subcode::open::UNACCEPTABLE_HOLD_TIME);
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn hold_time_zero_and_min() {
    let mut b = cfg(65002, 65001, T1_ID, true);
    b.hold_time = 0;
    let mut p = Pipe::new(cfg(65001, 65002, T0_ID, false), b);
    p.start();
    assert_eq!(p.s[0].state(), State::Established);
    assert_eq!(p.s[0].poll_timeout(), None);
    p.run(Duration::from_secs(600));
    assert_eq!(p.s[0].state(), State::Established);
    let mut b = cfg(65002, 65001, T1_ID, true);
    b.hold_time = 30;
    let mut p = Pipe::new(cfg(65001, 65002, T0_ID, false), b);
    p.start();
    assert!(p.log[1]
        .iter()
        .any(|(_, o)| matches!(o, Output::Established { hold_time: 9, .. })));
}

#[test]
fn same_router_id() {
    open_failure(
        cfg(65001, 65002, T0_ID, false),
        cfg(65002, 65001, T0_ID, true),
        subcode::open::BAD_BGP_IDENTIFIER,
    );
}

#[test]
fn no_common_family() {
    let mut a = cfg(65001, 65002, T0_ID, false);
    a.families = vec![Family::IPV6_UNICAST];
    let mut b = cfg(65002, 65001, T1_ID, true);
    b.families = vec![Family::IPV4_UNICAST, Family::new(Afi::L2VPN, Safi::EVPN)];
    open_failure(a, b, subcode::open::UNSUPPORTED_CAPABILITY);
    let mut a = cfg(65001, 65002, T0_ID, false);
    a.families = vec![Family::IPV6_UNICAST, Family::IPV4_UNICAST];
    let mut p = Pipe::new(a, cfg(65002, 65001, T1_ID, true));
    p.start();
    assert!(p.log[0].iter().any(|(_, o)| matches!(
        o,
        Output::Established { families, .. } if families == &vec![Family::IPV4_UNICAST]
    )));
}

#[test]
fn partial_messages_one_byte_at_a_time() {
    let now = Instant::now();
    let mut s = Session::new(cfg(65001, 65002, T0_ID, true), now);
    s.start(now);
    assert_eq!(s.state(), State::Active);
    assert_eq!(s.poll_output(), None);
    s.tcp_connected(now);
    assert_eq!(s.state(), State::OpenSent);
    assert!(matches!(
        s.poll_output().map(|o| match o {
            Output::Send(b) => parse(&b),
            _ => Message::Keepalive,
        }),
        Some(Message::Open(_))
    ));
    let mut bytes = Vec::new();
    Open::new(65002, 9, T1_ID, vec![]).emit(&mut bytes).unwrap();
    Message::Keepalive
        .emit(&Ctx::default(), &mut bytes)
        .unwrap();
    Message::Update(Box::new(Update::end_of_rib(Family::IPV4_UNICAST)))
        .emit(&Ctx::new(true), &mut bytes)
        .unwrap();
    for b in &bytes {
        s.bytes_received(now, std::slice::from_ref(b));
    }
    assert_eq!(s.state(), State::Established);
    let outs: Vec<Output> = std::iter::from_fn(|| s.poll_output()).collect();
    assert!(matches!(outs.first(), Some(Output::Send(_)))); // our KEEPALIVE
    assert!(matches!(outs.get(1), Some(Output::Established { .. })));
    assert!(
        matches!(outs.get(2), Some(Output::Update(u)) if **u == Update::end_of_rib(Family::IPV4_UNICAST))
    );
    assert_eq!(outs.len(), 3);
}

#[test]
fn framing_error_sends_header_notification() {
    let now = Instant::now();
    let mut s = Session::new(cfg(65001, 65002, T0_ID, false), now);
    s.start(now);
    s.tcp_connected(now);
    let mut bad = crate::wire::KEEPALIVE;
    bad[0] = 0;
    s.bytes_received(now, &bad);
    let n = first_notification(&mut s);
    assert_eq!(n.code, ErrorCode::MESSAGE_HEADER_ERROR);
    assert_eq!(n.subcode, subcode::header::CONNECTION_NOT_SYNCHRONIZED);
    assert_eq!(s.state(), State::Idle);
    // UPDATE in OpenSent: FSM error.
    let mut s = Session::new(cfg(65001, 65002, T0_ID, false), now);
    s.start(now);
    s.tcp_connected(now);
    let mut b = Vec::new();
    Message::Update(Box::new(Update::end_of_rib(Family::IPV4_UNICAST)))
        .emit(&Ctx::new(true), &mut b)
        .unwrap();
    s.bytes_received(now, &b);
    let n = first_notification(&mut s);
    assert_eq!(n.code, ErrorCode::FSM_ERROR);
    assert_eq!(n.subcode, subcode::fsm::UNEXPECTED_IN_OPENSENT);
}

#[test]
fn idle_hold_backoff_doubles() {
    let t0 = Instant::now();
    let mut c = cfg(65001, 65099, T0_ID, false);
    c.idle_hold = Duration::from_secs(1);
    let mut s = Session::new(c, t0);
    s.start(t0);
    let mut now = t0;
    let mut waits = Vec::new();
    for _ in 0..9 {
        assert_eq!(s.poll_output(), Some(Output::Connect));
        s.tcp_connected(now);
        let mut bytes = Vec::new();
        Open::new(65002, 9, T1_ID, vec![]).emit(&mut bytes).unwrap();
        s.bytes_received(now, &bytes);
        assert_eq!(s.state(), State::Idle);
        while s.poll_output().is_some() {}
        let next = s.poll_timeout().unwrap();
        waits.push(next.duration_since(now).as_secs());
        now = next;
        s.handle_timeout(now);
        assert_eq!(s.state(), State::Connect);
    }
    assert_eq!(waits, vec![1, 2, 4, 8, 16, 32, 64, 120, 120]);
    // A stop resets the backoff.
    s.stop(now, "x");
    assert_eq!(s.next_idle_hold(), Duration::from_secs(1));
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn connect_retry() {
    let t0 = Instant::now();
    let mut s = Session::new(cfg(65001, 65002, T0_ID, false), t0);
    s.start(t0);
    assert_eq!(s.poll_output(), Some(Output::Connect));
    s.tcp_failed(t0);
    assert_eq!(s.state(), State::Active);
    let t = s.poll_timeout().unwrap();
    assert_eq!(t, t0 + Duration::from_secs(5));
    s.handle_timeout(t);
    assert_eq!(s.state(), State::Connect);
    assert_eq!(s.poll_output(), Some(Output::Connect));
    // No answer at all: the attempt is abandoned and retried.
    let t2 = s.poll_timeout().unwrap();
    s.handle_timeout(t2);
    assert_eq!(s.poll_output(), Some(Output::Disconnect));
    assert_eq!(s.poll_output(), Some(Output::Connect));
}

#[test]
fn update_delivered_in_established() {
    let mut p = established_pipe();
    let u = Update::end_of_rib(Family::IPV4_UNICAST);
    let now = p.now;
    p.s[0].send_update(now, &u).unwrap();
    p.s[0].send_route_refresh(Family::IPV4_UNICAST);
    p.pump();
    assert!(p.log[1]
        .iter()
        .any(|(_, o)| matches!(o, Output::Update(x) if **x == u)));
    assert!(p.log[1]
        .iter()
        .any(|(_, o)| o == &Output::RouteRefresh(Family::IPV4_UNICAST)));
    assert_eq!(p.s[1].state(), State::Established);
}

#[test]
fn bfd_down_sends_cease_bfd_down_and_comes_back() {
    let mut p = established_pipe();
    let now = p.now;
    p.s[0].bfd_down(now);
    p.pump();
    let n = p.notifications(0);
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].code, ErrorCode::CEASE);
    assert_eq!(n[0].subcode, subcode::cease::BFD_DOWN);
    assert_eq!(p.s[0].state(), State::Idle);
    let d = p.downs(0);
    assert_eq!(d.len(), 1);
    assert!(d[0].1.contains("BFD down"), "{}", d[0].1);
    assert!(
        p.log[0]
            .iter()
            .any(|(_, o)| matches!(o, Output::Down { retain: false, .. })),
        "no graceful restart after BFD down"
    );
    // Not a ManualStop: the session starts again by itself.
    p.run(Duration::from_secs(30));
    assert_eq!(p.s[0].state(), State::Established);
    assert_eq!(p.s[1].state(), State::Established);
}

#[test]
fn stop_sends_cease() {
    let mut p = established_pipe();
    let now = p.now;
    p.s[0].stop(now, "maintenance");
    p.pump();
    let n = p.notifications(0);
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].code, ErrorCode::CEASE);
    assert_eq!(n[0].subcode, subcode::cease::ADMINISTRATIVE_SHUTDOWN);
    assert_eq!(n[0].shutdown_message(), Some("maintenance"));
    assert_eq!(p.s[0].state(), State::Idle);
    assert_eq!(p.s[1].state(), State::Idle);
    assert_eq!(p.downs(0).len(), 1);
    let d = p.downs(1);
    assert_eq!(d.len(), 1);
    assert!(d[0].1.contains("Administrative Shutdown"), "{}", d[0].1);
    // The stopped side stays down; the peer (started) goes back to
    // Active after its idle hold and waits.
    p.run(Duration::from_secs(30));
    assert_eq!(p.s[0].state(), State::Idle);
    assert_eq!(p.s[1].state(), State::Active);
    // Restart: up again.
    let now = p.now;
    p.s[0].start(now);
    p.pump();
    assert_eq!(p.s[0].state(), State::Established);
}

#[test]
fn collisions() {
    assert!(collision_winner(T1_ID, T0_ID));
    assert!(!collision_winner(T0_ID, T1_ID));
    let mut p = established_pipe();
    let now = p.now;
    p.s[1].close_collision(now);
    p.pump();
    let n = p.notifications(1);
    assert_eq!(
        n[0].subcode,
        subcode::cease::CONNECTION_COLLISION_RESOLUTION
    );
    assert_eq!(p.s[1].state(), State::Idle);
    assert_eq!(p.s[1].poll_timeout(), None);
}

// ---- graceful restart, ADD-PATH, send_raw, counters ----

fn drain(s: &mut Session) -> Vec<Output> {
    std::iter::from_fn(|| s.poll_output()).collect()
}

fn sent_messages(outs: &[Output]) -> Vec<Message> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Send(b) => Some(parse(b)),
            _ => None,
        })
        .collect()
}

fn our_open(c: SessionConfig) -> (Open, Vec<u8>) {
    let now = Instant::now();
    let mut s = Session::new(c, now);
    s.start(now);
    s.tcp_connected(now);
    let bytes = drain(&mut s)
        .into_iter()
        .find_map(|o| match o {
            Output::Send(b) => Some(b),
            _ => None,
        })
        .unwrap();
    match parse(&bytes) {
        Message::Open(o) => (o, bytes),
        other => panic!("{other:?}"),
    }
}

fn gr(families: &[Family]) -> Capability {
    Capability::GracefulRestart(GracefulRestart {
        restart_time: 90,
        families: families
            .iter()
            .map(|f| crate::wire::GrFamily {
                family: *f,
                forwarding_preserved: true,
            })
            .collect(),
        ..GracefulRestart::default()
    })
}

/// Session `cfg(65001, 65002)` Established at `now` with a peer whose
/// OPEN is `peer`; returns it and what it output on the way.
fn up_with_open(peer: Open, now: Instant) -> (Session, Vec<Output>) {
    let mut s = Session::new(cfg(65001, 65002, T0_ID, false), now);
    s.start(now);
    s.tcp_connected(now);
    let mut bytes = Vec::new();
    peer.emit(&mut bytes).unwrap();
    Message::Keepalive
        .emit(&Ctx::default(), &mut bytes)
        .unwrap();
    s.bytes_received(now, &bytes);
    assert_eq!(s.state(), State::Established);
    let outs = drain(&mut s);
    (s, outs)
}

fn up_with(caps: Vec<Capability>, now: Instant) -> Session {
    up_with_open(Open::new(65002, 9, T1_ID, caps), now).0
}

fn down_of(outs: &[Output]) -> (String, bool) {
    let downs: Vec<(String, bool)> = outs
        .iter()
        .filter_map(|o| match o {
            Output::Down { reason, retain } => Some((reason.clone(), *retain)),
            _ => None,
        })
        .collect();
    assert_eq!(downs.len(), 1, "{outs:?}");
    downs[0].clone()
}

#[test]
fn graceful_restart_capability_in_open() {
    // Default: helper mode, 120 s, R bit clear, no families (as FRR).
    let (open, bytes) = our_open(cfg(65001, 65002, T0_ID, false));
    let grs: Vec<&Capability> = open
        .capabilities
        .iter()
        .filter(|c| matches!(c, Capability::GracefulRestart(_)))
        .collect();
    assert_eq!(
        grs,
        [&Capability::GracefulRestart(GracefulRestart {
            restart_time: 120,
            ..GracefulRestart::default()
        })]
    );
    assert!(bytes.windows(4).any(|w| w == [64, 2, 0, 120]));
    // No ADD-PATH unless configured.
    assert!(!open
        .capabilities
        .iter()
        .any(|c| matches!(c, Capability::AddPath(_))));
    // Off.
    let mut c = cfg(65001, 65002, T0_ID, false);
    c.graceful_restart = None;
    let (open, _) = our_open(c);
    assert!(!open
        .capabilities
        .iter()
        .any(|c| matches!(c, Capability::GracefulRestart(_))));
    // Restart Time has 12 bits.
    let mut c = cfg(65001, 65002, T0_ID, false);
    c.graceful_restart = Some(5000);
    let (open, _) = our_open(c);
    assert!(open
        .capabilities
        .iter()
        .any(|c| matches!(c, Capability::GracefulRestart(g) if g.restart_time == 4095)));
}

#[test]
fn peer_caps_decoded() {
    let now = Instant::now();
    let g = GracefulRestart {
        restart_state: true,
        notification: true,
        restart_time: 90,
        families: vec![crate::wire::GrFamily {
            family: Family::IPV4_UNICAST,
            forwarding_preserved: true,
        }],
    };
    let ap = vec![AddPathEntry {
        family: Family::IPV4_UNICAST,
        mode: AddPathMode::SEND,
    }];
    let caps = vec![
        Capability::RouteRefresh,
        Capability::EnhancedRouteRefresh,
        Capability::GracefulRestart(g.clone()),
        Capability::AddPath(ap.clone()),
        Capability::Unknown {
            code: CapabilityCode::ROUTE_REFRESH_CISCO,
            value: vec![],
        },
    ];
    let (s, outs) = up_with_open(Open::new(65002, 9, T1_ID, caps), now);
    let want = PeerCaps {
        route_refresh: true,
        enhanced_route_refresh: true,
        graceful_restart: Some(g),
        four_octet_as: true,
        add_path: ap,
    };
    assert!(outs
        .iter()
        .any(|o| matches!(o, Output::Established { peer_caps, .. } if *peer_caps == want)));
    assert_eq!(s.peer_caps(), Some(&want));
    // A plain RFC 4271 peer: nothing.
    let plain = Open {
        my_as: 65002,
        hold_time: 9,
        bgp_id: T1_ID,
        capabilities: vec![],
    };
    let (s, _) = up_with_open(plain, now);
    assert_eq!(s.peer_caps(), Some(&PeerCaps::default()));
    assert_eq!(s.rx_ctx(), Some(&Ctx::new(false)));
    // Not before the peer's OPEN.
    let mut s = Session::new(cfg(65001, 65002, T0_ID, false), now);
    s.start(now);
    s.tcp_connected(now);
    assert_eq!(s.peer_caps(), None);
    assert_eq!(s.tx_ctx(), None);
    assert!(s.families().is_empty());
}

#[test]
fn retain_after_silent_end_with_gr_peer() {
    let now = Instant::now();
    let v4 = [Family::IPV4_UNICAST];
    // TCP closed or broken: keep the routes.
    let mut s = up_with(vec![gr(&v4)], now);
    s.tcp_closed(now);
    let outs = drain(&mut s);
    assert_eq!(down_of(&outs), ("connection closed by peer".into(), true));
    assert!(sent_messages(&outs).is_empty());
    assert_eq!(s.last_notification(), None);
    assert_eq!(s.state(), State::Idle);
    let mut s = up_with(vec![gr(&v4)], now);
    s.tcp_failed(now);
    assert!(down_of(&drain(&mut s)).1);
    // Without GR, or GR without (common) families: withdraw.
    for caps in [vec![], vec![gr(&[])], vec![gr(&[Family::IPV6_UNICAST])]] {
        let mut s = up_with(caps, now);
        s.tcp_closed(now);
        assert!(!down_of(&drain(&mut s)).1);
    }
}

#[test]
fn no_retain_after_notification() {
    let now = Instant::now();
    let v4 = [Family::IPV4_UNICAST];
    // Received.
    let mut s = up_with(vec![gr(&v4)], now);
    let mut b = Vec::new();
    Message::Notification(Notification::cease(subcode::cease::PEER_DECONFIGURED))
        .emit(&Ctx::default(), &mut b)
        .unwrap();
    s.bytes_received(now, &b);
    let outs = drain(&mut s);
    assert!(!down_of(&outs).1);
    assert!(outs.contains(&Output::Disconnect));
    assert!(s
        .last_notification()
        .unwrap()
        .starts_with("received CEASE/Peer De-configured"));
    assert_eq!(s.counters().notifications_in, 1);
    // Hold timer expiry sends one.
    let mut s = up_with(vec![gr(&v4)], now);
    s.handle_timeout(now + Duration::from_secs(9));
    let outs = drain(&mut s);
    assert!(!down_of(&outs).1);
    assert!(matches!(
        sent_messages(&outs).as_slice(),
        [Message::Notification(n)] if n.code == ErrorCode::HOLD_TIMER_EXPIRED
    ));
    assert!(s.last_notification().unwrap().starts_with("sent "));
    // Stop, collision, a malformed message.
    let mut s = up_with(vec![gr(&v4)], now);
    s.stop(now, "bye");
    assert!(!down_of(&drain(&mut s)).1);
    assert!(s.last_notification().unwrap().contains("bye"));
    let mut s = up_with(vec![gr(&v4)], now);
    s.close_collision(now);
    assert!(!down_of(&drain(&mut s)).1);
    let mut s = up_with(vec![gr(&v4)], now);
    let mut bad = crate::wire::KEEPALIVE;
    bad[0] = 0;
    s.bytes_received(now, &bad);
    assert!(!down_of(&drain(&mut s)).1);
}

#[test]
fn peer_restarted_closes_silently() {
    let now = Instant::now();
    let mut s = up_with(vec![gr(&[Family::IPV4_UNICAST])], now);
    // (Ours is not due yet: nothing goes out with the peer's.)
    let t = now + Duration::from_secs(1);
    s.bytes_received(t, &crate::wire::KEEPALIVE);
    s.peer_restarted(t);
    let outs = drain(&mut s);
    assert_eq!(
        outs,
        vec![
            Output::Disconnect,
            Output::Down {
                reason: "peer restarted (new connection)".into(),
                retain: true
            }
        ]
    );
    assert_eq!(s.state(), State::Idle);
    assert_eq!(s.counters().notifications_out, 0);
    assert_eq!(s.last_notification(), None);
    assert!(s.families().is_empty() && s.established_since().is_none());
    // The usual restart after the idle hold time.
    assert_eq!(s.poll_timeout(), Some(t + Duration::from_secs(1)));
    s.handle_timeout(t + Duration::from_secs(1));
    assert_eq!(s.poll_output(), Some(Output::Connect));
    assert_eq!(s.state(), State::Connect);
    // Without GR: nothing kept.
    let mut s = up_with(vec![], now);
    s.peer_restarted(now);
    assert!(!down_of(&drain(&mut s)).1);
    // Not Established: nothing happens (that is a collision).
    let mut s = Session::new(cfg(65001, 65002, T0_ID, false), now);
    s.peer_restarted(now);
    assert_eq!(s.poll_output(), None);
    s.start(now);
    s.tcp_connected(now);
    drain(&mut s);
    s.peer_restarted(now);
    assert_eq!(s.poll_output(), None);
    assert_eq!(s.state(), State::OpenSent);
}

#[test]
fn add_path_negotiation() {
    let v4 = Family::IPV4_UNICAST;
    let e = |f: Family, m: AddPathMode| vec![AddPathEntry { family: f, mode: m }];
    let (r, snd, both) = (AddPathMode::RECEIVE, AddPathMode::SEND, AddPathMode::BOTH);
    // (a offers, b offers, a receives path ids, a sends path ids)
    let cases = [
        (e(v4, r), e(v4, snd), true, false),
        (e(v4, snd), e(v4, r), false, true),
        (e(v4, both), e(v4, both), true, true),
        (e(v4, both), e(v4, r), false, true),
        (e(v4, both), e(v4, snd), true, false),
        (e(v4, snd), e(v4, snd), false, false),
        (e(v4, r), e(v4, r), false, false),
        (e(v4, both), vec![], false, false),
        (vec![], e(v4, both), false, false),
        (e(v4, both), e(Family::IPV6_UNICAST, both), false, false),
    ];
    for (ours, theirs, a_rx, a_tx) in cases {
        let mut a = cfg(65001, 65002, T0_ID, false);
        a.add_path = ours.clone();
        let mut b = cfg(65002, 65001, T1_ID, true);
        b.add_path = theirs.clone();
        let mut p = Pipe::new(a, b);
        p.start();
        let what = format!("{ours:?} / {theirs:?}");
        let est = |i: usize| {
            p.log[i]
                .iter()
                .find_map(|(_, o)| match o {
                    Output::Established {
                        rx_ctx,
                        tx_ctx,
                        peer_caps,
                        ..
                    } => Some((*rx_ctx, *tx_ctx, peer_caps.add_path.clone())),
                    _ => None,
                })
                .unwrap()
        };
        let (rx0, tx0, caps0) = est(0);
        let (rx1, tx1, caps1) = est(1);
        assert_eq!((rx0.add_path(v4), tx0.add_path(v4)), (a_rx, a_tx), "{what}");
        assert_eq!((rx1.add_path(v4), tx1.add_path(v4)), (a_tx, a_rx), "{what}");
        assert_eq!((caps0, caps1), (theirs, ours), "{what}");
        assert_eq!(p.s[0].rx_ctx(), Some(&rx0));
        assert_eq!(p.s[0].tx_ctx(), Some(&tx0));
    }
    // Path identifiers go through.
    let mut a = cfg(65001, 65002, T0_ID, false);
    a.add_path = e(v4, both);
    let mut b = cfg(65002, 65001, T1_ID, true);
    b.add_path = e(v4, both);
    let mut p = Pipe::new(a, b);
    p.start();
    let attrs = crate::wire::PathAttrs {
        origin: Some(crate::wire::Origin::Igp),
        as_path: Some(crate::wire::AsPath::sequence([65001])),
        next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
        ..crate::wire::PathAttrs::default()
    };
    let nlri = [crate::wire::Nlri::with_path_id(
        "10.1.0.0/16".parse().unwrap(),
        7,
    )];
    let mut wire = Vec::new();
    crate::wire::UpdateBuilder::ipv4_unicast(&attrs, p.s[0].tx_ctx().unwrap())
        .unwrap()
        .announce(&nlri, &mut wire)
        .unwrap();
    let now = p.now;
    p.s[0].send_raw(now, wire);
    p.pump();
    assert!(p.log[1]
        .iter()
        .any(|(_, o)| matches!(o, Output::Update(u) if u.nlri == nlri)));
}

#[test]
fn send_raw_restarts_keepalive() {
    let t0 = Instant::now();
    let mut s = up_with(vec![], t0);
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(3)));
    let attrs = crate::wire::PathAttrs {
        origin: Some(crate::wire::Origin::Igp),
        as_path: Some(crate::wire::AsPath::sequence([65001])),
        next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
        ..crate::wire::PathAttrs::default()
    };
    let prefixes: Vec<crate::wire::Nlri4> = (0..2000u32)
        .map(|i| {
            crate::wire::Nlri::new(
                ipnetwork::Ipv4Network::new((0x0a00_0000 + (i << 8)).into(), 24).unwrap(),
            )
        })
        .collect();
    let mut wire = Vec::new();
    let n = crate::wire::UpdateBuilder::ipv4_unicast(&attrs, s.tx_ctx().unwrap())
        .unwrap()
        .announce(&prefixes, &mut wire)
        .unwrap();
    assert_eq!(n, 2);
    let before = *s.counters();
    let t = t0 + Duration::from_secs(2);
    s.send_raw(t, wire.clone());
    assert_eq!(s.poll_output(), Some(Output::Send(wire)));
    assert_eq!(s.counters().updates_out, before.updates_out + 2);
    assert_eq!(s.counters().msgs_out, before.msgs_out + 2);
    // The keepalive due at t0 + 3 s moved to t + 3 s.
    assert_eq!(s.poll_timeout(), Some(t + Duration::from_secs(3)));
    s.handle_timeout(t0 + Duration::from_secs(3));
    assert_eq!(s.poll_output(), None);
    s.handle_timeout(t + Duration::from_secs(3));
    assert_eq!(
        s.poll_output(),
        Some(Output::Send(crate::wire::KEEPALIVE.to_vec()))
    );
    // send_update shares it.
    let t2 = t + Duration::from_secs(4);
    s.send_update(t2, &Update::end_of_rib(Family::IPV4_UNICAST))
        .unwrap();
    assert!(matches!(s.poll_output(), Some(Output::Send(_))));
    assert_eq!(s.poll_timeout(), Some(t2 + Duration::from_secs(3)));
    // Ignored unless Established.
    s.tcp_closed(t2);
    drain(&mut s);
    let c = *s.counters();
    s.send_raw(t2, crate::wire::KEEPALIVE.to_vec());
    assert_eq!(s.poll_output(), None);
    assert_eq!(*s.counters(), c);
}

#[test]
fn counters_and_show_state() {
    let mut p = established_pipe();
    let up_at = p.now;
    assert_eq!(p.s[0].established_since(), Some(up_at));
    assert_eq!(p.s[0].families(), [Family::IPV4_UNICAST]);
    p.run(Duration::from_secs(10));
    let now = p.now;
    p.s[0]
        .send_update(now, &Update::end_of_rib(Family::IPV4_UNICAST))
        .unwrap();
    p.s[0].send_route_refresh(Family::IPV4_UNICAST);
    p.pump();
    p.s[0].stop(now, "maintenance");
    p.pump();
    let (a, b) = (*p.s[0].counters(), *p.s[1].counters());
    assert_eq!(
        (a.opens_out, a.opens_in, b.opens_out, b.opens_in),
        (1, 1, 1, 1)
    );
    assert_eq!((a.updates_out, b.updates_in), (1, 1));
    assert_eq!((a.route_refresh_out, b.route_refresh_in), (1, 1));
    assert_eq!((a.notifications_out, b.notifications_in), (1, 1));
    assert_eq!((a.updates_in, a.notifications_in), (0, 0));
    // About one keepalive every 3 s each way, plus the OPEN answer.
    assert!((4..=6).contains(&a.keepalives_out), "{a:?}");
    assert_eq!(a.keepalives_out, b.keepalives_in);
    assert_eq!(a.keepalives_in, b.keepalives_out);
    assert_eq!(a.msgs_out, b.msgs_in);
    assert_eq!(a.msgs_in, b.msgs_out);
    let sent =
        a.opens_out + a.updates_out + a.keepalives_out + a.notifications_out + a.route_refresh_out;
    assert_eq!(a.msgs_out, sent);
    assert_eq!(
        p.s[0].last_notification(),
        Some(r#"sent CEASE/Administrative Shutdown "maintenance""#)
    );
    assert_eq!(
        p.s[1].last_notification(),
        Some(r#"received CEASE/Administrative Shutdown "maintenance""#)
    );
    assert_eq!(p.s[0].established_since(), None);
    assert!(p.s[0].families().is_empty());
}

#[test]
fn keepalive_goes_out_with_the_peers_when_due_within_a_third() {
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    let ka = crate::wire::KEEPALIVE;
    let mut s = up_with(vec![], t0);
    assert_eq!(s.poll_timeout(), Some(t0 + ms(3000)));
    // Ours is 1.5 s away, more than a third of the 3 s: nothing yet.
    s.bytes_received(t0 + ms(1500), &ka);
    assert_eq!(s.poll_output(), None);
    assert_eq!(s.poll_timeout(), Some(t0 + ms(3000)));
    // 0.8 s away: sent with the acknowledgement of the peer's, and the
    // next is due an interval and a sixth later.
    let t = t0 + ms(2200);
    s.bytes_received(t, &ka);
    assert_eq!(s.poll_output(), Some(Output::Send(ka.to_vec())));
    assert_eq!(s.poll_output(), None);
    assert_eq!(s.poll_timeout(), Some(t + ms(3500)));
    // In step: the peer's next, 50 ms late, still takes ours along.
    let t2 = t + ms(3050);
    s.bytes_received(t2, &ka);
    assert_eq!(s.poll_output(), Some(Output::Send(ka.to_vec())));
    assert_eq!(s.poll_timeout(), Some(t2 + ms(3500)));
    assert_eq!(s.counters().keepalives_out, 3);
    // Without the peer's, ours goes on its timer, then every interval.
    s.handle_timeout(t2 + ms(3500));
    assert_eq!(s.poll_output(), Some(Output::Send(ka.to_vec())));
    assert_eq!(s.poll_timeout(), Some(t2 + ms(6500)));
    let t = t2 + ms(6500);
    assert_eq!(s.counters().keepalives_out, 4);
    // The timer has nothing to send before its deadline.
    s.handle_timeout(t - ms(1));
    assert_eq!(s.poll_output(), None);

    // Never within a second of the last: a 1 s interval (hold 3 s) only
    // ever sends on its timer.
    let mut c = cfg(65001, 65002, T0_ID, false);
    c.hold_time = 3;
    c.keepalive = 1;
    let mut s = Session::new(c, t0);
    s.start(t0);
    s.tcp_connected(t0);
    let mut bytes = Vec::new();
    Open::new(65002, 3, T1_ID, vec![]).emit(&mut bytes).unwrap();
    bytes.extend_from_slice(&ka);
    s.bytes_received(t0, &bytes);
    assert_eq!(s.state(), State::Established);
    drain(&mut s);
    s.bytes_received(t0 + ms(800), &ka);
    assert_eq!(s.poll_output(), None);
    s.handle_timeout(t0 + ms(1000));
    assert_eq!(s.poll_output(), Some(Output::Send(ka.to_vec())));
}
