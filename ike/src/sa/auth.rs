//! IKE_AUTH, as initiator and as responder, with PSK or certificate
//! (signature) authentication in either direction.

use super::child::child_failure;
use super::config::{AuthKind, Identity, Peer, TunnelConfig};
use super::engine::{Engine, TunnelStatus};
use super::ike_sa::{ExchangeCtx, IkeSa, IkeState, Pending, Task};
use super::msg::{notify as n, Msg, Pl, Selector, IKE_AUTH};
use super::proposal::{accept_answer, esp_offer, PROTO_ESP};
use super::random::jitter;
use super::sigauth::{self, AuthInfo, AUTH_PSK};
use crate::crypto::auth::{ct_eq, psk_auth};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long the Delete of a refused peer's IKE SA waits after the
/// IKE_AUTH response ([`Engine::delete_refused`]).
const REFUSED_DELETE_DELAY: Duration = Duration::from_millis(200);

/// Which side's AUTH: the initiator's or the responder's.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Initiator,
    Responder,
}

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
        let (auth_pls, info) = match self.local_auth(spi, t, Side::Initiator, t.remote_id.as_ref())
        {
            Ok(v) => v,
            Err(reason) => {
                self.fail_phase1(spi, &t.name, reason, now);
                return;
            }
        };
        let Some(sa) = self.sas.get(&spi) else { return };
        let (id_type, id_data) = t.local_id.encode();
        let offered = esp_offer(&t.esp, spi_in.to_be_bytes(), None);
        let mut payloads = vec![Pl::IdI {
            id_type,
            data: id_data,
        }];
        let (certs, auth): (Vec<Pl>, Vec<Pl>) = auth_pls
            .into_iter()
            .partition(|p| matches!(p, Pl::Cert { .. }));
        payloads.extend(certs);
        if sigauth::remote_kinds(t).iter().any(|k| k.is_signature()) {
            payloads.extend(sigauth::certreq(&t.trustpoints));
        }
        if let Some(r) = &t.remote_id {
            let (ty, d) = r.encode();
            payloads.push(Pl::IdR {
                id_type: ty,
                data: d,
            });
        }
        payloads.extend(auth);
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
        payloads.extend(self.cp_request(t));
        payloads.push(Pl::Sa(offered.clone()));
        payloads.push(Pl::TsI(Selector::any()));
        payloads.push(Pl::TsR(Selector::any()));
        let id = sa.next_id;
        if let Some(sa) = self.sas.get_mut(&spi) {
            sa.auth_local = Some(info);
        }
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
        let (Some((ty, idd)), Some(_)) = (idr, auth) else {
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
        let info = match self.verify_remote(spi, &t, &msg, now) {
            Ok(i) => i,
            Err(why) => {
                self.reject_responder(spi);
                self.fail_phase1(spi, &tunnel, why, now);
                return;
            }
        };
        // The IKE SA is up.
        let rekey = jitter(t.ike_lifetime, spi);
        let sa = self.sas.get_mut(&spi).expect("present");
        sa.auth_remote = Some(info);
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
        self.cp_received(&t, &msg);
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
        let t = match self.tunnel_for_peer(spi, rid.as_ref(), ty, method, &adata) {
            Ok(t) => t,
            Err((why, tunnel)) => {
                self.auth_failed(spi, id, why, tunnel, now);
                return;
            }
        };
        // The initiator's CERTREQ names the CAs it trusts (RFC 7296 3.7).
        if let (Some(sa), Some(req)) = (self.sas.get_mut(&spi), msg.x509_certreq()) {
            sa.peer_certreq = Some(req);
        }
        let remote_info = match self.verify_remote(spi, &t, &msg, now) {
            Ok(i) => i,
            Err(why) => {
                self.auth_failed(spi, id, why, Some(t.name.clone()), now);
                return;
            }
        };
        // Our AUTH.
        let (lty, ldata) = t.local_id.encode();
        let (our_auth, local_info) = match self.local_auth(spi, &t, Side::Responder, rid.as_ref()) {
            Ok(v) => v,
            Err(why) => {
                let why = format!("cannot authenticate ourselves: {why}");
                self.auth_failed(spi, id, why, Some(t.name.clone()), now);
                return;
            }
        };
        // A Virtual-Template: the peer's own Virtual-Access tunnel.
        let template = t.name.clone();
        let t = if t.virtual_template.is_some() {
            self.instantiate(&t, rid.as_ref(), now)
        } else {
            t
        };
        // Bound to it from here on: the tunnel (a clone, its leases) stays
        // while this SA lives, even when INITIAL_CONTACT drops the others.
        if let Some(sa) = self.sas.get_mut(&spi) {
            sa.tunnel = Some(t.name.clone());
        }
        let cp = match self.cp_answer(&t, rid.as_ref(), &msg) {
            Ok(cp) => cp,
            Err(why) => {
                self.no_address(
                    spi,
                    id,
                    &t.name,
                    &template,
                    rid.as_ref(),
                    our_auth,
                    lty,
                    ldata,
                    why,
                    now,
                );
                return;
            }
        };
        if msg.notify(n::INITIAL_CONTACT).is_some() {
            self.initial_contact(spi, &t.name, now);
        }
        let rekey = jitter(t.ike_lifetime, spi);
        let Some(sa) = self.sas.get_mut(&spi) else {
            return;
        };
        sa.tunnel = Some(t.name.clone());
        sa.remote_id = rid.clone();
        sa.auth_local = Some(local_info);
        sa.auth_remote = Some(remote_info);
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
        let mut payloads = vec![Pl::IdR {
            id_type: lty,
            data: ldata,
        }];
        // CERT payloads come before AUTH (RFC 7296 1.2).
        payloads.extend(our_auth);
        payloads.extend(cp);
        if mobike {
            payloads.push(mobike_supported());
        }
        self.answer_auth_with_child(spi, id, &t, &msg, payloads, now);
    }

    /// The peer authenticated but its pool has no address left: answer
    /// with our AUTH and INTERNAL_ADDRESS_FAILURE, so no Child SA (RFC 7296
    /// 3.10.1), delete the IKE SA (the peer keeps it without a Child SA,
    /// RFC 7296 3.15.4, as strongSwan does, while we keep nothing for a
    /// refused peer), and show why on the template (or tunnel).
    #[allow(clippy::too_many_arguments)]
    fn no_address(
        &mut self,
        spi: u64,
        id: u32,
        tunnel: &str,
        template: &str,
        rid: Option<&Identity>,
        our_auth: Vec<Pl>,
        lty: u8,
        ldata: Vec<u8>,
        why: String,
        now: Instant,
    ) {
        let who = rid.map(|r| r.to_string()).unwrap_or_default();
        let remote = self.sas.get(&spi).map(|s| s.remote);
        let why = format!("peer {who} refused: {why}");
        self.logf(format!(
            "{template}: IKE_AUTH from {}: {why}; sending INTERNAL_ADDRESS_FAILURE",
            remote.map(|r| r.to_string()).unwrap_or_default()
        ));
        let mut payloads = vec![Pl::IdR {
            id_type: lty,
            data: ldata,
        }];
        payloads.extend(our_auth);
        payloads.push(Pl::Notify {
            protocol: 0,
            spi: vec![],
            ty: n::INTERNAL_ADDRESS_FAILURE,
            data: vec![],
        });
        if let Ok(d) = self.seal(spi, IKE_AUTH, true, id, payloads) {
            self.send_response(spi, id, d);
        }
        if !self.delete_refused(spi, now) {
            self.remove_sa(spi, now);
            self.tunnel_released(tunnel);
        }
        self.tunnel_down(template, Some(TunnelStatus::Phase2Failed(why)), now);
    }

    /// Delete the IKE SA of a peer we answered but refused, as a request
    /// retransmitted until answered (the SA, and its Virtual-Access, go
    /// with the answer or when we give up). Its first copy waits a moment
    /// after the IKE_AUTH response: an initiator that handles messages in
    /// parallel (strongSwan) ignores an INFORMATIONAL that overtakes the
    /// response ("ignoring INFORMATIONAL in IKE_SA state CONNECTING").
    /// False when there is nothing to delete with.
    fn delete_refused(&mut self, spi: u64, now: Instant) -> bool {
        let Some(id) = self.sas.get(&spi).map(|sa| sa.next_id) else {
            return false;
        };
        let payloads = vec![Pl::Delete {
            protocol: super::proposal::PROTO_IKE,
            spis: vec![],
        }];
        let Ok(data) = self.seal(spi, super::msg::INFORMATIONAL, false, id, payloads) else {
            return false;
        };
        let (interval, max_tries) = (self.cfg.retransmit_base, self.cfg.retransmit_tries);
        let Some(sa) = self.sas.get_mut(&spi) else {
            return false;
        };
        sa.next_id = id.wrapping_add(1);
        sa.state = IkeState::Deleting;
        sa.pending = Some(Pending {
            id,
            task: Task::DeleteIke,
            data,
            // The first copy counts as the first retransmission.
            tries: 0,
            next: now + REFUSED_DELETE_DELAY,
            interval,
            max_tries: max_tries + 1,
            ctx: ExchangeCtx::default(),
        });
        true
    }

    /// The responder's AUTH did not verify, but it thinks the IKE SA is
    /// up: tell it (RFC 7296 2.21.2: an INFORMATIONAL with
    /// AUTHENTICATION_FAILED, as strongSwan sends, plus the Delete of the
    /// IKE SA), once, without waiting for an answer.
    fn reject_responder(&mut self, spi: u64) {
        let Some(sa) = self.sas.get_mut(&spi) else {
            return;
        };
        if sa.keys.is_none() {
            return;
        }
        let id = sa.next_id;
        sa.next_id = sa.next_id.wrapping_add(1);
        let payloads = vec![
            Pl::Notify {
                protocol: 0,
                spi: vec![],
                ty: n::AUTHENTICATION_FAILED,
                data: vec![],
            },
            Pl::Delete {
                protocol: super::proposal::PROTO_IKE,
                spis: vec![],
            },
        ];
        if let Ok(d) = self.seal(spi, super::msg::INFORMATIONAL, false, id, payloads) {
            self.send_to_peer(spi, d);
        }
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
        method: u8,
        adata: &[u8],
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
        // A pre-shared key is needed for each direction that uses one.
        let keyed = |t: &TunnelConfig| {
            let psk = method == AUTH_PSK || t.auth_local == AuthKind::Psk;
            !psk || t.find_key(remote.ip(), rid).is_some()
        };
        let accepting: Vec<&TunnelConfig> = cands
            .iter()
            .copied()
            .filter(|t| rid.is_some_and(|r| t.accepts(r)))
            .collect();
        let usable: Vec<&TunnelConfig> = accepting
            .iter()
            .copied()
            .filter(|t| sigauth::remote_method_allowed(t, method, adata) && keyed(t))
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
            _ if accepting
                .iter()
                .any(|t| !sigauth::remote_method_allowed(t, method, adata)) =>
            {
                let t = accepting[0];
                let allowed: Vec<&str> =
                    sigauth::remote_kinds(t).iter().map(|k| k.name()).collect();
                if method == AUTH_PSK
                    || allowed.iter().all(|a| *a == "pre-share")
                    || !t.trustpoints.is_empty()
                {
                    format!(
                        "peer {who} authenticated with {}, but the profile allows authentication remote {}",
                        method_name(method),
                        allowed.join(", ")
                    )
                } else {
                    format!("peer {who} authenticated with a certificate, but the profile has no 'pki trustpoint'")
                }
            }
            _ if !accepting.is_empty() => {
                format!("no pre-shared key for peer {who} at {}", remote.ip())
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

/// Check the peer's PSK AUTH payload (RFC 7296 2.15): as seen from each
/// role, the peer MACs its own first message, our nonce and its ID under
/// SK_p of its side.
fn verify_peer_psk(
    sa: &IkeSa,
    key: &super::config::PeerKey,
    id_type: u8,
    id: &[u8],
    auth: &[u8],
) -> Result<(), String> {
    let keys = sa.keys.as_ref().ok_or("no keys")?;
    let (msg, nonce, sk_p) = peer_signed(sa, keys);
    let want = psk_auth(keys.prf, &key.psk_remote, msg, nonce, sk_p, id_type, id);
    if !ct_eq(&want, auth) {
        return Err(format!(
            "PSK mismatch: peer's AUTH does not verify with the pre-shared key of keyring peer {}",
            key.name
        ));
    }
    Ok(())
}

/// What the peer's AUTH covers: its first message, our nonce, its SK_p.
fn peer_signed<'a>(sa: &'a IkeSa, keys: &'a super::ike_sa::Keys) -> (&'a [u8], &'a [u8], &'a [u8]) {
    if sa.initiator {
        (&sa.init_resp, &sa.ni, keys.sk_pr.expose())
    } else {
        (&sa.init_req, &sa.nr, keys.sk_pi.expose())
    }
}

/// A name for an AUTH method in messages.
fn method_name(m: u8) -> String {
    match m {
        AUTH_PSK => "a pre-shared key".into(),
        sigauth::AUTH_RSA => "rsa-sig (auth method 1)".into(),
        sigauth::AUTH_ECDSA_256 | sigauth::AUTH_ECDSA_384 => format!("ecdsa-sig (auth method {m})"),
        sigauth::AUTH_DIGITAL_SIGNATURE => "a digital signature (RFC 7427)".into(),
        m => format!("auth method {m}"),
    }
}

impl Engine {
    /// Our AUTH (and CERT) payloads for `side`, as `t.auth_local` says.
    fn local_auth(
        &mut self,
        spi: u64,
        t: &TunnelConfig,
        side: Side,
        peer_id: Option<&Identity>,
    ) -> Result<(Vec<Pl>, AuthInfo), String> {
        let allow_weak = self.cfg.allow_weak;
        let sa = self.sas.get(&spi).ok_or("SA vanished")?;
        let keys = sa.keys.as_ref().ok_or("no keys")?;
        let (msg, nonce, sk_p) = match side {
            Side::Initiator => (&sa.init_req, &sa.nr, keys.sk_pi.expose()),
            Side::Responder => (&sa.init_resp, &sa.ni, keys.sk_pr.expose()),
        };
        let (lty, ldata) = t.local_id.encode();
        if t.auth_local == AuthKind::Psk {
            let remote_ip = sa.remote.ip();
            let key = t
                .find_key(remote_ip, peer_id)
                .ok_or_else(|| format!("no pre-shared key for peer {remote_ip}"))?;
            let data = psk_auth(keys.prf, &key.psk_local, msg, nonce, sk_p, lty, &ldata);
            let info = AuthInfo {
                method: "pre-shared key".into(),
                cert: None,
            };
            return Ok((
                vec![Pl::Auth {
                    method: AUTH_PSK,
                    data,
                }],
                info,
            ));
        }
        let octets = sigauth::signed_octets(keys.prf, msg, nonce, sk_p, lty, &ldata);
        let (hashes, certreq) = (sa.peer_hashes.clone(), sa.peer_certreq.clone());
        let (sig, warning) = sigauth::local_signature(
            t,
            hashes.as_deref(),
            certreq.as_deref(),
            &octets,
            allow_weak,
        )?;
        if let Some(w) = warning {
            self.logf(format!("{}: {w}", t.name));
        }
        let mut out = sig.certs;
        out.push(sig.auth);
        Ok((out, sig.info))
    }

    /// Check the peer's AUTH in `msg` (its IKE_AUTH request or response):
    /// its pre-shared key, or its certificate chain, identity and
    /// signature. Err is the reason.
    fn verify_remote(
        &mut self,
        spi: u64,
        t: &TunnelConfig,
        msg: &Msg,
        now: Instant,
    ) -> Result<AuthInfo, String> {
        let peer_initiated = !self.sas.get(&spi).ok_or("SA vanished")?.initiator;
        let (Some((id_type, idd)), Some((method, adata))) = (msg.id(peer_initiated), msg.auth())
        else {
            return Err("IKE_AUTH without the peer's ID or AUTH".into());
        };
        let (idd, adata) = (idd.as_slice(), adata.as_slice());
        let rid = Identity::decode(id_type, idd);
        let rid = rid.as_ref();
        let certs = msg.x509_certs();
        let wall = self.wall(now);
        let sa = self.sas.get(&spi).ok_or("SA vanished")?;
        if !sigauth::remote_method_allowed(t, method, adata) {
            let allowed: Vec<&str> = sigauth::remote_kinds(t).iter().map(|k| k.name()).collect();
            return Err(format!(
                "peer authenticated with {}, but the profile allows authentication remote {}",
                method_name(method),
                allowed.join(", ")
            ));
        }
        if method == AUTH_PSK {
            let key = t
                .find_key(sa.remote.ip(), rid)
                .ok_or("no pre-shared key for the peer's identity")?;
            verify_peer_psk(sa, key, id_type, idd, adata)?;
            return Ok(AuthInfo {
                method: "pre-shared key".into(),
                cert: None,
            });
        }
        let keys = sa.keys.as_ref().ok_or("no keys")?;
        let (msg, nonce, sk_p) = peer_signed(sa, keys);
        let octets = sigauth::signed_octets(keys.prf, msg, nonce, sk_p, id_type, idd);
        let (_, info) = sigauth::verify_peer_signature(
            t,
            &certs,
            method,
            adata,
            rid,
            id_type,
            &octets,
            wall,
            self.cfg.allow_weak,
        )?;
        Ok(info)
    }
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
