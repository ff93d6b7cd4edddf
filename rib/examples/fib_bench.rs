//! FIB install benchmark: installs N IPv4 /24s with K-way ECMP through
//! `rib::fib::Fib` in the current network namespace and prints how long
//! `Fib::apply` took. It creates nothing else: run it inside a namespace
//! that has the next hops (benches/fib-install.sh does).
//!
//!   fib_bench [--prefixes N] [--ecmp K] [--mode nhobj|multipath|auto]
//!             [--nexthop GW@DEV]... [--base A.B.C.D] [--batch M]
//!
//! Defaults: 100000 prefixes from 32.0.0.0, K=2, mode nhobj, next hop i
//! (1-based) 169.254.(10+i).1 on interface fb<i>; `--batch M` hands the
//! changes to `apply` M at a time (default: all at once).
//! Prints one line of `key=value`s; exits 1 if any route was refused.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use ipnetwork::IpNetwork;
use rib::fib::{Fib, Mode};
use rib::{FibChange, Resolved, Selected, Source};

fn usage(e: &str) -> ! {
    eprintln!("fib_bench: {e}");
    eprintln!("usage: fib_bench [--prefixes N] [--ecmp K] [--mode nhobj|multipath|auto] [--nexthop GW@DEV]... [--base A.B.C.D] [--batch M]");
    std::process::exit(2)
}

fn main() {
    let mut n: u32 = 100_000;
    let mut k: usize = 2;
    let mut mode = Mode::NexthopObjects;
    let mut hops: Vec<Resolved> = Vec::new();
    let mut base = Ipv4Addr::new(32, 0, 0, 0);
    let mut batch: usize = 0;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--prefixes" => n = val().parse().unwrap_or_else(|_| usage("bad --prefixes")),
            "--ecmp" => k = val().parse().unwrap_or_else(|_| usage("bad --ecmp")),
            "--batch" => batch = val().parse().unwrap_or_else(|_| usage("bad --batch")),
            "--base" => base = val().parse().unwrap_or_else(|_| usage("bad --base")),
            "--mode" => {
                mode = match val().as_str() {
                    "nhobj" => Mode::NexthopObjects,
                    "multipath" => Mode::Multipath,
                    "auto" => Mode::Auto,
                    m => usage(&format!("unknown mode {m}")),
                }
            }
            "--nexthop" => {
                let v = val();
                let (gw, dev) = v
                    .split_once('@')
                    .unwrap_or_else(|| usage("--nexthop GW@DEV"));
                hops.push(Resolved::Via {
                    gateway: Some(gw.parse().unwrap_or_else(|_| usage("bad gateway"))),
                    ifname: dev.into(),
                });
            }
            "-h" | "--help" => usage("help"),
            _ => usage(&format!("unknown argument {a}")),
        }
    }
    if hops.is_empty() {
        for i in 1..=k {
            hops.push(Resolved::Via {
                gateway: Some(IpAddr::V4(Ipv4Addr::new(169, 254, 10 + i as u8, 1))),
                ifname: format!("fb{i}"),
            });
        }
    }
    hops.sort();
    let t0 = Instant::now();
    let sel = Selected {
        source: Source::Bgp,
        distance: 20,
        metric: 0,
        nexthops: hops.into(),
    };
    let b = u32::from(base);
    let changes: Vec<FibChange> = (0..n)
        .map(|i| {
            let a = Ipv4Addr::from(b.wrapping_add(i << 8));
            let p = IpNetwork::new(IpAddr::V4(a), 24).unwrap_or_else(|e| usage(&e.to_string()));
            FibChange::Set(p, sel.clone())
        })
        .collect();
    let build = t0.elapsed();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| usage(&e.to_string()));
    let (apply, failed, used, objects, fib) = rt.block_on(async {
        let mut fib = Fib::open_with(mode).unwrap_or_else(|e| usage(&format!("open: {e}")));
        let t1 = Instant::now();
        let mut failed = Vec::new();
        let step = if batch == 0 {
            changes.len().max(1)
        } else {
            batch
        };
        for c in changes.chunks(step) {
            failed.extend(fib.apply(c).await);
        }
        let (mode, objects) = (fib.mode(), fib.nexthop_objects());
        (t1.elapsed(), failed, mode, objects, fib)
    });
    std::mem::forget(fib);
    for (p, e) in failed.iter().take(5) {
        eprintln!("refused: {p}: {e}");
    }
    let secs = apply.as_secs_f64();
    println!(
        "mode={} prefixes={n} ecmp={} build_ms={:.1} apply_ms={:.1} routes_per_s={:.0} refused={} nexthop_objects={objects}",
        if used == Mode::Multipath { "multipath" } else { "nhobj" },
        sel.nexthops.len(),
        build.as_secs_f64() * 1e3,
        secs * 1e3,
        f64::from(n) / secs.max(1e-9),
        failed.len(),
    );
    // Exit without freeing the million changes and the writer's tables
    // one by one: the process is done, and freeing them is not part of
    // installing.
    std::process::exit(if failed.is_empty() { 0 } else { 1 });
}
