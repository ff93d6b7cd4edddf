//! IKE_AUTH, as initiator and as responder, with PSK authentication.

use super::child::child_failure;
use super::config::{Identity, Peer, TunnelConfig};
use super::engine::{Engine, TunnelStatus};
use super::ike_sa::{ExchangeCtx, IkeSa, IkeState, Task};
use super::msg::{notify as n, Msg, Pl, Selector, IKE_AUTH};
use super::proposal::{accept_answer, esp_offer, PROTO_ESP};
use super::random::jitter;
use crate::crypto::auth::{ct_eq, psk_auth};
use std::collections::HashMap;
use std::time::Instant;

/// AUTH method: shared key message integrity code.
const AUTH_PSK: u8 = 2;

impl Engine {
    pub(crate) fn send_auth(&mut self, spi: u64, t: &TunnelConfig, now: Instant) {
        let spi_in = match self.random_spi32() {
            Ok(v) => v,
            Err(e) => {
                self.rng_failed(&format!("{}: IKE_AUTH", t.name), now);
                self.fail_phase1(spi, &t.name, format!("cannot allocate an SPI: {e}"), now);
                return;
            }
        };
        let Some(sa) = self.sas.get(&spi) else { return };
        let Some(keys) = &sa.keys else { return };
        let (id_type, id_data) = t.local_id.encode();
        let remote_ip = sa.remote.ip();
        let Some(key) = t.find_key(remote_ip, t.remote_id.as_ref()) else {
            let reason = format!("no pre-shared key for peer {remote_ip}");
            self.fail_phase1(spi, &t.name, reason, now);
            return;
        };
        let auth = psk_auth(
            keys.prf,
            &key.psk_local,
            &sa.init_req,
            &sa.nr,
            keys.sk_pi.expose(),
            id_type,
            &id_data,
        );
        let offered = esp_offer(&t.esp, spi_in.to_be_bytes(), None);
        let mut payloads = vec![Pl::IdI {
            id_type,
            data: id_data,
        }];
        if let Some(r) = &t.remote_id {
            let (ty, d) = r.encode();
            payloads.push(Pl::IdR {
                id_type: ty,
                data: d,
            });
        }
        payloads.push(Pl::Auth {
            method: AUTH_PSK,
            data: auth,
        });
        if sa.initial_contact {
            payloads.push(Pl::Notify {
                protocol: 0,
                spi: vec![],
                ty: n::INITIAL_CONTACT,
                data: vec![],
            });
        }
        if t.mobike {
            payloads.push(mobike_supported());
        }
        payloads.push(Pl::Sa(offered.clone()));
        payloads.push(Pl::TsI(Selector::any()));
        payloads.push(Pl::TsR(Selector::any()));
        let id = sa.next_id;
        let Ok(data) = self.seal(spi, IKE_AUTH, false, id, payloads) else {
            return;
        };
        let ctx = ExchangeCtx {
            new_spi_in: spi_in,
            offered,
            ..Default::default()
        };
        self.send_request(spi, Task::Auth, data, ctx, now);
    }

    /// The answer to our IKE_AUTH.
    pub(crate) fn on_auth_response(&mut self, now: Instant, spi: u64, msg: Msg, ctx: ExchangeCtx) {
        let Some(sa) = self.sas.get(&spi) else { return };
        let tunnel = sa.tunnel.clone().unwrap_or_default();
        let Some(t) = self.tunnel_cfg(&tunnel).cloned() else {
            return;
        };
        if msg.notify(n::AUTHENTICATION_FAILED).is_some() {
            self.fail_phase1(spi, &tunnel, "peer rejected our authentication (AUTHENTICATION_FAILED): pre-shared key or identity mismatch".into(), now);
            return;
        }
        let idr = msg.id(false);
        let auth = msg.auth();
        let (Some((ty, idd)), Some((method, adata))) = (idr, auth) else {
            let reason = match msg.error() {
                Some((e, _)) => format!("peer answered IKE_AUTH with {}", n::name(e)),
                None => "IKE_AUTH response without IDr or AUTH".into(),
            };
            self.fail_phase1(spi, &tunnel, reason, now);
            return;
        };
        let rid = Identity::decode(ty, &idd);
        if let Some(r) = &rid {
            if !t.accepts(r) {
                self.fail_phase1(
                    spi,
                    &tunnel,
                    format!(
                        "identity mismatch: peer is {r}, we expect {}",
                        expected_ids(&t)
                    ),
                    now,
                );
                return;
            }
        }
        let sa = self.sas.get(&spi).expect("present");
        let Some(key) = t.find_key(sa.remote.ip(), rid.as_ref()) else {
            self.fail_phase1(
                spi,
                &tunnel,
                "no pre-shared key for the peer's identity".into(),
                now,
            );
            return;
        };
        if let Err(why) = verify_peer_auth(sa, key, method, ty, &idd, &adata) {
            self.fail_phase1(spi, &tunnel, why, now);
            return;
        }
        // The IKE SA is up.
        let rekey = jitter(t.ike_lifetime, spi);
        let sa = self.sas.get_mut(&spi).expect("present");
        sa.remote_id = rid.clone();
        sa.mobike = t.mobike && msg.notify(n::MOBIKE_SUPPORTED).is_some();
        sa.mark_established(&t, rekey, now);
        let desc = sa.chosen.map(|c| c.describe()).unwrap_or_default();
        let (l, r) = (sa.local, sa.remote);
        self.logf(format!(
            "{tunnel}: IKE_SA {spi:016x}_i established between {l}[{}]...{r}[{}] with {desc}",
            t.local_id,
            rid.as_ref().map(|i| i.to_string()).unwrap_or_default()
        ));
        // The Child SA.
        if let Some((e, _)) = msg.error() {
            let reason = child_failure(e, &t);
            self.logf(format!("{tunnel}: CHILD_SA failed: {reason}"));
            self.send_ike_delete_now(spi);
            self.remove_sa(spi, now);
            self.tunnel_down(&tunnel, Some(TunnelStatus::Phase2Failed(reason)), now);
            return;
        }
        let answer = msg.sa().and_then(|p| p.first());
        let chosen = answer.and_then(|p| accept_answer(&ctx.offered, p));
        let spi_out = answer
            .and_then(|p| <[u8; 4]>::try_from(p.spi.as_slice()).ok())
            .map(u32::from_be_bytes);
        let (Some(chosen), Some(spi_out), Some((tsi, tsr))) = (chosen, spi_out, msg.ts()) else {
            let reason =
                "peer's Child SA answer is not one we offered or lacks selectors".to_string();
            self.send_ike_delete_now(spi);
            self.remove_sa(spi, now);
            self.tunnel_down(&tunnel, Some(TunnelStatus::Phase2Failed(reason)), now);
            return;
        };
        if let Some(bad) = tsi.iter().chain(tsr).find(|s| !s.all_traffic()) {
            let reason = format!("selector mismatch: peer narrowed to {bad}; a route-based tunnel needs any protocol and port");
            self.send_ike_delete_now(spi);
            self.remove_sa(spi, now);
            self.tunnel_down(&tunnel, Some(TunnelStatus::Phase2Failed(reason)), now);
            return;
        }
        let (ts_local, ts_remote) = (tsi.to_vec(), tsr.to_vec());
        let sa = self.sas.get(&spi).expect("present");
        let (ni, nr) = (sa.ni.clone(), sa.nr.clone());
        match sa.child_keys(&chosen, None, &ni, &nr) {
            Ok(keys) => self.child_established(
                spi,
                &t,
                chosen,
                ctx.new_spi_in,
                spi_out,
                keys,
                true,
                ts_local,
                ts_remote,
                None,
                now,
            ),
            Err(e) => {
                self.send_ike_delete_now(spi);
                self.remove_sa(spi, now);
                self.tunnel_down(&tunnel, Some(TunnelStatus::Phase2Failed(e)), now);
            }
        }
        self.dedupe_tunnel(&tunnel, now);
        self.run_queue(spi, now);
    }

    /// IKE_AUTH from the initiator: find its tunnel, check its AUTH, send
    /// ours, and set up the first Child SA.
    pub(crate) fn on_auth_request(&mut self, now: Instant, spi: u64, msg: Msg) {
        let Some(sa) = self.sas.get(&spi) else { return };
        let id = msg.id;
        let remote = sa.remote;
        let (Some((ty, idd)), Some((method, adata))) = (msg.id(true), msg.auth()) else {
            let why = "IDi or AUTH missing (EAP is not supported)".to_string();
            self.auth_failed(spi, id, why, None, now);
            return;
        };
        let rid = Identity::decode(ty, &idd);
        let t = match self.tunnel_for_peer(spi, rid.as_ref(), ty) {
            Ok(t) => t,
            Err((why, tunnel)) => {
                self.auth_failed(spi, id, why, tunnel, now);
                return;
            }
        };
        let Some(key) = t.find_key(remote.ip(), rid.as_ref()).cloned() else {
            return;
        };
        let Some(sa) = self.sas.get(&spi) else { return };
        let Some(keys) = sa.keys.as_ref() else { return };
        if let Err(why) = verify_peer_auth(sa, &key, method, ty, &idd, &adata) {
            self.auth_failed(spi, id, why, Some(t.name.clone()), now);
            return;
        }
        // Our AUTH.
        let (lty, ldata) = t.local_id.encode();
        let our_auth = psk_auth(
            keys.prf,
            &key.psk_local,
            &sa.init_resp,
            &sa.ni,
            keys.sk_pr.expose(),
            lty,
            &ldata,
        );
        if msg.notify(n::INITIAL_CONTACT).is_some() {
            self.initial_contact(spi, &t.name, now);
        }
        let rekey = jitter(t.ike_lifetime, spi);
        let Some(sa) = self.sas.get_mut(&spi) else {
            return;
        };
        sa.tunnel = Some(t.name.clone());
        sa.remote_id = rid.clone();
        sa.mobike = t.mobike && msg.notify(n::MOBIKE_SUPPORTED).is_some();
        let mobike = sa.mobike;
        sa.mark_established(&t, rekey, now);
        let desc = sa.chosen.map(|c| c.describe()).unwrap_or_default();
        let local = sa.local;
        self.logf(format!(
            "{}: IKE_SA {spi:016x}_r established between {local}[{}]...{remote}[{}] with {desc}",
            t.name,
            t.local_id,
            rid.as_ref().map(|i| i.to_string()).unwrap_or_default()
        ));
        let mut payloads = vec![
            Pl::IdR {
                id_type: lty,
                data: ldata,
            },
            Pl::Auth {
                method: AUTH_PSK,
                data: our_auth,
            },
        ];
        if mobike {
            payloads.push(mobike_supported());
        }
        self.answer_auth_with_child(spi, id, &t, &msg, payloads, now);
    }

    /// Refuse an IKE_AUTH request with AUTHENTICATION_FAILED and drop the
    /// SA; `tunnel` (when known) shows the reason.
    fn auth_failed(
        &mut self,
        spi: u64,
        id: u32,
        why: String,
        tunnel: Option<String>,
        now: Instant,
    ) {
        let remote = self.sas.get(&spi).map(|s| s.remote);
        if let Some(remote) = remote {
            self.logf(format!(
                "IKE_AUTH from {remote}: {why}; sending AUTHENTICATION_FAILED"
            ));
        }
        self.notify_reply(spi, IKE_AUTH, id, n::AUTHENTICATION_FAILED);
        self.remove_sa(spi, now);
        if let Some(t) = tunnel {
            self.tunnel_down(&t, Some(TunnelStatus::Phase1Failed(why)), now);
        }
    }

    /// The tunnel interface an authenticating peer belongs to, or why none
    /// (with the tunnel to blame, if one was meant). A dynamic hub
    /// interface serves one peer at a time: the one this peer already has
    /// (reconnect) comes first, then a free one; never one bound to
    /// another peer.
    fn tunnel_for_peer(
        &self,
        spi: u64,
        rid: Option<&Identity>,
        id_type: u8,
    ) -> Result<TunnelConfig, (String, Option<String>)> {
        let sa = self
            .sas
            .get(&spi)
            .ok_or(("SA vanished".to_string(), None))?;
        let remote = sa.remote;
        let cands: Vec<&TunnelConfig> = self
            .candidates(sa.local, remote)
            .iter()
            .filter_map(|&i| self.cfg.tunnels.get(i))
            .collect();
        // Which of those interfaces already serve a peer (and whom), from
        // the tunnel index.
        let mut bound: HashMap<&str, Option<&Identity>> = HashMap::new();
        for t in &cands {
            for k in self.sas.of_tunnel(&t.name) {
                match self.sas.get(&k) {
                    Some(s) if k != spi && s.state == IkeState::Established => {
                        bound.insert(t.name.as_str(), s.remote_id.as_ref());
                    }
                    _ => {}
                }
            }
        }
        let usable: Vec<&TunnelConfig> = cands
            .iter()
            .copied()
            .filter(|t| rid.is_some_and(|r| t.accepts(r)) && t.find_key(remote.ip(), rid).is_some())
            .collect();
        let tunnel = usable
            .iter()
            .find(|t| bound.get(t.name.as_str()).is_some_and(|id| *id == rid))
            .or_else(|| {
                usable
                    .iter()
                    .find(|t| !bound.contains_key(t.name.as_str()) || t.peer != Peer::Dynamic)
            });
        if let Some(t) = tunnel {
            return Ok((*t).clone());
        }
        let who = rid
            .map(|r| r.to_string())
            .unwrap_or_else(|| format!("an identity of type {id_type}"));
        let first = cands.first();
        let why = match first {
            _ if !usable.is_empty() => {
                format!("every tunnel interface for {who} serves another peer")
            }
            Some(c) => format!(
                "identity mismatch: peer is {who}, we expect {}",
                expected_ids(c)
            ),
            None => format!("no tunnel accepts peer {who}"),
        };
        Err((why, first.map(|c| c.name.clone())))
    }

    /// INITIAL_CONTACT: the peer restarted, so its older SAs with us on
    /// this tunnel are gone. Only SAs from before this one: a simultaneous
    /// initiation by both ends is not a restart.
    fn initial_contact(&mut self, spi: u64, tunnel: &str, now: Instant) {
        let Some(sa) = self.sas.get(&spi) else { return };
        let (created, remote) = (sa.created, sa.remote);
        let old: Vec<u64> = self
            .sas
            .of_tunnel(tunnel)
            .into_iter()
            .filter(|k| {
                *k != spi
                    && self
                        .sas
                        .get(k)
                        .is_some_and(|s| s.established.is_some_and(|e| e < created))
            })
            .collect();
        for o in old {
            self.logf(format!(
                "{tunnel}: INITIAL_CONTACT from {remote}, dropping old IKE_SA {o:016x}"
            ));
            self.remove_sa(o, now);
        }
    }

    /// Send the IKE_AUTH response (`payloads`: our ID and AUTH) with the
    /// Child SA chosen from the request, or with the reason there is none.
    fn answer_auth_with_child(
        &mut self,
        spi: u64,
        id: u32,
        t: &TunnelConfig,
        msg: &Msg,
        mut payloads: Vec<Pl>,
        now: Instant,
    ) {
        // As strongSwan: no SPI (the random source failed), no Child SA;
        // the IKE SA still comes up.
        let negotiated = self.negotiate_child(t, msg, None).and_then(|c| {
            self.random_spi32().map(|spi_in| (c, spi_in)).map_err(|e| {
                (
                    n::NO_PROPOSAL_CHOSEN,
                    format!("cannot allocate an SPI: {e}"),
                )
            })
        });
        match negotiated {
            Ok(((chosen, num, spi_out, tsi, tsr), spi_in)) => {
                payloads.push(Pl::Sa(vec![chosen.to_proposal(
                    num,
                    PROTO_ESP,
                    spi_in.to_be_bytes().to_vec(),
                )]));
                payloads.push(Pl::TsI(tsi.clone()));
                payloads.push(Pl::TsR(tsr.clone()));
                let Ok(d) = self.seal(spi, IKE_AUTH, true, id, payloads) else {
                    return;
                };
                let Some(sa) = self.sas.get(&spi) else { return };
                // The Child SA goes to the data plane first: the response
                // is held until its inbound SA is installed.
                if let Ok(keys) = sa.child_keys(&chosen, None, &sa.ni, &sa.nr) {
                    self.child_established(
                        spi, t, chosen, spi_in, spi_out, keys, false, tsr, tsi, None, now,
                    );
                }
                self.send_response(spi, id, d);
                self.dedupe_tunnel(&t.name, now);
            }
            Err((code, reason)) => {
                payloads.push(Pl::Notify {
                    protocol: 0,
                    spi: vec![],
                    ty: code,
                    data: vec![],
                });
                if let Ok(d) = self.seal(spi, IKE_AUTH, true, id, payloads) {
                    self.send_response(spi, id, d);
                }
                self.logf(format!("{}: CHILD_SA failed: {reason}", t.name));
                self.tunnel_down(&t.name, Some(TunnelStatus::Phase2Failed(reason)), now);
            }
        }
    }
}

/// MOBIKE_SUPPORTED (RFC 4555 3.2).
fn mobike_supported() -> Pl {
    Pl::Notify {
        protocol: 0,
        spi: vec![],
        ty: n::MOBIKE_SUPPORTED,
        data: vec![],
    }
}

/// Check the peer's PSK AUTH payload (RFC 7296 2.15): the initiator's
/// signs our IKE_SA_INIT request... as seen from each role, the peer
/// signs its own first message, our nonce and its ID under SK_p of its
/// side.
fn verify_peer_auth(
    sa: &IkeSa,
    key: &super::config::PeerKey,
    method: u8,
    id_type: u8,
    id: &[u8],
    auth: &[u8],
) -> Result<(), String> {
    let keys = sa.keys.as_ref().ok_or("no keys")?;
    let (msg, nonce, sk_p) = if sa.initiator {
        (&sa.init_resp, &sa.ni, keys.sk_pr.expose())
    } else {
        (&sa.init_req, &sa.nr, keys.sk_pi.expose())
    };
    if method != AUTH_PSK {
        return Err(format!(
            "peer authenticated with method {method}, not pre-shared key"
        ));
    }
    let want = psk_auth(keys.prf, &key.psk_remote, msg, nonce, sk_p, id_type, id);
    if !ct_eq(&want, auth) {
        return Err(format!(
            "PSK mismatch: peer's AUTH does not verify with the pre-shared key of keyring peer {}",
            key.name
        ));
    }
    Ok(())
}

fn expected_ids(t: &TunnelConfig) -> String {
    if let Some(r) = &t.remote_id {
        return r.to_string();
    }
    if t.remote_match.is_empty() {
        return "an identity of the keyring".into();
    }
    t.remote_match
        .iter()
        .map(|m| format!("{m:?}"))
        .collect::<Vec<_>>()
        .join(" or ")
}
