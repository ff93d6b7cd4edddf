//! What show commands see of the engine: a snapshot of each IKE SA and
//! its Child SAs, taken on request.

use super::engine::Engine;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A snapshot of one IKE SA for show commands.
#[derive(Debug, Clone)]
pub struct IkeSaInfo {
    /// The tunnel, once the SA is matched to one.
    pub tunnel: Option<String>,
    /// Our address.
    pub local: SocketAddr,
    /// The peer's address.
    pub remote: SocketAddr,
    /// The initiator's SPI.
    pub spi_i: u64,
    /// The responder's SPI (zero before the IKE_SA_INIT response).
    pub spi_r: u64,
    /// Whether we are the original initiator.
    pub initiator: bool,
    /// The state: CONNECTING, ESTABLISHED, REKEYED or DELETING.
    pub state: &'static str,
    /// The negotiated algorithms, as text (empty before negotiation).
    pub proposal: String,
    /// The peer's authenticated identity, once known.
    pub remote_id: Option<String>,
    /// Time since the SA was established (or created, before that).
    pub age: Duration,
    /// Time until the rekey, if one is scheduled.
    pub rekey_in: Option<Duration>,
    /// IKE moved to UDP 4500 (NAT-T).
    pub natt: bool,
    /// MOBIKE is in use (RFC 4555).
    pub mobike: bool,
    /// The peer is behind a NAT (NAT detection).
    pub nat_remote: bool,
    /// We are behind a NAT.
    pub nat_local: bool,
    /// How we authenticated (method and certificate), once we did.
    pub auth_local: Option<super::sigauth::AuthInfo>,
    /// How the peer authenticated, once it did.
    pub auth_remote: Option<super::sigauth::AuthInfo>,
    /// IKE fragmentation (RFC 7383) negotiated with the peer.
    pub fragmentation: bool,
    /// (fragments sent, fragments received) on this SA.
    pub fragments: (u64, u64),
    /// Its Child SAs.
    pub children: Vec<ChildSaInfo>,
    /// `Some(N)`: its tunnel is a Virtual-Access cloned from
    /// Virtual-TemplateN.
    pub virtual_template: Option<u32>,
    /// What configuration payloads settled for its tunnel.
    pub cp: super::vtemplate::CpResult,
}

/// A snapshot of one Child SA.
#[derive(Debug, Clone)]
pub struct ChildSaInfo {
    /// Our (inbound) SPI.
    pub spi_in: u32,
    /// The peer's (outbound) SPI.
    pub spi_out: u32,
    /// The negotiated algorithms, as text.
    pub proposal: String,
    /// Local traffic selectors, as text.
    pub ts_local: Vec<String>,
    /// Remote traffic selectors, as text.
    pub ts_remote: Vec<String>,
    /// Time since the Child SA was created.
    pub age: Duration,
    /// Time until the rekey.
    pub rekey_in: Duration,
}

impl Engine {
    /// Every IKE SA, for show commands.
    pub fn ike_sas(&self, now: Instant) -> Vec<IkeSaInfo> {
        let mut v: Vec<IkeSaInfo> = self
            .sas
            .values()
            .map(|sa| IkeSaInfo {
                tunnel: sa.tunnel.clone(),
                local: sa.local,
                remote: sa.remote,
                spi_i: sa.spi_i,
                spi_r: sa.spi_r,
                initiator: sa.initiator,
                state: sa.state.name(),
                proposal: sa.chosen.map(|c| c.describe()).unwrap_or_default(),
                remote_id: sa.remote_id.as_ref().map(|i| i.to_string()),
                age: now.saturating_duration_since(sa.established.unwrap_or(sa.created)),
                rekey_in: sa.rekey_at.map(|r| r.saturating_duration_since(now)),
                natt: sa.natt,
                mobike: sa.mobike,
                nat_remote: sa.nat_remote,
                nat_local: sa.nat_local,
                auth_local: sa.auth_local.clone(),
                auth_remote: sa.auth_remote.clone(),
                fragmentation: sa.frag.enabled,
                fragments: (sa.frag.sent, sa.frag.received),
                children: sa
                    .children
                    .iter()
                    .map(|c| ChildSaInfo {
                        spi_in: c.spi_in,
                        spi_out: c.spi_out,
                        proposal: c.chosen.describe(),
                        ts_local: c.ts_local.iter().map(|s| s.to_string()).collect(),
                        ts_remote: c.ts_remote.iter().map(|s| s.to_string()).collect(),
                        age: now.saturating_duration_since(c.created),
                        rekey_in: c.rekey_at.saturating_duration_since(now),
                    })
                    .collect(),
                virtual_template: sa
                    .tunnel
                    .as_deref()
                    .and_then(|n| self.tunnel_cfg(n))
                    .and_then(|t| t.virtual_template),
                cp: sa
                    .tunnel
                    .as_deref()
                    .and_then(|n| self.vt.cp_of(n))
                    .cloned()
                    .unwrap_or_default(),
            })
            .collect();
        v.sort_by(|a, b| a.tunnel.cmp(&b.tunnel).then(a.spi_i.cmp(&b.spi_i)));
        v
    }
}
