//! The device under test of the BGP interop tests: rvpnd, or FRR's bgpd
//! standing in for it with the same configuration text (to check the
//! peers' configuration and the tests' logic independently of rvpnd);
//! its show commands in rvpn's syntax and waits on its sessions and
//! paths.

use super::bgp_json::{p_best, p_flag, p_peer, paths_in, short, table_cmd};
use super::bgp_peers::{Frr, FrrOpts};
use super::netns::Netns;
use super::rvpn::{Rvpnd, RvpndOpts};
use super::{output_text, wait_until};
use serde_json::Value;
use std::time::Duration;

/// What runs in rvpnd's place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Rvpn,
    /// FRR's bgpd with the same configuration text (peer-side checks).
    FrrStandIn,
}

/// The device under test: rvpnd, or FRR standing in for it.
pub enum Dut {
    Rvpn(Rvpnd),
    Frr(Frr),
}

/// rvpnd's configuration made acceptable to FRR: `no bgp network
/// import-check` (no zebra routes for the `network`s) and `timers connect
/// 2` for every `remote-as` (FRR retries after 120 s otherwise).
pub fn standin_config(config: &str) -> String {
    let mut out = String::new();
    for line in config.lines() {
        out.push_str(line);
        out.push('\n');
        let t: Vec<&str> = line.split_whitespace().collect();
        if t.len() == 3 && t[0] == "router" && t[1] == "bgp" {
            out.push_str(" no bgp network import-check\n");
        }
        if t.len() == 4 && t[0] == "neighbor" && t[2] == "remote-as" {
            out.push_str(&format!(" neighbor {} timers connect 2\n", t[1]));
        }
    }
    out
}

impl Dut {
    pub fn start(kind: Kind, ns: &Netns, config: &str) -> Dut {
        match kind {
            Kind::Rvpn => Dut::Rvpn(Rvpnd::start_with(
                ns,
                config,
                RvpndOpts {
                    tag: "rvpn".into(),
                    ..RvpndOpts::default()
                },
            )),
            Kind::FrrStandIn => Dut::Frr(Frr::start_with(
                ns,
                &standin_config(config),
                FrrOpts::tagged("dut"),
            )),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Dut::Rvpn(r) => format!("rvpnd in {}", r.ns()),
            Dut::Frr(f) => format!("FRR standing in for rvpnd in {}", f.ns()),
        }
    }

    /// A show command in rvpn's syntax (ending in `json`), parsed; Err with
    /// what vtysh said otherwise (for polling and messages).
    pub fn try_show(&self, cmd: &str) -> Result<Value, String> {
        let o = match self {
            Dut::Rvpn(r) => r.vtysh(&[cmd]),
            // FRR's `show ip bgp summary json` has IPv4 only.
            Dut::Frr(f) if cmd == "show ip bgp summary json" => f.vtysh(&["show bgp summary json"]),
            Dut::Frr(f) => f.vtysh(&[cmd]),
        };
        if !o.status.success() {
            return Err(format!(
                "{}: `{cmd}` failed ({}): {}",
                self.describe(),
                o.status,
                output_text(&o).trim()
            ));
        }
        serde_json::from_slice(&o.stdout).map_err(|e| {
            format!(
                "{}: `{cmd}` is not JSON ({e}): {}",
                self.describe(),
                output_text(&o).trim()
            )
        })
    }

    pub fn show(&self, cmd: &str) -> Value {
        self.try_show(cmd).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `configure terminal`, the lines, `end`; panics unless all succeed.
    pub fn configure(&self, lines: &[&str]) {
        match self {
            Dut::Rvpn(r) => {
                let mut c = vec!["configure terminal"];
                c.extend_from_slice(lines);
                c.push("end");
                r.vtysh_ok(&c);
            }
            Dut::Frr(f) => f.configure(lines),
        }
    }

    /// An exec command (`clear ip bgp ...`); panics unless it succeeds.
    pub fn exec(&self, cmd: &str) {
        match self {
            Dut::Rvpn(r) => {
                r.vtysh_ok(&[cmd]);
            }
            Dut::Frr(f) => {
                f.vtysh_ok(&[cmd]);
            }
        }
    }
}

/// The summary entry of `peer` (IPv4 or IPv6 unicast).
pub fn dut_peer(dut: &Dut, peer: &str) -> Result<Value, String> {
    let v = dut.try_show("show ip bgp summary json")?;
    for af in ["ipv4Unicast", "ipv6Unicast"] {
        if let Some(p) = v
            .get(af)
            .and_then(|a| a.get("peers"))
            .and_then(|p| p.get(peer))
        {
            return Ok(p.clone());
        }
    }
    Err(format!("no peer {peer} in the summary: {}", short(&v)))
}

pub fn dut_established(dut: &Dut, peer: &str) -> Result<Value, String> {
    let p = dut_peer(dut, peer)?;
    if p["state"] == "Established" {
        Ok(p)
    } else {
        Err(format!("{peer}: {}", short(&p)))
    }
}

pub fn wait_dut_established(dut: &Dut, peer: &str, timeout: Duration) -> Value {
    wait_until(
        &format!("{}: session with {peer} Established", dut.describe()),
        timeout,
        || dut_established(dut, peer),
    )
}

/// The DUT's paths of `prefix` (its table), Err if the show fails.
pub fn dut_paths(dut: &Dut, prefix: &str) -> Result<Vec<Value>, String> {
    Ok(paths_in(&dut.try_show(table_cmd(prefix))?, prefix))
}

/// Wait until the DUT has a valid best path of `prefix` from `from`; the
/// path.
pub fn wait_dut_path(dut: &Dut, prefix: &str, from: &str, timeout: Duration) -> Value {
    wait_until(
        &format!("{}: {prefix} learnt from {from}", dut.describe()),
        timeout,
        || {
            let paths = dut_paths(dut, prefix)?;
            paths
                .iter()
                .find(|p| p_peer(p) == from && p_flag(p, "valid") && p_best(p))
                .cloned()
                .ok_or_else(|| format!("paths of {prefix}: {paths:?}"))
        },
    )
}

/// Wait until the DUT has no path of `prefix`.
pub fn wait_dut_gone(dut: &Dut, prefix: &str, timeout: Duration) {
    wait_until(
        &format!("{}: {prefix} gone", dut.describe()),
        timeout,
        || match dut_paths(dut, prefix)? {
            v if v.is_empty() => Ok(()),
            v => Err(format!("still {v:?}")),
        },
    )
}

/// The DUT's paths of an IPv4 prefix from `show ip bgp PREFIX json`.
pub fn dut_detail(dut: &Dut, prefix: &str) -> Vec<Value> {
    let v = dut.show(&format!("show ip bgp {prefix} json"));
    v["paths"].as_array().cloned().unwrap_or_default()
}
