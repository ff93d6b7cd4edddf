//! `rvpnd`, the rvpn daemon: loads the startup configuration, serves the
//! vtysh protocol on a Unix socket, applies configuration changes as diffs,
//! persists them on `write memory` and reloads the startup file on SIGHUP.
//!
//! One task owns all daemon state ([`daemon::Daemon`]); connection tasks
//! ([`server`]) and the signal handler talk to it over a channel. Every
//! long-lived task is supervised ([`supervise`]): one that ends without
//! being asked to stops rvpnd with exit status 1.

mod bfd_task;
mod bgp;
mod daemon;
mod dataplane;
mod iface;
mod ike_config;
mod ike_cp;
mod info;
mod persist;
mod pki;
mod redact;
mod routing;
mod sa_events;
mod server;
mod show;
mod show_crypto;
mod show_pki;
mod show_va;
mod supervise;
mod updown;

use clap::Parser;
use daemon::{ask_within, AskError};
use dataplane::Dataplane;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use supervise::{End, Exit, Reporter, Supervisor};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};
use tracing::{debug, error, info, warn};
use tracing_subscriber::EnvFilter;

/// Command line of rvpnd.
#[derive(Debug, Parser)]
#[command(
    name = "rvpnd",
    version,
    about = "rvpn daemon: route-based IPsec VPN router"
)]
struct Args {
    /// Startup configuration file (created by `write memory` if missing).
    #[arg(
        short = 'f',
        long = "config-file",
        value_name = "FILE",
        default_value = "/etc/rvpn/rvpnd.conf"
    )]
    config: PathBuf,
    /// Control socket path [default: $RVPN_SOCKET, else /run/rvpn/rvpnd.sock].
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Data plane to use.
    #[arg(long, value_enum, default_value_t = Dataplane::Auto)]
    dataplane: Dataplane,
    /// UDP port for IKE (0: any free port, for tests).
    #[arg(
        long,
        value_name = "PORT",
        env = "RVPN_IKE_PORT",
        default_value_t = 500
    )]
    ike_port: u16,
    /// UDP port for IKE and ESP after NAT detection.
    #[arg(
        long,
        value_name = "PORT",
        env = "RVPN_NATT_PORT",
        default_value_t = 4500
    )]
    natt_port: u16,
    /// TCP port of the BGP speaker (listening, and connecting unless a
    /// neighbor has `port`).
    #[arg(
        long,
        value_name = "PORT",
        env = "RVPN_BGP_PORT",
        default_value_t = 179
    )]
    bgp_port: u16,
    /// Write no routes to the kernel and keep BGP's routes out of the
    /// routing table (as FRR's `bgpd -n`): for benchmarks and for hosts
    /// where another daemon owns the routes. `show ip route` still lists
    /// connected and static routes, marked not installed.
    #[arg(long)]
    no_kernel_routes: bool,
}

/// Large allocations (above 256 KiB) straight from mmap, returned to the
/// system when freed: glibc otherwise raises its mmap threshold after
/// each large free, up to 32 MiB, and keeps what transient batches of a
/// full table freed in its per-thread arenas, where the next batch on
/// another thread does not reuse it (1M prefixes to the kernel peaked at
/// 191-196 MB RSS with the default, 149-151 MB with this; the same as one
/// arena, which would serialise every thread's allocations;
/// `benches/bgp-ingest.sh` with FIB=1). An operator's
/// `MALLOC_MMAP_THRESHOLD_` or `GLIBC_TUNABLES` wins.
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none()
        && std::env::var_os("GLIBC_TUNABLES").is_none()
    {
        // SAFETY: mallopt only sets a tunable of the allocator; it is
        // called before any other thread exists.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        }
    }
}

fn main() -> ExitCode {
    tune_malloc();
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    supervise::install_panic_hook();

    let running = match persist::load_startup(&args.config) {
        Ok(Some(cfg)) => {
            info!(file = %args.config.display(), interfaces = cfg.interfaces.len(), "startup configuration loaded");
            cfg
        }
        Ok(None) => {
            info!(file = %args.config.display(), "startup configuration not found; starting with an empty configuration");
            vtysh::Config::default()
        }
        Err(e) => {
            eprintln!("rvpnd: {}", e.report(&args.config));
            return ExitCode::from(1);
        }
    };
    let socket = args
        .socket
        .clone()
        .unwrap_or_else(vtysh::protocol::socket_path);

    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rvpnd: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let info = info::Info {
        startup: args.config,
        socket,
        dataplane: args.dataplane,
        started: std::time::Instant::now(),
    };
    let ports = ike::driver::DriverConfig {
        port: args.ike_port,
        natt_port: args.natt_port,
    };
    let code = rt.block_on(run(
        info,
        running,
        ports,
        args.bgp_port,
        !args.no_kernel_routes,
    ));
    rt.shutdown_timeout(Duration::from_secs(1));
    code
}

/// Bind the socket, start every task under a [`Supervisor`], and wait:
/// SIGHUP reloads; SIGTERM/SIGINT stop rvpnd (status 0); a task that ends
/// without being asked to stops it with status 1.
async fn run(
    info: info::Info,
    running: vtysh::Config,
    ports: ike::driver::DriverConfig,
    bgp_port: u16,
    kernel_routes: bool,
) -> ExitCode {
    let mut signals = match (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(h), Ok(t), Ok(i)) => (h, t, i),
        _ => {
            eprintln!("rvpnd: cannot install signal handlers");
            return ExitCode::from(1);
        }
    };
    let bound = match server::bind(&info.socket) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("rvpnd: {e}");
            return ExitCode::from(1);
        }
    };
    info!(socket = %info.socket.display(), dataplane = info.dataplane.name(), "rvpnd {} listening", env!("CARGO_PKG_VERSION"));

    let mut sup = Supervisor::new();
    let tasks = sup.reporter();
    let (tx, rx) = mpsc::channel(64);
    // The running configuration as the other tasks see it (BGP and BFD
    // follow it, SA events read it).
    let (published, running_rx) = watch::channel(Arc::new(vtysh::Config::default()));
    // IKE runs in its own task; if its ports cannot be opened the daemon
    // still serves the shell and says why tunnels cannot negotiate.
    let (ike_tx, ike_rx) = mpsc::channel(64);
    let (ike_cfg_tx, ike_cfg_rx) = watch::channel(ike::sa::config::EngineConfig::default());
    let (rekey_tx, rekey_rx) = mpsc::unbounded_channel();
    let (map_tx, map_rx) = mpsc::unbounded_channel();
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let (dp_tx, dp_rx) = mpsc::unbounded_channel();
    let (heard_tx, heard_rx) = mpsc::unbounded_channel();
    let planes = open_planes(&tasks, info.dataplane, ports, dp_rx, rekey_tx, map_tx).await;
    let ike_runs = match planes {
        Ok((socks, dp)) => {
            info!(
                port = ports.port,
                natt_port = ports.natt_port,
                "IKE listening"
            );
            tasks.spawn("dataplane", dp);
            let control = ike::driver::Control {
                config: ike_cfg_rx,
                cmds: ike_rx,
                rekeys: rekey_rx,
                mappings: map_rx,
                heard: heard_rx,
            };
            tasks.spawn(
                "esp-heard",
                dataplane::heard::run(ike_cfg_tx.subscribe(), dp_tx.clone(), heard_tx),
            );
            tasks.spawn("ike", async move {
                if let Err(e) = ike::driver::run_with(socks, ports, control, ev_tx).await {
                    error!("IKE task failed: {e}");
                }
            });
            true
        }
        Err(e) => {
            error!(
                "IKE cannot open UDP ports {}/{}: {e}; tunnels will not negotiate",
                ports.port, ports.natt_port
            );
            false
        }
    };
    let (ike, ike_config, dp) = if ike_runs {
        (Some(ike_tx), Some(ike_cfg_tx), Some(dp_tx))
    } else {
        (None, None, None)
    };
    let (routes_tx, routes_rx) = mpsc::unbounded_channel();
    let rib = routing::start(&tasks, routes_rx, kernel_routes);
    let rib_ctl = rib.tx.clone();
    let leased = sa_events::Leased::default();
    let (tunnels_tx, tunnels_rx) = updown::channel();
    let (bfd_ev_tx, bfd_ev_rx) = updown::channel();
    // The dynamic neighbors BGP knows, for BFD's passive sessions.
    let (known_tx, known_rx) =
        tokio::sync::watch::channel(std::sync::Arc::new(std::collections::BTreeSet::new()));
    let bgp_tx = bgp::start(
        &tasks,
        bgp_port,
        kernel_routes.then_some(routes_tx),
        rib.interfaces.clone(),
        bgp::Inputs {
            config: running_rx.clone(),
            tunnels: tunnels_rx,
            bfd: bfd_ev_rx,
            leased: leased.clone(),
        },
        Some(known_tx),
    );
    let bfd_tx = bfd_task::start(
        &tasks,
        bfd_task::CONTROL_PORT,
        running_rx.clone(),
        Some(bfd_ev_tx),
        Some(known_rx),
    );
    let stops = Stops {
        bgp: bgp_tx.clone(),
        ike: ike.clone(),
        rib: rib.tx.clone(),
        dp: dp.clone(),
    };
    let daemon = daemon::Daemon::new(
        info,
        running,
        daemon::Links {
            ike,
            ike_config,
            published,
            dp: dp.clone(),
            bgp: Some(bgp_tx),
            rib: Some(rib),
            bfd: Some(bfd_tx),
        },
    );
    // Child SA installs and tunnel up/down go around the state owner, so a
    // request it is serving never holds them up.
    if ike_runs {
        let sa_events = sa_events::SaEvents {
            running: running_rx,
            dp,
            rib: Some(rib_ctl),
            bgp: Some(tunnels_tx),
            leased: leased.clone(),
        };
        tasks.spawn("sa-events", sa_events.run(ev_rx));
    }
    tasks.spawn("state-owner", daemon.run(rx));
    let server::Bound { listener, socket } = bound;
    tasks.spawn("server", server::serve(listener, tx.clone()));

    let (hup, term, int) = &mut signals;
    let mut code = ExitCode::SUCCESS;
    loop {
        tokio::select! {
            _ = hup.recv() => {
                info!("SIGHUP: reloading the startup configuration");
                let limit = daemon::ANSWER_TIMEOUT;
                match tokio::time::timeout(limit, tx.send(daemon::Msg::Reload)).await {
                    // A state owner that is gone is the supervisor's to report.
                    Ok(_) => {}
                    Err(_) => warn!("the state owner did not take the reload within {limit:?}; send SIGHUP again"),
                }
            }
            exit = sup.next() => {
                died(&mut sup, exit).await;
                code = ExitCode::from(1);
                break;
            }
            _ = term.recv() => { info!("SIGTERM: shutting down"); break; }
            _ = int.recv() => { info!("SIGINT: shutting down"); break; }
        }
    }
    stop(stops).await;
    socket.remove();
    // Tasks end while stopping, as asked; a panic meanwhile is still a
    // failure.
    for e in sup.drain() {
        if let End::Panicked(_) = e.end {
            error!(task = %e.task, "{e}");
            code = ExitCode::from(1);
        } else {
            debug!("{e}");
        }
    }
    code
}

/// A task ended without being asked to. Logs it, and whatever ended with
/// it (SA events end when IKE does) within a moment, panics first.
async fn died(sup: &mut Supervisor, first: Exit) {
    let mut exits = vec![first];
    let settle = tokio::time::sleep(Duration::from_millis(200));
    tokio::pin!(settle);
    loop {
        tokio::select! {
            e = sup.next() => exits.push(e),
            _ = &mut settle => break,
        }
    }
    // Stable: among panics (and among the rest) the first reported first.
    exits.sort_by_key(|e| !matches!(e.end, End::Panicked(_)));
    for e in &exits {
        error!(task = %e.task, "{e}");
    }
    error!(
        "rvpnd cannot go on without task {}: stopping with exit status 1, so that the service \
         manager restarts it (a start reconciles kernel routes and XFRM state)",
        exits[0].task
    );
}

/// What stopping talks to.
struct Stops {
    bgp: mpsc::Sender<bgp::Command>,
    ike: Option<mpsc::Sender<ike::driver::Command>>,
    rib: mpsc::UnboundedSender<routing::Command>,
    dp: Option<mpsc::UnboundedSender<dataplane::DpCommand>>,
}

/// How long each step of stopping may take.
const BGP_STOP: Duration = Duration::from_secs(2);
/// Sending every peer its Delete: ~1 s of CPU for 10,000 IKE SAs, longer
/// on a loaded machine (2 s was not always enough for 9,950 spokes).
const IKE_STOP: Duration = Duration::from_secs(10);
const RIB_STOP: Duration = Duration::from_secs(10);
const DP_STOP: Duration = Duration::from_secs(5);

/// Stop the tasks in order, each step bounded in time; a task that is
/// already gone (it died) is skipped.
async fn stop(s: Stops) {
    let logged = |what: &str, r: Result<(), AskError>| match r {
        Ok(()) => {}
        Err(AskError::NotRunning(who)) => warn!("{who} is not running; {what} skipped"),
        // ask_within logged the timeout.
        Err(AskError::Timeout(..)) => error!("{what} did not finish; going on"),
    };
    // BGP sessions end with a Cease, not a hold timer expiry at the peer
    // (over the tunnels, so before IKE deletes them).
    let r = ask_within(&s.bgp, "BGP", BGP_STOP, bgp::Command::Shutdown).await;
    logged("closing the BGP sessions", r);
    // The SAs IKE deletes next leave the interfaces as they are: they go
    // all at once at the end.
    if let Some(dp) = &s.dp {
        let _ = dp.send(dataplane::DpCommand::Stopping);
    }
    // Every IKE peer hears that its SA is gone (INFORMATIONAL Delete), so
    // it fails over at once instead of waiting for DPD. The answers are
    // not awaited.
    if let Some(ike) = &s.ike {
        match ask_within(ike, "IKE", IKE_STOP, ike::driver::Command::Shutdown).await {
            Ok(n) => info!("IKE: sent DELETE for {n} IKE SA(s)"),
            Err(e) => logged("deleting the IKE SAs", Err(e)),
        }
    }
    // rvpn's kernel routes go with the daemon (a restart after a crash
    // finds and removes them instead).
    let r = ask_within(&s.rib, "the RIB", RIB_STOP, routing::Command::Shutdown).await;
    logged("removing the kernel routes", r);
    // Tunnel interfaces (and kernel state) go with the daemon.
    if let Some(dp) = &s.dp {
        let r = ask_within(
            dp,
            "the data plane",
            DP_STOP,
            dataplane::DpCommand::Shutdown,
        )
        .await;
        logged("removing the tunnel interfaces", r);
    }
}

/// Open the data plane and the IKE ports. The kernel data plane takes ESP
/// in UDP off IKE's NAT-T socket itself; the userspace one owns the NAT-T
/// port (it carries ESP in UDP) and forwards IKE from it.
async fn open_planes(
    tasks: &Reporter,
    requested: Dataplane,
    ports: ike::driver::DriverConfig,
    dp_rx: mpsc::UnboundedReceiver<dataplane::DpCommand>,
    rekey: mpsc::UnboundedSender<u32>,
    mapping: mpsc::UnboundedSender<(u32, std::net::SocketAddr)>,
) -> std::io::Result<(
    ike::driver::Bound,
    std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
)> {
    if requested == Dataplane::None {
        info!("data plane: none (--dataplane none): SAs carry no traffic, no interfaces");
        let socks = ike::driver::bind(ports).await?;
        return Ok((
            socks,
            Box::pin(dataplane::serve(
                dataplane::none::NoDataplane::default(),
                dp_rx,
            )),
        ));
    }
    if use_kernel_dataplane(requested).await {
        let socks = ike::driver::bind(ports).await?;
        for fd in socks.natt_fds() {
            if let Err(e) = dataplane::kernel::set_espinudp(fd) {
                error!("kernel data plane: ESP in UDP will not be decapsulated: {e}");
            }
        }
        return Ok((
            socks,
            Box::pin(dataplane::kernel::run(dp_rx, rekey, mapping)),
        ));
    }
    info!("data plane: userspace (TUN + ESP sockets)");
    let (dp, natt) = dataplane::userspace::start(tasks, ports.natt_port, rekey, mapping)?;
    let socks = ike::driver::bind_external(ports, natt).await?;
    Ok((socks, Box::pin(dataplane::userspace::run(dp, dp_rx))))
}

/// Whether to run the kernel data plane: `kernel` always (with a warning
/// when the probe fails), `auto` when the probe succeeds.
async fn use_kernel_dataplane(requested: Dataplane) -> bool {
    match requested {
        Dataplane::Userspace | Dataplane::None => false,
        Dataplane::Kernel => {
            if !dataplane::kernel::probe().await {
                warn!(
                    "--dataplane kernel: the kernel probe failed (see above); SAs may not install"
                );
            }
            info!("data plane: kernel (XFRM + xfrm interfaces), as requested");
            true
        }
        Dataplane::Auto => {
            let ok = dataplane::kernel::probe().await;
            if ok {
                info!("data plane: kernel (XFRM + xfrm interfaces), chosen by --dataplane auto");
            } else {
                info!("--dataplane auto: the kernel data plane is unavailable");
            }
            ok
        }
    }
}
