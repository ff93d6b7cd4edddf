//! Parse/render round trips over the documented examples and configs/.

use std::path::Path;
use vtysh::{load_config, render, Config};

fn parse_unvalidated(text: &str) -> Config {
    // Validation is tested separately: the CLI.md example has a short PSK.
    let mut cfg = Config::default();
    let mut s = vtysh::Session::new_config();
    for (i, line) in text.lines().enumerate() {
        match s.execute_unvalidated(line, &cfg) {
            Ok(vtysh::Outcome::Changed(c)) => cfg = *c,
            Ok(_) => {}
            Err(e) => panic!("line {}: {line:?}: {}", i + 1, e.message),
        }
        if s.mode() == vtysh::Mode::Exec {
            s = vtysh::Session::new_config();
        }
    }
    cfg
}

fn roundtrip(text: &str) -> Config {
    let a = parse_unvalidated(text);
    let r1 = render(&a);
    let b = parse_unvalidated(&r1);
    assert_eq!(a, b, "render(parse(x)) parses to a different model:\n{r1}");
    assert_eq!(r1, render(&b), "rendering is not stable");
    a
}

#[test]
fn cli_md_example_round_trips_and_only_the_short_psk_is_refused() {
    let text = include_str!("fixtures/cli-md-example.conf");
    let cfg = roundtrip(text);
    assert_eq!(cfg.hostname(), "hub1");
    assert_eq!(cfg.interfaces.len(), 1);
    assert_eq!(cfg.static_routes.len(), 3);
    let bgp = cfg.bgp.as_ref().unwrap();
    assert_eq!(bgp.asn, 65000);
    assert!(!bgp.ebgp_requires_policy);
    assert_eq!(bgp.ipv4_unicast.maximum_paths, Some(4));
    let errs = load_config(text, &Config::default()).unwrap_err();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0]
            .message
            .contains("pre-shared-key is 13 characters, shorter than 16"),
        "{}",
        errs[0]
    );
    // The same file with crypto allow-weak is accepted as a whole.
    let weak = format!("crypto allow-weak\n{text}");
    let cfg = load_config(&weak, &Config::default()).expect("valid under allow-weak");
    assert!(cfg.allow_weak);
}

#[test]
fn every_shipped_config_round_trips_and_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).expect("configs/ exists") {
        let p = e.unwrap().path();
        if p.extension().and_then(|x| x.to_str()) != Some("conf") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        roundtrip(&text);
        if let Err(errs) = load_config(&text, &Config::default()) {
            panic!(
                "{}: {}",
                p.display(),
                errs.iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
        n += 1;
    }
    assert!(n >= 1, "no configs found in {}", dir.display());
}
