//! `ip tcp adjust-mss N`: lower the MSS option of TCP SYNs crossing a
//! tunnel, fixing the TCP checksum incrementally (RFC 1624).

/// The TCP header of an IPv4 or IPv6 packet (no extension headers), or None.
fn tcp(pkt: &mut [u8]) -> Option<&mut [u8]> {
    match pkt.first()? >> 4 {
        4 => {
            let ihl = usize::from(pkt.first()? & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([*pkt.get(2)?, *pkt.get(3)?]));
            // Protocol TCP and not a later fragment.
            let frag = u16::from_be_bytes([*pkt.get(6)?, *pkt.get(7)?]) & 0x1fff;
            if *pkt.get(9)? != 6 || frag != 0 || ihl < 20 {
                return None;
            }
            pkt.get_mut(ihl..total.min(pkt.len()))
        }
        6 => {
            if *pkt.get(6)? != 6 {
                return None;
            }
            let plen = usize::from(u16::from_be_bytes([*pkt.get(4)?, *pkt.get(5)?]));
            pkt.get_mut(40..(40 + plen).min(pkt.len()))
        }
        _ => None,
    }
}

fn csum_update(sum: u16, old: u16, new: u16) -> u16 {
    // RFC 1624 eq. 3: HC' = ~(~HC + ~m + m')
    let mut s = u32::from(!sum) + u32::from(!old) + u32::from(new);
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// Clamp the MSS option of a TCP SYN to `mss`; true when it was lowered.
pub fn clamp_mss(pkt: &mut [u8], mss: u16) -> bool {
    let Some(tcp) = tcp(pkt) else {
        return false;
    };
    let Some(&flags) = tcp.get(13) else {
        return false;
    };
    if flags & 0x02 == 0 {
        return false;
    }
    let doff = tcp.get(12).map_or(0, |d| usize::from(d >> 4) * 4);
    if doff < 20 || doff > tcp.len() {
        return false;
    }
    let mut i = 20;
    while i < doff {
        match tcp.get(i) {
            Some(0) | None => return false,
            Some(1) => i += 1,
            Some(2) => {
                if tcp.get(i + 1) != Some(&4) || i + 4 > doff {
                    return false;
                }
                let (Some(&hi), Some(&lo)) = (tcp.get(i + 2), tcp.get(i + 3)) else {
                    return false;
                };
                let old = u16::from_be_bytes([hi, lo]);
                if old <= mss {
                    return false;
                }
                let (Some(&c0), Some(&c1)) = (tcp.get(16), tcp.get(17)) else {
                    return false;
                };
                let sum = csum_update(u16::from_be_bytes([c0, c1]), old, mss);
                let [m0, m1] = mss.to_be_bytes();
                let [s0, s1] = sum.to_be_bytes();
                for (at, v) in [(i + 2, m0), (i + 3, m1), (16, s0), (17, s1)] {
                    if let Some(b) = tcp.get_mut(at) {
                        *b = v;
                    }
                }
                return true;
            }
            Some(_) => {
                let len = tcp.get(i + 1).map_or(0, |l| usize::from(*l));
                if len < 2 {
                    return false;
                }
                i += len;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum16(data: &[u8]) -> u32 {
        data.chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
            .sum()
    }

    fn fold(mut s: u32) -> u16 {
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }

    /// An IPv4 TCP SYN with MSS `mss`, window scale and SACK-permitted.
    fn syn4(mss: u16) -> Vec<u8> {
        let mut tcp = vec![0u8; 20];
        tcp[0..2].copy_from_slice(&40000u16.to_be_bytes());
        tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
        tcp[4..8].copy_from_slice(&0x1234_5678u32.to_be_bytes());
        tcp[12] = (32 / 4) << 4;
        tcp[13] = 0x02;
        tcp[14..16].copy_from_slice(&64240u16.to_be_bytes());
        // Options: NOP, WS, SACK-perm, MSS last (order varies in the wild).
        let opts = [
            1u8,
            3,
            3,
            7,
            4,
            2,
            2,
            4,
            mss.to_be_bytes()[0],
            mss.to_be_bytes()[1],
            0,
            0,
        ];
        tcp.extend_from_slice(&opts);
        let src = [10, 1, 0, 2];
        let dst = [10, 2, 0, 2];
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&src);
        pseudo.extend_from_slice(&dst);
        pseudo.extend_from_slice(&[0, 6]);
        pseudo.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
        let c = fold(sum16(&pseudo) + sum16(&tcp));
        tcp[16..18].copy_from_slice(&c.to_be_bytes());
        let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 6, 0, 0];
        ip[2..4].copy_from_slice(&((20 + tcp.len()) as u16).to_be_bytes());
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&dst);
        ip.extend_from_slice(&tcp);
        ip
    }

    fn tcp_ok(pkt: &[u8]) -> bool {
        let tcp = &pkt[20..];
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&pkt[12..20]);
        pseudo.extend_from_slice(&[0, 6]);
        pseudo.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
        fold(sum16(&pseudo) + sum16(tcp)) == 0
    }

    #[test]
    fn lowers_a_larger_mss_and_keeps_the_checksum_valid() {
        let mut p = syn4(1460);
        assert!(tcp_ok(&p));
        assert!(clamp_mss(&mut p, 1360));
        assert_eq!(u16::from_be_bytes([p[20 + 28], p[20 + 29]]), 1360);
        assert!(tcp_ok(&p), "checksum after clamping");
    }

    #[test]
    fn leaves_smaller_mss_non_syn_and_garbage_alone() {
        let mut p = syn4(1200);
        let orig = p.clone();
        assert!(!clamp_mss(&mut p, 1360));
        assert_eq!(p, orig);
        let mut ack = syn4(1460);
        ack[20 + 13] = 0x10;
        assert!(!clamp_mss(&mut ack, 1360));
        for n in 0..ack.len() {
            let mut t = ack[..n].to_vec();
            let _ = clamp_mss(&mut t, 1000);
        }
        let mut zeros = vec![0x45u8; 64];
        let _ = clamp_mss(&mut zeros, 1000);
    }
}
