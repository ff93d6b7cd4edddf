//! The interactive shell driven through a pseudo-terminal, against a real
//! rvpnd: prompts, `?` help, Tab completion, abbreviations, carets,
//! Ctrl-Z / Ctrl-D / Ctrl-C, and history across sessions.

mod shell_support;

use rexpect::reader::Options;
use rexpect::session::{spawn_with_options, PtySession};
use shell_support::Daemon;
use std::path::Path;

/// How long any single expectation may wait.
const TIMEOUT_MS: u64 = 5000;

/// Start an interactive vtysh on a pty, with its own history file.
fn shell(d: &Daemon, history: &Path) -> PtySession {
    let mut cmd = d.vtysh();
    cmd.env("RVPN_HISTORY", history)
        .env("TERM", "xterm")
        .env_remove("NO_COLOR");
    let options = Options::new()
        .timeout_ms(Some(TIMEOUT_MS))
        .strip_ansi_escape_codes(true);
    spawn_with_options(cmd, options).expect("start vtysh on a pty")
}

/// Expect a string, with a readable failure.
fn expect(p: &mut PtySession, what: &str) -> String {
    p.exp_string(what)
        .unwrap_or_else(|e| panic!("expected {what:?}: {e}"))
}

/// Expect a regex, with a readable failure; returns the text before it and the match.
fn expect_re(p: &mut PtySession, re: &str) -> (String, String) {
    p.exp_regex(re)
        .unwrap_or_else(|e| panic!("expected /{re}/: {e}"))
}

fn send(p: &mut PtySession, keys: &str) {
    p.send(keys).expect("type into the pty");
    p.flush().expect("flush the pty");
}

fn ctrl(p: &mut PtySession, c: char) {
    p.send_control(c).expect("send a control key");
}

fn expect_exit(p: &mut PtySession) {
    p.exp_eof()
        .unwrap_or_else(|e| panic!("expected vtysh to exit: {e}"));
}

#[test]
fn interactive_session() {
    let d = Daemon::start();
    let history = d.path("history");
    let mut p = shell(&d, &history);
    expect(&mut p, "X# ");

    // `?` lists what may come next, without inserting `?`.
    send(&mut p, "show ?");
    expect_re(&mut p, r"\n +running-config +\S");
    expect_re(&mut p, r"\n +version +\S");
    expect(&mut p, "X# show ");
    // An abbreviation completes the same line: `show ` + `run`.
    send(&mut p, "run\r");
    expect(&mut p, "interface Tunnel1");
    expect(&mut p, "X# ");

    // `?` in the middle of a word: only what that word may start.
    send(&mut p, "sh?");
    let (before, _) = expect_re(&mut p, r"\n +show +\S");
    assert!(
        !before.contains("configure"),
        "help for `sh` lists only `show`: {before:?}"
    );
    expect(&mut p, "X# sh");
    ctrl(&mut p, 'c'); // Ctrl-C clears the line
    expect(&mut p, "X# ");

    // Tab completes a unique keyword and adds a space.
    send(&mut p, "conf\t");
    expect(&mut p, "configure ");
    send(&mut p, "terminal\r");
    expect(&mut p, "X(config)# ");

    // `?` for a placeholder, then finish the word.
    send(&mut p, "int Tun?");
    expect(&mut p, "IFNAME");
    expect(&mut p, "X(config)# int Tun");
    // `?` after a complete name: the command may end here.
    send(&mut p, "nel9 ?");
    expect(&mut p, "<cr>");
    expect(&mut p, "X(config)# int Tunnel9 ");
    send(&mut p, "\r");
    expect(&mut p, "X(config-if)# ");

    // After `do`, help and completion follow the exec grammar.
    send(&mut p, "do sh?");
    expect_re(&mut p, r"\n +show +\S");
    expect(&mut p, "X(config-if)# do sh");
    ctrl(&mut p, 'c');
    expect(&mut p, "X(config-if)# ");

    // `?` after a complete word, in a sub-mode.
    send(&mut p, "tunnel ?");
    expect_re(&mut p, r"\n +destination +\S");
    expect_re(&mut p, r"\n +source +\S");
    expect(&mut p, "X(config-if)# tunnel ");
    send(&mut p, "destination 198.51.100.9\r");
    expect(&mut p, "X(config-if)# ");

    // An invalid word: caret under it (prompt counted), the reason, nothing changed.
    send(&mut p, "ip adress 169.254.90.1/30\r");
    // "X(config-if)# " is 14 columns, "ip " 3 more.
    expect_re(&mut p, r"\n {17}\^\r?\n%");
    expect(&mut p, "X(config-if)# ");
    send(&mut p, "ip address 169.254.90.1/30\r");
    expect(&mut p, "X(config-if)# ");

    // Ctrl-Z returns to exec.
    ctrl(&mut p, 'z');
    expect(&mut p, "X# ");

    // `end` from config returns to exec; `do` runs exec commands.
    send(&mut p, "conf t\r");
    expect(&mut p, "X(config)# ");
    send(&mut p, "do sh run\r");
    expect(&mut p, "interface Tunnel9");
    expect(&mut p, "X(config)# ");
    send(&mut p, "end\r");
    expect(&mut p, "X# ");

    // The configuration typed above is running.
    send(&mut p, "sh run\r");
    expect(&mut p, "interface Tunnel9");
    expect(&mut p, "ip address 169.254.90.1/30");
    expect(&mut p, "X# ");

    send(&mut p, "exit\r");
    expect_exit(&mut p);

    let saved = std::fs::read_to_string(&history).expect("the history file was written");
    assert!(saved.contains("conf t"), "{saved}");
    assert!(saved.contains("ip address 169.254.90.1/30"), "{saved}");
    assert!(saved.contains("sh run"), "{saved}");
    assert!(
        !saved.contains('?'),
        "help requests are not history: {saved}"
    );
    assert!(
        !saved.contains("int Tun\n"),
        "help requests are not history: {saved}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&history)
        .expect("history metadata")
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "history is private: {mode:o}");
}

#[test]
fn history_is_kept_across_sessions() {
    let d = Daemon::start();
    let history = d.path("history");
    let mut p = shell(&d, &history);
    expect(&mut p, "X# ");
    send(&mut p, "show running-config\r");
    expect(&mut p, "hostname X");
    expect(&mut p, "X# ");
    ctrl(&mut p, 'd'); // Ctrl-D on an empty line in exec ends the shell
    expect_exit(&mut p);

    let mut p = shell(&d, &history);
    expect(&mut p, "X# ");
    send(&mut p, "\x1b[A"); // up arrow
    expect(&mut p, "show running-config");
    send(&mut p, "\r");
    expect(&mut p, "hostname X");
    expect(&mut p, "X# ");
    send(&mut p, "exit\r");
    expect_exit(&mut p);
}

#[test]
fn ctrl_d_in_config_is_end_and_ambiguity_is_explained() {
    let d = Daemon::start();
    let history = d.path("history");
    let mut p = shell(&d, &history);
    expect(&mut p, "X# ");
    send(&mut p, "conf t\r");
    expect(&mut p, "X(config)# ");
    send(&mut p, "interface Tunnel1\r");
    expect(&mut p, "X(config-if)# ");
    ctrl(&mut p, 'd');
    expect(&mut p, "X# ");

    // Tab with several candidates lists them and leaves the line alone.
    send(&mut p, "show \t");
    expect(&mut p, "running-config");
    expect(&mut p, "X# show ");
    ctrl(&mut p, 'c');
    expect(&mut p, "X# ");

    // An unknown first word: caret at column 0 after the prompt.
    send(&mut p, "bogus\r");
    expect_re(&mut p, r"\n {3}\^\r?\n%");
    expect(&mut p, "X# ");

    // `?` on an invalid line shows the error instead of a list.
    send(&mut p, "show bogus ?");
    expect_re(&mut p, r"\n {8}\^\r?\n%");
    expect(&mut p, "X# show bogus ");
    ctrl(&mut p, 'c');
    expect(&mut p, "X# ");

    ctrl(&mut p, 'd');
    expect_exit(&mut p);
}

#[test]
fn lost_daemon_is_reported() {
    let mut d = Daemon::start();
    let history = d.path("history");
    let mut p = shell(&d, &history);
    expect(&mut p, "X# ");
    d.stop();
    send(&mut p, "show version\r");
    expect(&mut p, "Lost connection to rvpnd");
    expect_exit(&mut p);
}
