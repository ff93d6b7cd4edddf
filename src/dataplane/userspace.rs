//! The userspace data plane (first cut): each protected tunnel is a TUN
//! device of its name; packets read from it are sealed with the tunnel's
//! current outbound SA and sent as ESP in UDP from port 4500; ESP arriving
//! on port 4500 (handed over by the IKE task) is opened with the inbound SA
//! of its SPI and written to the tunnel's TUN. Make-before-break: a new
//! inbound SA is added before the old one is removed.

use esp::userspace::{link, tun::Tun};
use esp::{InboundSa, OsRandom, OutboundSa, SaKeys, Transform};
use ike::driver::EspIn;
use ike::sa::ChildSaParams;
use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::{DpCommand, IfaceSpec};

struct TunFd(Arc<Tun>);

impl AsRawFd for TunFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

type Outbound = (OutboundSa<OsRandom>, SocketAddr);

struct Tunnel {
    tun: Arc<Tun>,
    out: mpsc::UnboundedSender<Outbound>,
}

fn transform(c: &ChildSaParams) -> io::Result<Transform> {
    let bits = (c.chosen.encr.1 != 0).then_some(c.chosen.encr.1);
    Transform::from_iana(c.chosen.encr.0, bits, c.chosen.integ).ok_or_else(|| {
        io::Error::other(format!("unsupported ESP transform {}", c.chosen.describe()))
    })
}

fn keys<'a>(t: Transform, (enc, integ): (&'a [u8], &'a [u8])) -> SaKeys<'a> {
    if t.is_aead() {
        SaKeys::aead(enc)
    } else {
        SaKeys::cbc(enc, integ)
    }
}

/// Run the data plane until the command channel closes.
pub async fn run(
    mut cmds: mpsc::UnboundedReceiver<DpCommand>,
    mut esp_in: mpsc::UnboundedReceiver<EspIn>,
    sock: UdpSocket,
) {
    let sock = Arc::new(sock);
    let handle = match link::connect() {
        Ok(h) => h,
        Err(e) => {
            warn!("data plane: no netlink: {e}");
            return;
        }
    };
    let mut tunnels: HashMap<String, Tunnel> = HashMap::new();
    let mut inbound: HashMap<u32, (InboundSa, Arc<Tun>)> = HashMap::new();
    loop {
        tokio::select! {
            cmd = cmds.recv() => match cmd {
                None => return,
                Some(DpCommand::Install { child, iface }) => {
                    if let Err(e) = install(&handle, &sock, &mut tunnels, &mut inbound, child, &iface).await {
                        warn!("data plane: cannot install SA: {e}");
                    }
                }
                Some(DpCommand::Remove { spi_in, .. }) => {
                    inbound.remove(&spi_in);
                }
                Some(DpCommand::RemoveInterface { name }) => {
                    tunnels.remove(&name);
                    inbound.retain(|_, (_, t)| t.name() != name);
                    let _ = link::delete(&handle, &name).await;
                }
                Some(DpCommand::Stats(tx)) => {
                    let _ = tx.send(super::DpStats { backend: "userspace", ..Default::default() });
                }
                Some(DpCommand::Shutdown(tx)) => {
                    for name in tunnels.keys() {
                        let _ = link::delete(&handle, name).await;
                    }
                    let _ = tx.send(());
                    return;
                }
            },
            Some(mut d) = esp_in.recv() => {
                let Some(spi) = d.data.get(..4).and_then(|s| <[u8; 4]>::try_from(s).ok()).map(u32::from_be_bytes) else { continue };
                let Some((sa, tun)) = inbound.get_mut(&spi) else {
                    debug!("ESP for unknown SPI {spi:08x} from {}", d.from);
                    continue;
                };
                match sa.open_in_place(&mut d.data) {
                    Ok(o) => {
                        if let Err(e) = tun.send(o.inner) {
                            debug!("writing to {}: {e}", tun.name());
                        }
                    }
                    Err(e) => debug!("ESP from {} dropped: {e}", d.from),
                }
            }
        }
    }
}

async fn install(
    handle: &link::Handle,
    sock: &Arc<UdpSocket>,
    tunnels: &mut HashMap<String, Tunnel>,
    inbound: &mut HashMap<u32, (InboundSa, Arc<Tun>)>,
    c: Box<ChildSaParams>,
    iface: &IfaceSpec,
) -> io::Result<()> {
    let mtu = iface.mtu;
    let t = transform(&c)?;
    if !tunnels.contains_key(&c.tunnel) {
        let tun = Arc::new(Tun::create(&c.tunnel)?);
        link::set(handle, &c.tunnel, true, Some(mtu)).await?;
        for a in &iface.addresses {
            link::add_address(handle, &c.tunnel, a.ip(), a.prefix()).await?;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(tun_reader(tun.clone(), rx, sock.clone()));
        info!("{}: data plane up (userspace TUN, MTU {mtu})", c.tunnel);
        tunnels.insert(c.tunnel.clone(), Tunnel { tun, out: tx });
    }
    let tunnel = tunnels
        .get(&c.tunnel)
        .ok_or_else(|| io::Error::other("tunnel vanished"))?;
    let rx = InboundSa::new(
        c.spi_in,
        t,
        keys(t, c.inbound_keys()),
        c.chosen.esn,
        c.replay_window.max(64).div_ceil(64) as usize * 64,
    )
    .map_err(|e| io::Error::other(e.to_string()))?;
    inbound.insert(c.spi_in, (rx, tunnel.tun.clone()));
    let tx = OutboundSa::new(
        c.spi_out,
        t,
        keys(t, c.outbound_keys()),
        c.chosen.esn,
        OsRandom::new(),
    )
    .map_err(|e| io::Error::other(e.to_string()))?;
    // ESP travels in UDP to the peer's NAT-T port.
    let mut remote = c.remote;
    remote.set_port(if c.encap { c.remote.port() } else { 4500 });
    let _ = tunnel.out.send((tx, remote));
    Ok(())
}

/// Read packets from a tunnel's TUN, seal them with its current outbound
/// SA and send them to the peer.
async fn tun_reader(
    tun: Arc<Tun>,
    mut rx: mpsc::UnboundedReceiver<Outbound>,
    sock: Arc<UdpSocket>,
) {
    // SAFETY: TunFd holds an Arc of the TUN, so its descriptor stays open
    // for as long as it is registered.
    let Ok(afd) = (unsafe {
        AsyncFd::register_with_interest(TunFd(tun.clone()), tokio::io::Interest::READABLE)
    }) else {
        return;
    };
    let mut out: Option<Outbound> = None;
    let mut buf = vec![0u8; 65536];
    let mut pkt = vec![0u8; 65536 + 128];
    loop {
        tokio::select! {
            o = rx.recv() => match o {
                Some(o) => out = Some(o),
                None => return,
            },
            r = afd.readable() => {
                let Ok(mut guard) = r else { return };
                loop {
                    match tun.recv(&mut buf) {
                        Ok(n) => {
                            let Some((sa, remote)) = out.as_mut() else { continue };
                            let nh = if buf.first().is_some_and(|b| b >> 4 == 6) { esp::NEXT_HEADER_IPV6 } else { esp::NEXT_HEADER_IPV4 };
                            match sa.seal(&buf[..n], nh, &mut pkt) {
                                Ok(len) => {
                                    let _ = sock.send_to(&pkt[..len], *remote);
                                }
                                Err(e) => debug!("{}: cannot seal: {e}", tun.name()),
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            guard.clear_ready();
                            break;
                        }
                        Err(_) => return,
                    }
                }
            }
        }
    }
}
