//! One IKE SA: negotiated algorithms and keys, message-ID windows,
//! retransmission state, and its Child SAs.

use super::msg::Selector;
use super::proposal::Chosen;
use crate::crypto::alg::{EncrAlg, IntegAlg, PrfAlg};
use crate::crypto::dh::KeyExchange;
use crate::crypto::keys::{
    derive_child_keys, derive_ike_keys, skeyseed, skeyseed_rekey, ChildKeys, Suite,
};
use crate::crypto::secret::SecretBytes;
use crate::crypto::sk::SkCipher;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Where an IKE SA is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IkeState {
    /// Initiator: IKE_SA_INIT sent.
    InitSent,
    /// Responder: IKE_SA_INIT answered, waiting for IKE_AUTH (half-open).
    InitAnswered,
    /// Initiator: IKE_AUTH sent.
    AuthSent,
    Established,
    /// Replaced by a rekeyed IKE SA; waiting for the delete.
    Rekeyed,
    /// Delete sent or received.
    Deleting,
}

impl IkeState {
    /// strongSwan-style state name.
    pub fn name(self) -> &'static str {
        match self {
            IkeState::InitSent | IkeState::AuthSent | IkeState::InitAnswered => "CONNECTING",
            IkeState::Established => "ESTABLISHED",
            IkeState::Rekeyed => "REKEYED",
            IkeState::Deleting => "DELETING",
        }
    }
}

/// A Child SA (one pair of ESP SAs) of a tunnel.
#[derive(Debug)]
pub struct ChildSa {
    pub spi_in: u32,
    pub spi_out: u32,
    pub chosen: Chosen,
    pub ts_local: Vec<Selector>,
    pub ts_remote: Vec<Selector>,
    pub created: Instant,
    pub rekey_at: Instant,
    pub expire_at: Instant,
    /// A rekey of it is in flight or done (its timer no longer fires).
    pub rekeyed: bool,
    /// A successor exists; it only waits for its delete.
    pub superseded: bool,
}

/// A request of ours waiting for its response.
#[derive(Debug)]
pub struct Pending {
    pub id: u32,
    pub task: Task,
    pub data: Vec<u8>,
    pub tries: u32,
    pub next: Instant,
    /// Retransmission interval for the next try.
    pub interval: Duration,
    /// Give up at this many tries.
    pub max_tries: u32,
    /// State carried from the request to the response handler.
    pub ctx: ExchangeCtx,
}

/// Request-specific state (nonces and keys of a CREATE_CHILD_SA, ...).
#[derive(Debug, Default)]
pub struct ExchangeCtx {
    pub nonce: Vec<u8>,
    pub ke: Option<KeyExchange>,
    pub new_spi_in: u32,
    pub new_ike_spi: u64,
    pub offered: Vec<super::proposal::Proposal>,
    /// The COOKIE2 of an UPDATE_SA_ADDRESSES request, echoed by the peer.
    pub cookie2: Vec<u8>,
}

/// Work an IKE SA will start when no request is outstanding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    Init,
    Auth,
    RekeyChild {
        spi_in: u32,
    },
    RekeyIke,
    DeleteChild {
        spi_in: u32,
    },
    DeleteIke,
    Dpd,
    /// MOBIKE: tell the peer our address changed (RFC 4555 3.5).
    UpdateAddresses,
}

impl std::fmt::Display for Task {
    /// What the request was, for log lines and `show crypto session`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Task::Init => f.write_str("IKE_SA_INIT"),
            Task::Auth => f.write_str("IKE_AUTH"),
            Task::RekeyChild { spi_in } => write!(f, "the rekey of CHILD_SA {spi_in:08x}"),
            Task::RekeyIke => f.write_str("the IKE_SA rekey"),
            Task::DeleteChild { spi_in } => write!(f, "the delete of CHILD_SA {spi_in:08x}"),
            Task::DeleteIke => f.write_str("the IKE_SA delete"),
            Task::Dpd => f.write_str("DPD"),
            Task::UpdateAddresses => f.write_str("UPDATE_SA_ADDRESSES"),
        }
    }
}

/// The keys of an established (or authenticating) IKE SA.
pub struct Keys {
    pub prf: PrfAlg,
    pub sk_d: SecretBytes,
    pub sk_pi: SecretBytes,
    pub sk_pr: SecretBytes,
    /// Protects what we send / opens what we receive.
    pub out: SkCipher,
    pub inb: SkCipher,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("prf", &self.prf)
            .field("keys", &"<redacted>")
            .finish()
    }
}

/// One IKE SA.
#[derive(Debug)]
pub struct IkeSa {
    pub spi_i: u64,
    pub spi_r: u64,
    /// We are the original initiator.
    pub initiator: bool,
    pub state: IkeState,
    pub tunnel: Option<String>,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// IKE (and ESP) moved to UDP 4500 with the non-ESP marker.
    pub natt: bool,
    pub nat_local: bool,
    pub nat_remote: bool,
    /// Both ends sent MOBIKE_SUPPORTED (RFC 4555): addresses change only
    /// with UPDATE_SA_ADDRESSES, not implicitly.
    pub mobike: bool,
    /// We initiated the first IKE SA of this line (rekeys keep it): the
    /// MOBIKE initiator, who decides the addresses (RFC 4555 3.1).
    pub orig_initiator: bool,
    pub chosen: Option<Chosen>,
    pub keys: Option<Keys>,
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    /// Our IKE_SA_INIT request / their response as sent (for AUTH), or
    /// theirs / ours on the responder.
    pub init_req: Vec<u8>,
    pub init_resp: Vec<u8>,
    pub ke: Option<KeyExchange>,
    pub cookie: Option<Vec<u8>>,
    pub remote_id: Option<super::config::Identity>,
    pub children: Vec<ChildSa>,
    pub next_id: u32,
    pub pending: Option<Pending>,
    pub queue: VecDeque<Task>,
    pub peer_next_id: u32,
    pub last_resp: Option<(u32, Vec<u8>)>,
    pub created: Instant,
    pub established: Option<Instant>,
    pub rekey_at: Option<Instant>,
    pub expire_at: Option<Instant>,
    pub last_heard: Instant,
    pub next_dpd: Option<Instant>,
    pub next_keepalive: Option<Instant>,
    /// The IKE SA that replaced this one (after an IKE rekey).
    pub successor: Option<u64>,
    /// Send INITIAL_CONTACT in IKE_AUTH.
    pub initial_contact: bool,
    /// Peer-initiated Child rekeys: (old inbound SPI, lowest nonce), to
    /// settle a collision with our own rekey of the same SA.
    pub collision_nonces: Vec<(u32, Vec<u8>)>,
    /// Child SAs of this IKE SA that the data plane has not confirmed yet;
    /// while there are any, datagrams wait in `held` and no exchange starts.
    pub installs: u32,
    /// Datagrams to the peer held until the installs are confirmed.
    pub held: Vec<Vec<u8>>,
    /// The peer's SIGNATURE_HASH_ALGORITHMS (RFC 7427) from IKE_SA_INIT;
    /// None when it sent none.
    pub peer_hashes: Option<Vec<u16>>,
    /// The peer's CERTREQ (concatenated CA key hashes), if it sent one.
    pub peer_certreq: Option<Vec<u8>>,
    /// How we authenticated, once we did.
    pub auth_local: Option<super::sigauth::AuthInfo>,
    /// How the peer authenticated, once it did.
    pub auth_remote: Option<super::sigauth::AuthInfo>,
    /// IKE fragmentation (RFC 7383): negotiated?, reassembly, counters.
    pub frag: super::frag::FragState,
}

impl IkeSa {
    /// Our SPI (the key of this SA in the engine).
    pub fn our_spi(&self) -> u64 {
        if self.initiator {
            self.spi_i
        } else {
            self.spi_r
        }
    }

    /// A new, empty SA.
    pub fn new(
        initiator: bool,
        spi_i: u64,
        spi_r: u64,
        local: SocketAddr,
        remote: SocketAddr,
        now: Instant,
    ) -> IkeSa {
        IkeSa {
            spi_i,
            spi_r,
            initiator,
            state: if initiator {
                IkeState::InitSent
            } else {
                IkeState::InitAnswered
            },
            tunnel: None,
            local,
            remote,
            natt: false,
            nat_local: false,
            nat_remote: false,
            mobike: false,
            orig_initiator: initiator,
            chosen: None,
            keys: None,
            ni: Vec::new(),
            nr: Vec::new(),
            init_req: Vec::new(),
            init_resp: Vec::new(),
            ke: None,
            cookie: None,
            remote_id: None,
            children: Vec::new(),
            next_id: 0,
            pending: None,
            queue: VecDeque::new(),
            peer_next_id: 0,
            last_resp: None,
            created: now,
            established: None,
            rekey_at: None,
            expire_at: None,
            last_heard: now,
            next_dpd: None,
            next_keepalive: None,
            successor: None,
            initial_contact: false,
            collision_nonces: Vec::new(),
            installs: 0,
            held: Vec::new(),
            peer_hashes: None,
            peer_certreq: None,
            auth_local: None,
            auth_remote: None,
            frag: Default::default(),
        }
    }

    /// The negotiated suite as crypto types.
    pub fn suite(chosen: &Chosen) -> Option<Suite> {
        Some(Suite {
            encr: EncrAlg::from_iana(chosen.encr.0, (chosen.encr.1 != 0).then_some(chosen.encr.1))?,
            integ: match chosen.integ {
                Some(i) => Some(IntegAlg::from_iana(i)?),
                None => None,
            },
            prf: PrfAlg::from_iana(chosen.prf?)?,
            ke: chosen.dh?,
        })
    }

    /// Derive the IKE SA keys from the DH result (RFC 7296 2.14), or from
    /// the old SA's SK_d when this SA comes from a rekey (2.18).
    pub fn derive(&mut self, g_ir: &[u8], rekey_of: Option<(PrfAlg, &[u8])>) -> Result<(), String> {
        let chosen = self.chosen.ok_or("no proposal chosen")?;
        let suite = Self::suite(&chosen).ok_or("unsupported algorithm")?;
        let seed = match rekey_of {
            Some((old_prf, sk_d)) => skeyseed_rekey(old_prf, sk_d, g_ir, &self.ni, &self.nr),
            None => skeyseed(suite.prf, &self.ni, &self.nr, g_ir),
        };
        let k = derive_ike_keys(
            &suite,
            seed.expose(),
            &self.ni,
            &self.nr,
            &self.spi_i.to_be_bytes(),
            &self.spi_r.to_be_bytes(),
        )
        .map_err(|e| format!("key derivation: {e:?}"))?;
        let ci = SkCipher::new(suite.encr, suite.integ, k.sk_ei.expose(), k.sk_ai.expose())
            .map_err(|e| format!("{e:?}"))?;
        let cr = SkCipher::new(suite.encr, suite.integ, k.sk_er.expose(), k.sk_ar.expose())
            .map_err(|e| format!("{e:?}"))?;
        let (out, inb) = if self.initiator { (ci, cr) } else { (cr, ci) };
        self.keys = Some(Keys {
            prf: suite.prf,
            sk_d: k.sk_d,
            sk_pi: k.sk_pi,
            sk_pr: k.sk_pr,
            out,
            inb,
        });
        Ok(())
    }

    /// Child SA keys; the first pair protects initiator-to-responder
    /// traffic of the exchange (`we_initiated`: we sent the request).
    pub fn child_keys(
        &self,
        chosen: &Chosen,
        g_ir: Option<&[u8]>,
        ni: &[u8],
        nr: &[u8],
    ) -> Result<ChildKeys, String> {
        let keys = self.keys.as_ref().ok_or("no keys")?;
        let encr = EncrAlg::from_iana(chosen.encr.0, (chosen.encr.1 != 0).then_some(chosen.encr.1))
            .ok_or("unsupported ESP cipher")?;
        let integ = match chosen.integ {
            Some(i) => Some(IntegAlg::from_iana(i).ok_or("unsupported ESP integrity")?),
            None => None,
        };
        derive_child_keys(keys.prf, keys.sk_d.expose(), g_ir, ni, nr, encr, integ)
            .map_err(|e| format!("child key derivation: {e:?}"))
    }

    /// The SA is authenticated: arm its lifetime, DPD and keepalive timers
    /// (`rekey` is the jittered soft lifetime).
    pub fn mark_established(
        &mut self,
        t: &super::config::TunnelConfig,
        rekey: Duration,
        now: Instant,
    ) {
        self.state = IkeState::Established;
        self.established = Some(now);
        self.rekey_at = Some(now + rekey);
        self.expire_at = Some(now + t.ike_lifetime + t.ike_lifetime / 10);
        self.next_dpd = t.dpd.map(|d| now + d.interval);
        self.next_keepalive =
            (self.nat_local && !t.nat_keepalive.is_zero()).then(|| now + t.nat_keepalive);
    }

    /// Find a child by our inbound SPI.
    pub fn child_by_in(&self, spi: u32) -> Option<usize> {
        self.children.iter().position(|c| c.spi_in == spi)
    }

    /// After a delete: a Child SA left alone but marked as replaced lost
    /// its successor (the peer deleted the SA that replaced it, e.g. one it
    /// could not install), so it is the tunnel's SA again and can be
    /// rekeyed.
    pub fn revive_lone_child(&mut self) {
        if let [c] = self.children.as_mut_slice() {
            if c.superseded {
                c.superseded = false;
                c.rekeyed = false;
            }
        }
    }

    /// Find a child by our outbound SPI (the peer's inbound).
    pub fn child_by_out(&self, spi: u32) -> Option<usize> {
        self.children.iter().position(|c| c.spi_out == spi)
    }
}
