//! IKE's Child SA events, handled by a task of their own rather than by the
//! state owner: installs go straight to the data plane, so a vtysh request
//! the state owner is serving (waiting on BGP, BFD or the data plane) never
//! holds one up, and the RIB and BGP hear at once when a tunnel gets its
//! first SA or loses its last.
//!
//! Nothing here waits and nothing is dropped: the data plane and the RIB
//! take commands on unbounded channels (both drain them in bursts, and a
//! command is small), and BGP, which may be busy for seconds with a full
//! table, gets each tunnel's latest state through [`crate::updown`], so a
//! burst of a thousand tunnel events still leaves it with the final state
//! of every tunnel.

use crate::dataplane::{iface_spec_for, AfterInstall, DpCommand};
use crate::updown;
use esp_io::link::linux_name;
use ike::driver::Event as IkeEvent;
use ipnetwork::IpNetwork;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};
use tracing::info;

/// Where Child SA events go.
pub struct SaEvents {
    /// The running configuration as the state owner last committed it
    /// (interface settings for installs).
    pub running: watch::Receiver<Arc<vtysh::Config>>,
    /// The data plane, when it runs.
    pub dp: Option<mpsc::UnboundedSender<DpCommand>>,
    /// The RIB task.
    pub rib: Option<mpsc::UnboundedSender<crate::routing::Command>>,
    /// The BGP speaker: tunnel interfaces up (an SA) or down (none).
    pub bgp: Option<updown::Sender<String>>,
    /// The addresses each tunnel leased its peer (IKEv2 configuration
    /// payloads): BGP takes down the dynamic neighbors at them with it.
    pub leased: Leased,
}

/// Tunnel -> the addresses leased to its peer; written here before the
/// tunnel's up goes to BGP, read by BGP when a tunnel's state arrives.
pub type Leased = Arc<std::sync::Mutex<HashMap<String, Vec<std::net::IpAddr>>>>;

/// IPsec SAs per tunnel interface: says when a tunnel gets its first SA or
/// loses its last.
#[derive(Debug, Default)]
struct Counts(HashMap<String, usize>);

impl Counts {
    /// Counts an SA up or down; `Some(up)` when the tunnel crossed zero.
    fn change(&mut self, tunnel: &str, up: bool) -> Option<bool> {
        let n = self.0.entry(tunnel.to_string()).or_insert(0);
        let before = *n;
        *n = if up {
            n.saturating_add(1)
        } else {
            n.saturating_sub(1)
        };
        let after = *n;
        if after == 0 {
            self.0.remove(tunnel);
        }
        ((before == 0) != (after == 0)).then_some(after > 0)
    }
}

impl SaEvents {
    /// Serve IKE's events until IKE stops.
    pub async fn run(self, mut rx: mpsc::UnboundedReceiver<IkeEvent>) {
        let mut counts = Counts::default();
        while let Some(ev) = rx.recv().await {
            self.on_event(&mut counts, ev);
        }
    }

    fn on_event(&self, counts: &mut Counts, ev: IkeEvent) {
        match ev {
            IkeEvent::Status { tunnel, status } => {
                info!("{tunnel}: crypto session {}", status.label())
            }
            IkeEvent::ChildUp {
                child: c,
                installed,
            } => {
                info!(
                    "{}: IPsec SA up, SPIs in {:08x} out {:08x}, {}",
                    c.tunnel,
                    c.spi_in,
                    c.spi_out,
                    c.chosen.describe()
                );
                if !c.cp.peer_addresses.is_empty() {
                    let addrs = c.cp.peer_addresses.iter().map(|(a, _)| *a).collect();
                    if let Ok(mut m) = self.leased.lock() {
                        m.insert(c.tunnel.clone(), addrs);
                    }
                }
                self.sa_counted(counts, &c.tunnel, true);
                let routes = self.ike_routes(&c);
                match &self.dp {
                    Some(dp) => {
                        let running = self.running.borrow().clone();
                        let iface = iface_spec_for(
                            &running,
                            &c.tunnel,
                            c.virtual_template,
                            &c.cp.local_addresses,
                        );
                        // The data plane names interfaces as the kernel does.
                        let mut c = c;
                        c.tunnel = iface.name.clone();
                        // A data plane that is gone drops the answer, which
                        // fails the install.
                        // The routes once the interface exists: the kernel
                        // takes none through a missing device.
                        let then = routes.and_then(|cmd| self.rib_after(cmd));
                        let _ = dp.send(DpCommand::Install {
                            child: c,
                            iface,
                            installed: Some(installed),
                            then,
                        });
                    }
                    // No data plane runs: there is nothing to install.
                    None => {
                        if let Some(cmd) = routes {
                            self.send_rib(cmd);
                        }
                        installed.done(Ok(()))
                    }
                }
            }
            IkeEvent::ChildMoved(m) => {
                info!(
                    "{}: IPsec SA in {:08x} out {:08x} moved to {}",
                    m.tunnel, m.spi_in, m.spi_out, m.remote
                );
                if let Some(dp) = &self.dp {
                    let mut m = m;
                    m.tunnel = linux_name(&m.tunnel).into_owned();
                    let _ = dp.send(DpCommand::Move(m));
                }
            }
            IkeEvent::ChildDown {
                tunnel,
                spi_in,
                spi_out,
            } => {
                info!("{tunnel}: IPsec SA down, SPIs in {spi_in:08x} out {spi_out:08x}");
                let gone = counts.change(&tunnel, false) == Some(false);
                if gone {
                    self.tunnel(&tunnel, false);
                }
                let linux = linux_name(&tunnel).into_owned();
                let access = linux != tunnel;
                if let Some(dp) = &self.dp {
                    let _ = dp.send(DpCommand::Remove {
                        tunnel: linux.clone(),
                        spi_in,
                        spi_out,
                    });
                    // A Virtual-Access goes with its last SA (IKE clones a
                    // new one when the peer comes back).
                    if gone && access {
                        let _ = dp.send(DpCommand::RemoveInterface { name: linux });
                    }
                }
                if gone && access {
                    let cmd = crate::routing::Command::IkeRoutes {
                        tunnel,
                        routes: Vec::new(),
                        distance: 1,
                    };
                    // Behind the install that sends the routes (its `then`
                    // runs in the data plane's order): an SA that went
                    // before its install was done would otherwise leave
                    // them in the RIB through a Virtual-Access that is
                    // gone, refused by the kernel (or, once the number is
                    // cloned again, pointing at another spoke).
                    match (&self.dp, self.rib_after(cmd)) {
                        (Some(dp), Some(then)) => {
                            let _ = dp.send(DpCommand::Then(then));
                        }
                        // No data plane: no install to wait for.
                        (None, Some(then)) => (then.0)(),
                        (_, None) => {}
                    }
                }
            }
        }
    }

    /// An SA of `tunnel` came (`up`) or went: tell the RIB and BGP when
    /// the tunnel got its first SA or lost its last.
    fn sa_counted(&self, counts: &mut Counts, tunnel: &str, up: bool) {
        if let Some(up) = counts.change(tunnel, up) {
            self.tunnel(tunnel, up);
        }
    }

    /// The RIB command for the routes through a Child SA's tunnel that
    /// configuration payloads gave: to the addresses we leased the peer and to the networks it
    /// announced (a hub), or the networks the responder pushed (a spoke).
    fn ike_routes(&self, c: &ike::sa::ChildSaParams) -> Option<crate::routing::Command> {
        let routes: Vec<IpNetwork> =
            c.cp.peer_addresses
                .iter()
                .map(|(a, _)| (*a, if a.is_ipv4() { 32 } else { 128 }))
                .chain(c.cp.routes.iter().copied())
                .filter_map(|(a, l)| IpNetwork::new(a, l).ok())
                .collect();
        if routes.is_empty() && c.virtual_template.is_none() {
            return None;
        }
        let distance =
            crate::ike_cp::route_distance(&self.running.borrow(), &c.tunnel, c.virtual_template);
        Some(crate::routing::Command::IkeRoutes {
            tunnel: c.tunnel.clone(),
            routes,
            distance,
        })
    }

    /// `cmd` for the RIB, to be sent by the data plane when it gets to it
    /// (an install's `then`, or `DpCommand::Then`); None without a RIB.
    fn rib_after(&self, cmd: crate::routing::Command) -> Option<AfterInstall> {
        let rib = self.rib.clone()?;
        Some(AfterInstall(Box::new(move || {
            let _ = rib.send(cmd);
        })))
    }

    fn send_rib(&self, cmd: crate::routing::Command) {
        if let Some(r) = &self.rib {
            // Gone only while rvpnd stops (or after the RIB thread died,
            // which stops rvpnd).
            let _ = r.send(cmd);
        }
    }

    /// A tunnel got its first SA or lost its last: the RIB first (next hops
    /// through it leave or rejoin before BGP reacts), then BGP.
    fn tunnel(&self, name: &str, up: bool) {
        self.send_rib(crate::routing::Command::Tunnel {
            name: name.to_string(),
            up,
        });
        if let Some(tx) = &self.bgp {
            tx.set(name.to_string(), up);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tunnel_crosses_zero_only_with_its_first_and_last_sa() {
        let mut c = Counts::default();
        assert_eq!(c.change("Tunnel1", true), Some(true));
        // A rekey: the new SA before the old one goes.
        assert_eq!(c.change("Tunnel1", true), None);
        assert_eq!(c.change("Tunnel1", false), None);
        assert_eq!(c.change("Tunnel2", true), Some(true));
        assert_eq!(c.change("Tunnel1", false), Some(false));
        // A stray down (already gone) does not go below zero.
        assert_eq!(c.change("Tunnel1", false), None);
        assert_eq!(c.change("Tunnel1", true), Some(true));
    }

    /// Virtual-Access7's Child SA 0x11/0x22 went.
    fn va7_down() -> IkeEvent {
        IkeEvent::ChildDown {
            tunnel: "Virtual-Access7".into(),
            spi_in: 0x11,
            spi_out: 0x22,
        }
    }

    /// SA events with the default running configuration.
    fn events(
        dp: Option<mpsc::UnboundedSender<DpCommand>>,
        rib: mpsc::UnboundedSender<crate::routing::Command>,
        bgp: Option<updown::Sender<String>>,
    ) -> SaEvents {
        let (_cfg_tx, running) = watch::channel(Arc::new(vtysh::Config::default()));
        SaEvents {
            running,
            dp,
            rib: Some(rib),
            bgp,
            leased: Leased::default(),
        }
    }

    /// A Virtual-Access whose SA goes before the data plane took its
    /// install: the routes the install's `then` sends reach the RIB before
    /// their removal, never after it.
    #[test]
    fn a_virtual_access_gone_before_its_install_leaves_no_route() {
        let (rib_tx, mut rib_rx) = mpsc::unbounded_channel();
        let (dp_tx, mut dp_rx) = mpsc::unbounded_channel();
        let ev = events(Some(dp_tx), rib_tx, None);
        let mut child = crate::dataplane::none::test_child("Virtual-Access7", 0x11, 0x22);
        child.cp.peer_addresses = vec![("10.200.0.7".parse().expect("address"), 32)];
        let (ack_tx, _ack_rx) = mpsc::unbounded_channel();
        let mut counts = Counts::default();
        ev.on_event(
            &mut counts,
            IkeEvent::ChildUp {
                child: Box::new(child),
                installed: ike::driver::InstallAck::new(0x11, ack_tx),
            },
        );
        ev.on_event(&mut counts, va7_down());
        // Only now does the data plane get to its queue, in order.
        while let Ok(cmd) = dp_rx.try_recv() {
            match cmd {
                DpCommand::Install { then, .. } => then.into_iter().for_each(|t| (t.0)()),
                DpCommand::Then(t) => (t.0)(),
                _ => {}
            }
        }
        let mut routes: Vec<Vec<IpNetwork>> = Vec::new();
        while let Ok(cmd) = rib_rx.try_recv() {
            if let crate::routing::Command::IkeRoutes {
                tunnel, routes: r, ..
            } = cmd
            {
                assert_eq!(tunnel, "Virtual-Access7");
                routes.push(r);
            }
        }
        assert_eq!(routes.len(), 2, "{routes:?}");
        assert_eq!(
            routes[0],
            vec!["10.200.0.7/32".parse::<IpNetwork>().expect("prefix")]
        );
        assert!(routes[1].is_empty(), "the removal comes last: {routes:?}");

        // No data plane: the removal goes to the RIB at once.
        let (rib_tx, mut rib_rx) = mpsc::unbounded_channel();
        let ev = events(None, rib_tx, None);
        let mut counts = Counts::default();
        counts.change("Virtual-Access7", true);
        ev.on_event(&mut counts, va7_down());
        let removed = std::iter::from_fn(|| rib_rx.try_recv().ok()).any(
            |c| matches!(c, crate::routing::Command::IkeRoutes { routes, .. } if routes.is_empty()),
        );
        assert!(removed);
    }

    /// A burst of SA events for many tunnels, with BGP not reading
    /// meanwhile: the RIB and BGP both end with every tunnel's final state.
    #[test]
    fn a_burst_of_tunnel_events_leaves_the_final_state_of_every_tunnel() {
        let (rib_tx, mut rib_rx) = mpsc::unbounded_channel();
        let (bgp_tx, mut bgp_rx) = updown::channel();
        let ev = events(None, rib_tx, Some(bgp_tx));
        let mut counts = Counts::default();
        let mut sas: HashMap<String, usize> = HashMap::new();
        let mut r: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..5_000 {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            let name = format!("Tunnel{}", r % 200);
            let n = sas.entry(name.clone()).or_default();
            // Never below zero, and at most two SAs (a rekey's overlap),
            // as IKE does.
            let up = *n == 0 || (*n < 2 && r & 0x100 != 0);
            if up {
                *n += 1;
            } else {
                *n -= 1;
            }
            ev.sa_counted(&mut counts, &name, up);
        }
        let expect: HashMap<String, bool> = sas.iter().map(|(k, n)| (k.clone(), *n > 0)).collect();
        assert_eq!(expect.len(), 200);
        assert!(expect.values().any(|u| *u) && expect.values().any(|u| !*u));

        let mut rib = HashMap::new();
        let mut rib_msgs = 0;
        while let Ok(cmd) = rib_rx.try_recv() {
            if let crate::routing::Command::Tunnel { name, up } = cmd {
                rib.insert(name, up);
                rib_msgs += 1;
            }
        }
        assert_eq!(rib, expect, "the RIB gets every crossing, in order");

        let taken = bgp_rx.take();
        assert!(taken.len() <= 2 * 200, "one or two entries per tunnel");
        assert!(taken.len() < rib_msgs, "BGP's side is coalesced");
        let mut bgp = HashMap::new();
        for (name, up) in taken {
            bgp.insert(name, up);
        }
        assert_eq!(bgp, expect, "BGP ends with the final state of each tunnel");
    }
}
