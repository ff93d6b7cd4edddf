//! The data plane seam (ARCHITECTURE.md rule 3): the daemon sends
//! [`DpCommand`]s to one backend task, which owns every tunnel interface
//! and ESP SA it creates.
//!
//! - [`userspace`]: TUN devices and UDP 4500 / raw ESP sockets, run by
//!   worker threads; works on any kernel.
//! - [`kernel`]: XFRM states and policies plus an xfrm interface per tunnel,
//!   over netlink; needs a kernel with ESP and xfrm interfaces.
//! - [`none`]: nothing (SAs count as installed), for measuring IKE alone.
//!
//! Both take the same commands: install an SA pair on a tunnel interface
//! (creating the interface on first use; a rekey installs the new pair
//! before the old one is removed), remove a pair, remove an interface,
//! report counters, and shut down (removing what the backend created).

mod backend;
mod error;
pub mod heard;
pub mod kernel;
pub mod loopback;
pub mod none;
pub mod userspace;

pub use backend::{serve, Backend};
pub use error::{Direction, DpError};

use clap::ValueEnum;
use ike::sa::ChildSaParams;
use ipnetwork::IpNetwork;
use serde::Serialize;
use tokio::sync::oneshot;

/// Which data plane the operator asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Dataplane {
    /// Probe the kernel (XFRM) and fall back to userspace.
    Auto,
    /// XFRM states/policies and VTI or xfrm interfaces.
    Kernel,
    /// TUN devices and UDP/raw ESP sockets.
    Userspace,
    /// No data plane: SAs count as installed and carry nothing, no
    /// interfaces are created (for measuring IKE alone).
    None,
}

impl Dataplane {
    /// The command-line spelling.
    pub fn name(self) -> &'static str {
        match self {
            Dataplane::Auto => "auto",
            Dataplane::Kernel => "kernel",
            Dataplane::Userspace => "userspace",
            Dataplane::None => "none",
        }
    }
}

/// How a tunnel interface should look while it carries SAs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfaceSpec {
    /// The kernel's name (`Tunnel1`; `rvpn-va17` for `Virtual-Access17`).
    pub name: String,
    /// The operator's name when the kernel's differs (Virtual-Access):
    /// set as the interface's alias.
    pub alias: Option<String>,
    /// MTU of the interface (default 1400).
    pub mtu: u32,
    /// Addresses from `ip address` and `ipv6 address`.
    pub addresses: Vec<IpNetwork>,
    /// `ip tcp adjust-mss N`: clamp the MSS of TCP SYNs crossing the tunnel.
    pub tcp_adjust_mss: Option<u16>,
    /// A number unique per tunnel interface (the xfrm interface if_id in the
    /// kernel backend).
    pub if_id: u32,
    /// `tunnel destination dynamic`: one of a hub's many spoke interfaces
    /// (the userspace data plane gives it a single-queue TUN, read by one
    /// worker, which is cheap to create; a point-to-point tunnel gets a
    /// queue per worker).
    pub dynamic: bool,
}

/// The xfrm interface id of a tunnel interface: its number plus one
/// (`Tunnel0` is 1), so that ids are stable across restarts.
fn if_id(name: &str) -> u32 {
    if let Some(n) = name
        .strip_prefix(esp_io::link::VIRTUAL_ACCESS)
        .and_then(|n| n.parse::<u32>().ok())
    {
        // Virtual-Access interfaces: their own range, clear of Tunnels'.
        return 0x4000_0000 | (n & 0x3fff_ffff);
    }
    name.strip_prefix("Tunnel")
        .and_then(|n| n.parse::<u32>().ok())
        .map_or(0x7fff_0000, |n| n.saturating_add(1))
}

/// How the data plane should set up tunnel interface `name` under `cfg`.
/// A Virtual-Access interface takes its settings from its template
/// (`virtual_template`), its kernel name from [`esp_io::link::linux_name`]
/// and keeps the operator's name as its alias; a tunnel with `ip address
/// negotiated` gets the addresses the responder gave (`negotiated`); one
/// with `ip unnumbered` none of its own.
pub fn iface_spec_for(
    cfg: &vtysh::Config,
    name: &str,
    virtual_template: Option<u32>,
    negotiated: &[(std::net::IpAddr, u8)],
) -> IfaceSpec {
    let template = virtual_template.map(|n| format!("Virtual-Template{n}"));
    let itf = cfg.interfaces.get(template.as_deref().unwrap_or(name));
    let mut addresses: Vec<IpNetwork> = Vec::new();
    if let Some(i) = itf.filter(|_| template.is_none()) {
        if i.address_negotiated {
            addresses.extend(
                negotiated
                    .iter()
                    .filter_map(|(a, l)| IpNetwork::new(*a, *l).ok()),
            );
        } else {
            addresses.extend(i.ipv4.map(IpNetwork::V4));
        }
        addresses.extend(i.ipv6.iter().copied().map(IpNetwork::V6));
    }
    let linux = esp_io::link::linux_name(name);
    IfaceSpec {
        alias: (linux != name).then(|| name.to_string()),
        name: linux.into_owned(),
        mtu: itf.and_then(|i| i.mtu).unwrap_or(1400),
        addresses,
        tcp_adjust_mss: itf.and_then(|i| i.tcp_adjust_mss),
        if_id: if_id(name),
        // One peer per interface: a single queue.
        dynamic: template.is_some()
            || itf
                .and_then(|i| i.tunnel.as_ref())
                .is_some_and(|t| t.destination == Some(vtysh::model::TunnelDestination::Dynamic)),
    }
}

/// How the data plane should set up tunnel interface `name` (a Tunnel)
/// under `cfg`.
pub fn iface_spec(cfg: &vtysh::Config, name: &str) -> IfaceSpec {
    iface_spec_for(cfg, name, None, &[])
}

/// Work to do after a successful install, or (`DpCommand::Then`) once the
/// commands sent before it are done.
pub struct AfterInstall(pub Box<dyn FnOnce() + Send>);

impl std::fmt::Debug for AfterInstall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AfterInstall")
    }
}

/// What the daemon asks of the data plane.
#[derive(Debug)]
pub enum DpCommand {
    /// A Child SA is up on a tunnel: create the interface if needed, set it
    /// up as `iface` says, and install the pair. When `child.rekey_of` names
    /// an older inbound SPI, the old pair keeps decrypting until it is
    /// removed, while new traffic is sealed with the new pair.
    Install {
        child: Box<ChildSaParams>,
        iface: IfaceSpec,
        /// Answered once the inbound SA can take packets, or with why the
        /// pair could not be installed; IKE sends the message that lets the
        /// peer use the SA only after a successful answer (dropping it
        /// fails the install).
        installed: Option<ike::driver::InstallAck>,
        /// Run once the pair is installed (and so the interface exists):
        /// the routes through a new Virtual-Access go to the RIB then.
        then: Option<AfterInstall>,
    },
    /// A Child SA is gone. When it was the tunnel's last, the interface's
    /// line protocol goes down (the interface stays, with its addresses).
    Remove {
        tunnel: String,
        spi_in: u32,
        spi_out: u32,
    },
    /// IKE moved a Child SA to new addresses (the peer's NAT mapping
    /// changed, or MOBIKE): its ESP goes there from now on.
    Move(ike::sa::ChildMove),
    /// The interface's configuration changed (MTU, addresses, MSS clamp):
    /// apply it if the interface exists.
    Update(IfaceSpec),
    /// `interface LoopbackN`: create it (a dummy interface) or bring it to
    /// these settings; `RemoveInterface` removes it.
    Loopback {
        /// `LoopbackN`.
        name: String,
        /// Its addresses.
        addresses: Vec<IpNetwork>,
        /// `shutdown`.
        shutdown: bool,
    },
    /// The interface left the configuration: remove it and its SAs.
    RemoveInterface { name: String },
    /// Run this once every command sent before it is done: what must
    /// follow an install's own `then` (a Virtual-Access's routes leaving
    /// the RIB after the install that brought them, however quickly its
    /// SA went).
    Then(AfterInstall),
    /// Counters for show commands.
    Stats(oneshot::Sender<DpStats>),
    /// The inbound SPIs of the SAs that opened ESP since the last `Heard`
    /// (for DPD on demand: those peers are alive).
    Heard(oneshot::Sender<Vec<u32>>),
    /// The daemon is stopping: the SA pairs removed from now on leave
    /// their interfaces' line protocol as it is (bringing a thousand
    /// interfaces down one by one costs the kernel seconds; `Shutdown`
    /// deletes them all at once right after).
    Stopping,
    /// Remove everything this backend created, then answer.
    Shutdown(oneshot::Sender<()>),
}

/// Counters of one SA pair.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct SaCounters {
    pub tunnel: String,
    pub spi_in: u32,
    pub spi_out: u32,
    /// Encapsulated: packets and inner bytes sealed.
    pub out_packets: u64,
    pub out_bytes: u64,
    pub out_errors: u64,
    /// Decapsulated: packets and inner bytes accepted.
    pub in_packets: u64,
    pub in_bytes: u64,
    pub auth_failures: u64,
    pub replay_drops: u64,
    pub decrypt_errors: u64,
    /// Truncated or otherwise malformed.
    pub malformed: u64,
}

/// Counters and state of one tunnel interface.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct IfCounters {
    pub name: String,
    /// Line protocol: up while an SA pair is installed.
    pub line_up: bool,
    pub mtu: u32,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// Packets dropped on the way in (authentication, replay, decrypt).
    pub rx_errors: u64,
    /// Packets that could not be sent (no SA, seal or socket errors).
    pub tx_errors: u64,
    /// TCP SYNs whose MSS was clamped by `ip tcp adjust-mss`.
    pub mss_clamped: u64,
}

/// A snapshot of the data plane for show commands.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DpStats {
    /// `userspace` or `kernel`.
    pub backend: &'static str,
    pub sas: Vec<SaCounters>,
    pub interfaces: Vec<IfCounters>,
}
