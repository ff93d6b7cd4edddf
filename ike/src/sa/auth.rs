//! IKE_SA_INIT and IKE_AUTH, as initiator and as responder, with PSK
//! authentication and the first Child SA.

use super::codec;
use super::config::{Identity, Peer, TunnelConfig};
use super::engine::{ChildSaParams, Engine, Output, TunnelStatus};
use super::ike_sa::{ChildSa, ExchangeCtx, IkeSa, IkeState, Task};
use super::msg::{notify as n, Msg, Pl, Selector, IKE_AUTH, IKE_SA_INIT};
use super::proposal::{
    self, accept_answer, esp_offer, ike_offer, select_esp, select_ike, Chosen, PROTO_ESP,
};
use crate::crypto::auth::{ct_eq, psk_auth};
use crate::crypto::dh::KeyExchange;
use crate::crypto::nat::nat_detection_hash;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

/// AUTH method: shared key message integrity code.
const AUTH_PSK: u8 = 2;

impl Engine {
    /// Start negotiating a tunnel (we initiate).
    pub(crate) fn initiate(&mut self, name: &str, now: Instant) {
        let Some(t) = self.tunnel_cfg(name).cloned() else {
            return;
        };
        let Peer::Address(peer) = t.peer else { return };
        if t.shutdown {
            return;
        }
        let Some(group) = t.ike.groups.first().copied() else {
            return;
        };
        let local = SocketAddr::new(
            t.local.unwrap_or(if peer.is_ipv4() {
                std::net::Ipv4Addr::UNSPECIFIED.into()
            } else {
                std::net::Ipv6Addr::UNSPECIFIED.into()
            }),
            self.port,
        );
        let remote = SocketAddr::new(peer, self.port);
        let spi_i = self.random_u64();
        let mut sa = IkeSa::new(true, spi_i, 0, local, remote, now);
        sa.tunnel = Some(name.to_string());
        sa.initial_contact = !self
            .sas
            .values()
            .any(|s| s.tunnel.as_deref() == Some(name) && s.state == IkeState::Established);
        sa.ni = self.nonce();
        match KeyExchange::generate(group, self.rng.as_mut()) {
            Ok(k) => sa.ke = Some(k),
            Err(e) => {
                self.tunnel_down(
                    name,
                    Some(TunnelStatus::Phase1Failed(format!(
                        "cannot create a key exchange for group {group}: {e:?}"
                    ))),
                    now,
                );
                return;
            }
        }
        self.logf(format!(
            "{name}: initiating IKE_SA {spi_i:016x}_i to {remote}"
        ));
        self.sas.insert(spi_i, sa);
        self.send_init(spi_i, now);
    }

    /// (Re)send our IKE_SA_INIT request.
    fn send_init(&mut self, spi: u64, now: Instant) {
        let Some(sa) = self.sas.get(&spi) else { return };
        let Some(t) = sa.tunnel.as_deref().and_then(|n| self.tunnel_cfg(n)) else {
            return;
        };
        let Some(ke) = &sa.ke else { return };
        let mut payloads = Vec::new();
        if let Some(c) = &sa.cookie {
            payloads.push(Pl::Notify {
                protocol: 0,
                spi: vec![],
                ty: n::COOKIE,
                data: c.clone(),
            });
        }
        payloads.push(Pl::Sa(ike_offer(&t.ike, &[])));
        payloads.push(Pl::Ke {
            group: ke.group(),
            data: ke.public().to_vec(),
        });
        payloads.push(Pl::Nonce(sa.ni.clone()));
        payloads.extend(nat_detection(sa.spi_i, 0, sa.local, sa.remote));
        let msg = Msg {
            spi_i: sa.spi_i,
            spi_r: 0,
            exchange: IKE_SA_INIT,
            initiator: true,
            response: false,
            id: 0,
            payloads,
        };
        let Ok(data) = codec::encode(&msg, None, self.rng.as_mut()) else {
            return;
        };
        let sa = self.sas.get_mut(&spi).expect("present");
        sa.init_req = data.clone();
        sa.next_id = 0;
        sa.pending = None;
        self.send_request(spi, Task::Init, data, ExchangeCtx::default(), now);
    }

    /// An IKE_SA_INIT request: a new responder SA, a COOKIE demand, an
    /// INVALID_KE_PAYLOAD, or the cached answer to a retransmission.
    pub(crate) fn on_init_request(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        natt: bool,
        data: &[u8],
        spi_i: u64,
    ) {
        if let Some(ours) = self.by_init.get(&(remote, spi_i)).copied() {
            if let Some((0, resp)) = self.sas.get(&ours).and_then(|s| s.last_resp.clone()) {
                self.send_to_peer(ours, resp);
            }
            return;
        }
        let msg = match codec::decode(data, None) {
            Ok(m) => m,
            Err(e) => {
                self.logf(format!("malformed IKE_SA_INIT from {remote}: {e}"));
                return;
            }
        };
        let plain = |payloads: Vec<Pl>| Msg {
            spi_i,
            spi_r: 0,
            exchange: IKE_SA_INIT,
            initiator: false,
            response: true,
            id: 0,
            payloads,
        };
        let (Some(offer), Some((group, kdata)), Some(ni)) = (msg.sa(), msg.ke(), msg.nonce())
        else {
            let reply = plain(vec![Pl::Notify {
                protocol: 0,
                spi: vec![],
                ty: n::INVALID_SYNTAX,
                data: vec![],
            }]);
            self.send_plain(local, remote, natt, &reply);
            return;
        };
        if !(16..=256).contains(&ni.len()) {
            return;
        }
        // COOKIE when too many SAs are half-open (RFC 7296 2.6).
        let half_open = self
            .sas
            .values()
            .filter(|s| s.state == IkeState::InitAnswered)
            .count();
        if half_open >= self.cfg.cookie_threshold {
            let want = self.cookie_for(ni, remote, spi_i);
            if msg.notify(n::COOKIE) != Some(want.as_slice()) {
                let reply = plain(vec![Pl::Notify {
                    protocol: 0,
                    spi: vec![],
                    ty: n::COOKIE,
                    data: want,
                }]);
                self.send_plain(local, remote, natt, &reply);
                return;
            }
        }
        // Tunnels this peer may belong to: by address, then dynamic ones.
        let cand_idx = self.candidates(local, remote);
        let cands: Vec<&TunnelConfig> = cand_idx
            .iter()
            .filter_map(|&i| self.cfg.tunnels.get(i))
            .collect();
        let local_hint = cands
            .iter()
            .find_map(|t| t.local)
            .filter(|ip| ip.is_ipv4() == remote.is_ipv4());
        let mut sel = None;
        let mut mismatch = None;
        for t in &cands {
            match select_ike(&t.ike, offer) {
                Ok(c) => {
                    sel = Some(c);
                    break;
                }
                Err(m) => mismatch = Some((t.name.clone(), m)),
            }
        }
        let Some((chosen, num)) = sel else {
            let why = match &mismatch {
                Some((_, m)) => format!("IKE proposal mismatch: {m}"),
                None => format!("no tunnel is configured for peer {}", remote.ip()),
            };
            self.logf(format!(
                "IKE_SA_INIT from {remote}: {why}; sending NO_PROPOSAL_CHOSEN"
            ));
            if let Some((t, m)) = mismatch {
                self.tunnel_down(
                    &t,
                    Some(TunnelStatus::Phase1Failed(format!(
                        "IKE proposal mismatch: {m}"
                    ))),
                    now,
                );
            }
            let reply = plain(vec![Pl::Notify {
                protocol: 0,
                spi: vec![],
                ty: n::NO_PROPOSAL_CHOSEN,
                data: vec![],
            }]);
            self.send_plain(local, remote, natt, &reply);
            return;
        };
        let want_group = chosen.dh.unwrap_or(0);
        if group != want_group {
            self.logf(format!("IKE_SA_INIT from {remote}: KE group {} but we chose {}, sending INVALID_KE_PAYLOAD", proposal::dh_name(group), proposal::dh_name(want_group)));
            let reply = plain(vec![Pl::Notify {
                protocol: 0,
                spi: vec![],
                ty: n::INVALID_KE_PAYLOAD,
                data: want_group.to_be_bytes().to_vec(),
            }]);
            self.send_plain(local, remote, natt, &reply);
            return;
        }
        let ke = match KeyExchange::generate(want_group, self.rng.as_mut()) {
            Ok(k) => k,
            Err(_) => return,
        };
        let shared = match ke.shared(kdata) {
            Ok(s) => s,
            Err(e) => {
                self.logf(format!(
                    "IKE_SA_INIT from {remote}: invalid KE payload ({e:?})"
                ));
                let reply = plain(vec![Pl::Notify {
                    protocol: 0,
                    spi: vec![],
                    ty: n::INVALID_SYNTAX,
                    data: vec![],
                }]);
                self.send_plain(local, remote, natt, &reply);
                return;
            }
        };
        let spi_r = self.random_u64();
        // A socket bound to any address does not tell which one the
        // peer reached; the tunnels' source address does (NAT detection
        // needs it, or every peer would think we are behind a NAT).
        let mut local = local;
        if local.ip().is_unspecified() {
            if let Some(ip) = local_hint {
                local.set_ip(ip);
            }
        }
        let mut sa = IkeSa::new(false, spi_i, spi_r, local, remote, now);
        sa.natt = natt;
        sa.chosen = Some(chosen);
        sa.ni = ni.to_vec();
        sa.nr = self.nonce();
        sa.init_req = data.to_vec();
        sa.peer_next_id = 1;
        // NAT detection (RFC 7296 2.23).
        let (nat_local, nat_remote) = nat_found(&msg, spi_i, 0, local, remote);
        sa.nat_local = nat_local;
        sa.nat_remote = nat_remote;
        if let Err(e) = sa.derive(shared.expose(), None) {
            self.logf(format!("IKE_SA_INIT from {remote}: {e}"));
            return;
        }
        let mut payloads = vec![
            Pl::Sa(vec![chosen.to_proposal(num, proposal::PROTO_IKE, vec![])]),
            Pl::Ke {
                group: want_group,
                data: ke.public().to_vec(),
            },
            Pl::Nonce(sa.nr.clone()),
        ];
        payloads.extend(nat_detection(spi_i, spi_r, local, remote));
        let reply = Msg {
            spi_i,
            spi_r,
            exchange: IKE_SA_INIT,
            initiator: false,
            response: true,
            id: 0,
            payloads,
        };
        let Ok(bytes) = codec::encode(&reply, None, self.rng.as_mut()) else {
            return;
        };
        sa.init_resp = bytes.clone();
        sa.last_resp = Some((0, bytes.clone()));
        self.logf(format!(
            "{remote} is initiating an IKE_SA, responding with {} (SPI {spi_r:016x}_r)",
            chosen.describe()
        ));
        self.sas.insert(spi_r, sa);
        self.by_init.insert((remote, spi_i), spi_r);
        self.out.push_back(Output::Send {
            local,
            remote,
            natt,
            data: bytes,
        });
    }

    fn cookie_for(&self, ni: &[u8], remote: SocketAddr, spi_i: u64) -> Vec<u8> {
        let ip = match remote.ip() {
            std::net::IpAddr::V4(a) => a.octets().to_vec(),
            std::net::IpAddr::V6(a) => a.octets().to_vec(),
        };
        let mut c = vec![0u8]; // version of the secret
        c.extend(
            crate::crypto::alg::PrfAlg::HmacSha256
                .prf_parts(&self.cookie_secret, &[ni, &ip, &spi_i.to_be_bytes()]),
        );
        c
    }

    pub(crate) fn send_plain(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        natt: bool,
        msg: &Msg,
    ) {
        if let Ok(data) = codec::encode(msg, None, self.rng.as_mut()) {
            self.out.push_back(Output::Send {
                local,
                remote,
                natt,
                data,
            });
        }
    }

    /// The answer to our IKE_SA_INIT.
    pub(crate) fn on_init_response(&mut self, now: Instant, spi: u64, data: &[u8]) {
        let Ok(msg) = codec::decode(data, None) else {
            return;
        };
        let Some(sa) = self.sas.get_mut(&spi) else {
            return;
        };
        let tunnel = sa.tunnel.clone().unwrap_or_default();
        if let Some(c) = msg.notify(n::COOKIE) {
            if sa.cookie.as_deref() == Some(c) {
                return;
            }
            sa.cookie = Some(c.to_vec());
            self.logf(format!("{tunnel}: responder asks for a COOKIE, retrying"));
            self.send_init(spi, now);
            return;
        }
        if let Some(g) = msg.notify(n::INVALID_KE_PAYLOAD) {
            let group = if g.len() >= 2 {
                u16::from_be_bytes([g[0], g[1]])
            } else {
                0
            };
            let ok = self
                .tunnel_cfg(&tunnel)
                .is_some_and(|t| t.ike.groups.contains(&group));
            let tried = self
                .sas
                .get(&spi)
                .and_then(|s| s.ke.as_ref())
                .is_some_and(|k| k.group() == group);
            if !ok || tried {
                let reason = format!(
                    "peer requires DH group {} which we do not offer",
                    proposal::dh_name(group)
                );
                self.logf(format!("{tunnel}: {reason}"));
                self.remove_sa(spi, now);
                self.tunnel_down(&tunnel, Some(TunnelStatus::Phase1Failed(reason)), now);
                return;
            }
            self.logf(format!(
                "{tunnel}: peer wants {}, retrying IKE_SA_INIT",
                proposal::dh_name(group)
            ));
            match KeyExchange::generate(group, self.rng.as_mut()) {
                Ok(k) => {
                    if let Some(sa) = self.sas.get_mut(&spi) {
                        sa.ke = Some(k);
                    }
                    self.send_init(spi, now);
                }
                Err(_) => self.remove_sa(spi, now),
            }
            return;
        }
        if let Some((ty, _)) = msg.error() {
            let offered = self
                .tunnel_cfg(&tunnel)
                .map(|t| proposal::describe_offer(&ike_offer(&t.ike, &[])))
                .unwrap_or_default();
            let reason = if ty == n::NO_PROPOSAL_CHOSEN {
                format!("IKE proposal mismatch: we offered {offered}, peer accepted none (NO_PROPOSAL_CHOSEN)")
            } else {
                format!("peer answered IKE_SA_INIT with {}", n::name(ty))
            };
            self.logf(format!("{tunnel}: {reason}"));
            self.remove_sa(spi, now);
            self.tunnel_down(&tunnel, Some(TunnelStatus::Phase1Failed(reason)), now);
            return;
        }
        let Some(t) = self.tunnel_cfg(&tunnel).cloned() else {
            return;
        };
        let offered = ike_offer(&t.ike, &[]);
        let chosen = msg
            .sa()
            .and_then(|p| p.first())
            .and_then(|p| accept_answer(&offered, p));
        let (Some(chosen), Some((group, kdata)), Some(nr)) = (chosen, msg.ke(), msg.nonce()) else {
            self.fail_phase1(
                spi,
                &tunnel,
                "invalid IKE_SA_INIT response (proposal not one we offered, or KE/nonce missing)"
                    .into(),
                now,
            );
            return;
        };
        let sa = self.sas.get_mut(&spi).expect("present");
        let Some(ke) = sa.ke.take() else { return };
        if Some(group) != chosen.dh || ke.group() != group {
            self.fail_phase1(
                spi,
                &tunnel,
                "responder's KE group differs from the chosen proposal".into(),
                now,
            );
            return;
        }
        let shared = match ke.shared(kdata) {
            Ok(s) => s,
            Err(e) => {
                self.fail_phase1(
                    spi,
                    &tunnel,
                    format!("invalid KE payload from peer: {e:?}"),
                    now,
                );
                return;
            }
        };
        let sa = self.sas.get_mut(&spi).expect("present");
        sa.spi_r = msg.spi_r;
        sa.nr = nr.to_vec();
        sa.chosen = Some(chosen);
        sa.init_resp = data.to_vec();
        sa.pending = None;
        let (nat_local, nat_remote) = nat_found(&msg, sa.spi_i, sa.spi_r, sa.local, sa.remote);
        sa.nat_local = nat_local;
        sa.nat_remote = nat_remote;
        if let Err(e) = sa.derive(shared.expose(), None) {
            self.fail_phase1(spi, &tunnel, e, now);
            return;
        }
        if nat_local || nat_remote {
            // Float to 4500 (RFC 7296 2.23).
            sa.natt = true;
            sa.remote.set_port(self.natt_port);
            sa.local.set_port(self.natt_port);
        }
        sa.state = IkeState::AuthSent;
        self.send_auth(spi, &t, now);
    }

    fn fail_phase1(&mut self, spi: u64, tunnel: &str, reason: String, now: Instant) {
        self.logf(format!("{tunnel}: {reason}"));
        self.remove_sa(spi, now);
        self.tunnel_down(tunnel, Some(TunnelStatus::Phase1Failed(reason)), now);
    }

    fn send_auth(&mut self, spi: u64, t: &TunnelConfig, now: Instant) {
        let spi_in = self.random_spi32();
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
        let rekey = self.jitter(t.ike_lifetime);
        let sa = self.sas.get_mut(&spi).expect("present");
        sa.remote_id = rid.clone();
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

    /// Record a new Child SA and hand it to the data plane.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn child_established(
        &mut self,
        spi: u64,
        t: &TunnelConfig,
        chosen: Chosen,
        spi_in: u32,
        spi_out: u32,
        keys: crate::crypto::keys::ChildKeys,
        we_initiated: bool,
        ts_local: Vec<Selector>,
        ts_remote: Vec<Selector>,
        rekey_of: Option<u32>,
        now: Instant,
    ) {
        let rekey = self.jitter(t.child_lifetime);
        let Some(sa) = self.sas.get_mut(&spi) else {
            return;
        };
        sa.children.push(ChildSa {
            spi_in,
            spi_out,
            chosen,
            ts_local,
            ts_remote,
            created: now,
            rekey_at: now + rekey,
            expire_at: now + t.child_lifetime + t.child_lifetime / 10,
            rekeyed: false,
            superseded: false,
        });
        let params = ChildSaParams {
            tunnel: t.name.clone(),
            spi_in,
            spi_out,
            chosen,
            keys,
            we_initiated,
            local: sa.local,
            remote: sa.remote,
            encap: sa.natt,
            replay_window: t.replay_window,
            rekey_of,
            lifetime_kb: t.child_lifetime_kb,
        };
        let msg = format!(
            "{}: CHILD_SA established with SPIs {spi_in:08x}_i {spi_out:08x}_o and {}",
            t.name,
            chosen.describe()
        );
        self.logf(msg);
        self.out.push_back(Output::ChildUp(params));
        self.await_install(
            spi,
            spi_in,
            super::install::Installing {
                ike: spi,
                tunnel: t.name.clone(),
                spi_out,
                rekey_of,
                we_initiated,
                deadline: now + super::install::INSTALL_TIMEOUT,
            },
        );
        self.tunnel_up(&t.name, now);
    }

    /// Both ends initiated: keep the IKE SA with the lower SPIi, as both
    /// sides see the same two SAs and so agree without talking.
    pub(crate) fn dedupe_tunnel(&mut self, tunnel: &str, now: Instant) {
        // The tunnel is up: an initiation of ours still in IKE_SA_INIT is
        // no longer needed (the peer holds at most a half-open SA for it,
        // which expires).
        let up = self
            .sas
            .values()
            .any(|s| s.tunnel.as_deref() == Some(tunnel) && s.state == IkeState::Established);
        if up {
            let stale: Vec<u64> = self
                .sas
                .iter()
                .filter(|(_, s)| {
                    s.tunnel.as_deref() == Some(tunnel) && s.state == IkeState::InitSent
                })
                .map(|(k, _)| *k)
                .collect();
            for spi in stale {
                self.logf(format!(
                    "{tunnel}: tunnel is up, abandoning our IKE_SA_INIT {spi:016x}"
                ));
                self.sas.remove(&spi);
            }
        }
        let mut est: Vec<(u64, u64)> = self
            .sas
            .iter()
            .filter(|(_, s)| {
                s.tunnel.as_deref() == Some(tunnel)
                    && s.state == IkeState::Established
                    && s.successor.is_none()
            })
            .map(|(k, s)| (s.spi_i, *k))
            .collect();
        if est.len() < 2 {
            return;
        }
        est.sort();
        for (_, spi) in est.into_iter().skip(1) {
            self.logf(format!(
                "{tunnel}: duplicate IKE_SA {spi:016x}, deleting it"
            ));
            if let Some(sa) = self.sas.get_mut(&spi) {
                // Its Child SAs go with it; keep the tunnel up.
                sa.state = IkeState::Rekeyed;
            }
            self.send_ike_delete_now(spi);
            self.remove_sa(spi, now);
        }
    }

    /// An IKE_AUTH request (we are the responder).
    pub(crate) fn on_auth_request(&mut self, now: Instant, spi: u64, msg: Msg) {
        let Some(sa) = self.sas.get(&spi) else { return };
        let idi = msg.id(true);
        let auth = msg.auth();
        let id = msg.id;
        let remote = sa.remote;
        let fail = |e: &mut Engine, why: String, tunnel: Option<String>| {
            e.logf(format!(
                "IKE_AUTH from {remote}: {why}; sending AUTHENTICATION_FAILED"
            ));
            if let Ok(d) = e.seal(
                spi,
                IKE_AUTH,
                true,
                id,
                vec![Pl::Notify {
                    protocol: 0,
                    spi: vec![],
                    ty: n::AUTHENTICATION_FAILED,
                    data: vec![],
                }],
            ) {
                e.send_response(spi, id, d);
            }
            e.remove_sa(spi, now);
            if let Some(t) = tunnel {
                e.tunnel_down(&t, Some(TunnelStatus::Phase1Failed(why)), now);
            }
        };
        let (Some((ty, idd)), Some((method, adata))) = (idi, auth) else {
            fail(
                self,
                "IDi or AUTH missing (EAP is not supported)".into(),
                None,
            );
            return;
        };
        let rid = Identity::decode(ty, &idd);
        // The tunnels this peer may belong to; one pass over the SAs finds
        // which interfaces already serve a peer (and whom).
        let cand_idx = self.candidates(sa.local, remote);
        let mut bound: HashMap<&str, Option<Identity>> = HashMap::new();
        for (k, s) in &self.sas {
            if *k != spi && s.state == IkeState::Established {
                if let Some(t) = s.tunnel.as_deref() {
                    bound.insert(t, s.remote_id.clone());
                }
            }
        }
        let cands: Vec<&TunnelConfig> = cand_idx
            .iter()
            .filter_map(|&i| self.cfg.tunnels.get(i))
            .collect();
        // A dynamic hub interface serves one peer at a time: prefer the
        // one this peer already has (reconnect), then a free one; never
        // one bound to another peer.
        let usable: Vec<&TunnelConfig> = cands
            .iter()
            .copied()
            .filter(|t| {
                rid.as_ref().is_some_and(|r| t.accepts(r))
                    && t.find_key(remote.ip(), rid.as_ref()).is_some()
            })
            .collect();
        let tunnel = usable
            .iter()
            .find(|t| bound.get(t.name.as_str()).is_some_and(|id| *id == rid))
            .or_else(|| {
                usable
                    .iter()
                    .find(|t| !bound.contains_key(t.name.as_str()) || t.peer != Peer::Dynamic)
            })
            .map(|t| (*t).clone());
        let first = cands.first().map(|c| (c.name.clone(), expected_ids(c)));
        let any_usable = !usable.is_empty();
        let Some(t) = tunnel else {
            let who = rid
                .as_ref()
                .map(|r| r.to_string())
                .unwrap_or_else(|| format!("an identity of type {ty}"));
            let why = match &first {
                _ if any_usable => format!("every tunnel interface for {who} serves another peer"),
                Some((_, expect)) => {
                    format!("identity mismatch: peer is {who}, we expect {expect}")
                }
                None => format!("no tunnel accepts peer {who}"),
            };
            fail(self, why, first.map(|f| f.0));
            return;
        };
        let key = t
            .find_key(remote.ip(), rid.as_ref())
            .expect("checked above")
            .clone();
        let sa = self.sas.get(&spi).expect("present");
        let keys = sa.keys.as_ref().expect("keys after INIT");
        if let Err(why) = verify_peer_auth(sa, &key, method, ty, &idd, &adata) {
            fail(self, why, Some(t.name.clone()));
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
            // The peer restarted: its old SAs with us are gone.
            // Only SAs from before this one: a simultaneous initiation by
            // both ends is not a restart.
            let created = self.sas.get(&spi).map(|s| s.created).unwrap_or(now);
            let old: Vec<u64> = self
                .sas
                .iter()
                .filter(|(k, s)| {
                    **k != spi
                        && s.tunnel.as_deref() == Some(t.name.as_str())
                        && s.established.is_some_and(|e| e < created)
                })
                .map(|(k, _)| *k)
                .collect();
            for o in old {
                self.logf(format!(
                    "{}: INITIAL_CONTACT from {remote}, dropping old IKE_SA {o:016x}",
                    t.name
                ));
                self.remove_sa(o, now);
            }
        }
        let rekey = self.jitter(t.ike_lifetime);
        let sa = self.sas.get_mut(&spi).expect("present");
        sa.tunnel = Some(t.name.clone());
        sa.remote_id = rid.clone();
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
        // The Child SA.
        let child = self.negotiate_child(&t, &msg, None);
        match child {
            Ok((chosen, num, spi_out, tsi, tsr)) => {
                let spi_in = self.random_spi32();
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
                let sa = self.sas.get(&spi).expect("present");
                let (ni, nr) = (sa.ni.clone(), sa.nr.clone());
                // The Child SA goes to the data plane first: the response
                // is held until its inbound SA is installed.
                if let Ok(keys) = sa.child_keys(&chosen, None, &ni, &nr) {
                    self.child_established(
                        spi, &t, chosen, spi_in, spi_out, keys, false, tsr, tsi, None, now,
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

    /// Choose a Child SA from a request (IKE_AUTH or CREATE_CHILD_SA):
    /// (chosen, proposal number, peer's SPI, TSi, TSr) or the error notify
    /// and the reason.
    #[allow(clippy::type_complexity)]
    pub(crate) fn negotiate_child(
        &self,
        t: &TunnelConfig,
        msg: &Msg,
        dh: Option<u16>,
    ) -> Result<(Chosen, u8, u32, Vec<Selector>, Vec<Selector>), (u16, String)> {
        if msg.notify(n::USE_TRANSPORT_MODE).is_some() {
            return Err((
                n::NO_PROPOSAL_CHOSEN,
                "peer asked for transport mode; tunnel interfaces use tunnel mode".into(),
            ));
        }
        let offer = msg
            .sa()
            .ok_or((n::INVALID_SYNTAX, "no SA payload".to_string()))?;
        let (chosen, num, spi) = select_esp(&t.esp, offer, dh)
            .map_err(|m| (n::NO_PROPOSAL_CHOSEN, format!("ESP proposal mismatch: {m}")))?;
        let spi_out = <[u8; 4]>::try_from(spi.as_slice())
            .map(u32::from_be_bytes)
            .map_err(|_| (n::INVALID_SYNTAX, "bad ESP SPI".to_string()))?;
        let (tsi, tsr) = msg
            .ts()
            .ok_or((n::TS_UNACCEPTABLE, "no traffic selectors".to_string()))?;
        if let Some(bad) = tsi.iter().chain(tsr).find(|s| !s.all_traffic()) {
            return Err((n::TS_UNACCEPTABLE, format!("selector mismatch: peer proposed {bad}; a route-based tunnel needs any protocol and port")));
        }
        if tsi.is_empty() || tsr.is_empty() {
            return Err((
                n::TS_UNACCEPTABLE,
                "selector mismatch: empty traffic selectors".into(),
            ));
        }
        Ok((chosen, num, spi_out, tsi.to_vec(), tsr.to_vec()))
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

fn child_failure(e: u16, t: &TunnelConfig) -> String {
    match e {
        n::NO_PROPOSAL_CHOSEN => format!("ESP proposal mismatch: we offered {}, peer accepted none (NO_PROPOSAL_CHOSEN)", proposal::describe_offer(&esp_offer(&t.esp, [0; 4], None))),
        n::TS_UNACCEPTABLE => "selector mismatch: peer refused 0.0.0.0/0 and ::/0 (TS_UNACCEPTABLE); configure the peer for a route-based tunnel".into(),
        other => format!("peer answered with {}", n::name(other)),
    }
}

/// NAT_DETECTION_SOURCE_IP and _DESTINATION_IP for a message we send.
pub(crate) fn nat_detection(
    spi_i: u64,
    spi_r: u64,
    local: SocketAddr,
    remote: SocketAddr,
) -> Vec<Pl> {
    let (i, r) = (spi_i.to_be_bytes(), spi_r.to_be_bytes());
    vec![
        Pl::Notify {
            protocol: 0,
            spi: vec![],
            ty: n::NAT_DETECTION_SOURCE_IP,
            data: nat_detection_hash(&i, &r, local.ip(), local.port()).to_vec(),
        },
        Pl::Notify {
            protocol: 0,
            spi: vec![],
            ty: n::NAT_DETECTION_DESTINATION_IP,
            data: nat_detection_hash(&i, &r, remote.ip(), remote.port()).to_vec(),
        },
    ]
}

/// (we are behind a NAT, the peer is behind a NAT) from a received message.
/// An unspecified local address (socket bound to any) cannot be checked:
/// we then only trust the peer's view of us when it sent a source hash.
pub(crate) fn nat_found(
    msg: &Msg,
    spi_i: u64,
    spi_r: u64,
    local: SocketAddr,
    remote: SocketAddr,
) -> (bool, bool) {
    let (i, r) = (spi_i.to_be_bytes(), spi_r.to_be_bytes());
    let dst = msg.notify(n::NAT_DETECTION_DESTINATION_IP);
    let src = msg.notify(n::NAT_DETECTION_SOURCE_IP);
    let nat_local = match dst {
        Some(d) if !local.ip().is_unspecified() => {
            d != nat_detection_hash(&i, &r, local.ip(), local.port())
        }
        _ => false,
    };
    let nat_remote = match src {
        Some(s) => s != nat_detection_hash(&i, &r, remote.ip(), remote.port()),
        None => false,
    };
    (nat_local, nat_remote)
}
