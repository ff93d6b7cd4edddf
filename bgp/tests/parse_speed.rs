//! The parse speed check of `examples/parse_speed.rs` as an ignored test:
//! `cargo test --release --test parse_speed -- --ignored --nocapture`.
//! In release, 1,000,000 IPv4 prefixes must parse in well under a second.

#[allow(dead_code)]
#[path = "../examples/parse_speed.rs"]
mod speed;

#[test]
#[ignore = "timing: run in release with --ignored"]
fn one_million_prefixes() {
    for add_path in [false, true] {
        let (build, parse, msgs, _) = speed::run(add_path);
        println!("ADD-PATH {add_path}: {msgs} UPDATEs, build {build:.1} ms, parse {parse:.1} ms");
        if !cfg!(debug_assertions) {
            assert!(parse < 250.0, "parsing took {parse} ms");
        }
    }
}
