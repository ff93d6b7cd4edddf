//! `--dataplane none`: IKE without a data plane. Every SA pair counts as
//! installed at once and carries nothing; no interface is created. For
//! measuring IKE (and the daemon around it) alone, as a hub with
//! thousands of spokes would run it without the cost of their interfaces
//! (benches/ike-setup-rate.sh `HUB=vt-none`).

use super::{Backend, DpError, DpStats, IfaceSpec, SaCounters};
use ike::sa::{ChildMove, ChildSaParams};
use std::collections::BTreeMap;

/// The SA pairs IKE believes installed, by (tunnel, inbound SPI), for
/// `show` commands.
#[derive(Default)]
pub struct NoDataplane {
    pairs: BTreeMap<(String, u32), u32>,
}

impl Backend for NoDataplane {
    const NAME: &'static str = "none";

    async fn install(
        &mut self,
        child: Box<ChildSaParams>,
        iface: &IfaceSpec,
    ) -> Result<(), DpError> {
        self.pairs
            .insert((iface.name.clone(), child.spi_in), child.spi_out);
        Ok(())
    }

    async fn remove(&mut self, tunnel: &str, spi_in: u32, _spi_out: u32) {
        self.pairs.remove(&(tunnel.to_string(), spi_in));
    }

    async fn update(&mut self, _iface: &IfaceSpec) {}

    async fn moved(&mut self, _m: &ChildMove) {}

    async fn remove_interface(&mut self, name: &str) {
        self.pairs.retain(|(t, _), _| t != name);
    }

    async fn stats(&mut self) -> DpStats {
        DpStats {
            backend: Self::NAME,
            sas: self
                .pairs
                .iter()
                .map(|((tunnel, spi_in), spi_out)| SaCounters {
                    tunnel: tunnel.clone(),
                    spi_in: *spi_in,
                    spi_out: *spi_out,
                    ..Default::default()
                })
                .collect(),
            interfaces: vec![],
        }
    }

    async fn shutdown(self) {}
}

/// A Child SA of a Virtual-Template tunnel with made-up keys, for tests.
#[cfg(test)]
pub(crate) fn test_child(tunnel: &str, spi_in: u32, spi_out: u32) -> ChildSaParams {
    ChildSaParams {
        tunnel: tunnel.into(),
        spi_in,
        spi_out,
        chosen: ike::sa::proposal::Chosen {
            encr: (20, 256),
            integ: None,
            prf: None,
            dh: None,
            esn: false,
        },
        keys: ike::crypto::ChildKeys {
            encr_i: ike::crypto::SecretBytes::new(vec![1; 36]),
            integ_i: ike::crypto::SecretBytes::new(vec![]),
            encr_r: ike::crypto::SecretBytes::new(vec![2; 36]),
            integ_r: ike::crypto::SecretBytes::new(vec![]),
        },
        we_initiated: false,
        local: "192.0.2.1:500".parse().expect("address"),
        remote: "192.0.2.2:500".parse().expect("address"),
        encap: false,
        replay_window: 1024,
        rekey_of: None,
        lifetime_kb: 0,
        hard_lifetime: std::time::Duration::from_secs(3600),
        virtual_template: Some(1),
        cp: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> IfaceSpec {
        IfaceSpec {
            name: name.into(),
            alias: None,
            mtu: 1400,
            addresses: vec![],
            tcp_adjust_mss: None,
            if_id: 1,
            dynamic: true,
        }
    }

    #[tokio::test]
    async fn pairs_are_held_until_removed() {
        let mut b = NoDataplane::default();
        let child = test_child("rvpn-va1", 0x11, 0x22);
        assert!(b.install(Box::new(child), &spec("rvpn-va1")).await.is_ok());
        let st = b.stats().await;
        assert_eq!(st.backend, "none");
        assert_eq!(st.sas.len(), 1);
        assert_eq!((st.sas[0].spi_in, st.sas[0].spi_out), (0x11, 0x22));
        b.remove("rvpn-va1", 0x11, 0x22).await;
        assert!(b.stats().await.sas.is_empty());
    }
}
