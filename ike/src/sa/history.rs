//! Why a tunnel last went down: a DPD timeout, a delete from the peer, a
//! rekey that failed until the SA's hard lifetime, an authentication or
//! proposal failure, an operator's clear. The reason is kept per tunnel
//! (shown by `show crypto session`) and logged once when it is recorded.

use std::time::Instant;

use super::engine::Engine;
use super::ike_sa::IkeState;

impl Engine {
    /// Records `why` as the reason tunnel `name` went down (or failed to
    /// come up), and logs it unless it repeats the last reason (a tunnel
    /// that keeps failing the same way logs it once).
    pub(crate) fn note_down(&mut self, name: &str, why: &str, now: Instant) {
        let Some(rt) = self.tunnels.get_mut(name) else {
            return;
        };
        let repeat = rt.last_down.as_ref().is_some_and(|(w, _)| w == why);
        rt.last_down = Some((why.to_string(), now));
        if !repeat {
            self.logf(format!("{name}: down: {why}"));
        }
    }

    /// [`Engine::note_down`] for the tunnel of IKE SA `spi`, if the tunnel
    /// has no other established SA that carries it on.
    pub(crate) fn note_sa_down(&mut self, spi: u64, why: &str, now: Instant) {
        let Some(sa) = self.sas.get(&spi) else { return };
        let Some(t) = sa.tunnel.clone() else { return };
        if sa.state == IkeState::Rekeyed {
            return;
        }
        let other = self.sas.iter().any(|(k, s)| {
            *k != spi
                && s.tunnel.as_ref() == Some(&t)
                && s.state == IkeState::Established
                && !s.children.is_empty()
        });
        if !other {
            self.note_down(&t, why, now);
        }
    }

    /// Every tunnel's last reason for going down, with when it was
    /// recorded (tunnels that never went down are left out).
    pub fn last_down(&self) -> Vec<(String, String, Instant)> {
        self.tunnels
            .iter()
            .filter_map(|(n, rt)| {
                rt.last_down
                    .as_ref()
                    .map(|(w, at)| (n.clone(), w.clone(), *at))
            })
            .collect()
    }
}
