//! `rvpnd`, the rvpn daemon: loads the startup configuration, serves the
//! vtysh protocol on a Unix socket, applies configuration changes as diffs,
//! persists them on `write memory` and reloads the startup file on SIGHUP.
//!
//! One task owns all daemon state ([`daemon::Daemon`]); connection tasks
//! ([`server`]) and the signal handler talk to it over a channel.

mod bfd_task;
mod bgp;
mod daemon;
mod dataplane;
mod iface;
mod ike_config;
mod info;
mod persist;
mod redact;
mod routing;
mod sa_events;
mod server;
mod show;
mod show_crypto;

use clap::Parser;
use dataplane::Dataplane;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tracing::{error, info, warn};
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

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

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

/// Bind the socket, start the state owner and the accept loop, and wait
/// for signals: SIGHUP reloads, SIGTERM/SIGINT remove the socket and exit.
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

    let (tx, rx) = mpsc::channel(64);
    // IKE runs in its own task; if its ports cannot be opened the daemon
    // still serves the shell and says why tunnels cannot negotiate.
    let (ike_tx, ike_rx) = mpsc::channel(64);
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let (dp_tx, dp_rx) = mpsc::unbounded_channel();
    let (ike, dp) = match open_planes(info.dataplane, ports, dp_rx, ike_tx.clone()).await {
        Ok((socks, dp)) => {
            info!(
                port = ports.port,
                natt_port = ports.natt_port,
                "IKE listening"
            );
            tokio::spawn(dp);
            tokio::spawn(async move {
                if let Err(e) = ike::driver::run_with(socks, ports, ike_rx, ev_tx).await {
                    error!("IKE task failed: {e}");
                }
            });
            (Some(ike_tx), Some(dp_tx))
        }
        Err(e) => {
            error!(
                "IKE cannot open UDP ports {}/{}: {e}; tunnels will not negotiate",
                ports.port, ports.natt_port
            );
            (None, None)
        }
    };
    let dp_ctl = dp.clone();
    let (routes_tx, routes_rx) = mpsc::unbounded_channel();
    let rib = routing::start(routes_rx, kernel_routes);
    let rib_ctl = rib.tx.clone();
    let bgp_tx = bgp::start(
        bgp_port,
        kernel_routes.then_some(routes_tx),
        rib.interfaces.clone(),
    );
    let bgp_ctl = bgp_tx.clone();
    let bfd_tx = bfd_task::start(bfd_task::CONTROL_PORT, Some(bgp_tx.clone()));
    let rib_tx = rib.tx.clone();
    let daemon = daemon::Daemon::new(
        info,
        running,
        ike,
        dp.clone(),
        Some(bgp_tx.clone()),
        Some(rib),
    )
    .with_bfd(bfd_tx);
    // Child SA installs and tunnel up/down go around the state owner, so a
    // request it is serving never holds them up.
    let sa_events = sa_events::SaEvents {
        running: daemon.published(),
        dp,
        rib: Some(rib_tx),
        bgp: Some(bgp_tx),
    };
    tokio::spawn(sa_events.run(ev_rx));
    let mut owner = tokio::spawn(daemon.run(rx));
    let server::Bound { listener, socket } = bound;
    tokio::spawn(server::serve(listener, tx.clone()));

    let (hup, term, int) = &mut signals;
    let mut code = ExitCode::SUCCESS;
    loop {
        tokio::select! {
            _ = hup.recv() => {
                info!("SIGHUP: reloading the startup configuration");
                if tx.send(daemon::Msg::Reload).await.is_err() {
                    error!("state owner is gone");
                    code = ExitCode::from(1);
                    break;
                }
            }
            _ = &mut owner => {
                error!("state owner stopped; exiting");
                code = ExitCode::from(1);
                break;
            }
            _ = term.recv() => { info!("SIGTERM: shutting down"); break; }
            _ = int.recv() => { info!("SIGINT: shutting down"); break; }
        }
    }
    // BGP sessions end with a Cease, not a hold timer expiry at the peer.
    {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        if bgp_ctl.send(bgp::Command::Shutdown(done_tx)).await.is_ok()
            && tokio::time::timeout(std::time::Duration::from_secs(2), done_rx)
                .await
                .is_err()
        {
            error!("BGP did not stop within 2 s");
        }
    }
    // rvpn's kernel routes go with the daemon (a restart after a crash
    // finds and removes them instead).
    {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        if rib_ctl.send(routing::Command::Shutdown(done_tx)).is_ok()
            && tokio::time::timeout(std::time::Duration::from_secs(10), done_rx)
                .await
                .is_err()
        {
            error!("routes were not removed from the kernel within 10 s");
        }
    }
    // Tunnel interfaces (and kernel state) go with the daemon.
    if let Some(dp) = dp_ctl {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        if dp.send(dataplane::DpCommand::Shutdown(done_tx)).is_ok()
            && tokio::time::timeout(std::time::Duration::from_secs(5), done_rx)
                .await
                .is_err()
        {
            error!("data plane did not stop within 5 s");
        }
    }
    socket.remove();
    code
}

/// Open the data plane and the IKE ports. The kernel data plane takes ESP
/// in UDP off IKE's NAT-T socket itself; the userspace one owns the NAT-T
/// port (it carries ESP in UDP) and forwards IKE from it.
async fn open_planes(
    requested: Dataplane,
    ports: ike::driver::DriverConfig,
    dp_rx: mpsc::UnboundedReceiver<dataplane::DpCommand>,
    ike_tx: mpsc::Sender<ike::driver::Command>,
) -> std::io::Result<(
    ike::driver::Bound,
    std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
)> {
    if use_kernel_dataplane(requested).await {
        let socks = ike::driver::bind(ports).await?;
        for fd in socks.natt_fds() {
            if let Err(e) = dataplane::kernel::set_espinudp(fd) {
                error!("kernel data plane: ESP in UDP will not be decapsulated: {e}");
            }
        }
        return Ok((socks, Box::pin(dataplane::kernel::run(dp_rx, ike_tx))));
    }
    info!("data plane: userspace (TUN + ESP sockets)");
    let (dp, natt) = dataplane::userspace::start(ports.natt_port, ike_tx)?;
    let socks = ike::driver::bind_external(ports, natt).await?;
    Ok((socks, Box::pin(dataplane::userspace::run(dp, dp_rx))))
}

/// Whether to run the kernel data plane: `kernel` always (with a warning
/// when the probe fails), `auto` when the probe succeeds.
async fn use_kernel_dataplane(requested: Dataplane) -> bool {
    match requested {
        Dataplane::Userspace => false,
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
