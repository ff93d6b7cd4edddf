//! Two sessions wired back to back over a fake clock and a lossy link,
//! every packet going through the wire format.

use std::time::{Duration, Instant};

use bfd::{ControlPacket, Diag, Discard, Event, Session, SessionConfig, State};

const MS: Duration = Duration::from_millis(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    A,
    B,
}

struct Net {
    t0: Instant,
    now: Instant,
    a: Session,
    b: Session,
    delay: Duration,
    /// (delivery time, destination, octets)
    inflight: Vec<(Instant, Side, Vec<u8>)>,
    drop_from_a: bool,
    drop_from_b: bool,
    events: Vec<(Duration, Side, Event)>,
    /// Send time of the last packet from each side that was delivered
    /// and accepted.
    last_accepted_send: [Option<Instant>; 2],
    /// Every packet sent: (time, sender, packet).
    sent: Vec<(Instant, Side, ControlPacket)>,
}

fn cfg(discr: u32, tx_ms: u32, rx_ms: u32, mult: u8) -> SessionConfig {
    SessionConfig {
        desired_min_tx: tx_ms * MS,
        required_min_rx: rx_ms * MS,
        detect_mult: mult,
        local_discr: discr,
        passive: false,
        seed: u64::from(discr) * 7919,
    }
}

impl Net {
    fn new(a: SessionConfig, b: SessionConfig) -> Net {
        let t0 = Instant::now();
        Net {
            t0,
            now: t0,
            a: Session::new(a, t0).unwrap(),
            b: Session::new(b, t0).unwrap(),
            delay: MS,
            inflight: Vec::new(),
            drop_from_a: false,
            drop_from_b: false,
            events: Vec::new(),
            last_accepted_send: [None, None],
            sent: Vec::new(),
        }
    }

    fn at(&self) -> Duration {
        self.now - self.t0
    }

    fn next_time(&self) -> Option<Instant> {
        [
            self.a.poll_timeout(),
            self.b.poll_timeout(),
            self.inflight.iter().map(|x| x.0).min(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Does everything due at `self.now`.
    fn settle(&mut self) {
        let now = self.now;
        let (due, later): (Vec<_>, Vec<_>) =
            self.inflight.drain(..).partition(|(t, _, _)| *t <= now);
        self.inflight = later;
        for (_, to, bytes) in due {
            let p = ControlPacket::parse(&bytes).expect("our packets parse");
            let (s, from) = match to {
                Side::A => (&mut self.a, Side::B),
                Side::B => (&mut self.b, Side::A),
            };
            if s.receive(now, &p).is_ok() {
                self.last_accepted_send[from as usize] = Some(now - self.delay);
            }
        }
        self.a.handle_timeout(now);
        self.b.handle_timeout(now);
        for side in [Side::A, Side::B] {
            let (s, dropped, to) = match side {
                Side::A => (&mut self.a, self.drop_from_a, Side::B),
                Side::B => (&mut self.b, self.drop_from_b, Side::A),
            };
            while let Some(p) = s.poll_transmit(now) {
                assert!(!(p.poll && p.final_), "P and F together");
                self.sent.push((now, side, p.clone()));
                if !dropped {
                    self.inflight.push((now + self.delay, to, p.to_vec()));
                }
            }
            while let Some(e) = s.poll_event() {
                self.events.push((now - self.t0, side, e));
            }
        }
    }

    /// Runs until `until` of fake time from the start, or until `stop`.
    fn run_until(&mut self, until: Duration, stop: impl Fn(&Net) -> bool) -> bool {
        let end = self.t0 + until;
        loop {
            self.settle();
            if stop(self) {
                return true;
            }
            match self.next_time() {
                Some(t) if t <= end => self.now = self.now.max(t),
                _ => {
                    self.now = end;
                    self.settle();
                    return stop(self);
                }
            }
        }
    }

    fn run_for(&mut self, d: Duration) {
        let until = self.at() + d;
        self.run_until(until, |_| false);
    }

    fn both_up(&self) -> bool {
        self.a.state() == State::Up && self.b.state() == State::Up
    }

    fn events_of(&self, side: Side) -> Vec<Event> {
        self.events
            .iter()
            .filter(|e| e.1 == side)
            .map(|e| e.2)
            .collect()
    }
}

fn up_pair(a: SessionConfig, b: SessionConfig) -> Net {
    let mut n = Net::new(a, b);
    assert!(n.run_until(5 * SLOW, Net::both_up));
    // Let the Poll Sequences of the switch to the fast rate finish.
    n.run_for(2 * SLOW);
    assert!(!n.a.is_polling() && !n.b.is_polling());
    n
}

const SLOW: Duration = Duration::from_secs(1);

#[test]
fn three_way_handshake_reaches_up() {
    let mut n = Net::new(cfg(1, 300, 300, 3), cfg(2, 300, 300, 3));
    assert!(n.run_until(3 * SLOW, Net::both_up));
    // State changes are sent at once: Down, Init and Up cross the 1 ms
    // link in a few ms, far within one slow TX interval.
    assert!(n.at() <= 5 * MS, "up after {:?}", n.at());
    n.run_for(10 * SLOW);
    assert_eq!(n.events_of(Side::A), [Event::Up]);
    assert_eq!(n.events_of(Side::B), [Event::Up]);
    // The Down -> Init -> Up sequence as sent by the side that heard first.
    let states: Vec<State> = n
        .sent
        .iter()
        .filter(|s| s.1 == Side::B)
        .map(|s| s.2.state)
        .take(3)
        .collect();
    assert_eq!(states, [State::Down, State::Init, State::Up]);
    // Slow rate (>= 1 s advertised) before Up, the configured rate after
    // the Poll Sequence that going Up starts.
    let first = &n.sent[0].2;
    assert_eq!(first.desired_min_tx_us, 1_000_000);
    assert_eq!(first.your_discr, 0);
    assert!(n
        .sent
        .iter()
        .any(|s| s.2.poll && s.2.desired_min_tx_us == 300_000));
    assert!(n.sent.iter().any(|s| s.2.final_));
    for s in [&n.a, &n.b] {
        assert!(!s.is_polling());
        assert_eq!(s.tx_interval(), 300 * MS);
        assert_eq!(s.detection_time(), Some(900 * MS));
        assert_eq!(s.local_diag(), Diag::None);
    }
    assert_eq!((n.a.remote_discr(), n.b.remote_discr()), (2, 1));
    // Steady state: periodic packets every 225-300 ms (0-25% jitter).
    let times: Vec<Instant> = n
        .sent
        .iter()
        .filter(|s| s.1 == Side::A && n.now - s.0 < 5 * SLOW && !s.2.final_)
        .map(|s| s.0)
        .collect();
    assert!(times.len() >= 16);
    for w in times.windows(2) {
        let d = w[1] - w[0];
        assert!(d >= 225 * MS && d <= 300 * MS, "interval {d:?}");
    }
}

#[test]
fn passive_side_comes_up_and_waits_to_be_heard() {
    let mut p = cfg(2, 300, 300, 3);
    p.passive = true;
    let mut n = Net::new(cfg(1, 300, 300, 3), p);
    n.drop_from_a = true;
    n.run_for(3 * SLOW);
    assert!(n.sent.iter().all(|s| s.1 == Side::A), "passive sent first");
    n.drop_from_a = false;
    assert!(n.run_until(6 * SLOW, Net::both_up));
}

#[test]
fn detection_timeout_when_peer_stops() {
    let mut n = up_pair(cfg(1, 300, 300, 3), cfg(2, 300, 300, 3));
    n.drop_from_b = true;
    let cut = n.now;
    assert!(n.run_until(n.at() + 5 * SLOW, |n| n.a.state() == State::Down));
    let down = n.now;
    let last = n.last_accepted_send[Side::B as usize].unwrap();
    let since_last = down - last;
    // mult x interval after B's last packet (plus the 1 ms link), and no
    // later than that plus one interval.
    assert!(
        since_last >= 900 * MS && since_last <= 1200 * MS,
        "{since_last:?}"
    );
    assert_eq!(since_last, 901 * MS);
    assert!(down - cut <= 901 * MS);
    assert_eq!(
        n.events_of(Side::A),
        [
            Event::Up,
            Event::Down {
                diag: Diag::ControlDetectionTimeExpired
            }
        ]
    );
    assert_eq!(n.a.local_diag(), Diag::ControlDetectionTimeExpired);
    assert_eq!(n.a.remote_discr(), 0);
    // A's Down (your discriminator 0) reaches B: neighbor signaled down.
    n.run_for(10 * MS);
    assert_eq!(
        n.events_of(Side::B),
        [
            Event::Up,
            Event::Down {
                diag: Diag::NeighborSignaledDown
            }
        ]
    );
    // The link heals: both come back.
    n.drop_from_b = false;
    assert!(n.run_until(n.at() + 3 * SLOW, Net::both_up));
    assert_eq!(n.a.local_diag(), Diag::None);
}

#[test]
fn fast_timers_detect_within_150_to_200ms() {
    let mut n = up_pair(cfg(1, 50, 50, 3), cfg(2, 50, 50, 3));
    assert_eq!(n.a.detection_time(), Some(150 * MS));
    // Cut B right after one of its packets went out.
    let sent_b = n.sent.iter().filter(|s| s.1 == Side::B).count();
    assert!(n.run_until(n.at() + SLOW, |n| n
        .sent
        .iter()
        .filter(|s| s.1 == Side::B)
        .count()
        > sent_b));
    n.drop_from_b = true;
    let cut = n.now;
    assert!(n.run_until(n.at() + SLOW, |n| n.a.state() == State::Down));
    let detected = n.now - cut;
    assert!(detected >= 150 * MS && detected <= 200 * MS, "{detected:?}");
    assert_eq!(
        n.events_of(Side::A).last(),
        Some(&Event::Down {
            diag: Diag::ControlDetectionTimeExpired
        })
    );
}

#[test]
fn admin_down_is_signalled() {
    let mut n = up_pair(cfg(1, 300, 300, 3), cfg(2, 300, 300, 3));
    n.a.admin_down(n.now);
    n.run_for(10 * MS);
    assert_eq!(n.a.state(), State::AdminDown);
    assert_eq!(n.b.state(), State::Down);
    assert_eq!(n.b.remote_state(), State::AdminDown);
    assert_eq!(
        n.events_of(Side::A),
        [
            Event::Up,
            Event::Down {
                diag: Diag::AdminDown
            }
        ]
    );
    assert_eq!(
        n.events_of(Side::B),
        [
            Event::Up,
            Event::Down {
                diag: Diag::NeighborSignaledDown
            }
        ]
    );
    // B stays Down (not Init) while A is AdminDown; A keeps sending slowly.
    n.run_for(5 * SLOW);
    assert_eq!((n.a.state(), n.b.state()), (State::AdminDown, State::Down));
    let last = n.sent.iter().rev().find(|s| s.1 == Side::A).unwrap();
    assert_eq!(last.2.state, State::AdminDown);
    assert_eq!(last.2.diag, Diag::AdminDown);
    assert!(n.now - last.0 <= SLOW);
    n.a.admin_up(n.now);
    assert!(n.run_until(n.at() + 3 * SLOW, Net::both_up));
    assert_eq!(n.events_of(Side::A).len(), 3);
}

#[test]
fn timer_change_via_poll_final_stays_up() {
    // B sends fast and accepts fast; A 300/300.
    let mut n = up_pair(cfg(1, 300, 300, 3), cfg(2, 100, 100, 3));
    assert_eq!(n.a.detection_time(), Some(900 * MS));
    assert_eq!(n.a.tx_interval(), 300 * MS);
    // A: TX 300 ms -> 1 s (an increase), RX 300 -> 100 ms (a reduction).
    n.a.set_timers(n.now, SLOW, 100 * MS, 3).unwrap();
    assert!(n.a.is_polling());
    let poll = n.a.poll_transmit(n.now).expect("a Poll goes out at once");
    assert!(poll.poll && !poll.final_);
    assert_eq!(poll.desired_min_tx_us, 1_000_000);
    assert_eq!(poll.required_min_rx_us, 100_000);
    // Until the Final: the old (smaller) TX interval and the old (larger)
    // RX interval for detection.
    assert_eq!(n.a.tx_interval(), 300 * MS);
    assert_eq!(n.a.detection_time(), Some(900 * MS));
    n.now += MS;
    n.b.receive(n.now, &poll).unwrap();
    // B uses A's new Desired Min TX for its detection time at once.
    assert_eq!(n.b.detection_time(), Some(3 * SLOW));
    let fin =
        n.b.poll_transmit(n.now)
            .expect("the Final goes out at once");
    assert!(fin.final_ && !fin.poll);
    n.now += MS;
    assert_eq!(n.a.detection_time(), Some(900 * MS));
    n.a.receive(n.now, &fin).unwrap();
    assert!(!n.a.is_polling());
    assert_eq!(n.a.tx_interval(), SLOW);
    assert_eq!(n.a.detection_time(), Some(300 * MS));
    // Runs on at the new rates, Up.
    n.run_for(10 * SLOW);
    assert!(n.both_up());
    assert_eq!(n.events.len(), 2, "{:?}", n.events);
    let a_sent: Vec<Instant> = n
        .sent
        .iter()
        .filter(|s| s.1 == Side::A && n.now - s.0 < 5 * SLOW && !s.2.final_)
        .map(|s| s.0)
        .collect();
    for w in a_sent.windows(2) {
        assert!(w[1] - w[0] >= 750 * MS, "{:?}", w[1] - w[0]);
    }
    // The new detection time applies: 300 ms after B's last packet.
    n.drop_from_b = true;
    assert!(n.run_until(n.at() + 2 * SLOW, |n| n.a.state() == State::Down));
    let last = n.last_accepted_send[Side::B as usize].unwrap();
    assert_eq!(n.now - last, 301 * MS);
}

#[test]
fn changes_during_a_poll_run_a_second_poll() {
    let mut n = up_pair(cfg(1, 300, 300, 3), cfg(2, 300, 300, 3));
    n.a.set_timers(n.now, 200 * MS, 300 * MS, 3).unwrap();
    n.a.set_timers(n.now, 100 * MS, 100 * MS, 5).unwrap();
    let first = n.a.poll_transmit(n.now).unwrap();
    assert!(first.poll);
    assert_eq!((first.desired_min_tx_us, first.detect_mult), (200_000, 3));
    n.run_for(SLOW);
    assert!(!n.a.is_polling());
    let last = &n.sent.iter().rev().find(|s| s.1 == Side::A).unwrap().2;
    assert_eq!(
        (
            last.desired_min_tx_us,
            last.required_min_rx_us,
            last.detect_mult
        ),
        (100_000, 100_000, 5)
    );
    assert_eq!(n.b.detection_time(), Some(1500 * MS));
    assert_eq!(n.a.tx_interval(), 300 * MS); // B's Required Min RX
    assert!(n.both_up());
}

#[test]
fn wrong_discriminator_and_auth_are_ignored() {
    let mut n = up_pair(cfg(1, 300, 300, 3), cfg(2, 300, 300, 3));
    let before = n.a.poll_timeout();
    let mut p = n
        .sent
        .iter()
        .rev()
        .find(|s| s.1 == Side::B)
        .unwrap()
        .2
        .clone();
    p.state = State::Down;
    p.poll = true;
    p.your_discr = 99;
    assert_eq!(n.a.receive(n.now, &p), Err(Discard::WrongDiscriminator));
    p.your_discr = 1;
    p.auth = bfd::Auth::new(1, b"\x01secret".to_vec());
    assert_eq!(n.a.receive(n.now, &p), Err(Discard::Authentication));
    p.auth = None;
    p.detect_mult = 0;
    assert_eq!(n.a.receive(n.now, &p), Err(Discard::Invalid));
    assert_eq!(n.a.state(), State::Up);
    assert_eq!(n.a.poll_timeout(), before);
    assert!(n.a.poll_transmit(n.now).is_none_or(|p| !p.final_));
    n.run_for(5 * SLOW);
    assert_eq!(n.events.len(), 2);
    // Your discriminator 0 from a Down peer is accepted (and brings A down).
    p.detect_mult = 3;
    p.your_discr = 0;
    p.poll = false;
    assert_eq!(n.a.receive(n.now, &p), Ok(()));
    assert_eq!(n.a.state(), State::Down);
}

#[test]
fn slow_rate_while_down_and_silence_when_passive() {
    let t0 = Instant::now();
    let mut s = Session::new(cfg(7, 50, 50, 3), t0).unwrap();
    let mut passive = Session::new(
        SessionConfig {
            passive: true,
            ..cfg(8, 50, 50, 3)
        },
        t0,
    )
    .unwrap();
    let mut sent = Vec::new();
    let mut now = t0;
    while now - t0 < 30 * SLOW {
        s.handle_timeout(now);
        passive.handle_timeout(now);
        while let Some(p) = s.poll_transmit(now) {
            assert_eq!(
                (p.state, p.your_discr, p.desired_min_tx_us),
                (State::Down, 0, 1_000_000)
            );
            assert_eq!(p.required_min_rx_us, 50_000);
            sent.push(now);
        }
        assert!(passive.poll_transmit(now).is_none());
        assert!(passive.poll_timeout().is_none());
        now = s.poll_timeout().unwrap();
    }
    assert_eq!(sent[0], t0);
    for w in sent.windows(2) {
        let d = w[1] - w[0];
        assert!(d >= 750 * MS && d <= SLOW, "{d:?}");
    }
    assert_eq!(s.state(), State::Down);
    assert!(s.poll_event().is_none());
}

#[test]
fn detect_mult_one_jitters_75_to_90_percent() {
    let mut n = up_pair(cfg(1, 100, 100, 1), cfg(2, 100, 100, 1));
    n.run_for(10 * SLOW);
    let times: Vec<Instant> = n
        .sent
        .iter()
        .filter(|s| s.1 == Side::A && n.now - s.0 < 5 * SLOW && !s.2.final_)
        .map(|s| s.0)
        .collect();
    for w in times.windows(2) {
        let d = w[1] - w[0];
        assert!(d >= 75 * MS && d <= 90 * MS, "{d:?}");
    }
    assert_eq!(n.events.len(), 2);
}

#[test]
fn remote_required_min_rx_zero_stops_periodic_tx() {
    let mut n = up_pair(cfg(1, 300, 300, 3), cfg(2, 300, 300, 3));
    // B no longer wants packets.
    n.b.set_timers(n.now, 300 * MS, Duration::ZERO, 3).unwrap();
    n.run_for(SLOW);
    let from = n.now;
    n.run_for(3 * SLOW);
    assert!(n.sent.iter().all(|s| s.1 != Side::A || s.0 < from));
    // B has no detection time, A still detects B.
    assert_eq!(n.b.detection_time(), None);
    assert!(n.both_up());
}

#[test]
fn config_is_checked() {
    let t0 = Instant::now();
    let bad = |c: SessionConfig| Session::new(c, t0).err();
    assert_eq!(
        bad(SessionConfig {
            detect_mult: 0,
            ..Default::default()
        }),
        Some(bfd::ConfigError::ZeroDetectMult)
    );
    assert_eq!(
        bad(SessionConfig {
            local_discr: 0,
            ..Default::default()
        }),
        Some(bfd::ConfigError::ZeroLocalDiscr)
    );
    assert_eq!(
        bad(SessionConfig {
            desired_min_tx: Duration::ZERO,
            ..Default::default()
        }),
        Some(bfd::ConfigError::ZeroDesiredMinTx)
    );
    let mut s = Session::new(SessionConfig::default(), t0).unwrap();
    assert!(s.set_timers(t0, 10_000 * SLOW, MS, 3).is_err());
    // While Down, a change applies at once, without a Poll Sequence.
    s.set_timers(t0, 2 * SLOW, MS, 3).unwrap();
    assert!(!s.is_polling());
    let p = s.poll_transmit(t0).unwrap();
    assert!(!p.poll);
    assert_eq!(p.desired_min_tx_us, 2_000_000);
}
