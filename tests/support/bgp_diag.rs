//! What a failed BGP interop test prints: each daemon's BGP state and log
//! tail, collected by a [`Diag`] and printed when it drops in a panic.

use super::bgp_peers::{tail, Bird, Frr, GoBgp, BIRDC, GOBGP, VTYSH};
use super::dut::Dut;
use super::rvpn::vtysh_bin;
use super::{output_text, run_timeout};
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Log lines in failure reports.
pub const TAIL: usize = 60;

pub type Probe = Box<dyn Fn() -> String>;

/// Prints, when dropped during a panic, each registered daemon's BGP state
/// and log tail. Create it after the daemons so that it drops first.
pub struct Diag(Vec<(String, Probe)>);

pub fn cmd_out(c: &mut Command) -> String {
    output_text(&run_timeout(c, Duration::from_secs(15)))
}

pub fn file_tail(p: &Path) -> String {
    tail(&fs::read_to_string(p).unwrap_or_default(), TAIL)
}

/// rvpnd's log for a report: its first lines (start-up, configuration)
/// and its tail, without the lines every vtysh connection adds (the tests
/// poll).
pub fn rvpnd_log(p: &Path) -> String {
    let text = fs::read_to_string(p).unwrap_or_default();
    let head: Vec<&str> = text.lines().take(20).collect();
    let rest: Vec<&str> = text
        .lines()
        .skip(20)
        .filter(|l| {
            !l.contains("rvpnd::server: connection") && !l.contains("rvpnd::daemon: line conn=")
        })
        .collect();
    format!(
        "{}\n[...]\n{}",
        head.join("\n"),
        tail(&rest.join("\n"), TAIL)
    )
}

impl Diag {
    pub fn new() -> Diag {
        Diag(Vec::new())
    }

    pub fn add(&mut self, label: String, probe: Probe) {
        self.0.push((label, probe));
    }

    pub fn dut(&mut self, d: &Dut) {
        match d {
            Dut::Rvpn(r) => {
                let (sock, log) = (r.socket(), r.log_path());
                self.add(
                    format!("rvpnd in {}", r.ns()),
                    Box::new(move || {
                        let mut c = Command::new(vtysh_bin());
                        c.arg("--socket").arg(&sock).env_remove("RVPN_SOCKET");
                        for cmd in [
                            "show ip bgp summary json",
                            "show ip bgp json",
                            "show bgp ipv6 unicast json",
                        ] {
                            c.args(["-c", cmd]);
                        }
                        format!("{}\n--- log:\n{}", cmd_out(&mut c), rvpnd_log(&log))
                    }),
                );
            }
            Dut::Frr(f) => self.frr_named(f, "FRR standing in for rvpnd"),
        }
    }

    pub fn frr(&mut self, f: &Frr) {
        self.frr_named(f, "FRR");
    }

    pub fn frr_named(&mut self, f: &Frr, what: &str) {
        let dir = f.dir().to_path_buf();
        self.add(
            format!("{what} {} in {}", f.tag(), f.ns()),
            Box::new(move || {
                let mut c = Command::new(VTYSH);
                c.arg("--vty_socket")
                    .arg(&dir)
                    .arg("--config_dir")
                    .arg(&dir);
                for cmd in [
                    "show bgp summary",
                    "show bgp ipv4 unicast",
                    "show bgp ipv6 unicast",
                ] {
                    c.args(["-c", cmd]);
                }
                format!(
                    "{}\n--- bgpd.log:\n{}",
                    cmd_out(&mut c),
                    file_tail(&dir.join("bgpd.log"))
                )
            }),
        );
    }

    pub fn bird(&mut self, b: &Bird) {
        let (sock, log) = (b.socket(), b.log_path());
        self.add(
            format!("BIRD {} in {}", b.tag(), b.ns()),
            Box::new(move || {
                let mut s = String::new();
                for cmd in [&["show", "protocols", "all"][..], &["show", "route", "all"]] {
                    let mut c = Command::new(BIRDC);
                    c.arg("-s").arg(&sock).args(cmd);
                    s.push_str(&cmd_out(&mut c));
                }
                format!("{s}\n--- log:\n{}", file_tail(&log))
            }),
        );
    }

    pub fn gobgp(&mut self, g: &GoBgp) {
        let (ns, port, log) = (g.ns().to_string(), g.api_port().to_string(), g.log_path());
        self.add(
            format!("GoBGP {} in {ns}", g.tag()),
            Box::new(move || {
                let mut s = String::new();
                for cmd in [&["neighbor"][..], &["global", "rib"]] {
                    let mut c = Command::new("ip");
                    c.args(["netns", "exec", &ns, GOBGP])
                        .args(["-u", "127.0.0.1", "-p", &port])
                        .args(cmd);
                    s.push_str(&cmd_out(&mut c));
                }
                format!("{s}\n--- log:\n{}", file_tail(&log))
            }),
        );
    }

    pub fn file(&mut self, label: &str, p: &Path) {
        let p = p.to_path_buf();
        self.add(label.to_string(), Box::new(move || file_tail(&p)));
    }
}

impl Drop for Diag {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for (label, probe) in &self.0 {
                eprintln!("\n===== {label}\n{}", probe());
            }
        }
    }
}
