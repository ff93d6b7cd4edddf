//! Request/response dispatch after IKE_SA_INIT, CREATE_CHILD_SA (Child
//! and IKE rekey, RFC 7296 1.3 and 2.8 including collisions) and
//! INFORMATIONAL (delete, liveness).

use super::codec::Header;
use super::engine::{Engine, Output, TunnelStatus};
use super::ike_sa::{ExchangeCtx, IkeSa, IkeState, Task};
use super::msg::{notify as n, Msg, Pl, CREATE_CHILD_SA, IKE_AUTH, IKE_SA_INIT, INFORMATIONAL};
use super::proposal::{accept_answer, esp_offer, ike_offer, select_ike, PROTO_ESP, PROTO_IKE};
use crate::crypto::dh::KeyExchange;
use std::time::Instant;

impl Engine {
    /// A request from the peer on an existing SA.
    pub(crate) fn on_request(
        &mut self,
        now: Instant,
        spi: u64,
        data: &[u8],
        hdr: Header,
        from: super::engine::Path,
    ) {
        let Some(sa) = self.sas.get_mut(&spi) else {
            return;
        };
        // Retransmitted request: answer again with the same bytes.
        if let Some((id, resp)) = &sa.last_resp {
            if *id == hdr.id
                && hdr.id.wrapping_add(1) == sa.peer_next_id
                && super::frag::answers_retransmit(data)
            {
                let resp = resp.clone();
                self.reply_to = Some(from);
                self.send_response(spi, hdr.id, resp);
                self.reply_to = None;
                return;
            }
        }
        if hdr.id != sa.peer_next_id {
            return; // outside the window (RFC 7296 2.3): drop silently
        }
        if sa.keys.is_none() {
            return;
        }
        let msg = match self.open_or_reassemble(spi, data, hdr, now) {
            Ok(Some(m)) => m,
            Ok(None) => return, // a fragment, kept (RFC 7383)
            Err(e) => {
                // RFC 7296 2.5: an unknown payload marked critical is
                // answered with UNSUPPORTED_CRITICAL_PAYLOAD naming its type.
                if let super::codec::CodecError::UnsupportedCritical(ty) = e {
                    if let Ok(d) = self.seal(
                        spi,
                        hdr.exchange,
                        true,
                        hdr.id,
                        vec![Pl::Notify {
                            protocol: 0,
                            spi: vec![],
                            ty: n::UNSUPPORTED_CRITICAL_PAYLOAD,
                            data: vec![ty],
                        }],
                    ) {
                        self.send_response(spi, hdr.id, d);
                    }
                }
                // Anyone who saw the SPIs can send these: rate-limited.
                self.log_noise(super::guard::Noise::Malformed, now, || {
                    format!("dropping request {} of IKE_SA {spi:016x}: {e}", hdr.id)
                });
                return;
            }
        };
        self.follow_peer(spi, from);
        if let Some(sa) = self.sas.get_mut(&spi) {
            sa.last_heard = now;
        }
        self.reply_to = Some(from);
        self.dispatch_request(now, spi, msg);
        self.reply_to = None;
    }

    fn dispatch_request(&mut self, now: Instant, spi: u64, msg: Msg) {
        match (msg.exchange, self.sas.get(&spi).map(|s| s.state)) {
            (IKE_AUTH, Some(IkeState::InitAnswered)) => self.on_auth_request(now, spi, msg),
            (CREATE_CHILD_SA, Some(IkeState::Established)) => {
                self.on_create_child_request(now, spi, msg)
            }
            // Rekeyed or being deleted: the peer retries on the new SA.
            (CREATE_CHILD_SA, Some(_)) => {
                self.notify_reply(spi, CREATE_CHILD_SA, msg.id, n::TEMPORARY_FAILURE)
            }
            (INFORMATIONAL, Some(_)) => self.on_informational_request(now, spi, msg),
            (ex, _) => {
                let reply = vec![Pl::Notify {
                    protocol: 0,
                    spi: vec![],
                    ty: n::INVALID_SYNTAX,
                    data: vec![],
                }];
                if let Ok(d) = self.seal(spi, ex, true, msg.id, reply) {
                    self.send_response(spi, msg.id, d);
                }
            }
        }
    }

    /// A response to one of our requests.
    pub(crate) fn on_response(
        &mut self,
        now: Instant,
        spi: u64,
        data: &[u8],
        hdr: Header,
        from: super::engine::Path,
    ) {
        let Some(sa) = self.sas.get_mut(&spi) else {
            return;
        };
        let Some(p) = &sa.pending else { return };
        if p.id != hdr.id {
            return;
        }
        if hdr.exchange == IKE_SA_INIT {
            if sa.state == IkeState::InitSent {
                sa.last_heard = now;
                self.on_init_response(now, spi, data);
            }
            return;
        }
        let msg = match self.open_or_reassemble(spi, data, hdr, now) {
            Ok(Some(m)) => m,
            Ok(None) => return, // a fragment, kept (RFC 7383)
            Err(e) => {
                self.log_noise(super::guard::Noise::Malformed, now, || {
                    format!("dropping response {} of IKE_SA {spi:016x}: {e}", hdr.id)
                });
                return;
            }
        };
        self.follow_peer(spi, from);
        let sa = self.sas.get_mut(&spi).expect("present");
        sa.last_heard = now;
        let p = sa.pending.take().expect("checked");
        match p.task {
            Task::Init => {}
            Task::Auth => self.on_auth_response(now, spi, msg, p.ctx),
            Task::RekeyChild { spi_in } => {
                self.on_rekey_child_response(now, spi, spi_in, msg, p.ctx)
            }
            Task::RekeyIke => self.on_rekey_ike_response(now, spi, msg, p.ctx),
            Task::DeleteChild { spi_in } => self.on_delete_child_response(now, spi, spi_in),
            Task::DeleteIke => self.remove_sa(spi, now),
            Task::Dpd => {}
            Task::UpdateAddresses => self.on_update_response(spi, &msg, &p.ctx, now),
        }
        self.run_queue(spi, now);
    }

    /// Start a queued task; false when it turned out to have nothing to do.
    pub(crate) fn start_task(&mut self, spi: u64, task: Task, now: Instant) -> bool {
        let Some(sa) = self.sas.get(&spi) else {
            return false;
        };
        let Some(t) = sa
            .tunnel
            .as_deref()
            .and_then(|n| self.tunnel_cfg(n))
            .cloned()
        else {
            return false;
        };
        let id = sa.next_id;
        match task.clone() {
            Task::Dpd => {
                let Ok(d) = self.seal(spi, INFORMATIONAL, false, id, vec![]) else {
                    return false;
                };
                self.send_request(spi, task, d, ExchangeCtx::default(), now);
                true
            }
            Task::DeleteChild { spi_in } => {
                if sa.child_by_in(spi_in).is_none() {
                    return false;
                }
                let Ok(d) = self.seal(
                    spi,
                    INFORMATIONAL,
                    false,
                    id,
                    vec![Pl::Delete {
                        protocol: PROTO_ESP,
                        spis: vec![spi_in.to_be_bytes().to_vec()],
                    }],
                ) else {
                    return false;
                };
                self.send_request(spi, task, d, ExchangeCtx::default(), now);
                true
            }
            Task::DeleteIke => {
                let Ok(d) = self.seal(
                    spi,
                    INFORMATIONAL,
                    false,
                    id,
                    vec![Pl::Delete {
                        protocol: PROTO_IKE,
                        spis: vec![],
                    }],
                ) else {
                    return false;
                };
                if let Some(sa) = self.sas.get_mut(&spi) {
                    sa.state = IkeState::Deleting;
                }
                self.send_request(spi, task, d, ExchangeCtx::default(), now);
                true
            }
            Task::RekeyChild { spi_in } => {
                if sa.state != IkeState::Established || sa.child_by_in(spi_in).is_none() {
                    return false;
                }
                let (new_spi, nonce) =
                    match self.random_spi32().and_then(|v| Ok((v, self.nonce()?))) {
                        Ok(v) => v,
                        Err(_) => {
                            self.rng_failed(&format!("{}: rekeying CHILD_SA", t.name), now);
                            return false;
                        }
                    };
                let ke = match t.esp.pfs {
                    // With PFS a key exchange is required: its failure
                    // fails the rekey instead of leaving PFS out.
                    Some(g) => match KeyExchange::generate(g, self.rng.as_mut()) {
                        Ok(k) => Some(k),
                        Err(e) => {
                            self.rng_failed(
                                &format!("{}: rekeying CHILD_SA (key exchange: {e})", t.name),
                                now,
                            );
                            return false;
                        }
                    },
                    None => None,
                };
                let offered = esp_offer(&t.esp, new_spi.to_be_bytes(), t.esp.pfs);
                let mut payloads = vec![
                    Pl::Notify {
                        protocol: PROTO_ESP,
                        spi: spi_in.to_be_bytes().to_vec(),
                        ty: n::REKEY_SA,
                        data: vec![],
                    },
                    Pl::Sa(offered.clone()),
                    Pl::Nonce(nonce.clone()),
                ];
                if let Some(k) = &ke {
                    payloads.push(Pl::Ke {
                        group: k.group(),
                        data: k.public().to_vec(),
                    });
                }
                let sa = self.sas.get(&spi).expect("present");
                let c = &sa.children[sa.child_by_in(spi_in).expect("checked")];
                payloads.push(Pl::TsI(c.ts_local.clone()));
                payloads.push(Pl::TsR(c.ts_remote.clone()));
                let Ok(d) = self.seal(spi, CREATE_CHILD_SA, false, id, payloads) else {
                    return false;
                };
                self.logf(format!("{}: rekeying CHILD_SA {spi_in:08x}_i", t.name));
                self.send_request(
                    spi,
                    task,
                    d,
                    ExchangeCtx {
                        nonce,
                        ke,
                        new_spi_in: new_spi,
                        offered,
                        ..Default::default()
                    },
                    now,
                );
                true
            }
            Task::RekeyIke => {
                if sa.state != IkeState::Established || sa.successor.is_some() {
                    return false;
                }
                let group = sa
                    .chosen
                    .and_then(|c| c.dh)
                    .or(t.ike.groups.first().copied())
                    .unwrap_or(31);
                let (new_spi, nonce) = match self.random_u64().and_then(|v| Ok((v, self.nonce()?)))
                {
                    Ok(v) => v,
                    Err(_) => {
                        self.rng_failed(&format!("{}: rekeying IKE_SA", t.name), now);
                        return false;
                    }
                };
                let ke = match KeyExchange::generate(group, self.rng.as_mut()) {
                    Ok(k) => k,
                    Err(e) => {
                        let what = format!("{}: rekeying IKE_SA (key exchange: {e})", t.name);
                        self.rng_failed(&what, now);
                        return false;
                    }
                };
                let offered = ike_offer(&t.ike, &new_spi.to_be_bytes());
                let payloads = vec![
                    Pl::Sa(offered.clone()),
                    Pl::Nonce(nonce.clone()),
                    Pl::Ke {
                        group,
                        data: ke.public().to_vec(),
                    },
                ];
                let Ok(d) = self.seal(spi, CREATE_CHILD_SA, false, id, payloads) else {
                    return false;
                };
                self.logf(format!("{}: rekeying IKE_SA {spi:016x}", t.name));
                self.send_request(
                    spi,
                    task,
                    d,
                    ExchangeCtx {
                        nonce,
                        ke: Some(ke),
                        new_ike_spi: new_spi,
                        offered,
                        ..Default::default()
                    },
                    now,
                );
                true
            }
            Task::UpdateAddresses => self.send_update(spi, now),
            Task::Init | Task::Auth => false,
        }
    }

    fn respond(&mut self, spi: u64, exchange: u8, id: u32, payloads: Vec<Pl>) {
        if let Ok(d) = self.seal(spi, exchange, true, id, payloads) {
            self.send_response(spi, id, d);
        }
    }

    /// INVALID_KE_PAYLOAD naming the group we want (RFC 7296 1.3).
    fn invalid_ke_reply(&mut self, spi: u64, id: u32, group: u16) {
        self.respond(
            spi,
            CREATE_CHILD_SA,
            id,
            vec![Pl::Notify {
                protocol: 0,
                spi: vec![],
                ty: n::INVALID_KE_PAYLOAD,
                data: group.to_be_bytes().to_vec(),
            }],
        );
    }

    pub(crate) fn notify_reply(&mut self, spi: u64, exchange: u8, id: u32, ty: u16) {
        self.respond(
            spi,
            exchange,
            id,
            vec![Pl::Notify {
                protocol: 0,
                spi: vec![],
                ty,
                data: vec![],
            }],
        );
    }

    /// CREATE_CHILD_SA from the peer: rekey of a Child SA, rekey of the
    /// IKE SA, or a new Child SA (refused: one per tunnel).
    fn on_create_child_request(&mut self, now: Instant, spi: u64, msg: Msg) {
        let Some(sa) = self.sas.get(&spi) else { return };
        let Some(t) = sa
            .tunnel
            .as_deref()
            .and_then(|x| self.tunnel_cfg(x))
            .cloned()
        else {
            return;
        };
        let Some(ni) = msg.nonce().map(|x| x.to_vec()) else {
            self.notify_reply(spi, CREATE_CHILD_SA, msg.id, n::INVALID_SYNTAX);
            return;
        };
        // IKE SA rekey: an SA payload with IKE proposals.
        if msg
            .sa()
            .is_some_and(|p| p.iter().any(|x| x.protocol == PROTO_IKE))
        {
            self.on_rekey_ike_request(now, spi, msg, ni);
            return;
        }
        let Some(old_out) = msg
            .notify_spi(n::REKEY_SA)
            .and_then(|s| <[u8; 4]>::try_from(s).ok())
            .map(u32::from_be_bytes)
        else {
            self.logf(format!(
                "{}: peer asked for an additional CHILD_SA; one per tunnel interface, refusing",
                t.name
            ));
            self.notify_reply(spi, CREATE_CHILD_SA, msg.id, n::NO_ADDITIONAL_SAS);
            return;
        };
        let Some(idx) = sa.child_by_out(old_out) else {
            self.respond(
                spi,
                CREATE_CHILD_SA,
                msg.id,
                vec![Pl::Notify {
                    protocol: PROTO_ESP,
                    spi: old_out.to_be_bytes().to_vec(),
                    ty: n::CHILD_SA_NOT_FOUND,
                    data: vec![],
                }],
            );
            return;
        };
        let old_in = sa.children[idx].spi_in;
        if sa.children[idx].superseded {
            // We rekeyed it already and its delete is on the way
            // (RFC 7296 2.25).
            self.notify_reply(spi, CREATE_CHILD_SA, msg.id, n::TEMPORARY_FAILURE);
            return;
        }
        let ke_in = msg.ke().map(|(g, d)| (g, d.to_vec()));
        let (chosen, num, spi_out, tsi, tsr) =
            match self.negotiate_child(&t, &msg, ke_in.as_ref().map(|k| k.0)) {
                Ok(c) => c,
                Err((code, reason)) => {
                    if code == n::NO_PROPOSAL_CHOSEN && ke_in.is_some() {
                        // Maybe only the group differs: tell the peer ours.
                        if let Some(g) = t.esp.pfs {
                            self.invalid_ke_reply(spi, msg.id, g);
                            return;
                        }
                    }
                    self.logf(format!("{}: refusing CHILD_SA rekey: {reason}", t.name));
                    self.notify_reply(spi, CREATE_CHILD_SA, msg.id, code);
                    return;
                }
            };
        // As strongSwan: without a nonce or an SPI (the random source
        // failed) the rekey is refused with NO_PROPOSAL_CHOSEN.
        let (nr, spi_in) = match self.nonce().and_then(|v| Ok((v, self.random_spi32()?))) {
            Ok(v) => v,
            Err(_) => {
                self.rng_failed(&format!("{}: CHILD_SA rekey", t.name), now);
                self.notify_reply(spi, CREATE_CHILD_SA, msg.id, n::NO_PROPOSAL_CHOSEN);
                return;
            }
        };
        let mut our_ke = None;
        let mut g_ir = None;
        if let Some((g, d)) = &ke_in {
            let Ok(k) = KeyExchange::generate(*g, self.rng.as_mut()) else {
                self.rng_failed(&format!("{}: CHILD_SA rekey (key exchange)", t.name), now);
                self.notify_reply(spi, CREATE_CHILD_SA, msg.id, n::NO_PROPOSAL_CHOSEN);
                return;
            };
            match k.shared(d) {
                Ok(s) => g_ir = Some(s),
                Err(_) => {
                    self.notify_reply(spi, CREATE_CHILD_SA, msg.id, n::INVALID_SYNTAX);
                    return;
                }
            }
            our_ke = Some(k);
        }
        let mut payloads = vec![
            Pl::Sa(vec![chosen.to_proposal(
                num,
                PROTO_ESP,
                spi_in.to_be_bytes().to_vec(),
            )]),
            Pl::Nonce(nr.clone()),
        ];
        if let Some(k) = &our_ke {
            payloads.push(Pl::Ke {
                group: k.group(),
                data: k.public().to_vec(),
            });
        }
        let sa = self.sas.get_mut(&spi).expect("present");
        if let Some(c) = sa.children.get_mut(idx) {
            c.rekeyed = true;
            c.superseded = true;
        }
        // The new SA goes to the data plane first: the response that lets
        // the peer use it is held until its inbound SA is installed.
        let sa = self.sas.get(&spi).expect("present");
        if let Ok(keys) = sa.child_keys(&chosen, g_ir.as_ref().map(|s| s.expose()), &ni, &nr) {
            self.child_established(
                spi,
                &t,
                chosen,
                spi_in,
                spi_out,
                keys,
                false,
                tsr.clone(),
                tsi.clone(),
                Some(old_in),
                now,
            );
        }
        payloads.push(Pl::TsI(tsi));
        payloads.push(Pl::TsR(tsr));
        self.respond(spi, CREATE_CHILD_SA, msg.id, payloads);
        // If we were rekeying the same Child SA (collision, RFC 7296
        // 2.8.1), our own rekey finishes too and the nonces decide which
        // new SA survives; remember the peer's nonces for that.
        if let Some(sa) = self.sas.get_mut(&spi) {
            sa.collision_nonces.push((old_in, min_nonce(&ni, &nr)));
        }
    }

    fn on_rekey_child_response(
        &mut self,
        now: Instant,
        spi: u64,
        old_in: u32,
        msg: Msg,
        ctx: ExchangeCtx,
    ) {
        let Some(sa) = self.sas.get(&spi) else { return };
        let Some(t) = sa
            .tunnel
            .as_deref()
            .and_then(|x| self.tunnel_cfg(x))
            .cloned()
        else {
            return;
        };
        if let Some((e, data)) = msg.error() {
            if e == n::INVALID_KE_PAYLOAD || e == n::TEMPORARY_FAILURE || e == n::CHILD_SA_NOT_FOUND
            {
                // Try again a little later (the peer may be rekeying too).
                if let Some(sa) = self.sas.get_mut(&spi) {
                    if let Some(c) = sa.children.iter_mut().find(|c| c.spi_in == old_in) {
                        c.rekeyed = e == n::CHILD_SA_NOT_FOUND;
                        c.rekey_at = now + std::time::Duration::from_secs(2);
                    }
                }
                let _ = data;
                return;
            }
            self.logf(format!(
                "{}: CHILD_SA rekey refused with {}",
                t.name,
                n::name(e)
            ));
            return;
        }
        let answer = msg.sa().and_then(|p| p.first());
        let chosen = answer.and_then(|p| accept_answer(&ctx.offered, p));
        let spi_out = answer
            .and_then(|p| <[u8; 4]>::try_from(p.spi.as_slice()).ok())
            .map(u32::from_be_bytes);
        let (Some(chosen), Some(spi_out), Some(nr), Some((tsi, tsr))) =
            (chosen, spi_out, msg.nonce(), msg.ts())
        else {
            self.logf(format!("{}: invalid CHILD_SA rekey response", t.name));
            return;
        };
        let g_ir = match (&ctx.ke, msg.ke()) {
            (Some(k), Some((g, d))) if g == k.group() => match k.shared(d) {
                Ok(s) => Some(s),
                Err(_) => return,
            },
            (None, None) => None,
            _ => {
                self.logf(format!(
                    "{}: CHILD_SA rekey response has the wrong KE",
                    t.name
                ));
                return;
            }
        };
        let (ts_local, ts_remote) = (tsi.to_vec(), tsr.to_vec());
        let nr = nr.to_vec();
        let sa = self.sas.get(&spi).expect("present");
        let Ok(keys) = sa.child_keys(&chosen, g_ir.as_ref().map(|s| s.expose()), &ctx.nonce, &nr)
        else {
            return;
        };
        self.child_established(
            spi,
            &t,
            chosen,
            ctx.new_spi_in,
            spi_out,
            keys,
            true,
            ts_local,
            ts_remote,
            Some(old_in),
            now,
        );
        // Collision: the peer rekeyed the same SA meanwhile. The SA made
        // with the lowest of the four nonces is redundant; whoever made it
        // deletes it (RFC 7296 2.8.1).
        let ours = min_nonce(&ctx.nonce, &nr);
        let sa = self.sas.get_mut(&spi).expect("present");
        if let Some(pos) = sa.collision_nonces.iter().position(|(o, _)| *o == old_in) {
            let (_, theirs) = sa.collision_nonces.remove(pos);
            if ours < theirs {
                sa.queue.push_back(Task::DeleteChild {
                    spi_in: ctx.new_spi_in,
                });
            }
            // The old SA is deleted by whoever's SA survives; both queue it,
            // the second delete finds nothing.
        }
        let sa = self.sas.get_mut(&spi).expect("present");
        if let Some(c) = sa.children.iter_mut().find(|c| c.spi_in == old_in) {
            c.superseded = true;
        }
        if sa.child_by_in(old_in).is_some()
            && !sa.queue.contains(&Task::DeleteChild { spi_in: old_in })
        {
            sa.queue.push_back(Task::DeleteChild { spi_in: old_in });
        }
    }

    fn on_rekey_ike_request(&mut self, now: Instant, spi: u64, msg: Msg, ni: Vec<u8>) {
        let Some(sa) = self.sas.get(&spi) else { return };
        let Some(t) = sa
            .tunnel
            .as_deref()
            .and_then(|x| self.tunnel_cfg(x))
            .cloned()
        else {
            return;
        };
        if sa
            .pending
            .as_ref()
            .is_some_and(|p| matches!(p.task, Task::DeleteIke))
        {
            self.notify_reply(spi, CREATE_CHILD_SA, msg.id, n::TEMPORARY_FAILURE);
            return;
        }
        let offer = msg.sa().unwrap_or_default();
        let (chosen, num) = match select_ike(&t.ike, offer) {
            Ok(c) => c,
            Err(m) => {
                self.logf(format!(
                    "{}: refusing IKE_SA rekey: proposal mismatch: {m}",
                    t.name
                ));
                self.notify_reply(spi, CREATE_CHILD_SA, msg.id, n::NO_PROPOSAL_CHOSEN);
                return;
            }
        };
        let Some(peer_spi) = offer
            .iter()
            .find(|p| p.num == num)
            .and_then(|p| <[u8; 8]>::try_from(p.spi.as_slice()).ok())
            .map(u64::from_be_bytes)
        else {
            self.notify_reply(spi, CREATE_CHILD_SA, msg.id, n::INVALID_SYNTAX);
            return;
        };
        let want = chosen.dh.unwrap_or(0);
        let Some((g, kdata)) = msg.ke() else {
            self.notify_reply(spi, CREATE_CHILD_SA, msg.id, n::INVALID_SYNTAX);
            return;
        };
        if g != want {
            self.invalid_ke_reply(spi, msg.id, want);
            return;
        }
        let Ok(k) = KeyExchange::generate(g, self.rng.as_mut()) else {
            self.rng_failed("IKE_SA rekey (key exchange)", now);
            self.notify_reply(spi, CREATE_CHILD_SA, msg.id, n::NO_PROPOSAL_CHOSEN);
            return;
        };
        let Ok(shared) = k.shared(kdata) else {
            self.notify_reply(spi, CREATE_CHILD_SA, msg.id, n::INVALID_SYNTAX);
            return;
        };
        let Ok((our_spi, nr)) = self.random_u64().and_then(|v| Ok((v, self.nonce()?))) else {
            self.rng_failed("IKE_SA rekey", now);
            self.notify_reply(spi, CREATE_CHILD_SA, msg.id, n::NO_PROPOSAL_CHOSEN);
            return;
        };
        let payloads = vec![
            Pl::Sa(vec![chosen.to_proposal(
                num,
                PROTO_IKE,
                our_spi.to_be_bytes().to_vec(),
            )]),
            Pl::Nonce(nr.clone()),
            Pl::Ke {
                group: g,
                data: k.public().to_vec(),
            },
        ];
        self.respond(spi, CREATE_CHILD_SA, msg.id, payloads);
        // The peer initiated this rekey, so it is the initiator of the new SA.
        self.install_rekeyed_ike(
            spi,
            false,
            peer_spi,
            our_spi,
            chosen,
            ni,
            nr,
            shared.expose(),
            now,
        );
    }

    fn on_rekey_ike_response(&mut self, now: Instant, spi: u64, msg: Msg, ctx: ExchangeCtx) {
        let Some(sa) = self.sas.get(&spi) else { return };
        let tunnel = sa.tunnel.clone().unwrap_or_default();
        if let Some((e, _)) = msg.error() {
            self.logf(format!(
                "{tunnel}: IKE_SA rekey refused with {}, retrying later",
                n::name(e)
            ));
            if let Some(sa) = self.sas.get_mut(&spi) {
                sa.rekey_at = Some(now + std::time::Duration::from_secs(5));
            }
            return;
        }
        let answer = msg.sa().and_then(|p| p.first());
        let chosen = answer.and_then(|p| accept_answer(&ctx.offered, p));
        let peer_spi = answer
            .and_then(|p| <[u8; 8]>::try_from(p.spi.as_slice()).ok())
            .map(u64::from_be_bytes);
        let (Some(chosen), Some(peer_spi), Some(nr), Some((g, kdata)), Some(k)) =
            (chosen, peer_spi, msg.nonce(), msg.ke(), ctx.ke.as_ref())
        else {
            self.logf(format!("{tunnel}: invalid IKE_SA rekey response"));
            return;
        };
        if g != k.group() {
            return;
        }
        let Ok(shared) = k.shared(kdata) else { return };
        let nr = nr.to_vec();
        // A collision: the peer's rekey of this SA already completed; the
        // pair with the lowest nonce is redundant (RFC 7296 2.8.2).
        let sa = self.sas.get(&spi).expect("present");
        if let Some(other) = sa.successor {
            let ours = min_nonce(&ctx.nonce, &nr);
            let theirs = self.sas.get(&other).map(|s| min_nonce(&s.ni, &s.nr));
            if theirs.is_some_and(|th| ours < th) {
                // Ours is redundant: build it and delete it at once.
                let new = self.install_rekeyed_ike(
                    spi,
                    true,
                    ctx.new_ike_spi,
                    peer_spi,
                    chosen,
                    ctx.nonce.clone(),
                    nr,
                    shared.expose(),
                    now,
                );
                if let Some(ns) = new {
                    self.send_ike_delete_now(ns);
                    if let Some(s) = self.sas.get_mut(&ns) {
                        s.children.clear();
                    }
                    self.sas.remove(&ns);
                }
                return;
            }
        }
        if self
            .install_rekeyed_ike(
                spi,
                true,
                ctx.new_ike_spi,
                peer_spi,
                chosen,
                ctx.nonce.clone(),
                nr,
                shared.expose(),
                now,
            )
            .is_some()
        {
            // We rekeyed: we delete the old SA.
            if let Some(sa) = self.sas.get_mut(&spi) {
                sa.queue.push_back(Task::DeleteIke);
            }
        }
    }

    /// Create the IKE SA that replaces `old` and move the Child SAs to it.
    #[allow(clippy::too_many_arguments)]
    fn install_rekeyed_ike(
        &mut self,
        old: u64,
        we_initiate: bool,
        spi_a: u64,
        spi_b: u64,
        chosen: super::proposal::Chosen,
        ni: Vec<u8>,
        nr: Vec<u8>,
        g_ir: &[u8],
        now: Instant,
    ) -> Option<u64> {
        let tunnel = self.sas.get(&old)?.tunnel.clone();
        let t = tunnel.as_deref().and_then(|x| self.tunnel_cfg(x)).cloned();
        let lifetime = t
            .as_ref()
            .map(|t| t.ike_lifetime)
            .unwrap_or(std::time::Duration::from_secs(86400));
        // Jitter by our own SPI of the new SA: the two ends differ.
        let rekey = super::random::jitter(lifetime, if we_initiate { spi_a } else { spi_b });
        let o = self.sas.get(&old)?;
        // spi_a is always the new SA's initiator SPI (the rekey initiator's).
        let (spi_i, spi_r) = (spi_a, spi_b);
        let mut sa = IkeSa::new(we_initiate, spi_i, spi_r, o.local, o.remote, now);
        sa.natt = o.natt;
        sa.nat_local = o.nat_local;
        sa.nat_remote = o.nat_remote;
        sa.mobike = o.mobike;
        sa.frag.enabled = o.frag.enabled;
        sa.orig_initiator = o.orig_initiator;
        sa.tunnel = o.tunnel.clone();
        sa.remote_id = o.remote_id.clone();
        sa.chosen = Some(chosen);
        sa.ni = ni;
        sa.nr = nr;
        let old_prf = o.keys.as_ref()?.prf;
        let old_d = o.keys.as_ref()?.sk_d.expose().to_vec();
        if sa.derive(g_ir, Some((old_prf, &old_d))).is_err() {
            return None;
        }
        sa.state = IkeState::Established;
        sa.established = Some(now);
        sa.rekey_at = Some(now + rekey);
        sa.expire_at = Some(now + lifetime + lifetime / 10);
        sa.next_dpd = t.as_ref().and_then(|t| t.dpd).map(|d| now + d.interval);
        sa.next_keepalive = o.next_keepalive;
        let o = self.sas.get_mut(&old)?;
        sa.children = std::mem::take(&mut o.children);
        o.state = IkeState::Rekeyed;
        o.rekey_at = None;
        let new_spi = sa.our_spi();
        o.successor = Some(new_spi);
        let name = sa.tunnel.clone().unwrap_or_default();
        let desc = chosen.describe();
        self.sas.insert(new_spi, sa);
        self.logf(format!(
            "{name}: IKE_SA rekeyed: {old:016x} replaced by {new_spi:016x} with {desc}"
        ));
        Some(new_spi)
    }

    fn on_delete_child_response(&mut self, now: Instant, spi: u64, spi_in: u32) {
        let _ = now;
        let Some(sa) = self.sas.get_mut(&spi) else {
            return;
        };
        if let Some(i) = sa.child_by_in(spi_in) {
            let c = sa.children.remove(i);
            let tunnel = sa.tunnel.clone().unwrap_or_default();
            self.out.push_back(Output::ChildDown {
                tunnel: tunnel.clone(),
                spi_in: c.spi_in,
                spi_out: c.spi_out,
            });
            self.logf(format!("{tunnel}: CHILD_SA {:08x}_i deleted", c.spi_in));
            if let Some(sa) = self.sas.get_mut(&spi) {
                sa.revive_lone_child();
            }
        }
    }

    /// INFORMATIONAL from the peer: deletes, notifies, or a liveness check.
    fn on_informational_request(&mut self, now: Instant, spi: u64, msg: Msg) {
        let mut reply = Vec::new();
        if msg.notify(n::UPDATE_SA_ADDRESSES).is_some() {
            match self.on_update_request(spi, &msg, now) {
                Ok(r) => reply.extend(r),
                Err(e) => {
                    return self.notify_reply(spi, INFORMATIONAL, msg.id, e);
                }
            }
        } else if let Some(c) = msg.notify(n::COOKIE2) {
            // A return routability check (RFC 4555 3.8).
            reply.push(Pl::Notify {
                protocol: 0,
                spi: vec![],
                ty: n::COOKIE2,
                data: c.to_vec(),
            });
        }
        let mut delete_ike = false;
        for p in &msg.payloads {
            match p {
                Pl::Delete {
                    protocol: PROTO_IKE,
                    ..
                } => delete_ike = true,
                Pl::Delete {
                    protocol: PROTO_ESP,
                    spis,
                } => {
                    let mut ours = Vec::new();
                    for s in spis {
                        let Ok(out) = <[u8; 4]>::try_from(s.as_slice()).map(u32::from_be_bytes)
                        else {
                            continue;
                        };
                        let Some(sa) = self.sas.get_mut(&spi) else {
                            continue;
                        };
                        if let Some(i) = sa.child_by_out(out) {
                            let c = sa.children.remove(i);
                            ours.push(c.spi_in.to_be_bytes().to_vec());
                            let tunnel = sa.tunnel.clone().unwrap_or_default();
                            self.out.push_back(Output::ChildDown {
                                tunnel: tunnel.clone(),
                                spi_in: c.spi_in,
                                spi_out: c.spi_out,
                            });
                            self.logf(format!(
                                "{tunnel}: peer deleted CHILD_SA {:08x}_o",
                                c.spi_out
                            ));
                        }
                        if let Some(sa) = self.sas.get_mut(&spi) {
                            sa.revive_lone_child();
                        }
                    }
                    if !ours.is_empty() {
                        reply.push(Pl::Delete {
                            protocol: PROTO_ESP,
                            spis: ours,
                        });
                    }
                }
                _ => {}
            }
        }
        if delete_ike {
            self.respond(spi, INFORMATIONAL, msg.id, vec![]);
            let sa = self.sas.get(&spi);
            let tunnel = sa.and_then(|s| s.tunnel.clone()).unwrap_or_default();
            let rekeyed = sa.is_some_and(|s| s.state == IkeState::Rekeyed || s.successor.is_some());
            self.logf(format!("{tunnel}: peer deleted IKE_SA {spi:016x}"));
            if rekeyed {
                self.sas.remove(&spi);
            } else {
                self.note_sa_down(spi, "peer deleted the IKE SA", now);
                self.remove_sa(spi, now);
            }
            return;
        }
        self.respond(spi, INFORMATIONAL, msg.id, reply);
        // A tunnel left without Child SAs is down.
        if let Some(sa) = self.sas.get(&spi) {
            if sa.children.is_empty() && sa.state == IkeState::Established {
                if let Some(t) = sa.tunnel.clone() {
                    self.note_down(&t, "peer deleted the Child SA", now);
                    self.tunnel_down(&t, Some(TunnelStatus::Negotiating), now);
                    self.send_ike_delete_now(spi);
                    self.remove_sa(spi, now);
                }
            }
        }
    }
}

/// The lowest nonce of an exchange, compared as big-endian byte strings.
pub(crate) fn min_nonce(a: &[u8], b: &[u8]) -> Vec<u8> {
    if a <= b {
        a.to_vec()
    } else {
        b.to_vec()
    }
}
