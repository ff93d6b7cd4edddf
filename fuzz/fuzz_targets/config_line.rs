//! Config lines in every mode, and whole files: never a panic; a refused
//! line changes nothing; what is accepted stays valid and round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vtysh::{load_config, render, Config, Mode, Outcome, Session};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut running = Config::default();
    let mut s = Session::new();
    let _ = s.execute("configure terminal", &running);
    for line in text.lines().take(64) {
        let before = running.clone();
        let mode = s.mode();
        match s.execute(line, &running) {
            Ok(Outcome::Changed(c)) => {
                assert!(vtysh::validate(&c).is_empty());
                running = *c;
            }
            Ok(_) => {}
            Err(_) => {
                assert_eq!(running, before);
                assert_eq!(s.mode(), mode);
            }
        }
        let _ = vtysh::help(s.mode(), line);
        let _ = vtysh::complete(s.mode(), line);
        if s.mode() == Mode::Exec {
            let _ = s.execute("configure terminal", &running);
        }
    }
    let text = render(&running);
    let back = load_config(&text, &Config::default()).expect("rendered config loads");
    assert_eq!(back, running);
});
