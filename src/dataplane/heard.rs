//! DPD on demand (`dpd INTERVAL RETRY on-demand`, the IOS default) probes a
//! peer only after a whole interval without hearing from it, IKE or ESP,
//! as strongSwan's `dpd_delay` does. IKE sees its own messages; this task
//! tells it about ESP: while some tunnel has DPD on demand it asks the
//! data plane, a few times per interval, which inbound SAs opened packets
//! since the last time ([`DpCommand::Heard`]), and hands their SPIs to the
//! IKE task. A hub whose spokes' BGP keepalives arrive every 3 s then
//! sends no DPD at all, where it would run an INFORMATIONAL exchange with
//! every spoke every interval.

use super::DpCommand;
use ike::sa::config::{DpdConfig, EngineConfig};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

/// The shortest time between two asks, whatever the interval.
const MIN_EVERY: Duration = Duration::from_secs(1);
/// The longest.
const MAX_EVERY: Duration = Duration::from_secs(10);

/// How often to ask: a third of the shortest on-demand DPD interval (a
/// peer heard just after an ask is reported at most a third of an
/// interval late), or never when no tunnel has DPD on demand.
pub fn every(cfg: &EngineConfig) -> Option<Duration> {
    every_of(cfg.tunnels.iter().filter_map(|t| t.dpd.as_ref()))
}

fn every_of<'a>(dpds: impl Iterator<Item = &'a DpdConfig>) -> Option<Duration> {
    dpds.filter(|d| !d.periodic)
        .map(|d| (d.interval / 3).clamp(MIN_EVERY, MAX_EVERY))
        .min()
}

/// Runs until rvpnd stops (an ended channel parks it: the supervisor
/// reports the task that closed it).
pub async fn run(
    mut cfg: watch::Receiver<EngineConfig>,
    dp: mpsc::UnboundedSender<DpCommand>,
    ike: mpsc::UnboundedSender<Vec<u32>>,
) {
    let mut period = every(&cfg.borrow_and_update());
    let mut next = Instant::now() + period.unwrap_or(MAX_EVERY);
    loop {
        let due = async {
            match period {
                Some(_) => tokio::time::sleep_until(next).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = cfg.changed() => {
                if r.is_err() {
                    return std::future::pending().await;
                }
                period = every(&cfg.borrow_and_update());
                if let Some(p) = period {
                    next = next.min(Instant::now() + p);
                }
                continue;
            }
            () = due => {}
        }
        next = Instant::now() + period.unwrap_or(MAX_EVERY);
        // No time limit: the data plane answers after the installs queued
        // before the ask, which during a mass setup can take a while.
        let (tx, rx) = oneshot::channel();
        if dp.send(DpCommand::Heard(tx)).is_err() {
            return std::future::pending().await;
        }
        if let Ok(spis) = rx.await {
            if !spis.is_empty() && ike.send(spis).is_err() {
                return std::future::pending().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(dpds: &[(u64, bool)]) -> Option<Duration> {
        let d: Vec<DpdConfig> = dpds
            .iter()
            .map(|&(secs, periodic)| DpdConfig {
                interval: Duration::from_secs(secs),
                retries: 3,
                periodic,
            })
            .collect();
        every_of(d.iter())
    }

    #[test]
    fn asks_a_third_of_the_shortest_on_demand_interval() {
        assert_eq!(every(&EngineConfig::default()), None);
        assert_eq!(with(&[(10, true)]), None);
        assert_eq!(
            with(&[(10, true), (30, false), (12, false)]),
            Some(Duration::from_secs(4))
        );
        assert_eq!(with(&[(2, false)]), Some(MIN_EVERY));
        assert_eq!(with(&[(3600, false)]), Some(MAX_EVERY));
    }
}
