//! End-to-end tests of the rvpnd binary: each test starts its own daemon on
//! its own socket in a scratch directory and talks the JSON protocol to it.

use serde_json::{json, Value};
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use vtysh::protocol::Response;

const PSK: &str = "PSK-Very-Secret-123456";
const PSK2: &str = "Another-Secret-PSK-7890";
const BGP_PW: &str = "BGP-Md5-Secret-99";

/// A startup configuration with two tunnels, a PSK and a BGP password.
fn base_config() -> String {
    format!(
        "hostname hub1
!
crypto ikev2 proposal STRONG
 encryption aes-gcm-256
 prf sha256
 group 19
!
crypto ikev2 keyring SPOKES
 peer spoke1
  address 198.51.100.2
  identity fqdn spoke1.example.net
  pre-shared-key 0 {PSK}
!
crypto ikev2 profile SPOKES
 match identity remote fqdn domain example.net
 identity local fqdn hub1.example.net
 authentication local pre-share
 authentication remote pre-share
 keyring local SPOKES
 proposal STRONG
!
crypto ipsec transform-set GCM256 esp-gcm 256
 mode tunnel
!
crypto ipsec profile VTI
 set transform-set GCM256
 set ikev2-profile SPOKES
!
interface Tunnel1
 description to spoke1
 ip address 169.254.10.1/30
 tunnel source 192.0.2.1
 tunnel destination 198.51.100.2
 tunnel mode ipsec ipv4
 tunnel protection ipsec profile VTI
!
interface Tunnel2
 description to spoke2
 ip address 169.254.10.5/30
 tunnel source 192.0.2.1
 tunnel destination dynamic
 tunnel mode ipsec ipv4
 tunnel protection ipsec profile VTI
!
router bgp 65000
 bgp router-id 10.0.0.1
 neighbor 169.254.10.2 remote-as 65001
 neighbor 169.254.10.2 password {BGP_PW}
!
"
    )
}

/// A scratch directory, removed on drop. Short paths keep socket paths
/// under the 108-byte limit.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "rvpnd-t{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).expect("create scratch dir");
        Scratch(p)
    }
    fn conf(&self) -> PathBuf {
        self.0.join("rvpnd.conf")
    }
    fn sock(&self) -> PathBuf {
        self.0.join("rvpnd.sock")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A running rvpnd, killed on drop.
struct Daemon {
    child: Child,
    sock: PathBuf,
    log: PathBuf,
}

fn spawn(dir: &Scratch, log_name: &str, extra: &[&str]) -> (Child, PathBuf) {
    let log = dir.0.join(log_name);
    let err = fs::File::create(&log).expect("log file");
    // A fresh, empty network namespace: the configs name real-looking
    // peers, and IKE must not send them anything from the host.
    let child = Command::new("unshare")
        .args(["--net", "--"])
        .arg(env!("CARGO_BIN_EXE_rvpnd"))
        .arg("-f")
        .arg(dir.conf())
        .arg("--socket")
        .arg(dir.sock())
        .args(extra)
        .env("RUST_LOG", "debug")
        .env_remove("RVPN_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .expect("spawn rvpnd");
    (child, log)
}

impl Daemon {
    /// Start rvpnd on `dir`'s config and socket; wait (at most 5 s) until
    /// it answers.
    fn start(dir: &Scratch) -> Daemon {
        Self::start_with(dir, "rvpnd.log", &[])
    }

    fn start_with(dir: &Scratch, log_name: &str, extra: &[&str]) -> Daemon {
        let (child, log) = spawn(dir, log_name, extra);
        let mut d = Daemon {
            child,
            sock: dir.sock(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(Some(st)) = d.child.try_wait() {
                panic!("rvpnd exited early ({st}):\n{}", d.log());
            }
            if UnixStream::connect(&d.sock).is_ok() {
                return d;
            }
            assert!(
                Instant::now() < deadline,
                "rvpnd did not come up:\n{}",
                d.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn client(&self) -> Client {
        let s = UnixStream::connect(&self.sock).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        Client {
            rd: BufReader::new(s.try_clone().expect("clone")),
            wr: s,
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, sig: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid");
        // SAFETY: sending a signal to our own child process.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
    }

    /// Wait (at most 5 s) until the log contains `needle`.
    fn wait_log(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.log().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "log never said {needle:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal protocol client.
struct Client {
    rd: BufReader<UnixStream>,
    wr: UnixStream,
}

impl Client {
    fn raw(&mut self, line: &str) -> Response {
        self.wr.write_all(line.as_bytes()).expect("send");
        self.wr.write_all(b"\n").expect("send");
        let mut buf = String::new();
        self.rd.read_line(&mut buf).expect("receive");
        serde_json::from_str(&buf).unwrap_or_else(|e| panic!("bad response {buf:?}: {e}"))
    }
    fn send(&mut self, req: Value) -> Response {
        self.raw(&req.to_string())
    }
    fn line(&mut self, line: &str) -> Response {
        self.send(json!({"type": "line", "line": line}))
    }
    /// Run lines that must all succeed; the output of the last.
    fn ok(&mut self, lines: &[&str]) -> String {
        let mut out = String::new();
        for l in lines {
            let r = self.line(l);
            assert!(r.ok, "{l:?} refused: {:?}", r.error);
            out = r.output;
        }
        out
    }
    fn json(&mut self, line: &str) -> Value {
        let out = self.ok(&[line]);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{line:?} is not JSON ({e}):\n{out}"))
    }
}

fn interface_json<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["interfaces"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["name"] == name))
        .unwrap_or_else(|| panic!("{name} not in {v}"))
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn mode_of(p: &Path) -> u32 {
    fs::metadata(p).expect("stat").permissions().mode() & 0o777
}

#[test]
fn socket_is_0660_and_startup_config_is_running() {
    let dir = Scratch::new("start");
    fs::write(dir.conf(), base_config()).expect("write config");
    let d = Daemon::start(&dir);
    let meta = fs::symlink_metadata(dir.sock()).expect("stat socket");
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);

    let mut c = d.client();
    let hello = c.send(json!({"type": "hello"}));
    assert!(hello.ok);
    assert_eq!(hello.prompt, "hub1#");
    let run = c.ok(&["show running-config"]);
    let expected = vtysh::render::render_masked(
        &vtysh::load_config(&base_config(), &vtysh::Config::default()).expect("base loads"),
    );
    assert_eq!(run.trim_end(), expected.trim_end());
    assert!(
        run.contains("interface Tunnel1\n description to spoke1"),
        "{run}"
    );
    let abbreviated = c.ok(&["sh run"]);
    assert_eq!(abbreviated, run);
}

#[test]
fn refused_lines_change_nothing() {
    let dir = Scratch::new("refuse");
    fs::write(dir.conf(), base_config()).expect("write config");
    let d = Daemon::start(&dir);
    let mut c = d.client();
    let before = c.ok(&["show running-config include-secrets"]);

    c.ok(&["configure terminal", "interface Tunnel1"]);
    let r = c.line("ip adress 10.1.1.1/30");
    assert!(!r.ok);
    let e = r.error.expect("error info");
    assert!(e.message.starts_with('%'), "{}", e.message);
    assert_eq!(e.column, Some(3), "caret under the bad word: {e:?}");
    assert_eq!(
        r.prompt, "hub1(config-if)#",
        "mode kept after a refused line"
    );

    // A semantic error: a PSK shorter than 16 characters.
    c.ok(&["crypto ikev2 keyring SPOKES", "peer spoke1"]);
    let r = c.line("pre-shared-key 0 short");
    assert!(!r.ok, "short PSK accepted");
    assert_eq!(r.prompt, "hub1(config-ikev2-keyring-peer)#");
    // A reference to something that does not exist.
    c.ok(&["exit", "exit", "interface Tunnel1"]);
    assert!(!c.line("tunnel protection ipsec profile NOPE").ok);
    c.ok(&["end"]);
    assert_eq!(c.ok(&["show running-config include-secrets"]), before);

    // A whole file with one bad line is refused as a whole.
    let r = c.send(json!({"type": "apply_config", "name": "bad.conf", "text": "interface Tunnel9\n description new\n bogus words\n"}));
    assert!(!r.ok);
    let msg = r.error.expect("error").message;
    assert!(msg.contains("bad.conf") && msg.contains("line 3"), "{msg}");
    assert_eq!(c.ok(&["show running-config include-secrets"]), before);

    // An undecodable request gets an error, and the connection goes on.
    let r = c.raw("{not json");
    assert!(!r.ok);
    assert_eq!(c.ok(&["show running-config include-secrets"]), before);
}

#[test]
fn configured_interface_shows_everywhere() {
    let dir = Scratch::new("config");
    fs::write(dir.conf(), base_config()).expect("write config");
    let d = Daemon::start(&dir);
    let mut c = d.client();
    c.ok(&[
        "conf t",
        "interface Tunnel10",
        "ip address 169.254.30.1/30",
        "interface Tunnel5",
        "description five",
        "ip address 169.254.20.1/30",
        "shutdown",
        "end",
    ]);
    let run = c.ok(&["show running-config"]);
    assert!(
        run.contains("interface Tunnel5\n description five\n"),
        "{run}"
    );
    assert!(run.contains("ip address 169.254.20.1/30"), "{run}");

    let one = c.ok(&["show interface Tunnel5"]);
    assert!(
        one.starts_with("Tunnel5 is administratively down, line protocol is down\n"),
        "{one}"
    );
    assert!(one.contains("Internet address is 169.254.20.1/30"), "{one}");
    assert!(one.contains("Description: five"), "{one}");
    let t1 = c.ok(&["show interface Tunnel1"]);
    assert!(
        t1.starts_with("Tunnel1 is up, line protocol is down\n"),
        "{t1}"
    );
    assert!(
        t1.contains("Tunnel source 192.0.2.1, destination 198.51.100.2"),
        "{t1}"
    );

    let brief = c.ok(&["show ip interface brief"]);
    let names: Vec<&str> = brief
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        names,
        ["Tunnel1", "Tunnel2", "Tunnel5", "Tunnel10"],
        "{brief}"
    );
    assert!(brief.contains("169.254.20.1"), "{brief}");
    let ib = c.ok(&["show interface brief"]);
    assert!(
        ib.lines().any(|l| l.starts_with("Tunnel5")
            && l.contains("administratively down")
            && l.ends_with("five")),
        "{ib}"
    );

    let r = c.line("show interface Tunnel99");
    assert!(!r.ok);
    assert_eq!(
        r.error.expect("error").message,
        "% Interface Tunnel99 not configured"
    );

    let cs = c.ok(&["show crypto session detail"]);
    assert!(
        cs.contains("Interface: Tunnel1")
            && cs.contains("DOWN-NEGOTIATING")
            && cs.contains("Peer: 198.51.100.2"),
        "{cs}"
    );
    assert!(
        cs.contains("Interface: Tunnel2") && cs.contains("Peer: dynamic"),
        "{cs}"
    );
    assert!(
        cs.contains("IKEv2 profile: SPOKES") && cs.contains("IPsec profile: VTI"),
        "{cs}"
    );
    assert!(!cs.contains("Tunnel5"), "unprotected tunnel listed: {cs}");
    assert!(!cs.contains("UP-"), "{cs}");
}

#[test]
fn write_memory_is_atomic_and_survives_restart() {
    let dir = Scratch::new("write");
    fs::write(dir.conf(), base_config()).expect("write config");
    fs::set_permissions(dir.conf(), fs::Permissions::from_mode(0o644)).expect("chmod");
    let d = Daemon::start(&dir);
    let mut c = d.client();
    c.ok(&[
        "configure terminal",
        "interface Tunnel7",
        "description seven",
        "ip address 169.254.40.1/30",
        "end",
    ]);
    let out = c.ok(&["write memory"]);
    assert_eq!(out, "Building configuration...\n[OK]\n");
    assert_eq!(mode_of(&dir.conf()), 0o600);
    let files: Vec<String> = fs::read_dir(&dir.0)
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        files.iter().all(|f| !f.contains("tmp")),
        "temp file left: {files:?}"
    );

    let text = fs::read_to_string(dir.conf()).expect("read back");
    assert!(text.contains(PSK), "write memory must keep the secrets");
    let saved = vtysh::load_config(&text, &vtysh::Config::default()).expect("saved file loads");
    let running: Value = c.json("show running-config include-secrets json");
    assert_eq!(serde_json::to_value(&saved).expect("to json"), running);

    let copy = c.ok(&["copy running-config startup-config"]);
    assert!(copy.contains("[OK]"));
    let startup = c.ok(&["show startup-config"]);
    assert!(
        startup.contains("interface Tunnel7") && !startup.contains(PSK),
        "{startup}"
    );
    drop(c);
    drop(d);

    let d = Daemon::start_with(&dir, "rvpnd2.log", &[]);
    let mut c = d.client();
    let run = c.ok(&["show running-config"]);
    assert!(
        run.contains("interface Tunnel7\n description seven\n"),
        "{run}"
    );
}

#[test]
fn missing_startup_file_starts_empty_and_write_creates_it() {
    let dir = Scratch::new("empty");
    let d = Daemon::start(&dir);
    let mut c = d.client();
    assert_eq!(c.send(json!({"type": "hello"})).prompt, "rvpn#");
    let r = c.line("show startup-config");
    assert!(!r.ok && r.error.expect("error").message.contains("not found"));
    c.ok(&["configure terminal", "hostname spoke9", "end"]);
    assert_eq!(c.send(json!({"type": "hello"})).prompt, "spoke9#");
    c.ok(&["write"]);
    assert_eq!(mode_of(&dir.conf()), 0o600);
    assert!(fs::read_to_string(dir.conf())
        .expect("created")
        .contains("hostname spoke9"));
}

#[test]
fn apply_config_is_one_transaction() {
    let dir = Scratch::new("apply");
    fs::write(dir.conf(), base_config()).expect("write config");
    let d = Daemon::start(&dir);
    let mut c = d.client();
    let text = "interface Tunnel3\n description three\n ip address 169.254.50.1/30\n!\ninterface Tunnel1\n description renamed\n";
    let r = c.send(json!({"type": "apply_config", "name": "x.conf", "text": text}));
    assert!(r.ok, "{:?}", r.error);
    let run = c.ok(&["show running-config"]);
    assert!(
        run.contains("interface Tunnel3\n description three")
            && run.contains("description renamed"),
        "{run}"
    );
}

#[test]
fn sighup_applies_only_the_difference() {
    let dir = Scratch::new("hup");
    fs::write(dir.conf(), base_config()).expect("write config");
    let d = Daemon::start(&dir);
    let mut c = d.client();
    let before = c.json("show interface json");
    let t1 = interface_json(&before, "Tunnel1").clone();
    let t2 = interface_json(&before, "Tunnel2").clone();
    // Make sure a rewritten timestamp would differ.
    std::thread::sleep(Duration::from_millis(20));

    let changed = base_config().replace("description to spoke2", "description to spoke2 (moved)")
        + "interface Tunnel3\n ip address 169.254.60.1/30\n!\n";
    fs::write(dir.conf(), changed).expect("rewrite config");
    d.signal(libc::SIGHUP);
    wait_until("the reload", || {
        let v = c.json("show interface json");
        v["interfaces"]
            .as_array()
            .is_some_and(|a| a.iter().any(|i| i["name"] == "Tunnel3"))
    });
    let after = c.json("show interface json");
    assert_eq!(
        interface_json(&after, "Tunnel1"),
        &t1,
        "unchanged Tunnel1 was touched"
    );
    let t2b = interface_json(&after, "Tunnel2");
    assert_eq!(t2b["description"], "to spoke2 (moved)");
    assert_ne!(t2b["config_generation"], t2["config_generation"]);
    assert_ne!(t2b["last_change_unix_ms"], t2["last_change_unix_ms"]);
    let full = d.log();
    let log = &full[full.find("SIGHUP").expect("SIGHUP logged")..];
    assert!(log.contains("config: interface Tunnel2 modified"), "{log}");
    assert!(log.contains("config: interface Tunnel3 added"), "{log}");
    assert!(!log.contains("config: interface Tunnel1 "), "{log}");
}

#[test]
fn sighup_with_a_broken_file_changes_nothing() {
    let dir = Scratch::new("hupbad");
    fs::write(dir.conf(), base_config()).expect("write config");
    let d = Daemon::start(&dir);
    let mut c = d.client();
    let before = c.ok(&["show running-config include-secrets"]);
    let ifs = c.json("show interface json");
    let broken = base_config().replace(
        "description to spoke2",
        "description to spoke2\n frobnicate now",
    ) + "crypto ikev2 keyring SPOKES\n peer spoke1\n  pre-shared-key 0 tiny\n";
    let bad_line = broken
        .lines()
        .position(|l| l.contains("frobnicate"))
        .expect("bad line")
        + 1;
    fs::write(dir.conf(), &broken).expect("rewrite config");
    d.signal(libc::SIGHUP);
    d.wait_log("reload failed");
    assert_eq!(c.ok(&["show running-config include-secrets"]), before);
    assert_eq!(
        c.json("show interface json")["interfaces"],
        ifs["interfaces"]
    );
    let log = d.log();
    assert!(
        log.contains(&format!("line {bad_line}, column 2:")),
        "errors name their lines: {log}"
    );
    assert!(
        !log.contains("tiny"),
        "the echoed line must not be logged: {log}"
    );
    // Still serving, also new connections.
    assert!(d.client().send(json!({"type": "hello"})).ok);
}

#[test]
fn every_show_command_speaks_json() {
    let dir = Scratch::new("json");
    fs::write(dir.conf(), base_config()).expect("write config");
    let d = Daemon::start(&dir);
    let mut c = d.client();
    for cmd in [
        "show running-config json",
        "show running-config include-secrets json",
        "show startup-config json",
        "show version json",
        "show interface json",
        "show interface brief json",
        "show interface Tunnel1 json",
        "show ip interface brief json",
        "show crypto session json",
        "show crypto session detail json",
    ] {
        c.json(cmd);
    }
    let v = c.json("show version json");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["hostname"], "hub1");
    assert_eq!(v["dataplane"]["requested"], "auto");
    let s = c.json("show crypto session detail json");
    assert_eq!(s["sessions"][0]["status"], "DOWN-NEGOTIATING");
    assert_eq!(s["sessions"][1]["peer"], "dynamic");
    let st = c.json("show startup-config json");
    assert_eq!(st["path"], dir.conf().to_string_lossy().as_ref());
    assert_eq!(st["config"]["hostname"], "hub1");
    let text = c.ok(&["show version"]);
    assert!(
        text.contains("Data plane requested: auto")
            && text.contains(&dir.conf().display().to_string()),
        "{text}"
    );
}

#[test]
fn secrets_stay_out_of_logs_and_masked_output() {
    let dir = Scratch::new("secret");
    fs::write(dir.conf(), base_config()).expect("write config");
    let d = Daemon::start_with(&dir, "rvpnd.log", &["--dataplane", "userspace"]);
    let mut c = d.client();
    c.ok(&[
        "configure terminal",
        "crypto ikev2 keyring SPOKES",
        "peer spoke1",
    ]);
    c.ok(&[&format!("pre-shared-key 0 {PSK2}")]);
    assert!(!c.line(&format!("pre-shared-key 0 {PSK2} trailing")).ok);
    c.ok(&["end", "write memory"]);
    let r = c.send(json!({"type": "apply_config", "name": "s.conf", "text": format!("crypto ikev2 keyring SPOKES\n peer spoke1\n  pre-shared-key 0 {PSK}\n  bogus\n")}));
    assert!(!r.ok);
    let msg = r.error.expect("error").message;
    assert!(!msg.contains(PSK), "secret echoed in an error: {msg}");

    for cmd in [
        "show running-config",
        "show running-config json",
        "show startup-config",
        "show startup-config json",
        "show interface json",
    ] {
        let out = c.ok(&[cmd]);
        for s in [PSK, PSK2, BGP_PW] {
            assert!(!out.contains(s), "{cmd} shows a secret:\n{out}");
        }
    }
    assert!(c
        .ok(&["show running-config include-secrets"])
        .contains(PSK2));
    assert!(c
        .ok(&["show startup-config include-secrets"])
        .contains(PSK2));
    assert!(c
        .ok(&["show version"])
        .contains("Data plane requested: userspace"));

    fs::write(dir.conf(), base_config()).expect("rewrite config");
    d.signal(libc::SIGHUP);
    d.wait_log("reload done");
    d.signal(libc::SIGTERM);
    let log = d.log();
    assert!(log.contains("DEBUG"), "the log runs at debug level: {log}");
    for s in [PSK, PSK2, BGP_PW] {
        assert!(!log.contains(s), "secret in the log:\n{log}");
    }
}

#[test]
fn sigterm_removes_the_socket_and_exits_0() {
    let dir = Scratch::new("term");
    let mut d = Daemon::start(&dir);
    d.signal(libc::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(st) = d.child.try_wait().expect("wait") {
            break st;
        }
        assert!(Instant::now() < deadline, "rvpnd did not exit on SIGTERM");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "{status}");
    assert!(!dir.sock().exists(), "socket left behind");
}

#[test]
fn stale_socket_is_replaced_but_a_live_daemon_is_not() {
    let dir = Scratch::new("stale");
    drop(std::os::unix::net::UnixListener::bind(dir.sock()).expect("stale socket"));
    assert!(dir.sock().exists());
    let d = Daemon::start(&dir);
    assert!(d.client().send(json!({"type": "hello"})).ok);

    let (mut second, log) = spawn(&dir, "second.log", &[]);
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(st) = second.try_wait().expect("wait") {
            break st;
        }
        assert!(Instant::now() < deadline, "second rvpnd did not give up");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(!status.success());
    assert!(fs::read_to_string(log)
        .expect("log")
        .contains("already answering"));
    assert!(
        d.client().send(json!({"type": "hello"})).ok,
        "first daemon displaced"
    );
}

#[test]
fn broken_startup_file_is_refused_with_every_error() {
    let dir = Scratch::new("badstart");
    fs::write(
        dir.conf(),
        "hostname x\ninterface Tunnel1\n bogus one\n ip address 300.1.1.1/30\n",
    )
    .expect("write config");
    let (mut child, log) = spawn(&dir, "rvpnd.log", &[]);
    let status = child.wait().expect("wait");
    assert!(!status.success());
    let log = fs::read_to_string(log).expect("log");
    assert!(log.contains("line 3") && log.contains("line 4"), "{log}");
    assert!(!dir.sock().exists());
}

#[test]
fn example_configs_start_and_round_trip() {
    let dir = Scratch::new("examples");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    let mut seen = 0;
    for entry in fs::read_dir(&examples).expect("configs/") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("conf") {
            continue;
        }
        seen += 1;
        fs::copy(&path, dir.conf()).expect("copy example");
        let d = Daemon::start_with(&dir, "example.log", &[]);
        let mut c = d.client();
        let text = c.ok(&["show running-config include-secrets"]);
        let reparsed = vtysh::load_config(&text, &vtysh::Config::default()).unwrap_or_else(|e| {
            panic!(
                "{}: show running-config does not load back: {e:?}",
                path.display()
            )
        });
        let original = vtysh::load_config(
            &fs::read_to_string(&path).expect("read"),
            &vtysh::Config::default(),
        )
        .expect("example loads");
        assert_eq!(reparsed, original, "{}", path.display());
        c.json("show crypto session detail json");
        drop(c);
        drop(d);
    }
    assert!(seen > 0, "no example configs in {}", examples.display());
}
