//! Interop with strongSwan's userspace ESP (charon 5.9 with
//! kernel-libipsec, which always encapsulates ESP in UDP 4500).
//!
//! `live` (needs root, strongSwan, tcpdump, iproute2 — scripts/test installs them
//! and python3; run with `cargo test -p esp --test interop_strongswan --
//! --ignored`): two charons in two private network namespaces joined by a
//! veth pair negotiate one Child SA per ESP transform, logging the Child SA
//! keys (`chd 4`). For each Child SA the test
//!
//! 1. pings through the tunnel and captures the UDP 4500 traffic;
//! 2. seals its own ICMP echo request with [`OutboundSa`] under the
//!    initiator's outbound SA and sends it to the responder, whose
//!    libipsec must accept it and answer;
//! 3. opens every captured ESP packet, both directions, with
//!    [`InboundSa`]: strongSwan's pings and replies and the reply to our
//!    own packet.
//!
//! Traffic stays between the two namespaces the test creates.
//! `ESP_INTEROP_FIXTURE_OUT=path` also writes the keys and packets as the
//! fixture that `recorded` (always run) opens again.

use esp::{udp, InboundSa, OsRandom, OutboundSa, SaKeys, Transform, DEFAULT_WINDOW};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// (child name, strongSwan ESP proposal, our transform).
const SUITES: &[(&str, &str, Transform)] = &[
    ("gcm128", "aes128gcm16", Transform::AesGcm16_128),
    ("gcm256", "aes256gcm16", Transform::AesGcm16_256),
    ("chacha", "chacha20poly1305", Transform::ChaCha20Poly1305),
    (
        "cbc128sha1",
        "aes128-sha1",
        Transform::AesCbc128(esp::Integrity::HmacSha1_96),
    ),
    (
        "cbc128sha256",
        "aes128-sha256",
        Transform::AesCbc128(esp::Integrity::HmacSha256_128),
    ),
    (
        "cbc256sha384",
        "aes256-sha384",
        Transform::AesCbc256(esp::Integrity::HmacSha384_192),
    ),
    (
        "cbc256sha512",
        "aes256-sha512",
        Transform::AesCbc256(esp::Integrity::HmacSha512_256),
    ),
];

const OUTER_A: &str = "10.77.0.1";
const OUTER_B: &str = "10.77.0.2";
/// Our injected echo request's ICMP identifier.
const OUR_ICMP_ID: u16 = 0x4242;

fn inner_a(i: usize) -> [u8; 4] {
    [10, 77, 1, i as u8 + 1]
}
fn inner_b(i: usize) -> [u8; 4] {
    [10, 77, 2, i as u8 + 1]
}
fn dotted(a: [u8; 4]) -> String {
    format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// ---------------------------------------------------------------------
// What both tests check: keys and packets of one Child SA.

/// One Child SA as the initiator (namespace A) sees it.
#[derive(Debug, Clone)]
struct ChildSa {
    index: usize,
    transform: Transform,
    /// SPI of packets A sends (B's inbound SA).
    spi_a_to_b: u32,
    /// SPI of packets B sends (A's inbound SA).
    spi_b_to_a: u32,
    enc_i: Vec<u8>,
    enc_r: Vec<u8>,
    integ_i: Vec<u8>,
    integ_r: Vec<u8>,
}

/// A captured ESP packet (the UDP payload) and its direction.
#[derive(Debug, Clone)]
struct Captured {
    from_a: bool,
    esp: Vec<u8>,
}

#[derive(Debug, Default)]
struct Seen {
    requests_a_to_b: usize,
    replies_b_to_a: usize,
    our_replies: usize,
    our_requests: usize,
}

/// Opens every packet with our InboundSa (one per SPI, as a receiver
/// would have) and checks the inner packets are the expected ICMP.
fn open_all(children: &[ChildSa], packets: &[Captured]) -> HashMap<usize, Seen> {
    let mut sas: HashMap<u32, (InboundSa, usize, bool)> = HashMap::new();
    for c in children {
        let k_ab = SaKeys::cbc(&c.enc_i, &c.integ_i);
        let k_ba = SaKeys::cbc(&c.enc_r, &c.integ_r);
        let ab = InboundSa::new(c.spi_a_to_b, c.transform, k_ab, false, DEFAULT_WINDOW).unwrap();
        let ba = InboundSa::new(c.spi_b_to_a, c.transform, k_ba, false, DEFAULT_WINDOW).unwrap();
        sas.insert(c.spi_a_to_b, (ab, c.index, true));
        sas.insert(c.spi_b_to_a, (ba, c.index, false));
    }
    let mut seen: HashMap<usize, Seen> = HashMap::new();
    for p in packets {
        let spi = esp::peek_spi(&p.esp).unwrap();
        let (sa, index, a_to_b) = sas
            .get_mut(&spi)
            .unwrap_or_else(|| panic!("ESP packet with unknown SPI {spi:08x}"));
        assert_eq!(*a_to_b, p.from_a, "SPI {spi:08x} in the wrong direction");
        let mut pkt = p.esp.clone();
        let o = sa
            .open_in_place(&mut pkt)
            .unwrap_or_else(|e| panic!("{}: {e}", sa.transform()));
        assert_eq!(o.next_header, esp::NEXT_HEADER_IPV4);
        let ip = &*o.inner;
        assert_eq!(ip[0] >> 4, 4);
        assert_eq!(usize::from(u16::from_be_bytes([ip[2], ip[3]])), ip.len());
        assert_eq!(ip[9], 1, "ICMP");
        let (src, dst) = (&ip[12..16], &ip[16..20]);
        let icmp = &ip[usize::from(ip[0] & 0x0F) * 4..];
        let id = u16::from_be_bytes([icmp[4], icmp[5]]);
        let s = seen.entry(*index).or_default();
        if p.from_a {
            assert_eq!((src, dst), (&inner_a(*index)[..], &inner_b(*index)[..]));
            assert_eq!(icmp[0], 8, "echo request");
            if id == OUR_ICMP_ID {
                s.our_requests += 1;
            } else {
                s.requests_a_to_b += 1;
            }
        } else {
            assert_eq!((src, dst), (&inner_b(*index)[..], &inner_a(*index)[..]));
            assert_eq!(icmp[0], 0, "echo reply");
            if id == OUR_ICMP_ID {
                s.our_replies += 1;
            } else {
                s.replies_b_to_a += 1;
            }
        }
    }
    seen
}

fn transform_by_name(name: &str) -> Transform {
    *Transform::ALL
        .iter()
        .find(|t| t.to_string() == name)
        .unwrap_or_else(|| panic!("transform {name}"))
}

/// Fixture format: `sa INDEX TRANSFORM SPI_AB SPI_BA ENC_I ENC_R INTEG_I
/// INTEG_R` (empty keys as `-`) and `pkt a|b ESP_HEX`.
fn write_fixture(children: &[ChildSa], packets: &[Captured]) -> String {
    let k = |b: &[u8]| if b.is_empty() { "-".into() } else { hex(b) };
    let mut s = String::from(
        "# ESP packets captured between two strongSwan 5.9.8 charons (kernel-libipsec),\n\
         # UDP 4500 payloads, with the Child SA keys from the initiator's chd 4 log.\n\
         # Written by esp/tests/interop_strongswan.rs (live).\n",
    );
    for c in children {
        let _ = writeln!(
            s,
            "sa {} {} {:08x} {:08x} {} {} {} {}",
            c.index,
            c.transform,
            c.spi_a_to_b,
            c.spi_b_to_a,
            k(&c.enc_i),
            k(&c.enc_r),
            k(&c.integ_i),
            k(&c.integ_r)
        );
    }
    for p in packets {
        let _ = writeln!(
            s,
            "pkt {} {}",
            if p.from_a { "a" } else { "b" },
            hex(&p.esp)
        );
    }
    s
}

fn read_fixture(text: &str) -> (Vec<ChildSa>, Vec<Captured>) {
    let k = |s: &str| if s == "-" { vec![] } else { unhex(s) };
    let mut children = Vec::new();
    let mut packets = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f[0] {
            "sa" => children.push(ChildSa {
                index: f[1].parse().unwrap(),
                transform: transform_by_name(f[2]),
                spi_a_to_b: u32::from_str_radix(f[3], 16).unwrap(),
                spi_b_to_a: u32::from_str_radix(f[4], 16).unwrap(),
                enc_i: k(f[5]),
                enc_r: k(f[6]),
                integ_i: k(f[7]),
                integ_r: k(f[8]),
            }),
            "pkt" => packets.push(Captured {
                from_a: f[1] == "a",
                esp: unhex(f[2]),
            }),
            other => panic!("fixture line {other}"),
        }
    }
    (children, packets)
}

/// The packets of a live run, recorded: opens everywhere, no root needed.
#[test]
fn recorded() {
    let (children, packets) = read_fixture(include_str!("vectors/strongswan_libipsec.txt"));
    assert_eq!(children.len(), SUITES.len());
    let seen = open_all(&children, &packets);
    for c in &children {
        let s = &seen[&c.index];
        assert!(
            s.requests_a_to_b >= 3 && s.replies_b_to_a >= 3,
            "{}: {s:?}",
            c.transform
        );
        assert_eq!((s.our_requests, s.our_replies), (1, 1), "{}", c.transform);
    }
}

// ---------------------------------------------------------------------
// The live run.

/// A child process (charon, tcpdump) killed by its own pid on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A network namespace, deleted on drop.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = format!("espi-{}-{tag}", std::process::id());
        run(Command::new("ip").args(["netns", "add", &name]));
        let ns = Netns(name);
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        for k in ["all", "default"] {
            ns.exec(&["sysctl", "-qw", &format!("net.ipv4.conf.{k}.rp_filter=0")]);
        }
        ns
    }
    fn cmd(&self, argv: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0]).args(argv);
        c
    }
    fn exec(&self, argv: &[&str]) -> String {
        run(&mut self.cmd(argv))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

fn run(c: &mut Command) -> String {
    let o: Output = c.output().unwrap_or_else(|e| panic!("{c:?}: {e}"));
    assert!(
        o.status.success(),
        "{c:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn wait_for(mut cond: impl FnMut() -> bool, secs: u64) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}

struct Charon {
    dir: PathBuf,
    _proc: Proc,
}

impl Charon {
    fn vici(&self) -> String {
        format!("unix://{}", self.dir.join("charon.vici").display())
    }
    fn log(&self) -> String {
        fs::read_to_string(self.dir.join("charon.log")).unwrap_or_default()
    }
    fn swanctl(&self, args: &[&str]) -> String {
        let vici = self.vici();
        let mut c = Command::new("timeout");
        c.args(["20", "swanctl"]).args(args).args(["--uri", &vici]);
        run(&mut c)
    }
}

fn start_charon(ns: &Netns, dir: &Path, me: (&str, &str, u8), peer: (&str, &str, u8)) -> Charon {
    fs::create_dir_all(dir).unwrap();
    let conf = format!(
        "charon {{\n  load = random nonce aes sha1 sha2 hmac gcm chapoly openssl curve25519 \
         pem pkcs1 pkcs8 x509 pubkey kdf kernel-libipsec kernel-netlink socket-default vici\n  \
         install_virtual_ip = no\n  filelog {{\n    log {{\n      path = {log}\n      \
         time_format = %H:%M:%S\n      ike_name = yes\n      flush_line = yes\n      \
         default = 1\n      chd = 4\n    }}\n  }}\n  plugins {{\n    vici {{\n      \
         socket = unix://{vici}\n    }}\n  }}\n}}\n",
        log = dir.join("charon.log").display(),
        vici = dir.join("charon.vici").display(),
    );
    fs::write(dir.join("strongswan.conf"), conf).unwrap();
    let mut sw = format!(
        "connections {{\n  t {{\n    local_addrs = {}\n    remote_addrs = {}\n    \
         proposals = aes128gcm16-prfsha256-x25519\n    local {{\n      auth = psk\n      \
         id = {}\n    }}\n    remote {{\n      auth = psk\n      id = {}\n    }}\n    children {{\n",
        me.0, peer.0, me.1, peer.1
    );
    for (i, (name, prop, _)) in SUITES.iter().enumerate() {
        let _ = write!(
            sw,
            "      {name} {{\n        local_ts = 10.77.{}.{}/32\n        remote_ts = 10.77.{}.{}/32\n        \
             esp_proposals = {prop}\n        mode = tunnel\n      }}\n",
            me.2,
            i + 1,
            peer.2,
            i + 1
        );
    }
    sw.push_str("    }\n  }\n}\nsecrets {\n  ike {\n    secret = esp-interop-psk-0123\n  }\n}\n");
    fs::write(dir.join("swanctl.conf"), sw).unwrap();
    let out = fs::File::create(dir.join("charon.stdout")).unwrap();
    // `ip netns exec`, `unshare` and `sh` all exec: the child is charon.
    // A private /run: charon's pid file path is compiled in.
    let child = ns
        .cmd(&["unshare", "-m", "--propagation", "private", "sh", "-c"])
        .arg("mount -t tmpfs tmpfs /run && exec /usr/lib/ipsec/charon")
        .env("STRONGSWAN_CONF", dir.join("strongswan.conf"))
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("spawn charon");
    let c = Charon {
        dir: dir.to_path_buf(),
        _proc: Proc(child),
    };
    let vici = dir.join("charon.vici");
    assert!(
        wait_for(
            || std::os::unix::net::UnixStream::connect(&vici).is_ok(),
            10
        ),
        "charon did not come up: {}",
        c.log()
    );
    let file = dir.join("swanctl.conf");
    c.swanctl(&["--load-all", "--file", file.to_str().unwrap()]);
    c
}

/// The Child SA keys and SPIs from the initiator's log (`chd 4` dumps of
/// "encryption initiator key => N bytes @ ..." followed by hex lines).
fn parse_children(log: &str) -> Vec<ChildSa> {
    let lines: Vec<&str> = log.lines().collect();
    let mut keys: HashMap<&str, Vec<u8>> = HashMap::new();
    let mut children = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        let which = [
            "encryption initiator key",
            "encryption responder key",
            "integrity initiator key",
            "integrity responder key",
        ]
        .into_iter()
        .find(|k| l.contains(&format!("{k} =>")));
        if let Some(which) = which {
            let n: usize = l
                .split("=> ")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap();
            let mut bytes = Vec::new();
            while bytes.len() < n {
                i += 1;
                // "<conn|1>   16: 41 10 ..  ascii": hex tokens after "N:".
                let rest = lines[i].split_once(": ").unwrap().1;
                let take = (n - bytes.len()).min(16);
                bytes.extend(
                    rest.split_whitespace()
                        .take(take)
                        .map(|t| u8::from_str_radix(t, 16).unwrap()),
                );
            }
            keys.insert(which, bytes);
        } else if let Some(pos) = l.find("established with SPIs ") {
            let name = l[..pos]
                .rsplit("CHILD_SA ")
                .next()
                .unwrap()
                .split('{')
                .next()
                .unwrap();
            let spis: Vec<&str> = l[pos..].split_whitespace().collect();
            let spi_in = u32::from_str_radix(spis[3].trim_end_matches("_i"), 16).unwrap();
            let spi_out = u32::from_str_radix(spis[4].trim_end_matches("_o"), 16).unwrap();
            let index = SUITES.iter().position(|s| s.0 == name).unwrap();
            let mut take = |k: &str| keys.remove(k).unwrap_or_default();
            children.push(ChildSa {
                index,
                transform: SUITES[index].2,
                spi_a_to_b: spi_out,
                spi_b_to_a: spi_in,
                enc_i: take("encryption initiator key"),
                enc_r: take("encryption responder key"),
                integ_i: take("integrity initiator key"),
                integ_r: take("integrity responder key"),
            });
        }
        i += 1;
    }
    children
}

fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 ICMP echo request.
fn echo_request(src: [u8; 4], dst: [u8; 4], id: u16, seq: u16) -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0];
    icmp.extend_from_slice(&id.to_be_bytes());
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(b"rvpn esp interop payload 0123456789");
    let c = checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let total = (20 + icmp.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0x12, 0x34, 0x40, 0, 64, 1, 0, 0]);
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&icmp);
    ip
}

/// UDP payloads to/from port 4500 in a pcap file (Ethernet, IPv4), ESP
/// only (IKE behind the non-ESP marker is skipped).
fn read_pcap(path: &Path) -> Vec<Captured> {
    let data = fs::read(path).unwrap();
    let le = match data[..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => panic!("not a pcap file"),
    };
    let u32_at = |b: &[u8], at: usize| {
        let a: [u8; 4] = b[at..at + 4].try_into().unwrap();
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    assert_eq!(u32_at(&data, 20), 1, "Ethernet link type");
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= data.len() {
        let caplen = u32_at(&data, off + 8) as usize;
        let frame = &data[off + 16..off + 16 + caplen];
        off += 16 + caplen;
        if frame.len() < 14 + 20 + 8 || frame[12..14] != [0x08, 0x00] {
            continue;
        }
        let ip = &frame[14..];
        let ihl = usize::from(ip[0] & 0x0F) * 4;
        if ip[9] != 17 {
            continue;
        }
        let (h, payload) = udp::unwrap(&ip[ihl..]).unwrap();
        if h.dst_port != 4500 || udp::classify(payload) != Ok(udp::Kind::Esp) {
            continue;
        }
        out.push(Captured {
            from_a: ip[12..16] == [10, 77, 0, 1],
            esp: payload.to_vec(),
        });
    }
    out
}

#[test]
fn live() {
    let dir = std::env::temp_dir().join(format!("espi-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let a = Netns::new("a");
    let b = Netns::new("b");
    let (va, vb) = (
        format!("espi{}a", std::process::id()),
        format!("espi{}b", std::process::id()),
    );
    run(Command::new("ip").args([
        "link", "add", &va, "netns", &a.0, "type", "veth", "peer", "name", &vb, "netns", &b.0,
    ]));
    a.exec(&["ip", "addr", "add", &format!("{OUTER_A}/24"), "dev", &va]);
    b.exec(&["ip", "addr", "add", &format!("{OUTER_B}/24"), "dev", &vb]);
    a.exec(&["ip", "link", "set", &va, "up"]);
    b.exec(&["ip", "link", "set", &vb, "up"]);
    for i in 0..SUITES.len() {
        a.exec(&[
            "ip",
            "addr",
            "add",
            &format!("{}/32", dotted(inner_a(i))),
            "dev",
            "lo",
        ]);
        b.exec(&[
            "ip",
            "addr",
            "add",
            &format!("{}/32", dotted(inner_b(i))),
            "dev",
            "lo",
        ]);
    }

    let swan_b = start_charon(
        &b,
        &dir.join("b"),
        (OUTER_B, "b@esp.test", 2),
        (OUTER_A, "a@esp.test", 1),
    );
    let swan_a = start_charon(
        &a,
        &dir.join("a"),
        (OUTER_A, "a@esp.test", 1),
        (OUTER_B, "b@esp.test", 2),
    );

    let pcap = dir.join("esp.pcap");
    let tcpdump_log = dir.join("tcpdump.log");
    let log = fs::File::create(&tcpdump_log).unwrap();
    let tcpdump = Proc(
        a.cmd(&[
            "tcpdump",
            "-n",
            "-U",
            "-i",
            &va,
            "-w",
            pcap.to_str().unwrap(),
            "udp",
            "port",
            "4500",
        ])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("spawn tcpdump"),
    );
    assert!(wait_for(
        || fs::read_to_string(&tcpdump_log)
            .unwrap_or_default()
            .contains("listening on"),
        10
    ));

    for (name, _, _) in SUITES {
        swan_a.swanctl(&["--initiate", "--child", name]);
    }
    let children = parse_children(&swan_a.log());
    assert_eq!(children.len(), SUITES.len(), "{}", swan_a.log());

    for c in &children {
        let (src, dst) = (dotted(inner_a(c.index)), dotted(inner_b(c.index)));
        a.exec(&[
            "ping", "-n", "-c", "3", "-i", "0.2", "-W", "2", "-I", &src, &dst,
        ]);

        // Our own packet, sealed under the initiator's outbound SA, past
        // the sequence numbers strongSwan used, sent from another port.
        let keys = SaKeys::cbc(&c.enc_i, &c.integ_i);
        let mut tx =
            OutboundSa::new(c.spi_a_to_b, c.transform, keys, false, OsRandom::new()).unwrap();
        tx.advance_seq(1000).unwrap();
        let inner = echo_request(inner_a(c.index), inner_b(c.index), OUR_ICMP_ID, 1);
        let mut buf = vec![0u8; inner.len() + tx.overhead(inner.len())];
        let n = tx.seal(&inner, esp::NEXT_HEADER_IPV4, &mut buf).unwrap();
        a.exec(&[
            "python3",
            "-c",
            "import socket,sys; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); \
             s.bind((sys.argv[2], 0)); s.sendto(bytes.fromhex(sys.argv[1]), (sys.argv[3], 4500))",
            &hex(&buf[..n]),
            OUTER_A,
            OUTER_B,
        ]);
    }
    // Let the last replies arrive, then stop the capture.
    std::thread::sleep(Duration::from_millis(2000));
    drop(tcpdump);
    let packets = read_pcap(&pcap);
    if let Ok(path) = std::env::var("ESP_INTEROP_FIXTURE_OUT") {
        fs::write(path, write_fixture(&children, &packets)).unwrap();
    }
    let seen = open_all(&children, &packets);
    for c in &children {
        let s = seen.get(&c.index);
        let s = s.unwrap_or_else(|| panic!("{}: no packets", c.transform));
        assert_eq!(
            (s.requests_a_to_b, s.replies_b_to_a),
            (3, 3),
            "{}",
            c.transform
        );
        assert_eq!(
            (s.our_requests, s.our_replies),
            (1, 1),
            "{}: strongSwan did not answer our packet\n{}",
            c.transform,
            swan_b.log()
        );
    }
    drop(swan_a);
    drop(swan_b);
    let _ = fs::remove_dir_all(&dir);
}
