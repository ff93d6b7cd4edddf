//! A task that dies is never silent: rvpnd logs which task and why, and
//! exits with status 1 within seconds (so the service manager restarts
//! it), instead of serving a shell over a dead IKE, BGP or data plane.
//! A clean stop (SIGTERM, SIGINT) still exits 0.
//!
//! The panics come from the test hook of debug builds:
//! `RVPND_TEST_PANIC=<task>` makes that task panic on SIGUSR2 (release
//! builds have no such code, and neither does this file then). Each case
//! runs a fresh rvpnd in a network namespace of its own. Needs root.

#![cfg(debug_assertions)]

mod support;

use std::time::{Duration, Instant};
use support::netns::Netns;
use support::rvpn::{Rvpnd, RvpndOpts};

/// The lab's spoke1 (configs/spoke1.conf) without its hubs: two tunnels
/// that IKE keeps trying, BGP neighbors with BFD over them, so IKE, BGP,
/// BFD, the RIB and the data plane all have something to do.
const CONFIG: &str = include_str!("../configs/spoke1.conf");

fn start(ns: &Netns, tag: &str, env: Vec<(String, String)>) -> Rvpnd {
    // spoke1's tunnel sources.
    ns.add_lo_addr("172.16.1.2/32");
    ns.add_lo_addr("172.17.1.2/32");
    Rvpnd::start_with(
        ns,
        CONFIG,
        RvpndOpts {
            tag: tag.into(),
            args: vec!["--dataplane".into(), "userspace".into()],
            env,
            rust_log: "info".into(),
        },
    )
}

/// Start rvpnd with `task` armed, check it serves the shell, make `task`
/// panic, and check rvpnd exits 1 within a few seconds, naming the task.
fn a_dying_task_stops_rvpnd(task: &str) {
    let ns = Netns::new("sv");
    let mut r = start(
        &ns,
        &format!("sv-{task}"),
        vec![("RVPND_TEST_PANIC".into(), task.into())],
    );
    assert!(
        r.wait_log(
            &format!("test hook: task {task} panics on SIGUSR2"),
            Duration::from_secs(5)
        ),
        "the hook is not armed for {task}:\n{}",
        r.log()
    );
    // Up and serving, with every task running.
    let v = r.vtysh_ok(&["show version"]);
    assert!(v.contains("userspace"), "{v}");
    r.vtysh_ok(&[
        "show crypto session",
        "show ip bgp summary",
        "show ip route",
    ]);
    assert!(r.running());

    let t = Instant::now();
    r.signal(libc::SIGUSR2);
    let st = r.wait_exit(Duration::from_secs(10));
    let took = t.elapsed();
    let log = r.log();
    let st = st.unwrap_or_else(|| panic!("rvpnd still runs 10 s after {task} panicked:\n{log}"));
    assert_eq!(
        st.code(),
        Some(1),
        "exit status after {task} panicked:\n{log}"
    );
    assert!(
        took < Duration::from_secs(5),
        "rvpnd took {took:?} to exit after {task} panicked:\n{log}"
    );
    for needle in [
        // The panic hook: the message, through the log.
        "panicked at src/supervise.rs".to_string(),
        // The supervisor: which task, and that rvpnd stops for it.
        format!("task {task} panicked: test hook: RVPND_TEST_PANIC={task} and SIGUSR2"),
        format!("rvpnd cannot go on without task {task}"),
    ] {
        assert!(log.contains(&needle), "no {needle:?} in the log:\n{log}");
    }
    assert!(log.contains(" ERROR "), "logged at error level:\n{log}");
    // The stop after it was orderly and bounded: the socket is gone.
    assert!(!r.socket().exists(), "the socket is left behind");
    support::figure(&format!(
        "supervise: {task} panicked, rvpnd exited 1 after {took:?}"
    ));
}

#[test]
fn ike_panics() {
    a_dying_task_stops_rvpnd("ike");
}

#[test]
fn bgp_panics() {
    a_dying_task_stops_rvpnd("bgp");
}

#[test]
fn dataplane_panics() {
    a_dying_task_stops_rvpnd("dataplane");
}

#[test]
fn bfd_panics() {
    a_dying_task_stops_rvpnd("bfd");
}

#[test]
fn rib_thread_panics() {
    a_dying_task_stops_rvpnd("rib");
}

/// SIGTERM and SIGINT stop rvpnd cleanly: status 0, nothing reported as
/// dead, even though every task ends on the way.
#[test]
fn a_clean_stop_exits_0() {
    for (sig, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT")] {
        let ns = Netns::new("sv");
        let mut r = start(&ns, "sv-stop", Vec::new());
        r.vtysh_ok(&["show version"]);
        r.signal(sig);
        let st = r.wait_exit(Duration::from_secs(10));
        let log = r.log();
        let st = st.unwrap_or_else(|| panic!("rvpnd still runs 10 s after {name}:\n{log}"));
        assert_eq!(st.code(), Some(0), "exit status after {name}:\n{log}");
        assert!(log.contains(&format!("{name}: shutting down")), "{log}");
        for bad in ["panicked", "cannot go on", " ERROR "] {
            assert!(!log.contains(bad), "{bad:?} after {name}:\n{log}");
        }
        assert!(!r.socket().exists(), "the socket is left behind");
    }
}
