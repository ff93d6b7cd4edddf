//! `interface LoopbackN`: a Linux dummy interface of that name, up unless
//! shut down, with the configured addresses; on a kernel without dummy
//! interfaces (some minimal and container kernels), a TUN device of that
//! name that rvpnd holds open and never reads: traffic to its addresses is
//! local, so nothing is ever sent through it. It exists while configured
//! and while rvpnd runs; an existing interface of that name that is not
//! rvpn's (no `rvpn` alias) is left alone, with the reason logged.

use esp_io::link::{self, Handle};
use ipnetwork::IpNetwork;
use std::collections::HashMap;
use tracing::{info, warn};

/// The loopback interfaces rvpn made, with the addresses it gave them.
#[derive(Default)]
pub struct Loopbacks {
    h: Option<Handle>,
    made: HashMap<String, Vec<IpNetwork>>,
    /// The TUN devices standing in for dummy interfaces, held open.
    tuns: HashMap<String, esp_io::tun::Tun>,
}

impl Loopbacks {
    /// Whether `name` is one of ours.
    pub fn has(&self, name: &str) -> bool {
        self.made.contains_key(name)
    }

    fn handle(&mut self) -> Option<Handle> {
        if self.h.is_none() {
            match link::connect() {
                Ok(h) => self.h = Some(h),
                Err(e) => warn!("loopback interfaces: cannot open rtnetlink: {e}"),
            }
        }
        self.h.clone()
    }

    /// Make `name` exist, up (or down when `shutdown`), with exactly
    /// `addresses`.
    pub async fn set(&mut self, name: &str, addresses: &[IpNetwork], shutdown: bool) {
        let Some(h) = self.handle() else { return };
        if !self.made.contains_key(name) {
            match link::get(&h, name).await {
                Ok(Some(l)) if l.alias.as_deref() == Some(link::ALIAS) => {}
                Ok(Some(l)) => {
                    warn!(
                        "{name}: an interface of that name exists and is not rvpn's (kind {}); leaving it alone",
                        l.kind.as_deref().unwrap_or("unknown")
                    );
                    return;
                }
                Ok(None) => match link::create_dummy(&h, name).await {
                    Ok(_) => info!("{name}: created (dummy interface)"),
                    Err(e) if e.errno() == Some(libc::EOPNOTSUPP) => {
                        match esp_io::tun::Tun::create_offload_single(name) {
                            Ok((tun, _)) => {
                                if let Ok(i) = link::index(&h, name).await {
                                    if let Err(e) = link::set_alias(&h, i, link::ALIAS).await {
                                        warn!("{name}: {e}");
                                    }
                                }
                                self.tuns.insert(name.to_string(), tun);
                                info!("{name}: created (a TUN device: this kernel has no dummy interfaces)");
                            }
                            Err(t) => {
                                warn!("{name}: cannot create it: no dummy interfaces ({e}), and no TUN: {t}");
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        warn!("{name}: cannot create it: {e}");
                        return;
                    }
                },
                Err(e) => {
                    warn!("{name}: {e}");
                    return;
                }
            }
            self.made.insert(name.to_string(), Vec::new());
        }
        if let Err(e) = link::set(&h, name, !shutdown, None).await {
            warn!("{name}: {e}");
        }
        let had = self.made.get(name).cloned().unwrap_or_default();
        for a in had.iter().filter(|a| !addresses.contains(a)) {
            if let Err(e) = link::del_address(&h, name, a.ip(), a.prefix()).await {
                warn!("{name}: {e}");
            }
        }
        for a in addresses.iter().filter(|a| !had.contains(a)) {
            if let Err(e) = link::add_address(&h, name, a.ip(), a.prefix()).await {
                warn!("{name}: {e}");
            }
        }
        self.made.insert(name.to_string(), addresses.to_vec());
    }

    /// Delete loopback `name`.
    pub async fn remove(&mut self, name: &str) {
        if self.made.remove(name).is_none() {
            return;
        }
        // Closing a TUN device removes it.
        if self.tuns.remove(name).is_some() {
            info!("{name}: removed");
            return;
        }
        if let Some(h) = self.handle() {
            match link::delete(&h, name).await {
                Ok(()) => info!("{name}: removed"),
                Err(e) => warn!("{name}: cannot remove it: {e}"),
            }
        }
    }

    /// Delete every loopback rvpn made (rvpnd stops).
    pub async fn remove_all(&mut self) {
        let names: Vec<String> = self.made.keys().cloned().collect();
        for n in names {
            self.remove(&n).await;
        }
    }
}
