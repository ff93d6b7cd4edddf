//! A random source that fails: every exchange that needs it fails with a
//! logged error and creates no SA, nothing loops, nothing is keyed with
//! zeros, and the engine works again once the source does.

use super::super::guard::CookieSecrets;
use super::super::random::DRAWS;
use super::*;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

const OK: u8 = 0;
/// Every fill fails.
const FAIL: u8 = 1;
/// Every fill "succeeds" with zeros (a stuck generator).
const ZEROS: u8 = 2;

/// [`TestRng`] behind a switch the test flips; counts the fills.
struct Flaky {
    inner: TestRng,
    mode: Arc<AtomicU8>,
    calls: Arc<AtomicUsize>,
}

impl Random for Flaky {
    fn fill(&mut self, out: &mut [u8]) -> Result<(), CryptoError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        match self.mode.load(Ordering::Relaxed) {
            FAIL => Err(CryptoError::Rng),
            ZEROS => {
                out.fill(0);
                Ok(())
            }
            _ => self.inner.fill(out),
        }
    }
}

impl Flaky {
    fn new(seed: u64, mode: u8) -> Flaky {
        Flaky {
            inner: TestRng(seed),
            mode: Arc::new(AtomicU8::new(mode)),
            calls: Arc::new(AtomicUsize::new(0)),
        }
    }
}

/// Gives `side` a [`Flaky`] source; returns its switch and fill counter.
fn flaky(side: &mut Side, seed: u64) -> (Arc<AtomicU8>, Arc<AtomicUsize>) {
    let f = Flaky::new(seed, OK);
    let handles = (f.mode.clone(), f.calls.clone());
    side.e.rng = Box::new(f);
    handles
}

fn rng_lines(side: &Side) -> usize {
    side.log.iter().filter(|l| l.contains(RNG_FAILURE)).count()
}

/// [`standard`] with a failing source on A (`on_a`) or B for 3 s: that
/// side has no SA and logged why, and `check` sees the rest; then the
/// source works again and the tunnel comes up.
fn fails_then_recovers(on_a: bool, check: impl Fn(&Pair)) {
    let mut p = standard();
    let (mode, _) = flaky(if on_a { &mut p.a } else { &mut p.b }, 0x5151);
    mode.store(FAIL, Ordering::Relaxed);
    p.run(Duration::from_secs(3));
    let side = if on_a { &p.a } else { &p.b };
    assert!(side.e.ike_sas(p.now).is_empty(), "{:#?}", side.log);
    assert!(rng_lines(side) >= 1, "{:#?}", side.log);
    assert!(p.a.children.is_empty() && p.b.children.is_empty());
    check(&p);
    mode.store(OK, Ordering::Relaxed);
    p.run(Duration::from_secs(120));
    let side = if on_a { &p.a } else { &p.b };
    assert_eq!(side.last(), Some(&TunnelStatus::Up), "{:#?}", side.log);
    p.assert_paired();
}

#[test]
fn an_initiator_without_randomness_creates_no_sa_and_recovers() {
    fails_then_recovers(true, |p| {
        assert_eq!(p.sent, 0, "nothing sent without an SPI and a nonce");
        assert!(
            matches!(p.a.last(), Some(TunnelStatus::Phase1Failed(r)) if r.contains(RNG_FAILURE)),
            "{:?}",
            p.a.status
        );
    });
}

#[test]
fn a_responder_without_randomness_answers_nothing_and_recovers() {
    fails_then_recovers(false, |p| {
        assert_eq!(p.b.e.guard_stats().half_open_created, 0);
        assert!(p.sent > 0, "A tried");
    });
}

#[test]
fn a_stuck_generator_is_an_error_not_a_loop() {
    let mut p = standard();
    let (mode, calls) = flaky(&mut p.a, 0x9191);
    mode.store(ZEROS, Ordering::Relaxed);
    p.run(Duration::from_secs(5));
    assert!(p.a.e.ike_sas(p.now).is_empty(), "{:#?}", p.a.log);
    assert!(rng_lines(&p.a) >= 1, "{:#?}", p.a.log);
    assert_eq!(p.sent, 0, "no SA with SPI 0");
    // Each attempt (at least one log line each, well under the rate
    // limit here) drew DRAWS SPIs, all zero, and gave up.
    let attempts = rng_lines(&p.a);
    let fills = calls.load(Ordering::Relaxed);
    assert!(
        fills >= DRAWS && fills % DRAWS == 0 && fills <= attempts * DRAWS,
        "{fills} fills for {attempts} log lines"
    );
}

#[test]
fn a_rekey_responder_without_randomness_refuses_and_keeps_the_sas() {
    let mut p = standard();
    p.run(Duration::from_secs(5));
    p.assert_paired();
    let (mode, _) = flaky(&mut p.b, 0x3131);
    mode.store(FAIL, Ordering::Relaxed);
    // A rekeys its Child SA at 85-90% of the hour; B cannot make a nonce.
    p.run(Duration::from_secs(3300));
    assert!(rng_lines(&p.b) >= 1, "{:#?}", p.b.log);
    assert!(
        p.a.log.iter().any(|l| l.contains("NO_PROPOSAL_CHOSEN")),
        "{:#?}",
        p.a.log
    );
    assert_eq!(p.a.e.ike_sas(p.now).len(), 1, "{:#?}", p.a.log);
    assert_eq!(p.b.e.ike_sas(p.now).len(), 1, "{:#?}", p.b.log);
    assert!(!p.b.children.is_empty(), "the old Child SA stays");
}

#[test]
fn no_cookie_secret_without_randomness() {
    let now = Instant::now();
    let mut rng = Flaky::new(7, FAIL);
    let mode = rng.mode.clone();
    let mut c = CookieSecrets::new(&mut rng);
    let ip = ip(A);
    assert_eq!(c.make(b"nonce-nonce-nonc", ip, 1), None, "never a zero key");
    assert!(c.rotate_if_due(now, &mut rng).is_err());
    // A forged cookie made with an all-zero secret is not accepted.
    let zero = CookieSecrets::new(&mut Flaky::new(7, ZEROS)).make(b"nonce-nonce-nonc", ip, 1);
    let zero = zero.expect("a secret (of zeros)");
    assert!(!c.check(&zero, b"nonce-nonce-nonc", ip, 1, now));
    // The source recovers: the next call makes a secret.
    mode.store(OK, Ordering::Relaxed);
    c.rotate_if_due(now, &mut rng).unwrap();
    let made = c.make(b"nonce-nonce-nonc", ip, 1).unwrap();
    assert!(c.check(&made, b"nonce-nonce-nonc", ip, 1, now));
    assert_ne!(made, zero);
    // A failed rotation keeps the current secret working.
    mode.store(FAIL, Ordering::Relaxed);
    let later = now + super::super::guard::COOKIE_ROTATE;
    assert!(c.rotate_if_due(later, &mut rng).is_err());
    assert!(c.check(&made, b"nonce-nonce-nonc", ip, 1, later));
}
