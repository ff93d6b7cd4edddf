//! IKE's Child SA events, handled by a task of their own rather than by the
//! state owner: installs go straight to the data plane, so a vtysh request
//! the state owner is serving (waiting on BGP, BFD or the data plane) never
//! holds one up, and the RIB and BGP hear at once when a tunnel gets its
//! first SA or loses its last.

use crate::dataplane::{iface_spec, DpCommand};
use arc_swap::ArcSwap;
use ike::driver::Event as IkeEvent;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc;
use tracing::info;

/// Where Child SA events go.
pub struct SaEvents {
    /// The running configuration as the state owner last committed it
    /// (interface settings for installs).
    pub running: Arc<ArcSwap<vtysh::Config>>,
    /// The data plane, when it runs.
    pub dp: Option<mpsc::UnboundedSender<DpCommand>>,
    /// The RIB task.
    pub rib: Option<mpsc::UnboundedSender<crate::routing::Command>>,
    /// The BGP speaker.
    pub bgp: Option<mpsc::Sender<crate::bgp::Command>>,
}

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
                if let Some(up) = counts.change(&c.tunnel, true) {
                    self.tunnel(&c.tunnel, up);
                }
                match &self.dp {
                    Some(dp) => {
                        let iface = iface_spec(&self.running.load(), &c.tunnel);
                        // A data plane that is gone drops the answer, which
                        // fails the install.
                        let _ = dp.send(DpCommand::Install {
                            child: c,
                            iface,
                            installed: Some(installed),
                        });
                    }
                    // No data plane runs: there is nothing to install.
                    None => installed.done(Ok(())),
                }
            }
            IkeEvent::ChildDown {
                tunnel,
                spi_in,
                spi_out,
            } => {
                info!("{tunnel}: IPsec SA down, SPIs in {spi_in:08x} out {spi_out:08x}");
                if let Some(up) = counts.change(&tunnel, false) {
                    self.tunnel(&tunnel, up);
                }
                if let Some(dp) = &self.dp {
                    let _ = dp.send(DpCommand::Remove {
                        tunnel,
                        spi_in,
                        spi_out,
                    });
                }
            }
        }
    }

    /// A tunnel got its first SA or lost its last: the RIB first (next hops
    /// through it leave or rejoin before BGP reacts), then BGP.
    fn tunnel(&self, name: &str, up: bool) {
        if let Some(r) = &self.rib {
            let _ = r.send(crate::routing::Command::Tunnel {
                name: name.to_string(),
                up,
            });
        }
        if let Some(tx) = &self.bgp {
            if tx
                .try_send(crate::bgp::Command::Tunnel {
                    name: name.to_string(),
                    up,
                })
                .is_err()
            {
                tracing::error!("{name}: BGP did not take the tunnel's state (queue full or gone)");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Counts;

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
}
