//! Junk on UDP 4500 while the IKE task is slowed down (issue 14).
//!
//! rvpnd's userspace data plane owns the NAT-T port: ESP goes to the
//! workers, IKE (after the non-ESP marker) into a queue of
//! `ike::driver::EXTERNAL_QUEUE` (1024) datagrams in front of the IKE
//! task; what does not fit is dropped. Here the IKE task sleeps 5 ms
//! after every event (debug-build hook `RVPND_TEST_IKE_SLOW_MS`, see
//! ike/src/driver.rs), so it drains at most 200 datagrams a second, while
//! a generator sends junk to port 4500 from 500 spoofed addresses at
//! [`RATE`] datagrams a second for [`JUNK_SECS`] seconds: random bytes
//! (ESP with random SPIs), truncated ESP, ESP under the established
//! tunnel's own SPI with a wrong ICV, the non-ESP marker with garbage or
//! IKE-looking headers, datagrams of 60,000 bytes with and without the
//! marker, keepalives and empty datagrams.
//!
//! Meanwhile a strongSwan tunnel (rvpnd initiates) that is UDP-encapsulated (its ESP and
//! IKE share port 4500 with the junk) carries pings. Asserted: rvpnd does
//! not exit; its memory grows by less than the queue can hold (1024
//! datagrams of at most 64 KiB) plus a margin; the pings through the
//! tunnel get through with bounded loss; the junk under the tunnel's SPI
//! is counted as authentication failures and does not disturb it; and
//! after the junk, IKE still works: swan1's dead peer detection is
//! answered, and a new strongSwan peer (also over 4500) establishes.
//!
//! Needs root and the packages that scripts/test installs.

mod support;

use serde_json::Value;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::load::{
    enter_netns, paced, ping_received, rss_kib, rvpnd_pid, session_status, spoofed_sockets, tail,
    SwanPair,
};
use support::netns::{veth, Netns};
use support::rvpn::{Rvpnd, RvpndOpts};
use support::strongswan::{dpd_round_trips, StrongSwan, SwanConn, SwanOpts};
use support::{figure, wait_for};

const RVPN_1: &str = "10.96.1.1";
const SWAN_1: &str = "10.96.1.2";
const RVPN_2: &str = "10.96.2.1";
const SWAN_2: &str = "10.96.2.2";
const RVPN_J: &str = "10.96.3.1";
const JUNKER: &str = "10.96.3.2";
const PSK: &str = "junk-test-psk-0123456789abcdef";

/// Junk datagrams offered a second (a tenth of them 60,000 bytes long
/// at most: see [`junk`]).
const RATE: u32 = 8_000;
/// The junk stops after this long.
const JUNK_SECS: u64 = 15;
/// Spoofed source addresses (10.97.0.1 ...).
const SPOOFED: u32 = 500;
/// How long the IKE task sleeps after every event.
const IKE_SLOW_MS: u64 = 5;
/// The IKE queue on port 4500 (ike::driver::EXTERNAL_QUEUE).
const QUEUE: u64 = 1024;
/// rvpnd may grow by the queue full of the largest IKE datagrams (64 KiB
/// each) and this much besides (buffers, allocator slack).
const RSS_MARGIN_KIB: u64 = 24 * 1024;
/// Pings through the tunnel during the junk, and how many must come back.
const PINGS: u32 = 30;
const PINGS_MIN: u32 = 24;
/// swan1's DPD interval (only sent while the tunnel is idle).
const DPD_DELAY: Duration = Duration::from_secs(2);

fn lab() -> SwanPair<'static> {
    SwanPair {
        hostname: "junk",
        globals: String::new(),
        psk: PSK,
        rvpn: [RVPN_1, RVPN_2],
        swan: [SWAN_1, SWAN_2],
        net: "169.254.101",
    }
}

/// strongSwan's side with UDP encapsulation forced (encap = yes): after
/// IKE_SA_INIT both its IKE and its ESP use port 4500.
fn swan_conn(n: usize) -> SwanConn {
    let mut c = lab().swan_conn(n);
    c.encap = true;
    c
}

/// A small deterministic generator (xorshift64*), so a failing run can be
/// repeated with the same junk.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn fill(&mut self, buf: &mut [u8]) {
        for c in buf.chunks_mut(8) {
            let r = self.next().to_le_bytes();
            c.copy_from_slice(&r[..c.len()]);
        }
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The kinds of junk, in the order of [`JunkReport::by_kind`].
const KINDS: [&str; 8] = [
    "random bytes (ESP, random SPI)",
    "truncated ESP",
    "ESP under the tunnel's SPI, wrong ICV",
    "non-ESP marker + garbage",
    "non-ESP marker + IKE-looking header",
    "non-ESP marker + 60,000 bytes",
    "60,000 bytes of ESP",
    "keepalive / empty / 1-3 bytes",
];

/// Datagram `n` of the junk into `buf`; which kind it is.
fn junk(n: u64, rng: &mut Rng, tunnel_spi: u32, buf: &mut Vec<u8>) -> usize {
    let nonzero_spi = |rng: &mut Rng| (rng.next() as u32).max(256).to_be_bytes();
    let kind = match n % 40 {
        0..=13 => 0,
        14..=19 => 1,
        20..=21 => 2,
        22..=29 => 3,
        30..=33 => 4,
        34..=35 => 5,
        36 => 6,
        _ => 7,
    };
    buf.clear();
    match kind {
        0 => {
            buf.resize(20 + rng.below(1380) as usize, 0);
            rng.fill(buf);
            buf[..4].copy_from_slice(&nonzero_spi(rng));
        }
        1 => {
            buf.resize(4 + rng.below(12) as usize, 0);
            rng.fill(buf);
            buf[..4].copy_from_slice(&nonzero_spi(rng));
        }
        2 => {
            // SPI, a sequence number near the tunnel's, IV, garbage, ICV.
            buf.resize(24 + 8 + 84 + 16, 0);
            rng.fill(buf);
            buf[..4].copy_from_slice(&tunnel_spi.to_be_bytes());
            buf[4..8].copy_from_slice(&(1 + rng.below(2000) as u32).to_be_bytes());
        }
        3 => {
            buf.resize(4 + 1 + rng.below(400) as usize, 0);
            rng.fill(buf);
            buf[..4].fill(0);
        }
        4 => {
            // Marker, then an IKE header: SPIs, next payload, version 2.0,
            // an exchange type (IKE_SA_INIT .. INFORMATIONAL), flags, a
            // message ID, a Length that is right or wrong, and garbage.
            let body = 28 + rng.below(300) as usize;
            buf.resize(4 + body, 0);
            rng.fill(buf);
            buf[..4].fill(0);
            buf[4 + 17] = 0x20;
            buf[4 + 18] = 34 + (rng.below(4) as u8);
            let len = if rng.below(2) == 0 {
                body as u32
            } else {
                rng.next() as u32
            };
            buf[4 + 24..4 + 28].copy_from_slice(&len.to_be_bytes());
        }
        5 => {
            buf.resize(60_000, 0);
            rng.fill(&mut buf[..64]);
            buf[..4].fill(0);
        }
        6 => {
            buf.resize(60_000, 0);
            rng.fill(&mut buf[..64]);
            buf[..4].copy_from_slice(&nonzero_spi(rng));
        }
        _ => {
            let len = rng.below(4) as usize;
            buf.resize(len, 0xff);
        }
    }
    kind
}

#[derive(Debug, Default)]
struct JunkReport {
    sent: u64,
    send_errors: u64,
    bytes: u64,
    by_kind: [u64; KINDS.len()],
    elapsed: Duration,
}

/// Send junk to `target` from namespace `ns` until `stop` or JUNK_SECS.
fn send_junk(ns: &str, target: SocketAddr, tunnel_spi: u32, stop: &AtomicBool) -> JunkReport {
    enter_netns(ns);
    let socks = spoofed_sockets(10, 97, SPOOFED);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut buf = Vec::with_capacity(65536);
    let mut r = JunkReport::default();
    let elapsed = paced(RATE, Duration::from_secs(JUNK_SECS), stop, |numbers| {
        for n in numbers {
            let kind = junk(n, &mut rng, tunnel_spi, &mut buf);
            match socks[(n % u64::from(SPOOFED)) as usize].send_to(&buf, target) {
                Ok(len) => {
                    r.sent += 1;
                    r.bytes += len as u64;
                    r.by_kind[kind] += 1;
                }
                Err(_) => r.send_errors += 1,
            }
        }
    });
    r.elapsed = elapsed;
    r
}

/// The inbound ESP SA of `interface` as `show crypto ipsec sa json` has it.
fn ipsec_sa(rvpn: &Rvpnd, interface: &str) -> Value {
    let v = rvpn.show_json("show crypto ipsec sa");
    v["ipsec_sas"]
        .as_array()
        .and_then(|l| l.iter().find(|s| s["interface"] == interface))
        .cloned()
        .unwrap_or(Value::Null)
}

fn counter(sa: &Value, name: &str) -> u64 {
    sa["counters"][name].as_u64().unwrap_or(0)
}

#[test]
fn junk_on_4500_with_a_slow_ike_task_leaves_tunnels_memory_and_ike_alone() {
    support::require_interop();
    let rv = Netns::new("ldrv");
    let s1 = Netns::new("lds1");
    let s2 = Netns::new("lds2");
    let jk = Netns::new("ldjk");
    veth(&rv, &s1, &format!("{RVPN_1}/24"), &format!("{SWAN_1}/24"));
    veth(&rv, &s2, &format!("{RVPN_2}/24"), &format!("{SWAN_2}/24"));
    veth(&rv, &jk, &format!("{RVPN_J}/24"), &format!("{JUNKER}/24"));
    // The junk comes from all of 10.97.0.0/16; rvpnd routes it back there.
    jk.exec_ok(&["ip", "route", "add", "local", "10.97.0.0/16", "dev", "lo"]);
    rv.route(&["10.97.0.0/16", "via", JUNKER]);

    let mut swan1 = StrongSwan::start(&s1, SwanOpts::tagged("lds1"));
    let mut c1 = swan_conn(1);
    c1.dpd_delay = Some(DPD_DELAY);
    swan1.load(&[c1]);
    let mut swan2 = StrongSwan::start(&s2, SwanOpts::tagged("lds2"));
    swan2.load(&[swan_conn(2)]);
    let opts = RvpndOpts {
        tag: "ldjunk".into(),
        args: vec!["--dataplane".into(), "userspace".into()],
        env: vec![("RVPND_TEST_IKE_SLOW_MS".into(), IKE_SLOW_MS.to_string())],
        rust_log: "info".into(),
    };
    let mut rvpn = Rvpnd::start_with(&rv, &lab().config(), opts);
    let pid = rvpnd_pid(&rvpn);
    assert!(
        rvpn.wait_log("test hook: the IKE task sleeps", Duration::from_secs(5)),
        "the IKE task is not slowed down (a release build?)\n{}",
        tail(&rvpn.log())
    );

    // rvpnd initiates Tunnel1; swan1's encap = yes makes it float to
    // 4500 and encapsulate ESP. The tunnel carries pings.
    let sa = swan1.wait_established("rvpn", "net", Duration::from_secs(20));
    assert!(
        sa.child("net").is_some_and(|c| c.encap),
        "swan1's Child SA is not UDP-encapsulated: {sa:#?}"
    );
    s1.add_lo_addr("10.11.1.1/32");
    swan1.route_via_tunnel("169.254.101.0/30", "10.11.1.1");
    assert!(
        wait_for(
            || rv.exec(&["ip", "link", "show", "Tunnel1"]).status.success(),
            Duration::from_secs(5)
        ),
        "Tunnel1 exists\n{}",
        rvpn.log()
    );
    rv.exec_ok(&[
        "ip",
        "route",
        "replace",
        "10.11.1.1/32",
        "dev",
        "Tunnel1",
        "src",
        "169.254.101.1",
    ]);
    rv.ping_ok("169.254.101.1", "10.11.1.1", 3);
    let sa_before = ipsec_sa(&rvpn, "Tunnel1");
    assert_eq!(sa_before["encap"], "udp-4500", "{sa_before:#}");
    let spi_in = u32::from_str_radix(sa_before["spi_in"].as_str().unwrap_or_default(), 16)
        .expect("Tunnel1's inbound SPI");
    let rss_before = rss_kib(pid);

    // The junk, and pings through Tunnel1 during it.
    let stop = Arc::new(AtomicBool::new(false));
    let target: SocketAddr = format!("{RVPN_J}:4500").parse().unwrap();
    let jk_name = jk.name().to_string();
    let junk_stop = stop.clone();
    let junker = std::thread::spawn(move || send_junk(&jk_name, target, spi_in, &junk_stop));
    std::thread::sleep(Duration::from_secs(1));
    let pinger = {
        let mut cmd = rv.command(&[
            "ping",
            "-n",
            "-c",
            &PINGS.to_string(),
            "-i",
            "0.4",
            "-W",
            "1",
            "-I",
            "169.254.101.1",
            "10.11.1.1",
        ]);
        std::thread::spawn(move || support::run_timeout(&mut cmd, Duration::from_secs(30)))
    };
    let mut rss_peak = rss_before;
    let mut alive = true;
    while !junker.is_finished() {
        rss_peak = rss_peak.max(rss_kib(pid));
        alive &= rvpn.running();
        std::thread::sleep(Duration::from_millis(250));
    }
    let report = junker.join().expect("junk thread");
    let junk_stopped = Instant::now();
    let ping = pinger.join().expect("ping thread");
    rss_peak = rss_peak.max(rss_kib(pid));
    alive &= rvpn.running();
    let sa_after = ipsec_sa(&rvpn, "Tunnel1");
    let tunnel1_after_junk = session_status(&rvpn, "Tunnel1");

    // After the junk: the queue drains (at most 1024 x 5 ms), then
    // swan1's DPD (the tunnel is idle now) is answered and swan2
    // establishes over 4500.
    let swan1_log_at_stop = swan1.log().len();
    let dpd_answered = wait_for(
        || {
            let log = swan1.log();
            dpd_round_trips(log.get(swan1_log_at_stop..).unwrap_or_default(), "")
                .iter()
                .any(|r| r.rtt_ms.is_some())
        },
        Duration::from_secs(25),
    );
    let dpd_wait = junk_stopped.elapsed();
    let dpd_after = {
        let log = swan1.log();
        dpd_round_trips(log.get(swan1_log_at_stop..).unwrap_or_default(), "")
    };
    let setup_start = Instant::now();
    let setup = swan2.swanctl(
        "--initiate",
        &["--child", "net", "--ike", "rvpn", "--timeout", "20"],
    );
    let setup_time = setup_start.elapsed();
    let tunnel2 = session_status(&rvpn, "Tunnel2");
    let sa2_encap = swan2
        .established("rvpn", "net")
        .and_then(|s| s.child("net").map(|c| c.encap));
    std::thread::sleep(Duration::from_secs(1));
    let rss_after = rss_kib(pid);
    alive &= rvpn.running();

    let ping_text = support::output_text(&ping);
    let got = ping_received(&ping_text);
    let offered = report.sent as f64 / report.elapsed.as_secs_f64();
    let kinds: Vec<String> = KINDS
        .iter()
        .zip(report.by_kind)
        .map(|(k, n)| format!("{n} {k}"))
        .collect();
    figure(&format!(
        "natt_junk: offered {offered:.0} junk datagrams/s to UDP 4500 for {:.1} s ({} sent, \
         {:.1} MB, {} send errors) from {SPOOFED} spoofed addresses, IKE task slowed to \
         {IKE_SLOW_MS} ms per event: {}",
        report.elapsed.as_secs_f64(),
        report.sent,
        report.bytes as f64 / 1e6,
        report.send_errors,
        kinds.join(", ")
    ));
    figure(&format!(
        "natt_junk: pings through the UDP-encapsulated tunnel during the junk: {got} of \
         {PINGS} answered; Tunnel1 auth failures {} -> {}, replay drops {} -> {}, \
         malformed {} -> {}; after the junk Tunnel1 {tunnel1_after_junk}",
        counter(&sa_before, "auth_failures"),
        counter(&sa_after, "auth_failures"),
        counter(&sa_before, "replay_drops"),
        counter(&sa_after, "replay_drops"),
        counter(&sa_before, "malformed"),
        counter(&sa_after, "malformed"),
    ));
    figure(&format!(
        "natt_junk: rvpnd VmRSS before {rss_before} KiB, peak {rss_peak} KiB (+{} KiB; bound \
         +{} KiB = queue {QUEUE} x 64 KiB + {RSS_MARGIN_KIB} KiB), after {rss_after} KiB",
        rss_peak.saturating_sub(rss_before),
        QUEUE * 64 + RSS_MARGIN_KIB
    ));
    figure(&format!(
        "natt_junk: after the junk: swan1's DPD answered within {:.1} s after it stopped \
         (round trips ms {:?}); new peer swan2 over 4500 {} in {:.2} s (Tunnel2 {tunnel2})",
        dpd_wait.as_secs_f64(),
        dpd_after.iter().map(|r| r.rtt_ms).collect::<Vec<_>>(),
        if setup.status.success() {
            "established"
        } else {
            "FAILED"
        },
        setup_time.as_secs_f64()
    ));

    let logs = || {
        format!(
            "--- rvpnd:\n{}\n--- swan1:\n{}\n--- swan2:\n{}",
            tail(&rvpn.log()),
            tail(&swan1.log()),
            tail(&swan2.log())
        )
    };
    assert!(alive, "rvpnd exited during the junk\n{}", logs());
    assert!(
        offered >= f64::from(RATE) / 3.0,
        "the generator offered only {offered:.0}/s: the junk did not happen"
    );
    assert!(
        report.by_kind.iter().all(|&n| n > 0),
        "every kind of junk was sent: {report:?}"
    );
    assert!(
        rss_peak <= rss_before + QUEUE * 64 + RSS_MARGIN_KIB,
        "rvpnd grew from {rss_before} to {rss_peak} KiB during the junk"
    );
    assert!(
        got >= PINGS_MIN,
        "pings through Tunnel1 during the junk ({PINGS_MIN} of {PINGS} expected):\n{ping_text}\n{}",
        logs()
    );
    // The junk under Tunnel1's SPI failed authentication, as counted, and
    // moved neither the replay window nor the tunnel.
    assert!(
        counter(&sa_after, "auth_failures") > counter(&sa_before, "auth_failures"),
        "junk under Tunnel1's SPI was not counted as authentication failures: {sa_after:#}"
    );
    assert_eq!(
        sa_after["spi_in"], sa_before["spi_in"],
        "Tunnel1's SA changed during the junk"
    );
    assert_eq!(tunnel1_after_junk, "UP-ACTIVE", "{}", logs());
    assert!(
        dpd_answered,
        "swan1's DPD was not answered within 25 s after the junk: {dpd_after:?}\n{}",
        logs()
    );
    assert!(
        setup.status.success(),
        "swan2 could not establish after the junk:\n{}\n{}",
        support::output_text(&setup),
        logs()
    );
    assert_eq!(tunnel2, "UP-ACTIVE", "{}", logs());
    assert_eq!(sa2_encap, Some(true), "swan2's tunnel uses UDP 4500");
    // Tunnel1 is still the same healthy tunnel.
    rv.ping_ok("169.254.101.1", "10.11.1.1", 3);
    let log_text = logs();
    assert!(rvpn.running(), "rvpnd exited\n{log_text}");
    assert!(rvpn.stop(), "rvpnd did not stop on SIGTERM\n{log_text}");
}
