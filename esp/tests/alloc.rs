//! Sealing and opening never allocate (a counting global allocator).

mod common;

use common::pair;
use esp::{SaDb, Transform, DEFAULT_WINDOW};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocs;

#[test]
fn seal_and_open_do_not_allocate() {
    // The counter works.
    let before = allocs();
    let v = std::hint::black_box(vec![1u8; 10]);
    assert_eq!(allocs() - before, 1);
    drop(v);
    for t in Transform::ALL {
        for esn in [false, true] {
            let (mut tx, rx) = pair(t, esn, DEFAULT_WINDOW);
            let mut db = SaDb::new();
            db.insert(rx, ()).unwrap();
            let mut buf = vec![0u8; 2048];
            let mut forged = vec![0u8; 2048];
            let before = allocs();
            for len in [0usize, 1, 40, 1400] {
                let head = tx.headroom();
                let r = tx.seal_in_place(&mut buf, head..head + len, 4).unwrap();
                let n = tx.seal(&[0x45; 64], 4, &mut forged).unwrap();
                forged[n - 1] ^= 1;
                assert!(db.open_in_place(&mut forged[..n]).is_err());
                let pkt = &mut buf[r];
                assert!(db.open_in_place(pkt).is_ok());
                assert!(db.open_in_place(pkt).is_err());
            }
            assert_eq!(allocs() - before, 0, "{t} esn={esn}");
        }
    }
}
