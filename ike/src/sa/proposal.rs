//! Building our SA offers and choosing from the peer's, for IKE and ESP.
//! Selection prefers our configured order (as strongSwan does by
//! default); a mismatch names both sides' algorithms.

use super::config::{EspProposal, IkeProposal};

/// Transform type (RFC 7296 3.3.2): encryption algorithm.
pub const ENCR: u8 = 1;
/// Transform type: pseudorandom function.
pub const PRF: u8 = 2;
/// Transform type: integrity algorithm.
pub const INTEG: u8 = 3;
/// Transform type: Diffie-Hellman group (key exchange method).
pub const DH: u8 = 4;
/// Transform type: extended sequence numbers.
pub const ESN: u8 = 5;

/// Protocol ID of IKE.
pub const PROTO_IKE: u8 = 1;
/// Protocol ID of ESP.
pub const PROTO_ESP: u8 = 3;

/// ENCR ids that are AEAD (no INTEG transform).
pub fn is_aead(encr: u16) -> bool {
    matches!(encr, 14..=16 | 18..=20 | 28)
}

/// One transform of a proposal, as negotiated (key length attribute kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transform {
    /// The Transform Type.
    pub ttype: u8,
    /// The Transform ID.
    pub id: u16,
    /// The Key Length attribute, in bits, if present.
    pub key_bits: Option<u16>,
}

/// A proposal as offered on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// The Proposal Num (1 for the first proposal).
    pub num: u8,
    /// The Protocol ID.
    pub protocol: u8,
    /// The SPI (empty in an initial IKE_SA_INIT).
    pub spi: Vec<u8>,
    /// The transforms, in offer order.
    pub transforms: Vec<Transform>,
}

/// The chosen algorithms of one SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chosen {
    /// (ENCR id, key bits; 0 when the algorithm has no key length attribute)
    pub encr: (u16, u16),
    /// The integrity algorithm ID; `None` for AEAD.
    pub integ: Option<u16>,
    /// The PRF ID (IKE SAs only).
    pub prf: Option<u16>,
    /// The Diffie-Hellman group ID, if one was chosen.
    pub dh: Option<u16>,
    /// Whether extended sequence numbers were chosen.
    pub esn: bool,
}

impl Chosen {
    /// The single-transform-per-type proposal that a responder returns.
    pub fn to_proposal(&self, num: u8, protocol: u8, spi: Vec<u8>) -> Proposal {
        let mut t = vec![Transform {
            ttype: ENCR,
            id: self.encr.0,
            key_bits: (self.encr.1 != 0).then_some(self.encr.1),
        }];
        if let Some(p) = self.prf {
            t.push(Transform {
                ttype: PRF,
                id: p,
                key_bits: None,
            });
        }
        if let Some(i) = self.integ {
            t.push(Transform {
                ttype: INTEG,
                id: i,
                key_bits: None,
            });
        }
        if let Some(d) = self.dh {
            t.push(Transform {
                ttype: DH,
                id: d,
                key_bits: None,
            });
        }
        if protocol == PROTO_ESP {
            t.push(Transform {
                ttype: ESN,
                id: u16::from(self.esn),
                key_bits: None,
            });
        }
        Proposal {
            num,
            protocol,
            spi,
            transforms: t,
        }
    }

    /// strongSwan-style name, e.g. `AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE_25519`.
    pub fn describe(&self) -> String {
        let mut parts = vec![encr_name(self.encr.0, self.encr.1)];
        if let Some(i) = self.integ {
            parts.push(integ_name(i));
        }
        if let Some(p) = self.prf {
            parts.push(prf_name(p));
        }
        if let Some(d) = self.dh {
            parts.push(dh_name(d));
        }
        parts.join("/")
    }
}

fn t(ttype: u8, id: u16) -> Transform {
    Transform {
        ttype,
        id,
        key_bits: None,
    }
}

fn encr_t(id: u16, bits: u16) -> Transform {
    Transform {
        ttype: ENCR,
        id,
        key_bits: (bits != 0).then_some(bits),
    }
}

/// Our IKE offer: one proposal of the AEAD ciphers and one of the others
/// (RFC 5282 forbids INTEG next to an AEAD cipher).
pub fn ike_offer(cfg: &IkeProposal, spi: &[u8]) -> Vec<Proposal> {
    let mut out = Vec::new();
    for aead in [true, false] {
        let encrs: Vec<_> = cfg
            .encryption
            .iter()
            .filter(|e| is_aead(e.0) == aead)
            .collect();
        if encrs.is_empty() || (!aead && cfg.integrity.is_empty() && cfg.prf.is_empty()) {
            continue;
        }
        let mut ts: Vec<Transform> = encrs.iter().map(|e| encr_t(e.0, e.1)).collect();
        ts.extend(cfg.prf.iter().map(|p| t(PRF, *p)));
        if !aead {
            // IOS derives integrity from the PRF list when none is given.
            let integ: Vec<u16> = if cfg.integrity.is_empty() {
                cfg.prf.iter().filter_map(|p| prf_to_integ(*p)).collect()
            } else {
                cfg.integrity.clone()
            };
            ts.extend(integ.iter().map(|i| t(INTEG, *i)));
        }
        ts.extend(cfg.groups.iter().map(|g| t(DH, *g)));
        out.push(Proposal {
            num: out.len() as u8 + 1,
            protocol: PROTO_IKE,
            spi: spi.to_vec(),
            transforms: ts,
        });
    }
    out
}

/// Our ESP offer (with a KE group for PFS rekeys when `dh` is set).
pub fn esp_offer(cfg: &EspProposal, spi: [u8; 4], dh: Option<u16>) -> Vec<Proposal> {
    let mut out = Vec::new();
    for aead in [true, false] {
        let encrs: Vec<_> = cfg
            .transforms
            .iter()
            .filter(|x| is_aead(x.0) == aead)
            .collect();
        if encrs.is_empty() {
            continue;
        }
        let mut ts: Vec<Transform> = Vec::new();
        for e in &encrs {
            let tr = encr_t(e.0, e.1);
            if !ts.contains(&tr) {
                ts.push(tr);
            }
        }
        if !aead {
            for e in &encrs {
                let tr = t(INTEG, e.2);
                if !ts.contains(&tr) {
                    ts.push(tr);
                }
            }
        }
        if let Some(g) = dh {
            ts.push(t(DH, g));
        }
        if cfg.esn {
            ts.push(t(ESN, 1));
        }
        ts.push(t(ESN, 0));
        out.push(Proposal {
            num: out.len() as u8 + 1,
            protocol: PROTO_ESP,
            spi: spi.to_vec(),
            transforms: ts,
        });
    }
    out
}

fn prf_to_integ(prf: u16) -> Option<u16> {
    match prf {
        2 => Some(2),
        5 => Some(12),
        6 => Some(13),
        7 => Some(14),
        _ => None,
    }
}

fn rank<T: PartialEq>(list: &[T], x: &T) -> Option<usize> {
    list.iter().position(|y| y == x)
}

/// The best offered transform of a type by our preference: None when the
/// type is absent, Err when none of the offered ones is acceptable.
type Best<T> = Option<Result<(usize, T), ()>>;

/// Choose the best transform of a type from a proposal by our preference.
fn best<T: Copy + PartialEq>(
    p: &Proposal,
    ttype: u8,
    ours: &[T],
    key: impl Fn(&Transform) -> T,
) -> Best<T> {
    let offered: Vec<T> = p
        .transforms
        .iter()
        .filter(|x| x.ttype == ttype)
        .map(key)
        .collect();
    if offered.is_empty() {
        return None;
    }
    Some(
        offered
            .iter()
            .filter_map(|o| rank(ours, o).map(|r| (r, *o)))
            .min_by_key(|x| x.0)
            .ok_or(()),
    )
}

/// What went wrong choosing a proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// Our acceptable proposals, as text.
    pub ours: String,
    /// The peer's offer, as text.
    pub theirs: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "we accept {}, peer offered {}", self.ours, self.theirs)
    }
}

/// Choose an IKE proposal from the peer's offer.
pub fn select_ike(ours: &IkeProposal, offered: &[Proposal]) -> Result<(Chosen, u8), Mismatch> {
    let integ_ours: Vec<u16> = if ours.integrity.is_empty() {
        ours.prf.iter().filter_map(|p| prf_to_integ(*p)).collect()
    } else {
        ours.integrity.clone()
    };
    type Found = ((usize, usize, usize, usize), Chosen, u8);
    let mut found: Option<Found> = None;
    for p in offered.iter().filter(|p| p.protocol == PROTO_IKE) {
        let Some(Ok((re, e))) = best(p, ENCR, &ours.encryption, |x| {
            (x.id, x.key_bits.unwrap_or(0))
        }) else {
            continue;
        };
        let (ri, integ) = if is_aead(e.0) {
            match best(p, INTEG, &integ_ours, |x| x.id) {
                None => (0, None),
                Some(Ok((_, 0))) => (0, None),
                Some(_) => continue, // AEAD with a real INTEG is malformed
            }
        } else {
            match best(p, INTEG, &integ_ours, |x| x.id) {
                Some(Ok((r, i))) => (r, Some(i)),
                _ => continue,
            }
        };
        let Some(Ok((rp, prf))) = best(p, PRF, &ours.prf, |x| x.id) else {
            continue;
        };
        let Some(Ok((rd, dh))) = best(p, DH, &ours.groups, |x| x.id) else {
            continue;
        };
        let key = (re, ri, rp, rd);
        let c = Chosen {
            encr: e,
            integ,
            prf: Some(prf),
            dh: Some(dh),
            esn: false,
        };
        if found.as_ref().is_none_or(|f| key < f.0) {
            found = Some((key, c, p.num));
        }
    }
    found.map(|f| (f.1, f.2)).ok_or_else(|| Mismatch {
        ours: describe_ike(ours),
        theirs: describe_offer(offered),
    })
}

/// Choose an ESP proposal; `dh` is the KE group the exchange carries (PFS)
/// or None when it carries no KE payload.
pub fn select_esp(
    ours: &EspProposal,
    offered: &[Proposal],
    dh: Option<u16>,
) -> Result<(Chosen, u8, Vec<u8>), Mismatch> {
    let encrs: Vec<(u16, u16)> = ours.transforms.iter().map(|x| (x.0, x.1)).collect();
    type Found = ((usize, usize), Chosen, u8, Vec<u8>);
    let mut found: Option<Found> = None;
    for p in offered
        .iter()
        .filter(|p| p.protocol == PROTO_ESP && p.spi.len() == 4)
    {
        let Some(Ok((re, e))) = best(p, ENCR, &encrs, |x| (x.id, x.key_bits.unwrap_or(0))) else {
            continue;
        };
        let integs: Vec<u16> = ours
            .transforms
            .iter()
            .filter(|x| (x.0, x.1) == e)
            .map(|x| x.2)
            .collect();
        let (ri, integ) = if is_aead(e.0) {
            match best(p, INTEG, &[0u16], |x| x.id) {
                None | Some(Ok(_)) => (0, None),
                Some(Err(())) => continue,
            }
        } else {
            match best(p, INTEG, &integs, |x| x.id) {
                Some(Ok((r, i))) => (r, Some(i)),
                _ => continue,
            }
        };
        // The KE group must be offered exactly when the exchange has a KE.
        let offered_dh: Vec<u16> = p
            .transforms
            .iter()
            .filter(|x| x.ttype == DH && x.id != 0)
            .map(|x| x.id)
            .collect();
        let dh_ok = match dh {
            Some(g) => offered_dh.contains(&g),
            None => {
                offered_dh.is_empty() || p.transforms.iter().any(|x| x.ttype == DH && x.id == 0)
            }
        };
        if !dh_ok {
            continue;
        }
        let esn_offered: Vec<u16> = p
            .transforms
            .iter()
            .filter(|x| x.ttype == ESN)
            .map(|x| x.id)
            .collect();
        // ESN: the peer's first choice (both data planes do 64-bit
        // sequence numbers); our own offer lists ESN only when configured.
        let esn = match esn_offered.iter().find(|&&x| x == 0 || x == 1) {
            None if esn_offered.is_empty() => false,
            None => continue,
            Some(&x) => x == 1,
        };
        let c = Chosen {
            encr: e,
            integ,
            prf: None,
            dh,
            esn,
        };
        let key = (re, ri);
        if found.as_ref().is_none_or(|f| key < f.0) {
            found = Some((key, c, p.num, p.spi.clone()));
        }
    }
    found.map(|f| (f.1, f.2, f.3)).ok_or_else(|| Mismatch {
        ours: describe_esp(ours, dh),
        theirs: describe_offer(offered),
    })
}

/// Check that a responder's answer is one of the choices we offered, and
/// read it as a [`Chosen`].
pub fn accept_answer(offered: &[Proposal], answer: &Proposal) -> Option<Chosen> {
    let ours = offered
        .iter()
        .find(|p| p.num == answer.num && p.protocol == answer.protocol)?;
    let one = |ttype: u8| -> Result<Option<Transform>, ()> {
        let v: Vec<&Transform> = answer
            .transforms
            .iter()
            .filter(|x| x.ttype == ttype)
            .collect();
        match v.as_slice() {
            [] => Ok(None),
            [x] if ours.transforms.contains(x) => Ok(Some(**x)),
            _ => Err(()),
        }
    };
    let e = one(ENCR).ok()??;
    let integ = one(INTEG).ok()?.map(|x| x.id).filter(|i| *i != 0);
    let prf = one(PRF).ok()?.map(|x| x.id);
    let dh = one(DH).ok()?.map(|x| x.id).filter(|d| *d != 0);
    let esn = one(ESN).ok()?.is_some_and(|x| x.id == 1);
    if answer.protocol == PROTO_IKE
        && (prf.is_none() || dh.is_none() || (!is_aead(e.id) && integ.is_none()))
    {
        return None;
    }
    if answer.protocol == PROTO_ESP && !is_aead(e.id) && integ.is_none() {
        return None;
    }
    Some(Chosen {
        encr: (e.id, e.key_bits.unwrap_or(0)),
        integ,
        prf,
        dh,
        esn,
    })
}

// ------------------------------------------------------------------ names

/// strongSwan-style ENCR name.
pub fn encr_name(id: u16, bits: u16) -> String {
    let base = match id {
        2 => "DES",
        3 => "3DES",
        12 => "AES_CBC",
        13 => "AES_CTR",
        18 => "AES_GCM_8",
        19 => "AES_GCM_12",
        20 => "AES_GCM_16",
        28 => "CHACHA20_POLY1305",
        _ => return format!("ENCR_{id}"),
    };
    if bits != 0 {
        format!("{base}_{bits}")
    } else {
        base.to_string()
    }
}

/// strongSwan-style INTEG name.
pub fn integ_name(id: u16) -> String {
    match id {
        1 => "HMAC_MD5_96".into(),
        2 => "HMAC_SHA1_96".into(),
        12 => "HMAC_SHA2_256_128".into(),
        13 => "HMAC_SHA2_384_192".into(),
        14 => "HMAC_SHA2_512_256".into(),
        _ => format!("INTEG_{id}"),
    }
}

/// strongSwan-style PRF name.
pub fn prf_name(id: u16) -> String {
    match id {
        1 => "PRF_HMAC_MD5".into(),
        2 => "PRF_HMAC_SHA1".into(),
        4 => "PRF_AES128_XCBC".into(),
        5 => "PRF_HMAC_SHA2_256".into(),
        6 => "PRF_HMAC_SHA2_384".into(),
        7 => "PRF_HMAC_SHA2_512".into(),
        _ => format!("PRF_{id}"),
    }
}

/// strongSwan-style DH group name.
pub fn dh_name(id: u16) -> String {
    match id {
        1 => "MODP_768".into(),
        2 => "MODP_1024".into(),
        5 => "MODP_1536".into(),
        14 => "MODP_2048".into(),
        15 => "MODP_3072".into(),
        16 => "MODP_4096".into(),
        19 => "ECP_256".into(),
        20 => "ECP_384".into(),
        21 => "ECP_521".into(),
        24 => "MODP_2048_256".into(),
        31 => "CURVE_25519".into(),
        _ => format!("DH_{id}"),
    }
}

fn describe_ike(p: &IkeProposal) -> String {
    let mut parts: Vec<String> = p.encryption.iter().map(|e| encr_name(e.0, e.1)).collect();
    parts.extend(p.integrity.iter().map(|i| integ_name(*i)));
    parts.extend(p.prf.iter().map(|x| prf_name(*x)));
    parts.extend(p.groups.iter().map(|g| dh_name(*g)));
    parts.join("/")
}

fn describe_esp(p: &EspProposal, dh: Option<u16>) -> String {
    let mut parts: Vec<String> = Vec::new();
    for (e, b, i) in &p.transforms {
        let s = if *i == 0 {
            encr_name(*e, *b)
        } else {
            format!("{}/{}", encr_name(*e, *b), integ_name(*i))
        };
        if !parts.contains(&s) {
            parts.push(s);
        }
    }
    if let Some(g) = dh {
        parts.push(dh_name(g));
    }
    parts.join(", ")
}

/// Every proposal of an offer, e.g. `AES_CBC_128/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024`.
pub fn describe_offer(offered: &[Proposal]) -> String {
    let mut out = Vec::new();
    for p in offered {
        let mut parts = Vec::new();
        for ty in [ENCR, INTEG, PRF, DH] {
            for x in p.transforms.iter().filter(|x| x.ttype == ty) {
                parts.push(match ty {
                    ENCR => encr_name(x.id, x.key_bits.unwrap_or(0)),
                    INTEG if x.id == 0 => continue,
                    INTEG => integ_name(x.id),
                    PRF => prf_name(x.id),
                    _ if x.id == 0 => continue,
                    _ => dh_name(x.id),
                });
            }
        }
        out.push(parts.join("/"));
    }
    if out.is_empty() {
        "nothing".into()
    } else {
        out.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strong() -> IkeProposal {
        IkeProposal {
            encryption: vec![(20, 256), (28, 0)],
            integrity: vec![],
            prf: vec![6, 5],
            groups: vec![31, 19],
        }
    }

    #[test]
    fn our_own_offer_is_acceptable_and_prefers_our_order() {
        let ours = strong();
        let offer = ike_offer(&ours, &[1; 8]);
        assert_eq!(offer.len(), 1, "only AEAD ciphers: one proposal");
        let (c, num) = select_ike(&ours, &offer).unwrap();
        assert_eq!(num, 1);
        assert_eq!(c.describe(), "AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE_25519");
        let answer = c.to_proposal(num, PROTO_IKE, vec![2; 8]);
        assert_eq!(accept_answer(&offer, &answer), Some(c));
    }

    #[test]
    fn mismatch_names_both_sides() {
        let ours = strong();
        let theirs = IkeProposal {
            encryption: vec![(12, 128)],
            integrity: vec![2],
            prf: vec![2],
            groups: vec![2],
        };
        let e = select_ike(&ours, &ike_offer(&theirs, &[1; 8])).unwrap_err();
        assert_eq!(e.theirs, "AES_CBC_128/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024");
        assert!(
            e.ours
                .starts_with("AES_GCM_16_256/CHACHA20_POLY1305/PRF_HMAC_SHA2_384"),
            "{}",
            e.ours
        );
    }

    #[test]
    fn cbc_needs_integrity_and_answers_outside_the_offer_are_refused() {
        let ours = IkeProposal {
            encryption: vec![(12, 256)],
            integrity: vec![12],
            prf: vec![5],
            groups: vec![14],
        };
        let offer = ike_offer(&ours, &[1; 8]);
        let (c, _) = select_ike(&ours, &offer).unwrap();
        assert_eq!(
            c.describe(),
            "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048"
        );
        let mut bad = c.to_proposal(1, PROTO_IKE, vec![]);
        bad.transforms[0].key_bits = Some(128);
        assert_eq!(accept_answer(&offer, &bad), None);
    }

    #[test]
    fn esp_selection_with_and_without_pfs() {
        let ours = EspProposal {
            transforms: vec![(20, 256, 0), (12, 128, 12)],
            pfs: Some(19),
            esn: false,
        };
        let offer = esp_offer(&ours, [1, 2, 3, 4], None);
        let (c, _, spi) = select_esp(&ours, &offer, None).unwrap();
        assert_eq!(c.describe(), "AES_GCM_16_256");
        assert_eq!(spi, vec![1, 2, 3, 4]);
        let pfs = esp_offer(&ours, [1, 2, 3, 4], Some(19));
        assert!(select_esp(&ours, &pfs, Some(19)).is_ok());
        assert!(
            select_esp(&ours, &pfs, None).is_err(),
            "a KE-less exchange cannot pick a DH proposal"
        );
        assert!(select_esp(&ours, &offer, Some(19)).is_err());
    }

    #[test]
    fn esn_follows_the_peers_first_choice() {
        let mine = EspProposal {
            transforms: vec![(20, 256, 0)],
            pfs: None,
            esn: false,
        };
        let with_esn = EspProposal {
            esn: true,
            ..mine.clone()
        };
        // A peer preferring ESN (ESN 1, then 0) gets it, though we do not
        // offer it ourselves.
        let (c, _, _) = select_esp(&mine, &esp_offer(&with_esn, [1; 4], None), None).unwrap();
        assert!(c.esn);
        // One offering only no-ESN does not.
        let (c, _, _) = select_esp(&with_esn, &esp_offer(&mine, [1; 4], None), None).unwrap();
        assert!(!c.esn);
        // ESN only: accepted.
        let mut only = esp_offer(&with_esn, [1; 4], None);
        for p in &mut only {
            p.transforms.retain(|t| !(t.ttype == ESN && t.id == 0));
        }
        let (c, _, _) = select_esp(&mine, &only, None).unwrap();
        assert!(c.esn);
        // Our own offer without ESN.
        assert!(!esp_offer(&mine, [1; 4], None)[0]
            .transforms
            .iter()
            .any(|t| t.ttype == ESN && t.id == 1));
    }
}
