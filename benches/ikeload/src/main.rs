//! `ikeload`: rvpn as the initiating side of the IKE setup-rate benchmark
//! (benches/ike-setup-rate.sh).
//!
//! One `ike::sa::Engine` with N initiating tunnels (`Tunnel0`..), all to
//! one responder, each with its own identity `spoke<i>.<domain>`, PSK,
//! aes-gcm-256 / prf sha256 / group 31 (x25519) for IKE and esp-gcm 256
//! for the Child SA in IKE_AUTH: what N rvpn spokes would send. The loop
//! is `ike::driver::run_with`'s (sockets on the IKE and NAT-T ports, the
//! non-ESP marker on the latter, `poll_timeout` / `handle_datagram` /
//! `handle_timeout`, then `poll_log` and `poll_output`), with the
//! daemon's command channel replaced by the window logic: tunnels are
//! added to the engine's configuration (`set_config` with a growing list;
//! existing tunnels keep their SAs) so that at most WINDOW of them are
//! negotiating at any time, like the strongSwan driver's window of
//! half-open IKE SAs. WINDOW 0 adds all N at once.
//!
//! Time runs from just before the first `set_config` until the N-th
//! tunnel reports `TunnelStatus::Up` (IKE SA and its Child SA up). The
//! result is one line, `RESULT key=value ...`, for the script. With
//! `--cp` each spoke asks for an IPv4 address (a Virtual-Template hub's
//! pool) and the run succeeds only if all N got distinct ones. With
//! `--tun NAME` (and `--cp`) it also carries the spokes' traffic through
//! their Child SAs (src/esp_gw.rs).

mod esp_gw;

use ike::crypto::rand::SystemRandom;
use ike::pki::{KeyKind, TrustPoint, TrustPointFiles};
use ike::sa::config::{
    AuthKind, EngineConfig, EspProposal, Identity, IkeProposal, Peer, PeerKey, TunnelConfig,
};
use ike::sa::{Engine, Output, TunnelStatus};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

/// The non-ESP marker that precedes IKE on the NAT-T port (RFC 3948).
const NON_ESP_MARKER: [u8; 4] = [0; 4];

#[derive(Debug)]
struct Args {
    responder: IpAddr,
    local: IpAddr,
    n: usize,
    window: usize,
    /// Add tunnels when at least this many window slots are free.
    refill: usize,
    psk: String,
    port: u16,
    natt_port: u16,
    domain: String,
    timeout: Duration,
    log: Option<String>,
    /// Certificates instead of the PSK: the CA file, and the directory
    /// with spoke<i>.pem / spoke<i>.key.
    ca: Option<String>,
    certs: Option<String>,
    /// Ask the responder for an IPv4 address (CFG_REQUEST with
    /// INTERNAL_IP4_ADDRESS), as a spoke of a Virtual-Template hub with
    /// `ip address negotiated` does.
    cp: bool,
    /// Once all are up (or the timeout passed), keep the SAs, answering the
    /// responder (DPD, rekeys), for this long before printing the result
    /// and exiting; a line `UP secs=...` is printed as soon as all are up.
    hold: Duration,
    /// Carry the spokes' traffic through this TUN device (esp_gw).
    tun: Option<String>,
    /// Periodic DPD every this many seconds (retransmissions 3 s apart),
    /// as `dpd SECS 3 periodic`: a responder that died is noticed and
    /// the tunnel set up again.
    dpd: Option<u64>,
    /// On SIGUSR1, the first this many tunnels go down and up again every
    /// `flap_period` seconds (half down, half up) until the next SIGUSR1.
    flap_count: usize,
    flap_period: f64,
}

const USAGE: &str = "usage: ikeload --responder IP --local IP [-n N] [--window W] [--refill R]
               [--psk KEY] [--port 500] [--natt-port 4500] [--domain bench]
               [--timeout SECS] [--log FILE] [--ca FILE --certs DIR] [--cp]
               [--hold SECS] [--tun NAME] [--dpd SECS]
               [--flap-count K] [--flap-period SECS]
  --cp: ask for an IPv4 address (IKEv2 configuration payload), as the spokes
  of a Virtual-Template hub do; a tunnel counts as up once it has one
  --hold: once all are up, keep them (answering DPD and rekeys) SECS more;
  prints `UP secs=...` when all are up, RESULT at the end (or at SIGTERM)
  --tun NAME: carry each spoke's traffic (source = its --cp address) between
  the TUN device NAME and its Child SA: raw ESP, or ESP in UDP behind a NAT
  --dpd SECS: periodic DPD (dpd SECS 3 periodic); tunnels the responder
  dropped (Delete, a restart, DPD) are set up again; `REUP n=...` lines
  count the tunnels that came up again
  --flap-count K: SIGUSR1 starts (and the next one stops) flapping tunnels
  0..K: shut down, and set up again, every --flap-period SECS (default 10:
  half the period down, half up); `FLAP` lines tell each change. The UP line
  gives last_addr, the address of the last tunnel (which does not flap)
  --ca/--certs: ECDSA (or RSA) certificates, spoke<i>.pem/.key in DIR,
  instead of the PSK";

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        responder: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        local: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        n: 1000,
        window: 64,
        refill: 0,
        psk: "bench-only-psk-0123456789".into(),
        port: 500,
        natt_port: 4500,
        domain: "bench".into(),
        timeout: Duration::from_secs(120),
        log: None,
        ca: None,
        certs: None,
        cp: false,
        hold: Duration::ZERO,
        tun: None,
        dpd: None,
        flap_count: 0,
        flap_period: 10.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or(format!("{k} needs a value"));
        let bad = |e: &dyn std::fmt::Display| format!("{k}: {e}");
        match k.as_str() {
            "--responder" => a.responder = v()?.parse().map_err(|e| bad(&e))?,
            "--local" => a.local = v()?.parse().map_err(|e| bad(&e))?,
            "-n" => a.n = v()?.parse().map_err(|e| bad(&e))?,
            "--window" => a.window = v()?.parse().map_err(|e| bad(&e))?,
            "--refill" => a.refill = v()?.parse().map_err(|e| bad(&e))?,
            "--psk" => a.psk = v()?,
            "--port" => a.port = v()?.parse().map_err(|e| bad(&e))?,
            "--natt-port" => a.natt_port = v()?.parse().map_err(|e| bad(&e))?,
            "--domain" => a.domain = v()?,
            "--timeout" => {
                a.timeout = Duration::from_secs_f64(v()?.parse::<f64>().map_err(|e| bad(&e))?)
            }
            "--log" => a.log = Some(v()?),
            "--ca" => a.ca = Some(v()?),
            "--certs" => a.certs = Some(v()?),
            "--cp" => a.cp = true,
            "--tun" => a.tun = Some(v()?),
            "--dpd" => a.dpd = Some(v()?.parse().map_err(|e| bad(&e))?),
            "--flap-count" => a.flap_count = v()?.parse().map_err(|e| bad(&e))?,
            "--flap-period" => a.flap_period = v()?.parse().map_err(|e| bad(&e))?,
            "--hold" => a.hold = Duration::from_secs_f64(v()?.parse::<f64>().map_err(|e| bad(&e))?),
            "-h" | "--help" => return Err(USAGE.into()),
            _ => return Err(format!("unknown argument {k}\n{USAGE}")),
        }
    }
    if a.ca.is_some() != a.certs.is_some() {
        return Err("--ca and --certs go together".into());
    }
    if a.tun.is_some() && !a.cp {
        return Err("--tun needs --cp (packets find their spoke by its address)".into());
    }
    if a.responder.is_unspecified() || a.local.is_unspecified() || a.n == 0 {
        return Err(USAGE.into());
    }
    if a.window == 0 || a.window > a.n {
        a.window = a.n;
    }
    if a.refill == 0 {
        // A new set_config per freed slot would cost O(tunnels^2) each
        // time (the engine compares the old and new lists by name); a
        // quarter window at a time keeps the window nearly full.
        a.refill = (a.window / 4).max(1);
    }
    a.refill = a.refill.min(a.window);
    Ok(a)
}

/// Spoke i's trustpoint (its certificate and key, the CA), as rvpnd loads
/// `crypto pki trustpoint`.
fn trustpoint(a: &Args, i: usize) -> Result<std::sync::Arc<TrustPoint>, String> {
    let (Some(ca), Some(dir)) = (&a.ca, &a.certs) else {
        return Err("no certificates".into());
    };
    let cert = std::path::Path::new(dir).join(format!("spoke{i}.pem"));
    let key = std::path::Path::new(dir).join(format!("spoke{i}.key"));
    let files = TrustPointFiles {
        ca: Some(std::path::Path::new(ca)),
        certificate: Some(&cert),
        key: Some(&key),
        crl: None,
    };
    TrustPoint::load(&format!("spoke{i}"), &files, std::time::SystemTime::now())
        .map(std::sync::Arc::new)
}

/// A spoke tunnel as rvpnd's ike_config would resolve it from
/// `tunnel destination RESPONDER`, a keyring peer for that address and
/// an IKEv2 profile with `identity local fqdn spoke<i>.<domain>`.
fn tunnel(a: &Args, i: usize) -> TunnelConfig {
    let host = if a.responder.is_ipv4() { 32 } else { 128 };
    TunnelConfig {
        name: format!("Tunnel{i}"),
        local: Some(a.local),
        peer: Peer::Address(a.responder),
        local_id: Identity::Fqdn(format!("spoke{i}.{}", a.domain)),
        remote_match: vec![],
        remote_id: None,
        keys: vec![PeerKey {
            name: "hub".into(),
            identity: None,
            address: Some((a.responder, host)),
            psk_local: a.psk.as_bytes().to_vec(),
            psk_remote: a.psk.as_bytes().to_vec(),
        }],
        // encryption aes-gcm-256, prf sha256, group 31
        ike: IkeProposal {
            encryption: vec![(20, 256)],
            integrity: vec![],
            prf: vec![5],
            groups: vec![31],
        },
        // transform-set esp-gcm 256, no PFS
        esp: EspProposal {
            transforms: vec![(20, 256, 0)],
            pfs: None,
            esn: false,
        },
        ike_lifetime: Duration::from_secs(86400),
        child_lifetime: Duration::from_secs(3600),
        child_lifetime_kb: 0,
        dpd: a.dpd.map(|secs| ike::sa::config::DpdConfig {
            interval: Duration::from_secs(secs),
            retries: 3,
            periodic: true,
        }),
        nat_keepalive: Duration::from_secs(20),
        mobike: false,
        replay_window: 1024,
        shutdown: false,
        auth_local: AuthKind::Psk,
        auth_remote: vec![AuthKind::Psk],
        trustpoints: vec![],
        virtual_template: None,
        cp: ike::sa::config::CpConfig {
            request4: a.cp,
            ..Default::default()
        },
    }
}

/// Where the time went (wall clock inside engine calls).
#[derive(Default)]
struct Spent {
    set_config: Duration,
    poll_timeout: Duration,
    handle_datagram: Duration,
    handle_timeout: Duration,
    set_config_calls: u64,
    poll_timeout_calls: u64,
    datagrams_in: u64,
    timeouts: u64,
}

#[derive(Default)]
struct Counts {
    sent: u64,
    sent_bytes: u64,
    up: usize,
    failed: u64,
    down_after_up: u64,
    /// Tunnels up again after they went down (a responder restart).
    up_again: u64,
    /// Which tunnels are down after having been up.
    down_now: std::collections::HashSet<usize>,
    cookies: u64,
    log_lines: u64,
    /// Child SAs that came up with an address from the responder (--cp),
    /// and the distinct addresses among them.
    addressed: u64,
    addresses: std::collections::HashSet<IpAddr>,
    /// Each tunnel's address.
    addr_of: HashMap<usize, IpAddr>,
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage(2) fills the struct we pass.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut ru) != 0 {
            return 0.0;
        }
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        tv(ru.ru_utime) + tv(ru.ru_stime)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn tunnel_index(name: &str) -> Option<usize> {
    name.strip_prefix("Tunnel")?.parse().ok()
}

async fn send(v4: &UdpSocket, v4n: &UdpSocket, remote: SocketAddr, natt: bool, data: &[u8]) {
    // As ike::driver::Sockets::send.
    let sock = if natt { v4n } else { v4 };
    let r = if natt && data.len() > 1 {
        let mut buf = Vec::with_capacity(data.len() + 4);
        buf.extend_from_slice(&NON_ESP_MARKER);
        buf.extend_from_slice(data);
        sock.send_to(&buf, remote).await
    } else {
        sock.send_to(data, remote).await
    };
    if let Err(e) = r {
        eprintln!("ikeload: sending {} bytes to {remote}: {e}", data.len());
    }
}

async fn run(a: Args) -> io::Result<bool> {
    let any4 = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let v4 = UdpSocket::bind(SocketAddr::new(any4, a.port)).await?;
    let v4n = UdpSocket::bind(SocketAddr::new(any4, a.natt_port)).await?;
    // All N spokes share these sockets: a responder that deletes every
    // SA at once (a hub stopping) sends N messages in a burst, which the
    // default buffer would mostly drop (real spokes each get one).
    for sock in [&v4, &v4n] {
        esp_io::sockopt::deep_recv_buffer(sock, 16 << 20);
    }
    let local4 = SocketAddr::new(any4, a.port);
    let local4n = SocketAddr::new(any4, a.natt_port);
    let mut log: Box<dyn Write> = match &a.log {
        Some(p) => Box::new(BufWriter::new(File::create(p)?)),
        None => Box::new(io::sink()),
    };

    // All tunnel configurations are built before the clock starts.
    let mut all: Vec<TunnelConfig> = (0..a.n).map(|i| tunnel(&a, i)).collect();
    if a.ca.is_some() {
        // `authentication local|remote ecdsa-sig` (or rsa-sig, by the
        // key) with each spoke's own certificate.
        for (i, t) in all.iter_mut().enumerate() {
            let tp = match trustpoint(&a, i) {
                Ok(tp) => tp,
                Err(e) => {
                    return Err(io::Error::other(format!("spoke{i}: {e}")));
                }
            };
            let kind = match tp.key.as_ref().map(|k| k.kind()) {
                Some(KeyKind::Rsa(_)) => AuthKind::Rsa { pss: false },
                _ => AuthKind::Ecdsa,
            };
            t.auth_local = kind;
            t.auth_remote = vec![AuthKind::Ecdsa, AuthKind::Rsa { pss: false }];
            t.trustpoints = vec![tp];
            t.keys.clear();
        }
    }
    let mut engine = Engine::new(Box::new(SystemRandom::new()), a.port, a.natt_port);
    // Certificate validity is judged by this wall clock (a run is short).
    engine.set_wall_clock(Instant::now(), std::time::SystemTime::now());
    let mut cfg = EngineConfig::default();
    let mut added_at: Vec<Option<Instant>> = vec![None; a.n];
    let mut up_at: Vec<Option<Instant>> = vec![None; a.n];
    let mut spent = Spent::default();
    let mut c = Counts::default();
    let mut status: HashMap<usize, TunnelStatus> = HashMap::new();
    let mut b4 = vec![0u8; 65536];
    let mut b4n = vec![0u8; 65536];
    let mut gw = match &a.tun {
        Some(name) => Some(
            esp_gw::Gateway::new(name).map_err(|e| io::Error::other(format!("TUN {name}: {e}")))?,
        ),
        None => None,
    };

    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let mut deadline = t0 + a.timeout;
    let mut elapsed: Option<Duration> = None;
    // SIGTERM ends a hold early (and still prints the result).
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut usr1 = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())?;
    // Flapping: on, the flapping tunnels down now, the next change.
    let (mut flapping, mut flap_down, mut next_flap) = (false, false, None::<Instant>);
    let mut flap_cycles = 0u64;
    let mut cpu_up = 0.0;
    loop {
        // The window: add tunnels when enough slots are free.
        let configured = cfg.tunnels.len();
        let outstanding = configured - c.up;
        let free = a.window.saturating_sub(outstanding).min(a.n - configured);
        if free > 0 && (free >= a.refill || configured + free == a.n) {
            let now = Instant::now();
            for (i, t) in all[configured..configured + free].iter().enumerate() {
                cfg.tunnels.push(t.clone());
                added_at[configured + i] = Some(now);
            }
            let s = Instant::now();
            engine.set_config(cfg.clone(), now);
            spent.set_config += s.elapsed();
            spent.set_config_calls += 1;
        }
        if next_flap.is_some_and(|t| Instant::now() >= t) {
            let now = Instant::now();
            flap_down = !flap_down;
            for t in cfg.tunnels.iter_mut().take(a.flap_count) {
                t.shutdown = flap_down;
            }
            engine.set_config(cfg.clone(), now);
            flap_cycles += u64::from(flap_down);
            println!("FLAP cycle={flap_cycles} down={flap_down}");
            next_flap = if flapping {
                Some(now + Duration::from_secs_f64(a.flap_period / 2.0))
            } else {
                None
            };
        }
        flush(
            &mut engine,
            (&v4, &v4n),
            &mut log,
            &mut c,
            &mut up_at,
            &mut status,
            &mut gw,
        )
        .await;
        if elapsed.is_none() && (c.up >= a.n || Instant::now() >= deadline) {
            elapsed = Some(t0.elapsed());
            cpu_up = cpu_seconds() - cpu0;
            if a.hold.is_zero() {
                break;
            }
            println!(
                "UP secs={:.4} up={} last_addr={}",
                t0.elapsed().as_secs_f64(),
                c.up,
                c.addr_of
                    .get(&(a.n - 1))
                    .map_or("-".to_string(), |a| a.to_string())
            );
            deadline = Instant::now() + a.hold;
        } else if elapsed.is_some() && Instant::now() >= deadline {
            break;
        }

        let s = Instant::now();
        let next = engine.poll_timeout();
        spent.poll_timeout += s.elapsed();
        spent.poll_timeout_calls += 1;
        let wake = [next, next_flap]
            .into_iter()
            .flatten()
            .fold(deadline, |w, t| w.min(t));
        let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(wake));
        tokio::select! {
            r = v4.recv_from(&mut b4) => if let Ok((n, from)) = r {
                let s = Instant::now();
                engine.handle_datagram(Instant::now(), local4, from, false, &b4[..n]);
                spent.handle_datagram += s.elapsed();
                spent.datagrams_in += 1;
            },
            r = v4n.recv_from(&mut b4n) => if let Ok((n, from)) = r {
                let d = &mut b4n[..n];
                if d.len() > 4 && d[..4] == NON_ESP_MARKER {
                    let s = Instant::now();
                    engine.handle_datagram(Instant::now(), local4n, from, true, &d[4..]);
                    spent.handle_datagram += s.elapsed();
                    spent.datagrams_in += 1;
                } else if d.len() > 8 {
                    if let Some(g) = gw.as_mut() {
                        g.udp_esp(d);
                    }
                }
            },
            _ = async {
                match gw.as_mut() {
                    Some(g) => g.ready(&v4n).await,
                    None => std::future::pending().await,
                }
            } => {},
            _ = usr1.recv() => {
                flapping = !flapping && a.flap_count > 0;
                // Stopping: the flapping tunnels come back up.
                next_flap = (flapping || flap_down).then(Instant::now);
            },
            _ = term.recv() => {
                if elapsed.is_none() {
                    elapsed = Some(t0.elapsed());
                    cpu_up = cpu_seconds() - cpu0;
                }
                break;
            },
            _ = sleep => {
                let s = Instant::now();
                engine.handle_timeout(Instant::now());
                spent.handle_timeout += s.elapsed();
                spent.timeouts += 1;
            }
        }
    }
    let elapsed = elapsed.unwrap_or_else(|| t0.elapsed());
    let cpu = cpu_up;
    log.flush()?;

    let mut lat: Vec<Duration> = (0..a.n)
        .filter_map(|i| Some(up_at[i]?.saturating_duration_since(added_at[i]?)))
        .collect();
    lat.sort();
    // With --cp every spoke must also have been given its own address.
    let ok = c.up >= a.n && (!a.cp || c.addresses.len() >= a.n);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "RESULT ok={} n={} up={} secs={:.4} rate={:.1} cpu={:.3} window={} refill={} \
         sent={} sent_bytes={} received={} cookies={} failed={} down_after_up={} \
         lat_p50_ms={:.1} lat_p99_ms={:.1} lat_max_ms={:.1} \
         set_config_ms={:.1} set_config_calls={} poll_timeout_ms={:.1} poll_timeout_calls={} \
         handle_datagram_ms={:.1} handle_timeout_ms={:.1} timeouts={} log_lines={} \
         addressed={} distinct_addresses={} {}",
        u8::from(ok),
        a.n,
        c.up,
        elapsed.as_secs_f64(),
        c.up as f64 / elapsed.as_secs_f64(),
        cpu,
        a.window,
        a.refill,
        c.sent,
        c.sent_bytes,
        spent.datagrams_in,
        c.cookies,
        c.failed,
        c.down_after_up,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        percentile(&lat, 1.0),
        ms(spent.set_config),
        spent.set_config_calls,
        ms(spent.poll_timeout),
        spent.poll_timeout_calls,
        ms(spent.handle_datagram),
        ms(spent.handle_timeout),
        spent.timeouts,
        c.log_lines,
        c.addressed,
        c.addresses.len(),
        gw.as_ref().map_or(String::new(), |g| format!(
            "esp_spokes={} {:?}",
            g.spokes(),
            g.stats
        )),
    );
    if !ok {
        let mut by: HashMap<String, usize> = HashMap::new();
        for s in status.values() {
            *by.entry(s.label()).or_default() += 1;
        }
        eprintln!(
            "ikeload: only {} of {} tunnels up after {:.1} s; status of the others: {by:?}",
            c.up,
            a.n,
            elapsed.as_secs_f64()
        );
    }
    Ok(ok)
}

/// As ike::driver's flush, counting instead of forwarding events.
async fn flush(
    engine: &mut Engine,
    (v4, v4n): (&UdpSocket, &UdpSocket),
    log: &mut Box<dyn Write>,
    c: &mut Counts,
    up_at: &mut [Option<Instant>],
    status: &mut HashMap<usize, TunnelStatus>,
    gw: &mut Option<esp_gw::Gateway>,
) {
    while let Some(line) = engine.poll_log() {
        c.log_lines += 1;
        if line.contains("asks for a COOKIE") {
            c.cookies += 1;
        }
        let _ = writeln!(log, "{line}");
    }
    while let Some(o) = engine.poll_output() {
        match o {
            Output::Send {
                remote, natt, data, ..
            } => {
                c.sent += 1;
                c.sent_bytes += data.len() as u64;
                send(v4, v4n, remote, natt, &data).await;
            }
            // No data plane here: every Child SA is "installed" at once,
            // which releases what the engine held back for it.
            Output::ChildUp(child) => {
                if let Some((addr, _)) = child.cp.local_addresses.first() {
                    c.addressed += 1;
                    c.addresses.insert(*addr);
                    if let Some(i) = tunnel_index(&child.tunnel) {
                        c.addr_of.insert(i, *addr);
                    }
                }
                let r = match gw.as_mut() {
                    Some(g) => g.child_up(&child),
                    None => Ok(()),
                };
                if let Err(e) = &r {
                    let _ = writeln!(log, "{}: ESP: {e}", child.tunnel);
                }
                engine.child_installed(child.spi_in, r, Instant::now())
            }
            Output::ChildDown {
                tunnel,
                spi_in,
                spi_out,
            } => {
                if let Some(g) = gw.as_mut() {
                    g.child_down(&tunnel, spi_in, spi_out);
                }
            }
            Output::ChildMoved(_) => {}
            Output::Status { tunnel, status: st } => {
                let Some(i) = tunnel_index(&tunnel) else {
                    continue;
                };
                match &st {
                    TunnelStatus::Up if up_at[i].is_none() => {
                        up_at[i] = Some(Instant::now());
                        c.up += 1;
                    }
                    TunnelStatus::Phase1Failed(_) | TunnelStatus::Phase2Failed(_) => {
                        c.failed += 1;
                        let _ = writeln!(log, "{tunnel}: {}", st.label());
                    }
                    TunnelStatus::Up if c.down_now.remove(&i) => {
                        c.up_again += 1;
                        println!(
                            "REUP n={} down={} unix={:.3}",
                            c.up_again,
                            c.down_now.len(),
                            std::time::SystemTime::now()
                                .duration_since(std::time::UNIX_EPOCH)
                                .map_or(0.0, |d| d.as_secs_f64())
                        );
                    }
                    TunnelStatus::Negotiating if up_at[i].is_some() && c.down_now.insert(i) => {
                        c.down_after_up += 1;
                    }
                    _ => {}
                }
                status.insert(i, st);
            }
        }
    }
}

fn main() -> ExitCode {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ikeload: runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(a)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(3),
        Err(e) => {
            eprintln!("ikeload: {e}");
            ExitCode::from(1)
        }
    }
}
