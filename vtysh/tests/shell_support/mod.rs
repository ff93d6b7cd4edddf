//! Shared by the shell tests: a throw-away rvpnd on a private socket, and
//! helpers to run the vtysh binary against it.
#![allow(dead_code)]

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The vtysh binary under test.
pub fn vtysh_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vtysh"))
}

/// rvpnd, built next to vtysh by `cargo build --workspace`.
pub fn rvpnd_bin() -> PathBuf {
    let path = vtysh_bin().with_file_name("rvpnd");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace` first (the shell tests drive a real rvpnd)",
        path.display()
    );
    path
}

/// A running rvpnd with its own directory, config and socket; killed on drop.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub config: PathBuf,
    child: Child,
}

/// Start rvpnd on `config` and `socket`, logging (appending) to `dir/rvpnd.log`.
fn spawn_rvpnd(dir: &Path, config: &Path, socket: &Path) -> Child {
    let rvpnd = rvpnd_bin();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("rvpnd.log"))
        .expect("open the daemon log");
    // A fresh, empty network namespace: the configs name real-looking
    // peers, and IKE must not send them anything from the host.
    Command::new("unshare")
        .args(["--net", "--"])
        .arg(&rvpnd)
        .arg("-f")
        .arg(config)
        .arg("--socket")
        .arg(socket)
        .env_remove("RVPN_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", rvpnd.display()))
}

/// The startup configuration used unless a test brings its own.
pub const BASE_CONFIG: &str = "hostname X\n!\ninterface Tunnel1\n ip address 169.254.10.1/30\n tunnel source 192.0.2.1\n tunnel destination 198.51.100.2\n!\n";

impl Daemon {
    /// Start rvpnd with [`BASE_CONFIG`].
    pub fn start() -> Daemon {
        Daemon::start_with(BASE_CONFIG)
    }

    /// Start rvpnd with this startup configuration and wait (at most 5 s)
    /// until its socket accepts connections.
    pub fn start_with(config_text: &str) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("vtysh-shell-test")
            .tempdir()
            .expect("create a temporary directory");
        let config = dir.path().join("hub1.conf");
        std::fs::write(&config, config_text).expect("write the startup config");
        let socket = dir.path().join("sock");
        let child = spawn_rvpnd(dir.path(), &config, &socket);
        let mut daemon = Daemon {
            dir,
            socket,
            config,
            child,
        };
        daemon.wait_ready();
        daemon
    }

    /// Stop rvpnd and start it again on the same startup file and socket,
    /// as an operator restarting the service would.
    pub fn restart(&mut self) {
        self.stop();
        self.child = spawn_rvpnd(self.dir.path(), &self.config, &self.socket);
        self.wait_ready();
    }

    /// Wait (at most 5 s) until the socket accepts connections.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("rvpnd exited early ({status}); log:\n{}", self.log());
            }
            if Instant::now() > deadline {
                panic!(
                    "rvpnd did not open {} within 5 s; log:\n{}",
                    self.socket.display(),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// What rvpnd wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("rvpnd.log")).unwrap_or_default()
    }

    /// A vtysh command aimed at this daemon (through `--socket`).
    pub fn vtysh(&self) -> Command {
        let mut cmd = Command::new(vtysh_bin());
        cmd.arg("--socket")
            .arg(&self.socket)
            .env_remove("RVPN_SOCKET");
        cmd
    }

    /// Run `vtysh -c CMD ...` and collect what it printed.
    pub fn run_c(&self, commands: &[&str]) -> Run {
        let mut cmd = self.vtysh();
        for c in commands {
            cmd.arg("-c").arg(c);
        }
        Run::of(cmd)
    }

    /// Stop the daemon now (its directory stays until drop).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A path inside the daemon's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A finished vtysh run.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Run a command to completion, at most 10 s.
    pub fn of(mut cmd: Command) -> Run {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = cmd.spawn().expect("start vtysh");
        let out = wait_bounded(child, Duration::from_secs(10));
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Wait for a child, killing it after `limit`.
fn wait_bounded(child: Child, limit: Duration) -> Output {
    let pid = child.id();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = done.clone();
    let watchdog = std::thread::spawn(move || {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if flag.load(std::sync::atomic::Ordering::SeqCst) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Still running: end it so that the test fails instead of hanging.
        let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        true
    });
    let output = child.wait_with_output().expect("wait for vtysh");
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let killed = watchdog.join().unwrap_or(false);
    assert!(!killed, "vtysh did not finish within {limit:?}");
    output
}

/// Write a file in a directory and return its path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write a test file");
    p
}
