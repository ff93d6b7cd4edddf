//! A strongSwan peer (charon with kernel-libipsec) inside a [`Netns`].
//!
//! Each instance has its own directory with strongswan.conf, swanctl.conf,
//! the log and the vici socket, and runs in a private mount namespace with
//! a tmpfs on /run: charon's pid file (/var/run/charon.pid) is compiled in,
//! and two charons would otherwise refuse to run side by side.
//!
//! Routing: kernel-libipsec always installs a route per outbound policy
//! into charon's table 220 via its TUN device (`ipsec0`), plus a `throw`
//! exclude route for the peer. rvpn is route-based, so connections use
//! 0.0.0.0/0 and ::/0 traffic selectors, and that route would be a default
//! route for the whole namespace. By default ([`SwanOpts::auto_routes`]
//! false) the rule to table 220 is made inert (kernel-netlink's `fwmark`
//! with a mark no packet carries) and tests route what they want through
//! the tunnel with [`StrongSwan::route_via_tunnel`].

use super::netns::Netns;
use super::{output_text, run_timeout, wait_for, Proc, Scratch};
use std::fmt::Write as _;
use std::fs;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// charon's binary (Debian 12).
pub const CHARON: &str = "/usr/lib/ipsec/charon";
/// The TUN device kernel-libipsec creates.
pub const TUN: &str = "ipsec0";
/// The inert firewall mark for charon's routing rule.
const INERT_FWMARK: &str = "0x52564e7f";
const SWANCTL_TIMEOUT: Duration = Duration::from_secs(15);

/// Daemon-wide settings of one charon.
#[derive(Debug, Clone)]
pub struct SwanOpts {
    /// Short name used in paths and messages.
    pub tag: String,
    /// IKE port (charon.port); None: 500.
    pub port: Option<u16>,
    /// NAT-T port (charon.port_nat_t); None: 4500.
    pub port_nat_t: Option<u16>,
    /// Only use these interfaces (charon.interfaces_use), comma separated.
    pub interfaces_use: Option<String>,
    /// filelog levels by subsystem ("default", "ike", "cfg", "knl", "enc",
    /// "net", ...), -1..4. Later entries win.
    pub log_levels: Vec<(String, i32)>,
    /// Retransmissions: tries, first timeout (s) and backoff base. Lower
    /// than strongSwan's defaults (5, 4.0, 1.8) so failures end fast.
    pub retransmit_tries: u32,
    pub retransmit_timeout: f64,
    pub retransmit_base: f64,
    /// Let kernel-libipsec's routes in table 220 take effect (everything
    /// except the peer then goes into the tunnel when the remote TS is
    /// 0.0.0.0/0). Default false: see the module doc.
    pub auto_routes: bool,
    /// Extra lines inside `charon { }` of strongswan.conf.
    pub extra_charon: Vec<String>,
}

impl Default for SwanOpts {
    fn default() -> Self {
        SwanOpts {
            tag: "sw".into(),
            port: None,
            port_nat_t: None,
            interfaces_use: None,
            log_levels: [
                ("default", 1),
                ("ike", 2),
                ("cfg", 2),
                ("knl", 1),
                ("enc", 1),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect(),
            retransmit_tries: 3,
            retransmit_timeout: 1.0,
            retransmit_base: 1.5,
            auto_routes: false,
            extra_charon: Vec::new(),
        }
    }
}

impl SwanOpts {
    /// Defaults with a tag.
    pub fn tagged(tag: &str) -> SwanOpts {
        SwanOpts {
            tag: tag.into(),
            ..SwanOpts::default()
        }
    }
    /// Set (or raise) the log level of one subsystem.
    pub fn log_level(mut self, subsystem: &str, level: i32) -> SwanOpts {
        self.log_levels.retain(|(k, _)| k != subsystem);
        self.log_levels.push((subsystem.into(), level));
        self
    }
}

/// One swanctl connection with one CHILD_SA, PSK authentication.
#[derive(Debug, Clone)]
pub struct SwanConn {
    pub name: String,
    /// Comma separated; "%any" for any.
    pub local_addrs: String,
    pub remote_addrs: String,
    pub local_port: Option<u16>,
    pub remote_port: Option<u16>,
    pub local_id: String,
    /// "%any" accepts any identity (the PSK is then found by local id).
    pub remote_id: String,
    pub psk: String,
    /// IKE proposals, e.g. "aes256gcm16-prfsha384-x25519" (several: comma).
    pub proposals: String,
    /// ESP proposals, e.g. "aes256gcm16".
    pub esp_proposals: String,
    pub version: u8,
    pub rekey_time: Option<Duration>,
    pub over_time: Option<Duration>,
    pub reauth_time: Option<Duration>,
    /// IKE rand_time; None: 0 when rekey_time is set (deterministic tests).
    pub rand_time: Option<Duration>,
    pub dpd_delay: Option<Duration>,
    pub keyingtries: Option<u32>,
    pub encap: bool,
    pub mobike: bool,
    /// "yes", "no", "accept" or "force".
    pub fragmentation: String,
    /// The CHILD_SA's name (what [`StrongSwan::initiate`] takes).
    pub child: String,
    pub local_ts: String,
    pub remote_ts: String,
    pub child_rekey_time: Option<Duration>,
    pub child_life_time: Option<Duration>,
    /// Child rand_time; None: 0 when child_rekey_time is set.
    pub child_rand_time: Option<Duration>,
    /// "clear", "trap" or "restart" (None: strongSwan's default, clear).
    pub dpd_action: Option<String>,
    /// "none", "trap" or "start".
    pub start_action: String,
    /// "none", "trap" or "start" (None: default).
    pub close_action: Option<String>,
    /// Extra raw lines in the connection section, e.g. "unique = never".
    pub extra: Vec<String>,
    /// Extra raw lines in the child section.
    pub child_extra: Vec<String>,
    /// `local.auth`: "psk" (default) or "pubkey", "pubkey-sha256-rsa/pss", ...
    pub local_auth: String,
    /// `remote.auth`: "psk" (default) or "pubkey".
    pub remote_auth: String,
    /// `local.certs`: our certificate file, relative to the instance's
    /// x509 directory ([`StrongSwan::add_cred`]).
    pub local_certs: Option<String>,
    /// Extra raw lines in the `remote { }` section (e.g. `cacerts = ...`).
    pub remote_extra: Vec<String>,
}

impl Default for SwanConn {
    fn default() -> Self {
        SwanConn {
            name: "rvpn".into(),
            local_addrs: "%any".into(),
            remote_addrs: "%any".into(),
            local_port: None,
            remote_port: None,
            local_id: "%any".into(),
            remote_id: "%any".into(),
            psk: String::new(),
            proposals: "aes256gcm16-prfsha256-x25519".into(),
            esp_proposals: "aes256gcm16".into(),
            version: 2,
            rekey_time: None,
            over_time: None,
            reauth_time: None,
            rand_time: None,
            dpd_delay: None,
            keyingtries: None,
            encap: false,
            mobike: false,
            fragmentation: "yes".into(),
            child: "net".into(),
            local_ts: "0.0.0.0/0,::/0".into(),
            remote_ts: "0.0.0.0/0,::/0".into(),
            child_rekey_time: None,
            child_life_time: None,
            child_rand_time: None,
            dpd_action: None,
            start_action: "none".into(),
            close_action: None,
            extra: Vec::new(),
            child_extra: Vec::new(),
            local_auth: "psk".into(),
            remote_auth: "psk".into(),
            local_certs: None,
            remote_extra: Vec::new(),
        }
    }
}

impl SwanConn {
    /// A PSK connection between two addresses and identities, defaults
    /// otherwise (aes256gcm16-prfsha256-x25519, esp aes256gcm16, TS any).
    pub fn psk(
        name: &str,
        local_addr: &str,
        remote_addr: &str,
        local_id: &str,
        remote_id: &str,
        psk: &str,
    ) -> SwanConn {
        SwanConn {
            name: name.into(),
            local_addrs: local_addr.into(),
            remote_addrs: remote_addr.into(),
            local_id: local_id.into(),
            remote_id: remote_id.into(),
            psk: psk.into(),
            ..SwanConn::default()
        }
    }

    /// The connection and its secret as swanctl.conf text (the part inside
    /// `connections { }` and the part inside `secrets { }`).
    pub fn render(&self) -> (String, String) {
        let secs = |d: Duration| format!("{}s", d.as_secs());
        let yn = |b: bool| if b { "yes" } else { "no" };
        let mut c = String::new();
        let w = &mut c;
        let _ = writeln!(w, "  {} {{", self.name);
        let _ = writeln!(w, "    version = {}", self.version);
        let _ = writeln!(w, "    local_addrs = {}", self.local_addrs);
        let _ = writeln!(w, "    remote_addrs = {}", self.remote_addrs);
        if let Some(p) = self.local_port {
            let _ = writeln!(w, "    local_port = {p}");
        }
        if let Some(p) = self.remote_port {
            let _ = writeln!(w, "    remote_port = {p}");
        }
        let _ = writeln!(w, "    proposals = {}", self.proposals);
        let _ = writeln!(w, "    encap = {}", yn(self.encap));
        let _ = writeln!(w, "    mobike = {}", yn(self.mobike));
        let _ = writeln!(w, "    fragmentation = {}", self.fragmentation);
        for (k, v) in [
            ("rekey_time", self.rekey_time),
            ("over_time", self.over_time),
            ("reauth_time", self.reauth_time),
            ("dpd_delay", self.dpd_delay),
        ] {
            if let Some(v) = v {
                let _ = writeln!(w, "    {k} = {}", secs(v));
            }
        }
        match (self.rand_time, self.rekey_time.or(self.reauth_time)) {
            (Some(r), _) => {
                let _ = writeln!(w, "    rand_time = {}", secs(r));
            }
            (None, Some(_)) => {
                let _ = writeln!(w, "    rand_time = 0s");
            }
            _ => {}
        }
        if let Some(k) = self.keyingtries {
            let _ = writeln!(w, "    keyingtries = {k}");
        }
        for l in &self.extra {
            let _ = writeln!(w, "    {l}");
        }
        let _ = writeln!(w, "    local {{\n      auth = {}", self.local_auth);
        if self.local_id != "%any" {
            let _ = writeln!(w, "      id = \"{}\"", self.local_id);
        }
        if let Some(c) = &self.local_certs {
            let _ = writeln!(w, "      certs = {c}");
        }
        let _ = writeln!(
            w,
            "    }}\n    remote {{\n      auth = {}",
            self.remote_auth
        );
        if self.remote_id != "%any" {
            let _ = writeln!(w, "      id = \"{}\"", self.remote_id);
        }
        for l in &self.remote_extra {
            let _ = writeln!(w, "      {l}");
        }
        let _ = writeln!(w, "    }}\n    children {{\n      {} {{", self.child);
        let _ = writeln!(w, "        mode = tunnel");
        let _ = writeln!(w, "        local_ts = {}", self.local_ts);
        let _ = writeln!(w, "        remote_ts = {}", self.remote_ts);
        let _ = writeln!(w, "        esp_proposals = {}", self.esp_proposals);
        let _ = writeln!(w, "        start_action = {}", self.start_action);
        for (k, v) in [
            ("rekey_time", self.child_rekey_time),
            ("life_time", self.child_life_time),
        ] {
            if let Some(v) = v {
                let _ = writeln!(w, "        {k} = {}", secs(v));
            }
        }
        match (self.child_rand_time, self.child_rekey_time) {
            (Some(r), _) => {
                let _ = writeln!(w, "        rand_time = {}", secs(r));
            }
            (None, Some(_)) => {
                let _ = writeln!(w, "        rand_time = 0s");
            }
            _ => {}
        }
        if let Some(a) = &self.dpd_action {
            let _ = writeln!(w, "        dpd_action = {a}");
        }
        if let Some(a) = &self.close_action {
            let _ = writeln!(w, "        close_action = {a}");
        }
        for l in &self.child_extra {
            let _ = writeln!(w, "        {l}");
        }
        let _ = writeln!(w, "      }}\n    }}\n  }}");

        if self.psk.is_empty() {
            return (c, String::new());
        }
        // The PSK as hex ("0x..."): no quoting problems whatever it holds.
        let hex: String = self.psk.bytes().map(|b| format!("{b:02x}")).collect();
        let mut s = format!("  ike-{} {{\n", self.name);
        let mut n = 1;
        for id in [&self.local_id, &self.remote_id] {
            if id != "%any" {
                let _ = writeln!(s, "    id-{n} = \"{id}\"");
                n += 1;
            }
        }
        let _ = writeln!(s, "    secret = 0x{hex}\n  }}");
        (c, s)
    }
}

/// One CHILD_SA as `swanctl --list-sas` shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChildSaInfo {
    pub name: String,
    pub uniqueid: u32,
    pub reqid: u32,
    /// INSTALLED, REKEYING, REKEYED, DELETING...
    pub state: String,
    pub mode: String,
    pub protocol: String,
    pub encap: bool,
    /// Hex, as swanctl prints them (no 0x), e.g. "c1a2b3c4".
    pub spi_in: String,
    pub spi_out: String,
    pub encr_alg: String,
    pub encr_keysize: Option<u32>,
    pub integ_alg: Option<String>,
    pub dh_group: Option<String>,
    pub bytes_in: u64,
    pub packets_in: u64,
    pub bytes_out: u64,
    pub packets_out: u64,
    pub local_ts: Vec<String>,
    pub remote_ts: Vec<String>,
    /// Every key/value of the section, including those above.
    pub raw: Vec<(String, String)>,
}

/// One IKE_SA as `swanctl --list-sas` shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IkeSaInfo {
    /// The connection's name.
    pub name: String,
    pub uniqueid: u32,
    pub version: u8,
    /// CREATED, CONNECTING, ESTABLISHED, REKEYING, DELETING...
    pub state: String,
    pub local_host: String,
    pub local_port: u16,
    pub local_id: String,
    pub remote_host: String,
    pub remote_port: u16,
    pub remote_id: String,
    pub initiator: bool,
    pub initiator_spi: String,
    pub responder_spi: String,
    pub nat_local: bool,
    pub nat_remote: bool,
    /// e.g. "AES_GCM_16", "AES_CBC", "CHACHA20_POLY1305".
    pub encr_alg: Option<String>,
    pub encr_keysize: Option<u32>,
    /// e.g. "HMAC_SHA2_256_128"; None for AEADs.
    pub integ_alg: Option<String>,
    /// e.g. "PRF_HMAC_SHA2_256".
    pub prf_alg: Option<String>,
    /// e.g. "CURVE_25519", "ECP_256", "MODP_2048".
    pub dh_group: Option<String>,
    pub children: Vec<ChildSaInfo>,
    pub raw: Vec<(String, String)>,
}

impl IkeSaInfo {
    /// The first CHILD_SA named `name`.
    pub fn child(&self, name: &str) -> Option<&ChildSaInfo> {
        self.children.iter().find(|c| c.name == name)
    }
}

/// A running charon in a namespace; killed on drop.
pub struct StrongSwan {
    ns: String,
    opts: SwanOpts,
    dir: Scratch,
    proc: Option<Proc>,
    conns: Vec<SwanConn>,
    routes: Vec<(String, String)>,
    /// The inside of swanctl.conf's `pools { }` section (empty: none).
    pools: String,
}

impl StrongSwan {
    /// Write strongswan.conf and start charon in `ns`; returns when its
    /// vici socket answers (at most 10 s).
    pub fn start(ns: &Netns, opts: SwanOpts) -> StrongSwan {
        let dir = Scratch::new(&opts.tag);
        let mut s = StrongSwan {
            ns: ns.name().to_string(),
            opts,
            dir,
            proc: None,
            conns: Vec::new(),
            routes: Vec::new(),
            pools: String::new(),
        };
        fs::write(s.conf_path(), s.strongswan_conf()).expect("write strongswan.conf");
        s.launch();
        s
    }

    /// Put a credential where `swanctl --load-all` finds it: `kind` is
    /// swanctl's directory ("x509", "x509ca", "x509crl", "private", ...);
    /// returns the name to use in `certs = ...`.
    pub fn add_cred(&self, kind: &str, name: &str, from: &std::path::Path) -> String {
        let d = self.dir.join(kind);
        fs::create_dir_all(&d).expect("swanctl cred dir");
        fs::copy(from, d.join(name)).expect("copy credential");
        name.to_string()
    }

    pub fn conf_path(&self) -> PathBuf {
        self.dir.join("strongswan.conf")
    }
    pub fn swanctl_path(&self) -> PathBuf {
        self.dir.join("swanctl.conf")
    }
    pub fn vici_path(&self) -> PathBuf {
        self.dir.join("charon.vici")
    }
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("charon.log")
    }
    pub fn ns(&self) -> &str {
        &self.ns
    }
    /// charon's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().map(|p| p.id())
    }

    /// The strongswan.conf this instance runs with.
    pub fn strongswan_conf(&self) -> String {
        let o = &self.opts;
        let mut c = String::from("charon {\n");
        // kernel-libipsec before kernel-netlink: it provides the IPsec
        // backend (SAs and policies in userspace, TUN ipsec0), netlink the
        // addresses and routes. openssl covers AES/CBC/GCM, ChaCha20-
        // Poly1305, SHA1/2, HMAC, ECP and MODP; curve25519 for x25519.
        c.push_str(
            "  load = random nonce aes sha1 sha2 hmac gcm chapoly openssl curve25519 pem pkcs1 \
             pkcs8 x509 pubkey revocation constraints kdf kernel-libipsec kernel-netlink socket-default vici\n",
        );
        c.push_str("  install_virtual_ip = no\n");
        if let Some(p) = o.port {
            let _ = writeln!(c, "  port = {p}");
        }
        if let Some(p) = o.port_nat_t {
            let _ = writeln!(c, "  port_nat_t = {p}");
        }
        if let Some(i) = &o.interfaces_use {
            let _ = writeln!(c, "  interfaces_use = {i}");
        }
        let _ = writeln!(c, "  retransmit_tries = {}", o.retransmit_tries);
        let _ = writeln!(c, "  retransmit_timeout = {}", o.retransmit_timeout);
        let _ = writeln!(c, "  retransmit_base = {}", o.retransmit_base);
        let _ = writeln!(c, "  filelog {{\n    log {{");
        let _ = writeln!(c, "      path = {}", self.log_path().display());
        // Milliseconds after the seconds (time_add_ms): tests measure
        // exchange round trips from the log (see `dpd_round_trips`).
        c.push_str("      time_format = %H:%M:%S\n      time_add_ms = yes\n      ike_name = yes\n      flush_line = yes\n      append = yes\n");
        for (k, v) in &o.log_levels {
            let _ = writeln!(c, "      {k} = {v}");
        }
        c.push_str("    }\n  }\n");
        c.push_str("  plugins {\n");
        let _ = writeln!(
            c,
            "    vici {{\n      socket = unix://{}\n    }}",
            self.vici_path().display()
        );
        if !o.auto_routes {
            let _ = writeln!(
                c,
                "    kernel-netlink {{\n      fwmark = {INERT_FWMARK}\n    }}"
            );
        }
        c.push_str("  }\n");
        for l in &o.extra_charon {
            let _ = writeln!(c, "  {l}");
        }
        c.push_str("}\n");
        c
    }

    fn launch(&mut self) {
        let _ = fs::remove_file(self.vici_path());
        let stdout = self.dir.join("charon.stdout");
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stdout)
            .expect("charon.stdout");
        let err = out.try_clone().expect("clone");
        // `ip netns exec` and `unshare` exec, `sh` execs charon: the child's
        // pid is charon's.
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns,
                "unshare",
                "-m",
                "--propagation",
                "private",
            ])
            .args([
                "sh",
                "-c",
                &format!("mount -t tmpfs tmpfs /run && exec {CHARON}"),
            ])
            .env("STRONGSWAN_CONF", self.conf_path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn charon");
        let mut proc = Proc::new(child, format!("charon {}", self.opts.tag));
        let vici = self.vici_path();
        let up = wait_for(
            || proc.exited().is_some() || UnixStream::connect(&vici).is_ok(),
            Duration::from_secs(10),
        );
        if !up || proc.exited().is_some() {
            let st = proc.exited();
            proc.kill();
            panic!(
                "charon {} in {} did not come up (exit {st:?}):\n{}\n{}",
                self.opts.tag,
                self.ns,
                fs::read_to_string(&stdout).unwrap_or_default(),
                self.log()
            );
        }
        self.proc = Some(proc);
    }

    /// Run `swanctl COMMAND --uri ... ARGS` (bounded: 15 s).
    pub fn swanctl(&self, command: &str, args: &[&str]) -> Output {
        let uri = format!("unix://{}", self.vici_path().display());
        run_timeout(
            Command::new("swanctl")
                .arg(command)
                .args(["--uri", &uri])
                .args(args)
                .env("STRONGSWAN_CONF", self.conf_path())
                .env("SWANCTL_DIR", self.dir.path()),
            SWANCTL_TIMEOUT,
        )
    }

    /// Replace the loaded connections and secrets with `conns` (written to
    /// swanctl.conf, `swanctl --load-all --file`). Panics on failure.
    pub fn load(&mut self, conns: &[SwanConn]) {
        self.conns = conns.to_vec();
        self.load_stored();
    }

    /// Virtual IP pools (swanctl.conf's `pools { }`, e.g.
    /// `("p", &["addrs = 10.200.0.10-10.200.0.20", "subnet = 10.10.2.0/24"])`),
    /// loaded with the connections by the next [`StrongSwan::load`]; a
    /// connection takes one with `pools = p` in [`SwanConn::extra`].
    pub fn set_pools(&mut self, pools: &[(&str, &[&str])]) {
        let mut p = String::new();
        for (name, lines) in pools {
            let _ = writeln!(p, "  {name} {{");
            for l in lines.iter() {
                let _ = writeln!(p, "    {l}");
            }
            p.push_str("  }\n");
        }
        self.pools = p;
    }

    fn load_stored(&self) {
        let mut c = String::from("connections {\n");
        let mut s = String::from("secrets {\n");
        for conn in &self.conns {
            let (cc, ss) = conn.render();
            c.push_str(&cc);
            s.push_str(&ss);
        }
        c.push_str("}\n");
        s.push_str("}\n");
        if !self.pools.is_empty() {
            let _ = write!(s, "pools {{\n{}}}\n", self.pools);
        }
        fs::write(self.swanctl_path(), format!("{c}{s}")).expect("write swanctl.conf");
        let file = self.swanctl_path().to_string_lossy().into_owned();
        let o = self.swanctl("--load-all", &["--file", &file]);
        let text = output_text(&o);
        assert!(
            o.status.success() && !text.contains("failed to load"),
            "swanctl --load-all in {}:\n{text}\n--- swanctl.conf:\n{}",
            self.ns,
            fs::read_to_string(self.swanctl_path()).unwrap_or_default()
        );
    }

    /// `swanctl --initiate --child CHILD [--ike CONN] --timeout 10`: Ok
    /// with swanctl's output once the CHILD_SA is up, Err with it otherwise.
    pub fn initiate(&self, child: &str) -> Result<String, String> {
        let mut args = vec!["--child", child, "--timeout", "10"];
        let ike = self
            .conns
            .iter()
            .find(|c| c.child == child)
            .map(|c| c.name.clone());
        if let Some(ike) = &ike {
            args.extend(["--ike", ike]);
        }
        let o = self.swanctl("--initiate", &args);
        let text = output_text(&o);
        if o.status.success() {
            Ok(text)
        } else {
            Err(text)
        }
    }

    /// `swanctl --terminate --ike NAME` (deletes the IKE_SA with its
    /// children, informing the peer).
    pub fn terminate_ike(&self, name: &str) -> Result<String, String> {
        let o = self.swanctl("--terminate", &["--ike", name, "--timeout", "5"]);
        let text = output_text(&o);
        if o.status.success() {
            Ok(text)
        } else {
            Err(text)
        }
    }

    /// `swanctl --terminate --child NAME`.
    pub fn terminate_child(&self, name: &str) -> Result<String, String> {
        let o = self.swanctl("--terminate", &["--child", name, "--timeout", "5"]);
        let text = output_text(&o);
        if o.status.success() {
            Ok(text)
        } else {
            Err(text)
        }
    }

    /// `swanctl --rekey --ike NAME` or, with `child`, `--child NAME`.
    pub fn rekey(&self, name: &str, child: bool) -> Result<String, String> {
        let what = if child { "--child" } else { "--ike" };
        let o = self.swanctl("--rekey", &[what, name]);
        let text = output_text(&o);
        if o.status.success() {
            Ok(text)
        } else {
            Err(text)
        }
    }

    /// All IKE_SAs (`swanctl --list-sas --pretty`). Panics if swanctl fails.
    pub fn list_sas(&self) -> Vec<IkeSaInfo> {
        let o = self.swanctl("--list-sas", &["--pretty"]);
        assert!(
            o.status.success(),
            "swanctl --list-sas in {}:\n{}",
            self.ns,
            output_text(&o)
        );
        parse_list_sas(&String::from_utf8_lossy(&o.stdout))
    }

    /// The first ESTABLISHED IKE_SA of connection `name` that has an
    /// INSTALLED child `child`, if any.
    pub fn established(&self, name: &str, child: &str) -> Option<IkeSaInfo> {
        self.list_sas().into_iter().find(|sa| {
            sa.name == name
                && sa.state == "ESTABLISHED"
                && sa.child(child).is_some_and(|c| c.state == "INSTALLED")
        })
    }

    /// Wait (at most `timeout`) for [`StrongSwan::established`]; panics
    /// with the SAs and the log otherwise.
    pub fn wait_established(&self, name: &str, child: &str, timeout: Duration) -> IkeSaInfo {
        let mut found = None;
        wait_for(
            || {
                found = self.established(name, child);
                found.is_some()
            },
            timeout,
        );
        found.unwrap_or_else(|| {
            panic!(
                "no ESTABLISHED {name} with INSTALLED {child} in {} after {timeout:?}: {:#?}\n--- log:\n{}",
                self.ns,
                self.list_sas(),
                self.log()
            )
        })
    }

    /// Route `prefix` into the tunnel (dev ipsec0) with source address
    /// `src` (one of this namespace's addresses, e.g. a lo alias). Kept
    /// across [`StrongSwan::restart`].
    pub fn route_via_tunnel(&mut self, prefix: &str, src: &str) {
        self.routes.push((prefix.into(), src.into()));
        self.install_route(prefix, src);
    }

    fn install_route(&self, prefix: &str, src: &str) {
        let ns = self.ns.clone();
        let tun_up = wait_for(
            || {
                run_timeout(
                    Command::new("ip").args(["-n", &ns, "link", "show", TUN]),
                    Duration::from_secs(5),
                )
                .status
                .success()
            },
            Duration::from_secs(5),
        );
        assert!(
            tun_up,
            "{TUN} never appeared in {}:\n{}",
            self.ns,
            self.log()
        );
        let o = run_timeout(
            Command::new("ip").args([
                "-n", &self.ns, "route", "replace", prefix, "dev", TUN, "src", src,
            ]),
            Duration::from_secs(5),
        );
        assert!(
            o.status.success(),
            "route {prefix} via {TUN} in {}: {}",
            self.ns,
            output_text(&o)
        );
    }

    /// charon's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Whether the log contains `needle` within `timeout`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_for(|| self.log().contains(needle), timeout)
    }

    /// SIGKILL charon: it vanishes without a word (DPD tests).
    pub fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }

    /// SIGTERM charon (it deletes its SAs, telling peers); SIGKILL after 3 s.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.terminate(Duration::from_secs(3));
        }
    }

    /// Whether charon is still running.
    pub fn running(&mut self) -> bool {
        self.proc.as_mut().is_some_and(|p| p.exited().is_none())
    }

    /// Stop (SIGTERM, if running) and start again with the same settings,
    /// connections and tunnel routes. Nothing is initiated.
    pub fn restart(&mut self) {
        self.stop();
        let mark = format!("=== harness: restart of {} ===\n", self.opts.tag);
        let _ = fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(self.log_path())
            .and_then(|mut f| std::io::Write::write_all(&mut f, mark.as_bytes()));
        self.launch();
        if !self.conns.is_empty() {
            self.load_stored();
        }
        for (p, s) in self.routes.clone() {
            self.install_route(&p, &s);
        }
    }
}

impl Drop for StrongSwan {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A value of `swanctl --pretty` output.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Value(String),
    List(Vec<String>),
    Section(Vec<(String, Node)>),
}

/// Parse `swanctl --list-sas --pretty`: one `list-sa event { NAME { ... } }`
/// per IKE_SA.
pub fn parse_list_sas(text: &str) -> Vec<IkeSaInfo> {
    let mut lines = text.lines();
    let top = parse_section(&mut lines);
    let mut out = Vec::new();
    for (k, v) in top {
        if k != "list-sa event" {
            continue;
        }
        let Node::Section(sas) = v else { continue };
        for (name, sa) in sas {
            if let Node::Section(items) = sa {
                out.push(ike_from(name, &items));
            }
        }
    }
    out
}

fn parse_section<'a>(lines: &mut impl Iterator<Item = &'a str>) -> Vec<(String, Node)> {
    let mut items = Vec::new();
    while let Some(line) = lines.next() {
        let l = line.trim();
        if l.is_empty() {
            continue;
        }
        if l == "}" {
            break;
        }
        if let Some(key) = l.strip_suffix(" {") {
            items.push((key.to_string(), Node::Section(parse_section(lines))));
        } else if let Some(key) = l.strip_suffix(" = [") {
            let mut list = Vec::new();
            for item in lines.by_ref() {
                let item = item.trim();
                if item == "]" {
                    break;
                }
                list.push(item.to_string());
            }
            items.push((key.to_string(), Node::List(list)));
        } else if let Some((k, v)) = l.split_once(" = ") {
            items.push((k.to_string(), Node::Value(v.to_string())));
        } else if let Some(k) = l.strip_suffix(" =") {
            items.push((k.to_string(), Node::Value(String::new())));
        }
    }
    items
}

fn flat(items: &[(String, Node)]) -> Vec<(String, String)> {
    items
        .iter()
        .filter_map(|(k, v)| match v {
            Node::Value(s) => Some((k.clone(), s.clone())),
            Node::List(l) => Some((k.clone(), l.join(" "))),
            Node::Section(_) => None,
        })
        .collect()
}

fn get<'a>(raw: &'a [(String, String)], key: &str) -> Option<&'a str> {
    raw.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn num<T: std::str::FromStr>(raw: &[(String, String)], key: &str) -> Option<T> {
    get(raw, key).and_then(|v| v.parse().ok())
}

fn list(items: &[(String, Node)], key: &str) -> Vec<String> {
    items
        .iter()
        .find_map(|(k, v)| match v {
            Node::List(l) if k == key => Some(l.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

fn ike_from(name: String, items: &[(String, Node)]) -> IkeSaInfo {
    let raw = flat(items);
    let s = |k: &str| get(&raw, k).unwrap_or_default().to_string();
    let o = |k: &str| get(&raw, k).map(str::to_string);
    let yes = |k: &str| get(&raw, k) == Some("yes");
    let mut children = Vec::new();
    for (k, v) in items {
        if k != "child-sas" {
            continue;
        }
        let Node::Section(cs) = v else { continue };
        for (_, c) in cs {
            if let Node::Section(ci) = c {
                children.push(child_from(ci));
            }
        }
    }
    IkeSaInfo {
        name,
        uniqueid: num(&raw, "uniqueid").unwrap_or(0),
        version: num(&raw, "version").unwrap_or(0),
        state: s("state"),
        local_host: s("local-host"),
        local_port: num(&raw, "local-port").unwrap_or(0),
        local_id: s("local-id"),
        remote_host: s("remote-host"),
        remote_port: num(&raw, "remote-port").unwrap_or(0),
        remote_id: s("remote-id"),
        initiator: yes("initiator"),
        initiator_spi: s("initiator-spi"),
        responder_spi: s("responder-spi"),
        nat_local: yes("nat-local"),
        nat_remote: yes("nat-remote"),
        encr_alg: o("encr-alg"),
        encr_keysize: num(&raw, "encr-keysize"),
        integ_alg: o("integ-alg"),
        prf_alg: o("prf-alg"),
        dh_group: o("dh-group"),
        children,
        raw: raw.clone(),
    }
}

fn child_from(items: &[(String, Node)]) -> ChildSaInfo {
    let raw = flat(items);
    let s = |k: &str| get(&raw, k).unwrap_or_default().to_string();
    let n = |k: &str| {
        get(&raw, k)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    ChildSaInfo {
        name: s("name"),
        uniqueid: n("uniqueid") as u32,
        reqid: n("reqid") as u32,
        state: s("state"),
        mode: s("mode"),
        protocol: s("protocol"),
        encap: get(&raw, "encap") == Some("yes"),
        spi_in: s("spi-in"),
        spi_out: s("spi-out"),
        encr_alg: s("encr-alg"),
        encr_keysize: get(&raw, "encr-keysize").and_then(|v| v.parse().ok()),
        integ_alg: get(&raw, "integ-alg").map(str::to_string),
        dh_group: get(&raw, "dh-group").map(str::to_string),
        bytes_in: n("bytes-in"),
        packets_in: n("packets-in"),
        bytes_out: n("bytes-out"),
        packets_out: n("packets-out"),
        local_ts: list(items, "local-ts"),
        remote_ts: list(items, "remote-ts"),
        raw: raw.clone(),
    }
}

/// One exchange that charon initiated, as its log shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundTrip {
    /// The IKE message ID of the request.
    pub message_id: u32,
    /// Time of day the request was generated, in ms (the log's clock).
    pub sent_ms: u64,
    /// From generating the request to parsing its response, in ms
    /// (retransmissions included); None if no response was logged.
    pub rtt_ms: Option<u64>,
}

/// The time of day of a log line (`HH:MM:SS.mmm ...`), in ms.
fn log_time_ms(line: &str) -> Option<u64> {
    let t = line.split_whitespace().next()?;
    let (hms, ms) = t.split_once('.')?;
    let mut it = hms.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, s) = (it.next()??, it.next()??, it.next()??);
    Some(((h * 60 + m) * 60 + s) * 1000 + ms.parse::<u64>().ok()?)
}

/// Dead peer detections charon sent in `requests` (a part of its log):
/// empty INFORMATIONAL requests (`generating INFORMATIONAL request N [ ]`),
/// each with the time until `parsed INFORMATIONAL response N [ ]`, looked
/// for in `requests` followed by `later` (the log after that part).
pub fn dpd_round_trips(requests: &str, later: &str) -> Vec<RoundTrip> {
    let id_of = |line: &str, what: &str| -> Option<u32> {
        let rest = line.split(what).nth(1)?;
        let (id, payloads) = rest.trim().split_once(' ')?;
        (payloads.trim() == "[ ]").then_some(())?;
        id.parse().ok()
    };
    let mut out: Vec<RoundTrip> = requests
        .lines()
        .filter_map(|l| {
            Some(RoundTrip {
                message_id: id_of(l, "generating INFORMATIONAL request ")?,
                sent_ms: log_time_ms(l)?,
                rtt_ms: None,
            })
        })
        .collect();
    for l in requests.lines().chain(later.lines()) {
        let Some(id) = id_of(l, "parsed INFORMATIONAL response ") else {
            continue;
        };
        let Some(at) = log_time_ms(l) else { continue };
        if let Some(r) = out
            .iter_mut()
            .find(|r| r.message_id == id && r.rtt_ms.is_none())
        {
            // Across midnight the clock starts again at 0.
            r.rtt_ms = Some((at + 86_400_000 - r.sent_ms) % 86_400_000);
        }
    }
    out
}

/// Route rvpn's tunnel to an address on strongSwan's loopback: 10.10.2.1
/// on `swan_ns`'s loopback, routed by strongSwan into its tunnel back to
/// 169.254.100.0/30, and by rvpn (in `rvpn_ns`, once its Tunnel1 exists)
/// into Tunnel1 from 169.254.100.1. `log` is shown if Tunnel1 never
/// appears.
pub fn tunnel_to_swan_loopback(
    rvpn_ns: &Netns,
    swan_ns: &Netns,
    swan: &mut StrongSwan,
    log: impl Fn() -> String,
) {
    swan_ns.add_lo_addr("10.10.2.1/32");
    swan.route_via_tunnel("169.254.100.0/30", "10.10.2.1");
    let ok = wait_for(
        || {
            rvpn_ns
                .exec(&["ip", "link", "show", "Tunnel1"])
                .status
                .success()
        },
        Duration::from_secs(5),
    );
    assert!(ok, "Tunnel1 exists\n{}", log());
    rvpn_ns.exec_ok(&[
        "ip",
        "route",
        "replace",
        "10.10.2.1/32",
        "dev",
        "Tunnel1",
        "src",
        "169.254.100.1",
    ]);
}
