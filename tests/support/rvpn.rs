//! rvpnd inside a [`Netns`], driven with the vtysh binary.
//!
//! rvpnd runs as `ip netns exec NS <target>/rvpnd -f CONF --socket SOCK`
//! with its configuration, socket and log in a scratch directory. vtysh
//! talks to it over the Unix socket (a file, so vtysh runs outside the
//! namespace). vtysh belongs to another package of the workspace: it is
//! expected next to rvpnd in the target directory (`cargo build
//! --workspace`, which scripts/test runs before the tests).

use super::netns::Netns;
use super::{output_text, run_timeout, wait_for, Proc, Scratch};
use serde_json::Value;
use std::fs;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// The rvpnd binary cargo built for these tests.
pub fn rvpnd_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rvpnd"))
}

/// The vtysh binary next to rvpnd; panics with what to do if missing.
pub fn vtysh_bin() -> PathBuf {
    let p = rvpnd_bin().with_file_name("vtysh");
    assert!(
        p.is_file(),
        "{} is missing: run `cargo build --workspace` first (scripts/test does) \
         so that vtysh is built next to rvpnd",
        p.display()
    );
    p
}

/// How to start rvpnd.
#[derive(Debug, Clone)]
pub struct RvpndOpts {
    /// Short name used in paths and messages.
    pub tag: String,
    /// Extra command-line arguments (e.g. `--dataplane userspace`).
    pub args: Vec<String>,
    /// Extra environment (e.g. `RVPN_IKE_PORT`).
    pub env: Vec<(String, String)>,
    /// RUST_LOG for the daemon.
    pub rust_log: String,
}

impl Default for RvpndOpts {
    fn default() -> Self {
        RvpndOpts {
            tag: "rvpnd".into(),
            args: Vec::new(),
            env: Vec::new(),
            rust_log: "debug".into(),
        }
    }
}

/// A running rvpnd; killed on drop.
pub struct Rvpnd {
    ns: String,
    opts: RvpndOpts,
    dir: Scratch,
    proc: Option<Proc>,
}

impl Rvpnd {
    /// Start rvpnd in `ns` with `config` as its startup configuration.
    pub fn start(ns: &Netns, config: &str) -> Rvpnd {
        Self::start_with(ns, config, RvpndOpts::default())
    }

    /// Start rvpnd with options; returns once its socket accepts
    /// connections (at most 10 s), panics with its log otherwise.
    pub fn start_with(ns: &Netns, config: &str, opts: RvpndOpts) -> Rvpnd {
        let dir = Scratch::new(&opts.tag);
        let mut d = Rvpnd {
            ns: ns.name().to_string(),
            opts,
            dir,
            proc: None,
        };
        fs::write(d.config_path(), config).expect("write rvpnd.conf");
        d.launch();
        d
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("rvpnd.conf")
    }
    pub fn socket(&self) -> PathBuf {
        self.dir.join("rvpnd.sock")
    }
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("rvpnd.log")
    }
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
    pub fn ns(&self) -> &str {
        &self.ns
    }
    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().map(|p| p.id())
    }

    fn launch(&mut self) {
        let _ = fs::remove_file(self.socket());
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("rvpnd.log");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns])
            .arg(rvpnd_bin())
            .arg("-f")
            .arg(self.config_path())
            .arg("--socket")
            .arg(self.socket())
            .args(&self.opts.args)
            .env("RUST_LOG", &self.opts.rust_log)
            .env_remove("RVPN_SOCKET")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone"))
            .stderr(log);
        for (k, v) in &self.opts.env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn rvpnd");
        let mut proc = Proc::new(child, format!("rvpnd {}", self.opts.tag));
        let sock = self.socket();
        let up = wait_for(
            || proc.exited().is_some() || UnixStream::connect(&sock).is_ok(),
            Duration::from_secs(10),
        );
        if !up || proc.exited().is_some() {
            let st = proc.exited();
            proc.kill();
            panic!(
                "rvpnd {} in {} did not come up (exit {st:?}):\n{}",
                self.opts.tag,
                self.ns,
                self.log()
            );
        }
        self.proc = Some(proc);
    }

    /// Run vtysh with one `-c` per command (bounded: 15 s); its output.
    /// vtysh stops at the first refused command, exit code 1.
    pub fn vtysh(&self, cmds: &[&str]) -> Output {
        let mut c = Command::new(vtysh_bin());
        c.arg("--socket")
            .arg(self.socket())
            .env_remove("RVPN_SOCKET");
        for cmd in cmds {
            c.args(["-c", cmd]);
        }
        run_timeout(&mut c, Duration::from_secs(15))
    }

    /// Like [`Rvpnd::vtysh`], but panics (with the daemon's log) unless all
    /// commands succeed; vtysh's stdout.
    pub fn vtysh_ok(&self, cmds: &[&str]) -> String {
        let o = self.vtysh(cmds);
        assert!(
            o.status.success(),
            "vtysh {cmds:?} failed ({}):\n{}\n--- rvpnd log:\n{}",
            o.status,
            output_text(&o),
            self.log()
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Run a show command with `json` appended (unless already there) and
    /// parse its output.
    pub fn show_json(&self, cmd: &str) -> Value {
        let cmd = if cmd.split_whitespace().last() == Some("json") {
            cmd.to_string()
        } else {
            format!("{cmd} json")
        };
        let out = self.vtysh_ok(&[&cmd]);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{cmd:?} is not JSON ({e}):\n{out}"))
    }

    /// The IPv4 BGP neighbors `show ip bgp summary json` has Established.
    pub fn bgp_established(&self) -> std::collections::BTreeSet<String> {
        self.show_json("show ip bgp summary")["ipv4Unicast"]["peers"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(_, p)| p["state"] == "Established")
                    .map(|(a, _)| a.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The daemon's stderr so far (all starts, restarts marked).
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Whether the log contains `needle` within `timeout`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_for(|| self.log().contains(needle), timeout)
    }

    /// Send `sig` to rvpnd (e.g. SIGHUP to reload).
    pub fn signal(&self, sig: libc::c_int) {
        if let Some(p) = &self.proc {
            super::signal(p.id(), sig);
        }
    }

    /// SIGKILL rvpnd.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }

    /// SIGTERM rvpnd; SIGKILL after 3 s. Whether it exited by itself.
    pub fn stop(&mut self) -> bool {
        match self.proc.take() {
            Some(mut p) => p.terminate(Duration::from_secs(3)),
            None => true,
        }
    }

    /// Wait up to `timeout` for rvpnd to exit by itself; its exit status,
    /// or None if it still runs (or was never started).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        self.proc.as_mut()?.wait(timeout)
    }

    /// Whether rvpnd is still running.
    pub fn running(&mut self) -> bool {
        self.proc.as_mut().is_some_and(|p| p.exited().is_none())
    }

    /// Stop (SIGTERM) and start again with the same files and options.
    pub fn restart(&mut self) {
        self.stop();
        let _ = fs::OpenOptions::new()
            .append(true)
            .open(self.log_path())
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"=== harness: restart ===\n"));
        self.launch();
    }

    /// Change extra args/env for the next [`Rvpnd::restart`].
    pub fn opts_mut(&mut self) -> &mut RvpndOpts {
        &mut self.opts
    }
}

impl Drop for Rvpnd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A hub's keyring and IKEv2 profile `SPOKES`: any spoke whose identity
/// is in spokes.test (PSK `psk`, from any address), as hub.test; `extra`
/// (lines of the form " command\n") ends the profile. No closing `!`.
pub fn spokes_profile(psk: &str, extra: &str) -> String {
    format!(
        "crypto ikev2 keyring SPOKES
 peer any
  address 0.0.0.0/0
  pre-shared-key 0 {psk}
!
crypto ikev2 profile SPOKES
 match identity remote fqdn domain spokes.test
 identity local fqdn hub.test
 authentication local pre-share
 authentication remote pre-share
 keyring local SPOKES
{extra}"
    )
}

/// An rvpn hub: one `tunnel destination dynamic` interface `TunnelN`
/// (169.254.N.1/30) per entry of `sources` (its `tunnel source`, if any),
/// each taking any spoke whose identity is in spokes.test (PSK `psk`), as
/// hub.test.
pub fn hub_config(psk: &str, sources: &[Option<&str>]) -> String {
    let mut c = format!(
        "hostname hub
{}!
crypto ipsec profile IPS
 set ikev2-profile SPOKES
!
",
        spokes_profile(psk, "")
    );
    for (n, src) in (1..).zip(sources) {
        let src = src
            .map(|a| format!(" tunnel source {a}\n"))
            .unwrap_or_default();
        c.push_str(&format!(
            "interface Tunnel{n}
 ip address 169.254.{n}.1/30
{src} tunnel destination dynamic
 tunnel protection ipsec profile IPS
!
"
        ));
    }
    c
}
