//! Issue 2's "done when", as a user does it: start rvpnd on
//! configs/hub1.conf, open vtysh, `conf t`, add a tunnel using
//! abbreviations and `?`, see it in `sh run`, `write mem`, restart rvpnd,
//! and find the tunnel still there.

mod shell_support;

use rexpect::reader::Options;
use rexpect::session::spawn_with_options;
use shell_support::Daemon;

#[test]
fn add_a_tunnel_interactively_save_restart_and_find_it() {
    let hub1 =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/hub1.conf"))
            .expect("configs/hub1.conf");
    let mut d = Daemon::start_with(&hub1);
    let mut cmd = d.vtysh();
    cmd.env("RVPN_HISTORY", d.path("history"))
        .env("TERM", "xterm");
    let opts = Options::new()
        .timeout_ms(Some(5000))
        .strip_ansi_escape_codes(true);
    let mut p = spawn_with_options(cmd, opts).expect("vtysh on a pty");
    let step = |p: &mut rexpect::session::PtySession, keys: &str, want: &str| {
        p.send(keys).unwrap();
        p.flush().unwrap();
        p.exp_string(want)
            .unwrap_or_else(|e| panic!("after {keys:?} expected {want:?}: {e}"));
    };
    step(&mut p, "", "hub1# ");
    step(&mut p, "conf t\r", "hub1(config)# ");
    step(&mut p, "int Tunnel3\r", "hub1(config-if)# ");
    // `?` shows what may follow without inserting anything.
    step(&mut p, "tun ?", "protection");
    step(&mut p, "prot ?", "ipsec");
    step(&mut p, "ips prof VTI\r", "hub1(config-if)# ");
    step(&mut p, "ip add 169.254.13.1/30\r", "hub1(config-if)# ");
    step(&mut p, "tun sou 172.16.3.1\r", "hub1(config-if)# ");
    step(&mut p, "tun dest 172.16.3.2\r", "hub1(config-if)# ");
    step(&mut p, "desc to spoke3\r", "hub1(config-if)# ");
    step(&mut p, "end\r", "hub1# ");
    step(&mut p, "sh run\r", "interface Tunnel3\r\n description to spoke3\r\n ip address 169.254.13.1/30\r\n tunnel source 172.16.3.1\r\n tunnel destination 172.16.3.2\r\n tunnel protection ipsec profile VTI\r\n");
    step(&mut p, "wr mem\r", "[OK]");
    step(&mut p, "exit\r", "");
    p.exp_eof().expect("vtysh exits");

    d.restart();
    let out = d.run_c(&["show running-config", "show interface brief"]);
    assert!(
        out.stdout
            .contains("interface Tunnel3\n description to spoke3\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("Tunnel3    169.254.13.1/30"),
        "{}",
        out.stdout
    );
    // The saved file kept the other tunnels and the keys.
    let saved = std::fs::read_to_string(&d.config).unwrap();
    let psk_line = hub1
        .lines()
        .find(|l| l.trim().starts_with("pre-shared-key 0 "))
        .expect("hub1.conf has a key");
    assert!(
        saved.contains("interface Tunnel1") && saved.contains(psk_line.trim()),
        "{saved}"
    );
}

/// Operators paste config blocks; a terminal wraps a paste in bracketed
/// paste markers, and every pasted line must run, in order.
#[test]
fn pasted_config_block_runs_line_by_line() {
    let d = Daemon::start();
    let mut cmd = d.vtysh();
    cmd.env("RVPN_HISTORY", d.path("history"))
        .env("TERM", "xterm");
    let opts = Options::new()
        .timeout_ms(Some(5000))
        .strip_ansi_escape_codes(true);
    let mut p = spawn_with_options(cmd, opts).expect("vtysh on a pty");
    p.exp_string("X# ").unwrap();
    p.send("\x1b[200~conf t\rinterface Tunnel8\r ip address 169.254.80.1/30\r bogus line\r description pasted\rend\r\x1b[201~").unwrap();
    p.send("\r").unwrap();
    p.flush().unwrap();
    p.exp_string("% Invalid input detected")
        .expect("the bad pasted line is refused");
    p.exp_string("X(config-if)# end").unwrap();
    p.exp_string("X# ").unwrap();
    p.send("show running-config\r").unwrap();
    p.flush().unwrap();
    p.exp_string("interface Tunnel8\r\n description pasted\r\n ip address 169.254.80.1/30\r\n")
        .expect("the good pasted lines ran");
}
