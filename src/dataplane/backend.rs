//! The one command loop of the data plane: whichever [`Backend`] runs, the
//! daemon's [`DpCommand`]s are taken apart and answered here.

use super::{DpCommand, DpError, DpStats, IfaceSpec};
use ike::sa::{ChildMove, ChildSaParams};
use tokio::sync::mpsc::UnboundedReceiver;
use tracing::error;

/// What a data plane does for the daemon (ARCHITECTURE.md rule 3).
pub trait Backend {
    /// `kernel` or `userspace`, for log lines.
    const NAME: &'static str;

    /// A Child SA is up on a tunnel: create the interface if needed, set it
    /// up as `iface` says, and install the pair (make-before-break when
    /// `child.rekey_of` names an older pair). `Ok` once the inbound SA
    /// takes packets.
    async fn install(
        &mut self,
        child: Box<ChildSaParams>,
        iface: &IfaceSpec,
    ) -> Result<(), DpError>;

    /// Remove a pair; the interface's line protocol goes down with its last.
    async fn remove(&mut self, tunnel: &str, spi_in: u32, spi_out: u32);

    /// Apply a changed interface configuration, if the interface exists.
    async fn update(&mut self, iface: &IfaceSpec);

    /// A Child SA's addresses changed (NAT rebinding, MOBIKE): send its
    /// ESP to `m.remote` from now on.
    async fn moved(&mut self, m: &ChildMove);

    /// Remove an interface and its SAs.
    async fn remove_interface(&mut self, name: &str);

    /// Counters for show commands.
    async fn stats(&mut self) -> DpStats;

    /// Packets opened so far by each inbound SA (by SPI), for DPD on
    /// demand. Backends with a cheaper way than a full [`Backend::stats`]
    /// override it.
    async fn inbound_packets(&mut self) -> Vec<(u32, u64)> {
        self.stats()
            .await
            .sas
            .into_iter()
            .map(|s| (s.spi_in, s.in_packets))
            .collect()
    }

    /// Remove everything this backend created.
    /// The daemon is stopping (see `DpCommand::Stopping`).
    fn stopping(&mut self) {}

    async fn shutdown(self);
}

/// Apply the daemon's commands to `backend` until `Shutdown` (or until the
/// command channel closes), then remove everything it created.
pub async fn serve<B: Backend>(mut backend: B, mut cmds: UnboundedReceiver<DpCommand>) {
    let mut loopbacks = super::loopback::Loopbacks::default();
    // Each inbound SA's packet count at the last `Heard`.
    let mut seen: std::collections::HashMap<u32, u64> = Default::default();
    while let Some(cmd) = cmds.recv().await {
        match cmd {
            DpCommand::Install {
                child,
                iface,
                installed,
                then,
            } => {
                let (spi_in, spi_out) = (child.spi_in, child.spi_out);
                let r = backend.install(child, &iface).await;
                if let (Ok(()), Some(then)) = (&r, then) {
                    (then.0)();
                }
                if let Err(e) = &r {
                    error!(
                        "{}: {} data plane cannot install SA pair in {spi_in:08x} out {spi_out:08x}: {e}",
                        iface.name,
                        B::NAME
                    );
                }
                if let Some(ack) = installed {
                    // IKE takes the reason as text.
                    ack.done(r.map_err(|e| e.to_string()));
                }
            }
            DpCommand::Remove {
                tunnel,
                spi_in,
                spi_out,
            } => backend.remove(&tunnel, spi_in, spi_out).await,
            DpCommand::Update(iface) => backend.update(&iface).await,
            DpCommand::Move(m) => backend.moved(&m).await,
            DpCommand::Loopback {
                name,
                addresses,
                shutdown,
            } => loopbacks.set(&name, &addresses, shutdown).await,
            DpCommand::RemoveInterface { name } if loopbacks.has(&name) => {
                loopbacks.remove(&name).await
            }
            DpCommand::RemoveInterface { name } => backend.remove_interface(&name).await,
            DpCommand::Stats(tx) => {
                let mut st = backend.stats().await;
                // Shown under the operator's names (Virtual-Access17).
                let op = |n: &mut String| {
                    if let std::borrow::Cow::Owned(o) = esp_io::link::operator_name(n) {
                        *n = o;
                    }
                };
                st.sas.iter_mut().for_each(|s| op(&mut s.tunnel));
                st.interfaces.iter_mut().for_each(|i| op(&mut i.name));
                let _ = tx.send(st);
            }
            DpCommand::Then(then) => (then.0)(),
            DpCommand::Heard(tx) => {
                let counts = backend.inbound_packets().await;
                let _ = tx.send(heard_since(&mut seen, counts));
            }
            DpCommand::Stopping => backend.stopping(),
            DpCommand::Shutdown(tx) => {
                loopbacks.remove_all().await;
                backend.shutdown().await;
                let _ = tx.send(());
                return;
            }
        }
    }
    // Nobody can command this backend any more: leave nothing behind.
    backend.shutdown().await;
}

/// The inbound SAs whose packet count moved since `seen` (a new SA counts
/// once it has opened a packet); `seen` becomes `counts`, so SAs that are
/// gone leave it.
fn heard_since(
    seen: &mut std::collections::HashMap<u32, u64>,
    counts: Vec<(u32, u64)>,
) -> Vec<u32> {
    let mut heard = Vec::new();
    let mut next = std::collections::HashMap::with_capacity(counts.len());
    for (spi, n) in counts {
        if seen.get(&spi).map_or(n > 0, |&was| n != was) {
            heard.push(spi);
        }
        next.insert(spi, n);
    }
    *seen = next;
    heard
}

#[cfg(test)]
mod tests {
    use super::heard_since;

    #[test]
    fn heard_lists_the_sas_whose_count_moved() {
        let mut seen = Default::default();
        // New SAs: those that opened something.
        assert_eq!(heard_since(&mut seen, vec![(1, 0), (2, 5)]), vec![2]);
        // Moved, unchanged, new and silent, and one gone.
        assert_eq!(
            heard_since(&mut seen, vec![(1, 3), (2, 5), (3, 0)]),
            vec![1]
        );
        assert_eq!(heard_since(&mut seen, vec![(1, 3)]), Vec::<u32>::new());
        assert_eq!(seen.len(), 1);
        // An SA replaced under the same SPI with a lower count moved too.
        assert_eq!(heard_since(&mut seen, vec![(1, 1), (2, 5)]), vec![1, 2]);
    }
}
