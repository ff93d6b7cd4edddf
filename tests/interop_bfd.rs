//! BFD interop: rvpnd's BFD (RFC 5880/5881, single hop, asynchronous)
//! against FRR 8.4's bfdd, with bgpd's `neighbor X bfd` on both sides, in
//! two network namespaces joined by a veth. Checked the way a user would:
//! `show bfd peers json` and `show ip bgp ... json` on both sides.
//!
//! 1 `bfd_up_with_frr`: both sides reach BFD Up and BGP Established.
//! 2 `bfd_down_takes_bgp_down`: 100 ms x 3 on both; FRR's bfdd is frozen
//!   (SIGSTOP, so FRR's bgpd learns nothing and keeps its session): rvpn's
//!   BGP session must be down within 600 ms (the figure is printed), by
//!   rvpn's own Cease/BFD Down, and FRR's routes gone; once bfdd runs
//!   again, BFD Up and BGP Established again with the routes back.
//! 3 `timers_negotiated`: FRR at 50 x 3, rvpn at 150/200 x 4: each side
//!   shows the other's configured intervals as the remote ones.
//!
//! Needs root and FRR (zebra, bgpd, bfdd); without root each test prints
//! why it is skipped and returns. Run:
//!
//!     cargo test -p rvpnd --test interop_bfd -- --nocapture

mod support;

use serde_json::Value;
use std::time::{Duration, Instant};
use support::bgp_peers::{require_bfdd, tail, Frr, FrrOpts};
use support::netns::{veth, Netns};
use support::rvpn::{Rvpnd, RvpndOpts};

const RV: &str = "10.1.0.1";
const FRR: &str = "10.1.0.2";
/// BFD and BGP coming up (FRR retries BGP every 2 s; BFD starts at 1 s).
const UP: Duration = Duration::from_secs(40);
/// The bound of the detection test: detection time (300 ms) plus margin.
const DETECT_BOUND: Duration = Duration::from_millis(600);

fn ready() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: the BFD interop tests need root (network namespaces, FRR)");
        return false;
    }
    require_bfdd();
    true
}

struct Lab {
    // Dropped first: the daemons, then the namespaces.
    rv: Rvpnd,
    frr: Frr,
    _rv_ns: Netns,
    _frr_ns: Netns,
}

impl Lab {
    /// rvpn (AS 65000, `network 10.100.0.0/16`) and FRR (AS 65001, two
    /// networks), each with `neighbor X bfd` plus `bfd_args` (e.g. "3 100
    /// 100").
    fn start(rv_bfd: &str, frr_bfd: &str) -> Lab {
        let rv_ns = Netns::new("rv");
        let frr_ns = Netns::new("frr");
        veth(&rv_ns, &frr_ns, &format!("{RV}/24"), &format!("{FRR}/24"));
        let rv_cfg = format!(
            "hostname rv\n!\nrouter bgp 65000\n bgp router-id 10.0.0.1\n \
             no bgp ebgp-requires-policy\n neighbor {FRR} remote-as 65001\n \
             neighbor {FRR} bfd{rv_bfd}\n !\n address-family ipv4 unicast\n  \
             network 10.100.0.0/16\n exit-address-family\n!\n"
        );
        let frr_cfg = format!(
            "router bgp 65001\n bgp router-id 10.0.0.2\n no bgp ebgp-requires-policy\n \
             no bgp network import-check\n neighbor {RV} remote-as 65000\n \
             neighbor {RV} timers connect 2\n neighbor {RV} bfd{frr_bfd}\n \
             address-family ipv4 unicast\n  network 10.200.1.0/24\n  network 10.200.2.0/24\n \
             exit-address-family\n"
        );
        let frr = Frr::start_with(
            &frr_ns,
            &frr_cfg,
            FrrOpts {
                bfdd: true,
                ..FrrOpts::tagged("frr")
            },
        );
        let rv = Rvpnd::start_with(
            &rv_ns,
            &rv_cfg,
            RvpndOpts {
                tag: "rvpn".into(),
                ..RvpndOpts::default()
            },
        );
        Lab {
            rv,
            frr,
            _rv_ns: rv_ns,
            _frr_ns: frr_ns,
        }
    }

    /// Everything a failure report needs.
    fn report(&self) -> String {
        let rv_bfd = self.rv.vtysh(&["show bfd peers"]);
        let frr_bfd = self.frr.vtysh(&["show bfd peers"]);
        let rv_log = std::fs::read_to_string(self.rv.log_path()).unwrap_or_default();
        let rv_log: String = rv_log
            .lines()
            .filter(|l| l.contains("BFD") || l.contains("bgp"))
            .collect::<Vec<_>>()
            .join("\n");
        format!(
            "--- rvpn show bfd peers:\n{}\n--- FRR show bfd peers:\n{}\n--- rvpnd log (BFD, BGP):\n{}\n--- FRR log:\n{}",
            String::from_utf8_lossy(&rv_bfd.stdout),
            String::from_utf8_lossy(&frr_bfd.stdout),
            tail(&rv_log, 40),
            tail(&self.frr.log(), 40)
        )
    }

    fn rv_json(&self, cmd: &str) -> Result<Value, String> {
        let o = self.rv.vtysh(&[cmd]);
        if !o.status.success() {
            return Err(format!(
                "rvpn `{cmd}` failed: {}",
                String::from_utf8_lossy(&o.stderr)
            ));
        }
        serde_json::from_slice(&o.stdout).map_err(|e| format!("rvpn `{cmd}`: {e}"))
    }

    /// rvpn's BFD entry for FRR.
    fn rv_bfd(&self) -> Result<Value, String> {
        let v = self.rv_json("show bfd peers json")?;
        find_peer(&v, FRR).ok_or_else(|| format!("rvpn: no BFD peer {FRR}: {v}"))
    }

    /// FRR's BFD entry for rvpn.
    fn frr_bfd(&self) -> Result<Value, String> {
        let v = self
            .frr
            .try_json("show bfd peers json")
            .ok_or("FRR: show bfd peers json failed")?;
        find_peer(&v, RV).ok_or_else(|| format!("FRR: no BFD peer {RV}: {v}"))
    }

    /// rvpn's BGP state of FRR's session.
    fn rv_bgp_state(&self) -> Result<String, String> {
        let v = self.rv_json("show ip bgp summary json")?;
        v["ipv4Unicast"]["peers"][FRR]["state"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("rvpn: no peer {FRR} in the summary: {v}"))
    }

    /// FRR's prefixes in rvpn's table.
    fn rv_frr_routes(&self) -> Result<Vec<String>, String> {
        let v = self.rv_json("show ip bgp json")?;
        let mut out = Vec::new();
        if let Some(r) = v["routes"].as_object() {
            for (p, paths) in r {
                let from_frr = paths.as_array().is_some_and(|ps| {
                    ps.iter().any(|x| {
                        x["peerId"].as_str() == Some(FRR)
                            || x["nexthops"]
                                .as_array()
                                .is_some_and(|n| n.iter().any(|h| h["ip"] == FRR))
                    })
                });
                if from_frr {
                    out.push(p.clone());
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn wait<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut() -> Result<T, String>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match f() {
                Ok(v) => return v,
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                panic!(
                    "{what}: not so after {timeout:?}; last seen: {last}\n{}",
                    self.report()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Both BFD sessions Up, BGP Established on both sides, FRR's routes
    /// in rvpn's table.
    fn wait_all_up(&self) {
        self.wait("rvpn: BFD with FRR up", UP, || {
            let p = self.rv_bfd()?;
            (p["status"] == "up").then_some(()).ok_or(p.to_string())
        });
        self.wait("FRR: BFD with rvpn up", UP, || {
            let p = self.frr_bfd()?;
            (p["status"] == "up").then_some(()).ok_or(p.to_string())
        });
        self.wait("rvpn: BGP with FRR Established", UP, || {
            let s = self.rv_bgp_state()?;
            (s == "Established").then_some(()).ok_or(s)
        });
        self.wait("FRR: BGP with rvpn Established", UP, || {
            self.frr
                .established(RV)
                .then_some(())
                .ok_or(format!("{:?}", self.frr.neighbor_state(RV)))
        });
        self.wait("rvpn: FRR's two routes", UP, || {
            let r = self.rv_frr_routes()?;
            (r == ["10.200.1.0/24", "10.200.2.0/24"])
                .then_some(())
                .ok_or(format!("{r:?}"))
        });
    }

    /// FRR's bfdd frozen (SIGSTOP: it neither sends nor answers, and
    /// FRR's bgpd hears nothing of it, so only rvpn's reaction can take
    /// the session down) or thawed (SIGCONT).
    fn freeze_frr_bfdd(&self, freeze: bool) {
        let pid = self.frr.bfdd_pid().expect("bfdd runs");
        support::signal(pid, if freeze { libc::SIGSTOP } else { libc::SIGCONT });
    }
}

fn find_peer(v: &Value, peer: &str) -> Option<Value> {
    v.as_array()?.iter().find(|p| p["peer"] == peer).cloned()
}

#[test]
fn bfd_up_with_frr() {
    if !ready() {
        return;
    }
    let lab = Lab::start("", "");
    lab.wait_all_up();
    let p = lab.rv_bfd().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p["local"], RV, "{p}");
    assert_ne!(p["remote-id"], 0, "{p}");
    assert_eq!(p["detect-multiplier"], 3, "{p}");
    assert_eq!(p["receive-interval"], 300, "{p}");
    assert_eq!(p["transmit-interval"], 300, "{p}");
    let f = lab.frr_bfd().unwrap_or_else(|e| panic!("{e}"));
    // The discriminators agree across the two sides.
    assert_eq!(f["id"], p["remote-id"], "FRR {f}\nrvpn {p}");
    assert_eq!(f["remote-id"], p["id"], "FRR {f}\nrvpn {p}");
    let text = lab.rv.vtysh_ok(&["show bfd peers"]);
    assert!(text.starts_with("BFD Peers:\n"), "{text}");
    assert!(
        text.contains(&format!("peer {FRR} local-address {RV} vrf default")),
        "{text}"
    );
    assert!(text.contains("Status: up"), "{text}");
    println!("--- rvpn# show bfd peers\n{text}");
    println!(
        "--- FRR# show bfd peers\n{}",
        lab.frr.vtysh_ok(&["show bfd peers"])
    );
    let brief = lab.rv.vtysh_ok(&["show bfd peers brief"]);
    assert!(brief.contains("Session count: 1"), "{brief}");
}

#[test]
fn bfd_down_takes_bgp_down() {
    if !ready() {
        return;
    }
    let lab = Lab::start(" 3 100 100", " 3 100 100");
    lab.wait_all_up();
    // The fast timers in force on both sides (after the Poll Sequence).
    lab.wait("100 ms timers in force", UP, || {
        let p = lab.rv_bfd()?;
        (p["remote-transmit-interval"] == 100 && p["remote-receive-interval"] == 100)
            .then_some(())
            .ok_or(p.to_string())
    });
    let t0 = Instant::now();
    lab.freeze_frr_bfdd(true);
    let cut_took = t0.elapsed();
    let mut down_at = None;
    while t0.elapsed() < Duration::from_secs(5) {
        if lab.rv_bgp_state().is_ok_and(|s| s != "Established") {
            down_at = Some(t0.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let routes_after = lab.rv_frr_routes();
    let Some(took) = down_at else {
        panic!(
            "rvpn's BGP session with FRR still Established 5 s after the cut\n{}",
            lab.report()
        );
    };
    support::figure(&format!(
        "BFD detection: rvpn's BGP session with FRR down {} ms after freezing FRR's bfdd \
         (kill -STOP took {} ms; 100 ms x 3 => 300 ms detection time)",
        took.as_millis(),
        cut_took.as_millis()
    ));
    assert!(
        took < DETECT_BOUND,
        "BGP down only after {took:?} (bound {DETECT_BOUND:?})\n{}",
        lab.report()
    );
    assert_eq!(
        routes_after,
        Ok(Vec::new()),
        "FRR's routes must be gone at once\n{}",
        lab.report()
    );
    let p = lab.rv_bfd().unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(p["status"], "up", "{p}");
    assert_eq!(p["diagnostic"], "control detection time expired", "{p}");
    // FRR's bgpd heard why: rvpn's Cease/BFD Down (RFC 9384). From its
    // log file: vtysh would wait for the frozen bfdd.
    assert!(
        lab.frr
            .wait_log("6/10 (Cease/BFD Down)", Duration::from_secs(5)),
        "FRR did not receive Cease/BFD Down\n{}",
        lab.report()
    );
    // Restored: everything comes back by itself.
    lab.freeze_frr_bfdd(false);
    lab.wait_all_up();
    let p = lab.rv_bfd().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p["session-down-count"], 1, "{p}");
}

#[test]
fn timers_negotiated() {
    if !ready() {
        return;
    }
    // rvpn: multiplier 4, required min rx 200 ms, desired min tx 150 ms.
    let lab = Lab::start(" 4 200 150", " 3 50 50");
    lab.wait_all_up();
    lab.wait("FRR shows rvpn's intervals as remote", UP, || {
        let f = lab.frr_bfd()?;
        (f["remote-receive-interval"] == 200
            && f["remote-transmit-interval"] == 150
            && f["remote-detect-multiplier"] == 4
            && f["receive-interval"] == 50
            && f["transmit-interval"] == 50
            && f["detect-multiplier"] == 3)
            .then_some(())
            .ok_or(f.to_string())
    });
    lab.wait("rvpn shows FRR's intervals as remote", UP, || {
        let p = lab.rv_bfd()?;
        (p["remote-receive-interval"] == 50
            && p["remote-transmit-interval"] == 50
            && p["remote-detect-multiplier"] == 3
            && p["receive-interval"] == 200
            && p["transmit-interval"] == 150
            && p["detect-multiplier"] == 4)
            .then_some(())
            .ok_or(p.to_string())
    });
}
