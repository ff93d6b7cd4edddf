//! BIRD 2 in a namespace, driven with birdc; parsing of its protocol and
//! route listings.

use super::super::netns::Netns;
use super::super::{output_text, run_timeout, wait_for, Proc, Scratch};
use super::{
    append_mark, can_connect, is_prefix, read, spawn_daemon, tail, wait_up, BgpSpeaker, BIRD,
    BIRDC, CTL_TIMEOUT, LOG_TAIL,
};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// How to start BIRD.
#[derive(Debug, Clone)]
pub struct BirdOpts {
    /// Short name used in paths and messages.
    pub tag: String,
    /// Put `debug protocols { states, events };` before the test's config
    /// (session state changes and their reasons in the log).
    pub debug_protocols: bool,
}

impl Default for BirdOpts {
    fn default() -> Self {
        BirdOpts {
            tag: "bird".into(),
            debug_protocols: true,
        }
    }
}

impl BirdOpts {
    pub fn tagged(tag: &str) -> BirdOpts {
        BirdOpts {
            tag: tag.into(),
            ..BirdOpts::default()
        }
    }
}

/// One line of `birdc show protocols`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BirdProtocol {
    pub name: String,
    /// "BGP", "Static", "Device", "Kernel" ...
    pub proto: String,
    pub table: String,
    /// "up", "start", "down" ...
    pub state: String,
    pub since: String,
    /// For BGP: "Established", "Active  Socket: Connection refused" ...
    pub info: String,
}

/// BIRD 2 in a namespace (`bird -f -c DIR/bird.conf -s DIR/bird.ctl -P
/// DIR/bird.pid`, as root), driven with birdc; killed on drop.
///
/// The test's configuration is written after a header that sends the log
/// to DIR/bird.log (`log "..." all;`).
pub struct Bird {
    ns: String,
    opts: BirdOpts,
    dir: Scratch,
    proc: Option<Proc>,
}

impl Bird {
    /// Start BIRD in `ns` with `config` (bird.conf text); returns once its
    /// control socket answers.
    pub fn start(ns: &Netns, config: &str) -> Bird {
        Self::start_with(ns, config, BirdOpts::default())
    }

    pub fn start_with(ns: &Netns, config: &str, opts: BirdOpts) -> Bird {
        let dir = Scratch::new(&opts.tag);
        let mut b = Bird {
            ns: ns.name().to_string(),
            opts,
            dir,
            proc: None,
        };
        b.write_config(config);
        b.launch();
        b
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
    pub fn ns(&self) -> &str {
        &self.ns
    }
    pub fn tag(&self) -> &str {
        &self.opts.tag
    }
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("bird.conf")
    }
    pub fn socket(&self) -> PathBuf {
        self.dir.join("bird.ctl")
    }
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("bird.log")
    }
    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().map(|p| p.id())
    }

    fn write_config(&self, config: &str) {
        let mut c = format!(
            "# harness header (tests/support/bgp_peers/bird.rs)\nlog \"{}\" all;\n",
            self.log_path().display()
        );
        if self.opts.debug_protocols {
            c.push_str("debug protocols { states, events };\n");
        }
        c.push_str("# test configuration\n");
        c.push_str(config);
        c.push('\n');
        fs::write(self.config_path(), c).expect("write bird.conf");
    }

    fn launch(&mut self) {
        let _ = fs::remove_file(self.socket());
        let d = self.dir.path().display().to_string();
        let argv: Vec<String> = [
            BIRD,
            "-f",
            "-c",
            &format!("{d}/bird.conf"),
            "-s",
            &format!("{d}/bird.ctl"),
            "-P",
            &format!("{d}/bird.pid"),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let what = format!("bird {}", self.opts.tag);
        let proc = spawn_daemon(&self.ns, &argv, &self.dir.join("bird.out"), false, &what);
        let sock = self.socket();
        self.proc = Some(wait_up(
            proc,
            &format!("{what} in {}", self.ns),
            || can_connect(&sock),
            || self.log(),
        ));
    }

    /// Run `birdc -s SOCKET ARGS...` (bounded: 15 s). birdc runs outside
    /// the namespace (the socket is a file).
    pub fn birdc(&self, args: &[&str]) -> Output {
        run_timeout(
            Command::new(BIRDC).arg("-s").arg(self.socket()).args(args),
            CTL_TIMEOUT,
        )
    }

    /// Like [`Bird::birdc`] with the command split on whitespace; panics
    /// (with the log) unless birdc succeeds; its stdout.
    pub fn birdc_ok(&self, cmd: &str) -> String {
        let args: Vec<&str> = cmd.split_whitespace().collect();
        let o = self.birdc(&args);
        assert!(
            o.status.success(),
            "birdc {cmd} in {} failed ({}):\n{}\n--- log:\n{}",
            self.ns,
            o.status,
            output_text(&o),
            tail(&self.log(), LOG_TAIL)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// `show protocols`, parsed.
    pub fn protocols(&self) -> Vec<BirdProtocol> {
        parse_bird_protocols(&self.birdc_ok("show protocols"))
    }

    /// The BGP state of protocol `name` ("Established", "Active",
    /// "Idle"...) from `show protocols all NAME`; None if unknown.
    pub fn bgp_state(&self, name: &str) -> Option<String> {
        let out = self.birdc_ok(&format!("show protocols all {name}"));
        out.lines().find_map(|l| {
            l.trim()
                .strip_prefix("BGP state:")
                .map(|s| s.trim().to_string())
        })
    }

    /// Whether BGP protocol `name` is Established.
    pub fn established(&self, name: &str) -> bool {
        self.bgp_state(name).as_deref() == Some("Established")
    }

    /// Wait (at most `timeout`) for BGP protocol `name`; panics with
    /// `show protocols all NAME` and the log otherwise.
    pub fn wait_established(&self, name: &str, timeout: Duration) {
        if !wait_for(|| self.established(name), timeout) {
            let o = self.birdc(&["show", "protocols", "all", name]);
            panic!(
                "BIRD {} in {}: protocol {name} not Established after {timeout:?}:\n{}\n--- log:\n{}",
                self.opts.tag,
                self.ns,
                output_text(&o),
                tail(&self.log(), LOG_TAIL)
            );
        }
    }

    /// Wait (at most `timeout`) until every BGP protocol is Established
    /// (and there is at least one).
    pub fn wait_all_established(&self, timeout: Duration) {
        let ok = wait_for(
            || {
                let bgp: Vec<BirdProtocol> = self
                    .protocols()
                    .into_iter()
                    .filter(|p| p.proto == "BGP")
                    .collect();
                !bgp.is_empty() && bgp.iter().all(|p| p.info.starts_with("Established"))
            },
            timeout,
        );
        if !ok {
            panic!(
                "BIRD {} in {}: not all BGP protocols Established after {timeout:?}\n{}\n--- log:\n{}",
                self.opts.tag,
                self.ns,
                self.state_dump(),
                tail(&self.log(), LOG_TAIL)
            );
        }
    }

    /// Routes imported by protocol `name`, over its channels ("Routes: N
    /// imported" of `show protocols all NAME`).
    pub fn imported_count(&self, name: &str) -> u64 {
        let out = self.birdc_ok(&format!("show protocols all {name}"));
        out.lines()
            .filter_map(|l| {
                let rest = l.trim().strip_prefix("Routes:")?;
                rest.split_whitespace().next()?.parse::<u64>().ok()
            })
            .sum()
    }

    /// Every prefix in BIRD's tables (`show route`, all tables), sorted.
    pub fn prefixes(&self) -> Vec<String> {
        parse_bird_routes(&self.birdc_ok("show route"))
    }

    /// Prefixes whose route came from protocol `name` (`show route
    /// protocol NAME`).
    pub fn prefixes_from(&self, name: &str) -> Vec<String> {
        parse_bird_routes(&self.birdc_ok(&format!("show route protocol {name}")))
    }

    /// Replace the configuration with `config` and `birdc configure`;
    /// panics unless BIRD accepts it.
    pub fn reconfigure(&self, config: &str) {
        self.write_config(config);
        let out = self.birdc_ok("configure");
        assert!(
            out.contains("Reconfigured") || out.contains("Reconfiguration in progress"),
            "birdc configure in {}:\n{out}",
            self.ns
        );
    }

    /// BIRD's log (and anything it printed).
    pub fn log(&self) -> String {
        let mut s = read(&self.dir.join("bird.out"));
        s.push_str(&read(&self.log_path()));
        s
    }

    /// Whether the log contains `needle` within `timeout`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_for(|| self.log().contains(needle), timeout)
    }

    /// SIGKILL BIRD.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }

    /// SIGTERM BIRD (it closes its sessions); SIGKILL after 5 s.
    pub fn stop(&mut self) -> bool {
        match self.proc.take() {
            Some(mut p) => p.terminate(Duration::from_secs(5)),
            None => true,
        }
    }

    pub fn running(&mut self) -> bool {
        self.proc.as_mut().is_some_and(|p| p.exited().is_none())
    }

    /// Stop (SIGTERM) and start again with the same configuration file.
    pub fn restart(&mut self) {
        self.stop();
        append_mark(&self.log_path(), "=== harness: restart ===\n");
        self.launch();
    }
}

impl BgpSpeaker for Bird {
    fn describe(&self) -> String {
        format!("BIRD {} in {}", self.opts.tag, self.ns)
    }
    fn rib_prefixes(&self) -> Vec<String> {
        self.prefixes()
    }
    fn daemon_log(&self) -> String {
        self.log()
    }
    fn state_dump(&self) -> String {
        let o = self.birdc(&["show", "protocols"]);
        format!("--- birdc show protocols:\n{}", output_text(&o))
    }
}

impl Drop for Bird {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Parse `birdc show protocols`: one [`BirdProtocol`] per line after the
/// header. "Since" is a time, or a date and a time.
pub fn parse_bird_protocols(text: &str) -> Vec<BirdProtocol> {
    let mut out = Vec::new();
    for line in text.lines() {
        let t: Vec<&str> = line.split_whitespace().collect();
        if t.len() < 5 || t[0] == "Name" || t[0] == "BIRD" {
            continue;
        }
        let (since, rest) = if t.len() > 5 && t[4].contains('-') && t[5].contains(':') {
            (format!("{} {}", t[4], t[5]), &t[6..])
        } else {
            (t[4].to_string(), &t[5..])
        };
        out.push(BirdProtocol {
            name: t[0].into(),
            proto: t[1].into(),
            table: t[2].into(),
            state: t[3].into(),
            since,
            info: rest.join(" "),
        });
    }
    out
}

/// Parse `birdc show route`: the prefixes at the start of route lines
/// (further paths of a prefix are indented and skipped), sorted, unique.
pub fn parse_bird_routes(text: &str) -> Vec<String> {
    let mut set = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with(char::is_whitespace) {
            continue;
        }
        if let Some(first) = line.split_whitespace().next() {
            if is_prefix(first) {
                set.insert(first.to_string());
            }
        }
    }
    set.into_iter().collect()
}

// ---------------------------------------------------- route details

/// One route of `birdc show route PREFIX all` (or `show route all ...`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BirdRoute {
    pub prefix: String,
    /// The protocol it came from ("s4", "rv4" ...).
    pub proto: String,
    /// Marked `*` (the best route of its prefix).
    pub primary: bool,
    /// The `via` gateway, if any.
    pub via: Option<String>,
    /// `BGP.as_path` ("65000 65001"; "" when present and empty).
    pub as_path: Option<String>,
    /// `BGP.next_hop` (global, then link-local for IPv6).
    pub next_hop: Option<String>,
    pub local_pref: Option<u64>,
    pub med: Option<u64>,
    /// `BGP.community` as BIRD prints it ("(65000,7) (65001,1)").
    pub community: Option<String>,
}

impl Bird {
    /// `show route PREFIX all` (all tables), parsed.
    pub fn route_detail(&self, prefix: &str) -> Vec<BirdRoute> {
        let o = self.birdc(&["show", "route", prefix, "all"]);
        parse_bird_route_detail(&String::from_utf8_lossy(&o.stdout))
    }
}

/// Parse `birdc show route ... all`: a route per route line (a prefix
/// line, or an indented further path of the prefix above), with the
/// attribute lines under it.
pub fn parse_bird_route_detail(text: &str) -> Vec<BirdRoute> {
    let mut out: Vec<BirdRoute> = Vec::new();
    let mut prefix = String::new();
    for line in text.lines() {
        let t = line.trim();
        // A route line: "[PREFIX] unicast|blackhole|... [PROTO TIME] * (PREF) ..."
        let route_line = t.contains(" [") && t.contains(']') && !line.starts_with('\t');
        if route_line {
            let mut words = t.split_whitespace().peekable();
            if let Some(first) = words.peek().copied() {
                if is_prefix(first) {
                    prefix = first.to_string();
                    words.next();
                }
            }
            let rest: Vec<&str> = words.collect();
            let proto = rest
                .iter()
                .find_map(|w| w.strip_prefix('['))
                .unwrap_or_default()
                .to_string();
            out.push(BirdRoute {
                prefix: prefix.clone(),
                proto,
                primary: rest.contains(&"*"),
                ..BirdRoute::default()
            });
            continue;
        }
        let Some(r) = out.last_mut() else { continue };
        if let Some(v) = t.strip_prefix("via ") {
            r.via = v.split_whitespace().next().map(str::to_string);
        } else if let Some(v) = t.strip_prefix("BGP.as_path:") {
            r.as_path = Some(v.trim().to_string());
        } else if let Some(v) = t.strip_prefix("BGP.next_hop:") {
            r.next_hop = Some(v.trim().to_string());
        } else if let Some(v) = t.strip_prefix("BGP.local_pref:") {
            r.local_pref = v.trim().parse().ok();
        } else if let Some(v) = t.strip_prefix("BGP.med:") {
            r.med = v.trim().parse().ok();
        } else if let Some(v) = t.strip_prefix("BGP.community:") {
            r.community = Some(v.trim().to_string());
        }
    }
    out
}
