//! The kernel data plane for real: rvpnd with `--dataplane kernel` against
//! strongSwan (charon with kernel-netlink, i.e. kernel ESP) in a qemu VM
//! that boots Debian's stock kernel, because the test machine's own kernel
//! has no ESP and no xfrm interfaces.
//!
//! tests/kvm-xfrm/run.sh boots the VM (TCG where there is no usable KVM)
//! and runs tests/kvm-xfrm/test-rvpn-kernel.sh in it; the script chroots
//! into the host's root (shared read-only) and runs the binaries cargo
//! built here. It asserts traffic between two hosts through the tunnel,
//! packet counters on rvpn's XFRM states, three transforms (AES-GCM, ESP
//! in UDP with ChaCha20-Poly1305, AES-CBC + HMAC-SHA-256), rekeys both
//! ways while pinging (at most one packet lost), a clean kernel after
//! SIGTERM, reconciliation after kill -9, that foreign XFRM objects are
//! never touched, and NAT rebinding: strongSwan (kernel ESP) behind an
//! iptables MASQUERADE whose mapping changes under a ping; rvpn's kernel
//! reports the ESP from the new port (XFRM_MSG_MAPPING), rvpn follows it
//! with the same IKE SA and rekeys the pair onto the new port, and the
//! ping recovers within 10 s (the longest gap is printed as a METRIC).
//! See the script for the topology.
//!
//! Needs: qemu-system-x86, busybox-static, cpio, kmod, iproute2, file, the
//! linux-image-amd64 .deb (downloaded with `apt-get download`, not
//! installed), strongSwan (strongswan-charon, strongswan-swanctl,
//! libstrongswan-standard-plugins, libstrongswan-extra-plugins),
//! iputils-ping, iptables, and vtysh built next to rvpnd (`cargo build --workspace`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn kernel_dataplane_against_strongswan_in_a_vm() {
    let rvpnd = PathBuf::from(env!("CARGO_BIN_EXE_rvpnd"));
    let vtysh = rvpnd.with_file_name("vtysh");
    assert!(
        vtysh.is_file(),
        "{} is missing: run `cargo build --workspace` first (scripts/test does)",
        vtysh.display()
    );
    for p in ["/usr/lib/ipsec/charon", "/usr/sbin/swanctl"] {
        assert!(
            Path::new(p).exists(),
            "{p} is missing: the kernel data plane test needs strongSwan \
             (strongswan-charon strongswan-swanctl libstrongswan-standard-plugins \
             libstrongswan-extra-plugins)"
        );
    }
    let kit = repo().join("tests/kvm-xfrm");
    let work = std::env::var("KVMXFRM_WORK").unwrap_or_else(|_| "/var/tmp/kvm-xfrm".into());
    let share = PathBuf::from(&work).join(format!("share-rvpn-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&share);
    std::fs::create_dir_all(&share).expect("create the VM's share directory");
    // The binaries travel in the share (the guest sees it at /tmp/host):
    // the build may sit under a path the guest's chroot cannot see (its /tmp
    // is a fresh tmpfs).
    let bin = share.join("bin");
    std::fs::create_dir_all(&bin).expect("create the share's bin directory");
    let me = std::env::current_exe().expect("this test's own binary");
    for (from, name) in [(&rvpnd, "rvpnd"), (&vtysh, "vtysh"), (&me, "kxtest")] {
        std::fs::copy(from, bin.join(name))
            .unwrap_or_else(|e| panic!("copy {} into the share: {e}", from.display()));
    }
    std::fs::write(
        share.join("params"),
        "RVPND='/tmp/host/bin/rvpnd'\nVTYSH='/tmp/host/bin/vtysh'\nKXTEST='/tmp/host/bin/kxtest'\n",
    )
    .expect("write params");

    let started = Instant::now();
    let out = Command::new(kit.join("run.sh"))
        .arg(kit.join("test-rvpn-kernel.sh"))
        .env("KVMXFRM_WORK", &work)
        .env("KVMXFRM_HOSTROOT", "1")
        .env("KVMXFRM_SHARE", &share)
        .env("KVMXFRM_MEM", "512")
        .env("KVMXFRM_TIMEOUT", "900")
        .output()
        .expect("run tests/kvm-xfrm/run.sh");
    let wall = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let failed: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
    let passed = stdout.lines().filter(|l| l.starts_with("PASS")).count();
    assert!(
        out.status.success() && failed.is_empty() && passed > 0,
        "kernel data plane VM test failed (exit {:?}, {passed} passed, failures: {failed:#?}) \
         after {:.0} s; console and logs kept in {}\n--- console:\n{stdout}\n--- run.sh:\n{stderr}",
        out.status.code(),
        wall.as_secs_f64(),
        share.display()
    );
    let _ = std::fs::remove_dir_all(&share);
    for l in stdout
        .lines()
        .filter(|l| l.starts_with("METRIC") || l.starts_with("PASS"))
    {
        eprintln!("{l}");
    }
    eprintln!(
        "kernel data plane VM test: {passed} checks passed in {:.0} s",
        wall.as_secs_f64()
    );
}

// ---------------------------------------------------------------------
// The backend itself against the VM's kernel, driven command by command
// (the daemon does not send RemoveInterface or Stats yet, and the peer
// above negotiates only a few algorithms). The VM script runs this test
// binary in the VM with RVPN_KERNEL_LIVE=1, after creating the network
// namespaces kxla and kxlb joined by a veth (192.0.2.1/24 - 192.0.2.2/24).

#[allow(dead_code, unused_imports, clippy::all)]
#[path = "../src/dataplane/mod.rs"]
mod dataplane;
// The userspace data plane starts its workers through it.
#[allow(dead_code, unused_imports, clippy::all)]
#[path = "../src/supervise.rs"]
mod supervise;

use dataplane::{DpCommand, DpStats, IfaceSpec};
use ike::crypto::{ChildKeys, SecretBytes};
use ike::sa::proposal::Chosen;
use ike::sa::ChildSaParams;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

const LOCAL: &str = "192.0.2.1";
const PEER: &str = "192.0.2.2";

fn sh(args: &[&str]) -> (bool, String) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn ok(args: &[&str]) -> String {
    let (good, text) = sh(args);
    assert!(good, "{args:?} failed: {text}");
    text
}

fn hex(b: &[u8]) -> String {
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("0x{h}")
}

/// One algorithm case: IKE ids and key lengths (encryption incl. salt,
/// integrity), and the kernel's name for `ip xfrm` on the peer.
#[derive(Clone, Copy)]
struct Alg {
    encr: (u16, u16),
    integ: Option<u16>,
    ek: usize,
    ik: usize,
    peer: &'static str,
}

const GCM256: Alg = Alg {
    encr: (20, 256),
    integ: None,
    ek: 36,
    ik: 0,
    peer: "aead rfc4106(gcm(aes)) KE 128",
};

fn child(alg: Alg, spi_in: u32, spi_out: u32, seed: u8, rekey_of: Option<u32>) -> ChildSaParams {
    ChildSaParams {
        tunnel: "Tunnel5".into(),
        spi_in,
        spi_out,
        chosen: Chosen {
            encr: alg.encr,
            integ: alg.integ,
            prf: None,
            dh: None,
            esn: false,
        },
        keys: ChildKeys {
            encr_i: SecretBytes::new(vec![seed; alg.ek]),
            integ_i: SecretBytes::new(vec![seed ^ 0x40; alg.ik]),
            encr_r: SecretBytes::new(vec![seed ^ 0x80; alg.ek]),
            integ_r: SecretBytes::new(vec![seed ^ 0xc0; alg.ik]),
        },
        we_initiated: true,
        local: SocketAddr::new(LOCAL.parse().unwrap(), 500),
        remote: SocketAddr::new(PEER.parse().unwrap(), 500),
        encap: false,
        replay_window: 1024,
        rekey_of,
        lifetime_kb: 0,
        hard_lifetime: Duration::from_secs(3600),
        virtual_template: None,
        cp: Default::default(),
    }
}

fn iface(name: &str, if_id: u32) -> IfaceSpec {
    IfaceSpec {
        name: name.into(),
        alias: None,
        mtu: 1400,
        addresses: vec!["169.254.200.1/30".parse().unwrap()],
        tcp_adjust_mss: None,
        if_id,
        dynamic: false,
    }
}

/// The peer's half of a pair in kxlb, from the same keys.
fn peer_pair(c: &ChildSaParams, alg: Alg) {
    let (oe, oi) = c.outbound_keys(); // what we send = what the peer receives
    let (ie, ii) = c.inbound_keys();
    for (dst, src, spi, e, i) in [
        (PEER, LOCAL, c.spi_out, oe, oi),
        (LOCAL, PEER, c.spi_in, ie, ii),
    ] {
        let spi = format!("{spi:#x}");
        let mut args: Vec<String> = [
            "ip", "-n", "kxlb", "xfrm", "state", "add", "src", src, "dst", dst, "proto", "esp",
            "spi", &spi, "reqid", "9", "mode", "tunnel", "if_id", "7",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for w in alg.peer.split(' ') {
            args.push(match w {
                "KE" => hex(e),
                "KI" => hex(i),
                w => w.to_string(),
            });
        }
        let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        ok(&args);
    }
}

fn ping() -> bool {
    sh(&[
        "ip",
        "netns",
        "exec",
        "kxla",
        "ping",
        "-c",
        "2",
        "-i",
        "0.2",
        "-W",
        "2",
        "-q",
        "169.254.200.2",
    ])
    .0
}

fn link_flags(name: &str) -> Option<String> {
    let (good, text) = sh(&["ip", "-n", "kxla", "-o", "link", "show", name]);
    good.then_some(text)
}

fn states() -> String {
    ok(&["ip", "-n", "kxla", "xfrm", "state"])
}

async fn stats(tx: &mpsc::UnboundedSender<DpCommand>) -> DpStats {
    let (stx, srx) = oneshot::channel();
    tx.send(DpCommand::Stats(stx)).expect("backend alive");
    srx.await.expect("stats answer")
}

#[test]
#[ignore = "runs inside the kvm-xfrm VM (RVPN_KERNEL_LIVE=1), started by the test above"]
fn live_backend_in_this_kernel() {
    if std::env::var_os("RVPN_KERNEL_LIVE").is_none() {
        eprintln!("not in the kvm-xfrm VM: nothing to do");
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(std::io::stderr)
        .try_init();
    // The peer: an xfrm interface with if_id 7 and its policies.
    ok(&[
        "ip", "-n", "kxlb", "link", "add", "p1", "type", "xfrm", "if_id", "7",
    ]);
    ok(&[
        "ip",
        "-n",
        "kxlb",
        "addr",
        "add",
        "169.254.200.2/30",
        "dev",
        "p1",
    ]);
    ok(&["ip", "-n", "kxlb", "link", "set", "p1", "up"]);
    for (dir, src, dst) in [
        ("out", PEER, LOCAL),
        ("in", LOCAL, PEER),
        ("fwd", LOCAL, PEER),
    ] {
        ok(&[
            "ip",
            "-n",
            "kxlb",
            "xfrm",
            "policy",
            "add",
            "dir",
            dir,
            "src",
            "0.0.0.0/0",
            "dst",
            "0.0.0.0/0",
            "tmpl",
            "src",
            src,
            "dst",
            dst,
            "proto",
            "esp",
            "reqid",
            "9",
            "mode",
            "tunnel",
            "if_id",
            "7",
        ]);
    }
    // This thread, and the backend's sockets, live in kxla.
    let ns = std::fs::File::open("/run/netns/kxla").expect("netns kxla");
    // SAFETY: setns(2) on an open namespace file; it moves this thread only.
    let r = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&ns), libc::CLONE_NEWNET) };
    assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        assert!(
            dataplane::kernel::probe().await,
            "probe: this kernel carries ESP"
        );
        let (tx, rx) = mpsc::unbounded_channel();
        let (ike_tx, mut ike_rx) = mpsc::unbounded_channel();
        let (map_tx, _map_rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(dataplane::kernel::run(rx, ike_tx, map_tx));
        // The backend takes commands in order: once it answers Stats, every
        // command sent before is done (however slow the emulated machine).
        let settle = || async {
            let _ = stats(&tx).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        };

        // Install: interface, states, policies; traffic; counters.
        let c1 = child(GCM256, 0x1000, 0x2000, 0x11, None);
        peer_pair(&c1, GCM256);
        tx.send(DpCommand::Install {
            child: Box::new(c1),
            iface: iface("Tunnel5", 6),
            installed: None,
            then: None,
        })
        .unwrap();
        settle().await;
        let flags = link_flags("Tunnel5").expect("Tunnel5 created");
        assert!(
            flags.contains(",UP") && flags.contains("mtu 1400"),
            "{flags}"
        );
        assert!(
            flags.contains("alias rvpn")
                || ok(&["ip", "-n", "kxla", "-d", "link", "show", "Tunnel5"])
                    .contains("alias rvpn")
        );
        assert!(ping(), "ping over Tunnel5\n{}", states());
        let s = stats(&tx).await;
        assert_eq!(s.backend, "kernel");
        assert_eq!(s.sas.len(), 1, "{s:?}");
        let sa = &s.sas[0];
        assert_eq!(
            (sa.tunnel.as_str(), sa.spi_in, sa.spi_out),
            ("Tunnel5", 0x1000, 0x2000)
        );
        assert!(
            sa.out_packets >= 2 && sa.in_packets >= 2 && sa.out_bytes > 0 && sa.in_bytes > 0,
            "{sa:?}"
        );
        let i = &s.interfaces[0];
        assert!(
            i.line_up && i.mtu == 1400 && i.tx_packets >= 2 && i.rx_packets >= 2,
            "{i:?}"
        );

        // Rekey: the new pair first, then the old one goes.
        let c2 = child(GCM256, 0x1001, 0x2001, 0x33, Some(0x1000));
        peer_pair(&c2, GCM256);
        tx.send(DpCommand::Install {
            child: Box::new(c2),
            iface: iface("Tunnel5", 6),
            installed: None,
            then: None,
        })
        .unwrap();
        settle().await;
        assert!(ping(), "ping after the rekey");
        let st = states();
        assert!(
            st.contains("spi 0x00001001") && st.contains("spi 0x00001000"),
            "{st}"
        );
        tx.send(DpCommand::Remove {
            tunnel: "Tunnel5".into(),
            spi_in: 0x1000,
            spi_out: 0x2000,
        })
        .unwrap();
        settle().await;
        let st = states();
        assert!(
            !st.contains("spi 0x00001000") && !st.contains("spi 0x00002000"),
            "{st}"
        );
        assert!(ping(), "ping on the new pair alone");
        let s = stats(&tx).await;
        assert_eq!(s.sas.len(), 1);
        assert!(
            s.sas[0].spi_in == 0x1001 && s.sas[0].out_packets >= 2,
            "{s:?}"
        );

        // The last pair goes: line protocol down, interface kept.
        tx.send(DpCommand::Remove {
            tunnel: "Tunnel5".into(),
            spi_in: 0x1001,
            spi_out: 0x2001,
        })
        .unwrap();
        settle().await;
        let flags = link_flags("Tunnel5").expect("Tunnel5 kept");
        assert!(!flags.contains(",UP"), "{flags}");
        let s = stats(&tx).await;
        assert!(s.sas.is_empty() && !s.interfaces[0].line_up, "{s:?}");

        // Up again with another pair (addresses come back with it), this
        // one with a volume lifetime of 4 KiB.
        let mut c3 = child(GCM256, 0x1002, 0x2002, 0x55, None);
        c3.lifetime_kb = 4;
        peer_pair(&c3, GCM256);
        tx.send(DpCommand::Install {
            child: Box::new(c3),
            iface: iface("Tunnel5", 6),
            installed: None,
            then: None,
        })
        .unwrap();
        settle().await;
        assert!(ping(), "ping after the line protocol came back");
        // The kernel counts the bytes; at the soft limit (90%) its expiry
        // notice becomes a rekey request to IKE for the pair.
        let limits = ok(&[
            "ip",
            "-n",
            "kxla",
            "-s",
            "xfrm",
            "state",
            "list",
            "spi",
            "0x00001002",
        ]);
        assert!(limits.contains("hard 4096(bytes)"), "{limits}");
        let mut asked = None;
        for _ in 0..40 {
            let _ = ping();
            // ping blocks this (the runtime's only) thread: give the
            // backend's tasks their turn while waiting.
            if let Ok(c) = tokio::time::timeout(Duration::from_millis(300), ike_rx.recv()).await {
                asked = c;
                break;
            }
        }
        assert!(
            asked == Some(0x1002),
            "no rekey request at the soft byte limit: {asked:?}\n{}",
            ok(&["ip", "-n", "kxla", "-s", "xfrm", "state"])
        );

        // Every transform, ESN, replay windows and UDP encapsulation are
        // accepted by this kernel (states only; no peer needed).
        let cases: &[(Alg, bool, u32, bool)] = &[
            (
                Alg {
                    encr: (20, 128),
                    integ: None,
                    ek: 20,
                    ik: 0,
                    peer: "",
                },
                false,
                64,
                false,
            ),
            (
                Alg {
                    encr: (20, 256),
                    integ: None,
                    ek: 36,
                    ik: 0,
                    peer: "",
                },
                true,
                0,
                false,
            ),
            (
                Alg {
                    encr: (28, 0),
                    integ: None,
                    ek: 36,
                    ik: 0,
                    peer: "",
                },
                false,
                4096,
                true,
            ),
            (
                Alg {
                    encr: (12, 128),
                    integ: Some(2),
                    ek: 16,
                    ik: 20,
                    peer: "",
                },
                false,
                0,
                false,
            ),
            (
                Alg {
                    encr: (12, 256),
                    integ: Some(12),
                    ek: 32,
                    ik: 32,
                    peer: "",
                },
                true,
                1024,
                true,
            ),
            (
                Alg {
                    encr: (12, 256),
                    integ: Some(13),
                    ek: 32,
                    ik: 48,
                    peer: "",
                },
                false,
                32,
                false,
            ),
            (
                Alg {
                    encr: (12, 128),
                    integ: Some(14),
                    ek: 16,
                    ik: 64,
                    peer: "",
                },
                false,
                100000,
                false,
            ),
        ];
        for (n, &(alg, esn, window, encap)) in cases.iter().enumerate() {
            let n = n as u32;
            let mut c = child(alg, 0x3000 + n, 0x4000 + n, 0x77, None);
            c.tunnel = "Tunnel6".into();
            c.chosen.esn = esn;
            c.replay_window = window;
            c.encap = encap;
            if encap {
                c.local.set_port(4500);
                c.remote.set_port(4500);
            }
            let mut f = iface("Tunnel6", 8);
            f.addresses.clear();
            tx.send(DpCommand::Install {
                child: Box::new(c),
                iface: f,
                installed: None,
                then: None,
            })
            .unwrap();
        }
        settle().await;
        let st = states();
        for n in 0..cases.len() {
            for spi in [0x3000 + n, 0x4000 + n] {
                assert!(
                    st.contains(&format!("spi {spi:#010x}")),
                    "case {n}: state {spi:#x} missing\n{st}"
                );
            }
        }
        for needle in [
            "rfc7539esp(chacha20,poly1305)",
            "hmac(sha1)",
            "hmac(sha256)",
            "hmac(sha384)",
            "hmac(sha512)",
            "flag af-unspec esn",
            "encap type espinudp sport 4500 dport 4500",
        ] {
            assert!(st.contains(needle), "{needle} missing\n{st}");
        }
        let s = stats(&tx).await;
        assert_eq!(s.sas.len(), 1 + cases.len(), "{s:?}");

        // RemoveInterface: interface, states and policies of Tunnel6 go.
        tx.send(DpCommand::RemoveInterface {
            name: "Tunnel6".into(),
        })
        .unwrap();
        settle().await;
        assert!(link_flags("Tunnel6").is_none());
        let st = states();
        assert!(!st.contains("spi 0x00003000"), "{st}");
        let pol = ok(&["ip", "-n", "kxla", "xfrm", "policy"]);
        assert!(!pol.contains("if_id 0x8"), "{pol}");
        assert!(pol.contains("if_id 0x6"), "Tunnel5's policies stay\n{pol}");
        assert!(ping(), "Tunnel5 unaffected");

        // Shutdown: everything goes, and the answer comes.
        let (stx, srx) = oneshot::channel();
        tx.send(DpCommand::Shutdown(stx)).unwrap();
        tokio::time::timeout(Duration::from_secs(10), srx)
            .await
            .expect("shutdown answered in time")
            .expect("shutdown answered");
        task.await.unwrap();
        assert!(link_flags("Tunnel5").is_none());
        assert!(!states().contains("reqid 19203358"), "{}", states());
        let pol = ok(&["ip", "-n", "kxla", "xfrm", "policy"]);
        assert!(!pol.contains("priority 5396048"), "{pol}");
    });
    println!("LIVE-BACKEND-OK");
}
