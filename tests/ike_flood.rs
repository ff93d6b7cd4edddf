//! An IKE_SA_INIT flood against rvpnd in network namespaces (issue 14):
//! about ten times rvpn's IKE setup rate from 1000 spoofed addresses that
//! never answer a COOKIE, plus one address that answers every COOKIE.
//! During the flood an established tunnel to strongSwan keeps passing
//! pings, a new strongSwan peer still establishes, the half-open SAs stay
//! under the configured limits and rvpnd's memory stays bounded; after it,
//! the half-open SAs expire and the memory comes back. swan1 runs dead
//! peer detection every second while idle; the round trips of the DPD
//! exchanges sent during the flood are read from its log (milliseconds)
//! and must stay well under its DPD timeout.
//!
//! The generator is part of this test: a thread that enters the flooding
//! namespace (setns) and sends prebuilt IKE_SA_INIT requests from
//! addresses of a local route (`ip route add local 10.98.0.0/16 dev lo`).
//! Bounded: at most FLOOD_SECS seconds at RATE datagrams a second.
//! Needs root and the packages that scripts/test installs.

mod support;

use ike::crypto::SystemRandom;
use ike::sa::codec;
use ike::sa::config::IkeProposal;
use ike::sa::first_init_request;
use ike::sa::msg::notify;
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::load::{
    enter_netns, paced, ping_received, rss_kib, rvpnd_pid, session_status, spoofed_sockets, tail,
    SwanPair,
};
use support::netns::{veth, Netns};
use support::rvpn::Rvpnd;
use support::strongswan::{dpd_round_trips, RoundTrip, StrongSwan, SwanOpts};
use support::{figure, wait_for};

const RVPN_1: &str = "10.99.1.1";
const SWAN_1: &str = "10.99.1.2";
const RVPN_2: &str = "10.99.2.1";
const SWAN_2: &str = "10.99.2.2";
const RVPN_F: &str = "10.99.3.1";
const FLOODER: &str = "10.99.3.2";
const PSK: &str = "flood-test-psk-0123456789abcdef";

/// Offered IKE_SA_INIT requests a second: about ten times rvpn's setup
/// rate (1,488 SAs/s rvpn-rvpn, README "Benchmarks").
const RATE: u32 = 15_000;
/// The flood stops after this long at the latest.
const FLOOD_SECS: u64 = 25;
/// swan1's DPD interval: a DPD exchange every second the tunnel is idle.
const DPD_DELAY: Duration = Duration::from_secs(1);
/// After the pings the flood goes on this long with the tunnel idle, so
/// that swan1 sends its DPD requests into the flood.
const DPD_WINDOW: Duration = Duration::from_secs(6);
/// rvpn's Child SA lifetime (`set security-association lifetime
/// seconds`): Tunnel1 rekeys about twice during the flood.
const CHILD_LIFETIME: u32 = 10;
/// The longest DPD round trip accepted during the flood. swan1 declares
/// the peer dead after 1 + 1.5 + 2.25 + 3.4 s of retransmissions (about
/// 8 s, SwanOpts' retransmit settings); one retransmission (1 s) fits.
const DPD_RTT_BOUND_MS: u64 = 2_500;
/// At least this many DPD exchanges during the flood, or the figure
/// means nothing.
const DPD_MIN: usize = 3;
/// Spoofed addresses (10.98.0.1 ...), none of which answers.
const SPOOFED: u32 = 1000;
/// The address that answers every COOKIE demand.
const ANSWERER: Ipv4Addr = Ipv4Addr::new(10, 98, 200, 1);
/// One request in this many comes from the answering address.
const ANSWERER_SHARE: u64 = 10;

/// The limits configured on rvpnd (the defaults but for the total, which
/// is lowered so that its figure means something in this test).
const COOKIE_CHALLENGE: usize = 32;
const PER_ADDRESS: usize = 10;
const TOTAL: usize = 500;

fn lab() -> SwanPair<'static> {
    SwanPair {
        hostname: "flood",
        globals: format!(
            "crypto ikev2 cookie-challenge {COOKIE_CHALLENGE}
crypto ikev2 limit max-in-negotiation-sa {TOTAL}
crypto ikev2 limit max-in-negotiation-sa-per-address {PER_ADDRESS}
"
        ),
        psk: PSK,
        rvpn: [RVPN_1, RVPN_2],
        swan: [SWAN_1, SWAN_2],
        net: "169.254.100",
    }
}

/// A first IKE_SA_INIT request for rvpnd's proposal (x25519) whose nonce
/// and KE are made of `spi_i`, so the same SPI gives the same request
/// (the COOKIE covers the nonce).
fn init_request(spi_i: u64, cookie: Option<&[u8]>) -> Vec<u8> {
    let seed = spi_i.to_be_bytes();
    let ni: Vec<u8> = seed.iter().cycle().take(32).copied().collect();
    let ke: Vec<u8> = ni.iter().map(|b| b ^ 0x5a).collect();
    let prop = IkeProposal {
        encryption: vec![(20, 256)],
        integrity: vec![],
        prf: vec![6],
        groups: vec![31],
    };
    let msg = first_init_request(spi_i, cookie, &prop, (31, &ke), &ni);
    codec::encode(&msg, None, &mut SystemRandom::new()).expect("encode IKE_SA_INIT")
}

#[derive(Debug, Default)]
struct FloodReport {
    sent: u64,
    send_errors: u64,
    cookies_received: u64,
    cookies_answered: u64,
    elapsed: Duration,
}

/// Flood `target` from namespace `ns` until `stop` or FLOOD_SECS.
fn flood(ns: &str, target: SocketAddr, stop: &AtomicBool) -> FloodReport {
    enter_netns(ns);
    let spoofed = spoofed_sockets(10, 98, SPOOFED);
    let answerer = UdpSocket::bind(SocketAddr::new(IpAddr::V4(ANSWERER), 0)).expect("bind");
    answerer.set_nonblocking(true).expect("nonblocking");
    let mut template = init_request(1, None);
    let mut r = FloodReport::default();
    let mut buf = vec![0u8; 2048];
    let elapsed = paced(RATE, Duration::from_secs(FLOOD_SECS), stop, |numbers| {
        for n in numbers {
            let spi = 0x5100_0000_0000_0000 | n;
            let res = if n.is_multiple_of(ANSWERER_SHARE) {
                answerer.send_to(&init_request(spi, None), target)
            } else {
                template[..8].copy_from_slice(&spi.to_be_bytes());
                spoofed[(n % u64::from(SPOOFED)) as usize].send_to(&template, target)
            };
            match res {
                Ok(_) => r.sent += 1,
                Err(_) => r.send_errors += 1,
            }
        }
        // Answer the COOKIE demands that came back.
        while let Ok((len, _)) = answerer.recv_from(&mut buf) {
            let Ok(m) = codec::decode(&buf[..len], None) else {
                continue;
            };
            if let Some(c) = m.notify(notify::COOKIE) {
                r.cookies_received += 1;
                if answerer
                    .send_to(&init_request(m.spi_i, Some(c)), target)
                    .is_ok()
                {
                    r.cookies_answered += 1;
                    r.sent += 1;
                }
            }
        }
    });
    r.elapsed = elapsed;
    r
}

/// `show crypto ikev2 stats`.
fn stats(rvpn: &Rvpnd) -> Value {
    rvpn.show_json("show crypto ikev2 stats")
}

/// Half-open IKE SAs on rvpnd (responder SAs not authenticated yet).
fn half_open(rvpn: &Rvpnd) -> u64 {
    stats(rvpn)["half_open"].as_u64().expect("half_open")
}

#[test]
fn an_ike_sa_init_flood_leaves_tunnels_new_peers_and_memory_alone() {
    support::require_interop();
    let rv = Netns::new("rv");
    let s1 = Netns::new("s1");
    let s2 = Netns::new("s2");
    let fl = Netns::new("fl");
    veth(&rv, &s1, &format!("{RVPN_1}/24"), &format!("{SWAN_1}/24"));
    veth(&rv, &s2, &format!("{RVPN_2}/24"), &format!("{SWAN_2}/24"));
    veth(&rv, &fl, &format!("{RVPN_F}/24"), &format!("{FLOODER}/24"));
    // The flooder owns all of 10.98.0.0/16; rvpnd routes it back there.
    fl.exec_ok(&["ip", "route", "add", "local", "10.98.0.0/16", "dev", "lo"]);
    rv.route(&["10.98.0.0/16", "via", FLOODER]);
    // The flood goes to Tunnel2's source, the address where the dynamic
    // interface takes peers: rvpnd knows which address a request reached
    // and refuses one to an address no tunnel serves before any SA.
    fl.route(&[&format!("{RVPN_2}/32"), "via", RVPN_F]);

    let mut swan1 = StrongSwan::start(&s1, SwanOpts::tagged("s1"));
    let mut c1 = lab().swan_conn(1);
    c1.dpd_delay = Some(DPD_DELAY);
    swan1.load(&[c1]);
    let mut swan2 = StrongSwan::start(&s2, SwanOpts::tagged("s2"));
    swan2.load(&[lab().swan_conn(2)]);
    let cfg = lab().config().replace(
        " set ikev2-profile PROF\n",
        &format!(" set ikev2-profile PROF\n set security-association lifetime seconds {CHILD_LIFETIME}\n"),
    );
    let rvpn = Rvpnd::start(&rv, &cfg);
    let pid = rvpnd_pid(&rvpn);

    // Tunnel1 (rvpn initiates) is up and carries pings to swan1's loopback.
    swan1.wait_established("rvpn", "net", Duration::from_secs(20));
    s1.add_lo_addr("10.10.1.1/32");
    swan1.route_via_tunnel("169.254.100.0/30", "10.10.1.1");
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
        "10.10.1.1/32",
        "dev",
        "Tunnel1",
        "src",
        "169.254.100.1",
    ]);
    rv.ping_ok("169.254.100.1", "10.10.1.1", 3);
    let rss_before = rss_kib(pid);

    let stop = Arc::new(AtomicBool::new(false));
    let target: SocketAddr = format!("{RVPN_2}:500").parse().unwrap();
    let fl_name = fl.name().to_string();
    let swan1_log_at_flood = swan1.log().len();
    let rvpn_log_at_flood = rvpn.log().len();
    let flood_stop = stop.clone();
    let flooder = std::thread::spawn(move || flood(&fl_name, target, &flood_stop));
    // Past the COOKIE threshold before the legitimate traffic starts.
    std::thread::sleep(Duration::from_secs(2));

    // During the flood: 20 pings through Tunnel1, and swan2's new setup.
    let pinger = {
        let cmd = rv.command(&[
            "ping",
            "-n",
            "-c",
            "20",
            "-i",
            "0.5",
            "-W",
            "1",
            "-I",
            "169.254.100.1",
            "10.10.1.1",
        ]);
        std::thread::spawn(move || {
            let mut cmd = cmd;
            support::run_timeout(&mut cmd, Duration::from_secs(30))
        })
    };
    let setup_start = Instant::now();
    let setup = swan2.swanctl(
        "--initiate",
        &["--child", "net", "--ike", "rvpn", "--timeout", "20"],
    );
    let setup_time = setup_start.elapsed();
    let mut rss_peak = rss_kib(pid);
    let mut half_open_max = 0;
    while !pinger.is_finished() {
        rss_peak = rss_peak.max(rss_kib(pid));
        half_open_max = half_open_max.max(half_open(&rvpn));
        std::thread::sleep(Duration::from_millis(500));
    }
    let ping = pinger.join().expect("ping thread");
    let tunnel2 = session_status(&rvpn, "Tunnel2");
    // Tunnel1 idle, the flood on: swan1's DPD requests go out into it.
    let dpd_until = Instant::now() + DPD_WINDOW;
    while Instant::now() < dpd_until && !flooder.is_finished() {
        rss_peak = rss_peak.max(rss_kib(pid));
        half_open_max = half_open_max.max(half_open(&rvpn));
        std::thread::sleep(Duration::from_millis(500));
    }
    rss_peak = rss_peak.max(rss_kib(pid));
    half_open_max = half_open_max.max(half_open(&rvpn));
    let swan1_log_at_stop = swan1.log().len();
    let rvpn_log_at_stop = rvpn.log().len();
    let flood_was_on = !flooder.is_finished();
    stop.store(true, Ordering::Relaxed);
    let report = flooder.join().expect("flood thread");
    let rss_flood_end = rss_kib(pid);
    // Answers to the last requests may come after the flood stopped.
    std::thread::sleep(Duration::from_secs(3));
    let swan1_log = swan1.log();
    let dpd = dpd_round_trips(
        swan1_log
            .get(swan1_log_at_flood..swan1_log_at_stop)
            .unwrap_or_default(),
        swan1_log.get(swan1_log_at_stop..).unwrap_or_default(),
    );

    // The half-open SAs expire (30 s) and the memory comes back.
    let drained = wait_for(|| half_open(&rvpn) == 0, Duration::from_secs(40));
    let guard = stats(&rvpn);
    std::thread::sleep(Duration::from_secs(1));
    let rss_after = rss_kib(pid);

    let ping_text = support::output_text(&ping);
    let offered = report.sent as f64 / report.elapsed.as_secs_f64();
    figure(&format!(
        "ike_flood: offered {offered:.0} IKE_SA_INIT/s for {:.1} s ({} sent, {} send errors) \
         from {SPOOFED} spoofed addresses + 1 answering {} COOKIEs of {} demanded",
        report.elapsed.as_secs_f64(),
        report.sent,
        report.send_errors,
        report.cookies_answered,
        report.cookies_received
    ));
    figure(&format!(
        "ike_flood: legitimate setups during the flood: {} of 1 (swanctl --initiate took {:.2} s); \
         pings through the established tunnel: {} of 20 answered",
        u8::from(setup.status.success()),
        setup_time.as_secs_f64(),
        ping_received(&ping_text)
    ));
    figure(&format!(
        "ike_flood: rvpnd VmRSS before {} KiB, peak {rss_peak} KiB, flood end {rss_flood_end} KiB, \
         after the half-open SAs expired {rss_after} KiB; most half-open SAs {half_open_max} \
         (cookie-challenge {COOKIE_CHALLENGE}, per-address {PER_ADDRESS}, total {TOTAL})",
        rss_before
    ));
    figure(&format!(
        "ike_flood: rvpnd counted {} COOKIE demands, {} half-open SAs created, {} dropped over the \
         per-address limit, {} over the total",
        guard["cookies_sent"], guard["half_open_created"], guard["dropped_address_limit"],
        guard["dropped_total_limit"]
    ));
    figure(&format!("ike_flood: {}", dpd_summary(&dpd)));
    // Child SA rekeys rvpnd started on Tunnel1 during the flood, and the
    // new Child SAs it got.
    let window = rvpn.log();
    let window = window
        .get(rvpn_log_at_flood..rvpn_log_at_stop)
        .unwrap_or_default();
    let rekeys_started = rvpnd_log_lines(window, "Tunnel1: rekeying CHILD_SA");
    let rekeys_done = rvpnd_log_lines(window, "Tunnel1: CHILD_SA established with SPIs");
    let ike_replaced = window
        .lines()
        .filter(|l| l.contains("Tunnel1: IKE_SA") && l.contains("established between"))
        .count();
    figure(&format!(
        "ike_flood: Child SA rekeys of the established tunnel during the flood (rvpnd, lifetime \
         {CHILD_LIFETIME} s): {rekeys_started} started, {rekeys_done} completed"
    ));

    let logs = || {
        format!(
            "--- rvpnd:\n{}\n--- swan2:\n{}",
            tail(&rvpn.log()),
            tail(&swan2.log())
        )
    };
    assert!(flood_was_on, "the flood ended before the DPD window did");
    assert!(
        dpd.len() >= DPD_MIN,
        "swan1 sent {} DPD requests during the flood (at least {DPD_MIN} expected, one per \
         {DPD_DELAY:?} idle):\n{}",
        dpd.len(),
        tail(swan1_log.get(swan1_log_at_flood..).unwrap_or_default())
    );
    let worst = dpd
        .iter()
        .map(|r| r.rtt_ms.unwrap_or(u64::MAX))
        .max()
        .unwrap_or(0);
    assert!(
        worst <= DPD_RTT_BOUND_MS,
        "a DPD exchange during the flood took {worst} ms (bound {DPD_RTT_BOUND_MS} ms; \
         u64::MAX: unanswered): {dpd:?}\n{}",
        logs()
    );
    assert!(
        offered >= f64::from(RATE) / 3.0,
        "the generator offered only {offered:.0}/s: the flood did not happen"
    );
    assert!(
        report.cookies_answered > 0,
        "the answering source never got a COOKIE: {report:?}"
    );
    assert!(
        setup.status.success(),
        "swan2 could not establish during the flood:\n{}\n{}",
        support::output_text(&setup),
        logs()
    );
    assert_eq!(tunnel2, "UP-ACTIVE", "{}", logs());
    assert!(
        ping_received(&ping_text) >= 16,
        "pings through Tunnel1 during the flood:\n{ping_text}\n{}",
        logs()
    );
    // Cookie-less requests stop at the threshold, the answering address at
    // its own limit; swan2 and Tunnel1's rekeys add at most a couple.
    assert!(
        half_open_max <= (COOKIE_CHALLENGE + PER_ADDRESS + 2) as u64,
        "{half_open_max} half-open IKE SAs"
    );
    // The spoofed requests were answered with COOKIE demands, and the
    // answering address hit its own limit.
    assert!(
        guard["cookies_sent"].as_u64().unwrap_or(0) > 1000,
        "{guard}"
    );
    assert!(
        guard["dropped_address_limit"].as_u64().unwrap_or(0) > 0,
        "{guard}"
    );
    assert!(drained, "the half-open SAs did not expire\n{}", logs());
    assert!(
        rss_peak <= rss_before + 24 * 1024,
        "rvpnd grew from {rss_before} to {rss_peak} KiB during the flood"
    );
    assert!(
        rss_after <= rss_before + 8 * 1024,
        "rvpnd kept {rss_after} KiB after the flood (before: {rss_before} KiB)"
    );
    // The strangers' packets were logged a few lines a second at most.
    let log = rvpnd_log_lines(&rvpn.log(), "is initiating an IKE_SA");
    let secs = report.elapsed.as_secs() + 2;
    assert!(
        log <= (secs as usize + 2) * 5,
        "{log} 'is initiating' lines in {secs} s"
    );
    assert!(
        rvpn.log().contains("suppressed"),
        "no summary of suppressed log lines\n{}",
        tail(&rvpn.log())
    );
    // The established tunnel rekeyed on time during the flood: every
    // rekey rvpnd started completed (the last one may still have been
    // under way when the flood stopped), and no IKE SA was replaced.
    assert!(
        rekeys_started >= 1
            && rekeys_done >= 1
            && rekeys_done + 1 >= rekeys_started
            && ike_replaced == 0,
        "Child SA rekeys during the flood: rvpnd started {rekeys_started}, completed \
         {rekeys_done}; new IKE SAs of Tunnel1: {ike_replaced}\n{}",
        tail(&rvpn.log())
    );
    // Tunnel1 is still the same healthy tunnel.
    rv.ping_ok("169.254.100.1", "10.10.1.1", 3);
}

/// "DPD round trip during the flood: N exchanges, median/max ms".
fn dpd_summary(dpd: &[RoundTrip]) -> String {
    let mut ms: Vec<u64> = dpd.iter().filter_map(|r| r.rtt_ms).collect();
    ms.sort_unstable();
    let unanswered = dpd.len() - ms.len();
    match (ms.first(), ms.last()) {
        (Some(min), Some(max)) => format!(
            "DPD round trip of the established tunnel during the flood (swan1, dpd_delay \
             {DPD_DELAY:?}): {} exchanges, min {min} ms, median {} ms, max {max} ms, \
             {unanswered} unanswered (bound {DPD_RTT_BOUND_MS} ms)",
            dpd.len(),
            ms[ms.len() / 2]
        ),
        _ => format!(
            "DPD round trip during the flood: {} requests, none answered",
            dpd.len()
        ),
    }
}

#[test]
fn dpd_round_trips_pair_requests_with_responses() {
    let log = "12:00:01.100 05[ENC] <rvpn|1> generating INFORMATIONAL request 4 [ ]
12:00:01.105 07[ENC] <rvpn|1> parsed INFORMATIONAL response 4 [ ]
12:00:02.000 05[ENC] <rvpn|1> generating INFORMATIONAL request 5 [ D ]
12:00:03.000 05[ENC] <rvpn|1> generating INFORMATIONAL request 6 [ ]
";
    let later = "12:00:04.250 07[ENC] <rvpn|1> parsed INFORMATIONAL response 6 [ ]\n";
    let r = dpd_round_trips(log, later);
    let got: Vec<(u32, Option<u64>)> = r.iter().map(|r| (r.message_id, r.rtt_ms)).collect();
    assert_eq!(got, vec![(4, Some(5)), (6, Some(1250))]);
    let midnight = dpd_round_trips(
        "23:59:59.900 05[ENC] generating INFORMATIONAL request 1 [ ]",
        "00:00:00.100 07[ENC] parsed INFORMATIONAL response 1 [ ]",
    );
    assert_eq!(midnight[0].rtt_ms, Some(200));
    assert!(
        dpd_round_trips("12:00:00.000 generating INFORMATIONAL request 2 [ ]", "")[0]
            .rtt_ms
            .is_none()
    );
}

fn rvpnd_log_lines(log: &str, what: &str) -> usize {
    log.lines().filter(|l| l.contains(what)).count()
}
