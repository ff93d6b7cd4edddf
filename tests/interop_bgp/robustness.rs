//! Scenarios 9 and 10: graceful restart (helper) and RFC 7606
//! treat-as-withdraw of a malformed attribute.

use super::{CHANGE, ROUTES, UP};
use crate::inject::Injector;
use crate::support::bgp_diag::Diag;
use crate::support::bgp_json::{frr_neighbor, p_flag, paths_in, short, uptime_grew};
use crate::support::bgp_lab::{frr_head, frr_neighbor_lines, two_nodes, PEER4, RV4};
use crate::support::bgp_peers::Frr;
use crate::support::dut::{
    dut_established, dut_paths, dut_peer, wait_dut_established, wait_dut_gone, wait_dut_path, Dut,
    Kind,
};
use crate::support::wait_until;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// 9: graceful restart, rvpn as helper: FRR (`bgp graceful-restart`,
/// forwarding state preserved) is killed and restarted; rvpn keeps its
/// routes, marked stale, never losing one, and drops the stale route
/// FRR does not announce again once FRR's End-of-RIB is in.
pub fn graceful_restart_helper(kind: Kind) {
    let (na, nb) = two_nodes("frr");
    let dut = Dut::start(
        kind,
        &na,
        &format!(
            "router bgp 65000
 bgp router-id 10.0.0.1
 no bgp ebgp-requires-policy
 neighbor {PEER4} remote-as 65001
 address-family ipv4 unicast
  network 192.168.10.0/24
 exit-address-family
"
        ),
    );
    // Without preserve-fw-state FRR sends the F bit clear, and a helper
    // must then drop the stale routes at once (RFC 4724 4.2).
    let mut frr = Frr::start(
        &nb,
        &format!(
            "debug bgp graceful-restart\n{} bgp graceful-restart\n bgp graceful-restart \
             preserve-fw-state\n{} address-family ipv4 unicast\n  network 10.20.0.0/24\n \
             exit-address-family\n",
            frr_head(65001, "10.0.0.2"),
            frr_neighbor_lines(RV4, "65000")
        ),
    );
    let mut diag = Diag::new();
    diag.dut(&dut);
    diag.frr(&frr);
    wait_dut_established(&dut, PEER4, UP);
    frr.wait_established(RV4, UP);
    // A route only the running FRR has (not in its configuration file):
    // gone after the restart.
    frr.configure(&[
        "router bgp 65001",
        "address-family ipv4 unicast",
        "network 10.21.0.0/24",
    ]);
    wait_dut_path(&dut, "10.20.0.0/24", PEER4, ROUTES);
    wait_dut_path(&dut, "10.21.0.0/24", PEER4, ROUTES);
    let n = dut.show(&format!("show ip bgp neighbors {PEER4} json"));
    assert_eq!(
        n[PEER4]["neighborCapabilities"]["gracefulRestart"],
        "advertisedAndReceived",
        "{}",
        short(&n[PEER4]["neighborCapabilities"])
    );
    let f = frr_neighbor(&frr, RV4);
    assert_eq!(
        f["neighborCapabilities"]["gracefulRestart"],
        "advertisedAndReceived",
        "FRR's view of rvpn's GR capability: {}",
        short(&f["neighborCapabilities"])
    );
    let uptime_before = dut_peer(&dut, PEER4).expect("peer")["peerUptimeMsec"].clone();
    let t_uptime = Instant::now();

    // (ms since start, 10.20 present, 10.20 stale, 10.21 present), or
    // the show's error.
    type Sample = (u128, Result<(bool, bool, bool), String>);
    let samples: Mutex<Vec<Sample>> = Mutex::new(Vec::new());
    let stop = AtomicBool::new(false);
    struct StopOnDrop<'a>(&'a AtomicBool);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let t0 = Instant::now();
    let stale_seen = || {
        samples
            .lock()
            .expect("samples")
            .iter()
            .any(|(_, r)| matches!(r, Ok((true, true, _))))
    };
    std::thread::scope(|s| {
        s.spawn(|| {
            // Bounded: at most 120 s of 100 ms polls.
            for _ in 0..1200 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let r = dut.try_show("show ip bgp json").map(|t| {
                    let p20 = paths_in(&t, "10.20.0.0/24");
                    let p21 = paths_in(&t, "10.21.0.0/24");
                    (
                        !p20.is_empty(),
                        p20.iter().any(|p| p_flag(p, "stale")),
                        !p21.is_empty(),
                    )
                });
                samples
                    .lock()
                    .expect("samples")
                    .push((t0.elapsed().as_millis(), r));
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let _stop = StopOnDrop(&stop);
        let pid_before = frr.bgpd_pid();
        frr.kill();
        wait_until("rvpn marks FRR's routes stale", CHANGE, || {
            if stale_seen() {
                Ok(())
            } else {
                Err(format!("{:?}", samples.lock().expect("samples").last()))
            }
        });
        std::thread::sleep(Duration::from_secs(1));
        frr.restart();
        assert_ne!(frr.bgpd_pid(), pid_before, "bgpd restarted");
        frr.wait_established(RV4, UP);
        wait_until(
            "stale route refreshed, leftover removed",
            ROUTES,
            || match samples.lock().expect("samples").last() {
                Some((_, Ok((true, false, false)))) => Ok(()),
                other => Err(format!("{other:?}")),
            },
        );
    });

    let samples = samples.into_inner().expect("samples");
    // The timeline, runs of equal samples, for the report.
    let mut runs: Vec<(u128, u128, String)> = Vec::new();
    for (t, r) in &samples {
        let s = match r {
            Ok((p, st, p21)) => format!("10.20 present={p} stale={st}, 10.21 present={p21}"),
            Err(e) => format!("show failed: {e}"),
        };
        match runs.last_mut() {
            Some(last) if last.2 == s => last.1 = *t,
            _ => runs.push((*t, *t, s)),
        }
    }
    let timeline: String = runs
        .iter()
        .map(|(a, b, s)| format!("  {a:>6}..{b:>6} ms: {s}\n"))
        .collect();
    eprintln!("graceful restart, rvpn's view every 100 ms:\n{timeline}");
    assert!(
        samples.iter().all(|(_, r)| matches!(r, Ok((true, _, _)))),
        "10.20.0.0/24 went missing (or the show failed) during the restart:\n{timeline}"
    );
    let uptime_after =
        dut_established(&dut, PEER4).expect("Established again")["peerUptimeMsec"].clone();
    assert!(
        !uptime_grew(&uptime_before, &uptime_after, t_uptime),
        "a new session: peerUptimeMsec {uptime_before} {:?} ago, {uptime_after} now",
        t_uptime.elapsed()
    );
}

/// 10: RFC 7606: an UPDATE whose MULTI_EXIT_DISC has length 2, for a
/// prefix announced before, withdraws that prefix; the session stays.
pub fn malformed_med_treat_as_withdraw(kind: Kind) {
    let (na, nb) = two_nodes("inj");
    let dut = Dut::start(
        kind,
        &na,
        &format!(
            "router bgp 65000
 bgp router-id 10.0.0.1
 no bgp ebgp-requires-policy
 neighbor {PEER4} remote-as 65010
 neighbor {PEER4} timers 1 3
"
        ),
    );
    let mut inj = Injector::start(
        &nb,
        &[
            "--peer",
            RV4,
            "--local-as",
            "65010",
            "--peer-as",
            "65000",
            "--router-id",
            PEER4,
            "--count",
            "3",
            "--base",
            "10.200.0.0",
            "--prefix-len",
            "24",
            "--malformed-med",
            "10.200.1.0/24",
            "--malformed-after",
            "8",
        ],
    );
    let mut diag = Diag::new();
    diag.dut(&dut);
    diag.file("injector output", &inj.log);

    inj.wait_line("sent_all_at_ms", UP);
    wait_dut_established(&dut, PEER4, UP);
    for p in ["10.200.0.0/24", "10.200.1.0/24", "10.200.2.0/24"] {
        wait_dut_path(&dut, p, PEER4, ROUTES);
    }
    assert!(
        inj.line("malformed_sent_at_ms").is_none(),
        "the malformed UPDATE went out before the check (slow machine?): raise --malformed-after"
    );
    let before = dut_established(&dut, PEER4).expect("peer");
    let t_before = Instant::now();
    let m = inj.wait_line("malformed_sent_at_ms", Duration::from_secs(15));
    eprintln!("injector: {m}");
    wait_dut_gone(&dut, "10.200.1.0/24", CHANGE);
    for p in ["10.200.0.0/24", "10.200.2.0/24"] {
        assert!(
            !dut_paths(&dut, p).expect("show").is_empty(),
            "{p} lost too"
        );
    }
    // Still the same session, and it keeps receiving (KEEPALIVEs every
    // second: hold time 3).
    let rcvd = before["msgRcvd"].as_u64().unwrap_or(0);
    let after = wait_until("msgRcvd keeps growing", CHANGE, || {
        let p = dut_established(&dut, PEER4)?;
        if p["msgRcvd"].as_u64().unwrap_or(0) >= rcvd + 3 {
            Ok(p)
        } else {
            Err(format!("msgRcvd {rcvd} before: {p}"))
        }
    });
    assert!(
        uptime_grew(
            &before["peerUptimeMsec"],
            &after["peerUptimeMsec"],
            t_before
        ),
        "the session was reset: {before} -> {after}"
    );
    assert_eq!(after["pfxRcd"], 2, "{after}");
    assert!(
        inj.proc.exited().is_none(),
        "the injector's session ended:\n{}",
        inj.text()
    );
}
