//! The injector (examples/bgp_inject.rs): found or built, and run in a
//! namespace, its JSON lines read back.

use crate::support::netns::Netns;
use crate::support::rvpn::rvpnd_bin;
use crate::support::{output_text, run_timeout, wait_until, Proc, Scratch};
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

/// The newest modification time under `p` (files, recursively).
fn newest_mtime(p: &Path) -> SystemTime {
    let mut t = SystemTime::UNIX_EPOCH;
    if let Ok(m) = fs::metadata(p) {
        if m.is_file() {
            return m.modified().unwrap_or(t);
        }
    }
    for e in fs::read_dir(p).into_iter().flatten().flatten() {
        t = t.max(newest_mtime(&e.path()));
    }
    t
}

/// The injector example: the one `cargo test --workspace` built next to
/// rvpnd if it is newer than bgp/ and its source, else built now into a target
/// directory of its own (the running `cargo test` holds the lock of its
/// own).
fn inject_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let src = newest_mtime(&root.join("bgp/src"))
            .max(newest_mtime(&root.join("examples/bgp_inject.rs")))
            .max(newest_mtime(&root.join("bgp/Cargo.toml")));
        let exe = rvpnd_bin();
        let fresh = |p: &Path| p.is_file() && newest_mtime(p) >= src;
        let next_to_rvpnd = exe.with_file_name("examples").join("bgp_inject");
        if fresh(&next_to_rvpnd) {
            return next_to_rvpnd;
        }
        let target = exe
            .parent()
            .and_then(Path::parent)
            .expect("rvpnd lives in TARGET/PROFILE/")
            .join("interop-inject");
        let built = target.join("debug/examples/bgp_inject");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        eprintln!(
            "building the injector: {cargo} build -p rvpnd --example bgp_inject into {target:?}"
        );
        let o = run_timeout(
            Command::new(&cargo)
                .args(["build", "--quiet", "-p", "rvpnd", "--example", "bgp_inject"])
                .arg("--manifest-path")
                .arg(root.join("Cargo.toml"))
                .arg("--target-dir")
                .arg(&target),
            Duration::from_secs(1200),
        );
        assert!(
            o.status.success() && built.is_file(),
            "building examples/bgp_inject.rs failed ({}); build it with \
             `cargo build -p rvpnd --example bgp_inject`:\n{}",
            o.status,
            output_text(&o)
        );
        built
    })
    .clone()
}

/// A running injector; its stdout and stderr in one log.
pub struct Injector {
    pub proc: Proc,
    pub log: PathBuf,
    _dir: Scratch,
}

impl Injector {
    pub fn start(ns: &Netns, args: &[&str]) -> Injector {
        let dir = Scratch::new("inject");
        let log = dir.join("inject.log");
        let bin = inject_bin().display().to_string();
        let mut argv = vec![bin.as_str()];
        argv.extend_from_slice(args);
        let proc = ns.spawn(&argv, &log);
        Injector {
            proc,
            log,
            _dir: dir,
        }
    }

    pub fn text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The first JSON line with `key`.
    pub fn line(&self, key: &str) -> Option<Value> {
        self.text()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v.get(key).is_some())
    }

    pub fn wait_line(&mut self, key: &str, timeout: Duration) -> Value {
        wait_until(&format!("injector reports {key}"), timeout, || {
            if let Some(v) = self.line(key) {
                return Ok(v);
            }
            match self.proc.exited() {
                Some(st) => Err(format!("injector exited ({st}):\n{}", self.text())),
                None => Err(format!("output so far:\n{}", self.text())),
            }
        })
    }
}
