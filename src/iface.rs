//! The runtime interface table: what the daemon knows about each configured
//! interface beyond its configuration (admin state, when its configuration
//! last changed). Updated from configuration diffs, so an interface whose
//! section did not change keeps its state untouched.

use std::collections::BTreeMap;
use std::time::{Instant, SystemTime};
use tracing::warn;
use vtysh::diff::ChangeKind;
use vtysh::{Change, Config, Section};

/// A point in time, on both clocks: monotonic for ages, wall for display.
#[derive(Debug, Clone, Copy)]
pub struct Stamp {
    /// Monotonic time, for "X ago".
    pub mono: Instant,
    /// Wall-clock time, for timestamps in JSON.
    pub wall: SystemTime,
}

impl Stamp {
    /// The current time.
    pub fn now() -> Self {
        Stamp {
            mono: Instant::now(),
            wall: SystemTime::now(),
        }
    }
}

/// Runtime state of one interface.
#[derive(Debug, Clone)]
pub struct IfaceState {
    /// Administratively up (no `shutdown`).
    pub admin_up: bool,
    /// The configuration generation in which this interface's section last
    /// changed (or was created).
    pub config_generation: u64,
    /// When this interface's section last changed.
    pub last_change: Stamp,
}

/// Runtime state of every configured interface, by name.
#[derive(Debug, Default)]
pub struct IfaceTable {
    map: BTreeMap<String, IfaceState>,
}

impl IfaceTable {
    /// The state of one interface.
    pub fn get(&self, name: &str) -> Option<&IfaceState> {
        self.map.get(name)
    }

    /// Apply the interface changes of a commit. `cfg` is the new running
    /// configuration, `generation` the number of this commit. Interfaces
    /// that no change names are left exactly as they were.
    pub fn apply(&mut self, cfg: &Config, changes: &[Change], generation: u64, now: Stamp) {
        for c in changes {
            let Section::Interface(name) = &c.section else {
                continue;
            };
            match (&c.kind, cfg.interfaces.get(name)) {
                (ChangeKind::Removed, _) | (_, None) => {
                    self.map.remove(name);
                }
                (_, Some(ifc)) => {
                    let st = IfaceState {
                        admin_up: !ifc.shutdown,
                        config_generation: generation,
                        last_change: now,
                    };
                    self.map.insert(name.clone(), st);
                }
            }
        }
        // The diff should have named every difference; if it missed one,
        // repair the table rather than show stale state.
        self.map.retain(|name, _| {
            let keep = cfg.interfaces.contains_key(name);
            if !keep {
                warn!(interface = %name, "interface removed without a diff entry");
            }
            keep
        });
        for (name, ifc) in &cfg.interfaces {
            let st = self.map.entry(name.clone()).or_insert_with(|| {
                warn!(interface = %name, "interface added without a diff entry");
                IfaceState {
                    admin_up: !ifc.shutdown,
                    config_generation: generation,
                    last_change: now,
                }
            });
            if st.admin_up == ifc.shutdown {
                warn!(interface = %name, "admin state changed without a diff entry");
                *st = IfaceState {
                    admin_up: !ifc.shutdown,
                    config_generation: generation,
                    last_change: now,
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vtysh::model::Interface;

    fn cfg(ifs: &[(&str, &str)]) -> Config {
        let mut c = Config::default();
        for (n, d) in ifs {
            c.interfaces.insert(
                n.to_string(),
                Interface {
                    description: Some(d.to_string()),
                    ..Interface::default()
                },
            );
        }
        c
    }

    #[test]
    fn unchanged_interfaces_keep_their_state() {
        let mut t = IfaceTable::default();
        let a = cfg(&[("Tunnel1", "a"), ("Tunnel2", "b")]);
        let t0 = Stamp::now();
        t.apply(&a, &vtysh::diff(&Config::default(), &a), 1, t0);
        let b = cfg(&[("Tunnel1", "a"), ("Tunnel2", "changed"), ("Tunnel3", "new")]);
        let mut b2 = b.clone();
        b2.interfaces.remove("Tunnel1");
        let t1 = Stamp::now();
        t.apply(&b, &vtysh::diff(&a, &b), 2, t1);
        assert_eq!(t.get("Tunnel1").map(|s| s.config_generation), Some(1));
        assert_eq!(t.get("Tunnel1").map(|s| s.last_change.mono), Some(t0.mono));
        assert_eq!(t.get("Tunnel2").map(|s| s.config_generation), Some(2));
        assert_eq!(t.get("Tunnel3").map(|s| s.config_generation), Some(2));
        t.apply(&b2, &vtysh::diff(&b, &b2), 3, Stamp::now());
        assert!(t.get("Tunnel1").is_none());
        assert_eq!(t.get("Tunnel2").map(|s| s.config_generation), Some(2));
    }

    #[test]
    fn shutdown_changes_admin_state() {
        let mut t = IfaceTable::default();
        let a = cfg(&[("Tunnel1", "a")]);
        t.apply(&a, &vtysh::diff(&Config::default(), &a), 1, Stamp::now());
        assert_eq!(t.get("Tunnel1").map(|s| s.admin_up), Some(true));
        let mut b = a.clone();
        if let Some(i) = b.interfaces.get_mut("Tunnel1") {
            i.shutdown = true;
        }
        t.apply(&b, &vtysh::diff(&a, &b), 2, Stamp::now());
        assert_eq!(t.get("Tunnel1").map(|s| s.admin_up), Some(false));
        assert_eq!(t.get("Tunnel1").map(|s| s.config_generation), Some(2));
    }
}
