//! `vtysh -c` and `vtysh -f` against a real rvpnd.

mod shell_support;

use shell_support::{write_file, Daemon, Run};

#[test]
fn show_version_exits_zero() {
    let d = Daemon::start();
    let r = d.run_c(&["show version"]);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(
        !r.stdout.trim().is_empty(),
        "show version printed nothing: {r}"
    );
    assert!(r.stderr.is_empty(), "{r}");
}

#[test]
fn commands_run_in_order_on_one_connection() {
    let d = Daemon::start();
    let r = d.run_c(&[
        "conf t",
        "interface Tunnel7",
        "ip address 169.254.70.1/30",
        "end",
        "show running-config",
    ]);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(r.stdout.contains("interface Tunnel7"), "{r}");
    assert!(r.stdout.contains("ip address 169.254.70.1/30"), "{r}");
    // The change is visible from a new connection too.
    let again = d.run_c(&["show running-config"]);
    assert!(again.stdout.contains("interface Tunnel7"), "{again}");
}

#[test]
fn one_argument_may_hold_several_lines() {
    let d = Daemon::start();
    let r = d.run_c(&["configure terminal\nhostname Y\nend", "show running-config"]);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(r.stdout.contains("hostname Y"), "{r}");
}

#[test]
fn abbreviations_are_accepted() {
    let d = Daemon::start();
    let r = d.run_c(&["sh run"]);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(r.stdout.contains("interface Tunnel1"), "{r}");
}

#[test]
fn invalid_command_exits_one_with_caret_and_stops() {
    let d = Daemon::start();
    let r = d.run_c(&["show bogus", "conf t", "hostname Z"]);
    assert_eq!(r.code, Some(1), "{r}");
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert!(lines.len() >= 3, "{r}");
    assert_eq!(lines[0], "show bogus", "{r}");
    assert_eq!(lines[1], "     ^", "caret under `bogus`: {r}");
    assert!(lines[2].starts_with('%'), "{r}");
    // The commands after the refused one did not run.
    let after = d.run_c(&["show running-config"]);
    assert!(after.stdout.contains("hostname X"), "{after}");
    assert!(!after.stdout.contains("hostname Z"), "{after}");
}

#[test]
fn refused_config_line_changes_nothing() {
    let d = Daemon::start();
    let r = d.run_c(&["conf t", "interface Tunnel1", "ip address 999.1.1.1/30"]);
    assert_eq!(r.code, Some(1), "{r}");
    assert!(r.stderr.contains('^'), "{r}");
    let after = d.run_c(&["show running-config"]);
    assert!(
        after.stdout.contains("ip address 169.254.10.1/30"),
        "{after}"
    );
    assert!(!after.stdout.contains("999.1.1.1"), "{after}");
}

#[test]
fn unreachable_daemon_exits_two() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let sock = dir.path().join("nobody-listens");
    let mut cmd = std::process::Command::new(shell_support::vtysh_bin());
    cmd.arg("--socket").arg(&sock).arg("-c").arg("show version");
    let r = Run::of(cmd);
    assert_eq!(r.code, Some(2), "{r}");
    assert!(r.stderr.contains("Cannot connect to rvpnd at"), "{r}");
    assert!(r.stderr.contains(&sock.display().to_string()), "{r}");
}

#[test]
fn rvpn_socket_variable_is_used() {
    let d = Daemon::start();
    let mut cmd = std::process::Command::new(shell_support::vtysh_bin());
    cmd.env("RVPN_SOCKET", &d.socket)
        .arg("-c")
        .arg("show version");
    let r = Run::of(cmd);
    assert_eq!(r.code, Some(0), "{r}");
    // --socket wins over RVPN_SOCKET.
    let mut cmd = std::process::Command::new(shell_support::vtysh_bin());
    cmd.env("RVPN_SOCKET", d.path("elsewhere"))
        .arg("--socket")
        .arg(&d.socket)
        .arg("-c")
        .arg("show version");
    let r = Run::of(cmd);
    assert_eq!(r.code, Some(0), "{r}");
}

#[test]
fn interactive_mode_unreachable_exits_two() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut cmd = std::process::Command::new(shell_support::vtysh_bin());
    cmd.arg("--socket").arg(dir.path().join("none"));
    let r = Run::of(cmd);
    assert_eq!(r.code, Some(2), "{r}");
    assert!(r.stderr.contains("Cannot connect to rvpnd at"), "{r}");
}

#[test]
fn file_is_applied() {
    let d = Daemon::start();
    let file = write_file(
        d.dir.path(),
        "add.conf",
        "interface Tunnel8\n ip address 169.254.80.1/30\n tunnel source 192.0.2.1\n tunnel destination 198.51.100.8\n!\n",
    );
    let mut cmd = d.vtysh();
    cmd.arg("-f").arg(&file);
    let r = Run::of(cmd);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(r.stdout.contains('%'), "a confirmation: {r}");
    let after = d.run_c(&["show running-config"]);
    assert!(after.stdout.contains("interface Tunnel8"), "{after}");
    assert!(
        after.stdout.contains("interface Tunnel1"),
        "applied on top of the running config: {after}"
    );
}

#[test]
fn bad_file_changes_nothing() {
    let d = Daemon::start();
    let before = d.run_c(&["show running-config"]);
    let file = write_file(
        d.dir.path(),
        "bad.conf",
        "hostname CHANGED\ninterface Tunnel9\n ip address 169.254.90.1/30\n bogus line here\n",
    );
    let mut cmd = d.vtysh();
    cmd.arg("-f").arg(&file);
    let r = Run::of(cmd);
    assert_eq!(r.code, Some(1), "{r}");
    assert!(
        r.stderr.contains("bad.conf"),
        "the error names the file: {r}"
    );
    let after = d.run_c(&["show running-config"]);
    assert_eq!(before.stdout, after.stdout, "nothing changed");
}

#[test]
fn missing_file_is_reported() {
    let d = Daemon::start();
    let mut cmd = d.vtysh();
    cmd.arg("-f").arg(d.path("does-not-exist.conf"));
    let r = Run::of(cmd);
    assert_eq!(r.code, Some(1), "{r}");
    assert!(r.stderr.contains("Cannot read"), "{r}");
}

#[test]
fn help_option_works_without_daemon() {
    let mut cmd = std::process::Command::new(shell_support::vtysh_bin());
    cmd.arg("--help");
    let r = Run::of(cmd);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(r.stdout.contains("--socket"), "{r}");
    assert!(r.stdout.contains("-c"), "{r}");
}
