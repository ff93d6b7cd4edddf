//! IKE_SA_INIT, as initiator and as responder: proposals, key exchange,
//! cookies (RFC 7296 2.6) and NAT detection (RFC 7296 2.23).

use super::codec;
use super::config::{Peer, TunnelConfig};
use super::engine::{Engine, Output, Path, TunnelStatus};
use super::guard::Noise;
use super::ike_sa::{ExchangeCtx, IkeSa, IkeState, Task};
use super::msg::{notify as n, Msg, Pl, IKE_SA_INIT};
use super::proposal::{self, accept_answer, ike_offer, select_ike, Chosen, Proposal};
use crate::crypto::dh::KeyExchange;
use crate::crypto::nat::nat_detection_hash;
use std::net::SocketAddr;
use std::time::Instant;

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
        let (spi_i, ni) = match self.random_u64().and_then(|s| Ok((s, self.nonce()?))) {
            Ok(v) => v,
            Err(e) => {
                self.rng_failed(&format!("{name}: initiating IKE_SA to {remote}"), now);
                self.tunnel_down(
                    name,
                    Some(TunnelStatus::Phase1Failed(format!("cannot initiate: {e}"))),
                    now,
                );
                return;
            }
        };
        let mut sa = IkeSa::new(true, spi_i, 0, local, remote, now);
        sa.tunnel = Some(name.to_string());
        sa.initial_contact = !self
            .sas
            .any_of_tunnel(name, |s| s.state == IkeState::Established);
        sa.ni = ni;
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
        let mut msg = first_init_request(
            sa.spi_i,
            sa.cookie.as_deref(),
            &t.ike,
            (ke.group(), ke.public()),
            &sa.ni,
        );
        msg.payloads
            .extend(nat_detection(sa.spi_i, 0, sa.local, sa.remote));
        msg.payloads
            .push(super::sigauth::hash_notify(self.cfg.allow_weak));
        if self.cfg.fragment_mtu.is_some() {
            msg.payloads.push(super::frag::supported());
        }
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
    /// INVALID_KE_PAYLOAD, the cached answer to a retransmission, or
    /// nothing when the half-open limits are reached.
    ///
    /// The checks go from cheap to dear: the retransmission cache and the
    /// half-open caps (a counter each) before the message is parsed, the
    /// COOKIE (one HMAC) before any proposal work, the Diffie-Hellman last.
    pub(crate) fn on_init_request(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        natt: bool,
        data: &[u8],
        spi_i: u64,
    ) {
        if let Some(ours) = self.sas.by_init(&(remote, spi_i)) {
            if let Some((0, resp)) = self.sas.get(&ours).and_then(|s| s.last_resp.clone()) {
                self.send_to_peer(ours, resp);
            }
            return;
        }
        // Hard caps (strongSwan's init_limit_half_open and block_threshold,
        // IOS max-in-negotiation-sa): dropped without an answer, which
        // would only feed a reflection; a real initiator retransmits.
        let (total, from_ip) = (self.sas.half_open(), self.sas.half_open_from(remote.ip()));
        if total >= self.cfg.max_half_open || from_ip >= self.cfg.max_half_open_per_address {
            let (limit, what) = if total >= self.cfg.max_half_open {
                self.stats.dropped_total_limit += 1;
                (self.cfg.max_half_open, "in total")
            } else {
                self.stats.dropped_address_limit += 1;
                (self.cfg.max_half_open_per_address, "from this address")
            };
            self.log_noise(Noise::OverLimit, now, || {
                format!("IKE_SA_INIT from {remote} dropped: {limit} IKE SAs {what} are already in negotiation")
            });
            return;
        }
        let path = Path {
            local,
            remote,
            natt,
        };
        // COOKIE when too many SAs are half-open (RFC 7296 2.6), checked
        // on a walk of the payload headers: a request without a valid one
        // is never parsed.
        if total >= self.cfg.cookie_threshold {
            let Some(scan) = codec::scan_init(data) else {
                self.log_noise(Noise::Malformed, now, || {
                    format!(
                        "malformed IKE_SA_INIT from {remote} (no nonce, or a broken payload chain)"
                    )
                });
                return;
            };
            if !(16..=256).contains(&scan.nonce.len()) {
                return;
            }
            if self.cookies.rotate_if_due(now, self.rng.as_mut()).is_err() {
                self.rng_failed(&format!("IKE_SA_INIT from {remote}: COOKIE secret"), now);
                return;
            }
            let valid = scan
                .cookie
                .is_some_and(|c| self.cookies.check(c, scan.nonce, remote.ip(), spi_i, now));
            if !valid {
                let Some(want) = self.cookies.make(scan.nonce, remote.ip(), spi_i) else {
                    self.rng_failed(&format!("IKE_SA_INIT from {remote}: COOKIE secret"), now);
                    return;
                };
                self.stats.cookies_sent += 1;
                self.init_refusal(path, spi_i, n::COOKIE, want);
                return;
            }
        }
        let msg = match codec::decode(data, None) {
            Ok(m) => m,
            Err(e) => {
                self.log_noise(Noise::Malformed, now, || {
                    format!("malformed IKE_SA_INIT from {remote}: {e}")
                });
                return;
            }
        };
        let (Some(offer), Some((group, kdata)), Some(ni)) = (msg.sa(), msg.ke(), msg.nonce())
        else {
            self.init_refusal(path, spi_i, n::INVALID_SYNTAX, vec![]);
            return;
        };
        if !(16..=256).contains(&ni.len()) {
            return;
        }
        let Some((chosen, num, local_hint)) = self.choose_ike(local, remote, offer, now) else {
            self.init_refusal(path, spi_i, n::NO_PROPOSAL_CHOSEN, vec![]);
            return;
        };
        let want_group = chosen.dh.unwrap_or(0);
        if group != want_group {
            self.log_noise(Noise::InitRefused, now, || format!("IKE_SA_INIT from {remote}: KE group {} but we chose {}, sending INVALID_KE_PAYLOAD", proposal::dh_name(group), proposal::dh_name(want_group)));
            self.init_refusal(
                path,
                spi_i,
                n::INVALID_KE_PAYLOAD,
                want_group.to_be_bytes().to_vec(),
            );
            return;
        }
        let ke = match KeyExchange::generate(want_group, self.rng.as_mut()) {
            Ok(k) => k,
            Err(e) => {
                self.rng_failed(
                    &format!("IKE_SA_INIT from {remote} (key exchange: {e})"),
                    now,
                );
                return;
            }
        };
        let shared = match ke.shared(kdata) {
            Ok(s) => s,
            Err(e) => {
                self.log_noise(Noise::InitRefused, now, || {
                    format!("IKE_SA_INIT from {remote}: invalid KE payload ({e:?})")
                });
                self.init_refusal(path, spi_i, n::INVALID_SYNTAX, vec![]);
                return;
            }
        };
        let (spi_r, nr) = match self.random_u64().and_then(|s| Ok((s, self.nonce()?))) {
            Ok(v) => v,
            Err(_) => {
                self.rng_failed(&format!("IKE_SA_INIT from {remote}"), now);
                return;
            }
        };
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
        sa.nr = nr;
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
        // RFC 7427: announce ours to a peer that announced its own; and
        // name our CAs when a tunnel verifies certificates (RFC 7296 3.7).
        sa.peer_hashes = msg.signature_hashes();
        if sa.peer_hashes.is_some() {
            payloads.push(super::sigauth::hash_notify(self.cfg.allow_weak));
        }
        if let Some(req) = &self.certreq_all {
            payloads.push(req.clone());
        }
        if self.cfg.fragment_mtu.is_some() && msg.notify(n::IKEV2_FRAGMENTATION_SUPPORTED).is_some()
        {
            sa.frag.enabled = true;
            payloads.push(super::frag::supported());
        }
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
        self.log_noise(Noise::InitAnswered, now, || {
            format!(
                "{remote} is initiating an IKE_SA, responding with {} (SPI {spi_r:016x}_r)",
                chosen.describe()
            )
        });
        self.stats.half_open_created += 1;
        self.sas.insert_responder(spi_r, sa, (remote, spi_i));
        self.out.push_back(Output::Send {
            local,
            remote,
            natt,
            data: bytes,
        });
    }

    /// An IKE_SA_INIT response that only refuses: one notify, no SA.
    fn init_refusal(&mut self, path: Path, spi_i: u64, ty: u16, data: Vec<u8>) {
        let reply = Msg {
            spi_i,
            spi_r: 0,
            exchange: IKE_SA_INIT,
            initiator: false,
            response: true,
            id: 0,
            payloads: vec![Pl::Notify {
                protocol: 0,
                spi: vec![],
                ty,
                data,
            }],
        };
        self.send_plain(path.local, path.remote, path.natt, &reply);
    }

    /// The IKE proposal for a peer's IKE_SA_INIT from the tunnels it may
    /// belong to (by address, then dynamic ones), with the local address
    /// those tunnels use; None (logged, and shown on the tunnel whose
    /// proposal did not match) when there is none.
    fn choose_ike(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        offer: &[Proposal],
        now: Instant,
    ) -> Option<(Chosen, u8, Option<std::net::IpAddr>)> {
        let cands: Vec<&TunnelConfig> = self
            .candidates(local, remote)
            .iter()
            .filter_map(|&i| self.cfg.tunnels.get(i))
            .collect();
        // Only when the driver could not tell which address the request
        // reached: then the first candidate's source is the best guess.
        // Otherwise the candidates are the tunnels with that source (first)
        // or none.
        let local_hint = cands
            .iter()
            .find_map(|t| t.local)
            .filter(|ip| ip.is_ipv4() == remote.is_ipv4() && local.ip().is_unspecified());
        let mut mismatch = None;
        for t in &cands {
            match select_ike(&t.ike, offer) {
                Ok((c, num)) => return Some((c, num, local_hint)),
                Err(m) => mismatch = Some((t.name.clone(), m)),
            }
        }
        let why = match &mismatch {
            Some((_, m)) => format!("IKE proposal mismatch: {m}"),
            None => format!("no tunnel is configured for peer {}", remote.ip()),
        };
        self.log_noise(Noise::InitRefused, now, || {
            format!("IKE_SA_INIT from {remote}: {why}; sending NO_PROPOSAL_CHOSEN")
        });
        if let Some((t, m)) = mismatch {
            let st = TunnelStatus::Phase1Failed(format!("IKE proposal mismatch: {m}"));
            self.tunnel_down(&t, Some(st), now);
        }
        None
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
                Err(e) => {
                    self.rng_failed(&format!("{tunnel}: IKE_SA_INIT retry (key exchange)"), now);
                    self.fail_phase1(
                        spi,
                        &tunnel,
                        format!("cannot create a key exchange: {e}"),
                        now,
                    );
                }
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
        sa.peer_hashes = msg.signature_hashes();
        sa.peer_certreq = msg.x509_certreq();
        let (nat_local, nat_remote) = nat_found(&msg, sa.spi_i, sa.spi_r, sa.local, sa.remote);
        sa.nat_local = nat_local;
        sa.nat_remote = nat_remote;
        sa.frag.enabled = self.cfg.fragment_mtu.is_some()
            && msg.notify(n::IKEV2_FRAGMENTATION_SUPPORTED).is_some();
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

    pub(crate) fn fail_phase1(&mut self, spi: u64, tunnel: &str, reason: String, now: Instant) {
        self.logf(format!("{tunnel}: {reason}"));
        self.remove_sa(spi, now);
        self.tunnel_down(tunnel, Some(TunnelStatus::Phase1Failed(reason)), now);
    }
}

/// A first IKE_SA_INIT request (before NAT detection): the COOKIE if the
/// responder asked for one, our IKE proposals, the KE payload (group,
/// public value) and the nonce. Load generators and tests build theirs
/// with it too.
pub fn first_init_request(
    spi_i: u64,
    cookie: Option<&[u8]>,
    ike: &super::config::IkeProposal,
    ke: (u16, &[u8]),
    ni: &[u8],
) -> Msg {
    let mut payloads = Vec::new();
    if let Some(c) = cookie {
        payloads.push(Pl::Notify {
            protocol: 0,
            spi: vec![],
            ty: n::COOKIE,
            data: c.to_vec(),
        });
    }
    payloads.push(Pl::Sa(ike_offer(ike, &[])));
    payloads.push(Pl::Ke {
        group: ke.0,
        data: ke.1.to_vec(),
    });
    payloads.push(Pl::Nonce(ni.to_vec()));
    Msg {
        spi_i,
        spi_r: 0,
        exchange: IKE_SA_INIT,
        initiator: true,
        response: false,
        id: 0,
        payloads,
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
