//! A fast BGP route injector built on [`bgp::wire`] (no session FSM): for
//! benchmarks (benches/bgp-ingest.sh) and interop tests
//! (tests/interop_bgp.rs). It lives in rvpnd's package, not in `bgp`'s,
//! so that the `bgp` crate needs no tokio, not even for its examples.
//!
//! Each session connects to the peer (retrying refused connections), sends
//! an OPEN (4-octet AS, multiprotocol IPv4 unicast, route refresh), waits
//! for the peer's OPEN and KEEPALIVE, announces `--count` distinct IPv4
//! prefixes (`base + i * 2^(32 - prefix-len)`) packed into as few UPDATEs
//! as fit with [`UpdateBuilder`] (ORIGIN IGP, AS_PATH `[local-as]` (empty
//! for iBGP, with LOCAL_PREF 100), NEXT_HOP `--next-hop` or the local
//! address), then the End-of-RIB marker. With `--sessions K` it opens K
//! sessions from K source addresses (`--source`, then `--source-step`
//! apart; router ids likewise), session `s` announcing prefixes `s *
//! count ..` so that all are distinct.
//!
//! stdout, one JSON object a line (times in ms since the injector
//! started; `start_unix_ms` anchors them to the wall clock):
//! - per session, once it has written everything: `{"session":S,
//!   "source":..,"established_at_ms":..,"first_update_at_ms":..,
//!   "sent_all_at_ms":..,"prefixes":..,"messages":..,"bytes":..,
//!   "start_unix_ms":..}`;
//! - once every session has: `{"all":true,"sessions":K,
//!   "established_at_ms":<first>,"sent_all_at_ms":<last>,"prefixes":..,
//!   "start_unix_ms":..}`;
//! - `{"session":0,"malformed_sent_at_ms":..,..}` and
//!   `{"session":S,"withdrawn_at_ms":..}` for the options below.
//!
//! Then every session stays up, sending KEEPALIVEs and reading (and
//! ignoring) what the peer sends, until the injector is killed or
//! `--withdraw-after` passes. A NOTIFICATION from the peer or a closed
//! connection is reported on stderr (JSON) and makes the exit status 1.
//!
//! Options:
//!
//! ```text
//! --peer ADDR[:PORT]       peer (port 179); IPv6 as [ADDR]:PORT or ADDR
//! --local-as N --peer-as N --router-id A
//! --count N                prefixes per session (default 1000)
//! --base A --prefix-len L  first prefix and length (default 10.0.0.0/24)
//! --next-hop A             NEXT_HOP (default: the session's local address)
//! --source A               bind to this local address
//! --sessions K             sessions (default 1), from --source + s * --source-step
//! --source-step N          (default 1)
//! --hold S                 hold time offered (default 90)
//! --malformed-med P        after --malformed-after seconds, session 0 sends
//!                          an UPDATE for prefix P whose MULTI_EXIT_DISC has
//!                          length 2 (RFC 7606: treat-as-withdraw)
//! --malformed-origin P     the same with an ORIGIN of length 2
//! --malformed-after S      (default 3, counted from End-of-RIB)
//! --withdraw-after S       withdraw every prefix S seconds after End-of-RIB,
//!                          then close with Cease/Administrative Shutdown and exit
//! --connect-timeout S      give up connecting after S seconds (default 30)
//! --sync                   announce only once every session is established
//!                          (or has failed): the UPDATEs of all sessions start
//!                          together (benchmarks: receivers accept a burst of
//!                          connections at different speeds)
//! --reconnect              a session that ends (NOTIFICATION, closed
//!                          connection, hold timer) connects again a second
//!                          later and announces its prefixes again, printing
//!                          its line again, as a real speaker would; the
//!                          injector then runs until killed
//! ```
//!
//! `cargo run --release -p bgp --example inject -- --peer 10.0.0.2 \
//!  --local-as 65100 --peer-as 65000 --router-id 10.0.0.1 --count 1000000`

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bgp::wire::*;
use ipnetwork::Ipv4Network;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, Barrier};

/// Prefixes generated and packed per batch (bounds memory at any count).
const BATCH: usize = 65_536;

#[derive(Debug, Clone)]
struct Args {
    peer: SocketAddr,
    local_as: u32,
    peer_as: u32,
    router_id: Ipv4Addr,
    count: u64,
    base: Ipv4Addr,
    prefix_len: u8,
    next_hop: Option<Ipv4Addr>,
    source: Option<IpAddr>,
    sessions: u32,
    source_step: u32,
    hold: u16,
    malformed: Option<(Malformed, Ipv4Network)>,
    malformed_after: f64,
    withdraw_after: Option<f64>,
    connect_timeout: f64,
    sync: bool,
    reconnect: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Malformed {
    Med,
    Origin,
}

const USAGE: &str = "usage: inject --peer ADDR[:PORT] --local-as N --peer-as N --router-id A \
[--count N] [--base A] [--prefix-len L] [--next-hop A] [--source A] [--sessions K] \
[--source-step N] [--hold S] [--malformed-med P | --malformed-origin P] [--malformed-after S] \
[--withdraw-after S] [--connect-timeout S] [--sync] [--reconnect]  (see the top of bgp/examples/inject.rs)";

fn parse_args() -> Result<Args, String> {
    let mut peer = None;
    let mut local_as = None;
    let mut peer_as = None;
    let mut router_id = None;
    let mut a = Args {
        peer: SocketAddr::from(([0, 0, 0, 0], 179)),
        local_as: 0,
        peer_as: 0,
        router_id: Ipv4Addr::UNSPECIFIED,
        count: 1000,
        base: Ipv4Addr::new(10, 0, 0, 0),
        prefix_len: 24,
        next_hop: None,
        source: None,
        sessions: 1,
        source_step: 1,
        hold: 90,
        malformed: None,
        malformed_after: 3.0,
        withdraw_after: None,
        connect_timeout: 30.0,
        sync: false,
        reconnect: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.into());
        }
        if flag == "--sync" {
            a.sync = true;
            continue;
        }
        if flag == "--reconnect" {
            a.reconnect = true;
            continue;
        }
        let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {v}: {e}");
        match flag.as_str() {
            "--peer" => {
                peer = Some(match v.parse::<SocketAddr>() {
                    Ok(s) => s,
                    Err(_) => match v.parse::<IpAddr>() {
                        Ok(ip) => SocketAddr::new(ip, 179),
                        Err(_) => {
                            let (h, p) = v.rsplit_once(':').ok_or_else(|| bad(&"bad address"))?;
                            let ip: IpAddr = h.parse().map_err(|e| bad(&e))?;
                            SocketAddr::new(ip, p.parse().map_err(|e| bad(&e))?)
                        }
                    },
                })
            }
            "--local-as" => local_as = Some(v.parse().map_err(|e| bad(&e))?),
            "--peer-as" => peer_as = Some(v.parse().map_err(|e| bad(&e))?),
            "--router-id" => router_id = Some(v.parse().map_err(|e| bad(&e))?),
            "--count" => a.count = v.parse().map_err(|e| bad(&e))?,
            "--base" => a.base = v.parse().map_err(|e| bad(&e))?,
            "--prefix-len" => a.prefix_len = v.parse().map_err(|e| bad(&e))?,
            "--next-hop" => a.next_hop = Some(v.parse().map_err(|e| bad(&e))?),
            "--source" => a.source = Some(v.parse().map_err(|e| bad(&e))?),
            "--sessions" => a.sessions = v.parse().map_err(|e| bad(&e))?,
            "--source-step" => a.source_step = v.parse().map_err(|e| bad(&e))?,
            "--hold" => a.hold = v.parse().map_err(|e| bad(&e))?,
            "--malformed-med" | "--malformed-origin" => {
                let kind = if flag == "--malformed-med" {
                    Malformed::Med
                } else {
                    Malformed::Origin
                };
                a.malformed = Some((kind, v.parse().map_err(|e| bad(&e))?));
            }
            "--malformed-after" => a.malformed_after = v.parse().map_err(|e| bad(&e))?,
            "--withdraw-after" => a.withdraw_after = Some(v.parse().map_err(|e| bad(&e))?),
            "--connect-timeout" => a.connect_timeout = v.parse().map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    a.peer = peer.ok_or("--peer is required")?;
    a.local_as = local_as.ok_or("--local-as is required")?;
    a.peer_as = peer_as.ok_or("--peer-as is required")?;
    a.router_id = router_id.ok_or("--router-id is required")?;
    if a.prefix_len > 32 || a.sessions == 0 || a.count == 0 {
        return Err("need --prefix-len 0..=32, --sessions and --count > 0".into());
    }
    if a.hold != 0 && a.hold < 3 {
        return Err("--hold must be 0 or at least 3".into());
    }
    let step = 1u64 << (32 - a.prefix_len);
    let last = u64::from(u32::from(a.base)) + (u64::from(a.sessions) * a.count - 1) * step;
    if last > u64::from(u32::MAX) {
        return Err(format!(
            "{} x {} /{} prefixes from {} run past 255.255.255.255",
            a.sessions, a.count, a.prefix_len, a.base
        ));
    }
    if a.peer.is_ipv6() && a.next_hop.is_none() {
        return Err("an IPv6 peer needs --next-hop (an IPv4 address)".into());
    }
    Ok(a)
}

/// `ip + n` (IPv4 or IPv6).
fn add_ip(ip: IpAddr, n: u32) -> IpAddr {
    match ip {
        IpAddr::V4(v) => IpAddr::V4(Ipv4Addr::from(u32::from(v).wrapping_add(n))),
        IpAddr::V6(v) => IpAddr::V6(std::net::Ipv6Addr::from(
            u128::from(v).wrapping_add(u128::from(n)),
        )),
    }
}

/// What sessions report to main.
enum Event {
    Sent {
        established_ms: f64,
        sent_ms: f64,
        prefixes: u64,
    },
}

struct Clock {
    start: Instant,
    start_unix_ms: u128,
}

impl Clock {
    fn ms(&self) -> f64 {
        self.start.elapsed().as_secs_f64() * 1000.0
    }
}

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tokio runtime: {e}");
            return ExitCode::from(2);
        }
    };
    rt.block_on(run(args))
}

async fn run(args: Args) -> ExitCode {
    let clock = Arc::new(Clock {
        start: Instant::now(),
        start_unix_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0),
    });
    let args = Arc::new(args);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    let barrier = Arc::new(Barrier::new(args.sessions as usize));
    for s in 0..args.sessions {
        let (args, clock, tx) = (args.clone(), clock.clone(), tx.clone());
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let mut b = args.sync.then_some(&*barrier);
            let mut first = Some(tx);
            loop {
                // Only the first attempt counts towards the summary.
                let events = first.take().unwrap_or_else(|| mpsc::unbounded_channel().0);
                let r = session(s, &args, &clock, events, b.take()).await;
                if let Err(e) = &r {
                    let msg = format!("{e}").replace('\\', "\\\\").replace('"', "'");
                    eprintln!(
                        "{{\"session\":{s},\"error\":\"{msg}\",\"at_ms\":{:.1}}}",
                        clock.ms()
                    );
                }
                if r.is_ok() || !args.reconnect {
                    break r.is_ok();
                }
                // As a speaker's ConnectRetry after a session ended.
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }));
    }
    drop(tx);
    // Summary once every session has sent everything (or failed).
    let (mut n, mut first_est, mut last_sent, mut total) = (0, f64::MAX, 0f64, 0u64);
    while let Some(Event::Sent {
        established_ms,
        sent_ms,
        prefixes,
    }) = rx.recv().await
    {
        n += 1;
        first_est = first_est.min(established_ms);
        last_sent = last_sent.max(sent_ms);
        total += prefixes;
        if n == args.sessions {
            println!(
                "{{\"all\":true,\"sessions\":{n},\"established_at_ms\":{first_est:.1},\
                 \"sent_all_at_ms\":{last_sent:.1},\"prefixes\":{total},\"start_unix_ms\":{}}}",
                clock.start_unix_ms
            );
        }
    }
    let mut ok = true;
    for t in tasks {
        ok &= t.await.unwrap_or(false);
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn connect(
    local: Option<IpAddr>,
    peer: SocketAddr,
    timeout: f64,
) -> Result<TcpStream, Error> {
    let deadline = Instant::now() + Duration::from_secs_f64(timeout);
    loop {
        let sock = if peer.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if let Some(ip) = local {
            sock.bind(SocketAddr::new(ip, 0))?;
        }
        // One attempt waits at most ATTEMPT: a SYN sent while the path
        // was down (a spoke's tunnel flapping) would otherwise wait out
        // the kernel's SYN backoff (a minute and more) after it is back.
        const ATTEMPT: Duration = Duration::from_secs(3);
        let r = match tokio::time::timeout(ATTEMPT, sock.connect(peer)).await {
            Ok(r) => r,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no answer to the SYN",
            )),
        };
        match r {
            Ok(s) => {
                s.set_nodelay(true)?;
                return Ok(s);
            }
            Err(e) if Instant::now() < deadline => {
                // Refused (not listening yet) or unreachable: retry.
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(format!("connect to {peer}: {e}").into()),
        }
    }
}

/// Reads whole messages; `buf` keeps what is left over.
async fn read_message(
    r: &mut OwnedReadHalf,
    buf: &mut Vec<u8>,
    ctx: &Ctx,
) -> Result<Message, Error> {
    loop {
        if let Some(len) = frame(buf).map_err(|e| format!("bad message from peer: {e:?}"))? {
            let msg = Message::parse(&buf[..len], ctx);
            buf.drain(..len);
            return msg.map_err(|e| format!("unparsable message from peer: {e:?}").into());
        }
        let mut chunk = [0u8; 65536];
        let n = r.read(&mut chunk).await?;
        if n == 0 {
            return Err("connection closed by peer".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn notification_text(n: &Notification) -> String {
    format!(
        "NOTIFICATION code {} subcode {} ({}) data {:02x?}",
        n.code.0,
        n.subcode,
        n.subcode_name().unwrap_or("?"),
        n.data
    )
}

/// The address of prefix `i` (global index).
fn prefix(args: &Args, i: u64) -> Nlri4 {
    let step = 1u64 << (32 - args.prefix_len);
    let addr = (u64::from(u32::from(args.base)) + i * step) as u32;
    // In range: checked in parse_args; the length is at most 32.
    let net = Ipv4Network::new(Ipv4Addr::from(addr), args.prefix_len)
        .unwrap_or_else(|_| Ipv4Network::from(Ipv4Addr::from(addr)));
    Nlri::new(net)
}

/// A session's setup failed: worth trying again (the peer reset or
/// closed it), or not (a configuration mismatch).
enum Setup {
    Retry(Error),
    Fatal(Error),
}

impl<E: Into<Error>> From<E> for Setup {
    fn from(e: E) -> Self {
        Setup::Retry(e.into())
    }
}

/// What an established session hands on: the halves of the stream, what
/// was read past the KEEPALIVE, both directions' contexts, the hold time,
/// our address and when the session came up (ms).
type Established = (
    OwnedReadHalf,
    OwnedWriteHalf,
    Vec<u8>,
    Ctx,
    Ctx,
    u16,
    SocketAddr,
    f64,
);

/// Connects session `s` and exchanges OPEN and KEEPALIVE.
async fn establish(s: u32, args: &Args, clock: &Clock) -> Result<Established, Setup> {
    let local = args.source.map(|ip| add_ip(ip, s * args.source_step));
    let stream = connect(local, args.peer, args.connect_timeout).await?;
    let local_addr = stream.local_addr()?;
    let (mut r, mut w) = stream.into_split();

    let router_id = Ipv4Addr::from(u32::from(args.router_id).wrapping_add(s));
    let open = Open::new(
        args.local_as,
        args.hold,
        router_id,
        vec![
            Capability::Multiprotocol(Family::IPV4_UNICAST),
            Capability::RouteRefresh,
        ],
    );
    let mut out = Vec::new();
    Message::Open(open.clone()).emit(&Ctx::default(), &mut out)?;
    w.write_all(&out).await?;

    // OPEN, then KEEPALIVE.
    let mut buf = Vec::new();
    let peer_open = match read_message(&mut r, &mut buf, &Ctx::default()).await? {
        Message::Open(o) => o,
        Message::Notification(n) => return Err(notification_text(&n).into()),
        m => return Err(format!("expected OPEN, got {:?}", m.msg_type()).into()),
    };
    if peer_open.asn() != args.peer_as {
        let mut out = Vec::new();
        Notification::new(
            ErrorCode::OPEN_MESSAGE_ERROR,
            subcode::open::BAD_PEER_AS,
            [],
        )
        .emit(&mut out)?;
        let _ = w.write_all(&out).await;
        return Err(Setup::Fatal(
            format!("peer is AS {}, not {}", peer_open.asn(), args.peer_as).into(),
        ));
    }
    let (rx_ctx, tx_ctx) = Ctx::negotiate(&open, &peer_open);
    w.write_all(&KEEPALIVE).await?;
    match read_message(&mut r, &mut buf, &rx_ctx).await? {
        Message::Keepalive => {}
        Message::Notification(n) => return Err(notification_text(&n).into()),
        m => return Err(format!("expected KEEPALIVE, got {:?}", m.msg_type()).into()),
    }
    let established_ms = clock.ms();
    let hold = args.hold.min(peer_open.hold_time);
    Ok((r, w, buf, rx_ctx, tx_ctx, hold, local_addr, established_ms))
}

async fn session(
    s: u32,
    args: &Args,
    clock: &Clock,
    events: mpsc::UnboundedSender<Event>,
    barrier: Option<&Barrier>,
) -> Result<(), Error> {
    // Connect and exchange OPENs; with --sync, wait for every session
    // (failed ones included) before announcing anything. A peer that is
    // not ready yet (FRR's bgpd before zebra told it its interfaces resets
    // the session with a NOTIFICATION) is tried again until the connect
    // timeout, as a BGP speaker's ConnectRetry would.
    let deadline = Instant::now() + Duration::from_secs_f64(args.connect_timeout);
    // A peer that took the connection but never answers the OPEN (its
    // side closed while the path was down, and the FIN was lost) is given
    // up after OPEN_WAIT and connected again (RFC 4271's OpenSent hold
    // time is 4 minutes; a generator has no reason to wait that long).
    const OPEN_WAIT: Duration = Duration::from_secs(30);
    let setup = loop {
        let attempt = match tokio::time::timeout(OPEN_WAIT, establish(s, args, clock)).await {
            Ok(r) => r,
            Err(_) => Err(Setup::Retry(
                "no OPEN and KEEPALIVE from the peer within 30 s".into(),
            )),
        };
        match attempt {
            Err(Setup::Retry(e)) if Instant::now() < deadline => {
                eprintln!("session {s}: {e}; connecting again");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(Setup::Retry(e) | Setup::Fatal(e)) => break Err(e),
            Ok(up) => break Ok(up),
        }
    };
    if let Some(b) = barrier {
        b.wait().await;
    }
    let (mut r, mut w, mut buf, rx_ctx, tx_ctx, hold, local_addr, established_ms) = setup?;

    // From here on a task reads and discards; it ends on a NOTIFICATION
    // or a closed connection.
    // The hold timer (RFC 4271 6.5): a peer silent for the hold time is
    // gone (a path that went down takes no RST with it).
    let hold_for = Duration::from_secs(if hold == 0 { 1 << 30 } else { u64::from(hold) });
    let reader = tokio::spawn(async move {
        loop {
            match tokio::time::timeout(hold_for, read_message(&mut r, &mut buf, &rx_ctx)).await {
                Err(_) => return "hold timer expired".to_string(),
                Ok(Ok(Message::Notification(n))) => return notification_text(&n),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return e.to_string(),
            }
        }
    });

    let ibgp = args.local_as == args.peer_as;
    let next_hop = match (args.next_hop, local_addr.ip()) {
        (Some(nh), _) => nh,
        (None, IpAddr::V4(v)) => v,
        (None, IpAddr::V6(_)) => return Err("an IPv6 session needs --next-hop".into()),
    };
    let attrs = PathAttrs {
        origin: Some(Origin::Igp),
        as_path: Some(if ibgp {
            AsPath::default()
        } else {
            AsPath::sequence([args.local_as])
        }),
        next_hop: Some(next_hop),
        local_pref: ibgp.then_some(100),
        ..PathAttrs::default()
    };
    let builder = UpdateBuilder::ipv4_unicast(&attrs, &tx_ctx)?;
    let first = u64::from(s) * args.count;
    let first_update_ms = clock.ms();
    let (mut messages, mut bytes) = (0usize, 0usize);
    let mut out = Vec::with_capacity(1 << 20);
    let mut batch: Vec<Nlri4> = Vec::with_capacity(BATCH.min(args.count as usize));
    let mut i = 0u64;
    while i < args.count {
        let n = (args.count - i).min(BATCH as u64);
        batch.clear();
        batch.extend((i..i + n).map(|k| prefix(args, first + k)));
        out.clear();
        messages += builder.announce(&batch, &mut out)?;
        bytes += out.len();
        w.write_all(&out).await?;
        i += n;
    }
    out.clear();
    Message::Update(Box::new(Update::end_of_rib(Family::IPV4_UNICAST))).emit(&tx_ctx, &mut out)?;
    w.write_all(&out).await?;
    let sent_ms = clock.ms();
    println!(
        "{{\"session\":{s},\"source\":\"{}\",\"established_at_ms\":{established_ms:.1},\
         \"first_update_at_ms\":{first_update_ms:.1},\"sent_all_at_ms\":{sent_ms:.1},\
         \"prefixes\":{},\"messages\":{messages},\"bytes\":{bytes},\"hold\":{hold},\
         \"start_unix_ms\":{}}}",
        local_addr.ip(),
        args.count,
        clock.start_unix_ms
    );
    let _ = events.send(Event::Sent {
        established_ms,
        sent_ms,
        prefixes: args.count,
    });
    drop(events);

    keep_alive(s, args, clock, &mut w, reader, hold, &tx_ctx, next_hop).await
}

/// One UPDATE for `p` with a malformed attribute (length 2 where 4 resp.
/// 1 is due), built by hand: the wire module only emits valid ones.
fn malformed_update(
    kind: Malformed,
    p: Ipv4Network,
    args: &Args,
    next_hop: Ipv4Addr,
    ctx: &Ctx,
) -> Result<Vec<u8>, Error> {
    let ibgp = args.local_as == args.peer_as;
    let attrs = PathAttrs {
        origin: (kind != Malformed::Origin).then_some(Origin::Igp),
        as_path: Some(if ibgp {
            AsPath::default()
        } else {
            AsPath::sequence([args.local_as])
        }),
        next_hop: Some(next_hop),
        local_pref: ibgp.then_some(100),
        ..PathAttrs::default()
    };
    let mut a = Vec::new();
    match kind {
        // ORIGIN (well-known, transitive) with two octets.
        Malformed::Origin => a.extend_from_slice(&[FLAG_TRANSITIVE, 1, 2, 0, 0]),
        Malformed::Med => {}
    }
    attrs.emit(ctx, &mut a)?;
    if kind == Malformed::Med {
        // MULTI_EXIT_DISC (optional, non-transitive) with two octets.
        a.extend_from_slice(&[FLAG_OPTIONAL, 4, 2, 0, 50]);
    }
    let mut nlri = Vec::new();
    emit_nlri(&[Nlri::new(p)], false, &mut nlri);
    let len = HEADER_LEN + 2 + 2 + a.len() + nlri.len();
    let mut m = Vec::with_capacity(len);
    Header {
        length: u16::try_from(len)?,
        msg_type: MessageType::UPDATE,
    }
    .emit(&mut m);
    m.extend_from_slice(&0u16.to_be_bytes());
    m.extend_from_slice(&u16::try_from(a.len())?.to_be_bytes());
    m.extend_from_slice(&a);
    m.extend_from_slice(&nlri);
    Ok(m)
}

#[allow(clippy::too_many_arguments)]
async fn keep_alive(
    s: u32,
    args: &Args,
    clock: &Clock,
    w: &mut OwnedWriteHalf,
    mut reader: tokio::task::JoinHandle<String>,
    hold: u16,
    ctx: &Ctx,
    next_hop: Ipv4Addr,
) -> Result<(), Error> {
    let far = Duration::from_secs(10 * 365 * 86400);
    let every = if hold == 0 {
        far
    } else {
        Duration::from_secs(u64::from(hold / 3).max(1))
    };
    let mut ka = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let now = tokio::time::Instant::now();
    let mut malformed = args.malformed.filter(|_| s == 0);
    let mal_at = now + Duration::from_secs_f64(args.malformed_after.max(0.0));
    let wd_at = now
        + args
            .withdraw_after
            .map_or(far, |t| Duration::from_secs_f64(t.max(0.0)));
    loop {
        tokio::select! {
            _ = ka.tick() => w.write_all(&KEEPALIVE).await?,
            _ = tokio::time::sleep_until(mal_at), if malformed.is_some() => {
                if let Some((kind, p)) = malformed.take() {
                    let m = malformed_update(kind, p, args, next_hop, ctx)?;
                    w.write_all(&m).await?;
                    let mut hex = String::new();
                    for b in &m {
                        let _ = write!(hex, "{b:02x}");
                    }
                    println!(
                        "{{\"session\":{s},\"malformed_sent_at_ms\":{:.1},\"kind\":\"{}\",\
                         \"prefix\":\"{p}\",\"message\":\"{hex}\"}}",
                        clock.ms(),
                        if kind == Malformed::Med { "med" } else { "origin" },
                    );
                }
            }
            _ = tokio::time::sleep_until(wd_at) => {
                let first = u64::from(s) * args.count;
                let mut out = Vec::new();
                let mut i = 0u64;
                let mut batch = Vec::new();
                while i < args.count {
                    let n = (args.count - i).min(BATCH as u64);
                    batch.clear();
                    batch.extend((i..i + n).map(|k| prefix(args, first + k)));
                    out.clear();
                    UpdateBuilder::withdraw(Family::IPV4_UNICAST, &batch, ctx, &mut out)?;
                    w.write_all(&out).await?;
                    i += n;
                }
                println!("{{\"session\":{s},\"withdrawn_at_ms\":{:.1}}}", clock.ms());
                tokio::time::sleep(Duration::from_secs(1)).await;
                out.clear();
                Notification::cease(subcode::cease::ADMINISTRATIVE_SHUTDOWN).emit(&mut out)?;
                w.write_all(&out).await?;
                w.shutdown().await?;
                reader.abort();
                return Ok(());
            }
            r = &mut reader => {
                let why = r.unwrap_or_else(|e| format!("reader: {e}"));
                return Err(format!("session ended: {why}").into());
            }
        }
    }
}
