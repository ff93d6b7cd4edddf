//! An IKE_SA_INIT flood against rvpnd in network namespaces (issue 14):
//! about ten times rvpn's IKE setup rate from 1000 spoofed addresses that
//! never answer a COOKIE, plus one address that answers every COOKIE.
//! During the flood an established tunnel to strongSwan keeps passing
//! pings, a new strongSwan peer still establishes, the half-open SAs stay
//! under the configured limits and rvpnd's memory stays bounded; after it,
//! the half-open SAs expire and the memory comes back.
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
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::netns::{veth, Netns};
use support::rvpn::Rvpnd;
use support::strongswan::{StrongSwan, SwanConn, SwanOpts};
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

fn rvpn_config() -> String {
    format!(
        "hostname flood
crypto ikev2 cookie-challenge {COOKIE_CHALLENGE}
crypto ikev2 limit max-in-negotiation-sa {TOTAL}
crypto ikev2 limit max-in-negotiation-sa-per-address {PER_ADDRESS}
crypto ikev2 proposal P
 encryption aes-gcm-256
 prf sha384
 group 31
!
crypto ikev2 keyring K
 peer swan1
  address {SWAN_1}
  identity fqdn swan1.test
  pre-shared-key 0 {PSK}
 peer swan2
  address {SWAN_2}
  identity fqdn swan2.test
  pre-shared-key 0 {PSK}
!
crypto ikev2 profile PROF
 match identity remote fqdn domain test
 identity local fqdn rvpn.test
 authentication local pre-share
 authentication remote pre-share
 keyring local K
 proposal P
!
crypto ipsec transform-set TS esp-gcm 256
!
crypto ipsec profile IPS
 set transform-set TS
 set ikev2-profile PROF
!
interface Tunnel1
 ip address 169.254.100.1/30
 tunnel source {RVPN_1}
 tunnel destination {SWAN_1}
 tunnel protection ipsec profile IPS
!
interface Tunnel2
 ip address 169.254.100.5/30
 tunnel source {RVPN_2}
 tunnel destination dynamic
 tunnel protection ipsec profile IPS
!
"
    )
}

fn swan_conn(local: &str, remote: &str, id: &str) -> SwanConn {
    let mut c = SwanConn::psk("rvpn", local, remote, id, "rvpn.test", PSK);
    c.proposals = "aes256gcm16-prfsha384-x25519".into();
    c.esp_proposals = "aes256gcm16".into();
    c
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

/// Move the calling thread into namespace `ns` (sockets it opens live there).
fn enter_netns(ns: &str) {
    let f = std::fs::File::open(format!("/run/netns/{ns}"))
        .unwrap_or_else(|e| panic!("open /run/netns/{ns}: {e}"));
    // SAFETY: setns(2) on a namespace file we just opened; it only moves
    // this thread.
    let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(r, 0, "setns {ns}: {}", std::io::Error::last_os_error());
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
    let spoofed: Vec<UdpSocket> = (1..=SPOOFED)
        .map(|i| {
            let ip = Ipv4Addr::new(10, 98, (i >> 8) as u8, (i & 0xff) as u8);
            let s = UdpSocket::bind(SocketAddr::new(IpAddr::V4(ip), 0))
                .unwrap_or_else(|e| panic!("bind {ip}: {e}"));
            s.set_nonblocking(true).expect("nonblocking");
            // Nobody reads the answers to spoofed addresses: keep the
            // kernel from queueing them (it clamps to its minimum).
            let one: libc::c_int = 1;
            // SAFETY: setsockopt(2) with a valid descriptor and an int.
            unsafe {
                libc::setsockopt(
                    s.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_RCVBUF,
                    &one as *const libc::c_int as *const libc::c_void,
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
            s
        })
        .collect();
    let answerer = UdpSocket::bind(SocketAddr::new(IpAddr::V4(ANSWERER), 0)).expect("bind");
    answerer.set_nonblocking(true).expect("nonblocking");
    let mut template = init_request(1, None);
    let mut r = FloodReport::default();
    let start = Instant::now();
    let end = start + Duration::from_secs(FLOOD_SECS);
    let per_tick = u64::from(RATE / 100);
    let mut buf = vec![0u8; 2048];
    let mut n: u64 = 0;
    let mut tick = start;
    while !stop.load(Ordering::Relaxed) && Instant::now() < end {
        for _ in 0..per_tick {
            n += 1;
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
        tick += Duration::from_millis(10);
        if let Some(d) = tick.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
    }
    r.elapsed = start.elapsed();
    r
}

/// VmRSS of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The rvpnd process (`ip netns exec` execs it, so normally the same pid).
fn rvpnd_pid(rvpn: &Rvpnd) -> u32 {
    let pid = rvpn.pid().expect("rvpnd runs");
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if comm.trim() == "rvpnd" {
        return pid;
    }
    let kids =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    kids.split_whitespace()
        .filter_map(|k| k.parse().ok())
        .find(|k: &u32| {
            std::fs::read_to_string(format!("/proc/{k}/comm")).is_ok_and(|c| c.trim() == "rvpnd")
        })
        .unwrap_or_else(|| panic!("no rvpnd process under pid {pid} ({comm:?})"))
}

/// `show crypto ikev2 stats`.
fn stats(rvpn: &Rvpnd) -> Value {
    rvpn.show_json("show crypto ikev2 stats")
}

/// Half-open IKE SAs on rvpnd (responder SAs not authenticated yet).
fn half_open(rvpn: &Rvpnd) -> u64 {
    stats(rvpn)["half_open"].as_u64().expect("half_open")
}

fn session_status(rvpn: &Rvpnd, interface: &str) -> String {
    let v = rvpn.show_json("show crypto session");
    v["sessions"]
        .as_array()
        .and_then(|l| l.iter().find(|s| s["interface"] == interface))
        .map(|s| s["status"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

/// "N received" of ping's summary.
fn received(ping_out: &str) -> u32 {
    ping_out
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|p| p.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
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

    let mut swan1 = StrongSwan::start(&s1, SwanOpts::tagged("s1"));
    swan1.load(&[swan_conn(SWAN_1, RVPN_1, "swan1.test")]);
    let mut swan2 = StrongSwan::start(&s2, SwanOpts::tagged("s2"));
    swan2.load(&[swan_conn(SWAN_2, RVPN_2, "swan2.test")]);
    let rvpn = Rvpnd::start(&rv, &rvpn_config());
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
    let target: SocketAddr = format!("{RVPN_F}:500").parse().unwrap();
    let fl_name = fl.name().to_string();
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
    rss_peak = rss_peak.max(rss_kib(pid));
    half_open_max = half_open_max.max(half_open(&rvpn));
    stop.store(true, Ordering::Relaxed);
    let report = flooder.join().expect("flood thread");
    let rss_flood_end = rss_kib(pid);

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
        received(&ping_text)
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
    figure("ike_flood: DPD delay of the established tunnel: not measured (the pings and the new setup stand for IKE/ESP liveness)");

    let logs = || {
        format!(
            "--- rvpnd:\n{}\n--- swan2:\n{}",
            tail(&rvpn.log()),
            tail(&swan2.log())
        )
    };
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
        received(&ping_text) >= 16,
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
    // Tunnel1 is still the same healthy tunnel.
    rv.ping_ok("169.254.100.1", "10.10.1.1", 3);
}

fn rvpnd_log_lines(log: &str, what: &str) -> usize {
    log.lines().filter(|l| l.contains(what)).count()
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}
