//! SaDb (decap by SPI, make-before-break) and the ESP-in-UDP path.

mod common;

use common::{inner, keys, CountingRandom};
use esp::udp::{self, Kind};
use esp::{EspError, InboundSa, OutboundSa, SaDb, SaKeys, Transform, DEFAULT_WINDOW};

fn sa_pair(t: Transform, spi: u32, seed: u8) -> (OutboundSa<CountingRandom>, InboundSa) {
    let (e, i) = keys(t, seed);
    let k = SaKeys::cbc(&e, &i);
    (
        OutboundSa::new(spi, t, k, true, CountingRandom(u64::from(seed))).unwrap(),
        InboundSa::new(spi, t, k, true, DEFAULT_WINDOW).unwrap(),
    )
}

fn seal(tx: &mut OutboundSa<CountingRandom>, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len + 100];
    let n = tx.seal(&inner(len, false), 4, &mut out).unwrap();
    out.truncate(n);
    out
}

#[test]
fn make_before_break_rekey() {
    let mut db: SaDb<&'static str> = SaDb::new();
    let t = Transform::AesGcm16_256;
    let (mut old_tx, old_rx) = sa_pair(t, 0x1111_0001, 1);
    db.insert(old_rx, "Tunnel1").unwrap();
    let p = seal(&mut old_tx, 60);
    let (o, ctx) = db
        .open_in_place(&mut p.clone())
        .map(|(o, c)| (o.seq, *c))
        .unwrap();
    assert_eq!((o, ctx), (1, "Tunnel1"));

    // Rekey: the new inbound SA comes in before the old one goes.
    let (mut new_tx, new_rx) = sa_pair(Transform::ChaCha20Poly1305, 0x2222_0002, 2);
    db.insert(new_rx, "Tunnel1").unwrap();
    assert_eq!(db.len(), 2);
    let late_old = seal(&mut old_tx, 70);
    let fresh = seal(&mut new_tx, 80);
    let mut buf = fresh.clone();
    let (o, ctx) = db.open_in_place(&mut buf).unwrap();
    assert_eq!((o.inner.len(), *ctx), (80, "Tunnel1"));
    let mut buf = late_old.clone();
    let (o, ctx) = db.open_in_place(&mut buf).unwrap();
    assert_eq!((o.inner.len(), *ctx), (70, "Tunnel1"));

    // Old SA removed: its packets are now unknown.
    let (old, ctx) = db.remove(0x1111_0001).unwrap();
    assert_eq!((old.stats().packets, ctx), (2, "Tunnel1"));
    let mut buf = seal(&mut old_tx, 10);
    assert_eq!(
        db.open_in_place(&mut buf).map(|_| ()).unwrap_err(),
        EspError::UnknownSpi { spi: 0x1111_0001 }
    );
    assert_eq!(db.unknown_spi_drops(), 1);
    assert!(db.open_in_place(&mut [1, 2, 3]).is_err());
    assert_eq!(db.unknown_spi_drops(), 2);

    // Per-SA counters stay with the SA.
    let mut replay = fresh.clone();
    assert!(matches!(
        db.open_in_place(&mut replay),
        Err(EspError::Replay { .. })
    ));
    assert_eq!(db.get(0x2222_0002).unwrap().stats().replay_drops, 1);
    assert_eq!(db.context(0x2222_0002), Some(&"Tunnel1"));
    assert!(db.get_mut(0x2222_0002).is_some());
    assert!(db.contains(0x2222_0002) && !db.contains(0x1111_0001));
}

#[test]
fn duplicate_spi_is_refused_and_retain_filters() {
    let mut db = SaDb::new();
    let t = Transform::AesGcm16_128;
    db.insert(sa_pair(t, 0x500, 1).1, 1u32).unwrap();
    assert_eq!(
        db.insert(sa_pair(t, 0x500, 2).1, 2),
        Err(EspError::DuplicateSpi { spi: 0x500 })
    );
    db.insert(sa_pair(t, 0x501, 3).1, 2).unwrap();
    db.insert(sa_pair(t, 0x502, 4).1, 1).unwrap();
    assert_eq!(db.iter().count(), 3);
    db.retain(|_, &c| c != 1);
    assert_eq!(db.len(), 1);
    assert!(db.contains(0x501));
    db.remove(0x501);
    assert!(db.is_empty());
}

#[test]
fn esp_in_udp_round_trip() {
    let t = Transform::AesCbc128(esp::Integrity::HmacSha256_128);
    let (mut tx, rx) = sa_pair(t, 0xABCD_0001, 9);
    let mut db = SaDb::new();
    db.insert(rx, ()).unwrap();

    // TUN path: inner packet at an offset leaving room for UDP + ESP.
    let len = 100;
    let head = udp::UDP_HEADER_LEN + tx.headroom();
    let mut buf = vec![0u8; head + len + tx.tailroom(len)];
    buf[head..head + len].copy_from_slice(&inner(len, false));
    let esp_range = tx.seal_in_place(&mut buf, head..head + len, 4).unwrap();
    let dgram = udp::wrap_in_place(&mut buf, esp_range, 4500, 4500).unwrap();
    assert_eq!(dgram, 0..buf.len());

    // Receive side, as a raw socket sees it.
    let (h, payload) = udp::unwrap(&buf).unwrap();
    assert_eq!((h.dst_port, usize::from(h.length)), (4500, buf.len()));
    assert_eq!(udp::classify(payload), Ok(Kind::Esp));
    let mut payload = payload.to_vec();
    let Some((Kind::Esp, esp_pkt)) = udp::unwrap_payload_mut(&mut payload).unwrap() else {
        panic!("not ESP");
    };
    let (o, ()) = db.open_in_place(esp_pkt).unwrap();
    assert_eq!(o.inner, &inner(len, false)[..]);

    // IKE and keepalives share the port.
    let mut ike = vec![0u8; 40];
    let n = udp::wrap_ike(&[0x11; 28], &mut ike).unwrap();
    assert_eq!(
        udp::unwrap_payload(&ike[..n]),
        Ok(Some((Kind::Ike, &[0x11u8; 28][..])))
    );
    assert_eq!(udp::unwrap_payload(&udp::NAT_KEEPALIVE), Ok(None));
}
