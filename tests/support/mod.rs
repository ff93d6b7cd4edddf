//! Shared helpers of the root package's integration tests: network
//! namespaces and veth links ([`netns`]), strongSwan peers with
//! kernel-libipsec ([`strongswan`]), rvpnd/vtysh ([`rvpn`]),
//! host-to-host data-plane labs with traffic tools ([`hosts`]), and for
//! the BGP tests: FRR, BIRD and GoBGP peers ([`bgp_peers`]), the device
//! under test, rvpnd or FRR standing in for it ([`dut`]), the two-node
//! lab ([`bgp_lab`]), reading the BGP JSON of both sides ([`bgp_json`])
//! and the failure reports ([`bgp_diag`]).
//!
//! Include with `mod support;` from a test file. Every helper bounds its
//! waits in time, names what it creates uniquely per process and per call
//! (so tests run in parallel), and cleans up on drop, panics included.
//! Nothing sends traffic outside the namespaces a test creates.

// Each test binary compiles this module and uses only part of it; unused
// helpers would otherwise warn in every binary that does not need them.
#![allow(dead_code)]

/// Prints a measured figure and, when `RVPN_TEST_FIGURES` names a file
/// (scripts/test sets it), appends it there, so CI shows the figures of
/// passing tests too (cargo test hides their output).
pub fn figure(line: &str) {
    eprintln!("{line}");
    if let Some(path) = std::env::var_os("RVPN_TEST_FIGURES") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

pub mod bgp_diag;
pub mod bgp_json;
pub mod bgp_lab;
pub mod bgp_peers;
pub mod dut;
pub mod hosts;
pub mod load;
pub mod netns;
pub mod pki;
pub mod rvpn;
pub mod strongswan;
pub mod vt;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The Debian packages the interop tests need (scripts/test installs them).
pub const INTEROP_PACKAGES: &str = "strongswan-charon strongswan-swanctl libcharon-extra-plugins \
     libstrongswan-standard-plugins libstrongswan-extra-plugins iputils-ping tcpdump iproute2 \
     procps iptables";

/// A number unique within this test process, for names and paths.
pub fn unique() -> usize {
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Poll `cond` every 50 ms until it holds or `timeout` passes; whether it
/// held. `cond` runs at least once.
pub fn wait_for(mut cond: impl FnMut() -> bool, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Poll `f` every 100 ms until it gives Ok (its value) or `timeout`
/// passes: then panic with `what` and the last Err.
pub fn wait_until<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match f() {
            Ok(v) => return v,
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            panic!("{what}: not so after {timeout:?}; last seen: {last}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Panic unless the interop tests can run: root (namespaces, TUN) and the
/// strongSwan/iproute2 tools and plugins. Never skips silently.
pub fn require_interop() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    let mut missing = Vec::new();
    for p in [
        "/usr/lib/ipsec/charon",
        "/usr/sbin/swanctl",
        "/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so",
        "/usr/lib/ipsec/plugins/libstrongswan-openssl.so",
        "/usr/lib/ipsec/plugins/libstrongswan-gcm.so",
        "/usr/lib/ipsec/plugins/libstrongswan-curve25519.so",
        "/usr/lib/ipsec/plugins/libstrongswan-chapoly.so",
        "/usr/lib/ipsec/plugins/libstrongswan-vici.so",
    ] {
        if !Path::new(p).exists() {
            missing.push(p.to_string());
        }
    }
    for tool in ["ip", "ping", "tcpdump", "iptables", "unshare", "tc"] {
        if !in_path(tool) {
            missing.push(tool.to_string());
        }
    }
    assert!(
        euid == 0 && missing.is_empty(),
        "the interop tests need root and the packages [{INTEROP_PACKAGES}]; \
         run scripts/test as root (it installs them).\n  root: {}\n  missing: {missing:?}",
        euid == 0
    );
}

/// Whether `tool` is an executable in $PATH (or the sbin directories).
pub fn in_path(tool: &str) -> bool {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .any(|d| Path::new(d).join(tool).is_file());
    found
}

/// A scratch directory under the temp dir, removed on drop, except when the
/// test is panicking: then it is kept (and named on stderr) so the logs in
/// it can be read. Short paths keep Unix socket paths under 108 bytes.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let p =
            std::env::temp_dir().join(format!("rvit-{}-{}-{tag}", std::process::id(), unique()));
        // Sockets inside get ~20 more bytes; sun_path holds 108.
        assert!(
            p.as_os_str().len() < 80,
            "{} is too long for Unix sockets inside it: set TMPDIR shorter",
            p.display()
        );
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
        Scratch(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test failed: files kept in {}", self.0.display());
        } else {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// Run `cmd` to completion, killing it after `timeout`; its output (a
/// killed command gets a signal status). Panics only if it cannot start.
pub fn run_timeout(cmd: &mut Command, timeout: Duration) -> Output {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    let out = reader(child.stdout.take());
    let err = reader(child.stderr.take());
    let status = wait_timeout(&mut child, timeout).unwrap_or_else(|| {
        let _ = child.kill();
        child.wait().expect("wait for a killed child")
    });
    Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// Like [`run_timeout`] (10 s), but panics unless the command succeeds;
/// its stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let shown = format!("{cmd:?}");
    let o = run_timeout(cmd, Duration::from_secs(10));
    assert!(
        o.status.success(),
        "{shown} failed ({}):\n{}{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stdout and stderr of an output as one string, for failure messages.
pub fn output_text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn reader<R: Read + Send + 'static>(r: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut r) = r {
            let _ = r.read_to_end(&mut buf);
        }
        buf
    })
}

/// Wait at most `timeout` for `child` to exit; its status, or None.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return Some(st),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => return None,
        }
    }
}

/// Send `sig` to a process id (errors, e.g. already gone, are ignored).
pub fn signal(pid: u32, sig: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) with a pid we own and a valid signal number.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// A background process started by a helper: SIGKILLed and reaped on drop.
pub struct Proc {
    child: Child,
    what: String,
}

impl Proc {
    pub fn new(child: Child, what: impl Into<String>) -> Proc {
        Proc {
            child,
            what: what.into(),
        }
    }
    pub fn id(&self) -> u32 {
        self.child.id()
    }
    pub fn what(&self) -> &str {
        &self.what
    }
    /// Exit status if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
    /// SIGTERM, wait up to `grace`, then SIGKILL; whether it exited by itself.
    pub fn terminate(&mut self, grace: Duration) -> bool {
        if self.exited().is_some() {
            return true;
        }
        signal(self.child.id(), libc::SIGTERM);
        if wait_timeout(&mut self.child, grace).is_some() {
            return true;
        }
        self.kill();
        false
    }
    /// Wait up to `timeout` for it to exit on its own.
    pub fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait_timeout(&mut self.child, timeout)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}
